/*
 * vws.c - the server's WebSocket connections (see vws.h).
 *
 * h2o's connection object (h2o_websocket_conn_t) keeps its wslay context
 * in the public field ws_ctx and the callbacks it gave wslay in
 * ws_callbacks. This module replaces the context h2o made at the upgrade
 * (before any byte went through it) with one whose receive callback counts
 * bytes and then calls h2o's, frees it when idle, and makes it again with
 * the same callbacks and limit when needed.
 *
 * Frames are gathered per connection and written to the socket's file
 * descriptor directly while h2o is not writing (flush_out); h2o writes only
 * what the kernel did not take. Plain sockets only: vaultd serves no TLS
 * itself (a socket with TLS state always goes through h2o).
 *
 * Invariants: ws_ctx is NULL only while released, and then the socket
 * reads through on_idle_recv (h2o's own read callback would run wslay);
 * a context is released only when h2o is not writing, so h2o's write
 * completion (which runs wslay) never finds it NULL; `received` and
 * `framed` count for the current context only.
 */
#include "server/vws.h"

#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* malloc_trim runs when the number of contexts (about 8.5 KB each) has
 * fallen by this much since its highest point after the last trim: after
 * a crowd of connections went idle, not while connections merely take
 * turns (each trim walks the whole heap: 5-20 ms with 10,000 connections). */
#define TRIM_DROP 256

#define SWEEP_MS       1000 /* the sweep of idle and unanswered connections */
#define CLOSE_GRACE_MS 5000 /* a close unanswered for this long drops the socket */

enum { CLOSE_UNSUPPORTED_DATA = 1003, CLOSE_INTERNAL = 1011, CLOSE_TRY_AGAIN_LATER = 1013 };

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

static wslay_event_context_ptr ctx_of(vws *w);

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

/* Sends the gathered bytes. While h2o is not writing (so nothing of its
 * own waits to go before them) they are written to the socket at once: a
 * write the kernel takes whole costs no libuv write request, no change of
 * the event loop's registration (libuv re-registers a stream after every
 * write it completes) and no completion callback, and wslay goes straight
 * on with the next message. What the kernel does not take, and any error,
 * is handed to h2o, whose completion (on_out_written) carries on. */
