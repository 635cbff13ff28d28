/*
 * doc.c - documents: creation and destruction, client id, root types, and
 * the error strings.
 *
 * Invariants: every ytype the document ever linked is on doc->all_types and
 * is freed with the document (handles stay valid until ydoc_free); roots
 * are also listed in doc->roots in order of creation.
 */
#include <string.h>

#include "doc_int.h"

/* A short description of an error code (static storage). */
const char *yerr_str(int err) {
    switch (err) {
    case Y_OK: return "ok";
    case Y_ERR_NOMEM: return "out of memory";
    case Y_ERR_MALFORMED: return "malformed update";
    case Y_ERR_RANGE: return "position out of range";
    case Y_ERR_TYPE: return "wrong shared type";
    case Y_ERR_STATE: return "not possible in this state";
    case Y_ERR_LIMIT: return "engine limit exceeded";
    case Y_ERR_INVALID: return "invalid argument";
    default: return "unknown error";
    }
}

/* Creates a document; NULL when out of memory. */
ydoc *ydoc_new(const ydoc_options *opt) {
    ydoc *doc = ycalloc(1, sizeof *doc);
    if (!doc) return NULL;
    doc->client_id = opt && opt->has_client_id ? opt->client_id : ydoc_random_client_id();
    doc->gc = opt ? opt->gc : true;
    ystore_init(&doc->store);
    yds_init(&doc->pending_ds);
    ybuf_init(&doc->ubuf, YBUF_NO_LIMIT);
    return doc;
}

/* Frees the document, its types and its items. */
void ydoc_free(ydoc *doc) {
    if (!doc) return;
    ystore_release(&doc->store);
    for (struct ytype *t = doc->all_types; t;) {
        struct ytype *next = t->all_next;
        ytype_free(t);
        t = next;
    }
    yfree(doc->pending);
    yds_release(&doc->pending_ds);
    yfree(doc->missing);
    yfree(doc->roots);
    yfree(doc->obs);
    yfree(doc->txn.merge);
    yfree(doc->txn.scratch);
    yfree(doc->txn.changed);
    yfree(doc->txn.before);
    yds_release(&doc->txn.ds);
    ybuf_release(&doc->ubuf);
    yitem_chunks_free(doc);
    yfree(doc);
}

uint32_t ydoc_client_id(const ydoc *doc) { return doc ? (uint32_t)doc->client_id : 0; }

bool ydoc_gc(const ydoc *doc) { return doc && doc->gc; }

/* Returns the root `name` as `kind`; see crdt.h. */
ytype *ydoc_get(ydoc *doc, const char *name, ytype_kind kind) {
    if (!doc || !name || (unsigned)kind > YTYPE_XML_TEXT) return NULL;
    struct ytype *t = ydoc_root(doc, name, strlen(name));
    if (!t) return NULL;
    if (t->kind_known) return t->kind == kind ? t : NULL;
    bool markers = kind == YTYPE_TEXT || kind == YTYPE_ARRAY || kind == YTYPE_XML_TEXT;
    t->kind = (uint8_t)kind;
    t->kind_known = true;
    t->markers_on = markers;
    ymarker_clear(t);
    return t;
}

ytype_kind ytype_kind_of(const ytype *t) { return (ytype_kind)t->kind; }
