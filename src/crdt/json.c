/*
 * json.c - JSON text for the contents Yjs stores as JSON (Format values,
 * Embeds, legacy ContentJSON): JSON.stringify of an Any value, and a
 * bounded parser/validator for JSON read off the wire.
 *
 * Invariants: numbers are printed as JavaScript's Number#toString prints
 * them (shortest round-trip digits, same switch to exponent notation);
 * parsing never nests deeper than YANY_MAX_DEPTH.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc_int.h"

/* Shortest decimal digits that read back as x (x finite, > 0). */
static void shortest_digits(double x, char *digits, int *ndigits, int *exp10) {
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, x);
        if (strtod(buf, NULL) == x || p == 17) break;
    }
    /* buf looks like d.ddddde+XX */
    int k = 0;
    const char *q = buf;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[k++] = *q;
    while (k > 1 && digits[k - 1] == '0') k--;
    digits[k] = '\0';
    *ndigits = k;
    *exp10 = atoi(q + 1) + 1; /* value = 0.d1d2.. * 10^exp10 */
}

static int write_number(ybuf *b, double x) {
    char out[64];
    if (!isfinite(x)) return ybuf_put(b, "null", 4);
    if (x == 0) return ybuf_u8(b, '0');
    if (x < 0) {
        ybuf_u8(b, '-');
        x = -x;
    }
    char d[24];
    int k, n;
    shortest_digits(x, d, &k, &n);
    size_t o = 0;
    if (k <= n && n <= 21) {
        memcpy(out, d, (size_t)k);
        o = (size_t)k;
        for (int i = 0; i < n - k; i++) out[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(out, d, (size_t)n);
        o = (size_t)n;
        out[o++] = '.';
        memcpy(out + o, d + n, (size_t)(k - n));
        o += (size_t)(k - n);
    } else if (-6 < n && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -n; i++) out[o++] = '0';
        memcpy(out + o, d, (size_t)k);
        o += (size_t)k;
    } else {
        out[o++] = d[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, d + 1, (size_t)(k - 1));
            o += (size_t)(k - 1);
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    return ybuf_put(b, out, o);
}

static int write_string(ybuf *b, const char *s, size_t n) {
    ybuf_u8(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': ybuf_put(b, "\\\"", 2); break;
        case '\\': ybuf_put(b, "\\\\", 2); break;
        case '\b': ybuf_put(b, "\\b", 2); break;
        case '\f': ybuf_put(b, "\\f", 2); break;
        case '\n': ybuf_put(b, "\\n", 2); break;
        case '\r': ybuf_put(b, "\\r", 2); break;
        case '\t': ybuf_put(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char e[8];
                snprintf(e, sizeof e, "\\u%04x", c);
                ybuf_put(b, e, 6);
            } else {
                ybuf_u8(b, c);
            }
        }
    }
    return ybuf_u8(b, '"');
}

static int write_value(ybuf *b, const yany *v, int depth) {
    if (depth > YANY_MAX_DEPTH) return Y_ERR_LIMIT;
    switch (v->kind) {
    case YANY_UNDEFINED:
    case YANY_NULL:
        return ybuf_put(b, "null", 4);
    case YANY_BOOL:
        return v->u.b ? ybuf_put(b, "true", 4) : ybuf_put(b, "false", 5);
    case YANY_NUMBER:
        return write_number(b, v->u.num);
    case YANY_BIGINT: {
        char t[32];
        int n = snprintf(t, sizeof t, "%lld", (long long)v->u.bigint);
        return ybuf_put(b, t, (size_t)n);
    }
    case YANY_STRING:
        return write_string(b, v->u.str.ptr, v->u.str.len);
    case YANY_BINARY: /* a Uint8Array stringifies as an index-keyed object */
        ybuf_u8(b, '{');
        for (size_t i = 0; i < v->u.bin.len; i++) {
            char t[40];
            int n = snprintf(t, sizeof t, "%s\"%zu\":%u", i ? "," : "", i, v->u.bin.ptr[i]);
            ybuf_put(b, t, (size_t)n);
        }
        return ybuf_u8(b, '}');
    case YANY_ARRAY:
        ybuf_u8(b, '[');
        for (size_t i = 0; i < v->u.arr.len; i++) {
            if (i) ybuf_u8(b, ',');
            int rc = write_value(b, &v->u.arr.items[i], depth + 1);
            if (rc) return rc;
        }
        return ybuf_u8(b, ']');
    case YANY_OBJECT: {
        ybuf_u8(b, '{');
        bool first = true;
        for (size_t i = 0; i < v->u.obj.len; i++) {
            const yany_entry *e = &v->u.obj.entries[i];
            if (e->value.kind == YANY_UNDEFINED) continue;
            if (!first) ybuf_u8(b, ',');
            first = false;
            write_string(b, e->key, strlen(e->key));
            ybuf_u8(b, ':');
            int rc = write_value(b, &e->value, depth + 1);
            if (rc) return rc;
        }
        return ybuf_u8(b, '}');
    }
    }
    return Y_ERR_INVALID;
}

