/*
 * test_api_auth.c - accounts, sessions, vaults, members and the
 * authorization matrix over real HTTP, against SQLite and PostgreSQL.
 */
#include "api.h"
#include "test.h"

#include <ctype.h>
#include <unistd.h>

#define PASSWORD_BODY(email, pw) "{\"email\":\"" email "\",\"password\":\"" pw "\"}"

static vserver srv;

/* Runs `body` against a fresh server on `backend`; the server is stopped
 * (and must exit 0) even when an assertion in body failed. */
static void with_server(const char *backend, const char *const *flags, void (*body)(void)) {
    ASSERT_EQ_INT(vserver_start(&srv, backend, flags), 0);
    body();
    int failed = test_failed_current;
    int rc = vserver_stop(&srv);
    if (failed) return;
    ASSERT_EQ_INT(rc, 0);
}

static void json_body(char *out, size_t n, const char *email, const char *pw) {
    snprintf(out, n, "{\"email\":\"%s\",\"password\":\"%s\"}", email, pw);
}

static void register_and_login(void) {
    char email[128], body[512], cookie[512], hdr[600];
    unique_email("ada", email);
    json_body(body, sizeof(body), email, "correct horse battery");
    json_t *j = NULL;
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/auth/register", NULL, body, &j), 201);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "email")), email);
    ASSERT_TRUE(json_object_get(j, "password") == NULL);
    json_decref(j);
    /* The same email again, in other case: one account per address. */
    char upper[128];
    for (size_t i = 0; i <= strlen(email); i++) upper[i] = (char)toupper((unsigned char)email[i]);
    json_body(body, sizeof(body), upper, "another password");
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/auth/register", NULL, body, NULL), 409);

    /* Wrong password: 401, and no token. */
    json_body(body, sizeof(body), email, "wrong password!");
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/auth/login", NULL, body, &j), 401);
    ASSERT_TRUE(json_object_get(j, "token") == NULL);
    json_decref(j);
    /* Unknown account: the same answer. */
    json_body(body, sizeof(body), "nobody@example.test", "wrong password!");
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/auth/login", NULL, body, NULL), 401);

    json_body(body, sizeof(body), email, "correct horse battery");
    vresp r;
    ASSERT_EQ_INT(vhttp_call(srv.port, "POST", "/api/v1/auth/login", NULL, NULL, NULL, body,
                             strlen(body), &r),
                  0);
    ASSERT_EQ_INT(r.status, 200);
    j = json_loads(r.body, 0, NULL);
    const char *set_cookie = vresp_header(&r, "set-cookie", cookie, sizeof(cookie));
    vresp_free(&r);
    ASSERT_TRUE(j != NULL);
    char token[64];
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    ASSERT_EQ_UINT(strlen(token), 43); /* 256 bits, base64url */
    ASSERT_TRUE(set_cookie != NULL);
    ASSERT_TRUE(strstr(set_cookie, "HttpOnly") != NULL);
    ASSERT_TRUE(strstr(set_cookie, "SameSite=Strict") != NULL);
    ASSERT_TRUE(strstr(set_cookie, token) != NULL);

    /* The bearer token and the cookie both identify the user. */
    ASSERT_EQ_INT(api(&srv, "GET", "/api/v1/me", token, NULL, &j), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "email")), email);
    json_decref(j);
    snprintf(hdr, sizeof(hdr), "Cookie: theme=dark; vn_session=%s\r\n", token);
    ASSERT_EQ_INT(vhttp_call(srv.port, "GET", "/api/v1/me", NULL, hdr, NULL, NULL, 0, &r), 0);
    int cookie_status = r.status;
    vresp_free(&r);
    ASSERT_EQ_INT(cookie_status, 200);

    ASSERT_EQ_INT(api(&srv, "GET", "/api/v1/me", NULL, NULL, NULL), 401);
    ASSERT_EQ_INT(api(&srv, "GET", "/api/v1/me", "not-a-token", NULL, NULL), 401);

    /* Logout revokes the token. */
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/auth/logout", token, NULL, NULL), 204);
    ASSERT_EQ_INT(api(&srv, "GET", "/api/v1/me", token, NULL, NULL), 401);

    /* No token ever reaches the log. */
    char *log = vread_file(srv.proc.log_path);
    ASSERT_TRUE(log != NULL);
    int leaked = strstr(log, token) != NULL;
    free(log);
    ASSERT_FALSE(leaked);
}

TEST(register_login_logout_sqlite) {
    CHECK_HELPER(with_server("sqlite", NULL, register_and_login));
}
TEST(register_login_logout_postgres) {
    CHECK_HELPER(with_server("postgres", NULL, register_and_login));
}

