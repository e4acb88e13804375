/*
 * test_client_pull_consumer.c - rill_pull_consumer_* against real namesrvs
 * and brokers: assign + poll returns everything in queue order; a commit is
 * where the next consumer of the group resumes (commit_sync, and the
 * commit of destroy); seek and seek_timestamp; pause and resume; flow
 * control; consume.from for a new group; subscribe mode with two members
 * splitting the queues and a tag filter; and the misuse errors.
 *
 * Messages are sent with raw SEND_MESSAGE calls so each test knows the
 * queue, offset and store time of everything it sent.
 */
#include "cluster.h"
#include "common/clock.h"

#include "proto/common.pb-c.h"
#include "rpc/rpc_client.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALL_MS    3000
#define WAIT_MS    15000 /* bound of every wait for messages or a rebalance */
#define QUEUES_MAX 16

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(client_pull_consumer, .fini = suite_fini, .timeout = 90);

/* ---- helpers ---- */

/* One connection per broker for the test's raw sends. */
typedef struct sender {
    rpc_client_t *cli[TC_BROKERS_MAX];
} sender_t;

static void sender_open(sender_t *s, const tc_cluster_t *c)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < c->n_brokers; i++) {
        char url[64];
        snprintf(url, sizeof(url), "tcp://%s", tc_broker_addr(c, i));
        cr_assert_eq(rpc_client_open(&s->cli[i], url, NULL), 0);
    }
}

static void sender_close(sender_t *s)
{
    for (int i = 0; i < TC_BROKERS_MAX; i++)
        rpc_client_close(s->cli[i]);
}

/* SEND_MESSAGE to broker i queue qid; returns the queue offset, *store_ts the store time. */
static int64_t send_raw(sender_t *s, int i, const char *topic, int qid, const char *tags,
                        const char *body, int64_t *store_ts)
{
    Rill__Message m = RILL__MESSAGE__INIT;
    m.topic = (char *)topic;
    m.body.data = (uint8_t *)body;
    m.body.len = strlen(body);
    m.tags = (char *)(tags ? tags : "");
    m.born_host = "127.0.0.1:4000";
    Rill__SendMessageRequest sm = RILL__SEND_MESSAGE_REQUEST__INIT;
    sm.producer_group = "test_pg";
    sm.queue_id = qid;
    sm.message = &m;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__SEND_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_SEND_MESSAGE;
    req.send_message = &sm;
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(s->cli[i], &req, CALL_MS, &resp), 0);
    cr_assert_eq(resp->code, 0, "send: %s", resp->remark);
    int64_t off = resp->send_message->queue_offset;
    if (store_ts)
        *store_ts = resp->send_message->store_timestamp_ms;
    rpc_response_free(resp);
    return off;
}

static rill_pull_consumer_t *consumer_new(const tc_cluster_t *c, const char *group,
                                          const char *const *kv)
{
    rill_conf_t *conf = tc_conf(c, group);
    char err[256];
    for (size_t k = 0; kv && kv[k]; k += 2)
        cr_assert_eq(rill_conf_set(conf, kv[k], kv[k + 1], err, sizeof(err)), 0, "%s", err);
    rill_pull_consumer_t *pc = NULL;
    cr_assert_eq(rill_pull_consumer_new(&pc, conf, err, sizeof(err)), 0, "%s", err);
    return pc;
}

static const char *const FROM_FIRST[] = {"consume.from", "FIRST_OFFSET", NULL};

/* Assign every queue of topic; returns how many. */
static size_t assign_all(rill_pull_consumer_t *pc, const char *topic, rill_queue_t *qs)
{
    size_t n = 0;
    cr_assert_eq(rill_pull_consumer_topic_queues(pc, topic, qs, QUEUES_MAX, &n), 0, "%s",
                 rill_last_error());
    cr_assert_leq(n, QUEUES_MAX);
    cr_assert_eq(rill_pull_consumer_assign(pc, qs, n), 0, "%s", rill_last_error());
    return n;
}

static rill_queue_t queue_of(const char *topic, const char *broker, int qid)
{
    rill_queue_t q;
    memset(&q, 0, sizeof(q));
    snprintf(q.topic, sizeof(q.topic), "%s", topic);
    snprintf(q.broker_name, sizeof(q.broker_name), "%s", broker);
    q.queue_id = qid;
    return q;
}

