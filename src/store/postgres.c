/*
 * postgres.c - the PostgreSQL backend of the storage API (see store_int.h),
 * on libpq.
 *
 * Statements are prepared once per connection (PQprepare, named "vnN", keyed
 * by their SQL text) and then run with PQexecPrepared, so the server parses
 * and plans a query once rather than on every call; once PG_CACHE_MAX are
 * prepared, further SQL runs with PQexecParams. Parameters travel as text
 * (integers, strings) or binary (blobs), results always come back in binary
 * format, so integers are read as big-endian words and bytea as raw bytes;
 * no escaping anywhere. Durability is the server's: fsync and
 * synchronous_commit as configured (on by default). Notices (e.g. from
 * CREATE ... IF NOT EXISTS) are dropped.
 *
 * Invariants: a store_rows owns one PGresult, fully received, and its cursor;
 * after an error that broke the connection it is reset, so the next
 * statement may succeed once the server is back, and the cache of prepared
 * statements is emptied with it (a new session has none). A statement is
 * cached only once the server has prepared it; prepared statements are not
 * transactional, so a rollback leaves the cache true.
 */
#include "store/store_int.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define PG_MAX_ARGS    16
#define PG_CACHE_SLOTS 256 /* hash slots, a power of two */
#define PG_CACHE_MAX   128 /* prepared statements; the table stays half empty */

/* One statement prepared on the connection. */
typedef struct {
    char *sql;
    uint32_t hash;
    char name[16];
} pg_prepared;

struct store_conn {
    PGconn *pg;
    bool transient;  /* the last failure was 40001 or 40P01 */
    int64_t changes; /* rows the last statement run to completion changed */
    unsigned nprepared;
    unsigned next_name; /* never reused in a session, even after a failed PQprepare */
    pg_prepared *slots[PG_CACHE_SLOTS]; /* open addressing, linear probing */
};

struct store_rows {
    PGresult *res;
    int row, nrows;
};

/* Equivalent to sqlite.c's migrations: keep the two in step. Text that is
 * compared or sorted is COLLATE "C", so order is bytewise as in SQLite. */
