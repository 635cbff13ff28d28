/*
 * vchan.c - vault channel connections (see vchan.h; wire format in
 * src/sync/vchan.h).
 *
 * A connection (vconn) is born in vchan_route() and dies only in
 * conn_gone(), the hub's gone callback (vws.h: the socket closed or
 * failed, or a close the client never answered). Connections of one vault
 * form a group, which lives while it has connections. As in sync.c,
 * sending, closing and the connections' idle memory are vws.h's: messages
 * are queued and go out from the hub's uv_async (whose wake callback also
 * serves the commit queue and the waits below).
 *
 * The commit queue (`q_head`, under `mu`) carries, in the writer thread's
 * order: the updates the store's commit hook reports (pushed to the
 * vault's subscribed connections) and the answers to this module's own
 * commits (vjob: ACK or ERROR 5 to the sender). The hook copies an update
 * only while some vault channel is open (`nconns`); a connection counts
 * from its upgrade, before its HELLO reads the store, so a commit is either
 * visible to that read or pushed after it.
 *
 * Waits: a STEP1 (its STEP2 answer) or an UPDATE that changed nothing (its
 * ACK 0) on a document with commits in flight waits in its connection's
 * list until the document is idle; the docs idle hook only raises
 * `idle_seen`, and waits are served from the async callback.
 *
 * Invariants: every vconn is in its group's list exactly once; a closing
 * connection (w.closing) sends and handles nothing more; a vjob holds its
 * vdoc, which cannot be freed while the job's commit counts in flight;
 * pushes to a connection skip seqs its last CHANGED already covered
 * (skip_upto), so UPDATE/ACK seqs only grow.
 */
#include "server/vchan.h"

#include "server/auth.h"
#include "server/metrics.h"
#include "server/sync.h"
#include "server/vws.h"
#include "sync/vchan.h"
#include "util/log.h"
#include "util/vpath.h"

#include <h2o/websocket.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WAITS 4096 /* answers one connection may have waiting */

enum {
    CLOSE_GOING_AWAY = 1001,
    CLOSE_PROTOCOL_ERROR = 1002,
    CLOSE_INTERNAL = 1011,
    CLOSE_TRY_AGAIN_LATER = 1013
};

typedef struct vgroup vgroup;

/* An answer waiting for its document to have no commit in flight. */
typedef struct vwait {
    char doc[33];
    uint64_t ref;   /* ACK 0 for this ref; 0: a STEP2 answer */
    uint8_t *bytes; /* STEP1's state vector, or the UPDATE that changed nothing */
    size_t len;
    struct vwait *next;
} vwait;

typedef struct vconn {
    vchan *vc;
    vgroup *group;
    vws w;       /* its WebSocket (vws.h: no wslay context while idle) */
    uint64_t id;  /* also the origin of its commits (store_txn_set_origin) */
    int64_t user; /* who signed in: the author of its edits (events carry it) */
    bool editor;
    bool hello;        /* subscribed */
    int64_t skip_upto; /* pushes up to this seq are covered by the last CHANGED */
    vwait *waits, *waits_tail;
    size_t nwaits;
    struct vconn *next; /* in the group */
} vconn;

struct vgroup {
    char vault[33];
    vconn *conns;
    struct vgroup *next;
};

/* A commit in flight for a vault channel's UPDATE. */
typedef struct vjob {
    vdoc *d;
    char vault[33];
    char doc[33];
    uint64_t conn_id;
    uint64_t ref;
    uint8_t *update; /* what was committed, for y-websocket rooms */
    size_t len;
} vjob;

/* One item of the commit queue: a committed update to push, or a job's
 * answer. */
typedef struct ventry {
    struct ventry *next;
    vchan *vc;
    vjob *job; /* NULL: a push */
    store_result res;
    char vault[33];
    char doc[33];
    int64_t seq;
    uint64_t origin;
    size_t len;
    uint8_t update[];
} ventry;

struct vchan {
    vhttp *srv;
    uv_loop_t *loop;
    store *st;
    vdocs *docs;
    vgroup *groups;
    uint64_t next_conn_id;
    vws_hub hub; /* its connections (vws.h) */
    pthread_mutex_t mu;
    ventry *q_head, *q_tail;
    atomic_size_t nconns;
    atomic_bool lost; /* a push could not be queued: subscribers must resync */
    bool idle_seen;
    bool shutting_down;
};

/* ---- groups ---------------------------------------------------------------- */

static vgroup *find_group(vchan *vc, const char *vault) {
    for (vgroup *g = vc->groups; g != NULL; g = g->next)
        if (strcmp(g->vault, vault) == 0) return g;
    return NULL;
}

static vconn *find_conn(vchan *vc, const char *vault, uint64_t id) {
    vgroup *g = find_group(vc, vault);
    for (vconn *c = g != NULL ? g->conns : NULL; c != NULL; c = c->next)
        if (c->id == id) return c;
    return NULL;
}

/* ---- sending ----------------------------------------------------------------- */

/* The hub's closing callback: the log line of a close. */
static void log_close(void *data, int code, const char *reason) {
    const vconn *c = data;
    vlog(code == CLOSE_GOING_AWAY ? VLOG_DEBUG : VLOG_INFO, "vault channel closed by the server",
         json_pack("{s:s, s:I, s:i, s:s}", "vault", c->group->vault, "conn", (json_int_t)c->id,
                   "code", code, "reason", reason));
}

/* Starts the closing handshake; the connection sends and handles nothing
 * more. */
static void close_conn(vconn *c, int code, const char *reason) { vws_shut(&c->w, code, reason); }

/* Queues one message (copied). A connection whose queue would pass the cap
 * is closed instead. */
static void send_bytes(vconn *c, const uint8_t *msg, size_t len) {
    (void)vws_send(&c->w, msg, len);
}

/* Sends an encoded message and frees it; an encoder failure closes c. */
static void send_encoded(vconn *c, int rc, uint8_t *msg, size_t len) {
    if (rc != YPROTO_OK)
        close_conn(c, CLOSE_INTERNAL, "out of memory");
    else
        send_bytes(c, msg, len);
    free(msg);
}

