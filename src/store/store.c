/*
 * store.c - the storage API (store.h): argument checks, every query, the
 * schema migrations runner and the group-commit writer thread. The backend
 * (sqlite.c or postgres.c, picked by store_open) only runs statements.
 *
 * Threads and connections: the writer connection belongs to the writer
 * thread (and to store_open before the thread starts); every write of the
 * API, transactions and direct writes alike, is a store_txn queued to that
 * thread. Reads use a small pool of read connections (READERS at most,
 * opened as concurrent reads need them), one read per connection at a time,
 * so a slow read (a search) does not hold up the others; they only ever see
 * committed data.
 *
 * Group commit: the writer takes everything queued, runs BEGIN, each txn,
 * COMMIT, and only then calls each txn's `done`. A txn's own failure (a
 * constraint or argument error) must leave the others' work in: the batch
 * first runs without savepoints, and if a txn fails on its own it is rolled
 * back and run again with each txn in a SAVEPOINT (released on success,
 * rolled back on the txn's own failure). A run without savepoints commits
 * whole or not at all, so it also skips work a later txn of the batch
 * redoes: a projection row several txns write is written once, as the last
 * leaves it, an event several repeat (same vault, type and payload) is
 * stored once, in the place of its latest copy, and on SQLite the vaults'
 * seqs are read once and written back once before COMMIT instead of bumped
 * per update (mark_superseded, batch_seq). A note typed into by several
 * people thus costs one projection write and one event per batch, not one
 * per keystroke. A database failure (not a
 * txn's own constraint or argument error) fails the whole batch, because
 * after it the state of the transaction is unknown. Several processes may
 * write one PostgreSQL database (vaultd replicas): a batch first locks the
 * rows of the vaults it writes, in id order, so batches never deadlock on
 * them, and a transient conflict that remains (deadlock or serialization
 * failure elsewhere) runs the batch again, up to BATCH_ATTEMPTS times.
 *
 * Round trips: the writer releases a txn's savepoint in the same exec that
 * opens the next one's ("RELEASE SAVEPOINT txn; SAVEPOINT txn"), and lets
 * COMMIT release the last. It also remembers, per store, documents whose
 * updates it has seen committed in a vault (`docs`): the log of a document
 * never leaves its vault (no API deletes vaults), so appending to such a
 * document in that same vault needs no check of its log. Only a purge
 * deletes a log; it leaves a tombstone (purged_docs), which every append
 * and every projection write checks in its own statement (another process
 * may have purged a document this writer's cache knows), so a write racing
 * a purge is refused.
 *
 * Invariants:
 * - a txn is answered exactly once, after its batch's COMMIT or ROLLBACK;
 * - a failed API call has no side effect: steps are validated and copied
 *   when added, outputs are written only on success;
 * - the vault's seq and the update log move together: an appended update
 *   carries the seq it bumped the vault to, in the same savepoint.
 */
#include "store/store_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

#define MAX_UPDATE_BYTES (64u << 20) /* one update; compaction keeps the log small */
#define MAX_EVENTS       10000       /* one store_events_after call */
#define BATCH_ATTEMPTS   5           /* runs of a batch that hit a transient conflict */
#define DOC_SLOTS        4096        /* writer's doc -> vault cache, a power of two */
#define DOC_MAX          2048        /* entries before the cache starts over */
#define MAX_LISTENERS    16          /* store_listen */
#define READERS          4           /* read connections at most */
#define PRUNE_CHUNK      5000        /* events deleted per transaction */

typedef enum {
    STEP_UPDATE,
    STEP_FILE,
    STEP_EVENT,
    STEP_CALL,
    STEP_VERSION,
    STEP_BURST_DONE,
    STEP_PURGE,
    STEP_COMPACT
} step_kind;

struct step {
    step_kind kind;
    char vault[33];
    char id[33];   /* update: the doc; file: the file */
    uint8_t *data; /* update bytes */
    size_t len;
    char *a, *b; /* file: path, title; event: type, json */
    bool is_note;
    int64_t created, updated, trashed;
    int64_t x[4]; /* version: n, author, restored_from, base; burst done:
                     x[0] = last_at; purge: now, default retention (ms);
                     compact: first id, last id, rows, versions */
    store__call_fn fn;
    void *arg;
    int64_t seq; /* update: the vault seq it got (set by the writer) */
    bool skip;   /* set by the writer for a run without savepoints: a later txn
                    of the batch writes the same projection row, or the same
                    event (mark_superseded) */
};

struct store_txn {
    struct step *steps;
    size_t n, cap;
    bool fail; /* store_txn_fail_for_test */
    store_done_fn done;
    void *ud;
    store_txn *next;        /* in the writer's queue */
    int err;                /* set by the writer */
    int64_t seq;            /* set by the writer: seq of the last appended update */
    uint64_t origin;        /* store_txn_set_origin, handed to the commit hook */
    store_doc_usage purged; /* set by the writer: what its purge step removed */
};

/* A vault's sequence number as a batch run without savepoints moved it:
 * read once, written back once before COMMIT (flush_seqs). */
struct vault_seq {
    char vault[33];
    int64_t seq, read;
};

/* A document known to have committed updates in `vault`. */
struct doc_vault {
    char doc[32], vault[32]; /* ids without their NUL; doc[0] == 0: empty slot */
};

struct store {
    const store_ops *be;
    store_conn *wconn;           /* the writer thread's */
    char *where;                 /* for opening more read connections */
    store_conn *rconns[READERS]; /* the read pool; [0] opened by store_open */
    bool rbusy[READERS];         /* under rlock */
    int nreaders;                /* opened, under rlock */
    bool ropening, rgrow_failed; /* under rlock */
    pthread_mutex_t rlock;       /* guards the pool's bookkeeping */
    pthread_cond_t rcond;        /* signalled when a reader is given back */
    pthread_mutex_t qlock;       /* guards the queue and `closing` */
    pthread_cond_t qcond;        /* signalled when the queue grows or closing is set */
    store_txn *qhead, *qtail;
    size_t qlen;
    bool closing;
    pthread_t writer;
    int schema_version;
    struct doc_vault *docs; /* the writer's, DOC_SLOTS or NULL (not allocated yet) */
    size_t ndocs;
    struct vault_seq *seqs; /* the writer's: vault seqs a batch moved (batch_seq) */
    size_t nseqs, capseqs;
    bool bare;            /* the writer runs a batch without savepoints */
    store_commit_fn hook; /* store_set_commit_hook, under qlock */
    void *hook_ud;
    long commit_delay_ms;  /* test hook VAULT_TEST_COMMIT_DELAY_MS: wait before each COMMIT */
    pthread_mutex_t llock; /* guards the listeners; held while they run */
    struct listener {
        store_listen_fn fn;
        void *ud;
    } listeners[MAX_LISTENERS];
    size_t nlisteners;
};

#define A_INT(v)     ((store_arg){SARG_INT, (int64_t)(v), NULL, 0})
#define A_TEXT(s)    ((store_arg){SARG_TEXT, 0, (s), 0})
#define A_BLOB(p, n) ((store_arg){SARG_BLOB, 0, (p), (n)})
#define NARGS(a)     ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- small helpers ------------------------------------------------------- */

const char *store_strerror(int err) {
    switch (err) {
    case STORE_OK: return "ok";
    case STORE_ENOTFOUND: return "not found";
    case STORE_ECONFLICT: return "already exists";
    case STORE_EIO: return "database error";
    case STORE_ENOMEM: return "out of memory";
    case STORE_ESCHEMA: return "database schema newer than this program, or broken";
    case STORE_EINVAL: return "invalid argument";
    case STORE_ECLOSED: return "store is closing";
    default: return "unknown store error";
    }
}

void store__log_error(const char *backend, const char *what, const char *detail, const char *sql) {
    vlog(VLOG_ERROR, "database error",
         json_pack("{s:s, s:s?, s:s?, s:s?}", "backend", backend, "error", what, "detail", detail,
                   "sql", sql));
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) return false;
            c = (c << 6) | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
        p += n + 1;
    }
    return true;
}

static bool text_ok(const char *s) { return s != NULL && utf8_valid(s); }

/* An id: exactly 32 lowercase hex digits. */
static bool id_ok(const char *s) {
    if (s == NULL) return false;
    for (int i = 0; i < 32; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return s[32] == '\0';
}

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A malloc'd copy of a text column. */
static int dup_col(store *st, store_rows *r, int col, char **out) {
    size_t len;
    const char *t = st->be->col_text(r, col, &len);
    char *s = malloc(len + 1);
    if (s == NULL) return STORE_ENOMEM;
    memcpy(s, t, len);
    s[len] = '\0';
    *out = s;
    return STORE_OK;
}

/* Copies an id column into a char[33]; a malformed one means a broken db. */
static int id_col(store *st, store_rows *r, int col, char out[33]) {
    size_t len;
    const char *t = st->be->col_text(r, col, &len);
    if (len != 32) return STORE_ESCHEMA;
    memcpy(out, t, 32);
    out[32] = '\0';
    return STORE_OK;
}

/* A growable array of `size`-byte items, zeroed when pushed. */
struct vec {
    void *items;
    size_t n, cap, size;
};

static void *vec_push(struct vec *v) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        void *items = realloc(v->items, cap * v->size);
        if (items == NULL) return NULL;
        v->items = items;
        v->cap = cap;
    }
    void *it = (char *)v->items + v->n * v->size;
    memset(it, 0, v->size);
    v->n++;
    return it;
}

/* ---- reads on the read connection ---------------------------------------- */

/* Called for each row; a non-zero return stops and is returned. */
typedef int (*row_fn)(store *st, store_rows *r, void *ctx);

/* Runs one read statement under the read lock, calling fn for each row;
 * *nrows (may be NULL) gets the number of rows seen. */
/* Takes a free read connection, opening one more when all are busy and the
 * pool may grow, else waiting for one. */
static int reader_take(store *st) {
    pthread_mutex_lock(&st->rlock);
    for (;;) {
        for (int i = 0; i < st->nreaders; i++) {
            if (!st->rbusy[i]) {
                st->rbusy[i] = true;
                pthread_mutex_unlock(&st->rlock);
                return i;
            }
        }
        if (st->nreaders < READERS && !st->ropening && !st->rgrow_failed) {
            st->ropening = true;
            pthread_mutex_unlock(&st->rlock);
            char err[256];
            store_conn *c = NULL;
            int rc = st->be->connect(st->where, &c, err, sizeof(err));
            pthread_mutex_lock(&st->rlock);
            st->ropening = false;
            if (rc == STORE_OK) {
                int i = st->nreaders++;
                st->rconns[i] = c;
                st->rbusy[i] = true;
                pthread_mutex_unlock(&st->rlock);
                return i;
            }
            /* The database refuses more connections: make do with these. */
            st->rgrow_failed = true;
            store__log_error(st->be->name, "cannot open another read connection", err, NULL);
            continue;
        }
        pthread_cond_wait(&st->rcond, &st->rlock);
    }
}

static void reader_give(store *st, int i) {
    pthread_mutex_lock(&st->rlock);
    st->rbusy[i] = false;
    pthread_cond_signal(&st->rcond);
    pthread_mutex_unlock(&st->rlock);
}

static int read_rows(store *st, const char *sql, const store_arg *args, int nargs, row_fn fn,
                     void *ctx, size_t *nrows) {
    store_rows *r = NULL;
    size_t n = 0;
    int reader = reader_take(st);
    store_conn *rconn = st->rconns[reader];
    int err = st->be->query(rconn, sql, args, nargs, &r);
    while (err == STORE_OK) {
        err = st->be->next(r);
        if (err != STORE_ROW) break;
        n++;
        err = fn(st, r, ctx);
    }
    if (err == STORE_DONE) err = STORE_OK;
    st->be->rows_free(r);
    reader_give(st, reader);
    if (err == STORE_OK && nrows != NULL) *nrows = n;
    return err;
}

static int row_int(store *st, store_rows *r, void *ctx) {
    *(int64_t *)ctx = st->be->col_int(r, 0);
    return STORE_OK;
}

