/*
 * main.c - `vn`, the command-line client of Vault Notes: argument parsing,
 * the commands, their help texts and exit codes (docs/cli.md). The work is
 * done by vsync.c (sync), replica.c (local replica), rest.c (REST calls)
 * and cfg.c (the login config).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>

#include "client/cfg.h"
#include "client/replica.h"
#include "client/rest.h"
#include "client/vsync.h"

/* Exit codes (docs/cli.md). */
enum {
    EX_OK = 0,
    EX_FAIL = 1,     /* a local problem: file system, damaged replica */
    EX_USAGE = 2,    /* bad command line */
    EX_AUTH = 3,     /* not logged in, session refused, or not allowed */
    EX_NET = 4,      /* server unreachable (local changes are kept) */
    EX_GUARD = 5,    /* deletion guard: mass deletion not confirmed */
    EX_NOTFOUND = 6, /* no such vault, file or version */
    EX_SERVER = 7,   /* the server refused the request or failed */
};

typedef struct {
    const char *name;
    const char *usage;
    const char *summary; /* one line for the overview */
    const char *help;
    int (*run)(int argc, char **argv);
} command;

static const command *current;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vn %s: ", current ? current->name : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: vn %s\n(see `vn %s --help`)\n", current ? current->usage : "",
            current ? current->name : "");
    return EX_USAGE;
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vn %s: ", current ? current->name : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static int http_code(int status) {
    if (status == 401 || status == 403) return EX_AUTH;
    if (status == 404) return EX_NOTFOUND;
    return EX_SERVER;
}

static int vsync_code(int rc) {
    switch (rc) {
    case VSYNC_OK: return EX_OK;
    case VSYNC_ENET: return EX_NET;
    case VSYNC_EAUTH: return EX_AUTH;
    case VSYNC_EGUARD: return EX_GUARD;
    case VSYNC_ESERVER: return EX_SERVER;
    case VSYNC_ENOTFOUND: return EX_NOTFOUND;
    default: return EX_FAIL;
    }
}

/* Parses the options every command shares plus `extra` ones; returns the
 * index of the first operand or -1 after printing help/usage (*code). */
typedef struct {
    bool yes, watch, verbose, help;
    const char *dir;
} opts;

static int parse(int argc, char **argv, opts *o, const char *allowed, int *code) {
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'},      {"yes", no_argument, NULL, 'y'},
        {"watch", no_argument, NULL, 'w'},     {"verbose", no_argument, NULL, 'v'},
        {"dir", required_argument, NULL, 'C'}, {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+hywvC:", lo, NULL)) != -1) {
        if (c == 'h') {
            printf("usage: vn %s\n\n%s\n", current->usage, current->help);
            *code = EX_OK;
            return -1;
        }
        if (c == '?' || c == ':' || strchr(allowed, c) == NULL) {
            *code = usage_error("unknown or misplaced option '%s'", argv[optind - 1]);
            return -1;
        }
        if (c == 'y') o->yes = true;
        if (c == 'w') o->watch = true;
        if (c == 'v') o->verbose = true;
        if (c == 'C') o->dir = optarg;
    }
    return optind;
}

/* ---- login --------------------------------------------------------------- */

static void trim_url(char *u) {
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/') u[--n] = '\0';
}

