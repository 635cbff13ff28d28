/*
 * http.c - vaultd's HTTP server: h2o (HTTP/1.1 and HTTP/2) on libuv.
 *
 * One h2o handler receives every request and dispatches it through the route
 * table (routes.c): match the pattern, authenticate, check the role on the
 * route's vault, parse the JSON body within limits, then call the handler.
 * One h2o logger writes a JSON line per request and feeds the metrics.
 * Answers computed on other threads (store commits) come back through a
 * uv_async queue (vhttp_defer / vhttp_complete).
 *
 * Shutdown closes the listener, asks h2o to wind connections down, and stops
 * the loop once every accepted connection has closed (or after a grace
 * period).
 *
 * Invariants: `open_conns` counts accepted sockets whose uv handle is not yet
 * closed; it is decremented only in on_conn_closed. A vdeferred is freed only
 * on the loop thread, after its callback ran; the request pool's dispose hook
 * clears d->ctx (through d->slot) when the client goes away first.
 */
#include "server/http.h"

#include "server/auth.h"
#include "server/cache.h"
#include "server/metrics.h"
#include "server/sync.h"
#include "server/vchan.h"
#include "server/web.h"
#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#define SHUTDOWN_GRACE_MS 5000
#define SHUTDOWN_POLL_MS  50

struct vdeferred {
    vhttp *srv;
    vctx *ctx;               /* NULL once the request is gone */
    struct vdeferred **slot; /* in the request pool, points back at us */
    vdeferred_fn fn;
    void *ud;
    struct vdeferred *next;
};

struct vhttp {
    uv_loop_t *loop;
    store *st;
    vdocs *docs;
    vmetrics *metrics;
    vcache sessions, roles; /* see VHTTP_CACHE_TTL_MS */
    vsync *sync;            /* sync connections (sync.c) */
    vchan *vchan;           /* vault channels (vchan.c) */
    vweb *web;              /* the web app's files, or NULL (borrowed) */
    uv_tcp_t listener;
    uv_timer_t shutdown_timer;
    uv_async_t async;
    pthread_mutex_t done_mu;
    vdeferred *done_head, *done_tail; /* completed, waiting for the loop */
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int port;
    int open_conns;
    int shutting_down;
    uint64_t shutdown_started;
    int handles_open;     /* listener, timer, async: closed by vhttp_shutdown */
    bool no_api, no_sync; /* roles this process does not run (vhttp_set_roles) */
};

typedef struct {
    h2o_handler_t super;
    vhttp *srv;
} dispatch_handler;

typedef struct {
    h2o_logger_t super;
    vhttp *srv;
} json_logger;

/* An accepted connection. h2o owns handle.data, so the server is kept
 * beside the handle (which must stay the first member). */
typedef struct {
    uv_tcp_t tcp;
    vhttp *srv;
} conn_handle;

struct vcache *vhttp_session_cache(vhttp *srv) {
    return &srv->sessions;
}
struct vcache *vhttp_role_cache(vhttp *srv) {
    return &srv->roles;
}

struct vmetrics *vhttp_metrics(vhttp *srv) {
    return srv->metrics;
}

struct vsync *vhttp_sync(vhttp *srv) {
    return srv->sync;
}

struct vchan *vhttp_vchan(vhttp *srv) {
    return srv->vchan;
}

/* ---- answering ------------------------------------------------------------ */

void vhttp_add_header(vctx *ctx, const char *name, const char *value) {
    h2o_req_t *req = ctx->req;
    size_t nlen = strlen(name), vlen = strlen(value);
    char *n = h2o_mem_alloc_pool(&req->pool, nlen);
    char *v = h2o_mem_alloc_pool(&req->pool, vlen);
    memcpy(n, name, nlen);
    memcpy(v, value, vlen);
    const h2o_token_t *tok = h2o_lookup_token(n, nlen);
    if (tok != NULL)
        h2o_add_header(&req->pool, &req->res.headers, tok, NULL, v, vlen);
    else
        h2o_add_header_by_str(&req->pool, &req->res.headers, n, nlen, 0, NULL, v, vlen);
}

h2o_iovec_t vhttp_header(const vctx *ctx, const char *name) {
    ssize_t i = h2o_find_header_by_str(&ctx->req->headers, name, strlen(name), -1);
    if (i == -1) return h2o_iovec_init(NULL, 0);
    return ctx->req->headers.entries[i].value;
}

