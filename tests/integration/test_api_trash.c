/*
 * test_api_trash.c - the trash as a user meets it, on SQLite and PostgreSQL:
 * trash and list, restore (to the old path, or beside it when taken), a
 * folder's notes trashed at once, the retention setting per vault (owner
 * only), edits that reach a trashed note, and the janitor's purge (update
 * log, versions, projection, index entry) under an injected clock that
 * moves days ahead and jumps a century during each run.
 */
#include "api.h"
#include "store/store.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS 86400000LL

static vserver srv;
static char tok[64], editor_tok[64], viewer_tok[64];
static char vault[40];
static char clock_path[300];

static void with_server(const char *backend, const char *const *flags, void (*body)(void)) {
    ASSERT_EQ_INT(vserver_start(&srv, backend, flags), 0);
    body();
    int failed = test_failed_current;
    int rc = vserver_stop(&srv);
    if (failed) return;
    ASSERT_EQ_INT(rc, 0);
}

static void add_member(const char *v, const char *email, const char *role) {
    ASSERT_EQ_INT(api_add_member(&srv, tok, v, email, role), 201);
}

static void new_vault(const char *name, char out[40]) {
    ASSERT_EQ_INT(api_create_vault(&srv, tok, name, out), 0);
}

/* An owner with a vault, an editor and a viewer on it. */
static void setup(void) {
    char email[128], editor_email[128], viewer_email[128];
    long long uid;
    unique_email("owner", email);
    ASSERT_EQ_INT(signup(&srv, email, tok, &uid), 0);
    unique_email("editor", editor_email);
    ASSERT_EQ_INT(signup(&srv, editor_email, editor_tok, &uid), 0);
    unique_email("viewer", viewer_email);
    ASSERT_EQ_INT(signup(&srv, viewer_email, viewer_tok, &uid), 0);
    CHECK_HELPER(new_vault("Notes", vault));
    CHECK_HELPER(add_member(vault, editor_email, "editor"));
    CHECK_HELPER(add_member(vault, viewer_email, "viewer"));
}

static void create_in(const char *v, const char *path, const char *content, char id[40]) {
    ASSERT_EQ_INT(api_create_note(&srv, tok, v, path, content, id), 201);
}

static void create_note(const char *path, const char *content, char id[40]) {
    CHECK_HELPER(create_in(vault, path, content, id));
}

static int note_call(const char *method, const char *id, const char *suffix, const char *token,
                     const char *body, json_t **out) {
    char url[160];
    snprintf(url, sizeof(url), "/api/v1/notes/%s%s", id, suffix);
    return api(&srv, method, url, token, body, out);
}

/* GET of a note: status; content (malloc'd) and ETag when asked. */
static int get_note(const char *id, char **content, char etag[64]) {
    return api_get_note(&srv, tok, id, content, etag);
}

/* PUT with If-Match; the answer body in *out when asked. */
static int put_note(const char *id, const char *etag, const char *content, json_t **out) {
    char url[128], hdr[128];
    snprintf(url, sizeof(url), "/api/v1/notes/%s", id);
    snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
    json_t *b = json_pack("{s:s}", "content", content);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    vresp r;
    int rc = vhttp_call(srv.port, "PUT", url, tok, hdr, NULL, body, strlen(body), &r);
    free(body);
    if (rc != 0) return -1;
    if (out != NULL) *out = json_loadb(r.body, r.body_len, 0, NULL);
    int status = r.status;
    vresp_free(&r);
    return status;
}

/* The trash of vault v as JSON (caller decrefs). */
static json_t *trash_of(const char *v, const char *token) {
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/trash", v);
    json_t *j = NULL;
    if (api(&srv, "GET", url, token, NULL, &j) != 200) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The trash item for note id, or NULL (borrowed from t). */
static json_t *trash_item(json_t *t, const char *id) {
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(t, "trash"), i, it) {
        if (strcmp(json_string_value(json_object_get(it, "id")), id) == 0) return it;
    }
    return NULL;
}

static size_t trash_len(const char *v) {
    json_t *t = trash_of(v, tok);
    size_t n = json_array_size(json_object_get(t, "trash"));
    json_decref(t);
    return n;
}

