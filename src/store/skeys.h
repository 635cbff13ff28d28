/*
 * skeys.h - phrase keys of the SQLite search index: one key per pair of
 * neighbouring words, so that a phrase query is found through the few notes
 * that hold its word pairs instead of walking the position lists of its
 * words through every note that has them all.
 *
 * A key is a word of its own ("k" then 12 lower-case base-32 digits of a
 * 64-bit hash of the two words), stored in the FTS5 column `keys` and
 * matched like any word. A pair in the title or path also has a "t" key
 * with the same digits, for the search of phrases in titles alone. Words are cut and folded by
 * FTS5's own unicode61 tokenizer with remove_diacritics 2, exactly as search_fts cuts them, so a
 * note in which FTS5 sees the phrase "a b" always holds the key of (a, b).
 * Keys only narrow a search: the query still matches the phrase itself, so
 * a hash collision costs time, never a wrong answer.
 *
 * Thread-safe: the tokenizer comes from a private in-memory SQLite
 * connection opened on first use.
 */
#ifndef VN_SKEYS_H
#define VN_SKEYS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#define SKEYS_KEY_LEN 13 /* "k" and 12 digits */

enum { SKEYS_OK = 0, SKEYS_ENOMEM = -1, SKEYS_EIO = -2 };

/* The keys of a note: the distinct pairs of neighbouring words within each
 * of texts[0..n) (lens[i] bytes each; pairs never span two texts), and the
 * "t" keys of the first ntitle texts, as one space-separated string. On
 * SKEYS_OK *out is malloc'ed (caller frees; "" when there are none);
 * otherwise *out is untouched. */
int skeys_doc(const char *const *texts, const size_t *lens, size_t n, size_t ntitle, char **out);

/* The keys of a phrase text[0..len) ("t" keys when title): its
 * neighbouring word pairs, in order, written into keys (room for max keys
 * of SKEYS_KEY_LEN + 1 bytes each, NUL-terminated). Pairs past max are
 * dropped (fewer keys narrow less, and are still right). *nkeys is how
 * many were written. */
int skeys_phrase(const char *text, size_t len, bool title, char (*keys)[SKEYS_KEY_LEN + 1],
                 size_t max, size_t *nkeys);

/* The FTS5 API of connection db (to register tokenizers and auxiliary
 * functions), or NULL when SQLite was built without FTS5. Owned by db. */
fts5_api *skeys_fts5(sqlite3 *db);

/* Registers the SQL function vault_search_keys(title, path, body) (the
 * keys of skeys_doc over the three texts, title and path being titles;
 * NULLs count as "") on db, for the migration that fills the column. */
int skeys_register(sqlite3 *db);

#endif /* VN_SKEYS_H */
