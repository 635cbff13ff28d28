/*
 * test_api_history.c - version history as a user meets it, on SQLite and
 * PostgreSQL: versions taken once editing pauses (and during long editing),
 * listed newest first with paging, the text at a version, line diffs, and
 * restoring a version (a new edit that is a version itself); viewers read
 * history, only editors restore.
 */
#include "api.h"
#include "test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static vserver srv;
static char tok[64], viewer_tok[64];
static long long owner_id;
static char vault[40];

static void with_server(const char *backend, const char *const *flags, void (*body)(void)) {
    ASSERT_EQ_INT(vserver_start(&srv, backend, flags), 0);
    body();
    int failed = test_failed_current;
    int rc = vserver_stop(&srv);
    if (failed) return;
    ASSERT_EQ_INT(rc, 0);
}

static void setup(void) {
    char email[128], viewer_email[128];
    long long vid;
    unique_email("author", email);
    ASSERT_EQ_INT(signup(&srv, email, tok, &owner_id), 0);
    unique_email("reader", viewer_email);
    ASSERT_EQ_INT(signup(&srv, viewer_email, viewer_tok, &vid), 0);
    ASSERT_EQ_INT(api_create_vault(&srv, tok, "History", vault), 0);
    ASSERT_EQ_INT(api_add_member(&srv, tok, vault, viewer_email, "viewer"), 201);
}

static void create_note(const char *path, const char *content, char id[40]) {
    ASSERT_EQ_INT(api_create_note(&srv, tok, vault, path, content, id), 201);
}

static int get_note(const char *id, char **content, char etag[64]) {
    return api_get_note(&srv, tok, id, content, etag);
}

/* Replaces the note's text (reading its ETag first). */
static void edit(const char *id, const char *content) {
    char etag[64], url[128], hdr[128];
    ASSERT_EQ_INT(get_note(id, NULL, etag), 200);
    snprintf(url, sizeof(url), "/api/v1/notes/%s", id);
    snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
    json_t *b = json_pack("{s:s}", "content", content);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    vresp r;
    ASSERT_EQ_INT(vhttp_call(srv.port, "PUT", url, tok, hdr, NULL, body, strlen(body), &r), 0);
    free(body);
    int status = r.status;
    vresp_free(&r);
    ASSERT_EQ_INT(status, 200);
}

static int call(const char *method, const char *id, const char *suffix, const char *token,
                json_t **out) {
    char url[200];
    snprintf(url, sizeof(url), "/api/v1/notes/%s%s", id, suffix);
    return api(&srv, method, url, token, method[0] == 'P' ? "" : NULL, out);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The number of versions the note has. */
static size_t versions(const char *id) {
    json_t *j = NULL;
    if (call("GET", id, "/versions?limit=200", tok, &j) != 200) return 0;
    size_t n = json_array_size(json_object_get(j, "versions"));
    json_decref(j);
    return n;
}

/* Waits (generously) until the note has at least n versions. */
static void wait_versions(const char *id, size_t n) {
    for (int i = 0; i < 1200 && versions(id) < n; i++) sleep_ms(50);
    ASSERT_TRUE(versions(id) >= n);
}

/* The text of version v. */
static char *text_of(const char *id, int v) {
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "/versions/%d", v);
    json_t *j = NULL;
    if (call("GET", id, suffix, viewer_tok, &j) != 200) return NULL;
    const char *c = json_string_value(json_object_get(j, "content"));
    char *out = c != NULL ? strdup(c) : NULL;
    json_decref(j);
    return out;
}

