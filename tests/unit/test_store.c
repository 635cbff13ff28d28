/*
 * test_store.c - the storage API (src/store/store.h), against both backends.
 *
 * Every STORE_TEST body runs twice: on a fresh SQLite data directory, then on
 * a fresh PostgreSQL database created for it in the server that the ctest
 * fixture `postgres` starts (scripts/pg-test.sh; its URL is read from the
 * file named by $VN_PG_URL_FILE, or taken from $VN_PG_URL). Without a
 * PostgreSQL server the tests fail: they never skip.
 *
 * No assertion depends on timing: where a test needs transactions to share a
 * commit, it holds the writer thread inside a transaction (a gate) until they
 * are all queued.
 */
#include "test.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/squery.h"

struct env {
    const char *backend; /* "sqlite" or "postgres" */
    char where[600];     /* the data directory or the database URL */
    store *st;
};

typedef void (*body_fn)(struct env *e);

/* ---- running a body on each backend -------------------------------------- */

static void run_body(struct env *e, body_fn body) {
    char err[256];
    int rc = store_open(e->where, &e->st, err, sizeof(err));
    if (rc != STORE_OK) {
        fprintf(stderr, "store_open(%s) failed: %s: %s\n", e->backend, store_strerror(rc), err);
        TEST_FAIL_HERE();
        return;
    }
    body(e);
    if (test_failed_current) fprintf(stderr, "  (on the %s backend)\n", e->backend);
    store_close(e->st);
    e->st = NULL;
}

static void run_sqlite(body_fn body) {
    struct env e = {.backend = "sqlite"};
    char dir[] = "/tmp/vn-store-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    snprintf(e.where, sizeof(e.where), "%s", dir);
    run_body(&e, body);
    static const char *const files[] = {"vault.db", "vault.db-wal", "vault.db-shm"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[sizeof(dir) + 32];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* The fixture server's URL (to its `postgres` database), or NULL. */
static const char *pg_base_url(void) {
    static char url[512];
    if (url[0] != '\0') return url;
    const char *env = getenv("VN_PG_URL");
    if (env != NULL && env[0] != '\0') {
        snprintf(url, sizeof(url), "%s", env);
        return url;
    }
    const char *file = getenv("VN_PG_URL_FILE");
    if (file == NULL) return NULL;
    FILE *f = fopen(file, "r");
    if (f == NULL) return NULL;
    if (fgets(url, sizeof(url), f) == NULL) url[0] = '\0';
    fclose(f);
    url[strcspn(url, "\r\n")] = '\0';
    return url[0] ? url : NULL;
}

static bool pg_admin(const char *url, const char *sql) {
    PGconn *c = PQconnectdb(url);
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "cannot connect to the test PostgreSQL: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok;
}

/* base with its database name replaced by `db`. */
static void pg_url_for(const char *base, const char *db, char *out, size_t len) {
    const char *host = strstr(base, "://");
    host = host ? host + 3 : base;
    const char *slash = strchr(host, '/');
    const char *query = strchr(host, '?');
    if (slash == NULL || (query != NULL && slash > query))
        slash = query ? query : base + strlen(base);
    snprintf(out, len, "%.*s/%s%s", (int)(slash - base), base, db, query ? query : "");
}

static void run_postgres(body_fn body) {
    static int counter;
    struct env e = {.backend = "postgres"};
    const char *base = pg_base_url();
    if (base == NULL) {
        fprintf(stderr, "no PostgreSQL to test against: run through ctest (fixture `postgres`, "
                        "scripts/pg-test.sh), or set VN_PG_URL to a server where databases "
                        "can be created (scripts/pg-test.sh start prints one)\n");
        TEST_FAIL_HERE();
        return;
    }
    char db[64], sql[160];
    snprintf(db, sizeof(db), "vn_store_%ld_%d", (long)getpid(), ++counter);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    ASSERT_TRUE(pg_admin(base, sql));
    pg_url_for(base, db, e.where, sizeof(e.where));
    run_body(&e, body);
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", db);
    ASSERT_TRUE(pg_admin(base, sql));
}

#define STORE_TEST(name)                         \
    static void name##_body(struct env *e);      \
    TEST(name) {                                 \
        CHECK_HELPER(run_sqlite(name##_body));   \
        CHECK_HELPER(run_postgres(name##_body)); \
    }                                            \
    static void name##_body(struct env *e)

/* ---- helpers ------------------------------------------------------------- */

static void mkid(char out[33], unsigned n) { snprintf(out, 33, "%032x", n); }

static void new_user(struct env *e, const char *email, int64_t *id) {
    ASSERT_EQ_INT(store_user_create(e->st, email, "Name", "$argon2id$x", 1000, id), STORE_OK);
    ASSERT_TRUE(*id > 0);
}

/* A user and a vault it owns. */
static void new_vault(struct env *e, unsigned n, int64_t *owner, char vault[33]) {
    char email[64];
    snprintf(email, sizeof(email), "owner%u@example.org", n);
    CHECK_HELPER(new_user(e, email, owner));
    mkid(vault, 0xa000 + n);
    ASSERT_EQ_INT(store_vault_create(e->st, vault, "Vault", *owner, 2000), STORE_OK);
}

/* The id of the newest outbox event (0 if none): tests that count events
 * start after the ones their setup wrote (vault.created...). */
static void last_event(struct env *e, int64_t *id) {
    int64_t last = 0;
    for (;;) {
        store_event *ev = NULL;
        size_t n = 0;
        ASSERT_EQ_INT(store_events_after(e->st, last, 1000, &ev, &n), STORE_OK);
        if (n > 0) last = ev[n - 1].id;
        store_events_free(ev, n);
        if (n == 0) break;
    }
    *id = last;
}

static void append(struct env *e, const char *vault, const char *doc, const char *bytes,
                   int64_t expect_seq) {
    store_txn *t = store_txn_new();
    store_result res;
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, doc, (const uint8_t *)bytes, strlen(bytes)),
                  STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_OK);
    ASSERT_EQ_INT(res.err, STORE_OK);
    ASSERT_EQ_INT(res.vault_seq, expect_seq);
    ASSERT_TRUE(res.batch_size >= 1);
}

/* The update log of a doc, each update followed by '|'. */
struct logbuf {
    char text[8192];
    size_t len;
    int count;
};

static int log_collect(void *ud, const uint8_t *update, size_t len) {
    struct logbuf *b = ud;
    if (b->len + len + 2 > sizeof(b->text)) return 99;
    memcpy(b->text + b->len, update, len);
    b->len += len;
    b->text[b->len++] = '|';
    b->text[b->len] = '\0';
    b->count++;
    return 0;
}

static void put_file(struct env *e, const char *vault, unsigned n, const char *path,
                     int64_t trashed) {
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", path);
    store_file f = {.path = copy,
                    .title = "T",
                    .is_note = true,
                    .created = n,
                    .updated = n + 1,
                    .trashed = trashed};
    mkid(f.id, n);
    memcpy(f.vault, vault, 33);
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_put_file(t, &f), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
}

/* Lists files and joins their paths with ' '. */
static void list_paths(struct env *e, const char *vault, const char *prefix, bool trashed,
                       char *out, size_t len) {
    store_file *f = NULL;
    size_t n = 0;
    out[0] = '\0';
    ASSERT_EQ_INT(store_file_list(e->st, vault, prefix, trashed, &f, &n), STORE_OK);
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? " " : "", f[i].path);
    store_files_free(f, n);
}

/* Completion of asynchronously submitted transactions. */
struct collector {
    pthread_mutex_t m;
    pthread_cond_t c;
    int done;
};

struct pending {
    struct collector *col;
    store_result res;
};

static void pending_done(void *ud, const store_result *r) {
    struct pending *p = ud;
    pthread_mutex_lock(&p->col->m);
    p->res = *r;
    p->col->done++;
    pthread_cond_broadcast(&p->col->c);
    pthread_mutex_unlock(&p->col->m);
}

static void collector_wait(struct collector *c, int n) {
    pthread_mutex_lock(&c->m);
    while (c->done < n) pthread_cond_wait(&c->c, &c->m);
    pthread_mutex_unlock(&c->m);
}

/* Holds the writer thread inside a transaction until opened. */
struct gate {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool entered, open;
    struct collector col;
    struct pending p;
};

static int gate_fn(store *st, store_conn *c, void *arg) {
    struct gate *g = arg;
    (void)st;
    (void)c;
    pthread_mutex_lock(&g->m);
    g->entered = true;
    pthread_cond_broadcast(&g->c);
    while (!g->open) pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
    return STORE_OK;
}

/* Queues a gate transaction; the writer stops in it when it gets there. */
static void gate_submit(store *st, struct gate *g) {
    pthread_mutex_init(&g->m, NULL);
    pthread_cond_init(&g->c, NULL);
    pthread_mutex_init(&g->col.m, NULL);
    pthread_cond_init(&g->col.c, NULL);
    g->entered = g->open = false;
    g->col.done = 0;
    g->p.col = &g->col;
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store__txn_call(t, gate_fn, g), STORE_OK);
    ASSERT_EQ_INT(store_submit(st, t, pending_done, &g->p), STORE_OK);
}

static void gate_wait_entered(struct gate *g) {
    pthread_mutex_lock(&g->m);
    while (!g->entered) pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
}

/* Holds the writer: everything submitted from now on queues up. */
static void gate_close(store *st, struct gate *g) {
    CHECK_HELPER(gate_submit(st, g));
    gate_wait_entered(g);
}

/* Lets the writer go on. */
static void gate_let_go(struct gate *g) {
    pthread_mutex_lock(&g->m);
    g->open = true;
    pthread_cond_broadcast(&g->c);
    pthread_mutex_unlock(&g->m);
}

/* Lets the writer go on and waits for the gate's own commit. */
static void gate_open(struct gate *g) {
    gate_let_go(g);
    collector_wait(&g->col, 1);
    ASSERT_EQ_INT(g->p.res.err, STORE_OK);
}

/* Waits (without a deadline: ctest's timeout is the limit) until n
 * transactions are queued behind the gate, then opens it. */
static void gate_open_when_queued(store *st, struct gate *g, size_t n) {
    while (store__queued(st) < n) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK_HELPER(gate_open(g));
}

static void gate_release(struct gate *g) {
    pthread_cond_destroy(&g->c);
    pthread_mutex_destroy(&g->m);
    pthread_cond_destroy(&g->col.c);
    pthread_mutex_destroy(&g->col.m);
}

/* ---- tests --------------------------------------------------------------- */

STORE_TEST(store_open_migrates_and_pings) {
    ASSERT_EQ_STR(store_backend(e->st), e->backend);
    ASSERT_EQ_INT(store_ping(e->st), STORE_OK);
    int v = store_schema_version(e->st);
    ASSERT_TRUE(v >= 1);
    store_close(e->st);
    e->st = NULL;
    char err[256];
    ASSERT_EQ_INT(store_open(e->where, &e->st, err, sizeof(err)), STORE_OK);
    ASSERT_EQ_INT(store_schema_version(e->st), v);
}

STORE_TEST(store_users_unique_email) {
    int64_t a, b, dup = -1;
    store_user u;
    CHECK_HELPER(new_user(e, "ada@example.org", &a));
    CHECK_HELPER(new_user(e, "bob@example.org", &b));
    ASSERT_TRUE(a != b);
    ASSERT_EQ_INT(store_user_create(e->st, "ada@example.org", "Other", "h", 5, &dup),
                  STORE_ECONFLICT);
    ASSERT_EQ_INT(dup, -1);

    ASSERT_EQ_INT(store_user_by_email(e->st, "ada@example.org", &u), STORE_OK);
    ASSERT_EQ_INT(u.id, a);
    ASSERT_EQ_STR(u.email, "ada@example.org");
    ASSERT_EQ_STR(u.name, "Name");
    ASSERT_EQ_STR(u.pwhash, "$argon2id$x");
    ASSERT_EQ_INT(u.created, 1000);
    store_user_free(&u);
    ASSERT_EQ_INT(store_user_by_id(e->st, b, &u), STORE_OK);
    ASSERT_EQ_STR(u.email, "bob@example.org");
    store_user_free(&u);

    ASSERT_EQ_INT(store_user_by_email(e->st, "nobody@example.org", &u), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_user_by_id(e->st, b + 1000, &u), STORE_ENOTFOUND);
    /* Bad input is refused and creates nothing. */
    ASSERT_EQ_INT(store_user_create(e->st, "bad\xff@example.org", "N", "h", 1, &dup), STORE_EINVAL);
    ASSERT_EQ_INT(store_user_create(e->st, "", "N", "h", 1, &dup), STORE_EINVAL);
    ASSERT_EQ_INT(store_user_create(e->st, "c@example.org", NULL, "h", 1, &dup), STORE_EINVAL);
    ASSERT_EQ_INT(store_user_by_email(e->st, "c@example.org", &u), STORE_ENOTFOUND);
    ASSERT_EQ_INT(dup, -1);
}

STORE_TEST(store_sessions_expire_and_delete) {
    int64_t a, uid = 0;
    uint8_t h1[32], h2[32];
    memset(h1, 0x11, sizeof(h1));
    memset(h2, 0x00, sizeof(h2));
    h2[31] = 0x80;
    CHECK_HELPER(new_user(e, "ada@example.org", &a));
    ASSERT_EQ_INT(store_session_create(e->st, h1, a, 1000, 2000), STORE_OK);
    ASSERT_EQ_INT(store_session_create(e->st, h2, a, 1000, 9000), STORE_OK);
    ASSERT_EQ_INT(store_session_create(e->st, h1, a, 1000, 2000), STORE_ECONFLICT);
    ASSERT_EQ_INT(store_session_create(e->st, h1, a + 99, 1000, 2000), STORE_ECONFLICT);
    uint8_t h3[32];
    memset(h3, 0x33, sizeof(h3));
    ASSERT_EQ_INT(store_session_create(e->st, h3, a + 99, 1000, 2000), STORE_ENOTFOUND);

    ASSERT_EQ_INT(store_session_user(e->st, h1, 1999, &uid), STORE_OK);
    ASSERT_EQ_INT(uid, a);
    uid = 0;
    ASSERT_EQ_INT(store_session_user(e->st, h1, 2000, &uid), STORE_ENOTFOUND);
    ASSERT_EQ_INT(uid, 0);
    ASSERT_EQ_INT(store_session_user(e->st, h3, 1500, &uid), STORE_ENOTFOUND);

    ASSERT_EQ_INT(store_session_delete(e->st, h2), STORE_OK);
    ASSERT_EQ_INT(store_session_user(e->st, h2, 1500, &uid), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_session_delete(e->st, h2), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_session_user(e->st, h1, 1500, &uid), STORE_OK);

    /* The janitor's purge removes what expired, and only that. */
    ASSERT_EQ_INT(store_session_create(e->st, h2, a, 1000, 9000), STORE_OK);
    ASSERT_EQ_INT(store_purge_expired(e->st, 2000, 0), STORE_OK);
    ASSERT_EQ_INT(store_session_delete(e->st, h1), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_session_user(e->st, h2, 2000, &uid), STORE_OK);
}

STORE_TEST(store_login_failures_counted) {
    int64_t n = -1;
    ASSERT_EQ_INT(store_login_failure_add(e->st, "acct:ada@example.org", 100), STORE_OK);
    ASSERT_EQ_INT(store_login_failure_add(e->st, "acct:ada@example.org", 200), STORE_OK);
    ASSERT_EQ_INT(store_login_failure_add(e->st, "acct:ada@example.org", 300), STORE_OK);
    ASSERT_EQ_INT(store_login_failure_add(e->st, "addr:192.0.2.1", 200), STORE_OK);
    ASSERT_EQ_INT(store_login_failures(e->st, "acct:ada@example.org", 200, &n), STORE_OK);
    ASSERT_EQ_INT(n, 2);
    ASSERT_EQ_INT(store_login_failures(e->st, "acct:ada@example.org", 0, &n), STORE_OK);
    ASSERT_EQ_INT(n, 3);
    ASSERT_EQ_INT(store_login_failures(e->st, "acct:ada@example.org", 301, &n), STORE_OK);
    ASSERT_EQ_INT(n, 0);
    ASSERT_EQ_INT(store_login_failures(e->st, "addr:192.0.2.1", 0, &n), STORE_OK);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_INT(store_login_failures(e->st, "acct:nobody", 0, &n), STORE_OK);
    ASSERT_EQ_INT(n, 0);

    ASSERT_EQ_INT(store_purge_expired(e->st, 0, 250), STORE_OK);
    ASSERT_EQ_INT(store_login_failures(e->st, "acct:ada@example.org", 0, &n), STORE_OK);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_INT(store_login_failures(e->st, "addr:192.0.2.1", 0, &n), STORE_OK);
    ASSERT_EQ_INT(n, 0);
}

STORE_TEST(store_vaults_members_roles) {
    int64_t a, b, c;
    char v1[33], v2[33], nov[33];
    store_vault v;
    store_role role;
    CHECK_HELPER(new_user(e, "ada@example.org", &a));
    CHECK_HELPER(new_user(e, "bob@example.org", &b));
    CHECK_HELPER(new_user(e, "cy@example.org", &c));
    mkid(v1, 1);
    mkid(v2, 2);
    mkid(nov, 3);
    ASSERT_EQ_INT(store_vault_create(e->st, v1, "Work", a, 500), STORE_OK);
    ASSERT_EQ_INT(store_vault_create(e->st, v1, "Again", b, 500), STORE_ECONFLICT);
    ASSERT_EQ_INT(store_vault_create(e->st, v2, "Ghost", c + 100, 500), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_vault_create(e->st, "NOT-AN-ID", "x", a, 500), STORE_EINVAL);
    /* The failed create left nothing behind, not even half. */
    ASSERT_EQ_INT(store_vault_get(e->st, v2, a, &v), STORE_ENOTFOUND);

    ASSERT_EQ_INT(store_vault_get(e->st, v1, a, &v), STORE_OK);
    ASSERT_EQ_STR(v.id, v1);
    ASSERT_EQ_STR(v.name, "Work");
    ASSERT_EQ_INT(v.owner, a);
    ASSERT_EQ_INT(v.created, 500);
    ASSERT_EQ_INT(v.seq, 0);
    ASSERT_EQ_INT(v.role, ROLE_OWNER);
    store_vault_free(&v);
    ASSERT_EQ_INT(store_vault_get(e->st, v1, b, &v), STORE_OK);
    ASSERT_EQ_INT(v.role, ROLE_NONE);
    store_vault_free(&v);

    ASSERT_EQ_INT(store_member_set(e->st, v1, b, ROLE_EDITOR), STORE_OK);
    ASSERT_EQ_INT(store_member_role(e->st, v1, b, &role), STORE_OK);
    ASSERT_EQ_INT(role, ROLE_EDITOR);
    ASSERT_EQ_INT(store_member_set(e->st, v1, b, ROLE_VIEWER), STORE_OK);
    ASSERT_EQ_INT(store_member_role(e->st, v1, b, &role), STORE_OK);
    ASSERT_EQ_INT(role, ROLE_VIEWER);
    ASSERT_EQ_INT(store_member_set(e->st, v1, c, ROLE_NONE), STORE_EINVAL);
    ASSERT_EQ_INT(store_member_set(e->st, v1, c, (store_role)7), STORE_EINVAL);
    ASSERT_EQ_INT(store_member_set(e->st, v1, c + 100, ROLE_EDITOR), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_member_set(e->st, nov, c, ROLE_EDITOR), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_member_role(e->st, v1, c, &role), STORE_OK);
    ASSERT_EQ_INT(role, ROLE_NONE);
    ASSERT_EQ_INT(store_member_role(e->st, nov, a, &role), STORE_ENOTFOUND);

    store_member *m = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_members_list(e->st, v1, &m, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_INT(m[0].user_id, a);
    ASSERT_EQ_INT(m[0].role, ROLE_OWNER);
    ASSERT_EQ_STR(m[0].email, "ada@example.org");
    ASSERT_EQ_INT(m[1].user_id, b);
    ASSERT_EQ_INT(m[1].role, ROLE_VIEWER);
    ASSERT_EQ_STR(m[1].name, "Name");
    store_members_free(m, n);
    ASSERT_EQ_INT(store_members_list(e->st, nov, &m, &n), STORE_ENOTFOUND);

    ASSERT_EQ_INT(store_vault_create(e->st, v2, "Alpha", b, 600), STORE_OK);
    store_vault *vs = NULL;
    ASSERT_EQ_INT(store_vault_list(e->st, b, &vs, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_STR(vs[0].name, "Alpha");
    ASSERT_EQ_INT(vs[0].role, ROLE_OWNER);
    ASSERT_EQ_STR(vs[1].name, "Work");
    ASSERT_EQ_INT(vs[1].role, ROLE_VIEWER);
    store_vaults_free(vs, n);
    ASSERT_EQ_INT(store_vault_list(e->st, c, &vs, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 0);
    store_vaults_free(vs, n);

    ASSERT_EQ_INT(store_member_remove(e->st, v1, b), STORE_OK);
    ASSERT_EQ_INT(store_member_remove(e->st, v1, b), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_member_role(e->st, v1, b, &role), STORE_OK);
    ASSERT_EQ_INT(role, ROLE_NONE);
}

STORE_TEST(store_update_log_order_and_content) {
    int64_t owner, other;
    char vault[33], v2[33], d1[33], d2[33], nov[33];
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(new_vault(e, 2, &other, v2));
    mkid(d1, 0xd1);
    mkid(d2, 0xd2);
    mkid(nov, 0xeeee);

    /* Two updates in one transaction, then one per transaction. */
    store_txn *t = store_txn_new();
    store_result res;
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, d1, (const uint8_t *)"u1", 2), STORE_OK);
    static const uint8_t bin[] = {'u', '2', 0, 0xff, 0};
    ASSERT_EQ_INT(store_txn_append_update(t, vault, d1, bin, sizeof(bin)), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_OK);
    ASSERT_EQ_INT(res.vault_seq, 2);
    CHECK_HELPER(append(e, vault, d2, "u3", 3));
    CHECK_HELPER(append(e, vault, d1, "u4", 4));
    CHECK_HELPER(append(e, vault, vault, "index", 5)); /* the vault's index doc */

    struct logbuf b = {.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, d1, log_collect, &b), STORE_OK);
    ASSERT_EQ_INT(b.count, 3);
    ASSERT_EQ_MEM(b.text, b.len, "u1|u2\0\xff\0|u4|", 12);
    b = (struct logbuf){.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, d2, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "u3|");
    b = (struct logbuf){.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, nov, log_collect, &b), STORE_OK);
    ASSERT_EQ_INT(b.count, 0);

    store_vault v;
    ASSERT_EQ_INT(store_vault_get(e->st, vault, owner, &v), STORE_OK);
    ASSERT_EQ_INT(v.seq, 5);
    store_vault_free(&v);

    /* Changes since a seq: each doc once, at its latest seq, in seq order. */
    store_change *ch = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_vault_changes(e->st, vault, 0, &ch, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 3);
    ASSERT_EQ_STR(ch[0].doc, d2);
    ASSERT_EQ_INT(ch[0].seq, 3);
    ASSERT_EQ_STR(ch[1].doc, d1);
    ASSERT_EQ_INT(ch[1].seq, 4);
    ASSERT_EQ_STR(ch[2].doc, vault);
    free(ch);
    ASSERT_EQ_INT(store_vault_changes(e->st, vault, 3, &ch, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 2);
    free(ch);
    ASSERT_EQ_INT(store_vault_changes(e->st, vault, 5, &ch, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 0);
    free(ch);
    ASSERT_EQ_INT(store_vault_changes(e->st, nov, 0, &ch, &n), STORE_ENOTFOUND);

    /* Refused: an unknown vault, a doc moved to another vault, bad ids. */
    t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, nov, nov, (const uint8_t *)"x", 1), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_ENOTFOUND);
    ASSERT_EQ_INT(res.err, STORE_ENOTFOUND);
    ASSERT_EQ_INT(res.vault_seq, 0);
    t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, v2, d1, (const uint8_t *)"x", 1), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_EINVAL);
    t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, "D1", (const uint8_t *)"x", 1), STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, d1, (const uint8_t *)"x", 0), STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, d1, NULL, 1), STORE_EINVAL);
    store_txn_free(t);
    ASSERT_EQ_INT(store_vault_get(e->st, v2, other, &v), STORE_OK);
    ASSERT_EQ_INT(v.seq, 0);
    store_vault_free(&v);
    b = (struct logbuf){.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, d1, log_collect, &b), STORE_OK);
    ASSERT_EQ_INT(b.count, 3);

    /* The callback's non-zero return stops the walk and is returned. */
    b = (struct logbuf){.len = sizeof(b.text) - 3};
    ASSERT_EQ_INT(store_doc_updates(e->st, d1, log_collect, &b), 99);
}

