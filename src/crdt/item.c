/*
 * item.c - the Yjs item algorithm: split, integrate (with the YATA conflict
 * resolution of Yjs 13), delete, merge with the left neighbour, and garbage
 * collection.
 *
 * Invariants
 *  - Before an item is linked into a list, everything that can fail
 *    (store array capacity, map key interning) has been reserved, so a
 *    failed integrate leaves the lists and the store untouched.
 *  - The temporary flags YF_TMP_BEFORE/YF_TMP_CONFLICT are clear outside
 *    yitem_integrate.
 */
#include <string.h>

#include "doc_int.h"

struct yitem_chunk {
    struct yitem_chunk *next;
    yitem items[];
};

#define YCHUNK_FIRST 8
#define YCHUNK_MAX 512

yitem *yitem_alloc(ydoc *doc) {
    if (!doc) return ycalloc(1, sizeof(yitem));
    yitem *it = doc->free_items;
    if (it) {
        doc->free_items = it->right;
    } else {
        if (doc->chunk_used == doc->chunk_cap) {
            size_t cap = doc->chunk_cap ? doc->chunk_cap * 2 : YCHUNK_FIRST;
            if (cap > YCHUNK_MAX) cap = YCHUNK_MAX;
            struct yitem_chunk *ch = ymalloc(sizeof *ch + cap * sizeof(yitem));
            if (ch && yalloc_in_reserve(ch)) {
                /* a chunk would keep an out-of-memory reserve alive until
                 * the document goes: take a single item instead */
                yfree(ch);
                ch = NULL;
            }
            if (!ch) return ycalloc(1, sizeof(yitem));
            ch->next = doc->chunks;
            doc->chunks = ch;
            doc->chunk_cap = cap;
            doc->chunk_used = 0;
        }
        it = &doc->chunks->items[doc->chunk_used++];
    }
    yzero(it, sizeof *it);
    it->pooled = true;
    return it;
}

void yitem_free(ydoc *doc, yitem *it) {
    if (!it) return;
    if (!(it->flags & YF_GC)) ycontent_release(&it->content, it->len);
    if (!it->pooled) {
        yfree(it);
    } else if (doc) {
        it->right = doc->free_items;
        doc->free_items = it;
    }
}

void yitem_chunks_free(ydoc *doc) {
    while (doc->chunks) {
        struct yitem_chunk *next = doc->chunks->next;
        yfree(doc->chunks);
        doc->chunks = next;
    }
    doc->free_items = NULL;
    doc->chunk_used = doc->chunk_cap = 0;
}

yid yitem_last_id(const yitem *it) {
    yid id = it->id;
    id.clock += it->len - 1;
    return id;
}

static bool id_eq(const yid *a, const yid *b) {
    return a->client == b->client && a->clock == b->clock;
}

int yitem_split_at(struct ytxn *txn, yclient *c, size_t idx, uint64_t diff) {
    yitem *l = yclient_at(c, idx);
    int rc = yclient_reserve(c, 1);
    if (rc) return rc;
    yitem *r = yitem_alloc(txn ? txn->doc : NULL);
    if (!r) return Y_ERR_NOMEM;
    rc = ycontent_splice(&l->content, l->len, diff, &r->content);
    if (rc) {
        yitem_free(txn ? txn->doc : NULL, r); /* r's content is empty */
        return rc;
    }
    r->id.client = l->id.client;
    r->id.clock = l->id.clock + diff;
    r->len = l->len - diff;
    r->left = l;
    r->right = l->right;
    r->origin.client = l->id.client;
    r->origin.clock = l->id.clock + diff - 1;
    r->rorigin = l->rorigin;
    r->parent = l->parent;
    r->psub = l->psub;
    r->flags = (uint8_t)(YF_HAS_ORIGIN | (l->flags & (YF_HAS_RORIGIN | YF_DELETED | YF_KEEP)));
    l->right = r;
    if (r->right) r->right->left = r;
    l->len = diff;
    if (r->psub && !r->right) {
        ymapent *e = ytype_map_find(r->parent, r->psub, ykey_len(r->psub));
        if (e) e->item = r;
    }
    yclient_insert(c, idx + 1, r); /* capacity reserved above */
    if (txn) ytxn_add_merge(txn, r->id);
    return Y_OK;
}

