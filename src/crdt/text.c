/*
 * text.c - Y.Text: reading, inserting, deleting and formatting text, and
 * the delta passed to change observers.
 *
 * The algorithms follow YText.js step by step (findPosition with search
 * markers, insertText/insertAttributes/insertNegatedAttributes,
 * minimizeAttributeChanges, formatText, deleteText and
 * cleanupFormattingGap), because the item each step picks as left/right
 * neighbour ends up in the update as origin/right origin.
 *
 * Invariants
 *  - Attribute values are compared as their JSON text (equalAttrs), and
 *    object values by the identity of the format item that holds them where
 *    Yjs uses ===.
 *  - No edit splits a surrogate pair: positions are checked before any item
 *    is split or created (Y_ERR_RANGE).
 */
#include <string.h>

#include "doc_int.h"

typedef struct tattr {
    const char *key;
    const char *json; /* JSON text of the value; "null" for null */
    size_t jn;
    const yitem *src; /* format item that set it; NULL for user values */
    uint64_t oid;     /* identity of the value object (JavaScript ===) */
} tattr;

typedef struct tattrs {
    tattr *a;
    size_t n, cap;
} tattrs;

typedef struct tpos {
    yitem *left, *right;
    uint64_t index;
    tattrs cur;
} tpos;

static void attrs_free(tattrs *t) {
    yfree(t->a);
    memset(t, 0, sizeof *t);
}

static tattr *attrs_get(const tattrs *t, const char *key) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->a[i].key, key) == 0) return &t->a[i];
    return NULL;
}

static int attrs_set(tattrs *t, const char *key, const char *json, size_t jn, const yitem *src, uint64_t oid) {
    tattr *e = attrs_get(t, key);
    if (!e) {
        if (t->n == t->cap) {
            size_t ncap = t->cap ? t->cap * 2 : 4;
            tattr *na = yrealloc(t->a, ncap * sizeof *na);
            if (!na) return Y_ERR_NOMEM;
            t->a = na;
            t->cap = ncap;
        }
        e = &t->a[t->n++];
        e->key = key;
    }
    e->json = json;
    e->jn = jn;
    e->src = src;
    e->oid = oid;
    return Y_OK;
}

static void attrs_del(tattrs *t, const char *key) {
    tattr *e = attrs_get(t, key);
    if (!e) return;
    size_t i = (size_t)(e - t->a);
    memmove(&t->a[i], &t->a[i + 1], (t->n - i - 1) * sizeof *e);
    t->n--;
}

static int attrs_copy(const tattrs *src, tattrs *dst) {
    memset(dst, 0, sizeof *dst);
    for (size_t i = 0; i < src->n; i++) {
        int rc = attrs_set(dst, src->a[i].key, src->a[i].json, src->a[i].jn, src->a[i].src, src->a[i].oid);
        if (rc) {
            attrs_free(dst);
            return rc;
        }
    }
    return Y_OK;
}

static bool is_null_json(const char *j, size_t n) { return !j || (n == 4 && memcmp(j, "null", 4) == 0); }

/* equalAttrs: same JSON text (null and absent are equal). */
static bool json_eq(const char *a, size_t an, const char *b, size_t bn) {
    if (is_null_json(a, an) || is_null_json(b, bn)) return is_null_json(a, an) && is_null_json(b, bn);
    return an == bn && memcmp(a, b, an) == 0;
}

/* JavaScript ===: primitives by value, objects/arrays by identity. */
static bool strict_eq(const char *a, size_t an, uint64_t as, const char *b, size_t bn, uint64_t bs) {
    if (!json_eq(a, an, b, bn)) return false;
    if (a && an && (a[0] == '{' || a[0] == '[')) return as == bs;
    return true;
}

static bool is_format(const yitem *it) { return !(it->flags & YF_GC) && it->content.kind == YC_FORMAT; }

static void update_current(tattrs *cur, const yitem *fmt, int *err) {
    const ycontent *c = &fmt->content;
    if (is_null_json(c->u.fmt->json, c->u.fmt->n)) attrs_del(cur, c->u.fmt->key);
    else if (attrs_set(cur, c->u.fmt->key, c->u.fmt->json, c->u.fmt->n, fmt, c->u.fmt->oid)) *err = Y_ERR_NOMEM;
}

static void pos_forward(tpos *p, int *err) {
    yitem *r = p->right;
    if (is_format(r)) {
        if (!yitem_deleted(r)) update_current(&p->cur, r, err);
    } else if (!yitem_deleted(r)) {
        p->index += r->len;
    }
    p->left = r;
    p->right = r->right;
}

static bool splits_pair(const yitem *it, uint64_t at) {
    return at > 0 && at < it->len && it->content.kind == YC_STRING && ycontent_units(&it->content)[at - 1] >= 0xd800 &&
           ycontent_units(&it->content)[at - 1] <= 0xdbff;
}

/* findNextPosition: moves count units to the right, splitting an item when
 * the position falls inside it. */
static int next_position(struct ytxn *txn, tpos *p, uint64_t count) {
    int err = Y_OK;
    while (p->right && count > 0) {
        yitem *r = p->right;
        if (is_format(r)) {
            if (!yitem_deleted(r)) update_current(&p->cur, r, &err);
        } else if (!yitem_deleted(r)) {
            if (count < r->len) {
                if (splits_pair(r, count)) return Y_ERR_RANGE;
                yid at = {r->id.client, r->id.clock + count};
                if (!ytxn_clean_start(txn, at)) return txn->err;
            }
            p->index += r->len;
            count -= r->len;
        }
        p->left = r;
        p->right = r->right;
    }
    return err;
}

static int find_position(struct ytxn *txn, struct ytype *t, uint64_t index, bool use_marker, tpos *p) {
    memset(p, 0, sizeof *p);
    yitem *mp;
    uint64_t mindex;
    if (use_marker && ymarker_find(t, index, &mp, &mindex)) {
        p->left = mp->left;
        p->right = mp;
        p->index = mindex;
        return next_position(txn, p, index - mindex);
    }
    p->right = t->start;
    return next_position(txn, p, index);
}