/* Collects the log row by row: ids, versions and bytes. */
struct rowlog {
    int64_t id[16], versions[16];
    char data[16][16];
    int n;
};

static int rows_collect(void *ud, const store_log_entry *e) {
    struct rowlog *l = ud;
    if (l->n == 16 || e->len >= 16) return 99;
    l->id[l->n] = e->id;
    l->versions[l->n] = e->versions;
    memcpy(l->data[l->n], e->data, e->len);
    l->data[l->n][e->len] = '\0';
    l->n++;
    return 0;
}

STORE_TEST(store_compaction_replaces_a_prefix_and_keeps_versions) {
    int64_t owner;
    char vault[33], d1[33], d2[33];
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    mkid(d1, 0xc1);
    mkid(d2, 0xc2);
    int64_t last_seq = 0;
    ASSERT_EQ_INT(store_doc_last_seq(e->st, d1, &last_seq), STORE_ENOTFOUND);
    CHECK_HELPER(append(e, vault, d1, "a", 1));
    CHECK_HELPER(append(e, vault, d2, "x", 2));
    CHECK_HELPER(append(e, vault, d1, "b", 3));
    CHECK_HELPER(append(e, vault, d1, "c", 4));
    CHECK_HELPER(append(e, vault, d1, "d", 5));
    /* The seq of each log's last row: what the search indexer checks a text against. */
    ASSERT_EQ_INT(store_doc_last_seq(e->st, d1, &last_seq), STORE_OK);
    ASSERT_EQ_INT(last_seq, 5);
    ASSERT_EQ_INT(store_doc_last_seq(e->st, d2, &last_seq), STORE_OK);
    ASSERT_EQ_INT(last_seq, 2);
    ASSERT_EQ_INT(store_doc_last_seq(e->st, "D1", &last_seq), STORE_EINVAL);
    struct rowlog l = {.n = 0};
    ASSERT_EQ_INT(store_doc_log(e->st, d1, rows_collect, &l), STORE_OK);
    ASSERT_EQ_INT(l.n, 4);
    for (int i = 0; i < 4; i++) ASSERT_EQ_INT(l.versions[i], 1);
    int64_t id_a = l.id[0], id_c = l.id[2], id_d = l.id[3];
    /* What a compaction reads: the row count, then the oldest rows only. */
    int64_t nrows = 0;
    ASSERT_EQ_INT(store_doc_log_rows(e->st, d1, &nrows), STORE_OK);
    ASSERT_EQ_INT(nrows, 4);
    ASSERT_EQ_INT(store_doc_log_rows(e->st, d2, &nrows), STORE_OK);
    ASSERT_EQ_INT(nrows, 1);
    struct rowlog head = {.n = 0};
    ASSERT_EQ_INT(store_doc_log_head(e->st, d1, 3, rows_collect, &head), STORE_OK);
    ASSERT_EQ_INT(head.n, 3);
    ASSERT_EQ_STR(head.data[0], "a");
    ASSERT_EQ_STR(head.data[2], "c");
    ASSERT_EQ_INT(head.id[2], id_c);
    head = (struct rowlog){.n = 0};
    ASSERT_EQ_INT(store_doc_log_head(e->st, d1, 0, rows_collect, &head), STORE_OK);
    ASSERT_EQ_INT(head.n, 0);
    ASSERT_EQ_INT(store_doc_log_head(e->st, d1, -1, rows_collect, &head), STORE_EINVAL);
    ASSERT_EQ_INT(store_doc_log_rows(e->st, "D1", &nrows), STORE_EINVAL);

    /* a, b, c (ids id_a..id_c, with d2's row between) become "abc" standing for 3. */
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_compact(t, vault, d1, id_a, id_c, 3, 3, (const uint8_t *)"abc", 3),
                  STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    l = (struct rowlog){.n = 0};
    ASSERT_EQ_INT(store_doc_log(e->st, d1, rows_collect, &l), STORE_OK);
    ASSERT_EQ_INT(l.n, 2);
    ASSERT_EQ_STR(l.data[0], "abc");
    ASSERT_EQ_INT(l.versions[0], 3);
    ASSERT_EQ_INT(l.id[0], id_c);
    ASSERT_EQ_STR(l.data[1], "d");
    ASSERT_EQ_INT(l.id[1], id_d);
    /* store_doc_updates sees the snapshot as one update; other docs are untouched */
    struct logbuf b = {.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, d1, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "abc|d|");
    b = (struct logbuf){.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, d2, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "x|");
    /* the vault's changes still name d1 at its latest seq */
    store_change *ch = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_vault_changes(e->st, vault, 0, &ch, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_STR(ch[1].doc, d1);
    ASSERT_EQ_INT(ch[1].seq, 5);
    free(ch);

    /* Snapshot and d again: 4 versions in one row. */
    t = store_txn_new();
    ASSERT_EQ_INT(store_txn_compact(t, vault, d1, id_c, id_d, 2, 4, (const uint8_t *)"abcd", 4),
                  STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    l = (struct rowlog){.n = 0};
    ASSERT_EQ_INT(store_doc_log(e->st, d1, rows_collect, &l), STORE_OK);
    ASSERT_EQ_INT(l.n, 1);
    ASSERT_EQ_INT(l.versions[0], 4);
    ASSERT_EQ_STR(l.data[0], "abcd");
    /* A snapshot keeps the seq of the last update it replaced. */
    ASSERT_EQ_INT(store_doc_last_seq(e->st, d1, &last_seq), STORE_OK);
    ASSERT_EQ_INT(last_seq, 5);

    /* A range that no longer holds what was read is a conflict, and changes nothing:
     * rows already compacted, wrong row count, wrong versions, another doc. */
    CHECK_HELPER(append(e, vault, d1, "e", 6));
    CHECK_HELPER(append(e, vault, d1, "f", 7));
    ASSERT_EQ_INT(store_doc_last_seq(e->st, d1, &last_seq), STORE_OK);
    ASSERT_EQ_INT(last_seq, 7);
    l = (struct rowlog){.n = 0};
    ASSERT_EQ_INT(store_doc_log(e->st, d1, rows_collect, &l), STORE_OK);
    ASSERT_EQ_INT(l.n, 3);
    int64_t id_e = l.id[1], id_f = l.id[2];
    static const struct {
        int64_t first, last, rows, versions;
    } bad[] = {{0, 0, 2, 2}, {0, 0, 3, 6}, {0, 0, 2, 6}, {0, 0, 3, 7}, {0, 0, 2, 2}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = store_txn_new();
        int64_t first = i == 0 ? id_a : l.id[0], last = i == 4 ? id_f : id_e;
        const char *doc = i == 4 ? d2 : d1;
        ASSERT_EQ_INT(store_txn_compact(t, vault, doc, first, last, bad[i].rows, bad[i].versions,
                                        (const uint8_t *)"zz", 2),
                      STORE_OK);
        ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_ECONFLICT);
    }
    struct rowlog again = {.n = 0};
    ASSERT_EQ_INT(store_doc_log(e->st, d1, rows_collect, &again), STORE_OK);
    ASSERT_EQ_INT(again.n, 3);
    ASSERT_EQ_STR(again.data[0], "abcd");
    ASSERT_EQ_STR(again.data[2], "f");
    b = (struct logbuf){.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, d2, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "x|");

    /* Bad arguments are refused before anything is queued. */
    t = store_txn_new();
    ASSERT_EQ_INT(store_txn_compact(t, vault, d1, id_e, id_a, 2, 2, (const uint8_t *)"z", 1),
                  STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_compact(t, vault, d1, id_a, id_e, 1, 1, (const uint8_t *)"z", 1),
                  STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_compact(t, vault, d1, id_a, id_e, 3, 2, (const uint8_t *)"z", 1),
                  STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_compact(t, vault, d1, id_a, id_e, 2, 2, NULL, 1), STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_compact(t, vault, "D1", id_a, id_e, 2, 2, (const uint8_t *)"z", 1),
                  STORE_EINVAL);
    store_txn_free(t);
    ASSERT_EQ_INT(store_doc_log(e->st, d1, NULL, NULL), STORE_EINVAL);
}

STORE_TEST(store_files_projection_and_prefix) {
    int64_t owner;
    char vault[33], v2[33];
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(new_vault(e, 2, &owner, v2));
    static const char *const paths[] = {
        "/a.md",
        "/Projects/Q1/Design.md",
        "/Projects/Q1/Plan.md",
        "/Projects/Q2/x.md",
        "/Projects%/y.md",
        "/Projects_z.md",
        "/projects/lower.md",
        "/Pr\xc3\xb3ximo/\xc3\xbc.md",
        "/Projects\x7f.md",
        "/Projects\xc2\x80.md",
    };
    for (unsigned i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        CHECK_HELPER(put_file(e, vault, 100 + i, paths[i], 0));
    CHECK_HELPER(put_file(e, vault, 200, "/Projects/Q1/Old.md", 5000));
    CHECK_HELPER(put_file(e, v2, 300, "/Projects/Q1/Other.md", 0));

    char got[1024];
    CHECK_HELPER(list_paths(e, vault, "/Projects/", false, got, sizeof(got)));
    ASSERT_EQ_STR(got, "/Projects/Q1/Design.md /Projects/Q1/Plan.md /Projects/Q2/x.md");
    /* '%' and '_' are not wildcards; case matters. */
    CHECK_HELPER(list_paths(e, vault, "/Projects%", false, got, sizeof(got)));
    ASSERT_EQ_STR(got, "/Projects%/y.md");
    CHECK_HELPER(list_paths(e, vault, "/Projects_", false, got, sizeof(got)));
    ASSERT_EQ_STR(got, "/Projects_z.md");
    CHECK_HELPER(list_paths(e, vault, "/projects", false, got, sizeof(got)));
    ASSERT_EQ_STR(got, "/projects/lower.md");
    CHECK_HELPER(list_paths(e, vault, "/Pr\xc3\xb3", false, got, sizeof(got)));
    ASSERT_EQ_STR(got, "/Pr\xc3\xb3ximo/\xc3\xbc.md");
    /* A prefix ending in U+007F: its successor needs one more byte. */
    CHECK_HELPER(list_paths(e, vault, "/Projects\x7f", false, got, sizeof(got)));
    ASSERT_EQ_STR(got, "/Projects\x7f.md");
    CHECK_HELPER(list_paths(e, vault, "/Projects/Q1/Plan.md", false, got, sizeof(got)));
    ASSERT_EQ_STR(got, "/Projects/Q1/Plan.md");
    CHECK_HELPER(list_paths(e, vault, "/nothing", false, got, sizeof(got)));
    ASSERT_EQ_STR(got, "");
    /* Everything, bytewise. */
    CHECK_HELPER(list_paths(e, vault, "", false, got, sizeof(got)));
    ASSERT_EQ_STR(got, "/Projects%/y.md /Projects/Q1/Design.md /Projects/Q1/Plan.md "
                       "/Projects/Q2/x.md /Projects_z.md /Projects\x7f.md /Projects\xc2\x80.md "
                       "/Pr\xc3\xb3ximo/\xc3\xbc.md /a.md /projects/lower.md");
    CHECK_HELPER(list_paths(e, vault, "/Projects/", true, got, sizeof(got)));
    ASSERT_EQ_STR(got, "/Projects/Q1/Old.md");
    store_file *fl = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_file_list(e->st, vault, "\xc0\x80", false, &fl, &n), STORE_EINVAL);

    /* get, replace, at_path */
    char id[33], at[33];
    store_file f;
    mkid(id, 101);
    ASSERT_EQ_INT(store_file_get(e->st, id, &f), STORE_OK);
    ASSERT_EQ_STR(f.id, id);
    ASSERT_EQ_STR(f.vault, vault);
    ASSERT_EQ_STR(f.path, "/Projects/Q1/Design.md");
    ASSERT_EQ_STR(f.title, "T");
    ASSERT_TRUE(f.is_note);
    ASSERT_EQ_INT(f.created, 101);
    ASSERT_EQ_INT(f.updated, 102);
    ASSERT_EQ_INT(f.trashed, 0);
    store_file_free(&f);

    store_file g = {.path = "/Projects/Q3/Design.md",
                    .title = NULL,
                    .is_note = false,
                    .created = 101,
                    .updated = 999,
                    .trashed = 0};
    memcpy(g.id, id, 33);
    memcpy(g.vault, vault, 33);
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_put_file(t, &g), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    ASSERT_EQ_INT(store_file_get(e->st, id, &f), STORE_OK);
    ASSERT_EQ_STR(f.path, "/Projects/Q3/Design.md");
    ASSERT_EQ_STR(f.title, "");
    ASSERT_FALSE(f.is_note);
    ASSERT_EQ_INT(f.updated, 999);
    store_file_free(&f);
    ASSERT_EQ_INT(store_file_at_path(e->st, vault, "/Projects/Q3/Design.md", at), STORE_OK);
    ASSERT_EQ_STR(at, id);
    ASSERT_EQ_INT(store_file_at_path(e->st, vault, "/Projects/Q1/Design.md", at), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_file_at_path(e->st, vault, "/Projects/Q1/Old.md", at), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_file_at_path(e->st, v2, "/Projects/Q3/Design.md", at), STORE_ENOTFOUND);

    /* Two live files at one path (after a merge): the first created wins. */
    CHECK_HELPER(put_file(e, vault, 90, "/a.md", 0));
    ASSERT_EQ_INT(store_file_at_path(e->st, vault, "/a.md", at), STORE_OK);
    mkid(id, 90);
    ASSERT_EQ_STR(at, id);

    /* Refused: the id of a file of another vault, bad paths, unknown vault. */
    memcpy(g.vault, v2, 33);
    t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_put_file(t, &g), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_EINVAL);
    mkid(g.vault, 0xbad);
    mkid(g.id, 0xbad);
    t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_put_file(t, &g), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_ENOTFOUND);
    t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    g.path = "relative.md";
    ASSERT_EQ_INT(store_txn_put_file(t, &g), STORE_EINVAL);
    g.path = "/bad\xed\xa0\x80.md"; /* a UTF-16 surrogate */
    ASSERT_EQ_INT(store_txn_put_file(t, &g), STORE_EINVAL);
    store_txn_free(t);
    mkid(id, 101);
    ASSERT_EQ_INT(store_file_get(e->st, id, &f), STORE_OK);
    ASSERT_EQ_STR(f.vault, vault);
    ASSERT_EQ_STR(f.path, "/Projects/Q3/Design.md");
    store_file_free(&f);
    ASSERT_EQ_INT(store_file_get(e->st, g.id, &f), STORE_ENOTFOUND);
}

