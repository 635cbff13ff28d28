/*
 * history.c - version history (see history.h).
 *
 * Invariants: versions of a note are numbered 1, 2, ... without gaps; row n
 * is a keyframe (base == n, the whole snapshot) or a delta on top of row
 * n-1 whose keyframe is `base`, with n - base < HISTORY_KEYFRAME_EVERY; the
 * union of rows base..n is the snapshot of version n. A burst row is
 * removed (or restarted) in the same transaction that adds the version
 * holding its edits, so a crash never loses a burst nor takes it twice.
 */
#include "server/history.h"

#include "server/consumer.h"
#include "server/metrics.h"
#include "server/notes.h"
#include "util/linediff.h"
#include "util/log.h"
#include "util/vclock.h"
#include "util/ysnap.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAKE_BATCH   64 /* bursts looked at per pass */
#define TAKEN        "vault_versions_taken_total"
#define TAKEN_HELP   "Note versions taken when an editing burst settled."
#define LIST_MAX     200 /* versions per page */
#define LIST_DEFAULT 50

/* The outbox's clock: event times come from the store's wall clock. */
static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- snapshots of versions -------------------------------------------------- */

typedef struct {
    uint8_t **parts;
    size_t *lens;
    size_t n, cap;
    bool nomem;
} chain;

static int chain_add(void *ud, const uint8_t *p, size_t len) {
    chain *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        uint8_t **parts = realloc(c->parts, cap * sizeof(*parts));
        if (parts != NULL) c->parts = parts;
        size_t *lens = realloc(c->lens, cap * sizeof(*lens));
        if (lens != NULL) c->lens = lens;
        if (parts == NULL || lens == NULL) {
            c->nomem = true;
            return 1;
        }
        c->cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL) {
        c->nomem = true;
        return 1;
    }
    memcpy(copy, p, len);
    c->parts[c->n] = copy;
    c->lens[c->n++] = len;
    return 0;
}

int history_snapshot(store *st, const char *doc, int64_t n, uint8_t **snap, size_t *len) {
    chain c = {0};
    int rc = store_version_chain(st, doc, n, chain_add, &c);
    if (rc == 1 || c.nomem) rc = STORE_ENOMEM;
    if (rc == STORE_OK && c.n == 0) rc = STORE_ESCHEMA;
    if (rc == STORE_OK) {
        int yrc = ysnap_union((const uint8_t *const *)c.parts, c.lens, c.n, snap, len);
        rc = yrc == YSNAP_OK ? STORE_OK : yrc == YSNAP_ERR_NOMEM ? STORE_ENOMEM : STORE_ESCHEMA;
    }
    for (size_t i = 0; i < c.n; i++) free(c.parts[i]);
    free(c.parts);
    free(c.lens);
    return rc;
}

/* ---- taking versions ---------------------------------------------------------- */

typedef struct {
    ydoc *doc;
    size_t count;
    int err;
} replay;

static int replay_one(void *ud, const uint8_t *u, size_t len) {
    replay *r = ud;
    int rc = ydoc_apply_update(r->doc, u, len, NULL);
    if (rc != Y_OK) {
        r->err = rc;
        return 1;
    }
    r->count++;
    return 0;
}

/* The note's document as its log holds it now (gc off); *doc NULL when the
 * log is empty (purged). */
static int load_doc(store *st, const char *id, ydoc **doc) {
    ydoc_options opt = {.gc = false};
    replay r = {.doc = ydoc_new(&opt)};
    if (r.doc == NULL) return STORE_ENOMEM;
    int rc = store_doc_updates(st, id, replay_one, &r);
    if (rc == 1) rc = r.err == Y_ERR_NOMEM ? STORE_ENOMEM : STORE_EINVAL;
    if (rc != STORE_OK || r.count == 0) {
        ydoc_free(r.doc);
        *doc = NULL;
        return rc;
    }
    *doc = r.doc;
    return STORE_OK;
}

