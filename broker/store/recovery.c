/*
 * recovery.c - bring the CommitLog and LMDB into agreement at open.
 *
 * The log is the truth; LMDB is a prefix of it (meta.dispatched) plus a
 * checkpoint: the start of a record known to be durable and dispatched.
 *
 *  1. Verify the checkpoint record and scan forward from its end, checking
 *     every record (magic, lengths, checksum, offset) until the first that
 *     fails or until zeros: that is the valid end E. Only the tail after the
 *     checkpoint is read, so recovery time follows the unflushed tail, not
 *     the log size. If the checkpoint record itself is bad (the log lost
 *     bytes it had flushed), fall back to scanning whole segments backwards
 *     from there until one starts with a valid record.
 *  2. Cut the log at E: zero the rest of its segment, remove later segments.
 *  3. LMDB ahead of E (a cut tail): delete cq entries pointing at or past E
 *     and pull each queue's maximum back. Key-index entries past E are left:
 *     every key lookup re-reads and verifies the record it points to.
 *  4. LMDB behind E (a crash before dispatch, or a deleted kv/ directory):
 *     dispatch the missing records now, before anything is served.
 *  5. Seed the appender's next queue offsets from the queue maxima.
 */
#include "broker/store/consume_queue.h"
#include "common/record.h"
#include "broker/store/store_impl.h"
#include "common/errors.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

/* Is there a valid message record starting exactly at pos? Returns its size or 0. */
static uint32_t valid_record_at(store_t *s, uint64_t pos)
{
    uint64_t avail;
    const uint8_t *p = commitlog_ptr(s->cl, pos, &avail);
    record_view_t rv;
    if (p == NULL || record_decode(p, avail, &rv) != 0 || rv.kind != RECORD_KIND_MSG ||
        rv.phys_offset != pos)
        return 0;
    return rv.total_size;
}

/* Walk records from pos while they verify; returns the end of the last good one. */
static uint64_t scan_valid(store_t *s, uint64_t pos, uint64_t *records)
{
    uint64_t seg = commitlog_segment_size(s->cl);
    for (;;) {
        uint64_t avail;
        const uint8_t *p = commitlog_ptr(s->cl, pos, &avail);
        if (p == NULL)
            return pos; /* end of the mapped segments */
        record_view_t rv;
        int rc = record_decode(p, avail, &rv);
        if (rc == RILL_ENOTFOUND)
            return pos;
        if (rc == 0 && rv.kind == RECORD_KIND_BLANK) {
            if (rv.total_size != avail || (pos + rv.total_size) % seg != 0) {
                LOG_WARN("store", "recovery: bad blank record at %llu; cutting the log there",
                         (unsigned long long)pos);
                return pos;
            }
            pos += rv.total_size;
            continue;
        }
        if (rc != 0 || rv.phys_offset != pos) {
            LOG_WARN("store", "recovery: invalid record at %llu (%s); cutting the log there",
                     (unsigned long long)pos, rc ? rill_strerror(rc) : "wrong offset");
            return pos;
        }
        pos += rv.total_size;
        (*records)++;
    }
}

static uint64_t scan_start(store_t *s, uint64_t min, uint64_t checkpoint)
{
    uint64_t end = commitlog_mapped_end(s->cl);
    if (checkpoint == UINT64_MAX || checkpoint < min || checkpoint >= end)
        return min;
    uint32_t size = valid_record_at(s, checkpoint);
    if (size)
        return checkpoint + size;
    uint64_t seg = commitlog_segment_size(s->cl);
    LOG_WARN("store",
             "recovery: checkpoint record at %llu is missing or corrupt; the log lost flushed "
             "bytes; scanning back segment by segment",
             (unsigned long long)checkpoint);
    uint64_t start = checkpoint - checkpoint % seg;
    while (start > min && !valid_record_at(s, start))
        start -= seg;
    return start;
}

typedef struct cut_ctx {
    store_t *s;
    uint64_t end;
    uint64_t entries_removed;
} cut_ctx_t;