static const char *reason_of(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

void vhttp_send_raw(vctx *ctx, int status, const char *type, const char *data, size_t len) {
    h2o_req_t *req = ctx->req;
    req->res.status = status;
    req->res.reason = reason_of(status);
    if (type != NULL) vhttp_add_header(ctx, "content-type", type);
    vhttp_add_header(ctx, "cache-control", "no-store");
    req->res.content_length = len; /* else h2o chunks, and closes non-200 answers */
    h2o_send_inline(req, data, len);
}

void vhttp_send_json(vctx *ctx, int status, json_t *body) {
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (text == NULL) {
        vhttp_send_problem(ctx, 500, "Internal Server Error", "The response could not be encoded.");
        return;
    }
    vhttp_send_raw(ctx, status, "application/json", text, strlen(text));
    free(text);
}

void vhttp_send_problem(vctx *ctx, int status, const char *title, const char *detail) {
    json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", title, "status",
                          status, "detail", detail);
    char *text = p != NULL ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(p);
    if (text == NULL) {
        static const char fallback[] =
            "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\","
            "\"status\":500,\"detail\":\"Out of memory.\"}";
        vhttp_send_raw(ctx, 500, "application/problem+json", fallback, sizeof(fallback) - 1);
        return;
    }
    vhttp_send_raw(ctx, status, "application/problem+json", text, strlen(text));
    free(text);
}

/* ---- parameters ------------------------------------------------------------ */

