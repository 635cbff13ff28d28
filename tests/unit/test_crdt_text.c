/*
 * test_crdt_text.c - Y.Text through the public API: every transaction's
 * update is byte-equal to the one Yjs 13.6 emits for the same operations
 * and client ids; UTF-16 positions; surrogate pairs never split; the
 * DESIGN.md merge example; observer deltas.
 *
 * Expected bytes come from the real Yjs (node_modules/yjs/src), printed by
 * /tmp-style snippets quoted above each test, e.g.
 *   const d = new Y.Doc(); d.clientID = 1; d.on('update', u => log(hex(u)))
 */
#include "crdt.h"
#include "test.h"

typedef struct {
    char hex[64][512];
    int n;
} updates;

static void on_update(void *ud, const uint8_t *u, size_t len, const void *origin) {
    (void)origin;
    updates *ups = ud;
    if (ups->n >= 64) return;
    char *o = ups->hex[ups->n++];
    for (size_t i = 0; i < len && i < 255; i++) sprintf(o + 2 * i, "%02x", u[i]);
}

static ydoc *new_doc(uint32_t id, bool gc) {
    ydoc_options o = {true, id, gc};
    return ydoc_new(&o);
}

static char *text_of(ytype *t) {
    char *s = NULL;
    if (ytext_string(t, &s, NULL) != Y_OK) return NULL;
    return s;
}

/* Yjs: d.clientID = 1; t = d.getText('t'); t.insert(0, 'Hello world');
 * t.insert(6, 'beautiful '); t.delete(0, 1); t.insert(0, 'J') */
TEST(plain_edits_emit_yjs_bytes) {
    ydoc *d = new_doc(1, true);
    updates ups = {.n = 0};
    ydoc_observe_updates(d, on_update, &ups);
    ytype *t = ydoc_get(d, "t", YTYPE_TEXT);
    ytxn *x = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(ytext_insert(x, t, 0, "Hello world", 11, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytxn_commit(x), Y_OK);
    x = ydoc_begin(d, NULL);
    ytext_insert(x, t, 6, "beautiful ", 10, NULL, 0);
    ytxn_commit(x);
    x = ydoc_begin(d, NULL);
    ytext_delete(x, t, 0, 1);
    ytxn_commit(x);
    x = ydoc_begin(d, NULL);
    ytext_insert(x, t, 0, "J", 1, NULL, 0);
    ytxn_commit(x);
    ASSERT_EQ_INT(ups.n, 4);
    ASSERT_EQ_STR(ups.hex[0], "01010100040101740b48656c6c6f20776f726c6400");
    ASSERT_EQ_STR(ups.hex[1], "0101010bc4010501060a62656175746966756c2000");
    ASSERT_EQ_STR(ups.hex[2], "000101010001");
    ASSERT_EQ_STR(ups.hex[3], "01010115c401000101014a00");
    uint8_t *u;
    size_t n;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(d, NULL, 0, &u, &n), Y_OK);
    static const char want[] = "01050100010101740184010005656c6c6f2084010505776f726c64c4010501060a62656175746966"
                               "756c20c401000101014a0101010001";
    char got[512] = "";
    for (size_t i = 0; i < n; i++) sprintf(got + 2 * i, "%02x", u[i]);
    ASSERT_EQ_STR(got, want);
    yfree(u);
    ASSERT_EQ_INT(ydoc_encode_state_vector(d, &u, &n), Y_OK);
    ASSERT_EQ_UINT(n, 3); /* 010116: client 1 at clock 22 */
    ASSERT_EQ_UINT(u[2], 0x16);
    yfree(u);
    char *s = text_of(t);
    ASSERT_EQ_STR(s, "Jello beautiful world");
    yfree(s);
    ydoc_free(d);
}

/* Yjs: d.clientID = 7; t.insert(0, 'abc'); t.insert(1, 'XY', { bold: true });
 * t.format(0, 2, { italic: true }); t.insert(5, '😀'); t.delete(2, 2) */
