/*
 * content.c - item contents: read, write, split, merge and release, for the
 * nine Yjs content kinds.
 *
 * Invariants
 *  - Strings are kept as UTF-16 code units so that positions (which Yjs
 *    counts in UTF-16) index them directly; the item's len is their count.
 *    Up to YSTR_INLINE units live inside the content (inl), more in an
 *    allocated array; read them through ycontent_units.
 *    A split inside a surrogate pair replaces both halves by U+FFFD, as
 *    Yjs's ContentString.splice does.
 *  - Any/JSON contents own one value per clock unit; JSON, Embed and Format
 *    values are kept as the JSON text read off the wire (validated), so
 *    contents the engine does not interpret re-encode unchanged.
 *  - A ContentType owns its ytype until the type is linked into the
 *    document (integration); after that the document frees it.
 */
#include <stdatomic.h>
#include <string.h>

#include "doc_int.h"

void ycontent_release(ycontent *c, uint64_t len) {
    switch (c->kind) {
    case YC_STRING:
        if (!c->inl) yfree(c->u.str.u);
        break;
    case YC_ANY:
        for (uint64_t i = 0; i < len; i++) yany_release(&c->u.any.v[i]);
        yfree(c->u.any.v);
        break;
    case YC_JSON:
        for (uint64_t i = 0; i < len; i++) yfree(c->u.json.v[i]);
        yfree(c->u.json.v);
        break;
    case YC_BINARY:
        yfree(c->u.bin.p);
        break;
    case YC_EMBED:
        yfree(c->u.embed.json);
        break;
    case YC_FORMAT:
        if (c->u.fmt) {
            yfree(c->u.fmt->key);
            yfree(c->u.fmt->json);
            yfree(c->u.fmt);
        }
        break;
    case YC_TYPE:
        if (c->u.type && !c->u.type->linked) ytype_free(c->u.type);
        break;
    case YC_DOC:
        if (c->u.doc) {
            ykey_free(c->u.doc->guid);
            yany_release(&c->u.doc->opts);
            yfree(c->u.doc);
        }
        break;
    default:
        break;
    }
    memset(c, 0, sizeof *c);
    c->kind = YC_DELETED;
}

static _Atomic uint64_t g_oid;

uint64_t ycontent_new_oid(void) { return atomic_fetch_add_explicit(&g_oid, 1, memory_order_relaxed) + 1; }

static bool is_high(uint16_t u) { return u >= 0xd800 && u <= 0xdbff; }

int ycontent_splice(ycontent *c, uint64_t len, uint64_t offset, ycontent *right) {
    size_t rn = (size_t)(len - offset), off = (size_t)offset;
    memset(right, 0, sizeof *right);
    right->kind = c->kind;
    switch (c->kind) {
    case YC_DELETED:
        return Y_OK;
    case YC_STRING: {
        uint16_t *src = ycontent_units(c);
        uint16_t *u;
        if (rn <= YSTR_INLINE) {
            u = right->u.inl;
            right->inl = true;
        } else {
            u = ymalloc(rn * sizeof *u);
            if (!u) return Y_ERR_NOMEM;
            right->u.str.u = u;
            right->u.str.cap = rn;
        }
        memcpy(u, src + off, rn * sizeof *u);
        if (off > 0 && is_high(src[off - 1])) {
            src[off - 1] = 0xfffd;
            u[0] = 0xfffd;
        }
        return Y_OK;
    }
    case YC_ANY: {
        yany *v = ymalloc(rn * sizeof *v);
        if (!v) return Y_ERR_NOMEM;
        memcpy(v, c->u.any.v + off, rn * sizeof *v);
        right->u.any.v = v;
        right->u.any.cap = rn;
        return Y_OK;
    }
    case YC_JSON: {
        char **v = ymalloc(rn * sizeof *v);
        if (!v) return Y_ERR_NOMEM;
        memcpy(v, c->u.json.v + off, rn * sizeof *v);
        right->u.json.v = v;
        right->u.json.cap = rn;
        return Y_OK;
    }
    default:
        return Y_ERR_INVALID; /* length-1 contents never split */
    }
}

