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
 *    including its staleness, because Yjs's updateMarkerChanges reads that
 *    flag and the result decides origins.
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
    if (t->markers_on && !(t->markers = ycalloc(YMARKER_MAX, sizeof *t->markers))) {
        yfree(t);
        return NULL;
    }
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

static uint64_t absdiff(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

/* Points m at p, keeping the items' marker counts. */
static void marker_point(ymarker *m, yitem *p) {
    m->p->mcount--;
    p->mcount++;
    m->p = p;
}

static void overwrite_marker(struct ytype *t, ymarker *m, yitem *p, uint64_t index) {
    /* Yjs clears the flag of the old item even when another marker still
     * points at it, which leaves that marker's item unflagged; and the new
     * item must be live: otherwise markers_dirty's guarantee is gone. */
    if ((m->p != p && m->p->mcount > 1) || !yitem_live(p)) t->markers_dirty = true;
    m->p->flags &= (uint8_t)~YF_MARKER;
    marker_point(m, p);
    p->flags |= YF_MARKER;
    m->index = index;
    m->ts = t->mclock++;
}

static ymarker *mark_position(struct ytype *t, yitem *p, uint64_t index) {
    if (t->nmarkers >= YMARKER_MAX) {
        ymarker *old = &t->markers[0];
        for (size_t i = 1; i < t->nmarkers; i++)
            if (!(old->ts < t->markers[i].ts)) old = &t->markers[i];
        overwrite_marker(t, old, p, index);
        return old;
    }
    if (!yitem_live(p)) t->markers_dirty = true;
    ymarker *m = &t->markers[t->nmarkers++];
    p->flags |= YF_MARKER;
    p->mcount++;
    m->p = p;
    m->index = index;
    m->ts = t->mclock++;
    return m;
}

/* Yjs's searchMarker.reduce((a, b) => |index - a.index| < |index - b.index| ?
 * a : b): the last of the closest markers, or NULL when there is none.
 * That reduce keeps the last marker at the least distance, so the markers
 * are scanned in four interleaved lanes, each keeping its own last closest
 * (four short dependency chains of conditional moves instead of one long
 * one), and the lanes are combined: least distance, then the later marker. */
static ymarker *closest_marker(struct ytype *t, uint64_t index) {
    size_t n = t->nmarkers;
    if (!n) return NULL;
    const ymarker *mk = t->markers;
    uint64_t d0 = UINT64_MAX, d1 = UINT64_MAX, d2 = UINT64_MAX, d3 = UINT64_MAX;
    size_t i0 = 0, i1 = 0, i2 = 0, i3 = 0, i = 0;
#define LANE(d, b, k)                                      \
    do {                                                   \
        uint64_t x_ = absdiff(index, mk[k].index);         \
        bool take_ = x_ <= d;                              \
        d = take_ ? x_ : d;                                \
        b = take_ ? (k) : b;                               \
    } while (0)
    for (; i + 4 <= n; i += 4) {
        LANE(d0, i0, i);
        LANE(d1, i1, i + 1);
        LANE(d2, i2, i + 2);
        LANE(d3, i3, i + 3);
    }
    if (i < n) LANE(d0, i0, i);
    if (i + 1 < n) LANE(d1, i1, i + 1);
    if (i + 2 < n) LANE(d2, i2, i + 2);
#undef LANE
    size_t best = i0;
    uint64_t bestd = d0;
    if (d1 < bestd || (d1 == bestd && i1 > best)) bestd = d1, best = i1;
    if (d2 < bestd || (d2 == bestd && i2 > best)) bestd = d2, best = i2;
    if (d3 < bestd || (d3 == bestd && i3 > best)) bestd = d3, best = i3;
    return &t->markers[best];
}

ymarker *ymarker_find(struct ytype *t, uint64_t index) {
    if (!t->start || index == 0 || !t->markers_on) return NULL;
    ymarker *m = closest_marker(t, index);
    yitem *p = t->start;
    uint64_t pindex = 0;
    if (m) {
        p = m->p;
        pindex = m->index;
        m->ts = t->mclock++;
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
    if (m && (double)absdiff(m->index, pindex) < (double)t->length / YMARKER_MAX) {
        overwrite_marker(t, m, p, pindex);
        return m;
    }
    return mark_position(t, p, pindex);
}

void ymarker_update(struct ytype *t, uint64_t index, int64_t len) {
    if (!t->markers_on) return;
    if (len > 0 && !t->markers_dirty) {
        /* Every marker's item is live and flagged: Yjs's walk below would
         * leave every marker and flag as it is (markers sharing an item
         * included: each clears the flag, finds it clear and sets it
         * again); only the indexes move. */
        for (size_t k = 0; k < t->nmarkers; k++) /* branch-free: taken about half the time */
            t->markers[k].index += (uint64_t)len & (0 - (uint64_t)(index <= t->markers[k].index));
        return;
    }
    for (size_t k = t->nmarkers; k-- > 0;) {
        ymarker *m = &t->markers[k];
        if (len > 0) {
            yitem *p = m->p;
            p->flags &= (uint8_t)~YF_MARKER;
            while (p && (yitem_deleted(p) || !yitem_countable(p))) {
                p = p->left;
                if (p && yitem_live(p)) m->index -= p->len;
            }
            if (!p || (p->flags & YF_MARKER)) {
                m->p->mcount--;
                memmove(&t->markers[k], &t->markers[k + 1], (t->nmarkers - k - 1) * sizeof *m);
                t->nmarkers--;
                continue;
            }
            marker_point(m, p);
            p->flags |= YF_MARKER;
        }
        if (index < m->index || (len > 0 && index == m->index)) {
            int64_t moved = (int64_t)m->index + len;
            m->index = moved > (int64_t)index ? (uint64_t)moved : index;
        }
    }
    /* After the walk every remaining marker's item is live and flagged (a
     * later marker that clears the flag of an earlier one's item points at
     * that same live item, so it sets the flag again). */
    if (len > 0) t->markers_dirty = false;
}

void ymarker_on_merge(yitem *left, yitem *right) {
    struct ytype *t = left->parent;
    if (!t || !right->mcount) return;
    for (size_t i = 0; i < t->nmarkers; i++) {
        ymarker *m = &t->markers[i];
        if (m->p == right) {
            marker_point(m, left); /* without YF_MARKER, as in Yjs */
            if (yitem_live(left)) m->index -= left->len;
        }
    }
    t->markers_dirty = true;
}

void ymarker_clear(struct ytype *t) {
    for (size_t i = 0; i < t->nmarkers; i++) t->markers[i].p->mcount--;
    t->nmarkers = 0;
}

void ymarker_on_delete(struct ytype *t, const yitem *it) {
    if (it->mcount) t->markers_dirty = true;
}
