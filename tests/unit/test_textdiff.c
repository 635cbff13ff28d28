/*
 * test_textdiff.c - unit tests of src/util/textdiff (text diff into CRDT ops).
 *
 * Every diff checked here is also applied back (apply(old, diff(old, new))
 * must give new) and checked against the op invariants the header promises:
 * sorted and disjoint ops, no empty op, ins_units matching ins, positions in
 * UTF-16 units that never split a pair. Small random cases are also checked
 * for minimality against a quadratic LCS computed here.
 */
#include "test.h"

#include "crdt/crdt.h"
#include "util/textdiff.h"

#include <stdbool.h>

#define GRIN   "\xF0\x9F\x98\x80" /* U+1F600, 2 UTF-16 units */
#define SMILE  "\xF0\x9F\x98\x83" /* U+1F603: same first three bytes as GRIN */
#define SCREAM "\xF0\x9F\x99\x80" /* U+1F640: same last byte as GRIN */
#define THUMBS "\xF0\x9F\x91\x8D" /* U+1F44D */

/* ---- helpers ------------------------------------------------------------ */

/* xorshift64*: a fixed seed makes every random test reproducible. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed) { rng_state = seed ? seed : 0x9E3779B97F4A7C15ull; }

static uint64_t rng_next(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static size_t rng_below(size_t n) { return n ? (size_t)(rng_next() % n) : 0; }

/* Length of the UTF-8 sequence that starts with lead byte c. */
static size_t seq_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

/* Decodes valid UTF-8 (the tests only decode what the module accepted). */
static size_t decode(const char *s, size_t len, uint32_t *out) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c = p[i];
        size_t k = seq_len((unsigned char)c);
        if (k > 1) c &= 0x3F >> (k - 1);
        for (size_t j = 1; j < k; j++) c = (c << 6) | (p[i + j] & 0x3F);
        out[n++] = c;
        i += k;
    }
    return n;
}

static size_t utf16_units(const char *s, size_t len) {
    size_t u = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) != 0x80) u += c >= 0xF0 ? 2 : 1;
    }
    return u;
}

/* Byte offset of UTF-16 position pos in valid UTF-8 s (pos must be on a
 * code point boundary and within the text). */
static size_t utf16_to_byte(const char *s, size_t len, size_t pos) {
    size_t i = 0, u = 0;
    while (i < len && u < pos) {
        size_t k = seq_len((unsigned char)s[i]);
        u += k == 4 ? 2 : 1;
        i += k;
    }
    return i;
}

static size_t count_cps(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

/* Length of the longest common subsequence of two code point arrays (one
 * row of the classic quadratic table; the tests keep these small). */
static size_t lcs_len(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
    size_t *row = calloc(nb + 1, sizeof(*row));
    if (row == NULL) abort();
    for (size_t i = 1; i <= na; i++) {
        size_t diag = 0; /* row[j-1] of the previous i */
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            row[j] = a[i - 1] == b[j - 1] ? diag + 1 : (row[j - 1] > up ? row[j - 1] : up);
            diag = up;
        }
    }
    size_t r = row[nb];
    free(row);
    return r;
}

/*
 * Diffs old -> new, checks the op invariants and that applying the ops gives
 * new. Stores the number of code points the ops delete plus insert in *edits
 * (found by applying the ops one at a time), and whether the result was
 * minimal in *minimal. Either out-pointer may be NULL.
 */
