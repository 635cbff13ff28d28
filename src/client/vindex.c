/*
 * vindex.c - vindex.h over the CRDT engine's Y.Map API.
 */
#include "client/vindex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static ytype *files_map(ydoc *idx) { return ydoc_get(idx, "files", YTYPE_MAP); }

static ytype *meta_of(ydoc *idx, const char *id) {
    ytype *files = files_map(idx);
    yvalue v;
    if (files == NULL || ymap_get(files, id, &v) != Y_OK || v.kind != YVALUE_TYPE) return NULL;
    return v.type;
}

static bool get_num(ytype *m, const char *key, int64_t *out) {
    yvalue v;
    if (ymap_get(m, key, &v) != Y_OK || v.kind != YVALUE_ANY) return false;
    if (v.any.kind == YANY_NUMBER) {
        *out = (int64_t)v.any.u.num;
        return true;
    }
    if (v.any.kind == YANY_BIGINT) {
        *out = v.any.u.bigint;
        return true;
    }
    return false;
}

static char *get_str(ytype *m, const char *key) {
    yvalue v;
    if (ymap_get(m, key, &v) != Y_OK || v.kind != YVALUE_ANY || v.any.kind != YANY_STRING)
        return strdup("");
    char *s = malloc(v.any.u.str.len + 1);
    if (s == NULL) return NULL;
    memcpy(s, v.any.u.str.ptr, v.any.u.str.len);
    s[v.any.u.str.len] = '\0';
    return s;
}

int vindex_list(ydoc *idx, vindex_entry **out, size_t *n) {
    *out = NULL;
    *n = 0;
    ytype *files = files_map(idx);
    if (files == NULL) return -1;
    const char **keys = NULL;
    size_t nk = 0;
    if (ymap_keys(files, &keys, &nk) != Y_OK) return -1;
    vindex_entry *a = calloc(nk ? nk : 1, sizeof(*a));
    if (a == NULL) {
        yfree(keys);
        return -1;
    }
    size_t len = 0;
    for (size_t i = 0; i < nk; i++) {
        if (strlen(keys[i]) != 32) continue;
        yvalue v;
        if (ymap_get(files, keys[i], &v) != Y_OK || v.kind != YVALUE_TYPE) continue;
        vindex_entry *e = &a[len];
        memcpy(e->id, keys[i], 33);
        e->path = get_str(v.type, "path");
        char *kind = get_str(v.type, "kind");
        if (e->path == NULL || kind == NULL) {
            free(kind);
            vindex_free(a, len + 1);
            yfree(keys);
            return -1;
        }
        e->is_note = strcmp(kind, "note") == 0;
        free(kind);
        if (!get_num(v.type, "created", &e->created)) e->created = 0;
        if (!get_num(v.type, "trashed", &e->trashed)) e->trashed = 0;
        if (e->trashed < 0) e->trashed = 0;
        len++;
    }
    yfree(keys);
    *out = a;
    *n = len;
    return 0;
}

void vindex_free(vindex_entry *e, size_t n) {
    if (e == NULL) return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].path);
        free(e[i].lpath);
    }
    free(e);
}

vindex_entry *vindex_find(vindex_entry *e, size_t n, const char *id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(e[mid].id, id);
        if (c == 0) return &e[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool hidden(const char *path) {
    for (const char *p = path; p != NULL; p = strchr(p + 1, '/'))
        if (p[1] == '.') return true;
    return false;
}

static int cmp_live(const void *a, const void *b) {
    const vindex_entry *x = *(vindex_entry *const *)a, *y = *(vindex_entry *const *)b;
    int c = strcmp(x->path, y->path);
    if (c != 0) return c;
    if (x->created != y->created) return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

static char *suffixed(const char *lpath, const char *id) {
    const char *slash = strrchr(lpath, '/');
    const char *name = slash ? slash + 1 : lpath;
    const char *dot = strrchr(name, '.');
    if (dot == name) dot = NULL; /* ".env": no extension */
    size_t stem = dot ? (size_t)(dot - lpath) : strlen(lpath);
    size_t len = strlen(lpath) + 12;
    char *s = malloc(len);
    if (s == NULL) return NULL;
    snprintf(s, len, "%.*s (%.8s)%s", (int)stem, lpath, id, dot ? dot : "");
    return s;
}

int vindex_assign(vindex_entry *e, size_t n) {
    vindex_entry **live = malloc((n ? n : 1) * sizeof(*live));
    if (live == NULL) return -1;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        free(e[i].lpath);
        e[i].lpath = NULL;
        if (e[i].is_note && e[i].trashed == 0 && e[i].path[0] == '/' && e[i].path[1] != '\0' &&
            !hidden(e[i].path))
            live[m++] = &e[i];
    }
    if (m > 1) qsort(live, m, sizeof(*live), cmp_live);
    for (size_t i = 0; i < m; i++) {
        bool dup = i > 0 && strcmp(live[i - 1]->path, live[i]->path) == 0;
        live[i]->lpath = dup ? suffixed(live[i]->path + 1, live[i]->id) : strdup(live[i]->path + 1);
        if (live[i]->lpath == NULL) {
            free(live);
            return -1;
        }
    }
    free(live);
    return 0;
}

static yany str_any(const char *s) {
    yany v = {.kind = YANY_STRING};
    v.u.str.ptr = s;
    v.u.str.len = strlen(s);
    return v;
}

static yany num_any(int64_t n) {
    yany v = {.kind = YANY_NUMBER};
    v.u.num = (double)n;
    return v;
}

int vindex_create(ytxn *tx, ydoc *idx, const char *id, const char *path, int64_t created) {
    ytype *meta = NULL;
    int rc = ymap_set_type(tx, files_map(idx), id, YTYPE_MAP, &meta);
    yany v = str_any(path);
    if (rc == Y_OK) rc = ymap_set(tx, meta, "path", &v);
    v = str_any("note");
    if (rc == Y_OK) rc = ymap_set(tx, meta, "kind", &v);
    v = num_any(created);
    if (rc == Y_OK) rc = ymap_set(tx, meta, "created", &v);
    return rc;
}

int vindex_set_path(ytxn *tx, ydoc *idx, const char *id, const char *path) {
    ytype *meta = meta_of(idx, id);
    if (meta == NULL) return Y_ERR_RANGE;
    yany v = str_any(path);
    return ymap_set(tx, meta, "path", &v);
}

int vindex_trash(ytxn *tx, ydoc *idx, const char *id, int64_t when) {
    ytype *meta = meta_of(idx, id);
    if (meta == NULL) return Y_ERR_RANGE;
    yany v = num_any(when);
    return ymap_set(tx, meta, "trashed", &v);
}

int vindex_untrash(ytxn *tx, ydoc *idx, const char *id) {
    ytype *meta = meta_of(idx, id);
    if (meta == NULL) return Y_ERR_RANGE;
    yvalue v;
    if (ymap_get(meta, "trashed", &v) != Y_OK) return Y_OK;
    return ymap_delete(tx, meta, "trashed");
}

char *vindex_vpath(const char *lpath) {
    size_t n = strlen(lpath);
    char *s = malloc(n + 2);
    if (s == NULL) return NULL;
    s[0] = '/';
    memcpy(s + 1, lpath, n + 1);
    return s;
}

void vindex_new_id(char out[33]) {
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
        for (size_t i = 0; i < sizeof(b); i++) b[i] = (unsigned char)(rand() ^ getpid());
    }
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}
