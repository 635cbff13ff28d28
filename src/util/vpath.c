/*
 * vpath.c - vault file paths (see vpath.h for the rules).
 *
 * Invariants
 *  - vpath_validate() is the only place that decides whether a path is valid;
 *    normalization builds a candidate and hands it to it, and vpath_rebase()
 *    only splices strings that it validated.
 *  - Nothing here reads past the given length, and nothing is allocated
 *    before the length has been checked against VPATH_MAX_LEN.
 *  - Returned strings are fresh malloc'd copies; borrowed results
 *    (vpath_basename) point into the caller's string.
 */
#include "util/vpath.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool is_control(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

const char *vpath_strerror(vpath_err err) {
    switch (err) {
    case VPATH_OK: return "the path is valid";
    case VPATH_ERR_NOMEM: return "out of memory";
    case VPATH_ERR_INVALID: return "missing argument";
    case VPATH_ERR_EMPTY: return "the path is empty";
    case VPATH_ERR_RELATIVE: return "the path must start with '/'";
    case VPATH_ERR_ROOT: return "'/' is the root folder, not a file path";
    case VPATH_ERR_EMPTY_SEGMENT: return "the path contains an empty segment ('//')";
    case VPATH_ERR_TRAILING_SLASH: return "the path ends with '/'";
    case VPATH_ERR_DOT_SEGMENT: return "the path contains a '.' or '..' segment";
    case VPATH_ERR_CONTROL: return "the path contains a control character";
    case VPATH_ERR_BACKSLASH:
        return "the path contains a backslash ('\\'); use '/' between folders";
    case VPATH_ERR_UTF8: return "the path is not valid UTF-8";
    case VPATH_ERR_SPACE: return "a file or folder name begins or ends with a space";
    case VPATH_ERR_TOO_LONG: return "the path is longer than 1024 bytes";
    case VPATH_ERR_SEGMENT_TOO_LONG: return "a file or folder name is longer than 255 bytes";
    case VPATH_ERR_NOT_UNDER: return "the path is not inside the folder";
    }
    return "unknown path error";
}

/* Checks the segment s[start..end) once its characters passed. */
static vpath_err check_segment(const char *s, size_t start, size_t end, size_t len, size_t *where) {
    size_t n = end - start;
    *where = start;
    if (n == 0 && end == len) {
        *where = end - 1; /* the '/' itself */
        return VPATH_ERR_TRAILING_SLASH;
    }
    if (n == 0) return VPATH_ERR_EMPTY_SEGMENT;
    if (n > VPATH_MAX_SEGMENT) return VPATH_ERR_SEGMENT_TOO_LONG;
    if ((n == 1 && s[start] == '.') || (n == 2 && s[start] == '.' && s[start + 1] == '.'))
        return VPATH_ERR_DOT_SEGMENT;
    if (s[start] == ' ') return VPATH_ERR_SPACE;
    if (s[end - 1] == ' ') {
        *where = end - 1;
        return VPATH_ERR_SPACE;
    }
    return VPATH_OK;
}

vpath_err vpath_validate(const char *path, size_t len, vpath_kind kind, size_t *where) {
    size_t at = 0;
    vpath_err rc = VPATH_OK;
    const unsigned char *s = (const unsigned char *)path;
    if (path == NULL && len > 0) {
        rc = VPATH_ERR_INVALID;
    } else if (len == 0) {
        rc = VPATH_ERR_EMPTY;
    } else if (len > VPATH_MAX_LEN) {
        rc = VPATH_ERR_TOO_LONG;
        at = VPATH_MAX_LEN;
    } else if (s[0] != '/') {
        rc = VPATH_ERR_RELATIVE;
    } else if (len == 1) {
        rc = kind == VPATH_FOLDER ? VPATH_OK : VPATH_ERR_ROOT;
    } else {
        size_t start = 1, i = 1;
        while (rc == VPATH_OK) {
            if (i == len || s[i] == '/') {
                rc = check_segment(path, start, i, len, &at);
                if (i == len) break;
                start = ++i;
                continue;
            }
            uint32_t cp;
            size_t n = utf8_decode(s, len, i, &cp);
            at = i;
            if (n == 0)
                rc = VPATH_ERR_UTF8;
            else if (is_control(cp))
                rc = VPATH_ERR_CONTROL;
            else if (cp == '\\')
                rc = VPATH_ERR_BACKSLASH;
            i += n;
        }
    }
    if (where != NULL) *where = rc == VPATH_OK ? 0 : at;
    return rc;
}