static char *pool_strndup(h2o_mem_pool_t *pool, const char *s, size_t n) {
    char *d = h2o_mem_alloc_pool(pool, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

const char *vctx_param(const vctx *ctx, const char *name) {
    for (int i = 0; i < ctx->nparams; i++)
        if (strcmp(ctx->param_names[i], name) == 0)
            return pool_strndup(&ctx->req->pool, ctx->params[i].base, ctx->params[i].len);
    return NULL;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into the pool ('+' is a space, as in forms). A
 * malformed escape is kept as it is. */
static char *url_decode(h2o_mem_pool_t *pool, const char *s, size_t n) {
    char *d = h2o_mem_alloc_pool(pool, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n + 0 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            d[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            d[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    d[o] = '\0';
    return d;
}

const char *vctx_query(const vctx *ctx, const char *name) {
    h2o_req_t *req = ctx->req;
    if (req->query_at == SIZE_MAX) return NULL;
    const char *q = req->path.base + req->query_at + 1;
    const char *end = req->path.base + req->path.len;
    size_t nlen = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp != NULL ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(stop - q));
        const char *kend = eq != NULL ? eq : stop;
        if ((size_t)(kend - q) == nlen && memcmp(q, name, nlen) == 0) {
            const char *v = eq != NULL ? eq + 1 : stop;
            return url_decode(&req->pool, v, (size_t)(stop - v));
        }
        q = stop + 1;
    }
    return NULL;
}

int vctx_body_fields(vctx *ctx, const char *const *keys, const json_type *types, int nrequired) {
    if (ctx->body == NULL || !json_is_object(ctx->body)) {
        vhttp_send_problem(ctx, 400, "Bad Request", "Send a JSON object as the request body.");
        return -1;
    }
    const char *key;
    json_t *val;
    char detail[160];
    json_object_foreach(ctx->body, key, val) {
        int i;
        for (i = 0; keys[i] != NULL; i++)
            if (strcmp(key, keys[i]) == 0) break;
        if (keys[i] == NULL) {
            snprintf(detail, sizeof(detail), "Unknown field \"%.64s\".", key);
            vhttp_send_problem(ctx, 400, "Bad Request", detail);
            return -1;
        }
        json_type want = types != NULL ? types[i] : JSON_STRING;
        if (json_typeof(val) != want) {
            static const char *const names[] = {"an object", "an array", "a string", "an integer",
                                                "a number",  "true",     "false",    "null"};
            snprintf(detail, sizeof(detail), "Field \"%s\" must be %s.", keys[i],
                     (unsigned)want < 8 ? names[want] : "of another type");
            vhttp_send_problem(ctx, 422, "Unprocessable Content", detail);
            return -1;
        }
    }
    for (int i = 0; i < nrequired; i++) {
        if (json_object_get(ctx->body, keys[i]) == NULL) {
            snprintf(detail, sizeof(detail), "Field \"%s\" is required.", keys[i]);
            vhttp_send_problem(ctx, 422, "Unprocessable Content", detail);
            return -1;
        }
    }
    return 0;
}

/* ---- answering later ------------------------------------------------------ */

static void on_slot_dispose(void *p) {
    vdeferred **slot = p;
    if (*slot != NULL) (*slot)->ctx = NULL;
}

vdeferred *vhttp_defer(vctx *ctx, vdeferred_fn fn, void *ud) {
    vdeferred *d = calloc(1, sizeof(*d));
    if (d == NULL) return NULL;
    d->srv = ctx->srv;
    d->ctx = ctx;
    d->fn = fn;
    d->ud = ud;
    d->slot = h2o_mem_alloc_shared(&ctx->req->pool, sizeof(*d->slot), on_slot_dispose);
    *d->slot = d;
    return d;
}

void vhttp_complete(vdeferred *d) {
    vhttp *srv = d->srv;
    pthread_mutex_lock(&srv->done_mu);
    if (srv->done_tail != NULL)
        srv->done_tail->next = d;
    else
        srv->done_head = d;
    srv->done_tail = d;
    pthread_mutex_unlock(&srv->done_mu);
    uv_async_send(&srv->async);
}

static void on_async(uv_async_t *async) {
    vhttp *srv = async->data;
    pthread_mutex_lock(&srv->done_mu);
    vdeferred *d = srv->done_head;
    srv->done_head = srv->done_tail = NULL;
    pthread_mutex_unlock(&srv->done_mu);
    while (d != NULL) {
        vdeferred *next = d->next;
        if (d->ctx != NULL) *d->slot = NULL; /* the pool must not touch d later */
        d->fn(d->ctx, d->ud);
        free(d);
        d = next;
    }
}

/* ---- dispatch -------------------------------------------------------------- */

/* Matches `path` against `pattern`, capturing {name} segments into ctx.
 * Returns 1 on a match. */
static int match_pattern(const char *pattern, h2o_iovec_t path, vctx *ctx) {
    const char *p = pattern, *s = path.base, *send = path.base + path.len;
    int n = 0;
    while (*p != '\0') {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            const char *seg_end = memchr(s, '/', (size_t)(send - s));
            if (seg_end == NULL) seg_end = send;
            if (seg_end == s || n == VHTTP_MAX_PARAMS) return 0;
            ctx->params[n] = h2o_iovec_init(s, (size_t)(seg_end - s));
            ctx->param_names[n] = pool_strndup(&ctx->req->pool, p + 1, (size_t)(close - p - 1));
            n++;
            s = seg_end;
            p = close + 1;
            continue;
        }
        if (s == send || *s != *p) return 0;
        s++;
        p++;
    }
    if (s != send) return 0;
    ctx->nparams = n;
    return 1;
}

static int iovec_eq(h2o_iovec_t v, const char *s) {
    size_t n = strlen(s);
    return v.len == n && memcmp(v.base, s, n) == 0;
}

/* Random bytes for trace and span ids: unique, not secret, so a fast
 * generator (xorshift64*, seeded once from the kernel per loop thread)
 * rather than a system call per request. */
static void trace_random(unsigned char *out, size_t n) {
    static _Thread_local uint64_t state;
    if (state == 0 && (getrandom(&state, sizeof(state), 0) != (ssize_t)sizeof(state) || state == 0))
        state = 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)&state;
    for (size_t i = 0; i < n; i += 8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        uint64_t v = state * 0x2545f4914f6cdd1du;
        memcpy(out + i, &v, n - i < 8 ? n - i : 8);
    }
}

/* The W3C trace id of the request: taken from a valid `traceparent` header,
 * else a fresh random one. */
static void request_trace_id(h2o_req_t *req, char out[33]) {
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("traceparent"), -1);
    if (i != -1) {
        h2o_iovec_t v = req->headers.entries[i].value;
        /* version "-" trace-id(32 hex) "-" parent-id(16 hex) "-" flags(2 hex) */
        if (v.len >= 55 && v.base[2] == '-' && v.base[35] == '-') {
            int ok = 1;
            for (int k = 0; k < 32; k++) {
                char c = v.base[3 + k];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) ok = 0;
            }
            if (ok && memcmp(v.base + 3, "00000000000000000000000000000000", 32) != 0) {
                memcpy(out, v.base + 3, 32);
                out[32] = '\0';
                return;
            }
        }
    }
    unsigned char raw[16];
    trace_random(raw, sizeof(raw));
    for (int k = 0; k < 16; k++) snprintf(out + 2 * k, 3, "%02x", raw[k]);
}

