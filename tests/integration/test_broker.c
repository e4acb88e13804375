/*
 * test_broker.c - real rill-broker processes on free loopback ports with
 * temp data dirs, driven through the RPC client: send/pull round trips,
 * batches, tag filters, long polling (woken and timed out), perms,
 * auto-create on and off, consumer offsets and progress, queries (key,
 * msgId, time, queue offset, timestamp search, queue stats, runtime stats),
 * restart persistence, kill -9 under SYNC_FLUSH, registration with a real
 * rill-namesrv, bad input, and the command line.
 */
#include "harness.h"

#include "common/record.h"
#include "common/clock.h"
#include "common/props.h"
#include "rpc/rpc_client.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_MS   5000
#define WAIT_MS   8000 /* bound of every wait for dispatch or registration */
#define POLL_MS   20

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(broker, .fini = suite_fini, .timeout = 120);

/* ---- process helpers ---- */

typedef struct {
    hv_proc_t proc;
    char data[1024];
    rpc_client_t *cli;
    int port;
} tb_t;

/* Start a broker on data (a dir made here when data[0] is 0) with extra --key=value args. */
static void start_broker(tb_t *b, const char *const *extra)
{
    if (b->data[0] == '\0')
        ts_mkdtemp(b->data, sizeof(b->data), "broker-data");
    cr_assert_eq(hv_start_broker(&b->proc, b->data, b->port, extra), 0, "rill-broker did not start");
    b->port = b->proc.port;
}

static void broker_url(const tb_t *b, char *url, size_t cap)
{
    snprintf(url, cap, "tcp://127.0.0.1:%d", b->port);
}

static void start(tb_t *b, const char *const *extra)
{
    start_broker(b, extra);
    if (b->cli == NULL) {
        char url[64];
        broker_url(b, url, sizeof(url));
        cr_assert_eq(rpc_client_open(&b->cli, url, NULL), 0);
    }
}

/* Stop with SIGTERM, keep the data; expect a clean exit. */
static void stop_keep(tb_t *b)
{
    cr_assert_eq(hv_stop(&b->proc), 0, "broker did not exit 0 after SIGTERM");
}

static void finish(tb_t *b)
{
    rpc_client_close(b->cli);
    b->cli = NULL;
    if (b->proc.pid)
        cr_expect_eq(hv_stop(&b->proc), 0, "broker did not exit 0 after SIGTERM");
    ts_rmtree(b->data);
}

/* ---- request helpers ---- */

static Rill__Response *call(tb_t *b, Rill__Request *req)
{
    Rill__Response *resp = NULL;
    int rc = rpc_client_call(b->cli, req, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "call %d failed: %d", req->code, rc);
    return resp;
}

static int code_of(Rill__Response *resp)
{
    int c = resp->code;
    rpc_response_free(resp);
    return c;
}

typedef struct {
    const char *topic, *tags, *keys, *uniq;
    const void *body;
    size_t body_len;
    int queue_id;
} msg_spec_t;

static void fill_message(Rill__Message *m, Rill__Property *prop, Rill__Property **pp,
                         const msg_spec_t *s)
{
    rill__message__init(m);
    m->topic = (char *)s->topic;
    m->body.data = (uint8_t *)s->body;
    m->body.len = s->body_len;
    m->tags = (char *)(s->tags ? s->tags : "");
    m->keys = (char *)(s->keys ? s->keys : "");
    m->born_host = "127.0.0.1:4000";
    if (s->uniq) {
        rill__property__init(prop);
        prop->key = RILL_PROP_UNIQ_KEY;
        prop->value = (char *)s->uniq;
        pp[0] = prop;
        m->n_properties = 1;
        m->properties = pp;
    }
}

/* Send one message; returns the Response (caller frees). */
static Rill__Response *send_raw(tb_t *b, const msg_spec_t *s)
{
    Rill__Message m;
    Rill__Property prop, *pp[1];
    fill_message(&m, &prop, pp, s);
    Rill__SendMessageRequest body = RILL__SEND_MESSAGE_REQUEST__INIT;
    body.producer_group = "pg";
    body.queue_id = s->queue_id;
    body.message = &m;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__SEND_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_SEND_MESSAGE;
    req.send_message = &body;
    return call(b, &req);
}

static int send_code(tb_t *b, const char *topic, int queue_id, const char *text)
{
    msg_spec_t s = {.topic = topic, .body = text, .body_len = strlen(text), .queue_id = queue_id};
    return code_of(send_raw(b, &s));
}

/* Send and expect SUCCESS; returns the queue offset, msgId copied to id if not NULL. */
static int64_t send_ok(tb_t *b, const msg_spec_t *s, char *id)
{
    Rill__Response *resp = send_raw(b, s);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "send: %d %s", resp->code, resp->remark);
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_SEND_MESSAGE);
    cr_assert_eq(strlen(resp->send_message->msg_id), 32);
    if (id)
        strcpy(id, resp->send_message->msg_id);
    int64_t off = resp->send_message->queue_offset;
    rpc_response_free(resp);
    return off;
}

static void send_text(tb_t *b, const char *topic, int queue_id, const char *tags, const char *text)
{
    msg_spec_t s = {
        .topic = topic, .tags = tags, .body = text, .body_len = strlen(text), .queue_id = queue_id};
    send_ok(b, &s, NULL);
}

static int create_topic(tb_t *b, const char *name, int queues, int perm)
{
    Rill__TopicConfig tc = RILL__TOPIC_CONFIG__INIT;
    tc.topic_name = (char *)name;
    tc.read_queue_nums = queues;
    tc.write_queue_nums = queues;
    tc.perm = perm;
    Rill__UpdateTopicRequest body = RILL__UPDATE_TOPIC_REQUEST__INIT;
    body.topic = &tc;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UPDATE_AND_CREATE_TOPIC;
    req.body_case = RILL__REQUEST__BODY_UPDATE_TOPIC;
    req.update_topic = &body;
    return code_of(call(b, &req));
}

