/*
 * cluster.h - a small Rill cluster on 127.0.0.1 for librill's integration
 * tests: 1-2 namesrvs and 1-4 master brokers (broker-a, broker-b, ...) in
 * "DefaultCluster", each registered with every namesrv every second.
 *
 * Built on harness.h: every process is recorded there, so a suite's .fini
 * calling hv_stop_all() stops whatever a failed test left running. Topic
 * creation and the route checks use raw RPC calls, not librill, so the
 * fixture does not depend on the code under test beyond tc_conf().
 */
#ifndef RILL_TEST_CLUSTER_H
#define RILL_TEST_CLUSTER_H

#include "harness.h"
#include "rill.h"

#define TC_NAMESRVS_MAX 2
#define TC_BROKERS_MAX  4
/** Bound of every wait of the fixture (registration, routes). */
#define TC_WAIT_MS 15000

typedef struct tc_cluster {
    int n_namesrv, n_brokers;
    hv_proc_t namesrv[TC_NAMESRVS_MAX];
    bool namesrv_up[TC_NAMESRVS_MAX];
    hv_proc_t broker[TC_BROKERS_MAX];
    int broker_port[TC_BROKERS_MAX];
    char broker_data[TC_BROKERS_MAX][1024];
    char broker_addr[TC_BROKERS_MAX][32];
    const char *const *extra; /* borrowed: --key=value args of every broker */
    char namesrv_list[128];
    int slave_of[TC_BROKERS_MAX]; /* broker i is a slave of broker slave_of[i] - 1; 0: a master */
    int ha_port[TC_BROKERS_MAX];  /* a master's haListenPort (a free port, not listenPort + 1) */
} tc_cluster_t;

/**
 * Start n_namesrv namesrvs and n_brokers brokers and wait until every
 * namesrv lists every broker. extra: NULL or NULL-terminated --key=value
 * args for every broker (borrowed until tc_stop()). Fails the test on error.
 */
void tc_start(tc_cluster_t *c, int n_namesrv, int n_brokers, const char *const *extra);

/**
 * Start a slave (brokerId 1, brokerRole SLAVE, same brokerName) of broker
 * `master`, replicating from its HA port (listenPort + 1) with metadata
 * synced every 300 ms; waits until every live namesrv lists it. Returns its
 * broker index (stopped by tc_stop()).
 */
int tc_add_slave(tc_cluster_t *c, int master);

/** Stop every process (SIGTERM, then SIGKILL) and remove the data. */
void tc_stop(tc_cluster_t *c);

/** Stop broker i with sig (SIGTERM or SIGKILL); keeps its data and port. */
void tc_broker_stop(tc_cluster_t *c, int i, int sig);

/** Start broker i again on the same port and data; waits until every live namesrv lists it. */
void tc_broker_restart(tc_cluster_t *c, int i);

/** Stop namesrv i (SIGTERM). */
void tc_namesrv_stop(tc_cluster_t *c, int i);

/** "127.0.0.1:port" of broker i. */
const char *tc_broker_addr(const tc_cluster_t *c, int i);

/** "127.0.0.1:p1;127.0.0.1:p2". */
const char *tc_namesrv_list(const tc_cluster_t *c);

/**
 * Create topic with `queues` read and write queues on every running broker
 * and wait until every live namesrv routes it to all of them.
 */
void tc_create_topic(tc_cluster_t *c, const char *topic, int queues);

/**
 * A configuration with namesrv (and group, unless NULL) set and fast test
 * intervals: route.refresh.ms=500, heartbeat.interval.ms=300,
 * rebalance.interval.ms=1000, pull.suspend.ms=1000,
 * auto.commit.interval.ms=500. The caller owns it.
 */
rill_conf_t *tc_conf(const tc_cluster_t *c, const char *group);

#endif
