/*
 * main.c - vaultd: the Vault Notes server.
 *
 * Parses flags and VAULT_* environment variables, prepares the data
 * directory, opens the web app's directory when asked, runs the HTTP server on a libuv loop, and
 * exits cleanly (status 0) on SIGINT or SIGTERM once open connections have finished.
 */
#include "server/auth.h"
#include "server/consumer.h"
#include "server/history.h"
#include "server/http.h"
#include "server/search.h"
#include "server/trash.h"
#include "server/web.h"
#include "store/store.h"
#include "util/log.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_LISTEN        "127.0.0.1:8080"
#define DEFAULT_DATA_DIR      "./data"
#define DEFAULT_DOC_IDLE_MS   60000
#define DEFAULT_DOC_FREEZE_MS 2000  /* docs/sync.md "Open documents in memory" */
#define DEFAULT_COMPACT_AT    1000  /* rows of an update log that start a compaction */
#define DEFAULT_CONSUMER_MS   1000  /* outbox consumers: shortest time between two batches */
#define INDEXER_BATCH         10000 /* outbox events per batch of the search indexer */

static const char usage[] =
    "Usage: vaultd [options]\n"
    "       vaultd reindex [--data-dir DIR | --database URL]\n"
    "\n"
    "The Vault Notes server: offline-first Markdown vaults kept in sync.\n"
    "\n"
    "Options:\n"
    "  --listen HOST:PORT   address to serve HTTP on (default " DEFAULT_LISTEN ";\n"
    "                       port 0 picks a free port). Env: VAULT_LISTEN\n"
    "  --data-dir DIR       where the SQLite database and blobs live (default " DEFAULT_DATA_DIR
    ").\n"
    "                       Env: VAULT_DATA_DIR\n"
    "  --database URL       use PostgreSQL (postgres://...) instead of SQLite.\n"
    "                       Env: VAULT_DATABASE_URL\n"
    "  --web-dir DIR        serve the web app built in DIR (web/dist) at / (default: none).\n"
    "                       Env: VAULT_WEB_DIR\n"
    "  --session-ttl SECS   how long a sign-in lasts (default 30 days). Env: VAULT_SESSION_TTL\n"
    "  --doc-idle-ms MS     unload a document from memory once unused for this long\n"
    "                       (default 60000; 0 never unloads for idleness). Env: VAULT_DOC_IDLE_MS\n"
    "  --doc-freeze-ms MS   keep a document that stays open but unused this long as\n"
    "                       its encoded update only, decoded again at its next use\n"
    "                       (default 2000; 0 never freezes). Env: VAULT_DOC_FREEZE_MS\n"
    "  --log-level LEVEL    debug, info, warn or error (default info). Env: VAULT_LOG_LEVEL\n"
    "  --roles LIST         the roles this process runs, comma-separated, among\n"
    "                       api, sync, indexer, janitor (default: all). Env: VAULT_ROLES\n"
    "  --event-retention SECS  keep outbox events this long once every consumer\n"
    "                       has passed them (default 7 days). Env: VAULT_EVENT_RETENTION\n"
    "  --trash-retention-days N  days a trashed note is kept when its vault sets\n"
    "                       none (default 30). Env: VAULT_TRASH_RETENTION_DAYS\n"
    "  --janitor-interval-ms MS  how often the janitor looks for notes to purge\n"
    "                       (default 60000). Env: VAULT_JANITOR_INTERVAL_MS\n"
    "  --version-idle-ms MS  a note's version is taken once its editing has paused\n"
    "                       this long (default 120000). Env: VAULT_VERSION_IDLE_MS\n"
    "  --version-max-ms MS  and at least this often while editing goes on\n"
    "                       (default 1800000). Env: VAULT_VERSION_MAX_MS\n"
    "  --consumer-interval-ms MS  the search indexer and the version recorder\n"
    "                       handle edits at most this often: a note edited\n"
    "                       continuously is reindexed once per interval (default\n"
    "                       1000; 0: after every commit). Env: VAULT_CONSUMER_INTERVAL_MS\n"
    "  --routes             print the route table (JSON lines) and exit\n"
    "  --version            print the version and exit\n"
    "  --help               print this help and exit\n"
    "\n"
    "Commands:\n"
    "  reindex              rebuild the search index from the documents, then exit\n"
    "\n"
    "Logs are JSON lines on stderr. Stop with SIGINT or SIGTERM.\n";

