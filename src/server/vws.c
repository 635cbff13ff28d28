/*
 * vws.c - h2o WebSocket connections that hold no wslay context while idle
 * (see vws.h).
 *
 * h2o's connection object (h2o_websocket_conn_t) keeps its wslay context
 * in the public field ws_ctx and the callbacks it gave wslay in
 * ws_callbacks. This module replaces the context h2o made at the upgrade
 * (before any byte went through it) with one whose receive callback counts
 * bytes and then calls h2o's, frees it when idle, and makes it again with
 * the same callbacks and limit when needed.
 *
 * Invariants: ws_ctx is NULL only while released, and then the socket
 * reads through on_idle_recv (h2o's own read callback would run wslay);
 * a context is released only when h2o is not writing, so h2o's write
 * completion (which runs wslay) never finds it NULL; `received` and
 * `framed` count for the current context only.
 */
#include "server/vws.h"

#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* malloc_trim runs when the number of contexts (about 8.5 KB each) has
 * fallen by this much since its highest point after the last trim: after
 * a crowd of connections went idle, not while connections merely take
 * turns (each trim walks the whole heap: 5-20 ms with 10,000 connections). */
#define TRIM_DROP 256

/* Bytes gathered for one write at most (a larger message goes out in
 * pieces of this size). */
#define OUT_MAX (64u << 10)

/* h2o's callbacks (the same for every connection), with the receive
 * callback replaced by count_recv, which calls h2o_recv, frame callbacks
 * (h2o sets none) that count what wslay has parsed, and the send callback
 * replaced by gather_send. */
static struct wslay_event_callbacks callbacks;
static wslay_event_recv_callback h2o_recv;
static size_t released_now;            /* connections without a context */
static size_t contexts, contexts_peak; /* contexts of counted connections; highest since a trim */

static void context_made(void) {
    if (++contexts > contexts_peak) contexts_peak = contexts;
}

static ssize_t count_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user) {
    h2o_websocket_conn_t *ws = user;
    vws *w = ws->data;
    ssize_t n = h2o_recv(ctx, buf, len, flags, user);
    if (n > 0) w->received += (uint64_t)n;
    return n;
}

static void on_msg(h2o_websocket_conn_t *ws, const struct wslay_event_on_msg_recv_arg *arg);

/* The gathered frames are on the wire: take more from wslay, as h2o's own
 * write completion does. */
static void on_out_written(h2o_socket_t *sock, const char *err) {
    h2o_websocket_conn_t *ws = sock->data;
    vws *w = ws->data;
    w->out_len = 0;
    if (err != NULL) {
        on_msg(ws, NULL);
        return;
    }
    h2o_websocket_proceed(ws);
}

static void flush_out(h2o_websocket_conn_t *ws, vws *w) {
    h2o_iovec_t buf = h2o_iovec_init(w->out, w->out_len);
    h2o_socket_write(ws->sock, &buf, 1, on_out_written);
}

/* Makes room for n more gathered bytes. Returns 0, or -1 when out of
 * memory (nothing changed). */
static int reserve_out(vws *w, size_t n) {
    if (w->out_cap - w->out_len >= n) return 0;
    size_t cap = w->out_cap != 0 ? w->out_cap : 256;
    while (cap - w->out_len < n) cap *= 2;
    uint8_t *p = realloc(w->out, cap);
    if (p == NULL) return -1;
    w->out = p;
    w->out_cap = cap;
    return 0;
}

/* Payload length of a server frame from its header (RFC 6455 5.2; a
 * server's frames are not masked). */
static uint64_t header_payload(const uint8_t *h, size_t len) {
    uint64_t n = h[1] & 0x7f;
    if (n == 126 && len >= 4) return (uint64_t)h[2] << 8 | h[3];
    if (n == 127 && len >= 10) {
        n = 0;
        for (int i = 2; i < 10; i++) n = n << 8 | h[i];
    }
    return n;
}

