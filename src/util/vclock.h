/*
 * vclock.h - the wall clock of vaultd, with a hook for tests.
 *
 * Every time the server stamps (trash times, edit times, sessions, the
 * janitor's retention cutoff) comes from vclock_now_ms(). Normally that is
 * CLOCK_REALTIME. A test that needs days to pass sets VAULT_TEST_CLOCK to
 * the path of a file holding a number of milliseconds: the clock then runs
 * that far ahead of the real one, and the file is read again at every call,
 * so a test moves time by rewriting it (a missing or unreadable file counts
 * as 0). Never set it in production.
 */
#ifndef VN_VCLOCK_H
#define VN_VCLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch (plus the test offset, if any). */
int64_t vclock_now_ms(void);

/* *ts = the time `ms` milliseconds from now on `clock` (the real one, not
 * the test offset): a deadline for pthread_cond_timedwait on a condition
 * variable that uses that clock. */
void vclock_deadline(clockid_t clock, int64_t ms, struct timespec *ts);

#endif /* VN_VCLOCK_H */
