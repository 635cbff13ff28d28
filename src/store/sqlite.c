/*
 * sqlite.c - the SQLite backend of the storage API (see store_int.h).
 *
 * The database is <dir>/vault.db in WAL mode with synchronous=FULL, so a
 * commit is durable when it returns and readers never block the writer nor
 * see its uncommitted work. Every connection enables foreign keys and waits
 * (busy_timeout) rather than failing when another connection holds a lock.
 *
 * Statement cache: each connection keeps the statements it prepared, keyed
 * by their SQL text (prepared with SQLITE_PREPARE_PERSISTENT), so a query, or
 * a statement of a short script (the writer's BEGIN, SAVEPOINT, COMMIT...),
 * compiles once per connection rather than once per call. A cached
 * statement is busy while a store_rows walks it; a nested use of the same SQL
 * meanwhile prepares a one-off statement, finalized when its rows are freed.
 * Once the cache holds SQ_CACHE_MAX statements, further SQL runs one-off.
 *
 * Invariants: a store_rows uses one prepared statement, owned by the cache
 * (then busy until rows_free resets it and clears its bindings, which also
 * ends its read transaction) or by the rows (then finalized in rows_free);
 * an idle cached statement is reset and has no bindings; disconnect
 * finalizes every statement. Parameters $N are bound by name (so a
 * statement may use them in any order or more than once) and copied (so they
 * may die before the rows).
 */
#include "store/store_int.h"
#include "store/skeys.h"
#include "store/srank.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SQ_BUSY_TIMEOUT_MS 60000
#define SQ_CACHE_SLOTS     256 /* hash slots, a power of two */
#define SQ_CACHE_MAX       128 /* cached statements; the table stays half empty */
#define SQ_MAX_ARGS        16  /* parameters whose bind index is remembered */
#define SQ_EXEC_CACHED_MAX 256 /* longer scripts run without the cache */

typedef struct sq_cached sq_cached;

struct store_rows {
    store_conn *conn;
    sqlite3_stmt *stmt;
    sq_cached *cached; /* the cache entry owning stmt, or NULL for a one-off */
    size_t tail;       /* bytes of the SQL that stmt took (sq_exec goes on after them) */
};

/* One cached statement. `rows` is handed out while busy, so a cached query
 * allocates nothing. */
struct sq_cached {
    char *sql;
    uint32_t hash;
    bool busy;
    sqlite3_stmt *stmt;
    int idx[SQ_MAX_ARGS]; /* bind index of $1.., 0 when unused */
    store_rows rows;
};

struct store_conn {
    sqlite3 *db;
    size_t ncached;
    sq_cached *slots[SQ_CACHE_SLOTS]; /* open addressing, linear probing */
};