/* ---- group commit -------------------------------------------------------- */

#define GC_THREADS 8
#define GC_ROUNDS  25

struct gc_worker {
    struct env *e;
    const char *vault, *doc;
    int index, rounds;
    store_result res[GC_ROUNDS];
    char bytes[GC_ROUNDS][16];
};

static void *gc_main(void *arg) {
    struct gc_worker *w = arg;
    for (int r = 0; r < w->rounds; r++) {
        snprintf(w->bytes[r], sizeof(w->bytes[r]), "w%d-r%d", w->index, r);
        store_txn *t = store_txn_new();
        if (t == NULL || store_txn_append_update(t, w->vault, w->doc, (const uint8_t *)w->bytes[r],
                                                 strlen(w->bytes[r])) != STORE_OK) {
            store_txn_free(t);
            w->res[r].err = STORE_ENOMEM;
            continue;
        }
        store_commit(w->e->st, t, &w->res[r]);
    }
    return NULL;
}

static void gc_run(struct env *e, struct gc_worker *w, int rounds, const char *vault,
                   const char *doc, struct gate *gate) {
    pthread_t th[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        w[i] = (struct gc_worker){.e = e, .vault = vault, .doc = doc, .index = i, .rounds = rounds};
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, gc_main, &w[i]), 0);
    }
    if (gate != NULL) CHECK_HELPER(gate_open_when_queued(e->st, gate, GC_THREADS));
    for (int i = 0; i < GC_THREADS; i++) pthread_join(th[i], NULL);
}

struct gc_log {
    struct gc_worker *w; /* GC_THREADS each of phase 1 and 2 */
    const char *by_seq[1 + GC_THREADS * (GC_ROUNDS + 1)];
    int next, bad;
};

static int gc_log_check(void *ud, const uint8_t *update, size_t len) {
    struct gc_log *g = ud;
    g->next++;
    const char *want =
        g->next < (int)(sizeof(g->by_seq) / sizeof(g->by_seq[0])) ? g->by_seq[g->next] : NULL;
    if (want == NULL || strlen(want) != len || memcmp(want, update, len) != 0) g->bad++;
    return 0;
}

STORE_TEST(store_group_commit) {
    static struct gc_worker w1[GC_THREADS], w2[GC_THREADS];
    static struct gc_log log;
    int64_t owner;
    char vault[33], doc[33];
    struct gate gate;
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    mkid(doc, 0xd0c);
    memset(&log, 0, sizeof(log));

    /* Phase 1: the writer is held while every thread queues its commit, so
     * the eight share one batch. */
    CHECK_HELPER(gate_close(e->st, &gate));
    CHECK_HELPER(gc_run(e, w1, 1, vault, doc, &gate));
    gate_release(&gate);
    bool seen[1 + GC_THREADS * (GC_ROUNDS + 1)] = {false};
    for (int i = 0; i < GC_THREADS; i++) {
        ASSERT_EQ_INT(w1[i].res[0].err, STORE_OK);
        ASSERT_EQ_UINT(w1[i].res[0].batch_size, GC_THREADS);
        ASSERT_TRUE(w1[i].res[0].commit_ms >= 0);
        int64_t s = w1[i].res[0].vault_seq;
        ASSERT_TRUE(s >= 1 && s <= GC_THREADS);
        ASSERT_FALSE(seen[s]);
        seen[s] = true;
        log.by_seq[s] = w1[i].bytes[0];
    }

    /* Phase 2: free running; each thread's seqs strictly increase and all
     * seqs together are exactly the next ones. */
    CHECK_HELPER(gc_run(e, w2, GC_ROUNDS, vault, doc, NULL));
    for (int i = 0; i < GC_THREADS; i++) {
        int64_t last = 0;
        for (int r = 0; r < GC_ROUNDS; r++) {
            const store_result *res = &w2[i].res[r];
            ASSERT_EQ_INT(res->err, STORE_OK);
            ASSERT_TRUE(res->batch_size >= 1 && res->batch_size <= GC_THREADS);
            ASSERT_TRUE(res->vault_seq > last);
            ASSERT_TRUE(res->vault_seq > GC_THREADS &&
                        res->vault_seq <= GC_THREADS * (GC_ROUNDS + 1));
            ASSERT_FALSE(seen[res->vault_seq]);
            seen[res->vault_seq] = true;
            log.by_seq[res->vault_seq] = w2[i].bytes[r];
            last = res->vault_seq;
        }
    }

    /* The log is in seq order, with every update's own bytes. */
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, gc_log_check, &log), STORE_OK);
    ASSERT_EQ_INT(log.next, GC_THREADS * (GC_ROUNDS + 1));
    ASSERT_EQ_INT(log.bad, 0);
    store_vault v;
    ASSERT_EQ_INT(store_vault_get(e->st, vault, owner, &v), STORE_OK);
    ASSERT_EQ_INT(v.seq, GC_THREADS * (GC_ROUNDS + 1));
    store_vault_free(&v);
}

