/*
 * test_api_notes.c - notes over REST as a user meets them, on SQLite and
 * PostgreSQL: the DESIGN.md merge done with two stale PUTs, persistence
 * across a restart, folder rename atomicity (with a failure injected in the
 * commit), and bad input that must change nothing.
 */
#include "api.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static vserver srv;
static char tok[64], viewer_tok[64];
static char vault[40];

static void with_server(const char *backend, const char *const *flags, void (*body)(void)) {
    ASSERT_EQ_INT(vserver_start(&srv, backend, flags), 0);
    body();
    int failed = test_failed_current;
    int rc = vserver_stop(&srv);
    if (failed) return;
    ASSERT_EQ_INT(rc, 0);
}

/* A user with a vault (and a viewer on it). */
static void setup(void) {
    char email[128], viewer_email[128];
    long long uid, vid;
    unique_email("writer", email);
    ASSERT_EQ_INT(signup(&srv, email, tok, &uid), 0);
    unique_email("reader", viewer_email);
    ASSERT_EQ_INT(signup(&srv, viewer_email, viewer_tok, &vid), 0);
    ASSERT_EQ_INT(api_create_vault(&srv, tok, "Notes", vault), 0);
    ASSERT_EQ_INT(api_add_member(&srv, tok, vault, viewer_email, "viewer"), 201);
}

/* Creates a note; id receives its id (40 bytes). */
static void create_note(const char *path, const char *content, char id[40]) {
    ASSERT_EQ_INT(api_create_note(&srv, tok, vault, path, content, id), 201);
    ASSERT_EQ_UINT(strlen(id), 32);
}

/* GETs a note: content into out (malloc'd), etag into etag. Returns status. */
static int get_note(const char *id, char **content, char etag[64], const char *token) {
    return api_get_note(&srv, token ? token : tok, id, content, etag);
}

static int put_note(const char *id, const char *etag, const char *content) {
    char url[128], hdr[128];
    snprintf(url, sizeof(url), "/api/v1/notes/%s", id);
    if (etag != NULL) snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
    json_t *b = json_pack("{s:s}", "content", content);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    vresp r;
    int rc = vhttp_call(srv.port, "PUT", url, tok, etag ? hdr : NULL, NULL, body, strlen(body), &r);
    free(body);
    if (rc != 0) return -1;
    int status = r.status;
    vresp_free(&r);
    return status;
}

static void design_merge(void) {
    CHECK_HELPER(setup());
    char id[40], etag[64], *text = NULL;
    CHECK_HELPER(create_note("/Greeting.md", "Hello world", id));
    ASSERT_EQ_INT(get_note(id, &text, etag, NULL), 200);
    ASSERT_EQ_STR(text, "Hello world");
    free(text);
    /* Device A and device B both read "Hello world" and write back. */
    ASSERT_EQ_INT(put_note(id, etag, "Hello beautiful world"), 200);
    ASSERT_EQ_INT(put_note(id, etag, "Hello universe"), 200); /* stale: merges */
    ASSERT_EQ_INT(get_note(id, &text, NULL, NULL), 200);
    ASSERT_EQ_STR(text, "Hello beautiful universe");
    free(text);
    /* Without If-Match: refused; with a nonsense ETag: refused; with a
     * future version: refused. None of them changes the note. */
    ASSERT_EQ_INT(put_note(id, NULL, "gone"), 428);
    ASSERT_EQ_INT(put_note(id, "\"banana\"", "gone"), 400);
    ASSERT_EQ_INT(put_note(id, "\"v999999\"", "gone"), 412);
    ASSERT_EQ_INT(get_note(id, &text, NULL, NULL), 200);
    ASSERT_EQ_STR(text, "Hello beautiful universe");
    free(text);
}

TEST(design_merge_over_rest_sqlite) { CHECK_HELPER(with_server("sqlite", NULL, design_merge)); }
TEST(design_merge_over_rest_postgres) { CHECK_HELPER(with_server("postgres", NULL, design_merge)); }

