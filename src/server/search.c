/*
 * search.c - the search indexer, the search route and the rebuild (see
 * search.h).
 *
 * The indexer never trusts an event's payload for what to index: an event
 * only names which notes changed, and each of them is indexed from its
 * current projection (path, title, trash time) and its update log. So events
 * may be replayed, arrive late or be coalesced, and the index still ends at
 * the notes' current state.
 *
 * The route parses the query on the loop thread (a syntax error is a 400
 * before any database work), then runs the search on libuv's thread pool so
 * that a slow query never holds up the event loop, and answers through
 * vhttp_defer/vhttp_complete.
 */
#include "server/search.h"

#include "server/auth.h"
#include "server/docs.h"
#include "server/metrics.h"
#include "server/stext.h"
#include "util/log.h"
#include "util/mdtext.h"
#include "util/squery.h"
#include "util/utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIMIT 20
#define MAX_LIMIT     100
#define MAX_OFFSET    STORE_SEARCH_CANDIDATES
#define PUT_CHUNK     16  /* notes per index transaction: keeps each commit short */
#define TEXTS_WAIT_MS 100 /* how long a batch waits for the loop's texts (stext.h) */

/* ---- indexing ------------------------------------------------------------ */

/* Copies text replacing U+00AB and U+00BB with U+2039 and U+203A. NULL when
 * out of memory; caller frees. */
static char *unmark(const char *s, size_t len) {
    size_t extra = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if ((unsigned char)s[i] == 0xc2 &&
            ((unsigned char)s[i + 1] == 0xab || (unsigned char)s[i + 1] == 0xbb))
            extra++;
    char *out = malloc(len + extra + 1);
    if (out == NULL) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xc2 && i + 1 < len &&
            ((unsigned char)s[i + 1] == 0xab || (unsigned char)s[i + 1] == 0xbb)) {
            out[o++] = (char)0xe2;
            out[o++] = (char)0x80;
            out[o++] = (char)((unsigned char)s[i + 1] == 0xab ? 0xb9 : 0xba);
            i++;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

#define M_FROM_MEMORY "vault_search_notes_from_memory_total"
#define H_FROM_MEMORY \
    "Notes indexed from the text of the open document the event loop answered with."
#define M_FROM_LOG "vault_search_notes_from_log_total"
#define H_FROM_LOG "Notes indexed by reading and replaying their update log."

int search_indexer_init(search_indexer *ix, vmetrics *metrics) {
    stexts *t = stexts_new();
    if (t == NULL) return STORE_ENOMEM;
    ix->texts = t;
    ix->metrics = metrics;
    if (metrics != NULL) {
        vmetrics_count(metrics, M_FROM_MEMORY, H_FROM_MEMORY, 0);
        vmetrics_count(metrics, M_FROM_LOG, H_FROM_LOG, 0);
    }
    return STORE_OK;
}

void search_indexer_release(search_indexer *ix) {
    stexts_free(ix->texts);
    ix->texts = NULL;
    ix->metrics = NULL;
}

/* The plain text to index for note `id` from its Markdown: `md` (mdlen
 * bytes; taken) when known, else its log replayed. Caller frees *out. */
static int note_plain_text(store *st, const char *id, char *md, size_t mdlen, char **out) {
    char *plain = NULL;
    size_t plen = 0;
    if (md == NULL) {
        int err = vdocs_load_text(st, id, &md, &mdlen);
        if (err != STORE_OK) return err;
    }
    int rc = mdtext_plain(md, mdlen, &plain, &plen);
    yfree(md);
    if (rc != MDTEXT_OK) return STORE_ENOMEM;
    *out = unmark(plain, plen);
    free(plain);
    return *out != NULL ? STORE_OK : STORE_ENOMEM;
}

/* An entry under construction: the doc points into file and text. */
typedef struct {
    store_file file;
    char *text;
} entry;

static void entries_release(entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        store_file_free(&e[i].file);
        free(e[i].text);
    }
}