/* Live note paths of the vault, one per line (caller frees). */
static char *paths(void) {
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/notes", vault);
    json_t *j = NULL;
    if (api(&srv, "GET", url, tok, NULL, &j) != 200) return NULL;
    size_t i;
    json_t *it;
    char *out = calloc(1, 4096);
    json_array_foreach(json_object_get(j, "notes"), i, it) {
        strncat(out, json_string_value(json_object_get(it, "path")), 4000 - strlen(out));
        strcat(out, "\n");
    }
    json_decref(j);
    return out;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Whether a search of vault v for q (with trashed notes when `trashed`)
 * finds note id. */
static bool search_finds(const char *v, const char *q, bool trashed, const char *id) {
    char url[256];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/search?q=%s%s", v, q,
             trashed ? "&trashed=1" : "");
    json_t *j = NULL;
    bool found = false;
    if (api(&srv, "GET", url, tok, NULL, &j) == 200) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(j, "results"), i, it) {
            if (strcmp(json_string_value(json_object_get(it, "id")), id) == 0) found = true;
        }
    }
    json_decref(j);
    return found;
}

/* Waits (generously: the indexer follows the outbox) until the search
 * answer is `want`. */
static void wait_search(const char *v, const char *q, bool trashed, const char *id, bool want) {
    for (int i = 0; i < 1200 && search_finds(v, q, trashed, id) != want; i++) sleep_ms(50);
    ASSERT_TRUE(search_finds(v, q, trashed, id) == want);
}

/* ---- trash, list, restore ----------------------------------------------------- */

static void trash_and_restore(void) {
    CHECK_HELPER(setup());
    char a[40], b[40];
    CHECK_HELPER(create_note("/Ideas.md", "# Big ideas\nfly", a));
    CHECK_HELPER(create_note("/Other.md", "other", b));
    ASSERT_EQ_UINT(trash_len(vault), 0);
    /* A viewer may not trash; an editor may. */
    ASSERT_EQ_INT(note_call("DELETE", a, "", viewer_tok, NULL, NULL), 403);
    ASSERT_EQ_INT(note_call("DELETE", a, "", editor_tok, NULL, NULL), 204);
    ASSERT_EQ_INT(get_note(a, NULL, NULL), 404);
    ASSERT_EQ_INT(note_call("DELETE", a, "", tok, NULL, NULL), 404); /* already in the trash */
    char *p = paths();
    ASSERT_EQ_STR(p, "/Other.md\n");
    free(p);
    /* The viewer sees the trash, with the time, the path and the title. */
    json_t *t = trash_of(vault, viewer_tok);
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_UINT(json_array_size(json_object_get(t, "trash")), 1);
    json_t *it = trash_item(t, a);
    ASSERT_TRUE(it != NULL);
    ASSERT_EQ_STR(json_string_value(json_object_get(it, "path")), "/Ideas.md");
    ASSERT_EQ_STR(json_string_value(json_object_get(it, "title")), "Big ideas");
    ASSERT_TRUE(json_integer_value(json_object_get(it, "trashed")) > 0);
    ASSERT_TRUE(json_is_false(json_object_get(it, "editedInTrash")));
    ASSERT_EQ_INT(json_integer_value(json_object_get(it, "purgeAfter")),
                  json_integer_value(json_object_get(it, "trashed")) + 30 * DAY_MS);
    ASSERT_EQ_INT(json_integer_value(json_object_get(t, "retentionDays")), 30);
    json_decref(t);
    /* Restore: viewers may not; a live note is not in the trash. */
    ASSERT_EQ_INT(note_call("POST", a, "/restore", viewer_tok, NULL, NULL), 403);
    ASSERT_EQ_INT(note_call("POST", b, "/restore", tok, NULL, NULL), 409);
    json_t *r = NULL;
    ASSERT_EQ_INT(note_call("POST", a, "/restore", editor_tok, NULL, &r), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "path")), "/Ideas.md");
    ASSERT_TRUE(json_is_false(json_object_get(r, "moved")));
    json_decref(r);
    ASSERT_EQ_UINT(trash_len(vault), 0);
    char *text = NULL;
    ASSERT_EQ_INT(get_note(a, &text, NULL), 200);
    ASSERT_EQ_STR(text, "# Big ideas\nfly");
    free(text);
    p = paths();
    ASSERT_EQ_STR(p, "/Ideas.md\n/Other.md\n");
    free(p);
    /* Unknown notes: 404. */
    ASSERT_EQ_INT(
        note_call("POST", "0123456789abcdef0123456789abcdef", "/restore", tok, NULL, NULL), 404);
}

