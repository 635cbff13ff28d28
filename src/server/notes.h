/*
 * notes.h - the note routes: create, get, list, replace the text (merging
 * stale writes), rename or move, trash, and folder rename.
 *
 * Every change is a CRDT transaction on the note's document and/or the
 * vault's index document (docs.h); its updates, the projection rows of the
 * files it touched and an outbox event are committed together in one store
 * transaction, and the request is answered only after that commit.
 */
#ifndef VN_NOTES_H
#define VN_NOTES_H

#include "server/http.h"

#define NOTES_MAX_CONTENT (4u << 20) /* bytes of Markdown in one note: 413 beyond */

void notes_route_list(vctx *ctx);
void notes_route_create(vctx *ctx);
void notes_route_get(vctx *ctx);
void notes_route_put(vctx *ctx);
void notes_route_patch(vctx *ctx);
void notes_route_delete(vctx *ctx);
void notes_route_folder_rename(vctx *ctx);

/* ---- shared with the trash and history routes ---------------------------- */

/* The note named by the route's {note} (trashed ones too when `trashed`):
 * returns 0 and fills *f (caller frees with store_file_free), or answers
 * 404 (or 503) and returns -1. */
int notes_file(vctx *ctx, store_file *f, bool trashed);

/* A file as the API shows it: {"id","vault","path","title","kind",
 * "created","updated"}; a new reference (NULL when out of memory). */
json_t *notes_file_json(const store_file *f);

/* The metadata map of file `id` in a vault's index document, or NULL. */
ytype *notes_index_meta(vdoc *idx, const char *id);

/* Whether a live file other than `except` (may be NULL) sits at `path`. */
bool notes_path_taken(vdoc *idx, const char *path, const char *except);

/* Makes the note's text `content` as PUT does: the difference from the text
 * at `base_version` becomes CRDT edits merged into the live document,
 * committed with the projection of *f and a "note.updated" event (carrying
 * the caller's user id and the members of `event_extra`, borrowed, may be
 * NULL), broadcast to sync connections, and answered 200 with the note
 * (412 for a version too old or unknown). *f stays the caller's; its title
 * may be replaced. */
void notes_write_text(vctx *ctx, store_file *f, uint64_t base_version, const char *content,
                      size_t clen, json_t *event_extra);

/* A change of a vault's index document: `edit` runs in one transaction on
 * it; its update, the projections `files` (n) and an outbox event `event`
 * with `event_json` (plus, when `file_event` is not NULL, one event of that
 * type per file: {"id","path","user"}) commit together; the request is
 * answered `status` with `reply` (consumed; NULL: no body) after the
 * commit, or 503 and nothing changed. */
typedef int (*notes_meta_edit_fn)(ytxn *tx, vdoc *idx, void *ud);
void notes_commit_index_change(vctx *ctx, vdoc *idx, notes_meta_edit_fn edit, void *ud,
                               store_file *files, size_t n, const char *event,
                               const char *event_json, const char *file_event, int status,
                               json_t *reply);

#endif /* VN_NOTES_H */