static void send_ack(vconn *c, uint64_t ref, int64_t seq) {
    uint8_t *msg = NULL;
    size_t len = 0;
    int rc = vchan_encode_ack(ref, (uint64_t)seq, &msg, &len);
    send_encoded(c, rc, msg, len);
}

static void send_error(vconn *c, uint64_t ref, int code, const char *doc, const char *reason) {
    uint8_t *msg = NULL;
    size_t len = 0;
    int rc = vchan_encode_error(ref, (uint64_t)code, doc, reason, &msg, &len);
    send_encoded(c, rc, msg, len);
}

/* Sends STEP2: what a client with state vector sv lacks of d. */
static void send_step2(vconn *c, vdoc *d, const char *doc, const uint8_t *sv, size_t sv_len) {
    uint8_t *u = NULL, *msg = NULL;
    size_t ulen = 0, len = 0;
    /* Zero bytes are taken as the empty state vector (Yjs writes it 00). */
    int rc = ydoc_encode_state_as_update(d->doc, sv_len > 0 ? sv : NULL, sv_len, &u, &ulen);
    if (rc != Y_OK) {
        close_conn(c, rc == Y_ERR_NOMEM ? CLOSE_INTERNAL : CLOSE_PROTOCOL_ERROR,
                   rc == Y_ERR_NOMEM ? "out of memory" : "the state vector is malformed");
        return;
    }
    rc = vchan_encode_step2(doc, u, ulen, &msg, &len);
    yfree(u);
    send_encoded(c, rc, msg, len);
}

/* ---- waiting for durable content ------------------------------------------ */

static void wait_free(vwait *w) {
    free(w->bytes);
    free(w);
}

/* Queues an answer for when `doc` is idle. Returns 0, or -1 (c closed). */
static int wait_add(vconn *c, const char *doc, uint64_t ref, const uint8_t *bytes, size_t len) {
    if (c->nwaits >= MAX_WAITS) {
        close_conn(c, CLOSE_TRY_AGAIN_LATER, "too many requests waiting; reconnect later");
        return -1;
    }
    vwait *w = calloc(1, sizeof(*w));
    if (w != NULL && len > 0 && (w->bytes = malloc(len)) == NULL) {
        free(w);
        w = NULL;
    }
    if (w == NULL) {
        close_conn(c, CLOSE_INTERNAL, "out of memory");
        return -1;
    }
    memcpy(w->doc, doc, 33);
    w->ref = ref;
    if (len > 0) memcpy(w->bytes, bytes, len);
    w->len = len;
    if (c->waits_tail != NULL)
        c->waits_tail->next = w;
    else
        c->waits = w;
    c->waits_tail = w;
    c->nwaits++;
    return 0;
}

/* The ACK 0 of an UPDATE that changed nothing, now that the commits it
 * matched are answered. One of them may have failed (the document was then
 * reloaded from its log): the update is tried again, and if it brings
 * something now, nothing is durable and the client must send it later. */
static void answer_unchanged(vconn *c, vdoc *d, const vwait *w) {
    uint8_t *changed = NULL;
    size_t clen = 0;
    size_t pending = ydoc_pending_structs(d->doc);
    bool dels = ydoc_pending_deletes(d->doc);
    int rc = vdocs_apply_remote(d, w->bytes, w->len, &changed, &clen);
    bool parked = ydoc_pending_structs(d->doc) > pending || (ydoc_pending_deletes(d->doc) && !dels);
    if (rc == Y_OK && changed == NULL && !parked) {
        send_ack(c, w->ref, 0);
        return;
    }
    free(changed);
    if (rc == Y_OK) d->broken = true; /* not committed: reload it from the log */
    /* The earlier change may have failed because the note was purged (its
     * projection row is gone once the purge committed, which the store
     * answers before the commits after it). */
    store_file f;
    int frc =
        strcmp(w->doc, c->group->vault) != 0 ? store_file_get(c->vc->st, w->doc, &f) : STORE_EINVAL;
    if (frc == STORE_OK) store_file_free(&f);
    if (frc == STORE_ENOTFOUND) {
        send_error(c, w->ref, VCHAN_ERR_NO_DOC, w->doc,
                   "no such note in this vault: it was purged from the trash");
        return;
    }
    send_error(c, w->ref, VCHAN_ERR_SERVER, w->doc,
               "an earlier change of this document could not be saved; send this again later");
}

/* Serves every wait whose document is idle now. */
static void serve_waits(vchan *vc) {
    for (vgroup *g = vc->groups; g != NULL; g = g->next) {
        for (vconn *c = g->conns; c != NULL; c = c->next) {
            vwait **p = &c->waits, *prev = NULL;
            while (*p != NULL && !c->w.closing) {
                vwait *w = *p;
                vdoc *d = NULL;
                int rc = vdocs_get(vc->docs, g->vault, w->doc, &d);
                if (rc != STORE_OK) {
                    close_conn(c, CLOSE_INTERNAL, "a document could not be loaded");
                    break;
                }
                if (d->inflight > 0) {
                    prev = w;
                    p = &w->next;
                    continue;
                }
                if (w->ref != 0)
                    answer_unchanged(c, d, w);
                else
                    send_step2(c, d, w->doc, w->bytes, w->len);
                *p = w->next;
                if (c->waits_tail == w) c->waits_tail = prev;
                c->nwaits--;
                wait_free(w);
            }
        }
    }
}

static void on_doc_idle(void *ud, const vdoc *d) {
    (void)d;
    vchan *vc = ud;
    vc->idle_seen = true;
    vws_hub_wake(&vc->hub);
}

/* ---- the commit queue -------------------------------------------------------- */

static void enqueue(vchan *vc, ventry *e) {
    pthread_mutex_lock(&vc->mu);
    if (vc->q_tail != NULL)
        vc->q_tail->next = e;
    else
        vc->q_head = e;
    vc->q_tail = e;
    pthread_mutex_unlock(&vc->mu);
    vws_hub_wake(&vc->hub);
}

