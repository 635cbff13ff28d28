/*
 * fuzz_yproto_decode.c - libFuzzer target for the y-websocket message decoder
 * (src/sync/yproto.c): yproto_decode, yproto_awareness_decode,
 * yproto_state_vector_check, yproto_get_varuint and the encoders they pair
 * with.
 *
 * Input: the whole input is one WebSocket message, as a client would send it.
 * Invariants:
 *  - every call returns YPROTO_OK or an error code, a failed decode leaves
 *    its out-parameter untouched, and nothing leaks;
 *  - a decoded payload lies inside the input; a smaller payload limit can
 *    only turn success into YPROTO_ETOOBIG, never change what is decoded;
 *  - re-encoding a decoded message with the matching encoder gives a message
 *    no longer than the input (encoders write minimal varuints) that decodes
 *    to the same fields; the same holds for awareness updates (entries),
 *    saved messages (state vectors) and varuints;
 *  - decoded awareness states are valid UTF-8 inside the payload, at most the
 *    given count and size.
 */
#include "fuzz_common.h"
#include "sync/yproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int known_error(int rc) {
    return rc == YPROTO_EMALFORMED || rc == YPROTO_EUNKNOWN || rc == YPROTO_ETOOBIG;
}

static void same_message(const ymsg *a, const ymsg *b) {
    FUZZ_CHECK(a->type == b->type);
    FUZZ_CHECK(a->sync_type == b->sync_type);
    FUZZ_CHECK(a->payload_len == b->payload_len);
    FUZZ_CHECK(a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
    FUZZ_CHECK(a->type != YMSG_AUTH || a->auth_type == b->auth_type);
}

/* Re-encodes m; NULL when the message has no encoder for these fields. */
static int reencode(const ymsg *m, uint8_t **out, size_t *len) {
    switch (m->type) {
    case YMSG_SYNC: return yproto_encode_sync(m->sync_type, m->payload, m->payload_len, out, len);
    case YMSG_AWARENESS: return yproto_encode_awareness(m->payload, m->payload_len, out, len);
    case YMSG_QUERY_AWARENESS: return yproto_encode_query_awareness(out, len);
    case YMSG_SAVED: return yproto_encode_saved(m->payload, m->payload_len, out, len);
    case YMSG_AUTH: {
        /* The encoder takes a C string and writes auth type 0 only. */
        if (m->auth_type != 0 || memchr(m->payload, 0, m->payload_len) != NULL) return 1;
        char *reason = malloc(m->payload_len + 1);
        FUZZ_CHECK(reason != NULL);
        memcpy(reason, m->payload, m->payload_len);
        reason[m->payload_len] = '\0';
        int rc = yproto_encode_permission_denied(reason, out, len);
        free(reason);
        return rc;
    }
    }
    FUZZ_CHECK(!"decoded an unknown message type");
    return 1;
}

static void check_awareness(const uint8_t *buf, size_t len) {
    yaware_entry *e = NULL;
    size_t n = 7;
    int rc = yproto_awareness_decode(buf, len, 64, 1024, &e, &n);
    FUZZ_CHECK(rc == YPROTO_OK || known_error(rc));
    if (rc != YPROTO_OK) {
        FUZZ_CHECK(e == NULL && n == 7);
        return;
    }
    FUZZ_CHECK(n <= 64);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(e[i].state_len <= 1024);
        FUZZ_CHECK(e[i].state_len == 0 ||
                   ((const uint8_t *)e[i].state >= buf &&
                    (const uint8_t *)e[i].state + e[i].state_len <= buf + len));
        FUZZ_CHECK(yproto_utf8_valid(e[i].state, e[i].state_len));
        FUZZ_CHECK(e[i].client <= YPROTO_MAX_UINT && e[i].clock <= YPROTO_MAX_UINT);
    }
    uint8_t *enc = NULL;
    size_t elen = 0;
    FUZZ_CHECK(yproto_awareness_encode(e, n, &enc, &elen) == YPROTO_OK);
    FUZZ_CHECK(elen <= len);
    yaware_entry *e2 = NULL;
    size_t n2 = 0;
    FUZZ_CHECK(yproto_awareness_decode(enc, elen, 64, 1024, &e2, &n2) == YPROTO_OK);
    FUZZ_CHECK(n2 == n);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(e2[i].client == e[i].client && e2[i].clock == e[i].clock);
        FUZZ_CHECK(e2[i].state_len == e[i].state_len);
        FUZZ_CHECK(e[i].state_len == 0 || memcmp(e2[i].state, e[i].state, e[i].state_len) == 0);
    }
    free(e2);
    free(enc);
    free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A varuint at the front: in range, and it round-trips. */
    size_t pos = 0;
    uint64_t v = 0;
    if (yproto_get_varuint(data, size, &pos, &v) == YPROTO_OK) {
        FUZZ_CHECK(v <= YPROTO_MAX_UINT && pos >= 1 && pos <= size);
        uint8_t buf[YPROTO_VARUINT_MAX_LEN];
        size_t n = yproto_put_varuint(buf, v), p2 = 0;
        uint64_t v2 = 0;
        FUZZ_CHECK(n <= pos && n <= sizeof(buf));
        FUZZ_CHECK(yproto_get_varuint(buf, n, &p2, &v2) == YPROTO_OK && v2 == v && p2 == n);
    } else {
        FUZZ_CHECK(pos == 0);
    }

    ymsg m = {.type = 99};
    int rc = yproto_decode(data, size, SIZE_MAX, &m);
    FUZZ_CHECK(rc == YPROTO_OK || rc == YPROTO_EMALFORMED || rc == YPROTO_EUNKNOWN);
    ymsg small = {.type = 99};
    int rc2 = yproto_decode(data, size, size / 2, &small);
    FUZZ_CHECK(rc2 == YPROTO_OK || known_error(rc2));
    if (rc2 == YPROTO_OK) {
        FUZZ_CHECK(rc == YPROTO_OK);
        same_message(&m, &small);
        FUZZ_CHECK(small.payload_len <= size / 2);
    } else {
        FUZZ_CHECK(small.type == 99);
        if (rc == YPROTO_OK) FUZZ_CHECK(rc2 == YPROTO_ETOOBIG);
    }
    if (rc != YPROTO_OK) {
        FUZZ_CHECK(m.type == 99);
        return 0;
    }
    FUZZ_CHECK(m.payload_len == 0 ||
               (m.payload >= data && m.payload + m.payload_len <= data + size));
    FUZZ_CHECK((m.type == YMSG_SYNC) == (m.sync_type >= 0));

    switch (m.type) {
    case YMSG_SYNC:
        if (m.sync_type == YSYNC_STEP1) (void)yproto_state_vector_check(m.payload, m.payload_len);
        break;
    case YMSG_AWARENESS: check_awareness(m.payload, m.payload_len); break;
    case YMSG_AUTH: FUZZ_CHECK(yproto_utf8_valid((const char *)m.payload, m.payload_len)); break;
    case YMSG_SAVED:
        FUZZ_CHECK(yproto_state_vector_check(m.payload, m.payload_len) == YPROTO_OK);
        break;
    default: break;
    }

    uint8_t *enc = NULL;
    size_t elen = 0;
    int erc = reencode(&m, &enc, &elen);
    if (erc == 1) return 0; /* no encoder for these fields */
    FUZZ_CHECK(erc == YPROTO_OK);
    FUZZ_CHECK(elen <= size);
    ymsg again;
    FUZZ_CHECK(yproto_decode(enc, elen, SIZE_MAX, &again) == YPROTO_OK);
    same_message(&m, &again);
    free(enc);
    return 0;
}
