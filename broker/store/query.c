/*
 * query.c - the read side: pulls from a ConsumeQueue, queue ranges, lookups
 * by msgId, key and time, consumer offsets and config blobs.
 *
 * Every function runs in one short LMDB read transaction and copies whole
 * records out of the CommitLog into the caller's buffer (commitlog_copy holds
 * the segment lock shared, so retention cannot unmap under it): one copy, no
 * allocation per message.
 */
#include "broker/store/consume_queue.h"
#include "common/record.h"
#include "broker/store/store_impl.h"
#include "common/checksum.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/props.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int topic_len_ok(const char *topic, size_t *len)
{
    if (topic == NULL)
        return RILL_ETOPIC;
    *len = strlen(topic);
    return (*len == 0 || *len > RECORD_TOPIC_BYTES_MAX) ? RILL_ETOPIC : 0;
}

/* Validate the topic name and open a read transaction: how every query starts. */
static int query_begin(store_t *s, const char *topic, size_t *tlen, kv_txn_t **txn)
{
    int rc = topic_len_ok(topic, tlen);
    return rc ? rc : kv_read_begin(s->kv, txn);
}

/* Read qmax of a queue: next offset and last store time. */
static int qmax_get(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                    uint64_t *next, uint64_t *last_ts)
{
    uint8_t k[QMAX_KEY_BYTES];
    qmax_key(k, tid, qid);
    kv_val_t v;
    int rc = kv_get(txn, t->qmax, k, sizeof(k), &v);
    if (rc)
        return rc;
    if (v.len != QMAX_VAL_BYTES)
        return RILL_ECORRUPT;
    *next = kv_be64_get(v.data);
    if (last_ts)
        *last_ts = kv_be64_get((const uint8_t *)v.data + 8);
    return 0;
}

/* Queue range inside a txn; unknown topic or queue gives 0/0. */
static int range_in(store_t *s, kv_txn_t *txn, const char *topic, size_t tlen, uint32_t qid,
                    uint32_t *tid, uint64_t *min, uint64_t *max)
{
    *min = *max = 0;
    int rc = topic_id_get(txn, &s->t, topic, tlen, tid);
    if (rc)
        return rc;
    rc = qmax_get(txn, &s->t, *tid, qid, max, NULL);
    if (rc)
        return rc;
    return cq_min_offset(txn, &s->t, *tid, qid, commitlog_min_offset(s->cl), *max, min);
}