/* The store's commit hook (writer thread): copies the update for the loop
 * while any vault channel is open. */
static void on_commit(void *ud, const store_committed *ci) {
    vchan *vc = ud;
    if (atomic_load(&vc->nconns) == 0) return;
    ventry *e = calloc(1, sizeof(*e) + ci->len);
    if (e == NULL) { /* no memory to log with either: the loop closes the subscribers */
        atomic_store(&vc->lost, true);
        vws_hub_wake(&vc->hub);
        return;
    }
    snprintf(e->vault, sizeof(e->vault), "%s", ci->vault);
    snprintf(e->doc, sizeof(e->doc), "%s", ci->doc);
    e->seq = ci->seq;
    e->origin = ci->origin;
    e->len = ci->len;
    memcpy(e->update, ci->update, ci->len);
    enqueue(vc, e);
}

/* Closes every subscribed connection of `vault` (NULL: of every vault) with
 * 1011: a push they needed was lost, and since a client advances its
 * `since` with what it receives, it must reconnect to resync. */
static void close_subscribers(vchan *vc, const char *vault) {
    for (vgroup *g = vc->groups; g != NULL; g = g->next) {
        if (vault != NULL && strcmp(g->vault, vault) != 0) continue;
        for (vconn *c = g->conns; c != NULL; c = c->next)
            if (c->hello)
                close_conn(c, CLOSE_INTERNAL, "a change could not be relayed; reconnect to resync");
    }
}

/* A job's commit was answered (writer thread). */
static void on_job_done(void *ud, const store_result *res) {
    ventry *e = ud;
    e->res = *res;
    enqueue(e->vc, e);
}

static void push(vchan *vc, const ventry *e) {
    vgroup *g = find_group(vc, e->vault);
    if (g == NULL) return;
    uint8_t *msg = NULL;
    size_t len = 0;
    bool encoded = false;
    for (vconn *c = g->conns; c != NULL; c = c->next) {
        if (!c->hello || c->w.closing || c->id == e->origin || e->seq <= c->skip_upto) continue;
        if (!encoded) {
            if (vchan_encode_push(e->doc, (uint64_t)e->seq, e->update, e->len, &msg, &len) !=
                YPROTO_OK) {
                close_subscribers(vc, e->vault);
                return;
            }
            encoded = true;
        }
        send_bytes(c, msg, len);
    }
    free(msg);
}

static void job_done(vchan *vc, vjob *j, const store_result *res) {
    bool ok = res->err == STORE_OK;
    vmetrics_commit(vhttp_metrics(vc->srv), res->commit_ms, res->batch_size);
    if (ok) vdocs_committed(j->d, res->vault_seq);
    vdocs_answered(vc->docs, j->d, ok);
    vconn *c = find_conn(vc, j->vault, j->conn_id);
    if (ok) {
        if (c != NULL) send_ack(c, j->ref, res->vault_seq);
        vsync_committed(vhttp_sync(vc->srv), j->doc, j->update, j->len);
    } else {
        vlog(VLOG_ERROR, "vault channel commit failed",
             json_pack("{s:s, s:s}", "doc", j->doc, "error", store_strerror(res->err)));
        bool index = strcmp(j->doc, j->vault) == 0;
        if (c != NULL && res->err == STORE_ENOTFOUND) /* the store's tombstone refused it */
            send_error(c, j->ref, index ? VCHAN_ERR_BAD_INDEX : VCHAN_ERR_NO_DOC, j->doc,
                       index ? "an entry names a note that was purged from the trash"
                             : "no such note in this vault: it was purged from the trash");
        else if (c != NULL)
            send_error(c, j->ref, VCHAN_ERR_SERVER, j->doc,
                       "the change could not be saved; nothing was changed: send it again later");
        vsync_committed(vhttp_sync(vc->srv), j->doc, NULL, 0);
    }
    free(j->update);
    free(j);
}

static void drain(vchan *vc) {
    pthread_mutex_lock(&vc->mu);
    ventry *e = vc->q_head;
    vc->q_head = vc->q_tail = NULL;
    pthread_mutex_unlock(&vc->mu);
    while (e != NULL) {
        ventry *next = e->next;
        if (e->job != NULL)
            job_done(vc, e->job, &e->res);
        else
            push(vc, e);
        free(e);
        e = next;
    }
}

/* ---- the vault index document ------------------------------------------------ */

/* The fields of one index entry, as read from its Y.Map. */
typedef struct {
    bool is_map;
    bool has_path, has_kind, has_created, has_trashed;
    bool path_is_str, kind_is_str, created_is_num, trashed_is_num;
    const char *path; /* borrowed from the document */
    size_t path_len;
    const char *kind;
    size_t kind_len;
    double created, trashed;
} ientry;

static void entry_read(const ytype *files, const char *id, ientry *e) {
    memset(e, 0, sizeof(*e));
    yvalue v;
    if (ymap_get(files, id, &v) != Y_OK || v.kind != YVALUE_TYPE ||
        ytype_kind_of(v.type) != YTYPE_MAP)
        return;
    e->is_map = true;
    ytype *m = v.type;
    if (ymap_get(m, "path", &v) == Y_OK) {
        e->has_path = true;
        if (v.kind == YVALUE_ANY && v.any.kind == YANY_STRING) {
            e->path_is_str = true;
            e->path = v.any.u.str.ptr;
            e->path_len = v.any.u.str.len;
        }
    }
    if (ymap_get(m, "kind", &v) == Y_OK) {
        e->has_kind = true;
        if (v.kind == YVALUE_ANY && v.any.kind == YANY_STRING) {
            e->kind_is_str = true;
            e->kind = v.any.u.str.ptr;
            e->kind_len = v.any.u.str.len;
        }
    }
    if (ymap_get(m, "created", &v) == Y_OK) {
        e->has_created = true;
        if (v.kind == YVALUE_ANY && v.any.kind == YANY_NUMBER) {
            e->created_is_num = true;
            e->created = v.any.u.num;
        }
    }
    if (ymap_get(m, "trashed", &v) == Y_OK) {
        e->has_trashed = true;
        if (v.kind == YVALUE_ANY && v.any.kind == YANY_NUMBER) {
            e->trashed_is_num = true;
            e->trashed = v.any.u.num;
        }
    }
}

