/*
 * srank.c - vault_rank, the FTS5 ranking function (see srank.h).
 *
 * Per query (FTS5 auxiliary data, freed with the cursor): the average
 * weighted note length and each phrase's inverse document frequency,
 * computed the first time a row holds that phrase in a weighted column.
 * Per row: the weighted count of each phrase's instances and the note's
 * weighted length, then the BM25 sum.
 */
#include "store/srank.h"

#include "store/skeys.h"

#include <math.h>
#include <string.h>

#define K1 1.2
#define B  0.75

typedef struct {
    int nphrase;
    sqlite3_int64 nrow;
    double avgdl;
    double *idf;  /* per phrase; < 0 until computed */
    double *freq; /* per phrase, this row's weighted instances */
} rank_data;

static int count_row(const Fts5ExtensionApi *api, Fts5Context *fts, void *arg) {
    (void)api;
    (void)fts;
    (*(sqlite3_int64 *)arg)++;
    return SQLITE_OK;
}

static double weight(int nval, sqlite3_value **val, int col) {
    return col < nval ? sqlite3_value_double(val[col]) : 1.0;
}

/* The per-query data, made on the first row. NULL when out of memory or
 * when FTS5 fails (*rc says which). */
static rank_data *query_data(const Fts5ExtensionApi *api, Fts5Context *fts, int nval,
                             sqlite3_value **val, int *rc) {
    rank_data *d = api->xGetAuxdata(fts, 0);
    if (d != NULL) return d;
    int nphrase = api->xPhraseCount(fts);
    d = sqlite3_malloc64(sizeof(*d) + 2 * sizeof(double) * (size_t)(nphrase > 0 ? nphrase : 1));
    if (d == NULL) {
        *rc = SQLITE_NOMEM;
        return NULL;
    }
    d->nphrase = nphrase;
    d->idf = (double *)(d + 1);
    d->freq = d->idf + nphrase;
    for (int i = 0; i < nphrase; i++) d->idf[i] = -1.0;
    sqlite3_int64 total = 0;
    *rc = api->xRowCount(fts, &d->nrow);
    for (int c = 0; *rc == SQLITE_OK && c < api->xColumnCount(fts); c++) {
        if (weight(nval, val, c) <= 0.0) continue;
        sqlite3_int64 n = 0;
        *rc = api->xColumnTotalSize(fts, c, &n);
        total += n;
    }
    if (*rc == SQLITE_OK)
        *rc = api->xSetAuxdata(fts, d, sqlite3_free);
    else
        sqlite3_free(d);
    if (*rc != SQLITE_OK) return NULL; /* xSetAuxdata frees d when it fails */
    d->avgdl = d->nrow > 0 && total > 0 ? (double)total / (double)d->nrow : 1.0;
    return d;
}

/* Inverse document frequency of phrase p, as bm25() computes it (never
 * below 1e-6, so that a word in most notes still counts a little). */
static int phrase_idf(const Fts5ExtensionApi *api, Fts5Context *fts, rank_data *d, int p) {
    if (d->idf[p] >= 0.0) return SQLITE_OK;
    sqlite3_int64 nhit = 0;
    if (api->xPhraseSize(fts, p) == 1) {
        int rc = api->xQueryPhrase(fts, p, &nhit, count_row);
        if (rc != SQLITE_OK) return rc;
    }
    double n = (double)d->nrow, idf = log((n - (double)nhit + 0.5) / ((double)nhit + 0.5));
    d->idf[p] = idf > 1e-6 ? idf : 1e-6;
    return SQLITE_OK;
}

static void vault_rank(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                       int nval, sqlite3_value **val) {
    int rc = SQLITE_OK;
    rank_data *d = query_data(api, fts, nval, val, &rc);
    if (d == NULL) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    memset(d->freq, 0, sizeof(double) * (size_t)d->nphrase);
    int ninst = 0;
    rc = api->xInstCount(fts, &ninst);
    for (int i = 0; rc == SQLITE_OK && i < ninst; i++) {
        int p, col, off;
        rc = api->xInst(fts, i, &p, &col, &off);
        if (rc == SQLITE_OK && p >= 0 && p < d->nphrase) d->freq[p] += weight(nval, val, col);
    }
    double dl = 0.0;
    for (int c = 0; rc == SQLITE_OK && c < api->xColumnCount(fts); c++) {
        if (weight(nval, val, c) <= 0.0) continue;
        int n = 0;
        rc = api->xColumnSize(fts, c, &n);
        dl += n;
    }
    double score = 0.0;
    for (int p = 0; rc == SQLITE_OK && p < d->nphrase; p++) {
        double f = d->freq[p];
        if (f <= 0.0) continue;
        rc = phrase_idf(api, fts, d, p);
        score += d->idf[p] * f * (K1 + 1.0) / (f + K1 * (1.0 - B + B * dl / d->avgdl));
    }
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    sqlite3_result_double(ctx, score);
}

int srank_register(sqlite3 *db) {
    fts5_api *api = skeys_fts5(db);
    if (api == NULL) return SRANK_EIO;
    return api->xCreateFunction(api, "vault_rank", NULL, vault_rank, NULL) == SQLITE_OK ? SRANK_OK
                                                                                        : SRANK_EIO;
}
