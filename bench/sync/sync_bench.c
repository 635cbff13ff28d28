/*
 * sync_bench.c - the load generator of `make bench-sync` (bench/sync.sh).
 *
 * Simulated editors, each one WebSocket connection to one document, run on
 * one libuv loop. Every client owns a replica of its document in our CRDT
 * engine (src/crdt, its own client id): its edits are real engine
 * transactions, and by default it applies what it receives, as an editor
 * does. Two dialects of the same y-protocols messages (docs/sync.md):
 *
 *   --proto y           vaultd: GET PATH/<doc> with a Bearer header; a
 *                       message is exactly a y-protocols message.
 *   --proto hocuspocus  Hocuspocus: one URL for every document; each message
 *                       starts with varstring(document name); the client
 *                       first sends an auth message (type 2, token 0,
 *                       varstring token) and the server answers
 *                       "authenticated" (2, 2, scope). The server also sends
 *                       sync-status acks (type 8) and echoes every update to
 *                       its sender; both are counted and otherwise ignored.
 *
 * Phases (--phase), each against a server the script has just started:
 *
 *   load    --clients K over the first --docs-used D documents (client i on
 *           document i % D). After every client has synced: --warmup
 *           seconds, then --duration seconds measured, of every client
 *           inserting --edit-len characters at a random place, --rate times
 *           a second (open loop: timers, not answers, pace the sends). Then,
 *           if --peak > 0, a closed loop for that many seconds: each client
 *           sends its next edit as soon as every other client on its document
 *           has received the previous one (--window edits in flight per
 *           client). Then the updates still in flight drain, and a fresh
 *           observer per document syncs and checks that the server's text
 *           holds every character sent.
 *   memory  --clients M documents, one connection each; each client brings a
 *           note it typed offline (deterministic: the same bytes for every
 *           server), sends it in its sync step 2, and waits until the server
 *           has it (a step 1 answered after it). Server RSS growth / M.
 *   idle    --clients N connections over --docs-used D documents, synced and
 *           then left alone for --settle seconds. Server RSS growth / N, and
 *           the total RSS.
 *
 * Latency of an update: from the moment its sender hands it to the socket to
 * the moment another client on the document has the whole message, for every
 * such receiver (one sample per delivery); "complete" is the time until the
 * last receiver has it. Receivers tell updates apart by the (client, clock)
 * of their first struct: a client's n-th edit starts at clock n * edit-len,
 * since it inserts only.
 *
 * Output: human lines on stderr, and "result NAME VALUE" lines on stdout for
 * the script. Exit status 1 when the setup fails (a connection refused or
 * lost, the server gone) or when anything sent did not arrive or the
 * server's text misses characters; the figures themselves never fail a run.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "crdt/crdt.h"
#include "sync/yproto.h"
#include "wsc.h"

#define RING         1024 /* sends remembered per client (load phase), by sequence number */
#define MAX_PENDING  256  /* handshakes in flight at once */
#define OBSERVER_CID 999u

enum { PROTO_Y, PROTO_HOCUS };
enum { PH_LOAD, PH_MEMORY, PH_IDLE };
enum { ST_CONNECT, ST_WARMUP, ST_MEASURE, ST_PEAK, ST_DRAIN, ST_DONE };
/* How clients apply what they receive in the closed loop. */
enum { PEAK_NONE, PEAK_LAZY, PEAK_EACH };

typedef struct client client;

typedef struct {
    uint64_t seq; /* which send this slot holds (UINT64_MAX: none) */
    uint64_t t0;  /* uv_hrtime() when it was handed to the socket */
    uint32_t remaining;
    uint8_t measured; /* sent in the measured window of the phase */
} sendrec;

typedef struct {
    char id[64];
    int nclients;
    uint64_t sent_chars; /* characters inserted by the clients of this doc */
} docinfo;

typedef struct {
    uint32_t *v;
    size_t n, cap;
} samples;

typedef struct bench bench;

struct client {
    bench *b;
    int idx;
    int doc;
    uint32_t cid;
    wsc *ws;
    ydoc *ydoc;
    ytype *text;
    bool open, synced, barrier, authed, closing, lost;
    uint64_t seq;      /* edits sent */
    size_t cursor;     /* where the next edit goes (UTF-16 index) */
    uint32_t inflight; /* sent, not yet received by every other client */
    uv_timer_t timer;
    bool timer_on;
    uint64_t next_due;
    sendrec *ring;
    uint8_t *local; /* update of the last local transaction (observer) */
    size_t local_len;
    uint8_t **held; /* updates received and not applied yet (lazy), owned */
    size_t *held_len;
    size_t nheld, capheld;
};

struct bench {
    uv_loop_t *loop;
    wsc_loop wl;
    int proto, phase;
    struct sockaddr_in server;
    char host[64], path[256], token[256], headers[512];
    int sources;
    docinfo *docs;
    int ndocs;     /* read from the file */
    int docs_used; /* D */
    int nclients;
    client *clients;
    double rate, warmup, duration, peak, settle;
    int edit_len, window;
    bool apply;      /* clients apply what they receive */
    bool lazy;       /* ... merged, just before their next edit (the closed loop) */
    int peak_apply;  /* in the closed loop: PEAK_NONE (default), PEAK_LAZY or PEAK_EACH */
    int pid;
    bool gc;
    uint64_t seed;

    int state;
    int next_connect, pending, opened, synced, barriers;
    uint64_t measure_t0, measure_t1;

    /* counters of the current window */
    uint64_t sent, completed, delivered, expected, echoes, acks, unknown, overrun, bytes_in;
    uint64_t sent_total, completed_total;
    double self_cpu0; /* self_cpu_s() at the start of the window */
    long long wait0;  /* wait_ns(pid) at the start of the window */
    long long wait1;  /* and at its end */
    samples lat, lat_complete;
    int closed_unexpected, group_lost;
    char first_close[160];
    int errors;
    uv_timer_t tick;
    uint64_t wait_deadline;
    bool has_warm;     /* docs[ndocs] is the warm-up document */
    uint32_t cid_base; /* client i has client id cid_base + i: new for every run */
};

static const char LOCAL_ORIGIN = 'L';

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sync-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sync-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) die("out of memory");
    return p;
}

static void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (p == NULL) die("out of memory");
    return p;
}

static void *xrealloc(void *old, size_t size) {
    void *p = realloc(old, size ? size : 1);
    if (p == NULL) die("out of memory");
    return p;
}

static uint64_t rnd(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static void samples_add(samples *s, uint64_t ns) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (s->v == NULL) die("out of memory");
    }
    uint64_t us = ns / 1000;
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile in milliseconds (samples sorted first); -1 when empty. */
static double quantile_ms(samples *s, double q) {
    if (s->n == 0) return -1;
    size_t i = (size_t)(q * (double)(s->n - 1) + 0.5);
    return s->v[i] / 1000.0;
}

