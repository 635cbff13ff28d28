/*
 * decode.c - applying updates v1: decoding and validating the whole update
 * into a temporary structure, then integrating it as Yjs's readUpdateV2
 * does (dependency stack, pending structs, pending delete sets, one retry of
 * the pending structs when what they wait for has arrived).
 *
 * Invariants
 *  - Nothing in the document changes before the update has been read and
 *    validated completely: a malformed update returns Y_ERR_MALFORMED with
 *    the document untouched.
 *  - Every count read off the wire is checked against the bytes left before
 *    anything is allocated for it, so memory stays within a constant factor
 *    of the update's size (about 200 bytes per struct of >= 2 bytes).
 *  - Clocks are below 2^53; references to the same client point before the
 *    referring struct (anything else cannot have been produced by Yjs).
 *  - doc->pending is what Yjs keeps as store.pendingStructs.update: the rest
 *    of each update merged into one update (yupdate_merge, Yjs's
 *    mergeUpdates), so which copy of a struct survives is decided as in Yjs.
 */
#include <stdlib.h>
#include <string.h>

#include "doc_int.h"

static void yref_release(ydoc *doc, yref *r) {
    if (r->item) yitem_free(doc, r->item);
    yfree(r->parent_name);
    ykey_free(r->psub);
    memset(r, 0, sizeof *r);
}

void yupd_release(yupd *u) {
    for (size_t i = 0; i < u->n; i++) {
        for (size_t k = 0; k < u->c[i].n; k++) yref_release(u->doc, &u->c[i].r[k]);
        yfree(u->c[i].r);
    }
    yfree(u->c);
    yds_release(&u->ds);
    memset(u, 0, sizeof *u);
}

static bool clock_ok(uint64_t clock, uint64_t len) { return len <= YLIB0_MAX_SAFE_INT - clock; }

static int read_id(yreader *r, yid *id) {
    if (yread_varuint(r, &id->client) || yread_varuint(r, &id->clock)) return Y_ERR_MALFORMED;
    return Y_OK;
}

/* Reads one item struct (info already read). */
static int read_item(yreader *r, ydoc *doc, uint8_t info, yref *ref) {
    int rc;
    yitem *it = yitem_alloc(doc); /* from the free list merges fill */
    if (!it) return Y_ERR_NOMEM;
    ref->item = it;
    it->id = ref->id;
    if (info & 0x80) {
        if (read_id(r, &it->origin)) return Y_ERR_MALFORMED;
        it->flags |= YF_HAS_ORIGIN;
        if (it->origin.client == ref->id.client && it->origin.clock >= ref->id.clock) return Y_ERR_MALFORMED;
    }
    if (info & 0x40) {
        if (read_id(r, &it->rorigin)) return Y_ERR_MALFORMED;
        it->flags |= YF_HAS_RORIGIN;
        if (it->rorigin.client == ref->id.client && it->rorigin.clock >= ref->id.clock) return Y_ERR_MALFORMED;
    }
    if ((info & 0xc0) == 0) {
        uint64_t pinfo;
        if (yread_varuint(r, &pinfo)) return Y_ERR_MALFORMED;
        if (pinfo == 1) {
            rc = yread_utf8_dup(r, &ref->parent_name, &ref->parent_name_len);
            if (rc) return rc;
            ref->parent_kind = YPARENT_NAME;
        } else {
            if (read_id(r, &ref->parent_id)) return Y_ERR_MALFORMED;
            if (ref->parent_id.client == ref->id.client && ref->parent_id.clock >= ref->id.clock)
                return Y_ERR_MALFORMED;
            ref->parent_kind = YPARENT_ID;
        }
        if (info & 0x20) {
            const char *k;
            size_t kn;
            if (yread_varstring(r, &k, &kn) || !yutf8_valid(k, kn)) return Y_ERR_MALFORMED;
            ref->psub = ykey_new(k, kn);
            if (!ref->psub) return Y_ERR_NOMEM;
        }
    }
    uint64_t len;
    rc = ycontent_read(r, info & 0x1f, doc, &it->content, &len);
    if (rc) return rc;
    it->len = len;
    ref->len = len;
    return Y_OK;
}