/* Writes entries e[0..n) in one transaction. */
static int put_entries(store *st, entry *e, size_t n) {
    store_search_doc docs[PUT_CHUNK];
    for (size_t i = 0; i < n; i++) {
        docs[i] = (store_search_doc){.path = e[i].file.path,
                                     .title = e[i].file.title,
                                     .text = e[i].text,
                                     .trashed = e[i].file.trashed};
        memcpy(docs[i].id, e[i].file.id, 33);
        memcpy(docs[i].vault, e[i].file.vault, 33);
    }
    return store_search_put(st, docs, n);
}

/* Fills *e for note `f` (taking f) or returns STORE_ENOTFOUND for a file
 * that is not a note. md: the note's Markdown when known (taken), or NULL. */
static int entry_for(store *st, store_file *f, char *md, size_t mdlen, entry *e) {
    if (!f->is_note) {
        store_file_free(f);
        yfree(md);
        return STORE_ENOTFOUND;
    }
    char *text = NULL;
    int err = note_plain_text(st, f->id, md, mdlen, &text);
    if (err == STORE_EINVAL) {
        /* The engine refuses the log: index what is known rather than hold
         * every later note back; reindex after the log is repaired. */
        vlog(VLOG_ERROR, "search: note text unreadable, indexed without it",
             json_pack("{s:s}", "note", f->id));
        text = strdup("");
        err = text != NULL ? STORE_OK : STORE_ENOMEM;
    }
    if (err != STORE_OK) {
        store_file_free(f);
        return err;
    }
    e->file = *f;
    e->text = text;
    return STORE_OK;
}

int search_index_note(store *st, const char *id) {
    store_file f;
    int err = store_file_get(st, id, &f);
    if (err == STORE_ENOTFOUND) return store_search_delete(st, id);
    if (err != STORE_OK) return err;
    bool note = f.is_note;
    entry e;
    err = entry_for(st, &f, NULL, 0, &e);
    if (err == STORE_ENOTFOUND && !note) return store_search_delete(st, id);
    if (err != STORE_OK) return err;
    err = put_entries(st, &e, 1);
    entries_release(&e, 1);
    return err;
}

/* A set of note ids, in first-seen order. */
typedef struct {
    char (*ids)[33];
    size_t n, cap;
} idset;

static int idset_add(idset *s, const char *id) {
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->ids[i], id, 33) == 0) return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        char(*ids)[33] = realloc(s->ids, cap * sizeof(*ids));
        if (ids == NULL) return -1;
        s->ids = ids;
        s->cap = cap;
    }
    memcpy(s->ids[s->n++], id, 33);
    return 0;
}

