/*
 * consumer.h - outbox consumers: work that follows committed changes (the
 * search indexer, version snapshots, the trash janitor...) without ever
 * being in a write's way.
 *
 * A consumer has a name and a cursor stored in the database (the id of the
 * last outbox event it handled). It runs on a thread of its own: it reads
 * the events after its cursor in batches (store_events_after), hands each
 * batch to its handler, and stores the cursor once the handler succeeded.
 * When there is nothing to read it sleeps until a commit of this process
 * wakes it (store_listen) or its poll interval passes (commits of other
 * processes sharing the database). A failing handler gets the same events
 * again after a back-off that doubles up to a maximum; meanwhile nothing is
 * skipped.
 *
 * Guarantees: delivery is at least once, in id order (a crash between the
 * handler and the cursor write repeats the batch, so handlers must be
 * idempotent). Writers never wait for a consumer: a stopped, slow or
 * failing consumer only falls behind, and store_events_pending() says by
 * how much.
 *
 * Coalescing: with an interval, two handler calls start at least that far
 * apart unless the previous batch was full (catching up), so the events of
 * a burst of commits reach the handler together and a handler that works
 * per note (the search indexer) does that work once per interval, not once
 * per commit. The events wait in the outbox meanwhile, so the pending count
 * stays true, and the last events of a burst are handled at most one
 * interval after they were committed.
 *
 * Threading: vconsumer_start/stop from one thread (the main thread);
 * vconsumer_wake and vconsumer_cursor from any thread. The handler runs on
 * the consumer's thread and may call the store (reads and writes).
 */
#ifndef VN_CONSUMER_H
#define VN_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct vconsumer vconsumer;

/* Handles n (>= 1) events in id order. Returns 0 when every one is handled
 * (the cursor moves past the last), or a negative value when the batch must
 * be offered again later. */
typedef int (*vconsumer_fn)(void *ud, store *st, const store_event *ev, size_t n);

typedef struct {
    size_t batch;       /* events per handler call; 0: 100 */
    int poll_ms;        /* longest sleep without a wakeup; 0: 1000 */
    int backoff_min_ms; /* first retry after a failure; 0: 100 */
    int backoff_max_ms; /* longest retry delay; 0: 30000 */
    int interval_ms;    /* shortest time between the starts of two handler calls,
                           unless the earlier batch was full; 0: none */
} vconsumer_opts;

/* Starts consumer `name` (a store_cursor_* name) on its own thread with
 * handler fn(ud, ...). opts may be NULL (defaults). Returns 0 and *out, or a
 * STORE_E* code (bad name, no memory, no thread) with nothing started. */
int vconsumer_start(store *st, const char *name, vconsumer_fn fn, void *ud,
                    const vconsumer_opts *opts, vconsumer **out);

/* Asks the consumer to look for events now (cheap; any thread). */
void vconsumer_wake(vconsumer *c);

/* The cursor the consumer has reached (any thread). */
int64_t vconsumer_cursor(vconsumer *c);

/* Stops the consumer after the batch in hand, waits for its thread and
 * frees it. NULL is a no-op. */
void vconsumer_stop(vconsumer *c);

/* ---- outbox retention ------------------------------------------------------ */

typedef struct vretention vretention;

/* Starts a thread that deletes, every interval_ms, the outbox events older
 * than keep_ms that every consumer has passed (store_events_prune), logging
 * what it removed. Returns 0 and *out, or a STORE_E* code. */
int vretention_start(store *st, int64_t keep_ms, int interval_ms, vretention **out);

/* Stops and frees it. NULL is a no-op. */
void vretention_stop(vretention *r);

#endif /* VN_CONSUMER_H */
