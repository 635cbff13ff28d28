/*
 * consumer.c - outbox consumers and outbox retention (see consumer.h).
 *
 * Each consumer is one thread looping: read a batch after the cursor, run
 * the handler, store the cursor. Sleeping uses a condition variable on the
 * monotonic clock, signalled by vconsumer_wake() (which the store's commit
 * listener calls) and by vconsumer_stop().
 *
 * Invariants: `cursor` only moves forward, and only past events the handler
 * accepted; the stored cursor is never ahead of `cursor` (it is written
 * after the handler returned); a failure of the store itself (reading
 * events, writing the cursor) is retried like a handler failure.
 */
#include "server/consumer.h"

#include "util/log.h"
#include "util/vclock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vconsumer {
    store *st;
    char name[65];
    vconsumer_fn fn;
    void *ud;
    vconsumer_opts opt;
    pthread_t thread;
    pthread_mutex_t m;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    bool wake, stop;   /* under m */
    _Atomic int64_t cursor;
    bool listening;
};

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cond_init_monotonic(pthread_cond_t *cv) {
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0) return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc == 0 ? 0 : -1;
}

/* Waits up to ms on cv/m (m held) unless *flag is already set. */
static void wait_ms(pthread_cond_t *cv, pthread_mutex_t *m, const bool *flag, int ms) {
    struct timespec ts;
    vclock_deadline(CLOCK_MONOTONIC, ms, &ts);
    while (!*flag) {
        if (pthread_cond_timedwait(cv, m, &ts) != 0) break; /* timed out */
    }
}

/* Sleeps up to ms, or less when woken or stopped. Returns true to stop. */
static bool consumer_sleep(vconsumer *c, int ms, bool wakeable) {
    pthread_mutex_lock(&c->m);
    if (!c->stop) {
        if (wakeable) {
            if (!c->wake) wait_ms(&c->cv, &c->m, &c->wake, ms);
        } else {
            wait_ms(&c->cv, &c->m, &c->stop, ms);
        }
    }
    c->wake = false;
    bool stop = c->stop;
    pthread_mutex_unlock(&c->m);
    return stop;
}

static bool stopping(vconsumer *c) {
    pthread_mutex_lock(&c->m);
    bool stop = c->stop;
    pthread_mutex_unlock(&c->m);
    return stop;
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_commit(void *ud) { vconsumer_wake(ud); }

static void log_failure(vconsumer *c, const char *what, int err, int delay_ms) {
    vlog(VLOG_WARN, what,
         json_pack("{s:s, s:I, s:s?, s:i}", "consumer", c->name, "cursor",
                   (json_int_t)atomic_load(&c->cursor), "error",
                   err < 0 ? store_strerror(err) : NULL, "retry_ms", delay_ms));
}

static void *consumer_main(void *arg) {
    vconsumer *c = arg;
    int delay = 0;      /* current back-off, 0 when healthy */
    bool stored = true; /* the stored cursor equals `cursor` */
    int64_t cursor;
    int err;
    /* The stored cursor first: keep trying until it is read. */
    while ((err = store_cursor_get(c->st, c->name, &cursor)) != STORE_OK) {
        delay = delay ? delay * 2 : c->opt.backoff_min_ms;
        if (delay > c->opt.backoff_max_ms) delay = c->opt.backoff_max_ms;
        log_failure(c, "consumer cannot read its cursor", err, delay);
        if (consumer_sleep(c, delay, false)) return NULL;
    }
    atomic_store(&c->cursor, cursor);
    delay = 0;
    /* Registered (its cursor row written) before it reads anything, so that
     * retention keeps what it has not handled even before its first batch
     * succeeds. */
    stored = false;
    int64_t last_start = 0; /* mono_ms() of the last handler call, 0: none yet */
    bool full = false;      /* that call's batch was full */
    while (!stopping(c)) {
        /* Coalescing: let the events of the interval gather in the outbox. */
        if (c->opt.interval_ms > 0 && last_start != 0 && !full && delay == 0) {
            int64_t left = last_start + c->opt.interval_ms - mono_ms();
            if (left > 0 && consumer_sleep(c, (int)left, false)) break;
        }
        if (!stored) {
            err = store_cursor_set(c->st, c->name, cursor, wall_ms());
            if (err == STORE_OK) stored = true;
        }
        store_event *ev = NULL;
        size_t n = 0;
        /* After a failure, one event at a time, so that a bad event holds
         * back nothing before it. */
        err = store_events_after(c->st, cursor, delay ? 1 : c->opt.batch, &ev, &n);
        if (err == STORE_OK && n == 0) {
            if (consumer_sleep(c, c->opt.poll_ms, true)) break;
            continue;
        }
        if (err == STORE_OK) {
            last_start = mono_ms();
            full = n >= c->opt.batch;
        }
        int rc = err == STORE_OK ? c->fn(c->ud, c->st, ev, n) : err;
        if (rc == 0) {
            cursor = ev[n - 1].id;
            atomic_store(&c->cursor, cursor);
            err = store_cursor_set(c->st, c->name, cursor, wall_ms());
            stored = err == STORE_OK;
            if (delay != 0)
                vlog(VLOG_INFO, "consumer recovered",
                     json_pack("{s:s, s:I}", "consumer", c->name, "cursor", (json_int_t)cursor));
            delay = 0;
        } else {
            delay = delay ? delay * 2 : c->opt.backoff_min_ms;
            if (delay > c->opt.backoff_max_ms) delay = c->opt.backoff_max_ms;
            log_failure(c, err != STORE_OK ? "consumer cannot read the outbox" : "consumer failed",
                        err != STORE_OK ? err : 0, delay);
        }
        store_events_free(ev, n);
        if (delay != 0 && consumer_sleep(c, delay, false)) break;
    }
    if (!stored) (void)store_cursor_set(c->st, c->name, cursor, wall_ms());
    return NULL;
}

int vconsumer_start(store *st, const char *name, vconsumer_fn fn, void *ud,
                    const vconsumer_opts *opts, vconsumer **out) {
    if (st == NULL || name == NULL || fn == NULL || out == NULL || strlen(name) > 64)
        return STORE_EINVAL;
    int64_t probe;
    int err = store_cursor_get(st, name, &probe); /* checks the name too */
    if (err != STORE_OK && err != STORE_EIO) return err;
    vconsumer *c = calloc(1, sizeof(*c));
    if (c == NULL) return STORE_ENOMEM;
    c->st = st;
    strcpy(c->name, name);
    c->fn = fn;
    c->ud = ud;
    if (opts != NULL) c->opt = *opts;
    if (c->opt.batch == 0) c->opt.batch = 100;
    if (c->opt.poll_ms <= 0) c->opt.poll_ms = 1000;
    if (c->opt.backoff_min_ms <= 0) c->opt.backoff_min_ms = 100;
    if (c->opt.backoff_max_ms <= 0) c->opt.backoff_max_ms = 30000;
    if (c->opt.interval_ms < 0) c->opt.interval_ms = 0;
    if (c->opt.backoff_max_ms < c->opt.backoff_min_ms)
        c->opt.backoff_max_ms = c->opt.backoff_min_ms;
    pthread_mutex_init(&c->m, NULL);
    if (cond_init_monotonic(&c->cv) != 0) {
        pthread_mutex_destroy(&c->m);
        free(c);
        return STORE_ENOMEM;
    }
    c->listening = store_listen(st, on_commit, c) == STORE_OK; /* else: polling only */
    if (pthread_create(&c->thread, NULL, consumer_main, c) != 0) {
        if (c->listening) store_unlisten(st, on_commit, c);
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->m);
        free(c);
        return STORE_ENOMEM;
    }
    vlog(VLOG_INFO, "consumer started", json_pack("{s:s}", "consumer", c->name));
    *out = c;
    return STORE_OK;
}

