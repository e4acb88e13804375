/*
 * test_namesrv.c - a real rill-namesrv process on a free loopback port,
 * driven through the RPC client with the proto messages a broker and a
 * client send: registration and routes, several broker names, slaves,
 * unregistration, unknown topics, cluster info, topic lists, topic
 * deletion, cheap re-registration, expiry of a silent broker, immediate
 * removal when a broker's connection closes, bad input, and the command
 * line (bad keys, --print-config, --help, SIGTERM/SIGINT).
 */
#include "harness.h"

#include "common/clock.h"
#include "namesrv/namesrv_config.h"
#include "rpc/rpc_client.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Timeout of calls expected to succeed. */
#define CALL_MS 5000
/* Bound of the waits for something to disappear. */
#define GONE_WAIT_MS 8000
#define POLL_MS      20

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(namesrv, .fini = suite_fini, .timeout = 120);

/* ---- request builders and calls ---- */

typedef struct {
    const char *cluster;
    const char *name;
    int64_t id;
    const char *addr;
    const char *ha_addr;
    int64_t version; /* DataVersion.counter; timestamp fixed */
    const char *const *topics;
    size_t ntopics;
    int queues; /* read = write queue count of every topic */
} broker_t;

static rpc_client_t *open_client(const hv_proc_t *ns)
{
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, ns->url, NULL), 0);
    return cli;
}

static Rill__Response *call(rpc_client_t *cli, Rill__Request *req)
{
    Rill__Response *resp = NULL;
    int rc = rpc_client_call(cli, req, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "call %d: %d", req->code, rc);
    return resp;
}

/* Register b; returns the Response (caller frees). */
static Rill__Response *register_raw(rpc_client_t *cli, const broker_t *b)
{
    Rill__TopicConfig tcs[16];
    Rill__TopicConfig *tcp[16];
    cr_assert_leq(b->ntopics, 16);
    for (size_t i = 0; i < b->ntopics; i++) {
        rill__topic_config__init(&tcs[i]);
        tcs[i].topic_name = (char *)b->topics[i];
        tcs[i].read_queue_nums = b->queues ? b->queues : 4;
        tcs[i].write_queue_nums = b->queues ? b->queues : 4;
        tcs[i].perm = 6;
        tcp[i] = &tcs[i];
    }
    Rill__DataVersion dv = RILL__DATA_VERSION__INIT;
    dv.timestamp_ms = 1700000000000;
    dv.counter = b->version;
    Rill__RegisterBrokerRequest body = RILL__REGISTER_BROKER_REQUEST__INIT;
    body.cluster_name = (char *)b->cluster;
    body.broker_name = (char *)b->name;
    body.broker_id = b->id;
    body.broker_addr = (char *)b->addr;
    body.ha_server_addr = (char *)(b->ha_addr ? b->ha_addr : "");
    body.broker_role = b->id == 0 ? "ASYNC_MASTER" : "SLAVE";
    body.data_version = &dv;
    body.n_topics = b->ntopics;
    body.topics = tcp;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__REGISTER_BROKER;
    req.body_case = RILL__REQUEST__BODY_REGISTER_BROKER;
    req.register_broker = &body;
    return call(cli, &req);
}

/* Register b and expect SUCCESS; returns topics_needed. */
static bool register_ok(rpc_client_t *cli, const broker_t *b)
{
    Rill__Response *resp = register_raw(cli, b);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "register %s: %d %s", b->addr,
                 resp->code, resp->remark);
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_REGISTER_BROKER);
    bool needed = resp->register_broker->topics_needed;
    rpc_response_free(resp);
    return needed;
}

static int unregister(rpc_client_t *cli, const broker_t *b)
{
    Rill__UnregisterBrokerRequest body = RILL__UNREGISTER_BROKER_REQUEST__INIT;
    body.cluster_name = (char *)b->cluster;
    body.broker_name = (char *)b->name;
    body.broker_id = b->id;
    body.broker_addr = (char *)b->addr;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UNREGISTER_BROKER;
    req.body_case = RILL__REQUEST__BODY_UNREGISTER_BROKER;
    req.unregister_broker = &body;
    Rill__Response *resp = call(cli, &req);
    int code = resp->code;
    rpc_response_free(resp);
    return code;
}