static int ask(const char *prompt, bool secret, char *buf, size_t sz) {
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    FILE *tty = fdopen(fd, "r+");
    if (tty == NULL) {
        close(fd);
        return -1;
    }
    fputs(prompt, tty);
    fflush(tty);
    struct termios old, quiet;
    bool restore = false;
    if (secret && tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    char *r = fgets(buf, (int)sz, tty);
    if (restore) {
        tcsetattr(fd, TCSAFLUSH, &old);
        fputc('\n', tty);
    }
    fclose(tty);
    if (r == NULL) return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static int cmd_login(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "h", &code);
    if (i < 0) return code;
    if (argc - i != 1) return usage_error("expected one URL, like http://127.0.0.1:8080");
    cfg c;
    memset(&c, 0, sizeof(c));
    snprintf(c.url, sizeof(c.url), "%s", argv[i]);
    trim_url(c.url);
    if (strncmp(c.url, "http://", 7) != 0 && strncmp(c.url, "https://", 8) != 0)
        return usage_error("%s is not an http:// or https:// URL", c.url);
    char email[320], password[1100];
    const char *e = getenv("VN_EMAIL"), *p = getenv("VN_PASSWORD");
    if (e != NULL)
        snprintf(email, sizeof(email), "%s", e);
    else if (ask("Email: ", false, email, sizeof(email)) != 0)
        return fail(EX_USAGE, "no terminal to ask for your email: set VN_EMAIL and VN_PASSWORD");
    if (p != NULL)
        snprintf(password, sizeof(password), "%s", p);
    else if (ask("Password: ", true, password, sizeof(password)) != 0)
        return fail(EX_USAGE, "no terminal to ask for your password: set VN_PASSWORD");
    json_t *body = json_pack("{s:s, s:s}", "email", email, "password", password);
    memset(password, 0, sizeof(password));
    json_t *out = NULL;
    int status;
    char err[512];
    int rc = body ? rest_call(c.url, NULL, "POST", "/api/v1/auth/login", body, &status, &out, err,
                              sizeof(err))
                  : REST_ENOMEM;
    json_decref(body);
    if (rc == REST_ENET) return fail(EX_NET, "%s", err);
    if (rc != REST_OK) return fail(EX_FAIL, "out of memory");
    int ret = EX_OK;
    if (status == 401) {
        ret = fail(EX_AUTH, "wrong email or password");
    } else if (status == 429) {
        ret = fail(EX_SERVER, "too many failed sign-ins: wait an hour and try again");
    } else if (status != 200) {
        ret = fail(http_code(status), "the server refused the sign-in: %s", err);
    } else {
        const char *tok = json_string_value(json_object_get(out, "token"));
        if (tok == NULL || strlen(tok) >= sizeof(c.token)) {
            ret = fail(EX_SERVER, "%s did not answer like a Vault Notes server", c.url);
        } else {
            snprintf(c.token, sizeof(c.token), "%s", tok);
            snprintf(c.email, sizeof(c.email), "%s", email);
            if (cfg_save(&c, err, sizeof(err)) != 0)
                ret = fail(EX_FAIL, "%s", err);
            else
                printf("Logged in to %s as %s.\n", c.url, email);
        }
    }
    json_decref(out);
    return ret;
}

static int need_login(cfg *c) {
    char err[512];
    int r = cfg_load(c, err, sizeof(err));
    if (r < 0) return fail(EX_FAIL, "%s", err);
    if (r == 1 || c->token[0] == '\0' || c->url[0] == '\0')
        return fail(EX_AUTH, "not logged in: run `vn login URL` first");
    return EX_OK;
}

static int cmd_logout(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "h", &code);
    if (i < 0) return code;
    if (argc != i) return usage_error("no arguments expected");
    cfg c;
    char err[512];
    int r = cfg_load(&c, err, sizeof(err));
    if (r < 0) return fail(EX_FAIL, "%s", err);
    if (r == 1 || c.token[0] == '\0') {
        printf("Not logged in.\n");
        return EX_OK;
    }
    int status;
    if (rest_call(c.url, c.token, "POST", "/api/v1/auth/logout", NULL, &status, NULL, err,
                  sizeof(err)) != REST_OK)
        fprintf(stderr, "vn logout: could not tell the server (%s); the token is removed here\n",
                err);
    if (cfg_remove(err, sizeof(err)) != 0) return fail(EX_FAIL, "%s", err);
    printf("Logged out of %s.\n", c.url);
    return EX_OK;
}

/* GET/POST with the login; prints the error and returns an exit code when
 * the call fails (status not 2xx). */
static int call(const cfg *c, const char *method, const char *path, json_t *body, json_t **out,
                int *status_out) {
    int status;
    char err[512];
    int rc = rest_call(c->url, c->token, method, path, body, &status, out, err, sizeof(err));
    if (status_out) *status_out = status;
    if (rc == REST_ENET) return fail(EX_NET, "%s", err);
    if (rc != REST_OK) return fail(EX_FAIL, "out of memory");
    if (status == 401)
        return fail(EX_AUTH, "the server does not accept your session any more: run `vn login %s`",
                    c->url);
    if (status >= 400) {
        if (status == 405)
            return fail(EX_SERVER, "this server does not offer that yet (HTTP 405): %s", err);
        return fail(http_code(status), "%s", err);
    }
    return EX_OK;
}

static int cmd_vaults(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "h", &code);
    if (i < 0) return code;
    if (argc != i) return usage_error("no arguments expected");
    cfg c;
    int r = need_login(&c);
    if (r != EX_OK) return r;
    json_t *out = NULL;
    if ((r = call(&c, "GET", "/api/v1/vaults", NULL, &out, NULL)) != EX_OK) return r;
    json_t *a = json_object_get(out, "vaults");
    size_t k;
    json_t *v;
    if (json_array_size(a) == 0) printf("No vaults yet: create one with `vn create-vault NAME`.\n");
    json_array_foreach(a, k, v) {
        printf("%s  %-8s  %s\n", json_string_value(json_object_get(v, "id")),
               json_string_value(json_object_get(v, "role")),
               json_string_value(json_object_get(v, "name")));
    }
    json_decref(out);
    return EX_OK;
}