STORE_TEST(store_failing_txn_rolls_back_alone) {
    int64_t owner;
    char vault[33], doc[33], nov[33];
    struct gate gate;
    struct collector col = {.done = 0};
    struct pending p[4];
    int64_t base;
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(last_event(e, &base));
    mkid(doc, 0xd0c);
    mkid(nov, 0xeeee);
    CHECK_HELPER(append(e, vault, doc, "first", 1));
    pthread_mutex_init(&col.m, NULL);
    pthread_cond_init(&col.c, NULL);

    CHECK_HELPER(gate_close(e->st, &gate));
    for (int i = 0; i < 4; i++) {
        char bytes[16], path[32];
        snprintf(bytes, sizeof(bytes), "t%d", i);
        snprintf(path, sizeof(path), "/t%d.md", i);
        store_file f = {.path = path, .title = "x", .is_note = true, .created = 1, .updated = 1};
        mkid(f.id, 0xf00 + (unsigned)i);
        memcpy(f.vault, i == 3 ? nov : vault, 33);
        store_txn *t = store_txn_new();
        ASSERT_TRUE(t != NULL);
        ASSERT_EQ_INT(store_txn_put_file(t, &f), STORE_OK);
        ASSERT_EQ_INT(store_txn_event(t, vault, "test.event", "{\"i\":1}"), STORE_OK);
        ASSERT_EQ_INT(store_txn_append_update(t, i == 3 ? nov : vault, doc, (const uint8_t *)bytes,
                                              strlen(bytes)),
                      STORE_OK);
        if (i == 1) store_txn_fail_for_test(t);
        p[i] = (struct pending){.col = &col};
        ASSERT_EQ_INT(store_submit(e->st, t, pending_done, &p[i]), STORE_OK);
    }
    CHECK_HELPER(gate_open_when_queued(e->st, &gate, 4));
    gate_release(&gate);
    collector_wait(&col, 4);
    pthread_cond_destroy(&col.c);
    pthread_mutex_destroy(&col.m);

    for (int i = 0; i < 4; i++) ASSERT_EQ_UINT(p[i].res.batch_size, 4);
    ASSERT_EQ_INT(p[0].res.err, STORE_OK);
    ASSERT_EQ_INT(p[0].res.vault_seq, 2);
    ASSERT_EQ_INT(p[1].res.err, STORE_EIO);
    ASSERT_EQ_INT(p[1].res.vault_seq, 0);
    ASSERT_EQ_INT(p[2].res.err, STORE_OK);
    ASSERT_EQ_INT(p[2].res.vault_seq, 3); /* t1's bump was rolled back */
    ASSERT_EQ_INT(p[3].res.err, STORE_ENOTFOUND);

    struct logbuf b = {.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "first|t0|t2|");
    char got[256];
    CHECK_HELPER(list_paths(e, vault, "", false, got, sizeof(got)));
    ASSERT_EQ_STR(got, "/t0.md /t2.md");
    store_event *ev = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_events_after(e->st, base, 100, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 2);
    store_events_free(ev, n);
    store_vault v;
    ASSERT_EQ_INT(store_vault_get(e->st, vault, owner, &v), STORE_OK);
    ASSERT_EQ_INT(v.seq, 3);
    store_vault_free(&v);
}

/* Submits txns behind a closed gate so that they commit as one batch, and
 * waits for their answers (in p). */
static void submit_batch(struct env *e, store_txn **t, struct pending *p, int n) {
    struct gate gate;
    struct collector col = {.done = 0};
    pthread_mutex_init(&col.m, NULL);
    pthread_cond_init(&col.c, NULL);
    CHECK_HELPER(gate_close(e->st, &gate));
    for (int i = 0; i < n; i++) {
        p[i] = (struct pending){.col = &col};
        ASSERT_EQ_INT(store_submit(e->st, t[i], pending_done, &p[i]), STORE_OK);
    }
    CHECK_HELPER(gate_open_when_queued(e->st, &gate, (size_t)n));
    gate_release(&gate);
    collector_wait(&col, n);
    pthread_cond_destroy(&col.c);
    pthread_mutex_destroy(&col.m);
}

/* *out: a txn writing note doc's projection row (/a.md in vault, with
 * title and updated time) and the event ev_json. */
static void note_write(store_txn **out, const char *vault, const char *doc, const char *title,
                       int64_t updated, const char *ev_json) {
    char copy[64];
    snprintf(copy, sizeof(copy), "%s", title);
    store_file f = {
        .path = "/a.md", .title = copy, .is_note = true, .created = 1, .updated = updated};
    memcpy(f.id, doc, 33);
    memcpy(f.vault, vault, 33);
    store_txn *t = *out = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_put_file(t, &f), STORE_OK);
    ASSERT_EQ_INT(store_txn_event(t, vault, "note.updated", ev_json), STORE_OK);
}

/* The projection row of doc holds title and updated. */
static void expect_row(struct env *e, const char *doc, const char *title, int64_t updated) {
    store_file f;
    ASSERT_EQ_INT(store_file_get(e->st, doc, &f), STORE_OK);
    ASSERT_EQ_STR(f.title, title);
    ASSERT_EQ_INT(f.updated, updated);
    store_file_free(&f);
}

/* Txns of a batch that commits whole: a projection row several of them
 * write is left as the last one wrote it, an event several of them repeat
 * is stored once, after the events between (the latest copy), and updates
 * are numbered in order, each vault on its own. */
STORE_TEST(store_batch_writes_repeated_rows_and_events_once) {
    int64_t owner, owner2, base;
    char vault[33], vault2[33], doc[33], doc2[33], ev_json[64];
    struct pending p[5];
    store_txn *t[5];
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(new_vault(e, 2, &owner2, vault2));
    CHECK_HELPER(last_event(e, &base));
    mkid(doc, 0xd0c);
    mkid(doc2, 0xd0d);
    snprintf(ev_json, sizeof(ev_json), "{\"id\":\"%s\",\"user\":1}", doc);
    for (int i = 0; i < 5; i++) {
        char bytes[16], title[32];
        snprintf(bytes, sizeof(bytes), "u%d", i);
        snprintf(title, sizeof(title), "Title %d", i);
        CHECK_HELPER(note_write(&t[i], vault, doc, title, 10 + i, ev_json));
        if (i == 2) ASSERT_EQ_INT(store_txn_event(t[i], vault, "note.moved", ev_json), STORE_OK);
        ASSERT_EQ_INT(store_txn_append_update(t[i], i % 2 ? vault2 : vault, i % 2 ? doc2 : doc,
                                              (const uint8_t *)bytes, strlen(bytes)),
                      STORE_OK);
    }
    CHECK_HELPER(submit_batch(e, t, p, 5));

    const int64_t seqs[5] = {1, 1, 2, 2, 3};
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ_UINT(p[i].res.batch_size, 5);
        ASSERT_EQ_INT(p[i].res.err, STORE_OK);
        ASSERT_EQ_INT(p[i].res.vault_seq, seqs[i]);
    }
    CHECK_HELPER(expect_row(e, doc, "Title 4", 14));
    store_event *ev = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_events_after(e->st, base, 100, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_STR(ev[0].type, "note.moved");
    ASSERT_EQ_STR(ev[1].type, "note.updated");
    ASSERT_EQ_STR(ev[1].json, ev_json);
    store_events_free(ev, n);
    struct logbuf b = {.len = 0}, b2 = {.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "u0|u2|u4|");
    ASSERT_EQ_INT(store_doc_updates(e->st, doc2, log_collect, &b2), STORE_OK);
    ASSERT_EQ_STR(b2.text, "u1|u3|");
    store_vault v;
    ASSERT_EQ_INT(store_vault_get(e->st, vault, owner, &v), STORE_OK);
    ASSERT_EQ_INT(v.seq, 3);
    store_vault_free(&v);
    ASSERT_EQ_INT(store_vault_get(e->st, vault2, owner2, &v), STORE_OK);
    ASSERT_EQ_INT(v.seq, 2);
    store_vault_free(&v);
    CHECK_HELPER(append(e, vault, doc, "next", 4)); /* the next batch goes on from there */
}

/* When a txn of the batch fails on its own, the others still commit, each
 * with the writes a later (failed) txn repeated, and the seqs it took. */
STORE_TEST(store_batch_keeps_writes_a_failed_txn_repeated) {
    int64_t owner, base;
    char vault[33], doc[33], ev_json[64];
    struct pending p[2];
    store_txn *t[2];
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(last_event(e, &base));
    mkid(doc, 0xd0c);
    snprintf(ev_json, sizeof(ev_json), "{\"id\":\"%s\",\"user\":1}", doc);
    for (int i = 0; i < 2; i++) {
        CHECK_HELPER(note_write(&t[i], vault, doc, i ? "Lost" : "Kept", 10 + i, ev_json));
        ASSERT_EQ_INT(
            store_txn_append_update(t[i], vault, doc, (const uint8_t *)(i ? "b" : "a"), 1),
            STORE_OK);
    }
    store_txn_fail_for_test(t[1]);
    CHECK_HELPER(submit_batch(e, t, p, 2));

    ASSERT_EQ_INT(p[0].res.err, STORE_OK);
    ASSERT_EQ_INT(p[0].res.vault_seq, 1);
    ASSERT_EQ_INT(p[1].res.err, STORE_EIO);
    CHECK_HELPER(expect_row(e, doc, "Kept", 10));
    store_event *ev = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_events_after(e->st, base, 100, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 1);
    store_events_free(ev, n);
    struct logbuf b = {.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "a|");
    CHECK_HELPER(append(e, vault, doc, "next", 2));
}

STORE_TEST(store_reads_see_only_committed) {
    int64_t owner;
    char vault[33], doc[33], fid[33];
    struct gate g0, g1;
    struct collector col = {.done = 0};
    struct pending p = {.col = &col};
    int64_t base;
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(last_event(e, &base));
    mkid(doc, 0xd0c);
    mkid(fid, 0xf1);
    pthread_mutex_init(&col.m, NULL);
    pthread_cond_init(&col.c, NULL);

    /* Batch [t, g1]: t's steps run, then the writer waits in g1 before the
     * COMMIT. */
    CHECK_HELPER(gate_close(e->st, &g0));
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, doc, (const uint8_t *)"u", 1), STORE_OK);
    store_file f = {.path = "/a.md", .title = "A", .is_note = true, .created = 1, .updated = 1};
    memcpy(f.id, fid, 33);
    memcpy(f.vault, vault, 33);
    ASSERT_EQ_INT(store_txn_put_file(t, &f), STORE_OK);
    ASSERT_EQ_INT(store_txn_event(t, vault, "doc.updated", "{}"), STORE_OK);
    ASSERT_EQ_INT(store_submit(e->st, t, pending_done, &p), STORE_OK);
    CHECK_HELPER(gate_submit(e->st, &g1));
    CHECK_HELPER(gate_open_when_queued(e->st, &g0, 2));
    gate_release(&g0);
    gate_wait_entered(&g1);

    store_file got;
    store_vault v;
    store_event *ev = NULL;
    size_t n = 9;
    struct logbuf b = {.len = 0};
    ASSERT_EQ_INT(store_file_get(e->st, fid, &got), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, log_collect, &b), STORE_OK);
    ASSERT_EQ_INT(b.count, 0);
    ASSERT_EQ_INT(store_events_after(e->st, base, 10, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 0);
    store_events_free(ev, n);
    ASSERT_EQ_INT(store_vault_get(e->st, vault, owner, &v), STORE_OK);
    ASSERT_EQ_INT(v.seq, 0);
    store_vault_free(&v);
    pthread_mutex_lock(&col.m);
    ASSERT_EQ_INT(col.done, 0); /* not answered before the commit */
    pthread_mutex_unlock(&col.m);

    CHECK_HELPER(gate_open(&g1));
    gate_release(&g1);
    collector_wait(&col, 1);
    pthread_cond_destroy(&col.c);
    pthread_mutex_destroy(&col.m);
    ASSERT_EQ_INT(p.res.err, STORE_OK);
    ASSERT_EQ_INT(p.res.vault_seq, 1);
    ASSERT_EQ_UINT(p.res.batch_size, 2);
    ASSERT_EQ_INT(store_file_get(e->st, fid, &got), STORE_OK);
    store_file_free(&got);
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "u|");
}

struct counter {
    pthread_mutex_t m;
    int ok, failed;
};

static void count_done(void *ud, const store_result *r) {
    struct counter *c = ud;
    pthread_mutex_lock(&c->m);
    if (r->err == STORE_OK)
        c->ok++;
    else
        c->failed++;
    pthread_mutex_unlock(&c->m);
}

static int count_update(void *ud, const uint8_t *update, size_t len) {
    (void)update;
    (void)len;
    ++*(int *)ud;
    return 0;
}

static void *close_main(void *arg) {
    store_close(arg);
    return NULL;
}

STORE_TEST(store_close_drains_queue) {
    int64_t owner;
    char vault[33], doc[33], err[256];
    struct gate g;
    struct counter c = {.ok = 0};
    pthread_t closer;
    pthread_mutex_init(&c.m, NULL);
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    mkid(doc, 0xd0c);

    /* Everything accepted before store_close shuts the door is committed and
     * answered; everything after is refused with ECLOSED and not answered. */
    CHECK_HELPER(gate_close(e->st, &g));
    ASSERT_EQ_INT(pthread_create(&closer, NULL, close_main, e->st), 0);
    int accepted = 0, rc;
    do {
        store_txn *t = store_txn_new();
        ASSERT_TRUE(t != NULL);
        ASSERT_EQ_INT(store_txn_append_update(t, vault, doc, (const uint8_t *)"x", 1), STORE_OK);
        rc = store_submit(e->st, t, count_done, &c);
        if (rc == STORE_OK) accepted++;
    } while (rc == STORE_OK);
    ASSERT_EQ_INT(rc, STORE_ECLOSED);
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    store_result res = {.err = 1, .vault_seq = 5};
    ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_ECLOSED);
    ASSERT_EQ_INT(res.err, STORE_ECLOSED);
    ASSERT_EQ_INT(res.vault_seq, 0);
    CHECK_HELPER(gate_open(&g));
    pthread_join(closer, NULL);
    e->st = NULL;
    gate_release(&g);
    pthread_mutex_destroy(&c.m);
    ASSERT_EQ_INT(c.ok, accepted);
    ASSERT_EQ_INT(c.failed, 0);

    ASSERT_EQ_INT(store_open(e->where, &e->st, err, sizeof(err)), STORE_OK);
    int count = 0;
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, count_update, &count), STORE_OK);
    ASSERT_EQ_INT(count, accepted);
}

