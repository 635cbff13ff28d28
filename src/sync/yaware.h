/*
 * yaware.h - the awareness states of one document's peers, as a sync
 * server relays them: in memory only, never stored.
 *
 * The rules are y-protocols' (awareness.js, applyAwarenessUpdate): an entry
 * (client, clock, state) replaces what is known of `client` when its clock
 * is newer, or when the clock is equal and the state is "null" (the client
 * left) while a state is known. An unknown client counts as clock 0, so a
 * first entry at clock 0 is ignored, as every Yjs peer ignores it.
 *
 * Each client id belongs to the connection ("owner") that first announced
 * it; entries about a client owned by another live connection are dropped,
 * so one connection cannot rewrite or remove another's presence. When a
 * connection goes, its clients' states are removed and the removal is
 * announced with their last clock and a "null" state, as the y-websocket
 * server does; their clocks are kept, so a later reconnect must count up.
 *
 * Invariants: at most YAWARE_MAX_CLIENTS clients are tracked; a state is a
 * private copy of at most the length its caller accepted; `owner` 0 means
 * nobody. Not thread-safe: one table is used by one thread.
 *
 * Return codes are yproto.h's (YPROTO_OK, YPROTO_ENOMEM, YPROTO_ETOOBIG).
 */
#ifndef VN_YAWARE_H
#define VN_YAWARE_H

#include <stddef.h>
#include <stdint.h>

#include "sync/yproto.h"

#define YAWARE_MAX_CLIENTS 1024

typedef struct yaware yaware;

/* A new empty table, or NULL when out of memory. Free with yaware_free(). */
yaware *yaware_new(void);
void yaware_free(yaware *a); /* NULL is a no-op */

/* Applies n entries received from connection `owner` (non-zero). The
 * entries that changed the table are re-encoded into *relay (an awareness
 * update, not yet a message; malloc'd, caller frees with free()), or
 * *relay is NULL and *relay_len 0 when none did. Entries for new clients
 * beyond YAWARE_MAX_CLIENTS are dropped. On YPROTO_ENOMEM the table may
 * hold some of the entries, and *relay is NULL. */
int yaware_apply(yaware *a, uint64_t owner, const yaware_entry *e, size_t n, uint8_t **relay,
                 size_t *relay_len);

/* Removes the states of every client owned by `owner` and gives up the
 * ownership. *relay gets the awareness update announcing the removals
 * (caller frees), or NULL when there was none. */
int yaware_remove_owner(yaware *a, uint64_t owner, uint8_t **relay, size_t *relay_len);

/* Every client with a state, as one awareness update (caller frees), or
 * NULL with length 0 when nobody is there. */
int yaware_encode_all(const yaware *a, uint8_t **out, size_t *out_len);

/* Clients with a state right now. */
size_t yaware_count(const yaware *a);

#endif /* VN_YAWARE_H */
