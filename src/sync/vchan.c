/*
 * vchan.c - the vault channel's wire protocol (see vchan.h for the grammar).
 *
 * Invariants: every read goes through yproto_get_varuint() or get_bytes(),
 * which check the remaining length first; every encoder describes its
 * message as a list of fields, sizes it exactly, then allocates once.
 */
#include "sync/vchan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int vchan_doc_ok(const char *s) {
    if (s == NULL) return 0;
    for (int i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[32] == '\0';
}

/* ---- decoding ------------------------------------------------------------ */

/* Reads varbytes at *pos: a length, then that many bytes, borrowed. */
static int get_bytes(const uint8_t *buf, size_t len, size_t *pos, size_t max, const uint8_t **out,
                     size_t *out_len) {
    size_t p = *pos;
    uint64_t n;
    int rc = yproto_get_varuint(buf, len, &p, &n);
    if (rc != YPROTO_OK) return rc;
    if (n > len - p) return YPROTO_EMALFORMED; /* claims more than remains */
    if (n > max) return YPROTO_ETOOBIG;
    *out = buf + p;
    *out_len = (size_t)n;
    *pos = p + (size_t)n;
    return YPROTO_OK;
}

/* Reads a varstring that must be a document id into doc. */
static int get_doc(const uint8_t *buf, size_t len, size_t *pos, char doc[33]) {
    const uint8_t *p;
    size_t n;
    int rc = get_bytes(buf, len, pos, 32, &p, &n);
    if (rc == YPROTO_ETOOBIG || (rc == YPROTO_OK && n != 32)) return YPROTO_EMALFORMED;
    if (rc != YPROTO_OK) return rc;
    memcpy(doc, p, 32);
    doc[32] = '\0';
    return vchan_doc_ok(doc) ? YPROTO_OK : YPROTO_EMALFORMED;
}

static int get_ref(const uint8_t *buf, size_t len, size_t *pos, uint64_t *ref) {
    int rc = yproto_get_varuint(buf, len, pos, ref);
    if (rc == YPROTO_OK && *ref == 0) return YPROTO_EMALFORMED;
    return rc;
}

int vchan_changed_next(const vchan_msg *m, size_t *pos, vchan_change *out) {
    if (m->type != VCHAN_CHANGED) return YPROTO_EMALFORMED;
    size_t p = *pos;
    vchan_change c;
    int rc = get_doc(m->payload, m->payload_len, &p, c.doc);
    if (rc == YPROTO_OK) rc = yproto_get_varuint(m->payload, m->payload_len, &p, &c.seq);
    if (rc != YPROTO_OK) return rc;
    *pos = p;
    *out = c;
    return YPROTO_OK;
}

int vchan_decode(const uint8_t *buf, size_t len, size_t max_payload, vchan_msg *out) {
    size_t pos = 0;
    uint64_t type;
    vchan_msg m;
    memset(&m, 0, sizeof(m));
    int rc = yproto_get_varuint(buf, len, &pos, &type);
    if (rc != YPROTO_OK) return rc;
    switch (type) {
    case VCHAN_HELLO: rc = yproto_get_varuint(buf, len, &pos, &m.since); break;
    case VCHAN_CHANGED: {
        rc = yproto_get_varuint(buf, len, &pos, &m.seq);
        if (rc == YPROTO_OK) rc = yproto_get_varuint(buf, len, &pos, &m.count);
        if (rc != YPROTO_OK) break;
        /* Refuse a count the bytes cannot hold before walking the entries. */
        if (m.count > (len - pos) / VCHAN_CHANGED_ENTRY_MIN) {
            rc = YPROTO_EMALFORMED;
            break;
        }
        m.type = VCHAN_CHANGED;
        m.payload = buf + pos;
        m.payload_len = len - pos;
        size_t p = 0;
        vchan_change c;
        for (uint64_t i = 0; i < m.count && rc == YPROTO_OK; i++)
            rc = vchan_changed_next(&m, &p, &c);
        pos += p;
        break;
    }
    case VCHAN_STEP1:
    case VCHAN_STEP2:
        rc = get_doc(buf, len, &pos, m.doc);
        if (rc == YPROTO_OK)
            rc = get_bytes(buf, len, &pos, max_payload, &m.payload, &m.payload_len);
        break;
    case VCHAN_UPDATE:
        rc = get_doc(buf, len, &pos, m.doc);
        if (rc == YPROTO_OK) rc = get_ref(buf, len, &pos, &m.ref);
        if (rc == YPROTO_OK)
            rc = get_bytes(buf, len, &pos, max_payload, &m.payload, &m.payload_len);
        break;
    case VCHAN_PUSH:
        rc = get_doc(buf, len, &pos, m.doc);
        if (rc == YPROTO_OK) rc = yproto_get_varuint(buf, len, &pos, &m.seq);
        if (rc == YPROTO_OK)
            rc = get_bytes(buf, len, &pos, max_payload, &m.payload, &m.payload_len);
        break;
    case VCHAN_ACK:
        rc = get_ref(buf, len, &pos, &m.ref);
        if (rc == YPROTO_OK) rc = yproto_get_varuint(buf, len, &pos, &m.seq);
        break;
    case VCHAN_ERROR:
        rc = get_ref(buf, len, &pos, &m.ref);
        if (rc == YPROTO_OK) rc = yproto_get_varuint(buf, len, &pos, &m.code);
        if (rc == YPROTO_OK) rc = get_doc(buf, len, &pos, m.doc);
        if (rc == YPROTO_OK)
            rc = get_bytes(buf, len, &pos, max_payload, &m.payload, &m.payload_len);
        if (rc == YPROTO_OK && !yproto_utf8_valid((const char *)m.payload, m.payload_len))
            rc = YPROTO_EMALFORMED;
        break;
    default: return YPROTO_EUNKNOWN;
    }
    if (rc != YPROTO_OK) return rc;
    if (pos != len) return YPROTO_EMALFORMED; /* trailing bytes */
    m.type = (int)type;
    *out = m;
    return YPROTO_OK;
}

