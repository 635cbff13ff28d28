/*
 * doc_int.h - internal data model of the CRDT engine, shared by its modules
 * (store.c, content.c, item.c, type.c, txn.c, encode.c, decode.c, text.c,
 * map.c, array.c, snapshot.c, json.c, doc.c). Nothing here is API.
 *
 * Model (mirrors Yjs 13.6):
 *  - A struct is a yitem: an Item with content, or a GC struct (YF_GC) that
 *    only covers a clock range. Every struct of a client sits in that
 *    client's array in the store, sorted by clock, with no gaps: structs[i]
 *    ends where structs[i+1] starts, and the last one ends at the client's
 *    state (next expected clock).
 *  - Items of one shared type form a doubly linked list (left/right). Map
 *    entries are lists per key; the type's map points at the rightmost (the
 *    current value). An item's len counts clock units: UTF-16 units for
 *    strings, values for Any/JSON, 1 for everything else.
 *  - ytype objects are never freed before the document: handles stay valid.
 *    Items are freed only when merged into their left neighbour and with
 *    the document; collecting a deleted type turns its children into GC
 *    structs in place.
 *  - Pending structs are kept as Yjs keeps them, as one merged update
 *    (doc->pending); pending deletes as a delete set.
 *  - Search markers follow Yjs's (max 80 per type): each holds the exact
 *    index of its item, so a search ends at the same item whichever marker
 *    it starts from; which one is taken only decides how long it walks
 *    (type.c).
 */
#ifndef VN_CRDT_DOC_INT_H
#define VN_CRDT_DOC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt.h"
#include "lib0.h"

typedef struct yid {
    uint64_t client;
    uint64_t clock;
} yid;

/* Content kinds: the Yjs content refs (low 5 bits of an item's info). */
enum {
    YC_DELETED = 1,
    YC_JSON = 2,
    YC_BINARY = 3,
    YC_STRING = 4,
    YC_EMBED = 5,
    YC_FORMAT = 6,
    YC_TYPE = 7,
    YC_ANY = 8,
    YC_DOC = 9
};

/* UTF-16 units a string content holds inside the item (no allocation). */
#define YSTR_INLINE 12

/* A format item's attribute (YC_FORMAT), held apart from the item: format
 * items are few, and inline they would make every item 8 bytes larger. */
typedef struct yfmt {
    char *key;
    char *json; /* JSON text of the value */
    size_t n;
    uint64_t oid; /* the identity of the JS object it stands for */
} yfmt;

/* A subdocument (YC_DOC), held apart for the same reason. */
typedef struct ysubdoc {
    char *guid; /* a ykey (length-prefixed: it may hold NUL) */
    yany opts;
} ysubdoc;

typedef struct ycontent {
    uint8_t kind;
    bool inl; /* YC_STRING: the units are in u.inl, not in u.str.u */
    union {
        struct {
            uint16_t *u;
            size_t cap;
        } str; /* item len UTF-16 units */
        uint16_t inl[YSTR_INLINE]; /* a short string (most typed text) */
        struct {
            yany *v;
            size_t cap;
        } any; /* item len owned values */
        struct {
            char **v;
            size_t cap;
        } json; /* item len JSON texts; NULL = undefined */
        struct {
            uint8_t *p;
            size_t n;
        } bin;
        struct {
            char *json;
            size_t n;
        } embed; /* JSON text */
        yfmt *fmt; /* owned; NULL only while being made */
        struct ytype *type;
        ysubdoc *doc; /* owned; NULL only while being made */
    } u;
} ycontent;

enum {
    YF_DELETED = 1,
    YF_KEEP = 2,
    YF_MARKER = 4,
    YF_GC = 8, /* a GC struct, not an item */
    YF_HAS_ORIGIN = 16,
    YF_HAS_RORIGIN = 32,
    YF_TMP_BEFORE = 64,   /* integrate: in itemsBeforeOrigin */
    YF_TMP_CONFLICT = 128 /* integrate: in conflictingItems */
};

typedef struct yitem yitem;
struct yitem {
    yid id;
    uint64_t len;
    yitem *left, *right;
    yid origin, rorigin;
    struct ytype *parent;
    const char *psub; /* map key (a ykey interned in the parent's map); NULL in lists */
    uint8_t flags;
    uint8_t mcount; /* search markers pointing at this item (type.c) */
    bool pooled;    /* lives in a chunk of its document (item.c), not a block of its own */
    ycontent content;
};

/* The UTF-16 units of a YC_STRING content (inline or allocated). */
static inline uint16_t *ycontent_units(const ycontent *c) {
    return c->inl ? (uint16_t *)(uintptr_t)c->u.inl : c->u.str.u;
}

