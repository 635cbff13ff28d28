/*
 * fuzz_apply_update.c - libFuzzer target for ydoc_apply_update.
 *
 * Input: the whole input is one update v1, applied to a fresh document with
 * gc on and to one with gc off (note documents keep deleted content).
 * Invariants:
 *  - the call returns Y_OK or an error code; a refused update leaves the
 *    document exactly as it was (its state as an update is unchanged);
 *  - applying the same update again loses nothing: the state vector
 *    afterwards covers the one before;
 *  - the document's state, encoded and applied to another fresh document,
 *    is accepted, and that document's state vector covers the first's.
 *  These are "covers", not "equals", because Yjs itself is not exact with
 *  zero-length structs: one left pending by a first apply may integrate on
 *  the second, or once re-encoded without its pending neighbour.
 *  - nothing leaks once the documents are freed.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void state(const ydoc *d, fuzz_bytes *u, fuzz_bytes *sv) {
    FUZZ_CHECK(ydoc_encode_state_as_update(d, NULL, 0, &u->p, &u->n) == Y_OK);
    FUZZ_CHECK(ydoc_encode_state_vector(d, &sv->p, &sv->n) == Y_OK);
}

static void one_doc(const uint8_t *data, size_t size, bool gc) {
    ydoc_options opt = {.has_client_id = true, .client_id = 1, .gc = gc};
    ydoc *d = ydoc_new(&opt);
    FUZZ_CHECK(d != NULL);
    fuzz_bytes u0 = {0}, sv0 = {0};
    state(d, &u0, &sv0);

    int rc = ydoc_apply_update(d, data, size, NULL);
    FUZZ_CHECK(fuzz_rc_ok(rc));
    fuzz_bytes u1 = {0}, sv1 = {0};
    state(d, &u1, &sv1);
    if (rc != Y_OK) {
        FUZZ_CHECK(fuzz_bytes_eq(u0, u1));
        FUZZ_CHECK(fuzz_bytes_eq(sv0, sv1));
    } else {
        /* idempotent */
        FUZZ_CHECK(ydoc_apply_update(d, data, size, NULL) == Y_OK);
        fuzz_bytes u2 = {0}, sv2 = {0};
        state(d, &u2, &sv2);
        FUZZ_CHECK(fuzz_sv_covers(sv2, sv1));
        yfree(u2.p);
        yfree(sv2.p);

        /* round trip through a fresh document */
        ydoc *e = ydoc_new(&opt);
        FUZZ_CHECK(e != NULL);
        FUZZ_CHECK(ydoc_apply_update(e, u1.p, u1.n, NULL) == Y_OK);
        fuzz_bytes u3 = {0}, sv3 = {0};
        state(e, &u3, &sv3);
        FUZZ_CHECK(fuzz_sv_covers(sv3, sv1));
        yfree(u3.p);
        yfree(sv3.p);
        ydoc_free(e);
    }
    yfree(u0.p);
    yfree(sv0.p);
    yfree(u1.p);
    yfree(sv1.p);
    ydoc_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t before, after, peak;
    yalloc_stats(&before, &peak);
    one_doc(data, size, true);
    one_doc(data, size, false);
    yalloc_stats(&after, &peak);
    FUZZ_CHECK(after == before);
    return 0;
}
