/*
 * test_docs.c - the open-document cache (src/server/docs.c) on a real
 * SQLite store: a broken document whose reload from the log fails keeps
 * its holders (a sync room's hold), so the cache never closes a document
 * that open connections use.
 */
#include "test.h"

#include "../../src/server/docs.c"
#include "../../src/server/stext.c"

#include <stdio.h>
#include <unistd.h>

static void mkid(char out[33], unsigned n) { snprintf(out, 33, "%032x", n); }

TEST(broken_doc_keeps_its_hold_when_the_reload_fails) {
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/vn-docs-XXXXXX");
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    store *st = NULL;
    char err[256];
    ASSERT_EQ_INT(store_open(dir, &st, err, sizeof(err)), STORE_OK);
    int64_t owner = 0;
    ASSERT_EQ_INT(store_user_create(st, "ada@example.org", "Ada", "hash", 1000, &owner), STORE_OK);
    char vault[33], doc[33];
    mkid(vault, 0xa1);
    mkid(doc, 0xd0c);
    ASSERT_EQ_INT(store_vault_create(st, vault, "Notes", owner, 2000), STORE_OK);
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
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ASSERT_EQ_INT(system(cmd), 0);
}
