/*
 * vsync.c - the sync engine of vsync.h.
 *
 * Invariants kept in the replica between rounds (see replica.h):
 *  - for every row of `files`, the file at lpath held, when vn last saw it,
 *    the text of `base` (or of the document when base is NULL);
 *  - every local edit is in `pending` until its ACK;
 *  - `since` is only advanced once the documents up to it are stored.
 * Documents are loaded from the replica when needed and freed right after,
 * except the index document, which stays in memory (dirty until saved).
 */
#include "client/vsync.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "client/folder.h"
#include "client/rest.h"
#include "client/vindex.h"
#include "client/ws.h"
#include "crdt/crdt.h"
#include "sync/vchan.h"
#include "sync/yproto.h"
#include "util/textdiff.h"
#include "util/vpath.h"

#define NOTE_MAX      (4u << 20) /* the server's limit on a note's text */
#define GUARD_FILES   50         /* more trashed files than this asks */
#define GUARD_PERCENT 20         /* ... and so does more than this share of the vault */
#define GUARD_MIN     5          /* (the share counts from this many files on) */
#define MAX_PAYLOAD   (64u << 20)
#define MAX_RESYNC    3
#define STEP1_WINDOW  128 /* STEP1s in flight: bounds what the server queues for us */

/* A sorted set of document ids. */
typedef struct {
    char (*ids)[33];
    size_t n, cap;
} idset;

static size_t idset_pos(const idset *s, const char *id, bool *found) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->ids[mid], id);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static bool idset_has(const idset *s, const char *id) {
    bool f;
    idset_pos(s, id, &f);
    return f;
}

static int idset_add(idset *s, const char *id) {
    bool f;
    size_t at = idset_pos(s, id, &f);
    if (f) return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        void *b = realloc(s->ids, cap * sizeof(*s->ids));
        if (b == NULL) return -1;
        s->ids = b;
        s->cap = cap;
    }
    memmove(&s->ids[at + 1], &s->ids[at], (s->n - at) * sizeof(*s->ids));
    memcpy(s->ids[at], id, 33);
    s->n++;
    return 0;
}

static void idset_del(idset *s, const char *id) {
    bool f;
    size_t at = idset_pos(s, id, &f);
    if (!f) return;
    memmove(&s->ids[at], &s->ids[at + 1], (s->n - at - 1) * sizeof(*s->ids));
    s->n--;
}

/* Updates emitted by a local transaction. */
typedef struct {
    bool on;
    uint8_t *p;
    size_t n;
    int err;
} ucap;

struct vsync {
    char *root;
    replica *r;
    char *token;
    vsync_opts o;
    ydoc *index;
    bool index_dirty;
    bool index_touched; /* the index changed since the last write-out: reconcile every file */
    ucap icap;          /* captures the index document's local transactions */
    ws *w;
    bool got_changed, ready;
    uint64_t changed_seq, max_seen;
    size_t outstanding; /* STEP1 sent, STEP2 not yet received */
    char (*todo)[33];   /* CHANGED documents whose STEP1 is not sent yet */
    size_t ntodo, todo_at;
    uint64_t *inflight;
    size_t ninflight, capinflight;
    idset edited; /* notes edited locally since the last write-out */
    idset resync; /* docs refused for missing dependencies: STEP1 sent again */
    int resyncs;
    bool in_txn;
    size_t txn_ops;
    bool unsynced; /* files written without fsync: folder_sync before the replica commits */
    int fatal;
    bool readonly_refused, server_failed;
    vsync_report *rep;
    size_t prog_total, prog_done;
    const char *prog_what;
    int64_t prog_last;
    char err[1024];
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int seterr(vsync *s, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    return code;
}

static int repfail(vsync *s) { return seterr(s, VSYNC_EFAIL, "%s", replica_error(s->r)); }

const char *vsync_error(const vsync *s) { return s->err; }

/* ---- progress --------------------------------------------------------- */

static void progress(vsync *s, bool final) {
    if (!s->o.progress || s->prog_total == 0) return;
    int64_t t = mono_ms();
    if (!final && t - s->prog_last < 100) return;
    s->prog_last = t;
    size_t width = 30, fillw = s->prog_total ? s->prog_done * width / s->prog_total : width;
    char bar[64];
    for (size_t i = 0; i < width; i++) bar[i] = i < fillw ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %zu/%zu", s->prog_what, bar, s->prog_done, s->prog_total);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

static void progress_start(vsync *s, const char *what, size_t total) {
    s->prog_what = what;
    s->prog_total = total;
    s->prog_done = 0;
    s->prog_last = 0;
}

/* ---- replica transactions -------------------------------------------- */

static int txn(vsync *s) {
    if (s->in_txn) return 0;
    if (replica_begin(s->r) != 0) return repfail(s);
    s->in_txn = true;
    s->txn_ops = 0;
    return 0;
}

static int save_index(vsync *s);

static int commit(vsync *s) {
    if (!s->in_txn) return 0;
    /* the replica never records a file whose content may not be on disk yet */
    if (s->unsynced) {
        if (folder_sync(s->root) != 0)
            return seterr(s, VSYNC_EFAIL, "cannot flush %s to disk: %s", s->root, strerror(errno));
        s->unsynced = false;
    }
    if (s->index_dirty && save_index(s) != 0) return VSYNC_EFAIL;
    if (replica_commit(s->r) != 0) {
        replica_rollback(s->r);
        s->in_txn = false;
        return repfail(s);
    }
    s->in_txn = false;
    return 0;
}

static void rollback(vsync *s) {
    if (!s->in_txn) return;
    replica_rollback(s->r);
    s->in_txn = false;
}

/* ---- documents --------------------------------------------------------- */

static void on_update(void *ud, const uint8_t *u, size_t len, const void *origin) {
    (void)origin;
    ucap *c = ud;
    if (!c->on || c->err) return;
    if (c->p == NULL) {
        c->p = malloc(len ? len : 1);
        if (c->p == NULL) {
            c->err = 1;
            return;
        }
        memcpy(c->p, u, len);
        c->n = len;
        return;
    }
    const uint8_t *in[2] = {c->p, u};
    size_t lens[2] = {c->n, len};
    uint8_t *m = NULL;
    size_t ml = 0;
    if (yupdate_merge(in, lens, 2, &m, &ml) != Y_OK) {
        c->err = 1;
        return;
    }
    free(c->p);
    c->p = malloc(ml ? ml : 1);
    if (c->p == NULL) {
        yfree(m);
        c->err = 1;
        return;
    }
    memcpy(c->p, m, ml);
    c->n = ml;
    yfree(m);
}

static void ucap_reset(ucap *c) {
    free(c->p);
    c->p = NULL;
    c->n = 0;
    c->err = 0;
    c->on = false;
}

static ydoc *doc_new(vsync *s) {
    ydoc_options o = {.has_client_id = true, .client_id = replica_client_id(s->r), .gc = false};
    return ydoc_new(&o);
}

static ydoc *doc_from(vsync *s, const uint8_t *blob, size_t len) {
    ydoc *d = doc_new(s);
    if (d == NULL) return NULL;
    if (len > 0 && ydoc_apply_update(d, blob, len, NULL) != Y_OK) {
        ydoc_free(d);
        return NULL;
    }
    return d;
}

/* Loads document id (empty when unknown). *blob receives its stored state
 * when blob is not NULL (caller frees). */
static int doc_load(vsync *s, const char *id, ydoc **out, uint8_t **blob, size_t *blen) {
    uint8_t *b = NULL;
    size_t n = 0;
    if (replica_doc_get(s->r, id, &b, &n) < 0) return repfail(s);
    ydoc *d = doc_from(s, b, n);
    if (d == NULL) {
        free(b);
        return seterr(s, VSYNC_EFAIL, "the local copy of document %s is damaged", id);
    }
    *out = d;
    if (blob != NULL) {
        *blob = b;
        *blen = n;
    } else {
        free(b);
    }
    return 0;
}

static int doc_save(vsync *s, const char *id, ydoc *d) {
    uint8_t *u = NULL;
    size_t n = 0;
    if (ydoc_encode_state_as_update(d, NULL, 0, &u, &n) != Y_OK)
        return seterr(s, VSYNC_EFAIL, "out of memory");
    int rc = replica_doc_put(s->r, id, u, n);
    yfree(u);
    if (rc != 0) return repfail(s);
    s->txn_ops++;
    return 0;
}

static int doc_text(ydoc *d, char **text, size_t *len) {
    ytype *t = ydoc_get(d, "content", YTYPE_TEXT);
    if (t == NULL) return Y_ERR_TYPE;
    return ytext_string(t, text, len);
}

static int index_get(vsync *s, ydoc **out) {
    if (s->index == NULL) {
        ydoc *d;
        int rc = doc_load(s, replica_vault(s->r), &d, NULL, NULL);
        if (rc != 0) return rc;
        if (ydoc_observe_updates(d, on_update, &s->icap) < 0) {
            ydoc_free(d);
            return seterr(s, VSYNC_EFAIL, "out of memory");
        }
        s->index = d;
    }
    *out = s->index;
    return 0;
}

static int save_index(vsync *s) {
    if (s->index == NULL || !s->index_dirty) return 0;
    if (doc_save(s, replica_vault(s->r), s->index) != 0) return VSYNC_EFAIL;
    /* the folder must be reconciled with the new index, even by a later process */
    if (s->index_touched && replica_set_meta_int(s->r, "reconcile", 1) != 0) return repfail(s);
    s->index_dirty = false;
    return 0;
}

/* Applies text diff ops to Y.Text content inside one transaction; the
 * update lands in *c. */
static int apply_ops(ydoc *d, const textdiff *diff) {
    ytxn *tx = ydoc_begin(d, NULL);
    if (tx == NULL) return Y_ERR_STATE;
    ytype *t = ydoc_get(d, "content", YTYPE_TEXT);
    int rc = t != NULL ? Y_OK : Y_ERR_TYPE;
    for (size_t i = 0; i < diff->nops && rc == Y_OK; i++) {
        const textdiff_op *op = &diff->ops[i];
        if (op->del > 0) rc = ytext_delete(tx, t, op->pos, op->del);
        if (rc == Y_OK && op->ins_len > 0)
            rc = ytext_insert(tx, t, op->pos, op->ins, op->ins_len, NULL, 0);
    }
    int crc = ytxn_commit(tx);
    return rc != Y_OK ? rc : crc;
}

/* Makes `d`'s text equal `text` by diff ops; returns the update (malloc'd in
 * *u, NULL when nothing changed). */
static int edit_to(vsync *s, ydoc *d, const char *text, size_t len, uint8_t **u, size_t *ulen) {
    *u = NULL;
    *ulen = 0;
    char *cur = NULL;
    size_t curlen = 0;
    if (doc_text(d, &cur, &curlen) != Y_OK) return seterr(s, VSYNC_EFAIL, "out of memory");
    textdiff diff = {0};
    int rc = textdiff_compute(cur, curlen, text, len, 0, &diff);
    yfree(cur);
    if (rc != TEXTDIFF_OK) {
        textdiff_release(&diff);
        return seterr(s, VSYNC_EFAIL, "cannot compare texts: %s", textdiff_strerror(rc));
    }
    if (diff.nops == 0) {
        textdiff_release(&diff);
        return 0;
    }
    ucap c = {.on = true};
    int id = ydoc_observe_updates(d, on_update, &c);
    rc = id < 0 ? Y_ERR_NOMEM : apply_ops(d, &diff);
    if (id >= 0) ydoc_unobserve(d, id);
    textdiff_release(&diff);
    if (rc != Y_OK || c.err || c.p == NULL) {
        ucap_reset(&c);
        return seterr(s, VSYNC_EFAIL, "cannot edit the document: %s", yerr_str(rc));
    }
    *u = c.p;
    *ulen = c.n;
    return 0;
}

/* ---- capture ---------------------------------------------------------- */

typedef enum { A_TOUCH, A_MODIFY, A_CREATE, A_RENAME, A_TRASH, A_UNHANDLED, A_ADOPT } akind;

typedef struct {
    akind kind;
    char id[33]; /* ADOPT: the note whose file this is */
    rfile *row;  /* TOUCH, MODIFY, RENAME, TRASH */
    char *lpath; /* CREATE, RENAME (the new path), UNHANDLED */
    char *data;  /* MODIFY, CREATE */
    size_t len;
    folder_entry st;
    uint64_t hash;
    const char *why; /* UNHANDLED */
} act;

typedef struct {
    act *a;
    size_t n, cap;
    rfile *rows;
    size_t nrows;
    size_t ntrash, nchanges;
} plan;

static act *plan_add(plan *p, akind k) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        act *b = realloc(p->a, cap * sizeof(*b));
        if (b == NULL) return NULL;
        p->a = b;
        p->cap = cap;
    }
    act *a = &p->a[p->n++];
    memset(a, 0, sizeof(*a));
    a->kind = k;
    return a;
}