/* ---- the server process ------------------------------------------------------ */

static long rss_kb(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* User + system CPU time of the process, in clock ticks. */
static long long cpu_ticks(int pid) {
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL) return -1;
    unsigned long long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* Nanoseconds the process's threads have spent runnable but waiting for a
 * CPU (the second field of /proc/PID/task/(*)/schedstat): how much of the
 * window other work on the machine took from the server. */
static long long wait_ns(int pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (d == NULL) return -1;
    long long total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p2[128];
        snprintf(p2, sizeof(p2), "/proc/%d/task/%.16s/schedstat", pid, e->d_name);
        FILE *f = fopen(p2, "r");
        if (f == NULL) continue;
        unsigned long long run = 0, wait = 0;
        if (fscanf(f, "%llu %llu", &run, &wait) == 2) total += (long long)wait;
        fclose(f);
    }
    closedir(d);
    return total;
}

/* Asks the Hocuspocus script to collect its garbage (GET /bench/gc), so that
 * its RSS is measured at its smallest. Blocking: only between phases. */
static void peer_gc(bench *b) {
    if (!b->gc) return;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&b->server, sizeof(b->server)) != 0)
        die("GET /bench/gc: %s", strerror(errno));
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET /bench/gc HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", b->host);
    if (write(fd, req, (size_t)n) != n) die("GET /bench/gc: write failed");
    char buf[4096];
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) got += (size_t)r;
    close(fd);
    buf[got] = '\0';
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0) die("GET /bench/gc did not answer 200");
}

/* ---- messages -------------------------------------------------------------------- */

/* Writes the message prefix (Hocuspocus: the document name) into buf. */
static size_t put_prefix(const client *c, uint8_t *buf) {
    if (c->b->proto != PROTO_HOCUS) return 0;
    const char *name = c->b->docs[c->doc].id;
    size_t len = strlen(name);
    size_t n = yproto_put_varuint(buf, len);
    memcpy(buf + n, name, len);
    return n + len;
}

static void client_send(client *c, const uint8_t *msg, size_t len) {
    if (wsc_send(c->ws, msg, len) != 0) c->b->errors++;
}

/* Sends a sync message (YSYNC_*) carrying payload. */
static void send_sync(client *c, int type, const uint8_t *payload, size_t len) {
    uint8_t small[1024];
    size_t need = 128 + len;
    uint8_t *buf = need <= sizeof(small) ? small : malloc(need);
    if (buf == NULL) die("out of memory");
    size_t n = put_prefix(c, buf);
    n += yproto_put_varuint(buf + n, YMSG_SYNC);
    n += yproto_put_varuint(buf + n, (uint64_t)type);
    n += yproto_put_varuint(buf + n, len);
    memcpy(buf + n, payload, len);
    client_send(c, buf, n + len);
    if (buf != small) free(buf);
}

static void send_step1(client *c) {
    uint8_t *sv = NULL;
    size_t len = 0;
    if (ydoc_encode_state_vector(c->ydoc, &sv, &len) != Y_OK) die("state vector: out of memory");
    send_sync(c, YSYNC_STEP1, sv, len);
    yfree(sv);
}

static void send_auth(client *c) {
    uint8_t buf[512];
    size_t n = put_prefix(c, buf);
    n += yproto_put_varuint(buf + n, YMSG_AUTH);
    n += yproto_put_varuint(buf + n, 0); /* token */
    size_t tl = strlen(c->b->token);
    n += yproto_put_varuint(buf + n, tl);
    memcpy(buf + n, c->b->token, tl);
    client_send(c, buf, n + tl);
}

/* ---- edits ------------------------------------------------------------------------ */

static void on_local_update(void *ud, const uint8_t *update, size_t len, const void *origin) {
    client *c = ud;
    if (origin != &LOCAL_ORIGIN) return;
    free(c->local);
    c->local = malloc(len);
    if (c->local == NULL) die("out of memory");
    memcpy(c->local, update, len);
    c->local_len = len;
}

/* Inserts edit-len characters at a random place and sends the update. */
static void apply_held(client *c);

static void send_edit(client *c) {
    bench *b = c->b;
    if (!c->open || !c->synced) return;
    sendrec *r = &c->ring[c->seq % RING];
    if (r->seq != UINT64_MAX && r->remaining > 0) b->overrun++; /* never completed: given up */
    apply_held(c); /* lazy: what others typed, before typing on */
    char s[64];
    for (int i = 0; i < b->edit_len; i++) s[i] = (char)('a' + (c->seq + (uint64_t)i) % 26);
    /* Typing: at the client's cursor, which moves on with the text typed;
     * now and then the cursor jumps to a random place (a new sentence
     * elsewhere). Remote inserts before the cursor are not tracked, so the
     * typing drifts a little, as it would while others type above. */
    size_t len = ytext_len(c->text);
    if (c->cursor > len || rnd(&b->seed) % 20 == 0)
        c->cursor = len == 0 ? 0 : (size_t)(rnd(&b->seed) % (len + 1));
    size_t pos = c->cursor;
    c->cursor += (size_t)b->edit_len;
    ytxn *t = ydoc_begin(c->ydoc, &LOCAL_ORIGIN);
    if (t == NULL || ytext_insert(t, c->text, pos, s, (size_t)b->edit_len, NULL, 0) != Y_OK)
        die("local edit failed");
    if (ytxn_commit(t) != Y_OK || c->local == NULL) die("local commit failed");
    r->seq = c->seq;
    r->remaining = (uint32_t)(b->docs[c->doc].nclients - 1);
    r->measured = b->state == ST_MEASURE || b->state == ST_PEAK;
    r->t0 = uv_hrtime();
    send_sync(c, YSYNC_UPDATE, c->local, c->local_len);
    free(c->local);
    c->local = NULL;
    c->seq++;
    b->docs[c->doc].sent_chars += (uint64_t)b->edit_len;
    if (r->remaining > 0) c->inflight++;
    if (r->measured) {
        b->sent++;
        b->expected += r->remaining;
    }
    b->sent_total++;
}

static void on_edit_timer(uv_timer_t *t) {
    client *c = t->data;
    bench *b = c->b;
    if (b->state != ST_WARMUP && b->state != ST_MEASURE) {
        c->timer_on = false;
        return;
    }
    send_edit(c);
    uint64_t interval = (uint64_t)(1e9 / b->rate);
    c->next_due += interval;
    uint64_t now = uv_hrtime();
    uint64_t wait_ms = c->next_due > now ? (c->next_due - now) / 1000000 : 0;
    uv_timer_start(&c->timer, on_edit_timer, wait_ms, 0);
}

/* The update `u` from the server reached client c: a delivery of whose
 * edit? */
