/*
 * test_process_queue.c - the push consumer's per-queue cache and its
 * worker pool, without a broker: the committable offset is the first
 * message not consumed even when listeners finish out of order; orderly
 * rewind; duplicates from a pull answered twice are dropped; the pool runs
 * tasks now and later, in order, and cancels what is left at shutdown.
 */
#include "client/src/consume_pool.h"
#include "client/src/core.h"
#include "client/src/process_queue.h"

#include "common/clock.h"
#include "common/errors.h"

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

static rill_msg_t *msg_at(int64_t offset, size_t body_len)
{
    rill_msg_t *m = rill_msg_new("T");
    cr_assert(m);
    char body[64] = {0};
    cr_assert_eq(rill_msg_set_body(m, body, body_len), 0);
    m->queue_offset = offset;
    return m;
}

/* Append messages at these offsets (next pull from `next`). */
static void append(pq_t *q, const int64_t *offs, size_t n, int64_t next)
{
    rill_msg_t *msgs[16];
    for (size_t i = 0; i < n; i++)
        msgs[i] = msg_at(offs[i], 10);
    cr_assert_eq(pq_append(q, msgs, n, next), 0);
}

Test(process_queue, committable_is_first_unconsumed)
{
    pq_t q;
    pq_init(&q, 5);
    cr_assert_eq(pq_committable(&q), 5);
    int64_t offs[] = {5, 6, 8, 9}; /* 7 was filtered out by tag */
    append(&q, offs, 4, 10);
    cr_assert_eq(pq_slots(&q), 4);
    cr_assert_eq(q.bytes, 40);
    cr_assert_eq(pq_committable(&q), 5);

    rill_msg_t *a[2], *b[2];
    cr_assert_eq(pq_take(&q, 2, a), 2);
    cr_assert_eq(pq_take(&q, 2, b), 2);
    cr_assert_eq(pq_pending(&q), 0);
    cr_assert_eq(a[0]->queue_offset, 5);
    cr_assert_eq(b[0]->queue_offset, 8);

    pq_done(&q, b, 2); /* the later chunk finishes first */
    cr_assert_eq(pq_committable(&q), 5);
    cr_assert_eq(pq_slots(&q), 4, "done entries behind the head keep their slots");
    cr_assert_eq(q.held, 2);
    cr_assert_eq(q.bytes, 20);
    pq_done(&q, a, 2);
    cr_assert_eq(pq_slots(&q), 0);
    cr_assert_eq(pq_committable(&q), 10, "empty: the next pull's offset");
    pq_free(&q);
}

Test(process_queue, duplicates_and_next_offset)
{
    pq_t q;
    pq_init(&q, 0);
    int64_t first[] = {0, 1, 2};
    append(&q, first, 3, 3);
    int64_t again[] = {1, 2, 3, 4}; /* a pull answered twice */
    append(&q, again, 4, 5);
    cr_assert_eq(pq_slots(&q), 5);
    rill_msg_t *m[8];
    cr_assert_eq(pq_take(&q, 8, m), 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(m[i]->queue_offset, i);
    /* an older next offset never moves it back */
    cr_assert_eq(pq_append(&q, NULL, 0, 2), 0);
    cr_assert_eq(q.next_offset, 5);
    pq_free(&q); /* frees messages still held */
}

Test(process_queue, orderly_rewind)
{
    pq_t q;
    pq_init(&q, 0);
    int64_t offs[] = {0, 1, 2, 3};
    append(&q, offs, 4, 4);
    rill_msg_t *m[4];
    cr_assert_eq(pq_take(&q, 2, m), 2);
    pq_rewind(&q, 2);
    cr_assert_eq(pq_pending(&q), 4);
    rill_msg_t *again[4];
    cr_assert_eq(pq_take(&q, 2, again), 2);
    cr_assert_eq(again[0], m[0]);
    cr_assert_eq(again[1], m[1]);
    pq_done(&q, again, 2);
    cr_assert_eq(pq_committable(&q), 2);
    pq_free(&q);
}

Test(process_queue, many_rounds_compact)
{
    pq_t q;
    pq_init(&q, 0);
    int64_t next = 0;
    for (int round = 0; round < 200; round++) {
        int64_t offs[8];
        for (int i = 0; i < 8; i++)
            offs[i] = next++;
        append(&q, offs, 8, next);
        rill_msg_t *m[8];
        cr_assert_eq(pq_take(&q, 8, m), 8);
        pq_done(&q, m + 1, 7);
        pq_done(&q, m, 1);
        cr_assert_eq(pq_committable(&q), next);
    }
    cr_assert_leq(q.cap, 64);
    pq_free(&q);
}

/* ---- consume_pool ---- */

typedef struct counted {
    cp_task_t task;
    atomic_int runs, cancels;
    int order_slot;
} counted_t;

static atomic_int order_next;
static int order_seen[8];

static void counted_fn(cp_task_t *t, bool cancelled)
{
    counted_t *c = (counted_t *)t;
    if (cancelled) {
        atomic_fetch_add(&c->cancels, 1);
        return;
    }
    order_seen[atomic_fetch_add(&order_next, 1)] = c->order_slot;
    atomic_fetch_add(&c->runs, 1);
}

Test(consume_pool, runs_now_later_and_cancels_at_shutdown)
{
    cp_pool_t *p = NULL;
    cr_assert_eq(cp_create(&p, 1, "test-pool"), 0);
    counted_t now = {0}, later = {0}, never = {0};
    cp_task_init(&now.task, counted_fn);
    cp_task_init(&later.task, counted_fn);
    cp_task_init(&never.task, counted_fn);
    now.order_slot = 1;
    later.order_slot = 2;
    cr_assert_eq(cp_submit(p, &later.task, 100), 0);
    cr_assert_eq(cp_submit(p, &now.task, 0), 0);
    cr_assert_eq(cp_submit(p, &never.task, 60000), 0);
    uint64_t deadline = rill_mono_ms() + 5000;
    while (atomic_load(&later.runs) == 0 && rill_mono_ms() < deadline)
        rill_sleep_ms(5);
    cr_assert_eq(atomic_load(&now.runs), 1);
    cr_assert_eq(atomic_load(&later.runs), 1);
    cr_assert_eq(order_seen[0], 1);
    cr_assert_eq(order_seen[1], 2);
    cr_assert_eq(cp_pending(p), 1);
    cp_shutdown(p);
    cr_assert_eq(atomic_load(&never.runs), 0);
    cr_assert_eq(atomic_load(&never.cancels), 1);
    cr_assert_eq(cp_submit(p, &now.task, 0), RILL_ECLOSED);
    cp_destroy(p);
}

Test(consume_pool, bad_thread_count)
{
    cp_pool_t *p = NULL;
    cr_assert_eq(cp_create(&p, 0, "x"), RILL_EINVAL);
    cr_assert_eq(cp_create(&p, CP_THREADS_MAX + 1, "x"), RILL_EINVAL);
}