static bool str_eq(const char *a, size_t alen, const char *b, size_t blen) {
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Whether the fields a projection depends on differ. */
static bool entry_differs(const ientry *a, const ientry *b) {
    return a->is_map != b->is_map || a->has_path != b->has_path ||
           a->path_is_str != b->path_is_str ||
           !str_eq(a->path, a->path_len, b->path, b->path_len) || a->has_kind != b->has_kind ||
           !str_eq(a->kind, a->kind_len, b->kind, b->kind_len) ||
           a->has_created != b->has_created || a->created != b->created ||
           a->has_trashed != b->has_trashed || a->trashed != b->trashed;
}

static bool kind_is(const ientry *e, const char *k) {
    return e->kind_is_str && str_eq(e->kind, e->kind_len, k, strlen(k));
}

static bool time_ok(double t) { return isfinite(t) && t >= 0 && t <= 9007199254740991.0; }

/* Checks a changed entry; returns NULL or why it is refused (written into
 * buf). `old` is the entry before the change (is_map false: new). */
static const char *entry_check(vchan *vc, const char *vault, const char *id, const ientry *e,
                               const ientry *old, char *buf, size_t n) {
    if (!vchan_doc_ok(id)) return "a file id is 32 lowercase hex digits";
    if (!e->is_map) return "an index entry is a Y.Map";
    if (!e->path_is_str) return "an index entry needs a string path";
    size_t where = 0;
    vpath_err perr = vpath_validate(e->path, e->path_len, VPATH_FILE, &where);
    if (perr != VPATH_OK) {
        snprintf(buf, n, "bad path (at byte %zu): %s", where, vpath_strerror(perr));
        return buf;
    }
    if (!kind_is(e, "note") && !kind_is(e, "file")) return "kind is \"note\" or \"file\"";
    if (old->is_map && old->kind_is_str && !str_eq(e->kind, e->kind_len, old->kind, old->kind_len))
        return "the kind of a file cannot change";
    if (!e->created_is_num || !time_ok(e->created)) return "created is a time in milliseconds";
    if (e->has_trashed && (!e->trashed_is_num || !time_ok(e->trashed)))
        return "trashed is a time in milliseconds, or absent";
    if (!old->is_map) { /* a new id must not name anything outside this vault */
        if (strcmp(id, vault) == 0) return "a file id cannot be the vault's id";
        store_file f;
        int rc = store_file_get(vc->st, id, &f);
        if (rc == STORE_OK) {
            bool foreign = strcmp(f.vault, vault) != 0;
            store_file_free(&f);
            if (foreign) return "this file id is taken";
        } else if (rc != STORE_ENOTFOUND) {
            return "";
        }
        store_vault v;
        rc = store_vault_get(vc->st, id, 0, &v);
        if (rc == STORE_OK) {
            store_vault_free(&v);
            return "this file id is taken";
        }
        if (rc != STORE_ENOTFOUND) return "";
    }
    return NULL;
}

/* ---- receiving ------------------------------------------------------------------ */

/* A private copy of d's document (gc off), for trying an update on. */
static int scratch_of(const ydoc *doc, ydoc **out) {
    ydoc_options opt = {.gc = false};
    ydoc *s = ydoc_new(&opt);
    if (s == NULL) return Y_ERR_NOMEM;
    uint8_t *whole = NULL;
    size_t wlen = 0;
    int rc = ydoc_encode_state_as_update(doc, NULL, 0, &whole, &wlen);
    if (rc == Y_OK) rc = ydoc_apply_update(s, whole, wlen, NULL);
    yfree(whole);
    if (rc != Y_OK) {
        ydoc_free(s);
        return rc;
    }
    *out = s;
    return Y_OK;
}

/* Applies u to the scratch copy: Y_OK with *missing telling whether
 * something waits for dependencies, or the engine's error. */
static int try_update(ydoc *scratch, const uint8_t *u, size_t len, bool *missing) {
    size_t before = ydoc_pending_structs(scratch);
    bool dels_before = ydoc_pending_deletes(scratch);
    int rc = ydoc_apply_update(scratch, u, len, NULL);
    if (rc != Y_OK) return rc;
    *missing =
        ydoc_pending_structs(scratch) > before || (ydoc_pending_deletes(scratch) && !dels_before);
    return Y_OK;
}

/* Closes c for an engine error on its update or state vector. */
static void engine_refused(vconn *c, int rc) {
    close_conn(c, rc == Y_ERR_NOMEM ? CLOSE_INTERNAL : CLOSE_PROTOCOL_ERROR,
               rc == Y_ERR_NOMEM ? "out of memory" : "the update is malformed");
}

static char *text_of(vdoc *d, size_t *len) {
    char *text = NULL;
    ytype *content = ydoc_get(d->doc, "content", YTYPE_TEXT);
    if (content == NULL || ytext_string(content, &text, len) != Y_OK) return NULL;
    return text;
}

/* The projection row of file `id` from its index entry; the title from the
 * note's text (text may be NULL). Returns 0, or -1 out of memory. */
static int projection(const char *vault, const char *id, const ientry *e, const char *text,
                      size_t text_len, store_file *f) {
    memset(f, 0, sizeof(*f));
    snprintf(f->id, sizeof(f->id), "%s", id);
    snprintf(f->vault, sizeof(f->vault), "%s", vault);
    f->path = strndup(e->path, e->path_len);
    if (f->path == NULL) return -1;
    f->is_note = kind_is(e, "note");
    f->created = (int64_t)e->created;
    f->trashed = e->trashed_is_num ? (int64_t)e->trashed : 0;
    f->updated = auth_now_ms();
    char *title = NULL;
    if (vpath_title(text != NULL ? text : "", text != NULL ? text_len : 0, f->path, &title) !=
        VPATH_OK) {
        free(f->path);
        f->path = NULL;
        return -1;
    }
    f->title = title;
    return 0;
}

/* Submits t for c's UPDATE `ref` of d; `changed` (owned) is the change. */
static void submit_job(vconn *c, vdoc *d, uint64_t ref, store_txn *t, uint8_t *changed,
                       size_t clen) {
    vchan *vc = c->vc;
    vjob *j = calloc(1, sizeof(*j));
    ventry *e = calloc(1, sizeof(*e));
    if (j == NULL || e == NULL) {
        free(j);
        free(e);
        store_txn_free(t);
        free(changed);
        d->broken = true; /* memory is ahead of the log: reload it */
        send_error(c, ref, VCHAN_ERR_SERVER, d->id, "out of memory; nothing was changed");
        return;
    }
    j->d = d;
    memcpy(j->vault, c->group->vault, 33);
    memcpy(j->doc, d->id, 33);
    j->conn_id = c->id;
    j->ref = ref;
    j->update = changed;
    j->len = clen;
    e->job = j;
    e->vc = vc;
    store_txn_set_origin(t, c->id);
    const char *fault = getenv("VAULT_FAULT"); /* tests: every vault channel commit fails */
    if (fault != NULL && strstr(fault, "vchan-commit") != NULL) store_txn_fail_for_test(t);
    vdocs_submitted(d);
    if (store_submit(vc->st, t, on_job_done, e) != STORE_OK) {
        store_result res = {.err = STORE_ECLOSED};
        on_job_done(e, &res);
    }
}

/* Appends an event {"id":..,"path":..,"user":..} of `type` to t (no path: none). */
static int add_event(store_txn *t, const char *vault, const char *type, const char *id,
                     const char *path, int64_t user) {
    json_t *ev = path != NULL ? json_pack("{s:s, s:s, s:I}", "id", id, "path", path, "user",
                                          (json_int_t)user)
                              : json_pack("{s:s, s:I}", "id", id, "user", (json_int_t)user);
    char *evs = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    int rc = evs != NULL ? store_txn_event(t, vault, type, evs) : STORE_ENOMEM;
    free(evs);
    return rc;
}

/* An UPDATE of a note document. */
static void update_note(vconn *c, const vchan_msg *m) {
    vchan *vc = c->vc;
    const char *vault = c->group->vault;
    vdoc *idx = NULL, *d = NULL;
    if (vdocs_get(vc->docs, vault, vault, &idx) != STORE_OK) {
        send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc, "the vault could not be loaded");
        return;
    }
    ientry e;
    ytype *files = ydoc_get(idx->doc, "files", YTYPE_MAP);
    if (files != NULL) entry_read(files, m->doc, &e);
    if (files == NULL || !e.is_map || !kind_is(&e, "note") || !e.path_is_str) {
        send_error(c, m->ref, VCHAN_ERR_NO_DOC, m->doc, "no such note in this vault");
        return;
    }
    store_file f;
    int rc = store_file_get(vc->st, m->doc, &f);
    if (rc == STORE_OK) {
        bool foreign = strcmp(f.vault, vault) != 0;
        store_file_free(&f);
        if (foreign) {
            send_error(c, m->ref, VCHAN_ERR_NO_DOC, m->doc, "no such note in this vault");
            return;
        }
    } else if (rc != STORE_ENOTFOUND) {
        send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc, "the database did not answer");
        return;
    }
    if (vdocs_get(vc->docs, vault, m->doc, &d) != STORE_OK) {
        send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc, "the note could not be loaded");
        return;
    }
    uint8_t *changed = NULL;
    size_t clen = 0;
    bool missing = false;
    if (d->inflight == 0 && ydoc_pending_structs(d->doc) == 0 && !ydoc_pending_deletes(d->doc)) {
        /* The document equals its log: apply in place, and should something
         * wait for dependencies, reload it from the log (the exact state
         * before), which is cheaper than a scratch copy on every update. */
        rc = vdocs_apply_remote(d, m->payload, m->payload_len, &changed, &clen);
        if (rc == Y_OK && (ydoc_pending_structs(d->doc) > 0 || ydoc_pending_deletes(d->doc))) {
            missing = true;
            free(changed);
            changed = NULL;
            d->broken = true;
            vdoc *again = NULL;
            (void)vdocs_get(vc->docs, vault, m->doc, &again); /* reloads now (else at next use) */
        }
    } else {
        /* Commits in flight, or structs parked by a y-websocket client: try
         * it on a scratch copy first. */
        ydoc *scratch = NULL;
        rc = scratch_of(d->doc, &scratch);
        if (rc == Y_OK) rc = try_update(scratch, m->payload, m->payload_len, &missing);
        ydoc_free(scratch);
        if (rc == Y_OK && !missing)
            rc = vdocs_apply_remote(d, m->payload, m->payload_len, &changed, &clen);
    }
    if (rc != Y_OK) {
        engine_refused(c, rc);
        return;
    }
    if (missing) {
        send_error(c, m->ref, VCHAN_ERR_MISSING, m->doc,
                   "the update depends on changes the server does not have: send STEP1 for "
                   "this document, then the update again");
        return;
    }
    if (changed == NULL) { /* nothing new: ACK 0 once what it matched is durable */
        if (d->inflight == 0)
            send_ack(c, m->ref, 0);
        else
            wait_add(c, m->doc, m->ref, m->payload, m->payload_len);
        return;
    }
    /* The entry again: idx may have been evicted by the second vdocs_get. */
    vdoc *idx2 = NULL;
    store_file pf;
    size_t tlen = 0;
    char *text = NULL;
    (void)vdocs_title_text(d, changed, clen, &text, &tlen); /* out of memory: the file name */
    bool ok = vdocs_get(vc->docs, vault, vault, &idx2) == STORE_OK &&
              (files = ydoc_get(idx2->doc, "files", YTYPE_MAP)) != NULL;
    if (ok) entry_read(files, m->doc, &e);
    ok = ok && e.is_map && e.path_is_str && projection(vault, m->doc, &e, text, tlen, &pf) == 0;
    yfree(text);
    store_txn *t = ok ? store_txn_new() : NULL;
    bool built = t != NULL &&
                 store_txn_append_update(t, vault, m->doc, changed, clen) == STORE_OK &&
                 store_txn_put_file(t, &pf) == STORE_OK &&
                 add_event(t, vault, "note.updated", m->doc, NULL, c->user) == STORE_OK;
    if (ok) store_file_free(&pf);
    if (!built) {
        store_txn_free(t);
        free(changed);
        d->broken = true;
        send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc,
                   "the change could not be saved; nothing was changed");
        return;
    }
    submit_job(c, d, m->ref, t, changed, clen);
}

