/*
 * dispatcher.c - turns CommitLog records into LMDB entries.
 *
 * Design notes
 * - One thread ("dispatcher") owns `dispatched` and the topic-id cache. It
 *   reads records straight from the mapping (below `committed`, never deleted
 *   by retention because retention stays below `dispatched`) and writes one
 *   LMDB transaction per batch: cq entries, key-index entries, queue maxima
 *   and meta.dispatched together, so LMDB is always a consistent prefix of
 *   the log.
 * - A batch may be re-run from scratch by kv_write (map growth): everything
 *   it decides (new topic ids, touched queues) lives in the batch context and
 *   is applied to the dispatcher only after the commit.
 * - Appenders call dispatcher_notify(); the thread sleeps only when it has
 *   caught up, so notify costs one atomic load when it is busy.
 * - Every commit costs LMDB an fdatasync. Under a trickle of appends (SYNC_FLUSH
 *   producers, say) a commit per record would compete with the CommitLog's
 *   own flushes for the disk, so a small backlog waits until COALESCE_US
 *   after the previous commit; a backlog of COALESCE_BYTES goes at once.
 * - meta.checkpoint is chosen from a ring of "marks" (start and end of the
 *   last record of every batch, and of every CKPT_SAMPLE-th record): the
 *   newest mark that ends at or below the flushed offset. No record is
 *   re-read to find it, and it never points into a deleted segment for long
 *   (it only moves forward, to records just dispatched).
 * - meta.checkpoint is the start of the newest dispatched record that is also
 *   durable (flushed); recovery verifies that record and scans from its end.
 */
#include "broker/store/dispatcher.h"

#include "broker/store/consume_queue.h"
#include "broker/store/queue_table.h"
#include "broker/store/txn_table.h"
#include "broker/store/delay_table.h"
#include "common/record.h"
#include "broker/store/store_impl.h"
#include "common/checksum.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/props.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOUCHED_CAP         8192u      /* slots in the per-batch touched-queue set */
#define TOUCHED_MAX         4096u      /* a batch ends when this many queues were touched */
#define NEW_TOPICS_MAX      256u       /* a batch ends when this many topics got new ids */
#define DISPATCH_KEYS_MAX   32u        /* keys indexed per message (KEYS split on spaces) */
#define CKPT_RING           4096u      /* checkpoint candidates remembered */
#define CKPT_BATCH_MARKS    64u        /* candidates one batch may add */
#define CHECKPOINT_EVERY_MS 1000       /* an idle dispatcher refreshes meta.checkpoint */
#define COALESCE_US         2000       /* a small batch waits this long after the last commit */
#define COALESCE_BYTES      (1u << 20) /* backlog that is dispatched at once, without waiting */

typedef struct touched {
    uint32_t topic_id, queue_id;
    uint32_t count, start; /* its entries in the batch's sorted arrays */
    uint64_t next_offset, last_store_ts;
    uint16_t topic_len;
    char topic[128];
    int used;
} touched_t;

typedef struct ckpt_mark {
    uint64_t start, end; /* a dispatched record */
} ckpt_mark_t;

typedef struct new_topic {
    uint32_t id;
    uint16_t len;
    char name[128];
} new_topic_t;

struct dispatcher {
    store_t *s;
    pthread_t thread;
    int running;
    _Atomic int stop; /* the coalescing check reads it without the lock */
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* appenders -> dispatcher */
    pthread_cond_t progress; /* dispatcher -> waiters */
    _Atomic int sleeping;
    _Atomic uint64_t dispatched;
    _Atomic uint64_t last_store_ts;
    uint64_t checkpoint; /* last written meta.checkpoint */
    uint64_t last_ckpt_write_ms;
    int failing; /* last batch failed: log once */

    queue_table_t topic_ids; /* topic -> id (queue id 0), thread-owned */
    uint32_t next_topic_id;

    /* batch context, re-initialised on every (re)run of a batch */
    touched_t *touched;
    size_t touched_count;
    new_topic_t new_topics[NEW_TOPICS_MAX];
    size_t new_topic_count;
    uint32_t batch_next_topic_id;
    uint64_t batch_from, batch_limit, batch_end, batch_ckpt, batch_flushed;
    ckpt_mark_t batch_marks[CKPT_BATCH_MARKS];
    size_t batch_mark_count;
    uint64_t mark_every; /* records between sampled marks */

