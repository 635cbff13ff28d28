/*
 * array.c - Y.Array: insert, delete, read (typeListInsertGenerics,
 * typeListDelete, typeListGet), with Yjs's search markers.
 *
 * Invariants: consecutive non-binary values of one insert are packed into a
 * single ContentAny item and each binary value becomes its own
 * ContentBinary item, as typeListInsertGenericsAfter does. Reads go
 * through the search markers too, because in Yjs they move the markers and
 * thereby the origins later inserts pick.
 */
#include <string.h>

#include "doc_int.h"

int yvalue_content(const yany *v, ycontent *c);
int yitem_value(const yitem *it, uint64_t k, yvalue *out);

static int check_arr(ytxn *txn, ytype *a) {
    if (!txn || !a || !txn->doc || !txn->doc->in_txn || a->doc != txn->doc) return Y_ERR_INVALID;
    if (a->kind != YTYPE_ARRAY && a->kind != YTYPE_XML_FRAGMENT && a->kind != YTYPE_XML_ELEMENT) return Y_ERR_TYPE;
    if (a->item && (a->item->flags & YF_GC)) return Y_ERR_STATE;
    return Y_OK;
}

static yitem *prev_live(yitem *n) {
    n = n->left;
    while (n && yitem_deleted(n)) n = n->left;
    return n;
}

/* Finds the item after which index lies (typeListInsertGenerics). */
static int insert_ref(struct ytxn *txn, struct ytype *a, uint64_t index, size_t count, yitem **ref) {
    *ref = NULL;
    if (index == 0) {
        ymarker_update(a, 0, (int64_t)count);
        return Y_OK;
    }
    uint64_t start_index = index;
    yitem *n = a->start, *mp;
    uint64_t mindex;
    if (ymarker_find(a, index, &mp, &mindex)) {
        n = mp;
        index -= mindex;
        if (index == 0) {
            n = prev_live(n);
            index += (n && yitem_live(n)) ? n->len : 0;
        }
    }
    for (; n; n = n->right) {
        if (!yitem_live(n)) continue;
        if (index <= n->len) {
            if (index < n->len) {
                yid at = {n->id.client, n->id.clock + index};
                if (!ytxn_clean_start(txn, at)) return txn->err;
            }
            break;
        }
        index -= n->len;
    }
    ymarker_update(a, start_index, (int64_t)count);
    *ref = n;
    return Y_OK;
}

static int pack_any(struct ytxn *txn, struct ytype *a, yitem **left, yitem *right, const yany *vals, size_t n) {
    if (!n) return Y_OK;
    ycontent c;
    memset(&c, 0, sizeof c);
    yany *v = ycalloc(n, sizeof *v);
    if (!v) return Y_ERR_NOMEM;
    c.kind = YC_ANY;
    c.u.any.v = v;
    c.u.any.cap = n;
    for (size_t i = 0; i < n; i++) {
        int rc = yany_clone(&vals[i], &v[i]);
        if (rc) {
            ycontent_release(&c, i);
            return rc;
        }
    }
    int rc = yitem_insert_local(txn, a, *left, right, NULL, &c, n, left);
    if (rc) ycontent_release(&c, n);
    return rc;
}

/* Inserts n values at index; see crdt.h. */
static int yarray_insert_impl(ytxn *txn, ytype *a, size_t index, const yany *values, size_t n) {
    int rc = check_arr(txn, a);
    if (rc) return rc;
    if (!values && n) return Y_ERR_INVALID;
    if (index > a->length) return Y_ERR_RANGE;
    if (!n) return Y_OK;
    yitem *left;
    rc = insert_ref(txn, a, index, n, &left);
    if (rc) return rc;
    yitem *right = left ? left->right : a->start;
    size_t run = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (values[i].kind != YANY_BINARY) {
            run++;
            continue;
        }
        rc = pack_any(txn, a, &left, right, values + i - run, run);
        run = 0;
        if (rc) break;
        ycontent c;
        rc = yvalue_content(&values[i], &c);
        if (!rc) {
            rc = yitem_insert_local(txn, a, left, right, NULL, &c, 1, &left);
            if (rc) ycontent_release(&c, 1);
        }
    }
    if (!rc) rc = pack_any(txn, a, &left, right, values + n - run, run);
    return rc;
}

