/*
 * ydriver.c - a line-protocol front end to the C CRDT engine, so the Node.js
 * interop tests can drive it beside the real Yjs.
 *
 * Protocol: one JSON object per line on stdin, one JSON object per line on
 * stdout, in the same order (so a client may pipeline many requests).
 *
 *   request:  {"id": <any>, "cmd": "<name>", ...arguments}
 *   reply:    {"id": <same>, "ok": true, ...results}
 *             {"id": <same>, "ok": false, "err": <Y_ERR_* or 0>, "error": "<text>"}
 *
 * Bytes (updates, state vectors, snapshots) travel as lowercase hex strings.
 * A byte argument may instead be an integer: the number of a slot in the
 * driver's blob store, filled by any byte-returning command given
 * "keep": <slot> (the reply then omits the bytes). This lets a client pipeline
 * "commit on A, apply on B" without waiting for the bytes to come back.
 *
 * Any values are JSON, with tagged objects for what JSON cannot say:
 *   {"$bin": "<hex>"}  {"$bigint": "<decimal>"}  {"$undef": true}
 *   {"$num": "NaN" | "Infinity" | "-Infinity" | "-0"}
 * Nested shared types read back as {"$text": "..."}, {"$map": {...}},
 * {"$array": [...]} (other kinds as {"$xml": <kind>}).
 *
 * A shared type is named by "root" (root name), "kind" ("text", "map",
 * "array": the kind the root is fetched as) and an optional "path": map keys
 * (strings) and array indexes (numbers) leading to a nested type.
 *
 * Text formatting "attrs" is an object of Any values; without "attrs" the
 * engine gets NULL (ytext_insert: inherit the formatting around), with
 * "attrs": {} it gets an empty, non-NULL list (explicitly unformatted).
 *
 * "replay" {"file": <.json.gz>} replays a sequential editing trace
 * (../shared/traces/FORMAT.md) inside the driver, one engine transaction per
 * trace transaction, so 260k transactions need not cross the pipe.
 *
 * Edit commands run inside the transaction opened by "begin"; without one,
 * the edit runs in its own transaction and the reply carries its update, as a
 * Yjs edit outside doc.transact() does.
 *
 * "apply" replies with "updates": the updates the document's update
 * observer received while applying (hex), as Yjs's 'update' events.
 *
 * A document made with "changes": true also reports, in the replies to
 * commit, auto-committed edits and apply, what its change observer saw: one
 * array per engine transaction of {"root", "delta"} for each root Y.Text that
 * changed, the delta in the shape of Yjs's YTextEvent.delta.
 *
 * Commands: new, free, begin, commit, text_insert, text_insert_embed,
 * text_delete, text_format, map_set, map_set_type, map_delete, array_insert,
 * array_insert_type, array_delete, apply, encode, sv, snapshot, text_at, get,
 * len, pending, merge, diff, update_sv, put, take, replay. See dispatch().
 *
 * Invariants: the driver never exits on a bad request (it replies with an
 * error); every byte returned by the engine is released with yfree(); at
 * exit every document is freed so ASan's leak check covers the engine.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "crdt.h"

/* ---- small helpers ------------------------------------------------------ */

struct bytes {
    uint8_t *p;
    size_t n;
};

/* A request failed: the message goes back to the client, with the engine's
 * error code when there is one. */
struct fail {
    int err;
    char msg[512];
};

static void failf(struct fail *f, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void failf(struct fail *f, int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    f->err = err;
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "ydriver: out of memory\n");
        exit(3);
    }
    return p;
}

