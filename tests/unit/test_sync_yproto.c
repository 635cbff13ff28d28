/*
 * test_sync_yproto.c - the y-websocket wire protocol (src/sync/yproto.h):
 * varuints, message framing as data (bytes in, decoded fields or error out),
 * the exact bytes of every encoder (they match what y-protocols writes; the
 * worked example of docs/sync.md is one of them), awareness updates and
 * state vectors, including hostile lengths.
 */
#include "test.h"

#include "sync/yproto.h"

/* Parses hex ("00 01 ff", spaces ignored) into buf; returns the length. */
static size_t unhex(const char *hex, uint8_t *buf, size_t cap) {
    size_t n = 0;
    for (const char *p = hex; *p != '\0';) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned v = 0;
        sscanf(p, "%2x", &v);
        if (n < cap) buf[n] = (uint8_t)v;
        n++;
        p += 2;
    }
    return n;
}

TEST(varuint_round_trips_at_every_width) {
    static const uint64_t values[] = {0,
                                      1,
                                      127,
                                      128,
                                      255,
                                      16383,
                                      16384,
                                      2097151,
                                      2097152,
                                      0xffffffffu,
                                      1ull << 35,
                                      1ull << 49,
                                      YPROTO_MAX_UINT - 1,
                                      YPROTO_MAX_UINT};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint8_t buf[YPROTO_VARUINT_MAX_LEN];
        size_t n = yproto_put_varuint(buf, values[i]);
        ASSERT_TRUE(n >= 1 && n <= YPROTO_VARUINT_MAX_LEN);
        size_t pos = 0;
        uint64_t v = 0;
        ASSERT_EQ_INT(yproto_get_varuint(buf, n, &pos, &v), YPROTO_OK);
        ASSERT_EQ_UINT(v, values[i]);
        ASSERT_EQ_UINT(pos, n);
        /* every shorter prefix is truncated */
        for (size_t k = 0; k < n; k++) {
            pos = 0;
            ASSERT_EQ_INT(yproto_get_varuint(buf, k, &pos, &v), YPROTO_EMALFORMED);
            ASSERT_EQ_UINT(pos, 0);
        }
    }
}

TEST(varuint_bytes_are_lib0s) {
    uint8_t buf[8];
    ASSERT_EQ_UINT(yproto_put_varuint(buf, 300), 2);
    ASSERT_EQ_MEM(buf, 2, "\xac\x02", 2);
    ASSERT_EQ_UINT(yproto_put_varuint(buf, 127), 1);
    ASSERT_EQ_MEM(buf, 1, "\x7f", 1);
}

TEST(varuint_beyond_53_bits_is_refused) {
    uint8_t buf[16];
    size_t n = unhex("80 80 80 80 80 80 80 10", buf, sizeof(buf)); /* 2^53 */
    size_t pos = 0;
    uint64_t v;
    ASSERT_EQ_INT(yproto_get_varuint(buf, n, &pos, &v), YPROTO_EMALFORMED);
    n = unhex("ff ff ff ff ff ff ff 0f", buf, sizeof(buf)); /* 2^53 - 1 */
    ASSERT_EQ_INT(yproto_get_varuint(buf, n, &pos, &v), YPROTO_OK);
    ASSERT_EQ_UINT(v, YPROTO_MAX_UINT);
    n = unhex("80 80 80 80 80 80 80 80 80 00", buf, sizeof(buf)); /* 10 bytes */
    pos = 0;
    ASSERT_EQ_INT(yproto_get_varuint(buf, n, &pos, &v), YPROTO_EMALFORMED);
}

/* Messages as data: bytes, then the expected result. */
typedef struct {
    const char *hex;
    int rc;
    int type;
    int sync_type;
    const char *payload_hex;
} decode_case;

