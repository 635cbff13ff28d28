/*
 * vchan.h - the vault channel of vaultd: GET /api/v1/vaults/{vault}/sync
 * upgraded to a WebSocket that syncs every document of one vault (its index
 * document and its notes) over one socket, for native clients. The wire
 * format is src/sync/vchan.h; docs/sync.md ("The vault channel") describes
 * the exchange.
 *
 * A client says HELLO with the last vault sequence number it has seen; the
 * server answers CHANGED (the documents updated since then, each with its
 * latest seq) and from then on pushes every update committed to any
 * document of the vault, by anyone (REST, y-websocket connections, other
 * vault channels), in commit order. STEP1/STEP2 run per document. Every
 * UPDATE a client sends is checked (index changes: paths, kinds; missing
 * dependencies are refused, never parked), committed like a REST edit
 * (update log, projections, outbox events, one store transaction) and only
 * then acknowledged (ACK with the seq its commit got) and pushed to the
 * vault's other channels and to the note's y-websocket connections.
 *
 * Pushes come from the store's commit hook (store_set_commit_hook), which
 * sees every committed update in commit order; the module's own commit
 * answers travel through the same queue, so on one connection UPDATE and ACK
 * messages carry increasing seqs. Answers that must hold only durable
 * content (STEP2, and the ACK of an update that changed nothing) wait until
 * the document has no commit in flight (vdocs_set_idle_hook).
 *
 * Close codes: 1001 shutting down, 1002 malformed message (or a message
 * before HELLO), 1003 text message, 1009 message over VSYNC_MAX_MESSAGE,
 * 1011 server failure, 1013 send queue over VAULT_SYNC_MAX_QUEUED.
 *
 * Threading: loop thread only, except the store callbacks (commit hook and
 * completion), which hop back to the loop through a uv_async of this module.
 */
#ifndef VN_VCHAN_SERVER_H
#define VN_VCHAN_SERVER_H

#include <stddef.h>
#include <uv.h>

#include "server/docs.h"
#include "server/http.h"
#include "store/store.h"

typedef struct vchan vchan;

/* The vault channels of server `srv` on `loop` (all borrowed). Installs the
 * store's commit hook and the document cache's idle hook. NULL when out of
 * memory. */
vchan *vchan_new(vhttp *srv, uv_loop_t *loop, store *st, vdocs *docs);

/* Closes every channel with 1001 and refuses new ones. Safe to call twice. */
void vchan_shutdown(vchan *vc);

/* Releases everything, after the store has been closed (no callback can
 * arrive any more) and before the document cache is freed. NULL is a
 * no-op. */
void vchan_free(vchan *vc);

/* Open vault channel connections (for /metrics); NULL counts nothing. */
size_t vchan_connections(const vchan *vc);

/* The route handler: upgrades the request to a vault channel, or answers 400
 * when it is not a WebSocket handshake, 503 while shutting down. (401 and
 * 404 come from the dispatcher's role check on {vault}.) */
void vchan_route(vctx *ctx);

#endif /* VN_VCHAN_SERVER_H */
