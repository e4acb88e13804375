/*
 * test_replication.c - master/slave log shipping (replication/) with real
 * rill-broker processes on loopback: the slave's CommitLog files end up
 * byte-identical to the master's after 100k messages and serve pulls; a
 * slave restart and a master restart resume where they stopped; a slave
 * whose log is ahead of the master's, or differs below its end, stops with
 * a clear error instead of serving a forked log.
 */
#include "harness.h"

#include "common/clock.h"
#include "common/record.h"
#include "rpc/rpc_client.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_MS  5000
#define SYNC_MS  30000 /* bound of the wait for a slave to catch up */
#define SEG_SIZE "--mappedFileSizeCommitLog=8388608"

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(replication, .fini = suite_fini, .timeout = 120);

typedef struct {
    hv_proc_t proc;
    char data[1024];
    rpc_client_t *cli;
    int port, ha_port;
    int master_ha; /* slave: the master's HA port; 0 = a master */
    const char *role; /* master: "--brokerRole=..." or NULL */
    bool no_wait;     /* spawn only (a slave expected to stop by itself) */
    int ns_port;      /* register with the namesrv on this port; 0 = none */
    bool ha_from_ns;  /* slave: no haMasterAddress, learn it from the namesrv */
} node_t;

static void node_start(node_t *n)
{
    if (n->data[0] == '\0')
        ts_mkdtemp(n->data, sizeof(n->data), "repl-data");
    for (int attempt = 0; attempt < 3; attempt++) {
        if (n->port == 0)
            n->port = hv_free_port();
        if (n->master_ha == 0 && n->ha_port == 0)
            n->ha_port = hv_free_port();
        char port_arg[64], dir_arg[1100], ha_arg[96], ns_arg[64];
        snprintf(port_arg, sizeof(port_arg), "--listenPort=%d", n->port);
        snprintf(dir_arg, sizeof(dir_arg), "--storePathRootDir=%s", n->data);
        const char *args[16];
        int k = 0;
        args[k++] = port_arg;
        args[k++] = dir_arg;
        args[k++] = SEG_SIZE;
        args[k++] = "--logLevel=warn";
        args[k++] = "--brokerName=broker-r";
        if (n->ns_port) {
            snprintf(ns_arg, sizeof(ns_arg), "--namesrvAddr=127.0.0.1:%d", n->ns_port);
            args[k++] = ns_arg;
            args[k++] = "--registerNameServerPeriod=300";
        }
        if (n->master_ha) {
            snprintf(ha_arg, sizeof(ha_arg), "--haMasterAddress=127.0.0.1:%d", n->master_ha);
            if (!n->ha_from_ns)
                args[k++] = ha_arg;
            args[k++] = "--brokerRole=SLAVE";
            args[k++] = "--brokerId=1";
            args[k++] = "--haMetaSyncInterval=300";
        } else {
            snprintf(ha_arg, sizeof(ha_arg), "--haListenPort=%d", n->ha_port);
            args[k++] = ha_arg;
            if (n->role)
                args[k++] = n->role;
            args[k++] = "--syncFlushTimeout=2000";
        }
        args[k] = NULL;
        cr_assert_eq(hv_spawn(&n->proc, "rill-broker", args), 0);
        if (n->no_wait)
            return;
        if (hv_wait_ready(&n->proc, n->port, HV_READY_MS) == 0) {
            if (n->cli == NULL) {
                char url[64];
                snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", n->port);
                cr_assert_eq(rpc_client_open(&n->cli, url, NULL), 0);
            }
            return;
        }
        char *err = hv_read_output(n->proc.err_path);
        fprintf(stderr, "broker did not start on %d: %s\n", n->port, err);
        free(err);
        hv_stop_ex(&n->proc, HV_STOP_MS, true);
        n->port = 0;
        if (n->master_ha == 0)
            n->ha_port = 0;
    }
    cr_assert_fail("rill-broker did not start");
}

