/*
 * web.c - the web app's static files (see web.h).
 *
 * Invariants: `root` is the canonical (realpath) directory with no trailing
 * slash; every file sent is canonicalised again and must lie under root, so
 * a symlink or an encoded ".." cannot lead outside. h2o's sendfile path
 * (h2o_file_send) does the sending, ETags and conditional requests.
 */
#include "server/web.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct vweb {
    char root[PATH_MAX];
    size_t root_len;
    char index[PATH_MAX];
    h2o_mimemap_t *mime;
};

int vweb_open(const char *dir, vweb **out, char *err, size_t errsz) {
    vweb *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    struct stat st;
    if (realpath(dir, w->root) == NULL) {
        snprintf(err, errsz, "'%s': %s", dir, strerror(errno));
        goto fail;
    }
    w->root_len = strlen(w->root);
    if (snprintf(w->index, sizeof(w->index), "%s/index.html", w->root) >= (int)sizeof(w->index) ||
        stat(w->index, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errsz, "'%s' has no index.html (build the web app: scripts/web-build.sh)",
                 dir);
        goto fail;
    }
    w->mime = h2o_mimemap_create();
    *out = w;
    return 0;
fail:
    free(w);
    return -1;
}

void vweb_free(vweb *w) {
    if (w == NULL) return;
    h2o_mem_release_shared(w->mime);
    free(w);
}

static int has_prefix(h2o_iovec_t s, const char *p) {
    size_t n = strlen(p);
    return s.len >= n && memcmp(s.base, p, n) == 0;
}

/* Sends the file at `path` (under root) with caching suited to it. */
static int send_file(vweb *w, h2o_req_t *req, const char *path, int immutable) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    h2o_mimemap_type_t *type =
        dot != NULL && dot > slash
            ? h2o_mimemap_get_type_by_extension(w->mime, h2o_iovec_init(dot + 1, strlen(dot + 1)))
            : h2o_mimemap_get_default_type(w->mime);
    h2o_iovec_t mime = type->data.mimetype;
    /* text types without a charset: our files are all UTF-8 */
    if (has_prefix(mime, "text/") && memchr(mime.base, ';', mime.len) == NULL)
        mime = h2o_concat(&req->pool, mime, h2o_iovec_init(H2O_STRLIT("; charset=utf-8")));
    const char *cc = immutable ? "public, max-age=31536000, immutable" : "no-cache";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, cc, strlen(cc));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    if (req->method.len == 4) { /* HEAD: h2o_file_send would send the body too */
        struct stat st;
        if (stat(path, &st) != 0) return -1;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, mime.base,
                       mime.len);
        req->res.status = 200;
        req->res.reason = "OK";
        req->res.content_length = (size_t)st.st_size;
        h2o_send_inline(req, "", 0);
        return 0;
    }
    return h2o_file_send(req, 200, "OK", path, mime, 0);
}

static void send_404(h2o_req_t *req) {
    static const char body[] = "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
                               "\"detail\":\"No such resource.\"}";
    req->res.status = 404;
    req->res.reason = "Not Found";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/problem+json"));
    req->res.content_length = sizeof(body) - 1;
    h2o_send_inline(req, body, sizeof(body) - 1);
}

int vweb_wants(const h2o_req_t *req) {
    h2o_iovec_t m = req->method, path = req->path_normalized;
    if (!(m.len == 3 && memcmp(m.base, "GET", 3) == 0) &&
        !(m.len == 4 && memcmp(m.base, "HEAD", 4) == 0))
        return 0;
    if (path.len == 0 || path.base[0] != '/') return 0;
    return !((path.len == 4 && memcmp(path.base, "/api", 4) == 0) || has_prefix(path, "/api/"));
}

void vweb_serve(vweb *w, h2o_req_t *req) {
    h2o_iovec_t path = req->path_normalized;

    /* Hidden segments, NULs and over-long paths are never files of ours. */
    int hidden = memchr(path.base, '\0', path.len) != NULL;
    for (size_t i = 0; i + 1 < path.len; i++)
        if (path.base[i] == '/' && path.base[i + 1] == '.') hidden = 1;
    const char *last = path.base;
    for (size_t i = 0; i < path.len; i++)
        if (path.base[i] == '/') last = path.base + i + 1;
    int has_ext = memchr(last, '.', (size_t)(path.base + path.len - last)) != NULL;

    char want[PATH_MAX], real[PATH_MAX];
    struct stat st;
    if (!hidden && w->root_len + path.len < sizeof(want)) {
        memcpy(want, w->root, w->root_len);
        memcpy(want + w->root_len, path.base, path.len);
        want[w->root_len + path.len] = '\0';
        if (realpath(want, real) != NULL && strncmp(real, w->root, w->root_len) == 0 &&
            real[w->root_len] == '/' && stat(real, &st) == 0 && S_ISREG(st.st_mode)) {
            if (send_file(w, req, real, has_prefix(path, "/assets/")) == 0) return;
        }
    }
    if (hidden || has_ext) {
        send_404(req);
        return;
    }
    if (send_file(w, req, w->index, 0) != 0) send_404(req);
}
