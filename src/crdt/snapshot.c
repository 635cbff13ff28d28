/*
 * snapshot.c - snapshots (Yjs encodeSnapshot: delete set + state vector)
 * and reading a text as it was at a snapshot.
 *
 * Invariant: a snapshot is only meaningful for documents with gc off; with
 * gc on, deleted content is gone and ytext_string_at refuses (Y_ERR_STATE).
 */
#include <string.h>

#include "doc_int.h"

int yenc_state_vector(ybuf *b, const ystore *s);
int ytext_string_snapshot(const ytype *text, const yds *ds, const uint64_t *svc, const uint64_t *svk, size_t nsv,
                          char **out, size_t *len);

/* The snapshot of the document (Yjs encodeSnapshot(snapshot(doc))). */
int ydoc_snapshot(const ydoc *doc, uint8_t **out, size_t *out_len) {
    if (!doc || !out) return Y_ERR_INVALID;
    yds ds;
    int rc = yds_from_store(&doc->store, &ds);
    if (rc) return rc;
    ybuf b;
    ybuf_init(&b, YBUF_NO_LIMIT);
    yenc_ds(&b, &ds);
    yenc_state_vector(&b, &doc->store);
    yds_release(&ds);
    return ybuf_detach(&b, out, out_len);
}

/* The text as it was at a snapshot; see crdt.h. */
int ytext_string_at(const ytype *text, const uint8_t *snap, size_t snap_len, char **out, size_t *len) {
    if (!text || !snap || !out) return Y_ERR_INVALID;
    if (text->kind != YTYPE_TEXT && text->kind != YTYPE_XML_TEXT) return Y_ERR_TYPE;
    if (text->doc->gc) return Y_ERR_STATE;
    yreader r;
    yreader_init(&r, snap, snap_len);
    yds ds;
    int rc = yds_read(&r, &ds);
    if (rc) return rc;
    yds_sort_merge(&ds);
    uint64_t *svc = NULL, *svk = NULL;
    size_t nsv = 0;
    rc = ysv_decode(snap + r.pos, snap_len - r.pos, &svc, &svk, &nsv);
    if (!rc) rc = ytext_string_snapshot(text, &ds, svc, svk, nsv, out, len);
    yfree(svc);
    yfree(svk);
    yds_release(&ds);
    return rc;
}
