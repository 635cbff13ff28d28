/*
 * crdt_bench.c - the C side of `make bench-crdt` (bench/crdt.sh).
 *
 *   crdt_bench convert TRACE.json.gz OUT.bin   editing trace -> compact form
 *   crdt_bench run TRACE.bin ENCODED.out       one measured run, one JSON line
 *
 * `convert` reads a trace of ../shared/traces (FORMAT.md) with zlib and
 * jansson and writes the compact form that both this program and
 * yjs_bench.mjs read, so neither process pays for a JSON tree of 260k
 * transactions in its peak memory (all little-endian uint32):
 *
 *   "VNTR" 1 kind(0 sequential, 1 concurrent) numAgents ntxns
 *   endLen endContent(UTF-8)
 *   per transaction: agent nparents parents[] npatches
 *                    per patch: pos del insLen ins(UTF-8)
 *
 * Positions are UTF-16 units (= code points: no trace has a character above
 * U+FFFF; convert refuses one).
 *
 * `run` does, on the engine only inside the timed parts:
 *   replay  sequential: one transaction per trace transaction on Y.Text
 *           "text", client 0x5eed, gc on, an update observer receiving each
 *           transaction's update. Concurrent: one replica per agent (client
 *           1000 + agent); before each transaction its agent's replica
 *           applies the updates of its parents' version it lacks, then makes
 *           the edit; every local update is kept.
 *   merge   concurrent only: a fresh document (client 999) applies every
 *           kept update in trace order.
 *   encode  the final document (sequential: the replayed one; concurrent:
 *           the merged one) as an update v1; the bytes go to ENCODED.out.
 *   load    a fresh document applies that update.
 * Each result is checked against endContent outside the timed parts. The
 * line printed: {"replay_ms":..,"encode_ms":..,"load_ms":..,"merge_ms":..
 * (or null),"bytes":..,"updates":..,"update_bytes":..,"engine_peak":..}, the
 * last being the most the engine itself held (yalloc_stats), in bytes; with
 * VN_BENCH_UPDATES_HASH=1 also "update_hash", FNV-1a over every update (see
 * yjs_bench.mjs), to check that both engines emitted the same updates. Peak
 * RSS is measured from outside (bench/crdt.sh runs this under /usr/bin/time).
 * Exit status 1 on any error (message on stderr).
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "crdt.h"

#define SEQ_CLIENT   0x5eedu
#define AGENT_CLIENT 1000u
#define MERGE_CLIENT 999u

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("crdt_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die("out of memory");
    return p;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- growable byte buffer ------------------------------------------------ */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) die("out of memory");
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void buf_u32(struct buf *b, uint32_t v) {
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_add(b, le, 4);
}

/* ---- convert ----------------------------------------------------------------- */

static uint32_t json_u32(json_t *j, const char *what) {
    if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > UINT32_MAX)
        die("%s: expected a non-negative integer", what);
    return (uint32_t)json_integer_value(j);
}

static bool has_astral(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0xf0) return true;
    return false;
}