TEST(trash_and_restore_sqlite) { CHECK_HELPER(with_server("sqlite", NULL, trash_and_restore)); }
TEST(trash_and_restore_postgres) { CHECK_HELPER(with_server("postgres", NULL, trash_and_restore)); }

static void restore_beside(void) {
    CHECK_HELPER(setup());
    char old1[40], old2[40], new1[40], other[40];
    CHECK_HELPER(create_note("/Plans/Q1.md", "first plan", old1));
    ASSERT_EQ_INT(note_call("DELETE", old1, "", tok, NULL, NULL), 204);
    CHECK_HELPER(create_note("/Plans/Q1.md", "second plan", old2));
    ASSERT_EQ_INT(note_call("DELETE", old2, "", tok, NULL, NULL), 204);
    CHECK_HELPER(create_note("/Plans/Q1.md", "third plan", new1));
    /* The old path is taken: the note comes back beside it. */
    json_t *r = NULL;
    ASSERT_EQ_INT(note_call("POST", old1, "/restore", tok, NULL, &r), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "path")), "/Plans/Q1 (restored).md");
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "title")), "Q1 (restored)");
    ASSERT_TRUE(json_is_true(json_object_get(r, "moved")));
    json_decref(r);
    ASSERT_EQ_INT(note_call("POST", old2, "/restore", tok, NULL, &r), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "path")), "/Plans/Q1 (restored 2).md");
    json_decref(r);
    char *p = paths();
    ASSERT_EQ_STR(p, "/Plans/Q1 (restored 2).md\n/Plans/Q1 (restored).md\n/Plans/Q1.md\n");
    free(p);
    char *text = NULL;
    ASSERT_EQ_INT(get_note(old2, &text, NULL), 200);
    ASSERT_EQ_STR(text, "second plan");
    free(text);
    /* A name without an extension gets the mark at its end. */
    CHECK_HELPER(create_note("/README", "x", other));
    ASSERT_EQ_INT(note_call("DELETE", other, "", tok, NULL, NULL), 204);
    char again[40];
    CHECK_HELPER(create_note("/README", "y", again));
    ASSERT_EQ_INT(note_call("POST", other, "/restore", tok, NULL, &r), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "path")), "/README (restored)");
    json_decref(r);
    /* Restoring it by its new path and renaming still works as usual. */
    ASSERT_EQ_INT(note_call("PATCH", other, "", tok, "{\"path\":\"/README.old\"}", NULL), 200);
}

TEST(restore_to_a_free_path_sqlite) { CHECK_HELPER(with_server("sqlite", NULL, restore_beside)); }
TEST(restore_to_a_free_path_postgres) {
    CHECK_HELPER(with_server("postgres", NULL, restore_beside));
}