static void flush_out(h2o_websocket_conn_t *ws, vws *w) {
    h2o_socket_t *sock = ws->sock;
    size_t done = 0;
    if (sock->ssl == NULL && !h2o_socket_is_writing(sock)) {
        int fd = h2o_socket_get_fd(sock);
        while (fd >= 0 && done < w->out_len) {
            ssize_t n = write(fd, w->out + done, w->out_len - done);
            if (n > 0)
                done += (size_t)n;
            else if (n < 0 && errno == EINTR)
                continue;
            else
                break;
        }
    }
    if (done == w->out_len) {
        w->out_len = 0;
        return;
    }
    memmove(w->out, w->out + done, w->out_len - done);
    w->out_len -= done;
    h2o_iovec_t buf = h2o_iovec_init(w->out, w->out_len);
    h2o_socket_write(sock, &buf, 1, on_out_written);
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

/* h2o's message callback: a message, or the end of the connection (NULL). */
static void on_msg(h2o_websocket_conn_t *ws, const struct wslay_event_on_msg_recv_arg *arg) {
    vws *w = ws->data;
    vws_hub *h = w->hub;
    if (arg == NULL) {
        h->fn.gone(w->data);
        return;
    }
    w->active = true;
    if (wslay_is_ctrl_frame(arg->opcode)) return; /* wslay answers pings and closes */
    if (h->fn.received != NULL) h->fn.received(h->owner, arg->msg_length);
    if (w->closing) return;
    if (arg->opcode != WSLAY_BINARY_FRAME) {
        vws_shut(w, CLOSE_UNSUPPORTED_DATA, "send binary messages");
        return;
    }
    h->fn.msg(w->data, arg->msg, arg->msg_length);
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
    if (err == NULL && ctx_of(ws->data) == NULL) err = "out of memory";
    if (err != NULL) {
        on_msg(ws, NULL);
        return;
    }
    h2o_websocket_proceed(ws);
}

void vws_upgrade(vws *w, vws_hub *h, h2o_req_t *req, const char *client_key, size_t max_msg,
                 void *data) {
    *w = (vws){.hub = h, .data = data, .max_msg = max_msg, .active = true};
    w->next = h->conns;
    if (h->conns != NULL) h->conns->prev = w;
    h->conns = w;
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

/* The connection's wslay context, made again if it was released: call it
 * before queueing anything. NULL when out of memory. */
static wslay_event_context_ptr ctx_of(vws *w) {
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

/* Bytes of the messages queued on w (0 while released). */
static size_t queued_length(const vws *w) {
    return w->ws->ws_ctx != NULL ? wslay_event_get_queued_msg_length(w->ws->ws_ctx) : 0;
}

bool vws_open(const vws *w) { return w->ws->sock != NULL; }

/* Runs h2o's send and receive loop on w (h2o_websocket_proceed), once the
 * upgrade is out and if it has a context. h2o may call back with the end
 * of the connection. */
static void proceed(vws *w) {
    if (w->ws->sock == NULL || w->ws->ws_ctx == NULL) return;
    h2o_websocket_proceed(w->ws);
}

/* Releases w's wslay context if w has been idle since the previous sweep
 * (vws.h). */
static void sweep(vws *w) {
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

/* Gives freed memory back to the system (malloc_trim) when the number of
 * contexts has fallen by TRIM_DROP since its highest point after the last
 * trim. */
static void trim(void) {
    if (contexts_peak - contexts < TRIM_DROP) return;
    contexts_peak = contexts;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

size_t vws_released(void) { return released_now; }

/* ---- sending and closing --------------------------------------------------- */

static void mark_dirty(vws *w) {
    vws_hub *h = w->hub;
    if (!w->dirty) {
        w->dirty = true;
        w->next_dirty = h->dirty;
        h->dirty = w;
    }
    uv_async_send(&h->async);
}

void vws_shut(vws *w, int code, const char *reason) {
    if (w->closing) return;
    w->closing = true;
    w->closing_since = uv_now(w->hub->loop);
    w->hub->fn.closing(w->data, code, reason);
    /* Out of memory for a context: the sweep drops the socket later. */
    wslay_event_context_ptr ctx = ctx_of(w);
    if (ctx == NULL) return;
    wslay_event_queue_close(ctx, (uint16_t)code, (const uint8_t *)reason, strlen(reason));
    mark_dirty(w);
}

/* Bytes of a server frame's header for a payload of len bytes (RFC 6455
 * 5.2: the shortest length encoding, no mask). */
static size_t header_size(size_t len) { return len < 126 ? 2 : len <= 0xffff ? 4 : 10; }

/* Whether a message of len bytes may be framed straight into w->out: the
 * socket is w's, nothing waits in wslay (whose frames must keep their
 * order) and no close went out, h2o is not writing from the buffer, and
 * the frame fits in one gathered write. */
static bool frame_directly(const vws *w, wslay_event_context_ptr ctx, size_t len) {
    return w->ws->sock != NULL && !h2o_socket_is_writing(w->ws->sock) && !w->frame_open &&
           wslay_event_get_queued_msg_count(ctx) == 0 && !wslay_event_get_close_sent(ctx) &&
           w->out_len + header_size(len) + len <= OUT_MAX;
}

/* Appends msg to w->out as one unmasked binary frame with FIN set, as wslay
 * would have framed it. Returns 0, or -1 when out of memory (nothing
 * changed). */
static int frame_into_out(vws *w, const uint8_t *msg, size_t len) {
    size_t hlen = header_size(len);
    if (reserve_out(w, hlen + len) != 0) return -1;
    uint8_t *p = w->out + w->out_len;
    p[0] = 0x80 | WSLAY_BINARY_FRAME;
    if (hlen == 2) {
        p[1] = (uint8_t)len;
    } else if (hlen == 4) {
        p[1] = 126;
        p[2] = (uint8_t)(len >> 8);
        p[3] = (uint8_t)len;
    } else {
        p[1] = 127;
        for (int i = 0; i < 8; i++) p[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(p + hlen, msg, len);
    w->out_len += hlen + len;
    return 0;
}

int vws_send(vws *w, const uint8_t *msg, size_t len) {
    if (w->closing) return -1;
    size_t queued = queued_length(w) + w->out_len;
    if (queued > 0 && queued + len > w->hub->max_queued) {
        vws_shut(w, CLOSE_TRY_AGAIN_LATER,
                 "too many messages waiting for this connection; reconnect later");
        return -1;
    }
    wslay_event_context_ptr ctx = ctx_of(w);
    if (ctx != NULL && frame_directly(w, ctx, len)) {
        if (frame_into_out(w, msg, len) != 0) {
            vws_shut(w, CLOSE_INTERNAL, "the server could not queue a message");
            return -1;
        }
        mark_dirty(w);
        return 0;
    }
    struct wslay_event_msg m = {.opcode = WSLAY_BINARY_FRAME, .msg = msg, .msg_length = len};
    if (ctx == NULL || wslay_event_queue_msg(ctx, &m) != 0) {
        vws_shut(w, CLOSE_INTERNAL, "the server could not queue a message");
        return -1;
    }
    mark_dirty(w);
    return 0;
}

void vws_close(vws *w) {
    vws_hub *h = w->hub;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        h->conns = w->next;
    if (w->next != NULL) w->next->prev = w->prev;
    if (w->dirty) {
        for (vws **p = &h->dirty; *p != NULL; p = &(*p)->next_dirty) {
            if (*p == w) {
                *p = w->next_dirty;
                break;
            }
        }
    }
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

/* ---- the hub ------------------------------------------------------------------- */

/* The owner's work, then h2o on every dirty connection. h2o may close and
 * free one (through the gone callback), which is why each is taken off the
 * list first. */
static void on_async(uv_async_t *async) {
    vws_hub *h = async->data;
    if (h->fn.wake != NULL) h->fn.wake(h->owner);
    while (h->dirty != NULL) {
        vws *w = h->dirty;
        h->dirty = w->next_dirty;
        w->dirty = false;
        w->next_dirty = NULL;
        /* Frames vws_send framed itself go first: they were queued before
         * anything wslay holds (frame_directly). */
        if (w->out_len > 0 && w->ws->sock != NULL && !h2o_socket_is_writing(w->ws->sock) &&
            !w->frame_open)
            flush_out(w->ws, w);
        proceed(w); /* nothing while the upgrade is being sent: h2o proceeds then */
    }
}

/* Once a second: releases the wslay context of connections idle since the
 * last pass, and drops those whose close the client has not answered in
 * time. */
static void on_sweep(uv_timer_t *timer) {
    vws_hub *h = timer->data;
    uint64_t now = uv_now(h->loop);
    for (vws *w = h->conns, *next; w != NULL; w = next) {
        next = w->next; /* the gone callback frees w only */
        if (!w->closing)
            sweep(w);
        else if (vws_open(w) && now - w->closing_since > CLOSE_GRACE_MS)
            h->fn.gone(w->data);
    }
    trim();
}

void vws_hub_init(vws_hub *h, uv_loop_t *loop, const vws_hub_fns *fn, void *owner,
                  size_t max_queued) {
    *h = (vws_hub){.loop = loop, .fn = *fn, .owner = owner, .max_queued = max_queued};
    uv_async_init(loop, &h->async, on_async);
    h->async.data = h;
    uv_timer_init(loop, &h->sweeper);
    h->sweeper.data = h;
    uv_timer_start(&h->sweeper, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t *)&h->sweeper);
    h->handles_open = 2;
}

void vws_hub_wake(vws_hub *h) { uv_async_send(&h->async); }

static void on_handle_closed(uv_handle_t *handle) {
    vws_hub *h = handle->data;
    h->handles_open--;
}

void vws_hub_free(vws_hub *h) {
    /* Connections that outlived the shutdown grace period. The gone
     * callback may end other connections too, so start over each time. */
    for (;;) {
        vws *w = h->conns;
        while (w != NULL && !vws_open(w)) w = w->next;
        if (w == NULL) break;
        h->fn.gone(w->data);
    }
    uv_close((uv_handle_t *)&h->async, on_handle_closed);
    uv_close((uv_handle_t *)&h->sweeper, on_handle_closed);
    while (h->handles_open > 0) uv_run(h->loop, UV_RUN_NOWAIT);
}
