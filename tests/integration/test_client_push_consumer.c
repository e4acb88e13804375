/*
 * test_client_push_consumer.c - the push consumer against real namesrv and
 * broker processes: a round trip; three members of a group splitting eight
 * queues on two brokers, then two taking over when one leaves, without
 * losing a message; broadcasting; tag filtering; offsets surviving a
 * restart; consume.from FIRST_OFFSET vs LAST_OFFSET vs TIMESTAMP; RECONSUME_LATER
 * redelivery and giving up; the orderly listener's per-queue order; flow
 * control; a load with members joining and leaving; a broker going down and
 * coming back.
 *
 * Messages carry their index in the body ("m-<i>"), so a receiver counts
 * deliveries per index; every wait is bounded by WAIT_MS.
 */
#include "cluster.h"

#include "client/src/push_consumer.h"
#include "common/clock.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS  15000
#define QUIET_MS 1200 /* how long "nothing more arrives" is watched */
#define REC_MAX  4096

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(push_consumer, .fini = suite_fini, .timeout = 90);

/* ---- what listeners saw ---- */

typedef struct rec {
    pthread_mutex_t lock;
    int counts[REC_MAX]; /* deliveries per message index */
    int max_reconsume[REC_MAX];
    int total;
    char tags[REC_MAX][16];
    /* behaviour */
    int fail_times;        /* RECONSUME_LATER while reconsume_times < this */
    int always_fail_index; /* -1, or an index that always fails */
    int sleep_ms;          /* per listener call */
    /* orderly checks */
    int64_t last_offset[16]; /* per queue id, last offset delivered */
    int order_errors;
    atomic_int active[16]; /* listener calls in progress per queue id */
    int overlap_errors;
    int foreign;   /* messages whose body is not "m-<i>" */
    int max_batch; /* most messages in one listener call */
    char first_unique_key[RILL_MSGID_BYTES + 1];
} rec_t;

static void rec_init(rec_t *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->always_fail_index = -1;
    for (int i = 0; i < 16; i++)
        r->last_offset[i] = -1;
}

static int msg_index(const rill_msg_t *m)
{
    size_t len = 0;
    const char *body = rill_msg_body(m, &len);
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, body, len);
    buf[len] = '\0';
    int i = -1;
    if (sscanf(buf, "m-%d", &i) != 1 || i < 0 || i >= REC_MAX)
        return -1;
    return i;
}

static rill_consume_status_t on_msgs(rill_msg_t *const *msgs, size_t n, void *opaque)
{
    rec_t *r = opaque;
    int qid = rill_msg_queue_id(msgs[0]);
    if (qid >= 0 && qid < 16 && atomic_fetch_add(&r->active[qid], 1) != 0) {
        pthread_mutex_lock(&r->lock);
        r->overlap_errors++;
        pthread_mutex_unlock(&r->lock);
    }
    if (r->sleep_ms > 0)
        rill_sleep_ms((uint32_t)r->sleep_ms);
    rill_consume_status_t st = RILL_CONSUME_SUCCESS;
    pthread_mutex_lock(&r->lock);
    if ((int)n > r->max_batch)
        r->max_batch = (int)n;
    for (size_t k = 0; k < n; k++) {
        int i = msg_index(msgs[k]);
        if (i < 0) { /* no cr_assert off the test's thread */
            r->foreign++;
            continue;
        }
        r->counts[i]++;
        r->total++;
        int rt = rill_msg_reconsume_times(msgs[k]);
        if (rt > r->max_reconsume[i])
            r->max_reconsume[i] = rt;
        const char *tags = rill_msg_tags(msgs[k]);
        snprintf(r->tags[i], sizeof r->tags[i], "%s", tags ? tags : "");
        if (rt < r->fail_times || i == r->always_fail_index)
            st = RILL_RECONSUME_LATER;
        int q = rill_msg_queue_id(msgs[k]);
        if (q >= 0 && q < 16) {
            int64_t off = rill_msg_queue_offset(msgs[k]);
            /* a queue moves forward; only a redelivery repeats the last offset */
            if (off < r->last_offset[q] || (off == r->last_offset[q] && rt == 0))
                r->order_errors++;
            r->last_offset[q] = rill_msg_queue_offset(msgs[k]);
        }
        if (i == 0 && rill_msg_unique_key(msgs[k]))
            snprintf(r->first_unique_key, sizeof r->first_unique_key, "%s",
                     rill_msg_unique_key(msgs[k]));
    }
    pthread_mutex_unlock(&r->lock);
    if (qid >= 0 && qid < 16)
        atomic_fetch_sub(&r->active[qid], 1);
    return st;
}

