/*
 * encode.c - update v1 encoding: structs, delete sets, state vectors, and
 * the public encoders (state as update, state vector).
 *
 * Invariants (byte-exactness with Yjs 13.6 UpdateEncoderV1):
 *  - clients are written in descending client id order, both for structs
 *    and for delete sets and state vectors;
 *  - the first struct of a client may be written from an offset inside it,
 *    with origin = the unit just before the offset;
 *  - delete sets written here are sorted and merged.
 */
#include <stdlib.h>
#include <string.h>

#include "doc_int.h"

static int write_struct(ybuf *b, const yitem *it, uint64_t offset) {
    if (it->flags & YF_GC) {
        ybuf_u8(b, 0);
        return ybuf_varuint(b, it->len - offset);
    }
    bool has_origin = offset > 0 || (it->flags & YF_HAS_ORIGIN);
    bool has_ro = (it->flags & YF_HAS_RORIGIN) != 0;
    uint8_t info = (uint8_t)((it->content.kind & 0x1f) | (has_origin ? 0x80 : 0) | (has_ro ? 0x40 : 0) |
                             (it->psub ? 0x20 : 0));
    ybuf_u8(b, info);
    if (has_origin) {
        yid o = it->origin;
        if (offset > 0) {
            o.client = it->id.client;
            o.clock = it->id.clock + offset - 1;
        }
        ybuf_varuint(b, o.client);
        ybuf_varuint(b, o.clock);
    }
    if (has_ro) {
        ybuf_varuint(b, it->rorigin.client);
        ybuf_varuint(b, it->rorigin.clock);
    }
    if (!has_origin && !has_ro) {
        const struct ytype *p = it->parent;
        if (!p->item) {
            ybuf_varuint(b, 1);
            ybuf_varstring(b, p->name ? p->name : "", p->name ? p->name_len : 0);
        } else {
            ybuf_varuint(b, 0);
            ybuf_varuint(b, p->item->id.client);
            ybuf_varuint(b, p->item->id.clock);
        }
        if (it->psub) ybuf_varstring(b, it->psub, ykey_len(it->psub));
    }
    return ycontent_write(b, &it->content, it->len, offset);
}