    uint8_t keyidx_max[KEYIDX_KEY_BYTES_MAX]; /* greatest key-index key put so far */
    size_t keyidx_max_len;

    ckpt_mark_t ring[CKPT_RING]; /* committed marks, oldest overwritten first */
    size_t ring_next, ring_count;
    uint64_t batch_last_ts;
    size_t batch_records;

    /* cq entries of the batch, in log order, then grouped by queue */
    size_t pend_cap, pend_count;
    uint32_t *pend_slot;
    uint64_t *pend_off, *sorted_off;
    cq_entry_t *pend_entry, *sorted_entry;
};

static touched_t *touch(dispatcher_t *d, uint32_t topic_id, uint32_t queue_id)
{
    uint64_t h = ((uint64_t)topic_id << 32 | queue_id) * 0x9E3779B97F4A7C15ull;
    for (size_t i = (size_t)(h >> 40) & (TOUCHED_CAP - 1);; i = (i + 1) & (TOUCHED_CAP - 1)) {
        touched_t *t = &d->touched[i];
        if (!t->used) {
            t->used = 1;
            t->topic_id = topic_id;
            t->queue_id = queue_id;
            d->touched_count++;
            return t;
        }
        if (t->topic_id == topic_id && t->queue_id == queue_id)
            return t;
    }
}

static int topic_id_for(dispatcher_t *d, kv_txn_t *txn, const char *topic, uint16_t len,
                        uint32_t *out)
{
    const uint64_t *cached = queue_table_find(&d->topic_ids, topic, len, 0);
    if (cached) {
        *out = (uint32_t)*cached;
        return 0;
    }
    for (size_t i = 0; i < d->new_topic_count; i++) {
        if (d->new_topics[i].len == len && memcmp(d->new_topics[i].name, topic, len) == 0) {
            *out = d->new_topics[i].id;
            return 0;
        }
    }
    store_tables_t *t = &d->s->t;
    int rc = topic_id_get(txn, t, topic, len, out);
    if (rc != RILL_ENOTFOUND)
        return rc;
    /* First message of this topic: allocate an id inside this transaction. */
    uint32_t id = d->batch_next_topic_id++;
    uint8_t idb[4];
    kv_be32_put(idb, id);
    rc = kv_put(txn, t->topicids, topic, len, idb, 4, 0);
    if (rc == 0)
        rc = kv_put(txn, t->topicnames, idb, 4, topic, len, 0);
    if (rc == 0)
        rc = meta_put_u64(txn, t, META_NEXT_TOPIC_ID, d->batch_next_topic_id);
    if (rc)
        return rc;
    new_topic_t *nt = &d->new_topics[d->new_topic_count++];
    nt->id = id;
    nt->len = len;
    memcpy(nt->name, topic, len);
    *out = id;
    return 0;
}

/* LMDB's default key order: bytes, then length. */
static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/*
 * Index one key. A key above every key in the table (a producer's newest
 * time-ordered UNIQ_KEY, usually) goes in with LMDB's append path, which
 * skips the B-tree search; the dispatcher remembers the greatest key it has
 * put so it only asks for that when it will work. (After an aborted
 * transaction the remembered key may be too high: kv_put then falls back to
 * a normal insert.)
 */
static int index_key(dispatcher_t *d, kv_txn_t *txn, const store_tables_t *t, uint32_t topic_id,
                     const char *key, size_t len, const record_view_t *rv, uint64_t phys)
{
    uint8_t k[KEYIDX_KEY_BYTES_MAX], v[KEYIDX_VAL_BYTES];
    size_t klen = keyidx_key(k, topic_id, key, len, rv->store_ts, phys, NULL);
    if (klen == 0)
        return 0; /* not indexable (NUL byte) */
    kv_be32_put(v, rv->total_size);
    unsigned flags = 0;
    if (key_cmp(k, klen, d->keyidx_max, d->keyidx_max_len) > 0) {
        flags = KV_APPEND;
        memcpy(d->keyidx_max, k, klen);
        d->keyidx_max_len = klen;
    }
    return kv_put(txn, t->keyidx, k, klen, v, sizeof(v), flags);
}