STORE_TEST(store_outbox_after_cursor) {
    int64_t owner, base;
    char vault[33];
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(last_event(e, &base));
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_event(t, vault, "doc.updated", "{\"doc\":\"a\"}"), STORE_OK);
    ASSERT_EQ_INT(store_txn_event(t, vault, "file.moved", "{\"doc\":\"b\"}"), STORE_OK);
    ASSERT_EQ_INT(store_txn_event(t, vault, "bad", "{not json"), STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_event(t, vault, "", "{}"), STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_event(t, "nope", "x", "{}"), STORE_EINVAL);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_event(t, vault, "trash.purged", "[1,2]"), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);

    store_event *ev = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_events_after(e->st, base, 10, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 3);
    ASSERT_EQ_STR(ev[0].type, "doc.updated");
    ASSERT_EQ_STR(ev[0].json, "{\"doc\":\"a\"}");
    ASSERT_EQ_STR(ev[0].vault, vault);
    ASSERT_TRUE(ev[0].created > 0);
    ASSERT_EQ_STR(ev[1].type, "file.moved");
    ASSERT_EQ_STR(ev[2].type, "trash.purged");
    ASSERT_EQ_STR(ev[2].json, "[1,2]");
    ASSERT_TRUE(ev[0].id < ev[1].id && ev[1].id < ev[2].id);
    int64_t first = ev[0].id, last = ev[2].id;
    store_events_free(ev, n);

    ASSERT_EQ_INT(store_events_after(e->st, first, 10, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_STR(ev[0].type, "file.moved");
    store_events_free(ev, n);
    ASSERT_EQ_INT(store_events_after(e->st, base, 1, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 1);
    ASSERT_EQ_INT(ev[0].id, first);
    store_events_free(ev, n);
    ASSERT_EQ_INT(store_events_after(e->st, last, 10, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 0);
    store_events_free(ev, n);
    ASSERT_EQ_INT(store_events_after(e->st, 0, 0, &ev, &n), STORE_EINVAL);

    /* The note event the store makes itself. */
    char doc[33], want[96];
    mkid(doc, 0xd0c);
    snprintf(want, sizeof(want), "{\"id\":\"%s\",\"user\":42}", doc);
    t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_note_event(t, vault, "note.updated", "not-an-id", 42), STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_note_event(t, vault, "", doc, 42), STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_note_event(t, vault, "note.updated", doc, 42), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    store_event *nev = NULL;
    size_t nn = 0;
    ASSERT_EQ_INT(store_events_after(e->st, last, 10, &nev, &nn), STORE_OK);
    ASSERT_EQ_UINT(nn, 1);
    ASSERT_EQ_STR(nev[0].type, "note.updated");
    ASSERT_EQ_STR(nev[0].json, want);
    store_events_free(nev, nn);
}

STORE_TEST(store_restart_keeps_everything) {
    int64_t owner, bob, uid = 0, count = 0;
    char vault[33], doc[33], fid[33], err[256];
    uint8_t h[32];
    memset(h, 0x42, sizeof(h));
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(new_user(e, "bob@example.org", &bob));
    ASSERT_EQ_INT(store_member_set(e->st, vault, bob, ROLE_EDITOR), STORE_OK);
    ASSERT_EQ_INT(store_session_create(e->st, h, bob, 10, 1000000), STORE_OK);
    ASSERT_EQ_INT(store_login_failure_add(e->st, "acct:bob", 50), STORE_OK);
    mkid(doc, 0xd0c);
    mkid(fid, 0xf1);
    CHECK_HELPER(append(e, vault, doc, "one", 1));
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, doc, (const uint8_t *)"two", 3), STORE_OK);
    store_file f = {
        .path = "/Notes/a.md", .title = "A", .is_note = true, .created = 7, .updated = 8};
    memcpy(f.id, fid, 33);
    memcpy(f.vault, vault, 33);
    ASSERT_EQ_INT(store_txn_put_file(t, &f), STORE_OK);
    ASSERT_EQ_INT(store_txn_event(t, vault, "doc.updated", "{}"), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    int version = store_schema_version(e->st);

    store_close(e->st);
    e->st = NULL;
    ASSERT_EQ_INT(store_open(e->where, &e->st, err, sizeof(err)), STORE_OK);

    ASSERT_EQ_INT(store_schema_version(e->st), version);
    store_user u;
    ASSERT_EQ_INT(store_user_by_email(e->st, "bob@example.org", &u), STORE_OK);
    ASSERT_EQ_INT(u.id, bob);
    store_user_free(&u);
    ASSERT_EQ_INT(store_session_user(e->st, h, 20, &uid), STORE_OK);
    ASSERT_EQ_INT(uid, bob);
    ASSERT_EQ_INT(store_login_failures(e->st, "acct:bob", 0, &count), STORE_OK);
    ASSERT_EQ_INT(count, 1);
    store_role role;
    ASSERT_EQ_INT(store_member_role(e->st, vault, bob, &role), STORE_OK);
    ASSERT_EQ_INT(role, ROLE_EDITOR);
    store_vault v;
    ASSERT_EQ_INT(store_vault_get(e->st, vault, owner, &v), STORE_OK);
    ASSERT_EQ_INT(v.seq, 2);
    ASSERT_EQ_INT(v.role, ROLE_OWNER);
    store_vault_free(&v);
    struct logbuf b = {.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "one|two|");
    store_file g;
    ASSERT_EQ_INT(store_file_get(e->st, fid, &g), STORE_OK);
    ASSERT_EQ_STR(g.path, "/Notes/a.md");
    store_file_free(&g);
    store_event *ev = NULL;
    size_t n = 0;
    /* Every committed change wrote its event: the vault, the member, the
     * update. */
    ASSERT_EQ_INT(store_events_after(e->st, 0, 10, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 3);
    ASSERT_EQ_STR(ev[0].type, "vault.created");
    ASSERT_EQ_STR(ev[1].type, "member.set");
    ASSERT_EQ_STR(ev[2].type, "doc.updated");
    store_events_free(ev, n);
    /* The sequence carries on; ids are not reused. */
    CHECK_HELPER(append(e, vault, doc, "three", 3));
    int64_t carol;
    CHECK_HELPER(new_user(e, "carol@example.org", &carol));
    ASSERT_TRUE(carol > bob);
}

static int bump_schema(store *st, store_conn *c, void *arg) {
    (void)arg;
    return store__conn_exec(st, c, "UPDATE schema_version SET version = version + 1");
}

STORE_TEST(store_refuses_newer_schema) {
    char err[256];
    int64_t a;
    CHECK_HELPER(new_user(e, "ada@example.org", &a));
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store__txn_call(t, bump_schema, NULL), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    store_close(e->st);
    e->st = NULL;

    store *st = NULL;
    ASSERT_EQ_INT(store_open(e->where, &st, err, sizeof(err)), STORE_ESCHEMA);
    ASSERT_TRUE(st == NULL);
    ASSERT_TRUE(strstr(err, "newer") != NULL);
    /* Refusing changed nothing: the same answer again. */
    err[0] = '\0';
    ASSERT_EQ_INT(store_open(e->where, &st, err, sizeof(err)), STORE_ESCHEMA);
    ASSERT_TRUE(strstr(err, "newer") != NULL);
}

STORE_TEST(store_bad_input_changes_nothing) {
    int64_t owner;
    char vault[33], doc[33];
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    mkid(doc, 0xd0c);
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, doc, (const uint8_t *)"ok", 2), STORE_OK);
    /* Refused steps leave the txn as it was. */
    ASSERT_EQ_INT(store_txn_append_update(t, "abc", doc, (const uint8_t *)"x", 1), STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_event(t, vault, "t", "\"\xff\""), STORE_EINVAL);
    store_file f = {.path = NULL};
    ASSERT_EQ_INT(store_txn_put_file(t, &f), STORE_EINVAL);
    ASSERT_EQ_INT(store_txn_put_file(t, NULL), STORE_EINVAL);
    store_result res;
    ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_OK);
    ASSERT_EQ_INT(res.vault_seq, 1);
    struct logbuf b = {.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "ok|");

    /* Reads with bad arguments: refused, outputs untouched. */
    store_vault v = {.seq = 77};
    ASSERT_EQ_INT(store_vault_get(e->st, "0123", owner, &v), STORE_EINVAL);
    ASSERT_EQ_INT(store_vault_get(e->st, "0000000000000000000000000000A000", owner, &v),
                  STORE_EINVAL);
    ASSERT_EQ_INT(v.seq, 77);
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, NULL, NULL), STORE_EINVAL);
    ASSERT_EQ_INT(store_submit(e->st, NULL, NULL, NULL), STORE_EINVAL);
    ASSERT_EQ_INT(store_login_failure_add(e->st, NULL, 1), STORE_EINVAL);
    /* SQL in a string is only a string. */
    int64_t id;
    ASSERT_EQ_INT(store_user_create(e->st, "x'); DROP TABLE users; --", "n", "h", 1, &id),
                  STORE_OK);
    store_user u;
    ASSERT_EQ_INT(store_user_by_email(e->st, "x'); DROP TABLE users; --", &u), STORE_OK);
    ASSERT_EQ_INT(u.id, id);
    store_user_free(&u);
}

/* ---- the backends' statement caches --------------------------------------
 * These talk to a backend directly (store_int.h), on connections of their
 * own to the database the store opened. */

static const store_ops *env_ops(const struct env *e) {
    return strcmp(e->backend, "sqlite") == 0 ? &store__sqlite : &store__postgres;
}

static void conn_open(const struct env *e, store_conn **c) {
    char err[256];
    *c = NULL;
    ASSERT_EQ_INT(env_ops(e)->connect(e->where, c, err, sizeof(err)), STORE_OK);
}

#define USERS_SQL "SELECT id FROM users ORDER BY id"

/* Walks USERS_SQL to its end from rows r; expects the ids ids[from..n). */
static void walk_ids(const store_ops *be, store_rows *r, const int64_t *ids, int from, int n) {
    for (int i = from; i < n; i++) {
        ASSERT_EQ_INT(be->next(r), STORE_ROW);
        ASSERT_EQ_INT(be->col_int(r, 0), ids[i]);
    }
    ASSERT_EQ_INT(be->next(r), STORE_DONE);
}

static void query_ids(const store_ops *be, store_conn *c, const int64_t *ids, int n) {
    store_rows *r = NULL;
    ASSERT_EQ_INT(be->query(c, USERS_SQL, NULL, 0, &r), STORE_OK);
    CHECK_HELPER(walk_ids(be, r, ids, 0, n));
    be->rows_free(r);
}

static void query_int(const store_ops *be, store_conn *c, const char *sql, const store_arg *args,
                      int nargs, int64_t want) {
    store_rows *r = NULL;
    ASSERT_EQ_INT(be->query(c, sql, args, nargs, &r), STORE_OK);
    ASSERT_EQ_INT(be->next(r), STORE_ROW);
    ASSERT_EQ_INT(be->col_int(r, 0), want);
    ASSERT_EQ_INT(be->next(r), STORE_DONE);
    be->rows_free(r);
}

/* The same SQL used again while its first use still has rows open (the
 * cached statement is busy), by a walk and by a run to completion; both uses
 * give every row, and the statement serves again once released. */
STORE_TEST(store_backend_nested_same_statement) {
    const store_ops *be = env_ops(e);
    store_conn *c = NULL;
    int64_t ids[4];
    for (int i = 0; i < 3; i++) {
        char email[32];
        snprintf(email, sizeof(email), "u%d@example.org", i);
        CHECK_HELPER(new_user(e, email, &ids[i]));
    }
    CHECK_HELPER(conn_open(e, &c));

    store_rows *outer = NULL, *inner = NULL;
    ASSERT_EQ_INT(be->query(c, USERS_SQL, NULL, 0, &outer), STORE_OK);
    ASSERT_EQ_INT(be->next(outer), STORE_ROW);
    ASSERT_EQ_INT(be->col_int(outer, 0), ids[0]);
    ASSERT_EQ_INT(be->query(c, USERS_SQL, NULL, 0, &inner), STORE_OK);
    CHECK_HELPER(walk_ids(be, inner, ids, 0, 3));
    ASSERT_EQ_INT(be->query(c, USERS_SQL, NULL, 0, NULL), STORE_OK);
    ASSERT_EQ_INT(be->exec(c, USERS_SQL), STORE_OK);
    CHECK_HELPER(query_ids(be, c, ids, 3)); /* a third use, while outer is open */
    be->rows_free(inner);
    ASSERT_EQ_INT(be->col_int(outer, 0), ids[0]);
    CHECK_HELPER(walk_ids(be, outer, ids, 1, 3));
    be->rows_free(outer);
    CHECK_HELPER(query_ids(be, c, ids, 3));

    /* Rows freed before their end release the statement and what it read:
     * a later query on the connection sees a commit made meanwhile. */
    ASSERT_EQ_INT(be->query(c, USERS_SQL, NULL, 0, &outer), STORE_OK);
    ASSERT_EQ_INT(be->next(outer), STORE_ROW);
    be->rows_free(outer);
    CHECK_HELPER(new_user(e, "late@example.org", &ids[3]));
    CHECK_HELPER(query_ids(be, c, ids, 4));
    CHECK_HELPER(query_int(be, c, "SELECT COUNT(*) FROM users", NULL, 0, 4));

    /* A statement that failed serves again with other arguments. */
    static const char ins[] =
        "INSERT INTO users (email, name, pwhash, created) VALUES ($1, 'n', 'p', 1) RETURNING id";
    store_arg dup[] = {{SARG_TEXT, 0, "u1@example.org", 0}};
    store_arg fresh[] = {{SARG_TEXT, 0, "fresh@example.org", 0}};
    ASSERT_EQ_INT(be->query(c, ins, dup, 1, NULL), STORE_ECONFLICT);
    ASSERT_EQ_INT(be->query(c, ins, dup, 1, NULL), STORE_ECONFLICT);
    ASSERT_EQ_INT(be->query(c, ins, fresh, 1, NULL), STORE_OK);
    CHECK_HELPER(query_int(be, c, "SELECT COUNT(*) FROM users", NULL, 0, 5));

    /* Scripts of several statements, run again and again. */
    static const char two[] = "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);\n";
    ASSERT_EQ_INT(be->exec(c, "CREATE TEMP TABLE t (x INTEGER)"), STORE_OK);
    for (int i = 0; i < 3; i++) ASSERT_EQ_INT(be->exec(c, two), STORE_OK);
    CHECK_HELPER(query_int(be, c, "SELECT SUM(x) FROM t", NULL, 0, 9));
    ASSERT_EQ_INT(be->exec(c, "INSERT INTO t VALUES (5); SELEKT; INSERT INTO t VALUES (6)"),
                  STORE_EIO);
    be->disconnect(c);
}

/* More distinct statements than a connection caches, each used several
 * times, some while others are open; then the connection is closed (every
 * statement finalized: the sanitizer build checks nothing leaks) and a new
 * one runs them again. */