/* The roles of a process (DESIGN.md "Processes and scale"). */
enum {
    ROLE_API = 1 << 0,     /* the REST API */
    ROLE_SYNC = 1 << 1,    /* the y-websocket sync endpoint */
    ROLE_INDEXER = 1 << 2, /* the search indexer (outbox consumer) */
    ROLE_JANITOR = 1 << 3, /* housekeeping: outbox retention, ... */
    ROLES_ALL = ROLE_API | ROLE_SYNC | ROLE_INDEXER | ROLE_JANITOR
};

typedef struct {
    char host[256];
    int port;
    const char *data_dir;
    const char *database; /* postgres:// URL, or NULL for SQLite in data_dir */
    unsigned roles;
    int64_t event_retention_ms;
    int consumer_interval_ms; /* vconsumer_opts.interval_ms of the outbox consumers */
    const char *web_dir;      /* the web app's built files, or NULL */
} options;

/* Parses "api,sync,..." into role bits. Returns 0 or -1. */
static int parse_roles(const char *s, unsigned *out) {
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"api", ROLE_API},
                 {"sync", ROLE_SYNC},
                 {"indexer", ROLE_INDEXER},
                 {"janitor", ROLE_JANITOR}};
    unsigned roles = 0;
    const char *p = s;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (strlen(names[i].name) == n && strncmp(p, names[i].name, n) == 0) {
                roles |= names[i].bit;
                found = true;
            }
        }
        if (!found) return -1;
        p += n;
        if (*p == ',') p++;
    }
    if (roles == 0) return -1;
    *out = roles;
    return 0;
}

/* Parses a number of seconds in [0, max]; returns 0 or -1. */
static int parse_secs(const char *s, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < 0 || v > max) return -1;
    *out = v;
    return 0;
}

/* Parses a whole decimal integer within [min, max]. Returns 0 or -1. */
static int parse_int(const char *s, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* Splits "host:port" ("[v6]:port" for IPv6). Returns 0 or -1. */
static int parse_listen(const char *s, options *opt) {
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s) return -1;
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']') return -1;
        h++;
        hlen -= 2;
    }
    if (hlen >= sizeof(opt->host)) return -1;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65535) return -1;
    memcpy(opt->host, h, hlen);
    opt->host[hlen] = '\0';
    opt->port = (int)port;
    return 0;
}

/* Creates `dir` and its parents if missing. Returns 0 or -1 with errno set. */
static int make_dirs(const char *dir) {
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) return -1;
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* The one server of this process; static so that it stays reachable until
 * exit (see vhttp_free). */
static vhttp *server;
static uv_loop_t loop;
static store *db;
static vdocs *docs;
static trash_janitor *janitor;
static history *hist;

/* The background work of the roles other than api and sync. */
typedef struct {
    vretention *retention;
    vconsumer *indexer;
    search_indexer ix; /* the indexer's texts (from the loop) and metrics */
} workers;

static int workers_start(const options *opt, struct vmetrics *metrics, workers *w) {
    memset(w, 0, sizeof(*w));
    if (opt->roles & ROLE_INDEXER) {
        int rc = search_indexer_init(&w->ix, metrics);
        if (rc != STORE_OK) return rc;
        vconsumer_opts co = {.batch = INDEXER_BATCH, .interval_ms = opt->consumer_interval_ms};
        rc = vconsumer_start(db, SEARCH_CONSUMER, search_index_events, &w->ix, &co, &w->indexer);
        if (rc != STORE_OK) return rc;
        /* Only a sole writer's memory can stand for the log: replicas on
         * PostgreSQL do not see each other's commits in memory (stext.h). */
        if (strcmp(store_backend(db), "sqlite") == 0) vdocs_set_texts(docs, w->ix.texts);
    }
    if (opt->roles & ROLE_JANITOR) {
        int rc = vretention_start(db, opt->event_retention_ms, 60 * 60 * 1000, &w->retention);
        if (rc != STORE_OK) return rc;
    }
    return STORE_OK;
}

static void workers_stop(workers *w) {
    vconsumer_stop(w->indexer);
    w->indexer = NULL;
    vdocs_set_texts(docs, NULL);
    search_indexer_release(&w->ix);
    vretention_stop(w->retention);
    w->retention = NULL;
}
static vweb *web;

/* The route table, one JSON object per line, for tools and the
 * authorization-matrix test. */
static void print_routes(void) {
    static const char *const access[] = {"public", "user", "viewer", "editor", "owner"};
    for (size_t i = 0; i < vroutes_len; i++)
        printf("{\"method\":\"%s\",\"pattern\":\"%s\",\"access\":\"%s\"}\n", vroutes[i].method,
               vroutes[i].pattern, access[vroutes[i].access]);
}

