/*
 * test_client_admin.c - rill_admin_* against real namesrvs and brokers:
 * topics (create on a cluster or one broker, route, status, list, delete
 * from every NameServer), the cluster list, broker stats, consumer groups,
 * consumer progress with exact lag numbers, offset reset by time, and the
 * four message queries; plus each function's main errors and the text
 * rill_last_error() gives for them.
 *
 * Messages are sent with raw SEND_MESSAGE calls so every test knows the
 * exact queue, offset and store time of what it sent.
 */
#include "cluster.h"
#include "common/clock.h"

#include "common/msgid.h"
#include "proto/common.pb-c.h"
#include "rpc/rpc_client.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALL_MS 3000
#define WAIT_MS 10000 /* bound of every wait for an index or a route */
#define POLL_MS 50

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(client_admin, .fini = suite_fini, .timeout = 90);

/* ---- helpers ---- */

static rill_admin_t *admin_new(const tc_cluster_t *c)
{
    rill_conf_t *conf = tc_conf(c, NULL);
    char err[256];
    cr_assert_eq(rill_conf_set(conf, "request.timeout.ms", "1500", err, sizeof(err)), 0);
    rill_admin_t *a = NULL;
    cr_assert_eq(rill_admin_new(&a, conf, err, sizeof(err)), 0, "%s", err);
    return a;
}

typedef struct sent {
    char msg_id[RILL_MSGID_BYTES + 1];
    int32_t queue_id;
    int64_t queue_offset;
    int64_t store_ts;
} sent_t;

/* SEND_MESSAGE to broker i, queue qid; the broker's answer in *out. */
static void send_raw(const tc_cluster_t *c, int i, const char *topic, int qid, const char *tags,
                     const char *keys, const char *body, sent_t *out)
{
    char url[64];
    snprintf(url, sizeof(url), "tcp://%s", tc_broker_addr(c, i));
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    Rill__Message m = RILL__MESSAGE__INIT;
    m.topic = (char *)topic;
    m.body.data = (uint8_t *)body;
    m.body.len = strlen(body);
    m.tags = (char *)(tags ? tags : "");
    m.keys = (char *)(keys ? keys : "");
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
    cr_assert_eq(rpc_client_call(cli, &req, CALL_MS, &resp), 0);
    cr_assert_eq(resp->code, 0, "send: %s", resp->remark);
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_SEND_MESSAGE);
    if (out) {
        snprintf(out->msg_id, sizeof(out->msg_id), "%s", resp->send_message->msg_id);
        out->queue_id = resp->send_message->queue_id;
        out->queue_offset = resp->send_message->queue_offset;
        out->store_ts = resp->send_message->store_timestamp_ms;
    }
    rpc_response_free(resp);
    rpc_client_close(cli);
}

/* UPDATE_CONSUMER_OFFSET on broker i. */
static void commit_raw(const tc_cluster_t *c, int i, const char *group, const char *topic, int qid,
                       int64_t offset)
{
    char url[64];
    snprintf(url, sizeof(url), "tcp://%s", tc_broker_addr(c, i));
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    Rill__UpdateConsumerOffsetRequest u = RILL__UPDATE_CONSUMER_OFFSET_REQUEST__INIT;
    u.consumer_group = (char *)group;
    u.topic = (char *)topic;
    u.queue_id = qid;
    u.commit_offset = offset;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UPDATE_CONSUMER_OFFSET;
    req.body_case = RILL__REQUEST__BODY_UPDATE_CONSUMER_OFFSET;
    req.update_consumer_offset = &u;
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(cli, &req, CALL_MS, &resp), 0);
    cr_assert_eq(resp->code, 0, "commit: %s", resp->remark);
    rpc_response_free(resp);
    rpc_client_close(cli);
}

/* QUERY_CONSUMER_OFFSET on broker i; -1 when never committed. */
static int64_t committed_raw(const tc_cluster_t *c, int i, const char *group, const char *topic,
                             int qid)
{
    char url[64];
    snprintf(url, sizeof(url), "tcp://%s", tc_broker_addr(c, i));
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    Rill__QueryConsumerOffsetRequest q = RILL__QUERY_CONSUMER_OFFSET_REQUEST__INIT;
    q.consumer_group = (char *)group;
    q.topic = (char *)topic;
    q.queue_id = qid;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__QUERY_CONSUMER_OFFSET;
    req.body_case = RILL__REQUEST__BODY_QUERY_CONSUMER_OFFSET;
    req.query_consumer_offset = &q;
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(cli, &req, CALL_MS, &resp), 0);
    int64_t off = resp->code == RILL__RESPONSE_CODE__QUERY_NOT_FOUND
                      ? -1
                      : resp->query_consumer_offset->offset;
    rpc_response_free(resp);
    rpc_client_close(cli);
    return off;
}