static void plan_free(plan *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->a[i].lpath);
        free(p->a[i].data);
    }
    free(p->a);
    replica_files_free(p->rows, p->nrows);
    memset(p, 0, sizeof(*p));
}

static bool is_md(const char *lpath) {
    size_t n = strlen(lpath);
    return n > 3 && strcmp(lpath + n - 3, ".md") == 0;
}

static bool same_stat(const folder_entry *e, const rfile *r) {
    return e->size == r->size && e->mtime_ns == r->mtime_ns && e->ino == r->ino;
}

/* Reads a candidate file; on a problem sets *why and returns 1. */
static int read_note(vsync *s, const char *lpath, char **data, size_t *len, folder_entry *st,
                     const char **why) {
    int r = folder_read(s->root, lpath, NOTE_MAX, data, len, st);
    if (r == 1) {
        *why = "larger than 4 MiB (the limit of a note)";
        return 1;
    }
    if (r != 0) {
        if (errno == ENOENT) {
            *why = NULL; /* gone meanwhile */
            return 1;
        }
        return seterr(s, VSYNC_EFAIL, "cannot read %s/%s: %s", s->root, lpath, strerror(errno));
    }
    if (!yproto_utf8_valid(*data, *len)) {
        free(*data);
        *data = NULL;
        *why = "not UTF-8 text";
        return 1;
    }
    return 0;
}

static int plan_unhandled(vsync *s, plan *p, const char *lpath, const char *why) {
    act *a = plan_add(p, A_UNHANDLED);
    if (a == NULL || (a->lpath = strdup(lpath)) == NULL)
        return seterr(s, VSYNC_EFAIL, "out of memory");
    a->why = why;
    return 0;
}

/* The live notes of the index that have no row in `files` (rows of p), with
 * their folder paths: those whose file vn never recorded. */
static int unrecorded_notes(vsync *s, const plan *p, vindex_entry **out, size_t *n) {
    *out = NULL;
    *n = 0;
    ydoc *idx;
    int rc = index_get(s, &idx);
    if (rc != 0) return rc;
    vindex_entry *e = NULL;
    size_t ne = 0;
    if (vindex_list(idx, &e, &ne) != 0 || vindex_assign(e, ne) != 0) {
        vindex_free(e, ne);
        return seterr(s, VSYNC_EFAIL, "out of memory");
    }
    for (size_t i = 0; i < p->nrows; i++) {
        vindex_entry *x = vindex_find(e, ne, p->rows[i].id);
        if (x != NULL) {
            free(x->lpath);
            x->lpath = NULL;
        }
    }
    *out = e;
    *n = ne;
    return 0;
}

