/*
 * metrics.h - the server's Prometheus metrics: request counts by route and
 * status, a request latency histogram, commit latency and batch sizes, the
 * sync fan-out latency histogram, and counters and gauges set by other
 * modules. Thread-safe: one mutex guards everything
 * (updates are a few integer additions; contention is negligible).
 */
#ifndef VN_METRICS_H
#define VN_METRICS_H

#include <stddef.h>

typedef struct vmetrics vmetrics;

/* NULL when out of memory. Free with vmetrics_free (NULL is a no-op). */
vmetrics *vmetrics_new(void);
void vmetrics_free(vmetrics *m);

/* One answered request. `route` is the route pattern (static storage) or
 * NULL for requests that matched none. */
void vmetrics_request(vmetrics *m, const char *method, const char *route, int status, double ms);

/* One group commit of `batch` transactions that took `ms`. */
void vmetrics_commit(vmetrics *m, double ms, size_t batch);

/* Sets a gauge (name must be static storage, a valid metric name). */
void vmetrics_gauge(vmetrics *m, const char *name, const char *help, double value);

/* Adds `delta` (>= 0) to a counter (name and help: static storage; the name
 * a valid metric name ending in _total). A counter exists, at 0, once it
 * has been named, so call with delta 0 to make it appear. */
void vmetrics_count(vmetrics *m, const char *name, const char *help, double delta);

/* One sync fan-out: `ms` from a commit's answer to its update being queued
 * to every connection of the document. */
void vmetrics_fanout(vmetrics *m, double ms);

/* The exposition text, NUL-terminated, malloc'd: the caller frees it.
 * NULL when out of memory. */
char *vmetrics_render(vmetrics *m);

#endif /* VN_METRICS_H */