static int cmp_refclient(const void *a, const void *b) {
    const yrefclient *x = a, *y = b;
    return x->client < y->client ? -1 : x->client > y->client;
}

int yds_read(yreader *r, yds *ds) {
    uint64_t nc;
    int rc;
    yds_init(ds);
    if (yread_varuint(r, &nc) || nc > yreader_left(r) / 2) return Y_ERR_MALFORMED;
    for (uint64_t i = 0; i < nc; i++) {
        uint64_t client, nd;
        if (yread_varuint(r, &client) || yread_varuint(r, &nd) || nd > yreader_left(r) / 2) goto bad;
        for (uint64_t k = 0; k < nd; k++) {
            uint64_t clock, len;
            if (yread_varuint(r, &clock) || yread_varuint(r, &len) || !clock_ok(clock, len)) goto bad;
            if (!len) continue;
            rc = yds_add(ds, client, clock, len);
            if (rc) {
                yds_release(ds);
                return rc;
            }
        }
    }
    return Y_OK;
bad:
    yds_release(ds);
    return Y_ERR_MALFORMED;
}

/* Decodes and validates a whole update into u (clients sorted by id). */
static int read_update(ydoc *doc, const uint8_t *p, size_t n, yupd *u) {
    yreader r;
    int rc = Y_ERR_MALFORMED;
    uint64_t nclients;
    memset(u, 0, sizeof *u);
    u->doc = doc;
    yreader_init(&r, p, n);
    if (yread_varuint(&r, &nclients) || nclients > yreader_left(&r) / 3) return Y_ERR_MALFORMED;
    if (nclients) {
        u->c = ycalloc((size_t)nclients, sizeof *u->c);
        if (!u->c) return Y_ERR_NOMEM;
        u->cap = (size_t)nclients;
    }
    for (uint64_t ci = 0; ci < nclients; ci++) {
        uint64_t nstructs, client, clock;
        if (yread_varuint(&r, &nstructs) || yread_varuint(&r, &client) || yread_varuint(&r, &clock)) goto fail;
        if (nstructs > yreader_left(&r) / 2) goto fail;
        yrefclient *rc_ = NULL;
        for (size_t k = 0; k < u->n; k++)
            if (u->c[k].client == client) rc_ = &u->c[k]; /* a repeated client replaces the earlier one, as in Yjs */
        if (rc_) {
            for (size_t k = 0; k < rc_->n; k++) yref_release(doc, &rc_->r[k]);
            yfree(rc_->r);
            memset(rc_, 0, sizeof *rc_);
        } else {
            rc_ = &u->c[u->n++];
        }
        rc_->client = client;
        if (nstructs) {
            rc_->r = ycalloc((size_t)nstructs, sizeof *rc_->r);
            if (!rc_->r) {
                rc = Y_ERR_NOMEM;
                goto fail;
            }
            rc_->cap = (size_t)nstructs;
        }
        for (uint64_t si = 0; si < nstructs; si++) {
            uint8_t info;
            yref *ref = &rc_->r[rc_->n];
            if (yread_u8(&r, &info)) goto fail;
            ref->id.client = client;
            ref->id.clock = clock;
            rc_->n++;
            switch (info & 0x1f) {
            case 0:
            case 10: {
                uint64_t len;
                if (yread_varuint(&r, &len)) goto fail; /* Yjs accepts empty structs too */
                ref->kind = (info & 0x1f) ? YREF_SKIP : YREF_GC;
                ref->len = len;
                break;
            }
            default:
                ref->kind = YREF_ITEM;
                rc = read_item(&r, doc, info, ref);
                if (rc) goto fail;
                break;
            }
            if (!clock_ok(clock, ref->len)) {
                rc = Y_ERR_MALFORMED;
                goto fail;
            }
            clock += ref->len;
        }
    }
    rc = yds_read(&r, &u->ds);
    if (rc) goto fail;
    if (u->n > 1) qsort(u->c, u->n, sizeof *u->c, cmp_refclient);
    return Y_OK;
fail:
    if (rc == Y_OK) rc = Y_ERR_MALFORMED;
    yupd_release(u);
    return rc;
}

