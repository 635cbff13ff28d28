/*
 * replica.c - the SQLite replica of replica.h. WAL journal, synchronous
 * NORMAL: a power cut may lose the last transactions, never corrupt the
 * database; what is lost is captured again from the folder next time.
 */
#include "client/replica.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

struct replica {
    sqlite3 *db;
    int lockfd;
    char url[1024];
    char vault[33];
    char name[256];
    uint32_t client_id;
    uint64_t since;
    int64_t last_sync;
    char err[512];
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v);"
    "CREATE TABLE IF NOT EXISTS docs(id TEXT PRIMARY KEY, state BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS pending(ref INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL,"
    " upd BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS files(id TEXT PRIMARY KEY, lpath TEXT NOT NULL, size INTEGER,"
    " mtime INTEGER, ino INTEGER, hash INTEGER, base BLOB);";

static int fail(replica *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    return -1;
}

static int dbfail(replica *r, const char *what) {
    return fail(r, "local replica: %s: %s", what, sqlite3_errmsg(r->db));
}

const char *replica_error(const replica *r) { return r->err; }
const char *replica_url(const replica *r) { return r->url; }
const char *replica_vault(const replica *r) { return r->vault; }
const char *replica_vault_name(const replica *r) { return r->name; }
uint32_t replica_client_id(const replica *r) { return r->client_id; }
uint64_t replica_since(const replica *r) { return r->since; }
int64_t replica_last_sync(const replica *r) { return r->last_sync; }

void rfile_release(rfile *f) {
    free(f->lpath);
    free(f->base);
    f->lpath = NULL;
    f->base = NULL;
    f->base_len = 0;
}

static int exec(replica *r, const char *sql) {
    return sqlite3_exec(r->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : dbfail(r, sql);
}

static int meta_set_text(replica *r, const char *k, const char *v) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        return dbfail(r, "meta");
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : dbfail(r, "meta");
    sqlite3_finalize(st);
    return rc;
}

static int meta_set_int(replica *r, const char *k, int64_t v) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        return dbfail(r, "meta");
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : dbfail(r, "meta");
    sqlite3_finalize(st);
    return rc;
}

static int load_meta(replica *r) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "SELECT k, v FROM meta", -1, &st, NULL) != SQLITE_OK)
        return dbfail(r, "meta");
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (k == NULL || v == NULL) continue;
        if (strcmp(k, "url") == 0) snprintf(r->url, sizeof(r->url), "%s", v);
        if (strcmp(k, "vault") == 0) snprintf(r->vault, sizeof(r->vault), "%s", v);
        if (strcmp(k, "name") == 0) snprintf(r->name, sizeof(r->name), "%s", v);
        if (strcmp(k, "client_id") == 0) r->client_id = (uint32_t)sqlite3_column_int64(st, 1);
        if (strcmp(k, "since") == 0) r->since = (uint64_t)sqlite3_column_int64(st, 1);
        if (strcmp(k, "last_sync") == 0) r->last_sync = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (strlen(r->vault) != 32 || r->url[0] == '\0') return fail(r, "local replica is incomplete");
    return 0;
}

static int take_lock(replica *r, const char *dir) {
    char p[4200];
    snprintf(p, sizeof(p), "%s/.vault/lock", dir);
    r->lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (r->lockfd < 0) return fail(r, "cannot open %s: %s", p, strerror(errno));
    if (flock(r->lockfd, LOCK_EX | LOCK_NB) != 0)
        return fail(r,
                    "another vn is working on %s right now (for example `vn sync --watch`); "
                    "stop it or wait for it to finish",
                    dir);
    return 0;
}

static int open_db(replica *r, const char *dir, int flags) {
    char p[4200];
    snprintf(p, sizeof(p), "%s/.vault/replica.db", dir);
    if (sqlite3_open_v2(p, &r->db, flags, NULL) != SQLITE_OK)
        return fail(r, "cannot open %s: %s", p, r->db ? sqlite3_errmsg(r->db) : "out of memory");
    sqlite3_busy_timeout(r->db, 10000);
    if (exec(r, "PRAGMA journal_mode=WAL") != 0 || exec(r, "PRAGMA synchronous=NORMAL") != 0)
        return -1;
    return 0;
}