static void got_update(client *c, const uint8_t *u, size_t len) {
    bench *b = c->b;
    uint64_t now = uv_hrtime();
    size_t p = 0;
    uint64_t nclients = 0, nstructs = 0, cid = 0, clock = 0;
    if (yproto_get_varuint(u, len, &p, &nclients) == YPROTO_OK && nclients > 0 &&
        yproto_get_varuint(u, len, &p, &nstructs) == YPROTO_OK &&
        yproto_get_varuint(u, len, &p, &cid) == YPROTO_OK &&
        yproto_get_varuint(u, len, &p, &clock) == YPROTO_OK && cid >= b->cid_base &&
        cid < b->cid_base + (uint64_t)b->nclients) {
        client *s = &b->clients[cid - b->cid_base];
        if (s == c) {
            b->echoes++;
        } else if (s->ring == NULL) {
            b->unknown++; /* outside the load phase: nothing to time */
        } else {
            uint64_t seq = clock / (uint64_t)b->edit_len;
            sendrec *r = &s->ring[seq % RING];
            if (r->seq != seq || r->remaining == 0) {
                b->unknown++;
            } else {
                if (r->measured) {
                    samples_add(&b->lat, now - r->t0);
                    b->delivered++;
                }
                if (--r->remaining == 0) {
                    if (r->measured) samples_add(&b->lat_complete, now - r->t0);
                    if (now >= b->measure_t0 && (b->measure_t1 == 0 || now <= b->measure_t1))
                        b->completed++;
                    b->completed_total++;
                    s->inflight--;
                    if (b->state == ST_PEAK)
                        while (s->inflight < (uint32_t)b->window && s->open) {
                            uint64_t before = s->seq;
                            send_edit(s);
                            if (s->seq == before) break;
                        }
                }
            }
        }
    } else {
        b->unknown++;
    }
    if (b->apply && b->lazy) {
        if (c->nheld == c->capheld) {
            c->capheld = c->capheld ? c->capheld * 2 : 16;
            c->held = xrealloc(c->held, c->capheld * sizeof(*c->held));
            c->held_len = xrealloc(c->held_len, c->capheld * sizeof(*c->held_len));
        }
        c->held[c->nheld] = xmalloc(len);
        memcpy(c->held[c->nheld], u, len);
        c->held_len[c->nheld++] = len;
    } else if (b->apply && ydoc_apply_update(c->ydoc, u, len, NULL) != Y_OK) {
        say("client %d: the server sent an update our engine refuses", c->idx);
        b->errors++;
    }
}

/* Applies what c holds (lazy), merged into one update first. */
static void apply_held(client *c) {
    bench *b = c->b;
    if (c->nheld == 0) return;
    uint8_t *m = NULL;
    size_t mlen = 0;
    int rc = c->nheld == 1 ? Y_OK
                           : yupdate_merge((const uint8_t *const *)c->held, c->held_len, c->nheld,
                                           &m, &mlen);
    if (rc == Y_OK)
        rc = m != NULL ? ydoc_apply_update(c->ydoc, m, mlen, NULL)
                       : ydoc_apply_update(c->ydoc, c->held[0], c->held_len[0], NULL);
    if (rc != Y_OK) {
        say("client %d: the server's updates, merged, are refused by our engine", c->idx);
        b->errors++;
    }
    yfree(m);
    for (size_t i = 0; i < c->nheld; i++) free(c->held[i]);
    c->nheld = 0;
}

static void got_step2(client *c, const uint8_t *u, size_t len) {
    bench *b = c->b;
    if (ydoc_apply_update(c->ydoc, u, len, NULL) != Y_OK) {
        say("client %d: the server's step 2 is refused by our engine", c->idx);
        b->errors++;
    }
    if (!c->synced) {
        c->synced = true;
        b->synced++;
    }
    if (c->barrier) {
        c->barrier = false;
        b->barriers++;
    }
}

/* ---- connections -------------------------------------------------------------------- */

static void connect_next(bench *b);

static void on_open(wsc *ws, void *ud) {
    (void)ws;
    client *c = ud;
    bench *b = c->b;
    c->open = true;
    b->pending--;
    b->opened++;
    if (b->proto == PROTO_HOCUS) send_auth(c);
    send_step1(c); /* as every provider does on open */
    connect_next(b);
}

static void on_message(wsc *ws, void *ud, const uint8_t *msg, size_t len) {
    (void)ws;
    client *c = ud;
    bench *b = c->b;
    b->bytes_in += len;
    size_t p = 0;
    if (b->proto == PROTO_HOCUS) {
        uint64_t nlen;
        if (yproto_get_varuint(msg, len, &p, &nlen) != YPROTO_OK || nlen > len - p) goto bad;
        p += (size_t)nlen;
    }
    uint64_t type;
    if (yproto_get_varuint(msg, len, &p, &type) != YPROTO_OK) goto bad;
    if (type == 0 || (type == 4 && b->proto == PROTO_HOCUS)) { /* 4: Hocuspocus SyncReply */
        uint64_t st, plen;
        if (yproto_get_varuint(msg, len, &p, &st) != YPROTO_OK ||
            yproto_get_varuint(msg, len, &p, &plen) != YPROTO_OK || plen != len - p)
            goto bad;
        const uint8_t *pl = msg + p;
        if (st == YSYNC_STEP1) {
            uint8_t *u = NULL;
            size_t ulen = 0;
            if (ydoc_encode_state_as_update(c->ydoc, pl, (size_t)plen, &u, &ulen) != Y_OK) goto bad;
            send_sync(c, YSYNC_STEP2, u, ulen);
            yfree(u);
        } else if (st == YSYNC_STEP2) {
            got_step2(c, pl, (size_t)plen);
        } else if (st == YSYNC_UPDATE) {
            got_update(c, pl, (size_t)plen);
        } else {
            goto bad;
        }
        return;
    }
    if (type == 1 || type == 3) return; /* awareness, query awareness */
    if (type == 2) {
        uint64_t at;
        if (yproto_get_varuint(msg, len, &p, &at) != YPROTO_OK) goto bad;
        /* y-protocols: 0 = permission denied; Hocuspocus: 1 denied, 2 ok */
        if (b->proto == PROTO_HOCUS && at == 2) {
            c->authed = true;
            return;
        }
        say("client %d: permission denied by the server", c->idx);
        b->errors++;
        return;
    }
    if (b->proto == PROTO_HOCUS && type == 8) { /* sync status: the ack of an update */
        b->acks++;
        return;
    }
    if (b->proto == PROTO_HOCUS && (type == 5 || type == 6)) return; /* stateless */
bad:
    say("client %d: a message we do not understand (%zu bytes, type at byte %zu)", c->idx, len, p);
    b->errors++;
}