/* The int in column 0 of the first row, or STORE_ENOTFOUND. */
static int read_int(store *st, const char *sql, const store_arg *args, int nargs, int64_t *out) {
    int64_t v = 0;
    size_t n = 0;
    int err = read_rows(st, sql, args, nargs, row_int, &v, &n);
    if (err == STORE_OK && n == 0) err = STORE_ENOTFOUND;
    if (err == STORE_OK) *out = v;
    return err;
}

static int vault_exists(store *st, const char *vault) {
    int64_t one;
    store_arg a[] = {A_TEXT(vault)};
    return read_int(st, "SELECT 1 FROM vaults WHERE id = $1", a, NARGS(a), &one);
}

/* ---- statements on the writer connection --------------------------------- */

/* Runs one statement; with `out`, the first row's int column 0 goes there
 * and no row is STORE_ENOTFOUND. */
static int write_stmt(store *st, store_conn *c, const char *sql, const store_arg *args, int nargs,
                      int64_t *out) {
    if (out == NULL) return st->be->query(c, sql, args, nargs, NULL);
    store_rows *r = NULL;
    int err = st->be->query(c, sql, args, nargs, &r);
    if (err == STORE_OK) {
        err = st->be->next(r);
        if (err == STORE_ROW) {
            *out = st->be->col_int(r, 0);
            err = STORE_OK;
        } else if (err == STORE_DONE) {
            err = STORE_ENOTFOUND;
        }
    }
    st->be->rows_free(r);
    return err;
}

/* Runs a write that must change a row: STORE_ENOTFOUND when it changed
 * none (a RETURNING clause would tell the same, at a higher price). */
static int write_some(store *st, store_conn *c, const char *sql, const store_arg *args, int nargs) {
    int err = st->be->query(c, sql, args, nargs, NULL);
    if (err == STORE_OK && st->be->changes(c) == 0) err = STORE_ENOTFOUND;
    return err;
}

/* The slot of doc in st->docs: the one holding it, or the empty one where it
 * would go (the table is never full: DOC_MAX < DOC_SLOTS). */
static struct doc_vault *doc_slot(store *st, const char *doc) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 32; i++) h = (h ^ (unsigned char)doc[i]) * 16777619u;
    for (size_t i = h & (DOC_SLOTS - 1);; i = (i + 1) & (DOC_SLOTS - 1)) {
        struct doc_vault *d = &st->docs[i];
        if (d->doc[0] == '\0' || memcmp(d->doc, doc, 32) == 0) return d;
    }
}

/* Whether doc is known to have committed updates in vault. */
static bool doc_known(store *st, const char *doc, const char *vault) {
    if (st->docs == NULL) return false;
    const struct doc_vault *d = doc_slot(st, doc);
    return d->doc[0] != '\0' && memcmp(d->vault, vault, 32) == 0;
}

/* Remembers the documents that the committed txns of batch appended to. A
 * cache that cannot be allocated stays off. */
static void docs_remember(store *st, store_txn *batch) {
    if (st->docs == NULL) {
        st->docs = calloc(DOC_SLOTS, sizeof(*st->docs));
        if (st->docs == NULL) return;
    }
    for (store_txn *t = batch; t != NULL; t = t->next) {
        if (t->err != STORE_OK) continue;
        for (size_t i = 0; i < t->n; i++) {
            const struct step *s = &t->steps[i];
            if (s->kind != STEP_UPDATE) continue;
            struct doc_vault *d = doc_slot(st, s->id);
            if (d->doc[0] != '\0') continue; /* the log never changes vault */
            if (st->ndocs == DOC_MAX) {
                memset(st->docs, 0, DOC_SLOTS * sizeof(*st->docs));
                st->ndocs = 0;
                d = doc_slot(st, s->id);
            }
            memcpy(d->doc, s->id, 32);
            memcpy(d->vault, s->vault, 32);
            st->ndocs++;
        }
    }
}

/* The seq of `vault` as this batch run left it so far, read from the
 * database the first time; STORE_ENOTFOUND when there is no such vault. */
static int batch_seq(store *st, store_conn *c, const char *vault, struct vault_seq **out) {
    for (size_t i = 0; i < st->nseqs; i++) {
        if (memcmp(st->seqs[i].vault, vault, 33) == 0) {
            *out = &st->seqs[i];
            return STORE_OK;
        }
    }
    if (st->nseqs == st->capseqs) {
        size_t cap = st->capseqs ? st->capseqs * 2 : 8;
        struct vault_seq *v = realloc(st->seqs, cap * sizeof(*v));
        if (v == NULL) return STORE_ENOMEM;
        st->seqs = v;
        st->capseqs = cap;
    }
    struct vault_seq *v = &st->seqs[st->nseqs];
    store_arg a[] = {A_TEXT(vault)};
    int err = write_stmt(st, c, "SELECT seq FROM vaults WHERE id = $1", a, NARGS(a), &v->seq);
    if (err != STORE_OK) return err;
    memcpy(v->vault, vault, 33);
    v->read = v->seq;
    st->nseqs++;
    *out = v;
    return STORE_OK;
}

/* Writes back the seqs this batch run moved. */
static int flush_seqs(store *st, store_conn *c) {
    int err = STORE_OK;
    for (size_t i = 0; i < st->nseqs && err == STORE_OK; i++) {
        const struct vault_seq *v = &st->seqs[i];
        if (v->seq == v->read) continue;
        store_arg a[] = {A_INT(v->seq), A_TEXT(v->vault)};
        err = write_stmt(st, c, "UPDATE vaults SET seq = $1 WHERE id = $2", a, NARGS(a), NULL);
    }
    st->nseqs = 0;
    return err;
}

static int step_update(store *st, store_conn *c, store_txn *t, struct step *s) {
    store_rows *r = NULL;
    int64_t seq = 0;
    int err = STORE_OK;
    /* The doc's log must be empty or in this vault. */
    if (!doc_known(st, s->id, s->vault)) {
        store_arg qd[] = {A_TEXT(s->id)};
        err = st->be->query(c, "SELECT vault FROM doc_updates WHERE doc = $1 LIMIT 1", qd,
                            NARGS(qd), &r);
        if (err != STORE_OK) goto out;
        err = st->be->next(r);
        if (err == STORE_ROW) {
            size_t len;
            const char *v = st->be->col_text(r, 0, &len);
            err = len == 32 && memcmp(v, s->vault, 32) == 0 ? STORE_OK : STORE_EINVAL;
        } else if (err == STORE_DONE) { /* no log: new, or purged (checked below) */
            err = STORE_OK;
        }
        if (err != STORE_OK) goto out;
    }
    /* Both statements bump the vault's seq only when the document has no
     * tombstone (purged_docs), checked on every append: another process
     * may have purged a document this writer's cache knows. No row back
     * (STORE_ENOTFOUND): purged, or no such vault. */
    if (st->be->append_sql != NULL) {
        store_arg qa[] = {A_TEXT(s->id), A_TEXT(s->vault), A_BLOB(s->data, s->len)};
        err = write_stmt(st, c, st->be->append_sql, qa, NARGS(qa), &seq);
    } else if (st->bare) {
        /* No savepoint can undo a txn of this run: the vault's row is
         * written once for the whole batch (flush_seqs), not per update. */
        struct vault_seq *v = NULL;
        err = batch_seq(st, c, s->vault, &v);
        store_arg qi[] = {A_TEXT(s->id), A_TEXT(s->vault), A_INT(v != NULL ? v->seq + 1 : 0),
                          A_BLOB(s->data, s->len)};
        if (err == STORE_OK)
            err = write_some(st, c,
                             "INSERT INTO doc_updates (doc, vault, vseq, data)"
                             " SELECT $1, $2, $3, $4"
                             " WHERE NOT EXISTS (SELECT 1 FROM purged_docs WHERE doc = $1)",
                             qi, NARGS(qi));
        if (err == STORE_OK) seq = ++v->seq;
    } else {
        store_arg qv[] = {A_TEXT(s->vault), A_TEXT(s->id)};
        err = write_stmt(st, c,
                         "UPDATE vaults SET seq = seq + 1 WHERE id = $1"
                         " AND NOT EXISTS (SELECT 1 FROM purged_docs WHERE doc = $2) RETURNING seq",
                         qv, NARGS(qv), &seq);
        store_arg qi[] = {A_TEXT(s->id), A_TEXT(s->vault), A_INT(seq), A_BLOB(s->data, s->len)};
        if (err == STORE_OK)
            err = write_stmt(st, c,
                             "INSERT INTO doc_updates (doc, vault, vseq, data)"
                             " VALUES ($1, $2, $3, $4)",
                             qi, NARGS(qi), NULL);
    }
    if (err == STORE_OK) t->seq = s->seq = seq;
out:
    st->be->rows_free(r);
    return err;
}

static int step_file(store *st, store_conn *c, const struct step *s) {
    store_rows *r = NULL;
    store_arg a[] = {A_TEXT(s->id),
                     A_TEXT(s->vault),
                     A_TEXT(s->a),
                     A_TEXT(s->b),
                     A_TEXT(s->is_note ? "note" : "file"),
                     A_INT(s->created),
                     A_INT(s->updated),
                     A_INT(s->trashed)};
    /* The usual case, every edit of a note: only its title and times move.
     * Updating just those leaves the indexed columns (path, trashed) and so
     * their index entries alone, where the upsert below rewrites them. A
     * row that exists is not purged (a purge deletes it in the same
     * transaction as it writes the tombstone). */
    int err = write_some(st, c,
                         "UPDATE files SET title = $4, created = $6, updated = $7"
                         " WHERE id = $1 AND vault = $2 AND path = $3 AND kind = $5"
                         " AND trashed = $8",
                         a, NARGS(a));
    if (err != STORE_ENOTFOUND) return err;
    /* The update applies only within the same vault, and never to a purged
     * file (a write racing its purge must not bring the row back): no row
     * back means the id belongs to another vault, or has a tombstone. */
    err =
        st->be->query(c,
                      "INSERT INTO files (id, vault, path, title, kind, created, updated, trashed)"
                      " SELECT $1, $2, $3, $4, $5, $6, $7, $8"
                      " WHERE NOT EXISTS (SELECT 1 FROM purged_docs WHERE doc = $1)"
                      " ON CONFLICT (id) DO UPDATE SET path = excluded.path,"
                      " title = excluded.title, kind = excluded.kind,"
                      " created = excluded.created, updated = excluded.updated,"
                      " trashed = excluded.trashed WHERE files.vault = excluded.vault"
                      " RETURNING 1",
                      a, NARGS(a), &r);
    if (err == STORE_OK) {
        err = st->be->next(r);
        err = err == STORE_ROW ? STORE_OK : err == STORE_DONE ? STORE_EINVAL : err;
    }
    st->be->rows_free(r);
    if (err == STORE_EINVAL) { /* which of the two */
        store_arg qd[] = {A_TEXT(s->id)};
        int64_t one;
        int perr =
            write_stmt(st, c, "SELECT 1 FROM purged_docs WHERE doc = $1", qd, NARGS(qd), &one);
        err = perr == STORE_OK ? STORE_ENOTFOUND : perr == STORE_ENOTFOUND ? STORE_EINVAL : perr;
    }
    return err;
}

#define EVENT_SQL "INSERT INTO outbox (vault, type, json, created) VALUES ($1, $2, $3, $4)"

static int step_event(store *st, store_conn *c, const struct step *s) {
    store_arg a[] = {A_TEXT(s->vault), A_TEXT(s->a), A_TEXT(s->b), A_INT(wall_ms())};
    return write_stmt(st, c, EVENT_SQL, a, NARGS(a), NULL);
}

