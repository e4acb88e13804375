/*
 * test_route_table.c - the namesrv's route table without a network: table
 * replacement by data version, slaves, moved and reused addresses, the
 * broker limit, expiry at its exact boundary, closed connections, topic
 * name rules, many topics staying sorted, and the config defaults.
 */
#include "common/errors.h"
#include "namesrv/namesrv_config.h"
#include "namesrv/route_table.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    Rill__RegisterBrokerRequest req;
    Rill__DataVersion dv;
    Rill__TopicConfig tcs[8];
    Rill__TopicConfig *tcp[8];
} reg_t;

static void reg_init(reg_t *r, const char *cluster, const char *name, int64_t id, const char *addr,
                     int64_t version, const char *const *topics, size_t n)
{
    cr_assert_leq(n, 8);
    rill__register_broker_request__init(&r->req);
    rill__data_version__init(&r->dv);
    r->dv.counter = version;
    r->req.cluster_name = (char *)cluster;
    r->req.broker_name = (char *)name;
    r->req.broker_id = id;
    r->req.broker_addr = (char *)addr;
    r->req.data_version = &r->dv;
    for (size_t i = 0; i < n; i++) {
        rill__topic_config__init(&r->tcs[i]);
        r->tcs[i].topic_name = (char *)topics[i];
        r->tcs[i].read_queue_nums = 4;
        r->tcs[i].write_queue_nums = 4;
        r->tcs[i].perm = 6;
        r->tcp[i] = &r->tcs[i];
    }
    r->req.n_topics = n;
    r->req.topics = r->tcp;
}

static int do_register(ns_route_table_t *rt, reg_t *r, uint32_t pipe, uint64_t now,
                       bool *topics_needed)
{
    ns_arena_t arena = {0};
    Rill__RegisterBrokerResponse out = RILL__REGISTER_BROKER_RESPONSE__INIT;
    char err[256] = "";
    int rc = ns_route_register(rt, &r->req, pipe, now, &arena, &out, err, sizeof(err));
    if (topics_needed != NULL)
        *topics_needed = out.topics_needed;
    ns_arena_free(&arena);
    return rc;
}

/* Queue datas of topic, or -1 when it has no route. */
static int route_queue_datas(ns_route_table_t *rt, const char *topic)
{
    ns_arena_t arena = {0};
    Rill__TopicRouteResponse out;
    int rc = ns_route_get(rt, topic, &arena, &out);
    int n = rc == 0 ? (int)out.n_queue_datas : -1;
    if (rc != 0)
        cr_assert_eq(rc, RILL_ETOPIC);
    ns_arena_free(&arena);
    return n;
}

/* Address of broker id in topic's route for broker_name, copied into buf; false if none. */
static bool route_addr(ns_route_table_t *rt, const char *topic, const char *broker_name, int64_t id,
                       char *buf, size_t cap)
{
    ns_arena_t arena = {0};
    Rill__TopicRouteResponse out;
    bool found = false;
    if (ns_route_get(rt, topic, &arena, &out) == 0) {
        for (size_t i = 0; i < out.n_broker_datas; i++) {
            if (strcmp(out.broker_datas[i]->broker_name, broker_name) != 0)
                continue;
            for (size_t j = 0; j < out.broker_datas[i]->n_addrs; j++) {
                if (out.broker_datas[i]->addrs[j]->broker_id == id) {
                    snprintf(buf, cap, "%s", out.broker_datas[i]->addrs[j]->addr);
                    found = true;
                }
            }
        }
    }
    ns_arena_free(&arena);
    return found;
}

static const char *const T_AB[] = {"a", "b"};
static const char *const T_BC[] = {"b", "c"};

Test(route_table, new_version_replaces_the_table_and_same_version_is_ignored)
{
    ns_route_table_t *rt = NULL;
    cr_assert_eq(ns_route_table_create(&rt), 0);
    reg_t r;
    reg_init(&r, "c", "bk", 0, "h:1", 1, T_AB, 2);
    cr_assert_eq(do_register(rt, &r, 1, 100, NULL), 0);
    cr_assert_eq(ns_route_topic_count(rt), 2);

    reg_init(&r, "c", "bk", 0, "h:1", 1, T_BC, 2);
    cr_assert_eq(do_register(rt, &r, 1, 200, NULL), 0);
    cr_assert_eq(route_queue_datas(rt, "a"), 1, "same version: topics ignored");
    cr_assert_eq(route_queue_datas(rt, "c"), -1);

    reg_init(&r, "c", "bk", 0, "h:1", 2, T_BC, 2);
    cr_assert_eq(do_register(rt, &r, 1, 300, NULL), 0);
    cr_assert_eq(route_queue_datas(rt, "a"), -1, "a new version replaces the table");
    cr_assert_eq(route_queue_datas(rt, "b"), 1);
    cr_assert_eq(route_queue_datas(rt, "c"), 1);

    reg_init(&r, "c", "bk", 0, "h:1", 3, NULL, 0);
    bool needed = true;
    cr_assert_eq(do_register(rt, &r, 1, 400, &needed), 0);
    cr_assert_eq(needed, false, "a known broker sending an empty table at a new version has none");
    cr_assert_eq(ns_route_topic_count(rt), 0);
    cr_assert_eq(ns_route_broker_count(rt), 1);
    ns_route_table_destroy(rt);
}