static void on_close(wsc *ws, void *ud, int code, const char *why) {
    (void)ws;
    client *c = ud;
    bench *b = c->b;
    bool was_open = c->open;
    c->open = false;
    c->ws = NULL;
    if (!was_open) b->pending--;
    if (!c->closing) {
        b->group_lost++;
        if (b->closed_unexpected++ == 0)
            snprintf(b->first_close, sizeof(b->first_close), "client %d: %s (code %d)", c->idx, why,
                     code);
        c->lost = true;
    }
    if (c->timer_on) {
        uv_timer_stop(&c->timer);
        c->timer_on = false;
    }
    if (!was_open) connect_next(b);
}

static const wsc_callbacks CALLBACKS = {on_open, on_message, on_close};

static void client_init(bench *b, client *c, int idx, int doc, uint32_t cid) {
    c->b = b;
    c->idx = idx;
    c->doc = doc;
    c->cid = cid;
    ydoc_options opt = {.has_client_id = true, .client_id = cid, .gc = false};
    c->ydoc = ydoc_new(&opt);
    if (c->ydoc == NULL) die("out of memory");
    c->text = ydoc_get(c->ydoc, "content", YTYPE_TEXT);
    if (c->text == NULL || ydoc_observe_updates(c->ydoc, on_local_update, c) < 0)
        die("out of memory");
}

static void client_connect(bench *b, client *c) {
    char path[512];
    if (b->proto == PROTO_Y)
        snprintf(path, sizeof(path), "%s%s", b->path, b->docs[c->doc].id);
    else
        snprintf(path, sizeof(path), "%s", b->path);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(c->idx % b->sources));
    b->pending++;
    int rc = wsc_connect(b->loop, &b->server, b->sources > 1 ? &src : NULL, b->host, path,
                         b->headers, &CALLBACKS, c, &c->ws);
    if (rc != 0) die("connect: %s", uv_strerror(rc));
}

static void connect_next(bench *b) {
    while (b->pending < MAX_PENDING && b->next_connect < b->nclients)
        client_connect(b, &b->clients[b->next_connect++]);
}

/* ---- waiting ------------------------------------------------------------------------- */

typedef bool (*cond_fn)(bench *b);

static cond_fn wait_cond;
static const char *wait_what;

/* Every 5 ms while waiting: stops the loop once the condition holds or the
 * deadline has passed. */
static void on_wait_tick(uv_timer_t *t) {
    bench *b = t->data;
    if (wait_cond(b)) {
        uv_timer_stop(t);
        uv_stop(b->loop);
        return;
    }
    if (uv_hrtime() > b->wait_deadline) {
        uv_timer_stop(t);
        uv_stop(b->loop);
    }
}

/* Runs the loop until cond(b) holds (true) or `secs` have passed (false,
 * with a message naming `what`). */
static bool wait_for(bench *b, cond_fn cond, double secs, const char *what) {
    if (secs <= 0) return cond(b);
    wait_cond = cond;
    wait_what = what;
    b->wait_deadline = uv_hrtime() + (uint64_t)(secs * 1e9);
    if (!cond(b)) {
        uv_timer_start(&b->tick, on_wait_tick, 5, 5);
        uv_run(b->loop, UV_RUN_DEFAULT);
    }
    bool ok = cond(b);
    if (!ok) say("timed out after %.0f s waiting for %s", secs, wait_what);
    return ok;
}

static bool never(bench *b) {
    (void)b;
    return false;
}

/* Runs the loop for `secs` seconds. */
static void run_for(bench *b, double secs) {
    wait_cond = never;
    b->wait_deadline = uv_hrtime() + (uint64_t)(secs * 1e9);
    uv_timer_start(&b->tick, on_wait_tick, 5, 5);
    uv_run(b->loop, UV_RUN_DEFAULT);
}

static bool all_synced(bench *b) {
    return b->synced + b->group_lost >= b->nclients || b->errors > 0;
}

static bool all_barriers(bench *b) {
    return b->barriers + b->group_lost >= b->nclients || b->errors > 0;
}

static bool nothing_in_flight(bench *b) {
    for (int i = 0; i < b->nclients; i++)
        if (b->clients[i].inflight > 0 && b->clients[i].open) return false;
    return true;
}

static void connect_all(bench *b, double secs) {
    uint64_t t0 = uv_hrtime();
    connect_next(b);
    if (!wait_for(b, all_synced, secs, "every client to connect and sync") || b->group_lost > 0 ||
        b->errors > 0)
        die("%d of %d clients synced; %d connections lost (first: %s); %d errors", b->synced,
            b->nclients, b->closed_unexpected, b->first_close, b->errors);
    say("%d clients connected and synced in %.2f s", b->nclients, (double)(uv_hrtime() - t0) / 1e9);
}

static void barrier_all(bench *b, double secs) {
    b->barriers = 0;
    for (int i = 0; i < b->nclients; i++) {
        client *c = &b->clients[i];
        c->barrier = true;
        send_step1(c);
    }
    if (!wait_for(b, all_barriers, secs, "the server to answer every client's step 1"))
        die("only %d of %d clients got their answer", b->barriers, b->nclients);
}

static void result(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("result %s ", name);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    fflush(stdout);
}

/* ---- load ----------------------------------------------------------------------------- */

static void reset_window(bench *b) {
    b->sent = b->completed = b->delivered = b->expected = 0;
    b->lat.n = b->lat_complete.n = 0;
}

/* CPU seconds this process has used (all threads). */
static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void report_window(bench *b, const char *name, double secs, long long ticks0,
                          long long ticks1, double gen_cpu_s) {
    qsort(b->lat.v, b->lat.n, sizeof(uint32_t), cmp_u32);
    qsort(b->lat_complete.v, b->lat_complete.n, sizeof(uint32_t), cmp_u32);
    double ups = (double)b->completed / secs;
    double gen = 100.0 * gen_cpu_s / secs;
    double cpu_s = (double)(ticks1 - ticks0) / (double)sysconf(_SC_CLK_TCK);
    char key[64];
#define R(k, ...)                                     \
    do {                                              \
        snprintf(key, sizeof(key), "%s.%s", name, k); \
        result(key, __VA_ARGS__);                     \
    } while (0)
    R("offered_ups", "%.0f", (double)b->sent / secs);
    R("ups", "%.0f", ups);
    R("deliveries_ps", "%.0f", (double)b->delivered / secs);
    R("p50_ms", "%.3f", quantile_ms(&b->lat, 0.50));
    R("p99_ms", "%.3f", quantile_ms(&b->lat, 0.99));
    R("p999_ms", "%.3f", quantile_ms(&b->lat, 0.999));
    R("max_ms", "%.3f", quantile_ms(&b->lat, 1.0));
    R("complete_p99_ms", "%.3f", quantile_ms(&b->lat_complete, 0.99));
    R("server_cpu_pct", "%.0f", 100.0 * cpu_s / secs);
    double waited = 100.0 * (double)(b->wait1 - b->wait0) / 1e9 / secs;
    R("server_waited_pct", "%.0f", waited);
    R("generator_cpu_pct", "%.0f", gen);
    R("server_cpu_us_per_update", "%.0f",
      b->completed > 0 ? 1e6 * cpu_s / (double)b->completed : 0.0);
#undef R
    say("%s: %.0f updates/s sent, %.0f/s fully delivered, %.0f deliveries/s; latency p50 %.2f ms, "
        "p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (last receiver p99 %.2f ms); server CPU %.0f%%, "
        "generator CPU %.0f%%, server threads waited for a CPU %.0f%% of the window",
        name, (double)b->sent / secs, ups, (double)b->delivered / secs, quantile_ms(&b->lat, 0.50),
        quantile_ms(&b->lat, 0.99), quantile_ms(&b->lat, 0.999), quantile_ms(&b->lat, 1.0),
        quantile_ms(&b->lat_complete, 0.99), 100.0 * cpu_s / secs, gen, waited);
}

