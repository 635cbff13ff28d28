/*
 * replica.h - the local replica of one cloned vault: DIR/.vault/replica.db,
 * a SQLite database holding
 *   meta     the server URL, the vault id and name, this replica's CRDT
 *            client id and `since` (the last vault sequence number seen);
 *   docs     every document of the vault (the index and each note) as one
 *            update v1 that encodes its whole state;
 *   pending  local updates not yet acknowledged by the server, in the order
 *            they were made (their row id is the channel `ref`);
 *   files    what vn last saw of each note's file in the folder: its local
 *            path, size, mtime, inode and a hash of its content, and `base`:
 *            NULL when the file's text is the document's text, else the
 *            document state (an update v1) whose text the file holds (the
 *            document moved on since: remote changes not yet written).
 * DIR/.vault/lock is held (flock) by the process that changes the folder,
 * so two vn processes never work on one folder at once.
 *
 * Every function returns 0 or -1 with a sentence in the replica's error
 * buffer (replica_error); a failed call inside a transaction leaves the
 * transaction to be rolled back by the caller.
 */
#ifndef VN_CLIENT_REPLICA_H
#define VN_CLIENT_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct replica replica;

/* A row of `files`. lpath is relative to the folder ("Projects/a.md"). */
typedef struct {
    char id[33];
    char *lpath;
    int64_t size;
    int64_t mtime_ns;
    uint64_t ino;
    uint64_t hash;
    uint8_t *base; /* NULL or base_len bytes */
    size_t base_len;
} rfile;

void rfile_release(rfile *f);

/* Creates DIR/.vault/ and its database for vault `vault` (32 hex) at
 * server `url`. Fails if DIR/.vault exists. The replica is locked. */
int replica_create(const char *dir, const char *url, const char *vault, const char *name,
                   replica **out, char *err, size_t errlen);

/* Opens the replica of folder DIR. lock: take the folder lock (fails with a
 * clear sentence when another vn holds it). */
int replica_open(const char *dir, bool lock, replica **out, char *err, size_t errlen);

void replica_close(replica *r);

/* The last error as a sentence (static to the replica). */
const char *replica_error(const replica *r);

/* meta */
const char *replica_url(const replica *r);
const char *replica_vault(const replica *r);
const char *replica_vault_name(const replica *r);
uint32_t replica_client_id(const replica *r);
uint64_t replica_since(const replica *r);
int replica_set_since(replica *r, uint64_t since);
int64_t replica_last_sync(const replica *r); /* ms since the epoch, 0 = never */
int replica_set_last_sync(replica *r, int64_t ms);

/* small integer settings in meta (def when absent) */
int64_t replica_meta_int(replica *r, const char *key, int64_t def);
int replica_set_meta_int(replica *r, const char *key, int64_t v);

/* transactions (nesting is not supported) */
int replica_begin(replica *r);
int replica_commit(replica *r);
void replica_rollback(replica *r);

/* docs: the state of `id` as an update v1 in *blob (malloc'd, caller
 * frees; NULL with *len 0 when the document is unknown: returns 1). */
int replica_doc_get(replica *r, const char *id, uint8_t **blob, size_t *len);
int replica_doc_put(replica *r, const char *id, const uint8_t *blob, size_t len);
int64_t replica_doc_count(replica *r);

/* pending: add returns the new ref in *ref. */
int replica_pending_add(replica *r, const char *doc, const uint8_t *upd, size_t len, uint64_t *ref);
int replica_pending_drop(replica *r, uint64_t ref);
int64_t replica_pending_count(replica *r);
/* Calls fn for every pending update in ref order; stops at fn's non-zero. */
typedef int (*replica_pending_fn)(void *ud, uint64_t ref, const char *doc, const uint8_t *upd,
                                  size_t len);
int replica_pending_each(replica *r, replica_pending_fn fn, void *ud);
/* Whether doc has a pending update. */
bool replica_pending_has(replica *r, const char *doc);

/* files: all rows (array caller frees with replica_files_free). */
int replica_files_all(replica *r, rfile **out, size_t *n);
void replica_files_free(rfile *f, size_t n);
/* The rows whose base is set (their document moved on since the file was
 * written), like replica_files_all. */
int replica_files_based(replica *r, rfile **out, size_t *n);
/* One row by id: returns 1 and leaves *out empty when absent. */
int replica_file_get(replica *r, const char *id, rfile *out);
int replica_file_put(replica *r, const rfile *f);
int replica_file_del(replica *r, const char *id);
/* Sets `base` of row id only when it is NULL (the file's state before the
 * first remote change of its document). */
int replica_file_keep_base(replica *r, const char *id, const uint8_t *base, size_t len);

#endif /* VN_CLIENT_REPLICA_H */
