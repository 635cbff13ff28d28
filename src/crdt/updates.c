/*
 * updates.c - updates without a document: yupdate_merge, yupdate_diff and
 * yupdate_state_vector (Yjs's mergeUpdates, diffUpdate and
 * encodeStateVectorFromUpdate, update format v1).
 *
 * The functions stream over the encoded updates as Yjs's LazyStructReader
 * does: one struct at a time per input, nothing integrated, no document.
 * Output bytes equal what Yjs 13.6 produces for the same inputs; where Yjs
 * would need JavaScript's own semantics, this file emulates them:
 *  - every struct is re-encoded field by field (varuints come out canonical,
 *    a parent-info value other than 1 means "parent is an id" and comes out
 *    as 0, a parentSub flag is dropped when the item has an origin);
 *  - Any values are re-encoded as lib0's writeAny would after readAny: numbers
 *    pick int/float32/float64 again, object keys follow JavaScript property
 *    order (array-index keys first, ascending), a repeated key keeps its first
 *    place and its last value, and "__proto__" keys vanish;
 *  - the decoder heads are ordered with the comparator of mergeUpdatesV2 by
 *    the algorithm V8's Array.prototype.sort runs for short arrays (binary
 *    insertion after a first run), so the Item-versus-GC tie that comparator
 *    leaves inconsistent resolves the same way;
 *  - slicing a String in the middle of a surrogate pair replaces the pair's
 *    halves by U+FFFD, as ContentString.splice does;
 *  - JSON, Embed and Format values must pass JSON.parse's grammar and are
 *    written as JSON.stringify(JSON.parse(text)) would (whitespace dropped,
 *    escapes and numbers re-spelled, object keys in JavaScript order).
 * Known differences (inputs Yjs itself never produces): JSON and Any
 * nesting is limited to YANY_MAX_DEPTH levels, as in the document;
 * a ContentDoc whose options hold a "guid" that is not a string keeps its
 * own guid (Yjs would stringify it, or pick a random one for undefined);
 * integers above 2^53 - 1, and struct clocks and delete-set ranges that end
 * past it, are refused (Yjs goes on with imprecise numbers); a merge loop
 * that stops consuming input is refused instead of spinning.
 *
 * Cost: like Yjs, a merge re-sorts the decoder heads after every struct it
 * writes; the heads stay almost sorted, so that is O(n) per struct for n
 * updates. Memory: the output, a segment table, the delete ranges and one
 * decoder per input; Any objects being re-ordered hold one entry per key.
 *
 * Invariants
 *  - Input is untrusted: every length is checked against the bytes that
 *    remain (lib0.h's yreader) before it is used; nothing is allocated in
 *    proportion to a length read off the wire, only to structures actually
 *    present in the input. Malformed input gives Y_ERR_MALFORMED; strings
 *    must be well-formed UTF-8 (lib0 decodes them with a fatal TextDecoder).
 *  - A ustruct borrows its strings and content bytes from the input buffers,
 *    which stay untouched and alive for the whole call.
 *  - Every function here returns Y_OK or a negative Y_ERR_*; on error every
 *    temporary is freed and *out is left alone. On success *out is a new
 *    buffer owned by the caller (free with yfree).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "crdt.h"
#include "lib0.h"

/* Struct kinds, as Yjs's GC / Skip / Item. */
enum { US_GC = 0, US_SKIP = 1, US_ITEM = 2 };
/* Where an item's parent comes from when it has neither origin. */
enum { UP_NONE = 0, UP_STRING = 1, UP_ID = 2 };
/* Content refs (info & 31). */
enum {
    UC_DELETED = 1,
    UC_JSON = 2,
    UC_BINARY = 3,
    UC_STRING = 4,
    UC_EMBED = 5,
    UC_FORMAT = 6,
    UC_TYPE = 7,
    UC_ANY = 8,
    UC_DOC = 9
};

#define UINFO_ORIGIN  0x80
#define UINFO_RORIGIN 0x40
#define UINFO_SUB     0x20
#define UINFO_SKIP    10

/* Runaway guard: iterations of the merge loop that consume no input. */
#define UMERGE_MAX_IDLE 64

typedef struct {
    uint64_t client, clock;
} uid;

/* One struct as the lazy reader yields it. For Items, the content is kept
 * as bytes of the input: c[0..clen) holds, by kind,
 *   String:        the remaining UTF-8 (preceded by U+FFFD when fffd),
 *   JSON, Any:     the remaining `len` elements, back to back,
 *   Deleted:       nothing (len is the count),
 *   the others:    the whole encoded content (length 1, never sliced). */
typedef struct {
    uint8_t kind;
    uint8_t ref;
    uint8_t parent_kind;
    bool has_origin, has_rorigin, has_sub, fffd;
    uint64_t client, clock, len;
    uid origin, rorigin, parent_id;
    const uint8_t *parent_str, *sub, *c;
    size_t parent_len, sub_len, clen;
} ustruct;

/* Yjs's LazyStructReader over one update. */
typedef struct {
    yreader r;
    uint64_t clients_left, structs_left, client, clock;
    bool filter_skips;
    bool has; /* curr is valid; false once the structs are exhausted */
    ustruct curr;
} ulazy;

/* Yjs's LazyStructWriter: struct bytes go to `body`, cut into one segment
 * per run of one client; the segment table is joined at the end. */
typedef struct {
    size_t start, end;
    uint64_t written;
} useg;

typedef struct {
    ybuf body;
    useg *segs;
    size_t nsegs, capsegs;
    uint64_t client;
    uint64_t written; /* structs in the open segment */
    size_t seg_start;
} uwriter;

/* One delete-set range, with its position in the input for stable sorts. */
typedef struct {
    uint64_t client, clock, len;
    size_t seq;
} udel;

typedef struct {
    udel *v;
    size_t n, cap;
} udels;

/* ---- strings ------------------------------------------------------------ */

static int read_str(yreader *r, const uint8_t **p, size_t *n) {
    const char *s;
    if (yread_varstring(r, &s, n)) return Y_ERR_MALFORMED;
    if (!yutf8_valid(s, *n)) return Y_ERR_MALFORMED;
    *p = (const uint8_t *)s;
    return Y_OK;
}

static int copy_str(yreader *r, ybuf *b) {
    const uint8_t *p;
    size_t n;
    int rc = read_str(r, &p, &n);
    if (rc) return rc;
    if (b) ybuf_varbytes(b, p, n);
    return Y_OK;
}

/* ---- JSON syntax, as JSON.parse accepts it ------------------------------ */

/* JSON nesting: a value inside more than YANY_MAX_DEPTH open containers is
 * refused, the limit the document's own JSON reader (json.c) applies, so
 * that both accept the same updates. */
#define UJSON_MAX_DEPTH (YANY_MAX_DEPTH + 1)

static size_t json_ws(const uint8_t *s, size_t n, size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static bool is_hex(uint8_t c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A JSON string starting at s[i] == '"'; returns the index after it or 0. */
static size_t json_string(const uint8_t *s, size_t n, size_t i) {
    for (i++; i < n; i++) {
        if (s[i] == '"') return i + 1;
        if (s[i] < 0x20) return 0;
        if (s[i] != '\\') continue;
        if (++i >= n) return 0;
        switch (s[i]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't': break;
        case 'u':
            if (n - i < 5 || !is_hex(s[i + 1]) || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) ||
                !is_hex(s[i + 4]))
                return 0;
            i += 4;
            break;
        default: return 0;
        }
    }
    return 0;
}

/* A JSON number starting at s[i]; returns the index after it or 0. */
static size_t json_number(const uint8_t *s, size_t n, size_t i) {
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0')
        i++;
    else if (is_digit(s[i]))
        while (i < n && is_digit(s[i])) i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        if (++i >= n || !is_digit(s[i])) return 0;
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || !is_digit(s[i])) return 0;
        while (i < n && is_digit(s[i])) i++;
    }
    return i;
}

/* True when s[0..n) is one JSON text, as JSON.parse would accept it
 * (iterative: nesting is tracked in a bit stack; a value nested deeper
 * than YANY_MAX_DEPTH is refused). */
