/*
 * alloc.c - the allocation wrapper: counting, peak tracking, failure
 * injection. See alloc.h for the out-of-memory policy.
 *
 * Each block carries a header holding its size, aligned to max_align_t so
 * the user pointer keeps malloc's alignment. Counters are process-wide and
 * not thread-safe (they exist for tests and limits, not for accounting).
 */
#include "alloc.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define YALLOC_HDR (sizeof(max_align_t) > sizeof(size_t) ? sizeof(max_align_t) : sizeof(size_t))

static size_t g_current;
static size_t g_peak;
static size_t g_fail_countdown; /* 0: never fail; 1: the next allocation fails */

/* Decides whether this allocation is the injected failure. */
static int fail_now(void) {
    if (g_fail_countdown == 0) return 0;
    if (--g_fail_countdown == 0) return 1;
    return 0;
}

static void account_add(size_t n) {
    g_current += n;
    if (g_current > g_peak) g_peak = g_current;
}

void *ymalloc(size_t n) {
    if (n > SIZE_MAX - YALLOC_HDR || fail_now()) return NULL;
    unsigned char *raw = malloc(YALLOC_HDR + n);
    if (!raw) return NULL;
    memcpy(raw, &n, sizeof n);
    account_add(n);
    return raw + YALLOC_HDR;
}

void *ycalloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = ymalloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void *yrealloc(void *p, size_t n) {
    if (!p) return ymalloc(n);
    if (n > SIZE_MAX - YALLOC_HDR || fail_now()) return NULL;
    unsigned char *raw = (unsigned char *)p - YALLOC_HDR;
    size_t old;
    memcpy(&old, raw, sizeof old);
    unsigned char *nraw = realloc(raw, YALLOC_HDR + n);
    if (!nraw) return NULL;
    memcpy(nraw, &n, sizeof n);
    g_current -= old;
    account_add(n);
    return nraw + YALLOC_HDR;
}

char *ystrndup(const char *s, size_t n) {
    char *d = ymalloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Releases a block from ymalloc/ycalloc/yrealloc; NULL is a no-op. */
void yfree(void *p) {
    if (!p) return;
    unsigned char *raw = (unsigned char *)p - YALLOC_HDR;
    size_t n;
    memcpy(&n, raw, sizeof n);
    g_current -= n;
    free(raw);
}

/* Makes the n-th allocation from now fail; 0 disables injection. */
void yalloc_fail_after(size_t n) { g_fail_countdown = n; }

/* Reports bytes held now and the peak since the last reset. */
void yalloc_stats(size_t *current, size_t *peak) {
    if (current) *current = g_current;
    if (peak) *peak = g_peak;
}

/* Starts a new peak measurement at the current level. */
void yalloc_reset_peak(void) { g_peak = g_current; }
