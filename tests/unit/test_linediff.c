/*
 * test_linediff.c - unit tests of src/util/linediff (unified line diffs):
 * exact output for small cases as `diff -u` prints them, and, for random
 * texts, that applying the printed hunks to the old text gives the new one.
 */
#include "test.h"

#include "util/linediff.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *udiff(const char *a, const char *b, int context) {
    char *out = NULL;
    size_t len = 0;
    if (linediff_unified(a, strlen(a), b, strlen(b), context, "a", "b", &out, &len, NULL) !=
        LINEDIFF_OK)
        return NULL;
    return out;
}

TEST(equal_texts_give_nothing) {
    char *d = udiff("one\ntwo\n", "one\ntwo\n", 3);
    ASSERT_EQ_STR(d, "");
    free(d);
    d = udiff("", "", 3);
    ASSERT_EQ_STR(d, "");
    free(d);
}

TEST(one_changed_line_with_context) {
    char *d = udiff("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nE\nf\ng\nh\n", 2);
    ASSERT_EQ_STR(d, "--- a\n+++ b\n@@ -3,5 +3,5 @@\n c\n d\n-e\n+E\n f\n g\n");
    free(d);
}

TEST(insert_into_empty_and_delete_all) {
    char *d = udiff("", "x\ny\n", 3);
    ASSERT_EQ_STR(d, "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
    free(d);
    d = udiff("x\ny\n", "", 3);
    ASSERT_EQ_STR(d, "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n");
    free(d);
}

TEST(missing_final_newline_is_marked) {
    char *d = udiff("a\nb", "a\nb\n", 3);
    ASSERT_EQ_STR(d, "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
    free(d);
}

TEST(distant_changes_make_two_hunks) {
    char *d = udiff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "X\n2\n3\n4\n5\n6\n7\n8\nY\n", 1);
    ASSERT_EQ_STR(d, "--- a\n+++ b\n@@ -1,2 +1,2 @@\n-1\n+X\n 2\n@@ -8,2 +8,2 @@\n 8\n-9\n+Y\n");
    free(d);
}

/* Applies a unified diff (as printed here) to `a`; malloc'd result. */
static char *patch(const char *a, const char *diff) {
    size_t cap = strlen(a) + strlen(diff) + 1;
    char *out = calloc(1, cap);
    const char *p = a; /* the next line of a not yet copied */
    size_t line = 1;   /* its number */
    const char *d = strstr(diff, "@@ ");
    while (d != NULL && strncmp(d, "@@ -", 4) == 0) {
        char *end;
        size_t start = strtoul(d + 4, &end, 10);
        size_t count = *end == ',' ? strtoul(end + 1, NULL, 10) : 1;
        const char *nl = strchr(d, '\n');
        d = nl + 1;
        if (count == 0) start++; /* an empty range names the line before it */
        while (line < start) {   /* copy unchanged lines up to the hunk */
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
            strncat(out, p, n);
            p += n;
            line++;
        }
        while (*d == ' ' || *d == '-' || *d == '+' || *d == '\\') {
            const char *e = strchr(d, '\n');
            size_t n = (size_t)(e - d);
            bool no_nl = strncmp(e + 1, "\\ No newline", 12) == 0;
            if (*d == ' ' || *d == '+') {
                strncat(out, d + 1, n - 1);
                if (!no_nl) strcat(out, "\n");
            }
            if (*d == ' ' || *d == '-') {
                const char *pe = strchr(p, '\n');
                p += pe ? (size_t)(pe - p) + 1 : strlen(p);
                line++;
            }
            d = e + 1;
            if (no_nl) d = strchr(d, '\n') + 1;
        }
    }
    strcat(out, p);
    return out;
}

TEST(random_texts_round_trip) {
    uint64_t s = 12345;
    for (int round = 0; round < 300; round++) {
        char a[400] = "", b[400] = "";
        int na = (int)((s = s * 6364136223846793005ull + 1) >> 60), nb;
        for (int i = 0; i < na; i++) {
            char l[8];
            snprintf(l, sizeof(l), "%c\n", 'a' + (int)((s = s * 6364136223846793005ull + 1) >> 61));
            strcat(a, l);
        }
        nb = (int)((s = s * 6364136223846793005ull + 1) >> 60);
        for (int i = 0; i < nb; i++) {
            char l[8];
            snprintf(l, sizeof(l), "%c\n", 'a' + (int)((s = s * 6364136223846793005ull + 1) >> 61));
            strcat(b, l);
        }
        if (round % 3 == 0 && strlen(b) > 0) b[strlen(b) - 1] = '\0'; /* no final newline */
        char *d = udiff(a, b, (int)(round % 4));
        ASSERT_TRUE(d != NULL);
        char *got = patch(a, d);
        if (strcmp(got, b) != 0) fprintf(stderr, "a=[%s] b=[%s]\n%s", a, b, d);
        ASSERT_EQ_STR(got, b);
        free(got);
        free(d);
    }
}

TEST(large_texts_past_the_search_bound_stay_exact) {
    size_t n = 3000;
    char *a = malloc(n * 8 + 1), *b = malloc(n * 8 + 1);
    a[0] = b[0] = '\0';
    size_t la = 0, lb = 0;
    for (size_t i = 0; i < n; i++) {
        la += (size_t)sprintf(a + la, "a%05zu\n", i);
        lb += (size_t)sprintf(b + lb, "b%05zu\n", i);
    }
    char *out = NULL;
    size_t len = 0;
    linediff_stats st;
    ASSERT_EQ_INT(linediff_unified(a, la, b, lb, 3, "a", "b", &out, &len, &st), LINEDIFF_OK);
    ASSERT_EQ_UINT(st.added, n);
    ASSERT_EQ_UINT(st.removed, n);
    char *got = patch(a, out);
    ASSERT_TRUE(strcmp(got, b) == 0);
    free(got);
    free(out);
    free(a);
    free(b);
}
