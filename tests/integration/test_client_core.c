/*
 * test_client_core.c - librill's core (client/src/core.h) against real
 * rill-namesrv and rill-broker processes (tests/integration/cluster.h):
 *
 *  1. a route lists both broker sets, sorted, with their addresses, and the
 *     queues by broker name then id; the cache hands out the same route
 *     until a change, which the refresh task picks up as version 2;
 *  2. with the first NameServer of two stopped, routes still resolve
 *     (every start position of the list), within one timeout;
 *  3. an unknown topic is RILL_ETOPIC with a clear rill_last_error();
 *  4. no NameServer up: RILL_ECONNREFUSED or RILL_ETIMEDOUT in bounded
 *     time, naming the address; no hang;
 *  5. broker calls: PING answers, a dead broker fails in bounded time with
 *     its address in the text and moves rc_set_read_addr() to a slave.
 */
#include "cluster.h"
#include "common/clock.h"

#include "client/src/core.h"
#include "rpc/rpc_client.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS 15000 /* bound of every wait for a route change */

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(client_core, .fini = suite_fini, .timeout = 90);

static void conf_set(rill_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    cr_assert_eq(rill_conf_set(conf, k, v, err, sizeof(err)), 0, "%s=%s: %s", k, v, err);
}

static rc_client_t *open_client(rill_conf_t *conf)
{
    rc_client_t *cli = NULL;
    char err[256] = "";
    int rc = rc_client_open(&cli, conf, err, sizeof(err));
    cr_assert_eq(rc, 0, "rc_client_open: %d %s", rc, err);
    return cli;
}

Test(client_core, route_lists_sets_queues_and_follows_changes)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 2, NULL);
    tc_create_topic(&c, "CoreRoute", 4);
    rill_conf_t *conf = tc_conf(&c, NULL);
    rc_client_t *cli = open_client(conf);

    rc_route_t *r = NULL;
    cr_assert_eq(rc_route_get(cli, "CoreRoute", false, &r), 0, "%s", rill_last_error());
    cr_assert_str_eq(r->topic, "CoreRoute");
    cr_assert_eq(r->version, 1);
    cr_assert_eq(r->n_sets, 2);
    cr_assert_str_eq(r->sets[0].name, "broker-a");
    cr_assert_str_eq(r->sets[1].name, "broker-b");
    for (int i = 0; i < 2; i++) {
        const rc_broker_set_t *s = rc_route_set(r, i == 0 ? "broker-a" : "broker-b");
        cr_assert_eq(s, &r->sets[i]);
        cr_assert_str_eq(s->cluster, "DefaultCluster");
        cr_assert_str_eq(rc_set_addr(s, 0), tc_broker_addr(&c, i));
        cr_assert_null(rc_set_addr(s, 1));
        cr_assert_str_eq(rc_set_read_addr(cli, s), tc_broker_addr(&c, i));
        cr_assert_eq(s->write_queue_nums, 4);
        cr_assert_eq(s->perm, 6);
    }
    cr_assert_null(rc_route_set(r, "broker-z"));
    cr_assert_eq(r->n_write, 8);
    cr_assert_eq(r->n_read, 8);
    for (size_t i = 0; i < 8; i++) {
        cr_assert_str_eq(r->write_queues[i].topic, "CoreRoute");
        cr_assert_str_eq(r->write_queues[i].broker_name, i < 4 ? "broker-a" : "broker-b");
        cr_assert_eq(r->write_queues[i].queue_id, (int32_t)(i % 4));
        cr_assert_eq(memcmp(&r->read_queues[i], &r->write_queues[i], sizeof(rill_queue_t)), 0);
    }

    /* cached: the same route object; a forced refresh of an unchanged route keeps it */
    rc_route_t *again = NULL, *forced = NULL;
    cr_assert_eq(rc_route_get(cli, "CoreRoute", false, &again), 0);
    cr_assert_eq(again, r);
    cr_assert_eq(rc_route_get(cli, "CoreRoute", true, &forced), 0);
    cr_assert_eq(forced, r);
    cr_assert_eq(forced->version, 1);
    rc_route_release(again);
    rc_route_release(forced);

    char addrs[8][RC_ADDR_BYTES];
    size_t n = rc_client_broker_addrs(cli, addrs, 8);
    cr_assert_eq(n, 2);
    cr_assert(strcmp(addrs[0], addrs[1]) != 0);
    cr_assert_eq(rc_client_broker_addrs(cli, addrs, 1), 1);

    /* the topic grows to 6 queues: the refresh task (every 500 ms) brings version 2,
     * while the route already held stays as it was */
    tc_create_topic(&c, "CoreRoute", 6);
    rc_route_t *now = NULL;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    for (;;) {
        cr_assert_eq(rc_route_get(cli, "CoreRoute", false, &now), 0);
        if (now->version > 1 || rill_mono_ms() > deadline)
            break;
        rc_route_release(now);
        rill_sleep_ms(100);
    }
    cr_assert_eq(now->version, 2, "route not refreshed within %d ms", WAIT_MS);
    cr_assert_eq(now->n_write, 12);
    cr_assert_eq(r->n_write, 8);
    rc_route_release(now);
    rc_route_release(r);

    rc_client_close(cli);
    rill_conf_destroy(conf);
    tc_stop(&c);
}