/* One changed index entry, collected before anything is applied. */
typedef struct {
    char id[33];
    ientry now, old; /* `old` borrows from the live index: read it before loading notes */
    bool is_new, moved, trash_changed;
    char *text; /* the note's text, for its title */
    size_t text_len;
} ichange;

static void ichanges_free(ichange *ch, size_t n) {
    for (size_t i = 0; i < n; i++) yfree(ch[i].text);
    free(ch);
}

/* An UPDATE of the vault index document. */
static void update_index(vconn *c, const vchan_msg *m) {
    vchan *vc = c->vc;
    const char *vault = c->group->vault;
    vdoc *idx = NULL;
    ydoc *scratch = NULL;
    ichange *ch = NULL;
    size_t nch = 0;
    const char **keys = NULL, **old_keys = NULL;
    size_t nkeys = 0, nold = 0;
    char why[320];
    const char *refused = NULL;
    if (vdocs_get(vc->docs, vault, vault, &idx) != STORE_OK) {
        send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc, "the vault could not be loaded");
        return;
    }
    bool missing = false;
    int rc = scratch_of(idx->doc, &scratch);
    if (rc == Y_OK) rc = try_update(scratch, m->payload, m->payload_len, &missing);
    if (rc != Y_OK) {
        engine_refused(c, rc);
        goto out;
    }
    if (missing) {
        send_error(c, m->ref, VCHAN_ERR_MISSING, m->doc,
                   "the update depends on changes the server does not have: send STEP1 for "
                   "this document, then the update again");
        goto out;
    }
    /* Which entries change, and are they all valid? */
    ytype *sfiles = ydoc_get(scratch, "files", YTYPE_MAP);
    ytype *lfiles = ydoc_get(idx->doc, "files", YTYPE_MAP);
    if (sfiles == NULL || lfiles == NULL) {
        refused = "the index's \"files\" must stay a Y.Map";
        goto refuse;
    }
    if (ymap_keys(sfiles, &keys, &nkeys) != Y_OK || ymap_keys(lfiles, &old_keys, &nold) != Y_OK) {
        send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc, "out of memory; nothing was changed");
        goto out;
    }
    for (size_t i = 0; i < nold; i++) {
        yvalue v;
        if (ymap_get(sfiles, old_keys[i], &v) != Y_OK) {
            refused = "files are trashed (set \"trashed\"), never removed from the index";
            goto refuse;
        }
    }
    ch = calloc(nkeys > 0 ? nkeys : 1, sizeof(*ch));
    if (ch == NULL) {
        send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc, "out of memory; nothing was changed");
        goto out;
    }
    for (size_t i = 0; i < nkeys; i++) {
        ichange *x = &ch[nch];
        snprintf(x->id, sizeof(x->id), "%.32s", keys[i]);
        entry_read(sfiles, keys[i], &x->now);
        entry_read(lfiles, keys[i], &x->old);
        if (!entry_differs(&x->now, &x->old)) continue;
        if (strlen(keys[i]) != 32) {
            refused = "a file id is 32 lowercase hex digits";
            goto refuse;
        }
        refused = entry_check(vc, vault, x->id, &x->now, &x->old, why, sizeof(why));
        if (refused != NULL && refused[0] == '\0') {
            send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc, "the database did not answer");
            goto out;
        }
        if (refused != NULL) goto refuse;
        x->is_new = !x->old.is_map;
        x->moved =
            !x->is_new && !str_eq(x->now.path, x->now.path_len, x->old.path, x->old.path_len);
        x->trash_changed = !x->is_new && x->now.has_trashed != x->old.has_trashed;
        nch++;
    }
    /* Titles come from the notes' texts (loading them may evict idx). */
    for (size_t i = 0; i < nch; i++) {
        if (!kind_is(&ch[i].now, "note") || ch[i].is_new) continue; /* new: no text yet */
        vdoc *d = NULL;
        if (vdocs_get(vc->docs, vault, ch[i].id, &d) != STORE_OK) {
            send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc, "a note could not be loaded");
            goto out;
        }
        ch[i].text = text_of(d, &ch[i].text_len);
    }
    /* Project from the scratch copy, which is the index after the change. */
    store_txn *t = store_txn_new();
    bool ok = t != NULL;
    for (size_t i = 0; i < nch && ok; i++) {
        store_file f;
        if (projection(vault, ch[i].id, &ch[i].now, ch[i].text, ch[i].text_len, &f) != 0) {
            ok = false;
            break;
        }
        ok = store_txn_put_file(t, &f) == STORE_OK;
        const char *kind = f.is_note ? "note" : "file";
        char type[32];
        const char *verb = NULL;
        if (ch[i].is_new)
            verb = "created";
        else if (ch[i].moved)
            verb = "moved";
        if (ok && verb != NULL) {
            snprintf(type, sizeof(type), "%s.%s", kind, verb);
            ok = add_event(t, vault, type, f.id, f.path, c->user) == STORE_OK;
        }
        if (ok && (ch[i].trash_changed || (ch[i].is_new && ch[i].now.has_trashed))) {
            snprintf(type, sizeof(type), "%s.%s", kind,
                     ch[i].now.has_trashed ? "trashed" : "restored");
            ok = add_event(t, vault, type, f.id, f.path, c->user) == STORE_OK;
        }
        store_file_free(&f);
    }
    if (!ok) {
        store_txn_free(t);
        send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc, "out of memory; nothing was changed");
        goto out;
    }
    uint8_t *changed = NULL;
    size_t clen = 0;
    if (vdocs_get(vc->docs, vault, vault, &idx) != STORE_OK ||
        (rc = vdocs_apply_remote(idx, m->payload, m->payload_len, &changed, &clen)) != Y_OK) {
        store_txn_free(t);
        send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc, "the vault could not be loaded");
        goto out;
    }
    if (changed == NULL) {
        store_txn_free(t);
        if (idx->inflight == 0)
            send_ack(c, m->ref, 0);
        else
            wait_add(c, m->doc, m->ref, m->payload, m->payload_len);
        goto out;
    }
    if (store_txn_append_update(t, vault, vault, changed, clen) != STORE_OK) {
        store_txn_free(t);
        free(changed);
        idx->broken = true;
        send_error(c, m->ref, VCHAN_ERR_SERVER, m->doc,
                   "the change could not be saved; nothing was changed");
        goto out;
    }
    submit_job(c, idx, m->ref, t, changed, clen);
    goto out;