static void folder_trash(void) {
    CHECK_HELPER(setup());
    char a[40], b[40], c[40], d[40];
    CHECK_HELPER(create_note("/Work/One.md", "1", a));
    CHECK_HELPER(create_note("/Work/Deep/Two.md", "2", b));
    CHECK_HELPER(create_note("/Workshop.md", "3", c)); /* a prefix, not inside */
    CHECK_HELPER(create_note("/Home.md", "4", d));
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/folders/trash", vault);
    ASSERT_EQ_INT(api(&srv, "POST", url, viewer_tok, "{\"path\":\"/Work\"}", NULL), 403);
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"path\":\"/\"}", NULL), 422);
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"path\":\"Work\"}", NULL), 422);
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"path\":\"/Nope\"}", NULL), 404);
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"folder\":\"/Work\"}", NULL), 400);
    json_t *r = NULL;
    ASSERT_EQ_INT(api(&srv, "POST", url, editor_tok, "{\"path\":\"/Work\"}", &r), 200);
    ASSERT_EQ_INT(json_integer_value(json_object_get(r, "trashed")), 2);
    int64_t at = json_integer_value(json_object_get(r, "at"));
    json_decref(r);
    char *p = paths();
    ASSERT_EQ_STR(p, "/Home.md\n/Workshop.md\n");
    free(p);
    /* Search follows: the notes leave the default results, and show with
     * trashed=1. */
    CHECK_HELPER(wait_search(vault, "One", true, a, true));
    CHECK_HELPER(wait_search(vault, "One", false, a, false));
    json_t *t = trash_of(vault, tok);
    ASSERT_EQ_UINT(json_array_size(json_object_get(t, "trash")), 2);
    ASSERT_EQ_INT(json_integer_value(json_object_get(trash_item(t, a), "trashed")), at);
    ASSERT_EQ_INT(json_integer_value(json_object_get(trash_item(t, b), "trashed")), at);
    json_decref(t);
    /* Trashing it again finds nothing live there. */
    ASSERT_EQ_INT(api(&srv, "POST", url, tok, "{\"path\":\"/Work\"}", NULL), 404);
    ASSERT_EQ_INT(note_call("POST", b, "/restore", tok, NULL, NULL), 200);
    p = paths();
    ASSERT_EQ_STR(p, "/Home.md\n/Work/Deep/Two.md\n/Workshop.md\n");
    free(p);
}

TEST(folder_trash_sqlite) { CHECK_HELPER(with_server("sqlite", NULL, folder_trash)); }
TEST(folder_trash_postgres) { CHECK_HELPER(with_server("postgres", NULL, folder_trash)); }

/* ---- retention setting ----------------------------------------------------------- */

static void retention_setting(void) {
    CHECK_HELPER(setup());
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s", vault);
    ASSERT_EQ_INT(api(&srv, "PATCH", url, editor_tok, "{\"trashRetentionDays\":7}", NULL), 403);
    ASSERT_EQ_INT(api(&srv, "PATCH", url, viewer_tok, "{\"trashRetentionDays\":7}", NULL), 403);
    static const char *const bad[] = {
        "{\"trashRetentionDays\":-1}", "{\"trashRetentionDays\":36501}",
        "{\"trashRetentionDays\":\"7\"}", "{\"trashRetentionDays\":7.5}", "{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int status = api(&srv, "PATCH", url, tok, bad[i], NULL);
        if (status != 422) fprintf(stderr, "body %s\n", bad[i]);
        ASSERT_EQ_INT(status, 422);
    }
    ASSERT_EQ_INT(api(&srv, "PATCH", url, tok, "{\"retention\":7}", NULL), 400);
    json_t *j = NULL;
    ASSERT_EQ_INT(api(&srv, "GET", url, viewer_tok, NULL, &j), 200);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "trashRetentionDays")), 45);
    json_decref(j);
    ASSERT_EQ_INT(api(&srv, "PATCH", url, tok, "{\"trashRetentionDays\":7}", &j), 200);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "trashRetentionDays")), 7);
    json_decref(j);
    ASSERT_EQ_INT(api(&srv, "GET", url, viewer_tok, NULL, &j), 200);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "trashRetentionDays")), 7);
    json_decref(j);
    char a[40];
    CHECK_HELPER(create_note("/Short.md", "s", a));
    ASSERT_EQ_INT(note_call("DELETE", a, "", tok, NULL, NULL), 204);
    json_t *t = trash_of(vault, tok);
    json_t *it = trash_item(t, a);
    ASSERT_EQ_INT(json_integer_value(json_object_get(it, "purgeAfter")),
                  json_integer_value(json_object_get(it, "trashed")) + 7 * DAY_MS);
    json_decref(t);
    /* 0 goes back to the server's default (here --trash-retention-days 45). */
    ASSERT_EQ_INT(api(&srv, "PATCH", url, tok, "{\"trashRetentionDays\":0}", &j), 200);
    ASSERT_EQ_INT(json_integer_value(json_object_get(j, "trashRetentionDays")), 45);
    ASSERT_TRUE(json_is_true(json_object_get(j, "trashRetentionDefault")));
    json_decref(j);
}

