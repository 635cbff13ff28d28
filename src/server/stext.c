/*
 * stext.c - note texts from the loop to the indexer (see stext.h).
 *
 * One list of entries under a mutex: an entry is asked for (the indexer
 * waits on `answered` until none is), then answered with a text or
 * without. The indexer takes or drops every entry of a batch before it
 * asks again, so the list holds one batch at most.
 */
#include "server/stext.h"

#include "crdt/crdt.h"
#include "util/vclock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct entry {
    char id[33];
    bool asked; /* waiting for the loop */
    char *md;   /* the loop's answer (the engine's allocation); NULL: none */
    size_t len;
    int64_t seq;
    struct entry *next;
} entry;

struct stexts {
    pthread_mutex_t mu;
    pthread_cond_t answered;
    entry *list;
    size_t asked; /* entries with `asked` */
    void (*wake)(void *ud);
    void *wake_ud;
};

stexts *stexts_new(void) {
    stexts *t = calloc(1, sizeof(*t));
    if (t == NULL) return NULL;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&t->answered, &a);
    pthread_condattr_destroy(&a);
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

static void entries_free(entry *e) {
    while (e != NULL) {
        entry *next = e->next;
        yfree(e->md);
        free(e);
        e = next;
    }
}

void stexts_free(stexts *t) {
    if (t == NULL) return;
    entries_free(t->list);
    pthread_cond_destroy(&t->answered);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void stexts_serve_on(stexts *t, void (*wake)(void *ud), void *ud) {
    pthread_mutex_lock(&t->mu);
    t->wake = wake;
    t->wake_ud = ud;
    pthread_mutex_unlock(&t->mu);
}

void stexts_want(stexts *t, const char (*ids)[33], size_t n, int timeout_ms) {
    pthread_mutex_lock(&t->mu);
    /* What an earlier batch left (answers that came after its wait). */
    entries_free(t->list);
    t->list = NULL;
    t->asked = 0;
    if (t->wake == NULL) {
        pthread_mutex_unlock(&t->mu);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        entry *e = calloc(1, sizeof(*e));
        if (e == NULL) break; /* the rest replay their logs */
        memcpy(e->id, ids[i], 33);
        e->asked = true;
        e->next = t->list;
        t->list = e;
        t->asked++;
    }
    void (*wake)(void *) = t->wake;
    void *ud = t->wake_ud;
    if (t->asked > 0) wake(ud);
    struct timespec until;
    vclock_deadline(CLOCK_MONOTONIC, timeout_ms, &until);
    while (t->asked > 0)
        if (pthread_cond_timedwait(&t->answered, &t->mu, &until) != 0) break;
    pthread_mutex_unlock(&t->mu);
}

/* Records fn's answer for the pending ask of ids `id`; frees a text nobody
 * asks for any more. */
static void record(stexts *t, const char *id, int got, char *md, size_t len, int64_t seq) {
    pthread_mutex_lock(&t->mu);
    entry *e = t->list;
    while (e != NULL && !(e->asked && strcmp(e->id, id) == 0)) e = e->next;
    if (e != NULL) {
        e->asked = false;
        t->asked--;
        if (got == STEXT_TEXT) {
            e->md = md;
            e->len = len;
            e->seq = seq;
            md = NULL;
        }
        if (t->asked == 0) pthread_cond_signal(&t->answered);
    }
    pthread_mutex_unlock(&t->mu);
    yfree(md); /* the batch is over: nobody wants it */
}

void stexts_serve(stexts *t, stexts_text_fn fn, void *ud) {
    /* Ids copied out, so that fn runs without the mutex (it walks a
     * document); the indexer may drop the list after its wait, so answers
     * look their id up again. */
    pthread_mutex_lock(&t->mu);
    size_t n = 0;
    for (entry *e = t->list; e != NULL; e = e->next) n += e->asked;
    char(*ids)[33] = n > 0 ? malloc(n * sizeof(*ids)) : NULL;
    size_t k = 0;
    for (entry *e = t->list; e != NULL && ids != NULL; e = e->next)
        if (e->asked) memcpy(ids[k++], e->id, 33);
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < k; i++) {
        char *md = NULL;
        size_t len = 0;
        int64_t seq = 0;
        int got = fn(ud, ids[i], &md, &len, &seq);
        if (got != STEXT_LATER) record(t, ids[i], got, md, len, seq);
    }
    free(ids);
}

void stexts_answer(stexts *t, const char *id, stexts_text_fn fn, void *ud) {
    char *md = NULL;
    size_t len = 0;
    int64_t seq = 0;
    int got = fn(ud, id, &md, &len, &seq);
    if (got == STEXT_LATER) got = STEXT_NONE;
    record(t, id, got, md, len, seq);
}

bool stexts_take(stexts *t, const char *id, char **md, size_t *len, int64_t *seq) {
    bool got = false;
    pthread_mutex_lock(&t->mu);
    for (entry *e = t->list; e != NULL; e = e->next) {
        if (e->md != NULL && strcmp(e->id, id) == 0) {
            *md = e->md;
            *len = e->len;
            *seq = e->seq;
            e->md = NULL;
            got = true;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return got;
}