static void check_diff(const char *old, size_t old_len, const char *new_text, size_t new_len,
                       size_t max_cost, size_t *edits, bool *minimal) {
    textdiff d;
    ASSERT_EQ_INT(textdiff_compute(old, old_len, new_text, new_len, max_cost, &d), TEXTDIFF_OK);
    if (minimal) *minimal = d.minimal;
    if (old_len == new_len && memcmp(old, new_text, old_len) == 0) ASSERT_EQ_UINT(d.nops, 0);
    for (size_t k = 0; k < d.nops; k++) {
        const textdiff_op *op = &d.ops[k];
        ASSERT_TRUE(op->del > 0 || op->ins_len > 0);
        ASSERT_TRUE(op->ins != NULL);
        ASSERT_EQ_INT(op->ins[op->ins_len], '\0');
        ASSERT_EQ_UINT(op->ins_units, utf16_units(op->ins, op->ins_len));
        if (k > 0) ASSERT_TRUE(op->pos > d.ops[k - 1].pos + d.ops[k - 1].ins_units);
    }

    char *got = NULL;
    size_t got_len = 0;
    int rc = textdiff_apply(old, old_len, d.ops, d.nops, &got, &got_len);
    if (rc != TEXTDIFF_OK) textdiff_release(&d);
    ASSERT_EQ_INT(rc, TEXTDIFF_OK);
    ASSERT_EQ_INT(got[got_len], '\0');
    bool same = got_len == new_len && memcmp(got, new_text, new_len) == 0;
    if (!same) {
        fprintf(stderr, "  apply(old, diff(old, new)) != new\n");
        test_print_hex("old", old, old_len);
        test_print_hex("new", new_text, new_len);
        test_print_hex("got", got, got_len);
    }
    free(got);
    if (!same) textdiff_release(&d);
    ASSERT_TRUE(same);

    /* Count the code points each op deletes, on the text as the previous ops left it. */
    size_t n = 0;
    char *cur = malloc(old_len + 1);
    size_t cur_len = old_len;
    if (cur == NULL) abort();
    if (old_len) memcpy(cur, old, old_len);
    for (size_t k = 0; k < d.nops && rc == TEXTDIFF_OK; k++) {
        size_t from = utf16_to_byte(cur, cur_len, d.ops[k].pos);
        size_t to = utf16_to_byte(cur, cur_len, d.ops[k].pos + d.ops[k].del);
        n += count_cps(cur + from, to - from) + count_cps(d.ops[k].ins, d.ops[k].ins_len);
        char *next = NULL;
        rc = textdiff_apply(cur, cur_len, &d.ops[k], 1, &next, &cur_len);
        free(cur);
        cur = next;
    }
    free(cur);
    textdiff_release(&d);
    ASSERT_EQ_INT(rc, TEXTDIFF_OK);
    if (edits) *edits = n;
}

/* check_diff, plus: the edit is minimal (deleted + inserted code points equal
 * N + M - 2 * LCS). */
static void check_minimal(const char *old, size_t old_len, const char *new_text, size_t new_len) {
    size_t edits = 0;
    bool minimal = false;
    CHECK_HELPER(check_diff(old, old_len, new_text, new_len, 0, &edits, &minimal));
    ASSERT_TRUE(minimal);
    uint32_t *a = malloc((old_len + 1) * sizeof(*a)), *b = malloc((new_len + 1) * sizeof(*b));
    if (a == NULL || b == NULL) abort();
    size_t na = decode(old, old_len, a), nb = decode(new_text, new_len, b);
    size_t best = na + nb - 2 * lcs_len(a, na, b, nb);
    free(a);
    free(b);
    ASSERT_EQ_UINT(edits, best);
}

#define S(lit) (lit), (sizeof(lit) - 1) /* a string literal and its length in bytes */

/* Diffs two literals and expects exactly the given ops. */
static void expect_ops(const char *old, size_t old_len, const char *new_text, size_t new_len,
                       const textdiff_op *want, size_t nwant) {
    CHECK_HELPER(check_minimal(old, old_len, new_text, new_len));
    textdiff d;
    ASSERT_EQ_INT(textdiff_compute(old, old_len, new_text, new_len, 0, &d), TEXTDIFF_OK);
    size_t nops = d.nops;
    bool same = nops == nwant;
    for (size_t k = 0; same && k < nops; k++) {
        same = d.ops[k].pos == want[k].pos && d.ops[k].del == want[k].del &&
               d.ops[k].ins_len == strlen(want[k].ins) &&
               memcmp(d.ops[k].ins, want[k].ins, d.ops[k].ins_len) == 0 &&
               d.ops[k].ins_units == utf16_units(want[k].ins, strlen(want[k].ins));
    }
    if (!same) {
        fprintf(stderr, "  got %zu ops:\n", nops);
        for (size_t k = 0; k < nops; k++)
            fprintf(stderr, "    {%zu, %zu, \"%s\"}\n", d.ops[k].pos, d.ops[k].del, d.ops[k].ins);
    }
    textdiff_release(&d);
    ASSERT_TRUE(same);
}

#define OP(p, d, s) \
    { (p), (d), (s), 0, 0 }
