/*
 * vclock.c - the wall clock with its test offset (see vclock.h).
 */
#include "util/vclock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The offset the file named by VAULT_TEST_CLOCK holds, or 0. */
static int64_t test_offset(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    char buf[64];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    return errno == 0 && end != buf ? (int64_t)v : 0;
}

int64_t vclock_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    const char *path = getenv("VAULT_TEST_CLOCK");
    return path != NULL && path[0] != '\0' ? now + test_offset(path) : now;
}

void vclock_deadline(clockid_t clock, int64_t ms, struct timespec *ts) {
    clock_gettime(clock, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}
