/*
 * store.h - the storage API of vaultd: one contract, two backends.
 *
 * store_open() picks the backend from its argument: a "postgres://" or
 * "postgresql://" URL selects PostgreSQL (libpq, postgres.c); anything else
 * is a directory holding the SQLite database (sqlite.c). Both backends run
 * the same versioned migrations at open (in one transaction; a database
 * whose schema is newer than this binary is refused) and pass the same test
 * suite (tests/unit/test_store.c runs it against both).
 *
 * Reads run on the calling thread. Writes are batched: a caller fills a
 * store_txn and submits it; one writer thread commits many submitted
 * transactions together (group commit), each inside its own savepoint so
 * that one failing transaction does not fail the others, and reports each
 * result only after the commit is durable (SQLite WAL + synchronous=FULL;
 * PostgreSQL's default fsync). Completion callbacks run on the writer
 * thread; the server hops back to its loop itself. The direct writes below
 * (users, sessions, vaults, members...) go through the same writer thread
 * and wait for it, so a write that returns STORE_OK is durable and is seen
 * by every later read. Every function is thread-safe.
 *
 * Ids: users are int64 (assigned by the store); vaults, files and documents
 * are 32-character lowercase hex strings (128 random bits) chosen by the
 * caller. A note's document id is its file id; a vault's index document id
 * is the vault id. Times are milliseconds since the Unix epoch.
 *
 * Strings are UTF-8; a string that is not valid UTF-8, an id that is not 32
 * lowercase hex digits, or a NULL where a value is needed is STORE_EINVAL.
 *
 * Errors: every int-returning function returns STORE_OK (0) or a negative
 * STORE_E* code and, on error, changes nothing (out-parameters included).
 * Strings and arrays returned through out-parameters are malloc'd and owned
 * by the caller, who frees them with the matching *_free function (or free()
 * where it says so).
 */
#ifndef VN_STORE_H
#define VN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/squery.h"

enum {
    STORE_OK = 0,
    STORE_ENOTFOUND = -1, /* no such row */
    STORE_ECONFLICT = -2, /* a unique value already exists (e.g. email) */
    STORE_EIO = -3,       /* the database failed; details in the log */
    STORE_ENOMEM = -4,
    STORE_ESCHEMA = -5, /* database schema newer than this binary, or broken */
    STORE_EINVAL = -6,  /* bad argument */
    STORE_ECLOSED = -7  /* the store is shutting down */
};

const char *store_strerror(int err);

typedef struct store store;

/* Opens (creating if needed) the database named by `where` and migrates it.
 * On failure returns an error and writes a sentence into err (errlen bytes)
 * that a person can act on. Starts the writer thread. */
int store_open(const char *where, store **out, char *err, size_t errlen);

/* Stops the writer thread after it commits what was submitted, then closes.
 * NULL is a no-op. Must not be called from a completion callback. */
void store_close(store *st);

/* "sqlite" or "postgres". */
const char *store_backend(const store *st);

/* The schema version of the open database. */
int store_schema_version(store *st);

/* Cheap round trip to the database, for /readyz. */
int store_ping(store *st);

/* ---- users and sessions -------------------------------------------------- */

typedef enum { ROLE_NONE = 0, ROLE_VIEWER = 1, ROLE_EDITOR = 2, ROLE_OWNER = 3 } store_role;

typedef struct {
    int64_t id;
    char *email; /* lowercased by the caller */
    char *name;
    char *pwhash; /* libsodium argon2id string */
    int64_t created;
} store_user;

void store_user_free(store_user *u); /* frees the strings, not u */

/* STORE_ECONFLICT if the email is taken; *id is the new user's id. */
int store_user_create(store *st, const char *email, const char *name, const char *pwhash,
                      int64_t now, int64_t *id);
int store_user_by_email(store *st, const char *email, store_user *out);
int store_user_by_id(store *st, int64_t id, store_user *out);

/* Sessions are keyed by the SHA-256 of the token; the token itself is never
 * stored. */
int store_session_create(store *st, const uint8_t token_hash[32], int64_t user_id, int64_t created,
                         int64_t expires);
/* STORE_ENOTFOUND if absent or expired at `now`. */
int store_session_user(store *st, const uint8_t token_hash[32], int64_t now, int64_t *user_id);
/* STORE_ENOTFOUND if absent. */
int store_session_delete(store *st, const uint8_t token_hash[32]);