/* Remembers a value for the access log in req->env (name, value pairs). */
static void env_set(h2o_req_t *req, const char *name, const char *value) {
    h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
    req->env.entries[req->env.size++] = h2o_iovec_init(name, strlen(name));
    req->env.entries[req->env.size++] = h2o_iovec_init(value, strlen(value));
}

static const char *env_get(h2o_req_t *req, const char *name) {
    for (size_t i = 0; i + 1 < req->env.size; i += 2)
        if (iovec_eq(req->env.entries[i], name)) return req->env.entries[i + 1].base;
    return NULL;
}

static void on_body_dispose(void *p) { json_decref(*(json_t **)p); }

/* The deepest nesting of arrays/objects in a JSON text (strings skipped). */
static int json_depth(const char *s, size_t n) {
    int depth = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max) max = depth;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return max;
}

/* Parses the request body as JSON into ctx->body. Returns 0, or answers the
 * request with a problem and returns -1. An empty body leaves body NULL. */
static int parse_body(vctx *ctx) {
    h2o_req_t *req = ctx->req;
    if (req->entity.base == NULL || req->entity.len == 0) return 0;
    if (req->entity.len > VHTTP_MAX_BODY) {
        vhttp_send_problem(ctx, 413, "Content Too Large", "The request body exceeds 8 MiB.");
        return -1;
    }
    h2o_iovec_t type = vhttp_header(ctx, "content-type");
    if (type.len < 16 || strncasecmp(type.base, "application/json", 16) != 0) {
        vhttp_send_problem(ctx, 415, "Unsupported Media Type",
                           "Send the request body as application/json.");
        return -1;
    }
    if (json_depth(req->entity.base, req->entity.len) > VHTTP_MAX_JSON_DEPTH) {
        vhttp_send_problem(ctx, 400, "Bad Request", "The JSON body is nested too deeply.");
        return -1;
    }
    json_error_t err;
    json_t *body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &err);
    if (body == NULL) {
        char detail[256];
        snprintf(detail, sizeof(detail), "The body is not valid JSON: %s (line %d, column %d).",
                 err.text, err.line, err.column);
        vhttp_send_problem(ctx, 400, "Bad Request", detail);
        return -1;
    }
    json_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_body_dispose);
    *slot = body;
    ctx->body = body;
    return 0;
}

static void on_file_dispose(void *p) { store_file_free(p); }

int vctx_take_file(vctx *ctx, store_file *out) {
    if (ctx->file == NULL) return -1;
    *out = *ctx->file;
    memset(ctx->file, 0, sizeof(*ctx->file)); /* the pool frees nothing now */
    ctx->file = NULL;
    return 0;
}

static int is_hex_id(h2o_iovec_t v) {
    if (v.len != 32) return 0;
    for (size_t i = 0; i < 32; i++)
        if (hexval(v.base[i]) < 0 || (v.base[i] >= 'A' && v.base[i] <= 'F')) return 0;
    return 1;
}

/* Finds the vault the route names and the caller's role on it. Returns 0, or
 * answers 404/403/503 and returns -1. */