static void restart_keeps_everything(const char *backend) {
    char id[40], etag[64], *text = NULL;
    ASSERT_EQ_INT(vserver_start(&srv, backend, NULL), 0);
    /* Keep the data directory across the restart: start the second server
     * on the same one. */
    CHECK_HELPER(setup());
    CHECK_HELPER(create_note("/Journal/Monday.md", "# Monday\nRain.", id));
    ASSERT_EQ_INT(get_note(id, NULL, etag, NULL), 200);
    ASSERT_EQ_INT(put_note(id, etag, "# Monday\nRain, then sun."), 200);
    char data[300];
    snprintf(data, sizeof(data), "%s/data", srv.proc.dir);
    ASSERT_EQ_INT(vproc_stop(&srv.proc, 30), 0);

    vserver again;
    const char *flags[] = {"--data-dir", data, "--database", srv.dburl, NULL};
    if (strcmp(backend, "sqlite") == 0) flags[2] = NULL;
    ASSERT_EQ_INT(vserver_start(&again, backend, flags), 0);
    vserver first = srv;
    srv = again;
    int status = get_note(id, &text, NULL, NULL);
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/notes?prefix=/Journal", vault);
    json_t *list = NULL;
    int lstatus = api(&srv, "GET", url, tok, NULL, &list);
    int rc = vserver_stop(&srv);
    srv = first;
    vproc_cleanup(&srv.proc);
    ASSERT_EQ_INT(status, 200);
    ASSERT_EQ_STR(text, "# Monday\nRain, then sun.");
    free(text);
    ASSERT_EQ_INT(lstatus, 200);
    json_t *notes = json_object_get(list, "notes");
    ASSERT_EQ_UINT(json_array_size(notes), 1);
    ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(notes, 0), "title")), "Monday");
    json_decref(list);
    ASSERT_EQ_INT(rc, 0);
}

TEST(restart_keeps_notes_sqlite) { CHECK_HELPER(restart_keeps_everything("sqlite")); }
TEST(restart_keeps_notes_postgres) { CHECK_HELPER(restart_keeps_everything("postgres")); }

/* Paths of the vault's live notes, sorted, joined by '\n'; caller frees. */
static char *paths(void) {
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/notes", vault);
    json_t *j = NULL;
    if (api(&srv, "GET", url, tok, NULL, &j) != 200) return NULL;
    char *out = calloc(1, 8192);
    json_t *n;
    size_t i;
    json_array_foreach(json_object_get(j, "notes"), i, n) {
        strcat(out, json_string_value(json_object_get(n, "path")));
        strcat(out, "\n");
    }
    json_decref(j);
    return out;
}

static int rename_folder(const char *from, const char *to) {
    char url[128], body[256];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/folders/rename", vault);
    snprintf(body, sizeof(body), "{\"from\":\"%s\",\"to\":\"%s\"}", from, to);
    return api(&srv, "POST", url, tok, body, NULL);
}

static void folders(void) {
    CHECK_HELPER(setup());
    char a[40], b[40], c[40], d[40];
    CHECK_HELPER(create_note("/Projects/Q1/Design.md", "# Design", a));
    CHECK_HELPER(create_note("/Projects/Q1/Plan.md", "plan", b));
    CHECK_HELPER(create_note("/Projects/Q10/Other.md", "other", c));
    CHECK_HELPER(create_note("/Archive/Plan.md", "old plan", d));
    /* Moving Q1 onto Archive would put two files at /Archive/Plan.md. */
    char *before = paths();
    ASSERT_EQ_INT(rename_folder("/Projects/Q1", "/Archive"), 409);
    char *after = paths();
    int same = before && after && strcmp(before, after) == 0;
    free(before);
    free(after);
    ASSERT_TRUE(same);
    ASSERT_EQ_INT(rename_folder("/Projects/Q1", "/Projects/Q1/Sub"), 422);
    ASSERT_EQ_INT(rename_folder("/Nowhere", "/Elsewhere"), 404);
    ASSERT_EQ_INT(rename_folder("/Projects/Q1", "/Done/2026 Q1"), 200);
    char *now = paths();
    ASSERT_EQ_STR(now, "/Archive/Plan.md\n/Done/2026 Q1/Design.md\n/Done/2026 Q1/Plan.md\n"
                       "/Projects/Q10/Other.md\n");
    free(now);
    /* A viewer may read but not rename. */
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/folders/rename", vault);
    ASSERT_EQ_INT(api(&srv, "POST", url, viewer_tok, "{\"from\":\"/Archive\",\"to\":\"/X\"}", NULL),
                  403);
}