/* Indexes [from, to) each delivered at least once. */
static bool rec_has_all(rec_t *r, int from, int to)
{
    pthread_mutex_lock(&r->lock);
    bool all = true;
    for (int i = from; i < to && all; i++)
        all = r->counts[i] > 0;
    pthread_mutex_unlock(&r->lock);
    return all;
}

static int rec_count(rec_t *r, int i)
{
    pthread_mutex_lock(&r->lock);
    int n = r->counts[i];
    pthread_mutex_unlock(&r->lock);
    return n;
}

static int rec_total(rec_t *r)
{
    pthread_mutex_lock(&r->lock);
    int n = r->total;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static void wait_all(rec_t *r, int from, int to, const char *what)
{
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (!rec_has_all(r, from, to) && rill_mono_ms() < deadline)
        rill_sleep_ms(20);
    for (int i = from; i < to; i++)
        cr_assert_gt(rec_count(r, i), 0, "%s: message %d never delivered", what, i);
    cr_assert_eq(r->foreign, 0);
}

/* ---- producer and consumers ---- */

static rill_producer_t *producer(tc_cluster_t *c)
{
    rill_producer_t *p = NULL;
    char err[256];
    rill_conf_t *conf = tc_conf(c, "push_test_producer");
    cr_assert_eq(rill_producer_new(&p, conf, err, sizeof err), 0, "%s", err);
    return p;
}

static void send_range(rill_producer_t *p, const char *topic, int from, int to, const char *tags)
{
    for (int i = from; i < to; i++) {
        rill_msg_t *m = rill_msg_new(topic);
        cr_assert(m);
        char body[32];
        int len = snprintf(body, sizeof body, "m-%d", i);
        cr_assert_eq(rill_msg_set_body(m, body, (size_t)len), 0);
        if (tags)
            cr_assert_eq(rill_msg_set_tags(m, tags), 0);
        rill_send_result_t res;
        int rc = rill_producer_send(p, m, &res);
        cr_assert_eq(rc, 0, "send %d: %s (%s)", i, rill_strerror(rc), rill_last_error());
        cr_assert_eq(res.status, RILL_SEND_OK);
        rill_msg_destroy(m);
    }
}

static void conf_set(rill_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    cr_assert_eq(rill_conf_set(conf, k, v, err, sizeof err), 0, "%s=%s: %s", k, v, err);
}

/* A started consumer; extra: NULL-terminated key, value pairs. */
static rill_push_consumer_t *consumer(tc_cluster_t *c, const char *group, const char *topic,
                                      const char *expr, rec_t *r, bool orderly,
                                      const char *const *extra)
{
    rill_conf_t *conf = tc_conf(c, group);
    for (size_t i = 0; extra && extra[i]; i += 2)
        conf_set(conf, extra[i], extra[i + 1]);
    rill_push_consumer_t *pc = NULL;
    char err[256];
    cr_assert_eq(rill_push_consumer_new(&pc, conf, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rill_push_consumer_subscribe(pc, topic, expr), 0);
    if (orderly)
        cr_assert_eq(rill_push_consumer_set_orderly_listener(pc, on_msgs, r), 0);
    else
        cr_assert_eq(rill_push_consumer_set_listener(pc, on_msgs, r), 0);
    cr_assert_eq(rill_push_consumer_start(pc), 0, "%s", rill_last_error());
    return pc;
}

static size_t owned(rill_push_consumer_t *pc, rill_queue_t *out, size_t cap)
{
    size_t n = 0;
    cr_assert_eq(rill_push_consumer_assignment(pc, out, cap, &n), 0);
    return n;
}

/* Wait until pc owns exactly n queues. */
static void wait_owned(rill_push_consumer_t *pc, size_t n)
{
    rill_queue_t q[32];
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (owned(pc, q, 32) != n && rill_mono_ms() < deadline)
        rill_sleep_ms(20);
    cr_assert_eq(owned(pc, q, 32), n);
}

/* ---- tests ---- */

Test(push_consumer, round_trip_and_message_fields)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "PushRT", 4);
    rec_t r;
    rec_init(&r);
    rill_push_consumer_t *pc = consumer(&c, "g_rt", "PushRT", "*", &r, false, NULL);
    wait_owned(pc, 4); /* LAST_OFFSET: own the queues before sending */
    rill_producer_t *p = producer(&c);
    send_range(p, "PushRT", 0, 20, "TagA");
    wait_all(&r, 0, 20, "round trip");
    cr_assert_eq(r.tags[7][0], 'T');
    cr_assert_eq(strcmp(r.tags[7], "TagA"), 0);
    cr_assert_eq(strlen(r.first_unique_key), RILL_MSGID_BYTES);
    rill_sleep_ms(300);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(rec_count(&r, i), 1, "message %d delivered %d times", i, rec_count(&r, i));
    rill_queue_t q[8];
    cr_assert_eq(owned(pc, q, 8), 4);
    cr_assert_eq(strcmp(q[0].topic, "PushRT"), 0);
    cr_assert_eq(strcmp(q[0].broker_name, "broker-a"), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(q[i].queue_id, i);
    rill_push_consumer_destroy(pc);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* The members own every queue exactly once, evenly (want / n, rounded up or down). */
static bool disjoint_cover(rill_push_consumer_t **pcs, size_t n, size_t want)
{
    rill_queue_t all[64];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        rill_queue_t q[32];
        size_t k = owned(pcs[i], q, 32);
        if (k < want / n || k > (want + n - 1) / n)
            return false;
        for (size_t j = 0; j < k && total < 64; j++)
            all[total++] = q[j];
    }
    if (total != want)
        return false;
    for (size_t i = 0; i < total; i++)
        for (size_t j = i + 1; j < total; j++)
            if (strcmp(all[i].broker_name, all[j].broker_name) == 0 &&
                all[i].queue_id == all[j].queue_id)
                return false;
    return true;
}

static void wait_disjoint_cover(rill_push_consumer_t **pcs, size_t n, size_t want)
{
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (!disjoint_cover(pcs, n, want) && rill_mono_ms() < deadline)
        rill_sleep_ms(20);
    cr_assert(disjoint_cover(pcs, n, want), "%zu consumers do not split %zu queues evenly", n,
              want);
}

Test(push_consumer, three_members_split_eight_queues_then_two_take_over)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 2, NULL);
    tc_create_topic(&c, "PushRebal", 4); /* 4 on broker-a + 4 on broker-b */
    rec_t r;
    rec_init(&r);
    const char *extra[] = {"consume.from", "FIRST_OFFSET", NULL};
    rill_push_consumer_t *pcs[3];
    for (int i = 0; i < 3; i++)
        pcs[i] = consumer(&c, "g_rebal", "PushRebal", "*", &r, false, extra);
    wait_disjoint_cover(pcs, 3, 8);
    rill_queue_t q[8];
    for (int i = 0; i < 3; i++) {
        size_t k = owned(pcs[i], q, 8);
        cr_assert(k == 2 || k == 3, "member %d owns %zu queues", i, k);
    }
    rill_producer_t *p = producer(&c);
    send_range(p, "PushRebal", 0, 60, NULL);
    wait_all(&r, 0, 30, "before leave");
    rill_push_consumer_destroy(pcs[2]);
    wait_disjoint_cover(pcs, 2, 8);
    cr_assert_eq(owned(pcs[0], q, 8), 4);
    cr_assert_eq(owned(pcs[1], q, 8), 4);
    send_range(p, "PushRebal", 60, 120, NULL);
    wait_all(&r, 0, 120, "after leave");
    rill_push_consumer_destroy(pcs[0]);
    rill_push_consumer_destroy(pcs[1]);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(push_consumer, broadcasting_delivers_everything_to_everyone)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "PushBcast", 4);
    char dir[1024];
    ts_mkdtemp(dir, sizeof dir, "offsets");
    rec_t r1, r2;
    rec_init(&r1);
    rec_init(&r2);
    const char *x1[] = {
        "message.model", "BROADCASTING", "client.id", "bc-1", "offset.store.dir", dir, NULL};
    const char *x2[] = {
        "message.model", "BROADCASTING", "client.id", "bc-2", "offset.store.dir", dir, NULL};
    rill_push_consumer_t *a = consumer(&c, "g_bcast", "PushBcast", "*", &r1, false, x1);
    rill_push_consumer_t *b = consumer(&c, "g_bcast", "PushBcast", "*", &r2, false, x2);
    wait_owned(a, 4);
    wait_owned(b, 4);
    rill_producer_t *p = producer(&c);
    send_range(p, "PushBcast", 0, 20, NULL);
    wait_all(&r1, 0, 20, "member 1");
    wait_all(&r2, 0, 20, "member 2");
    rill_push_consumer_destroy(a);
    rill_push_consumer_destroy(b);
    /* each member's offsets are in its own file */
    char path[1200];
    snprintf(path, sizeof path, "%s/g_bcast/bc-1.json", dir);
    cr_assert_gt(ts_file_size(path), 0, "no offset file %s", path);
    snprintf(path, sizeof path, "%s/g_bcast/bc-2.json", dir);
    cr_assert_gt(ts_file_size(path), 0, "no offset file %s", path);

    /* a restarted member resumes from its file: nothing old again, the new one arrives */
    rec_t r3;
    rec_init(&r3);
    rill_push_consumer_t *a2 = consumer(&c, "g_bcast", "PushBcast", "*", &r3, false, x1);
    wait_owned(a2, 4);
    send_range(p, "PushBcast", 20, 25, NULL);
    wait_all(&r3, 20, 25, "restarted member");
    rill_sleep_ms(300);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(rec_count(&r3, i), 0, "old message %d delivered again", i);
    rill_push_consumer_destroy(a2);
    rill_producer_destroy(p);
    ts_rmtree(dir);
    tc_stop(&c);
}

