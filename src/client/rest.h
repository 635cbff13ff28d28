/*
 * rest.h - JSON calls to the vaultd REST API (docs/api.md) over libcurl.
 *
 * One call = one request with "Authorization: Bearer <token>" (when a token
 * is given) and a JSON body (when one is given). The answer's status and
 * parsed JSON body come back; a problem+json answer's `detail` is copied
 * into the caller's error buffer so a person can read why.
 */
#ifndef VN_CLIENT_REST_H
#define VN_CLIENT_REST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum {
    REST_OK = 0,    /* the server answered (any status: see *status) */
    REST_ENET = -1, /* no answer: unreachable, refused, timed out (err says which) */
    REST_ENOMEM = -2,
};

/* Calls `method` `base` + `path`. body may be NULL (no body). Returns
 * REST_OK with the HTTP status in *status and, when the answer is JSON, its
 * value in *out (caller decrefs; NULL otherwise; out may be NULL). For a
 * status >= 400, err receives the problem's detail (or a generic sentence).
 * On REST_ENET err says what failed and *out is NULL. */
int rest_call(const char *base, const char *token, const char *method, const char *path,
              const json_t *body, int *status, json_t **out, char *err, size_t errlen);

/* Bytes received and sent by every call so far (headers and bodies). */
uint64_t rest_bytes_in(void);
uint64_t rest_bytes_out(void);

/* Percent-encodes s for a query string; caller frees with free(). NULL when
 * out of memory. */
char *rest_escape(const char *s);

#endif /* VN_CLIENT_REST_H */
