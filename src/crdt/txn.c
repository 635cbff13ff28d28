/*
 * txn.c - transactions: before-state, the transaction's delete set, the
 * changed types, and the cleanup Yjs runs when a transaction ends (observer
 * calls, garbage collection of deleted content, merging of adjacent structs,
 * and the one update v1 the transaction produced).
 *
 * Invariants
 *  - One transaction per document at a time (doc->in_txn); it is embedded
 *    in the document and its arrays are reused by the next one.
 *  - before[i] is the state of store client i when the transaction began;
 *    clients added later had state 0.
 *  - Cleanup merges exactly the structs Yjs merges (the changed clients
 *    from their first new struct, the merge list, the delete set), because
 *    the number of structs changes the encoded bytes.
 */
#include <string.h>
#include <time.h>

#include "doc_int.h"

/* Initialises t as a new transaction on doc (before-state = now). */
static int txn_init(struct ytxn *t, ydoc *doc, const void *origin, bool local) {
    size_t n = doc->store.n;
    if (n > t->bcap) {
        /* the array is kept for the next transaction */
        uint64_t *nb = yrealloc(t->before, n * sizeof *nb);
        if (!nb) return Y_ERR_NOMEM;
        t->before = nb;
        t->bcap = n;
    }
    for (size_t i = 0; i < n; i++) {
        const yclient *c = &doc->store.c[i];
        /* YSTATE_NONE: the client had no struct (absent from Yjs's beforeState) */
        t->before[i] = c->n ? yclient_state(c) : YSTATE_NONE;
    }
    t->doc = doc;
    t->origin = origin;
    t->local = local;
    t->nbefore = n;
    yds_clear(&t->ds);
    t->nmerge = 0;
    t->nchanged = 0;
    t->err = Y_OK;
    return Y_OK;
}

int ytxn_start(ydoc *doc, const void *origin, bool local, struct ytxn **out) {
    if (doc->in_txn) return Y_ERR_STATE;
    int rc = txn_init(&doc->txn, doc, origin, local);
    if (rc) return rc;
    doc->in_txn = true;
    *out = &doc->txn;
    return Y_OK;
}

uint64_t ytxn_before(const struct ytxn *txn, uint64_t client) {
    const yclient *c = ystore_client(&txn->doc->store, client);
    if (!c) return 0;
    size_t idx = (size_t)(c - txn->doc->store.c);
    return idx < txn->nbefore && txn->before[idx] != YSTATE_NONE ? txn->before[idx] : 0;
}

#define KSET_MIN_KEYS 16 /* below this many keys a scan is cheaper than a set */

static size_t key_hash(const char *k, size_t n) {
    size_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    return h;
}

static bool key_eq(const char *a, const char *b) {
    return a == b || (ykey_len(a) == ykey_len(b) && memcmp(a, b, ykey_len(a)) == 0);
}

/* Rebuilds ch's key set for at least 2 * nkeys slots. On out of memory the
 * old set (if any) is dropped and lookups fall back to scanning. */
static void kset_rebuild(ychanged *ch) {
    size_t cap = 64;
    while (cap < ch->nkeys * 2 + 2) cap *= 2;
    uint32_t *set = ycalloc(cap, sizeof *set);
    yfree(ch->kset);
    ch->kset = set;
    ch->kset_cap = set ? cap : 0;
    if (!set) return;
    for (size_t i = 0; i < ch->nkeys; i++) {
        size_t h = key_hash(ch->keys[i], ykey_len(ch->keys[i])) & (cap - 1);
        while (set[h]) h = (h + 1) & (cap - 1);
        set[h] = (uint32_t)(i + 1);
    }
}

/* Whether psub is among ch's keys; when not and a set exists, *slot gets the
 * empty slot where it would go. */
static bool key_known(const ychanged *ch, const char *psub, size_t *slot) {
    if (!ch->kset) {
        for (size_t i = 0; i < ch->nkeys; i++)
            if (key_eq(ch->keys[i], psub)) return true;
        return false;
    }
    size_t mask = ch->kset_cap - 1;
    for (size_t h = key_hash(psub, ykey_len(psub)) & mask;; h = (h + 1) & mask) {
        uint32_t v = ch->kset[h];
        if (!v) {
            *slot = h;
            return false;
        }
        if (key_eq(ch->keys[v - 1], psub)) return true;
    }
}

void ytxn_changed_release(ychanged *ch) {
    yfree(ch->keys);
    yfree(ch->kset);
}

