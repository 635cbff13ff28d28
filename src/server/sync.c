/*
 * sync.c - y-websocket sync connections (see sync.h).
 *
 * A connection (sconn) is born in sync_route(), which upgrades the request
 * and queues the server's sync step 1; it dies only in conn_gone(), the
 * hub's gone callback (vws.h: the socket closed or failed, or a close the
 * client never answered). Connections on one note form a room; a room
 * lives while it has connections. Sending, closing and the connections'
 * idle memory are vws.h's: messages are queued and go out from the hub's
 * uv_async, outside every h2o callback.
 *
 * Writes: an update from an editor is integrated into the shared document
 * (docs.h), submitted to the store as one transaction, and broadcast to the
 * room's other connections when the store has committed it (sjob, handed
 * back to the loop through `done_head`). A step 1 received while the note
 * has commits in flight waits (sconn.wait_sv) until none is, so that no
 * client is sent content that is not durable yet.
 *
 * Invariants: every sconn is in its room's list exactly once; a closing
 * connection (w.closing) sends and handles nothing more; an sjob holds its
 * vdoc, which cannot be freed while the job's commit is counted in flight;
 * the done queue is touched only under `mu`.
 */
#include "server/sync.h"

#include "server/auth.h"
#include "server/metrics.h"
#include "server/vws.h"
#include "sync/yaware.h"
#include "sync/yproto.h"
#include "util/log.h"
#include "util/vpath.h"

#include <h2o/websocket.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define AWARE_MAX_ENTRIES 256         /* entries in one awareness message */
#define AWARE_MAX_STATE   (64u << 10) /* bytes of one client's awareness state */

enum {
    CLOSE_GOING_AWAY = 1001,
    CLOSE_PROTOCOL_ERROR = 1002,
    CLOSE_TOO_BIG = 1009,
    CLOSE_INTERNAL = 1011,
    CLOSE_TRY_AGAIN_LATER = 1013,
    CLOSE_READ_ONLY = 4403,
    CLOSE_PURGED = 4404
};

#define PURGED_REASON "the note was deleted for good (purged from the trash)"

typedef struct sroom sroom;

/* `count` saved messages owed to a connection, each for an update it sent,
 * due once the note's version `version` (docs.h) is committed. */
typedef struct {
    uint64_t version;
    uint64_t count;
} sowed;

typedef struct sconn {
    vsync *s;
    sroom *room;
    vws w; /* its WebSocket (vws.h: no wslay context while idle) */
    uint64_t id;
    int64_t user; /* who signed in: the author of its edits */
    bool editor;
    bool waiting;     /* a step 1 waits for the note's commits */
    uint8_t *wait_sv; /* its state vector */
    size_t wait_sv_len;
    bool saved;   /* asked for saved messages (?saved=1) */
    sowed *owed;  /* saved messages owed, oldest first */
    size_t nowed; /* runs in `owed` */
    size_t capowed;
    struct sconn *next; /* in the room */
} sconn;

struct sroom {
    char id[33];
    char vault[33];
    sconn *conns;
    yaware *aware;
    bool holding; /* holds its note's document open (vdocs_hold) */
    struct sroom *next, *prev; /* every room */
    struct sroom *hnext;       /* in its bucket */
};

#define ROOM_BUCKETS 4096 /* a power of two */

/* A commit in flight for a sync connection. */
typedef struct sjob {
    vsync *s;
    vdoc *d;
    char doc[33];
    uint64_t conn_id; /* the sender */
    uint8_t *update;  /* what to broadcast */
    size_t len;
    uint64_t version; /* the document's version once this commit is in */
    uint8_t *sv;      /* the document's state vector then, when a connection wants saved messages */
    size_t sv_len;
    store_result res;
    uint64_t answered_ns; /* uv_hrtime() when the store answered */
    struct sjob *next;
} sjob;

struct vsync {
    uv_loop_t *loop;
    store *st;
    vdocs *docs;
    vmetrics *metrics;
    sroom *rooms;
    sroom *buckets[ROOM_BUCKETS]; /* rooms by note id, for the lookup of every commit */
    uint64_t next_conn_id;
    vws_hub hub; /* its connections (vws.h) */
    pthread_mutex_t mu;
    sjob *done_head, *done_tail;
    bool shutting_down;
};

/* Counters of /metrics (docs/server.md). */
#define M_SENT     "vault_sync_sent_bytes_total"
#define H_SENT     "Bytes of sync messages queued to connections."
#define M_RECEIVED "vault_sync_received_bytes_total"
#define H_RECEIVED "Bytes of sync messages received from connections."
#define M_UPDATES  "vault_sync_updates_total"
#define H_UPDATES  "Updates from sync connections committed (rate: updates/s)."

