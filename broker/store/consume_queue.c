/*
 * consume_queue.c - packed ConsumeQueue chunks in LMDB (see consume_queue.h).
 *
 *   key   = topic_id:4 queue_id:4 chunk_start:8      (chunk_start % 32 == 0)
 *   value = n x [ phys:8 | size:4 | tag_hash:8 | store_ts:8 ]   (n = 1..32)
 *
 * Entry i of a chunk is queue offset chunk_start + i. A hole has size 0.
 */
#include "broker/store/consume_queue.h"

#include "common/errors.h"

#include <string.h>

static void entry_put(uint8_t *p, const cq_entry_t *e)
{
    kv_be64_put(p, e->phys);
    kv_be32_put(p + 8, e->size);
    kv_be64_put(p + 12, e->tag_hash);
    kv_be64_put(p + 20, e->store_ts);
}

static void entry_get(const uint8_t *p, cq_entry_t *e)
{
    e->phys = kv_be64_get(p);
    e->size = kv_be32_get(p + 8);
    e->tag_hash = kv_be64_get(p + 12);
    e->store_ts = kv_be64_get(p + 20);
}

static uint64_t chunk_of(uint64_t off)
{
    return off - off % CQ_CHUNK_ENTRIES;
}

static int chunk_ok(const kv_val_t *v)
{
    return v->len > 0 && v->len <= CQ_CHUNK_BYTES && v->len % CQ_VAL_BYTES == 0;
}

int cq_read(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid, uint64_t off,
            cq_entry_t *e)
{
    uint8_t k[CQ_KEY_BYTES];
    cq_key(k, tid, qid, chunk_of(off));
    kv_val_t v;
    int rc = kv_get(txn, t->cq, k, sizeof(k), &v);
    if (rc)
        return rc;
    if (!chunk_ok(&v))
        return RILL_ECORRUPT;
    size_t idx = (size_t)(off % CQ_CHUNK_ENTRIES);
    if ((idx + 1) * CQ_VAL_BYTES > v.len)
        return RILL_ENOTFOUND;
    entry_get((const uint8_t *)v.data + idx * CQ_VAL_BYTES, e);
    return e->size == 0 ? RILL_ENOTFOUND : 0;
}

int cq_iter_open(cq_iter_t *it, kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                 uint64_t off)
{
    memset(it, 0, sizeof(*it));
    int rc = kv_cursor_open(txn, t->cq, &it->cur);
    if (rc)
        return rc;
    uint8_t k[CQ_KEY_BYTES];
    cq_key(k, tid, qid, chunk_of(off));
    memcpy(it->prefix, k, 8);
    kv_val_t ek, ev;
    rc = kv_cursor_seek(it->cur, k, sizeof(k), &ek, &ev);
    if (rc == RILL_ENOTFOUND)
        return 0; /* iterator is empty */
    if (rc)
        return rc;
    if (ek.len != CQ_KEY_BYTES || memcmp(ek.data, it->prefix, 8) != 0)
        return 0;
    if (!chunk_ok(&ev))
        return RILL_ECORRUPT;
    it->chunk = ev.data;
    it->chunk_n = (uint32_t)(ev.len / CQ_VAL_BYTES);
    it->chunk_start = kv_be64_get((const uint8_t *)ek.data + 8);
    it->idx = it->chunk_start < off ? (uint32_t)(off - it->chunk_start) : 0;
    return 0;
}

int cq_iter_next(cq_iter_t *it, uint64_t *off, cq_entry_t *e)
{
    while (it->chunk != NULL) {
        while (it->idx < it->chunk_n) {
            uint32_t i = it->idx++;
            entry_get(it->chunk + (size_t)i * CQ_VAL_BYTES, e);
            if (e->size != 0) {
                *off = it->chunk_start + i;
                return 0;
            }
        }
        kv_val_t ek, ev;
        int rc = kv_cursor_next(it->cur, &ek, &ev);
        if (rc == RILL_ENOTFOUND ||
            (rc == 0 && (ek.len != CQ_KEY_BYTES || memcmp(ek.data, it->prefix, 8) != 0))) {
            it->chunk = NULL;
            break;
        }
        if (rc)
            return rc;
        if (!chunk_ok(&ev))
            return RILL_ECORRUPT;
        it->chunk = ev.data;
        it->chunk_n = (uint32_t)(ev.len / CQ_VAL_BYTES);
        it->chunk_start = kv_be64_get((const uint8_t *)ek.data + 8);
        it->idx = 0;
    }
    return RILL_ENOTFOUND;
}

void cq_iter_close(cq_iter_t *it)
{
    kv_cursor_close(it->cur);
    it->cur = NULL;
}

int cq_min_offset(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                  uint64_t log_min, uint64_t next, uint64_t *min)
{
    cq_iter_t it;
    int rc = cq_iter_open(&it, txn, t, tid, qid, 0);
    uint64_t off;
    cq_entry_t e;
    *min = next;
    /* Purging removes whole chunks, so at most a chunk or two of stale entries lead. */
    while (rc == 0 && (rc = cq_iter_next(&it, &off, &e)) == 0) {
        if (e.phys >= log_min) {
            *min = off;
            break;
        }
    }
    cq_iter_close(&it);
    return rc == RILL_ENOTFOUND ? 0 : rc;
}

