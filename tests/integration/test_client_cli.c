/*
 * test_client_cli.c - the `rill` command line (build/bin/rill) against real
 * namesrvs and brokers: every command's happy path, its --json output
 * parsed with cJSON, exit codes (0 ok, 1 error with one `rill: ...` line on
 * stderr, 2 usage), and the main errors: unknown topic, no namesrv
 * reachable, a broker that is down, bad time formats, bad msgIds.
 * query-key must find exactly the messages sent with that key, query-time
 * only messages stored in its range.
 */
#include "cluster.h"
#include "common/clock.h"

#include <cJSON.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/** Longest a single CLI run may take in these tests. */
#define RUN_MS 30000
/** Arguments of one run. */
#define ARGS_MAX 40

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(client_cli, .fini = suite_fini, .timeout = 120);

/* ---- helpers ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct run {
    int code;
    char *out, *err;
} run_t;

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/*
 * Run `rill ARGS... [--namesrv NS and fast consumer intervals]`; the
 * argument list ends with NULL. ns NULL: no --namesrv added.
 */
static run_t rill_run(const char *ns, ...)
{
    const char *args[ARGS_MAX + 1];
    int n = 0;
    va_list ap;
    va_start(ap, ns);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(n, ARGS_MAX - 12);
        args[n++] = a;
    }
    va_end(ap);
    if (ns != NULL) {
        static const char *const fast[] = {
            "-X", "heartbeat.interval.ms=300", "-X",  "rebalance.interval.ms=1000",
            "-X", "pull.suspend.ms=1000",      "-X",  "auto.commit.interval.ms=500",
            "-X", "route.refresh.ms=500",
        };
        args[n++] = "--namesrv";
        args[n++] = ns;
        for (size_t i = 0; i < sizeof(fast) / sizeof(fast[0]); i++)
            args[n++] = fast[i];
    }
    args[n] = NULL;
    run_t r = {0, NULL, NULL};
    r.code = hv_run("rill", args, RUN_MS, &r.out, &r.err);
    return r;
}

/* An error run: exactly one line on stderr, starting "rill: ". */
static void assert_one_error_line(const run_t *r)
{
    cr_assert_eq(strncmp(r->err, "rill: ", 6), 0, "stderr: %s", r->err);
    char *nl = strchr(r->err, '\n');
    cr_assert(nl != NULL && nl[1] == '\0', "more than one line on stderr: %s", r->err);
}

static cJSON *parse_json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    cr_assert(j != NULL, "not JSON: %s", text);
    return j;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "no number '%s'", key);
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsString(v), "no string '%s'", key);
    return v->valuestring;
}

/* Send one message through the CLI; its msgId into id (33 bytes). */
static void send_msg(const char *ns, const char *topic, const char *key, const char *body,
                     char *id)
{
    run_t r = key ? rill_run(ns, "msg", "send", "-t", topic, "-k", key, body, "--json", NULL)
                  : rill_run(ns, "msg", "send", "-t", topic, body, "--json", NULL);
    cr_assert_eq(r.code, 0, "msg send: %s", r.err);
    cJSON *j = parse_json(r.out);
    cr_assert_eq(cJSON_GetArraySize(j), 1);
    const cJSON *m = cJSON_GetArrayItem(j, 0);
    cr_assert_str_eq(str(m, "status"), "SEND_OK");
    if (id != NULL)
        snprintf(id, RILL_MSGID_BYTES + 1, "%s", str(m, "msg_id"));
    cJSON_Delete(j);
    run_free(&r);
}

static bool has_string(const cJSON *arr, const char *key, const char *value)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
        if (cJSON_IsString(v) && strcmp(v->valuestring, value) == 0)
            return true;
    }
    return false;
}

/* ---- usage: no cluster needed ---- */