Test(push_consumer, tag_filter)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "PushTags", 2);
    rec_t r;
    rec_init(&r);
    const char *extra[] = {"consume.from", "FIRST_OFFSET", NULL};
    rill_producer_t *p = producer(&c);
    send_range(p, "PushTags", 0, 10, "TagA");
    send_range(p, "PushTags", 10, 20, "TagC");
    send_range(p, "PushTags", 20, 30, NULL);
    send_range(p, "PushTags", 30, 40, "TagB");
    rill_push_consumer_t *pc = consumer(&c, "g_tags", "PushTags", "TagA || TagB", &r, false, extra);
    wait_all(&r, 0, 10, "TagA");
    wait_all(&r, 30, 40, "TagB");
    rill_sleep_ms(QUIET_MS);
    for (int i = 10; i < 30; i++)
        cr_assert_eq(rec_count(&r, i), 0, "message %d (tag %s) passed the filter", i, r.tags[i]);
    cr_assert_eq(rec_total(&r), 20);
    rill_push_consumer_destroy(pc);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(push_consumer, offsets_survive_a_restart)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "PushRestart", 4);
    const char *extra[] = {"consume.from", "FIRST_OFFSET", "consume.batch.size", "8", NULL};
    rill_producer_t *p = producer(&c);
    send_range(p, "PushRestart", 0, 30, NULL);
    rec_t r1;
    rec_init(&r1);
    rill_push_consumer_t *pc = consumer(&c, "g_restart", "PushRestart", "*", &r1, false, extra);
    wait_all(&r1, 0, 30, "first run");
    pthread_mutex_lock(&r1.lock);
    int max_batch = r1.max_batch;
    pthread_mutex_unlock(&r1.lock);
    cr_assert(max_batch > 1 && max_batch <= 8, "listener calls of up to %d messages", max_batch);
    rill_push_consumer_destroy(pc); /* commits */

    send_range(p, "PushRestart", 30, 45, NULL);
    rec_t r2;
    rec_init(&r2);
    pc = consumer(&c, "g_restart", "PushRestart", "*", &r2, false, extra);
    wait_all(&r2, 30, 45, "second run");
    rill_sleep_ms(QUIET_MS);
    for (int i = 0; i < 30; i++)
        cr_assert_eq(rec_count(&r2, i), 0, "message %d consumed before the restart came again", i);
    cr_assert_eq(rec_total(&r2), 15);
    rill_push_consumer_destroy(pc);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(push_consumer, consume_from_first_vs_last_for_a_new_group)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "PushFrom", 2);
    rill_producer_t *p = producer(&c);
    send_range(p, "PushFrom", 0, 10, NULL);
    rec_t rf, rl;
    rec_init(&rf);
    rec_init(&rl);
    const char *first[] = {"consume.from", "FIRST_OFFSET", NULL};
    const char *last[] = {"consume.from", "LAST_OFFSET", NULL};
    rill_push_consumer_t *f = consumer(&c, "g_first", "PushFrom", "*", &rf, false, first);
    /* once f has read them, they are in the ConsumeQueue (dispatch is asynchronous), so the
       max offset the LAST_OFFSET group starts from is past them */
    wait_all(&rf, 0, 10, "FIRST_OFFSET");
    rill_push_consumer_t *l = consumer(&c, "g_last", "PushFrom", "*", &rl, false, last);
    wait_owned(l, 2);
    send_range(p, "PushFrom", 10, 15, NULL);
    wait_all(&rl, 10, 15, "LAST_OFFSET, sent after start");
    wait_all(&rf, 10, 15, "FIRST_OFFSET, sent after start");
    rill_sleep_ms(300);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(rec_count(&rl, i), 0, "LAST_OFFSET group got old message %d", i);
    rill_push_consumer_destroy(f);
    rill_push_consumer_destroy(l);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(push_consumer, consume_from_timestamp)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "PushFromTs", 2);
    rill_producer_t *p = producer(&c);
    send_range(p, "PushFromTs", 0, 6, NULL);
    rill_sleep_ms(300); /* store times of the two halves differ by more than the clock's step */
    char ts[32];
    snprintf(ts, sizeof ts, "%llu", (unsigned long long)rill_now_ms());
    rill_sleep_ms(300);
    send_range(p, "PushFromTs", 6, 12, NULL);
    rec_t r;
    rec_init(&r);
    const char *extra[] = {"consume.from", "TIMESTAMP", "consume.timestamp.ms", ts, NULL};
    rill_push_consumer_t *pc = consumer(&c, "g_from_ts", "PushFromTs", "*", &r, false, extra);
    wait_all(&r, 6, 12, "stored after the timestamp");
    rill_sleep_ms(QUIET_MS);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(rec_count(&r, i), 0, "message %d stored before the timestamp delivered", i);
    rill_push_consumer_destroy(pc);
    rill_producer_destroy(p);
    tc_stop(&c);
}