/* Delete derived entries that point at or past ctx->end. */
static int cut_derived(kv_txn_t *txn, void *arg)
{
    cut_ctx_t *ctx = arg;
    const store_tables_t *t = &ctx->s->t;
    ctx->entries_removed = 0;
    kv_cursor_t *qc = NULL, *tc = NULL;
    int rc = kv_cursor_open(txn, t->qmax, &qc);
    kv_val_t k, v;
    for (rc = rc ? rc : kv_cursor_first(qc, &k, &v); rc == 0; rc = kv_cursor_next(qc, &k, &v)) {
        if (k.len != QMAX_KEY_BYTES || v.len != QMAX_VAL_BYTES) {
            rc = RILL_ECORRUPT;
            goto out;
        }
        uint8_t qk[QMAX_KEY_BYTES];
        memcpy(qk, k.data, QMAX_KEY_BYTES);
        uint64_t next = kv_be64_get(v.data);
        uint64_t new_next = next, last_ts = kv_be64_get((const uint8_t *)v.data + 8);
        rc = cq_truncate_tail(txn, t, kv_be32_get(qk), kv_be32_get(qk + 4), ctx->end, &new_next,
                              &last_ts, &ctx->entries_removed);
        if (rc)
            goto out;
        if (new_next != next) {
            uint8_t nv[QMAX_VAL_BYTES];
            kv_be64_put(nv, new_next);
            kv_be64_put(nv + 8, last_ts);
            rc = kv_put(txn, t->qmax, qk, sizeof(qk), nv, sizeof(nv), 0);
            if (rc)
                goto out;
            /* the put may have moved the cursor's page: find our place again */
            rc = kv_cursor_seek(qc, qk, sizeof(qk), &k, &v);
            if (rc)
                goto out;
        }
    }
    if (rc == RILL_ENOTFOUND)
        rc = 0;
    if (rc == 0) {
        /* half messages and delayed messages past the end */
        rc = kv_cursor_open(txn, t->txn, &tc);
        uint8_t pk[8];
        kv_be64_put(pk, ctx->end);
        while (rc == 0 && (rc = kv_cursor_seek(tc, pk, 8, &k, &v)) == 0)
            rc = kv_cursor_del(tc);
        if (rc == RILL_ENOTFOUND)
            rc = 0;
        kv_cursor_close(tc);
        tc = NULL;
    }
    if (rc == 0) {
        rc = kv_cursor_open(txn, t->delay, &tc);
        for (rc = rc ? rc : kv_cursor_first(tc, &k, &v); rc == 0;) {
            if (k.len == DELAY_KEY_BYTES && kv_be64_get((const uint8_t *)k.data + 8) >= ctx->end)
                rc = kv_cursor_del(tc);
            if (rc == 0)
                rc = kv_cursor_next(tc, &k, &v);
        }
        if (rc == RILL_ENOTFOUND)
            rc = 0;
    }
    if (rc == 0)
        rc = meta_put_u64(txn, t, META_DISPATCHED, ctx->end);
    if (rc == 0) {
        /* A checkpoint at or past the cut names a record that is gone; new
         * appends may put a valid record there again, and the next recovery
         * would trust the unflushed records before it. Forget it. */
        uint64_t ckpt;
        rc = meta_get_u64(txn, t, META_CHECKPOINT, &ckpt);
        if (rc == 0 && ckpt >= ctx->end)
            rc = kv_del(txn, t->meta, META_CHECKPOINT, strlen(META_CHECKPOINT));
        if (rc == RILL_ENOTFOUND)
            rc = 0;
    }
out:
    kv_cursor_close(tc);
    kv_cursor_close(qc);
    return rc;
}

static int put_dispatched(kv_txn_t *txn, void *arg)
{
    cut_ctx_t *ctx = arg;
    return meta_put_u64(txn, &ctx->s->t, META_DISPATCHED, ctx->end);
}

/* Seed the appender's next queue offsets from qmax. */
static int seed_queue_offsets(store_t *s)
{
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    kv_cursor_t *c = NULL;
    rc = kv_cursor_open(txn, s->t.qmax, &c);
    kv_val_t k, v;
    for (rc = rc ? rc : kv_cursor_first(c, &k, &v); rc == 0; rc = kv_cursor_next(c, &k, &v)) {
        if (k.len != QMAX_KEY_BYTES || v.len != QMAX_VAL_BYTES) {
            rc = RILL_ECORRUPT;
            break;
        }
        uint8_t idb[4];
        memcpy(idb, k.data, 4);
        kv_val_t name;
        rc = kv_get(txn, s->t.topicnames, idb, 4, &name);
        if (rc)
            break;
        rc = commitlog_set_queue_offset(s->cl, name.data, (uint16_t)name.len,
                                        kv_be32_get((const uint8_t *)k.data + 4),
                                        kv_be64_get(v.data));
        if (rc)
            break;
    }
    if (rc == RILL_ENOTFOUND)
        rc = 0;
    kv_cursor_close(c);
    kv_read_end(txn);
    return rc;
}