static const char *const retention_flags[] = {"--trash-retention-days", "45", NULL};
TEST(retention_per_vault_sqlite) {
    CHECK_HELPER(with_server("sqlite", retention_flags, retention_setting));
}
TEST(retention_per_vault_postgres) {
    CHECK_HELPER(with_server("postgres", retention_flags, retention_setting));
}

/* ---- editing a trashed note ------------------------------------------------------ */

static void edit_while_trashed(void) {
    CHECK_HELPER(setup());
    char a[40], etag[64];
    CHECK_HELPER(create_note("/Draft.md", "Hello world", a));
    ASSERT_EQ_INT(get_note(a, NULL, etag), 200);
    /* Another device trashes the note while this one edits offline. */
    ASSERT_EQ_INT(note_call("DELETE", a, "", editor_tok, NULL, NULL), 204);
    json_t *r = NULL;
    ASSERT_EQ_INT(put_note(a, etag, "Hello offline world", &r), 200);
    ASSERT_EQ_STR(json_string_value(json_object_get(r, "content")), "Hello offline world");
    ASSERT_TRUE(json_integer_value(json_object_get(r, "trashed")) > 0);
    json_decref(r);
    /* Still in the trash, marked, and not among the live notes. */
    ASSERT_EQ_INT(get_note(a, NULL, NULL), 404);
    json_t *t = trash_of(vault, tok);
    json_t *it = trash_item(t, a);
    ASSERT_TRUE(it != NULL);
    ASSERT_TRUE(json_is_true(json_object_get(it, "editedInTrash")));
    ASSERT_TRUE(json_integer_value(json_object_get(it, "updated")) >=
                json_integer_value(json_object_get(it, "trashed")));
    ASSERT_EQ_INT(json_integer_value(json_object_get(it, "purgeAfter")),
                  json_integer_value(json_object_get(it, "updated")) + 30 * DAY_MS);
    json_decref(t);
    /* Renaming it waits for a restore. */
    ASSERT_EQ_INT(note_call("PATCH", a, "", tok, "{\"path\":\"/X.md\"}", NULL), 404);
    /* The edit is there after a restore. */
    ASSERT_EQ_INT(note_call("POST", a, "/restore", tok, NULL, NULL), 200);
    char *text = NULL;
    ASSERT_EQ_INT(get_note(a, &text, NULL), 200);
    ASSERT_EQ_STR(text, "Hello offline world");
    free(text);
}

TEST(edit_while_trashed_sqlite) { CHECK_HELPER(with_server("sqlite", NULL, edit_while_trashed)); }
TEST(edit_while_trashed_postgres) {
    CHECK_HELPER(with_server("postgres", NULL, edit_while_trashed));
}

/* ---- the janitor, with an injected clock ---------------------------------------- */

static void set_clock(int64_t offset_ms) {
    FILE *f = fopen(clock_path, "w");
    ASSERT_TRUE(f != NULL);
    fprintf(f, "%lld\n", (long long)offset_ms);
    fclose(f);
}

/* How many janitor runs the server has logged. */
static int runs_logged(void) {
    char *log = vread_file(srv.proc.log_path);
    int n = 0;
    for (const char *p = log; p != NULL && (p = strstr(p, "\"trash purge run\"")) != NULL; p++) n++;
    free(log);
    return n;
}

/* Waits until the janitor has run `more` more times (generous timeout). */
static void wait_runs(int more) {
    int target = runs_logged() + more;
    for (int i = 0; i < 1200 && runs_logged() < target; i++) sleep_ms(50);
    ASSERT_TRUE(runs_logged() >= target);
}

/* Waits until note id has left the trash of v. */
static void wait_purged(const char *v, const char *id) {
    bool gone = false;
    for (int i = 0; i < 1200 && !gone; i++) {
        json_t *t = trash_of(v, tok);
        gone = t != NULL && trash_item(t, id) == NULL;
        json_decref(t);
        if (!gone) sleep_ms(50);
    }
    ASSERT_TRUE(gone);
}