static int wait_count(rec_t *r, int i, int want)
{
    uint64_t deadline = rill_mono_ms() + WAIT_MS;
    while (rec_count(r, i) < want && rill_mono_ms() < deadline)
        rill_sleep_ms(20);
    return rec_count(r, i);
}

Test(push_consumer, reconsume_later_redelivers_then_gives_up)
{
    tc_cluster_t c = {0};
    /* retries go through %RETRY%g_retry (delay levels 3, 4, 5): keep them short */
    static const char *const levels[] = {"--messageDelayLevel=100ms 100ms 100ms 100ms 100ms", NULL};
    tc_start(&c, 1, 1, levels);
    tc_create_topic(&c, "PushRetry", 1);
    rec_t r;
    rec_init(&r);
    r.fail_times = 2;        /* every message fails twice, then succeeds */
    r.always_fail_index = 3; /* this one never succeeds */
    const char *extra[] = {"consume.from",
                           "FIRST_OFFSET",
                           "reconsume.delay.ms",
                           "100",
                           "max.reconsume.times",
                           "3",
                           NULL};
    rill_producer_t *p = producer(&c);
    send_range(p, "PushRetry", 0, 5, NULL);
    rill_push_consumer_t *pc = consumer(&c, "g_retry", "PushRetry", "*", &r, false, extra);
    for (int i = 0; i < 5; i++) {
        int want = i == 3 ? 4 : 3; /* the first delivery + 3 redeliveries, then given up */
        cr_assert_eq(wait_count(&r, i, want), want, "message %d", i);
    }
    rill_sleep_ms(QUIET_MS);
    for (int i = 0; i < 5; i++) {
        int want = i == 3 ? 4 : 3;
        cr_assert_eq(rec_count(&r, i), want, "message %d delivered %d times", i, rec_count(&r, i));
        cr_assert_eq(r.max_reconsume[i], want - 1, "message %d reconsume times", i);
    }
    rc_push_stats_t st;
    rc_push_consumer_stats(pc, &st);
    cr_assert_eq(st.given_up, 0, "the broker took it (into %%DLQ%%g_retry), nothing given up locally");
    rill_push_consumer_destroy(pc);

    /* the given-up message was committed past: a restart delivers nothing again */
    rec_t r2;
    rec_init(&r2);
    pc = consumer(&c, "g_retry", "PushRetry", "*", &r2, false, extra);
    wait_owned(pc, 2); /* PushRetry#0 and %RETRY%g_retry#0 (subscribed automatically) */
    rill_sleep_ms(QUIET_MS);
    cr_assert_eq(rec_total(&r2), 0);
    rill_push_consumer_destroy(pc);
    rill_producer_destroy(p);
    tc_stop(&c);
}

