/*
 * test_client_producer.c - rill_producer_* against real namesrv and broker
 * processes (tests/integration/cluster.h). What a send stored is read back
 * with raw PULL_MESSAGE calls and the library's own record decoder
 * (rc_msgs_from_records), so the checks do not depend on the consumers.
 *
 * Stories: a sync round trip keeps every field; sends spread round-robin;
 * 5000 async sends are each stored exactly once; oneway; batches land in
 * one queue at consecutive offsets (and are refused before any call when
 * malformed); a selector keeps per-key order; a killed broker is retried
 * around; a dead cluster fails in bounded time naming the address; unknown
 * topics, oversized and compressed bodies, delayed messages, namesrv
 * failover, eight sending threads, and a throughput line (no assertion).
 */
#include "cluster.h"
#include "common/clock.h"

#include "client/src/core.h"
#include "common/props.h"
#include "rpc/rpc_client.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALL_MS     5000
#define WAIT_MS     15000 /* bound of every wait for stored messages */
#define QUEUES_MAX  16
#define ASYNC_MSGS  5000
#define THREADS     8
#define THREAD_MSGS 100

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(client_producer, .fini = suite_fini, .timeout = 90);

/* ---- helpers ---- */

static void conf_set(rill_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    cr_assert_eq(rill_conf_set(conf, k, v, err, sizeof(err)), 0, "%s=%s: %s", k, v, err);
}

static rill_producer_t *producer_new(rill_conf_t *conf)
{
    rill_producer_t *p = NULL;
    char err[256] = "";
    cr_assert_eq(rill_producer_new(&p, conf, err, sizeof(err)), 0, "producer: %s", err);
    return p;
}

static rill_msg_t *msg_new(const char *topic, const char *body)
{
    rill_msg_t *m = rill_msg_new(topic);
    cr_assert(m != NULL);
    cr_assert_eq(rill_msg_set_body(m, body, strlen(body)), 0);
    return m;
}

/* A growable list of messages read back. */
typedef struct {
    rill_msg_t **v;
    size_t n, cap;
} mlist_t;