/* Grows an array of `esz`-byte elements to hold `need`, doubling. */
static int grow(void **p, size_t *cap, size_t need, size_t esz) {
    if (*cap >= need) return Y_OK;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) ncap *= 2;
    void *np = yrealloc(*p, ncap * esz);
    if (!np) return Y_ERR_NOMEM;
    *p = np;
    *cap = ncap;
    return Y_OK;
}

bool ycontent_merge(ycontent *l, uint64_t llen, ycontent *r, uint64_t rlen, int *err) {
    size_t ln = (size_t)llen, rn = (size_t)rlen;
    if (l->kind != r->kind) return false;
    switch (l->kind) {
    case YC_DELETED:
        return true;
    case YC_STRING: {
        if (l->inl && ln + rn <= YSTR_INLINE) {
            memcpy(l->u.inl + ln, ycontent_units(r), rn * sizeof(uint16_t));
        } else {
            if (l->inl) {
                /* moves out of the item: the array replaces the inline units */
                size_t cap = 0;
                void *p = NULL;
                if (grow(&p, &cap, ln + rn, sizeof(uint16_t))) {
                    *err = Y_ERR_NOMEM;
                    return false;
                }
                memcpy(p, l->u.inl, ln * sizeof(uint16_t));
                l->inl = false;
                l->u.str.u = p;
                l->u.str.cap = cap;
            } else {
                void *p = l->u.str.u;
                if (grow(&p, &l->u.str.cap, ln + rn, sizeof(uint16_t))) {
                    *err = Y_ERR_NOMEM;
                    return false;
                }
                l->u.str.u = p;
            }
            memcpy(l->u.str.u + ln, ycontent_units(r), rn * sizeof(uint16_t));
        }
        if (!r->inl) yfree(r->u.str.u);
        break;
    }
    case YC_ANY: {
        void *p = l->u.any.v;
        if (grow(&p, &l->u.any.cap, ln + rn, sizeof(yany))) {
            *err = Y_ERR_NOMEM;
            return false;
        }
        l->u.any.v = p;
        memcpy(l->u.any.v + ln, r->u.any.v, rn * sizeof(yany));
        yfree(r->u.any.v);
        break;
    }
    case YC_JSON: {
        void *p = l->u.json.v;
        if (grow(&p, &l->u.json.cap, ln + rn, sizeof(char *))) {
            *err = Y_ERR_NOMEM;
            return false;
        }
        l->u.json.v = p;
        memcpy(l->u.json.v + ln, r->u.json.v, rn * sizeof(char *));
        yfree(r->u.json.v);
        break;
    }
    default:
        return false;
    }
    memset(r, 0, sizeof *r);
    r->kind = YC_DELETED;
    return true;
}

size_t yutf16_utf8_len(const uint16_t *u, size_t n) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t c = u[i];
        if (c < 0x80) bytes += 1;
        else if (c < 0x800) bytes += 2;
        else if (is_high(c) && i + 1 < n && u[i + 1] >= 0xdc00 && u[i + 1] <= 0xdfff) {
            bytes += 4;
            i++;
        } else bytes += 3; /* BMP, or a lone surrogate written as U+FFFD */
    }
    return bytes;
}