static int pick_queue(int n_queues, const rill_msg_t *msg, void *arg)
{
    (void)msg;
    return *(const int *)arg % n_queues;
}

Test(push_consumer, orderly_listener_keeps_queue_order)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "PushOrder", 4);
    rill_producer_t *p = producer(&c);
    for (int i = 0; i < 200; i++) {
        rill_msg_t *m = rill_msg_new("PushOrder");
        char body[32];
        int len = snprintf(body, sizeof body, "m-%d", i);
        cr_assert_eq(rill_msg_set_body(m, body, (size_t)len), 0);
        int order_id = i % 4;
        cr_assert_eq(rill_producer_send_select(p, m, pick_queue, &order_id, NULL), 0, "%s",
                     rill_last_error());
        rill_msg_destroy(m);
    }
    rec_t r;
    rec_init(&r);
    r.sleep_ms = 1;
    r.fail_times = 1; /* each first delivery fails: the queue is suspended and retried in order */
    const char *extra[] = {
        "consume.from", "FIRST_OFFSET", "consume.threads", "8", "reconsume.delay.ms", "20", NULL};
    rill_push_consumer_t *pc = consumer(&c, "g_order", "PushOrder", "*", &r, true, extra);
    wait_all(&r, 0, 200, "orderly");
    rill_push_consumer_destroy(pc);
    cr_assert_eq(r.order_errors, 0, "%d messages out of queue order", r.order_errors);
    cr_assert_eq(r.overlap_errors, 0, "%d listener calls overlapped on one queue",
                 r.overlap_errors);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(push_consumer, flow_control_bounds_the_cache)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "PushFlow", 1);
    rill_producer_t *p = producer(&c);
    send_range(p, "PushFlow", 0, 150, NULL);
    rec_t r;
    rec_init(&r);
    r.sleep_ms = 5;
    const char *extra[] = {"consume.from",
                           "FIRST_OFFSET",
                           "pull.threshold.queue.msgs",
                           "10",
                           "pull.batch.size",
                           "4",
                           "consume.threads",
                           "2",
                           NULL};
    rill_push_consumer_t *pc = consumer(&c, "g_flow", "PushFlow", "*", &r, false, extra);
    wait_all(&r, 0, 150, "flow control");
    rc_push_stats_t st;
    rc_push_consumer_stats(pc, &st);
    cr_assert_leq(st.cached_slots_max, 10 + 4, "cache held %zu messages", st.cached_slots_max);
    cr_assert_gt(st.cached_slots_max, 0);
    cr_assert_gt(st.flow_holds, 0, "a slow listener must hold pulls back");
    rill_push_consumer_destroy(pc);
    rill_producer_destroy(p);
    tc_stop(&c);
}