refuse:
    send_error(c, m->ref, VCHAN_ERR_BAD_INDEX, m->doc, refused);
out:
    ichanges_free(ch, nch);
    yfree(keys);
    yfree(old_keys);
    ydoc_free(scratch);
}

static void handle_update(vconn *c, const vchan_msg *m) {
    if (!c->editor) {
        /* Still a protocol error when it is not an update at all. */
        uint8_t *sv = NULL;
        size_t sv_len = 0;
        int rc = yupdate_state_vector(m->payload, m->payload_len, &sv, &sv_len);
        yfree(sv);
        if (rc != Y_OK)
            engine_refused(c, rc);
        else
            send_error(c, m->ref, VCHAN_ERR_READ_ONLY, m->doc,
                       "this connection is read-only: viewers may not edit this vault");
        return;
    }
    if (strcmp(m->doc, c->group->vault) == 0)
        update_index(c, m);
    else
        update_note(c, m);
}

/* Whether doc is a document of c's vault: the index, or an entry of it
 * whose id names nothing in another vault. */
static int doc_of_vault(vconn *c, const char *doc, bool *yes) {
    vchan *vc = c->vc;
    const char *vault = c->group->vault;
    *yes = false;
    if (strcmp(doc, vault) == 0) {
        *yes = true;
        return STORE_OK;
    }
    vdoc *idx = NULL;
    int rc = vdocs_get(vc->docs, vault, vault, &idx);
    if (rc != STORE_OK) return rc;
    ytype *files = ydoc_get(idx->doc, "files", YTYPE_MAP);
    yvalue v;
    if (files == NULL || ymap_get(files, doc, &v) != Y_OK) return STORE_OK;
    store_file f;
    rc = store_file_get(vc->st, doc, &f);
    if (rc == STORE_ENOTFOUND) {
        *yes = true;
        return STORE_OK;
    }
    if (rc != STORE_OK) return rc;
    *yes = strcmp(f.vault, vault) == 0;
    store_file_free(&f);
    return STORE_OK;
}