yitem *ytxn_clean_start(struct ytxn *txn, yid id) {
    yclient *c = ystore_client(&txn->doc->store, id.client);
    size_t idx = yclient_find(c, id.clock);
    c->hint = idx;
    yitem *s = yclient_at(c, idx);
    if (s->id.clock < id.clock && !(s->flags & YF_GC)) {
        int rc = yitem_split_at(txn, c, idx, id.clock - s->id.clock);
        if (rc) {
            if (!txn->err) txn->err = rc;
            return NULL;
        }
        return yclient_at(c, idx + 1);
    }
    return s;
}

yitem *ytxn_clean_end(struct ytxn *txn, yid id) {
    yclient *c = ystore_client(&txn->doc->store, id.client);
    size_t idx = yclient_find(c, id.clock);
    c->hint = idx;
    yitem *s = yclient_at(c, idx);
    if (id.clock != s->id.clock + s->len - 1 && !(s->flags & YF_GC)) {
        int rc = yitem_split_at(txn, c, idx, id.clock - s->id.clock + 1);
        if (rc) {
            if (!txn->err) txn->err = rc;
            return NULL;
        }
    }
    return s;
}

static int scratch_push(struct ytxn *txn, yitem *it) {
    if (txn->nscratch == txn->scap) {
        size_t ncap = txn->scap ? txn->scap * 2 : 16;
        yitem **ns = yrealloc(txn->scratch, ncap * sizeof *ns);
        if (!ns) return Y_ERR_NOMEM;
        txn->scratch = ns;
        txn->scap = ncap;
    }
    txn->scratch[txn->nscratch++] = it;
    return Y_OK;
}

/* The first item of a map entry's list. */
static yitem *map_first(struct ytype *t, const char *key) {
    ymapent *e = ytype_map_find(t, key, ykey_len(key));
    yitem *o = e ? e->item : NULL;
    while (o && o->left) o = o->left;
    return o;
}

/* Yjs's conflict resolution: finds the left neighbour among the items
 * between it->left and it->right that were inserted concurrently. */
static int resolve_left(struct ytxn *txn, yitem *it) {
    yitem *left = it->left;
    yitem *o;
    if (left)
        o = left->right;
    else if (it->psub)
        o = map_first(it->parent, it->psub);
    else
        o = it->parent->start;
    size_t conflict_from = 0;
    int rc = Y_OK;
    txn->nscratch = 0;
    while (o && o != it->right) {
        rc = scratch_push(txn, o);
        if (rc) break;
        o->flags |= YF_TMP_BEFORE | YF_TMP_CONFLICT;
        bool same_origin = (it->flags & YF_HAS_ORIGIN)
                               ? ((o->flags & YF_HAS_ORIGIN) && id_eq(&it->origin, &o->origin))
                               : !(o->flags & YF_HAS_ORIGIN);
        if (same_origin) {
            if (o->id.client < it->id.client) {
                left = o;
                for (size_t k = conflict_from; k < txn->nscratch; k++)
                    txn->scratch[k]->flags &= (uint8_t)~YF_TMP_CONFLICT;
                conflict_from = txn->nscratch;
            } else {
                bool same_right = (it->flags & YF_HAS_RORIGIN) ? ((o->flags & YF_HAS_RORIGIN) &&
                                                                  id_eq(&it->rorigin, &o->rorigin))
                                                               : !(o->flags & YF_HAS_RORIGIN);
                if (same_right) break;
            }
        } else {
            yitem *oo =
                (o->flags & YF_HAS_ORIGIN) ? ystore_find(&txn->doc->store, o->origin) : NULL;
            if (oo && (oo->flags & YF_TMP_BEFORE)) {
                if (!(oo->flags & YF_TMP_CONFLICT)) {
                    left = o;
                    for (size_t k = conflict_from; k < txn->nscratch; k++)
                        txn->scratch[k]->flags &= (uint8_t)~YF_TMP_CONFLICT;
                    conflict_from = txn->nscratch;
                }
            } else {
                break;
            }
        }
        o = o->right;
    }
    for (size_t k = 0; k < txn->nscratch; k++)
        txn->scratch[k]->flags &= (uint8_t) ~(YF_TMP_BEFORE | YF_TMP_CONFLICT);
    txn->nscratch = 0;
    if (!rc) it->left = left;
    return rc;
}