static int plan_build(vsync *s, plan *p) {
    memset(p, 0, sizeof(*p));
    folder_entry *e = NULL;
    size_t ne = 0;
    if (folder_list(s->root, &e, &ne, NULL, NULL, s->err, sizeof(s->err)) != 0) return VSYNC_EFAIL;
    if (replica_files_all(s->r, &p->rows, &p->nrows) != 0) {
        folder_entries_free(e, ne);
        return repfail(s);
    }
    rfile **gone = calloc(p->nrows + 1, sizeof(*gone));
    act *news = NULL;
    size_t ngone = 0, nnew = 0;
    int rc = gone == NULL ? seterr(s, VSYNC_EFAIL, "out of memory") : 0;
    if (rc == 0) {
        news = calloc(ne + 1, sizeof(*news));
        if (news == NULL) rc = seterr(s, VSYNC_EFAIL, "out of memory");
    }
    size_t i = 0, j = 0;
    while (rc == 0 && (i < ne || j < p->nrows)) {
        int c = i < ne && j < p->nrows ? strcmp(e[i].lpath, p->rows[j].lpath) : (i < ne ? -1 : 1);
        if (c == 0) {
            rfile *row = &p->rows[j];
            if (!same_stat(&e[i], row)) {
                char *data = NULL;
                size_t len = 0;
                folder_entry st;
                const char *why = NULL;
                int r = read_note(s, row->lpath, &data, &len, &st, &why);
                if (r < 0) {
                    rc = r;
                } else if (r == 1) {
                    if (why == NULL)
                        gone[ngone++] = row;
                    else
                        rc = plan_unhandled(s, p, row->lpath, why);
                } else {
                    uint64_t h = folder_hash(data, len);
                    act *a = plan_add(p, (h == row->hash && (int64_t)len == row->size) ? A_TOUCH
                                                                                       : A_MODIFY);
                    if (a == NULL) {
                        free(data);
                        rc = seterr(s, VSYNC_EFAIL, "out of memory");
                    } else {
                        a->row = row;
                        a->st = st;
                        a->hash = h;
                        if (a->kind == A_MODIFY) {
                            a->data = data;
                            a->len = len;
                            p->nchanges++;
                        } else {
                            free(data);
                        }
                    }
                }
            }
            i++;
            j++;
        } else if (c < 0) {
            if (!is_md(e[i].lpath)) {
                rc = plan_unhandled(s, p, e[i].lpath, "not a Markdown (.md) file");
            } else {
                act *a = &news[nnew];
                const char *why = NULL;
                int r = read_note(s, e[i].lpath, &a->data, &a->len, &a->st, &why);
                char *vp = vindex_vpath(e[i].lpath);
                if (vp == NULL) rc = seterr(s, VSYNC_EFAIL, "out of memory");
                if (rc == 0 && r == 0 &&
                    vpath_validate(vp, strlen(vp), VPATH_FILE, NULL) != VPATH_OK) {
                    why = vpath_strerror(vpath_validate(vp, strlen(vp), VPATH_FILE, NULL));
                    free(a->data);
                    a->data = NULL;
                    r = 1;
                }
                free(vp);
                if (rc == 0 && r < 0) rc = r;
                if (rc == 0 && r == 1 && why != NULL) rc = plan_unhandled(s, p, e[i].lpath, why);
                if (rc == 0 && r == 0) {
                    a->lpath = strdup(e[i].lpath);
                    if (a->lpath == NULL) {
                        free(a->data);
                        rc = seterr(s, VSYNC_EFAIL, "out of memory");
                    } else {
                        a->hash = folder_hash(a->data, a->len);
                        nnew++;
                    }
                }
            }
            i++;
        } else {
            gone[ngone++] = &p->rows[j];
            j++;
        }
    }
    /* a new file at the place of a note the replica has but never recorded a file
     * for (a write-out cut short by a crash or Ctrl-C): that note's file, adopted */
    vindex_entry *ents = NULL;
    size_t nents = 0;
    if (rc == 0 && nnew > 0) rc = unrecorded_notes(s, p, &ents, &nents);
    /* a file that disappeared + a new one with its content = a rename */
    for (size_t k = 0; rc == 0 && k < nnew; k++) {
        act *nw = &news[k];
        akind kind = A_CREATE;
        rfile *row = NULL;
        for (size_t x = 0; x < nents; x++) {
            if (ents[x].lpath != NULL && strcmp(ents[x].lpath, nw->lpath) == 0) {
                kind = A_ADOPT;
                memcpy(nw->id, ents[x].id, 33);
                free(ents[x].lpath);
                ents[x].lpath = NULL;
                break;
            }
        }
        for (size_t g = 0; kind == A_CREATE && g < ngone; g++) {
            if (gone[g] != NULL && gone[g]->hash == nw->hash && gone[g]->size == (int64_t)nw->len) {
                kind = A_RENAME;
                row = gone[g];
                gone[g] = NULL;
                break;
            }
        }
        act *a = plan_add(p, kind);
        if (a == NULL) {
            rc = seterr(s, VSYNC_EFAIL, "out of memory");
            break;
        }
        *a = *nw;
        a->kind = kind;
        a->row = row;
        memset(nw, 0, sizeof(*nw));
        if (kind == A_RENAME) { /* content unchanged: only the path moves */
            free(a->data);
            a->data = NULL;
        }
        if (kind != A_ADOPT) p->nchanges++;
    }
    vindex_free(ents, nents);
    for (size_t g = 0; rc == 0 && g < ngone; g++) {
        if (gone[g] == NULL) continue;
        act *a = plan_add(p, A_TRASH);
        if (a == NULL) {
            rc = seterr(s, VSYNC_EFAIL, "out of memory");
            break;
        }
        a->row = gone[g];
        p->ntrash++;
        p->nchanges++;
    }
    for (size_t k = 0; k < nnew; k++) {
        free(news[k].lpath);
        free(news[k].data);
    }
    free(news);
    free(gone);
    folder_entries_free(e, ne);
    if (rc != 0) plan_free(p);
    return rc;
}

static int guard(vsync *s, const plan *p) {
    size_t n = p->ntrash, total = p->nrows;
    bool trips = n > GUARD_FILES || (n >= GUARD_MIN && n * 100 > total * GUARD_PERCENT);
    if (!trips || s->o.yes) return 0;
    if (s->o.interactive) {
        fprintf(stderr,
                "%zu of the %zu notes of this vault were deleted from the folder.\n"
                "Move them to the trash on the server (and on every other device)? [y/N] ",
                n, total);
        fflush(stderr);
        char line[32];
        if (fgets(line, sizeof(line), stdin) != NULL && (line[0] == 'y' || line[0] == 'Y'))
            return 0;
    }
    return seterr(s, VSYNC_EGUARD,
                  "deletion guard: %zu of the %zu notes of this vault were deleted from the "
                  "folder (more than %d files or %d%% of the vault). Nothing was changed or sent. "
                  "If you meant it, run again with --yes; if not, put the files back (they are "
                  "still on the server: `vn trash` does not list them yet)",
                  n, total, GUARD_FILES, GUARD_PERCENT);
}

static int pend(vsync *s, const char *doc, const uint8_t *u, size_t n) {
    if (replica_pending_add(s->r, doc, u, n, NULL) != 0) return repfail(s);
    s->txn_ops++;
    return 0;
}

static void say(vsync *s, const char *tag, const char *a, const char *b) {
    if (!s->o.verbose) return;
    if (b != NULL)
        printf("  %s %s -> %s\n", tag, a, b);
    else
        printf("  %s %s\n", tag, a);
}

/* MODIFY: the file's new text goes into its document as a diff against the
 * text the file had (the base state when the document moved on since). */
static int capture_modify(vsync *s, act *a) {
    rfile *row = a->row;
    ydoc *d = NULL;
    int rc = doc_load(s, row->id, &d, NULL, NULL);
    if (rc != 0) return rc;
    uint8_t *u = NULL, *nb = NULL;
    size_t ul = 0, nbl = 0;
    char *cur = NULL;
    size_t curlen = 0;
    if (row->base != NULL && doc_text(d, &cur, &curlen) == Y_OK && curlen == a->len &&
        memcmp(cur, a->data, curlen) == 0) {
        /* the file already holds the document's text: a write-out whose record was
         * lost (a crash between rename and commit). Nothing to edit, only to record;
         * diffing it against the base would apply the remote changes a second time. */
        yfree(cur);
        rfile nr = *row;
        nr.size = a->st.size;
        nr.mtime_ns = a->st.mtime_ns;
        nr.ino = a->st.ino;
        nr.hash = a->hash;
        nr.base = NULL;
        nr.base_len = 0;
        rc = replica_file_put(s->r, &nr) == 0 ? 0 : repfail(s);
        ydoc_free(d);
        return rc;
    }
    yfree(cur);
    if (row->base == NULL) {
        rc = edit_to(s, d, a->data, a->len, &u, &ul);
    } else {
        ydoc *b = doc_from(s, row->base, row->base_len);
        if (b == NULL) {
            rc = seterr(s, VSYNC_EFAIL, "the local copy of %s is damaged", row->lpath);
        } else {
            rc = edit_to(s, b, a->data, a->len, &u, &ul);
            if (rc == 0 && u != NULL && ydoc_apply_update(d, u, ul, NULL) != Y_OK)
                rc = seterr(s, VSYNC_EFAIL, "cannot merge the edit of %s", row->lpath);
            if (rc == 0 && ydoc_encode_state_as_update(b, NULL, 0, &nb, &nbl) != Y_OK)
                rc = seterr(s, VSYNC_EFAIL, "out of memory");
            ydoc_free(b);
        }
    }
    if (rc == 0 && u != NULL) rc = pend(s, row->id, u, ul);
    if (rc == 0) rc = doc_save(s, row->id, d);
    if (rc == 0) {
        /* the file's text is now the document's unless remote changes wait */
        char *t = NULL;
        size_t tl = 0;
        bool same = doc_text(d, &t, &tl) == Y_OK && tl == a->len && memcmp(t, a->data, tl) == 0;
        yfree(t);
        rfile nr = *row;
        nr.size = a->st.size;
        nr.mtime_ns = a->st.mtime_ns;
        nr.ino = a->st.ino;
        nr.hash = a->hash;
        nr.base = same ? NULL : nb;
        nr.base_len = same ? 0 : nbl;
        if (!same && nb == NULL) { /* no base yet: the pre-edit doc state is not it */
            rc = seterr(s, VSYNC_EFAIL, "internal: lost the base of %s", row->lpath);
        } else if (replica_file_put(s->r, &nr) != 0) {
            rc = repfail(s);
        }
    }
    if (rc == 0 && idset_add(&s->edited, row->id) != 0)
        rc = seterr(s, VSYNC_EFAIL, "out of memory");
    yfree(nb);
    free(u);
    ydoc_free(d);
    return rc;
}