static int authorize(vctx *ctx) {
    const vroute *r = ctx->route;
    const char *kind = NULL;
    h2o_iovec_t id = {NULL, 0};
    for (int i = 0; i < ctx->nparams && kind == NULL; i++) {
        if (strcmp(ctx->param_names[i], "vault") == 0 || strcmp(ctx->param_names[i], "note") == 0) {
            kind = ctx->param_names[i];
            id = ctx->params[i];
        }
    }
    if (kind == NULL) { /* a table entry with a role but no {vault} or {note} */
        vhttp_send_problem(ctx, 500, "Internal Server Error", "This route is misconfigured.");
        return -1;
    }
    int found = 0;
    if (is_hex_id(id)) {
        char key[33];
        memcpy(key, id.base, 32);
        key[32] = '\0';
        if (strcmp(kind, "vault") == 0) {
            memcpy(ctx->vault, key, 33);
            found = 1;
        } else {
            store_file *f = h2o_mem_alloc_shared(&ctx->req->pool, sizeof(*f), on_file_dispose);
            memset(f, 0, sizeof(*f));
            if (store_file_get(ctx->st, key, f) == STORE_OK) {
                memcpy(ctx->vault, f->vault, 33);
                ctx->file = f;
                found = 1;
            }
        }
    }
    store_role role = ROLE_NONE;
    if (found) {
        uint8_t key[32] = {0};
        for (int i = 0; i < 16; i++)
            key[i] = (uint8_t)(hexval(ctx->vault[2 * i]) * 16 + hexval(ctx->vault[2 * i + 1]));
        memcpy(key + 16, &ctx->user_id, sizeof(ctx->user_id));
        int64_t cached;
        int64_t now = auth_now_ms();
        int rc = STORE_OK;
        if (vcache_get(&ctx->srv->roles, key, now, &cached)) {
            role = (store_role)cached;
        } else {
            rc = store_member_role(ctx->st, ctx->vault, ctx->user_id, &role);
            if (rc == STORE_OK) vcache_put(&ctx->srv->roles, key, role, now);
        }
        if (rc == STORE_ENOTFOUND) {
            role = ROLE_NONE;
        } else if (rc != STORE_OK) {
            vhttp_send_problem(ctx, 503, "Service Unavailable", "The database did not answer.");
            return -1;
        }
    }
    if (role == ROLE_NONE) {
        /* The same answer whether it does not exist or is not yours. */
        vhttp_send_problem(ctx, 404, "Not Found",
                           strcmp(kind, "vault") == 0 ? "No such vault." : "No such note.");
        return -1;
    }
    ctx->role = role;
    store_role needed = r->access == ACCESS_OWNER    ? ROLE_OWNER
                        : r->access == ACCESS_EDITOR ? ROLE_EDITOR
                                                     : ROLE_VIEWER;
    if (role < needed) {
        vhttp_send_problem(ctx, 403, "Forbidden",
                           needed == ROLE_OWNER ? "Only the vault's owner may do this."
                                                : "Viewers may read but not change this vault.");
        return -1;
    }
    return 0;
}

static void client_address(h2o_req_t *req, char out[64]) {
    struct sockaddr_storage sa;
    out[0] = '\0';
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&sa);
    if (len == 0) return;
    if (sa.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&sa, out, 64);
    else if (sa.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&sa, out, 64);
}

/* Whether a route belongs to a role this process does not run: sync
 * endpoints to "sync", the rest of /api/ to "api". */
static bool route_role_off(const vhttp *srv, const char *pattern) {
    if (strncmp(pattern, "/api/v1/sync/", 13) == 0 ||
        strcmp(pattern, "/api/v1/vaults/{vault}/sync") == 0)
        return srv->no_sync;
    return strncmp(pattern, "/api/", 5) == 0 && srv->no_api;
}