/* Content-specific integration (ContentType, ContentFormat). */
static void content_integrate(struct ytxn *txn, ydoc *doc, yitem *it) {
    if (it->content.kind == YC_TYPE) {
        struct ytype *t = it->content.u.type;
        t->item = it;
        if (!t->linked) {
            t->linked = true;
            t->all_next = doc->all_types;
            doc->all_types = t;
        }
    } else if (it->content.kind == YC_DELETED) {
        /* ContentDeleted.integrate: the item arrives deleted */
        it->flags |= YF_DELETED;
        ytxn_add_delete(txn, it->id.client, it->id.clock, it->len);
    } else if (it->content.kind == YC_FORMAT) {
        it->parent->markers_on = false;
        ymarker_clear(it->parent);
        it->parent->has_formatting = true;
    }
}

int yitem_integrate(struct ytxn *txn, yitem *it, uint64_t offset) {
    ydoc *doc = txn->doc;
    yclient *c;
    int rc = ystore_client_add(&doc->store, it->id.client, &c);
    if (rc) return rc;
    rc = yclient_reserve(c, 1);
    if (rc) return rc;
    if (it->flags & YF_GC) {
        it->id.clock += offset;
        it->len -= offset;
        return yclient_insert(c, c->n, it);
    }
    if (offset > 0) {
        yid lid = {it->id.client, it->id.clock + offset - 1};
        yitem *l = ytxn_clean_end(txn, lid);
        if (!l) return txn->err;
        rc = yclient_reserve(c, 1);
        if (rc) return rc;
        ycontent rest;
        rc = ycontent_splice(&it->content, it->len, offset, &rest);
        if (rc) return rc;
        ycontent_release(&it->content, offset);
        it->content = rest;
        it->left = l;
        it->origin = yitem_last_id(l);
        it->flags |= YF_HAS_ORIGIN;
        it->id.clock += offset;
        it->len -= offset;
    }
    if (!it->parent) {
        /* no parent to live in: keep the clock range as a GC struct */
        ycontent_release(&it->content, it->len);
        it->flags = YF_GC;
        it->left = it->right = NULL;
        it->psub = NULL;
        return yclient_insert(c, c->n, it);
    }
    struct ytype *parent = it->parent;
    ymapent *ent = NULL;
    if (it->psub) {
        rc = ytype_map_intern(parent, it->psub, ykey_len(it->psub), &ent);
        if (rc) return rc;
    }
    if ((!it->left && (!it->right || it->right->left)) ||
        (it->left && it->left->right != it->right)) {
        rc = resolve_left(txn, it);
        if (rc) return rc;
    }
    if (it->left) {
        it->right = it->left->right;
        it->left->right = it;
    } else {
        yitem *r;
        if (it->psub) {
            r = ent->item;
            while (r && r->left) r = r->left;
        } else {
            r = parent->start;
            parent->start = it;
        }
        it->right = r;
    }
    if (it->right) {
        it->right->left = it;
    } else if (it->psub) {
        ent->item = it;
        if (it->left) yitem_delete(txn, it->left);
    }
    if (ent) it->psub = ent->key; /* the interned key outlives the caller's string */
    if (!it->psub && yitem_countable(it) && !yitem_deleted(it)) parent->length += it->len;
    yclient_insert(c, c->n, it);
    content_integrate(txn, doc, it);
    ytxn_add_changed(txn, parent, it->psub);
    if ((parent->item && yitem_deleted(parent->item)) || (it->psub && it->right))
        yitem_delete(txn, it);
    return Y_OK;
}

int yitem_insert_local(struct ytxn *txn, struct ytype *parent, yitem *left, yitem *right,
                       const char *psub, ycontent *content, uint64_t len, yitem **out) {
    ydoc *doc = txn->doc;
    yitem *it = yitem_alloc(doc);
    if (!it) return Y_ERR_NOMEM;
    it->id.client = doc->client_id;
    it->id.clock = ystore_state(&doc->store, doc->client_id);
    it->len = len;
    it->left = left;
    it->right = right;
    if (left) {
        it->origin = yitem_last_id(left);
        it->flags |= YF_HAS_ORIGIN;
    }
    if (right) {
        it->rorigin = right->id;
        it->flags |= YF_HAS_RORIGIN;
    }
    it->parent = parent;
    it->psub = psub;
    it->content = *content;
    int rc = yitem_integrate(txn, it, 0);
    if (rc) {
        /* nothing was linked: hand the content back to the caller */
        memset(&it->content, 0, sizeof it->content);
        yitem_free(doc, it);
        return rc;
    }
    content->kind = YC_DELETED; /* taken: nothing left to release */
    if (out) *out = it;
    return Y_OK;
}

