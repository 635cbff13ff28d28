/*
 * vchan.h - the vault channel's wire protocol (GET /api/v1/vaults/{vault}/sync),
 * encoded and decoded in pure C: one WebSocket binary message is one
 * message, many documents of one vault share the socket, and every message
 * names its document. docs/sync.md ("The vault channel") describes the
 * exchange; this header is the grammar.
 *
 *   message = varuint(type) body
 *   client -> server
 *     0 HELLO    varuint(since)
 *     2 STEP1    varstring(doc) varbytes(state vector)
 *     4 UPDATE   varstring(doc) varuint(ref) varbytes(update v1)
 *   server -> client
 *     1 CHANGED  varuint(seq) varuint(n) n * (varstring(doc) varuint(docSeq))
 *     3 STEP2    varstring(doc) varbytes(update v1)
 *     5 PUSH     varstring(doc) varuint(seq) varbytes(update v1)   ("UPDATE" in the spec)
 *     6 ACK      varuint(ref) varuint(seq)
 *     7 ERROR    varuint(ref) varuint(code) varstring(doc) varstring(reason)
 *
 * Integers, varbytes and varstrings are lib0's, as in yproto.h (varuints
 * limited to 53 bits). A doc is exactly 32 lowercase hex digits. A ref is
 * never 0. A message must be consumed exactly.
 *
 * Invariants: decoding never reads outside [buf, buf + len); every length or
 * count read off the wire is checked against the bytes that remain before it
 * is used; decoded payloads are borrowed slices of the input and nothing is
 * allocated by the decoder. Encoders size their output exactly and return
 * either a whole message (malloc'd: the caller frees it with free()) or an
 * error with nothing allocated.
 *
 * Return codes are yproto.h's: YPROTO_OK, YPROTO_EMALFORMED, YPROTO_EUNKNOWN
 * (unknown message type), YPROTO_ETOOBIG (a payload over the caller's limit),
 * YPROTO_ENOMEM. A failed call changes no out-parameter.
 */
#ifndef VN_VCHAN_H
#define VN_VCHAN_H

#include <stddef.h>
#include <stdint.h>

#include "sync/yproto.h"

/* Message types (the first varuint). */
enum {
    VCHAN_HELLO = 0,
    VCHAN_CHANGED = 1,
    VCHAN_STEP1 = 2,
    VCHAN_STEP2 = 3,
    VCHAN_UPDATE = 4,
    VCHAN_PUSH = 5,
    VCHAN_ACK = 6,
    VCHAN_ERROR = 7
};

/* ERROR codes: why an UPDATE was refused (nothing changed). */
enum {
    VCHAN_ERR_READ_ONLY = 1, /* the caller is a viewer */
    VCHAN_ERR_NO_DOC = 2,    /* no such document in this vault */
    VCHAN_ERR_MISSING = 3,   /* missing dependencies: resync with STEP1, send again */
    VCHAN_ERR_BAD_INDEX = 4, /* invalid index change (e.g. a bad path) */
    VCHAN_ERR_SERVER = 5     /* server failure: retry later */
};

/* Bytes of one CHANGED entry at the least: varstring(doc) + varuint. */
#define VCHAN_CHANGED_ENTRY_MIN 34

/* A decoded message. Fields a type does not carry are zero; `doc` is ""
 * for types without one. Pointers borrow from the decoded buffer. */
typedef struct {
    int type;               /* VCHAN_* */
    char doc[33];           /* STEP1, STEP2, UPDATE, PUSH, ERROR */
    uint64_t since;         /* HELLO */
    uint64_t seq;           /* CHANGED, PUSH, ACK */
    uint64_t ref;           /* UPDATE, ACK, ERROR (never 0) */
    uint64_t code;          /* ERROR */
    const uint8_t *payload; /* STEP1: state vector; STEP2/UPDATE/PUSH: update;
                               ERROR: reason (UTF-8, not NUL-terminated);
                               CHANGED: the n entries, undecoded */
    size_t payload_len;
    uint64_t count; /* CHANGED: n */
} vchan_msg;

/* One CHANGED entry. */
typedef struct {
    char doc[33];
    uint64_t seq;
} vchan_change;

/* Decodes one message of any type. A state vector or update longer than
 * `max_payload` is YPROTO_ETOOBIG. A doc that is not 32 lowercase hex
 * digits, a ref of 0, a reason that is not UTF-8, or a CHANGED whose entries
 * do not parse is YPROTO_EMALFORMED. The state vector and update bytes are
 * not checked here (the CRDT engine does that). */
int vchan_decode(const uint8_t *buf, size_t len, size_t max_payload, vchan_msg *out);

/* Reads CHANGED entry `*pos` (start at 0) of a decoded CHANGED message's
 * payload; advances *pos. YPROTO_EMALFORMED past the end. */
int vchan_changed_next(const vchan_msg *m, size_t *pos, vchan_change *out);

/* Encoders. Each returns YPROTO_OK and a malloc'd message in *out (caller
 * frees with free()), or an error with nothing allocated: YPROTO_EMALFORMED
 * for a doc that is not 32 lowercase hex digits, a ref of 0 or a reason that
 * is not UTF-8; YPROTO_ETOOBIG for an integer over 2^53 - 1. */
int vchan_encode_hello(uint64_t since, uint8_t **out, size_t *out_len);
int vchan_encode_changed(uint64_t seq, const vchan_change *changes, size_t n, uint8_t **out,
                         size_t *out_len);
int vchan_encode_step1(const char *doc, const uint8_t *sv, size_t len, uint8_t **out,
                       size_t *out_len);
int vchan_encode_step2(const char *doc, const uint8_t *update, size_t len, uint8_t **out,
                       size_t *out_len);
int vchan_encode_update(const char *doc, uint64_t ref, const uint8_t *update, size_t len,
                        uint8_t **out, size_t *out_len);
int vchan_encode_push(const char *doc, uint64_t seq, const uint8_t *update, size_t len,
                      uint8_t **out, size_t *out_len);
int vchan_encode_ack(uint64_t ref, uint64_t seq, uint8_t **out, size_t *out_len);
int vchan_encode_error(uint64_t ref, uint64_t code, const char *doc, const char *reason,
                       uint8_t **out, size_t *out_len);

/* Whether s is exactly 32 lowercase hex digits followed by NUL. */
int vchan_doc_ok(const char *s);

#endif /* VN_VCHAN_H */