static int convert(const char *in, const char *out) {
    gzFile gz = gzopen(in, "rb");
    if (!gz) die("%s: cannot open", in);
    struct buf raw = {0};
    uint8_t chunk[1 << 16];
    int got;
    while ((got = gzread(gz, chunk, sizeof chunk)) > 0) buf_add(&raw, chunk, (size_t)got);
    if (got < 0) die("%s: not gzip", in);
    gzclose(gz);
    json_error_t jerr;
    json_t *trace = json_loadb((const char *)raw.p, raw.n, 0, &jerr);
    free(raw.p);
    if (!trace) die("%s: %s", in, jerr.text);

    json_t *kind = json_object_get(trace, "kind");
    bool concurrent = json_is_string(kind) && !strcmp(json_string_value(kind), "concurrent");
    json_t *txns = json_object_get(trace, "txns");
    json_t *end = json_object_get(trace, "endContent");
    json_t *start = json_object_get(trace, "startContent");
    if (!json_is_array(txns) || !json_is_string(end)) die("%s: no txns or endContent", in);
    if (start && json_string_length(start) != 0) die("%s: startContent is not empty", in);
    uint32_t agents = concurrent ? json_u32(json_object_get(trace, "numAgents"), "numAgents") : 1;

    struct buf b = {0};
    buf_add(&b, "VNTR", 4);
    buf_u32(&b, 1);
    buf_u32(&b, concurrent ? 1 : 0);
    buf_u32(&b, agents);
    buf_u32(&b, (uint32_t)json_array_size(txns));
    buf_u32(&b, (uint32_t)json_string_length(end));
    buf_add(&b, json_string_value(end), json_string_length(end));
    size_t i, j;
    json_t *txn, *patch;
    json_array_foreach(txns, i, txn) {
        uint32_t agent = concurrent ? json_u32(json_object_get(txn, "agent"), "agent") : 0;
        if (agent >= agents) die("txn %zu: agent out of range", i);
        json_t *parents = json_object_get(txn, "parents");
        buf_u32(&b, agent);
        buf_u32(&b, (uint32_t)json_array_size(parents));
        json_t *p;
        json_array_foreach(parents, j, p) {
            uint32_t parent = json_u32(p, "parent");
            if (parent >= i) die("txn %zu: parent %u does not point backward", i, parent);
            buf_u32(&b, parent);
        }
        json_t *patches = json_object_get(txn, "patches");
        buf_u32(&b, (uint32_t)json_array_size(patches));
        json_array_foreach(patches, j, patch) {
            json_t *ins = json_array_get(patch, 2);
            if (!json_is_string(ins)) die("txn %zu patch %zu: no insert text", i, j);
            if (has_astral(json_string_value(ins), json_string_length(ins)))
                die("txn %zu: astral character, positions would need converting", i);
            buf_u32(&b, json_u32(json_array_get(patch, 0), "position"));
            buf_u32(&b, json_u32(json_array_get(patch, 1), "deleteCount"));
            buf_u32(&b, (uint32_t)json_string_length(ins));
            buf_add(&b, json_string_value(ins), json_string_length(ins));
        }
    }
    json_decref(trace);
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(b.p, 1, b.n, f) != b.n || fclose(f) != 0) die("%s: cannot write", out);
    free(b.p);
    return 0;
}

/* ---- the compact trace in memory ------------------------------------------------ */

struct patch {
    uint32_t pos, del, len;
    const char *ins; /* into the file buffer */
};

struct txn {
    uint32_t agent, nparents, npatches;
    const uint32_t *parents; /* unaligned-safe copies, see load_trace */
    struct patch *patches;
};

struct trace {
    uint8_t *file;
    bool concurrent;
    uint32_t agents, ntxns;
    const char *end;
    size_t end_len;
    struct txn *txns;
    struct patch *patch_pool;
    uint32_t *parent_pool;
};

struct reader {
    const uint8_t *p, *end;
};

