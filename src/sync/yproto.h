/*
 * yproto.h - the y-websocket wire protocol (y-protocols sync, awareness and
 * auth messages in lib0 framing), encoded and decoded in pure C.
 *
 * One WebSocket binary message is one protocol message:
 *
 *   message   = varuint(type) body
 *   type 0    sync:            varuint(sync_type) varbytes(payload)
 *               sync_type 0    step 1: payload is a state vector
 *               sync_type 1    step 2: payload is an update (v1)
 *               sync_type 2    update: payload is an update (v1)
 *   type 1    awareness:       varbytes(awareness update)
 *   type 2    auth:            varuint(0 = permission denied) varstring(reason)
 *   type 3    query awareness: (empty body)
 *   type 4    saved:           varbytes(state vector) -- a Vault Notes
 *                              extension, server to client only, sent to
 *                              connections that asked for it: everything
 *                              the state vector covers is committed
 *
 *   varuint   = lib0 unsigned LEB128: 7 bits per byte, least significant
 *               group first, high bit set on every byte but the last
 *   varbytes  = varuint(length) length bytes
 *   varstring = varbytes holding UTF-8
 *
 *   awareness update = varuint(n) n * (varuint(client) varuint(clock)
 *                                      varstring(state as JSON text))
 *                      a state of "null" means "this client left".
 *
 * docs/sync.md describes the exchange around these messages.
 *
 * Invariants: decoding never reads outside [buf, buf + len); every length
 * read off the wire is checked against the bytes that remain before it is
 * used; decoded payloads are borrowed slices of the input (nothing is
 * allocated except where a function says so). Integers are limited to 53
 * bits (JavaScript's safe integers), as lib0's reader is; a message must be
 * consumed exactly: trailing bytes make it malformed.
 *
 * Return codes: YPROTO_OK (0) or a negative YPROTO_E* code. A failed call
 * changes no out-parameter.
 */
#ifndef VN_YPROTO_H
#define VN_YPROTO_H

#include <stddef.h>
#include <stdint.h>

enum {
    YPROTO_OK = 0,
    YPROTO_EMALFORMED = -1, /* truncated, over-long integer, trailing bytes, bad UTF-8 */
    YPROTO_EUNKNOWN = -2,   /* a message or sync type this server does not know */
    YPROTO_ETOOBIG = -3,    /* a payload or count over the caller's limit */
    YPROTO_ENOMEM = -4
};

/* Message types (the first varuint). */
enum { YMSG_SYNC = 0, YMSG_AWARENESS = 1, YMSG_AUTH = 2, YMSG_QUERY_AWARENESS = 3, YMSG_SAVED = 4 };

/* Sync message types (the second varuint of a YMSG_SYNC message). */
enum { YSYNC_STEP1 = 0, YSYNC_STEP2 = 1, YSYNC_UPDATE = 2 };

/* Largest integer a varuint may carry: 2^53 - 1. */
#define YPROTO_MAX_UINT 9007199254740991ull

/* Most bytes a varuint takes (53 bits / 7, rounded up). */
#define YPROTO_VARUINT_MAX_LEN 8

/* A decoded message. `payload` points into the decoded buffer. */
typedef struct {
    int type;               /* YMSG_* */
    int sync_type;          /* YSYNC_* for YMSG_SYNC, else -1 */
    const uint8_t *payload; /* state vector, update, awareness update or reason */
    size_t payload_len;     /* 0 for YMSG_QUERY_AWARENESS */
    uint64_t auth_type;     /* for YMSG_AUTH: 0 = permission denied */
} ymsg;

const char *yproto_strerror(int err);

/* ---- varuints ------------------------------------------------------------ */

/* Writes `v` (<= YPROTO_MAX_UINT) as a varuint into out, which must have room
 * for YPROTO_VARUINT_MAX_LEN bytes. Returns the number of bytes written. */
size_t yproto_put_varuint(uint8_t *out, uint64_t v);

/* Reads a varuint at *pos in buf[0..len). On success advances *pos.
 * YPROTO_EMALFORMED when the bytes end inside it or it exceeds 53 bits. */
int yproto_get_varuint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v);

/* ---- messages ------------------------------------------------------------ */

/* Decodes one message. A payload longer than `max_payload` bytes is
 * YPROTO_ETOOBIG; unknown message or sync types are YPROTO_EUNKNOWN; an auth
 * reason must be valid UTF-8 and a saved message's payload a well-formed
 * state vector (yproto_state_vector_check). */
int yproto_decode(const uint8_t *buf, size_t len, size_t max_payload, ymsg *out);

/* Encodes a sync message of `sync_type` carrying `payload` (a state vector
 * for YSYNC_STEP1, an update otherwise). *out is malloc'd; the caller frees
 * it with free(). */
int yproto_encode_sync(int sync_type, const uint8_t *payload, size_t len, uint8_t **out,
                       size_t *out_len);

/* Encodes an awareness message carrying an awareness update. Caller frees. */
int yproto_encode_awareness(const uint8_t *update, size_t len, uint8_t **out, size_t *out_len);

/* Encodes a query-awareness message (one byte). Caller frees. */
int yproto_encode_query_awareness(uint8_t **out, size_t *out_len);

/* Encodes an auth "permission denied" message with a UTF-8 reason. Caller
 * frees. */
int yproto_encode_permission_denied(const char *reason, uint8_t **out, size_t *out_len);

/* Encodes a saved message: varuint(4) varbytes(sv), where sv is a state
 * vector (checked: YPROTO_EMALFORMED if it is not well formed). Caller
 * frees *out with free(). */
int yproto_encode_saved(const uint8_t *sv, size_t len, uint8_t **out, size_t *out_len);

/* ---- awareness updates -------------------------------------------------- */

/* One entry of an awareness update. `state` is the JSON text (not
 * NUL-terminated), borrowed from the buffer it was decoded from. */
typedef struct {
    uint64_t client;
    uint64_t clock;
    const char *state;
    size_t state_len;
} yaware_entry;

/* Decodes an awareness update into *out (an array the caller frees with
 * free(); NULL when n is 0). More than `max_entries` entries, or a state
 * longer than `max_state` bytes, is YPROTO_ETOOBIG; a state that is not
 * valid UTF-8 is YPROTO_EMALFORMED. The states are not checked to be JSON:
 * that is the caller's business. */
int yproto_awareness_decode(const uint8_t *buf, size_t len, size_t max_entries, size_t max_state,
                            yaware_entry **out, size_t *n);

/* Encodes n entries as an awareness update (not yet a message: wrap it with
 * yproto_encode_awareness). Caller frees *out with free(). */
int yproto_awareness_encode(const yaware_entry *entries, size_t n, uint8_t **out, size_t *out_len);

/* Checks that sv[0..len) is a well-formed state vector: varuint(n), then n
 * pairs varuint(client) varuint(clock), and nothing after. Returns
 * YPROTO_OK or YPROTO_EMALFORMED. */
int yproto_state_vector_check(const uint8_t *sv, size_t len);

/* Whether s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int yproto_utf8_valid(const char *s, size_t len);

#endif /* VN_YPROTO_H */