static bool strv_has(const rill_strv_t *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return true;
    return false;
}

static void cluster_start(tc_cluster_t *c, int n_namesrv, int n_brokers)
{
    static const char *const extra[] = {"--autoCreateTopicEnable=false", NULL};
    tc_start(c, n_namesrv, n_brokers, extra);
}

/* ---- topics ---- */

Test(client_admin, topic_create_route_status_list)
{
    tc_cluster_t c;
    cluster_start(&c, 1, 2);
    rill_admin_t *a = admin_new(&c);

    rill_topic_config_t tc;
    rill_topic_config_init(&tc, "AdmTopic");
    cr_assert_eq(tc.read_queue_nums, 4);
    cr_assert_eq(tc.write_queue_nums, 4);
    cr_assert_eq(tc.perm, 6);
    tc.read_queue_nums = tc.write_queue_nums = 3;
    cr_assert_eq(rill_admin_topic_create(a, "DefaultCluster", NULL, &tc), 0, "%s",
                 rill_last_error());

    /* the NameServer learns it from the brokers' next registration */
    rill_topic_route_t r;
    int rc;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    for (;;) {
        rc = rill_admin_topic_route(a, "AdmTopic", &r);
        if (rc == 0 && r.n_queue_datas == 2)
            break;
        if (rc == 0)
            rill_topic_route_free(&r);
        cr_assert_lt(rill_mono_ms(), deadline, "never routed to both brokers: %d", rc);
        rill_sleep_ms(POLL_MS);
    }
    for (size_t i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof(name), "broker-%c", 'a' + (int)i);
        cr_assert_str_eq(r.queue_datas[i].broker_name, name);
        cr_assert_eq(r.queue_datas[i].read_queue_nums, 3);
        cr_assert_eq(r.queue_datas[i].write_queue_nums, 3);
        cr_assert_eq(r.queue_datas[i].perm, 6);
        cr_assert_str_eq(r.brokers[i].broker_name, name);
        cr_assert_str_eq(r.brokers[i].cluster, "DefaultCluster");
        cr_assert_eq(r.brokers[i].n_addrs, 1);
        cr_assert_eq(r.brokers[i].addrs[0].broker_id, 0);
        cr_assert_str_eq(r.brokers[i].addrs[0].addr, tc_broker_addr(&c, (int)i));
    }
    rill_topic_route_free(&r);
    rill_topic_route_free(&r); /* twice is harmless */

    rill_strv_t sv;
    cr_assert_eq(rill_admin_topic_list(a, &sv), 0);
    cr_assert(strv_has(&sv, "AdmTopic"));
    rill_strv_free(&sv);

    sent_t s;
    send_raw(&c, 0, "AdmTopic", 1, NULL, NULL, "one", NULL);
    send_raw(&c, 0, "AdmTopic", 1, NULL, NULL, "two", &s);
    rill_queue_stat_t *st = NULL;
    size_t n = 0;
    deadline = rill_mono_ms() + WAIT_MS;
    for (;;) { /* the ConsumeQueue is written by the broker's dispatcher, soon after */
        cr_assert_eq(rill_admin_topic_status(a, "AdmTopic", &st, &n), 0, "%s", rill_last_error());
        if (st[1].max_offset == 2)
            break;
        free(st);
        cr_assert_lt(rill_mono_ms(), deadline);
        rill_sleep_ms(POLL_MS);
    }
    cr_assert_eq(n, 6);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(st[i].queue.topic, "AdmTopic");
        cr_assert_str_eq(st[i].queue.broker_name, i < 3 ? "broker-a" : "broker-b");
        cr_assert_eq(st[i].queue.queue_id, (int32_t)(i % 3));
        cr_assert_eq(st[i].min_offset, 0);
        cr_assert_eq(st[i].max_offset, i == 1 ? 2 : 0);
        if (i == 1)
            cr_assert_eq(st[i].last_store_timestamp, s.store_ts);
        else
            cr_assert_eq(st[i].last_store_timestamp, 0);
    }
    free(st);

    /* update: more queues on one broker only */
    tc.read_queue_nums = tc.write_queue_nums = 5;
    cr_assert_eq(rill_admin_topic_create(a, NULL, tc_broker_addr(&c, 1), &tc), 0, "%s",
                 rill_last_error());
    deadline = rill_mono_ms() + WAIT_MS;
    for (;;) {
        cr_assert_eq(rill_admin_topic_route(a, "AdmTopic", &r), 0);
        bool done = r.queue_datas[1].read_queue_nums == 5 && r.queue_datas[0].read_queue_nums == 3;
        rill_topic_route_free(&r);
        if (done)
            break;
        cr_assert_lt(rill_mono_ms(), deadline, "update never routed");
        rill_sleep_ms(POLL_MS);
    }
    rill_admin_destroy(a);
    tc_stop(&c);
}