static void fill_pull(Rill__PullMessageRequest *p, const char *topic, int qid, int64_t offset,
                      const char *sub, int64_t suspend_ms)
{
    rill__pull_message_request__init(p);
    p->consumer_group = "cg";
    p->topic = (char *)topic;
    p->queue_id = qid;
    p->queue_offset = offset;
    p->max_msg_nums = 32;
    p->subscription = (char *)(sub ? sub : "*");
    p->suspend_timeout_ms = suspend_ms;
    p->commit_offset = -1;
}

static Rill__Response *pull(tb_t *b, const char *topic, int qid, int64_t offset, const char *sub,
                            int64_t suspend_ms)
{
    Rill__PullMessageRequest p;
    fill_pull(&p, topic, qid, offset, sub, suspend_ms);
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__PULL_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_PULL_MESSAGE;
    req.pull_message = &p;
    Rill__Response *resp = NULL;
    int rc = rpc_client_call(b->cli, &req, (uint32_t)suspend_ms + CALL_MS, &resp);
    cr_assert_eq(rc, 0, "pull failed: %d", rc);
    return resp;
}

/* Decoded bodies of a run of records, appended to out (as NUL-terminated strings). */
static int decode_bodies(const uint8_t *p, size_t len, char out[][64], int max, int n)
{
    size_t pos = 0;
    while (pos < len) {
        record_view_t v;
        cr_assert_eq(record_decode(p + pos, len - pos, &v), 0);
        cr_assert_eq(v.kind, RECORD_KIND_MSG);
        cr_assert_lt(n, max);
        snprintf(out[n], 64, "%.*s", (int)v.body_len, (const char *)v.body);
        n++;
        pos += v.total_size;
    }
    return n;
}

/* Pull from offset until want messages arrived (bounded); returns the count, bodies in out. */
static int pull_all(tb_t *b, const char *topic, int qid, const char *sub, int want, char out[][64],
                    int max, int64_t *next)
{
    int n = 0;
    int64_t offset = 0;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (n < want && rill_mono_ms() < deadline) {
        Rill__Response *resp = pull(b, topic, qid, offset, sub, 500);
        cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_PULL_MESSAGE, "pull: %d %s", resp->code,
                     resp->remark);
        Rill__PullMessageResponse *pm = resp->pull_message;
        if (resp->code == RILL__RESPONSE_CODE__SUCCESS) {
            n = decode_bodies(pm->records.data, pm->records.len, out, max, n);
            cr_assert_eq(pm->msg_count > 0, true);
        } else {
            cr_assert(resp->code == RILL__RESPONSE_CODE__PULL_NOT_FOUND ||
                          resp->code == RILL__RESPONSE_CODE__PULL_RETRY_IMMEDIATELY,
                      "pull code %d %s", resp->code, resp->remark);
        }
        offset = pm->next_begin_offset;
        rpc_response_free(resp);
    }
    if (next)
        *next = offset;
    return n;
}

/* ---- tests ---- */

Test(broker, send_pull_round_trip)
{
    tb_t b = {0};
    start(&b, NULL);
    char id[40];
    for (int i = 0; i < 3; i++) {
        char text[16];
        snprintf(text, sizeof(text), "m%d", i);
        msg_spec_t s = {.topic = "RoundTrip",
                        .tags = "TagA",
                        .keys = "k1 k2",
                        .uniq = "U1",
                        .body = text,
                        .body_len = strlen(text),
                        .queue_id = 1};
        cr_assert_eq(send_ok(&b, &s, id), i);
    }
    char bodies[8][64];
    int64_t next = 0;
    cr_assert_eq(pull_all(&b, "RoundTrip", 1, "*", 3, bodies, 8, &next), 3);
    cr_assert_str_eq(bodies[0], "m0");
    cr_assert_str_eq(bodies[2], "m2");
    cr_assert_eq(next, 3);

    /* the record carries the properties the broker built */
    Rill__Response *resp = pull(&b, "RoundTrip", 1, 0, "*", 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    record_view_t v;
    cr_assert_eq(
        record_decode(resp->pull_message->records.data, resp->pull_message->records.len, &v), 0);
    const char *val;
    size_t vlen;
    cr_assert_eq(rill_props_get(v.props, v.props_len, RILL_PROP_TAGS, &val, &vlen), 0);
    cr_assert_eq(vlen, 4);
    cr_assert_eq(memcmp(val, "TagA", 4), 0);
    cr_assert_eq(rill_props_get(v.props, v.props_len, RILL_PROP_UNIQ_KEY, &val, &vlen), 0);
    cr_assert_eq(v.born_port, 4000);
    cr_assert_eq(v.store_port, b.port);
    cr_assert_eq(resp->pull_message->min_offset, 0);
    cr_assert_eq(resp->pull_message->max_offset, 3);
    rpc_response_free(resp);

    /* at the end: PULL_NOT_FOUND; past it: PULL_OFFSET_MOVED back to 3 */
    resp = pull(&b, "RoundTrip", 1, 3, "*", 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__PULL_NOT_FOUND);
    cr_assert_eq(resp->pull_message->next_begin_offset, 3);
    rpc_response_free(resp);
    resp = pull(&b, "RoundTrip", 1, 10, "*", 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__PULL_OFFSET_MOVED);
    cr_assert_eq(resp->pull_message->next_begin_offset, 3);
    rpc_response_free(resp);
    /* an empty queue at offset 0: not found; at 5: moved */
    cr_assert_eq(code_of(pull(&b, "RoundTrip", 2, 0, "*", 0)), RILL__RESPONSE_CODE__PULL_NOT_FOUND);
    cr_assert_eq(code_of(pull(&b, "RoundTrip", 2, 5, "*", 0)),
                 RILL__RESPONSE_CODE__PULL_OFFSET_MOVED);
    finish(&b);
}

static Rill__Response *send_batch(tb_t *b, const char *topic, int qid, const char *const *texts,
                                  size_t n)
{
    Rill__Message ms[16];
    Rill__Message *mp[16];
    cr_assert_leq(n, 16);
    for (size_t i = 0; i < n; i++) {
        msg_spec_t s = {.topic = "", .body = texts[i], .body_len = strlen(texts[i])};
        fill_message(&ms[i], NULL, NULL, &s);
        mp[i] = &ms[i];
    }
    Rill__SendBatchRequest body = RILL__SEND_BATCH_REQUEST__INIT;
    body.producer_group = "pg";
    body.topic = (char *)topic;
    body.queue_id = qid;
    body.n_messages = n;
    body.messages = mp;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__SEND_BATCH_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_SEND_BATCH;
    req.send_batch = &body;
    return call(b, &req);
}

Test(broker, batch_all_or_nothing)
{
    tb_t b = {0};
    start(&b, NULL);
    const char *texts[] = {"b0", "b1", "b2", "b3", "b4"};
    Rill__Response *resp = send_batch(&b, "Batch", 0, texts, 5);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "%s", resp->remark);
    cr_assert_eq(resp->send_batch->n_msg_ids, 5);
    cr_assert_eq(resp->send_batch->first_queue_offset, 0);
    cr_assert_str_neq(resp->send_batch->msg_ids[0], resp->send_batch->msg_ids[1]);
    rpc_response_free(resp);

    /* one empty body refuses the whole batch */
    const char *bad[] = {"c0", "", "c2"};
    resp = send_batch(&b, "Batch", 0, bad, 3);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert(strstr(resp->remark, "message 1") != NULL, "%s", resp->remark);
    rpc_response_free(resp);

    char bodies[16][64];
    int64_t next;
    cr_assert_eq(pull_all(&b, "Batch", 0, "*", 5, bodies, 16, &next), 5);
    cr_assert_str_eq(bodies[4], "b4");
    cr_assert_eq(next, 5, "the refused batch left nothing behind");
    /* queue id -1: the broker picks one */
    resp = send_batch(&b, "Batch", -1, texts, 2);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert(resp->send_batch->queue_id >= 0 && resp->send_batch->queue_id < 4);
    rpc_response_free(resp);
    finish(&b);
}

