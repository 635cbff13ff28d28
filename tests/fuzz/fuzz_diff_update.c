/*
 * fuzz_diff_update.c - libFuzzer target for yupdate_diff and
 * yupdate_state_vector.
 *
 * Input: a varuint length L (at most 4 bytes), then L bytes of state vector
 * (fewer if the input ends), then the update (the rest). Invariants:
 *  - every call returns Y_OK or an error code and leaks nothing;
 *  - for a well-formed update and state vector the diff succeeds, and the
 *    diff is itself a well-formed update;
 *  - the diff of a well-formed update against the empty state vector is a
 *    fixed point: diffing it again gives the same bytes. (Its state vector
 *    need not equal the update's: an update that lists one client twice has
 *    two entries in Yjs's encodeStateVectorFromUpdate, its diff one.)
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t sv_len = fuzz_varuint(&data, &size);
    if (sv_len > size) sv_len = size;
    const uint8_t *sv = data, *update = data + sv_len;
    size_t update_len = size - sv_len;
    static const uint8_t empty_sv[] = {0x00};
    size_t before, after, peak;
    yalloc_stats(&before, &peak);

    fuzz_bytes usv = {0}, out = {0};
    int src = yupdate_state_vector(update, update_len, &usv.p, &usv.n);
    FUZZ_CHECK(fuzz_rc_ok(src));
    int rc = yupdate_diff(update, update_len, sv, sv_len, &out.p, &out.n);
    FUZZ_CHECK(fuzz_rc_ok(rc));
    if (rc == Y_OK) {
        fuzz_bytes osv = {0};
        FUZZ_CHECK(src == Y_OK); /* a diff never accepts what SV refuses */
        FUZZ_CHECK(yupdate_state_vector(out.p, out.n, &osv.p, &osv.n) == Y_OK);
        yfree(osv.p);
        yfree(out.p);
    }
    if (src == Y_OK) {
        fuzz_bytes full = {0}, again = {0};
        FUZZ_CHECK(yupdate_diff(update, update_len, empty_sv, 1, &full.p, &full.n) == Y_OK);
        FUZZ_CHECK(yupdate_diff(full.p, full.n, empty_sv, 1, &again.p, &again.n) == Y_OK);
        FUZZ_CHECK(fuzz_bytes_eq(full, again));
        yfree(full.p);
        yfree(again.p);
    }
    yfree(usv.p);
    yalloc_stats(&after, &peak);
    FUZZ_CHECK(after == before);
    return 0;
}