#define EXPECT(old, new_text, ...)                                                              \
    do {                                                                                        \
        static const textdiff_op want_[] = {__VA_ARGS__};                                       \
        CHECK_HELPER(expect_ops(S(old), S(new_text), want_, sizeof(want_) / sizeof(want_[0]))); \
    } while (0)

/* ---- fixed cases ------------------------------------------------------- */

TEST(design_example_each_side_is_the_minimal_edit) {
    /* Device A inserts "beautiful "; device B replaces "world" with "universe". */
    EXPECT("Hello world", "Hello beautiful world", OP(6, 0, "beautiful "));
    /* "world" and "universe" share only the "r": keep it, replace around it. */
    EXPECT("Hello world", "Hello universe", OP(6, 2, "unive"), OP(12, 2, "se"));
    /* The merged result, diffed against either side, is again one insert or one edit pair. */
    EXPECT("Hello beautiful world", "Hello beautiful universe", OP(16, 2, "unive"),
           OP(22, 2, "se"));
    EXPECT("Hello universe", "Hello beautiful universe", OP(6, 0, "beautiful "));
}

/* Applies the diff old -> new to the Y.Text "content" of doc, each op as
 * ytext_delete() then ytext_insert() at op.pos, in one transaction. */
static void crdt_edit(ydoc *doc, const char *old, const char *new_text) {
    textdiff d;
    ASSERT_EQ_INT(textdiff_compute(old, strlen(old), new_text, strlen(new_text), 0, &d),
                  TEXTDIFF_OK);
    ytxn *txn = ydoc_begin(doc, NULL);
    ytype *text = ydoc_get(doc, "content", YTYPE_TEXT);
    int rc = txn != NULL && text != NULL ? Y_OK : Y_ERR_INVALID;
    for (size_t k = 0; k < d.nops && rc == Y_OK; k++) {
        if (d.ops[k].del > 0) rc = ytext_delete(txn, text, d.ops[k].pos, d.ops[k].del);
        if (rc == Y_OK && d.ops[k].ins_len > 0)
            rc = ytext_insert(txn, text, d.ops[k].pos, d.ops[k].ins, d.ops[k].ins_len, NULL, 0);
    }
    if (txn != NULL && ytxn_commit(txn) != Y_OK && rc == Y_OK) rc = Y_ERR_NOMEM;
    textdiff_release(&d);
    ASSERT_EQ_INT(rc, Y_OK);
}

/* Copies all of src's state into dst. */
static void crdt_sync(ydoc *dst, ydoc *src) {
    uint8_t *update = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(src, NULL, 0, &update, &len), Y_OK);
    int rc = ydoc_apply_update(dst, update, len, NULL);
    yfree(update);
    ASSERT_EQ_INT(rc, Y_OK);
}

static void expect_crdt_text(ydoc *doc, const char *want) {
    char *got = NULL;
    ASSERT_EQ_INT(ytext_string(ydoc_get(doc, "content", YTYPE_TEXT), &got, NULL), Y_OK);
    bool same = strcmp(got, want) == 0;
    if (!same) fprintf(stderr, "  got \"%s\", expected \"%s\"\n", got, want);
    yfree(got);
    ASSERT_TRUE(same);
}

/* Device A inserts "beautiful ", device B replaces "world" with "universe",
 * both through diffs; then they sync both ways. */
static void design_merge(uint32_t id_a, uint32_t id_b) {
    ydoc_options oo = {true, 1, true}, oa = {true, id_a, true}, ob = {true, id_b, true};
    ydoc *origin = ydoc_new(&oo), *a = ydoc_new(&oa), *b = ydoc_new(&ob);
    bool made = origin != NULL && a != NULL && b != NULL;
    /* Each step runs only if every step before it passed; the documents are
     * freed either way. */
    if (made) crdt_edit(origin, "", "Hello world");
    if (made && !test_failed_current) crdt_sync(a, origin);
    if (made && !test_failed_current) crdt_sync(b, origin);
    if (made && !test_failed_current) crdt_edit(a, "Hello world", "Hello beautiful world");
    if (made && !test_failed_current) crdt_edit(b, "Hello world", "Hello universe");
    if (made && !test_failed_current) crdt_sync(a, b);
    if (made && !test_failed_current) crdt_sync(b, a);
    if (made && !test_failed_current) expect_crdt_text(a, "Hello beautiful universe");
    if (made && !test_failed_current) expect_crdt_text(b, "Hello beautiful universe");
    ydoc_free(origin);
    ydoc_free(a);
    ydoc_free(b);
    ASSERT_TRUE(made);
}