/* One user attribute: key and JSON text of the value (owned). */
typedef struct uattr {
    const char *key;
    char *json;
    size_t jn;
    bool owned;
    uint64_t oid;
} uattr;

typedef struct uattrs {
    uattr *a;
    size_t n, cap;
} uattrs;

static void uattrs_free(uattrs *u) {
    for (size_t i = 0; i < u->n; i++)
        if (u->a[i].owned) yfree(u->a[i].json);
    yfree(u->a);
    memset(u, 0, sizeof *u);
}

static uattr *uattrs_get(uattrs *u, const char *key) {
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->a[i].key, key) == 0) return &u->a[i];
    return NULL;
}

static int uattrs_push(uattrs *u, const char *key, char *json, size_t jn, bool owned, uint64_t oid) {
    uattr *e = uattrs_get(u, key);
    if (e) {
        if (e->owned) yfree(e->json);
    } else {
        if (u->n == u->cap) {
            size_t ncap = u->cap ? u->cap * 2 : 4;
            uattr *na = yrealloc(u->a, ncap * sizeof *na);
            if (!na) {
                if (owned) yfree(json);
                return Y_ERR_NOMEM;
            }
            u->a = na;
            u->cap = ncap;
        }
        e = &u->a[u->n++];
        e->key = key;
    }
    e->json = json;
    e->jn = jn;
    e->owned = owned;
    e->oid = oid;
    return Y_OK;
}

static int uattrs_from(const yany_entry *attrs, size_t n, uattrs *u) {
    memset(u, 0, sizeof *u);
    for (size_t i = 0; i < n; i++) {
        if (!attrs[i].key) {
            uattrs_free(u);
            return Y_ERR_INVALID;
        }
        ybuf b;
        ybuf_init(&b, YBUF_NO_LIMIT);
        int rc = yjson_write(&b, &attrs[i].value);
        uint8_t *d = NULL;
        size_t dl = 0;
        if (!rc) rc = ybuf_u8(&b, 0);
        if (!rc) rc = ybuf_detach(&b, &d, &dl);
        ybuf_release(&b);
        if (!rc) rc = uattrs_push(u, attrs[i].key, (char *)d, dl - 1, true, ycontent_new_oid());
        if (rc) {
            uattrs_free(u);
            return rc;
        }
    }
    return Y_OK;
}

static int new_format(struct ytxn *txn, struct ytype *t, tpos *p, const char *key, const char *json, size_t jn,
                      uint64_t oid) {
    ycontent c;
    memset(&c, 0, sizeof c);
    c.kind = YC_FORMAT;
    c.u.fmt = ycalloc(1, sizeof *c.u.fmt);
    if (!c.u.fmt) return Y_ERR_NOMEM;
    c.u.fmt->key = ystrndup(key, strlen(key));
    c.u.fmt->json = ystrndup(json ? json : "null", json ? jn : 4);
    c.u.fmt->n = json ? jn : 4;
    c.u.fmt->oid = oid;
    if (!c.u.fmt->key || !c.u.fmt->json) {
        ycontent_release(&c, 1);
        return Y_ERR_NOMEM;
    }
    yitem *it;
    int rc = yitem_insert_local(txn, t, p->left, p->right, NULL, &c, 1, &it);
    if (rc) {
        ycontent_release(&c, 1);
        return rc;
    }
    p->right = it;
    int err = Y_OK;
    pos_forward(p, &err);
    return err;
}

static void minimize_changes(tpos *p, uattrs *attrs, int *err) {
    while (p->right) {
        yitem *r = p->right;
        if (!yitem_deleted(r)) {
            if (!is_format(r)) break;
            uattr *a = uattrs_get(attrs, r->content.u.fmt->key);
            if (!json_eq(a ? a->json : NULL, a ? a->jn : 0, r->content.u.fmt->json, r->content.u.fmt->n)) break;
        }
        pos_forward(p, err);
    }
}

/* insertAttributes: returns the negated attributes (values borrowed). */
static int insert_attributes(struct ytxn *txn, struct ytype *t, tpos *p, uattrs *attrs, tattrs *neg) {
    memset(neg, 0, sizeof *neg);
    for (size_t i = 0; i < attrs->n; i++) {
        uattr *a = &attrs->a[i];
        tattr *c = attrs_get(&p->cur, a->key);
        if (json_eq(c ? c->json : NULL, c ? c->jn : 0, a->json, a->jn)) continue;
        int rc = attrs_set(neg, a->key, c ? c->json : NULL, c ? c->jn : 0, c ? c->src : NULL, c ? c->oid : 0);
        if (!rc) rc = new_format(txn, t, p, a->key, a->json, a->jn, a->oid);
        if (rc) return rc;
    }
    return Y_OK;
}

static int insert_negated(struct ytxn *txn, struct ytype *t, tpos *p, tattrs *neg) {
    int err = Y_OK;
    while (p->right) {
        yitem *r = p->right;
        if (!yitem_deleted(r)) {
            if (!is_format(r)) break;
            tattr *n = attrs_get(neg, r->content.u.fmt->key);
            if (!n) break;
            if (!json_eq(n->json, n->jn, r->content.u.fmt->json, r->content.u.fmt->n)) break;
            attrs_del(neg, r->content.u.fmt->key);
        }
        pos_forward(p, &err);
    }
    for (size_t i = 0; i < neg->n && !err; i++) {
        /* the key string may belong to an item; copy before inserting */
        err = new_format(txn, t, p, neg->a[i].key, neg->a[i].json, neg->a[i].jn, neg->a[i].oid);
    }
    return err;
}

static int check_edit(ytxn *txn, ytype *t) {
    if (!txn || !t || !txn->doc || !txn->doc->in_txn || t->doc != txn->doc) return Y_ERR_INVALID;
    if (t->kind != YTYPE_TEXT && t->kind != YTYPE_XML_TEXT) return Y_ERR_TYPE;
    if (t->item && (t->item->flags & YF_GC)) return Y_ERR_STATE;
    return Y_OK;
}

