/*
 * test_crdt_apply.c - Y.Map, Y.Array, nested types, gc on/off, pending
 * structs and deletes, snapshots and refused updates, through the public
 * API, with bytes checked against the real Yjs 13.6.
 *
 * Expected bytes were printed by node snippets run against
 * node_modules/yjs/src (quoted above each test; hex = Buffer.toString('hex')).
 */
#include "crdt.h"
#include "test.h"

static ydoc *new_doc(uint32_t id, bool gc) {
    ydoc_options o = {true, id, gc};
    return ydoc_new(&o);
}

static void hexs(const uint8_t *u, size_t n, char *out) {
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", u[i]);
}

static size_t unhex(const char *h, uint8_t *out) {
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

static void state_is(ydoc *d, const char *want) {
    uint8_t *u;
    size_t n;
    static char got[8192];
    ASSERT_EQ_INT(ydoc_encode_state_as_update(d, NULL, 0, &u, &n), Y_OK);
    hexs(u, n, got);
    yfree(u);
    ASSERT_EQ_STR(got, want);
}

typedef struct {
    char hex[16][512];
    int n;
} updates;

static void on_update(void *ud, const uint8_t *u, size_t len, const void *origin) {
    (void)origin;
    updates *ups = ud;
    if (ups->n < 16 && len < 255) hexs(u, len, ups->hex[ups->n++]);
}

static yany num(double d) {
    yany v = {.kind = YANY_NUMBER};
    v.u.num = d;
    return v;
}

/* Yjs: d.clientID = 9; m.set('x', 1); m.set('y', 'two');
 * m.set('x', { k: [1, 2] }); m.delete('y'); m.set('bin', Uint8Array [9, 8]);
 * a.insert(0, [1, 2, 3]); a.insert(1, [Uint8Array [5], 'q']); a.delete(0, 2);
 * const nested = new Y.Map(); a.insert(1, [nested]); nested.set('in', true) */
TEST(map_and_array_edits_emit_yjs_bytes) {
    ydoc *d = new_doc(9, true);
    updates ups = {.n = 0};
    ydoc_observe_updates(d, on_update, &ups);
    ytype *m = ydoc_get(d, "m", YTYPE_MAP), *a = ydoc_get(d, "a", YTYPE_ARRAY);
    ytxn *x;
#define TX(stmt)                                                                     \
    do {                                                                             \
        x = ydoc_begin(d, NULL);                                                     \
        ASSERT_EQ_INT(stmt, Y_OK);                                                   \
        ytxn_commit(x);                                                              \
    } while (0)
    yany one = num(1), two = {.kind = YANY_STRING};
    two.u.str.ptr = "two";
    two.u.str.len = 3;
    yany k_items[2] = {num(1), num(2)};
    yany k_arr = {.kind = YANY_ARRAY};
    k_arr.u.arr.items = k_items;
    k_arr.u.arr.len = 2;
    yany_entry k_ent = {"k", k_arr};
    yany obj = {.kind = YANY_OBJECT};
    obj.u.obj.entries = &k_ent;
    obj.u.obj.len = 1;
    static const uint8_t b98[] = {9, 8}, b5[] = {5};
    yany bin = {.kind = YANY_BINARY};
    bin.u.bin.ptr = b98;
    bin.u.bin.len = 2;
    TX(ymap_set(x, m, "x", &one));
    TX(ymap_set(x, m, "y", &two));
    TX(ymap_set(x, m, "x", &obj));
    TX(ymap_delete(x, m, "y"));
    TX(ymap_set(x, m, "bin", &bin));
    yany three[3] = {num(1), num(2), num(3)};
    TX(yarray_insert(x, a, 0, three, 3));
    yany mixed[2] = {{.kind = YANY_BINARY}, {.kind = YANY_STRING}};
    mixed[0].u.bin.ptr = b5;
    mixed[0].u.bin.len = 1;
    mixed[1].u.str.ptr = "q";
    mixed[1].u.str.len = 1;
    TX(yarray_insert(x, a, 1, mixed, 2));
    TX(yarray_delete(x, a, 0, 2));
    ytype *nested = NULL;
    TX(yarray_insert_type(x, a, 1, YTYPE_MAP, &nested));
    yany yes = {.kind = YANY_BOOL, .u.b = true};
    TX(ymap_set(x, nested, "in", &yes));
#undef TX
    static const char *want[] = {
        "010109002801016d0178017d0100",     "010109012801016d017901770374776f00",
        "01010902a80900017601016b75027d017d020109010001", "000109010101",
        "010109032301016d0362696e02090800", "0101090408010161037d017d027d0300",
        "01020907c3090409050105c8090709050177017100", "0001090204010701",
        "01010909c7090809050100",           "0101090a2800090902696e017800"};
    ASSERT_EQ_INT(ups.n, 10);
    for (int i = 0; i < 10; i++) ASSERT_EQ_STR(ups.hex[i], want[i]);
    CHECK_HELPER(state_is(d, "010a09002101016d0178012101016d017901a80900017601016b75027d017d022301016d0362696e02"
                             "09080101016101880904027d027d03c10904090501c80907090501770171c709080905012800090902"
                             "696e0178010903000204010701"));
    yvalue v;
    ASSERT_EQ_INT(ymap_get(m, "y", &v), Y_ERR_RANGE);
    ASSERT_EQ_INT(ymap_get(m, "bin", &v), Y_OK);
    ASSERT_EQ_INT(v.any.kind, YANY_BINARY);
    ASSERT_EQ_UINT(ymap_len(m), 2);
    const char **keys;
    size_t nk;
    ASSERT_EQ_INT(ymap_keys(m, &keys, &nk), Y_OK);
    ASSERT_EQ_UINT(nk, 2);
    ASSERT_EQ_STR(keys[0], "bin");
    ASSERT_EQ_STR(keys[1], "x");
    yfree(keys);
    ASSERT_EQ_UINT(yarray_len(a), 4); /* 'q', nested, 2, 3 */
    ASSERT_EQ_INT(yarray_get(a, 1, &v), Y_OK);
    ASSERT_EQ_INT(v.kind, YVALUE_TYPE);
    ASSERT_TRUE(v.type == nested);
    ASSERT_EQ_INT(yarray_get(a, 3, &v), Y_OK);
    ASSERT_TRUE(v.any.kind == YANY_NUMBER && v.any.u.num == 3);
    ydoc_free(d);
}

/* Yjs: for gc of [true, false]: d.clientID = 3; const inner = new Y.Array();
 * a.insert(0, [inner]); inner.insert(0, [1, 2, 3]); a.delete(0, 1) */
TEST(gc_changes_the_encoding_as_in_yjs) {
    for (int gc = 0; gc < 2; gc++) {
        ydoc *d = new_doc(3, gc);
        ytype *a = ydoc_get(d, "a", YTYPE_ARRAY), *inner;
        ytxn *x = ydoc_begin(d, NULL);
        ASSERT_EQ_INT(yarray_insert_type(x, a, 0, YTYPE_ARRAY, &inner), Y_OK);
        ytxn_commit(x);
        yany v[3] = {num(1), num(2), num(3)};
        x = ydoc_begin(d, NULL);
        yarray_insert(x, inner, 0, v, 3);
        ytxn_commit(x);
        x = ydoc_begin(d, NULL);
        yarray_delete(x, a, 0, 1);
        ytxn_commit(x);
        CHECK_HELPER(state_is(d, gc ? "01020300010101610100030103010004"
                                    : "01020300070101610008000300037d017d027d030103010004"));
        ASSERT_TRUE(ydoc_gc(d) == (bool)gc);
        ydoc_free(d);
    }
}

/* Yjs: d.clientID = 5; t.insert(0, 'ab'); t.insert(2, 'cd'); t.delete(0, 1);
 * updates applied to a fresh doc as [2], [1], [0]: pending structs and a
 * pending delete set until [0] arrives; then "bcd" and the state below.
 * The state while pending is Y.encodeStateAsUpdate(r) after [2] and [1]. */
TEST(out_of_order_updates_wait_as_pending) {
    static const char *ups[3] = {"010105000401017402616200", "0101050284050102636400", "000105010001"};
    uint8_t b[3][64];
    size_t n[3];
    for (int i = 0; i < 3; i++) n[i] = unhex(ups[i], b[i]);
    ydoc *r = new_doc(6, true);
    ASSERT_EQ_INT(ydoc_apply_update(r, b[2], n[2], NULL), Y_OK);
    ASSERT_TRUE(ydoc_pending_deletes(r));
    ASSERT_EQ_INT(ydoc_apply_update(r, b[1], n[1], NULL), Y_OK);
    ASSERT_EQ_UINT(ydoc_pending_structs(r), 1);
    ASSERT_EQ_INT(ydoc_apply_update(r, b[1], n[1], NULL), Y_OK); /* duplicate */
    ASSERT_EQ_UINT(ydoc_pending_structs(r), 1);
    /* Yjs hands pending structs and deletes on in encodeStateAsUpdate
     * (merged in); the state vector does not count them */
    CHECK_HELPER(state_is(r, "010105028405010263640105010001"));
    uint8_t *sv;
    size_t nsv;
    ASSERT_EQ_INT(ydoc_encode_state_vector(r, &sv, &nsv), Y_OK);
    ASSERT_EQ_UINT(nsv, 1);
    ASSERT_EQ_UINT(sv[0], 0);
    yfree(sv);
    ASSERT_EQ_INT(ydoc_apply_update(r, b[0], n[0], NULL), Y_OK);
    ASSERT_EQ_UINT(ydoc_pending_structs(r), 0);
    ASSERT_FALSE(ydoc_pending_deletes(r));
    char *s;
    ASSERT_EQ_INT(ytext_string(ydoc_get(r, "t", YTYPE_TEXT), &s, NULL), Y_OK);
    ASSERT_EQ_STR(s, "bcd");
    yfree(s);
    CHECK_HELPER(state_is(r, "010205000101017401840500036263640105010001"));
    ydoc_free(r);
}

/* Yjs: d = new Y.Doc({ gc: false }); d.clientID = 4; t.insert(0, 'hello');
 * s1 = Y.snapshot(d); t.delete(0, 2); t.insert(3, '!')
 * encodeSnapshot(s1) = 00010405, encodeSnapshot(snapshot(d)) = 0104010002010406 */
TEST(snapshots_and_text_at_a_snapshot) {
    ydoc *d = new_doc(4, false);
    ytype *t = ydoc_get(d, "t", YTYPE_TEXT);
    ytxn *x = ydoc_begin(d, NULL);
    ytext_insert(x, t, 0, "hello", 5, NULL, 0);
    ytxn_commit(x);
    uint8_t *s1, *s2;
    size_t n1, n2;
    char hx[64];
    ASSERT_EQ_INT(ydoc_snapshot(d, &s1, &n1), Y_OK);
    hexs(s1, n1, hx);
    ASSERT_EQ_STR(hx, "00010405");
    x = ydoc_begin(d, NULL);
    ytext_delete(x, t, 0, 2);
    ytext_insert(x, t, 3, "!", 1, NULL, 0);
    ytxn_commit(x);
    ASSERT_EQ_INT(ydoc_snapshot(d, &s2, &n2), Y_OK);
    hexs(s2, n2, hx);
    ASSERT_EQ_STR(hx, "0104010002010406");
    char *old, *now;
    ASSERT_EQ_INT(ytext_string_at(t, s1, n1, &old, NULL), Y_OK);
    ASSERT_EQ_STR(old, "hello");
    ASSERT_EQ_INT(ytext_string_at(t, s2, n2, &now, NULL), Y_OK);
    ASSERT_EQ_STR(now, "llo!");
    yfree(old);
    yfree(now);
    ydoc *g = new_doc(8, true);
    ASSERT_EQ_INT(ytext_string_at(ydoc_get(g, "t", YTYPE_TEXT), s1, n1, &old, NULL), Y_ERR_STATE);
    yfree(s1);
    yfree(s2);
    ydoc_free(g);
    ydoc_free(d);
}

TEST(refused_updates_leave_the_document_as_it_was) {
    ydoc *d = new_doc(11, true);
    ytype *t = ydoc_get(d, "t", YTYPE_TEXT);
    ytxn *x = ydoc_begin(d, NULL);
    ytext_insert(x, t, 0, "keep", 4, NULL, 0);
    ytxn_commit(x);
    uint8_t *before;
    size_t nb;
    ydoc_encode_state_as_update(d, NULL, 0, &before, &nb);
    /* a good update from client 5 ("x" into root "t"), then damaged copies */
    uint8_t good[32];
    size_t ng = unhex("0101050004010174017800", good);
    for (size_t cut = 0; cut < ng - 1; cut++) ASSERT_EQ_INT(ydoc_apply_update(d, good, cut, NULL), Y_ERR_MALFORMED);
    uint8_t bad[32];
    size_t nbad = unhex("0101050004010174ffffffffffffffff7f7800", bad); /* string length ~2^63 */
    ASSERT_EQ_INT(ydoc_apply_update(d, bad, nbad, NULL), Y_ERR_MALFORMED);
    nbad = unhex("01010500040101740178ff00", bad); /* truncated delete set */
    ASSERT_EQ_INT(ydoc_apply_update(d, bad, nbad, NULL), Y_ERR_MALFORMED);
    nbad = unhex("01010500840503017800", bad); /* origin in its own future */
    ASSERT_EQ_INT(ydoc_apply_update(d, bad, nbad, NULL), Y_ERR_MALFORMED);
    uint8_t *after;
    size_t na;
    ydoc_encode_state_as_update(d, NULL, 0, &after, &na);
    ASSERT_EQ_MEM(after, na, before, nb);
    yfree(after);
    ASSERT_EQ_INT(ydoc_apply_update(d, good, ng, NULL), Y_OK);
    char *s;
    ytext_string(t, &s, NULL);
    ASSERT_EQ_STR(s, "xkeep"); /* client 5 < 11: "x" sorts first at position 0 */
    yfree(s);
    yfree(before);
    ydoc_free(d);
}

/* Deleting (and collecting) a type nested 200000 levels deep must not
 * recurse once per level. */
TEST(deeply_nested_types_delete_without_recursion) {
    for (int gc = 0; gc < 2; gc++) {
        ydoc *d = new_doc(12, gc);
        ytype *a = ydoc_get(d, "a", YTYPE_ARRAY), *cur = a;
        ytxn *x = ydoc_begin(d, NULL);
        for (int i = 0; i < 200000; i++) ASSERT_EQ_INT(yarray_insert_type(x, cur, 0, YTYPE_ARRAY, &cur), Y_OK);
        ytxn_commit(x);
        uint8_t *u;
        size_t n;
        ASSERT_EQ_INT(ydoc_encode_state_as_update(d, NULL, 0, &u, &n), Y_OK);
        ydoc *e = new_doc(13, gc);
        ASSERT_EQ_INT(ydoc_apply_update(e, u, n, NULL), Y_OK);
        yfree(u);
        x = ydoc_begin(d, NULL);
        ASSERT_EQ_INT(yarray_delete(x, a, 0, 1), Y_OK);
        ytxn_commit(x);
        ASSERT_EQ_INT(ydoc_encode_state_as_update(d, NULL, 0, &u, &n), Y_OK);
        ASSERT_EQ_INT(ydoc_apply_update(e, u, n, NULL), Y_OK);
        yfree(u);
        ASSERT_EQ_UINT(yarray_len(ydoc_get(e, "a", YTYPE_ARRAY)), 0);
        ydoc_free(d);
        ydoc_free(e);
    }
}

typedef struct {
    int calls;
    char keys[128];
} keys_seen;

static void on_keys(void *ud, const ychange *ch, size_t n, const void *origin) {
    keys_seen *k = ud;
    if (origin != (const void *)k) return;
    k->calls++;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < ch[i].nkeys; j++) {
            strcat(k->keys, ch[i].keys[j]);
            strcat(k->keys, ";");
        }
}

