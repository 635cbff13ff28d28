/*
 * wsc.h - a small WebSocket client on libuv and wslay, for the sync load
 * generator (bench/sync/sync_bench.c).
 *
 * One wsc is one TCP connection that performs the RFC 6455 opening handshake
 * (checking the server's Sec-WebSocket-Accept) and then exchanges binary
 * messages. Everything runs on the loop that created the connection; the
 * module keeps no global state except one read buffer per loop, which it
 * borrows from loop->data (a wsc_loop the caller sets up).
 *
 * Lifecycle: wsc_connect() allocates the connection; exactly one of the
 * callbacks on_open (then later on_close) or on_close alone is called for it;
 * after on_close returns the module frees the connection. wsc_close() asks
 * for that end (the callback still comes, from the loop, never from inside
 * wsc_close).
 */
#ifndef VN_BENCH_WSC_H
#define VN_BENCH_WSC_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct wsc wsc;

/* Per-loop state: set loop->data to one of these before the first connect. */
typedef struct {
    uint8_t rbuf[65536]; /* every read of the loop lands here, consumed at once */
    uint64_t mask_state; /* xorshift state for frame masks */
} wsc_loop;

typedef struct {
    /* The handshake succeeded: messages may be sent. */
    void (*on_open)(wsc *c, void *ud);
    /* One whole binary message, borrowed for the call. */
    void (*on_message)(wsc *c, void *ud, const uint8_t *msg, size_t len);
    /* The connection is over. `code` is the WebSocket close code the server
     * sent, 0 when the socket ended without one (or wsc_close was called);
     * `why` says what happened (static text). The wsc is freed on return. */
    void (*on_close)(wsc *c, void *ud, int code, const char *why);
} wsc_callbacks;

/* Starts a connection to `server` from `source` (NULL: any local address; a
 * source address with port 0 spreads connections over several loopback
 * addresses), requesting `path` with a Host header `host` and `headers`
 * (NULL or extra "Name: value\r\n" lines, copied). Returns 0 and *out, or a
 * negative libuv error (nothing allocated, no callback). */
int wsc_connect(uv_loop_t *loop, const struct sockaddr_in *server, const struct sockaddr_in *source,
                const char *host, const char *path, const char *headers, const wsc_callbacks *cb,
                void *ud, wsc **out);

/* Queues one binary message (copied) and starts sending it. Returns 0, or -1
 * if the connection is not open (closing, or handshake not done). */
int wsc_send(wsc *c, const uint8_t *msg, size_t len);

/* Ends the connection (the socket is closed without a closing handshake);
 * on_close follows from the loop. Idempotent. */
void wsc_close(wsc *c);

/* Bytes waiting in user space to be written to the socket. */
size_t wsc_backlog(const wsc *c);

#endif /* VN_BENCH_WSC_H */
