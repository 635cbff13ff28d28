/*
 * docs.h - the server's open CRDT documents: loaded from the update log on
 * first use, edited in memory on the loop thread, and written back one
 * update per transaction through the store's group commit.
 *
 * A vault's index document has id = vault id and keeps a Y.Map "files":
 * file id -> Y.Map {path, kind, created, trashed?}. A note's document has
 * id = file id and keeps its Markdown in the Y.Text "content"; note
 * documents keep deleted content (gc off) so that any past version can be
 * rebuilt.
 *
 * Lifetime: a document is loaded on first use and unloaded once it has
 * been idle for the cache's idle time: no holder (a sync room holds the
 * documents of its connections), no commit in flight, and no vdocs_get()
 * for that long. Beyond `max_docs` documents, idle ones are also closed
 * least recently used first. So memory follows the documents in use, not
 * the documents ever opened.
 *
 * Freezing: a document that stays open (a sync room holds it while a
 * browser tab sits on the note) but has not been fetched for the freeze
 * time (vdocs_freeze_after) is frozen: its CRDT document is encoded into
 * its v1 update (which keeps the deleted content: gc is off), deflated, and
 * freed, so it costs those bytes instead of the engine's structures. The
 * next vdocs_get() thaws it: the update is decoded into a fresh document
 * (gc off) with the same update observer, so nothing a caller sees changes
 * but the server's own client id, which is new after a thaw as after a
 * reload from the log (the engine, like Yjs, changes it when an applied
 * update holds its own structs). A document is frozen only from the
 * cache's timer (never inside a handler), only with no commit in flight,
 * not broken, and with nothing waiting for missing dependencies. So `doc` is NULL while frozen, and
 * a vdoc from vdocs_get() has its `doc` until control returns to the loop; code that keeps a vdoc
 * across callbacks must vdocs_get() it again before touching `doc` (or keep a commit in flight on
 * it, which already keeps it from being closed).
 *
 * Versions: a document's version is the number of updates committed to its
 * log, counting updates whose commit is still in flight (the store commits
 * them in submission order). A version names the state after that many
 * updates, which vdocs_replica_at() rebuilds by replaying the log. A
 * compacted snapshot row counts as the updates it replaced (store.h), so
 * compaction never changes a version; it only makes the versions inside
 * the snapshot impossible to rebuild (REST answers 412 for them).
 *
 * Threading: loop thread only.
 */
#ifndef VN_DOCS_H
#define VN_DOCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "crdt/crdt.h"
#include "store/store.h"

typedef struct vdoc {
    char id[33];
    char vault[33];
    ydoc *doc;         /* NULL while frozen */
    uint8_t *frozen;   /* while frozen: the document's v1 update (malloc'd), */
    size_t frozen_len; /* raw-deflated (RFC 1951) when that made it smaller, */
    size_t frozen_raw; /* and then its size inflated; 0: not deflated */
    uint64_t version;  /* updates in the log, including in-flight commits */
    int inflight;      /* commits submitted and not yet answered */
    bool broken;       /* a commit failed: the memory copy is ahead of the log */
    uint64_t rows;     /* rows in the log (a compacted snapshot is one), in-flight included */
    bool compacting;   /* a compaction of its log runs */
    uint64_t hashless; /* version + 1 when the text held no '#'; 0: not known */
    int64_t seq;       /* vault seq of its last commit reported (vdocs_committed); 0: none */
    bool text_asked;   /* the indexer waits for its text until no commit is in flight */
    /* The update of the transaction being committed (captured by an update
     * observer); taken by vdocs_commit_capture(). */
    uint8_t *captured;
    size_t captured_len;
    uint64_t last_used; /* the cache's logical clock at the last vdocs_get */
    uint64_t last_ms;   /* loop time of the last vdocs_get or release */
    int holders;        /* vdocs_hold() minus vdocs_release() */
    struct vdoc *next;  /* all open documents */
    struct vdoc *hnext; /* same hash bucket */
} vdoc;

typedef struct vdocs vdocs;

/* A new empty cache on `loop` holding at most `max_docs` idle documents and
 * closing a document once it has been idle for `idle_ms` (0: only the
 * max_docs cap closes documents). NULL when out of memory. */
vdocs *vdocs_new(store *st, size_t max_docs, uv_loop_t *loop, uint64_t idle_ms);

/* Freezes a held (or not yet closed) document once it has not been fetched
 * for `ms` milliseconds (0, the default: never). Needs the cache's loop. */
void vdocs_freeze_after(vdocs *c, uint64_t ms);

/* Where to count freezes and thaws (vault_docs_freezes_total,
 * vault_docs_thaws_total; docs/server.md). NULL: nowhere. */
struct vmetrics;
void vdocs_set_metrics(vdocs *c, struct vmetrics *m);

/* Frees every document (on the loop thread, with nothing in flight: after
 * the store is closed). Runs `loop` briefly to close its timer. NULL is a
 * no-op. */
void vdocs_free(vdocs *c);

/* Holds d open (a sync room does while it has connections): a held
 * document is never closed. vdocs_release() takes the hold back by id (the
 * vdoc may have been replaced by a reload since; the hold moves with it). */
void vdocs_hold(vdocs *c, vdoc *d);
void vdocs_release(vdocs *c, const char *id);

/* The document `id` of `vault`, loaded from the log if not open (a document
 * with no log yet starts empty), thawed if frozen. Returns STORE_OK,
 * STORE_ENOMEM, or a store error; STORE_EINVAL if the log (or the frozen
 * update) holds an update the engine refuses. On failure a frozen document
 * stays frozen and unchanged. The pointer is borrowed until the next call
 * into this module, and d->doc is set until control returns to the loop. */
int vdocs_get(vdocs *c, const char *vault, const char *id, vdoc **out);