/* ---- integration ------------------------------------------------------- */

static struct ytype *root_get(ydoc *doc, const char *name, size_t len);

/* Item.getMissing: the client whose struct this ref needs, or resolves
 * left/right/parent and returns false. */
static bool ref_missing(struct ytxn *txn, yref *ref, uint64_t *missing) {
    if (ref->kind != YREF_ITEM) return false;
    ystore *s = &txn->doc->store;
    yitem *it = ref->item;
    if ((it->flags & YF_HAS_ORIGIN) && it->origin.client != it->id.client &&
        it->origin.clock >= ystore_state(s, it->origin.client)) {
        *missing = it->origin.client;
        return true;
    }
    if ((it->flags & YF_HAS_RORIGIN) && it->rorigin.client != it->id.client &&
        it->rorigin.clock >= ystore_state(s, it->rorigin.client)) {
        *missing = it->rorigin.client;
        return true;
    }
    if (ref->parent_kind == YPARENT_ID && ref->parent_id.client != it->id.client &&
        ref->parent_id.clock >= ystore_state(s, ref->parent_id.client)) {
        *missing = ref->parent_id.client;
        return true;
    }
    it->left = it->right = NULL;
    if (it->flags & YF_HAS_ORIGIN) {
        it->left = ytxn_clean_end(txn, it->origin);
        if (it->left) it->origin = yitem_last_id(it->left);
    }
    if (it->flags & YF_HAS_RORIGIN) {
        /* Mostly the right origin is the start of the item right of the
         * left one: then that is the struct getItemCleanStart finds, and no
         * split is needed; saves a search of the client's structs. */
        yitem *lr = it->left ? it->left->right : NULL;
        if (lr && lr->id.client == it->rorigin.client && lr->id.clock == it->rorigin.clock)
            it->right = lr;
        else
            it->right = ytxn_clean_start(txn, it->rorigin);
        if (it->right) it->rorigin = it->right->id;
    }
    it->parent = NULL;
    if ((it->left && (it->left->flags & YF_GC)) || (it->right && (it->right->flags & YF_GC))) {
        it->parent = NULL;
    } else if (ref->parent_kind == YPARENT_NONE) {
        yitem *n = it->left ? it->left : it->right;
        if (n) {
            it->parent = n->parent;
            it->psub = n->psub;
        }
    } else if (ref->parent_kind == YPARENT_ID) {
        yitem *pi = ystore_find(s, ref->parent_id);
        if (pi && !(pi->flags & YF_GC) && pi->content.kind == YC_TYPE) it->parent = pi->content.u.type;
    } else {
        it->parent = root_get(txn->doc, ref->parent_name, ref->parent_name_len);
        if (!it->parent && !txn->err) txn->err = Y_ERR_NOMEM;
    }
    if (ref->psub && it->parent) it->psub = ref->psub;
    return false;
}

typedef struct sref {
    size_t ci, ri;
} sref;

typedef struct integ {
    struct ytxn *txn;
    yupd *u;
    size_t *ids; /* active client indexes, ascending client id */
    size_t nids;
    bool *removed;
    size_t *rest_from;
    sref *stack;
    size_t nstack;
    yid *miss;
    size_t nmiss;
} integ;

