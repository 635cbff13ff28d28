/*
 * crdt.h - the public contract of the Vault Notes CRDT engine.
 *
 * A Yjs-compatible CRDT (update format v1) in pure C: no I/O, no dependency
 * beyond libc. Everything not declared here is internal (see *_int.h).
 *
 * Conventions
 *  - Every function that can fail returns an int: Y_OK (0) or a negative
 *    Y_ERR_* code. A failed call has no side effect: the document is exactly
 *    as it was before the call.
 *  - Every buffer or string returned through an out-parameter is allocated
 *    by the engine and owned by the caller, who releases it with yfree().
 *    Pointers returned as "borrowed" belong to the document and stay valid
 *    until the document is next modified or freed.
 *  - Text positions and lengths are counted in UTF-16 code units, exactly as
 *    Yjs counts them (so positions agree with browsers and with the wire
 *    format). Text goes in and comes out as UTF-8. ytext_utf8_to_index() and
 *    ytext_index_to_utf8() convert between UTF-8 byte offsets and UTF-16
 *    positions. An edit whose position or end falls inside a surrogate pair
 *    is refused with Y_ERR_RANGE: a pair is never split.
 *  - Local edits happen inside a transaction (ytxn). Committing a transaction
 *    emits exactly one update (v1) to the update observers, as Yjs's 'update'
 *    event does; a transaction that changed nothing emits none. Like Yjs, a
 *    change observer's delta may remove redundant format items and a remote
 *    update on formatted text triggers Yjs's formatting cleanup: those
 *    changes run as a following local transaction with its own update.
 *  - Out of memory: see src/crdt/alloc.h. In short, a refused update and an
 *    apply that runs out of memory leave the document as it was; a local
 *    edit that runs out of memory part-way leaves a consistent document.
 */
#ifndef VN_CRDT_H
#define VN_CRDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ----------------------------------------------------------- */

enum {
    Y_OK = 0,
    Y_ERR_NOMEM = -1,     /* an allocation failed */
    Y_ERR_MALFORMED = -2, /* bytes that are not a valid update/state vector */
    Y_ERR_RANGE = -3,     /* position or length outside the value */
    Y_ERR_TYPE = -4,      /* wrong kind of shared type for the operation */
    Y_ERR_STATE = -5,     /* not possible in this state (e.g. snapshot with gc on) */
    Y_ERR_LIMIT = -6,     /* input exceeds an engine limit (size, depth) */
    Y_ERR_INVALID = -7    /* bad argument (NULL, closed transaction, ...) */
};

/* A short English description of an error code; never NULL, static storage. */
const char *yerr_str(int err);

/* Releases any buffer or string the engine returned to the caller. */
void yfree(void *p);

/* ---- lib0 "Any" values ------------------------------------------------- */

typedef enum {
    YANY_UNDEFINED,
    YANY_NULL,
    YANY_BOOL,
    YANY_NUMBER, /* a JavaScript number: encoded as integer, float32 or float64 as Yjs does */
    YANY_BIGINT, /* a JavaScript BigInt (int64) */
    YANY_STRING, /* UTF-8 */
    YANY_BINARY, /* Uint8Array */
    YANY_ARRAY,
    YANY_OBJECT
} yany_kind;

typedef struct yany yany;
typedef struct yany_entry yany_entry;

struct yany {
    yany_kind kind;
    union {
        bool b;
        double num;
        int64_t bigint;
        struct {
            const char *ptr;
            size_t len;
        } str; /* UTF-8, not NUL-terminated */
        struct {
            const uint8_t *ptr;
            size_t len;
        } bin;
        struct {
            const yany *items;
            size_t len;
        } arr;
        struct {
            const yany_entry *entries;
            size_t len;
        } obj;
    } u;
};

struct yany_entry {
    const char *key; /* UTF-8, NUL-terminated */
    yany value;
};

/* ---- documents ---------------------------------------------------------- */

typedef struct ydoc ydoc;
typedef struct ytype ytype; /* a shared type (Y.Text, Y.Map, Y.Array, ...) */
typedef struct ytxn ytxn;

typedef enum {
    YTYPE_ARRAY = 0, /* Yjs type ref ids: YArray 0, YMap 1, YText 2, ... */
    YTYPE_MAP = 1,
    YTYPE_TEXT = 2,
    YTYPE_XML_ELEMENT = 3,
    YTYPE_XML_FRAGMENT = 4,
    YTYPE_XML_HOOK = 5,
    YTYPE_XML_TEXT = 6
} ytype_kind;

typedef struct {
    bool has_client_id; /* false: a random 32-bit client id, as Yjs picks */
    uint32_t client_id;
    bool gc; /* true (the Yjs default): deleted content is collected */
} ydoc_options;