static void mlist_free(mlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        rill_msg_destroy(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Pull (topic, qid) of one broker from *next on, appending to out; advances *next. */
static void pull_queue(rpc_client_t *cli, const char *broker_name, const char *topic, int qid,
                       int64_t *next, mlist_t *out)
{
    for (int round = 0; round < 10000; round++) {
        Rill__PullMessageRequest pm = RILL__PULL_MESSAGE_REQUEST__INIT;
        pm.consumer_group = "test_client_producer";
        pm.topic = (char *)topic;
        pm.queue_id = qid;
        pm.queue_offset = *next;
        pm.max_msg_nums = 32;
        pm.subscription = "*";
        pm.commit_offset = -1;
        Rill__Request req = RILL__REQUEST__INIT;
        req.code = RILL__REQUEST_CODE__PULL_MESSAGE;
        req.body_case = RILL__REQUEST__BODY_PULL_MESSAGE;
        req.pull_message = &pm;
        Rill__Response *resp = NULL;
        cr_assert_eq(rpc_client_call(cli, &req, CALL_MS, &resp), 0, "pull %s:%d", broker_name, qid);
        if (resp->code != RILL__RESPONSE_CODE__SUCCESS) {
            cr_assert(resp->code == RILL__RESPONSE_CODE__PULL_NOT_FOUND ||
                          resp->code == RILL__RESPONSE_CODE__PULL_RETRY_IMMEDIATELY ||
                          resp->code == RILL__RESPONSE_CODE__PULL_OFFSET_MOVED,
                      "pull code %d: %s", resp->code, resp->remark);
            if (resp->body_case == RILL__RESPONSE__BODY_PULL_MESSAGE)
                *next = resp->pull_message->next_begin_offset;
            rpc_response_free(resp);
            return;
        }
        rill_msg_t **got = NULL;
        size_t n = 0;
        cr_assert_eq(rc_msgs_from_records(resp->pull_message->records.data,
                                          resp->pull_message->records.len, broker_name, &got, &n),
                     0);
        if (out->n + n > out->cap) {
            out->cap = (out->n + n) * 2;
            out->v = realloc(out->v, out->cap * sizeof(*out->v));
            cr_assert(out->v != NULL);
        }
        memcpy(out->v + out->n, got, n * sizeof(*got));
        out->n += n;
        free(got);
        *next = resp->pull_message->next_begin_offset;
        rpc_response_free(resp);
    }
}

/*
 * Everything stored in topic's first `queues` queues on every running broker,
 * waiting (bounded) until at least `want` messages have been read.
 */
static void pull_topic(tc_cluster_t *c, const char *topic, int queues, size_t want, mlist_t *out)
{
    cr_assert_leq(queues, QUEUES_MAX);
    rpc_client_t *cli[TC_BROKERS_MAX] = {0};
    int64_t next[TC_BROKERS_MAX][QUEUES_MAX] = {{0}};
    for (int i = 0; i < c->n_brokers; i++) {
        if (c->broker[i].pid == 0)
            continue;
        char url[64];
        snprintf(url, sizeof(url), "tcp://%s", tc_broker_addr(c, i));
        cr_assert_eq(rpc_client_open(&cli[i], url, NULL), 0);
    }
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    for (;;) {
        for (int i = 0; i < c->n_brokers; i++) {
            if (cli[i] == NULL)
                continue;
            char name[16];
            snprintf(name, sizeof(name), "broker-%c", 'a' + i);
            for (int q = 0; q < queues; q++)
                pull_queue(cli[i], name, topic, q, &next[i][q], out);
        }
        if (out->n >= want || rill_mono_ms() > deadline)
            break;
        rill_sleep_ms(20);
    }
    for (int i = 0; i < c->n_brokers; i++)
        rpc_client_close(cli[i]);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every unique key of l is in keys (n of them) exactly once, and l has n messages. */
static void assert_stored_once(const mlist_t *l, char (*keys)[RILL_MSGID_BYTES + 1], size_t n)
{
    cr_assert_eq(l->n, n, "stored %zu messages, sent %zu", l->n, n);
    const char **got = malloc(n * sizeof(*got));
    const char **want = malloc(n * sizeof(*want));
    cr_assert(got && want);
    for (size_t i = 0; i < n; i++) {
        got[i] = rill_msg_unique_key(l->v[i]);
        cr_assert(got[i] != NULL, "stored message %zu has no UNIQ_KEY", i);
        want[i] = keys[i];
    }
    qsort(got, n, sizeof(*got), cmp_str);
    qsort(want, n, sizeof(*want), cmp_str);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(got[i], want[i], "unique key %zu differs", i);
        if (i > 0)
            cr_assert_str_neq(want[i], want[i - 1], "unique key %s sent twice", want[i]);
    }
    free(got);
    free(want);
}

/* ---- sync ---- */

Test(client_producer, sync_round_trip_keeps_every_field)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "SyncTopic", 4);
    rill_producer_t *p = producer_new(tc_conf(&c, "pg_sync"));

    rill_msg_t *m = msg_new("SyncTopic", "hello rill");
    cr_assert_eq(rill_msg_set_tags(m, "TagA"), 0);
    cr_assert_eq(rill_msg_set_keys(m, "order-1 user-7"), 0);
    cr_assert_eq(rill_msg_set_property(m, "color", "red"), 0);
    cr_assert_null(rill_msg_unique_key(m));
    rill_send_result_t res;
    cr_assert_eq(rill_producer_send(p, m, &res), 0, "%s", rill_last_error());
    cr_assert_eq(res.status, RILL_SEND_OK);
    cr_assert_str_eq(rill_send_status_name(res.status), "SEND_OK");
    cr_assert_eq(strlen(res.msg_id), RILL_MSGID_BYTES);
    cr_assert_eq(strlen(res.unique_key), RILL_MSGID_BYTES);
    cr_assert_not_null(rill_msg_unique_key(m), "the send sets UNIQ_KEY on the message");
    cr_assert_str_eq(rill_msg_unique_key(m), res.unique_key);
    cr_assert_str_eq(res.broker_name, "broker-a");
    cr_assert(res.queue_id >= 0 && res.queue_id < 4);
    cr_assert_eq(res.queue_offset, 0);

    /* A second send of the same message object keeps its unique key. */
    rill_send_result_t res2;
    cr_assert_eq(rill_producer_send(p, m, &res2), 0, "%s", rill_last_error());
    cr_assert_str_eq(res2.unique_key, res.unique_key);
    cr_assert_str_neq(res2.msg_id, res.msg_id);

    mlist_t l = {0};
    pull_topic(&c, "SyncTopic", 4, 2, &l);
    cr_assert_eq(l.n, 2);
    const rill_msg_t *got =
        l.v[0]->queue_id == res.queue_id && l.v[0]->queue_offset == 0 ? l.v[0] : l.v[1];
    size_t len = 0;
    const void *body = rill_msg_body(got, &len);
    cr_assert_eq(len, strlen("hello rill"));
    cr_assert_eq(memcmp(body, "hello rill", len), 0);
    cr_assert_str_eq(rill_msg_topic(got), "SyncTopic");
    cr_assert_str_eq(rill_msg_tags(got), "TagA");
    cr_assert_str_eq(rill_msg_keys(got), "order-1 user-7");
    cr_assert_str_eq(rill_msg_property(got, "color"), "red");
    cr_assert_str_eq(rill_msg_unique_key(got), res.unique_key);
    cr_assert_str_eq(rill_msg_id(got), res.msg_id);
    cr_assert_eq(rill_msg_queue_id(got), res.queue_id);
    cr_assert_eq(rill_msg_queue_offset(got), res.queue_offset);
    cr_assert_eq(rill_msg_commitlog_offset(got), res.commitlog_offset);
    cr_assert_str_eq(rill_msg_broker_name(got), "broker-a");
    cr_assert_gt(rill_msg_born_timestamp(got), 0);
    mlist_free(&l);
    rill_msg_destroy(m);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(client_producer, sends_spread_round_robin_over_sets_and_queues)
{
    tc_cluster_t c;
    tc_start(&c, 1, 2, NULL);
    tc_create_topic(&c, "RrTopic", 4);
    rill_producer_t *p = producer_new(tc_conf(&c, NULL));
    int count[2][4] = {{0}};
    for (int i = 0; i < 32; i++) {
        rill_msg_t *m = msg_new("RrTopic", "rr");
        rill_send_result_t res;
        cr_assert_eq(rill_producer_send(p, m, &res), 0, "%s", rill_last_error());
        int b = res.broker_name[strlen(res.broker_name) - 1] - 'a';
        cr_assert(b == 0 || b == 1, "broker %s", res.broker_name);
        count[b][res.queue_id]++;
        rill_msg_destroy(m);
    }
    for (int b = 0; b < 2; b++)
        for (int q = 0; q < 4; q++)
            cr_assert_eq(count[b][q], 4, "queue %c:%d got %d of 32", 'a' + b, q, count[b][q]);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* ---- async and oneway ---- */

typedef struct {
    atomic_int ok, failed, first_err;
    char (*keys)[RILL_MSGID_BYTES + 1];
} async_state_t;

typedef struct {
    async_state_t *st;
    int i;
} async_slot_t;

static void on_sent(int err, const rill_send_result_t *res, void *opaque)
{
    async_slot_t *slot = opaque;
    if (err != 0) {
        int zero = 0;
        atomic_compare_exchange_strong(&slot->st->first_err, &zero, err);
        atomic_fetch_add(&slot->st->failed, 1);
        return;
    }
    cr_assert_not_null(res);
    memcpy(slot->st->keys[slot->i], res->unique_key, RILL_MSGID_BYTES + 1);
    atomic_fetch_add(&slot->st->ok, 1);
}

Test(client_producer, async_5000_each_stored_exactly_once)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "AsyncTopic", 4);
    rill_producer_t *p = producer_new(tc_conf(&c, "pg_async"));
    async_state_t st = {0};
    st.keys = calloc(ASYNC_MSGS, sizeof(*st.keys));
    async_slot_t *slots = calloc(ASYNC_MSGS, sizeof(*slots));
    cr_assert(st.keys && slots);
    for (int i = 0; i < ASYNC_MSGS; i++) {
        char body[32];
        snprintf(body, sizeof(body), "async-%d", i);
        rill_msg_t *m = msg_new("AsyncTopic", body);
        slots[i] = (async_slot_t){&st, i};
        int rc = rill_producer_send_async(p, m, on_sent, &slots[i]);
        cr_assert_eq(rc, 0, "send_async %d: %s", i, rill_last_error());
        rill_msg_destroy(m); /* borrowed only until send_async returned */
    }
    cr_assert_eq(rill_producer_flush(p, 30000), 0, "%s", rill_last_error());
    cr_assert_eq(atomic_load(&st.failed), 0, "first error %s", rill_strerror(st.first_err));
    cr_assert_eq(atomic_load(&st.ok), ASYNC_MSGS);
    mlist_t l = {0};
    pull_topic(&c, "AsyncTopic", 4, ASYNC_MSGS, &l);
    assert_stored_once(&l, st.keys, ASYNC_MSGS);
    mlist_free(&l);
    rill_producer_destroy(p);
    free(slots);
    free(st.keys);
    tc_stop(&c);
}

