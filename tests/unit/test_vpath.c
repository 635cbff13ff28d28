/*
 * test_vpath.c - unit tests of src/util/vpath (vault path rules and titles).
 *
 * One test per rule of vpath.h, each with the edge on both sides (what just
 * passes and what just fails), then normalization, prefixes, rebase and
 * titles from Markdown.
 */
#include "test.h"

#include "util/vpath.h"

#include <stdbool.h>

#define S(lit) (lit), (sizeof(lit) - 1) /* a string literal and its length in bytes */

/* Expects vpath_validate(path, kind) to return `want` with the problem at
 * byte `want_at` (ignored when want is VPATH_OK). */
static void expect_valid(const char *path, size_t len, vpath_kind kind, vpath_err want,
                         size_t want_at) {
    size_t at = 12345;
    vpath_err rc = vpath_validate(path, len, kind, &at);
    if (rc != want) fprintf(stderr, "  path \"%.*s\"\n", (int)len, path ? path : "");
    ASSERT_EQ_INT(rc, want);
    ASSERT_EQ_UINT(at, want == VPATH_OK ? 0 : want_at);
    ASSERT_EQ_INT(vpath_validate(path, len, kind, NULL), want);
}

#define VALID(lit)          CHECK_HELPER(expect_valid(S(lit), VPATH_FILE, VPATH_OK, 0))
#define INVALID(lit, e, at) CHECK_HELPER(expect_valid(S(lit), VPATH_FILE, (e), (at)))

/* A path of exactly `len` bytes: "/" then segments of up to 200 'x' (or
 * `fill` for the last one), in a static buffer. */
static char *long_path(size_t len) {
    static char buf[4096];
    size_t i = 0;
    while (i < len) {
        buf[i++] = '/';
        for (size_t k = 0; k < 200 && i < len; k++) buf[i++] = 'x';
        if (i == len - 1) buf[i - 1] = 'y', buf[i++] = 'z'; /* never end on a '/' */
    }
    buf[len] = '\0';
    return buf;
}

/* ---- the rules ----------------------------------------------------------- */

TEST(ordinary_paths_are_valid) {
    VALID("/a");
    VALID("/Projects/Q1/Design.md");
    VALID("/Meeting notes/2026 Q1 plan.md"); /* spaces inside names */
    VALID("/.obsidian/app.json");            /* hidden names */
    VALID("/a/.../b");                       /* only "." and ".." are special */
    VALID("/a/..b/b..");
    VALID("/notes/#tag & 100% (draft) [1]{2}~!@$^=+,;'`.md");
    VALID("/a:b/c*d?<e>|\"f\".md"); /* Windows-only restrictions are not ours */
}

TEST(unicode_names_are_valid) {
    VALID("/Caf\xC3\xA9/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E/\xF0\x9F\x98\x80.md");
    VALID("/\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D/\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7.md");
    VALID("/a\xC2\xA0z");       /* U+00A0 no-break space is not a control character */
    VALID("/Cafe\xCC\x81.md");  /* NFD is accepted as is: no normalization */
    VALID("/\xF4\x8F\xBF\xBF"); /* U+10FFFF, the last code point */
}

TEST(empty_and_null) {
    CHECK_HELPER(expect_valid("", 0, VPATH_FILE, VPATH_ERR_EMPTY, 0));
    CHECK_HELPER(expect_valid(NULL, 0, VPATH_FOLDER, VPATH_ERR_EMPTY, 0));
    CHECK_HELPER(expect_valid(NULL, 3, VPATH_FILE, VPATH_ERR_INVALID, 0));
}

TEST(paths_must_be_absolute) {
    INVALID("a", VPATH_ERR_RELATIVE, 0);
    INVALID("Projects/Design.md", VPATH_ERR_RELATIVE, 0);
    INVALID(" /a", VPATH_ERR_RELATIVE, 0);
    INVALID("\\a", VPATH_ERR_RELATIVE, 0);
}

