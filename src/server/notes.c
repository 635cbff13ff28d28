/*
 * notes.c - note routes (see notes.h).
 *
 * Path uniqueness is checked against the vault's index document in memory,
 * which is never behind the committed state, so two requests racing for one
 * path cannot both win. A change that fails to commit marks the documents it
 * touched broken (docs.h): they are reloaded from the log, so a failed
 * request leaves nothing behind.
 *
 * ETags are "v<N>": the note document's version (docs.h). A PUT names the
 * version it started from in If-Match; the server diffs the sent text
 * against that version's text, makes the edits on a replica at that
 * version, and merges the resulting update into the live document, so a
 * stale write merges with what happened since instead of reverting it.
 */
#include "server/notes.h"

#include "server/auth.h"
#include "server/metrics.h"
#include "server/sync.h"
#include "server/vaults.h"
#include "util/log.h"
#include "util/textdiff.h"
#include "util/vpath.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------- */

static void db_failed(vctx *ctx) {
    vhttp_send_problem(ctx, 503, "Service Unavailable", "The database did not answer.");
}

static yany any_str(const char *s) {
    yany a = {.kind = YANY_STRING};
    a.u.str.ptr = s;
    a.u.str.len = strlen(s);
    return a;
}

static yany any_num(double v) {
    yany a = {.kind = YANY_NUMBER};
    a.u.num = v;
    return a;
}

/* Checks a file (or folder) path; answers 422 with the reason and returns
 * -1 if it breaks a rule. JSON strings may hold NUL bytes, hence the length. */
static int check_path(vctx *ctx, json_t *jpath, vpath_kind kind) {
    size_t where = 0;
    vpath_err err =
        vpath_validate(json_string_value(jpath), json_string_length(jpath), kind, &where);
    if (err == VPATH_OK) return 0;
    char detail[320];
    snprintf(detail, sizeof(detail), "Bad path (at byte %zu): %s", where, vpath_strerror(err));
    vhttp_send_problem(ctx, 422, "Unprocessable Content", detail);
    return -1;
}

/* The title of a note (first heading, else file name); caller frees, NULL
 * when out of memory. */
static char *title_of(const char *markdown, size_t len, const char *path) {
    char *t = NULL;
    return vpath_title(markdown, len, path, &t) == VPATH_OK ? t : NULL;
}

static int check_content(vctx *ctx, const char *content, size_t len) {
    if (len > NOTES_MAX_CONTENT) {
        vhttp_send_problem(ctx, 413, "Content Too Large", "A note holds at most 4 MiB of text.");
        return -1;
    }
    if (memchr(content, '\0', len) != NULL) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "A note cannot contain NUL characters.");
        return -1;
    }
    return 0;
}

/* ---- the vault index document ------------------------------------------- */

static ytype *index_files(vdoc *idx) { return ydoc_get(idx->doc, "files", YTYPE_MAP); }

/* The metadata map of file `id`, or NULL. */
static ytype *index_meta(vdoc *idx, const char *id) {
    ytype *files = index_files(idx);
    yvalue v;
    if (files == NULL || ymap_get(files, id, &v) != Y_OK || v.kind != YVALUE_TYPE) return NULL;
    return v.type;
}

/* A string field of a metadata map as a NUL-terminated copy in buf. */
static const char *meta_str(ytype *meta, const char *key, char *buf, size_t n) {
    yvalue v;
    if (meta == NULL || ymap_get(meta, key, &v) != Y_OK || v.kind != YVALUE_ANY ||
        v.any.kind != YANY_STRING || v.any.u.str.len >= n)
        return NULL;
    memcpy(buf, v.any.u.str.ptr, v.any.u.str.len);
    buf[v.any.u.str.len] = '\0';
    return buf;
}

static bool meta_trashed(ytype *meta) {
    yvalue v;
    return meta != NULL && ymap_get(meta, "trashed", &v) == Y_OK && v.kind == YVALUE_ANY &&
           v.any.kind == YANY_NUMBER;
}

/* Whether a live file other than `except` sits at `path`. */
static bool index_path_taken(vdoc *idx, const char *path, const char *except) {
    ytype *files = index_files(idx);
    const char **keys = NULL;
    size_t n = 0;
    if (files == NULL || ymap_keys(files, &keys, &n) != Y_OK) return false;
    bool taken = false;
    char buf[VPATH_MAX_LEN + 1];
    for (size_t i = 0; i < n && !taken; i++) {
        if (except != NULL && strcmp(keys[i], except) == 0) continue;
        ytype *meta = index_meta(idx, keys[i]);
        const char *p = meta_str(meta, "path", buf, sizeof(buf));
        if (p != NULL && !meta_trashed(meta) && strcmp(p, path) == 0) taken = true;
    }
    yfree(keys);
    return taken;
}