/* GET_ROUTEINFO_BY_TOPIC; returns the Response (caller frees). */
static Rill__Response *get_route(rpc_client_t *cli, const char *topic)
{
    Rill__GetRouteInfoRequest body = RILL__GET_ROUTE_INFO_REQUEST__INIT;
    body.topic = (char *)topic;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_ROUTEINFO_BY_TOPIC;
    req.body_case = RILL__REQUEST__BODY_GET_ROUTE_INFO;
    req.get_route_info = &body;
    return call(cli, &req);
}

static int route_code(rpc_client_t *cli, const char *topic)
{
    Rill__Response *resp = get_route(cli, topic);
    int code = resp->code;
    rpc_response_free(resp);
    return code;
}

/* Poll until topic has no route; returns the ms it took, or -1 after limit_ms. */
static int64_t wait_route_gone(rpc_client_t *cli, const char *topic, uint32_t limit_ms)
{
    uint64_t t0 = rill_mono_ms();
    for (uint32_t i = 0; i <= limit_ms / POLL_MS + 1; i++) {
        if (route_code(cli, topic) == RILL__RESPONSE_CODE__TOPIC_NOT_EXIST)
            return (int64_t)(rill_mono_ms() - t0);
        if (rill_mono_ms() - t0 > limit_ms)
            break;
        rill_sleep_ms(POLL_MS);
    }
    return -1;
}

static Rill__Response *bare_call(rpc_client_t *cli, int code)
{
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = code;
    return call(cli, &req);
}

static const Rill__BrokerData *find_broker_data(Rill__BrokerData **bds, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(bds[i]->broker_name, name) == 0)
            return bds[i];
    return NULL;
}

static const char *addr_of(const Rill__BrokerData *bd, int64_t id)
{
    for (size_t i = 0; i < bd->n_addrs; i++)
        if (bd->addrs[i]->broker_id == id)
            return bd->addrs[i]->addr;
    return NULL;
}

static const Rill__QueueData *find_queue_data(const Rill__TopicRouteResponse *r, const char *name)
{
    for (size_t i = 0; i < r->n_queue_datas; i++)
        if (strcmp(r->queue_datas[i]->broker_name, name) == 0)
            return r->queue_datas[i];
    return NULL;
}

static void start_ns(hv_proc_t *ns, const char *const *extra)
{
    int rc = hv_start_namesrv(ns, extra);
    cr_assert_eq(rc, 0, "rill-namesrv did not start: %d", rc);
}

static void stop_ns_clean(hv_proc_t *ns)
{
    cr_assert_eq(hv_stop(ns), 0, "rill-namesrv should exit 0 on SIGTERM");
}

static const char *const T_ORDERS[] = {"orders"};
static const char *const T_ORDERS_PAY[] = {"orders", "payments"};

/* ---- routes ---- */

Test(namesrv, register_then_get_route)
{
    hv_proc_t ns;
    start_ns(&ns, NULL);
    rpc_client_t *cli = open_client(&ns);
    broker_t a = {"DefaultCluster", "broker-a", 0, "127.0.0.1:10911", "127.0.0.1:10912", 1,
                  T_ORDERS_PAY,     2,          8};
    cr_assert_eq(register_ok(cli, &a), false);

    Rill__Response *resp = get_route(cli, "orders");
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "%s", resp->remark);
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_TOPIC_ROUTE);
    const Rill__TopicRouteResponse *r = resp->topic_route;
    cr_assert_eq(r->n_queue_datas, 1);
    cr_assert_str_eq(r->queue_datas[0]->broker_name, "broker-a");
    cr_assert_eq(r->queue_datas[0]->read_queue_nums, 8);
    cr_assert_eq(r->queue_datas[0]->write_queue_nums, 8);
    cr_assert_eq(r->queue_datas[0]->perm, 6);
    cr_assert_eq(r->n_broker_datas, 1);
    cr_assert_str_eq(r->broker_datas[0]->cluster_name, "DefaultCluster");
    cr_assert_str_eq(r->broker_datas[0]->broker_name, "broker-a");
    cr_assert_eq(r->broker_datas[0]->n_addrs, 1);
    cr_assert_eq(r->broker_datas[0]->addrs[0]->broker_id, 0);
    cr_assert_str_eq(r->broker_datas[0]->addrs[0]->addr, "127.0.0.1:10911");
    rpc_response_free(resp);

    /* A slave of broker-a learns its master's addresses and joins the route. */
    broker_t a1 = {"DefaultCluster", "broker-a", 1, "127.0.0.1:10921", "", 1, NULL, 0, 0};
    resp = register_raw(cli, &a1);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "%s", resp->remark);
    cr_assert_str_eq(resp->register_broker->master_addr, "127.0.0.1:10911");
    cr_assert_str_eq(resp->register_broker->ha_server_addr, "127.0.0.1:10912");
    cr_assert_eq(resp->register_broker->topics_needed, false, "slaves never send topics");
    rpc_response_free(resp);
    resp = get_route(cli, "payments");
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(resp->topic_route->n_broker_datas, 1);
    const Rill__BrokerData *bd = resp->topic_route->broker_datas[0];
    cr_assert_eq(bd->n_addrs, 2);
    cr_assert_str_eq(addr_of(bd, 0), "127.0.0.1:10911");
    cr_assert_str_eq(addr_of(bd, 1), "127.0.0.1:10921");
    rpc_response_free(resp);

    rpc_client_close(cli);
    stop_ns_clean(&ns);
}