TEST(root_is_a_folder_not_a_file) {
    INVALID("/", VPATH_ERR_ROOT, 0);
    CHECK_HELPER(expect_valid(S("/"), VPATH_FOLDER, VPATH_OK, 0));
    CHECK_HELPER(expect_valid(S("/Projects"), VPATH_FOLDER, VPATH_OK, 0));
}

TEST(no_empty_segments) {
    INVALID("//a", VPATH_ERR_EMPTY_SEGMENT, 1);
    INVALID("/a//b", VPATH_ERR_EMPTY_SEGMENT, 3);
    INVALID("/a///b", VPATH_ERR_EMPTY_SEGMENT, 3);
    INVALID("//", VPATH_ERR_EMPTY_SEGMENT, 1);
}

TEST(no_trailing_slash) {
    INVALID("/a/", VPATH_ERR_TRAILING_SLASH, 2);
    INVALID("/a/b.md/", VPATH_ERR_TRAILING_SLASH, 7);
    CHECK_HELPER(expect_valid(S("/a/"), VPATH_FOLDER, VPATH_ERR_TRAILING_SLASH, 2));
}

TEST(no_dot_segments) {
    INVALID("/.", VPATH_ERR_DOT_SEGMENT, 1);
    INVALID("/..", VPATH_ERR_DOT_SEGMENT, 1);
    INVALID("/./a", VPATH_ERR_DOT_SEGMENT, 1);
    INVALID("/a/./b", VPATH_ERR_DOT_SEGMENT, 3);
    INVALID("/a/../b", VPATH_ERR_DOT_SEGMENT, 3);
    INVALID("/a/b/..", VPATH_ERR_DOT_SEGMENT, 5);
    CHECK_HELPER(expect_valid(S("/a/.."), VPATH_FOLDER, VPATH_ERR_DOT_SEGMENT, 3));
}

TEST(no_control_characters) {
    INVALID("/a\tb", VPATH_ERR_CONTROL, 2);
    INVALID("/a\nb", VPATH_ERR_CONTROL, 2);
    INVALID("/a\rb", VPATH_ERR_CONTROL, 2);
    INVALID("/\x1f", VPATH_ERR_CONTROL, 1);
    INVALID("/ok/\x7f", VPATH_ERR_CONTROL, 4);
    INVALID("/a\xC2\x80", VPATH_ERR_CONTROL, 2);  /* U+0080 */
    INVALID("/a\xC2\x85z", VPATH_ERR_CONTROL, 2); /* U+0085 next line */
    INVALID("/a\xC2\x9F", VPATH_ERR_CONTROL, 2);  /* U+009F */
    VALID("/a\xC2\xA1");                          /* U+00A1, just past them */
    VALID("/a\x20z");                             /* U+0020, just past U+001F */
    VALID("/a~");                                 /* U+007E, just before U+007F */
    /* An embedded NUL is a control character, not the end of the path. */
    CHECK_HELPER(expect_valid("/a\0b", 4, VPATH_FILE, VPATH_ERR_CONTROL, 2));
    CHECK_HELPER(expect_valid("/a\0", 3, VPATH_FILE, VPATH_ERR_CONTROL, 2));
}

TEST(no_backslash) {
    INVALID("/a\\b", VPATH_ERR_BACKSLASH, 2);
    INVALID("/a/\\", VPATH_ERR_BACKSLASH, 3);
}

TEST(only_valid_utf8) {
    INVALID("/a\xFF", VPATH_ERR_UTF8, 2);
    INVALID("/\x80", VPATH_ERR_UTF8, 1);             /* lone continuation byte */
    INVALID("/a\xE2\x82", VPATH_ERR_UTF8, 2);        /* truncated at the end */
    INVALID("/a\xE2\x82/b", VPATH_ERR_UTF8, 2);      /* truncated before a '/' */
    INVALID("/\xC0\xAF", VPATH_ERR_UTF8, 1);         /* overlong '/' */
    INVALID("/\xC1\x9C", VPATH_ERR_UTF8, 1);         /* overlong '\' */
    INVALID("/\xE0\x80\xAE", VPATH_ERR_UTF8, 1);     /* overlong '.' */
    INVALID("/\xED\xA0\x80", VPATH_ERR_UTF8, 1);     /* surrogate U+D800 */
    INVALID("/\xF4\x90\x80\x80", VPATH_ERR_UTF8, 1); /* U+110000 */
}