/* Batches of n messages "m-<from>" ... */
static void send_batches(rill_producer_t *p, const char *topic, int from, int to, int per_batch)
{
    rill_msg_t *msgs[64];
    for (int i = from; i < to; i += per_batch) {
        int n = to - i < per_batch ? to - i : per_batch;
        for (int k = 0; k < n; k++) {
            msgs[k] = rill_msg_new(topic);
            char body[32];
            int len = snprintf(body, sizeof body, "m-%d", i + k);
            cr_assert_eq(rill_msg_set_body(msgs[k], body, (size_t)len), 0);
        }
        int rc = rill_producer_send_batch(p, msgs, (size_t)n, NULL);
        cr_assert_eq(rc, 0, "batch at %d: %s (%s)", i, rill_strerror(rc), rill_last_error());
        for (int k = 0; k < n; k++)
            rill_msg_destroy(msgs[k]);
    }
}

/* Many messages, many listener threads, a member joining and one leaving mid-stream:
   nothing lost (run under ASan and TSan by make test-asan / make tsan). */
Test(push_consumer, under_load_with_members_coming_and_going)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 2, NULL);
    tc_create_topic(&c, "PushLoad", 4);
    rec_t r;
    rec_init(&r);
    const char *extra[] = {"consume.from",
                           "FIRST_OFFSET",
                           "consume.threads",
                           "8",
                           "consume.batch.size",
                           "4",
                           "pull.batch.size",
                           "16",
                           NULL};
    rill_push_consumer_t *a = consumer(&c, "g_load", "PushLoad", "*", &r, false, extra);
    rill_push_consumer_t *b = consumer(&c, "g_load", "PushLoad", "*", &r, false, extra);
    rill_producer_t *p = producer(&c);
    send_batches(p, "PushLoad", 0, 1500, 50);
    rill_push_consumer_t *d = consumer(&c, "g_load", "PushLoad", "*", &r, false, extra);
    send_batches(p, "PushLoad", 1500, 3000, 50);
    rill_push_consumer_destroy(a);
    send_batches(p, "PushLoad", 3000, 4000, 50);
    wait_all(&r, 0, 4000, "under load");
    rill_push_consumer_t *pcs[2] = {b, d};
    wait_disjoint_cover(pcs, 2, 8);
    rill_push_consumer_destroy(b);
    rill_push_consumer_destroy(d);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(push_consumer, broker_down_and_back)
{
    tc_cluster_t c = {0};
    tc_start(&c, 1, 1, NULL);
    tc_create_topic(&c, "PushDown", 2);
    rec_t r;
    rec_init(&r);
    const char *extra[] = {"consume.from", "FIRST_OFFSET", "request.timeout.ms", "1000", NULL};
    rill_push_consumer_t *pc = consumer(&c, "g_down", "PushDown", "*", &r, false, extra);
    rill_producer_t *p = producer(&c);
    send_range(p, "PushDown", 0, 10, NULL);
    wait_all(&r, 0, 10, "before the stop");
    tc_broker_stop(&c, 0, SIGKILL);
    rill_sleep_ms(2500); /* pulls fail and back off; the consumer keeps its queues */
    rill_queue_t q[4];
    cr_assert_eq(owned(pc, q, 4), 2);
    tc_broker_restart(&c, 0);
    send_range(p, "PushDown", 10, 20, NULL);
    wait_all(&r, 10, 20, "after the restart");
    rc_push_stats_t st;
    rc_push_consumer_stats(pc, &st);
    cr_assert_gt(st.pull_errors, 0);
    rill_push_consumer_destroy(pc);
    rill_producer_destroy(p);
    tc_stop(&c);
}
