/*
 * search.h - full-text search: the indexer (an outbox consumer that keeps
 * the store's search index in step with the notes), the search route, and
 * the rebuild behind `vaultd reindex`.
 *
 * What is indexed for a note: its path, its title and its Markdown reduced
 * to plain text (util/mdtext.h), read from the note's update log (the
 * source of truth), with its trash time. Files that are not notes are not
 * indexed. The characters U+00AB and U+00BB (« ») in a note's text are
 * indexed as U+2039 and U+203A (‹ ›), so that in a snippet « and » only
 * ever mark matches.
 */
#ifndef VN_SEARCH_H
#define VN_SEARCH_H

#include "server/http.h"
#include "store/store.h"

/* The consumer name of the indexer (its cursor in the store). */
#define SEARCH_CONSUMER "indexer"

/* What the indexer uses besides the store: the note texts the loop offers
 * (stext.h) and /metrics (vault_search_notes_from_memory_total,
 * vault_search_notes_from_log_total); either may be NULL. */
struct stexts;
struct vmetrics;
typedef struct {
    struct stexts *texts;
    struct vmetrics *metrics;
} search_indexer;

/* Sets ix up with a fresh stexts and `metrics` (may be NULL), whose
 * counters then show at 0. Returns STORE_OK, or STORE_ENOMEM with ix
 * unchanged. */
int search_indexer_init(search_indexer *ix, struct vmetrics *metrics);

/* Frees what search_indexer_init made (ix zeroed); again is a no-op. */
void search_indexer_release(search_indexer *ix);

/* The indexer's handler for vconsumer_start (ud: a search_indexer, or
 * NULL): brings the index entry of every note named by the events up to
 * date with the note's current state (so replays are harmless). Returns 0, or -1 when the store
 * failed (the batch is retried). */
int search_index_events(void *ud, store *st, const store_event *ev, size_t n);

/* Brings the index entry of note `id` up to date (removing it if the note
 * is gone). Returns STORE_OK or a store error. */
int search_index_note(store *st, const char *id);

/* Rebuilds the whole index from the documents: empties it, then indexes
 * every note, and moves the indexer's cursor to the last event seen before
 * it started (later events are handled by the indexer). *notes (may be
 * NULL) gets how many notes were indexed. Returns STORE_OK or an error. */
int search_reindex(store *st, int64_t *notes);

/* GET /api/v1/vaults/{vault}/search?q=&path=&trashed=&limit=&offset= */
void search_route(vctx *ctx);

#endif /* VN_SEARCH_H */