/* Takes the version burst b is due for. */
static int take_version(store *st, const store_burst *b) {
    ydoc *doc = NULL;
    uint8_t *snap = NULL, *prev = NULL, *payload = NULL;
    size_t snap_len = 0, prev_len = 0, payload_len = 0;
    store_version *last = NULL;
    size_t nlast = 0;
    store_txn *t = NULL;
    bool keyframe = false;
    int rc = load_doc(st, b->doc, &doc);
    if (rc != STORE_OK) goto out;
    if (doc != NULL && ydoc_snapshot(doc, &snap, &snap_len) != Y_OK) {
        rc = STORE_ENOMEM;
        goto out;
    }
    if (doc != NULL) rc = store_version_list(st, b->doc, INT64_MAX, 1, &last, &nlast);
    if (rc != STORE_OK) goto out;
    store_version v = {.n = 1,
                       .base = 1,
                       .created = b->last_at,
                       .author = b->last_user,
                       .restored_from = b->restored_from};
    if (nlast == 1) {
        rc = history_snapshot(st, b->doc, last[0].n, &prev, &prev_len);
        if (rc != STORE_OK) goto out;
        v.n = last[0].n + 1;
        keyframe = v.n - last[0].base >= HISTORY_KEYFRAME_EVERY;
        v.base = keyframe ? v.n : last[0].base;
    } else {
        keyframe = true;
    }
    if (doc != NULL) {
        /* The part that is new since the last version; nothing new (an
         * event seen twice, an edit that changed nothing): no version. */
        uint8_t *delta = NULL;
        size_t delta_len = 0;
        int yrc = ysnap_diff(prev, prev_len, snap, snap_len, &delta, &delta_len);
        if (yrc != YSNAP_OK) {
            rc = yrc == YSNAP_ERR_NOMEM ? STORE_ENOMEM : STORE_ESCHEMA;
            goto out;
        }
        bool empty = prev != NULL && delta_len == 2 && delta[0] == 0 && delta[1] == 0;
        if (empty) {
            free(delta);
        } else if (keyframe) {
            free(delta);
            const uint8_t *parts[] = {snap};
            size_t lens[] = {snap_len};
            yrc = ysnap_union(parts, lens, 1, &payload, &payload_len);
            if (yrc != YSNAP_OK) {
                rc = STORE_ENOMEM;
                goto out;
            }
        } else {
            payload = delta;
            payload_len = delta_len;
        }
    }
    t = store_txn_new();
    if (t == NULL ||
        (payload != NULL &&
         store_txn_put_version(t, b->vault, b->doc, &v, payload, payload_len) != STORE_OK) ||
        store_txn_burst_done(t, b->vault, b->doc, b->last_at) != STORE_OK) {
        store_txn_free(t);
        rc = STORE_ENOMEM;
        goto out;
    }
    rc = store_commit(st, t, NULL);
    if (rc == STORE_OK && payload != NULL)
        vlog(VLOG_DEBUG, "version taken",
             json_pack("{s:s, s:I, s:I, s:I, s:b, s:I}", "doc", b->doc, "n", (json_int_t)v.n,
                       "author", (json_int_t)v.author, "bytes", (json_int_t)payload_len, "keyframe",
                       keyframe, "restored_from", (json_int_t)v.restored_from));
out:
    if (rc != STORE_OK)
        vlog(VLOG_WARN, "version not taken",
             json_pack("{s:s, s:s}", "doc", b->doc, "error", store_strerror(rc)));
    ydoc_free(doc);
    yfree(snap);
    free(prev);
    free(payload);
    free(last);
    return rc;
}

int history_take_due(store *st, int64_t now, int64_t idle_ms, int64_t max_ms, int *taken) {
    store_burst *b = NULL;
    size_t n = 0;
    int count = 0;
    int rc = store_bursts_due(st, now - idle_ms, now - max_ms, TAKE_BATCH, &b, &n);
    int first = rc;
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        int trc = take_version(st, &b[i]);
        if (trc == STORE_OK)
            count++;
        else if (first == STORE_OK)
            first = trc;
    }
    free(b);
    if (taken != NULL) *taken = count;
    return first;
}