/* Failed-login bookkeeping for rate limits; `key` is e.g. "acct:<email>" or
 * "addr:<ip>". Counts failures at or after `since`. */
int store_login_failure_add(store *st, const char *key, int64_t now);
int store_login_failures(store *st, const char *key, int64_t since, int64_t *count);

/* Housekeeping for the janitor: deletes the sessions expired at `now` and the
 * login failures older than `failures_before`. */
int store_purge_expired(store *st, int64_t now, int64_t failures_before);

/* ---- vaults and members --------------------------------------------------- */

typedef struct {
    char id[33];
    char *name;
    int64_t owner;
    int64_t created;
    int64_t seq;     /* the vault's change sequence: bumped by every committed update */
    store_role role; /* the asking user's role, where a function says so */
    int trash_retention_days; /* days a trashed note is kept; 0: the server's default */
} store_vault;

void store_vault_free(store_vault *v);            /* frees the strings, not v */
void store_vaults_free(store_vault *v, size_t n); /* frees each and the array */

/* Creates the vault and makes `owner` its owner, in one transaction.
 * STORE_ECONFLICT if the id exists, STORE_ENOTFOUND if the user does not. */
int store_vault_create(store *st, const char *id, const char *name, int64_t owner, int64_t now);
/* The vault, with out->role set to `user`'s role (ROLE_NONE if not a member). */
int store_vault_get(store *st, const char *id, int64_t user, store_vault *out);
/* The vaults `user` is a member of, with roles, by name (bytewise), then id. */
int store_vault_list(store *st, int64_t user, store_vault **out, size_t *n);

typedef struct {
    int64_t user_id;
    char *email;
    char *name;
    store_role role;
} store_member;

void store_members_free(store_member *m, size_t n);
/* Adds the member or changes the role (ROLE_NONE is STORE_EINVAL: remove
 * instead). STORE_ENOTFOUND if the vault or the user does not exist. */
int store_member_set(store *st, const char *vault, int64_t user, store_role role);
int store_member_remove(store *st, const char *vault, int64_t user); /* ENOTFOUND if absent */
/* ROLE_NONE (and STORE_OK) for a non-member; STORE_ENOTFOUND if no vault. */
int store_member_role(store *st, const char *vault, int64_t user, store_role *role);
/* Members by role (owners first), then email; STORE_ENOTFOUND if no vault. */
int store_members_list(store *st, const char *vault, store_member **out, size_t *n);

/* Sets how many days trashed notes of the vault are kept before the janitor
 * purges them (1..STORE_RETENTION_MAX_DAYS), or 0 for the server's default.
 * STORE_EINVAL outside that range, STORE_ENOTFOUND if no vault. */
#define STORE_RETENTION_MAX_DAYS 36500
int store_vault_set_retention(store *st, const char *vault, int days);

/* ---- documents: update log and projections ------------------------------- */

/* Every update ever committed to `doc` in commit order (a compacted snapshot
 * counts as one update), concatenated by the callback. The callback gets
 * borrowed bytes; a non-zero return from it stops and is returned. A doc
 * without updates is STORE_OK with no call. The callback must not call into
 * the store (it runs under the read lock). */
typedef int (*store_update_fn)(void *ud, const uint8_t *update, size_t len);
int store_doc_updates(store *st, const char *doc, store_update_fn fn, void *ud);

/* The update log row by row, with what a row stands for: `versions` is 1
 * for an update as committed, or the number of updates a compacted
 * snapshot replaced (store_txn_compact). `id` orders the rows (commit
 * order). Same callback rules as store_doc_updates. */
typedef struct {
    int64_t id;
    int64_t versions;
    const uint8_t *data; /* borrowed for the call */
    size_t len;
} store_log_entry;
typedef int (*store_log_fn)(void *ud, const store_log_entry *e);
int store_doc_log(store *st, const char *doc, store_log_fn fn, void *ud);
/* How many rows the log of `doc` has (a compacted snapshot counts one). */
int store_doc_log_rows(store *st, const char *doc, int64_t *rows);
/* store_doc_log for the first `max` rows only: a compaction reads only what
 * it folds (each row of a note's log sits on its own page, among every
 * other note's rows). */