void ytxn_add_changed(struct ytxn *txn, struct ytype *t, const char *psub) {
    if (t->item &&
        (t->item->id.clock >= ytxn_before(txn, t->item->id.client) || yitem_deleted(t->item)))
        return;
    ychanged *ch = NULL;
    if (t->chidx < txn->nchanged && txn->changed[t->chidx].type == t) ch = &txn->changed[t->chidx];
    if (!ch) {
        if (txn->nchanged == txn->chcap) {
            size_t ncap = txn->chcap ? txn->chcap * 2 : 4;
            ychanged *nc = yrealloc(txn->changed, ncap * sizeof *nc);
            if (!nc) {
                if (!txn->err) txn->err = Y_ERR_NOMEM;
                return;
            }
            txn->changed = nc;
            txn->chcap = ncap;
        }
        t->chidx = txn->nchanged;
        ch = &txn->changed[txn->nchanged++];
        memset(ch, 0, sizeof *ch);
        ch->type = t;
    }
    if (!psub) {
        ch->list = true;
        return;
    }
    size_t slot = 0;
    if (key_known(ch, psub, &slot)) return;
    if (ch->nkeys == ch->cap) {
        size_t ncap = ch->cap ? ch->cap * 2 : 4;
        char **nk = yrealloc(ch->keys, ncap * sizeof *nk);
        if (!nk) {
            if (!txn->err) txn->err = Y_ERR_NOMEM;
            return;
        }
        ch->keys = nk;
        ch->cap = ncap;
    }
    ch->keys[ch->nkeys++] = (char *)(uintptr_t)psub;
    if (ch->kset && (ch->nkeys + 1) * 2 <= ch->kset_cap)
        ch->kset[slot] = (uint32_t)ch->nkeys;
    else if (ch->nkeys >= KSET_MIN_KEYS)
        kset_rebuild(ch);
}

void ytxn_add_merge(struct ytxn *txn, yid id) {
    if (txn->nmerge == txn->mcap) {
        size_t ncap = txn->mcap ? txn->mcap * 2 : 16;
        yid *nm = yrealloc(txn->merge, ncap * sizeof *nm);
        if (!nm) {
            if (!txn->err) txn->err = Y_ERR_NOMEM;
            return;
        }
        txn->merge = nm;
        txn->mcap = ncap;
    }
    txn->merge[txn->nmerge++] = id;
}

void ytxn_add_delete(struct ytxn *txn, uint64_t client, uint64_t clock, uint64_t len) {
    int rc = yds_add(&txn->ds, client, clock, len);
    if (rc && !txn->err) txn->err = rc;
}

/* tryToMergeWithLefts: merges struct pos into its left neighbours while
 * possible and removes the merged structs; returns how many merged. */
static size_t merge_lefts(ydoc *doc, yclient *c, size_t pos) {
    size_t i = pos;
    while (i > 0 && yitem_try_merge(yclient_at(c, i - 1), yclient_at(c, i))) i--;
    size_t merged = pos - i;
    if (merged) {
        for (size_t k = i + 1; k <= pos; k++) yitem_free(doc, yclient_at(c, k));
        yclient_remove(c, i + 1, pos + 1);
    }
    return merged;
}

static void gc_delete_set(ydoc *doc, const yds *ds) {
    for (size_t k = 0; k < ds->n; k++) {
        yclient *c = ystore_client(&doc->store, ds->c[k].client);
        if (!c) continue;
        for (size_t d = ds->c[k].n; d-- > 0;) {
            const yrange *r = &ds->c[k].r[d];
            uint64_t end = r->clock + r->len;
            for (size_t si = yclient_find(c, r->clock); si < c->n && yclient_clock_at(c, si) < end;
                 si++) {
                yitem *s = yclient_at(c, si);
                if (!(s->flags & YF_GC) && (s->flags & YF_DELETED) && !(s->flags & YF_KEEP))
                    yitem_gc(doc, s, false);
            }
        }
    }
}

static void merge_delete_set(ydoc *doc, const yds *ds) {
    for (size_t k = 0; k < ds->n; k++) {
        yclient *c = ystore_client(&doc->store, ds->c[k].client);
        if (!c) continue;
        for (size_t d = ds->c[k].n; d-- > 0;) {
            const yrange *r = &ds->c[k].r[d];
            size_t most = yclient_find(c, r->clock + r->len - 1) + 1;
            if (most > c->n - 1) most = c->n - 1;
            int64_t si = (int64_t)most;
            while (si > 0 && yclient_clock_at(c, si) >= r->clock)
                si -= 1 + (int64_t)merge_lefts(doc, c, (size_t)si);
        }
    }
}

/* Walks up to the root type and returns its name. */
const char *ytype_root_name(const struct ytype *t) {
    while (t->item && t->item->parent) t = t->item->parent;
    return t->name ? t->name : "";
}