void vhttp_set_roles(vhttp *srv, bool api, bool sync) {
    srv->no_api = !api;
    srv->no_sync = !sync;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
    vhttp *srv = ((dispatch_handler *)self)->srv;
    vctx *ctx = h2o_mem_alloc_pool(&req->pool, sizeof(*ctx));
    memset(ctx, 0, sizeof(*ctx));
    ctx->srv = srv;
    ctx->st = srv->st;
    ctx->docs = srv->docs;
    ctx->req = req;
    request_trace_id(req, ctx->trace_id);
    client_address(req, ctx->client_addr);
    env_set(req, "vn.trace", ctx->trace_id);
    {
        unsigned char span[8];
        char tp[64];
        trace_random(span, sizeof(span));
        snprintf(tp, sizeof(tp), "00-%s-%02x%02x%02x%02x%02x%02x%02x%02x-01", ctx->trace_id,
                 span[0], span[1], span[2], span[3], span[4], span[5], span[6], span[7]);
        vhttp_add_header(ctx, "traceparent", tp);
    }
    if (req->path.len > VHTTP_MAX_URL) {
        vhttp_send_problem(ctx, 414, "URI Too Long", "The request URL is longer than 4096 bytes.");
        return 0;
    }
    h2o_iovec_t path = req->path_normalized;
    int path_matched = 0;
    for (size_t i = 0; i < vroutes_len; i++) {
        if (!match_pattern(vroutes[i].pattern, path, ctx)) continue;
        path_matched = 1;
        if (!iovec_eq(req->method, vroutes[i].method)) continue;
        ctx->route = &vroutes[i];
        break;
    }
    if (ctx->route == NULL && !path_matched && srv->web != NULL && vweb_wants(req)) {
        env_set(req, "vn.route", "(web)");
        vweb_serve(srv->web, req);
        return 0;
    }
    if (ctx->route == NULL) {
        if (path_matched)
            vhttp_send_problem(ctx, 405, "Method Not Allowed",
                               "This resource does not accept that method.");
        else
            vhttp_send_problem(ctx, 404, "Not Found", "No such resource.");
        return 0;
    }
    env_set(req, "vn.route", ctx->route->pattern);
    if (route_role_off(srv, ctx->route->pattern)) {
        vhttp_send_problem(ctx, 404, "Not Found", "This server does not run that role.");
        return 0;
    }
    if (ctx->route->access != ACCESS_PUBLIC) {
        if (srv->st == NULL) {
            vhttp_send_problem(ctx, 503, "Service Unavailable", "This server has no database.");
            return 0;
        }
        if (auth_authenticate(ctx) != 0) return 0;
        if (ctx->route->access != ACCESS_USER && authorize(ctx) != 0) return 0;
    }
    if (parse_body(ctx) != 0) return 0;
    ctx->route->handler(ctx);
    return 0;
}

static void log_access(h2o_logger_t *self, h2o_req_t *req) {
    vhttp *srv = ((json_logger *)self)->srv;
    struct timeval now;
    gettimeofday(&now, NULL);
    double ms = (double)(now.tv_sec - req->timestamps.request_begin_at.tv_sec) * 1000.0 +
                (double)(now.tv_usec - req->timestamps.request_begin_at.tv_usec) / 1000.0;
    const char *route = env_get(req, "vn.route");
    const char *trace = env_get(req, "vn.trace");
    char method[16];
    snprintf(method, sizeof(method), "%.*s", (int)req->method.len, req->method.base);
    json_t *f = json_pack("{s:s, s:s, s:i, s:f, s:s}", "method", method, "route",
                          route != NULL ? route : "(none)", "status", req->res.status, "dur_ms", ms,
                          "trace_id", trace != NULL ? trace : "");
    vlog(VLOG_INFO, "request", f);
    vmetrics_request(srv->metrics, method, route, req->res.status, ms);
}

/* ---- connections and lifecycle ------------------------------------------- */

static void on_conn_closed(uv_handle_t *handle) {
    conn_handle *conn = (conn_handle *)handle;
    conn->srv->open_conns--;
    free(conn);
}

static void on_accept(uv_stream_t *listener, int status) {
    vhttp *srv = listener->data;
    if (status != 0 || srv->shutting_down) return;
    conn_handle *conn = malloc(sizeof(*conn));
    if (conn == NULL) return;
    uv_tcp_init(listener->loop, &conn->tcp);
    conn->srv = srv;
    srv->open_conns++;
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
        return;
    }
    /* Small writes (sync updates, short answers) go out at once: with Nagle
     * on, a write behind an unacknowledged one waits for the client's
     * delayed ACK, 40 ms (make bench-sync: peak sync throughput 420 -> 2,700
     * updates/s with 20 clients). */
    uv_tcp_nodelay(&conn->tcp, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&conn->tcp, on_conn_closed);
    h2o_accept(&srv->accept_ctx, sock);
}