static void on_signal(uv_signal_t *handle, int signum) {
    vhttp *srv = handle->data;
    vlog(VLOG_INFO, "shutting down", json_pack("{s:s}", "signal", strsignal(signum)));
    trash_janitor_stop(janitor);
    vhttp_shutdown(srv);
}

int main(int argc, char **argv) {
    options opt = {.data_dir = DEFAULT_DATA_DIR,
                   .roles = ROLES_ALL,
                   .event_retention_ms = 7LL * 24 * 3600 * 1000,
                   .consumer_interval_ms = DEFAULT_CONSUMER_MS};
    const char *roles = getenv("VAULT_ROLES");
    const char *retention = getenv("VAULT_EVENT_RETENTION");
    const char *listen = getenv("VAULT_LISTEN") ? getenv("VAULT_LISTEN") : DEFAULT_LISTEN;
    const char *level = getenv("VAULT_LOG_LEVEL") ? getenv("VAULT_LOG_LEVEL") : "info";
    const char *ttl = getenv("VAULT_SESSION_TTL");
    const char *idle = getenv("VAULT_DOC_IDLE_MS");
    const char *freeze = getenv("VAULT_DOC_FREEZE_MS");
    const char *compact = getenv("VAULT_DOC_COMPACT_AT");
    const char *trash_retention = getenv("VAULT_TRASH_RETENTION_DAYS");
    const char *janitor_ms = getenv("VAULT_JANITOR_INTERVAL_MS");
    const char *version_idle_s = getenv("VAULT_VERSION_IDLE_MS");
    const char *version_max_s = getenv("VAULT_VERSION_MAX_MS");
    const char *consumer_ms = getenv("VAULT_CONSUMER_INTERVAL_MS");
    if (getenv("VAULT_DATA_DIR")) opt.data_dir = getenv("VAULT_DATA_DIR");
    if (getenv("VAULT_DATABASE_URL")) opt.database = getenv("VAULT_DATABASE_URL");
    if (getenv("VAULT_WEB_DIR") && *getenv("VAULT_WEB_DIR")) opt.web_dir = getenv("VAULT_WEB_DIR");

    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data-dir", required_argument, NULL, 'd'},
        {"database", required_argument, NULL, 'D'},
        {"log-level", required_argument, NULL, 'L'},
        {"version", no_argument, NULL, 'V'},
        {"routes", no_argument, NULL, 'R'},
        {"session-ttl", required_argument, NULL, 'T'},
        {"doc-idle-ms", required_argument, NULL, 'I'},
        {"doc-freeze-ms", required_argument, NULL, 'F'},
        {"roles", required_argument, NULL, 'r'},
        {"event-retention", required_argument, NULL, 'E'},
        {"trash-retention-days", required_argument, NULL, 'K'},
        {"janitor-interval-ms", required_argument, NULL, 'J'},
        {"web-dir", required_argument, NULL, 'W'},
        {"version-idle-ms", required_argument, NULL, 'i'},
        {"version-max-ms", required_argument, NULL, 'M'},
        {"consumer-interval-ms", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'd': opt.data_dir = optarg; break;
        case 'D': opt.database = optarg; break;
        case 'L': level = optarg; break;
        case 'T': ttl = optarg; break;
        case 'I': idle = optarg; break;
        case 'F': freeze = optarg; break;
        case 'r': roles = optarg; break;
        case 'E': retention = optarg; break;
        case 'K': trash_retention = optarg; break;
        case 'J': janitor_ms = optarg; break;
        case 'W': opt.web_dir = optarg; break;
        case 'i': version_idle_s = optarg; break;
        case 'M': version_max_s = optarg; break;
        case 'C': consumer_ms = optarg; break;
        case 'V': printf("vaultd %s\n", VN_VERSION); return 0;
        case 'R': print_routes(); return 0;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    bool reindex = optind < argc && strcmp(argv[optind], "reindex") == 0;
    if (reindex) optind++;
    if (optind < argc) {
        fprintf(stderr, "vaultd: unexpected argument '%s'\n%s", argv[optind], usage);
        return 2;
    }
    if (parse_listen(listen, &opt) != 0) {
        fprintf(stderr, "vaultd: --listen wants HOST:PORT (e.g. 127.0.0.1:8080), got '%s'\n",
                listen);
        return 2;
    }
    if (roles != NULL && parse_roles(roles, &opt.roles) != 0) {
        fprintf(stderr,
                "vaultd: --roles wants a comma-separated list of api, sync, indexer, janitor;"
                " got '%s'\n",
                roles);
        return 2;
    }
    if (retention != NULL) {
        long long secs;
        if (parse_secs(retention, 10LL * 365 * 24 * 3600, &secs) != 0) {
            fprintf(stderr, "vaultd: --event-retention wants seconds (0 to 10 years), got '%s'\n",
                    retention);
            return 2;
        }
        opt.event_retention_ms = secs * 1000;
    }
    vlog_level min;
    if (vlog_parse_level(level, &min) != 0) {
        fprintf(stderr, "vaultd: --log-level wants debug, info, warn or error, got '%s'\n", level);
        return 2;
    }
    vlog_set_level(min);
    if (ttl != NULL) {
        char *end;
        errno = 0;
        long long secs = strtoll(ttl, &end, 10);
        if (errno != 0 || *end != '\0' || secs <= 0 || secs > 10LL * 365 * 24 * 3600) {
            fprintf(stderr, "vaultd: --session-ttl wants seconds (1 to 10 years), got '%s'\n", ttl);
            return 2;
        }
        auth_set_session_ttl(secs * 1000);
    }
    const long long week_ms = 7LL * 24 * 3600 * 1000;
    long long idle_ms = DEFAULT_DOC_IDLE_MS, freeze_ms = DEFAULT_DOC_FREEZE_MS;
    if (idle != NULL && parse_int(idle, 0, week_ms, &idle_ms) != 0) {
        fprintf(stderr, "vaultd: --doc-idle-ms wants milliseconds (0 to 7 days), got '%s'\n", idle);
        return 2;
    }
    if (freeze != NULL && parse_int(freeze, 0, week_ms, &freeze_ms) != 0) {
        fprintf(stderr, "vaultd: --doc-freeze-ms wants milliseconds (0 to 7 days), got '%s'\n",
                freeze);
        return 2;
    }
    uint64_t compact_at = DEFAULT_COMPACT_AT;
    if (compact != NULL) {
        char *end;
        errno = 0;
        long long rows = strtoll(compact, &end, 10);
        if (errno != 0 || end == compact || *end != '\0' || rows < 0 || (rows > 0 && rows < 4)) {
            fprintf(stderr,
                    "vaultd: VAULT_DOC_COMPACT_AT wants a number of rows (0, or 4 and more), "
                    "got '%s'\n",
                    compact);
            return 2;
        }
        compact_at = (uint64_t)rows;
    }
    long long janitor_interval = 60000;
    if (trash_retention != NULL) {
        long long days;
        if (parse_int(trash_retention, 1, STORE_RETENTION_MAX_DAYS, &days) != 0) {
            fprintf(stderr, "vaultd: --trash-retention-days wants 1 to 36500, got '%s'\n",
                    trash_retention);
            return 2;
        }
        trash_set_default_retention_days((int)days);
    }
    if (janitor_ms != NULL &&
        parse_int(janitor_ms, 10, 24LL * 3600 * 1000, &janitor_interval) != 0) {
        fprintf(stderr, "vaultd: --janitor-interval-ms wants 10 to 86400000, got '%s'\n",
                janitor_ms);
        return 2;
    }
    long long version_idle = HISTORY_DEFAULT_IDLE_MS, version_max = HISTORY_DEFAULT_MAX_MS;
    if ((version_idle_s != NULL &&
         parse_int(version_idle_s, 1, 24LL * 3600 * 1000, &version_idle) != 0) ||
        (version_max_s != NULL &&
         parse_int(version_max_s, 1, 7LL * 24 * 3600 * 1000, &version_max) != 0)) {
        fprintf(stderr, "vaultd: --version-idle-ms and --version-max-ms want milliseconds "
                        "(1 to a day, 1 to a week)\n");
        return 2;
    }
    long long consumer_interval = DEFAULT_CONSUMER_MS;
    if (consumer_ms != NULL && parse_int(consumer_ms, 0, 60000, &consumer_interval) != 0) {
        fprintf(stderr, "vaultd: --consumer-interval-ms wants 0 to 60000, got '%s'\n", consumer_ms);
        return 2;
    }
    opt.consumer_interval_ms = (int)consumer_interval;
    if (make_dirs(opt.data_dir) != 0) {
        fprintf(stderr, "vaultd: cannot use data directory '%s': %s\n", opt.data_dir,
                strerror(errno));
        return 1;
    }
    if (opt.database != NULL && strncmp(opt.database, "postgres://", 11) != 0 &&
        strncmp(opt.database, "postgresql://", 13) != 0) {
        fprintf(stderr, "vaultd: --database wants a postgres:// URL\n");
        return 2;
    }
    char err[512];
    if (opt.web_dir != NULL && vweb_open(opt.web_dir, &web, err, sizeof(err)) != 0) {
        fprintf(stderr, "vaultd: --web-dir: %s\n", err);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (auth_init() != 0) {
        fprintf(stderr, "vaultd: libsodium could not start\n");
        vweb_free(web);
        return 1;
    }
    if (store_open(opt.database != NULL ? opt.database : opt.data_dir, &db, err, sizeof(err)) !=
        STORE_OK) {
        fprintf(stderr, "vaultd: cannot open the database: %s\n", err);
        vweb_free(web);
        return 1;
    }

    if (reindex) {
        int64_t notes = 0;
        int rrc = search_reindex(db, &notes);
        store_close(db);
        vweb_free(web);
        if (rrc != STORE_OK) {
            fprintf(stderr, "vaultd: reindex failed: %s (details in the log)\n",
                    store_strerror(rrc));
            return 1;
        }
        printf("vaultd: search index rebuilt: %lld notes\n", (long long)notes);
        return 0;
    }

    uv_loop_init(&loop);
    docs = vdocs_new(db, 1024, &loop, (uint64_t)idle_ms);
    if (docs == NULL) {
        fprintf(stderr, "vaultd: out of memory\n");
        store_close(db);
        vweb_free(web);
        return 1;
    }
    vdocs_compact_at(docs, compact_at);
    vdocs_freeze_after(docs, (uint64_t)freeze_ms);
    int rc = vhttp_new(&loop, db, docs, opt.host, opt.port, &server);
    vhttp *srv = server;
    if (rc != 0) {
        fprintf(stderr, "vaultd: cannot listen on %s: %s\n", listen, uv_strerror(rc));
        vdocs_free(docs);
        store_close(db);
        vweb_free(web);
        return 1;
    }
    vhttp_set_roles(srv, (opt.roles & ROLE_API) != 0, (opt.roles & ROLE_SYNC) != 0);
    vdocs_set_metrics(docs, vhttp_metrics(srv));
    workers w;
    if (workers_start(&opt, vhttp_metrics(srv), &w) != STORE_OK ||
        ((opt.roles & ROLE_JANITOR) &&
         (trash_janitor_start(&loop, db, docs, vhttp_sync(srv), vhttp_metrics(srv),
                              (uint64_t)janitor_interval, &janitor) != 0 ||
          history_start(db, vhttp_metrics(srv), version_idle, version_max, opt.consumer_interval_ms,
                        &hist) != STORE_OK))) {
        fprintf(stderr, "vaultd: cannot start the background roles\n");
        workers_stop(&w);
        trash_janitor_stop(janitor);
        vhttp_shutdown(srv);
        uv_run(&loop, UV_RUN_DEFAULT);
        store_close(db);
        trash_janitor_free(janitor);
        vhttp_free(srv);
        vdocs_free(docs);
        vweb_free(web);
        return 1;
    }
    vhttp_set_web(srv, web);
    uv_signal_t sigint, sigterm;
    uv_signal_init(&loop, &sigint);
    uv_signal_init(&loop, &sigterm);
    sigint.data = sigterm.data = srv;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);

    char url[300];
    if (strchr(opt.host, ':') != NULL)
        snprintf(url, sizeof(url), "http://[%s]:%d", opt.host, vhttp_port(srv));
    else
        snprintf(url, sizeof(url), "http://%s:%d", opt.host, vhttp_port(srv));
    vlog(VLOG_INFO, "listening",
         json_pack("{s:s, s:s, s:s, s:s}", "url", url, "data_dir", opt.data_dir, "database",
                   store_backend(db), "version", VN_VERSION));
    printf("vaultd %s listening on %s (data in %s)\n", VN_VERSION, url, opt.data_dir);
    fflush(stdout);

    uv_run(&loop, UV_RUN_DEFAULT);

    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    workers_stop(&w);
    vdocs_drain(docs); /* compactions write through the store */
    /* Commits in flight finish first; their answers are queued for the
     * server, which runs them (to release what they hold) as it closes. */
    history_stop(hist);
    store_close(db);
    trash_janitor_free(janitor);
    vdocs_set_metrics(docs, NULL); /* the server's metrics go with it */
    vhttp_free(srv);
    vdocs_free(docs);
    vweb_free(web);
    vlog(VLOG_INFO, "stopped", NULL);
    return 0;
}