/* insertText: content is consumed on success. */
static int insert_content(struct ytxn *txn, struct ytype *t, uint64_t index, ycontent *content, uint64_t len,
                          const yany_entry *attrs, size_t nattrs) {
    tpos p;
    uattrs ua;
    tattrs neg = {0};
    int rc = uattrs_from(attrs, attrs ? nattrs : 0, &ua);
    if (rc) return rc;
    rc = find_position(txn, t, index, attrs == NULL, &p);
    if (rc) goto out;
    if (attrs == NULL) {
        for (size_t i = 0; i < p.cur.n && !rc; i++)
            rc = uattrs_push(&ua, p.cur.a[i].key, (char *)(uintptr_t)p.cur.a[i].json, p.cur.a[i].jn, false,
                             p.cur.a[i].oid);
    } else {
        for (size_t i = 0; i < p.cur.n && !rc; i++)
            if (!uattrs_get(&ua, p.cur.a[i].key)) rc = uattrs_push(&ua, p.cur.a[i].key, NULL, 0, false, 0);
    }
    if (rc) goto out;
    int err = Y_OK;
    minimize_changes(&p, &ua, &err);
    if (err) {
        rc = err;
        goto out;
    }
    rc = insert_attributes(txn, t, &p, &ua, &neg);
    if (rc) goto out;
    if (t->markers_on) ymarker_update(t, p.index, (int64_t)len);
    if (yitem_append_local(txn, t, p.left, p.right, content, len)) {
        p.index += len; /* the position is after the new text: still left | right */
    } else {
        yitem *it;
        rc = yitem_insert_local(txn, t, p.left, p.right, NULL, content, len, &it);
        if (rc) goto out;
        p.right = it;
        pos_forward(&p, &err);
    }
    rc = err ? err : insert_negated(txn, t, &p, &neg);
out:
    attrs_free(&neg);
    attrs_free(&p.cur);
    uattrs_free(&ua);
    return rc;
}

/* insert_content for text without attributes in a text that never held a
 * format item (has_formatting is never reset): the current attributes are
 * then always empty, minimizeAttributeChanges only steps over deleted items
 * and no format item is inserted, so only the position and the item
 * remain. Same steps, same result as insert_content. */
static int insert_plain(struct ytxn *txn, struct ytype *t, uint64_t index, ycontent *content, uint64_t len) {
    tpos p;
    if (ymarker_at(t, index, &p.left, &p.right)) {
        /* typing at the last search's marker: findPosition would stop
         * there (no split; moving the marker changes nothing: any marker
         * finds the same place) */
        p.index = index;
    } else {
        int rc = find_position(txn, t, index, true, &p);
        if (rc) return rc;
    }
    while (p.right && yitem_deleted(p.right)) {
        p.left = p.right;
        p.right = p.right->right;
    }
    if (t->markers_on) ymarker_update(t, p.index, (int64_t)len);
    if (yitem_append_local(txn, t, p.left, p.right, content, len)) return Y_OK;
    return yitem_insert_local(txn, t, p.left, p.right, NULL, content, len, NULL);
}

/* Inserts UTF-8 text; see crdt.h. attrs == NULL inherits the formatting at
 * the position (Yjs insert without attributes); a non-NULL attrs (even with
 * nattrs == 0) gives the exact formatting of the new text. */
static int ytext_insert_impl(ytxn *txn, ytype *text, size_t index, const char *s, size_t len, const yany_entry *attrs,
                 size_t nattrs) {
    int rc = check_edit(txn, text);
    if (rc) return rc;
    if (!s && len) return Y_ERR_INVALID;
    if (!yutf8_valid(s, len)) return Y_ERR_INVALID;
    if (index > text->length) return Y_ERR_RANGE;
    if (len == 0) return Y_OK;
    ycontent c;
    uint64_t units;
    rc = ycontent_from_utf8(&c, s, len, &units);
    if (rc) return rc;
    if (!attrs && !text->has_formatting) rc = insert_plain(txn, text, index, &c, units);
    else rc = insert_content(txn, text, index, &c, units, attrs, nattrs);
    if (c.kind == YC_STRING) ycontent_release(&c, units);
    return rc;
}

/* Inserts an embed (one position); see crdt.h. */
static int ytext_insert_embed_impl(ytxn *txn, ytype *text, size_t index, const yany *embed, const yany_entry *attrs,
                       size_t nattrs) {
    int rc = check_edit(txn, text);
    if (rc) return rc;
    if (!embed) return Y_ERR_INVALID;
    if (index > text->length) return Y_ERR_RANGE;
    ybuf b;
    ybuf_init(&b, YBUF_NO_LIMIT);
    rc = yjson_write(&b, embed);
    if (!rc) rc = ybuf_u8(&b, 0);
    size_t n = b.len;
    uint8_t *d = NULL;
    if (!rc) rc = ybuf_detach(&b, &d, NULL);
    ybuf_release(&b);
    if (rc) return rc;
    ycontent c;
    memset(&c, 0, sizeof c);
    c.kind = YC_EMBED;
    c.u.embed.json = (char *)d;
    c.u.embed.n = n - 1;
    rc = insert_content(txn, text, index, &c, 1, attrs, nattrs);
    if (c.kind == YC_EMBED) ycontent_release(&c, 1);
    return rc;
}

/* Checks, without changing anything, that `len` units from p end on a
 * character boundary. */
static bool end_ok(const tpos *p, uint64_t len) {
    for (const yitem *r = p->right; r && len > 0; r = r->right) {
        if (yitem_deleted(r) || !yitem_countable(r)) continue;
        if (len < r->len) return !splits_pair(r, len);
        len -= r->len;
    }
    return true;
}

