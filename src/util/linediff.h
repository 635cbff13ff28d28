/*
 * linediff.h - a line-by-line diff of two texts in the unified format
 * (`diff -u`), for showing what changed between two versions of a note.
 *
 * Lines end at '\n' (kept; a last line without one is marked with
 * "\ No newline at end of file" as diff does). The script is a shortest one
 * (Myers' O(ND) algorithm after trimming common leading and trailing lines)
 * while the number of differing lines stays within LINEDIFF_MAX_D; past
 * that, the differing middle is shown as one block removed and one added
 * (still exact, not minimal). Memory is O(D^2) words, at most about 16 MiB.
 * No global state; thread-safe.
 */
#ifndef VN_LINEDIFF_H
#define VN_LINEDIFF_H

#include <stddef.h>

#define LINEDIFF_MAX_D 2000

enum { LINEDIFF_OK = 0, LINEDIFF_ERR_NOMEM = -1 };

typedef struct {
    size_t added, removed; /* lines */
    size_t hunks;
} linediff_stats;

/* The unified diff turning `a` into `b`, with `context` unchanged lines
 * around each change and headers "--- <a_label>" / "+++ <b_label>" (no
 * headers and no hunks when the texts are equal: *out is ""). *out is
 * NUL-terminated and malloc'd (caller frees with free()); stats may be
 * NULL. Returns LINEDIFF_OK or LINEDIFF_ERR_NOMEM (*out untouched). */
int linediff_unified(const char *a, size_t alen, const char *b, size_t blen, int context,
                     const char *a_label, const char *b_label, char **out, size_t *out_len,
                     linediff_stats *stats);

#endif /* VN_LINEDIFF_H */
