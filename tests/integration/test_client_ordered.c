/*
 * test_client_ordered.c - ordered consumption across a group, end to end:
 * a producer sends the steps of many orders, each order to the queue its
 * order id hashes to; orderly push consumers of one group consume them
 * while members join and leave. Every delivery is recorded (order id, step,
 * consumer, global sequence); the story holds when, for every order, the
 * steps seen are non-decreasing over the whole run and none is skipped,
 * every step arrived, and no two listener calls ever ran on one queue at
 * once, even across consumers. The broker's queue locks make the handover
 * safe: the new owner of a queue starts only after the old one finished its
 * call, committed and unlocked (or its lease ran out).
 *
 * Also: an orderly consumer's locks are visible to a raw LOCK_BATCH_MQ from
 * another client id, and released when the consumer is destroyed.
 */
#include "cluster.h"

#include "common/clock.h"
#include "proto/common.pb-c.h"
#include "rpc/rpc_client.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS   30000
#define ORDERS    40
#define STEPS     30
#define LOG_MAX   (ORDERS * STEPS * 4) /* deliveries recorded, redeliveries included */
#define QSLOTS    64                   /* (broker, queue id) slots for the overlap check */
#define CONSUMERS 3
#define TOPIC     "OrderSteps"
#define GROUP     "g_ordered"

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(ordered, .fini = suite_fini, .timeout = 120);

/* ---- what the listeners saw, across consumers ---- */

typedef struct delivery {
    int order, step, consumer;
} delivery_t;

typedef struct seen {
    pthread_mutex_t lock;
    delivery_t log[LOG_MAX]; /* in delivery order */
    int n, dropped;          /* dropped: beyond LOG_MAX */
    int foreign;
    int per_consumer[CONSUMERS];
    atomic_int active[QSLOTS];
    atomic_int overlaps;
    int sleep_ms;
} seen_t;

static seen_t g_seen;

typedef struct listener_ctx {
    seen_t *s;
    int consumer;
} listener_ctx_t;

static int qslot(const rill_msg_t *m)
{
    const char *b = rill_msg_broker_name(m);
    int set = b && strlen(b) > 0 ? (b[strlen(b) - 1] - 'a') & 3 : 0;
    return (set * 16 + (rill_msg_queue_id(m) & 15)) % QSLOTS;
}

static rill_consume_status_t on_steps(rill_msg_t *const *msgs, size_t n, void *opaque)
{
    listener_ctx_t *ctx = opaque;
    seen_t *s = ctx->s;
    int slot = qslot(msgs[0]);
    if (atomic_fetch_add(&s->active[slot], 1) != 0)
        atomic_fetch_add(&s->overlaps, 1);
    for (size_t k = 0; k < n; k++) {
        size_t len = 0;
        const char *body = rill_msg_body(msgs[k], &len);
        char buf[64];
        int order = -1, step = -1;
        if (len < sizeof buf) {
            memcpy(buf, body, len);
            buf[len] = '\0';
            if (sscanf(buf, "o-%d-%d", &order, &step) != 2)
                order = -1;
        }
        pthread_mutex_lock(&s->lock);
        if (order < 0 || order >= ORDERS || step < 0 || step >= STEPS)
            s->foreign++;
        else if (s->n < LOG_MAX)
            s->log[s->n++] = (delivery_t){order, step, ctx->consumer};
        else
            s->dropped++;
        s->per_consumer[ctx->consumer]++;
        pthread_mutex_unlock(&s->lock);
        if (s->sleep_ms > 0)
            rill_sleep_ms((uint32_t)s->sleep_ms);
    }
    atomic_fetch_sub(&s->active[slot], 1);
    return RILL_CONSUME_SUCCESS;
}

/* Every step of every order seen at least once? */
static bool seen_all(seen_t *s)
{
    static bool got[ORDERS][STEPS];
    memset(got, 0, sizeof got);
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n; i++)
        got[s->log[i].order][s->log[i].step] = true;
    pthread_mutex_unlock(&s->lock);
    for (int o = 0; o < ORDERS; o++)
        for (int k = 0; k < STEPS; k++)
            if (!got[o][k])
                return false;
    return true;
}

