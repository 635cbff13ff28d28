/*
 * metrics.c - Prometheus metrics of vaultd (see metrics.h).
 *
 * Invariants: request series are keyed by (method, route, status) and only
 * grow (routes come from the static route table and statuses are few, so the
 * set is small and bounded: at most MAX_SERIES, beyond which requests count
 * in an "other" series). Histogram buckets are cumulative only when rendered.
 */
#include "server/metrics.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES   512
#define MAX_GAUGES   32
#define MAX_COUNTERS 32

static const double latency_buckets_ms[] = {0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500};
#define NBUCKETS (sizeof(latency_buckets_ms) / sizeof(latency_buckets_ms[0]))
/* Fan-out is a loop-thread hop and a few memcpys: finer buckets. */
static const double fanout_buckets_ms[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250};
static_assert(sizeof(fanout_buckets_ms) == sizeof(latency_buckets_ms), "same bucket count");
static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define NBATCH (sizeof(batch_buckets) / sizeof(batch_buckets[0]))

typedef struct {
    const char *method; /* static: from h2o tokens or the route table */
    const char *route;
    int status;
    unsigned long long count;
} series;

typedef struct {
    unsigned long long buckets[NBUCKETS + 1]; /* last: +Inf */
    double sum;
    unsigned long long count;
} histogram;

typedef struct {
    const char *name, *help;
    double value;
} gauge;

struct vmetrics {
    pthread_mutex_t mu;
    series series[MAX_SERIES];
    size_t nseries;
    unsigned long long other;
    histogram latency;
    histogram commit;
    unsigned long long batch_buckets[NBATCH + 1];
    double batch_sum;
    unsigned long long batch_count;
    gauge gauges[MAX_GAUGES];
    size_t ngauges;
    gauge counters[MAX_COUNTERS];
    size_t ncounters;
    histogram fanout;
};

vmetrics *vmetrics_new(void) {
    vmetrics *m = calloc(1, sizeof(*m));
    if (m == NULL) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void vmetrics_free(vmetrics *m) {
    if (m == NULL) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static void observe(histogram *h, const double *bounds, size_t n, double v) {
    size_t i = 0;
    while (i < n && v > bounds[i]) i++;
    h->buckets[i]++;
    h->sum += v;
    h->count++;
}

/* Method names come from the request; map them onto static strings so the
 * series table never points into freed memory. */
static const char *static_method(const char *m) {
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i]) == 0) return known[i];
    return "OTHER";
}

void vmetrics_request(vmetrics *m, const char *method, const char *route, int status, double ms) {
    method = static_method(method);
    if (route == NULL) route = "(none)";
    pthread_mutex_lock(&m->mu);
    size_t i;
    for (i = 0; i < m->nseries; i++) {
        series *s = &m->series[i];
        if (s->status == status && s->method == method && strcmp(s->route, route) == 0) break;
    }
    if (i == m->nseries && m->nseries < MAX_SERIES) {
        m->series[i] = (series){.method = method, .route = route, .status = status};
        m->nseries++;
    }
    if (i < m->nseries)
        m->series[i].count++;
    else
        m->other++;
    observe(&m->latency, latency_buckets_ms, NBUCKETS, ms);
    pthread_mutex_unlock(&m->mu);
}

void vmetrics_commit(vmetrics *m, double ms, size_t batch) {
    pthread_mutex_lock(&m->mu);
    observe(&m->commit, latency_buckets_ms, NBUCKETS, ms);
    size_t i = 0;
    while (i < NBATCH && (double)batch > batch_buckets[i]) i++;
    m->batch_buckets[i]++;
    m->batch_sum += (double)batch;
    m->batch_count++;
    pthread_mutex_unlock(&m->mu);
}

void vmetrics_gauge(vmetrics *m, const char *name, const char *help, double value) {
    pthread_mutex_lock(&m->mu);
    size_t i;
    for (i = 0; i < m->ngauges; i++)
        if (strcmp(m->gauges[i].name, name) == 0) break;
    if (i == m->ngauges && m->ngauges < MAX_GAUGES)
        m->gauges[m->ngauges++] = (gauge){name, help, 0};
    if (i < m->ngauges) m->gauges[i].value = value;
    pthread_mutex_unlock(&m->mu);
}