TEST(formatting_emits_yjs_format_items) {
    ydoc *d = new_doc(7, true);
    updates ups = {.n = 0};
    ydoc_observe_updates(d, on_update, &ups);
    ytype *t = ydoc_get(d, "t", YTYPE_TEXT);
    yany_entry bold = {"bold", {.kind = YANY_BOOL, .u.b = true}};
    yany_entry italic = {"italic", {.kind = YANY_BOOL, .u.b = true}};
    ytxn *x = ydoc_begin(d, NULL);
    ytext_insert(x, t, 0, "abc", 3, NULL, 0);
    ytxn_commit(x);
    x = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(ytext_insert(x, t, 1, "XY", 2, &bold, 1), Y_OK);
    ytxn_commit(x);
    x = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(ytext_format(x, t, 0, 2, &italic, 1), Y_OK);
    ytxn_commit(x);
    x = ydoc_begin(d, NULL);
    ytext_insert(x, t, 5, "\xf0\x9f\x98\x80", 4, NULL, 0);
    ytxn_commit(x);
    x = ydoc_begin(d, NULL);
    ytext_delete(x, t, 2, 2);
    ytxn_commit(x);
    ASSERT_EQ_INT(ups.n, 5);
    ASSERT_EQ_STR(ups.hex[0], "01010700040101740361626300");
    ASSERT_EQ_STR(ups.hex[1], "01030703c60700070104626f6c640474727565c407030701025859c60705070104626f6c64046e756c6c00");
    ASSERT_EQ_STR(ups.hex[2], "01020707460700066974616c69630474727565c607040705066974616c6963046e756c6c00");
    ASSERT_EQ_STR(ups.hex[3], "0101070984070204f09f988000");
    ASSERT_EQ_STR(ups.hex[4], "0001070201010501");
    char *s = text_of(t);
    ASSERT_EQ_STR(s, "aXc\xf0\x9f\x98\x80");
    yfree(s);
    ydoc_free(d);
}

/* DESIGN.md: "Hello world"; A inserts "beautiful " at 6, B replaces "world"
 * with "universe"; both read "Hello beautiful universe". Yjs (A id 1, B id
 * 2) ends with the state below on both sides. */
TEST(design_merge_example) {
    ydoc *a = new_doc(1, true), *b = new_doc(2, true);
    ytype *ta = ydoc_get(a, "content", YTYPE_TEXT), *tb = ydoc_get(b, "content", YTYPE_TEXT);
    ytxn *x = ydoc_begin(a, NULL);
    ytext_insert(x, ta, 0, "Hello world", 11, NULL, 0);
    ytxn_commit(x);
    uint8_t *u;
    size_t n;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(a, NULL, 0, &u, &n), Y_OK);
    ASSERT_EQ_INT(ydoc_apply_update(b, u, n, NULL), Y_OK);
    yfree(u);
    x = ydoc_begin(a, NULL);
    ytext_insert(x, ta, 6, "beautiful ", 10, NULL, 0);
    ytxn_commit(x);
    x = ydoc_begin(b, NULL);
    ytext_delete(x, tb, 6, 5);
    ytext_insert(x, tb, 6, "universe", 8, NULL, 0);
    ytxn_commit(x);
    uint8_t *ua, *ub;
    size_t na, nb;
    ydoc_encode_state_as_update(a, NULL, 0, &ua, &na);
    ydoc_encode_state_as_update(b, NULL, 0, &ub, &nb);
    ASSERT_EQ_INT(ydoc_apply_update(a, ub, nb, NULL), Y_OK);
    ASSERT_EQ_INT(ydoc_apply_update(b, ua, na, NULL), Y_OK);
    yfree(ua);
    yfree(ub);
    char *sa = text_of(ta), *sb = text_of(tb);
    ASSERT_EQ_STR(sa, "Hello beautiful universe");
    ASSERT_EQ_STR(sb, "Hello beautiful universe");
    yfree(sa);
    yfree(sb);
    static const char want[] = "0201020084010a08756e697665727365030100040107636f6e74656e740648656c6c6f20810105"
                               "05c4010501060a62656175746966756c200101010605";
    for (int side = 0; side < 2; side++) {
        ydoc_encode_state_as_update(side ? b : a, NULL, 0, &u, &n);
        char got[512] = "";
        for (size_t i = 0; i < n; i++) sprintf(got + 2 * i, "%02x", u[i]);
        ASSERT_EQ_STR(got, want);
        yfree(u);
    }
    ydoc_free(a);
    ydoc_free(b);
}

TEST(positions_are_utf16_and_pairs_never_split) {
    ydoc *d = new_doc(3, true);
    ytype *t = ydoc_get(d, "t", YTYPE_TEXT);
    ytxn *x = ydoc_begin(d, NULL);
    /* "a😀é": a=1 unit, 😀=2 units, é=1 unit */
    ASSERT_EQ_INT(ytext_insert(x, t, 0, "a\xf0\x9f\x98\x80\xc3\xa9", 7, NULL, 0), Y_OK);
    ASSERT_EQ_UINT(ytext_len(t), 4);
    ASSERT_EQ_INT(ytext_insert(x, t, 2, "x", 1, NULL, 0), Y_ERR_RANGE);
    ASSERT_EQ_INT(ytext_delete(x, t, 0, 2), Y_ERR_RANGE);
    ASSERT_EQ_INT(ytext_delete(x, t, 2, 1), Y_ERR_RANGE);
    ASSERT_EQ_INT(ytext_insert(x, t, 5, "x", 1, NULL, 0), Y_ERR_RANGE);
    ASSERT_EQ_INT(ytext_insert(x, t, 0, "\xff", 1, NULL, 0), Y_ERR_INVALID);
    ASSERT_EQ_INT(ytext_delete(x, t, 1, 2), Y_OK);
    ytxn_commit(x);
    char *s = text_of(t);
    ASSERT_EQ_STR(s, "a\xc3\xa9");
    yfree(s);
    size_t idx, off;
    ASSERT_EQ_INT(ytext_utf8_to_index(t, 1, &idx), Y_OK);
    ASSERT_EQ_UINT(idx, 1);
    ASSERT_EQ_INT(ytext_utf8_to_index(t, 2, &idx), Y_ERR_RANGE); /* inside é */
    ASSERT_EQ_INT(ytext_index_to_utf8(t, 2, &off), Y_OK);
    ASSERT_EQ_UINT(off, 3);
    ydoc_free(d);
}