/* ---- rooms ----------------------------------------------------------------- */

static size_t room_hash(const char *id) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p != '\0'; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return h & (ROOM_BUCKETS - 1);
}

static sroom **room_bucket(vsync *s, const char *id) { return &s->buckets[room_hash(id)]; }

static sroom *find_room(const vsync *s, const char *id) {
    for (sroom *r = s->buckets[room_hash(id)]; r != NULL; r = r->hnext)
        if (strcmp(r->id, id) == 0) return r;
    return NULL;
}

static sroom *room_get(vsync *s, const char *id, const char *vault) {
    sroom *r = find_room(s, id);
    if (r != NULL) return r;
    r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->aware = yaware_new();
    if (r->aware == NULL) {
        free(r);
        return NULL;
    }
    snprintf(r->id, sizeof(r->id), "%s", id);
    snprintf(r->vault, sizeof(r->vault), "%s", vault);
    r->next = s->rooms;
    if (s->rooms != NULL) s->rooms->prev = r;
    s->rooms = r;
    sroom **b = room_bucket(s, r->id);
    r->hnext = *b;
    *b = r;
    return r;
}

/* Frees the room once nobody is in it. */
static void room_release(vsync *s, sroom *r) {
    if (r->conns != NULL) return;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        s->rooms = r->next;
    if (r->next != NULL) r->next->prev = r->prev;
    for (sroom **p = room_bucket(s, r->id); *p != NULL; p = &(*p)->hnext) {
        if (*p == r) {
            *p = r->hnext;
            break;
        }
    }
    if (r->holding) vdocs_release(s->docs, r->id);
    yaware_free(r->aware);
    free(r);
}

/* ---- sending ----------------------------------------------------------------- */

/* The hub's closing callback: the log line of a close. */
static void log_close(void *data, int code, const char *reason) {
    const sconn *c = data;
    vlog(code == CLOSE_GOING_AWAY ? VLOG_DEBUG : VLOG_INFO, "sync connection closed by the server",
         json_pack("{s:s, s:I, s:i, s:s}", "doc", c->room->id, "conn", (json_int_t)c->id, "code",
                   code, "reason", reason));
}

/* Starts the closing handshake with `code` and `reason` (a sentence). The
 * connection sends and handles nothing more. */
static void close_conn(sconn *c, int code, const char *reason) { vws_shut(&c->w, code, reason); }

/* Queues one message (copied) to c. A connection whose queue would pass
 * the cap is closed instead. */
static void send_bytes(sconn *c, const uint8_t *msg, size_t len) {
    if (vws_send(&c->w, msg, len) == 0) vmetrics_count(c->s->metrics, M_SENT, H_SENT, (double)len);
}

/* Sends msg to every connection of the room but `except` (0: nobody). */
static void room_send(sroom *r, uint64_t except, const uint8_t *msg, size_t len) {
    for (sconn *c = r->conns; c != NULL; c = c->next)
        if (c->id != except) send_bytes(c, msg, len);
}

static void send_sync(sconn *c, int sync_type, const uint8_t *payload, size_t len) {
    uint8_t *msg = NULL;
    size_t mlen = 0;
    if (yproto_encode_sync(sync_type, payload, len, &msg, &mlen) != YPROTO_OK) {
        close_conn(c, CLOSE_INTERNAL, "out of memory");
        return;
    }
    send_bytes(c, msg, mlen);
    free(msg);
}

static void room_send_awareness(sroom *r, uint64_t except, const uint8_t *update, size_t len) {
    uint8_t *msg = NULL;
    size_t mlen = 0;
    if (yproto_encode_awareness(update, len, &msg, &mlen) != YPROTO_OK) return; /* best effort */
    room_send(r, except, msg, mlen);
    free(msg);
}

/* ---- saved messages ---------------------------------------------------------- */

/* Most runs of owed saved messages one connection may have: each run is a
 * commit of the note that the connection's updates wait for. */
#define MAX_OWED 65536

/* The version of an owed saved message whose update left structs or
 * deletions waiting for missing dependencies: due only once nothing in the
 * note waits any more (unpark), then at the version that integrated them. */
#define PARKED UINT64_MAX

