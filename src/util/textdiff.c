/*
 * textdiff.c - character diff of two UTF-8 texts into CRDT ops (see textdiff.h).
 *
 * Pipeline of textdiff_compute():
 *  1. validate both texts as UTF-8;
 *  2. trim the common prefix and suffix byte-wise, backed off to a code point
 *     boundary (an edit at one place costs only these two scans);
 *  3. decode the differing middles into code point arrays A and B;
 *  4. mark which code points of A are deleted and which of B are inserted:
 *     Myers' linear-space divide and conquer (find the middle of an optimal
 *     path with a forward and a backward search, split there, repeat on both
 *     halves), with an explicit stack and a global work budget;
 *  5. walk both mark arrays in step and emit one op per run of marks.
 *
 * Bounding the work. Every diagonal visited and every character compared in
 * a search costs one unit of a global budget. Once it is spent, the search
 * under way stops and every rectangle not yet split becomes one replace
 * (delete all of its A range, insert all of its B range): still exact, not
 * minimal. Total time is the budget plus linear work (decoding, trimming,
 * marking); memory does not depend on the budget. (Splitting at the furthest
 * frontier point instead, as GNU diff does, was tried: for texts past the
 * budget it saved a fifth of the edit size at best, and cost minimality for
 * texts just inside it.)
 *
 * Invariants
 *  - After step 4 the unmarked code points of A and of B are equally many and
 *    pairwise equal, in order: they are the kept characters.
 *  - Each sub-problem on the stack is a rectangle [x0,x1) x [y0,y1) in which
 *    nothing is marked yet; rectangles on the stack never overlap, and every
 *    split point lies strictly inside its rectangle, so the loop terminates.
 *  - The forward and backward frontiers only ever hold points inside the
 *    current rectangle, or the value NONE_F / NONE_B ("no point").
 *  - Indexes are ptrdiff_t; inputs too large for them are refused up front.
 */
#include "util/textdiff.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Each text may be at most this many bytes: keeps every index, every
 * diagonal and every allocation size far from overflow. */
#define TEXT_MAX ((size_t)PTRDIFF_MAX / 64)

#define NONE_F ((ptrdiff_t)-1) /* forward frontier: no point on this diagonal */
#define NONE_B PTRDIFF_MAX     /* backward frontier: no point on this diagonal */

/* ---- UTF-8 ------------------------------------------------------------- */

/* Checks that s[0..len) is valid UTF-8; stores the number of code points in
 * *ncp (may be NULL) and the number of UTF-16 units in *units (may be NULL). */
static bool utf8_scan(const unsigned char *s, size_t len, size_t *ncp, size_t *units) {
    size_t i = 0, n = 0, u = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = utf8_decode(s, len, i, &cp);
        if (k == 0) return false;
        i += k;
        n++;
        u += cp >= 0x10000 ? 2 : 1;
    }
    if (ncp) *ncp = n;
    if (units) *units = u;
    return true;
}

static size_t cp_units(uint32_t cp) { return cp >= 0x10000 ? 2 : 1; }

