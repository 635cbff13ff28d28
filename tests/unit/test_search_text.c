/*
 * test_search_text.c - unit tests of the text side of search:
 * src/util/squery (the query language) and src/util/mdtext (Markdown to
 * plain text with md4c).
 */
#include "test.h"

#include "util/mdtext.h"
#include "util/squery.h"

#include <stdlib.h>
#include <string.h>

/* The parse of q written back as text: terms separated by " | ", each as
 * [-]word+word[*] (words of a phrase joined by '+'). */
static void parsed(const char *q, char *out, size_t n) {
    squery sq;
    char err[160];
    out[0] = '\0';
    int rc = squery_parse(q, strlen(q), &sq, err, sizeof(err));
    if (rc != SQUERY_OK) {
        snprintf(out, n, "ERROR");
        return;
    }
    for (size_t i = 0; i < sq.nterms; i++) {
        const squery_term *t = &sq.terms[i];
        if (i > 0) strncat(out, " | ", n - strlen(out) - 1);
        if (t->negated) strncat(out, "-", n - strlen(out) - 1);
        for (size_t k = 0; k < t->nwords; k++) {
            if (k > 0) strncat(out, "+", n - strlen(out) - 1);
            strncat(out, t->words[k], n - strlen(out) - 1);
        }
        if (t->prefix) strncat(out, "*", n - strlen(out) - 1);
    }
    squery_release(&sq);
}

#define PARSES(q, want)                  \
    do {                                 \
        char got_[512];                  \
        parsed((q), got_, sizeof(got_)); \
        ASSERT_EQ_STR(got_, (want));     \
    } while (0)

TEST(squery_words_prefixes_phrases) {
    PARSES("cafe", "cafe");
    PARSES("  Café   plan ", "Café | plan");
    PARSES("proj*", "proj*");
    PARSES("\"exact words\"", "exact+words");
    PARSES("\"exact wo*\"", "exact+wo*");
    PARSES("foo-bar", "foo+bar");
    PARSES("x.example/path", "x+example+path");
    PARSES("-draft plan", "-draft | plan");
    PARSES("plan -\"old plan\"", "plan | -old+plan");
    PARSES("ab-cd*", "ab+cd*");
    PARSES("ab*", "ab*");
    PARSES("éé*", "éé*");          /* two characters, four bytes */
    PARSES("plan -- ...", "plan"); /* tokens without words are dropped */
    /* Engine operators are plain words or separators. */
    PARSES("NEAR(a b) OR c", "NEAR+a | b | OR | c");
    PARSES("a:b & c|d ^e {f}", "a+b | c+d | e | f");
}

TEST(squery_errors) {
    static const char *const bad[] = {
        "",      "   ",    "\"open", "*",    "a*", "é*",   "pr*oj",   "**",        "-only",
        "-a -b", "a\"b\"", "\"a\"b", "ab-*", "--", "\"\"", "caf\xff", "a\xc0\xaf", "\"a*b\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        squery sq;
        char err[160] = "";
        int rc = squery_parse(bad[i], strlen(bad[i]), &sq, err, sizeof(err));
        if (rc != SQUERY_ESYNTAX) fprintf(stderr, "  query [%s]\n", bad[i]);
        ASSERT_EQ_INT(rc, SQUERY_ESYNTAX);
        ASSERT_TRUE(strlen(err) > 10); /* a sentence */
    }
}

TEST(squery_limits) {
    char q[2048];
    /* 32 words pass, 33 do not. */
    q[0] = '\0';
    for (int i = 0; i < 32; i++) strcat(q, "w ");
    squery sq;
    char err[160];
    ASSERT_EQ_INT(squery_parse(q, strlen(q), &sq, err, sizeof(err)), SQUERY_OK);
    ASSERT_EQ_UINT(sq.nterms, 32);
    squery_release(&sq);
    strcat(q, "w");
    ASSERT_EQ_INT(squery_parse(q, strlen(q), &sq, err, sizeof(err)), SQUERY_ESYNTAX);
    /* A word of 128 bytes passes, 129 does not. */
    memset(q, 'a', 129);
    q[128] = '\0';
    ASSERT_EQ_INT(squery_parse(q, 128, &sq, err, sizeof(err)), SQUERY_OK);
    squery_release(&sq);
    ASSERT_EQ_INT(squery_parse(q, 129, &sq, err, sizeof(err)), SQUERY_ESYNTAX);
    /* 1024 bytes at most; an embedded NUL is refused. */
    memset(q, ' ', 1025);
    q[0] = 'a';
    ASSERT_EQ_INT(squery_parse(q, 1024, &sq, err, sizeof(err)), SQUERY_OK);
    squery_release(&sq);
    ASSERT_EQ_INT(squery_parse(q, 1025, &sq, err, sizeof(err)), SQUERY_ESYNTAX);
    ASSERT_EQ_INT(squery_parse("a\0b", 3, &sq, err, sizeof(err)), SQUERY_ESYNTAX);
}

static void plain(const char *md, const char *want) {
    char *out = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(mdtext_plain(md, strlen(md), &out, &len), MDTEXT_OK);
    ASSERT_EQ_UINT(len, strlen(out));
    if (strcmp(out, want) != 0) fprintf(stderr, "  markdown [%s]\n", md);
    ASSERT_EQ_STR(out, want);
    free(out);
}

TEST(mdtext_keeps_words_drops_markup) {
    CHECK_HELPER(plain("", ""));
    CHECK_HELPER(
        plain("# Title\n\nSome **bold** and _em_ text.", "Title\nSome bold and em text.\n"));
    CHECK_HELPER(plain("See [the docs](https://example.com/x \"t\") now", "See the docs now\n"));
    CHECK_HELPER(plain("![a cat](cat.png)here", "a cat here\n"));
    CHECK_HELPER(plain("Use `make test` please", "Use make test please\n"));
    CHECK_HELPER(plain("```c\nint main;\n```\n", "int main;\n"));
    CHECK_HELPER(plain("- one\n- two\n", "one\ntwo\n"));
    CHECK_HELPER(plain("a <b>bold</b> tag", "a  bold  tag\n"));
    CHECK_HELPER(plain("Tom &amp; Jerry &#233;t&#xE9; &bogus;", "Tom & Jerry été  \n"));
    CHECK_HELPER(plain("| h1 | h2 |\n|---|---|\n| c1 | c2 |\n", " h1  h2 \n c1  c2 \n"));
    CHECK_HELPER(plain("see [[Other Note]]", "see Other Note\n"));
    CHECK_HELPER(plain("line one  \nline two", "line one\nline two\n"));
}
