/*
 * test_client_retry.c - retry and dead letters end to end: librill push
 * consumers against real namesrv and broker processes.
 *
 * Stories: a concurrent listener that answers RECONSUME_LATER three times
 * sees the message again through %RETRY%<group> with reconsume_times 0, 1, 2,
 * 3 and its original topic, then succeeds and sees it no more; with
 * max.reconsume.times=2 a message that always fails is delivered 3 times and
 * then lands in %DLQ%<group> (read back by queue offset, original topic in
 * REAL_TOPIC), is not delivered again, and `rill msg resend MSGID` sends it
 * back to DlqT where it is delivered afresh; an orderly listener retries in place
 * and, past the max, the message goes to the DLQ and the next one is consumed;
 * raw CONSUMER_SEND_MSG_BACK requests get exact refusal codes.
 *
 * The brokers run with short delay levels (200-300 ms).
 */
#include "cluster.h"
#include "common/clock.h"

#include "proto/common.pb-c.h"
#include "rpc/rpc_client.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEEN_MAX 64
#define WAIT_MS  20000

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(client_retry, .fini = suite_fini, .timeout = 60);

static const char *const LEVELS[] = {"--messageDelayLevel=200ms 200ms 200ms 300ms 300ms 300ms",
                                     NULL};

/* What a listener saw; fail_times: how many deliveries of "bad*" bodies fail
 * (-1 = always). */
typedef struct seen {
    pthread_mutex_t lock;
    int fail_times;
    int n;
    char body[SEEN_MAX][32];
    char topic[SEEN_MAX][64];
    int reconsume[SEEN_MAX];
    bool via_retry[SEEN_MAX]; /* RETRY_TOPIC set: came back through %RETRY%<group> */
} seen_t;

