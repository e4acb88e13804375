/*
 * delay_table.c - the `delay` table of pending delayed messages (see
 * delay_table.h for the layout and who writes what).
 */
#include "broker/store/delay_table.h"

#include "broker/store/store_impl.h"
#include "common/errors.h"

#include <stdlib.h>
#include <string.h>

static int parse_u64(const char *p, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int delay_table_delivered(kv_txn_t *txn, const store_tables_t *t, const char *val, size_t vlen)
{
    const char *colon = memchr(val, ':', vlen);
    uint64_t ts, phys;
    if (colon == NULL || parse_u64(val, (size_t)(colon - val), &ts) != 0 ||
        parse_u64(colon + 1, vlen - (size_t)(colon - val) - 1, &phys) != 0)
        return 0;
    uint8_t k[DELAY_KEY_BYTES];
    kv_be64_put(k, ts);
    kv_be64_put(k + 8, phys);
    int rc = kv_del(txn, t->delay, k, sizeof(k));
    return rc == RILL_ENOTFOUND ? 0 : rc;
}

int store_delay_due(store_t *s, uint64_t now, delay_entry_t *out, size_t cap, size_t *n,
                    uint64_t *next_ts)
{
    *n = 0;
    *next_ts = UINT64_MAX;
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    kv_cursor_t *c = NULL;
    kv_val_t k, v;
    size_t got = 0;
    rc = kv_cursor_open(txn, s->t.delay, &c);
    for (rc = rc ? rc : kv_cursor_first(c, &k, &v); rc == 0; rc = kv_cursor_next(c, &k, &v)) {
        if (k.len != DELAY_KEY_BYTES || v.len != 4) {
            rc = RILL_ECORRUPT;
            break;
        }
        uint64_t ts = kv_be64_get(k.data);
        if (ts > now || got == cap) {
            *next_ts = ts;
            break;
        }
        out[got].deliver_ts = ts;
        out[got].phys = kv_be64_get((const uint8_t *)k.data + 8);
        out[got].size = kv_be32_get(v.data);
        got++;
    }
    kv_cursor_close(c);
    kv_read_end(txn);
    if (rc == 0 || rc == RILL_ENOTFOUND) {
        *n = got;
        return 0;
    }
    return rc;
}

typedef struct drop_arg {
    const store_t *s;
    uint8_t key[DELAY_KEY_BYTES];
} drop_arg_t;

static int drop_fn(kv_txn_t *txn, void *arg)
{
    drop_arg_t *d = arg;
    int rc = kv_del(txn, d->s->t.delay, d->key, sizeof(d->key));
    return rc == RILL_ENOTFOUND ? 0 : rc;
}

int store_delay_drop(store_t *s, uint64_t deliver_ts, uint64_t phys)
{
    drop_arg_t d = {.s = s};
    kv_be64_put(d.key, deliver_ts);
    kv_be64_put(d.key + 8, phys);
    return kv_write(s->kv, drop_fn, &d);
}

int store_delay_count(store_t *s, uint64_t *out)
{
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    *out = kv_count(txn, s->t.delay);
    kv_read_end(txn);
    return 0;
}