Test(client_cli, usage_and_help)
{
    run_t r = rill_run(NULL, NULL);
    cr_assert_eq(r.code, 2);
    run_free(&r);

    r = rill_run(NULL, "help", NULL);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, "topic create") && strstr(r.out, "bench produce"), "%s", r.out);
    run_free(&r);

    r = rill_run(NULL, "nosuch", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "no command 'nosuch'"), "%s", r.err);
    run_free(&r);

    r = rill_run(NULL, "topic", "explode", NULL);
    cr_assert_eq(r.code, 2);
    run_free(&r);

    r = rill_run(NULL, "topic", "create", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "missing the topic name"), "%s", r.err);
    run_free(&r);

    r = rill_run(NULL, "topic", "list", "--bogus", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "unknown option '--bogus'"), "%s", r.err);
    run_free(&r);

    r = rill_run(NULL, "msg", "query-key", "-t", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "needs a value"), "%s", r.err);
    run_free(&r);

    /* bad time formats are usage errors */
    const char *bad_times[] = {"yesterday", "2026-13-01T00:00:00", "-15x", "2026-11-22T25:00",
                               "12:00"};
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
        r = rill_run(NULL, "msg", "query-time", "-t", "T", "--begin", bad_times[i], NULL);
        cr_assert_eq(r.code, 2, "time %s", bad_times[i]);
        cr_assert(strstr(r.err, "bad --begin time"), "%s", r.err);
        run_free(&r);
    }
    r = rill_run(NULL, "group", "reset-offset", "G", "-t", "T", "--to", "soon", NULL);
    cr_assert_eq(r.code, 2);
    run_free(&r);

    /* bad msgIds */
    r = rill_run(NULL, "msg", "query-id", "xyz", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "bad msgId 'xyz'"), "%s", r.err);
    run_free(&r);
    r = rill_run(NULL, "queryMsgById", "-i", "7F0000010000ZZZZ0000000000000000", NULL);
    cr_assert_eq(r.code, 2);
    run_free(&r);

    /* every command has --help with an example, aliases too */
    static const char *const cmds[][2] = {
        {"topic", "create"},      {"topic", "update"},     {"topic", "delete"},
        {"topic", "list"},        {"topic", "route"},      {"topic", "status"},
        {"cluster", "list"},      {"broker", "status"},    {"broker", "config"},
        {"msg", "send"},          {"msg", "query-key"},    {"msg", "query-time"},
        {"msg", "query-id"},      {"msg", "query-offset"}, {"msg", "print"},
        {"msg", "consume"},       {"group", "create"},     {"group", "delete"},
        {"group", "list"},        {"group", "progress"},   {"group", "reset-offset"},
        {"bench", "produce"},     {"bench", "consume"},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        r = rill_run(NULL, cmds[i][0], cmds[i][1], "--help", NULL);
        cr_assert_eq(r.code, 0, "%s %s --help", cmds[i][0], cmds[i][1]);
        cr_assert(strstr(r.out, "Example:") != NULL, "%s %s: %s", cmds[i][0], cmds[i][1], r.out);
        run_free(&r);
    }
    static const char *const aliases[] = {
        "updateTopic",   "topicList",         "topicRoute",     "topicStatus",
        "clusterList",   "queryMsgById",      "queryMsgByKey",  "queryMsgByOffset",
        "printMsg",      "consumerProgress",  "resetOffsetByTime", "sendMessage",
        "consumeMessage", "updateSubGroup",   "deleteSubGroup", "deleteTopic",
        "brokerStatus",
    };
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        r = rill_run(NULL, aliases[i], "--help", NULL);
        cr_assert_eq(r.code, 0, "%s --help", aliases[i]);
        cr_assert(strstr(r.out, aliases[i]) != NULL, "%s: %s", aliases[i], r.out);
        run_free(&r);
    }
}