static void history_flow(void) {
    CHECK_HELPER(setup());
    char id[40];
    CHECK_HELPER(create_note("/Plan.md", "# Plan\nbuy milk\n", id));
    CHECK_HELPER(wait_versions(id, 1)); /* the creation settles */
    CHECK_HELPER(edit(id, "# Plan\nbuy milk\nwalk the dog\n"));
    CHECK_HELPER(wait_versions(id, 2));
    CHECK_HELPER(edit(id, "# Plan\nbuy oat milk\nwalk the dog\n"));
    CHECK_HELPER(wait_versions(id, 3));
    ASSERT_EQ_UINT(versions(id), 3); /* one per settled burst, no more */
    /* The counter moves once the versions consumer's batch has returned,
     * just after the version it took became visible: wait for it. */
    bool counted = false;
    for (int i = 0; i < 1200 && !counted; i++) {
        vresp m;
        ASSERT_EQ_INT(vhttp_call(srv.port, "GET", "/metrics", NULL, NULL, NULL, NULL, 0, &m), 0);
        counted = strstr(m.body, "\nvault_versions_taken_total 3\n") != NULL;
        vresp_free(&m);
        if (!counted) sleep_ms(50);
    }
    ASSERT_TRUE(counted);

    /* The list, newest first, for a viewer, with author and paging. */
    json_t *j = NULL;
    ASSERT_EQ_INT(call("GET", id, "/versions?limit=2", viewer_tok, &j), 200);
    json_t *vs = json_object_get(j, "versions");
    ASSERT_EQ_UINT(json_array_size(vs), 2);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(vs, 0), "n")), 3);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(vs, 1), "n")), 2);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(vs, 0), "author")), owner_id);
    ASSERT_TRUE(json_integer_value(json_object_get(json_array_get(vs, 0), "created")) >=
                json_integer_value(json_object_get(json_array_get(vs, 1), "created")));
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "next")), 2);
    json_decref(j);
    ASSERT_EQ_INT(call("GET", id, "/versions?limit=2&before=2", viewer_tok, &j), 200);
    vs = json_object_get(j, "versions");
    ASSERT_EQ_UINT(json_array_size(vs), 1);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(vs, 0), "n")), 1);
    ASSERT_TRUE(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    ASSERT_EQ_INT(call("GET", id, "/versions?limit=0", tok, NULL), 422);
    ASSERT_EQ_INT(call("GET", id, "/versions?before=x", tok, NULL), 422);

    /* The text at each version. */
    char *t = text_of(id, 1);
    ASSERT_EQ_STR(t, "# Plan\nbuy milk\n");
    free(t);
    t = text_of(id, 2);
    ASSERT_EQ_STR(t, "# Plan\nbuy milk\nwalk the dog\n");
    free(t);
    t = text_of(id, 3);
    ASSERT_EQ_STR(t, "# Plan\nbuy oat milk\nwalk the dog\n");
    free(t);
    ASSERT_EQ_INT(call("GET", id, "/versions/4", tok, NULL), 404);
    ASSERT_EQ_INT(call("GET", id, "/versions/0", tok, NULL), 404);
    ASSERT_EQ_INT(call("GET", id, "/versions/abc", tok, NULL), 404);

    /* Diffs: to the current text by default, or to another version. */
    ASSERT_EQ_INT(call("GET", id, "/versions/1/diff", viewer_tok, &j), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "diff")),
                  "--- v1\n+++ current\n@@ -1,2 +1,3 @@\n # Plan\n-buy milk\n+buy oat milk\n"
                  "+walk the dog\n");
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "added")), 2);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "removed")), 1);
    json_decref(j);
    ASSERT_EQ_INT(call("GET", id, "/versions/3/diff?to=2", viewer_tok, &j), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "diff")),
                  "--- v3\n+++ v2\n@@ -1,3 +1,3 @@\n # Plan\n-buy oat milk\n+buy milk\n"
                  " walk the dog\n");
    json_decref(j);
    ASSERT_EQ_INT(call("GET", id, "/versions/3/diff?to=current", viewer_tok, &j), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "diff")), "");
    json_decref(j);
    ASSERT_EQ_INT(call("GET", id, "/versions/1/diff?to=nope", tok, NULL), 422);
    ASSERT_EQ_INT(call("GET", id, "/versions/1/diff?to=9", tok, NULL), 404);

    /* Restore: viewers may not; an editor's restore is a new edit. */
    ASSERT_EQ_INT(call("POST", id, "/versions/1/restore", viewer_tok, NULL), 403);
    ASSERT_EQ_INT(call("POST", id, "/versions/9/restore", tok, NULL), 404);
    ASSERT_EQ_INT(call("POST", id, "/versions/1/restore", tok, &j), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(j, "content")), "# Plan\nbuy milk\n");
    json_decref(j);
    char *now = NULL;
    ASSERT_EQ_INT(get_note(id, &now, NULL), 200);
    ASSERT_EQ_STR(now, "# Plan\nbuy milk\n");
    free(now);
    CHECK_HELPER(wait_versions(id, 4));
    ASSERT_EQ_INT(call("GET", id, "/versions?limit=1", tok, &j), 200);
    json_t *v4 = json_array_get(json_object_get(j, "versions"), 0);
    ASSERT_EQ_INT(json_integer_value(json_object_get(v4, "n")), 4);
    ASSERT_EQ_INT(json_integer_value(json_object_get(v4, "restoredFrom")), 1);
    json_decref(j);
    t = text_of(id, 4);
    ASSERT_EQ_STR(t, "# Plan\nbuy milk\n");
    free(t);
    /* Older versions still render after the restore. */
    t = text_of(id, 3);
    ASSERT_EQ_STR(t, "# Plan\nbuy oat milk\nwalk the dog\n");
    free(t);
    /* History stays readable in the trash. */
    ASSERT_EQ_INT(call("DELETE", id, "", tok, NULL), 204);
    ASSERT_EQ_UINT(versions(id), 4);
    t = text_of(id, 2);
    ASSERT_EQ_STR(t, "# Plan\nbuy milk\nwalk the dog\n");
    free(t);
    /* Strangers see nothing. */
    ASSERT_EQ_INT(call("GET", "0123456789abcdef0123456789abcdef", "/versions", tok, NULL), 404);
}