static void add_missing(yid **arr, size_t *n, size_t *cap, uint64_t client, uint64_t clock, int *err) {
    for (size_t i = 0; i < *n; i++) {
        if ((*arr)[i].client == client) {
            if ((*arr)[i].clock > clock) (*arr)[i].clock = clock;
            return;
        }
    }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        yid *na = yrealloc(*arr, ncap * sizeof *na);
        if (!na) {
            *err = Y_ERR_NOMEM;
            return;
        }
        *arr = na;
        *cap = ncap;
    }
    (*arr)[*n].client = client;
    (*arr)[*n].clock = clock;
    (*n)++;
}

static size_t find_client(const yupd *u, uint64_t client) {
    size_t lo = 0, hi = u->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->c[mid].client < client) lo = mid + 1;
        else hi = mid;
    }
    return lo < u->n && u->c[lo].client == client ? lo : SIZE_MAX;
}

static void stack_to_rest(integ *g) {
    for (size_t k = 0; k < g->nstack; k++) {
        size_t ci = g->stack[k].ci;
        if (g->stack[k].ri < g->rest_from[ci]) g->rest_from[ci] = g->stack[k].ri;
        if (!g->removed[ci]) {
            g->removed[ci] = true;
            g->u->c[ci].i = g->u->c[ci].n;
            size_t w = 0;
            for (size_t j = 0; j < g->nids; j++)
                if (g->ids[j] != ci) g->ids[w++] = g->ids[j];
            g->nids = w;
        }
    }
    g->nstack = 0;
}

static yrefclient *next_target(integ *g) {
    while (g->nids) {
        yrefclient *c = &g->u->c[g->ids[g->nids - 1]];
        if (c->i < c->n) return c;
        g->nids--;
    }
    return NULL;
}

/* Integrates one ref (already resolved); the store takes its struct. */
static int integrate_ref(struct ytxn *txn, yref *ref, uint64_t offset) {
    yitem *it = ref->item;
    if (ref->kind == YREF_GC) {
        it = yitem_alloc(txn->doc);
        if (!it) return Y_ERR_NOMEM;
        it->id = ref->id;
        it->len = ref->len;
        it->flags = YF_GC;
    }
    int rc = yitem_integrate(txn, it, offset);
    if (rc) {
        if (ref->kind == YREF_GC) yitem_free(txn->doc, it);
        return rc;
    }
    ref->item = NULL;
    return Y_OK;
}

/* integrateStructs: integrates what it can of u; what waits for missing
 * structs moves into rest (with the lowest missing clock per client). */
