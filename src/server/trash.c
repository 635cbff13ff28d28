/*
 * trash.c - trash routes and the janitor's purge (see trash.h).
 *
 * Trashing and restoring are metadata changes of the vault's index document
 * ("trashed" set or removed, maybe a new "path"), committed with the
 * projection rows through notes_commit_index_change(), like a rename.
 *
 * The janitor runs on the loop thread from a timer: one run reads the clock
 * once, asks the store for the trashed notes whose last activity is at or
 * before that time minus their vault's retention, and submits one purge
 * transaction per note: the store's purge step (which checks the note is
 * still trashed and still that old, else rolls the transaction back), the
 * index document's update removing the entry (made on the run's private
 * copy of the index: the live index takes it only once the purge has
 * committed, so that until then every change sees and checks the entry),
 * and a "note.purged" event.
 * Completions come back on the writer thread and are handed to the loop
 * through `async`.
 *
 * Invariants: a purge job holds the index vdoc, which stays open while its
 * commit is counted in flight; a note has at most one purge in flight
 * (`inflight`, loop thread only); the done queue is touched only under `mu`;
 * once `closed` is set nothing is sent to `async` any more, and
 * trash_janitor_free() answers what is left.
 */
#include "server/trash.h"

#include "server/auth.h"
#include "server/metrics.h"
#include "server/notes.h"
#include "util/log.h"
#include "util/vclock.h"
#include "util/vpath.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PURGE_BATCH   256 /* notes one run looks at */
#define PURGED        "vault_trash_purged_total"
#define PURGED_HELP   "Trashed notes the janitor purged."
#define RESTORE_TRIES 1000
#define CLOCK_JUMP_MS (100LL * 365 * TRASH_DAY_MS) /* VAULT_FAULT=janitor-clock-jump */

static int default_days = TRASH_DEFAULT_RETENTION_DAYS;

void trash_set_default_retention_days(int days) {
    if (days >= 1 && days <= STORE_RETENTION_MAX_DAYS) default_days = days;
}

int trash_default_retention_days(void) { return default_days; }

int trash_retention_days(int days) { return days > 0 ? days : default_days; }

static void db_failed(vctx *ctx) {
    vhttp_send_problem(ctx, 503, "Service Unavailable", "The database did not answer.");
}

static bool fault(const char *name) {
    const char *f = getenv("VAULT_FAULT");
    return f != NULL && strstr(f, name) != NULL;
}

static yany any_num(double v) {
    yany a = {.kind = YANY_NUMBER};
    a.u.num = v;
    return a;
}

static yany any_str(const char *s) {
    yany a = {.kind = YANY_STRING};
    a.u.str.ptr = s;
    a.u.str.len = strlen(s);
    return a;
}

/* The later of a trashed file's trash time and its last edit. */
static int64_t last_activity(const store_file *f) {
    return f->updated > f->trashed ? f->updated : f->trashed;
}

/* ---- GET /api/v1/vaults/{vault}/trash ---------------------------------------- */

static int by_trashed_desc(const void *a, const void *b) {
    const store_file *x = a, *y = b;
    if (x->trashed != y->trashed) return x->trashed > y->trashed ? -1 : 1;
    return strcmp(x->path, y->path);
}