/* lib0 writeVarUint at d, which has room for ten bytes; returns the end. */
static inline uint8_t *put_varuint(uint8_t *d, uint64_t v) {
    while (v > 0x7f) {
        *d++ = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    *d++ = (uint8_t)v;
    return d;
}

/* write_client for what a keystroke's update holds: from `clock` the client
 * has one struct, a text item with an origin and ASCII text. Writes the
 * same bytes with one capacity check; false (nothing written) when the
 * struct is of another sort, for write_client to do it. */
static bool write_client_text(ybuf *b, const yclient *c, uint64_t clock) {
    const yitem *it = yclient_last(c);
    if (it->id.clock > clock || (it->flags & YF_GC) || it->content.kind != YC_STRING || it->psub) return false;
    uint64_t off = clock - it->id.clock;
    bool has_origin = off > 0 || (it->flags & YF_HAS_ORIGIN);
    bool has_ro = (it->flags & YF_HAS_RORIGIN) != 0;
    if (!has_origin && !has_ro) return false;
    size_t units = (size_t)(it->len - off);
    if (units > 4096 || ybuf_reserve(b, 8 * 10 + 1 + units)) return false;
    uint8_t *d0 = b->data + b->len, *d = d0;
    d = put_varuint(d, 1); /* structs */
    d = put_varuint(d, c->client);
    d = put_varuint(d, clock);
    *d++ = (uint8_t)(YC_STRING | (has_origin ? 0x80 : 0) | (has_ro ? 0x40 : 0));
    if (has_origin) {
        d = put_varuint(d, off > 0 ? it->id.client : it->origin.client);
        d = put_varuint(d, off > 0 ? it->id.clock + off - 1 : it->origin.clock);
    }
    if (has_ro) {
        d = put_varuint(d, it->rorigin.client);
        d = put_varuint(d, it->rorigin.clock);
    }
    d = put_varuint(d, units); /* ASCII: as many UTF-8 bytes as units */
    const uint16_t *u = ycontent_units(&it->content) + off;
    for (size_t i = 0; i < units; i++) {
        if (u[i] >= 0x80) return false;
        d[i] = (uint8_t)u[i];
    }
    b->len += (size_t)(d - d0) + units;
    return true;
}

static int write_client(ybuf *b, const yclient *c, uint64_t clock) {
    if (write_client_text(b, c, clock)) return Y_OK;
    uint64_t first = yclient_at(c, 0)->id.clock;
    if (clock < first) clock = first;
    size_t start = yclient_find(c, clock);
    ybuf_varuint(b, c->n - start);
    ybuf_varuint(b, c->client);
    ybuf_varuint(b, clock);
    write_struct(b, yclient_at(c, start), clock - yclient_at(c, start)->id.clock);
    for (size_t i = start + 1; i < c->n; i++) write_struct(b, yclient_at(c, i), 0);
    return b->err;
}

typedef struct cc {
    const yclient *c;
    uint64_t clock;
} cc;

static int cmp_cc_desc(const void *a, const void *b) {
    const cc *x = a, *y = b;
    return x->c->client < y->c->client ? 1 : x->c->client > y->c->client ? -1 : 0;
}

/* Sorts up to a few entries by descending client without qsort's overhead
 * (a transaction's update usually names one client). */
static void sort_cc_desc(cc *l, size_t n) {
    if (n > 8) {
        qsort(l, n, sizeof *l, cmp_cc_desc);
        return;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && l[j - 1].c->client < l[j].c->client; j--) {
            cc x = l[j];
            l[j] = l[j - 1];
            l[j - 1] = x;
        }
}

#define YENC_LOCAL 16 /* clients handled with arrays on the stack */

/* Writes the clients of list (each from its clock), by descending client. */
static int write_cc(ybuf *b, cc *list, size_t n) {
    sort_cc_desc(list, n);
    ybuf_varuint(b, n);
    for (size_t i = 0; i < n; i++) write_client(b, list[i].c, list[i].clock);
    return b->err;
}

int yenc_clients_structs(ybuf *b, const ystore *s, const uint64_t *svc, const uint64_t *svk, size_t nsv) {
    cc local[YENC_LOCAL];
    cc *list = s->n <= YENC_LOCAL ? local : ymalloc(s->n * sizeof *list);
    if (!list) {
        ybuf_release(b);
        b->err = Y_ERR_NOMEM;
        return Y_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        const yclient *c = &s->c[i];
        if (!c->n) continue;
        uint64_t state = yclient_state(c);
        uint64_t from = 0;
        bool known = false;
        for (size_t k = 0; k < nsv; k++)
            if (svc[k] == c->client) {
                from = svk[k];
                known = true;
            }
        /* Yjs writes every client the target does not list, even one whose
         * only struct is empty */
        if (known ? state > from : true) {
            list[n].c = c;
            list[n].clock = from;
            n++;
        }
    }
    write_cc(b, list, n);
    if (list != local) yfree(list);
    return b->err;
}

typedef struct dsref {
    const ydsclient *c;
} dsref;

static int cmp_ds_desc(const void *a, const void *b) {
    const dsref *x = a, *y = b;
    return x->c->client < y->c->client ? 1 : x->c->client > y->c->client ? -1 : 0;
}

int yenc_ds(ybuf *b, const yds *ds) {
    if (!ds->n) return ybuf_u8(b, 0);
    dsref local[YENC_LOCAL];
    dsref *l = ds->n <= YENC_LOCAL ? local : ymalloc(ds->n * sizeof *l);
    if (!l) {
        ybuf_release(b);
        b->err = Y_ERR_NOMEM;
        return Y_ERR_NOMEM;
    }
    for (size_t i = 0; i < ds->n; i++) l[i].c = &ds->c[i];
    if (ds->n > 1) qsort(l, ds->n, sizeof *l, cmp_ds_desc);
    ybuf_varuint(b, ds->n);
    for (size_t i = 0; i < ds->n; i++) {
        const ydsclient *c = l[i].c;
        ybuf_varuint(b, c->client);
        ybuf_varuint(b, c->n);
        for (size_t k = 0; k < c->n; k++) {
            ybuf_varuint(b, c->r[k].clock);
            ybuf_varuint(b, c->r[k].len);
        }
    }
    if (l != local) yfree(l);
    return b->err;
}

/* Yjs writeUpdateMessageFromTransaction: nothing when no client's state
 * moved and nothing was deleted; else the structs of every client whose
 * state moved past its before-state (clients without one from clock 0) and
 * the delete set. The before-state is per store index, so one pass over the
 * store finds them (yenc_clients_structs would search a state vector). */
int yenc_txn_update(const struct ytxn *txn, ybuf *b, bool *any) {
    const ystore *s = &txn->doc->store;
    cc local[YENC_LOCAL];
    cc *list = local;
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        const yclient *c = &s->c[i];
        if (!c->n) continue;
        bool known = i < txn->nbefore && txn->before[i] != YSTATE_NONE;
        uint64_t from = known ? txn->before[i] : 0;
        if (known && yclient_state(c) <= from) continue;
        if (n == YENC_LOCAL && list == local) {
            list = ymalloc(s->n * sizeof *list);
            if (!list) return Y_ERR_NOMEM;
            memcpy(list, local, sizeof local);
        }
        list[n].c = c;
        list[n].clock = from;
        n++;
    }
    *any = n > 0 || txn->ds.n > 0;
    if (*any) {
        write_cc(b, list, n);
        yenc_ds(b, &txn->ds);
    }
    if (list != local) yfree(list);
    return b->err;
}

