/*
 * search.c - the search index of the storage API (store_search_* in
 * store.h), on SQLite FTS5 or PostgreSQL full text.
 *
 * Schema (migration 2 of each backend):
 * - SQLite: search_docs (rowid, id, vault, path, title, trashed) and the
 *   FTS5 table search_fts (vault, title, path, body) sharing its rowid. The
 *   `vault` column holds the vault id as a single token and every query
 *   starts with `vault : "<id>"`, so the full-text index itself narrows the
 *   search to one vault.
 * - PostgreSQL: search_docs (id, vault, path, title, body, trashed, tsv)
 *   with a GIN index on tsv, built with the text search configuration
 *   vault_search: title weight A, path words weight B, text weight D.
 *
 * Queries arrive parsed (util/squery.h) and are written here into the
 * engine's syntax with every word quoted, so no user text is ever read as
 * operators. Snippets mark matches with U+00AB and U+00BB (« »); the
 * indexer replaces those characters in the text it indexes (see
 * server/search.c), so a marker in a snippet is always a marker.
 *
 * Invariants: an entry is written in one statement sequence inside one
 * transaction (search_docs and search_fts move together); a failed call
 * changes nothing.
 */
#include "store/store_int.h"

#include "store/skeys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIMIT 100

#define A_INT(v)  ((store_arg){SARG_INT, (int64_t)(v), NULL, 0})
#define A_TEXT(s) ((store_arg){SARG_TEXT, 0, (s), 0})
#define NARGS(a)  ((int)(sizeof(a) / sizeof((a)[0])))

static bool is_sqlite(store *st) { return store__ops(st) == &store__sqlite; }

/* ---- growable strings ----------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* ---- writing entries ------------------------------------------------------ */

/* s cut to at most max bytes at a UTF-8 boundary: the length to keep. */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
    if (len <= max) return len;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80) max--;
    return max;
}

/* The words of a path for the index: every ASCII character that is not a
 * letter or digit becomes a space ("/Projects/Q1/Design.md" -> " Projects
 * Q1 Design md"), so PostgreSQL does not read it as one file-path token. */
static char *path_words(const char *path) {
    char *w = strdup(path);
    if (w == NULL) return NULL;
    for (char *p = w; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x80 &&
            !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            *p = ' ';
    }
    return w;
}

struct put_call {
    const store_search_doc *docs;
    char **keys; /* SQLite: each doc's phrase keys, made before the writer runs */
    size_t n;
};

/* SQLite: the phrase keys of d (skeys_doc over its title, path words and
 * indexed text), computed on the caller's thread so that the writer thread,
 * which every commit waits for, only writes them. */
static int doc_keys(const store_search_doc *d, char **out) {
    const char *title = d->title ? d->title : "";
    const char *text = d->text ? d->text : "";
    char *words = path_words(d->path);
    if (words == NULL) return STORE_ENOMEM;
    const char *texts[] = {title, words, text};
    size_t lens[] = {strlen(title), strlen(words),
                     utf8_cut(text, strlen(text), STORE_SEARCH_MAX_TEXT)};
    int kr = skeys_doc(texts, lens, 3, 2, out);
    free(words);
    return kr == SKEYS_OK ? STORE_OK : kr == SKEYS_ENOMEM ? STORE_ENOMEM : STORE_EIO;
}