/* ---- the consumer and the taker thread ------------------------------------------ */

struct history {
    store *st;
    struct vmetrics *metrics; /* may be NULL */
    int64_t idle_ms, max_ms;
    vconsumer *consumer;
    pthread_t taker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, kick; /* under mu */
};

static void kick(history *h) {
    pthread_mutex_lock(&h->mu);
    h->kick = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* note.created / note.updated: an edit of a note by a user at a time. The
 * edits of one note in a batch become one burst (as store_burst_note would
 * have made of them one by one: first_* from the first, last_* from the
 * latest, the last restore kept), written once: one write per note and
 * batch, not one per edit. */
static int on_events(void *ud, store *st, const store_event *ev, size_t n) {
    history *h = ud;
    bool restore = false;
    store_burst *b = malloc(n * sizeof(*b));
    if (b == NULL) return -1; /* offered again later */
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ev[i].type, "note.updated") != 0 && strcmp(ev[i].type, "note.created") != 0)
            continue;
        json_t *j = json_loads(ev[i].json, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        int64_t user = json_integer_value(json_object_get(j, "user"));
        int64_t from = json_integer_value(json_object_get(j, "restoredFrom"));
        if (id != NULL && strlen(id) == 32) {
            size_t k = 0;
            while (k < nb && memcmp(b[k].doc, id, 33) != 0) k++;
            if (k == nb) {
                b[nb++] = (store_burst){.first_at = ev[i].created,
                                        .last_at = ev[i].created,
                                        .first_user = user,
                                        .last_user = user,
                                        .restored_from = from};
                memcpy(b[k].doc, id, 33);
                memcpy(b[k].vault, ev[i].vault, 33);
            } else {
                if (ev[i].created >= b[k].last_at) {
                    b[k].last_at = ev[i].created;
                    b[k].last_user = user;
                }
                if (from != 0) b[k].restored_from = from;
            }
            if (from != 0) restore = true;
        }
        json_decref(j);
    }
    int rc = STORE_OK;
    for (size_t k = 0; k < nb; k++) {
        rc = store_burst_note(st, &b[k]);
        if (rc != STORE_OK && rc != STORE_EINVAL) break;
        rc = STORE_OK;
    }
    free(b);
    if (rc != STORE_OK) return -1; /* offered again later */
    if (restore) kick(h);
    return 0;
}

static void *taker_main(void *arg) {
    history *h = arg;
    /* Look often enough that neither bound is overshot by much. */
    int64_t tick = (h->idle_ms < h->max_ms ? h->idle_ms : h->max_ms) / 4;
    if (tick < 10) tick = 10;
    if (tick > 1000) tick = 1000;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        if (!h->kick) {
            struct timespec ts;
            vclock_deadline(CLOCK_REALTIME, tick, &ts);
            pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        }
        h->kick = false;
        if (h->stop) break;
        pthread_mutex_unlock(&h->mu);
        int taken = 0;
        int rc = history_take_due(h->st, wall_ms(), h->idle_ms, h->max_ms, &taken);
        if (taken > 0 && h->metrics != NULL)
            vmetrics_count(h->metrics, TAKEN, TAKEN_HELP, (double)taken);
        if (rc != STORE_OK && rc != STORE_ECLOSED)
            vlog(VLOG_WARN, "versions pass failed",
                 json_pack("{s:s}", "error", store_strerror(rc)));
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

int history_start(store *st, struct vmetrics *metrics, int64_t idle_ms, int64_t max_ms,
                  int interval_ms, history **out) {
    history *h = calloc(1, sizeof(*h));
    if (h == NULL) return STORE_ENOMEM;
    h->st = st;
    h->metrics = metrics;
    if (metrics != NULL) vmetrics_count(metrics, TAKEN, TAKEN_HELP, 0);
    h->idle_ms = idle_ms;
    h->max_ms = max_ms;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->taker, NULL, taker_main, h) != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return STORE_ENOMEM;
    }
    vconsumer_opts co = {.batch = 10000, .interval_ms = interval_ms};
    int rc = vconsumer_start(st, "versions", on_events, h, &co, &h->consumer);
    if (rc != STORE_OK) {
        h->consumer = NULL;
        history_stop(h);
        return rc;
    }
    *out = h;
    return STORE_OK;
}