int yutf16_append_utf8(ybuf *b, const uint16_t *u, size_t n) {
    int rc = ybuf_reserve(b, yutf16_utf8_len(u, n));
    if (rc) return rc;
    uint8_t *o = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = u[i];
        if (c < 0x80) {
            *o++ = (uint8_t)c;
            continue;
        }
        if (c >= 0xd800 && c <= 0xdfff) {
            if (is_high((uint16_t)c) && i + 1 < n && u[i + 1] >= 0xdc00 && u[i + 1] <= 0xdfff) {
                c = 0x10000 + ((c - 0xd800) << 10) + (u[i + 1] - 0xdc00);
                i++;
            } else {
                c = 0xfffd;
            }
        }
        if (c < 0x800) {
            *o++ = (uint8_t)(0xc0 | (c >> 6));
            *o++ = (uint8_t)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            *o++ = (uint8_t)(0xe0 | (c >> 12));
            *o++ = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            *o++ = (uint8_t)(0x80 | (c & 0x3f));
        } else {
            *o++ = (uint8_t)(0xf0 | (c >> 18));
            *o++ = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
            *o++ = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            *o++ = (uint8_t)(0x80 | (c & 0x3f));
        }
    }
    b->len = (size_t)(o - b->data);
    return Y_OK;
}

/* Converts well-formed UTF-8 to UTF-16 (units must hold enough space). */
static size_t utf8_to_utf16(const char *s, size_t n, uint16_t *units) {
    const unsigned char *p = (const unsigned char *)s;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c = p[i];
        if (c < 0x80 && i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, sizeof w);
            if ((w & 0x8080808080808080ULL) == 0) { /* eight ASCII bytes */
                for (size_t j = 0; j < 8; j++) units[k + j] = p[i + j];
                k += 8;
                i += 8;
                continue;
            }
        }
        if (c < 0x80) {
            i += 1;
        } else if (c < 0xe0) {
            c = ((c & 0x1f) << 6) | (p[i + 1] & 0x3f);
            i += 2;
        } else if (c < 0xf0) {
            c = ((c & 0x0f) << 12) | ((uint32_t)(p[i + 1] & 0x3f) << 6) | (p[i + 2] & 0x3f);
            i += 3;
        } else {
            c = ((c & 0x07) << 18) | ((uint32_t)(p[i + 1] & 0x3f) << 12) |
                ((uint32_t)(p[i + 2] & 0x3f) << 6) | (p[i + 3] & 0x3f);
            i += 4;
        }
        if (c >= 0x10000) {
            c -= 0x10000;
            units[k++] = (uint16_t)(0xd800 | (c >> 10));
            units[k++] = (uint16_t)(0xdc00 | (c & 0x3ff));
        } else {
            units[k++] = (uint16_t)c;
        }
    }
    return k;
}

int ycontent_from_utf8(ycontent *c, const char *s, size_t n, uint64_t *len) {
    size_t units = yutf8_utf16_len(s, n);
    if (units <= YSTR_INLINE) {
        memset(c, 0, sizeof *c);
        c->kind = YC_STRING;
        c->inl = true;
        utf8_to_utf16(s, n, c->u.inl);
        *len = units;
        return Y_OK;
    }
    uint16_t *u = ymalloc(units * sizeof *u);
    if (!u) return Y_ERR_NOMEM;
    utf8_to_utf16(s, n, u);
    memset(c, 0, sizeof *c);
    c->kind = YC_STRING;
    c->u.str.u = u;
    c->u.str.cap = units;
    *len = units;
    return Y_OK;
}

static int write_json_text(ybuf *b, const char *s, size_t n) { return ybuf_varstring(b, s, n); }