static void send_saved(sconn *c, const uint8_t *sv, size_t len) {
    uint8_t *msg = NULL;
    size_t mlen = 0;
    if (yproto_encode_saved(sv, len, &msg, &mlen) != YPROTO_OK) {
        close_conn(c, CLOSE_INTERNAL, "out of memory");
        return;
    }
    send_bytes(c, msg, mlen);
    free(msg);
}

/* Sends, in order, the saved messages owed to c that are due once version
 * `committed` is, each with `sv` (a state vector that is all committed). */
static void pay_saved(sconn *c, uint64_t committed, const uint8_t *sv, size_t len) {
    size_t i = 0;
    for (; i < c->nowed && c->owed[i].version <= committed && !c->w.closing; i++)
        for (uint64_t k = 0; k < c->owed[i].count; k++) send_saved(c, sv, len);
    memmove(c->owed, c->owed + i, (c->nowed - i) * sizeof(*c->owed));
    c->nowed -= i;
}

/* Pays the saved messages owed to c with d's state vector, but those still
 * parked: call only when d has no commit in flight and is not broken, so
 * all of it is committed. */
static void pay_saved_now(sconn *c, vdoc *d) {
    if (c->nowed == 0 || c->owed[0].version == PARKED) return;
    uint8_t *sv = NULL;
    size_t len = 0;
    if (ydoc_encode_state_vector(d->doc, &sv, &len) != Y_OK) {
        close_conn(c, CLOSE_INTERNAL, "out of memory");
        return;
    }
    pay_saved(c, PARKED - 1, sv, len);
    yfree(sv);
}

/* Whether anything in d waits for missing dependencies. */
static bool has_pending(const vdoc *d) {
    return ydoc_pending_structs(d->doc) > 0 || ydoc_pending_deletes(d->doc);
}

/* Once nothing in d waits any more, the parked saved messages of the room
 * are due when the version that integrated the waiting parts (d's version
 * now, its commit submitted or already answered) is committed. */
static void unpark(sroom *r, vdoc *d) {
    if (has_pending(d)) return;
    for (sconn *c = r->conns; c != NULL; c = c->next)
        for (size_t i = 0; i < c->nowed; i++)
            if (c->owed[i].version == PARKED) c->owed[i].version = d->version;
}

/* c sent an update; it owes c one saved message once the note's version
 * `version` is committed (for an update that needed no commit: the
 * version of what the note held then). Paid at once when nothing is in
 * flight. On a broken note (a commit failed) c is closed instead, as the
 * connections owed a message are when the commit fails (job_done). */
static void owe_saved(sconn *c, vdoc *d, uint64_t version) {
    if (!c->saved || c->w.closing) return;
    if (d->broken) {
        /* A commit of the note failed: what c sent may rest on the lost
         * change, so no saved message can be promised. */
        close_conn(c, CLOSE_INTERNAL, "a change could not be saved; reconnect");
        return;
    }
    if (c->nowed > 0 && c->owed[c->nowed - 1].version == version) {
        c->owed[c->nowed - 1].count++;
    } else {
        if (c->nowed == c->capowed) {
            size_t cap = c->capowed == 0 ? 4 : c->capowed * 2;
            sowed *p = cap <= MAX_OWED ? realloc(c->owed, cap * sizeof(*p)) : NULL;
            if (p == NULL) {
                close_conn(c, CLOSE_TRY_AGAIN_LATER,
                           "too many updates waiting for their commit; reconnect later");
                return;
            }
            c->owed = p;
            c->capowed = cap;
        }
        c->owed[c->nowed++] = (sowed){version, 1};
    }
    if (d->inflight == 0 && !d->broken) pay_saved_now(c, d);
}

static bool room_wants_saved(const sroom *r) {
    for (const sconn *c = r->conns; c != NULL; c = c->next)
        if (c->saved) return true;
    return false;
}

/* ---- answering step 1 ------------------------------------------------------ */

/* Sends step 2: what the client with state vector sv lacks. */
static void answer_step1(sconn *c, vdoc *d, const uint8_t *sv, size_t sv_len) {
    uint8_t *u = NULL;
    size_t ulen = 0;
    int rc = ydoc_encode_state_as_update(d->doc, sv, sv_len, &u, &ulen);
    if (rc != Y_OK) {
        close_conn(c, rc == Y_ERR_NOMEM ? CLOSE_INTERNAL : CLOSE_PROTOCOL_ERROR,
                   rc == Y_ERR_NOMEM ? "out of memory" : "the state vector is malformed");
        return;
    }
    send_sync(c, YSYNC_STEP2, u, ulen);
    yfree(u);
}