/* The reason ops are "delete, then insert": applied that way through the CRDT
 * engine, the two concurrent edits of DESIGN.md merge to the same text
 * whichever device has the smaller client id. (Inserting before deleting
 * gives "Hello univebeautiful rse" for half of the id orders.) */
TEST(design_example_merges_through_the_crdt) {
    static const uint32_t ids[][2] = {{2, 3}, {3, 2}, {5, 100}, {100, 5}, {12, 77777}, {77777, 12}};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        design_merge(ids[i][0], ids[i][1]);
        if (test_failed_current) {
            fprintf(stderr, "  client ids %u and %u\n", ids[i][0], ids[i][1]);
            return;
        }
    }
}

TEST(empty_and_identical_texts_give_no_ops) {
    textdiff d;
    ASSERT_EQ_INT(textdiff_compute(NULL, 0, NULL, 0, 0, &d), TEXTDIFF_OK);
    ASSERT_EQ_UINT(d.nops, 0);
    ASSERT_TRUE(d.ops == NULL);
    ASSERT_TRUE(d.minimal);
    textdiff_release(&d);
    ASSERT_EQ_INT(textdiff_compute("", 0, "", 0, 0, &d), TEXTDIFF_OK);
    ASSERT_EQ_UINT(d.nops, 0);
    textdiff_release(&d);
    static const char same[] = "same text, h\xC3\xA9, " GRIN " and all";
    ASSERT_EQ_INT(textdiff_compute(S(same), S(same), 0, &d), TEXTDIFF_OK);
    ASSERT_EQ_UINT(d.nops, 0);
    textdiff_release(&d);
    textdiff_release(&d); /* releasing twice, or an empty result, is harmless */
    textdiff_release(NULL);
}

TEST(from_and_to_empty) {
    EXPECT("", "abc", OP(0, 0, "abc"));
    EXPECT("abc", "", OP(0, 3, ""));
    EXPECT("", GRIN, OP(0, 0, GRIN));
    EXPECT(GRIN "a", "", OP(0, 3, ""));
}

TEST(single_edits_at_start_middle_end) {
    EXPECT("abc", "xabc", OP(0, 0, "x"));
    EXPECT("abc", "abxc", OP(2, 0, "x"));
    EXPECT("abc", "abcx", OP(3, 0, "x"));
    EXPECT("abc", "bc", OP(0, 1, ""));
    EXPECT("abc", "ac", OP(1, 1, ""));
    EXPECT("abc", "ab", OP(2, 1, ""));
    EXPECT("abc", "axc", OP(1, 1, "x")); /* adjacent delete + insert: one op */
    EXPECT("abc", "xyz", OP(0, 3, "xyz"));
}

TEST(repeated_characters_where_prefix_and_suffix_overlap) {
    EXPECT("aaa", "aaaa", OP(3, 0, "a"));
    EXPECT("aaaa", "aaa", OP(3, 1, ""));
    EXPECT("a", "aaaaa", OP(1, 0, "aaaa"));
    EXPECT("abab", "ab", OP(2, 2, ""));
    EXPECT("abcabc", "abc", OP(3, 3, ""));
    EXPECT("xaaay", "xaay", OP(3, 1, ""));
    CHECK_HELPER(check_minimal(S("abababab"), S("babababa")));
    CHECK_HELPER(check_minimal(S("aabbaabb"), S("bbaabbaa")));
}

TEST(multibyte_characters_count_one_unit_each) {
    /* e-acute is 2 bytes, the euro sign 3, CJK 3: each is 1 UTF-16 unit. */
    EXPECT("caf\xC3\xA9", "cafe", OP(3, 1, "e"));
    EXPECT("cafe", "caf\xC3\xA9!", OP(3, 1, "\xC3\xA9!"));
    EXPECT("10 \xE2\x82\xAC", "10 \xE2\x82\xAC and 5 \xE2\x82\xAC",
           OP(4, 0, " and 5 \xE2\x82\xAC"));
    EXPECT("\xE6\x97\xA5\xE6\x9C\xAC", "\xE6\x97\xA5\xE8\xAA\x9E\xE6\x9C\xAC",
           OP(1, 0, "\xE8\xAA\x9E"));
    /* U+00E9 and U+00E8 share their first byte: the op still holds whole characters. */
    EXPECT("\xC3\xA9", "\xC3\xA8", OP(0, 1, "\xC3\xA8"));
    /* U+20AC and U+20AD share two bytes. */
    EXPECT("x\xE2\x82\xACy", "x\xE2\x82\xADy", OP(1, 1, "\xE2\x82\xAD"));
}