static bool is_id(const char *s) {
    if (s == NULL || strlen(s) != 32) return false;
    for (int i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* Adds the notes an event names: its "id", every string of its "ids"
 * (folder.trashed), and for folder.renamed every file now under "to".
 * Returns STORE_OK or a store error. */
static int event_notes(store *st, const store_event *ev, idset *ids) {
    bool note_event = strncmp(ev->type, "note.", 5) == 0;
    bool folder_event = strncmp(ev->type, "folder.", 7) == 0;
    if (!note_event && !folder_event) return STORE_OK; /* vault, member events: nothing to index */
    json_t *j = json_loads(ev->json, 0, NULL);
    if (j == NULL) return STORE_OK; /* not ours to judge: nothing named */
    int err = STORE_OK;
    const char *id = json_string_value(json_object_get(j, "id"));
    if (is_id(id) && idset_add(ids, id) != 0) err = STORE_ENOMEM;
    json_t *list = json_object_get(j, "ids");
    for (size_t i = 0; err == STORE_OK && i < json_array_size(list); i++) {
        const char *one = json_string_value(json_array_get(list, i));
        if (is_id(one) && idset_add(ids, one) != 0) err = STORE_ENOMEM;
    }
    const char *to = json_string_value(json_object_get(j, "to"));
    if (err == STORE_OK && strcmp(ev->type, "folder.renamed") == 0 && to != NULL && to[0] == '/') {
        size_t tl = strlen(to);
        char *prefix = malloc(tl + 2);
        store_file *files = NULL;
        size_t n = 0;
        if (prefix == NULL) {
            err = STORE_ENOMEM;
        } else {
            memcpy(prefix, to, tl);
            strcpy(prefix + tl, tl > 1 ? "/" : "");
            err = store_file_list(st, ev->vault, prefix, false, &files, &n);
            for (size_t i = 0; err == STORE_OK && i < n; i++)
                if (idset_add(ids, files[i].id) != 0) err = STORE_ENOMEM;
            store_files_free(files, n);
            free(prefix);
        }
    }
    json_decref(j);
    return err;
}

/* A note's Markdown as the loop answered it and the log confirmed. */
typedef struct {
    char *md; /* NULL: not known (replay the log) */
    size_t len;
} known;

/* Asks the loop for the texts of the notes in ids (stext.h): each is what
 * the note's log held when the loop took it, at least as new as the events
 * of this batch (a later commit has events of its own). Returns one slot
 * per id (NULL when out of memory: every note replays its log). */
static known *known_texts(const search_indexer *ix, const idset *ids) {
    known *kn = calloc(ids->n, sizeof(*kn));
    if (kn == NULL) return NULL;
    stexts_want(ix->texts, (const char(*)[33])ids->ids, ids->n, TEXTS_WAIT_MS);
    for (size_t i = 0; i < ids->n; i++) {
        int64_t seq = 0;
        (void)stexts_take(ix->texts, ids->ids[i], &kn[i].md, &kn[i].len, &seq);
    }
    return kn;
}

int search_index_events(void *ud, store *st, const store_event *ev, size_t n) {
    const search_indexer *ix = ud;
    idset ids = {0};
    int err = STORE_OK;
    for (size_t i = 0; i < n && err == STORE_OK; i++) err = event_notes(st, &ev[i], &ids);
    known *kn = NULL;
    if (err == STORE_OK && ix != NULL && ix->texts != NULL && ids.n > 0)
        kn = known_texts(ix, &ids);
    entry batch[PUT_CHUNK];
    size_t nb = 0;
    for (size_t i = 0; i < ids.n && err == STORE_OK; i++) {
        store_file f;
        err = store_file_get(st, ids.ids[i], &f);
        if (err == STORE_ENOTFOUND) { /* purged */
            err = store_search_delete(st, ids.ids[i]);
            continue;
        }
        if (err != STORE_OK) break;
        char *md = kn != NULL ? kn[i].md : NULL;
        if (kn != NULL) kn[i].md = NULL;
        if (ix != NULL && ix->metrics != NULL && f.is_note)
            vmetrics_count(ix->metrics, md != NULL ? M_FROM_MEMORY : M_FROM_LOG,
                           md != NULL ? H_FROM_MEMORY : H_FROM_LOG, 1);
        err = entry_for(st, &f, md, kn != NULL ? kn[i].len : 0, &batch[nb]);
        if (err == STORE_ENOTFOUND) {
            err = STORE_OK;
            continue;
        }
        if (err == STORE_OK && ++nb == PUT_CHUNK) {
            err = put_entries(st, batch, nb);
            entries_release(batch, nb);
            nb = 0;
        }
    }
    if (err == STORE_OK && nb > 0) err = put_entries(st, batch, nb);
    entries_release(batch, nb);
    for (size_t i = 0; kn != NULL && i < ids.n; i++) yfree(kn[i].md);
    free(kn);
    free(ids.ids);
    if (err != STORE_OK) {
        vlog(VLOG_WARN, "search indexer: batch failed",
             json_pack("{s:s, s:I, s:I}", "error", store_strerror(err), "first_event",
                       (json_int_t)ev[0].id, "events", (json_int_t)n));
        return -1;
    }
    return 0;
}

int search_reindex(store *st, int64_t *notes) {
    /* The last event before the rebuild: everything up to it is covered by
     * reading the current state below. */
    int64_t last = 0, count = 0;
    int err = STORE_OK;
    for (;;) {
        store_event *ev = NULL;
        size_t n = 0;
        err = store_events_after(st, last, 10000, &ev, &n);
        if (err == STORE_OK && n > 0) last = ev[n - 1].id;
        store_events_free(ev, n);
        if (err != STORE_OK || n == 0) break;
    }
    if (err == STORE_OK) err = store_search_clear(st);
    char after[33] = "";
    entry batch[PUT_CHUNK];
    size_t nb = 0;
    while (err == STORE_OK) {
        store_file *files = NULL;
        size_t n = 0;
        err = store_files_after(st, after, 1000, &files, &n);
        if (err != STORE_OK) break;
        if (n == 0) {
            free(files);
            break;
        }
        memcpy(after, files[n - 1].id, 33);
        size_t i = 0;
        for (; i < n && err == STORE_OK; i++) {
            store_file f = files[i];
            files[i].path = files[i].title = NULL; /* moved into f */
            err = entry_for(st, &f, NULL, 0, &batch[nb]);
            if (err == STORE_ENOTFOUND) {
                err = STORE_OK;
                continue;
            }
            if (err == STORE_OK) count++;
            if (err == STORE_OK && ++nb == PUT_CHUNK) {
                err = put_entries(st, batch, nb);
                entries_release(batch, nb);
                nb = 0;
            }
        }
        store_files_free(files, n);
    }
    if (err == STORE_OK && nb > 0) err = put_entries(st, batch, nb);
    entries_release(batch, nb);
    if (err == STORE_OK) err = store_search_optimize(st);
    if (err == STORE_OK) {
        int64_t cursor = 0;
        err = store_cursor_get(st, SEARCH_CONSUMER, &cursor);
        if (err == STORE_OK && cursor < last)
            err = store_cursor_set(st, SEARCH_CONSUMER, last, auth_now_ms());
    }
    if (err == STORE_OK && notes != NULL) *notes = count;
    return err;
}

/* ---- the route ------------------------------------------------------------ */

typedef struct {
    uv_work_t work;
    vdeferred *deferred;
    store *st;
    squery q;
    char vault[33];
    char *path; /* prefix, or NULL */
    bool trashed;
    size_t limit, offset;
    /* results */
    int err;
    store_search_hit *hits;
    size_t n;
    int64_t total, pending, oldest;
} search_job;

static void job_free(search_job *j) {
    squery_release(&j->q);
    free(j->path);
    store_search_hits_free(j->hits, j->n);
    free(j);
}

static void search_work(uv_work_t *w) {
    search_job *j = w->data;
    store_search_req req = {.vault = j->vault,
                            .q = &j->q,
                            .path_prefix = j->path,
                            .trashed = j->trashed,
                            .limit = j->limit,
                            .offset = j->offset};
    j->err = store_search(j->st, &req, &j->hits, &j->n, &j->total);
    if (j->err == STORE_OK)
        j->err = store_events_pending(j->st, SEARCH_CONSUMER, j->vault, &j->pending, &j->oldest);
}

static void search_answer(vctx *ctx, void *ud) {
    search_job *j = ud;
    if (ctx != NULL) {
        if (j->err != STORE_OK) {
            vlog(VLOG_ERROR, "search failed",
                 json_pack("{s:s, s:s}", "error", store_strerror(j->err), "trace_id",
                           ctx->trace_id));
            vhttp_send_problem(ctx, 503, "Service Unavailable", "The search could not be run.");
        } else {
            json_t *results = json_array();
            for (size_t i = 0; i < j->n; i++) {
                const store_search_hit *h = &j->hits[i];
                json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:f}", "id", h->id, "path", h->path,
                                      "title", h->title, "snippet", h->snippet, "score", h->score);
                if (r != NULL && h->trashed != 0)
                    json_object_set_new(r, "trashed", json_integer((json_int_t)h->trashed));
                json_array_append_new(results, r);
            }
            int64_t now = auth_now_ms();
            double age = j->oldest != 0 && now > j->oldest ? (double)(now - j->oldest) / 1e3 : 0;
            bool exact = j->total <= STORE_SEARCH_CANDIDATES;
            vhttp_send_json(
                ctx, 200,
                json_pack("{s:o, s:I, s:b, s:I, s:I, s:{s:I, s:f}}", "results", results, "total",
                          (json_int_t)(exact ? j->total : STORE_SEARCH_CANDIDATES), "total_exact",
                          exact, "limit", (json_int_t)j->limit, "offset", (json_int_t)j->offset,
                          "lag", "events", (json_int_t)j->pending, "seconds", age));
        }
    }
    job_free(j);
}

