/*
 * alloc.c - the allocation wrapper: counting, peak tracking, failure
 * injection. See alloc.h for the out-of-memory policy.
 *
 * Each block carries a header holding its size (and, for blocks carved from
 * a reserve, the reserve), aligned to max_align_t so the user pointer keeps
 * malloc's alignment. Counters and failure injection are process-wide and
 * not thread-safe (they exist for tests and limits, not for accounting);
 * the active reserve is per thread.
 */
#include "alloc.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every block starts with this header (padded to max_align_t). */
typedef struct yreserve yreserve;
typedef struct yhdr {
    size_t n;      /* user size */
    yreserve *res; /* the reserve the block was carved from, or NULL */
} yhdr;

#define YALLOC_HDR (sizeof(max_align_t) > sizeof(yhdr) ? sizeof(max_align_t) : sizeof(yhdr))

/* A reserve: one block set aside before a section that must not fail
 * half-way (integrating a validated update). When malloc fails inside the
 * section, blocks are carved from it; the reserve is freed once the
 * section ended and its last carved block is gone. */
struct yreserve {
    size_t size, used, live;
    int ended;
    int is_static; /* RES_HEAP, or which per-thread static block below */
};

enum { RES_HEAP, RES_EDIT, RES_APPLY };

/* Relaxed atomics: engines on several threads may allocate at once; the
 * numbers are then approximate but the accesses are well defined. */
static _Atomic size_t g_current;
static _Atomic size_t g_peak;
static _Atomic size_t g_fail_countdown; /* 0: never fail; 1: the next allocation fails */
static _Thread_local yreserve *g_res; /* this thread's active reserve, if any */

/* Room for the reserve's own bookkeeping in front of its carved blocks. */
#define YRES_HDR ((sizeof(yreserve) + YALLOC_HDR - 1) / YALLOC_HDR * YALLOC_HDR)

/* Small reserves (every local edit takes one) come from a per-thread static
 * block while no earlier one still has carved blocks alive, so the common
 * case costs no allocation. */
static _Thread_local union {
    max_align_t align;
    unsigned char bytes[YRES_HDR + YEDIT_RESERVE];
} g_edit_res;
static _Thread_local int g_edit_res_busy;

/* The reserve of integrating an update (24 KB and up, sized from the
 * update) comes from a second per-thread static block when it fits: a
 * malloc that size makes glibc consolidate its fast bins first, which cost
 * a server 3-4% of its event loop (it applies an update per message).
 * Unless malloc fails, only the page holding the header is ever touched. */
#define YAPPLY_STATIC (32 * 1024)
static _Thread_local union {
    max_align_t align;
    unsigned char bytes[YRES_HDR + YAPPLY_STATIC];
} g_apply_res;
static _Thread_local int g_apply_res_busy;

/* Decides whether this allocation is the injected failure. */
static int fail_now(void) {
    if (atomic_load_explicit(&g_fail_countdown, memory_order_relaxed) == 0) return 0;
    if (atomic_fetch_sub_explicit(&g_fail_countdown, 1, memory_order_relaxed) == 1) return 1;
    return 0;
}

static void account_add(size_t n) {
    size_t cur = atomic_fetch_add_explicit(&g_current, n, memory_order_relaxed) + n;
    size_t peak = atomic_load_explicit(&g_peak, memory_order_relaxed);
    while (cur > peak && !atomic_compare_exchange_weak_explicit(&g_peak, &peak, cur, memory_order_relaxed,
                                                                memory_order_relaxed)) {
    }
}

static void *carve(size_t n) {
    yreserve *r = g_res;
    size_t need = (YALLOC_HDR + n + YALLOC_HDR - 1) / YALLOC_HDR * YALLOC_HDR;
    if (!r || n > SIZE_MAX - 2 * YALLOC_HDR || need > r->size - r->used) return NULL;
    unsigned char *raw = (unsigned char *)r + YRES_HDR + r->used;
    r->used += need;
    r->live++;
    yhdr h = {n, r};
    memcpy(raw, &h, sizeof h);
    return raw + YALLOC_HDR;
}