Test(client_admin, topic_create_errors)
{
    tc_cluster_t c;
    cluster_start(&c, 1, 1);
    rill_admin_t *a = admin_new(&c);
    rill_topic_config_t tc;

    rill_topic_config_init(&tc, "bad topic");
    cr_assert_eq(rill_admin_topic_create(a, "DefaultCluster", NULL, &tc), RILL_ETOPIC);
    cr_assert(strstr(rill_last_error(), "bad topic") != NULL, "%s", rill_last_error());
    rill_topic_config_init(&tc, "");
    cr_assert_eq(rill_admin_topic_create(a, "DefaultCluster", NULL, &tc), RILL_ETOPIC);

    rill_topic_config_init(&tc, "Good");
    cr_assert_eq(rill_admin_topic_create(a, NULL, NULL, &tc), RILL_EINVAL);
    cr_assert_eq(rill_admin_topic_create(a, "DefaultCluster", tc_broker_addr(&c, 0), &tc),
                 RILL_EINVAL);
    cr_assert_eq(rill_admin_topic_create(a, "NoSuchCluster", NULL, &tc), RILL_ENOTFOUND);
    cr_assert(strstr(rill_last_error(), "NoSuchCluster") != NULL, "%s", rill_last_error());

    tc.read_queue_nums = 0;
    cr_assert_eq(rill_admin_topic_create(a, "DefaultCluster", NULL, &tc), RILL_EINVAL);
    tc.read_queue_nums = 1025;
    cr_assert_eq(rill_admin_topic_create(a, "DefaultCluster", NULL, &tc), RILL_EINVAL);
    rill_topic_config_init(&tc, "Good");
    tc.perm = 3;
    cr_assert_eq(rill_admin_topic_create(a, "DefaultCluster", NULL, &tc), RILL_EINVAL);

    /* a system topic: the broker refuses (NO_PERMISSION) and says why */
    rill_topic_config_init(&tc, "TBW102");
    cr_assert_eq(rill_admin_topic_create(a, "DefaultCluster", NULL, &tc), RILL_ENOPERM);
    cr_assert(strstr(rill_last_error(), "NO_PERMISSION") != NULL, "%s", rill_last_error());
    rill_admin_destroy(a);
    tc_stop(&c);
}

Test(client_admin, unknown_topic)
{
    tc_cluster_t c;
    cluster_start(&c, 1, 1);
    rill_admin_t *a = admin_new(&c);
    rill_topic_route_t r;
    cr_assert_eq(rill_admin_topic_route(a, "Nope", &r), RILL_ETOPIC);
    cr_assert_str_eq(rill_last_error(), "topic \"Nope\" not found (TOPIC_NOT_EXIST)");
    rill_queue_stat_t *st = NULL;
    size_t n = 0;
    cr_assert_eq(rill_admin_topic_status(a, "Nope", &st, &n), RILL_ETOPIC);
    cr_assert_eq(rill_admin_topic_delete(a, "Nope", NULL), RILL_ETOPIC);
    cr_assert(strstr(rill_last_error(), "Nope") != NULL, "%s", rill_last_error());
    rill_msg_list_t l;
    cr_assert_eq(rill_admin_query_msg_by_key(a, "Nope", "k", 0, 0, 0, &l), RILL_ETOPIC);
    cr_assert_eq(rill_admin_query_msg_by_time(a, "Nope", 0, 0, 0, &l), RILL_ETOPIC);
    cr_assert_eq(rill_admin_reset_offset(a, "G", "Nope", 0, NULL), RILL_ETOPIC);
    rill_admin_destroy(a);
    tc_stop(&c);
}

/* Does the NameServer at addr route topic? A fresh admin on that one NameServer asks. */
static int route_via(const char *namesrv, const char *topic)
{
    rill_conf_t *conf = rill_conf_new();
    char err[256];
    cr_assert_eq(rill_conf_set(conf, "namesrv", namesrv, err, sizeof(err)), 0);
    rill_admin_t *a = NULL;
    cr_assert_eq(rill_admin_new(&a, conf, err, sizeof(err)), 0);
    rill_topic_route_t r;
    int rc = rill_admin_topic_route(a, topic, &r);
    if (rc == 0)
        rill_topic_route_free(&r);
    rill_admin_destroy(a);
    return rc;
}