static void call_change_observers(struct ytxn *txn) {
    ydoc *doc = txn->doc;
    bool any = false;
    for (size_t i = 0; i < doc->nobs; i++)
        if (doc->obs[i].chg) any = true;
    if (!any || !txn->nchanged) return;
    ychange *ch = ycalloc(txn->nchanged, sizeof *ch);
    void **scratch = ycalloc(txn->nchanged, sizeof *scratch);
    if (!ch || !scratch) {
        yfree(ch);
        yfree(scratch);
        return; /* observers are best effort when memory runs out */
    }
    size_t n = 0;
    for (size_t i = 0; i < txn->nchanged; i++) {
        ychanged *c = &txn->changed[i];
        struct ytype *t = c->type;
        if (t->item && yitem_deleted(t->item)) continue;
        ychange *o = &ch[n];
        o->type = t;
        o->root = ytype_root_name(t);
        if (c->nkeys) {
            o->keys = (const char *const *)c->keys;
            o->nkeys = c->nkeys;
        }
        if (c->list && (t->kind == YTYPE_TEXT || t->kind == YTYPE_XML_TEXT)) {
            ydelta *d = NULL;
            size_t nd = 0;
            if (ytext_delta(txn, t, &d, &nd, &scratch[n]) == Y_OK) {
                o->delta = d;
                o->ndelta = nd;
            }
        }
        n++;
    }
    for (size_t i = 0; i < doc->nobs; i++)
        if (doc->obs[i].chg) doc->obs[i].chg(doc->obs[i].ud, ch, n, txn->origin);
    for (size_t i = 0; i < n; i++)
        ytext_delta_free((ydelta *)(uintptr_t)ch[i].delta, ch[i].ndelta, scratch[i]);
    yfree(scratch);
    yfree(ch);
}

static uint64_t random_client_id(void);

static struct ytxn *queue_new(ydoc *doc) {
    if (doc->nqueue == sizeof doc->queue / sizeof doc->queue[0]) return NULL;
    struct ytxn *t = ycalloc(1, sizeof *t);
    if (!t) return NULL;
    if (txn_init(t, doc, NULL, true) != Y_OK) {
        yfree(t);
        return NULL;
    }
    doc->queue[doc->nqueue++] = t;
    return t;
}

struct ytxn *ytxn_followup(struct ytxn *cur) {
    ydoc *doc = cur->doc;
    if (!doc->observer_txn) doc->observer_txn = queue_new(doc);
    return doc->observer_txn ? doc->observer_txn : cur;
}

/* The cleanup of one transaction (Yjs cleanupTransactions for one entry).
 * Observers reading deltas and the formatting cleanup after remote changes
 * may open follow-up transactions; they are queued and cleaned up next. */
static int cleanup_one(struct ytxn *txn) {
    ydoc *doc = txn->doc;
    ystore *s = &doc->store;
    int rc = Y_OK;
    bool need_fmt = false;
    yds_sort_merge(&txn->ds);
    for (size_t i = 0; i < txn->nchanged; i++) {
        struct ytype *t = txn->changed[i].type;
        if (t->item && yitem_deleted(t->item)) continue;
        if (!txn->local) ymarker_clear(t); /* _callObserver */
        if (!txn->local && t->has_formatting &&
            (t->kind == YTYPE_TEXT || t->kind == YTYPE_XML_TEXT))
            need_fmt = true;
    }
    doc->observer_txn = NULL;
    call_change_observers(txn);
    doc->observer_txn = NULL;
    if (need_fmt) {
        struct ytxn *t2 = queue_new(doc);
        if (t2) {
            int crc = ytext_cleanup_after(txn, t2);
            if (crc && !txn->err) txn->err = crc;
        }
    }
    if (doc->gc) gc_delete_set(doc, &txn->ds);
    merge_delete_set(doc, &txn->ds);
    for (size_t i = 0; i < s->n; i++) {
        yclient *c = &s->c[i];
        /* ytxn_before without the lookup: c is store client i */
        uint64_t before = i < txn->nbefore && txn->before[i] != YSTATE_NONE ? txn->before[i] : 0;
        uint64_t after = yclient_state(c);
        if (!c->n || before == after) continue;
        size_t first = yclient_find(c, before);
        if (first < 1) first = 1;
        for (int64_t k = (int64_t)c->n - 1; k >= (int64_t)first;)
            k -= 1 + (int64_t)merge_lefts(doc, c, (size_t)k);
    }
    for (size_t m = txn->nmerge; m-- > 0;) {
        yclient *c = ystore_client(s, txn->merge[m].client);
        if (!c || !c->n) continue;
        size_t pos = yclient_find(c, txn->merge[m].clock);
        if (pos + 1 < c->n && merge_lefts(doc, c, pos + 1) > 1) continue;
        if (pos > 0) merge_lefts(doc, c, pos);
    }
    if (!txn->local && ystore_state(s, doc->client_id) != ytxn_before(txn, doc->client_id))
        doc->client_id = random_client_id(); /* someone else uses our id */
    bool want_update = false;
    for (size_t i = 0; i < doc->nobs; i++)
        if (doc->obs[i].upd) want_update = true;
    if (want_update) {
        /* The update is written to the document's buffer, kept for the
         * next transaction unless it grew large. */
        ybuf *b = &doc->ubuf;
        bool any = false;
        b->len = 0;
        b->err = Y_OK;
        rc = yenc_txn_update(txn, b, &any);
        if (rc == Y_OK && any) {
            for (size_t i = 0; i < doc->nobs; i++)
                if (doc->obs[i].upd) doc->obs[i].upd(doc->obs[i].ud, b->data, b->len, txn->origin);
        }
        if (b->cap > YDOC_UBUF_KEEP) ybuf_release(b);
    }
    if (!rc && txn->err) rc = txn->err;
    for (size_t i = 0; i < txn->nchanged; i++) ytxn_changed_release(&txn->changed[i]);
    txn->nchanged = 0;
    yds_clear(&txn->ds);
    txn->nbefore = 0;
    txn->nmerge = 0;
    return rc;
}