int ycontent_write(ybuf *b, const ycontent *c, uint64_t len, uint64_t offset) {
    size_t off = (size_t)offset, n = (size_t)len;
    switch (c->kind) {
    case YC_DELETED:
        return ybuf_varuint(b, len - offset);
    case YC_JSON:
        ybuf_varuint(b, len - offset);
        for (size_t i = off; i < n; i++) {
            if (c->u.json.v[i]) write_json_text(b, c->u.json.v[i], strlen(c->u.json.v[i]));
            else ybuf_varstring(b, "undefined", 9);
        }
        return b->err;
    case YC_BINARY:
        return ybuf_varbytes(b, c->u.bin.p, c->u.bin.n);
    case YC_STRING: {
        const uint16_t *u = ycontent_units(c) + off;
        ybuf_varuint(b, yutf16_utf8_len(u, n - off));
        return yutf16_append_utf8(b, u, n - off);
    }
    case YC_EMBED:
        return write_json_text(b, c->u.embed.json, c->u.embed.n);
    case YC_FORMAT:
        ybuf_varstring(b, c->u.fmt->key, strlen(c->u.fmt->key));
        return write_json_text(b, c->u.fmt->json, c->u.fmt->n);
    case YC_TYPE: {
        const struct ytype *t = c->u.type;
        ybuf_varuint(b, t->kind);
        if (t->kind == YTYPE_XML_ELEMENT || t->kind == YTYPE_XML_HOOK) {
            const char *nm = t->name ? t->name : "";
            ybuf_varstring(b, nm, strlen(nm));
        }
        return b->err;
    }
    case YC_ANY:
        ybuf_varuint(b, len - offset);
        for (size_t i = off; i < n; i++) ybuf_any(b, &c->u.any.v[i]);
        return b->err;
    case YC_DOC:
        ybuf_varstring(b, c->u.doc->guid, ykey_len(c->u.doc->guid));
        return ybuf_any(b, &c->u.doc->opts);
    }
    return Y_ERR_INVALID;
}

/* Reads a JSON text field: a varstring that must parse as JSON. */
static int read_json_text(yreader *r, char **out, size_t *outn) {
    char *c;
    size_t cn;
    int rc = yread_utf8_dup(r, &c, &cn);
    if (rc) return rc;
    /* Yjs keeps JSON.parse's value and writes JSON.stringify of it: keep
     * that canonical text */
    yany v;
    rc = yjson_parse(c, cn, &v);
    yfree(c);
    if (rc) return rc;
    ybuf b;
    ybuf_init(&b, YBUF_NO_LIMIT);
    rc = yjson_write(&b, &v);
    yany_release(&v);
    size_t n = b.len;
    if (!rc) rc = ybuf_u8(&b, 0);
    uint8_t *d = NULL;
    if (!rc) rc = ybuf_detach(&b, &d, NULL);
    ybuf_release(&b);
    if (rc) return rc == Y_ERR_LIMIT ? Y_ERR_MALFORMED : rc;
    *out = (char *)d;
    if (outn) *outn = n;
    return Y_OK;
}

