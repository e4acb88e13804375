/*
 * cluster.c - see cluster.h. Brokers register every second
 * (registerNameServerPeriod=1000) so restarts and new topics show up in the
 * routes quickly; every wait polls with a short sleep and is bounded by
 * TC_WAIT_MS.
 */
#include "cluster.h"
#include "common/clock.h"

#include "proto/common.pb-c.h"
#include "rpc/rpc_client.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TC_POLL_MS 50
#define TC_CALL_MS 3000
#define TC_EXTRA_MAX 16

/* One synchronous call to url; NULL when no answer. */
static Rill__Response *call(const char *url, Rill__Request *req)
{
    rpc_client_t *cli = NULL;
    if (rpc_client_open(&cli, url, NULL) != 0)
        return NULL;
    Rill__Response *resp = NULL;
    if (rpc_client_call(cli, req, TC_CALL_MS, &resp) != 0)
        resp = NULL;
    rpc_client_close(cli);
    return resp;
}

static void start_broker(tc_cluster_t *c, int i)
{
    char name_arg[64], port_arg[64], dir_arg[1100], ns_arg[160];
    int set = c->slave_of[i] ? c->slave_of[i] - 1 : i;
    char ha_arg[64];
    snprintf(name_arg, sizeof(name_arg), "--brokerName=broker-%c", 'a' + set);
    snprintf(ha_arg, sizeof(ha_arg), "--haMasterAddress=127.0.0.1:%d", c->ha_port[set]);
    snprintf(dir_arg, sizeof(dir_arg), "--storePathRootDir=%s", c->broker_data[i]);
    snprintf(ns_arg, sizeof(ns_arg), "--namesrvAddr=%s", c->namesrv_list);
    for (int attempt = 0; attempt < HV_PORT_TRIES; attempt++) {
        int port = c->broker_port[i] ? c->broker_port[i] : hv_free_port();
        cr_assert_gt(port, 0);
        snprintf(port_arg, sizeof(port_arg), "--listenPort=%d", port);
        const char *args[TC_EXTRA_MAX + 16];
        int n = 0;
        args[n++] = name_arg;
        args[n++] = port_arg;
        args[n++] = dir_arg;
        args[n++] = ns_arg;
        args[n++] = "--bindAddress=127.0.0.1";
        args[n++] = "--brokerIP1=127.0.0.1";
        args[n++] = "--registerNameServerPeriod=1000";
        args[n++] = "--mappedFileSizeCommitLog=8388608";
        args[n++] = "--logLevel=warn";
        char hl_arg[64];
        if (c->slave_of[i] == 0) {
            /* an explicit free HA port: listenPort + 1 may belong to another process */
            if (c->ha_port[i] == 0 || attempt > 0)
                c->ha_port[i] = hv_free_port();
            snprintf(hl_arg, sizeof(hl_arg), "--haListenPort=%d", c->ha_port[i]);
            args[n++] = hl_arg;
        }
        if (c->slave_of[i]) {
            args[n++] = "--brokerId=1";
            args[n++] = "--brokerRole=SLAVE";
            args[n++] = "--haMetaSyncInterval=300";
            args[n++] = ha_arg;
        }
        for (int k = 0; c->extra && c->extra[k]; k++) {
            cr_assert_lt(k, TC_EXTRA_MAX, "too many broker args");
            args[n++] = c->extra[k];
        }
        args[n] = NULL;
        cr_assert_eq(hv_spawn(&c->broker[i], "rill-broker", args), 0);
        int rc = hv_wait_ready(&c->broker[i], port, HV_READY_MS);
        if (rc == 0) {
            c->broker_port[i] = port;
            snprintf(c->broker_addr[i], sizeof(c->broker_addr[i]), "127.0.0.1:%d", port);
            return;
        }
        char *err = hv_read_output(c->broker[i].err_path);
        fprintf(stderr, "broker-%c did not start on port %d: %s\n", 'a' + i, port, err);
        free(err);
        hv_stop(&c->broker[i]);
        if (c->broker_port[i]) /* a restart must keep its port: no retry elsewhere */
            break;
    }
    cr_assert_fail("rill-broker %d did not start", i);
}