/* Answers the step 1s that waited, and sends the saved messages owed, once
 * the note has no commit in flight. */
static void release_waiting(vsync *s, sroom *r) {
    bool any = false;
    for (sconn *c = r->conns; c != NULL; c = c->next) any = any || c->waiting || c->nowed > 0;
    if (!any) return;
    vdoc *d = NULL;
    if (vdocs_get(s->docs, r->vault, r->id, &d) != STORE_OK)
        return; /* retried at the next commit */
    if (d->inflight > 0) return;
    unpark(r, d);
    for (sconn *c = r->conns; c != NULL; c = c->next) {
        if (c->nowed > 0 && !d->broken) pay_saved_now(c, d);
        if (!c->waiting) continue;
        c->waiting = false;
        answer_step1(c, d, c->wait_sv, c->wait_sv_len);
        free(c->wait_sv);
        c->wait_sv = NULL;
        c->wait_sv_len = 0;
    }
}

/* ---- writing ----------------------------------------------------------------- */

static void on_store_done(void *ud, const store_result *res) {
    sjob *j = ud;
    vsync *s = j->s;
    j->res = *res;
    j->answered_ns = uv_hrtime();
    pthread_mutex_lock(&s->mu);
    if (s->done_tail != NULL)
        s->done_tail->next = j;
    else
        s->done_head = j;
    s->done_tail = j;
    pthread_mutex_unlock(&s->mu);
    vws_hub_wake(&s->hub);
}

/* A commit of a sync connection's update came back (loop thread). */
static void job_done(vsync *s, sjob *j) {
    bool ok = j->res.err == STORE_OK;
    vmetrics_commit(s->metrics, j->res.commit_ms, j->res.batch_size);
    if (ok) vdocs_committed(j->d, j->res.vault_seq);
    vdocs_answered(s->docs, j->d, ok);
    if (ok) vmetrics_count(s->metrics, M_UPDATES, H_UPDATES, 1);
    int inflight = j->d->inflight;
    sroom *r = find_room(s, j->doc);
    if (!ok)
        vlog(VLOG_ERROR, "sync commit failed",
             json_pack("{s:s, s:s}", "doc", j->doc, "error", store_strerror(j->res.err)));
    if (r != NULL) {
        if (ok) {
            uint8_t *msg = NULL;
            size_t mlen = 0;
            if (yproto_encode_sync(YSYNC_UPDATE, j->update, j->len, &msg, &mlen) == YPROTO_OK)
                room_send(r, j->conn_id, msg, mlen);
            free(msg);
            /* Commits are answered in submission order, so every version up
             * to this one is committed, and so is everything the state
             * vector taken at submission covers (unless an earlier commit
             * of the note failed: broken). */
            for (sconn *c = r->conns; c != NULL && j->sv != NULL && !j->d->broken; c = c->next)
                if (c->nowed > 0) pay_saved(c, j->version, j->sv, j->sv_len);
            vmetrics_fanout(s->metrics, (double)(uv_hrtime() - j->answered_ns) / 1e6);
        } else if (j->res.err == STORE_ENOTFOUND) {
            /* The note was purged before this change reached the log (the
             * store's tombstone refused it): nobody may keep editing. */
            for (sconn *c = r->conns; c != NULL; c = c->next)
                close_conn(c, CLOSE_PURGED, PURGED_REASON);
        } else {
            /* The sender believes the server has its change: make it
             * reconnect, so that its step 2 sends the change again. So do
             * connections still owed a saved message: what they sent may
             * have built on the lost change. */
            for (sconn *c = r->conns; c != NULL; c = c->next)
                if (c->id == j->conn_id || c->nowed > 0)
                    close_conn(c, CLOSE_INTERNAL, "a change could not be saved; reconnect");
        }
        if (inflight == 0) release_waiting(s, r);
    }
    free(j->update);
    yfree(j->sv);
    free(j);
}

/* The projection row of note `id` as the vault index and the note's text
 * say now, right after `changed` (clen bytes) was applied to d. Returns 0
 * (caller frees *f with store_file_free) or -1 when the index has no entry
 * for the note. */
