/*
 * store.c - the struct store (per-client sorted struct arrays) and delete
 * sets.
 *
 * Invariants
 *  - store->c keeps clients in order of first appearance; ht maps a client
 *    id to its index (+1) with linear probing, and is rebuilt on growth.
 *  - a client's array is sorted by clock with no gaps (see doc_int.h); it
 *    is a gap buffer (slots [g, g + gl) unused), so that a split or merge
 *    near the previous one moves few slots.
 *  - a delete set's clients keep insertion order; ranges are unsorted until
 *    yds_sort_merge, after which they are sorted, disjoint, non-adjacent.
 */
#include <stdlib.h>
#include <string.h>

#include "doc_int.h"

void ystore_init(ystore *s) { memset(s, 0, sizeof *s); }

void ystore_release(ystore *s) {
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < s->c[i].n; j++) yitem_free(NULL, yclient_at(&s->c[i], j));
        yfree(s->c[i].s);
    }
    yfree(s->c);
    yfree(s->ht);
    memset(s, 0, sizeof *s);
}

static size_t hash_client(uint64_t c) {
    c ^= c >> 33;
    c *= 0xff51afd7ed558ccdULL;
    c ^= c >> 33;
    return (size_t)c;
}

yclient *ystore_client(const ystore *s, uint64_t client) {
    if (!s->n) return NULL;
    /* A document edited by one client (the usual local case) has it first. */
    if (s->c[0].client == client) return &s->c[0];
    size_t mask = s->htcap - 1;
    for (size_t h = hash_client(client) & mask;; h = (h + 1) & mask) {
        uint32_t v = s->ht[h];
        if (!v) return NULL;
        if (s->c[v - 1].client == client) return &s->c[v - 1];
    }
}

static int rehash(ystore *s, size_t ncap) {
    uint32_t *ht = ycalloc(ncap, sizeof *ht);
    if (!ht) return Y_ERR_NOMEM;
    for (size_t i = 0; i < s->n; i++) {
        size_t h = hash_client(s->c[i].client) & (ncap - 1);
        while (ht[h]) h = (h + 1) & (ncap - 1);
        ht[h] = (uint32_t)(i + 1);
    }
    yfree(s->ht);
    s->ht = ht;
    s->htcap = ncap;
    return Y_OK;
}

int ystore_client_add(ystore *s, uint64_t client, yclient **out) {
    yclient *c = ystore_client(s, client);
    if (c) {
        *out = c;
        return Y_OK;
    }
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 8;
        yclient *nc = yrealloc(s->c, ncap * sizeof *nc);
        if (!nc) return Y_ERR_NOMEM;
        s->c = nc;
        s->cap = ncap;
    }
    if ((s->n + 1) * 2 > s->htcap) {
        int rc = rehash(s, s->htcap ? s->htcap * 2 : 16);
        if (rc) return rc;
    }
    c = &s->c[s->n];
    memset(c, 0, sizeof *c);
    c->client = client;
    size_t mask = s->htcap - 1;
    size_t h = hash_client(client) & mask;
    while (s->ht[h]) h = (h + 1) & mask;
    s->n++;
    s->ht[h] = (uint32_t)s->n;
    *out = c;
    return Y_OK;
}

uint64_t ystore_state(const ystore *s, uint64_t client) {
    const yclient *c = ystore_client(s, client);
    return c ? yclient_state(c) : 0;
}

size_t yclient_find(const yclient *c, uint64_t clock) {
    size_t n = c->n;
    if (n < 2) return 0;
    /* Most lookups (new items, a transaction's update, recent typing) are
     * for the newest struct: check it before searching. */
    if (yclient_clock_at(c, n - 1) <= clock) return n - 1;
    /* Then the struct of the last split or lookup by clock (c->hint, kept
     * by ytxn_clean_start/_end; checked, as the array moved since) and the
     * one after it: an update's items mostly refer to structs near the
     * ones the items before them referred to. */
    size_t h = c->hint;
    if (h + 1 < n && yclient_clock_at(c, h) <= clock) {
        if (clock < yclient_clock_at(c, h + 1)) return h;
        if (h + 2 < n && clock < yclient_clock_at(c, h + 2)) return h + 1;
    }
    /* Most others, while structs are being split and merged, are close to
     * the last split or merge, where the gap is: gallop from there to
     * bracket the answer in [lo, hi), with clock(hi) > clock (or lo = 0).
     * Without a gap (only appends since: loading an update), search it
     * all. */
    size_t p = c->g < n - 1 ? c->g : n - 2;
    size_t lo, hi, step = 1;
    if (!c->gl) {
        lo = 0;
        hi = n - 1;
    } else if (yclient_clock_at(c, p) <= clock) {
        lo = p;
        for (;;) {
            hi = lo + step;
            if (hi >= n - 1) {
                hi = n - 1;
                break;
            }
            if (yclient_clock_at(c, hi) > clock) break;
            lo = hi;
            step *= 2;
        }
    } else {
        hi = p;
        for (;;) {
            if (hi <= step) {
                lo = 0;
                break;
            }
            lo = hi - step;
            if (yclient_clock_at(c, lo) <= clock) break;
            hi = lo;
            step *= 2;
        }
    }
    /* The last struct of [lo, hi) starting at or before clock (lo if none
     * does), by a binary search without data-dependent branches: the
     * halving is fixed by the range, the comparison only picks the base (a
     * conditional move), so the search does not mispredict at every step. */
    size_t len = hi - lo;
    while (len > 1) {
        size_t half = len / 2;
        lo = yclient_clock_at(c, lo + half) <= clock ? lo + half : lo;
        len -= half;
    }
    return lo;
}