bool yitem_append_local(struct ytxn *txn, struct ytype *parent, yitem *left, yitem *right, ycontent *content,
                        uint64_t len) {
    ydoc *doc = txn->doc;
    if (!left || content->kind != YC_STRING || left->content.kind != YC_STRING) return false;
    if ((left->flags & (YF_GC | YF_DELETED)) || left->psub || left->parent != parent || left->right != right)
        return false;
    if (left->id.client != doc->client_id || (parent->item && yitem_deleted(parent->item))) return false;
    /* the new item's right origin would be right's id */
    if (right ? !(left->flags & YF_HAS_RORIGIN) || !id_eq(&left->rorigin, &right->id)
              : (left->flags & YF_HAS_RORIGIN) != 0)
        return false;
    /* its clock would follow left's: left is the client's newest struct */
    const yclient *c = ystore_client(&doc->store, doc->client_id);
    if (!c || yclient_last(c) != left) return false;
    int err = Y_OK;
    if (!ycontent_merge(&left->content, left->len, content, len, &err)) return false;
    content->kind = YC_DELETED; /* taken: nothing left to release */
    left->len += len;
    parent->length += len;
    ytxn_add_changed(txn, parent, NULL);
    return true;
}

/* The part of Item.delete that does not recurse. */
static void delete_one(struct ytxn *txn, yitem *it) {
    struct ytype *parent = it->parent;
    if (yitem_countable(it) && !it->psub) parent->length -= it->len;
    if (parent->nmarkers) ymarker_on_delete(parent, it);
    it->flags |= YF_DELETED;
    ytxn_add_delete(txn, it->id.client, it->id.clock, it->len);
    ytxn_add_changed(txn, parent, it->psub);
}

/* transaction.changed.delete(type) */
static void forget_changed(struct ytxn *txn, struct ytype *t) {
    for (size_t k = 0; k < txn->nchanged; k++) {
        if (txn->changed[k].type == t) {
            ytxn_changed_release(&txn->changed[k]);
            txn->changed[k] = txn->changed[txn->nchanged - 1];
            txn->changed[k].type->chidx = k;
            txn->nchanged--;
            break;
        }
    }
}

/* One level of ContentType.delete in progress: the list cursor, then the
 * map slot cursor. */
typedef struct dframe {
    struct ytype *t;
    yitem *next; /* next list item to visit */
    size_t slot; /* next map slot to visit (after the list) */
    bool in_map;
} dframe;

/* Visits one child of a deleted type; returns a nested type whose children
 * must be deleted before going on, or NULL. */
static struct ytype *delete_child(struct ytxn *txn, yitem *i) {
    if (!yitem_deleted(i)) {
        delete_one(txn, i);
        if (i->content.kind == YC_TYPE) return i->content.u.type;
    } else if (i->id.clock < ytxn_before(txn, i->id.client)) {
        ytxn_add_merge(txn, i->id);
    }
    return NULL;
}

/* ContentType.delete, depth first as Yjs's recursion, but with an explicit
 * stack so that deeply nested types cannot exhaust the C stack. */
static void delete_type_children(struct ytxn *txn, struct ytype *root) {
    dframe local[16];
    dframe *st = local;
    size_t n = 0, cap = 16;
    st[n++] = (dframe){root, root->start, 0, false};
    while (n) {
        dframe *f = &st[n - 1];
        struct ytype *nested = NULL;
        if (!f->in_map) {
            if (f->next) {
                yitem *i = f->next;
                f->next = i->right;
                nested = delete_child(txn, i);
            } else {
                f->in_map = true;
            }
        } else if (f->slot < f->t->map_cap) {
            ymapent *e = &f->t->map[f->slot++];
            if (e->key && e->item) nested = delete_child(txn, e->item);
        } else {
            forget_changed(txn, f->t);
            n--;
            continue;
        }
        if (!nested) continue;
        if (n == cap) {
            size_t ncap = cap * 2;
            dframe *ns = ymalloc(ncap * sizeof *ns);
            if (!ns) {
                /* out of memory: the nested children stay live (consistent) */
                if (!txn->err) txn->err = Y_ERR_NOMEM;
                continue;
            }
            memcpy(ns, st, n * sizeof *ns);
            if (st != local) yfree(st);
            st = ns;
            cap = ncap;
        }
        st[n++] = (dframe){nested, nested->start, 0, false};
    }
    if (st != local) yfree(st);
}

