/*
 * vws.h - the server's WebSocket connections: sending with a cap, closing
 * with a code, the sweep of idle and unanswered connections, and a wslay
 * context only while a connection is busy. The y-websocket endpoint
 * (sync.c) and the vault channel (vchan.c) keep their protocols and
 * rooms; everything about the connection itself is here.
 *
 * A hub (vws_hub) owns a set of connections on one loop. Sending never
 * calls into h2o directly: vws_send frames the message into the
 * connection's output buffer (or, while wslay holds something to send or
 * h2o is writing, queues it on the connection's wslay context) and marks
 * the connection dirty; the hub's uv_async then runs the owner's wake
 * callback (answers from other threads) and writes out each dirty
 * connection, outside every h2o callback.
 * So a connection is never freed while code up the stack still holds it,
 * and wslay is never re-entered. A connection ends only in the hub's
 * `gone` callback (the socket closed or failed, or the client left a
 * close unanswered for 5 s), in which the owner forgets it and calls
 * vws_close. Once a second the hub also releases the wslay context of
 * connections that have been idle (below).
 *
 * Memory: h2o_upgrade_to_websocket() gives every connection a wslay context (two
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
 * callback that gathers frames instead, and writes when wslay has nothing
 * more queued (or a close frame went out, or 64 KB are gathered): every
 * message queued on a connection before it is flushed leaves in one
 * write. A data message sent while wslay holds nothing is framed by
 * vws_send itself, as wslay would frame it (one unmasked binary frame),
 * which spares wslay's copy and bookkeeping per delivery; wslay keeps
 * control frames, messages behind them, and all reading. The write goes
 * to the socket directly while h2o is not writing; h2o writes what the
 * kernel does not take at once.
 *
 * Everything here runs on the event loop thread, but vws_hub_wake.
 */
#ifndef VN_SERVER_VWS_H
#define VN_SERVER_VWS_H

#include <h2o.h>
#include <h2o/websocket.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct vws_hub vws_hub;
typedef struct vws vws;

/* The owner's callbacks; `data` is the connection's (vws_upgrade), `owner`
 * the hub's. */
typedef struct {
    /* A binary message of a connection that is not closing. */
    void (*msg)(void *data, const uint8_t *msg, size_t len);
    /* The connection is over: forget it and call vws_close. */
    void (*gone)(void *data);
    /* vws_shut started the closing handshake (for the owner's log line). */
    void (*closing)(void *data, int code, const char *reason);
    /* Every data message received, closing or not: its length (metrics;
     * may be NULL). */
    void (*received)(void *owner, size_t len);
    /* Work to do on each wake-up (vws_hub_wake, vws_send), before the
     * dirty connections are flushed (may be NULL). */
    void (*wake)(void *owner);
} vws_hub_fns;

struct vws_hub {
    uv_loop_t *loop;
    vws_hub_fns fn;
    void *owner;
    size_t max_queued; /* bytes queued on one connection before it is closed (1013) */
    vws *conns;        /* every connection, upgrades being answered included */
    vws *dirty;        /* connections with something to send */
    uv_async_t async;
    uv_timer_t sweeper;
    int handles_open;
};

struct vws {
    h2o_websocket_conn_t *ws; /* h2o's connection; ws->ws_ctx is NULL while released */
    vws_hub *hub;
    void *data;
    size_t max_msg;         /* wslay's limit on a received message */
    uint64_t received;      /* bytes the current context took from the socket */
    uint64_t framed;        /* wire bytes of the frames it has read to their end */
    uint64_t frame_len;     /* payload length of the frame being read */
    uint64_t closing_since; /* loop time of vws_shut */
    bool in_message;        /* a message sent in several frames is half received */
    bool active;            /* a message came or was queued since the last sweep */
    bool counted;           /* the context counts what it receives (else never released) */
    bool closing;           /* vws_shut ran: nothing more is sent or handled */
    bool dirty;             /* in hub->dirty */
    /* Frames wslay has sent and h2o has not been given yet (vws.c gathers
     * the frames of every queued message into one write). */
    bool frame_open;     /* a header is gathered and its payload is not complete */
    bool frame_close;    /* that frame is a close frame */
    uint64_t frame_left; /* payload bytes of the frame being gathered still to come */
    uint8_t *out;        /* owned; NULL until the first frame, freed when idle */
    size_t out_len, out_cap;
    vws *next, *prev; /* in hub->conns */
    vws *next_dirty;  /* in hub->dirty */
};

/* Sets up h on loop with the owner's callbacks (copied). The hub must stay
 * at its address until vws_hub_free. */
void vws_hub_init(vws_hub *h, uv_loop_t *loop, const vws_hub_fns *fn, void *owner,
                  size_t max_queued);

/* Runs the hub's wake callback, then flushes, soon on the loop thread.
 * Any thread may call it. */
void vws_hub_wake(vws_hub *h);

/* Calls gone for every connection whose socket is open (those whose
 * upgrade is still being answered stay: h2o calls back into them until the
 * process exits), then closes the hub's handles, running the loop until
 * they are closed. Run the wake work the owner still owes first. */
void vws_hub_free(vws_hub *h);

/* Answers the WebSocket handshake of `req` (h2o_upgrade_to_websocket) and
 * adds w to h; messages of up to max_msg bytes go to h's msg callback with
 * `data`. w must stay at its address until vws_close. */
void vws_upgrade(vws *w, vws_hub *h, h2o_req_t *req, const char *client_key, size_t max_msg,
                 void *data);

/* Queues one message (copied) as a binary frame; h2o sends it soon. Returns
 * 0, or -1 when nothing was queued: the connection is closing, or is now
 * closed because its queue would pass the hub's cap (1013, "reconnect
 * later") or memory ran out (1011). */
int vws_send(vws *w, const uint8_t *msg, size_t len);

/* Starts the closing handshake with `code` and `reason` (a sentence of at
 * most 123 bytes) and tells the owner (the closing callback). The
 * connection sends and handles nothing more. Later calls do nothing. */
void vws_shut(vws *w, int code, const char *reason);

/* Whether the 101 answer is out and h2o handed the socket over. */
bool vws_open(const vws *w);

/* Open connections whose context is released now (for /metrics). */
size_t vws_released(void);

/* Takes w out of its hub, closes the socket and frees what h2o and wslay
 * hold for w. */
void vws_close(vws *w);

#endif
