/*
 * lib0.h - the lib0 binary encoding that Yjs builds on (internal, shared
 * with updates.c): variable-length integers, strings, floats, "Any" values,
 * UTF-8/UTF-16 helpers, a capped growable write buffer and a bounded reader.
 *
 * Invariants
 *  - ybuf: data[0..len) is the written output, len <= cap <= limit. The
 *    first failed append (out of memory or past the limit) frees the data and
 *    latches b->err; every later append is a no-op returning that error, so a
 *    writer may append many values and check once at the end.
 *  - yreader: pos <= len always. Every read checks the bytes that remain
 *    before it looks at them or allocates; a failed read returns
 *    Y_ERR_MALFORMED and leaves pos unspecified (callers discard the reader).
 *  - Integers read off the wire are limited to 2^53 - 1, as lib0 (JavaScript
 *    numbers) limits them.
 *  - Any values decoded by yread_any are owned trees: every string, binary,
 *    array and object hangs off the root and is released by yany_release.
 *    Nesting deeper than YANY_MAX_DEPTH is refused (Y_ERR_MALFORMED when
 *    read, Y_ERR_LIMIT when written).
 */
#ifndef VN_CRDT_LIB0_H
#define VN_CRDT_LIB0_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "crdt.h"

#define YANY_MAX_DEPTH 64
#define YLIB0_MAX_SAFE_INT ((uint64_t)9007199254740991ULL) /* 2^53 - 1 */

/* lib0 Any type tags (the first byte of an encoded Any). */
enum {
    YANY_TAG_UNDEFINED = 127,
    YANY_TAG_NULL = 126,
    YANY_TAG_INT = 125,
    YANY_TAG_FLOAT32 = 124,
    YANY_TAG_FLOAT64 = 123,
    YANY_TAG_BIGINT = 122,
    YANY_TAG_FALSE = 121,
    YANY_TAG_TRUE = 120,
    YANY_TAG_STRING = 119,
    YANY_TAG_OBJECT = 118,
    YANY_TAG_ARRAY = 117,
    YANY_TAG_BINARY = 116
};

/* ---- write buffer ------------------------------------------------------ */

typedef struct ybuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* the buffer never grows past this many bytes */
    int err;      /* Y_OK, or the first error (then data is NULL) */
} ybuf;

#define YBUF_NO_LIMIT SIZE_MAX

/* Prepares an empty buffer that refuses to grow past `limit` bytes. */
void ybuf_init(ybuf *b, size_t limit);
/* Frees the data; the buffer may be reused after ybuf_init. */
void ybuf_release(ybuf *b);
/* Hands the bytes to the caller (free with yfree) and empties the buffer.
 * Returns b->err if an append failed earlier (nothing to free then). An
 * empty buffer yields a valid 1-byte allocation so *out is never NULL on
 * success. */
int ybuf_detach(ybuf *b, uint8_t **out, size_t *len);
/* Makes room for `extra` more bytes. Y_ERR_NOMEM / Y_ERR_LIMIT on failure. */
int ybuf_reserve(ybuf *b, size_t extra);
int ybuf_put(ybuf *b, const void *p, size_t n);
int ybuf_u8(ybuf *b, uint8_t v);
/* lib0 writeVarUint: 7 bits per byte, little end first. Inline: an update
 * is mostly varuints, written in place when the buffer has room for the
 * longest (ten bytes); ybuf_varuint_slow grows the buffer first. */
