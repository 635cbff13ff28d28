/*
 * mdtext.h - Markdown reduced to plain text, for the search index.
 *
 * The Markdown is parsed with md4c (CommonMark plus the GitHub extensions
 * and [[wiki links]]). What a reader sees as words stays: heading and
 * paragraph text, link and image texts (not their URLs), code spans and
 * code blocks, table cells, wiki link targets. Markup goes: emphasis marks,
 * list bullets, heading hashes, link destinations, raw HTML tags. Entities
 * become the character they name (the common named ones and every numeric
 * one); others become a space. Blocks end with a newline, line breaks stay
 * line breaks.
 */
#ifndef VN_MDTEXT_H
#define VN_MDTEXT_H

#include <stddef.h>

enum { MDTEXT_OK = 0, MDTEXT_ENOMEM = -1, MDTEXT_EPARSE = -2 };

/* Reduces md[0..len) to plain text. On MDTEXT_OK, *out is a NUL-terminated
 * malloc'd string of *out_len bytes that the caller frees with free(); on
 * error nothing is allocated. */
int mdtext_plain(const char *md, size_t len, char **out, size_t *out_len);

#endif /* VN_MDTEXT_H */