static bool json_valid(const uint8_t *s, size_t n) {
    uint8_t stack[(UJSON_MAX_DEPTH + 7) / 8]; /* bit set: the level is an object */
    size_t depth = 0, i = json_ws(s, n, 0);
    for (;;) {
        /* a value */
        if (i >= n || depth > YANY_MAX_DEPTH) return false;
        if (s[i] == '{' || s[i] == '[') {
            bool obj = s[i] == '{';
            if (obj)
                stack[depth / 8] |= (uint8_t)(1u << (depth % 8));
            else
                stack[depth / 8] &= (uint8_t) ~(1u << (depth % 8));
            depth++;
            i = json_ws(s, n, i + 1);
            if (i < n && s[i] == (obj ? '}' : ']')) {
                depth--;
                i++;
            } else {
                if (obj) {
                    if (i >= n || s[i] != '"' || !(i = json_string(s, n, i))) return false;
                    i = json_ws(s, n, i);
                    if (i >= n || s[i] != ':') return false;
                    i = json_ws(s, n, i + 1);
                }
                continue;
            }
        } else if (s[i] == '"') {
            if (!(i = json_string(s, n, i))) return false;
        } else if (n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
            i += 4;
        } else if (n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
            i += 5;
        } else if (n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
            i += 4;
        } else if (!(i = json_number(s, n, i))) {
            return false;
        }
        /* after a value: close containers, or a comma and the next value */
        for (;;) {
            i = json_ws(s, n, i);
            if (depth == 0) return i == n;
            bool obj = (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
            if (i >= n) return false;
            if (s[i] == (obj ? '}' : ']')) {
                depth--;
                i++;
                continue;
            }
            if (s[i] != ',') return false;
            i = json_ws(s, n, i + 1);
            if (obj) {
                if (i >= n || s[i] != '"' || !(i = json_string(s, n, i))) return false;
                i = json_ws(s, n, i);
                if (i >= n || s[i] != ':') return false;
                i = json_ws(s, n, i + 1);
            }
            break;
        }
    }
}

static int json_canon(const uint8_t *s, size_t n, ybuf *b);

/* Reads a string that JSON.parse must accept ("undefined" too when
 * allow_undefined: ContentJSON stores undefined that way) and writes it as
 * JSON.stringify(JSON.parse(s)) would. */
static int copy_json(yreader *r, ybuf *b, bool allow_undefined) {
    const uint8_t *p;
    size_t n;
    int rc = read_str(r, &p, &n);
    if (rc) return rc;
    if (allow_undefined && n == 9 && memcmp(p, "undefined", 9) == 0) {
        if (b) ybuf_varbytes(b, p, n);
        return Y_OK;
    }
    if (!json_valid(p, n)) return Y_ERR_MALFORMED;
    return b ? json_canon(p, n, b) : Y_OK;
}

/* ---- Any, re-encoded as lib0 readAny + writeAny would ------------------- */

static int any_copy(yreader *r, ybuf *b, int depth);

/* Writes a JavaScript number the way lib0 writeAny picks its encoding. A
 * NaN keeps its sign and payload and comes out quiet. (V8 itself is not
 * consistent here: a signalling NaN is quietened or kept depending on which
 * JIT tier runs the DataView code, so no test pins it.) */
static void put_number(ybuf *b, double d) {
    yany v;
    memset(&v, 0, sizeof v);
    if (isnan(d)) {
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        bits |= UINT64_C(0x0008000000000000);
        memcpy(&d, &bits, sizeof d);
    }
    v.kind = YANY_NUMBER;
    v.u.num = d;
    ybuf_any(b, &v);
}

/* An object entry as written to the output, for reordering afterwards. */
typedef struct {
    const uint8_t *key;
    size_t key_len;
    size_t idx;       /* position in the input */
    size_t out_start; /* key (varstring) starts here in the output */
    size_t val_start; /* value starts here */
    size_t out_end;
    size_t val_from; /* entry whose value wins (the last of equal keys) */
    uint64_t index;  /* array-index value, or UINT64_MAX if not an index */
    bool drop;
} uobj_ent;

/* JavaScript "array index": a canonical decimal integer below 2^32 - 1. */
static uint64_t array_index_of(const uint8_t *k, size_t n) {
    if (n == 0 || n > 10) return UINT64_MAX;
    if (n > 1 && k[0] == '0') return UINT64_MAX;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9') return UINT64_MAX;
        v = v * 10 + (uint64_t)(k[i] - '0');
    }
    return v <= 4294967294u ? v : UINT64_MAX;
}

