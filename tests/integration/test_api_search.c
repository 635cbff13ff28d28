/*
 * test_api_search.c - full-text search as a user meets it, on SQLite and
 * PostgreSQL, with real vaultd processes: writes succeed while the indexer
 * is not running and search reports the lag; an indexer started in a
 * separate process against the same database catches up; words, prefixes,
 * phrases, path filter, accents, Markdown reduction, trash, paging, access,
 * bad queries; `vaultd reindex` rebuilds the index.
 */
#include "api.h"
#include "test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static vserver srv;
static char tok[64], viewer_tok[64], outsider_tok[64];
static char vault[40];

/* ---- helpers --------------------------------------------------------------- */

static void setup_users(void) {
    char email[128], viewer_email[128], outsider_email[128];
    long long uid;
    unique_email("searcher", email);
    ASSERT_EQ_INT(signup(&srv, email, tok, &uid), 0);
    unique_email("viewer", viewer_email);
    ASSERT_EQ_INT(signup(&srv, viewer_email, viewer_tok, &uid), 0);
    unique_email("outsider", outsider_email);
    ASSERT_EQ_INT(signup(&srv, outsider_email, outsider_tok, &uid), 0);
    ASSERT_EQ_INT(api_create_vault(&srv, tok, "Search", vault), 0);
    ASSERT_EQ_INT(api_add_member(&srv, tok, vault, viewer_email, "viewer"), 201);
}

static void create_note(const char *path, const char *content, char id[40]) {
    ASSERT_EQ_INT(api_create_note(&srv, tok, vault, path, content, id), 201);
}

/* PUTs new content on the note's current version. */
static void edit_note(const char *id, const char *content) {
    char url[128], hdr[128], etag[64];
    snprintf(url, sizeof(url), "/api/v1/notes/%s", id);
    vresp r;
    ASSERT_EQ_INT(vhttp_call(srv.port, "GET", url, tok, NULL, NULL, NULL, 0, &r), 0);
    ASSERT_EQ_INT(r.status, 200);
    ASSERT_TRUE(vresp_header(&r, "etag", etag, sizeof(etag)) != NULL);
    vresp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
    json_t *b = json_pack("{s:s}", "content", content);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    ASSERT_EQ_INT(vhttp_call(srv.port, "PUT", url, tok, hdr, NULL, body, strlen(body), &r), 0);
    free(body);
    ASSERT_EQ_INT(r.status, 200);
    vresp_free(&r);
}

/* Appends s to out, percent-encoding everything but unreserved bytes. */
static void url_encode(const char *s, char *out, size_t n) {
    size_t o = strlen(out);
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < n; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, n - o, "%%%02X", *p);
    }
    out[o] = '\0';
}

/* GET search with q and extra raw query text ("&path=..."); returns the
 * status and the body in *out. */
static int search_as(const char *token, const char *q, const char *extra, json_t **out) {
    char url[2048];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/search?q=", vault);
    url_encode(q, url, sizeof(url));
    if (extra != NULL) strncat(url, extra, sizeof(url) - strlen(url) - 1);
    return api(&srv, "GET", url, token, NULL, out);
}

/* The paths of the results, space-separated, in order. */
static void result_paths(json_t *j, char *out, size_t n) {
    out[0] = '\0';
    json_t *results = json_object_get(j, "results");
    for (size_t i = 0; i < json_array_size(results); i++) {
        const char *p = json_string_value(json_object_get(json_array_get(results, i), "path"));
        if (i > 0) strncat(out, " ", n - strlen(out) - 1);
        strncat(out, p != NULL ? p : "?", n - strlen(out) - 1);
    }
}

/* Searches and compares the result paths (sorted by the caller's order
 * only when `sorted`... the engines rank: compare as a set by sorting). */
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void expect_paths(const char *q, const char *extra, const char *want) {
    json_t *j = NULL;
    int status = search_as(tok, q, extra, &j);
    if (status != 200) fprintf(stderr, "query %s%s: status %d\n", q, extra ? extra : "", status);
    ASSERT_EQ_INT(status, 200);
    json_t *results = json_object_get(j, "results");
    size_t n = json_array_size(results);
    const char *paths[64];
    for (size_t i = 0; i < n && i < 64; i++)
        paths[i] = json_string_value(json_object_get(json_array_get(results, i), "path"));
    qsort(paths, n < 64 ? n : 64, sizeof(paths[0]), cmp_str);
    char got[2048] = "";
    for (size_t i = 0; i < n && i < 64; i++) {
        if (i > 0) strcat(got, " ");
        strncat(got, paths[i], sizeof(got) - strlen(got) - 1);
    }
    if (strcmp(got, want) != 0) fprintf(stderr, "query %s%s\n", q, extra ? extra : "");
    ASSERT_EQ_STR(got, want);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "total")), (long long)n);
    json_decref(j);
}