static int cleanup_gap(struct ytxn *txn, yitem *start, yitem *curr, tattrs *start_attrs, tattrs *cur) {
    yitem *end = start;
    tattrs endf = {0};
    int err = Y_OK;
    while (end && (!yitem_countable(end) || yitem_deleted(end))) {
        if (!yitem_deleted(end) && is_format(end)) {
            if (attrs_set(&endf, end->content.u.fmt->key, NULL, 0, end, 0)) err = Y_ERR_NOMEM;
        }
        end = end->right;
    }
    bool reached = false;
    for (; start != end && !err; start = start->right) {
        if (curr == start) reached = true;
        if (yitem_deleted(start) || !is_format(start)) continue;
        const char *key = start->content.u.fmt->key;
        const char *val = start->content.u.fmt->json;
        size_t vn = start->content.u.fmt->n;
        tattr *sa = attrs_get(start_attrs, key);
        tattr *ef = attrs_get(&endf, key);
        uint64_t oid = start->content.u.fmt->oid;
        bool start_eq = strict_eq(sa ? sa->json : NULL, sa ? sa->jn : 0, sa ? sa->oid : 0, val, vn, oid);
        if ((ef ? ef->src : NULL) != start || start_eq) {
            yitem_delete(txn, start);
            tattr *ca = attrs_get(cur, key);
            if (!reached && strict_eq(ca ? ca->json : NULL, ca ? ca->jn : 0, ca ? ca->oid : 0, val, vn, oid) &&
                !start_eq) {
                if (!sa || is_null_json(sa->json, sa->jn)) attrs_del(cur, key);
                else if (attrs_set(cur, key, sa->json, sa->jn, sa->src, sa->oid)) err = Y_ERR_NOMEM;
            }
        }
        if (!reached && !yitem_deleted(start)) update_current(cur, start, &err);
    }
    attrs_free(&endf);
    return err;
}

/* Deletes len units at index; see crdt.h. */
static int ytext_delete_impl(ytxn *txn, ytype *text, size_t index, size_t len) {
    int rc = check_edit(txn, text);
    if (rc) return rc;
    if (index > text->length || len > text->length - index) return Y_ERR_RANGE;
    if (len == 0) return Y_OK;
    tpos p;
    rc = find_position(txn, text, index, true, &p);
    if (rc) goto out;
    if (!text->has_formatting) {
        /* No format item: every item before the first live one is deleted,
         * and stepping over it only moves left/right (pos_forward): jump
         * there once, for end_ok and the loop below. */
        while (p.right && yitem_deleted(p.right)) p.right = p.right->right;
        if (p.right) p.left = p.right->left;
    }
    if (!end_ok(&p, len)) {
        rc = Y_ERR_RANGE;
        goto out;
    }
    uint64_t left = len;
    tattrs start_attrs;
    rc = attrs_copy(&p.cur, &start_attrs);
    if (rc) goto out;
    yitem *start = p.right;
    int err = Y_OK;
    while (left > 0 && p.right) {
        yitem *r = p.right;
        if (!yitem_deleted(r) && (r->content.kind == YC_STRING || r->content.kind == YC_EMBED ||
                                  r->content.kind == YC_TYPE)) {
            if (left < r->len) {
                yid at = {r->id.client, r->id.clock + left};
                if (!ytxn_clean_start(txn, at)) {
                    err = txn->err;
                    break;
                }
            }
            left -= r->len;
            yitem_delete(txn, r);
        }
        pos_forward(&p, &err);
    }
    /* Without a format item in the text (has_formatting is never reset) the
     * cleanup finds nothing to do; skipping it saves a walk over the
     * deleted items after the range. */
    if (!err && start && text->has_formatting)
        err = cleanup_gap(txn, start, p.right, &start_attrs, &p.cur);
    attrs_free(&start_attrs);
    if (text->markers_on) ymarker_update(text, p.index, -(int64_t)len + (int64_t)left);
    rc = err;
out:
    attrs_free(&p.cur);
    return rc;
}

/* Formats a range; see crdt.h. */
static int ytext_format_impl(ytxn *txn, ytype *text, size_t index, size_t len, const yany_entry *attrs, size_t nattrs) {
    int rc = check_edit(txn, text);
    if (rc) return rc;
    if (index > text->length || len > text->length - index) return Y_ERR_RANGE;
    if (len == 0) return Y_OK;
    uattrs ua;
    rc = uattrs_from(attrs, attrs ? nattrs : 0, &ua);
    if (rc) return rc;
    tpos p;
    tattrs neg = {0};
    rc = find_position(txn, text, index, false, &p);
    if (rc || !p.right) goto out;
    if (!end_ok(&p, len)) {
        rc = Y_ERR_RANGE;
        goto out;
    }
    int err = Y_OK;
    minimize_changes(&p, &ua, &err);
    rc = err ? err : insert_attributes(txn, text, &p, &ua, &neg);
    if (rc) goto out;
    uint64_t left = len;
    while (p.right && !err && (left > 0 || (neg.n > 0 && (yitem_deleted(p.right) || is_format(p.right))))) {
        yitem *r = p.right;
        if (!yitem_deleted(r)) {
            if (is_format(r)) {
                uattr *a = uattrs_get(&ua, r->content.u.fmt->key);
                if (a) {
                    if (json_eq(a->json, a->jn, r->content.u.fmt->json, r->content.u.fmt->n)) {
                        attrs_del(&neg, r->content.u.fmt->key);
                    } else {
                        if (left == 0) break;
                        if (attrs_set(&neg, r->content.u.fmt->key, r->content.u.fmt->json, r->content.u.fmt->n, r,
                                      r->content.u.fmt->oid))
                            err = Y_ERR_NOMEM;
                    }
                    yitem_delete(txn, r);
                } else if (attrs_set(&p.cur, r->content.u.fmt->key, r->content.u.fmt->json, r->content.u.fmt->n, r,
                                     r->content.u.fmt->oid)) {
                    err = Y_ERR_NOMEM;
                }
            } else {
                if (left < r->len) {
                    yid at = {r->id.client, r->id.clock + left};
                    if (!ytxn_clean_start(txn, at)) {
                        err = txn->err;
                        break;
                    }
                }
                left -= r->len < left ? r->len : left;
            }
        }
        pos_forward(&p, &err);
    }
    rc = err ? err : insert_negated(txn, text, &p, &neg);
out:
    attrs_free(&neg);
    attrs_free(&p.cur);
    uattrs_free(&ua);
    return rc;
}

