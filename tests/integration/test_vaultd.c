/*
 * test_vaultd.c - vaultd as a user meets it: flags, /healthz, request logs,
 * clean shutdown on SIGTERM and SIGINT.
 */
#include "proc.h"
#include "test.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TEST(healthz_answers_and_sigterm_exits_cleanly) {
    vproc p;
    ASSERT_EQ_INT(vproc_start(&p, NULL), 0);
    int status = 0;
    char body[256];
    int rc = vhttp_request(p.port, "GET", "/healthz", &status, body, sizeof(body));
    int exit_code = vproc_stop(&p, 30);
    char *log = vread_file(p.log_path);
    vproc_cleanup(&p);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_INT(status, 200);
    ASSERT_EQ_STR(body, "{\"status\":\"ok\"}");
    ASSERT_EQ_INT(exit_code, 0);
    ASSERT_TRUE(log != NULL);
    /* One JSON line for the request, with its trace id, then a clean stop. */
    int logged = strstr(log, "\"msg\":\"request\",\"method\":\"GET\",\"route\":\"/healthz\","
                             "\"status\":200") != NULL;
    int traced = strstr(log, "\"trace_id\":\"") != NULL;
    int stopped = strstr(log, "\"msg\":\"stopped\"") != NULL;
    free(log);
    ASSERT_TRUE(logged);
    ASSERT_TRUE(traced);
    ASSERT_TRUE(stopped);
}

TEST(unknown_path_is_problem_404_and_wrong_method_405) {
    vproc p;
    ASSERT_EQ_INT(vproc_start(&p, NULL), 0);
    int s404 = 0, s405 = 0;
    char b404[256], b405[256];
    int rc1 = vhttp_request(p.port, "GET", "/no/such/thing", &s404, b404, sizeof(b404));
    int rc2 = vhttp_request(p.port, "DELETE", "/healthz", &s405, b405, sizeof(b405));
    int exit_code = vproc_stop(&p, 30);
    vproc_cleanup(&p);
    ASSERT_EQ_INT(rc1, 0);
    ASSERT_EQ_INT(s404, 404);
    ASSERT_TRUE(strstr(b404, "\"status\":404") != NULL);
    ASSERT_EQ_INT(rc2, 0);
    ASSERT_EQ_INT(s405, 405);
    ASSERT_TRUE(strstr(b405, "\"status\":405") != NULL);
    ASSERT_EQ_INT(exit_code, 0);
}

