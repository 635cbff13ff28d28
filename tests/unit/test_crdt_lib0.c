/*
 * test_crdt_lib0.c - the lib0 encoding layer of the CRDT engine (lib0.h):
 * varuint/varint/Any bytes equal to what lib0 writes, and bounded reads of
 * truncated or hostile input.
 *
 * Expected bytes were printed by the real lib0 (node_modules/lib0) with:
 *   import * as enc from 'lib0/encoding.js'
 *   const anyHex = v => { const e = enc.createEncoder(); enc.writeAny(e, v);
 *                         return Buffer.from(enc.toUint8Array(e)).toString('hex') }
 *   for (const n of [0,127,128,300,2**32,2**53-1]) enc.writeVarUint(e, n)
 */
#include "lib0.h"
#include "test.h"

static int unhex(const char *h, uint8_t *out) {
    int n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

static void check_any(const yany *v, const char *hex) {
    uint8_t want[64];
    int wn = unhex(hex, want);
    ybuf b;
    ybuf_init(&b, YBUF_NO_LIMIT);
    ASSERT_EQ_INT(ybuf_any(&b, v), Y_OK);
    ASSERT_EQ_MEM(b.data, b.len, want, (size_t)wn);
    /* and it reads back to an equal value */
    yreader r;
    yreader_init(&r, want, (size_t)wn);
    yany back;
    ASSERT_EQ_INT(yread_any(&r, &back), Y_OK);
    ASSERT_TRUE(yany_equal(&back, v) || (v->kind == YANY_NUMBER && back.u.num == v->u.num));
    ASSERT_EQ_UINT(r.pos, (size_t)wn);
    yany_release(&back);
    ybuf_release(&b);
}

static yany num(double d) {
    yany v = {.kind = YANY_NUMBER};
    v.u.num = d;
    return v;
}

TEST(any_numbers_pick_lib0_encoding) {
    CHECK_HELPER(check_any(&(yany){.kind = YANY_NUMBER}, "7d00"));
    yany v;
    v = num(1);
    CHECK_HELPER(check_any(&v, "7d01"));
    v = num(-1);
    CHECK_HELPER(check_any(&v, "7d41"));
    v = num(63);
    CHECK_HELPER(check_any(&v, "7d3f"));
    v = num(64);
    CHECK_HELPER(check_any(&v, "7d8001"));
    v = num(-64);
    CHECK_HELPER(check_any(&v, "7dc001"));
    v = num(2147483647.0);
    CHECK_HELPER(check_any(&v, "7dbfffffff0f"));
    v = num(2147483648.0); /* past 31 bits: float32 because it round-trips */
    CHECK_HELPER(check_any(&v, "7c4f000000"));
    v = num(-2147483648.0);
    CHECK_HELPER(check_any(&v, "7ccf000000"));
    v = num(1.5);
    CHECK_HELPER(check_any(&v, "7c3fc00000"));
    v = num(0.1);
    CHECK_HELPER(check_any(&v, "7b3fb999999999999a"));
    v = num(-0.0); /* JavaScript -0 keeps its sign bit */
    CHECK_HELPER(check_any(&v, "7d40"));
}

TEST(any_other_kinds_match_lib0) {
    yany s = {.kind = YANY_STRING};
    s.u.str.ptr = "h\xc3\xa9llo";
    s.u.str.len = 6;
    CHECK_HELPER(check_any(&s, "770668c3a96c6c6f"));
    yany t = {.kind = YANY_BOOL};
    t.u.b = true;
    CHECK_HELPER(check_any(&t, "78"));
    t.u.b = false;
    CHECK_HELPER(check_any(&t, "79"));
    CHECK_HELPER(check_any(&(yany){.kind = YANY_NULL}, "7e"));
    CHECK_HELPER(check_any(&(yany){.kind = YANY_UNDEFINED}, "7f"));
    yany items[2] = {num(1), {.kind = YANY_STRING}};
    items[1].u.str.ptr = "a";
    items[1].u.str.len = 1;
    yany arr = {.kind = YANY_ARRAY};
    arr.u.arr.items = items;
    arr.u.arr.len = 2;
    CHECK_HELPER(check_any(&arr, "75027d01770161"));
    yany inner_items[1] = {{.kind = YANY_BOOL, .u.b = true}};
    yany inner = {.kind = YANY_ARRAY};
    inner.u.arr.items = inner_items;
    inner.u.arr.len = 1;
    yany_entry ents[2] = {{"a", num(1)}, {"b", inner}};
    yany obj = {.kind = YANY_OBJECT};
    obj.u.obj.entries = ents;
    obj.u.obj.len = 2;
    CHECK_HELPER(check_any(&obj, "760201617d010162750178"));
    static const uint8_t bytes[2] = {1, 2};
    yany bin = {.kind = YANY_BINARY};
    bin.u.bin.ptr = bytes;
    bin.u.bin.len = 2;
    CHECK_HELPER(check_any(&bin, "74020102"));
    yany big = {.kind = YANY_BIGINT};
    big.u.bigint = 12345678901234567LL;
    CHECK_HELPER(check_any(&big, "7a002bdc545d6b4b87"));
}

TEST(varuint_bytes_and_limits) {
    uint8_t want[64];
    int wn = unhex("007f8001ac028080808010ffffffffffffff0f", want);
    ybuf b;
    ybuf_init(&b, YBUF_NO_LIMIT);
    const uint64_t vals[] = {0, 127, 128, 300, 4294967296ULL, 9007199254740991ULL};
    for (size_t i = 0; i < 6; i++) ybuf_varuint(&b, vals[i]);
    ASSERT_EQ_MEM(b.data, b.len, want, (size_t)wn);
    yreader r;
    yreader_init(&r, want, (size_t)wn);
    for (size_t i = 0; i < 6; i++) {
        uint64_t v;
        ASSERT_EQ_INT(yread_varuint(&r, &v), Y_OK);
        ASSERT_EQ_UINT(v, vals[i]);
    }
    ybuf_release(&b);
    /* 2^53 is past what lib0 reads; a truncated varuint is malformed */
    static const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10};
    static const uint8_t cut[] = {0x80, 0x80};
    uint64_t v;
    yreader_init(&r, big, sizeof big);
    ASSERT_EQ_INT(yread_varuint(&r, &v), Y_ERR_MALFORMED);
    yreader_init(&r, cut, sizeof cut);
    ASSERT_EQ_INT(yread_varuint(&r, &v), Y_ERR_MALFORMED);
}