Test(client_core, namesrv_failover_when_first_is_down)
{
    tc_cluster_t c = {0};
    tc_start(&c, 2, 1, NULL);
    tc_create_topic(&c, "CoreFailover", 2);
    tc_namesrv_stop(&c, 0);

    /* a random start means either order; run enough clients that both starts happen
     * (16 clients: both orders with probability 1 - 2^-15) */
    for (int i = 0; i < 16; i++) {
        rill_conf_t *conf = tc_conf(&c, NULL);
        conf_set(conf, "request.timeout.ms", "700");
        rc_client_t *cli = open_client(conf);
        uint64_t t0 = rill_mono_ms();
        rc_route_t *r = NULL;
        int rc = rc_route_get(cli, "CoreFailover", false, &r);
        uint64_t took = rill_mono_ms() - t0;
        cr_assert_eq(rc, 0, "client %d: %s", i, rill_last_error());
        cr_assert_eq(r->n_write, 2);
        cr_assert_lt(took, 3000, "lookup took %llu ms", (unsigned long long)took);
        rc_route_release(r);
        /* the NameServer that answered is now current: a second lookup is quick */
        t0 = rill_mono_ms();
        cr_assert_eq(rc_route_get(cli, "CoreFailover", true, &r), 0);
        cr_assert_lt(rill_mono_ms() - t0, 600);
        rc_route_release(r);
        rc_client_close(cli);
        rill_conf_destroy(conf);
    }
    tc_stop(&c);
}

Test(client_core, unknown_topic_is_etopic)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    rill_conf_t *conf = tc_conf(&c, NULL);
    rc_client_t *cli = open_client(conf);
    rc_route_t *r = NULL;
    cr_assert_eq(rc_route_get(cli, "NoSuchTopicHere", false, &r), RILL_ETOPIC);
    cr_assert_null(r);
    cr_assert_str_eq(rill_last_error(), "topic \"NoSuchTopicHere\" not found (TOPIC_NOT_EXIST)");
    cr_assert_eq(rc_route_get(cli, "", false, &r), RILL_ETOPIC);
    rc_client_close(cli);
    rill_conf_destroy(conf);
    tc_stop(&c);
}

Test(client_core, no_namesrv_fails_in_bounded_time)
{
    int p1 = hv_free_port(), p2 = hv_free_port();
    char list[64];
    snprintf(list, sizeof(list), "127.0.0.1:%d", p1);
    rill_conf_t *conf = rill_conf_new();
    conf_set(conf, "namesrv", list);
    conf_set(conf, "request.timeout.ms", "500");
    rc_client_t *cli = open_client(conf);
    uint64_t t0 = rill_mono_ms();
    rc_route_t *r = NULL;
    int rc = rc_route_get(cli, "AnyTopic", false, &r);
    uint64_t took = rill_mono_ms() - t0;
    cr_assert(rc == RILL_ECONNREFUSED || rc == RILL_ETIMEDOUT, "rc %d", rc);
    cr_assert_lt(took, 2000, "took %llu ms", (unsigned long long)took);
    cr_assert(strstr(rill_last_error(), list) != NULL, "%s", rill_last_error());
    rc_client_close(cli);
    rill_conf_destroy(conf);

    /* two dead ones: both tried, then one clear error */
    snprintf(list, sizeof(list), "127.0.0.1:%d;127.0.0.1:%d", p1, p2);
    conf = rill_conf_new();
    conf_set(conf, "namesrv", list);
    conf_set(conf, "request.timeout.ms", "500");
    cli = open_client(conf);
    t0 = rill_mono_ms();
    rc = rc_route_get(cli, "AnyTopic", false, &r);
    took = rill_mono_ms() - t0;
    cr_assert(rc == RILL_ECONNREFUSED || rc == RILL_ETIMEDOUT, "rc %d", rc);
    cr_assert_lt(took, 3000, "took %llu ms", (unsigned long long)took);
    cr_assert(strstr(rill_last_error(), "no NameServer of 2 answered") != NULL, "%s",
              rill_last_error());
    rc_client_close(cli);
    rill_conf_destroy(conf);
}