Test(client_cli, no_namesrv_reachable)
{
    int port = hv_free_port();
    char ns[64];
    snprintf(ns, sizeof(ns), "127.0.0.1:%d", port);
    uint64_t t0 = rill_mono_ms();
    run_t r = rill_run(NULL, "topic", "list", "--namesrv", ns, "-X", "request.timeout.ms=500", NULL);
    cr_assert_eq(r.code, 1, "exit %d, stderr %s", r.code, r.err);
    assert_one_error_line(&r);
    cr_assert_lt(rill_mono_ms() - t0, 10000);
    run_free(&r);

    /* the environment gives the default namesrv */
    setenv("RILL_NAMESRV", ns, 1);
    r = rill_run(NULL, "cluster", "list", "-X", "request.timeout.ms=500", NULL);
    unsetenv("RILL_NAMESRV");
    cr_assert_eq(r.code, 1);
    assert_one_error_line(&r);
    run_free(&r);
}

/* ---- topics, cluster, broker ---- */

Test(client_cli, topics)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    const char *ns = tc_namesrv_list(&c);

    run_t r = rill_run(ns, "topic", "create", "Orders", "-r", "8", "-w", "8", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "topic Orders: 8 read / 8 write queues"), "%s", r.out);
    run_free(&r);

    /* mqadmin style: -t and -c */
    r = rill_run(ns, "updateTopic", "-t", "Audit", "-c", "DefaultCluster", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cJSON *j = parse_json(r.out);
    cr_assert_str_eq(str(j, "topic"), "Audit");
    cr_assert_eq(num(j, "read_queues"), 4);
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "topic", "create", "Bad", "-c", "NoSuchCluster", NULL);
    cr_assert_eq(r.code, 1);
    assert_one_error_line(&r);
    run_free(&r);

    r = rill_run(ns, "topic", "list", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert(has_string(j, "topic", "Orders") && has_string(j, "topic", "Audit"), "%s", r.out);
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "topic", "list", "--cluster", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "DefaultCluster") && strstr(r.out, "broker-a"), "%s", r.out);
    run_free(&r);

    r = rill_run(ns, "topic", "route", "Orders", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    const cJSON *queues = cJSON_GetObjectItem(j, "queues");
    cr_assert_eq(cJSON_GetArraySize(queues), 1);
    cr_assert_eq(num(cJSON_GetArrayItem(queues, 0), "read_queues"), 8);
    cr_assert_eq(num(cJSON_GetArrayItem(queues, 0), "perm"), 6);
    const cJSON *brokers = cJSON_GetObjectItem(j, "brokers");
    cr_assert_str_eq(str(cJSON_GetArrayItem(brokers, 0), "addr"), tc_broker_addr(&c, 0));
    cJSON_Delete(j);
    run_free(&r);

    send_msg(ns, "Orders", NULL, "hello", NULL);
    r = rill_run(ns, "topic", "status", "Orders", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "queues")), 8);
    cr_assert_eq(num(j, "total_messages"), 1);
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "topicStatus", "Orders", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "MAX OFFSET") && strstr(r.out, "8 queues, 1 messages"), "%s", r.out);
    run_free(&r);

    /* unknown topic: exit 1, the library's reason naming the topic */
    static const char *const unknown[][8] = {
        {"topic", "route", "Nope"},
        {"topic", "status", "Nope"},
        {"msg", "query-key", "-t", "Nope", "-k", "k"},
        {"msg", "print", "-t", "Nope"},
    };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        const char *const *u = unknown[i];
        r = rill_run(ns, u[0], u[1], u[2], u[3], u[4], u[5], u[6], NULL);
        cr_assert_eq(r.code, 1, "%s %s: exit %d %s", u[0], u[1], r.code, r.err);
        assert_one_error_line(&r);
        cr_assert(strstr(r.err, "Nope") != NULL, "%s", r.err);
        run_free(&r);
    }

    r = rill_run(ns, "topic", "delete", "Audit", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = rill_run(ns, "topic", "list", "--json", NULL);
    cr_assert_eq(r.code, 0);
    j = parse_json(r.out);
    cr_assert(!has_string(j, "topic", "Audit"), "%s", r.out);
    cr_assert(has_string(j, "topic", "Orders"));
    cJSON_Delete(j);
    run_free(&r);

    tc_stop(&c);
}

