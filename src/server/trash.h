/*
 * trash.h - the trash: listing trashed notes, restoring them, trashing a
 * folder's notes, the per-vault retention setting, and the janitor that
 * purges what stayed in the trash longer than the retention.
 *
 * Rules (docs/api.md, "Trash"):
 * - DELETE of a note, or trashing a folder, stamps "trashed" with the time
 *   in the vault's index document; the note keeps its document and path.
 * - A trashed note still takes edits (REST PUT, sync) from devices that
 *   edited it offline: the edit is kept, the note stays in the trash, and
 *   the trash list marks it "editedInTrash". Its retention runs from the
 *   later of its trash time and its last edit.
 * - Restore puts the note back at its old path, or beside it under
 *   "Name (restored).md", "Name (restored 2).md", ... when that is taken.
 * - The janitor purges a note whose last activity is older than the vault's
 *   retention (default 30 days): its update log, versions, burst, search
 *   entries (through the "note.purged" outbox event the indexer consumes)
 *   and projection row, and its entry in the vault's index document, in one
 *   transaction, and logs what it removed. The cutoff is read from the
 *   clock once per run and checked again inside each purge transaction, so
 *   neither a clock that jumps during a run nor a restore or edit that
 *   commits first can make it purge a note younger than the retention.
 *
 * Threading: loop thread, except the store's completion callbacks, which
 * hop back to the loop through a uv_async of the janitor.
 */
#ifndef VN_TRASH_H
#define VN_TRASH_H

#include <stdint.h>
#include <uv.h>

#include "server/docs.h"
#include "server/http.h"
#include "server/sync.h"
#include "store/store.h"

#define TRASH_DEFAULT_RETENTION_DAYS 30
#define TRASH_DAY_MS                 86400000LL

/* Routes (see routes.c for who may call them). */
void trash_route_list(vctx *ctx);        /* GET /api/v1/vaults/{vault}/trash */
void trash_route_restore(vctx *ctx);     /* POST /api/v1/notes/{note}/restore */
void trash_route_folder(vctx *ctx);      /* POST /api/v1/vaults/{vault}/folders/trash */
void trash_route_vault_patch(vctx *ctx); /* PATCH /api/v1/vaults/{vault} */

/* The server-wide retention for vaults that set none (days, 1..36500);
 * set once at start, before the loop runs. */
void trash_set_default_retention_days(int days);
int trash_default_retention_days(void);

/* The retention that applies to a vault whose setting is `days` (0: none). */
int trash_retention_days(int days);

typedef struct trash_janitor trash_janitor;

/* Starts purging on `loop` every `interval_ms` (first run after one
 * interval). `sync` (may be NULL) tells which notes have open sync
 * connections: those wait for a later run. `metrics` (may be NULL) gets
 * the counters vault_trash_purged_total and vault_janitor_runs_total. Returns 0, or a negative
 * libuv error with nothing started. */
int trash_janitor_start(uv_loop_t *loop, store *st, vdocs *docs, vsync *sync,
                        struct vmetrics *metrics, uint64_t interval_ms, trash_janitor **out);

/* Stops the timer (no new runs) and closes the janitor's handles; purges in
 * flight still finish. Safe to call twice; NULL is a no-op. */
void trash_janitor_stop(trash_janitor *j);

/* Releases the janitor after the store was closed (no completion can come
 * any more) and before the document cache is freed. NULL is a no-op. */
void trash_janitor_free(trash_janitor *j);

#endif /* VN_TRASH_H */