/* Inserts a new nested type at index; *out borrows it. */
static int yarray_insert_type_impl(ytxn *txn, ytype *a, size_t index, ytype_kind kind, ytype **out) {
    int rc = check_arr(txn, a);
    if (rc) return rc;
    if ((unsigned)kind > YTYPE_XML_TEXT) return Y_ERR_INVALID;
    if (index > a->length) return Y_ERR_RANGE;
    struct ytype *t = ytype_new(txn->doc, (uint8_t)kind, true);
    if (!t) return Y_ERR_NOMEM;
    ycontent c;
    memset(&c, 0, sizeof c);
    c.kind = YC_TYPE;
    c.u.type = t;
    yitem *left;
    rc = insert_ref(txn, a, index, 1, &left);
    if (!rc) rc = yitem_insert_local(txn, a, left, left ? left->right : a->start, NULL, &c, 1, NULL);
    if (rc) {
        ycontent_release(&c, 1);
        return rc;
    }
    if (out) *out = t;
    return Y_OK;
}

/* Deletes len values at index; see crdt.h. */
static int yarray_delete_impl(ytxn *txn, ytype *a, size_t index, size_t len) {
    int rc = check_arr(txn, a);
    if (rc) return rc;
    if (index > a->length || len > a->length - index) return Y_ERR_RANGE;
    if (!len) return Y_OK;
    uint64_t start_index = index, left = len, idx = index;
    yitem *n = a->start, *mp;
    uint64_t mindex;
    if (ymarker_find(a, idx, &mp, &mindex)) {
        n = mp;
        idx -= mindex;
    }
    for (; n && idx > 0; n = n->right) {
        if (!yitem_live(n)) continue;
        if (idx < n->len) {
            yid at = {n->id.client, n->id.clock + idx};
            if (!ytxn_clean_start(txn, at)) return txn->err;
        }
        idx -= n->len;
    }
    while (left > 0 && n) {
        if (!yitem_deleted(n)) {
            if (left < n->len) {
                yid at = {n->id.client, n->id.clock + left};
                if (!ytxn_clean_start(txn, at)) return txn->err;
            }
            yitem_delete(txn, n);
            left -= n->len < left ? n->len : left;
        }
        n = n->right;
    }
    ymarker_update(a, start_index, -(int64_t)len + (int64_t)left);
    return txn->err;
}

size_t yarray_len(const ytype *a) { return a ? (size_t)a->length : 0; }

/* Reads the value at index (borrowed). Moves the search markers as Yjs's
 * typeListGet does; they are a cache, hence the const cast. */
int yarray_get(const ytype *ca, size_t index, yvalue *out) {
    if (!ca || !out) return Y_ERR_INVALID;
    if (index >= ca->length) return Y_ERR_RANGE;
    struct ytype *a = (struct ytype *)(uintptr_t)ca;
    uint64_t idx = index;
    yitem *n = a->start, *mp;
    uint64_t mindex;
    if (ymarker_find(a, idx, &mp, &mindex)) {
        n = mp;
        idx -= mindex;
    }
    for (; n; n = n->right) {
        if (!yitem_live(n)) continue;
        if (idx < n->len) return yitem_value(n, idx, out);
        idx -= n->len;
    }
    return Y_ERR_RANGE;
}

/* ---- public edits: each runs with an allocation reserve (alloc.h), so an
 * edit that gets past its first allocation is not cut short by a failing one. */

int yarray_insert(ytxn *txn, ytype *a, size_t index, const yany *values, size_t n) {
    int rc = yalloc_reserve_begin(YEDIT_RESERVE);
    if (rc) return rc;
    rc = yarray_insert_impl(txn, a, index, values, n);
    yalloc_reserve_end();
    return rc;
}

int yarray_insert_type(ytxn *txn, ytype *a, size_t index, ytype_kind kind, ytype **out) {
    int rc = yalloc_reserve_begin(YEDIT_RESERVE);
    if (rc) return rc;
    rc = yarray_insert_type_impl(txn, a, index, kind, out);
    yalloc_reserve_end();
    return rc;
}

int yarray_delete(ytxn *txn, ytype *a, size_t index, size_t len) {
    int rc = yalloc_reserve_begin(YEDIT_RESERVE);
    if (rc) return rc;
    rc = yarray_delete_impl(txn, a, index, len);
    yalloc_reserve_end();
    return rc;
}
