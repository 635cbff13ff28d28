/*
 * test.h - the in-tree assertion header for C unit tests.
 *
 * A test file is one executable: include this header, write TEST(name)
 * functions, and CMake picks up every tests/unit/test_*.c by itself (ctest
 * runs each file in its own process with a timeout). The header supplies
 * main(): it runs every test of the file, or only those named on the command
 * line, and exits non-zero if any assertion failed.
 *
 * Assertions stop the current test (they return from it), print file:line and
 * both values, and mark the file as failed. They may only be used directly in
 * a TEST body or in a void helper that the test calls through CHECK_HELPER().
 */
#ifndef VN_TEST_H
#define VN_TEST_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);

struct test_case {
    const char *name;
    test_fn fn;
};

#define TEST_MAX 512
static struct test_case test_cases[TEST_MAX];
static int test_ncases;
static int test_failed_current;

static void test_register(const char *name, test_fn fn) {
    if (test_ncases == TEST_MAX) {
        fprintf(stderr, "test.h: more than %d tests in one file\n", TEST_MAX);
        exit(2);
    }
    test_cases[test_ncases].name = name;
    test_cases[test_ncases].fn = fn;
    test_ncases++;
}

#define TEST(name)                                                        \
    static void name(void);                                               \
    __attribute__((constructor)) static void test_register_##name(void) { \
        test_register(#name, name);                                       \
    }                                                                     \
    static void name(void)

#define TEST_FAIL_HERE() (test_failed_current = 1)

#define ASSERT_TRUE(cond)                                                                \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            TEST_FAIL_HERE();                                                            \
            return;                                                                      \
        }                                                                                \
    } while (0)

#define ASSERT_FALSE(cond) ASSERT_TRUE(!(cond))

#define ASSERT_EQ_INT(actual, expected)                                                        \
    do {                                                                                       \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                        \
        if (a_ != e_) {                                                                        \
            fprintf(stderr, "%s:%d: %s == %s\n  actual:   %lld\n  expected: %lld\n", __FILE__, \
                    __LINE__, #actual, #expected, a_, e_);                                     \
            TEST_FAIL_HERE();                                                                  \
            return;                                                                            \
        }                                                                                      \
    } while (0)

#define ASSERT_EQ_UINT(actual, expected)                                                       \
    do {                                                                                       \
        unsigned long long a_ = (unsigned long long)(actual);                                  \
        unsigned long long e_ = (unsigned long long)(expected);                                \
        if (a_ != e_) {                                                                        \
            fprintf(stderr, "%s:%d: %s == %s\n  actual:   %llu\n  expected: %llu\n", __FILE__, \
                    __LINE__, #actual, #expected, a_, e_);                                     \
            TEST_FAIL_HERE();                                                                  \
            return;                                                                            \
        }                                                                                      \
    } while (0)

#define ASSERT_EQ_STR(actual, expected)                                                            \
    do {                                                                                           \
        const char *a_ = (actual), *e_ = (expected);                                               \
        if (a_ == NULL || e_ == NULL ? a_ != e_ : strcmp(a_, e_) != 0) {                           \
            fprintf(stderr, "%s:%d: %s == %s\n  actual:   \"%s\"\n  expected: \"%s\"\n", __FILE__, \
                    __LINE__, #actual, #expected, a_ ? a_ : "(null)", e_ ? e_ : "(null)");         \
            TEST_FAIL_HERE();                                                                      \
            return;                                                                                \
        }                                                                                          \
    } while (0)

__attribute__((unused)) static void test_print_hex(const char *label, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    fprintf(stderr, "  %s (%zu bytes):", label, n);
    for (size_t i = 0; i < n && i < 256; i++) fprintf(stderr, " %02x", b[i]);
    fprintf(stderr, n > 256 ? " ...\n" : "\n");
}

#define ASSERT_EQ_MEM(actual, actual_len, expected, expected_len)                                  \
    do {                                                                                           \
        size_t al_ = (actual_len), el_ = (expected_len);                                           \
        if (al_ != el_ || (al_ && memcmp((actual), (expected), al_) != 0)) {                       \
            fprintf(stderr, "%s:%d: bytes of %s == %s\n", __FILE__, __LINE__, #actual, #expected); \
            test_print_hex("actual", (actual), al_);                                               \
            test_print_hex("expected", (expected), el_);                                           \
            TEST_FAIL_HERE();                                                                      \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Calls a void helper that uses assertions and stops the test if it failed. */
#define CHECK_HELPER(call)               \
    do {                                 \
        call;                            \
        if (test_failed_current) return; \
    } while (0)

#ifndef TEST_NO_MAIN
int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    for (int i = 0; i < test_ncases; i++) {
        if (argc > 1) {
            int wanted = 0;
            for (int j = 1; j < argc; j++)
                if (strcmp(argv[j], test_cases[i].name) == 0) wanted = 1;
            if (!wanted) continue;
        }
        test_failed_current = 0;
        test_cases[i].fn();
        if (test_failed_current) {
            failed++;
            fprintf(stderr, "FAIL %s\n", test_cases[i].name);
        } else {
            passed++;
            fprintf(stderr, "ok   %s\n", test_cases[i].name);
        }
    }
    fprintf(stderr, "%d passed, %d failed\n", passed, failed);
    return failed ? 1 : (passed ? 0 : 1);
}
#endif

#endif /* VN_TEST_H */
