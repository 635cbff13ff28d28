/*
 * search_bench.c - the C side of `make bench-search` (bench/search.sh).
 *
 *   search_bench gen WHERE N        creates a user, a vault and N generated
 *                                   notes of about 5 KB of Markdown each,
 *                                   written through the store API exactly as
 *                                   vaultd writes a note: the note's CRDT
 *                                   update in its log, its projection row and
 *                                   a note.created outbox event, 500 notes
 *                                   per transaction. Prints the vault id.
 *   search_bench query WHERE VAULT N  runs N queries of each kind (word,
 *                                   prefix, phrase) through store_search (the
 *                                   code behind GET .../search, without
 *                                   HTTP), 20 results with snippets each,
 *                                   and prints p50/p99 per kind and overall.
 *                                   With BENCH_SHOW_SLOW_MS=T in the
 *                                   environment, every query that took T ms
 *                                   or more is printed on stderr.
 *
 * WHERE is a data directory (SQLite) or a postgres:// URL. The text is
 * deterministic: note k is generated from seed k, over a vocabulary of
 * VOCAB made-up words drawn with a Zipf distribution (s = 1), as words are
 * in real text. Queries pick words of rank RANK_MIN..VOCAB uniformly (the
 * 50 most common words are in nearly every note, as "the" is; searching for
 * them is not what people do), prefixes are the first 4 letters of such a
 * word, phrases are two neighbouring words of a random generated note.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crdt/crdt.h"
#include "store/store.h"
#include "util/squery.h"

#define VOCAB      30000
#define RANK_MIN   50
#define NOTE_BYTES 5000
#define BATCH      500

static char *vocab[VOCAB];
static double zipf_cdf[VOCAB];

static uint64_t rng_state;
static uint64_t rng(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static void seed(uint64_t s) { rng_state = s * 0x9e3779b97f4a7c15ULL + 1; }
static double unit(void) { return (double)(rng() >> 11) / 9007199254740992.0; }

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Made-up words of 2 to 4 syllables; rank i is vocab[i]. */
static void make_vocab(void) {
    static const char *const syl[] = {"ka",  "lo",  "mi", "ru",  "te",  "san", "vo",  "bel",
                                      "dri", "po",  "na", "gu",  "fe",  "zor", "qui", "lam",
                                      "ter", "ox",  "ba", "ne",  "chi", "wu",  "rex", "ta",
                                      "mo",  "lin", "ve", "sha", "pri", "dun", "ek",  "ju"};
    size_t nsyl = sizeof(syl) / sizeof(syl[0]);
    seed(424242);
    double total = 0;
    for (int i = 0; i < VOCAB; i++) {
        char w[32];
        int tries = 0;
        for (;;) {
            int n = 2 + (int)(rng() % 3);
            w[0] = '\0';
            for (int k = 0; k < n; k++) strcat(w, syl[rng() % nsyl]);
            /* unique: a linear check is fine at this size only with a
             * cheap filter; accept rare duplicates after a few tries */
            int dup = 0;
            for (int j = i - 1; j >= 0 && j >= i - 64; j--) dup |= strcmp(vocab[j], w) == 0;
            if (!dup || ++tries > 4) break;
        }
        vocab[i] = strdup(w);
        total += 1.0 / (i + 1);
        zipf_cdf[i] = total;
    }
    for (int i = 0; i < VOCAB; i++) zipf_cdf[i] /= total;
}