static int integrate_upd(struct ytxn *txn, yupd *u, yupd *rest, yid **miss, size_t *nmiss, size_t *misscap) {
    integ g;
    int err = Y_OK;
    memset(&g, 0, sizeof g);
    memset(rest, 0, sizeof *rest);
    rest->doc = u->doc;
    if (!u->n) return Y_OK;
    g.txn = txn;
    g.u = u;
    g.ids = ymalloc(u->n * sizeof *g.ids);
    g.removed = ycalloc(u->n, sizeof *g.removed);
    g.rest_from = ymalloc(u->n * sizeof *g.rest_from);
    size_t total = 0;
    for (size_t i = 0; i < u->n; i++) total += u->c[i].n;
    g.stack = ymalloc((total + 1) * sizeof *g.stack);
    if (!g.ids || !g.removed || !g.rest_from || !g.stack) {
        err = Y_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < u->n; i++) {
        g.ids[i] = i;
        g.rest_from[i] = SIZE_MAX;
        u->c[i].i = 0;
    }
    g.nids = u->n;
    ystore *s = &txn->doc->store;
    yrefclient *cur = next_target(&g);
    if (!cur) goto out;
    sref head = {(size_t)(cur - u->c), cur->i++};
    for (;;) {
        yref *ref = &u->c[head.ci].r[head.ri];
        if (ref->kind != YREF_SKIP) {
            uint64_t state = ystore_state(s, ref->id.client);
            if (state < ref->id.clock) {
                g.stack[g.nstack++] = head;
                add_missing(miss, nmiss, misscap, ref->id.client, ref->id.clock - 1, &err);
                stack_to_rest(&g);
            } else {
                uint64_t m;
                if (ref_missing(txn, ref, &m)) {
                    g.stack[g.nstack++] = head;
                    size_t mci = find_client(u, m);
                    if (mci == SIZE_MAX || g.removed[mci] || u->c[mci].i == u->c[mci].n) {
                        add_missing(miss, nmiss, misscap, m, ystore_state(s, m), &err);
                        stack_to_rest(&g);
                    } else {
                        head.ci = mci;
                        head.ri = u->c[mci].i++;
                        continue;
                    }
                } else {
                    if (txn->err) {
                        err = txn->err;
                        break;
                    }
                    uint64_t offset = state - ref->id.clock;
                    if (offset == 0 || offset < ref->len) {
                        err = integrate_ref(txn, ref, offset);
                        if (err) break;
                    }
                }
            }
        }
        if (g.nstack) {
            head = g.stack[--g.nstack];
        } else if (cur && !g.removed[(size_t)(cur - u->c)] && cur->i < cur->n) {
            head.ci = (size_t)(cur - u->c);
            head.ri = cur->i++;
        } else {
            cur = next_target(&g);
            if (!cur) break;
            head.ci = (size_t)(cur - u->c);
            head.ri = cur->i++;
        }
    }
    /* move the rest out of u */
    size_t nrest = 0;
    for (size_t i = 0; i < u->n; i++)
        if (g.rest_from[i] != SIZE_MAX) nrest++;
    if (nrest) {
        rest->c = ycalloc(nrest, sizeof *rest->c);
        if (!rest->c) {
            err = Y_ERR_NOMEM;
            goto out;
        }
        rest->cap = nrest;
        for (size_t i = 0; i < u->n; i++) {
            if (g.rest_from[i] == SIZE_MAX) continue;
            yrefclient *src = &u->c[i];
            yrefclient *dst = &rest->c[rest->n++];
            size_t cnt = src->n - g.rest_from[i];
            dst->client = src->client;
            dst->r = ymalloc((cnt ? cnt : 1) * sizeof *dst->r);
            if (!dst->r) {
                rest->n--;
                err = Y_ERR_NOMEM;
                break;
            }
            memcpy(dst->r, src->r + g.rest_from[i], cnt * sizeof *dst->r);
            dst->n = dst->cap = cnt;
            src->n = g.rest_from[i]; /* the moved refs are no longer u's */
        }
    }
out:
    yfree(g.ids);
    yfree(g.removed);
    yfree(g.rest_from);
    yfree(g.stack);
    return err;
}

/* Counts the structs (not Skips) of an update; 0 when it does not parse. */
static size_t count_structs(ydoc *doc, const uint8_t *p, size_t n) {
    yupd u;
    size_t k = 0;
    if (read_update(doc, p, n, &u) != Y_OK) return 0;
    for (size_t i = 0; i < u.n; i++)
        for (size_t j = 0; j < u.c[i].n; j++)
            if (u.c[i].r[j].kind != YREF_SKIP) k++;
    yupd_release(&u);
    return k;
}

/* Adds the refs of rest to doc->pending (store.pendingStructs.update =
 * mergeUpdates([pending, rest])). */
static int pending_merge(ydoc *doc, yupd *rest) {
    uint8_t *ru;
    size_t rn;
    int rc = yenc_refs_update(rest, &ru, &rn);
    if (rc) return rc;
    if (doc->pending) {
        const uint8_t *const ups[2] = {doc->pending, ru};
        const size_t lens[2] = {doc->pending_len, rn};
        uint8_t *m;
        size_t mn;
        rc = yupdate_merge(ups, lens, 2, &m, &mn);
        yfree(ru);
        if (rc) return rc;
        yfree(doc->pending);
        ru = m;
        rn = mn;
    }
    doc->pending = ru;
    doc->pending_len = rn;
    doc->pending_count = count_structs(doc, ru, rn);
    return Y_OK;
}