/* Equivalent to postgres.c's migrations: keep the two in step. */
static const char *const sq_migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  email TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  pwhash TEXT NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE sessions ("
    "  token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE INDEX sessions_expires ON sessions(expires);"
    "CREATE TABLE login_failures ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  key TEXT NOT NULL,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX login_failures_key_at ON login_failures(key, at);"
    "CREATE TABLE vaults ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  owner INTEGER NOT NULL REFERENCES users(id),"
    "  created INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE members ("
    "  vault TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 3),"
    "  PRIMARY KEY (vault, user_id));"
    "CREATE INDEX members_user ON members(user_id);"
    "CREATE TABLE doc_updates ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  doc TEXT NOT NULL,"
    "  vault TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
    "  vseq INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  UNIQUE (vault, vseq));"
    "CREATE INDEX doc_updates_doc ON doc_updates(doc, id);"
    "CREATE TABLE files ("
    "  id TEXT PRIMARY KEY,"
    "  vault TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
    "  path TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('note', 'file')),"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  trashed INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX files_vault_path ON files(vault, path);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  vault TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  json TEXT NOT NULL,"
    "  created INTEGER NOT NULL);",
    /* 2: outbox consumers (cursors) and the search index. search_fts holds
     * the indexed text (its rowid is search_docs.rowid); its `vault` column
     * holds the vault id as one token, so a query is narrowed to a vault
     * inside the full-text index. */
    "CREATE TABLE consumers ("
    "  name TEXT PRIMARY KEY,"
    "  cursor INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL);"
    "CREATE INDEX outbox_vault ON outbox(vault, id);"
    "CREATE TABLE search_docs ("
    "  rowid INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  vault TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  trashed INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX search_docs_vault_path ON search_docs(vault, path);"
    "CREATE VIRTUAL TABLE search_fts USING fts5(vault, title, path, body,"
    "  tokenize = 'unicode61 remove_diacritics 2');",
    /* 3: trash retention per vault; note versions and the editing bursts
     * not yet in a version (server/history.c); trashed files by time */
    "ALTER TABLE vaults ADD COLUMN trash_retention_days INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE versions ("
    "  doc TEXT NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  vault TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL,"
    "  author INTEGER NOT NULL,"
    "  restored_from INTEGER NOT NULL DEFAULT 0,"
    "  base INTEGER NOT NULL,"
    "  snapshot BLOB NOT NULL,"
    "  PRIMARY KEY (doc, n)) WITHOUT ROWID;"
    "CREATE TABLE version_bursts ("
    "  doc TEXT PRIMARY KEY,"
    "  vault TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
    "  first_at INTEGER NOT NULL,"
    "  last_at INTEGER NOT NULL,"
    "  first_user INTEGER NOT NULL,"
    "  last_user INTEGER NOT NULL,"
    "  restored_from INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX files_trashed ON files(trashed) WHERE trashed <> 0;",
    /* 4: how many updates (versions) a row of the update log stands for: 1,
     * or more for a compacted snapshot (store_txn_compact) */
    "ALTER TABLE doc_updates ADD COLUMN n INTEGER NOT NULL DEFAULT 1 CHECK (n >= 1);",
    /* 5: notes the janitor purged: their logs take no update any more */
    "CREATE TABLE purged_docs ("
    "  doc TEXT PRIMARY KEY,"
    "  vault TEXT NOT NULL,"
    "  purged INTEGER NOT NULL);",
    /* 6: FTS5 prefix indexes of 2, 3 and 4 characters (cheap "proj*"
     * queries): the full-text table is rebuilt with the option, its rows
     * copied over. */
    "CREATE VIRTUAL TABLE search_fts5 USING fts5(vault, title, path, body, prefix = '2 3 4',"
    "  tokenize = 'unicode61 remove_diacritics 2');"
    "INSERT INTO search_fts5 (rowid, vault, title, path, body)"
    "  SELECT rowid, vault, title, path, body FROM search_fts;"
    "DROP TABLE search_fts;"
    "ALTER TABLE search_fts5 RENAME TO search_fts;",
    /* 7: phrase keys (store/skeys.h): the column `keys` holds one word per
     * pair of neighbouring words of the title, path and text, so a phrase
     * query walks only the notes that hold its pairs. Rebuilt with the
     * column, filled by the function that computes it for new entries. */
    "CREATE VIRTUAL TABLE search_fts7 USING fts5(vault, title, path, body, keys,"
    "  prefix = '2 3 4', tokenize = 'unicode61 remove_diacritics 2');"
    "INSERT INTO search_fts7 (rowid, vault, title, path, body, keys)"
    "  SELECT rowid, vault, title, path, body, vault_search_keys(title, path, body)"
    "  FROM search_fts;"
    "DROP TABLE search_fts;"
    "ALTER TABLE search_fts7 RENAME TO search_fts;",
};

/* Maps an SQLite result code; logs what is the database's fault. */
static int sq_error(sqlite3 *db, int rc, const char *sql) {
    switch (rc) {
    case SQLITE_NOMEM: return STORE_ENOMEM;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return STORE_ECONFLICT;
    case SQLITE_CONSTRAINT_FOREIGNKEY: return STORE_ENOTFOUND;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE: return STORE_EINVAL;
    default: break;
    }
    if ((rc & 0xff) == SQLITE_CONSTRAINT) return STORE_EINVAL;
    store__log_error("sqlite", sqlite3_errstr(rc), db ? sqlite3_errmsg(db) : NULL, sql);
    return STORE_EIO;
}

static void sq_disconnect(store_conn *c) {
    if (c == NULL) return;
    for (size_t i = 0; i < SQ_CACHE_SLOTS; i++) {
        sq_cached *e = c->slots[i];
        if (e == NULL) continue;
        sqlite3_finalize(e->stmt);
        free(e->sql);
        free(e);
    }
    sqlite3_close_v2(c->db);
    free(c);
}

/* Runs a pragma that answers one row and checks the answer (when `want`). */
static int sq_pragma(sqlite3 *db, const char *sql, const char *want) {
    sqlite3_stmt *stmt = NULL;
    int err = STORE_OK;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        err = sq_error(db, rc, sql);
        goto out;
    }
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        err = sq_error(db, sqlite3_extended_errcode(db), sql);
        goto out;
    }
    if (want != NULL) {
        const unsigned char *got = rc == SQLITE_ROW ? sqlite3_column_text(stmt, 0) : NULL;
        if (got == NULL || strcmp((const char *)got, want) != 0) err = STORE_EIO;
    }