/* Does namesrv j list a live broker at addr? */
static bool namesrv_lists(tc_cluster_t *c, int j, const char *addr)
{
    Rill__Request req = RILL__REQUEST__INIT;
    Rill__GetClusterInfoRequest body = RILL__GET_CLUSTER_INFO_REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_BROKER_CLUSTER_INFO;
    req.body_case = RILL__REQUEST__BODY_GET_CLUSTER_INFO;
    req.get_cluster_info = &body;
    Rill__Response *resp = call(c->namesrv[j].url, &req);
    bool found = false;
    if (resp && resp->code == 0 && resp->body_case == RILL__RESPONSE__BODY_CLUSTER_INFO) {
        for (size_t b = 0; b < resp->cluster_info->n_brokers && !found; b++) {
            const Rill__BrokerData *bd = resp->cluster_info->brokers[b];
            for (size_t a = 0; a < bd->n_addrs; a++)
                if (strcmp(bd->addrs[a]->addr, addr) == 0)
                    found = true;
        }
    }
    rpc_response_free(resp);
    return found;
}

static void wait_registered(tc_cluster_t *c, int i)
{
    uint64_t deadline = rill_mono_ms() + TC_WAIT_MS;
    for (int j = 0; j < c->n_namesrv; j++) {
        if (!c->namesrv_up[j])
            continue;
        while (!namesrv_lists(c, j, c->broker_addr[i])) {
            cr_assert_lt(rill_mono_ms(), deadline, "broker %s never registered with namesrv %d",
                         c->broker_addr[i], j);
            rill_sleep_ms(TC_POLL_MS);
        }
    }
}

void tc_start(tc_cluster_t *c, int n_namesrv, int n_brokers, const char *const *extra)
{
    cr_assert(n_namesrv >= 1 && n_namesrv <= TC_NAMESRVS_MAX);
    cr_assert(n_brokers >= 1 && n_brokers <= TC_BROKERS_MAX);
    memset(c, 0, sizeof(*c));
    c->n_namesrv = n_namesrv;
    c->n_brokers = n_brokers;
    c->extra = extra;
    size_t len = 0;
    for (int j = 0; j < n_namesrv; j++) {
        cr_assert_eq(hv_start_namesrv(&c->namesrv[j], NULL), 0, "namesrv %d did not start", j);
        c->namesrv_up[j] = true;
        len += (size_t)snprintf(c->namesrv_list + len, sizeof(c->namesrv_list) - len, "%s127.0.0.1:%d",
                                j ? ";" : "", c->namesrv[j].port);
    }
    for (int i = 0; i < n_brokers; i++) {
        ts_mkdtemp(c->broker_data[i], sizeof(c->broker_data[i]), "cluster-broker");
        start_broker(c, i);
    }
    for (int i = 0; i < n_brokers; i++)
        wait_registered(c, i);
}

int tc_add_slave(tc_cluster_t *c, int master)
{
    cr_assert(master >= 0 && master < c->n_brokers && c->slave_of[master] == 0);
    cr_assert_lt(c->n_brokers, TC_BROKERS_MAX);
    int i = c->n_brokers++;
    c->slave_of[i] = master + 1;
    ts_mkdtemp(c->broker_data[i], sizeof(c->broker_data[i]), "cluster-slave");
    start_broker(c, i);
    wait_registered(c, i);
    return i;
}

void tc_broker_stop(tc_cluster_t *c, int i, int sig)
{
    cr_assert(i >= 0 && i < c->n_brokers);
    if (c->broker[i].pid == 0)
        return;
    if (sig == SIGKILL) {
        hv_signal(&c->broker[i], SIGKILL);
        hv_wait_exit(&c->broker[i], HV_STOP_MS);
    }
    hv_stop_ex(&c->broker[i], HV_STOP_MS, true);
}

void tc_broker_restart(tc_cluster_t *c, int i)
{
    cr_assert(i >= 0 && i < c->n_brokers);
    tc_broker_stop(c, i, SIGTERM);
    start_broker(c, i);
    wait_registered(c, i);
}

void tc_namesrv_stop(tc_cluster_t *c, int i)
{
    cr_assert(i >= 0 && i < c->n_namesrv);
    hv_stop(&c->namesrv[i]);
    c->namesrv_up[i] = false;
}

void tc_stop(tc_cluster_t *c)
{
    for (int i = 0; i < c->n_brokers; i++) {
        if (c->broker[i].pid)
            hv_stop_ex(&c->broker[i], HV_STOP_MS, true);
        if (c->broker_data[i][0])
            ts_rmtree(c->broker_data[i]);
    }
    for (int j = 0; j < c->n_namesrv; j++)
        if (c->namesrv_up[j])
            hv_stop(&c->namesrv[j]);
    memset(c, 0, sizeof(*c));
}

