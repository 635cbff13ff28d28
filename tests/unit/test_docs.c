/*
 * test_docs.c - the open-document cache (src/server/docs.c) on a real
 * SQLite store: a broken document whose reload from the log fails keeps
 * its holders (a sync room's hold), so the cache never closes a document
 * that open connections use; idle documents freeze (deflated, in slices)
 * and thaw to the same state; the search indexer reads a frozen note
 * without thawing it.
 */
#include "test.h"

#include "../../src/server/docs.c"
#include "../../src/server/metrics.c"
#include "../../src/server/stext.c"

#include <stdio.h>
#include <unistd.h>

static void mkid(char out[33], unsigned n) { snprintf(out, 33, "%032x", n); }

/* A fresh SQLite store in a temporary directory, with a user and one
 * vault (id mkid(vault_n)); with freezing_open, also a loop and a cache
 * on it that freezes documents idle for 20 ms, with metrics. */
typedef struct {
    char dir[64];
    store *st;
    char vault[33];
    uv_loop_t loop;
    vmetrics *m;
    vdocs *c; /* NULL: no loop or cache (fixture_open) */
} fixture;

static void fixture_open(fixture *f, unsigned vault_n) {
    f->c = NULL;
    f->m = NULL;
    snprintf(f->dir, sizeof(f->dir), "/tmp/vn-docs-XXXXXX");
    ASSERT_TRUE(mkdtemp(f->dir) != NULL);
    char err[256];
    f->st = NULL;
    ASSERT_EQ_INT(store_open(f->dir, &f->st, err, sizeof(err)), STORE_OK);
    int64_t owner = 0;
    ASSERT_EQ_INT(store_user_create(f->st, "ada@example.org", "Ada", "hash", 1000, &owner),
                  STORE_OK);
    mkid(f->vault, vault_n);
    ASSERT_EQ_INT(store_vault_create(f->st, f->vault, "Notes", owner, 2000), STORE_OK);
}

/* fixture_open, then a loop, metrics and a cache of max_docs documents
 * that freezes them after 20 ms idle. */
static void freezing_open(fixture *f, unsigned vault_n, size_t max_docs) {
    CHECK_HELPER(fixture_open(f, vault_n));
    ASSERT_EQ_INT(uv_loop_init(&f->loop), 0);
    f->m = vmetrics_new();
    ASSERT_TRUE(f->m != NULL);
    f->c = vdocs_new(f->st, max_docs, &f->loop, 0);
    ASSERT_TRUE(f->c != NULL);
    vdocs_set_metrics(f->c, f->m);
    vdocs_freeze_after(f->c, 20);
}

/* Frees the cache, metrics and loop if any, closes the store and deletes
 * its directory. */
static void fixture_close(fixture *f) {
    if (f->c != NULL) {
        vdocs_free(f->c);
        vmetrics_free(f->m);
        ASSERT_EQ_INT(uv_loop_close(&f->loop), 0);
    }
    store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    ASSERT_EQ_INT(system(cmd), 0);
}

