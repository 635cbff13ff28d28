/*
 * cache.c - time-bounded direct-mapped cache (see cache.h).
 */
#include "server/cache.h"

#include <string.h>

void vcache_init(vcache *c, int64_t ttl_ms) {
    memset(c, 0, sizeof(*c));
    c->ttl_ms = ttl_ms;
}

/* FNV-1a over the key: token hashes are already random, role keys are not. */
static uint32_t slot_of(const uint8_t key[32]) {
    uint32_t h = 2166136261u;
    for (int i = 0; i < 32; i++) h = (h ^ key[i]) * 16777619u;
    return h & (VCACHE_SLOTS - 1);
}

bool vcache_get(const vcache *c, const uint8_t key[32], int64_t now_ms, int64_t *value) {
    const vcache_slot *s = &c->slots[slot_of(key)];
    if (s->stamp_ms == 0 || now_ms - s->stamp_ms >= c->ttl_ms || now_ms < s->stamp_ms ||
        memcmp(s->key, key, 32) != 0)
        return false;
    *value = s->value;
    return true;
}

void vcache_put(vcache *c, const uint8_t key[32], int64_t value, int64_t now_ms) {
    vcache_slot *s = &c->slots[slot_of(key)];
    memcpy(s->key, key, 32);
    s->value = value;
    s->stamp_ms = now_ms > 0 ? now_ms : 1;
}

void vcache_evict(vcache *c, const uint8_t key[32]) {
    vcache_slot *s = &c->slots[slot_of(key)];
    if (memcmp(s->key, key, 32) == 0) s->stamp_ms = 0;
}

void vcache_clear(vcache *c) {
    for (int i = 0; i < VCACHE_SLOTS; i++) c->slots[i].stamp_ms = 0;
}