static void search_after(uv_work_t *w, int status) {
    (void)status; /* the work always ran: jobs are never cancelled */
    search_job *j = w->data;
    vhttp_complete(j->deferred); /* search_answer frees j */
}

/* A query parameter as a number in [min, max]; def when absent. Returns 0,
 * or answers 400 and returns -1. */
static int query_num(vctx *ctx, const char *name, size_t def, size_t min, size_t max, size_t *out) {
    const char *v = vctx_query(ctx, name);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < min || n > max) {
        char detail[128];
        snprintf(detail, sizeof(detail), "'%s' must be a whole number from %zu to %zu.", name, min,
                 max);
        vhttp_send_problem(ctx, 400, "Bad Request", detail);
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

static bool utf8_text(const char *s) {
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode((const unsigned char *)s, len, i, &cp);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

void search_route(vctx *ctx) {
    const char *q = vctx_query(ctx, "q");
    const char *path = vctx_query(ctx, "path");
    const char *trashed = vctx_query(ctx, "trashed");
    size_t limit, offset;
    if (q == NULL) {
        vhttp_send_problem(ctx, 400, "Bad Request", "Say what to search for with ?q=.");
        return;
    }
    if (query_num(ctx, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, &limit) != 0 ||
        query_num(ctx, "offset", 0, 0, MAX_OFFSET, &offset) != 0)
        return;
    bool with_trash = false;
    if (trashed != NULL) {
        if (strcmp(trashed, "1") == 0 || strcmp(trashed, "true") == 0) {
            with_trash = true;
        } else if (strcmp(trashed, "0") != 0 && strcmp(trashed, "false") != 0) {
            vhttp_send_problem(ctx, 400, "Bad Request", "'trashed' is 1 or 0.");
            return;
        }
    }
    if (path != NULL && !utf8_text(path)) {
        vhttp_send_problem(ctx, 400, "Bad Request", "'path' is not valid UTF-8 text.");
        return;
    }
    if (path != NULL && path[0] != '\0' && path[0] != '/') {
        vhttp_send_problem(ctx, 400, "Bad Request", "'path' is a path prefix starting with '/'.");
        return;
    }
    search_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        return;
    }
    char err[160];
    int rc = squery_parse(q, strlen(q), &j->q, err, sizeof(err));
    if (rc != SQUERY_OK) {
        free(j);
        if (rc == SQUERY_ENOMEM)
            vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        else
            vhttp_send_problem(ctx, 400, "Bad Request", err);
        return;
    }
    if (path != NULL) {
        /* vctx_query decoded it; the store checks it is UTF-8 text. */
        j->path = strdup(path);
        if (j->path == NULL) {
            job_free(j);
            vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
            return;
        }
    }
    j->st = ctx->st;
    memcpy(j->vault, ctx->vault, 33);
    j->trashed = with_trash;
    j->limit = limit;
    j->offset = offset;
    j->work.data = j;
    j->deferred = vhttp_defer(ctx, search_answer, j);
    if (j->deferred == NULL) {
        job_free(j);
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        return;
    }
    if (uv_queue_work(ctx->req->conn->ctx->loop, &j->work, search_work, search_after) != 0) {
        j->err = STORE_ENOMEM;
        vhttp_complete(j->deferred);
    }
}
