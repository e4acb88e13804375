/*
 * test_broker_queue_lock.c - the queue locks of orderly consumers in a real
 * rill-broker, driven through raw LOCK_BATCH_MQ / UNLOCK_BATCH_MQ calls: a
 * lock answers the subset of queues the client now holds; a queue held by
 * one client cannot be locked by another until the holder unlocks it, its
 * lease (rebalanceLockMaxLiveTime) runs out, its connection closes or it
 * unregisters from the group; unlock releases only the caller's own locks;
 * groups lock independently; malformed requests answer MESSAGE_ILLEGAL.
 *
 * Each connection (rpc_client_t) is one nng pipe, as one client process.
 */
#include "harness.h"

#include "common/clock.h"
#include "rpc/rpc_client.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_MS   5000
#define WAIT_MS   5000 /* bound of every wait for a release to show */
#define POLL_MS   20
#define TOPIC     "LockTopic"
#define GROUP     "lock-group"

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(queue_lock, .fini = suite_fini, .timeout = 60);

/* ---- the broker ---- */

typedef struct {
    hv_proc_t proc;
    char data[1024];
    char url[64];
} lb_t;

static void start_broker(lb_t *b, const char *const *extra)
{
    ts_mkdtemp(b->data, sizeof(b->data), "qlock-data");
    cr_assert_eq(hv_start_broker(&b->proc, b->data, 0, extra), 0, "rill-broker did not start");
    snprintf(b->url, sizeof(b->url), "%s", b->proc.url);
}

static void stop_broker(lb_t *b)
{
    cr_expect_eq(hv_stop(&b->proc), 0, "broker did not exit 0 after SIGTERM");
    ts_rmtree(b->data);
}

static rpc_client_t *connect_to(const lb_t *b)
{
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, b->url, NULL), 0);
    return cli;
}

/* ---- requests ---- */

#define QUEUES_MAX 8

/*
 * LOCK_BATCH_MQ (lock) or UNLOCK_BATCH_MQ of the queues of TOPIC listed in
 * qids (n of them) for group and client_id. Returns the response code; for
 * a SUCCESS lock, *mask gets bit q set for each queue q answered locked.
 */
static int lock_call(rpc_client_t *cli, bool lock, const char *group, const char *client_id,
                     const int *qids, size_t n, uint32_t *mask)
{
    cr_assert_leq(n, QUEUES_MAX);
    Rill__LockQueue qs[QUEUES_MAX];
    Rill__LockQueue *qp[QUEUES_MAX];
    for (size_t i = 0; i < n; i++) {
        rill__lock_queue__init(&qs[i]);
        qs[i].topic = TOPIC;
        qs[i].queue_id = qids[i];
        qp[i] = &qs[i];
    }
    Rill__LockBatchRequest body = RILL__LOCK_BATCH_REQUEST__INIT;
    body.consumer_group = (char *)group;
    body.client_id = (char *)client_id;
    body.n_queues = n;
    body.queues = qp;
    Rill__Request req = RILL__REQUEST__INIT;
    if (lock) {
        req.code = RILL__REQUEST_CODE__LOCK_BATCH_MQ;
        req.body_case = RILL__REQUEST__BODY_LOCK_BATCH;
        req.lock_batch = &body;
    } else {
        req.code = RILL__REQUEST_CODE__UNLOCK_BATCH_MQ;
        req.body_case = RILL__REQUEST__BODY_UNLOCK_BATCH;
        req.unlock_batch = &body;
    }
    Rill__Response *resp = NULL;
    int rc = rpc_client_call(cli, &req, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "call %d failed: %d", req.code, rc);
    int code = resp->code;
    if (lock && code == RILL__RESPONSE_CODE__SUCCESS) {
        cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_LOCK_BATCH);
        uint32_t m = 0;
        for (size_t i = 0; i < resp->lock_batch->n_locked; i++) {
            const Rill__LockQueue *q = resp->lock_batch->locked[i];
            cr_assert_str_eq(q->topic, TOPIC);
            cr_assert(q->queue_id >= 0 && q->queue_id < 32);
            m |= 1u << q->queue_id;
        }
        *mask = m;
    }
    rpc_response_free(resp);
    return code;
}

/* Lock and expect SUCCESS; returns the mask of queues locked. */
static uint32_t lock_q(rpc_client_t *cli, const char *group, const char *client_id, const int *qids,
                       size_t n)
{
    uint32_t mask = 0;
    int code = lock_call(cli, true, group, client_id, qids, n, &mask);
    cr_assert_eq(code, RILL__RESPONSE_CODE__SUCCESS, "lock answered %d", code);
    return mask;
}

static void unlock_q(rpc_client_t *cli, const char *group, const char *client_id, const int *qids,
                     size_t n)
{
    uint32_t unused = 0;
    cr_assert_eq(lock_call(cli, false, group, client_id, qids, n, &unused),
                 RILL__RESPONSE_CODE__SUCCESS);
}