void yitem_delete(struct ytxn *txn, yitem *it) {
    if (yitem_deleted(it)) return;
    delete_one(txn, it);
    if (it->content.kind == YC_TYPE) delete_type_children(txn, it->content.u.type);
}

bool yitem_try_merge(yitem *l, yitem *r) {
    if ((l->flags & YF_GC) != (r->flags & YF_GC)) return false;
    if (yitem_deleted(l) != yitem_deleted(r)) return false;
    if (l->flags & YF_GC) {
        l->len += r->len;
        return true;
    }
    if (!(r->flags & YF_HAS_ORIGIN)) return false;
    yid last = yitem_last_id(l);
    if (!id_eq(&r->origin, &last) || l->right != r) return false;
    if ((l->flags & YF_HAS_RORIGIN) != (r->flags & YF_HAS_RORIGIN)) return false;
    if ((l->flags & YF_HAS_RORIGIN) && !id_eq(&l->rorigin, &r->rorigin)) return false;
    if (l->id.client != r->id.client || l->id.clock + l->len != r->id.clock) return false;
    if (l->content.kind != r->content.kind) return false;
    int err = Y_OK;
    uint64_t llen = l->len;
    if (!ycontent_merge(&l->content, llen, &r->content, r->len, &err)) return false;
    ymarker_on_merge(l, r);
    if (r->flags & YF_KEEP) l->flags |= YF_KEEP;
    l->right = r->right;
    if (l->right) l->right->left = l;
    l->len += r->len;
    if (r->psub && r->parent) {
        ymapent *e = ytype_map_find(r->parent, r->psub, ykey_len(r->psub));
        if (e && e->item == r) e->item = l;
    }
    return true;
}

/* Turns a struct into a GC struct in place (its neighbours are dead too). */
static void to_gc(yitem *it) {
    ycontent_release(&it->content, it->len);
    it->flags = YF_GC;
    it->parent = NULL;
    it->psub = NULL;
}

/* Collects the children of a deleted type and everything nested in it
 * (ContentType.gc with parentGCd), with a worklist instead of recursion. */
static void gc_type_tree(struct ytype *root) {
    struct ytype *local[16];
    struct ytype **st = local;
    size_t n = 0, cap = 16;
    st[n++] = root;
    while (n) {
        struct ytype *t = st[--n];
        for (size_t pass = 0; pass < 2; pass++) {
            for (size_t k = 0; pass == 0 ? k < 1 : k < t->map_cap; k++) {
                yitem *i = pass == 0 ? t->start : t->map[k].item;
                while (i) {
                    yitem *next = pass == 0 ? i->right : i->left;
                    if (!(i->flags & YF_GC) && i->content.kind == YC_TYPE) {
                        if (n == cap) {
                            struct ytype **ns = ymalloc(cap * 2 * sizeof *ns);
                            if (ns) {
                                memcpy(ns, st, n * sizeof *ns);
                                if (st != local) yfree(st);
                                st = ns;
                                cap *= 2;
                            }
                        }
                        /* without room the nested tree keeps its items; they
                         * are unreachable and freed with the document */
                        if (n < cap) st[n++] = i->content.u.type;
                    }
                    if (!(i->flags & YF_GC)) to_gc(i);
                    i = next;
                }
            }
        }
        t->start = NULL;
        for (size_t k = 0; k < t->map_cap; k++) ykey_free(t->map[k].key);
        yfree(t->map);
        t->map = NULL;
        t->map_cap = t->map_n = 0;
        ymarker_clear(t);
        t->length = 0;
    }
    if (st != local) yfree(st);
}

void yitem_gc(ydoc *doc, yitem *it, bool parent_gcd) {
    (void)doc;
    if (it->flags & YF_GC) return;
    if (it->content.kind == YC_TYPE) gc_type_tree(it->content.u.type);
    if (parent_gcd) {
        to_gc(it);
    } else {
        ycontent_release(&it->content, it->len);
        it->content.kind = YC_DELETED;
    }
}