static int chunk_flush(kv_txn_t *txn, const store_tables_t *t, const uint8_t *key,
                       const uint8_t *buf, uint32_t n)
{
    return kv_put(txn, t->cq, key, CQ_KEY_BYTES, buf, (size_t)n * CQ_VAL_BYTES, 0);
}

int cq_write_run(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                 const uint64_t *offs, const cq_entry_t *entries, size_t n)
{
    uint8_t buf[CQ_CHUNK_BYTES];
    uint8_t key[CQ_KEY_BYTES];
    uint64_t cur = UINT64_MAX;
    uint32_t cur_n = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t cs = chunk_of(offs[i]);
        if (cs != cur) {
            if (cur != UINT64_MAX) {
                int rc = chunk_flush(txn, t, key, buf, cur_n);
                if (rc)
                    return rc;
            }
            cur = cs;
            cq_key(key, tid, qid, cs);
            kv_val_t v;
            int rc = kv_get(txn, t->cq, key, sizeof(key), &v);
            if (rc == 0) {
                if (!chunk_ok(&v))
                    return RILL_ECORRUPT;
                memcpy(buf, v.data, v.len);
                cur_n = (uint32_t)(v.len / CQ_VAL_BYTES);
            } else if (rc == RILL_ENOTFOUND) {
                cur_n = 0;
            } else {
                return rc;
            }
        }
        uint32_t idx = (uint32_t)(offs[i] - cs);
        if (idx > cur_n) /* a hole: offsets never seen (head of the log deleted) */
            memset(buf + (size_t)cur_n * CQ_VAL_BYTES, 0, (size_t)(idx - cur_n) * CQ_VAL_BYTES);
        entry_put(buf + (size_t)idx * CQ_VAL_BYTES, &entries[i]);
        if (idx + 1 > cur_n)
            cur_n = idx + 1;
    }
    return cur == UINT64_MAX ? 0 : chunk_flush(txn, t, key, buf, cur_n);
}

int cq_truncate_tail(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                     uint64_t end_phys, uint64_t *next, uint64_t *last_ts, uint64_t *removed)
{
    uint8_t buf[CQ_CHUNK_BYTES];
    while (*next > 0) {
        uint64_t cs = chunk_of(*next - 1);
        uint8_t key[CQ_KEY_BYTES];
        cq_key(key, tid, qid, cs);
        kv_val_t v;
        int rc = kv_get(txn, t->cq, key, sizeof(key), &v);
        if (rc == RILL_ENOTFOUND)
            return 0; /* purged by retention below here */
        if (rc)
            return rc;
        if (!chunk_ok(&v))
            return RILL_ECORRUPT;
        uint32_t n = (uint32_t)(v.len / CQ_VAL_BYTES);
        memcpy(buf, v.data, v.len);
        uint32_t keep = n;
        while (keep > 0) {
            cq_entry_t e;
            entry_get(buf + (size_t)(keep - 1) * CQ_VAL_BYTES, &e);
            if (e.size != 0 && e.phys < end_phys) {
                *last_ts = e.store_ts;
                break;
            }
            keep--;
            if (e.size != 0)
                (*removed)++;
        }
        if (keep == n) {
            *next = cs + n;
            return 0;
        }
        rc = keep ? chunk_flush(txn, t, key, buf, keep) : kv_del(txn, t->cq, key, sizeof(key));
        if (rc)
            return rc;
        *next = cs + keep;
        if (keep)
            return 0;
    }
    return 0;
}

int cq_purge_head(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                  uint64_t below, uint64_t budget, uint64_t *deleted)
{
    kv_cursor_t *c;
    int rc = kv_cursor_open(txn, t->cq, &c);
    if (rc)
        return rc;
    uint8_t k[CQ_KEY_BYTES];
    cq_key(k, tid, qid, 0);
    uint64_t done = 0;
    kv_val_t ek, ev;
    for (rc = kv_cursor_seek(c, k, sizeof(k), &ek, &ev); rc == 0;
         rc = kv_cursor_seek(c, k, sizeof(k), &ek, &ev)) {
        if (ek.len != CQ_KEY_BYTES || memcmp(ek.data, k, 8) != 0)
            break;
        if (!chunk_ok(&ev)) {
            rc = RILL_ECORRUPT;
            break;
        }
        cq_entry_t last;
        entry_get((const uint8_t *)ev.data + ev.len - CQ_VAL_BYTES, &last);
        if (last.phys >= below)
            break;
        if (done == budget) {
            rc = 1;
            break;
        }
        rc = kv_cursor_del(c);
        if (rc)
            break;
        done++;
    }
    if (rc == RILL_ENOTFOUND)
        rc = 0;
    kv_cursor_close(c);
    *deleted += done;
    return rc;
}