void trash_route_list(vctx *ctx) {
    store_vault v;
    if (store_vault_get(ctx->st, ctx->vault, ctx->user_id, &v) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    int days = trash_retention_days(v.trash_retention_days);
    store_vault_free(&v);
    store_file *files = NULL;
    size_t n = 0;
    if (store_file_list(ctx->st, ctx->vault, "", true, &files, &n) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    if (n > 1) qsort(files, n, sizeof(*files), by_trashed_desc);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const store_file *f = &files[i];
        json_t *item = notes_file_json(f);
        json_object_set_new(item, "trashed", json_integer(f->trashed));
        json_object_set_new(item, "editedInTrash", json_boolean(f->updated > f->trashed));
        json_object_set_new(item, "purgeAfter",
                            json_integer(last_activity(f) + (int64_t)days * TRASH_DAY_MS));
        json_array_append_new(arr, item);
    }
    store_files_free(files, n);
    vhttp_send_json(ctx, 200, json_pack("{s:o, s:i}", "trash", arr, "retentionDays", days));
}

/* ---- POST /api/v1/notes/{note}/restore ---------------------------------------- */

/* "/A/Name.md" -> "/A/Name (restored).md" (k == 1) or "/A/Name (restored
 * k).md"; malloc'd, NULL when out of memory. */
static char *restored_path(const char *path, int k) {
    const char *base = vpath_basename(path);
    const char *dot = strrchr(base, '.');
    if (dot == NULL || dot == base) dot = base + strlen(base);
    char mark[32];
    if (k == 1)
        snprintf(mark, sizeof(mark), " (restored)");
    else
        snprintf(mark, sizeof(mark), " (restored %d)", k);
    size_t head = (size_t)(dot - path), tail = strlen(dot), ml = strlen(mark);
    char *out = malloc(head + ml + tail + 1);
    if (out == NULL) return NULL;
    memcpy(out, path, head);
    memcpy(out + head, mark, ml);
    memcpy(out + head + ml, dot, tail + 1);
    return out;
}

typedef struct {
    const char *id;
    const char *path; /* NULL: unchanged */
} restore_edit;

static int edit_restore(ytxn *tx, vdoc *idx, void *ud) {
    restore_edit *r = ud;
    ytype *meta = notes_index_meta(idx, r->id);
    if (meta == NULL) return Y_ERR_RANGE;
    int rc = ymap_delete(tx, meta, "trashed");
    if (rc == Y_OK && r->path != NULL) {
        yany v = any_str(r->path);
        rc = ymap_set(tx, meta, "path", &v);
    }
    return rc;
}

void trash_route_restore(vctx *ctx) {
    store_file f;
    if (notes_file(ctx, &f, true) != 0) return;
    vdoc *idx = NULL, *d = NULL;
    char *path = NULL, *text = NULL, *title = NULL;
    size_t len = 0;
    if (f.trashed == 0) {
        vhttp_send_problem(ctx, 409, "Conflict", "The note is not in the trash.");
        goto out;
    }
    if (vdocs_get(ctx->docs, f.vault, f.id, &d) != STORE_OK ||
        ytext_string(ydoc_get(d->doc, "content", YTYPE_TEXT), &text, &len) != Y_OK ||
        vdocs_get(ctx->docs, f.vault, f.vault, &idx) != STORE_OK) {
        db_failed(ctx);
        goto out;
    }
    if (notes_index_meta(idx, f.id) == NULL) { /* the janitor's purge is being committed */
        vhttp_send_problem(ctx, 409, "Conflict",
                           "The note is being deleted for good (purged from the trash).");
        goto out;
    }
    /* The old path, or the first free "(restored k)" name beside it. */
    bool moved = false;
    if (notes_path_taken(idx, f.path, f.id)) {
        for (int k = 1; k <= RESTORE_TRIES && path == NULL; k++) {
            char *p = restored_path(f.path, k);
            if (p == NULL) break;
            if (vpath_validate(p, strlen(p), VPATH_FILE, NULL) == VPATH_OK &&
                !notes_path_taken(idx, p, f.id))
                path = p;
            else
                free(p);
        }
        if (path == NULL) {
            vhttp_send_problem(ctx, 409, "Conflict",
                               "The note's path is taken and no free name was found beside it; "
                               "move the other note first.");
            goto out;
        }
        free(f.path);
        f.path = path;
        path = NULL;
        moved = true;
    }
    if (vpath_title(text, len, f.path, &title) != VPATH_OK) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        goto out;
    }
    free(f.title);
    f.title = title;
    title = NULL;
    int64_t trashed = f.trashed;
    f.trashed = 0;
    f.updated = auth_now_ms();
    restore_edit r = {.id = f.id, .path = moved ? f.path : NULL};
    json_t *ev = json_pack("{s:s, s:s, s:I, s:I}", "id", f.id, "path", f.path, "user",
                           (json_int_t)ctx->user_id, "trashed", (json_int_t)trashed);
    char *evs = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    json_t *reply = notes_file_json(&f);
    json_object_set_new(reply, "restoredFrom", json_integer(trashed));
    json_object_set_new(reply, "moved", json_boolean(moved));
    notes_commit_index_change(ctx, idx, edit_restore, &r, &f, 1, "note.restored",
                              evs != NULL ? evs : "{}", NULL, 200, reply);
    free(evs);
out:
    yfree(text);
    free(path);
    free(title);
    store_file_free(&f);
}

/* ---- POST /api/v1/vaults/{vault}/folders/trash ---------------------------------- */