Test(client_producer, oneway_sends_are_stored)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "OnewayTopic", 2);
    rill_producer_t *p = producer_new(tc_conf(&c, NULL));
    char keys[100][RILL_MSGID_BYTES + 1];
    for (int i = 0; i < 100; i++) {
        rill_msg_t *m = msg_new("OnewayTopic", "fire and forget");
        cr_assert_eq(rill_producer_send_oneway(p, m), 0, "%s", rill_last_error());
        snprintf(keys[i], sizeof(keys[i]), "%s", rill_msg_unique_key(m));
        rill_msg_destroy(m);
    }
    cr_assert_eq(rill_producer_flush(p, 10000), 0);
    mlist_t l = {0};
    pull_topic(&c, "OnewayTopic", 2, 100, &l);
    assert_stored_once(&l, keys, 100);
    mlist_free(&l);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* ---- batch ---- */

Test(client_producer, batch_lands_in_one_queue_at_consecutive_offsets)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "BatchTopic", 4);
    rill_producer_t *p = producer_new(tc_conf(&c, NULL));
    enum { N = 10 };
    rill_msg_t *msgs[N];
    rill_send_result_t res[N];
    for (int i = 0; i < N; i++) {
        char body[32];
        snprintf(body, sizeof(body), "batch-%d", i);
        msgs[i] = msg_new("BatchTopic", body);
        cr_assert_eq(rill_msg_set_tags(msgs[i], i % 2 ? "odd" : "even"), 0);
    }
    /* a first batch so the second does not start at offset 0 by luck */
    cr_assert_eq(rill_producer_send_batch(p, msgs, 3, NULL), 0, "%s", rill_last_error());
    for (int i = 0; i < 3; i++) { /* new messages, new unique keys, for the second batch */
        rill_msg_destroy(msgs[i]);
        msgs[i] = msg_new("BatchTopic", "again");
        cr_assert_eq(rill_msg_set_tags(msgs[i], i % 2 ? "odd" : "even"), 0);
    }
    cr_assert_eq(rill_producer_send_batch(p, msgs, N, res), 0, "%s", rill_last_error());
    for (int i = 0; i < N; i++) {
        cr_assert_eq(res[i].status, RILL_SEND_OK);
        cr_assert_eq(res[i].queue_id, res[0].queue_id);
        cr_assert_eq(res[i].queue_offset, res[0].queue_offset + i);
        cr_assert_str_eq(res[i].unique_key, rill_msg_unique_key(msgs[i]));
        cr_assert_str_eq(res[i].broker_name, "broker-a");
        cr_assert_eq(strlen(res[i].msg_id), RILL_MSGID_BYTES);
        if (i > 0) {
            cr_assert_str_neq(res[i].msg_id, res[i - 1].msg_id);
            cr_assert_gt(res[i].commitlog_offset, res[i - 1].commitlog_offset);
        }
    }
    mlist_t l = {0};
    pull_topic(&c, "BatchTopic", 4, 3 + N, &l);
    cr_assert_eq(l.n, 3 + N);
    int seen = 0;
    for (size_t k = 0; k < l.n; k++) {
        const rill_msg_t *m = l.v[k];
        if (rill_msg_queue_id(m) != res[0].queue_id ||
            rill_msg_queue_offset(m) < res[0].queue_offset)
            continue;
        int i = (int)(rill_msg_queue_offset(m) - res[0].queue_offset);
        cr_assert_lt(i, N);
        cr_assert_str_eq(rill_msg_unique_key(m), res[i].unique_key);
        cr_assert_str_eq(rill_msg_id(m), res[i].msg_id);
        cr_assert_eq(rill_msg_commitlog_offset(m), res[i].commitlog_offset);
        cr_assert_str_eq(rill_msg_tags(m), i % 2 ? "odd" : "even");
        seen++;
    }
    cr_assert_eq(seen, N);
    mlist_free(&l);
    for (int i = 0; i < N; i++)
        rill_msg_destroy(msgs[i]);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* Malformed batches are refused before any call: the namesrv here does not exist. */
Test(client_producer, malformed_batches_fail_before_any_call)
{
    rill_conf_t *conf = rill_conf_new();
    conf_set(conf, "namesrv", "127.0.0.1:1");
    conf_set(conf, "max.message.bytes", "1000");
    conf_set(conf, "request.timeout.ms", "2000");
    rill_producer_t *p = producer_new(conf);
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    rill_msg_t *a = msg_new("BatchA", big), *b = msg_new("BatchA", big),
               *other = msg_new("BatchB", "x");
    uint64_t t0 = rill_mono_ms();

    rill_msg_t *mixed[2] = {a, other};
    cr_assert_eq(rill_producer_send_batch(p, mixed, 2, NULL), RILL_EINVAL);
    cr_assert(strstr(rill_last_error(), "BatchB") != NULL, "%s", rill_last_error());
    rill_msg_t *too_big[2] = {a, b}; /* 1198 body bytes > 1000 */
    cr_assert_eq(rill_producer_send_batch(p, too_big, 2, NULL), RILL_ETOOBIG);
    cr_assert_eq(rill_producer_send_batch(p, too_big, 0, NULL), RILL_EINVAL);
    cr_assert_eq(rill_producer_send_batch(p, NULL, 1, NULL), RILL_EINVAL);
    rill_msg_t *delayed = msg_new("BatchA", "later");
    cr_assert_eq(rill_msg_set_delay_level(delayed, 2), 0);
    rill_msg_t *with_delayed[2] = {other, delayed};
    cr_assert_eq(rill_producer_send_batch(p, with_delayed, 2, NULL), RILL_EINVAL);
    size_t many = RC_BATCH_MSGS_MAX + 1;
    rill_msg_t **lots = calloc(many, sizeof(*lots));
    for (size_t i = 0; i < many; i++)
        lots[i] = other;
    cr_assert_eq(rill_producer_send_batch(p, lots, many, NULL), RILL_EINVAL);
    free(lots);

    /* single sends: oversized and empty bodies never reach the network */
    rill_msg_t *huge = rill_msg_new("BatchA");
    char body[1001];
    memset(body, 'y', sizeof(body));
    cr_assert_eq(rill_msg_set_body(huge, body, sizeof(body)), 0);
    cr_assert_eq(rill_producer_send(p, huge, NULL), RILL_ETOOBIG);
    cr_assert_eq(rill_producer_send_async(p, huge, on_sent, NULL), RILL_ETOOBIG);
    cr_assert_eq(rill_producer_send_oneway(p, huge), RILL_ETOOBIG);
    rill_msg_t *empty = rill_msg_new("BatchA");
    cr_assert_eq(rill_producer_send(p, empty, NULL), RILL_EINVAL);
    cr_assert_eq(rill_producer_send_async(p, empty, NULL, NULL), RILL_EINVAL);
    cr_assert_lt(rill_mono_ms() - t0, 1000, "a refused send made a call");
    cr_assert_eq(rill_producer_flush(p, 0), 0, "refused sends are not in flight");

    rill_msg_destroy(huge);
    rill_msg_destroy(empty);
    rill_msg_destroy(delayed);
    rill_msg_destroy(a);
    rill_msg_destroy(b);
    rill_msg_destroy(other);
    rill_producer_destroy(p);
}