/* Map observers get the changed keys, for local edits and applied updates,
 * with the transaction's origin. */
TEST(map_observers_get_changed_keys) {
    ydoc *a = new_doc(31, true), *b = new_doc(32, true);
    keys_seen ka = {0, ""}, kb = {0, ""};
    ydoc_observe_changes(a, on_keys, &ka);
    ydoc_observe_changes(b, on_keys, &kb);
    ytype *m = ydoc_get(a, "m", YTYPE_MAP);
    ytxn *x = ydoc_begin(a, &ka);
    yany one = num(1);
    ymap_set(x, m, "k1", &one);
    ymap_set(x, m, "k2", &one);
    ymap_set(x, m, "k1", &one);
    ytxn_commit(x);
    ASSERT_EQ_INT(ka.calls, 1);
    ASSERT_EQ_STR(ka.keys, "k1;k2;");
    uint8_t *u;
    size_t n;
    ydoc_encode_state_as_update(a, NULL, 0, &u, &n);
    ASSERT_EQ_INT(ydoc_apply_update(b, u, n, &kb), Y_OK);
    yfree(u);
    ASSERT_EQ_INT(kb.calls, 1);
    ASSERT_TRUE(strstr(kb.keys, "k1;") && strstr(kb.keys, "k2;"));
    yvalue v;
    ASSERT_EQ_INT(ymap_get(ydoc_get(b, "m", YTYPE_MAP), "k2", &v), Y_OK);
    ASSERT_TRUE(v.any.kind == YANY_NUMBER && v.any.u.num == 1);
    ydoc_free(a);
    ydoc_free(b);
}