static const char *const quick[] = {"--version-idle-ms", "300", NULL};
TEST(versions_list_text_diff_restore_sqlite) {
    CHECK_HELPER(with_server("sqlite", quick, history_flow));
}
TEST(versions_list_text_diff_restore_postgres) {
    CHECK_HELPER(with_server("postgres", quick, history_flow));
}

/* A restore merges with an edit made at the same time elsewhere. */
static void restore_merges(void) {
    CHECK_HELPER(setup());
    char id[40], etag[64];
    CHECK_HELPER(create_note("/Poem.md", "roses are red\n", id));
    CHECK_HELPER(wait_versions(id, 1));
    CHECK_HELPER(edit(id, "roses are red\nviolets are blue\n"));
    CHECK_HELPER(wait_versions(id, 2));
    /* A device read the note at this point and edits the first line. */
    ASSERT_EQ_INT(get_note(id, NULL, etag), 200);
    ASSERT_EQ_INT(call("POST", id, "/versions/1/restore", tok, NULL), 200);
    char url[128], hdr[128];
    snprintf(url, sizeof(url), "/api/v1/notes/%s", id);
    snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
    const char *body = "{\"content\":\"roses are RED\\nviolets are blue\\n\"}";
    vresp r;
    ASSERT_EQ_INT(vhttp_call(srv.port, "PUT", url, tok, hdr, NULL, body, strlen(body), &r), 0);
    int status = r.status;
    vresp_free(&r);
    ASSERT_EQ_INT(status, 200);
    char *text = NULL;
    ASSERT_EQ_INT(get_note(id, &text, NULL), 200);
    ASSERT_EQ_STR(text, "roses are RED\n"); /* both edits kept */
    free(text);
}

TEST(restore_merges_with_concurrent_edit_sqlite) {
    CHECK_HELPER(with_server("sqlite", quick, restore_merges));
}
TEST(restore_merges_with_concurrent_edit_postgres) {
    CHECK_HELPER(with_server("postgres", quick, restore_merges));
}

/* Editing that never pauses still gets versions, every --version-max-ms. */
static void long_burst(void) {
    CHECK_HELPER(setup());
    char id[40], line[64];
    CHECK_HELPER(create_note("/Log.md", "", id));
    char text[8192] = "";
    for (int i = 0; i < 2000 && versions(id) < 2; i++) {
        snprintf(line, sizeof(line), "entry %d\n", i);
        if (strlen(text) + strlen(line) >= sizeof(text)) break;
        strcat(text, line);
        CHECK_HELPER(edit(id, text));
        sleep_ms(20);
    }
    /* The idle time is a minute: these versions come from the maximum. */
    ASSERT_TRUE(versions(id) >= 2);
}

static const char *const long_flags[] = {"--version-idle-ms", "60000", "--version-max-ms", "400",
                                         NULL};
TEST(versions_during_continuous_editing_sqlite) {
    CHECK_HELPER(with_server("sqlite", long_flags, long_burst));
}
TEST(versions_during_continuous_editing_postgres) {
    CHECK_HELPER(with_server("postgres", long_flags, long_burst));
}

/* Without the janitor role no versions are taken; with it alone (another
 * process on the same database), they are. */
static void roles_split(void) {
    CHECK_HELPER(setup());
    char id[40];
    CHECK_HELPER(create_note("/Split.md", "one\n", id));
    sleep_ms(1000);
    ASSERT_EQ_UINT(versions(id), 0);
    vserver janitor;
    char dbflag[600];
    const char *flags[8];
    int n = 0;
    flags[n++] = "--roles";
    flags[n++] = "janitor";
    flags[n++] = "--version-idle-ms";
    flags[n++] = "200";
    if (strcmp(srv.backend, "postgres") == 0) {
        snprintf(dbflag, sizeof(dbflag), "%s", srv.dburl);
        flags[n++] = "--database";
        flags[n++] = dbflag;
    }
    flags[n] = NULL;
    ASSERT_EQ_INT(vserver_start(&janitor, srv.backend, flags), 0);
    for (int i = 0; i < 1200 && versions(id) < 1; i++) sleep_ms(50);
    size_t got = versions(id);
    int rc = vserver_stop(&janitor); /* stopped whatever happened */
    ASSERT_EQ_UINT(got, 1);
    ASSERT_EQ_INT(rc, 0);
}

static const char *const api_only[] = {"--roles", "api,sync", "--version-idle-ms", "200", NULL};
TEST(versions_taken_by_a_separate_janitor_postgres) {
    CHECK_HELPER(with_server("postgres", api_only, roles_split));
}