/* Creates an empty document. opt may be NULL for the defaults (random client
 * id, gc on). Returns NULL when out of memory. Free with ydoc_free(). */
ydoc *ydoc_new(const ydoc_options *opt);

/* Frees the document and every handle obtained from it. NULL is a no-op. */
void ydoc_free(ydoc *doc);

uint32_t ydoc_client_id(const ydoc *doc);
bool ydoc_gc(const ydoc *doc);

/* Returns the root type `name`, creating it as `kind` on first use. If the
 * root already exists with another kind that has been used (e.g. asked for as
 * a map, now as text) returns NULL; a root first seen in a remote update with
 * no kind yet takes the kind asked for. The handle is borrowed: it lives as
 * long as the document. */
ytype *ydoc_get(ydoc *doc, const char *name, ytype_kind kind);

ytype_kind ytype_kind_of(const ytype *t);

/* ---- transactions ------------------------------------------------------- */

/* Starts a local transaction. One transaction at a time per document: while
 * one is open, ydoc_begin returns NULL. `origin` is passed to observers
 * untouched. Every ytxn must be ended by ytxn_commit(). */
ytxn *ydoc_begin(ydoc *doc, const void *origin);

/* Ends the transaction: merges and (with gc) collects structs, runs the type
 * observers, then the update observers with the transaction's update.
 * Returns Y_OK, or Y_ERR_NOMEM if the update could not be encoded (the
 * document keeps the edits; observers then get no update). */
int ytxn_commit(ytxn *txn);

/* Called after every transaction that changed the document (local or
 * applied), with its update v1. The bytes are borrowed for the call. */
typedef void (*ydoc_update_fn)(void *ud, const uint8_t *update, size_t len, const void *origin);

/* Registers an update observer; returns an id for ydoc_unobserve(), or a
 * negative error code. */
int ydoc_observe_updates(ydoc *doc, ydoc_update_fn fn, void *ud);

/* What one transaction changed, passed to type observers. */
typedef enum { YDELTA_INSERT, YDELTA_DELETE, YDELTA_RETAIN } ydelta_op;

typedef struct {
    ydelta_op op;
    size_t len;       /* UTF-16 code units (1 for an embed) */
    const char *text; /* INSERT of text: UTF-8 (len_utf8 bytes), else NULL */
    size_t len_utf8;
    const yany *embed;       /* INSERT of an embed, else NULL (both NULL: nested type) */
    const yany_entry *attrs; /* formatting attributes of INSERT/RETAIN */
    size_t nattrs;
} ydelta;

typedef struct {
    ytype *type;         /* borrowed */
    const char *root;    /* name of the root this type lives under, borrowed */
    const ydelta *delta; /* for Y.Text: the delta of this transaction, else NULL */
    size_t ndelta;
    const char *const *keys; /* for Y.Map: the keys that changed, else NULL */
    size_t nkeys;
} ychange;

/* Called after every transaction with the types it changed. All pointers are
 * borrowed for the duration of the call. */
typedef void (*ydoc_change_fn)(void *ud, const ychange *changes, size_t n, const void *origin);

int ydoc_observe_changes(ydoc *doc, ydoc_change_fn fn, void *ud);

/* Removes an observer registered by either function above. */
void ydoc_unobserve(ydoc *doc, int id);

/* ---- Y.Text ------------------------------------------------------------- */

/* Length in UTF-16 code units of the visible text. */
size_t ytext_len(const ytype *text);

/* Inserts UTF-8 `s` (len bytes, must be valid UTF-8) at `index`, with the
 * formatting attributes `attrs`. attrs == NULL is Yjs's insert(index, s):
 * the new text takes the formatting in force at `index`. A non-NULL attrs
 * (even with nattrs == 0) is Yjs's insert(index, s, attrs): the new text has
 * exactly those attributes (a YANY_NULL value or a missing key: none).
 * Y_ERR_RANGE past the end or inside a surrogate pair; Y_ERR_INVALID for
 * invalid UTF-8. */
int ytext_insert(ytxn *txn, ytype *text, size_t index, const char *s, size_t len,
                 const yany_entry *attrs, size_t nattrs);

/* Inserts an embed (one position), kept as its JSON text; attrs as for
 * ytext_insert. */
int ytext_insert_embed(ytxn *txn, ytype *text, size_t index, const yany *embed,
                       const yany_entry *attrs, size_t nattrs);

/* Deletes `len` units starting at `index`. */
int ytext_delete(ytxn *txn, ytype *text, size_t index, size_t len);

/* Sets formatting attributes on a range (a value of YANY_NULL removes one). */
int ytext_format(ytxn *txn, ytype *text, size_t index, size_t len, const yany_entry *attrs,
                 size_t nattrs);