TEST(hostile_any_is_refused_without_big_allocations) {
    /* an array claiming 2^40 items in 8 bytes, a string past the end,
     * nesting deeper than the limit, invalid UTF-8 */
    static const uint8_t huge_arr[] = {0x75, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x7e};
    static const uint8_t long_str[] = {0x77, 0x10, 'a'};
    static const uint8_t bad_utf8[] = {0x77, 0x01, 0xff};
    uint8_t deep[200];
    for (size_t i = 0; i < sizeof deep; i++) deep[i] = i % 2 ? 0x01 : 0x75;
    size_t cur, peak;
    yalloc_stats(&cur, NULL);
    yalloc_reset_peak();
    const uint8_t *cases[] = {huge_arr, long_str, bad_utf8, deep};
    const size_t lens[] = {sizeof huge_arr, sizeof long_str, sizeof bad_utf8, sizeof deep};
    for (size_t i = 0; i < 4; i++) {
        yreader r;
        yany v;
        yreader_init(&r, cases[i], lens[i]);
        ASSERT_EQ_INT(yread_any(&r, &v), Y_ERR_MALFORMED);
        yreader_init(&r, cases[i], lens[i]);
        ASSERT_EQ_INT(yread_any_skip(&r), Y_ERR_MALFORMED);
    }
    size_t now;
    yalloc_stats(&now, &peak);
    ASSERT_EQ_UINT(now, cur);
    ASSERT_TRUE(peak - cur < 64 * 1024);
}

TEST(capped_buffer_frees_on_overflow) {
    ybuf b;
    ybuf_init(&b, 8);
    ASSERT_EQ_INT(ybuf_put(&b, "12345678", 8), Y_OK);
    ASSERT_EQ_INT(ybuf_u8(&b, 9), Y_ERR_LIMIT);
    ASSERT_TRUE(b.data == NULL);
    ASSERT_EQ_INT(ybuf_u8(&b, 9), Y_ERR_LIMIT); /* the error is latched */
    uint8_t *out;
    size_t n;
    ASSERT_EQ_INT(ybuf_detach(&b, &out, &n), Y_ERR_LIMIT);
    /* an injected allocation failure behaves the same */
    ybuf_init(&b, YBUF_NO_LIMIT);
    yalloc_fail_after(1);
    ASSERT_EQ_INT(ybuf_u8(&b, 1), Y_ERR_NOMEM);
    yalloc_fail_after(0);
    ASSERT_TRUE(b.data == NULL);
}

TEST(utf8_helpers) {
    ASSERT_TRUE(yutf8_valid("h\xc3\xa9\xf0\x9f\x98\x80", 7));
    ASSERT_FALSE(yutf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    ASSERT_FALSE(yutf8_valid("\xc0\xaf", 2));     /* overlong */
    ASSERT_EQ_UINT(yutf8_utf16_len("h\xc3\xa9\xf0\x9f\x98\x80", 7), 4);
    size_t off;
    ASSERT_TRUE(yutf8_offset_of_units("a\xf0\x9f\x98\x80" "b", 6, 3, &off));
    ASSERT_EQ_UINT(off, 5);
    ASSERT_FALSE(yutf8_offset_of_units("a\xf0\x9f\x98\x80" "b", 6, 2, &off)); /* inside the pair */
}