vpath_err vpath_normalize(const char *path, size_t len, vpath_kind kind, char **out,
                          size_t *where) {
    if (where != NULL) *where = 0;
    if (out == NULL) return VPATH_ERR_INVALID;
    *out = NULL;
    if (path == NULL && len > 0) return VPATH_ERR_INVALID;
    if (len == 0) return VPATH_ERR_EMPTY;
    bool add_slash = path[0] != '/';
    size_t keep = len;
    /* One trailing '/' of a folder goes, unless that would hide an empty
     * segment ("/a//") or turn "//" into the root. */
    if (kind == VPATH_FOLDER && len > 1 && path[len - 1] == '/' && path[len - 2] != '/') keep--;
    if (keep + add_slash > VPATH_MAX_LEN) {
        if (where != NULL) *where = VPATH_MAX_LEN - add_slash;
        return VPATH_ERR_TOO_LONG;
    }
    size_t n = keep + add_slash;
    char *buf = malloc(n + 1);
    if (buf == NULL) return VPATH_ERR_NOMEM;
    buf[0] = '/';
    memcpy(buf + add_slash, path, keep);
    buf[n] = '\0';
    size_t at = 0;
    vpath_err rc = vpath_validate(buf, n, kind, &at);
    if (rc != VPATH_OK) {
        free(buf);
        if (where != NULL) *where = at >= (size_t)add_slash ? at - add_slash : 0;
        return rc;
    }
    *out = buf;
    return VPATH_OK;
}

static bool is_root(const char *folder) { return folder[0] == '/' && folder[1] == '\0'; }

