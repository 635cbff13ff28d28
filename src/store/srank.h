/*
 * srank.h - vault_rank, the FTS5 ranking function of the SQLite search
 * index: BM25 (k1 = 1.2, b = 0.75) over the columns given a weight, as
 * FTS5's bm25() computes it, but without its cost per query of counting,
 * for every phrase of the query, the notes that hold it by walking them all
 * (a phrase of two common words, or the vault filter, took 100 ms and more
 * on 100,000 notes just for that).
 *
 *   vault_rank(search_fts, w0, w1, ...)  weight of column i (missing: 1.0)
 *
 * Higher is better. What differs from bm25():
 * - a phrase is counted only once it is found in a column of weight > 0
 *   (the vault filter and the phrase keys, in columns of weight 0, never
 *   are: they cannot change a score);
 * - a phrase of several words is not counted at all but taken as rare
 *   (inverse document frequency of a phrase in no note): phrases are
 *   rarer than their words, and an exact phrase should weigh more than a
 *   word; with one phrase in the query this changes no order;
 * - a note's length is the number of words in the columns of weight > 0.
 */
#ifndef VN_SRANK_H
#define VN_SRANK_H

#include <sqlite3.h>

enum { SRANK_OK = 0, SRANK_EIO = -1 };

/* Registers vault_rank on db (an FTS5 auxiliary function, per
 * connection). */
int srank_register(sqlite3 *db);

#endif /* VN_SRANK_H */