static const char *const pg_migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE users ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  email TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  pwhash TEXT NOT NULL,"
    "  created BIGINT NOT NULL);"
    "CREATE TABLE sessions ("
    "  token_hash BYTEA PRIMARY KEY CHECK (octet_length(token_hash) = 32),"
    "  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created BIGINT NOT NULL,"
    "  expires BIGINT NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE INDEX sessions_expires ON sessions(expires);"
    "CREATE TABLE login_failures ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  key TEXT COLLATE \"C\" NOT NULL,"
    "  at BIGINT NOT NULL);"
    "CREATE INDEX login_failures_key_at ON login_failures(key, at);"
    "CREATE TABLE vaults ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  name TEXT COLLATE \"C\" NOT NULL,"
    "  owner BIGINT NOT NULL REFERENCES users(id),"
    "  created BIGINT NOT NULL,"
    "  seq BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE members ("
    "  vault TEXT COLLATE \"C\" NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
    "  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 3),"
    "  PRIMARY KEY (vault, user_id));"
    "CREATE INDEX members_user ON members(user_id);"
    "CREATE TABLE doc_updates ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  doc TEXT COLLATE \"C\" NOT NULL,"
    "  vault TEXT COLLATE \"C\" NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
    "  vseq BIGINT NOT NULL,"
    "  data BYTEA NOT NULL,"
    "  UNIQUE (vault, vseq));"
    "CREATE INDEX doc_updates_doc ON doc_updates(doc, id);"
    "CREATE TABLE files ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  vault TEXT COLLATE \"C\" NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
    "  path TEXT COLLATE \"C\" NOT NULL,"
    "  title TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('note', 'file')),"
    "  created BIGINT NOT NULL,"
    "  updated BIGINT NOT NULL,"
    "  trashed BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX files_vault_path ON files(vault, path);"
    "CREATE TABLE outbox ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  vault TEXT COLLATE \"C\" NOT NULL,"
    "  type TEXT NOT NULL,"
    "  json TEXT NOT NULL,"
    "  created BIGINT NOT NULL);",
    /* 2: outbox consumers (cursors) and the search index. The text search
     * configuration vault_search is 'simple' (no stemming, no stop words)
     * with unaccent in front when the extension can be had, so that
     * "cafe" finds "Café" as SQLite's remove_diacritics does. */
    "CREATE TABLE consumers ("
    "  name TEXT COLLATE \"C\" PRIMARY KEY,"
    "  cursor BIGINT NOT NULL,"
    "  updated BIGINT NOT NULL);"
    "CREATE INDEX outbox_vault ON outbox(vault, id);"
    "DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS unaccent;"
    "  EXCEPTION WHEN others THEN NULL; END $$;"
    "CREATE TEXT SEARCH CONFIGURATION vault_search (COPY = simple);"
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'unaccent') THEN"
    "  ALTER TEXT SEARCH CONFIGURATION vault_search ALTER MAPPING FOR"
    "    word, numword, hword, numhword, hword_part, hword_numpart WITH unaccent, simple;"
    "  END IF; END $$;"
    "CREATE TABLE search_docs ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  vault TEXT COLLATE \"C\" NOT NULL,"
    "  path TEXT COLLATE \"C\" NOT NULL,"
    "  title TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  trashed BIGINT NOT NULL DEFAULT 0,"
    "  tsv TSVECTOR NOT NULL);"
    "CREATE INDEX search_docs_tsv ON search_docs USING gin(tsv);"
    "CREATE INDEX search_docs_vault_path ON search_docs(vault, path);",
    /* 3: trash retention per vault; note versions and the editing bursts
     * not yet in a version (server/history.c); trashed files by time */
    "ALTER TABLE vaults ADD COLUMN trash_retention_days INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE versions ("
    "  doc TEXT COLLATE \"C\" NOT NULL,"
    "  n BIGINT NOT NULL,"
    "  vault TEXT COLLATE \"C\" NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
    "  created BIGINT NOT NULL,"
    "  author BIGINT NOT NULL,"
    "  restored_from BIGINT NOT NULL DEFAULT 0,"
    "  base BIGINT NOT NULL,"
    "  snapshot BYTEA NOT NULL,"
    "  PRIMARY KEY (doc, n));"
    "CREATE TABLE version_bursts ("
    "  doc TEXT COLLATE \"C\" PRIMARY KEY,"
    "  vault TEXT COLLATE \"C\" NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
    "  first_at BIGINT NOT NULL,"
    "  last_at BIGINT NOT NULL,"
    "  first_user BIGINT NOT NULL,"
    "  last_user BIGINT NOT NULL,"
    "  restored_from BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX files_trashed ON files(trashed) WHERE trashed <> 0;",
    /* 4: how many updates (versions) a row of the update log stands for */
    "ALTER TABLE doc_updates ADD COLUMN n BIGINT NOT NULL DEFAULT 1 CHECK (n >= 1);",
    /* 5: notes the janitor purged: their logs take no update any more */
    "CREATE TABLE purged_docs ("
    "  doc TEXT COLLATE \"C\" PRIMARY KEY,"
    "  vault TEXT COLLATE \"C\" NOT NULL,"
    "  purged BIGINT NOT NULL);",
    /* 6: search speed. ttsv: the title and path words alone, with their own
     * GIN index (the candidates that rank first), computed for existing
     * rows as the indexer does (path: ASCII non-alphanumerics as spaces).
     * tsv kept inline (compressed) rather than TOASTed, rows rewritten: the
     * planner then sees what a sequential scan really costs and uses the
     * GIN indexes, and ranking reads it without a TOAST lookup. */
    "ALTER TABLE search_docs ADD COLUMN ttsv TSVECTOR;"
    "UPDATE search_docs SET ttsv ="
    "  setweight(to_tsvector('vault_search', title), 'A') ||"
    "  setweight(to_tsvector('vault_search',"
    "    regexp_replace(path, '[\\x01-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f]', ' ', 'g')), 'B');"
    "ALTER TABLE search_docs ALTER COLUMN ttsv SET NOT NULL;"
    "ALTER TABLE search_docs ALTER COLUMN tsv SET STORAGE MAIN;"
    "ALTER TABLE search_docs SET (toast_tuple_target = 8160);"
    "UPDATE search_docs SET tsv = tsv || ''::tsvector;"
    "CREATE INDEX search_docs_ttsv ON search_docs USING gin(ttsv);",
    /* 7: search keys, in a GIN index: a hash per pair of neighbouring
     * words of the note (positions p and p + 1 of tsv: the pairs a phrase
     * query matches), the same salted with 't' for its title and path
     * (ttsv), and salted with 'p' per prefix of 2, 3 and 4 characters of
     * its words. A phrase query then reads the notes that hold its pairs,
     * not every note that has its words; a short prefix one posting list,
     * not those of every word it starts. The query itself is still
     * matched, so a hash collision costs time, never a wrong answer. */
    "CREATE FUNCTION vault_search_keys(v tsvector, salt text) RETURNS int[]"
    "  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$"
    "  WITH e AS (SELECT u.lexeme AS l, p FROM unnest(v) u, unnest(u.positions) p)"
    "  SELECT coalesce(array_agg(DISTINCT hashtext(salt || a.l || ' ' || b.l)), '{}')"
    "  FROM e a JOIN e b ON b.p = a.p + 1 $$;"
    "CREATE FUNCTION vault_search_prefix_keys(v tsvector) RETURNS int[]"
    "  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$"
    "  SELECT coalesce(array_agg(DISTINCT hashtext('p' || left(u.lexeme, n))), '{}')"
    "  FROM unnest(v) u, generate_series(2, 4) n WHERE length(u.lexeme) >= n $$;"
    "ALTER TABLE search_docs ADD COLUMN keys int[] NOT NULL DEFAULT '{}';"
    "UPDATE search_docs SET keys = vault_search_keys(tsv, '') || vault_search_keys(ttsv, 't')"
    "  || vault_search_prefix_keys(tsv);"
    "CREATE INDEX search_docs_keys ON search_docs USING gin(keys);"
    "ANALYZE search_docs;",
};

