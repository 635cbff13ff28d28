/*
 * squery.c - the search query parser (see squery.h).
 *
 * One pass over the bytes: outside quotes a token runs to the next space
 * and may start with '-' and end with '*'; inside quotes everything to the
 * closing quote is one phrase, whose last word may end with '*'. Each
 * token's words are split at ASCII characters that are not letters or
 * digits. A token without any word (e.g. "--" or "...") is dropped.
 */
#include "util/squery.h"

#include "util/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool word_byte(unsigned char c) {
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool space_byte(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return SQUERY_ESYNTAX;
}

void squery_release(squery *q) {
    if (q == NULL) return;
    for (size_t i = 0; i < q->nterms; i++) {
        for (size_t k = 0; k < q->terms[i].nwords; k++) free(q->terms[i].words[k]);
        free(q->terms[i].words);
    }
    free(q->terms);
    q->terms = NULL;
    q->nterms = 0;
}

/* Code points in s[0..n) (valid UTF-8). */
static size_t chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/* Adds a term made of the words of t[0..n) to q. *total counts words. */
static int add_term(squery *q, const char *t, size_t n, bool prefix, bool negated, size_t *total,
                    char *err, size_t errlen) {
    squery_term term = {.prefix = prefix, .negated = negated};
    size_t cap = 0;
    int rc = SQUERY_OK;
    for (size_t i = 0; i < n && rc == SQUERY_OK;) {
        if (!word_byte((unsigned char)t[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < n && word_byte((unsigned char)t[i])) i++;
        if (i - start > SQUERY_MAX_WORD) {
            rc = fail(err, errlen, "A word is longer than %d bytes.", SQUERY_MAX_WORD);
            break;
        }
        if (++*total > SQUERY_MAX_WORDS) {
            rc = fail(err, errlen, "A query has at most %d words.", SQUERY_MAX_WORDS);
            break;
        }
        if (term.nwords == cap) {
            cap = cap ? cap * 2 : 4;
            char **w = realloc(term.words, cap * sizeof(*w));
            if (w == NULL) {
                rc = SQUERY_ENOMEM;
                break;
            }
            term.words = w;
        }
        char *w = malloc(i - start + 1);
        if (w == NULL) {
            rc = SQUERY_ENOMEM;
            break;
        }
        memcpy(w, t + start, i - start);
        w[i - start] = '\0';
        term.words[term.nwords++] = w;
    }
    if (rc == SQUERY_OK && term.nwords == 0) {
        if (prefix) rc = fail(err, errlen, "A '*' must follow at least 2 letters or digits.");
        free(term.words);
        return rc; /* nothing to search for in this token: dropped */
    }
    if (rc == SQUERY_OK && prefix) {
        const char *last = term.words[term.nwords - 1];
        /* The prefix must end the token: "a-b*" is fine, "ab-*" is not. */
        if (!word_byte((unsigned char)t[n - 1]) || chars(last, strlen(last)) < 2)
            rc = fail(err, errlen, "A '*' must follow at least 2 letters or digits.");
    }
    if (rc == SQUERY_OK) {
        squery_term *terms = realloc(q->terms, (q->nterms + 1) * sizeof(*terms));
        if (terms == NULL) {
            rc = SQUERY_ENOMEM;
        } else {
            q->terms = terms;
            q->terms[q->nterms++] = term;
            return SQUERY_OK;
        }
    }
    for (size_t k = 0; k < term.nwords; k++) free(term.words[k]);
    free(term.words);
    return rc;
}

int squery_parse(const char *q, size_t len, squery *out, char *err, size_t errlen) {
    if (q == NULL || out == NULL) return fail(err, errlen, "No query given.");
    if (len > SQUERY_MAX_BYTES)
        return fail(err, errlen, "A query is at most %d bytes long.", SQUERY_MAX_BYTES);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode((const unsigned char *)q, len, i, &cp);
        if (n == 0 || cp == 0) return fail(err, errlen, "The query is not valid UTF-8 text.");
        i += n;
    }
    squery res = {0};
    size_t total = 0;
    int rc = SQUERY_OK;
    size_t i = 0;
    while (i < len && rc == SQUERY_OK) {
        if (space_byte((unsigned char)q[i])) {
            i++;
            continue;
        }
        bool negated = false;
        if (q[i] == '-' && i + 1 < len && !space_byte((unsigned char)q[i + 1])) {
            negated = true;
            i++;
        }
        size_t start, end;
        bool prefix = false;
        if (q[i] == '"') {
            start = ++i;
            while (i < len && q[i] != '"') i++;
            if (i == len) {
                rc = fail(err, errlen, "A quote (\") is not closed.");
                break;
            }
            end = i++;
            if (i < len && !space_byte((unsigned char)q[i])) {
                rc = fail(err, errlen, "Put a space after a closing quote (\").");
                break;
            }
        } else {
            start = i;
            while (i < len && !space_byte((unsigned char)q[i]) && q[i] != '"') i++;
            if (i < len && q[i] == '"') {
                rc = fail(err, errlen, "A quote (\") must start a term.");
                break;
            }
            end = i;
        }
        if (end > start && q[end - 1] == '*') {
            prefix = true;
            end--;
        }
        if (memchr(q + start, '*', end - start) != NULL) {
            rc = fail(err, errlen, "A '*' may only end a word, as in proj*.");
            break;
        }
        rc = add_term(&res, q + start, end - start, prefix, negated, &total, err, errlen);
    }
    if (rc == SQUERY_OK) {
        bool positive = false;
        for (size_t k = 0; k < res.nterms; k++) positive |= !res.terms[k].negated;
        if (res.nterms == 0)
            rc = fail(err, errlen, "The query has no word to search for.");
        else if (!positive)
            rc = fail(err, errlen, "A query needs at least one term that is not excluded (-).");
    }
    if (rc != SQUERY_OK) {
        squery_release(&res);
        return rc;
    }
    *out = res;
    return SQUERY_OK;
}
