/*
 * commitlog_replica.c - the store's side of master/slave replication
 * (replication/): read whole records as raw bytes on the master, append them
 * byte-identical on the slave, and hash a window of the log so both sides
 * can check they hold the same bytes below the slave's offset.
 */
#include "broker/store/store_impl.h"

#include "common/checksum.h"
#include "common/errors.h"
#include "common/record.h"

#include <stdlib.h>
#include <string.h>

uint64_t store_max_offset(store_t *s)
{
    return commitlog_committed(s->cl);
}

uint64_t store_min_offset(store_t *s)
{
    return commitlog_min_offset(s->cl);
}

int store_record_store_ts(store_t *s, uint64_t phys, uint64_t *ts)
{
    uint8_t hdr[RECORD_PEEK_BYTES];
    record_peek_t hp;
    if (commitlog_copy(s->cl, phys, sizeof(hdr), hdr) != 0)
        return RILL_ENOTFOUND;
    record_peek(hdr, &hp);
    if (hp.magic != RECORD_MAGIC)
        return RILL_ENOTFOUND;
    *ts = hp.store_ts;
    return 0;
}

uint64_t store_segment_size(store_t *s)
{
    return commitlog_segment_size(s->cl);
}

int store_replica_read(store_t *s, uint64_t from, void *buf, size_t cap, size_t *len)
{
    *len = 0;
    uint64_t committed = commitlog_committed(s->cl);
    if (from > committed)
        return RILL_ERANGE;
    if (from == committed)
        return 0;
    if (from < commitlog_min_offset(s->cl))
        return RILL_ERANGE;
    uint64_t avail = 0;
    const uint8_t *p = commitlog_ptr(s->cl, from, &avail);
    if (p == NULL)
        return RILL_ERANGE;
    uint64_t limit = committed - from;
    if (limit > avail)
        limit = avail;
    if (limit > cap)
        limit = cap;
    uint64_t n = 0;
    while (n < limit && limit - n >= 4) {
        uint32_t size = record_peek_size(p + n);
        if (size < RECORD_BLANK_MIN || n + size > avail)
            return RILL_ECORRUPT;
        if (n + size > limit)
            break;
        n += size;
    }
    if (n == 0)
        return RILL_ENOSPACE;
    int rc = commitlog_copy(s->cl, from, (uint32_t)n, buf);
    if (rc)
        return rc;
    *len = (size_t)n;
    return 0;
}

int store_replica_append(store_t *s, uint64_t offset, const void *bytes, size_t len,
                         uint64_t *bad_at)
{
    uint64_t before = commitlog_committed(s->cl);
    int rc = commitlog_append_raw(s->cl, offset, bytes, len, bad_at);
    uint64_t after = commitlog_committed(s->cl);
    if (after != before) {
        dispatcher_notify(s->disp);
        atomic_fetch_add_explicit(&s->put_bytes, after - before, memory_order_relaxed);
    }
    return rc;
}

void store_replica_window(store_t *s, uint64_t offset, uint64_t *from)
{
    uint64_t seg = commitlog_segment_size(s->cl);
    uint64_t lo = offset == 0 ? 0 : (offset - 1) - (offset - 1) % seg;
    uint64_t min = commitlog_min_offset(s->cl);
    if (lo < min)
        lo = min;
    uint64_t f = offset > STORE_REPLICA_WINDOW ? offset - STORE_REPLICA_WINDOW : 0;
    *from = f > lo ? f : lo;
    if (*from > offset)
        *from = offset;
}

int store_replica_hash(store_t *s, uint64_t from, uint64_t to, uint64_t *hash)
{
    if (to < from || to - from > STORE_REPLICA_WINDOW)
        return RILL_EINVAL;
    uint8_t buf[STORE_REPLICA_WINDOW];
    if (to > from) {
        int rc = commitlog_copy(s->cl, from, (uint32_t)(to - from), buf);
        if (rc)
            return rc;
    }
    *hash = rill_hash64(buf, (size_t)(to - from), 0x52494c4c);
    return 0;
}