Test(route_table, slaves_keep_the_route_of_a_departed_master)
{
    ns_route_table_t *rt = NULL;
    cr_assert_eq(ns_route_table_create(&rt), 0);
    reg_t m, s;
    reg_init(&m, "c", "bk", 0, "h:1", 1, T_AB, 2);
    reg_init(&s, "c", "bk", 1, "h:2", 1, T_BC, 2);
    cr_assert_eq(do_register(rt, &m, 10, 0, NULL), 0);
    cr_assert_eq(do_register(rt, &s, 20, 0, NULL), 0);
    cr_assert_eq(route_queue_datas(rt, "c"), -1, "a slave's topics are not routes");
    char addr[64];
    cr_assert(route_addr(rt, "a", "bk", 1, addr, sizeof(addr)));
    cr_assert_str_eq(addr, "h:2");

    cr_assert_eq(ns_route_drop_pipe(rt, 10), 1);
    cr_assert_eq(route_queue_datas(rt, "a"), 1, "the slave still serves reads");
    cr_assert_not(route_addr(rt, "a", "bk", 0, addr, sizeof(addr)));
    cr_assert_eq(ns_route_drop_pipe(rt, 10), 0);
    cr_assert_eq(ns_route_drop_pipe(rt, 20), 1);
    cr_assert_eq(route_queue_datas(rt, "a"), -1, "the last process takes the routes");
    cr_assert_eq(ns_route_topic_count(rt), 0);
    ns_route_table_destroy(rt);
}

Test(route_table, moved_and_reused_addresses)
{
    ns_route_table_t *rt = NULL;
    cr_assert_eq(ns_route_table_create(&rt), 0);
    reg_t r;
    reg_init(&r, "c", "bk", 0, "h:1", 1, T_AB, 2);
    cr_assert_eq(do_register(rt, &r, 1, 0, NULL), 0);
    /* The master restarts elsewhere: its name and id move to the new address. */
    reg_init(&r, "c", "bk", 0, "h:9", 1, T_AB, 2);
    cr_assert_eq(do_register(rt, &r, 2, 0, NULL), 0);
    cr_assert_eq(ns_route_broker_count(rt), 1);
    char addr[64];
    cr_assert(route_addr(rt, "a", "bk", 0, addr, sizeof(addr)));
    cr_assert_str_eq(addr, "h:9");
    /* Another broker takes over h:9. */
    reg_init(&r, "c", "other", 0, "h:9", 1, T_BC, 2);
    cr_assert_eq(do_register(rt, &r, 3, 0, NULL), 0);
    cr_assert_eq(ns_route_broker_count(rt), 1);
    cr_assert_eq(route_queue_datas(rt, "a"), -1);
    cr_assert_eq(route_queue_datas(rt, "c"), 1);
    /* Unregister must name the broker exactly. */
    cr_assert_eq(ns_route_unregister(rt, "c", "bk", 0, "h:9"), RILL_ENOTFOUND);
    cr_assert_eq(ns_route_unregister(rt, "x", "other", 0, "h:9"), RILL_ENOTFOUND);
    cr_assert_eq(ns_route_unregister(rt, "c", "other", 0, "h:9"), 0);
    cr_assert_eq(ns_route_broker_count(rt), 0);
    ns_route_table_destroy(rt);
}

Test(route_table, broker_limit_is_system_busy)
{
    ns_route_table_t *rt = NULL;
    cr_assert_eq(ns_route_table_create(&rt), 0);
    char name[32], addr[32];
    reg_t r;
    for (int i = 0; i < NS_BROKERS_MAX; i++) {
        snprintf(name, sizeof(name), "b%d", i);
        snprintf(addr, sizeof(addr), "h:%d", i);
        reg_init(&r, "c", name, 0, addr, 1, T_AB, 2);
        cr_assert_eq(do_register(rt, &r, 0, 0, NULL), 0, "broker %d", i);
    }
    reg_init(&r, "c", "one-too-many", 0, "h:x", 1, T_AB, 2);
    cr_assert_eq(do_register(rt, &r, 0, 0, NULL), RILL_EBUSY);
    cr_assert_eq(ns_route_broker_count(rt), NS_BROKERS_MAX);
    reg_init(&r, "c", "b7", 0, "h:7", 1, NULL, 0);
    cr_assert_eq(do_register(rt, &r, 0, 5, NULL), 0, "known brokers still refresh");
    cr_assert_eq(route_queue_datas(rt, "a"), NS_BROKERS_MAX);
    ns_route_table_destroy(rt);
}