/* ---- reading -------------------------------------------------------------- */

size_t ytext_len(const ytype *text) { return text ? (size_t)text->length : 0; }

static int text_collect(const ytype *text, const yds *snap_ds, const uint64_t *svc, const uint64_t *svk, size_t nsv,
                        char **out, size_t *len) {
    ybuf b;
    ybuf_init(&b, YBUF_NO_LIMIT);
    for (const yitem *it = text->start; it; it = it->right) {
        if (it->content.kind != YC_STRING) continue;
        if (snap_ds) {
            uint64_t sv = 0;
            for (size_t k = 0; k < nsv; k++)
                if (svc[k] == it->id.client) sv = svk[k];
            uint64_t a = it->id.clock, end = it->id.clock + it->len;
            if (end > sv) end = sv;
            const ydsclient *dc = yds_client(snap_ds, it->id.client);
            size_t ri = 0;
            while (a < end) {
                /* skip deleted ranges covering a, find the next one after a */
                uint64_t stop = end;
                bool deleted = false;
                for (; dc && ri < dc->n; ri++) {
                    const yrange *r = &dc->r[ri];
                    if (r->clock + r->len <= a) continue;
                    if (r->clock <= a) {
                        deleted = true;
                        stop = r->clock + r->len < end ? r->clock + r->len : end;
                    } else if (r->clock < stop) {
                        stop = r->clock;
                    }
                    break;
                }
                if (!deleted)
                    yutf16_append_utf8(&b, ycontent_units(&it->content) + (a - it->id.clock), (size_t)(stop - a));
                a = stop;
            }
        } else if (!yitem_deleted(it)) {
            yutf16_append_utf8(&b, ycontent_units(&it->content), (size_t)it->len);
        }
    }
    size_t n = b.len;
    ybuf_u8(&b, 0);
    uint8_t *d;
    int rc = ybuf_detach(&b, &d, NULL);
    if (rc) return rc;
    *out = (char *)d;
    if (len) *len = n;
    return Y_OK;
}

/* The visible text as UTF-8; caller frees *out with yfree. */
int ytext_string(const ytype *text, char **out, size_t *len) {
    if (!text || !out) return Y_ERR_INVALID;
    if (text->kind != YTYPE_TEXT && text->kind != YTYPE_XML_TEXT) return Y_ERR_TYPE;
    return text_collect(text, NULL, NULL, NULL, 0, out, len);
}

int ytext_string_snapshot(const ytype *text, const yds *ds, const uint64_t *svc, const uint64_t *svk, size_t nsv,
                          char **out, size_t *len);
int ytext_string_snapshot(const ytype *text, const yds *ds, const uint64_t *svc, const uint64_t *svk, size_t nsv,
                          char **out, size_t *len) {
    return text_collect(text, ds, svc, svk, nsv, out, len);
}

/* UTF-8 byte offset -> UTF-16 index; see crdt.h. */
int ytext_utf8_to_index(const ytype *text, size_t off, size_t *index) {
    if (!text || !index) return Y_ERR_INVALID;
    size_t units = 0, bytes = 0;
    for (const yitem *it = text->start; it; it = it->right) {
        if (!yitem_live(it)) continue;
        if (it->content.kind != YC_STRING) {
            units += (size_t)it->len;
            continue;
        }
        size_t ib = yutf16_utf8_len(ycontent_units(&it->content), (size_t)it->len);
        if (off < bytes + ib) {
            /* walk inside the item */
            const uint16_t *u = ycontent_units(&it->content);
            size_t b = bytes;
            for (size_t i = 0; i < it->len;) {
                if (b == off) {
                    *index = units + i;
                    return Y_OK;
                }
                if (b > off) return Y_ERR_RANGE;
                size_t w = (u[i] >= 0xd800 && u[i] <= 0xdbff && i + 1 < it->len) ? 2 : 1;
                b += yutf16_utf8_len(u + i, w);
                i += w;
            }
            return Y_ERR_RANGE;
        }
        bytes += ib;
        units += (size_t)it->len;
    }
    if (off == bytes) {
        *index = units;
        return Y_OK;
    }
    return Y_ERR_RANGE;
}

/* UTF-16 index -> UTF-8 byte offset; see crdt.h. */
int ytext_index_to_utf8(const ytype *text, size_t index, size_t *off) {
    if (!text || !off) return Y_ERR_INVALID;
    size_t units = 0, bytes = 0;
    for (const yitem *it = text->start; it; it = it->right) {
        if (!yitem_live(it)) continue;
        if (index < units + it->len) {
            if (it->content.kind != YC_STRING) {
                *off = bytes;
                return Y_OK;
            }
            size_t k = index - units;
            if (splits_pair(it, k)) return Y_ERR_RANGE;
            *off = bytes + yutf16_utf8_len(ycontent_units(&it->content), k);
            return Y_OK;
        }
        units += (size_t)it->len;
        if (it->content.kind == YC_STRING) bytes += yutf16_utf8_len(ycontent_units(&it->content), (size_t)it->len);
    }
    if (index == units) {
        *off = bytes;
        return Y_OK;
    }
    return Y_ERR_RANGE;
}

/* ---- delta for observers ---------------------------------------------------- */

/* Everything a delta owns, freed together after the observers ran. */
typedef struct dscratch {
    void **blocks;
    size_t n, cap;
    yany **anys; /* parsed values (yany_release, then yfree) */
    size_t nany, capany;
} dscratch;