static int put_one(store *st, store_conn *c, const store_search_doc *d, const char *keys) {
    const store_ops *be = store__ops(st);
    const char *title = d->title ? d->title : "";
    const char *text = d->text ? d->text : "";
    size_t tlen = utf8_cut(text, strlen(text), STORE_SEARCH_MAX_TEXT);
    char *body = malloc(tlen + 1);
    char *words = path_words(d->path);
    int err = STORE_OK;
    if (body == NULL || words == NULL) {
        err = STORE_ENOMEM;
        goto out;
    }
    memcpy(body, text, tlen);
    body[tlen] = '\0';
    if (is_sqlite(st)) {
        store_rows *r = NULL;
        store_arg a[] = {A_TEXT(d->id), A_TEXT(d->vault), A_TEXT(d->path), A_TEXT(title),
                         A_INT(d->trashed)};
        err = be->query(c,
                        "INSERT INTO search_docs (id, vault, path, title, trashed)"
                        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET"
                        " vault = excluded.vault, path = excluded.path, title = excluded.title,"
                        " trashed = excluded.trashed RETURNING rowid",
                        a, NARGS(a), &r);
        int64_t rowid = 0;
        if (err == STORE_OK) {
            err = be->next(r);
            if (err == STORE_ROW) {
                rowid = be->col_int(r, 0);
                err = STORE_OK;
            } else if (err == STORE_DONE) {
                err = STORE_EIO;
            }
        }
        be->rows_free(r);
        store_arg ad[] = {A_INT(rowid)};
        if (err == STORE_OK)
            err = be->query(c, "DELETE FROM search_fts WHERE rowid = $1", ad, NARGS(ad), NULL);
        store_arg ai[] = {A_INT(rowid),  A_TEXT(d->vault), A_TEXT(title),
                          A_TEXT(words), A_TEXT(body),     A_TEXT(keys)};
        if (err == STORE_OK)
            err = be->query(c,
                            "INSERT INTO search_fts (rowid, vault, title, path, body, keys)"
                            " VALUES ($1, $2, $3, $4, $5, $6)",
                            ai, NARGS(ai), NULL);
    } else {
        store_arg a[] = {A_TEXT(d->id), A_TEXT(d->vault),  A_TEXT(d->path), A_TEXT(title),
                         A_TEXT(body),  A_INT(d->trashed), A_TEXT(words)};
        err = be->query(c,
                        "WITH t AS (SELECT setweight(to_tsvector('vault_search', $4), 'A') ||"
                        " setweight(to_tsvector('vault_search', $7), 'B') AS v),"
                        " f AS (SELECT t.v AS tv, t.v || to_tsvector('vault_search', $5) AS v"
                        " FROM t)"
                        " INSERT INTO search_docs (id, vault, path, title, body, trashed, tsv,"
                        " ttsv, keys)"
                        " SELECT $1, $2, $3, $4, $5, $6, f.v, f.tv,"
                        " vault_search_keys(f.v, '') || vault_search_keys(f.tv, 't') ||"
                        " vault_search_prefix_keys(f.v) FROM f"
                        " ON CONFLICT (id) DO UPDATE SET vault = excluded.vault,"
                        " path = excluded.path, title = excluded.title, body = excluded.body,"
                        " trashed = excluded.trashed, tsv = excluded.tsv, ttsv = excluded.ttsv,"
                        " keys = excluded.keys",
                        a, NARGS(a), NULL);
    }
out:
    free(body);
    free(words);
    return err;
}

static int put_run(store *st, store_conn *c, void *arg) {
    struct put_call *p = arg;
    int err = STORE_OK;
    for (size_t i = 0; i < p->n && err == STORE_OK; i++)
        err = put_one(st, c, &p->docs[i], p->keys != NULL ? p->keys[i] : NULL);
    return err;
}

/* Runs fn(arg) as one transaction on the writer thread and waits. */
static int write_txn(store *st, store__call_fn fn, void *arg) {
    store_txn *t = store_txn_new();
    if (t == NULL) return STORE_ENOMEM;
    int err = store__txn_call(t, fn, arg);
    if (err != STORE_OK) {
        store_txn_free(t);
        return err;
    }
    return store_commit(st, t, NULL);
}

