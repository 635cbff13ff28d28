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

#endif /* VN_NOTES_H */