static int projection(vdoc *idx, vdoc *d, const uint8_t *changed, size_t clen, store_file *f) {
    ytype *files = ydoc_get(idx->doc, "files", YTYPE_MAP);
    yvalue v;
    if (files == NULL || ymap_get(files, d->id, &v) != Y_OK || v.kind != YVALUE_TYPE) return -1;
    ytype *meta = v.type;
    if (ymap_get(meta, "path", &v) != Y_OK || v.kind != YVALUE_ANY || v.any.kind != YANY_STRING)
        return -1;
    memset(f, 0, sizeof(*f));
    f->path = strndup(v.any.u.str.ptr, v.any.u.str.len);
    if (f->path == NULL) return -1;
    memcpy(f->id, d->id, 33);
    memcpy(f->vault, idx->id, 33);
    f->is_note = true;
    if (ymap_get(meta, "created", &v) == Y_OK && v.kind == YVALUE_ANY && v.any.kind == YANY_NUMBER)
        f->created = (int64_t)v.any.u.num;
    if (ymap_get(meta, "trashed", &v) == Y_OK && v.kind == YVALUE_ANY && v.any.kind == YANY_NUMBER)
        f->trashed = (int64_t)v.any.u.num;
    f->updated = auth_now_ms();
    char *text = NULL;
    size_t len = 0;
    (void)vdocs_title_text(d, changed, clen, &text, &len); /* out of memory: the file name */
    char *title = NULL;
    if (vpath_title(text != NULL ? text : "", len, f->path, &title) == VPATH_OK) f->title = title;
    yfree(text);
    return 0;
}

static void note_changed(void *ud, const uint8_t *update, size_t len, const void *origin) {
    (void)update;
    (void)len;
    (void)origin;
    *(bool *)ud = true;
}

/* Whether applying u would change the document, tried on a scratch copy.
 * Returns Y_OK or the engine's error for a malformed update. */
static int would_change(const ydoc *doc, const uint8_t *u, size_t len, bool *changes) {
    *changes = false;
    if (len == 2 && u[0] == 0 && u[1] == 0) return Y_OK; /* no structs, no deletions */
    ydoc_options opt = {.gc = false};
    ydoc *scratch = ydoc_new(&opt);
    uint8_t *whole = NULL;
    size_t wlen = 0;
    int rc =
        scratch != NULL ? ydoc_encode_state_as_update(doc, NULL, 0, &whole, &wlen) : Y_ERR_NOMEM;
    if (rc == Y_OK) rc = ydoc_apply_update(scratch, whole, wlen, NULL);
    if (rc == Y_OK && ydoc_observe_updates(scratch, note_changed, changes) < 0) rc = Y_ERR_NOMEM;
    if (rc == Y_OK) rc = ydoc_apply_update(scratch, u, len, NULL);
    yfree(whole);
    ydoc_free(scratch);
    return rc;
}

static void refuse_write(sconn *c) {
    static const char reason[] = "this connection is read-only: viewers may not edit this note";
    uint8_t *msg = NULL;
    size_t mlen = 0;
    if (yproto_encode_permission_denied(reason, &msg, &mlen) == YPROTO_OK) send_bytes(c, msg, mlen);
    free(msg);
    close_conn(c, CLOSE_READ_ONLY, reason);
}