static json_t *hex_of(const uint8_t *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    char *s = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    json_t *j = json_stringn(s, 2 * n);
    free(s);
    return j;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool unhex(const char *s, size_t len, struct bytes *out) {
    if (len % 2) return false;
    out->n = len / 2;
    out->p = xmalloc(out->n);
    for (size_t i = 0; i < out->n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out->p);
            out->p = NULL;
            return false;
        }
        out->p[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* ---- blob store ----------------------------------------------------------- */

static struct bytes *blobs;
static size_t nblobs;

static void blob_put(size_t slot, const uint8_t *p, size_t n) {
    if (slot >= nblobs) {
        size_t nn = slot + 1 > 2 * nblobs ? slot + 1 : 2 * nblobs;
        blobs = realloc(blobs, nn * sizeof *blobs);
        if (!blobs) exit(3);
        memset(blobs + nblobs, 0, (nn - nblobs) * sizeof *blobs);
        nblobs = nn;
    }
    free(blobs[slot].p);
    blobs[slot].p = xmalloc(n);
    if (n) memcpy(blobs[slot].p, p, n);
    blobs[slot].n = n;
}

/* Reads a byte argument: a hex string, or a blob slot number. The result is
 * a private copy the caller frees. */
static bool get_bytes(json_t *req, const char *name, struct bytes *out, struct fail *f) {
    json_t *v = json_object_get(req, name);
    if (json_is_string(v)) {
        if (!unhex(json_string_value(v), json_string_length(v), out)) {
            failf(f, 0, "argument %s: not a hex string", name);
            return false;
        }
        return true;
    }
    if (json_is_integer(v)) {
        json_int_t slot = json_integer_value(v);
        if (slot < 0 || (size_t)slot >= nblobs || !blobs[slot].p) {
            failf(f, 0, "argument %s: blob slot %lld is empty", name, (long long)slot);
            return false;
        }
        out->n = blobs[slot].n;
        out->p = xmalloc(out->n);
        if (out->n) memcpy(out->p, blobs[slot].p, out->n);
        return true;
    }
    failf(f, 0, "argument %s: expected a hex string or a blob slot", name);
    return false;
}

/* Puts bytes into the reply under `name`, or into the blob slot the request
 * names with "keep". */
static void put_bytes(json_t *req, json_t *reply, const char *name, const uint8_t *p, size_t n) {
    json_t *keep = json_object_get(req, "keep");
    if (json_is_integer(keep) && json_integer_value(keep) >= 0) {
        blob_put((size_t)json_integer_value(keep), p, n);
        json_object_set_new(reply, "len", json_integer((json_int_t)n));
    } else {
        json_object_set_new(reply, name, hex_of(p, n));
    }
}

/* ---- arena for Any values built from JSON --------------------------------- */

struct arena {
    void **ptrs;
    size_t n, cap;
};

static void *arena_alloc(struct arena *a, size_t n) {
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        a->ptrs = realloc(a->ptrs, a->cap * sizeof *a->ptrs);
        if (!a->ptrs) exit(3);
    }
    void *p = xmalloc(n);
    memset(p, 0, n ? n : 1);
    a->ptrs[a->n++] = p;
    return p;
}

static void arena_release(struct arena *a) {
    for (size_t i = 0; i < a->n; i++) free(a->ptrs[i]);
    free(a->ptrs);
    memset(a, 0, sizeof *a);
}

/* JSON (with the tags above) -> yany. Strings point into the JSON tree, which
 * outlives the call. */
static bool any_from_json(json_t *j, yany *out, struct arena *a, struct fail *f) {
    memset(out, 0, sizeof *out);
    switch (json_typeof(j)) {
    case JSON_NULL: out->kind = YANY_NULL; return true;
    case JSON_TRUE:
        out->kind = YANY_BOOL;
        out->u.b = true;
        return true;
    case JSON_FALSE:
        out->kind = YANY_BOOL;
        out->u.b = false;
        return true;
    case JSON_INTEGER:
        out->kind = YANY_NUMBER;
        out->u.num = (double)json_integer_value(j);
        return true;
    case JSON_REAL:
        out->kind = YANY_NUMBER;
        out->u.num = json_real_value(j);
        return true;
    case JSON_STRING:
        out->kind = YANY_STRING;
        out->u.str.ptr = json_string_value(j);
        out->u.str.len = json_string_length(j);
        return true;
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        yany *items = arena_alloc(a, n * sizeof *items);
        for (size_t i = 0; i < n; i++)
            if (!any_from_json(json_array_get(j, i), &items[i], a, f)) return false;
        out->kind = YANY_ARRAY;
        out->u.arr.items = items;
        out->u.arr.len = n;
        return true;
    }
    case JSON_OBJECT: {
        json_t *tag;
        if (json_object_size(j) == 1) {
            if ((tag = json_object_get(j, "$bin"))) {
                struct bytes b;
                if (!json_is_string(tag) ||
                    !unhex(json_string_value(tag), json_string_length(tag), &b)) {
                    failf(f, 0, "$bin: not a hex string");
                    return false;
                }
                uint8_t *copy = arena_alloc(a, b.n);
                if (b.n) memcpy(copy, b.p, b.n);
                free(b.p);
                out->kind = YANY_BINARY;
                out->u.bin.ptr = copy;
                out->u.bin.len = b.n;
                return true;
            }
            if ((tag = json_object_get(j, "$bigint"))) {
                if (!json_is_string(tag)) {
                    failf(f, 0, "$bigint: expected a decimal string");
                    return false;
                }
                errno = 0;
                char *end;
                long long v = strtoll(json_string_value(tag), &end, 10);
                if (errno || *end) {
                    failf(f, 0, "$bigint: not an int64");
                    return false;
                }
                out->kind = YANY_BIGINT;
                out->u.bigint = v;
                return true;
            }
            if (json_object_get(j, "$undef")) {
                out->kind = YANY_UNDEFINED;
                return true;
            }
            if ((tag = json_object_get(j, "$num"))) {
                const char *s = json_string_value(tag);
                out->kind = YANY_NUMBER;
                if (s && !strcmp(s, "NaN"))
                    out->u.num = nan("");
                else if (s && !strcmp(s, "Infinity"))
                    out->u.num = HUGE_VAL;
                else if (s && !strcmp(s, "-Infinity"))
                    out->u.num = -HUGE_VAL;
                else if (s && !strcmp(s, "-0"))
                    out->u.num = -0.0;
                else {
                    failf(f, 0, "$num: unknown value");
                    return false;
                }
                return true;
            }
        }
        size_t n = json_object_size(j), i = 0;
        yany_entry *entries = arena_alloc(a, n * sizeof *entries);
        const char *key;
        json_t *val;
        json_object_foreach(j, key, val) {
            entries[i].key = key;
            if (!any_from_json(val, &entries[i].value, a, f)) return false;
            i++;
        }
        out->kind = YANY_OBJECT;
        out->u.obj.entries = entries;
        out->u.obj.len = n;
        return true;
    }
    }
    failf(f, 0, "unsupported JSON value");
    return false;
}

/* A JSON object of attributes -> entries (for text formatting). */
static bool attrs_from_json(json_t *j, const yany_entry **out, size_t *n, struct arena *a,
                            struct fail *f) {
    *out = NULL;
    *n = 0;
    if (!j) return true;
    if (!json_is_object(j)) {
        failf(f, 0, "attrs: expected an object");
        return false;
    }
    yany_entry *entries = arena_alloc(a, json_object_size(j) * sizeof *entries);
    size_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach(j, key, val) {
        entries[i].key = key;
        if (!any_from_json(val, &entries[i].value, a, f)) return false;
        i++;
    }
    *out = entries;
    *n = i;
    return true;
}

static json_t *tagged(const char *tag, json_t *v) {
    json_t *o = json_object();
    json_object_set_new(o, tag, v);
    return o;
}