int yjson_write(ybuf *b, const yany *v) {
    int rc = write_value(b, v, 0);
    return rc ? rc : b->err;
}

/* ---- parser ---------------------------------------------------------------- */

typedef struct jp {
    const char *s;
    size_t n, i;
    bool build;
} jp;

static void skip_ws(jp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(jp *p, uint32_t *out) {
    if (p->n - p->i < 4) return Y_ERR_MALFORMED;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + (size_t)k]);
        if (h < 0) return Y_ERR_MALFORMED;
        v = v * 16 + (uint32_t)h;
    }
    p->i += 4;
    *out = v;
    return Y_OK;
}

static void put_cp(ybuf *b, uint32_t c) {
    uint8_t t[4];
    size_t n;
    if (c < 0x80) { t[0] = (uint8_t)c; n = 1; }
    else if (c < 0x800) { t[0] = (uint8_t)(0xc0 | (c >> 6)); t[1] = (uint8_t)(0x80 | (c & 0x3f)); n = 2; }
    else if (c < 0x10000) {
        t[0] = (uint8_t)(0xe0 | (c >> 12)); t[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
        t[2] = (uint8_t)(0x80 | (c & 0x3f)); n = 3;
    } else {
        t[0] = (uint8_t)(0xf0 | (c >> 18)); t[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
        t[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f)); t[3] = (uint8_t)(0x80 | (c & 0x3f)); n = 4;
    }
    ybuf_put(b, t, n);
}

/* Parses a string literal (p->i at the opening quote) into b when building. */
static int parse_string(jp *p, ybuf *b) {
    p->i++;
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i++];
        if (c == '"') return b ? b->err : Y_OK;
        if (c < 0x20) return Y_ERR_MALFORMED;
        if (c != '\\') {
            if (b) ybuf_u8(b, c);
            continue;
        }
        if (p->i >= p->n) return Y_ERR_MALFORMED;
        char e = p->s[p->i++];
        uint32_t cp;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (read_hex4(p, &cp)) return Y_ERR_MALFORMED;
            if (cp >= 0xd800 && cp <= 0xdbff && p->n - p->i >= 6 && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
                size_t save = p->i;
                uint32_t lo;
                p->i += 2;
                if (!read_hex4(p, &lo) && lo >= 0xdc00 && lo <= 0xdfff)
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else
                    p->i = save;
            }
            if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
            break;
        default:
            return Y_ERR_MALFORMED;
        }
        if (b) put_cp(b, cp);
    }
    return Y_ERR_MALFORMED;
}

static int parse_value(jp *p, yany *out, int depth);

static int parse_number(jp *p, yany *out) {
    size_t st = p->i;
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i >= p->n) return Y_ERR_MALFORMED;
    if (p->s[p->i] == '0') p->i++;
    else if (p->s[p->i] >= '1' && p->s[p->i] <= '9')
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    else return Y_ERR_MALFORMED;
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        size_t d = p->i;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
        if (d == p->i) return Y_ERR_MALFORMED;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        size_t d = p->i;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
        if (d == p->i) return Y_ERR_MALFORMED;
    }
    if (p->build) {
        char tmp[64];
        size_t len = p->i - st;
        char *heap = NULL;
        char *src = tmp;
        if (len >= sizeof tmp) {
            heap = ymalloc(len + 1);
            if (!heap) return Y_ERR_NOMEM;
            src = heap;
        }
        memcpy(src, p->s + st, len);
        src[len] = '\0';
        out->kind = YANY_NUMBER;
        out->u.num = strtod(src, NULL);
        yfree(heap);
    }
    return Y_OK;
}

static int lit(jp *p, const char *w) {
    size_t n = strlen(w);
    if (p->n - p->i < n || memcmp(p->s + p->i, w, n) != 0) return Y_ERR_MALFORMED;
    p->i += n;
    return Y_OK;
}

/* Appends one element to a growing array held in a yany (building only). */
static int push_item(yany *arr, size_t *cap, yany **slot) {
    yany *items = (yany *)(uintptr_t)arr->u.arr.items;
    if (arr->u.arr.len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        yany *ni = yrealloc(items, ncap * sizeof *ni);
        if (!ni) return Y_ERR_NOMEM;
        items = ni;
        *cap = ncap;
        arr->u.arr.items = ni;
    }
    *slot = &items[arr->u.arr.len];
    (*slot)->kind = YANY_UNDEFINED;
    return Y_OK;
}