/* An update (step 2 or update) from c. */
static void handle_update(sconn *c, const uint8_t *u, size_t len) {
    vsync *s = c->s;
    sroom *r = c->room;
    vdoc *idx = NULL, *d = NULL;
    if (vdocs_get(s->docs, r->vault, r->vault, &idx) != STORE_OK ||
        vdocs_get(s->docs, r->vault, r->id, &d) != STORE_OK) {
        close_conn(c, CLOSE_INTERNAL, "the note could not be loaded");
        return;
    }
    if (!c->editor) {
        bool changes = false;
        int rc = would_change(d->doc, u, len, &changes);
        if (rc != Y_OK)
            close_conn(c, rc == Y_ERR_NOMEM ? CLOSE_INTERNAL : CLOSE_PROTOCOL_ERROR,
                       rc == Y_ERR_NOMEM ? "out of memory" : "the update is malformed");
        else if (changes)
            refuse_write(c);
        else
            owe_saved(c, d, d->version);
        return;
    }
    uint8_t *changed = NULL;
    size_t clen = 0;
    int rc = vdocs_apply_remote(d, u, len, &changed, &clen);
    if (rc != Y_OK) {
        close_conn(c, rc == Y_ERR_NOMEM ? CLOSE_INTERNAL : CLOSE_PROTOCOL_ERROR,
                   rc == Y_ERR_NOMEM ? "out of memory" : "the update is malformed");
        return;
    }
    /* An update that leaves something waiting (conservatively: while
     * anything in the note waits) is saved only once that is integrated. */
    bool parked = has_pending(d);
    if (!parked) unpark(r, d);
    if (changed == NULL) { /* nothing new, or waiting for what it builds on */
        owe_saved(c, d, parked ? PARKED : d->version);
        return;
    }

    store_file f;
    bool has_file = projection(idx, d, changed, clen, &f) == 0;
    store_txn *t = store_txn_new();
    sjob *j = calloc(1, sizeof(*j));
    bool ok = t != NULL && j != NULL &&
              store_txn_append_update(t, r->vault, d->id, changed, clen) == STORE_OK &&
              (!has_file || store_txn_put_file(t, &f) == STORE_OK) &&
              store_txn_note_event(t, r->vault, "note.updated", d->id, c->user) == STORE_OK;
    if (has_file) store_file_free(&f);
    if (!ok) {
        store_txn_free(t);
        free(j);
        free(changed);
        d->broken = true; /* memory is ahead of the log: reload it */
        close_conn(c, CLOSE_INTERNAL, "the change could not be saved");
        return;
    }
    j->d = d;
    memcpy(j->doc, d->id, 33);
    j->conn_id = c->id;
    j->update = changed;
    j->len = clen;
    j->s = s;
    j->version = d->version;
    if (room_wants_saved(r) && ydoc_encode_state_vector(d->doc, &j->sv, &j->sv_len) != Y_OK) {
        j->sv = NULL; /* out of memory: saved messages wait for a later commit */
        j->sv_len = 0;
    }
    const char *fault = getenv("VAULT_FAULT"); /* tests: every sync commit fails */
    if (fault != NULL && strstr(fault, "sync-commit") != NULL) store_txn_fail_for_test(t);
    vdocs_submitted(d);
    owe_saved(c, d, parked ? PARKED : j->version); /* paid when this commit is answered */
    if (store_submit(s->st, t, on_store_done, j) != STORE_OK) {
        j->res.err = STORE_ECLOSED;
        on_store_done(j, &j->res);
    }
}

/* ---- receiving ----------------------------------------------------------------- */

static void handle_step1(sconn *c, const uint8_t *sv, size_t len) {
    if (yproto_state_vector_check(sv, len) != YPROTO_OK) {
        close_conn(c, CLOSE_PROTOCOL_ERROR, "the state vector is malformed");
        return;
    }
    vsync *s = c->s;
    vdoc *d = NULL;
    if (vdocs_get(s->docs, c->room->vault, c->room->id, &d) != STORE_OK) {
        close_conn(c, CLOSE_INTERNAL, "the note could not be loaded");
        return;
    }
    if (d->inflight == 0) {
        answer_step1(c, d, sv, len);
        return;
    }
    /* Wait for the commits. A client's state only grows, so an older
     * pending vector asks for at least as much as this one. */
    if (c->waiting) return;
    c->wait_sv = malloc(len);
    if (c->wait_sv == NULL) {
        close_conn(c, CLOSE_INTERNAL, "out of memory");
        return;
    }
    memcpy(c->wait_sv, sv, len);
    c->wait_sv_len = len;
    c->waiting = true;
}