typedef struct {
    int calls;
    size_t maps;
    size_t keys[2];
    bool in_order;
    bool distinct;
} many_keys_seen;

/* Checks key i of map j is "k<j>-<i>" (in first-change order) and that no
 * key repeats. */
static void on_many_keys(void *ud, const ychange *ch, size_t n, const void *origin) {
    many_keys_seen *k = ud;
    (void)origin;
    k->calls++;
    k->maps = n;
    for (size_t i = 0; i < n && i < 2; i++) {
        k->keys[i] = ch[i].nkeys;
        const char *root = ch[i].root;
        for (size_t j = 0; j < ch[i].nkeys; j++) {
            char want[32];
            snprintf(want, sizeof(want), "k%s-%zu", root, j);
            if (strcmp(ch[i].keys[j], want) != 0) k->in_order = false;
        }
    }
    k->distinct = true;
    for (size_t i = 0; i < n && i < 2; i++)
        for (size_t j = 1; j < ch[i].nkeys; j++)
            if (strcmp(ch[i].keys[j - 1], ch[i].keys[j]) == 0) k->distinct = false;
}

/* A transaction touching thousands of keys (a vault index being loaded or
 * every file trashed at once) reports each changed key once, in the order of
 * its first change, for local edits and for the applied update alike. */
