/*
 * test_web.c - vaultd --web-dir: the web app's built files are served with
 * their content types, client-side routes get index.html, nothing outside
 * the directory (or hidden, or a directory listing) is ever served, and the
 * API answers exactly as it does without a web directory.
 */
#include "proc.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char index_html[] = "<!doctype html><title>Vault Notes</title><div id=root></div>\n";
static const char app_js[] = "console.log('vault notes')\n";

static int write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) return -1;
    fputs(text, f);
    return fclose(f);
}

/* A temporary tree: <tmp>/secret.txt (outside the web dir) and <tmp>/dist
 * with index.html, assets/app.js, assets/style.css, a hidden file and a
 * symlink that points outside. */
static int make_site(char tmp[64], char dist[128]) {
    strcpy(tmp, "/tmp/vn-web-XXXXXX");
    if (mkdtemp(tmp) == NULL) return -1;
    snprintf(dist, 128, "%s/dist", tmp);
    char assets[160];
    snprintf(assets, sizeof(assets), "%s/assets", dist);
    if (mkdir(dist, 0700) != 0 || mkdir(assets, 0700) != 0) return -1;
    char outside[160], link[200];
    snprintf(outside, sizeof(outside), "%s/secret.txt", tmp);
    snprintf(link, sizeof(link), "%s/leak.txt", dist);
    if (write_file(tmp, "secret.txt", "top secret\n") != 0 ||
        write_file(dist, "index.html", index_html) != 0 ||
        write_file(dist, "assets/app-1234.js", app_js) != 0 ||
        write_file(dist, "assets/style.css", "body{}\n") != 0 ||
        write_file(dist, ".env", "SECRET=1\n") != 0 || symlink(outside, link) != 0)
        return -1;
    return 0;
}

static void remove_site(const char *tmp) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
}

typedef struct {
    const char *method, *path;
    int status;
    const char *type_prefix; /* content-type starts with this, or NULL */
    const char *body;        /* exact body, or NULL */
    const char *cache;       /* cache-control contains this, or NULL */
} web_case;