static json_t *json_of_any(const yany *v, struct fail *f);

static json_t *json_of_number(double d) {
    if (isnan(d)) return tagged("$num", json_string("NaN"));
    if (isinf(d)) return tagged("$num", json_string(d > 0 ? "Infinity" : "-Infinity"));
    if (d == 0 && signbit(d)) return tagged("$num", json_string("-0"));
    if (d == floor(d) && fabs(d) <= 9007199254740992.0) return json_integer((json_int_t)d);
    return json_real(d);
}

static json_t *json_of_any(const yany *v, struct fail *f) {
    switch (v->kind) {
    case YANY_UNDEFINED: return tagged("$undef", json_true());
    case YANY_NULL: return json_null();
    case YANY_BOOL: return json_boolean(v->u.b);
    case YANY_NUMBER: return json_of_number(v->u.num);
    case YANY_BIGINT: {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)v->u.bigint);
        return tagged("$bigint", json_string(buf));
    }
    case YANY_STRING: {
        json_t *s = json_stringn(v->u.str.ptr, v->u.str.len);
        if (!s) failf(f, 0, "engine returned a string that is not valid UTF-8");
        return s;
    }
    case YANY_BINARY: return tagged("$bin", hex_of(v->u.bin.ptr, v->u.bin.len));
    case YANY_ARRAY: {
        json_t *arr = json_array();
        for (size_t i = 0; i < v->u.arr.len; i++) {
            json_t *item = json_of_any(&v->u.arr.items[i], f);
            if (!item) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, item);
        }
        return arr;
    }
    case YANY_OBJECT: {
        json_t *obj = json_object();
        for (size_t i = 0; i < v->u.obj.len; i++) {
            json_t *item = json_of_any(&v->u.obj.entries[i].value, f);
            if (!item) {
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, v->u.obj.entries[i].key, item);
        }
        return obj;
    }
    }
    failf(f, 0, "engine returned an Any of unknown kind %d", (int)v->kind);
    return NULL;
}

/* ---- documents -------------------------------------------------------------- */

struct docslot {
    ydoc *doc;
    ytxn *txn;
    bool capturing;
    struct bytes *caps; /* updates emitted while capturing */
    size_t ncaps, capcap;
    json_t *changes; /* with "changes": text deltas of root types seen while capturing */
};

static struct docslot *docs;
static size_t ndocs;

static void on_update(void *ud, const uint8_t *update, size_t len, const void *origin) {
    (void)origin;
    struct docslot *d = &docs[(size_t)(uintptr_t)ud];
    if (!d->capturing) return;
    if (d->ncaps == d->capcap) {
        d->capcap = d->capcap ? 2 * d->capcap : 4;
        d->caps = realloc(d->caps, d->capcap * sizeof *d->caps);
        if (!d->caps) exit(3);
    }
    d->caps[d->ncaps].p = xmalloc(len);
    if (len) memcpy(d->caps[d->ncaps].p, update, len);
    d->caps[d->ncaps].n = len;
    d->ncaps++;
}

static json_t *json_of_attrs(const yany_entry *attrs, size_t n, struct fail *f) {
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_of_any(&attrs[i].value, f);
        if (!v) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, attrs[i].key, v);
    }
    return o;
}

/* A text delta as Yjs's YTextEvent.delta: {insert, attributes?},
 * {retain, attributes?}, {delete}. */