int replica_create(const char *dir, const char *url, const char *vault, const char *name,
                   replica **out, char *err, size_t errlen) {
    replica *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->lockfd = -1;
    char p[4200];
    snprintf(p, sizeof(p), "%s/.vault", dir);
    if (mkdir(p, 0700) != 0) {
        if (errno == EEXIST)
            fail(r, "%s already holds a vault (%s exists)", dir, p);
        else
            fail(r, "cannot create %s: %s", p, strerror(errno));
        goto bad;
    }
    if (take_lock(r, dir) != 0 ||
        open_db(r, dir, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) != 0 || exec(r, schema) != 0)
        goto bad;
    uint32_t cid = 0;
    while (cid == 0)
        if (getrandom(&cid, sizeof(cid), 0) != sizeof(cid)) goto bad;
    if (exec(r, "BEGIN") != 0 || meta_set_text(r, "url", url) != 0 ||
        meta_set_text(r, "vault", vault) != 0 || meta_set_text(r, "name", name) != 0 ||
        meta_set_int(r, "client_id", cid) != 0 || meta_set_int(r, "since", 0) != 0 ||
        exec(r, "COMMIT") != 0 || load_meta(r) != 0)
        goto bad;
    *out = r;
    return 0;
bad:
    snprintf(err, errlen, "%s", r->err);
    replica_close(r);
    return -1;
}

int replica_open(const char *dir, bool lock, replica **out, char *err, size_t errlen) {
    replica *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->lockfd = -1;
    char p[4200];
    struct stat st;
    snprintf(p, sizeof(p), "%s/.vault/replica.db", dir);
    if (stat(p, &st) != 0) {
        fail(r, "%s is not a vault folder (no .vault/replica.db): use `vn clone` first", dir);
        goto bad;
    }
    if ((lock && take_lock(r, dir) != 0) || open_db(r, dir, SQLITE_OPEN_READWRITE) != 0 ||
        exec(r, schema) != 0 || load_meta(r) != 0)
        goto bad;
    *out = r;
    return 0;
bad:
    snprintf(err, errlen, "%s", r->err);
    replica_close(r);
    return -1;
}

void replica_close(replica *r) {
    if (r == NULL) return;
    if (r->db != NULL) sqlite3_close(r->db);
    if (r->lockfd >= 0) close(r->lockfd);
    free(r);
}

int replica_set_since(replica *r, uint64_t since) {
    if (meta_set_int(r, "since", (int64_t)since) != 0) return -1;
    r->since = since;
    return 0;
}

int replica_set_last_sync(replica *r, int64_t ms) {
    if (meta_set_int(r, "last_sync", ms) != 0) return -1;
    r->last_sync = ms;
    return 0;
}

int replica_begin(replica *r) { return exec(r, "BEGIN IMMEDIATE"); }
int replica_commit(replica *r) { return exec(r, "COMMIT"); }
void replica_rollback(replica *r) { sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL); }

static int blob_out(sqlite3_stmt *st, int col, uint8_t **blob, size_t *len) {
    int n = sqlite3_column_bytes(st, col);
    const void *p = sqlite3_column_blob(st, col);
    *blob = malloc(n > 0 ? (size_t)n : 1);
    if (*blob == NULL) return -1;
    if (n > 0) memcpy(*blob, p, (size_t)n);
    *len = (size_t)n;
    return 0;
}

int replica_doc_get(replica *r, const char *id, uint8_t **blob, size_t *len) {
    *blob = NULL;
    *len = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "SELECT state FROM docs WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return dbfail(r, "docs");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = blob_out(st, 0, blob, len) == 0 ? 0 : fail(r, "out of memory");
    else if (rc == SQLITE_DONE)
        rc = 1;
    else
        rc = dbfail(r, "docs");
    sqlite3_finalize(st);
    return rc;
}

int replica_doc_put(replica *r, const char *id, const uint8_t *blob, size_t len) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO docs(id, state) VALUES(?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        return dbfail(r, "docs");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : dbfail(r, "docs");
    sqlite3_finalize(st);
    return rc;
}

static int64_t count(replica *r, const char *sql) {
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int64_t replica_doc_count(replica *r) { return count(r, "SELECT count(*) FROM docs"); }
int64_t replica_pending_count(replica *r) { return count(r, "SELECT count(*) FROM pending"); }

int replica_pending_add(replica *r, const char *doc, const uint8_t *upd, size_t len,
                        uint64_t *ref) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "INSERT INTO pending(doc, upd) VALUES(?, ?)", -1, &st, NULL) !=
        SQLITE_OK)
        return dbfail(r, "pending");
    sqlite3_bind_text(st, 1, doc, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, upd, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : dbfail(r, "pending");
    sqlite3_finalize(st);
    if (rc == 0 && ref != NULL) *ref = (uint64_t)sqlite3_last_insert_rowid(r->db);
    return rc;
}

int replica_pending_drop(replica *r, uint64_t ref) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "DELETE FROM pending WHERE ref = ?", -1, &st, NULL) != SQLITE_OK)
        return dbfail(r, "pending");
    sqlite3_bind_int64(st, 1, (int64_t)ref);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : dbfail(r, "pending");
    sqlite3_finalize(st);
    return rc;
}