Test(client_cli, cluster_and_broker)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 2, NULL);
    const char *ns = tc_namesrv_list(&c);

    run_t r = rill_run(ns, "cluster", "list", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cJSON *j = parse_json(r.out);
    cr_assert_eq(cJSON_GetArraySize(j), 2, "%s", r.out);
    for (int i = 0; i < 2; i++) {
        const cJSON *b = cJSON_GetArrayItem(j, i);
        cr_assert_str_eq(str(b, "cluster"), "DefaultCluster");
        cr_assert_str_eq(str(b, "broker_name"), i == 0 ? "broker-a" : "broker-b");
        cr_assert_eq(num(b, "broker_id"), 0);
        cr_assert_str_eq(str(b, "addr"), tc_broker_addr(&c, i));
        cr_assert_str_eq(str(b, "role"), "ASYNC_MASTER");
        cr_assert_gt(strlen(str(b, "version")), 0);
        num(b, "in_tps");
        num(b, "out_tps");
    }
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "clusterList", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "ROLE") && strstr(r.out, "ASYNC_MASTER"), "%s", r.out);
    run_free(&r);

    /* one cluster: create without -c picks it */
    r = rill_run(ns, "group", "create", "audit", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);

    r = rill_run(ns, "broker", "status", tc_broker_addr(&c, 1), "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_gt(num(j, "uptime_ms"), 0);
    cr_assert_gt(strlen(str(j, "version")), 0);
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "brokerStatus", "-b", tc_broker_addr(&c, 0), NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "commitlog_max_offset"), "%s", r.out);
    run_free(&r);

    r = rill_run(ns, "broker", "config", tc_broker_addr(&c, 1), "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_str_eq(str(j, "brokerName"), "broker-b");
    cr_assert_str_eq(str(j, "brokerClusterName"), "DefaultCluster");
    cr_assert_str_eq(str(j, "brokerRole"), "ASYNC_MASTER");
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "broker", "config", tc_broker_addr(&c, 0), NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "brokerName") && strstr(r.out, "broker-a"), "%s", r.out);
    run_free(&r);

    /* a broker that is down: exit 1 in bounded time */
    tc_broker_stop(&c, 1, SIGKILL);
    uint64_t t0 = rill_mono_ms();
    r = rill_run(ns, "broker", "status", tc_broker_addr(&c, 1), "-X", "request.timeout.ms=500",
                 NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    assert_one_error_line(&r);
    cr_assert(strstr(r.err, tc_broker_addr(&c, 1)) != NULL, "%s", r.err);
    cr_assert_lt(rill_mono_ms() - t0, 10000);
    run_free(&r);

    /* the cluster list still shows the dead broker while the namesrv has it */
    r = rill_run(ns, "cluster", "list", "-X", "request.timeout.ms=500", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "broker-a"), "%s", r.out);
    run_free(&r);

    r = rill_run(ns, "broker", "status", "nonsense", NULL);
    cr_assert_eq(r.code, 2);
    run_free(&r);

    tc_stop(&c);
}

/* ---- messages ---- */