TEST(broken_doc_keeps_its_hold_when_the_reload_fails) {
    fixture fx;
    CHECK_HELPER(fixture_open(&fx, 0xa1));
    store *st = fx.st;
    const char *vault = fx.vault;
    char doc[33];
    mkid(doc, 0xd0c);
    /* One good update in the note's log. */
    ydoc_options opt = {.gc = false};
    ydoc *src = ydoc_new(&opt);
    ytxn *tx = ydoc_begin(src, NULL);
    ASSERT_EQ_INT(ytext_insert(tx, ydoc_get(src, "content", YTYPE_TEXT), 0, "hi", 2, NULL, 0),
                  Y_OK);
    ASSERT_EQ_INT(ytxn_commit(tx), Y_OK);
    uint8_t *u = NULL;
    size_t ulen = 0;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(src, NULL, 0, &u, &ulen), Y_OK);
    ydoc_free(src);
    store_txn *t = store_txn_new();
    ASSERT_EQ_INT(store_txn_append_update(t, vault, doc, u, ulen), STORE_OK);
    ASSERT_EQ_INT(store_commit(st, t, NULL), STORE_OK);
    yfree(u);

    vdocs *c = vdocs_new(st, 4, NULL, 0);
    ASSERT_TRUE(c != NULL);
    vdoc *d = NULL;
    ASSERT_EQ_INT(vdocs_get(c, vault, doc, &d), STORE_OK);
    vdocs_hold(c, d); /* a sync room */
    /* A commit failed (broken), and the log now holds an update the engine
     * refuses, so the reload fails. */
    d->broken = true;
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    t = store_txn_new();
    ASSERT_EQ_INT(store_txn_append_update(t, vault, doc, junk, sizeof(junk)), STORE_OK);
    ASSERT_EQ_INT(store_commit(st, t, NULL), STORE_OK);
    vdoc *again = NULL;
    ASSERT_EQ_INT(vdocs_get(c, vault, doc, &again), STORE_EINVAL);
    /* The document is still open, still held and still broken. */
    vdoc *kept = vdocs_find(c, doc);
    ASSERT_TRUE(kept != NULL);
    ASSERT_EQ_INT(kept->holders, 1);
    ASSERT_TRUE(kept->broken);
    ASSERT_EQ_INT(vdocs_close(c, doc), -1); /* busy: held */
    ASSERT_EQ_UINT(c->held, 1);
    vdocs_release(c, doc);
    ASSERT_EQ_UINT(c->held, 0);
    ASSERT_EQ_INT(vdocs_close(c, doc), 0);
    ASSERT_TRUE(vdocs_find(c, doc) == NULL);
    vdocs_free(c);
    CHECK_HELPER(fixture_close(&fx));
}

/* Runs `loop` for about `ms` milliseconds (the cache's timer is unref'd, so
 * a ref'd timer keeps the loop running). */
