/*
 * Durability of appends: SYNC_FLUSH puts return only once their bytes are
 * flushed (alone, in batches, and from 16 threads at once through group
 * commit), store_put_async completes a caller's flush_waiter, ASYNC_FLUSH
 * catches up by pages or by the thorough interval, and store_flush() is
 * immediate.
 */
#include "broker/store/store.h"
#include "common/clock.h"
#include "common/errors.h"
#include "store_test_util.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATCH_UP_MS 3000u /* bound for ASYNC_FLUSH to catch up in these configs */

static char g_dir[512];
static store_t *g_store;
static uint8_t g_buf[1 << 20];

static void setup_dir(void)
{
    ts_mkdtemp(g_dir, sizeof(g_dir), "flush");
}

static void teardown(void)
{
    store_close(g_store);
    g_store = NULL;
    if (g_dir[0])
        ts_rmtree(g_dir);
}

TestSuite(store_flush, .init = setup_dir, .fini = teardown, .timeout = 60);

static void open_sync(int64_t segment_size)
{
    store_config_t cfg;
    stu_config(&cfg, g_dir, segment_size);
    cfg.flush_disk_type = STORE_SYNC_FLUSH;
    cr_assert_eq(store_open(&g_store, &cfg), 0);
}

static uint64_t flushed_now(void)
{
    store_stats_t st;
    store_get_stats(g_store, &st);
    return st.flushed;
}

static const stu_attrs_t NO_ATTRS = {NULL, NULL, NULL};

Test(store_flush, sync_put_is_flushed_on_return)
{
    open_sync(STU_SEG_64K);
    char body[600];
    memset(body, 'b', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    for (int i = 0; i < 300; i++) { /* crosses a few 64 KiB segments */
        store_put_result_t r;
        cr_assert_eq(stu_put(g_store, "Sync", (uint32_t)(i % 2), body, NO_ATTRS, &r), 0);
        uint64_t end = r.phys_offset + r.size;
        cr_assert_geq(flushed_now(), end, "put %d", i);
    }
    /* a batch: durable up to its last record */
    stu_msg_buf_t mb[5];
    store_msg_t msgs[5];
    store_put_result_t res[5];
    for (int i = 0; i < 5; i++) {
        stu_msg(&mb[i], "Sync", 3, "batched", NO_ATTRS);
        msgs[i] = mb[i].m;
    }
    cr_assert_eq(store_put(g_store, msgs, 5, res), 0);
    cr_assert_geq(flushed_now(), res[4].phys_offset + res[4].size);
    for (int i = 1; i < 5; i++) {
        cr_assert_eq(res[i].phys_offset, res[i - 1].phys_offset + res[i - 1].size);
        cr_assert_eq(res[i].queue_offset, res[i - 1].queue_offset + 1);
    }
    store_stats_t st;
    store_get_stats(g_store, &st);
    cr_assert_eq(st.flushed, st.committed);
    cr_assert_eq(st.puts, 305);
}

enum { THREADS = 16, PUTS_PER_THREAD = 500, QUEUES = 4 };

typedef struct put_thread {
    int id;
    store_put_result_t res[PUTS_PER_THREAD];
    int rc_first_error;
    int errors;
    int not_durable; /* puts whose bytes were not flushed when store_put returned */
} put_thread_t;

static put_thread_t g_threads[THREADS];

static void *put_worker(void *arg)
{
    put_thread_t *t = arg;
    char body[32];
    for (int i = 0; i < PUTS_PER_THREAD; i++) {
        snprintf(body, sizeof(body), "t%02d-%04d", t->id, i);
        int rc = stu_put(g_store, "Group", (uint32_t)(t->id % QUEUES), body, NO_ATTRS, &t->res[i]);
        if (rc) {
            if (t->errors++ == 0)
                t->rc_first_error = rc;
            continue;
        }
        if (flushed_now() < t->res[i].phys_offset + t->res[i].size)
            t->not_durable++;
    }
    return NULL;
}

Test(store_flush, sync_group_commit_16_threads)
{
    open_sync(STU_SEG_1M);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        g_threads[t].id = t;
        cr_assert_eq(pthread_create(&th[t], NULL, put_worker, &g_threads[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        cr_assert_eq(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < THREADS; t++) {
        cr_assert_eq(g_threads[t].errors, 0, "thread %d: %d errors, first %s", t,
                     g_threads[t].errors, rill_errname(g_threads[t].rc_first_error));
        cr_assert_eq(g_threads[t].not_durable, 0, "thread %d", t);
    }
    /* the appender gave every queue unique, consecutive offsets in per-thread order */
    static int owner[QUEUES][THREADS / QUEUES * PUTS_PER_THREAD];
    memset(owner, 0xff, sizeof(owner));
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < PUTS_PER_THREAD; i++) {
            uint64_t qo = g_threads[t].res[i].queue_offset;
            cr_assert_lt(qo, THREADS / QUEUES * PUTS_PER_THREAD);
            cr_assert_eq(owner[t % QUEUES][qo], -1, "offset %llu given twice",
                         (unsigned long long)qo);
            owner[t % QUEUES][qo] = t * PUTS_PER_THREAD + i;
            if (i > 0)
                cr_assert_gt(qo, g_threads[t].res[i - 1].queue_offset);
        }
    }
    cr_assert_eq(store_wait_dispatched(g_store, STU_DISPATCH_WAIT_MS), 0);
    const uint32_t per_queue = THREADS / QUEUES * PUTS_PER_THREAD;
    static record_view_t rv[THREADS / QUEUES * PUTS_PER_THREAD];
    for (uint32_t q = 0; q < QUEUES; q++) {
        uint64_t min, max;
        cr_assert_eq(store_queue_range(g_store, "Group", q, &min, &max), 0);
        cr_assert_eq(min, 0);
        cr_assert_eq(max, per_queue);
        store_get_result_t gr;
        cr_assert_eq(
            store_get_messages(g_store, "Group", q, 0, per_queue, NULL, g_buf, sizeof(g_buf), &gr),
            0);
        cr_assert_eq(gr.status, STORE_FOUND);
        cr_assert_eq(gr.count, per_queue);
        cr_assert_eq(gr.next_offset, per_queue);
        cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, per_queue), per_queue);
        int last_i[THREADS];
        for (int t = 0; t < THREADS; t++)
            last_i[t] = -1;
        for (uint32_t j = 0; j < per_queue; j++) {
            cr_assert_eq(rv[j].queue_offset, (uint64_t)j);
            int t = -1, i = -1;
            char body[32];
            cr_assert_lt(rv[j].body_len, sizeof(body));
            memcpy(body, rv[j].body, rv[j].body_len);
            body[rv[j].body_len] = '\0';
            cr_assert_eq(sscanf(body, "t%d-%d", &t, &i), 2, "%s", body);
            cr_assert_eq(owner[q][j], t * PUTS_PER_THREAD + i, "queue %u offset %u: %s", q, j,
                         body);
            cr_assert_eq(rv[j].phys_offset, g_threads[t].res[i].phys_offset);
            cr_assert_gt(i, last_i[t]); /* a thread's messages keep their order */
            last_i[t] = i;
        }
        for (int t = 0; t < THREADS; t++)
            cr_assert_eq(last_i[t], t % QUEUES == (int)q ? PUTS_PER_THREAD - 1 : -1);
    }
    store_stats_t st;
    store_get_stats(g_store, &st);
    cr_assert_eq(st.puts, THREADS * PUTS_PER_THREAD);
    cr_assert_eq(st.flushed, st.committed);
}