int yclient_reserve(yclient *c, size_t extra) {
    /* Besides `extra`, keep some room for a gap (see yclient_insert), but
     * only insist on `extra`. */
    size_t want = extra + c->n / 16;
    if (c->cap - c->n >= want) return Y_OK;
    size_t ncap = c->cap ? c->cap * 2 : 16;
    while (ncap - c->n < want) ncap *= 2;
    yslot *ns = yrealloc(c->s, ncap * sizeof *ns);
    if (!ns) return c->cap - c->n >= extra ? Y_OK : Y_ERR_NOMEM;
    c->s = ns;
    c->cap = ncap;
    return Y_OK;
}

/* Moves the gap to start at logical index p (free without a gap). */
static void gap_move(yclient *c, size_t p) {
    if (c->gl && p < c->g) memmove(&c->s[p + c->gl], &c->s[p], (c->g - p) * sizeof *c->s);
    else if (c->gl && p > c->g) memmove(&c->s[c->g], &c->s[c->g + c->gl], (p - c->g) * sizeof *c->s);
    c->g = p;
}

/* Inserts and removals at most this many slots from the end move those
 * slots rather than the gap (yclient_insert, yclient_remove). */
#define YTAIL_SHIFT 128

int yclient_insert(yclient *c, size_t at, yitem *it) {
    yslot sl = {it->id.clock, it};
    if (c->n == c->cap) {
        int rc = yclient_reserve(c, 1);
        if (rc) return rc;
    }
    if (at == c->n) {
        if (c->gl && c->g == c->n) {
            c->s[c->g++] = sl;
            c->gl--;
        } else {
            if (c->n + c->gl == c->cap) {
                /* no free slot after the last struct: close the gap */
                gap_move(c, c->n);
                c->gl = 0;
            }
            c->s[c->n + c->gl] = sl;
        }
        c->n++;
        return Y_OK;
    }
    if (c->gl && at > c->g + YTAIL_SHIFT && c->n - at <= YTAIL_SHIFT && c->n + c->gl < c->cap) {
        /* a few slots from the end, far from the gap: shift those few up
         * into a free slot and leave the gap by the older edits (a split
         * in the newest text and one in old text take turns; dragging the
         * gap between them moved everything in between each time) */
        size_t ph = at + c->gl;
        memmove(&c->s[ph + 1], &c->s[ph], (c->n - at) * sizeof *c->s);
        c->s[ph] = sl;
        c->n++;
        return Y_OK;
    }
    if (!c->gl) {
        /* open a gap at `at` with part of the free slots at the end */
        size_t k = 64 + c->n / 16, endfree = c->cap - c->n;
        if (k > endfree) k = endfree;
        memmove(&c->s[at + k], &c->s[at], (c->n - at) * sizeof *c->s);
        c->g = at;
        c->gl = k;
    } else {
        gap_move(c, at);
    }
    c->s[c->g++] = sl;
    c->gl--;
    c->n++;
    return Y_OK;
}

void yclient_remove(yclient *c, size_t from, size_t to) {
    if (from >= to) return;
    if (to == c->n && (!c->gl || c->g <= from)) {
        c->n = from; /* the tail: nothing to move */
    } else if (c->gl && from > c->g + YTAIL_SHIFT && c->n - to <= YTAIL_SHIFT) {
        /* a few slots from the end, far from the gap: shift them down */
        memmove(&c->s[from + c->gl], &c->s[to + c->gl], (c->n - to) * sizeof *c->s);
        c->n -= to - from;
    } else {
        gap_move(c, to);
        c->g = from;
        c->gl += to - from;
        c->n -= to - from;
    }
    if (c->g >= c->n) c->gl = 0; /* a gap at the end is just free slots */
}