TEST(astral_characters_count_two_units_and_are_never_split) {
    EXPECT("x" GRIN "y", "x" GRIN SMILE "y", OP(3, 0, SMILE));
    EXPECT(GRIN, SMILE, OP(0, 2, SMILE));
    EXPECT(GRIN, SCREAM, OP(0, 2, SCREAM));
    EXPECT(GRIN GRIN GRIN, GRIN GRIN, OP(4, 2, ""));
    EXPECT("a" GRIN "b" GRIN "c", "a" GRIN "B" GRIN "c", OP(3, 1, "B"));
    /* After an emoji, positions are shifted by two units. */
    EXPECT(GRIN " hi", GRIN " hello", OP(4, 1, "ello"));
    EXPECT("hi " GRIN " there", "hi " GRIN GRIN " there", OP(5, 0, GRIN));
}

TEST(nul_bytes_are_ordinary_characters) {
    textdiff d;
    ASSERT_EQ_INT(textdiff_compute(S("a\0b"), S("a\0\0b"), 0, &d), TEXTDIFF_OK);
    size_t nops = d.nops, pos = nops ? d.ops[0].pos : 0, ins_len = nops ? d.ops[0].ins_len : 0;
    char ins0 = nops ? d.ops[0].ins[0] : 'x';
    textdiff_release(&d);
    ASSERT_EQ_UINT(nops, 1);
    ASSERT_EQ_UINT(pos, 2);
    ASSERT_EQ_UINT(ins_len, 1); /* the insert is one NUL: use ins_len, not strlen */
    ASSERT_EQ_INT(ins0, '\0');
    CHECK_HELPER(check_minimal(S("a\0b"), S("a\0\0b")));
    CHECK_HELPER(check_minimal(S("\0\0x\0"), S("x\0\0\0")));
}

/* ---- errors ------------------------------------------------------------- */

TEST(invalid_utf8_is_rejected_on_either_side) {
    static const char *const bad[] = {
        "\xFF",             /* never valid */
        "\x80",             /* lone continuation byte */
        "ab\xE2\x82",       /* truncated sequence at the end */
        "\xE2\x82x",        /* truncated sequence before ASCII */
        "\xC0\xAF",         /* overlong '/' */
        "\xE0\x80\xAF",     /* overlong, 3 bytes */
        "\xF0\x80\x80\xAF", /* overlong, 4 bytes */
        "\xED\xA0\x80",     /* UTF-16 surrogate U+D800 */
        "\xED\xBF\xBF",     /* UTF-16 surrogate U+DFFF */
        "\xF4\x90\x80\x80", /* U+110000 */
        "\xF5\x80\x80\x80", /* lead byte past U+10FFFF */
        "\xC1\xBF",         /* overlong */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        textdiff d;
        size_t n = strlen(bad[i]);
        ASSERT_EQ_INT(textdiff_compute(bad[i], n, S("ok"), 0, &d), TEXTDIFF_ERR_UTF8);
        ASSERT_EQ_UINT(d.nops, 0);
        ASSERT_TRUE(d.ops == NULL);
        textdiff_release(&d);
        ASSERT_EQ_INT(textdiff_compute(S("ok"), bad[i], n, 0, &d), TEXTDIFF_ERR_UTF8);
        ASSERT_EQ_UINT(d.nops, 0);
        textdiff_release(&d);
        /* The same bytes in the otherwise common part are still caught. */
        char buf[32];
        snprintf(buf, sizeof(buf), "same%ssame", bad[i]);
        ASSERT_EQ_INT(textdiff_compute(buf, strlen(buf), buf, strlen(buf), 0, &d),
                      TEXTDIFF_ERR_UTF8);
        textdiff_release(&d);
        char *out = (char *)1;
        ASSERT_EQ_INT(textdiff_apply(bad[i], n, NULL, 0, &out, NULL), TEXTDIFF_ERR_UTF8);
        ASSERT_TRUE(out == NULL);
        textdiff_op op = {0, 0, bad[i], n, 0};
        ASSERT_EQ_INT(textdiff_apply(S("ok"), &op, 1, &out, NULL), TEXTDIFF_ERR_UTF8);
        ASSERT_TRUE(out == NULL);
    }
    ASSERT_TRUE(strcmp(textdiff_strerror(TEXTDIFF_ERR_UTF8), "text is not valid UTF-8") == 0);
}

