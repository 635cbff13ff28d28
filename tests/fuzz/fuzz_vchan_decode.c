/*
 * fuzz_vchan_decode.c - the vault channel's message decoder (src/sync/vchan.h)
 * on untrusted bytes: the whole input is one message.
 *
 * Invariants: the decoder returns a known code and never reads outside the
 * input; a decoded message re-encodes (with the encoder of its type) to bytes
 * no longer than the input that decode to the same fields (the input may
 * spell a varuint with redundant bytes, which lib0 accepts too); a CHANGED
 * message yields exactly `count` entries; no leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/vchan.h"

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define MAX_PAYLOAD (1u << 20)

/* The reason of an ERROR as a NUL-terminated copy (NULL if it holds a NUL:
 * the encoder takes C strings, so such a message is not re-encoded). */
static char *reason_of(const vchan_msg *m) {
    if (memchr(m->payload, 0, m->payload_len) != NULL) return NULL;
    char *r = malloc(m->payload_len + 1);
    CHECK(r != NULL);
    memcpy(r, m->payload, m->payload_len);
    r[m->payload_len] = '\0';
    return r;
}

static int encode_again(const vchan_msg *m, uint8_t **out, size_t *len) {
    switch (m->type) {
    case VCHAN_HELLO: return vchan_encode_hello(m->since, out, len);
    case VCHAN_STEP1: return vchan_encode_step1(m->doc, m->payload, m->payload_len, out, len);
    case VCHAN_STEP2: return vchan_encode_step2(m->doc, m->payload, m->payload_len, out, len);
    case VCHAN_UPDATE:
        return vchan_encode_update(m->doc, m->ref, m->payload, m->payload_len, out, len);
    case VCHAN_PUSH: return vchan_encode_push(m->doc, m->seq, m->payload, m->payload_len, out, len);
    case VCHAN_ACK: return vchan_encode_ack(m->ref, m->seq, out, len);
    case VCHAN_ERROR: {
        char *r = reason_of(m);
        if (r == NULL) return -100;
        int rc = vchan_encode_error(m->ref, m->code, m->doc, r, out, len);
        free(r);
        return rc;
    }
    case VCHAN_CHANGED: {
        vchan_change *ch = calloc(m->count > 0 ? (size_t)m->count : 1, sizeof(*ch));
        CHECK(ch != NULL);
        size_t pos = 0;
        for (uint64_t i = 0; i < m->count; i++) CHECK(vchan_changed_next(m, &pos, &ch[i]) == 0);
        CHECK(pos == m->payload_len);
        vchan_change extra;
        CHECK(vchan_changed_next(m, &pos, &extra) == YPROTO_EMALFORMED);
        int rc = vchan_encode_changed(m->seq, ch, (size_t)m->count, out, len);
        free(ch);
        return rc;
    }
    }
    CHECK(0);
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The entries of two CHANGED messages are equal. */
static void same_entries(const vchan_msg *a, const vchan_msg *b) {
    size_t pa = 0, pb = 0;
    for (uint64_t i = 0; i < a->count; i++) {
        vchan_change x, y;
        CHECK(vchan_changed_next(a, &pa, &x) == YPROTO_OK);
        CHECK(vchan_changed_next(b, &pb, &y) == YPROTO_OK);
        CHECK(strcmp(x.doc, y.doc) == 0 && x.seq == y.seq);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vchan_msg m;
    int rc = vchan_decode(data, size, MAX_PAYLOAD, &m);
    CHECK(rc == YPROTO_OK || rc == YPROTO_EMALFORMED || rc == YPROTO_EUNKNOWN ||
          rc == YPROTO_ETOOBIG);
    if (rc != YPROTO_OK) return 0;
    uint8_t *again = NULL;
    size_t alen = 0;
    rc = encode_again(&m, &again, &alen);
    if (rc == -100) return 0;
    CHECK(rc == YPROTO_OK);
    CHECK(alen <= size);
    vchan_msg m2;
    CHECK(vchan_decode(again, alen, MAX_PAYLOAD, &m2) == YPROTO_OK);
    CHECK(m2.type == m.type && strcmp(m2.doc, m.doc) == 0 && m2.since == m.since &&
          m2.seq == m.seq && m2.ref == m.ref && m2.code == m.code && m2.count == m.count);
    if (m.type == VCHAN_CHANGED) {
        same_entries(&m, &m2); /* the entries' bytes may shrink: compare what they say */
    } else {
        CHECK(m2.payload_len == m.payload_len);
        if (m.payload_len > 0) CHECK(memcmp(m2.payload, m.payload, m.payload_len) == 0);
    }
    free(again);
    return 0;
}