Test(client_admin, topic_delete_everywhere)
{
    tc_cluster_t c;
    cluster_start(&c, 2, 2);
    tc_create_topic(&c, "Doomed", 2);
    tc_create_topic(&c, "Kept", 2);
    char ns[2][64];
    const char *list = tc_namesrv_list(&c);
    const char *semi = strchr(list, ';');
    cr_assert(semi != NULL);
    snprintf(ns[0], sizeof(ns[0]), "%.*s", (int)(semi - list), list);
    snprintf(ns[1], sizeof(ns[1]), "%s", semi + 1);
    cr_assert_eq(route_via(ns[0], "Doomed"), 0);
    cr_assert_eq(route_via(ns[1], "Doomed"), 0);

    rill_admin_t *a = admin_new(&c);
    cr_assert_eq(rill_admin_topic_delete(a, "Doomed", NULL), 0, "%s", rill_last_error());
    /* gone from both NameServers at once, not only the one the handle uses */
    cr_assert_eq(route_via(ns[0], "Doomed"), RILL_ETOPIC);
    cr_assert_eq(route_via(ns[1], "Doomed"), RILL_ETOPIC);
    cr_assert_eq(route_via(ns[1], "Kept"), 0);
    rill_strv_t sv;
    cr_assert_eq(rill_admin_topic_list(a, &sv), 0);
    cr_assert(!strv_has(&sv, "Doomed"));
    cr_assert(strv_has(&sv, "Kept"));
    rill_strv_free(&sv);
    /* and it stays gone after the brokers' next registrations */
    rill_sleep_ms(1500);
    cr_assert_eq(route_via(ns[0], "Doomed"), RILL_ETOPIC);

    /* by cluster: deleting what no broker has */
    cr_assert_eq(rill_admin_topic_delete(a, "Doomed", "DefaultCluster"), RILL_ETOPIC);
    cr_assert_eq(rill_admin_topic_delete(a, "Kept", "NoSuchCluster"), RILL_ENOTFOUND);
    cr_assert_eq(rill_admin_topic_delete(a, "Kept", "DefaultCluster"), 0, "%s", rill_last_error());
    cr_assert_eq(route_via(ns[0], "Kept"), RILL_ETOPIC);
    rill_admin_destroy(a);
    tc_stop(&c);
}

/* ---- cluster and brokers ---- */

Test(client_admin, cluster_list_and_broker_stats)
{
    tc_cluster_t c;
    cluster_start(&c, 1, 2);
    tc_create_topic(&c, "StatsTopic", 1);
    rill_admin_t *a = admin_new(&c);
    rill_broker_info_t *bi = NULL;
    size_t n = 0;
    cr_assert_eq(rill_admin_cluster_list(a, &bi, &n), 0, "%s", rill_last_error());
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "broker-%c", 'a' + (int)i);
        cr_assert_str_eq(bi[i].cluster, "DefaultCluster");
        cr_assert_str_eq(bi[i].broker_name, name);
        cr_assert_eq(bi[i].n_addrs, 1);
        cr_assert_eq(bi[i].addrs[0].broker_id, 0);
        cr_assert_str_eq(bi[i].addrs[0].addr, tc_broker_addr(&c, (int)i));
    }
    free(bi);

    for (int k = 0; k < 3; k++)
        send_raw(&c, 1, "StatsTopic", 0, NULL, NULL, "x", NULL);
    rill_broker_stats_t st;
    cr_assert_eq(rill_admin_broker_stats(a, tc_broker_addr(&c, 1), &st), 0, "%s",
                 rill_last_error());
    cr_assert_eq(st.put_total, 3);
    cr_assert_gt(st.commitlog_max_offset, 0);
    cr_assert_gt(st.uptime_ms, 0);
    cr_assert_neq(st.version[0], '\0');
    cr_assert_eq(rill_admin_broker_stats(a, tc_broker_addr(&c, 0), &st), 0);
    cr_assert_eq(st.put_total, 0);

    /* a broker that is not there: a clear error after the request timeout, no hang */
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", hv_free_port());
    uint64_t t0 = rill_mono_ms();
    int rc = rill_admin_broker_stats(a, addr, &st);
    cr_assert(rc == RILL_ECONNREFUSED || rc == RILL_ETIMEDOUT, "rc %d", rc);
    cr_assert_lt(rill_mono_ms() - t0, 5000);
    cr_assert(strstr(rill_last_error(), addr) != NULL, "%s", rill_last_error());
    cr_assert_eq(rill_admin_broker_stats(a, "not-an-address", &st), RILL_EINVAL);
    rill_admin_destroy(a);
    tc_stop(&c);
}

/* ---- groups ---- */