void vmetrics_count(vmetrics *m, const char *name, const char *help, double delta) {
    pthread_mutex_lock(&m->mu);
    size_t i;
    for (i = 0; i < m->ncounters; i++)
        if (m->counters[i].name == name || strcmp(m->counters[i].name, name) == 0) break;
    if (i == m->ncounters && m->ncounters < MAX_COUNTERS)
        m->counters[m->ncounters++] = (gauge){name, help, 0};
    if (i < m->ncounters) m->counters[i].value += delta;
    pthread_mutex_unlock(&m->mu);
}

void vmetrics_fanout(vmetrics *m, double ms) {
    pthread_mutex_lock(&m->mu);
    observe(&m->fanout, fanout_buckets_ms, NBUCKETS, ms);
    pthread_mutex_unlock(&m->mu);
}

/* A growable string; on allocation failure `failed` is set and appends stop. */
typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *p = realloc(b->buf, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
}

static void render_histogram(sbuf *b, const char *name, const char *help, const histogram *h,
                             const double *bounds, size_t n, double scale) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += h->buckets[i];
        sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i] * scale, cum);
    }
    cum += h->buckets[n];
    sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, cum, name,
              h->sum * scale, name, h->count);
}

char *vmetrics_render(vmetrics *m) {
    sbuf b = {.buf = malloc(4096), .cap = 4096};
    if (b.buf == NULL) return NULL;
    b.buf[0] = '\0';
    pthread_mutex_lock(&m->mu);
    sb_printf(&b, "# HELP vault_http_requests_total HTTP requests answered, by route and status.\n"
                  "# TYPE vault_http_requests_total counter\n");
    for (size_t i = 0; i < m->nseries; i++) {
        const series *s = &m->series[i];
        sb_printf(&b, "vault_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
                  s->method, s->route, s->status, s->count);
    }
    if (m->other)
        sb_printf(
            &b, "vault_http_requests_total{method=\"OTHER\",route=\"(other)\",status=\"0\"} %llu\n",
            m->other);
    render_histogram(&b, "vault_http_request_duration_seconds", "Time from request to response.",
                     &m->latency, latency_buckets_ms, NBUCKETS, 0.001);
    render_histogram(&b, "vault_store_commit_duration_seconds", "Time of one group commit.",
                     &m->commit, latency_buckets_ms, NBUCKETS, 0.001);
    sb_printf(&b, "# HELP vault_store_commit_batch_size Transactions per group commit.\n"
                  "# TYPE vault_store_commit_batch_size histogram\n");
    unsigned long long cum = 0;
    for (size_t i = 0; i < NBATCH; i++) {
        cum += m->batch_buckets[i];
        sb_printf(&b, "vault_store_commit_batch_size_bucket{le=\"%g\"} %llu\n", batch_buckets[i],
                  cum);
    }
    cum += m->batch_buckets[NBATCH];
    sb_printf(&b,
              "vault_store_commit_batch_size_bucket{le=\"+Inf\"} %llu\n"
              "vault_store_commit_batch_size_sum %.0f\nvault_store_commit_batch_size_count %llu\n",
              cum, m->batch_sum, m->batch_count);
    render_histogram(&b, "vault_sync_fanout_seconds",
                     "Time from a sync update's commit answer to its update queued to every "
                     "connection of the document.",
                     &m->fanout, fanout_buckets_ms, NBUCKETS, 0.001);
    for (size_t i = 0; i < m->ncounters; i++)
        sb_printf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %.0f\n", m->counters[i].name,
                  m->counters[i].help, m->counters[i].name, m->counters[i].name,
                  m->counters[i].value);
    for (size_t i = 0; i < m->ngauges; i++)
        sb_printf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", m->gauges[i].name,
                  m->gauges[i].help, m->gauges[i].name, m->gauges[i].name, m->gauges[i].value);
    pthread_mutex_unlock(&m->mu);
    if (b.failed) {
        free(b.buf);
        return NULL;
    }
    return b.buf;
}