static void node_finish(node_t *n)
{
    rpc_client_close(n->cli);
    n->cli = NULL;
    if (n->proc.pid)
        hv_stop_ex(&n->proc, HV_STOP_MS, true);
    ts_rmtree(n->data);
}

/* Send count messages "<prefix><i>" to topic queue 0 in batches; the last reply code. */
static int send_batches(node_t *n, const char *topic, const char *prefix, int first, int count,
                        int batch, bool expect_ok)
{
    enum { BATCH = 1000 };
    int code = 0;
    static Rill__Message ms[BATCH];
    static Rill__Message *mp[BATCH];
    static char bodies[BATCH][32];
    for (int done = 0; done < count;) {
        int k = count - done < batch ? count - done : batch;
        for (int i = 0; i < k; i++) {
            rill__message__init(&ms[i]);
            int len = snprintf(bodies[i], sizeof(bodies[i]), "%s%d", prefix, first + done + i);
            ms[i].topic = "";
            ms[i].body.data = (uint8_t *)bodies[i];
            ms[i].body.len = (size_t)len;
            ms[i].tags = "";
            ms[i].keys = "";
            ms[i].born_host = "127.0.0.1:4000";
            mp[i] = &ms[i];
        }
        Rill__SendBatchRequest body = RILL__SEND_BATCH_REQUEST__INIT;
        body.producer_group = "pg";
        body.topic = (char *)topic;
        body.queue_id = 0;
        body.n_messages = (size_t)k;
        body.messages = mp;
        Rill__Request req = RILL__REQUEST__INIT;
        req.code = RILL__REQUEST_CODE__SEND_BATCH_MESSAGE;
        req.body_case = RILL__REQUEST__BODY_SEND_BATCH;
        req.send_batch = &body;
        Rill__Response *resp = NULL;
        cr_assert_eq(rpc_client_call(n->cli, &req, CALL_MS, &resp), 0);
        code = resp->code;
        if (expect_ok)
            cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "batch: %d %s", resp->code,
                         resp->remark);
        rpc_response_free(resp);
        done += k;
    }
    return code;
}

static void send_many(node_t *n, const char *topic, const char *prefix, int first, int count)
{
    send_batches(n, topic, prefix, first, count, 1000, true);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    cr_assert_not_null(buf);
    *len = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    return buf;
}

/* Number of segment files under <data>/commitlog. */
static int segment_names(const char *data, char names[][64], int max)
{
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s/commitlog", data);
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max)
        if (e->d_name[0] != '.' && strlen(e->d_name) < 64)
            memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
    closedir(d);
    return n;
}

/* True when every segment of a has the same name and bytes in b. */
static bool logs_identical(const char *a, const char *b, size_t *total)
{
    char na[16][64], nb[16][64];
    int ca = segment_names(a, na, 16), cb = segment_names(b, nb, 16);
    if (ca == 0 || ca != cb)
        return false;
    *total = 0;
    for (int i = 0; i < ca; i++) {
        char pa[1300], pb[1300];
        snprintf(pa, sizeof(pa), "%s/commitlog/%s", a, na[i]);
        snprintf(pb, sizeof(pb), "%s/commitlog/%s", b, na[i]);
        size_t la = 0, lb = 0;
        char *x = read_all(pa, &la), *y = read_all(pb, &lb);
        bool same = x && y && la == lb && memcmp(x, y, la) == 0;
        free(x);
        free(y);
        if (!same)
            return false;
        *total += la;
    }
    return true;
}

static void wait_identical(node_t *m, node_t *s)
{
    size_t total = 0;
    uint64_t deadline = rill_mono_ms() + SYNC_MS;
    while (!logs_identical(m->data, s->data, &total)) {
        cr_assert_lt(rill_mono_ms(), deadline, "the slave's log never matched the master's");
        rill_sleep_ms(100);
    }
    cr_assert_gt(total, 0);
}