static int cmd_create_vault(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "h", &code);
    if (i < 0) return code;
    if (argc - i != 1) return usage_error("expected one NAME");
    cfg c;
    int r = need_login(&c);
    if (r != EX_OK) return r;
    json_t *body = json_pack("{s:s}", "name", argv[i]);
    json_t *out = NULL;
    r = call(&c, "POST", "/api/v1/vaults", body, &out, NULL);
    json_decref(body);
    if (r != EX_OK) return r;
    printf("%s\n", json_string_value(json_object_get(out, "id")));
    json_decref(out);
    return EX_OK;
}

/* ---- folder commands -------------------------------------------------------- */

/* Whether dir or one of its parents holds .vault/replica.db; the folder in root. */
static bool vault_above(const char *start, char *root, size_t sz) {
    char cur[PATH_MAX];
    snprintf(cur, sizeof(cur), "%s", start);
    for (;;) {
        char p[PATH_MAX + 32];
        struct stat st;
        snprintf(p, sizeof(p), "%s/.vault/replica.db", cur);
        if (stat(p, &st) == 0) {
            snprintf(root, sz, "%s", cur);
            return true;
        }
        char *slash = strrchr(cur, '/');
        if (slash == NULL || slash == cur) return false;
        *slash = '\0';
    }
}

/* Finds the vault folder: -C DIR, else the current directory or a parent
 * holding .vault/replica.db, else (for commands naming a FILE) the folder
 * around that file. */
static int find_root(const opts *o, const char *file, char *root, size_t sz) {
    char cur[PATH_MAX];
    if (o->dir != NULL) {
        if (realpath(o->dir, cur) == NULL) return fail(EX_USAGE, "%s: %s", o->dir, strerror(errno));
        snprintf(root, sz, "%s", cur);
        return EX_OK;
    }
    if (getcwd(cur, sizeof(cur)) == NULL) return fail(EX_FAIL, "getcwd: %s", strerror(errno));
    if (vault_above(cur, root, sz)) return EX_OK;
    if (file != NULL) {
        char copy[PATH_MAX];
        snprintf(copy, sizeof(copy), "%s", file);
        char *slash = strrchr(copy, '/');
        if (slash != NULL) {
            *slash = '\0';
            if (realpath(copy[0] ? copy : "/", cur) != NULL && vault_above(cur, root, sz))
                return EX_OK;
        }
    }
    return fail(EX_USAGE, "not inside a vault folder (no .vault/ here or above): `cd` into one, "
                          "use -C DIR, or `vn clone` one first");
}

typedef struct {
    char root[PATH_MAX];
    replica *r;
    cfg c;
    bool logged_in;
} folder;

static int open_folder(const opts *o, bool lock, bool need_token, const char *file, folder *f) {
    memset(f, 0, sizeof(*f));
    int r = find_root(o, file, f->root, sizeof(f->root));
    if (r != EX_OK) return r;
    char err[1024];
    if (replica_open(f->root, lock, &f->r, err, sizeof(err)) != 0) {
        return fail(EX_FAIL, "%s", err);
    }
    int cr = cfg_load(&f->c, err, sizeof(err));
    if (cr < 0) {
        replica_close(f->r);
        return fail(EX_FAIL, "%s", err);
    }
    char a[1024], b[1024];
    snprintf(a, sizeof(a), "%s", f->c.url);
    snprintf(b, sizeof(b), "%s", replica_url(f->r));
    trim_url(a);
    trim_url(b);
    f->logged_in = cr == 0 && f->c.token[0] != '\0' && strcmp(a, b) == 0;
    if (need_token && !f->logged_in) {
        int code = fail(EX_AUTH, "%s syncs with %s, but you are %s: run `vn login %s`", f->root, b,
                        f->c.token[0] ? "logged in to another server" : "not logged in", b);
        replica_close(f->r);
        return code;
    }
    snprintf(f->c.url, sizeof(f->c.url), "%s", b);
    return EX_OK;
}

static void print_report(const vsync_report *rep, bool clone) {
    if (clone) {
        printf("Cloned %zu notes.\n", rep->written);
        return;
    }
    size_t local = rep->created + rep->modified + rep->renamed + rep->trashed;
    size_t remote = rep->written + rep->removed + rep->moved;
    if (local == 0 && remote == 0) {
        printf("Up to date.\n");
    } else {
        printf("Sent %zu local changes (%zu new, %zu edited, %zu renamed, %zu trashed); "
               "updated %zu files from the server (%zu written, %zu moved, %zu removed).\n",
               local, rep->created, rep->modified, rep->renamed, rep->trashed, remote, rep->written,
               rep->moved, rep->removed);
    }
    if (rep->kept)
        printf("%zu files changed during the sync were not overwritten; the next sync merges "
               "them.\n",
               rep->kept);
}

