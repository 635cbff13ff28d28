/*
 * test_consumer.c - outbox consumers (src/server/consumer.c) on a real
 * SQLite store: delivery in order, cursor stored after success, retries
 * after failures without skipping, writes never waiting for a failing
 * consumer, resumption from the stored cursor, and outbox retention.
 */
#include "test.h"

#include "../../src/server/consumer.c"

#include <stdio.h>
#include <unistd.h>

struct seen {
    pthread_mutex_t m;
    int64_t ids[256];
    int n;
    int fail_left; /* calls that fail before calls succeed */
    int calls;
};

static int handler(void *ud, store *st, const store_event *ev, size_t n) {
    (void)st;
    struct seen *s = ud;
    pthread_mutex_lock(&s->m);
    s->calls++;
    int rc = 0;
    if (s->fail_left > 0) {
        s->fail_left--;
        rc = -1;
    } else {
        for (size_t i = 0; i < n && s->n < 256; i++) s->ids[s->n++] = ev[i].id;
    }
    pthread_mutex_unlock(&s->m);
    return rc;
}

static void open_store(char dir[64], store **st) {
    snprintf(dir, 64, "/tmp/vn-consumer-XXXXXX");
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    char err[256];
    ASSERT_EQ_INT(store_open(dir, st, err, sizeof(err)), STORE_OK);
}