/* ---- encoding ------------------------------------------------------------ */

/* One field of a message: a varuint, or varbytes (a varstring is varbytes). */
typedef struct {
    bool bytes;
    uint64_t num;
    const uint8_t *ptr;
    size_t len;
} field;

#define F_UINT(v)     ((field){false, (uint64_t)(v), NULL, 0})
#define F_BYTES(p, n) ((field){true, 0, (const uint8_t *)(p), (n)})
#define F_DOC(d)      F_BYTES((d), 32)

static size_t varuint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Encodes the fields in order. Sizes first: on error nothing is allocated. */
static int encode(const field *f, size_t n, uint8_t **out, size_t *out_len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = f[i].bytes ? (uint64_t)f[i].len : f[i].num;
        if (v > YPROTO_MAX_UINT) return YPROTO_ETOOBIG;
        total += varuint_len(v) + (f[i].bytes ? f[i].len : 0);
    }
    uint8_t *m = malloc(total);
    if (m == NULL) return YPROTO_ENOMEM;
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        if (!f[i].bytes) {
            p += yproto_put_varuint(m + p, f[i].num);
            continue;
        }
        p += yproto_put_varuint(m + p, f[i].len);
        if (f[i].len > 0) memcpy(m + p, f[i].ptr, f[i].len);
        p += f[i].len;
    }
    *out = m;
    *out_len = total;
    return YPROTO_OK;
}

#define ENCODE(...)                                                                 \
    do {                                                                            \
        const field fields_[] = {__VA_ARGS__};                                      \
        return encode(fields_, sizeof(fields_) / sizeof(fields_[0]), out, out_len); \
    } while (0)

int vchan_encode_hello(uint64_t since, uint8_t **out, size_t *out_len) {
    ENCODE(F_UINT(VCHAN_HELLO), F_UINT(since));
}

int vchan_encode_changed(uint64_t seq, const vchan_change *changes, size_t n, uint8_t **out,
                         size_t *out_len) {
    if (seq > YPROTO_MAX_UINT) return YPROTO_ETOOBIG;
    size_t total = 1 + varuint_len(seq) + varuint_len(n);
    for (size_t i = 0; i < n; i++) {
        if (!vchan_doc_ok(changes[i].doc)) return YPROTO_EMALFORMED;
        if (changes[i].seq > YPROTO_MAX_UINT) return YPROTO_ETOOBIG;
        total += 1 + 32 + varuint_len(changes[i].seq);
    }
    uint8_t *m = malloc(total);
    if (m == NULL) return YPROTO_ENOMEM;
    size_t p = yproto_put_varuint(m, VCHAN_CHANGED);
    p += yproto_put_varuint(m + p, seq);
    p += yproto_put_varuint(m + p, n);
    for (size_t i = 0; i < n; i++) {
        m[p++] = 32;
        memcpy(m + p, changes[i].doc, 32);
        p += 32;
        p += yproto_put_varuint(m + p, changes[i].seq);
    }
    *out = m;
    *out_len = total;
    return YPROTO_OK;
}

int vchan_encode_step1(const char *doc, const uint8_t *sv, size_t len, uint8_t **out,
                       size_t *out_len) {
    if (!vchan_doc_ok(doc)) return YPROTO_EMALFORMED;
    ENCODE(F_UINT(VCHAN_STEP1), F_DOC(doc), F_BYTES(sv, len));
}

int vchan_encode_step2(const char *doc, const uint8_t *update, size_t len, uint8_t **out,
                       size_t *out_len) {
    if (!vchan_doc_ok(doc)) return YPROTO_EMALFORMED;
    ENCODE(F_UINT(VCHAN_STEP2), F_DOC(doc), F_BYTES(update, len));
}

int vchan_encode_update(const char *doc, uint64_t ref, const uint8_t *update, size_t len,
                        uint8_t **out, size_t *out_len) {
    if (!vchan_doc_ok(doc) || ref == 0) return YPROTO_EMALFORMED;
    ENCODE(F_UINT(VCHAN_UPDATE), F_DOC(doc), F_UINT(ref), F_BYTES(update, len));
}

int vchan_encode_push(const char *doc, uint64_t seq, const uint8_t *update, size_t len,
                      uint8_t **out, size_t *out_len) {
    if (!vchan_doc_ok(doc)) return YPROTO_EMALFORMED;
    ENCODE(F_UINT(VCHAN_PUSH), F_DOC(doc), F_UINT(seq), F_BYTES(update, len));
}

int vchan_encode_ack(uint64_t ref, uint64_t seq, uint8_t **out, size_t *out_len) {
    if (ref == 0) return YPROTO_EMALFORMED;
    ENCODE(F_UINT(VCHAN_ACK), F_UINT(ref), F_UINT(seq));
}

int vchan_encode_error(uint64_t ref, uint64_t code, const char *doc, const char *reason,
                       uint8_t **out, size_t *out_len) {
    size_t rlen = reason != NULL ? strlen(reason) : 0;
    if (ref == 0 || !vchan_doc_ok(doc) || !yproto_utf8_valid(reason ? reason : "", rlen))
        return YPROTO_EMALFORMED;
    ENCODE(F_UINT(VCHAN_ERROR), F_UINT(ref), F_UINT(code), F_DOC(doc), F_BYTES(reason, rlen));
}