static void print_bytes(const vsync_report *rep) {
    if (getenv("VN_REPORT_BYTES") != NULL)
        fprintf(stderr, "vn: bytes in %llu, out %llu (sync channel); REST in %llu, out %llu\n",
                (unsigned long long)rep->bytes_in, (unsigned long long)rep->bytes_out,
                (unsigned long long)rest_bytes_in(), (unsigned long long)rest_bytes_out());
}

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static int cmd_sync(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "hywvC", &code);
    if (i < 0) return code;
    if (argc != i) return usage_error("no arguments expected");
    folder f;
    int r = open_folder(&o, true, true, NULL, &f);
    if (r != EX_OK) return r;
    vsync_opts so = {.yes = o.yes, .interactive = isatty(0) && isatty(2), .verbose = o.verbose};
    vsync *s = vsync_new(f.root, f.r, f.c.token, &so);
    if (s == NULL) {
        replica_close(f.r);
        return fail(EX_FAIL, "out of memory");
    }
    vsync_report rep;
    memset(&rep, 0, sizeof(rep));
    int rc;
    if (o.watch) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rc = vsync_round(s, &rep);
        if (rc == VSYNC_OK || rc == VSYNC_ENET) {
            if (rc == VSYNC_ENET)
                fprintf(stderr, "vn sync: %s; will retry\n", vsync_error(s));
            else
                print_report(&rep, false);
            fprintf(stderr, "vn sync: watching %s (Ctrl-C stops)\n", f.root);
            fflush(stdout);
            memset(&rep, 0, sizeof(rep));
            rc = vsync_watch(s, &stop_flag, &rep);
        }
    } else {
        rc = vsync_round(s, &rep);
    }
    int ret = vsync_code(rc);
    if (rc == VSYNC_OK) {
        if (!o.watch) print_report(&rep, false);
    } else if (rc == VSYNC_ENET) {
        int64_t n = replica_pending_count(f.r);
        fail(ret,
             "%s. %lld local changes are saved in the folder's replica and will be sent by "
             "the next `vn sync`",
             vsync_error(s), (long long)(n > 0 ? n : 0));
    } else {
        fail(ret, "%s", vsync_error(s));
    }
    print_bytes(&rep);
    vsync_free(s);
    replica_close(f.r);
    return ret;
}

static int cmd_status(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "hC", &code);
    if (i < 0) return code;
    if (argc != i) return usage_error("no arguments expected");
    folder f;
    int r = open_folder(&o, false, false, NULL, &f);
    if (r != EX_OK) return r;
    vsync *s = vsync_new(f.root, f.r, NULL, NULL);
    if (s == NULL) {
        replica_close(f.r);
        return fail(EX_FAIL, "out of memory");
    }
    printf("Vault \"%s\" (%s) from %s in %s\n", replica_vault_name(f.r), replica_vault(f.r),
           replica_url(f.r), f.root);
    int64_t last = replica_last_sync(f.r);
    if (last > 0) {
        time_t t = (time_t)(last / 1000);
        char buf[64];
        strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
        printf("Last sync: %s (vault sequence %llu)\n", buf,
               (unsigned long long)replica_since(f.r));
    } else {
        printf("Last sync: never finished\n");
    }
    printf("Local changes since the last sync:\n");
    size_t changes = 0;
    int rc = vsync_status(s, stdout, &changes);
    if (rc != VSYNC_OK) {
        int ret = fail(vsync_code(rc), "%s", vsync_error(s));
        vsync_free(s);
        replica_close(f.r);
        return ret;
    }
    int64_t pend = replica_pending_count(f.r);
    if (pend > 0)
        printf("Captured but not yet acknowledged by the server: %lld updates\n", (long long)pend);
    int status;
    char err[512];
    json_t *me = NULL;
    int nr =
        rest_call(replica_url(f.r), f.logged_in ? f.c.token : NULL, "GET",
                  f.logged_in ? "/api/v1/me" : "/healthz", NULL, &status, &me, err, sizeof(err));
    if (nr != REST_OK)
        printf("Server: unreachable (%s)\n", err);
    else if (!f.logged_in)
        printf("Server: reachable (HTTP %d); you are not logged in to it\n", status);
    else if (status == 200)
        printf("Server: reachable, signed in as %s\n",
               json_string_value(json_object_get(me, "email")));
    else
        printf("Server: reachable, but it refused your session (HTTP %d): run `vn login %s`\n",
               status, replica_url(f.r));
    json_decref(me);
    vsync_free(s);
    replica_close(f.r);
    return EX_OK;
}

static int is_empty_dir(const char *p) {
    DIR *d = opendir(p);
    if (d == NULL) return -1;
    struct dirent *de;
    int empty = 1;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) empty = 0;
    closedir(d);
    return empty;
}