int store_search_put(store *st, const store_search_doc *docs, size_t n) {
    if (st == NULL || (docs == NULL && n > 0)) return STORE_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const store_search_doc *d = &docs[i];
        if (!store__id_ok(d->id) || !store__id_ok(d->vault) || !store__text_ok(d->path) ||
            d->path[0] != '/' || (d->title != NULL && !store__text_ok(d->title)) ||
            (d->text != NULL && !store__text_ok(d->text)) || d->trashed < 0)
            return STORE_EINVAL;
    }
    if (n == 0) return STORE_OK;
    struct put_call p = {docs, NULL, n};
    int err = STORE_OK;
    if (is_sqlite(st)) {
        p.keys = calloc(n, sizeof(*p.keys));
        if (p.keys == NULL) return STORE_ENOMEM;
        for (size_t i = 0; i < n && err == STORE_OK; i++) err = doc_keys(&docs[i], &p.keys[i]);
    }
    if (err == STORE_OK) err = write_txn(st, put_run, &p);
    for (size_t i = 0; p.keys != NULL && i < n; i++) free(p.keys[i]);
    free(p.keys);
    return err;
}

static int delete_run(store *st, store_conn *c, void *arg) {
    const store_ops *be = store__ops(st);
    store_arg a[] = {A_TEXT((const char *)arg)};
    int err = STORE_OK;
    if (is_sqlite(st))
        err = be->query(c,
                        "DELETE FROM search_fts WHERE rowid ="
                        " (SELECT rowid FROM search_docs WHERE id = $1)",
                        a, NARGS(a), NULL);
    if (err == STORE_OK) err = be->query(c, "DELETE FROM search_docs WHERE id = $1", a, 1, NULL);
    return err;
}

int store_search_delete(store *st, const char *id) {
    if (st == NULL || !store__id_ok(id)) return STORE_EINVAL;
    char copy[33];
    memcpy(copy, id, 33);
    return write_txn(st, delete_run, copy);
}

static int clear_run(store *st, store_conn *c, void *arg) {
    (void)arg;
    return store__conn_exec(st, c,
                            is_sqlite(st) ? "DELETE FROM search_fts; DELETE FROM search_docs"
                                          : "DELETE FROM search_docs");
}

int store_search_clear(store *st) {
    if (st == NULL) return STORE_EINVAL;
    return write_txn(st, clear_run, NULL);
}

/* ---- queries --------------------------------------------------------------- */

static void fts5_term(sbuf *b, const char *cols, const squery_term *t) {
    sb_str(b, cols);
    sb_str(b, " : \"");
    for (size_t k = 0; k < t->nwords; k++) {
        if (k > 0) sb_str(b, " ");
        sb_str(b, t->words[k]);
    }
    sb_str(b, t->prefix ? "\" *" : "\"");
}

/* " AND keys : kN..." for the neighbouring whole words of phrase t (a final
 * prefix is not a whole word), so FTS5 walks only the notes that hold every
 * pair; the phrase itself is still matched. With title, the "t" keys of
 * pairs in a title or path, for the title branch. Nothing for a single
 * word, or when the keys cannot be had (the query is then only slower). */
static void fts5_keys(sbuf *b, const squery_term *t, bool title) {
    size_t whole = t->nwords - (t->prefix ? 1 : 0);
    if (whole < 2) return;
    sbuf text = {0};
    for (size_t k = 0; k < whole; k++) {
        if (k > 0) sb_str(&text, " ");
        sb_str(&text, t->words[k]);
    }
    char keys[SQUERY_MAX_WORDS][SKEYS_KEY_LEN + 1];
    size_t n = 0;
    if (!text.failed &&
        skeys_phrase(text.p, text.len, title, keys, SQUERY_MAX_WORDS, &n) == SKEYS_OK) {
        for (size_t i = 0; i < n; i++) {
            sb_str(b, " AND keys : ");
            sb_str(b, keys[i]);
        }
    }
    free(text.p);
}

/* The FTS5 expression for q in vault: every word double-quoted (words never
 * contain a quote: see squery.h). With `title_only`, every positive term
 * must also match in the title or the path. */
static void fts5_expr(sbuf *b, const char *vault, const squery *q, bool title_only) {
    sb_str(b, "(vault : \"");
    sb_str(b, vault);
    sb_str(b, "\"");
    for (size_t i = 0; title_only && i < q->nterms; i++) {
        if (q->terms[i].negated) continue;
        sb_str(b, " AND ");
        fts5_term(b, "{title path}", &q->terms[i]);
        fts5_keys(b, &q->terms[i], true);
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < q->nterms; i++) {
            const squery_term *t = &q->terms[i];
            if (t->negated != (pass == 1)) continue;
            sb_str(b, pass == 0 ? " AND " : " NOT ");
            fts5_term(b, "{title path body}", t);
            if (pass == 0) fts5_keys(b, t, false);
        }
        if (pass == 0) sb_str(b, ")");
    }
}

