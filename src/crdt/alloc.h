/*
 * alloc.h - the one allocation wrapper of the CRDT engine (internal).
 *
 * Every byte the engine allocates goes through ymalloc/ycalloc/yrealloc and
 * is released with yfree (public, crdt.h). The wrapper keeps a small header
 * in front of each block so it can count the bytes held right now and the
 * peak (yalloc_stats), and it can be told to fail the n-th allocation
 * (yalloc_fail_after) so tests can walk every out-of-memory path.
 *
 * Out-of-memory policy (the whole engine follows it):
 *  - An allocation failure is reported as Y_ERR_NOMEM, never by aborting.
 *  - Reading an update allocates only while decoding into a temporary
 *    structure; a failure there leaves the document untouched.
 *  - Operations on a document reserve what they need (array capacity, new
 *    items) before linking anything, so a failed call normally has no side
 *    effect. Where that is impractical (a failure in the middle of
 *    integrating an already validated update) the document stays internally
 *    consistent and the remainder is kept as pending, never half-linked.
 *
 * Invariants: ymalloc(0) returns a valid unique pointer; yrealloc(NULL, n)
 * is ymalloc(n); a failed yrealloc leaves the old block untouched.
 */
#ifndef VN_CRDT_ALLOC_H
#define VN_CRDT_ALLOC_H

#include <stddef.h>

#include "crdt.h"

/* Returns a block of n bytes, or NULL (out of memory or injected failure). */
void *ymalloc(size_t n);
/* Returns n*size zeroed bytes, or NULL (also on multiplication overflow). */
void *ycalloc(size_t n, size_t size);
/* Resizes p to n bytes; returns NULL and leaves p valid on failure. */
void *yrealloc(void *p, size_t n);
/* Copies s (n bytes) into a new NUL-terminated block; NULL when out of memory. */
char *ystrndup(const char *s, size_t n);

#endif /* VN_CRDT_ALLOC_H */