Test(route_table, expiry_boundary_is_exclusive)
{
    ns_route_table_t *rt = NULL;
    cr_assert_eq(ns_route_table_create(&rt), 0);
    reg_t r1, r2;
    reg_init(&r1, "c", "b1", 0, "h:1", 1, T_AB, 2);
    reg_init(&r2, "c", "b2", 0, "h:2", 1, T_BC, 2);
    cr_assert_eq(do_register(rt, &r1, 0, 1000, NULL), 0);
    cr_assert_eq(do_register(rt, &r2, 0, 1400, NULL), 0);
    cr_assert_eq(ns_route_expire(rt, 1500, 500), 0, "exactly the expiry: kept");
    cr_assert_eq(ns_route_expire(rt, 1501, 500), 1);
    cr_assert_eq(route_queue_datas(rt, "a"), -1);
    cr_assert_eq(route_queue_datas(rt, "b"), 1);
    cr_assert_eq(ns_route_expire(rt, 100, 500), 0, "a clock behind last_seen drops nothing");
    cr_assert_eq(ns_route_expire(rt, 1901, 500), 1);
    cr_assert_eq(ns_route_broker_count(rt), 0);
    ns_route_table_destroy(rt);
}

Test(route_table, topic_names_follow_rocketmq)
{
    char longest[NS_TOPIC_LEN_MAX + 2];
    memset(longest, 'x', NS_TOPIC_LEN_MAX);
    longest[NS_TOPIC_LEN_MAX] = '\0';
    cr_assert(ns_topic_name_valid(longest));
    longest[NS_TOPIC_LEN_MAX] = 'x';
    longest[NS_TOPIC_LEN_MAX + 1] = '\0';
    cr_assert_not(ns_topic_name_valid(longest));
    cr_assert(ns_topic_name_valid("%RETRY%group_1|a-b"));
    cr_assert_not(ns_topic_name_valid(""));
    cr_assert_not(ns_topic_name_valid(NULL));
    cr_assert_not(ns_topic_name_valid("a b"));
    cr_assert_not(ns_topic_name_valid("a/b"));
    cr_assert_not(ns_topic_name_valid("caf\xc3\xa9"));
}

Test(route_table, many_topics_stay_sorted)
{
    ns_route_table_t *rt = NULL;
    cr_assert_eq(ns_route_table_create(&rt), 0);
    enum { N = 3000, PER = 8 };
    static char names[N][16];
    for (int i = 0; i < N; i++)
        snprintf(names[i], sizeof(names[i]), "t%05d", (i * 7919) % N); /* shuffled */
    /* Brokers bk0..bk(N/PER-1) each register PER topics; then all with one more version. */
    for (int b = 0; b < N / PER; b++) {
        char bname[16], addr[16];
        snprintf(bname, sizeof(bname), "bk%d", b % 4);
        snprintf(addr, sizeof(addr), "h:%d", b % 4);
        const char *tp[PER];
        for (int k = 0; k < PER; k++)
            tp[k] = names[b * PER + k];
        reg_t r;
        reg_init(&r, "c", bname, 0, addr, b + 1, tp, PER);
        cr_assert_eq(do_register(rt, &r, 0, 0, NULL), 0);
    }
    /* Each of the 4 brokers kept only its last table. */
    cr_assert_eq(ns_route_topic_count(rt), 4 * PER);
    ns_arena_t arena = {0};
    Rill__TopicNamesResponse out;
    cr_assert_eq(ns_route_all_topics(rt, &arena, &out), 0);
    cr_assert_eq(out.n_topics, 4 * PER);
    for (size_t i = 1; i < out.n_topics; i++)
        cr_assert_lt(strcmp(out.topics[i - 1], out.topics[i]), 0);
    ns_arena_free(&arena);
    for (size_t i = 0; i < 4 * PER; i++)
        cr_assert_eq(ns_route_delete_topic(rt, names[N / PER * PER - 4 * PER + i]), 0);
    cr_assert_eq(ns_route_topic_count(rt), 0);
    cr_assert_eq(ns_route_delete_topic(rt, "t00000"), RILL_ENOTFOUND);
    ns_route_table_destroy(rt);
}

Test(route_table, config_defaults)
{
    ns_config_t cfg;
    char err[256];
    cr_assert_eq(rill_cfg_defaults(ns_config_schema(), &cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cfg.listen_port, 9876);
    cr_assert_str_eq(cfg.bind_address, "0.0.0.0");
    cr_assert_eq(cfg.scan_not_active_broker_interval_ms, 10000);
    cr_assert_eq(cfg.broker_channel_expired_time_ms, 120000);
    cr_assert_eq(cfg.log_level, 1, "info");
    cr_assert_str_eq(cfg.log_file, "");
    cr_assert_eq(rill_cfg_set(ns_config_schema(), &cfg, "logLevel", "debug", err, sizeof(err)), 0);
    cr_assert_eq(cfg.log_level, 0);
    cr_assert_eq(
        rill_cfg_set(ns_config_schema(), &cfg, "brokerChannelExpiredTime", "99", err, sizeof(err)),
        RILL_ECONFIG, "below 100 ms");
}