/* Poll until `want` messages arrived (bounded), into out (cap want); returns how many. */
static size_t poll_n(rill_pull_consumer_t *pc, rill_msg_t **out, size_t want)
{
    size_t got = 0;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (got < want && rill_mono_ms() < deadline) {
        size_t n = 0;
        cr_assert_eq(rill_pull_consumer_poll(pc, 200, out + got, want - got, &n), 0, "%s",
                     rill_last_error());
        got += n;
    }
    return got;
}

/* Wait until the broker has dispatched queue q up to max (bounded). */
static void wait_max_offset(const tc_cluster_t *c, const rill_queue_t *q, int64_t max)
{
    rill_admin_t *a = NULL;
    char err[256];
    cr_assert_eq(rill_admin_new(&a, tc_conf(c, NULL), err, sizeof(err)), 0, "%s", err);
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    for (;;) {
        rill_queue_stat_t *st = NULL;
        size_t n = 0;
        cr_assert_eq(rill_admin_topic_status(a, q->topic, &st, &n), 0, "%s", rill_last_error());
        int64_t got = -1;
        for (size_t i = 0; i < n; i++)
            if (strcmp(st[i].queue.broker_name, q->broker_name) == 0 &&
                st[i].queue.queue_id == q->queue_id)
                got = st[i].max_offset;
        free(st);
        if (got == max)
            break;
        cr_assert_lt(rill_mono_ms(), deadline, "max offset %lld, want %lld", (long long)got,
                     (long long)max);
        rill_sleep_ms(20);
    }
    rill_admin_destroy(a);
}

static void destroy_all(rill_msg_t **m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rill_msg_destroy(m[i]);
}

static bool body_is(const rill_msg_t *m, const char *s)
{
    size_t len = 0;
    const void *b = rill_msg_body(m, &len);
    return len == strlen(s) && memcmp(b, s, len) == 0;
}

/* ---- tests ---- */

Test(client_pull_consumer, assign_poll_everything_in_order)
{
    tc_cluster_t c;
    tc_start(&c, 1, 2, NULL);
    tc_create_topic(&c, "PullT", 4);
    sender_t s;
    sender_open(&s, &c);
    enum { PER_QUEUE = 25, TOTAL = 2 * 4 * PER_QUEUE };
    for (int k = 0; k < PER_QUEUE; k++)
        for (int b = 0; b < 2; b++)
            for (int q = 0; q < 4; q++) {
                char body[64];
                snprintf(body, sizeof(body), "%c-%d-%d", 'a' + b, q, k);
                send_raw(&s, b, "PullT", q, NULL, body, NULL);
            }

    rill_pull_consumer_t *pc = consumer_new(&c, "PullG1", FROM_FIRST);
    rill_queue_t qs[QUEUES_MAX];
    cr_assert_eq(assign_all(pc, "PullT", qs), 8);
    cr_assert_str_eq(qs[0].broker_name, "broker-a");
    cr_assert_str_eq(qs[7].broker_name, "broker-b");
    cr_assert_eq(qs[7].queue_id, 3);
    rill_queue_t asg[QUEUES_MAX];
    size_t n_asg = 0;
    cr_assert_eq(rill_pull_consumer_assignment(pc, asg, QUEUES_MAX, &n_asg), 0);
    cr_assert_eq(n_asg, 8);

    static rill_msg_t *msgs[TOTAL + 8];
    size_t got = poll_n(pc, msgs, TOTAL);
    cr_assert_eq(got, TOTAL, "got %zu of %d", got, TOTAL);
    int64_t next[2][4] = {{0}};
    for (size_t i = 0; i < got; i++) {
        const rill_msg_t *m = msgs[i];
        int b = rill_msg_broker_name(m)[7] - 'a';
        int q = rill_msg_queue_id(m);
        cr_assert(b >= 0 && b < 2 && q >= 0 && q < 4);
        cr_assert_eq(rill_msg_queue_offset(m), next[b][q], "queue %c/%d out of order", 'a' + b, q);
        char body[64];
        snprintf(body, sizeof(body), "%c-%d-%lld", 'a' + b, q, (long long)next[b][q]);
        cr_assert(body_is(m, body));
        cr_assert_str_eq(rill_msg_topic(m), "PullT");
        next[b][q]++;
    }
    destroy_all(msgs, got);
    /* nothing more: a poll times out empty */
    size_t n = 0;
    cr_assert_eq(rill_pull_consumer_poll(pc, 300, msgs, 8, &n), 0);
    cr_assert_eq(n, 0);
    /* messages sent now arrive through the long poll */
    send_raw(&s, 1, "PullT", 2, NULL, "late", NULL);
    cr_assert_eq(poll_n(pc, msgs, 1), 1);
    cr_assert(body_is(msgs[0], "late"));
    cr_assert_eq(rill_msg_queue_offset(msgs[0]), PER_QUEUE);
    destroy_all(msgs, 1);
    rill_pull_consumer_destroy(pc);
    sender_close(&s);
    tc_stop(&c);
}