static int cmd_clone(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "hv", &code);
    if (i < 0) return code;
    if (argc - i != 2) return usage_error("expected a VAULT (id or name) and a DIR");
    const char *want = argv[i], *dir = argv[i + 1];
    cfg c;
    int r = need_login(&c);
    if (r != EX_OK) return r;
    json_t *out = NULL;
    if ((r = call(&c, "GET", "/api/v1/vaults", NULL, &out, NULL)) != EX_OK) return r;
    const char *id = NULL, *name = NULL;
    int matches = 0;
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(out, "vaults"), k, v) {
        const char *vid = json_string_value(json_object_get(v, "id"));
        const char *vn = json_string_value(json_object_get(v, "name"));
        if (vid == NULL || vn == NULL) continue;
        if (strcmp(vid, want) == 0) {
            id = vid;
            name = vn;
            matches = 1;
            break;
        }
        if (strcmp(vn, want) == 0) {
            id = vid;
            name = vn;
            matches++;
        }
    }
    if (matches == 0) {
        json_decref(out);
        return fail(EX_NOTFOUND, "no vault named or numbered \"%s\" among yours (see `vn vaults`)",
                    want);
    }
    if (matches > 1) {
        json_decref(out);
        return fail(EX_USAGE,
                    "several of your vaults are named \"%s\": give its id (see `vn vaults`)", want);
    }
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode) || is_empty_dir(dir) != 1) {
            json_decref(out);
            return fail(EX_USAGE, "%s exists and is not an empty folder", dir);
        }
    } else if (mkdir(dir, 0755) != 0) {
        json_decref(out);
        return fail(EX_FAIL, "cannot create %s: %s", dir, strerror(errno));
    }
    char root[PATH_MAX], err[1024];
    if (realpath(dir, root) == NULL) {
        json_decref(out);
        return fail(EX_FAIL, "%s: %s", dir, strerror(errno));
    }
    replica *rep_db = NULL;
    if (replica_create(root, c.url, id, name, &rep_db, err, sizeof(err)) != 0) {
        json_decref(out);
        return fail(EX_FAIL, "%s", err);
    }
    vsync_opts so = {.progress = isatty(2), .verbose = o.verbose};
    vsync *s = vsync_new(root, rep_db, c.token, &so);
    vsync_report rep;
    memset(&rep, 0, sizeof(rep));
    int rc = s ? vsync_round(s, &rep) : VSYNC_EFAIL;
    int ret = vsync_code(rc);
    if (rc == VSYNC_OK) {
        printf("Cloned \"%s\" into %s: %zu notes.\n", name, root, rep.written);
    } else {
        fail(ret, "%s. The folder %s is set up: run `vn sync` in it to finish",
             s ? vsync_error(s) : "out of memory", root);
    }
    print_bytes(&rep);
    vsync_free(s);
    replica_close(rep_db);
    json_decref(out);
    return ret;
}

/* ---- history, search, trash -------------------------------------------------- */

static char *rel_path(const folder *f, const char *arg) {
    char abs[PATH_MAX * 2];
    if (arg[0] == '/') {
        snprintf(abs, sizeof(abs), "%s", arg);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL) return NULL;
        snprintf(abs, sizeof(abs), "%s/%s", cwd, arg);
    }
    /* resolve the folder part ("..", links) when it exists; the file may not */
    char *slash = strrchr(abs, '/');
    char dir[PATH_MAX];
    if (slash != NULL && slash != abs) {
        *slash = '\0';
        if (realpath(abs, dir) != NULL) {
            char name[PATH_MAX];
            snprintf(name, sizeof(name), "%s", slash + 1);
            snprintf(abs, sizeof(abs), "%s/%s", dir, name);
        } else {
            *slash = '/';
        }
    }
    size_t rl = strlen(f->root);
    if (strncmp(abs, f->root, rl) == 0 && abs[rl] == '/') return strdup(abs + rl + 1);
    /* a vault path ("/Projects/a.md") or a path relative to the root */
    return strdup(arg[0] == '/' ? arg + 1 : arg);
}

static int note_of(folder *f, const char *arg, bool trashed, char id[33]) {
    char *rel = rel_path(f, arg);
    if (rel == NULL) return fail(EX_FAIL, "out of memory");
    vsync *s = vsync_new(f->root, f->r, NULL, NULL);
    int rc = s ? vsync_note_id(s, rel, id, trashed) : VSYNC_EFAIL;
    int ret = EX_OK;
    if (rc != 0)
        ret = fail(rc == VSYNC_ENOTFOUND ? EX_NOTFOUND : EX_FAIL, "%s",
                   s ? vsync_error(s) : "out of memory");
    vsync_free(s);
    free(rel);
    return ret;
}

static const char *str_of(json_t *o, const char *const *keys) {
    for (; *keys != NULL; keys++) {
        json_t *v = json_object_get(o, *keys);
        if (json_is_string(v)) return json_string_value(v);
    }
    return NULL;
}