void history_stop(history *h) {
    if (h == NULL) return;
    vconsumer_stop(h->consumer);
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->taker, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* ---- routes ------------------------------------------------------------------------ */

static void db_failed(vctx *ctx) {
    vhttp_send_problem(ctx, 503, "Service Unavailable", "The database did not answer.");
}

/* A version number from the route or a query: 1..INT64_MAX; -1 if not. */
static int64_t parse_n(const char *s) {
    if (s == NULL || *s == '\0' || strlen(s) > 18) return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 ? v : -1;
}

static json_t *version_json(store *st, const store_version *v) {
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:I}", "n", (json_int_t)v->n, "created", (json_int_t)v->created,
                  "author", (json_int_t)v->author, "bytes", (json_int_t)v->size);
    store_user u;
    if (v->author != 0 && store_user_by_id(st, v->author, &u) == STORE_OK) {
        json_object_set_new(o, "authorName", json_string(u.name[0] ? u.name : u.email));
        store_user_free(&u);
    }
    if (v->restored_from != 0)
        json_object_set_new(o, "restoredFrom", json_integer(v->restored_from));
    return o;
}

void history_route_list(vctx *ctx) {
    store_file f;
    if (notes_file(ctx, &f, true) != 0) return;
    int64_t before = INT64_MAX;
    int64_t limit = LIST_DEFAULT;
    const char *qb = vctx_query(ctx, "before"), *ql = vctx_query(ctx, "limit");
    if ((qb != NULL && (before = parse_n(qb)) < 0) ||
        (ql != NULL && ((limit = parse_n(ql)) < 0 || limit > LIST_MAX))) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "before is a version number; limit is 1 to 200.");
        store_file_free(&f);
        return;
    }
    store_version *v = NULL;
    size_t n = 0;
    if (store_version_list(ctx->st, f.id, before, (size_t)limit, &v, &n) != STORE_OK) {
        store_file_free(&f);
        db_failed(ctx);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, version_json(ctx->st, &v[i]));
    json_t *out = json_pack("{s:s, s:o}", "note", f.id, "versions", arr);
    /* The next page starts below the last one shown, if any is left. */
    json_object_set_new(
        out, "next", n == (size_t)limit && v[n - 1].n > 1 ? json_integer(v[n - 1].n) : json_null());
    free(v);
    store_file_free(&f);
    vhttp_send_json(ctx, 200, out);
}

/* The text of version n of note f (caller frees with yfree). Answers the
 * request (404 no such version, 503) and returns -1 on failure. */
static int text_at(vctx *ctx, const store_file *f, int64_t n, store_version *v, char **text,
                   size_t *len) {
    int rc = n > 0 ? store_version_get(ctx->st, f->id, n, v) : STORE_ENOTFOUND;
    if (rc == STORE_ENOTFOUND) {
        vhttp_send_problem(ctx, 404, "Not Found", "No such version of this note.");
        return -1;
    }
    uint8_t *snap = NULL;
    size_t snap_len = 0;
    vdoc *d = NULL;
    if (rc == STORE_OK) rc = history_snapshot(ctx->st, f->id, n, &snap, &snap_len);
    if (rc == STORE_OK) rc = vdocs_get(ctx->docs, f->vault, f->id, &d);
    if (rc != STORE_OK) {
        free(snap);
        db_failed(ctx);
        return -1;
    }
    int yrc = ytext_string_at(ydoc_get(d->doc, "content", YTYPE_TEXT), snap, snap_len, text, len);
    free(snap);
    if (yrc != Y_OK) {
        vlog(
            VLOG_ERROR, "version could not be rendered",
            json_pack("{s:s, s:I, s:s}", "doc", f->id, "n", (json_int_t)n, "error", yerr_str(yrc)));
        vhttp_send_problem(ctx, 500, "Internal Server Error",
                           "This version could not be rendered.");
        return -1;
    }
    return 0;
}