static void pg_quiet(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

/* Copies libpq's message without its trailing newline. */
static void pg_message(char *buf, size_t len, const char *prefix, const char *msg) {
    snprintf(buf, len, "%s%s", prefix, msg ? msg : "");
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = '\0';
}

/* Forgets every prepared statement (the session that held them is gone). */
static void pg_cache_clear(store_conn *c) {
    for (size_t i = 0; i < PG_CACHE_SLOTS; i++) {
        if (c->slots[i] == NULL) continue;
        free(c->slots[i]->sql);
        free(c->slots[i]);
        c->slots[i] = NULL;
    }
    c->nprepared = 0;
    c->next_name = 0;
}

/* Maps a failed result (res may be NULL) by SQLSTATE; logs what is the
 * database's fault and resets a broken connection. */
static int pg_error(store_conn *c, const PGresult *res, const char *sql) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* serialization_failure, deadlock_detected: several vaultd replicas
     * writing the same vaults in different orders. */
    c->transient = state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
    if (state != NULL) {
        if (strcmp(state, "23505") == 0) return STORE_ECONFLICT; /* unique_violation */
        if (strcmp(state, "23503") == 0) return STORE_ENOTFOUND; /* foreign_key_violation */
        if (strncmp(state, "23", 2) == 0) return STORE_EINVAL;   /* check, not null */
        if (strncmp(state, "22", 2) == 0) return STORE_EINVAL;   /* data exception */
        if (strcmp(state, "53200") == 0) return STORE_ENOMEM;    /* out_of_memory */
    }
    char detail[512];
    pg_message(detail, sizeof(detail), "", res ? PQresultErrorMessage(res) : NULL);
    if (detail[0] == '\0') pg_message(detail, sizeof(detail), "", PQerrorMessage(c->pg));
    if (c->transient) {
        vlog(VLOG_WARN, "database conflict between writers; the batch runs again",
             json_pack("{s:s, s:s, s:s}", "backend", "postgres", "error", state, "detail", detail));
        return STORE_EIO;
    }
    store__log_error("postgres", state ? state : "no result", detail, sql);
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        pg_cache_clear(c);
        PQreset(c->pg);
    }
    return res == NULL && PQstatus(c->pg) == CONNECTION_OK ? STORE_ENOMEM : STORE_EIO;
}

