/*
 * process_queue.c - one queue's cache of pulled messages (process_queue.h).
 * A growable ring kept as a sliding window: slots are popped at `start`,
 * appended at start + n, and compacted to the front when the tail reaches
 * the end. Flow control keeps n below pull.threshold.queue.msgs plus one
 * pull batch, so the array stays small.
 */
#include "client/src/process_queue.h"

#include "client/src/core.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pq_init(pq_t *q, int64_t next_offset)
{
    memset(q, 0, sizeof *q);
    q->next_offset = next_offset;
}

void pq_free(pq_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        rill_msg_destroy(q->e[q->start + i].msg);
    free(q->e);
    memset(q, 0, sizeof *q);
}

static int reserve(pq_t *q, size_t more)
{
    if (q->start + q->n + more <= q->cap)
        return 0;
    if (q->start > 0) {
        memmove(q->e, q->e + q->start, q->n * sizeof *q->e);
        q->start = 0;
        if (q->n + more <= q->cap)
            return 0;
    }
    size_t cap = q->cap ? q->cap : 64;
    while (cap < q->n + more)
        cap *= 2;
    pq_entry_t *e = realloc(q->e, cap * sizeof *e);
    if (!e)
        return ENOMEM;
    q->e = e;
    q->cap = cap;
    return 0;
}

int pq_append(pq_t *q, rill_msg_t **msgs, size_t n, int64_t next_offset)
{
    if (reserve(q, n) != 0) {
        for (size_t i = 0; i < n; i++)
            rill_msg_destroy(msgs[i]);
        return ENOMEM;
    }
    int64_t floor = q->next_offset;
    if (q->n > 0 && q->e[q->start + q->n - 1].offset + 1 > floor)
        floor = q->e[q->start + q->n - 1].offset + 1;
    for (size_t i = 0; i < n; i++) {
        rill_msg_t *m = msgs[i];
        if (m->queue_offset < floor) {
            rill_msg_destroy(m);
            continue;
        }
        pq_entry_t *slot = &q->e[q->start + q->n++];
        slot->msg = m;
        slot->offset = m->queue_offset;
        slot->state = PQ_PENDING;
        q->held++;
        q->bytes += m->stored_body_len ? m->stored_body_len : m->body_len;
        floor = m->queue_offset + 1;
    }
    if (next_offset > q->next_offset)
        q->next_offset = next_offset;
    return 0;
}

size_t pq_take(pq_t *q, size_t max, rill_msg_t **out)
{
    size_t k = 0;
    while (k < max && q->deliver < q->n) {
        pq_entry_t *slot = &q->e[q->start + q->deliver++];
        assert(slot->state == PQ_PENDING);
        slot->state = PQ_INFLIGHT;
        out[k++] = slot->msg;
    }
    return k;
}

size_t pq_pending(const pq_t *q)
{
    return q->n - q->deliver;
}

/* Index (from start) of the slot holding offset, or n. */
static size_t find(const pq_t *q, int64_t offset)
{
    size_t lo = 0, hi = q->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t o = q->e[q->start + mid].offset;
        if (o == offset)
            return mid;
        if (o < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return q->n;
}

void pq_done(pq_t *q, rill_msg_t *const *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t at = find(q, msgs[i]->queue_offset);
        assert(at < q->n && q->e[q->start + at].msg == msgs[i]);
        pq_entry_t *slot = &q->e[q->start + at];
        assert(slot->state == PQ_INFLIGHT);
        q->bytes -= slot->msg->stored_body_len ? slot->msg->stored_body_len : slot->msg->body_len;
        rill_msg_destroy(slot->msg);
        slot->msg = NULL;
        slot->state = PQ_DONE;
        q->held--;
    }
    while (q->n > 0 && q->e[q->start].state == PQ_DONE) {
        q->start++;
        q->n--;
        assert(q->deliver > 0);
        q->deliver--;
    }
    if (q->n == 0)
        q->start = 0;
}

void pq_rewind(pq_t *q, size_t k)
{
    assert(k <= q->deliver);
    for (size_t i = q->deliver - k; i < q->deliver; i++) {
        assert(q->e[q->start + i].state == PQ_INFLIGHT);
        q->e[q->start + i].state = PQ_PENDING;
    }
    q->deliver -= k;
}

int64_t pq_committable(const pq_t *q)
{
    return q->n > 0 ? q->e[q->start].offset : q->next_offset;
}