int store_get_messages(store_t *s, const char *topic, uint32_t queue_id, uint64_t queue_offset,
                       uint32_t max_count, const rill_tag_filter_t *filter, void *buf, size_t cap,
                       store_get_result_t *res)
{
    size_t tlen;
    int rc = topic_len_ok(topic, &tlen);
    if (rc)
        return rc;
    if (max_count == 0 || buf == NULL || res == NULL)
        return RILL_EINVAL;
    memset(res, 0, sizeof(*res));
    kv_txn_t *txn;
    rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    uint32_t tid;
    uint64_t min, max;
    rc = range_in(s, txn, topic, tlen, queue_id, &tid, &min, &max);
    if (rc == RILL_ENOTFOUND) {
        res->status = STORE_NO_MESSAGE_IN_QUEUE;
        res->next_offset = 0;
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    res->min_offset = min;
    res->max_offset = max;
    if (max == 0) {
        res->status = STORE_NO_MESSAGE_IN_QUEUE;
        goto out;
    }
    if (queue_offset < min) {
        res->status = STORE_OFFSET_TOO_SMALL;
        res->next_offset = min;
        goto out;
    }
    if (queue_offset == max) {
        res->status = STORE_OFFSET_OVERFLOW_ONE;
        res->next_offset = queue_offset;
        goto out;
    }
    if (queue_offset > max) {
        res->status = STORE_OFFSET_OVERFLOW_BADLY;
        res->next_offset = max;
        goto out;
    }

    cq_iter_t it;
    rc = cq_iter_open(&it, txn, &s->t, tid, queue_id, queue_offset);
    uint64_t log_min = commitlog_min_offset(s->cl);
    uint64_t off = queue_offset, at;
    uint32_t scanned = 0;
    int found_null = 0;
    uint8_t *out = buf;
    cq_entry_t e;
    while (rc == 0 && res->count < max_count && scanned < STORE_PULL_SCAN_MAX &&
           (rc = cq_iter_next(&it, &at, &e)) == 0) {
        scanned++;
        off = at + 1;
        if (e.phys < log_min) {
            found_null = 1; /* the log under it is gone; skip */
            continue;
        }
        if (filter && !rill_tag_filter_match_hash(filter, e.tag_hash))
            continue;
        if (res->bytes + e.size > cap) {
            off = at;
            if (res->count == 0) {
                res->next_offset = at;
                rc = RILL_ENOSPACE;
            }
            break;
        }
        if (commitlog_copy(s->cl, e.phys, e.size, out + res->bytes) != 0) {
            found_null = 1;
            continue;
        }
        res->bytes += e.size;
        res->count++;
    }
    cq_iter_close(&it);
    if (rc == RILL_ENOTFOUND)
        rc = 0;
    if (rc)
        goto out;
    res->next_offset = off;
    if (res->count > 0)
        res->status = STORE_FOUND;
    else if (found_null)
        res->status = STORE_OFFSET_FOUND_NULL;
    else
        res->status = STORE_NO_MATCHED_MSG;
out:
    kv_read_end(txn);
    return rc;
}

int store_queue_range(store_t *s, const char *topic, uint32_t queue_id, uint64_t *min_offset,
                      uint64_t *max_offset)
{
    size_t tlen;
    kv_txn_t *txn;
    int rc = query_begin(s, topic, &tlen, &txn);
    if (rc)
        return rc;
    uint32_t tid;
    uint64_t min, max;
    rc = range_in(s, txn, topic, tlen, queue_id, &tid, &min, &max);
    kv_read_end(txn);
    if (rc == RILL_ENOTFOUND) {
        min = max = 0;
        rc = 0;
    }
    if (rc == 0) {
        *min_offset = min;
        *max_offset = max;
    }
    return rc;
}

int store_queue_last_store_ts(store_t *s, const char *topic, uint32_t queue_id, uint64_t *ts)
{
    size_t tlen;
    kv_txn_t *txn;
    int rc = query_begin(s, topic, &tlen, &txn);
    if (rc)
        return rc;
    uint32_t tid;
    uint64_t next, last;
    rc = topic_id_get(txn, &s->t, topic, tlen, &tid);
    if (rc == 0)
        rc = qmax_get(txn, &s->t, tid, queue_id, &next, &last);
    kv_read_end(txn);
    if (rc == 0)
        *ts = last;
    return rc;
}

int store_queue_store_ts(store_t *s, const char *topic, uint32_t queue_id, uint64_t queue_offset,
                         uint64_t *ts)
{
    size_t tlen;
    kv_txn_t *txn;
    int rc = query_begin(s, topic, &tlen, &txn);
    if (rc)
        return rc;
    uint32_t tid;
    cq_entry_t e;
    rc = topic_id_get(txn, &s->t, topic, tlen, &tid);
    if (rc == 0)
        rc = cq_read(txn, &s->t, tid, queue_id, queue_offset, &e);
    kv_read_end(txn);
    if (rc == 0 && e.phys < commitlog_min_offset(s->cl))
        rc = RILL_ENOTFOUND;
    if (rc == 0)
        *ts = e.store_ts;
    return rc;
}

int store_topic_queues(store_t *s, const char *topic, uint32_t *ids, size_t cap, size_t *count)
{
    size_t tlen;
    kv_txn_t *txn;
    int rc = query_begin(s, topic, &tlen, &txn);
    if (rc)
        return rc;
    size_t n = 0;
    uint32_t tid;
    rc = topic_id_get(txn, &s->t, topic, tlen, &tid);
    if (rc == 0) {
        kv_cursor_t *c;
        rc = kv_cursor_open(txn, s->t.qmax, &c);
        if (rc == 0) {
            uint8_t k[QMAX_KEY_BYTES];
            qmax_key(k, tid, 0);
            kv_val_t ek, ev;
            for (rc = kv_cursor_seek(c, k, sizeof(k), &ek, &ev); rc == 0;
                 rc = kv_cursor_next(c, &ek, &ev)) {
                if (ek.len != QMAX_KEY_BYTES || kv_be32_get(ek.data) != tid)
                    break;
                if (n == cap)
                    break; /* the header promises count <= cap */
                ids[n++] = kv_be32_get((const uint8_t *)ek.data + 4);
            }
            if (rc == RILL_ENOTFOUND)
                rc = 0;
            kv_cursor_close(c);
        }
    } else if (rc == RILL_ENOTFOUND) {
        rc = 0;
    }
    kv_read_end(txn);
    if (rc == 0)
        *count = n;
    return rc;
}

/* First offset in [lo, hi) whose store time is >= ts (hi if none). */
static int search_time(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                       uint64_t lo, uint64_t hi, uint64_t ts, uint64_t *out)
{
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        cq_entry_t e;
        int rc = cq_read(txn, t, tid, qid, mid, &e);
        if (rc == RILL_ENOTFOUND) {
            /* A hole (offsets lost with the head of the log before a
             * rebuild): judge by the next real entry instead. */
            cq_iter_t it;
            uint64_t next = hi;
            rc = cq_iter_open(&it, txn, t, tid, qid, mid);
            if (rc == 0)
                rc = cq_iter_next(&it, &next, &e);
            cq_iter_close(&it);
            if (rc == RILL_ENOTFOUND || (rc == 0 && next >= hi)) {
                hi = mid; /* only holes up to hi */
                continue;
            }
            if (rc)
                return rc;
            if (e.store_ts < ts)
                lo = next + 1;
            else
                hi = mid;
            continue;
        }
        if (rc)
            return rc;
        if (e.store_ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    *out = lo;
    return 0;
}

int store_offset_by_time(store_t *s, const char *topic, uint32_t queue_id, uint64_t ts,
                         uint64_t *offset)
{
    size_t tlen;
    kv_txn_t *txn;
    int rc = query_begin(s, topic, &tlen, &txn);
    if (rc)
        return rc;
    uint32_t tid;
    uint64_t min, max, off = 0;
    rc = range_in(s, txn, topic, tlen, queue_id, &tid, &min, &max);
    if (rc == 0)
        rc = search_time(txn, &s->t, tid, queue_id, min, max, ts, &off);
    else if (rc == RILL_ENOTFOUND) {
        rc = 0;
        off = 0;
    }
    kv_read_end(txn);
    if (rc == 0)
        *offset = off;
    return rc;
}

int store_get_by_phys(store_t *s, uint64_t phys, void *buf, size_t cap, uint32_t *size)
{
    if (phys < commitlog_min_offset(s->cl))
        return RILL_ENOTFOUND;
    int rc = commitlog_read(s->cl, phys, buf, cap, size);
    if (rc == RILL_ERANGE)
        return RILL_ENOTFOUND;
    if (rc == RILL_ECORRUPT) {
        /* commitlog_read cannot tell "no record starts here" (a phys inside a
         * record, a blank, a stale msgId) from a record that fails its
         * checksum; store.h promises RILL_ENOTFOUND for the former. A record
         * start has our magic and its own offset in the header. */
        uint8_t h[RECORD_PEEK_BYTES];
        record_peek_t hp;
        if (commitlog_copy(s->cl, phys, sizeof(h), h) != 0)
            return RILL_ENOTFOUND;
        record_peek(h, &hp);
        if (hp.magic != RECORD_MAGIC || hp.phys_offset != phys)
            return RILL_ENOTFOUND;
    }
    return rc;
}

/* Does the record carry key in KEYS or UNIQ_KEY? */
static int record_has_key(const record_view_t *rv, const char *key, size_t klen)
{
    const char *val;
    size_t vlen;
    if (rill_props_get(rv->props, rv->props_len, RILL_PROP_UNIQ_KEY, &val, &vlen) == 0 &&
        vlen == klen && memcmp(val, key, klen) == 0)
        return 1;
    if (rill_props_get(rv->props, rv->props_len, RILL_PROP_KEYS, &val, &vlen) != 0)
        return 0;
    for (size_t i = 0; i < vlen;) {
        while (i < vlen && val[i] == ' ')
            i++;
        size_t j = i;
        while (j < vlen && val[j] != ' ')
            j++;
        if (j - i == klen && memcmp(val + i, key, klen) == 0)
            return 1;
        i = j;
    }
    return 0;
}

#define QUERY_KEY_SCAN_MAX 4096 /* index entries examined by one key query */

int store_query_by_key(store_t *s, const char *topic, const char *key, uint64_t begin_ts,
                       uint64_t end_ts, uint32_t max_count, void *buf, size_t cap,
                       store_query_result_t *res)
{
    size_t tlen;
    int rc = topic_len_ok(topic, &tlen);
    if (rc)
        return rc;
    if (key == NULL || key[0] == '\0' || res == NULL || buf == NULL || begin_ts > end_ts)
        return RILL_EINVAL;
    if (max_count == 0)
        max_count = STORE_QUERY_MAX_DEFAULT;
    memset(res, 0, sizeof(*res));
    size_t klen = strlen(key);
    kv_txn_t *txn;
    rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    uint32_t tid;
    rc = topic_id_get(txn, &s->t, topic, tlen, &tid);
    if (rc) {
        rc = rc == RILL_ENOTFOUND ? 0 : rc;
        goto out;
    }
    uint8_t k[KEYIDX_KEY_BYTES_MAX];
    size_t prefix;
    size_t seek_len = keyidx_key(k, tid, key, klen, end_ts, UINT64_MAX, &prefix);
    if (seek_len == 0) {
        rc = RILL_EINVAL;
        goto out;
    }
    kv_cursor_t *c;
    rc = kv_cursor_open(txn, s->t.keyidx, &c);
    if (rc)
        goto out;
    kv_val_t ek, ev;
    uint64_t seen[256]; /* phys offsets already returned (stale duplicates after a cut) */
    size_t nseen = 0;
    uint8_t *out = buf;
    unsigned scanned = 0;
    for (rc = kv_cursor_seek_le(c, k, seek_len, &ek, &ev); rc == 0 && scanned < QUERY_KEY_SCAN_MAX;
         rc = kv_cursor_prev(c, &ek, &ev), scanned++) {
        if (ek.len != prefix + 16 || memcmp(ek.data, k, prefix) != 0)
            break;
        uint64_t ts = kv_be64_get((const uint8_t *)ek.data + prefix);
        uint64_t phys = kv_be64_get((const uint8_t *)ek.data + prefix + 8);
        if (ts < begin_ts)
            break;
        int dup = 0;
        for (size_t i = 0; i < nseen; i++)
            dup |= seen[i] == phys;
        if (dup)
            continue;
        uint32_t size;
        if (res->bytes >= cap) {
            res->truncated = true;
            break;
        }
        int r = commitlog_read(s->cl, phys, out + res->bytes, cap - res->bytes, &size);
        if (r == RILL_ENOSPACE) {
            res->truncated = true;
            break;
        }
        if (r)
            continue; /* deleted or cut: the index entry is stale */
        record_view_t rv;
        if (record_decode(out + res->bytes, size, &rv) != 0 || rv.topic_len != tlen ||
            memcmp(rv.topic, topic, tlen) != 0 || !record_has_key(&rv, key, klen))
            continue; /* hash collision or a stale entry over rewritten log */
        if (res->count == max_count) {
            res->truncated = true;
            break;
        }
        if (nseen < sizeof(seen) / sizeof(seen[0]))
            seen[nseen++] = phys;
        res->bytes += size;
        res->count++;
    }
    kv_cursor_close(c);
    if (rc == RILL_ENOTFOUND)
        rc = 0;
out:
    kv_read_end(txn);
    return rc;
}

typedef struct time_hit {
    uint64_t phys;
    uint32_t size;
} time_hit_t;

static int cmp_hit(const void *a, const void *b)
{
    uint64_t x = ((const time_hit_t *)a)->phys, y = ((const time_hit_t *)b)->phys;
    return x < y ? -1 : x > y;
}

#define QUERY_TIME_QUEUES_MAX 1024

int store_query_by_time(store_t *s, const char *topic, uint64_t begin_ts, uint64_t end_ts,
                        uint32_t max_count, void *buf, size_t cap, store_query_result_t *res)
{
    size_t tlen;
    int rc = topic_len_ok(topic, &tlen);
    if (rc)
        return rc;
    if (res == NULL || buf == NULL || begin_ts > end_ts)
        return RILL_EINVAL;
    if (max_count == 0)
        max_count = STORE_QUERY_MAX_DEFAULT;
    if (max_count > STORE_QUERY_MAX)
        max_count = STORE_QUERY_MAX;
    memset(res, 0, sizeof(*res));
    uint32_t qids[QUERY_TIME_QUEUES_MAX];
    size_t nq = 0;
    rc = store_topic_queues(s, topic, qids, QUERY_TIME_QUEUES_MAX, &nq);
    if (rc || nq == 0)
        return rc;
    if (nq > QUERY_TIME_QUEUES_MAX)
        nq = QUERY_TIME_QUEUES_MAX;
    /* Up to max_count + 1 hits from each queue (the +1 tells truncation), merged by log order. */
    time_hit_t *hits = malloc(nq * ((size_t)max_count + 1) * sizeof(*hits));
    if (hits == NULL)
        return ENOMEM;
    size_t nh = 0;
    kv_txn_t *txn;
    rc = kv_read_begin(s->kv, &txn);
    if (rc)
        goto out_free;
    uint32_t tid;
    rc = topic_id_get(txn, &s->t, topic, tlen, &tid);
    for (size_t q = 0; rc == 0 && q < nq; q++) {
        uint64_t min, max, first;
        rc = qmax_get(txn, &s->t, tid, qids[q], &max, NULL);
        if (rc == 0)
            rc = cq_min_offset(txn, &s->t, tid, qids[q], commitlog_min_offset(s->cl), max, &min);
        if (rc == 0)
            rc = search_time(txn, &s->t, tid, qids[q], min, max, begin_ts, &first);
        cq_iter_t it;
        if (rc == 0)
            rc = cq_iter_open(&it, txn, &s->t, tid, qids[q], first);
        else
            continue;
        uint64_t off;
        cq_entry_t e;
        for (uint32_t taken = 0; rc == 0 && taken <= max_count; taken++) {
            rc = cq_iter_next(&it, &off, &e);
            if (rc || off >= max || e.store_ts > end_ts)
                break;
            hits[nh++] = (time_hit_t){e.phys, e.size};
        }
        cq_iter_close(&it);
        if (rc == RILL_ENOTFOUND)
            rc = 0;
    }
    kv_read_end(txn);
    if (rc)
        goto out_free;
    qsort(hits, nh, sizeof(*hits), cmp_hit);
    uint8_t *out = buf;
    for (size_t i = 0; i < nh; i++) {
        if (res->count == max_count || res->bytes + hits[i].size > cap) {
            res->truncated = true;
            break;
        }
        if (commitlog_copy(s->cl, hits[i].phys, hits[i].size, out + res->bytes) != 0)
            continue;
        res->bytes += hits[i].size;
        res->count++;
    }
out_free:
    free(hits);
    return rc;
}

/* ---- consumer offsets ---------------------------------------------------- */

typedef struct offset_put {
    store_t *s;
    uint8_t key[OFFSETS_KEY_BYTES_MAX];
    size_t klen;
    uint64_t offset;
} offset_put_t;

static int offset_put_fn(kv_txn_t *txn, void *arg)
{
    offset_put_t *op = arg;
    uint8_t v[16];
    kv_be64_put(v, op->offset);
    kv_be64_put(v + 8, rill_now_ms());
    return kv_put(txn, op->s->t.offsets, op->key, op->klen, v, sizeof(v), 0);
}

int store_offset_commit(store_t *s, const char *group, const char *topic, uint32_t queue_id,
                        uint64_t offset)
{
    if (group == NULL || topic == NULL)
        return RILL_EINVAL;
    offset_put_t op = {.s = s, .offset = offset};
    op.klen = offsets_key(op.key, group, strlen(group), topic, strlen(topic), queue_id);
    if (op.klen == 0)
        return RILL_EINVAL;
    return kv_write(s->kv, offset_put_fn, &op);
}

int store_offset_get(store_t *s, const char *group, const char *topic, uint32_t queue_id,
                     uint64_t *offset)
{
    if (group == NULL || topic == NULL)
        return RILL_EINVAL;
    uint8_t k[OFFSETS_KEY_BYTES_MAX];
    size_t klen = offsets_key(k, group, strlen(group), topic, strlen(topic), queue_id);
    if (klen == 0)
        return RILL_EINVAL;
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    kv_val_t v;
    rc = kv_get(txn, s->t.offsets, k, klen, &v);
    if (rc == 0 && v.len != 16)
        rc = RILL_ECORRUPT;
    if (rc == 0)
        *offset = kv_be64_get(v.data);
    kv_read_end(txn);
    return rc;
}

/* Split an offsets key into its parts; 0 or RILL_ECORRUPT. */
static int offsets_key_parse(const kv_val_t *k, char *group, char *topic, uint32_t *qid)
{
    const uint8_t *p = k->data;
    if (k->len < 8)
        return RILL_ECORRUPT;
    const uint8_t *g_end = memchr(p, 0, k->len - 4);
    if (g_end == NULL || g_end - p > 255)
        return RILL_ECORRUPT;
    const uint8_t *t = g_end + 1;
    const uint8_t *t_end = memchr(t, 0, (size_t)(p + k->len - 4 - t));
    if (t_end == NULL || t_end + 1 != p + k->len - 4 || t_end - t > 127)
        return RILL_ECORRUPT;
    memcpy(group, p, (size_t)(g_end - p));
    group[g_end - p] = 0;
    memcpy(topic, t, (size_t)(t_end - t));
    topic[t_end - t] = 0;
    *qid = kv_be32_get(p + k->len - 4);
    return 0;
}

int store_offset_foreach(store_t *s, const char *group, store_offset_fn fn, void *arg)
{
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    kv_cursor_t *c;
    rc = kv_cursor_open(txn, s->t.offsets, &c);
    if (rc) {
        kv_read_end(txn);
        return rc;
    }
    size_t glen = group ? strlen(group) : 0;
    kv_val_t k, v;
    if (group)
        rc = kv_cursor_seek(c, group, glen, &k, &v);
    else
        rc = kv_cursor_first(c, &k, &v);
    for (; rc == 0; rc = kv_cursor_next(c, &k, &v)) {
        char g[256], t[128];
        uint32_t qid;
        if (offsets_key_parse(&k, g, t, &qid) != 0 || v.len != 16)
            continue;
        if (group && strcmp(g, group) != 0)
            break; /* "g\0..." sorts before "gX...": the group's keys are all behind us */
        int r = fn(arg, g, t, qid, kv_be64_get(v.data), kv_be64_get((const uint8_t *)v.data + 8));
        if (r) {
            rc = r;
            break;
        }
    }
    if (rc == RILL_ENOTFOUND)
        rc = 0;
    kv_cursor_close(c);
    kv_read_end(txn);
    return rc;
}

typedef struct offset_del {
    store_t *s;
    const char *group, *topic;
} offset_del_t;

static int offset_del_fn(kv_txn_t *txn, void *arg)
{
    offset_del_t *od = arg;
    kv_cursor_t *c;
    int rc = kv_cursor_open(txn, od->s->t.offsets, &c);
    if (rc)
        return rc;
    size_t glen = strlen(od->group);
    kv_val_t k, v;
    for (rc = kv_cursor_seek(c, od->group, glen, &k, &v); rc == 0;) {
        char g[256], t[128];
        uint32_t qid;
        if (offsets_key_parse(&k, g, t, &qid) != 0) {
            rc = kv_cursor_next(c, &k, &v);
            continue;
        }
        if (strcmp(g, od->group) != 0)
            break;
        if (od->topic == NULL || strcmp(t, od->topic) == 0) {
            rc = kv_cursor_del(c);
            if (rc)
                break;
            rc = kv_cursor_seek(c, od->group, glen, &k, &v); /* restart: cursor moved */
            continue;
        }
        rc = kv_cursor_next(c, &k, &v);
    }
    if (rc == RILL_ENOTFOUND)
        rc = 0;
    kv_cursor_close(c);
    return rc;
}

int store_offset_delete(store_t *s, const char *group, const char *topic)
{
    if (group == NULL || group[0] == '\0')
        return RILL_EINVAL;
    offset_del_t od = {s, group, topic};
    return kv_write(s->kv, offset_del_fn, &od);
}

/* ---- config blobs -------------------------------------------------------- */

typedef struct conf_op {
    kv_table_t table;
    const char *name;
    const void *blob;
    size_t len;
    int del;
} conf_op_t;

static int conf_fn(kv_txn_t *txn, void *arg)
{
    conf_op_t *op = arg;
    if (op->del)
        return kv_del(txn, op->table, op->name, strlen(op->name));
    return kv_put(txn, op->table, op->name, strlen(op->name), op->blob, op->len, 0);
}

static int conf_table(store_t *s, int table, kv_table_t *out)
{
    if (table == STORE_TOPICS)
        *out = s->t.topics;
    else if (table == STORE_GROUPS)
        *out = s->t.groups;
    else
        return RILL_EINVAL;
    return 0;
}

static int conf_name_ok(const char *name)
{
    return name != NULL && name[0] != '\0' && strlen(name) <= 255;
}

int store_conf_put(store_t *s, int table, const char *name, const void *blob, size_t len)
{
    conf_op_t op = {.name = name, .blob = blob, .len = len};
    if (!conf_name_ok(name) || (len && blob == NULL) || conf_table(s, table, &op.table))
        return RILL_EINVAL;
    return kv_write(s->kv, conf_fn, &op);
}

int store_conf_del(store_t *s, int table, const char *name)
{
    conf_op_t op = {.name = name, .del = 1};
    if (!conf_name_ok(name) || conf_table(s, table, &op.table))
        return RILL_EINVAL;
    return kv_write(s->kv, conf_fn, &op);
}

int store_conf_get(store_t *s, int table, const char *name, void *buf, size_t cap, size_t *len)
{
    kv_table_t t;
    if (!conf_name_ok(name) || conf_table(s, table, &t))
        return RILL_EINVAL;
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    kv_val_t v;
    rc = kv_get(txn, t, name, strlen(name), &v);
    if (rc == 0) {
        *len = v.len;
        if (v.len > cap)
            rc = RILL_ENOSPACE;
        else if (v.len)
            memcpy(buf, v.data, v.len);
    }
    kv_read_end(txn);
    return rc;
}

int store_conf_foreach(store_t *s, int table, store_conf_fn fn, void *arg)
{
    kv_table_t t;
    if (conf_table(s, table, &t) || fn == NULL)
        return RILL_EINVAL;
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    kv_cursor_t *c = NULL;
    rc = kv_cursor_open(txn, t, &c);
    kv_val_t k, v;
    for (rc = rc ? rc : kv_cursor_first(c, &k, &v); rc == 0; rc = kv_cursor_next(c, &k, &v)) {
        char name[256];
        if (k.len == 0 || k.len > 255)
            continue;
        memcpy(name, k.data, k.len);
        name[k.len] = 0;
        int r = fn(arg, name, v.data, v.len);
        if (r) {
            rc = r;
            break;
        }
    }
    if (rc == RILL_ENOTFOUND)
        rc = 0;
    kv_cursor_close(c);
    kv_read_end(txn);
    return rc;
}