static int capture_create(vsync *s, act *a, const char *id) {
    ydoc *d = doc_new(s);
    if (d == NULL) return seterr(s, VSYNC_EFAIL, "out of memory");
    uint8_t *u = NULL;
    size_t ul = 0;
    int rc = edit_to(s, d, a->data, a->len, &u, &ul);
    if (rc == 0 && u != NULL) rc = pend(s, id, u, ul);
    if (rc == 0) rc = doc_save(s, id, d);
    rfile nr = {.lpath = a->lpath,
                .size = a->st.size,
                .mtime_ns = a->st.mtime_ns,
                .ino = a->st.ino,
                .hash = a->hash};
    memcpy(nr.id, id, 33);
    if (rc == 0 && replica_file_put(s->r, &nr) != 0) rc = repfail(s);
    if (rc == 0 && idset_add(&s->edited, id) != 0) rc = seterr(s, VSYNC_EFAIL, "out of memory");
    free(u);
    ydoc_free(d);
    return rc;
}

/* ADOPT: records the file of a note; what differs from the document's text
 * (an edit made since) is captured as an edit. */
static int capture_adopt(vsync *s, act *a, vsync_report *rep) {
    ydoc *d = NULL;
    int rc = doc_load(s, a->id, &d, NULL, NULL);
    if (rc != 0) return rc;
    uint8_t *u = NULL;
    size_t ul = 0;
    rc = edit_to(s, d, a->data, a->len, &u, &ul);
    if (rc == 0 && u != NULL) {
        rc = pend(s, a->id, u, ul);
        if (rc == 0) rc = doc_save(s, a->id, d);
        if (rc == 0 && idset_add(&s->edited, a->id) != 0)
            rc = seterr(s, VSYNC_EFAIL, "out of memory");
        rep->modified++;
        say(s, "M", a->lpath, NULL);
    }
    rfile nr = {.lpath = a->lpath,
                .size = a->st.size,
                .mtime_ns = a->st.mtime_ns,
                .ino = a->st.ino,
                .hash = a->hash};
    memcpy(nr.id, a->id, 33);
    if (rc == 0 && replica_file_put(s->r, &nr) != 0) rc = repfail(s);
    free(u);
    ydoc_free(d);
    return rc;
}

static int capture_apply(vsync *s, plan *p, vsync_report *rep) {
    int rc = txn(s);
    if (rc != 0) return rc;
    char(*ids)[33] = calloc(p->n + 1, sizeof(*ids));
    if (ids == NULL) return seterr(s, VSYNC_EFAIL, "out of memory");
    bool need_index = false;
    for (size_t i = 0; i < p->n; i++)
        if (p->a[i].kind == A_CREATE || p->a[i].kind == A_RENAME || p->a[i].kind == A_TRASH)
            need_index = true;
    /* 1. creates, renames and trashes: one transaction on the index document
     * (an edit of a note touches only its own document: loading a big index
     * for it would cost more than the edit) */
    if (need_index) {
        ydoc *idx;
        vindex_entry *ents = NULL;
        size_t nents = 0;
        rc = index_get(s, &idx);
        if (rc == 0 && vindex_list(idx, &ents, &nents) != 0)
            rc = seterr(s, VSYNC_EFAIL, "out of memory");
        int64_t now = now_ms();
        ytxn *tx = NULL;
        if (rc == 0) {
            ucap_reset(&s->icap);
            s->icap.on = true;
            tx = ydoc_begin(idx, NULL);
            if (tx == NULL) rc = seterr(s, VSYNC_EFAIL, "internal: index busy");
        }
        for (size_t i = 0; rc == 0 && i < p->n; i++) {
            act *a = &p->a[i];
            vindex_entry *e = a->row ? vindex_find(ents, nents, a->row->id) : NULL;
            int yr = Y_OK;
            switch (a->kind) {
            case A_CREATE: {
                vindex_new_id(ids[i]);
                char *vp = vindex_vpath(a->lpath);
                yr = vp == NULL ? Y_ERR_NOMEM : vindex_create(tx, idx, ids[i], vp, now);
                free(vp);
                break;
            }
            case A_RENAME:
                if (e != NULL) {
                    char *vp = vindex_vpath(a->lpath);
                    yr = vp == NULL ? Y_ERR_NOMEM : vindex_set_path(tx, idx, e->id, vp);
                    /* moving a file that was trashed elsewhere brings it back */
                    if (yr == Y_OK && e->trashed != 0) yr = vindex_untrash(tx, idx, e->id);
                    free(vp);
                }
                break;
            case A_TRASH:
                if (e != NULL && e->trashed == 0) yr = vindex_trash(tx, idx, e->id, now);
                break;
            default: break;
            }
            if (yr != Y_OK) rc = seterr(s, VSYNC_EFAIL, "cannot edit the index: %s", yerr_str(yr));
        }
        if (tx != NULL) ytxn_commit(tx);
        s->icap.on = false;
        vindex_free(ents, nents);
        if (rc == 0 && s->icap.err) rc = seterr(s, VSYNC_EFAIL, "out of memory");
        if (rc == 0 && s->icap.p != NULL) {
            s->index_dirty = true;
            s->index_touched = true;
            rc = pend(s, replica_vault(s->r), s->icap.p, s->icap.n);
        }
        ucap_reset(&s->icap);
    }
    /* 2. the notes, and what vn now knows of each file */
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        act *a = &p->a[i];
        rfile nr;
        switch (a->kind) {
        case A_TOUCH:
            nr = *a->row;
            nr.size = a->st.size;
            nr.mtime_ns = a->st.mtime_ns;
            nr.ino = a->st.ino;
            if (replica_file_put(s->r, &nr) != 0) rc = repfail(s);
            break;
        case A_MODIFY:
            rc = capture_modify(s, a);
            rep->modified++;
            say(s, "M", a->row->lpath, NULL);
            break;
        case A_CREATE:
            rc = capture_create(s, a, ids[i]);
            rep->created++;
            say(s, "A", a->lpath, NULL);
            break;
        case A_RENAME:
            nr = *a->row;
            nr.lpath = a->lpath;
            nr.size = a->st.size;
            nr.mtime_ns = a->st.mtime_ns;
            nr.ino = a->st.ino;
            if (replica_file_put(s->r, &nr) != 0) rc = repfail(s);
            rep->renamed++;
            say(s, "R", a->row->lpath, a->lpath);
            break;
        case A_TRASH:
            if (replica_file_del(s->r, a->row->id) != 0) rc = repfail(s);
            idset_del(&s->edited, a->row->id);
            rep->trashed++;
            say(s, "D", a->row->lpath, NULL);
            break;
        case A_ADOPT: rc = capture_adopt(s, a, rep); break;
        case A_UNHANDLED: break;
        }
    }
    free(ids);
    if (rc == 0) rc = commit(s);
    if (rc != 0) {
        rollback(s);
        /* the in-memory index may hold edits that were rolled back */
        ydoc_free(s->index);
        s->index = NULL;
        s->index_dirty = false;
    }
    return rc;
}

int vsync_capture(vsync *s, vsync_report *rep) {
    plan p;
    int rc = plan_build(s, &p);
    if (rc != 0) return rc;
    rc = guard(s, &p);
    if (rc == 0) rc = capture_apply(s, &p, rep);
    plan_free(&p);
    return rc;
}

int vsync_status(vsync *s, FILE *out, size_t *changes) {
    plan p;
    int rc = plan_build(s, &p);
    if (rc != 0) return rc;
    size_t unhandled = 0;
    for (size_t i = 0; i < p.n; i++) {
        act *a = &p.a[i];
        switch (a->kind) {
        case A_MODIFY: fprintf(out, "  modified:  %s\n", a->row->lpath); break;
        case A_CREATE: fprintf(out, "  new:       %s\n", a->lpath); break;
        case A_RENAME: fprintf(out, "  renamed:   %s -> %s\n", a->row->lpath, a->lpath); break;
        case A_TRASH: fprintf(out, "  deleted:   %s\n", a->row->lpath); break;
        default: break;
        }
    }
    if (p.nchanges == 0) fprintf(out, "  none\n");
    for (size_t i = 0; i < p.n; i++) {
        if (p.a[i].kind != A_UNHANDLED) continue;
        if (unhandled++ == 0) fprintf(out, "Files vn leaves alone (not synced):\n");
        fprintf(out, "  %s (%s)\n", p.a[i].lpath, p.a[i].why);
    }
    if (p.ntrash > 0) {
        size_t n = p.ntrash, total = p.nrows;
        if (n > GUARD_FILES || (n >= GUARD_MIN && n * 100 > total * GUARD_PERCENT))
            fprintf(out,
                    "Note: %zu deletions trip the deletion guard; `vn sync` will ask "
                    "(or needs --yes).\n",
                    n);
    }
    *changes = p.nchanges;
    plan_free(&p);
    return 0;
}

/* ---- the channel ------------------------------------------------------ */

static int send_msg(vsync *s, uint8_t *m, size_t n) {
    if (m == NULL) return seterr(s, VSYNC_EFAIL, "out of memory");
    int r = ws_send(s->w, m, n);
    free(m);
    if (r != WS_OK) return seterr(s, VSYNC_ENET, "the connection to the server broke");
    return 0;
}