static int step_compact(store *st, store_conn *c, const struct step *s) {
    store_rows *r = NULL;
    int64_t rows = 0, versions = 0;
    store_arg a[] = {A_TEXT(s->id), A_TEXT(s->vault), A_INT(s->x[0]), A_INT(s->x[1])};
    /* Counted, then deleted: DELETE ... RETURNING would make SQLite keep
     * every deleted row in a temporary table first. Nothing can change
     * the range in between (the batch holds the write lock: SQLite's, or
     * the vault's row on PostgreSQL). */
    int err = st->be->query(c,
                            "SELECT count(*), CAST(COALESCE(sum(n), 0) AS BIGINT) FROM doc_updates"
                            " WHERE doc = $1 AND vault = $2 AND id >= $3 AND id < $4",
                            a, NARGS(a), &r);
    if (err == STORE_OK) {
        err = st->be->next(r);
        if (err == STORE_ROW) {
            rows = st->be->col_int(r, 0);
            versions = st->be->col_int(r, 1);
            err = STORE_OK;
        } else if (err == STORE_DONE) {
            err = STORE_EIO; /* an aggregate always answers a row */
        }
    }
    st->be->rows_free(r);
    if (err != STORE_OK) return err;
    if (rows != s->x[2] - 1 || versions >= s->x[3]) return STORE_ECONFLICT;
    err = st->be->query(c,
                        "DELETE FROM doc_updates WHERE doc = $1 AND vault = $2"
                        " AND id >= $3 AND id < $4",
                        a, NARGS(a), NULL);
    if (err != STORE_OK) return err;
    /* The last row of the range becomes the snapshot, if it is still what
     * was read: the remaining versions are its own. */
    store_arg b[] = {A_BLOB(s->data, s->len), A_INT(s->x[3]), A_TEXT(s->id), A_INT(s->x[1]),
                     A_INT(s->x[3] - versions)};
    err = write_some(st, c,
                     "UPDATE doc_updates SET data = $1, n = $2"
                     " WHERE doc = $3 AND id = $4 AND n = $5",
                     b, NARGS(b));
    return err == STORE_ENOTFOUND ? STORE_ECONFLICT : err;
}

static int step_version(store *st, store_conn *c, const struct step *s) {
    store_arg a[] = {A_TEXT(s->id),  A_INT(s->x[0]), A_TEXT(s->vault), A_INT(s->created),
                     A_INT(s->x[1]), A_INT(s->x[2]), A_INT(s->x[3]),   A_BLOB(s->data, s->len)};
    return write_stmt(st, c,
                      "INSERT INTO versions (doc, n, vault, created, author, restored_from, base,"
                      " snapshot) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                      a, NARGS(a), NULL);
}

static int step_burst_done(store *st, store_conn *c, const struct step *s) {
    store_arg a[] = {A_TEXT(s->id), A_INT(s->x[0])};
    int err = write_stmt(st, c, "DELETE FROM version_bursts WHERE doc = $1 AND last_at <= $2", a,
                         NARGS(a), NULL);
    if (err == STORE_OK)
        err = write_stmt(
            st, c,
            "UPDATE version_bursts SET first_at = CAST($2 AS BIGINT) + 1, restored_from = 0"
            " WHERE doc = $1",
            a, NARGS(a), NULL);
    return err;
}

/* COUNT(*) and the byte sum of one usage query (sql: doc = $1) into out. */
static int usage_pair(store *st, store_conn *c, const char *sql, const char *doc, int64_t out[2]) {
    store_rows *r = NULL;
    store_arg a[] = {A_TEXT(doc)};
    int err = st->be->query(c, sql, a, NARGS(a), &r);
    if (err == STORE_OK) {
        err = st->be->next(r);
        if (err == STORE_ROW) {
            out[0] = st->be->col_int(r, 0);
            out[1] = st->be->col_int(r, 1);
            err = STORE_OK;
        } else if (err == STORE_DONE) {
            err = STORE_EIO;
        }
    }
    st->be->rows_free(r);
    return err;
}

static int step_purge(store *st, store_conn *c, store_txn *t, const struct step *s) {
    int64_t one;
    /* The cutoff from the vault's retention as it is at commit (as
     * store_trash_due computes it): raising it saves a purge decided before. */
    store_arg af[] = {A_TEXT(s->id), A_TEXT(s->vault), A_INT(s->x[0]), A_INT(s->x[1])};
    store_arg ad[] = {A_TEXT(s->id)};
    int err = write_stmt(st, c,
                         "DELETE FROM files WHERE id = $1 AND vault = $2 AND trashed <> 0"
                         " AND (SELECT $3 - CASE WHEN trash_retention_days > 0"
                         " THEN trash_retention_days * CAST(86400000 AS BIGINT) ELSE $4 END"
                         " FROM vaults WHERE id = $2) >= CASE WHEN updated > trashed"
                         " THEN updated ELSE trashed END RETURNING 1",
                         af, NARGS(af), &one);
    /* What goes, for the purge log (measured here, off the server's loop). */
    int64_t u[2] = {0, 0}, v[2] = {0, 0};
    if (err == STORE_OK)
        err = usage_pair(st, c,
                         "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM doc_updates"
                         " WHERE doc = $1",
                         s->id, u);
    if (err == STORE_OK)
        err = usage_pair(st, c,
                         "SELECT COUNT(*), COALESCE(SUM(LENGTH(snapshot)), 0) FROM versions"
                         " WHERE doc = $1",
                         s->id, v);
    if (err == STORE_OK) t->purged = (store_doc_usage){u[0], u[1], v[0], v[1]};
    if (err == STORE_OK)
        err = write_stmt(st, c, "DELETE FROM doc_updates WHERE doc = $1", ad, NARGS(ad), NULL);
    if (err == STORE_OK)
        err = write_stmt(st, c, "DELETE FROM versions WHERE doc = $1", ad, NARGS(ad), NULL);
    if (err == STORE_OK)
        err = write_stmt(st, c, "DELETE FROM version_bursts WHERE doc = $1", ad, NARGS(ad), NULL);
    /* A tombstone: an update that reaches the writer after this (an edit
     * racing the purge) is refused instead of starting a log with no
     * beginning. The writer's cache of known documents forgets them all,
     * so that the next append to any document checks again. */
    store_arg ap[] = {A_TEXT(s->id), A_TEXT(s->vault), A_INT(wall_ms())};
    if (err == STORE_OK)
        err = write_stmt(st, c,
                         "INSERT INTO purged_docs (doc, vault, purged) VALUES ($1, $2, $3)"
                         " ON CONFLICT (doc) DO NOTHING",
                         ap, NARGS(ap), NULL);
    if (err == STORE_OK && st->docs != NULL) {
        memset(st->docs, 0, DOC_SLOTS * sizeof(*st->docs));
        st->ndocs = 0;
    }
    return err;
}

static int run_step(store *st, store_txn *t, struct step *s) {
    switch (s->kind) {
    case STEP_UPDATE: return step_update(st, st->wconn, t, s);
    case STEP_FILE: return step_file(st, st->wconn, s);
    case STEP_EVENT: return step_event(st, st->wconn, s);
    case STEP_CALL: return s->fn(st, st->wconn, s->arg);
    case STEP_VERSION: return step_version(st, st->wconn, s);
    case STEP_BURST_DONE: return step_burst_done(st, st->wconn, s);
    case STEP_PURGE: return step_purge(st, st->wconn, t, s);
    case STEP_COMPACT: return step_compact(st, st->wconn, s);
    }
    return STORE_EINVAL;
}

/* ---- the writer thread --------------------------------------------------- */

#define STORE__ERETRY (-100) /* run_batch_once: a transient conflict; run again */
#define STORE__EREDO  (-101) /* run_batch_once without savepoints: a txn failed on its own */

static void step_release(struct step *s) {
    free(s->data);
    free(s->a);
    free(s->b);
}

void store_txn_free(store_txn *t) {
    if (t == NULL) return;
    for (size_t i = 0; i < t->n; i++) step_release(&t->steps[i]);
    free(t->steps);
    free(t);
}

/* Errors a txn causes by itself; anything else is the database's. */
static bool own_error(int err) {
    return err == STORE_ECONFLICT || err == STORE_ENOTFOUND || err == STORE_EINVAL;
}

/* Runs one txn in a savepoint; returns a batch-fatal error, or STORE_OK with
 * t->err telling the txn's own fate. The savepoint stays open: the next
 * txn's start (`first` false) or COMMIT releases it. `bare`: no savepoint,
 * and the txn's own failure is STORE__EREDO (the batch must be rolled back
 * and run again with savepoints). */
static int run_txn(store *st, store_txn *t, bool first, bool bare) {
    const store_ops *be = st->be;
    t->seq = 0;
    t->err = STORE_OK;
    t->purged = (store_doc_usage){0, 0, 0, 0};
    int err = STORE_OK;
    if (!bare) {
        err = be->exec(st->wconn, first ? "SAVEPOINT txn" : "RELEASE SAVEPOINT txn; SAVEPOINT txn");
        if (err != STORE_OK) return err;
    }
    for (size_t i = 0; i < t->n && err == STORE_OK; i++)
        if (!bare || !t->steps[i].skip) err = run_step(st, t, &t->steps[i]);
    if (err == STORE_OK && t->fail) {
        err = STORE_EIO;
    } else if (err != STORE_OK && !own_error(err)) {
        return err;
    }
    if (err != STORE_OK && bare) return STORE__EREDO;
    if (err != STORE_OK) {
        int rerr = be->exec(st->wconn, "ROLLBACK TO SAVEPOINT txn");
        if (rerr != STORE_OK) return rerr;
        t->seq = 0;
    }
    t->err = err;
    return STORE_OK;
}

static int cmp_vault(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Locks the rows of every vault the batch writes, in id order (see
 * lock_vault_sql). */
static int lock_vaults(store *st, store_txn *batch) {
    size_t n = 0, k = 0;
    for (store_txn *t = batch; t != NULL; t = t->next) n += t->n;
    if (n == 0) return STORE_OK;
    const char **ids = malloc(n * sizeof(*ids));
    if (ids == NULL) return STORE_ENOMEM;
    for (store_txn *t = batch; t != NULL; t = t->next)
        for (size_t i = 0; i < t->n; i++)
            if (t->steps[i].kind != STEP_CALL) ids[k++] = t->steps[i].vault;
    qsort(ids, k, sizeof(*ids), cmp_vault);
    int err = STORE_OK;
    for (size_t i = 0; i < k && err == STORE_OK; i++) {
        if (i > 0 && strcmp(ids[i], ids[i - 1]) == 0) continue;
        store_arg a[] = {A_TEXT(ids[i])};
        err = st->be->query(st->wconn, st->be->lock_vault_sql, a, NARGS(a), NULL);
    }
    free(ids);
    return err;
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* The key of a step a later one of the same kind can stand for: a
 * projection row by id and vault, an event by all it holds. */
static uint64_t step_key(const struct step *s) {
    uint64_t h = fnv1a(14695981039346656037u, (const char *)&s->kind, sizeof(s->kind));
    h = fnv1a(h, s->vault, 32);
    if (s->kind == STEP_FILE) return fnv1a(h, s->id, 32);
    h = fnv1a(h, s->a, strlen(s->a) + 1);
    return fnv1a(h, s->b, strlen(s->b) + 1);
}

static bool same_target(const struct step *x, const struct step *y) {
    if (x->kind != y->kind || memcmp(x->vault, y->vault, 32) != 0) return false;
    if (x->kind == STEP_FILE) return memcmp(x->id, y->id, 32) == 0;
    return strcmp(x->a, y->a) == 0 && strcmp(x->b, y->b) == 0;
}

/* For a run without savepoints, where the batch commits whole or not at
 * all: marks the projection writes and the events that a later txn of the
 * batch repeats. A note typed into by several people gets one row write and
 * one event per batch, not one per keystroke; the row ends as the last
 * write leaves it, and the event kept is the latest of its copies (so a
 * consumer sees it after every change it stands for). Marks nothing when
 * out of memory. */
static void mark_superseded(store_txn *batch) {
    size_t n = 0;
    for (store_txn *t = batch; t != NULL; t = t->next)
        for (size_t i = 0; i < t->n; i++) {
            t->steps[i].skip = false;
            n += t->steps[i].kind == STEP_FILE || t->steps[i].kind == STEP_EVENT;
        }
    if (n < 2) return;
    size_t cap = 4;
    while (cap < 2 * n) cap *= 2;
    struct step **all = malloc(n * sizeof(*all)), **slots = calloc(cap, sizeof(*slots));
    if (all == NULL || slots == NULL) goto out;
    size_t k = 0;
    for (store_txn *t = batch; t != NULL; t = t->next)
        for (size_t i = 0; i < t->n; i++)
            if (t->steps[i].kind == STEP_FILE || t->steps[i].kind == STEP_EVENT)
                all[k++] = &t->steps[i];
    for (size_t i = n; i-- > 0;) { /* latest first */
        struct step *s = all[i];
        for (size_t j = step_key(s) & (cap - 1);; j = (j + 1) & (cap - 1)) {
            if (slots[j] == NULL) {
                slots[j] = s;
                break;
            }
            if (same_target(slots[j], s)) {
                s->skip = true;
                break;
            }
        }
    }
out:
    free(all);
    free(slots);
}

/* One run of the batch: BEGIN, each txn, COMMIT; ROLLBACK on failure.
 * `bare`: no savepoints (run_txn). */
static int run_batch_once(store *st, store_txn *batch, bool bare) {
    const store_ops *be = st->be;
    st->bare = bare;
    st->nseqs = 0;
    if (bare) mark_superseded(batch);
    int berr = be->exec(st->wconn, be->begin_sql);
    if (berr == STORE_OK && be->lock_vault_sql != NULL) berr = lock_vaults(st, batch);
    for (store_txn *t = batch; t != NULL && berr == STORE_OK; t = t->next)
        berr = run_txn(st, t, t == batch, bare);
    if (berr == STORE_OK) berr = flush_seqs(st, st->wconn);
    if (berr == STORE_OK && st->commit_delay_ms > 0) {
        /* Crash tests widen the window in which a commit is in flight. */
        struct timespec ts = {st->commit_delay_ms / 1000, (st->commit_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (berr == STORE_OK) berr = be->exec(st->wconn, "COMMIT");
    if (berr == STORE_OK) docs_remember(st, batch);
    if (berr != STORE_OK) {
        bool transient = berr != STORE__EREDO && be->transient != NULL && be->transient(st->wconn);
        (void)be->exec(st->wconn, "ROLLBACK");
        if (transient) return STORE__ERETRY;
    }
    return berr;
}

/* Tells the commit hook about every update of a committed txn, in order. */
static void report_commit(store_commit_fn hook, void *ud, const store_txn *t) {
    for (size_t i = 0; i < t->n; i++) {
        const struct step *s = &t->steps[i];
        if (s->kind != STEP_UPDATE) continue;
        store_committed c = {.vault = s->vault,
                             .doc = s->id,
                             .seq = s->seq,
                             .update = s->data,
                             .len = s->len,
                             .origin = t->origin};
        hook(ud, &c);
    }
}

static void notify_listeners(store *st) {
    pthread_mutex_lock(&st->llock);
    for (size_t i = 0; i < st->nlisteners; i++) st->listeners[i].fn(st->listeners[i].ud);
    pthread_mutex_unlock(&st->llock);
}

static void run_batch(store *st, store_txn *batch, size_t n) {
    double t0 = mono_ms();
    int berr = STORE__ERETRY;
    for (int i = 0; i < BATCH_ATTEMPTS && berr == STORE__ERETRY; i++) {
        if (i > 0) {
            /* Back off so the other writer, already waiting, goes first. */
            struct timespec ts = {0, (long)i * 20000000L};
            nanosleep(&ts, NULL);
        }
        /* Without savepoints first: a savepoint per txn costs a statement
         * and makes SQLite copy every page a txn first touches into its
         * statement journal. A txn failing on its own is rare: then the
         * batch runs again, each txn in its savepoint. */
        berr = run_batch_once(st, batch, true);
        if (berr == STORE__EREDO) berr = run_batch_once(st, batch, false);
    }
    if (berr == STORE__ERETRY) berr = STORE_EIO;
    double ms = mono_ms() - t0;
    pthread_mutex_lock(&st->qlock);
    store_commit_fn hook = st->hook;
    void *hook_ud = st->hook_ud;
    pthread_mutex_unlock(&st->qlock);
    if (berr == STORE_OK) notify_listeners(st);

    store_txn *next;
    for (store_txn *t = batch; t != NULL; t = next) {
        next = t->next;
        store_result res = {.err = berr != STORE_OK ? berr : t->err,
                            .vault_seq = 0,
                            .batch_size = n,
                            .commit_ms = ms};
        if (res.err == STORE_OK) {
            res.vault_seq = t->seq;
            res.purged = t->purged;
        }
        if (res.err == STORE_OK && hook != NULL) report_commit(hook, hook_ud, t);
        if (t->done != NULL) t->done(t->ud, &res);
        store_txn_free(t);
    }
}

static void *writer_main(void *arg) {
    store *st = arg;
    pthread_mutex_lock(&st->qlock);
    for (;;) {
        while (st->qhead == NULL && !st->closing) pthread_cond_wait(&st->qcond, &st->qlock);
        if (st->qhead == NULL) break; /* closing, and everything is answered */
        store_txn *batch = st->qhead;
        size_t n = st->qlen;
        st->qhead = st->qtail = NULL;
        st->qlen = 0;
        pthread_mutex_unlock(&st->qlock);
        run_batch(st, batch, n);
        pthread_mutex_lock(&st->qlock);
    }
    pthread_mutex_unlock(&st->qlock);
    return NULL;
}

/* ---- open, migrate, close ------------------------------------------------ */

static int migrate(store *st, char *err, size_t errlen) {
    const store_ops *be = st->be;
    store_conn *c = st->wconn;
    int64_t version = 0;
    int rc = be->exec(c, be->begin_sql);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "cannot start the schema migration (%s; details in the log)",
                 store_strerror(rc));
        return rc;
    }
    if (be->migrate_lock_sql != NULL) rc = be->exec(c, be->migrate_lock_sql);
    if (rc == STORE_OK)
        rc = be->exec(c, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    if (rc == STORE_OK)
        rc = write_stmt(st, c, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL, 0,
                        &version);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "cannot read the schema version (%s; details in the log)",
                 store_strerror(rc));
        goto fail;
    }
    if (version > be->nmigrations || version < 0) {
        snprintf(err, errlen,
                 "the database schema version %lld is newer than this vaultd knows (%d): "
                 "run a vaultd at least as new as the one that last used this database",
                 (long long)version, be->nmigrations);
        rc = STORE_ESCHEMA;
        goto fail;
    }
    for (int i = (int)version; i < be->nmigrations; i++) {
        rc = be->exec(c, be->migrations[i]);
        if (rc != STORE_OK) {
            snprintf(err, errlen, "schema migration to version %d failed (%s; details in the log)",
                     i + 1, store_strerror(rc));
            rc = STORE_ESCHEMA;
            goto fail;
        }
    }
    if (version != be->nmigrations) {
        store_arg a[] = {A_INT(be->nmigrations)};
        rc = be->exec(c, "DELETE FROM schema_version");
        if (rc == STORE_OK)
            rc = write_stmt(st, c, "INSERT INTO schema_version (version) VALUES ($1)", a, NARGS(a),
                            NULL);
    }
    if (rc == STORE_OK) rc = be->exec(c, "COMMIT");
    if (rc != STORE_OK) {
        snprintf(err, errlen, "cannot record the schema version (%s; details in the log)",
                 store_strerror(rc));
        goto fail;
    }
    st->schema_version = be->nmigrations;
    return STORE_OK;
fail:
    (void)be->exec(c, "ROLLBACK");
    return rc;
}

static bool is_postgres_url(const char *where) {
    return strncmp(where, "postgres://", 11) == 0 || strncmp(where, "postgresql://", 13) == 0;
}

int store_open(const char *where, store **out, char *err, size_t errlen) {
    char scratch[256];
    store *st = NULL;
    int rc;

    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    err[0] = '\0';
    if (where == NULL || out == NULL) {
        snprintf(err, errlen, "no database given");
        return STORE_EINVAL;
    }
    st = malloc(sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return STORE_ENOMEM;
    }
    /* Static initializers: nothing to fail, and destroying is always valid. */
    *st = (store){.be = is_postgres_url(where) ? &store__postgres : &store__sqlite,
                  .rlock = PTHREAD_MUTEX_INITIALIZER,
                  .rcond = PTHREAD_COND_INITIALIZER,
                  .qlock = PTHREAD_MUTEX_INITIALIZER,
                  .qcond = PTHREAD_COND_INITIALIZER,
                  .llock = PTHREAD_MUTEX_INITIALIZER};
    const char *delay = getenv("VAULT_TEST_COMMIT_DELAY_MS");
    if (delay != NULL) st->commit_delay_ms = strtol(delay, NULL, 10) % 10000;

    rc = st->be->connect(where, &st->wconn, err, errlen);
    if (rc != STORE_OK) goto fail;
    rc = migrate(st, err, errlen);
    if (rc != STORE_OK) goto fail;
    st->where = strdup(where);
    if (st->where == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ENOMEM;
        goto fail;
    }
    rc = st->be->connect(where, &st->rconns[0], err, errlen);
    if (rc != STORE_OK) goto fail;
    st->nreaders = 1;
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        snprintf(err, errlen, "cannot start the database writer thread");
        rc = STORE_ENOMEM;
        goto fail;
    }
    *out = st;
    return STORE_OK;

fail:
    st->be->disconnect(st->rconns[0]);
    st->be->disconnect(st->wconn);
    pthread_cond_destroy(&st->qcond);
    pthread_cond_destroy(&st->rcond);
    pthread_mutex_destroy(&st->qlock);
    pthread_mutex_destroy(&st->rlock);
    free(st->where);
    free(st);
    return rc;
}

void store_close(store *st) {
    if (st == NULL) return;
    pthread_mutex_lock(&st->qlock);
    st->closing = true;
    pthread_cond_broadcast(&st->qcond);
    pthread_mutex_unlock(&st->qlock);
    pthread_join(st->writer, NULL);
    for (int i = 0; i < st->nreaders; i++) st->be->disconnect(st->rconns[i]);
    st->be->disconnect(st->wconn);
    pthread_cond_destroy(&st->qcond);
    pthread_cond_destroy(&st->rcond);
    free(st->where);
    pthread_mutex_destroy(&st->qlock);
    pthread_mutex_destroy(&st->rlock);
    pthread_mutex_destroy(&st->llock);
    free(st->docs);
    free(st->seqs);
    free(st);
}

const char *store_backend(const store *st) { return st->be->name; }

int store_schema_version(store *st) { return st->schema_version; }

int store_ping(store *st) {
    int64_t one;
    if (st == NULL) return STORE_EINVAL;
    return read_int(st, "SELECT 1", NULL, 0, &one);
}

/* ---- transactions -------------------------------------------------------- */

store_txn *store_txn_new(void) { return calloc(1, sizeof(store_txn)); }

/* A zeroed step at the end of t, or NULL (t unchanged) when out of memory. */
static struct step *txn_push(store_txn *t) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        struct step *steps = realloc(t->steps, cap * sizeof(*steps));
        if (steps == NULL) return NULL;
        t->steps = steps;
        t->cap = cap;
    }
    struct step *s = &t->steps[t->n];
    memset(s, 0, sizeof(*s));
    return s;
}