TEST(folder_rename_sqlite) { CHECK_HELPER(with_server("sqlite", NULL, folders)); }
TEST(folder_rename_postgres) { CHECK_HELPER(with_server("postgres", NULL, folders)); }

static void folder_rename_fault(void) {
    CHECK_HELPER(setup());
    char a[40], b[40];
    CHECK_HELPER(create_note("/Inbox/One.md", "1", a));
    CHECK_HELPER(create_note("/Inbox/Two.md", "2", b));
    char *before = paths();
    /* The server runs with VAULT_FAULT=folder-rename: the commit fails
     * after its steps ran. Nothing may move, in the database or in memory. */
    int status = rename_folder("/Inbox", "/Filed");
    char *after = paths();
    char *one = NULL;
    int one_status = get_note(a, &one, NULL, NULL);
    int same = before && after && strcmp(before, after) == 0;
    free(before);
    free(after);
    ASSERT_EQ_INT(status, 503);
    ASSERT_TRUE(same);
    ASSERT_EQ_INT(one_status, 200);
    ASSERT_EQ_STR(one, "1");
    free(one);
    /* The index document was reloaded: a plain rename of one note works. */
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/notes/%s", a);
    ASSERT_EQ_INT(api(&srv, "PATCH", url, tok, "{\"path\":\"/Inbox/Uno.md\"}", NULL), 200);
    char *final = paths();
    ASSERT_EQ_STR(final, "/Inbox/Two.md\n/Inbox/Uno.md\n");
    free(final);
}

TEST(folder_rename_is_all_or_nothing_when_the_commit_fails) {
    setenv("VAULT_FAULT", "folder-rename", 1);
    with_server("sqlite", NULL, folder_rename_fault);
    unsetenv("VAULT_FAULT");
}

static void bad_input(void) {
    CHECK_HELPER(setup());
    char id[40];
    CHECK_HELPER(create_note("/Keep.md", "keep me", id));
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/notes", vault);
    static const char *const bad_paths[] = {
        "{\"path\":\"relative.md\"}", "{\"path\":\"/a/../b.md\"}",     "{\"path\":\"/a//b.md\"}",
        "{\"path\":\"/a/./b.md\"}",   "{\"path\":\"/tab\\there.md\"}", "{\"path\":\"/\"}",
        "{\"path\":\"/dir/\"}",
    };
    for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
        int status = api(&srv, "POST", url, tok, bad_paths[i], NULL);
        if (status != 422) fprintf(stderr, "path case %zu: %s\n", i, bad_paths[i]);
        ASSERT_EQ_INT(status, 422);
    }
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"path\":\"/Keep.md\",\"content\":\"dup\"}", NULL),
                  409);
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"path\":\"/x.md\",\"content\":5}", NULL), 422);
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"path\":\"/x.md\",\"color\":\"red\"}", NULL), 400);
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"path\":\"/x.md\"", NULL), 400);
    ASSERT_EQ_INT(api(&srv, "POST", url, viewer_tok, "{\"path\":\"/x.md\"}", NULL), 403);
    /* A note over the size limit. */
    size_t big = (5u << 20);
    char *huge = malloc(big + 64);
    int n = snprintf(huge, 64, "{\"path\":\"/big.md\",\"content\":\"");
    memset(huge + n, 'x', big);
    strcpy(huge + n + big, "\"}");
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, huge, NULL), 413);
    free(huge);
    char *list = paths();
    ASSERT_EQ_STR(list, "/Keep.md\n");
    free(list);
    /* Viewers read; they may not write. */
    char *text = NULL, etag[64];
    ASSERT_EQ_INT(get_note(id, &text, etag, viewer_tok), 200);
    ASSERT_EQ_STR(text, "keep me");
    free(text);
    snprintf(url, sizeof(url), "/api/v1/notes/%s", id);
    ASSERT_EQ_INT(api(&srv, "DELETE", url, viewer_tok, NULL, NULL), 403);
    /* Trash: gone from the list and from GET. */
    ASSERT_EQ_INT(api(&srv, "DELETE", url, tok, NULL, NULL), 204);
    ASSERT_EQ_INT(get_note(id, NULL, NULL, NULL), 404);
    list = paths();
    ASSERT_EQ_STR(list, "");
    free(list);
    /* The path is free again. */
    char again[40];
    CHECK_HELPER(create_note("/Keep.md", "new", again));
}

