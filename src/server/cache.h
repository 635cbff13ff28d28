/*
 * cache.h - a tiny time-bounded cache in front of hot database reads (the
 * session behind a token, a member's role on a vault), so a request does not
 * pay two database round trips before its real work.
 *
 * Direct-mapped: one slot per hash, a newer entry replaces an older one.
 * An entry is trusted for at most `ttl_ms` milliseconds; changes made through
 * this process evict what they change at once, so the bound only matters for
 * changes made by another process (another replica, or an expiry passing):
 * those show within ttl_ms. Loop thread only.
 */
#ifndef VN_CACHE_H
#define VN_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#define VCACHE_SLOTS 4096 /* power of two */

typedef struct {
    uint8_t key[32];
    int64_t value;
    int64_t stamp_ms; /* 0: empty */
} vcache_slot;

typedef struct vcache {
    int64_t ttl_ms;
    vcache_slot slots[VCACHE_SLOTS];
} vcache;

/* Empties c and sets its time bound. */
void vcache_init(vcache *c, int64_t ttl_ms);

/* The value cached for key, if fresh at now_ms. */
bool vcache_get(const vcache *c, const uint8_t key[32], int64_t now_ms, int64_t *value);

void vcache_put(vcache *c, const uint8_t key[32], int64_t value, int64_t now_ms);
void vcache_evict(vcache *c, const uint8_t key[32]);
void vcache_clear(vcache *c);

#endif /* VN_CACHE_H */