/* The lag the search reports: events not yet indexed. */
static long long lag_events(void) {
    json_t *j = NULL;
    int status = search_as(tok, "anything", NULL, &j);
    long long n = status == 200
                      ? json_integer_value(json_object_get(json_object_get(j, "lag"), "events"))
                      : -1;
    json_decref(j);
    return n;
}

/* The value of gauge `name` in GET /metrics, or -1. */
static double metric(vserver *s, const char *name) {
    vresp r;
    if (vhttp_call(s->port, "GET", "/metrics", NULL, NULL, NULL, NULL, 0, &r) != 0) return -1;
    double v = -1;
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *at = r.status == 200 ? strstr(r.body, key) : NULL;
    if (at != NULL) v = atof(at + strlen(key));
    vresp_free(&r);
    return v;
}

/* Waits (up to 120 s: the machine may be busy) until the index has caught up. */
static void wait_indexed(void) {
    for (int i = 0; i < 1200; i++) {
        long long lag = lag_events();
        ASSERT_TRUE(lag >= 0);
        if (lag == 0) return;
        usleep(100 * 1000);
    }
    fprintf(stderr, "the indexer did not catch up\n");
    TEST_FAIL_HERE();
}

static void expect_bad_query(const char *q, const char *extra) {
    char url[2048];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/search", vault);
    if (q != NULL) {
        strcat(url, "?q=");
        url_encode(q, url, sizeof(url));
    }
    if (extra != NULL) strncat(url, extra, sizeof(url) - strlen(url) - 1);
    vresp r;
    ASSERT_EQ_INT(vhttp_call(srv.port, "GET", url, tok, NULL, NULL, NULL, 0, &r), 0);
    if (r.status != 400)
        fprintf(stderr, "query %s%s: %d %s\n", q ? q : "(none)", extra ? extra : "", r.status,
                r.body);
    ASSERT_EQ_INT(r.status, 400);
    char type[128];
    ASSERT_TRUE(vresp_header(&r, "content-type", type, sizeof(type)) != NULL);
    ASSERT_EQ_STR(type, "application/problem+json");
    json_t *j = json_loads(r.body, 0, NULL);
    ASSERT_TRUE(j != NULL);
    const char *detail = json_string_value(json_object_get(j, "detail"));
    ASSERT_TRUE(detail != NULL);
    /* A sentence for a person, never the database's words. */
    ASSERT_TRUE(strstr(detail, "SQL") == NULL && strstr(detail, "syntax error") == NULL &&
                strstr(detail, "fts5") == NULL && strstr(detail, "tsquery") == NULL);
    json_decref(j);
    vresp_free(&r);
}

/* ---- the indexer stopped, then started in another process ------------------ */