TEST(bad_arguments_are_refused) {
    textdiff d;
    ASSERT_EQ_INT(textdiff_compute(NULL, 1, "", 0, 0, &d), TEXTDIFF_ERR_INVALID);
    ASSERT_EQ_INT(textdiff_compute("", 0, NULL, 1, 0, &d), TEXTDIFF_ERR_INVALID);
    ASSERT_EQ_INT(textdiff_compute("", 0, "", 0, 0, NULL), TEXTDIFF_ERR_INVALID);
    char *out = NULL;
    ASSERT_EQ_INT(textdiff_apply("a", 1, NULL, 1, &out, NULL), TEXTDIFF_ERR_INVALID);
    ASSERT_EQ_INT(textdiff_apply("a", 1, NULL, 0, NULL, NULL), TEXTDIFF_ERR_INVALID);
    textdiff_op op = {0, 0, NULL, 1, 0};
    ASSERT_EQ_INT(textdiff_apply("a", 1, &op, 1, &out, NULL), TEXTDIFF_ERR_INVALID);
    for (int e = 1; e >= -5; e--) ASSERT_TRUE(textdiff_strerror(e) != NULL);
}

/* ---- apply on its own ------------------------------------------------------ */

static void expect_apply(const char *text, const textdiff_op *ops, size_t nops, int want_rc,
                         const char *want) {
    char *out = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(textdiff_apply(text, strlen(text), ops, nops, &out, &len), want_rc);
    if (want_rc != TEXTDIFF_OK) {
        ASSERT_TRUE(out == NULL);
        return;
    }
    ASSERT_EQ_UINT(len, strlen(want));
    ASSERT_EQ_STR(out, want);
    free(out);
}

TEST(apply_accepts_ops_in_any_order) {
    const textdiff_op later_first[] = {{6, 5, "there", 5, 0}, {0, 5, "Hi", 2, 0}};
    CHECK_HELPER(expect_apply("Hello world", later_first, 2, TEXTDIFF_OK, "Hi there"));
    const textdiff_op same_pos[] = {{0, 0, "b", 1, 0}, {0, 0, "a", 1, 0}};
    CHECK_HELPER(expect_apply("", same_pos, 2, TEXTDIFF_OK, "ab"));
    const textdiff_op inside_insert[] = {
        {0, 0, "ace", 3, 0}, {1, 0, "b", 1, 0}, {3, 0, "d", 1, 0}, {5, 0, "f", 1, 0}};
    CHECK_HELPER(expect_apply("", inside_insert, 4, TEXTDIFF_OK, "abcdef"));
    const textdiff_op null_ins[] = {{1, 1, NULL, 0, 0}};
    CHECK_HELPER(expect_apply("abc", null_ins, 1, TEXTDIFF_OK, "ac"));
    CHECK_HELPER(expect_apply("abc", NULL, 0, TEXTDIFF_OK, "abc"));
    const textdiff_op all[] = {{0, 3, "", 0, 0}};
    CHECK_HELPER(expect_apply("abc", all, 1, TEXTDIFF_OK, ""));
}