/* wslay's send callback: wslay calls it with a frame's header (whole,
 * WSLAY_MSG_MORE when a payload follows), then with the payload. Bytes are
 * gathered in w->out; the write starts at the end of a frame when no other
 * message is queued (wslay_event_send has no more to give: the current
 * message still counts as queued while it is being sent) or when the frame
 * is a close (wslay sends nothing after it), or once OUT_MAX bytes are
 * gathered. While a write is under way wslay is told to wait; h2o's
 * completion then proceeds again. */
static ssize_t gather_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                           void *user) {
    (void)flags;
    h2o_websocket_conn_t *ws = user;
    vws *w = ws->data;
    if (h2o_socket_is_writing(ws->sock) || w->out_len >= OUT_MAX) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len;
    if (w->frame_open && n > OUT_MAX - w->out_len) n = OUT_MAX - w->out_len;
    if (reserve_out(w, n) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_NOMEM);
        return -1;
    }
    memcpy(w->out + w->out_len, data, n);
    w->out_len += n;
    if (!w->frame_open) {
        w->frame_close = (data[0] & 0x0f) == WSLAY_CONNECTION_CLOSE;
        w->frame_left = header_payload(data, len);
        w->frame_open = w->frame_left > 0;
    } else {
        w->frame_left -= n;
        w->frame_open = w->frame_left > 0;
    }
    if (w->out_len >= OUT_MAX ||
        (!w->frame_open && (w->frame_close || wslay_event_get_queued_msg_count(ctx) <= 1)))
        flush_out(ws, w);
    return (ssize_t)n;
}

/* Bytes on the wire of a client's (masked) frame of len payload bytes,
 * with the shortest length encoding (RFC 6455 5.2). */
static uint64_t frame_size(uint64_t len) {
    return 2 + 4 + (len < 126 ? 0 : len <= 0xffff ? 2 : 8) + len;
}

static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *user) {
    (void)ctx;
    h2o_websocket_conn_t *ws = user;
    vws *w = ws->data;
    w->frame_len = arg->payload_length;
    /* A data frame without FIN starts (or continues) a message in pieces;
     * control frames may come between the pieces. */
    if (!wslay_is_ctrl_frame(arg->opcode)) w->in_message = !arg->fin;
    w->active = true;
}

static void on_frame_end(wslay_event_context_ptr ctx, void *user) {
    (void)ctx;
    h2o_websocket_conn_t *ws = user;
    vws *w = ws->data;
    w->framed += frame_size(w->frame_len);
}

static void on_msg(h2o_websocket_conn_t *ws, const struct wslay_event_on_msg_recv_arg *arg) {
    vws *w = ws->data;
    if (arg != NULL) w->active = true;
    w->cb(w->data, arg);
}

/* A fresh context for w, with h2o's callbacks (counting) and w's limit.
 * Returns 0, or -1 when out of memory (w unchanged). */
static int make_ctx(vws *w, wslay_event_context_ptr *out) {
    if (wslay_event_context_server_init(out, &callbacks, w->ws) != 0) return -1;
    wslay_event_config_set_max_recv_msg_length(*out, w->max_msg);
    return 0;
}

/* Frees the socket's input buffer when it holds nothing: a read that
 * found no byte leaves an empty 8 KB buffer behind. */
static void drop_empty_input(h2o_socket_t *sock) {
    h2o_buffer_t *in = sock->input;
    if (in->size != 0 || in->bytes == NULL) return;
    h2o_buffer_prototype_t *proto = in->_prototype;
    h2o_buffer_dispose(&sock->input);
    h2o_buffer_init(&sock->input, proto);
}

/* Reads of a released connection: bytes make a context again and go to
 * h2o; an error ends the connection as h2o's own callback does. */
static void on_idle_recv(h2o_socket_t *sock, const char *err) {
    h2o_websocket_conn_t *ws = sock->data;
    if (err == NULL && sock->input->size == 0) {
        drop_empty_input(sock);
        return;
    }
    if (err == NULL && vws_ctx(ws->data) == NULL) err = "out of memory";
    if (err != NULL) {
        on_msg(ws, NULL);
        return;
    }
    h2o_websocket_proceed(ws);
}

