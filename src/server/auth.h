/*
 * auth.h - accounts and sessions: argon2id passwords, bearer tokens and
 * session cookies, failed-login limits, and the /api/v1/auth routes.
 *
 * A token is 256 random bits, sent to the client once (base64url, 43
 * characters) and stored only as its SHA-256. Native clients send it as
 * `Authorization: Bearer <token>`; browsers get it as an HttpOnly,
 * SameSite=Strict cookie `vn_session`. Tokens expire after AUTH_TOKEN_TTL_MS
 * and logout revokes them. No token is ever logged or put in a URL.
 */
#ifndef VN_AUTH_H
#define VN_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "server/http.h"

#define AUTH_TOKEN_TTL_MS             (30LL * 24 * 3600 * 1000) /* default session lifetime */
#define AUTH_MAX_FAILURES_PER_ACCOUNT 100                       /* per hour */
#define AUTH_MAX_FAILURES_PER_ADDRESS 300                       /* per hour */
#define AUTH_MIN_PASSWORD             8
#define AUTH_MAX_PASSWORD             1024

/* Initialises libsodium; returns 0, or -1 if it cannot start. */
int auth_init(void);

/* Sets how long new sessions live (milliseconds, > 0). */
void auth_set_session_ttl(int64_t ms);

/* Finds the caller's session (bearer header, else cookie) and sets
 * ctx->user_id. Returns 0, or answers 401 (503 if the database fails) and
 * returns -1. */
int auth_authenticate(vctx *ctx);

/* SHA-256 of a token as sent by the client. */
void auth_token_hash(const char *token, size_t len, uint8_t out[32]);

/* Milliseconds since the Unix epoch. */
int64_t auth_now_ms(void);

/* Route handlers. */
void auth_route_register(vctx *ctx);
void auth_route_login(vctx *ctx);
void auth_route_logout(vctx *ctx);
void auth_route_me(vctx *ctx);

#endif /* VN_AUTH_H */
