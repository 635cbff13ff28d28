/*
 * docs.c - the open-document cache (see docs.h).
 *
 * Invariants: every vdoc is in the `head` list and in the hash chain of
 * its id's bucket exactly once; a vdoc with inflight > 0 is never freed (the
 * store's answer will come back to it); at most max_docs idle documents stay
 * open, the least recently used idle one is closed first, and never one of
 * the RECENT most recently fetched (a handler may hold a few vdoc pointers
 * across vdocs_get calls: the note and its vault's index).
 */
#include "server/docs.h"

#include "util/log.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096 /* power of two */
#define RECENT  16

struct vdocs {
    store *st;
    size_t max_docs;
    size_t count;
    uint64_t clock;
    vdoc *head;
    vdoc *buckets[BUCKETS];
};

/* FNV-1a of the id: ids are random hex, any cheap mix spreads them. */
static vdoc **bucket(vdocs *c, const char *id) {
    uint32_t h = 2166136261u;
    for (const char *p = id; *p != '\0'; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return &c->buckets[h & (BUCKETS - 1)];
}

/* Takes d out of the list and its hash chain, and frees it. */
static void vdoc_close(vdocs *c, vdoc *d);

vdocs *vdocs_new(store *st, size_t max_docs) {
    vdocs *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->st = st;
    c->max_docs = max_docs;
    return c;
}

static void vdoc_free(vdoc *d) {
    ydoc_free(d->doc);
    free(d->captured);
    free(d);
}

void vdocs_free(vdocs *c) {
    if (c == NULL) return;
    for (vdoc *d = c->head, *next; d != NULL; d = next) {
        next = d->next;
        vdoc_free(d);
    }
    free(c);
}

size_t vdocs_count(const vdocs *c) { return c->count; }

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
    uint64_t count;
    uint64_t limit; /* stop after this many updates (UINT64_MAX: all) */
    int engine_err;
} replay;

static int apply_one(void *ud, const uint8_t *update, size_t len) {
    replay *r = ud;
    if (r->count == r->limit) return 1; /* enough: stop the iteration */
    int rc = ydoc_apply_update(r->doc, update, len, NULL);
    if (rc != Y_OK) {
        r->engine_err = rc;
        return 2;
    }
    r->count++;
    return 0;
}

/* Opens a fresh document and replays up to `limit` updates of `id`. */
static int load(store *st, const char *id, uint64_t limit, ydoc **out, uint64_t *count) {
    ydoc_options opt = {.gc = false};
    ydoc *doc = ydoc_new(&opt);
    if (doc == NULL) return STORE_ENOMEM;
    replay r = {.doc = doc, .limit = limit};
    int rc = store_doc_updates(st, id, apply_one, &r);
    if (rc == 1) rc = STORE_OK;
    if (rc == 2) {
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
    vdoc_free(d);
    c->count--;
}

/* Closes idle documents beyond the cap, least recently used first. */
static void trim(vdocs *c) {
    while (c->count > c->max_docs) {
        vdoc *victim = NULL;
        for (vdoc *d = c->head; d != NULL; d = d->next)
            if (d->inflight == 0 && d->last_used + RECENT <= c->clock &&
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
    if (d->inflight > 0) return -1;
    vdoc_close(c, d);
    return 0;
}

int vdocs_get(vdocs *c, const char *vault, const char *id, vdoc **out) {
    vdoc *d = vdocs_find(c, id);
    if (d != NULL && d->broken && d->inflight == 0) { /* reload from the log */
        vdoc_close(c, d);
        d = NULL;
    }
    if (d == NULL) {
        d = calloc(1, sizeof(*d));
        if (d == NULL) return STORE_ENOMEM;
        int rc = load(c->st, id, UINT64_MAX, &d->doc, &d->version);
        if (rc != STORE_OK) {
            free(d);
            return rc;
        }
        if (ydoc_observe_updates(d->doc, on_update, d) < 0) {
            vdoc_free(d);
            return STORE_ENOMEM;
        }
        snprintf(d->id, sizeof(d->id), "%s", id);
        snprintf(d->vault, sizeof(d->vault), "%s", vault);
        d->next = c->head;
        c->head = d;
        vdoc **b = bucket(c, d->id);
        d->hnext = *b;
        *b = d;
        c->count++;
    }
    d->last_used = ++c->clock;
    trim(c);
    *out = d;
    return STORE_OK;
}

ytxn *vdocs_begin(vdoc *d) { return ydoc_begin(d->doc, NULL); }

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
    if (*update != NULL) d->version++;
    return Y_OK;
}

void vdocs_submitted(vdoc *d) { d->inflight++; }

void vdocs_answered(vdocs *c, vdoc *d, bool ok) {
    (void)c;
    d->inflight--;
    if (!ok) d->broken = true;
}

int vdocs_replica_at(vdocs *c, const char *id, uint64_t version, ydoc **out) {
    ydoc *doc = NULL;
    uint64_t count = 0;
    int rc = load(c->st, id, version, &doc, &count);
    if (rc != STORE_OK) return rc;
    if (count < version) {
        ydoc_free(doc);
        return STORE_ENOTFOUND;
    }
    *out = doc;
    return STORE_OK;
}

int vdocs_apply(vdoc *d, const uint8_t *update, size_t len) {
    int rc = ydoc_apply_update(d->doc, update, len, NULL);
    free(d->captured); /* the observer saw it; the caller has the update */
    d->captured = NULL;
    d->captured_len = 0;
    if (rc == Y_OK) d->version++;
    return rc;
}

int vdocs_apply_remote(vdoc *d, const uint8_t *update, size_t len, uint8_t **changed,
                       size_t *changed_len) {
    free(d->captured);
    d->captured = NULL;
    d->captured_len = 0;
    int rc = ydoc_apply_update(d->doc, update, len, NULL);
    *changed = rc == Y_OK ? d->captured : NULL;
    *changed_len = rc == Y_OK ? d->captured_len : 0;
    if (rc != Y_OK) free(d->captured);
    d->captured = NULL;
    d->captured_len = 0;
    if (*changed != NULL) d->version++;
    return rc;
}

int vdocs_load_text(store *st, const char *id, char **text, size_t *len) {
    ydoc *doc = NULL;
    uint64_t count = 0;
    int rc = load(st, id, UINT64_MAX, &doc, &count);
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