typedef struct {
    store_file *files;
    size_t n;
    int64_t at;
} trash_many;

static int by_id(const void *a, const void *b) {
    return strcmp(((const store_file *)a)->id, ((const store_file *)b)->id);
}

/* The projection row of file `id` into *out: taken (moved out) from `rows`
 * (sorted by id) when there, else read alone (a note whose rename, restore
 * or creation is still being committed). Returns a store code. */
static int take_row(store *st, store_file *rows, size_t nrows, const char *id, store_file *out) {
    store_file key;
    memcpy(key.id, id, 33);
    store_file *r = nrows > 0 ? bsearch(&key, rows, nrows, sizeof(*rows), by_id) : NULL;
    if (r == NULL || r->path == NULL) return store_file_get(st, id, out);
    *out = *r;
    memset(r, 0, sizeof(*r)); /* moved: freed with the caller's copy */
    memcpy(r->id, id, 33);    /* still sorted */
    return STORE_OK;
}

static int edit_trash_many(ytxn *tx, vdoc *idx, void *ud) {
    trash_many *t = ud;
    yany v = any_num((double)t->at);
    for (size_t i = 0; i < t->n; i++) {
        ytype *meta = notes_index_meta(idx, t->files[i].id);
        if (meta == NULL) return Y_ERR_RANGE;
        int rc = ymap_set(tx, meta, "trashed", &v);
        if (rc != Y_OK) return rc;
    }
    return Y_OK;
}

void trash_route_folder(vctx *ctx) {
    static const char *const keys[] = {"path", NULL};
    if (vctx_body_fields(ctx, keys, NULL, 1) != 0) return;
    json_t *jp = json_object_get(ctx->body, "path");
    const char *folder = json_string_value(jp);
    size_t where = 0;
    vpath_err perr = vpath_validate(folder, json_string_length(jp), VPATH_FOLDER, &where);
    if (perr != VPATH_OK) {
        char detail[320];
        snprintf(detail, sizeof(detail), "Bad path (at byte %zu): %s", where, vpath_strerror(perr));
        vhttp_send_problem(ctx, 422, "Unprocessable Content", detail);
        return;
    }
    if (strcmp(folder, "/") == 0) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "The vault's root cannot be trashed; trash its folders or notes.");
        return;
    }
    vdoc *idx = NULL;
    if (vdocs_get(ctx->docs, ctx->vault, ctx->vault, &idx) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    /* The folder's live notes, by the index (never behind the commits); their
     * projection rows from one read of the folder's live rows. */
    store_file *files = NULL, *rows = NULL;
    size_t n = 0, cap = 0, nrows = 0;
    const char **ids = NULL;
    size_t nids = 0;
    char prefix[VPATH_MAX_LEN + 2];
    snprintf(prefix, sizeof(prefix), "%s/", folder);
    if (store_file_list(ctx->st, ctx->vault, prefix, false, &rows, &nrows) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    if (nrows > 1) qsort(rows, nrows, sizeof(*rows), by_id);
    ytype *map = ydoc_get(idx->doc, "files", YTYPE_MAP);
    if (map == NULL || ymap_keys(map, &ids, &nids) != Y_OK) {
        store_files_free(rows, nrows);
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        return;
    }
    int64_t now = auth_now_ms();
    int status = 0;
    for (size_t i = 0; i < nids && status == 0; i++) {
        ytype *meta = notes_index_meta(idx, ids[i]);
        yvalue v;
        if (meta == NULL || ymap_get(meta, "trashed", &v) == Y_OK) continue;
        if (ymap_get(meta, "path", &v) != Y_OK || v.kind != YVALUE_ANY ||
            v.any.kind != YANY_STRING || v.any.u.str.len > VPATH_MAX_LEN)
            continue;
        char p[VPATH_MAX_LEN + 1];
        memcpy(p, v.any.u.str.ptr, v.any.u.str.len);
        p[v.any.u.str.len] = '\0';
        if (!vpath_has_prefix(p, folder)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            store_file *grown = realloc(files, cap * sizeof(*files));
            if (grown == NULL) {
                status = 503;
                break;
            }
            files = grown;
        }
        int rc = take_row(ctx->st, rows, nrows, ids[i], &files[n]);
        if (rc == STORE_ENOTFOUND) continue; /* its creation is still being committed */
        if (rc != STORE_OK) {
            status = 503;
            break;
        }
        files[n++].trashed = now;
    }
    yfree(ids);
    store_files_free(rows, nrows);
    if (status == 0 && n == 0) {
        vhttp_send_problem(ctx, 404, "Not Found", "No such folder, or nothing in it to trash.");
        store_files_free(files, n);
        return;
    }
    if (status != 0) {
        db_failed(ctx);
        store_files_free(files, n);
        return;
    }
    trash_many t = {files, n, now};
    json_t *ev = json_pack("{s:s, s:I, s:I}", "path", folder, "files", (json_int_t)n, "user",
                           (json_int_t)ctx->user_id);
    char *evs = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    json_t *reply = json_pack("{s:s, s:I, s:I}", "path", folder, "trashed", (json_int_t)n, "at",
                              (json_int_t)now);
    notes_commit_index_change(ctx, idx, edit_trash_many, &t, files, n, "folder.trashed",
                              evs != NULL ? evs : "{}", "note.trashed", 200, reply);
    free(evs);
    store_files_free(files, n);
}

/* ---- PATCH /api/v1/vaults/{vault} --------------------------------------------- */

void trash_route_vault_patch(vctx *ctx) {
    static const char *const keys[] = {"trashRetentionDays", NULL};
    static const json_type types[] = {JSON_INTEGER};
    if (vctx_body_fields(ctx, keys, types, 1) != 0) return;
    json_int_t days = json_integer_value(json_object_get(ctx->body, "trashRetentionDays"));
    if (days < 0 || days > STORE_RETENTION_MAX_DAYS) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "trashRetentionDays is 1 to 36500 days, or 0 for the server's default.");
        return;
    }
    int rc = store_vault_set_retention(ctx->st, ctx->vault, (int)days);
    store_vault v;
    if (rc == STORE_OK) rc = store_vault_get(ctx->st, ctx->vault, ctx->user_id, &v);
    if (rc != STORE_OK) {
        db_failed(ctx);
        return;
    }
    vlog(VLOG_INFO, "trash retention set",
         json_pack("{s:s, s:i, s:I, s:s}", "vault", v.id, "days", v.trash_retention_days, "user",
                   (json_int_t)ctx->user_id, "trace_id", ctx->trace_id));
    vhttp_send_json(ctx, 200,
                    json_pack("{s:s, s:s, s:i, s:b}", "id", v.id, "name", v.name,
                              "trashRetentionDays", trash_retention_days(v.trash_retention_days),
                              "trashRetentionDefault", v.trash_retention_days == 0));
    store_vault_free(&v);
}

