/*
 * stext.h - note texts handed from the event loop to the search indexer,
 * so that the indexer does not read and replay a note's whole update log
 * each time the note changed.
 *
 * The indexer asks for the notes of a batch (stexts_want) and waits a
 * little; the loop, woken through the callback set with stexts_serve_on,
 * answers each from its open document (stexts_serve): the text, when the
 * document is open with no commit in flight and no failed one (its memory
 * is then what its log holds) and the log's last row is still the
 * document's last commit (store_doc_last_seq: nobody else wrote since),
 * checked as the text is taken; or nothing, and the indexer replays the
 * log (a closed document, a REST edit, another process's write, no answer
 * in time). A text is at least as new as the batch's events (a commit not
 * yet answered on the loop is in flight: its note is answered once it is),
 * and a later commit has events of its own. So the loop's answers only save
 * time, never change what ends up indexed; and the loop makes a text only
 * when the indexer needs one, not on every commit.
 *
 * Only with SQLite, whose database one vaultd serves alone. Replicas on
 * PostgreSQL do not apply each other's commits to their open documents,
 * so a replica's copy can lack another's update and still end with the
 * seq of its own later commit; there every note replays its log (to
 * revisit once replicas share updates, DESIGN.md's NATS).
 *
 * Threading: stexts_want and stexts_take on the indexer's thread (one at a
 * time); stexts_serve on the loop thread; the rest from the thread that
 * owns both (startup, shutdown).
 */
#ifndef VN_SERVER_STEXT_H
#define VN_SERVER_STEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct stexts stexts;

/* NULL when out of memory. */
stexts *stexts_new(void);

/* Frees t and every text still in it. NULL is a no-op. */
void stexts_free(stexts *t);

/* How the loop is woken: wake(ud) from the indexer's thread (a uv_async_send).
 * NULL stops asking: stexts_want then returns at once. */
void stexts_serve_on(stexts *t, void (*wake)(void *ud), void *ud);

/* Asks for the texts of notes ids[0..n) and waits up to timeout_ms for the
 * loop's answers (some may come later, or never). */
void stexts_want(stexts *t, const char (*ids)[33], size_t n, int timeout_ms);

/* The loop's side: answers every pending ask with fn(ud, id, &md, &len,
 * &seq), which returns STEXT_TEXT with a text (allocated by the CRDT
 * engine; t takes it), STEXT_NONE, or STEXT_LATER: the ask stays pending
 * for stexts_answer (a commit of the note is in flight). */
enum { STEXT_NONE, STEXT_TEXT, STEXT_LATER };
typedef int (*stexts_text_fn)(void *ud, const char *id, char **md, size_t *len, int64_t *seq);
void stexts_serve(stexts *t, stexts_text_fn fn, void *ud);

/* Answers the pending ask for note `id`, if there still is one, with fn
 * (STEXT_LATER counts as STEXT_NONE). Loop thread. */
void stexts_answer(stexts *t, const char *id, stexts_text_fn fn, void *ud);

/* Takes the loop's text for note `id`: true with *md (the caller yfrees
 * it), *len and *seq; false when there is none. */
bool stexts_take(stexts *t, const char *id, char **md, size_t *len, int64_t *seq);

#endif
