/*
 * linediff.c - unified line diffs (see linediff.h).
 *
 * Steps: split both texts into lines (pointer + length, with a hash), trim
 * the common head and tail, run Myers' forward search on the middle keeping
 * every diagonal array (V_d has 2d+1 entries) so the path can be traced
 * back, turn the path into one op per line (keep, remove, add), and print
 * the ops as hunks.
 */
#include "util/linediff.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;
    size_t len; /* with its '\n', if any */
    uint64_t hash;
} line;

typedef enum { OP_KEEP, OP_DEL, OP_ADD } opkind;

typedef struct {
    opkind kind;
    size_t ai, bi; /* line index in a (KEEP, DEL) and in b (KEEP, ADD) */
} op;

static int split(const char *s, size_t len, line **out, size_t *n) {
    size_t count = 0, cap = 0;
    line *ls = NULL;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl != NULL ? (size_t)(nl - s) + 1 : len;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            line *grown = realloc(ls, cap * sizeof(*ls));
            if (grown == NULL) {
                free(ls);
                return LINEDIFF_ERR_NOMEM;
            }
            ls = grown;
        }
        uint64_t h = 1469598103934665603ull;
        for (size_t k = i; k < end; k++) h = (h ^ (unsigned char)s[k]) * 1099511628211ull;
        ls[count++] = (line){s + i, end - i, h};
        i = end;
    }
    *out = ls;
    *n = count;
    return LINEDIFF_OK;
}

static bool same(const line *x, const line *y) {
    return x->hash == y->hash && x->len == y->len && memcmp(x->p, y->p, x->len) == 0;
}

typedef struct {
    op *ops;
    size_t n, cap;
    bool failed;
} oplist;

static void push(oplist *l, opkind k, size_t ai, size_t bi) {
    if (l->failed) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        op *grown = realloc(l->ops, cap * sizeof(*grown));
        if (grown == NULL) {
            l->failed = true;
            return;
        }
        l->ops = grown;
        l->cap = cap;
    }
    l->ops[l->n++] = (op){k, ai, bi};
}

/* Myers on a[a0..a1) and b[b0..b1) (no common head or tail); appends the
 * ops in order. Past LINEDIFF_MAX_D, everything is removed then added. */
static void middle(const line *a, size_t a0, size_t a1, const line *b, size_t b0, size_t b1,
                   oplist *l) {
    long n = (long)(a1 - a0), m = (long)(b1 - b0);
    long maxd = n + m < LINEDIFF_MAX_D ? n + m : LINEDIFF_MAX_D;
    long **vs = calloc((size_t)maxd + 1, sizeof(*vs));
    long dfound = -1;
    if (vs == NULL) {
        l->failed = true;
        return;
    }
    for (long d = 0; d <= maxd && dfound < 0; d++) {
        long *v = malloc((size_t)(2 * d + 1) * sizeof(*v)); /* index k + d */
        if (v == NULL) break;
        vs[d] = v;
        const long *pv = d > 0 ? vs[d - 1] : NULL; /* index k + d - 1 */
        for (long k = -d; k <= d; k += 2) {
            long x;
            if (d == 0)
                x = 0;
            else if (k == -d || (k != d && pv[k - 1 + d - 1] < pv[k + 1 + d - 1]))
                x = pv[k + 1 + d - 1]; /* down: an add */
            else
                x = pv[k - 1 + d - 1] + 1; /* right: a remove */
            long y = x - k;
            while (x < n && y < m && same(&a[a0 + (size_t)x], &b[b0 + (size_t)y])) x++, y++;
            v[k + d] = x;
            if (x >= n && y >= m) {
                dfound = d;
                break;
            }
        }
    }
    if (dfound < 0) { /* too different (or no memory for the search): one block */
        for (size_t i = a0; i < a1; i++) push(l, OP_DEL, i, b0);
        for (size_t i = b0; i < b1; i++) push(l, OP_ADD, a1, i);
    } else {
        /* Trace back from (n, m), collecting ops in reverse. */
        oplist rev = {0};
        long x = n, y = m;
        for (long d = dfound; d > 0; d--) {
            const long *pv = vs[d - 1];
            long k = x - y;
            bool down = k == -d || (k != d && pv[k - 1 + d - 1] < pv[k + 1 + d - 1]);
            long pk = down ? k + 1 : k - 1;
            long px = pv[pk + d - 1], py = px - pk;
            long sx = down ? px : px + 1; /* where the snake started */
            while (x > sx) {
                x--, y--;
                push(&rev, OP_KEEP, a0 + (size_t)x, b0 + (size_t)y);
            }
            if (down)
                push(&rev, OP_ADD, a0 + (size_t)px, b0 + (size_t)py);
            else
                push(&rev, OP_DEL, a0 + (size_t)px, b0 + (size_t)py);
            x = px, y = py;
        }
        while (x > 0) {
            x--, y--;
            push(&rev, OP_KEEP, a0 + (size_t)x, b0 + (size_t)y);
        }
        if (rev.failed) l->failed = true;
        for (size_t i = rev.n; i-- > 0 && !rev.failed;)
            push(l, rev.ops[i].kind, rev.ops[i].ai, rev.ops[i].bi);
        free(rev.ops);
    }
    for (long d = 0; d <= maxd; d++) free(vs[d]);
    free(vs);
}