static void start_timers(bench *b) {
    uint64_t now = uv_hrtime();
    uint64_t interval = (uint64_t)(1e9 / b->rate);
    for (int i = 0; i < b->nclients; i++) {
        client *c = &b->clients[i];
        uv_timer_init(b->loop, &c->timer);
        c->timer.data = c;
        c->next_due = now + rnd(&b->seed) % interval; /* spread the phases */
        c->timer_on = true;
        uv_timer_start(&c->timer, on_edit_timer, (c->next_due - now) / 1000000, 0);
    }
}

static void stop_timers(bench *b) {
    for (int i = 0; i < b->nclients; i++)
        if (b->clients[i].timer_on) {
            uv_timer_stop(&b->clients[i].timer);
            b->clients[i].timer_on = false;
        }
}

static void type_note(client *c, int doc);

/* Makes arr[0..n) the clients the callbacks and waits work on. */
static void use_group(bench *b, client *arr, int n) {
    b->clients = arr;
    b->nclients = n;
    b->next_connect = 0;
    b->synced = 0;
    b->barriers = 0;
    b->group_lost = 0;
}

/* Closes every connection of the current group and lets the loop see it. */
static void close_group(bench *b) {
    for (int i = 0; i < b->nclients; i++) {
        client *c = &b->clients[i];
        c->closing = true;
        if (c->ws != NULL) wsc_close(c->ws);
    }
    run_for(b, 0.3);
}

/* Observers: one fresh replica per document, synced, compared with what was
 * sent. */
static void verify_docs(bench *b, const char *phase) {
    int saved_n = b->nclients;
    client *saved = b->clients;
    client *obs = xcalloc((size_t)b->docs_used, sizeof(client));
    for (int d = 0; d < b->docs_used; d++) client_init(b, &obs[d], d, d, OBSERVER_CID);
    use_group(b, obs, b->docs_used);
    connect_next(b);
    bool ok = wait_for(b, all_synced, 120, "the observers to sync") && b->group_lost == 0;
    int docs_ok = 0, shown = 0;
    uint64_t chars = 0;
    for (int d = 0; ok && d < b->docs_used; d++) {
        size_t have = ytext_len(obs[d].text);
        chars += have;
        if (have == b->docs[d].sent_chars)
            docs_ok++;
        else if (shown++ < 3)
            say("document %s: the server's text has %zu characters, %" PRIu64 " were sent",
                b->docs[d].id, have, b->docs[d].sent_chars);
    }
    /* The clients' own replicas must agree with the server's. */
    int replicas_off = 0;
    if (b->apply)
        for (int i = 0; ok && i < saved_n; i++)
            if (!saved[i].lost && ytext_len(saved[i].text) != ytext_len(obs[saved[i].doc].text))
                replicas_off++;
    char key[64];
    snprintf(key, sizeof(key), "%s.verify_docs", phase);
    result(key, "%d", b->docs_used);
    snprintf(key, sizeof(key), "%s.verify_docs_ok", phase);
    result(key, "%d", docs_ok);
    snprintf(key, sizeof(key), "%s.verify_chars", phase);
    result(key, "%" PRIu64, chars);
    snprintf(key, sizeof(key), "%s.verify_replicas_off", phase);
    result(key, "%d", replicas_off);
    say("verify: %d of %d documents hold every character sent (%" PRIu64
        " characters); %d client replicas differ from the server",
        docs_ok, b->docs_used, chars, replicas_off);
    if (docs_ok != b->docs_used || replicas_off > 0) b->errors++;
    close_group(b);
    b->clients = saved;
    b->nclients = saved_n;
}

/* Before the baseline RSS: a few clients write a note on the warm-up
 * document and leave, so that the server's first-use costs (code paths,
 * caches, a JIT) are paid outside the measurement. */
static void warm_up(bench *b) {
    if (!b->has_warm) return;
    enum { N = 4 };
    client *w = xcalloc(N, sizeof(client));
    for (int i = 0; i < N; i++) {
        client_init(b, &w[i], i, b->ndocs, b->cid_base + (uint32_t)i);
        type_note(&w[i], i);
    }
    b->docs[b->ndocs].nclients = N;
    use_group(b, w, N);
    connect_all(b, 60);
    barrier_all(b, 60);
    close_group(b);
    run_for(b, 1);
}

