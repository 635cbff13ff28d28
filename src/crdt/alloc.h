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
 *  - Each local edit first takes a small reserve (YEDIT_RESERVE): when it
 *    cannot be had the call fails with no side
 *    effect; afterwards allocations that fail are served from it, so the
 *    edit completes. Only an edit needing more than the reserve while
 *    memory is exhausted can stop part-way; the document then stays
 *    consistent (every item whole and linked) with the part done so far.
 *  - Applying an update: decoding and validation allocate only temporary
 *    memory. Before integration starts, apply takes a reserve (a block
 *    sized from the update) and pre-sizes the struct arrays it will grow;
 *    an allocation that fails while integrating is then served from the
 *    reserve, so the update is applied completely. Only if the reserve runs
 *    out too can an apply fail half-way (Y_ERR_NOMEM with the document
 *    consistent but partly updated); with the sizing used this needs
 *    splits of very large items under real memory exhaustion.
 *  - After integration (observer calls, the update handed to update
 *    observers, merging adjacent structs) failures are tolerated: an
 *    observer may miss an update, a merge may be skipped (content is the
 *    same, the encoding keeps one more struct).
 *
 * Invariants: ymalloc(0) returns a valid unique pointer; yrealloc(NULL, n)
 * is ymalloc(n); a failed yrealloc leaves the old block untouched.
 */
#ifndef VN_CRDT_ALLOC_H
#define VN_CRDT_ALLOC_H

#include <stddef.h>
#include <string.h>

#include "crdt.h"

/* Returns a block of n bytes, or NULL (out of memory or injected failure). */
void *ymalloc(size_t n);
/* Returns n*size zeroed bytes, or NULL (also on multiplication overflow). */
void *ycalloc(size_t n, size_t size);
/* Resizes p to n bytes; returns NULL and leaves p valid on failure. */
void *yrealloc(void *p, size_t n);
/* Whether p (from ymalloc/ycalloc/yrealloc) was carved from a reserve:
 * such a block must be given back with yfree soon, not kept for reuse. */
int yalloc_in_reserve(const void *p);
/* Copies s (n bytes) into a new NUL-terminated block; NULL when out of memory. */
char *ystrndup(const char *s, size_t n);

/* Zeroes n bytes (n known when compiling): in 64-byte pieces, which GCC
 * writes with vector stores, where one memset of more than 64 bytes becomes
 * `rep stos`, slow to start (it showed in every keystroke's item). */
static inline void yzero(void *p, size_t n) {
    unsigned char *b = p;
    for (; n >= 64; n -= 64, b += 64) memset(b, 0, 64);
    if (n) memset(b, 0, n);
}

/* Sets `bytes` aside for a section that must not fail half-way; inside it,
 * an allocation that fails is served from the reserve instead. Y_ERR_NOMEM
 * when the reserve itself cannot be had (nothing changed yet then). */
int yalloc_reserve_begin(size_t bytes);
/* The reserve each local edit (ytext_*, ymap_*, yarray_* edits) takes. */
#define YEDIT_RESERVE (16 * 1024)
/* Ends the section; the reserve is freed once its last block is. */
void yalloc_reserve_end(void);

#endif /* VN_CRDT_ALLOC_H */
