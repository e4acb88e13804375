/*
 * test_broker_membership.c - client membership in a real rill-broker, driven
 * through raw RPC calls: HEART_BEAT answers the sorted member list and the
 * generation of each consumer group, which changes when (and only when) the
 * member set does; UNREGISTER_CLIENT, a closed connection and the
 * channelExpiredTimeoutMillis expiry remove a member; unknown groups, bad
 * heartbeats and the group and member limits answer exact codes. Also the
 * Message fields librill's producer sends through: sys_flag 0x8 stored as
 * RECORD_FLAG_COMPRESSED, unknown sys_flag bits refused, delay level and
 * deliver time accepted (and not acted on yet).
 *
 * Each connection (rpc_client_t) is one nng pipe, so two clients of one
 * group use two connections here, as two processes would.
 */
#include "harness.h"

#include "common/clock.h"
#include "common/record.h"
#include "rpc/rpc_client.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_MS     5000
#define WAIT_MS     8000 /* bound of every wait for a member to disappear */
#define POLL_MS     20
#define IDS_MAX     8
#define ID_BYTES    64
#define GROUPS_MAX  4096 /* BROKER_CLIENT_GROUPS_MAX */
#define MEMBERS_MAX 4096 /* BROKER_GROUP_MEMBERS_MAX */
#define HB_GROUPS   256  /* BROKER_HEARTBEAT_GROUPS_MAX */

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(membership, .fini = suite_fini, .timeout = 120);

/* ---- the broker ---- */

typedef struct {
    hv_proc_t proc;
    char data[1024];
    char url[64];
} mb_t;

static void start_broker(mb_t *b, const char *const *extra)
{
    ts_mkdtemp(b->data, sizeof(b->data), "membership-data");
    cr_assert_eq(hv_start_broker(&b->proc, b->data, 0, extra), 0, "rill-broker did not start");
    snprintf(b->url, sizeof(b->url), "%s", b->proc.url);
}

static void stop_broker(mb_t *b)
{
    cr_expect_eq(hv_stop(&b->proc), 0, "broker did not exit 0 after SIGTERM");
    ts_rmtree(b->data);
}

static rpc_client_t *connect_to(const mb_t *b)
{
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, b->url, NULL), 0);
    return cli;
}

static Rill__Response *call(rpc_client_t *cli, Rill__Request *req)
{
    Rill__Response *resp = NULL;
    int rc = rpc_client_call(cli, req, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "call %d failed: %d", req->code, rc);
    return resp;
}

static int code_of(Rill__Response *resp)
{
    int c = resp->code;
    rpc_response_free(resp);
    return c;
}

/* ---- membership requests ---- */

/*
 * HEART_BEAT from client_id for the NULL-terminated consumer groups (each
 * PUSH, CLUSTERING, subscribed to "Topic-<group>" with "*") and producer
 * group pg (NULL for none). model overrides message_model when not NULL.
 */
static Rill__Response *heartbeat_ex(rpc_client_t *cli, const char *client_id,
                                    const char *const *groups, const char *pg, const char *model)
{
    size_t n = 0;
    while (groups && groups[n])
        n++;
    Rill__ConsumerData *cds = calloc(n ? n : 1, sizeof(*cds));
    Rill__ConsumerData **cdp = calloc(n ? n : 1, sizeof(*cdp));
    Rill__SubscriptionData *subs = calloc(n ? n : 1, sizeof(*subs));
    Rill__SubscriptionData **subp = calloc(n ? n : 1, sizeof(*subp));
    char(*topics)[300] = calloc(n ? n : 1, sizeof(*topics));
    cr_assert(cds && cdp && subs && subp && topics);
    for (size_t i = 0; i < n; i++) {
        rill__subscription_data__init(&subs[i]);
        snprintf(topics[i], sizeof(topics[i]), "Topic-%s", groups[i]);
        subs[i].topic = topics[i];
        subs[i].expression = "*";
        subp[i] = &subs[i];
        rill__consumer_data__init(&cds[i]);
        cds[i].group = (char *)groups[i];
        cds[i].consume_type = "PUSH";
        cds[i].message_model = (char *)(model ? model : "CLUSTERING");
        cds[i].consume_from_where = "LAST_OFFSET";
        cds[i].n_subscriptions = 1;
        cds[i].subscriptions = &subp[i];
        cdp[i] = &cds[i];
    }
    char *pgs[1] = {(char *)pg};
    Rill__HeartbeatRequest hb = RILL__HEARTBEAT_REQUEST__INIT;
    hb.client_id = (char *)client_id;
    hb.n_consumers = n;
    hb.consumers = cdp;
    if (pg) {
        hb.n_producer_groups = 1;
        hb.producer_groups = pgs;
    }
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__HEART_BEAT;
    req.body_case = RILL__REQUEST__BODY_HEARTBEAT;
    req.heartbeat = &hb;
    Rill__Response *resp = call(cli, &req);
    free(cds);
    free(cdp);
    free(subs);
    free(subp);
    free(topics);
    return resp;
}

