/*
 * txn_table.c - the `txn` table of pending half messages (see txn_table.h
 * for the layout and who writes what). Reads run in their own LMDB read
 * transactions; the check-back bookkeeping is one small kv_write() that
 * rewrites an entry only if the dispatcher has not deleted it meanwhile.
 */
#include "broker/store/txn_table.h"

#include "broker/store/store_impl.h"
#include "common/errors.h"

#include <string.h>

int txn_table_resolve(kv_txn_t *txn, const store_tables_t *t, uint64_t phys)
{
    uint8_t k[8];
    kv_be64_put(k, phys);
    int rc = kv_del(txn, t->txn, k, sizeof(k));
    return rc == RILL_ENOTFOUND ? 0 : rc;
}

static int decode(const kv_val_t *k, const kv_val_t *v, txn_entry_t *out)
{
    if (k->len != 8 || (v->len != TXN_VAL_BYTES_DISPATCHED && v->len != TXN_VAL_BYTES))
        return RILL_ECORRUPT;
    const uint8_t *vp = v->data;
    out->phys = kv_be64_get(k->data);
    out->size = kv_be32_get(vp);
    out->check_count = v->len == TXN_VAL_BYTES ? kv_be32_get(vp + 4) : 0;
    out->next_check_ts = v->len == TXN_VAL_BYTES ? kv_be64_get(vp + 8) : 0;
    return 0;
}

int store_txn_list(store_t *s, uint64_t from, txn_entry_t *out, size_t cap, size_t *n)
{
    *n = 0;
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    kv_cursor_t *c = NULL;
    uint8_t key[8];
    kv_be64_put(key, from);
    kv_val_t k, v;
    size_t got = 0;
    rc = kv_cursor_open(txn, s->t.txn, &c);
    for (rc = rc ? rc : kv_cursor_seek(c, key, sizeof(key), &k, &v); rc == 0 && got < cap;
         rc = kv_cursor_next(c, &k, &v)) {
        rc = decode(&k, &v, &out[got]);
        if (rc)
            break;
        got++;
    }
    kv_cursor_close(c);
    kv_read_end(txn);
    if (rc == RILL_ENOTFOUND || rc == 0) {
        *n = got;
        return 0;
    }
    return rc;
}

int store_txn_get(store_t *s, uint64_t phys, txn_entry_t *out)
{
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    uint8_t key[8];
    kv_be64_put(key, phys);
    kv_val_t v;
    rc = kv_get(txn, s->t.txn, key, sizeof(key), &v);
    if (rc == 0) {
        kv_val_t k = {.data = key, .len = sizeof(key)};
        rc = decode(&k, &v, out);
    }
    kv_read_end(txn);
    return rc;
}

typedef struct set_check {
    const store_t *s;
    uint64_t phys;
    uint32_t check_count;
    uint64_t next_check_ts;
} set_check_t;

static int set_check_fn(kv_txn_t *txn, void *arg)
{
    set_check_t *sc = arg;
    uint8_t key[8], val[TXN_VAL_BYTES];
    kv_be64_put(key, sc->phys);
    kv_val_t v;
    int rc = kv_get(txn, sc->s->t.txn, key, sizeof(key), &v);
    if (rc)
        return rc; /* RILL_ENOTFOUND: resolved meanwhile */
    if (v.len < 4)
        return RILL_ECORRUPT;
    memcpy(val, v.data, 4); /* size */
    kv_be32_put(val + 4, sc->check_count);
    kv_be64_put(val + 8, sc->next_check_ts);
    return kv_put(txn, sc->s->t.txn, key, sizeof(key), val, sizeof(val), 0);
}

int store_txn_set_check(store_t *s, uint64_t phys, uint32_t check_count, uint64_t next_check_ts)
{
    set_check_t sc = {s, phys, check_count, next_check_ts};
    return kv_write(s->kv, set_check_fn, &sc);
}

int store_txn_count(store_t *s, uint64_t *out)
{
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    kv_cursor_t *c = NULL;
    kv_val_t k, v;
    uint64_t n = 0;
    rc = kv_cursor_open(txn, s->t.txn, &c);
    for (rc = rc ? rc : kv_cursor_first(c, &k, &v); rc == 0; rc = kv_cursor_next(c, &k, &v))
        n++;
    kv_cursor_close(c);
    kv_read_end(txn);
    if (rc != RILL_ENOTFOUND)
        return rc;
    *out = n;
    return 0;
}
