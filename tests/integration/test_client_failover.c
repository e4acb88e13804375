/*
 * test_client_failover.c - librill against a two-node broker set (master +
 * slave replicating from it, replication/): when the master is killed, a
 * push consumer goes on from the slave (brokerId 1) and gets every message,
 * and a producer's sends are refused nowhere silently.
 */
#include "cluster.h"

#include "common/clock.h"
#include "rpc/rpc_client.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 20000
#define N_MSGS  500 /* 400 before the master dies, 100 after it returns */
#define N_FIRST 400

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(failover, .fini = suite_fini, .timeout = 90);

typedef struct rec {
    pthread_mutex_t lock;
    int counts[N_MSGS];
    int total, foreign;
} rec_t;

static rill_consume_status_t on_msgs(rill_msg_t *const *msgs, size_t n, void *opaque)
{
    rec_t *r = opaque;
    rill_sleep_ms(5); /* slow enough that the master dies mid-stream */
    pthread_mutex_lock(&r->lock);
    for (size_t k = 0; k < n; k++) {
        size_t len = 0;
        const char *body = rill_msg_body(msgs[k], &len);
        char buf[32];
        int i = -1;
        if (len > 0 && len < sizeof buf) {
            memcpy(buf, body, len);
            buf[len] = '\0';
            if (sscanf(buf, "m-%d", &i) != 1)
                i = -1;
        }
        if (i < 0 || i >= N_MSGS) {
            r->foreign++;
            continue;
        }
        r->counts[i]++;
        r->total++;
    }
    pthread_mutex_unlock(&r->lock);
    return RILL_CONSUME_SUCCESS;
}

static int delivered(rec_t *r, int *dups)
{
    pthread_mutex_lock(&r->lock);
    int n = 0;
    *dups = 0;
    for (int i = 0; i < N_MSGS; i++) {
        n += r->counts[i] > 0;
        *dups += r->counts[i] > 1 ? r->counts[i] - 1 : 0;
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Does the broker at addr know topic? (the slave gets it by metadata sync) */
static bool broker_has_topic(const char *addr, const char *topic)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://%s", addr);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    Rill__GetTopicListRequest body = RILL__GET_TOPIC_LIST_REQUEST__INIT;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_ALL_TOPIC_CONFIG;
    req.body_case = RILL__REQUEST__BODY_GET_TOPIC_LIST;
    req.get_topic_list = &body;
    Rill__Response *resp = NULL;
    bool has = false;
    if (rpc_client_call(cli, &req, 3000, &resp) == 0 && resp->code == 0 &&
        resp->body_case == RILL__RESPONSE__BODY_TOPIC_LIST)
        for (size_t i = 0; i < resp->topic_list->n_topics; i++)
            has = has || strcmp(resp->topic_list->topics[i]->topic_name, topic) == 0;
    rpc_response_free(resp);
    rpc_client_close(cli);
    return has;
}

static void conf_set(rill_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    cr_assert_eq(rill_conf_set(conf, k, v, err, sizeof err), 0, "%s=%s: %s", k, v, err);
}

Test(failover, consumer_continues_from_the_slave_when_the_master_dies)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "Failover", 2);
    int s = tc_add_slave(&c, 0);
    cr_assert_eq(s, 1);
    uint64_t t0 = rill_mono_ms();
    while (!broker_has_topic(tc_broker_addr(&c, s), "Failover")) {
        cr_assert_lt(rill_mono_ms(), t0 + WAIT_MS, "the topic never reached the slave");
        rill_sleep_ms(50);
    }

    rill_producer_t *p = NULL;
    char err[256];
    cr_assert_eq(rill_producer_new(&p, tc_conf(&c, "fo_producer"), err, sizeof err), 0, "%s",
                 err);
    for (int i = 0; i < N_FIRST; i++) {
        rill_msg_t *m = rill_msg_new("Failover");
        char body[32];
        int len = snprintf(body, sizeof body, "m-%d", i);
        cr_assert_eq(rill_msg_set_body(m, body, (size_t)len), 0);
        rill_send_result_t res;
        cr_assert_eq(rill_producer_send(p, m, &res), 0, "%s", rill_last_error());
        rill_msg_destroy(m);
    }

    rec_t r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    rill_conf_t *conf = tc_conf(&c, "fo_group");
    conf_set(conf, "consume.from", "FIRST_OFFSET");
    conf_set(conf, "pull.batch.size", "8");
    rill_push_consumer_t *pc = NULL;
    cr_assert_eq(rill_push_consumer_new(&pc, conf, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rill_push_consumer_subscribe(pc, "Failover", "*"), 0);
    cr_assert_eq(rill_push_consumer_set_listener(pc, on_msgs, &r), 0);
    cr_assert_eq(rill_push_consumer_start(pc), 0, "%s", rill_last_error());

    /* let part of the stream through, then kill -9 the master */
    int dups = 0;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (delivered(&r, &dups) < 40) {
        cr_assert_lt(rill_mono_ms(), deadline, "nothing consumed from the master");
        rill_sleep_ms(5);
    }
    tc_broker_stop(&c, 0, SIGKILL);
    int before = delivered(&r, &dups);
    cr_assert_lt(before, N_FIRST, "the master died too late to test anything");

    deadline = rill_mono_ms() + WAIT_MS;
    while (delivered(&r, &dups) < N_FIRST) {
        cr_assert_lt(rill_mono_ms(), deadline, "only %d of %d consumed after the master died",
                     delivered(&r, &dups), N_FIRST);
        rill_sleep_ms(20);
    }
    int dups_slave = dups;

    /* the master returns: new messages are sent to it and consumed from it */
    tc_broker_restart(&c, 0);
    for (int i = N_FIRST; i < N_MSGS; i++) {
        rill_msg_t *m = rill_msg_new("Failover");
        char body[32];
        int len = snprintf(body, sizeof body, "m-%d", i);
        cr_assert_eq(rill_msg_set_body(m, body, (size_t)len), 0);
        rill_send_result_t res;
        int rc = -1;
        for (int t = 0; t < 50 && rc != 0; t++) { /* until the producer's route has the master */
            rc = rill_producer_send(p, m, &res);
            if (rc != 0)
                rill_sleep_ms(100);
        }
        cr_assert_eq(rc, 0, "send %d after the master returned: %s", i, rill_last_error());
        rill_msg_destroy(m);
    }
    rill_producer_destroy(p);
    deadline = rill_mono_ms() + WAIT_MS;
    while (delivered(&r, &dups) < N_MSGS) {
        cr_assert_lt(rill_mono_ms(), deadline, "only %d of %d consumed after the master died",
                     delivered(&r, &dups), N_MSGS);
        rill_sleep_ms(20);
    }
    cr_assert_eq(r.foreign, 0);
    /* re-reads are bounded by what was consumed but not committed to the master */
    cr_assert_leq(dups, N_FIRST, "more re-read than the window: %d", dups);
    fprintf(stderr, "failover: %d consumed before the kill, %d redelivered via the slave, %d in all\n",
            before, dups_slave, dups);
    rill_push_consumer_destroy(pc);
    tc_stop(&c);
}