/* ---- the janitor ---------------------------------------------------------------- */

typedef struct pjob {
    trash_janitor *j;
    vdoc *idx;       /* NULL when the index had no entry to remove */
    uint8_t *update; /* the entry's removal, applied to idx once committed */
    size_t update_len;
    char doc[33], vault[33];
    char *path;
    int64_t trashed, last_edit, cutoff, at;
    store_doc_usage usage;
    store_result res;
    struct pjob *next;  /* in the done queue */
    struct pjob *inext; /* in the janitor's in-flight list */
} pjob;

struct trash_janitor {
    uv_loop_t *loop;
    store *st;
    vdocs *docs;
    vsync *sync;
    struct vmetrics *metrics; /* may be NULL */
    uv_timer_t timer;
    uv_async_t async;
    int handles_open;
    bool stopped;
    pthread_mutex_t mu;
    bool closed; /* under mu: async is closing, answer in trash_janitor_free */
    pjob *done_head, *done_tail;
    pjob *inflight; /* loop thread: purges submitted and not yet finished */
    uint64_t runs;
};

/* One run's private copies of vault indexes, on which the purges' removals
 * of index entries are made: the live index changes only once a purge has
 * committed, so until then everything (a restore, a rename over the vault
 * channel) sees and checks the entry, and a failed purge leaves nothing to
 * undo. */
typedef struct {
    char vault[33];
    ydoc *doc;
    uint8_t *captured; /* the last transaction's update */
    size_t captured_len;
} replica;

typedef struct {
    replica *r;
    size_t n, cap;
} replicas;

static void on_replica_update(void *ud, const uint8_t *update, size_t len, const void *origin) {
    (void)origin;
    replica *r = ud;
    free(r->captured);
    r->captured = malloc(len);
    r->captured_len = r->captured != NULL ? len : 0;
    if (r->captured != NULL) memcpy(r->captured, update, len);
}

