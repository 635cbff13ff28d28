/*
 * auth.c - accounts, passwords, sessions and login limits (see auth.h).
 *
 * Password hashing and verification cost tens of milliseconds by design, so
 * they run on libuv's thread pool, never on the loop thread; the answer
 * comes back through vhttp_defer/vhttp_complete. Login answers the same
 * "wrong email or password" whether or not the account exists, and spends
 * the same hashing work in both cases.
 */
#include "server/auth.h"

#include "server/cache.h"

#include "util/log.h"
#include "util/vclock.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOUR_MS     (3600LL * 1000)
#define COOKIE_NAME "vn_session"

/* OWASP's argon2id minimum: m = 19 MiB, t = 2, p = 1 (libsodium uses p=1). */
#define PWHASH_OPS 2
#define PWHASH_MEM (19u << 20)

static int64_t session_ttl_ms = AUTH_TOKEN_TTL_MS;

void auth_set_session_ttl(int64_t ms) { session_ttl_ms = ms; }

int auth_init(void) { return sodium_init() < 0 ? -1 : 0; }

int64_t auth_now_ms(void) { return vclock_now_ms(); }

void auth_token_hash(const char *token, size_t len, uint8_t out[32]) {
    crypto_hash_sha256(out, (const unsigned char *)token, len);
}

/* The token the request carries, or an empty iovec. */
static h2o_iovec_t request_token(const vctx *ctx) {
    h2o_iovec_t a = vhttp_header(ctx, "authorization");
    if (a.len > 7 && strncasecmp(a.base, "Bearer ", 7) == 0)
        return h2o_iovec_init(a.base + 7, a.len - 7);
    h2o_iovec_t c = vhttp_header(ctx, "cookie");
    const char *p = c.base, *end = c.base + c.len;
    while (p != NULL && p < end) {
        while (p < end && (*p == ' ' || *p == ';')) p++;
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi != NULL ? semi : end;
        size_t n = sizeof(COOKIE_NAME) - 1;
        if ((size_t)(stop - p) > n && memcmp(p, COOKIE_NAME "=", n + 1) == 0)
            return h2o_iovec_init(p + n + 1, (size_t)(stop - p - n - 1));
        p = semi != NULL ? semi + 1 : NULL;
    }
    return h2o_iovec_init(NULL, 0);
}

int auth_authenticate(vctx *ctx) {
    h2o_iovec_t tok = request_token(ctx);
    if (tok.len == 0 || tok.len > 128) {
        vhttp_add_header(ctx, "www-authenticate", "Bearer");
        vhttp_send_problem(ctx, 401, "Unauthorized", "Sign in first: send a bearer token.");
        return -1;
    }
    uint8_t hash[32];
    auth_token_hash(tok.base, tok.len, hash);
    int64_t user = 0;
    int64_t now = auth_now_ms();
    vcache *cache = vhttp_session_cache(ctx->srv);
    if (vcache_get(cache, hash, now, &user)) {
        ctx->user_id = user;
        return 0;
    }
    int rc = store_session_user(ctx->st, hash, now, &user);
    if (rc == STORE_OK) vcache_put(cache, hash, user, now);
    if (rc == STORE_ENOTFOUND) {
        vhttp_add_header(ctx, "www-authenticate", "Bearer error=\"invalid_token\"");
        vhttp_send_problem(ctx, 401, "Unauthorized",
                           "The token is unknown, expired or signed out; sign in again.");
        return -1;
    }
    if (rc != STORE_OK) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "The database did not answer.");
        return -1;
    }
    ctx->user_id = user;
    return 0;
}

/* ---- request bodies -------------------------------------------------------- */

/* Lowercases and checks an email address into out (256 bytes). */
static int normalize_email(const char *in, char out[256]) {
    size_t n = strlen(in);
    if (n < 3 || n > 254) return -1;
    const char *at = strchr(in, '@');
    if (at == NULL || at == in || at[1] == '\0' || strchr(at + 1, '@') != NULL) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= ' ' || c == 0x7f) return -1;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return 0;
}

static json_t *user_json(const store_user *u) {
    return json_pack("{s:I, s:s, s:s}", "id", (json_int_t)u->id, "email", u->email, "name",
                     u->name != NULL ? u->name : "");
}

/* ---- register -------------------------------------------------------------- */

typedef struct {
    uv_work_t work;
    vdeferred *deferred;
    store *st;
    char email[256];
    char *name;
    char *password;
    size_t password_len;
    char hash[crypto_pwhash_STRBYTES];
    int hash_rc;
    /* login */
    store_user user;
    int user_rc;
    int verified;
} pw_job;

static void pw_job_free(pw_job *j) {
    if (j->password != NULL) {
        sodium_memzero(j->password, j->password_len);
        free(j->password);
    }
    free(j->name);
    store_user_free(&j->user);
    free(j);
}