static int send_step1(vsync *s, const char *doc) {
    uint8_t *blob = NULL, *sv = NULL, *m = NULL;
    size_t bl = 0, svl = 0, ml = 0;
    if (replica_doc_get(s->r, doc, &blob, &bl) < 0) return repfail(s);
    static const uint8_t empty_sv[1] = {0};
    int rc = 0;
    if (blob != NULL && bl > 0 && yupdate_state_vector(blob, bl, &sv, &svl) != Y_OK)
        rc = seterr(s, VSYNC_EFAIL, "the local copy of document %s is damaged", doc);
    free(blob);
    if (rc == 0) {
        if (vchan_encode_step1(doc, sv ? sv : empty_sv, sv ? svl : 1, &m, &ml) != YPROTO_OK)
            rc = seterr(s, VSYNC_EFAIL, "out of memory");
        else
            rc = send_msg(s, m, ml);
    }
    yfree(sv);
    if (rc == 0) s->outstanding++;
    return rc;
}

static bool inflight_has(vsync *s, uint64_t ref) {
    for (size_t i = 0; i < s->ninflight; i++)
        if (s->inflight[i] == ref) return true;
    return false;
}

static void inflight_del(vsync *s, uint64_t ref) {
    for (size_t i = 0; i < s->ninflight; i++)
        if (s->inflight[i] == ref) {
            s->inflight[i] = s->inflight[--s->ninflight];
            return;
        }
}

typedef struct {
    vsync *s;
    const char *only; /* NULL: every doc */
    int rc;
} sendctx;

static int send_one(void *ud, uint64_t ref, const char *doc, const uint8_t *u, size_t n) {
    sendctx *c = ud;
    vsync *s = c->s;
    if (c->only != NULL && strcmp(doc, c->only) != 0) return 0;
    if (inflight_has(s, ref) || idset_has(&s->resync, doc)) return 0;
    if (s->ninflight == s->capinflight) {
        size_t cap = s->capinflight ? s->capinflight * 2 : 64;
        uint64_t *b = realloc(s->inflight, cap * sizeof(*b));
        if (b == NULL) return c->rc = seterr(s, VSYNC_EFAIL, "out of memory");
        s->inflight = b;
        s->capinflight = cap;
    }
    uint8_t *m = NULL;
    size_t ml = 0;
    if (vchan_encode_update(doc, ref, u, n, &m, &ml) != YPROTO_OK)
        return c->rc = seterr(s, VSYNC_EFAIL, "out of memory");
    if ((c->rc = send_msg(s, m, ml)) != 0) return c->rc;
    s->inflight[s->ninflight++] = ref;
    if (s->rep) s->rep->sent++;
    return 0;
}

/* Sends every pending update not yet in flight (of `only`, when given). */
static int send_pending(vsync *s, const char *only) {
    if (s->w == NULL || !s->ready) return 0;
    sendctx c = {s, only, 0};
    if (replica_pending_each(s->r, send_one, &c) != 0 && c.rc == 0) return repfail(s);
    return c.rc;
}

static void advance(vsync *s, uint64_t seq) {
    if (seq == 0) return;
    if (!s->ready) {
        if (seq > s->max_seen) s->max_seen = seq;
        return;
    }
    if (seq > replica_since(s->r)) {
        if (txn(s) == 0 && replica_set_since(s->r, seq) != 0) s->fatal = repfail(s);
    }
}

/* Applies a remote update of doc. For a note whose file is in the folder,
 * the state the file matches is kept as the file's base before the text
 * changes (see replica.h). */
static int apply_remote(vsync *s, const char *doc, const uint8_t *u, size_t n) {
    int rc = txn(s);
    if (rc != 0) return rc;
    if (strcmp(doc, replica_vault(s->r)) == 0) {
        ydoc *idx;
        if ((rc = index_get(s, &idx)) != 0) return rc;
        int yr = ydoc_apply_update(idx, u, n, NULL);
        if (yr != Y_OK)
            return seterr(s, VSYNC_ESERVER, "the server sent a bad index update: %s", yerr_str(yr));
        s->index_dirty = true;
        s->index_touched = true;
        return 0;
    }
    ydoc *d = NULL;
    uint8_t *blob = NULL;
    size_t bl = 0;
    if ((rc = doc_load(s, doc, &d, &blob, &bl)) != 0) return rc;
    char *before = NULL, *after = NULL;
    size_t lb = 0, la = 0;
    int yr = doc_text(d, &before, &lb);
    if (yr == Y_OK) yr = ydoc_apply_update(d, u, n, NULL);
    if (yr == Y_OK) yr = doc_text(d, &after, &la);
    if (yr != Y_OK) {
        rc = seterr(s, VSYNC_ESERVER, "the server sent a bad update of %s: %s", doc, yerr_str(yr));
    } else {
        bool changed = lb != la || memcmp(before, after, lb) != 0;
        if (changed && blob != NULL && replica_file_keep_base(s->r, doc, blob, bl) != 0)
            rc = repfail(s);
        if (rc == 0) rc = doc_save(s, doc, d);
    }
    yfree(before);
    yfree(after);
    free(blob);
    ydoc_free(d);
    return rc;
}

/* Sends the next STEP1s of the CHANGED list, at most STEP1_WINDOW in flight. */
static int feed(vsync *s) {
    while (s->todo_at < s->ntodo && s->outstanding < STEP1_WINDOW) {
        int rc = send_step1(s, s->todo[s->todo_at++]);
        if (rc != 0) return rc;
    }
    return 0;
}

static int handle(vsync *s, const uint8_t *buf, size_t len) {
    vchan_msg m;
    int dr = vchan_decode(buf, len, MAX_PAYLOAD, &m);
    if (dr != YPROTO_OK)
        return seterr(s, VSYNC_ESERVER, "the server sent a message vn does not understand (%s)",
                      yproto_strerror(dr));
    int rc = 0;
    switch (m.type) {
    case VCHAN_CHANGED: {
        s->got_changed = true;
        s->changed_seq = m.seq;
        size_t pos = 0;
        vchan_change c;
        free(s->todo);
        s->todo = m.count > 0 ? calloc((size_t)m.count, sizeof(*s->todo)) : NULL;
        s->ntodo = s->todo_at = 0;
        if (m.count > 0 && s->todo == NULL) return seterr(s, VSYNC_EFAIL, "out of memory");
        for (uint64_t i = 0; i < m.count; i++) {
            if (vchan_changed_next(&m, &pos, &c) != YPROTO_OK)
                return seterr(s, VSYNC_ESERVER, "the server sent a bad CHANGED list");
            memcpy(s->todo[s->ntodo++], c.doc, 33);
        }
        if (s->o.progress && m.count > 50) progress_start(s, "fetching", (size_t)m.count);
        rc = feed(s);
        break;
    }
    case VCHAN_STEP2:
        rc = apply_remote(s, m.doc, m.payload, m.payload_len);
        if (s->outstanding > 0) s->outstanding--;
        if (s->rep) s->rep->fetched++;
        s->prog_done++;
        progress(s, false);
        if (rc == 0 && idset_has(&s->resync, m.doc)) {
            idset_del(&s->resync, m.doc);
            rc = send_pending(s, m.doc);
        }
        if (rc == 0) rc = feed(s);
        break;
    case VCHAN_PUSH:
        rc = apply_remote(s, m.doc, m.payload, m.payload_len);
        if (rc == 0) advance(s, m.seq);
        break;
    case VCHAN_ACK:
        if (!inflight_has(s, m.ref)) break; /* not ours (an old connection's): ignore */
        inflight_del(s, m.ref);
        if ((rc = txn(s)) == 0 && replica_pending_drop(s->r, m.ref) != 0) rc = repfail(s);
        if (s->rep) s->rep->acked++;
        if (rc == 0) advance(s, m.seq);
        break;
    case VCHAN_ERROR: {
        char reason[256];
        snprintf(reason, sizeof(reason), "%.*s", (int)(m.payload_len < 200 ? m.payload_len : 200),
                 (const char *)m.payload);
        inflight_del(s, m.ref);
        if (s->rep) s->rep->refused++;
        if (m.code == VCHAN_ERR_MISSING && m.doc[0] != '\0') {
            if (++s->resyncs > MAX_RESYNC * 64)
                return seterr(s, VSYNC_ESERVER, "the server keeps refusing updates of %s: %s",
                              m.doc, reason);
            if (!idset_has(&s->resync, m.doc)) {
                if (idset_add(&s->resync, m.doc) != 0)
                    return seterr(s, VSYNC_EFAIL, "out of memory");
                rc = send_step1(s, m.doc);
            }
        } else if (m.code == VCHAN_ERR_READ_ONLY) {
            s->readonly_refused = true;
        } else if (m.code == VCHAN_ERR_NO_DOC || m.code == VCHAN_ERR_BAD_INDEX) {
            fprintf(stderr, "vn: the server refused a change (%s); it is dropped\n", reason);
            if ((rc = txn(s)) == 0 && replica_pending_drop(s->r, m.ref) != 0) rc = repfail(s);
            /* a note the server no longer has (purged from the trash): its file, if
             * still here, becomes a new note at the next capture */
            if (rc == 0 && m.code == VCHAN_ERR_NO_DOC && m.doc[0] != '\0' &&
                strcmp(m.doc, replica_vault(s->r)) != 0 && replica_file_del(s->r, m.doc) != 0)
                rc = repfail(s);
        } else {
            s->server_failed = true;
            seterr(s, 0, "the server could not save a change: %s", reason);
        }
        break;
    }
    default: break; /* a message type meant for servers: ignore */
    }
    if (rc == 0 && s->in_txn && s->txn_ops >= 512) rc = commit(s);
    return rc;
}