/* Pull queue 0 of topic from a node until want messages arrived; checks bodies in order. */
static void pull_expect(node_t *n, const char *topic, const char *prefix, int want)
{
    int got = 0;
    int64_t offset = 0;
    uint64_t deadline = rill_mono_ms() + SYNC_MS;
    while (got < want) {
        cr_assert_lt(rill_mono_ms(), deadline, "pulled %d of %d", got, want);
        Rill__PullMessageRequest p = RILL__PULL_MESSAGE_REQUEST__INIT;
        p.consumer_group = "cg";
        p.topic = (char *)topic;
        p.queue_id = 0;
        p.queue_offset = offset;
        p.max_msg_nums = 1024;
        p.subscription = "*";
        p.suspend_timeout_ms = 200;
        Rill__Request req = RILL__REQUEST__INIT;
        req.code = RILL__REQUEST_CODE__PULL_MESSAGE;
        req.body_case = RILL__REQUEST__BODY_PULL_MESSAGE;
        req.pull_message = &p;
        Rill__Response *resp = NULL;
        cr_assert_eq(rpc_client_call(n->cli, &req, CALL_MS, &resp), 0);
        if (resp->code == RILL__RESPONSE_CODE__SUCCESS) {
            const uint8_t *r = resp->pull_message->records.data;
            size_t len = resp->pull_message->records.len, pos = 0;
            while (pos < len) {
                record_view_t v;
                cr_assert_eq(record_decode(r + pos, len - pos, &v), 0);
                char expect[32];
                snprintf(expect, sizeof(expect), "%s%d", prefix, got);
                cr_assert_eq(v.body_len, strlen(expect));
                cr_assert_eq(memcmp(v.body, expect, v.body_len), 0, "message %d differs", got);
                got++;
                pos += v.total_size;
            }
        }
        if (resp->body_case == RILL__RESPONSE__BODY_PULL_MESSAGE)
            offset = resp->pull_message->next_begin_offset;
        else
            rill_sleep_ms(50);
        rpc_response_free(resp);
    }
    cr_assert_eq(got, want);
}

static bool output_has(const char *path, const char *text)
{
    char *out = hv_read_output(path);
    bool has = out && strstr(out, text) != NULL;
    free(out);
    return has;
}

Test(replication, slave_log_byte_identical_after_100k)
{
    node_t m = {0}, s = {0};
    node_start(&m);
    s.master_ha = m.ha_port;
    node_start(&s);
    send_many(&m, "Repl", "r", 0, 100000);
    wait_identical(&m, &s);
    char names[16][64];
    cr_assert_geq(segment_names(m.data, names, 16), 2, "100k messages should span 2 segments");
    pull_expect(&s, "Repl", "r", 100000); /* the slave dispatched them */
    node_finish(&s);
    node_finish(&m);
}

/* Replication numbers of a node's runtime stats. */
static void ha_stats(node_t *n, int64_t *lag_bytes, int64_t *lag_ms, bool *connected)
{
    Rill__GetRuntimeStatsRequest rb = RILL__GET_RUNTIME_STATS_REQUEST__INIT;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_BROKER_RUNTIME_INFO;
    req.body_case = RILL__REQUEST__BODY_GET_RUNTIME_STATS;
    req.get_runtime_stats = &rb;
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(n->cli, &req, CALL_MS, &resp), 0);
    cr_assert_eq(resp->code, 0);
    *lag_bytes = resp->runtime_stats->ha_lag_bytes;
    *lag_ms = resp->runtime_stats->ha_lag_ms;
    *connected = resp->runtime_stats->ha_connected;
    rpc_response_free(resp);
}