static void pg_disconnect(store_conn *c) {
    if (c == NULL) return;
    pg_cache_clear(c);
    PQfinish(c->pg);
    free(c);
}

static int pg_connect(const char *where, store_conn **out, char *err, size_t errlen) {
    store_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return STORE_ENOMEM;
    }
    c->pg = PQconnectdb(where);
    if (c->pg == NULL) {
        snprintf(err, errlen, "out of memory");
        free(c);
        return STORE_ENOMEM;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        /* The message names host and port, never the password. */
        pg_message(err, errlen, "cannot connect to PostgreSQL: ", PQerrorMessage(c->pg));
        pg_disconnect(c);
        return STORE_EIO;
    }
    PQsetNoticeProcessor(c->pg, pg_quiet, NULL);
    if (PQsetClientEncoding(c->pg, "UTF8") != 0) {
        pg_message(err, errlen, "cannot use UTF8 with PostgreSQL: ", PQerrorMessage(c->pg));
        pg_disconnect(c);
        return STORE_EIO;
    }
    *out = c;
    return STORE_OK;
}

static int pg_check(store_conn *c, PGresult *res, const char *sql) {
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) return STORE_OK;
    return pg_error(c, res, sql);
}

static int pg_exec(store_conn *c, const char *sql) {
    c->transient = false;
    PGresult *res = PQexec(c->pg, sql);
    int err = pg_check(c, res, sql);
    PQclear(res);
    return err;
}