int store_doc_log_head(store *st, const char *doc, int64_t max, store_log_fn fn, void *ud);

/* The vault seq of the last row of `doc`'s log (an update as committed,
 * or a compacted snapshot, which keeps the seq of the last update it
 * replaced): the log holds exactly the state after that update. One index
 * seek. STORE_ENOTFOUND when the log is empty. */
int store_doc_last_seq(store *st, const char *doc, int64_t *seq);

/* A file as projected from the vault index document. */
typedef struct {
    char id[33];
    char vault[33];
    char *path;   /* "/Projects/Q1/Design.md" */
    char *title;  /* first heading, else the file name without extension */
    bool is_note; /* kind "note" (else "file") */
    int64_t created;
    int64_t updated;
    int64_t trashed; /* 0 when live */
} store_file;

void store_file_free(store_file *f);            /* frees the strings, not f */
void store_files_free(store_file *f, size_t n); /* frees each and the array */
int store_file_get(store *st, const char *id, store_file *out);
/* Live (or, with trashed=true, trashed) files of the vault whose path starts
 * with `prefix` ("" for all; matched literally, bytewise: no wildcards, case
 * sensitive), ordered by path (bytewise), then id. */
int store_file_list(store *st, const char *vault, const char *prefix, bool trashed,
                    store_file **out, size_t *n);
/* The id of the live file at exactly `path`, or STORE_ENOTFOUND. When a merge
 * left several live files there, the one created first (then lowest id). */
int store_file_at_path(store *st, const char *vault, const char *path, char id_out[33]);
/* Every file of every vault (live or trashed) with an id above `after` (""
 * for the first), at most `max` (1..10000), by id: pages through all files
 * (for `vaultd reindex`). */
int store_files_after(store *st, const char *after, size_t max, store_file **out, size_t *n);

/* ---- trash ------------------------------------------------------------------ */

/* A trashed file due for purging, with the cutoff it was found under: its
 * last activity (the later of its trash time and its last edit) is at or
 * before `cutoff` = now - the vault's retention. */
typedef struct {
    store_file file;
    int64_t cutoff;
} store_trash_item;

void store_trash_items_free(store_trash_item *it, size_t n); /* each and the array */
/* At most `max` trashed files, of any vault, whose last activity is at or
 * before `now` minus their vault's retention (default_retention_ms for a
 * vault that has none set), oldest activity first. *out is freed with
 * store_trash_items_free(). */
int store_trash_due(store *st, int64_t now, int64_t default_retention_ms, size_t max,
                    store_trash_item **out, size_t *n);

/* What a document holds: its update log and its versions (row counts and
 * payload bytes), for the purge log and the history benchmark. */
typedef struct {
    int64_t updates, update_bytes;
    int64_t versions, version_bytes;
} store_doc_usage;
int store_doc_usage_get(store *st, const char *doc, store_doc_usage *out);

/* ---- versions (history) ------------------------------------------------------ */

/* One version of a note: a Yjs snapshot stored whole (a keyframe, base == n)
 * or as the part that is new since version n-1 (a delta, base < n: the
 * snapshot of n is the union of the rows base..n); see server/history.c. */
typedef struct {
    int64_t n;             /* 1, 2, ... per note */
    int64_t created;       /* time of the last edit the version holds */
    int64_t author;        /* user id of that edit, 0 if unknown */
    int64_t restored_from; /* the version a restore brought back, else 0 */
    int64_t base;          /* the keyframe the row builds on */
    int64_t size;          /* bytes of the stored row payload (reads only) */
} store_version;

/* Newest first: at most `max` versions of `doc` numbered below `before`
 * (INT64_MAX for the newest). The array is freed with free(). */
int store_version_list(store *st, const char *doc, int64_t before, size_t max,
                       store_version **out, size_t *n);
/* One version's row; STORE_ENOTFOUND if absent. */
int store_version_get(store *st, const char *doc, int64_t n, store_version *out);
/* The stored payloads of versions base(n)..n of `doc`, in order, through the
 * callback (borrowed bytes; must not call into the store). ENOTFOUND if
 * version n does not exist. */
int store_version_chain(store *st, const char *doc, int64_t n, store_update_fn fn, void *ud);

/* An editing burst on a note that no version holds yet: kept by the version
 * consumer between outbox events and the moment the burst settles. */