Test(client_pull_consumer, commit_then_resume)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "CommitT", 1);
    sender_t s;
    sender_open(&s, &c);
    for (int k = 0; k < 30; k++) {
        char body[16];
        snprintf(body, sizeof(body), "m%d", k);
        send_raw(&s, 0, "CommitT", 0, NULL, body, NULL);
    }
    const char *const no_auto[] = {"consume.from", "FIRST_OFFSET", "enable.auto.commit", "false",
                                   NULL};
    rill_queue_t q = queue_of("CommitT", "broker-a", 0);
    rill_msg_t *msgs[32];

    /* 1: take 10, commit them; destroy without auto commit commits nothing more */
    rill_pull_consumer_t *pc = consumer_new(&c, "CommitG", no_auto);
    cr_assert_eq(rill_pull_consumer_assign(pc, &q, 1), 0, "%s", rill_last_error());
    int64_t off = 0;
    cr_assert_eq(rill_pull_consumer_committed(pc, &q, &off), RILL_ENOTFOUND);
    cr_assert_eq(poll_n(pc, msgs, 10), 10);
    cr_assert_eq(rill_msg_queue_offset(msgs[9]), 9);
    destroy_all(msgs, 10);
    cr_assert_eq(rill_pull_consumer_commit_sync(pc), 0, "%s", rill_last_error());
    cr_assert_eq(rill_pull_consumer_committed(pc, &q, &off), 0);
    cr_assert_eq(off, 10);
    cr_assert_eq(poll_n(pc, msgs, 5), 5); /* polled, never committed */
    destroy_all(msgs, 5);
    rill_pull_consumer_destroy(pc);

    /* 2: resumes at 10; takes 5 and leaves with auto commit (the default) */
    pc = consumer_new(&c, "CommitG", FROM_FIRST);
    cr_assert_eq(rill_pull_consumer_assign(pc, &q, 1), 0);
    cr_assert_eq(poll_n(pc, msgs, 5), 5);
    cr_assert_eq(rill_msg_queue_offset(msgs[0]), 10);
    cr_assert(body_is(msgs[0], "m10"));
    cr_assert_eq(rill_msg_queue_offset(msgs[4]), 14);
    destroy_all(msgs, 5);
    rill_pull_consumer_destroy(pc);

    /* 3: resumes at 15; commit_async lands in the background */
    pc = consumer_new(&c, "CommitG", no_auto);
    cr_assert_eq(rill_pull_consumer_assign(pc, &q, 1), 0);
    cr_assert_eq(poll_n(pc, msgs, 3), 3);
    cr_assert_eq(rill_msg_queue_offset(msgs[0]), 15);
    destroy_all(msgs, 3);
    cr_assert_eq(rill_pull_consumer_commit_async(pc), 0);
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (rill_pull_consumer_committed(pc, &q, &off) != 0 || off != 18) {
        cr_assert_lt(rill_mono_ms(), deadline, "commit_async never landed");
        rill_sleep_ms(20);
    }
    rill_pull_consumer_destroy(pc);
    sender_close(&s);
    tc_stop(&c);
}