Test(namesrv, two_broker_names_in_one_cluster)
{
    hv_proc_t ns;
    start_ns(&ns, NULL);
    rpc_client_t *cli = open_client(&ns);
    broker_t a = {"c1", "broker-a", 0, "127.0.0.1:10911", "", 1, T_ORDERS, 1, 4};
    broker_t b = {"c1", "broker-b", 0, "127.0.0.1:10931", "", 1, T_ORDERS_PAY, 2, 2};
    register_ok(cli, &a);
    register_ok(cli, &b);

    Rill__Response *resp = get_route(cli, "orders");
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    const Rill__TopicRouteResponse *r = resp->topic_route;
    cr_assert_eq(r->n_queue_datas, 2);
    cr_assert_eq(find_queue_data(r, "broker-a")->write_queue_nums, 4);
    cr_assert_eq(find_queue_data(r, "broker-b")->write_queue_nums, 2);
    cr_assert_eq(r->n_broker_datas, 2);
    cr_assert_str_eq(addr_of(find_broker_data(r->broker_datas, 2, "broker-a"), 0),
                     "127.0.0.1:10911");
    cr_assert_str_eq(addr_of(find_broker_data(r->broker_datas, 2, "broker-b"), 0),
                     "127.0.0.1:10931");
    rpc_response_free(resp);

    resp = get_route(cli, "payments");
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(resp->topic_route->n_queue_datas, 1, "only broker-b serves payments");
    cr_assert_str_eq(resp->topic_route->queue_datas[0]->broker_name, "broker-b");
    rpc_response_free(resp);

    resp = bare_call(cli, RILL__REQUEST_CODE__GET_BROKER_CLUSTER_INFO);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(resp->cluster_info->n_clusters, 1);
    cr_assert_str_eq(resp->cluster_info->clusters[0]->cluster_name, "c1");
    cr_assert_eq(resp->cluster_info->clusters[0]->n_broker_names, 2);
    cr_assert_eq(resp->cluster_info->n_brokers, 2);
    rpc_response_free(resp);

    /* A broker name lives in one cluster. */
    broker_t stray = {"c2", "broker-a", 1, "127.0.0.1:10941", "", 1, NULL, 0, 0};
    resp = register_raw(cli, &stray);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SYSTEM_ERROR);
    cr_assert_not_null(strstr(resp->remark, "cluster 'c1'"), "%s", resp->remark);
    rpc_response_free(resp);

    rpc_client_close(cli);
    stop_ns_clean(&ns);
}