typedef struct {
    char doc[33];
    char vault[33];
    int64_t first_at, last_at;     /* times of its first and last edits */
    int64_t first_user, last_user; /* who made them */
    int64_t restored_from;         /* a restore in the burst: take a version at once */
} store_burst;

/* Records an edit of b->doc at b->last_at by b->last_user: starts the burst
 * (first_* from b) or extends it (last_* move forward only; restored_from
 * is kept once set). */
int store_burst_note(store *st, const store_burst *b);
/* Bursts whose last edit is at or before idle_before, or whose first edit is
 * at or before max_before, or that hold a restore; at most `max`, oldest
 * first. The array is freed with free(). */
int store_bursts_due(store *st, int64_t idle_before, int64_t max_before, size_t max,
                     store_burst **out, size_t *n);

/* ---- writes: transactions committed by the writer thread ------------------ */

typedef struct store_txn store_txn;

/* A new empty transaction, or NULL when out of memory. Every step below
 * copies its arguments. A txn is consumed by store_submit/store_commit. */
store_txn *store_txn_new(void);
void store_txn_free(store_txn *t); /* for a txn never submitted */

/* Appends one update to the log of `doc` (which lives in `vault`) and bumps
 * the vault's sequence number. At commit: STORE_ENOTFOUND if the vault does
 * not exist or the document was purged (store_txn_purge_note), STORE_EINVAL
 * if `doc` already has updates in another vault. */
int store_txn_append_update(store_txn *t, const char *vault, const char *doc, const uint8_t *update,
                            size_t len);
/* Compacts a prefix of the update log of `doc` (in `vault`): the `rows`
 * rows with ids from `first_id` to `last_id` (as store_doc_log listed
 * them), which stand for `versions` updates, are replaced by one row holding
 * `merged` (an update equivalent to all of them), at `last_id`'s place in
 * the order, standing for `versions` updates and keeping that row's vault
 * sequence number. Rows outside the range are untouched, so updates
 * committed meanwhile are never lost. At commit: STORE_ECONFLICT (and
 * nothing changed) unless the range still holds exactly those rows standing
 * for exactly those versions (another compaction ran, or a row committed
 * into the range out of id order). */
int store_txn_compact(store_txn *t, const char *vault, const char *doc, int64_t first_id,
                      int64_t last_id, int64_t rows, int64_t versions, const uint8_t *merged,
                      size_t len);
/* Inserts or replaces the projection row of a file (path must start with
 * '/'; title NULL means ""). At commit: STORE_EINVAL if the id exists in
 * another vault, STORE_ENOTFOUND if the vault does not exist or the file
 * was purged (store_txn_purge_note). */
int store_txn_put_file(store_txn *t, const store_file *f);
/* Writes an outbox event (consumed later by indexer, versions, relay). Its
 * `created` time is the writer's clock when the transaction runs. */
int store_txn_event(store_txn *t, const char *vault, const char *type, const char *json);
/* The same for the event of an edit of a note (`type` "note.updated" or
 * "note.created"), whose payload it makes: {"id":"<doc>","user":<user>}.
 * For the hot path of sync, which has no JSON to check. */
int store_txn_note_event(store_txn *t, const char *vault, const char *type, const char *doc,
                         int64_t user);
/* Adds version v->n of `doc` with its stored payload. At commit:
 * STORE_ECONFLICT if that version exists. */
int store_txn_put_version(store_txn *t, const char *vault, const char *doc, const store_version *v,
                          const uint8_t *payload, size_t len);
/* Ends the burst of `doc` up to its edit at `last_at` (a version now holds
 * it): removed if no later edit came, else it restarts after last_at. */
int store_txn_burst_done(store_txn *t, const char *vault, const char *doc, int64_t last_at);
/* Purges trashed note `doc` of `vault`: its update log, versions, burst and
 * projection row, and leaves a tombstone so that its log never takes an
 * update again (store_txn_append_update, store_txn_put_file: STORE_ENOTFOUND).
 * At commit, STORE_ENOTFOUND (and nothing happens) unless the note is still
 * trashed with its trash time and last edit at or before the cutoff
 * computed then, as store_trash_due does, from `now` and the vault's
 * retention (or `default_retention_ms`): a restore, an edit or a longer
 * retention that committed first wins. */