/* The tsquery text for q: 'w1' <-> 'w2':* & !('w3'). Words never contain a
 * quote or backslash. */
static void ts_expr(sbuf *b, const squery *q) {
    bool first = true;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < q->nterms; i++) {
            const squery_term *t = &q->terms[i];
            if (t->negated != (pass == 1)) continue;
            if (!first) sb_str(b, " & ");
            first = false;
            sb_str(b, t->negated ? "!(" : "(");
            for (size_t k = 0; k < t->nwords; k++) {
                if (k > 0) sb_str(b, " <-> ");
                sb_str(b, "'");
                sb_str(b, t->words[k]);
                sb_str(b, k + 1 == t->nwords && t->prefix ? "':*" : "'");
            }
            sb_str(b, ")");
        }
    }
}

void store_search_hits_free(store_search_hit *h, size_t n) {
    if (h == NULL) return;
    for (size_t i = 0; i < n; i++) {
        free(h[i].path);
        free(h[i].title);
        free(h[i].snippet);
    }
    free(h);
}

struct hits {
    store_search_hit *items;
    int64_t *rowids; /* SQLite: each hit's rowid, for its snippet */
    size_t n, cap;
    int64_t total; /* matches, up to STORE_SEARCH_CANDIDATES + 1 */
};

static char *col_dup(store *st, store_rows *r, int col) {
    size_t len;
    const char *t = store__ops(st)->col_text(r, col, &len);
    char *s = malloc(len + 1);
    if (s != NULL) {
        memcpy(s, t, len);
        s[len] = '\0';
    }
    return s;
}

/* Columns: see search_sql. */
static int row_hit(store *st, store_rows *r, void *ctx) {
    const store_ops *be = store__ops(st);
    struct hits *h = ctx;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        store_search_hit *items = realloc(h->items, cap * sizeof(*items));
        if (items == NULL) return STORE_ENOMEM;
        h->items = items;
        int64_t *rowids = realloc(h->rowids, cap * sizeof(*rowids));
        if (rowids == NULL) return STORE_ENOMEM;
        h->rowids = rowids;
        h->cap = cap;
    }
    store_search_hit *hit = &h->items[h->n];
    memset(hit, 0, sizeof(*hit));
    size_t len;
    const char *id = be->col_text(r, 0, &len);
    if (len != 32) return STORE_ESCHEMA;
    memcpy(hit->id, id, 32);
    hit->id[32] = '\0';
    hit->path = col_dup(st, r, 1);
    hit->title = col_dup(st, r, 2);
    hit->trashed = be->col_int(r, 3);
    hit->score = (double)be->col_int(r, 4) / 1e9;
    h->total = be->col_int(r, 6);
    if (is_sqlite(st))
        h->rowids[h->n] = be->col_int(r, 5);
    else
        hit->snippet = col_dup(st, r, 5);
    h->n++;
    if (hit->path == NULL || hit->title == NULL || (!is_sqlite(st) && hit->snippet == NULL))
        return STORE_ENOMEM;
    return STORE_OK;
}

static int row_snippet(store *st, store_rows *r, void *ctx) {
    char **out = ctx;
    free(*out);
    *out = col_dup(st, r, 0);
    return *out == NULL ? STORE_ENOMEM : STORE_OK;
}

static int row_count(store *st, store_rows *r, void *ctx) {
    *(int64_t *)ctx = store__ops(st)->col_int(r, 0);
    return STORE_OK;
}