static void bad_bodies(void) {
    static const struct {
        const char *body;
        const char *type;
        int status;
    } cases[] = {
        {"{\"email\":\"x@example.test\",\"password\":", NULL, 400},          /* malformed */
        {"[1,2,3]", NULL, 400},                                              /* not an object */
        {"{\"email\":\"x@example.test\",\"password\":12345678}", NULL, 422}, /* wrong type */
        {"{\"email\":\"x@example.test\",\"password\":\"long enough\",\"admin\":\"yes\"}", NULL,
         400},
        {"{\"email\":\"not-an-email\",\"password\":\"long enough\"}", NULL, 422},
        {"{\"email\":\"x@example.test\",\"password\":\"short\"}", NULL, 422},
        {"{\"email\":\"x@example.test\"}", NULL, 422}, /* missing field */
        {"{\"email\":\"x@example.test\",\"password\":\"long enough\"}", "text/plain", 415},
        {"{\"email\":\"x@example.test\",\"email\":\"y@example.test\",\"password\":\"long enough\"}",
         NULL, 400}, /* duplicate key */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vresp r;
        ASSERT_EQ_INT(vhttp_call(srv.port, "POST", "/api/v1/auth/register", NULL, NULL,
                                 cases[i].type, cases[i].body, strlen(cases[i].body), &r),
                      0);
        int status = r.status;
        char type[128];
        int problem = vresp_header(&r, "content-type", type, sizeof(type)) != NULL &&
                      strcmp(type, "application/problem+json") == 0;
        json_t *j = json_loads(r.body, 0, NULL);
        vresp_free(&r);
        if (status != cases[i].status) fprintf(stderr, "case %zu: %s\n", i, cases[i].body);
        ASSERT_EQ_INT(status, cases[i].status);
        ASSERT_TRUE(problem);
        ASSERT_EQ_INT(json_integer_value(json_object_get(j, "status")), cases[i].status);
        ASSERT_TRUE(json_string_length(json_object_get(j, "detail")) > 0);
        json_decref(j);
    }
    /* Deep nesting and an oversized body. */
    char deep[400];
    size_t n = 0;
    for (int i = 0; i < 100; i++) deep[n++] = '[';
    for (int i = 0; i < 100; i++) deep[n++] = ']';
    deep[n] = '\0';
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/auth/register", NULL, deep, NULL), 400);
    size_t big_len = (9u << 20);
    char *big = malloc(big_len + 1);
    memset(big, ' ', big_len);
    big[big_len] = '\0';
    vresp r;
    int rc =
        vhttp_call(srv.port, "POST", "/api/v1/auth/register", NULL, NULL, NULL, big, big_len, &r);
    free(big);
    ASSERT_EQ_INT(rc, 0);
    int big_status = r.status;
    vresp_free(&r);
    ASSERT_EQ_INT(big_status, 413);
    /* None of that created an account. */
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/auth/login", NULL,
                      PASSWORD_BODY("x@example.test", "long enough"), NULL),
                  401);
}

TEST(bad_bodies_are_problems_and_change_nothing) {
    CHECK_HELPER(with_server("sqlite", NULL, bad_bodies));
}

static void session_expiry(void) {
    char email[128], token[64];
    long long uid;
    unique_email("exp", email);
    ASSERT_EQ_INT(signup(&srv, email, token, &uid), 0);
    ASSERT_EQ_INT(api(&srv, "GET", "/api/v1/me", token, NULL, NULL), 200);
    sleep(3); /* the server was started with --session-ttl 2 */
    ASSERT_EQ_INT(api(&srv, "GET", "/api/v1/me", token, NULL, NULL), 401);
}

TEST(expired_token_is_refused) {
    static const char *const flags[] = {"--session-ttl", "2", NULL};
    CHECK_HELPER(with_server("sqlite", flags, session_expiry));
}

static void brute_force(void) {
    char email[128], token[64], body[512];
    long long uid;
    unique_email("victim", email);
    ASSERT_EQ_INT(signup(&srv, email, token, &uid), 0);
    json_body(body, sizeof(body), email, "guess guess guess");
    for (int i = 0; i < 100; i++)
        ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/auth/login", NULL, body, NULL), 401);
    /* The limit holds even for the right password now. */
    json_body(body, sizeof(body), email, "correct horse battery");
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/auth/login", NULL, body, NULL), 429);
    /* Other accounts are not locked out by it. */
    char other[128], other_token[64];
    unique_email("bystander", other);
    ASSERT_EQ_INT(signup(&srv, other, other_token, &uid), 0);
}