int store_txn_purge_note(store_txn *t, const char *vault, const char *doc, int64_t now,
                         int64_t default_retention_ms);
/* Test hook: make the transaction fail after its other steps ran, so that
 * atomicity can be checked (the savepoint is rolled back; err = STORE_EIO). */
void store_txn_fail_for_test(store_txn *t);

/* A transaction's own failure (ECONFLICT, ENOTFOUND, EINVAL) rolls back only
 * that transaction; a failure of the database itself (EIO, ENOMEM: the batch's
 * fate is unknown) fails every transaction of the batch. */
typedef struct {
    int err;           /* STORE_OK, or why the transaction was rolled back */
    int64_t vault_seq; /* the vault's sequence number given to this
                          transaction's last appended update (0 if it
                          appended none): strictly increasing per vault */
    size_t batch_size; /* how many transactions shared the commit */
    double commit_ms;  /* time of the commit (for metrics) */
    store_doc_usage purged; /* what its store_txn_purge_note removed (zeros if none) */
} store_result;

/* Queues `t` for the writer thread; `done` (may be NULL) runs on the writer
 * thread after the batch's commit (or failure) with the result, and must not
 * wait for the store (no store_commit, no store_close in it). Returns STORE_OK
 * or STORE_ECLOSED (then `done` is not called). t is consumed either way. */
typedef void (*store_done_fn)(void *ud, const store_result *res);
int store_submit(store *st, store_txn *t, store_done_fn done, void *ud);

/* A tag for the transaction (0 by default), handed to the commit hook, so
 * that whoever submitted it can recognise its own updates there. */
void store_txn_set_origin(store_txn *t, uint64_t origin);

/* The commit hook sees every update appended by a committed transaction,
 * whoever submitted it: on the writer thread, after the batch is durable,
 * in commit order (so, per vault, in increasing seq), each transaction's
 * updates just before its `done` runs. The strings and bytes are borrowed
 * for the call. Like `done`, the hook must not wait for the store. */
typedef struct {
    const char *vault;
    const char *doc;
    int64_t seq; /* the vault sequence number this update got */
    const uint8_t *update;
    size_t len;
    uint64_t origin; /* store_txn_set_origin of its transaction */
} store_committed;
typedef void (*store_commit_fn)(void *ud, const store_committed *c);

/* Installs the hook (one per store; NULL removes it). Thread-safe; a batch
 * being answered keeps the hook it started with. */
void store_set_commit_hook(store *st, store_commit_fn fn, void *ud);

/* Submits and waits: for tests, tools and rare writes. Returns res->err (on
 * STORE_ECLOSED, res->err is that and the rest is zero); res may be NULL; t
 * is consumed either way. */
int store_commit(store *st, store_txn *t, store_result *res);

/* Events in the outbox after `cursor` (exclusive), at most `max` (> 0; more
 * than 10000 counts as 10000), in id order, which is commit order while one
 * vaultd writes the database. */
typedef struct {
    int64_t id;
    char vault[33];
    char *type;
    char *json;
    int64_t created;
} store_event;
void store_events_free(store_event *e, size_t n);
int store_events_after(store *st, int64_t cursor, size_t max, store_event **out, size_t *n);

/* ---- outbox consumers ------------------------------------------------------ */

/* A consumer (the search indexer, the version taker, ...) reads the outbox
 * by cursor: the id of the last event it has handled. Names are 1 to 64
 * bytes of [a-z0-9_.-]; anything else is STORE_EINVAL. */

/* The stored cursor of consumer `name`; 0 (and STORE_OK) when it has none. */
int store_cursor_get(store *st, const char *name, int64_t *cursor);
/* Stores the cursor of `name` (through the writer thread), registering the
 * consumer if new; `now` is recorded as the time it last moved. */
int store_cursor_set(store *st, const char *name, int64_t cursor, int64_t now);
/* Forgets a consumer that will not run again (so it no longer holds events
 * back from store_events_prune). STORE_ENOTFOUND if unknown. */
int store_cursor_delete(store *st, const char *name);

/* Retention: deletes the events created before `before` that every
 * registered consumer has passed (id at or below the smallest cursor); with
 * no consumer registered, nothing is deleted. *deleted (may be NULL) gets
 * how many went. */
int store_events_prune(store *st, int64_t before, int64_t *deleted);

