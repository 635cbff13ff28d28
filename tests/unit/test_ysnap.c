/*
 * test_ysnap.c - unit tests of src/util/ysnap (snapshot deltas and unions)
 * against the CRDT engine: a chain keyframe + deltas must render exactly the
 * text the full snapshot renders, at every step of a random editing session
 * with several clients; malformed snapshots are refused.
 */
#include "test.h"

#include "crdt/crdt.h"
#include "util/ysnap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static char *text_at(ydoc *doc, const uint8_t *snap, size_t len) {
    char *s = NULL;
    size_t n = 0;
    if (ytext_string_at(ydoc_get(doc, "content", YTYPE_TEXT), snap, len, &s, &n) != Y_OK)
        return NULL;
    return s;
}

/* One random edit by a doc, synced into `main`. */
static void random_edit(ydoc *author, ydoc *main_doc) {
    ytype *t = ydoc_get(author, "content", YTYPE_TEXT);
    size_t len = ytext_len(t);
    ytxn *tx = ydoc_begin(author, NULL);
    if (len > 4 && next() % 3 == 0) {
        size_t pos = next() % (len - 2);
        ytext_delete(tx, t, pos, 1 + next() % 2);
    } else {
        char word[8];
        size_t wl = 1 + next() % 6;
        for (size_t i = 0; i < wl; i++) word[i] = (char)('a' + next() % 26);
        ytext_insert(tx, t, len ? next() % (len + 1) : 0, word, wl, NULL, 0);
    }
    ytxn_commit(tx);
    uint8_t *u = NULL;
    size_t ul = 0;
    uint8_t *sv = NULL;
    size_t svl = 0;
    ydoc_encode_state_vector(main_doc, &sv, &svl);
    ydoc_encode_state_as_update(author, sv, svl, &u, &ul);
    ydoc_apply_update(main_doc, u, ul, NULL);
    /* and back, so the author builds on everything */
    yfree(sv);
    yfree(u);
    ydoc_encode_state_vector(author, &sv, &svl);
    ydoc_encode_state_as_update(main_doc, sv, svl, &u, &ul);
    ydoc_apply_update(author, u, ul, NULL);
    yfree(sv);
    yfree(u);
}

TEST(chain_of_deltas_renders_every_version) {
    ydoc_options opt = {.gc = false};
    ydoc *main_doc = ydoc_new(&opt);
    ydoc *authors[3];
    for (int i = 0; i < 3; i++) {
        ydoc_options o = {.gc = false, .has_client_id = true, .client_id = 1000u + (uint32_t)i};
        authors[i] = ydoc_new(&o);
    }
    enum { VERSIONS = 60 };
    uint8_t *full[VERSIONS], *delta[VERSIONS];
    size_t full_len[VERSIONS], delta_len[VERSIONS];
    char *texts[VERSIONS];
    size_t total_full = 0, total_delta = 0;
    for (int v = 0; v < VERSIONS; v++) {
        int edits = 1 + (int)(next() % 5);
        for (int e = 0; e < edits; e++) random_edit(authors[next() % 3], main_doc);
        ASSERT_EQ_INT(ydoc_snapshot(main_doc, &full[v], &full_len[v]), Y_OK);
        ASSERT_EQ_INT(ytext_string(ydoc_get(main_doc, "content", YTYPE_TEXT), &texts[v], NULL),
                      Y_OK);
        ASSERT_EQ_INT(ysnap_diff(v ? full[v - 1] : NULL, v ? full_len[v - 1] : 0, full[v],
                                 full_len[v], &delta[v], &delta_len[v]),
                      YSNAP_OK);
        total_full += full_len[v];
        total_delta += delta_len[v];
    }
    /* Every version from the first keyframe, and from a later one. */
    for (int v = 0; v < VERSIONS; v++) {
        for (int base = 0; base <= v; base += 17) {
            const uint8_t *parts[VERSIONS];
            size_t lens[VERSIONS], n = 0;
            parts[n] = full[base];
            lens[n++] = full_len[base];
            for (int k = base + 1; k <= v; k++) {
                parts[n] = delta[k];
                lens[n++] = delta_len[k];
            }
            uint8_t *u = NULL;
            size_t ul = 0;
            ASSERT_EQ_INT(ysnap_union(parts, lens, n, &u, &ul), YSNAP_OK);
            char *t = text_at(main_doc, u, ul);
            ASSERT_TRUE(t != NULL);
            ASSERT_EQ_STR(t, texts[v]);
            yfree(t);
            free(u);
        }
    }
    ASSERT_TRUE(total_delta * 3 < total_full); /* deltas are what make history small */
    for (int v = 0; v < VERSIONS; v++) {
        yfree(full[v]);
        free(delta[v]);
        yfree(texts[v]);
    }
    for (int i = 0; i < 3; i++) ydoc_free(authors[i]);
    ydoc_free(main_doc);
}