Test(replication, restarts_resume)
{
    node_t m = {0}, s = {0};
    node_start(&m);
    s.master_ha = m.ha_port;
    node_start(&s);
    send_many(&m, "Resume", "x", 0, 2000);
    wait_identical(&m, &s);
    /* the slave restarts while the master takes more */
    int64_t lb, lm;
    bool conn;
    ha_stats(&m, &lb, &lm, &conn);
    cr_assert(conn);
    cr_assert_eq(lb, 0);
    ha_stats(&s, &lb, &lm, &conn);
    cr_assert(conn);
    cr_assert_eq(lb, 0);
    cr_assert_eq(lm, 0);
    cr_assert_eq(hv_stop_ex(&s.proc, HV_STOP_MS, true), 0);
    send_many(&m, "Resume", "x", 2000, 3000);
    rill_sleep_ms(50);
    ha_stats(&m, &lb, &lm, &conn); /* the master sees its slave behind */
    cr_assert_gt(lb, 3000 * 100);
    cr_assert_geq(lm, 50);
    node_start(&s);
    wait_identical(&m, &s);
    /* the master restarts; the slave resumes from its own offset */
    cr_assert_eq(hv_stop_ex(&m.proc, HV_STOP_MS, true), 0);
    rill_sleep_ms(300);
    node_start(&m);
    send_many(&m, "Resume", "x", 5000, 3000);
    wait_identical(&m, &s);
    pull_expect(&s, "Resume", "x", 8000);
    node_finish(&s);
    node_finish(&m);
}

/* A slave whose data dir holds `count` messages of its own. */
static void diverged_slave(node_t *m, int count, const char *prefix)
{
    node_t s = {0};
    node_start(&s); /* first as a standalone master: a log of its own */
    send_many(&s, "Fork", prefix, 0, count);
    cr_assert_eq(hv_stop_ex(&s.proc, HV_STOP_MS, true), 0);
    s.master_ha = m->ha_port;
    s.no_wait = true;
    node_start(&s);
    cr_assert_eq(hv_wait_exit(&s.proc, 10000), 0, "a diverged slave must stop");
    cr_assert(output_has(s.proc.err_path, "diverged"), "no clear error about divergence");
    rpc_client_close(s.cli);
    s.cli = NULL;
    ts_rmtree(s.data);
}

Test(replication, divergence_detected)
{
    node_t m = {0};
    node_start(&m);
    send_many(&m, "Fork", "master-", 0, 50);
    diverged_slave(&m, 500, "ahead-");  /* longer than the master's log */
    diverged_slave(&m, 10, "other-");   /* shorter, different bytes */
    /* the master itself is unaffected and a clean slave still syncs */
    node_t s = {0};
    s.master_ha = m.ha_port;
    node_start(&s);
    wait_identical(&m, &s);
    node_finish(&s);
    node_finish(&m);
}

static Rill__Response *ncall(node_t *n, Rill__Request *req)
{
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(n->cli, req, CALL_MS, &resp), 0);
    return resp;
}

static int commit_offset(node_t *n, const char *group, const char *topic, int qid, int64_t off)
{
    Rill__UpdateConsumerOffsetRequest body = RILL__UPDATE_CONSUMER_OFFSET_REQUEST__INIT;
    body.consumer_group = (char *)group;
    body.topic = (char *)topic;
    body.queue_id = qid;
    body.commit_offset = off;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UPDATE_CONSUMER_OFFSET;
    req.body_case = RILL__REQUEST__BODY_UPDATE_CONSUMER_OFFSET;
    req.update_consumer_offset = &body;
    Rill__Response *resp = ncall(n, &req);
    int c = resp->code;
    rpc_response_free(resp);
    return c;
}

static int64_t query_offset(node_t *n, const char *group, const char *topic, int qid)
{
    Rill__QueryConsumerOffsetRequest body = RILL__QUERY_CONSUMER_OFFSET_REQUEST__INIT;
    body.consumer_group = (char *)group;
    body.topic = (char *)topic;
    body.queue_id = qid;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__QUERY_CONSUMER_OFFSET;
    req.body_case = RILL__REQUEST__BODY_QUERY_CONSUMER_OFFSET;
    req.query_consumer_offset = &body;
    Rill__Response *resp = ncall(n, &req);
    int64_t r = resp->code == 0 ? resp->query_consumer_offset->offset : -(int64_t)resp->code;
    rpc_response_free(resp);
    return r;
}