static void after_work(uv_work_t *w, int status) {
    (void)status;
    pw_job *j = w->data;
    vhttp_complete(j->deferred); /* the answer runs from the loop's queue */
}

static void hash_work(uv_work_t *w) {
    pw_job *j = w->data;
    j->hash_rc = crypto_pwhash_str_alg(j->hash, j->password, j->password_len, PWHASH_OPS,
                                       PWHASH_MEM, crypto_pwhash_ALG_ARGON2ID13);
}

static void register_done(vctx *ctx, void *ud) {
    pw_job *j = ud;
    if (ctx == NULL) goto done;
    if (j->hash_rc != 0) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "The password could not be hashed.");
        goto done;
    }
    int64_t id = 0;
    int rc = store_user_create(ctx->st, j->email, j->name, j->hash, auth_now_ms(), &id);
    if (rc == STORE_ECONFLICT) {
        vhttp_send_problem(ctx, 409, "Conflict", "An account with this email already exists.");
        goto done;
    }
    if (rc != STORE_OK) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "The account could not be stored.");
        goto done;
    }
    vlog(VLOG_INFO, "account created",
         json_pack("{s:I, s:s}", "user_id", (json_int_t)id, "trace_id", ctx->trace_id));
    vhttp_send_json(
        ctx, 201,
        json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "email", j->email, "name", j->name));
done:
    pw_job_free(j);
}

static pw_job *job_from_body(vctx *ctx) {
    const char *email = json_string_value(json_object_get(ctx->body, "email"));
    const char *password = json_string_value(json_object_get(ctx->body, "password"));
    const char *name = json_string_value(json_object_get(ctx->body, "name"));
    pw_job *j = calloc(1, sizeof(*j));
    if (j == NULL) return NULL;
    j->st = ctx->st;
    if (normalize_email(email, j->email) != 0) {
        free(j);
        vhttp_send_problem(ctx, 422, "Unprocessable Content", "That is not an email address.");
        return NULL;
    }
    j->password_len = strlen(password);
    j->password = malloc(j->password_len + 1);
    j->name = strdup(name != NULL ? name : "");
    if (j->password == NULL || j->name == NULL) {
        pw_job_free(j);
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        return NULL;
    }
    memcpy(j->password, password, j->password_len + 1);
    return j;
}

static int start_job(vctx *ctx, pw_job *j, uv_work_cb work, vdeferred_fn done) {
    j->deferred = vhttp_defer(ctx, done, j);
    if (j->deferred == NULL) {
        pw_job_free(j);
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        return -1;
    }
    j->work.data = j;
    uv_queue_work(ctx->req->conn->ctx->loop, &j->work, work, after_work);
    return 0;
}

void auth_route_register(vctx *ctx) {
    static const char *const keys[] = {"email", "password", "name", NULL};
    if (vctx_body_fields(ctx, keys, NULL, 2) != 0) return;
    const char *password = json_string_value(json_object_get(ctx->body, "password"));
    size_t plen = strlen(password);
    if (plen < AUTH_MIN_PASSWORD || plen > AUTH_MAX_PASSWORD) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "The password must be 8 to 1024 characters long.");
        return;
    }
    const char *name = json_string_value(json_object_get(ctx->body, "name"));
    if (name != NULL && strlen(name) > 200) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content", "The name is longer than 200 bytes.");
        return;
    }
    pw_job *j = job_from_body(ctx);
    if (j == NULL) return;
    start_job(ctx, j, hash_work, register_done);
}

/* ---- login ----------------------------------------------------------------- */

/* A hash of a password nobody knows, verified when the account does not
 * exist so that both cases cost the same. Made once, lazily, per process. */
static char dummy_hash[crypto_pwhash_STRBYTES];
static uv_once_t dummy_once = UV_ONCE_INIT;