int store_txn_append_update(store_txn *t, const char *vault, const char *doc, const uint8_t *update,
                            size_t len) {
    if (t == NULL || !id_ok(vault) || !id_ok(doc) || update == NULL || len == 0 ||
        len > MAX_UPDATE_BYTES)
        return STORE_EINVAL;
    struct step *s = txn_push(t);
    if (s == NULL) return STORE_ENOMEM;
    s->data = malloc(len);
    if (s->data == NULL) return STORE_ENOMEM;
    memcpy(s->data, update, len);
    s->len = len;
    s->kind = STEP_UPDATE;
    memcpy(s->vault, vault, 33);
    memcpy(s->id, doc, 33);
    t->n++;
    return STORE_OK;
}

int store_txn_compact(store_txn *t, const char *vault, const char *doc, int64_t first_id,
                      int64_t last_id, int64_t rows, int64_t versions, const uint8_t *merged,
                      size_t len) {
    if (t == NULL || !id_ok(vault) || !id_ok(doc) || first_id > last_id || rows < 2 ||
        versions < rows || merged == NULL || len == 0 || len > MAX_UPDATE_BYTES)
        return STORE_EINVAL;
    struct step *s = txn_push(t);
    if (s == NULL) return STORE_ENOMEM;
    s->data = malloc(len);
    if (s->data == NULL) return STORE_ENOMEM;
    memcpy(s->data, merged, len);
    s->len = len;
    s->kind = STEP_COMPACT;
    memcpy(s->vault, vault, 33);
    memcpy(s->id, doc, 33);
    s->x[0] = first_id;
    s->x[1] = last_id;
    s->x[2] = rows;
    s->x[3] = versions;
    t->n++;
    return STORE_OK;
}