static int seen_count(seen_t *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/*
 * Per order: each delivered step is at most one past the highest seen so
 * far (none skipped) and not below the last one delivered (no step goes
 * back). Returns the number of violations; prints the first few.
 */
static int order_violations(seen_t *s)
{
    int last[ORDERS], high[ORDERS], bad = 0;
    for (int o = 0; o < ORDERS; o++)
        last[o] = high[o] = -1;
    for (int i = 0; i < s->n; i++) {
        const delivery_t *d = &s->log[i];
        bool ok = d->step >= last[d->order] && d->step <= high[d->order] + 1;
        if (!ok && bad++ < 5)
            fprintf(stderr, "order %d: step %d after step %d (consumer %d, delivery %d)\n",
                    d->order, d->step, last[d->order], d->consumer, i);
        last[d->order] = d->step;
        if (d->step > high[d->order])
            high[d->order] = d->step;
    }
    return bad;
}

/* ---- clients ---- */

static void conf_set(rill_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    cr_assert_eq(rill_conf_set(conf, k, v, err, sizeof err), 0, "%s=%s: %s", k, v, err);
}

static rill_push_consumer_t *orderly_consumer(tc_cluster_t *c, listener_ctx_t *ctx)
{
    rill_conf_t *conf = tc_conf(c, GROUP);
    char id[64];
    snprintf(id, sizeof id, "ordered-%d", ctx->consumer);
    conf_set(conf, "client.id", id);
    conf_set(conf, "consume.from", "FIRST_OFFSET");
    conf_set(conf, "consume.threads", "4");
    conf_set(conf, "lock.renew.ms", "400"); /* local lease 1 s; the broker's is 3 s */
    conf_set(conf, "pull.batch.size", "8");
    rill_push_consumer_t *pc = NULL;
    char err[256];
    cr_assert_eq(rill_push_consumer_new(&pc, conf, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rill_push_consumer_subscribe(pc, TOPIC, "*"), 0);
    cr_assert_eq(rill_push_consumer_set_orderly_listener(pc, on_steps, ctx), 0);
    cr_assert_eq(rill_push_consumer_start(pc), 0, "%s", rill_last_error());
    return pc;
}

static int by_order_id(int n_queues, const rill_msg_t *msg, void *arg)
{
    (void)msg;
    return *(const int *)arg % n_queues;
}

/* Send steps [from, to) of every order, step by step. */
static void send_steps(rill_producer_t *p, int from, int to)
{
    for (int step = from; step < to; step++)
        for (int order = 0; order < ORDERS; order++) {
            rill_msg_t *m = rill_msg_new(TOPIC);
            cr_assert(m);
            char body[64];
            int len = snprintf(body, sizeof body, "o-%d-%d", order, step);
            cr_assert_eq(rill_msg_set_body(m, body, (size_t)len), 0);
            int rc = rill_producer_send_select(p, m, by_order_id, &order, NULL);
            cr_assert_eq(rc, 0, "send o-%d-%d: %s", order, step, rill_last_error());
            rill_msg_destroy(m);
        }
}

static void wait_count(seen_t *s, int n, const char *what)
{
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (seen_count(s) < n && rill_mono_ms() < deadline)
        rill_sleep_ms(20);
    cr_assert_geq(seen_count(s), n, "%s: %d deliveries, wanted %d", what, seen_count(s), n);
}

static size_t owned(rill_push_consumer_t *pc)
{
    rill_queue_t q[64];
    size_t n = 0;
    cr_assert_eq(rill_push_consumer_assignment(pc, q, 64, &n), 0);
    return n;
}

/* ---- tests ---- */

Test(ordered, per_order_steps_survive_members_joining_and_leaving)
{
    const char *extra[] = {"--rebalanceLockMaxLiveTime=3000", NULL};
    tc_cluster_t c = {0};
    tc_start(&c, 1, 2, extra);
    tc_create_topic(&c, TOPIC, 4); /* 8 queues over broker-a and broker-b */
    rill_producer_t *p = NULL;
    char err[256];
    cr_assert_eq(rill_producer_new(&p, tc_conf(&c, "ordered_producer"), err, sizeof err), 0, "%s",
                 err);

    seen_t *s = &g_seen;
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->sleep_ms = 2; /* slow enough that handovers happen mid-queue */
    listener_ctx_t ctx[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        ctx[i] = (listener_ctx_t){s, i};

    rill_push_consumer_t *pc[CONSUMERS] = {0};
    pc[0] = orderly_consumer(&c, &ctx[0]);
    pc[1] = orderly_consumer(&c, &ctx[1]);
    send_steps(p, 0, STEPS / 3);
    wait_count(s, ORDERS * 2, "two consumers started");

    /* a third member joins mid-stream: queues move to it */
    pc[2] = orderly_consumer(&c, &ctx[2]);
    send_steps(p, STEPS / 3, 2 * STEPS / 3);
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (owned(pc[2]) == 0 && rill_mono_ms() < deadline)
        rill_sleep_ms(20);
    cr_assert_gt(owned(pc[2]), 0, "the third consumer never got a queue");
    wait_count(s, ORDERS * STEPS / 2, "after the join");

    /* the first member leaves mid-stream: its queues move to the others */
    send_steps(p, 2 * STEPS / 3, STEPS);
    wait_count(s, ORDERS * STEPS * 3 / 4, "before the leave");
    rill_push_consumer_destroy(pc[0]);
    pc[0] = NULL;

    deadline = rill_mono_ms() + WAIT_MS;
    while (!seen_all(s) && rill_mono_ms() < deadline)
        rill_sleep_ms(50);
    rill_sleep_ms(500); /* late duplicates, if any, would show now */
    for (int i = 0; i < CONSUMERS; i++)
        rill_push_consumer_destroy(pc[i]);

    cr_assert(seen_all(s), "not every step arrived: %d deliveries", s->n);
    cr_assert_eq(s->foreign, 0);
    cr_assert_eq(s->dropped, 0);
    int bad = order_violations(s);
    cr_assert_eq(bad, 0, "%d deliveries out of per-order step order (of %d)", bad, s->n);
    cr_assert_eq(atomic_load(&s->overlaps), 0, "%d listener calls overlapped on one queue",
                 atomic_load(&s->overlaps));
    cr_assert_gt(s->per_consumer[2], 0, "the joining consumer consumed nothing");
    fprintf(stderr, "ordered: %d deliveries of %d steps (per consumer %d/%d/%d)\n", s->n,
            ORDERS * STEPS, s->per_consumer[0], s->per_consumer[1], s->per_consumer[2]);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* LOCK_BATCH_MQ of TOPIC's queues 0..3 on addr as client_id; returns the mask locked. */
static uint32_t raw_lock(const char *addr, const char *client_id)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://%s", addr);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    Rill__LockQueue qs[4];
    Rill__LockQueue *qp[4];
    for (int i = 0; i < 4; i++) {
        rill__lock_queue__init(&qs[i]);
        qs[i].topic = TOPIC;
        qs[i].queue_id = i;
        qp[i] = &qs[i];
    }
    Rill__LockBatchRequest body = RILL__LOCK_BATCH_REQUEST__INIT;
    body.consumer_group = GROUP;
    body.client_id = (char *)client_id;
    body.n_queues = 4;
    body.queues = qp;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__LOCK_BATCH_MQ;
    req.body_case = RILL__REQUEST__BODY_LOCK_BATCH;
    req.lock_batch = &body;
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(cli, &req, 5000, &resp), 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    uint32_t mask = 0;
    for (size_t i = 0; i < resp->lock_batch->n_locked; i++)
        mask |= 1u << resp->lock_batch->locked[i]->queue_id;
    rpc_response_free(resp);
    /* release what this probe took, so it does not hold anything */
    req.code = RILL__REQUEST_CODE__UNLOCK_BATCH_MQ;
    req.body_case = RILL__REQUEST__BODY_UNLOCK_BATCH;
    req.unlock_batch = &body;
    cr_assert_eq(rpc_client_call(cli, &req, 5000, &resp), 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    rpc_response_free(resp);
    rpc_client_close(cli);
    return mask;
}

Test(ordered, consumer_holds_its_queue_locks_until_destroyed)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL); /* lease 60 s: only the consumer's release frees them in time */
    tc_create_topic(&c, TOPIC, 4);
    seen_t *s = &g_seen;
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    listener_ctx_t ctx = {s, 0};
    rill_push_consumer_t *pc = orderly_consumer(&c, &ctx);

    /* all four queues end up locked by the consumer: a probe gets none */
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    uint32_t mask = 0xf;
    while ((mask = raw_lock(tc_broker_addr(&c, 0), "probe")) != 0 && rill_mono_ms() < deadline)
        rill_sleep_ms(50);
    cr_assert_eq(mask, 0u, "the probe got queues 0x%x the consumer should hold", mask);

    rill_push_consumer_destroy(pc);
    /* released on destroy (unregister, connection close): the probe gets them all */
    cr_assert_eq(raw_lock(tc_broker_addr(&c, 0), "probe"), 0xfu);
    tc_stop(&c);
}

/* ---- a lock lost while assigned ---- */

typedef struct probe {
    char url[64];
    atomic_bool stop, got;
} probe_t;

/* One raw call on cli of `code` for queue 0 of TOPIC as "probe"; returns the response code. */
static int probe_call(rpc_client_t *cli, int code, bool *locked)
{
    Rill__LockQueue q = RILL__LOCK_QUEUE__INIT;
    q.topic = TOPIC;
    q.queue_id = 0;
    Rill__LockQueue *qp[1] = {&q};
    Rill__LockBatchRequest body = RILL__LOCK_BATCH_REQUEST__INIT;
    body.consumer_group = GROUP;
    body.client_id = "probe";
    body.n_queues = 1;
    body.queues = qp;
    Rill__UpdateConsumerOffsetRequest commit = RILL__UPDATE_CONSUMER_OFFSET_REQUEST__INIT;
    commit.consumer_group = GROUP;
    commit.topic = TOPIC;
    commit.queue_id = 0;
    commit.commit_offset = 15;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = code;
    if (code == RILL__REQUEST_CODE__LOCK_BATCH_MQ) {
        req.body_case = RILL__REQUEST__BODY_LOCK_BATCH;
        req.lock_batch = &body;
    } else if (code == RILL__REQUEST_CODE__UNLOCK_BATCH_MQ) {
        req.body_case = RILL__REQUEST__BODY_UNLOCK_BATCH;
        req.unlock_batch = &body;
    } else {
        req.body_case = RILL__REQUEST__BODY_UPDATE_CONSUMER_OFFSET;
        req.update_consumer_offset = &commit;
    }
    Rill__Response *resp = NULL;
    if (rpc_client_call(cli, &req, 1000, &resp) != 0)
        return -1;
    int rc = resp->code;
    if (locked)
        *locked = rc == 0 && resp->body_case == RILL__RESPONSE__BODY_LOCK_BATCH &&
                  resp->lock_batch->n_locked == 1;
    rpc_response_free(resp);
    return rc;
}

/*
 * Try to lock queue 0 every 5 ms, on a fresh connection each time (so a
 * restarted broker is reached at once), until it is ours or stop; then keep
 * that connection (closing it would release the lock).
 */
static void *probe_main(void *arg)
{
    probe_t *p = arg;
    rpc_client_t *cli = NULL;
    while (!atomic_load(&p->stop)) {
        bool locked = false;
        if (rpc_client_open(&cli, p->url, NULL) == 0) {
            if (probe_call(cli, RILL__REQUEST_CODE__LOCK_BATCH_MQ, &locked) == 0 && locked) {
                atomic_store(&p->got, true);
                break;
            }
            rpc_client_close(cli);
            cli = NULL;
        }
        rill_sleep_ms(5);
    }
    if (!cli)
        return NULL;
    /* hold it (renew) until told to stop */
    while (!atomic_load(&p->stop)) {
        probe_call(cli, RILL__REQUEST_CODE__LOCK_BATCH_MQ, NULL);
        rill_sleep_ms(200);
    }
    if (atomic_load(&p->got)) {
        /* an interim owner consumed offsets 10..14 and committed 15, then let go */
        probe_call(cli, RILL__REQUEST_CODE__UPDATE_CONSUMER_OFFSET, NULL);
        probe_call(cli, RILL__REQUEST_CODE__UNLOCK_BATCH_MQ, NULL);
    }
    rpc_client_close(cli);
    return NULL;
}

static bool seen_step(seen_t *s, int step)
{
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n; i++)
        found = found || s->log[i].step == step;
    pthread_mutex_unlock(&s->lock);
    return found;
}

Test(ordered, lost_lock_restarts_from_the_committed_offset)
{
    const char *extra[] = {"--rebalanceLockMaxLiveTime=3000", NULL};
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, extra);
    tc_create_topic(&c, TOPIC, 1);
    rill_producer_t *p = NULL;
    char err[256];
    cr_assert_eq(rill_producer_new(&p, tc_conf(&c, "ordered_producer"), err, sizeof err), 0, "%s",
                 err);
    seen_t *s = &g_seen;
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    listener_ctx_t ctx = {s, 0};
    rill_push_consumer_t *pc = orderly_consumer(&c, &ctx);
    int order = 0;
    for (int step = 0; step < 20; step++) {
        if (step == 10) {
            /* steps 0..9 consumed and committed; then the broker restarts (its locks are
               in memory) and a probe takes the queue's lock before the consumer does */
            wait_count(s, 10, "steps 0..9");
            rill_sleep_ms(1000); /* auto.commit.interval.ms 500 */
            probe_t probe = {0};
            snprintf(probe.url, sizeof probe.url, "tcp://%s", tc_broker_addr(&c, 0));
            pthread_t th;
            /* the consumer may win the race for the lock after a restart: then again */
            for (int attempt = 0; attempt < 4 && !atomic_load(&probe.got); attempt++) {
                atomic_store(&probe.stop, false);
                tc_broker_stop(&c, 0, SIGTERM);
                cr_assert_eq(pthread_create(&th, NULL, probe_main, &probe), 0);
                tc_broker_restart(&c, 0);
                uint64_t until = rill_mono_ms() + 3000;
                while (!atomic_load(&probe.got) && rill_mono_ms() < until)
                    rill_sleep_ms(10);
                if (!atomic_load(&probe.got)) {
                    atomic_store(&probe.stop, true);
                    pthread_join(th, NULL);
                }
            }
            cr_assert(atomic_load(&probe.got), "the probe never got the lock");
            /* the consumer's local lease (1 s) runs out and its renewal is refused */
            rill_sleep_ms(2000);
            for (int k = 10; k < 20; k++) {
                rill_msg_t *m = rill_msg_new(TOPIC);
                char body[64];
                int len = snprintf(body, sizeof body, "o-%d-%d", order, k);
                cr_assert_eq(rill_msg_set_body(m, body, (size_t)len), 0);
                cr_assert_eq(rill_producer_send_select(p, m, by_order_id, &order, NULL), 0, "%s",
                             rill_last_error());
                rill_msg_destroy(m);
            }
            rill_sleep_ms(500);
            cr_assert_eq(seen_count(s), 10, "consumed while another client held the lock");
            atomic_store(&probe.stop, true); /* commits 15 and unlocks */
            pthread_join(th, NULL);
            break;
        }
        rill_msg_t *m = rill_msg_new(TOPIC);
        char body[64];
        int len = snprintf(body, sizeof body, "o-%d-%d", order, step);
        cr_assert_eq(rill_msg_set_body(m, body, (size_t)len), 0);
        cr_assert_eq(rill_producer_send_select(p, m, by_order_id, &order, NULL), 0, "%s",
                     rill_last_error());
        rill_msg_destroy(m);
    }
    /* the consumer takes the lock back and starts where the interim owner committed */
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (!seen_step(s, 19) && rill_mono_ms() < deadline)
        rill_sleep_ms(20);
    rill_sleep_ms(300);
    rill_push_consumer_destroy(pc);
    cr_assert(seen_step(s, 19), "step 19 never arrived");
    for (int k = 10; k < 15; k++)
        cr_assert(!seen_step(s, k), "step %d (offset %d) consumed again after the interim owner", k,
                  k);
    cr_assert_eq(s->n, 15, "%d deliveries, wanted 0..9 and 15..19", s->n);
    for (int i = 0; i < s->n; i++) /* 0..9, then 15..19, in order */
        cr_assert_eq(s->log[i].step, i < 10 ? i : i + 5, "delivery %d is step %d", i,
                     s->log[i].step);
    rill_producer_destroy(p);
    tc_stop(&c);
}