static inline bool yitem_deleted(const yitem *it) {
    return (it->flags & (YF_DELETED | YF_GC)) != 0;
}
static inline bool yitem_countable(const yitem *it) {
    return !(it->flags & YF_GC) && it->content.kind != YC_DELETED && it->content.kind != YC_FORMAT;
}
static inline bool yitem_live(const yitem *it) { return !yitem_deleted(it) && yitem_countable(it); }

/* ---- shared types -------------------------------------------------------- */

#define YMARKER_MAX 80 /* a multiple of 8: the scans read 8 indexes at once */

/* A type's search markers, as arrays, because every edit scans all the
 * indexes (type.c): marker k points at item p[k] at list index i32[k]
 * ("narrow": every index and length involved at most ymarker_narrow_max,
 * so that differences fit in 32 bits and eight indexes fit a 256-bit
 * vector) or, once the type grew beyond that, i64[k] ("wide"), and was
 * last used at ts[k]. Narrow slots past nmarkers hold a sentinel the scans
 * never pick nor move (ymarkers_new, type.c). */
typedef struct ymarkers {
    _Alignas(16) int32_t i32[YMARKER_MAX];
    uint64_t i64[YMARKER_MAX];
    uint64_t ts[YMARKER_MAX];
    yitem *p[YMARKER_MAX];
    bool wide;
} ymarkers;

/* The largest index (and type length) the narrow form holds: 2^29 by
 * default, so that an index plus a length stays below 2^31; tests lower it
 * to exercise the wide form on small documents. */
extern uint64_t ymarker_narrow_max;

typedef struct ymapent {
    char *key; /* owned, a ykey (length-prefixed); NULL: empty slot */
    yitem *item;
} ymapent;

/* Map keys (item parentSub) are "ykeys": NUL-terminated strings with their
 * byte length stored just before them, because a key read off the wire may
 * hold NUL bytes and still be a different key (Yjs keys are JS strings). */
char *ykey_new(const char *s, size_t n); /* NULL when out of memory */
void ykey_free(char *k);
size_t ykey_len(const char *k);

struct ytype {
    ydoc *doc;
    struct ytype *all_next;
    yitem *item;     /* the item holding this type; NULL for a root */
    char *name;      /* root name, or node name of an XML element/hook */
    size_t name_len; /* its length (root names may hold NUL bytes) */
    uint8_t kind;
    bool kind_known; /* false for a root only seen in remote updates */
    bool linked;     /* on doc->all_types (owned by the document) */
    bool markers_on; /* Yjs disables markers once a format item is seen */
    bool has_formatting;
    yitem *start;
    uint64_t length; /* live countable units */
    ymapent *map;
    size_t map_n, map_cap;
    /* Allocated by the type's first marker search (ymarker_find) when it
     * can use markers (text, array, XML text); NULL until then and for
     * maps, which never do. nmarkers > 0 implies markers != NULL. */
    ymarkers *markers;
    size_t nmarkers;
    /* false guarantees that every marker's item is live and has YF_MARKER
     * set, so ymarker_update may skip Yjs's walk over the markers' items
     * (it would change nothing). Set by anything that may break that. */
    bool markers_dirty;
    uint64_t mclock; /* the markers' timestamp counter */
    size_t mlast;    /* the marker the last search returned (may be stale: checked) */
    /* Index of this type in the running transaction's `changed` array, valid
     * only while changed[chidx].type == this type (see ytxn_add_changed). */
    size_t chidx;
};

/* ---- store and delete sets ---------------------------------------------- */

/* A client's structs, sorted by clock, in a gap buffer: an item split or a
 * merge in the middle of a long array moves only the slots between the gap
 * and the edit (edits are close together), not the whole tail. Logical
 * index i is slot i below the gap and slot i + gl from it on; slots
 * [g, g + gl) are the gap (gl == 0: no gap, g is meaningless), slots
 * [n + gl, cap) are free. Read through yclient_at/yclient_last, change
 * through yclient_insert/yclient_remove only. */
typedef struct yslot {
    uint64_t clock; /* it->id.clock (never changes while it is stored), so
                       that searching by clock reads one array */
    yitem *it;
} yslot;

typedef struct yclient {
    uint64_t client;
    yslot *s;
    size_t n, cap;
    size_t g, gl;
    size_t hint; /* a logical index yclient_find tries first (any value is safe) */
} yclient;

/* The struct at logical index i < c->n. */
static inline yitem *yclient_at(const yclient *c, size_t i) { return c->s[i < c->g ? i : i + c->gl].it; }
/* The clock of the struct at logical index i < c->n (read from the slot:
 * no visit to the struct). */