/* Starts a local transaction on d. NULL if one is already open, or if d is
 * frozen (vdocs_get() thaws it). */
ytxn *vdocs_begin(vdoc *d);

/* Commits the transaction and hands over its update: *update (malloc'd,
 * caller frees; NULL with len 0 if the transaction changed nothing). The
 * document's version counts it. Returns Y_OK or a Y_ERR code. */
int vdocs_commit(vdoc *d, ytxn *txn, uint8_t **update, size_t *len);

/* Compacts in the background (a libuv worker thread) the log of a document
 * that reached `rows` rows after a commit, or that had that many when it was
 * loaded: all but its newest rows/2 rows
 * are replaced by one snapshot row (store_txn_compact), which stands for as
 * many versions as it replaced, so versions keep counting every update
 * ever committed. A version inside a snapshot can no longer be rebuilt
 * (vdocs_replica_at: STORE_ENOTFOUND); the newest rows/2 versions always
 * can. 0 (the default) or less than 4 never compacts. */
void vdocs_compact_at(vdocs *c, uint64_t rows);

/* Waits (running the loop) for the compactions under way, and starts no
 * more: call before closing the store. NULL is a no-op. */
void vdocs_drain(vdocs *c);

/* Bookkeeping for a commit submitted to the store: call vdocs_submitted()
 * after store_submit() accepted it, vdocs_answered() on the loop thread when
 * it is answered. A failed commit marks the document broken; a broken
 * document is reloaded from the log once nothing is in flight. */
void vdocs_submitted(vdoc *d);
void vdocs_answered(vdocs *c, vdoc *d, bool ok);

/* Called on the loop thread each time vdocs_answered() leaves a document
 * with no commit in flight (inflight back to 0), so that answers waiting for
 * durable content can go out. The hook must not call into this module (it
 * runs inside vdocs_answered, whose caller may still hold d): it should only
 * take note and act later. One hook per cache; NULL removes it. */
typedef void (*vdocs_idle_fn)(void *ud, const vdoc *d);
void vdocs_set_idle_hook(vdocs *c, vdocs_idle_fn fn, void *ud);

/* Answers the texts this process's search indexer asks for (stext.h)
 * from the open documents; NULL (the default, and when the indexer runs
 * elsewhere) stops. c needs a loop. */
struct stexts;
void vdocs_set_texts(vdocs *c, struct stexts *texts);

/* Records the vault seq of d's update whose commit just succeeded (call
 * before vdocs_answered): the text of d, once no commit is in flight, is
 * what its log holds up to that update. */
void vdocs_committed(vdoc *d, int64_t seq);

/* A fresh, private replica of `id` holding the first `version` updates of
 * its log, with a new random client id (gc off). The caller frees it with
 * ydoc_free(). STORE_ENOTFOUND if the log has fewer updates, or if that
 * version was compacted into a snapshot. */
int vdocs_replica_at(vdocs *c, const char *id, uint64_t version, ydoc **out);

/* Integrates an update made elsewhere (e.g. on a replica) into d, counting
 * it as one version. Returns Y_OK or the engine's error (d unchanged);
 * Y_ERR_STATE if d is frozen (vdocs_get() thaws it). */
int vdocs_apply(vdoc *d, const uint8_t *update, size_t len);

/* Integrates an update received from a peer (a sync connection) into d.
 * When it changed the document, *changed gets the update the change amounts
 * to (what to store and to broadcast; malloc'd, caller frees) and the
 * version counts it; when it changed nothing (all of it was known, or it
 * waits for missing dependencies), *changed is NULL and the version stays.
 * Returns Y_OK or the engine's error (d unchanged, *changed NULL);
 * Y_ERR_STATE if d is frozen (vdocs_get() thaws it). */
int vdocs_apply_remote(vdoc *d, const uint8_t *update, size_t len, uint8_t **changed,
                       size_t *changed_len);

/* The text (Y.Text "content") of d to derive its title from
 * (vpath_title), right after vdocs_apply_remote() gave `changed` (clen
 * bytes). When the text before that update held no '#' and the update's
 * bytes hold none either, the text still holds no '#', so no heading: *text
 * is NULL and *len 0 (the title is the file name's) and the text is not
 * rebuilt, which keeps a typing note's updates from costing its whole text.
 * Otherwise *text is the whole text (caller frees with yfree) and d
 * remembers whether it holds a '#'. Returns Y_OK or Y_ERR_NOMEM (*text
 * NULL); Y_ERR_STATE if d is frozen (vdocs_get() thaws it). */
int vdocs_title_text(vdoc *d, const uint8_t *changed, size_t clen, char **text, size_t *len);

/* The current text (Y.Text "content") of note `id`, read from its update
 * log into a private document: touches no cache, so any thread may call it
 * (the search indexer does). *text is NUL-terminated, freed with yfree().
 * Returns STORE_OK, a store error, or STORE_EINVAL if the engine refuses
 * the log. A note without updates has the text "". */
int vdocs_load_text(store *st, const char *id, char **text, size_t *len);

/* The document `id` if it is open, else NULL (nothing is loaded). The
 * pointer is borrowed until the next call into this module. */
vdoc *vdocs_find(vdocs *c, const char *id);

/* Closes document `id` if it is open, has no commit in flight and no sync
 * room holds it (after its log was purged). Returns 0, or -1 if it is busy. */
int vdocs_close(vdocs *c, const char *id);

/* Number of open documents (frozen ones included), of frozen ones and the
 * bytes of their updates, and of structs waiting for missing dependencies
 * across them (for /metrics). */
size_t vdocs_count(const vdocs *c);
size_t vdocs_frozen(const vdocs *c, size_t *bytes);
size_t vdocs_pending_structs(const vdocs *c);

#endif /* VN_DOCS_H */