/* Try to lock qid for client_id every POLL_MS until it succeeds or WAIT_MS pass. */
static uint64_t wait_lock(rpc_client_t *cli, const char *client_id, int qid)
{
    uint64_t t0 = rill_mono_ms();
    while (rill_mono_ms() - t0 < WAIT_MS) {
        if (lock_q(cli, GROUP, client_id, &qid, 1) == (1u << qid))
            return rill_mono_ms() - t0;
        rill_sleep_ms(POLL_MS);
    }
    cr_assert_fail("%s never got queue %d within %d ms", client_id, qid, WAIT_MS);
    return 0;
}

/* ---- tests ---- */

Test(queue_lock, held_queue_is_refused_until_unlocked_by_its_holder)
{
    lb_t b;
    start_broker(&b, NULL);
    rpc_client_t *a = connect_to(&b), *c = connect_to(&b);

    const int a_q[] = {0, 1};
    cr_assert_eq(lock_q(a, GROUP, "client-a", a_q, 2), 0x3u);
    /* c asks for 1 (held by a) and 2 (free): only 2 */
    const int c_q[] = {1, 2};
    cr_assert_eq(lock_q(c, GROUP, "client-b", c_q, 2), 0x4u);
    /* a renews its own: both still answered locked; 2 stays c's */
    const int a_all[] = {0, 1, 2};
    cr_assert_eq(lock_q(a, GROUP, "client-a", a_all, 3), 0x3u);

    /* unlock releases only the caller's own locks */
    const int one[] = {1};
    unlock_q(c, GROUP, "client-b", one, 1);
    cr_assert_eq(lock_q(c, GROUP, "client-b", one, 1), 0u);
    unlock_q(a, GROUP, "client-a", one, 1);
    cr_assert_eq(lock_q(c, GROUP, "client-b", one, 1), 0x2u);
    cr_assert_eq(lock_q(a, GROUP, "client-a", one, 1), 0u);

    /* another group locks the same queues independently */
    cr_assert_eq(lock_q(c, "other-group", "client-b", a_all, 3), 0x7u);

    /* unlocking what nobody holds, and locking nothing, are fine */
    const int free_q[] = {5};
    unlock_q(a, GROUP, "client-a", free_q, 1);
    cr_assert_eq(lock_q(a, GROUP, "client-a", NULL, 0), 0u);

    rpc_client_close(a);
    rpc_client_close(c);
    stop_broker(&b);
}

Test(queue_lock, lease_expires_without_renewal)
{
    lb_t b;
    const char *extra[] = {"--rebalanceLockMaxLiveTime=400", NULL};
    start_broker(&b, extra);
    rpc_client_t *a = connect_to(&b), *c = connect_to(&b);
    const int q0[] = {0};

    uint64_t t0 = rill_mono_ms();
    cr_assert_eq(lock_q(a, GROUP, "client-a", q0, 1), 0x1u);
    /* renewals keep it: c is refused for well past one lease */
    uint64_t renewed = 0;
    while (rill_mono_ms() - t0 < 1000) {
        rill_sleep_ms(100);
        cr_assert_eq(lock_q(c, GROUP, "client-b", q0, 1), 0u);
        renewed = rill_mono_ms(); /* before the renewal is sent: a lower bound */
        cr_assert_eq(lock_q(a, GROUP, "client-a", q0, 1), 0x1u);
    }
    /* a stops renewing: c gets it once the lease ran out, not before */
    uint64_t waited = wait_lock(c, "client-b", 0);
    uint64_t since_renewal = rill_mono_ms() - renewed;
    cr_assert_geq(since_renewal, 400, "taken %llu ms after the last renewal, lease 400 ms",
                  (unsigned long long)since_renewal);
    cr_assert_lt(waited, 2000);
    /* and now a is the one refused */
    cr_assert_eq(lock_q(a, GROUP, "client-a", q0, 1), 0u);

    rpc_client_close(a);
    rpc_client_close(c);
    stop_broker(&b);
}

Test(queue_lock, closed_connection_releases_its_locks)
{
    lb_t b;
    start_broker(&b, NULL); /* lease 60 s: only the close can free the queue in time */
    rpc_client_t *a = connect_to(&b), *c = connect_to(&b);
    const int qs[] = {0, 1, 2};
    cr_assert_eq(lock_q(a, GROUP, "client-a", qs, 3), 0x7u);
    cr_assert_eq(lock_q(c, GROUP, "client-b", qs, 3), 0u);
    rpc_client_close(a);
    wait_lock(c, "client-b", 0);
    cr_assert_eq(lock_q(c, GROUP, "client-b", qs, 3), 0x7u);
    rpc_client_close(c);
    stop_broker(&b);
}