out:
    sqlite3_finalize(stmt);
    return err;
}

/* WAL checkpoints: after 10,000 pages (40 MB) of log instead of SQLite's
 * 1,000. A note edited continuously rewrites the same few pages, and a
 * checkpoint copies each page once however often it was logged: ten times
 * rarer checkpoints copy far fewer pages and fsync the database ten times
 * less (the sync benchmark's closed loop: 21,000 -> 24,000 updates/s).
 * The log file is cut back to 64 MB after a checkpoint if it grew beyond. */
#define SQ_WAL_CHECKPOINT_PAGES "10000"
#define SQ_WAL_SIZE_LIMIT       "67108864"

/* SQLite journals the pages a statement changes (for a statement that may
 * have to be undone half-way) and, when a group commit runs again with a
 * savepoint per transaction (store.c), every page each transaction first
 * changes. Past SQLite's default of 64 KB that statement journal moves to
 * a temporary file for good: a write(2) per page, about 8% of the writer's
 * time under the sync benchmark when every batch used savepoints. Kept in
 * memory up to 8 MB instead (a transaction rarely changes more). Set once,
 * before SQLite initializes; if something initialized it first, the
 * default stays (slower, not wrong). */
static void stmt_journal_in_memory(void) {
    (void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, 8 << 20);
}

static int sq_connect(const char *where, store_conn **out, char *err, size_t errlen) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, stmt_journal_in_memory);
    store_conn *c = NULL;
    char *path = NULL;
    int rc, res = STORE_OK;

    if (where == NULL || where[0] == '\0') {
        snprintf(err, errlen, "no data directory given");
        return STORE_EINVAL;
    }
    if (mkdir(where, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data directory %s: %s", where, strerror(errno));
        return STORE_EIO;
    }
    size_t n = strlen(where) + sizeof("/vault.db");
    path = malloc(n);
    c = calloc(1, sizeof(*c));
    if (path == NULL || c == NULL) {
        snprintf(err, errlen, "out of memory");
        res = STORE_ENOMEM;
        goto fail;
    }
    snprintf(path, n, "%s/vault.db", where);
    rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open SQLite database %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        res = STORE_EIO;
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS);
    if (skeys_register(c->db) != SKEYS_OK || srank_register(c->db) != SRANK_OK) {
        snprintf(err, errlen, "cannot register SQL functions on %s", path);
        res = STORE_ENOMEM;
        goto fail;
    }
    if (sq_pragma(c->db, "PRAGMA journal_mode=WAL", "wal") != STORE_OK) {
        snprintf(err, errlen, "cannot put SQLite database %s in WAL mode (%s)", path,
                 sqlite3_errmsg(c->db));
        res = STORE_EIO;
        goto fail;
    }
    if (sq_pragma(c->db, "PRAGMA synchronous=FULL", NULL) != STORE_OK ||
        sq_pragma(c->db, "PRAGMA foreign_keys=ON", NULL) != STORE_OK ||
        sq_pragma(c->db, "PRAGMA wal_autocheckpoint=" SQ_WAL_CHECKPOINT_PAGES, NULL) != STORE_OK ||
        sq_pragma(c->db, "PRAGMA journal_size_limit=" SQ_WAL_SIZE_LIMIT, NULL) != STORE_OK) {
        snprintf(err, errlen, "cannot configure SQLite database %s: %s", path,
                 sqlite3_errmsg(c->db));
        res = STORE_EIO;
        goto fail;
    }
    free(path);
    *out = c;
    return STORE_OK;
fail:
    free(path);
    sq_disconnect(c);
    return res;
}

/* FNV-1a over the SQL text. */
static uint32_t sq_hash(const char *sql) {
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

/* Fills idx[i] with the bind index of $i+1 (0 when the statement does not use
 * it), for the first n parameters. */
static void sq_param_map(sqlite3_stmt *stmt, int *idx, int n) {
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "$%d", i + 1);
        idx[i] = sqlite3_bind_parameter_index(stmt, name);
    }
}

/* Binds args by their $N names; map (may be NULL) holds the indexes of the
 * first nmap parameters, already looked up. */