TEST(segments_neither_begin_nor_end_with_a_space) {
    INVALID("/ a", VPATH_ERR_SPACE, 1);
    INVALID("/a ", VPATH_ERR_SPACE, 2);
    INVALID("/a /b", VPATH_ERR_SPACE, 2);
    INVALID("/a/ b.md", VPATH_ERR_SPACE, 3);
    INVALID("/a/b.md ", VPATH_ERR_SPACE, 7);
    INVALID("/ ", VPATH_ERR_SPACE, 1);
    VALID("/a b/c d.md");
}

TEST(total_length_is_bounded) {
    char *p = long_path(VPATH_MAX_LEN);
    ASSERT_EQ_UINT(strlen(p), VPATH_MAX_LEN);
    CHECK_HELPER(expect_valid(p, VPATH_MAX_LEN, VPATH_FILE, VPATH_OK, 0));
    p = long_path(VPATH_MAX_LEN + 1);
    CHECK_HELPER(expect_valid(p, VPATH_MAX_LEN + 1, VPATH_FILE, VPATH_ERR_TOO_LONG, VPATH_MAX_LEN));
    /* The length is checked first: nothing past the limit is read. */
    p = long_path(3000);
    p[2000] = '\xFF';
    CHECK_HELPER(expect_valid(p, 3000, VPATH_FILE, VPATH_ERR_TOO_LONG, VPATH_MAX_LEN));
}

TEST(segment_length_is_bounded) {
    char buf[600];
    buf[0] = '/';
    memset(buf + 1, 'n', 255);
    CHECK_HELPER(expect_valid(buf, 256, VPATH_FILE, VPATH_OK, 0));
    memset(buf + 1, 'n', 256);
    CHECK_HELPER(expect_valid(buf, 257, VPATH_FILE, VPATH_ERR_SEGMENT_TOO_LONG, 1));
    /* Bytes, not characters: 85 three-byte characters fit, 86 do not. */
    size_t n = 0;
    buf[n++] = '/';
    buf[n++] = 'a';
    buf[n++] = '/';
    for (int i = 0; i < 85; i++) buf[n++] = '\xE2', buf[n++] = '\x82', buf[n++] = '\xAC';
    CHECK_HELPER(expect_valid(buf, n, VPATH_FILE, VPATH_OK, 0));
    buf[n++] = '\xE2', buf[n++] = '\x82', buf[n++] = '\xAC';
    CHECK_HELPER(expect_valid(buf, n, VPATH_FILE, VPATH_ERR_SEGMENT_TOO_LONG, 3));
}

TEST(the_first_problem_from_the_left_is_reported) {
    INVALID("/a\\b//", VPATH_ERR_BACKSLASH, 2);
    INVALID("/a//b\\", VPATH_ERR_EMPTY_SEGMENT, 3);
    INVALID("/../a\tb", VPATH_ERR_DOT_SEGMENT, 1);
    INVALID("/ x/\xFF", VPATH_ERR_SPACE, 1);
}

TEST(every_error_has_a_reason) {
    for (int e = VPATH_OK; e >= VPATH_ERR_NOT_UNDER; e--) {
        const char *why = vpath_strerror((vpath_err)e);
        ASSERT_TRUE(why != NULL && why[0] != '\0');
        for (int f = e + 1; f <= VPATH_OK; f++)
            ASSERT_TRUE(strcmp(why, vpath_strerror((vpath_err)f)) != 0);
    }
    ASSERT_TRUE(vpath_strerror((vpath_err)-99) != NULL);
}

/* ---- normalization ------------------------------------------------------- */