STORE_TEST(store_backend_many_statements_and_reopen) {
    const store_ops *be = env_ops(e);
    store_conn *c = NULL;
    enum { NSQL = 300 };
    CHECK_HELPER(conn_open(e, &c));
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < NSQL; i++) {
            char sql[64];
            snprintf(sql, sizeof(sql), "SELECT %d + $1", i);
            store_arg a[] = {{SARG_INT, round * 1000, NULL, 0}};
            CHECK_HELPER(query_int(be, c, sql, a, 1, i + round * 1000));
        }
        /* Two cached statements and a one-off open at once. */
        store_rows *r1 = NULL, *r2 = NULL;
        store_arg a[] = {{SARG_INT, 1, NULL, 0}};
        ASSERT_EQ_INT(be->query(c, "SELECT 0 + $1", a, 1, &r1), STORE_OK);
        ASSERT_EQ_INT(be->query(c, "SELECT 1 + $1", a, 1, &r2), STORE_OK);
        CHECK_HELPER(query_int(be, c, "SELECT 299 + $1", a, 1, 300));
        ASSERT_EQ_INT(be->next(r2), STORE_ROW);
        ASSERT_EQ_INT(be->next(r1), STORE_ROW);
        ASSERT_EQ_INT(be->col_int(r1, 0), 1);
        ASSERT_EQ_INT(be->col_int(r2, 0), 2);
        be->rows_free(r2);
        be->rows_free(r1);
        /* A statement that does not compile is refused every time, and
         * nothing of it is kept. */
        ASSERT_EQ_INT(be->query(c, "SELEKT 1", NULL, 0, NULL), STORE_EIO);
        if (round == 1) {
            be->disconnect(c);
            CHECK_HELPER(conn_open(e, &c));
        }
    }
    be->disconnect(c);
    /* The store's own connections too, after a restart. */
    char err[256];
    store_close(e->st);
    e->st = NULL;
    ASSERT_EQ_INT(store_open(e->where, &e->st, err, sizeof(err)), STORE_OK);
    int64_t id;
    CHECK_HELPER(new_user(e, "after@example.org", &id));
    store_user u;
    ASSERT_EQ_INT(store_user_by_email(e->st, "after@example.org", &u), STORE_OK);
    ASSERT_EQ_INT(u.id, id);
    store_user_free(&u);
}

/* The writer skips the vault check of a doc it has seen committed: a doc
 * whose only appends were rolled back may still go to any vault, and one
 * that has a log stays refused elsewhere, across batches and restarts. */
STORE_TEST(store_doc_vault_check_after_rollback) {
    int64_t owner, other;
    char x[33], y[33], doc[33], err[256];
    store_result res;
    CHECK_HELPER(new_vault(e, 1, &owner, x));
    CHECK_HELPER(new_vault(e, 2, &other, y));
    mkid(doc, 0xd0c);

    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, x, doc, (const uint8_t *)"gone", 4), STORE_OK);
    store_txn_fail_for_test(t);
    ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_EIO);
    CHECK_HELPER(append(e, y, doc, "y1", 1));
    for (int restart = 0; restart < 2; restart++) {
        t = store_txn_new();
        ASSERT_TRUE(t != NULL);
        ASSERT_EQ_INT(store_txn_append_update(t, x, doc, (const uint8_t *)"x", 1), STORE_OK);
        ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_EINVAL);
        CHECK_HELPER(append(e, y, doc, restart ? "y3" : "y2", 2 + restart));
        store_close(e->st);
        e->st = NULL;
        ASSERT_EQ_INT(store_open(e->where, &e->st, err, sizeof(err)), STORE_OK);
    }
    struct logbuf b = {.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, doc, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "y1|y2|y3|");
    store_vault v;
    ASSERT_EQ_INT(store_vault_get(e->st, x, owner, &v), STORE_OK);
    ASSERT_EQ_INT(v.seq, 0);
    store_vault_free(&v);
}

/* PostgreSQL only: the server ends the session; the failed query resets the
 * connection, and the statements prepared in the old session are prepared
 * again in the new one. */
static void pg_session_lost_body(struct env *e) {
    const store_ops *be = &store__postgres;
    store_conn *c = NULL, *admin = NULL;
    int64_t ids[1], pid = 0;
    CHECK_HELPER(new_user(e, "one@example.org", &ids[0]));
    CHECK_HELPER(conn_open(e, &c));
    CHECK_HELPER(conn_open(e, &admin));
    CHECK_HELPER(query_ids(be, c, ids, 1));
    store_rows *r = NULL;
    ASSERT_EQ_INT(be->query(c, "SELECT pg_backend_pid()", NULL, 0, &r), STORE_OK);
    ASSERT_EQ_INT(be->next(r), STORE_ROW);
    pid = be->col_int(r, 0);
    be->rows_free(r);
    store_arg a[] = {{SARG_INT, pid, NULL, 0}};
    CHECK_HELPER(query_int(be, admin, "SELECT pg_terminate_backend($1::int)::int", a, 1, 1));
    for (;;) {
        r = NULL;
        ASSERT_EQ_INT(
            be->query(admin, "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1::int", a, 1, &r),
            STORE_OK);
        ASSERT_EQ_INT(be->next(r), STORE_ROW);
        int64_t n = be->col_int(r, 0);
        be->rows_free(r);
        if (n == 0) break;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    ASSERT_EQ_INT(be->query(c, USERS_SQL, NULL, 0, NULL), STORE_EIO);
    CHECK_HELPER(query_ids(be, c, ids, 1));
    CHECK_HELPER(query_int(be, c, "SELECT COUNT(*) FROM users", NULL, 0, 1));
    be->disconnect(admin);
    be->disconnect(c);
}

TEST(store_pg_session_lost_prepares_again) { CHECK_HELPER(run_postgres(pg_session_lost_body)); }

TEST(store_open_reports_bad_places) {
    char err[256];
    store *st = NULL;
    ASSERT_TRUE(store_open("/nonexistent-dir/sub/dir", &st, err, sizeof(err)) != STORE_OK);
    ASSERT_TRUE(st == NULL);
    ASSERT_TRUE(strstr(err, "/nonexistent-dir/sub/dir") != NULL);
    /* Port 1 on localhost: nothing listens there. */
    ASSERT_EQ_INT(
        store_open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=5", &st, err, sizeof(err)),
        STORE_EIO);
    ASSERT_TRUE(st == NULL);
    ASSERT_TRUE(strstr(err, "PostgreSQL") != NULL);
    ASSERT_EQ_STR(store_strerror(STORE_ESCHEMA),
                  "database schema newer than this program, or broken");
}

/* PostgreSQL only: two vaultd (two stores) write the same two vaults; one
 * batch is held inside while the other's transactions touch them in the
 * opposite order. Batches lock the vaults they write in id order (and a
 * deadlock that still happens runs the batch again), so the second batch
 * waits and both succeed, in order; without either, one batch failed as a
 * whole. SQLite has one writer per database: no such conflict exists. */
static void submit_append(store *st, const char *vault, const char *doc, struct pending *p) {
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, doc, (const uint8_t *)"x", 1), STORE_OK);
    ASSERT_EQ_INT(store_submit(st, t, pending_done, p), STORE_OK);
}

/* Waits until some connection to the database waits for a lock. */
static void pg_wait_for_lock_waiter(const char *url) {
    PGconn *c = PQconnectdb(url);
    ASSERT_TRUE(PQstatus(c) == CONNECTION_OK);
    for (;;) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM pg_stat_activity"
                                " WHERE datname = current_database() AND wait_event_type = 'Lock'");
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        long n = ok ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
        PQclear(r);
        if (!ok) {
            PQfinish(c);
            ASSERT_TRUE(ok);
        }
        if (n > 0) break;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    PQfinish(c);
}

static void two_writers_body(struct env *e) {
    int64_t owner;
    char x[33], y[33], err[256];
    store *a = e->st, *b = NULL;
    struct gate a0, a1, b0;
    struct collector col = {.done = 0};
    struct pending p[4];
    CHECK_HELPER(new_vault(e, 1, &owner, x));
    CHECK_HELPER(new_vault(e, 2, &owner, y));
    ASSERT_EQ_INT(store_open(e->where, &b, err, sizeof(err)), STORE_OK);
    pthread_mutex_init(&col.m, NULL);
    pthread_cond_init(&col.c, NULL);
    for (int i = 0; i < 4; i++) p[i] = (struct pending){.col = &col};

    /* a's batch: [append x, a1, append y], held at a1. */
    CHECK_HELPER(gate_close(a, &a0));
    CHECK_HELPER(submit_append(a, x, x, &p[0]));
    CHECK_HELPER(gate_submit(a, &a1));
    CHECK_HELPER(submit_append(a, y, y, &p[1]));
    CHECK_HELPER(gate_open_when_queued(a, &a0, 3));
    gate_wait_entered(&a1);
    /* b's batch: [append y, append x], which must wait for a. */
    CHECK_HELPER(gate_close(b, &b0));
    CHECK_HELPER(submit_append(b, y, y, &p[2]));
    CHECK_HELPER(submit_append(b, x, x, &p[3]));
    CHECK_HELPER(gate_open_when_queued(b, &b0, 2));
    CHECK_HELPER(pg_wait_for_lock_waiter(e->where));
    gate_let_go(&a1);
    collector_wait(&col, 4);
    collector_wait(&a1.col, 1);
    store_close(b);
    for (int i = 0; i < 4; i++) ASSERT_EQ_INT(p[i].res.err, STORE_OK);
    ASSERT_EQ_INT(a1.p.res.err, STORE_OK);
    ASSERT_EQ_INT(p[0].res.vault_seq, 1);
    ASSERT_EQ_INT(p[1].res.vault_seq, 1);
    ASSERT_EQ_INT(p[2].res.vault_seq, 2);
    ASSERT_EQ_INT(p[3].res.vault_seq, 2);
    gate_release(&a0);
    gate_release(&a1);
    gate_release(&b0);
    pthread_cond_destroy(&col.c);
    pthread_mutex_destroy(&col.m);
}

TEST(store_pg_two_writers_do_not_deadlock) { CHECK_HELPER(run_postgres(two_writers_body)); }

/* PostgreSQL only: a transient conflict (serialization failure, deadlock)
 * runs the whole batch again; nothing of the failed run remains. */
static int flaky_fn(store *st, store_conn *c, void *arg) {
    int *calls = arg;
    if ((*calls)++ == 0)
        return store__conn_exec(
            st, c, "DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END $$");
    return STORE_OK;
}

static void retry_body(struct env *e) {
    int64_t owner;
    char x[33];
    int calls = 0;
    struct gate g;
    struct collector col = {.done = 0};
    struct pending p[3];
    CHECK_HELPER(new_vault(e, 1, &owner, x));
    pthread_mutex_init(&col.m, NULL);
    pthread_cond_init(&col.c, NULL);
    for (int i = 0; i < 3; i++) p[i] = (struct pending){.col = &col};

    CHECK_HELPER(gate_close(e->st, &g));
    CHECK_HELPER(submit_append(e->st, x, x, &p[0]));
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store__txn_call(t, flaky_fn, &calls), STORE_OK);
    ASSERT_EQ_INT(store_submit(e->st, t, pending_done, &p[1]), STORE_OK);
    CHECK_HELPER(submit_append(e->st, x, x, &p[2]));
    CHECK_HELPER(gate_open_when_queued(e->st, &g, 3));
    gate_release(&g);
    collector_wait(&col, 3);
    pthread_cond_destroy(&col.c);
    pthread_mutex_destroy(&col.m);
    ASSERT_EQ_INT(calls, 2);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(p[i].res.err, STORE_OK);
        ASSERT_EQ_UINT(p[i].res.batch_size, 3);
    }
    ASSERT_EQ_INT(p[0].res.vault_seq, 1);
    ASSERT_EQ_INT(p[2].res.vault_seq, 2);
    store_vault v;
    ASSERT_EQ_INT(store_vault_get(e->st, x, owner, &v), STORE_OK);
    ASSERT_EQ_INT(v.seq, 2);
    store_vault_free(&v);
    struct logbuf b = {.len = 0};
    ASSERT_EQ_INT(store_doc_updates(e->st, x, log_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "x|x|");
}

TEST(store_pg_transient_conflict_reruns_batch) { CHECK_HELPER(run_postgres(retry_body)); }

/* ---- the commit hook ----------------------------------------------------- */

struct hooked {
    pthread_mutex_t mu;
    int n;
    char doc[8][33];
    int64_t seq[8];
    uint64_t origin[8];
    size_t len[8];
    int done_after; /* how many hook calls had happened when `done` ran */
};

static void hook_fn(void *ud, const store_committed *c) {
    struct hooked *h = ud;
    pthread_mutex_lock(&h->mu);
    if (h->n < 8) {
        snprintf(h->doc[h->n], 33, "%s", c->doc);
        h->seq[h->n] = c->seq;
        h->origin[h->n] = c->origin;
        h->len[h->n] = c->len;
    }
    h->n++;
    pthread_mutex_unlock(&h->mu);
}

static void hook_done(void *ud, const store_result *r) {
    struct hooked *h = ud;
    (void)r;
    pthread_mutex_lock(&h->mu);
    h->done_after = h->n;
    pthread_mutex_unlock(&h->mu);
}

/* Every committed update reaches the hook with its own seq and its txn's
 * origin, in order and before the txn's `done`; a rolled-back txn reaches it
 * not at all. */
STORE_TEST(store_commit_hook_sees_every_committed_update) {
    int64_t owner;
    char vault[33], d1[33], d2[33];
    CHECK_HELPER(new_vault(e, 40, &owner, vault));
    mkid(d1, 0xd401);
    mkid(d2, 0xd402);
    struct hooked h = {.n = 0};
    pthread_mutex_init(&h.mu, NULL);
    store_set_commit_hook(e->st, hook_fn, &h);

    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, d1, (const uint8_t *)"ab", 2), STORE_OK);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, d2, (const uint8_t *)"cde", 3), STORE_OK);
    store_txn_set_origin(t, 77);
    store_result res;
    ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_OK);
    ASSERT_EQ_INT(res.vault_seq, 2);
    ASSERT_EQ_INT(h.n, 2);
    ASSERT_EQ_STR(h.doc[0], d1);
    ASSERT_EQ_INT(h.seq[0], 1);
    ASSERT_EQ_UINT(h.len[0], 2);
    ASSERT_EQ_STR(h.doc[1], d2);
    ASSERT_EQ_INT(h.seq[1], 2);
    ASSERT_EQ_UINT(h.origin[0], 77);
    ASSERT_EQ_UINT(h.origin[1], 77);

    /* A txn that fails is not reported. */
    t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, d1, (const uint8_t *)"x", 1), STORE_OK);
    store_txn_fail_for_test(t);
    ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_EIO);
    ASSERT_EQ_INT(h.n, 2);

    /* The hook runs before `done`, with the default origin 0. */
    t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_append_update(t, vault, d2, (const uint8_t *)"y", 1), STORE_OK);
    ASSERT_EQ_INT(store_submit(e->st, t, hook_done, &h), STORE_OK);
    store_txn *sync = store_txn_new();
    ASSERT_EQ_INT(store_txn_append_update(sync, vault, d1, (const uint8_t *)"z", 1), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, sync, &res), STORE_OK);
    ASSERT_EQ_INT(h.n, 4);
    ASSERT_EQ_INT(h.done_after, 3);
    ASSERT_EQ_INT(h.seq[2], 3);
    ASSERT_EQ_UINT(h.origin[2], 0);
    ASSERT_EQ_INT(h.seq[3], 4);

    store_set_commit_hook(e->st, NULL, NULL);
    append(e, vault, d1, "w", 5);
    ASSERT_EQ_INT(h.n, 4);
    pthread_mutex_destroy(&h.mu);
}