static json_t *array_of(json_t *o, const char *const *keys) {
    if (json_is_array(o)) return o;
    for (; *keys != NULL; keys++) {
        json_t *v = json_object_get(o, *keys);
        if (json_is_array(v)) return v;
    }
    return NULL;
}

static void print_time(json_t *v) {
    if (json_is_integer(v)) {
        time_t t = (time_t)(json_integer_value(v) / 1000);
        char buf[64];
        strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", localtime(&t));
        printf("%s", buf);
    } else if (json_is_string(v)) {
        printf("%s", json_string_value(v));
    } else {
        printf("-");
    }
}

static int cmd_log(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "hC", &code);
    if (i < 0) return code;
    if (argc - i != 1) return usage_error("expected one FILE");
    folder f;
    int r = open_folder(&o, false, true, argv[i], &f);
    if (r != EX_OK) return r;
    char id[33], path[128];
    if ((r = note_of(&f, argv[i], true, id)) == EX_OK) {
        snprintf(path, sizeof(path), "/api/v1/notes/%s/versions", id);
        json_t *out = NULL;
        if ((r = call(&f.c, "GET", path, NULL, &out, NULL)) == EX_OK) {
            static const char *const lk[] = {"versions", "items", NULL};
            json_t *a = array_of(out, lk);
            size_t k;
            json_t *v;
            if (json_array_size(a) == 0) printf("No versions of %s yet.\n", argv[i]);
            json_array_foreach(a, k, v) {
                json_t *num = json_object_get(v, "n");
                if (num == NULL) num = json_object_get(v, "version");
                printf("%-6lld  ", (long long)json_integer_value(num));
                json_t *t = json_object_get(v, "created");
                if (t == NULL) t = json_object_get(v, "time");
                print_time(t);
                static const char *const ak[] = {"authorName", "author_email", "author", NULL};
                const char *who = str_of(v, ak);
                printf("  %s", who && who[0] ? who : "-");
                json_t *from = json_object_get(v, "restoredFrom");
                if (json_is_integer(from))
                    printf("  (restored from version %lld)", (long long)json_integer_value(from));
                putchar('\n');
            }
            if (json_is_integer(json_object_get(out, "next")))
                printf("(older versions exist: the server lists %zu at a time)\n",
                       json_array_size(a));
        }
        json_decref(out);
    }
    replica_close(f.r);
    return r;
}

static int cmd_show(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "hC", &code);
    if (i < 0) return code;
    if (argc - i != 1) return usage_error("expected FILE@VERSION");
    char *arg = strdup(argv[i]);
    char *at = arg ? strrchr(arg, '@') : NULL;
    char *end = NULL;
    if (at == NULL || at[1] == '\0' || (strtoull(at + 1, &end, 10), *end != '\0')) {
        free(arg);
        return usage_error("expected FILE@VERSION, VERSION a number from `vn log FILE`");
    }
    *at = '\0';
    folder f;
    int r = open_folder(&o, false, true, arg, &f);
    if (r != EX_OK) {
        free(arg);
        return r;
    }
    char id[33], path[160];
    if ((r = note_of(&f, arg, true, id)) == EX_OK) {
        snprintf(path, sizeof(path), "/api/v1/notes/%s/versions/%s", id, at + 1);
        json_t *out = NULL;
        if ((r = call(&f.c, "GET", path, NULL, &out, NULL)) == EX_OK) {
            static const char *const ck[] = {"content", "text", NULL};
            const char *t = str_of(out, ck);
            if (t == NULL)
                r = fail(EX_SERVER, "the server's answer holds no text");
            else
                fputs(t, stdout);
        }
        json_decref(out);
    }
    free(arg);
    replica_close(f.r);
    return r;
}

/* After a server-side change, one sync round brings it into the folder. */
static int sync_after(folder *f, const char *what) {
    replica_close(f->r);
    f->r = NULL;
    char err[1024];
    if (replica_open(f->root, true, &f->r, err, sizeof(err)) != 0) {
        printf("%s; run `vn sync` to get it into the folder (%s).\n", what, err);
        return EX_OK;
    }
    vsync_opts so = {0};
    vsync *s = vsync_new(f->root, f->r, f->c.token, &so);
    vsync_report rep;
    memset(&rep, 0, sizeof(rep));
    int rc = s ? vsync_round(s, &rep) : VSYNC_EFAIL;
    int ret = EX_OK;
    if (rc == VSYNC_OK)
        printf("%s.\n", what);
    else
        ret = fail(vsync_code(rc), "%s, but the sync that follows failed: %s", what,
                   s ? vsync_error(s) : "out of memory");
    vsync_free(s);
    return ret;
}

