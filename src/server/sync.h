/*
 * sync.h - the y-websocket sync endpoint of vaultd: GET /api/v1/sync/{note}
 * upgraded to a WebSocket that speaks the y-websocket protocol
 * (src/sync/yproto.h; docs/sync.md), so the stock WebsocketProvider of the
 * `y-websocket` package and Yjs editors work unchanged.
 *
 * Connections on one note form a room and share the note's in-memory
 * document (docs.h) with the REST routes. On connect the server sends sync
 * step 1 (its state vector) and the awareness states it knows; it answers a
 * client's step 1 with step 2. Every update a client sends (step 2 or
 * update) is checked and integrated by the CRDT engine, then written like a
 * REST edit (update log, projection, outbox event, one store transaction)
 * and broadcast to the room's other connections only after its commit:
 * durable before visible. For the same reason a step 2 that the server
 * sends waits while commits of that note are in flight. Awareness is
 * relayed, never stored. A connection opened with ?saved=1 also gets one
 * saved message (yproto.h, type 4) per update message it sends, in order,
 * once that update, everything received before it, and anything it waits
 * for (missing dependencies) are committed.
 *
 * Close codes (RFC 6455 and the y-websocket convention that 4400-4499 means
 * "do not reconnect"):
 *   1001 server shutting down       1002 malformed message
 *   1003 not a binary message       1009 message over VSYNC_MAX_MESSAGE
 *   1011 the server failed (e.g. a commit failed: reconnect to resync)
 *   1013 too much queued for a slow reader (reconnect later)
 *   4403 a viewer sent a change (read-only connection); sent after an auth
 *        "permission denied" message carrying the same reason.
 *   4404 the note was purged from the trash (vsync_purged), or a change
 *        reached it after its purge (the change was refused).
 *
 * Threading: loop thread only, except the store's completion callbacks,
 * which hop back to the loop through a uv_async of this module.
 */
#ifndef VN_SYNC_H
#define VN_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/docs.h"
#include "server/http.h"
#include "store/store.h"

/* The largest message a client may send (bytes), and the most bytes that
 * may wait in one connection's send queue before it is closed with 1013
 * (VAULT_SYNC_MAX_QUEUED in the environment overrides the latter). */
#define VSYNC_MAX_MESSAGE (16u << 20)
#define VSYNC_MAX_QUEUED  (32u << 20)

/* Bytes queued on one sync or vault channel connection before it is closed
 * with 1013: VAULT_SYNC_MAX_QUEUED (tests lower it), else VSYNC_MAX_QUEUED. */
size_t vsync_max_queued(void);

typedef struct vsync vsync;

struct vmetrics;

/* The sync state of a server on `loop`, with its store and document cache
 * (borrowed; both may be NULL for a server without a database), counting
 * into `metrics` (borrowed, must outlive it). NULL when out of memory. */
vsync *vsync_new(uv_loop_t *loop, store *st, vdocs *docs, struct vmetrics *metrics);

/* Closes every connection with 1001 and refuses new ones. Safe to call
 * twice. */
void vsync_shutdown(vsync *s);

/* Releases everything, after the store has been closed (so no completion
 * can arrive any more) and before the document cache is freed. Connections
 * still open are dropped. NULL is a no-op. */
void vsync_free(vsync *s);

/* Called on the loop thread after a commit of document `doc` made elsewhere
 * (a REST edit) was answered: `update` (borrowed; NULL if the commit failed
 * or changed nothing) is broadcast to every connection on the document,
 * and answers that waited for the document's commits go out. */
void vsync_committed(vsync *s, const char *doc, const uint8_t *update, size_t len);

/* Note `doc` was purged (trash.h): closes its connections with 4404. NULL
 * is a no-op. */
void vsync_purged(vsync *s, const char *doc);

/* Open sync connections, and notes that have at least one (for /metrics).
 * NULL counts nothing. */
size_t vsync_connections(const vsync *s);
/* Whether note `doc` has open sync connections (the janitor leaves such a
 * note alone). NULL has none. */
bool vsync_watching(const vsync *s, const char *doc);
size_t vsync_documents(const vsync *s);

/* The route handler: upgrades the request to a sync connection, or answers
 * 400 when it is not a WebSocket handshake, 404 when there is no such note
 * (a trashed note is one: its edits are kept), 503 while shutting down. */
void sync_route(vctx *ctx);

#endif /* VN_SYNC_H */
