/*
 * map.c - Y.Map: set, delete and read keys (typeMapSet/typeMapDelete).
 *
 * Invariants: a key's current value is the rightmost item of its list (the
 * map entry's item); it is live when that item is not deleted. Values set
 * locally are ContentAny (one value), ContentBinary for a top-level binary,
 * or ContentType, exactly as Yjs chooses.
 */
#include <stdlib.h>
#include <string.h>

#include "doc_int.h"

static int check_map(ytxn *txn, ytype *map, const char *key) {
    if (!txn || !map || !key || !txn->doc || !txn->doc->in_txn || map->doc != txn->doc) return Y_ERR_INVALID;
    if (map->kind != YTYPE_MAP && map->kind != YTYPE_XML_ELEMENT && map->kind != YTYPE_XML_HOOK) return Y_ERR_TYPE;
    if (map->item && (map->item->flags & YF_GC)) return Y_ERR_STATE;
    return Y_OK;
}

static int map_insert(ytxn *txn, ytype *map, const char *key, ycontent *c, uint64_t len) {
    ymapent *e;
    int rc = ytype_map_intern(map, key, strlen(key), &e); /* items point at the interned key */
    if (rc) return rc;
    return yitem_insert_local(txn, map, e->item, NULL, e->key, c, len, NULL);
}

/* Any value -> content of one map/array value, as typeMapSet picks. */
int yvalue_content(const yany *v, ycontent *c);
int yvalue_content(const yany *v, ycontent *c) {
    memset(c, 0, sizeof *c);
    if (v->kind == YANY_BINARY) {
        uint8_t *p = ymalloc(v->u.bin.len ? v->u.bin.len : 1);
        if (!p) return Y_ERR_NOMEM;
        if (v->u.bin.len) memcpy(p, v->u.bin.ptr, v->u.bin.len);
        c->kind = YC_BINARY;
        c->u.bin.p = p;
        c->u.bin.n = v->u.bin.len;
        return Y_OK;
    }
    yany *vals = ymalloc(sizeof *vals);
    if (!vals) return Y_ERR_NOMEM;
    int rc = yany_clone(v, vals);
    if (rc) {
        yfree(vals);
        return rc;
    }
    c->kind = YC_ANY;
    c->u.any.v = vals;
    c->u.any.cap = 1;
    return Y_OK;
}

/* Sets key to an Any value (binary values become ContentBinary). */
static int ymap_set_impl(ytxn *txn, ytype *map, const char *key, const yany *value) {
    int rc = check_map(txn, map, key);
    if (rc) return rc;
    if (!value) return Y_ERR_INVALID;
    ycontent c;
    rc = yvalue_content(value, &c);
    if (rc) return rc;
    rc = map_insert(txn, map, key, &c, 1);
    if (rc) ycontent_release(&c, 1);
    return rc;
}

/* Sets key to a new nested type; *out borrows it. */
static int ymap_set_type_impl(ytxn *txn, ytype *map, const char *key, ytype_kind kind, ytype **out) {
    int rc = check_map(txn, map, key);
    if (rc) return rc;
    if ((unsigned)kind > YTYPE_XML_TEXT) return Y_ERR_INVALID;
    struct ytype *t = ytype_new(txn->doc, (uint8_t)kind, true);
    if (!t) return Y_ERR_NOMEM;
    ycontent c;
    memset(&c, 0, sizeof c);
    c.kind = YC_TYPE;
    c.u.type = t;
    rc = map_insert(txn, map, key, &c, 1);
    if (rc) {
        ycontent_release(&c, 1);
        return rc;
    }
    if (out) *out = t;
    return Y_OK;
}

/* Deletes key (no-op when absent). */
static int ymap_delete_impl(ytxn *txn, ytype *map, const char *key) {
    int rc = check_map(txn, map, key);
    if (rc) return rc;
    ymapent *e = ytype_map_find(map, key, strlen(key));
    if (e && e->item) yitem_delete(txn, e->item);
    return Y_OK;
}

/* Reads the value at unit k of an item into *out (borrowed). */
int yitem_value(const yitem *it, uint64_t k, yvalue *out);
int yitem_value(const yitem *it, uint64_t k, yvalue *out) {
    memset(out, 0, sizeof *out);
    out->kind = YVALUE_ANY;
    out->any.kind = YANY_UNDEFINED;
    switch (it->content.kind) {
    case YC_ANY:
        out->any = it->content.u.any.v[k];
        return Y_OK;
    case YC_BINARY:
        out->any.kind = YANY_BINARY;
        out->any.u.bin.ptr = it->content.u.bin.p;
        out->any.u.bin.len = it->content.u.bin.n;
        return Y_OK;
    case YC_TYPE:
        out->kind = YVALUE_TYPE;
        out->type = it->content.u.type;
        return Y_OK;
    default:
        return Y_OK; /* contents without an Any view read as undefined */
    }
}

int ymap_get(const ytype *map, const char *key, yvalue *out) {
    if (!map || !key || !out) return Y_ERR_INVALID;
    ymapent *e = ytype_map_find(map, key, strlen(key));
    if (!e || !e->item || yitem_deleted(e->item)) return Y_ERR_RANGE;
    return yitem_value(e->item, e->item->len - 1, out);
}

size_t ymap_len(const ytype *map) {
    size_t n = 0;
    if (!map) return 0;
    for (size_t i = 0; i < map->map_cap; i++)
        if (map->map[i].key && map->map[i].item && !yitem_deleted(map->map[i].item)) n++;
    return n;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ymap_keys(const ytype *map, const char ***keys, size_t *n) {
    if (!map || !keys || !n) return Y_ERR_INVALID;
    size_t cnt = ymap_len(map);
    const char **k = ymalloc((cnt ? cnt : 1) * sizeof *k);
    if (!k) return Y_ERR_NOMEM;
    size_t j = 0;
    for (size_t i = 0; i < map->map_cap; i++)
        if (map->map[i].key && map->map[i].item && !yitem_deleted(map->map[i].item)) k[j++] = map->map[i].key;
    qsort(k, j, sizeof *k, cmp_str);
    *keys = k;
    *n = j;
    return Y_OK;
}

/* ---- public edits: each runs with an allocation reserve (alloc.h), so an
 * edit that gets past its first allocation is not cut short by a failing one. */

int ymap_set(ytxn *txn, ytype *map, const char *key, const yany *value) {
    int rc = yalloc_reserve_begin(YEDIT_RESERVE);
    if (rc) return rc;
    rc = ymap_set_impl(txn, map, key, value);
    yalloc_reserve_end();
    return rc;
}

int ymap_set_type(ytxn *txn, ytype *map, const char *key, ytype_kind kind, ytype **out) {
    int rc = yalloc_reserve_begin(YEDIT_RESERVE);
    if (rc) return rc;
    rc = ymap_set_type_impl(txn, map, key, kind, out);
    yalloc_reserve_end();
    return rc;
}

int ymap_delete(ytxn *txn, ytype *map, const char *key) {
    int rc = yalloc_reserve_begin(YEDIT_RESERVE);
    if (rc) return rc;
    rc = ymap_delete_impl(txn, map, key);
    yalloc_reserve_end();
    return rc;
}