Test(namesrv, unregister_removes_the_broker)
{
    hv_proc_t ns;
    start_ns(&ns, NULL);
    rpc_client_t *cli = open_client(&ns);
    broker_t a = {"c1", "broker-a", 0, "127.0.0.1:10911", "", 1, T_ORDERS, 1, 4};
    broker_t b = {"c1", "broker-b", 0, "127.0.0.1:10931", "", 1, T_ORDERS_PAY, 2, 4};
    register_ok(cli, &a);
    register_ok(cli, &b);

    cr_assert_eq(unregister(cli, &b), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(route_code(cli, "payments"), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    Rill__Response *resp = get_route(cli, "orders");
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(resp->topic_route->n_queue_datas, 1);
    cr_assert_str_eq(resp->topic_route->queue_datas[0]->broker_name, "broker-a");
    cr_assert_eq(resp->topic_route->n_broker_datas, 1);
    rpc_response_free(resp);

    cr_assert_eq(unregister(cli, &a), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(route_code(cli, "orders"), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    resp = bare_call(cli, RILL__REQUEST_CODE__GET_BROKER_CLUSTER_INFO);
    cr_assert_eq(resp->cluster_info->n_brokers, 0);
    cr_assert_eq(resp->cluster_info->n_clusters, 0);
    rpc_response_free(resp);
    /* Idempotent. */
    cr_assert_eq(unregister(cli, &a), RILL__RESPONSE_CODE__SUCCESS);

    rpc_client_close(cli);
    stop_ns_clean(&ns);
}

Test(namesrv, unknown_topic_is_topic_not_exist)
{
    hv_proc_t ns;
    start_ns(&ns, NULL);
    rpc_client_t *cli = open_client(&ns);
    Rill__Response *resp = get_route(cli, "no-such-topic");
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    cr_assert_not_null(strstr(resp->remark, "no-such-topic"), "%s", resp->remark);
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY__NOT_SET);
    rpc_response_free(resp);
    broker_t a = {"c1", "broker-a", 0, "127.0.0.1:10911", "", 1, T_ORDERS, 1, 4};
    register_ok(cli, &a);
    cr_assert_eq(route_code(cli, "no-such-topic"), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    cr_assert_eq(route_code(cli, ""), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    rpc_client_close(cli);
    stop_ns_clean(&ns);
}

Test(namesrv, cluster_info_and_all_topics)
{
    hv_proc_t ns;
    start_ns(&ns, NULL);
    rpc_client_t *cli = open_client(&ns);
    static const char *const ta[] = {"zeta", "alpha"};
    static const char *const tb[] = {"alpha", "mid"};
    broker_t a = {"east", "broker-a", 0, "127.0.0.1:10911", "", 1, ta, 2, 4};
    broker_t a1 = {"east", "broker-a", 1, "127.0.0.1:10912", "", 1, NULL, 0, 0};
    broker_t b = {"west", "broker-b", 0, "127.0.0.1:10931", "", 1, tb, 2, 4};
    register_ok(cli, &a);
    register_ok(cli, &a1);
    register_ok(cli, &b);

    Rill__Response *resp = bare_call(cli, RILL__REQUEST_CODE__GET_BROKER_CLUSTER_INFO);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_CLUSTER_INFO);
    const Rill__ClusterInfoResponse *ci = resp->cluster_info;
    cr_assert_eq(ci->n_brokers, 2);
    const Rill__BrokerData *bd = find_broker_data(ci->brokers, ci->n_brokers, "broker-a");
    cr_assert_not_null(bd);
    cr_assert_str_eq(bd->cluster_name, "east");
    cr_assert_eq(bd->n_addrs, 2);
    cr_assert_str_eq(addr_of(bd, 1), "127.0.0.1:10912");
    cr_assert_eq(ci->n_clusters, 2);
    for (size_t i = 0; i < ci->n_clusters; i++) {
        cr_assert_eq(ci->clusters[i]->n_broker_names, 1);
        const char *want =
            strcmp(ci->clusters[i]->cluster_name, "east") == 0 ? "broker-a" : "broker-b";
        cr_assert_str_eq(ci->clusters[i]->broker_names[0], want);
    }
    rpc_response_free(resp);

    resp = bare_call(cli, RILL__REQUEST_CODE__GET_ALL_TOPIC_LIST_FROM_NAMESERVER);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_TOPIC_NAMES);
    cr_assert_eq(resp->topic_names->n_topics, 3);
    cr_assert_str_eq(resp->topic_names->topics[0], "alpha");
    cr_assert_str_eq(resp->topic_names->topics[1], "mid");
    cr_assert_str_eq(resp->topic_names->topics[2], "zeta");
    rpc_response_free(resp);

    rpc_client_close(cli);
    stop_ns_clean(&ns);
}

static int delete_topic(rpc_client_t *cli, const char *topic)
{
    Rill__DeleteTopicInNamesrvRequest body = RILL__DELETE_TOPIC_IN_NAMESRV_REQUEST__INIT;
    body.topic = (char *)topic;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__DELETE_TOPIC_IN_NAMESRV;
    req.body_case = RILL__REQUEST__BODY_DELETE_TOPIC_IN_NAMESRV;
    req.delete_topic_in_namesrv = &body;
    Rill__Response *resp = call(cli, &req);
    int code = resp->code;
    rpc_response_free(resp);
    return code;
}

Test(namesrv, delete_topic)
{
    hv_proc_t ns;
    start_ns(&ns, NULL);
    rpc_client_t *cli = open_client(&ns);
    broker_t a = {"c1", "broker-a", 0, "127.0.0.1:10911", "", 1, T_ORDERS_PAY, 2, 4};
    register_ok(cli, &a);
    cr_assert_eq(route_code(cli, "orders"), RILL__RESPONSE_CODE__SUCCESS);

    cr_assert_eq(delete_topic(cli, "orders"), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(route_code(cli, "orders"), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    cr_assert_eq(route_code(cli, "payments"), RILL__RESPONSE_CODE__SUCCESS);
    Rill__Response *resp = bare_call(cli, RILL__REQUEST_CODE__GET_ALL_TOPIC_LIST_FROM_NAMESERVER);
    cr_assert_eq(resp->topic_names->n_topics, 1);
    cr_assert_str_eq(resp->topic_names->topics[0], "payments");
    rpc_response_free(resp);
    cr_assert_eq(delete_topic(cli, "orders"), RILL__RESPONSE_CODE__SUCCESS, "idempotent");

    /* The same data version does not bring it back; a new one does. */
    register_ok(cli, &a);
    cr_assert_eq(route_code(cli, "orders"), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    a.version = 2;
    register_ok(cli, &a);
    cr_assert_eq(route_code(cli, "orders"), RILL__RESPONSE_CODE__SUCCESS);

    /* A request without its body is refused, not a crash. */
    resp = bare_call(cli, RILL__REQUEST_CODE__DELETE_TOPIC_IN_NAMESRV);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SYSTEM_ERROR);
    rpc_response_free(resp);

    rpc_client_close(cli);
    stop_ns_clean(&ns);
}

/* ---- data versions ---- */

Test(namesrv, same_data_version_is_cheap)
{
    hv_proc_t ns;
    start_ns(&ns, NULL);
    rpc_client_t *cli = open_client(&ns);
    broker_t a = {"c1", "broker-a", 0, "127.0.0.1:10911", "", 7, T_ORDERS, 1, 4};
    cr_assert_eq(register_ok(cli, &a), false);

    /* Same version, no topics: accepted, nothing asked, nothing lost. */
    broker_t heartbeat = a;
    heartbeat.topics = NULL;
    heartbeat.ntopics = 0;
    cr_assert_eq(register_ok(cli, &heartbeat), false);
    cr_assert_eq(route_code(cli, "orders"), RILL__RESPONSE_CODE__SUCCESS);

    /* Same version with other topics: the table is not even looked at. */
    static const char *const other[] = {"payments"};
    broker_t same_version = a;
    same_version.topics = other;
    same_version.ntopics = 1;
    cr_assert_eq(register_ok(cli, &same_version), false);
    cr_assert_eq(route_code(cli, "orders"), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(route_code(cli, "payments"), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);

    /* A new version replaces the broker's table. */
    same_version.version = 8;
    cr_assert_eq(register_ok(cli, &same_version), false);
    cr_assert_eq(route_code(cli, "orders"), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    cr_assert_eq(route_code(cli, "payments"), RILL__RESPONSE_CODE__SUCCESS);

    rpc_client_close(cli);
    stop_ns_clean(&ns);
}

Test(namesrv, first_contact_without_topics_asks_for_them)
{
    hv_proc_t ns;
    start_ns(&ns, NULL);
    rpc_client_t *cli = open_client(&ns);
    /* A broker that believes the namesrv holds its version 5 (say, after a namesrv restart). */
    broker_t a = {"c1", "broker-a", 0, "127.0.0.1:10911", "", 5, NULL, 0, 4};
    cr_assert_eq(register_ok(cli, &a), true);
    cr_assert_eq(route_code(cli, "orders"), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    a.topics = T_ORDERS;
    a.ntopics = 1;
    cr_assert_eq(register_ok(cli, &a), false, "the resend at the same version is applied");
    cr_assert_eq(route_code(cli, "orders"), RILL__RESPONSE_CODE__SUCCESS);
    rpc_client_close(cli);
    stop_ns_clean(&ns);
}

Test(namesrv, bad_registrations_are_refused)
{
    hv_proc_t ns;
    start_ns(&ns, NULL);
    rpc_client_t *cli = open_client(&ns);
    struct {
        broker_t b;
        const char *remark;
    } cases[] = {
        {{"c1", "", 0, "127.0.0.1:1", "", 1, NULL, 0, 4}, "broker_name is missing"},
        {{"", "broker-a", 0, "127.0.0.1:1", "", 1, NULL, 0, 4}, "cluster_name is missing"},
        {{"c1", "broker-a", 0, "", "", 1, NULL, 0, 4}, "broker_addr is missing"},
        {{"c1", "broker-a", -1, "127.0.0.1:1", "", 1, NULL, 0, 4}, "negative"},
        {{"c1", "broker-a", 0, "127.0.0.1:1", "", 1, (const char *const[]){"bad topic!"}, 1, 4},
         "illegal topic name"},
        {{"c1", "broker-a", 0, "127.0.0.1:1", "", 1, (const char *const[]){"t", "t"}, 2, 4},
         "appears twice"},
        {{"c1", "broker-a", 0, "127.0.0.1:1", "", 1, (const char *const[]){"t"}, 1, 5000},
         "queue counts"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Rill__Response *resp = register_raw(cli, &cases[i].b);
        cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SYSTEM_ERROR, "case %zu", i);
        cr_assert_not_null(strstr(resp->remark, cases[i].remark), "case %zu: %s", i, resp->remark);
        rpc_response_free(resp);
    }
    Rill__Response *resp = bare_call(cli, RILL__REQUEST_CODE__REGISTER_BROKER);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SYSTEM_ERROR);
    cr_assert_not_null(strstr(resp->remark, "register_broker"), "%s", resp->remark);
    rpc_response_free(resp);
    resp = bare_call(cli, RILL__REQUEST_CODE__GET_ROUTEINFO_BY_TOPIC);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SYSTEM_ERROR);
    rpc_response_free(resp);

    /* Nothing was registered, and the server still serves. */
    resp = bare_call(cli, RILL__REQUEST_CODE__GET_BROKER_CLUSTER_INFO);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(resp->cluster_info->n_brokers, 0);
    rpc_response_free(resp);
    resp = bare_call(cli, RILL__REQUEST_CODE__PING);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    rpc_response_free(resp);
    rpc_client_close(cli);
    stop_ns_clean(&ns);
}

/* ---- liveness ---- */

Test(namesrv, silent_broker_expires)
{
    hv_proc_t ns;
    static const char *const fast[] = {"--brokerChannelExpiredTime=1000",
                                       "--scanNotActiveBrokerInterval=200", NULL};
    start_ns(&ns, fast);
    rpc_client_t *cli = open_client(&ns);
    static const char *const t_quiet[] = {"quiet"};
    static const char *const t_alive[] = {"alive"};
    broker_t quiet = {"c1", "broker-q", 0, "127.0.0.1:10911", "", 1, t_quiet, 1, 4};
    broker_t alive = {"c1", "broker-l", 0, "127.0.0.1:10931", "", 1, t_alive, 1, 4};
    register_ok(cli, &quiet);
    register_ok(cli, &alive);
    uint64_t t0 = rill_mono_ms();

    /* broker-l heartbeats every 200 ms; broker-q says nothing more. */
    int64_t gone_after = -1;
    for (int i = 0; i < GONE_WAIT_MS / 200 && gone_after < 0; i++) {
        rill_sleep_ms(200);
        register_ok(cli, &alive);
        if (route_code(cli, "quiet") == RILL__RESPONSE_CODE__TOPIC_NOT_EXIST)
            gone_after = (int64_t)(rill_mono_ms() - t0);
    }
    cr_assert_geq(gone_after, 0, "the silent broker was never dropped");
    cr_assert_geq(gone_after, 900, "dropped after %lld ms, before its 1000 ms expiry",
                  (long long)gone_after);
    cr_assert_eq(route_code(cli, "alive"), RILL__RESPONSE_CODE__SUCCESS,
                 "a heartbeating broker stays");
    Rill__Response *resp = bare_call(cli, RILL__REQUEST_CODE__GET_BROKER_CLUSTER_INFO);
    cr_assert_eq(resp->cluster_info->n_brokers, 1);
    cr_assert_str_eq(resp->cluster_info->brokers[0]->broker_name, "broker-l");
    rpc_response_free(resp);

    /* It comes back by registering again (first contact: full table). */
    cr_assert_eq(register_ok(cli, &quiet), false);
    cr_assert_eq(route_code(cli, "quiet"), RILL__RESPONSE_CODE__SUCCESS);
    rpc_client_close(cli);
    stop_ns_clean(&ns);
}

Test(namesrv, closed_connection_drops_broker_at_once)
{
    hv_proc_t ns;
    start_ns(&ns, NULL); /* default 120 s expiry: only the closed connection can explain it */
    rpc_client_t *query = open_client(&ns);
    rpc_client_t *broker_conn = open_client(&ns);
    rpc_client_t *other_conn = open_client(&ns);
    broker_t a = {"c1", "broker-a", 0, "127.0.0.1:10911", "", 1, T_ORDERS, 1, 4};
    broker_t b = {"c1", "broker-b", 0, "127.0.0.1:10931", "", 1, T_ORDERS_PAY, 2, 4};
    register_ok(broker_conn, &a);
    register_ok(other_conn, &b);
    cr_assert_eq(route_code(query, "orders"), RILL__RESPONSE_CODE__SUCCESS);

    rpc_client_close(broker_conn);
    uint64_t t0 = rill_mono_ms();
    int64_t gone = -1;
    for (int i = 0; i < GONE_WAIT_MS / POLL_MS && gone < 0; i++) {
        Rill__Response *resp = get_route(query, "orders");
        cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "broker-b still serves orders");
        if (resp->topic_route->n_queue_datas == 1)
            gone = (int64_t)(rill_mono_ms() - t0);
        rpc_response_free(resp);
        if (gone < 0)
            rill_sleep_ms(POLL_MS);
    }
    cr_assert_geq(gone, 0, "broker-a still routed %d ms after its connection closed", GONE_WAIT_MS);
    cr_assert_lt(gone, 5000);
    Rill__Response *resp = get_route(query, "orders");
    cr_assert_str_eq(resp->topic_route->queue_datas[0]->broker_name, "broker-b");
    rpc_response_free(resp);

    /* Clients that only query are not brokers: closing one changes nothing. */
    rpc_client_close(query);
    query = open_client(&ns);
    cr_assert_eq(route_code(query, "payments"), RILL__RESPONSE_CODE__SUCCESS);
    rpc_client_close(other_conn);
    cr_assert_geq(wait_route_gone(query, "payments", GONE_WAIT_MS), 0);
    rpc_client_close(query);
    stop_ns_clean(&ns);
}

/* ---- the command line ---- */

Test(namesrv, unknown_key_fails_start)
{
    char *out = NULL, *err = NULL;
    static const char *const args[] = {"--listenPort=1", "--noSuchKey=3", NULL};
    int code = hv_run("rill-namesrv", args, 10000, &out, &err);
    cr_assert_neq(code, 0);
    cr_assert_neq(code, -1, "it must exit by itself");
    cr_assert_not_null(strstr(err, "unknown"), "stderr: %s", err);
    cr_assert_not_null(strstr(err, "noSuchKey"), "stderr: %s", err);
    free(out);
    free(err);

    static const char *const bad_value[] = {"--listenPort=notaport", NULL};
    code = hv_run("rill-namesrv", bad_value, 10000, &out, &err);
    cr_assert_neq(code, 0);
    cr_assert_not_null(strstr(err, "listenPort"), "stderr: %s", err);
    free(out);
    free(err);
}

Test(namesrv, unknown_key_in_file_names_file_and_line)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    ts_mkdtemp(dir, sizeof(dir), "nsconf");
    snprintf(path, sizeof(path), "%s/namesrv.conf", dir);
    const char *conf = "# test\nlistenPort = 9999\nscanNotActive = 5\n";
    cr_assert_eq(ts_write_file(path, conf, strlen(conf)), 0);
    const char *args[] = {"-c", path, NULL};
    char *out = NULL, *err = NULL;
    int code = hv_run("rill-namesrv", args, 10000, &out, &err);
    cr_assert_neq(code, 0);
    cr_assert_not_null(strstr(err, "namesrv.conf:3"), "stderr: %s", err);
    cr_assert_not_null(strstr(err, "unknown key 'scanNotActive'"), "stderr: %s", err);
    free(out);
    free(err);
    ts_rmtree(dir);
}

Test(namesrv, print_config_prints_every_key)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    ts_mkdtemp(dir, sizeof(dir), "nsconf");
    snprintf(path, sizeof(path), "%s/namesrv.conf", dir);
    const char *conf = "listenPort = 9999\nbrokerChannelExpiredTime = 5000\n";
    cr_assert_eq(ts_write_file(path, conf, strlen(conf)), 0);
    /* The command line wins over the file. */
    const char *args[] = {"-c", path, "--listenPort=12345", "--print-config", NULL};
    char *out = NULL, *err = NULL;
    int code = hv_run("rill-namesrv", args, 10000, &out, &err);
    cr_assert_eq(code, 0, "stderr: %s", err);
    const rill_cfg_schema_t *s = ns_config_schema();
    for (size_t i = 0; i < s->count; i++) {
        char want[128];
        snprintf(want, sizeof(want), "%s=", s->keys[i].name);
        cr_assert_not_null(strstr(out, want), "missing %s in:\n%s", want, out);
    }
    cr_assert_not_null(strstr(out, "listenPort=12345\n"), "%s", out);
    cr_assert_not_null(strstr(out, "brokerChannelExpiredTime=5000\n"), "%s", out);
    cr_assert_not_null(strstr(out, "scanNotActiveBrokerInterval=10000\n"), "%s", out);
    free(out);
    free(err);
    ts_rmtree(dir);
}

Test(namesrv, help_shows_usage_and_an_example)
{
    static const char *const args[] = {"--help", NULL};
    char *out = NULL, *err = NULL;
    int code = hv_run("rill-namesrv", args, 10000, &out, &err);
    cr_assert_eq(code, 0);
    cr_assert_not_null(strstr(out, "Usage: rill-namesrv"), "%s", out);
    cr_assert_not_null(strstr(out, "Example"), "%s", out);
    cr_assert_not_null(strstr(out, "--brokerChannelExpiredTime"), "%s", out);
    free(out);
    free(err);
    static const char *const short_args[] = {"-h", NULL};
    code = hv_run("rill-namesrv", short_args, 10000, &out, &err);
    cr_assert_eq(code, 0);
    cr_assert_not_null(strstr(out, "Usage: rill-namesrv"));
    free(out);
    free(err);
}

Test(namesrv, sigterm_and_sigint_stop_cleanly)
{
    int sigs[] = {SIGTERM, SIGINT};
    for (size_t i = 0; i < 2; i++) {
        hv_proc_t ns;
        start_ns(&ns, NULL);
        rpc_client_t *cli = open_client(&ns);
        broker_t a = {"c1", "broker-a", 0, "127.0.0.1:10911", "", 1, T_ORDERS, 1, 4};
        register_ok(cli, &a); /* state to free on the way out */
        char *log = hv_read_output(ns.err_path);
        char want[96];
        snprintf(want, sizeof(want), "started on tcp://127.0.0.1:%d", ns.port);
        cr_assert_not_null(strstr(log, want), "no start line with the address in:\n%s", log);
        free(log);

        cr_assert_eq(hv_signal(&ns, sigs[i]), 0);
        cr_assert_eq(hv_wait_exit(&ns, HV_STOP_MS), 0, "no exit after signal %d", sigs[i]);
        cr_assert_eq(ns.exit_code, 0, "signal %d: exit code %d", sigs[i], ns.exit_code);
        log = hv_read_output(ns.err_path);
        cr_assert_not_null(strstr(log, "rill-namesrv stopped"), "%s", log);
        free(log);
        rpc_client_close(cli);
        hv_stop(&ns); /* reaped already: removes the temp dir */
    }
}
