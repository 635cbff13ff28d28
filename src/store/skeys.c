/*
 * skeys.c - phrase keys of the SQLite search index (see skeys.h).
 *
 * The words come from FTS5's unicode61 tokenizer, found through the
 * fts5_api of a private in-memory connection (the tokenizer is the same
 * code whichever connection hands it out; each call creates its own
 * instance, so calls from several threads never share state).
 */
#include "store/skeys.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t tok_once = PTHREAD_ONCE_INIT;
static sqlite3 *tok_db; /* kept for the life of the process */
static fts5_tokenizer tok_api;
static void *tok_user;
static bool tok_ready;

fts5_api *skeys_fts5(sqlite3 *db) {
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return api;
}

static void tok_open(void) {
    if (sqlite3_open_v2(":memory:", &tok_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK)
        return;
    fts5_api *api = skeys_fts5(tok_db);
    if (api != NULL && api->xFindTokenizer(api, "unicode61", &tok_user, &tok_api) == SQLITE_OK)
        tok_ready = true;
}

/* ---- hashing ---------------------------------------------------------------- */

/* 64-bit FNV-1a of a, a byte that UTF-8 never holds, and b, then mixed so
 * that every bit of the key depends on every byte. */
static uint64_t pair_hash(const char *a, size_t alen, const char *b, size_t blen) {
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < alen; i++) h = (h ^ (unsigned char)a[i]) * 1099511628211u;
    h = (h ^ 0xffu) * 1099511628211u;
    for (size_t i = 0; i < blen; i++) h = (h ^ (unsigned char)b[i]) * 1099511628211u;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return h;
}

/* The key of hash h: "k" (any text) or "t" (title or path) and 12 digits. */
static void key_text(char kind, uint64_t h, char out[SKEYS_KEY_LEN + 1]) {
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz234567";
    out[0] = kind;
    for (int i = 1; i < SKEYS_KEY_LEN; i++) {
        out[i] = digits[h & 31];
        h >>= 5;
    }
    out[SKEYS_KEY_LEN] = '\0';
}

/* ---- walking the words ------------------------------------------------------ */

typedef struct {
    char *prev; /* the previous word of this text, folded */
    size_t prev_len, prev_cap;
    bool have_prev;
    bool failed;
    void (*emit)(void *ctx, uint64_t h);
    void *ctx;
} walk;

static int on_token(void *p, int tflags, const char *tok, int ntok, int start, int end) {
    (void)start;
    (void)end;
    walk *w = p;
    if (tflags & FTS5_TOKEN_COLOCATED) return SQLITE_OK; /* same position: not a neighbour */
    size_t n = (size_t)ntok;
    if (w->have_prev) w->emit(w->ctx, pair_hash(w->prev, w->prev_len, tok, n));
    if (w->failed) return SQLITE_NOMEM;
    if (n > w->prev_cap) {
        size_t cap = n < 64 ? 64 : n;
        char *q = realloc(w->prev, cap);
        if (q == NULL) {
            w->failed = true;
            return SQLITE_NOMEM;
        }
        w->prev = q;
        w->prev_cap = cap;
    }
    memcpy(w->prev, tok, n);
    w->prev_len = n;
    w->have_prev = true;
    return SQLITE_OK;
}

/* Calls w->emit for every neighbouring pair of text[0..len). */
static int walk_text(walk *w, const char *text, size_t len) {
    pthread_once(&tok_once, tok_open);
    if (!tok_ready) return SKEYS_EIO;
    if (len == 0) return SKEYS_OK;
    if (len > INT32_MAX) len = INT32_MAX;
    const char *args[] = {"remove_diacritics", "2"};
    Fts5Tokenizer *t = NULL;
    int rc = tok_api.xCreate(tok_user, args, 2, &t);
    if (rc != SQLITE_OK) return rc == SQLITE_NOMEM ? SKEYS_ENOMEM : SKEYS_EIO;
    w->have_prev = false;
    rc = tok_api.xTokenize(t, w, FTS5_TOKENIZE_DOCUMENT, text, (int)len, on_token);
    tok_api.xDelete(t);
    if (w->failed || rc == SQLITE_NOMEM) return SKEYS_ENOMEM;
    return rc == SQLITE_OK ? SKEYS_OK : SKEYS_EIO;
}

/* ---- a note's keys ---------------------------------------------------------- */

/* Open addressing set of nonzero hashes (a zero hash is stored as 1: the
 * key of one pair in 2^64 moves, which is harmless). */