int store_recover(store_t *s)
{
    uint64_t dispatched = 0, checkpoint = UINT64_MAX;
    int have_dispatched = 0;
    kv_txn_t *txn;
    int rc = kv_read_begin(s->kv, &txn);
    if (rc)
        return rc;
    rc = meta_get_u64(txn, &s->t, META_DISPATCHED, &dispatched);
    if (rc == 0)
        have_dispatched = 1;
    else if (rc != RILL_ENOTFOUND)
        goto read_fail;
    rc = meta_get_u64(txn, &s->t, META_CHECKPOINT, &checkpoint);
    if (rc == RILL_ENOTFOUND) {
        checkpoint = UINT64_MAX;
        rc = 0;
    }
read_fail:
    kv_read_end(txn);
    if (rc)
        return rc;

    uint64_t seg = commitlog_segment_size(s->cl);
    uint64_t min = commitlog_min_offset(s->cl);
    uint64_t end;
    uint64_t scanned = 0;
    if (commitlog_mapped_end(s->cl) == 0) {
        /* No segment at all: a new store, or a log removed by hand. */
        end = have_dispatched ? (dispatched + seg - 1) / seg * seg : 0;
        if (have_dispatched && dispatched > 0)
            LOG_WARN("store",
                     "recovery: LMDB knows %llu bytes of log but no segment exists; "
                     "starting the log at %llu",
                     (unsigned long long)dispatched, (unsigned long long)end);
        min = end;
        s->recovered_from = end;
    } else {
        uint64_t start = scan_start(s, min, checkpoint);
        s->recovered_from = start;
        end = scan_valid(s, start, &scanned);
    }
    rc = commitlog_set_end(s->cl, end);
    if (rc)
        return rc;

    /* Everything from the scan start on was just verified against the log;
     * LMDB entries there may describe bytes that are gone or were rewritten
     * (a cut, then new appends, then a power loss that undid LMDB's record of
     * the cut). Drop them and dispatch that stretch again: it is the
     * unflushed tail, so this costs little and is always right. */
    uint64_t redo_from = s->recovered_from < end ? s->recovered_from : end;
    cut_ctx_t ctx = {.s = s, .end = redo_from};
    if (have_dispatched && dispatched > redo_from) {
        rc = kv_write(s->kv, cut_derived, &ctx);
        if (rc)
            return rc;
        if (dispatched > end)
            LOG_WARN("store", "recovery: LMDB was ahead of the log (%llu > %llu)",
                     (unsigned long long)dispatched, (unsigned long long)end);
        LOG_INFO("store", "recovery: re-indexing [%llu, %llu) (%llu queue entries dropped)",
                 (unsigned long long)redo_from, (unsigned long long)end,
                 (unsigned long long)ctx.entries_removed);
        dispatched = redo_from;
        if (checkpoint != UINT64_MAX && checkpoint >= redo_from)
            checkpoint = UINT64_MAX;
    }
    if (!have_dispatched || dispatched < min) {
        /* LMDB rebuilt from scratch (or older than the oldest segment). */
        dispatched = min;
        checkpoint = UINT64_MAX;
        ctx.end = min;
        rc = kv_write(s->kv, put_dispatched, &ctx);
        if (rc)
            return rc;
    }
    rc = dispatcher_create(&s->disp, s, dispatched, checkpoint);
    if (rc)
        return rc;
    if (dispatched < end) {
        LOG_INFO("store", "recovery: dispatching %llu bytes of log missing from LMDB",
                 (unsigned long long)(end - dispatched));
        rc = dispatcher_run_until(s->disp, end);
        if (rc)
            return rc;
    }
    LOG_INFO("store", "recovery: log [%llu, %llu), %llu records verified after the checkpoint",
             (unsigned long long)min, (unsigned long long)end, (unsigned long long)scanned);
    /* What recovery decided must be durable before appends build on it. */
    rc = kv_sync(s->kv);
    if (rc)
        return rc;
    return seed_queue_offsets(s);
}