/* The SQL of a search (in SQLite, CROSS JOIN keeps the FTS5 table the outer
 * loop: driven by search_docs, the plan would run one MATCH per note). Candidates: the most recent
 * STORE_SEARCH_CANDIDATES matches (rowid order in FTS5, which it walks backwards without sorting;
 * GIN order in PostgreSQL), plus up to TITLE_CANDIDATES whose title or path
 * match, so that a note named after the query is never left out; both
 * after the vault, trash and path filters. Only they are ranked, so the
 * cost of a query is bounded whatever the number of matches. */
#define TITLE_CANDIDATES 200

/* The candidate query of one branch: rowid and score (SQLite) of matches of
 * `expr` after the filters `where`, newest first, at most `limit`. */
static void sq_candidates(char *out, size_t n, const char *expr, const char *where, int limit) {
    snprintf(out, n,
             "SELECT f.rowid AS r, vault_rank(search_fts, 0.0, 10.0, 5.0, 1.0, 0.0) AS score"
             " FROM search_fts f CROSS JOIN search_docs d ON d.rowid = f.rowid"
             " WHERE search_fts MATCH %s AND %s ORDER BY f.rowid DESC LIMIT %d",
             expr, where, limit);
}

/* What a PostgreSQL search adds to its SQL: whether there are keys (see
 * pg_keys) for the main branch ($7) and for the title branch ($8), and
 * whether the query excludes words (then the title branch checks the whole
 * note too). */
typedef struct {
    bool kkeys, tkeys, negated;
} pg_extra;

/* The SQL of a search. Result columns: id, path, title, trashed, score
 * (x 1e9), then rowid (SQLite) or snippet (PostgreSQL), then how many
 * candidates the main branch found (up to STORE_SEARCH_CANDIDATES + 1: the
 * match count, "more" past the cap). */
static void search_sql(store *st, bool trashed, const pg_extra *x, char *sql, size_t n) {
    char where[160];
    /* $1 expression, $2 vault, $3 and $4 the path range, $5 limit, $6
     * offset, $7 the title expression (SQLite) or the keys of the main
     * branch (PostgreSQL), $8 the keys of the title branch (PostgreSQL). */
    snprintf(where, sizeof(where), "d.vault = $2%s AND d.path >= $3 AND d.path < $4",
             trashed ? "" : " AND d.trashed = 0");
    if (is_sqlite(st)) {
        char c[512], t[512];
        sq_candidates(c, sizeof(c), "$1", where, STORE_SEARCH_CANDIDATES + 1);
        sq_candidates(t, sizeof(t), "$7", where, TITLE_CANDIDATES);
        snprintf(sql, n,
                 "WITH c AS MATERIALIZED (%s), t AS MATERIALIZED (%s),"
                 " m AS (SELECT r, max(score) AS score FROM"
                 " (SELECT r, score FROM c UNION ALL SELECT r, score FROM t) GROUP BY r)"
                 " SELECT d.id, d.path, d.title, d.trashed,"
                 " CAST(m.score * 1000000000 AS INTEGER), d.rowid, (SELECT count(*) FROM c)"
                 " FROM m JOIN search_docs d ON d.rowid = m.r"
                 " ORDER BY m.score DESC, d.path, d.id LIMIT $5 OFFSET $6",
                 c, t);
    } else {
        /* The main branch: with keys, the notes that hold them (a fence:
         * found through the keys index alone), each checked against the
         * query; without, the query's own index. */
        char b[640];
        if (x->kkeys)
            snprintf(b, sizeof(b),
                     "SELECT s.id FROM (SELECT d.id, d.tsv FROM search_docs d"
                     " WHERE d.keys @> $7::int[] AND %s OFFSET 0) s"
                     " WHERE s.tsv @@ to_tsquery('vault_search', $1)",
                     where);
        else
            snprintf(b, sizeof(b),
                     "SELECT d.id FROM search_docs d"
                     " WHERE d.tsv @@ to_tsquery('vault_search', $1) AND %s",
                     where);
        /* The tsquery is written out in each branch (not read from q) so
         * that the planner sees it and estimates how many notes match: a
         * query most notes match is then read in table order until enough
         * are found, instead of building a bitmap of every match. The
         * title branch's subquery is a fence (OFFSET 0): its candidates are
         * found through the title index alone, the whole note checked only
         * for excluded words. q names $7 and $8 even when no branch uses
         * them, so that PostgreSQL knows their type. */
        snprintf(sql, n,
                 STORE_SQL_UNPREPARED
                 "WITH q AS (SELECT to_tsquery('vault_search', $1) AS q, $7::int[] AS k,"
                 " $8::int[] AS tk),"
                 " b AS MATERIALIZED (%s LIMIT %d),"
                 " t AS MATERIALIZED (SELECT s.id FROM (SELECT d.id, d.tsv FROM search_docs d"
                 " WHERE d.ttsv @@ to_tsquery('vault_search', $1)%s AND %s OFFSET 0) s%s"
                 " LIMIT %d),"
                 " c AS (SELECT id FROM b UNION SELECT id FROM t),"
                 " h AS (SELECT d.id, d.path, d.title, d.trashed, ts_rank(d.tsv, q.q) AS rank"
                 " FROM c JOIN search_docs d ON d.id = c.id CROSS JOIN q"
                 " ORDER BY rank DESC, d.path, d.id LIMIT $5 OFFSET $6)"
                 " SELECT h.id, h.path, h.title, h.trashed, (h.rank * 1000000000)::bigint,"
                 " ts_headline('vault_search', d.body, q.q, 'StartSel=\u00ab, StopSel=\u00bb,"
                 " MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=\" \u2026 \"'),"
                 " (SELECT count(*) FROM b)"
                 " FROM h JOIN search_docs d ON d.id = h.id CROSS JOIN q"
                 " ORDER BY h.rank DESC, h.path, h.id",
                 b, STORE_SEARCH_CANDIDATES + 1, x->tkeys ? " AND d.keys @> $8::int[]" : "", where,
                 x->negated ? " WHERE s.tsv @@ to_tsquery('vault_search', $1)" : "",
                 TITLE_CANDIDATES);
    }
}

