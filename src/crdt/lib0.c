/*
 * lib0.c - lib0 binary encoding: capped write buffer, bounded reader, Any
 * values, UTF-8 helpers. See lib0.h for the invariants.
 */
#include "lib0.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- write buffer ------------------------------------------------------ */

void ybuf_init(ybuf *b, size_t limit) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
    b->err = Y_OK;
}

void ybuf_release(ybuf *b) {
    yfree(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Latches an error: the buffer gives up its bytes and refuses more. */
static int ybuf_fail(ybuf *b, int err) {
    ybuf_release(b);
    b->err = err;
    return err;
}

int ybuf_detach(ybuf *b, uint8_t **out, size_t *len) {
    if (b->err) return b->err;
    if (!b->data) {
        b->data = ymalloc(1);
        if (!b->data) return ybuf_fail(b, Y_ERR_NOMEM);
    }
    *out = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return Y_OK;
}

int ybuf_reserve(ybuf *b, size_t extra) {
    if (b->err) return b->err;
    if (extra <= b->cap - b->len) return Y_OK;
    if (extra > b->limit - b->len) return ybuf_fail(b, Y_ERR_LIMIT);
    size_t need = b->len + extra;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need) ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > b->limit) ncap = b->limit;
    uint8_t *nd = yrealloc(b->data, ncap);
    if (!nd) return ybuf_fail(b, Y_ERR_NOMEM);
    b->data = nd;
    b->cap = ncap;
    return Y_OK;
}

int ybuf_put(ybuf *b, const void *p, size_t n) {
    int rc = ybuf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return Y_OK;
}

int ybuf_u8(ybuf *b, uint8_t v) {
    if (!b->err && b->len < b->cap) {
        b->data[b->len++] = v;
        return Y_OK;
    }
    return ybuf_put(b, &v, 1);
}

