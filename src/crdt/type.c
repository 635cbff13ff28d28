/*
 * type.c - shared type objects: creation, the key table of map entries, and
 * the search markers that emulate Yjs's ArraySearchMarker.
 *
 * Invariants
 *  - map is an open-addressing table (linear probing, power-of-two capacity,
 *    at most half full); entries are never removed while the type lives, so
 *    an item's psub may point at the entry's key.
 *  - markers[0..nmarkers) follow Yjs: at most YMARKER_MAX, each with a
 *    timestamp; an item's YF_MARKER bit mirrors Yjs's item.marker flag
 *    including its staleness, as Yjs's updateMarkerChanges reads it.
 *  - Every marker's index is the exact index of its item (the number of
 *    live units before it): local edits move the indexes as Yjs does, and
 *    remote changes clear the markers before any local edit can use them
 *    (txn.c). So the search for an index ends at the same item whichever
 *    marker it starts from: the choice changes only the time it takes, not
 *    the positions, origins or bytes. ymarker_find therefore takes the
 *    marker it returned last when the index falls inside that marker's item
 *    (typing), and otherwise Yjs's choice, the closest marker.
 *  - Timestamps come from a counter per type (t->mclock): Yjs uses one
 *    global counter, but only compares the timestamps of one type's
 *    markers, whose order a per-type counter keeps.
 *  - An item's mcount is the number of markers pointing at it.
 */
#include <string.h>

#include "doc_int.h"

struct ytype *ytype_new(ydoc *doc, uint8_t kind, bool known) {
    struct ytype *t = ycalloc(1, sizeof *t);
    if (!t) return NULL;
    t->doc = doc;
    t->kind = kind;
    t->kind_known = known;
    t->markers_on = kind == YTYPE_TEXT || kind == YTYPE_ARRAY || kind == YTYPE_XML_TEXT;
    return t;
}

char *ykey_new(const char *s, size_t n) {
    if (n > SIZE_MAX - sizeof(size_t) - 1) return NULL;
    char *b = ymalloc(sizeof(size_t) + n + 1);
    if (!b) return NULL;
    memcpy(b, &n, sizeof n);
    if (n) memcpy(b + sizeof n, s, n);
    b[sizeof n + n] = '\0';
    return b + sizeof n;
}

void ykey_free(char *k) {
    if (k) yfree(k - sizeof(size_t));
}

size_t ykey_len(const char *k) {
    size_t n;
    memcpy(&n, k - sizeof n, sizeof n);
    return n;
}

void ytype_free(struct ytype *t) {
    if (!t) return;
    for (size_t i = 0; i < t->map_cap; i++) ykey_free(t->map[i].key);
    yfree(t->map);
    yfree(t->markers);
    yfree(t->name);
    yfree(t);
}