TEST(apply_refuses_positions_past_the_end_or_inside_a_pair) {
    const textdiff_op past[] = {{4, 0, "x", 1, 0}};
    CHECK_HELPER(expect_apply("abc", past, 1, TEXTDIFF_ERR_RANGE, NULL));
    const textdiff_op at_end[] = {{3, 0, "x", 1, 0}};
    CHECK_HELPER(expect_apply("abc", at_end, 1, TEXTDIFF_OK, "abcx"));
    const textdiff_op long_del[] = {{1, 3, "", 0, 0}};
    CHECK_HELPER(expect_apply("abc", long_del, 1, TEXTDIFF_ERR_RANGE, NULL));
    /* "a" U+1F600 "b": units a=0, pair=1..2, b=3. */
    const textdiff_op in_pair[] = {{2, 0, "x", 1, 0}};
    CHECK_HELPER(expect_apply("a" GRIN "b", in_pair, 1, TEXTDIFF_ERR_RANGE, NULL));
    const textdiff_op half_pair[] = {{1, 1, "", 0, 0}};
    CHECK_HELPER(expect_apply("a" GRIN "b", half_pair, 1, TEXTDIFF_ERR_RANGE, NULL));
    const textdiff_op whole_pair[] = {{1, 2, "", 0, 0}};
    CHECK_HELPER(expect_apply("a" GRIN "b", whole_pair, 1, TEXTDIFF_OK, "ab"));
    /* The second op is checked against the text the first one left. */
    const textdiff_op second_bad[] = {{0, 3, "", 0, 0}, {1, 0, "x", 1, 0}};
    CHECK_HELPER(expect_apply("abc", second_bad, 2, TEXTDIFF_ERR_RANGE, NULL));
    const textdiff_op huge[] = {{SIZE_MAX, 0, "", 0, 0}};
    CHECK_HELPER(expect_apply("abc", huge, 1, TEXTDIFF_ERR_RANGE, NULL));
    const textdiff_op huge_del[] = {{0, SIZE_MAX, "", 0, 0}};
    CHECK_HELPER(expect_apply("abc", huge_del, 1, TEXTDIFF_ERR_RANGE, NULL));
}

/* ---- random property tests -------------------------------------------------- */

/* Characters of 1, 2, 3 and 4 bytes (1, 1, 1 and 2 UTF-16 units). */
static const char *const alphabet[] = {
    "a",  "b",   "c",    " ", "\n", "\xC3\xA9", "\xCE\xA9", "\xE2\x82\xAC", "\xE6\x97\xA5",
    GRIN, SMILE, THUMBS,
};
#define ALPHABET_N (sizeof(alphabet) / sizeof(alphabet[0]))

/* Appends `n` random characters drawn from the first `k` of the alphabet. */
static size_t random_text(char *out, size_t n, size_t k) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = alphabet[rng_below(k)];
        size_t cl = strlen(c);
        memcpy(out + len, c, cl);
        len += cl;
    }
    return len;
}

/* Mutates base into out by a few random deletes, inserts and replaces of
 * whole characters; returns out's length. out needs room for 2x + 64 chars. */