static int sq_bind(sqlite3_stmt *stmt, const int *map, int nmap, const store_arg *args, int nargs) {
    for (int i = 0; i < nargs; i++) {
        int idx;
        if (i < nmap) {
            idx = map[i];
        } else {
            char name[16];
            snprintf(name, sizeof(name), "$%d", i + 1);
            idx = sqlite3_bind_parameter_index(stmt, name);
        }
        if (idx == 0) continue; /* the statement does not use this one */
        int rc;
        const store_arg *a = &args[i];
        switch (a->kind) {
        case SARG_INT: rc = sqlite3_bind_int64(stmt, idx, a->i); break;
        case SARG_TEXT: rc = sqlite3_bind_text(stmt, idx, a->p, -1, SQLITE_TRANSIENT); break;
        case SARG_BLOB:
            rc = sqlite3_bind_blob64(stmt, idx, a->len ? a->p : "", a->len, SQLITE_TRANSIENT);
            break;
        default: rc = sqlite3_bind_null(stmt, idx); break;
        }
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

/* The cache's slot for sql: the one holding it, or the empty one where it
 * would go. The table is never full (SQ_CACHE_MAX < SQ_CACHE_SLOTS). */
static sq_cached **sq_slot(store_conn *c, const char *sql, uint32_t hash) {
    size_t i = hash & (SQ_CACHE_SLOTS - 1);
    for (;;) {
        sq_cached *e = c->slots[i];
        if (e == NULL || (e->hash == hash && strcmp(e->sql, sql) == 0)) return &c->slots[i];
        i = (i + 1) & (SQ_CACHE_SLOTS - 1);
    }
}

/* Prepares sql into a new cache entry at *slot; on failure returns an SQLite
 * code and caches nothing. */
static int sq_cache_add(store_conn *c, sq_cached **slot, const char *sql, uint32_t hash) {
    sq_cached *e = calloc(1, sizeof(*e));
    size_t len = strlen(sql);
    char *copy = malloc(len + 1);
    if (e == NULL || copy == NULL) {
        free(e);
        free(copy);
        return SQLITE_NOMEM;
    }
    memcpy(copy, sql, len + 1);
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &e->stmt, &tail);
    if (rc != SQLITE_OK || e->stmt == NULL) {
        /* No statement at all (only blanks or a comment) is misuse. */
        rc = rc != SQLITE_OK ? sqlite3_extended_errcode(c->db) : SQLITE_MISUSE;
        sqlite3_finalize(e->stmt);
        free(copy);
        free(e);
        return rc;
    }
    e->sql = copy;
    e->hash = hash;
    sq_param_map(e->stmt, e->idx, SQ_MAX_ARGS);
    e->rows = (store_rows){.conn = c, .stmt = e->stmt, .cached = e, .tail = (size_t)(tail - sql)};
    *slot = e;
    c->ncached++;
    return SQLITE_OK;
}

/* Puts a cached statement back: reset (which ends its read transaction),
 * bindings cleared, no longer busy. */
static void sq_cache_release(sq_cached *e) {
    sqlite3_reset(e->stmt);
    sqlite3_clear_bindings(e->stmt);
    e->busy = false;
}

/* Frees what sq_get handed out. */
static void sq_put(store_rows *r) {
    if (r->cached != NULL) {
        sq_cache_release(r->cached);
    } else {
        sqlite3_finalize(r->stmt);
        free(r);
    }
}

/* Rows for sql, not yet bound: the cached statement when idle, else a one-off
 * (a nested use of a busy statement, or a full cache). On failure returns
 * NULL with an SQLite code in *rc. */
static store_rows *sq_get(store_conn *c, const char *sql, int *rc) {
    uint32_t hash = sq_hash(sql);
    sq_cached **slot = sq_slot(c, sql, hash);
    if (*slot == NULL && c->ncached < SQ_CACHE_MAX) {
        *rc = sq_cache_add(c, slot, sql, hash);
        if (*rc != SQLITE_OK) return NULL;
    }
    if (*slot != NULL && !(*slot)->busy) {
        (*slot)->busy = true;
        return &(*slot)->rows;
    }
    store_rows *r = malloc(sizeof(*r));
    if (r == NULL) {
        *rc = SQLITE_NOMEM;
        return NULL;
    }
    *r = (store_rows){.conn = c, .stmt = NULL, .cached = NULL};
    const char *tail = NULL;
    *rc = sqlite3_prepare_v2(c->db, sql, -1, &r->stmt, &tail);
    if (*rc != SQLITE_OK || r->stmt == NULL) {
        *rc = *rc != SQLITE_OK ? sqlite3_extended_errcode(c->db) : SQLITE_MISUSE;
        sqlite3_finalize(r->stmt);
        free(r);
        return NULL;
    }
    r->tail = (size_t)(tail - sql);
    return r;
}

/* Runs a script: each statement from the cache when the script is short
 * (the writer's BEGIN, SAVEPOINT, COMMIT...), else through sqlite3_exec (the
 * migrations, run once). */
static int sq_exec(store_conn *c, const char *sql) {
    if (strlen(sql) > SQ_EXEC_CACHED_MAX) {
        char *msg = NULL;
        int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
        sqlite3_free(msg);
        return rc == SQLITE_OK ? STORE_OK : sq_error(c->db, sqlite3_extended_errcode(c->db), sql);
    }
    const char *p = sql;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (*p == '\0') return STORE_OK;
        int rc = SQLITE_OK;
        store_rows *r = sq_get(c, p, &rc);
        if (r == NULL) return sq_error(c->db, rc, sql);
        while ((rc = sqlite3_step(r->stmt)) == SQLITE_ROW) {
        }
        int err =
            rc == SQLITE_DONE ? STORE_OK : sq_error(c->db, sqlite3_extended_errcode(c->db), sql);
        p += r->tail;
        sq_put(r);
        if (err != STORE_OK) return err;
    }
}