TEST(bad_input_changes_nothing_sqlite) { CHECK_HELPER(with_server("sqlite", NULL, bad_input)); }
TEST(bad_input_changes_nothing_postgres) { CHECK_HELPER(with_server("postgres", NULL, bad_input)); }

static void metrics_and_readiness(void) {
    CHECK_HELPER(setup());
    char id[40];
    CHECK_HELPER(create_note("/Metrics.md", "counted", id));
    ASSERT_EQ_INT(api(&srv, "GET", "/readyz", NULL, NULL, NULL), 200);
    vresp r;
    ASSERT_EQ_INT(vhttp_call(srv.port, "GET", "/metrics", NULL, NULL, NULL, NULL, 0, &r), 0);
    int status = r.status;
    int by_route =
        strstr(r.body, "vault_http_requests_total{method=\"POST\",route=\"/api/v1/vaults/"
                       "{vault}/notes\",status=\"201\"} 1\n") != NULL;
    int latency = strstr(r.body, "vault_http_request_duration_seconds_bucket{le=\"+Inf\"}") != NULL;
    int commits = strstr(r.body, "vault_store_commit_batch_size_count 1\n") != NULL;
    int open_docs = strstr(r.body, "vault_open_documents 2\n") != NULL;
    /* The sync series are there from the start, at zero (tests/interop/sync_metrics.test.mjs
     * drives them with real clients). */
    static const char *const zero[] = {
        "# TYPE vault_sync_updates_total counter\nvault_sync_updates_total 0\n",
        "# TYPE vault_sync_received_bytes_total counter\nvault_sync_received_bytes_total 0\n",
        "# TYPE vault_sync_sent_bytes_total counter\nvault_sync_sent_bytes_total 0\n",
        "# TYPE vault_sync_fanout_seconds histogram\n",
        "vault_sync_fanout_seconds_bucket{le=\"5e-05\"} 0\n",
        "vault_sync_fanout_seconds_count 0\n",
        "# TYPE vault_sync_connections gauge\nvault_sync_connections 0\n",
        "# TYPE vault_pending_structs gauge\nvault_pending_structs 0\n",
    };
    int missing = -1;
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]) && missing < 0; i++)
        if (strstr(r.body, zero[i]) == NULL) missing = (int)i;
    if (missing >= 0) fprintf(stderr, "missing from /metrics: %s\n%s", zero[missing], r.body);
    vresp_free(&r);
    ASSERT_EQ_INT(status, 200);
    ASSERT_TRUE(by_route);
    ASSERT_TRUE(latency);
    ASSERT_TRUE(commits);
    ASSERT_TRUE(open_docs);
    ASSERT_EQ_INT(missing, -1);
}

TEST(metrics_and_readiness_sqlite) {
    CHECK_HELPER(with_server("sqlite", NULL, metrics_and_readiness));
}