bool replica_pending_has(replica *r, const char *doc) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "SELECT 1 FROM pending WHERE doc = ? LIMIT 1", -1, &st, NULL) !=
        SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, doc, -1, SQLITE_STATIC);
    bool has = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return has;
}

int replica_pending_each(replica *r, replica_pending_fn fn, void *ud) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "SELECT ref, doc, upd FROM pending ORDER BY ref", -1, &st,
                           NULL) != SQLITE_OK)
        return dbfail(r, "pending");
    int rc = 0, s;
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
        rc = fn(ud, (uint64_t)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));
    }
    sqlite3_finalize(st);
    return rc;
}

static int row_out(sqlite3_stmt *st, rfile *f) {
    memset(f, 0, sizeof(*f));
    snprintf(f->id, sizeof(f->id), "%s", (const char *)sqlite3_column_text(st, 0));
    f->lpath = strdup((const char *)sqlite3_column_text(st, 1));
    f->size = sqlite3_column_int64(st, 2);
    f->mtime_ns = sqlite3_column_int64(st, 3);
    f->ino = (uint64_t)sqlite3_column_int64(st, 4);
    f->hash = (uint64_t)sqlite3_column_int64(st, 5);
    if (f->lpath == NULL) return -1;
    if (sqlite3_column_type(st, 6) != SQLITE_NULL && blob_out(st, 6, &f->base, &f->base_len) != 0) {
        free(f->lpath);
        f->lpath = NULL;
        return -1;
    }
    return 0;
}

#define FILE_COLS "id, lpath, size, mtime, ino, hash, base"

int64_t replica_meta_int(replica *r, const char *key, int64_t def) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "SELECT v FROM meta WHERE k = ?", -1, &st, NULL) != SQLITE_OK)
        return def;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : def;
    sqlite3_finalize(st);
    return v;
}

int replica_set_meta_int(replica *r, const char *key, int64_t v) { return meta_set_int(r, key, v); }

static int files_query(replica *r, const char *sql, rfile **out, size_t *n) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) return dbfail(r, "files");
    rfile *a = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 64;
            rfile *b = realloc(a, cap * sizeof(*a));
            if (b == NULL) {
                rc = fail(r, "out of memory");
                break;
            }
            a = b;
        }
        if (row_out(st, &a[len]) != 0) {
            rc = fail(r, "out of memory");
            break;
        }
        len++;
    }
    sqlite3_finalize(st);
    if (rc != 0) {
        replica_files_free(a, len);
        return rc;
    }
    *out = a;
    *n = len;
    return 0;
}

int replica_files_all(replica *r, rfile **out, size_t *n) {
    return files_query(r, "SELECT " FILE_COLS " FROM files ORDER BY lpath", out, n);
}

int replica_files_based(replica *r, rfile **out, size_t *n) {
    return files_query(r, "SELECT " FILE_COLS " FROM files WHERE base IS NOT NULL ORDER BY lpath",
                       out, n);
}

void replica_files_free(rfile *f, size_t n) {
    for (size_t i = 0; i < n; i++) rfile_release(&f[i]);
    free(f);
}

int replica_file_get(replica *r, const char *id, rfile *out) {
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "SELECT " FILE_COLS " FROM files WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return dbfail(r, "files");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = row_out(st, out) == 0 ? 0 : fail(r, "out of memory");
    else
        rc = rc == SQLITE_DONE ? 1 : dbfail(r, "files");
    sqlite3_finalize(st);
    return rc;
}

int replica_file_put(replica *r, const rfile *f) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db,
                           "INSERT OR REPLACE INTO files(" FILE_COLS ") VALUES(?,?,?,?,?,?,?)", -1,
                           &st, NULL) != SQLITE_OK)
        return dbfail(r, "files");
    sqlite3_bind_text(st, 1, f->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, f->lpath, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, f->size);
    sqlite3_bind_int64(st, 4, f->mtime_ns);
    sqlite3_bind_int64(st, 5, (int64_t)f->ino);
    sqlite3_bind_int64(st, 6, (int64_t)f->hash);
    if (f->base != NULL)
        sqlite3_bind_blob(st, 7, f->base, (int)f->base_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 7);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : dbfail(r, "files");
    sqlite3_finalize(st);
    return rc;
}

int replica_file_del(replica *r, const char *id) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "DELETE FROM files WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return dbfail(r, "files");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : dbfail(r, "files");
    sqlite3_finalize(st);
    return rc;
}

int replica_file_keep_base(replica *r, const char *id, const uint8_t *base, size_t len) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "UPDATE files SET base = ? WHERE id = ? AND base IS NULL", -1,
                           &st, NULL) != SQLITE_OK)
        return dbfail(r, "files");
    sqlite3_bind_blob(st, 1, base, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : dbfail(r, "files");
    sqlite3_finalize(st);
    return rc;
}