static void on_stop(uv_timer_t *t) { uv_stop(t->loop); }
static void run_for(uv_loop_t *loop, uint64_t ms) {
    uv_timer_t stop;
    uv_timer_init(loop, &stop);
    uv_timer_start(&stop, on_stop, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&stop, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* Inserts `s` at `at` in d's content (a local edit, as a REST PUT makes). */
static int edit(vdoc *d, size_t at, const char *s, size_t del) {
    ytxn *tx = vdocs_begin(d);
    if (tx == NULL) return Y_ERR_STATE;
    ytype *t = ydoc_get(d->doc, "content", YTYPE_TEXT);
    int rc =
        del > 0 ? ytext_delete(tx, t, at, del) : ytext_insert(tx, t, at, s, strlen(s), NULL, 0);
    int crc = ytxn_commit(tx);
    free(d->captured);
    d->captured = NULL;
    return rc != Y_OK ? rc : crc;
}

TEST(an_idle_held_doc_freezes_and_thaws_to_the_same_state) {
    fixture fx;
    CHECK_HELPER(freezing_open(&fx, 0xa2, 4));
    const char *vault = fx.vault;
    vdocs *c = fx.c;
    vmetrics *m = fx.m;
    uv_loop_t *loop = &fx.loop;
    char doc[33];
    mkid(doc, 0xf0f);

    vdoc *d = NULL;
    ASSERT_EQ_INT(vdocs_get(c, vault, doc, &d), STORE_OK);
    vdocs_hold(c, d); /* a sync room */
    ASSERT_EQ_INT(edit(d, 0, "Hello brave world", 0), Y_OK);
    uint8_t *snap = NULL; /* the text before the deletion: deleted content must survive */
    size_t snap_len = 0;
    ASSERT_EQ_INT(ydoc_snapshot(d->doc, &snap, &snap_len), Y_OK);
    ASSERT_EQ_INT(edit(d, 6, NULL, 6), Y_OK);

    /* Not while a commit is in flight. */
    vdocs_submitted(d);
    run_for(loop, 80);
    ASSERT_TRUE(d->doc != NULL);
    vdocs_answered(c, d, true);

    /* Not while a struct waits for a missing one: b's second insert
     * without its first. */
    ydoc_options bopt = {.has_client_id = true, .client_id = 7, .gc = false};
    ydoc *b = ydoc_new(&bopt);
    ASSERT_TRUE(b != NULL);
    uint8_t *sv0 = NULL, *u1 = NULL, *u2 = NULL, *sv1 = NULL;
    size_t sv0_len = 0, u1_len = 0, u2_len = 0, sv1_len = 0;
    ASSERT_EQ_INT(ydoc_encode_state_vector(b, &sv0, &sv0_len), Y_OK);
    ytxn *btx = ydoc_begin(b, NULL);
    ASSERT_EQ_INT(ytext_insert(btx, ydoc_get(b, "other", YTYPE_TEXT), 0, "x", 1, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytxn_commit(btx), Y_OK);
    ASSERT_EQ_INT(ydoc_encode_state_as_update(b, sv0, sv0_len, &u1, &u1_len), Y_OK);
    ASSERT_EQ_INT(ydoc_encode_state_vector(b, &sv1, &sv1_len), Y_OK);
    btx = ydoc_begin(b, NULL);
    ASSERT_EQ_INT(ytext_insert(btx, ydoc_get(b, "other", YTYPE_TEXT), 1, "y", 1, NULL, 0), Y_OK);
    ASSERT_EQ_INT(ytxn_commit(btx), Y_OK);
    ASSERT_EQ_INT(ydoc_encode_state_as_update(b, sv1, sv1_len, &u2, &u2_len), Y_OK);
    uint8_t *changed = NULL;
    size_t clen = 0;
    ASSERT_EQ_INT(vdocs_apply_remote(d, u2, u2_len, &changed, &clen), Y_OK);
    free(changed);
    ASSERT_TRUE(ydoc_pending_structs(d->doc) > 0);
    run_for(loop, 80);
    ASSERT_TRUE(d->doc != NULL);
    ASSERT_EQ_INT(vdocs_apply_remote(d, u1, u1_len, &changed, &clen), Y_OK);
    free(changed);
    ASSERT_EQ_UINT(ydoc_pending_structs(d->doc), 0);

    uint8_t *state = NULL;
    size_t state_len = 0;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(d->doc, NULL, 0, &state, &state_len), Y_OK);
    uint64_t version = d->version;

    /* Left alone, it freezes: only its update is kept. */
    run_for(loop, 100);
    ASSERT_TRUE(d->doc == NULL);
    size_t bytes = 0;
    ASSERT_EQ_UINT(vdocs_frozen(c, &bytes), 1);
    ASSERT_EQ_UINT(bytes, d->frozen_len);
    ASSERT_TRUE(d->frozen_raw == 0 ? d->frozen_len == state_len : d->frozen_len < state_len);
    ASSERT_EQ_UINT(vdocs_count(c), 1);
    ASSERT_EQ_UINT(vdocs_pending_structs(c), 0);
    /* Edits on a frozen vdoc (without vdocs_get) are refused, not crashes. */
    ASSERT_TRUE(vdocs_begin(d) == NULL);
    ASSERT_EQ_INT(vdocs_apply_remote(d, u1, u1_len, &changed, &clen), Y_ERR_STATE);
    ASSERT_TRUE(changed == NULL);
    ASSERT_EQ_INT(vdocs_apply(d, u1, u1_len), Y_ERR_STATE);

    /* A thaw that fails (its bytes cut short) leaves it frozen and
     * unchanged. */
    size_t frozen_len = d->frozen_len;
    d->frozen_len = 1;
    vdoc *again = NULL;
    ASSERT_EQ_INT(vdocs_get(c, vault, doc, &again), STORE_EINVAL);
    ASSERT_TRUE(d->doc == NULL && d->frozen != NULL);
    ASSERT_EQ_UINT(vdocs_frozen(c, NULL), 1);
    d->frozen_len = frozen_len;

    /* vdocs_get thaws it: the same state, version and deleted content. */
    ASSERT_EQ_INT(vdocs_get(c, vault, doc, &again), STORE_OK);
    ASSERT_TRUE(again == d && d->doc != NULL && d->frozen == NULL);
    ASSERT_EQ_UINT(vdocs_frozen(c, &bytes), 0);
    ASSERT_EQ_UINT(bytes, 0);
    ASSERT_EQ_UINT(d->version, version);
    uint8_t *state2 = NULL;
    size_t state2_len = 0;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(d->doc, NULL, 0, &state2, &state2_len), Y_OK);
    ASSERT_EQ_MEM(state2, state2_len, state, state_len);
    char *text = NULL;
    size_t len = 0;
    ytype *content = ydoc_get(d->doc, "content", YTYPE_TEXT);
    ASSERT_EQ_INT(ytext_string_at(content, snap, snap_len, &text, &len), Y_OK);
    ASSERT_EQ_STR(text, "Hello brave world");
    yfree(text);
    ASSERT_EQ_INT(ytext_string(content, &text, &len), Y_OK);
    ASSERT_EQ_STR(text, "Hello world");
    yfree(text);
    /* Its update observer is back: a local edit gives its update. */
    ytxn *tx = vdocs_begin(d);
    ASSERT_TRUE(tx != NULL);
    ASSERT_EQ_INT(ytext_insert(tx, content, 11, "!", 1, NULL, 0), Y_OK);
    uint8_t *u = NULL;
    size_t ulen = 0;
    ASSERT_EQ_INT(vdocs_commit(d, tx, &u, &ulen), Y_OK);
    ASSERT_TRUE(u != NULL && ulen > 0);
    free(u);
    ASSERT_EQ_UINT(d->version, version + 1);
    char *metrics = vmetrics_render(m);
    ASSERT_TRUE(metrics != NULL);
    ASSERT_TRUE(strstr(metrics, "vault_docs_freezes_total 1\n") != NULL);
    ASSERT_TRUE(strstr(metrics, "vault_docs_thaws_total 1\n") != NULL);
    free(metrics);

    /* Frozen again, then closed: nothing is left counted. */
    run_for(loop, 100);
    ASSERT_TRUE(d->doc == NULL);
    vdocs_release(c, doc);
    ASSERT_EQ_INT(vdocs_close(c, doc), 0);
    ASSERT_EQ_UINT(vdocs_frozen(c, &bytes), 0);
    ASSERT_EQ_UINT(bytes, 0);
    ASSERT_EQ_UINT(vdocs_count(c), 0);

    yfree(state);
    yfree(state2);
    yfree(snap);
    yfree(sv0);
    yfree(sv1);
    yfree(u1);
    yfree(u2);
    ydoc_free(b);
    CHECK_HELPER(fixture_close(&fx));
}

/* A sweep works in slices (SWEEP_SLICE_NS) and goes on where it stopped:
 * with slices too short for more than one document, every document still
 * freezes. */
TEST(a_sweep_in_slices_freezes_every_document) {
    fixture fx;
    CHECK_HELPER(freezing_open(&fx, 0xa3, 64));
    const char *vault = fx.vault;
    vdocs *c = fx.c;
    uv_loop_t *loop = &fx.loop;
    c->slice_ns = 0; /* one document per slice */
    enum { N = 12 };
    for (unsigned i = 0; i < N; i++) {
        char id[33];
        mkid(id, 0x100 + i);
        vdoc *d = NULL;
        ASSERT_EQ_INT(vdocs_get(c, vault, id, &d), STORE_OK);
        vdocs_hold(c, d);
        ASSERT_EQ_INT(edit(d, 0, "some text", 0), Y_OK);
    }
    run_for(loop, 300);
    ASSERT_EQ_UINT(vdocs_frozen(c, NULL), N);
    for (unsigned i = 0; i < N; i++) {
        char id[33];
        mkid(id, 0x100 + i);
        vdoc *d = NULL;
        ASSERT_EQ_INT(vdocs_get(c, vault, id, &d), STORE_OK);
        char *text = NULL;
        size_t len = 0;
        ASSERT_EQ_INT(ytext_string(ydoc_get(d->doc, "content", YTYPE_TEXT), &text, &len), Y_OK);
        ASSERT_EQ_STR(text, "some text");
        yfree(text);
    }
    ASSERT_EQ_UINT(vdocs_frozen(c, NULL), 0);
    CHECK_HELPER(fixture_close(&fx));
}

/* A note of a few KB is kept deflated (its update holds text, which
 * compresses), and thaws to the same bytes. */
TEST(a_frozen_note_is_kept_deflated) {
    fixture fx;
    CHECK_HELPER(freezing_open(&fx, 0xa4, 4));
    const char *vault = fx.vault;
    vdocs *c = fx.c;
    uv_loop_t *loop = &fx.loop;
    char doc[33];
    mkid(doc, 0x200);
    vdoc *d = NULL;
    ASSERT_EQ_INT(vdocs_get(c, vault, doc, &d), STORE_OK);
    vdocs_hold(c, d);
    static const char *const words[] = {"the ",  "note ", "keeps ", "growing ", "while ", "we ",
                                        "type ", "into ", "it, ",   "word ",    "by ",    "word. "};
    size_t at = 0;
    for (int i = 0; i < 300; i++) {
        const char *w = words[(i * 7) % 12];
        ASSERT_EQ_INT(edit(d, at / 2, w, 0), Y_OK); /* here and there, like a writer */
        at += strlen(w);
        if (i % 10 == 9) ASSERT_EQ_INT(edit(d, at / 3, NULL, 3), Y_OK);
        if (i % 10 == 9) at -= 3;
    }
    uint8_t *state = NULL;
    size_t state_len = 0;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(d->doc, NULL, 0, &state, &state_len), Y_OK);
    run_for(loop, 100);
    ASSERT_TRUE(d->doc == NULL);
    ASSERT_EQ_UINT(d->frozen_raw, state_len);
    ASSERT_TRUE(d->frozen_len < state_len / 2);
    size_t bytes = 0;
    ASSERT_EQ_UINT(vdocs_frozen(c, &bytes), 1);
    ASSERT_EQ_UINT(bytes, d->frozen_len);
    vdoc *again = NULL;
    ASSERT_EQ_INT(vdocs_get(c, vault, doc, &again), STORE_OK);
    ASSERT_TRUE(again == d && d->doc != NULL && d->frozen == NULL && d->frozen_raw == 0);
    uint8_t *state2 = NULL;
    size_t state2_len = 0;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(d->doc, NULL, 0, &state2, &state2_len), Y_OK);
    ASSERT_EQ_MEM(state2, state2_len, state, state_len);
    yfree(state);
    yfree(state2);
    CHECK_HELPER(fixture_close(&fx));
}