static int cmd_restore(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "hC", &code);
    if (i < 0) return code;
    char *end = NULL;
    if (argc - i != 2 || (strtoull(argv[i + 1], &end, 10), *end != '\0'))
        return usage_error("expected FILE and a VERSION number (see `vn log FILE`)");
    folder f;
    int r = open_folder(&o, false, true, argv[i], &f);
    if (r != EX_OK) return r;
    char id[33], path[160], what[512];
    if ((r = note_of(&f, argv[i], false, id)) == EX_OK) {
        snprintf(path, sizeof(path), "/api/v1/notes/%s/versions/%s/restore", id, argv[i + 1]);
        json_t *out = NULL;
        if ((r = call(&f.c, "POST", path, NULL, &out, NULL)) == EX_OK) {
            snprintf(what, sizeof(what), "Restored %s to version %s", argv[i], argv[i + 1]);
            r = sync_after(&f, what);
        }
        json_decref(out);
    }
    replica_close(f.r);
    return r;
}

static int cmd_search(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "hC", &code);
    if (i < 0) return code;
    if (argc - i < 1) return usage_error("expected a QUERY");
    folder f;
    int r = open_folder(&o, false, true, NULL, &f);
    if (r != EX_OK) return r;
    size_t ql = 0;
    for (int k = i; k < argc; k++) ql += strlen(argv[k]) + 1;
    char *q = malloc(ql + 1);
    if (q == NULL) {
        replica_close(f.r);
        return fail(EX_FAIL, "out of memory");
    }
    q[0] = '\0';
    for (int k = i; k < argc; k++) {
        if (k > i) strcat(q, " ");
        strcat(q, argv[k]);
    }
    char *eq = rest_escape(q);
    free(q);
    char *path = eq ? malloc(strlen(eq) + 128) : NULL;
    if (path == NULL) {
        free(eq);
        replica_close(f.r);
        return fail(EX_FAIL, "out of memory");
    }
    sprintf(path, "/api/v1/vaults/%s/search?q=%s", replica_vault(f.r), eq);
    free(eq);
    json_t *out = NULL;
    if ((r = call(&f.c, "GET", path, NULL, &out, NULL)) == EX_OK) {
        static const char *const lk[] = {"results", "hits", "notes", "items", NULL};
        json_t *a = array_of(out, lk);
        size_t k;
        json_t *v;
        if (json_array_size(a) == 0) printf("No matches.\n");
        json_int_t behind =
            json_integer_value(json_object_get(json_object_get(out, "lag"), "events"));
        if (behind > 0)
            fprintf(stderr,
                    "(the search index is %lld changes behind: recent edits may be missing)\n",
                    (long long)behind);
        json_array_foreach(a, k, v) {
            static const char *const pk[] = {"path", NULL}, *const sk[] = {"snippet", "title",
                                                                           NULL};
            const char *p = str_of(v, pk), *sn = str_of(v, sk);
            printf("%s\n", p ? (p[0] == '/' ? p + 1 : p) : "?");
            if (sn != NULL) printf("    %s\n", sn);
        }
    }
    json_decref(out);
    free(path);
    replica_close(f.r);
    return r;
}

static int cmd_trash(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "hC", &code);
    if (i < 0) return code;
    if (argc != i) return usage_error("no arguments expected");
    folder f;
    int r = open_folder(&o, false, true, NULL, &f);
    if (r != EX_OK) return r;
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/vaults/%s/trash", replica_vault(f.r));
    json_t *out = NULL;
    if ((r = call(&f.c, "GET", path, NULL, &out, NULL)) == EX_OK) {
        static const char *const lk[] = {"trash", "items", "notes", NULL};
        json_t *a = array_of(out, lk);
        size_t k;
        json_t *v;
        if (json_array_size(a) == 0) printf("The trash is empty.\n");
        json_array_foreach(a, k, v) {
            static const char *const pk[] = {"path", NULL};
            const char *p = str_of(v, pk);
            print_time(json_object_get(v, "trashed"));
            printf("  %s%s\n", p ? (p[0] == '/' ? p + 1 : p) : "?",
                   json_is_true(json_object_get(v, "editedInTrash"))
                       ? "  (edited while in the trash)"
                       : "");
        }
    }
    json_decref(out);
    replica_close(f.r);
    return r;
}

static int cmd_untrash(int argc, char **argv) {
    opts o;
    int code, i = parse(argc, argv, &o, "hC", &code);
    if (i < 0) return code;
    if (argc - i != 1) return usage_error("expected one FILE (its path when it was trashed)");
    folder f;
    int r = open_folder(&o, false, true, argv[i], &f);
    if (r != EX_OK) return r;
    char id[33], path[128], what[512];
    if ((r = note_of(&f, argv[i], true, id)) == EX_OK) {
        snprintf(path, sizeof(path), "/api/v1/notes/%s/restore", id);
        json_t *out = NULL;
        if ((r = call(&f.c, "POST", path, NULL, &out, NULL)) == EX_OK) {
            const char *p = json_string_value(json_object_get(out, "path"));
            snprintf(what, sizeof(what), "Restored %s from the trash%s%s", argv[i], p ? " as " : "",
                     p ? p + (p[0] == '/') : "");
            r = sync_after(&f, what);
        }
        json_decref(out);
    }
    replica_close(f.r);
    return r;
}

