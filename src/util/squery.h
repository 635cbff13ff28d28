/*
 * squery.h - the search query language, parsed once and handed to the
 * store, which turns it into its own engine's syntax (FTS5 MATCH or a
 * PostgreSQL tsquery). Nothing a user types reaches an engine unparsed, so
 * a query error is a clear 400, never an SQL error.
 *
 * The language:
 *   word            notes containing the word (case and accents ignored)
 *   proj*           a word starting with "proj" (at least 2 characters before *)
 *   "exact words"   the words next to each other in this order ("exact wo*" too)
 *   -word, -"a b"   notes without it
 * Terms separated by spaces must all match. A word is a run of letters and
 * digits (any non-ASCII character counts as a letter); other ASCII
 * characters separate words, so "foo-bar" is the phrase "foo bar".
 *
 * Limits: at most SQUERY_MAX_BYTES bytes of valid UTF-8, SQUERY_MAX_WORDS
 * words in all, each at most SQUERY_MAX_WORD bytes.
 */
#ifndef VN_SQUERY_H
#define VN_SQUERY_H

#include <stdbool.h>
#include <stddef.h>

#define SQUERY_MAX_BYTES 1024
#define SQUERY_MAX_WORDS 32
#define SQUERY_MAX_WORD  128

typedef struct {
    char **words;  /* one word, or a phrase's words in order */
    size_t nwords; /* >= 1 */
    bool prefix;   /* the last word is a prefix */
    bool negated;  /* notes must NOT match this term */
} squery_term;

typedef struct {
    squery_term *terms;
    size_t nterms; /* >= 1, at least one not negated */
} squery;

enum { SQUERY_OK = 0, SQUERY_ESYNTAX = -1, SQUERY_ENOMEM = -2 };

/* Parses q[0..len). On SQUERY_OK fills *out (release it with
 * squery_release). On SQUERY_ESYNTAX writes a sentence for the user into
 * err (errlen bytes) and *out is untouched. */
int squery_parse(const char *q, size_t len, squery *out, char *err, size_t errlen);

/* Frees what a parse allocated; *q is zeroed. NULL is a no-op. */
void squery_release(squery *q);

#endif /* VN_SQUERY_H */