void *ymalloc(size_t n) {
    if (n > SIZE_MAX - YALLOC_HDR) return NULL;
    unsigned char *raw = fail_now() ? NULL : malloc(YALLOC_HDR + n);
    if (!raw) return carve(n);
    yhdr h = {n, NULL};
    memcpy(raw, &h, sizeof h);
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
    if (n > SIZE_MAX - YALLOC_HDR) return NULL;
    unsigned char *raw = (unsigned char *)p - YALLOC_HDR;
    yhdr h;
    memcpy(&h, raw, sizeof h);
    if (!h.res) {
        unsigned char *nraw = fail_now() ? NULL : realloc(raw, YALLOC_HDR + n);
        if (nraw) {
            yhdr nh = {n, NULL};
            memcpy(nraw, &nh, sizeof nh);
            atomic_fetch_sub_explicit(&g_current, h.n, memory_order_relaxed);
            account_add(n);
            return nraw + YALLOC_HDR;
        }
        void *c = carve(n);
        if (!c) return NULL;
        memcpy(c, p, h.n < n ? h.n : n);
        yfree(p);
        return c;
    }
    void *np = ymalloc(n);
    if (!np) return NULL;
    memcpy(np, p, h.n < n ? h.n : n);
    yfree(p);
    return np;
}

int yalloc_reserve_begin(size_t bytes) {
    if (g_res) return Y_OK; /* one section at a time; nested ones share it */
    yreserve *r;
    if (bytes <= YEDIT_RESERVE && !g_edit_res_busy) {
        r = (yreserve *)(void *)g_edit_res.bytes;
        r->is_static = RES_EDIT;
        g_edit_res_busy = 1;
    } else if (bytes <= YAPPLY_STATIC && !g_apply_res_busy) {
        r = (yreserve *)(void *)g_apply_res.bytes;
        r->is_static = RES_APPLY;
        g_apply_res_busy = 1;
    } else {
        if (bytes > SIZE_MAX - 2 * YRES_HDR || fail_now()) return Y_ERR_NOMEM;
        r = malloc(YRES_HDR + bytes);
        if (!r) return Y_ERR_NOMEM;
        r->is_static = RES_HEAP;
        account_add(bytes);
    }
    r->size = bytes;
    r->used = 0;
    r->live = 0;
    r->ended = 0;
    g_res = r;
    return Y_OK;
}

static void reserve_drop(yreserve *r) {
    if (r->is_static == RES_EDIT) {
        g_edit_res_busy = 0;
        return;
    }
    if (r->is_static == RES_APPLY) {
        g_apply_res_busy = 0;
        return;
    }
    atomic_fetch_sub_explicit(&g_current, r->size, memory_order_relaxed);
    free(r);
}

void yalloc_reserve_end(void) {
    yreserve *r = g_res;
    if (!r) return;
    g_res = NULL;
    r->ended = 1;
    if (!r->live) reserve_drop(r);
}

int yalloc_in_reserve(const void *p) {
    yhdr h;
    memcpy(&h, (const unsigned char *)p - YALLOC_HDR, sizeof h);
    return h.res != NULL;
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
    yhdr h;
    memcpy(&h, raw, sizeof h);
    if (h.res) {
        if (--h.res->live == 0 && h.res->ended) reserve_drop(h.res);
        return;
    }
    atomic_fetch_sub_explicit(&g_current, h.n, memory_order_relaxed);
    free(raw);
}

/* Makes the n-th allocation from now fail; 0 disables injection. */
void yalloc_fail_after(size_t n) { atomic_store_explicit(&g_fail_countdown, n, memory_order_relaxed); }

/* Reports bytes held now and the peak since the last reset. */
void yalloc_stats(size_t *current, size_t *peak) {
    if (current) *current = atomic_load_explicit(&g_current, memory_order_relaxed);
    if (peak) *peak = atomic_load_explicit(&g_peak, memory_order_relaxed);
}

/* Starts a new peak measurement at the current level. */
void yalloc_reset_peak(void) {
    atomic_store_explicit(&g_peak, atomic_load_explicit(&g_current, memory_order_relaxed), memory_order_relaxed);
}