int vhttp_new(uv_loop_t *loop, store *st, vdocs *docs, const char *host, int port, vhttp **out) {
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc != 0) rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    if (rc != 0) return rc;

    vhttp *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) return UV_ENOMEM;
    srv->metrics = vmetrics_new();
    if (srv->metrics == NULL) {
        free(srv);
        return UV_ENOMEM;
    }
    srv->loop = loop;
    srv->st = st;
    vcache_init(&srv->sessions, VHTTP_CACHE_TTL_MS);
    vcache_init(&srv->roles, VHTTP_CACHE_TTL_MS);
    srv->docs = docs;
    pthread_mutex_init(&srv->done_mu, NULL);

    h2o_config_init(&srv->config);
    srv->config.max_request_entity_size = VHTTP_MAX_BODY;
    h2o_hostconf_t *host_conf =
        h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path_conf = h2o_config_register_path(host_conf, "/", 0);
    dispatch_handler *handler = (dispatch_handler *)h2o_create_handler(path_conf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->srv = srv;
    json_logger *logger = (json_logger *)h2o_create_logger(path_conf, sizeof(*logger));
    logger->super.log_access = log_access;
    logger->srv = srv;

    h2o_context_init(&srv->ctx, loop, &srv->config);
    srv->accept_ctx.ctx = &srv->ctx;
    srv->accept_ctx.hosts = srv->config.hosts;

    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    uv_timer_init(loop, &srv->shutdown_timer);
    srv->shutdown_timer.data = srv;
    uv_async_init(loop, &srv->async, on_async);
    srv->async.data = srv;
    srv->handles_open = 3;
    if (docs != NULL && ((srv->sync = vsync_new(loop, st, docs, srv->metrics)) == NULL ||
                         (srv->vchan = vchan_new(srv, loop, st, docs)) == NULL)) {
        vhttp_shutdown(srv);
        uv_run(loop, UV_RUN_DEFAULT);
        vhttp_free(srv);
        return UV_ENOMEM;
    }
    rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_accept);
    if (rc == 0) {
        struct sockaddr_storage bound;
        int len = sizeof(bound);
        rc = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len);
        if (rc == 0)
            srv->port = bound.ss_family == AF_INET6
                            ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                            : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    if (rc != 0) {
        vhttp_shutdown(srv);
        uv_run(loop, UV_RUN_DEFAULT); /* until on_shutdown_tick stops it */
        vhttp_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int vhttp_port(const vhttp *srv) { return srv->port; }

void vhttp_set_web(vhttp *srv, struct vweb *web) { srv->web = web; }

static void on_handle_closed(uv_handle_t *handle) {
    vhttp *srv = handle->data;
    srv->handles_open--;
}

static void on_shutdown_tick(uv_timer_t *timer) {
    vhttp *srv = timer->data;
    int late = uv_now(srv->loop) - srv->shutdown_started >= SHUTDOWN_GRACE_MS;
    if (srv->open_conns > 0 && !late) return;
    if (srv->open_conns > 0)
        vlog(VLOG_WARN, "closing connections that outlived the shutdown grace period",
             json_pack("{s:i}", "connections", srv->open_conns));
    uv_timer_stop(timer);
    uv_close((uv_handle_t *)timer, on_handle_closed);
    /* h2o keeps timers of its own on the loop: stop it explicitly. */
    uv_stop(srv->loop);
}

void vhttp_shutdown(vhttp *srv) {
    if (srv->shutting_down) return;
    srv->shutting_down = 1;
    srv->shutdown_started = uv_now(srv->loop);
    uv_close((uv_handle_t *)&srv->listener, on_handle_closed);
    vsync_shutdown(srv->sync);
    vchan_shutdown(srv->vchan);
    h2o_context_request_shutdown(&srv->ctx);
    uv_timer_start(&srv->shutdown_timer, on_shutdown_tick, 0, SHUTDOWN_POLL_MS);
}

void vhttp_free(vhttp *srv) {
    if (srv == NULL) return;
    /* Answers still queued go to requests that can no longer be served:
     * run them so their owners release what they hold. */
    on_async(&srv->async);
    vchan_free(srv->vchan);
    srv->vchan = NULL;
    vsync_free(srv->sync);
    srv->sync = NULL;
    if (!uv_is_closing((uv_handle_t *)&srv->async))
        uv_close((uv_handle_t *)&srv->async, on_handle_closed);
    /* Let the loop retire the handles closed above and by vhttp_shutdown. */
    while (srv->handles_open > 0 && uv_run(srv->loop, UV_RUN_NOWAIT) != 0) {
    }
    if (!srv->shutting_down) return; /* misuse: keep everything alive */
    /* h2o 2.2's graceful shutdown leaves entries on the context's timeouts,
     * and h2o_context_dispose asserts that they are empty; so the context,
     * its configuration and srv stay allocated until the process exits.
     * vaultd has one server per process, so nothing accumulates. */
}