static void handle_step1(vconn *c, const vchan_msg *m) {
    if (m->payload_len > 0 && yproto_state_vector_check(m->payload, m->payload_len) != YPROTO_OK) {
        close_conn(c, CLOSE_PROTOCOL_ERROR, "the state vector is malformed");
        return;
    }
    bool ours = false;
    if (doc_of_vault(c, m->doc, &ours) != STORE_OK) {
        close_conn(c, CLOSE_INTERNAL, "the vault could not be loaded");
        return;
    }
    if (!ours) { /* nothing to give: the empty update */
        static const uint8_t empty[2] = {0, 0};
        uint8_t *msg = NULL;
        size_t len = 0;
        int rc = vchan_encode_step2(m->doc, empty, sizeof(empty), &msg, &len);
        send_encoded(c, rc, msg, len);
        return;
    }
    vdoc *d = NULL;
    if (vdocs_get(c->vc->docs, c->group->vault, m->doc, &d) != STORE_OK) {
        close_conn(c, CLOSE_INTERNAL, "a document could not be loaded");
        return;
    }
    if (d->inflight == 0)
        send_step2(c, d, m->doc, m->payload, m->payload_len);
    else
        wait_add(c, m->doc, 0, m->payload, m->payload_len);
}

static void handle_hello(vconn *c, const vchan_msg *m) {
    vchan *vc = c->vc;
    const char *vault = c->group->vault;
    c->hello = true; /* subscribed before the store is read: no gap */
    store_vault v;
    store_change *ch = NULL;
    size_t n = 0;
    if (store_vault_get(vc->st, vault, 0, &v) != STORE_OK) {
        close_conn(c, CLOSE_INTERNAL, "the vault could not be read");
        return;
    }
    int64_t seq = v.seq;
    store_vault_free(&v);
    /* A client ahead of the server (a restored database) starts over. */
    int64_t since = m->since > (uint64_t)seq ? 0 : (int64_t)m->since;
    if (store_vault_changes(vc->st, vault, since, &ch, &n) != STORE_OK) {
        close_conn(c, CLOSE_INTERNAL, "the vault could not be read");
        return;
    }
    /* In seq order (store.h). Commits after the seq read may be listed
     * too: count them in. */
    for (size_t i = 0; i < n; i++)
        if (ch[i].seq > seq) seq = ch[i].seq;
    vchan_change *out = calloc(n > 0 ? n : 1, sizeof(*out));
    if (out == NULL) {
        free(ch);
        close_conn(c, CLOSE_INTERNAL, "out of memory");
        return;
    }
    /* The index document first, then the notes in seq order. */
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if ((strcmp(ch[i].doc, vault) == 0) != (pass == 0)) continue;
            memcpy(out[k].doc, ch[i].doc, 33);
            out[k++].seq = (uint64_t)ch[i].seq;
        }
    }
    free(ch);
    uint8_t *msg = NULL;
    size_t len = 0;
    int rc = vchan_encode_changed((uint64_t)seq, out, k, &msg, &len);
    free(out);
    c->skip_upto = seq;
    send_encoded(c, rc, msg, len);
}