static int cmp_ent_key(const void *a, const void *b) {
    const uobj_ent *x = *(const uobj_ent *const *)a, *y = *(const uobj_ent *const *)b;
    size_t m = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = m ? memcmp(x->key, y->key, m) : 0;
    if (c) return c;
    if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_ent_order(const void *a, const void *b) {
    const uobj_ent *x = *(const uobj_ent *const *)a, *y = *(const uobj_ent *const *)b;
    bool xi = x->index != UINT64_MAX, yi = y->index != UINT64_MAX;
    if (xi != yi) return xi ? -1 : 1;
    if (xi && x->index != y->index) return x->index < y->index ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Rewrites the object whose entries were just written at b->data[body..)
 * into JavaScript property order without dropped keys. */
static int object_fixup(ybuf *b, size_t count_pos, uobj_ent *e, size_t k) {
    int rc = Y_OK;
    uobj_ent **ptrs = NULL;
    uint8_t *tmp = NULL;
    size_t body = e[0].out_start, nkeep = 0;
    ptrs = ymalloc(k * sizeof *ptrs);
    if (!ptrs) return Y_ERR_NOMEM;
    for (size_t i = 0; i < k; i++) {
        e[i].val_from = i;
        e[i].drop = e[i].key_len == 9 && memcmp(e[i].key, "__proto__", 9) == 0;
        ptrs[i] = &e[i];
    }
    qsort(ptrs, k, sizeof *ptrs, cmp_ent_key);
    for (size_t i = 0; i < k;) {
        size_t j = i + 1;
        while (j < k && ptrs[j]->key_len == ptrs[i]->key_len &&
               memcmp(ptrs[j]->key, ptrs[i]->key, ptrs[i]->key_len) == 0)
            j++;
        ptrs[i]->val_from = ptrs[j - 1]->idx;
        for (size_t m = i + 1; m < j; m++) ptrs[m]->drop = true;
        i = j;
    }
    for (size_t i = 0; i < k; i++)
        if (!e[i].drop) ptrs[nkeep++] = &e[i];
    qsort(ptrs, nkeep, sizeof *ptrs, cmp_ent_order);
    bool changed = nkeep != k;
    for (size_t i = 0; i < nkeep && !changed; i++) changed = ptrs[i] != &e[i] || e[i].val_from != i;
    if (!changed) goto out;

    size_t region = b->len - body;
    tmp = ymalloc(region ? region : 1);
    if (!tmp) {
        rc = Y_ERR_NOMEM;
        goto out;
    }
    memcpy(tmp, b->data + body, region);
    b->len = count_pos;
    ybuf_varuint(b, nkeep);
    for (size_t i = 0; i < nkeep; i++) {
        const uobj_ent *ke = ptrs[i], *ve = &e[ke->val_from];
        ybuf_put(b, tmp + (ke->out_start - body), ke->val_start - ke->out_start);
        ybuf_put(b, tmp + (ve->val_start - body), ve->out_end - ve->val_start);
    }
    rc = b->err;
out:
    yfree(tmp);
    yfree(ptrs);
    return rc;
}

static int object_copy(yreader *r, ybuf *b, int depth) {
    uint64_t k;
    int rc = Y_OK;
    uobj_ent *e = NULL;
    if (yread_varuint(r, &k)) return Y_ERR_MALFORMED;
    /* every entry takes at least two bytes: a key length and a tag */
    if (k > yreader_left(r) / 2) return Y_ERR_MALFORMED;
    if (!b) {
        for (uint64_t i = 0; i < k; i++) {
            if ((rc = copy_str(r, NULL))) return rc;
            if ((rc = any_copy(r, NULL, depth + 1))) return rc;
        }
        return Y_OK;
    }
    ybuf_u8(b, YANY_TAG_OBJECT);
    size_t count_pos = b->len;
    ybuf_varuint(b, k);
    if (k == 0) return b->err;
    e = ymalloc((size_t)k * sizeof *e);
    if (!e) return Y_ERR_NOMEM;
    bool special = false;
    for (size_t i = 0; i < k; i++) {
        const uint8_t *kp;
        size_t kn;
        if ((rc = read_str(r, &kp, &kn))) goto out;
        e[i].key = kp;
        e[i].key_len = kn;
        e[i].idx = i;
        e[i].index = array_index_of(kp, kn);
        if (e[i].index != UINT64_MAX || (kn == 9 && memcmp(kp, "__proto__", 9) == 0))
            special = true;
        e[i].out_start = b->len;
        ybuf_varbytes(b, kp, kn);
        e[i].val_start = b->len;
        if ((rc = any_copy(r, b, depth + 1))) goto out;
        e[i].out_end = b->len;
        if ((rc = b->err)) goto out;
    }
    /* duplicates are only possible with two or more keys */
    if (special || k > 1) rc = object_fixup(b, count_pos, e, k);
out:
    yfree(e);
    return rc ? rc : b->err;
}

/* Reads one Any and, when b is not NULL, writes its lib0 re-encoding. */
static int any_copy(yreader *r, ybuf *b, int depth) {
    uint8_t tag;
    int rc;
    if (depth > YANY_MAX_DEPTH) return Y_ERR_MALFORMED;
    if (yread_u8(r, &tag)) return Y_ERR_MALFORMED;
    switch (tag) {
    case YANY_TAG_UNDEFINED:
    case YANY_TAG_NULL:
    case YANY_TAG_FALSE:
    case YANY_TAG_TRUE:
        if (b) ybuf_u8(b, tag);
        return Y_OK;
    case YANY_TAG_INT: {
        double d;
        if (yread_varint(r, &d)) return Y_ERR_MALFORMED;
        if (b) put_number(b, d);
        return Y_OK;
    }
    case YANY_TAG_FLOAT32: {
        float f;
        if (yread_f32(r, &f)) return Y_ERR_MALFORMED;
        if (b) put_number(b, (double)f);
        return Y_OK;
    }
    case YANY_TAG_FLOAT64: {
        double d;
        if (yread_f64(r, &d)) return Y_ERR_MALFORMED;
        if (b) put_number(b, d);
        return Y_OK;
    }
    case YANY_TAG_BIGINT: {
        const uint8_t *p;
        if (yread_bytes(r, 8, &p)) return Y_ERR_MALFORMED;
        if (b) {
            ybuf_u8(b, tag);
            ybuf_put(b, p, 8);
        }
        return Y_OK;
    }
    case YANY_TAG_STRING:
        if (b) ybuf_u8(b, tag);
        return copy_str(r, b);
    case YANY_TAG_BINARY: {
        const uint8_t *p;
        size_t n;
        if (yread_varbytes(r, &p, &n)) return Y_ERR_MALFORMED;
        if (b) {
            ybuf_u8(b, tag);
            ybuf_varbytes(b, p, n);
        }
        return Y_OK;
    }
    case YANY_TAG_ARRAY: {
        uint64_t n;
        if (yread_varuint(r, &n)) return Y_ERR_MALFORMED;
        if (n > yreader_left(r)) return Y_ERR_MALFORMED;
        if (b) {
            ybuf_u8(b, tag);
            ybuf_varuint(b, n);
        }
        for (uint64_t i = 0; i < n; i++)
            if ((rc = any_copy(r, b, depth + 1))) return rc;
        return Y_OK;
    }
    case YANY_TAG_OBJECT: return object_copy(r, b, depth);
    default: return Y_ERR_MALFORMED;
    }
}

/* ---- JSON, re-serialised as JSON.stringify(JSON.parse(text)) ------------ */

/* The JSON text being canonicalised (already checked by json_valid). */
typedef struct {
    const uint8_t *s;
    size_t n, i;
} ujson;

static int jc_value(ujson *j, ybuf *b);

static void jc_ws(ujson *j) { j->i = json_ws(j->s, j->n, j->i); }

static unsigned hex_val(uint8_t c) {
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

static unsigned jc_u4(const uint8_t *p) {
    return hex_val(p[0]) << 12 | hex_val(p[1]) << 8 | hex_val(p[2]) << 4 | hex_val(p[3]);
}

static void put_utf8(ybuf *b, uint32_t cp) {
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xc0 | cp >> 6);
        u[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xe0 | cp >> 12);
        u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        u[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xf0 | cp >> 18);
        u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        u[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    ybuf_put(b, u, n);
}

/* One UTF-16 code unit or code point, escaped as JSON.stringify does:
 * quote, backslash and controls escaped, lone surrogates as \udxxx. */
static void jc_put_char(ybuf *b, uint32_t cp) {
    static const char hexd[] = "0123456789abcdef";
    switch (cp) {
    case '"': ybuf_put(b, "\\\"", 2); return;
    case '\\': ybuf_put(b, "\\\\", 2); return;
    case '\b': ybuf_put(b, "\\b", 2); return;
    case '\f': ybuf_put(b, "\\f", 2); return;
    case '\n': ybuf_put(b, "\\n", 2); return;
    case '\r': ybuf_put(b, "\\r", 2); return;
    case '\t': ybuf_put(b, "\\t", 2); return;
    default: break;
    }
    if (cp < 0x20 || (cp >= 0xd800 && cp <= 0xdfff)) {
        char e[6] = {'\\',         'u', hexd[cp >> 12 & 15], hexd[cp >> 8 & 15], hexd[cp >> 4 & 15],
                     hexd[cp & 15]};
        ybuf_put(b, e, 6);
        return;
    }
    put_utf8(b, cp);
}

/* A string at j->s[j->i] == '"'. */
static void jc_string(ujson *j, ybuf *b) {
    const uint8_t *s = j->s;
    size_t i = j->i + 1;
    ybuf_u8(b, '"');
    while (s[i] != '"') {
        if (s[i] != '\\') {
            /* raw UTF-8 (well-formed): copy the whole sequence */
            size_t l = s[i] < 0x80 ? 1 : s[i] < 0xe0 ? 2 : s[i] < 0xf0 ? 3 : 4;
            if (l == 1)
                jc_put_char(b, s[i]);
            else
                ybuf_put(b, s + i, l);
            i += l;
            continue;
        }
        uint8_t e = s[i + 1];
        i += 2;
        switch (e) {
        case 'b': jc_put_char(b, '\b'); break;
        case 'f': jc_put_char(b, '\f'); break;
        case 'n': jc_put_char(b, '\n'); break;
        case 'r': jc_put_char(b, '\r'); break;
        case 't': jc_put_char(b, '\t'); break;
        case 'u': {
            uint32_t u = jc_u4(s + i);
            i += 4;
            if (u >= 0xd800 && u <= 0xdbff && s[i] == '\\' && s[i + 1] == 'u') {
                uint32_t lo = jc_u4(s + i + 2);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    put_utf8(b, 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00));
                    i += 6;
                    break;
                }
            }
            jc_put_char(b, u);
            break;
        }
        default: jc_put_char(b, e); break; /* " \ / */
        }
    }
    ybuf_u8(b, '"');
    j->i = i + 1;
}

/* A number as JavaScript's Number.prototype.toString writes it: the
 * shortest digits that read back to the same double, in plain notation for
 * exponents -7 < n <= 21, else as d.ddde+n. Infinity (from 1e999) is null,
 * as JSON.stringify writes it. */
static int jc_number(ujson *j, ybuf *b) {
    char lex[64], buf[40];
    size_t start = j->i, len;
    j->i = json_number(j->s, j->n, j->i);
    len = j->i - start;
    double d;
    if (len < sizeof lex) {
        memcpy(lex, j->s + start, len);
        lex[len] = '\0';
        d = strtod(lex, NULL);
    } else {
        char *big = ymalloc(len + 1);
        if (!big) return Y_ERR_NOMEM;
        memcpy(big, j->s + start, len);
        big[len] = '\0';
        d = strtod(big, NULL);
        yfree(big);
    }
    if (isinf(d)) return ybuf_put(b, "null", 4);
    if (d == 0) return ybuf_u8(b, '0');
    if (d < 0) {
        ybuf_u8(b, '-');
        d = -d;
    }
    int k = 1;
    for (; k <= 17; k++) {
        snprintf(buf, sizeof buf, "%.*e", k - 1, d);
        if (strtod(buf, NULL) == d) break;
    }
    char digits[20];
    int nd = 0;
    const char *p = buf;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int n = atoi(p + 1) + 1; /* the value is 0.digits * 10^n */
    if (nd <= n && n <= 21) {
        ybuf_put(b, digits, (size_t)nd);
        for (int z = nd; z < n; z++) ybuf_u8(b, '0');
    } else if (0 < n && n <= 21) {
        ybuf_put(b, digits, (size_t)n);
        ybuf_u8(b, '.');
        ybuf_put(b, digits + n, (size_t)(nd - n));
    } else if (-6 < n && n <= 0) {
        ybuf_put(b, "0.", 2);
        for (int z = 0; z < -n; z++) ybuf_u8(b, '0');
        ybuf_put(b, digits, (size_t)nd);
    } else {
        char e[16];
        ybuf_u8(b, (uint8_t)digits[0]);
        if (nd > 1) {
            ybuf_u8(b, '.');
            ybuf_put(b, digits + 1, (size_t)(nd - 1));
        }
        int m = snprintf(e, sizeof e, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
        ybuf_put(b, e, (size_t)m);
    }
    return b->err;
}

/* An object: members in JavaScript property order (array-index keys first,
 * ascending), a repeated key at its first place with its last value. */
static int jc_object(ujson *j, ybuf *b) {
    int rc = Y_OK;
    uobj_ent *e = NULL;
    size_t k = 0, cap = 0;
    size_t open = b->len;
    ybuf_u8(b, '{');
    j->i++;
    jc_ws(j);
    if (j->s[j->i] == '}') {
        j->i++;
        return ybuf_u8(b, '}');
    }
    for (;;) {
        if (k == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            uobj_ent *ne = yrealloc(e, ncap * sizeof *ne);
            if (!ne) {
                rc = Y_ERR_NOMEM;
                goto out;
            }
            e = ne;
            cap = ncap;
        }
        uobj_ent *x = &e[k];
        x->idx = k;
        x->out_start = b->len;
        jc_string(j, b);
        x->val_start = b->len;
        if ((rc = b->err)) goto out;
        /* the key without its quotes, as written (canonical, so equal keys
         * are equal bytes); pointers are fixed up below, after growth */
        x->key = NULL;
        x->key_len = x->val_start - x->out_start - 2;
        jc_ws(j);
        j->i++; /* ':' */
        jc_ws(j);
        if ((rc = jc_value(j, b))) goto out;
        x->out_end = b->len;
        k++;
        jc_ws(j);
        if (j->s[j->i++] == '}') break;
        jc_ws(j); /* after ',' */
    }
    /* the output may have moved while growing: take key pointers now */
    for (size_t i = 0; i < k; i++) {
        e[i].key = b->data + e[i].out_start + 1;
        e[i].index = array_index_of(e[i].key, e[i].key_len);
    }
    {
        /* reuse the Any object ordering, then put the commas and colons */
        uobj_ent **ptrs = ymalloc(k * sizeof *ptrs);
        uint8_t *tmp = ymalloc(b->len - open);
        if (!ptrs || !tmp) {
            yfree(ptrs);
            yfree(tmp);
            rc = Y_ERR_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < k; i++) {
            e[i].val_from = i;
            e[i].drop = false;
            ptrs[i] = &e[i];
        }
        qsort(ptrs, k, sizeof *ptrs, cmp_ent_key);
        for (size_t i = 0; i < k;) {
            size_t m = i + 1;
            while (m < k && ptrs[m]->key_len == ptrs[i]->key_len &&
                   memcmp(ptrs[m]->key, ptrs[i]->key, ptrs[i]->key_len) == 0)
                m++;
            ptrs[i]->val_from = ptrs[m - 1]->idx;
            for (size_t x = i + 1; x < m; x++) ptrs[x]->drop = true;
            i = m;
        }
        size_t nkeep = 0;
        for (size_t i = 0; i < k; i++)
            if (!e[i].drop) ptrs[nkeep++] = &e[i];
        qsort(ptrs, nkeep, sizeof *ptrs, cmp_ent_order);
        memcpy(tmp, b->data + open, b->len - open);
        b->len = open + 1;
        for (size_t i = 0; i < nkeep; i++) {
            const uobj_ent *ke = ptrs[i], *ve = &e[ke->val_from];
            if (i) ybuf_u8(b, ',');
            ybuf_put(b, tmp + (ke->out_start - open), ke->val_start - ke->out_start);
            ybuf_u8(b, ':');
            ybuf_put(b, tmp + (ve->val_start - open), ve->out_end - ve->val_start);
        }
        ybuf_u8(b, '}');
        yfree(tmp);
        yfree(ptrs);
    }
out:
    yfree(e);
    return rc ? rc : b->err;
}

static int jc_value(ujson *j, ybuf *b) {
    uint8_t c = j->s[j->i];
    int rc;
    if (c == '{') return jc_object(j, b);
    if (c == '[') {
        ybuf_u8(b, '[');
        j->i++;
        jc_ws(j);
        if (j->s[j->i] == ']') {
            j->i++;
        } else {
            for (bool first = true;; first = false) {
                if (!first) ybuf_u8(b, ',');
                if ((rc = jc_value(j, b))) return rc;
                jc_ws(j);
                if (j->s[j->i++] == ']') break;
                jc_ws(j);
            }
        }
        ybuf_u8(b, ']');
        return b->err;
    }
    if (c == '"') {
        jc_string(j, b);
        return b->err;
    }
    if (c == 't' || c == 'n') {
        ybuf_put(b, j->s + j->i, 4);
        j->i += 4;
        return b->err;
    }
    if (c == 'f') {
        ybuf_put(b, "false", 5);
        j->i += 5;
        return b->err;
    }
    return jc_number(j, b);
}

/* Writes JSON.stringify(JSON.parse(s)) as a varstring; s passed json_valid
 * (which bounds the nesting, hence the recursion here). */
static int json_canon(const uint8_t *s, size_t n, ybuf *b) {
    ybuf tmp;
    ujson j = {s, n, 0};
    ybuf_init(&tmp, YBUF_NO_LIMIT);
    jc_ws(&j);
    int rc = jc_value(&j, &tmp);
    if (!rc) rc = tmp.err;
    if (!rc) ybuf_varbytes(b, tmp.data ? tmp.data : (const uint8_t *)"", tmp.len);
    ybuf_release(&tmp);
    return rc ? rc : b->err;
}

/* JavaScript truthiness of the Any value at r (which is then skipped). */
static int any_truthy(yreader *r, bool *truthy) {
    size_t start = r->pos;
    int rc = any_copy(r, NULL, 0);
    if (rc) return rc;
    yreader v;
    yreader_init(&v, r->p + start, r->pos - start);
    uint8_t tag = v.p[0];
    v.pos = 1;
    switch (tag) {
    case YANY_TAG_UNDEFINED:
    case YANY_TAG_NULL:
    case YANY_TAG_FALSE: *truthy = false; return Y_OK;
    case YANY_TAG_INT: {
        double d;
        if (yread_varint(&v, &d)) return Y_ERR_MALFORMED;
        *truthy = d != 0;
        return Y_OK;
    }
    case YANY_TAG_FLOAT32: {
        float f;
        if (yread_f32(&v, &f)) return Y_ERR_MALFORMED;
        *truthy = f != 0 && !isnan(f);
        return Y_OK;
    }
    case YANY_TAG_FLOAT64: {
        double d;
        if (yread_f64(&v, &d)) return Y_ERR_MALFORMED;
        *truthy = d != 0 && !isnan(d);
        return Y_OK;
    }
    case YANY_TAG_BIGINT: *truthy = memcmp(v.p + 1, "\0\0\0\0\0\0\0\0", 8) != 0; return Y_OK;
    case YANY_TAG_STRING:
        *truthy = v.p[1] != 0; /* a zero length is the single byte 0 */
        return Y_OK;
    default: /* true, objects, arrays, binaries */ *truthy = true; return Y_OK;
    }
}

/* ContentDoc: a guid and options. Yjs does not copy the options: it builds
 * a Doc from {guid, ...opts} and writes back only what that Doc reflects,
 * in this order: gc: false if opts.gc was falsy (absent means true),
 * autoLoad: true if opts.autoLoad was truthy, meta if opts.meta was
 * neither null nor absent; a string opts.guid replaces the guid. Options
 * that are null or undefined are refused (Yjs throws reading them). Only an
 * object's own keys spread (the last of repeated keys wins); other values
 * contribute nothing that matters here. */
static int doc_content_copy(yreader *r, ybuf *b) {
    const uint8_t *guid;
    size_t guid_len;
    int rc = read_str(r, &guid, &guid_len);
    if (rc) return rc;
    size_t start = r->pos;
    if ((rc = any_copy(r, NULL, 0))) return rc;
    /* Yjs reads opts.shouldLoad: null or undefined options throw */
    if (r->p[start] == YANY_TAG_NULL || r->p[start] == YANY_TAG_UNDEFINED) return Y_ERR_MALFORMED;
    if (!b) return Y_OK;
    bool gc = true, autoload = false, has_meta = false;
    size_t meta_at = 0;
    yreader v;
    yreader_init(&v, r->p + start, r->pos - start);
    v.pos = 1;
    if (v.p[0] == YANY_TAG_OBJECT) {
        uint64_t k;
        if (yread_varuint(&v, &k)) return Y_ERR_MALFORMED;
        for (uint64_t i = 0; i < k; i++) {
            const uint8_t *kp;
            size_t kn;
            if ((rc = read_str(&v, &kp, &kn))) return rc;
            size_t at = v.pos;
            bool t;
            if ((rc = any_truthy(&v, &t))) return rc;
            if (kn == 2 && memcmp(kp, "gc", 2) == 0) {
                /* undefined takes the default (true) */
                gc = v.p[at] == YANY_TAG_UNDEFINED ? true : t;
            } else if (kn == 8 && memcmp(kp, "autoLoad", 8) == 0) {
                autoload = t;
            } else if (kn == 4 && memcmp(kp, "meta", 4) == 0) {
                has_meta = v.p[at] != YANY_TAG_UNDEFINED && v.p[at] != YANY_TAG_NULL;
                meta_at = at;
            } else if (kn == 4 && memcmp(kp, "guid", 4) == 0 && v.p[at] == YANY_TAG_STRING) {
                yreader g;
                yreader_init(&g, v.p, v.len);
                g.pos = at + 1;
                if ((rc = read_str(&g, &guid, &guid_len))) return rc;
            }
        }
    }
    ybuf_varbytes(b, guid, guid_len);
    ybuf_u8(b, YANY_TAG_OBJECT);
    ybuf_varuint(b, (uint64_t)!gc + autoload + has_meta);
    if (!gc) {
        ybuf_varbytes(b, (const uint8_t *)"gc", 2);
        ybuf_u8(b, YANY_TAG_FALSE);
    }
    if (autoload) {
        ybuf_varbytes(b, (const uint8_t *)"autoLoad", 8);
        ybuf_u8(b, YANY_TAG_TRUE);
    }
    if (has_meta) {
        ybuf_varbytes(b, (const uint8_t *)"meta", 4);
        v.pos = meta_at;
        if ((rc = any_copy(&v, b, 0))) return rc;
    }
    return b->err;
}

/* ---- struct contents ------------------------------------------------------ */

/* Reads (b == NULL: checks) or re-encodes one content of kind `ref` whose
 * elements/bytes start at r. For JSON and Any, `count` elements are read. */
static int content_body(uint8_t ref, yreader *r, uint64_t count, ybuf *b) {
    int rc;
    switch (ref) {
    case UC_JSON:
        for (uint64_t i = 0; i < count; i++)
            if ((rc = copy_json(r, b, true))) return rc;
        return Y_OK;
    case UC_ANY:
        for (uint64_t i = 0; i < count; i++)
            if ((rc = any_copy(r, b, 0))) return rc;
        return Y_OK;
    case UC_BINARY: {
        const uint8_t *p;
        size_t n;
        if (yread_varbytes(r, &p, &n)) return Y_ERR_MALFORMED;
        if (b) ybuf_varbytes(b, p, n);
        return Y_OK;
    }
    case UC_EMBED: return copy_json(r, b, false);
    case UC_FORMAT:
        if ((rc = copy_str(r, b))) return rc;
        return copy_json(r, b, false);
    case UC_TYPE: {
        uint64_t tref;
        if (yread_varuint(r, &tref)) return Y_ERR_MALFORMED;
        if (tref > YTYPE_XML_TEXT) return Y_ERR_MALFORMED;
        if (b) ybuf_varuint(b, tref);
        if (tref == YTYPE_XML_ELEMENT || tref == YTYPE_XML_HOOK) return copy_str(r, b);
        return Y_OK;
    }
    case UC_DOC: return doc_content_copy(r, b);
    default: return Y_ERR_MALFORMED;
    }
}

/* Reads the content of an item from r into s (kind, len, borrowed bytes). */
static int read_content(yreader *r, ustruct *s) {
    uint64_t n;
    int rc;
    size_t start;
    s->fffd = false;
    switch (s->ref) {
    case UC_DELETED:
        if (yread_varuint(r, &s->len)) return Y_ERR_MALFORMED;
        s->c = NULL;
        s->clen = 0;
        return Y_OK;
    case UC_STRING:
        if ((rc = read_str(r, &s->c, &s->clen))) return rc;
        s->len = yutf8_utf16_len((const char *)s->c, s->clen);
        return Y_OK;
    case UC_JSON:
    case UC_ANY:
        if (yread_varuint(r, &n)) return Y_ERR_MALFORMED;
        if (n > yreader_left(r)) return Y_ERR_MALFORMED;
        start = r->pos;
        if ((rc = content_body(s->ref, r, n, NULL))) return rc;
        s->len = n;
        s->c = r->p + start;
        s->clen = r->pos - start;
        return Y_OK;
    case UC_BINARY:
    case UC_EMBED:
    case UC_FORMAT:
    case UC_TYPE:
    case UC_DOC:
        start = r->pos;
        if ((rc = content_body(s->ref, r, 1, NULL))) return rc;
        s->len = 1;
        s->c = r->p + start;
        s->clen = r->pos - start;
        return Y_OK;
    default: return Y_ERR_MALFORMED;
    }
}

/* Cuts the first `diff` clock units off s (0 < diff < s->len), as Yjs's
 * sliceStruct does (and as Item.write with an offset encodes it). */
static int slice_struct(ustruct *s, uint64_t diff) {
    if (diff == 0) return Y_OK;
    if (diff >= s->len) return Y_ERR_MALFORMED;
    if (s->kind == US_ITEM) {
        yreader r;
        switch (s->ref) {
        case UC_DELETED: break;
        case UC_STRING: {
            uint64_t d = diff;
            size_t i = 0;
            if (s->fffd) {
                s->fffd = false;
                d--;
            }
            while (d > 0 && i < s->clen) {
                uint8_t c = s->c[i];
                size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
                if (l == 4 && d == 1) {
                    /* inside a surrogate pair: the low half becomes U+FFFD */
                    s->fffd = true;
                    d = 0;
                } else {
                    d -= l == 4 ? 2 : 1;
                }
                i += l;
            }
            if (d > 0 || i > s->clen) return Y_ERR_MALFORMED;
            s->c += i;
            s->clen -= i;
            break;
        }
        case UC_JSON:
        case UC_ANY: {
            yreader_init(&r, s->c, s->clen);
            int rc = content_body(s->ref, &r, diff, NULL);
            if (rc) return rc;
            s->c += r.pos;
            s->clen -= r.pos;
            break;
        }
        default: return Y_ERR_MALFORMED; /* length-1 contents cannot be cut */
        }
        s->has_origin = true;
        s->origin.client = s->client;
        s->origin.clock = s->clock + diff - 1;
    }
    s->clock += diff;
    s->len -= diff;
    return Y_OK;
}

/* ---- the lazy struct reader ----------------------------------------------- */

static int read_id(yreader *r, uid *id) {
    if (yread_varuint(r, &id->client) || yread_varuint(r, &id->clock)) return Y_ERR_MALFORMED;
    return Y_OK;
}

static int read_struct(ulazy *z, ustruct *s) {
    yreader *r = &z->r;
    uint8_t info;
    int rc;
    memset(s, 0, sizeof *s);
    s->client = z->client;
    s->clock = z->clock;
    if (yread_u8(r, &info)) return Y_ERR_MALFORMED;
    if (info == UINFO_SKIP) {
        s->kind = US_SKIP;
        if (yread_varuint(r, &s->len)) return Y_ERR_MALFORMED;
        return Y_OK;
    }
    if ((info & 0x1f) == 0) {
        s->kind = US_GC;
        if (yread_varuint(r, &s->len)) return Y_ERR_MALFORMED;
        return Y_OK;
    }
    s->kind = US_ITEM;
    s->ref = info & 0x1f;
    if (s->ref > UC_DOC) return Y_ERR_MALFORMED;
    if (info & UINFO_ORIGIN) {
        if ((rc = read_id(r, &s->origin))) return rc;
        s->has_origin = true;
    }
    if (info & UINFO_RORIGIN) {
        if ((rc = read_id(r, &s->rorigin))) return rc;
        s->has_rorigin = true;
    }
    if (!s->has_origin && !s->has_rorigin) {
        uint64_t pinfo;
        if (yread_varuint(r, &pinfo)) return Y_ERR_MALFORMED;
        if (pinfo == 1) {
            s->parent_kind = UP_STRING;
            if ((rc = read_str(r, &s->parent_str, &s->parent_len))) return rc;
        } else {
            s->parent_kind = UP_ID;
            if ((rc = read_id(r, &s->parent_id))) return rc;
        }
        if (info & UINFO_SUB) {
            s->has_sub = true;
            if ((rc = read_str(r, &s->sub, &s->sub_len))) return rc;
        }
    }
    return read_content(r, s);
}

/* Advances to the next struct (skipping Skips when asked); z->has says
 * whether there is one. */
static int lazy_next(ulazy *z) {
    for (;;) {
        while (z->structs_left == 0) {
            if (z->clients_left == 0) {
                z->has = false;
                return Y_OK;
            }
            z->clients_left--;
            if (yread_varuint(&z->r, &z->structs_left) || yread_varuint(&z->r, &z->client) ||
                yread_varuint(&z->r, &z->clock))
                return Y_ERR_MALFORMED;
        }
        z->structs_left--;
        int rc = read_struct(z, &z->curr);
        if (rc) return rc;
        z->clock += z->curr.len;
        if (z->clock > YLIB0_MAX_SAFE_INT) return Y_ERR_MALFORMED;
        if (z->filter_skips && z->curr.kind == US_SKIP) continue;
        z->has = true;
        return Y_OK;
    }
}

static int lazy_init(ulazy *z, const uint8_t *p, size_t len, bool filter_skips) {
    memset(z, 0, sizeof *z);
    yreader_init(&z->r, p, len);
    z->filter_skips = filter_skips;
    if (yread_varuint(&z->r, &z->clients_left)) return Y_ERR_MALFORMED;
    return lazy_next(z);
}

/* ---- the lazy struct writer ----------------------------------------------- */

static void emit_id(ybuf *b, const uid *id) {
    ybuf_varuint(b, id->client);
    ybuf_varuint(b, id->clock);
}

/* Writes s as Yjs's GC/Skip/Item write(encoder, 0) would. */
static int emit_struct(ybuf *b, const ustruct *s) {
    if (s->kind == US_GC || s->kind == US_SKIP) {
        ybuf_u8(b, s->kind == US_GC ? 0 : UINFO_SKIP);
        ybuf_varuint(b, s->len);
        return b->err;
    }
    uint8_t info = s->ref;
    if (s->has_origin) info |= UINFO_ORIGIN;
    if (s->has_rorigin) info |= UINFO_RORIGIN;
    if (s->has_sub) info |= UINFO_SUB;
    ybuf_u8(b, info);
    if (s->has_origin) emit_id(b, &s->origin);
    if (s->has_rorigin) emit_id(b, &s->rorigin);
    if (!s->has_origin && !s->has_rorigin) {
        if (s->parent_kind == UP_STRING) {
            ybuf_varuint(b, 1);
            ybuf_varbytes(b, s->parent_str, s->parent_len);
        } else {
            ybuf_varuint(b, 0);
            emit_id(b, &s->parent_id);
        }
        if (s->has_sub) ybuf_varbytes(b, s->sub, s->sub_len);
    }
    yreader r;
    yreader_init(&r, s->c, s->clen);
    switch (s->ref) {
    case UC_DELETED: ybuf_varuint(b, s->len); break;
    case UC_STRING:
        ybuf_varuint(b, s->clen + (s->fffd ? 3 : 0));
        if (s->fffd) ybuf_put(b, "\xEF\xBF\xBD", 3);
        ybuf_put(b, s->c, s->clen);
        break;
    case UC_JSON:
    case UC_ANY: {
        ybuf_varuint(b, s->len);
        int rc = content_body(s->ref, &r, s->len, b);
        if (rc) return rc;
        break;
    }
    default: {
        int rc = content_body(s->ref, &r, 1, b);
        if (rc) return rc;
        break;
    }
    }
    return b->err;
}

static void writer_init(uwriter *w) {
    memset(w, 0, sizeof *w);
    ybuf_init(&w->body, YBUF_NO_LIMIT);
}

static void writer_release(uwriter *w) {
    ybuf_release(&w->body);
    yfree(w->segs);
    w->segs = NULL;
}

static int writer_flush(uwriter *w) {
    if (w->written == 0) return Y_OK;
    if (w->nsegs == w->capsegs) {
        size_t ncap = w->capsegs ? w->capsegs * 2 : 8;
        useg *ns = yrealloc(w->segs, ncap * sizeof *ns);
        if (!ns) return Y_ERR_NOMEM;
        w->segs = ns;
        w->capsegs = ncap;
    }
    w->segs[w->nsegs].start = w->seg_start;
    w->segs[w->nsegs].end = w->body.len;
    w->segs[w->nsegs].written = w->written;
    w->nsegs++;
    w->written = 0;
    return Y_OK;
}

/* writeStructToLazyStructWriter with offset 0 (callers slice first). */
static int writer_put(uwriter *w, const ustruct *s) {
    int rc;
    if (w->written > 0 && w->client != s->client)
        if ((rc = writer_flush(w))) return rc;
    if (w->written == 0) {
        w->client = s->client;
        w->seg_start = w->body.len;
        ybuf_varuint(&w->body, s->client);
        ybuf_varuint(&w->body, s->clock);
    }
    if ((rc = emit_struct(&w->body, s))) return rc;
    w->written++;
    return Y_OK;
}

/* finishLazyStructWriting: the struct section of the update, into out. */
static int writer_finish(uwriter *w, ybuf *out) {
    int rc = writer_flush(w);
    if (rc) return rc;
    if (w->body.err) return w->body.err;
    ybuf_varuint(out, w->nsegs);
    for (size_t i = 0; i < w->nsegs; i++) {
        ybuf_varuint(out, w->segs[i].written);
        ybuf_put(out, w->body.data + w->segs[i].start, w->segs[i].end - w->segs[i].start);
    }
    return out->err;
}

/* ---- delete sets ------------------------------------------------------------ */

/* Reads a delete set (readDeleteSet); appends its ranges to d when d is not
 * NULL. Clients with no ranges are dropped, as Yjs drops them. */
static int read_ds(yreader *r, udels *d) {
    uint64_t nclients;
    if (yread_varuint(r, &nclients)) return Y_ERR_MALFORMED;
    for (uint64_t i = 0; i < nclients; i++) {
        uint64_t client, ndel;
        if (yread_varuint(r, &client) || yread_varuint(r, &ndel)) return Y_ERR_MALFORMED;
        if (ndel > yreader_left(r) / 2) return Y_ERR_MALFORMED;
        if (d && ndel > d->cap - d->n) {
            size_t ncap = d->cap ? d->cap : 16;
            while (ncap - d->n < ndel) ncap *= 2;
            udel *nv = yrealloc(d->v, ncap * sizeof *nv);
            if (!nv) return Y_ERR_NOMEM;
            d->v = nv;
            d->cap = ncap;
        }
        for (uint64_t j = 0; j < ndel; j++) {
            uint64_t clock, len;
            if (yread_varuint(r, &clock) || yread_varuint(r, &len)) return Y_ERR_MALFORMED;
            /* Yjs would go on with imprecise numbers; a range past 2^53 - 1
             * cannot exist, and a merge would write an end we cannot read */
            if (len > YLIB0_MAX_SAFE_INT - clock) return Y_ERR_MALFORMED;
            if (d) {
                udel *e = &d->v[d->n];
                e->client = client;
                e->clock = clock;
                e->len = len;
                e->seq = d->n;
                d->n++;
            }
        }
    }
    return Y_OK;
}

/* Clients descending, then input order (diffUpdate's writeDeleteSet). */
static int cmp_del_client(const void *a, const void *b) {
    const udel *x = a, *y = b;
    if (x->client != y->client) return x->client > y->client ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Clients descending, then clock, then input order (mergeDeleteSets). */
static int cmp_del_clock(const void *a, const void *b) {
    const udel *x = a, *y = b;
    if (x->client != y->client) return x->client > y->client ? -1 : 1;
    if (x->clock != y->clock) return x->clock < y->clock ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Writes the ranges grouped by client; with `merge`, sorted and joined as
 * sortAndMergeDeleteSet does. */
static int write_ds(ybuf *b, udels *d, bool merge) {
    if (d->n) qsort(d->v, d->n, sizeof *d->v, merge ? cmp_del_clock : cmp_del_client);
    size_t nclients = 0;
    for (size_t i = 0; i < d->n; i++)
        if (i == 0 || d->v[i].client != d->v[i - 1].client) nclients++;
    ybuf_varuint(b, nclients);
    for (size_t i = 0; i < d->n;) {
        size_t j = i + 1;
        while (j < d->n && d->v[j].client == d->v[i].client) j++;
        size_t k = j - i;
        if (merge) {
            /* join in place: v[i..i+k) becomes the merged ranges */
            size_t w = i + 1;
            for (size_t m = i + 1; m < j; m++) {
                udel *left = &d->v[w - 1], *right = &d->v[m];
                if (left->clock + left->len >= right->clock) {
                    uint64_t end = right->clock + right->len - left->clock;
                    if (end > left->len) left->len = end;
                } else {
                    d->v[w++] = *right;
                }
            }
            k = w - i;
        }
        ybuf_varuint(b, d->v[i].client);
        ybuf_varuint(b, k);
        for (size_t m = i; m < i + k; m++) {
            ybuf_varuint(b, d->v[m].clock);
            ybuf_varuint(b, d->v[m].len);
        }
        i = j;
    }
    return b->err;
}

/* Checks a whole update: structs and delete set. */
static int validate_update(const uint8_t *p, size_t len) {
    ulazy z;
    int rc = lazy_init(&z, p, len, false);
    while (!rc && z.has) rc = lazy_next(&z);
    if (rc) return rc;
    return read_ds(&z.r, NULL);
}

/* ---- merge ------------------------------------------------------------------ */

/* The comparator of mergeUpdatesV2's sort: client descending, clock
 * ascending, and at the same id a Skip after anything else (an Item and a
 * GC at one id compare as "less" both ways, which is why the sort algorithm
 * itself has to be V8's). */
static int cmp_heads(const ulazy *a, const ulazy *b) {
    const ustruct *x = &a->curr, *y = &b->curr;
    if (x->client == y->client) {
        if (x->clock != y->clock) return x->clock < y->clock ? -1 : 1;
        if (x->kind == y->kind) return 0;
        return x->kind == US_SKIP ? 1 : -1;
    }
    return y->client > x->client ? 1 : -1;
}

/* V8's Array.prototype.sort (TimSort) for arrays shorter than its minimum
 * run, which covers any realistic number of updates: find the first run
 * (reversing a strictly descending one), then binary insertion. For longer
 * arrays this is still a stable sort, so only the inconsistent tie above
 * could order differently from V8. */
static void v8_sort(ulazy **a, size_t n) {
    if (n < 2) return;
    size_t run = 2;
    bool desc = cmp_heads(a[1], a[0]) < 0;
    for (size_t i = 2; i < n; i++) {
        int o = cmp_heads(a[i], a[i - 1]);
        if (desc ? o >= 0 : o < 0) break;
        run++;
    }
    if (desc)
        for (size_t i = 0, j = run - 1; i < j; i++, j--) {
            ulazy *t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    for (size_t start = run; start < n; start++) {
        ulazy *pivot = a[start];
        size_t left = 0, right = start;
        while (left < right) {
            size_t mid = left + ((right - left) >> 1);
            if (cmp_heads(pivot, a[mid]) < 0)
                right = mid;
            else
                left = mid + 1;
        }
        memmove(&a[left + 1], &a[left], (start - left) * sizeof *a);
        a[left] = pivot;
    }
}

/* The struct loop of mergeUpdatesV2. */
static int merge_structs(ulazy *decs, ulazy **order, size_t n, uwriter *w) {
    int rc = Y_OK;
    bool have_cw = false;
    ustruct cw;
    size_t active = n, idle = 0;
    memset(&cw, 0, sizeof cw);
    for (size_t i = 0; i < n; i++) order[i] = &decs[i];
    for (;;) {
        size_t m = 0;
        for (size_t i = 0; i < active; i++)
            if (order[i]->has) order[m++] = order[i];
        active = m;
        v8_sort(order, active);
        if (active == 0) break;
        ulazy *cd = order[0];
        uint64_t first = cd->curr.client;
        bool advanced = false;
        if (have_cw) {
            bool iterated = false;
            uint64_t cw_end = cw.clock + cw.len;
            while (cd->has && cd->curr.clock + cd->curr.len <= cw_end &&
                   cd->curr.client >= cw.client) {
                if ((rc = lazy_next(cd))) return rc;
                iterated = advanced = true;
            }
            if (!cd->has || cd->curr.client != first || (iterated && cd->curr.clock > cw_end)) {
                idle = 0;
                continue;
            }
            ustruct curr = cd->curr;
            if (first != cw.client) {
                if ((rc = writer_put(w, &cw))) return rc;
                cw = curr;
                if ((rc = lazy_next(cd))) return rc;
                advanced = true;
            } else if (cw_end < curr.clock) {
                if (cw.kind == US_SKIP) {
                    cw.len = curr.clock + curr.len - cw.clock;
                } else {
                    if ((rc = writer_put(w, &cw))) return rc;
                    ustruct skip;
                    memset(&skip, 0, sizeof skip);
                    skip.kind = US_SKIP;
                    skip.client = first;
                    skip.clock = cw_end;
                    skip.len = curr.clock - cw_end;
                    cw = skip;
                }
            } else {
                uint64_t diff = cw_end - curr.clock;
                if (diff > 0) {
                    if (cw.kind == US_SKIP) {
                        if (diff > cw.len) return Y_ERR_MALFORMED;
                        cw.len -= diff;
                    } else if ((rc = slice_struct(&curr, diff))) {
                        return rc;
                    }
                }
                if (cw.kind == US_GC && curr.kind == US_GC) {
                    cw.len += curr.len; /* GC.mergeWith */
                } else {
                    if ((rc = writer_put(w, &cw))) return rc;
                    cw = curr;
                    if ((rc = lazy_next(cd))) return rc;
                    advanced = true;
                }
            }
        } else {
            cw = cd->curr;
            have_cw = true;
            if ((rc = lazy_next(cd))) return rc;
            advanced = true;
        }
        while (cd->has && cd->curr.client == first && cd->curr.clock == cw.clock + cw.len &&
               cd->curr.kind != US_SKIP) {
            if ((rc = writer_put(w, &cw))) return rc;
            cw = cd->curr;
            if ((rc = lazy_next(cd))) return rc;
            advanced = true;
        }
        /* every path above either consumes input or changes cw so the next
         * round consumes; a long run of rounds that consume nothing would
         * mean a loop Yjs itself would never leave */
        idle = advanced ? 0 : idle + 1;
        if (idle > UMERGE_MAX_IDLE) return Y_ERR_MALFORMED;
    }
    if (have_cw) rc = writer_put(w, &cw);
    return rc;
}

int yupdate_merge(const uint8_t *const *updates, const size_t *lens, size_t n, uint8_t **out,
                  size_t *out_len) {
    int rc = Y_OK;
    ulazy *decs = NULL;
    ulazy **order = NULL;
    udels dels = {0};
    uwriter w;
    ybuf res;
    writer_init(&w);
    ybuf_init(&res, YBUF_NO_LIMIT);
    if (!out || !out_len || (n && (!updates || !lens))) return Y_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!updates[i] && lens[i]) return Y_ERR_INVALID;
    if (n == 1) {
        /* Yjs returns a lone update unchanged; it is still checked here */
        if ((rc = validate_update(updates[0], lens[0]))) goto out;
        ybuf_put(&res, updates[0], lens[0]);
        rc = ybuf_detach(&res, out, out_len);
        goto out;
    }
    if (n) {
        decs = ycalloc(n, sizeof *decs);
        order = ycalloc(n, sizeof *order);
        if (!decs || !order) {
            rc = Y_ERR_NOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++)
        if ((rc = lazy_init(&decs[i], updates[i], lens[i], true))) goto out;
    if ((rc = merge_structs(decs, order, n, &w))) goto out;
    if ((rc = writer_finish(&w, &res))) goto out;
    for (size_t i = 0; i < n; i++)
        if ((rc = read_ds(&decs[i].r, &dels))) goto out;
    if ((rc = write_ds(&res, &dels, true))) goto out;
    rc = ybuf_detach(&res, out, out_len);
out:
    ybuf_release(&res);
    writer_release(&w);
    yfree(dels.v);
    yfree(order);
    yfree(decs);
    return rc;
}

/* ---- diff ------------------------------------------------------------------- */

typedef struct {
    uint64_t client, clock;
    size_t seq;
} usv;

static int cmp_sv(const void *a, const void *b) {
    const usv *x = a, *y = b;
    if (x->client != y->client) return x->client < y->client ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The clock a state vector gives `client` (the last entry wins, as in a
 * JavaScript Map), 0 when absent. */
static uint64_t sv_get(const usv *v, size_t n, uint64_t client) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].client <= client)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && v[lo - 1].client == client ? v[lo - 1].clock : 0;
}

int yupdate_diff(const uint8_t *update, size_t len, const uint8_t *sv, size_t sv_len, uint8_t **out,
                 size_t *out_len) {
    int rc = Y_OK;
    usv *svs = NULL;
    size_t nsv = 0;
    udels dels = {0};
    uwriter w;
    ybuf res;
    ulazy z;
    yreader r;
    uint64_t count;
    writer_init(&w);
    ybuf_init(&res, YBUF_NO_LIMIT);
    if (!out || !out_len || (!update && len) || (!sv && sv_len)) return Y_ERR_INVALID;

    yreader_init(&r, sv, sv_len);
    if (yread_varuint(&r, &count) || count > yreader_left(&r) / 2) {
        rc = Y_ERR_MALFORMED;
        goto out;
    }
    if (count) {
        svs = ymalloc((size_t)count * sizeof *svs);
        if (!svs) {
            rc = Y_ERR_NOMEM;
            goto out;
        }
    }
    for (nsv = 0; nsv < count; nsv++) {
        if (yread_varuint(&r, &svs[nsv].client) || yread_varuint(&r, &svs[nsv].clock)) {
            rc = Y_ERR_MALFORMED;
            goto out;
        }
        svs[nsv].seq = nsv;
    }
    if (nsv) qsort(svs, nsv, sizeof *svs, cmp_sv);

    if ((rc = lazy_init(&z, update, len, false))) goto out;
    while (z.has) {
        uint64_t client = z.curr.client;
        uint64_t svclock = sv_get(svs, nsv, client);
        if (z.curr.kind == US_SKIP) {
            if ((rc = lazy_next(&z))) goto out;
            continue;
        }
        if (z.curr.clock + z.curr.len > svclock) {
            ustruct s = z.curr;
            if (svclock > s.clock && (rc = slice_struct(&s, svclock - s.clock))) goto out;
            if ((rc = writer_put(&w, &s))) goto out;
            if ((rc = lazy_next(&z))) goto out;
            while (z.has && z.curr.client == client) {
                if ((rc = writer_put(&w, &z.curr))) goto out;
                if ((rc = lazy_next(&z))) goto out;
            }
        } else {
            while (z.has && z.curr.client == client && z.curr.clock + z.curr.len <= svclock)
                if ((rc = lazy_next(&z))) goto out;
        }
    }
    if ((rc = writer_finish(&w, &res))) goto out;
    if ((rc = read_ds(&z.r, &dels))) goto out;
    if ((rc = write_ds(&res, &dels, false))) goto out;
    rc = ybuf_detach(&res, out, out_len);
out:
    ybuf_release(&res);
    writer_release(&w);
    yfree(dels.v);
    yfree(svs);
    return rc;
}

/* ---- state vector ------------------------------------------------------------- */

int yupdate_state_vector(const uint8_t *update, size_t len, uint8_t **out, size_t *out_len) {
    int rc = Y_OK;
    ulazy z;
    ybuf pairs, res;
    uint64_t size = 0;
    ybuf_init(&pairs, YBUF_NO_LIMIT);
    ybuf_init(&res, YBUF_NO_LIMIT);
    if (!out || !out_len || (!update && len)) return Y_ERR_INVALID;
    if ((rc = lazy_init(&z, update, len, false))) goto out;
    if (z.has) {
        uint64_t client = z.curr.client;
        bool stop = z.curr.clock != 0; /* a client's run must start at 0 */
        uint64_t clock = stop ? 0 : z.curr.clock + z.curr.len;
        for (; z.has; rc = lazy_next(&z)) {
            if (rc) goto out;
            if (client != z.curr.client) {
                if (clock != 0) {
                    size++;
                    ybuf_varuint(&pairs, client);
                    ybuf_varuint(&pairs, clock);
                }
                client = z.curr.client;
                clock = 0;
                stop = z.curr.clock != 0;
            }
            if (z.curr.kind == US_SKIP) stop = true;
            if (!stop) clock = z.curr.clock + z.curr.len;
        }
        if (rc) goto out;
        if (clock != 0) {
            size++;
            ybuf_varuint(&pairs, client);
            ybuf_varuint(&pairs, clock);
        }
    }
    /* Yjs stops reading after the structs; the delete set is checked here
     * so that a malformed update never yields a state vector */
    if ((rc = read_ds(&z.r, NULL))) goto out;
    if ((rc = pairs.err)) goto out;
    ybuf_varuint(&res, size);
    if (pairs.len) ybuf_put(&res, pairs.data, pairs.len);
    rc = ybuf_detach(&res, out, out_len);
out:
    ybuf_release(&pairs);
    ybuf_release(&res);
    return rc;
}