int store_txn_put_file(store_txn *t, const store_file *f) {
    if (t == NULL || f == NULL || !id_ok(f->id) || !id_ok(f->vault) || !text_ok(f->path) ||
        f->path[0] != '/' || (f->title != NULL && !utf8_valid(f->title)))
        return STORE_EINVAL;
    struct step *s = txn_push(t);
    if (s == NULL) return STORE_ENOMEM;
    s->a = strdup(f->path);
    s->b = strdup(f->title ? f->title : "");
    if (s->a == NULL || s->b == NULL) {
        step_release(s);
        return STORE_ENOMEM;
    }
    s->kind = STEP_FILE;
    memcpy(s->id, f->id, 33);
    memcpy(s->vault, f->vault, 33);
    s->is_note = f->is_note;
    s->created = f->created;
    s->updated = f->updated;
    s->trashed = f->trashed;
    t->n++;
    return STORE_OK;
}

/* Adds an event step whose arguments were checked. */
static int push_event(store_txn *t, const char *vault, const char *type, const char *json) {
    struct step *s = txn_push(t);
    if (s == NULL) return STORE_ENOMEM;
    s->a = strdup(type);
    s->b = strdup(json);
    if (s->a == NULL || s->b == NULL) {
        step_release(s);
        return STORE_ENOMEM;
    }
    s->kind = STEP_EVENT;
    memcpy(s->vault, vault, 33);
    t->n++;
    return STORE_OK;
}

int store_txn_event(store_txn *t, const char *vault, const char *type, const char *json) {
    if (t == NULL || !id_ok(vault) || !text_ok(type) || type[0] == '\0' || !text_ok(json))
        return STORE_EINVAL;
    json_t *parsed = json_loads(json, JSON_DECODE_ANY, NULL);
    if (parsed == NULL) return STORE_EINVAL;
    json_decref(parsed);
    return push_event(t, vault, type, json);
}

int store_txn_note_event(store_txn *t, const char *vault, const char *type, const char *doc,
                         int64_t user) {
    if (t == NULL || !id_ok(vault) || !text_ok(type) || type[0] == '\0' || !id_ok(doc))
        return STORE_EINVAL;
    char json[96];
    snprintf(json, sizeof(json), "{\"id\":\"%s\",\"user\":%lld}", doc, (long long)user);
    return push_event(t, vault, type, json);
}

int store_txn_put_version(store_txn *t, const char *vault, const char *doc, const store_version *v,
                          const uint8_t *payload, size_t len) {
    if (t == NULL || !id_ok(vault) || !id_ok(doc) || v == NULL || v->n < 1 || v->base < 1 ||
        v->base > v->n || payload == NULL || len == 0 || len > MAX_UPDATE_BYTES)
        return STORE_EINVAL;
    struct step *s = txn_push(t);
    if (s == NULL) return STORE_ENOMEM;
    s->data = malloc(len);
    if (s->data == NULL) return STORE_ENOMEM;
    memcpy(s->data, payload, len);
    s->len = len;
    s->kind = STEP_VERSION;
    memcpy(s->vault, vault, 33);
    memcpy(s->id, doc, 33);
    s->created = v->created;
    s->x[0] = v->n;
    s->x[1] = v->author;
    s->x[2] = v->restored_from;
    s->x[3] = v->base;
    t->n++;
    return STORE_OK;
}

/* A step that names a document and one number (x[0]). */
static int txn_doc_step(store_txn *t, step_kind kind, const char *vault, const char *doc,
                        int64_t x0) {
    if (t == NULL || !id_ok(vault) || !id_ok(doc)) return STORE_EINVAL;
    struct step *s = txn_push(t);
    if (s == NULL) return STORE_ENOMEM;
    s->kind = kind;
    memcpy(s->vault, vault, 33);
    memcpy(s->id, doc, 33);
    s->x[0] = x0;
    t->n++;
    return STORE_OK;
}

int store_txn_burst_done(store_txn *t, const char *vault, const char *doc, int64_t last_at) {
    return txn_doc_step(t, STEP_BURST_DONE, vault, doc, last_at);
}

int store_txn_purge_note(store_txn *t, const char *vault, const char *doc, int64_t now,
                         int64_t default_retention_ms) {
    if (default_retention_ms < 0) return STORE_EINVAL;
    int rc = txn_doc_step(t, STEP_PURGE, vault, doc, now);
    if (rc == STORE_OK) t->steps[t->n - 1].x[1] = default_retention_ms;
    return rc;
}

int store__txn_call(store_txn *t, store__call_fn fn, void *arg) {
    if (t == NULL || fn == NULL) return STORE_EINVAL;
    struct step *s = txn_push(t);
    if (s == NULL) return STORE_ENOMEM;
    s->kind = STEP_CALL;
    s->fn = fn;
    s->arg = arg;
    t->n++;
    return STORE_OK;
}

void store_txn_set_origin(store_txn *t, uint64_t origin) {
    if (t != NULL) t->origin = origin;
}

void store_set_commit_hook(store *st, store_commit_fn fn, void *ud) {
    pthread_mutex_lock(&st->qlock);
    st->hook = fn;
    st->hook_ud = ud;
    pthread_mutex_unlock(&st->qlock);
}

void store_txn_fail_for_test(store_txn *t) {
    if (t != NULL) t->fail = true;
}

int store__conn_exec(store *st, store_conn *c, const char *sql) { return st->be->exec(c, sql); }

size_t store__queued(store *st) {
    pthread_mutex_lock(&st->qlock);
    size_t n = st->qlen;
    pthread_mutex_unlock(&st->qlock);
    return n;
}

int store_submit(store *st, store_txn *t, store_done_fn done, void *ud) {
    if (st == NULL || t == NULL) {
        store_txn_free(t);
        return STORE_EINVAL;
    }
    t->done = done;
    t->ud = ud;
    t->next = NULL;
    pthread_mutex_lock(&st->qlock);
    if (st->closing) {
        pthread_mutex_unlock(&st->qlock);
        store_txn_free(t);
        return STORE_ECLOSED;
    }
    if (st->qtail != NULL)
        st->qtail->next = t;
    else
        st->qhead = t;
    st->qtail = t;
    st->qlen++;
    pthread_cond_signal(&st->qcond);
    pthread_mutex_unlock(&st->qlock);
    return STORE_OK;
}

struct waiter {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
    store_result res;
};

static void waiter_done(void *ud, const store_result *res) {
    struct waiter *w = ud;
    pthread_mutex_lock(&w->m);
    w->res = *res;
    w->done = true;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

int store_commit(store *st, store_txn *t, store_result *res) {
    struct waiter w = {.done = false};
    pthread_mutex_init(&w.m, NULL);
    pthread_cond_init(&w.c, NULL);
    int rc = store_submit(st, t, waiter_done, &w);
    if (rc == STORE_OK) {
        pthread_mutex_lock(&w.m);
        while (!w.done) pthread_cond_wait(&w.c, &w.m);
        pthread_mutex_unlock(&w.m);
        rc = w.res.err;
    } else {
        w.res.err = rc;
    }
    pthread_cond_destroy(&w.c);
    pthread_mutex_destroy(&w.m);
    if (res != NULL) *res = w.res;
    return rc;
}

/* ---- direct writes: one or two statements run as a txn ------------------- */

struct wstmt {
    const char *sql;
    const store_arg *args;
    int nargs;
    bool want_row; /* no row back is STORE_ENOTFOUND; its int column 0 -> out */
};

struct wcall {
    struct wstmt s[3];
    int n;
    int64_t out;
};

static int wcall_run(store *st, store_conn *c, void *arg) {
    struct wcall *w = arg;
    int err = STORE_OK;
    for (int i = 0; i < w->n && err == STORE_OK; i++)
        err = write_stmt(st, c, w->s[i].sql, w->s[i].args, w->s[i].nargs,
                         w->s[i].want_row ? &w->out : NULL);
    return err;
}

static int write_call(store *st, struct wcall *w) {
    if (st == NULL) return STORE_EINVAL;
    store_txn *t = store_txn_new();
    if (t == NULL) return STORE_ENOMEM;
    int err = store__txn_call(t, wcall_run, w);
    if (err != STORE_OK) {
        store_txn_free(t);
        return err;
    }
    return store_commit(st, t, NULL);
}

/* ---- users and sessions -------------------------------------------------- */

void store_user_free(store_user *u) {
    if (u == NULL) return;
    free(u->email);
    free(u->name);
    free(u->pwhash);
    u->email = u->name = u->pwhash = NULL;
}

int store_user_create(store *st, const char *email, const char *name, const char *pwhash,
                      int64_t now, int64_t *id) {
    if (!text_ok(email) || email[0] == '\0' || !text_ok(name) || !text_ok(pwhash) || id == NULL)
        return STORE_EINVAL;
    store_arg a[] = {A_TEXT(email), A_TEXT(name), A_TEXT(pwhash), A_INT(now)};
    struct wcall w = {.n = 1,
                      .s = {{"INSERT INTO users (email, name, pwhash, created)"
                             " VALUES ($1, $2, $3, $4) RETURNING id",
                             a, NARGS(a), true}}};
    int err = write_call(st, &w);
    if (err == STORE_OK) *id = w.out;
    return err;
}

static int row_user(store *st, store_rows *r, void *ctx) {
    store_user u = {.id = st->be->col_int(r, 0), .created = st->be->col_int(r, 4)};
    int err = dup_col(st, r, 1, &u.email);
    if (err == STORE_OK) err = dup_col(st, r, 2, &u.name);
    if (err == STORE_OK) err = dup_col(st, r, 3, &u.pwhash);
    if (err != STORE_OK) {
        store_user_free(&u);
        return err;
    }
    *(store_user *)ctx = u;
    return STORE_OK;
}

static int read_user(store *st, const char *where, const store_arg *a, store_user *out) {
    char sql[128];
    store_user u = {0};
    size_t n = 0;
    snprintf(sql, sizeof(sql), "SELECT id, email, name, pwhash, created FROM users WHERE %s",
             where);
    int err = read_rows(st, sql, a, 1, row_user, &u, &n);
    if (err == STORE_OK && n == 0) err = STORE_ENOTFOUND;
    if (err == STORE_OK) *out = u;
    return err;
}

int store_user_by_email(store *st, const char *email, store_user *out) {
    if (st == NULL || !text_ok(email) || out == NULL) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(email)};
    return read_user(st, "email = $1", a, out);
}

int store_user_by_id(store *st, int64_t id, store_user *out) {
    if (st == NULL || out == NULL) return STORE_EINVAL;
    store_arg a[] = {A_INT(id)};
    return read_user(st, "id = $1", a, out);
}

int store_session_create(store *st, const uint8_t token_hash[32], int64_t user_id, int64_t created,
                         int64_t expires) {
    if (token_hash == NULL) return STORE_EINVAL;
    store_arg a[] = {A_BLOB(token_hash, 32), A_INT(user_id), A_INT(created), A_INT(expires)};
    struct wcall w = {.n = 1,
                      .s = {{"INSERT INTO sessions (token_hash, user_id, created, expires)"
                             " VALUES ($1, $2, $3, $4)",
                             a, NARGS(a), false}}};
    return write_call(st, &w);
}

int store_session_user(store *st, const uint8_t token_hash[32], int64_t now, int64_t *user_id) {
    if (st == NULL || token_hash == NULL || user_id == NULL) return STORE_EINVAL;
    store_arg a[] = {A_BLOB(token_hash, 32), A_INT(now)};
    return read_int(st, "SELECT user_id FROM sessions WHERE token_hash = $1 AND expires > $2", a,
                    NARGS(a), user_id);
}

int store_session_delete(store *st, const uint8_t token_hash[32]) {
    if (token_hash == NULL) return STORE_EINVAL;
    store_arg a[] = {A_BLOB(token_hash, 32)};
    struct wcall w = {
        .n = 1,
        .s = {{"DELETE FROM sessions WHERE token_hash = $1 RETURNING 1", a, NARGS(a), true}}};
    return write_call(st, &w);
}