typedef struct waiter_ctx {
    flush_waiter_t w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fired;
    int rc;
} waiter_ctx_t;

static void on_durable(flush_waiter_t *w, int rc)
{
    waiter_ctx_t *c = w->arg;
    cr_assert_eq(&c->w, w); /* also checked below; a bad pointer crashes here */
    pthread_mutex_lock(&c->mu);
    c->fired++;
    c->rc = rc;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void waiter_init(waiter_ctx_t *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    rill_cond_init_monotonic(&c->cv);
    c->w.done = on_durable;
    c->w.arg = c;
    c->rc = 12345;
}

static void waiter_destroy(waiter_ctx_t *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

/* Wait up to ms for the callback; returns how many times it fired. */
static int waiter_wait(waiter_ctx_t *c, uint32_t ms)
{
    struct timespec ts;
    rill_deadline_after_ms(&ts, ms);
    pthread_mutex_lock(&c->mu);
    while (c->fired == 0 && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0) {
    }
    int fired = c->fired;
    pthread_mutex_unlock(&c->mu);
    return fired;
}

Test(store_flush, put_async_completes_the_waiter)
{
    open_sync(STU_SEG_64K);
    enum { N = 20 };
    static waiter_ctx_t ctx[N];
    store_put_result_t r[N];
    for (int i = 0; i < N; i++) {
        waiter_init(&ctx[i]);
        stu_msg_buf_t mb;
        stu_msg(&mb, "Async", 0, "durable soon", NO_ATTRS);
        cr_assert_eq(store_put_async(g_store, &mb.m, 1, &r[i], &ctx[i].w), 1);
        cr_assert_eq(ctx[i].w.target, r[i].phys_offset + r[i].size);
        cr_assert_eq(r[i].queue_offset, (uint64_t)i);
    }
    for (int i = 0; i < N; i++) {
        cr_assert_eq(waiter_wait(&ctx[i], 5000), 1, "waiter %d", i);
        cr_assert_eq(ctx[i].rc, 0);
    }
    cr_assert_geq(flushed_now(), r[N - 1].phys_offset + r[N - 1].size);
    rill_sleep_ms(50);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(ctx[i].fired, 1, "waiter %d completed more than once", i); /* exactly once */
        waiter_destroy(&ctx[i]);
    }

    /* no waiter: nothing to wait for */
    stu_msg_buf_t mb;
    stu_msg(&mb, "Async", 0, "no waiter", NO_ATTRS);
    store_put_result_t r2;
    cr_assert_eq(store_put_async(g_store, &mb.m, 1, &r2, NULL), 0);
    cr_assert_eq(r2.queue_offset, N);

    /* an error: the waiter is not used */
    waiter_ctx_t bad;
    waiter_init(&bad);
    stu_msg(&mb, "", 0, "no topic", NO_ATTRS);
    cr_assert_eq(store_put_async(g_store, &mb.m, 1, &r2, &bad.w), RILL_ETOPIC);
    rill_sleep_ms(50);
    cr_assert_eq(bad.fired, 0);
    waiter_destroy(&bad);
}

/* Callback waiters that take a while, queued among blocking store_put waiters: each
 * callback runs once, with rc 0, after its bytes are flushed; no blocking put fails. */
enum { MIXED_ASYNC = 200, MIXED_BLOCKING_THREADS = 8, MIXED_BLOCKING_PUTS = 300 };
static waiter_ctx_t g_mixed[MIXED_ASYNC];
static _Atomic int g_early_callbacks;

static void on_durable_slow(flush_waiter_t *w, int rc)
{
    if (flushed_now() < w->target)
        atomic_fetch_add(&g_early_callbacks, 1);
    rill_sleep_ms(1); /* e.g. writing the reply */
    on_durable(w, rc);
}

static void *mixed_async_worker(void *arg)
{
    int *bad_rc = arg;
    for (int i = 0; i < MIXED_ASYNC; i++) {
        stu_msg_buf_t mb;
        stu_msg(&mb, "Mixed", 0, "async", NO_ATTRS);
        store_put_result_t r;
        if (store_put_async(g_store, &mb.m, 1, &r, &g_mixed[i].w) != 1)
            (*bad_rc)++;
    }
    return NULL;
}

static void *mixed_blocking_worker(void *arg)
{
    put_thread_t *t = arg;
    for (int i = 0; i < MIXED_BLOCKING_PUTS; i++) {
        int rc = stu_put(g_store, "Mixed", 1 + (uint32_t)t->id, "blocking", NO_ATTRS, &t->res[i]);
        if (rc && t->errors++ == 0)
            t->rc_first_error = rc;
    }
    return NULL;
}

Test(store_flush, callback_waiters_mixed_with_blocking_puts)
{
    open_sync(STU_SEG_1M);
    for (int i = 0; i < MIXED_ASYNC; i++) {
        waiter_init(&g_mixed[i]);
        g_mixed[i].w.done = on_durable_slow;
    }
    pthread_t async_th, th[MIXED_BLOCKING_THREADS];
    int bad_rc = 0;
    for (int t = 0; t < MIXED_BLOCKING_THREADS; t++) {
        memset(&g_threads[t], 0, sizeof(g_threads[t]));
        g_threads[t].id = t;
        cr_assert_eq(pthread_create(&th[t], NULL, mixed_blocking_worker, &g_threads[t]), 0);
    }
    cr_assert_eq(pthread_create(&async_th, NULL, mixed_async_worker, &bad_rc), 0);
    cr_assert_eq(pthread_join(async_th, NULL), 0);
    for (int t = 0; t < MIXED_BLOCKING_THREADS; t++)
        cr_assert_eq(pthread_join(th[t], NULL), 0);
    cr_assert_eq(bad_rc, 0);
    for (int t = 0; t < MIXED_BLOCKING_THREADS; t++)
        cr_assert_eq(g_threads[t].errors, 0, "thread %d: %s", t,
                     rill_errname(g_threads[t].rc_first_error));
    for (int i = 0; i < MIXED_ASYNC; i++) {
        cr_assert_eq(waiter_wait(&g_mixed[i], 5000), 1, "waiter %d", i);
        cr_assert_eq(g_mixed[i].rc, 0, "waiter %d", i);
    }
    rill_sleep_ms(20);
    for (int i = 0; i < MIXED_ASYNC; i++) {
        cr_assert_eq(g_mixed[i].fired, 1, "waiter %d fired %d times", i, g_mixed[i].fired);
        waiter_destroy(&g_mixed[i]);
    }
    cr_assert_eq(atomic_load(&g_early_callbacks), 0);
}

Test(store_flush, put_async_on_async_store_does_not_queue)
{
    store_config_t cfg;
    stu_config(&cfg, g_dir, STU_SEG_64K);
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    waiter_ctx_t c;
    waiter_init(&c);
    stu_msg_buf_t mb;
    stu_msg(&mb, "A", 0, "x", NO_ATTRS);
    store_put_result_t r;
    cr_assert_eq(store_put_async(g_store, &mb.m, 1, &r, &c.w), 0);
    cr_assert_eq(store_flush(g_store), 0);
    rill_sleep_ms(50);
    cr_assert_eq(c.fired, 0);
    waiter_destroy(&c);
}

/* Poll until flushed reaches end or the bound passes; returns ms waited or -1. */
static long wait_flushed(uint64_t end, uint32_t bound_ms)
{
    uint64_t start = rill_mono_ms();
    for (;;) {
        if (flushed_now() >= end)
            return (long)(rill_mono_ms() - start);
        if (rill_mono_ms() - start > bound_ms)
            return -1;
        rill_sleep_ms(5);
    }
}

Test(store_flush, async_flush_catches_up_least_pages_zero)
{
    store_config_t cfg;
    stu_config(&cfg, g_dir, STU_SEG_64K);
    cfg.flush_interval_commitlog = 50;
    cfg.flush_commitlog_least_pages = 0;
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    for (int round = 0; round < 3; round++) {
        store_put_result_t r;
        cr_assert_eq(stu_put(g_store, "A", 0, "tiny", NO_ATTRS, &r), 0);
        long ms = wait_flushed(r.phys_offset + r.size, CATCH_UP_MS);
        cr_assert_geq(ms, 0, "round %d: not flushed within %u ms", round, CATCH_UP_MS);
    }
}

Test(store_flush, async_flush_by_pages)
{
    store_config_t cfg;
    stu_config(&cfg, g_dir, STU_SEG_1M);
    cfg.flush_interval_commitlog = 50;
    cfg.flush_commitlog_least_pages = 4;
    cfg.flush_commitlog_thorough_interval = 600000; /* only dirty pages can trigger it */
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    char body[1024];
    memset(body, 'p', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    store_put_result_t r;
    for (int i = 0; i < 40; i++) /* ~44 KiB: more than 4 pages */
        cr_assert_eq(stu_put(g_store, "A", 0, body, NO_ATTRS, &r), 0);
    cr_assert_geq(wait_flushed(r.phys_offset + r.size, CATCH_UP_MS), 0);
}

Test(store_flush, async_flush_by_thorough_interval)
{
    store_config_t cfg;
    stu_config(&cfg, g_dir, STU_SEG_64K);
    cfg.flush_interval_commitlog = 50;
    cfg.flush_commitlog_least_pages = 1000; /* never reached */
    cfg.flush_commitlog_thorough_interval = 200;
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    for (int round = 0; round < 2; round++) {
        store_put_result_t r;
        cr_assert_eq(stu_put(g_store, "A", 0, "small", NO_ATTRS, &r), 0);
        cr_assert_geq(wait_flushed(r.phys_offset + r.size, CATCH_UP_MS), 0, "round %d", round);
    }
}

Test(store_flush, store_flush_is_immediate)
{
    store_config_t cfg;
    stu_config(&cfg, g_dir, STU_SEG_64K);
    /* defaults: 500 ms interval, 4 pages, 10 s thorough: a small put stays unflushed */
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    store_put_result_t r;
    cr_assert_eq(stu_put(g_store, "A", 0, "small", NO_ATTRS, &r), 0);
    uint64_t end = r.phys_offset + r.size;
    cr_assert_lt(flushed_now(), end);
    cr_assert_eq(store_flush(g_store), 0);
    cr_assert_geq(flushed_now(), end);
    store_stats_t st;
    store_get_stats(g_store, &st);
    cr_assert_eq(st.flushed, st.committed);
    /* nothing new: still fine */
    cr_assert_eq(store_flush(g_store), 0);
    cr_assert_eq(flushed_now(), end);
}