Test(client_pull_consumer, seek_and_seek_timestamp)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "SeekT", 2);
    sender_t s;
    sender_open(&s, &c);
    int64_t ts[10];
    for (int k = 0; k < 10; k++) {
        char body[16];
        snprintf(body, sizeof(body), "s%d", k);
        send_raw(&s, 0, "SeekT", 0, NULL, body, &ts[k]);
        rill_sleep_ms(5);
    }
    cr_assert_lt(ts[5], ts[6]);
    rill_pull_consumer_t *pc = consumer_new(&c, "SeekG", FROM_FIRST);
    rill_queue_t q = queue_of("SeekT", "broker-a", 0);
    cr_assert_eq(rill_pull_consumer_assign(pc, &q, 1), 0);
    rill_msg_t *msgs[16];
    cr_assert_eq(poll_n(pc, msgs, 10), 10);
    destroy_all(msgs, 10);

    cr_assert_eq(rill_pull_consumer_seek(pc, &q, 3), 0);
    cr_assert_eq(poll_n(pc, msgs, 7), 7);
    cr_assert_eq(rill_msg_queue_offset(msgs[0]), 3);
    cr_assert(body_is(msgs[0], "s3"));
    cr_assert_eq(rill_msg_queue_offset(msgs[6]), 9);
    destroy_all(msgs, 7);

    cr_assert_eq(rill_pull_consumer_seek_timestamp(pc, &q, ts[6]), 0, "%s", rill_last_error());
    cr_assert_eq(poll_n(pc, msgs, 4), 4);
    cr_assert_eq(rill_msg_queue_offset(msgs[0]), 6);
    destroy_all(msgs, 4);

    /* seek while messages are buffered: they are dropped, the next poll starts there */
    cr_assert_eq(rill_pull_consumer_seek(pc, &q, 0), 0);
    rill_sleep_ms(300); /* let the pull refill the buffer */
    cr_assert_eq(rill_pull_consumer_seek(pc, &q, 8), 0);
    cr_assert_eq(poll_n(pc, msgs, 2), 2);
    cr_assert_eq(rill_msg_queue_offset(msgs[0]), 8);
    cr_assert_eq(rill_msg_queue_offset(msgs[1]), 9);
    destroy_all(msgs, 2);

    /* past the end: the broker moves us back to the max offset; new messages come */
    cr_assert_eq(rill_pull_consumer_seek(pc, &q, 1000), 0);
    size_t n = 0;
    cr_assert_eq(rill_pull_consumer_poll(pc, 300, msgs, 16, &n), 0);
    cr_assert_eq(n, 0);
    send_raw(&s, 0, "SeekT", 0, NULL, "s10", NULL);
    cr_assert_eq(poll_n(pc, msgs, 1), 1);
    cr_assert_eq(rill_msg_queue_offset(msgs[0]), 10);
    destroy_all(msgs, 1);

    rill_queue_t other = queue_of("SeekT", "broker-a", 1);
    cr_assert_eq(rill_pull_consumer_seek(pc, &other, 0), RILL_ENOTFOUND);
    cr_assert_eq(rill_pull_consumer_seek_timestamp(pc, &other, ts[0]), RILL_ENOTFOUND);
    cr_assert_eq(rill_pull_consumer_seek(pc, &q, -1), RILL_EINVAL);
    rill_pull_consumer_destroy(pc);
    sender_close(&s);
    tc_stop(&c);
}

Test(client_pull_consumer, pause_resume)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "PauseT", 2);
    sender_t s;
    sender_open(&s, &c);
    rill_pull_consumer_t *pc = consumer_new(&c, "PauseG", FROM_FIRST);
    rill_queue_t qs[2] = {queue_of("PauseT", "broker-a", 0), queue_of("PauseT", "broker-a", 1)};
    cr_assert_eq(rill_pull_consumer_assign(pc, qs, 2), 0);
    cr_assert_eq(rill_pull_consumer_pause(pc, &qs[0], 1), 0);
    for (int k = 0; k < 5; k++) {
        send_raw(&s, 0, "PauseT", 0, NULL, "q0", NULL);
        send_raw(&s, 0, "PauseT", 1, NULL, "q1", NULL);
    }
    rill_msg_t *msgs[16];
    cr_assert_eq(poll_n(pc, msgs, 5), 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(rill_msg_queue_id(msgs[i]), 1);
    destroy_all(msgs, 5);
    size_t n = 0;
    cr_assert_eq(rill_pull_consumer_poll(pc, 500, msgs, 16, &n), 0);
    cr_assert_eq(n, 0, "a paused queue gave %zu messages", n);

    cr_assert_eq(rill_pull_consumer_resume(pc, &qs[0], 1), 0);
    cr_assert_eq(poll_n(pc, msgs, 5), 5);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(rill_msg_queue_id(msgs[i]), 0);
        cr_assert_eq(rill_msg_queue_offset(msgs[i]), (int64_t)i);
    }
    destroy_all(msgs, 5);

    rill_queue_t other = queue_of("PauseT", "broker-z", 0);
    cr_assert_eq(rill_pull_consumer_pause(pc, &other, 1), RILL_ENOTFOUND);
    cr_assert_eq(rill_pull_consumer_resume(pc, &other, 1), RILL_ENOTFOUND);
    rill_pull_consumer_destroy(pc);
    sender_close(&s);
    tc_stop(&c);
}

