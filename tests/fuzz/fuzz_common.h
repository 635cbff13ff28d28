/*
 * fuzz_common.h - helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * Each target checks invariants with FUZZ_CHECK, which aborts (so libFuzzer
 * records the input as a crash) and says which invariant broke. Input
 * layouts are documented in tests/fuzz/README.md.
 */
#ifndef VN_FUZZ_COMMON_H
#define VN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt.h"

#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* Error codes a call on untrusted bytes may return. */
static inline int fuzz_rc_ok(int rc) {
    return rc == Y_OK || rc == Y_ERR_MALFORMED || rc == Y_ERR_LIMIT || rc == Y_ERR_NOMEM;
}

/* Reads a lib0 varuint off the front of the input (at most 4 bytes, so the
 * fuzzer can steer it); returns 0 at the end of the input. */
static inline size_t fuzz_varuint(const uint8_t **p, size_t *n) {
    size_t v = 0;
    for (int shift = 0; shift < 28 && *n; shift += 7) {
        uint8_t c = **p;
        (*p)++;
        (*n)--;
        v |= (size_t)(c & 0x7f) << shift;
        if (c < 0x80) break;
    }
    return v;
}

/* Holds the bytes of a call's result (engine-owned until freed). */
typedef struct {
    uint8_t *p;
    size_t n;
} fuzz_bytes;

static inline bool fuzz_bytes_eq(fuzz_bytes a, fuzz_bytes b) {
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* Reads a lib0 varuint (up to 64 bits) from an engine-made buffer. */
static inline uint64_t fuzz_read_varuint(const uint8_t *p, size_t n, size_t *pos) {
    uint64_t v = 0;
    for (int shift = 0; *pos < n && shift < 64; shift += 7) {
        uint8_t c = p[(*pos)++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) break;
    }
    return v;
}

/* The clock an encoded state vector gives `client` (0 when absent). */
static inline uint64_t fuzz_sv_get(fuzz_bytes sv, uint64_t client) {
    size_t pos = 0;
    uint64_t n = fuzz_read_varuint(sv.p, sv.n, &pos), clock = 0;
    for (uint64_t i = 0; i < n && pos < sv.n; i++) {
        uint64_t c = fuzz_read_varuint(sv.p, sv.n, &pos);
        uint64_t k = fuzz_read_varuint(sv.p, sv.n, &pos);
        if (c == client) clock = k;
    }
    return clock;
}

/* Whether state vector b knows at least what a knows: every client's clock
 * in b is at least its clock in a. */
static inline bool fuzz_sv_covers(fuzz_bytes b, fuzz_bytes a) {
    size_t pos = 0;
    uint64_t n = fuzz_read_varuint(a.p, a.n, &pos);
    for (uint64_t i = 0; i < n && pos < a.n; i++) {
        uint64_t c = fuzz_read_varuint(a.p, a.n, &pos);
        uint64_t k = fuzz_read_varuint(a.p, a.n, &pos);
        if (fuzz_sv_get(b, c) < k) return false;
    }
    return true;
}

#endif /* VN_FUZZ_COMMON_H */