static size_t mutate(const char *base, size_t base_len, char *out, size_t k, size_t nmut) {
    uint32_t cps[512];
    size_t n = decode(base, base_len, cps);
    for (size_t m = 0; m < nmut; m++) {
        size_t at = rng_below(n + 1), run = 1 + rng_below(4);
        size_t kind = rng_below(3);
        if (kind != 1) { /* delete (or the delete half of a replace) */
            if (run > n - at) run = n - at;
            memmove(cps + at, cps + at + run, (n - at - run) * sizeof(*cps));
            n -= run;
        }
        if (kind != 0 && n + 4 < sizeof(cps) / sizeof(cps[0])) { /* insert */
            run = 1 + rng_below(4);
            memmove(cps + at + run, cps + at, (n - at) * sizeof(*cps));
            for (size_t r = 0; r < run; r++) {
                uint32_t c = 0;
                const char *s = alphabet[rng_below(k)];
                decode(s, strlen(s), &c);
                cps[at + r] = c;
            }
            n += run;
        }
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cps[i];
        unsigned char *p = (unsigned char *)out + len;
        if (c < 0x80) {
            p[0] = (unsigned char)c, len += 1;
        } else if (c < 0x800) {
            p[0] = (unsigned char)(0xC0 | (c >> 6)), p[1] = (unsigned char)(0x80 | (c & 0x3F));
            len += 2;
        } else if (c < 0x10000) {
            p[0] = (unsigned char)(0xE0 | (c >> 12));
            p[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            p[2] = (unsigned char)(0x80 | (c & 0x3F));
            len += 3;
        } else {
            p[0] = (unsigned char)(0xF0 | (c >> 18));
            p[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            p[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            p[3] = (unsigned char)(0x80 | (c & 0x3F));
            len += 4;
        }
    }
    return len;
}

TEST(random_pairs_apply_back_and_are_minimal) {
    rng_seed(20261125);
    static char a[2048], b[2048];
    for (int iter = 0; iter < 4000; iter++) {
        size_t k = 2 + rng_below(ALPHABET_N - 1); /* small alphabets make many matches */
        size_t maxn = iter % 20 == 0 ? 400 : 60;  /* some long ones for deep splits */
        size_t alen = random_text(a, rng_below(maxn), k), blen;
        if (iter % 3 == 0)
            blen = random_text(b, rng_below(maxn), k); /* unrelated */
        else
            blen = mutate(a, alen, b, k, 1 + rng_below(6)); /* a few edits */
        CHECK_HELPER(check_minimal(a, alen, b, blen));
        CHECK_HELPER(check_minimal(b, blen, a, alen));
    }
}

TEST(random_pairs_apply_back_under_any_work_budget) {
    rng_seed(7);
    static char a[4096], b[4096];
    static const size_t budgets[] = {1, 2, 5, 17, 100, 1000, 0};
    for (int iter = 0; iter < 3000; iter++) {
        size_t k = 2 + rng_below(ALPHABET_N - 1);
        size_t alen = random_text(a, rng_below(300), k), blen;
        if (iter % 2 == 0)
            blen = random_text(b, rng_below(300), k);
        else
            blen = mutate(a, alen, b, k, 1 + rng_below(30));
        size_t budget = budgets[rng_below(sizeof(budgets) / sizeof(budgets[0]))];
        CHECK_HELPER(check_diff(a, alen, b, blen, budget, NULL, NULL));
    }
}

/* ---- the work bound ------------------------------------------------------- */

/* Two unrelated 200 KB texts: the search gives up at its budget and the
 * result, one replace of the differing part or close to it, still applies. */
TEST(large_unrelated_texts_finish_and_apply) {
    const size_t n = 200 * 1024;
    char *a = malloc(n + 8), *b = malloc(n + 8);
    ASSERT_TRUE(a != NULL && b != NULL);
    rng_seed(99);
    size_t alen = 0, blen = 0;
    while (alen < n) alen += random_text(a + alen, 1, 8);
    while (blen < n) blen += random_text(b + blen, 1, 8);
    textdiff d;
    int rc = textdiff_compute(a, alen, b, blen, 0, &d);
    bool minimal = d.minimal;
    char *got = NULL;
    size_t got_len = 0;
    if (rc == TEXTDIFF_OK) rc = textdiff_apply(a, alen, d.ops, d.nops, &got, &got_len);
    bool same = rc == TEXTDIFF_OK && got_len == blen && memcmp(got, b, blen) == 0;
    free(got);
    textdiff_release(&d);
    free(a);
    free(b);
    ASSERT_EQ_INT(rc, TEXTDIFF_OK);
    ASSERT_TRUE(same);
    ASSERT_FALSE(minimal);
}

/* A realistic edit of a large note: a few dozen small changes scattered over
 * 200 KB stay within the default budget and come out minimal, or at least no
 * larger than the changes made. */
TEST(large_text_with_scattered_edits_stays_minimal) {
    const size_t n = 200 * 1024;
    char *a = malloc(n + 64), *b = malloc(2 * n);
    ASSERT_TRUE(a != NULL && b != NULL);
    rng_seed(4242);
    size_t alen = 0;
    while (alen < n) alen += random_text(a + alen, 1, ALPHABET_N);
    /* 40 edits, each replacing 3 characters with "EDIT" at a random place. */
    size_t blen = 0, from = 0, changed = 0;
    size_t cuts[40];
    for (size_t i = 0; i < 40; i++) cuts[i] = (i * alen) / 40 + rng_below(alen / 80);
    for (size_t i = 0; i < 40; i++) {
        size_t at = cuts[i];
        while (at < alen && ((unsigned char)a[at] & 0xC0) == 0x80) at++; /* whole characters */
        if (at < from) continue;
        memcpy(b + blen, a + from, at - from);
        blen += at - from;
        memcpy(b + blen, "EDIT", 4);
        blen += 4;
        size_t skip = at;
        for (int c = 0; c < 3 && skip < alen; c++) skip += seq_len((unsigned char)a[skip]);
        changed += 4 + 3;
        from = skip;
    }
    memcpy(b + blen, a + from, alen - from);
    blen += alen - from;
    size_t edits = 0;
    bool minimal = false;
    check_diff(a, alen, b, blen, 0, &edits, &minimal);
    free(a);
    free(b);
    if (test_failed_current) return;
    ASSERT_TRUE(minimal);
    ASSERT_TRUE(edits <= changed);
}