static void make_dummy_hash(void) {
    char pw[32];
    randombytes_buf(pw, sizeof(pw));
    if (crypto_pwhash_str_alg(dummy_hash, pw, sizeof(pw), PWHASH_OPS, PWHASH_MEM,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        dummy_hash[0] = '\0';
}

static void verify_work(uv_work_t *w) {
    pw_job *j = w->data;
    j->user_rc = store_user_by_email(j->st, j->email, &j->user);
    if (j->user_rc == STORE_OK) {
        j->verified = crypto_pwhash_str_verify(j->user.pwhash, j->password, j->password_len) == 0;
    } else {
        uv_once(&dummy_once, make_dummy_hash);
        /* Spend the same work as a real check; the outcome is irrelevant. */
        int same_cost = dummy_hash[0] != '\0'
                            ? crypto_pwhash_str_verify(dummy_hash, j->password, j->password_len)
                            : -1;
        (void)same_cost;
        j->verified = 0;
    }
}

static void token_encode(const uint8_t raw[32], char out[64]) {
    sodium_bin2base64(out, 64, raw, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void login_done(vctx *ctx, void *ud) {
    pw_job *j = ud;
    if (ctx == NULL) goto done;
    int64_t now = auth_now_ms();
    if (j->user_rc != STORE_OK && j->user_rc != STORE_ENOTFOUND) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "The database did not answer.");
        goto done;
    }
    if (!j->verified) {
        char key[300];
        snprintf(key, sizeof(key), "acct:%s", j->email);
        store_login_failure_add(ctx->st, key, now);
        snprintf(key, sizeof(key), "addr:%s", ctx->client_addr);
        store_login_failure_add(ctx->st, key, now);
        vlog(VLOG_INFO, "login failed", json_pack("{s:s}", "trace_id", ctx->trace_id));
        vhttp_send_problem(ctx, 401, "Unauthorized", "Wrong email or password.");
        goto done;
    }
    uint8_t raw[32], hash[32];
    char token[64];
    randombytes_buf(raw, sizeof(raw));
    token_encode(raw, token);
    auth_token_hash(token, strlen(token), hash);
    int64_t expires = now + session_ttl_ms;
    if (store_session_create(ctx->st, hash, j->user.id, now, expires) != STORE_OK) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "The session could not be stored.");
        goto done;
    }
    char cookie[200];
    snprintf(cookie, sizeof(cookie),
             COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld", token,
             (long long)(session_ttl_ms / 1000));
    vhttp_add_header(ctx, "set-cookie", cookie);
    vlog(VLOG_INFO, "login",
         json_pack("{s:I, s:s}", "user_id", (json_int_t)j->user.id, "trace_id", ctx->trace_id));
    vhttp_send_json(ctx, 200,
                    json_pack("{s:s, s:I, s:o}", "token", token, "expires", (json_int_t)expires,
                              "user", user_json(&j->user)));
    sodium_memzero(token, sizeof(token));
done:
    pw_job_free(j);
}

/* Answers 429 and returns -1 when `key` failed too often in the last hour. */
static int over_limit(vctx *ctx, const char *key, int64_t limit, int64_t now) {
    int64_t n = 0;
    if (store_login_failures(ctx->st, key, now - HOUR_MS, &n) != STORE_OK) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "The database did not answer.");
        return -1;
    }
    if (n < limit) return 0;
    vhttp_add_header(ctx, "retry-after", "3600");
    vhttp_send_problem(ctx, 429, "Too Many Requests",
                       "Too many failed sign-ins; wait an hour before trying again.");
    return -1;
}

void auth_route_login(vctx *ctx) {
    static const char *const keys[] = {"email", "password", NULL};
    if (vctx_body_fields(ctx, keys, NULL, 2) != 0) return;
    pw_job *j = job_from_body(ctx);
    if (j == NULL) return;
    int64_t now = auth_now_ms();
    char key[300];
    snprintf(key, sizeof(key), "acct:%s", j->email);
    if (over_limit(ctx, key, AUTH_MAX_FAILURES_PER_ACCOUNT, now) != 0) goto refused;
    snprintf(key, sizeof(key), "addr:%s", ctx->client_addr);
    if (over_limit(ctx, key, AUTH_MAX_FAILURES_PER_ADDRESS, now) != 0) goto refused;
    start_job(ctx, j, verify_work, login_done);
    return;
refused:
    pw_job_free(j);
}

/* ---- logout and me --------------------------------------------------------- */

void auth_route_logout(vctx *ctx) {
    h2o_iovec_t tok = request_token(ctx);
    uint8_t hash[32];
    auth_token_hash(tok.base, tok.len, hash);
    vcache_evict(vhttp_session_cache(ctx->srv), hash);
    int rc = store_session_delete(ctx->st, hash);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "The database did not answer.");
        return;
    }
    vhttp_add_header(ctx, "set-cookie",
                     COOKIE_NAME "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    vhttp_send_raw(ctx, 204, NULL, "", 0);
}

void auth_route_me(vctx *ctx) {
    store_user u;
    int rc = store_user_by_id(ctx->st, ctx->user_id, &u);
    if (rc != STORE_OK) {
        vhttp_send_problem(ctx, rc == STORE_ENOTFOUND ? 404 : 503,
                           rc == STORE_ENOTFOUND ? "Not Found" : "Service Unavailable",
                           rc == STORE_ENOTFOUND ? "The account no longer exists."
                                                 : "The database did not answer.");
        return;
    }
    vhttp_send_json(ctx, 200, user_json(&u));
    store_user_free(&u);
}