/* ---- outbox consumers ---------------------------------------------------- */

/* Commits one event into vault and returns its id. */
static void add_event(struct env *e, const char *vault, const char *type, int64_t *id) {
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store_txn_event(t, vault, type, "{}"), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    CHECK_HELPER(last_event(e, id));
}

STORE_TEST(store_membership_changes_write_events) {
    int64_t owner, bob, base;
    char vault[33];
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(new_user(e, "bob@example.org", &bob));
    CHECK_HELPER(last_event(e, &base));
    ASSERT_EQ_INT(store_member_set(e->st, vault, bob, ROLE_VIEWER), STORE_OK);
    ASSERT_EQ_INT(store_member_remove(e->st, vault, bob), STORE_OK);
    /* A failed change writes nothing. */
    ASSERT_EQ_INT(store_member_remove(e->st, vault, bob), STORE_ENOTFOUND);
    store_event *ev = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_events_after(e->st, base, 10, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 2);
    char want[64];
    snprintf(want, sizeof(want), "{\"user\":%lld,\"role\":1}", (long long)bob);
    ASSERT_EQ_STR(ev[0].type, "member.set");
    ASSERT_EQ_STR(ev[0].json, want);
    ASSERT_EQ_STR(ev[0].vault, vault);
    snprintf(want, sizeof(want), "{\"user\":%lld}", (long long)bob);
    ASSERT_EQ_STR(ev[1].type, "member.removed");
    ASSERT_EQ_STR(ev[1].json, want);
    store_events_free(ev, n);
}

STORE_TEST(store_cursors_and_pending) {
    int64_t owner, c = -1, count = -1, oldest = -1, e1, e2, e3;
    char vault[33], other[33];
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(new_vault(e, 2, &owner, other));
    ASSERT_EQ_INT(store_cursor_get(e->st, "indexer", &c), STORE_OK);
    ASSERT_EQ_INT(c, 0);
    ASSERT_EQ_INT(store_cursor_get(e->st, "Bad Name", &c), STORE_EINVAL);
    ASSERT_EQ_INT(store_cursor_set(e->st, "", 1, 1), STORE_EINVAL);
    ASSERT_EQ_INT(store_cursor_set(e->st, "x", -1, 1), STORE_EINVAL);
    CHECK_HELPER(add_event(e, vault, "a", &e1));
    CHECK_HELPER(add_event(e, other, "b", &e2));
    CHECK_HELPER(add_event(e, vault, "c", &e3));
    /* Everything so far is pending for a consumer without a cursor: the two
     * vault.created events and a, b, c. */
    ASSERT_EQ_INT(store_events_pending(e->st, "indexer", NULL, &count, &oldest), STORE_OK);
    ASSERT_EQ_INT(count, 5);
    ASSERT_TRUE(oldest > 0);
    ASSERT_EQ_INT(store_cursor_set(e->st, "indexer", e1, 100), STORE_OK);
    ASSERT_EQ_INT(store_cursor_get(e->st, "indexer", &c), STORE_OK);
    ASSERT_EQ_INT(c, e1);
    ASSERT_EQ_INT(store_events_pending(e->st, "indexer", vault, &count, &oldest), STORE_OK);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_INT(store_events_pending(e->st, "indexer", other, &count, &oldest), STORE_OK);
    ASSERT_EQ_INT(count, 1);
    ASSERT_EQ_INT(store_cursor_set(e->st, "indexer", e3, 200), STORE_OK);
    ASSERT_EQ_INT(store_events_pending(e->st, "indexer", NULL, &count, &oldest), STORE_OK);
    ASSERT_EQ_INT(count, 0);
    ASSERT_EQ_INT(oldest, 0);
    ASSERT_EQ_INT(store_cursor_delete(e->st, "indexer"), STORE_OK);
    ASSERT_EQ_INT(store_cursor_delete(e->st, "indexer"), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_cursor_get(e->st, "indexer", &c), STORE_OK);
    ASSERT_EQ_INT(c, 0);
}