int ybuf_varuint_slow(ybuf *b, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    while (v > 0x7f) {
        tmp[n++] = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return ybuf_put(b, tmp, n);
}

int ybuf_varint_sm(ybuf *b, bool negative, uint64_t mag) {
    uint8_t tmp[11];
    size_t n = 0;
    tmp[n++] = (uint8_t)((mag > 0x3f ? 0x80 : 0) | (negative ? 0x40 : 0) | (mag & 0x3f));
    mag >>= 6;
    while (mag > 0) {
        tmp[n++] = (uint8_t)((mag > 0x7f ? 0x80 : 0) | (mag & 0x7f));
        mag >>= 7;
    }
    return ybuf_put(b, tmp, n);
}

int ybuf_varint(ybuf *b, int64_t v) {
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    return ybuf_varint_sm(b, v < 0, mag);
}

int ybuf_varstring(ybuf *b, const char *s, size_t n) {
    int rc = ybuf_varuint(b, n);
    if (rc) return rc;
    return ybuf_put(b, s, n);
}

int ybuf_varbytes(ybuf *b, const uint8_t *p, size_t n) {
    int rc = ybuf_varuint(b, n);
    if (rc) return rc;
    return ybuf_put(b, p, n);
}

static int ybuf_be64(ybuf *b, uint64_t u) {
    uint8_t tmp[8];
    for (int i = 0; i < 8; i++) tmp[i] = (uint8_t)(u >> (56 - 8 * i));
    return ybuf_put(b, tmp, 8);
}

int ybuf_f32(ybuf *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t tmp[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    return ybuf_put(b, tmp, 4);
}

int ybuf_f64(ybuf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    return ybuf_be64(b, u);
}

int ybuf_i64(ybuf *b, int64_t v) { return ybuf_be64(b, (uint64_t)v); }

/* lib0's number encoding choice: 31-bit integers as varint, then float32
 * when the value survives the round trip, else float64. */
static int ybuf_number(ybuf *b, double x) {
    if (isfinite(x) && floor(x) == x && fabs(x) <= 2147483647.0) {
        ybuf_u8(b, YANY_TAG_INT);
        uint64_t mag = (uint64_t)fabs(x);
        return ybuf_varint_sm(b, signbit(x) != 0, mag);
    }
    bool fits32 = isinf(x) || (!isnan(x) && fabs(x) <= (double)FLT_MAX);
    if (fits32 && (double)(float)x == x) {
        ybuf_u8(b, YANY_TAG_FLOAT32);
        return ybuf_f32(b, (float)x);
    }
    ybuf_u8(b, YANY_TAG_FLOAT64);
    return ybuf_f64(b, x);
}

static int ybuf_any_depth(ybuf *b, const yany *v, int depth) {
    if (depth > YANY_MAX_DEPTH) return ybuf_fail(b, Y_ERR_LIMIT);
    switch (v->kind) {
    case YANY_UNDEFINED:
        return ybuf_u8(b, YANY_TAG_UNDEFINED);
    case YANY_NULL:
        return ybuf_u8(b, YANY_TAG_NULL);
    case YANY_BOOL:
        return ybuf_u8(b, v->u.b ? YANY_TAG_TRUE : YANY_TAG_FALSE);
    case YANY_NUMBER:
        return ybuf_number(b, v->u.num);
    case YANY_BIGINT:
        ybuf_u8(b, YANY_TAG_BIGINT);
        return ybuf_i64(b, v->u.bigint);
    case YANY_STRING:
        ybuf_u8(b, YANY_TAG_STRING);
        return ybuf_varstring(b, v->u.str.ptr, v->u.str.len);
    case YANY_BINARY:
        ybuf_u8(b, YANY_TAG_BINARY);
        return ybuf_varbytes(b, v->u.bin.ptr, v->u.bin.len);
    case YANY_ARRAY:
        ybuf_u8(b, YANY_TAG_ARRAY);
        ybuf_varuint(b, v->u.arr.len);
        for (size_t i = 0; i < v->u.arr.len; i++) {
            int rc = ybuf_any_depth(b, &v->u.arr.items[i], depth + 1);
            if (rc) return rc;
        }
        return b->err;
    case YANY_OBJECT:
        ybuf_u8(b, YANY_TAG_OBJECT);
        ybuf_varuint(b, v->u.obj.len);
        for (size_t i = 0; i < v->u.obj.len; i++) {
            const char *k = v->u.obj.entries[i].key;
            ybuf_varstring(b, k, strlen(k));
            int rc = ybuf_any_depth(b, &v->u.obj.entries[i].value, depth + 1);
            if (rc) return rc;
        }
        return b->err;
    }
    return ybuf_fail(b, Y_ERR_INVALID);
}

int ybuf_any(ybuf *b, const yany *v) { return ybuf_any_depth(b, v, 0); }

/* ---- bounded reader ---------------------------------------------------- */

void yreader_init(yreader *r, const uint8_t *p, size_t len) {
    r->p = p;
    r->len = len;
    r->pos = 0;
}

int yread_u8(yreader *r, uint8_t *out) {
    if (r->pos >= r->len) return Y_ERR_MALFORMED;
    *out = r->p[r->pos++];
    return Y_OK;
}

int yread_varuint(yreader *r, uint64_t *out) {
    uint64_t num = 0;
    unsigned shift = 0;
    while (r->pos < r->len) {
        uint8_t c = r->p[r->pos++];
        /* lib0 reads any number of continuation bytes; only the value counts */
        if (shift > 56) {
            if (c & 0x7f) return Y_ERR_MALFORMED;
        } else {
            num |= (uint64_t)(c & 0x7f) << shift;
        }
        if (num > YLIB0_MAX_SAFE_INT) return Y_ERR_MALFORMED;
        if (c < 0x80) {
            *out = num;
            return Y_OK;
        }
        if (shift <= 56) shift += 7;
    }
    return Y_ERR_MALFORMED;
}

int yread_varint(yreader *r, double *out) {
    uint8_t c;
    if (yread_u8(r, &c)) return Y_ERR_MALFORMED;
    bool neg = (c & 0x40) != 0;
    uint64_t num = c & 0x3f;
    unsigned shift = 6;
    while (c & 0x80) {
        if (yread_u8(r, &c)) return Y_ERR_MALFORMED;
        if (shift > 56) {
            if (c & 0x7f) return Y_ERR_MALFORMED;
        } else {
            num |= (uint64_t)(c & 0x7f) << shift;
        }
        if (num > YLIB0_MAX_SAFE_INT) return Y_ERR_MALFORMED;
        if (shift <= 56) shift += 7;
    }
    double d = (double)num;
    *out = neg ? -d : d;
    return Y_OK;
}

int yread_bytes(yreader *r, size_t n, const uint8_t **out) {
    if (n > yreader_left(r)) return Y_ERR_MALFORMED;
    *out = r->p + r->pos;
    r->pos += n;
    return Y_OK;
}

int yread_varbytes(yreader *r, const uint8_t **p, size_t *n) {
    uint64_t len;
    if (yread_varuint(r, &len)) return Y_ERR_MALFORMED;
    if (len > yreader_left(r)) return Y_ERR_MALFORMED;
    *n = (size_t)len;
    return yread_bytes(r, (size_t)len, p);
}

int yread_varstring(yreader *r, const char **s, size_t *n) {
    const uint8_t *p;
    int rc = yread_varbytes(r, &p, n);
    if (rc) return rc;
    *s = (const char *)p;
    return Y_OK;
}

int yread_utf8_dup(yreader *r, char **out, size_t *n) {
    const char *s;
    size_t len;
    if (yread_varstring(r, &s, &len) || !yutf8_valid(s, len)) return Y_ERR_MALFORMED;
    char *c = ystrndup(s, len);
    if (!c) return Y_ERR_NOMEM;
    *out = c;
    if (n) *n = len;
    return Y_OK;
}

static int yread_be64(yreader *r, uint64_t *out) {
    const uint8_t *p;
    if (yread_bytes(r, 8, &p)) return Y_ERR_MALFORMED;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = (u << 8) | p[i];
    *out = u;
    return Y_OK;
}

int yread_f32(yreader *r, float *out) {
    const uint8_t *p;
    if (yread_bytes(r, 4, &p)) return Y_ERR_MALFORMED;
    uint32_t u = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    memcpy(out, &u, 4);
    return Y_OK;
}

int yread_f64(yreader *r, double *out) {
    uint64_t u;
    if (yread_be64(r, &u)) return Y_ERR_MALFORMED;
    memcpy(out, &u, 8);
    return Y_OK;
}

int yread_i64(yreader *r, int64_t *out) {
    uint64_t u;
    if (yread_be64(r, &u)) return Y_ERR_MALFORMED;
    memcpy(out, &u, 8);
    return Y_OK;
}

/* Casts a const pointer held in a yany back to the mutable block the owned
 * tree allocated (the public struct exposes read-only views). */
static void *unconst(const void *p) { return (void *)(uintptr_t)p; }

void yany_release(yany *v) {
    switch (v->kind) {
    case YANY_STRING:
        yfree(unconst(v->u.str.ptr));
        break;
    case YANY_BINARY:
        yfree(unconst(v->u.bin.ptr));
        break;
    case YANY_ARRAY: {
        yany *items = unconst(v->u.arr.items);
        for (size_t i = 0; i < v->u.arr.len; i++) yany_release(&items[i]);
        yfree(items);
        break;
    }
    case YANY_OBJECT: {
        yany_entry *es = unconst(v->u.obj.entries);
        for (size_t i = 0; i < v->u.obj.len; i++) {
            yfree(unconst(es[i].key));
            yany_release(&es[i].value);
        }
        yfree(es);
        break;
    }
    default:
        break;
    }
    v->kind = YANY_UNDEFINED;
}

static int yread_any_depth(yreader *r, yany *out, int depth, bool alloc) {
    uint8_t tag;
    int rc;
    out->kind = YANY_UNDEFINED;
    if (depth > YANY_MAX_DEPTH) return Y_ERR_MALFORMED;
    if (yread_u8(r, &tag)) return Y_ERR_MALFORMED;
    switch (tag) {
    case YANY_TAG_UNDEFINED:
        return Y_OK;
    case YANY_TAG_NULL:
        out->kind = YANY_NULL;
        return Y_OK;
    case YANY_TAG_INT: {
        double d;
        if (yread_varint(r, &d)) return Y_ERR_MALFORMED;
        out->kind = YANY_NUMBER;
        out->u.num = d;
        return Y_OK;
    }
    case YANY_TAG_FLOAT32: {
        float f;
        if (yread_f32(r, &f)) return Y_ERR_MALFORMED;
        out->kind = YANY_NUMBER;
        out->u.num = (double)f;
        return Y_OK;
    }
    case YANY_TAG_FLOAT64: {
        double d;
        if (yread_f64(r, &d)) return Y_ERR_MALFORMED;
        out->kind = YANY_NUMBER;
        out->u.num = d;
        return Y_OK;
    }
    case YANY_TAG_BIGINT: {
        int64_t v;
        if (yread_i64(r, &v)) return Y_ERR_MALFORMED;
        out->kind = YANY_BIGINT;
        out->u.bigint = v;
        return Y_OK;
    }
    case YANY_TAG_FALSE:
    case YANY_TAG_TRUE:
        out->kind = YANY_BOOL;
        out->u.b = tag == YANY_TAG_TRUE;
        return Y_OK;
    case YANY_TAG_STRING: {
        const char *s;
        size_t n;
        if (yread_varstring(r, &s, &n) || !yutf8_valid(s, n)) return Y_ERR_MALFORMED;
        if (alloc) {
            char *c = ystrndup(s, n);
            if (!c) return Y_ERR_NOMEM;
            out->u.str.ptr = c;
            out->u.str.len = n;
        }
        out->kind = YANY_STRING;
        return Y_OK;
    }
    case YANY_TAG_BINARY: {
        const uint8_t *p;
        size_t n;
        if (yread_varbytes(r, &p, &n)) return Y_ERR_MALFORMED;
        if (alloc) {
            uint8_t *c = ymalloc(n ? n : 1);
            if (!c) return Y_ERR_NOMEM;
            if (n) memcpy(c, p, n);
            out->u.bin.ptr = c;
            out->u.bin.len = n;
        }
        out->kind = YANY_BINARY;
        return Y_OK;
    }
    case YANY_TAG_ARRAY: {
        uint64_t n;
        if (yread_varuint(r, &n)) return Y_ERR_MALFORMED;
        if (n > yreader_left(r)) return Y_ERR_MALFORMED; /* each item takes >= 1 byte */
        yany *items = NULL;
        if (alloc) {
            items = ycalloc(n ? (size_t)n : 1, sizeof *items);
            if (!items) return Y_ERR_NOMEM;
            out->kind = YANY_ARRAY;
            out->u.arr.items = items;
            out->u.arr.len = 0;
        }
        for (uint64_t i = 0; i < n; i++) {
            yany tmp;
            rc = yread_any_depth(r, alloc ? &items[i] : &tmp, depth + 1, alloc);
            if (rc) {
                if (alloc) yany_release(out);
                return rc;
            }
            if (alloc) out->u.arr.len++;
        }
        out->kind = YANY_ARRAY;
        if (!alloc) out->u.arr.len = (size_t)n;
        return Y_OK;
    }
    case YANY_TAG_OBJECT: {
        uint64_t n;
        if (yread_varuint(r, &n)) return Y_ERR_MALFORMED;
        if (n > yreader_left(r) / 2) return Y_ERR_MALFORMED; /* key length + tag */
        yany_entry *es = NULL;
        if (alloc) {
            es = ycalloc(n ? (size_t)n : 1, sizeof *es);
            if (!es) return Y_ERR_NOMEM;
            out->kind = YANY_OBJECT;
            out->u.obj.entries = es;
            out->u.obj.len = 0;
        }
        for (uint64_t i = 0; i < n; i++) {
            const char *k;
            size_t kn;
            yany tmp;
            rc = yread_varstring(r, &k, &kn);
            if (!rc && !yutf8_valid(k, kn)) rc = Y_ERR_MALFORMED;
            if (!rc && alloc) {
                char *kc = ystrndup(k, kn);
                if (!kc) rc = Y_ERR_NOMEM;
                else es[i].key = kc;
            }
            if (!rc) {
                if (alloc) out->u.obj.len++;
                rc = yread_any_depth(r, alloc ? &es[i].value : &tmp, depth + 1, alloc);
            }
            if (rc) {
                if (alloc) yany_release(out);
                return rc;
            }
        }
        out->kind = YANY_OBJECT;
        if (!alloc) out->u.obj.len = (size_t)n;
        else yany_js_object(out, true);
        return Y_OK;
    }
    default:
        return Y_ERR_MALFORMED;
    }
}

/* A key JavaScript treats as an array index ("0".."4294967294", canonical). */
static bool index_key(const char *k, uint64_t *v) {
    size_t n = strlen(k);
    if (!n || n > 10 || (n > 1 && k[0] == '0')) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9') return false;
        x = x * 10 + (uint64_t)(k[i] - '0');
    }
    if (x > 4294967294ULL) return false;
    *v = x;
    return true;
}

void yany_js_object(yany *v, bool assigned) {
    if (v->kind != YANY_OBJECT || v->u.obj.len < 1) return;
    yany_entry *e = unconst(v->u.obj.entries);
    size_t n = v->u.obj.len, w = 0;
    /* a repeated key keeps its first place and takes the last value */
    for (size_t i = 0; i < n; i++) {
        if (assigned && strcmp(e[i].key, "__proto__") == 0) {
            /* obj.__proto__ = v sets the prototype: no own property */
            yany_release(&e[i].value);
            yfree(unconst(e[i].key));
            continue;
        }
        size_t j = 0;
        for (; j < w; j++)
            if (strcmp(e[j].key, e[i].key) == 0) break;
        if (j < w) {
            yany_release(&e[j].value);
            e[j].value = e[i].value;
            yfree(unconst(e[i].key));
        } else {
            e[w++] = e[i];
        }
    }
    v->u.obj.len = w;
    /* integer-like keys come first, ascending (insertion sort keeps the
     * other keys in their order) */
    for (size_t i = 1; i < w; i++) {
        uint64_t ki;
        if (!index_key(e[i].key, &ki)) continue;
        yany_entry cur = e[i];
        size_t j = i;
        while (j > 0) {
            uint64_t kj;
            if (index_key(e[j - 1].key, &kj) && kj < ki) break;
            e[j] = e[j - 1];
            j--;
        }
        e[j] = cur;
    }
}

int yread_any(yreader *r, yany *out) { return yread_any_depth(r, out, 0, true); }

int yread_any_skip(yreader *r) {
    yany tmp;
    return yread_any_depth(r, &tmp, 0, false);
}

static int yany_clone_depth(const yany *src, yany *dst, int depth) {
    dst->kind = YANY_UNDEFINED;
    if (depth > YANY_MAX_DEPTH) return Y_ERR_LIMIT;
    switch (src->kind) {
    case YANY_STRING: {
        char *c = ystrndup(src->u.str.ptr, src->u.str.len);
        if (!c) return Y_ERR_NOMEM;
        dst->kind = YANY_STRING;
        dst->u.str.ptr = c;
        dst->u.str.len = src->u.str.len;
        return Y_OK;
    }
    case YANY_BINARY: {
        uint8_t *c = ymalloc(src->u.bin.len ? src->u.bin.len : 1);
        if (!c) return Y_ERR_NOMEM;
        if (src->u.bin.len) memcpy(c, src->u.bin.ptr, src->u.bin.len);
        dst->kind = YANY_BINARY;
        dst->u.bin.ptr = c;
        dst->u.bin.len = src->u.bin.len;
        return Y_OK;
    }
    case YANY_ARRAY: {
        size_t n = src->u.arr.len;
        yany *items = ycalloc(n ? n : 1, sizeof *items);
        if (!items) return Y_ERR_NOMEM;
        dst->kind = YANY_ARRAY;
        dst->u.arr.items = items;
        dst->u.arr.len = 0;
        for (size_t i = 0; i < n; i++) {
            int rc = yany_clone_depth(&src->u.arr.items[i], &items[i], depth + 1);
            if (rc) {
                yany_release(dst);
                return rc;
            }
            dst->u.arr.len++;
        }
        return Y_OK;
    }
    case YANY_OBJECT: {
        size_t n = src->u.obj.len;
        yany_entry *es = ycalloc(n ? n : 1, sizeof *es);
        if (!es) return Y_ERR_NOMEM;
        dst->kind = YANY_OBJECT;
        dst->u.obj.entries = es;
        dst->u.obj.len = 0;
        for (size_t i = 0; i < n; i++) {
            const char *k = src->u.obj.entries[i].key;
            char *kc = ystrndup(k, strlen(k));
            int rc = kc ? Y_OK : Y_ERR_NOMEM;
            if (!rc) {
                es[i].key = kc;
                dst->u.obj.len++;
                rc = yany_clone_depth(&src->u.obj.entries[i].value, &es[i].value, depth + 1);
            }
            if (rc) {
                yany_release(dst);
                return rc;
            }
        }
        return Y_OK;
    }
    default:
        *dst = *src;
        return Y_OK;
    }
}

int yany_clone(const yany *src, yany *dst) { return yany_clone_depth(src, dst, 0); }

bool yany_equal(const yany *a, const yany *b) {
    if (a->kind != b->kind) return false;
    switch (a->kind) {
    case YANY_UNDEFINED:
    case YANY_NULL:
        return true;
    case YANY_BOOL:
        return a->u.b == b->u.b;
    case YANY_NUMBER:
        return a->u.num == b->u.num;
    case YANY_BIGINT:
        return a->u.bigint == b->u.bigint;
    case YANY_STRING:
        return a->u.str.len == b->u.str.len &&
               (a->u.str.len == 0 || memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0);
    case YANY_BINARY:
        return a->u.bin.len == b->u.bin.len &&
               (a->u.bin.len == 0 || memcmp(a->u.bin.ptr, b->u.bin.ptr, a->u.bin.len) == 0);
    case YANY_ARRAY:
        if (a->u.arr.len != b->u.arr.len) return false;
        for (size_t i = 0; i < a->u.arr.len; i++)
            if (!yany_equal(&a->u.arr.items[i], &b->u.arr.items[i])) return false;
        return true;
    case YANY_OBJECT:
        if (a->u.obj.len != b->u.obj.len) return false;
        for (size_t i = 0; i < a->u.obj.len; i++) {
            if (strcmp(a->u.obj.entries[i].key, b->u.obj.entries[i].key) != 0) return false;
            if (!yany_equal(&a->u.obj.entries[i].value, &b->u.obj.entries[i].value)) return false;
        }
        return true;
    }
    return false;
}

/* ---- UTF-8 / UTF-16 ----------------------------------------------------- */

/* Length of the well-formed sequence at s[i..n), or 0 when it is not one.
 * The second-byte ranges follow the Unicode table of well-formed UTF-8. */
static size_t utf8_seq_len(const unsigned char *s, size_t i, size_t n, size_t *valid_prefix) {
    unsigned char c = s[i];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    *valid_prefix = 0;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    size_t k = 1;
    for (; k < need; k++) {
        if (i + k >= n) break;
        unsigned char d = s[i + k];
        if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xbf)) break;
    }
    if (k == need) return need;
    *valid_prefix = k;
    return 0;
}

