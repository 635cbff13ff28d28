/*
 * vindex.h - the vault index document as vn reads and edits it: the Y.Map
 * `files` from file id to a Y.Map {path, kind, created, trashed} (DESIGN.md
 * "Data model"), and the mapping from vault paths to paths in the folder.
 *
 * Two live notes at one path (possible after a merge) both get a file: the
 * one created first (ties: the smaller id) keeps the path, every later one
 * gets the deterministic suffix " (<first 8 hex digits of its id>)" before
 * the extension: "/Plan.md" and "/Plan (3fa9c2d1).md". Every device computes
 * the same names. A note whose path has a hidden segment (".x") is not put
 * in the folder (the folder scan never sees hidden names).
 */
#ifndef VN_CLIENT_VINDEX_H
#define VN_CLIENT_VINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

typedef struct {
    char id[33];
    char *path;      /* vault path, malloc'd ("" when the entry has none) */
    bool is_note;    /* kind == "note" */
    int64_t created; /* ms */
    int64_t trashed; /* ms, 0 when live */
    char *lpath;     /* folder path for live notes, NULL otherwise (vindex_assign) */
} vindex_entry;

/* Reads every entry of the index document into *out (array; free with
 * vindex_free). Returns 0 or -1 (out of memory). */
int vindex_list(ydoc *idx, vindex_entry **out, size_t *n);
void vindex_free(vindex_entry *e, size_t n);

/* Fills lpath of every live note (see the naming rule above). Entries are
 * left in id order. Returns 0 or -1. */
int vindex_assign(vindex_entry *e, size_t n);

/* Finds an entry by id (entries sorted by id, as vindex_list returns them). */
vindex_entry *vindex_find(vindex_entry *e, size_t n, const char *id);

/* Edits, inside a transaction on the index document. */
int vindex_create(ytxn *tx, ydoc *idx, const char *id, const char *path, int64_t created);
int vindex_set_path(ytxn *tx, ydoc *idx, const char *id, const char *path);
int vindex_trash(ytxn *tx, ydoc *idx, const char *id, int64_t when);
int vindex_untrash(ytxn *tx, ydoc *idx, const char *id);

/* The vault path for folder path lpath ("a/b.md" -> "/a/b.md"): malloc'd. */
char *vindex_vpath(const char *lpath);

/* A new random file id (32 lowercase hex digits). */
void vindex_new_id(char out[33]);

#endif /* VN_CLIENT_VINDEX_H */