TEST(failed_logins_are_limited_per_account) {
    CHECK_HELPER(with_server("sqlite", NULL, brute_force));
}

/* ---- vaults, members and the authorization matrix ------------------------ */

static char owner_tok[64], editor_tok[64], viewer_tok[64], outsider_tok[64];
static long long owner_id, editor_id, viewer_id, outsider_id;
static char vault_id[40];

static void setup_vault(void) {
    char email[128], body[300];
    unique_email("owner", email);
    ASSERT_EQ_INT(signup(&srv, email, owner_tok, &owner_id), 0);
    char editor_email[128], viewer_email[128];
    unique_email("editor", editor_email);
    ASSERT_EQ_INT(signup(&srv, editor_email, editor_tok, &editor_id), 0);
    unique_email("viewer", viewer_email);
    ASSERT_EQ_INT(signup(&srv, viewer_email, viewer_tok, &viewer_id), 0);
    unique_email("outsider", email);
    ASSERT_EQ_INT(signup(&srv, email, outsider_tok, &outsider_id), 0);

    json_t *j = NULL;
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/vaults", owner_tok, "{\"name\":\"Team notes\"}", &j),
                  201);
    snprintf(vault_id, sizeof(vault_id), "%s", json_string_value(json_object_get(j, "id")));
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "role")), "owner");
    json_decref(j);
    ASSERT_EQ_UINT(strlen(vault_id), 32);

    char path[128];
    snprintf(path, sizeof(path), "/api/v1/vaults/%s/members", vault_id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"role\":\"editor\"}", editor_email);
    ASSERT_EQ_INT(api(&srv, "POST", path, owner_tok, body, NULL), 201);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"role\":\"viewer\"}", viewer_email);
    ASSERT_EQ_INT(api(&srv, "POST", path, owner_tok, body, NULL), 201);
}

/* What an owner sees of the vault: the state that refused calls must not
 * change. Caller frees. */
static char *vault_state(void) {
    char path[128];
    json_t *v = NULL, *m = NULL;
    snprintf(path, sizeof(path), "/api/v1/vaults/%s", vault_id);
    api(&srv, "GET", path, owner_tok, NULL, &v);
    snprintf(path, sizeof(path), "/api/v1/vaults/%s/members", vault_id);
    api(&srv, "GET", path, owner_tok, NULL, &m);
    json_t *all = json_pack("{s:o?, s:o?}", "vault", v, "members", m);
    char *s = json_dumps(all, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(all);
    return s;
}

static void vault_basics(void) {
    CHECK_HELPER(setup_vault());
    json_t *j = NULL;
    /* Each member sees the vault in their list, with their role. */
    ASSERT_EQ_INT(api(&srv, "GET", "/api/v1/vaults", viewer_tok, NULL, &j), 200);
    json_t *list = json_object_get(j, "vaults");
    ASSERT_EQ_UINT(json_array_size(list), 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(list, 0), "role")), "viewer");
    json_decref(j);
    ASSERT_EQ_INT(api(&srv, "GET", "/api/v1/vaults", outsider_tok, NULL, &j), 200);
    ASSERT_EQ_UINT(json_array_size(json_object_get(j, "vaults")), 0);
    json_decref(j);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/vaults/%s", vault_id);
    ASSERT_EQ_INT(api(&srv, "GET", path, viewer_tok, NULL, &j), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "name")), "Team notes");
    ASSERT_TRUE(json_is_object(json_object_get(j, "tree")));
    json_decref(j);
    /* A vault that does not exist and one that is not yours look the same. */
    ASSERT_EQ_INT(
        api(&srv, "GET", "/api/v1/vaults/0123456789abcdef0123456789abcdef", owner_tok, NULL, NULL),
        404);
    ASSERT_EQ_INT(api(&srv, "GET", path, outsider_tok, NULL, NULL), 404);
    /* The last owner cannot leave or be demoted. */
    snprintf(path, sizeof(path), "/api/v1/vaults/%s/members/%lld", vault_id, owner_id);
    ASSERT_EQ_INT(api(&srv, "DELETE", path, owner_tok, NULL, NULL), 409);
    /* Bad vault names. */
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/vaults", owner_tok, "{\"name\":\"\"}", NULL), 422);
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/vaults", owner_tok, "{\"name\":\"a\\u0001b\"}", NULL),
                  422);
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/vaults", owner_tok, "{\"name\":7}", NULL), 422);
    /* Removing the editor works, and then they are an outsider. */
    snprintf(path, sizeof(path), "/api/v1/vaults/%s/members/%lld", vault_id, editor_id);
    ASSERT_EQ_INT(api(&srv, "DELETE", path, owner_tok, NULL, NULL), 204);
    snprintf(path, sizeof(path), "/api/v1/vaults/%s", vault_id);
    ASSERT_EQ_INT(api(&srv, "GET", path, editor_tok, NULL, NULL), 404);
}