Test(client_cli, send_and_query)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    const char *ns = tc_namesrv_list(&c);
    tc_create_topic(&c, "Q", 4);

    char k1[3][RILL_MSGID_BYTES + 1], k2[2][RILL_MSGID_BYTES + 1];
    for (int i = 0; i < 3; i++) {
        char body[32];
        snprintf(body, sizeof(body), "k1-body-%d", i);
        send_msg(ns, "Q", i == 1 ? "K1 other" : "K1", body, k1[i]);
    }
    int64_t t_mid = 0;
    rill_sleep_ms(30);
    t_mid = wall_ms();
    rill_sleep_ms(30);
    for (int i = 0; i < 2; i++)
        send_msg(ns, "Q", "K2", "k2-body", k2[i]);
    int64_t t_end = wall_ms();

    /* query-key finds exactly the three messages with K1 */
    run_t r = rill_run(ns, "msg", "query-key", "-t", "Q", "-k", "K1", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cJSON *j = parse_json(r.out);
    cr_assert_eq(cJSON_GetArraySize(j), 3, "%s", r.out);
    for (int i = 0; i < 3; i++)
        cr_assert(has_string(j, "msg_id", k1[i]), "%s missing: %s", k1[i], r.out);
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "queryMsgByKey", "-t", "Q", "-k", "K2", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, k2[0]) && strstr(r.out, k2[1]) && strstr(r.out, "2 messages"),
              "%s", r.out);
    cr_assert(strstr(r.out, k1[0]) == NULL);
    run_free(&r);

    r = rill_run(ns, "msg", "query-key", "-t", "Q", "-k", "nokey", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_eq(cJSON_GetArraySize(j), 0);
    cJSON_Delete(j);
    run_free(&r);

    /* query-time: only the two messages stored after t_mid */
    char begin[32], end[32];
    snprintf(begin, sizeof(begin), "%lld", (long long)t_mid);
    snprintf(end, sizeof(end), "%lld", (long long)t_end + 1000);
    r = rill_run(ns, "msg", "query-time", "-t", "Q", "--begin", begin, "--end", end, "--json",
                 NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_eq(cJSON_GetArraySize(j), 2, "%s", r.out);
    cr_assert(has_string(j, "msg_id", k2[0]) && has_string(j, "msg_id", k2[1]));
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        cr_assert_geq(num(e, "store_timestamp"), (double)t_mid);
    }
    cJSON_Delete(j);
    run_free(&r);

    /* ... and a relative range that covers everything */
    r = rill_run(ns, "msg", "query-time", "-t", "Q", "--begin", "-10m", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_eq(cJSON_GetArraySize(j), 5, "%s", r.out);
    cJSON_Delete(j);
    run_free(&r);

    /* query-id */
    r = rill_run(ns, "msg", "query-id", k1[2], "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_str_eq(str(j, "msg_id"), k1[2]);
    cr_assert_str_eq(str(j, "body"), "k1-body-2");
    cr_assert_str_eq(str(j, "topic"), "Q");
    int qid = (int)num(j, "queue_id");
    long long off = (long long)num(j, "queue_offset");
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "queryMsgById", "-i", k1[0], NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "k1-body-0") && strstr(r.out, "keys:"), "%s", r.out);
    run_free(&r);

    /* a well-formed id that names no message */
    char bogus[RILL_MSGID_BYTES + 1];
    snprintf(bogus, sizeof(bogus), "%.16s%016llX", k1[0], 0x7fffffffffffULL);
    r = rill_run(ns, "msg", "query-id", bogus, "-X", "request.timeout.ms=1000", NULL);
    cr_assert_eq(r.code, 1, "%s", r.out);
    assert_one_error_line(&r);
    run_free(&r);

    /* query-offset finds the same message */
    char qs[16], os[32];
    snprintf(qs, sizeof(qs), "%d", qid);
    snprintf(os, sizeof(os), "%lld", off);
    r = rill_run(ns, "msg", "query-offset", "-t", "Q", "-q", qs, "-o", os, "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_str_eq(str(j, "msg_id"), k1[2]);
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "msg", "query-offset", "-t", "Q", "-q", qs, "-o", "999999", NULL);
    cr_assert_eq(r.code, 1);
    assert_one_error_line(&r);
    run_free(&r);

    /* print: every message, or one queue's */
    r = rill_run(ns, "msg", "print", "-t", "Q", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_eq(cJSON_GetArraySize(j), 5, "%s", r.out);
    cJSON_Delete(j);
    run_free(&r);
    r = rill_run(ns, "printMsg", "-t", "Q", "-q", qs, "--begin", begin, "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cJSON_ArrayForEach(e, j)
    {
        cr_assert_eq(num(e, "queue_id"), qid);
        cr_assert_geq(num(e, "store_timestamp"), (double)t_mid);
    }
    cJSON_Delete(j);
    run_free(&r);

    tc_stop(&c);
}

Test(client_cli, send_modes_and_binary_bodies)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    const char *ns = tc_namesrv_list(&c);
    tc_create_topic(&c, "B", 2);

    /* a binary body from a file */
    char path[] = "/tmp/rill-cli-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const unsigned char bin[] = {0x00, 0x01, 'A', 0xff, 0x1b, '[', '2', 'J', '\n'};
    cr_assert_eq(write(fd, bin, sizeof(bin)), (ssize_t)sizeof(bin));
    close(fd);
    run_t r = rill_run(ns, "msg", "send", "-t", "B", "-f", path, "--tags", "bin", "-p", "src=test",
                       "-k", "BIN", "--json", NULL);
    unlink(path);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cJSON *j = parse_json(r.out);
    char id[RILL_MSGID_BYTES + 1];
    snprintf(id, sizeof(id), "%s", str(cJSON_GetArrayItem(j, 0), "msg_id"));
    cJSON_Delete(j);
    run_free(&r);

    /* text output escapes it: no raw ESC or NUL reaches the terminal */
    r = rill_run(ns, "msg", "query-id", id, NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\\x00\\x01A\\xff\\x1b[2J\\n") != NULL, "%s", r.out);
    cr_assert(strchr(r.out, 0x1b) == NULL);
    cr_assert(strstr(r.out, "src=test") != NULL, "%s", r.out);
    run_free(&r);
    r = rill_run(ns, "msg", "query-key", "-t", "B", "-k", "BIN", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\\x00\\x01A") != NULL && strchr(r.out, 0x1b) == NULL, "%s", r.out);
    run_free(&r);

    /* JSON carries it as base64 */
    r = rill_run(ns, "msg", "query-id", id, "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_str_eq(str(j, "body_base64"), "AAFB/xtbMkoK");
    cr_assert_str_eq(str(j, "tags"), "bin");
    cr_assert_str_eq(str(cJSON_GetObjectItem(j, "properties"), "src"), "test");
    cJSON_Delete(j);
    run_free(&r);

    /* stdin lines: one message each (through a shell pipe) */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "printf 'one\\n\\ntwo\\nthree\\n' | %s/rill msg send -t B -k LINES --namesrv '%s' "
             "--json",
             RILL_BIN_DIR, ns);
    FILE *p = popen(cmd, "r");
    cr_assert(p != NULL);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, p);
    buf[n] = '\0';
    int st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", buf);
    j = parse_json(buf);
    cr_assert_eq(cJSON_GetArraySize(j), 3, "%s", buf);
    cJSON_Delete(j);
    r = rill_run(ns, "msg", "query-key", "-t", "B", "-k", "LINES", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_eq(cJSON_GetArraySize(j), 3, "%s", r.out);
    cr_assert(has_string(j, "body", "one") && has_string(j, "body", "two") &&
              has_string(j, "body", "three"));
    cJSON_Delete(j);
    run_free(&r);

    /* delay and deliver time are sent through */
    r = rill_run(ns, "sendMessage", "-t", "B", "--delay", "3", "later", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "SEND_OK"), "%s", r.out);
    run_free(&r);
    r = rill_run(ns, "msg", "send", "-t", "B", "--at", "+10m", "at", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = rill_run(ns, "msg", "send", "-t", "B", "--delay", "99", "x", NULL);
    cr_assert_eq(r.code, 2);
    run_free(&r);

    /* a broker that is down: a clear error after the send timeout, no hang */
    tc_broker_stop(&c, 0, SIGKILL);
    uint64_t t0 = rill_mono_ms();
    r = rill_run(ns, "msg", "send", "-t", "B", "x", "-X", "send.timeout.ms=500", "-X",
                 "send.retries=1", NULL);
    cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.out);
    assert_one_error_line(&r);
    cr_assert_lt(rill_mono_ms() - t0, 15000);
    run_free(&r);

    tc_stop(&c);
}

/* ---- consume and groups ---- */

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(client_cli, consume_progress_reset)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    const char *ns = tc_namesrv_list(&c);
    tc_create_topic(&c, "C", 2);
    for (int i = 0; i < 5; i++) {
        char body[16];
        snprintf(body, sizeof(body), "m%d", i);
        send_msg(ns, "C", NULL, body, NULL);
    }

    /* consume exactly 5 from the first offset: JSON lines, then exit 0 and commit */
    run_t r = rill_run(ns, "msg", "consume", "-t", "C", "-g", "cg", "--from", "first", "-n", "5",
                       "--wait", "20", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 5, "%s", r.out);
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *m = parse_json(line);
        cr_assert_str_eq(str(m, "topic"), "C");
        cJSON_Delete(m);
    }
    run_free(&r);

    r = rill_run(ns, "group", "progress", "cg", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cJSON *j = parse_json(r.out);
    cr_assert_eq(num(j, "total_lag"), 0, "%s", r.out);
    cr_assert_eq(num(j, "consumer_offset_total"), 5, "%s", r.out);
    cJSON_Delete(j);
    run_free(&r);

    /* two more: lag 2; a consumer with -n 1 takes one and commits only that one */
    send_msg(ns, "C", NULL, "m5", NULL);
    send_msg(ns, "C", NULL, "m6", NULL);
    r = rill_run(ns, "consumerProgress", "-g", "cg", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "total lag 2"), "%s", r.out);
    run_free(&r);

    r = rill_run(ns, "msg", "consume", "-t", "C", "-g", "cg", "-n", "1", "--wait", "20", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 1, "%s", r.out);
    run_free(&r);
    r = rill_run(ns, "group", "progress", "cg", "--json", NULL);
    j = parse_json(r.out);
    cr_assert_eq(num(j, "total_lag"), 1, "%s", r.out);
    cJSON_Delete(j);
    run_free(&r);

    /* reset to the beginning of time: everything is lag again */
    r = rill_run(ns, "group", "reset-offset", "cg", "-t", "C", "--to", "0", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "2 queues reset"), "%s", r.out);
    run_free(&r);
    r = rill_run(ns, "group", "progress", "cg", "--json", NULL);
    j = parse_json(r.out);
    cr_assert_eq(num(j, "total_lag"), 7, "%s", r.out);
    cJSON_Delete(j);
    run_free(&r);

    /* and to now (mqadmin's -s): nothing left */
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)wall_ms() + 1000);
    r = rill_run(ns, "resetOffsetByTime", "-g", "cg", "-t", "C", "-s", now, "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_eq(num(j, "queues"), 2);
    cJSON_Delete(j);
    run_free(&r);
    r = rill_run(ns, "group", "progress", "cg", "--json", NULL);
    j = parse_json(r.out);
    cr_assert_eq(num(j, "total_lag"), 0, "%s", r.out);
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "group", "reset-offset", "cg", "-t", "Nope", "--to", "-1h", NULL);
    cr_assert_eq(r.code, 1);
    assert_one_error_line(&r);
    run_free(&r);

    /* groups */
    r = rill_run(ns, "updateSubGroup", "-g", "g2", "--retry-max", "3", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = rill_run(ns, "group", "list", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert(has_string(j, "group", "g2"), "%s", r.out);
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        if (strcmp(str(e, "group"), "g2") == 0)
            cr_assert_eq(num(e, "retry_max_times"), 3);
    }
    cJSON_Delete(j);
    run_free(&r);
    r = rill_run(ns, "group", "delete", "g2", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = rill_run(ns, "group", "list", "--json", NULL);
    j = parse_json(r.out);
    cr_assert(!has_string(j, "group", "g2"), "%s", r.out);
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "group", "progress", "never-seen", NULL);
    cr_assert_eq(r.code, 1);
    assert_one_error_line(&r);
    run_free(&r);

    tc_stop(&c);
}