/* readAndApplyDeleteSet: deletes what is known, returns the rest. */
static int apply_ds(struct ytxn *txn, const yds *ds, yds *unapplied) {
    ystore *s = &txn->doc->store;
    int rc = Y_OK;
    for (size_t k = 0; k < ds->n; k++) {
        uint64_t client = ds->c[k].client;
        yclient *c = ystore_client(s, client);
        for (size_t d = 0; d < ds->c[k].n; d++) {
            uint64_t state = ystore_state(s, client);
            uint64_t clock = ds->c[k].r[d].clock, end = clock + ds->c[k].r[d].len;
            if (clock >= state) {
                rc = yds_add(unapplied, client, clock, end - clock);
                if (rc) return rc;
                continue;
            }
            if (state < end) {
                rc = yds_add(unapplied, client, state, end - state);
                if (rc) return rc;
            }
            size_t idx = yclient_find(c, clock);
            yitem *st = yclient_at(c, idx);
            if (!yitem_deleted(st) && st->id.clock < clock) {
                rc = yitem_split_at(txn, c, idx, clock - st->id.clock);
                if (rc) return rc;
                idx++;
            }
            while (idx < c->n) {
                st = yclient_at(c, idx++);
                if (st->id.clock >= end) break;
                if (!yitem_deleted(st)) {
                    if (end < st->id.clock + st->len) {
                        rc = yitem_split_at(txn, c, idx - 1, end - st->id.clock);
                        if (rc) return rc;
                    }
                    yitem_delete(txn, st);
                }
            }
        }
    }
    return txn->err;
}

static int apply_decoded(struct ytxn *txn, yupd *u, int depth);

/* One application of a decoded update inside the running transaction. */
static int apply_decoded(struct ytxn *txn, yupd *u, int depth) {
    ydoc *doc = txn->doc;
    ystore *s = &doc->store;
    yupd rest;
    int rc;
    bool had_pending = doc->pending != NULL;
    bool retry = false;
    yid *miss = NULL;
    size_t nmiss = 0, misscap = 0;
    rc = integrate_upd(txn, u, &rest, &miss, &nmiss, &misscap);
    if (had_pending) {
        for (size_t i = 0; i < doc->nmissing; i++)
            if (doc->missing[i].clock < ystore_state(s, doc->missing[i].client)) retry = true;
    }
    if (!rc && rest.n) {
        for (size_t i = 0; i < nmiss && !rc; i++)
            add_missing(&doc->missing, &doc->nmissing, &doc->missingcap, miss[i].client, miss[i].clock, &rc);
        if (!rc) rc = pending_merge(doc, &rest);
    }
    yupd_release(&rest);
    yfree(miss);
    if (rc) return rc;
    yds un1, un2;
    yds_init(&un1);
    yds_init(&un2);
    rc = apply_ds(txn, &u->ds, &un1);
    if (!rc && doc->pending_ds.n) rc = apply_ds(txn, &doc->pending_ds, &un2);
    if (!rc) {
        for (size_t k = 0; k < un2.n && !rc; k++)
            for (size_t d = 0; d < un2.c[k].n && !rc; d++)
                rc = yds_add(&un1, un2.c[k].client, un2.c[k].r[d].clock, un2.c[k].r[d].len);
    }
    yds_release(&un2);
    if (rc) {
        yds_release(&un1);
        return rc;
    }
    yds_sort_merge(&un1);
    yds_release(&doc->pending_ds);
    doc->pending_ds = un1;
    if (retry && depth < 8) {
        uint8_t *p = doc->pending;
        size_t pn = doc->pending_len;
        doc->pending = NULL;
        doc->pending_len = 0;
        doc->pending_count = 0;
        doc->nmissing = 0;
        yupd again;
        rc = read_update(doc, p, pn, &again);
        yfree(p);
        if (!rc) {
            rc = apply_decoded(txn, &again, depth + 1);
            yupd_release(&again);
        }
    }
    return rc;
}

