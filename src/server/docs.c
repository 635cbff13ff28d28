/*
 * docs.c - the open-document cache (see docs.h).
 *
 * Invariants: every vdoc is in the `head` list and in the hash chain of
 * its id's bucket exactly once; a vdoc with inflight > 0 or holders > 0 is
 * never freed (the store's answer will come back to it; a room uses it);
 * `held` counts the vdocs with holders > 0; at most max_docs unheld
 * documents stay open, the least recently used idle one is closed first,
 * and never one of the RECENT most recently fetched (a handler may hold a
 * few vdoc pointers across vdocs_get calls: the note and its vault's
 * index). The idle sweep runs from a timer, never inside a handler, so it
 * may close any idle document, and freeze any document nothing waits on
 * (doc == NULL exactly when frozen; `frozen_n` and `frozen_bytes` count
 * them).
 */
#include "server/docs.h"

#include "server/metrics.h"
#include "server/stext.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define BUCKETS 4096 /* power of two */
#define RECENT  16
/* malloc_trim runs after a sweep once this many documents were frozen or
 * closed since the last trim (a 1 KB note's engine structures are about
 * 30 KB, so about 2 MB): freed engine memory sits between live blocks of
 * the loop's heap, which free() alone never gives back. Each trim walks the
 * whole heap (milliseconds with thousands of connections), so not after
 * every document. */
#define TRIM_DOCS 64
/* A sweep stops after this much time spent closing or freezing documents
 * and goes on 1 ms later (walking again from the head of the list, past
 * what it already did), so that freezing a thousand documents at once
 * (about 60 ms) never holds the event loop for longer than a few ms at a
 * time. */
#define SWEEP_SLICE_NS 2000000u

#define M_FREEZES "vault_docs_freezes_total"
#define H_FREEZES "Open documents frozen (encoded to their update, engine structures freed)."
#define M_THAWS   "vault_docs_thaws_total"
#define H_THAWS   "Frozen documents thawed (decoded again) for their next use."

struct vdocs {
    store *st;
    size_t max_docs;
    size_t count;
    size_t held;
    uint64_t clock;
    uv_loop_t *loop;
    uint64_t idle_ms;
    uint64_t freeze_ms; /* 0: never freeze */
    size_t frozen_n, frozen_bytes;
    size_t unfreed; /* documents frozen or closed since the last malloc_trim */
    vmetrics *metrics;
    uv_timer_t sweeper;
    uint64_t sweep_every; /* ms between sweeps */
    uint64_t slice_ns;    /* SWEEP_SLICE_NS (tests may shorten it) */
    bool sweeper_open;
    uint64_t compact_at; /* rows of a log that start a compaction (0: never) */
    int compacting;      /* compactions running */
    bool draining;       /* vdocs_drain: start no more */
    vdoc *head;
    vdoc *buckets[BUCKETS];
    vdocs_idle_fn idle; /* vdocs_set_idle_hook */
    void *idle_ud;
    stexts *texts;          /* vdocs_set_texts */
    uv_async_t texts_async; /* the indexer asks */
    bool texts_async_open;
};