static void replicas_free(replicas *rs) {
    for (size_t i = 0; i < rs->n; i++) {
        ydoc_free(rs->r[i].doc);
        free(rs->r[i].captured);
    }
    free(rs->r);
}

/* The run's copy of idx, made on first use; NULL when out of memory. Room
 * for every vault of the run is made up front, so an entry never moves
 * (its observer points at it). */
static replica *replica_of(replicas *rs, vdoc *idx) {
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->r[i].vault, idx->id) == 0) return &rs->r[i];
    if (rs->n == rs->cap) return NULL;
    replica *r = &rs->r[rs->n];
    memset(r, 0, sizeof(*r));
    ydoc_options opt = {.gc = false};
    uint8_t *whole = NULL;
    size_t wlen = 0;
    r->doc = ydoc_new(&opt);
    int rc = r->doc != NULL ? ydoc_encode_state_as_update(idx->doc, NULL, 0, &whole, &wlen)
                            : Y_ERR_NOMEM;
    if (rc == Y_OK) rc = ydoc_apply_update(r->doc, whole, wlen, NULL);
    yfree(whole);
    if (rc == Y_OK && ydoc_observe_updates(r->doc, on_replica_update, r) < 0) rc = Y_ERR_NOMEM;
    if (rc != Y_OK) {
        ydoc_free(r->doc);
        r->doc = NULL;
        return NULL;
    }
    memcpy(r->vault, idx->id, 33);
    rs->n++;
    return r;
}

static void job_free(pjob *p) {
    free(p->update);
    free(p->path);
    free(p);
}

/* On the loop (or in trash_janitor_free): the purge committed or failed. */
static void job_finish(trash_janitor *j, pjob *p) {
    bool ok = p->res.err == STORE_OK;
    for (pjob **q = &j->inflight; *q != NULL; q = &(*q)->inext) {
        if (*q == p) {
            *q = p->inext;
            break;
        }
    }
    if (p->idx != NULL) {
        /* The removal is in the log now: the live index follows (what
         * committed meanwhile is in it already; the order does not matter
         * to the CRDT). A failed purge changed nothing in memory. */
        if (ok && vdocs_apply(p->idx, p->update, p->update_len) != Y_OK) p->idx->broken = true;
        vdocs_answered(j->docs, p->idx, true);
    }
    if (ok) {
        /* Sync connections that opened while the purge was being committed
         * are told (4404); the document goes once nothing holds it. */
        vsync_purged(j->sync, p->doc);
        (void)vdocs_close(j->docs, p->doc);
        if (j->metrics != NULL) vmetrics_count(j->metrics, PURGED, PURGED_HELP, 1);
        vlog(VLOG_INFO, "note purged",
             json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:b, s:s}}",
                       "doc", p->doc, "vault", p->vault, "path", p->path, "trashed",
                       (json_int_t)p->trashed, "last_edit", (json_int_t)p->last_edit, "cutoff",
                       (json_int_t)p->cutoff, "at", (json_int_t)p->at, "removed", "updates",
                       (json_int_t)p->usage.updates, "update_bytes",
                       (json_int_t)p->usage.update_bytes, "versions", (json_int_t)p->usage.versions,
                       "version_bytes", (json_int_t)p->usage.version_bytes, "index_entry",
                       p->idx != NULL, "search", "note.purged event"));
    } else {
        vlog(p->res.err == STORE_ENOTFOUND ? VLOG_INFO : VLOG_ERROR, "note purge skipped",
             json_pack("{s:s, s:s, s:s}", "doc", p->doc, "reason",
                       p->res.err == STORE_ENOTFOUND
                           ? "restored, edited, retention raised or already purged before the "
                             "purge committed"
                           : "the purge could not be committed",
                       "error", store_strerror(p->res.err)));
    }
    job_free(p);
}

static void on_purged(void *ud, const store_result *res) {
    pjob *p = ud;
    trash_janitor *j = p->j;
    p->res = *res;
    p->usage = res->purged; /* measured by the purge step, off the loop */
    pthread_mutex_lock(&j->mu);
    p->next = NULL;
    if (j->done_tail != NULL)
        j->done_tail->next = p;
    else
        j->done_head = p;
    j->done_tail = p;
    if (!j->closed) uv_async_send(&j->async);
    pthread_mutex_unlock(&j->mu);
}