static size_t hash_str(const char *s, size_t n) {
    size_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

ymapent *ytype_map_find(const struct ytype *t, const char *key, size_t len) {
    if (!t->map_cap) return NULL;
    size_t mask = t->map_cap - 1;
    for (size_t h = hash_str(key, len) & mask;; h = (h + 1) & mask) {
        ymapent *e = &t->map[h];
        if (!e->key) return NULL;
        if (ykey_len(e->key) == len && memcmp(e->key, key, len) == 0) return e;
    }
}

static int map_grow(struct ytype *t) {
    size_t ncap = t->map_cap ? t->map_cap * 2 : 8;
    ymapent *nm = ycalloc(ncap, sizeof *nm);
    if (!nm) return Y_ERR_NOMEM;
    for (size_t i = 0; i < t->map_cap; i++) {
        ymapent *e = &t->map[i];
        if (!e->key) continue;
        size_t h = hash_str(e->key, ykey_len(e->key)) & (ncap - 1);
        while (nm[h].key) h = (h + 1) & (ncap - 1);
        nm[h] = *e;
    }
    yfree(t->map);
    t->map = nm;
    t->map_cap = ncap;
    return Y_OK;
}

int ytype_map_intern(struct ytype *t, const char *key, size_t len, ymapent **out) {
    ymapent *e = ytype_map_find(t, key, len);
    if (e) {
        *out = e;
        return Y_OK;
    }
    if ((t->map_n + 1) * 2 > t->map_cap) {
        int rc = map_grow(t);
        if (rc) return rc;
    }
    char *k = ykey_new(key, len);
    if (!k) return Y_ERR_NOMEM;
    size_t mask = t->map_cap - 1;
    size_t h = hash_str(key, len) & mask;
    while (t->map[h].key) h = (h + 1) & mask;
    t->map[h].key = k;
    t->map[h].item = NULL;
    t->map_n++;
    *out = &t->map[h];
    return Y_OK;
}

/* ---- search markers ------------------------------------------------------ */

uint64_t ymarker_narrow_max = (uint64_t)1 << 29;

static uint64_t absdiff(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

/* What a narrow index slot without a marker holds: farther from every
 * index than any marker (distances stay below 2^31), and below every index,
 * so that the scans need not tell used slots from unused ones. */
#define YMARKER_NONE (-(INT32_C(1) << 30))

ymarkers *ymarkers_new(void) {
    ymarkers *mk = ycalloc(1, sizeof *mk);
    if (!mk) return NULL;
    for (size_t k = 0; k < YMARKER_MAX; k++) mk->i32[k] = YMARKER_NONE;
    return mk;
}

static uint64_t mk_index(const ymarkers *mk, size_t k) {
    return mk->wide ? mk->i64[k] : (uint64_t)mk->i32[k];
}

static void mk_set_index(ymarkers *mk, size_t k, uint64_t v) {
    if (mk->wide) mk->i64[k] = v;
    else mk->i32[k] = (int32_t)v;
}

/* Switches t's markers to the wide form when an index up to `most` could
 * not be held narrow (for good: a type's length rarely shrinks back). */
static void mk_fit(struct ytype *t, uint64_t most) {
    ymarkers *mk = t->markers;
    if (mk->wide || most <= ymarker_narrow_max) return;
    for (size_t k = 0; k < t->nmarkers; k++) mk->i64[k] = (uint64_t)mk->i32[k];
    mk->wide = true;
}

/* Points marker k at p, keeping the items' marker counts. */
static void marker_point(ymarkers *mk, size_t k, yitem *p) {
    mk->p[k]->mcount--;
    p->mcount++;
    mk->p[k] = p;
}

static void overwrite_marker(struct ytype *t, size_t k, yitem *p, uint64_t index) {
    ymarkers *mk = t->markers;
    yitem *old = mk->p[k];
    /* Yjs clears the flag of the old item even when another marker still
     * points at it, which leaves that marker's item unflagged; and the new
     * item must be live: otherwise markers_dirty's guarantee is gone. */
    if ((old != p && old->mcount > 1) || !yitem_live(p)) t->markers_dirty = true;
    old->flags &= (uint8_t)~YF_MARKER;
    marker_point(mk, k, p);
    p->flags |= YF_MARKER;
    mk_set_index(mk, k, index);
    mk->ts[k] = t->mclock++;
}

static size_t mark_position(struct ytype *t, yitem *p, uint64_t index) {
    ymarkers *mk = t->markers;
    if (t->nmarkers >= YMARKER_MAX) {
        size_t old = 0;
        for (size_t i = 1; i < t->nmarkers; i++)
            if (!(mk->ts[old] < mk->ts[i])) old = i;
        overwrite_marker(t, old, p, index);
        return old;
    }
    if (!yitem_live(p)) t->markers_dirty = true;
    size_t k = t->nmarkers++;
    p->flags |= YF_MARKER;
    p->mcount++;
    mk->p[k] = p;
    mk_set_index(mk, k, index);
    mk->ts[k] = t->mclock++;
    return k;
}

/* Eight 32-bit lanes (GCC and Clang vector extensions: two SSE2 registers
 * on x86-64, one AVX2 register where the CPU has it (YMK_CLONES), NEON on
 * arm64, plain code elsewhere); comparisons give 0 or -1 per lane. The
 * operations are macros: passing 32-byte vectors by value would depend on
 * the CPU's ABI. */
typedef int32_t v8i __attribute__((vector_size(32)));
#define V8_SET1(x) ((v8i){(x), (x), (x), (x), (x), (x), (x), (x)})
#define V8_PICK(mask, yes, no) (((mask) & (yes)) | (~(mask) & (no))) /* yes where mask is -1 */

/* The two narrow scans are compiled twice on x86-64, for AVX2 and for the
 * baseline, and the CPU picks when the program loads (ifunc);
 * -DYMK_NO_CLONES builds the baseline only (to test it on an AVX2 CPU). */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(YMK_NO_CLONES)
#if __has_attribute(target_clones)
#define YMK_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef YMK_CLONES
#define YMK_CLONES
#endif

/* One step of the closest-marker scan over slots k..k+7 into a lane
 * accumulator (best distance, its slot): a slot at a distance no greater
 * than the best replaces it, so each lane keeps its last closest. */
#define CLOSEST_STEP(bd, bi, k)                                   \
    do {                                                          \
        v8i x_;                                                   \
        memcpy(&x_, &i32[k], sizeof x_);                          \
        v8i diff_ = x_ - vidx;                                    \
        v8i sign_ = diff_ >> 31;                                  \
        v8i d_ = (diff_ ^ sign_) - sign_;                         \
        v8i farther_ = d_ > bd;                                   \
        bd = V8_PICK(farther_, bd, d_);                           \
        bi = V8_PICK(farther_, bi, lane + V8_SET1((int32_t)(k))); \
    } while (0)

/* The closest-marker scan over narrow slots [0, n8), n8 a multiple of 8
 * (unused slots hold YMARKER_NONE, which never wins): two accumulators
 * (slots k mod 16) keep the dependency chains short; they are combined
 * at the end, lane by lane then across lanes: least distance, then the
 * later slot. */
YMK_CLONES static size_t closest_narrow(const int32_t *i32, size_t n8, int32_t index) {
    v8i vidx = V8_SET1(index), lane = {0, 1, 2, 3, 4, 5, 6, 7};
    v8i bd0 = V8_SET1(INT32_MAX), bi0 = V8_SET1(0), bd1 = bd0, bi1 = bi0;
    size_t k = 0;
    for (; k + 16 <= n8; k += 16) {
        CLOSEST_STEP(bd0, bi0, k);
        CLOSEST_STEP(bd1, bi1, k + 8);
    }
    if (k < n8) CLOSEST_STEP(bd0, bi0, k);
    v8i better = (bd1 < bd0) | ((bd1 == bd0) & (bi1 > bi0));
    bd0 = V8_PICK(better, bd1, bd0);
    bi0 = V8_PICK(better, bi1, bi0);
    int32_t bd[8], bi[8];
    memcpy(bd, &bd0, sizeof bd0);
    memcpy(bi, &bi0, sizeof bi0);
    size_t best = 0;
    for (size_t j = 1; j < 8; j++)
        if (bd[j] < bd[best] || (bd[j] == bd[best] && bi[j] > bi[best])) best = j;
    return (size_t)bi[best];
}
#undef CLOSEST_STEP

/* The index part of updateMarkerChanges over narrow slots [0, n8): those
 * above thr move by len, to at least index (for an insert thr = index - 1
 * and the floor never applies; for a delete thr = index). Unused slots,
 * below every index, stay. */
YMK_CLONES static void shift_narrow(int32_t *i32, size_t n8, int32_t thr, int32_t index, int32_t len) {
    v8i vthr = V8_SET1(thr), vidx = V8_SET1(index), vlen = V8_SET1(len);
    for (size_t k = 0; k < n8; k += 8) {
        v8i x;
        memcpy(&x, &i32[k], sizeof x);
        v8i y = x + vlen;
        y = V8_PICK(y > vidx, y, vidx);
        x = V8_PICK(x > vthr, y, x);
        memcpy(&i32[k], &x, sizeof x);
    }
}

/* Yjs's searchMarker.reduce((a, b) => |index - a.index| < |index - b.index| ?
 * a : b): the last of the closest markers, or -1 when there is none. The
 * reduce keeps the last marker at the least distance; the scans keep each
 * lane's last closest and combine them the same way. */
static int closest_marker(struct ytype *t, uint64_t index) {
    size_t n = t->nmarkers;
    if (!n) return -1;
    const ymarkers *mk = t->markers;
    /* narrow: every index <= ymarker_narrow_max <= 2^29, differences fit */
    if (!mk->wide) return (int)closest_narrow(mk->i32, (n + 7) & ~(size_t)7, (int32_t)index);
    size_t best = 0;
    uint64_t bestd = UINT64_MAX;
    for (size_t k = 0; k < n; k++) {
        uint64_t d = absdiff(index, mk->i64[k]);
        if (d <= bestd) {
            bestd = d;
            best = k;
        }
    }
    return (int)best;
}

bool ymarker_find(struct ytype *t, uint64_t index, yitem **out, uint64_t *out_index) {
    if (!t->start || index == 0 || !t->markers_on) return false;
    /* The arrays are made on the first search (Yjs's marker array is small
     * while empty; ours is not): a document's types that are only loaded,
     * read whole or edited at index 0 never need them. Without memory the
     * search starts from the first item, which finds the same item. */
    if (!t->markers && !(t->markers = ymarkers_new())) return false;
    ymarkers *mk = t->markers;
    mk_fit(t, t->length > index ? t->length : index);
    int m = -1;
    if (t->mlast < t->nmarkers) {
        const yitem *q = mk->p[t->mlast];
        uint64_t qi = mk_index(mk, t->mlast);
        if (index >= qi && index - qi <= (yitem_live(q) ? q->len : 0)) m = (int)t->mlast;
    }
    if (m < 0) m = closest_marker(t, index);
    yitem *p = t->start;
    uint64_t pindex = 0;
    if (m >= 0) {
        p = mk->p[m];
        pindex = mk_index(mk, (size_t)m);
        mk->ts[m] = t->mclock++;
    }
    while (p->right && pindex < index) {
        if (yitem_live(p)) {
            if (index < pindex + p->len) break;
            pindex += p->len;
        }
        p = p->right;
    }
    while (p->left && pindex > index) {
        p = p->left;
        if (yitem_live(p)) pindex -= p->len;
    }
    while (p->left && p->left->id.client == p->id.client &&
           p->left->id.clock + p->left->len == p->id.clock) {
        p = p->left;
        if (yitem_live(p)) pindex -= p->len;
    }
    size_t k;
    if (m >= 0 && (double)absdiff(mk_index(mk, (size_t)m), pindex) < (double)t->length / YMARKER_MAX) {
        k = (size_t)m;
        overwrite_marker(t, k, p, pindex);
    } else {
        k = mark_position(t, p, pindex);
    }
    t->mlast = k;
    *out = mk->p[k];
    *out_index = mk_index(mk, k);
    return true;
}

bool ymarker_at(const struct ytype *t, uint64_t index, yitem **left, yitem **right) {
    if (!t->markers_on || t->mlast >= t->nmarkers) return false;
    yitem *q = t->markers->p[t->mlast];
    uint64_t qi = mk_index(t->markers, t->mlast);
    if (qi == index) {
        *left = q->left;
        *right = q;
        return true;
    }
    if (yitem_live(q) && qi + q->len == index) {
        *left = q;
        *right = q->right;
        return true;
    }
    return false;
}

/* The index part of updateMarkerChanges for every marker: Yjs's
 * `if (index < m.index || (len > 0 && index === m.index)) m.index =
 * max(index, m.index + len)`, four lanes at a time while narrow. */
static void shift_indexes(struct ytype *t, uint64_t index, int64_t len) {
    ymarkers *mk = t->markers;
    size_t n = t->nmarkers;
    if (!mk->wide) {
        shift_narrow(mk->i32, (n + 7) & ~(size_t)7, len > 0 ? (int32_t)index - 1 : (int32_t)index, (int32_t)index,
                     (int32_t)len);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        uint64_t x = mk->i64[k];
        if (index < x || (len > 0 && index == x)) {
            int64_t moved = (int64_t)x + len;
            mk->i64[k] = moved > (int64_t)index ? (uint64_t)moved : index;
        }
    }
}

void ymarker_update(struct ytype *t, uint64_t index, int64_t len) {
    if (!t->markers_on || !t->nmarkers) return; /* no marker to move (maybe no arrays) */
    ymarkers *mk = t->markers;
    uint64_t most = t->length + (len > 0 ? (uint64_t)len : (uint64_t)-len);
    mk_fit(t, most > index ? most : index);
    if (len <= 0 || !t->markers_dirty) {
        /* Deletes: Yjs only moves indexes. Inserts while every marker's
         * item is live and flagged: Yjs's walk below would leave every
         * marker and flag as it is (markers sharing an item included: each
         * clears the flag, finds it clear and sets it again). */
        shift_indexes(t, index, len);
        return;
    }
    for (size_t k = t->nmarkers; k-- > 0;) {
        yitem *p = mk->p[k];
        uint64_t x = mk_index(mk, k);
        p->flags &= (uint8_t)~YF_MARKER;
        while (p && (yitem_deleted(p) || !yitem_countable(p))) {
            p = p->left;
            if (p && yitem_live(p)) x -= p->len;
        }
        if (!p || (p->flags & YF_MARKER)) {
            mk->p[k]->mcount--;
            size_t rest = t->nmarkers - k - 1;
            memmove(&mk->i32[k], &mk->i32[k + 1], rest * sizeof mk->i32[0]);
            memmove(&mk->i64[k], &mk->i64[k + 1], rest * sizeof mk->i64[0]);
            memmove(&mk->ts[k], &mk->ts[k + 1], rest * sizeof mk->ts[0]);
            memmove(&mk->p[k], &mk->p[k + 1], rest * sizeof mk->p[0]);
            t->nmarkers--;
            mk->i32[t->nmarkers] = YMARKER_NONE;
            continue;
        }
        marker_point(mk, k, p);
        p->flags |= YF_MARKER;
        if (index <= x) x += (uint64_t)len;
        mk_set_index(mk, k, x);
    }
    /* After the walk every remaining marker's item is live and flagged (a
     * later marker that clears the flag of an earlier one's item points at
     * that same live item, so it sets the flag again). */
    t->markers_dirty = false;
}

void ymarker_on_merge(yitem *left, yitem *right) {
    struct ytype *t = left->parent;
    if (!t || !right->mcount) return;
    ymarkers *mk = t->markers;
    for (size_t k = 0; k < t->nmarkers; k++) {
        if (mk->p[k] == right) {
            marker_point(mk, k, left); /* without YF_MARKER, as in Yjs */
            if (yitem_live(left)) mk_set_index(mk, k, mk_index(mk, k) - left->len);
        }
    }
    t->markers_dirty = true;
}

void ymarker_clear(struct ytype *t) {
    for (size_t k = 0; k < t->nmarkers; k++) {
        t->markers->p[k]->mcount--;
        t->markers->i32[k] = YMARKER_NONE;
    }
    t->nmarkers = 0;
}

void ymarker_on_delete(struct ytype *t, const yitem *it) {
    if (it->mcount) t->markers_dirty = true;
}