int ybuf_varuint_slow(ybuf *b, uint64_t v);
static inline int ybuf_varuint(ybuf *b, uint64_t v) {
    if (b->err || b->cap - b->len < 10) return ybuf_varuint_slow(b, v);
    uint8_t *d = b->data + b->len;
    size_t n = 0;
    while (v > 0x7f) {
        d[n++] = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    d[n++] = (uint8_t)v;
    b->len += n;
    return Y_OK;
}
/* lib0 writeVarInt: first byte holds continuation, sign and 6 bits. A
 * negative flag with magnitude 0 writes JavaScript's -0. */
int ybuf_varint_sm(ybuf *b, bool negative, uint64_t magnitude);
int ybuf_varint(ybuf *b, int64_t v);
/* lib0 writeVarString: byte length then the UTF-8 bytes. */
int ybuf_varstring(ybuf *b, const char *s, size_t n);
/* lib0 writeVarUint8Array: length then the bytes. */
int ybuf_varbytes(ybuf *b, const uint8_t *p, size_t n);
/* Big-endian IEEE floats and int64, as lib0's DataView writers. */
int ybuf_f32(ybuf *b, float v);
int ybuf_f64(ybuf *b, double v);
int ybuf_i64(ybuf *b, int64_t v);
/* lib0 writeAny, choosing the integer/float32/float64 encoding of a number
 * exactly as lib0 does. Y_ERR_LIMIT past YANY_MAX_DEPTH. */
int ybuf_any(ybuf *b, const yany *v);

/* ---- bounded reader ---------------------------------------------------- */

typedef struct yreader {
    const uint8_t *p;
    size_t len;
    size_t pos;
} yreader;

void yreader_init(yreader *r, const uint8_t *p, size_t len);
static inline size_t yreader_left(const yreader *r) { return r->len - r->pos; }

int yread_u8(yreader *r, uint8_t *out);
/* Reads a varuint; Y_ERR_MALFORMED when truncated or above 2^53 - 1. */
int yread_varuint(yreader *r, uint64_t *out);
/* Reads a varint as a JavaScript number (may be -0). */
int yread_varint(yreader *r, double *out);
/* Borrows n bytes from the input. */
int yread_bytes(yreader *r, size_t n, const uint8_t **out);
/* Reads a length-prefixed byte array / string, borrowed from the input.
 * The string is not checked for UTF-8 validity. */
int yread_varbytes(yreader *r, const uint8_t **p, size_t *n);
int yread_varstring(yreader *r, const char **s, size_t *n);
/* Reads a string that must be well-formed UTF-8 (lib0 decodes strings with
 * a fatal TextDecoder) into a new NUL-terminated copy (free with yfree). */
int yread_utf8_dup(yreader *r, char **out, size_t *n);
int yread_f32(yreader *r, float *out);
int yread_f64(yreader *r, double *out);
int yread_i64(yreader *r, int64_t *out);
/* Decodes one Any into an owned tree in *out (release with yany_release).
 * Strings must be well-formed UTF-8 (else Y_ERR_MALFORMED, as lib0's fatal
 * TextDecoder throws). On error *out is left as YANY_UNDEFINED. */
int yread_any(yreader *r, yany *out);
/* Validates and skips one Any without allocating. */
int yread_any_skip(yreader *r);

/* ---- Any values --------------------------------------------------------- */

/* Gives an owned object the key order and uniqueness a JavaScript object
 * has: repeated keys keep the first place and the last value, and keys that
 * are array indexes come first in ascending order. `assigned`: the object
 * was built by assignment (lib0 readAny), where "__proto__" is no key. */
void yany_js_object(yany *v, bool assigned);
/* Frees everything an owned Any tree holds and sets it to undefined. */
void yany_release(yany *v);
/* Deep-copies src into an owned tree *dst. Y_ERR_NOMEM, Y_ERR_LIMIT. */
int yany_clone(const yany *src, yany *dst);
/* Deep equality (numbers by value, objects as ordered entries). */
bool yany_equal(const yany *a, const yany *b);

/* ---- UTF-8 / UTF-16 ----------------------------------------------------- */

/* True when s[0..n) is well-formed UTF-8 (no surrogates, no overlongs). */
bool yutf8_valid(const char *s, size_t n);
/* Length in UTF-16 code units of well-formed UTF-8. */
size_t yutf8_utf16_len(const char *s, size_t n);
/* Returns a well-formed UTF-8 copy of s (NUL-terminated, free with yfree),
 * replacing each maximal invalid subsequence by U+FFFD as TextDecoder does.
 * NULL when out of memory. */
char *yutf8_sanitize(const char *s, size_t n, size_t *out_len);
/* Byte offset in s (well-formed, n bytes) of UTF-16 position `units`.
 * Returns false if `units` falls inside a surrogate pair or past the end. */
bool yutf8_offset_of_units(const char *s, size_t n, size_t units, size_t *offset);

#endif /* VN_CRDT_LIB0_H */