static int index_keys(dispatcher_t *d, kv_txn_t *txn, const store_tables_t *t, uint32_t topic_id,
                      const record_view_t *rv, uint64_t phys)
{
    const char *val;
    size_t vlen;
    int rc;
    if (rill_props_get(rv->props, rv->props_len, RILL_PROP_KEYS, &val, &vlen) == 0) {
        unsigned n = 0;
        for (size_t i = 0; i < vlen && n < DISPATCH_KEYS_MAX;) {
            while (i < vlen && val[i] == ' ')
                i++;
            size_t j = i;
            while (j < vlen && val[j] != ' ')
                j++;
            if (j > i) {
                rc = index_key(d, txn, t, topic_id, val + i, j - i, rv, phys);
                if (rc)
                    return rc;
                n++;
            }
            i = j;
        }
    }
    if (rill_props_get(rv->props, rv->props_len, RILL_PROP_UNIQ_KEY, &val, &vlen) == 0 && vlen) {
        rc = index_key(d, txn, t, topic_id, val, vlen, rv, phys);
        if (rc)
            return rc;
    }
    return 0;
}

static uint64_t deliver_time(const record_view_t *rv)
{
    const char *val;
    size_t vlen;
    if (rill_props_get(rv->props, rv->props_len, RILL_PROP_DELIVER_TIME, &val, &vlen) == 0 &&
        vlen > 0 && vlen < 21) {
        char buf[21];
        memcpy(buf, val, vlen);
        buf[vlen] = 0;
        char *end;
        unsigned long long v = strtoull(buf, &end, 10);
        if (*end == 0)
            return v;
    }
    return rv->store_ts;
}

static int dispatch_record(dispatcher_t *d, kv_txn_t *txn, const record_view_t *rv, uint64_t phys)
{
    const store_tables_t *t = &d->s->t;
    uint32_t topic_id;
    int rc = topic_id_for(d, txn, rv->topic, rv->topic_len, &topic_id);
    if (rc)
        return rc;
    uint32_t tx = rv->flags & RECORD_FLAG_TX_MASK;
    if (rv->flags & RECORD_FLAG_DELAYED) {
        uint8_t k[DELAY_KEY_BYTES], v[4];
        kv_be64_put(k, deliver_time(rv));
        kv_be64_put(k + 8, phys);
        kv_be32_put(v, rv->total_size);
        rc = kv_put(txn, t->delay, k, sizeof(k), v, sizeof(v), 0);
    } else if (tx == RECORD_TX_PREPARED) {
        uint8_t k[8], v[4];
        kv_be64_put(k, phys);
        kv_be32_put(v, rv->total_size);
        rc = kv_put(txn, t->txn, k, sizeof(k), v, sizeof(v), 0);
    } else if (tx == RECORD_TX_ROLLBACK) {
        /* resolves a half message; nothing becomes visible */
        rc = txn_table_resolve(txn, t, rv->prepared_tx_offset);
    } else {
        /* A commit copy resolves its half in log order, so a restart never
         * finds a committed half pending (and retention stops keeping it). */
        if (tx == RECORD_TX_COMMIT && (rc = txn_table_resolve(txn, t, rv->prepared_tx_offset)))
            return rc;
        /* A delivered delayed message ends its `delay` entry, in log order too. */
        const char *dval;
        size_t dlen;
        if (rv->props_len &&
            rill_props_get(rv->props, rv->props_len, DELAY_ORIGIN_PROP, &dval, &dlen) == 0 &&
            (rc = delay_table_delivered(txn, t, dval, dlen)))
            return rc;
        /* queued: written per queue, a chunk at a time, at the end of the batch */
        assert(d->pend_count < d->pend_cap);
        touched_t *tq = touch(d, topic_id, rv->queue_id);
        tq->next_offset = rv->queue_offset + 1;
        tq->last_store_ts = rv->store_ts;
        tq->topic_len = rv->topic_len;
        memcpy(tq->topic, rv->topic, rv->topic_len);
        tq->count++;
        size_t i = d->pend_count++;
        d->pend_slot[i] = (uint32_t)(tq - d->touched);
        d->pend_off[i] = rv->queue_offset;
        d->pend_entry[i] = (cq_entry_t){phys, rv->total_size, rv->tag_hash, rv->store_ts};
    }
    /* Half messages are not indexed: a query by key finds the commit copy
     * only (RocketMQ keeps halves in a topic of their own, out of queries). */
    if (rc == 0 && tx != RECORD_TX_ROLLBACK && tx != RECORD_TX_PREPARED)
        rc = index_keys(d, txn, t, topic_id, rv, phys);
    return rc;
}