/* Whether the 8 bytes at p are all ASCII (most text is). */
static bool ascii8(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return (w & 0x8080808080808080ULL) == 0;
}

bool yutf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, vp;
    while (i < n) {
        if (i + 8 <= n && ascii8(u + i)) {
            i += 8;
            continue;
        }
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq_len(u, i, n, &vp);
        if (!l) return false;
        i += l;
    }
    return true;
}

size_t yutf8_utf16_len(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t units = 0, i = 0;
    for (; i + 8 <= n && ascii8(u + i); i += 8) units += 8;
    for (; i < n; i++) {
        unsigned char c = u[i];
        if ((c & 0xc0) != 0x80) units += c >= 0xf0 ? 2 : 1;
    }
    return units;
}

char *yutf8_sanitize(const char *s, size_t n, size_t *out_len) {
    const unsigned char *u = (const unsigned char *)s;
    if (yutf8_valid(s, n)) {
        if (out_len) *out_len = n;
        return ystrndup(s, n);
    }
    /* Each invalid byte becomes at most 3 bytes of U+FFFD. */
    if (n > (SIZE_MAX - 1) / 3) return NULL;
    char *d = ymalloc(n * 3 + 1);
    if (!d) return NULL;
    size_t i = 0, o = 0, vp;
    while (i < n) {
        size_t l = utf8_seq_len(u, i, n, &vp);
        if (l) {
            memcpy(d + o, s + i, l);
            o += l;
            i += l;
        } else {
            memcpy(d + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += vp ? vp : 1;
        }
    }
    d[o] = '\0';
    if (out_len) *out_len = o;
    return d;
}

bool yutf8_offset_of_units(const char *s, size_t n, size_t units, size_t *offset) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, count = 0;
    while (count < units) {
        if (i >= n) return false;
        unsigned char c = u[i];
        size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        size_t w = l == 4 ? 2 : 1;
        if (count + w > units) return false; /* inside a surrogate pair */
        count += w;
        i += l;
    }
    *offset = i;
    return true;
}