void history_route_get(vctx *ctx) {
    store_file f;
    if (notes_file(ctx, &f, true) != 0) return;
    store_version v;
    char *text = NULL;
    size_t len = 0;
    if (text_at(ctx, &f, parse_n(vctx_param(ctx, "v")), &v, &text, &len) == 0) {
        json_t *out = version_json(ctx->st, &v);
        json_object_set_new(out, "note", json_string(f.id));
        json_object_set_new(out, "content", json_stringn(text, len));
        vhttp_send_json(ctx, 200, out);
        yfree(text);
    }
    store_file_free(&f);
}

/* The note's current text (caller frees with yfree), or answers and -1. */
static int current_text(vctx *ctx, const store_file *f, char **text, size_t *len,
                        uint64_t *version) {
    vdoc *d = NULL;
    if (vdocs_get(ctx->docs, f->vault, f->id, &d) != STORE_OK ||
        ytext_string(ydoc_get(d->doc, "content", YTYPE_TEXT), text, len) != Y_OK) {
        db_failed(ctx);
        return -1;
    }
    if (version != NULL) *version = d->version;
    return 0;
}

void history_route_diff(vctx *ctx) {
    store_file f;
    if (notes_file(ctx, &f, true) != 0) return;
    const char *to = vctx_query(ctx, "to");
    if (to == NULL) to = "current";
    bool to_current = strcmp(to, "current") == 0;
    int64_t w = to_current ? 0 : parse_n(to);
    char *a = NULL, *b = NULL, *diff = NULL;
    size_t alen = 0, blen = 0, dlen = 0;
    store_version va, vb;
    if (!to_current && w < 0) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "to is a version number or \"current\".");
        goto out;
    }
    int64_t n = parse_n(vctx_param(ctx, "v"));
    if (text_at(ctx, &f, n, &va, &a, &alen) != 0) goto out;
    if (to_current ? current_text(ctx, &f, &b, &blen, NULL) != 0
                   : text_at(ctx, &f, w, &vb, &b, &blen) != 0)
        goto out;
    char la[32], lb[32];
    snprintf(la, sizeof(la), "v%" PRId64, n);
    if (to_current)
        snprintf(lb, sizeof(lb), "current");
    else
        snprintf(lb, sizeof(lb), "v%" PRId64, w);
    linediff_stats stats;
    if (linediff_unified(a, alen, b, blen, 3, la, lb, &diff, &dlen, &stats) != LINEDIFF_OK) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        goto out;
    }
    json_t *out = json_pack("{s:I, s:o, s:I, s:I, s:s#}", "from", (json_int_t)n, "to",
                            to_current ? json_string("current") : json_integer(w), "added",
                            (json_int_t)stats.added, "removed", (json_int_t)stats.removed, "diff",
                            diff, (int)dlen);
    vhttp_send_json(ctx, 200, out);
out:
    yfree(a);
    yfree(b);
    free(diff);
    store_file_free(&f);
}

void history_route_restore(vctx *ctx) {
    store_file f;
    if (notes_file(ctx, &f, true) != 0) return;
    store_version v;
    char *text = NULL;
    size_t len = 0;
    int64_t n = parse_n(vctx_param(ctx, "v"));
    if (text_at(ctx, &f, n, &v, &text, &len) == 0) {
        vdoc *d = NULL;
        if (vdocs_get(ctx->docs, f.vault, f.id, &d) != STORE_OK) {
            db_failed(ctx);
        } else {
            /* An edit on the current version: the difference from the text
             * now to the text then, merged like a PUT. */
            json_t *extra = json_pack("{s:I}", "restoredFrom", (json_int_t)n);
            notes_write_text(ctx, &f, d->version, text, len, extra);
            json_decref(extra);
        }
        yfree(text);
    }
    store_file_free(&f);
}
