/*
 * http.h - the HTTP front of vaultd: h2o on a libuv loop, one route table.
 *
 * Every route is one line in the table in routes.c (method, pattern, handler,
 * required access), so tests can walk it. Before a handler runs, the
 * dispatcher has matched the pattern, authenticated the caller when the
 * route needs it, checked the caller's role on the vault the route names,
 * and parsed a JSON body within the limits. A request nobody may see answers
 * 404 exactly as a missing one does, so existence never leaks.
 *
 * The server logs one JSON line per request (method, route pattern, status,
 * dur_ms, trace id) after the response, and answers every request with a W3C
 * traceparent header carrying the same trace id.
 *
 * Threading: everything here runs on the loop thread, except
 * vhttp_complete(), which any thread may call.
 */
#ifndef VN_HTTP_H
#define VN_HTTP_H

#include <h2o.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/docs.h"
#include "store/store.h"

typedef struct vhttp vhttp;

/* Limits on what a client may send; each answered with its own 4xx. */
#define VHTTP_MAX_BODY       (8u << 20) /* 413 */
#define VHTTP_MAX_JSON_DEPTH 32         /* 400 */
#define VHTTP_MAX_URL        4096       /* 414 */
#define VHTTP_MAX_PARAMS     4

/* Who may call a route. Roles are on the vault named by the route's {vault}
 * parameter, or on the vault holding the file named by {note}. */
typedef enum {
    ACCESS_PUBLIC, /* anyone */
    ACCESS_USER,   /* any signed-in user */
    ACCESS_VIEWER, /* a member with at least this role */
    ACCESS_EDITOR,
    ACCESS_OWNER
} vaccess;

/* One request as a handler sees it. Lives in the request's memory pool. */
typedef struct vctx {
    vhttp *srv;
    store *st;
    vdocs *docs;
    h2o_req_t *req;
    const struct vroute *route;
    h2o_iovec_t params[VHTTP_MAX_PARAMS]; /* values of the pattern's {..} */
    const char *param_names[VHTTP_MAX_PARAMS];
    int nparams;
    int64_t user_id;  /* 0 when not signed in */
    store_role role;  /* the caller's role on the route's vault */
    char vault[33];   /* the route's vault, when it has one */
    store_file *file; /* the route's {note} as the role check read it, or NULL;
                         owned by the request (see vctx_take_file) */
    json_t *body;     /* the parsed JSON body, or NULL; freed by the server */
    char trace_id[33];
    char client_addr[64];
} vctx;

/* A handler answers ctx->req (with the vhttp_send_* functions) before it
 * returns, or defers the answer with vhttp_defer(). */
typedef void (*vroute_fn)(vctx *ctx);

typedef struct vroute {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/v1/notes/{note}": {name} matches one segment */
    vroute_fn handler;
    vaccess access;
} vroute;

/* The route table (routes.c) and its length. */
extern const vroute vroutes[];
extern const size_t vroutes_len;

/* Creates the server on `loop` with store `st` and document cache `docs`
 * (both borrowed; may be NULL for a server without a database) and binds `host:port` (port 0 picks
 * a free one). On success returns 0 and *out owns the server; on failure returns a negative libuv
 * error code and nothing is left open. */
int vhttp_new(uv_loop_t *loop, store *st, vdocs *docs, const char *host, int port, vhttp **out);

/* Which roles this server answers: without `api` every /api/ route but
 * the sync endpoint answers 404, without `sync` the sync endpoint does;
 * /healthz, /readyz and /metrics always answer. Both on by default. */
void vhttp_set_roles(vhttp *srv, bool api, bool sync);

/* The port actually bound (useful with port 0). */
int vhttp_port(const vhttp *srv);

/* Serves the web app's files (web.h) for GET paths no route claims; `web`
 * is borrowed and must outlive the server. NULL (the default) serves none. */
struct vweb;
void vhttp_set_web(vhttp *srv, struct vweb *web);

/* Stops accepting and asks open connections to finish. The loop stops once
 * they are closed (or after a grace period). Safe to call twice. */
void vhttp_shutdown(vhttp *srv);

/* Retires the server's handles after vhttp_shutdown() and the loop's end.
 * The h2o context itself lives until the process exits (h2o 2.2 cannot
 * dispose a context after a graceful shutdown), so call this once, at
 * exit, and keep `srv` reachable. NULL is a no-op. */
void vhttp_free(vhttp *srv);

/* ---- answering ------------------------------------------------------------ */

/* Sends `status` with `body` as JSON. `body` is consumed (decref'd). */
void vhttp_send_json(vctx *ctx, int status, json_t *body);

/* Sends raw bytes with a content type (both copied). */
void vhttp_send_raw(vctx *ctx, int status, const char *type, const char *data, size_t len);

/* Sends an RFC 9457 problem: {"type","title","status","detail"} as
 * application/problem+json. `detail` is a sentence for a person. */
void vhttp_send_problem(vctx *ctx, int status, const char *title, const char *detail);

/* Adds a response header (name and value copied into the request's pool). */
void vhttp_add_header(vctx *ctx, const char *name, const char *value);

/* The value of request header `name` (case-insensitive), or an empty iovec. */
h2o_iovec_t vhttp_header(const vctx *ctx, const char *name);

/* The route parameter `name` as a NUL-terminated string in the request's
 * pool, or NULL. */
const char *vctx_param(const vctx *ctx, const char *name);

/* Checks the JSON body: an object whose keys are all among `keys`
 * (NULL-terminated), key i of JSON type types[i] (types NULL: all strings),
 * and the first `nrequired` keys present. Returns 0, or answers 400 (not an
 * object, unknown key) or 422 (wrong type, missing key) and returns -1. */
int vctx_body_fields(vctx *ctx, const char *const *keys, const json_type *types, int nrequired);

/* Hands the caller the {note} row the dispatcher read while checking the
 * role (so the handler need not read it again): returns 0 and fills *out
 * (caller frees with store_file_free), or -1 if there is none. */
int vctx_take_file(vctx *ctx, store_file *out);

/* The query parameter `name`, percent-decoded, in the request's pool, or
 * NULL if absent. */
const char *vctx_query(const vctx *ctx, const char *name);

/* ---- answering later ------------------------------------------------------ */

typedef struct vdeferred vdeferred;

/* Marks the request as answered later. Returns a handle to pass to
 * vhttp_complete() from any thread, exactly once. `fn` then runs on the loop
 * thread with `ud` and the request context, or with ctx == NULL if the
 * client went away meanwhile (fn must then only release ud). */
typedef void (*vdeferred_fn)(vctx *ctx, void *ud);
vdeferred *vhttp_defer(vctx *ctx, vdeferred_fn fn, void *ud);
void vhttp_complete(vdeferred *d);

/* The server's caches of sessions (token hash -> user id) and roles
 * ((vault, user) -> store_role), borrowed; see cache.h. */
struct vcache *vhttp_session_cache(vhttp *srv);
struct vcache *vhttp_role_cache(vhttp *srv);

/* How long a cached session or role is trusted (changes made through this
 * process take effect at once; others within this bound). */
#define VHTTP_CACHE_TTL_MS 1000

/* The server's metrics (metrics.h), borrowed. */
struct vmetrics *vhttp_metrics(vhttp *srv);

/* The server's sync connections (sync.h), borrowed; NULL without a
 * document cache. */
struct vsync *vhttp_sync(vhttp *srv);

/* The server's vault channels (vchan.h), borrowed; NULL without a document
 * cache. */
struct vchan *vhttp_vchan(vhttp *srv);

#endif /* VN_HTTP_H */