static void drain(trash_janitor *j) {
    pthread_mutex_lock(&j->mu);
    pjob *p = j->done_head;
    j->done_head = j->done_tail = NULL;
    pthread_mutex_unlock(&j->mu);
    while (p != NULL) {
        pjob *next = p->next;
        job_finish(j, p);
        p = next;
    }
}

static void on_async(uv_async_t *a) { drain(a->data); }

static void postponed(const char *doc, const char *reason) {
    vlog(VLOG_INFO, "note purge postponed", json_pack("{s:s, s:s}", "doc", doc, "reason", reason));
}

/* Why the purge of f (due at `cutoff` by the committed state) must wait,
 * by what memory holds, or NULL. The vault's index `idx` is read in memory,
 * which may be ahead of the log: a restore or a new trash time still being
 * committed shows there first, and the purge must not delete the entry a
 * restore brings back. (Other index changes in flight, the janitor's own
 * purges included, commit before this purge, which checks again.) */
static const char *busy_reason(trash_janitor *j, const store_file *f, vdoc *idx, int64_t cutoff) {
    for (const pjob *q = j->inflight; q != NULL; q = q->inext)
        if (strcmp(q->doc, f->id) == 0) return "its purge is being committed";
    vdoc *open = vdocs_find(j->docs, f->id);
    if (vsync_watching(j->sync, f->id) || (open != NULL && open->inflight > 0))
        return "the note is open or being written";
    ytype *meta = notes_index_meta(idx, f->id);
    yvalue v;
    if (meta == NULL) return NULL; /* nothing to remove from the index */
    if (ymap_get(meta, "trashed", &v) != Y_OK || v.kind != YVALUE_ANY ||
        v.any.kind != YANY_NUMBER || (int64_t)v.any.u.num > cutoff)
        return "the note was restored or trashed again";
    return NULL;
}

/* Submits the purge of one due note (the run's clock read `now`). Returns
 * true if it was submitted. */
static bool purge_one(trash_janitor *j, replicas *rs, const store_trash_item *it, int64_t now,
                      int64_t at) {
    const store_file *f = &it->file;
    vdoc *idx = NULL;
    if (vdocs_get(j->docs, f->vault, f->vault, &idx) != STORE_OK) {
        vlog(VLOG_ERROR, "note purge failed",
             json_pack("{s:s, s:s}", "doc", f->id, "error", "the vault's index could not be loaded"));
        return false;
    }
    const char *busy = busy_reason(j, f, idx, it->cutoff);
    if (busy != NULL) {
        postponed(f->id, busy);
        return false;
    }
    pjob *p = calloc(1, sizeof(*p));
    store_txn *t = store_txn_new();
    uint8_t *u = NULL;
    size_t ulen = 0;
    bool ok = p != NULL && t != NULL && (p->path = strdup(f->path)) != NULL;
    if (ok && notes_index_meta(idx, f->id) != NULL) {
        /* The entry's removal, made on the run's copy of the index. */
        replica *r = replica_of(rs, idx);
        ytype *files = r != NULL ? ydoc_get(r->doc, "files", YTYPE_MAP) : NULL;
        ytxn *tx = files != NULL ? ydoc_begin(r->doc, NULL) : NULL;
        int rc = tx != NULL ? ymap_delete(tx, files, f->id) : Y_ERR_NOMEM;
        if (tx != NULL) {
            free(r->captured);
            r->captured = NULL;
            r->captured_len = 0;
            int crc = ytxn_commit(tx);
            if (rc == Y_OK) rc = crc;
            u = r->captured; /* ours now */
            ulen = r->captured_len;
            r->captured = NULL;
            r->captured_len = 0;
        }
        ok = rc == Y_OK && u != NULL;
    } else if (ok) {
        idx = NULL; /* nothing to remove from the index */
    }
    json_t *ev = json_pack("{s:s, s:s}", "id", f->id, "path", f->path);
    char *evs = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    ok = ok && evs != NULL && store_txn_purge_note(t, f->vault, f->id, now,
                                              (int64_t)default_days * TRASH_DAY_MS) == STORE_OK &&
         (u == NULL || store_txn_append_update(t, f->vault, f->vault, u, ulen) == STORE_OK) &&
         store_txn_event(t, f->vault, "note.purged", evs) == STORE_OK;
    free(evs);
    if (!ok) {
        free(u);
        store_txn_free(t);
        if (p != NULL) job_free(p);
        vlog(VLOG_ERROR, "note purge failed", json_pack("{s:s}", "doc", f->id));
        return false;
    }
    p->j = j;
    p->idx = idx;
    p->update = u;
    p->update_len = ulen;
    memcpy(p->doc, f->id, 33);
    memcpy(p->vault, f->vault, 33);
    p->trashed = f->trashed;
    p->last_edit = f->updated;
    p->cutoff = it->cutoff;
    p->at = at;
    if (idx != NULL) vdocs_submitted(idx); /* kept open (and not reloaded) until answered */
    p->inext = j->inflight;
    j->inflight = p;
    if (store_submit(j->st, t, on_purged, p) != STORE_OK) {
        store_result closed = {.err = STORE_ECLOSED};
        on_purged(p, &closed);
    }
    return true;
}