/* ---- dispatch ------------------------------------------------------------- */

static int cmd_help(int argc, char **argv);

static const command commands[] = {
    {"login", "login URL", "sign in to a server and keep the session token",
     "Signs in to the server at URL and keeps the session token in your config\n"
     "($XDG_CONFIG_HOME/vn/config or ~/.config/vn/config, readable by you only).\n"
     "Asks for the email and password on the terminal; scripts set VN_EMAIL and\n"
     "VN_PASSWORD instead.",
     cmd_login},
    {"logout", "logout", "sign out and forget the token",
     "Signs out: ends the session on the server and removes the token.", cmd_logout},
    {"vaults", "vaults", "list the vaults you can open",
     "Lists the vaults you can open: id, your role, name.", cmd_vaults},
    {"create-vault", "create-vault NAME", "create a vault",
     "Creates a vault (you are its owner) and prints its id.", cmd_create_vault},
    {"clone", "clone [-v] VAULT DIR", "download a vault into a new folder",
     "Downloads the vault VAULT (id or name) into the new or empty folder DIR, with\n"
     "its local replica in DIR/.vault/. Shows a progress bar on a terminal.",
     cmd_clone},
    {"sync", "sync [--watch] [--yes] [-v] [-C DIR]",
     "send and receive changes (--watch: stay connected)",
     "Sends the changes made in the folder (edits, new files, renames, deletions) and\n"
     "brings in everyone else's, merged character by character. Works from inside the\n"
     "folder (or -C DIR). Offline, the changes are captured and kept for next time.\n"
     "  --watch    stay connected: sync every change of the folder and of the server live\n"
     "  --yes      confirm a mass deletion (more than 50 notes or 20% of the vault)\n"
     "  -v         list every file change",
     cmd_sync},
    {"status", "status [-C DIR]", "what changed locally; is the server reachable",
     "Shows what changed in the folder since the last sync, the files vn leaves alone\n"
     "(not Markdown), changes not yet acknowledged, and whether the server is reachable.",
     cmd_status},
    {"log", "log FILE", "list the saved versions of a note",
     "Lists the saved versions of a note: number, time, author.", cmd_log},
    {"show", "show FILE@VERSION", "print a note as it was at a version",
     "Prints the text of a note at a version (see `vn log`).", cmd_show},
    {"restore", "restore FILE VERSION", "make a note's text what it was at a version",
     "Makes the note's text what it was at VERSION (a new edit that merges like any\n"
     "other), then syncs.",
     cmd_restore},
    {"search", "search QUERY...", "search the vault's notes",
     "Searches the vault's notes on the server.", cmd_search},
    {"trash", "trash", "list the notes in the vault's trash",
     "Lists the notes in the vault's trash.", cmd_trash},
    {"untrash", "untrash FILE", "bring a trashed note back",
     "Restores a trashed note (at its old path, or beside it when taken), then syncs.",
     cmd_untrash},
    {"help", "help [COMMAND]", "show the commands, or one command's help",
     "Shows the commands, or one command's help.", cmd_help},
};

static const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

static void overview(FILE *out) {
    fprintf(out, "vn - keeps a folder of Markdown notes in sync with a Vault Notes server\n\n"
                 "usage: vn COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < ncommands; i++)
        fprintf(out, "  %-36s  %s\n", commands[i].usage, commands[i].summary);
    fprintf(out, "\n`vn help COMMAND` or `vn COMMAND --help` tells more.\n"
                 "Exit codes: 0 done, 1 local failure, 2 bad usage, 3 not logged in or not\n"
                 "allowed, 4 server unreachable (changes kept), 5 deletion guard (mass deletion\n"
                 "not confirmed), 6 not found, 7 server refused or failed.\n");
}

static int cmd_help(int argc, char **argv) {
    if (argc >= 2) {
        for (size_t i = 0; i < ncommands; i++) {
            if (strcmp(commands[i].name, argv[1]) == 0) {
                printf("usage: vn %s\n\n%s\n", commands[i].usage, commands[i].help);
                return EX_OK;
            }
        }
        return usage_error("no command \"%s\"", argv[1]);
    }
    overview(stdout);
    return EX_OK;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        overview(stderr);
        return EX_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        overview(stdout);
        return EX_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vn %s\n", VN_VERSION);
        return EX_OK;
    }
    for (size_t i = 0; i < ncommands; i++) {
        if (strcmp(commands[i].name, argv[1]) == 0) {
            current = &commands[i];
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "vn: no command \"%s\" (see `vn --help`)\n", argv[1]);
    return EX_USAGE;
}
