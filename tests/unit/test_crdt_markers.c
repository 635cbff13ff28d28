/*
 * test_crdt_markers.c - the search markers (src/crdt/type.c): their two
 * forms, "narrow" (32-bit indexes scanned eight at a time, used while a
 * type is shorter than ymarker_narrow_max, i.e. always in practice) and
 * "wide" (64-bit indexes, scanned one by one, for types beyond 2^29 units),
 * and searches without markers at all (from the first item) must emit the
 * same update bytes for the same seeded edits, also when a type switches
 * form half-way: every marker's index is exact, so the marker a search
 * starts from changes nothing but its speed. The narrow form is the one the
 * interop tests compare with Yjs. A type makes its marker arrays only on
 * its first search by position.
 */
#include "crdt.h"
#include "doc_int.h"
#include "test.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void on_update(void *ud, const uint8_t *u, size_t len, const void *origin) {
    (void)origin;
    bytes *b = ud;
    if (b->n + len + 8 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + len + 8) cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) abort();
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, &len, sizeof len); /* a separator, so boundaries count too */
    memcpy(b->p + b->n + sizeof len, u, len);
    b->n += sizeof len + len;
}

static uint64_t rnd(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Seeded edits on a Y.Text and a Y.Array: typing runs near a cursor,
 * backspaces, jumps, deleted ranges, array reads (which move markers too),
 * several edits per transaction. Every update goes to *out. */
static bool g_no_markers; /* run_edits searches from the first item */

static int run_edits(uint64_t seed, bytes *out, char **text) {
    ydoc_options o = {true, 77, true};
    ydoc *d = ydoc_new(&o);
    if (!d) return -1;
    ydoc_observe_updates(d, on_update, out);
    ytype *t = ydoc_get(d, "t", YTYPE_TEXT);
    ytype *a = ydoc_get(d, "a", YTYPE_ARRAY);
    if (g_no_markers) t->markers_on = a->markers_on = false;
    uint64_t s = seed;
    size_t cursor = 0;
    for (int txn = 0; txn < 1500; txn++) {
        ytxn *x = ydoc_begin(d, NULL);
        int ops = 1 + (int)(rnd(&s) % 3);
        for (int k = 0; k < ops; k++) {
            size_t len = ytext_len(t);
            uint64_t r = rnd(&s) % 100;
            if (r < 8 || cursor > len) cursor = len ? (size_t)(rnd(&s) % (len + 1)) : 0;
            if (r < 65) {
                char c[3] = {(char)('a' + rnd(&s) % 26), (char)('a' + rnd(&s) % 26), 0};
                size_t n = 1 + (size_t)(rnd(&s) % 2);
                if (ytext_insert(x, t, cursor, c, n, NULL, 0) != Y_OK) goto fail;
                cursor += n;
            } else if (r < 78 && cursor > 0) {
                size_t n = 1 + (size_t)(rnd(&s) % (cursor < 3 ? cursor : 3));
                if (ytext_delete(x, t, cursor - n, n) != Y_OK) goto fail;
                cursor -= n;
            } else if (r < 83 && len > 0) {
                size_t at = (size_t)(rnd(&s) % len);
                size_t n = 1 + (size_t)(rnd(&s) % (len - at < 8 ? len - at : 8));
                if (ytext_delete(x, t, at, n) != Y_OK) goto fail;
            } else {
                size_t alen = yarray_len(a);
                yany v = {.kind = YANY_NUMBER, .u.num = (double)(rnd(&s) % 1000)};
                if (alen > 3 && rnd(&s) % 3 == 0) {
                    size_t at = (size_t)(rnd(&s) % alen);
                    if (yarray_delete(x, a, at, 1) != Y_OK) goto fail;
                } else {
                    size_t at = alen ? (size_t)(rnd(&s) % (alen + 1)) : 0;
                    if (yarray_insert(x, a, at, &v, 1) != Y_OK) goto fail;
                }
                alen = yarray_len(a);
                if (alen) {
                    yvalue got;
                    if (yarray_get(a, (size_t)(rnd(&s) % alen), &got) != Y_OK) goto fail;
                }
            }
        }
        if (ytxn_commit(x) != Y_OK) goto fail;
    }
    int rc = ytext_string(t, text, NULL);
    ydoc_free(d);
    return rc;
fail:
    ydoc_free(d);
    return -1;
}

static void same_edits_same_bytes(uint64_t seed) {
    uint64_t keep = ymarker_narrow_max;
    bytes narrow = {0}, wide = {0}, both = {0}, none = {0};
    char *tn = NULL, *tw = NULL, *tb = NULL, *to = NULL;
    int rn = run_edits(seed, &narrow, &tn);
    ymarker_narrow_max = 0; /* wide from the first edit */
    int rw = run_edits(seed, &wide, &tw);
    ymarker_narrow_max = 400; /* narrow, then wide once the text is longer */
    int rb = run_edits(seed, &both, &tb);
    ymarker_narrow_max = keep;
    g_no_markers = true;
    int ro = run_edits(seed, &none, &to);
    g_no_markers = false;
    int ok = rn == 0 && rw == 0 && rb == 0 && ro == 0 && narrow.n == wide.n && narrow.n == both.n &&
             narrow.n == none.n && memcmp(narrow.p, wide.p, narrow.n) == 0 &&
             memcmp(narrow.p, both.p, narrow.n) == 0 && memcmp(narrow.p, none.p, narrow.n) == 0 &&
             strcmp(tn, tw) == 0 && strcmp(tn, tb) == 0 && strcmp(tn, to) == 0 && strlen(tn) > 400;
    if (!ok)
        fprintf(stderr, "seed %" PRIu64 ": rc %d/%d/%d/%d, %zu/%zu/%zu/%zu update bytes, text %zu chars\n", seed,
                rn, rw, rb, ro, narrow.n, wide.n, both.n, none.n, tn ? strlen(tn) : 0);
    free(narrow.p);
    free(wide.p);
    free(both.p);
    free(none.p);
    yfree(tn);
    yfree(tw);
    yfree(tb);
    yfree(to);
    ASSERT_TRUE(ok);
}

TEST(narrow_wide_and_no_markers_emit_the_same_updates) {
    for (uint64_t seed = 1; seed <= 6; seed++) CHECK_HELPER(same_edits_same_bytes(seed));
}

/* Loading, reading and appending at index 0 make no marker arrays (about
 * 2.2 KB per type); the first edit by position does. */
TEST(marker_arrays_are_made_on_the_first_search) {
    ydoc_options o = {true, 5, true};
    ydoc *src = ydoc_new(&o);
    ytype *st = ydoc_get(src, "t", YTYPE_TEXT);
    ytxn *x = ydoc_begin(src, NULL);
    ASSERT_EQ_INT(ytext_insert(x, st, 0, "hello world", 11, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytxn_commit(x), Y_OK);
    uint8_t *u;
    size_t n;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(src, NULL, 0, &u, &n), Y_OK);
    ydoc_free(src);

    ydoc *d = ydoc_new(&(ydoc_options){true, 6, true});
    ytype *t = ydoc_get(d, "t", YTYPE_TEXT);
    ytype *a = ydoc_get(d, "a", YTYPE_ARRAY);
    ASSERT_EQ_INT(ydoc_apply_update(d, u, n, NULL), Y_OK);
    yfree(u);
    char *s = NULL;
    ASSERT_EQ_INT(ytext_string(t, &s, NULL), Y_OK);
    ASSERT_EQ_STR(s, "hello world");
    yfree(s);
    x = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(ytext_insert(x, t, 0, ">", 1, NULL, 0), Y_OK);
    yany v = {.kind = YANY_NUMBER, .u.num = 1};
    ASSERT_EQ_INT(yarray_insert(x, a, 0, &v, 1), Y_OK);
    ASSERT_EQ_INT(ytxn_commit(x), Y_OK);
    ASSERT_TRUE(t->markers == NULL);
    ASSERT_TRUE(a->markers == NULL);
    x = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(ytext_insert(x, t, 6, ",", 1, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytxn_commit(x), Y_OK);
    ASSERT_TRUE(t->markers != NULL);
    ASSERT_TRUE(a->markers == NULL);
    ASSERT_EQ_INT(ytext_string(t, &s, NULL), Y_OK);
    ASSERT_EQ_STR(s, ">hello, world");
    yfree(s);
    ydoc_free(d);
}