static void phase_load(bench *b) {
    for (int i = 0; i < b->nclients; i++) {
        int d = i % b->docs_used;
        client *c = &b->clients[i];
        client_init(b, c, i, d, b->cid_base + (uint32_t)i);
        c->ring = xcalloc(RING, sizeof(sendrec));
        for (int r = 0; r < RING; r++) c->ring[r].seq = UINT64_MAX;
        b->docs[d].nclients++;
    }
    connect_all(b, 120);
    /* What the documents held before this run (a rerun on old documents). */
    for (int i = 0; i < b->nclients; i++) {
        docinfo *d = &b->docs[b->clients[i].doc];
        size_t have = ytext_len(b->clients[i].text);
        if (have > d->sent_chars) d->sent_chars = have;
    }
    long rss0 = rss_kb(b->pid);

    b->state = ST_WARMUP;
    b->measure_t0 = UINT64_MAX;
    start_timers(b);
    run_for(b, b->warmup);
    reset_window(b);
    b->state = ST_MEASURE;
    long long t0 = cpu_ticks(b->pid);
    b->wait0 = wait_ns(b->pid);
    b->self_cpu0 = self_cpu_s();
    b->measure_t0 = uv_hrtime();
    b->measure_t1 = 0;
    run_for(b, b->duration);
    b->measure_t1 = uv_hrtime();
    long long t1 = cpu_ticks(b->pid);
    b->wait1 = wait_ns(b->pid);
    double gen_s = self_cpu_s();
    double secs = (double)(b->measure_t1 - b->measure_t0) / 1e9;
    b->state = ST_DRAIN;
    stop_timers(b);
    long rss1 = rss_kb(b->pid);
    /* Latencies of the window include updates delivered after it ends. */
    wait_for(b, nothing_in_flight, 30, "the updates in flight to arrive");
    result("load.clients", "%d", b->nclients);
    result("load.docs", "%d", b->docs_used);
    result("load.rate", "%g", b->rate);
    result("load.seconds", "%.1f", secs);
    report_window(b, "load", secs, t0, t1, gen_s - b->self_cpu0);
    uint64_t missing = b->expected - b->delivered;
    result("load.sent", "%" PRIu64, b->sent);
    result("load.deliveries", "%" PRIu64, b->delivered);
    result("load.missing", "%" PRIu64, missing);
    result("load.rss_before_kb", "%ld", rss0);
    result("load.rss_kb", "%ld", rss1);
    if (missing > 0) {
        say("load: %" PRIu64 " of %" PRIu64 " deliveries never arrived", missing, b->expected);
        b->errors++;
    }

    if (b->peak > 0) {
        /* The closed loop measures the server: clients that apply the nine
         * updates they receive per update sent (as they arrive, or merged
         * before their next edit) make the generator the bottleneck of this
         * 2-CPU machine (over 90% of a CPU at 10,000 updates/s). By default
         * they keep typing in their own replicas without applying, and
         * catch up with a step 1 after the loop. */
        bool applied = b->apply;
        if (b->apply && b->peak_apply == PEAK_LAZY) b->lazy = true;
        if (b->peak_apply == PEAK_NONE) b->apply = false;
        reset_window(b);
        b->state = ST_PEAK;
        t0 = cpu_ticks(b->pid);
        b->wait0 = wait_ns(b->pid);
        b->self_cpu0 = self_cpu_s();
        b->measure_t0 = uv_hrtime();
        b->measure_t1 = 0;
        for (int i = 0; i < b->nclients; i++)
            for (int w = 0; w < b->window; w++) send_edit(&b->clients[i]);
        run_for(b, b->peak);
        b->measure_t1 = uv_hrtime();
        t1 = cpu_ticks(b->pid);
        b->wait1 = wait_ns(b->pid);
        gen_s = self_cpu_s();
        secs = (double)(b->measure_t1 - b->measure_t0) / 1e9;
        b->state = ST_DRAIN;
        long rss2 = rss_kb(b->pid);
        wait_for(b, nothing_in_flight, 60, "the updates in flight to arrive");
        report_window(b, "peak", secs, t0, t1, gen_s - b->self_cpu0);
        missing = b->expected - b->delivered;
        result("peak.sent", "%" PRIu64, b->sent);
        result("peak.missing", "%" PRIu64, missing);
        result("peak.rss_kb", "%ld", rss2);
        if (missing > 0) {
            say("peak: %" PRIu64 " of %" PRIu64 " deliveries never arrived", missing, b->expected);
            b->errors++;
        }
        if (b->lazy) {
            for (int i = 0; i < b->nclients; i++) apply_held(&b->clients[i]);
            b->lazy = false;
        }
        if (applied && !b->apply) {
            /* Each client's step 1 gets, as step 2, what it missed: the
             * replicas compared below are whole again. */
            b->apply = true;
            b->state = ST_CONNECT;
            barrier_all(b, 300);
        }
    }
    result("load.echoes", "%" PRIu64, b->echoes);
    result("load.acks", "%" PRIu64, b->acks);
    result("load.unknown", "%" PRIu64, b->unknown);
    if (b->overrun > 0) say("%" PRIu64 " sends were never completed", b->overrun);
    if (b->closed_unexpected > 0) {
        say("%d connections were lost (first: %s)", b->closed_unexpected, b->first_close);
        b->errors++;
    }
    b->state = ST_CONNECT;
    verify_docs(b, "load");
}

/* ---- memory ---------------------------------------------------------------------------- */

/* A note typed offline: paragraphs inserted at random places, some words
 * deleted, one transaction per edit. Deterministic per document index. */
static void type_note(client *c, int doc) {
    static const char *words[] = {"the ",  "note ", "sync ", "vault ", "offline ",  "merge ",
                                  "edit ", "text ", "with ", "and ",   "# Title\n", "- item\n"};
    uint64_t s = 0x5eed0000u + (uint64_t)doc * 7919u + 1;
    for (int e = 0; e < 60; e++) {
        ytxn *t = ydoc_begin(c->ydoc, &LOCAL_ORIGIN);
        if (t == NULL) die("local edit failed");
        size_t len = ytext_len(c->text);
        if (e % 6 == 5 && len > 20) {
            size_t at = (size_t)(rnd(&s) % (len - 10));
            if (ytext_delete(t, c->text, at, 5) != Y_OK) die("local delete failed");
        } else {
            char buf[256];
            size_t n = 0;
            int nw = 3 + (int)(rnd(&s) % 4);
            for (int w = 0; w < nw; w++) {
                const char *wd = words[rnd(&s) % (sizeof(words) / sizeof(words[0]))];
                size_t wl = strlen(wd);
                memcpy(buf + n, wd, wl);
                n += wl;
            }
            size_t at = len == 0 ? 0 : (size_t)(rnd(&s) % (len + 1));
            if (ytext_insert(t, c->text, at, buf, n, NULL, 0) != Y_OK) die("local insert failed");
        }
        if (ytxn_commit(t) != Y_OK) die("local commit failed");
    }
    free(c->local);
    c->local = NULL;
}

static void phase_memory(bench *b) {
    if (b->nclients > b->ndocs) die("--clients %d > %d documents", b->nclients, b->ndocs);
    for (int i = 0; i < b->nclients; i++) {
        client_init(b, &b->clients[i], i, i, b->cid_base + (uint32_t)i);
        b->docs[i].nclients = 1;
        type_note(&b->clients[i], i);
    }
    b->docs_used = b->nclients;
    peer_gc(b);
    long rss0 = rss_kb(b->pid);
    long long t0 = cpu_ticks(b->pid);
    connect_all(b, 300);
    barrier_all(b, 300); /* the server has every note (vaultd: committed) */
    run_for(b, b->settle);
    peer_gc(b);
    long rss1 = rss_kb(b->pid);
    long long t1 = cpu_ticks(b->pid);
    size_t chars = 0;
    for (int i = 0; i < b->nclients; i++) chars += ytext_len(b->clients[i].text);
    result("memory.docs", "%d", b->nclients);
    result("memory.chars_per_doc", "%zu", chars / (size_t)b->nclients);
    result("memory.rss_before_kb", "%ld", rss0);
    result("memory.rss_kb", "%ld", rss1);
    result("memory.per_doc_kb", "%.2f", (double)(rss1 - rss0) / b->nclients);
    result("memory.server_cpu_s", "%.2f", (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK));
    say("memory: %d documents of %zu characters each, one connection each: server RSS %ld -> %ld "
        "kB, %.1f kB per open document",
        b->nclients, chars / (size_t)b->nclients, rss0, rss1, (double)(rss1 - rss0) / b->nclients);
    if (b->closed_unexpected > 0) {
        say("%d connections were lost (first: %s)", b->closed_unexpected, b->first_close);
        b->errors++;
    }
    for (int i = 0; i < b->ndocs && i < b->nclients; i++)
        b->docs[i].sent_chars = ytext_len(b->clients[i].text);
    verify_docs(b, "memory");
}