Test(client_pull_consumer, consume_from_and_flow_control)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "FromT", 1);
    sender_t s;
    sender_open(&s, &c);
    for (int k = 0; k < 300; k++)
        send_raw(&s, 0, "FromT", 0, NULL, "old", NULL);
    rill_queue_t q = queue_of("FromT", "broker-a", 0);
    rill_msg_t *msgs[64];
    wait_max_offset(&c, &q, 300); /* LAST_OFFSET reads the max offset: let it reach 300 */

    /* a new group at LAST_OFFSET (the default) sees only what comes after */
    rill_pull_consumer_t *last = consumer_new(&c, "FromLast", NULL);
    cr_assert_eq(rill_pull_consumer_assign(last, &q, 1), 0);
    size_t n = 0;
    cr_assert_eq(rill_pull_consumer_poll(last, 300, msgs, 64, &n), 0);
    cr_assert_eq(n, 0);
    send_raw(&s, 0, "FromT", 0, NULL, "new", NULL);
    cr_assert_eq(poll_n(last, msgs, 1), 1);
    cr_assert(body_is(msgs[0], "new"));
    cr_assert_eq(rill_msg_queue_offset(msgs[0]), 300);
    destroy_all(msgs, 1);
    rill_pull_consumer_destroy(last);

    /* FIRST_OFFSET with a small buffer: every message, in order, in small bites */
    const char *const small[] = {"consume.from",
                                 "FIRST_OFFSET",
                                 "pull.threshold.queue.msgs",
                                 "10",
                                 "pull.batch.size",
                                 "4",
                                 NULL};
    rill_pull_consumer_t *first = consumer_new(&c, "FromFirst", small);
    cr_assert_eq(rill_pull_consumer_assign(first, &q, 1), 0);
    int64_t next = 0;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (next < 301) {
        cr_assert_lt(rill_mono_ms(), deadline, "stuck at %lld", (long long)next);
        cr_assert_eq(rill_pull_consumer_poll(first, 200, msgs, 64, &n), 0);
        /* never more buffered than the threshold plus one pull batch */
        cr_assert_leq(n, 10 + 4);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(rill_msg_queue_offset(msgs[i]), next++);
        destroy_all(msgs, n);
    }
    rill_pull_consumer_destroy(first);
    sender_close(&s);
    tc_stop(&c);
}