static json_t *json_of_delta(const ydelta *delta, size_t n, struct fail *f) {
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const ydelta *d = &delta[i];
        json_t *o = json_object();
        if (d->op == YDELTA_DELETE) {
            json_object_set_new(o, "delete", json_integer((json_int_t)d->len));
        } else if (d->op == YDELTA_RETAIN) {
            json_object_set_new(o, "retain", json_integer((json_int_t)d->len));
        } else if (d->text) {
            json_t *s = json_stringn(d->text, d->len_utf8);
            if (!s)
                failf(f, 0, "delta insert is not valid UTF-8");
            else
                json_object_set_new(o, "insert", s);
        } else if (d->embed) {
            json_t *e = json_of_any(d->embed, f);
            if (e) json_object_set_new(o, "insert", e);
        } else {
            failf(f, 0, "delta insert with neither text nor embed");
        }
        if (d->nattrs) {
            json_t *a = json_of_attrs(d->attrs, d->nattrs, f);
            if (a) json_object_set_new(o, "attributes", a);
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

/* Records, per transaction, the delta of every root Y.Text it changed:
 * [{"root": name, "delta": [...]}, ...] (nested types are left out: the
 * observer does not say where they live). */
static void on_change(void *ud, const ychange *changes, size_t n, const void *origin) {
    (void)origin;
    struct docslot *d = &docs[(size_t)(uintptr_t)ud];
    if (!d->capturing || !d->changes) return;
    json_t *txn = json_array();
    for (size_t i = 0; i < n; i++) {
        const ychange *c = &changes[i];
        if (ytype_kind_of(c->type) != YTYPE_TEXT || !c->root) continue;
        if (ydoc_get(d->doc, c->root, YTYPE_TEXT) != c->type) continue;
        struct fail f = {0};
        json_t *delta = json_of_delta(c->delta, c->ndelta, &f);
        json_t *o = json_object();
        json_object_set_new(o, "root", json_string(c->root));
        json_object_set_new(o, "delta", delta);
        if (f.msg[0]) json_object_set_new(o, "error", json_string(f.msg));
        json_array_append_new(txn, o);
    }
    json_array_append_new(d->changes, txn);
}

static void caps_clear(struct docslot *d) {
    for (size_t i = 0; i < d->ncaps; i++) free(d->caps[i].p);
    d->ncaps = 0;
    if (d->changes) json_array_clear(d->changes);
}

static struct docslot *get_doc(json_t *req, struct fail *f) {
    json_t *v = json_object_get(req, "doc");
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (size_t)json_integer_value(v) >= ndocs || !docs[json_integer_value(v)].doc) {
        failf(f, 0, "no such document");
        return NULL;
    }
    return &docs[json_integer_value(v)];
}

static bool kind_from_name(const char *s, ytype_kind *k) {
    if (!s) return false;
    if (!strcmp(s, "text"))
        *k = YTYPE_TEXT;
    else if (!strcmp(s, "map"))
        *k = YTYPE_MAP;
    else if (!strcmp(s, "array"))
        *k = YTYPE_ARRAY;
    else if (!strcmp(s, "xmlelement"))
        *k = YTYPE_XML_ELEMENT;
    else if (!strcmp(s, "xmlfragment"))
        *k = YTYPE_XML_FRAGMENT;
    else if (!strcmp(s, "xmltext"))
        *k = YTYPE_XML_TEXT;
    else
        return false;
    return true;
}

/* Resolves root/kind/path to a shared type. */
static ytype *get_type(struct docslot *d, json_t *req, struct fail *f) {
    const char *root = json_string_value(json_object_get(req, "root"));
    ytype_kind kind;
    if (!root || !kind_from_name(json_string_value(json_object_get(req, "kind")), &kind)) {
        failf(f, 0, "expected root and kind");
        return NULL;
    }
    ytype *t = ydoc_get(d->doc, root, kind);
    if (!t) {
        failf(f, Y_ERR_TYPE, "ydoc_get(%s) returned NULL", root);
        return NULL;
    }
    json_t *path = json_object_get(req, "path");
    size_t i;
    json_t *step;
    json_array_foreach(path, i, step) {
        yvalue v;
        int rc;
        if (json_is_string(step))
            rc = ymap_get(t, json_string_value(step), &v);
        else if (json_is_integer(step))
            rc = yarray_get(t, (size_t)json_integer_value(step), &v);
        else {
            failf(f, 0, "path step %zu: expected key or index", i);
            return NULL;
        }
        if (rc != Y_OK) {
            failf(f, rc, "path step %zu: %s", i, yerr_str(rc));
            return NULL;
        }
        if (v.kind != YVALUE_TYPE) {
            failf(f, Y_ERR_TYPE, "path step %zu: not a shared type", i);
            return NULL;
        }
        t = v.type;
    }
    return t;
}

static json_t *json_of_type(const ytype *t, struct fail *f);

static json_t *json_of_value(const yvalue *v, struct fail *f) {
    if (v->kind == YVALUE_ANY) return json_of_any(&v->any, f);
    json_t *inner = json_of_type(v->type, f);
    if (!inner) return NULL;
    switch (ytype_kind_of(v->type)) {
    case YTYPE_TEXT: return tagged("$text", inner);
    case YTYPE_MAP: return tagged("$map", inner);
    case YTYPE_ARRAY: return tagged("$array", inner);
    default: json_decref(inner); return tagged("$xml", json_integer(ytype_kind_of(v->type)));
    }
}

static json_t *json_of_type(const ytype *t, struct fail *f) {
    int rc;
    switch (ytype_kind_of(t)) {
    case YTYPE_TEXT: {
        char *s;
        size_t n;
        if ((rc = ytext_string(t, &s, &n)) != Y_OK) {
            failf(f, rc, "ytext_string: %s", yerr_str(rc));
            return NULL;
        }
        json_t *j = json_stringn(s, n);
        yfree(s);
        if (!j) failf(f, 0, "ytext_string returned invalid UTF-8");
        return j;
    }
    case YTYPE_MAP: {
        const char **keys;
        size_t n;
        if ((rc = ymap_keys(t, &keys, &n)) != Y_OK) {
            failf(f, rc, "ymap_keys: %s", yerr_str(rc));
            return NULL;
        }
        json_t *obj = json_object();
        for (size_t i = 0; i < n; i++) {
            yvalue v;
            json_t *item = NULL;
            if ((rc = ymap_get(t, keys[i], &v)) != Y_OK)
                failf(f, rc, "ymap_get(%s) of a listed key: %s", keys[i], yerr_str(rc));
            else
                item = json_of_value(&v, f);
            if (!item) {
                yfree(keys);
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, keys[i], item);
        }
        yfree(keys);
        return obj;
    }
    case YTYPE_ARRAY: {
        json_t *arr = json_array();
        size_t n = yarray_len(t);
        for (size_t i = 0; i < n; i++) {
            yvalue v;
            json_t *item = NULL;
            if ((rc = yarray_get(t, i, &v)) != Y_OK)
                failf(f, rc, "yarray_get(%zu) of %zu: %s", i, n, yerr_str(rc));
            else
                item = json_of_value(&v, f);
            if (!item) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, item);
        }
        return arr;
    }
    default: return tagged("$xml", json_integer(ytype_kind_of(t)));
    }
}

/* ---- commands ------------------------------------------------------------------ */

static size_t uarg(json_t *req, const char *name, bool *ok) {
    json_t *v = json_object_get(req, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        *ok = false;
        return 0;
    }
    return (size_t)json_integer_value(v);
}

/* The edit commands. Each runs against d->txn (open). Returns an engine code
 * or 1 for a bad request (message in f). */
