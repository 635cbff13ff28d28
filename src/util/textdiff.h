/*
 * textdiff.h - "old text -> new text" as a short list of edits a CRDT can apply.
 *
 * A PUT that replaces a note's whole text must not overwrite concurrent edits:
 * the server diffs the text the client started from against the text it sent,
 * and applies only the difference to the live document as CRDT operations.
 * This module computes that difference.
 *
 * Units. Texts go in as UTF-8. Every position and delete count in an op is in
 * UTF-16 code units, as the CRDT engine counts them (src/crdt/crdt.h), so an
 * op maps directly onto ytext_delete() and ytext_insert(). Insert texts are
 * UTF-8. The diff works on code points, so an op never splits a UTF-8 sequence
 * or a surrogate pair.
 *
 * Meaning of an op list. Ops apply in order. Op k's `pos` is a position in the
 * text as ops 0..k-1 left it. An op means: delete `del` units at `pos`, then
 * insert `ins` at `pos`. Delete first, then insert: with Yjs the inserted text
 * then lands after the deleted run, which keeps a concurrent insert made just
 * before the replaced word in front of the replacement (test_textdiff.c
 * checks the DESIGN.md example through the CRDT engine; inserting first
 * breaks it for half of the client id orders). Ops that
 * textdiff_compute() produces are sorted and disjoint: each op's `pos` is
 * greater than the previous op's `pos + ins_units` (a kept character lies
 * between them), and no op has both del == 0 and an empty `ins`.
 *
 * Minimality. The result is a minimal edit script on code points (fewest
 * deleted plus inserted code points, Myers' O(ND) algorithm after trimming the
 * common prefix and suffix), with each run of deletes and inserts between two
 * kept characters merged into one op. The search is bounded by a work budget;
 * once it is spent, each part not yet resolved becomes one replace op (for
 * texts far past the budget, the whole differing middle). The ops are then
 * still exact (applying them yields the new text) but not minimal, and
 * `minimal` in the result says so.
 *
 * Memory. Allocations are linear in the input size (a few dozen bytes per
 * code point of the part between the common prefix and suffix), never
 * quadratic; the work budget bounds time, not memory. No global state: the
 * functions are safe to call from any thread.
 */
#ifndef VN_TEXTDIFF_H
#define VN_TEXTDIFF_H

#include <stdbool.h>
#include <stddef.h>

enum {
    TEXTDIFF_OK = 0,
    TEXTDIFF_ERR_NOMEM = -1,   /* an allocation failed */
    TEXTDIFF_ERR_UTF8 = -2,    /* a text or an insert is not valid UTF-8 */
    TEXTDIFF_ERR_RANGE = -3,   /* an op reaches past the end or into a surrogate pair */
    TEXTDIFF_ERR_INVALID = -4, /* a NULL argument, or an input too large to index */
};

/* Work budget used when textdiff_compute() is passed max_cost == 0. The unit
 * is one edit-graph step (a diagonal visited or a character compared). This
 * default is about 50 ms of CPU at worst; it finds the minimal diff for up to
 * about two thousand scattered one-character edits in a 200 KB note. */
#define TEXTDIFF_DEFAULT_MAX_COST ((size_t)1 << 24)

/* One edit: delete `del` UTF-16 units at `pos`, then insert `ins` at `pos`. */
typedef struct textdiff_op {
    size_t pos;       /* UTF-16 units from the start of the text as the previous ops left it */
    size_t del;       /* UTF-16 units to delete at pos (may be 0) */
    const char *ins;  /* UTF-8 to insert at pos, NUL-terminated; "" when nothing is inserted */
    size_t ins_len;   /* bytes in ins, without the NUL */
    size_t ins_units; /* UTF-16 units in ins */
} textdiff_op;

/* The result of textdiff_compute(). Owned by the caller, who passes it to
 * textdiff_release() once done; the op array and every `ins` string belong to
 * it and are freed there (never free them one by one). */
typedef struct textdiff {
    textdiff_op *ops; /* nops ops, NULL when nops == 0 */
    size_t nops;
    bool minimal; /* false if the work budget ran out and some part became one replace */
    char *text_;  /* private: one block holding every ins string */
} textdiff;

/* Computes the ops that turn `old_text` (old_len bytes) into `new_text`
 * (new_len bytes). A text may be NULL when its length is 0; NUL bytes inside
 * a text are ordinary characters. `max_cost` bounds the work (0 means
 * TEXTDIFF_DEFAULT_MAX_COST); past it, the rest of the differing part becomes
 * one replace op per unfinished piece.
 *
 * Returns TEXTDIFF_OK and fills *out (identical texts give nops == 0).
 * On error returns TEXTDIFF_ERR_UTF8 (either text is not valid UTF-8: overlong
 * forms, surrogates and code points past U+10FFFF are invalid),
 * TEXTDIFF_ERR_NOMEM or TEXTDIFF_ERR_INVALID; *out is then empty (nops == 0)
 * and owns nothing. Either way, textdiff_release(out) is safe to call. */
int textdiff_compute(const char *old_text, size_t old_len, const char *new_text, size_t new_len,
                     size_t max_cost, textdiff *out);

/* Frees what *d owns and leaves it empty. NULL and empty results are fine. */
void textdiff_release(textdiff *d);

/* Applies `nops` ops, in order, to `text` (len bytes of UTF-8), with the
 * meaning described at the top of this file. Ops may come from anywhere: any
 * order is accepted, ins_units is ignored (recomputed from ins) and `ins` may
 * be NULL when ins_len is 0. Ops in ascending order cost time linear in the
 * text; an op before the previous one costs one extra copy of the text.
 *
 * Returns TEXTDIFF_OK with the result in *out (NUL-terminated, allocated with
 * malloc; the caller frees it with free()) and its byte length in *out_len
 * (out_len may be NULL). On error *out is NULL and the result is one of
 * TEXTDIFF_ERR_UTF8 (text or an ins is not valid UTF-8), TEXTDIFF_ERR_RANGE
 * (a position or delete runs past the end of the text or would split a
 * surrogate pair), TEXTDIFF_ERR_NOMEM or TEXTDIFF_ERR_INVALID. */
int textdiff_apply(const char *text, size_t len, const textdiff_op *ops, size_t nops, char **out,
                   size_t *out_len);

/* A short English description of an error code; never NULL, static storage. */
const char *textdiff_strerror(int err);

#endif /* VN_TEXTDIFF_H */
