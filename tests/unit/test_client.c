/*
 * test_client.c - unit tests of vn's folder and index modules (src/client/folder.c,
 * src/client/vindex.c, included here: they need only libc and the CRDT engine):
 * the names of two notes at one path, index edits read back, the folder listing, and
 * writes that refuse to clobber a file that changed.
 */
#include "test.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/client/folder.c"
#include "../../src/client/vindex.c"

static vindex_entry entry(const char *id, const char *path, int64_t created, int64_t trashed,
                          bool note) {
    vindex_entry e = {.is_note = note, .created = created, .trashed = trashed};
    snprintf(e.id, sizeof(e.id), "%s", id);
    e.path = strdup(path);
    return e;
}

TEST(same_path_notes_get_deterministic_suffixes) {
    vindex_entry e[8] = {
        entry("0000000000000000000000000000000a", "/Plan.md", 5, 0, true),
        entry("1111111111111111111111111111111b", "/Plan.md", 3, 0, true),
        entry("2222222222222222222222222222222c", "/Plan.md", 3, 0, true),
        entry("3333333333333333333333333333333d", "/Old.md", 1, 99, true),    /* trashed */
        entry("4444444444444444444444444444444e", "/pic.png", 1, 0, false),   /* a file */
        entry("5555555555555555555555555555555f", "/.obsidian/x.md", 1, 0, true),
        entry("66666666666666666666666666666660", "/a/.env", 1, 0, true),
        entry("77777777777777777777777777777771", "/a/b.tar.gz", 1, 0, true),
    };
    ASSERT_EQ_INT(vindex_assign(e, 8), 0);
    ASSERT_EQ_STR(e[1].lpath, "Plan.md"); /* created first; ties: the smaller id */
    ASSERT_EQ_STR(e[2].lpath, "Plan (22222222).md");
    ASSERT_EQ_STR(e[0].lpath, "Plan (00000000).md");
    ASSERT_TRUE(e[3].lpath == NULL);
    ASSERT_TRUE(e[4].lpath == NULL);
    ASSERT_TRUE(e[5].lpath == NULL); /* a hidden segment never reaches the folder */
    ASSERT_TRUE(e[6].lpath == NULL);
    ASSERT_EQ_STR(e[7].lpath, "a/b.tar.gz");
    for (int i = 0; i < 8; i++) {
        free(e[i].path);
        free(e[i].lpath);
    }
}

TEST(suffix_goes_before_the_extension) {
    char *s = suffixed("a/b.tar.gz", "0123456789abcdef0123456789abcdef");
    ASSERT_EQ_STR(s, "a/b.tar (01234567).gz");
    free(s);
    s = suffixed("x/.env", "0123456789abcdef0123456789abcdef");
    ASSERT_EQ_STR(s, "x/.env (01234567)");
    free(s);
    s = suffixed("README", "0123456789abcdef0123456789abcdef");
    ASSERT_EQ_STR(s, "README (01234567)");
    free(s);
}

TEST(index_edits_read_back) {
    ydoc *d = ydoc_new(NULL);
    ytxn *tx = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(vindex_create(tx, d, "0123456789abcdef0123456789abcdef", "/A.md", 1000), Y_OK);
    ASSERT_EQ_INT(vindex_create(tx, d, "fedcba9876543210fedcba9876543210", "/B.md", 2000), Y_OK);
    ytxn_commit(tx);
    tx = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(vindex_set_path(tx, d, "0123456789abcdef0123456789abcdef", "/Z/A.md"), Y_OK);
    ASSERT_EQ_INT(vindex_trash(tx, d, "fedcba9876543210fedcba9876543210", 3000), Y_OK);
    ASSERT_EQ_INT(vindex_set_path(tx, d, "00000000000000000000000000000000", "/x.md"),
                  Y_ERR_RANGE);
    ytxn_commit(tx);
    vindex_entry *e = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(vindex_list(d, &e, &n), 0);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_STR(e[0].path, "/Z/A.md");
    ASSERT_TRUE(e[0].is_note);
    ASSERT_EQ_INT(e[0].created, 1000);
    ASSERT_EQ_INT(e[1].trashed, 3000);
    ASSERT_TRUE(vindex_find(e, n, "fedcba9876543210fedcba9876543210") == &e[1]);
    vindex_free(e, n);
    tx = ydoc_begin(d, NULL);
    ASSERT_EQ_INT(vindex_untrash(tx, d, "fedcba9876543210fedcba9876543210"), Y_OK);
    ytxn_commit(tx);
    ASSERT_EQ_INT(vindex_list(d, &e, &n), 0);
    ASSERT_EQ_INT(e[1].trashed, 0);
    vindex_free(e, n);
    ydoc_free(d);
}