static void handle_awareness(sconn *c, const uint8_t *buf, size_t len) {
    yaware_entry *e = NULL;
    size_t n = 0;
    int rc = yproto_awareness_decode(buf, len, AWARE_MAX_ENTRIES, AWARE_MAX_STATE, &e, &n);
    if (rc != YPROTO_OK) {
        close_conn(c, rc == YPROTO_ENOMEM ? CLOSE_INTERNAL : CLOSE_PROTOCOL_ERROR,
                   rc == YPROTO_ETOOBIG ? "the awareness update is too big"
                                        : "the awareness update is malformed");
        return;
    }
    /* Peers JSON.parse every state: relay nothing they would choke on. */
    for (size_t i = 0; i < n; i++) {
        json_error_t err;
        json_t *v = json_loadb(e[i].state, e[i].state_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (v == NULL) {
            free(e);
            close_conn(c, CLOSE_PROTOCOL_ERROR, "an awareness state is not JSON");
            return;
        }
        json_decref(v);
    }
    uint8_t *relay = NULL;
    size_t rlen = 0;
    rc = yaware_apply(c->room->aware, c->id, e, n, &relay, &rlen);
    free(e);
    if (rc == YPROTO_OK && relay != NULL) room_send_awareness(c->room, c->id, relay, rlen);
    free(relay);
}

static void send_all_awareness(sconn *c) {
    uint8_t *all = NULL;
    size_t len = 0;
    if (yaware_encode_all(c->room->aware, &all, &len) != YPROTO_OK || all == NULL) return;
    uint8_t *msg = NULL;
    size_t mlen = 0;
    if (yproto_encode_awareness(all, len, &msg, &mlen) == YPROTO_OK) send_bytes(c, msg, mlen);
    free(msg);
    free(all);
}

static void handle_message(sconn *c, const uint8_t *buf, size_t len) {
    ymsg m;
    int rc = yproto_decode(buf, len, VSYNC_MAX_MESSAGE, &m);
    if (rc != YPROTO_OK) {
        char reason[96];
        snprintf(reason, sizeof(reason), "%s", yproto_strerror(rc));
        close_conn(c, rc == YPROTO_ETOOBIG ? CLOSE_TOO_BIG : CLOSE_PROTOCOL_ERROR, reason);
        return;
    }
    switch (m.type) {
    case YMSG_SYNC:
        if (m.sync_type == YSYNC_STEP1)
            handle_step1(c, m.payload, m.payload_len);
        else
            handle_update(c, m.payload, m.payload_len);
        break;
    case YMSG_AWARENESS: handle_awareness(c, m.payload, m.payload_len); break;
    case YMSG_QUERY_AWARENESS: send_all_awareness(c); break;
    default: break; /* auth messages are the server's to send */
    }
}

static void on_ws_msg(void *data, const uint8_t *msg, size_t len) {
    handle_message(data, msg, len);
}

static void count_received(void *owner, size_t len) {
    vsync *s = owner;
    vmetrics_count(s->metrics, M_RECEIVED, H_RECEIVED, (double)len);
}

/* ---- connections ------------------------------------------------------------- */

/* The hub's gone callback: the connection is over: announce its peers'
 * departure, forget it. */
static void conn_gone(void *data) {
    sconn *c = data;
    vsync *s = c->s;
    sroom *r = c->room;
    for (sconn **p = &r->conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    uint8_t *relay = NULL;
    size_t rlen = 0;
    if (yaware_remove_owner(r->aware, c->id, &relay, &rlen) == YPROTO_OK && relay != NULL)
        room_send_awareness(r, c->id, relay, rlen);
    free(relay);
    vlog(VLOG_DEBUG, "sync connection gone",
         json_pack("{s:s, s:I}", "doc", r->id, "conn", (json_int_t)c->id));
    free(c->wait_sv);
    free(c->owed);
    vws_close(&c->w);
    free(c);
    room_release(s, r);
}

/* The hub's wake callback: the answers of the store. */
static void on_wake(void *owner) {
    vsync *s = owner;
    pthread_mutex_lock(&s->mu);
    sjob *j = s->done_head;
    s->done_head = s->done_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    while (j != NULL) {
        sjob *next = j->next;
        job_done(s, j);
        j = next;
    }
}

void sync_route(vctx *ctx) {
    vsync *s = vhttp_sync(ctx->srv);
    if (s == NULL || ctx->docs == NULL || s->shutting_down) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Sync is not available right now.");
        return;
    }
    const char *key = NULL;
    if (h2o_is_websocket_handshake(ctx->req, &key) != 0 || key == NULL) {
        vhttp_send_problem(ctx, 400, "Bad Request",
                           "Connect with a WebSocket: this endpoint speaks the y-websocket "
                           "protocol (docs/sync.md).");
        return;
    }
    store_file f;
    int rc = store_file_get(ctx->st, vctx_param(ctx, "note"), &f);
    /* A trashed note stays reachable, so that a device that edited it
     * offline can still deliver its edits (docs/api.md, "Editing a
     * trashed note"). */
    if (rc == STORE_OK && !f.is_note) {
        store_file_free(&f);
        rc = STORE_ENOTFOUND;
    }
    if (rc != STORE_OK) {
        if (rc == STORE_ENOTFOUND)
            vhttp_send_problem(ctx, 404, "Not Found", "No such note.");
        else
            vhttp_send_problem(ctx, 503, "Service Unavailable", "The database did not answer.");
        return;
    }
    vdoc *d = NULL;
    uint8_t *sv = NULL, *step1 = NULL;
    size_t sv_len = 0, step1_len = 0;
    sroom *r = NULL;
    sconn *c = NULL;
    if (vdocs_get(ctx->docs, f.vault, f.id, &d) != STORE_OK ||
        ydoc_encode_state_vector(d->doc, &sv, &sv_len) != Y_OK ||
        yproto_encode_sync(YSYNC_STEP1, sv, sv_len, &step1, &step1_len) != YPROTO_OK ||
        (r = room_get(s, f.id, f.vault)) == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
        if (r != NULL) room_release(s, r);
        vhttp_send_problem(ctx, 503, "Service Unavailable", "The note could not be opened.");
        goto out;
    }
    if (!r->holding) {
        vdocs_hold(ctx->docs, d);
        r->holding = true;
    }
    c->s = s;
    c->room = r;
    c->id = ++s->next_conn_id;
    c->editor = ctx->role >= ROLE_EDITOR;
    const char *saved = vctx_query(ctx, "saved");
    c->saved = saved != NULL && strcmp(saved, "1") == 0;
    c->user = ctx->user_id;
    c->next = r->conns;
    r->conns = c;
    vlog(VLOG_INFO, "sync connection opened",
         json_pack("{s:s, s:I, s:s, s:s}", "doc", f.id, "conn", (json_int_t)c->id, "access",
                   c->editor ? "read-write" : "read-only", "trace_id", ctx->trace_id));
    vws_upgrade(&c->w, &s->hub, ctx->req, key, VSYNC_MAX_MESSAGE, c);
    /* Queued now, sent by h2o once the 101 response is out. */
    send_bytes(c, step1, step1_len);
    send_all_awareness(c);
out:
    yfree(sv);
    free(step1);
    store_file_free(&f);
}

/* ---- lifecycle ----------------------------------------------------------------- */

void vsync_committed(vsync *s, const char *doc, const uint8_t *update, size_t len) {
    if (s == NULL) return;
    sroom *r = find_room(s, doc);
    if (r == NULL) return;
    if (update != NULL) {
        uint8_t *msg = NULL;
        size_t mlen = 0;
        if (yproto_encode_sync(YSYNC_UPDATE, update, len, &msg, &mlen) == YPROTO_OK)
            room_send(r, 0, msg, mlen);
        free(msg);
    }
    release_waiting(s, r);
}

void vsync_purged(vsync *s, const char *doc) {
    sroom *r = s != NULL ? find_room(s, doc) : NULL;
    for (sconn *c = r != NULL ? r->conns : NULL; c != NULL; c = c->next)
        close_conn(c, CLOSE_PURGED, PURGED_REASON);
}

bool vsync_watching(const vsync *s, const char *doc) {
    return s != NULL && find_room(s, doc) != NULL;
}

size_t vsync_connections(const vsync *s) {
    size_t n = 0;
    for (const sroom *r = s != NULL ? s->rooms : NULL; r != NULL; r = r->next)
        for (const sconn *c = r->conns; c != NULL; c = c->next) n++;
    return n;
}

size_t vsync_documents(const vsync *s) {
    size_t n = 0;
    for (const sroom *r = s != NULL ? s->rooms : NULL; r != NULL; r = r->next) n++;
    return n;
}

size_t vsync_max_queued(void) {
    const char *v = getenv("VAULT_SYNC_MAX_QUEUED");
    if (v == NULL || *v == '\0') return VSYNC_MAX_QUEUED;
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);
    return (end != NULL && *end == '\0' && n > 0) ? (size_t)n : VSYNC_MAX_QUEUED;
}