static int create_topic(node_t *n, const char *name, int queues)
{
    Rill__TopicConfig tc = RILL__TOPIC_CONFIG__INIT;
    tc.topic_name = (char *)name;
    tc.read_queue_nums = queues;
    tc.write_queue_nums = queues;
    tc.perm = 6;
    Rill__UpdateTopicRequest body = RILL__UPDATE_TOPIC_REQUEST__INIT;
    body.topic = &tc;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UPDATE_AND_CREATE_TOPIC;
    req.body_case = RILL__REQUEST__BODY_UPDATE_TOPIC;
    req.update_topic = &body;
    Rill__Response *resp = ncall(n, &req);
    int c = resp->code;
    rpc_response_free(resp);
    return c;
}

/* Queue count of a topic on a node (0 when unknown). */
static int topic_queues(node_t *n, const char *name)
{
    Rill__GetTopicListRequest body = RILL__GET_TOPIC_LIST_REQUEST__INIT;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_ALL_TOPIC_CONFIG;
    req.body_case = RILL__REQUEST__BODY_GET_TOPIC_LIST;
    req.get_topic_list = &body;
    Rill__Response *resp = ncall(n, &req);
    int q = 0;
    if (resp->code == 0 && resp->body_case == RILL__RESPONSE__BODY_TOPIC_LIST)
        for (size_t i = 0; i < resp->topic_list->n_topics; i++)
            if (strcmp(resp->topic_list->topics[i]->topic_name, name) == 0)
                q = resp->topic_list->topics[i]->read_queue_nums;
    rpc_response_free(resp);
    return q;
}

Test(replication, metadata_synced_and_slave_offsets_kept)
{
    node_t m = {0}, s = {0};
    node_start(&m);
    s.master_ha = m.ha_port;
    node_start(&s);
    cr_assert_eq(create_topic(&m, "MetaT", 3), 0);
    cr_assert_eq(commit_offset(&m, "mg", "MetaT", 2, 17), 0);
    uint64_t deadline = rill_mono_ms() + 10000;
    while (topic_queues(&s, "MetaT") != 3 || query_offset(&s, "mg", "MetaT", 2) != 17) {
        cr_assert_lt(rill_mono_ms(), deadline, "metadata never reached the slave");
        rill_sleep_ms(50);
    }
    /* a slave refuses sends */
    cr_assert_eq(send_batches(&s, "MetaT", "no", 0, 1, 1, false),
                 RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE);
    /* an offset committed on the slave (master away) is not rolled back by a sync */
    cr_assert_eq(commit_offset(&s, "mg", "MetaT", 2, 40), 0);
    rill_sleep_ms(1000); /* > 3 syncs */
    cr_assert_eq(query_offset(&s, "mg", "MetaT", 2), 40);
    /* a later master commit moves it on */
    cr_assert_eq(commit_offset(&m, "mg", "MetaT", 2, 55), 0);
    deadline = rill_mono_ms() + 10000;
    while (query_offset(&s, "mg", "MetaT", 2) != 55) {
        cr_assert_lt(rill_mono_ms(), deadline, "the master's later offset never reached the slave");
        rill_sleep_ms(50);
    }
    node_finish(&s);
    node_finish(&m);
}

/* Wait until n reports offset want for (group, topic, qid). */
static void wait_offset(node_t *n, const char *group, const char *topic, int qid, int64_t want,
                        const char *what)
{
    uint64_t deadline = rill_mono_ms() + 10000;
    int64_t got;
    while ((got = query_offset(n, group, topic, qid)) != want) {
        cr_assert_lt(rill_mono_ms(), deadline, "%s: offset %lld, want %lld", what, (long long)got,
                     (long long)want);
        rill_sleep_ms(50);
    }
}