static void batch_reset(dispatcher_t *d)
{
    if (d->touched_count) {
        memset(d->touched, 0, TOUCHED_CAP * sizeof(*d->touched));
        d->touched_count = 0;
    }
    d->new_topic_count = 0;
    d->batch_next_topic_id = d->next_topic_id;
    d->batch_end = d->batch_from;
    d->batch_ckpt = d->checkpoint;
    d->batch_mark_count = 0;
    d->batch_records = 0;
    d->batch_last_ts = 0;
    d->pend_count = 0;
}

/* Group the batch's cq entries by queue (counting sort, log order kept) and write them. */
static int write_cq(dispatcher_t *d, kv_txn_t *txn)
{
    uint32_t start = 0;
    for (size_t i = 0; i < TOUCHED_CAP && d->touched_count; i++) {
        touched_t *tq = &d->touched[i];
        if (tq->used) {
            tq->start = start;
            start += tq->count;
            tq->count = 0;
        }
    }
    for (size_t i = 0; i < d->pend_count; i++) {
        touched_t *tq = &d->touched[d->pend_slot[i]];
        size_t j = tq->start + tq->count++;
        d->sorted_off[j] = d->pend_off[i];
        d->sorted_entry[j] = d->pend_entry[i];
    }
    for (size_t i = 0; i < TOUCHED_CAP && d->touched_count; i++) {
        touched_t *tq = &d->touched[i];
        if (!tq->used || tq->count == 0)
            continue;
        int rc = cq_write_run(txn, &d->s->t, tq->topic_id, tq->queue_id, d->sorted_off + tq->start,
                              d->sorted_entry + tq->start, tq->count);
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * Newest mark (the batch's own pending ones first, when with_batch) whose
 * record ends at or below `durable`; the current checkpoint if none is newer.
 */
static uint64_t pick_checkpoint(dispatcher_t *d, uint64_t durable, int with_batch)
{
    uint64_t best = d->checkpoint;
    for (size_t i = with_batch ? d->batch_mark_count : 0; i > 0; i--) {
        const ckpt_mark_t *m = &d->batch_marks[i - 1];
        if (m->end <= durable) {
            if (best == UINT64_MAX || m->start > best)
                best = m->start;
            return best;
        }
    }
    for (size_t i = 0; i < d->ring_count; i++) {
        const ckpt_mark_t *m = &d->ring[(d->ring_next + CKPT_RING - 1 - i) % CKPT_RING];
        if (m->end <= durable) {
            if (best == UINT64_MAX || m->start > best)
                best = m->start;
            break;
        }
    }
    return best;
}

/* kv_write body: dispatch records in [batch_from, batch_limit). */
static int dispatch_batch(kv_txn_t *txn, void *arg)
{
    dispatcher_t *d = arg;
    store_t *s = d->s;
    batch_reset(d);
    uint64_t pos = d->batch_from;
    uint64_t max_records = (uint64_t)s->cfg.dispatch_batch_max;
    int rc = 0;
    uint64_t last_start = UINT64_MAX;
    /* the segment under pos, looked up once per segment rather than per record */
    const uint8_t *seg_base = NULL;
    uint64_t seg_start = 0, seg_end = 0;
    while (pos < d->batch_limit && d->batch_records < max_records &&
           d->touched_count < TOUCHED_MAX && d->new_topic_count < NEW_TOPICS_MAX) {
        if (pos < seg_start || pos >= seg_end) {
            uint64_t left;
            seg_base = commitlog_ptr(s->cl, pos, &left);
            if (seg_base == NULL) {
                rc = RILL_ERANGE;
                break;
            }
            seg_start = pos;
            seg_end = pos + left;
        }
        const uint8_t *p = seg_base + (pos - seg_start);
        uint64_t avail = seg_end - pos;
        record_view_t rv;
        rc = record_decode(p, avail, &rv);
        if (rc) {
            if (rc == RILL_ENOTFOUND)
                rc = RILL_ECORRUPT;
            break;
        }
        if (rv.kind == RECORD_KIND_BLANK) {
            pos += rv.total_size;
            continue;
        }
        if (rv.phys_offset != pos) {
            rc = RILL_ECORRUPT;
            break;
        }
        rc = dispatch_record(d, txn, &rv, pos);
        if (rc)
            break;
        pos += rv.total_size;
        if (d->batch_records % d->mark_every == 0 && d->batch_mark_count + 1 < CKPT_BATCH_MARKS)
            d->batch_marks[d->batch_mark_count++] = (ckpt_mark_t){rv.phys_offset, pos};
        last_start = rv.phys_offset;
        d->batch_last_ts = rv.store_ts;
        d->batch_records++;
    }
    if (rc)
        return rc;
    rc = write_cq(d, txn);
    if (rc)
        return rc;
    const store_tables_t *t = &s->t;
    for (size_t i = 0; i < TOUCHED_CAP && d->touched_count; i++) {
        touched_t *tq = &d->touched[i];
        if (!tq->used)
            continue;
        uint8_t k[QMAX_KEY_BYTES], v[QMAX_VAL_BYTES];
        qmax_key(k, tq->topic_id, tq->queue_id);
        kv_be64_put(v, tq->next_offset);
        kv_be64_put(v + 8, tq->last_store_ts);
        rc = kv_put(txn, t->qmax, k, sizeof(k), v, sizeof(v), 0);
        if (rc)
            return rc;
    }
    if (last_start != UINT64_MAX)
        d->batch_marks[d->batch_mark_count++] = (ckpt_mark_t){last_start, pos};
    d->batch_ckpt = pick_checkpoint(d, d->batch_flushed, 1);
    rc = meta_put_u64(txn, t, META_DISPATCHED, pos);
    if (rc == 0 && d->batch_ckpt != d->checkpoint && d->batch_ckpt != UINT64_MAX)
        rc = meta_put_u64(txn, t, META_CHECKPOINT, d->batch_ckpt);
    d->batch_end = pos;
    return rc;
}

static void after_commit(dispatcher_t *d)
{
    for (size_t i = 0; i < d->new_topic_count; i++) {
        uint64_t *slot;
        if (queue_table_slot(&d->topic_ids, d->new_topics[i].name, d->new_topics[i].len, 0,
                             &slot) == 0)
            *slot = d->new_topics[i].id;
    }
    d->next_topic_id = d->batch_next_topic_id;
    d->checkpoint = d->batch_ckpt;
    for (size_t i = 0; i < d->batch_mark_count; i++) {
        d->ring[d->ring_next] = d->batch_marks[i];
        d->ring_next = (d->ring_next + 1) % CKPT_RING;
        if (d->ring_count < CKPT_RING)
            d->ring_count++;
    }
    if (d->batch_last_ts)
        atomic_store(&d->last_store_ts, d->batch_last_ts);
    store_t *s = d->s;
    if (s->cfg.on_dispatch) {
        for (size_t i = 0; i < TOUCHED_CAP && d->touched_count; i++) {
            touched_t *tq = &d->touched[i];
            if (tq->used)
                s->cfg.on_dispatch(s->cfg.on_dispatch_arg, tq->topic, tq->topic_len, tq->queue_id,
                                   tq->next_offset);
        }
    }
    pthread_mutex_lock(&d->lock);
    atomic_store(&d->dispatched, d->batch_end);
    pthread_cond_broadcast(&d->progress);
    pthread_mutex_unlock(&d->lock);
}

/* Dispatch one batch towards `limit`. Returns records dispatched (>= 0) or an error. */
static int dispatch_once(dispatcher_t *d, uint64_t limit)
{
    d->batch_from = atomic_load(&d->dispatched);
    d->batch_limit = limit;
    d->batch_flushed = d->s->flusher ? flusher_flushed(d->s->flusher) : 0;
    if (d->batch_from >= limit)
        return 0;
    int rc = kv_write(d->s->kv, dispatch_batch, d);
    if (rc) {
        if (!d->failing)
            LOG_ERROR("store", "dispatch at offset %llu failed: %s",
                      (unsigned long long)d->batch_from, rill_strerror(rc));
        d->failing = 1;
        return rc;
    }
    if (d->failing)
        LOG_INFO("store", "dispatch recovered at offset %llu", (unsigned long long)d->batch_from);
    d->failing = 0;
    after_commit(d);
    return (int)d->batch_records;
}

static int write_checkpoint(kv_txn_t *txn, void *arg)
{
    dispatcher_t *d = arg;
    return meta_put_u64(txn, &d->s->t, META_CHECKPOINT, d->batch_ckpt);
}

/* When idle, move the checkpoint up to the newest durable dispatched record. */
static void refresh_checkpoint(dispatcher_t *d)
{
    uint64_t flushed = d->s->flusher ? flusher_flushed(d->s->flusher) : 0;
    uint64_t ckpt = pick_checkpoint(d, flushed, 0);
    if (ckpt == d->checkpoint)
        return;
    d->batch_ckpt = ckpt;
    if (kv_write(d->s->kv, write_checkpoint, d) == 0)
        d->checkpoint = ckpt;
}

static void *dispatcher_main(void *arg)
{
    dispatcher_t *d = arg;
    pthread_setname_np(pthread_self(), "dispatcher");
    uint64_t last_commit_ns = 0;
    for (;;) {
        uint64_t committed = commitlog_committed(d->s->cl);
        uint64_t since_us = (rill_mono_ns() - last_commit_ns) / 1000;
        if (committed - atomic_load(&d->dispatched) < COALESCE_BYTES && since_us < COALESCE_US &&
            !d->stop) {
            struct timespec ts = {0, (long)(COALESCE_US - since_us) * 1000};
            nanosleep(&ts, NULL);
            committed = commitlog_committed(d->s->cl);
        }
        if (committed > atomic_load(&d->dispatched))
            last_commit_ns = rill_mono_ns();
        int n = dispatch_once(d, committed);
        if (n > 0)
            continue;
        pthread_mutex_lock(&d->lock);
        if (d->stop) {
            pthread_mutex_unlock(&d->lock);
            break;
        }
        atomic_store(&d->sleeping, 1);
        atomic_thread_fence(memory_order_seq_cst);
        if (commitlog_committed(d->s->cl) == atomic_load(&d->dispatched) || n < 0) {
            struct timespec ts;
            rill_deadline_after_ms(&ts, n < 0 ? 100 : 50);
            pthread_cond_timedwait(&d->wake, &d->lock, &ts);
        }
        atomic_store(&d->sleeping, 0);
        pthread_mutex_unlock(&d->lock);
        uint64_t now = rill_mono_ms();
        if (now - d->last_ckpt_write_ms >= CHECKPOINT_EVERY_MS) {
            d->last_ckpt_write_ms = now;
            refresh_checkpoint(d);
        }
    }
    return NULL;
}

static void free_pending(dispatcher_t *d)
{
    free(d->pend_slot);
    free(d->pend_off);
    free(d->sorted_off);
    free(d->pend_entry);
    free(d->sorted_entry);
}

int dispatcher_create(dispatcher_t **out, store_t *s, uint64_t dispatched, uint64_t checkpoint)
{
    dispatcher_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return ENOMEM;
    int rc;
    d->s = s;
    d->touched = calloc(TOUCHED_CAP, sizeof(*d->touched));
    if (d->touched == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    rc = queue_table_init(&d->topic_ids);
    if (rc)
        goto fail;
    d->pend_cap = (size_t)s->cfg.dispatch_batch_max;
    d->pend_slot = malloc(d->pend_cap * sizeof(*d->pend_slot));
    d->pend_off = malloc(d->pend_cap * sizeof(*d->pend_off));
    d->sorted_off = malloc(d->pend_cap * sizeof(*d->sorted_off));
    d->pend_entry = malloc(d->pend_cap * sizeof(*d->pend_entry));
    d->sorted_entry = malloc(d->pend_cap * sizeof(*d->sorted_entry));
    if (!d->pend_slot || !d->pend_off || !d->sorted_off || !d->pend_entry || !d->sorted_entry) {
        rc = ENOMEM;
        goto fail;
    }
    atomic_store(&d->dispatched, dispatched);
    d->checkpoint = checkpoint;
    d->mark_every = (uint64_t)s->cfg.dispatch_batch_max / 32 + 1;
    pthread_mutex_init(&d->lock, NULL);
    rill_cond_init_monotonic(&d->wake);
    rill_cond_init_monotonic(&d->progress);

    kv_txn_t *txn;
    rc = kv_read_begin(s->kv, &txn);
    if (rc)
        goto fail_sync;
    uint64_t next = 1;
    rc = meta_get_u64(txn, &s->t, META_NEXT_TOPIC_ID, &next);
    if (rc == RILL_ENOTFOUND) {
        next = 1;
        rc = 0;
    }
    kv_read_end(txn);
    if (rc)
        goto fail_sync;
    d->next_topic_id = (uint32_t)next;
    if (kv_read_begin(s->kv, &txn) == 0) {
        kv_cursor_t *c = NULL;
        kv_val_t k, v;
        if (kv_cursor_open(txn, s->t.keyidx, &c) == 0 && kv_cursor_last(c, &k, &v) == 0 &&
            k.len <= sizeof(d->keyidx_max)) {
            memcpy(d->keyidx_max, k.data, k.len);
            d->keyidx_max_len = k.len;
        }
        kv_cursor_close(c);
        kv_read_end(txn);
    }
    *out = d;
    return 0;
fail_sync:
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->wake);
    pthread_cond_destroy(&d->progress);
fail:
    queue_table_free(&d->topic_ids);
    free_pending(d);
    free(d->touched);
    free(d);
    return rc;
}

int dispatcher_run_until(dispatcher_t *d, uint64_t end)
{
    while (atomic_load(&d->dispatched) < end) {
        int n = dispatch_once(d, end);
        if (n < 0)
            return n;
        if (n == 0 && atomic_load(&d->dispatched) < end) {
            /* only blanks were left: dispatch_batch moved past them */
            if (d->batch_end <= d->batch_from)
                return RILL_ECORRUPT;
        }
    }
    return 0;
}

int dispatcher_start(dispatcher_t *d)
{
    int rc = pthread_create(&d->thread, NULL, dispatcher_main, d);
    if (rc == 0)
        d->running = 1;
    return rc;
}

void dispatcher_notify(dispatcher_t *d)
{
    /* Pairs with the fence after `sleeping = 1`: either we see it set, or the
     * dispatcher sees our new `committed` before it sleeps. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&d->sleeping, memory_order_relaxed)) {
        pthread_mutex_lock(&d->lock);
        pthread_cond_signal(&d->wake);
        pthread_mutex_unlock(&d->lock);
    }
}

void dispatcher_stop(dispatcher_t *d)
{
    if (d == NULL || !d->running)
        return;
    pthread_mutex_lock(&d->lock);
    d->stop = 1;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    d->running = 0;
    dispatcher_run_until(d, commitlog_committed(d->s->cl));
    refresh_checkpoint(d);
}

void dispatcher_free(dispatcher_t *d)
{
    if (d == NULL)
        return;
    assert(!d->running);
    queue_table_free(&d->topic_ids);
    free_pending(d);
    free(d->touched);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->wake);
    pthread_cond_destroy(&d->progress);
    free(d);
}

uint64_t dispatcher_dispatched(dispatcher_t *d)
{
    return atomic_load(&d->dispatched);
}

uint64_t dispatcher_last_store_ts(dispatcher_t *d)
{
    return atomic_load(&d->last_store_ts);
}

int dispatcher_wait(dispatcher_t *d, uint64_t target, uint32_t timeout_ms)
{
    struct timespec ts;
    rill_deadline_after_ms(&ts, timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    while (atomic_load(&d->dispatched) < target) {
        if (pthread_cond_timedwait(&d->progress, &d->lock, &ts) == ETIMEDOUT) {
            rc = atomic_load(&d->dispatched) < target ? RILL_EFLUSHTIMEOUT : 0;
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}