TEST(vaults_and_members_sqlite) { CHECK_HELPER(with_server("sqlite", NULL, vault_basics)); }
TEST(vaults_and_members_postgres) { CHECK_HELPER(with_server("postgres", NULL, vault_basics)); }

/* Replaces each {param} of the pattern: {vault} by the test vault, {note}
 * by a note id (none yet: a random one), {user} by the editor's id. */
static void fill_pattern(const char *pattern, char *out, size_t n) {
    size_t o = 0;
    for (const char *p = pattern; *p && o + 40 < n;) {
        if (*p != '{') {
            out[o++] = *p++;
            continue;
        }
        const char *close = strchr(p, '}');
        if (strncmp(p, "{vault}", 7) == 0)
            o += (size_t)snprintf(out + o, n - o, "%s", vault_id);
        else if (strncmp(p, "{user}", 6) == 0)
            o += (size_t)snprintf(out + o, n - o, "%lld", editor_id);
        else
            o += (size_t)snprintf(out + o, n - o, "%s", "00000000000000000000000000000000");
        p = close + 1;
    }
    out[o] = '\0';
}

static void authorization_matrix(void) {
    CHECK_HELPER(setup_vault());
    char routes[16384];
    const char *const args[] = {"--routes", NULL};
    ASSERT_EQ_INT(vproc_run(args, routes, sizeof(routes)), 0);
    char *before = vault_state();
    int checked = 0;
    for (char *line = strtok(routes, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *r = json_loads(line, 0, NULL);
        ASSERT_TRUE(r != NULL);
        const char *method = json_string_value(json_object_get(r, "method"));
        const char *pattern = json_string_value(json_object_get(r, "pattern"));
        const char *access = json_string_value(json_object_get(r, "access"));
        char path[512];
        fill_pattern(pattern, path, sizeof(path));
        const char *body =
            strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0 ? NULL : "{}";
        int anon = strcmp(access, "public") != 0 ? api(&srv, method, path, NULL, body, NULL) : 401;
        /* Signing out is every user's right and would end the session the
         * rest of the matrix uses: only its anonymous refusal is checked. */
        int signs_out = strstr(pattern, "/logout") != NULL;
        int outsider = signs_out ? 0 : api(&srv, method, path, outsider_tok, body, NULL);
        int viewer = signs_out ? 0 : api(&srv, method, path, viewer_tok, body, NULL);
        if (strcmp(access, "public") != 0 && anon != 401)
            fprintf(stderr, "%s %s: anonymous got %d\n", method, pattern, anon);
        int scoped = strchr(pattern, '{') != NULL && strcmp(access, "user") != 0;
        if (scoped && strstr(pattern, "{vault}") != NULL && outsider != 404)
            fprintf(stderr, "%s %s: outsider got %d\n", method, pattern, outsider);
        int write_route = strcmp(access, "editor") == 0 || strcmp(access, "owner") == 0;
        if (write_route && strstr(pattern, "{vault}") != NULL && viewer != 403)
            fprintf(stderr, "%s %s: viewer got %d\n", method, pattern, viewer);
        int is_public = strcmp(access, "public") == 0;
        int on_vault = strstr(pattern, "{vault}") != NULL,
            on_note = strstr(pattern, "{note}") != NULL;
        json_decref(r);
        if (!is_public) ASSERT_EQ_INT(anon, 401);
        if (scoped && on_vault) ASSERT_EQ_INT(outsider, 404);
        if (scoped && on_note) ASSERT_EQ_INT(outsider, 404);
        if (write_route && on_vault) ASSERT_EQ_INT(viewer, 403);
        checked++;
    }
    char *after = vault_state();
    int same = before != NULL && after != NULL && strcmp(before, after) == 0;
    free(before);
    free(after);
    ASSERT_TRUE(checked >= 10);
    ASSERT_TRUE(same);
}

TEST(authorization_matrix_from_route_table_sqlite) {
    CHECK_HELPER(with_server("sqlite", NULL, authorization_matrix));
}
TEST(authorization_matrix_from_route_table_postgres) {
    CHECK_HELPER(with_server("postgres", NULL, authorization_matrix));
}