Test(client_pull_consumer, subscribe_two_members_split_queues)
{
    tc_cluster_t c;
    tc_start(&c, 1, 2, NULL);
    tc_create_topic(&c, "SubT", 4);
    sender_t s;
    sender_open(&s, &c);
    rill_pull_consumer_t *pc[2];
    for (int i = 0; i < 2; i++) {
        pc[i] = consumer_new(&c, "SubG", FROM_FIRST);
        cr_assert_eq(rill_pull_consumer_subscribe(pc[i], "SubT", "*"), 0, "%s", rill_last_error());
    }
    rill_msg_t *msgs[64];
    rill_queue_t asg[2][QUEUES_MAX];
    size_t n_asg[2] = {0, 0};
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    for (;;) { /* polling drives the group: joined at the first poll */
        size_t n = 0;
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(rill_pull_consumer_poll(pc[i], 50, msgs, 64, &n), 0);
            destroy_all(msgs, n);
            cr_assert_eq(rill_pull_consumer_assignment(pc[i], asg[i], QUEUES_MAX, &n_asg[i]), 0);
        }
        if (n_asg[0] == 4 && n_asg[1] == 4)
            break;
        cr_assert_lt(rill_mono_ms(), deadline, "assignments %zu + %zu", n_asg[0], n_asg[1]);
    }
    /* disjoint, together all 8 */
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 4; b++)
            cr_assert(strcmp(asg[0][a].broker_name, asg[1][b].broker_name) != 0 ||
                      asg[0][a].queue_id != asg[1][b].queue_id);

    enum { PER_QUEUE = 6, TOTAL = 8 * PER_QUEUE };
    for (int k = 0; k < PER_QUEUE; k++)
        for (int b = 0; b < 2; b++)
            for (int q = 0; q < 4; q++)
                send_raw(&s, b, "SubT", q, NULL, "x", NULL);
    int seen[2][4][PER_QUEUE];
    memset(seen, 0, sizeof(seen));
    size_t total = 0;
    deadline = rill_mono_ms() + WAIT_MS;
    while (total < TOTAL) {
        cr_assert_lt(rill_mono_ms(), deadline, "got %zu of %d", total, TOTAL);
        for (int i = 0; i < 2; i++) {
            size_t n = 0;
            cr_assert_eq(rill_pull_consumer_poll(pc[i], 50, msgs, 64, &n), 0);
            for (size_t k = 0; k < n; k++) {
                int b = rill_msg_broker_name(msgs[k])[7] - 'a';
                int q = rill_msg_queue_id(msgs[k]);
                int64_t off = rill_msg_queue_offset(msgs[k]);
                cr_assert(off >= 0 && off < PER_QUEUE);
                /* only from its own queues */
                bool mine = false;
                for (size_t a = 0; a < n_asg[i]; a++)
                    mine |= asg[i][a].queue_id == q && asg[i][a].broker_name[7] - 'a' == b;
                cr_assert(mine, "member %d got a message of %c/%d", i, 'a' + b, q);
                cr_assert_eq(seen[b][q][off]++, 0, "duplicate");
                total++;
            }
            destroy_all(msgs, n);
        }
    }
    /* one leaves: the other takes every queue and resumes after what was committed */
    rill_pull_consumer_destroy(pc[1]);
    for (int b = 0; b < 2; b++)
        for (int q = 0; q < 4; q++)
            send_raw(&s, b, "SubT", q, NULL, "y", NULL);
    size_t got_y = 0;
    deadline = rill_mono_ms() + WAIT_MS;
    while (got_y < 8) {
        cr_assert_lt(rill_mono_ms(), deadline, "got %zu of 8 after the leave", got_y);
        size_t n = 0;
        cr_assert_eq(rill_pull_consumer_poll(pc[0], 100, msgs, 64, &n), 0);
        for (size_t k = 0; k < n; k++) {
            cr_assert(body_is(msgs[k], "y"), "a message consumed before came again");
            got_y++;
        }
        destroy_all(msgs, n);
    }
    cr_assert_eq(rill_pull_consumer_assignment(pc[0], asg[0], QUEUES_MAX, &n_asg[0]), 0);
    cr_assert_eq(n_asg[0], 8);
    rill_pull_consumer_destroy(pc[0]);
    sender_close(&s);
    tc_stop(&c);
}

Test(client_pull_consumer, subscribe_tag_filter)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "TagT", 1);
    sender_t s;
    sender_open(&s, &c);
    const char *tags[] = {"TagA", "TagC", NULL, "TagB", "TagA", "TagD"};
    for (int k = 0; k < 6; k++)
        send_raw(&s, 0, "TagT", 0, tags[k], tags[k] ? tags[k] : "none", NULL);
    rill_pull_consumer_t *pc = consumer_new(&c, "TagG", FROM_FIRST);
    cr_assert_eq(rill_pull_consumer_subscribe(pc, "TagT", "TagA || TagB"), 0);
    rill_msg_t *msgs[8];
    cr_assert_eq(poll_n(pc, msgs, 3), 3);
    cr_assert_str_eq(rill_msg_tags(msgs[0]), "TagA");
    cr_assert_str_eq(rill_msg_tags(msgs[1]), "TagB");
    cr_assert_str_eq(rill_msg_tags(msgs[2]), "TagA");
    cr_assert_eq(rill_msg_queue_offset(msgs[2]), 4);
    destroy_all(msgs, 3);
    size_t n = 0;
    cr_assert_eq(rill_pull_consumer_poll(pc, 300, msgs, 8, &n), 0);
    cr_assert_eq(n, 0);
    /* the position moved past the filtered tail too: it is what gets committed */
    cr_assert_eq(rill_pull_consumer_commit_sync(pc), 0, "%s", rill_last_error());
    rill_queue_t q = queue_of("TagT", "broker-a", 0);
    int64_t off = 0;
    cr_assert_eq(rill_pull_consumer_committed(pc, &q, &off), 0);
    cr_assert_eq(off, 6);
    rill_pull_consumer_destroy(pc);
    sender_close(&s);
    tc_stop(&c);
}