static void session_close(vsync *s) {
    if (s->w != NULL) {
        if (s->rep) {
            s->rep->bytes_in += ws_bytes_in(s->w);
            s->rep->bytes_out += ws_bytes_out(s->w);
        }
        ws_free(s->w);
    }
    s->w = NULL;
    s->ready = s->got_changed = false;
    s->outstanding = 0;
    s->ninflight = 0;
    s->resync.n = 0;
    free(s->todo);
    s->todo = NULL;
    s->ntodo = s->todo_at = 0;
}

static int lost(vsync *s, int r) {
    int code = s->w ? ws_close_code(s->w) : 0;
    session_close(s);
    if (r == 0) return seterr(s, VSYNC_ENET, "the server stopped answering");
    if (code == 1013)
        return seterr(s, VSYNC_ENET,
                      "the server closed the connection: this client read too slowly");
    if (code == 1001) return seterr(s, VSYNC_ENET, "the server is shutting down");
    if (code != 0 && code != 1000)
        return seterr(s, VSYNC_ESERVER, "the server closed the connection (code %d)", code);
    return seterr(s, VSYNC_ENET, "the connection to the server was lost");
}

/* Processes messages until done(s) holds. */
static int pump(vsync *s, bool (*done)(vsync *)) {
    int timeout = s->o.timeout_ms > 0 ? s->o.timeout_ms : 60000;
    while (!done(s)) {
        if (s->fatal) return s->fatal;
        uint8_t *m = NULL;
        size_t n = 0;
        int r = ws_recv(s->w, timeout, &m, &n);
        if (r <= 0) return lost(s, r);
        int rc = handle(s, m, n);
        free(m);
        if (rc != 0) return rc;
    }
    return s->fatal;
}

static bool have_changed(vsync *s) { return s->got_changed; }
static bool have_step2(vsync *s) { return s->outstanding == 0 && s->todo_at == s->ntodo; }
static bool all_acked(vsync *s) { return s->ninflight == 0 && have_step2(s); }

typedef struct {
    vsync *s;
    int rc;
} markctx;

static int mark_edited(void *ud, uint64_t ref, const char *doc, const uint8_t *u, size_t n) {
    (void)ref;
    (void)u;
    (void)n;
    markctx *c = ud;
    if (strcmp(doc, replica_vault(c->s->r)) != 0 && idset_add(&c->s->edited, doc) != 0)
        return c->rc = seterr(c->s, VSYNC_EFAIL, "out of memory");
    return 0;
}

/* Connects, announces `since` and fetches every changed document. */
static int session_open(vsync *s) {
    if (s->token == NULL || s->token[0] == '\0')
        return seterr(s, VSYNC_EAUTH, "not logged in: run `vn login %s` first", replica_url(s->r));
    markctx mc = {s, 0};
    if (replica_pending_each(s->r, mark_edited, &mc) != 0) return mc.rc ? mc.rc : repfail(s);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/vaults/%s/sync", replica_vault(s->r));
    int status = 0;
    char err[512];
    int timeout = s->o.timeout_ms > 0 ? s->o.timeout_ms : 60000;
    int r =
        ws_connect(replica_url(s->r), path, s->token, timeout, &s->w, &status, err, sizeof(err));
    if (r == WS_EHTTP) {
        if (status == 401)
            return seterr(s, VSYNC_EAUTH,
                          "the server does not accept your session any more (%s): "
                          "run `vn login %s`",
                          err, replica_url(s->r));
        if (status == 404)
            return seterr(s, VSYNC_ENOTFOUND,
                          "the vault of this folder no longer exists on the "
                          "server, or you are no longer a member (%s)",
                          err);
        if (status == 503) return seterr(s, VSYNC_ENET, "the server is shutting down (%s)", err);
        return seterr(s, VSYNC_ESERVER, "the server refused the sync channel: HTTP %d: %s", status,
                      err);
    }
    if (r != WS_OK) return seterr(s, r == WS_EURL ? VSYNC_EFAIL : VSYNC_ENET, "%s", err);
    s->got_changed = s->ready = false;
    s->max_seen = 0;
    uint8_t *m = NULL;
    size_t ml = 0;
    if (vchan_encode_hello(replica_since(s->r), &m, &ml) != YPROTO_OK) {
        session_close(s);
        return seterr(s, VSYNC_EFAIL, "out of memory");
    }
    int rc = send_msg(s, m, ml);
    if (rc == 0) rc = pump(s, have_changed);
    if (rc == 0) rc = pump(s, have_step2);
    if (rc == 0) {
        progress(s, true);
        s->prog_total = 0;
        s->ready = true;
        uint64_t since = s->changed_seq > s->max_seen ? s->changed_seq : s->max_seen;
        if ((rc = txn(s)) == 0 && since > replica_since(s->r) &&
            replica_set_since(s->r, since) != 0)
            rc = repfail(s);
        if (rc == 0) rc = commit(s);
    }
    if (rc != 0 && s->w != NULL) session_close(s);
    return rc;
}

/* ---- write-out --------------------------------------------------------- */

static folder_expect expect_of(const rfile *r) {
    folder_expect x = {
        .exists = true, .size = r->size, .mtime_ns = r->mtime_ns, .ino = r->ino, .hash = r->hash};
    return x;
}

/* Writes the document's text to the row's file when they differ. */
static int write_text(vsync *s, rfile *row, bool is_new, vsync_report *rep) {
    ydoc *d = NULL;
    int rc = doc_load(s, row->id, &d, NULL, NULL);
    if (rc != 0) return rc;
    char *t = NULL;
    size_t tl = 0;
    if (doc_text(d, &t, &tl) != Y_OK) {
        ydoc_free(d);
        return seterr(s, VSYNC_EFAIL, "out of memory");
    }
    ydoc_free(d);
    uint64_t h = folder_hash(t, tl);
    if (!is_new && h == row->hash && (int64_t)tl == row->size) {
        yfree(t);
        if (row->base == NULL) return 0;
        free(row->base);
        row->base = NULL;
        row->base_len = 0;
        return replica_file_put(s->r, row) == 0 ? 0 : repfail(s);
    }
    folder_expect x = is_new ? (folder_expect){.exists = false} : expect_of(row);
    folder_entry st;
    int w = folder_write(s->root, row->lpath, t, tl, &x, is_new, &st);
    if (is_new) s->unsynced = true;
    yfree(t);
    if (w == FOLDER_CHANGED) {
        rep->kept++;
        if (s->o.verbose)
            printf("  ! %s changed during the sync: kept, merged next time\n", row->lpath);
        return 0;
    }
    if (w != FOLDER_OK)
        return seterr(s, VSYNC_EFAIL, "cannot write %s/%s: %s", s->root, row->lpath,
                      strerror(errno));
    row->size = st.size;
    row->mtime_ns = st.mtime_ns;
    row->ino = st.ino;
    row->hash = h;
    free(row->base);
    row->base = NULL;
    row->base_len = 0;
    if (replica_file_put(s->r, row) != 0) return repfail(s);
    s->txn_ops++;
    rep->written++;
    say(s, is_new ? "+" : "<", row->lpath, NULL);
    return 0;
}

static int cmp_id(const void *a, const void *b) { return strcmp(a, b); }

#define WRITE_BATCH 256

/* Writes a batch of rows whose documents moved on: every temporary file
 * first, one flush for all, then each rename after its last check. */