static void handle_message(vconn *c, const uint8_t *buf, size_t len) {
    vchan_msg m;
    int rc = vchan_decode(buf, len, VSYNC_MAX_MESSAGE, &m);
    if (rc != YPROTO_OK) {
        close_conn(c, CLOSE_PROTOCOL_ERROR, yproto_strerror(rc));
        return;
    }
    if (m.type != VCHAN_HELLO && !c->hello) {
        close_conn(c, CLOSE_PROTOCOL_ERROR, "the first message must be HELLO");
        return;
    }
    switch (m.type) {
    case VCHAN_HELLO: handle_hello(c, &m); break;
    case VCHAN_STEP1: handle_step1(c, &m); break;
    case VCHAN_UPDATE: handle_update(c, &m); break;
    default: close_conn(c, CLOSE_PROTOCOL_ERROR, "a message only the server sends"); break;
    }
}

static void on_ws_msg(void *data, const uint8_t *msg, size_t len) {
    handle_message(data, msg, len);
}

/* ---- connections ------------------------------------------------------------- */

/* The hub's gone callback: forget the connection. */
static void conn_gone(void *data) {
    vconn *c = data;
    vchan *vc = c->vc;
    vgroup *g = c->group;
    for (vconn **p = &g->conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    while (c->waits != NULL) {
        vwait *w = c->waits;
        c->waits = w->next;
        wait_free(w);
    }
    vlog(VLOG_DEBUG, "vault channel gone",
         json_pack("{s:s, s:I}", "vault", g->vault, "conn", (json_int_t)c->id));
    atomic_fetch_sub(&vc->nconns, 1);
    vws_close(&c->w);
    free(c);
    if (g->conns == NULL) {
        for (vgroup **p = &vc->groups; *p != NULL; p = &(*p)->next) {
            if (*p == g) {
                *p = g->next;
                break;
            }
        }
        free(g);
    }
}

/* The hub's wake callback: the commit queue, lost pushes, waits served. */
static void on_wake(void *owner) {
    vchan *vc = owner;
    drain(vc);
    if (atomic_exchange(&vc->lost, false)) {
        vlog(VLOG_ERROR, "vault channel pushes lost (out of memory): subscribers must resync",
             NULL);
        close_subscribers(vc, NULL);
    }
    if (vc->idle_seen) {
        vc->idle_seen = false;
        serve_waits(vc);
    }
}

void vchan_route(vctx *ctx) {
    vchan *vc = vhttp_vchan(ctx->srv);
    if (vc == NULL || ctx->docs == NULL || vc->shutting_down) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Sync is not available right now.");
        return;
    }
    const char *key = NULL;
    if (h2o_is_websocket_handshake(ctx->req, &key) != 0 || key == NULL) {
        vhttp_send_problem(ctx, 400, "Bad Request",
                           "Connect with a WebSocket: this endpoint speaks the vault channel "
                           "protocol (docs/sync.md).");
        return;
    }
    vgroup *g = find_group(vc, ctx->vault);
    bool new_group = g == NULL;
    if (new_group && (g = calloc(1, sizeof(*g))) != NULL) {
        memcpy(g->vault, ctx->vault, 33);
        g->next = vc->groups;
        vc->groups = g;
    }
    vconn *c = g != NULL ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL) {
        if (new_group && g != NULL) {
            vc->groups = g->next;
            free(g);
        }
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        return;
    }
    c->vc = vc;
    c->group = g;
    c->id = ++vc->next_conn_id;
    c->user = ctx->user_id;
    c->editor = ctx->role >= ROLE_EDITOR;
    c->skip_upto = -1;
    c->next = g->conns;
    g->conns = c;
    atomic_fetch_add(&vc->nconns, 1);
    vlog(VLOG_INFO, "vault channel opened",
         json_pack("{s:s, s:I, s:s, s:s}", "vault", g->vault, "conn", (json_int_t)c->id, "access",
                   c->editor ? "read-write" : "read-only", "trace_id", ctx->trace_id));
    vws_upgrade(&c->w, &vc->hub, ctx->req, key, VSYNC_MAX_MESSAGE, c);
}

/* ---- lifecycle ------------------------------------------------------------------ */

size_t vchan_connections(const vchan *vc) { return vc != NULL ? atomic_load(&vc->nconns) : 0; }

vchan *vchan_new(vhttp *srv, uv_loop_t *loop, store *st, vdocs *docs) {
    vchan *vc = calloc(1, sizeof(*vc));
    if (vc == NULL) return NULL;
    vc->srv = srv;
    vc->loop = loop;
    vc->st = st;
    vc->docs = docs;
    atomic_init(&vc->nconns, 0);
    atomic_init(&vc->lost, false);
    pthread_mutex_init(&vc->mu, NULL);
    vws_hub_fns fn = {.msg = on_ws_msg, .gone = conn_gone, .closing = log_close, .wake = on_wake};
    vws_hub_init(&vc->hub, loop, &fn, vc, vsync_max_queued());
    if (st != NULL) store_set_commit_hook(st, on_commit, vc);
    if (docs != NULL) vdocs_set_idle_hook(docs, on_doc_idle, vc);
    return vc;
}

void vchan_shutdown(vchan *vc) {
    if (vc == NULL || vc->shutting_down) return;
    vc->shutting_down = true;
    for (vgroup *g = vc->groups; g != NULL; g = g->next)
        for (vconn *c = g->conns; c != NULL; c = c->next)
            close_conn(c, CLOSE_GOING_AWAY, "the server is shutting down");
}

void vchan_free(vchan *vc) {
    if (vc == NULL) return;
    drain(vc); /* answers of the last commits release their documents */
    if (vc->docs != NULL) vdocs_set_idle_hook(vc->docs, NULL, NULL);
    /* Connections that outlived the shutdown grace period; groups whose
     * upgrades are still being sent stay allocated until the process
     * exits, as h2o calls back into them. */
    vws_hub_free(&vc->hub);
    pthread_mutex_destroy(&vc->mu);
    free(vc);
}
