/*
 * ysnap.c - snapshot deltas and unions (see ysnap.h).
 *
 * A snapshot is decoded into two sorted arrays: delete ranges (client,
 * clock, len), sorted by client then clock and merged so that ranges of one
 * client never touch or overlap; and state vector entries (client, clock)
 * sorted by client with one entry per client. Both operations work on that
 * form and encode it back.
 */
#include "util/ysnap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t client, clock, len;
} drange;

typedef struct {
    uint64_t client, clock;
} sventry;

typedef struct {
    drange *ds;
    size_t nds, capds;
    sventry *sv;
    size_t nsv, capsv;
} snap;

static void snap_release(snap *s) {
    free(s->ds);
    free(s->sv);
    memset(s, 0, sizeof(*s));
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} reader;

static int read_varuint(reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->len) return YSNAP_ERR_MALFORMED;
        uint8_t b = r->p[r->pos++];
        if (shift == 63 && (b & 0x7e) != 0) return YSNAP_ERR_MALFORMED;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return YSNAP_OK;
        }
    }
    return YSNAP_ERR_MALFORMED;
}

static int push_range(snap *s, uint64_t client, uint64_t clock, uint64_t len) {
    if (s->nds == s->capds) {
        size_t cap = s->capds ? s->capds * 2 : 16;
        drange *d = realloc(s->ds, cap * sizeof(*d));
        if (d == NULL) return YSNAP_ERR_NOMEM;
        s->ds = d;
        s->capds = cap;
    }
    s->ds[s->nds++] = (drange){client, clock, len};
    return YSNAP_OK;
}

static int push_sv(snap *s, uint64_t client, uint64_t clock) {
    if (s->nsv == s->capsv) {
        size_t cap = s->capsv ? s->capsv * 2 : 8;
        sventry *e = realloc(s->sv, cap * sizeof(*e));
        if (e == NULL) return YSNAP_ERR_NOMEM;
        s->sv = e;
        s->capsv = cap;
    }
    s->sv[s->nsv++] = (sventry){client, clock};
    return YSNAP_OK;
}

static int cmp_range(const void *a, const void *b) {
    const drange *x = a, *y = b;
    if (x->client != y->client) return x->client < y->client ? -1 : 1;
    if (x->clock != y->clock) return x->clock < y->clock ? -1 : 1;
    return 0;
}

static int cmp_sv(const void *a, const void *b) {
    const sventry *x = a, *y = b;
    if (x->client != y->client) return x->client < y->client ? -1 : 1;
    return x->clock < y->clock ? 1 : x->clock > y->clock ? -1 : 0; /* largest first */
}

/* Sorts and merges: ranges of a client that touch or overlap become one,
 * and each client keeps its largest clock. */
static void normalise(snap *s) {
    if (s->nds > 1) qsort(s->ds, s->nds, sizeof(*s->ds), cmp_range);
    size_t k = 0;
    for (size_t i = 0; i < s->nds; i++) {
        drange r = s->ds[i];
        if (r.len == 0) continue;
        if (k > 0 && s->ds[k - 1].client == r.client &&
            s->ds[k - 1].clock + s->ds[k - 1].len >= r.clock) {
            uint64_t end = r.clock + r.len;
            if (end > s->ds[k - 1].clock + s->ds[k - 1].len)
                s->ds[k - 1].len = end - s->ds[k - 1].clock;
            continue;
        }
        s->ds[k++] = r;
    }
    s->nds = k;
    if (s->nsv > 1) qsort(s->sv, s->nsv, sizeof(*s->sv), cmp_sv);
    k = 0;
    for (size_t i = 0; i < s->nsv; i++)
        if (k == 0 || s->sv[k - 1].client != s->sv[i].client) s->sv[k++] = s->sv[i];
    s->nsv = k;
}

/* Appends what the bytes hold to *s (not normalised). */
static int decode(const uint8_t *p, size_t len, snap *s) {
    reader r = {p, len, 0};
    uint64_t nclients, n;
    int rc = read_varuint(&r, &nclients);
    if (rc) return rc;
    if (nclients > (len - r.pos) / 2) return YSNAP_ERR_MALFORMED; /* >= 2 bytes each */
    for (uint64_t c = 0; c < nclients; c++) {
        uint64_t client, nranges;
        if ((rc = read_varuint(&r, &client)) || (rc = read_varuint(&r, &nranges))) return rc;
        if (nranges > (len - r.pos) / 2) return YSNAP_ERR_MALFORMED;
        for (uint64_t i = 0; i < nranges; i++) {
            uint64_t clock, dlen;
            if ((rc = read_varuint(&r, &clock)) || (rc = read_varuint(&r, &dlen))) return rc;
            if (clock > UINT64_MAX / 2 || dlen > UINT64_MAX / 2) return YSNAP_ERR_MALFORMED;
            if ((rc = push_range(s, client, clock, dlen))) return rc;
        }
    }
    if ((rc = read_varuint(&r, &n))) return rc;
    if (n > (len - r.pos) / 2) return YSNAP_ERR_MALFORMED;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t client, clock;
        if ((rc = read_varuint(&r, &client)) || (rc = read_varuint(&r, &clock))) return rc;
        if ((rc = push_sv(s, client, clock))) return rc;
    }
    return r.pos == len ? YSNAP_OK : YSNAP_ERR_MALFORMED;
}

