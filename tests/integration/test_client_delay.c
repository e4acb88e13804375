/*
 * test_client_delay.c - delayed messages end to end: librill producers
 * against real namesrv and broker processes, read back with a pull consumer.
 *
 * Stories: a delayed message is invisible until due and visible after, with
 * its body, tags, keys and user properties (and no delay any more); several
 * delayed messages come out in deliver-time order, an absolute time in the
 * past at once; out-of-range levels and times beyond 40 days are refused
 * (RILL_EILLEGAL), delayed batches too (RILL_EINVAL); the broker's pending
 * count follows; messages due while the broker is down (SIGKILL) are
 * delivered once on start, one due later not before its time.
 *
 * The brokers run with messageDelayLevel "1s 2s 3s".
 */
#include "cluster.h"
#include "common/clock.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define QUEUES_MAX 16
#define SEEN_MAX   32
/* Delivery lateness the tests accept: the broker aims at 100 ms; the margin
 * covers a loaded 2-core machine running other suites. */
#define LATE_MAX_MS 1000

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(client_delay, .fini = suite_fini, .timeout = 60);

static const char *const LEVELS[] = {"--messageDelayLevel=1s 2s 3s", NULL};

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static rill_producer_t *producer_new(const tc_cluster_t *c)
{
    rill_conf_t *conf = tc_conf(c, "delay_pg");
    char err[256];
    rill_producer_t *p = NULL;
    cr_assert_eq(rill_producer_new(&p, conf, err, sizeof(err)), 0, "producer: %s", err);
    return p;
}

/* Send body with a level (> 0) or an absolute time (at > 0); returns rc. */
static int send_delayed(rill_producer_t *p, const char *topic, const char *body, int level,
                        int64_t at)
{
    rill_msg_t *m = rill_msg_new(topic);
    cr_assert_not_null(m);
    cr_assert_eq(rill_msg_set_body(m, body, strlen(body)), 0);
    cr_assert_eq(rill_msg_set_tags(m, "tagA"), 0);
    cr_assert_eq(rill_msg_set_keys(m, body), 0);
    cr_assert_eq(rill_msg_set_property(m, "color", "blue"), 0);
    if (level > 0)
        cr_assert_eq(rill_msg_set_delay_level(m, level), 0);
    if (at > 0)
        cr_assert_eq(rill_msg_set_deliver_time(m, at), 0);
    rill_send_result_t res;
    int rc = rill_producer_send(p, m, &res);
    if (rc == 0)
        cr_assert_eq(res.status, RILL_SEND_OK);
    rill_msg_destroy(m);
    return rc;
}

/* A pull consumer reading every queue of topic from the start. */
static rill_pull_consumer_t *watcher_new(const tc_cluster_t *c, const char *group,
                                         const char *topic)
{
    rill_conf_t *conf = tc_conf(c, group);
    char err[256];
    cr_assert_eq(rill_conf_set(conf, "consume.from", "FIRST_OFFSET", err, sizeof(err)), 0);
    rill_pull_consumer_t *pc = NULL;
    cr_assert_eq(rill_pull_consumer_new(&pc, conf, err, sizeof(err)), 0, "%s", err);
    rill_queue_t qs[QUEUES_MAX];
    size_t n = 0;
    cr_assert_eq(rill_pull_consumer_topic_queues(pc, topic, qs, QUEUES_MAX, &n), 0, "%s",
                 rill_last_error());
    cr_assert_eq(rill_pull_consumer_assign(pc, qs, n), 0, "%s", rill_last_error());
    return pc;
}

/* What a watcher saw, in arrival order. */
typedef struct seen {
    int n;
    char body[SEEN_MAX][32];
    int64_t store_ts[SEEN_MAX], born_ts[SEEN_MAX];
} seen_t;

/* Poll for ms, or until s->n reaches stop_at (> 0); checks each message's
 * passengers. Returns s->n. */