static inline uint64_t yclient_clock_at(const yclient *c, size_t i) { return c->s[i < c->g ? i : i + c->gl].clock; }
/* The newest struct (c->n > 0). */
static inline yitem *yclient_last(const yclient *c) { return yclient_at(c, c->n - 1); }
/* The client's state: the clock after its newest struct (0 without one). */
static inline uint64_t yclient_state(const yclient *c) {
    if (!c->n) return 0;
    const yitem *l = yclient_last(c);
    return l->id.clock + l->len;
}

typedef struct ystore {
    yclient *c; /* in order of first appearance (JS Map insertion order) */
    size_t n, cap;
    uint32_t *ht; /* open addressing: index+1, 0 = empty */
    size_t htcap;
} ystore;

typedef struct yrange {
    uint64_t clock, len;
} yrange;

typedef struct ydsclient {
    uint64_t client;
    yrange *r;
    size_t n, cap;
} ydsclient;

typedef struct yds {
    ydsclient *c;
    size_t n, cap;
    size_t nalloc; /* slots c[0..nalloc) own their range arrays (kept by yds_clear) */
} yds;

/* ---- decoded updates ------------------------------------------------------ */

enum { YREF_ITEM, YREF_GC, YREF_SKIP };
enum { YPARENT_NONE, YPARENT_NAME, YPARENT_ID };

typedef struct yref {
    uint8_t kind;
    uint8_t parent_kind;
    yid id;
    uint64_t len;
    yitem *item;       /* preallocated struct (items and GC); NULL for skip */
    char *parent_name; /* owned */
    size_t parent_name_len;
    yid parent_id;
    char *psub; /* owned ykey */
} yref;

typedef struct yrefclient {
    uint64_t client;
    yref *r;
    size_t n, cap;
    size_t i; /* next ref to integrate */
} yrefclient;

typedef struct yupd {
    yrefclient *c;
    size_t n, cap;
    yds ds;
    ydoc *doc; /* whose items the refs hold (given back on release) */
} yupd;

/* ---- transactions and the document ---------------------------------------- */

typedef struct ychanged {
    struct ytype *type;
    bool list;   /* the list part changed (parentSub null) */
    char **keys; /* changed map keys (borrowed from the map) */
    size_t nkeys, cap;
    /* Once there are many keys: an open-addressing set over them (slot =
     * index in keys + 1, 0 = empty), so that adding a key is not a scan. */
    uint32_t *kset;
    size_t kset_cap;
} ychanged;

#define YSTATE_NONE UINT64_MAX

struct ytxn {
    ydoc *doc;
    const void *origin;
    bool local;
    uint64_t *before; /* state of store client i at the start (YSTATE_NONE: no struct) */
    size_t nbefore, bcap;
    yds ds;
    yid *merge; /* ids of structs to try merging at cleanup (_mergeStructs) */
    size_t nmerge, mcap;
    yitem **scratch; /* integrate's visited items */
    size_t nscratch, scap;
    ychanged *changed;
    size_t nchanged, chcap;
    int err; /* first out-of-memory seen while mutating */
};

typedef struct yobserver {
    int id;
    ydoc_update_fn upd;
    ydoc_change_fn chg;
    void *ud;
} yobserver;

struct ydoc {
    uint64_t client_id;
    bool gc;
    ystore store;
    struct ytype **roots;
    size_t nroots, rcap;
    struct ytype *all_types;
    uint8_t *pending; /* structs waiting for missing dependencies, kept as
                         Yjs keeps them: one merged update (v1) */
    size_t pending_len;
    size_t pending_count; /* structs in it (Skip structs not counted) */
    yid *missing;         /* per client, the lowest clock pending structs wait for */
    size_t nmissing, missingcap;
    yds pending_ds; /* deletes of structs not yet received */
    struct ytxn txn;
    bool in_txn;
    struct ytxn *queue[8]; /* follow-up transactions of the running cleanup */
    size_t nqueue;
    struct ytxn *observer_txn; /* the follow-up opened by observers, if any */
    yobserver *obs;
    size_t nobs, obscap;
    int next_obs_id;
    ybuf ubuf; /* the buffer each transaction's update is written to */
    /* The document's items live in chunks it allocates (8, 16, ... up to
     * 512 items each, newest first, freed by ydoc_free): no allocation
     * header per item, and items made together lie together. Freed items
     * go to free_items (linked through `right`) for reuse: typing creates
     * an item per keystroke that the cleanup merges into its left
     * neighbour and frees. */
    struct yitem_chunk *chunks;
    size_t chunk_used, chunk_cap; /* items handed out from the newest chunk, its size */
    yitem *free_items;
};