Test(client_admin, groups)
{
    tc_cluster_t c;
    cluster_start(&c, 1, 2);
    rill_admin_t *a = admin_new(&c);
    rill_group_config_t gc;
    rill_group_config_init(&gc, "GroupOne");
    cr_assert(gc.consume_enable && gc.consume_broadcast_enable);
    cr_assert_eq(gc.retry_queue_nums, 1);
    cr_assert_eq(gc.retry_max_times, 16);
    gc.retry_max_times = 5;
    cr_assert_eq(rill_admin_group_create(a, "DefaultCluster", NULL, &gc), 0, "%s",
                 rill_last_error());
    rill_group_config_init(&gc, "GroupTwo");
    cr_assert_eq(rill_admin_group_create(a, NULL, tc_broker_addr(&c, 1), &gc), 0);

    rill_group_config_t *v = NULL;
    size_t n = 0;
    cr_assert_eq(rill_admin_group_list(a, NULL, &v, &n), 0, "%s", rill_last_error());
    cr_assert_eq(n, 2); /* GroupOne on two masters is listed once */
    cr_assert_str_eq(v[0].name, "GroupOne");
    cr_assert_eq(v[0].retry_max_times, 5);
    cr_assert_str_eq(v[1].name, "GroupTwo");
    free(v);
    cr_assert_eq(rill_admin_group_list(a, "NoSuchCluster", &v, &n), RILL_ENOTFOUND);

    cr_assert_eq(rill_admin_group_delete(a, "GroupOne", NULL), 0, "%s", rill_last_error());
    cr_assert_eq(rill_admin_group_list(a, "DefaultCluster", &v, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(v[0].name, "GroupTwo");
    free(v);
    cr_assert_eq(rill_admin_group_delete(a, "GroupOne", NULL), RILL_ENOTFOUND);
    cr_assert(strstr(rill_last_error(), "GroupOne") != NULL, "%s", rill_last_error());
    cr_assert_eq(rill_admin_group_delete(a, "bad group", NULL), RILL_EINVAL);
    rill_group_config_init(&gc, "bad group");
    cr_assert_eq(rill_admin_group_create(a, "DefaultCluster", NULL, &gc), RILL_EINVAL);
    rill_admin_destroy(a);
    tc_stop(&c);
}

/* ---- progress and reset ---- */

Test(client_admin, consumer_progress_exact)
{
    tc_cluster_t c;
    cluster_start(&c, 1, 2);
    tc_create_topic(&c, "ProgTopic", 2);
    tc_create_topic(&c, "OtherTopic", 1);
    for (int k = 0; k < 5; k++)
        send_raw(&c, 0, "ProgTopic", 0, NULL, NULL, "a0", NULL);
    for (int k = 0; k < 3; k++)
        send_raw(&c, 0, "ProgTopic", 1, NULL, NULL, "a1", NULL);
    sent_t last;
    /* before the b0 pair: dispatched in CommitLog order, it is in when they are */
    send_raw(&c, 1, "OtherTopic", 0, NULL, NULL, "o", NULL);
    send_raw(&c, 1, "ProgTopic", 0, NULL, NULL, "b0", NULL);
    send_raw(&c, 1, "ProgTopic", 0, NULL, NULL, "b0", &last);
    commit_raw(&c, 0, "ProgGroup", "ProgTopic", 0, 2);
    commit_raw(&c, 1, "ProgGroup", "ProgTopic", 0, 2);
    commit_raw(&c, 1, "ProgGroup", "OtherTopic", 0, 0);

    rill_admin_t *a = admin_new(&c);
    rill_consumer_progress_t p;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    for (;;) { /* until the broker has dispatched all 10 */
        cr_assert_eq(rill_admin_consumer_progress(a, "ProgGroup", "ProgTopic", &p), 0, "%s",
                     rill_last_error());
        if (p.total_lag == 6)
            break;
        rill_consumer_progress_free(&p);
        cr_assert_lt(rill_mono_ms(), deadline);
        rill_sleep_ms(POLL_MS);
    }
    /* every queue of the topic, committed or not, by broker and queue */
    cr_assert_eq(p.n, 4);
    const struct {
        const char *broker;
        int qid;
        int64_t broker_off, consumer_off, lag;
    } want[] = {{"broker-a", 0, 5, 2, 3},
                {"broker-a", 1, 3, -1, 3},
                {"broker-b", 0, 2, 2, 0},
                {"broker-b", 1, 0, -1, 0}};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_str_eq(p.queues[i].queue.topic, "ProgTopic");
        cr_assert_str_eq(p.queues[i].queue.broker_name, want[i].broker);
        cr_assert_eq(p.queues[i].queue.queue_id, want[i].qid);
        cr_assert_eq(p.queues[i].broker_offset, want[i].broker_off, "queue %zu", i);
        cr_assert_eq(p.queues[i].consumer_offset, want[i].consumer_off, "queue %zu", i);
        cr_assert_eq(p.queues[i].lag, want[i].lag, "queue %zu", i);
    }
    cr_assert_gt(p.queues[0].last_timestamp, 0);
    cr_assert_eq(p.queues[2].last_timestamp, last.store_ts); /* of offset 1, the last consumed */
    rill_consumer_progress_free(&p);
    rill_consumer_progress_free(&p);

    /* every topic: only what was committed, sorted by topic */
    cr_assert_eq(rill_admin_consumer_progress(a, "ProgGroup", NULL, &p), 0);
    cr_assert_eq(p.n, 3);
    cr_assert_str_eq(p.queues[0].queue.topic, "OtherTopic");
    cr_assert_eq(p.queues[0].lag, 1);
    cr_assert_str_eq(p.queues[1].queue.broker_name, "broker-a");
    cr_assert_str_eq(p.queues[2].queue.broker_name, "broker-b");
    cr_assert_eq(p.total_lag, 4);
    rill_consumer_progress_free(&p);

    cr_assert_eq(rill_admin_consumer_progress(a, "NoSuchGroup", NULL, &p), RILL_ENOTFOUND);
    cr_assert(strstr(rill_last_error(), "NoSuchGroup") != NULL, "%s", rill_last_error());
    cr_assert_eq(rill_admin_consumer_progress(a, "NoSuchGroup", "ProgTopic", &p), RILL_ENOTFOUND);
    cr_assert_eq(rill_admin_consumer_progress(a, "ProgGroup", "Nope", &p), RILL_ETOPIC);
    rill_admin_destroy(a);
    tc_stop(&c);
}

Test(client_admin, reset_offset_by_time)
{
    tc_cluster_t c;
    cluster_start(&c, 1, 2);
    tc_create_topic(&c, "ResetTopic", 2);
    sent_t s[5];
    send_raw(&c, 1, "ResetTopic", 1, NULL, NULL, "old", NULL);
    for (int k = 0; k < 5; k++) {
        rill_sleep_ms(5); /* distinct store times */
        send_raw(&c, 0, "ResetTopic", 0, NULL, NULL, "m", &s[k]);
    }
    cr_assert_lt(s[2].store_ts, s[3].store_ts);
    commit_raw(&c, 0, "ResetGroup", "ResetTopic", 0, 5);

    rill_admin_t *a = admin_new(&c);
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    for (;;) { /* searches by time read the ConsumeQueue: wait until all 6 are in */
        rill_queue_stat_t *st = NULL;
        size_t n = 0;
        cr_assert_eq(rill_admin_topic_status(a, "ResetTopic", &st, &n), 0);
        cr_assert_eq(n, 4);
        bool in = st[0].max_offset == 5 && st[3].max_offset == 1;
        free(st);
        if (in)
            break;
        cr_assert_lt(rill_mono_ms(), deadline);
        rill_sleep_ms(POLL_MS);
    }
    size_t nq = 0;
    cr_assert_eq(rill_admin_reset_offset(a, "ResetGroup", "ResetTopic", s[3].store_ts, &nq), 0,
                 "%s", rill_last_error());
    cr_assert_eq(nq, 4);
    cr_assert_eq(committed_raw(&c, 0, "ResetGroup", "ResetTopic", 0), 3);
    cr_assert_eq(committed_raw(&c, 0, "ResetGroup", "ResetTopic", 1), 0); /* empty queue */
    cr_assert_eq(committed_raw(&c, 1, "ResetGroup", "ResetTopic", 0), 0);
    cr_assert_eq(committed_raw(&c, 1, "ResetGroup", "ResetTopic", 1), 1); /* all older: max */

    cr_assert_eq(rill_admin_reset_offset(a, "ResetGroup", "ResetTopic", 0, NULL), 0);
    cr_assert_eq(committed_raw(&c, 0, "ResetGroup", "ResetTopic", 0), 0);
    cr_assert_eq(committed_raw(&c, 1, "ResetGroup", "ResetTopic", 1), 0);
    cr_assert_eq(rill_admin_reset_offset(a, "ResetGroup", "ResetTopic", -1, NULL), RILL_EINVAL);
    cr_assert_eq(rill_admin_reset_offset(a, "bad group", "ResetTopic", 0, NULL), RILL_EINVAL);
    rill_admin_destroy(a);
    tc_stop(&c);
}

/* ---- queries ---- */

static bool body_is(const rill_msg_t *m, const char *s)
{
    size_t len = 0;
    const void *b = rill_msg_body(m, &len);
    return len == strlen(s) && memcmp(b, s, len) == 0;
}

Test(client_admin, query_by_id_and_offset)
{
    tc_cluster_t c;
    cluster_start(&c, 1, 2);
    tc_create_topic(&c, "QTopic", 2);
    sent_t s0, s1;
    send_raw(&c, 1, "QTopic", 1, "TagQ", "key1", "first", &s0);
    send_raw(&c, 1, "QTopic", 1, NULL, NULL, "second", &s1);
    rill_admin_t *a = admin_new(&c);

    rill_msg_t *m = NULL;
    cr_assert_eq(rill_admin_query_msg_by_id(a, s0.msg_id, &m), 0, "%s", rill_last_error());
    cr_assert(body_is(m, "first"));
    cr_assert_str_eq(rill_msg_topic(m), "QTopic");
    cr_assert_str_eq(rill_msg_tags(m), "TagQ");
    cr_assert_str_eq(rill_msg_keys(m), "key1");
    cr_assert_str_eq(rill_msg_id(m), s0.msg_id);
    cr_assert_eq(rill_msg_queue_id(m), 1);
    cr_assert_eq(rill_msg_queue_offset(m), 0);
    cr_assert_eq(rill_msg_store_timestamp(m), s0.store_ts);
    rill_msg_destroy(m);

    cr_assert_eq(rill_admin_query_msg_by_id(a, "XYZ", &m), RILL_EINVAL);
    cr_assert_eq(rill_admin_query_msg_by_id(a, "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", &m),
                 RILL_EINVAL);
    cr_assert_eq(rill_admin_query_msg_by_id(a, NULL, &m), RILL_EINVAL);
    /* the right broker, but nothing at that CommitLog offset */
    char id[RILL_MSGID_BYTES + 1];
    msgid_encode(id, 0x7F000001u, (uint16_t)atoi(strchr(tc_broker_addr(&c, 1), ':') + 1),
                 (uint64_t)1 << 40);
    cr_assert_eq(rill_admin_query_msg_by_id(a, id, &m), RILL_ENOTFOUND);
    cr_assert(strstr(rill_last_error(), "QUERY_NOT_FOUND") != NULL, "%s", rill_last_error());

    rill_queue_t q;
    memset(&q, 0, sizeof(q));
    snprintf(q.topic, sizeof(q.topic), "QTopic");
    snprintf(q.broker_name, sizeof(q.broker_name), "broker-b");
    q.queue_id = 1;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    int rc;
    while ((rc = rill_admin_query_msg_by_offset(a, &q, 1, &m)) == RILL_ENOTFOUND) {
        cr_assert_lt(rill_mono_ms(), deadline);
        rill_sleep_ms(POLL_MS);
    }
    cr_assert_eq(rc, 0, "%s", rill_last_error());
    cr_assert(body_is(m, "second"));
    cr_assert_str_eq(rill_msg_id(m), s1.msg_id);
    cr_assert_str_eq(rill_msg_broker_name(m), "broker-b");
    cr_assert_eq(rill_msg_queue_offset(m), 1);
    rill_msg_destroy(m);
    cr_assert_eq(rill_admin_query_msg_by_offset(a, &q, 2, &m), RILL_ENOTFOUND);
    cr_assert_eq(rill_admin_query_msg_by_offset(a, &q, -1, &m), RILL_EINVAL);
    q.queue_id = 7;
    cr_assert_eq(rill_admin_query_msg_by_offset(a, &q, 0, &m), RILL_ENOTFOUND);
    snprintf(q.broker_name, sizeof(q.broker_name), "broker-z");
    q.queue_id = 0;
    cr_assert_eq(rill_admin_query_msg_by_offset(a, &q, 0, &m), RILL_ENOTFOUND);
    snprintf(q.topic, sizeof(q.topic), "Nope");
    cr_assert_eq(rill_admin_query_msg_by_offset(a, &q, 0, &m), RILL_ETOPIC);
    rill_admin_destroy(a);
    tc_stop(&c);
}

Test(client_admin, query_by_key_exact)
{
    tc_cluster_t c;
    cluster_start(&c, 1, 2);
    tc_create_topic(&c, "KTopic", 2);
    /* "order-7" on both brokers, as one key among several; near misses around it */
    sent_t want[3];
    send_raw(&c, 0, "KTopic", 0, NULL, "order-7", "a", &want[0]);
    send_raw(&c, 0, "KTopic", 1, NULL, "order-70", "miss", NULL);
    send_raw(&c, 1, "KTopic", 0, NULL, "x order-7 y", "b", &want[1]);
    send_raw(&c, 1, "KTopic", 1, NULL, "order", "miss", NULL);
    send_raw(&c, 1, "KTopic", 1, NULL, "order-7", "c", &want[2]);
    rill_admin_t *a = admin_new(&c);
    rill_msg_list_t l;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    for (;;) { /* the key index is written by the dispatcher */
        cr_assert_eq(rill_admin_query_msg_by_key(a, "KTopic", "order-7", 0, 0, 0, &l), 0, "%s",
                     rill_last_error());
        if (l.n >= 3)
            break;
        rill_msg_list_free(&l);
        cr_assert_lt(rill_mono_ms(), deadline, "key index never had 3");
        rill_sleep_ms(POLL_MS);
    }
    cr_assert_eq(l.n, 3);
    for (size_t i = 0; i < l.n; i++) {
        bool found = false;
        for (size_t k = 0; k < 3; k++)
            found |= strcmp(rill_msg_id(l.msgs[i]), want[k].msg_id) == 0;
        cr_assert(found, "unexpected message %s", rill_msg_id(l.msgs[i]));
        if (i > 0)
            cr_assert_geq(rill_msg_store_timestamp(l.msgs[i]),
                          rill_msg_store_timestamp(l.msgs[i - 1]));
    }
    rill_msg_list_free(&l);

    /* max 2: the two newest */
    cr_assert_eq(rill_admin_query_msg_by_key(a, "KTopic", "order-7", 0, 0, 2, &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(rill_msg_id(l.msgs[1]), want[2].msg_id);
    rill_msg_list_free(&l);
    /* a key nobody has */
    cr_assert_eq(rill_admin_query_msg_by_key(a, "KTopic", "order-8", 0, 0, 0, &l), 0);
    cr_assert_eq(l.n, 0);
    rill_msg_list_free(&l);
    cr_assert_eq(rill_admin_query_msg_by_key(a, "KTopic", "", 0, 0, 0, &l), RILL_EINVAL);
    cr_assert_eq(rill_admin_query_msg_by_key(a, "KTopic", "k", 10, 5, 0, &l), RILL_EINVAL);
    rill_admin_destroy(a);
    tc_stop(&c);
}

Test(client_admin, query_by_time_range)
{
    tc_cluster_t c;
    cluster_start(&c, 1, 2);
    tc_create_topic(&c, "TTopic", 1);
    sent_t before, in[4], after;
    send_raw(&c, 0, "TTopic", 0, NULL, NULL, "before", &before);
    rill_sleep_ms(20);
    for (int k = 0; k < 4; k++) {
        send_raw(&c, k % 2, "TTopic", 0, NULL, NULL, "in", &in[k]);
        rill_sleep_ms(5);
    }
    rill_sleep_ms(20);
    send_raw(&c, 1, "TTopic", 0, NULL, NULL, "after", &after);
    cr_assert_lt(before.store_ts, in[0].store_ts);
    cr_assert_lt(in[3].store_ts, after.store_ts);

    rill_admin_t *a = admin_new(&c);
    rill_msg_list_t l;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    for (;;) {
        cr_assert_eq(
            rill_admin_query_msg_by_time(a, "TTopic", in[0].store_ts, in[3].store_ts, 0, &l), 0,
            "%s", rill_last_error());
        if (l.n >= 4)
            break;
        rill_msg_list_free(&l);
        cr_assert_lt(rill_mono_ms(), deadline, "time index never had 4");
        rill_sleep_ms(POLL_MS);
    }
    cr_assert_eq(l.n, 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert(body_is(l.msgs[i], "in"));
        cr_assert_str_eq(rill_msg_id(l.msgs[i]), in[i].msg_id); /* oldest first */
    }
    rill_msg_list_free(&l);
    deadline = rill_mono_ms() + WAIT_MS;
    for (;;) { /* "after" may be indexed a little later than the four */
        cr_assert_eq(rill_admin_query_msg_by_time(a, "TTopic", 0, 0, 0, &l), 0);
        if (l.n >= 6)
            break;
        rill_msg_list_free(&l);
        cr_assert_lt(rill_mono_ms(), deadline, "time index never had 6");
        rill_sleep_ms(POLL_MS);
    }
    cr_assert_eq(l.n, 6);
    rill_msg_list_free(&l);
    cr_assert_eq(rill_admin_query_msg_by_time(a, "TTopic", 0, 0, 1, &l), 0);
    cr_assert_eq(l.n, 2); /* at most 1 per broker */
    rill_msg_list_free(&l);
    cr_assert_eq(rill_admin_query_msg_by_time(a, "TTopic", after.store_ts + 1000,
                                              after.store_ts + 2000, 0, &l),
                 0);
    cr_assert_eq(l.n, 0);
    rill_msg_list_free(&l);
    rill_admin_destroy(a);
    tc_stop(&c);
}
