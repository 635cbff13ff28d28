/*
 * history.h - version history of notes: versions taken when an editing
 * burst settles, listed, rendered, compared and restored.
 *
 * Taking versions (a job of the janitor role): the outbox consumer
 * "versions" turns every note.created / note.updated event into a burst
 * row (store_burst_note: first and last edit times and users). A taker
 * thread looks at the bursts every so often and takes a version of each
 * burst that has settled (no edit for `idle_ms`), that has run for
 * `max_ms` of continuous editing, or that holds a restore (taken at once):
 * it replays the note's update log, takes the Yjs snapshot (state vector +
 * delete set) and stores it as a keyframe or as the delta from the
 * previous version (util/ysnap.h), with the time and the user of the
 * burst's last edit (the author), in one transaction that also ends the
 * burst. A burst whose text state equals the last version adds none.
 *
 * Reading (routes): the snapshot of version v is the union of its chain
 * (keyframe .. v); the text at v is rendered from the note's document,
 * which keeps deleted content (gc off). Restoring v is a new edit made
 * like a REST PUT (notes_write_text): the difference from the current text
 * to v's text as CRDT edits, so it merges with concurrent edits, reaches
 * sync connections, and becomes a version itself.
 *
 * Threading: history_start/stop on the main thread; the routes on the loop
 * thread; the consumer and the taker on threads of their own (store calls
 * only).
 */
#ifndef VN_HISTORY_H
#define VN_HISTORY_H

#include <stdint.h>

#include "server/http.h"
#include "store/store.h"

#define HISTORY_DEFAULT_IDLE_MS (2 * 60 * 1000)  /* a burst settles after this */
#define HISTORY_DEFAULT_MAX_MS  (30 * 60 * 1000) /* a version at least this often */
#define HISTORY_KEYFRAME_EVERY  64               /* versions per stored full snapshot */

/* Routes (see routes.c for who may call them). */
void history_route_list(vctx *ctx);    /* GET  /api/v1/notes/{note}/versions */
void history_route_get(vctx *ctx);     /* GET  /api/v1/notes/{note}/versions/{v} */
void history_route_diff(vctx *ctx);    /* GET  /api/v1/notes/{note}/versions/{v}/diff */
void history_route_restore(vctx *ctx); /* POST /api/v1/notes/{note}/versions/{v}/restore */

typedef struct history history;

/* Starts the "versions" consumer and the taker thread. `metrics` (may be
 * NULL) gets the counter vault_versions_taken_total. The consumer handles
 * its events at most every interval_ms (vconsumer_opts.interval_ms; 0:
 * after every commit), recording each note's edits of a batch at once.
 * Returns 0 and *out, or a STORE_E* code with nothing started. */
int history_start(store *st, struct vmetrics *metrics, int64_t idle_ms, int64_t max_ms,
                  int interval_ms, history **out);

/* Stops both threads and frees h. NULL is a no-op. */
void history_stop(history *h);

/* Takes a version of every burst that is due at `now` (ms since the epoch)
 * and returns how many were taken through *taken (may be NULL). The taker
 * thread calls it; tools and benchmarks may too. Returns STORE_OK or the
 * first store error. */
int history_take_due(store *st, int64_t now, int64_t idle_ms, int64_t max_ms, int *taken);

/* The Yjs snapshot of version n of doc (caller frees with free()). */
int history_snapshot(store *st, const char *doc, int64_t n, uint8_t **snap, size_t *len);

#endif /* VN_HISTORY_H */