static int ping(rc_client_t *cli, const char *addr, uint32_t timeout_ms)
{
    Rill__PingRequest body = RILL__PING_REQUEST__INIT;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__PING;
    req.body_case = RILL__REQUEST__BODY_PING;
    req.ping = &body;
    Rill__Response *resp = NULL;
    int rc = rc_broker_call(cli, addr, &req, timeout_ms, &resp);
    if (rc == 0) {
        cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
        rpc_response_free(resp);
    }
    return rc;
}

Test(client_core, broker_calls_and_read_fallback)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    rill_conf_t *conf = tc_conf(&c, NULL);
    rc_client_t *cli = open_client(conf);
    const char *live = tc_broker_addr(&c, 0);
    cr_assert_eq(ping(cli, live, 3000), 0, "%s", rill_last_error());
    rpc_client_t *a = NULL, *b = NULL;
    cr_assert_eq(rc_broker_conn(cli, live, &a), 0);
    cr_assert_eq(rc_broker_conn(cli, live, &b), 0);
    cr_assert_eq(a, b); /* one connection per address */
    cr_assert_eq(rc_broker_conn(cli, "", &a), RILL_EINVAL);

    char dead[32];
    snprintf(dead, sizeof(dead), "127.0.0.1:%d", hv_free_port());
    /* a set whose master is dead and whose slave is the live broker */
    rc_broker_set_t s = {0};
    snprintf(s.name, sizeof(s.name), "broker-x");
    s.n_addrs = 2;
    s.ids[0] = 0;
    snprintf(s.addrs[0], RC_ADDR_BYTES, "%s", dead);
    s.ids[1] = 1;
    snprintf(s.addrs[1], RC_ADDR_BYTES, "%s", live);
    cr_assert_str_eq(rc_set_read_addr(cli, &s), dead); /* master first */

    uint64_t t0 = rill_mono_ms();
    int rc = ping(cli, dead, 400);
    cr_assert(rc == RILL_ECONNREFUSED || rc == RILL_ETIMEDOUT, "rc %d", rc);
    cr_assert_lt(rill_mono_ms() - t0, 2000);
    cr_assert(strstr(rill_last_error(), dead) != NULL, "%s", rill_last_error());
    cr_assert(strstr(rill_last_error(), "400 ms") != NULL, "%s", rill_last_error());
    cr_assert_str_eq(rc_set_read_addr(cli, &s), live); /* master marked down: slave */
    rc_broker_mark_up(cli, dead);
    cr_assert_str_eq(rc_set_read_addr(cli, &s), dead);

    /* a stopped broker: bounded failure, and it answers again after a restart */
    tc_broker_stop(&c, 0, SIGKILL);
    t0 = rill_mono_ms();
    rc = ping(cli, live, 500);
    cr_assert(rc == RILL_ECONNREFUSED || rc == RILL_ETIMEDOUT || rc == RILL_ENET, "rc %d", rc);
    cr_assert_lt(rill_mono_ms() - t0, 2000);
    tc_broker_restart(&c, 0);
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while ((rc = ping(cli, live, 1000)) != 0 && rill_mono_ms() < deadline)
        rill_sleep_ms(100);
    cr_assert_eq(rc, 0, "broker did not answer after its restart: %s", rill_last_error());

    rc_client_close(cli);
    rill_conf_destroy(conf);
    tc_stop(&c);
}
