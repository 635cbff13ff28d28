/*
 * vpath.h - vault file paths: validation, normalization, prefixes, titles.
 *
 * Every file in a vault has a path like "/Projects/Q1/Design.md". Folders are
 * implicit: a folder exists while some path runs through it. The REST API,
 * the vault index and the folder-rename transaction all use this module, so
 * a path that passes vpath_validate() is safe to store, compare byte-wise,
 * show and map onto a local file system.
 *
 * The rules (a valid path):
 *  - is valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF);
 *  - starts with '/', and its segments are separated by single '/';
 *  - has no empty segment: no "//", and no trailing '/';
 *  - has no "." or ".." segment (names such as ".obsidian" or "..." are fine);
 *  - has no control character: U+0000-U+001F, U+007F, U+0080-U+009F;
 *  - has no backslash (it is a separator on Windows, so it is never a name);
 *  - has no segment that begins or ends with a space (invisible in a UI, and
 *    Windows drops trailing spaces); spaces inside a segment are fine;
 *  - is at most VPATH_MAX_LEN bytes, each segment at most VPATH_MAX_SEGMENT;
 *  - as a file path, is not "/" (the root is a folder). As a folder path, "/"
 *    is the root and is valid.
 * Any other Unicode is allowed, including emoji and right-to-left scripts.
 * Unicode normalization is NOT applied and not required: "Cafe" with U+00E9
 * as its last letter (NFC) and "Cafe" followed by U+0301 (NFD) are two
 * different paths; clients should send NFC. Case is significant.
 * Characters that only Windows forbids (<>:"|?*) are allowed; a client on
 * such a system maps them.
 *
 * Normalization does only what cannot change which file is meant, and
 * rejects everything else with a precise reason rather than guessing: it adds
 * the leading '/' to a relative path ("a/b.md" -> "/a/b.md", as every path is
 * relative to the vault root) and, for folders only, drops one trailing '/'
 * ("/Projects/" -> "/Projects"). It never collapses "//", resolves "." or
 * "..", trims spaces, or changes a character.
 *
 * Strings. Inputs from the network are (pointer, length) so that an embedded
 * NUL is seen and rejected; functions that take paths already validated take
 * NUL-terminated strings. Every string returned through `char **out` is
 * allocated with malloc, NUL-terminated, and freed by the caller with free();
 * on error *out is NULL.
 */
#ifndef VN_VPATH_H
#define VN_VPATH_H

#include <stdbool.h>
#include <stddef.h>

#define VPATH_MAX_LEN     1024 /* bytes in a whole path, leading '/' included */
#define VPATH_MAX_SEGMENT 255  /* bytes in one segment (a file or folder name) */
#define VPATH_TITLE_MAX   255  /* bytes in a title from vpath_title() */

typedef enum {
    VPATH_OK = 0,
    VPATH_ERR_NOMEM = -1,
    VPATH_ERR_INVALID = -2,           /* a NULL argument */
    VPATH_ERR_EMPTY = -3,             /* "" */
    VPATH_ERR_RELATIVE = -4,          /* does not start with '/' */
    VPATH_ERR_ROOT = -5,              /* "/" where a file path is needed */
    VPATH_ERR_EMPTY_SEGMENT = -6,     /* "//" */
    VPATH_ERR_TRAILING_SLASH = -7,    /* ends with '/' */
    VPATH_ERR_DOT_SEGMENT = -8,       /* a "." or ".." segment */
    VPATH_ERR_CONTROL = -9,           /* a control character */
    VPATH_ERR_BACKSLASH = -10,        /* a '\' */
    VPATH_ERR_UTF8 = -11,             /* not valid UTF-8 */
    VPATH_ERR_SPACE = -12,            /* a segment begins or ends with a space */
    VPATH_ERR_TOO_LONG = -13,         /* more than VPATH_MAX_LEN bytes */
    VPATH_ERR_SEGMENT_TOO_LONG = -14, /* a segment of more than VPATH_MAX_SEGMENT bytes */
    VPATH_ERR_NOT_UNDER = -15,        /* vpath_rebase(): the path is not under the old prefix */
} vpath_err;

typedef enum {
    VPATH_FILE,  /* a file path: "/" is refused */
    VPATH_FOLDER /* a folder path: "/" is the root */
} vpath_kind;