/* Above this capacity the update buffer is freed after use, not kept. */
#define YDOC_UBUF_KEEP (64 * 1024)

/* ---- store.c ------------------------------------------------------------ */
void ystore_init(ystore *s);
void ystore_release(ystore *s);
yclient *ystore_client(const ystore *s, uint64_t client);
int ystore_client_add(ystore *s, uint64_t client, yclient **out);
uint64_t ystore_state(const ystore *s, uint64_t client);
size_t yclient_find(const yclient *c, uint64_t clock); /* clock < state */
/* Inserts it at logical index at; fails only when no slot was reserved. */
int yclient_insert(yclient *c, size_t at, yitem *it);
/* Drops logical indexes [from, to) from the array (frees nothing). */
void yclient_remove(yclient *c, size_t from, size_t to);
/* Makes room for `extra` more structs, so that as many yclient_insert calls
 * cannot fail. */
int yclient_reserve(yclient *c, size_t extra);
int ystore_add(ystore *s, yitem *it);        /* appends: it->id.clock == state */
yitem *ystore_find(const ystore *s, yid id); /* NULL when absent */

void yds_init(yds *d);
void yds_release(yds *d);
/* Empties d but keeps its arrays for the next use (a transaction's). */
void yds_clear(yds *d);
int yds_add(yds *d, uint64_t client, uint64_t clock, uint64_t len);
void yds_sort_merge(yds *d);
bool yds_contains(const yds *d, yid id); /* d sorted and merged */
int yds_from_store(const ystore *s, yds *out);
ydsclient *yds_client(const yds *d, uint64_t client);

/* ---- content.c ---------------------------------------------------------- */
void ycontent_release(ycontent *c, uint64_t len);
/* Moves units [offset, len) of c into *right; c keeps [0, offset). */
int ycontent_splice(ycontent *c, uint64_t len, uint64_t offset, ycontent *right);
/* Appends right (rlen units) into left (llen units) if the kinds merge;
 * on success right's resources are consumed. */
bool ycontent_merge(ycontent *left, uint64_t llen, ycontent *right, uint64_t rlen, int *err);
int ycontent_write(ybuf *b, const ycontent *c, uint64_t len, uint64_t offset);
/* Reads content of `kind`; *len receives its clock length. */
int ycontent_read(yreader *r, uint8_t kind, ydoc *doc, ycontent *c, uint64_t *len);
/* A fresh identity for an attribute value object (see text.c). */
uint64_t ycontent_new_oid(void);
int ycontent_from_utf8(ycontent *c, const char *s, size_t n, uint64_t *len);
/* UTF-16 <-> UTF-8 helpers. */
int yutf16_append_utf8(ybuf *b, const uint16_t *u, size_t n);
size_t yutf16_utf8_len(const uint16_t *u, size_t n);

/* ---- type.c ------------------------------------------------------------- */
struct ytype *ytype_new(ydoc *doc, uint8_t kind, bool known);
void ytype_free(struct ytype *t);
ymapent *ytype_map_find(const struct ytype *t, const char *key, size_t len);
int ytype_map_intern(struct ytype *t, const char *key, size_t len, ymapent **out);
/* Yjs's findMarker: the marker to start a search for index from, moved or
 * placed as Yjs does; false when the type uses none (then search from the
 * start). *p and *pindex: its item and that item's index. */
bool ymarker_find(struct ytype *t, uint64_t index, yitem **p, uint64_t *pindex);
/* Whether the marker ymarker_find returned last starts at index, or its
 * item is live and ends there (typing): then *left and *right are the
 * neighbours of that place, where a search for index from that marker
 * stops without splitting (before any deleted items that follow: the
 * caller steps over them as Yjs's findPosition does). Every marker's index
 * being exact, any search for index ends there. */
bool ymarker_at(const struct ytype *t, uint64_t index, yitem **left, yitem **right);
/* A type's marker arrays, with no marker; NULL when out of memory. */
ymarkers *ymarkers_new(void);
void ymarker_update(struct ytype *t, uint64_t index, int64_t len);
void ymarker_on_merge(yitem *left, yitem *right);
void ymarker_clear(struct ytype *t);
/* An item of t is being deleted: notes whether it holds a marker. */
void ymarker_on_delete(struct ytype *t, const yitem *it);

/* ---- item.c ------------------------------------------------------------- */
/* A zeroed item: with doc, one of doc's (its free list, else its newest
 * chunk); without, a block of its own. NULL when out of memory. */