int store_login_failure_add(store *st, const char *key, int64_t now) {
    if (!text_ok(key)) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(key), A_INT(now)};
    struct wcall w = {
        .n = 1,
        .s = {{"INSERT INTO login_failures (key, at) VALUES ($1, $2)", a, NARGS(a), false}}};
    return write_call(st, &w);
}

int store_login_failures(store *st, const char *key, int64_t since, int64_t *count) {
    if (st == NULL || !text_ok(key) || count == NULL) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(key), A_INT(since)};
    return read_int(st, "SELECT COUNT(*) FROM login_failures WHERE key = $1 AND at >= $2", a,
                    NARGS(a), count);
}

int store_purge_expired(store *st, int64_t now, int64_t failures_before) {
    store_arg as[] = {A_INT(now)};
    store_arg af[] = {A_INT(failures_before)};
    struct wcall w = {.n = 2,
                      .s = {{"DELETE FROM sessions WHERE expires <= $1", as, NARGS(as), false},
                            {"DELETE FROM login_failures WHERE at < $1", af, NARGS(af), false}}};
    return write_call(st, &w);
}

/* ---- vaults and members -------------------------------------------------- */

static bool role_ok(store_role r) {
    return r == ROLE_VIEWER || r == ROLE_EDITOR || r == ROLE_OWNER;
}

static store_role role_of(int64_t v) {
    return v >= ROLE_VIEWER && v <= ROLE_OWNER ? (store_role)v : ROLE_NONE;
}

void store_vault_free(store_vault *v) {
    if (v == NULL) return;
    free(v->name);
    v->name = NULL;
}

void store_vaults_free(store_vault *v, size_t n) {
    if (v == NULL) return;
    for (size_t i = 0; i < n; i++) store_vault_free(&v[i]);
    free(v);
}

int store_vault_create(store *st, const char *id, const char *name, int64_t owner, int64_t now) {
    if (!id_ok(id) || !text_ok(name)) return STORE_EINVAL;
    store_arg av[] = {A_TEXT(id), A_TEXT(name), A_INT(owner), A_INT(now)};
    store_arg am[] = {A_TEXT(id), A_INT(owner), A_INT(ROLE_OWNER)};
    char json[64];
    snprintf(json, sizeof(json), "{\"owner\":%lld}", (long long)owner);
    store_arg ae[] = {A_TEXT(id), A_TEXT("vault.created"), A_TEXT(json), A_INT(wall_ms())};
    struct wcall w = {
        .n = 3,
        .s = {{"INSERT INTO vaults (id, name, owner, created, seq) VALUES ($1, $2, $3, $4, 0)", av,
               NARGS(av), false},
              {"INSERT INTO members (vault, user_id, role) VALUES ($1, $2, $3)", am, NARGS(am),
               false},
              {EVENT_SQL, ae, NARGS(ae), false}}};
    return write_call(st, &w);
}

#define VAULT_COLS "v.id, v.name, v.owner, v.created, v.seq, v.trash_retention_days"

/* Columns VAULT_COLS then the role. */
static int vault_fill(store *st, store_rows *r, store_vault *v) {
    int err = id_col(st, r, 0, v->id);
    if (err == STORE_OK) err = dup_col(st, r, 1, &v->name);
    v->owner = st->be->col_int(r, 2);
    v->created = st->be->col_int(r, 3);
    v->seq = st->be->col_int(r, 4);
    v->trash_retention_days = (int)st->be->col_int(r, 5);
    v->role = role_of(st->be->col_int(r, 6));
    return err;
}

static int row_vault(store *st, store_rows *r, void *ctx) {
    store_vault v = {.name = NULL};
    int err = vault_fill(st, r, &v);
    if (err != STORE_OK) {
        store_vault_free(&v);
        return err;
    }
    *(store_vault *)ctx = v;
    return STORE_OK;
}

int store_vault_get(store *st, const char *id, int64_t user, store_vault *out) {
    if (st == NULL || !id_ok(id) || out == NULL) return STORE_EINVAL;
    store_vault v = {.name = NULL};
    size_t n = 0;
    store_arg a[] = {A_TEXT(id), A_INT(user)};
    int err = read_rows(st,
                        "SELECT " VAULT_COLS ", COALESCE(m.role, 0) FROM vaults v"
                        " LEFT JOIN members m ON m.vault = v.id AND m.user_id = $2 WHERE v.id = $1",
                        a, NARGS(a), row_vault, &v, &n);
    if (err == STORE_OK && n == 0) err = STORE_ENOTFOUND;
    if (err == STORE_OK) *out = v;
    return err;
}

static int row_vault_push(store *st, store_rows *r, void *ctx) {
    store_vault *v = vec_push(ctx);
    return v == NULL ? STORE_ENOMEM : vault_fill(st, r, v);
}

int store_vault_list(store *st, int64_t user, store_vault **out, size_t *n) {
    if (st == NULL || out == NULL || n == NULL) return STORE_EINVAL;
    struct vec v = {.size = sizeof(store_vault)};
    store_arg a[] = {A_INT(user)};
    int err =
        read_rows(st,
                  "SELECT " VAULT_COLS ", m.role FROM members m JOIN vaults v ON v.id = m.vault"
                  " WHERE m.user_id = $1 ORDER BY v.name, v.id",
                  a, NARGS(a), row_vault_push, &v, NULL);
    if (err != STORE_OK) {
        store_vaults_free(v.items, v.n);
        return err;
    }
    *out = v.items;
    *n = v.n;
    return STORE_OK;
}

int store_vault_set_retention(store *st, const char *vault, int days) {
    if (!id_ok(vault) || days < 0 || days > STORE_RETENTION_MAX_DAYS) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(vault), A_INT(days)};
    struct wcall w = {.n = 1,
                      .s = {{"UPDATE vaults SET trash_retention_days = $2 WHERE id = $1"
                             " RETURNING 1",
                             a, NARGS(a), true}}};
    return write_call(st, &w);
}

void store_members_free(store_member *m, size_t n) {
    if (m == NULL) return;
    for (size_t i = 0; i < n; i++) {
        free(m[i].email);
        free(m[i].name);
    }
    free(m);
}

int store_member_set(store *st, const char *vault, int64_t user, store_role role) {
    if (!id_ok(vault) || !role_ok(role)) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(vault), A_INT(user), A_INT(role)};
    char json[64];
    snprintf(json, sizeof(json), "{\"user\":%lld,\"role\":%d}", (long long)user, (int)role);
    store_arg ae[] = {A_TEXT(vault), A_TEXT("member.set"), A_TEXT(json), A_INT(wall_ms())};
    struct wcall w = {.n = 2,
                      .s = {{"INSERT INTO members (vault, user_id, role) VALUES ($1, $2, $3)"
                             " ON CONFLICT (vault, user_id) DO UPDATE SET role = excluded.role",
                             a, NARGS(a), false},
                            {EVENT_SQL, ae, NARGS(ae), false}}};
    return write_call(st, &w);
}

int store_member_remove(store *st, const char *vault, int64_t user) {
    if (!id_ok(vault)) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(vault), A_INT(user)};
    char json[64];
    snprintf(json, sizeof(json), "{\"user\":%lld}", (long long)user);
    store_arg ae[] = {A_TEXT(vault), A_TEXT("member.removed"), A_TEXT(json), A_INT(wall_ms())};
    struct wcall w = {.n = 2,
                      .s = {{"DELETE FROM members WHERE vault = $1 AND user_id = $2 RETURNING 1", a,
                             NARGS(a), true},
                            {EVENT_SQL, ae, NARGS(ae), false}}};
    return write_call(st, &w);
}

int store_member_role(store *st, const char *vault, int64_t user, store_role *role) {
    if (st == NULL || !id_ok(vault) || role == NULL) return STORE_EINVAL;
    int64_t v;
    store_arg a[] = {A_TEXT(vault), A_INT(user)};
    int err = read_int(st,
                       "SELECT COALESCE(m.role, 0) FROM vaults v LEFT JOIN members m"
                       " ON m.vault = v.id AND m.user_id = $2 WHERE v.id = $1",
                       a, NARGS(a), &v);
    if (err == STORE_OK) *role = role_of(v);
    return err;
}

static int row_member(store *st, store_rows *r, void *ctx) {
    store_member *m = vec_push(ctx);
    if (m == NULL) return STORE_ENOMEM;
    m->user_id = st->be->col_int(r, 0);
    m->role = role_of(st->be->col_int(r, 3));
    int err = dup_col(st, r, 1, &m->email);
    return err == STORE_OK ? dup_col(st, r, 2, &m->name) : err;
}

int store_members_list(store *st, const char *vault, store_member **out, size_t *n) {
    if (st == NULL || !id_ok(vault) || out == NULL || n == NULL) return STORE_EINVAL;
    struct vec v = {.size = sizeof(store_member)};
    store_arg a[] = {A_TEXT(vault)};
    int err = read_rows(st,
                        "SELECT u.id, u.email, u.name, m.role FROM members m"
                        " JOIN users u ON u.id = m.user_id WHERE m.vault = $1"
                        " ORDER BY m.role DESC, u.email",
                        a, NARGS(a), row_member, &v, NULL);
    if (err == STORE_OK && v.n == 0) err = vault_exists(st, vault);
    if (err != STORE_OK) {
        store_members_free(v.items, v.n);
        return err;
    }
    *out = v.items;
    *n = v.n;
    return STORE_OK;
}

/* ---- documents and projections ------------------------------------------- */

struct updates_ctx {
    store_update_fn fn;
    void *ud;
};

static int row_update(store *st, store_rows *r, void *ctx) {
    struct updates_ctx *u = ctx;
    size_t len;
    const uint8_t *data = st->be->col_blob(r, 0, &len);
    return u->fn(u->ud, data, len);
}

int store_doc_updates(store *st, const char *doc, store_update_fn fn, void *ud) {
    if (st == NULL || !id_ok(doc) || fn == NULL) return STORE_EINVAL;
    struct updates_ctx u = {fn, ud};
    store_arg a[] = {A_TEXT(doc)};
    return read_rows(st, "SELECT data FROM doc_updates WHERE doc = $1 ORDER BY id", a, NARGS(a),
                     row_update, &u, NULL);
}

struct log_ctx {
    store_log_fn fn;
    void *ud;
};

static int row_log(store *st, store_rows *r, void *ctx) {
    struct log_ctx *l = ctx;
    store_log_entry e = {.id = st->be->col_int(r, 0), .versions = st->be->col_int(r, 1)};
    e.data = st->be->col_blob(r, 2, &e.len);
    return l->fn(l->ud, &e);
}

int store_doc_log(store *st, const char *doc, store_log_fn fn, void *ud) {
    if (st == NULL || !id_ok(doc) || fn == NULL) return STORE_EINVAL;
    struct log_ctx l = {fn, ud};
    store_arg a[] = {A_TEXT(doc)};
    return read_rows(st, "SELECT id, n, data FROM doc_updates WHERE doc = $1 ORDER BY id", a,
                     NARGS(a), row_log, &l, NULL);
}

int store_doc_log_rows(store *st, const char *doc, int64_t *rows) {
    if (st == NULL || !id_ok(doc) || rows == NULL) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(doc)};
    return read_int(st, "SELECT count(*) FROM doc_updates WHERE doc = $1", a, NARGS(a), rows);
}

int store_doc_log_head(store *st, const char *doc, int64_t max, store_log_fn fn, void *ud) {
    if (st == NULL || !id_ok(doc) || max < 0 || fn == NULL) return STORE_EINVAL;
    struct log_ctx l = {fn, ud};
    store_arg a[] = {A_TEXT(doc), A_INT(max)};
    return read_rows(st, "SELECT id, n, data FROM doc_updates WHERE doc = $1 ORDER BY id LIMIT $2",
                     a, NARGS(a), row_log, &l, NULL);
}

int store_doc_last_seq(store *st, const char *doc, int64_t *seq) {
    if (st == NULL || !id_ok(doc) || seq == NULL) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(doc)};
    return read_int(st, "SELECT vseq FROM doc_updates WHERE doc = $1 ORDER BY id DESC LIMIT 1", a,
                    NARGS(a), seq);
}