int ysv_decode(const uint8_t *p, size_t n, uint64_t **clients, uint64_t **clocks, size_t *count) {
    yreader r;
    yreader_init(&r, p, n);
    uint64_t k;
    *clients = *clocks = NULL;
    *count = 0;
    if (yread_varuint(&r, &k) || k > yreader_left(&r) / 2) return Y_ERR_MALFORMED;
    uint64_t *cl = ymalloc((k ? (size_t)k : 1) * sizeof *cl);
    uint64_t *ck = ymalloc((k ? (size_t)k : 1) * sizeof *ck);
    if (!cl || !ck) {
        yfree(cl);
        yfree(ck);
        return Y_ERR_NOMEM;
    }
    for (uint64_t i = 0; i < k; i++) {
        if (yread_varuint(&r, &cl[i]) || yread_varuint(&r, &ck[i])) {
            yfree(cl);
            yfree(ck);
            return Y_ERR_MALFORMED;
        }
    }
    *clients = cl;
    *clocks = ck;
    *count = (size_t)k;
    return Y_OK;
}

/* Writes a state vector: count, then (client, clock) by descending client. */
static int write_sv(ybuf *b, const ystore *s) {
    cc *list = ymalloc((s->n ? s->n : 1) * sizeof *list);
    if (!list) return Y_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->c[i].n) continue;
        list[n].c = &s->c[i];
        list[n].clock = yclient_state(&s->c[i]);
        n++;
    }
    qsort(list, n, sizeof *list, cmp_cc_desc);
    ybuf_varuint(b, n);
    for (size_t i = 0; i < n; i++) {
        ybuf_varuint(b, list[i].c->client);
        ybuf_varuint(b, list[i].clock);
    }
    yfree(list);
    return b->err;
}

int yenc_state_vector(ybuf *b, const ystore *s);
int yenc_state_vector(ybuf *b, const ystore *s) { return write_sv(b, s); }

/* The document's state vector (Yjs encodeStateVector). Caller frees *out. */
int ydoc_encode_state_vector(const ydoc *doc, uint8_t **out, size_t *out_len) {
    if (!doc || !out) return Y_ERR_INVALID;
    ybuf b;
    ybuf_init(&b, YBUF_NO_LIMIT);
    int rc = write_sv(&b, &doc->store);
    if (rc) {
        ybuf_release(&b);
        return rc;
    }
    return ybuf_detach(&b, out, out_len);
}

/* Writes one not yet integrated struct (a pending ref) from `offset`. */
static void write_ref(ybuf *b, const yref *ref, uint64_t offset) {
    /* A ref the store already took (integrated before the stack that moved
     * its client's tail to the pending set) is known to the document: it
     * stays in the pending update only as a Skip over its clocks. */
    if (ref->kind != YREF_ITEM || ref->item == NULL) {
        ybuf_u8(b, ref->kind == YREF_GC ? 0 : 10);
        ybuf_varuint(b, ref->len - offset);
        return;
    }
    const yitem *it = ref->item;
    bool has_origin = offset > 0 || (it->flags & YF_HAS_ORIGIN);
    bool has_ro = (it->flags & YF_HAS_RORIGIN) != 0;
    bool psub = ref->psub && !has_origin && !has_ro;
    ybuf_u8(b, (uint8_t)((it->content.kind & 0x1f) | (has_origin ? 0x80 : 0) | (has_ro ? 0x40 : 0) | (psub ? 0x20 : 0)));
    if (has_origin) {
        ybuf_varuint(b, offset > 0 ? it->id.client : it->origin.client);
        ybuf_varuint(b, offset > 0 ? it->id.clock + offset - 1 : it->origin.clock);
    }
    if (has_ro) {
        ybuf_varuint(b, it->rorigin.client);
        ybuf_varuint(b, it->rorigin.clock);
    }
    if (!has_origin && !has_ro) {
        if (ref->parent_kind == YPARENT_NAME) {
            ybuf_varuint(b, 1);
            ybuf_varstring(b, ref->parent_name, ref->parent_name_len);
        } else {
            ybuf_varuint(b, 0);
            ybuf_varuint(b, ref->parent_id.client);
            ybuf_varuint(b, ref->parent_id.clock);
        }
        if (psub) ybuf_varstring(b, ref->psub, ykey_len(ref->psub));
    }
    ycontent_write(b, &it->content, it->len, offset);
}