vsync *vsync_new(uv_loop_t *loop, store *st, vdocs *docs, vmetrics *metrics) {
    vsync *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->loop = loop;
    s->st = st;
    s->docs = docs;
    s->metrics = metrics;
    /* The counters show from the start, at 0. */
    vmetrics_count(metrics, M_SENT, H_SENT, 0);
    vmetrics_count(metrics, M_RECEIVED, H_RECEIVED, 0);
    vmetrics_count(metrics, M_UPDATES, H_UPDATES, 0);
    pthread_mutex_init(&s->mu, NULL);
    vws_hub_fns fn = {.msg = on_ws_msg,
                      .gone = conn_gone,
                      .closing = log_close,
                      .received = count_received,
                      .wake = on_wake};
    vws_hub_init(&s->hub, loop, &fn, s, vsync_max_queued());
    return s;
}

void vsync_shutdown(vsync *s) {
    if (s == NULL || s->shutting_down) return;
    s->shutting_down = true;
    for (sroom *r = s->rooms; r != NULL; r = r->next)
        for (sconn *c = r->conns; c != NULL; c = c->next)
            close_conn(c, CLOSE_GOING_AWAY, "the server is shutting down");
}

void vsync_free(vsync *s) {
    if (s == NULL) return;
    on_wake(s); /* answers of the last commits */
    /* Connections that outlived the shutdown grace period; rooms whose
     * upgrades are still being sent stay allocated until the process
     * exits, as h2o calls back into them. */
    vws_hub_free(&s->hub);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