/* True when every byte of w is an ASCII letter or digit: such a word is
 * exactly one lexeme for vault_search. */
static bool ascii_word(const char *w) {
    for (; *w; w++)
        if (!((*w >= '0' && *w <= '9') || (*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z')))
            return false;
    return true;
}

/* Appends s as an element of a text[] literal (s holds no quote nor
 * backslash: ASCII letters, digits and spaces). */
static void arr_add(sbuf *arr, size_t *n, const char *s) {
    sb_str(arr, (*n)++ > 0 ? ",\"" : "\"");
    sb_str(arr, s);
    sb_str(arr, "\"");
}

struct pg_keys_out {
    char *k, *t;
};

static int row_keys(store *st, store_rows *r, void *ctx) {
    struct pg_keys_out *o = ctx;
    free(o->k);
    free(o->t);
    o->k = col_dup(st, r, 0);
    o->t = col_dup(st, r, 1);
    return o->k == NULL || o->t == NULL ? STORE_ENOMEM : STORE_OK;
}

/* PostgreSQL: the keys of q (see migration 7) as int[] literals, computed
 * by the server as its indexer does (they hash its lexemes): *kkeys for the
 * main branch (the pairs of every phrase; the key of every prefix of 2 to
 * 4 characters), *tkeys for the title branch (the title pairs of every
 * phrase); "{}" when there are none. Only words of ASCII letters and digits
 * make keys: each is exactly one lexeme, so the pairs of a phrase are the
 * pairs its keys hash. Other phrases, and longer prefixes (whose notes a
 * key of 4 characters would only narrow, not find), are matched without:
 * slower, and still right. On STORE_OK both are malloc'ed (caller frees);
 * otherwise neither is set. */
static int pg_keys(store *st, const squery *q, char **kkeys, char **tkeys) {
    sbuf phrases = {0}, prefixes = {0};
    size_t nphrases = 0, nprefixes = 0;
    sb_str(&phrases, "{");
    sb_str(&prefixes, "{");
    for (size_t i = 0; i < q->nterms; i++) {
        const squery_term *t = &q->terms[i];
        if (t->negated) continue;
        if (t->nwords == 1 && t->prefix) {
            size_t len = strlen(t->words[0]);
            if (len >= 2 && len <= 4 && ascii_word(t->words[0]))
                arr_add(&prefixes, &nprefixes, t->words[0]);
            continue;
        }
        size_t whole = t->nwords - (t->prefix ? 1 : 0);
        bool ascii = whole >= 2;
        for (size_t k = 0; k < whole && ascii; k++) ascii = ascii_word(t->words[k]);
        if (!ascii) continue;
        sb_str(&phrases, nphrases++ > 0 ? ",\"" : "\"");
        for (size_t k = 0; k < whole; k++) {
            if (k > 0) sb_str(&phrases, " ");
            sb_str(&phrases, t->words[k]);
        }
        sb_str(&phrases, "\"");
    }
    sb_str(&phrases, "}");
    sb_str(&prefixes, "}");
    struct pg_keys_out o = {NULL, NULL};
    int err = STORE_OK;
    if (phrases.failed || prefixes.failed) {
        err = STORE_ENOMEM;
    } else if (nphrases == 0 && nprefixes == 0) {
        o.k = strdup("{}");
        o.t = strdup("{}");
        if (o.k == NULL || o.t == NULL) err = STORE_ENOMEM;
    } else {
        store_arg a[] = {A_TEXT(phrases.p), A_TEXT(prefixes.p)};
        err = store__read(
            st,
            "WITH p AS (SELECT to_tsvector('vault_search', p) AS v FROM unnest($1::text[]) p)"
            " SELECT (SELECT coalesce(array_agg(DISTINCT k), '{}') FROM"
            " (SELECT unnest(vault_search_keys(p.v, '')) AS k FROM p UNION ALL"
            " SELECT hashtext('p' || u.lexeme) FROM unnest($2::text[]) w,"
            " unnest(to_tsvector('vault_search', w)) u) s)::text,"
            " (SELECT coalesce(array_agg(DISTINCT k), '{}') FROM"
            " (SELECT unnest(vault_search_keys(p.v, 't')) AS k FROM p) s)::text",
            a, NARGS(a), row_keys, &o, NULL);
        if (err == STORE_OK && (o.k == NULL || o.t == NULL)) err = STORE_EIO;
    }
    free(phrases.p);
    free(prefixes.p);
    if (err != STORE_OK) {
        free(o.k);
        free(o.t);
        return err;
    }
    *kkeys = o.k;
    *tkeys = o.t;
    return STORE_OK;
}

int store_search(store *st, const store_search_req *req, store_search_hit **out, size_t *n,
                 int64_t *total) {
    if (st == NULL || req == NULL || !store__id_ok(req->vault) || req->q == NULL ||
        req->q->nterms == 0 || req->limit == 0 || req->limit > MAX_LIMIT ||
        req->offset > STORE_SEARCH_CANDIDATES || out == NULL || n == NULL || total == NULL ||
        (req->path_prefix != NULL && !store__text_ok(req->path_prefix)))
        return STORE_EINVAL;
    const char *prefix = req->path_prefix != NULL ? req->path_prefix : "";
    char *upper = NULL, *kkeys = NULL, *tkeys = NULL;
    sbuf expr = {0}, texpr = {0};
    struct hits h = {0};
    pg_extra x = {false, false, false};
    char sql[4096];
    int err = store__prefix_upper(prefix, &upper);
    if (err != STORE_OK) return err;
    if (is_sqlite(st)) {
        fts5_expr(&expr, req->vault, req->q, false);
        fts5_expr(&texpr, req->vault, req->q, true);
    } else {
        ts_expr(&expr, req->q);
        sb_str(&texpr, "");
        err = pg_keys(st, req->q, &kkeys, &tkeys);
        if (err != STORE_OK) goto out;
        x.kkeys = strcmp(kkeys, "{}") != 0;
        x.tkeys = strcmp(tkeys, "{}") != 0;
        for (size_t i = 0; i < req->q->nterms; i++) x.negated |= req->q->terms[i].negated;
    }
    if (expr.failed || texpr.failed) {
        err = STORE_ENOMEM;
        goto out;
    }
    /* No upper bound: "0" is above every path, as every path starts with '/'. */
    store_arg a[] = {A_TEXT(expr.p),
                     A_TEXT(req->vault),
                     A_TEXT(prefix),
                     A_TEXT(upper != NULL ? upper : "0"),
                     A_INT(req->limit),
                     A_INT(req->offset),
                     A_TEXT(is_sqlite(st) ? texpr.p : kkeys),
                     A_TEXT(tkeys)};
    search_sql(st, req->trashed, &x, sql, sizeof(sql));
    err = store__read(st, sql, a, is_sqlite(st) ? 7 : 8, row_hit, &h, NULL);
    if (err == STORE_OK && h.n == 0) {
        /* No row to carry the count (no match, or past the last page):
         * count apart, up to one past the candidates. */
        char where[160];
        snprintf(where, sizeof(where), "d.vault = $2%s AND d.path >= $3 AND d.path < $4",
                 req->trashed ? "" : " AND d.trashed = 0");
        if (is_sqlite(st))
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM (SELECT 1 FROM search_fts f CROSS JOIN search_docs d"
                     " ON d.rowid = f.rowid WHERE search_fts MATCH $1 AND %s LIMIT %d)",
                     where, STORE_SEARCH_CANDIDATES + 1);
        else
            snprintf(sql, sizeof(sql),
                     STORE_SQL_UNPREPARED
                     "SELECT count(*) FROM (SELECT 1 FROM search_docs d WHERE d.tsv @@"
                     " to_tsquery('vault_search', $1)%s AND %s LIMIT %d) s",
                     x.kkeys ? " AND d.keys @> $5::int[]" : "", where, STORE_SEARCH_CANDIDATES + 1);
        store_arg ac[] = {a[0], a[1], a[2], a[3], A_TEXT(kkeys)};
        err = store__read(st, sql, ac, x.kkeys ? 5 : 4, row_count, &h.total, NULL);
    }
    for (size_t i = 0; err == STORE_OK && is_sqlite(st) && i < h.n; i++) {
        store_arg as[] = {A_TEXT(expr.p), A_INT(h.rowids[i])};
        err = store__read(st,
                          "SELECT snippet(search_fts, 3, '\u00ab', '\u00bb', '\u2026', 24)"
                          " FROM search_fts WHERE search_fts MATCH $1 AND rowid = $2",
                          as, NARGS(as), row_snippet, &h.items[i].snippet, NULL);
        if (err == STORE_OK && h.items[i].snippet == NULL) {
            h.items[i].snippet = strdup(""); /* removed meanwhile */
            if (h.items[i].snippet == NULL) err = STORE_ENOMEM;
        }
    }
out:
    free(upper);
    free(kkeys);
    free(tkeys);
    free(expr.p);
    free(texpr.p);
    free(h.rowids);
    if (err != STORE_OK) {
        store_search_hits_free(h.items, h.n);
        return err;
    }
    *out = h.items;
    *n = h.n;
    *total = h.total;
    return STORE_OK;
}

/* SQLite: one segment per index. PostgreSQL: the entries waiting in the
 * GIN indexes' pending lists (fastupdate; every query scans them, up to
 * 4 MB each after a bulk load) moved into the indexes, then statistics. */
static int optimize_run(store *st, store_conn *c, void *arg) {
    (void)arg;
    return store__conn_exec(st, c,
                            is_sqlite(st)
                                ? "INSERT INTO search_fts(search_fts) VALUES('optimize')"
                                : "SELECT gin_clean_pending_list('search_docs_tsv'::regclass),"
                                  " gin_clean_pending_list('search_docs_ttsv'::regclass),"
                                  " gin_clean_pending_list('search_docs_keys'::regclass);"
                                  "ANALYZE search_docs");
}

int store_search_optimize(store *st) {
    if (st == NULL) return STORE_EINVAL;
    return write_txn(st, optimize_run, NULL);
}