static void *sc_keep(dscratch *sc, void *p) {
    if (!p) return NULL;
    if (sc->n == sc->cap) {
        size_t ncap = sc->cap ? sc->cap * 2 : 16;
        void **nb = yrealloc(sc->blocks, ncap * sizeof *nb);
        if (!nb) {
            yfree(p);
            return NULL;
        }
        sc->blocks = nb;
        sc->cap = ncap;
    }
    sc->blocks[sc->n++] = p;
    return p;
}

/* Parses JSON text into a yany owned by the scratch; NULL on failure. */
static yany *sc_json(dscratch *sc, const char *json, size_t n) {
    if (sc->nany == sc->capany) {
        size_t ncap = sc->capany ? sc->capany * 2 : 16;
        yany **na = yrealloc(sc->anys, ncap * sizeof *na);
        if (!na) return NULL;
        sc->anys = na;
        sc->capany = ncap;
    }
    yany *v = ymalloc(sizeof *v);
    if (!v) return NULL;
    if (yjson_parse(json, n, v) != Y_OK) {
        yfree(v);
        return NULL;
    }
    sc->anys[sc->nany++] = v;
    return v;
}

/* The state of Yjs's YTextEvent.delta walk. */
typedef struct dwalk {
    dscratch *sc;
    ydelta *d;
    size_t nd, cap;
    int action; /* -1 none, else a ydelta_op */
    ybuf ins;   /* inserted text (UTF-8) */
    size_t ins_units;
    const yany *embed;
    bool have_embed;
    uint64_t retain, del;
    tattrs cur, old, attrs; /* attrs: json NULL = absent never stored; "null" = null */
    int err;
} dwalk;

/* Turns attribute entries into a yany_entry array (skipping null values
 * when skip_null); NULL with *n = 0 when none. */
static const yany_entry *make_attrs(dwalk *w, const tattrs *t, bool skip_null, size_t *n) {
    size_t k = 0;
    *n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (!(skip_null && is_null_json(t->a[i].json, t->a[i].jn))) k++;
    if (!k) return NULL;
    yany_entry *e = sc_keep(w->sc, ymalloc(k * sizeof *e));
    if (!e) {
        w->err = Y_ERR_NOMEM;
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (skip_null && is_null_json(t->a[i].json, t->a[i].jn)) continue;
        e[j].key = t->a[i].key;
        const char *js = t->a[i].json ? t->a[i].json : "null";
        yany *v = sc_json(w->sc, js, t->a[i].json ? t->a[i].jn : 4);
        if (!v) {
            w->err = Y_ERR_NOMEM;
            return NULL;
        }
        e[j++].value = *v;
    }
    *n = j;
    return e;
}

static ydelta *push_op(dwalk *w, ydelta_op op) {
    if (w->nd == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 8;
        ydelta *nd = yrealloc(w->d, ncap * sizeof *nd);
        if (!nd) {
            w->err = Y_ERR_NOMEM;
            return NULL;
        }
        w->d = nd;
        w->cap = ncap;
    }
    ydelta *o = &w->d[w->nd++];
    memset(o, 0, sizeof *o);
    o->op = op;
    return o;
}

static void add_op(dwalk *w) {
    ydelta *o;
    switch (w->action) {
    case YDELTA_DELETE:
        if (w->del > 0 && (o = push_op(w, YDELTA_DELETE))) o->len = (size_t)w->del;
        w->del = 0;
        break;
    case YDELTA_INSERT:
        if (w->have_embed || w->ins_units > 0) {
            if ((o = push_op(w, YDELTA_INSERT))) {
                if (w->have_embed) {
                    o->len = 1;
                    o->embed = w->embed;
                } else {
                    uint8_t *txt = NULL;
                    size_t tl = 0;
                    ybuf_u8(&w->ins, 0);
                    if (ybuf_detach(&w->ins, &txt, &tl) || !sc_keep(w->sc, txt)) w->err = Y_ERR_NOMEM;
                    o->text = (const char *)txt;
                    o->len_utf8 = tl ? tl - 1 : 0;
                    o->len = w->ins_units;
                }
                size_t na;
                const yany_entry *a = make_attrs(w, &w->cur, true, &na);
                o = &w->d[w->nd - 1];
                o->attrs = a;
                o->nattrs = na;
            }
        }
        ybuf_release(&w->ins);
        ybuf_init(&w->ins, YBUF_NO_LIMIT);
        w->ins_units = 0;
        w->have_embed = false;
        w->embed = NULL;
        break;
    case YDELTA_RETAIN:
        if (w->retain > 0 && (o = push_op(w, YDELTA_RETAIN))) {
            o->len = (size_t)w->retain;
            size_t na;
            const yany_entry *a = make_attrs(w, &w->attrs, false, &na);
            o = &w->d[w->nd - 1];
            o->attrs = a;
            o->nattrs = na;
        }
        w->retain = 0;
        break;
    default:
        break;
    }
    w->action = -1;
}

static void switch_to(dwalk *w, int action) {
    if (w->action != action) {
        add_op(w);
        w->action = action;
    }
}

static void attr_put(dwalk *w, tattrs *t, const char *key, const char *json, size_t jn, uint64_t oid) {
    if (attrs_set(t, key, json ? json : "null", json ? jn : 4, NULL, oid)) w->err = Y_ERR_NOMEM;
}