static int run_edit(const char *cmd, struct docslot *d, json_t *req, struct arena *a,
                    struct fail *f) {
    ytype *t = get_type(d, req, f);
    if (!t) return 1;
    bool ok = true;
    int rc;
    if (!strcmp(cmd, "text_insert")) {
        size_t index = uarg(req, "index", &ok);
        json_t *s = json_object_get(req, "text");
        const yany_entry *attrs;
        size_t nattrs;
        if (!ok || !json_is_string(s) ||
            !attrs_from_json(json_object_get(req, "attrs"), &attrs, &nattrs, a, f)) {
            if (!f->msg[0]) failf(f, 0, "text_insert: expected index, text");
            return 1;
        }
        return ytext_insert(d->txn, t, index, json_string_value(s), json_string_length(s), attrs,
                            nattrs);
    }
    if (!strcmp(cmd, "text_insert_embed")) {
        size_t index = uarg(req, "index", &ok);
        yany embed;
        const yany_entry *attrs;
        size_t nattrs;
        json_t *e = json_object_get(req, "embed");
        if (!ok || !e || !any_from_json(e, &embed, a, f) ||
            !attrs_from_json(json_object_get(req, "attrs"), &attrs, &nattrs, a, f)) {
            if (!f->msg[0]) failf(f, 0, "text_insert_embed: expected index, embed");
            return 1;
        }
        return ytext_insert_embed(d->txn, t, index, &embed, attrs, nattrs);
    }
    if (!strcmp(cmd, "text_delete") || !strcmp(cmd, "array_delete")) {
        size_t index = uarg(req, "index", &ok), len = uarg(req, "len", &ok);
        if (!ok) {
            failf(f, 0, "%s: expected index, len", cmd);
            return 1;
        }
        return cmd[0] == 't' ? ytext_delete(d->txn, t, index, len)
                             : yarray_delete(d->txn, t, index, len);
    }
    if (!strcmp(cmd, "text_format")) {
        size_t index = uarg(req, "index", &ok), len = uarg(req, "len", &ok);
        const yany_entry *attrs;
        size_t nattrs;
        if (!ok || !attrs_from_json(json_object_get(req, "attrs"), &attrs, &nattrs, a, f)) {
            if (!f->msg[0]) failf(f, 0, "text_format: expected index, len, attrs");
            return 1;
        }
        return ytext_format(d->txn, t, index, len, attrs, nattrs);
    }
    if (!strcmp(cmd, "map_set")) {
        const char *key = json_string_value(json_object_get(req, "key"));
        json_t *val = json_object_get(req, "value");
        yany v;
        if (!key || !val || !any_from_json(val, &v, a, f)) {
            if (!f->msg[0]) failf(f, 0, "map_set: expected key, value");
            return 1;
        }
        return ymap_set(d->txn, t, key, &v);
    }
    if (!strcmp(cmd, "map_set_type") || !strcmp(cmd, "array_insert_type")) {
        ytype_kind k;
        ytype *out = NULL;
        if (!kind_from_name(json_string_value(json_object_get(req, "type")), &k)) {
            failf(f, 0, "%s: expected type", cmd);
            return 1;
        }
        if (cmd[0] == 'm') {
            const char *key = json_string_value(json_object_get(req, "key"));
            if (!key) {
                failf(f, 0, "map_set_type: expected key");
                return 1;
            }
            rc = ymap_set_type(d->txn, t, key, k, &out);
        } else {
            size_t index = uarg(req, "index", &ok);
            if (!ok) {
                failf(f, 0, "array_insert_type: expected index");
                return 1;
            }
            rc = yarray_insert_type(d->txn, t, index, k, &out);
        }
        if (rc == Y_OK && (!out || ytype_kind_of(out) != k)) {
            failf(f, 0, "%s: engine returned no handle or a handle of the wrong kind", cmd);
            return 1;
        }
        return rc;
    }
    if (!strcmp(cmd, "map_delete")) {
        const char *key = json_string_value(json_object_get(req, "key"));
        if (!key) {
            failf(f, 0, "map_delete: expected key");
            return 1;
        }
        return ymap_delete(d->txn, t, key);
    }
    if (!strcmp(cmd, "array_insert")) {
        size_t index = uarg(req, "index", &ok);
        json_t *vals = json_object_get(req, "values");
        if (!ok || !json_is_array(vals)) {
            failf(f, 0, "array_insert: expected index, values");
            return 1;
        }
        size_t n = json_array_size(vals);
        yany *items = arena_alloc(a, n * sizeof *items);
        for (size_t i = 0; i < n; i++)
            if (!any_from_json(json_array_get(vals, i), &items[i], a, f)) return 1;
        return yarray_insert(d->txn, t, index, items, n);
    }
    failf(f, 0, "unknown command %s", cmd);
    return 1;
}

static bool is_edit(const char *cmd) {
    static const char *const edits[] = {
        "text_insert",  "text_insert_embed", "text_delete",  "text_format",       "map_set",
        "map_set_type", "map_delete",        "array_insert", "array_insert_type", "array_delete"};
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++)
        if (!strcmp(cmd, edits[i])) return true;
    return false;
}

