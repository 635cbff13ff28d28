/*
 * store_int.h - internals of the storage module: the backend interface.
 *
 * store.c holds every query of the storage API once, in SQL that both
 * backends accept (parameters are written $1, $2, ...; text that is compared
 * or sorted is bytewise in both: SQLite's BINARY, PostgreSQL's COLLATE "C").
 * A backend (sqlite.c, postgres.c) only knows how to connect, run a script,
 * run one parameterised statement and walk its rows, plus its own schema
 * migrations. Nothing here is API: only store.c and the store tests use it.
 *
 * Invariants:
 * - a store_conn is used by one thread at a time (the writer thread, or a
 *   reader holding the store's read lock);
 * - every backend function returns STORE_OK or a STORE_E* code, maps
 *   constraint violations the same way (unique: ECONFLICT, foreign key:
 *   ENOTFOUND, check/not null/bad data: EINVAL) and logs only the errors
 *   that are the database's fault (EIO);
 * - the two migration arrays describe equivalent schemas, version i+1 being
 *   migrations[i].
 */
#ifndef VN_STORE_INT_H
#define VN_STORE_INT_H

#include "store/store.h"

typedef struct store_conn store_conn; /* one database connection */
typedef struct store_rows store_rows; /* the rows of one statement */

typedef enum { SARG_NULL, SARG_INT, SARG_TEXT, SARG_BLOB } store_arg_kind;

/* One statement parameter; text is NUL-terminated, blobs have `len`. The
 * pointers are borrowed for the duration of the call. */
typedef struct {
    store_arg_kind kind;
    int64_t i;
    const void *p;
    size_t len;
} store_arg;

/* A statement whose SQL starts with this comment is planned for its actual
 * parameters on every run (PostgreSQL: never prepared, so never a generic
 * plan): for queries whose best plan depends on the values, such as
 * full-text searches (a generic plan scans the table). */
#define STORE_SQL_UNPREPARED "/* unprepared */ "

#define STORE_ROW  1 /* rows->next: a row is ready */
#define STORE_DONE 0 /* rows->next: no more rows */

typedef struct store_ops {
    const char *name;
    const char *const *migrations; /* migrations[i] takes the schema to i+1 */
    int nmigrations;
    const char *begin_sql;        /* starts a write transaction */
    const char *migrate_lock_sql; /* run first in the migration txn, or NULL */
    /* Locks the row of vault $1 at the start of a batch, or NULL. Batches
     * lock every vault they write in id order, so that writers of several
     * processes never deadlock on vault rows. */
    const char *lock_vault_sql;
    /* Bumps the seq of vault $2 and appends update $3 of doc $1 with it,
     * returning that seq (no row: no such vault), in one statement; NULL
     * runs the UPDATE and the INSERT separately. It saves a round trip where
     * a statement costs one. */
    const char *append_sql;

    /* Opens one connection to `where`; on failure writes a sentence to err. */
    int (*connect)(const char *where, store_conn **out, char *err, size_t errlen);
    void (*disconnect)(store_conn *c); /* NULL is a no-op */
    /* Runs one or more statements without parameters or results. */
    int (*exec)(store_conn *c, const char *sql);
    /* Runs one statement. With rows NULL it runs to completion; otherwise
     * *rows is set (on STORE_OK only) and must be freed with rows_free. */
    int (*query)(store_conn *c, const char *sql, const store_arg *args, int nargs,
                 store_rows **rows);
    /* Rows inserted, updated or deleted by the last statement `query` ran
     * to completion (rows NULL) on c. It spares SQLite a RETURNING clause,
     * which opens a temporary table at every run. */
    int64_t (*changes)(store_conn *c);
    int (*next)(store_rows *r); /* STORE_ROW, STORE_DONE or an error */
    bool (*is_null)(store_rows *r, int col);
    int64_t (*col_int)(store_rows *r, int col);
    /* Borrowed until the next call on r; text is NUL-terminated. */
    const char *(*col_text)(store_rows *r, int col, size_t *len);
    const uint8_t *(*col_blob)(store_rows *r, int col, size_t *len);
    void (*rows_free)(store_rows *r); /* NULL is a no-op */
    /* Whether the last failure on c was a transient conflict between
     * concurrent writers (deadlock, serialization), worth running the whole
     * transaction again. NULL when the backend has none. */
    bool (*transient)(store_conn *c);
} store_ops;

extern const store_ops store__sqlite;
extern const store_ops store__postgres;

/* Shared by the backends: logs a database failure as one JSON line. */
void store__log_error(const char *backend, const char *what, const char *detail, const char *sql);

/* ---- hooks for the store's own tests ------------------------------------- */

/* A step that calls fn(st, conn, arg) on the writer thread inside the txn's
 * savepoint; its non-zero return fails the txn with that error. */
typedef int (*store__call_fn)(store *st, store_conn *c, void *arg);
int store__txn_call(store_txn *t, store__call_fn fn, void *arg);
/* Runs a script on a connection (from inside a store__call_fn). */
int store__conn_exec(store *st, store_conn *c, const char *sql);
/* How many transactions wait in the writer's queue. */
size_t store__queued(store *st);

/* ---- for the other files of the store module (search.c) ------------------ */

const store_ops *store__ops(store *st);
/* Runs one read statement on a pooled read connection, calling fn for each
 * row (a non-zero return stops and is returned); *nrows (may be NULL) gets
 * the number of rows seen. */
typedef int (*store__row_fn)(store *st, store_rows *r, void *ctx);
int store__read(store *st, const char *sql, const store_arg *args, int nargs, store__row_fn fn,
                void *ctx, size_t *nrows);
bool store__id_ok(const char *s);
bool store__text_ok(const char *s);
/* The least string above every string starting with `prefix` (*out is
 * malloc'd, or NULL when there is no bound). */
int store__prefix_upper(const char *prefix, char **out);

#endif /* VN_STORE_INT_H */