static const decode_case decode_cases[] = {
    /* sync step 1 with the state vector {1: 3} */
    {"00 00 03 01 01 03", YPROTO_OK, YMSG_SYNC, YSYNC_STEP1, "01 01 03"},
    /* sync step 2 with the empty update */
    {"00 01 02 00 00", YPROTO_OK, YMSG_SYNC, YSYNC_STEP2, "00 00"},
    /* sync update, empty payload */
    {"00 02 00", YPROTO_OK, YMSG_SYNC, YSYNC_UPDATE, ""},
    /* awareness carrying two bytes */
    {"01 02 00 00", YPROTO_OK, YMSG_AWARENESS, -1, "00 00"},
    /* query awareness */
    {"03", YPROTO_OK, YMSG_QUERY_AWARENESS, -1, ""},
    /* auth: permission denied, reason "no" */
    {"02 00 02 6e 6f", YPROTO_OK, YMSG_AUTH, -1, "6e 6f"},
    /* saved: the state vector {1: 3}, and the empty state vector */
    {"04 03 01 01 03", YPROTO_OK, YMSG_SAVED, -1, "01 01 03"},
    {"04 01 00", YPROTO_OK, YMSG_SAVED, -1, "00"},
    /* saved, two clients, one clock over 127: {5: 200, 9: 1} */
    {"04 06 02 05 c8 01 09 01", YPROTO_OK, YMSG_SAVED, -1, "02 05 c8 01 09 01"},
    /* errors */
    {"", YPROTO_EMALFORMED, 0, 0, NULL},
    {"00", YPROTO_EMALFORMED, 0, 0, NULL},
    {"00 00", YPROTO_EMALFORMED, 0, 0, NULL},
    {"00 03 00", YPROTO_EUNKNOWN, 0, 0, NULL},
    {"05", YPROTO_EUNKNOWN, 0, 0, NULL},
    {"04", YPROTO_EMALFORMED, 0, 0, NULL},                /* saved without its state vector */
    {"04 00", YPROTO_EMALFORMED, 0, 0, NULL},             /* an empty payload is no state vector */
    {"04 02 01 01", YPROTO_EMALFORMED, 0, 0, NULL},       /* 1 client, clock missing */
    {"04 04 01 01 03 00", YPROTO_EMALFORMED, 0, 0, NULL}, /* a byte after the state vector */
    {"04 03 01 01 03 00", YPROTO_EMALFORMED, 0, 0, NULL}, /* trailing byte after the message */
    {"ff ff ff ff ff ff ff ff ff", YPROTO_EMALFORMED, 0, 0, NULL},
    {"00 02 05 01 02", YPROTO_EMALFORMED, 0, 0, NULL},       /* claims 5, has 2 */
    {"00 02 ff ff ff ff 0f", YPROTO_EMALFORMED, 0, 0, NULL}, /* claims 4 GiB */
    {"00 02 01 aa bb", YPROTO_EMALFORMED, 0, 0, NULL},       /* trailing byte */
    {"03 00", YPROTO_EMALFORMED, 0, 0, NULL},                /* trailing byte */
    {"02 00 02 c3 28", YPROTO_EMALFORMED, 0, 0, NULL},       /* reason not UTF-8 */
    {"00 02 11 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", YPROTO_ETOOBIG, 0, 0,
     NULL}, /* 17 bytes > limit of 16 used below */
};

TEST(decode_cases_as_data) {
    for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
        const decode_case *c = &decode_cases[i];
        uint8_t buf[64], want[64];
        size_t n = unhex(c->hex, buf, sizeof(buf));
        ymsg m = {.type = 99};
        int rc = yproto_decode(buf, n, 16, &m);
        if (rc != c->rc) fprintf(stderr, "case %zu: %s\n", i, c->hex);
        ASSERT_EQ_INT(rc, c->rc);
        if (rc != YPROTO_OK) {
            ASSERT_EQ_INT(m.type, 99); /* untouched */
            continue;
        }
        ASSERT_EQ_INT(m.type, c->type);
        ASSERT_EQ_INT(m.sync_type, c->sync_type);
        size_t wn = unhex(c->payload_hex, want, sizeof(want));
        ASSERT_EQ_MEM(m.payload, m.payload_len, want, wn);
    }
}