/* Commits d->txn and puts the update it emitted (or null) into the reply. */
static int commit_into(struct docslot *d, json_t *req, json_t *reply, struct fail *f) {
    caps_clear(d);
    d->capturing = true;
    int rc = ytxn_commit(d->txn);
    d->capturing = false;
    d->txn = NULL;
    if (rc != Y_OK) {
        failf(f, rc, "ytxn_commit: %s", yerr_str(rc));
        caps_clear(d);
        return rc;
    }
    json_object_set_new(reply, "count", json_integer((json_int_t)d->ncaps));
    if (d->ncaps == 0)
        json_object_set_new(reply, "update", json_null());
    else
        put_bytes(req, reply, "update", d->caps[0].p, d->caps[0].n);
    if (d->changes) json_object_set_new(reply, "changes", json_deep_copy(d->changes));
    caps_clear(d);
    return Y_OK;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads a whole gzip file. */
static bool read_gz(const char *path, struct bytes *out, struct fail *f) {
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        failf(f, 0, "cannot open %s", path);
        return false;
    }
    size_t cap = 1 << 20;
    out->p = xmalloc(cap);
    out->n = 0;
    for (;;) {
        if (cap - out->n < (1 << 16)) {
            cap *= 2;
            out->p = realloc(out->p, cap);
            if (!out->p) exit(3);
        }
        int r = gzread(gz, out->p + out->n, (unsigned)(cap - out->n));
        if (r < 0) {
            failf(f, 0, "gzread %s failed", path);
            gzclose(gz);
            free(out->p);
            return false;
        }
        if (r == 0) break;
        out->n += (size_t)r;
    }
    gzclose(gz);
    return true;
}

static bool has_astral(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xf8) == 0xf0) return true;
    return false;
}

/* Replays a sequential editing trace (see /work/shared/traces/FORMAT.md):
 * one engine transaction per trace transaction. The traces hold no
 * character above U+FFFF (checked), so code point positions are UTF-16
 * positions. */
static int cmd_replay(struct docslot *d, json_t *req, json_t *reply, struct fail *f) {
    const char *path = json_string_value(json_object_get(req, "file"));
    ytype *t = get_type(d, req, f);
    if (!t) return 1;
    if (!path || d->txn) {
        failf(f, 0, "replay: expected file, and no open transaction");
        return 1;
    }
    struct bytes raw;
    if (!read_gz(path, &raw, f)) return 1;
    json_error_t jerr;
    json_t *trace = json_loadb((const char *)raw.p, raw.n, 0, &jerr);
    free(raw.p);
    if (!trace) {
        failf(f, 0, "%s: %s", path, jerr.text);
        return 1;
    }
    json_t *txns = json_object_get(trace, "txns");
    int64_t t0 = now_ms();
    size_t i, j, ntxns = json_array_size(txns);
    json_t *txn, *patch;
    int rc = Y_OK;
    json_array_foreach(txns, i, txn) {
        d->txn = ydoc_begin(d->doc, NULL);
        if (!d->txn) {
            failf(f, 0, "ydoc_begin returned NULL at txn %zu", i);
            rc = 1;
            break;
        }
        json_array_foreach(json_object_get(txn, "patches"), j, patch) {
            size_t pos = (size_t)json_integer_value(json_array_get(patch, 0));
            size_t del = (size_t)json_integer_value(json_array_get(patch, 1));
            json_t *ins = json_array_get(patch, 2);
            if (has_astral(json_string_value(ins), json_string_length(ins))) {
                failf(f, 0, "txn %zu: astral character, positions would need conversion", i);
                rc = 1;
                break;
            }
            if (del && (rc = ytext_delete(d->txn, t, pos, del)) != Y_OK) {
                failf(f, rc, "txn %zu patch %zu: ytext_delete(%zu, %zu): %s", i, j, pos, del,
                      yerr_str(rc));
                break;
            }
            if (json_string_length(ins) &&
                (rc = ytext_insert(d->txn, t, pos, json_string_value(ins), json_string_length(ins),
                                   NULL, 0)) != Y_OK) {
                failf(f, rc, "txn %zu patch %zu: ytext_insert(%zu): %s", i, j, pos, yerr_str(rc));
                break;
            }
        }
        int crc = ytxn_commit(d->txn);
        d->txn = NULL;
        if (rc != Y_OK) break;
        if (crc != Y_OK) {
            failf(f, crc, "txn %zu: ytxn_commit: %s", i, yerr_str(crc));
            rc = crc;
            break;
        }
    }
    int64_t t1 = now_ms();
    json_decref(trace);
    if (rc != Y_OK) return rc;
    json_object_set_new(reply, "txns", json_integer((json_int_t)ntxns));
    json_object_set_new(reply, "ms", json_integer(t1 - t0));
    return Y_OK;
}