static void indexer_catches_up(const char *backend) {
    static const char *const no_indexer[] = {"--roles", "api,sync,janitor", NULL};
    ASSERT_EQ_INT(vserver_start(&srv, backend, no_indexer), 0);
    CHECK_HELPER(setup_users());
    char id[40];
    /* Writes succeed without an indexer. */
    for (int i = 0; i < 20; i++) {
        char path[64], content[128];
        snprintf(path, sizeof(path), "/Batch/note%02d.md", i);
        snprintf(content, sizeof(content), "# Note %d\n\nalpha bravo %d", i, i);
        CHECK_HELPER(create_note(path, content, i == 0 ? id : NULL));
    }
    CHECK_HELPER(edit_note(id, "# Note 0\n\nalpha charlie zulu"));
    /* Nothing is indexed yet, and search says how far behind it is. */
    json_t *j = NULL;
    ASSERT_EQ_INT(search_as(tok, "alpha", NULL, &j), 200);
    ASSERT_EQ_UINT(json_array_size(json_object_get(j, "results")), 0);
    json_t *lag = json_object_get(j, "lag");
    ASSERT_TRUE(json_integer_value(json_object_get(lag, "events")) >= 21);
    ASSERT_TRUE(json_real_value(json_object_get(lag, "seconds")) >= 0);
    json_decref(j);
    /* /metrics says it too. */
    ASSERT_TRUE(metric(&srv, "vault_search_lag_events") >= 21);

    /* An indexer in its own process, on the same database. */
    vserver indexer;
    char data[400];
    snprintf(data, sizeof(data), "%s/data", srv.proc.dir);
    const char *flags[] = {"--roles", "indexer",
                           strcmp(backend, "postgres") == 0 ? "--database" : "--data-dir",
                           strcmp(backend, "postgres") == 0 ? srv.dburl : data, NULL};
    ASSERT_EQ_INT(vserver_start(&indexer, backend, flags), 0);
    /* It serves no API. */
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/search?q=alpha", vault);
    ASSERT_EQ_INT(api(&indexer, "GET", url, tok, NULL, NULL), 404);
    ASSERT_EQ_INT(api(&indexer, "GET", "/healthz", NULL, NULL, NULL), 200);
    CHECK_HELPER(wait_indexed());
    char want[2048] = "";
    for (int i = 0; i < 20; i++) {
        char p[64];
        snprintf(p, sizeof(p), "%s/Batch/note%02d.md", i ? " " : "", i);
        strcat(want, p);
    }
    CHECK_HELPER(expect_paths("alpha", "&limit=100", want));
    CHECK_HELPER(expect_paths("zulu", NULL, "/Batch/note00.md"));
    CHECK_HELPER(expect_paths("bravo", NULL, want + strlen("/Batch/note00.md ")));
    /* Edits made now reach the index through the other process too. */
    CHECK_HELPER(edit_note(id, "# Note 0\n\nyankee"));
    CHECK_HELPER(wait_indexed());
    CHECK_HELPER(expect_paths("yankee", NULL, "/Batch/note00.md"));
    CHECK_HELPER(expect_paths("zulu", NULL, ""));
    ASSERT_TRUE(metric(&srv, "vault_search_lag_events") == 0);
    ASSERT_TRUE(metric(&srv, "vault_search_lag_seconds") == 0);
    int irc = vserver_stop(&indexer);
    ASSERT_EQ_INT(irc, 0);
    ASSERT_EQ_INT(vserver_stop(&srv), 0);
}

TEST(search_indexer_stopped_then_catches_up_sqlite) { CHECK_HELPER(indexer_catches_up("sqlite")); }
TEST(search_indexer_stopped_then_catches_up_postgres) {
    CHECK_HELPER(indexer_catches_up("postgres"));
}

/* ---- queries ------------------------------------------------------------------ */