void store_file_free(store_file *f) {
    if (f == NULL) return;
    free(f->path);
    free(f->title);
    f->path = f->title = NULL;
}

void store_files_free(store_file *f, size_t n) {
    if (f == NULL) return;
    for (size_t i = 0; i < n; i++) store_file_free(&f[i]);
    free(f);
}

#define FILE_COLS "id, vault, path, title, kind, created, updated, trashed"

static int file_fill(store *st, store_rows *r, store_file *f) {
    size_t len;
    int err = id_col(st, r, 0, f->id);
    if (err == STORE_OK) err = id_col(st, r, 1, f->vault);
    if (err == STORE_OK) err = dup_col(st, r, 2, &f->path);
    if (err == STORE_OK) err = dup_col(st, r, 3, &f->title);
    f->is_note = strcmp(st->be->col_text(r, 4, &len), "note") == 0;
    f->created = st->be->col_int(r, 5);
    f->updated = st->be->col_int(r, 6);
    f->trashed = st->be->col_int(r, 7);
    return err;
}

static int row_file(store *st, store_rows *r, void *ctx) {
    store_file f = {.path = NULL};
    int err = file_fill(st, r, &f);
    if (err != STORE_OK) {
        store_file_free(&f);
        return err;
    }
    *(store_file *)ctx = f;
    return STORE_OK;
}

int store_file_get(store *st, const char *id, store_file *out) {
    if (st == NULL || !id_ok(id) || out == NULL) return STORE_EINVAL;
    store_file f = {.path = NULL};
    size_t n = 0;
    store_arg a[] = {A_TEXT(id)};
    int err = read_rows(st, "SELECT " FILE_COLS " FROM files WHERE id = $1", a, NARGS(a), row_file,
                        &f, &n);
    if (err == STORE_OK && n == 0) err = STORE_ENOTFOUND;
    if (err == STORE_OK) *out = f;
    return err;
}

static int row_file_push(store *st, store_rows *r, void *ctx) {
    store_file *f = vec_push(ctx);
    return f == NULL ? STORE_ENOMEM : file_fill(st, r, f);
}

/* The least string greater than every string that starts with `prefix`
 * (valid UTF-8), in bytewise order: the prefix with its last code point
 * incremented (dropping trailing U+10FFFF), so the result is valid UTF-8
 * too. *out is NULL when there is no bound (""), else malloc'd. */