Test(client_cli, consume_ctrl_c_commits)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    const char *ns = tc_namesrv_list(&c);
    tc_create_topic(&c, "S", 1);
    for (int i = 0; i < 3; i++)
        send_msg(ns, "S", NULL, "sig", NULL);

    hv_proc_t p;
    const char *args[] = {"msg", "consume", "-t", "S", "-g", "sg", "--from", "first",
                          "--namesrv", ns, "-X", "rebalance.interval.ms=500", "-X",
                          "heartbeat.interval.ms=300", NULL};
    cr_assert_eq(hv_spawn(&p, "rill", args), 0);
    /* wait until the three messages are printed, then Ctrl-C */
    uint64_t t0 = rill_mono_ms();
    int lines = 0;
    while (rill_mono_ms() - t0 < 20000) {
        char *out = hv_read_output(p.out_path);
        lines = count_lines(out);
        free(out);
        if (lines >= 3)
            break;
        rill_sleep_ms(100);
    }
    cr_assert_eq(lines, 3);
    cr_assert_eq(hv_signal(&p, SIGINT), 0);
    cr_assert_eq(hv_wait_exit(&p, 15000), 0);
    cr_assert_eq(p.exit_code, 0);
    hv_stop(&p);

    run_t r = rill_run(ns, "group", "progress", "sg", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cJSON *j = parse_json(r.out);
    cr_assert_eq(num(j, "total_lag"), 0, "%s", r.out);
    cJSON_Delete(j);
    run_free(&r);
    tc_stop(&c);
}

