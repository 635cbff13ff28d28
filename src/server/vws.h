/*
 * vws.h - h2o WebSocket connections that hold no wslay context while idle.
 *
 * h2o_upgrade_to_websocket() gives every connection a wslay context (two
 * structures of about 4 KB each, holding a frame input buffer and a
 * fragment output buffer) for as long as it is open: 8.5 KB of a held
 * y-websocket connection's 10 KB. Most sync connections sit idle, so this
 * module frees a connection's context when it has been idle for a whole
 * sweep period and wslay holds nothing of it, and makes a fresh one when
 * bytes arrive or a message is queued. Framing stays wslay's and I/O
 * h2o's: the module only decides when a context exists.
 *
 * Idle means: no message received or queued since the last sweep; nothing
 * queued or being written; no close sent or received; and no received
 * byte waiting in wslay (a partial frame, or the first pieces of a
 * message sent in several frames). The last is known by counting: the
 * context's receive callback counts the bytes wslay takes from the socket,
 * and each frame wslay has read to its end adds its size on the wire
 * (2-byte header, extended length, 4-byte mask, payload; a frame with a
 * longer length encoding than needed makes the counts differ for good, and
 * the connection is simply never released). Any byte of a frame wslay has
 * not finished makes the received count larger, so a connection is
 * released only when the two are equal and no message is half received.
 *
 * Writes: h2o 2.2.5 hands every piece wslay sends (a frame's header, then
 * its payload) to the socket as a write of its own, and takes the next one
 * only after that write completed, a loop iteration later: two system
 * calls and two iterations per message. This module gives wslay a send
 * callback that gathers frames instead, and starts one h2o write when
 * wslay has nothing more queued (or a close frame went out, or 64 KB are
 * gathered): every message queued on a connection before it proceeds
 * leaves in one write. Frames stay wslay's, bytes for bytes.
 *
 * Everything here runs on the event loop thread.
 */
#ifndef VN_SERVER_VWS_H
#define VN_SERVER_VWS_H

#include <h2o.h>
#include <h2o/websocket.h>
#include <stdbool.h>
#include <stdint.h>

/* A message (arg != NULL) or the end of the connection (arg == NULL: the
 * socket closed or failed; the callee must call vws_close). */
typedef void (*vws_msg_fn)(void *data, const struct wslay_event_on_msg_recv_arg *arg);

typedef struct vws {
    h2o_websocket_conn_t *ws; /* h2o's connection; ws->ws_ctx is NULL while released */
    vws_msg_fn cb;
    void *data;
    size_t max_msg;     /* wslay's limit on a received message */
    uint64_t received;  /* bytes the current context took from the socket */
    uint64_t framed;    /* wire bytes of the frames it has read to their end */
    uint64_t frame_len; /* payload length of the frame being read */
    bool in_message;    /* a message sent in several frames is half received */
    bool active;        /* a message came or was queued since the last sweep */
    bool counted;       /* the context counts what it receives (else never released) */
    /* Frames wslay has sent and h2o has not been given yet (vws.c gathers
     * the frames of every queued message into one write). */
    uint8_t *out; /* owned; NULL until the first frame, freed when idle */
    size_t out_len, out_cap;
    uint64_t frame_left; /* payload bytes of the frame being gathered still to come */
    bool frame_open;     /* a header is gathered and its payload is not complete */
    bool frame_close;    /* that frame is a close frame */
} vws;

/* Answers the WebSocket handshake of `req` (h2o_upgrade_to_websocket) and
 * sets w up; messages up to max_msg bytes go to cb(data, ...). w must stay
 * at its address until vws_close. */
void vws_upgrade(vws *w, h2o_req_t *req, const char *client_key, size_t max_msg, vws_msg_fn cb,
                 void *data);

/* The connection's wslay context, made again if it was released: call it
 * before queueing anything. NULL when out of memory. */
wslay_event_context_ptr vws_ctx(vws *w);

/* Bytes of the messages queued on w (0 while released). */
size_t vws_queued_length(const vws *w);

/* Whether the 101 answer is out and h2o handed the socket over. */
bool vws_open(const vws *w);

/* Runs h2o's send and receive loop on w (h2o_websocket_proceed), once the
 * upgrade is out and if it has a context. h2o may call back with the end
 * of the connection. */
void vws_proceed(vws *w);

/* Releases w's wslay context if w has been idle since the previous call
 * (see above). Call it about once a second on each connection that is not
 * closing. */
void vws_sweep(vws *w);

/* Gives freed memory back to the system (malloc_trim) when the number of
 * contexts has fallen by 256 (about 2 MB) since its highest point after
 * the last trim: call it after a sweep of every connection. */
void vws_trim(void);

/* Open connections whose context is released now (for /metrics). */
size_t vws_released(void);

/* Closes the socket and frees what h2o and wslay hold for w. */
void vws_close(vws *w);

#endif