/* FNV-1a of the id: ids are random hex, any cheap mix spreads them. */
static vdoc **bucket(vdocs *c, const char *id) {
    uint32_t h = 2166136261u;
    for (const char *p = id; *p != '\0'; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return &c->buckets[h & (BUCKETS - 1)];
}

/* Takes d out of the list and its hash chain, and frees it. */
static void vdoc_close(vdocs *c, vdoc *d);
static void maybe_compact(vdocs *c, vdoc *d);
/* The update observer of every open document: captures its update. */
static void on_update(void *ud, const uint8_t *update, size_t len, const void *origin);

/* A raw deflate stream (no header: the length is kept in the vdoc), level 1
 * (the fastest: the benchmark's 3 KB updates shrink to 40%, in about 20 us
 * once the stream is set up, which costs 100 us: one per sweep slice). */
#define Z_WBITS (-15)

/* u (len bytes) deflated into *out (malloc'd, exactly *out_len bytes).
 * Returns false (nothing allocated) when out of memory or when it would not
 * be smaller. *z is set up at first use (*z_ok). */
static bool deflated(z_stream *z, bool *z_ok, const uint8_t *u, size_t len, uint8_t **out,
                     size_t *out_len) {
    if (len < 64 || len > UINT32_MAX) return false;
    if (!*z_ok) {
        memset(z, 0, sizeof(*z));
        if (deflateInit2(z, 1, Z_DEFLATED, Z_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
        *z_ok = true;
    } else if (deflateReset(z) != Z_OK) {
        return false;
    }
    size_t cap = len - 1; /* no gain: not worth it */
    uint8_t *buf = malloc(cap);
    if (buf == NULL) return false;
    z->next_in = (Bytef *)(uintptr_t)u;
    z->avail_in = (uInt)len;
    z->next_out = buf;
    z->avail_out = (uInt)cap;
    if (deflate(z, Z_FINISH) != Z_STREAM_END) { /* out of room: no gain */
        free(buf);
        return false;
    }
    *out_len = cap - z->avail_out;
    uint8_t *exact = realloc(buf, *out_len); /* gives back the tail */
    *out = exact != NULL ? exact : buf;
    return true;
}

/* Freezes d if nothing waits on it: returns true if it did. */
static bool freeze(vdocs *c, vdoc *d, z_stream *z, bool *z_ok) {
    if (d->doc == NULL || d->inflight > 0 || d->broken || d->captured != NULL ||
        ydoc_pending_structs(d->doc) > 0 || ydoc_pending_deletes(d->doc))
        return false;
    uint8_t *u = NULL;
    size_t len = 0;
    if (ydoc_encode_state_as_update(d->doc, NULL, 0, &u, &len) != Y_OK)
        return false; /* out of memory: it stays as it is */
    uint8_t *frozen = NULL;
    size_t frozen_len = 0, raw_len = len;
    if (!deflated(z, z_ok, u, len, &frozen, &frozen_len)) {
        /* Kept as it is, in an exact copy: the engine's buffer has room to
         * spare. */
        raw_len = 0;
        frozen_len = len;
        frozen = malloc(len > 0 ? len : 1);
        if (frozen != NULL) memcpy(frozen, u, len);
    }
    yfree(u);
    if (frozen == NULL) return false;
    ydoc_free(d->doc);
    d->doc = NULL;
    d->frozen = frozen;
    d->frozen_len = frozen_len;
    d->frozen_raw = raw_len;
    c->frozen_n++;
    c->frozen_bytes += frozen_len;
    if (c->metrics != NULL) vmetrics_count(c->metrics, M_FREEZES, H_FREEZES, 1);
    return true;
}

/* A fresh engine document (gc off, no observer) decoded from frozen d's
 * bytes, into *out (the caller frees it). Returns STORE_OK, STORE_ENOMEM, or
 * STORE_EINVAL (zlib or the engine refused the bytes, which cannot happen
 * unless memory was corrupted). d is unchanged either way. */
static int decode_frozen(const vdoc *d, ydoc **out) {
    const uint8_t *u = d->frozen;
    size_t len = d->frozen_len;
    uint8_t *inflated = NULL;
    if (d->frozen_raw > 0) { /* deflated */
        inflated = malloc(d->frozen_raw);
        if (inflated == NULL) return STORE_ENOMEM;
        z_stream z;
        memset(&z, 0, sizeof(z));
        int zrc = inflateInit2(&z, Z_WBITS);
        if (zrc != Z_OK) {
            free(inflated);
            return STORE_ENOMEM;
        }
        z.next_in = d->frozen;
        z.avail_in = (uInt)d->frozen_len;
        z.next_out = inflated;
        z.avail_out = (uInt)d->frozen_raw;
        zrc = inflate(&z, Z_FINISH);
        bool whole = zrc == Z_STREAM_END && z.avail_out == 0 && z.avail_in == 0;
        inflateEnd(&z);
        if (!whole) {
            free(inflated);
            vlog(VLOG_ERROR, "frozen document could not be inflated",
                 json_pack("{s:s, s:i}", "doc", d->id, "zlib", zrc));
            return zrc == Z_MEM_ERROR ? STORE_ENOMEM : STORE_EINVAL;
        }
        u = inflated;
        len = d->frozen_raw;
    }
    ydoc_options opt = {.gc = false}; /* a new client id: see docs.h */
    ydoc *doc = ydoc_new(&opt);
    int rc = doc != NULL ? ydoc_apply_update(doc, u, len, NULL) : Y_ERR_NOMEM;
    free(inflated);
    if (rc == Y_OK && (ydoc_pending_structs(doc) > 0 || ydoc_pending_deletes(doc)))
        rc = Y_ERR_MALFORMED; /* cannot be: it was whole when frozen */
    if (rc != Y_OK) {
        ydoc_free(doc);
        if (rc != Y_ERR_NOMEM)
            vlog(VLOG_ERROR, "frozen document refused by the CRDT engine",
                 json_pack("{s:s, s:s}", "doc", d->id, "error", yerr_str(rc)));
        return rc == Y_ERR_NOMEM ? STORE_ENOMEM : STORE_EINVAL;
    }
    *out = doc;
    return STORE_OK;
}

/* Gives d its engine document again. Returns STORE_OK, STORE_ENOMEM, or
 * STORE_EINVAL (decode_frozen): then d is unchanged. */
static int thaw(vdocs *c, vdoc *d) {
    ydoc *doc = NULL;
    int rc = decode_frozen(d, &doc);
    if (rc != STORE_OK) return rc;
    if (ydoc_observe_updates(doc, on_update, d) < 0) {
        ydoc_free(doc);
        return STORE_ENOMEM;
    }
    d->doc = doc;
    free(d->frozen);
    d->frozen = NULL;
    c->frozen_n--;
    c->frozen_bytes -= d->frozen_len;
    d->frozen_len = 0;
    d->frozen_raw = 0;
    if (c->metrics != NULL) vmetrics_count(c->metrics, M_THAWS, H_THAWS, 1);
    return STORE_OK;
}

/* Closes the documents idle for idle_ms or more, and freezes those not
 * fetched for freeze_ms or more. */
static void on_sweep(uv_timer_t *t) {
    vdocs *c = t->data;
    uint64_t now = uv_now(c->loop), start = uv_hrtime();
    z_stream z; /* for this slice's freezes */
    bool z_ok = false, over = true;
    for (vdoc *d = c->head, *next; d != NULL; d = next) {
        next = d->next;
        uint64_t idle = now - d->last_ms;
        bool worked = true;
        if (c->idle_ms > 0 && d->holders == 0 && d->inflight == 0 && idle >= c->idle_ms) {
            if (d->doc != NULL) c->unfreed++;
            vdoc_close(c, d);
        } else if (c->freeze_ms > 0 && idle >= c->freeze_ms && freeze(c, d, &z, &z_ok)) {
            c->unfreed++;
        } else {
            worked = false; /* cheap: the next slice may walk past it again */
        }
        if (worked && next != NULL && uv_hrtime() - start > c->slice_ns) { /* the rest soon */
            uv_timer_start(&c->sweeper, on_sweep, 1, c->sweep_every);
            over = false;
            break;
        }
    }
    if (z_ok) deflateEnd(&z);
    if (!over) return;
    if (c->unfreed >= TRIM_DOCS) {
        c->unfreed = 0;
#ifdef __GLIBC__
        malloc_trim(0);
#endif
    }
}

/* (Re)starts the sweep timer for the current idle and freeze times: a
 * document closes (or freezes) between its time and that time + a quarter
 * of the shorter one (at most a second). */
static void arm_sweeper(vdocs *c) {
    uint64_t shortest = c->idle_ms;
    if (c->freeze_ms > 0 && (shortest == 0 || c->freeze_ms < shortest)) shortest = c->freeze_ms;
    if (shortest == 0 || c->loop == NULL) {
        if (c->sweeper_open) uv_timer_stop(&c->sweeper);
        return;
    }
    uint64_t every = shortest / 4;
    every = every < 10 ? 10 : every > 1000 ? 1000 : every;
    c->sweep_every = every;
    if (!c->sweeper_open) {
        uv_timer_init(c->loop, &c->sweeper);
        c->sweeper.data = c;
        uv_unref((uv_handle_t *)&c->sweeper);
        c->sweeper_open = true;
    }
    uv_timer_start(&c->sweeper, on_sweep, every, every);
}

vdocs *vdocs_new(store *st, size_t max_docs, uv_loop_t *loop, uint64_t idle_ms) {
    vdocs *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->st = st;
    c->max_docs = max_docs;
    c->loop = loop;
    c->idle_ms = idle_ms;
    c->slice_ns = SWEEP_SLICE_NS;
    arm_sweeper(c);
    return c;
}

void vdocs_freeze_after(vdocs *c, uint64_t ms) {
    c->freeze_ms = ms;
    arm_sweeper(c);
}

void vdocs_set_metrics(vdocs *c, vmetrics *m) {
    c->metrics = m;
    if (m != NULL) {
        vmetrics_count(m, M_FREEZES, H_FREEZES, 0);
        vmetrics_count(m, M_THAWS, H_THAWS, 0);
    }
}

static void on_sweeper_closed(uv_handle_t *h) {
    vdocs *c = h->data;
    c->sweeper_open = false;
}

static void on_texts_async_closed(uv_handle_t *h) {
    vdocs *c = h->data;
    c->texts_async_open = false;
}

static void vdoc_free(vdoc *d) {
    ydoc_free(d->doc);
    free(d->frozen);
    free(d->captured);
    free(d);
}

void vdocs_free(vdocs *c) {
    if (c == NULL) return;
    if (c->sweeper_open) {
        uv_close((uv_handle_t *)&c->sweeper, on_sweeper_closed);
        while (c->sweeper_open) uv_run(c->loop, UV_RUN_NOWAIT);
    }
    vdocs_set_texts(c, NULL);
    if (c->texts_async_open) {
        uv_close((uv_handle_t *)&c->texts_async, on_texts_async_closed);
        while (c->texts_async_open) uv_run(c->loop, UV_RUN_NOWAIT);
    }
    vdocs_drain(c);
    for (vdoc *d = c->head, *next; d != NULL; d = next) {
        next = d->next;
        vdoc_free(d);
    }
    free(c);
}

size_t vdocs_count(const vdocs *c) { return c->count; }

size_t vdocs_frozen(const vdocs *c, size_t *bytes) {
    if (bytes != NULL) *bytes = c->frozen_bytes;
    return c->frozen_n;
}

size_t vdocs_pending_structs(const vdocs *c) {
    size_t n = 0;
    for (const vdoc *d = c->head; d != NULL; d = d->next)
        if (d->doc != NULL) n += ydoc_pending_structs(d->doc); /* a frozen one has none */
    return n;
}

static void on_update(void *ud, const uint8_t *update, size_t len, const void *origin) {
    (void)origin;
    vdoc *d = ud;
    free(d->captured);
    d->captured = malloc(len);
    d->captured_len = d->captured != NULL ? len : 0;
    if (d->captured != NULL) memcpy(d->captured, update, len);
}

typedef struct {
    ydoc *doc;
    uint64_t count; /* versions replayed */
    uint64_t rows;  /* rows replayed */
    uint64_t limit; /* stop after this many versions (UINT64_MAX: all) */
    int engine_err;
} replay;

enum { REPLAY_ENOUGH = 1, REPLAY_REFUSED = 2, REPLAY_INSIDE = 3 };

static int apply_one(void *ud, const store_log_entry *e) {
    replay *r = ud;
    if (r->count == r->limit) return REPLAY_ENOUGH;
    if ((uint64_t)e->versions > r->limit - r->count) return REPLAY_INSIDE;
    int rc = ydoc_apply_update(r->doc, e->data, e->len, NULL);
    if (rc != Y_OK) {
        r->engine_err = rc;
        return REPLAY_REFUSED;
    }
    r->count += (uint64_t)e->versions;
    r->rows++;
    return 0;
}

/* Opens a fresh document and replays up to `limit` versions of `id`;
 * *count gets the versions replayed, *rows the log rows. STORE_ENOTFOUND
 * when `limit` falls inside a compacted snapshot (that version is gone). */
static int load(store *st, const char *id, uint64_t limit, ydoc **out, uint64_t *count,
                uint64_t *rows) {
    ydoc_options opt = {.gc = false};
    ydoc *doc = ydoc_new(&opt);
    if (doc == NULL) return STORE_ENOMEM;
    replay r = {.doc = doc, .limit = limit};
    int rc = store_doc_log(st, id, apply_one, &r);
    if (rc == REPLAY_ENOUGH) rc = STORE_OK;
    if (rc == REPLAY_INSIDE) rc = STORE_ENOTFOUND;
    if (rc == REPLAY_REFUSED) {
        vlog(VLOG_ERROR, "stored update refused by the CRDT engine",
             json_pack("{s:s, s:s}", "doc", id, "error", yerr_str(r.engine_err)));
        rc = STORE_EINVAL;
    }
    if (rc != STORE_OK) {
        ydoc_free(doc);
        return rc;
    }
    *out = doc;
    *count = r.count;
    if (rows != NULL) *rows = r.rows;
    return STORE_OK;
}

static void vdoc_close(vdocs *c, vdoc *d) {
    for (vdoc **p = &c->head; *p != NULL; p = &(*p)->next) {
        if (*p == d) {
            *p = d->next;
            break;
        }
    }
    for (vdoc **p = bucket(c, d->id); *p != NULL; p = &(*p)->hnext) {
        if (*p == d) {
            *p = d->hnext;
            break;
        }
    }
    if (d->holders > 0) c->held--;
    if (d->doc == NULL) {
        c->frozen_n--;
        c->frozen_bytes -= d->frozen_len;
    }
    vdoc_free(d);
    c->count--;
}

/* Closes idle documents beyond the cap, least recently used first. */
static void trim(vdocs *c) {
    while (c->count - c->held > c->max_docs) {
        vdoc *victim = NULL;
        for (vdoc *d = c->head; d != NULL; d = d->next)
            if (d->inflight == 0 && d->holders == 0 && d->last_used + RECENT <= c->clock &&
                (victim == NULL || d->last_used < victim->last_used))
                victim = d;
        if (victim == NULL) return; /* everything is busy or just used */
        vdoc_close(c, victim);
    }
}

vdoc *vdocs_find(vdocs *c, const char *id) {
    vdoc *d;
    for (d = *bucket(c, id); d != NULL; d = d->hnext)
        if (strcmp(d->id, id) == 0) break;
    return d;
}

int vdocs_close(vdocs *c, const char *id) {
    vdoc *d = vdocs_find(c, id);
    if (d == NULL) return 0;
    if (d->inflight > 0 || d->holders > 0) return -1;
    vdoc_close(c, d);
    return 0;
}

int vdocs_get(vdocs *c, const char *vault, const char *id, vdoc **out) {
    vdoc *d = vdocs_find(c, id);
    vdoc *old = NULL;
    int holders = 0;
    if (d != NULL && d->broken && d->inflight == 0) { /* reload from the log */
        old = d;
        d = NULL;
    }
    if (d == NULL) {
        /* Loaded first: a broken document whose reload fails stays as it
         * is (still broken, still held), to be reloaded at a later get. */
        d = calloc(1, sizeof(*d));
        if (d == NULL) return STORE_ENOMEM;
        int rc = load(c->st, id, UINT64_MAX, &d->doc, &d->version, &d->rows);
        if (rc != STORE_OK) {
            free(d);
            return rc;
        }
        if (ydoc_observe_updates(d->doc, on_update, d) < 0) {
            vdoc_free(d);
            return STORE_ENOMEM;
        }
        if (old != NULL) { /* the hold moves to the new copy */
            holders = old->holders;
            vdoc_close(c, old);
        }
        snprintf(d->id, sizeof(d->id), "%s", id);
        snprintf(d->vault, sizeof(d->vault), "%s", vault);
        d->next = c->head;
        c->head = d;
        vdoc **b = bucket(c, d->id);
        d->hnext = *b;
        *b = d;
        c->count++;
        d->holders = holders;
        if (holders > 0) c->held++;
        maybe_compact(c, d); /* a long log written before, or by another process */
    } else if (d->doc == NULL) {
        int rc = thaw(c, d);
        if (rc != STORE_OK) return rc;
    }
    d->last_used = ++c->clock;
    d->last_ms = c->loop != NULL ? uv_now(c->loop) : 0;
    trim(c);
    *out = d;
    return STORE_OK;
}

void vdocs_hold(vdocs *c, vdoc *d) {
    if (d->holders++ == 0) c->held++;
}

void vdocs_release(vdocs *c, const char *id) {
    for (vdoc *d = *bucket(c, id); d != NULL; d = d->hnext) {
        if (strcmp(d->id, id) != 0) continue;
        if (d->holders > 0 && --d->holders == 0) c->held--;
        d->last_ms = c->loop != NULL ? uv_now(c->loop) : 0;
        return;
    }
}

ytxn *vdocs_begin(vdoc *d) { return d->doc != NULL ? ydoc_begin(d->doc, NULL) : NULL; }

int vdocs_commit(vdoc *d, ytxn *txn, uint8_t **update, size_t *len) {
    free(d->captured);
    d->captured = NULL;
    d->captured_len = 0;
    int rc = ytxn_commit(txn);
    *update = d->captured;
    *len = d->captured_len;
    d->captured = NULL;
    d->captured_len = 0;
    if (rc != Y_OK) {
        free(*update);
        *update = NULL;
        *len = 0;
        d->broken = true; /* the edit may be in memory without its update */
        return rc;
    }
    if (*update != NULL) {
        d->version++;
        d->rows++;
    }
    return Y_OK;
}

void vdocs_submitted(vdoc *d) { d->inflight++; }

/* ---- compaction ---------------------------------------------------------- */

/* A compaction of one document's log, run on a libuv worker thread. */
typedef struct {
    uv_work_t req;
    vdocs *c;
    char id[33], vault[33];
    uint64_t keep; /* newest rows left as they are */
    int rc;
    int64_t rows, versions; /* what the snapshot replaced */
    size_t bytes_before, bytes_after;
} compaction;

typedef struct {
    int64_t id, versions;
    uint8_t *data; /* owned */
    size_t len;
} log_row;

typedef struct {
    log_row *rows;
    size_t n, cap;
} log_copy;

static int copy_row(void *ud, const store_log_entry *e) {
    log_copy *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        log_row *p = realloc(l->rows, cap * sizeof(*p));
        if (p == NULL) return 1;
        l->rows = p;
        l->cap = cap;
    }
    uint8_t *data = malloc(e->len);
    if (data == NULL) return 1;
    memcpy(data, e->data, e->len);
    l->rows[l->n++] = (log_row){e->id, e->versions, data, e->len};
    return 0;
}

/* Worker thread: reads all but the newest `keep` rows of the log, replays
 * them into a fresh document, and commits its whole state as one row in
 * their place (store_txn_compact checks that nothing changed under it). */
static void compact_work(uv_work_t *req) {
    compaction *w = req->data;
    log_copy l = {0};
    ydoc *doc = NULL;
    uint8_t *merged = NULL;
    size_t mlen = 0;
    int64_t total = 0;
    int rc = store_doc_log_rows(w->c->st, w->id, &total);
    if (rc != STORE_OK || total < (int64_t)w->keep + 2)
        goto out; /* too few rows to gain anything */
    rc = store_doc_log_head(w->c->st, w->id, total - (int64_t)w->keep, copy_row, &l);
    if (rc == 1) rc = STORE_ENOMEM;
    if (rc != STORE_OK || l.n < 2) goto out; /* rows went meanwhile: try again later */
    size_t prefix = l.n;
    ydoc_options opt = {.gc = false};
    doc = ydoc_new(&opt);
    rc = doc != NULL ? STORE_OK : STORE_ENOMEM;
    for (size_t i = 0; i < prefix && rc == STORE_OK; i++) {
        if (ydoc_apply_update(doc, l.rows[i].data, l.rows[i].len, NULL) != Y_OK) rc = STORE_EINVAL;
        w->rows++;
        w->versions += l.rows[i].versions;
        w->bytes_before += l.rows[i].len;
    }
    if (rc == STORE_OK && ydoc_encode_state_as_update(doc, NULL, 0, &merged, &mlen) != Y_OK)
        rc = STORE_ENOMEM;
    if (rc == STORE_OK) {
        store_txn *t = store_txn_new();
        rc = t == NULL ? STORE_ENOMEM
                       : store_txn_compact(t, w->vault, w->id, l.rows[0].id, l.rows[prefix - 1].id,
                                           w->rows, w->versions, merged, mlen);
        if (rc == STORE_OK)
            rc = store_commit(w->c->st, t, NULL);
        else
            store_txn_free(t);
        w->bytes_after = mlen;
    }
out:
    if (rc != STORE_OK) w->rows = w->versions = 0;
    w->rc = rc;
    yfree(merged);
    ydoc_free(doc);
    for (size_t i = 0; i < l.n; i++) free(l.rows[i].data);
    free(l.rows);
}

/* Loop thread: the compaction is over. */
static void compact_done(uv_work_t *req, int status) {
    compaction *w = req->data;
    vdocs *c = w->c;
    c->compacting--;
    vdoc *d = vdocs_find(c, w->id);
    if (d != NULL) {
        d->compacting = false;
        if (status == 0 && w->rc == STORE_OK && w->rows > 0 && d->rows >= (uint64_t)w->rows) {
            d->rows -= (uint64_t)w->rows - 1;
            /* Commits that landed meanwhile may have grown it enough again. */
            maybe_compact(c, d);
        }
    }
    if (status == 0 && w->rc == STORE_OK && w->rows > 0)
        vlog(VLOG_INFO, "update log compacted",
             json_pack("{s:s, s:I, s:I, s:I, s:I}", "doc", w->id, "rows", (json_int_t)w->rows,
                       "versions", (json_int_t)w->versions, "bytes_before",
                       (json_int_t)w->bytes_before, "bytes_after", (json_int_t)w->bytes_after));
    else if (status != 0 || w->rc != STORE_OK)
        vlog(w->rc == STORE_ECONFLICT || w->rc == STORE_ECLOSED ? VLOG_INFO : VLOG_WARN,
             "update log not compacted",
             json_pack("{s:s, s:s}", "doc", w->id, "error",
                       status != 0 ? "cancelled" : store_strerror(w->rc)));
    free(w);
}

/* Starts compacting d's log in the background if it has grown enough. */
static void maybe_compact(vdocs *c, vdoc *d) {
    if (c->compact_at == 0 || c->loop == NULL || c->draining || d->compacting ||
        d->rows < c->compact_at)
        return;
    compaction *w = calloc(1, sizeof(*w));
    if (w == NULL) return; /* tried again at the next commit */
    w->req.data = w;
    w->c = c;
    memcpy(w->id, d->id, 33);
    memcpy(w->vault, d->vault, 33);
    w->keep = c->compact_at / 2;
    if (uv_queue_work(c->loop, &w->req, compact_work, compact_done) != 0) {
        free(w);
        return;
    }
    d->compacting = true;
    c->compacting++;
}

void vdocs_compact_at(vdocs *c, uint64_t rows) { c->compact_at = rows < 4 ? 0 : rows; }

void vdocs_drain(vdocs *c) {
    if (c == NULL) return;
    c->draining = true;
    while (c->compacting > 0) uv_run(c->loop, UV_RUN_ONCE);
}

static int text_of(void *ud, const char *id, char **md, size_t *len, int64_t *seq);

void vdocs_answered(vdocs *c, vdoc *d, bool ok) {
    d->inflight--;
    if (!ok) d->broken = true;
    if (ok) maybe_compact(c, d);
    if (d->inflight == 0 && d->text_asked) {
        d->text_asked = false;
        if (c->texts != NULL) stexts_answer(c->texts, d->id, text_of, c);
    }
    if (d->inflight == 0 && c->idle != NULL) c->idle(c->idle_ud, d);
}

void vdocs_set_idle_hook(vdocs *c, vdocs_idle_fn fn, void *ud) {
    c->idle = fn;
    c->idle_ud = ud;
}

void vdocs_committed(vdoc *d, int64_t seq) {
    if (seq > d->seq) d->seq = seq;
}

/* The text of open note `id`, when its memory is what its log holds; later
 * (vdocs_answered) while a commit of it is in flight. The log is checked
 * here, at the moment the text is taken: its last row must be this
 * process's last commit of the note (no other writer added one). */
static int text_of(void *ud, const char *id, char **md, size_t *len, int64_t *seq) {
    vdocs *c = ud;
    vdoc *d = vdocs_find(c, id);
    if (d == NULL || d->broken || d->seq == 0 || strcmp(d->id, d->vault) == 0) return STEXT_NONE;
    if (d->inflight != 0) {
        d->text_asked = true;
        return STEXT_LATER;
    }
    int64_t last = 0;
    if (store_doc_last_seq(c->st, id, &last) != STORE_OK || last != d->seq) return STEXT_NONE;
    /* A frozen note is read from a private copy and stays frozen: the
     * indexer's question is no use of the note. */
    ydoc *doc = d->doc;
    if (doc == NULL && decode_frozen(d, &doc) != STORE_OK) return STEXT_NONE;
    int rc = ytext_string(ydoc_get(doc, "content", YTYPE_TEXT), md, len);
    if (doc != d->doc) ydoc_free(doc);
    if (rc != Y_OK) return STEXT_NONE;
    *seq = d->seq;
    return STEXT_TEXT;
}

static void on_texts_async(uv_async_t *a) {
    vdocs *c = a->data;
    if (c->texts != NULL) stexts_serve(c->texts, text_of, c);
}

/* The indexer's thread: the loop answers soon. */
static void wake_loop(void *ud) {
    vdocs *c = ud;
    uv_async_send(&c->texts_async);
}

void vdocs_set_texts(vdocs *c, stexts *texts) {
    if (c->texts != NULL) stexts_serve_on(c->texts, NULL, NULL);
    c->texts = NULL;
    if (texts == NULL || c->loop == NULL) return;
    if (!c->texts_async_open) {
        uv_async_init(c->loop, &c->texts_async, on_texts_async);
        c->texts_async.data = c;
        uv_unref((uv_handle_t *)&c->texts_async);
        c->texts_async_open = true;
    }
    c->texts = texts;
    stexts_serve_on(texts, wake_loop, c);
}

int vdocs_replica_at(vdocs *c, const char *id, uint64_t version, ydoc **out) {
    ydoc *doc = NULL;
    uint64_t count = 0;
    int rc = load(c->st, id, version, &doc, &count, NULL);
    if (rc != STORE_OK) return rc;
    if (count < version) {
        ydoc_free(doc);
        return STORE_ENOTFOUND;
    }
    *out = doc;
    return STORE_OK;
}

int vdocs_apply(vdoc *d, const uint8_t *update, size_t len) {
    if (d->doc == NULL) return Y_ERR_STATE; /* frozen: vdocs_get() it first */
    int rc = ydoc_apply_update(d->doc, update, len, NULL);
    free(d->captured); /* the observer saw it; the caller has the update */
    d->captured = NULL;
    d->captured_len = 0;
    if (rc == Y_OK) {
        d->version++;
        d->rows++;
    }
    return rc;
}

int vdocs_apply_remote(vdoc *d, const uint8_t *update, size_t len, uint8_t **changed,
                       size_t *changed_len) {
    *changed = NULL;
    *changed_len = 0;
    if (d->doc == NULL) return Y_ERR_STATE; /* frozen: vdocs_get() it first */
    free(d->captured);
    d->captured = NULL;
    d->captured_len = 0;
    int rc = ydoc_apply_update(d->doc, update, len, NULL);
    *changed = rc == Y_OK ? d->captured : NULL;
    *changed_len = rc == Y_OK ? d->captured_len : 0;
    if (rc != Y_OK) free(d->captured);
    d->captured = NULL;
    d->captured_len = 0;
    if (*changed != NULL) {
        d->version++;
        d->rows++;
    }
    return rc;
}

int vdocs_title_text(vdoc *d, const uint8_t *changed, size_t clen, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    if (d->doc == NULL) return Y_ERR_STATE; /* frozen: vdocs_get() it first */
    /* hashless == version: set one version ago, before `changed`. */
    if (changed != NULL && d->hashless != 0 && d->hashless == d->version &&
        memchr(changed, '#', clen) == NULL) {
        d->hashless = d->version + 1;
        return Y_OK;
    }
    d->hashless = 0;
    ytype *content = ydoc_get(d->doc, "content", YTYPE_TEXT);
    if (content == NULL) return Y_ERR_NOMEM;
    int rc = ytext_string(content, text, len);
    if (rc != Y_OK) {
        *text = NULL;
        *len = 0;
        return rc;
    }
    if (memchr(*text, '#', *len) == NULL) d->hashless = d->version + 1;
    return Y_OK;
}

int vdocs_load_text(store *st, const char *id, char **text, size_t *len) {
    ydoc *doc = NULL;
    uint64_t count = 0;
    int rc = load(st, id, UINT64_MAX, &doc, &count, NULL);
    if (rc != STORE_OK) return rc;
    ytype *t = ydoc_get(doc, "content", YTYPE_TEXT);
    char *s = NULL;
    size_t n = 0;
    int yrc = t != NULL ? ytext_string(t, &s, &n) : Y_ERR_TYPE;
    ydoc_free(doc);
    if (yrc != Y_OK) return yrc == Y_ERR_NOMEM ? STORE_ENOMEM : STORE_EINVAL;
    *text = s;
    *len = n;
    return STORE_OK;
}