static int watch(rill_pull_consumer_t *pc, seen_t *s, unsigned ms, int stop_at, const char *topic)
{
    uint64_t deadline = rill_mono_ms() + ms;
    while (rill_mono_ms() < deadline && (stop_at <= 0 || s->n < stop_at)) {
        rill_msg_t *msgs[8];
        size_t n = 0;
        cr_assert_eq(rill_pull_consumer_poll(pc, 50, msgs, 8, &n), 0, "%s", rill_last_error());
        for (size_t i = 0; i < n; i++) {
            rill_msg_t *m = msgs[i];
            cr_assert_lt(s->n, SEEN_MAX, "too many messages");
            size_t len;
            const char *b = rill_msg_body(m, &len);
            cr_assert_lt(len, sizeof(s->body[0]));
            memcpy(s->body[s->n], b, len);
            s->body[s->n][len] = '\0';
            s->store_ts[s->n] = rill_msg_store_timestamp(m);
            s->born_ts[s->n] = rill_msg_born_timestamp(m);
            cr_assert_str_eq(rill_msg_tags(m), "tagA");
            cr_assert_str_eq(rill_msg_keys(m), s->body[s->n]);
            cr_assert_str_eq(rill_msg_property(m, "color"), "blue");
            cr_assert_str_eq(rill_msg_property(m, "REAL_TOPIC"), topic);
            cr_assert_not_null(rill_msg_property(m, "DELAY_ORIGIN"));
            cr_assert_null(rill_msg_property(m, "DELIVER_TIME"), "delivered: no delay left");
            cr_assert_eq(rill_msg_delay_level(m), 0);
            cr_assert_eq(rill_msg_deliver_time(m), 0);
            s->n++;
            rill_msg_destroy(m);
        }
    }
    return s->n;
}

static int find(const seen_t *s, const char *body)
{
    int at = -1;
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->body[i], body) == 0) {
            cr_assert_eq(at, -1, "%s delivered twice", body);
            at = i;
        }
    }
    cr_assert_neq(at, -1, "%s never delivered", body);
    return at;
}

/* Delivered no earlier than due and at most LATE_MAX_MS after. */
static void check_time(const seen_t *s, const char *body, int64_t due)
{
    int i = find(s, body);
    int64_t late = s->store_ts[i] - due;
    cr_log_info("%s delivered %lld ms after due", body, (long long)late);
    cr_assert_geq(late, 0, "%s delivered %lld ms early", body, (long long)-late);
    cr_assert_leq(late, LATE_MAX_MS, "%s delivered %lld ms late", body, (long long)late);
}

static int64_t pending(const tc_cluster_t *c, int64_t want)
{
    rill_admin_t *a = NULL;
    char err[256];
    cr_assert_eq(rill_admin_new(&a, tc_conf(c, NULL), err, sizeof(err)), 0, "%s", err);
    rill_broker_stats_t st;
    memset(&st, 0, sizeof(st));
    uint64_t deadline = rill_mono_ms() + 5000;
    do {
        cr_assert_eq(rill_admin_broker_stats(a, tc_broker_addr(c, 0), &st), 0, "%s",
                     rill_last_error());
        if (st.delay_pending == want)
            break;
        rill_sleep_ms(50);
    } while (rill_mono_ms() < deadline);
    rill_admin_destroy(a);
    return st.delay_pending;
}

/* ---- stories ---- */

