/*
 * http.h - the HTTP front of vaultd: h2o on a libuv loop, one route table.
 *
 * Every route is one line in the table in routes.c (method, pattern,
 * handler), so tests can walk it. The server logs one JSON line per request
 * (method, path, status, duration, trace id) after the response is sent.
 */
#ifndef VN_HTTP_H
#define VN_HTTP_H

#include <h2o.h>
#include <uv.h>

typedef struct vhttp vhttp;

/* A route handler: answers `req` (or returns -1 to fall through to 404). */
typedef int (*vroute_fn)(vhttp *srv, h2o_req_t *req);

typedef struct {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* exact path for now, e.g. "/healthz" */
    vroute_fn handler;
} vroute;

/* The route table (routes.c) and its length. */
extern const vroute vroutes[];
extern const size_t vroutes_len;

/* Creates the server on `loop` and binds `host:port` (port 0 picks a free
 * one). On success returns 0 and *out owns the server; on failure returns a
 * negative libuv error code and nothing is left open. Free with vhttp_free()
 * after the loop has stopped. */
int vhttp_new(uv_loop_t *loop, const char *host, int port, vhttp **out);

/* The port actually bound (useful with port 0). */
int vhttp_port(const vhttp *srv);

/* Stops accepting and asks open connections to finish. The loop ends once
 * they are closed. Safe to call twice. */
void vhttp_shutdown(vhttp *srv);

/* Retires the server's handles after vhttp_shutdown() and the loop's end.
 * The h2o context itself lives until the process exits (h2o 2.2 cannot
 * dispose a context after a graceful shutdown), so call this once, at
 * exit, and keep `srv` reachable. NULL is a no-op. */
void vhttp_free(vhttp *srv);

/* Sends `status` with a JSON body (copied into the request's pool). */
void vhttp_send_json(h2o_req_t *req, int status, const char *reason, const char *json, size_t len);

#endif /* VN_HTTP_H */