int ytext_delta(struct ytxn *txn, struct ytype *t, ydelta **out, size_t *n, void **scratch) {
    dwalk w;
    memset(&w, 0, sizeof w);
    w.sc = ycalloc(1, sizeof *w.sc);
    if (!w.sc) return Y_ERR_NOMEM;
    w.action = -1;
    ybuf_init(&w.ins, YBUF_NO_LIMIT);
    for (yitem *it = t->start; it && !w.err; it = it->right) {
        bool adds = it->id.clock >= ytxn_before(txn, it->id.client);
        bool dels = yds_contains(&txn->ds, it->id);
        switch (it->content.kind) {
        case YC_TYPE:
        case YC_EMBED:
            if (adds) {
                if (!dels) {
                    add_op(&w);
                    w.action = YDELTA_INSERT;
                    w.have_embed = true;
                    w.embed = it->content.kind == YC_EMBED
                                  ? sc_json(w.sc, it->content.u.embed.json, it->content.u.embed.n)
                                  : NULL;
                    add_op(&w);
                }
            } else if (dels) {
                switch_to(&w, YDELTA_DELETE);
                w.del += 1;
            } else if (!yitem_deleted(it)) {
                switch_to(&w, YDELTA_RETAIN);
                w.retain += 1;
            }
            break;
        case YC_STRING:
            if (!adds && it->id.clock + it->len > ytxn_before(txn, it->id.client)) {
                /* text appended to an older item in this transaction
                 * (yitem_append_local): Yjs has two items here, the old
                 * part (retained or deleted) and the new one */
                uint64_t old = ytxn_before(txn, it->id.client) - it->id.clock;
                if (dels) {
                    switch_to(&w, YDELTA_DELETE);
                    w.del += old;
                } else if (!yitem_deleted(it)) {
                    switch_to(&w, YDELTA_RETAIN);
                    w.retain += old;
                    switch_to(&w, YDELTA_INSERT);
                    if (yutf16_append_utf8(&w.ins, ycontent_units(&it->content) + old, (size_t)(it->len - old)))
                        w.err = Y_ERR_NOMEM;
                    w.ins_units += (size_t)(it->len - old);
                }
            } else if (adds) {
                if (!dels) {
                    switch_to(&w, YDELTA_INSERT);
                    if (yutf16_append_utf8(&w.ins, ycontent_units(&it->content), (size_t)it->len)) w.err = Y_ERR_NOMEM;
                    w.ins_units += (size_t)it->len;
                }
            } else if (dels) {
                switch_to(&w, YDELTA_DELETE);
                w.del += it->len;
            } else if (!yitem_deleted(it)) {
                switch_to(&w, YDELTA_RETAIN);
                w.retain += it->len;
            }
            break;
        case YC_FORMAT: {
            const char *key = it->content.u.fmt->key, *val = it->content.u.fmt->json;
            size_t vn = it->content.u.fmt->n;
            uint64_t oid = it->content.u.fmt->oid;
            if (adds) {
                if (!dels) {
                    tattr *c = attrs_get(&w.cur, key);
                    if (!json_eq(c ? c->json : NULL, c ? c->jn : 0, val, vn)) {
                        if (w.action == YDELTA_RETAIN) add_op(&w);
                        tattr *o = attrs_get(&w.old, key);
                        if (json_eq(val, vn, o ? o->json : NULL, o ? o->jn : 0)) attrs_del(&w.attrs, key);
                        else attr_put(&w, &w.attrs, key, val, vn, oid);
                    } else if (!is_null_json(val, vn)) {
                        yitem_delete(ytxn_followup(txn), it);
                    }
                }
            } else if (dels) {
                attr_put(&w, &w.old, key, val, vn, oid);
                tattr *c = attrs_get(&w.cur, key);
                if (!json_eq(c ? c->json : NULL, c ? c->jn : 0, val, vn)) {
                    if (w.action == YDELTA_RETAIN) add_op(&w);
                    attr_put(&w, &w.attrs, key, c ? c->json : NULL, c ? c->jn : 0, c ? c->oid : 0);
                }
            } else if (!yitem_deleted(it)) {
                attr_put(&w, &w.old, key, val, vn, oid);
                tattr *a = attrs_get(&w.attrs, key);
                if (a) {
                    if (!json_eq(a->json, a->jn, val, vn)) {
                        if (w.action == YDELTA_RETAIN) add_op(&w);
                        if (is_null_json(val, vn)) attrs_del(&w.attrs, key);
                        else attr_put(&w, &w.attrs, key, val, vn, oid);
                    } else if (!is_null_json(a->json, a->jn)) {
                        yitem_delete(ytxn_followup(txn), it);
                    }
                }
            }
            if (!yitem_deleted(it)) {
                if (w.action == YDELTA_INSERT) add_op(&w);
                update_current(&w.cur, it, &w.err);
            }
            break;
        }
        default:
            break;
        }
    }
    add_op(&w);
    while (w.nd && w.d[w.nd - 1].op == YDELTA_RETAIN && !w.d[w.nd - 1].nattrs) w.nd--;
    ybuf_release(&w.ins);
    attrs_free(&w.cur);
    attrs_free(&w.old);
    attrs_free(&w.attrs);
    if (w.err) {
        yfree(w.d);
        ytext_delta_free(NULL, 0, w.sc);
        return w.err;
    }
    *out = w.d;
    *n = w.nd;
    *scratch = w.sc;
    return Y_OK;
}

void ytext_delta_free(ydelta *d, size_t n, void *scratch) {
    (void)n;
    yfree(d);
    dscratch *sc = scratch;
    if (!sc) return;
    for (size_t i = 0; i < sc->n; i++) yfree(sc->blocks[i]);
    for (size_t i = 0; i < sc->nany; i++) {
        yany_release(sc->anys[i]);
        yfree(sc->anys[i]);
    }
    yfree(sc->blocks);
    yfree(sc->anys);
    yfree(sc);
}

/* ---- formatting cleanup after remote transactions ------------------------- */

/* cleanupYTextFormatting: runs cleanupFormattingGap between content items
 * from the start of the text, exactly as Yjs (which only ever finds the
 * leading gap non-empty). */
static int cleanup_text_formatting(struct ytxn *txn, struct ytype *t) {
    yitem *start = t->start, *end = t->start;
    tattrs start_attrs = {0}, cur = {0};
    int err = Y_OK;
    for (; end && !err; end = end->right) {
        if (yitem_deleted(end)) continue;
        if (is_format(end)) {
            update_current(&cur, end, &err);
            continue;
        }
        err = cleanup_gap(txn, start, end, &start_attrs, &cur);
        attrs_free(&start_attrs);
        if (!err) err = attrs_copy(&cur, &start_attrs);
        start = end;
    }
    attrs_free(&start_attrs);
    attrs_free(&cur);
    return err;
}