Test(client_pull_consumer, misuse_errors)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "MisT", 1);
    char err[256] = "";
    rill_conf_t *conf = tc_conf(&c, NULL);
    rill_pull_consumer_t *pc = NULL;
    cr_assert_eq(rill_pull_consumer_new(&pc, conf, err, sizeof(err)), RILL_ECONFIG);
    cr_assert(strstr(err, "group") != NULL, "%s", err);
    rill_conf_destroy(conf); /* still ours after a failure */

    pc = consumer_new(&c, "MisG", NULL);
    rill_msg_t *msgs[4];
    size_t n = 0;
    cr_assert_eq(rill_pull_consumer_poll(pc, 10, msgs, 4, &n), RILL_EINVAL);
    cr_assert_eq(rill_pull_consumer_poll(pc, 10, msgs, 0, &n), RILL_EINVAL);
    rill_queue_t q = queue_of("MisT", "broker-a", 0);
    cr_assert_eq(rill_pull_consumer_assign(pc, &q, 1), 0);
    cr_assert_eq(rill_pull_consumer_subscribe(pc, "MisT", "*"), RILL_EINVAL);
    rill_queue_t qs[4];
    cr_assert_eq(rill_pull_consumer_topic_queues(pc, "Nope", qs, 4, &n), RILL_ETOPIC);
    cr_assert_eq(rill_pull_consumer_topic_queues(pc, "MisT", qs, 0, &n), 0);
    cr_assert_eq(n, 1); /* the count even when cap is 0 */
    rill_pull_consumer_destroy(pc);

    pc = consumer_new(&c, "MisG2", NULL);
    cr_assert_eq(rill_pull_consumer_subscribe(pc, "MisT", "A || "), RILL_EINVAL);
    cr_assert_eq(rill_pull_consumer_subscribe(pc, "MisT", "A"), 0);
    cr_assert_eq(rill_pull_consumer_assign(pc, &q, 1), RILL_EINVAL);
    rill_pull_consumer_destroy(pc);
    rill_pull_consumer_destroy(NULL);
    tc_stop(&c);
}

Test(client_pull_consumer, broker_down_and_back)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "DownT", 1);
    sender_t s;
    sender_open(&s, &c);
    send_raw(&s, 0, "DownT", 0, NULL, "before", NULL);
    const char *const kv[] = {"consume.from", "FIRST_OFFSET", "request.timeout.ms", "500", NULL};
    rill_pull_consumer_t *pc = consumer_new(&c, "DownG", kv);
    rill_queue_t q = queue_of("DownT", "broker-a", 0);
    cr_assert_eq(rill_pull_consumer_assign(pc, &q, 1), 0);
    rill_msg_t *msgs[8];
    cr_assert_eq(poll_n(pc, msgs, 1), 1);
    destroy_all(msgs, 1);
    cr_assert_eq(rill_pull_consumer_commit_sync(pc), 0);

    /* the broker dies: poll keeps answering on time with nothing, commit says why */
    tc_broker_stop(&c, 0, SIGKILL);
    for (int k = 0; k < 3; k++) {
        size_t n = 0;
        uint64_t t0 = rill_mono_ms();
        cr_assert_eq(rill_pull_consumer_poll(pc, 300, msgs, 8, &n), 0);
        cr_assert_eq(n, 0);
        cr_assert_lt(rill_mono_ms() - t0, 1500, "poll overran its timeout");
    }

    /* it comes back on the same port: the consumer resumes by itself */
    tc_broker_restart(&c, 0);
    send_raw(&s, 0, "DownT", 0, NULL, "after", NULL); /* the sender reconnects by itself */
    cr_assert_eq(poll_n(pc, msgs, 1), 1, "nothing after the broker came back");
    cr_assert(body_is(msgs[0], "after"));
    cr_assert_eq(rill_msg_queue_offset(msgs[0]), 1);
    destroy_all(msgs, 1);

    /* destroy with the broker gone: its final commit fails, it does not hang */
    tc_broker_stop(&c, 0, SIGKILL);
    uint64_t t0 = rill_mono_ms();
    rill_pull_consumer_destroy(pc);
    cr_assert_lt(rill_mono_ms() - t0, 10000, "destroy took %llu ms",
                 (unsigned long long)(rill_mono_ms() - t0));
    sender_close(&s);
    tc_stop(&c);
}