static void queries(const char *backend) {
    ASSERT_EQ_INT(vserver_start(&srv, backend, NULL), 0);
    CHECK_HELPER(setup_users());
    char trashed_id[40], moved_id[40];
    CHECK_HELPER(create_note("/Projects/Plan.md",
                             "# Project plan\n\nWe meet at the **Café** du [Commerce](https://"
                             "hidden.example/zebra) to plan `projector_setup`.\n\n```\ncodeword "
                             "inside\n```\n",
                             NULL));
    CHECK_HELPER(create_note("/Projects/Budget.md", "exact words appear here in this order", NULL));
    CHECK_HELPER(
        create_note("/Archive/Old.md", "words exact, the other way round; naïve resume", NULL));
    CHECK_HELPER(create_note("/Archive/Trash me.md", "ephemeral content", trashed_id));
    CHECK_HELPER(create_note("/Inbox/Move me.md", "wandering note", moved_id));
    for (int i = 0; i < 25; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/Many/m%02d.md", i);
        CHECK_HELPER(create_note(path, "common thread", NULL));
    }
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/notes/%s", trashed_id);
    ASSERT_EQ_INT(api(&srv, "DELETE", url, tok, NULL, NULL), 204);
    snprintf(url, sizeof(url), "/api/v1/notes/%s", moved_id);
    ASSERT_EQ_INT(api(&srv, "PATCH", url, tok, "{\"path\":\"/Done/Moved.md\"}", NULL), 200);
    CHECK_HELPER(wait_indexed());

    /* Words, case and accents ignored both ways. */
    CHECK_HELPER(expect_paths("cafe", NULL, "/Projects/Plan.md"));
    CHECK_HELPER(expect_paths("CAFÉ", NULL, "/Projects/Plan.md"));
    CHECK_HELPER(expect_paths("naive", NULL, "/Archive/Old.md"));
    CHECK_HELPER(expect_paths("meet plan", NULL, "/Projects/Plan.md"));
    CHECK_HELPER(expect_paths("meet nowhere", NULL, ""));
    /* Markdown: link text and code are words; the URL is not; the title is. */
    CHECK_HELPER(expect_paths("commerce", NULL, "/Projects/Plan.md"));
    CHECK_HELPER(expect_paths("zebra", NULL, ""));
    CHECK_HELPER(expect_paths("codeword", NULL, "/Projects/Plan.md"));
    CHECK_HELPER(expect_paths("projector_setup", NULL, "/Projects/Plan.md"));
    /* Prefixes. */
    CHECK_HELPER(expect_paths("proj*", NULL, "/Projects/Budget.md /Projects/Plan.md"));
    CHECK_HELPER(expect_paths("wande*", NULL, "/Done/Moved.md"));
    /* Phrases: order and adjacency matter. */
    CHECK_HELPER(expect_paths("\"exact words\"", NULL, "/Projects/Budget.md"));
    CHECK_HELPER(expect_paths("\"words exact\"", NULL, "/Archive/Old.md"));
    CHECK_HELPER(expect_paths("words exact", NULL, "/Archive/Old.md /Projects/Budget.md"));
    CHECK_HELPER(expect_paths("\"exact wor*\"", NULL, "/Projects/Budget.md"));
    /* Exclusion. */
    CHECK_HELPER(expect_paths("words -order", NULL, "/Archive/Old.md"));
    /* Path filter: a prefix, matched literally. */
    CHECK_HELPER(expect_paths("words", "&path=/Archive", "/Archive/Old.md"));
    CHECK_HELPER(expect_paths("words", "&path=/Arch", "/Archive/Old.md"));
    CHECK_HELPER(expect_paths("words", "&path=/Nowhere", ""));
    /* Renames reach the index: the new path is searched, the old one gone. */
    CHECK_HELPER(expect_paths("wandering", "&path=/Done/", "/Done/Moved.md"));
    CHECK_HELPER(expect_paths("wandering", "&path=/Inbox/", ""));
    CHECK_HELPER(expect_paths("moved", NULL, "/Done/Moved.md"));
    /* Trash: excluded unless asked for, and then marked. */
    CHECK_HELPER(expect_paths("ephemeral", NULL, ""));
    CHECK_HELPER(expect_paths("ephemeral", "&trashed=1", "/Archive/Trash me.md"));
    json_t *j = NULL;
    ASSERT_EQ_INT(search_as(tok, "ephemeral", "&trashed=1", &j), 200);
    ASSERT_TRUE(json_integer_value(json_object_get(json_array_get(json_object_get(j, "results"), 0),
                                                   "trashed")) > 0);
    json_decref(j);

    /* A result: id, path, title, snippet with the match marked, score. */
    ASSERT_EQ_INT(search_as(tok, "cafe", NULL, &j), 200);
    json_t *r = json_array_get(json_object_get(j, "results"), 0);
    ASSERT_EQ_UINT(strlen(json_string_value(json_object_get(r, "id"))), 32);
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "title")), "Project plan");
    const char *snippet = json_string_value(json_object_get(r, "snippet"));
    ASSERT_TRUE(snippet != NULL && strstr(snippet, "\u00abCaf\u00e9\u00bb") != NULL);
    ASSERT_TRUE(strstr(snippet, "**") == NULL && strstr(snippet, "https") == NULL);
    ASSERT_TRUE(json_is_number(json_object_get(r, "score")));
    json_decref(j);

    /* Ranking: a title match comes before a text match. */
    CHECK_HELPER(create_note("/Rank/a.md", "nothing special about orchids", NULL));
    CHECK_HELPER(create_note("/Rank/b.md", "# Orchids\n\nflowers", NULL));
    CHECK_HELPER(wait_indexed());
    ASSERT_EQ_INT(search_as(tok, "orchids", NULL, &j), 200);
    char order[256];
    result_paths(j, order, sizeof(order));
    ASSERT_EQ_STR(order, "/Rank/b.md /Rank/a.md");
    json_decref(j);

    /* Paging: 25 matches, pages of 10, ordered the same way each time. */
    char seen[25][64];
    int nseen = 0;
    for (int offset = 0; offset < 30; offset += 10) {
        char extra[64];
        snprintf(extra, sizeof(extra), "&limit=10&offset=%d", offset);
        ASSERT_EQ_INT(search_as(tok, "common", extra, &j), 200);
        ASSERT_EQ_INT(json_integer_value(json_object_get(j, "total")), 25);
        json_t *results = json_object_get(j, "results");
        ASSERT_EQ_UINT(json_array_size(results), offset < 20 ? 10 : 5);
        for (size_t i = 0; i < json_array_size(results); i++) {
            const char *p = json_string_value(json_object_get(json_array_get(results, i), "path"));
            for (int k = 0; k < nseen; k++) ASSERT_TRUE(strcmp(seen[k], p) != 0);
            snprintf(seen[nseen++], 64, "%s", p);
        }
        json_decref(j);
    }
    ASSERT_EQ_INT(nseen, 25);
    ASSERT_EQ_INT(search_as(tok, "common", "&offset=100", &j), 200);
    ASSERT_EQ_UINT(json_array_size(json_object_get(j, "results")), 0);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "total")), 25);
    ASSERT_TRUE(json_is_true(json_object_get(j, "total_exact")));
    json_decref(j);

    /* Access: viewers may search; outsiders and strangers may not. */
    ASSERT_EQ_INT(search_as(viewer_tok, "cafe", NULL, &j), 200);
    ASSERT_EQ_UINT(json_array_size(json_object_get(j, "results")), 1);
    json_decref(j);
    ASSERT_EQ_INT(search_as(outsider_tok, "cafe", NULL, NULL), 404);
    ASSERT_EQ_INT(search_as(NULL, "cafe", NULL, NULL), 401);
    /* An outsider's own vault never shows this vault's notes. */
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/vaults", outsider_tok, "{\"name\":\"Mine\"}", &j),
                  201);
    char own[40];
    snprintf(own, sizeof(own), "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/search?q=cafe", own);
    ASSERT_EQ_INT(api(&srv, "GET", url, outsider_tok, NULL, &j), 200);
    ASSERT_EQ_UINT(json_array_size(json_object_get(j, "results")), 0);
    json_decref(j);

    /* Bad queries: 400 with a sentence, never an SQL error. */
    CHECK_HELPER(expect_bad_query(NULL, NULL));
    CHECK_HELPER(expect_bad_query("", NULL));
    CHECK_HELPER(expect_bad_query("   ", NULL));
    CHECK_HELPER(expect_bad_query("\"unterminated", NULL));
    CHECK_HELPER(expect_bad_query("*", NULL));
    CHECK_HELPER(expect_bad_query("a*", NULL));
    CHECK_HELPER(expect_bad_query("pr*oj", NULL));
    CHECK_HELPER(expect_bad_query("-only -negative", NULL));
    CHECK_HELPER(expect_bad_query("a\"b", NULL));
    CHECK_HELPER(expect_bad_query("cafe", "&limit=0"));
    CHECK_HELPER(expect_bad_query("cafe", "&limit=101"));
    CHECK_HELPER(expect_bad_query("cafe", "&limit=ten"));
    CHECK_HELPER(expect_bad_query("cafe", "&offset=-1"));
    CHECK_HELPER(expect_bad_query("cafe", "&offset=1001"));
    CHECK_HELPER(expect_bad_query("cafe", "&trashed=yes"));
    CHECK_HELPER(expect_bad_query("cafe", "&path=Projects"));
    CHECK_HELPER(expect_bad_query("cafe", "&path=%FF"));
    CHECK_HELPER(expect_bad_query("caf\xff", NULL));
    /* Operators of the engines are words here, not syntax. */
    CHECK_HELPER(expect_paths("NEAR(cafe plan) OR AND NOT", NULL, ""));
    CHECK_HELPER(expect_paths("cafe & | ! : ( ) { } ^ '", NULL, "/Projects/Plan.md"));

    /* A folder rename moves every note under it in the index too. */
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/folders/rename", vault);
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"from\":\"/Projects\",\"to\":\"/Work\"}", NULL),
                  200);
    CHECK_HELPER(wait_indexed());
    /* Budget matched proj* by its old path only. */
    CHECK_HELPER(expect_paths("proj*", "&path=/Work/", "/Work/Plan.md"));
    CHECK_HELPER(expect_paths("work", NULL, "/Work/Budget.md /Work/Plan.md"));
    CHECK_HELPER(expect_paths("cafe", "&path=/Projects/", ""));

    /* Trashing a folder takes its notes out of the results. */
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/folders/trash", vault);
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"path\":\"/Work\"}", NULL), 200);
    CHECK_HELPER(wait_indexed());
    CHECK_HELPER(expect_paths("work", NULL, ""));
    CHECK_HELPER(expect_paths("work", "&trashed=1", "/Work/Budget.md /Work/Plan.md"));
    ASSERT_EQ_INT(vserver_stop(&srv), 0);
}