/* ---- ordered (selector) ---- */

typedef struct {
    int key;
    int n_queues_seen;
} select_arg_t;

static int select_by_key(int n_queues, const rill_msg_t *msg, void *arg)
{
    select_arg_t *a = arg;
    (void)msg;
    a->n_queues_seen = n_queues;
    return a->key * 3; /* taken modulo n_queues */
}

Test(client_producer, selector_keeps_one_key_in_one_queue_in_order)
{
    tc_cluster_t c;
    tc_start(&c, 1, 2, NULL);
    tc_create_topic(&c, "OrderTopic", 4);
    rill_producer_t *p = producer_new(tc_conf(&c, NULL));
    enum { KEYS = 5, STEPS = 20 };
    rill_queue_t where[KEYS];
    memset(where, 0, sizeof(where));
    for (int s = 0; s < STEPS; s++) {
        for (int k = 0; k < KEYS; k++) {
            char body[32];
            snprintf(body, sizeof(body), "%d:%d", k, s);
            rill_msg_t *m = msg_new("OrderTopic", body);
            select_arg_t arg = {k, 0};
            rill_send_result_t res;
            cr_assert_eq(rill_producer_send_select(p, m, select_by_key, &arg, &res), 0, "%s",
                         rill_last_error());
            cr_assert_eq(arg.n_queues_seen, 8, "2 sets x 4 queues");
            /* index (3k mod 8) in (broker name, queue id) order */
            int idx = (3 * k) % 8;
            cr_assert_str_eq(res.broker_name, idx < 4 ? "broker-a" : "broker-b");
            cr_assert_eq(res.queue_id, idx % 4);
            if (s == 0) {
                snprintf(where[k].broker_name, sizeof(where[k].broker_name), "%s", res.broker_name);
                where[k].queue_id = res.queue_id;
            }
            rill_msg_destroy(m);
        }
    }
    mlist_t l = {0};
    pull_topic(&c, "OrderTopic", 4, KEYS * STEPS, &l);
    cr_assert_eq(l.n, KEYS * STEPS);
    /* per queue, pulled in queue order: each key's steps must come 0, 1, 2, ... */
    int next_step[KEYS] = {0};
    for (size_t i = 0; i < l.n; i++) {
        size_t len;
        const char *body = rill_msg_body(l.v[i], &len);
        int k, s;
        cr_assert_eq(sscanf(body, "%d:%d", &k, &s), 2);
        cr_assert_str_eq(rill_msg_broker_name(l.v[i]), where[k].broker_name);
        cr_assert_eq(rill_msg_queue_id(l.v[i]), where[k].queue_id);
        cr_assert_eq(s, next_step[k], "key %d: step %d after %d", k, s, next_step[k] - 1);
        next_step[k]++;
    }
    mlist_free(&l);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* ---- failures ---- */

Test(client_producer, killed_broker_is_retried_around)
{
    tc_cluster_t c;
    tc_start(&c, 1, 2, NULL);
    tc_create_topic(&c, "RetryTopic", 4);
    rill_conf_t *conf = tc_conf(&c, NULL);
    conf_set(conf, "send.timeout.ms", "1000");
    conf_set(conf, "send.retries", "2");
    rill_producer_t *p = producer_new(conf);
    for (int i = 0; i < 8; i++) { /* both sets in use */
        rill_msg_t *m = msg_new("RetryTopic", "before");
        cr_assert_eq(rill_producer_send(p, m, NULL), 0, "%s", rill_last_error());
        rill_msg_destroy(m);
    }
    tc_broker_stop(&c, 0, SIGKILL);
    uint64_t t0 = rill_mono_ms();
    for (int i = 0; i < 20; i++) {
        rill_msg_t *m = msg_new("RetryTopic", "after");
        rill_send_result_t res;
        cr_assert_eq(rill_producer_send(p, m, &res), 0, "send %d: %s", i, rill_last_error());
        cr_assert_str_eq(res.broker_name, "broker-b");
        rill_msg_destroy(m);
    }
    /* at most a couple of attempts wait out their timeout on the dead broker */
    cr_assert_lt(rill_mono_ms() - t0, 8000, "took %llu ms", (unsigned long long)(rill_mono_ms() - t0));
    /* async sends go around it too */
    async_state_t st = {0};
    st.keys = calloc(50, sizeof(*st.keys));
    async_slot_t slots[50];
    for (int i = 0; i < 50; i++) {
        rill_msg_t *m = msg_new("RetryTopic", "async after");
        slots[i] = (async_slot_t){&st, i};
        cr_assert_eq(rill_producer_send_async(p, m, on_sent, &slots[i]), 0, "%s",
                     rill_last_error());
        rill_msg_destroy(m);
    }
    cr_assert_eq(rill_producer_flush(p, 20000), 0);
    cr_assert_eq(atomic_load(&st.ok), 50, "failed %d, first %s", atomic_load(&st.failed),
                 rill_strerror(st.first_err));
    free(st.keys);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(client_producer, dead_cluster_fails_in_bounded_time_naming_the_broker)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "DownTopic", 2);
    rill_conf_t *conf = tc_conf(&c, NULL);
    conf_set(conf, "send.timeout.ms", "500");
    conf_set(conf, "send.retries", "2");
    conf_set(conf, "send.inflight.max", "1");
    rill_producer_t *p = producer_new(conf);
    rill_msg_t *m = msg_new("DownTopic", "x");
    cr_assert_eq(rill_producer_send(p, m, NULL), 0, "%s", rill_last_error());
    char addr[64];
    snprintf(addr, sizeof(addr), "%s", tc_broker_addr(&c, 0));
    tc_broker_stop(&c, 0, SIGKILL);

    uint64_t t0 = rill_mono_ms();
    int rc = rill_producer_send(p, m, NULL);
    uint64_t took = rill_mono_ms() - t0;
    cr_assert(rc == RILL_ECONNREFUSED || rc == RILL_ETIMEDOUT, "rc %d %s: %s", rc,
              rill_strerror(rc), rill_last_error());
    cr_assert(strstr(rill_last_error(), addr) != NULL, "\"%s\" does not name %s", rill_last_error(),
              addr);
    /* No lower bound: how many 500 ms attempts the dead broker costs depends on
     * when the route refresh notices it (1.0-1.5 s seen); the bound that matters
     * is that the caller is not held much past 3 attempts. */
    cr_assert_lt(took, 6000, "took %llu ms", (unsigned long long)took);

    /* async: the callback reports the same kind of error; the bound is send.inflight.max */
    async_state_t st = {0};
    char keys[1][RILL_MSGID_BYTES + 1];
    st.keys = keys;
    async_slot_t slot = {&st, 0};
    t0 = rill_mono_ms();
    cr_assert_eq(rill_producer_send_async(p, m, on_sent, &slot), 0, "%s", rill_last_error());
    cr_assert_eq(rill_producer_send_async(p, m, on_sent, &slot), RILL_EBUSY);
    cr_assert_eq(rill_producer_flush(p, 100), RILL_ETIMEDOUT);
    cr_assert_eq(rill_producer_flush(p, 10000), 0);
    took = rill_mono_ms() - t0;
    cr_assert_eq(atomic_load(&st.failed), 1);
    rc = atomic_load(&st.first_err);
    cr_assert(rc == RILL_ECONNREFUSED || rc == RILL_ETIMEDOUT, "rc %d", rc);
    cr_assert_lt(took, 6000);
    rill_msg_destroy(m);
    t0 = rill_mono_ms();
    rill_producer_destroy(p); /* unregister is best effort and bounded */
    cr_assert_lt(rill_mono_ms() - t0, 3000);
    tc_stop(&c);
}