static void expect_norm(const char *in, size_t len, vpath_kind kind, vpath_err want,
                        const char *want_out, size_t want_at) {
    char *out = (char *)"unchanged";
    size_t at = 12345;
    vpath_err rc = vpath_normalize(in, len, kind, &out, &at);
    if (rc != want) fprintf(stderr, "  input \"%.*s\"\n", (int)len, in ? in : "");
    if (rc != VPATH_OK) {
        ASSERT_EQ_INT(rc, want);
        ASSERT_TRUE(out == NULL);
        ASSERT_EQ_UINT(at, want_at);
        return;
    }
    bool same = want == VPATH_OK && strcmp(out, want_out) == 0;
    if (!same) fprintf(stderr, "  got \"%s\"\n", out);
    free(out);
    ASSERT_EQ_INT(rc, want);
    ASSERT_TRUE(same);
    ASSERT_EQ_UINT(at, 0);
}

#define NORM(in, kind, out)       CHECK_HELPER(expect_norm(S(in), (kind), VPATH_OK, (out), 0))
#define NORM_ERR(in, kind, e, at) CHECK_HELPER(expect_norm(S(in), (kind), (e), NULL, (at)))

TEST(normalize_keeps_valid_paths) {
    NORM("/Projects/Q1/Design.md", VPATH_FILE, "/Projects/Q1/Design.md");
    NORM("/", VPATH_FOLDER, "/");
    NORM("/Projects", VPATH_FOLDER, "/Projects");
}

TEST(normalize_adds_the_leading_slash) {
    NORM("Projects/Q1/Design.md", VPATH_FILE, "/Projects/Q1/Design.md");
    NORM("a", VPATH_FILE, "/a");
    NORM("Projects", VPATH_FOLDER, "/Projects");
    NORM("Projects/", VPATH_FOLDER, "/Projects");
}

TEST(normalize_drops_one_trailing_slash_of_a_folder_only) {
    NORM("/Projects/", VPATH_FOLDER, "/Projects");
    NORM("/a/b/", VPATH_FOLDER, "/a/b");
    NORM_ERR("/a/b/", VPATH_FILE, VPATH_ERR_TRAILING_SLASH, 4);
    NORM_ERR("/a//", VPATH_FOLDER, VPATH_ERR_EMPTY_SEGMENT, 3);
    NORM_ERR("//", VPATH_FOLDER, VPATH_ERR_EMPTY_SEGMENT, 1);
}

TEST(normalize_rejects_rather_than_guesses) {
    NORM_ERR("", VPATH_FILE, VPATH_ERR_EMPTY, 0);
    NORM_ERR("", VPATH_FOLDER, VPATH_ERR_EMPTY, 0);
    NORM_ERR("/", VPATH_FILE, VPATH_ERR_ROOT, 0);
    NORM_ERR("/a//b", VPATH_FILE, VPATH_ERR_EMPTY_SEGMENT, 3);
    NORM_ERR("/a/./b", VPATH_FILE, VPATH_ERR_DOT_SEGMENT, 3);
    NORM_ERR("/a/../b", VPATH_FILE, VPATH_ERR_DOT_SEGMENT, 3);
    NORM_ERR("/a\\b", VPATH_FILE, VPATH_ERR_BACKSLASH, 2);
    NORM_ERR("/ a", VPATH_FILE, VPATH_ERR_SPACE, 1);
    /* Offsets are in the input, before the '/' was added. */
    NORM_ERR("a//b", VPATH_FILE, VPATH_ERR_EMPTY_SEGMENT, 2);
    NORM_ERR("./a", VPATH_FILE, VPATH_ERR_DOT_SEGMENT, 0);
    NORM_ERR("ab\tc", VPATH_FILE, VPATH_ERR_CONTROL, 2);
    CHECK_HELPER(expect_norm("/a\0", 3, VPATH_FILE, VPATH_ERR_CONTROL, NULL, 2));
}

