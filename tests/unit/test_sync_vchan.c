/*
 * test_sync_vchan.c - the vault channel's wire protocol (src/sync/vchan.h):
 * every message type round-trips through its encoder and the decoder, the
 * exact bytes of the worked example in docs/sync.md, and every malformed
 * case (truncation at every byte, trailing bytes, bad ids, ref 0, unknown
 * types, over-long integers, hostile counts and lengths, limits).
 */
#include "test.h"

#include "sync/vchan.h"

#define VAULT "5f0c2a7e9b1d4c3a8e6f0a1b2c3d4e5f"
#define NOTE  "a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define BIG   (16u << 20)

/* Parses hex ("00 01 ff", spaces ignored) into buf; returns the length. */
static size_t unhex(const char *hex, uint8_t *buf, size_t cap) {
    size_t n = 0;
    for (const char *p = hex; *p != '\0';) {
        if (*p == ' ' || *p == '\n') {
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

/* Every strict prefix of a valid message is malformed, never a crash, and
 * leaves the output untouched. */
static void every_prefix_is_malformed(const uint8_t *msg, size_t len) {
    for (size_t k = 0; k < len; k++) {
        vchan_msg m;
        memset(&m, 0x5a, sizeof(m));
        int rc = vchan_decode(msg, k, BIG, &m);
        ASSERT_EQ_INT(rc, YPROTO_EMALFORMED);
        ASSERT_EQ_INT(m.type, 0x5a5a5a5a);
    }
    /* and one byte more is trailing garbage */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, msg, len);
    longer[len] = 0;
    vchan_msg m;
    int rc = vchan_decode(longer, len + 1, BIG, &m);
    free(longer);
    ASSERT_EQ_INT(rc, YPROTO_EMALFORMED);
}

TEST(hello_round_trips) {
    static const uint64_t values[] = {0, 1, 127, 128, 300, 1ull << 40, YPROTO_MAX_UINT};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint8_t *msg = NULL;
        size_t len = 0;
        ASSERT_EQ_INT(vchan_encode_hello(values[i], &msg, &len), YPROTO_OK);
        vchan_msg m;
        ASSERT_EQ_INT(vchan_decode(msg, len, BIG, &m), YPROTO_OK);
        ASSERT_EQ_INT(m.type, VCHAN_HELLO);
        ASSERT_EQ_UINT(m.since, values[i]);
        ASSERT_EQ_STR(m.doc, "");
        CHECK_HELPER(every_prefix_is_malformed(msg, len));
        free(msg);
    }
    uint8_t *msg = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(vchan_encode_hello(YPROTO_MAX_UINT + 1, &msg, &len), YPROTO_ETOOBIG);
    ASSERT_TRUE(msg == NULL);
}

TEST(changed_round_trips_and_iterates) {
    vchan_change in[3] = {{VAULT, 7}, {NOTE, 9}, {"00000000000000000000000000000000", 300}};
    for (size_t n = 0; n <= 3; n++) {
        uint8_t *msg = NULL;
        size_t len = 0;
        ASSERT_EQ_INT(vchan_encode_changed(300, in, n, &msg, &len), YPROTO_OK);
        vchan_msg m;
        ASSERT_EQ_INT(vchan_decode(msg, len, BIG, &m), YPROTO_OK);
        ASSERT_EQ_INT(m.type, VCHAN_CHANGED);
        ASSERT_EQ_UINT(m.seq, 300);
        ASSERT_EQ_UINT(m.count, n);
        size_t pos = 0;
        for (size_t i = 0; i < n; i++) {
            vchan_change c;
            ASSERT_EQ_INT(vchan_changed_next(&m, &pos, &c), YPROTO_OK);
            ASSERT_EQ_STR(c.doc, in[i].doc);
            ASSERT_EQ_UINT(c.seq, in[i].seq);
        }
        vchan_change c;
        ASSERT_EQ_INT(vchan_changed_next(&m, &pos, &c), YPROTO_EMALFORMED);
        CHECK_HELPER(every_prefix_is_malformed(msg, len));
        free(msg);
    }
}

TEST(doc_messages_round_trip) {
    const uint8_t payload[] = {1, 2, 3, 0, 255};
    for (int type = VCHAN_STEP1; type <= VCHAN_PUSH; type++) {
        uint8_t *msg = NULL;
        size_t len = 0;
        int rc = type == VCHAN_STEP1   ? vchan_encode_step1(NOTE, payload, 5, &msg, &len)
                 : type == VCHAN_STEP2 ? vchan_encode_step2(NOTE, payload, 5, &msg, &len)
                 : type == VCHAN_UPDATE
                     ? vchan_encode_update(NOTE, 12345, payload, 5, &msg, &len)
                     : vchan_encode_push(NOTE, 1ull << 40, payload, 5, &msg, &len);
        ASSERT_EQ_INT(rc, YPROTO_OK);
        vchan_msg m;
        ASSERT_EQ_INT(vchan_decode(msg, len, BIG, &m), YPROTO_OK);
        ASSERT_EQ_INT(m.type, type);
        ASSERT_EQ_STR(m.doc, NOTE);
        ASSERT_EQ_MEM(m.payload, m.payload_len, payload, 5);
        if (type == VCHAN_UPDATE) ASSERT_EQ_UINT(m.ref, 12345);
        if (type == VCHAN_PUSH) ASSERT_EQ_UINT(m.seq, 1ull << 40);
        CHECK_HELPER(every_prefix_is_malformed(msg, len));
        /* the payload limit */
        ASSERT_EQ_INT(vchan_decode(msg, len, 4, &m), YPROTO_ETOOBIG);
        ASSERT_EQ_INT(vchan_decode(msg, len, 5, &m), YPROTO_OK);
        free(msg);
    }
}

TEST(empty_payloads_are_fine) {
    uint8_t *msg = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(vchan_encode_step1(VAULT, NULL, 0, &msg, &len), YPROTO_OK);
    vchan_msg m;
    ASSERT_EQ_INT(vchan_decode(msg, len, BIG, &m), YPROTO_OK);
    ASSERT_EQ_UINT(m.payload_len, 0);
    free(msg);
}

TEST(ack_and_error_round_trip) {
    uint8_t *msg = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(vchan_encode_ack(1, 0, &msg, &len), YPROTO_OK);
    vchan_msg m;
    ASSERT_EQ_INT(vchan_decode(msg, len, BIG, &m), YPROTO_OK);
    ASSERT_EQ_INT(m.type, VCHAN_ACK);
    ASSERT_EQ_UINT(m.ref, 1);
    ASSERT_EQ_UINT(m.seq, 0);
    CHECK_HELPER(every_prefix_is_malformed(msg, len));
    free(msg);

    const char *reason = "bad path: \xc3\xa9 is fine, \"..\" is not";
    ASSERT_EQ_INT(vchan_encode_error(99, VCHAN_ERR_BAD_INDEX, VAULT, reason, &msg, &len),
                  YPROTO_OK);
    ASSERT_EQ_INT(vchan_decode(msg, len, BIG, &m), YPROTO_OK);
    ASSERT_EQ_INT(m.type, VCHAN_ERROR);
    ASSERT_EQ_UINT(m.ref, 99);
    ASSERT_EQ_UINT(m.code, VCHAN_ERR_BAD_INDEX);
    ASSERT_EQ_STR(m.doc, VAULT);
    ASSERT_EQ_MEM(m.payload, m.payload_len, reason, strlen(reason));
    CHECK_HELPER(every_prefix_is_malformed(msg, len));
    free(msg);
}

TEST(encoders_refuse_bad_arguments) {
    uint8_t *msg = NULL;
    size_t len = 0;
    const char *bad_docs[] = {
        "", "A1B2C3D4E5F60718293A4B5C6D7E8F90", "a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "a1b2c3d4e5f60718293a4b5c6d7e8f900", "g1b2c3d4e5f60718293a4b5c6d7e8f90"};
    for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
        ASSERT_EQ_INT(vchan_encode_step1(bad_docs[i], NULL, 0, &msg, &len), YPROTO_EMALFORMED);
        ASSERT_EQ_INT(vchan_encode_step2(bad_docs[i], NULL, 0, &msg, &len), YPROTO_EMALFORMED);
        ASSERT_EQ_INT(vchan_encode_update(bad_docs[i], 1, NULL, 0, &msg, &len), YPROTO_EMALFORMED);
        ASSERT_EQ_INT(vchan_encode_push(bad_docs[i], 1, NULL, 0, &msg, &len), YPROTO_EMALFORMED);
        ASSERT_EQ_INT(vchan_encode_error(1, 2, bad_docs[i], "x", &msg, &len), YPROTO_EMALFORMED);
        vchan_change c = {.seq = 1};
        memcpy(c.doc, bad_docs[i], strlen(bad_docs[i]) < 33 ? strlen(bad_docs[i]) + 1 : 33);
        c.doc[32] = strlen(bad_docs[i]) > 32 ? 'x' : c.doc[32];
        ASSERT_EQ_INT(vchan_encode_changed(1, &c, 1, &msg, &len), YPROTO_EMALFORMED);
    }
    ASSERT_EQ_INT(vchan_encode_update(NOTE, 0, NULL, 0, &msg, &len), YPROTO_EMALFORMED);
    ASSERT_EQ_INT(vchan_encode_ack(0, 5, &msg, &len), YPROTO_EMALFORMED);
    ASSERT_EQ_INT(vchan_encode_error(0, 5, NOTE, "x", &msg, &len), YPROTO_EMALFORMED);
    ASSERT_EQ_INT(vchan_encode_error(1, 5, NOTE, "\xff", &msg, &len), YPROTO_EMALFORMED);
    ASSERT_EQ_INT(vchan_encode_ack(1, YPROTO_MAX_UINT + 1, &msg, &len), YPROTO_ETOOBIG);
    ASSERT_EQ_INT(vchan_encode_push(NOTE, YPROTO_MAX_UINT + 1, NULL, 0, &msg, &len),
                  YPROTO_ETOOBIG);
    ASSERT_TRUE(msg == NULL);
}

/* Malformed messages as data: hex in, the decoder's answer out. */
TEST(malformed_messages_as_data) {
    static const struct {
        const char *hex;
        int rc;
    } cases[] = {
        {"", YPROTO_EMALFORMED},                           /* no type */
        {"08", YPROTO_EUNKNOWN},                           /* unknown type */
        {"ff ff ff ff ff ff ff ff 01", YPROTO_EMALFORMED}, /* type over 53 bits */
        {"00", YPROTO_EMALFORMED},                         /* HELLO without since */
        {"00 80", YPROTO_EMALFORMED},                      /* since cut */
        {"00 80 00", YPROTO_OK},         /* redundant varuint bytes: lib0 reads them too */
        {"00 00 00", YPROTO_EMALFORMED}, /* trailing */
        {"00 ff ff ff ff ff ff ff 7f", YPROTO_EMALFORMED}, /* since over 53 bits */
        /* STEP1 with a 31-byte doc */
        {"02 1f 61626364656630313233343536373839616263646566303132333435363738 00",
         YPROTO_EMALFORMED},
        /* STEP1 with uppercase hex */
        {"02 20 4131623263336434653566363037313832393361346235633664376538663930 00",
         YPROTO_EMALFORMED},
        /* STEP1 whose doc length claims more than remains */
        {"02 21 61", YPROTO_EMALFORMED},
        /* STEP1 whose payload length claims more than remains */
        {"02 20 6131623263336434653566363037313832393361346235633664376538663930 05 00",
         YPROTO_EMALFORMED},
        /* UPDATE with ref 0 */
        {"04 20 6131623263336434653566363037313832393361346235633664376538663930 00 02 00 00",
         YPROTO_EMALFORMED},
        /* ACK with ref 0 */
        {"06 00 01", YPROTO_EMALFORMED},
        /* ERROR with a reason that is not UTF-8 */
        {"07 01 01 20 6131623263336434653566363037313832393361346235633664376538663930 01 ff",
         YPROTO_EMALFORMED},
        /* CHANGED claiming 2^32 entries in 3 bytes */
        {"01 01 80 80 80 80 10", YPROTO_EMALFORMED},
        /* CHANGED with one entry whose doc is not hex */
        {"01 01 01 20 7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a 01",
         YPROTO_EMALFORMED},
        /* CHANGED with a valid entry then trailing bytes */
        {"01 01 01 20 6131623263336434653566363037313832393361346235633664376538663930 01 00",
         YPROTO_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[256];
        size_t len = unhex(cases[i].hex, buf, sizeof(buf));
        vchan_msg m;
        int rc = vchan_decode(buf, len, BIG, &m);
        if (rc != cases[i].rc) fprintf(stderr, "case %zu: %s\n", i, cases[i].hex);
        ASSERT_EQ_INT(rc, cases[i].rc);
    }
}

TEST(every_single_byte_message_is_refused_or_understood) {
    for (int b = 0; b < 256; b++) {
        uint8_t buf[1] = {(uint8_t)b};
        vchan_msg m;
        int rc = vchan_decode(buf, 1, BIG, &m);
        ASSERT_TRUE(rc == YPROTO_EMALFORMED || rc == YPROTO_EUNKNOWN);
    }
}

/* The bytes of the worked example in docs/sync.md ("The vault channel"). */
TEST(worked_example_of_the_docs) {
    uint8_t want[256], *msg = NULL;
    size_t wlen, len = 0;

    ASSERT_EQ_INT(vchan_encode_hello(0, &msg, &len), YPROTO_OK);
    wlen = unhex("00 00", want, sizeof(want));
    ASSERT_EQ_MEM(msg, len, want, wlen);
    free(msg);

    vchan_change ch[2] = {{VAULT, 2}, {NOTE, 1}};
    ASSERT_EQ_INT(vchan_encode_changed(2, ch, 2, &msg, &len), YPROTO_OK);
    wlen = unhex("01 02 02"
                 " 20 3566306332613765396231643463336138653666306131623263336434653566 02"
                 " 20 6131623263336434653566363037313832393361346235633664376538663930 01",
                 want, sizeof(want));
    ASSERT_EQ_MEM(msg, len, want, wlen);
    free(msg);

    uint8_t sv[1] = {0};
    ASSERT_EQ_INT(vchan_encode_step1(NOTE, sv, 1, &msg, &len), YPROTO_OK);
    wlen = unhex("02 20 6131623263336434653566363037313832393361346235633664376538663930 01 00",
                 want, sizeof(want));
    ASSERT_EQ_MEM(msg, len, want, wlen);
    free(msg);

    uint8_t hi[32];
    size_t hilen = unhex("01 01 01 00 04 01 07 63 6f 6e 74 65 6e 74 02 68 69 00", hi, sizeof(hi));
    ASSERT_EQ_INT(vchan_encode_step2(NOTE, hi, hilen, &msg, &len), YPROTO_OK);
    wlen = unhex("03 20 6131623263336434653566363037313832393361346235633664376538663930 12"
                 " 01 01 01 00 04 01 07 63 6f 6e 74 65 6e 74 02 68 69 00",
                 want, sizeof(want));
    ASSERT_EQ_MEM(msg, len, want, wlen);
    free(msg);

    uint8_t bang[16];
    size_t blen = unhex("01 01 02 00 84 01 01 01 21 00", bang, sizeof(bang));
    ASSERT_EQ_INT(vchan_encode_update(NOTE, 1, bang, blen, &msg, &len), YPROTO_OK);
    wlen = unhex("04 20 6131623263336434653566363037313832393361346235633664376538663930 01 0a"
                 " 01 01 02 00 84 01 01 01 21 00",
                 want, sizeof(want));
    ASSERT_EQ_MEM(msg, len, want, wlen);
    free(msg);

    ASSERT_EQ_INT(vchan_encode_ack(1, 3, &msg, &len), YPROTO_OK);
    wlen = unhex("06 01 03", want, sizeof(want));
    ASSERT_EQ_MEM(msg, len, want, wlen);
    free(msg);

    ASSERT_EQ_INT(vchan_encode_push(NOTE, 3, bang, blen, &msg, &len), YPROTO_OK);
    wlen = unhex("05 20 6131623263336434653566363037313832393361346235633664376538663930 03 0a"
                 " 01 01 02 00 84 01 01 01 21 00",
                 want, sizeof(want));
    ASSERT_EQ_MEM(msg, len, want, wlen);
    free(msg);

    ASSERT_EQ_INT(vchan_encode_error(2, VCHAN_ERR_BAD_INDEX, VAULT, "bad path", &msg, &len),
                  YPROTO_OK);
    wlen = unhex("07 02 04 20 3566306332613765396231643463336138653666306131623263336434653566"
                 " 08 62 61 64 20 70 61 74 68",
                 want, sizeof(want));
    ASSERT_EQ_MEM(msg, len, want, wlen);
    free(msg);
}