/* ---- committing ---------------------------------------------------------- */

/* One pending write: what to answer once the store has committed it. */
typedef struct {
    vhttp *srv;
    vdocs *docs;
    vdoc *touched[2];
    int ntouched;
    vdeferred *deferred;
    store_result result;
    int status;    /* answer on success */
    json_t *reply; /* body on success (NULL: 204) */
    char etag[32];
    const char *what;     /* for the log */
    char sync_doc[33];    /* a note whose sync connections hear of the change, or "" */
    uint8_t *sync_update; /* the change, broadcast after the commit */
    size_t sync_len;
} write_job;

static void write_answer(vctx *ctx, void *ud) {
    write_job *j = ud;
    bool ok = j->result.err == STORE_OK;
    for (int i = 0; i < j->ntouched; i++) vdocs_answered(j->docs, j->touched[i], ok);
    if (j->sync_doc[0] != '\0') /* durable now: sync connections may see it */
        vsync_committed(vhttp_sync(j->srv), j->sync_doc, ok ? j->sync_update : NULL, j->sync_len);
    free(j->sync_update);
    if (ctx != NULL) {
        if (!ok) {
            vlog(VLOG_ERROR, "commit failed",
                 json_pack("{s:s, s:s, s:s}", "what", j->what, "error",
                           store_strerror(j->result.err), "trace_id", ctx->trace_id));
            if (j->result.err == STORE_ENOTFOUND) /* the store's tombstone refused it */
                vhttp_send_problem(ctx, 404, "Not Found",
                                   "No such note: it was deleted for good (purged from the "
                                   "trash) before this change was saved.");
            else
                vhttp_send_problem(ctx, 503, "Service Unavailable",
                                   "The change could not be saved; nothing was changed.");
        } else if (j->reply == NULL) {
            vhttp_send_raw(ctx, j->status, NULL, "", 0);
        } else {
            if (j->etag[0] != '\0') vhttp_add_header(ctx, "etag", j->etag);
            vhttp_send_json(ctx, j->status, j->reply);
            j->reply = NULL;
        }
    }
    json_decref(j->reply);
    free(j);
}

static void on_committed(void *ud, const store_result *res) {
    write_job *j = ud;
    j->result = *res;
    vmetrics_commit(vhttp_metrics(j->srv), res->commit_ms, res->batch_size);
    vhttp_complete(j->deferred);
}

/* A job for a write that will touch `a` and `b` (either may be NULL). */
static write_job *job_new(vctx *ctx, const char *what, vdoc *a, vdoc *b) {
    write_job *j = calloc(1, sizeof(*j));
    if (j == NULL) return NULL;
    j->srv = ctx->srv;
    j->docs = ctx->docs;
    j->what = what;
    if (a != NULL) j->touched[j->ntouched++] = a;
    if (b != NULL) j->touched[j->ntouched++] = b;
    return j;
}

/* Hands `t` to the store; the answer goes out after the commit. Consumes t
 * and j in every case. */
static void submit(vctx *ctx, store_txn *t, write_job *j) {
    j->deferred = vhttp_defer(ctx, write_answer, j);
    if (j->deferred == NULL) {
        store_txn_free(t);
        for (int i = 0; i < j->ntouched; i++) j->touched[i]->broken = true;
        json_decref(j->reply);
        free(j->sync_update);
        free(j);
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory; nothing was changed.");
        return;
    }
    for (int i = 0; i < j->ntouched; i++) vdocs_submitted(j->touched[i]);
    if (store_submit(ctx->st, t, on_committed, j) != STORE_OK) {
        j->result.err = STORE_ECLOSED; /* answered like a failed commit */
        vhttp_complete(j->deferred);
    }
}

/* Marks documents whose in-memory edit could not be turned into a commit. */
static void abandon(vctx *ctx, vdoc *a, vdoc *b, const char *detail) {
    if (a != NULL) a->broken = true;
    if (b != NULL) b->broken = true;
    vhttp_send_problem(ctx, 500, "Internal Server Error", detail);
}

static int64_t now_ms(void) { return auth_now_ms(); }

static json_t *file_json(const store_file *f) {
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", f->id, "vault", f->vault, "path",
                     f->path, "title", f->title != NULL ? f->title : "", "kind",
                     f->is_note ? "note" : "file", "created", (json_int_t)f->created, "updated",
                     (json_int_t)f->updated);
}