static bool in_trash(const char *v, const char *id) {
    json_t *t = trash_of(v, tok);
    bool in = t != NULL && trash_item(t, id) != NULL;
    json_decref(t);
    return in;
}

/* What the database still holds of doc (read with a store of our own). */
static void usage_of(const char *doc, store_doc_usage *u, int *file_rc) {
    char where[600];
    if (strcmp(srv.backend, "postgres") == 0)
        snprintf(where, sizeof(where), "%s", srv.dburl);
    else
        snprintf(where, sizeof(where), "%s/data", srv.proc.dir);
    store *st = NULL;
    char err[256];
    ASSERT_EQ_INT(store_open(where, &st, err, sizeof(err)), STORE_OK);
    ASSERT_EQ_INT(store_doc_usage_get(st, doc, u), STORE_OK);
    store_file f;
    *file_rc = store_file_get(st, doc, &f);
    if (*file_rc == STORE_OK) store_file_free(&f);
    store_close(st);
}

static void janitor_purges(void) {
    CHECK_HELPER(setup());
    set_clock(0);
    char short_vault[40], old[40], edited[40], kept[40], live[40], etag[64];
    CHECK_HELPER(new_vault("Short", short_vault));
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s", short_vault);
    ASSERT_EQ_INT(api(&srv, "PATCH", url, tok, "{\"trashRetentionDays\":1}", NULL), 200);
    /* Day 0: two notes trashed in the 1-day vault, one in the other vault
     * (the server's default: 2 days). */
    CHECK_HELPER(create_in(short_vault, "/Old.md", "old", old));
    CHECK_HELPER(create_in(short_vault, "/Edited.md", "edited", edited));
    CHECK_HELPER(create_in(short_vault, "/Live.md", "live", live));
    CHECK_HELPER(create_note("/Kept.md", "kept", kept));
    ASSERT_EQ_INT(get_note(edited, NULL, etag), 200);
    /* "Old" gets a version first, so that the purge has history to remove. */
    bool versioned = false;
    for (int i = 0; i < 1200 && !versioned; i++) {
        json_t *v = NULL;
        versioned = note_call("GET", old, "/versions", tok, NULL, &v) == 200 &&
                    json_array_size(json_object_get(v, "versions")) > 0;
        json_decref(v);
        if (!versioned) sleep_ms(50);
    }
    ASSERT_TRUE(versioned);
    ASSERT_EQ_INT(note_call("DELETE", old, "", tok, NULL, NULL), 204);
    CHECK_HELPER(wait_search(short_vault, "Old", true, old, true));
    ASSERT_EQ_INT(note_call("DELETE", edited, "", tok, NULL, NULL), 204);
    ASSERT_EQ_INT(note_call("DELETE", kept, "", tok, NULL, NULL), 204);
    store_doc_usage u;
    int file_rc;
    CHECK_HELPER(usage_of(old, &u, &file_rc));
    ASSERT_TRUE(u.updates > 0);
    ASSERT_TRUE(u.versions > 0);
    ASSERT_EQ_INT(file_rc, STORE_OK);
    /* 20 hours later, an offline device's edit of a trashed note arrives:
     * its retention restarts from that edit. */
    CHECK_HELPER(set_clock(20 * 3600 * 1000LL));
    ASSERT_EQ_INT(put_note(edited, etag, "edited offline", NULL), 200);
    CHECK_HELPER(wait_runs(2));
    ASSERT_TRUE(in_trash(short_vault, old)); /* not a day old yet */
    /* 30 hours after the trash: "Old" is due, "Edited" (10 hours since its
     * edit) is not; "Kept" has 2 days. Every run's clock jumps a century
     * ahead after its first reading (VAULT_FAULT=janitor-clock-jump). */
    CHECK_HELPER(set_clock(30 * 3600 * 1000LL));
    CHECK_HELPER(wait_purged(short_vault, old));
    CHECK_HELPER(wait_runs(3));
    ASSERT_TRUE(in_trash(short_vault, edited));
    ASSERT_TRUE(in_trash(vault, kept));
    char *text = NULL;
    ASSERT_EQ_INT(get_note(live, &text, NULL), 200);
    ASSERT_EQ_STR(text, "live");
    free(text);
    /* Everything of "Old" is gone: log, projection; and it cannot come back. */
    CHECK_HELPER(usage_of(old, &u, &file_rc));
    ASSERT_EQ_INT(u.updates, 0);
    ASSERT_EQ_INT(u.versions, 0);
    ASSERT_EQ_INT(file_rc, STORE_ENOTFOUND);
    ASSERT_EQ_INT(note_call("POST", old, "/restore", tok, NULL, NULL), 404);
    CHECK_HELPER(wait_search(short_vault, "Old", true, old, false)); /* its entry is gone */
    vresp m;
    ASSERT_EQ_INT(vhttp_call(srv.port, "GET", "/metrics", NULL, NULL, NULL, NULL, 0, &m), 0);
    ASSERT_TRUE(strstr(m.body, "\nvault_trash_purged_total 1\n") != NULL);
    ASSERT_TRUE(strstr(m.body, "\nvault_janitor_runs_total ") != NULL);
    vresp_free(&m);
    ASSERT_EQ_INT(get_note(old, NULL, NULL), 404);
    /* The purge was logged with what it removed. */
    char *log = vread_file(srv.proc.log_path);
    const char *line = log != NULL ? strstr(log, "\"note purged\"") : NULL;
    ASSERT_TRUE(line != NULL);
    const char *eol = strchr(line, '\n');
    char buf[1024];
    snprintf(buf, sizeof(buf), "%.*s", (int)(eol ? eol - line : 200), line);
    free(log);
    ASSERT_TRUE(strstr(buf, old) != NULL);
    ASSERT_TRUE(strstr(buf, "\"removed\"") != NULL);
    ASSERT_TRUE(strstr(buf, "\"updates\":") != NULL && strstr(buf, "\"updates\":0") == NULL);
    ASSERT_TRUE(strstr(buf, "\"index_entry\":true") != NULL);
    ASSERT_TRUE(strstr(buf, "\"versions\":") != NULL && strstr(buf, "\"versions\":0") == NULL);
    /* 45 hours: the edited note's day is over too. */
    CHECK_HELPER(set_clock(45 * 3600 * 1000LL));
    CHECK_HELPER(wait_purged(short_vault, edited));
    CHECK_HELPER(wait_runs(2));
    ASSERT_TRUE(in_trash(vault, kept));
    /* 50 hours: the server's default retention (2 days here) is over for
     * the other vault's note. */
    CHECK_HELPER(set_clock(50 * 3600 * 1000LL));
    CHECK_HELPER(wait_purged(vault, kept));
    ASSERT_EQ_UINT(trash_len(short_vault), 0);
    ASSERT_EQ_INT(get_note(live, &text, NULL), 200);
    free(text);
}