static char dir[64];

static void mkroot(void) {
    snprintf(dir, sizeof(dir), "/tmp/vn-test-client-XXXXXX");
    if (mkdtemp(dir) == NULL) abort();
}

static void put(const char *rel, const char *text) {
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static void rmroot(void) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

TEST(listing_skips_hidden_names_and_links) {
    mkroot();
    char p[256];
    snprintf(p, sizeof(p), "%s/sub", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/.vault", dir);
    mkdir(p, 0755);
    put("b.md", "b");
    put("sub/a.md", "a");
    put(".vault/x", "x");
    put(".hidden.md", "h");
    snprintf(p, sizeof(p), "%s/link.md", dir);
    symlink("b.md", p);
    folder_entry *e = NULL;
    size_t n = 0;
    char err[256];
    ASSERT_EQ_INT(folder_list(dir, &e, &n, NULL, NULL, err, sizeof(err)), 0);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_STR(e[0].lpath, "b.md");
    ASSERT_EQ_STR(e[1].lpath, "sub/a.md");
    ASSERT_EQ_INT(e[0].size, 1);
    folder_entries_free(e, n);
    rmroot();
}

TEST(writes_never_clobber_a_changed_file) {
    mkroot();
    folder_entry st;
    folder_expect none = {.exists = false};
    ASSERT_EQ_INT(folder_write(dir, "d/new.md", "one", 3, &none, false, &st), FOLDER_OK);
    folder_expect seen = {.exists = true, .size = st.size, .mtime_ns = st.mtime_ns,
                          .ino = st.ino, .hash = folder_hash("one", 3)};
    /* a second create at a taken path is refused */
    ASSERT_EQ_INT(folder_write(dir, "d/new.md", "two", 3, &none, false, &st), FOLDER_CHANGED);
    /* the user edits the file (another size): the write is refused, the edit stays */
    put("d/new.md", "edited by the user");
    ASSERT_EQ_INT(folder_write(dir, "d/new.md", "two", 3, &seen, false, &st), FOLDER_CHANGED);
    char *data = NULL;
    size_t len = 0;
    folder_entry cur;
    ASSERT_EQ_INT(folder_read(dir, "d/new.md", 1000, &data, &len, &cur), 0);
    ASSERT_EQ_STR(data, "edited by the user");
    free(data);
    /* what vn saw now: the write goes through, atomically */
    folder_expect now = {.exists = true, .size = cur.size, .mtime_ns = cur.mtime_ns,
                         .ino = cur.ino, .hash = folder_hash("edited by the user", 18)};
    ASSERT_EQ_INT(folder_write(dir, "d/new.md", "merged", 6, &now, false, &st), FOLDER_OK);
    ASSERT_EQ_INT(folder_read(dir, "d/new.md", 1000, &data, &len, &cur), 0);
    ASSERT_EQ_STR(data, "merged");
    free(data);
    /* a file that is larger than the limit is reported, not read */
    ASSERT_EQ_INT(folder_read(dir, "d/new.md", 3, &data, &len, &cur), 1);
    /* removal checks too, then prunes the empty folder */
    ASSERT_EQ_INT(folder_remove(dir, "d/new.md", &now), FOLDER_CHANGED);
    folder_expect last = {.exists = true, .size = st.size, .mtime_ns = st.mtime_ns,
                          .ino = st.ino, .hash = folder_hash("merged", 6)};
    ASSERT_EQ_INT(folder_remove(dir, "d/new.md", &last), FOLDER_OK);
    char p[256];
    snprintf(p, sizeof(p), "%s/d", dir);
    ASSERT_TRUE(access(p, F_OK) != 0);
    rmroot();
}