static void set_etag(write_job *j, uint64_t version) {
    snprintf(j->etag, sizeof(j->etag), "\"v%" PRIu64 "\"", version);
}

/* The note's text now; caller frees with yfree. */
static int note_text(vdoc *d, char **text, size_t *len) {
    ytype *t = ydoc_get(d->doc, "content", YTYPE_TEXT);
    if (t == NULL) return Y_ERR_TYPE;
    return ytext_string(t, text, len);
}

/* ---- routes ----------------------------------------------------------------- */

void notes_route_list(vctx *ctx) {
    const char *prefix = vctx_query(ctx, "prefix");
    if (prefix == NULL) prefix = "";
    if (prefix[0] != '\0' && prefix[0] != '/') {
        vhttp_send_problem(ctx, 422, "Unprocessable Content", "A prefix starts with '/'.");
        return;
    }
    store_file *files = NULL;
    size_t n = 0;
    if (store_file_list(ctx->st, ctx->vault, prefix, false, &files, &n) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, file_json(&files[i]));
    store_files_free(files, n);
    vhttp_send_json(ctx, 200, json_pack("{s:o}", "notes", arr));
}

void notes_route_create(vctx *ctx) {
    static const char *const keys[] = {"path", "content", NULL};
    if (vctx_body_fields(ctx, keys, NULL, 1) != 0) return;
    const char *path = json_string_value(json_object_get(ctx->body, "path"));
    json_t *jc = json_object_get(ctx->body, "content");
    const char *content = jc != NULL ? json_string_value(jc) : "";
    size_t clen = jc != NULL ? json_string_length(jc) : 0;
    if (check_path(ctx, json_object_get(ctx->body, "path"), VPATH_FILE) != 0 ||
        check_content(ctx, content, clen) != 0)
        return;

    vdoc *idx = NULL, *note = NULL;
    if (vdocs_get(ctx->docs, ctx->vault, ctx->vault, &idx) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    if (index_path_taken(idx, path, NULL)) {
        vhttp_send_problem(ctx, 409, "Conflict", "Another note already has this path.");
        return;
    }
    char id[33];
    vaults_new_id(id);
    if (vdocs_get(ctx->docs, ctx->vault, id, &note) != STORE_OK ||
        vdocs_get(ctx->docs, ctx->vault, ctx->vault, &idx) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    int64_t now = now_ms();
    uint8_t *u_note = NULL, *u_idx = NULL;
    size_t l_note = 0, l_idx = 0;
    ytxn *tx = vdocs_begin(note);
    int rc = tx != NULL ? Y_OK : Y_ERR_STATE;
    if (rc == Y_OK && clen > 0)
        rc =
            ytext_insert(tx, ydoc_get(note->doc, "content", YTYPE_TEXT), 0, content, clen, NULL, 0);
    if (tx != NULL) {
        int crc = vdocs_commit(note, tx, &u_note, &l_note);
        if (rc == Y_OK) rc = crc;
    }
    ytype *meta = NULL;
    if (rc == Y_OK) {
        tx = vdocs_begin(idx);
        rc = tx != NULL ? Y_OK : Y_ERR_STATE;
        if (rc == Y_OK) rc = ymap_set_type(tx, index_files(idx), id, YTYPE_MAP, &meta);
        yany v = any_str(path);
        if (rc == Y_OK) rc = ymap_set(tx, meta, "path", &v);
        v = any_str("note");
        if (rc == Y_OK) rc = ymap_set(tx, meta, "kind", &v);
        v = any_num((double)now);
        if (rc == Y_OK) rc = ymap_set(tx, meta, "created", &v);
        if (tx != NULL) {
            int crc = vdocs_commit(idx, tx, &u_idx, &l_idx);
            if (rc == Y_OK) rc = crc;
        }
    }
    char *title = title_of(content, clen, path);
    char *path_copy = strdup(path);
    store_txn *t = store_txn_new();
    write_job *j = job_new(ctx, "note create", note, idx);
    store_file f = {
        .path = path_copy, .title = title, .is_note = true, .created = now, .updated = now};
    memcpy(f.id, id, 33);
    memcpy(f.vault, ctx->vault, 33);
    json_t *ev =
        json_pack("{s:s, s:s, s:I}", "id", id, "path", path, "user", (json_int_t)ctx->user_id);
    char *evs = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (rc != Y_OK || title == NULL || path_copy == NULL || t == NULL || j == NULL || evs == NULL ||
        (u_note != NULL &&
         store_txn_append_update(t, ctx->vault, id, u_note, l_note) != STORE_OK) ||
        store_txn_append_update(t, ctx->vault, ctx->vault, u_idx, l_idx) != STORE_OK ||
        store_txn_put_file(t, &f) != STORE_OK ||
        store_txn_event(t, ctx->vault, "note.created", evs) != STORE_OK) {
        store_txn_free(t);
        free(j);
        abandon(ctx, note, idx, "The note could not be created; nothing was changed.");
        goto out;
    }
    j->status = 201;
    j->reply = file_json(&f);
    json_object_set_new(j->reply, "content", json_stringn(content, clen));
    set_etag(j, note->version);
    json_object_set_new(j->reply, "version", json_integer((json_int_t)note->version));
    {
        char location[80];
        snprintf(location, sizeof(location), "/api/v1/notes/%s", id);
        vhttp_add_header(ctx, "location", location);
    }
    submit(ctx, t, j);
out:
    free(u_note);
    free(u_idx);
    free(title);
    free(path_copy);
    free(evs);
}

/* The note named by the route (live, or trashed too when `trashed`), or
 * answers 404 and returns -1. */
static int note_file(vctx *ctx, store_file *f, bool trashed) {
    int rc = STORE_OK;
    if (vctx_take_file(ctx, f) != 0) rc = store_file_get(ctx->st, vctx_param(ctx, "note"), f);
    if (rc == STORE_ENOTFOUND ||
        (rc == STORE_OK && ((f->trashed != 0 && !trashed) || !f->is_note))) {
        if (rc == STORE_OK) store_file_free(f);
        vhttp_send_problem(ctx, 404, "Not Found", "No such note.");
        return -1;
    }
    if (rc != STORE_OK) {
        db_failed(ctx);
        return -1;
    }
    return 0;
}

static int live_file(vctx *ctx, store_file *f) { return note_file(ctx, f, false); }

void notes_route_get(vctx *ctx) {
    store_file f;
    if (live_file(ctx, &f) != 0) return;
    vdoc *d = NULL;
    char *text = NULL;
    size_t len = 0;
    if (vdocs_get(ctx->docs, f.vault, f.id, &d) != STORE_OK || note_text(d, &text, &len) != Y_OK) {
        store_file_free(&f);
        db_failed(ctx);
        return;
    }
    json_t *out = file_json(&f);
    json_object_set_new(out, "content", json_stringn(text, len));
    json_object_set_new(out, "version", json_integer((json_int_t)d->version));
    char etag[32];
    snprintf(etag, sizeof(etag), "\"v%" PRIu64 "\"", d->version);
    vhttp_add_header(ctx, "etag", etag);
    vhttp_send_json(ctx, 200, out);
    yfree(text);
    store_file_free(&f);
}

/* Parses If-Match "v<N>" (quotes required, W/ tolerated). Returns 0 or -1. */
static int parse_etag(h2o_iovec_t v, uint64_t *version) {
    const char *p = v.base, *end = v.base + v.len;
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2;
    if (end - p < 4 || p[0] != '"' || p[1] != 'v' || end[-1] != '"') return -1;
    uint64_t n = 0;
    const char *q = p + 2;
    if (q == end - 1) return -1;
    for (; q < end - 1; q++) {
        if (*q < '0' || *q > '9' || n > (UINT64_MAX - 9) / 10) return -1;
        n = n * 10 + (uint64_t)(*q - '0');
    }
    *version = n;
    return 0;
}

static void capture_update(void *ud, const uint8_t *update, size_t len, const void *origin) {
    (void)origin;
    uint8_t **slot = ud;
    free(*slot);
    *slot = malloc(len + sizeof(size_t));
    if (*slot != NULL) {
        memcpy(*slot, &len, sizeof(size_t));
        memcpy(*slot + sizeof(size_t), update, len);
    }
}

/* Applies diff ops to Y.Text "content" of doc in one transaction. */
static int apply_ops(ydoc *doc, const textdiff *diff) {
    ytxn *tx = ydoc_begin(doc, NULL);
    if (tx == NULL) return Y_ERR_STATE;
    ytype *text = ydoc_get(doc, "content", YTYPE_TEXT);
    int rc = text != NULL ? Y_OK : Y_ERR_TYPE;
    for (size_t i = 0; i < diff->nops && rc == Y_OK; i++) {
        const textdiff_op *op = &diff->ops[i];
        if (op->del > 0) rc = ytext_delete(tx, text, op->pos, op->del);
        if (rc == Y_OK && op->ins_len > 0)
            rc = ytext_insert(tx, text, op->pos, op->ins, op->ins_len, NULL, 0);
    }
    int crc = ytxn_commit(tx);
    return rc != Y_OK ? rc : crc;
}

void notes_route_put(vctx *ctx) {
    static const char *const keys[] = {"content", NULL};
    if (vctx_body_fields(ctx, keys, NULL, 1) != 0) return;
    json_t *jc = json_object_get(ctx->body, "content");
    const char *content = json_string_value(jc);
    size_t clen = json_string_length(jc);
    if (check_content(ctx, content, clen) != 0) return;
    h2o_iovec_t im = vhttp_header(ctx, "if-match");
    if (im.len == 0) {
        vhttp_send_problem(ctx, 428, "Precondition Required",
                           "Send If-Match with the ETag of the version you edited.");
        return;
    }
    uint64_t base_version;
    if (parse_etag(im, &base_version) != 0) {
        vhttp_send_problem(ctx, 400, "Bad Request",
                           "If-Match must be an ETag this server gave out.");
        return;
    }
    /* A trashed note takes edits too (docs/api.md, "Editing a trashed
     * note"): it stays in the trash, marked as edited there. */
    store_file f;
    if (note_file(ctx, &f, true) != 0) return;
    notes_write_text(ctx, &f, base_version, content, clen, NULL);
    store_file_free(&f);
}

void notes_write_text(vctx *ctx, store_file *fp, uint64_t base_version, const char *content,
                      size_t clen, json_t *event_extra) {
    store_file f = *fp; /* borrowed: the caller frees fp, which gets f's title back */
    vdoc *d = NULL;
    ydoc *replica = NULL;
    char *base = NULL, *merged = NULL;
    size_t base_len = 0, merged_len = 0;
    uint8_t *update = NULL; /* length-prefixed when captured from the replica */
    size_t ulen = 0;
    textdiff diff = {0};
    if (vdocs_get(ctx->docs, f.vault, f.id, &d) != STORE_OK) {
        db_failed(ctx);
        goto out;
    }
    if (base_version > d->version) {
        vhttp_send_problem(ctx, 412, "Precondition Failed",
                           "That version of the note does not exist.");
        goto out;
    }
    bool stale = base_version < d->version;
    if (stale) {
        int rc = vdocs_replica_at(ctx->docs, f.id, base_version, &replica);
        if (rc == STORE_ENOTFOUND) {
            vhttp_send_problem(ctx, 412, "Precondition Failed",
                               "That version is too old to merge with; read the note again.");
            goto out;
        }
        if (rc != STORE_OK) {
            db_failed(ctx);
            goto out;
        }
        ytype *t = ydoc_get(replica, "content", YTYPE_TEXT);
        if (t == NULL || ytext_string(t, &base, &base_len) != Y_OK) {
            db_failed(ctx);
            goto out;
        }
    } else if (note_text(d, &base, &base_len) != Y_OK) {
        db_failed(ctx);
        goto out;
    }
    if (textdiff_compute(base, base_len, content, clen, 0, &diff) != TEXTDIFF_OK) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content", "The text could not be compared.");
        goto out;
    }
    if (diff.nops > 0) {
        if (stale) {
            /* Edit the replica at the client's version, then merge. */
            if (ydoc_observe_updates(replica, capture_update, &update) < 0 ||
                apply_ops(replica, &diff) != Y_OK || update == NULL) {
                vhttp_send_problem(ctx, 500, "Internal Server Error",
                                   "The edit could not be made.");
                goto out;
            }
            memcpy(&ulen, update, sizeof(size_t));
            memmove(update, update + sizeof(size_t), ulen);
            if (vdocs_apply(d, update, ulen) != Y_OK) {
                abandon(ctx, d, NULL, "The edit could not be merged.");
                goto out;
            }
        } else {
            ytxn *tx = vdocs_begin(d);
            int rc = Y_ERR_STATE;
            if (tx != NULL) {
                ytype *t = ydoc_get(d->doc, "content", YTYPE_TEXT);
                rc = Y_OK;
                for (size_t i = 0; i < diff.nops && rc == Y_OK; i++) {
                    const textdiff_op *op = &diff.ops[i];
                    if (op->del > 0) rc = ytext_delete(tx, t, op->pos, op->del);
                    if (rc == Y_OK && op->ins_len > 0)
                        rc = ytext_insert(tx, t, op->pos, op->ins, op->ins_len, NULL, 0);
                }
                int crc = vdocs_commit(d, tx, &update, &ulen);
                if (rc == Y_OK) rc = crc;
            }
            if (rc != Y_OK) {
                abandon(ctx, d, NULL, "The edit could not be made.");
                goto out;
            }
        }
    }
    if (note_text(d, &merged, &merged_len) != Y_OK) {
        abandon(ctx, d, NULL, "The note could not be read back.");
        goto out;
    }
    char *title = title_of(merged, merged_len, f.path);
    if (title == NULL) {
        abandon(ctx, d, NULL, "Out of memory.");
        goto out;
    }
    free(f.title);
    f.title = title;
    f.updated = now_ms();
    write_job *j = job_new(ctx, "note update", d, NULL);
    if (j == NULL) {
        abandon(ctx, update != NULL ? d : NULL, NULL, "Out of memory; the edit was not saved.");
        goto out;
    }
    j->status = 200;
    j->reply = file_json(&f);
    json_object_set_new(j->reply, "content", json_stringn(merged, merged_len));
    json_object_set_new(j->reply, "version", json_integer((json_int_t)d->version));
    json_object_set_new(j->reply, "merged", json_boolean(stale));
    if (f.trashed != 0) json_object_set_new(j->reply, "trashed", json_integer(f.trashed));
    set_etag(j, d->version);
    if (update == NULL) { /* nothing changed: answer now */
        vhttp_add_header(ctx, "etag", j->etag);
        vhttp_send_json(ctx, 200, j->reply);
        free(j);
        goto out;
    }
    store_txn *t = store_txn_new();
    json_t *ev = json_pack("{s:s, s:I}", "id", f.id, "user", (json_int_t)ctx->user_id);
    if (ev != NULL && event_extra != NULL) json_object_update(ev, event_extra);
    char *evs = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (t == NULL || evs == NULL ||
        store_txn_append_update(t, f.vault, f.id, update, ulen) != STORE_OK ||
        store_txn_put_file(t, &f) != STORE_OK ||
        store_txn_event(t, f.vault, "note.updated", evs) != STORE_OK) {
        free(evs);
        store_txn_free(t);
        json_decref(j->reply);
        free(j);
        abandon(ctx, d, NULL, "The edit could not be saved; nothing was changed.");
        goto out;
    }
    free(evs);
    memcpy(j->sync_doc, f.id, 33);
    j->sync_update = update; /* the job owns it now */
    j->sync_len = ulen;
    update = NULL;
    submit(ctx, t, j);
out:
    textdiff_release(&diff);
    ydoc_free(replica);
    yfree(base);
    yfree(merged);
    free(update);
    fp->title = f.title;
}

/* Commits a change of metadata on the index document: `edit` runs inside
 * the transaction. Projections `files` (n) are written with it. */
typedef notes_meta_edit_fn meta_edit_fn;

static void commit_index_change_ev(vctx *ctx, vdoc *idx, meta_edit_fn edit, void *ud,
                                   store_file *files, size_t n, const char *event,
                                   const char *event_json, int status, json_t *reply,
                                   bool inject_fault, const char *file_event) {
    uint8_t *u = NULL;
    size_t ulen = 0;
    ytxn *tx = vdocs_begin(idx);
    int rc = tx != NULL ? edit(tx, idx, ud) : Y_ERR_STATE;
    if (tx != NULL) {
        int crc = vdocs_commit(idx, tx, &u, &ulen);
        if (rc == Y_OK) rc = crc;
    }
    store_txn *t = store_txn_new();
    write_job *j = job_new(ctx, event, idx, NULL);
    bool ok = rc == Y_OK && t != NULL && j != NULL && u != NULL &&
              store_txn_append_update(t, ctx->vault, ctx->vault, u, ulen) == STORE_OK &&
              store_txn_event(t, ctx->vault, event, event_json) == STORE_OK;
    for (size_t i = 0; ok && i < n; i++) ok = store_txn_put_file(t, &files[i]) == STORE_OK;
    for (size_t i = 0; ok && file_event != NULL && i < n; i++) { /* one event per file too */
        json_t *fe = json_pack("{s:s, s:s, s:I}", "id", files[i].id, "path", files[i].path, "user",
                               (json_int_t)ctx->user_id);
        char *fes = fe != NULL ? json_dumps(fe, JSON_COMPACT) : NULL;
        ok = fes != NULL && store_txn_event(t, ctx->vault, file_event, fes) == STORE_OK;
        free(fes);
        json_decref(fe);
    }
    free(u);
    if (!ok) {
        store_txn_free(t);
        free(j);
        json_decref(reply);
        abandon(ctx, idx, NULL, "The change could not be made; nothing was changed.");
        return;
    }
    if (inject_fault) store_txn_fail_for_test(t);
    j->status = status;
    j->reply = reply;
    submit(ctx, t, j);
}

static void commit_index_change(vctx *ctx, vdoc *idx, meta_edit_fn edit, void *ud,
                                store_file *files, size_t n, const char *event,
                                const char *event_json, int status, json_t *reply,
                                bool inject_fault) {
    commit_index_change_ev(ctx, idx, edit, ud, files, n, event, event_json, status, reply,
                           inject_fault, NULL);
}

typedef struct {
    const char *id;
    const char *key;
    yany value;
} set_one;

static int edit_set_one(ytxn *tx, vdoc *idx, void *ud) {
    set_one *s = ud;
    ytype *meta = index_meta(idx, s->id);
    if (meta == NULL) return Y_ERR_RANGE;
    return ymap_set(tx, meta, s->key, &s->value);
}

void notes_route_patch(vctx *ctx) {
    static const char *const keys[] = {"path", NULL};
    if (vctx_body_fields(ctx, keys, NULL, 1) != 0) return;
    const char *path = json_string_value(json_object_get(ctx->body, "path"));
    if (check_path(ctx, json_object_get(ctx->body, "path"), VPATH_FILE) != 0) return;
    store_file f;
    if (live_file(ctx, &f) != 0) return;
    vdoc *idx = NULL, *d = NULL;
    char *text = NULL;
    size_t len = 0;
    if (vdocs_get(ctx->docs, f.vault, f.vault, &idx) != STORE_OK) {
        db_failed(ctx);
        goto out;
    }
    if (index_path_taken(idx, path, f.id)) {
        vhttp_send_problem(ctx, 409, "Conflict", "Another note already has this path.");
        goto out;
    }
    if (vdocs_get(ctx->docs, f.vault, f.id, &d) != STORE_OK || note_text(d, &text, &len) != Y_OK ||
        vdocs_get(ctx->docs, f.vault, f.vault, &idx) != STORE_OK) {
        db_failed(ctx);
        goto out;
    }
    char *title = title_of(text, len, path);
    char *newpath = strdup(path);
    if (title == NULL || newpath == NULL) {
        free(title);
        free(newpath);
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        goto out;
    }
    free(f.title);
    free(f.path);
    f.title = title;
    f.path = newpath;
    f.updated = now_ms();
    set_one s = {.id = f.id, .key = "path", .value = any_str(path)};
    json_t *ev = json_pack("{s:s, s:s}", "id", f.id, "path", path);
    char *evs = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    commit_index_change(ctx, idx, edit_set_one, &s, &f, 1, "note.moved", evs ? evs : "{}", 200,
                        file_json(&f), false);
    free(evs);
out:
    yfree(text);
    store_file_free(&f);
}

void notes_route_delete(vctx *ctx) {
    store_file f;
    if (live_file(ctx, &f) != 0) return;
    vdoc *idx = NULL;
    if (vdocs_get(ctx->docs, f.vault, f.vault, &idx) != STORE_OK) {
        db_failed(ctx);
        store_file_free(&f);
        return;
    }
    f.trashed = now_ms();
    set_one s = {.id = f.id, .key = "trashed", .value = any_num((double)f.trashed)};
    json_t *ev = json_pack("{s:s, s:s}", "id", f.id, "path", f.path);
    char *evs = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    commit_index_change(ctx, idx, edit_set_one, &s, &f, 1, "note.trashed", evs ? evs : "{}", 204,
                        NULL, false);
    free(evs);
    store_file_free(&f);
}

typedef struct {
    store_file *files;
    size_t n;
} set_paths;

static int edit_set_paths(ytxn *tx, vdoc *idx, void *ud) {
    set_paths *s = ud;
    for (size_t i = 0; i < s->n; i++) {
        ytype *meta = index_meta(idx, s->files[i].id);
        if (meta == NULL) return Y_ERR_RANGE;
        yany v = any_str(s->files[i].path);
        int rc = ymap_set(tx, meta, "path", &v);
        if (rc != Y_OK) return rc;
    }
    return Y_OK;
}

void notes_route_folder_rename(vctx *ctx) {
    static const char *const keys[] = {"from", "to", NULL};
    if (vctx_body_fields(ctx, keys, NULL, 2) != 0) return;
    const char *from = json_string_value(json_object_get(ctx->body, "from"));
    const char *to = json_string_value(json_object_get(ctx->body, "to"));
    if (check_path(ctx, json_object_get(ctx->body, "from"), VPATH_FOLDER) != 0 ||
        check_path(ctx, json_object_get(ctx->body, "to"), VPATH_FOLDER) != 0)
        return;
    if (strcmp(from, "/") == 0) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "The vault's root cannot be renamed.");
        return;
    }
    if (strcmp(from, to) == 0 || vpath_has_prefix(to, from)) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "A folder cannot be renamed to itself or moved inside itself.");
        return;
    }
    vdoc *idx = NULL;
    if (vdocs_get(ctx->docs, ctx->vault, ctx->vault, &idx) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    /* Every live file under `from`, with its new path. */
    store_file *moving = NULL;
    size_t n = 0, cap = 0;
    const char **ids = NULL;
    size_t nids = 0;
    ytype *files = index_files(idx);
    if (files == NULL || ymap_keys(files, &ids, &nids) != Y_OK) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        return;
    }
    char buf[VPATH_MAX_LEN + 1];
    int status = 0;
    const char *problem = NULL;
    for (size_t i = 0; i < nids && status == 0; i++) {
        ytype *meta = index_meta(idx, ids[i]);
        const char *p = meta_str(meta, "path", buf, sizeof(buf));
        if (p == NULL || meta_trashed(meta) || !vpath_has_prefix(p, from)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            store_file *grown = realloc(moving, cap * sizeof(*moving));
            if (grown == NULL) {
                status = 503;
                problem = "Out of memory.";
                break;
            }
            moving = grown;
        }
        store_file *f = &moving[n];
        int rc = store_file_get(ctx->st, ids[i], f);
        if (rc != STORE_OK) {
            status = 503;
            problem = "The database did not answer.";
            break;
        }
        n++;
        char *np = NULL;
        if (vpath_rebase(p, from, to, &np) != VPATH_OK) {
            status = 422;
            problem = "A path in the folder would become too long or invalid.";
            break;
        }
        free(f->path);
        f->path = np;
        f->updated = now_ms();
    }
    /* The new paths must not land on a file that stays. */
    for (size_t i = 0; i < nids && status == 0; i++) {
        ytype *meta = index_meta(idx, ids[i]);
        const char *p = meta_str(meta, "path", buf, sizeof(buf));
        if (p == NULL || meta_trashed(meta) || vpath_has_prefix(p, from)) continue;
        for (size_t k = 0; k < n; k++) {
            if (strcmp(moving[k].path, p) == 0) {
                status = 409;
                problem = "A file already exists at one of the new paths; nothing was moved.";
                break;
            }
        }
    }
    yfree(ids);
    if (status == 0 && n == 0) {
        status = 404;
        problem = "No such folder.";
    }
    if (status != 0) {
        vhttp_send_problem(ctx, status,
                           status == 404   ? "Not Found"
                           : status == 409 ? "Conflict"
                           : status == 422 ? "Unprocessable Content"
                                           : "Service Unavailable",
                           problem);
        store_files_free(moving, n);
        return;
    }
    const char *fault = getenv("VAULT_FAULT");
    bool inject = fault != NULL && strstr(fault, "folder-rename") != NULL;
    set_paths s = {moving, n};
    json_t *ev = json_pack("{s:s, s:s, s:I}", "from", from, "to", to, "files", (json_int_t)n);
    char *evs = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    json_t *reply = json_pack("{s:s, s:s, s:I}", "from", from, "to", to, "moved", (json_int_t)n);
    commit_index_change(ctx, idx, edit_set_paths, &s, moving, n, "folder.renamed", evs ? evs : "{}",
                        200, reply, inject);
    free(evs);
    store_files_free(moving, n);
}

/* ---- for the trash and history routes (notes.h) ---------------------------- */

int notes_file(vctx *ctx, store_file *f, bool trashed) { return note_file(ctx, f, trashed); }

json_t *notes_file_json(const store_file *f) { return file_json(f); }

ytype *notes_index_meta(vdoc *idx, const char *id) { return index_meta(idx, id); }

bool notes_path_taken(vdoc *idx, const char *path, const char *except) {
    return index_path_taken(idx, path, except);
}

void notes_commit_index_change(vctx *ctx, vdoc *idx, notes_meta_edit_fn edit, void *ud,
                               store_file *files, size_t n, const char *event,
                               const char *event_json, const char *file_event, int status,
                               json_t *reply) {
    commit_index_change_ev(ctx, idx, edit, ud, files, n, event, event_json, status, reply, false,
                           file_event);
}