/* The visible text as a NUL-terminated UTF-8 string in *out (caller frees
 * with yfree), its byte length in *len (len may be NULL). */
int ytext_string(const ytype *text, char **out, size_t *len);

/* The text as it was at `snapshot` (from ydoc_snapshot). The document must
 * have gc off (Y_ERR_STATE otherwise). Caller frees *out with yfree. */
int ytext_string_at(const ytype *text, const uint8_t *snapshot, size_t snapshot_len, char **out,
                    size_t *len);

/* Converts a UTF-8 byte offset into the current text into a UTF-16 position
 * and back. Y_ERR_RANGE past the end or inside a character. */
int ytext_utf8_to_index(const ytype *text, size_t utf8_offset, size_t *index);
int ytext_index_to_utf8(const ytype *text, size_t index, size_t *utf8_offset);

/* ---- Y.Map and Y.Array -------------------------------------------------- */

/* A value read from a map or array. Borrowed from the document. */
typedef struct {
    enum { YVALUE_ANY, YVALUE_TYPE } kind; /* JSON/Any/binary content, or a nested type */
    yany any;
    ytype *type;
} yvalue;

int ymap_set(ytxn *txn, ytype *map, const char *key, const yany *value);
/* Sets `key` to a new nested type of `kind`; *out receives it (borrowed). */
int ymap_set_type(ytxn *txn, ytype *map, const char *key, ytype_kind kind, ytype **out);
int ymap_delete(ytxn *txn, ytype *map, const char *key);
/* Y_ERR_RANGE when the key is absent. */
int ymap_get(const ytype *map, const char *key, yvalue *out);
/* Number of keys with a live value. */
size_t ymap_len(const ytype *map);
/* The live keys, sorted bytewise; *keys is an array of borrowed strings that
 * the caller frees (the array only) with yfree. */
int ymap_keys(const ytype *map, const char ***keys, size_t *n);

size_t yarray_len(const ytype *array);
int yarray_insert(ytxn *txn, ytype *array, size_t index, const yany *values, size_t n);
int yarray_insert_type(ytxn *txn, ytype *array, size_t index, ytype_kind kind, ytype **out);
int yarray_delete(ytxn *txn, ytype *array, size_t index, size_t len);
int yarray_get(const ytype *array, size_t index, yvalue *out);

/* ---- updates, state vectors, snapshots ---------------------------------- */

/* Applies an update v1 (from any peer, in any order, duplicated or not).
 * The update is decoded and checked in full before anything changes: a
 * malformed update returns Y_ERR_MALFORMED and leaves the document as it was.
 * Structs whose dependencies are missing wait as pending until they arrive. */
int ydoc_apply_update(ydoc *doc, const uint8_t *update, size_t len, const void *origin);

/* The whole document as an update (sv == NULL), or only what a peer with
 * state vector `sv` lacks. Caller frees *out with yfree. */
int ydoc_encode_state_as_update(const ydoc *doc, const uint8_t *sv, size_t sv_len, uint8_t **out,
                                size_t *out_len);

/* The document's state vector, encoded as Yjs does. Caller frees *out. */
int ydoc_encode_state_vector(const ydoc *doc, uint8_t **out, size_t *out_len);

/* Number of structs waiting for missing dependencies (0 when in sync), and
 * whether a delete set is waiting too. */
size_t ydoc_pending_structs(const ydoc *doc);
bool ydoc_pending_deletes(const ydoc *doc);

/* A snapshot (state vector + delete set) encoded as Yjs's encodeSnapshot.
 * Caller frees *out. */
int ydoc_snapshot(const ydoc *doc, uint8_t **out, size_t *out_len);

/* Updates without a document (Yjs mergeUpdates, diffUpdate,
 * encodeStateVectorFromUpdate). Caller frees *out. */
int yupdate_merge(const uint8_t *const *updates, const size_t *lens, size_t n, uint8_t **out,
                  size_t *out_len);
int yupdate_diff(const uint8_t *update, size_t len, const uint8_t *sv, size_t sv_len, uint8_t **out,
                 size_t *out_len);
int yupdate_state_vector(const uint8_t *update, size_t len, uint8_t **out, size_t *out_len);

/* ---- allocation --------------------------------------------------------- */

/* Makes the n-th allocation from now fail (n >= 1), 0 to disable. For tests
 * of the out-of-memory paths; not thread-safe. */
void yalloc_fail_after(size_t n);

/* Bytes the engine holds right now, and the most it has held since the last
 * yalloc_reset_peak(). For tests that bound the memory a hostile update may
 * cost; counters are process-wide and not thread-safe. */
void yalloc_stats(size_t *current, size_t *peak);
void yalloc_reset_peak(void);

#ifdef __cplusplus
}
#endif
#endif /* VN_CRDT_H */
