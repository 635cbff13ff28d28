/*
 * yproto.c - the y-websocket wire protocol (see yproto.h for the grammar).
 *
 * Invariants: every read goes through get_varuint()/get_bytes(), which check
 * the remaining length first; encoders size their output exactly before
 * allocating it, so an encoder either returns a complete message or
 * YPROTO_ENOMEM with nothing allocated.
 */
#include "sync/yproto.h"

#include <stdlib.h>
#include <string.h>

const char *yproto_strerror(int err) {
    switch (err) {
    case YPROTO_OK: return "ok";
    case YPROTO_EMALFORMED: return "malformed message";
    case YPROTO_EUNKNOWN: return "unknown message type";
    case YPROTO_ETOOBIG: return "message too big";
    case YPROTO_ENOMEM: return "out of memory";
    default: return "unknown error";
    }
}

/* ---- varuints ------------------------------------------------------------ */

static size_t varuint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t yproto_put_varuint(uint8_t *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

int yproto_get_varuint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v) {
    uint64_t num = 0;
    unsigned shift = 0;
    size_t p = *pos;
    while (p < len) {
        uint8_t b = buf[p++];
        if (shift >= 56) return YPROTO_EMALFORMED; /* would not fit 53 bits */
        num |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (num > YPROTO_MAX_UINT) return YPROTO_EMALFORMED;
        if ((b & 0x80) == 0) {
            *pos = p;
            *v = num;
            return YPROTO_OK;
        }
    }
    return YPROTO_EMALFORMED; /* the bytes ended inside the number */
}

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

int yproto_utf8_valid(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n > len - i - 1) return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* ---- messages ------------------------------------------------------------ */

int yproto_decode(const uint8_t *buf, size_t len, size_t max_payload, ymsg *out) {
    size_t pos = 0;
    uint64_t type, sub = 0;
    ymsg m = {.sync_type = -1};
    int rc = yproto_get_varuint(buf, len, &pos, &type);
    if (rc != YPROTO_OK) return rc;
    switch (type) {
    case YMSG_SYNC:
        rc = yproto_get_varuint(buf, len, &pos, &sub);
        if (rc != YPROTO_OK) return rc;
        if (sub != YSYNC_STEP1 && sub != YSYNC_STEP2 && sub != YSYNC_UPDATE) return YPROTO_EUNKNOWN;
        m.sync_type = (int)sub;
        rc = get_bytes(buf, len, &pos, max_payload, &m.payload, &m.payload_len);
        break;
    case YMSG_AWARENESS:
        rc = get_bytes(buf, len, &pos, max_payload, &m.payload, &m.payload_len);
        break;
    case YMSG_AUTH:
        rc = yproto_get_varuint(buf, len, &pos, &m.auth_type);
        if (rc == YPROTO_OK)
            rc = get_bytes(buf, len, &pos, max_payload, &m.payload, &m.payload_len);
        if (rc == YPROTO_OK && !yproto_utf8_valid((const char *)m.payload, m.payload_len))
            rc = YPROTO_EMALFORMED;
        break;
    case YMSG_QUERY_AWARENESS: break;
    case YMSG_SAVED:
        rc = get_bytes(buf, len, &pos, max_payload, &m.payload, &m.payload_len);
        if (rc == YPROTO_OK) rc = yproto_state_vector_check(m.payload, m.payload_len);
        break;
    default: return YPROTO_EUNKNOWN;
    }
    if (rc != YPROTO_OK) return rc;
    if (pos != len) return YPROTO_EMALFORMED; /* trailing bytes */
    m.type = (int)type;
    *out = m;
    return YPROTO_OK;
}

/* Allocates a message of varuint(a) [varuint(b)] varbytes(payload). b < 0
 * leaves out the second number. */
static int encode_framed(uint64_t a, int64_t b, const uint8_t *payload, size_t len, uint8_t **out,
                         size_t *out_len) {
    if (len > YPROTO_MAX_UINT) return YPROTO_ETOOBIG;
    size_t total =
        varuint_len(a) + (b >= 0 ? varuint_len((uint64_t)b) : 0) + varuint_len(len) + len;
    uint8_t *m = malloc(total);
    if (m == NULL) return YPROTO_ENOMEM;
    size_t n = yproto_put_varuint(m, a);
    if (b >= 0) n += yproto_put_varuint(m + n, (uint64_t)b);
    n += yproto_put_varuint(m + n, len);
    if (len > 0) memcpy(m + n, payload, len);
    *out = m;
    *out_len = total;
    return YPROTO_OK;
}

int yproto_encode_sync(int sync_type, const uint8_t *payload, size_t len, uint8_t **out,
                       size_t *out_len) {
    if (sync_type != YSYNC_STEP1 && sync_type != YSYNC_STEP2 && sync_type != YSYNC_UPDATE)
        return YPROTO_EUNKNOWN;
    return encode_framed(YMSG_SYNC, sync_type, payload, len, out, out_len);
}