TEST(sigint_with_an_idle_keepalive_connection_still_exits) {
    vproc p;
    ASSERT_EQ_INT(vproc_start(&p, NULL), 0);
    /* A client that sent one keep-alive request and went quiet. */
    int fd = vtcp_connect(p.port);
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ssize_t w = fd >= 0 ? write(fd, req, sizeof(req) - 1) : -1;
    char buf[512];
    ssize_t r = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    kill(p.pid, SIGINT);
    int status = 0, waited = 0;
    for (int i = 0; i < 3000 && waited == 0; i++) {
        waited = waitpid(p.pid, &status, WNOHANG);
        if (waited == 0) usleep(10000);
    }
    if (waited == 0) kill(p.pid, SIGKILL);
    p.pid = 0;
    if (fd >= 0) close(fd);
    vproc_cleanup(&p);
    ASSERT_TRUE(w > 0);
    ASSERT_TRUE(r > 0);
    ASSERT_TRUE(waited > 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ_INT(WEXITSTATUS(status), 0);
}

TEST(version_help_and_bad_flags) {
    char out[4096];
    const char *const version[] = {"--version", NULL};
    ASSERT_EQ_INT(vproc_run(version, out, sizeof(out)), 0);
    ASSERT_TRUE(strncmp(out, "vaultd ", 7) == 0);
    const char *const help[] = {"--help", NULL};
    ASSERT_EQ_INT(vproc_run(help, out, sizeof(out)), 0);
    ASSERT_TRUE(strstr(out, "--listen") != NULL);
    ASSERT_TRUE(strstr(out, "--data-dir") != NULL);
    const char *const bad_listen[] = {"--listen", "nonsense", NULL};
    ASSERT_EQ_INT(vproc_run(bad_listen, out, sizeof(out)), 2);
    ASSERT_TRUE(strstr(out, "--listen wants HOST:PORT") != NULL);
    const char *const bad_flag[] = {"--frobnicate", NULL};
    ASSERT_EQ_INT(vproc_run(bad_flag, out, sizeof(out)), 2);
    ASSERT_EQ_INT(vproc_run(help, out, sizeof(out)), 0);
    ASSERT_TRUE(strstr(out, "--doc-idle-ms") != NULL);
    static const char *const bad_idle[] = {"-5", "12x", "", "999999999999"};
    for (size_t i = 0; i < sizeof(bad_idle) / sizeof(bad_idle[0]); i++) {
        const char *const args[] = {"--doc-idle-ms", bad_idle[i], NULL};
        ASSERT_EQ_INT(vproc_run(args, out, sizeof(out)), 2);
        ASSERT_TRUE(strstr(out, "--doc-idle-ms wants milliseconds") != NULL);
    }
}

TEST(port_in_use_is_a_clear_error) {
    vproc p;
    ASSERT_EQ_INT(vproc_start(&p, NULL), 0);
    char listen[64], out[4096];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", p.port);
    char data[300];
    snprintf(data, sizeof(data), "%s/data2", p.dir);
    const char *const args[] = {"--listen", listen, "--data-dir", data, NULL};
    int rc = vproc_run(args, out, sizeof(out));
    vproc_stop(&p, 30);
    vproc_cleanup(&p);
    ASSERT_EQ_INT(rc, 1);
    ASSERT_TRUE(strstr(out, "cannot listen on") != NULL);
}

TEST(traceparent_is_continued_and_returned) {
    vproc p;
    ASSERT_EQ_INT(vproc_start(&p, NULL), 0);
    vresp r;
    int rc = vhttp_call(p.port, "GET", "/healthz", NULL,
                        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n",
                        NULL, NULL, 0, &r);
    char tp[128];
    const char *got = rc == 0 ? vresp_header(&r, "traceparent", tp, sizeof(tp)) : NULL;
    if (rc == 0) vresp_free(&r);
    int exit_code = vproc_stop(&p, 30);
    char *log = vread_file(p.log_path);
    vproc_cleanup(&p);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_TRUE(got != NULL);
    ASSERT_TRUE(strncmp(got, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36) == 0);
    ASSERT_TRUE(log != NULL);
    int logged = strstr(log, "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"") != NULL;
    free(log);
    ASSERT_TRUE(logged);
    ASSERT_EQ_INT(exit_code, 0);
}

/* Status of an unauthenticated GET of `path` on a vaultd started with
 * `--roles roles`: 404 when the route's role does not run here, 401 when it
 * does (the route runs and asks for a login). */
static void roles_answer(const char *roles, const char *path, int want) {
    vproc p;
    const char *const extra[] = {"--roles", roles, NULL};
    ASSERT_EQ_INT(vproc_start(&p, extra), 0);
    int status = 0;
    char body[512];
    int rc = vhttp_request(p.port, "GET", path, &status, body, sizeof(body));
    int exit_code = vproc_stop(&p, 30);
    vproc_cleanup(&p);
    ASSERT_EQ_INT(rc, 0);
    if (status != want)
        fprintf(stderr, "--roles %s, GET %s: %d, want %d\n", roles, path, status, want);
    ASSERT_EQ_INT(status, want);
    ASSERT_EQ_INT(exit_code, 0);
}

/* Both sync endpoints belong to the sync role, every other /api/ route to
 * the api role. */
TEST(roles_split_the_api_from_both_sync_endpoints) {
    static const char vault_sync[] = "/api/v1/vaults/0123456789abcdef0123456789abcdef/sync";
    static const char note_sync[] = "/api/v1/sync/0123456789abcdef0123456789abcdef";
    CHECK_HELPER(roles_answer("api", vault_sync, 404));
    CHECK_HELPER(roles_answer("api", note_sync, 404));
    CHECK_HELPER(roles_answer("api", "/api/v1/vaults", 401));
    CHECK_HELPER(roles_answer("sync", vault_sync, 401));
    CHECK_HELPER(roles_answer("sync", note_sync, 401));
    CHECK_HELPER(roles_answer("sync", "/api/v1/vaults", 404));
}
