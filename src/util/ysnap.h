/*
 * ysnap.h - Yjs snapshots (encodeSnapshot: a delete set, then a state
 * vector) taken apart and put together again, so that a note's history can
 * store each version as the part that is new since the previous one.
 *
 * Both halves of a snapshot only grow while a document is edited (deleted
 * content stays deleted; clocks only advance), so a snapshot equals the
 * union of its predecessor and the delta ysnap_diff() computes, and a chain
 * keyframe + deltas is rebuilt by ysnap_union(). Deltas and unions are
 * themselves valid snapshots in the Yjs encoding (clients in descending
 * order, ranges sorted and merged), readable by ytext_string_at().
 *
 * Input is untrusted: every count is checked against the bytes that remain
 * before anything is allocated. No global state; thread-safe.
 */
#ifndef VN_YSNAP_H
#define VN_YSNAP_H

#include <stddef.h>
#include <stdint.h>

enum {
    YSNAP_OK = 0,
    YSNAP_ERR_NOMEM = -1,
    YSNAP_ERR_MALFORMED = -2, /* bytes that are not a snapshot */
};

/* The part of `snap` that `prev` lacks: the delete ranges not covered by
 * prev's, and the state vector entries that advanced. prev may be NULL
 * (prev_len 0): the delta is then snap itself, normalised. *out is malloc'd
 * (caller frees with free()). Returns YSNAP_OK or an error (*out untouched). */
int ysnap_diff(const uint8_t *prev, size_t prev_len, const uint8_t *snap, size_t snap_len,
               uint8_t **out, size_t *out_len);

/* The union of n snapshots (n >= 1): every delete range of any of them, and
 * for each client the largest clock. *out is malloc'd (caller frees with
 * free()). Returns YSNAP_OK or an error (*out untouched). */
int ysnap_union(const uint8_t *const *snaps, const size_t *lens, size_t n, uint8_t **out,
                size_t *out_len);

#endif /* VN_YSNAP_H */