Test(replication, slave_offsets_handed_back_when_the_master_returns)
{
    node_t m = {0}, s = {0};
    node_start(&m);
    s.master_ha = m.ha_port;
    node_start(&s);
    cr_assert_eq(create_topic(&m, "BackT", 2), 0);
    cr_assert_eq(commit_offset(&m, "bg", "BackT", 0, 10), 0);
    cr_assert_eq(commit_offset(&m, "bg", "BackT", 1, 500), 0);
    uint64_t deadline = rill_mono_ms() + 10000;
    while (topic_queues(&s, "BackT") != 2) {
        cr_assert_lt(rill_mono_ms(), deadline, "the topic never reached the slave");
        rill_sleep_ms(50);
    }
    wait_offset(&s, "bg", "BackT", 0, 10, "slave before the outage");
    wait_offset(&s, "bg", "BackT", 1, 500, "slave before the outage");
    /* the master goes away; consumers commit on the slave */
    cr_assert_eq(hv_stop_ex(&m.proc, HV_STOP_MS, true), 0);
    cr_assert_eq(commit_offset(&s, "bg", "BackT", 0, 70), 0); /* larger than the master's */
    cr_assert_eq(commit_offset(&s, "bg", "BackT", 1, 30), 0); /* smaller than the master's */
    cr_assert_eq(commit_offset(&s, "bg2", "BackT", 0, 5), 0); /* unknown to the master */
    rill_sleep_ms(500); /* a few failed syncs: the offsets stay pending */
    /* the master returns and gets the larger offsets; its own larger one stays */
    node_start(&m);
    wait_offset(&m, "bg", "BackT", 0, 70, "master after it returned");
    wait_offset(&m, "bg2", "BackT", 0, 5, "master after it returned");
    rill_sleep_ms(1000); /* > 3 syncs */
    cr_assert_eq(query_offset(&m, "bg", "BackT", 1), 500, "the master's offset moved back");
    wait_offset(&s, "bg", "BackT", 1, 500, "slave after the master returned");
    /* while the master is up, a slave commit goes back too, with the next sync */
    cr_assert_eq(commit_offset(&s, "bg", "BackT", 0, 90), 0);
    wait_offset(&m, "bg", "BackT", 0, 90, "master, periodic hand-back");
    cr_assert_eq(hv_stop_ex(&s.proc, HV_STOP_MS, true), 0); /* clean exit (sanitizers too) */
    cr_assert_eq(hv_stop_ex(&m.proc, HV_STOP_MS, true), 0);
    node_finish(&s);
    node_finish(&m);
}

Test(replication, sync_master_without_slave_answers_slave_not_available)
{
    node_t m = {.role = "--brokerRole=SYNC_MASTER"};
    node_start(&m);
    int code = send_batches(&m, "Lonely", "l", 0, 3, 3, false);
    cr_assert_eq(code, RILL__RESPONSE_CODE__SLAVE_NOT_AVAILABLE);
    pull_expect(&m, "Lonely", "l", 3); /* stored all the same */
    node_finish(&m);
}

Test(replication, sync_master_never_acks_what_the_slave_lacks)
{
    node_t m = {.role = "--brokerRole=SYNC_MASTER"}, s = {0};
    node_start(&m);
    s.master_ha = m.ha_port;
    node_start(&s);
    cr_assert_eq(create_topic(&m, "Acked", 1), 0);
    uint64_t deadline = rill_mono_ms() + 10000;
    while (topic_queues(&s, "Acked") != 1) {
        cr_assert_lt(rill_mono_ms(), deadline, "the topic never reached the slave");
        rill_sleep_ms(50);
    }
    /* 3000 messages in batches of 10, each acked only once the slave has it */
    send_batches(&m, "Acked", "a", 0, 3000, 10, true);
    cr_assert_eq(hv_signal(&m.proc, SIGKILL), 0);
    hv_wait_exit(&m.proc, 10000);
    pull_expect(&s, "Acked", "a", 3000);
    node_finish(&s);
    node_finish(&m);
}

Test(replication, slave_learns_the_master_from_the_namesrv)
{
    hv_proc_t ns;
    cr_assert_eq(hv_start_namesrv(&ns, NULL), 0);
    node_t m = {.ns_port = ns.port}, s = {.ns_port = ns.port, .ha_from_ns = true};
    node_start(&m);
    s.master_ha = m.ha_port; /* only to make it a slave: no haMasterAddress is passed */
    node_start(&s);
    send_many(&m, "Learn", "n", 0, 500);
    wait_identical(&m, &s);
    node_finish(&s);
    node_finish(&m);
    hv_stop(&ns);
}