/* FNV-1a over the SQL text. */
static uint32_t pg_hash(const char *sql) {
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

/* Sets *out to the statement prepared for sql, preparing it first if needed;
 * *out is NULL when the cache is full (run the SQL unprepared). A failure to
 * prepare is mapped like a failure to run, and caches nothing. */
static int pg_prepare(store_conn *c, const char *sql, const pg_prepared **out) {
    uint32_t hash = pg_hash(sql);
    size_t i = hash & (PG_CACHE_SLOTS - 1);
    while (c->slots[i] != NULL) {
        if (c->slots[i]->hash == hash && strcmp(c->slots[i]->sql, sql) == 0) {
            *out = c->slots[i];
            return STORE_OK;
        }
        i = (i + 1) & (PG_CACHE_SLOTS - 1);
    }
    *out = NULL;
    if (c->nprepared >= PG_CACHE_MAX) return STORE_OK;
    pg_prepared *p = malloc(sizeof(*p));
    size_t len = strlen(sql);
    char *copy = malloc(len + 1);
    if (p == NULL || copy == NULL) {
        free(p);
        free(copy);
        return STORE_ENOMEM;
    }
    memcpy(copy, sql, len + 1);
    p->sql = copy;
    p->hash = hash;
    /* A failed PQprepare may still have created the name on the server (a
     * result lost in the client): never try a name twice in a session. */
    snprintf(p->name, sizeof(p->name), "vn%u", c->next_name++);
    PGresult *res = PQprepare(c->pg, p->name, sql, 0, NULL);
    int err = pg_check(c, res, sql);
    PQclear(res);
    if (err != STORE_OK) {
        free(copy);
        free(p);
        return err;
    }
    c->slots[i] = p;
    c->nprepared++;
    *out = p;
    return STORE_OK;
}

static int pg_query(store_conn *c, const char *sql, const store_arg *args, int nargs,
                    store_rows **rows) {
    const char *values[PG_MAX_ARGS];
    int lengths[PG_MAX_ARGS], formats[PG_MAX_ARGS];
    char ints[PG_MAX_ARGS][24];

    if (nargs < 0 || nargs > PG_MAX_ARGS) return STORE_EINVAL;
    for (int i = 0; i < nargs; i++) {
        const store_arg *a = &args[i];
        lengths[i] = 0;
        formats[i] = 0;
        switch (a->kind) {
        case SARG_INT:
            snprintf(ints[i], sizeof(ints[i]), "%lld", (long long)a->i);
            values[i] = ints[i];
            break;
        case SARG_TEXT: values[i] = a->p; break;
        case SARG_BLOB:
            if (a->len > (size_t)0x3fffffff) return STORE_EINVAL; /* bytea's limit: 1 GiB */
            values[i] = a->len ? a->p : "";
            lengths[i] = (int)a->len;
            formats[i] = 1;
            break;
        default: values[i] = NULL; break;
        }
    }
    c->transient = false;
    const pg_prepared *p = NULL;
    int err = strncmp(sql, STORE_SQL_UNPREPARED, sizeof(STORE_SQL_UNPREPARED) - 1) == 0
                  ? STORE_OK
                  : pg_prepare(c, sql, &p);
    if (err != STORE_OK) return err;
    PGresult *res = p != NULL ? PQexecPrepared(c->pg, p->name, nargs, values, lengths, formats, 1)
                              : PQexecParams(c->pg, sql, nargs, NULL, values, lengths, formats, 1);
    err = pg_check(c, res, sql);
    if (err == STORE_OK && rows == NULL) c->changes = strtoll(PQcmdTuples(res), NULL, 10);
    if (err != STORE_OK || rows == NULL) {
        PQclear(res);
        return err;
    }
    store_rows *r = malloc(sizeof(*r));
    if (r == NULL) {
        PQclear(res);
        return STORE_ENOMEM;
    }
    r->res = res;
    r->row = -1;
    r->nrows = PQntuples(res);
    *rows = r;
    return STORE_OK;
}

static int pg_next(store_rows *r) {
    if (r->row + 1 >= r->nrows) {
        r->row = r->nrows;
        return STORE_DONE;
    }
    r->row++;
    return STORE_ROW;
}

static bool pg_is_null(store_rows *r, int col) { return PQgetisnull(r->res, r->row, col) != 0; }

/* Binary integers (int2, int4, int8, bool) are big-endian of their size. */
static int64_t pg_col_int(store_rows *r, int col) {
    if (PQgetisnull(r->res, r->row, col)) return 0;
    const unsigned char *p = (const unsigned char *)PQgetvalue(r->res, r->row, col);
    int len = PQgetlength(r->res, r->row, col);
    if (len != 1 && len != 2 && len != 4 && len != 8) return 0;
    uint64_t v = (p[0] & 0x80) && len > 1 ? UINT64_MAX : 0; /* sign extension */
    for (int i = 0; i < len; i++) v = (v << 8) | p[i];
    return (int64_t)v;
}

static const char *pg_col_text(store_rows *r, int col, size_t *len) {
    /* libpq ends every value with a NUL byte, binary ones included. */
    *len = (size_t)PQgetlength(r->res, r->row, col);
    return PQgetvalue(r->res, r->row, col);
}

static const uint8_t *pg_col_blob(store_rows *r, int col, size_t *len) {
    *len = (size_t)PQgetlength(r->res, r->row, col);
    return (const uint8_t *)PQgetvalue(r->res, r->row, col);
}

static void pg_rows_free(store_rows *r) {
    if (r == NULL) return;
    PQclear(r->res);
    free(r);
}

static bool pg_transient(store_conn *c) { return c->transient; }

static int64_t pg_changes(store_conn *c) { return c->changes; }

const store_ops store__postgres = {
    .name = "postgres",
    .migrations = pg_migrations,
    .nmigrations = (int)(sizeof(pg_migrations) / sizeof(pg_migrations[0])),
    .begin_sql = "BEGIN",
    /* Serialises the migrations of several vaultd replicas; the key is
     * 0x564e5354, "VNST". */
    .migrate_lock_sql = "SELECT pg_advisory_xact_lock(1447973716)",
    .lock_vault_sql = "SELECT 1 FROM vaults WHERE id = $1 FOR UPDATE",
    .append_sql = "WITH v AS (UPDATE vaults SET seq = seq + 1 WHERE id = $2"
                  " AND NOT EXISTS (SELECT 1 FROM purged_docs WHERE doc = $1) RETURNING seq)"
                  " INSERT INTO doc_updates (doc, vault, vseq, data)"
                  " SELECT $1, $2, seq, $3 FROM v RETURNING vseq",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = pg_exec,
    .query = pg_query,
    .changes = pg_changes,
    .next = pg_next,
    .is_null = pg_is_null,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .rows_free = pg_rows_free,
    .transient = pg_transient,
};