/* One consumer group; expects SUCCESS and returns the generation it answered. */
static uint64_t heartbeat(rpc_client_t *cli, const char *client_id, const char *group)
{
    const char *groups[] = {group, NULL};
    Rill__Response *resp = heartbeat_ex(cli, client_id, groups, NULL, NULL);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "heartbeat: %d %s", resp->code,
                 resp->remark);
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_HEARTBEAT);
    cr_assert_eq(resp->heartbeat->n_groups, 1);
    cr_assert_str_eq(resp->heartbeat->groups[0]->group, group);
    uint64_t gen = resp->heartbeat->groups[0]->generation;
    rpc_response_free(resp);
    return gen;
}

typedef struct {
    size_t n;
    char ids[IDS_MAX][ID_BYTES];
    uint64_t generation;
} members_t;

static void copy_members(const Rill__GroupMembers *gm, members_t *out)
{
    cr_assert_leq(gm->n_client_ids, IDS_MAX);
    out->n = gm->n_client_ids;
    for (size_t i = 0; i < gm->n_client_ids; i++)
        snprintf(out->ids[i], ID_BYTES, "%s", gm->client_ids[i]);
    out->generation = gm->generation;
}

static Rill__Response *consumer_list_raw(rpc_client_t *cli, const char *group)
{
    Rill__GetConsumerListRequest body = RILL__GET_CONSUMER_LIST_REQUEST__INIT;
    body.consumer_group = (char *)group;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_CONSUMER_LIST_BY_GROUP;
    req.body_case = RILL__REQUEST__BODY_GET_CONSUMER_LIST;
    req.get_consumer_list = &body;
    return call(cli, &req);
}

static members_t consumer_list(rpc_client_t *cli, const char *group)
{
    Rill__Response *resp = consumer_list_raw(cli, group);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "list: %d %s", resp->code, resp->remark);
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_CONSUMER_LIST);
    cr_assert_not_null(resp->consumer_list->members);
    cr_assert_str_eq(resp->consumer_list->members->group, group);
    members_t m;
    copy_members(resp->consumer_list->members, &m);
    rpc_response_free(resp);
    return m;
}