TEST(decode_payload_points_into_the_input) {
    uint8_t buf[8];
    size_t n = unhex("00 02 02 00 00", buf, sizeof(buf));
    ymsg m;
    ASSERT_EQ_INT(yproto_decode(buf, n, 1024, &m), YPROTO_OK);
    ASSERT_TRUE(m.payload == buf + 3);
}

TEST(encoders_write_y_protocols_bytes) {
    uint8_t *out = NULL;
    size_t len = 0;
    const uint8_t sv[] = {0x01, 0x01, 0x03};
    ASSERT_EQ_INT(yproto_encode_sync(YSYNC_STEP1, sv, sizeof(sv), &out, &len), YPROTO_OK);
    ASSERT_EQ_MEM(out, len, "\x00\x00\x03\x01\x01\x03", 6);
    free(out);
    const uint8_t empty_update[] = {0x00, 0x00};
    ASSERT_EQ_INT(yproto_encode_sync(YSYNC_STEP2, empty_update, 2, &out, &len), YPROTO_OK);
    ASSERT_EQ_MEM(out, len, "\x00\x01\x02\x00\x00", 5);
    free(out);
    ASSERT_EQ_INT(yproto_encode_sync(YSYNC_UPDATE, empty_update, 2, &out, &len), YPROTO_OK);
    ASSERT_EQ_MEM(out, len, "\x00\x02\x02\x00\x00", 5);
    free(out);
    ASSERT_EQ_INT(yproto_encode_sync(7, empty_update, 2, &out, &len), YPROTO_EUNKNOWN);
    ASSERT_EQ_INT(yproto_encode_awareness(empty_update, 2, &out, &len), YPROTO_OK);
    ASSERT_EQ_MEM(out, len, "\x01\x02\x00\x00", 4);
    free(out);
    ASSERT_EQ_INT(yproto_encode_query_awareness(&out, &len), YPROTO_OK);
    ASSERT_EQ_MEM(out, len, "\x03", 1);
    free(out);
    ASSERT_EQ_INT(yproto_encode_permission_denied("no", &out, &len), YPROTO_OK);
    ASSERT_EQ_MEM(out, len, "\x02\x00\x02no", 5);
    free(out);
}

TEST(saved_message_round_trips) {
    uint8_t *out = NULL;
    size_t len = 0;
    /* {5: 200, 9: 1}: the clock 200 takes two bytes */
    const uint8_t sv[] = {0x02, 0x05, 0xc8, 0x01, 0x09, 0x01};
    ASSERT_EQ_INT(yproto_encode_saved(sv, sizeof(sv), &out, &len), YPROTO_OK);
    ASSERT_EQ_MEM(out, len, "\x04\x06\x02\x05\xc8\x01\x09\x01", 8);
    ymsg m;
    ASSERT_EQ_INT(yproto_decode(out, len, 1024, &m), YPROTO_OK);
    ASSERT_EQ_INT(m.type, YMSG_SAVED);
    ASSERT_EQ_MEM(m.payload, m.payload_len, sv, sizeof(sv));
    free(out);
    const uint8_t empty[] = {0x00};
    ASSERT_EQ_INT(yproto_encode_saved(empty, 1, &out, &len), YPROTO_OK);
    ASSERT_EQ_MEM(out, len, "\x04\x01\x00", 3);
    free(out);
    /* a malformed state vector is refused and nothing is allocated */
    out = NULL;
    len = 7;
    const uint8_t bad[] = {0x02, 0x05};
    ASSERT_EQ_INT(yproto_encode_saved(bad, sizeof(bad), &out, &len), YPROTO_EMALFORMED);
    ASSERT_TRUE(out == NULL);
    ASSERT_EQ_UINT(len, 7);
    ASSERT_EQ_INT(yproto_encode_saved(NULL, 0, &out, &len), YPROTO_EMALFORMED);
}