int yproto_encode_awareness(const uint8_t *update, size_t len, uint8_t **out, size_t *out_len) {
    return encode_framed(YMSG_AWARENESS, -1, update, len, out, out_len);
}

int yproto_encode_query_awareness(uint8_t **out, size_t *out_len) {
    uint8_t *m = malloc(1);
    if (m == NULL) return YPROTO_ENOMEM;
    m[0] = YMSG_QUERY_AWARENESS;
    *out = m;
    *out_len = 1;
    return YPROTO_OK;
}

int yproto_encode_permission_denied(const char *reason, uint8_t **out, size_t *out_len) {
    size_t len = strlen(reason);
    if (!yproto_utf8_valid(reason, len)) return YPROTO_EMALFORMED;
    return encode_framed(YMSG_AUTH, 0, (const uint8_t *)reason, len, out, out_len);
}

int yproto_encode_saved(const uint8_t *sv, size_t len, uint8_t **out, size_t *out_len) {
    if (yproto_state_vector_check(sv, len) != YPROTO_OK) return YPROTO_EMALFORMED;
    return encode_framed(YMSG_SAVED, -1, sv, len, out, out_len);
}

/* ---- awareness updates -------------------------------------------------- */

int yproto_awareness_decode(const uint8_t *buf, size_t len, size_t max_entries, size_t max_state,
                            yaware_entry **out, size_t *n) {
    size_t pos = 0;
    uint64_t count;
    yaware_entry *entries = NULL;
    int rc = yproto_get_varuint(buf, len, &pos, &count);
    if (rc != YPROTO_OK) return rc;
    if (count > max_entries) return YPROTO_ETOOBIG;
    /* Each entry takes at least 3 bytes: refuse a count the bytes cannot hold
     * before allocating for it. */
    if (count > (len - pos) / 3) return YPROTO_EMALFORMED;
    if (count > 0) {
        entries = calloc((size_t)count, sizeof(*entries));
        if (entries == NULL) return YPROTO_ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        const uint8_t *state;
        size_t state_len;
        rc = yproto_get_varuint(buf, len, &pos, &entries[i].client);
        if (rc == YPROTO_OK) rc = yproto_get_varuint(buf, len, &pos, &entries[i].clock);
        if (rc == YPROTO_OK) rc = get_bytes(buf, len, &pos, max_state, &state, &state_len);
        if (rc == YPROTO_OK && !yproto_utf8_valid((const char *)state, state_len))
            rc = YPROTO_EMALFORMED;
        if (rc != YPROTO_OK) goto fail;
        entries[i].state = (const char *)state;
        entries[i].state_len = state_len;
    }
    if (pos != len) {
        rc = YPROTO_EMALFORMED;
        goto fail;
    }
    *out = entries;
    *n = (size_t)count;
    return YPROTO_OK;
fail:
    free(entries);
    return rc;
}

int yproto_awareness_encode(const yaware_entry *entries, size_t n, uint8_t **out, size_t *out_len) {
    size_t total = varuint_len(n);
    for (size_t i = 0; i < n; i++) {
        if (entries[i].client > YPROTO_MAX_UINT || entries[i].clock > YPROTO_MAX_UINT)
            return YPROTO_ETOOBIG;
        total += varuint_len(entries[i].client) + varuint_len(entries[i].clock) +
                 varuint_len(entries[i].state_len) + entries[i].state_len;
    }
    uint8_t *m = malloc(total);
    if (m == NULL) return YPROTO_ENOMEM;
    size_t p = yproto_put_varuint(m, n);
    for (size_t i = 0; i < n; i++) {
        p += yproto_put_varuint(m + p, entries[i].client);
        p += yproto_put_varuint(m + p, entries[i].clock);
        p += yproto_put_varuint(m + p, entries[i].state_len);
        if (entries[i].state_len > 0) memcpy(m + p, entries[i].state, entries[i].state_len);
        p += entries[i].state_len;
    }
    *out = m;
    *out_len = total;
    return YPROTO_OK;
}

int yproto_state_vector_check(const uint8_t *sv, size_t len) {
    size_t pos = 0;
    uint64_t n, v;
    if (yproto_get_varuint(sv, len, &pos, &n) != YPROTO_OK) return YPROTO_EMALFORMED;
    if (n > (len - pos) / 2) return YPROTO_EMALFORMED; /* each pair takes 2 bytes at least */
    for (uint64_t i = 0; i < n; i++) {
        if (yproto_get_varuint(sv, len, &pos, &v) != YPROTO_OK ||
            yproto_get_varuint(sv, len, &pos, &v) != YPROTO_OK)
            return YPROTO_EMALFORMED;
    }
    return pos == len ? YPROTO_OK : YPROTO_EMALFORMED;
}