typedef struct {
    uint64_t *slot;
    size_t cap, n;
    bool failed;
} hset;

static void hset_add(void *ctx, uint64_t h) {
    hset *s = ctx;
    if (s->failed) return;
    if (h == 0) h = 1;
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *slot = calloc(cap, sizeof(*slot));
        if (slot == NULL) {
            s->failed = true;
            return;
        }
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slot[i] == 0) continue;
            size_t j = (size_t)s->slot[i] & (cap - 1);
            while (slot[j] != 0) j = (j + 1) & (cap - 1);
            slot[j] = s->slot[i];
        }
        free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    size_t j = (size_t)h & (s->cap - 1);
    while (s->slot[j] != 0) {
        if (s->slot[j] == h) return;
        j = (j + 1) & (s->cap - 1);
    }
    s->slot[j] = h;
    s->n++;
}

/* Writes the keys of set s with letter kind at *o in out. */
static void hset_write(const hset *s, char kind, char *out, size_t *o) {
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slot[i] == 0) continue;
        if (*o > 0) out[(*o)++] = ' ';
        key_text(kind, s->slot[i], out + *o);
        *o += SKEYS_KEY_LEN;
    }
}

int skeys_doc(const char *const *texts, const size_t *lens, size_t n, size_t ntitle, char **out) {
    hset any = {0}, title = {0};
    walk w = {.emit = hset_add};
    int err = SKEYS_OK;
    for (size_t pass = 0; pass < 2; pass++) {
        /* pass 0: the keys of every text; pass 1: the title texts again */
        w.ctx = pass == 0 ? &any : &title;
        hset *set = w.ctx;
        for (size_t i = 0; i < (pass == 0 ? n : ntitle) && err == SKEYS_OK; i++) {
            err = walk_text(&w, texts[i] != NULL ? texts[i] : "", texts[i] != NULL ? lens[i] : 0);
            if (err == SKEYS_OK && set->failed) err = SKEYS_ENOMEM;
        }
    }
    free(w.prev);
    char *s = NULL;
    if (err == SKEYS_OK) {
        s = malloc((any.n + title.n) * (SKEYS_KEY_LEN + 1) + 1);
        if (s == NULL) err = SKEYS_ENOMEM;
    }
    if (err == SKEYS_OK) {
        size_t o = 0;
        hset_write(&any, 'k', s, &o);
        hset_write(&title, 't', s, &o);
        s[o] = '\0';
        *out = s;
    }
    free(any.slot);
    free(title.slot);
    return err;
}

/* ---- a phrase's keys -------------------------------------------------------- */

typedef struct {
    char kind;
    char (*keys)[SKEYS_KEY_LEN + 1];
    size_t max, n;
} klist;

static void klist_add(void *ctx, uint64_t h) {
    klist *k = ctx;
    if (h == 0) h = 1;
    if (k->n < k->max) key_text(k->kind, h, k->keys[k->n++]);
}

int skeys_phrase(const char *text, size_t len, bool title, char (*keys)[SKEYS_KEY_LEN + 1],
                 size_t max, size_t *nkeys) {
    klist k = {title ? 't' : 'k', keys, max, 0};
    walk w = {.emit = klist_add, .ctx = &k};
    int err = walk_text(&w, text, len);
    free(w.prev);
    if (err == SKEYS_OK) *nkeys = k.n;
    return err;
}

/* ---- the SQL function ------------------------------------------------------- */

static void sql_keys(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    const char *texts[3];
    size_t lens[3];
    for (int i = 0; i < argc && i < 3; i++) {
        texts[i] = (const char *)sqlite3_value_text(argv[i]);
        lens[i] = (size_t)sqlite3_value_bytes(argv[i]);
        if (texts[i] == NULL) lens[i] = 0;
    }
    char *keys = NULL;
    int err = skeys_doc(texts, lens, (size_t)argc, 2, &keys);
    if (err == SKEYS_ENOMEM) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (err != SKEYS_OK) {
        sqlite3_result_error(ctx, "vault_search_keys: no FTS5 tokenizer", -1);
        return;
    }
    sqlite3_result_text(ctx, keys, -1, free);
}

int skeys_register(sqlite3 *db) {
    int rc =
        sqlite3_create_function_v2(db, "vault_search_keys", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                   NULL, sql_keys, NULL, NULL, NULL);
    return rc == SQLITE_OK ? SKEYS_OK : rc == SQLITE_NOMEM ? SKEYS_ENOMEM : SKEYS_EIO;
}