const char *tc_broker_addr(const tc_cluster_t *c, int i)
{
    return c->broker_addr[i];
}

const char *tc_namesrv_list(const tc_cluster_t *c)
{
    return c->namesrv_list;
}

/* Does namesrv j route topic to every running broker? */
static bool routed_everywhere(tc_cluster_t *c, int j, const char *topic)
{
    Rill__Request req = RILL__REQUEST__INIT;
    Rill__GetRouteInfoRequest body = RILL__GET_ROUTE_INFO_REQUEST__INIT;
    body.topic = (char *)topic;
    req.code = RILL__REQUEST_CODE__GET_ROUTEINFO_BY_TOPIC;
    req.body_case = RILL__REQUEST__BODY_GET_ROUTE_INFO;
    req.get_route_info = &body;
    Rill__Response *resp = call(c->namesrv[j].url, &req);
    bool ok = resp && resp->code == 0 && resp->body_case == RILL__RESPONSE__BODY_TOPIC_ROUTE;
    for (int i = 0; ok && i < c->n_brokers; i++) {
        if (c->broker[i].pid == 0)
            continue;
        char name[16];
        snprintf(name, sizeof(name), "broker-%c", 'a' + i);
        bool found = false;
        for (size_t q = 0; q < resp->topic_route->n_queue_datas; q++)
            if (strcmp(resp->topic_route->queue_datas[q]->broker_name, name) == 0)
                found = true;
        ok = found;
    }
    rpc_response_free(resp);
    return ok;
}

void tc_create_topic(tc_cluster_t *c, const char *topic, int queues)
{
    for (int i = 0; i < c->n_brokers; i++) {
        if (c->broker[i].pid == 0)
            continue;
        Rill__Request req = RILL__REQUEST__INIT;
        Rill__UpdateTopicRequest body = RILL__UPDATE_TOPIC_REQUEST__INIT;
        Rill__TopicConfig tc = RILL__TOPIC_CONFIG__INIT;
        tc.topic_name = (char *)topic;
        tc.read_queue_nums = queues;
        tc.write_queue_nums = queues;
        tc.perm = 6;
        body.topic = &tc;
        req.code = RILL__REQUEST_CODE__UPDATE_AND_CREATE_TOPIC;
        req.body_case = RILL__REQUEST__BODY_UPDATE_TOPIC;
        req.update_topic = &body;
        char url[64];
        snprintf(url, sizeof(url), "tcp://%s", c->broker_addr[i]);
        Rill__Response *resp = call(url, &req);
        cr_assert(resp != NULL, "no answer from broker %s to create %s", c->broker_addr[i], topic);
        cr_assert_eq(resp->code, 0, "create topic %s on %s: %s", topic, c->broker_addr[i],
                     resp->remark);
        rpc_response_free(resp);
    }
    uint64_t deadline = rill_mono_ms() + TC_WAIT_MS;
    for (int j = 0; j < c->n_namesrv; j++) {
        if (!c->namesrv_up[j])
            continue;
        while (!routed_everywhere(c, j, topic)) {
            cr_assert_lt(rill_mono_ms(), deadline, "topic %s never routed by namesrv %d", topic, j);
            rill_sleep_ms(TC_POLL_MS);
        }
    }
}

rill_conf_t *tc_conf(const tc_cluster_t *c, const char *group)
{
    rill_conf_t *conf = rill_conf_new();
    cr_assert(conf != NULL);
    char err[256];
    const char *kv[][2] = {
        {"namesrv", c->namesrv_list},        {"route.refresh.ms", "500"},
        {"heartbeat.interval.ms", "300"},    {"rebalance.interval.ms", "1000"},
        {"pull.suspend.ms", "1000"},         {"auto.commit.interval.ms", "500"},
        {"group", group},
    };
    for (size_t k = 0; k < sizeof(kv) / sizeof(kv[0]); k++) {
        if (kv[k][1] == NULL)
            continue;
        cr_assert_eq(rill_conf_set(conf, kv[k][0], kv[k][1], err, sizeof(err)), 0, "%s: %s",
                     kv[k][0], err);
    }
    return conf;
}