/* ---- idle ------------------------------------------------------------------------------ */

static void phase_idle(bench *b) {
    for (int i = 0; i < b->nclients; i++) {
        int d = i % b->docs_used;
        client_init(b, &b->clients[i], i, d, b->cid_base + (uint32_t)i);
        b->docs[d].nclients++;
    }
    peer_gc(b);
    long rss0 = rss_kb(b->pid);
    connect_all(b, 600);
    run_for(b, b->settle);
    peer_gc(b);
    long rss1 = rss_kb(b->pid);
    int open = 0;
    for (int i = 0; i < b->nclients; i++) open += b->clients[i].open;
    result("idle.conns", "%d", b->nclients);
    result("idle.open", "%d", open);
    result("idle.docs", "%d", b->docs_used);
    result("idle.rss_before_kb", "%ld", rss0);
    result("idle.rss_kb", "%ld", rss1);
    result("idle.per_conn_kb", "%.2f", (double)(rss1 - rss0) / b->nclients);
    say("idle: %d of %d connections open after %.0f s over %d documents: server RSS %ld -> %ld kB "
        "(%.1f MB), %.2f kB per connection",
        open, b->nclients, b->settle, b->docs_used, rss0, rss1, rss1 / 1024.0,
        (double)(rss1 - rss0) / b->nclients);
    if (open != b->nclients) {
        say("connections lost (first: %s)", b->first_close);
        b->errors++;
    }
}

/* ---- main ------------------------------------------------------------------------------- */

static const char usage[] =
    "Usage: sync_bench --proto y|hocuspocus --server HOST:PORT --docs FILE --pid PID\n"
    "                  --phase load|memory|idle [options]\n"
    "  --path P        y: P<doc> is the sync URL path (default /api/v1/sync/);\n"
    "                  hocuspocus: the URL path (default /)\n"
    "  --token T       y: sent as 'Authorization: Bearer T'; hocuspocus: in the auth message\n"
    "  --clients N     connections (default 1000)\n"
    "  --docs-used D   documents they spread over (load, idle; default 100)\n"
    "  --rate R        edits per second per client (load; default 2)\n"
    "  --warmup S      unmeasured seconds before the window (default 3)\n"
    "  --duration S    measured seconds at --rate (default 10)\n"
    "  --peak S        closed-loop seconds after that (default 10; 0: none)\n"
    "  --window W      edits in flight per client in the closed loop (default 1)\n"
    "  --edit-len L    characters per edit (default 4)\n"
    "  --no-apply      clients do not apply what they receive (cheaper, less real)\n"
    "  --peak-apply M  how clients apply what they receive in the closed loop:\n"
    "                  none (default: they catch up with a step 1 after it), lazy\n"
    "                  (held, merged and applied before their next edit), each (as\n"
    "                  it arrives)\n"
    "  --settle S      seconds before measuring memory (default 3)\n"
    "  --sources N     spread connections over 127.0.0.1..N (default 8)\n"
    "  --gc            ask the peer to collect garbage before reading RSS (GET /bench/gc)\n"
    "  --seed N        random seed (default 1)\n"
    "  --warm-doc ID   a document to warm the server up on before measuring\n";

/* Reads the document ids of `path`; `warm` (may be NULL) goes after them,
 * at docs[ndocs], not counted in ndocs. */
static void read_docs(bench *b, const char *path, const char *warm) {
    FILE *f = fopen(path, "r");
    if (f == NULL) die("%s: %s", path, strerror(errno));
    int cap = 256;
    b->docs = xcalloc((size_t)cap, sizeof(docinfo));
    char line[256];
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n \t")] = '\0';
        if (line[0] == '\0') continue;
        if (strlen(line) >= sizeof(b->docs[0].id)) die("%s: document id too long", path);
        if (b->ndocs == cap) {
            cap *= 2;
            b->docs = realloc(b->docs, (size_t)cap * sizeof(docinfo));
            if (b->docs == NULL) die("out of memory");
        }
        memset(&b->docs[b->ndocs], 0, sizeof(docinfo));
        memcpy(b->docs[b->ndocs].id, line, strlen(line) + 1); /* length checked above */
        b->ndocs++;
    }
    fclose(f);
    if (b->ndocs == 0) die("%s: no document ids", path);
    b->docs = realloc(b->docs, (size_t)(b->ndocs + 1) * sizeof(docinfo));
    if (b->docs == NULL) die("out of memory");
    memset(&b->docs[b->ndocs], 0, sizeof(docinfo));
    if (warm != NULL) {
        if (strlen(warm) >= sizeof(b->docs[0].id)) die("--warm-doc: id too long");
        memcpy(b->docs[b->ndocs].id, warm, strlen(warm) + 1); /* length checked above */
        b->has_warm = true;
    }
}