static int write_batch(vsync *s, rfile *rows, size_t n, vsync_report *rep) {
    folder_tmp *tmp = calloc(n, sizeof(*tmp));
    uint64_t *hash = calloc(n, sizeof(*hash));
    int rc = tmp == NULL || hash == NULL ? seterr(s, VSYNC_EFAIL, "out of memory") : 0;
    size_t prepared = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rfile *row = &rows[i];
        ydoc *d = NULL;
        char *t = NULL;
        size_t tl = 0;
        if ((rc = doc_load(s, row->id, &d, NULL, NULL)) != 0) break;
        if (doc_text(d, &t, &tl) != Y_OK) rc = seterr(s, VSYNC_EFAIL, "out of memory");
        ydoc_free(d);
        if (rc != 0) break;
        hash[i] = folder_hash(t, tl);
        if (hash[i] == row->hash && (int64_t)tl == row->size) { /* already the file's text */
            free(row->base);
            row->base = NULL;
            row->base_len = 0;
            if (replica_file_put(s->r, row) != 0) rc = repfail(s);
        } else if (folder_prepare(s->root, row->lpath, t, tl, false, &tmp[i]) != FOLDER_OK) {
            rc = seterr(s, VSYNC_EFAIL, "cannot write %s/%s: %s", s->root, row->lpath,
                        strerror(errno));
        } else {
            prepared++;
        }
        yfree(t);
    }
    if (rc == 0 && prepared > 0 && folder_sync(s->root) != 0)
        rc = seterr(s, VSYNC_EFAIL, "cannot flush %s to disk: %s", s->root, strerror(errno));
    for (size_t i = 0; i < n && tmp != NULL; i++) {
        rfile *row = &rows[i];
        if (tmp[i].path[0] == '\0') continue;
        if (rc != 0) {
            folder_discard(&tmp[i]);
            continue;
        }
        folder_expect x = expect_of(row);
        folder_entry st;
        int w = folder_commit(s->root, row->lpath, &tmp[i], &x, &st);
        if (w == FOLDER_CHANGED) {
            rep->kept++;
            if (s->o.verbose)
                printf("  ! %s changed during the sync: kept, merged next time\n", row->lpath);
            continue;
        }
        if (w != FOLDER_OK) {
            rc = seterr(s, VSYNC_EFAIL, "cannot write %s/%s: %s", s->root, row->lpath,
                        strerror(errno));
            continue;
        }
        row->size = st.size;
        row->mtime_ns = st.mtime_ns;
        row->ino = st.ino;
        row->hash = hash[i];
        free(row->base);
        row->base = NULL;
        row->base_len = 0;
        if (replica_file_put(s->r, row) != 0) rc = repfail(s);
        rep->written++;
        say(s, "<", row->lpath, NULL);
    }
    free(tmp);
    free(hash);
    return rc;
}

/* Write-out when the index did not change and nothing was left over: only
 * the notes whose documents moved on (base set) are written. */
static int writeout_texts(vsync *s, vsync_report *rep) {
    rfile *rows = NULL;
    size_t nr = 0;
    int rc = txn(s);
    if (rc == 0 && replica_files_based(s->r, &rows, &nr) != 0) rc = repfail(s);
    for (size_t i = 0; rc == 0 && i < nr; i += WRITE_BATCH)
        rc = write_batch(s, rows + i, nr - i < WRITE_BATCH ? nr - i : WRITE_BATCH, rep);
    /* a file left alone (edited meanwhile) keeps its base: the next round merges it */
    replica_files_free(rows, nr);
    if (rc == 0) {
        s->edited.n = 0;
        rc = commit(s);
    }
    if (rc != 0) rollback(s);
    return rc;
}

static int writeout(vsync *s, vsync_report *rep) {
    size_t kept_before = rep->kept;
    if (!s->index_touched && replica_meta_int(s->r, "reconcile", 0) == 0)
        return writeout_texts(s, rep);
    ydoc *idx;
    int rc = txn(s);
    if (rc == 0) rc = index_get(s, &idx);
    if (rc != 0) return rc;
    vindex_entry *e = NULL;
    size_t ne = 0;
    rfile *rows = NULL;
    size_t nr = 0;
    if (vindex_list(idx, &e, &ne) != 0 || vindex_assign(e, ne) != 0) {
        vindex_free(e, ne);
        return seterr(s, VSYNC_EFAIL, "out of memory");
    }
    if (replica_files_all(s->r, &rows, &nr) != 0) {
        vindex_free(e, ne);
        return repfail(s);
    }
    /* ids that have a row, to find the new notes afterwards */
    idset have = {0};
    have.ids = malloc((nr ? nr : 1) * sizeof(*have.ids));
    if (have.ids == NULL) rc = seterr(s, VSYNC_EFAIL, "out of memory");
    for (size_t i = 0; rc == 0 && i < nr; i++) memcpy(have.ids[have.n++], rows[i].id, 33);
    if (have.n > 1) qsort(have.ids, have.n, sizeof(*have.ids), cmp_id);
    have.cap = nr;
    for (size_t i = 0; rc == 0 && i < nr; i++) {
        rfile *row = &rows[i];
        vindex_entry *en = vindex_find(e, ne, row->id);
        if (en == NULL || en->lpath == NULL) {
            if (en != NULL && en->is_note && en->trashed == 0) continue; /* hidden path: keep */
            bool edited = en != NULL && en->trashed != 0 && idset_has(&s->edited, row->id);
            if (edited && replica_pending_has(s->r, row->id)) {
                /* trashed elsewhere, edited here, the edit not yet safe on the server:
                 * the file stays until it is */
                rep->kept++;
                continue;
            }
            folder_expect x = expect_of(row);
            int w = folder_remove(s->root, row->lpath, &x);
            if (w == FOLDER_OK) {
                if (replica_file_del(s->r, row->id) != 0) rc = repfail(s);
                rep->removed++;
                say(s, "-", row->lpath, NULL);
                if (edited) {
                    rep->in_trash++;
                    printf("%s was deleted on another device while you edited it: your edit is "
                           "kept with it in the trash (`vn untrash %s` brings it back)\n",
                           row->lpath, row->lpath);
                }
            } else if (w == FOLDER_CHANGED) {
                rep->kept++;
            } else {
                rc = seterr(s, VSYNC_EFAIL, "cannot remove %s/%s: %s", s->root, row->lpath,
                            strerror(errno));
            }
            continue;
        }
        if (strcmp(en->lpath, row->lpath) != 0) {
            int w = folder_rename(s->root, row->lpath, en->lpath);
            if (w == FOLDER_OK) {
                say(s, ">", row->lpath, en->lpath);
                free(row->lpath);
                row->lpath = strdup(en->lpath);
                if (row->lpath == NULL) {
                    rc = seterr(s, VSYNC_EFAIL, "out of memory");
                    break;
                }
                if (replica_file_put(s->r, row) != 0) rc = repfail(s);
                rep->moved++;
            } else if (w == FOLDER_CHANGED) {
                rep->kept++;
                continue;
            } else {
                rc = seterr(s, VSYNC_EFAIL, "cannot move %s to %s: %s", row->lpath, en->lpath,
                            strerror(errno));
                break;
            }
        }
        if (rc == 0 && row->base != NULL) rc = write_text(s, row, false, rep);
    }
    size_t nnew = 0;
    for (size_t i = 0; i < ne; i++)
        if (e[i].lpath != NULL && !idset_has(&have, e[i].id)) nnew++;
    if (s->o.progress && nnew > 50) progress_start(s, "writing ", nnew);
    for (size_t i = 0; rc == 0 && i < ne; i++) {
        if (e[i].lpath == NULL || idset_has(&have, e[i].id)) continue;
        rfile row = {.lpath = e[i].lpath};
        memcpy(row.id, e[i].id, 33);
        rc = write_text(s, &row, true, rep);
        row.lpath = NULL;
        rfile_release(&row);
        s->prog_done++;
        progress(s, false);
        if (rc == 0 && s->txn_ops > 512) {
            rc = commit(s);
            if (rc == 0) rc = txn(s);
        }
    }
    if (s->prog_total) progress(s, true);
    s->prog_total = 0;
    free(have.ids);
    replica_files_free(rows, nr);
    vindex_free(e, ne);
    if (rc == 0) {
        /* a file left alone (edited meanwhile) needs this full pass again */
        int64_t again = rep->kept > kept_before ? 1 : 0;
        if (replica_set_meta_int(s->r, "reconcile", again) != 0) rc = repfail(s);
    }
    if (rc == 0) {
        s->edited.n = 0;
        s->index_touched = false;
        rc = commit(s);
    }
    if (rc != 0) rollback(s);
    return rc;
}

/* ---- rounds ------------------------------------------------------------- */

vsync *vsync_new(const char *root, replica *r, const char *token, const vsync_opts *o) {
    vsync *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->root = strdup(root);
    s->token = token ? strdup(token) : NULL;
    if (s->root == NULL || (token && s->token == NULL)) {
        free(s->root);
        free(s->token);
        free(s);
        return NULL;
    }
    s->r = r;
    if (o) s->o = *o;
    return s;
}

void vsync_free(vsync *s) {
    if (s == NULL) return;
    session_close(s);
    rollback(s);
    ydoc_free(s->index);
    ucap_reset(&s->icap);
    free(s->inflight);
    free(s->edited.ids);
    free(s->resync.ids);
    free(s->root);
    free(s->token);
    free(s);
}