Test(broker, tag_filter)
{
    tb_t b = {0};
    start(&b, NULL);
    send_text(&b, "Tags", 0, "TagA", "a1");
    send_text(&b, "Tags", 0, "TagB", "b1");
    send_text(&b, "Tags", 0, "TagA", "a2");
    send_text(&b, "Tags", 0, NULL, "none");
    char bodies[8][64];
    cr_assert_eq(pull_all(&b, "Tags", 0, "TagA", 2, bodies, 8, NULL), 2);
    cr_assert_str_eq(bodies[0], "a1");
    cr_assert_str_eq(bodies[1], "a2");
    cr_assert_eq(pull_all(&b, "Tags", 0, "TagB || TagC", 1, bodies, 8, NULL), 1);
    cr_assert_str_eq(bodies[0], "b1");
    cr_assert_eq(pull_all(&b, "Tags", 0, "*", 4, bodies, 8, NULL), 4); /* all dispatched */
    /* everything read filtered out: retry immediately with the offset moved on */
    Rill__Response *resp = pull(&b, "Tags", 0, 0, "TagZ", 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__PULL_RETRY_IMMEDIATELY);
    cr_assert_eq(resp->pull_message->next_begin_offset, 4);
    rpc_response_free(resp);
    cr_assert_eq(code_of(pull(&b, "Tags", 0, 0, "A ||", 0)), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    finish(&b);
}

typedef struct {
    pthread_mutex_t lock;
    int done, rc, code, count;
    uint64_t at_ms;
} async_pull_t;

static void on_pull(int rc, Rill__Response *resp, void *arg)
{
    async_pull_t *a = arg;
    pthread_mutex_lock(&a->lock);
    a->rc = rc;
    if (resp) {
        a->code = resp->code;
        if (resp->body_case == RILL__RESPONSE__BODY_PULL_MESSAGE)
            a->count = resp->pull_message->msg_count;
    }
    a->at_ms = rill_mono_ms();
    a->done = 1;
    pthread_mutex_unlock(&a->lock);
    rpc_response_free(resp);
}

static int async_done(async_pull_t *a)
{
    pthread_mutex_lock(&a->lock);
    int d = a->done;
    pthread_mutex_unlock(&a->lock);
    return d;
}

Test(broker, long_poll_woken_by_send)
{
    tb_t b = {0};
    start(&b, NULL);
    cr_assert_eq(create_topic(&b, "Poll", 2, 6), RILL__RESPONSE_CODE__SUCCESS);
    async_pull_t a = {.lock = PTHREAD_MUTEX_INITIALIZER};
    Rill__PullMessageRequest p;
    fill_pull(&p, "Poll", 1, 0, "*", 10000);
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__PULL_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_PULL_MESSAGE;
    req.pull_message = &p;
    cr_assert_eq(rpc_client_call_async(b.cli, &req, 20000, on_pull, &a), 0);
    rill_sleep_ms(300);
    cr_assert_eq(async_done(&a), 0, "the pull was parked");
    /* a send to another queue does not wake it */
    send_text(&b, "Poll", 0, NULL, "other");
    rill_sleep_ms(200);
    cr_assert_eq(async_done(&a), 0);
    uint64_t sent = rill_mono_ms();
    send_text(&b, "Poll", 1, NULL, "wake");
    for (int i = 0; i < WAIT_MS / POLL_MS && !async_done(&a); i++)
        rill_sleep_ms(POLL_MS);
    cr_assert_eq(async_done(&a), 1);
    cr_assert_eq(a.rc, 0);
    cr_assert_eq(a.code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(a.count, 1);
    cr_assert_lt(a.at_ms - sent, 3000, "woken by the dispatch, not the deadline");
    finish(&b);
}

Test(broker, long_poll_times_out_empty)
{
    tb_t b = {0};
    start(&b, NULL);
    cr_assert_eq(create_topic(&b, "PollEmpty", 1, 6), RILL__RESPONSE_CODE__SUCCESS);
    uint64_t t0 = rill_mono_ms();
    Rill__Response *resp = pull(&b, "PollEmpty", 0, 0, "*", 800);
    uint64_t took = rill_mono_ms() - t0;
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__PULL_NOT_FOUND);
    cr_assert_eq(resp->pull_message->next_begin_offset, 0);
    rpc_response_free(resp);
    cr_assert_geq(took, 750);
    cr_assert_lt(took, 4000);
    /* the suspend is capped by brokerSuspendMaxTimeMillis (set to 300 ms here) */
    finish(&b);
    tb_t c = {0};
    const char *extra[] = {"--brokerSuspendMaxTimeMillis=300", NULL};
    start(&c, extra);
    cr_assert_eq(create_topic(&c, "PollEmpty", 1, 6), RILL__RESPONSE_CODE__SUCCESS);
    t0 = rill_mono_ms();
    cr_assert_eq(code_of(pull(&c, "PollEmpty", 0, 0, "*", 5000)),
                 RILL__RESPONSE_CODE__PULL_NOT_FOUND);
    cr_assert_lt(rill_mono_ms() - t0, 2500);
    finish(&c);
}

Test(broker, perms)
{
    tb_t b = {0};
    start(&b, NULL);
    cr_assert_eq(create_topic(&b, "WriteOnly", 2, 2), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(create_topic(&b, "ReadOnly", 2, 4), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(send_code(&b, "WriteOnly", 0, "x"), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(code_of(pull(&b, "WriteOnly", 0, 0, "*", 0)), RILL__RESPONSE_CODE__NO_PERMISSION);
    cr_assert_eq(send_code(&b, "ReadOnly", 0, "x"), RILL__RESPONSE_CODE__NO_PERMISSION);
    cr_assert_eq(code_of(pull(&b, "ReadOnly", 0, 0, "*", 0)), RILL__RESPONSE_CODE__PULL_NOT_FOUND);
    /* update to read-write: sends work */
    cr_assert_eq(create_topic(&b, "ReadOnly", 2, 6), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(send_code(&b, "ReadOnly", 0, "x"), RILL__RESPONSE_CODE__SUCCESS);
    /* bad perm and queue counts */
    cr_assert_eq(create_topic(&b, "BadPerm", 2, 3), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(create_topic(&b, "BadQueues", 5000, 6), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(create_topic(&b, "TBW102", 2, 6), RILL__RESPONSE_CODE__NO_PERMISSION);
    finish(&b);
}

static bool topic_listed(tb_t *b, const char *name, int *queues)
{
    Rill__GetTopicListRequest body = RILL__GET_TOPIC_LIST_REQUEST__INIT;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_ALL_TOPIC_CONFIG;
    req.body_case = RILL__REQUEST__BODY_GET_TOPIC_LIST;
    req.get_topic_list = &body;
    Rill__Response *resp = call(b, &req);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    bool found = false;
    for (size_t i = 0; i < resp->topic_list->n_topics; i++) {
        if (strcmp(resp->topic_list->topics[i]->topic_name, name) == 0) {
            found = true;
            if (queues)
                *queues = resp->topic_list->topics[i]->write_queue_nums;
        }
    }
    rpc_response_free(resp);
    return found;
}

static int delete_topic(tb_t *b, const char *name)
{
    Rill__DeleteTopicRequest body = RILL__DELETE_TOPIC_REQUEST__INIT;
    body.topic = (char *)name;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__DELETE_TOPIC_IN_BROKER;
    req.body_case = RILL__REQUEST__BODY_DELETE_TOPIC;
    req.delete_topic = &body;
    return code_of(call(b, &req));
}

Test(broker, auto_create_on)
{
    tb_t b = {0};
    const char *extra[] = {"--defaultTopicQueueNums=3", NULL};
    start(&b, extra);
    cr_assert_eq(topic_listed(&b, "Auto1", NULL), false);
    cr_assert_eq(send_code(&b, "Auto1", -1, "x"), RILL__RESPONSE_CODE__SUCCESS);
    int q = 0;
    cr_assert_eq(topic_listed(&b, "Auto1", &q), true);
    cr_assert_eq(q, 3);
    cr_assert_eq(send_code(&b, "Auto1", 3, "x"), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(delete_topic(&b, "Auto1"), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(topic_listed(&b, "Auto1", NULL), false);
    cr_assert_eq(delete_topic(&b, "Auto1"), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    finish(&b);
}

Test(broker, auto_create_off)
{
    tb_t b = {0};
    const char *extra[] = {"--autoCreateTopicEnable=false", NULL};
    start(&b, extra);
    cr_assert_eq(send_code(&b, "NoSuch", -1, "x"), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    cr_assert_eq(topic_listed(&b, "NoSuch", NULL), false);
    cr_assert_eq(code_of(pull(&b, "NoSuch", 0, 0, "*", 0)), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    cr_assert_eq(create_topic(&b, "NoSuch", 1, 6), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(send_code(&b, "NoSuch", -1, "x"), RILL__RESPONSE_CODE__SUCCESS);
    finish(&b);
}

static int commit_offset(tb_t *b, const char *group, const char *topic, int qid, int64_t off)
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
    return code_of(call(b, &req));
}

/* Committed offset, or -code when the query did not succeed. */
static int64_t query_offset(tb_t *b, const char *group, const char *topic, int qid)
{
    Rill__QueryConsumerOffsetRequest body = RILL__QUERY_CONSUMER_OFFSET_REQUEST__INIT;
    body.consumer_group = (char *)group;
    body.topic = (char *)topic;
    body.queue_id = qid;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__QUERY_CONSUMER_OFFSET;
    req.body_case = RILL__REQUEST__BODY_QUERY_CONSUMER_OFFSET;
    req.query_consumer_offset = &body;
    Rill__Response *resp = call(b, &req);
    int64_t r = resp->code == 0 ? resp->query_consumer_offset->offset : -(int64_t)resp->code;
    rpc_response_free(resp);
    return r;
}

Test(broker, consumer_offsets_and_progress)
{
    tb_t b = {0};
    start(&b, NULL);
    for (int i = 0; i < 5; i++)
        send_text(&b, "Offsets", 0, NULL, "x");
    cr_assert_eq(query_offset(&b, "cg1", "Offsets", 0), -RILL__RESPONSE_CODE__QUERY_NOT_FOUND);
    cr_assert_eq(commit_offset(&b, "cg1", "Offsets", 0, 2), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(query_offset(&b, "cg1", "Offsets", 0), 2);
    cr_assert_eq(commit_offset(&b, "cg1", "Offsets", 0, 3), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(query_offset(&b, "cg1", "Offsets", 0), 3);
    cr_assert_eq(commit_offset(&b, "cg1", "Offsets", 9, 3), RILL__RESPONSE_CODE__SYSTEM_ERROR);
    cr_assert_eq(commit_offset(&b, "cg1", "Nope", 0, 3), RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    cr_assert_eq(commit_offset(&b, "bad group", "Offsets", 0, 3),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);

    /* progress: lag = max offset 5 - committed 3 (after dispatch) */
    int64_t lag = -1;
    for (int i = 0; i < WAIT_MS / POLL_MS && lag != 2; i++) {
        Rill__ConsumerProgressRequest body = RILL__CONSUMER_PROGRESS_REQUEST__INIT;
        body.consumer_group = "cg1";
        body.topic = "";
        Rill__Request req = RILL__REQUEST__INIT;
        req.code = RILL__REQUEST_CODE__GET_CONSUME_STATS;
        req.body_case = RILL__REQUEST__BODY_CONSUMER_PROGRESS;
        req.consumer_progress = &body;
        Rill__Response *resp = call(&b, &req);
        cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "%s", resp->remark);
        cr_assert_eq(resp->consumer_progress->n_queues, 1);
        Rill__QueueProgress *q = resp->consumer_progress->queues[0];
        cr_assert_eq(q->consumer_offset, 3);
        lag = q->lag;
        if (lag == 2) {
            cr_assert_eq(q->broker_offset, 5);
            cr_assert_eq(resp->consumer_progress->total_lag, 2);
            cr_assert_gt(q->last_timestamp_ms, 0);
        }
        rpc_response_free(resp);
        if (lag != 2)
            rill_sleep_ms(POLL_MS);
    }
    cr_assert_eq(lag, 2);

    /* groups: create, list, delete (which drops the group's offsets) */
    Rill__SubscriptionGroupConfig g = RILL__SUBSCRIPTION_GROUP_CONFIG__INIT;
    g.group_name = "cg1";
    g.consume_enable = true;
    g.retry_max_times = 16;
    Rill__UpdateGroupRequest ub = RILL__UPDATE_GROUP_REQUEST__INIT;
    ub.group = &g;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UPDATE_AND_CREATE_SUBSCRIPTIONGROUP;
    req.body_case = RILL__REQUEST__BODY_UPDATE_GROUP;
    req.update_group = &ub;
    cr_assert_eq(code_of(call(&b, &req)), RILL__RESPONSE_CODE__SUCCESS);
    Rill__GetGroupListRequest lb = RILL__GET_GROUP_LIST_REQUEST__INIT;
    Rill__Request lreq = RILL__REQUEST__INIT;
    lreq.code = RILL__REQUEST_CODE__GET_ALL_SUBSCRIPTIONGROUP_CONFIG;
    lreq.body_case = RILL__REQUEST__BODY_GET_GROUP_LIST;
    lreq.get_group_list = &lb;
    Rill__Response *resp = call(&b, &lreq);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(resp->group_list->n_groups, 1);
    cr_assert_str_eq(resp->group_list->groups[0]->group_name, "cg1");
    cr_assert_eq(resp->group_list->groups[0]->retry_max_times, 16);
    rpc_response_free(resp);
    Rill__DeleteGroupRequest db = RILL__DELETE_GROUP_REQUEST__INIT;
    db.group_name = "cg1";
    Rill__Request dreq = RILL__REQUEST__INIT;
    dreq.code = RILL__REQUEST_CODE__DELETE_SUBSCRIPTIONGROUP;
    dreq.body_case = RILL__REQUEST__BODY_DELETE_GROUP;
    dreq.delete_group = &db;
    cr_assert_eq(code_of(call(&b, &dreq)), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(code_of(call(&b, &dreq)), RILL__RESPONSE_CODE__SUBSCRIPTION_GROUP_NOT_EXIST);
    cr_assert_eq(query_offset(&b, "cg1", "Offsets", 0), -RILL__RESPONSE_CODE__QUERY_NOT_FOUND);
    finish(&b);
}

static Rill__Response *view_by_id(tb_t *b, const char *id)
{
    Rill__ViewMessageByIdRequest body = RILL__VIEW_MESSAGE_BY_ID_REQUEST__INIT;
    body.msg_id = (char *)id;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__VIEW_MESSAGE_BY_ID;
    req.body_case = RILL__REQUEST__BODY_VIEW_MESSAGE_BY_ID;
    req.view_message_by_id = &body;
    return call(b, &req);
}

static Rill__Response *query_key(tb_t *b, const char *topic, const char *key)
{
    Rill__QueryMessageByKeyRequest body = RILL__QUERY_MESSAGE_BY_KEY_REQUEST__INIT;
    body.topic = (char *)topic;
    body.key = (char *)key;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__QUERY_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_QUERY_MESSAGE_BY_KEY;
    req.query_message_by_key = &body;
    return call(b, &req);
}

static Rill__Response *queue_req(tb_t *b, int code, const char *topic, int qid)
{
    Rill__QueueRequest body = RILL__QUEUE_REQUEST__INIT;
    body.topic = (char *)topic;
    body.queue_id = qid;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = code;
    req.body_case = RILL__REQUEST__BODY_QUEUE;
    req.queue = &body;
    return call(b, &req);
}

Test(broker, queries)
{
    tb_t b = {0};
    start(&b, NULL);
    uint64_t t0 = rill_now_ms();
    char id[40];
    msg_spec_t s = {.topic = "Query",
                    .keys = "order-1 order-2",
                    .uniq = "UNIQ-ABC",
                    .body = "hello",
                    .body_len = 5};
    send_ok(&b, &s, id);
    send_text(&b, "Query", 0, NULL, "second");

    /* by msgId: decodable, no index needed */
    Rill__Response *resp = view_by_id(&b, id);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "%s", resp->remark);
    record_view_t v;
    cr_assert_eq(record_decode(resp->view_message->record.data, resp->view_message->record.len, &v),
                 0);
    cr_assert_eq(v.body_len, 5);
    cr_assert_eq(memcmp(v.body, "hello", 5), 0);
    rpc_response_free(resp);
    cr_assert_eq(code_of(view_by_id(&b, "xyz")), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(code_of(view_by_id(&b, "7F00000100002AA70000000000FFFFF0")),
                 RILL__RESPONSE_CODE__QUERY_NOT_FOUND);

    /* by key and by UNIQ_KEY, once dispatched */
    int code = -1, count = 0;
    for (int i = 0; i < WAIT_MS / POLL_MS && code != 0; i++) {
        resp = query_key(&b, "Query", "order-2");
        code = resp->code;
        if (code == 0)
            count = resp->query_message->msg_count;
        rpc_response_free(resp);
        if (code != 0)
            rill_sleep_ms(POLL_MS);
    }
    cr_assert_eq(code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(count, 1);
    resp = query_key(&b, "Query", "UNIQ-ABC");
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(resp->query_message->msg_count, 1);
    rpc_response_free(resp);
    cr_assert_eq(code_of(query_key(&b, "Query", "order-9")), RILL__RESPONSE_CODE__QUERY_NOT_FOUND);

    /* by time range */
    Rill__QueryMessageByTimeRequest tb = RILL__QUERY_MESSAGE_BY_TIME_REQUEST__INIT;
    tb.topic = "Query";
    tb.begin_timestamp_ms = (int64_t)t0 - 1000;
    tb.end_timestamp_ms = (int64_t)rill_now_ms() + 1000;
    Rill__Request treq = RILL__REQUEST__INIT;
    treq.code = RILL__REQUEST_CODE__QUERY_MESSAGE_BY_TIME;
    treq.body_case = RILL__REQUEST__BODY_QUERY_MESSAGE_BY_TIME;
    treq.query_message_by_time = &tb;
    count = 0;
    for (int i = 0; i < WAIT_MS / POLL_MS && count != 2; i++) {
        resp = call(&b, &treq);
        cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
        count = resp->query_message->msg_count;
        rpc_response_free(resp);
        if (count != 2)
            rill_sleep_ms(POLL_MS); /* the second message may not be dispatched yet */
    }
    cr_assert_eq(count, 2);

    /* by queue offset */
    Rill__QueryMessageByOffsetRequest ob = RILL__QUERY_MESSAGE_BY_OFFSET_REQUEST__INIT;
    ob.topic = "Query";
    ob.queue_id = 0;
    ob.queue_offset = 1;
    Rill__Request oreq = RILL__REQUEST__INIT;
    oreq.code = RILL__REQUEST_CODE__QUERY_MESSAGE_BY_OFFSET;
    oreq.body_case = RILL__REQUEST__BODY_QUERY_MESSAGE_BY_OFFSET;
    oreq.query_message_by_offset = &ob;
    resp = call(&b, &oreq);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(record_decode(resp->view_message->record.data, resp->view_message->record.len, &v),
                 0);
    cr_assert_eq(memcmp(v.body, "second", 6), 0);
    rpc_response_free(resp);
    ob.queue_offset = 7;
    cr_assert_eq(code_of(call(&b, &oreq)), RILL__RESPONSE_CODE__QUERY_NOT_FOUND);

    /* queue offsets and times */
    resp = queue_req(&b, RILL__REQUEST_CODE__GET_MAX_OFFSET, "Query", 0);
    cr_assert_eq(resp->code, 0);
    cr_assert_eq(resp->offset->offset, 2);
    rpc_response_free(resp);
    resp = queue_req(&b, RILL__REQUEST_CODE__GET_MIN_OFFSET, "Query", 0);
    cr_assert_eq(resp->offset->offset, 0);
    rpc_response_free(resp);
    resp = queue_req(&b, RILL__REQUEST_CODE__GET_EARLIEST_MSG_STORETIME, "Query", 0);
    cr_assert_eq(resp->code, 0);
    cr_assert_geq(resp->offset->offset, (int64_t)t0 - 5);
    rpc_response_free(resp);
    resp = queue_req(&b, RILL__REQUEST_CODE__GET_QUEUE_STATS, "Query", 0);
    cr_assert_eq(resp->code, 0);
    cr_assert_eq(resp->queue_stats->max_offset, 2);
    cr_assert_geq(resp->queue_stats->last_store_timestamp_ms, (int64_t)t0 - 5);
    rpc_response_free(resp);
    cr_assert_eq(code_of(queue_req(&b, RILL__REQUEST_CODE__GET_MAX_OFFSET, "Query", 9)),
                 RILL__RESPONSE_CODE__SYSTEM_ERROR);

    /* search by timestamp: before everything -> 0, after everything -> max */
    Rill__SearchOffsetByTimestampRequest sb = RILL__SEARCH_OFFSET_BY_TIMESTAMP_REQUEST__INIT;
    sb.topic = "Query";
    sb.queue_id = 0;
    sb.timestamp_ms = (int64_t)t0 - 60000;
    Rill__Request sreq = RILL__REQUEST__INIT;
    sreq.code = RILL__REQUEST_CODE__SEARCH_OFFSET_BY_TIMESTAMP;
    sreq.body_case = RILL__REQUEST__BODY_SEARCH_OFFSET_BY_TIMESTAMP;
    sreq.search_offset_by_timestamp = &sb;
    resp = call(&b, &sreq);
    cr_assert_eq(resp->code, 0);
    cr_assert_eq(resp->offset->offset, 0);
    rpc_response_free(resp);
    sb.timestamp_ms = (int64_t)rill_now_ms() + 60000;
    resp = call(&b, &sreq);
    cr_assert_eq(resp->offset->offset, 2);
    rpc_response_free(resp);

    /* runtime stats */
    Rill__GetRuntimeStatsRequest rb = RILL__GET_RUNTIME_STATS_REQUEST__INIT;
    Rill__Request rreq = RILL__REQUEST__INIT;
    rreq.code = RILL__REQUEST_CODE__GET_BROKER_RUNTIME_INFO;
    rreq.body_case = RILL__REQUEST__BODY_GET_RUNTIME_STATS;
    rreq.get_runtime_stats = &rb;
    resp = call(&b, &rreq);
    cr_assert_eq(resp->code, 0);
    cr_assert_eq(resp->runtime_stats->put_total, 2);
    cr_assert_gt(resp->runtime_stats->commitlog_max_offset, 0);
    cr_assert_gt(resp->runtime_stats->uptime_ms, 0);
    cr_assert_str_eq(resp->runtime_stats->broker_version, "rill-0.1.0");
    rpc_response_free(resp);
    finish(&b);
}

Test(broker, restart_keeps_messages_and_offsets)
{
    tb_t b = {0};
    start(&b, NULL);
    cr_assert_eq(create_topic(&b, "Durable", 2, 6), RILL__RESPONSE_CODE__SUCCESS);
    for (int i = 0; i < 10; i++) {
        char text[16];
        snprintf(text, sizeof(text), "d%d", i);
        send_text(&b, "Durable", 1, NULL, text);
    }
    cr_assert_eq(commit_offset(&b, "cg", "Durable", 1, 4), RILL__RESPONSE_CODE__SUCCESS);
    stop_keep(&b);
    start(&b, NULL); /* same port, same data dir */
    int q = 0;
    cr_assert_eq(topic_listed(&b, "Durable", &q), true);
    cr_assert_eq(q, 2);
    char bodies[16][64];
    cr_assert_eq(pull_all(&b, "Durable", 1, "*", 10, bodies, 16, NULL), 10);
    cr_assert_str_eq(bodies[9], "d9");
    cr_assert_eq(query_offset(&b, "cg", "Durable", 1), 4);
    /* appends continue after the old ones */
    msg_spec_t s = {.topic = "Durable", .body = "d10", .body_len = 3, .queue_id = 1};
    cr_assert_eq(send_ok(&b, &s, NULL), 10);
    finish(&b);
}

Test(broker, kill9_sync_flush_loses_no_acked_message)
{
    tb_t b = {0};
    const char *extra[] = {"--flushDiskType=SYNC_FLUSH", "--flushIntervalCommitLog=60000",
                           "--flushCommitLogThoroughInterval=600000", NULL};
    start(&b, extra);
    cr_assert_eq(create_topic(&b, "Sync", 1, 6), RILL__RESPONSE_CODE__SUCCESS);
    for (int i = 0; i < 20; i++) {
        char text[16];
        snprintf(text, sizeof(text), "s%d", i);
        send_text(&b, "Sync", 0, NULL, text);
    }
    const char *texts[] = {"sb0", "sb1", "sb2"};
    Rill__Response *resp = send_batch(&b, "Sync", 0, texts, 3);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    rpc_response_free(resp);
    cr_assert_eq(hv_signal(&b.proc, SIGKILL), 0);
    cr_assert_eq(hv_wait_exit(&b.proc, 10000), 0);
    cr_assert_eq(b.proc.exit_code, 128 + SIGKILL);
    hv_stop(&b.proc); /* reaped already: removes its temp dir */
    start(&b, extra);
    char bodies[32][64];
    cr_assert_eq(pull_all(&b, "Sync", 0, "*", 23, bodies, 32, NULL), 23);
    cr_assert_str_eq(bodies[19], "s19");
    cr_assert_str_eq(bodies[22], "sb2");
    finish(&b);
}

/* Send raw bytes with nng and decode the reply. */
static Rill__Response *raw_call(tb_t *b, const void *bytes, size_t len)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, CALL_MS), 0);
    char url[64];
    broker_url(b, url, sizeof(url));
    cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
    cr_assert_eq(nng_send(s, (void *)bytes, len, 0), 0);
    void *buf = NULL;
    size_t n = 0;
    cr_assert_eq(nng_recv(s, &buf, &n, NNG_FLAG_ALLOC), 0);
    Rill__Response *resp = rill__response__unpack(NULL, n, buf);
    nng_free(buf, n);
    nng_close(s);
    cr_assert_not_null(resp);
    return resp;
}

Test(broker, bad_input)
{
    tb_t b = {0};
    const char *extra[] = {"--maxMessageSize=1024", NULL};
    start(&b, extra);
    /* malformed protobuf */
    Rill__Response *resp = raw_call(&b, "\xff\xff\xff\xff\x0f garbage", 13);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SYSTEM_ERROR);
    rill__response__free_unpacked(resp, NULL);
    /* a SEND_MESSAGE code with the wrong body */
    Rill__PingRequest ping = RILL__PING_REQUEST__INIT;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__SEND_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_PING;
    req.ping = &ping;
    resp = call(&b, &req);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SYSTEM_ERROR);
    rpc_response_free(resp);
    req.code = RILL__REQUEST_CODE__PULL_MESSAGE;
    cr_assert_eq(code_of(call(&b, &req)), RILL__RESPONSE_CODE__SYSTEM_ERROR);
    /* oversized and empty bodies */
    char big[2000];
    memset(big, 'x', sizeof(big));
    msg_spec_t s = {.topic = "Bad", .body = big, .body_len = sizeof(big)};
    resp = send_raw(&b, &s);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert(strstr(resp->remark, "maxMessageSize") != NULL, "%s", resp->remark);
    rpc_response_free(resp);
    s.body_len = 1024; /* exactly the limit is fine */
    cr_assert_eq(code_of(send_raw(&b, &s)), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(send_code(&b, "Bad", 0, ""), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    /* illegal topic names */
    cr_assert_eq(send_code(&b, "bad topic!", 0, "x"), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(send_code(&b, "", 0, "x"), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    char longname[200];
    memset(longname, 'a', 128);
    longname[128] = '\0';
    cr_assert_eq(send_code(&b, longname, 0, "x"), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    longname[127] = '\0'; /* 127 characters are allowed */
    cr_assert_eq(send_code(&b, longname, 0, "x"), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(create_topic(&b, "a/b", 1, 6), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    /* reserved topic */
    cr_assert_eq(send_code(&b, "SCHEDULE_TOPIC_XXXX", 0, "x"), RILL__RESPONSE_CODE__NO_PERMISSION);
    /* queue id out of range */
    cr_assert_eq(send_code(&b, "Bad", 4, "x"), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(send_code(&b, "Bad", 400, "x"), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(code_of(pull(&b, "Bad", 4, 0, "*", 0)), RILL__RESPONSE_CODE__SYSTEM_ERROR);
    cr_assert_eq(code_of(pull(&b, "Bad", 0, -1, "*", 0)), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    /* an unknown request code */
    req.code = 999;
    cr_assert_eq(code_of(call(&b, &req)), RILL__RESPONSE_CODE__REQUEST_CODE_NOT_SUPPORTED);
    /* still serving */
    cr_assert_eq(send_code(&b, "Bad", 0, "fine"), RILL__RESPONSE_CODE__SUCCESS);
    finish(&b);
}

Test(broker, registers_with_namesrv)
{
    hv_proc_t ns;
    cr_assert_eq(hv_start_namesrv(&ns, NULL), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ns.port);
    tb_t b = {0};
    const char *extra[] = {"-n", addr, "--registerNameServerPeriod=500", NULL};
    start(&b, extra);
    cr_assert_eq(create_topic(&b, "Routed", 3, 6), RILL__RESPONSE_CODE__SUCCESS);
    rpc_client_t *nc = NULL;
    cr_assert_eq(rpc_client_open(&nc, ns.url, NULL), 0);
    Rill__GetRouteInfoRequest body = RILL__GET_ROUTE_INFO_REQUEST__INIT;
    body.topic = "Routed";
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_ROUTEINFO_BY_TOPIC;
    req.body_case = RILL__REQUEST__BODY_GET_ROUTE_INFO;
    req.get_route_info = &body;
    int code = -1;
    for (int i = 0; i < WAIT_MS / POLL_MS && code != 0; i++) {
        Rill__Response *resp = NULL;
        cr_assert_eq(rpc_client_call(nc, &req, CALL_MS, &resp), 0);
        code = resp->code;
        if (code == 0) {
            cr_assert_eq(resp->topic_route->n_queue_datas, 1);
            cr_assert_eq(resp->topic_route->queue_datas[0]->write_queue_nums, 3);
            cr_assert_str_eq(resp->topic_route->queue_datas[0]->broker_name, "broker-a");
        }
        rpc_response_free(resp);
        if (code != 0)
            rill_sleep_ms(POLL_MS);
    }
    cr_assert_eq(code, RILL__RESPONSE_CODE__SUCCESS);
    /* SIGTERM unregisters: the route goes away */
    rpc_client_close(b.cli);
    b.cli = NULL;
    stop_keep(&b);
    for (int i = 0; i < WAIT_MS / POLL_MS && code == 0; i++) {
        Rill__Response *resp = NULL;
        cr_assert_eq(rpc_client_call(nc, &req, CALL_MS, &resp), 0);
        code = resp->code;
        rpc_response_free(resp);
        if (code == 0)
            rill_sleep_ms(POLL_MS);
    }
    cr_assert_eq(code, RILL__RESPONSE_CODE__TOPIC_NOT_EXIST);
    rpc_client_close(nc);
    ts_rmtree(b.data);
    cr_assert_eq(hv_stop(&ns), 0);
}

Test(broker, command_line)
{
    char *out = NULL, *err = NULL;
    const char *print[] = {"--print-config", "-n", "10.0.0.1:9876", "--brokerName=bx", NULL};
    cr_assert_eq(hv_run("rill-broker", print, 10000, &out, &err), 0);
    cr_assert(strstr(out, "storePathRootDir=./data/bx\n") != NULL, "%s", out);
    cr_assert(strstr(out, "namesrvAddr=10.0.0.1:9876\n") != NULL, "%s", out);
    cr_assert(strstr(out, "flushDiskType=ASYNC_FLUSH\n") != NULL, "%s", out);
    free(out);
    free(err);
    const char *bad[] = {"--listenPortt=1", NULL};
    cr_assert_eq(hv_run("rill-broker", bad, 10000, NULL, &err), 2);
    cr_assert(strstr(err, "listenPortt") != NULL, "%s", err);
    free(err);
    const char *badval[] = {"--brokerRole=BOSS", NULL};
    cr_assert_eq(hv_run("rill-broker", badval, 10000, NULL, &err), 2);
    free(err);
    char dir[1024], path[1100];
    ts_mkdtemp(dir, sizeof(dir), "broker-conf");
    snprintf(path, sizeof(path), "%s/broker.conf", dir);
    const char *conf = "brokerName = b1\nflushDisk = SYNC\n";
    cr_assert_eq(ts_write_file(path, conf, strlen(conf)), 0);
    const char *file[] = {"-c", path, NULL};
    cr_assert_eq(hv_run("rill-broker", file, 10000, NULL, &err), 2);
    cr_assert(strstr(err, "broker.conf:2: unknown key 'flushDisk'") != NULL, "%s", err);
    free(err);
    const char *help[] = {"-h", NULL};
    cr_assert_eq(hv_run("rill-broker", help, 10000, &out, NULL), 0);
    cr_assert(strstr(out, "autoCreateTopicEnable") != NULL);
    free(out);
    ts_rmtree(dir);
}