TEST(normalize_checks_the_length_after_adding_the_slash) {
    char buf[VPATH_MAX_LEN + 2];
    memcpy(buf, long_path(VPATH_MAX_LEN), VPATH_MAX_LEN + 1);
    char *out = NULL;
    /* Without its leading '/', the path has 1023 bytes; normalized, 1024. */
    ASSERT_EQ_INT(vpath_normalize(buf + 1, VPATH_MAX_LEN - 1, VPATH_FILE, &out, NULL), VPATH_OK);
    ASSERT_EQ_STR(out, buf);
    free(out);
    memcpy(buf, long_path(VPATH_MAX_LEN + 1), VPATH_MAX_LEN + 2);
    ASSERT_EQ_INT(vpath_normalize(buf + 1, VPATH_MAX_LEN, VPATH_FILE, &out, NULL),
                  VPATH_ERR_TOO_LONG);
    ASSERT_TRUE(out == NULL);
    /* A folder's trailing '/' does not count. */
    memcpy(buf, long_path(VPATH_MAX_LEN), VPATH_MAX_LEN);
    buf[VPATH_MAX_LEN] = '/';
    ASSERT_EQ_INT(vpath_normalize(buf, VPATH_MAX_LEN + 1, VPATH_FOLDER, &out, NULL), VPATH_OK);
    ASSERT_EQ_UINT(strlen(out), VPATH_MAX_LEN);
    free(out);
    ASSERT_EQ_INT(vpath_normalize("/a", 2, VPATH_FILE, NULL, NULL), VPATH_ERR_INVALID);
    ASSERT_EQ_INT(vpath_normalize(NULL, 2, VPATH_FILE, &out, NULL), VPATH_ERR_INVALID);
}

/* ---- prefixes and rebase --------------------------------------------------- */

TEST(has_prefix_matches_whole_segments) {
    ASSERT_TRUE(vpath_has_prefix("/a/b", "/a"));
    ASSERT_TRUE(vpath_has_prefix("/a/b/c.md", "/a"));
    ASSERT_TRUE(vpath_has_prefix("/a/b/c.md", "/a/b"));
    ASSERT_FALSE(vpath_has_prefix("/ab", "/a"));
    ASSERT_FALSE(vpath_has_prefix("/ab/c", "/a"));
    ASSERT_FALSE(vpath_has_prefix("/a", "/a")); /* strictly inside */
    ASSERT_FALSE(vpath_has_prefix("/a", "/a/b"));
    ASSERT_FALSE(vpath_has_prefix("/b/a", "/a"));
    ASSERT_FALSE(vpath_has_prefix("/A/b", "/a")); /* case matters */
    ASSERT_TRUE(vpath_has_prefix("/Caf\xC3\xA9/x", "/Caf\xC3\xA9"));
    ASSERT_FALSE(vpath_has_prefix("/Caf\xC3\xA9s/x", "/Caf\xC3\xA9"));
    ASSERT_TRUE(vpath_has_prefix("/a", "/"));
    ASSERT_TRUE(vpath_has_prefix("/a/b", "/"));
    ASSERT_FALSE(vpath_has_prefix("/", "/"));
    ASSERT_FALSE(vpath_has_prefix(NULL, "/"));
    ASSERT_FALSE(vpath_has_prefix("/a", NULL));
}

static void expect_rebase(const char *path, const char *from, const char *to, vpath_err want,
                          const char *want_out) {
    char *out = (char *)"unchanged";
    vpath_err rc = vpath_rebase(path, from, to, &out);
    if (rc != VPATH_OK) {
        ASSERT_EQ_INT(rc, want);
        ASSERT_TRUE(out == NULL);
        return;
    }
    bool same = want == VPATH_OK && strcmp(out, want_out) == 0;
    if (!same) fprintf(stderr, "  got \"%s\"\n", out);
    free(out);
    ASSERT_EQ_INT(rc, want);
    ASSERT_TRUE(same);
}

#define REBASE(p, from, to, want)  CHECK_HELPER(expect_rebase((p), (from), (to), VPATH_OK, (want)))
#define REBASE_ERR(p, from, to, e) CHECK_HELPER(expect_rebase((p), (from), (to), (e), NULL))