static uint32_t rd_u32(struct reader *r) {
    if (r->end - r->p < 4) die("truncated trace file");
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

static const char *rd_bytes(struct reader *r, uint32_t n) {
    if ((size_t)(r->end - r->p) < n) die("truncated trace file");
    const char *s = (const char *)r->p;
    r->p += n;
    return s;
}

static void load_trace(const char *path, struct trace *t) {
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: cannot open", path);
    struct buf b = {0};
    uint8_t chunk[1 << 16];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) buf_add(&b, chunk, got);
    fclose(f);
    memset(t, 0, sizeof *t);
    t->file = b.p;
    struct reader r = {b.p, b.p + b.n};
    if (memcmp(rd_bytes(&r, 4), "VNTR", 4) || rd_u32(&r) != 1) die("%s: not a trace file", path);
    t->concurrent = rd_u32(&r) == 1;
    t->agents = rd_u32(&r);
    t->ntxns = rd_u32(&r);
    t->end_len = rd_u32(&r);
    t->end = rd_bytes(&r, (uint32_t)t->end_len);
    if (t->agents == 0) die("%s: no agents", path);
    /* First pass counts, second fills. */
    struct reader r2 = r;
    size_t npatches = 0, nparents = 0;
    for (uint32_t i = 0; i < t->ntxns; i++) {
        rd_u32(&r2);
        uint32_t np = rd_u32(&r2);
        for (uint32_t k = 0; k < np; k++) rd_u32(&r2);
        nparents += np;
        uint32_t n = rd_u32(&r2);
        for (uint32_t k = 0; k < n; k++) {
            rd_u32(&r2);
            rd_u32(&r2);
            rd_bytes(&r2, rd_u32(&r2));
        }
        npatches += n;
    }
    t->txns = xcalloc(t->ntxns, sizeof *t->txns);
    t->patch_pool = xcalloc(npatches, sizeof *t->patch_pool);
    t->parent_pool = xcalloc(nparents, sizeof *t->parent_pool);
    struct patch *pp = t->patch_pool;
    uint32_t *par = t->parent_pool;
    for (uint32_t i = 0; i < t->ntxns; i++) {
        struct txn *x = &t->txns[i];
        x->agent = rd_u32(&r);
        if (x->agent >= t->agents) die("txn %u: agent out of range", i);
        x->nparents = rd_u32(&r);
        x->parents = par;
        for (uint32_t k = 0; k < x->nparents; k++) *par++ = rd_u32(&r);
        x->npatches = rd_u32(&r);
        x->patches = pp;
        for (uint32_t k = 0; k < x->npatches; k++, pp++) {
            pp->pos = rd_u32(&r);
            pp->del = rd_u32(&r);
            pp->len = rd_u32(&r);
            pp->ins = rd_bytes(&r, pp->len);
        }
    }
}

static void free_trace(struct trace *t) {
    free(t->txns);
    free(t->patch_pool);
    free(t->parent_pool);
    free(t->file);
}

/* ---- engine helpers ------------------------------------------------------------- */

static void check(int rc, const char *what) {
    if (rc != Y_OK) die("%s: %s", what, yerr_str(rc));
}

static ydoc *new_doc(uint32_t client) {
    ydoc_options opt = {.has_client_id = true, .client_id = client, .gc = true};
    ydoc *d = ydoc_new(&opt);
    if (!d) die("ydoc_new failed");
    return d;
}

static void check_text(ydoc *doc, const struct trace *t, const char *what) {
    char *s;
    size_t n;
    check(ytext_string(ydoc_get(doc, "text", YTYPE_TEXT), &s, &n), "ytext_string");
    if (n != t->end_len || memcmp(s, t->end, n)) die("%s: the text is not endContent", what);
    yfree(s);
}

/* What the update observer does: an editor would send the bytes; we count them
 * and, where the concurrent replay needs it, keep a copy. */
struct sink {
    size_t updates, bytes;
    bool hash; /* VN_BENCH_UPDATES_HASH=1: FNV-1a over the updates, as yjs_bench.mjs */
    uint32_t h;
    bool keep;
    uint8_t *kept;
    size_t kept_len;
};

static void on_update(void *ud, const uint8_t *update, size_t len, const void *origin) {
    (void)origin;
    struct sink *s = ud;
    s->updates++;
    s->bytes += len;
    if (s->hash) {
        uint32_t h = s->h;
        for (int k = 0; k < 4; k++) h = (h ^ (uint8_t)(len >> (8 * k))) * 0x01000193u;
        for (size_t i = 0; i < len; i++) h = (h ^ update[i]) * 0x01000193u;
        s->h = h;
    }
    if (s->keep) {
        s->kept = xmalloc(len);
        memcpy(s->kept, update, len);
        s->kept_len = len;
        s->keep = false;
    }
}