TEST(a_long_payload_gets_a_multi_byte_length) {
    uint8_t payload[300];
    memset(payload, 0x5a, sizeof(payload));
    uint8_t *out = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(yproto_encode_sync(YSYNC_UPDATE, payload, sizeof(payload), &out, &len),
                  YPROTO_OK);
    ASSERT_EQ_UINT(len, 2 + 2 + 300);
    ASSERT_EQ_MEM(out, 4, "\x00\x02\xac\x02", 4);
    ymsg m;
    ASSERT_EQ_INT(yproto_decode(out, len, 300, &m), YPROTO_OK);
    ASSERT_EQ_MEM(m.payload, m.payload_len, payload, sizeof(payload));
    ASSERT_EQ_INT(yproto_decode(out, len, 299, &m), YPROTO_ETOOBIG);
    free(out);
}

/* The worked example of docs/sync.md: a Yjs update inserting "hi" at the
 * start of Y.Text "content" by client 1, wrapped as a sync update. */
TEST(worked_example_of_the_docs) {
    static const char update_hex[] = "01 01 01 00 04 01 07 63 6f 6e 74 65 6e 74 02 68 69 00";
    uint8_t update[64], want[80];
    size_t ulen = unhex(update_hex, update, sizeof(update));
    uint8_t *out = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(yproto_encode_sync(YSYNC_UPDATE, update, ulen, &out, &len), YPROTO_OK);
    size_t wn =
        unhex("00 02 12 01 01 01 00 04 01 07 63 6f 6e 74 65 6e 74 02 68 69 00", want, sizeof(want));
    ASSERT_EQ_MEM(out, len, want, wn);
    free(out);
}

TEST(awareness_round_trip) {
    yaware_entry in[2] = {{.client = 7, .clock = 3, .state = "{\"user\":\"Ada\"}", .state_len = 14},
                          {.client = 300, .clock = 0, .state = "null", .state_len = 4}};
    uint8_t *buf = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(yproto_awareness_encode(in, 2, &buf, &len), YPROTO_OK);
    ASSERT_EQ_MEM(buf, 3, "\x02\x07\x03", 3);
    yaware_entry *out = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(yproto_awareness_decode(buf, len, 16, 1024, &out, &n), YPROTO_OK);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_UINT(out[0].client, 7);
    ASSERT_EQ_UINT(out[0].clock, 3);
    ASSERT_EQ_MEM(out[0].state, out[0].state_len, in[0].state, in[0].state_len);
    ASSERT_EQ_UINT(out[1].client, 300);
    ASSERT_EQ_MEM(out[1].state, out[1].state_len, "null", 4);
    free(out);
    /* limits */
    ASSERT_EQ_INT(yproto_awareness_decode(buf, len, 1, 1024, &out, &n), YPROTO_ETOOBIG);
    ASSERT_EQ_INT(yproto_awareness_decode(buf, len, 16, 10, &out, &n), YPROTO_ETOOBIG);
    /* every cut is malformed */
    for (size_t k = 0; k < len; k++)
        ASSERT_EQ_INT(yproto_awareness_decode(buf, k, 16, 1024, &out, &n), YPROTO_EMALFORMED);
    free(buf);
}

TEST(awareness_hostile_inputs) {
    uint8_t buf[32];
    yaware_entry *out = NULL;
    size_t n = 0;
    /* a count far beyond the bytes: refused before allocating */
    size_t len = unhex("ff ff ff 7f 01 01 00", buf, sizeof(buf));
    ASSERT_EQ_INT(yproto_awareness_decode(buf, len, SIZE_MAX, 1024, &out, &n), YPROTO_EMALFORMED);
    /* a state that is not UTF-8 */
    len = unhex("01 01 01 02 c3 28", buf, sizeof(buf));
    ASSERT_EQ_INT(yproto_awareness_decode(buf, len, 16, 1024, &out, &n), YPROTO_EMALFORMED);
    /* trailing byte */
    len = unhex("01 01 01 04 6e 75 6c 6c 00", buf, sizeof(buf));
    ASSERT_EQ_INT(yproto_awareness_decode(buf, len, 16, 1024, &out, &n), YPROTO_EMALFORMED);
    /* zero entries is fine */
    len = unhex("00", buf, sizeof(buf));
    ASSERT_EQ_INT(yproto_awareness_decode(buf, len, 16, 1024, &out, &n), YPROTO_OK);
    ASSERT_EQ_UINT(n, 0);
    ASSERT_TRUE(out == NULL);
}