static const char *zipf_word(void) {
    double u = unit();
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return vocab[lo];
}

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const char *s) {
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* Note k's Markdown into b; its words in order into words (up to max). */
static size_t gen_note(uint64_t k, buf *b, const char **words, size_t max) {
    size_t nw = 0;
    b->len = 0;
    put(b, "");
    seed(k + 1);
    put(b, "# ");
    for (int i = 0; i < 3; i++) {
        const char *w = zipf_word();
        put(b, w);
        put(b, i < 2 ? " " : "\n\n");
    }
    while (b->len < NOTE_BYTES) {
        int kind = (int)(rng() % 10);
        if (kind == 0) put(b, "## ");
        if (kind == 1) put(b, "- ");
        int n = kind <= 1 ? 4 + (int)(rng() % 4) : 30 + (int)(rng() % 40);
        for (int i = 0; i < n; i++) {
            const char *w = zipf_word();
            int deco = (int)(rng() % 40);
            if (deco == 0) put(b, "**");
            if (deco == 1) put(b, "[");
            if (deco == 2) put(b, "`");
            put(b, w);
            if (deco == 0) put(b, "**");
            if (deco == 1) put(b, "](https://example.com/page)");
            if (deco == 2) put(b, "`");
            /* Neighbours across decorations are still neighbours as words. */
            if (words != NULL && nw < max) words[nw++] = w;
            put(b, i + 1 < n ? (rng() % 12 == 0 ? ", " : " ") : ".\n\n");
        }
    }
    return nw;
}

static int fail(const char *what, int err) {
    fprintf(stderr, "search_bench: %s: %s\n", what, store_strerror(err));
    return 1;
}

static void hex_id(uint64_t a, uint64_t b, char out[33]) {
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

static int gen(store *st, long n) {
    int64_t user;
    char email[64], vault[33];
    uint64_t run = (uint64_t)time(NULL);
    snprintf(email, sizeof(email), "bench-%llu@example.test", (unsigned long long)run);
    int err = store_user_create(st, email, "Bench", "$argon2id$bench", 1, &user);
    if (err != STORE_OK) return fail("user", err);
    hex_id(run, 0xbe1c, vault);
    err = store_vault_create(st, vault, "Bench", user, 1);
    if (err != STORE_OK) return fail("vault", err);
    buf b = {0};
    double t0 = now_ms();
    size_t bytes = 0;
    for (long base = 0; base < n; base += BATCH) {
        store_txn *t = store_txn_new();
        for (long k = base; k < n && k < base + BATCH; k++) {
            gen_note((uint64_t)k, &b, NULL, 0);
            bytes += b.len;
            ydoc_options opt = {.gc = false};
            ydoc *doc = ydoc_new(&opt);
            ytxn *tx = ydoc_begin(doc, NULL);
            ytext_insert(tx, ydoc_get(doc, "content", YTYPE_TEXT), 0, b.p, b.len, NULL, 0);
            ytxn_commit(tx);
            uint8_t *u = NULL;
            size_t ulen = 0;
            if (ydoc_encode_state_as_update(doc, NULL, 0, &u, &ulen) != Y_OK) {
                fprintf(stderr, "search_bench: encode failed\n");
                return 1;
            }
            ydoc_free(doc);
            char id[33], path[64], title[64], ev[64];
            hex_id(run, (uint64_t)k + 1, id);
            snprintf(path, sizeof(path), "/Folder%02ld/Note %06ld.md", k % 50, k);
            const char *nl = strchr(b.p + 2, '\n');
            snprintf(title, sizeof(title), "%.*s", (int)(nl - b.p - 2), b.p + 2);
            snprintf(ev, sizeof(ev), "{\"id\":\"%s\"}", id);
            store_file f = {
                .path = path, .title = title, .is_note = true, .created = 1, .updated = 1};
            memcpy(f.id, id, 33);
            memcpy(f.vault, vault, 33);
            if (store_txn_append_update(t, vault, id, u, ulen) != STORE_OK ||
                store_txn_put_file(t, &f) != STORE_OK ||
                store_txn_event(t, vault, "note.created", ev) != STORE_OK) {
                fprintf(stderr, "search_bench: bad transaction step\n");
                return 1;
            }
            yfree(u);
        }
        err = store_commit(st, t, NULL);
        if (err != STORE_OK) return fail("commit", err);
        if ((base / BATCH) % 20 == 19)
            fprintf(stderr, "  %ld notes (%.0f s)\n", base + BATCH, (now_ms() - t0) / 1e3);
    }
    free(b.p);
    fprintf(stderr, "generated %ld notes, %.1f MB of Markdown, in %.1f s\n", n, bytes / 1e6,
            (now_ms() - t0) / 1e3);
    printf("%s\n", vault);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
    size_t i = (size_t)ceil(p * (double)n) - 1;
    return v[i < n ? i : n - 1];
}

static int query(store *st, const char *vault, int n) {
    static const char *const kinds[] = {"word", "prefix", "phrase"};
    double *all = malloc(sizeof(double) * (size_t)n * 3);
    double *allcpu = malloc(sizeof(double) * (size_t)n * 3);
    size_t nall = 0;
    long hits_total = 0;
    buf b = {0};
    const char *words[2048];
    const char *slow_env = getenv("BENCH_SHOW_SLOW_MS");
    double show_slow = slow_env != NULL ? atof(slow_env) : 0;
    seed((uint64_t)time(NULL));
    uint64_t qseed = rng();
    for (int kind = 0; kind < 3; kind++) {
        double *lat = malloc(sizeof(double) * (size_t)n);
        double *cpu = malloc(sizeof(double) * (size_t)n);
        for (int i = 0; i < n; i++) {
            char q[256];
            rng_state = qseed + (uint64_t)(kind * 1000003 + i);
            uint64_t r1 = rng(), r2 = rng();
            const char *w = vocab[RANK_MIN + r1 % (VOCAB - RANK_MIN)];
            if (kind == 0) {
                snprintf(q, sizeof(q), "%s", w);
            } else if (kind == 1) {
                snprintf(q, sizeof(q), "%.4s*", w);
            } else {
                size_t nw = gen_note(r1 % 100000, &b, words, 2048);
                size_t at = r2 % (nw - 1);
                snprintf(q, sizeof(q), "\"%s %s\"", words[at], words[at + 1]);
            }
            squery sq;
            char err[160];
            if (squery_parse(q, strlen(q), &sq, err, sizeof(err)) != SQUERY_OK) {
                fprintf(stderr, "search_bench: query %s: %s\n", q, err);
                return 1;
            }
            store_search_req req = {.vault = vault, .q = &sq, .limit = 20};
            store_search_hit *hits = NULL;
            size_t nh = 0;
            int64_t total = 0;
            double t0 = now_ms(), c0 = cpu_ms();
            int rc = store_search(st, &req, &hits, &nh, &total);
            double ms = now_ms() - t0, cms = cpu_ms() - c0;
            squery_release(&sq);
            if (rc != STORE_OK) return fail(q, rc);
            if (show_slow > 0 && ms >= show_slow)
                fprintf(stderr, "slow query %s: %.2f ms, %lld matches\n", q, ms, (long long)total);
            hits_total += total;
            store_search_hits_free(hits, nh);
            lat[i] = ms;
            cpu[i] = cms;
            allcpu[nall] = cms;
            all[nall++] = ms;
        }
        qsort(lat, (size_t)n, sizeof(double), cmp_double);
        qsort(cpu, (size_t)n, sizeof(double), cmp_double);
        printf("query %-6s n=%d p50=%.2f ms p99=%.2f ms max=%.2f ms (this process's CPU: p50 %.2f"
               " ms, p99 %.2f ms)\n",
               kinds[kind], n, pct(lat, (size_t)n, 0.5), pct(lat, (size_t)n, 0.99), lat[n - 1],
               pct(cpu, (size_t)n, 0.5), pct(cpu, (size_t)n, 0.99));
        free(lat);
        free(cpu);
    }
    qsort(all, nall, sizeof(double), cmp_double);
    qsort(allcpu, nall, sizeof(double), cmp_double);
    printf("query all    n=%zu p50=%.2f ms p99=%.2f ms (CPU p50 %.2f ms, p99 %.2f ms; mean"
           " matches per query %.0f, counted up to 1001)\n",
           nall, pct(all, nall, 0.5), pct(all, nall, 0.99), pct(allcpu, nall, 0.5),
           pct(allcpu, nall, 0.99), (double)hits_total / (double)nall);
    free(all);
    free(allcpu);
    free(b.p);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "gen") != 0 && strcmp(argv[1], "query") != 0) ||
        (strcmp(argv[1], "query") == 0 && argc < 5)) {
        fprintf(stderr, "usage: search_bench gen WHERE N | search_bench query WHERE VAULT N\n");
        return 2;
    }
    make_vocab();
    store *st = NULL;
    char err[512];
    int rc = store_open(argv[2], &st, err, sizeof(err));
    if (rc != STORE_OK) {
        fprintf(stderr, "search_bench: %s\n", err);
        return 1;
    }
    if (strcmp(argv[1], "gen") == 0)
        rc = gen(st, atol(argv[3]));
    else
        rc = query(st, argv[3], atoi(argv[4]));
    store_close(st);
    return rc;
}