int ytxn_finish(struct ytxn *txn) {
    ydoc *doc = txn->doc;
    int rc = cleanup_one(txn);
    while (doc->nqueue) {
        struct ytxn *t = doc->queue[0];
        memmove(&doc->queue[0], &doc->queue[1], (doc->nqueue - 1) * sizeof doc->queue[0]);
        doc->nqueue--;
        int rc2 = cleanup_one(t);
        if (!rc) rc = rc2;
        yfree(t->merge);
        yfree(t->scratch);
        yfree(t->changed);
        yfree(t->before);
        yds_release(&t->ds);
        yfree(t);
    }
    doc->in_txn = false;
    return rc;
}

/* ---- public ------------------------------------------------------------- */

/* Starts a local transaction; NULL if one is open or out of memory. */
ytxn *ydoc_begin(ydoc *doc, const void *origin) {
    struct ytxn *t;
    if (!doc || ytxn_start(doc, origin, true, &t)) return NULL;
    return t;
}

/* Ends a transaction; see crdt.h. */
int ytxn_commit(ytxn *txn) {
    if (!txn || !txn->doc || !txn->doc->in_txn) return Y_ERR_INVALID;
    return ytxn_finish(txn);
}

static int add_observer(ydoc *doc, ydoc_update_fn u, ydoc_change_fn c, void *ud) {
    if (!doc || (!u && !c)) return Y_ERR_INVALID;
    if (doc->nobs == doc->obscap) {
        size_t ncap = doc->obscap ? doc->obscap * 2 : 4;
        yobserver *no = yrealloc(doc->obs, ncap * sizeof *no);
        if (!no) return Y_ERR_NOMEM;
        doc->obs = no;
        doc->obscap = ncap;
    }
    yobserver *o = &doc->obs[doc->nobs++];
    o->id = ++doc->next_obs_id;
    o->upd = u;
    o->chg = c;
    o->ud = ud;
    return o->id;
}

/* Registers an update observer; returns its id or a negative error. */
int ydoc_observe_updates(ydoc *doc, ydoc_update_fn fn, void *ud) {
    return add_observer(doc, fn, NULL, ud);
}

/* Registers a change observer; returns its id or a negative error. */
int ydoc_observe_changes(ydoc *doc, ydoc_change_fn fn, void *ud) {
    return add_observer(doc, NULL, fn, ud);
}

/* Removes an observer; unknown ids are ignored. */
void ydoc_unobserve(ydoc *doc, int id) {
    if (!doc) return;
    for (size_t i = 0; i < doc->nobs; i++) {
        if (doc->obs[i].id == id) {
            memmove(&doc->obs[i], &doc->obs[i + 1], (doc->nobs - i - 1) * sizeof *doc->obs);
            doc->nobs--;
            return;
        }
    }
}

static uint64_t random_client_id(void) {
    /* splitmix64 over a per-thread state seeded from time and addresses;
     * Yjs picks a random uint32 too */
    static _Thread_local uint64_t state;
    if (!state)
        state = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)&state << 16) ^ (uint64_t)clock();
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (uint32_t)z;
}

uint64_t ydoc_random_client_id(void) { return random_client_id(); }