Test(client_delay, level_hidden_until_due_then_delivered_once)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, LEVELS);
    tc_create_topic(&c, "dl_level", 2);
    rill_producer_t *p = producer_new(&c);
    rill_pull_consumer_t *w = watcher_new(&c, "dlw_level", "dl_level");
    cr_assert_eq(send_delayed(p, "dl_level", "lvl2", 2, 0), 0, "%s", rill_last_error());
    cr_assert_eq(pending(&c, 1), 1);
    seen_t s = {0};
    cr_assert_eq(watch(w, &s, 1500, 0, "dl_level"), 0, "visible before due");
    cr_assert_eq(watch(w, &s, 3000, 1, "dl_level"), 1, "delivered after due");
    /* the broker took the time when it stored it, after the producer's born time */
    check_time(&s, "lvl2", s.born_ts[0] + 2000);
    cr_assert_eq(watch(w, &s, 800, 0, "dl_level"), 1, "delivered once");
    cr_assert_eq(pending(&c, 0), 0);
    rill_pull_consumer_destroy(w);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(client_delay, deliveries_follow_deliver_time)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, LEVELS);
    tc_create_topic(&c, "dl_order", 1);
    rill_producer_t *p = producer_new(&c);
    rill_pull_consumer_t *w = watcher_new(&c, "dlw_order", "dl_order");
    int64_t t0 = now_ms();
    cr_assert_eq(send_delayed(p, "dl_order", "level3", 3, 0), 0, "%s", rill_last_error());
    int64_t at2 = t0 + 2000;
    cr_assert_eq(send_delayed(p, "dl_order", "at2000", 0, at2), 0, "%s", rill_last_error());
    cr_assert_eq(send_delayed(p, "dl_order", "level1", 1, 0), 0, "%s", rill_last_error());
    cr_assert_eq(send_delayed(p, "dl_order", "past", 0, t0 - 5000), 0, "%s", rill_last_error());
    seen_t s = {0};
    cr_assert_eq(watch(w, &s, 600, 1, "dl_order"), 1, "a time in the past is delivered at once");
    cr_assert_str_eq(s.body[0], "past");
    cr_assert_leq(s.store_ts[0] - t0, LATE_MAX_MS);
    cr_assert_eq(watch(w, &s, 5000, 4, "dl_order"), 4);
    cr_assert_str_eq(s.body[1], "level1");
    cr_assert_str_eq(s.body[2], "at2000");
    cr_assert_str_eq(s.body[3], "level3");
    check_time(&s, "level1", s.born_ts[1] + 1000);
    check_time(&s, "at2000", at2);
    check_time(&s, "level3", s.born_ts[3] + 3000);
    cr_assert_eq(watch(w, &s, 500, 0, "dl_order"), 4, "each once");
    rill_pull_consumer_destroy(w);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(client_delay, refusals_and_pending_count)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, LEVELS);
    tc_create_topic(&c, "dl_refuse", 2);
    rill_producer_t *p = producer_new(&c);
    /* 3 levels configured: 4 is the broker's to refuse (the client allows 1..18) */
    cr_assert_eq(send_delayed(p, "dl_refuse", "level4", 4, 0), RILL_EILLEGAL);
    int64_t day = 24 * 3600 * 1000ll;
    cr_assert_eq(send_delayed(p, "dl_refuse", "41days", 0, now_ms() + 41 * day), RILL_EILLEGAL);
    cr_assert_eq(send_delayed(p, "dl_refuse", "39days", 0, now_ms() + 39 * day), 0, "%s",
                 rill_last_error());
    /* delayed messages cannot be batched */
    rill_msg_t *b[2];
    for (int i = 0; i < 2; i++) {
        b[i] = rill_msg_new("dl_refuse");
        cr_assert_eq(rill_msg_set_body(b[i], "x", 1), 0);
    }
    cr_assert_eq(rill_msg_set_delay_level(b[1], 1), 0);
    cr_assert_eq(rill_producer_send_batch(p, b, 2, NULL), RILL_EINVAL);
    rill_msg_destroy(b[0]);
    rill_msg_destroy(b[1]);
    cr_assert_eq(pending(&c, 1), 1, "the 39-day message is pending");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(send_delayed(p, "dl_refuse", "soon", 1, 0), 0, "%s", rill_last_error());
    cr_assert_eq(pending(&c, 4), 4);
    cr_assert_eq(pending(&c, 1), 1, "the 1 s ones are delivered, the 39-day one waits");
    rill_pull_consumer_t *w = watcher_new(&c, "dlw_refuse", "dl_refuse");
    seen_t s = {0};
    cr_assert_eq(watch(w, &s, 1500, 0, "dl_refuse"), 3);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(s.body[i], "soon");
    rill_pull_consumer_destroy(w);
    rill_producer_destroy(p);
    tc_stop(&c);
}

Test(client_delay, survives_a_broker_kill)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, LEVELS);
    tc_create_topic(&c, "dl_restart", 2);
    rill_producer_t *p = producer_new(&c);
    int64_t t0 = now_ms();
    int64_t due_a = t0 + 1500, due_b = t0 + 2500, due_c = t0 + 9000;
    cr_assert_eq(send_delayed(p, "dl_restart", "A", 0, due_a), 0, "%s", rill_last_error());
    cr_assert_eq(send_delayed(p, "dl_restart", "B", 0, due_b), 0, "%s", rill_last_error());
    cr_assert_eq(send_delayed(p, "dl_restart", "C", 0, due_c), 0, "%s", rill_last_error());
    rill_producer_destroy(p);
    cr_assert_eq(pending(&c, 3), 3);
    tc_broker_stop(&c, 0, SIGKILL);
    /* A and B fall due while the broker is down */
    while (now_ms() < due_b + 500)
        rill_sleep_ms(50);
    tc_broker_restart(&c, 0);
    rill_pull_consumer_t *w = watcher_new(&c, "dlw_restart", "dl_restart");
    seen_t s = {0};
    cr_assert_eq(watch(w, &s, 3000, 2, "dl_restart"), 2, "A and B delivered on start");
    find(&s, "A");
    find(&s, "B");
    for (int i = 0; i < 2; i++)
        cr_assert_geq(s.store_ts[i], due_b, "delivered after the restart, not before");
    cr_assert_lt(now_ms() + 300, due_c, "the test is too slow to check C");
    cr_assert_eq(watch(w, &s, (unsigned)(due_c - now_ms() - 300), 0, "dl_restart"), 2,
                 "C not before its time");
    cr_assert_eq(pending(&c, 1), 1);
    cr_assert_eq(watch(w, &s, 3000, 3, "dl_restart"), 3);
    check_time(&s, "C", due_c);
    cr_assert_eq(watch(w, &s, 800, 0, "dl_restart"), 3, "nothing twice");
    cr_assert_eq(pending(&c, 0), 0);
    rill_pull_consumer_destroy(w);
    tc_stop(&c);
}
