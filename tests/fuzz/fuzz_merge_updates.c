/*
 * fuzz_merge_updates.c - libFuzzer target for yupdate_merge.
 *
 * Input: a varuint count n (at most 4 bytes, taken modulo 17), then n
 * updates, each a varuint length followed by that many bytes (a length past
 * the end takes what is left). Invariants:
 *  - the call returns Y_OK or an error code, never crashes, leaks nothing;
 *  - if every input is a well-formed update (yupdate_state_vector accepts
 *    it), the merge succeeds;
 *  - a merged update is well-formed: its state vector can be read, merging
 *    it alone gives it back, and diffing it against the empty state vector
 *    succeeds.
 * (Applying the merge and applying the inputs one by one need not give the
 * same state vector for arbitrary bytes: Yjs itself differs when structs
 * stay pending or GC runs reach absurd clocks, so no target asserts it.)
 */
#include "fuzz_common.h"

#define MAX_UPDATES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *ups[MAX_UPDATES];
    size_t lens[MAX_UPDATES];
    size_t n = fuzz_varuint(&data, &size) % (MAX_UPDATES + 1);
    bool all_valid = true;
    for (size_t i = 0; i < n; i++) {
        size_t len = fuzz_varuint(&data, &size);
        if (len > size) len = size;
        ups[i] = data;
        lens[i] = len;
        data += len;
        size -= len;
        fuzz_bytes sv = {0};
        int vrc = yupdate_state_vector(ups[i], lens[i], &sv.p, &sv.n);
        FUZZ_CHECK(fuzz_rc_ok(vrc));
        if (vrc) all_valid = false;
        yfree(sv.p);
    }
    size_t before, peak;
    yalloc_stats(&before, &peak);

    fuzz_bytes out = {0};
    int rc = yupdate_merge(ups, lens, n, &out.p, &out.n);
    FUZZ_CHECK(fuzz_rc_ok(rc));
    if (all_valid) FUZZ_CHECK(rc == Y_OK);
    if (rc == Y_OK) {
        fuzz_bytes sv = {0}, again = {0}, diff = {0};
        static const uint8_t empty_sv[] = {0x00};
        const uint8_t *one[1] = {out.p};
        FUZZ_CHECK(yupdate_state_vector(out.p, out.n, &sv.p, &sv.n) == Y_OK);
        FUZZ_CHECK(yupdate_merge(one, &out.n, 1, &again.p, &again.n) == Y_OK);
        FUZZ_CHECK(fuzz_bytes_eq(out, again));
        FUZZ_CHECK(yupdate_diff(out.p, out.n, empty_sv, 1, &diff.p, &diff.n) == Y_OK);
        yfree(sv.p);
        yfree(again.p);
        yfree(diff.p);
        yfree(out.p);
    }
    size_t after;
    yalloc_stats(&after, &peak);
    FUZZ_CHECK(after == before);
    return 0;
}