typedef struct {
    int calls;
    char inserted[64];
    size_t deleted, retained;
} delta_seen;

static void on_change(void *ud, const ychange *ch, size_t n, const void *origin) {
    (void)origin;
    delta_seen *s = ud;
    s->calls++;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < ch[i].ndelta; k++) {
            const ydelta *d = &ch[i].delta[k];
            if (d->op == YDELTA_INSERT && d->text) strncat(s->inserted, d->text, d->len_utf8);
            if (d->op == YDELTA_DELETE) s->deleted += d->len;
            if (d->op == YDELTA_RETAIN) s->retained += d->len;
        }
}

TEST(observers_get_the_text_delta) {
    ydoc *d = new_doc(4, true);
    ytype *t = ydoc_get(d, "t", YTYPE_TEXT);
    ytxn *x = ydoc_begin(d, NULL);
    ytext_insert(x, t, 0, "hello", 5, NULL, 0);
    ytxn_commit(x);
    delta_seen seen = {0, "", 0, 0};
    int id = ydoc_observe_changes(d, on_change, &seen);
    ASSERT_TRUE(id > 0);
    x = ydoc_begin(d, NULL);
    ytext_delete(x, t, 1, 2);
    ytext_insert(x, t, 1, "EY", 2, NULL, 0);
    ytxn_commit(x);
    ASSERT_EQ_INT(seen.calls, 1);
    ASSERT_EQ_STR(seen.inserted, "EY");
    ASSERT_EQ_UINT(seen.deleted, 2);
    ASSERT_EQ_UINT(seen.retained, 1);
    ydoc_unobserve(d, id);
    x = ydoc_begin(d, NULL);
    ytext_insert(x, t, 0, "z", 1, NULL, 0);
    ytxn_commit(x);
    ASSERT_EQ_INT(seen.calls, 1);
    ydoc_free(d);
}

static char *state_hex(ydoc *d);

/* Each transaction's delta as text: "r2 i:cXde d3" (retain, insert, delete). */
typedef struct {
    char d[8][128];
    int n;
} delta_log;

static void on_change_log(void *ud, const ychange *ch, size_t n, const void *origin) {
    (void)origin;
    delta_log *l = ud;
    if (l->n >= 8) return;
    char *o = l->d[l->n++];
    o[0] = '\0';
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < ch[i].ndelta; k++) {
            const ydelta *d = &ch[i].delta[k];
            size_t at = strlen(o);
            if (d->op == YDELTA_INSERT)
                snprintf(o + at, 128 - at, "%si:%.*s", at ? " " : "", (int)d->len_utf8, d->text);
            else
                snprintf(o + at, 128 - at, "%s%c%zu", at ? " " : "", d->op == YDELTA_RETAIN ? 'r' : 'd', d->len);
        }
}

/* Typing after the client's own newest text appends to that item at once
 * (the merge Yjs does when the transaction ends), also when the same
 * transaction then inserts inside the new text or deletes across the old
 * and new parts: the updates and deltas are still Yjs's.
 *   d.clientID = 7; t = d.getText('t'); t.observe(e => log(e.delta))
 *   transact: t.insert(0, 'ab')
 *   transact: t.insert(2, 'c'); t.insert(3, 'd'); t.insert(3, 'X'); t.insert(5, 'e')
 *   transact: t.insert(6, 'f'); t.delete(1, 3)
 *   transact: t.insert(3, 'g'); t.insert(4, 'h'); t.delete(0, 5) */
