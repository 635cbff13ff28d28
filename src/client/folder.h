/*
 * folder.h - the vault folder on disk: listing its files, reading and
 * hashing them, and writing a file atomically without clobbering an edit.
 *
 * Paths handed in and out are relative to the folder root ("a/b.md").
 * Hidden names (starting with '.') are never listed: that keeps .vault/,
 * editor swap files, vn's own temporary files and tool folders such as
 * .obsidian or .git out of the vault. Only regular files are listed
 * (symbolic links are not followed).
 */
#ifndef VN_CLIENT_FOLDER_H
#define VN_CLIENT_FOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *lpath; /* malloc'd */
    int64_t size;
    int64_t mtime_ns;
    uint64_t ino;
} folder_entry;

/* Lists every regular, non-hidden file under root, sorted by lpath.
 * *out is an array the caller frees with folder_entries_free. `dirs`
 * (may be NULL) is called with every directory visited ("" for the root).
 * Returns 0 or -1 with err set. */
int folder_list(const char *root, folder_entry **out, size_t *n,
                void (*dirs)(void *ud, const char *lpath), void *ud, char *err, size_t errlen);
void folder_entries_free(folder_entry *e, size_t n);

/* The 64-bit FNV-1a hash of a content. */
uint64_t folder_hash(const void *p, size_t n);

/* Reads root/lpath whole into *data (malloc'd, NUL-terminated, caller
 * frees) and its stat into *st (lpath is copied). Files over `max` bytes are
 * refused with 1. Returns 0, 1 (too large), or -1 (errno set). */
int folder_read(const char *root, const char *lpath, size_t max, char **data, size_t *len,
                folder_entry *st);

/* stat of root/lpath: 0, or -1 (errno ENOENT when absent). */
int folder_stat(const char *root, const char *lpath, folder_entry *st);

/* What vn last saw of a file: the expected state of its path. */
typedef struct {
    bool exists; /* false: the path must be free */
    int64_t size;
    int64_t mtime_ns;
    uint64_t ino;
    uint64_t hash;
} folder_expect;

enum {
    FOLDER_OK = 0,
    FOLDER_CHANGED = 1, /* the file changed (or appeared) since vn last saw it: not written */
    FOLDER_ERR = -1     /* errno set */
};

/* Writes data to root/lpath atomically: a hidden temporary file beside it,
 * fsync (unless `defer_sync`: the caller calls folder_sync before it relies
 * on the content being on disk), then a last check that the path is still as
 * `expect` says (stat, and the content hash when the stat differs), then
 * rename. Creates missing parent folders. On FOLDER_OK *st is the new file's
 * stat. */
int folder_write(const char *root, const char *lpath, const char *data, size_t len,
                 const folder_expect *expect, bool defer_sync, folder_entry *st);

/* The two halves of folder_write, for callers that write many files with one
 * flush: folder_prepare writes the content to a hidden temporary file beside
 * lpath (fsynced when `sync`), folder_commit makes the last check and renames
 * it over lpath (FOLDER_CHANGED: the temporary file is removed), and
 * folder_discard removes a prepared file that will not be committed. */
typedef struct {
    char path[8300]; /* the temporary file ("" once committed or discarded) */
    folder_entry st; /* its stat (lpath NULL) */
} folder_tmp;

int folder_prepare(const char *root, const char *lpath, const char *data, size_t len, bool sync,
                   folder_tmp *t);
int folder_commit(const char *root, const char *lpath, folder_tmp *t, const folder_expect *expect,
                  folder_entry *st);
void folder_discard(folder_tmp *t);

/* Flushes every file of root's file system to disk (syncfs): one flush for
 * many deferred writes. 0 or -1 (errno set). */
int folder_sync(const char *root);

/* Checks root/lpath against expect as folder_write does: FOLDER_OK when it
 * is unchanged, FOLDER_CHANGED when not, FOLDER_ERR on error. */
int folder_check(const char *root, const char *lpath, const folder_expect *expect);

/* Renames from -> to (both relative), creating parents; never replaces an
 * existing file (FOLDER_CHANGED then). */
int folder_rename(const char *root, const char *from, const char *to);

/* Removes root/lpath if unchanged (FOLDER_CHANGED otherwise), then every
 * parent folder left empty (not the root). */
int folder_remove(const char *root, const char *lpath, const folder_expect *expect);

/* Removes the empty parent folders of lpath, bottom up, stopping at the root
 * or at the first one that is not empty. */
void folder_prune(const char *root, const char *lpath);

#endif /* VN_CLIENT_FOLDER_H */
