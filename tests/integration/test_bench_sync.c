/*
 * test_bench_sync.c - a smoke test of the sync load generator
 * (bench/sync/sync_bench, the C half of `make bench-sync`): one second of
 * edits by 4 clients on 2 notes of a real vaultd, on a free port. It proves
 * that the generator speaks vaultd's y-websocket endpoint end to end (every
 * edit reaches every other client, and the server's text holds every
 * character sent); it asserts no speed.
 */
#include "api.h"
#include "test.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* The value of "result NAME VALUE" in out, or -1. */
static long long result_of(const char *out, const char *name) {
    char key[128];
    snprintf(key, sizeof(key), "result %s ", name);
    const char *p = strstr(out, key);
    return p != NULL ? atoll(p + strlen(key)) : -1;
}

/* Creates a note at `path`; writes its id and a newline to f. */
static int create_note(vserver *s, const char *tok, const char *vault, const char *path, FILE *f) {
    char url[128], body[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/notes", vault);
    snprintf(body, sizeof(body), "{\"path\":\"%s\"}", path);
    json_t *j = NULL;
    int status = api(s, "POST", url, tok, body, &j);
    const char *id = json_string_value(json_object_get(j, "id"));
    if (status == 201 && id != NULL) fprintf(f, "%s\n", id);
    json_decref(j);
    return status == 201 && id != NULL ? 0 : -1;
}

TEST(four_clients_edit_two_notes_for_a_second) {
    const char *gen = getenv("SYNC_BENCH");
    ASSERT_TRUE(gen != NULL);
    vserver srv;
    ASSERT_EQ_INT(vserver_start(&srv, "sqlite", NULL), 0);
    char email[128], tok[64];
    long long uid;
    unique_email("bench", email);
    ASSERT_EQ_INT(signup(&srv, email, tok, &uid), 0);
    json_t *j = NULL;
    ASSERT_EQ_INT(api(&srv, "POST", "/api/v1/vaults", tok, "{\"name\":\"Bench\"}", &j), 201);
    char vault[40];
    snprintf(vault, sizeof(vault), "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);

    char docs[400], out_path[400], server[64];
    snprintf(docs, sizeof(docs), "%s/docs.txt", srv.proc.dir);
    snprintf(out_path, sizeof(out_path), "%s/results.txt", srv.proc.dir);
    snprintf(server, sizeof(server), "127.0.0.1:%d", srv.port);
    FILE *f = fopen(docs, "w");
    ASSERT_TRUE(f != NULL);
    int rc = create_note(&srv, tok, vault, "/a.md", f);
    if (rc == 0) rc = create_note(&srv, tok, vault, "/b.md", f);
    fclose(f);
    ASSERT_EQ_INT(rc, 0);

    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)srv.proc.pid);
    pid_t child = fork();
    ASSERT_TRUE(child >= 0);
    if (child == 0) {
        FILE *o = freopen(out_path, "w", stdout);
        if (o == NULL) _exit(126);
        execl(gen, gen, "--proto", "y", "--server", server, "--token", tok, "--docs", docs, "--pid",
              pid, "--phase", "load", "--clients", "4", "--docs-used", "2", "--rate", "10",
              "--warmup", "0", "--duration", "1", "--peak", "1", "--sources", "2", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    ASSERT_EQ_INT((int)waitpid(child, &status, 0), (int)child);
    char *out = vread_file(out_path);
    int stop = vserver_stop(&srv);
    ASSERT_TRUE(out != NULL);
    long long sent = result_of(out, "load.sent"), missing = result_of(out, "load.missing");
    long long peak_sent = result_of(out, "peak.sent"),
              peak_missing = result_of(out, "peak.missing");
    long long docs_ok = result_of(out, "load.verify_docs_ok");
    long long replicas_off = result_of(out, "load.verify_replicas_off");
    long long errors = result_of(out, "load.errors");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fprintf(stderr, "%s", out);
    free(out);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ_INT(WEXITSTATUS(status), 0);
    ASSERT_TRUE(sent > 0);      /* the open loop sent edits */
    ASSERT_EQ_INT(missing, 0);  /* each reached the 1 other client of its note */
    ASSERT_TRUE(peak_sent > 0); /* the closed loop ran on the deliveries */
    ASSERT_EQ_INT(peak_missing, 0);
    ASSERT_EQ_INT(docs_ok, 2); /* the server's text holds every character */
    ASSERT_EQ_INT(replicas_off, 0);
    ASSERT_EQ_INT(errors, 0);
    ASSERT_EQ_INT(stop, 0);
}
