/*
 * ws.h - a WebSocket client (RFC 6455) for the vault channel: an HTTP/1.1
 * upgrade over a plain TCP socket with an Authorization header, then
 * libwslay for framing. Binary messages only; no TLS (http:// servers).
 *
 * One connection is used by one thread. Received messages are queued in
 * order and handed out by ws_recv(); the socket is non-blocking and every
 * wait is a poll() with a timeout, so a dead server never hangs a caller.
 */
#ifndef VN_CLIENT_WS_H
#define VN_CLIENT_WS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ws ws;

enum {
    WS_OK = 0,
    WS_ENET = -1,    /* could not connect, or the connection broke */
    WS_EHTTP = -2,   /* the server answered the upgrade with an HTTP status (see *status) */
    WS_ECLOSED = -3, /* the server closed the WebSocket (see ws_close_code) */
    WS_ENOMEM = -4,
    WS_EURL = -5,     /* not an http:// URL this client can use */
    WS_ETIMEOUT = -6, /* no answer in time */
};

/* Connects to `base` (http://host[:port]) + `path` with "Authorization:
 * Bearer token". Returns WS_OK and a connection in *out (free with
 * ws_free), or an error with a human sentence in err (errlen bytes) and, for
 * WS_EHTTP, the HTTP status in *status and the problem+json detail in err. */
int ws_connect(const char *base, const char *path, const char *token, int timeout_ms, ws **out,
               int *status, char *err, size_t errlen);

/* Queues a binary message and sends what the socket takes now. WS_OK or
 * WS_ENET/WS_ECLOSED/WS_ENOMEM. */
int ws_send(ws *w, const uint8_t *msg, size_t len);

/* Waits up to timeout_ms (-1: forever) for a message. Returns 1 with the
 * message in *msg (malloc'd, caller frees with free()) and *len, 0 on
 * timeout, or WS_ECLOSED / WS_ENET when the connection ended. Pending
 * output is flushed while waiting. */
int ws_recv(ws *w, int timeout_ms, uint8_t **msg, size_t *len);

/* The poll(2) events to wait for on ws_fd: POLLIN, plus POLLOUT while
 * output waits. */
int ws_poll_fd_events(const ws *w);

int ws_fd(const ws *w);

/* Whether messages already read off the socket wait in the queue (a caller
 * that polls ws_fd must drain them first: the socket will not signal them). */
int ws_queued(const ws *w);

/* The close code the server sent (1000..4999), or 0. */
int ws_close_code(const ws *w);

/* Raw bytes read from and written to the socket so far (handshake included). */
uint64_t ws_bytes_in(const ws *w);
uint64_t ws_bytes_out(const ws *w);

/* Sends a close frame (best effort, bounded wait) and frees the connection.
 * NULL is a no-op. */
void ws_free(ws *w);

#endif /* VN_CLIENT_WS_H */