TEST(diff_of_equal_snapshots_is_empty) {
    ydoc_options opt = {.gc = false};
    ydoc *d = ydoc_new(&opt);
    ytxn *tx = ydoc_begin(d, NULL);
    ytext_insert(tx, ydoc_get(d, "content", YTYPE_TEXT), 0, "hello", 5, NULL, 0);
    ytxn_commit(tx);
    uint8_t *s = NULL, *delta = NULL;
    size_t sl = 0, dl = 0;
    ASSERT_EQ_INT(ydoc_snapshot(d, &s, &sl), Y_OK);
    ASSERT_EQ_INT(ysnap_diff(s, sl, s, sl, &delta, &dl), YSNAP_OK);
    ASSERT_EQ_MEM(delta, dl, "\x00\x00", 2);
    free(delta);
    yfree(s);
    ydoc_free(d);
}

TEST(malformed_snapshots_are_refused) {
    static const uint8_t ok[] = {0x01, 0x05, 0x01, 0x00, 0x02, 0x01, 0x05, 0x03};
    static const struct {
        const char *name;
        uint8_t bytes[12];
        size_t len;
    } bad[] = {
        {"empty", {0}, 0},
        {"truncated range", {0x01, 0x05, 0x01, 0x00}, 4},
        {"too many clients", {0x7f, 0x00}, 2},
        {"no state vector", {0x00}, 1},
        {"trailing bytes", {0x00, 0x00, 0x00}, 3},
        {"varint too long", {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 11},
    };
    uint8_t *out = NULL;
    size_t ol = 0;
    ASSERT_EQ_INT(ysnap_diff(NULL, 0, ok, sizeof(ok), &out, &ol), YSNAP_OK);
    ASSERT_EQ_MEM(out, ol, ok, sizeof(ok));
    free(out);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = NULL;
        ASSERT_EQ_INT(ysnap_diff(NULL, 0, bad[i].bytes, bad[i].len, &out, &ol),
                      YSNAP_ERR_MALFORMED);
        ASSERT_EQ_INT(ysnap_diff(bad[i].bytes, bad[i].len, ok, sizeof(ok), &out, &ol),
                      YSNAP_ERR_MALFORMED);
        const uint8_t *parts[] = {ok, bad[i].bytes};
        size_t lens[] = {sizeof(ok), bad[i].len};
        ASSERT_EQ_INT(ysnap_union(parts, lens, 2, &out, &ol), YSNAP_ERR_MALFORMED);
        ASSERT_TRUE(out == NULL);
    }
}

TEST(union_merges_ranges_and_keeps_largest_clocks) {
    /* ds {5: [0,2)}, sv {5: 3}  and  ds {5: [2,3), 7: [1,2)}, sv {5: 9, 7: 4} */
    static const uint8_t a[] = {0x01, 0x05, 0x01, 0x00, 0x02, 0x01, 0x05, 0x03};
    static const uint8_t b[] = {0x02, 0x07, 0x01, 0x01, 0x01, 0x05, 0x01,
                                0x02, 0x01, 0x02, 0x07, 0x04, 0x05, 0x09};
    /* union: ds {7: [1,2), 5: [0,3)}, sv {7: 4, 5: 9}, clients descending */
    static const uint8_t want[] = {0x02, 0x07, 0x01, 0x01, 0x01, 0x05, 0x01,
                                   0x00, 0x03, 0x02, 0x07, 0x04, 0x05, 0x09};
    const uint8_t *parts[] = {a, b};
    size_t lens[] = {sizeof(a), sizeof(b)};
    uint8_t *out = NULL;
    size_t ol = 0;
    ASSERT_EQ_INT(ysnap_union(parts, lens, 2, &out, &ol), YSNAP_OK);
    ASSERT_EQ_MEM(out, ol, want, sizeof(want));
    free(out);
    /* and the delta from a to the union is b's news: [2,3) of 5, all of 7 */
    static const uint8_t news[] = {0x02, 0x07, 0x01, 0x01, 0x01, 0x05, 0x01,
                                   0x02, 0x01, 0x02, 0x07, 0x04, 0x05, 0x09};
    ASSERT_EQ_INT(ysnap_diff(a, sizeof(a), want, sizeof(want), &out, &ol), YSNAP_OK);
    ASSERT_EQ_MEM(out, ol, news, sizeof(news));
    free(out);
}