yitem *yitem_alloc(ydoc *doc);
/* Releases the item's content, then the item: a block of its own is
 * freed; a document's item goes back to doc's free list, or, without doc
 * (the document is being freed), stays in its chunk. */
void yitem_free(ydoc *doc, yitem *it);
/* Frees doc's item chunks (ydoc_free, after every item was released). */
void yitem_chunks_free(ydoc *doc);
yitem *ytxn_clean_start(struct ytxn *txn, yid id);
yitem *ytxn_clean_end(struct ytxn *txn, yid id);
int yitem_split_at(struct ytxn *txn, yclient *c, size_t idx, uint64_t diff);
int yitem_integrate(struct ytxn *txn, yitem *it, uint64_t offset);
void yitem_delete(struct ytxn *txn, yitem *it);
bool yitem_try_merge(yitem *left, yitem *right);
void yitem_gc(ydoc *doc, yitem *it, bool parent_gcd);
yid yitem_last_id(const yitem *it);
/* Creates, links and integrates a new local item; takes content. */
int yitem_insert_local(struct ytxn *txn, struct ytype *parent, yitem *left, yitem *right,
                       const char *psub, ycontent *content, uint64_t len, yitem **out);

/* Inserts string content between left and right (a local insert, no
 * attributes to set) by appending it to left when the item Yjs would make
 * there is one its cleanup merges into left anyway: left is live text of
 * this document's client, its newest struct (so the clocks follow), with
 * right as right neighbour and right origin. The result is what Yjs has
 * after the transaction (the update is encoded after merging); a later
 * edit of the same transaction that splits left there makes again the item
 * Yjs would have (a split's right part has the same origins). Returns true
 * and takes content when it did, false (nothing changed) otherwise. */
bool yitem_append_local(struct ytxn *txn, struct ytype *parent, yitem *left, yitem *right, ycontent *content,
                        uint64_t len);

/* ---- txn.c -------------------------------------------------------------- */
int ytxn_start(ydoc *doc, const void *origin, bool local, struct ytxn **out);
int ytxn_finish(struct ytxn *txn);
uint64_t ytxn_before(const struct ytxn *txn, uint64_t client);
/* The local transaction Yjs opens when an observer edits the document
 * during cleanup (created on first use, committed after `cur`). */
struct ytxn *ytxn_followup(struct ytxn *cur);
void ytxn_add_changed(struct ytxn *txn, struct ytype *t, const char *psub);
void ytxn_changed_release(ychanged *ch); /* frees its key list and set */
void ytxn_add_merge(struct ytxn *txn, yid id);
void ytxn_add_delete(struct ytxn *txn, uint64_t client, uint64_t clock, uint64_t len);
uint64_t ydoc_random_client_id(void); /* a random 32-bit id, as Yjs picks */

/* ---- encode.c ----------------------------------------------------------- */
int yenc_ds(ybuf *b, const yds *ds);
int yenc_clients_structs(ybuf *b, const ystore *s, const uint64_t *sv_clients,
                         const uint64_t *sv_clocks, size_t nsv);
/* Appends the transaction's update to b; *any is false (nothing written)
 * when the transaction changed nothing. */
int yenc_txn_update(const struct ytxn *txn, ybuf *b, bool *any);
/* Encodes not yet integrated refs as one update (gaps as Skip structs). */
int yenc_refs_update(const yupd *p, uint8_t **out, size_t *len);
int ysv_decode(const uint8_t *p, size_t n, uint64_t **clients, uint64_t **clocks, size_t *count);
const char *ytype_root_name(const struct ytype *t);

/* ---- decode.c ----------------------------------------------------------- */
void yupd_release(yupd *u);
int yds_read(yreader *r, yds *ds);
/* The root type `name`, created untyped if absent; NULL when out of memory. */
struct ytype *ydoc_root(ydoc *doc, const char *name, size_t len);

/* ---- json.c ------------------------------------------------------------- */
int yjson_write(ybuf *b, const yany *v);
int yjson_parse(const char *s, size_t n, yany *out); /* owned tree */
int yjson_validate(const char *s, size_t n);

/* ---- text.c ------------------------------------------------------------- */
int ytext_delta(struct ytxn *txn, struct ytype *t, ydelta **out, size_t *n, void **scratch);
void ytext_delta_free(ydelta *d, size_t n, void *scratch);
/* cleanupYTextAfterTransaction: t1 is the remote transaction, t2 the new
 * local one that receives the deletes. */
int ytext_cleanup_after(struct ytxn *t1, struct ytxn *t2);

#endif /* VN_CRDT_DOC_INT_H */