static int sq_query(store_conn *c, const char *sql, const store_arg *args, int nargs,
                    store_rows **rows) {
    int rc = SQLITE_OK;
    store_rows *r = sq_get(c, sql, &rc);
    if (r == NULL) return sq_error(c->db, rc, sql);
    rc = r->cached ? sq_bind(r->stmt, r->cached->idx, SQ_MAX_ARGS, args, nargs)
                   : sq_bind(r->stmt, NULL, 0, args, nargs);
    if (rc != SQLITE_OK) {
        int err = sq_error(c->db, rc, sql);
        sq_put(r);
        return err;
    }
    if (rows != NULL) {
        *rows = r;
        return STORE_OK;
    }
    while ((rc = sqlite3_step(r->stmt)) == SQLITE_ROW) {
    }
    int err = STORE_OK;
    if (rc != SQLITE_DONE) err = sq_error(c->db, sqlite3_extended_errcode(c->db), sql);
    sq_put(r);
    return err;
}

static int64_t sq_changes(store_conn *c) { return sqlite3_changes64(c->db); }

static int sq_next(store_rows *r) {
    int rc = sqlite3_step(r->stmt);
    if (rc == SQLITE_ROW) return STORE_ROW;
    if (rc == SQLITE_DONE) return STORE_DONE;
    return sq_error(r->conn->db, sqlite3_extended_errcode(r->conn->db), sqlite3_sql(r->stmt));
}

static bool sq_is_null(store_rows *r, int col) {
    return sqlite3_column_type(r->stmt, col) == SQLITE_NULL;
}

static int64_t sq_col_int(store_rows *r, int col) { return sqlite3_column_int64(r->stmt, col); }

static const char *sq_col_text(store_rows *r, int col, size_t *len) {
    const unsigned char *t = sqlite3_column_text(r->stmt, col);
    *len = (size_t)sqlite3_column_bytes(r->stmt, col);
    return t ? (const char *)t : "";
}

static const uint8_t *sq_col_blob(store_rows *r, int col, size_t *len) {
    const void *b = sqlite3_column_blob(r->stmt, col);
    *len = (size_t)sqlite3_column_bytes(r->stmt, col);
    return b ? b : (const uint8_t *)"";
}

static void sq_rows_free(store_rows *r) {
    if (r == NULL) return;
    sq_put(r);
}

const store_ops store__sqlite = {
    .name = "sqlite",
    .migrations = sq_migrations,
    .nmigrations = (int)(sizeof(sq_migrations) / sizeof(sq_migrations[0])),
    .begin_sql = "BEGIN IMMEDIATE",
    .migrate_lock_sql = NULL,
    .lock_vault_sql = NULL, /* BEGIN IMMEDIATE already locks the database */
    .append_sql = NULL,     /* no UPDATE in a WITH clause; statements cost no round trip */
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .exec = sq_exec,
    .query = sq_query,
    .changes = sq_changes,
    .next = sq_next,
    .is_null = sq_is_null,
    .col_int = sq_col_int,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .rows_free = sq_rows_free,
    .transient = NULL, /* one writer connection: no conflicts to retry */
};