static void close_store(char dir[64], store *st) {
    store_close(st);
    static const char *const files[] = {"vault.db", "vault.db-wal", "vault.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* A vault to write events into. */
static void make_vault(store *st, char vault[33]) {
    int64_t user;
    ASSERT_EQ_INT(store_user_create(st, "c@example.org", "C", "$argon2id$x", 1, &user), STORE_OK);
    snprintf(vault, 33, "%032x", 0xc0ffeeu);
    ASSERT_EQ_INT(store_vault_create(st, vault, "V", user, 1), STORE_OK);
}

static void add_events(store *st, const char *vault, int n) {
    for (int i = 0; i < n; i++) {
        store_txn *t = store_txn_new();
        ASSERT_TRUE(t != NULL);
        ASSERT_EQ_INT(store_txn_event(t, vault, "test.event", "{}"), STORE_OK);
        ASSERT_EQ_INT(store_commit(st, t, NULL), STORE_OK);
    }
}

/* Every event id after `after`, in order. */
static int all_ids(store *st, int64_t after, int64_t *ids, int max) {
    store_event *ev = NULL;
    size_t n = 0;
    if (store_events_after(st, after, (size_t)max, &ev, &n) != STORE_OK) return -1;
    for (size_t i = 0; i < n; i++) ids[i] = ev[i].id;
    store_events_free(ev, n);
    return (int)n;
}

/* Waits (up to 60 s) until the consumer has seen `want` events. */
static void wait_seen(struct seen *s, int want) {
    for (int i = 0; i < 6000; i++) {
        pthread_mutex_lock(&s->m);
        int n = s->n;
        pthread_mutex_unlock(&s->m);
        if (n >= want) return;
        usleep(10 * 1000);
    }
    TEST_FAIL_HERE();
}

TEST(consumer_delivers_in_order_retries_and_resumes) {
    char dir[64], vault[33];
    store *st = NULL;
    CHECK_HELPER(open_store(dir, &st));
    CHECK_HELPER(make_vault(st, vault));
    CHECK_HELPER(add_events(st, vault, 5));
    int64_t want[64];
    int nwant = all_ids(st, 0, want, 64);
    ASSERT_EQ_INT(nwant, 6); /* vault.created + 5 */

    /* The handler fails three times: the events come again, none skipped,
     * and writes meanwhile succeed without waiting for it. */
    struct seen s = {.m = PTHREAD_MUTEX_INITIALIZER, .fail_left = 3};
    vconsumer_opts opt = {.batch = 2, .poll_ms = 50, .backoff_min_ms = 10, .backoff_max_ms = 40};
    vconsumer *c = NULL;
    ASSERT_EQ_INT(vconsumer_start(st, "test-consumer", handler, &s, &opt, &c), STORE_OK);
    CHECK_HELPER(add_events(st, vault, 3));
    nwant = all_ids(st, 0, want, 64);
    ASSERT_EQ_INT(nwant, 9);
    CHECK_HELPER(wait_seen(&s, 9));
    pthread_mutex_lock(&s.m);
    ASSERT_EQ_INT(s.n, 9);
    for (int i = 0; i < 9; i++) ASSERT_EQ_INT(s.ids[i], want[i]);
    ASSERT_TRUE(s.calls >= 3 + 5); /* the failures, then batches of at most 2 */
    pthread_mutex_unlock(&s.m);
    vconsumer_stop(c);
    int64_t cursor = 0;
    ASSERT_EQ_INT(store_cursor_get(st, "test-consumer", &cursor), STORE_OK);
    ASSERT_EQ_INT(cursor, want[8]);

    /* Events written while it is stopped wait for it; a new run resumes
     * after the stored cursor (nothing is delivered twice here). */
    CHECK_HELPER(add_events(st, vault, 2));
    int64_t count = 0, oldest = 0;
    ASSERT_EQ_INT(store_events_pending(st, "test-consumer", vault, &count, &oldest), STORE_OK);
    ASSERT_EQ_INT(count, 2);
    ASSERT_TRUE(oldest > 0);
    struct seen s2 = {.m = PTHREAD_MUTEX_INITIALIZER};
    ASSERT_EQ_INT(vconsumer_start(st, "test-consumer", handler, &s2, &opt, &c), STORE_OK);
    CHECK_HELPER(wait_seen(&s2, 2));
    vconsumer_stop(c);
    nwant = all_ids(st, want[8], want, 64);
    ASSERT_EQ_INT(nwant, 2);
    ASSERT_EQ_INT(s2.n, 2);
    ASSERT_EQ_INT(s2.ids[0], want[0]);
    ASSERT_EQ_INT(s2.ids[1], want[1]);
    ASSERT_EQ_INT(store_events_pending(st, "test-consumer", NULL, &count, &oldest), STORE_OK);
    ASSERT_EQ_INT(count, 0);
    CHECK_HELPER(close_store(dir, st));
}

/* With an interval, the events committed after a handler call wait for
 * the interval and then reach the handler together; meanwhile they are
 * pending (the lag stays true) and stopping does not wait for the interval. */
TEST(consumer_interval_coalesces_events) {
    char dir[64], vault[33];
    store *st = NULL;
    CHECK_HELPER(open_store(dir, &st));
    CHECK_HELPER(make_vault(st, vault));
    int64_t first[4];
    ASSERT_EQ_INT(all_ids(st, 0, first, 4), 1); /* vault.created */

    /* A long interval: the first event is handled at once (nothing was
     * handled before), the next ones wait. */
    struct seen s = {.m = PTHREAD_MUTEX_INITIALIZER};
    vconsumer_opts opt = {.poll_ms = 50, .interval_ms = 600000};
    vconsumer *c = NULL;
    ASSERT_EQ_INT(vconsumer_start(st, "test-consumer", handler, &s, &opt, &c), STORE_OK);
    CHECK_HELPER(wait_seen(&s, 1));
    CHECK_HELPER(add_events(st, vault, 5));
    usleep(300 * 1000);
    pthread_mutex_lock(&s.m);
    ASSERT_EQ_INT(s.calls, 1);
    ASSERT_EQ_INT(s.n, 1);
    pthread_mutex_unlock(&s.m);
    int64_t count = 0, oldest = 0;
    ASSERT_EQ_INT(store_events_pending(st, "test-consumer", vault, &count, &oldest), STORE_OK);
    ASSERT_EQ_INT(count, 5);
    ASSERT_TRUE(oldest > 0);
    vconsumer_stop(c); /* returns without waiting out the interval */
    int64_t cursor = 0;
    ASSERT_EQ_INT(store_cursor_get(st, "test-consumer", &cursor), STORE_OK);
    ASSERT_EQ_INT(cursor, first[0]);

    /* A short interval: the five events pending reach the handler in one
     * call; five more committed one by one after it arrive in at most five
     * calls, and all of them in order. */
    struct seen s2 = {.m = PTHREAD_MUTEX_INITIALIZER};
    opt.interval_ms = 100;
    ASSERT_EQ_INT(vconsumer_start(st, "test-consumer", handler, &s2, &opt, &c), STORE_OK);
    CHECK_HELPER(wait_seen(&s2, 5));
    pthread_mutex_lock(&s2.m);
    ASSERT_EQ_INT(s2.calls, 1);
    pthread_mutex_unlock(&s2.m);
    CHECK_HELPER(add_events(st, vault, 5));
    CHECK_HELPER(wait_seen(&s2, 10));
    vconsumer_stop(c);
    int64_t want[16];
    ASSERT_EQ_INT(all_ids(st, first[0], want, 16), 10);
    ASSERT_EQ_INT(s2.n, 10);
    for (int i = 0; i < 10; i++) ASSERT_EQ_INT(s2.ids[i], want[i]);
    ASSERT_TRUE(s2.calls <= 6);
    ASSERT_EQ_INT(store_events_pending(st, "test-consumer", NULL, &count, &oldest), STORE_OK);
    ASSERT_EQ_INT(count, 0);
    CHECK_HELPER(close_store(dir, st));
}

TEST(consumer_bad_name_starts_nothing) {
    char dir[64];
    store *st = NULL;
    CHECK_HELPER(open_store(dir, &st));
    struct seen s = {.m = PTHREAD_MUTEX_INITIALIZER};
    vconsumer *c = NULL;
    ASSERT_EQ_INT(vconsumer_start(st, "Bad Name", handler, &s, NULL, &c), STORE_EINVAL);
    ASSERT_TRUE(c == NULL);
    vconsumer_stop(NULL);
    CHECK_HELPER(close_store(dir, st));
}

TEST(retention_deletes_only_what_every_consumer_passed) {
    char dir[64], vault[33];
    store *st = NULL;
    CHECK_HELPER(open_store(dir, &st));
    CHECK_HELPER(make_vault(st, vault));
    CHECK_HELPER(add_events(st, vault, 4));
    int64_t ids[16];
    ASSERT_EQ_INT(all_ids(st, 0, ids, 16), 5);
    ASSERT_EQ_INT(store_cursor_set(st, "a", ids[4], 1), STORE_OK);
    ASSERT_EQ_INT(store_cursor_set(st, "b", ids[2], 1), STORE_OK);
    /* keep 0 ms: everything is old enough; the thread runs at once. */
    vretention *r = NULL;
    ASSERT_EQ_INT(vretention_start(st, 0, 10, &r), STORE_OK);
    int left = 5;
    for (int i = 0; i < 6000 && left != 2; i++) {
        usleep(10 * 1000);
        left = all_ids(st, 0, ids, 16);
    }
    vretention_stop(r);
    ASSERT_EQ_INT(left, 2); /* what b has not passed stays */
    CHECK_HELPER(close_store(dir, st));
}

/* A consumer that has not yet handled a batch (its handler keeps failing)
 * still holds back retention: it is registered when it starts. */
TEST(retention_waits_for_a_consumer_before_its_first_batch) {
    char dir[64], vault[33];
    store *st = NULL;
    CHECK_HELPER(open_store(dir, &st));
    CHECK_HELPER(make_vault(st, vault));
    CHECK_HELPER(add_events(st, vault, 3));
    int64_t ids[16];
    ASSERT_EQ_INT(all_ids(st, 0, ids, 16), 4);
    ASSERT_EQ_INT(store_cursor_set(st, "done", ids[3], 1), STORE_OK); /* passed them all */
    struct seen s = {.m = PTHREAD_MUTEX_INITIALIZER, .fail_left = 1 << 30};
    vconsumer_opts opt = {.batch = 10, .poll_ms = 50, .backoff_min_ms = 10, .backoff_max_ms = 40};
    vconsumer *c = NULL;
    ASSERT_EQ_INT(vconsumer_start(st, "new-consumer", handler, &s, &opt, &c), STORE_OK);
    for (int i = 0; i < 6000; i++) { /* it has read the outbox once */
        pthread_mutex_lock(&s.m);
        int calls = s.calls;
        pthread_mutex_unlock(&s.m);
        if (calls > 0) break;
        usleep(10 * 1000);
    }
    int64_t deleted = -1;
    ASSERT_EQ_INT(store_events_prune(st, INT64_MAX, &deleted), STORE_OK);
    ASSERT_EQ_INT(deleted, 0);
    ASSERT_EQ_INT(all_ids(st, 0, ids, 16), 4);
    vconsumer_stop(c);
    ASSERT_EQ_INT(store_cursor_delete(st, "new-consumer"), STORE_OK); /* retired */
    ASSERT_EQ_INT(store_events_prune(st, INT64_MAX, &deleted), STORE_OK);
    ASSERT_EQ_INT(deleted, 4);
    CHECK_HELPER(close_store(dir, st));
}