static const char *const no_auto_create[] = {"--autoCreateTopicEnable=false", NULL};

Test(client_producer, unknown_topic_is_etopic_naming_it)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, no_auto_create);
    rill_producer_t *p = producer_new(tc_conf(&c, NULL));
    rill_msg_t *m = msg_new("NoSuchTopic", "x");
    cr_assert_eq(rill_producer_send(p, m, NULL), RILL_ETOPIC);
    cr_assert(strstr(rill_last_error(), "NoSuchTopic") != NULL, "%s", rill_last_error());
    rill_msg_t *batch[1] = {m};
    cr_assert_eq(rill_producer_send_batch(p, batch, 1, NULL), RILL_ETOPIC);
    cr_assert(strstr(rill_last_error(), "NoSuchTopic") != NULL, "%s", rill_last_error());
    /* async: the broker's refusal arrives in the callback */
    async_state_t st = {0};
    char keys[1][RILL_MSGID_BYTES + 1];
    st.keys = keys;
    async_slot_t slot = {&st, 0};
    cr_assert_eq(rill_producer_send_async(p, m, on_sent, &slot), 0, "%s", rill_last_error());
    cr_assert_eq(rill_producer_flush(p, 10000), 0);
    cr_assert_eq(atomic_load(&st.failed), 1);
    cr_assert_eq(atomic_load(&st.first_err), RILL_ETOPIC);
    /* an illegal name never leaves the client */
    rill_msg_t *bad = msg_new("bad topic!", "x");
    cr_assert_eq(rill_producer_send(p, bad, NULL), RILL_ETOPIC);
    rill_msg_destroy(bad);
    rill_msg_destroy(m);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* A topic nobody created: the first send reaches a broker that creates it. */
Test(client_producer, first_send_auto_creates_a_topic)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    rill_producer_t *p = producer_new(tc_conf(&c, NULL));
    rill_send_result_t res;
    for (int i = 0; i < 10; i++) {
        rill_msg_t *m = msg_new("AutoTopic", "first");
        cr_assert_eq(rill_producer_send(p, m, &res), 0, "send %d: %s", i, rill_last_error());
        cr_assert_str_eq(res.broker_name, "broker-a");
        cr_assert(res.queue_id >= 0 && res.queue_id < 4, "queue %d", res.queue_id);
        rill_msg_destroy(m);
    }
    async_state_t st = {0};
    char keys[1][RILL_MSGID_BYTES + 1];
    st.keys = keys;
    async_slot_t slot = {&st, 0};
    rill_msg_t *m = msg_new("AutoTopic2", "first async");
    cr_assert_eq(rill_producer_send_async(p, m, on_sent, &slot), 0, "%s", rill_last_error());
    cr_assert_eq(rill_producer_flush(p, 10000), 0);
    cr_assert_eq(atomic_load(&st.ok), 1, "%s", rill_strerror(st.first_err));
    rill_msg_destroy(m);
    mlist_t l = {0};
    pull_topic(&c, "AutoTopic", 4, 10, &l);
    cr_assert_eq(l.n, 10);
    mlist_free(&l);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* ---- message features ---- */

Test(client_producer, large_bodies_are_compressed_and_flagged)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "ZstdTopic", 1);
    rill_producer_t *p = producer_new(tc_conf(&c, NULL));
    size_t big_len = 64 * 1024;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = "rill compresses text like this "[i % 31];
    rill_msg_t *m = rill_msg_new("ZstdTopic");
    cr_assert_eq(rill_msg_set_body(m, big, big_len), 0);
    cr_assert_eq(rill_producer_send(p, m, NULL), 0, "%s", rill_last_error());
    rill_msg_t *small = msg_new("ZstdTopic", "short bodies stay as they are");
    cr_assert_eq(rill_producer_send(p, small, NULL), 0, "%s", rill_last_error());
    rill_msg_t *batch[2] = {m, small};
    cr_assert_eq(rill_producer_send_batch(p, batch, 2, NULL), 0, "%s", rill_last_error());

    mlist_t l = {0};
    pull_topic(&c, "ZstdTopic", 1, 4, &l);
    cr_assert_eq(l.n, 4);
    for (size_t i = 0; i < 4; i++) {
        const rill_msg_t *got = l.v[i];
        size_t len;
        const void *body = rill_msg_body(got, &len);
        if (i % 2 == 0) {
            cr_assert_eq(len, big_len);
            cr_assert_eq(memcmp(body, big, big_len), 0);
            cr_assert(got->record_flags & RC_SYS_FLAG_COMPRESSED, "record %zu not flagged", i);
            cr_assert_lt(rill_msg_stored_body_size(got), big_len / 4);
        } else {
            cr_assert_eq(len, strlen("short bodies stay as they are"));
            cr_assert_eq(got->record_flags & RC_SYS_FLAG_COMPRESSED, 0);
            cr_assert_eq(rill_msg_stored_body_size(got), len);
        }
    }
    mlist_free(&l);
    rill_msg_destroy(m);
    rill_msg_destroy(small);
    free(big);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/*
 * Delay level and deliver time travel in the request (Message.delay_level,
 * deliver_time_ms); the broker stores such messages at once but hides them
 * until due (delivery itself: test_client_delay.c). An async delayed send
 * never joins a linger batch (the broker refuses delayed messages in
 * batches), so it succeeds with linger on.
 */