TEST(rebase_moves_paths_between_folders) {
    REBASE("/a/b/c.md", "/a", "/x", "/x/b/c.md");
    REBASE("/a/b/c.md", "/a/b", "/x", "/x/c.md");
    REBASE("/a/b/c.md", "/a", "/x/y/z", "/x/y/z/b/c.md");
    REBASE("/Projects/Q1/Design.md", "/Projects", "/Archive/2026", "/Archive/2026/Q1/Design.md");
    REBASE("/a/b", "/a", "/a/sub", "/a/sub/b"); /* into itself: the caller decides */
    ASSERT_TRUE(vpath_has_prefix("/a/sub", "/a"));
    REBASE("/\xF0\x9F\x98\x80/n.md", "/\xF0\x9F\x98\x80", "/\xE6\x97\xA5", "/\xE6\x97\xA5/n.md");
}

TEST(rebase_from_and_to_the_root) {
    REBASE("/a.md", "/", "/x", "/x/a.md");
    REBASE("/a/b.md", "/", "/x", "/x/a/b.md");
    REBASE("/x/a.md", "/x", "/", "/a.md");
    REBASE("/x/y/a.md", "/x", "/", "/y/a.md");
    REBASE("/a.md", "/", "/", "/a.md");
}

TEST(rebase_refuses_paths_outside_the_folder) {
    REBASE_ERR("/ab/c.md", "/a", "/x", VPATH_ERR_NOT_UNDER);
    REBASE_ERR("/a", "/a", "/x", VPATH_ERR_NOT_UNDER);
    REBASE_ERR("/b/c", "/a", "/x", VPATH_ERR_NOT_UNDER);
    REBASE_ERR("/", "/", "/x", VPATH_ERR_NOT_UNDER);
}

TEST(rebase_refuses_invalid_arguments) {
    REBASE_ERR("/a//b", "/a", "/x", VPATH_ERR_EMPTY_SEGMENT);
    REBASE_ERR("/a/b", "/a/", "/x", VPATH_ERR_TRAILING_SLASH);
    REBASE_ERR("/a/b", "/a", "x", VPATH_ERR_RELATIVE);
    REBASE_ERR("/a/b", "/a", "/x/..", VPATH_ERR_DOT_SEGMENT);
    REBASE_ERR("/a/b", "/a", "", VPATH_ERR_EMPTY);
    REBASE_ERR(NULL, "/a", "/x", VPATH_ERR_INVALID);
    REBASE_ERR("/a/b", NULL, "/x", VPATH_ERR_INVALID);
    REBASE_ERR("/a/b", "/a", NULL, VPATH_ERR_INVALID);
    ASSERT_EQ_INT(vpath_rebase("/a/b", "/a", "/x", NULL), VPATH_ERR_INVALID);
}

TEST(rebase_refuses_a_result_that_is_too_long) {
    static char path[VPATH_MAX_LEN + 8], to[VPATH_MAX_LEN + 8];
    memcpy(path, "/a", 2);
    memcpy(path + 2, long_path(VPATH_MAX_LEN - 2), VPATH_MAX_LEN - 1); /* 1024 bytes in all */
    ASSERT_EQ_UINT(strlen(path), VPATH_MAX_LEN);
    REBASE_ERR(path, "/a", "/xy", VPATH_ERR_TOO_LONG); /* one byte too many */
    char *out = NULL;
    ASSERT_EQ_INT(vpath_rebase(path, "/a", "/x", &out), VPATH_OK); /* exactly the limit */
    ASSERT_EQ_UINT(strlen(out), VPATH_MAX_LEN);
    free(out);
    memcpy(to, long_path(600), 601);
    memcpy(path, long_path(600), 601);
    REBASE_ERR(path, "/", to, VPATH_ERR_TOO_LONG);
}

/* ---- names and titles ------------------------------------------------------ */