TEST(typing_after_own_text_emits_yjs_updates_and_deltas) {
    ydoc *d = new_doc(7, true);
    updates ups = {.n = 0};
    delta_log log = {.n = 0};
    ydoc_observe_updates(d, on_update, &ups);
    ydoc_observe_changes(d, on_change_log, &log);
    ytype *t = ydoc_get(d, "t", YTYPE_TEXT);
    ytxn *x = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(ytext_insert(x, t, 0, "ab", 2, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytxn_commit(x), Y_OK);
    x = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(ytext_insert(x, t, 2, "c", 1, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytext_insert(x, t, 3, "d", 1, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytext_insert(x, t, 3, "X", 1, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytext_insert(x, t, 5, "e", 1, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytxn_commit(x), Y_OK);
    x = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(ytext_insert(x, t, 6, "f", 1, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytext_delete(x, t, 1, 3), Y_OK);
    ASSERT_EQ_INT(ytxn_commit(x), Y_OK);
    x = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(ytext_insert(x, t, 3, "g", 1, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytext_insert(x, t, 4, "h", 1, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytext_delete(x, t, 0, 5), Y_OK);
    ASSERT_EQ_INT(ytxn_commit(x), Y_OK);
    ASSERT_EQ_INT(ups.n, 4);
    ASSERT_EQ_STR(ups.hex[0], "010107000401017402616200");
    ASSERT_EQ_STR(ups.hex[1], "0104070284070101638407020164c4070207030158840703016500");
    ASSERT_EQ_STR(ups.hex[2], "01010706840705016601070201020401");
    ASSERT_EQ_STR(ups.hex[3], "01010707c107050706020107040001030105010702");
    ASSERT_EQ_INT(log.n, 4);
    ASSERT_EQ_STR(log.d[0], "i:ab");
    ASSERT_EQ_STR(log.d[1], "r2 i:cXde");
    ASSERT_EQ_STR(log.d[2], "r1 d3 r2 i:f");
    ASSERT_EQ_STR(log.d[3], "d3");
    char *s = text_of(t);
    ASSERT_EQ_STR(s, "f");
    yfree(s);
    char *h = state_hex(d);
    ASSERT_EQ_STR(h, "01060700010101740381070201c10702070301810703018407050166c1070507060201070200060702");
    free(h);
    ydoc_free(d);
}

TEST(one_transaction_at_a_time_and_empty_commit_is_silent) {
    ydoc *d = new_doc(5, true);
    updates ups = {.n = 0};
    ydoc_observe_updates(d, on_update, &ups);
    ytxn *x = ydoc_begin(d, NULL);
    ASSERT_TRUE(x != NULL);
    ASSERT_TRUE(ydoc_begin(d, NULL) == NULL);
    ASSERT_EQ_INT(ytxn_commit(x), Y_OK);
    ASSERT_EQ_INT(ups.n, 0);
    ASSERT_TRUE(ydoc_get(d, "t", YTYPE_TEXT) != NULL);
    ASSERT_TRUE(ydoc_get(d, "t", YTYPE_MAP) == NULL);
    ydoc_free(d);
}

static char *state_hex(ydoc *d) {
    uint8_t *u;
    size_t n;
    if (ydoc_encode_state_as_update(d, NULL, 0, &u, &n) != Y_OK) return NULL;
    char *h = malloc(2 * n + 1);
    h[0] = '\0';
    for (size_t i = 0; i < n; i++) sprintf(h + 2 * i, "%02x", u[i]);
    yfree(u);
    return h;
}

/* The k-th allocation of an edit fails, for every k until the edit goes
 * through: Y_ERR_NOMEM with the document as it was, or the whole edit. */
TEST(out_of_memory_in_an_edit_is_all_or_nothing) {
    yany_entry bold = {"bold", {.kind = YANY_BOOL, .u.b = true}};
    for (int op = 0; op < 3; op++) {
        for (size_t k = 1; k < 1000; k++) {
            ydoc *d = new_doc(21, true);
            ytype *t = ydoc_get(d, "t", YTYPE_TEXT);
            ytxn *x = ydoc_begin(d, NULL);
            ytext_insert(x, t, 0, "hello world", 11, NULL, 0);
            ytext_format(x, t, 0, 5, &bold, 1);
            ytxn_commit(x);
            char *before = state_hex(d);
            x = ydoc_begin(d, NULL);
            yalloc_fail_after(k);
            int rc = op == 0   ? ytext_insert(x, t, 3, "XY", 2, &bold, 1)
                     : op == 1 ? ytext_delete(x, t, 2, 6)
                               : ytext_format(x, t, 4, 4, &bold, 1);
            yalloc_fail_after(0);
            ytxn_commit(x);
            char *after = state_hex(d);
            ASSERT_TRUE(rc == Y_OK || rc == Y_ERR_NOMEM);
            if (rc != Y_OK) ASSERT_EQ_STR(after, before);
            free(before);
            free(after);
            ydoc_free(d);
            if (rc == Y_OK) break;
        }
    }
}