bool vpath_has_prefix(const char *path, const char *folder) {
    if (path == NULL || folder == NULL) return false;
    if (is_root(folder)) return path[0] == '/' && path[1] != '\0';
    size_t n = strlen(folder);
    return strncmp(path, folder, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

vpath_err vpath_rebase(const char *path, const char *old_prefix, const char *new_prefix,
                       char **out) {
    if (out == NULL) return VPATH_ERR_INVALID;
    *out = NULL;
    if (path == NULL || old_prefix == NULL || new_prefix == NULL) return VPATH_ERR_INVALID;
    vpath_err rc;
    size_t plen = strlen(path), olen = strlen(old_prefix), nlen = strlen(new_prefix);
    if ((rc = vpath_validate(path, plen, VPATH_FOLDER, NULL)) != VPATH_OK ||
        (rc = vpath_validate(old_prefix, olen, VPATH_FOLDER, NULL)) != VPATH_OK ||
        (rc = vpath_validate(new_prefix, nlen, VPATH_FOLDER, NULL)) != VPATH_OK)
        return rc;
    if (!vpath_has_prefix(path, old_prefix)) return VPATH_ERR_NOT_UNDER;
    /* Splice: new_prefix (nothing for the root) + the rest of path from the
     * '/' that follows old_prefix (all of path when old_prefix is the root). */
    const char *rest = path + (is_root(old_prefix) ? 0 : olen);
    size_t rlen = plen - (size_t)(rest - path), head = is_root(new_prefix) ? 0 : nlen;
    if (head + rlen > VPATH_MAX_LEN) return VPATH_ERR_TOO_LONG;
    char *buf = malloc(head + rlen + 1);
    if (buf == NULL) return VPATH_ERR_NOMEM;
    memcpy(buf, new_prefix, head);
    memcpy(buf + head, rest, rlen + 1);
    *out = buf;
    return VPATH_OK;
}

const char *vpath_basename(const char *path) {
    if (path == NULL) return "";
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

size_t vpath_title_from_name(const char *name) {
    if (name == NULL) return 0;
    size_t n = strlen(name);
    const char *dot = strrchr(name, '.');
    if (dot == NULL || dot == name || (size_t)(dot - name) == n - 1) return n;
    return (size_t)(dot - name);
}

/* ---- titles from Markdown ------------------------------------------------- */

/* One line of the document, without its line ending. */
struct line {
    const char *p;
    size_t len;
};

/* Reads the line at *i (which must be < len) and moves *i past its ending
 * ("\n", "\r\n" or "\r"). */
static struct line next_line(const char *md, size_t len, size_t *i) {
    size_t start = *i, j = *i;
    while (j < len && md[j] != '\n' && md[j] != '\r') j++;
    struct line l = {md + start, j - start};
    if (j < len) j += (md[j] == '\r' && j + 1 < len && md[j + 1] == '\n') ? 2 : 1;
    *i = j;
    return l;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* True if the line, after trailing blanks are dropped, is exactly `word`. */
static bool line_is(struct line l, const char *word) {
    while (l.len > 0 && is_blank(l.p[l.len - 1])) l.len--;
    return l.len == strlen(word) && memcmp(l.p, word, l.len) == 0;
}

/* Spaces of indentation (0..4) at the start of the line. */
static size_t indent(struct line l) {
    size_t n = 0;
    while (n < l.len && n < 4 && l.p[n] == ' ') n++;
    return n;
}

/* Length of the run of `c` at l.p[from..). */
static size_t run_of(struct line l, size_t from, char c) {
    size_t n = 0;
    while (from + n < l.len && l.p[from + n] == c) n++;
    return n;
}

/* If the line opens a code fence, stores its character and length and
 * returns true. A backtick fence's info string may not contain a backtick. */
static bool opens_fence(struct line l, char *ch, size_t *n) {
    size_t at = indent(l);
    if (at >= 4 || at >= l.len || (l.p[at] != '`' && l.p[at] != '~')) return false;
    char c = l.p[at];
    size_t run = run_of(l, at, c);
    if (run < 3) return false;
    if (c == '`' && memchr(l.p + at + run, '`', l.len - at - run) != NULL) return false;
    *ch = c;
    *n = run;
    return true;
}

/* True if the line closes a fence of `n` characters `c`. */
static bool closes_fence(struct line l, char c, size_t n) {
    size_t at = indent(l);
    if (at >= 4) return false;
    size_t run = run_of(l, at, c);
    if (run < n) return false;
    for (size_t k = at + run; k < l.len; k++)
        if (!is_blank(l.p[k])) return false;
    return true;
}

/* If the line is an ATX heading, stores its text (possibly empty) and
 * returns true. */
static bool atx_heading(struct line l, struct line *text) {
    size_t at = indent(l);
    if (at >= 4) return false;
    size_t hashes = run_of(l, at, '#');
    if (hashes < 1 || hashes > 6) return false;
    size_t b = at + hashes, e = l.len;
    if (b < e && !is_blank(l.p[b])) return false;
    while (b < e && is_blank(l.p[b])) b++;
    while (e > b && is_blank(l.p[e - 1])) e--;
    size_t h = e; /* a closing run of '#': all of the text, or after a blank */
    while (h > b && l.p[h - 1] == '#') h--;
    if (h == b) {
        e = b;
    } else if (h < e && is_blank(l.p[h - 1])) {
        e = h;
        while (e > b && is_blank(l.p[e - 1])) e--;
    }
    text->p = l.p + b;
    text->len = e - b;
    return true;
}

/* Finds the text of the first non-empty ATX heading outside code fences and
 * front matter. Returns false if there is none. */
static bool find_heading(const char *md, size_t len, struct line *text) {
    size_t i = 0;
    if (len >= 3 && memcmp(md, "\xEF\xBB\xBF", 3) == 0) i = 3; /* UTF-8 BOM */
    if (i < len) {                                             /* YAML front matter */
        size_t j = i;
        if (line_is(next_line(md, len, &j), "---")) {
            while (j < len) {
                struct line l = next_line(md, len, &j);
                if (line_is(l, "---") || line_is(l, "...")) {
                    i = j;
                    break;
                }
            }
        }
    }
    char fence = 0;
    size_t fence_n = 0;
    while (i < len) {
        struct line l = next_line(md, len, &i);
        if (fence != 0) {
            if (closes_fence(l, fence, fence_n)) fence = 0;
        } else if (!opens_fence(l, &fence, &fence_n) && atx_heading(l, text) && text->len > 0) {
            return true;
        }
    }
    return false;
}

/* Copies title text into *out: checked as UTF-8, cut to VPATH_TITLE_MAX
 * bytes on a character boundary, control characters turned into spaces,
 * then spaces trimmed from both ends. The result may be empty. */
static vpath_err copy_title(struct line t, char **out) {
    const unsigned char *s = (const unsigned char *)t.p;
    size_t keep = 0;
    bool cut = false;
    for (size_t k = 0; k < t.len;) {
        uint32_t cp;
        size_t n = utf8_decode(s, t.len, k, &cp);
        if (n == 0) return VPATH_ERR_UTF8;
        if (!cut && k + n <= VPATH_TITLE_MAX)
            keep = k + n;
        else
            cut = true;
        k += n;
    }
    char *buf = malloc(keep + 1);
    if (buf == NULL) return VPATH_ERR_NOMEM;
    size_t b = 0, e = keep;
    for (size_t k = 0; k < keep; k++) buf[k] = (s[k] < 0x20 || s[k] == 0x7F) ? ' ' : (char)s[k];
    while (b < e && buf[b] == ' ') b++;
    while (e > b && buf[e - 1] == ' ') e--;
    memmove(buf, buf + b, e - b);
    buf[e - b] = '\0';
    *out = buf;
    return VPATH_OK;
}

vpath_err vpath_title(const char *markdown, size_t len, const char *path, char **out) {
    if (out == NULL) return VPATH_ERR_INVALID;
    *out = NULL;
    if (path == NULL || (markdown == NULL && len > 0)) return VPATH_ERR_INVALID;
    vpath_err rc = vpath_validate(path, strlen(path), VPATH_FILE, NULL);
    if (rc != VPATH_OK) return rc;

    struct line t;
    if (find_heading(markdown, len, &t)) {
        rc = copy_title(t, out);
        if (rc != VPATH_OK || (*out)[0] != '\0') return rc;
        free(*out); /* the heading held only control characters */
        *out = NULL;
    }
    t.p = vpath_basename(path);
    t.len = vpath_title_from_name(t.p);
    return copy_title(t, out);
}