static void on_timer(uv_timer_t *timer) {
    trash_janitor *j = timer->data;
    bool jump = fault("janitor-clock-jump");
    /* The one reading of the clock that decides this run. */
    int64_t now = vclock_now_ms();
    store_trash_item *items = NULL;
    size_t n = 0;
    int rc =
        store_trash_due(j->st, now, (int64_t)default_days * TRASH_DAY_MS, PURGE_BATCH, &items, &n);
    if (rc != STORE_OK) {
        vlog(VLOG_ERROR, "trash purge run failed", json_pack("{s:s}", "error", store_strerror(rc)));
        return;
    }
    size_t submitted = 0;
    replicas rs = {.r = n > 0 ? calloc(n, sizeof(replica)) : NULL};
    rs.cap = rs.r != NULL ? n : 0;
    for (size_t i = 0; i < n; i++) {
        /* Later readings only stamp the log: with the test fault, the clock
         * jumps a century ahead here, which must not purge anything more. */
        int64_t at = vclock_now_ms() + (jump ? CLOCK_JUMP_MS : 0);
        if (purge_one(j, &rs, &items[i], now, at)) submitted++;
    }
    replicas_free(&rs);
    store_trash_items_free(items, n);
    j->runs++;
    if (j->metrics != NULL)
        vmetrics_count(j->metrics, "vault_janitor_runs_total", "Trash purge runs of the janitor.",
                       1);
    vlog(n > 0 ? VLOG_INFO : VLOG_DEBUG, "trash purge run",
         json_pack("{s:I, s:I, s:I, s:I}", "run", (json_int_t)j->runs, "now", (json_int_t)now,
                   "due", (json_int_t)n, "submitted", (json_int_t)submitted));
}

int trash_janitor_start(uv_loop_t *loop, store *st, vdocs *docs, vsync *sync,
                        struct vmetrics *metrics, uint64_t interval_ms, trash_janitor **out) {
    trash_janitor *j = calloc(1, sizeof(*j));
    if (j == NULL) return UV_ENOMEM;
    j->loop = loop;
    j->st = st;
    j->docs = docs;
    j->sync = sync;
    j->metrics = metrics;
    if (metrics != NULL) vmetrics_count(metrics, PURGED, PURGED_HELP, 0);
    pthread_mutex_init(&j->mu, NULL);
    int rc = uv_async_init(loop, &j->async, on_async);
    if (rc != 0) {
        pthread_mutex_destroy(&j->mu);
        free(j);
        return rc;
    }
    j->async.data = j;
    uv_timer_init(loop, &j->timer);
    j->timer.data = j;
    j->handles_open = 2;
    (void)uv_timer_start(&j->timer, on_timer, interval_ms,
                         interval_ms); /* fails only without a callback */
    *out = j;
    return 0;
}

static void on_closed(uv_handle_t *h) {
    trash_janitor *j = h->data;
    j->handles_open--;
}

void trash_janitor_stop(trash_janitor *j) {
    if (j == NULL || j->stopped) return;
    j->stopped = true;
    uv_timer_stop(&j->timer);
    pthread_mutex_lock(&j->mu);
    j->closed = true;
    pthread_mutex_unlock(&j->mu);
    uv_close((uv_handle_t *)&j->timer, on_closed);
    uv_close((uv_handle_t *)&j->async, on_closed);
}

void trash_janitor_free(trash_janitor *j) {
    if (j == NULL) return;
    trash_janitor_stop(j);
    drain(j); /* purges answered after the async closed */
    pthread_mutex_destroy(&j->mu);
    free(j);
}