/* Pre-sizes the struct arrays integration will grow (real allocations made
 * before anything changes; see alloc.h). */
static int presize(ydoc *doc, const yupd *u) {
    ystore *s = &doc->store;
    size_t total = 0, ranges = 0;
    for (size_t i = 0; i < u->n; i++) total += u->c[i].n;
    for (size_t i = 0; i < u->ds.n; i++) ranges += u->ds.c[i].n;
    size_t spare = 2 * (total + ranges) + 4;
    int rc;
    for (size_t i = 0; i < u->n; i++) {
        yclient *c;
        rc = ystore_client_add(s, u->c[i].client, &c);
        if (rc) return rc;
    }
    for (size_t i = 0; i < s->n; i++) {
        yclient *c = &s->c[i];
        size_t want = spare < c->n / 2 + 64 ? spare : c->n / 2 + 64;
        for (size_t k = 0; k < u->n; k++)
            if (u->c[k].client == c->client) want += u->c[k].n;
        rc = yclient_reserve(c, want);
        if (rc) return rc;
    }
    return Y_OK;
}

/* Applies an update v1; see crdt.h. */
int ydoc_apply_update(ydoc *doc, const uint8_t *update, size_t len, const void *origin) {
    if (!doc || (!update && len)) return Y_ERR_INVALID;
    if (doc->in_txn) return Y_ERR_STATE;
    yupd u;
    int rc = read_update(doc, update, len, &u);
    if (rc) return rc;
    size_t reserve = 24 * 1024 + 4 * len;
    if (reserve > 160 * 1024) reserve = 160 * 1024;
    rc = presize(doc, &u);
    if (!rc) rc = yalloc_reserve_begin(reserve);
    if (rc) {
        yupd_release(&u);
        return rc;
    }
    struct ytxn *txn;
    rc = ytxn_start(doc, origin, false, &txn);
    if (rc) {
        yalloc_reserve_end();
        yupd_release(&u);
        return rc;
    }
    rc = apply_decoded(txn, &u, 0);
    yupd_release(&u);
    /* after integration, failures only cost observers an update */
    (void)ytxn_finish(txn);
    yalloc_reserve_end();
    return rc;
}

/* Number of structs waiting for missing dependencies. */
size_t ydoc_pending_structs(const ydoc *doc) { return doc && doc->pending ? doc->pending_count : 0; }

/* Whether deletes of not yet received structs are waiting. */
bool ydoc_pending_deletes(const ydoc *doc) { return doc && doc->pending_ds.n > 0; }

static struct ytype *root_get(ydoc *doc, const char *name, size_t len) {
    for (size_t i = 0; i < doc->nroots; i++) {
        const struct ytype *r = doc->roots[i];
        if (r->name_len == len && memcmp(r->name, name, len) == 0) return doc->roots[i];
    }
    if (doc->nroots == doc->rcap) {
        size_t ncap = doc->rcap ? doc->rcap * 2 : 4;
        struct ytype **nr = yrealloc(doc->roots, ncap * sizeof *nr);
        if (!nr) return NULL;
        doc->roots = nr;
        doc->rcap = ncap;
    }
    struct ytype *t = ytype_new(doc, YTYPE_MAP, false);
    if (!t) return NULL;
    t->name = ystrndup(name, len);
    t->name_len = len;
    if (!t->name) {
        ytype_free(t);
        return NULL;
    }
    t->markers_on = false; /* an untyped root (AbstractType) has no markers */
    t->linked = true;
    t->all_next = doc->all_types;
    doc->all_types = t;
    doc->roots[doc->nroots++] = t;
    return t;
}

struct ytype *ydoc_root(ydoc *doc, const char *name, size_t len) { return root_get(doc, name, len); }