static void apply_patches(ytxn *txn, ytype *text, const struct txn *x, uint32_t i) {
    for (uint32_t k = 0; k < x->npatches; k++) {
        const struct patch *p = &x->patches[k];
        int rc;
        if (p->del && (rc = ytext_delete(txn, text, p->pos, p->del)) != Y_OK)
            die("txn %u: ytext_delete(%u, %u): %s", i, p->pos, p->del, yerr_str(rc));
        if (p->len && (rc = ytext_insert(txn, text, p->pos, p->ins, p->len, NULL, 0)) != Y_OK)
            die("txn %u: ytext_insert(%u): %s", i, p->pos, yerr_str(rc));
    }
}

static void edit(ydoc *doc, ytype *text, const struct txn *x, uint32_t i) {
    ytxn *txn = ydoc_begin(doc, NULL);
    if (!txn) die("txn %u: ydoc_begin failed", i);
    apply_patches(txn, text, x, i);
    check(ytxn_commit(txn), "ytxn_commit");
}

/* ---- run ---------------------------------------------------------------------- */

struct update {
    uint8_t *p;
    size_t n;
};

/* The concurrent replay: one replica per agent; returns the updates of every
 * transaction (in trace order) through *out. */
static void replay_concurrent(const struct trace *t, struct sink *sink, struct update **out) {
    uint32_t n = t->agents;
    struct update *upd = xcalloc(t->ntxns, sizeof *upd);
    uint32_t *ver = xcalloc((size_t)t->ntxns * n, sizeof *ver); /* per txn, per agent */
    uint32_t *has = xcalloc((size_t)n * n, sizeof *has);        /* per replica, per agent */
    uint32_t *agent_txns = xcalloc(t->ntxns, sizeof *agent_txns);
    uint32_t *agent_start = xcalloc(n + 1, sizeof *agent_start);
    uint32_t *agent_len = xcalloc(n, sizeof *agent_len);
    uint32_t *target = xcalloc(n, sizeof *target);
    ydoc **rep = xcalloc(n, sizeof *rep);
    ytype **text = xcalloc(n, sizeof *text);

    /* agent_txns[agent_start[a] + k]: the index of agent a's k-th transaction. */
    for (uint32_t i = 0; i < t->ntxns; i++) agent_start[t->txns[i].agent + 1]++;
    for (uint32_t a = 0; a < n; a++) agent_start[a + 1] += agent_start[a];
    for (uint32_t i = 0; i < t->ntxns; i++) {
        uint32_t a = t->txns[i].agent;
        agent_txns[agent_start[a] + agent_len[a]++] = i;
    }
    memset(agent_len, 0, n * sizeof *agent_len);
    for (uint32_t a = 0; a < n; a++) {
        rep[a] = new_doc(AGENT_CLIENT + a);
        text[a] = ydoc_get(rep[a], "text", YTYPE_TEXT);
        if (ydoc_observe_updates(rep[a], on_update, sink) < 0) die("observe failed");
    }
    for (uint32_t i = 0; i < t->ntxns; i++) {
        const struct txn *x = &t->txns[i];
        uint32_t a = x->agent;
        memset(target, 0, n * sizeof *target);
        for (uint32_t k = 0; k < x->nparents; k++)
            for (uint32_t b = 0; b < n; b++) {
                uint32_t v = ver[(size_t)x->parents[k] * n + b];
                if (v > target[b]) target[b] = v;
            }
        if (target[a] != agent_len[a]) die("txn %u: does not follow its agent's previous one", i);
        for (uint32_t b = 0; b < n; b++) {
            uint32_t *h = &has[(size_t)a * n + b];
            if (*h > target[b]) die("txn %u: replica ahead of the parents' version", i);
            for (; *h < target[b]; (*h)++) {
                const struct update *u = &upd[agent_txns[agent_start[b] + *h]];
                check(ydoc_apply_update(rep[a], u->p, u->n, NULL), "ydoc_apply_update");
            }
        }
        sink->keep = true;
        edit(rep[a], text[a], x, i);
        if (sink->keep) die("txn %u: no update", i);
        upd[i].p = sink->kept;
        upd[i].n = sink->kept_len;
        agent_len[a]++;
        target[a]++;
        has[(size_t)a * n + a] = target[a];
        memcpy(&ver[(size_t)i * n], target, n * sizeof *target);
    }
    for (uint32_t a = 0; a < n; a++) ydoc_free(rep[a]);
    free(text);
    free(rep);
    free(target);
    free(agent_len);
    free(agent_start);
    free(agent_txns);
    free(has);
    free(ver);
    *out = upd;
}