/* A one-sentence English reason for an error, for API error responses; never
 * NULL, static storage. */
const char *vpath_strerror(vpath_err err);

/* Checks path[0..len) against the rules above. Returns VPATH_OK, or the first
 * rule broken (scanning left to right) with the byte offset where it was
 * found in *where (where may be NULL; VPATH_ERR_TOO_LONG reports
 * VPATH_MAX_LEN). path may be NULL only when len is 0 (VPATH_ERR_EMPTY). */
vpath_err vpath_validate(const char *path, size_t len, vpath_kind kind, size_t *where);

/* Normalizes path[0..len) as described above, then validates it. Returns
 * VPATH_OK with the normalized path in *out (caller frees), or an error with
 * *out NULL and, in *where (may be NULL), the offset of the problem in the
 * input. */
vpath_err vpath_normalize(const char *path, size_t len, vpath_kind kind, char **out, size_t *where);

/* True if valid `path` lies strictly inside valid folder `folder`, matching
 * whole segments: "/a/b" is under "/a" but "/ab" is not, and "/a" is not
 * under itself. Every path other than "/" is under the root "/". */
bool vpath_has_prefix(const char *path, const char *folder);

/* Moves `path` from under folder `old_prefix` to under folder `new_prefix`
 * (a folder rename): vpath_rebase("/a/b/c.md", "/a", "/x") is "/x/b/c.md";
 * either prefix may be the root "/". Returns VPATH_OK with the new path in
 * *out (caller frees). Errors, with *out NULL: an argument that is not a
 * valid path (checked in the order path, old_prefix, new_prefix, all as
 * folders), VPATH_ERR_NOT_UNDER if !vpath_has_prefix(path, old_prefix),
 * VPATH_ERR_TOO_LONG if the result would be too long, VPATH_ERR_INVALID or
 * VPATH_ERR_NOMEM. Whether a folder may move into itself is the caller's
 * rule: refuse vpath_has_prefix(new_prefix, old_prefix) before a rename. */
vpath_err vpath_rebase(const char *path, const char *old_prefix, const char *new_prefix,
                       char **out);

/* The last segment of a valid path, borrowed from `path` (a pointer into it):
 * "Design.md" for "/Projects/Q1/Design.md"; "" for "/". */
const char *vpath_basename(const char *path);

/* How many leading bytes of file name `name` form its title: the name
 * without its extension. The extension starts at the last '.', unless that
 * '.' is the first or the last character: "Design.md" -> 6 ("Design"),
 * "a.tar.gz" -> 5 ("a.tar"), ".env" -> 4, "Notes." -> 6, "README" -> 6. */
size_t vpath_title_from_name(const char *name);

/*
 * The title of a note: the text of the first non-empty ATX heading of
 * `markdown` (len bytes of UTF-8), else the file name of `path` without its
 * extension. Returns VPATH_OK with the title in *out (caller frees; never
 * empty for a valid path), or, with *out NULL: the validation error of
 * `path` (a file path), VPATH_ERR_UTF8 if the heading is not valid UTF-8,
 * VPATH_ERR_INVALID or VPATH_ERR_NOMEM. markdown may be NULL when len is 0.
 *
 * What counts as a heading (CommonMark ATX, simplified): a line with at most
 * 3 spaces of indentation, then 1 to 6 '#', then a space, a tab or the end of
 * the line. Its text has surrounding spaces and tabs trimmed and a closing
 * run of '#' removed when a space or tab precedes it ("# Title ##" gives
 * "Title", "# C#" gives "C#"). Inline Markdown is kept as written. C0
 * control characters and DEL in it become spaces, then spaces are trimmed
 * again; a heading left empty falls back to the file name. Lines inside
 * fenced code blocks (``` or
 * ~~~) and inside YAML front matter (a first line "---" up to a closing
 * "---" or "...") are skipped; a leading UTF-8 BOM is ignored. Setext
 * headings and headings inside block quotes or list items are not
 * recognized; HTML blocks are not parsed (a heading line inside one counts).
 * A title longer than VPATH_TITLE_MAX bytes is cut at a character boundary.
 */
vpath_err vpath_title(const char *markdown, size_t len, const char *path, char **out);

#endif /* VN_VPATH_H */