TEST(web_dir_serves_files_routes_and_leaves_the_api_alone) {
    char tmp[64], dist[128];
    ASSERT_EQ_INT(make_site(tmp, dist), 0);
    const char *const extra[] = {"--web-dir", dist, NULL};
    vproc p;
    ASSERT_EQ_INT(vproc_start(&p, extra), 0);
    static const web_case cases[] = {
        {"GET", "/", 200, "text/html", index_html, "no-cache"},
        {"GET", "/index.html", 200, "text/html", index_html, "no-cache"},
        {"GET", "/assets/app-1234.js", 200, "application/javascript", app_js, "immutable"},
        {"GET", "/assets/style.css", 200, "text/css", "body{}\n", "immutable"},
        {"HEAD", "/assets/style.css", 200, "text/css", "", NULL},
        /* client-side routes: the app's index.html */
        {"GET", "/v/0123456789abcdef0123456789abcdef", 200, "text/html", index_html, "no-cache"},
        {"GET", "/login?next=%2Fv", 200, "text/html", index_html, NULL},
        /* a directory is not listed: it is a client route like any other */
        {"GET", "/assets", 200, "text/html", index_html, NULL},
        {"GET", "/assets/", 200, "text/html", index_html, NULL},
        /* missing files, hidden files and anything outside the directory */
        {"GET", "/assets/missing.js", 404, "application/problem+json", NULL, NULL},
        {"GET", "/.env", 404, "application/problem+json", NULL, NULL},
        {"GET", "/leak.txt", 404, "application/problem+json", NULL, NULL},
        {"GET", "/../secret.txt", 404, "application/problem+json", NULL, NULL},
        {"GET", "/%2e%2e/secret.txt", 404, "application/problem+json", NULL, NULL},
        {"GET", "/assets/..%2f..%2fsecret.txt", 404, "application/problem+json", NULL, NULL},
        /* the API keeps priority and answers as before */
        {"GET", "/healthz", 200, "application/json", "{\"status\":\"ok\"}", "no-store"},
        {"GET", "/api/v1/me", 401, "application/problem+json", NULL, NULL},
        {"GET", "/api/v1/no/such/route", 404, "application/problem+json", NULL, NULL},
        {"GET", "/api", 404, "application/problem+json", NULL, NULL},
        {"DELETE", "/healthz", 405, "application/problem+json", NULL, NULL},
        /* only GET and HEAD reach the files */
        {"POST", "/", 404, "application/problem+json", NULL, NULL},
        {"PUT", "/index.html", 404, "application/problem+json", NULL, NULL},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const web_case *c = &cases[i];
        vresp r = {0};
        char type[128] = "", cache[128] = "";
        int rc = vhttp_call(p.port, c->method, c->path, NULL, NULL, NULL, NULL, 0, &r);
        if (rc == 0) {
            vresp_header(&r, "content-type", type, sizeof(type));
            vresp_header(&r, "cache-control", cache, sizeof(cache));
        }
        int ok = rc == 0 && r.status == c->status &&
                 (c->type_prefix == NULL ||
                  strncmp(type, c->type_prefix, strlen(c->type_prefix)) == 0) &&
                 (c->body == NULL || (r.body != NULL && strcmp(r.body, c->body) == 0)) &&
                 (c->cache == NULL || strstr(cache, c->cache) != NULL) &&
                 (r.body == NULL || strstr(r.body, "top secret") == NULL);
        if (!ok) {
            fprintf(
                stderr, "case %s %s: status %d (want %d), type '%s', cache '%s', body '%.80s'\n",
                c->method, c->path, r.status, c->status, type, cache, r.body != NULL ? r.body : "");
            failed++;
        }
        vresp_free(&r);
    }
    int exit_code = vproc_stop(&p, 30);
    char *log = vread_file(p.log_path);
    vproc_cleanup(&p);
    remove_site(tmp);
    int logged = log != NULL && strstr(log, "\"route\":\"(web)\",\"status\":200") != NULL;
    free(log);
    ASSERT_EQ_INT(failed, 0);
    ASSERT_EQ_INT(exit_code, 0);
    ASSERT_TRUE(logged);
}

TEST(web_dir_without_index_html_is_a_clear_error) {
    char out[4096];
    char tmp[] = "/tmp/vn-web-XXXXXX";
    ASSERT_TRUE(mkdtemp(tmp) != NULL);
    char data[64];
    snprintf(data, sizeof(data), "%s/data", tmp);
    const char *const empty[] = {"--listen",  "127.0.0.1:0", "--data-dir", data,
                                 "--web-dir", tmp,           NULL};
    int rc_empty = vproc_run(empty, out, sizeof(out));
    int said_index = strstr(out, "has no index.html") != NULL;
    const char *const missing[] = {"--listen",  "127.0.0.1:0",      "--data-dir", data,
                                   "--web-dir", "/no/such/web/dir", NULL};
    int rc_missing = vproc_run(missing, out, sizeof(out));
    int said_missing = strstr(out, "/no/such/web/dir") != NULL;
    /* the environment variable is read too */
    setenv("VAULT_WEB_DIR", "/no/such/env/web/dir", 1);
    const char *const by_env[] = {"--listen", "127.0.0.1:0", "--data-dir", data, NULL};
    int rc_env = vproc_run(by_env, out, sizeof(out));
    int said_env = strstr(out, "/no/such/env/web/dir") != NULL;
    unsetenv("VAULT_WEB_DIR");
    remove_site(tmp);
    ASSERT_EQ_INT(rc_empty, 1);
    ASSERT_TRUE(said_index);
    ASSERT_EQ_INT(rc_missing, 1);
    ASSERT_TRUE(said_missing);
    ASSERT_EQ_INT(rc_env, 1);
    ASSERT_TRUE(said_env);
}