/* cleanupContextlessFormattingGap: removes duplicate format keys around a
 * deleted item. */
static void cleanup_contextless(struct ytxn *txn, yitem *item) {
    while (item && item->right && (yitem_deleted(item->right) || !yitem_countable(item->right))) item = item->right;
    const char *seen[64];
    size_t nseen = 0;
    for (; item && (yitem_deleted(item) || !yitem_countable(item)); item = item->left) {
        if (yitem_deleted(item) || !is_format(item)) continue;
        const char *key = item->content.u.fmt->key;
        bool dup = false;
        for (size_t i = 0; i < nseen; i++)
            if (strcmp(seen[i], key) == 0) dup = true;
        if (dup) yitem_delete(txn, item);
        else if (nseen < 64) seen[nseen++] = key;
    }
}

static bool tset_has(struct ytype **set, size_t n, const struct ytype *t) {
    for (size_t i = 0; i < n; i++)
        if (set[i] == t) return true;
    return false;
}

/* Calls f on every struct of [clock, clock+len) of client c, splitting at
 * the ends as iterateStructs does (splits belong to t1). */
static size_t range_start(struct ytxn *t1, yclient *c, uint64_t clock) {
    size_t idx = yclient_find(c, clock);
    yitem *s = yclient_at(c, idx);
    if (s->id.clock < clock && !(s->flags & YF_GC)) {
        if (yitem_split_at(t1, c, idx, clock - s->id.clock)) return SIZE_MAX;
        idx++;
    }
    return idx;
}

int ytext_cleanup_after(struct ytxn *t1, struct ytxn *t2) {
    ydoc *doc = t1->doc;
    ystore *s = &doc->store;
    struct ytype **full = NULL;
    size_t nfull = 0, capfull = 0;
    int err = Y_OK;
#define TSET_ADD(t)                                                                  \
    do {                                                                             \
        if (!tset_has(full, nfull, (t))) {                                           \
            if (nfull == capfull) {                                                  \
                size_t nc_ = capfull ? capfull * 2 : 4;                              \
                struct ytype **nf_ = yrealloc(full, nc_ * sizeof *nf_);              \
                if (!nf_) { err = Y_ERR_NOMEM; break; }                              \
                full = nf_;                                                          \
                capfull = nc_;                                                       \
            }                                                                        \
            full[nfull++] = (t);                                                     \
        }                                                                            \
    } while (0)
    for (size_t i = 0; i < s->n && !err; i++) {
        yclient *c = &s->c[i];
        uint64_t before = ytxn_before(t1, c->client);
        uint64_t after = yclient_state(c);
        if (before == after) continue;
        size_t idx = range_start(t1, c, before);
        if (idx == SIZE_MAX) return Y_ERR_NOMEM;
        for (; idx < c->n && !err; idx++) {
            yitem *it = yclient_at(c, idx);
            if (!yitem_deleted(it) && is_format(it)) TSET_ADD(it->parent);
        }
    }
    for (size_t k = 0; k < t1->ds.n && !err; k++) {
        yclient *c = ystore_client(s, t1->ds.c[k].client);
        if (!c || !c->n) continue;
        uint64_t state = yclient_state(c);
        for (size_t d = 0; d < t1->ds.c[k].n && !err; d++) {
            uint64_t clock = t1->ds.c[k].r[d].clock, end = clock + t1->ds.c[k].r[d].len;
            if (clock >= state) break;
            size_t idx = range_start(t1, c, clock);
            if (idx == SIZE_MAX) return Y_ERR_NOMEM;
            for (; idx < c->n && yclient_at(c, idx)->id.clock < end && !err; idx++) {
                yitem *it = yclient_at(c, idx);
                if (end < it->id.clock + it->len && !(it->flags & YF_GC)) {
                    if (yitem_split_at(t1, c, idx, end - it->id.clock)) {
                        err = Y_ERR_NOMEM;
                        break;
                    }
                }
                if ((it->flags & YF_GC) || !it->parent || !it->parent->has_formatting ||
                    tset_has(full, nfull, it->parent))
                    continue;
                if (is_format(it)) TSET_ADD(it->parent);
                else cleanup_contextless(t2, it);
            }
        }
    }
    for (size_t i = 0; i < nfull && !err; i++) err = cleanup_text_formatting(t2, full[i]);
#undef TSET_ADD
    yfree(full);
    return err;
}

/* ---- public edits: each runs with an allocation reserve (alloc.h), so an
 * edit that gets past its first allocation is not cut short by a failing one. */

int ytext_insert(ytxn *txn, ytype *text, size_t index, const char *s, size_t len, const yany_entry *attrs, size_t nattrs) {
    int rc = yalloc_reserve_begin(YEDIT_RESERVE);
    if (rc) return rc;
    rc = ytext_insert_impl(txn, text, index, s, len, attrs, nattrs);
    yalloc_reserve_end();
    return rc;
}

int ytext_insert_embed(ytxn *txn, ytype *text, size_t index, const yany *embed, const yany_entry *attrs, size_t nattrs) {
    int rc = yalloc_reserve_begin(YEDIT_RESERVE);
    if (rc) return rc;
    rc = ytext_insert_embed_impl(txn, text, index, embed, attrs, nattrs);
    yalloc_reserve_end();
    return rc;
}

int ytext_delete(ytxn *txn, ytype *text, size_t index, size_t len) {
    int rc = yalloc_reserve_begin(YEDIT_RESERVE);
    if (rc) return rc;
    rc = ytext_delete_impl(txn, text, index, len);
    yalloc_reserve_end();
    return rc;
}

int ytext_format(ytxn *txn, ytype *text, size_t index, size_t len, const yany_entry *attrs, size_t nattrs) {
    int rc = yalloc_reserve_begin(YEDIT_RESERVE);
    if (rc) return rc;
    rc = ytext_format_impl(txn, text, index, len, attrs, nattrs);
    yalloc_reserve_end();
    return rc;
}