static rill_consume_status_t on_msgs(rill_msg_t *const *msgs, size_t n, void *opaque)
{
    seen_t *s = opaque;
    rill_consume_status_t st = RILL_CONSUME_SUCCESS;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *b = rill_msg_body(msgs[i], &len);
        if (s->n < SEEN_MAX && len < sizeof(s->body[0])) {
            memcpy(s->body[s->n], b, len);
            s->body[s->n][len] = '\0';
            snprintf(s->topic[s->n], sizeof(s->topic[0]), "%s", rill_msg_topic(msgs[i]));
            s->reconsume[s->n] = rill_msg_reconsume_times(msgs[i]);
            s->via_retry[s->n] = rill_msg_property(msgs[i], "RETRY_TOPIC") != NULL;
            s->n++;
        }
        if (len >= 3 && memcmp(b, "bad", 3) == 0 &&
            (s->fail_times < 0 || rill_msg_reconsume_times(msgs[i]) < s->fail_times))
            st = RILL_RECONSUME_LATER;
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

static int count(seen_t *s, const char *body)
{
    pthread_mutex_lock(&s->lock);
    int k = 0;
    for (int i = 0; i < s->n; i++)
        k += strcmp(s->body[i], body) == 0;
    pthread_mutex_unlock(&s->lock);
    return k;
}

static void wait_count(seen_t *s, const char *body, int want)
{
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (count(s, body) < want && rill_mono_ms() < deadline)
        rill_sleep_ms(20);
    cr_assert_eq(count(s, body), want, "%s seen %d times, want %d", body, count(s, body), want);
}

static void conf_set(rill_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    cr_assert_eq(rill_conf_set(conf, k, v, err, sizeof err), 0, "%s=%s: %s", k, v, err);
}

static rill_push_consumer_t *consumer(tc_cluster_t *c, const char *group, const char *topic,
                                      seen_t *s, bool orderly, const char *max)
{
    rill_conf_t *conf = tc_conf(c, group);
    conf_set(conf, "consume.from", "FIRST_OFFSET");
    conf_set(conf, "rebalance.interval.ms", "200");
    conf_set(conf, "route.refresh.ms", "200");
    conf_set(conf, "reconsume.delay.ms", "100");
    if (max)
        conf_set(conf, "max.reconsume.times", max);
    rill_push_consumer_t *pc = NULL;
    char err[256];
    cr_assert_eq(rill_push_consumer_new(&pc, conf, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rill_push_consumer_subscribe(pc, topic, "*"), 0);
    if (orderly)
        cr_assert_eq(rill_push_consumer_set_orderly_listener(pc, on_msgs, s), 0);
    else
        cr_assert_eq(rill_push_consumer_set_listener(pc, on_msgs, s), 0);
    cr_assert_eq(rill_push_consumer_start(pc), 0, "%s", rill_last_error());
    return pc;
}

static void send_body(tc_cluster_t *c, const char *topic, const char *body)
{
    rill_producer_t *p = NULL;
    char err[256];
    cr_assert_eq(rill_producer_new(&p, tc_conf(c, "retry_pg"), err, sizeof err), 0, "%s", err);
    rill_msg_t *m = rill_msg_new(topic);
    cr_assert_eq(rill_msg_set_body(m, body, strlen(body)), 0);
    cr_assert_eq(rill_msg_set_tags(m, "tagR"), 0);
    cr_assert_eq(rill_msg_set_property(m, "color", "red"), 0);
    rill_send_result_t res;
    cr_assert_eq(rill_producer_send(p, m, &res), 0, "%s", rill_last_error());
    rill_msg_destroy(m);
    rill_producer_destroy(p);
}

/* The DLQ message at offset off of %DLQ%<group> on broker-a, or NULL (waits). */
static rill_msg_t *dlq_msg(tc_cluster_t *c, const char *group, int64_t off)
{
    rill_admin_t *a = NULL;
    char err[256];
    cr_assert_eq(rill_admin_new(&a, tc_conf(c, "retry_admin"), err, sizeof err), 0, "%s", err);
    rill_queue_t q;
    memset(&q, 0, sizeof q);
    snprintf(q.topic, sizeof q.topic, "%%DLQ%%%s", group);
    snprintf(q.broker_name, sizeof q.broker_name, "broker-a");
    rill_msg_t *m = NULL;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (rill_mono_ms() < deadline && rill_admin_query_msg_by_offset(a, &q, off, &m) != 0)
        rill_sleep_ms(100);
    rill_admin_destroy(a);
    return m;
}

/* The DLQ message at offset 0, without waiting (NULL when none). */
static rill_msg_t *dlq_msg_now(tc_cluster_t *c, const char *group)
{
    rill_admin_t *a = NULL;
    char err[256];
    cr_assert_eq(rill_admin_new(&a, tc_conf(c, "retry_admin"), err, sizeof err), 0, "%s", err);
    rill_queue_t q;
    memset(&q, 0, sizeof q);
    snprintf(q.topic, sizeof q.topic, "%%DLQ%%%s", group);
    snprintf(q.broker_name, sizeof q.broker_name, "broker-a");
    rill_msg_t *m = NULL;
    if (rill_admin_query_msg_by_offset(a, &q, 0, &m) != 0)
        m = NULL;
    rill_admin_destroy(a);
    return m;
}

Test(client_retry, three_failures_then_success_through_retry_topic)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, LEVELS);
    tc_create_topic(&c, "RetryT", 1);
    seen_t s = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail_times = 3};
    rill_push_consumer_t *pc = consumer(&c, "retry_g1", "RetryT", &s, false, NULL);
    send_body(&c, "RetryT", "bad-1");
    send_body(&c, "RetryT", "good-1");
    wait_count(&s, "good-1", 1);
    wait_count(&s, "bad-1", 4);
    rill_sleep_ms(1500); /* nothing more: the success is final */
    cr_assert_eq(count(&s, "bad-1"), 4);
    cr_assert_eq(count(&s, "good-1"), 1);
    pthread_mutex_lock(&s.lock);
    int k = 0;
    for (int i = 0; i < s.n; i++) {
        if (strcmp(s.body[i], "bad-1") != 0)
            continue;
        cr_assert_eq(s.reconsume[i], k, "delivery %d has reconsume_times %d", k, s.reconsume[i]);
        cr_assert_str_eq(s.topic[i], "RetryT", "delivery %d topic %s", k, s.topic[i]);
        cr_assert_eq(s.via_retry[i], k > 0, "delivery %d: through the retry topic: %d", k,
                     (int)s.via_retry[i]);
        k++;
    }
    pthread_mutex_unlock(&s.lock);
    rill_push_consumer_destroy(pc);
    tc_stop(&c);
}