int ycontent_read(yreader *r, uint8_t kind, ydoc *doc, ycontent *c, uint64_t *len) {
    int rc = Y_OK;
    uint64_t n;
    memset(c, 0, sizeof *c);
    c->kind = YC_DELETED;
    switch (kind) {
    case YC_DELETED:
        if (yread_varuint(r, &n)) return Y_ERR_MALFORMED;
        *len = n;
        return Y_OK;
    case YC_JSON: {
        if (yread_varuint(r, &n)) return Y_ERR_MALFORMED;
        if (n > yreader_left(r)) return Y_ERR_MALFORMED; /* each entry takes >= 1 byte */
        char **v = ycalloc(n ? (size_t)n : 1, sizeof *v);
        if (!v) return Y_ERR_NOMEM;
        for (uint64_t i = 0; i < n && !rc; i++) {
            const char *s;
            size_t sn;
            size_t save = r->pos;
            if (yread_varstring(r, &s, &sn) || !yutf8_valid(s, sn)) rc = Y_ERR_MALFORMED;
            else if (sn == 9 && memcmp(s, "undefined", 9) == 0) v[i] = NULL;
            else {
                r->pos = save;
                rc = read_json_text(r, &v[i], NULL);
            }
        }
        if (rc) {
            for (uint64_t i = 0; i < n; i++) yfree(v[i]);
            yfree(v);
            return rc;
        }
        c->kind = YC_JSON;
        c->u.json.v = v;
        c->u.json.cap = (size_t)n;
        *len = n;
        return Y_OK;
    }
    case YC_BINARY: {
        const uint8_t *p;
        size_t bn;
        if (yread_varbytes(r, &p, &bn)) return Y_ERR_MALFORMED;
        uint8_t *cp = ymalloc(bn ? bn : 1);
        if (!cp) return Y_ERR_NOMEM;
        if (bn) memcpy(cp, p, bn);
        c->kind = YC_BINARY;
        c->u.bin.p = cp;
        c->u.bin.n = bn;
        *len = 1;
        return Y_OK;
    }
    case YC_STRING: {
        const char *s;
        size_t sn;
        if (yread_varstring(r, &s, &sn) || !yutf8_valid(s, sn)) return Y_ERR_MALFORMED;
        return ycontent_from_utf8(c, s, sn, len);
    }
    case YC_EMBED:
        rc = read_json_text(r, &c->u.embed.json, &c->u.embed.n);
        if (rc) return rc;
        c->kind = YC_EMBED;
        *len = 1;
        return Y_OK;
    case YC_FORMAT: {
        char *key;
        rc = yread_utf8_dup(r, &key, NULL);
        if (rc) return rc;
        char *js;
        size_t jn;
        rc = read_json_text(r, &js, &jn);
        if (rc) {
            yfree(key);
            return rc;
        }
        yfmt *f = ymalloc(sizeof *f);
        if (!f) {
            yfree(key);
            yfree(js);
            return Y_ERR_NOMEM;
        }
        f->key = key;
        f->json = js;
        f->n = jn;
        f->oid = ycontent_new_oid(); /* JSON.parse makes a new object */
        c->kind = YC_FORMAT;
        c->u.fmt = f;
        *len = 1;
        return Y_OK;
    }
    case YC_TYPE: {
        uint64_t ref;
        if (yread_varuint(r, &ref) || ref > YTYPE_XML_TEXT) return Y_ERR_MALFORMED;
        char *name = NULL;
        if (ref == YTYPE_XML_ELEMENT || ref == YTYPE_XML_HOOK) {
            rc = yread_utf8_dup(r, &name, NULL);
            if (rc) return rc;
        }
        struct ytype *t = ytype_new(doc, (uint8_t)ref, true);
        if (!t) {
            yfree(name);
            return Y_ERR_NOMEM;
        }
        t->name = name;
        c->kind = YC_TYPE;
        c->u.type = t;
        *len = 1;
        return Y_OK;
    }
    case YC_ANY: {
        if (yread_varuint(r, &n)) return Y_ERR_MALFORMED;
        if (n > yreader_left(r)) return Y_ERR_MALFORMED;
        yany *v = ycalloc(n ? (size_t)n : 1, sizeof *v);
        if (!v) return Y_ERR_NOMEM;
        uint64_t i = 0;
        for (; i < n; i++) {
            rc = yread_any(r, &v[i]);
            if (rc) break;
        }
        if (rc) {
            for (uint64_t j = 0; j < i; j++) yany_release(&v[j]);
            yfree(v);
            return rc;
        }
        c->kind = YC_ANY;
        c->u.any.v = v;
        c->u.any.cap = (size_t)n;
        *len = n;
        return Y_OK;
    }
    case YC_DOC: {
        char *guid;
        size_t cn;
        rc = yread_utf8_dup(r, &guid, &cn);
        if (rc) return rc;
        yany opts;
        rc = yread_any(r, &opts);
        if (!rc && (opts.kind == YANY_NULL || opts.kind == YANY_UNDEFINED)) rc = Y_ERR_MALFORMED; /* Yjs reads opts.gc */
        if (rc) {
            yany_release(&opts);
            yfree(guid);
            return rc;
        }
        char *key = ykey_new(guid, cn); /* keeps its length: the guid may hold NUL */
        yfree(guid);
        ysubdoc *sd = key ? ymalloc(sizeof *sd) : NULL;
        if (!sd) {
            ykey_free(key);
            yany_release(&opts);
            return Y_ERR_NOMEM;
        }
        sd->guid = key;
        sd->opts = opts;
        c->kind = YC_DOC;
        c->u.doc = sd;
        *len = 1;
        return Y_OK;
    }
    default:
        return Y_ERR_MALFORMED;
    }
}