TEST(map_observers_get_thousands_of_keys_once_each) {
    enum { N = 5000 };
    ydoc *a = new_doc(41, true), *b = new_doc(42, true);
    many_keys_seen ka = {.in_order = true}, kb = {.in_order = true};
    ydoc_observe_changes(a, on_many_keys, &ka);
    ydoc_observe_changes(b, on_many_keys, &kb);
    ytype *m0 = ydoc_get(a, "0", YTYPE_MAP), *m1 = ydoc_get(a, "1", YTYPE_MAP);
    ytxn *x = ydoc_begin(a, NULL);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < N; i++) {
            char key[32];
            yany v = num((double)(i + (size_t)round));
            snprintf(key, sizeof(key), "k0-%zu", i);
            ASSERT_EQ_INT(ymap_set(x, m0, key, &v), Y_OK);
            if (i % 2 == 0) {
                snprintf(key, sizeof(key), "k1-%zu", i / 2);
                ASSERT_EQ_INT(ymap_set(x, m1, key, &v), Y_OK);
            }
        }
    ASSERT_EQ_INT(ytxn_commit(x), Y_OK);
    ASSERT_EQ_INT(ka.calls, 1);
    ASSERT_EQ_UINT(ka.maps, 2);
    ASSERT_EQ_UINT(ka.keys[0], N);
    ASSERT_EQ_UINT(ka.keys[1], N / 2);
    ASSERT_TRUE(ka.in_order);
    ASSERT_TRUE(ka.distinct);
    uint8_t *u;
    size_t n;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(a, NULL, 0, &u, &n), Y_OK);
    ASSERT_EQ_INT(ydoc_apply_update(b, u, n, NULL), Y_OK);
    yfree(u);
    ASSERT_EQ_INT(kb.calls, 1);
    ASSERT_EQ_UINT(kb.maps, 2);
    ASSERT_EQ_UINT(kb.keys[0] + kb.keys[1], N + N / 2);
    ASSERT_TRUE(kb.distinct);
    ASSERT_EQ_UINT(ymap_len(ydoc_get(b, "0", YTYPE_MAP)), N);
    yvalue v;
    ASSERT_EQ_INT(ymap_get(ydoc_get(b, "1", YTYPE_MAP), "k1-2499", &v), Y_OK);
    ASSERT_TRUE(v.any.kind == YANY_NUMBER && v.any.u.num == 4998 + 2);
    ydoc_free(a);
    ydoc_free(b);
}

/* Yjs: d.clientID = 9; m.set('a', 1); m.set('a\u0000b', 2); m.set('a', 3):
 * a key holding a NUL byte is a key of its own and re-encodes whole. */
TEST(map_keys_with_nul_bytes_stay_distinct) {
    static const char yjs[] = "010309002101016d0161012801016d03610062017d02a80900017d030109010001";
    uint8_t u[64];
    size_t n = unhex(yjs, u);
    ydoc *d = new_doc(5, true);
    ASSERT_EQ_INT(ydoc_apply_update(d, u, n, NULL), Y_OK);
    ytype *m = ydoc_get(d, "m", YTYPE_MAP);
    ASSERT_EQ_UINT(ymap_len(m), 2);
    yvalue v;
    ASSERT_EQ_INT(ymap_get(m, "a", &v), Y_OK);
    ASSERT_TRUE(v.any.kind == YANY_NUMBER && v.any.u.num == 3);
    CHECK_HELPER(state_is(d, yjs));
    ydoc_free(d);
}

TEST(nothing_leaks) {
    size_t cur;
    yalloc_stats(&cur, NULL);
    ASSERT_EQ_UINT(cur, 0);
}