static void on_delayed(int err, const rill_send_result_t *res, void *opaque)
{
    (void)res;
    atomic_int *out = opaque;
    atomic_store(out, err == 0 ? 1 : -err);
}

Test(client_producer, delayed_messages_are_sent_through)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "DelayTopic", 1);
    rill_conf_t *conf = tc_conf(&c, NULL);
    conf_set(conf, "linger.ms", "5000"); /* a batched send would wait for flush */
    rill_producer_t *p = producer_new(conf);
    rill_msg_t *a = msg_new("DelayTopic", "level 3");
    cr_assert_eq(rill_msg_set_delay_level(a, 3), 0);
    rill_msg_t *b = msg_new("DelayTopic", "at a time");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t at = (int64_t)now.tv_sec * 1000 + 60000;
    cr_assert_eq(rill_msg_set_deliver_time(b, at), 0);
    rill_send_result_t ra, rb;
    cr_assert_eq(rill_producer_send(p, a, &ra), 0, "%s", rill_last_error());
    cr_assert_eq(rill_producer_send(p, b, &rb), 0, "%s", rill_last_error());
    cr_assert_eq(ra.status, RILL_SEND_OK);
    cr_assert_eq(rb.status, RILL_SEND_OK);
    atomic_int async_done = 0;
    rill_msg_t *d = msg_new("DelayTopic", "async at a time");
    cr_assert_eq(rill_msg_set_deliver_time(d, at), 0);
    cr_assert_eq(rill_producer_send_async(p, d, on_delayed, &async_done), 0, "%s",
                 rill_last_error());
    uint64_t deadline = rill_mono_ms() + 3000; /* well before linger.ms */
    while (atomic_load(&async_done) == 0 && rill_mono_ms() < deadline)
        rill_sleep_ms(5);
    cr_assert_eq(atomic_load(&async_done), 1, "async delayed send: %d", atomic_load(&async_done));
    /* stored but not visible before its time */
    char url[64];
    snprintf(url, sizeof(url), "tcp://%s", tc_broker_addr(&c, 0));
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    mlist_t l = {0};
    int64_t next = 0;
    rill_sleep_ms(200);
    pull_queue(cli, "broker-a", "DelayTopic", 0, &next, &l);
    cr_assert_eq(l.n, 0, "%zu delayed messages visible a minute early", l.n);
    rpc_client_close(cli);
    mlist_free(&l);
    rill_msg_destroy(a);
    rill_msg_destroy(b);
    rill_msg_destroy(d);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(client_producer, new_producer_survives_a_dead_first_namesrv)
{
    tc_cluster_t c;
    tc_start(&c, 2, 1, NULL);
    tc_create_topic(&c, "NsTopic", 2);
    tc_namesrv_stop(&c, 0);
    for (int round = 0; round < 3; round++) { /* the first pick is random */
        rill_conf_t *conf = tc_conf(&c, NULL);
        conf_set(conf, "request.timeout.ms", "1000");
        rill_producer_t *p = producer_new(conf);
        rill_msg_t *m = msg_new("NsTopic", "via the second namesrv");
        cr_assert_eq(rill_producer_send(p, m, NULL), 0, "round %d: %s", round, rill_last_error());
        rill_msg_destroy(m);
        rill_producer_destroy(p);
    }
    tc_stop(&c);
}

/* ---- concurrency ---- */

typedef struct {
    rill_producer_t *p;
    int t;
    char (*keys)[RILL_MSGID_BYTES + 1];
    int errors;
} thread_arg_t;

static void *send_thread(void *arg)
{
    thread_arg_t *a = arg;
    for (int i = 0; i < THREAD_MSGS; i++) {
        rill_msg_t *m = rill_msg_new("ThreadTopic");
        char body[32];
        snprintf(body, sizeof(body), "t%d-%d", a->t, i);
        rill_msg_set_body(m, body, strlen(body));
        rill_send_result_t res;
        if (rill_producer_send(a->p, m, &res) != 0)
            a->errors++;
        else
            memcpy(a->keys[a->t * THREAD_MSGS + i], res.unique_key, sizeof(res.unique_key));
        rill_msg_destroy(m);
    }
    return NULL;
}