/* ---- writing ---------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} writer;

static void put_varuint(writer *w, uint64_t v) {
    if (w->failed) return;
    if (w->cap - w->len < 10) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        uint8_t *p = realloc(w->p, cap);
        if (p == NULL) {
            w->failed = true;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    while (v >= 0x80) {
        w->p[w->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w->p[w->len++] = (uint8_t)v;
}

/* Encodes a normalised snapshot, clients in descending order as Yjs does. */
static int encode(const snap *s, uint8_t **out, size_t *out_len) {
    writer w = {0};
    size_t nclients = 0;
    for (size_t i = 0; i < s->nds; i++)
        if (i == 0 || s->ds[i].client != s->ds[i - 1].client) nclients++;
    put_varuint(&w, nclients);
    size_t end = s->nds;
    while (end > 0) { /* the last client's run, then the one before... */
        size_t start = end - 1;
        while (start > 0 && s->ds[start - 1].client == s->ds[end - 1].client) start--;
        put_varuint(&w, s->ds[start].client);
        put_varuint(&w, end - start);
        for (size_t i = start; i < end; i++) {
            put_varuint(&w, s->ds[i].clock);
            put_varuint(&w, s->ds[i].len);
        }
        end = start;
    }
    put_varuint(&w, s->nsv);
    for (size_t i = s->nsv; i-- > 0;) {
        put_varuint(&w, s->sv[i].client);
        put_varuint(&w, s->sv[i].clock);
    }
    if (w.failed) {
        free(w.p);
        return YSNAP_ERR_NOMEM;
    }
    *out = w.p;
    *out_len = w.len;
    return YSNAP_OK;
}

/* ---- operations ------------------------------------------------------------- */

int ysnap_diff(const uint8_t *prev, size_t prev_len, const uint8_t *cur, size_t cur_len,
               uint8_t **out, size_t *out_len) {
    if (cur == NULL || out == NULL || out_len == NULL || (prev == NULL && prev_len != 0))
        return YSNAP_ERR_MALFORMED;
    snap a = {0}, b = {0}, d = {0};
    int rc = prev != NULL ? decode(prev, prev_len, &a) : YSNAP_OK;
    if (rc == YSNAP_OK) rc = decode(cur, cur_len, &b);
    if (rc != YSNAP_OK) goto out;
    normalise(&a);
    normalise(&b);
    /* Delete ranges: b minus a, client by client (both sorted). */
    size_t j = 0;
    for (size_t i = 0; i < b.nds && rc == YSNAP_OK; i++) {
        uint64_t client = b.ds[i].client, lo = b.ds[i].clock, hi = lo + b.ds[i].len;
        while (j < a.nds && (a.ds[j].client < client ||
                             (a.ds[j].client == client && a.ds[j].clock + a.ds[j].len <= lo)))
            j++;
        for (size_t k = j; k < a.nds && a.ds[k].client == client && lo < hi; k++) {
            uint64_t alo = a.ds[k].clock, ahi = alo + a.ds[k].len;
            if (alo >= hi) break;
            if (alo > lo) rc = push_range(&d, client, lo, alo - lo);
            if (ahi > lo) lo = ahi;
            if (rc != YSNAP_OK) break;
        }
        if (rc == YSNAP_OK && lo < hi) rc = push_range(&d, client, lo, hi - lo);
    }
    /* State vector entries that advanced. */
    j = 0;
    for (size_t i = 0; i < b.nsv && rc == YSNAP_OK; i++) {
        while (j < a.nsv && a.sv[j].client < b.sv[i].client) j++;
        bool known = j < a.nsv && a.sv[j].client == b.sv[i].client;
        if (!known || a.sv[j].clock < b.sv[i].clock)
            rc = push_sv(&d, b.sv[i].client, b.sv[i].clock);
    }
    if (rc == YSNAP_OK) {
        normalise(&d);
        rc = encode(&d, out, out_len);
    }
out:
    snap_release(&a);
    snap_release(&b);
    snap_release(&d);
    return rc;
}

int ysnap_union(const uint8_t *const *snaps, const size_t *lens, size_t n, uint8_t **out,
                size_t *out_len) {
    if (snaps == NULL || lens == NULL || n == 0 || out == NULL || out_len == NULL)
        return YSNAP_ERR_MALFORMED;
    snap u = {0};
    int rc = YSNAP_OK;
    for (size_t i = 0; i < n && rc == YSNAP_OK; i++)
        rc = snaps[i] != NULL ? decode(snaps[i], lens[i], &u) : YSNAP_ERR_MALFORMED;
    if (rc == YSNAP_OK) {
        normalise(&u);
        rc = encode(&u, out, out_len);
    }
    snap_release(&u);
    return rc;
}