TEST(basename_and_title_from_name) {
    ASSERT_EQ_STR(vpath_basename("/Projects/Q1/Design.md"), "Design.md");
    ASSERT_EQ_STR(vpath_basename("/a"), "a");
    ASSERT_EQ_STR(vpath_basename("/"), "");
    const char *p = "/x/y.md";
    ASSERT_TRUE(vpath_basename(p) == p + 3); /* borrowed */
    ASSERT_EQ_UINT(vpath_title_from_name("Design.md"), 6);
    ASSERT_EQ_UINT(vpath_title_from_name("a.tar.gz"), 5);
    ASSERT_EQ_UINT(vpath_title_from_name(".env"), 4);
    ASSERT_EQ_UINT(vpath_title_from_name("Notes."), 6);
    ASSERT_EQ_UINT(vpath_title_from_name("README"), 6);
    ASSERT_EQ_UINT(vpath_title_from_name("x.md"), 1);
    ASSERT_EQ_UINT(vpath_title_from_name("Caf\xC3\xA9.md"), 5);
    ASSERT_EQ_UINT(vpath_title_from_name(""), 0);
    ASSERT_EQ_UINT(vpath_title_from_name(NULL), 0);
}

static void expect_title(const char *md, size_t len, const char *path, const char *want) {
    char *out = NULL;
    vpath_err rc = vpath_title(md, len, path, &out);
    ASSERT_EQ_INT(rc, VPATH_OK);
    bool same = strcmp(out, want) == 0;
    if (!same) {
        fprintf(stderr, "  markdown \"%.*s\"\n", (int)len, md ? md : "");
        fprintf(stderr, "  got \"%s\", expected \"%s\"\n", out, want);
    }
    free(out);
    ASSERT_TRUE(same);
}

/* The title of `md` in the file /notes/Design.md. */
#define TITLE(md, want) CHECK_HELPER(expect_title(S(md), "/notes/Design.md", (want)))

TEST(title_is_the_first_atx_heading) {
    TITLE("# Title\nbody", "Title");
    TITLE("intro\n\n## Sub\n# Top", "Sub"); /* the first heading, any level */
    TITLE("###### Six", "Six");
    TITLE("#\tTabbed", "Tabbed");
    TITLE("#   Spaced   ", "Spaced");
    TITLE("   # Three spaces", "Three spaces");
    TITLE("# Caf\xC3\xA9 \xF0\x9F\x98\x80", "Caf\xC3\xA9 \xF0\x9F\x98\x80");
    TITLE("# **Bold** and `code`", "**Bold** and `code`"); /* inline Markdown kept */
    TITLE("# Last line without newline", "Last line without newline");
}

TEST(title_strips_the_closing_hashes) {
    TITLE("# Title #", "Title");
    TITLE("## Title ##########   ", "Title");
    TITLE("# C#", "C#");
    TITLE("# Title#", "Title#");
    TITLE("# Title \\#", "Title \\#");
    TITLE("# a # b", "a # b");
    TITLE("#\t#tag\t#", "#tag");
}

TEST(title_skips_what_is_not_a_heading) {
    TITLE("#Title", "Design");                /* no space after '#' */
    TITLE("####### Seven", "Design");         /* more than 6 */
    TITLE("    # Indented code", "Design");   /* 4 spaces: code */
    TITLE("\t# Tab-indented code", "Design"); /* a tab is 4 columns */
    TITLE("> # Quoted", "Design");            /* block quotes are not parsed */
    TITLE("Setext\n======", "Design");        /* setext headings are not used */
    TITLE("text # not a heading", "Design");
    TITLE("", "Design");
    CHECK_HELPER(expect_title(NULL, 0, "/notes/Design.md", "Design"));
}

TEST(title_skips_empty_headings) {
    TITLE("#\n# Real", "Real");
    TITLE("# #\n## Real", "Real");
    TITLE("#    \n# Real", "Real");
    TITLE("###\n", "Design");
}

TEST(title_ignores_fenced_code) {
    TITLE("```\n# not a title\n```\n# Real", "Real");
    TITLE("```c\n# include <stdio.h>\n```\n# Real", "Real");
    TITLE("~~~\n# no\n~~~\n# Real", "Real");
    TITLE("````\n# no\n```\n# still code\n````\n# Real", "Real"); /* shorter run: no close */
    TITLE("~~~\n# no\n```\n# still code\n~~~\n# Real", "Real");   /* other char: no close */
    TITLE("```\n# no\n``` x\n# still code\n```\n# Real", "Real"); /* text after: no close */
    TITLE("   ```\n# no\n   ```\n# Real", "Real");                /* indented up to 3 */
    TITLE("    ```\n# Real", "Real");                             /* 4 spaces: no fence */
    TITLE("``` a`b\n# Real", "Real"); /* a backtick in the info string: not a fence */
    TITLE("``\n# Real", "Real");      /* two backticks: not a fence */
    TITLE("```\n# never closed", "Design");
}