void vws_upgrade(vws *w, h2o_req_t *req, const char *client_key, size_t max_msg, vws_msg_fn cb,
                 void *data) {
    w->cb = cb;
    w->data = data;
    w->max_msg = max_msg;
    w->received = w->framed = 0;
    w->in_message = false;
    w->active = true;
    w->out = NULL;
    w->out_len = w->out_cap = 0;
    w->frame_left = 0;
    w->frame_open = w->frame_close = false;
    w->ws = h2o_upgrade_to_websocket(req, client_key, w, on_msg);
    if (h2o_recv == NULL) {
        callbacks = w->ws->ws_callbacks;
        h2o_recv = callbacks.recv_callback;
        callbacks.recv_callback = count_recv;
        callbacks.on_frame_recv_start_callback = on_frame_start;
        callbacks.on_frame_recv_end_callback = on_frame_end;
        callbacks.send_callback = gather_send;
    }
    /* No byte has gone through h2o's context yet (h2o starts wslay once
     * the 101 answer is written): swap it for a counting one. */
    wslay_event_context_ptr ctx;
    w->counted = make_ctx(w, &ctx) == 0;
    if (w->counted) {
        wslay_event_context_free(w->ws->ws_ctx);
        w->ws->ws_ctx = ctx;
        context_made();
    } else if (w->ws->ws_ctx != NULL) { /* keep h2o's, which is never released */
        wslay_event_config_set_max_recv_msg_length(w->ws->ws_ctx, max_msg);
    }
}

wslay_event_context_ptr vws_ctx(vws *w) {
    w->active = true;
    if (w->ws->ws_ctx == NULL) {
        wslay_event_context_ptr ctx;
        if (make_ctx(w, &ctx) != 0) return NULL;
        w->ws->ws_ctx = ctx;
        w->received = w->framed = 0;
        if (w->counted) released_now--; /* else no context since the upgrade (out of memory) */
        w->counted = true;
        context_made();
    }
    return w->ws->ws_ctx;
}

size_t vws_queued_length(const vws *w) {
    return w->ws->ws_ctx != NULL ? wslay_event_get_queued_msg_length(w->ws->ws_ctx) : 0;
}

bool vws_open(const vws *w) { return w->ws->sock != NULL; }

void vws_proceed(vws *w) {
    if (w->ws->sock == NULL || w->ws->ws_ctx == NULL) return;
    h2o_websocket_proceed(w->ws);
}

void vws_sweep(vws *w) {
    h2o_websocket_conn_t *ws = w->ws;
    wslay_event_context_ptr ctx = ws->ws_ctx;
    if (ctx == NULL || ws->sock == NULL || !w->counted) return;
    if (w->active) {
        w->active = false; /* idle from now on, if nothing happens until the next sweep */
        return;
    }
    if (w->received != w->framed || w->in_message || ws->sock->input->size != 0 ||
        h2o_socket_is_writing(ws->sock) || w->out_len != 0 || wslay_event_want_write(ctx) ||
        wslay_event_get_queued_msg_count(ctx) != 0 || !wslay_event_get_read_enabled(ctx) ||
        !wslay_event_get_write_enabled(ctx) || wslay_event_get_close_received(ctx) ||
        wslay_event_get_close_sent(ctx))
        return;
    wslay_event_context_free(ctx);
    ws->ws_ctx = NULL;
    /* h2o's copy of the last frame it wrote (it reallocates it per write),
     * if it wrote any before the context was swapped, and ours. */
    free(ws->_write_buf);
    ws->_write_buf = NULL;
    free(w->out);
    w->out = NULL;
    w->out_cap = 0;
    drop_empty_input(ws->sock);
    h2o_socket_read_start(ws->sock, on_idle_recv);
    released_now++;
    contexts--;
}

void vws_trim(void) {
    if (contexts_peak - contexts < TRIM_DROP) return;
    contexts_peak = contexts;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

size_t vws_released(void) { return released_now; }

void vws_close(vws *w) {
    if (w->counted && w->ws->ws_ctx == NULL)
        released_now--;
    else if (w->counted)
        contexts--;
    h2o_websocket_close(w->ws);
    /* A write under way was cancelled with the socket. */
    free(w->out);
    w->out = NULL;
    w->out_len = w->out_cap = 0;
}