/* The public API end to end: rill_producer_* sends, the pull consumer reads, the admin finds. */
Test(client_pull_consumer, round_trip_with_producer)
{
    tc_cluster_t c;
    tc_start(&c, 1, 2, NULL);
    tc_create_topic(&c, "RtT", 2);
    char err[256];
    rill_producer_t *p = NULL;
    cr_assert_eq(rill_producer_new(&p, tc_conf(&c, "RtPG"), err, sizeof(err)), 0, "%s", err);
    enum { N = 40 };
    char uniq[N][RILL_MSGID_BYTES + 1];
    for (int k = 0; k < N; k++) {
        rill_msg_t *m = rill_msg_new("RtT");
        char body[32];
        snprintf(body, sizeof(body), "rt-%d", k);
        cr_assert_eq(rill_msg_set_body(m, body, strlen(body)), 0);
        cr_assert_eq(rill_msg_set_tags(m, k % 2 ? "Odd" : "Even"), 0);
        cr_assert_eq(rill_msg_set_property(m, "seq", body), 0);
        rill_send_result_t res;
        cr_assert_eq(rill_producer_send(p, m, &res), 0, "%s", rill_last_error());
        snprintf(uniq[k], sizeof(uniq[k]), "%s", res.unique_key);
        rill_msg_destroy(m);
    }
    rill_producer_destroy(p);

    rill_pull_consumer_t *pc = consumer_new(&c, "RtG", FROM_FIRST);
    rill_queue_t qs[QUEUES_MAX];
    cr_assert_eq(assign_all(pc, "RtT", qs), 4);
    rill_msg_t *msgs[N];
    cr_assert_eq(poll_n(pc, msgs, N), N);
    bool seen[N] = {false};
    for (size_t i = 0; i < N; i++) {
        size_t len = 0;
        const char *b = rill_msg_body(msgs[i], &len);
        char text[32]; /* bodies are bytes, not strings */
        snprintf(text, sizeof(text), "%.*s", (int)len, b);
        int k = atoi(text + 3);
        cr_assert(k >= 0 && k < N && !seen[k]);
        seen[k] = true;
        cr_assert_str_eq(rill_msg_tags(msgs[i]), k % 2 ? "Odd" : "Even");
        cr_assert_eq(strncmp(rill_msg_property(msgs[i], "seq"), b, len), 0);
        cr_assert_str_eq(rill_msg_unique_key(msgs[i]), uniq[k]);
    }
    destroy_all(msgs, N);
    rill_pull_consumer_destroy(pc);

    /* the admin finds one by its unique key */
    rill_admin_t *a = NULL;
    cr_assert_eq(rill_admin_new(&a, tc_conf(&c, NULL), err, sizeof(err)), 0, "%s", err);
    rill_msg_list_t l = {0, NULL};
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    for (;;) {
        cr_assert_eq(rill_admin_query_msg_by_key(a, "RtT", uniq[7], 0, 0, 0, &l), 0, "%s",
                     rill_last_error());
        if (l.n > 0)
            break;
        rill_msg_list_free(&l);
        cr_assert_lt(rill_mono_ms(), deadline);
        rill_sleep_ms(50);
    }
    cr_assert_eq(l.n, 1);
    cr_assert(body_is(l.msgs[0], "rt-7"));
    rill_msg_list_free(&l);
    rill_admin_destroy(a);
    tc_stop(&c);
}