TEST(title_skips_front_matter) {
    TITLE("---\ntitle: x\n# a YAML comment\n---\n# Real", "Real");
    TITLE("---\n# comment\n...\n# Real", "Real");
    TITLE("---   \n# comment\n---\n# Real", "Real");
    TITLE("---\n# Heading after a thematic break", "Heading after a thematic break");
    TITLE("text\n---\n# Real", "Real"); /* only at the very start */
    TITLE("\xEF\xBB\xBF---\n# c\n---\n# Real", "Real");
}

TEST(title_line_endings_and_bom) {
    TITLE("\xEF\xBB\xBF# Title", "Title");
    TITLE("# Title\r\nbody", "Title");
    TITLE("intro\r# Title\r", "Title");
    TITLE("```\r\n# no\r\n```\r\n# Real\r\n", "Real");
}

TEST(title_turns_control_characters_into_spaces) {
    TITLE("# A\x01Z", "A Z");
    TITLE("# \x01\x02", "Design");
    TITLE("# Title\x7f", "Title");
    CHECK_HELPER(expect_title("# A\0B", 5, "/notes/Design.md", "A B"));
}

TEST(title_is_cut_at_a_character_boundary) {
    static char md[1024];
    size_t n = 0;
    md[n++] = '#';
    md[n++] = ' ';
    for (int i = 0; i < 200; i++) md[n++] = '\xC3', md[n++] = '\xA9'; /* 400 bytes */
    char *out = NULL;
    ASSERT_EQ_INT(vpath_title(md, n, "/a.md", &out), VPATH_OK);
    size_t len = strlen(out);
    bool whole = len == 254 && (unsigned char)out[len - 1] == 0xA9;
    free(out);
    ASSERT_TRUE(whole); /* 127 characters: a 128th would need byte 256 */
}

TEST(title_from_the_file_name) {
    CHECK_HELPER(expect_title(S("no heading"), "/a/b/Design.md", "Design"));
    CHECK_HELPER(expect_title(S("no heading"), "/README", "README"));
    CHECK_HELPER(expect_title(S("no heading"), "/.env", ".env"));
    CHECK_HELPER(expect_title(S("no heading"), "/a/archive.tar.gz", "archive.tar"));
    CHECK_HELPER(expect_title(S("no heading"), "/x .md", "x"));
    CHECK_HELPER(expect_title(S(""), "/Caf\xC3\xA9.md", "Caf\xC3\xA9"));
}

TEST(title_errors) {
    char *out = (char *)"unchanged";
    ASSERT_EQ_INT(vpath_title(S("# T"), "/", &out), VPATH_ERR_ROOT);
    ASSERT_TRUE(out == NULL);
    out = (char *)"unchanged";
    ASSERT_EQ_INT(vpath_title(S("# T"), "a.md", &out), VPATH_ERR_RELATIVE);
    ASSERT_TRUE(out == NULL);
    ASSERT_EQ_INT(vpath_title(S("# \xFF"), "/a.md", &out), VPATH_ERR_UTF8);
    ASSERT_TRUE(out == NULL);
    ASSERT_EQ_INT(vpath_title(S("# T"), NULL, &out), VPATH_ERR_INVALID);
    ASSERT_EQ_INT(vpath_title(NULL, 3, "/a.md", &out), VPATH_ERR_INVALID);
    ASSERT_EQ_INT(vpath_title(S("# T"), "/a.md", NULL), VPATH_ERR_INVALID);
    /* Bytes that are not UTF-8 outside the heading do not matter. */
    CHECK_HELPER(expect_title(S("# T\n\xFF"), "/a.md", "T"));
}