/* The search indexer's question (text_of, stext.h) about a frozen note is
 * answered from a private copy: the note's text, and the note stays
 * frozen (no thaw). */
TEST(the_indexer_reads_a_frozen_note_without_thawing_it) {
    fixture fx;
    CHECK_HELPER(freezing_open(&fx, 0xa5, 4));
    store *st = fx.st;
    const char *vault = fx.vault;
    vdocs *c = fx.c;
    vmetrics *m = fx.m;
    uv_loop_t *loop = &fx.loop;
    char doc[33];
    mkid(doc, 0x300);
    vdoc *d = NULL;
    ASSERT_EQ_INT(vdocs_get(c, vault, doc, &d), STORE_OK);
    vdocs_hold(c, d);
    ASSERT_EQ_INT(edit(d, 0, "# Plans\nwords typed and kept, words typed and kept", 0), Y_OK);
    ASSERT_EQ_INT(edit(d, 8, NULL, 6), Y_OK); /* "words " deleted */
    /* The edits reach the log as one update, as this process's commit. */
    uint8_t *u = NULL;
    size_t ulen = 0;
    ASSERT_EQ_INT(ydoc_encode_state_as_update(d->doc, NULL, 0, &u, &ulen), Y_OK);
    store_txn *t = store_txn_new();
    ASSERT_EQ_INT(store_txn_append_update(t, vault, doc, u, ulen), STORE_OK);
    store_result res;
    ASSERT_EQ_INT(store_commit(st, t, &res), STORE_OK);
    vdocs_committed(d, res.vault_seq);
    run_for(loop, 100);
    ASSERT_TRUE(d->doc == NULL);
    char *md = NULL;
    size_t len = 0;
    int64_t seq = 0;
    ASSERT_EQ_INT(text_of(c, doc, &md, &len, &seq), STEXT_TEXT);
    ASSERT_EQ_STR(md, "# Plans\ntyped and kept, words typed and kept");
    ASSERT_EQ_UINT(len, strlen(md));
    ASSERT_EQ_INT(seq, res.vault_seq);
    yfree(md);
    ASSERT_TRUE(d->doc == NULL); /* still frozen */
    /* Another writer's row after it: the copy may lack it, so no text. */
    t = store_txn_new();
    ASSERT_EQ_INT(store_txn_append_update(t, vault, doc, u, ulen), STORE_OK);
    ASSERT_EQ_INT(store_commit(st, t, NULL), STORE_OK);
    yfree(u);
    md = NULL;
    ASSERT_EQ_INT(text_of(c, doc, &md, &len, &seq), STEXT_NONE);
    ASSERT_TRUE(md == NULL);
    char *metrics = vmetrics_render(m);
    ASSERT_TRUE(metrics != NULL);
    ASSERT_TRUE(strstr(metrics, "vault_docs_thaws_total 0\n") != NULL);
    free(metrics);
    CHECK_HELPER(fixture_close(&fx));
}