Test(client_retry, max_attempts_into_dlq)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, LEVELS);
    tc_create_topic(&c, "DlqT", 1);
    seen_t s = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail_times = -1};
    rill_push_consumer_t *pc = consumer(&c, "retry_g2", "DlqT", &s, false, "2");
    send_body(&c, "DlqT", "bad-2");
    wait_count(&s, "bad-2", 3);
    rill_msg_t *m = dlq_msg(&c, "retry_g2", 0);
    cr_assert_not_null(m, "no message in %%DLQ%%retry_g2");
    size_t len;
    const char *b = rill_msg_body(m, &len);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(b, "bad-2", 5), 0);
    cr_assert_str_eq(rill_msg_topic(m), "%DLQ%retry_g2");
    cr_assert_str_eq(rill_msg_property(m, "REAL_TOPIC"), "DlqT");
    cr_assert_str_eq(rill_msg_property(m, "RETRY_TOPIC"), "DlqT");
    cr_assert_str_eq(rill_msg_property(m, "color"), "red");
    cr_assert_str_eq(rill_msg_tags(m), "tagR");
    cr_assert_eq(rill_msg_reconsume_times(m), 3);
    cr_assert_not_null(rill_msg_property(m, "ORIGIN_MSG_ID"));
    char id[128];
    snprintf(id, sizeof id, "%s", rill_msg_id(m));
    rill_msg_destroy(m);
    rill_sleep_ms(1000); /* the DLQ is not consumed */
    cr_assert_eq(count(&s, "bad-2"), 3);

    /* `rill msg print -t %DLQ%retry_g2` shows it (a write-only topic) */
    char cmd[512], out[8192];
    snprintf(cmd, sizeof cmd, "%s/rill msg print -t '%%DLQ%%retry_g2' --body -n '%s' 2>&1",
             RILL_BIN_DIR, tc_namesrv_list(&c));
    FILE *pf = popen(cmd, "r");
    cr_assert_not_null(pf);
    size_t got = fread(out, 1, sizeof out - 1, pf);
    out[got] = '\0';
    cr_assert_eq(pclose(pf), 0, "%s: %s", cmd, out);
    cr_assert_not_null(strstr(out, "bad-2"), "%s", out);

    /* `rill msg resend` puts it back on DlqT: delivered afresh (reconsume 0) */
    snprintf(cmd, sizeof cmd, "%s/rill msg resend %s -n '%s' >/dev/null 2>&1", RILL_BIN_DIR, id,
             tc_namesrv_list(&c));
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    /* At least 4: the listener keeps failing "bad" bodies, so the resent copy
     * goes round the retry topic again, and a slow (TSan) `rill` run may
     * return after those retries too. The 4th delivery is the resent copy. */
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (count(&s, "bad-2") < 4 && rill_mono_ms() < deadline)
        rill_sleep_ms(20);
    pthread_mutex_lock(&s.lock);
    int fourth = -1;
    for (int i = 0, k = 0; i < s.n && fourth < 0; i++)
        if (strcmp(s.body[i], "bad-2") == 0 && ++k == 4)
            fourth = i;
    cr_assert_geq(fourth, 0, "the resent message was not delivered");
    cr_assert_eq(s.reconsume[fourth], 0);
    cr_assert(!s.via_retry[fourth]);
    cr_assert_str_eq(s.topic[fourth], "DlqT");
    pthread_mutex_unlock(&s.lock);
    rill_push_consumer_destroy(pc);
    tc_stop(&c);
}

Test(client_retry, orderly_retries_in_place_then_dlq)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, LEVELS);
    tc_create_topic(&c, "OrdRetryT", 1);
    send_body(&c, "OrdRetryT", "bad-3");
    send_body(&c, "OrdRetryT", "good-3");
    seen_t s = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail_times = -1};
    rill_push_consumer_t *pc = consumer(&c, "retry_g3", "OrdRetryT", &s, true, "2");
    wait_count(&s, "good-3", 1);
    cr_assert_eq(count(&s, "bad-3"), 3, "bad-3 seen %d times", count(&s, "bad-3"));
    pthread_mutex_lock(&s.lock);
    cr_assert_str_eq(s.body[s.n - 1], "good-3", "good-3 comes after every bad-3 delivery");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(s.reconsume[i], i);
        cr_assert(!s.via_retry[i], "orderly retries in place, not through %%RETRY%%");
    }
    pthread_mutex_unlock(&s.lock);
    rill_msg_t *m = dlq_msg(&c, "retry_g3", 0);
    cr_assert_not_null(m, "no message in %%DLQ%%retry_g3");
    size_t len;
    const char *b = rill_msg_body(m, &len);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(b, "bad-3", 5), 0);
    cr_assert_str_eq(rill_msg_property(m, "REAL_TOPIC"), "OrdRetryT");
    rill_msg_destroy(m);
    rill_push_consumer_destroy(pc);
    tc_stop(&c);
}

