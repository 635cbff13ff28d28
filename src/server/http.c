/*
 * http.c - vaultd's HTTP server: h2o (HTTP/1.1 and HTTP/2) on libuv.
 *
 * One h2o handler receives every request and dispatches it through the route
 * table (routes.c); one h2o logger writes a JSON line per request. Shutdown
 * closes the listener, asks h2o to wind connections down, and stops the loop
 * once every accepted connection has closed (or after a grace period).
 *
 * Invariant: `open_conns` counts accepted sockets whose uv handle is not yet
 * closed; it is decremented only in on_conn_closed.
 */
#include "server/http.h"

#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#define SHUTDOWN_GRACE_MS 5000
#define SHUTDOWN_POLL_MS  50

struct vhttp {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t shutdown_timer;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int port;
    int open_conns;
    int shutting_down;
    uint64_t shutdown_started;
    int handles_open; /* listener and timer: closed by vhttp_shutdown */
};

typedef struct {
    h2o_handler_t super;
    vhttp *srv;
} dispatch_handler;

typedef struct {
    h2o_logger_t super;
} json_logger;

/* An accepted connection. h2o owns handle.data, so the server is kept
 * beside the handle (which must stay the first member). */
typedef struct {
    uv_tcp_t tcp;
    vhttp *srv;
} conn_handle;

void vhttp_send_json(h2o_req_t *req, int status, const char *reason, const char *json, size_t len) {
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, json, len);
}

static int iovec_eq(h2o_iovec_t v, const char *s) {
    size_t n = strlen(s);
    return v.len == n && memcmp(v.base, s, n) == 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
    vhttp *srv = ((dispatch_handler *)self)->srv;
    /* The path without its query string. */
    h2o_iovec_t path = req->path_normalized;
    int path_matched = 0;
    for (size_t i = 0; i < vroutes_len; i++) {
        if (!iovec_eq(path, vroutes[i].pattern)) continue;
        path_matched = 1;
        if (!iovec_eq(req->method, vroutes[i].method)) continue;
        if (vroutes[i].handler(srv, req) == 0) return 0;
    }
    if (path_matched) {
        static const char body[] =
            "{\"type\":\"about:blank\",\"title\":\"Method Not Allowed\","
            "\"status\":405,\"detail\":\"This path does not accept that method.\"}";
        req->res.status = 405;
        req->res.reason = "Method Not Allowed";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/problem+json"));
        h2o_send_inline(req, body, sizeof(body) - 1);
        return 0;
    }
    static const char body[] = "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
                               "\"detail\":\"No such resource.\"}";
    req->res.status = 404;
    req->res.reason = "Not Found";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/problem+json"));
    h2o_send_inline(req, body, sizeof(body) - 1);
    return 0;
}

/* The W3C trace id of the request: taken from a valid `traceparent` header,
 * else a fresh random one. `out` receives 32 hex digits and a NUL. */
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
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) memset(raw, 0, sizeof(raw));
    for (int k = 0; k < 16; k++) snprintf(out + 2 * k, 3, "%02x", raw[k]);
}

static void log_access(h2o_logger_t *self, h2o_req_t *req) {
    (void)self;
    struct timeval now;
    gettimeofday(&now, NULL);
    double ms = (double)(now.tv_sec - req->timestamps.request_begin_at.tv_sec) * 1000.0 +
                (double)(now.tv_usec - req->timestamps.request_begin_at.tv_usec) / 1000.0;
    char trace[33];
    request_trace_id(req, trace);
    /* Log the path without the query string: it may carry a token. */
    size_t plen = req->path.len;
    const char *q = memchr(req->path.base, '?', plen);
    if (q != NULL) plen = (size_t)(q - req->path.base);
    json_t *f = json_pack("{s:s%, s:s%, s:i, s:f, s:I, s:s, s:s}", "method", req->method.base,
                          req->method.len, "path", req->path.base, plen, "status", req->res.status,
                          "duration_ms", ms, "bytes", (json_int_t)req->bytes_sent, "protocol",
                          req->version >= 0x200 ? "HTTP/2" : "HTTP/1.1", "trace_id", trace);
    vlog(VLOG_INFO, "request", f);
}

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
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&conn->tcp, on_conn_closed);
    h2o_accept(&srv->accept_ctx, sock);
}

int vhttp_new(uv_loop_t *loop, const char *host, int port, vhttp **out) {
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc != 0) rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    if (rc != 0) return rc;

    vhttp *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) return UV_ENOMEM;
    srv->loop = loop;

    h2o_config_init(&srv->config);
    h2o_hostconf_t *host_conf =
        h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path_conf = h2o_config_register_path(host_conf, "/", 0);
    dispatch_handler *handler = (dispatch_handler *)h2o_create_handler(path_conf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->srv = srv;
    json_logger *logger = (json_logger *)h2o_create_logger(path_conf, sizeof(*logger));
    logger->super.log_access = log_access;

    h2o_context_init(&srv->ctx, loop, &srv->config);
    srv->accept_ctx.ctx = &srv->ctx;
    srv->accept_ctx.hosts = srv->config.hosts;

    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    uv_timer_init(loop, &srv->shutdown_timer);
    srv->shutdown_timer.data = srv;
    srv->handles_open = 2;
    rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, 128, on_accept);
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
        /* Undo: close our handles and let the loop retire them. */
        vhttp_shutdown(srv);
        uv_run(loop, UV_RUN_DEFAULT); /* until on_shutdown_tick stops it */
        vhttp_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int vhttp_port(const vhttp *srv) { return srv->port; }

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
    h2o_context_request_shutdown(&srv->ctx);
    uv_timer_start(&srv->shutdown_timer, on_shutdown_tick, 0, SHUTDOWN_POLL_MS);
}

void vhttp_free(vhttp *srv) {
    if (srv == NULL) return;
    /* Let the loop retire the handles vhttp_shutdown closed. */
    while (srv->handles_open > 0 && uv_run(srv->loop, UV_RUN_NOWAIT) != 0) {
    }
    if (!srv->shutting_down) return; /* misuse: keep everything alive */
    /* h2o 2.2's graceful shutdown leaves entries on the context's timeouts,
     * and h2o_context_dispose asserts that they are empty; so the context,
     * its configuration and srv stay allocated until the process exits.
     * vaultd has one server per process, so nothing accumulates. */
}