/* The list of group is exactly want (NULL-terminated, in order). */
static void assert_members(const members_t *m, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    cr_assert_eq(m->n, n, "%zu members, expected %zu", m->n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(m->ids[i], want[i]);
}

static int unregister(rpc_client_t *cli, const char *client_id, const char *pg, const char *cg)
{
    Rill__UnregisterClientRequest body = RILL__UNREGISTER_CLIENT_REQUEST__INIT;
    body.client_id = (char *)client_id;
    body.producer_group = (char *)(pg ? pg : "");
    body.consumer_group = (char *)(cg ? cg : "");
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UNREGISTER_CLIENT;
    req.body_case = RILL__REQUEST__BODY_UNREGISTER_CLIENT;
    req.unregister_client = &body;
    return code_of(call(cli, &req));
}

/* Poll the list of group until it has `count` members (bounded by WAIT_MS). */
static members_t wait_count(rpc_client_t *cli, const char *group, size_t count)
{
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    members_t m = consumer_list(cli, group);
    while (m.n != count && rill_mono_ms() < deadline) {
        rill_sleep_ms(POLL_MS);
        m = consumer_list(cli, group);
    }
    cr_assert_eq(m.n, count, "group %s still has %zu members after %d ms", group, m.n, WAIT_MS);
    return m;
}

/* ---- membership ---- */

Test(membership, two_clients_then_a_third_then_unregister)
{
    mb_t b = {0};
    start_broker(&b, NULL);
    rpc_client_t *c1 = connect_to(&b), *c2 = connect_to(&b), *c3 = connect_to(&b);

    /* joined in the reverse of sorted order: the list is sorted anyway */
    uint64_t g1 = heartbeat(c1, "client-b", "G1");
    uint64_t g2 = heartbeat(c2, "client-a", "G1");
    cr_assert_neq(g1, 0);
    cr_assert_neq(g2, g1, "a second member is a new generation");
    members_t seen1 = consumer_list(c1, "G1"), seen2 = consumer_list(c2, "G1");
    const char *two[] = {"client-a", "client-b", NULL};
    assert_members(&seen1, two);
    assert_members(&seen2, two);
    cr_assert_eq(seen1.generation, g2);
    cr_assert_eq(seen2.generation, g2);

    /* plain heartbeats keep the generation */
    cr_assert_eq(heartbeat(c1, "client-b", "G1"), g2);
    cr_assert_eq(heartbeat(c2, "client-a", "G1"), g2);

    /* the heartbeat answer carries the list too */
    const char *g1_only[] = {"G1", NULL};
    Rill__Response *resp = heartbeat_ex(c3, "client-0", g1_only, NULL, NULL);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    members_t three;
    copy_members(resp->heartbeat->groups[0], &three);
    rpc_response_free(resp);
    const char *all[] = {"client-0", "client-a", "client-b", NULL};
    assert_members(&three, all);
    cr_assert_neq(three.generation, g2, "a third member changes the generation");
    cr_assert_eq(consumer_list(c1, "G1").generation, three.generation);

    /* unregister: gone, new generation; twice is fine */
    cr_assert_eq(unregister(c2, "client-a", NULL, "G1"), RILL__RESPONSE_CODE__SUCCESS);
    members_t after = consumer_list(c1, "G1");
    const char *left[] = {"client-0", "client-b", NULL};
    assert_members(&after, left);
    cr_assert_neq(after.generation, three.generation);
    cr_assert_eq(unregister(c2, "client-a", NULL, "G1"), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(consumer_list(c1, "G1").generation, after.generation,
                 "a no-op unregister changes nothing");

    /* the last members leave: the group is empty, generation 0 */
    cr_assert_eq(unregister(c1, "client-b", NULL, "G1"), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(unregister(c3, "client-0", NULL, "G1"), RILL__RESPONSE_CODE__SUCCESS);
    members_t none = consumer_list(c1, "G1");
    cr_assert_eq(none.n, 0);
    cr_assert_eq(none.generation, 0);
    /* ... and joining again never reuses a generation seen before */
    uint64_t again = heartbeat(c1, "client-b", "G1");
    cr_assert(again != g1 && again != g2 && again != three.generation && again != after.generation);

    rpc_client_close(c1);
    rpc_client_close(c2);
    rpc_client_close(c3);
    stop_broker(&b);
}

Test(membership, one_heartbeat_many_groups_and_a_producer_group)
{
    mb_t b = {0};
    start_broker(&b, NULL);
    rpc_client_t *c1 = connect_to(&b), *c2 = connect_to(&b);
    heartbeat(c2, "other", "GB");
    const char *groups[] = {"GB", "GA", NULL};
    Rill__Response *resp = heartbeat_ex(c1, "me", groups, "PG", "BROADCASTING");
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "%s", resp->remark);
    cr_assert_eq(resp->heartbeat->n_groups, 2, "one GroupMembers per consumer group");
    cr_assert_str_eq(resp->heartbeat->groups[0]->group, "GB", "in request order");
    cr_assert_str_eq(resp->heartbeat->groups[1]->group, "GA");
    members_t gb, ga;
    copy_members(resp->heartbeat->groups[0], &gb);
    copy_members(resp->heartbeat->groups[1], &ga);
    rpc_response_free(resp);
    const char *gb_want[] = {"me", "other", NULL}, *ga_want[] = {"me", NULL};
    assert_members(&gb, gb_want);
    assert_members(&ga, ga_want);
    cr_assert_neq(ga.generation, gb.generation, "generations are per group and never shared");

    /* a producer group is remembered but is no consumer group */
    cr_assert_eq(consumer_list(c1, "PG").n, 0);
    cr_assert_eq(unregister(c1, "me", "PG", NULL), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(consumer_list(c1, "GA").n, 1, "unregistering the producer leaves the consumer");
    cr_assert_eq(unregister(c1, "me", "PG", "GA"), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(consumer_list(c1, "GA").n, 0);
    cr_assert_eq(consumer_list(c1, "GB").n, 2, "other groups keep the client");

    rpc_client_close(c1);
    rpc_client_close(c2);
    stop_broker(&b);
}

Test(membership, closed_connection_drops_its_members)
{
    mb_t b = {0};
    start_broker(&b, NULL);
    rpc_client_t *c1 = connect_to(&b), *c2 = connect_to(&b), *c3 = connect_to(&b);
    heartbeat(c1, "client-1", "G");
    uint64_t gen = heartbeat(c2, "client-2", "G");
    const char *pair[] = {"G", NULL};
    Rill__Response *resp = heartbeat_ex(c1, "client-1", pair, "PG", NULL);
    cr_assert_eq(code_of(resp), RILL__RESPONSE_CODE__SUCCESS);

    /* client-3 heartbeats on c3, then again on c2: it belongs to c2's connection now */
    heartbeat(c3, "client-3", "G");
    uint64_t gen3 = heartbeat(c2, "client-3", "G");
    cr_assert_neq(gen3, gen);
    rpc_client_close(c3);
    rill_sleep_ms(300);
    cr_assert_eq(consumer_list(c2, "G").n, 3, "a member moved to another connection stays");

    rpc_client_close(c1);
    members_t m = wait_count(c2, "G", 2);
    const char *left[] = {"client-2", "client-3", NULL};
    assert_members(&m, left);
    cr_assert_neq(m.generation, gen3);

    rpc_client_close(c2);
    stop_broker(&b);
}

Test(membership, silent_client_expires)
{
    mb_t b = {0};
    const char *extra[] = {"--channelExpiredTimeoutMillis=600", NULL};
    start_broker(&b, extra);
    rpc_client_t *silent = connect_to(&b), *alive = connect_to(&b);
    heartbeat(silent, "silent", "G");
    heartbeat(alive, "alive", "G");
    cr_assert_eq(consumer_list(alive, "G").n, 2);

    /* alive heartbeats every 100 ms; silent stops; its connection stays open */
    uint64_t start = rill_mono_ms(), deadline = start + WAIT_MS;
    members_t m = consumer_list(alive, "G");
    while (m.n != 1 && rill_mono_ms() < deadline) {
        rill_sleep_ms(100);
        heartbeat(alive, "alive", "G");
        m = consumer_list(alive, "G");
    }
    uint64_t took = rill_mono_ms() - start;
    const char *left[] = {"alive", NULL};
    assert_members(&m, left);
    cr_assert_geq(took, 500, "expired after %llu ms, before channelExpiredTimeoutMillis",
                  (unsigned long long)took);
    /* and a heartbeat brings it back */
    heartbeat(silent, "silent", "G");
    cr_assert_eq(consumer_list(alive, "G").n, 2);

    rpc_client_close(silent);
    rpc_client_close(alive);
    stop_broker(&b);
}

Test(membership, unknown_group_is_an_empty_success)
{
    mb_t b = {0};
    start_broker(&b, NULL);
    rpc_client_t *c = connect_to(&b);
    members_t m = consumer_list(c, "NobodyHere");
    cr_assert_eq(m.n, 0);
    cr_assert_eq(m.generation, 0);
    cr_assert_eq(unregister(c, "nobody", "NoPG", "NoCG"), RILL__RESPONSE_CODE__SUCCESS);
    rpc_client_close(c);
    stop_broker(&b);
}

Test(membership, bad_requests)
{
    mb_t b = {0};
    start_broker(&b, NULL);
    rpc_client_t *c = connect_to(&b);
    const char *g[] = {"G", NULL};

    /* no client id */
    Rill__Response *resp = heartbeat_ex(c, "", g, NULL, NULL);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_not_null(strstr(resp->remark, "client_id"), "remark: %s", resp->remark);
    rpc_response_free(resp);
    cr_assert_eq(code_of(heartbeat_ex(c, "a b", g, NULL, NULL)),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    /* illegal group names, consumer and producer */
    const char *bad_group[] = {"G", "bad group", NULL};
    cr_assert_eq(code_of(heartbeat_ex(c, "me", bad_group, NULL, NULL)),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(code_of(heartbeat_ex(c, "me", g, "bad/pg", NULL)),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    /* a message model that is neither CLUSTERING nor BROADCASTING */
    cr_assert_eq(code_of(heartbeat_ex(c, "me", g, "PG", "SOMETIMES")),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    /* a refused heartbeat changed nothing, not even its valid first group */
    cr_assert_eq(consumer_list(c, "G").n, 0);

    /* no body, or the wrong one */
    Rill__PingRequest ping = RILL__PING_REQUEST__INIT;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__HEART_BEAT;
    req.body_case = RILL__REQUEST__BODY_PING;
    req.ping = &ping;
    cr_assert_eq(code_of(call(c, &req)), RILL__RESPONSE_CODE__SYSTEM_ERROR);
    req.code = RILL__REQUEST_CODE__GET_CONSUMER_LIST_BY_GROUP;
    cr_assert_eq(code_of(call(c, &req)), RILL__RESPONSE_CODE__SYSTEM_ERROR);
    req.code = RILL__REQUEST_CODE__UNREGISTER_CLIENT;
    cr_assert_eq(code_of(call(c, &req)), RILL__RESPONSE_CODE__SYSTEM_ERROR);

    /* list and unregister check their names */
    cr_assert_eq(code_of(consumer_list_raw(c, "")), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(unregister(c, "", NULL, "G"), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(unregister(c, "me", NULL, "bad group"), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);

    rpc_client_close(c);
    stop_broker(&b);
}

/* MEMBERS_MAX clients fill one group; one more is SYSTEM_BUSY until one leaves. */
Test(membership, member_limit)
{
    mb_t b = {0};
    start_broker(&b, NULL);
    rpc_client_t *c = connect_to(&b);
    char id[32];
    for (int i = 0; i < MEMBERS_MAX; i++) {
        snprintf(id, sizeof(id), "client-%05d", i);
        const char *g[] = {"Full", NULL};
        Rill__Response *resp = heartbeat_ex(c, id, g, NULL, NULL);
        cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "member %d: %d %s", i, resp->code,
                     resp->remark);
        cr_assert_eq(resp->heartbeat->groups[0]->n_client_ids, (size_t)i + 1);
        rpc_response_free(resp);
    }
    const char *g[] = {"Full", NULL};
    cr_assert_eq(code_of(heartbeat_ex(c, "one-too-many", g, NULL, NULL)),
                 RILL__RESPONSE_CODE__SYSTEM_BUSY);
    cr_assert_eq(code_of(heartbeat_ex(c, "client-00007", g, NULL, NULL)),
                 RILL__RESPONSE_CODE__SUCCESS, "a member already there still heartbeats");
    cr_assert_eq(unregister(c, "client-00007", NULL, "Full"), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(code_of(heartbeat_ex(c, "one-too-many", g, NULL, NULL)),
                 RILL__RESPONSE_CODE__SUCCESS);
    rpc_client_close(c);
    stop_broker(&b);
}

/* GROUPS_MAX consumer groups, HB_GROUPS per heartbeat; one more is SYSTEM_BUSY. */
Test(membership, group_limit)
{
    mb_t b = {0};
    start_broker(&b, NULL);
    rpc_client_t *c = connect_to(&b);
    static char names[GROUPS_MAX + 1][16];
    const char *batch[HB_GROUPS + 1];
    for (int i = 0; i <= GROUPS_MAX; i++)
        snprintf(names[i], sizeof(names[i]), "G%05d", i);
    for (int first = 0; first < GROUPS_MAX; first += HB_GROUPS) {
        for (int j = 0; j < HB_GROUPS; j++)
            batch[j] = names[first + j];
        batch[HB_GROUPS] = NULL;
        Rill__Response *resp = heartbeat_ex(c, "me", batch, NULL, NULL);
        cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "%d %s", resp->code, resp->remark);
        cr_assert_eq(resp->heartbeat->n_groups, HB_GROUPS);
        rpc_response_free(resp);
    }
    const char *one_more[] = {names[GROUPS_MAX], NULL};
    cr_assert_eq(code_of(heartbeat_ex(c, "me", one_more, NULL, NULL)),
                 RILL__RESPONSE_CODE__SYSTEM_BUSY);
    cr_assert_eq(consumer_list(c, names[GROUPS_MAX]).n, 0, "the refused group was not kept");
    /* more groups than one heartbeat may name */
    static const char *too_many[HB_GROUPS + 2];
    for (int j = 0; j <= HB_GROUPS; j++)
        too_many[j] = names[j];
    too_many[HB_GROUPS + 1] = NULL;
    cr_assert_eq(code_of(heartbeat_ex(c, "me", too_many, NULL, NULL)),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    /* a group that empties frees its slot */
    cr_assert_eq(unregister(c, "me", NULL, names[0]), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(code_of(heartbeat_ex(c, "me", one_more, NULL, NULL)),
                 RILL__RESPONSE_CODE__SUCCESS);
    rpc_client_close(c);
    stop_broker(&b);
}

/* ---- Message fields ---- */

static Rill__Response *send_msg(rpc_client_t *c, const char *topic, int32_t sys_flag,
                                int32_t delay_level, int64_t deliver_time_ms, const char *text)
{
    Rill__Message m = RILL__MESSAGE__INIT;
    m.topic = (char *)topic;
    m.body.data = (uint8_t *)text;
    m.body.len = strlen(text);
    m.sys_flag = sys_flag;
    m.delay_level = delay_level;
    m.deliver_time_ms = deliver_time_ms;
    Rill__SendMessageRequest body = RILL__SEND_MESSAGE_REQUEST__INIT;
    body.producer_group = "PG";
    body.queue_id = 0;
    body.message = &m;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__SEND_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_SEND_MESSAGE;
    req.send_message = &body;
    return call(c, &req);
}

static void send_ok(rpc_client_t *c, const char *topic, int32_t sys_flag, int32_t delay_level,
                    int64_t deliver_time_ms, const char *text)
{
    Rill__Response *resp = send_msg(c, topic, sys_flag, delay_level, deliver_time_ms, text);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "send: %d %s", resp->code, resp->remark);
    rpc_response_free(resp);
}

/* Pull queue 0 from offset 0 until want records came (bounded); flags and bodies out. */
static int pull_flags(rpc_client_t *c, const char *topic, int want, uint32_t *flags,
                      char bodies[][ID_BYTES])
{
    int n = 0;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    int64_t offset = 0;
    while (n < want && rill_mono_ms() < deadline) {
        Rill__PullMessageRequest p = RILL__PULL_MESSAGE_REQUEST__INIT;
        p.consumer_group = "CG";
        p.topic = (char *)topic;
        p.queue_offset = offset;
        p.max_msg_nums = 32;
        p.subscription = "*";
        p.suspend_timeout_ms = 300;
        p.commit_offset = -1;
        Rill__Request req = RILL__REQUEST__INIT;
        req.code = RILL__REQUEST_CODE__PULL_MESSAGE;
        req.body_case = RILL__REQUEST__BODY_PULL_MESSAGE;
        req.pull_message = &p;
        Rill__Response *resp = call(c, &req);
        cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_PULL_MESSAGE, "pull: %d %s", resp->code,
                     resp->remark);
        if (resp->code == RILL__RESPONSE_CODE__SUCCESS) {
            const uint8_t *rec = resp->pull_message->records.data;
            size_t len = resp->pull_message->records.len, pos = 0;
            while (pos < len) {
                record_view_t v;
                cr_assert_eq(record_decode(rec + pos, len - pos, &v), 0);
                cr_assert_lt(n, want);
                flags[n] = v.flags;
                snprintf(bodies[n], ID_BYTES, "%.*s", (int)v.body_len, (const char *)v.body);
                n++;
                pos += v.total_size;
            }
        } else {
            cr_assert_eq(resp->code, RILL__RESPONSE_CODE__PULL_NOT_FOUND, "pull: %d %s", resp->code,
                         resp->remark);
        }
        offset = resp->pull_message->next_begin_offset;
        rpc_response_free(resp);
    }
    return n;
}

Test(membership, sys_flag_compressed_round_trip)
{
    mb_t b = {0};
    start_broker(&b, NULL);
    rpc_client_t *c = connect_to(&b);
    send_ok(c, "Zstd", 0x8, 0, 0, "compressed");
    send_ok(c, "Zstd", 0, 0, 0, "plain");
    uint32_t flags[2];
    char bodies[2][ID_BYTES];
    cr_assert_eq(pull_flags(c, "Zstd", 2, flags, bodies), 2);
    cr_assert_str_eq(bodies[0], "compressed");
    cr_assert_eq(flags[0], RECORD_FLAG_COMPRESSED);
    cr_assert_str_eq(bodies[1], "plain");
    cr_assert_eq(flags[1], 0);

    /* the batch path builds the same flags */
    Rill__Message m = RILL__MESSAGE__INIT, *mp = &m;
    m.body.data = (uint8_t *)"batched";
    m.body.len = 7;
    m.sys_flag = 0x8;
    Rill__SendBatchRequest sb = RILL__SEND_BATCH_REQUEST__INIT;
    sb.producer_group = "PG";
    sb.topic = "Zstd";
    sb.queue_id = 0;
    sb.n_messages = 1;
    sb.messages = &mp;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__SEND_BATCH_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_SEND_BATCH;
    req.send_batch = &sb;
    cr_assert_eq(code_of(call(c, &req)), RILL__RESPONSE_CODE__SUCCESS);
    uint32_t flags3[3];
    char bodies3[3][ID_BYTES];
    cr_assert_eq(pull_flags(c, "Zstd", 3, flags3, bodies3), 3);
    cr_assert_str_eq(bodies3[2], "batched");
    cr_assert_eq(flags3[2], RECORD_FLAG_COMPRESSED);
    m.sys_flag = 0x10;
    cr_assert_eq(code_of(call(c, &req)), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);

    rpc_client_close(c);
    stop_broker(&b);
}

Test(membership, unknown_sys_flag_bits_are_illegal)
{
    mb_t b = {0};
    start_broker(&b, NULL);
    rpc_client_t *c = connect_to(&b);
    /* 0x4 (a transactional half message) and 0x8 (compressed) are known */
    const int32_t bad[] = {0x1, 0x2, 0x10, 0x4 | 0x20, 0x8 | 0x100, (int32_t)0x80000000, -1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Rill__Response *resp = send_msg(c, "Flags", bad[i], 0, 0, "x");
        cr_assert_eq(resp->code, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL, "sys_flag 0x%x: %d",
                     (unsigned)bad[i], resp->code);
        cr_assert_not_null(strstr(resp->remark, "sys_flag"), "remark: %s", resp->remark);
        rpc_response_free(resp);
    }
    rpc_client_close(c);
    stop_broker(&b);
}

/* Delayed messages are hidden until due (test_client_delay.c has the rest): of
 * four sent to queue 0, the two due now come first, as ordinary records. */
Test(membership, delay_level_and_deliver_time_are_accepted)
{
    mb_t b = {0};
    const char *const extra[] = {"--messageDelayLevel=300ms 1h", NULL};
    start_broker(&b, extra);
    rpc_client_t *c = connect_to(&b);
    send_ok(c, "Later", 0, 2, 0, "level-2");
    send_ok(c, "Later", 0, 0, (int64_t)rill_now_ms() + 60000, "in-a-minute");
    send_ok(c, "Later", 0, 1, 0, "level-1");
    send_ok(c, "Later", 0, 0, (int64_t)rill_now_ms() - 1000, "past");
    Rill__Response *resp = send_msg(c, "Later", 0, 3, 0, "level-3");
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL, "only 2 levels: %d",
                 resp->code);
    rpc_response_free(resp);
    uint32_t flags[2];
    char bodies[2][ID_BYTES];
    cr_assert_eq(pull_flags(c, "Later", 2, flags, bodies), 2);
    cr_assert_str_eq(bodies[0], "past");
    cr_assert_str_eq(bodies[1], "level-1");
    cr_assert_eq(flags[0], 0, "the delivered copy is not RECORD_FLAG_DELAYED");
    cr_assert_eq(flags[1], 0);
    rpc_client_close(c);
    stop_broker(&b);
}