int ystore_add(ystore *s, yitem *it) {
    yclient *c;
    int rc = ystore_client_add(s, it->id.client, &c);
    if (rc) return rc;
    return yclient_insert(c, c->n, it);
}

yitem *ystore_find(const ystore *s, yid id) {
    const yclient *c = ystore_client(s, id.client);
    if (!c || id.clock >= yclient_state(c)) return NULL;
    return yclient_at(c, yclient_find(c, id.clock));
}

/* ---- delete sets --------------------------------------------------------- */

void yds_init(yds *d) { memset(d, 0, sizeof *d); }

void yds_release(yds *d) {
    for (size_t i = 0; i < d->nalloc; i++) yfree(d->c[i].r);
    yfree(d->c);
    memset(d, 0, sizeof *d);
}

void yds_clear(yds *d) { d->n = 0; }

ydsclient *yds_client(const yds *d, uint64_t client) {
    for (size_t i = 0; i < d->n; i++)
        if (d->c[i].client == client) return &d->c[i];
    return NULL;
}

int yds_add(yds *d, uint64_t client, uint64_t clock, uint64_t len) {
    ydsclient *c = d->n && d->c[d->n - 1].client == client ? &d->c[d->n - 1] : yds_client(d, client);
    if (!c) {
        if (d->n == d->cap) {
            size_t ncap = d->cap ? d->cap * 2 : 4;
            ydsclient *nc = yrealloc(d->c, ncap * sizeof *nc);
            if (!nc) return Y_ERR_NOMEM;
            d->c = nc;
            d->cap = ncap;
        }
        c = &d->c[d->n++];
        if (d->n > d->nalloc) {
            memset(c, 0, sizeof *c);
            d->nalloc = d->n;
        }
        c->client = client;
        c->n = 0;
    }
    if (c->n && c->r[c->n - 1].clock + c->r[c->n - 1].len == clock) {
        c->r[c->n - 1].len += len; /* cheap coalescing of consecutive deletes */
        return Y_OK;
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4;
        yrange *nr = yrealloc(c->r, ncap * sizeof *nr);
        if (!nr) return Y_ERR_NOMEM;
        c->r = nr;
        c->cap = ncap;
    }
    c->r[c->n].clock = clock;
    c->r[c->n].len = len;
    c->n++;
    return Y_OK;
}

static int cmp_range(const void *a, const void *b) {
    const yrange *x = a, *y = b;
    return x->clock < y->clock ? -1 : x->clock > y->clock;
}

void yds_sort_merge(yds *d) {
    for (size_t k = 0; k < d->n; k++) {
        ydsclient *c = &d->c[k];
        if (c->n < 2) continue;
        /* a decoded delete set comes sorted (Yjs writes it so): check first */
        size_t s = 1;
        while (s < c->n && c->r[s - 1].clock <= c->r[s].clock) s++;
        if (s < c->n) qsort(c->r, c->n, sizeof *c->r, cmp_range);
        size_t j = 1;
        for (size_t i = 1; i < c->n; i++) {
            yrange *l = &c->r[j - 1];
            const yrange *r = &c->r[i];
            if (l->clock + l->len >= r->clock) {
                uint64_t end = r->clock + r->len;
                if (end > l->clock + l->len) l->len = end - l->clock;
            } else {
                c->r[j++] = *r;
            }
        }
        c->n = j;
    }
}

bool yds_contains(const yds *d, yid id) {
    const ydsclient *c = yds_client(d, id.client);
    if (!c) return false;
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const yrange *r = &c->r[mid];
        if (id.clock < r->clock) hi = mid;
        else if (id.clock >= r->clock + r->len) lo = mid + 1;
        else return true;
    }
    return false;
}

int yds_from_store(const ystore *s, yds *out) {
    yds_init(out);
    for (size_t i = 0; i < s->n; i++) {
        const yclient *c = &s->c[i];
        for (size_t j = 0; j < c->n; j++) {
            const yitem *it = yclient_at(c, j);
            if (!yitem_deleted(it)) continue;
            /* yds_add coalesces the following deleted structs */
            int rc = yds_add(out, c->client, it->id.clock, it->len);
            if (rc) {
                yds_release(out);
                return rc;
            }
        }
    }
    return Y_OK;
}