Test(client_producer, eight_threads_send_at_once)
{
    tc_cluster_t c;
    tc_start(&c, 1, 2, NULL);
    tc_create_topic(&c, "ThreadTopic", 4);
    rill_producer_t *p = producer_new(tc_conf(&c, NULL));
    char(*keys)[RILL_MSGID_BYTES + 1] = calloc(THREADS * THREAD_MSGS, sizeof(*keys));
    pthread_t th[THREADS];
    thread_arg_t args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (thread_arg_t){p, t, keys, 0};
        cr_assert_eq(pthread_create(&th[t], NULL, send_thread, &args[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(args[t].errors, 0, "thread %d", t);
    }
    mlist_t l = {0};
    pull_topic(&c, "ThreadTopic", 4, THREADS * THREAD_MSGS, &l);
    assert_stored_once(&l, keys, THREADS * THREAD_MSGS);
    mlist_free(&l);
    free(keys);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* ---- throughput (printed, never asserted) ---- */

static atomic_long tp_ok, tp_failed;

static void on_tp(int err, const rill_send_result_t *res, void *opaque)
{
    (void)res;
    (void)opaque;
    atomic_fetch_add(err ? &tp_failed : &tp_ok, 1);
}

/* RILL_PRODUCER_BENCH_MSGS (default 20000) async 128-byte sends; prints msg/s. */
Test(client_producer, async_throughput)
{
    const char *env = getenv("RILL_PRODUCER_BENCH_MSGS");
    long total = env ? atol(env) : 20000;
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "BenchTopic", 8);
    rill_producer_t *p = producer_new(tc_conf(&c, NULL));
    rill_msg_t *m = rill_msg_new("BenchTopic");
    char body[128];
    memset(body, 'b', sizeof(body));
    cr_assert_eq(rill_msg_set_body(m, body, sizeof(body)), 0);
    uint64_t t0 = rill_mono_ms();
    long busy = 0;
    for (long i = 0; i < total; i++) {
        rill_msg_destroy(m); /* a fresh message: a fresh UNIQ_KEY */
        m = rill_msg_new("BenchTopic");
        rill_msg_set_body(m, body, sizeof(body));
        int rc;
        while ((rc = rill_producer_send_async(p, m, on_tp, NULL)) == RILL_EBUSY) {
            busy++;
            rill_sleep_ms(1);
        }
        cr_assert_eq(rc, 0, "%s", rill_last_error());
    }
    cr_assert_eq(rill_producer_flush(p, 60000), 0);
    uint64_t ms = rill_mono_ms() - t0;
    cr_assert_eq(atomic_load(&tp_ok), total, "failed %ld", atomic_load(&tp_failed));
    fprintf(
        stderr,
        "producer throughput: %ld async sends of 128 B in %llu ms = %.0f msg/s (EBUSY waits %ld)\n",
        total, (unsigned long long)ms, ms ? total * 1000.0 / (double)ms : 0.0, busy);
    rill_msg_destroy(m);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* ---- linger batching of async sends (linger.ms, batch.size, batch.bytes) ---- */

/* What one async send's callback saw; calls counts how often it ran. */
typedef struct {
    atomic_int calls;
    int err;
    rill_send_result_t res;
} linger_slot_t;

static void on_linger(int err, const rill_send_result_t *res, void *opaque)
{
    linger_slot_t *s = opaque;
    s->err = err;
    if (err == 0) {
        cr_assert_not_null(res);
        s->res = *res;
    } else {
        cr_assert_null(res);
    }
    atomic_fetch_add(&s->calls, 1);
}

static int linger_done(linger_slot_t *s, int n)
{
    int done = 0;
    for (int i = 0; i < n; i++)
        done += atomic_load(&s[i].calls) > 0;
    return done;
}

static rill_conf_t *linger_conf(tc_cluster_t *c, const char *linger_ms, const char *batch_size)
{
    rill_conf_t *conf = tc_conf(c, NULL);
    conf_set(conf, "linger.ms", linger_ms);
    conf_set(conf, "batch.size", batch_size);
    return conf;
}

/*
 * 25 sends, batch.size 10, a long linger: two full batches leave at once,
 * the last 5 wait for the linger (or flush). Every callback runs exactly
 * once with its own queue offset and msgId, and the stored message at that
 * offset carries the callback's UNIQ_KEY.
 */
Test(client_producer, linger_batches_give_each_callback_its_own_offset)
{
    enum { N = 25 };
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "LingerTopic", 1);
    rill_producer_t *p = producer_new(linger_conf(&c, "5000", "10"));
    static linger_slot_t s[N];
    memset(s, 0, sizeof(s));
    for (int i = 0; i < N; i++) {
        char body[32];
        snprintf(body, sizeof(body), "linger-%d", i);
        rill_msg_t *m = msg_new("LingerTopic", body);
        cr_assert_eq(rill_producer_send_async(p, m, on_linger, &s[i]), 0, "%s", rill_last_error());
        rill_msg_destroy(m);
    }
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (linger_done(s, N) < 20 && rill_mono_ms() < deadline)
        rill_sleep_ms(5);
    rill_sleep_ms(200);
    cr_assert_eq(linger_done(s, N), 20, "the two full batches are answered, the open one waits");
    cr_assert_eq(rill_producer_flush(p, 10000), 0, "%s", rill_last_error());
    bool seen[N] = {false};
    for (int i = 0; i < N; i++) {
        cr_assert_eq(atomic_load(&s[i].calls), 1, "callback %d ran %d times", i,
                     atomic_load(&s[i].calls));
        cr_assert_eq(s[i].err, 0, "send %d: %s", i, rill_strerror(s[i].err));
        cr_assert_eq(s[i].res.status, RILL_SEND_OK);
        cr_assert_eq(s[i].res.queue_id, 0);
        int64_t off = s[i].res.queue_offset;
        cr_assert(off >= 0 && off < N, "offset %lld", (long long)off);
        cr_assert(!seen[off], "offset %lld given twice", (long long)off);
        seen[off] = true;
        cr_assert_eq(strlen(s[i].res.msg_id), RILL_MSGID_BYTES);
        cr_assert_eq(strlen(s[i].res.unique_key), RILL_MSGID_BYTES);
    }
    /* sends of one thread to one queue keep their order in their batches */
    for (int i = 1; i < N; i++)
        cr_assert_eq(s[i].res.queue_offset, s[i - 1].res.queue_offset + 1);
    mlist_t l = {0};
    pull_topic(&c, "LingerTopic", 1, N, &l);
    cr_assert_eq(l.n, N);
    for (size_t k = 0; k < l.n; k++) {
        int64_t off = rill_msg_queue_offset(l.v[k]);
        int i = -1;
        for (int j = 0; j < N; j++)
            if (s[j].res.queue_offset == off)
                i = j;
        cr_assert(i >= 0);
        cr_assert_str_eq(rill_msg_unique_key(l.v[k]), s[i].res.unique_key);
        cr_assert_str_eq(rill_msg_id(l.v[k]), s[i].res.msg_id);
        cr_assert_eq(rill_msg_commitlog_offset(l.v[k]), s[i].res.commitlog_offset);
        char body[32];
        snprintf(body, sizeof(body), "linger-%d", i);
        size_t len = 0;
        const void *b = rill_msg_body(l.v[k], &len);
        cr_assert(len == strlen(body) && memcmp(b, body, len) == 0, "offset %lld", (long long)off);
    }
    mlist_free(&l);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* A batch that never fills leaves linger.ms after its first message, without a flush. */
Test(client_producer, linger_ms_ships_a_batch_that_never_fills)
{
    enum { N = 3 };
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "LingerMsTopic", 2);
    rill_producer_t *p = producer_new(linger_conf(&c, "300", "1000"));
    static linger_slot_t s[N];
    memset(s, 0, sizeof(s));
    uint64_t t0 = rill_mono_ms();
    for (int i = 0; i < N; i++) {
        rill_msg_t *m = msg_new("LingerMsTopic", "wait for me");
        cr_assert_eq(rill_producer_send_async(p, m, on_linger, &s[i]), 0, "%s", rill_last_error());
        rill_msg_destroy(m);
    }
    uint64_t deadline = t0 + WAIT_MS;
    while (linger_done(s, N) < N && rill_mono_ms() < deadline)
        rill_sleep_ms(2);
    uint64_t took = rill_mono_ms() - t0;
    cr_assert_eq(linger_done(s, N), N);
    cr_assert_geq(took, 250, "answered after %llu ms, before linger.ms", (unsigned long long)took);
    cr_assert_lt(took, 5000, "answered after %llu ms", (unsigned long long)took);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(s[i].err, 0);
        /* one batch: one queue, consecutive offsets */
        cr_assert_eq(s[i].res.queue_id, s[0].res.queue_id);
        cr_assert_eq(s[i].res.queue_offset, s[0].res.queue_offset + i);
    }
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* destroy without flush ships the open batches and runs every callback before it returns. */
Test(client_producer, destroy_ships_partial_batches)
{
    enum { N = 7 };
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "LingerDestroyTopic", 2);
    rill_producer_t *p = producer_new(linger_conf(&c, "10000", "100"));
    static linger_slot_t s[N];
    memset(s, 0, sizeof(s));
    char keys[N][RILL_MSGID_BYTES + 1];
    for (int i = 0; i < N; i++) {
        rill_msg_t *m = msg_new("LingerDestroyTopic", "flushed by destroy");
        cr_assert_eq(rill_producer_send_async(p, m, on_linger, &s[i]), 0, "%s", rill_last_error());
        snprintf(keys[i], sizeof(keys[i]), "%s", rill_msg_unique_key(m));
        rill_msg_destroy(m);
    }
    cr_assert_eq(linger_done(s, N), 0, "nothing leaves before linger.ms or a full batch");
    uint64_t t0 = rill_mono_ms();
    rill_producer_destroy(p);
    cr_assert_lt(rill_mono_ms() - t0, 5000, "destroy did not wait for the 10 s linger");
    for (int i = 0; i < N; i++) {
        cr_assert_eq(atomic_load(&s[i].calls), 1, "callback %d ran %d times", i,
                     atomic_load(&s[i].calls));
        cr_assert_eq(s[i].err, 0, "send %d: %s", i, rill_strerror(s[i].err));
        cr_assert_str_eq(s[i].res.unique_key, keys[i]);
    }
    mlist_t l = {0};
    pull_topic(&c, "LingerDestroyTopic", 2, N, &l);
    assert_stored_once(&l, keys, N);
    mlist_free(&l);
    tc_stop(&c);
}

/* Sends to two topics interleaved (and oneway among them) each land in their own topic. */
Test(client_producer, linger_keeps_topics_apart)
{
    enum { N = 40 };
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "LingerA", 2);
    tc_create_topic(&c, "LingerB", 2);
    rill_producer_t *p = producer_new(linger_conf(&c, "20", "4"));
    static linger_slot_t s[N];
    memset(s, 0, sizeof(s));
    char keys_a[N][RILL_MSGID_BYTES + 1], keys_b[N][RILL_MSGID_BYTES + 1];
    size_t na = 0, nb = 0;
    for (int i = 0; i < N; i++) {
        const char *topic = i % 3 == 0 ? "LingerB" : "LingerA";
        rill_msg_t *m = msg_new(topic, topic);
        if (i % 5 == 4)
            cr_assert_eq(rill_producer_send_oneway(p, m), 0, "%s", rill_last_error());
        else
            cr_assert_eq(rill_producer_send_async(p, m, on_linger, &s[i]), 0, "%s",
                         rill_last_error());
        if (topic[6] == 'A')
            snprintf(keys_a[na++], RILL_MSGID_BYTES + 1, "%s", rill_msg_unique_key(m));
        else
            snprintf(keys_b[nb++], RILL_MSGID_BYTES + 1, "%s", rill_msg_unique_key(m));
        rill_msg_destroy(m);
    }
    cr_assert_eq(rill_producer_flush(p, 10000), 0, "%s", rill_last_error());
    for (int i = 0; i < N; i++)
        if (i % 5 != 4)
            cr_assert_eq(atomic_load(&s[i].calls), 1, "callback %d", i);
    mlist_t l = {0};
    pull_topic(&c, "LingerA", 2, na, &l);
    assert_stored_once(&l, keys_a, na);
    for (size_t k = 0; k < l.n; k++)
        cr_assert_str_eq(rill_msg_topic(l.v[k]), "LingerA");
    mlist_free(&l);
    pull_topic(&c, "LingerB", 2, nb, &l);
    assert_stored_once(&l, keys_b, nb);
    mlist_free(&l);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* batch.bytes closes a batch early: 10 bodies of 100 B with batch.bytes 250 go 2 by 2. */
Test(client_producer, batch_bytes_caps_a_batch)
{
    enum { N = 10 };
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "LingerBytes", 1);
    rill_conf_t *conf = linger_conf(&c, "5000", "100");
    conf_set(conf, "batch.bytes", "250");
    rill_producer_t *p = producer_new(conf);
    static linger_slot_t s[N];
    memset(s, 0, sizeof(s));
    char body[101];
    memset(body, 'x', 100);
    body[100] = '\0';
    for (int i = 0; i < N; i++) {
        rill_msg_t *m = msg_new("LingerBytes", body);
        cr_assert_eq(rill_producer_send_async(p, m, on_linger, &s[i]), 0, "%s", rill_last_error());
        rill_msg_destroy(m);
    }
    /* the 3rd, 5th, ... 9th message each close the pair before them; the last pair waits */
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (linger_done(s, N) < N - 2 && rill_mono_ms() < deadline)
        rill_sleep_ms(5);
    rill_sleep_ms(200);
    cr_assert_eq(linger_done(s, N), N - 2);
    cr_assert_eq(rill_producer_flush(p, 10000), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(s[i].err, 0);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* A batch that cannot be stored fails as a unit: every callback gets the same error, once. */
Test(client_producer, failed_batch_reaches_every_callback)
{
    enum { N = 6 };
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "LingerDead", 2);
    rill_conf_t *conf = linger_conf(&c, "50", "100");
    conf_set(conf, "send.timeout.ms", "500");
    conf_set(conf, "send.retries", "1");
    rill_producer_t *p = producer_new(conf);
    rill_msg_t *m = msg_new("LingerDead", "route first");
    cr_assert_eq(rill_producer_send(p, m, NULL), 0, "%s", rill_last_error());
    rill_msg_destroy(m);
    tc_broker_stop(&c, 0, SIGKILL);
    static linger_slot_t s[N];
    memset(s, 0, sizeof(s));
    for (int i = 0; i < N; i++) {
        m = msg_new("LingerDead", "nobody home");
        cr_assert_eq(rill_producer_send_async(p, m, on_linger, &s[i]), 0, "%s", rill_last_error());
        rill_msg_destroy(m);
    }
    cr_assert_eq(rill_producer_flush(p, 15000), 0, "%s", rill_last_error());
    for (int i = 0; i < N; i++) {
        cr_assert_eq(atomic_load(&s[i].calls), 1, "callback %d ran %d times", i,
                     atomic_load(&s[i].calls));
        cr_assert(s[i].err == RILL_ECONNREFUSED || s[i].err == RILL_ETIMEDOUT, "send %d: %d %s", i,
                  s[i].err, rill_strerror(s[i].err));
        cr_assert_eq(s[i].err, s[0].err);
    }
    rill_producer_destroy(p);
    tc_stop(&c);
}