/* How far consumer `name` is behind on the events of `vault` (NULL: of every
 * vault): how many events follow its cursor, and the `created` time of the
 * oldest of them (0 when none). */
int store_events_pending(store *st, const char *name, const char *vault, int64_t *count,
                         int64_t *oldest);

/* Commit listeners: fn(ud) runs on the writer thread after every committed
 * batch, so that consumers in this process wake at once instead of polling
 * (commits made by other processes are found by polling). fn must be quick and must not
 * call into the store. At most 16 listeners; STORE_ENOMEM beyond. */
typedef void (*store_listen_fn)(void *ud);
int store_listen(store *st, store_listen_fn fn, void *ud);
/* Removes a listener; once it returns, fn is not running and will not run. */
void store_unlisten(store *st, store_listen_fn fn, void *ud);

/* The documents of `vault` updated after vault sequence number `since`, each
 * with its latest sequence number, in that order (for the vault channel: a
 * client sends the last seq it saw). The array is freed with free(). */
typedef struct {
    char doc[33];
    int64_t seq;
} store_change;
int store_vault_changes(store *st, const char *vault, int64_t since, store_change **out, size_t *n);

/* ---- search index ------------------------------------------------------------
 *
 * One interface over SQLite FTS5 (tokenizer unicode61, remove_diacritics 2)
 * and PostgreSQL full text (tsvector + GIN; the 'simple' configuration with
 * unaccent in front when available). The index is derived data: the search
 * indexer fills it from the documents, `vaultd reindex` rebuilds it. Words
 * are matched without regard to case or accents, with no stemming; titles
 * weigh more than paths, which weigh more than the text.
 */

typedef struct {
    char id[33];       /* the note */
    char vault[33];    /* its vault */
    const char *path;  /* "/Projects/Q1/Design.md" */
    const char *title; /* NULL means "" */
    const char *text;  /* plain text (see util/mdtext.h); NULL means "" */
    int64_t trashed;   /* 0 when live, else when it went to the trash */
} store_search_doc;

/* The first STORE_SEARCH_MAX_TEXT bytes of a note's text are indexed (cut
 * at a UTF-8 boundary): PostgreSQL's tsvector holds at most 1 MB. */
#define STORE_SEARCH_MAX_TEXT (512u << 10)

/* Inserts or replaces the entries of docs[0..n) in one transaction. */
int store_search_put(store *st, const store_search_doc *docs, size_t n);
/* Removes the entry of note `id` (STORE_OK if it had none). */
int store_search_delete(store *st, const char *id);
/* Removes every entry (for a rebuild). */
int store_search_clear(store *st);
/* After a bulk load: merges SQLite's FTS5 segments, refreshes PostgreSQL's
 * planner statistics. */
int store_search_optimize(store *st);

/* A query ranks at most this many matches (see store_search). */
#define STORE_SEARCH_CANDIDATES 1000

typedef struct {
    const char *vault;       /* the vault to search */
    const squery *q;         /* parsed query */
    const char *path_prefix; /* only paths starting with it ("" or NULL: all) */
    bool trashed;            /* include notes in the trash */
    size_t limit;            /* 1..100 */
    size_t offset;           /* results to skip, 0..STORE_SEARCH_CANDIDATES */
} store_search_req;

typedef struct {
    char id[33];
    char *path;
    char *title;
    char *snippet; /* plain text; matches between U+00AB and U+00BB (« ») */
    double score;  /* higher is better; only comparable within one answer */
    int64_t trashed;
} store_search_hit;

void store_search_hits_free(store_search_hit *h, size_t n);

/* Ranked matches of req, best first (ties by path), at most req->limit
 * after skipping req->offset. The cost of a query is bounded whatever the
 * number of matches: the candidates ranked are the most recently indexed
 * STORE_SEARCH_CANDIDATES matches plus up to 200 whose title or path
 * match (after the vault, trash and path filters); when a query matches
 * more notes, the others are not ranked. *total counts the matches up to
 * STORE_SEARCH_CANDIDATES + 1 (that value meaning "more"). The array is
 * freed with store_search_hits_free. STORE_EINVAL for a bad request. */
int store_search(store *st, const store_search_req *req, store_search_hit **out, size_t *n,
                 int64_t *total);

#endif /* VN_STORE_H */
