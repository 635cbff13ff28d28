/*
 * vsync.h - keeping a folder of Markdown and its local replica in sync with
 * the server: capture of folder changes as CRDT updates (works offline), the
 * vault channel exchange, and writing merged documents back to the folder.
 *
 * One round (vsync_round):
 *  1. capture: list the folder and compare it with what vn last saw
 *     (replica `files`); a changed note is diffed (src/util/textdiff) against
 *     the text the file had and the difference applied to its document as
 *     CRDT edits; a file that disappeared while a new one with the same
 *     content appeared is a rename; a new .md file is a new note; a missing
 *     one goes to the trash. Creates, renames and trashes are edits of the
 *     index document. Every edit becomes a pending update. The deletion
 *     guard refuses a capture that would trash too much.
 *  2. exchange: HELLO(since), STEP1 for each document the server lists as
 *     changed, apply each STEP2, then send the pending updates; each is
 *     dropped only when its ACK arrives.
 *  3. write-out: renames, removals and new or merged texts go to the
 *     folder atomically; a file edited since step 1 is left alone (its edit
 *     is captured by the next round).
 * vsync_watch keeps the channel open and runs steps 1 and 3 whenever the
 * folder (inotify) or the server (pushed updates) changes.
 */
#ifndef VN_CLIENT_VSYNC_H
#define VN_CLIENT_VSYNC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/replica.h"

typedef struct {
    bool yes;         /* confirm mass deletions */
    bool interactive; /* may ask questions on the terminal */
    bool progress;    /* draw a progress bar on stderr */
    bool verbose;     /* print every file change */
    int timeout_ms;   /* longest wait for the server's next message (0: 60 s) */
} vsync_opts;

typedef struct {
    /* captured from the folder */
    size_t created, modified, renamed, trashed;
    /* written to the folder */
    size_t written, removed, moved, kept; /* kept: edited during the sync, not overwritten */
    size_t in_trash; /* removed files whose local edit went into the trash with them */
    /* exchange */
    size_t fetched, sent, acked, refused;
    uint64_t bytes_in, bytes_out;
} vsync_report;

enum {
    VSYNC_OK = 0,
    VSYNC_EFAIL = -1,     /* local failure (file system, replica, memory) */
    VSYNC_ENET = -2,      /* server unreachable or connection lost */
    VSYNC_EAUTH = -3,     /* 401 / 403 */
    VSYNC_EGUARD = -4,    /* deletion guard: not confirmed */
    VSYNC_ESERVER = -5,   /* the server refused or failed */
    VSYNC_ENOTFOUND = -6, /* the vault is gone or not ours */
};

typedef struct vsync vsync;

/* A sync engine for folder `root` with its opened (locked) replica. token
 * may be NULL (capture and status only). Returns NULL when out of memory. */
vsync *vsync_new(const char *root, replica *r, const char *token, const vsync_opts *o);
void vsync_free(vsync *s);

/* The last error as a sentence. */
const char *vsync_error(const vsync *s);

/* Step 1 only (works offline). */
int vsync_capture(vsync *s, vsync_report *rep);

/* One whole round. Captured changes are kept (pending) when the server
 * cannot be reached. */
int vsync_round(vsync *s, vsync_report *rep);

/* Stays connected until *stop becomes non-zero; reconnects with backoff.
 * Returns VSYNC_OK on a stop, or an error that retrying cannot fix
 * (auth, vault gone, local failure). */
int vsync_watch(vsync *s, volatile sig_atomic_t *stop, vsync_report *rep);

/* Prints what the folder holds that the last sync did not see (modified,
 * new, renamed, deleted files, files vn does not handle) to `out`, without
 * changing anything. *changes receives the number of local changes. */
int vsync_status(vsync *s, FILE *out, size_t *changes);

/* Resolves a folder path (relative to root) to its note id through the
 * replica and the index; 0 or -1 (error says why). */
int vsync_note_id(vsync *s, const char *lpath, char id[33], bool include_trashed);

#endif /* VN_CLIENT_VSYNC_H */