int main(int argc, char **argv) {
    static bench B;
    bench *b = &B;
    b->proto = -1;
    b->phase = -1;
    b->nclients = 1000;
    b->docs_used = 100;
    b->rate = 2;
    b->warmup = 3;
    b->duration = 10;
    b->peak = 10;
    b->window = 1;
    b->edit_len = 4;
    b->apply = true;
    b->settle = 3;
    b->sources = 8;
    b->seed = 1;
    const char *docs = NULL, *server = NULL, *path = NULL, *warm = NULL;
    enum {
        OPT_PROTO = 1000,
        OPT_SERVER,
        OPT_DOCS,
        OPT_PID,
        OPT_PHASE,
        OPT_PATH,
        OPT_TOKEN,
        OPT_CLIENTS,
        OPT_DOCS_USED,
        OPT_RATE,
        OPT_WARMUP,
        OPT_DURATION,
        OPT_PEAK,
        OPT_WINDOW,
        OPT_EDIT_LEN,
        OPT_NO_APPLY,
        OPT_PEAK_APPLY,
        OPT_SETTLE,
        OPT_SOURCES,
        OPT_GC,
        OPT_SEED,
        OPT_WARM,
        OPT_HELP
    };
    static const struct option opts[] = {{"proto", 1, 0, OPT_PROTO},
                                         {"server", 1, 0, OPT_SERVER},
                                         {"docs", 1, 0, OPT_DOCS},
                                         {"pid", 1, 0, OPT_PID},
                                         {"phase", 1, 0, OPT_PHASE},
                                         {"path", 1, 0, OPT_PATH},
                                         {"token", 1, 0, OPT_TOKEN},
                                         {"clients", 1, 0, OPT_CLIENTS},
                                         {"docs-used", 1, 0, OPT_DOCS_USED},
                                         {"rate", 1, 0, OPT_RATE},
                                         {"warmup", 1, 0, OPT_WARMUP},
                                         {"duration", 1, 0, OPT_DURATION},
                                         {"peak", 1, 0, OPT_PEAK},
                                         {"window", 1, 0, OPT_WINDOW},
                                         {"edit-len", 1, 0, OPT_EDIT_LEN},
                                         {"no-apply", 0, 0, OPT_NO_APPLY},
                                         {"peak-apply", 1, 0, OPT_PEAK_APPLY},
                                         {"settle", 1, 0, OPT_SETTLE},
                                         {"sources", 1, 0, OPT_SOURCES},
                                         {"gc", 0, 0, OPT_GC},
                                         {"seed", 1, 0, OPT_SEED},
                                         {"warm-doc", 1, 0, OPT_WARM},
                                         {"help", 0, 0, OPT_HELP},
                                         {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case OPT_PROTO:
            b->proto = strcmp(optarg, "y") == 0            ? PROTO_Y
                       : strcmp(optarg, "hocuspocus") == 0 ? PROTO_HOCUS
                                                           : -2;
            break;
        case OPT_SERVER: server = optarg; break;
        case OPT_DOCS: docs = optarg; break;
        case OPT_PID: b->pid = atoi(optarg); break;
        case OPT_PHASE:
            b->phase = strcmp(optarg, "load") == 0     ? PH_LOAD
                       : strcmp(optarg, "memory") == 0 ? PH_MEMORY
                       : strcmp(optarg, "idle") == 0   ? PH_IDLE
                                                       : -2;
            break;
        case OPT_PATH: path = optarg; break;
        case OPT_TOKEN: snprintf(b->token, sizeof(b->token), "%s", optarg); break;
        case OPT_CLIENTS: b->nclients = atoi(optarg); break;
        case OPT_DOCS_USED: b->docs_used = atoi(optarg); break;
        case OPT_RATE: b->rate = atof(optarg); break;
        case OPT_WARMUP: b->warmup = atof(optarg); break;
        case OPT_DURATION: b->duration = atof(optarg); break;
        case OPT_PEAK: b->peak = atof(optarg); break;
        case OPT_WINDOW: b->window = atoi(optarg); break;
        case OPT_EDIT_LEN: b->edit_len = atoi(optarg); break;
        case OPT_NO_APPLY: b->apply = false; break;
        case OPT_PEAK_APPLY:
            if (strcmp(optarg, "lazy") == 0)
                b->peak_apply = PEAK_LAZY;
            else if (strcmp(optarg, "each") == 0)
                b->peak_apply = PEAK_EACH;
            else if (strcmp(optarg, "none") == 0)
                b->peak_apply = PEAK_NONE;
            else
                die("--peak-apply: lazy, each or none");
            break;
        case OPT_SETTLE: b->settle = atof(optarg); break;
        case OPT_SOURCES: b->sources = atoi(optarg); break;
        case OPT_GC: b->gc = true; break;
        case OPT_SEED: b->seed = strtoull(optarg, NULL, 10) | 1; break;
        case OPT_WARM: warm = optarg; break;
        case OPT_HELP: fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (b->proto < 0 || b->phase < 0 || server == NULL || docs == NULL || b->pid <= 0 ||
        b->nclients <= 0 || b->docs_used <= 0 || b->rate <= 0 || b->duration <= 0 ||
        b->window <= 0 || b->edit_len <= 0 || b->edit_len > 32 || b->sources <= 0 ||
        b->sources > 250) {
        fputs(usage, stderr);
        return 2;
    }
    char hostpart[64];
    const char *colon = strrchr(server, ':');
    if (colon == NULL || (size_t)(colon - server) >= sizeof(hostpart))
        die("bad --server %s", server);
    memcpy(hostpart, server, (size_t)(colon - server));
    hostpart[colon - server] = '\0';
    if (uv_ip4_addr(hostpart, atoi(colon + 1), &b->server) != 0) die("bad --server %s", server);
    snprintf(b->host, sizeof(b->host), "%s", server);
    snprintf(b->path, sizeof(b->path), "%s",
             path != NULL ? path : (b->proto == PROTO_Y ? "/api/v1/sync/" : "/"));
    if (b->proto == PROTO_Y && b->token[0] != '\0')
        snprintf(b->headers, sizeof(b->headers), "Authorization: Bearer %.255s\r\n", b->token);
    read_docs(b, docs, warm);
    if (b->phase == PH_MEMORY) b->docs_used = b->nclients < b->ndocs ? b->nclients : b->ndocs;
    if (b->docs_used > b->ndocs) die("--docs-used %d > %d ids in %s", b->docs_used, b->ndocs, docs);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)b->nclients + 64) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)b->nclients + 64)
            die("%d connections need more open files than the limit (%llu): raise ulimit -n",
                b->nclients, (unsigned long long)rl.rlim_cur);
    }

    /* Client ids never seen by the server before, even on a document that
     * an earlier run edited: a replayed (client, clock) would be a duplicate
     * that the server rightly ignores. */
    b->cid_base =
        1000000u * (1u + (uint32_t)((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 7)) % 4000u);
    b->loop = uv_default_loop();
    b->loop->data = &b->wl;
    b->wl.mask_state = b->seed * 0x9e3779b97f4a7c15ull;
    uv_timer_init(b->loop, &b->tick);
    b->tick.data = b;
    client *clients = xcalloc((size_t)b->nclients, sizeof(client));
    int n = b->nclients;
    b->state = ST_CONNECT;
    warm_up(b);
    use_group(b, clients, n);
    switch (b->phase) {
    case PH_LOAD: phase_load(b); break;
    case PH_MEMORY: phase_memory(b); break;
    default: phase_idle(b); break;
    }
    static const char *const names[] = {"load", "memory", "idle"};
    char key[64];
    snprintf(key, sizeof(key), "%s.sent_total", names[b->phase]);
    result(key, "%" PRIu64, b->sent_total);
    snprintf(key, sizeof(key), "%s.errors", names[b->phase]);
    result(key, "%d", b->errors);
    b->state = ST_DONE;
    fflush(stdout);
    /* The process ends here: the kernel closes every socket at once. */
    _exit(b->errors > 0 ? 1 : 0);
}