static void janitor_case(const char *backend) {
    snprintf(clock_path, sizeof(clock_path), "/tmp/vn-trash-clock-%d-%s", (int)getpid(), backend);
    setenv("VAULT_TEST_CLOCK", clock_path, 1);
    setenv("VAULT_FAULT", "janitor-clock-jump", 1);
    static const char *const flags[] = {
        "--janitor-interval-ms", "100", "--log-level", "debug", "--trash-retention-days", "2",
        "--version-idle-ms",     "50",  NULL};
    with_server(backend, flags, janitor_purges);
    unsetenv("VAULT_FAULT");
    unsetenv("VAULT_TEST_CLOCK");
    unlink(clock_path);
}

TEST(janitor_purges_with_clock_jumps_sqlite) { CHECK_HELPER(janitor_case("sqlite")); }
TEST(janitor_purges_with_clock_jumps_postgres) { CHECK_HELPER(janitor_case("postgres")); }

/* ---- writes racing a purge ------------------------------------------------------- */

/* Purges the janitor has submitted so far (the sum of its runs' "submitted"). */
static int purges_submitted(void) {
    char *log = vread_file(srv.proc.log_path);
    int n = 0;
    for (const char *p = log; p != NULL && (p = strstr(p, "\"trash purge run\"")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        const char *s = strstr(p, "\"submitted\":");
        if (s != NULL && (eol == NULL || s < eol)) n += atoi(s + strlen("\"submitted\":"));
    }
    free(log);
    return n;
}

/* Every commit waits (VAULT_TEST_COMMIT_DELAY_MS), so the janitor's purges
 * are in flight for a while after their run is logged: an edit and a
 * restore sent then reach the writer after the purges. Neither may be
 * answered as saved (the purge wins, nothing of the note comes back), nor
 * fail with a server error. */
static void purge_races(void) {
    CHECK_HELPER(setup());
    set_clock(0);
    char edited[40], restored[40], etag[64];
    CHECK_HELPER(create_note("/Race.md", "race", edited));
    CHECK_HELPER(create_note("/Back.md", "back", restored));
    ASSERT_EQ_INT(get_note(edited, NULL, etag), 200);
    ASSERT_EQ_INT(note_call("DELETE", edited, "", tok, NULL, NULL), 204);
    ASSERT_EQ_INT(note_call("DELETE", restored, "", tok, NULL, NULL), 204);
    int before = purges_submitted();
    CHECK_HELPER(set_clock(3 * DAY_MS)); /* both due: the retention is 2 days */
    for (int i = 0; i < 6000 && purges_submitted() == before; i++) sleep_ms(10);
    ASSERT_EQ_INT(purges_submitted(), before + 2); /* one run: both are due */
    /* The purges are being committed: an edit from a device that still had
     * the note open, and a restore. */
    json_t *r = NULL;
    ASSERT_EQ_INT(put_note(edited, etag, "race edited", &r), 404);
    json_decref(r);
    ASSERT_EQ_INT(note_call("POST", restored, "/restore", tok, NULL, NULL), 404);
    CHECK_HELPER(wait_purged(vault, edited));
    CHECK_HELPER(wait_purged(vault, restored));
    CHECK_HELPER(wait_runs(2));
    /* Nothing of either came back: no projection, no log (a refused
     * update is not appended to an emptied log), no index entry. */
    const char *ids[] = {edited, restored};
    for (int i = 0; i < 2; i++) {
        store_doc_usage u;
        int file_rc;
        CHECK_HELPER(usage_of(ids[i], &u, &file_rc));
        ASSERT_EQ_INT(file_rc, STORE_ENOTFOUND);
        ASSERT_EQ_INT(u.updates, 0);
        ASSERT_EQ_INT(u.versions, 0);
        ASSERT_EQ_INT(get_note(ids[i], NULL, NULL), 404);
        ASSERT_EQ_INT(note_call("POST", ids[i], "/restore", tok, NULL, NULL), 404);
    }
    json_t *list = NULL;
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/notes", vault);
    ASSERT_EQ_INT(api(&srv, "GET", url, tok, NULL, &list), 200);
    ASSERT_EQ_UINT(json_array_size(json_object_get(list, "notes")), 0);
    json_decref(list);
    ASSERT_EQ_UINT(trash_len(vault), 0);
    /* The vault still takes notes at those paths. */
    char again[40];
    CHECK_HELPER(create_note("/Race.md", "new", again));
    CHECK_HELPER(create_note("/Back.md", "new", again));
}

static void race_case(const char *backend) {
    snprintf(clock_path, sizeof(clock_path), "/tmp/vn-trash-race-%d-%s", (int)getpid(), backend);
    setenv("VAULT_TEST_CLOCK", clock_path, 1);
    setenv("VAULT_TEST_COMMIT_DELAY_MS", "1500", 1);
    static const char *const flags[] = {"--janitor-interval-ms",
                                        "100",
                                        "--trash-retention-days",
                                        "2",
                                        "--log-level",
                                        "debug",
                                        NULL};
    with_server(backend, flags, purge_races);
    unsetenv("VAULT_TEST_COMMIT_DELAY_MS");
    unsetenv("VAULT_TEST_CLOCK");
    unlink(clock_path);
}

TEST(writes_racing_a_purge_sqlite) { CHECK_HELPER(race_case("sqlite")); }
TEST(writes_racing_a_purge_postgres) { CHECK_HELPER(race_case("postgres")); }