static int push_entry(yany *obj, size_t *cap, yany_entry **slot) {
    yany_entry *es = (yany_entry *)(uintptr_t)obj->u.obj.entries;
    if (obj->u.obj.len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        yany_entry *ne = yrealloc(es, ncap * sizeof *ne);
        if (!ne) return Y_ERR_NOMEM;
        es = ne;
        *cap = ncap;
        obj->u.obj.entries = ne;
    }
    *slot = &es[obj->u.obj.len];
    (*slot)->key = NULL;
    (*slot)->value.kind = YANY_UNDEFINED;
    return Y_OK;
}

static int parse_compound(jp *p, yany *out, int depth, bool is_obj) {
    size_t cap = 0;
    int rc;
    if (p->build) {
        out->kind = is_obj ? YANY_OBJECT : YANY_ARRAY;
        if (is_obj) { out->u.obj.entries = NULL; out->u.obj.len = 0; }
        else { out->u.arr.items = NULL; out->u.arr.len = 0; }
    }
    p->i++;
    skip_ws(p);
    char close = is_obj ? '}' : ']';
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return Y_OK;
    }
    for (;;) {
        yany tmp, *val = &tmp;
        skip_ws(p);
        if (is_obj) {
            if (p->i >= p->n || p->s[p->i] != '"') return Y_ERR_MALFORMED;
            ybuf kb;
            ybuf_init(&kb, YBUF_NO_LIMIT);
            rc = parse_string(p, p->build ? &kb : NULL);
            if (!rc && p->build) {
                yany_entry *e;
                ybuf_u8(&kb, 0);
                rc = kb.err ? kb.err : push_entry(out, &cap, &e);
                if (!rc) {
                    uint8_t *kd;
                    size_t kl;
                    rc = ybuf_detach(&kb, &kd, &kl);
                    if (!rc) {
                        e->key = (char *)kd;
                        out->u.obj.len++;
                        val = &e->value;
                    }
                }
            }
            ybuf_release(&kb);
            if (rc) return rc;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return Y_ERR_MALFORMED;
            p->i++;
        } else if (p->build) {
            rc = push_item(out, &cap, &val);
            if (rc) return rc;
            out->u.arr.len++;
        }
        rc = parse_value(p, val, depth + 1);
        if (rc) return rc;
        skip_ws(p);
        if (p->i >= p->n) return Y_ERR_MALFORMED;
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == close) {
            p->i++;
            if (is_obj && p->build) yany_js_object(out, false);
            return Y_OK;
        }
        return Y_ERR_MALFORMED;
    }
}

static int parse_value(jp *p, yany *out, int depth) {
    out->kind = YANY_UNDEFINED;
    if (depth > YANY_MAX_DEPTH) return Y_ERR_MALFORMED;
    skip_ws(p);
    if (p->i >= p->n) return Y_ERR_MALFORMED;
    char c = p->s[p->i];
    switch (c) {
    case '{':
        return parse_compound(p, out, depth, true);
    case '[':
        return parse_compound(p, out, depth, false);
    case '"': {
        if (!p->build) return parse_string(p, NULL);
        ybuf sb;
        ybuf_init(&sb, YBUF_NO_LIMIT);
        int rc = parse_string(p, &sb);
        if (!rc) {
            size_t n = sb.len;
            ybuf_u8(&sb, 0);
            uint8_t *d;
            rc = ybuf_detach(&sb, &d, NULL);
            if (!rc) {
                out->kind = YANY_STRING;
                out->u.str.ptr = (char *)d;
                out->u.str.len = n;
            }
        }
        ybuf_release(&sb);
        return rc;
    }
    case 't':
        out->kind = YANY_BOOL;
        out->u.b = true;
        return lit(p, "true");
    case 'f':
        out->kind = YANY_BOOL;
        out->u.b = false;
        return lit(p, "false");
    case 'n':
        out->kind = YANY_NULL;
        return lit(p, "null");
    default:
        return parse_number(p, out);
    }
}

static int parse_all(const char *s, size_t n, yany *out, bool build) {
    jp p = {s, n, 0, build};
    yany tmp;
    yany *dst = out ? out : &tmp;
    int rc = parse_value(&p, dst, 0);
    if (!rc) {
        skip_ws(&p);
        if (p.i != p.n) rc = Y_ERR_MALFORMED;
    }
    if (rc && build) yany_release(dst);
    return rc;
}

int yjson_parse(const char *s, size_t n, yany *out) { return parse_all(s, n, out, true); }

int yjson_validate(const char *s, size_t n) { return parse_all(s, n, NULL, false); }