/* One raw CONSUMER_SEND_MSG_BACK; returns the response code. */
static int raw_send_back(const char *addr, const char *group, int64_t phys, int level, int max)
{
    char url[128];
    snprintf(url, sizeof(url), "tcp://%s", addr);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    Rill__ConsumerSendMsgBackRequest body = RILL__CONSUMER_SEND_MSG_BACK_REQUEST__INIT;
    body.group = (char *)group;
    body.commitlog_offset = phys;
    body.delay_level = level;
    body.max_reconsume_times = max;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__CONSUMER_SEND_MSG_BACK;
    req.body_case = RILL__REQUEST__BODY_CONSUMER_SEND_MSG_BACK;
    req.consumer_send_msg_back = &body;
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(cli, &req, 5000, &resp), 0);
    int code = resp->code;
    rpc_response_free(resp);
    rpc_client_close(cli);
    return code;
}

Test(client_retry, raw_send_back_codes)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, LEVELS);
    tc_create_topic(&c, "RawT", 1);
    send_body(&c, "RawT", "raw-1");
    rill_admin_t *a = NULL;
    char err[256];
    cr_assert_eq(rill_admin_new(&a, tc_conf(&c, "retry_admin"), err, sizeof err), 0, "%s", err);
    rill_queue_t q;
    memset(&q, 0, sizeof q);
    snprintf(q.topic, sizeof q.topic, "RawT");
    snprintf(q.broker_name, sizeof q.broker_name, "broker-a");
    rill_msg_t *m = NULL;
    cr_assert_eq(rill_admin_query_msg_by_offset(a, &q, 0, &m), 0, "%s", rill_last_error());
    int64_t phys = rill_msg_commitlog_offset(m);
    rill_msg_destroy(m);
    rill_admin_destroy(a);
    const char *addr = tc_broker_addr(&c, 0);

    cr_assert_eq(raw_send_back(addr, "", phys, 0, 0), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(raw_send_back(addr, "raw_g", -1, 0, 0), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(raw_send_back(addr, "raw_g", phys + 1, 0, 0),
                 RILL__RESPONSE_CODE__QUERY_NOT_FOUND, "inside a record");
    cr_assert_eq(raw_send_back(addr, "raw_g", phys + (1LL << 40), 0, 0),
                 RILL__RESPONSE_CODE__QUERY_NOT_FOUND, "beyond the log");
    /* reconsume 0 -> 1 <= max 1: retry topic; a DLQ-forcing request: DLQ */
    cr_assert_eq(raw_send_back(addr, "raw_g", phys, 0, 1), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_null(dlq_msg_now(&c, "raw_g"), "not in the DLQ yet");
    cr_assert_eq(raw_send_back(addr, "raw_g", phys, -1, 1), RILL__RESPONSE_CODE__SUCCESS);
    m = dlq_msg(&c, "raw_g", 0);
    cr_assert_not_null(m);
    cr_assert_eq(rill_msg_reconsume_times(m), 1);
    cr_assert_str_eq(rill_msg_property(m, "REAL_TOPIC"), "RawT");
    rill_msg_destroy(m);

    /* no max in the request: the group's retryMaxTimes (1) decides. The retry
       copy (reconsume 1, delivered after its delay) given back makes 2 > 1. */
    cr_assert_eq(rill_admin_new(&a, tc_conf(&c, "retry_admin"), err, sizeof err), 0, "%s", err);
    rill_group_config_t gc;
    rill_group_config_init(&gc, "raw_g");
    gc.retry_max_times = 1;
    cr_assert_eq(rill_admin_group_create(a, NULL, addr, &gc), 0, "%s", rill_last_error());
    snprintf(q.topic, sizeof q.topic, "%%RETRY%%raw_g");
    m = NULL;
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (rill_mono_ms() < deadline && rill_admin_query_msg_by_offset(a, &q, 0, &m) != 0)
        rill_sleep_ms(100);
    rill_admin_destroy(a);
    cr_assert_not_null(m, "the retry copy was not delivered");
    cr_assert_eq(rill_msg_reconsume_times(m), 1);
    int64_t retry_phys = rill_msg_commitlog_offset(m);
    rill_msg_destroy(m);
    cr_assert_eq(raw_send_back(addr, "raw_g", retry_phys, 0, 0), RILL__RESPONSE_CODE__SUCCESS);
    m = dlq_msg(&c, "raw_g", 1);
    cr_assert_not_null(m, "not in the DLQ: the group's retryMaxTimes was not used");
    cr_assert_eq(rill_msg_reconsume_times(m), 2);
    rill_msg_destroy(m);
    tc_stop(&c);
}