static size_t cp_bytes(uint32_t cp) {
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Length of the sequence that starts with lead byte c of valid UTF-8. */
static size_t lead_bytes(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

static bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Decodes valid UTF-8 s[0..len) holding n code points into a new array
 * (caller frees; NULL on allocation failure; a valid pointer when n == 0). */
static uint32_t *decode_all(const unsigned char *s, size_t len, size_t n) {
    uint32_t *cps = malloc((n ? n : 1) * sizeof(*cps));
    if (cps == NULL) return NULL;
    for (size_t i = 0, k = 0; i < len; k++) i += utf8_decode(s, len, i, &cps[k]);
    return cps;
}

/* ---- the edit graph search ------------------------------------------------ */

struct rect {
    ptrdiff_t x0, x1, y0, y1;
};

struct differ {
    const uint32_t *a, *b;
    ptrdiff_t na, nb;
    unsigned char *adel; /* adel[x] != 0: a[x] is deleted */
    unsigned char *bins; /* bins[y] != 0: b[y] is inserted */
    ptrdiff_t *fd, *bd;  /* furthest x per diagonal k = x - y, valid for k in [-nb-1, na+1] */
    size_t budget;       /* work left */
    bool minimal;        /* false once some rectangle fell back to a replace */
    struct rect *stack;
    size_t nstack, capstack;
};

static bool push(struct differ *df, ptrdiff_t x0, ptrdiff_t x1, ptrdiff_t y0, ptrdiff_t y1) {
    if (df->nstack == df->capstack) {
        size_t cap = df->capstack ? df->capstack * 2 : 64;
        struct rect *s = realloc(df->stack, cap * sizeof(*s));
        if (s == NULL) return false;
        df->stack = s;
        df->capstack = cap;
    }
    df->stack[df->nstack++] = (struct rect){x0, x1, y0, y1};
    return true;
}

/*
 * Finds a point (*xm, *ym) strictly inside the rectangle through which an
 * optimal path runs. The rectangle has no common first or last element, and
 * both sides are non-empty, so the optimal edit count D is at least 2.
 *
 * Round c extends the forward frontier (furthest x reached on each diagonal
 * with c edits from the top-left corner) and then the backward frontier (with
 * c edits back from the bottom-right corner). The first time a forward point
 * passes the backward point on its diagonal (odd delta), or the reverse (even
 * delta), the two paths together form an optimal path, and the point just
 * reached splits it into halves with ceil(D/2) and floor(D/2) edits.
 *
 * Returns false, leaving the budget at 0, when the work spent exceeds it.
 */
static bool find_split(struct differ *df, const struct rect *r, ptrdiff_t *xm, ptrdiff_t *ym) {
    const uint32_t *a = df->a, *b = df->b;
    ptrdiff_t *fd = df->fd, *bd = df->bd;
    const ptrdiff_t x0 = r->x0, x1 = r->x1, y0 = r->y0, y1 = r->y1;
    const ptrdiff_t kmin = x0 - y1, kmax = x1 - y0; /* diagonals of the rectangle */
    const ptrdiff_t fmid = x0 - y0, bmid = x1 - y1; /* diagonals of the two corners */
    const bool odd = ((fmid - bmid) & 1) != 0;
    ptrdiff_t flo = fmid, fhi = fmid, blo = bmid, bhi = bmid;
    size_t cost = 0;

    fd[fmid] = x0;
    bd[bmid] = x1;
    for (;;) {
        /* Forward: one more edit. Grow the diagonal range where the rectangle
         * allows, else shrink it by one to keep the parity of the round. */
        if (flo > kmin)
            fd[--flo - 1] = NONE_F;
        else
            flo++;
        if (fhi < kmax)
            fd[++fhi + 1] = NONE_F;
        else
            fhi--;
        for (ptrdiff_t k = fhi; k >= flo; k -= 2) {
            ptrdiff_t from_left = fd[k - 1], from_above = fd[k + 1];
            ptrdiff_t x = NONE_F;
            /* A step right from diagonal k-1, if that point is not on the right edge. */
            if (from_left != NONE_F && from_left < x1) x = from_left + 1;
            /* A step down from diagonal k+1, if that point is not on the bottom edge. */
            if (from_above != NONE_F && from_above - (k + 1) < y1 && from_above > x) x = from_above;
            cost++;
            fd[k] = x;
            if (x == NONE_F) continue;
            ptrdiff_t y = x - k, start = x;
            while (x < x1 && y < y1 && a[x] == b[y]) x++, y++;
            cost += (size_t)(x - start);
            fd[k] = x;
            if (odd && blo <= k && k <= bhi && bd[k] <= x) {
                *xm = x;
                *ym = y;
                goto found;
            }
        }

        /* Backward: the mirror image. */
        if (blo > kmin)
            bd[--blo - 1] = NONE_B;
        else
            blo++;
        if (bhi < kmax)
            bd[++bhi + 1] = NONE_B;
        else
            bhi--;
        for (ptrdiff_t k = bhi; k >= blo; k -= 2) {
            ptrdiff_t from_below = bd[k - 1], from_right = bd[k + 1];
            ptrdiff_t x = NONE_B;
            /* A step left from diagonal k+1, if that point is not on the left edge. */
            if (from_right != NONE_B && from_right > x0) x = from_right - 1;
            /* A step up from diagonal k-1, if that point is not on the top edge. */
            if (from_below != NONE_B && from_below - (k - 1) > y0 && from_below < x) x = from_below;
            cost++;
            bd[k] = x;
            if (x == NONE_B) continue;
            ptrdiff_t y = x - k, start = x;
            while (x > x0 && y > y0 && a[x - 1] == b[y - 1]) x--, y--;
            cost += (size_t)(start - x);
            bd[k] = x;
            if (!odd && flo <= k && k <= fhi && x <= fd[k]) {
                *xm = x;
                *ym = y;
                goto found;
            }
        }

        if (cost >= df->budget) {
            df->budget = 0;
            return false;
        }
    }

found:
    df->budget = cost >= df->budget ? 0 : df->budget - cost;
    return true;
}

static void mark_replace(struct differ *df, const struct rect *r) {
    memset(df->adel + r->x0, 1, (size_t)(r->x1 - r->x0));
    memset(df->bins + r->y0, 1, (size_t)(r->y1 - r->y0));
}

/* Marks every deleted code point of a and inserted code point of b.
 * Returns false on allocation failure. */
static bool mark_edits(struct differ *df) {
    if (!push(df, 0, df->na, 0, df->nb)) return false;
    while (df->nstack > 0) {
        struct rect r = df->stack[--df->nstack];
        const uint32_t *a = df->a, *b = df->b;
        while (r.x0 < r.x1 && r.y0 < r.y1 && a[r.x0] == b[r.y0]) r.x0++, r.y0++;
        while (r.x0 < r.x1 && r.y0 < r.y1 && a[r.x1 - 1] == b[r.y1 - 1]) r.x1--, r.y1--;
        if (r.x0 == r.x1 || r.y0 == r.y1) { /* only inserts, or only deletes */
            mark_replace(df, &r);
            continue;
        }
        ptrdiff_t xm = 0, ym = 0;
        bool split = df->budget > 0 && find_split(df, &r, &xm, &ym);
        /* A split on a corner would not shrink the problem; the search never
         * returns one, and this check makes termination independent of that. */
        if (split && ((xm == r.x0 && ym == r.y0) || (xm == r.x1 && ym == r.y1) || xm < r.x0 ||
                      xm > r.x1 || ym < r.y0 || ym > r.y1))
            split = false;
        if (!split) {
            df->minimal = false;
            mark_replace(df, &r);
            continue;
        }
        /* Push the right half first so that the left half is done first. */
        if (!push(df, xm, r.x1, ym, r.y1) || !push(df, r.x0, xm, r.y0, ym)) return false;
    }
    return true;
}

/* ---- ops --------------------------------------------------------------- */

/*
 * Walks the marks and emits one op per maximal run of marks between two kept
 * code points. With ops == NULL only counts: *nops and the bytes the insert
 * texts need with their NULs (*text_bytes). Otherwise fills ops and text.
 * `pos` starts at the UTF-16 length of the common prefix; `bmid` is the new
 * text's middle as bytes, so an insert is a copy of a byte range of it.
 */
static void emit_ops(const struct differ *df, size_t pos, const char *bmid, textdiff_op *ops,
                     char *text, size_t *nops, size_t *text_bytes) {
    size_t n = 0, tb = 0;
    ptrdiff_t i = 0, j = 0;
    size_t boff = 0; /* byte offset of b[j] in bmid */
    while (i < df->na || j < df->nb) {
        while (i < df->na && j < df->nb && !df->adel[i] && !df->bins[j]) {
            pos += cp_units(df->b[j]);
            boff += cp_bytes(df->b[j]);
            i++, j++;
        }
        size_t del = 0;
        while (i < df->na && df->adel[i]) del += cp_units(df->a[i++]);
        size_t ins_off = boff, ins_units = 0;
        while (j < df->nb && df->bins[j]) {
            ins_units += cp_units(df->b[j]);
            boff += cp_bytes(df->b[j]);
            j++;
        }
        size_t ins_len = boff - ins_off;
        if (del == 0 && ins_len == 0) break; /* unreachable while the marks pair up */
        if (ops != NULL) {
            memcpy(text + tb, bmid + ins_off, ins_len);
            text[tb + ins_len] = '\0';
            ops[n] = (textdiff_op){pos, del, text + tb, ins_len, ins_units};
        }
        tb += ins_len + 1;
        pos += ins_units;
        n++;
    }
    *nops = n;
    *text_bytes = tb;
}

int textdiff_compute(const char *old_text, size_t old_len, const char *new_text, size_t new_len,
                     size_t max_cost, textdiff *out) {
    if (out == NULL) return TEXTDIFF_ERR_INVALID;
    *out = (textdiff){.ops = NULL, .nops = 0, .minimal = true, .text_ = NULL};
    if ((old_text == NULL && old_len > 0) || (new_text == NULL && new_len > 0) ||
        old_len > TEXT_MAX || new_len > TEXT_MAX)
        return TEXTDIFF_ERR_INVALID;

    const unsigned char *a = (const unsigned char *)old_text;
    const unsigned char *b = (const unsigned char *)new_text;
    if (!utf8_scan(a, old_len, NULL, NULL) || !utf8_scan(b, new_len, NULL, NULL))
        return TEXTDIFF_ERR_UTF8;

    /* Common prefix and suffix, in bytes, ending on code point boundaries.
     * A boundary in the old text is one in the new text too: the bytes before
     * it are the same complete sequences in both. */
    size_t lim = old_len < new_len ? old_len : new_len;
    size_t pre = 0, suf = 0;
    while (pre < lim && a[pre] == b[pre]) pre++;
    while (pre > 0 && pre < old_len && is_cont(a[pre])) pre--;
    while (suf < lim - pre && a[old_len - 1 - suf] == b[new_len - 1 - suf]) suf++;
    while (suf > 0 && is_cont(a[old_len - suf])) suf--;
    if (pre == old_len && pre == new_len) return TEXTDIFF_OK; /* identical */

    size_t pre_units = 0;
    for (size_t i = 0; i < pre; i++)
        if (!is_cont(a[i])) pre_units += a[i] >= 0xF0 ? 2 : 1;

    const unsigned char *am = a + pre, *bm = b + pre;
    size_t alen = old_len - pre - suf, blen = new_len - pre - suf, na = 0, nb = 0;
    (void)utf8_scan(am, alen, &na, NULL); /* valid: a slice of a valid text on boundaries */
    (void)utf8_scan(bm, blen, &nb, NULL);

    int rc = TEXTDIFF_ERR_NOMEM;
    struct differ df = {.na = (ptrdiff_t)na,
                        .nb = (ptrdiff_t)nb,
                        .budget = max_cost ? max_cost : TEXTDIFF_DEFAULT_MAX_COST,
                        .minimal = true};
    uint32_t *acp = decode_all(am, alen, na), *bcp = decode_all(bm, blen, nb);
    size_t ndiag = na + nb + 3;
    ptrdiff_t *diag = malloc(2 * ndiag * sizeof(*diag));
    df.adel = calloc(na + 1, 1);
    df.bins = calloc(nb + 1, 1);
    if (acp == NULL || bcp == NULL || diag == NULL || df.adel == NULL || df.bins == NULL)
        goto cleanup;
    df.a = acp;
    df.b = bcp;
    df.fd = diag + nb + 1; /* fd[k] for k in [-nb-1, na+1] */
    df.bd = diag + ndiag + nb + 1;
    if (!mark_edits(&df)) goto cleanup;

    size_t nops = 0, text_bytes = 0;
    emit_ops(&df, pre_units, (const char *)bm, NULL, NULL, &nops, &text_bytes);
    if (nops == 0) { /* cannot happen: the middles differ; never malloc(0) */
        rc = TEXTDIFF_OK;
        goto cleanup;
    }
    out->ops = malloc(nops * sizeof(*out->ops));
    out->text_ = malloc(text_bytes);
    if (out->ops == NULL || out->text_ == NULL) goto cleanup;
    emit_ops(&df, pre_units, (const char *)bm, out->ops, out->text_, &nops, &text_bytes);
    out->nops = nops;
    out->minimal = df.minimal;
    rc = TEXTDIFF_OK;

cleanup:
    if (rc != TEXTDIFF_OK) textdiff_release(out);
    free(acp);
    free(bcp);
    free(diag);
    free(df.adel);
    free(df.bins);
    free(df.stack);
    return rc;
}

void textdiff_release(textdiff *d) {
    if (d == NULL) return;
    free(d->ops);
    free(d->text_);
    *d = (textdiff){.ops = NULL, .nops = 0, .minimal = true, .text_ = NULL};
}

/* ---- apply ------------------------------------------------------------- */

/* A growable byte buffer; a failed append leaves it as it was. */
struct buf {
    char *p;
    size_t len, cap;
};

static bool buf_append(struct buf *bf, const void *s, size_t n) {
    if (n > SIZE_MAX - 1 - bf->len) return false;
    if (bf->len + n + 1 > bf->cap) { /* keep room for a final NUL */
        size_t cap = bf->cap ? bf->cap : 64;
        while (cap < bf->len + n + 1) cap = cap > SIZE_MAX / 2 ? bf->len + n + 1 : cap * 2;
        char *p = realloc(bf->p, cap);
        if (p == NULL) return false;
        bf->p = p;
        bf->cap = cap;
    }
    if (n > 0) memcpy(bf->p + bf->len, s, n);
    bf->len += n;
    return true;
}

/* Advances *i over whole code points of valid UTF-8 s[0..len) until `units`
 * UTF-16 units are passed. Returns false if the text ends first or the last
 * code point would be split. */
static bool skip_units(const unsigned char *s, size_t len, size_t *i, size_t units) {
    size_t done = 0;
    while (done < units) {
        if (*i >= len) return false;
        size_t k = lead_bytes(s[*i]);
        size_t u = k == 4 ? 2 : 1;
        if (u > units - done) return false;
        done += u;
        *i += k;
    }
    return true;
}

/*
 * The current text is always dst followed by src[si..slen). An op at or after
 * the end of dst copies forward from src into dst; an op before it first
 * folds the rest of src into dst and restarts from there (src then points to
 * the buffer `owned`).
 */
int textdiff_apply(const char *text, size_t len, const textdiff_op *ops, size_t nops, char **out,
                   size_t *out_len) {
    if (out != NULL) *out = NULL;
    if (out_len != NULL) *out_len = 0;
    if (out == NULL || (text == NULL && len > 0) || (ops == NULL && nops > 0))
        return TEXTDIFF_ERR_INVALID;
    const unsigned char *src = (const unsigned char *)text;
    if (!utf8_scan(src, len, NULL, NULL)) return TEXTDIFF_ERR_UTF8;

    int rc = TEXTDIFF_ERR_NOMEM;
    struct buf dst = {NULL, 0, 0};
    char *owned = NULL;
    size_t slen = len, si = 0, dpos = 0; /* dpos: UTF-16 units in dst */
    for (size_t n = 0; n < nops; n++) {
        const textdiff_op *op = &ops[n];
        size_t ins_units = 0;
        if (op->ins == NULL && op->ins_len > 0) {
            rc = TEXTDIFF_ERR_INVALID;
            goto cleanup;
        }
        if (!utf8_scan((const unsigned char *)op->ins, op->ins_len, NULL, &ins_units)) {
            rc = TEXTDIFF_ERR_UTF8;
            goto cleanup;
        }
        if (op->pos < dpos) {
            if (!buf_append(&dst, src + si, slen - si)) goto cleanup;
            free(owned);
            owned = dst.p;
            src = (const unsigned char *)owned;
            slen = dst.len;
            si = 0;
            dst = (struct buf){NULL, 0, 0};
            dpos = 0;
        }
        size_t start = si;
        if (!skip_units(src, slen, &si, op->pos - dpos)) {
            rc = TEXTDIFF_ERR_RANGE;
            goto cleanup;
        }
        if (!buf_append(&dst, src + start, si - start)) goto cleanup;
        if (!skip_units(src, slen, &si, op->del)) {
            rc = TEXTDIFF_ERR_RANGE;
            goto cleanup;
        }
        if (!buf_append(&dst, op->ins, op->ins_len)) goto cleanup;
        dpos = op->pos + ins_units;
    }
    if (!buf_append(&dst, src + si, slen - si)) goto cleanup;
    if (dst.p == NULL && !buf_append(&dst, "", 0)) goto cleanup; /* empty result: still a string */
    dst.p[dst.len] = '\0';
    *out = dst.p;
    if (out_len != NULL) *out_len = dst.len;
    dst.p = NULL;
    rc = TEXTDIFF_OK;

cleanup:
    free(dst.p);
    free(owned);
    return rc;
}

const char *textdiff_strerror(int err) {
    switch (err) {
    case TEXTDIFF_OK: return "success";
    case TEXTDIFF_ERR_NOMEM: return "out of memory";
    case TEXTDIFF_ERR_UTF8: return "text is not valid UTF-8";
    case TEXTDIFF_ERR_RANGE: return "edit outside the text or inside a surrogate pair";
    case TEXTDIFF_ERR_INVALID: return "invalid argument";
    default: return "unknown error";
    }
}