/* ---- printing --------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void put(sbuf *s, const char *p, size_t n) {
    if (s->failed) return;
    if (s->cap - s->len < n + 1) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap - s->len < n + 1) cap *= 2;
        char *grown = realloc(s->p, cap);
        if (grown == NULL) {
            s->failed = true;
            return;
        }
        s->p = grown;
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void put_line(sbuf *s, char mark, const line *ln) {
    put(s, &mark, 1);
    put(s, ln->p, ln->len);
    if (ln->len == 0 || ln->p[ln->len - 1] != '\n') put(s, "\n\\ No newline at end of file\n", 29);
}

/* A hunk range as diff prints it: "start,count" (start is 1-based, or the
 * line before an empty range). */
static void put_range(sbuf *s, size_t start, size_t count) {
    char buf[48];
    int n = count == 1 ? snprintf(buf, sizeof(buf), "%zu", start + 1)
                       : snprintf(buf, sizeof(buf), "%zu,%zu", count ? start + 1 : start, count);
    put(s, buf, (size_t)n);
}

int linediff_unified(const char *a, size_t alen, const char *b, size_t blen, int context,
                     const char *a_label, const char *b_label, char **out, size_t *out_len,
                     linediff_stats *stats) {
    line *la = NULL, *lb = NULL;
    size_t na = 0, nb = 0;
    oplist ops = {0};
    sbuf s = {0};
    linediff_stats st = {0};
    if (context < 0) context = 0;
    int rc = split(a, alen, &la, &na);
    if (rc == LINEDIFF_OK) rc = split(b, blen, &lb, &nb);
    if (rc != LINEDIFF_OK) goto out;
    size_t head = 0, tail = 0;
    while (head < na && head < nb && same(&la[head], &lb[head])) head++;
    while (tail < na - head && tail < nb - head && same(&la[na - 1 - tail], &lb[nb - 1 - tail]))
        tail++;
    for (size_t i = 0; i < head; i++) push(&ops, OP_KEEP, i, i);
    middle(la, head, na - tail, lb, head, nb - tail, &ops);
    for (size_t i = 0; i < tail; i++) push(&ops, OP_KEEP, na - tail + i, nb - tail + i);
    if (ops.failed) {
        rc = LINEDIFF_ERR_NOMEM;
        goto out;
    }
    put(&s, "", 0);
    for (size_t i = 0; i < ops.n;) {
        if (ops.ops[i].kind == OP_KEEP) {
            i++;
            continue;
        }
        /* A hunk: from `context` keeps before this change to `context` keeps
         * after the last change that is at most 2*context keeps away. */
        size_t start = i >= (size_t)context ? i - (size_t)context : 0;
        while (start < i && ops.ops[start].kind != OP_KEEP) start++;
        size_t end = i, keeps = 0;
        for (size_t k = i; k < ops.n; k++) {
            if (ops.ops[k].kind == OP_KEEP) {
                if (++keeps > 2 * (size_t)context) break;
            } else {
                keeps = 0;
                end = k + 1;
            }
        }
        size_t stop = end;
        for (size_t k = 0; k < (size_t)context && stop < ops.n && ops.ops[stop].kind == OP_KEEP;
             k++)
            stop++;
        size_t acount = 0, bcount = 0;
        for (size_t k = start; k < stop; k++) {
            if (ops.ops[k].kind != OP_ADD) acount++;
            if (ops.ops[k].kind != OP_DEL) bcount++;
        }
        if (st.hunks == 0) {
            put(&s, "--- ", 4);
            put(&s, a_label, strlen(a_label));
            put(&s, "\n+++ ", 5);
            put(&s, b_label, strlen(b_label));
            put(&s, "\n", 1);
        }
        put(&s, "@@ -", 4);
        put_range(&s, ops.ops[start].ai, acount);
        put(&s, " +", 2);
        put_range(&s, ops.ops[start].bi, bcount);
        put(&s, " @@\n", 4);
        for (size_t k = start; k < stop; k++) {
            const op *o = &ops.ops[k];
            if (o->kind == OP_KEEP) {
                put_line(&s, ' ', &la[o->ai]);
            } else if (o->kind == OP_DEL) {
                put_line(&s, '-', &la[o->ai]);
                st.removed++;
            } else {
                put_line(&s, '+', &lb[o->bi]);
                st.added++;
            }
        }
        st.hunks++;
        i = stop;
    }
    if (s.failed) {
        rc = LINEDIFF_ERR_NOMEM;
        goto out;
    }
    *out = s.p;
    *out_len = s.len;
    s.p = NULL;
    if (stats != NULL) *stats = st;
out:
    free(s.p);
    free(ops.ops);
    free(la);
    free(lb);
    return rc;
}