static int run(const char *path, const char *out_path) {
    struct trace t;
    load_trace(path, &t);
    const char *hash_env = getenv("VN_BENCH_UPDATES_HASH");
    struct sink sink = {.hash = hash_env && !strcmp(hash_env, "1"), .h = 0x811c9dc5u};
    double replay_ms, merge_ms = -1, encode_ms, load_ms, t0;
    ydoc *doc;

    if (!t.concurrent) {
        doc = new_doc(SEQ_CLIENT);
        ytype *text = ydoc_get(doc, "text", YTYPE_TEXT);
        if (ydoc_observe_updates(doc, on_update, &sink) < 0) die("observe failed");
        t0 = now_ms();
        for (uint32_t i = 0; i < t.ntxns; i++) edit(doc, text, &t.txns[i], i);
        replay_ms = now_ms() - t0;
        if (sink.updates != t.ntxns) die("%zu updates for %u transactions", sink.updates, t.ntxns);
    } else {
        struct update *upd;
        t0 = now_ms();
        replay_concurrent(&t, &sink, &upd);
        replay_ms = now_ms() - t0;
        doc = new_doc(MERGE_CLIENT);
        t0 = now_ms();
        for (uint32_t i = 0; i < t.ntxns; i++)
            check(ydoc_apply_update(doc, upd[i].p, upd[i].n, NULL), "merge: ydoc_apply_update");
        merge_ms = now_ms() - t0;
        for (uint32_t i = 0; i < t.ntxns; i++) free(upd[i].p);
        free(upd);
        if (ydoc_pending_structs(doc) || ydoc_pending_deletes(doc)) die("merge: still pending");
    }
    check_text(doc, &t, t.concurrent ? "merge" : "replay");

    uint8_t *enc;
    size_t enc_len;
    t0 = now_ms();
    check(ydoc_encode_state_as_update(doc, NULL, 0, &enc, &enc_len), "encode");
    encode_ms = now_ms() - t0;
    ydoc_free(doc);

    ydoc *loaded = new_doc(SEQ_CLIENT + 1);
    t0 = now_ms();
    check(ydoc_apply_update(loaded, enc, enc_len, NULL), "load: ydoc_apply_update");
    load_ms = now_ms() - t0;
    check_text(loaded, &t, "load");
    ydoc_free(loaded);

    FILE *f = fopen(out_path, "wb");
    if (!f || fwrite(enc, 1, enc_len, f) != enc_len || fclose(f) != 0)
        die("%s: cannot write", out_path);
    printf("{\"replay_ms\":%.3f,\"encode_ms\":%.3f,\"load_ms\":%.3f,\"merge_ms\":", replay_ms,
           encode_ms, load_ms);
    if (merge_ms < 0)
        printf("null");
    else
        printf("%.3f", merge_ms);
    size_t cur, peak;
    yalloc_stats(&cur, &peak);
    printf(",\"bytes\":%zu,\"updates\":%zu,\"update_bytes\":%zu,\"engine_peak\":%zu", enc_len,
           sink.updates, sink.bytes, peak);
    if (sink.hash) printf(",\"update_hash\":%u", (unsigned)sink.h);
    printf("}\n");
    yfree(enc);
    free_trace(&t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "convert")) return convert(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "run")) return run(argv[2], argv[3]);
    fprintf(stderr, "usage: crdt_bench convert TRACE.json.gz OUT.bin\n"
                    "       crdt_bench run TRACE.bin ENCODED.out\n");
    return 2;
}