/* ---- bench ---- */

Test(client_cli, bench_json)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    const char *ns = tc_namesrv_list(&c);
    tc_create_topic(&c, "Bench", 4);

    run_t r = rill_run(ns, "bench", "produce", "-t", "Bench", "-s", "100", "-n", "3000", "--json",
                       NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cJSON *j = parse_json(r.out);
    cr_assert_eq(num(j, "sent"), 3000);
    cr_assert_eq(num(j, "errors"), 0);
    cr_assert_gt(num(j, "msg_s"), 0);
    cr_assert_gt(num(j, "mb_s"), 0);
    cr_assert_gt(num(j, "p50_us"), 0);
    cr_assert_geq(num(j, "p99_us"), num(j, "p50_us"));
    cr_assert_geq(num(j, "p999_us"), num(j, "p99_us"));
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "bench", "produce", "-t", "Bench", "--sync", "-c", "2", "-n", "200",
                 "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_eq(num(j, "sent"), 200);
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "bench", "produce", "-t", "Bench", "--batch", "10", "-c", "2", "-n", "200",
                 NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "200 messages") && strstr(r.out, "msg/s"), "%s", r.out);
    run_free(&r);

    /* 3000 + 200 + 200 + the probe message of each run */
    r = rill_run(ns, "bench", "consume", "-t", "Bench", "-n", "3403", "--idle", "10", "--json",
                 NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = parse_json(r.out);
    cr_assert_eq(num(j, "received"), 3403, "%s", r.out);
    cr_assert_eq(num(j, "errors"), 0);
    num(j, "p999_us");
    cJSON_Delete(j);
    run_free(&r);

    r = rill_run(ns, "bench", "produce", "-t", "Bench", "-s", "0", NULL);
    cr_assert_eq(r.code, 2);
    run_free(&r);
    tc_stop(&c);
}