static int prefix_upper(const char *prefix, char **out) {
    size_t len = strlen(prefix);
    char *s = malloc(len + 1);
    if (s == NULL) return STORE_ENOMEM;
    memcpy(s, prefix, len + 1);
    while (len > 0) {
        size_t start = len - 1;
        while (start > 0 && ((unsigned char)s[start] & 0xc0) == 0x80) start--;
        const unsigned char *p = (const unsigned char *)s + start;
        uint32_t c;
        if (p[0] < 0x80)
            c = p[0];
        else if (p[0] < 0xe0)
            c = (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu);
        else if (p[0] < 0xf0)
            c = (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
        else
            c = (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
        if (c == 0x10ffff) {
            len = start;
            continue;
        }
        c = c == 0xd7ff ? 0xe000 : c + 1;
        unsigned char *q = (unsigned char *)s + start;
        /* The encoding may grow by one byte (U+007F -> U+0080, ...). */
        size_t need = start + (c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4);
        if (need > len) {
            char *grown = realloc(s, need + 1);
            if (grown == NULL) {
                free(s);
                return STORE_ENOMEM;
            }
            s = grown;
            q = (unsigned char *)s + start;
        }
        if (c < 0x80) {
            q[0] = (unsigned char)c;
        } else if (c < 0x800) {
            q[0] = (unsigned char)(0xc0 | c >> 6);
            q[1] = (unsigned char)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            q[0] = (unsigned char)(0xe0 | c >> 12);
            q[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
            q[2] = (unsigned char)(0x80 | (c & 0x3f));
        } else {
            q[0] = (unsigned char)(0xf0 | c >> 18);
            q[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
            q[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
            q[3] = (unsigned char)(0x80 | (c & 0x3f));
        }
        s[need] = '\0';
        *out = s;
        return STORE_OK;
    }
    free(s);
    *out = NULL;
    return STORE_OK;
}

int store_file_list(store *st, const char *vault, const char *prefix, bool trashed,
                    store_file **out, size_t *n) {
    if (st == NULL || !id_ok(vault) || !text_ok(prefix) || out == NULL || n == NULL)
        return STORE_EINVAL;
    char *upper = NULL;
    char sql[256];
    struct vec v = {.size = sizeof(store_file)};
    int err = prefix_upper(prefix, &upper);
    if (err != STORE_OK) return err;
    /* A range on the (vault, path) index rather than LIKE: no wildcards, no
     * case folding, the same bytewise order in both backends. */
    snprintf(sql, sizeof(sql),
             "SELECT " FILE_COLS " FROM files WHERE vault = $1 AND %s AND path >= $2%s"
             " ORDER BY path, id",
             trashed ? "trashed <> 0" : "trashed = 0", upper ? " AND path < $3" : "");
    store_arg a[] = {A_TEXT(vault), A_TEXT(prefix), A_TEXT(upper)};
    err = read_rows(st, sql, a, upper ? 3 : 2, row_file_push, &v, NULL);
    free(upper);
    if (err != STORE_OK) {
        store_files_free(v.items, v.n);
        return err;
    }
    *out = v.items;
    *n = v.n;
    return STORE_OK;
}

static int row_id(store *st, store_rows *r, void *ctx) { return id_col(st, r, 0, ctx); }

int store_file_at_path(store *st, const char *vault, const char *path, char id_out[33]) {
    if (st == NULL || !id_ok(vault) || !text_ok(path) || id_out == NULL) return STORE_EINVAL;
    char id[33];
    size_t n = 0;
    store_arg a[] = {A_TEXT(vault), A_TEXT(path)};
    int err = read_rows(st,
                        "SELECT id FROM files WHERE vault = $1 AND path = $2 AND trashed = 0"
                        " ORDER BY created, id LIMIT 1",
                        a, NARGS(a), row_id, id, &n);
    if (err == STORE_OK && n == 0) err = STORE_ENOTFOUND;
    if (err == STORE_OK) memcpy(id_out, id, 33);
    return err;
}

int store_files_after(store *st, const char *after, size_t max, store_file **out, size_t *n) {
    if (st == NULL || after == NULL || (after[0] != '\0' && !id_ok(after)) || max == 0 ||
        max > 10000 || out == NULL || n == NULL)
        return STORE_EINVAL;
    struct vec v = {.size = sizeof(store_file)};
    store_arg a[] = {A_TEXT(after), A_INT(max)};
    int err = read_rows(st, "SELECT " FILE_COLS " FROM files WHERE id > $1 ORDER BY id LIMIT $2", a,
                        NARGS(a), row_file_push, &v, NULL);
    if (err != STORE_OK) {
        store_files_free(v.items, v.n);
        return err;
    }
    *out = v.items;
    *n = v.n;
    return STORE_OK;
}

/* ---- trash and history ----------------------------------------------------- */

void store_trash_items_free(store_trash_item *it, size_t n) {
    if (it == NULL) return;
    for (size_t i = 0; i < n; i++) store_file_free(&it[i].file);
    free(it);
}

static int row_trash_item(store *st, store_rows *r, void *ctx) {
    store_trash_item *it = vec_push(ctx);
    if (it == NULL) return STORE_ENOMEM;
    it->cutoff = st->be->col_int(r, 8);
    return file_fill(st, r, &it->file);
}

int store_trash_due(store *st, int64_t now, int64_t default_retention_ms, size_t max,
                    store_trash_item **out, size_t *n) {
    if (st == NULL || default_retention_ms < 0 || max == 0 || out == NULL || n == NULL)
        return STORE_EINVAL;
    if (max > MAX_EVENTS) max = MAX_EVENTS;
    struct vec v = {.size = sizeof(store_trash_item)};
    /* The cutoff per vault, then the files whose last activity is at or
     * before it. */
    store_arg a[] = {A_INT(now), A_INT(default_retention_ms), A_INT(max)};
    int err = read_rows(
        st,
        "SELECT f.id, f.vault, f.path, f.title, f.kind, f.created, f.updated, f.trashed, c.cutoff"
        " FROM files f JOIN (SELECT id, $1 - CASE WHEN trash_retention_days > 0"
        " THEN trash_retention_days * CAST(86400000 AS BIGINT) ELSE $2 END AS cutoff FROM vaults) c"
        " ON c.id = f.vault WHERE f.trashed <> 0 AND f.trashed <= c.cutoff"
        " AND f.updated <= c.cutoff"
        " ORDER BY CASE WHEN f.updated > f.trashed THEN f.updated ELSE f.trashed END, f.id"
        " LIMIT $3",
        a, NARGS(a), row_trash_item, &v, NULL);
    if (err != STORE_OK) {
        store_trash_items_free(v.items, v.n);
        return err;
    }
    *out = v.items;
    *n = v.n;
    return STORE_OK;
}

static int row_usage(store *st, store_rows *r, void *ctx) {
    int64_t *p = ctx;
    p[0] = st->be->col_int(r, 0);
    p[1] = st->be->col_int(r, 1);
    return STORE_OK;
}

int store_doc_usage_get(store *st, const char *doc, store_doc_usage *out) {
    if (st == NULL || !id_ok(doc) || out == NULL) return STORE_EINVAL;
    int64_t u[2] = {0, 0}, v[2] = {0, 0};
    store_arg a[] = {A_TEXT(doc)};
    int err = read_rows(st,
                        "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM doc_updates"
                        " WHERE doc = $1",
                        a, NARGS(a), row_usage, u, NULL);
    if (err == STORE_OK)
        err = read_rows(st,
                        "SELECT COUNT(*), COALESCE(SUM(LENGTH(snapshot)), 0) FROM versions"
                        " WHERE doc = $1",
                        a, NARGS(a), row_usage, v, NULL);
    if (err != STORE_OK) return err;
    *out = (store_doc_usage){u[0], u[1], v[0], v[1]};
    return STORE_OK;
}

#define VERSION_COLS "n, created, author, restored_from, base, LENGTH(snapshot)"

static void version_fill(store *st, store_rows *r, store_version *v) {
    v->n = st->be->col_int(r, 0);
    v->created = st->be->col_int(r, 1);
    v->author = st->be->col_int(r, 2);
    v->restored_from = st->be->col_int(r, 3);
    v->base = st->be->col_int(r, 4);
    v->size = st->be->col_int(r, 5);
}

static int row_version_push(store *st, store_rows *r, void *ctx) {
    store_version *v = vec_push(ctx);
    if (v == NULL) return STORE_ENOMEM;
    version_fill(st, r, v);
    return STORE_OK;
}

int store_version_list(store *st, const char *doc, int64_t before, size_t max, store_version **out,
                       size_t *n) {
    if (st == NULL || !id_ok(doc) || max == 0 || out == NULL || n == NULL) return STORE_EINVAL;
    if (max > MAX_EVENTS) max = MAX_EVENTS;
    struct vec v = {.size = sizeof(store_version)};
    store_arg a[] = {A_TEXT(doc), A_INT(before), A_INT(max)};
    int err = read_rows(st,
                        "SELECT " VERSION_COLS " FROM versions WHERE doc = $1 AND n < $2"
                        " ORDER BY n DESC LIMIT $3",
                        a, NARGS(a), row_version_push, &v, NULL);
    if (err != STORE_OK) {
        free(v.items);
        return err;
    }
    *out = v.items;
    *n = v.n;
    return STORE_OK;
}

static int row_version(store *st, store_rows *r, void *ctx) {
    version_fill(st, r, ctx);
    return STORE_OK;
}

int store_version_get(store *st, const char *doc, int64_t n, store_version *out) {
    if (st == NULL || !id_ok(doc) || out == NULL) return STORE_EINVAL;
    store_version v;
    size_t rows = 0;
    store_arg a[] = {A_TEXT(doc), A_INT(n)};
    int err = read_rows(st, "SELECT " VERSION_COLS " FROM versions WHERE doc = $1 AND n = $2", a,
                        NARGS(a), row_version, &v, &rows);
    if (err == STORE_OK && rows == 0) err = STORE_ENOTFOUND;
    if (err == STORE_OK) *out = v;
    return err;
}

static int row_snapshot(store *st, store_rows *r, void *ctx) {
    struct updates_ctx *u = ctx;
    size_t len;
    const uint8_t *data = st->be->col_blob(r, 0, &len);
    return u->fn(u->ud, data, len);
}

int store_version_chain(store *st, const char *doc, int64_t n, store_update_fn fn, void *ud) {
    if (st == NULL || !id_ok(doc) || fn == NULL) return STORE_EINVAL;
    store_version v;
    int err = store_version_get(st, doc, n, &v);
    if (err != STORE_OK) return err;
    struct updates_ctx u = {fn, ud};
    store_arg a[] = {A_TEXT(doc), A_INT(v.base), A_INT(n)};
    return read_rows(st,
                     "SELECT snapshot FROM versions WHERE doc = $1 AND n >= $2 AND n <= $3"
                     " ORDER BY n",
                     a, NARGS(a), row_snapshot, &u, NULL);
}

int store_burst_note(store *st, const store_burst *b) {
    if (b == NULL || !id_ok(b->doc) || !id_ok(b->vault)) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(b->doc),         A_TEXT(b->vault),     A_INT(b->first_at),
                     A_INT(b->last_at),      A_INT(b->first_user), A_INT(b->last_user),
                     A_INT(b->restored_from)};
    struct wcall w = {
        .n = 1,
        .s = {{"INSERT INTO version_bursts (doc, vault, first_at, last_at, first_user, last_user,"
               " restored_from) VALUES ($1, $2, $3, $4, $5, $6, $7)"
               " ON CONFLICT (doc) DO UPDATE SET"
               " last_user = CASE WHEN excluded.last_at >= version_bursts.last_at"
               " THEN excluded.last_user ELSE version_bursts.last_user END,"
               " last_at = CASE WHEN excluded.last_at >= version_bursts.last_at"
               " THEN excluded.last_at ELSE version_bursts.last_at END,"
               " restored_from = CASE WHEN excluded.restored_from <> 0"
               " THEN excluded.restored_from ELSE version_bursts.restored_from END",
               a, NARGS(a), false}}};
    return write_call(st, &w);
}

static int row_burst(store *st, store_rows *r, void *ctx) {
    store_burst *b = vec_push(ctx);
    if (b == NULL) return STORE_ENOMEM;
    b->first_at = st->be->col_int(r, 2);
    b->last_at = st->be->col_int(r, 3);
    b->first_user = st->be->col_int(r, 4);
    b->last_user = st->be->col_int(r, 5);
    b->restored_from = st->be->col_int(r, 6);
    int err = id_col(st, r, 0, b->doc);
    return err == STORE_OK ? id_col(st, r, 1, b->vault) : err;
}

int store_bursts_due(store *st, int64_t idle_before, int64_t max_before, size_t max,
                     store_burst **out, size_t *n) {
    if (st == NULL || max == 0 || out == NULL || n == NULL) return STORE_EINVAL;
    if (max > MAX_EVENTS) max = MAX_EVENTS;
    struct vec v = {.size = sizeof(store_burst)};
    store_arg a[] = {A_INT(idle_before), A_INT(max_before), A_INT(max)};
    int err = read_rows(st,
                        "SELECT doc, vault, first_at, last_at, first_user, last_user,"
                        " restored_from FROM version_bursts WHERE last_at <= $1"
                        " OR first_at <= $2 OR restored_from <> 0 ORDER BY last_at, doc LIMIT $3",
                        a, NARGS(a), row_burst, &v, NULL);
    if (err != STORE_OK) {
        free(v.items);
        return err;
    }
    *out = v.items;
    *n = v.n;
    return STORE_OK;
}

/* ---- outbox and changes -------------------------------------------------- */

void store_events_free(store_event *e, size_t n) {
    if (e == NULL) return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].type);
        free(e[i].json);
    }
    free(e);
}

static int row_event(store *st, store_rows *r, void *ctx) {
    store_event *e = vec_push(ctx);
    if (e == NULL) return STORE_ENOMEM;
    e->id = st->be->col_int(r, 0);
    e->created = st->be->col_int(r, 4);
    int err = id_col(st, r, 1, e->vault);
    if (err == STORE_OK) err = dup_col(st, r, 2, &e->type);
    return err == STORE_OK ? dup_col(st, r, 3, &e->json) : err;
}

int store_events_after(store *st, int64_t cursor, size_t max, store_event **out, size_t *n) {
    if (st == NULL || max == 0 || out == NULL || n == NULL) return STORE_EINVAL;
    if (max > MAX_EVENTS) max = MAX_EVENTS;
    struct vec v = {.size = sizeof(store_event)};
    store_arg a[] = {A_INT(cursor), A_INT(max)};
    int err = read_rows(st,
                        "SELECT id, vault, type, json, created FROM outbox WHERE id > $1"
                        " ORDER BY id LIMIT $2",
                        a, NARGS(a), row_event, &v, NULL);
    if (err != STORE_OK) {
        store_events_free(v.items, v.n);
        return err;
    }
    *out = v.items;
    *n = v.n;
    return STORE_OK;
}

static int row_change(store *st, store_rows *r, void *ctx) {
    store_change *c = vec_push(ctx);
    if (c == NULL) return STORE_ENOMEM;
    c->seq = st->be->col_int(r, 1);
    return id_col(st, r, 0, c->doc);
}

int store_vault_changes(store *st, const char *vault, int64_t since, store_change **out,
                        size_t *n) {
    if (st == NULL || !id_ok(vault) || out == NULL || n == NULL) return STORE_EINVAL;
    struct vec v = {.size = sizeof(store_change)};
    store_arg a[] = {A_TEXT(vault), A_INT(since)};
    int err = read_rows(st,
                        "SELECT doc, MAX(vseq) AS last FROM doc_updates"
                        " WHERE vault = $1 AND vseq > $2 GROUP BY doc ORDER BY last",
                        a, NARGS(a), row_change, &v, NULL);
    if (err == STORE_OK && v.n == 0) err = vault_exists(st, vault);
    if (err != STORE_OK) {
        free(v.items);
        return err;
    }
    *out = v.items;
    *n = v.n;
    return STORE_OK;
}

/* ---- outbox consumers ---------------------------------------------------- */

/* A consumer name: 1 to 64 bytes of [a-z0-9_.-]. */
static bool consumer_name_ok(const char *s) {
    if (s == NULL || s[0] == '\0') return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n == 64 ||
            !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int store_cursor_get(store *st, const char *name, int64_t *cursor) {
    if (st == NULL || !consumer_name_ok(name) || cursor == NULL) return STORE_EINVAL;
    int64_t v = 0;
    store_arg a[] = {A_TEXT(name)};
    int err = read_int(st, "SELECT cursor FROM consumers WHERE name = $1", a, NARGS(a), &v);
    if (err == STORE_ENOTFOUND) {
        v = 0;
        err = STORE_OK;
    }
    if (err == STORE_OK) *cursor = v;
    return err;
}

int store_cursor_set(store *st, const char *name, int64_t cursor, int64_t now) {
    if (!consumer_name_ok(name) || cursor < 0) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(name), A_INT(cursor), A_INT(now)};
    struct wcall w = {.n = 1,
                      .s = {{"INSERT INTO consumers (name, cursor, updated) VALUES ($1, $2, $3)"
                             " ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor,"
                             " updated = excluded.updated",
                             a, NARGS(a), false}}};
    return write_call(st, &w);
}

int store_cursor_delete(store *st, const char *name) {
    if (!consumer_name_ok(name)) return STORE_EINVAL;
    store_arg a[] = {A_TEXT(name)};
    struct wcall w = {
        .n = 1, .s = {{"DELETE FROM consumers WHERE name = $1 RETURNING 1", a, NARGS(a), true}}};
    return write_call(st, &w);
}

struct prune_call {
    int64_t before;
    int64_t deleted;
};

static int prune_run(store *st, store_conn *c, void *arg) {
    struct prune_call *p = arg;
    store_arg a[] = {A_INT(p->before), A_INT(PRUNE_CHUNK)};
    store_rows *r = NULL;
    int64_t n = 0;
    int err = st->be->query(c,
                            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
                            " WHERE id <= (SELECT MIN(cursor) FROM consumers) AND created < $1"
                            " ORDER BY id LIMIT $2) RETURNING 1",
                            a, NARGS(a), &r);
    if (err == STORE_OK) {
        while ((err = st->be->next(r)) == STORE_ROW) n++;
    }
    st->be->rows_free(r);
    if (err != STORE_DONE) return err;
    p->deleted = n;
    return STORE_OK;
}

int store_events_prune(store *st, int64_t before, int64_t *deleted) {
    if (st == NULL) return STORE_EINVAL;
    int64_t total = 0;
    int err = STORE_OK;
    /* One transaction per chunk, so that writers go in between. */
    for (;;) {
        struct prune_call p = {.before = before};
        store_txn *t = store_txn_new();
        if (t == NULL) return STORE_ENOMEM;
        err = store__txn_call(t, prune_run, &p);
        if (err != STORE_OK) {
            store_txn_free(t);
            break;
        }
        err = store_commit(st, t, NULL);
        if (err != STORE_OK) break;
        total += p.deleted;
        if (p.deleted < PRUNE_CHUNK) break;
    }
    /* Earlier chunks are committed: report them even when a later one failed. */
    if (deleted != NULL) *deleted = total;
    return err;
}

struct pending_row {
    int64_t count, oldest;
};

static int row_pending(store *st, store_rows *r, void *ctx) {
    struct pending_row *p = ctx;
    p->count = st->be->col_int(r, 0);
    p->oldest = st->be->is_null(r, 1) ? 0 : st->be->col_int(r, 1);
    return STORE_OK;
}

int store_events_pending(store *st, const char *name, const char *vault, int64_t *count,
                         int64_t *oldest) {
    if (st == NULL || !consumer_name_ok(name) || (vault != NULL && !id_ok(vault)) ||
        count == NULL || oldest == NULL)
        return STORE_EINVAL;
    struct pending_row p = {0, 0};
    store_arg a[] = {A_TEXT(name), A_TEXT(vault)};
    int err = read_rows(st,
                        vault != NULL
                            ? "SELECT COUNT(*), MIN(created) FROM outbox WHERE vault = $2 AND id >"
                              " COALESCE((SELECT cursor FROM consumers WHERE name = $1), 0)"
                            : "SELECT COUNT(*), MIN(created) FROM outbox WHERE id >"
                              " COALESCE((SELECT cursor FROM consumers WHERE name = $1), 0)",
                        a, vault != NULL ? 2 : 1, row_pending, &p, NULL);
    if (err != STORE_OK) return err;
    *count = p.count;
    *oldest = p.oldest;
    return STORE_OK;
}

int store_listen(store *st, store_listen_fn fn, void *ud) {
    if (st == NULL || fn == NULL) return STORE_EINVAL;
    int err = STORE_ENOMEM;
    pthread_mutex_lock(&st->llock);
    if (st->nlisteners < MAX_LISTENERS) {
        st->listeners[st->nlisteners++] = (struct listener){fn, ud};
        err = STORE_OK;
    }
    pthread_mutex_unlock(&st->llock);
    return err;
}

void store_unlisten(store *st, store_listen_fn fn, void *ud) {
    if (st == NULL) return;
    pthread_mutex_lock(&st->llock);
    for (size_t i = 0; i < st->nlisteners; i++) {
        if (st->listeners[i].fn == fn && st->listeners[i].ud == ud) {
            st->listeners[i] = st->listeners[--st->nlisteners];
            break;
        }
    }
    pthread_mutex_unlock(&st->llock);
}

/* ---- for the other files of the module ----------------------------------- */

const store_ops *store__ops(store *st) { return st->be; }

int store__read(store *st, const char *sql, const store_arg *args, int nargs, store__row_fn fn,
                void *ctx, size_t *nrows) {
    return read_rows(st, sql, args, nargs, fn, ctx, nrows);
}

bool store__id_ok(const char *s) { return id_ok(s); }

bool store__text_ok(const char *s) { return text_ok(s); }

int store__prefix_upper(const char *prefix, char **out) { return prefix_upper(prefix, out); }