/* Checks an engine return code; fills f on failure. */
#define ENGINE(call)                                       \
    do {                                                   \
        int rc_ = (call);                                  \
        if (rc_ != Y_OK) {                                 \
            failf(f, rc_, "%s: %s", #call, yerr_str(rc_)); \
            return rc_;                                    \
        }                                                  \
    } while (0)

static int dispatch(const char *cmd, json_t *req, json_t *reply, struct arena *a, struct fail *f) {
    struct docslot *d;
    bool ok = true;

    if (!strcmp(cmd, "new")) {
        ydoc_options opt = {0};
        json_t *client = json_object_get(req, "client");
        if (json_is_integer(client)) {
            opt.has_client_id = true;
            opt.client_id = (uint32_t)json_integer_value(client);
        }
        json_t *gc = json_object_get(req, "gc");
        opt.gc = gc ? json_is_true(gc) : true;
        ydoc *doc = ydoc_new(&opt);
        if (!doc) {
            failf(f, Y_ERR_NOMEM, "ydoc_new returned NULL");
            return 1;
        }
        size_t slot = ndocs;
        for (size_t i = 0; i < ndocs; i++)
            if (!docs[i].doc) {
                slot = i;
                break;
            }
        if (slot == ndocs) {
            docs = realloc(docs, ++ndocs * sizeof *docs);
            if (!docs) exit(3);
        }
        memset(&docs[slot], 0, sizeof docs[slot]);
        docs[slot].doc = doc;
        int id = ydoc_observe_updates(doc, on_update, (void *)(uintptr_t)slot);
        if (id < 0) {
            ydoc_free(doc);
            docs[slot].doc = NULL;
            failf(f, id, "ydoc_observe_updates: %s", yerr_str(id));
            return id;
        }
        if (json_is_true(json_object_get(req, "changes"))) {
            docs[slot].changes = json_array();
            int cid = ydoc_observe_changes(doc, on_change, (void *)(uintptr_t)slot);
            if (cid < 0) {
                ydoc_free(doc);
                json_decref(docs[slot].changes);
                memset(&docs[slot], 0, sizeof docs[slot]);
                failf(f, cid, "ydoc_observe_changes: %s", yerr_str(cid));
                return cid;
            }
        }
        json_object_set_new(reply, "doc", json_integer((json_int_t)slot));
        json_object_set_new(reply, "client", json_integer(ydoc_client_id(doc)));
        json_object_set_new(reply, "gc", json_boolean(ydoc_gc(doc)));
        return Y_OK;
    }
    if (!strcmp(cmd, "merge")) {
        json_t *ups = json_object_get(req, "updates");
        size_t n = json_array_size(ups);
        const uint8_t **ptrs = arena_alloc(a, n * sizeof *ptrs);
        size_t *lens = arena_alloc(a, n * sizeof *lens);
        for (size_t i = 0; i < n; i++) {
            json_t *wrap = json_pack("{sO}", "u", json_array_get(ups, i));
            struct bytes b;
            bool got = get_bytes(wrap, "u", &b, f);
            json_decref(wrap);
            if (!got) return 1;
            uint8_t *copy = arena_alloc(a, b.n);
            if (b.n) memcpy(copy, b.p, b.n);
            free(b.p);
            ptrs[i] = copy;
            lens[i] = b.n;
        }
        uint8_t *out;
        size_t outn;
        ENGINE(yupdate_merge(ptrs, lens, n, &out, &outn));
        put_bytes(req, reply, "update", out, outn);
        yfree(out);
        return Y_OK;
    }
    if (!strcmp(cmd, "diff") || !strcmp(cmd, "update_sv")) {
        struct bytes u, sv = {0};
        if (!get_bytes(req, "update", &u, f)) return 1;
        if (cmd[0] == 'd' && !get_bytes(req, "sv", &sv, f)) {
            free(u.p);
            return 1;
        }
        uint8_t *out;
        size_t outn;
        int rc = cmd[0] == 'd' ? yupdate_diff(u.p, u.n, sv.p, sv.n, &out, &outn)
                               : yupdate_state_vector(u.p, u.n, &out, &outn);
        free(u.p);
        free(sv.p);
        if (rc != Y_OK) {
            failf(f, rc, "%s: %s", cmd, yerr_str(rc));
            return rc;
        }
        put_bytes(req, reply, cmd[0] == 'd' ? "update" : "sv", out, outn);
        yfree(out);
        return Y_OK;
    }
    if (!strcmp(cmd, "put")) {
        struct bytes b;
        size_t slot = uarg(req, "slot", &ok);
        if (!ok || !get_bytes(req, "bytes", &b, f)) {
            if (!f->msg[0]) failf(f, 0, "put: expected slot, bytes");
            return 1;
        }
        blob_put(slot, b.p, b.n);
        free(b.p);
        return Y_OK;
    }
    if (!strcmp(cmd, "take")) {
        struct bytes b;
        if (!get_bytes(req, "slot", &b, f)) return 1;
        json_object_set_new(reply, "bytes", hex_of(b.p, b.n));
        free(b.p);
        return Y_OK;
    }

    /* Everything below works on a document. */
    static const char *const doc_cmds[] = {"free",   "begin", "commit",   "apply",
                                           "encode", "sv",    "snapshot", "pending",
                                           "replay", "get",   "len",      "text_at"};
    bool known = is_edit(cmd);
    for (size_t i = 0; i < sizeof doc_cmds / sizeof *doc_cmds && !known; i++)
        known = !strcmp(cmd, doc_cmds[i]);
    if (!known) {
        failf(f, 0, "unknown command %s", cmd);
        return 1;
    }
    if (!(d = get_doc(req, f))) return 1;

    if (!strcmp(cmd, "free")) {
        if (d->txn) ytxn_commit(d->txn);
        ydoc_free(d->doc);
        caps_clear(d);
        free(d->caps);
        json_decref(d->changes);
        memset(d, 0, sizeof *d);
        return Y_OK;
    }
    if (!strcmp(cmd, "begin")) {
        if (d->txn) {
            failf(f, 0, "begin: a transaction is already open");
            return 1;
        }
        d->txn = ydoc_begin(d->doc, NULL);
        if (!d->txn) {
            failf(f, 0, "ydoc_begin returned NULL");
            return 1;
        }
        return Y_OK;
    }
    if (!strcmp(cmd, "commit")) {
        if (!d->txn) {
            failf(f, 0, "commit: no open transaction");
            return 1;
        }
        return commit_into(d, req, reply, f);
    }
    if (is_edit(cmd)) {
        bool own = !d->txn;
        if (own && !(d->txn = ydoc_begin(d->doc, NULL))) {
            failf(f, 0, "ydoc_begin returned NULL");
            return 1;
        }
        int rc = run_edit(cmd, d, req, a, f);
        if (rc != Y_OK && !f->msg[0]) failf(f, rc, "%s: %s", cmd, yerr_str(rc));
        if (own) {
            struct fail cf = {0};
            int crc = commit_into(d, req, reply, &cf);
            if (rc == Y_OK && crc != Y_OK) {
                *f = cf;
                return crc;
            }
        }
        return rc;
    }
    if (!strcmp(cmd, "apply")) {
        struct bytes u;
        if (!get_bytes(req, "update", &u, f)) return 1;
        caps_clear(d);
        d->capturing = true;
        int rc = ydoc_apply_update(d->doc, u.p, u.n, NULL);
        d->capturing = false;
        free(u.p);
        if (rc != Y_OK) {
            caps_clear(d);
            failf(f, rc, "ydoc_apply_update: %s", yerr_str(rc));
            return rc;
        }
        if (d->changes) json_object_set_new(reply, "changes", json_deep_copy(d->changes));
        json_t *emitted = json_array();
        for (size_t i = 0; i < d->ncaps; i++)
            json_array_append_new(emitted, hex_of(d->caps[i].p, d->caps[i].n));
        json_object_set_new(reply, "updates", emitted);
        caps_clear(d);
        return Y_OK;
    }
    if (!strcmp(cmd, "encode")) {
        struct bytes sv = {0};
        bool has_sv = json_object_get(req, "sv") != NULL;
        if (has_sv && !get_bytes(req, "sv", &sv, f)) return 1;
        uint8_t *out;
        size_t outn;
        int rc = ydoc_encode_state_as_update(d->doc, has_sv ? sv.p : NULL, sv.n, &out, &outn);
        free(sv.p);
        if (rc != Y_OK) {
            failf(f, rc, "ydoc_encode_state_as_update: %s", yerr_str(rc));
            return rc;
        }
        put_bytes(req, reply, "update", out, outn);
        yfree(out);
        return Y_OK;
    }
    if (!strcmp(cmd, "sv") || !strcmp(cmd, "snapshot")) {
        uint8_t *out;
        size_t outn;
        if (cmd[1] == 'v')
            ENGINE(ydoc_encode_state_vector(d->doc, &out, &outn));
        else
            ENGINE(ydoc_snapshot(d->doc, &out, &outn));
        put_bytes(req, reply, cmd, out, outn);
        yfree(out);
        return Y_OK;
    }
    if (!strcmp(cmd, "pending")) {
        json_object_set_new(reply, "structs",
                            json_integer((json_int_t)ydoc_pending_structs(d->doc)));
        json_object_set_new(reply, "deletes", json_boolean(ydoc_pending_deletes(d->doc)));
        return Y_OK;
    }
    if (!strcmp(cmd, "replay")) return cmd_replay(d, req, reply, f);

    /* Reads of one shared type. */
    ytype *t = get_type(d, req, f);
    if (!t) return 1;
    if (!strcmp(cmd, "get")) {
        json_t *v = json_of_type(t, f);
        if (!v) return 1;
        json_object_set_new(reply, "value", v);
        return Y_OK;
    }
    if (!strcmp(cmd, "len")) {
        size_t n;
        switch (ytype_kind_of(t)) {
        case YTYPE_TEXT: n = ytext_len(t); break;
        case YTYPE_MAP: n = ymap_len(t); break;
        case YTYPE_ARRAY: n = yarray_len(t); break;
        default: failf(f, Y_ERR_TYPE, "len: unsupported kind"); return 1;
        }
        json_object_set_new(reply, "len", json_integer((json_int_t)n));
        return Y_OK;
    }
    if (!strcmp(cmd, "text_at")) {
        struct bytes snap;
        if (!get_bytes(req, "snapshot", &snap, f)) return 1;
        char *s;
        size_t n;
        int rc = ytext_string_at(t, snap.p, snap.n, &s, &n);
        free(snap.p);
        if (rc != Y_OK) {
            failf(f, rc, "ytext_string_at: %s", yerr_str(rc));
            return rc;
        }
        json_t *j = json_stringn(s, n);
        yfree(s);
        if (!j) {
            failf(f, 0, "ytext_string_at returned invalid UTF-8");
            return 1;
        }
        json_object_set_new(reply, "text", j);
        return Y_OK;
    }
    failf(f, 0, "unknown command %s", cmd);
    return 1;
}

int main(void) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t jerr;
        json_t *req = json_loadb(line, (size_t)n, 0, &jerr);
        json_t *reply = json_object();
        struct fail f = {0};
        struct arena a = {0};
        int rc = 1;
        if (!req || !json_is_object(req)) {
            failf(&f, 0, "bad request: %s", req ? "not an object" : jerr.text);
        } else {
            json_t *id = json_object_get(req, "id");
            if (id) json_object_set(reply, "id", id);
            const char *cmd = json_string_value(json_object_get(req, "cmd"));
            if (!cmd)
                failf(&f, 0, "bad request: no cmd");
            else
                rc = dispatch(cmd, req, reply, &a, &f);
        }
        arena_release(&a);
        if (rc == Y_OK) {
            json_object_set_new(reply, "ok", json_true());
        } else {
            json_t *id = json_incref(json_object_get(reply, "id"));
            json_object_clear(reply);
            if (id) json_object_set_new(reply, "id", id);
            json_object_set_new(reply, "ok", json_false());
            json_object_set_new(reply, "err", json_integer(rc < 0 ? rc : f.err));
            json_object_set_new(reply, "error", json_string(f.msg[0] ? f.msg : yerr_str(rc)));
        }
        char *out = json_dumps(reply, JSON_COMPACT);
        if (!out) {
            fprintf(stderr, "ydriver: cannot encode a reply\n");
            return 3;
        }
        fputs(out, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(out);
        json_decref(reply);
        json_decref(req);
    }
    free(line);
    for (size_t i = 0; i < ndocs; i++) {
        if (!docs[i].doc) continue;
        if (docs[i].txn) ytxn_commit(docs[i].txn);
        ydoc_free(docs[i].doc);
        caps_clear(&docs[i]);
        free(docs[i].caps);
        json_decref(docs[i].changes);
    }
    free(docs);
    for (size_t i = 0; i < nblobs; i++) free(blobs[i].p);
    free(blobs);
    return 0;
}