void vconsumer_wake(vconsumer *c) {
    if (c == NULL) return;
    pthread_mutex_lock(&c->m);
    c->wake = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->m);
}

int64_t vconsumer_cursor(vconsumer *c) { return atomic_load(&c->cursor); }

void vconsumer_stop(vconsumer *c) {
    if (c == NULL) return;
    if (c->listening) store_unlisten(c->st, on_commit, c);
    pthread_mutex_lock(&c->m);
    c->stop = true;
    c->wake = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->m);
    pthread_join(c->thread, NULL);
    vlog(VLOG_INFO, "consumer stopped",
         json_pack("{s:s, s:I}", "consumer", c->name, "cursor",
                   (json_int_t)atomic_load(&c->cursor)));
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->m);
    free(c);
}

/* ---- outbox retention ------------------------------------------------------ */

struct vretention {
    store *st;
    int64_t keep_ms;
    int interval_ms;
    pthread_t thread;
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool stop;
};

static void *retention_main(void *arg) {
    vretention *r = arg;
    pthread_mutex_lock(&r->m);
    while (!r->stop) {
        pthread_mutex_unlock(&r->m);
        int64_t deleted = 0;
        int err = store_events_prune(r->st, wall_ms() - r->keep_ms, &deleted);
        if (err != STORE_OK)
            vlog(VLOG_WARN, "outbox retention failed",
                 json_pack("{s:s, s:I}", "error", store_strerror(err), "deleted",
                           (json_int_t)deleted));
        else if (deleted > 0)
            vlog(VLOG_INFO, "outbox events deleted",
                 json_pack("{s:I}", "deleted", (json_int_t)deleted));
        pthread_mutex_lock(&r->m);
        wait_ms(&r->cv, &r->m, &r->stop, r->interval_ms);
    }
    pthread_mutex_unlock(&r->m);
    return NULL;
}

int vretention_start(store *st, int64_t keep_ms, int interval_ms, vretention **out) {
    if (st == NULL || keep_ms < 0 || interval_ms <= 0 || out == NULL) return STORE_EINVAL;
    vretention *r = calloc(1, sizeof(*r));
    if (r == NULL) return STORE_ENOMEM;
    r->st = st;
    r->keep_ms = keep_ms;
    r->interval_ms = interval_ms;
    pthread_mutex_init(&r->m, NULL);
    if (cond_init_monotonic(&r->cv) != 0) {
        pthread_mutex_destroy(&r->m);
        free(r);
        return STORE_ENOMEM;
    }
    if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->m);
        free(r);
        return STORE_ENOMEM;
    }
    *out = r;
    return STORE_OK;
}

void vretention_stop(vretention *r) {
    if (r == NULL) return;
    pthread_mutex_lock(&r->m);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->m);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->m);
    free(r);
}