TEST(search_queries_sqlite) { CHECK_HELPER(queries("sqlite")); }
TEST(search_queries_postgres) { CHECK_HELPER(queries("postgres")); }

/* ---- a note edited continuously ------------------------------------------------- */

/* *found: whether a search for q finds the note at path. */
static void finds(const char *q, const char *path, bool *found) {
    json_t *j = NULL;
    *found = false;
    ASSERT_EQ_INT(search_as(tok, q, NULL, &j), 200);
    json_t *results = json_object_get(j, "results");
    for (size_t i = 0; i < json_array_size(results); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(results, i), "path")), path) ==
            0)
            *found = true;
    json_decref(j);
}

/* The indexer handles a note's edits at most once per interval
 * (--consumer-interval-ms), but it does not wait for the editing to pause:
 * a note edited without a break is searchable for what was typed early on
 * while the edits go on, and for everything once they stop. */
static void continuous_editing(const char *backend) {
    static const char *const flags[] = {"--consumer-interval-ms", "400", NULL};
    ASSERT_EQ_INT(vserver_start(&srv, backend, flags), 0);
    CHECK_HELPER(setup_users());
    char id[40];
    CHECK_HELPER(create_note("/Live.md", "# Live\n\nopening", id));
    static char content[65536];
    snprintf(content, sizeof(content), "# Live\n\nopening earlyword");
    bool found = false;
    time_t start = time(NULL);
    for (int i = 0; !found && time(NULL) - start < 180; i++) {
        CHECK_HELPER(edit_note(id, content));
        CHECK_HELPER(finds("earlyword", "/Live.md", &found));
        size_t len = strlen(content);
        if (len + 32 < sizeof(content))
            snprintf(content + len, sizeof(content) - len, " filler%d", i);
    }
    ASSERT_TRUE(found);
    /* The edits stop: the last one becomes searchable, the old text not. */
    CHECK_HELPER(edit_note(id, "# Live\n\nclosingword"));
    CHECK_HELPER(wait_indexed());
    CHECK_HELPER(expect_paths("closingword", NULL, "/Live.md"));
    CHECK_HELPER(expect_paths("earlyword", NULL, ""));
    ASSERT_EQ_INT(vserver_stop(&srv), 0);
}