TEST(state_vector_check) {
    uint8_t buf[32];
    ASSERT_EQ_INT(yproto_state_vector_check(buf, unhex("00", buf, sizeof(buf))), YPROTO_OK);
    ASSERT_EQ_INT(yproto_state_vector_check(buf, unhex("02 01 03 ac 02 05", buf, sizeof(buf))),
                  YPROTO_OK);
    ASSERT_EQ_INT(yproto_state_vector_check(buf, 0), YPROTO_EMALFORMED);
    ASSERT_EQ_INT(yproto_state_vector_check(buf, unhex("01 01", buf, sizeof(buf))),
                  YPROTO_EMALFORMED);
    ASSERT_EQ_INT(yproto_state_vector_check(buf, unhex("01 01 03 00", buf, sizeof(buf))),
                  YPROTO_EMALFORMED);
    ASSERT_EQ_INT(yproto_state_vector_check(buf, unhex("ff ff ff 0f 01", buf, sizeof(buf))),
                  YPROTO_EMALFORMED);
}

TEST(utf8_validation) {
    ASSERT_TRUE(yproto_utf8_valid("", 0));
    ASSERT_TRUE(yproto_utf8_valid("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12));
    ASSERT_FALSE(yproto_utf8_valid("\xc0\xaf", 2));         /* overlong */
    ASSERT_FALSE(yproto_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ASSERT_FALSE(yproto_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    ASSERT_FALSE(yproto_utf8_valid("\xe2\x82", 2));         /* cut */
    ASSERT_FALSE(yproto_utf8_valid("\x80", 1));
}

/* Random and mutated bytes: every decoder either refuses them or returns
 * fields inside the input; run under ASan, any stray read would stop it. */
TEST(decoders_survive_random_bytes) {
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint8_t buf[64];
    static const char *const seeds[] = {
        "00 00 03 01 01 03", "00 02 02 00 00", "01 06 01 02 01 02 7b 7d", "02 00 02 6e 6f", "03",
        "04 03 01 01 03"};
    for (int round = 0; round < 200000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t len;
        if (round % 2 == 0) {
            len = (size_t)(x % sizeof(buf));
            uint64_t y = x;
            for (size_t i = 0; i < len; i++) {
                y = y * 6364136223846793005ull + 1442695040888963407ull;
                buf[i] = (uint8_t)(y >> 56);
            }
        } else {
            len = unhex(seeds[x % 5], buf, sizeof(buf));
            buf[(x >> 8) % len] ^= (uint8_t)(x >> 16);
            if ((x >> 24) % 3 == 0 && len > 1) len--;
        }
        ymsg m;
        if (yproto_decode(buf, len, 32, &m) == YPROTO_OK) {
            ASSERT_TRUE(m.payload_len <= len);
            if (m.payload_len > 0)
                ASSERT_TRUE(m.payload >= buf && m.payload + m.payload_len <= buf + len);
            if (m.type == YMSG_AWARENESS) {
                yaware_entry *e = NULL;
                size_t n = 0;
                if (yproto_awareness_decode(m.payload, m.payload_len, 8, 32, &e, &n) == YPROTO_OK) {
                    for (size_t i = 0; i < n; i++)
                        ASSERT_TRUE(e[i].state + e[i].state_len <= (const char *)buf + len);
                    free(e);
                }
            }
            if (m.type == YMSG_SYNC && m.sync_type == YSYNC_STEP1)
                (void)yproto_state_vector_check(m.payload, m.payload_len);
        }
    }
}