/* The pending structs as one update (Yjs keeps them as one): per client the
 * refs in clock order, gaps filled with Skip structs, overlaps cut. */
int yenc_refs_update(const yupd *p, uint8_t **out, size_t *len) {
    ybuf b;
    ybuf_init(&b, YBUF_NO_LIMIT);
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->c[i].n) n++;
    ybuf_varuint(&b, n);
    for (size_t k = p->n; k-- > 0;) { /* clients sorted ascending: write descending */
        const yrefclient *c = &p->c[k];
        if (!c->n) continue;
        uint64_t end = c->r[0].id.clock;
        size_t cnt = 0;
        for (size_t i = 0; i < c->n; i++) {
            const yref *r = &c->r[i];
            if (r->id.clock + r->len <= end && i) continue;
            cnt += 1 + (r->id.clock > end);
            if (r->id.clock + r->len > end) end = r->id.clock + r->len;
        }
        ybuf_varuint(&b, cnt);
        ybuf_varuint(&b, c->client);
        ybuf_varuint(&b, c->r[0].id.clock);
        end = c->r[0].id.clock;
        for (size_t i = 0; i < c->n; i++) {
            const yref *r = &c->r[i];
            if (r->id.clock + r->len <= end && i) continue;
            if (r->id.clock > end) {
                ybuf_u8(&b, 10);
                ybuf_varuint(&b, r->id.clock - end);
                end = r->id.clock;
            }
            write_ref(&b, r, end - r->id.clock);
            end = r->id.clock + r->len;
        }
    }
    ybuf_varuint(&b, 0);
    return ybuf_detach(&b, out, len);
}

/* The document (or what a peer with state vector sv lacks) as one update
 * (Yjs encodeStateAsUpdate, including pending structs and deletes merged
 * in with mergeUpdates as Yjs does). Caller frees *out. */
int ydoc_encode_state_as_update(const ydoc *doc, const uint8_t *sv, size_t sv_len, uint8_t **out,
                                size_t *out_len) {
    if (!doc || !out) return Y_ERR_INVALID;
    uint64_t *svc = NULL, *svk = NULL;
    size_t nsv = 0;
    int rc;
    uint8_t *parts[3] = {NULL, NULL, NULL};
    size_t lens[3] = {0, 0, 0};
    size_t nparts = 0;
    if (sv) {
        rc = ysv_decode(sv, sv_len, &svc, &svk, &nsv);
        if (rc) return rc;
    }
    yds ds;
    rc = yds_from_store(&doc->store, &ds);
    if (rc) goto out;
    ybuf b;
    ybuf_init(&b, YBUF_NO_LIMIT);
    yenc_clients_structs(&b, &doc->store, svc, svk, nsv);
    yenc_ds(&b, &ds);
    yds_release(&ds);
    rc = ybuf_detach(&b, &parts[0], &lens[0]);
    if (rc) goto out;
    nparts = 1;
    if (doc->pending_ds.n) {
        ybuf_init(&b, YBUF_NO_LIMIT);
        ybuf_varuint(&b, 0);
        yenc_ds(&b, &doc->pending_ds);
        rc = ybuf_detach(&b, &parts[nparts], &lens[nparts]);
        if (rc) goto out;
        nparts++;
    }
    if (doc->pending) {
        static const uint8_t empty_sv[1] = {0};
        rc = yupdate_diff(doc->pending, doc->pending_len, sv ? sv : empty_sv, sv ? sv_len : 1, &parts[nparts],
                          &lens[nparts]);
        if (rc) goto out;
        nparts++;
    }
    if (nparts == 1) {
        *out = parts[0];
        *out_len = lens[0];
        parts[0] = NULL;
    } else {
        const uint8_t *const ps[3] = {parts[0], parts[1], parts[2]};
        rc = yupdate_merge(ps, lens, nparts, out, out_len);
    }
out:
    for (size_t i = 0; i < 3; i++) yfree(parts[i]);
    yfree(svc);
    yfree(svk);
    return rc;
}