TEST(search_note_edited_continuously_sqlite) { CHECK_HELPER(continuous_editing("sqlite")); }
TEST(search_note_edited_continuously_postgres) { CHECK_HELPER(continuous_editing("postgres")); }

/* ---- vaultd reindex ------------------------------------------------------------ */

static void reindex(const char *backend) {
    static const char *const api_only[] = {"--roles", "api", NULL};
    ASSERT_EQ_INT(vserver_start(&srv, backend, api_only), 0);
    CHECK_HELPER(setup_users());
    char gone[40];
    CHECK_HELPER(create_note("/R/one.md", "rebuilt from documents", NULL));
    CHECK_HELPER(create_note("/R/two.md", "# Second\n\nrebuilt as well", gone));
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/notes/%s", gone);
    ASSERT_EQ_INT(api(&srv, "DELETE", url, tok, NULL, NULL), 204);
    CHECK_HELPER(expect_paths("rebuilt", "&trashed=1", ""));
    ASSERT_TRUE(lag_events() > 0);
    /* Rebuild from another process while the server runs. */
    char data[400], out[4096];
    snprintf(data, sizeof(data), "%s/data", srv.proc.dir);
    const char *args[] = {"reindex", strcmp(backend, "postgres") == 0 ? "--database" : "--data-dir",
                          strcmp(backend, "postgres") == 0 ? srv.dburl : data, NULL};
    int rc = vproc_run(args, out, sizeof(out));
    if (rc != 0) fprintf(stderr, "reindex: %s\n", out);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_TRUE(strstr(out, "2 notes") != NULL);
    CHECK_HELPER(expect_paths("rebuilt", NULL, "/R/one.md"));
    CHECK_HELPER(expect_paths("rebuilt", "&trashed=1", "/R/one.md /R/two.md"));
    CHECK_HELPER(expect_paths("second", "&trashed=1", "/R/two.md"));
    /* The indexer's cursor moved past what the rebuild covered. */
    ASSERT_EQ_INT(lag_events(), 0);
    ASSERT_EQ_INT(vserver_stop(&srv), 0);
}

TEST(search_reindex_sqlite) { CHECK_HELPER(reindex("sqlite")); }
TEST(search_reindex_postgres) { CHECK_HELPER(reindex("postgres")); }
