/*
 * yaware.c - awareness states relayed by the sync server (see yaware.h).
 *
 * Invariants: `clients` holds `n` distinct client ids; state == NULL means
 * the client left (or never had a state) and only its clock is kept.
 */
#include "sync/yaware.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t client;
    uint64_t clock;
    uint64_t owner; /* 0: nobody */
    char *state;    /* JSON text, NULL when absent */
    size_t state_len;
} client_state;

struct yaware {
    client_state *clients;
    size_t n, cap;
};

yaware *yaware_new(void) { return calloc(1, sizeof(yaware)); }

void yaware_free(yaware *a) {
    if (a == NULL) return;
    for (size_t i = 0; i < a->n; i++) free(a->clients[i].state);
    free(a->clients);
    free(a);
}

size_t yaware_count(const yaware *a) {
    size_t live = 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->clients[i].state != NULL) live++;
    return live;
}

static client_state *find(const yaware *a, uint64_t client) {
    for (size_t i = 0; i < a->n; i++)
        if (a->clients[i].client == client) return &a->clients[i];
    return NULL;
}

static bool is_null_state(const char *s, size_t len) {
    return len == 4 && memcmp(s, "null", 4) == 0;
}

/* A new record for `client`, or NULL when full or out of memory (*nomem
 * tells which). */
static client_state *add(yaware *a, uint64_t client, bool *nomem) {
    if (a->n == YAWARE_MAX_CLIENTS) return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        client_state *grown = realloc(a->clients, cap * sizeof(*grown));
        if (grown == NULL) {
            *nomem = true;
            return NULL;
        }
        a->clients = grown;
        a->cap = cap;
    }
    client_state *c = &a->clients[a->n++];
    memset(c, 0, sizeof(*c));
    c->client = client;
    return c;
}

int yaware_apply(yaware *a, uint64_t owner, const yaware_entry *e, size_t n, uint8_t **relay,
                 size_t *relay_len) {
    *relay = NULL;
    *relay_len = 0;
    if (n == 0) return YPROTO_OK;
    yaware_entry *changed = malloc(n * sizeof(*changed));
    if (changed == NULL) return YPROTO_ENOMEM;
    size_t nchanged = 0;
    int rc = YPROTO_OK;
    for (size_t i = 0; i < n; i++) {
        client_state *c = find(a, e[i].client);
        bool left = is_null_state(e[i].state, e[i].state_len);
        bool had = c != NULL && c->state != NULL;
        if (c != NULL && c->owner != 0 && c->owner != owner) continue; /* someone else's */
        uint64_t known = c != NULL ? c->clock : 0;
        bool newer = known < e[i].clock;
        bool leaves = known == e[i].clock && left && had;
        if (!newer && !leaves) continue;
        if (c == NULL) {
            bool nomem = false;
            c = add(a, e[i].client, &nomem);
            if (c == NULL) {
                if (nomem) {
                    rc = YPROTO_ENOMEM;
                    break;
                }
                continue; /* the table is full: this client is not relayed */
            }
        }
        char *copy = NULL;
        if (!left) {
            copy = malloc(e[i].state_len > 0 ? e[i].state_len : 1);
            if (copy == NULL) {
                rc = YPROTO_ENOMEM;
                break;
            }
            memcpy(copy, e[i].state, e[i].state_len);
        }
        free(c->state);
        c->state = copy;
        c->state_len = left ? 0 : e[i].state_len;
        c->clock = e[i].clock;
        c->owner = owner;
        /* Peers hear of a state, of a renewal, or of a departure they saw
         * arrive; a departure of a client they never saw is not news. */
        if (!left || had) changed[nchanged++] = e[i];
    }
    if (rc == YPROTO_OK && nchanged > 0)
        rc = yproto_awareness_encode(changed, nchanged, relay, relay_len);
    free(changed);
    return rc;
}

int yaware_remove_owner(yaware *a, uint64_t owner, uint8_t **relay, size_t *relay_len) {
    *relay = NULL;
    *relay_len = 0;
    size_t count = 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->clients[i].owner == owner && a->clients[i].state != NULL) count++;
    yaware_entry *gone = count > 0 ? malloc(count * sizeof(*gone)) : NULL;
    if (count > 0 && gone == NULL) return YPROTO_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        client_state *c = &a->clients[i];
        if (c->owner != owner) continue;
        c->owner = 0;
        if (c->state == NULL) continue;
        free(c->state);
        c->state = NULL;
        c->state_len = 0;
        gone[k++] =
            (yaware_entry){.client = c->client, .clock = c->clock, .state = "null", .state_len = 4};
    }
    int rc = k > 0 ? yproto_awareness_encode(gone, k, relay, relay_len) : YPROTO_OK;
    free(gone);
    return rc;
}

int yaware_encode_all(const yaware *a, uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    size_t count = yaware_count(a);
    if (count == 0) return YPROTO_OK;
    yaware_entry *all = malloc(count * sizeof(*all));
    if (all == NULL) return YPROTO_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        const client_state *c = &a->clients[i];
        if (c->state == NULL) continue;
        all[k++] = (yaware_entry){
            .client = c->client, .clock = c->clock, .state = c->state, .state_len = c->state_len};
    }
    int rc = yproto_awareness_encode(all, k, out, out_len);
    free(all);
    return rc;
}