static int finish_exchange(vsync *s, vsync_report *rep) {
    int64_t t0 = mono_ms();
    int rc = send_pending(s, NULL);
    if (rc == 0) rc = pump(s, all_acked);
    if (rc == 0) rc = commit(s);
    int64_t t1 = mono_ms();
    if (rc == 0) rc = writeout(s, rep);
    if (getenv("VN_REPORT_TIMES") != NULL)
        fprintf(stderr, "vn: send until acknowledged %lld ms, write-out %lld ms\n",
                (long long)(t1 - t0), (long long)(mono_ms() - t1));
    if (rc == 0 && replica_pending_count(s->r) > 0 && !s->readonly_refused && !s->server_failed) {
        rc = send_pending(s, NULL);
        if (rc == 0) rc = pump(s, all_acked);
        if (rc == 0) rc = commit(s);
    }
    return rc;
}

int vsync_round(vsync *s, vsync_report *rep) {
    s->rep = rep;
    s->readonly_refused = s->server_failed = false;
    bool times = getenv("VN_REPORT_TIMES") != NULL;
    int64_t t0 = mono_ms();
    int rc = vsync_capture(s, rep);
    int64_t t1 = mono_ms();
    if (rc == 0) rc = session_open(s);
    int64_t t2 = mono_ms();
    if (rc == 0) rc = finish_exchange(s, rep);
    if (times)
        fprintf(stderr, "vn: capture %lld ms, connect and fetch %lld ms, send and write %lld ms\n",
                (long long)(t1 - t0), (long long)(t2 - t1), (long long)(mono_ms() - t2));
    if (rc == 0) {
        if (txn(s) == 0 && replica_set_last_sync(s->r, now_ms()) == 0) commit(s);
    } else {
        /* what was stored so far is consistent: keep it */
        if (commit(s) != 0) rollback(s);
    }
    session_close(s);
    s->rep = NULL;
    if (rc == 0 && s->readonly_refused)
        rc = seterr(s, VSYNC_EAUTH,
                    "you can only read this vault (viewer): your local changes "
                    "were not accepted and stay pending");
    if (rc == 0 && s->server_failed) rc = VSYNC_ESERVER; /* err set by handle() */
    return rc;
}

/* ---- watch ---------------------------------------------------------------- */

typedef struct {
    int fd;
    const char *root;
} watchctx;

static void add_watch(void *ud, const char *lpath) {
    watchctx *w = ud;
    char p[8192];
    snprintf(p, sizeof(p), "%s%s%s", w->root, lpath[0] ? "/" : "", lpath);
    inotify_add_watch(w->fd, p,
                      IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE |
                          IN_MODIFY | IN_ATTRIB);
}

static int rewatch(vsync *s, int ifd) {
    folder_entry *e = NULL;
    size_t n = 0;
    watchctx w = {ifd, s->root};
    if (folder_list(s->root, &e, &n, add_watch, &w, s->err, sizeof(s->err)) != 0)
        return VSYNC_EFAIL;
    folder_entries_free(e, n);
    return 0;
}

static bool fatal_code(int rc) {
    return rc == VSYNC_EAUTH || rc == VSYNC_ENOTFOUND || rc == VSYNC_EFAIL;
}

int vsync_watch(vsync *s, volatile sig_atomic_t *stop, vsync_report *rep) {
    s->rep = rep;
    int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd < 0) return seterr(s, VSYNC_EFAIL, "inotify: %s", strerror(errno));
    int rc = rewatch(s, ifd);
    int64_t capture_at = 0, write_at = -1, retry_at = 0, backoff = 1000;
    bool guard_said = false, offline_said = false;
    while (rc == 0 && !*stop) {
        int64_t t = mono_ms();
        if (capture_at >= 0 && t >= capture_at) {
            capture_at = -1;
            int c = vsync_capture(s, rep);
            if (c == VSYNC_EGUARD) {
                if (!guard_said) fprintf(stderr, "vn: %s\n", s->err);
                guard_said = true;
            } else if (c != 0) {
                rc = c;
                break;
            } else {
                guard_said = false;
                if (s->w != NULL && s->ready) {
                    int e = send_pending(s, NULL);
                    if (e != 0) lost(s, 1);
                }
                write_at = t;
            }
            if (rewatch(s, ifd) != 0) {
                rc = VSYNC_EFAIL;
                break;
            }
        }
        if (s->w == NULL && t >= retry_at) {
            int c = session_open(s);
            if (c == 0) {
                if (offline_said) fprintf(stderr, "vn: connected again\n");
                offline_said = false;
                backoff = 1000;
                c = send_pending(s, NULL);
                write_at = t;
            }
            if (c != 0) {
                if (fatal_code(c)) {
                    rc = c;
                    break;
                }
                if (!offline_said) fprintf(stderr, "vn: offline (%s); retrying\n", s->err);
                offline_said = true;
                session_close(s);
                retry_at = t + backoff;
                backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
            }
        }
        if (write_at >= 0 && t >= write_at && s->ninflight == 0) {
            write_at = -1;
            int c = writeout(s, rep);
            if (c != 0) {
                rc = c;
                break;
            }
            if (s->w != NULL && send_pending(s, NULL) != 0) lost(s, 1);
            if (commit(s) != 0) {
                rc = VSYNC_EFAIL;
                break;
            }
        }
        /* wait for the folder, the server or the next deadline */
        int64_t next = t + 1000;
        if (capture_at >= 0 && capture_at < next) next = capture_at;
        if (write_at >= 0 && write_at < next) next = write_at;
        if (s->w == NULL && retry_at < next) next = retry_at;
        int timeout = next > t ? (int)(next - t) : 0;
        if (s->w != NULL && ws_queued(s->w)) timeout = 0; /* already read: handle now */
        struct pollfd p[2] = {{.fd = ifd, .events = POLLIN}, {.fd = -1}};
        if (s->w != NULL) {
            p[1].fd = ws_fd(s->w);
            p[1].events = (short)ws_poll_fd_events(s->w);
        }
        if (s->in_txn && commit(s) != 0) {
            rc = VSYNC_EFAIL;
            break;
        }
        int pr = poll(p, 2, timeout);
        if (pr < 0 && errno != EINTR) {
            rc = seterr(s, VSYNC_EFAIL, "poll: %s", strerror(errno));
            break;
        }
        if (pr < 0) continue;
        if (p[0].revents & POLLIN) {
            char buf[8192];
            while (read(ifd, buf, sizeof(buf)) > 0) {
            }
            capture_at = mono_ms() + 300; /* let a burst of writes settle */
        }
        if (s->w != NULL && (p[1].revents || ws_queued(s->w))) {
            for (;;) {
                uint8_t *m = NULL;
                size_t n = 0;
                int r = ws_recv(s->w, 0, &m, &n);
                if (r == 0) break;
                if (r < 0) {
                    lost(s, r);
                    fprintf(stderr, "vn: offline (%s); retrying\n", s->err);
                    offline_said = true;
                    retry_at = mono_ms() + backoff;
                    break;
                }
                int c = handle(s, m, n);
                free(m);
                if (c != 0) {
                    if (fatal_code(c))
                        rc = c;
                    else
                        lost(s, 1);
                    break;
                }
                if (s->ready) write_at = mono_ms() + 100;
            }
        }
    }
    if (rc == 0 && s->in_txn && commit(s) != 0) rc = VSYNC_EFAIL;
    close(ifd);
    session_close(s);
    s->rep = NULL;
    return rc;
}

int vsync_note_id(vsync *s, const char *lpath, char id[33], bool include_trashed) {
    rfile *rows = NULL;
    size_t n = 0;
    if (replica_files_all(s->r, &rows, &n) != 0) return repfail(s);
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].lpath, lpath) == 0) {
            memcpy(id, rows[i].id, 33);
            rc = 0;
            break;
        }
    }
    replica_files_free(rows, n);
    if (rc == 0) return 0;
    /* not in the folder: look in the index (a trashed note keeps its path) */
    ydoc *idx;
    if (index_get(s, &idx) != 0) return VSYNC_EFAIL;
    vindex_entry *e = NULL;
    size_t ne = 0;
    if (vindex_list(idx, &e, &ne) != 0) return seterr(s, VSYNC_EFAIL, "out of memory");
    char *vp = vindex_vpath(lpath);
    int64_t best = -1;
    for (size_t i = 0; vp != NULL && i < ne; i++) {
        if (strcmp(e[i].path, vp) != 0) continue;
        if (e[i].trashed != 0 && !include_trashed) continue;
        if (e[i].trashed >= best) { /* the most recently trashed one */
            best = e[i].trashed;
            memcpy(id, e[i].id, 33);
            rc = 0;
        }
    }
    free(vp);
    vindex_free(e, ne);
    if (rc != 0)
        return seterr(s, VSYNC_ENOTFOUND, "%s is not a note of this vault%s", lpath,
                      include_trashed ? " (nor in its trash)" : "");
    return 0;
}