Test(queue_lock, unregister_releases_the_group_locks)
{
    lb_t b;
    start_broker(&b, NULL);
    rpc_client_t *a = connect_to(&b), *c = connect_to(&b);
    const int qs[] = {0, 1};
    cr_assert_eq(lock_q(a, GROUP, "client-a", qs, 2), 0x3u);
    cr_assert_eq(lock_q(a, "other-group", "client-a", qs, 2), 0x3u);

    Rill__UnregisterClientRequest u = RILL__UNREGISTER_CLIENT_REQUEST__INIT;
    u.client_id = "client-a";
    u.consumer_group = GROUP;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UNREGISTER_CLIENT;
    req.body_case = RILL__REQUEST__BODY_UNREGISTER_CLIENT;
    req.unregister_client = &u;
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(a, &req, CALL_MS, &resp), 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    rpc_response_free(resp);

    /* GROUP's locks are free at once; other-group's are still a's */
    cr_assert_eq(lock_q(c, GROUP, "client-b", qs, 2), 0x3u);
    cr_assert_eq(lock_q(c, "other-group", "client-b", qs, 2), 0u);
    rpc_client_close(a);
    rpc_client_close(c);
    stop_broker(&b);
}

Test(queue_lock, malformed_requests_are_illegal)
{
    lb_t b;
    start_broker(&b, NULL);
    rpc_client_t *a = connect_to(&b);
    const int q0[] = {0}, bad_q[] = {-1};
    uint32_t mask = 0;
    cr_assert_eq(lock_call(a, true, GROUP, "", q0, 1, &mask), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(lock_call(a, true, "bad group", "client-a", q0, 1, &mask),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(lock_call(a, true, GROUP, "client-a", bad_q, 1, &mask),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(lock_call(a, false, GROUP, "client a", q0, 1, &mask),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    /* a request without a body */
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__LOCK_BATCH_MQ;
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(a, &req, CALL_MS, &resp), 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SYSTEM_ERROR);
    rpc_response_free(resp);
    /* nothing was taken by the refused requests */
    rpc_client_t *c = connect_to(&b);
    cr_assert_eq(lock_q(c, GROUP, "client-b", q0, 1), 0x1u);
    rpc_client_close(a);
    rpc_client_close(c);
    stop_broker(&b);
}

/* LOCK_BATCH_MQ of queues 0..1023 of topics "Fill-<first>" .. "Fill-<first + 3>". */
static int lock_fill(rpc_client_t *cli, int first)
{
    enum { TOPICS = 4, QUEUES = 1024, N = TOPICS * QUEUES };
    static Rill__LockQueue qs[N];
    static Rill__LockQueue *qp[N];
    static char names[TOPICS][32];
    for (int t = 0; t < TOPICS; t++) {
        snprintf(names[t], sizeof names[t], "Fill-%d", first + t);
        for (int q = 0; q < QUEUES; q++) {
            Rill__LockQueue *e = &qs[t * QUEUES + q];
            rill__lock_queue__init(e);
            e->topic = names[t];
            e->queue_id = q;
            qp[t * QUEUES + q] = e;
        }
    }
    Rill__LockBatchRequest body = RILL__LOCK_BATCH_REQUEST__INIT;
    body.consumer_group = GROUP;
    body.client_id = "filler";
    body.n_queues = N;
    body.queues = qp;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__LOCK_BATCH_MQ;
    req.body_case = RILL__REQUEST__BODY_LOCK_BATCH;
    req.lock_batch = &body;
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(cli, &req, CALL_MS, &resp), 0);
    int code = resp->code;
    if (code == RILL__RESPONSE_CODE__SUCCESS)
        cr_assert_eq(resp->lock_batch->n_locked, N);
    rpc_response_free(resp);
    return code;
}

Test(queue_lock, table_is_bounded_and_expired_locks_make_room)
{
    lb_t b;
    const char *extra[] = {"--rebalanceLockMaxLiveTime=4000", NULL};
    start_broker(&b, extra);
    rpc_client_t *a = connect_to(&b), *c = connect_to(&b);
    /* 16 requests of 4096 queues fill the 65536 locks */
    uint64_t t0 = rill_mono_ms();
    for (int i = 0; i < 16; i++)
        cr_assert_eq(lock_fill(a, i * 4), RILL__RESPONSE_CODE__SUCCESS, "fill %d", i);
    uint64_t filled = rill_mono_ms() - t0;
    fprintf(stderr, "queue_lock: 65536 locks taken in 16 requests in %llu ms\n",
            (unsigned long long)filled);
    cr_assert_lt(filled, 4000, "filling took %llu ms, longer than the lease",
                 (unsigned long long)filled);
    /* full: one more lock is SYSTEM_BUSY and takes nothing */
    const int q0[] = {0};
    uint32_t mask = 0;
    cr_assert_eq(lock_call(c, true, GROUP, "client-b", q0, 1, &mask),
                 RILL__RESPONSE_CODE__SYSTEM_BUSY);
    /* a renewal of held locks needs no room */
    cr_assert_eq(lock_fill(a, 0), RILL__RESPONSE_CODE__SUCCESS);
    /* once the leases ran out, the expired locks make room */
    rill_sleep_ms(4100);
    cr_assert_eq(lock_q(c, GROUP, "client-b", q0, 1), 0x1u);
    rpc_client_close(a);
    rpc_client_close(c);
    stop_broker(&b);
}