STORE_TEST(store_prune_waits_for_every_consumer) {
    int64_t owner, e1, e2, e3, deleted = -1;
    char vault[33];
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    CHECK_HELPER(add_event(e, vault, "a", &e1));
    CHECK_HELPER(add_event(e, vault, "b", &e2));
    CHECK_HELPER(add_event(e, vault, "c", &e3));
    int64_t future = INT64_C(1) << 60; /* every event is old enough */
    /* No consumer registered: nothing goes. */
    ASSERT_EQ_INT(store_events_prune(e->st, future, &deleted), STORE_OK);
    ASSERT_EQ_INT(deleted, 0);
    ASSERT_EQ_INT(store_cursor_set(e->st, "fast", e3, 1), STORE_OK);
    ASSERT_EQ_INT(store_cursor_set(e->st, "slow", e1, 1), STORE_OK);
    /* Too young: nothing goes. */
    ASSERT_EQ_INT(store_events_prune(e->st, 1, &deleted), STORE_OK);
    ASSERT_EQ_INT(deleted, 0);
    /* Old enough: only what the slow consumer has passed (vault.created, a). */
    ASSERT_EQ_INT(store_events_prune(e->st, future, &deleted), STORE_OK);
    ASSERT_EQ_INT(deleted, 2);
    store_event *ev = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_events_after(e->st, 0, 10, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_INT(ev[0].id, e2);
    ASSERT_EQ_INT(ev[1].id, e3);
    store_events_free(ev, n);
    ASSERT_EQ_INT(store_cursor_set(e->st, "slow", e3, 2), STORE_OK);
    ASSERT_EQ_INT(store_events_prune(e->st, future, &deleted), STORE_OK);
    ASSERT_EQ_INT(deleted, 2);
    ASSERT_EQ_INT(store_events_after(e->st, 0, 10, &ev, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 0);
    store_events_free(ev, n);
}

struct listen_count {
    pthread_mutex_t m;
    int calls;
};

static void count_commit(void *ud) {
    struct listen_count *l = ud;
    pthread_mutex_lock(&l->m);
    l->calls++;
    pthread_mutex_unlock(&l->m);
}

STORE_TEST(store_listeners_hear_commits) {
    int64_t owner, id;
    char vault[33];
    struct listen_count l = {.m = PTHREAD_MUTEX_INITIALIZER, .calls = 0};
    CHECK_HELPER(new_vault(e, 1, &owner, vault));
    ASSERT_EQ_INT(store_listen(e->st, count_commit, &l), STORE_OK);
    CHECK_HELPER(add_event(e, vault, "a", &id));
    pthread_mutex_lock(&l.m);
    int calls = l.calls;
    pthread_mutex_unlock(&l.m);
    ASSERT_TRUE(calls >= 1); /* called before store_commit returned */
    store_unlisten(e->st, count_commit, &l);
    CHECK_HELPER(add_event(e, vault, "b", &id));
    pthread_mutex_lock(&l.m);
    ASSERT_EQ_INT(l.calls, calls);
    pthread_mutex_unlock(&l.m);
    pthread_mutex_destroy(&l.m);
}

/* ---- trash and history ------------------------------------------------------ */

#define DAY_MS 86400000LL

/* A note row and one update of its log, committed together. */
static void trashed_note(struct env *e, const char *vault, unsigned n, int64_t trashed,
                         int64_t updated, char id[33]) {
    mkid(id, 0xf000 + n);
    char path[32];
    snprintf(path, sizeof(path), "/n%u.md", n);
    store_file f = {.path = path,
                    .title = "t",
                    .is_note = true,
                    .created = 100,
                    .updated = updated,
                    .trashed = trashed};
    memcpy(f.id, id, 33);
    memcpy(f.vault, vault, 33);
    store_txn *t = store_txn_new();
    ASSERT_EQ_INT(store_txn_append_update(t, vault, id, (const uint8_t *)"u", 1), STORE_OK);
    ASSERT_EQ_INT(store_txn_put_file(t, &f), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
}

/* A purge at `cutoff` for a vault on the default retention (30 days). */
static int purge(struct env *e, const char *vault, const char *doc, int64_t cutoff) {
    store_txn *t = store_txn_new();
    if (store_txn_purge_note(t, vault, doc, cutoff + 30 * DAY_MS, 30 * DAY_MS) != STORE_OK) {
        store_txn_free(t);
        return -100;
    }
    return store_commit(e->st, t, NULL);
}

STORE_TEST(store_trash_retention_due_and_purge) {
    int64_t owner, owner2;
    char v1[33], v2[33], a[33], b[33], c[33], d[33];
    CHECK_HELPER(new_vault(e, 1, &owner, v1));
    CHECK_HELPER(new_vault(e, 2, &owner2, v2));
    ASSERT_EQ_INT(store_vault_set_retention(e->st, v2, 1), STORE_OK);
    ASSERT_EQ_INT(store_vault_set_retention(e->st, v2, -1), STORE_EINVAL);
    ASSERT_EQ_INT(store_vault_set_retention(e->st, v2, STORE_RETENTION_MAX_DAYS + 1), STORE_EINVAL);
    char ghost[33];
    mkid(ghost, 0xdead);
    ASSERT_EQ_INT(store_vault_set_retention(e->st, ghost, 3), STORE_ENOTFOUND);
    store_vault v;
    ASSERT_EQ_INT(store_vault_get(e->st, v2, owner2, &v), STORE_OK);
    ASSERT_EQ_INT(v.trash_retention_days, 1);
    store_vault_free(&v);
    ASSERT_EQ_INT(store_vault_get(e->st, v1, owner, &v), STORE_OK);
    ASSERT_EQ_INT(v.trash_retention_days, 0);
    store_vault_free(&v);

    const int64_t t0 = 10 * DAY_MS;
    CHECK_HELPER(trashed_note(e, v1, 1, t0, t0 - 5, a));          /* trashed at t0 */
    CHECK_HELPER(trashed_note(e, v1, 2, t0, t0 + DAY_MS, b));     /* edited a day later */
    CHECK_HELPER(trashed_note(e, v2, 3, t0, t0 - 5, c));          /* 1-day vault */
    CHECK_HELPER(trashed_note(e, v1, 4, 0, t0 + 99 * DAY_MS, d)); /* live */

    store_trash_item *it = NULL;
    size_t n = 0;
    /* A day after t0: only the 1-day vault's note, with its own cutoff. */
    ASSERT_EQ_INT(store_trash_due(e->st, t0 + DAY_MS, 30 * DAY_MS, 100, &it, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 1);
    ASSERT_EQ_STR(it[0].file.id, c);
    ASSERT_EQ_INT(it[0].cutoff, t0);
    store_trash_items_free(it, n);
    /* 30 days after t0: a too, oldest activity first; b was edited later. */
    ASSERT_EQ_INT(store_trash_due(e->st, t0 + 30 * DAY_MS, 30 * DAY_MS, 100, &it, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_STR(it[0].file.id, a);
    ASSERT_EQ_STR(it[1].file.id, c);
    ASSERT_EQ_INT(it[0].cutoff, t0);
    ASSERT_EQ_INT(it[1].cutoff, t0 + 29 * DAY_MS);
    store_trash_items_free(it, n);
    ASSERT_EQ_INT(store_trash_due(e->st, t0 + 31 * DAY_MS, 30 * DAY_MS, 1, &it, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 1); /* max */
    store_trash_items_free(it, n);

    /* A version, so that a purge has history to remove. */
    store_version ver = {.n = 1, .base = 1, .created = 5, .author = owner};
    store_txn *t = store_txn_new();
    ASSERT_EQ_INT(store_txn_put_version(t, v1, a, &ver, (const uint8_t *)"\0\0", 2), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    store_doc_usage u;
    ASSERT_EQ_INT(store_doc_usage_get(e->st, a, &u), STORE_OK);
    ASSERT_EQ_INT(u.updates, 1);
    ASSERT_EQ_INT(u.update_bytes, 1);
    ASSERT_EQ_INT(u.versions, 1);
    ASSERT_EQ_INT(u.version_bytes, 2);

    /* The purge checks again at commit: younger than the cutoff, edited
     * after it, live, or in another vault: nothing happens. */
    ASSERT_EQ_INT(purge(e, v1, a, t0 - 1), STORE_ENOTFOUND);
    ASSERT_EQ_INT(purge(e, v1, b, t0), STORE_ENOTFOUND);
    ASSERT_EQ_INT(purge(e, v1, d, t0 + 100 * DAY_MS), STORE_ENOTFOUND);
    ASSERT_EQ_INT(purge(e, v2, a, t0), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_doc_usage_get(e->st, a, &u), STORE_OK);
    ASSERT_EQ_INT(u.updates, 1);
    ASSERT_EQ_INT(u.versions, 1);
    /* The retention raised after the purge was decided: the cutoff is
     * computed again at commit, and the note stays. */
    ASSERT_EQ_INT(store_vault_set_retention(e->st, v1, 31), STORE_OK);
    ASSERT_EQ_INT(purge(e, v1, a, t0), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_vault_set_retention(e->st, v1, 0), STORE_OK);
    /* Another store (another vaultd on the same database) whose writer has
     * seen updates of `a` committed, so it knows the document. */
    store *other = NULL;
    char err[256];
    ASSERT_EQ_INT(store_open(e->where, &other, err, sizeof(err)), STORE_OK);
    store_txn *known = store_txn_new();
    ASSERT_EQ_INT(store_txn_append_update(known, v1, a, (const uint8_t *)"k", 1), STORE_OK);
    ASSERT_EQ_INT(store_commit(other, known, NULL), STORE_OK);
    /* At the cutoff: everything of it goes, and only of it; the result says
     * what went (two updates, one version). */
    t = store_txn_new();
    ASSERT_EQ_INT(store_txn_purge_note(t, v1, a, t0 + 30 * DAY_MS, 30 * DAY_MS), STORE_OK);
    store_result res;
    ASSERT_EQ_INT(store_commit(e->st, t, &res), STORE_OK);
    ASSERT_EQ_INT(res.purged.updates, 2);
    ASSERT_EQ_INT(res.purged.update_bytes, 2);
    ASSERT_EQ_INT(res.purged.versions, 1);
    ASSERT_EQ_INT(res.purged.version_bytes, 2);
    ASSERT_EQ_INT(store_doc_usage_get(e->st, a, &u), STORE_OK);
    ASSERT_EQ_INT(u.updates, 0);
    ASSERT_EQ_INT(u.versions, 0);
    store_file f;
    ASSERT_EQ_INT(store_file_get(e->st, a, &f), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_file_get(e->st, b, &f), STORE_OK);
    store_file_free(&f);
    ASSERT_EQ_INT(store_doc_usage_get(e->st, b, &u), STORE_OK);
    ASSERT_EQ_INT(u.updates, 1);
    ASSERT_EQ_INT(purge(e, v1, a, t0), STORE_ENOTFOUND); /* twice: nothing left */
    /* An edit that reaches the writer after the purge is refused (and does
     * not bring the row back); other documents still take updates. */
    store_txn *late = store_txn_new();
    store_file back = {.path = "/n1.md", .title = "t", .is_note = true, .trashed = t0};
    memcpy(back.id, a, 33);
    memcpy(back.vault, v1, 33);
    ASSERT_EQ_INT(store_txn_append_update(late, v1, a, (const uint8_t *)"x", 1), STORE_OK);
    ASSERT_EQ_INT(store_txn_put_file(late, &back), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, late, NULL), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_file_get(e->st, a, &f), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_doc_usage_get(e->st, a, &u), STORE_OK);
    ASSERT_EQ_INT(u.updates, 0);
    /* Nor does a projection alone (a rename racing the purge), nor the other
     * store's writer, which knew the document before the purge. */
    late = store_txn_new();
    ASSERT_EQ_INT(store_txn_put_file(late, &back), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, late, NULL), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_file_get(e->st, a, &f), STORE_ENOTFOUND);
    late = store_txn_new();
    ASSERT_EQ_INT(store_txn_append_update(late, v1, a, (const uint8_t *)"z", 1), STORE_OK);
    ASSERT_EQ_INT(store_commit(other, late, NULL), STORE_ENOTFOUND);
    ASSERT_EQ_INT(store_doc_usage_get(e->st, a, &u), STORE_OK);
    ASSERT_EQ_INT(u.updates, 0);
    store_close(other);
    late = store_txn_new();
    ASSERT_EQ_INT(store_txn_append_update(late, v1, b, (const uint8_t *)"y", 1), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, late, NULL), STORE_OK);
}

static int chain_collect(void *ud, const uint8_t *p, size_t len) { return log_collect(ud, p, len); }

STORE_TEST(store_versions_chain_and_bursts) {
    int64_t owner;
    char v1[33], doc[33], other[33];
    CHECK_HELPER(new_vault(e, 1, &owner, v1));
    mkid(doc, 0xbeef);
    mkid(other, 0xbeee);
    static const char *const payloads[] = {"a", "bb", "ccc"};
    static const int64_t bases[] = {1, 1, 3};
    for (int i = 0; i < 3; i++) {
        store_version v = {.n = i + 1,
                           .base = bases[i],
                           .created = 100 * (i + 1),
                           .author = owner,
                           .restored_from = i == 2 ? 1 : 0};
        store_txn *t = store_txn_new();
        ASSERT_EQ_INT(store_txn_put_version(t, v1, doc, &v, (const uint8_t *)payloads[i],
                                            strlen(payloads[i])),
                      STORE_OK);
        ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    }
    store_version dup = {.n = 2, .base = 1, .created = 1};
    store_txn *t = store_txn_new();
    ASSERT_EQ_INT(store_txn_put_version(t, v1, doc, &dup, (const uint8_t *)"x", 1), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_ECONFLICT);
    t = store_txn_new();
    store_version bad = {.n = 4, .base = 5};
    ASSERT_EQ_INT(store_txn_put_version(t, v1, doc, &bad, (const uint8_t *)"x", 1), STORE_EINVAL);
    store_txn_free(t);

    store_version *v = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(store_version_list(e->st, doc, INT64_MAX, 10, &v, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 3);
    ASSERT_EQ_INT(v[0].n, 3);
    ASSERT_EQ_INT(v[0].restored_from, 1);
    ASSERT_EQ_INT(v[0].size, 3);
    ASSERT_EQ_INT(v[2].n, 1);
    ASSERT_EQ_INT(v[2].author, owner);
    free(v);
    ASSERT_EQ_INT(store_version_list(e->st, doc, 3, 1, &v, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 1);
    ASSERT_EQ_INT(v[0].n, 2);
    ASSERT_EQ_INT(v[0].created, 200);
    free(v);
    ASSERT_EQ_INT(store_version_list(e->st, other, INT64_MAX, 10, &v, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 0);
    free(v);

    struct logbuf b = {.len = 0};
    ASSERT_EQ_INT(store_version_chain(e->st, doc, 2, chain_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "a|bb|");
    b = (struct logbuf){.len = 0};
    ASSERT_EQ_INT(store_version_chain(e->st, doc, 3, chain_collect, &b), STORE_OK);
    ASSERT_EQ_STR(b.text, "ccc|");
    ASSERT_EQ_INT(store_version_chain(e->st, doc, 4, chain_collect, &b), STORE_ENOTFOUND);
    store_version one;
    ASSERT_EQ_INT(store_version_get(e->st, doc, 1, &one), STORE_OK);
    ASSERT_EQ_INT(one.base, 1);

    /* Bursts: the first edit starts one, later edits move its end (never
     * back), a restore makes it due at once. */
    store_burst br = {.first_at = 1000, .last_at = 1000, .first_user = 7, .last_user = 7};
    memcpy(br.doc, doc, 33);
    memcpy(br.vault, v1, 33);
    ASSERT_EQ_INT(store_burst_note(e->st, &br), STORE_OK);
    br.first_at = br.last_at = 2000;
    br.first_user = br.last_user = 8;
    ASSERT_EQ_INT(store_burst_note(e->st, &br), STORE_OK);
    br.first_at = br.last_at = 1500; /* an event seen late */
    br.first_user = br.last_user = 9;
    ASSERT_EQ_INT(store_burst_note(e->st, &br), STORE_OK);
    store_burst *due = NULL;
    ASSERT_EQ_INT(store_bursts_due(e->st, 1999, 0, 10, &due, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 0); /* not idle long enough, not too long */
    free(due);
    ASSERT_EQ_INT(store_bursts_due(e->st, 1999, 1000, 10, &due, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 1); /* running since 1000: the maximum is reached */
    free(due);
    ASSERT_EQ_INT(store_bursts_due(e->st, 2000, 0, 10, &due, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 1);
    ASSERT_EQ_STR(due[0].doc, doc);
    ASSERT_EQ_INT(due[0].first_at, 1000);
    ASSERT_EQ_INT(due[0].last_at, 2000);
    ASSERT_EQ_INT(due[0].first_user, 7);
    ASSERT_EQ_INT(due[0].last_user, 8);
    free(due);
    /* A version holding edits up to 1500: the burst goes on after it. */
    t = store_txn_new();
    ASSERT_EQ_INT(store_txn_burst_done(t, v1, doc, 1500), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    ASSERT_EQ_INT(store_bursts_due(e->st, 2000, 0, 10, &due, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 1);
    ASSERT_EQ_INT(due[0].first_at, 1501);
    free(due);
    t = store_txn_new();
    ASSERT_EQ_INT(store_txn_burst_done(t, v1, doc, 2000), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    ASSERT_EQ_INT(store_bursts_due(e->st, INT64_MAX, INT64_MAX, 10, &due, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 0);
    free(due);
    br.first_at = br.last_at = 3000;
    br.restored_from = 2;
    ASSERT_EQ_INT(store_burst_note(e->st, &br), STORE_OK);
    ASSERT_EQ_INT(store_bursts_due(e->st, 0, 0, 10, &due, &n), STORE_OK);
    ASSERT_EQ_UINT(n, 1);
    ASSERT_EQ_INT(due[0].restored_from, 2);
    free(due);
}

/* ---- search: phrase keys --------------------------------------------------- */

/* The paths of the notes that match query q, best first, space-separated. */
static void search_paths(struct env *e, const char *vault, const char *q, char *out, size_t len) {
    squery sq;
    char err[160];
    out[0] = '\0';
    ASSERT_EQ_INT(squery_parse(q, strlen(q), &sq, err, sizeof(err)), SQUERY_OK);
    store_search_req req = {.vault = vault, .q = &sq, .limit = 20};
    store_search_hit *hits = NULL;
    size_t n = 0;
    int64_t total = 0;
    int rc = store_search(e->st, &req, &hits, &n, &total);
    squery_release(&sq);
    ASSERT_EQ_INT(rc, STORE_OK);
    ASSERT_EQ_INT(total, (int64_t)n);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? " " : "", hits[i].path);
    store_search_hits_free(hits, n);
}

#define EXPECT_SEARCH(q, want)                                           \
    do {                                                                 \
        char got_[512];                                                  \
        CHECK_HELPER(search_paths(e, vault, (q), got_, sizeof(got_)));   \
        if (strcmp(got_, (want)) != 0)                                   \
            fprintf(stderr, "search %s: got \"%s\", want \"%s\"\n", (q), \
                    got_, (want));                                       \
        ASSERT_EQ_STR(got_, (want));                                     \
    } while (0)

/* Takes the search index back to schema version 6 (no phrase keys) with one
 * entry written as a vaultd of that version wrote it. */
static int search_v6(store *st, store_conn *c, void *arg) {
    (void)arg;
    if (store__ops(st) == &store__sqlite)
        return store__conn_exec(
            st, c,
            "DROP TABLE search_fts;"
            "CREATE VIRTUAL TABLE search_fts USING fts5(vault, title, path, body,"
            "  prefix = '2 3 4', tokenize = 'unicode61 remove_diacritics 2');"
            "INSERT INTO search_docs (rowid, id, vault, path, title, trashed) VALUES (1,"
            "  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '0123456789abcdef0123456789abcdef',"
            "  '/Old/Fox.md', 'The quick brown fox', 0);"
            "INSERT INTO search_fts (rowid, vault, title, path, body) VALUES (1,"
            "  '0123456789abcdef0123456789abcdef', 'The quick brown fox', ' Old Fox md',"
            "  'It jumps over the lazy dog, then over the Café wall.');"
            "UPDATE schema_version SET version = 6");
    return store__conn_exec(
        st, c,
        "DROP INDEX search_docs_keys;"
        "ALTER TABLE search_docs DROP COLUMN keys;"
        "DROP FUNCTION vault_search_keys(tsvector, text);"
        "DROP FUNCTION vault_search_prefix_keys(tsvector);"
        "INSERT INTO search_docs (id, vault, path, title, body, trashed, tsv, ttsv)"
        "  SELECT 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '0123456789abcdef0123456789abcdef',"
        "  '/Old/Fox.md', 'The quick brown fox', b, 0, t.v || to_tsvector('vault_search', b), t.v"
        "  FROM (SELECT 'It jumps over the lazy dog, then over the Café wall.'::text AS b,"
        "    setweight(to_tsvector('vault_search', 'The quick brown fox'), 'A') ||"
        "    setweight(to_tsvector('vault_search', ' Old Fox md'), 'B') AS v) t;"
        "UPDATE schema_version SET version = 6");
}

STORE_TEST(store_search_phrases_after_migration_and_edits) {
    const char *vault = "0123456789abcdef0123456789abcdef";
    store_txn *t = store_txn_new();
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(store__txn_call(t, search_v6, NULL), STORE_OK);
    ASSERT_EQ_INT(store_commit(e->st, t, NULL), STORE_OK);
    store_close(e->st);
    e->st = NULL;
    char err[256];
    ASSERT_EQ_INT(store_open(e->where, &e->st, err, sizeof(err)), STORE_OK);

    /* The entry written before the keys existed is found by its phrases. */
    EXPECT_SEARCH("\"lazy dog\"", "/Old/Fox.md");
    EXPECT_SEARCH("\"dog then over\"", "/Old/Fox.md"); /* across the comma */
    EXPECT_SEARCH("\"the cafe wall\"", "/Old/Fox.md");
    EXPECT_SEARCH("\"brown fox\"", "/Old/Fox.md"); /* in the title */
    EXPECT_SEARCH("\"old fox\"", "/Old/Fox.md");   /* in the path */
    EXPECT_SEARCH("\"dog lazy\"", "");
    EXPECT_SEARCH("\"fox it\"", ""); /* the title's last word, the text's first */
    EXPECT_SEARCH("\"lazy dog\" -\"brown fox\"", "");

    /* New entries, with accents, digits and non-ASCII words. */
    store_search_doc docs[2] = {
        {.path = "/New/Naive.md",
         .title = "Notes",
         .text = "A naïve résumé of the Q3 plan for Zürich: 東京 café, then tea.",
         .trashed = 0},
        {.path = "/New/Other.md",
         .title = "Résumé naïve",
         .text = "plan Q3 the of tea then, Zürich for",
         .trashed = 0},
    };
    memcpy(docs[0].id, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 33);
    memcpy(docs[1].id, "cccccccccccccccccccccccccccccccc", 33);
    memcpy(docs[0].vault, vault, 33);
    memcpy(docs[1].vault, vault, 33);
    ASSERT_EQ_INT(store_search_put(e->st, docs, 2), STORE_OK);
    EXPECT_SEARCH("\"naive resume\"", "/New/Naive.md");
    EXPECT_SEARCH("\"resume naive\"", "/New/Other.md");
    EXPECT_SEARCH("\"q3 plan\"", "/New/Naive.md");
    EXPECT_SEARCH("\"the Q3 plan for zurich\"", "/New/Naive.md");
    EXPECT_SEARCH("\"then tea\"", "/New/Naive.md");
    EXPECT_SEARCH("\"tea then\"", "/New/Other.md");
    EXPECT_SEARCH("\"q3 pl*\"", "/New/Naive.md");
    EXPECT_SEARCH("\"plan q3\" tea", "/New/Other.md");
    EXPECT_SEARCH("rewr*", "");
    EXPECT_SEARCH("tok*", ""); /* 東京 is not a prefix of anything ASCII */

    /* An edit replaces the keys: the old phrase is gone, the new one found. */
    docs[0].text = "A naïve résumé, rewritten: the plan moved to Q4.";
    ASSERT_EQ_INT(store_search_put(e->st, docs, 1), STORE_OK);
    EXPECT_SEARCH("\"q3 plan\"", "");
    EXPECT_SEARCH("\"plan moved\"", "/New/Naive.md");
    EXPECT_SEARCH("\"then tea\"", "");
    /* Prefixes of 2 to 4 characters (keys on PostgreSQL) and longer. */
    EXPECT_SEARCH("rewr*", "/New/Naive.md");
    EXPECT_SEARCH("rewritte*", "/New/Naive.md");
    EXPECT_SEARCH("Q4*", "/New/Naive.md");
    EXPECT_SEARCH("zur*", "/New/Other.md"); /* Zürich left Naive.md's text */
    EXPECT_SEARCH("zu*", "/New/Other.md");
    EXPECT_SEARCH("zur* -tea", "");
}
