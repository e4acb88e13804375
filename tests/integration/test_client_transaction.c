/*
 * test_client_transaction.c - transactional messages end to end: a
 * rill_tx_producer against real namesrv and broker processes, read back with
 * a pull consumer.
 *
 * Stories: a commit is visible exactly once; a rollback never is; UNKNOWN is
 * resolved by the broker's check-back, to commit and to rollback; a producer
 * that is destroyed between its half message and the check hands the check
 * to the next producer of its group; a half nobody answers is rolled back
 * after transactionCheckMax checks; a half survives a broker kill, and both
 * an explicit END_TRANSACTION and a check-back resolve halves after the
 * restart (and a second END for a resolved half is QUERY_NOT_FOUND).
 *
 * The brokers run with short transactionTimeOut / transactionCheckInterval so
 * every check happens within a second or two.
 */
#include "cluster.h"
#include "common/clock.h"

#include "proto/common.pb-c.h"
#include "rpc/rpc_client.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALL_MS    3000
#define QUEUES_MAX 16
#define KEYS_MAX   64

static void suite_fini(void)
{
    hv_stop_all();
}

TestSuite(client_transaction, .fini = suite_fini, .timeout = 60);

/* Fast check-backs: first after 400 ms, then every 400 ms, 3 at most. */
static const char *const FAST[] = {"--transactionTimeOut=400", "--transactionCheckInterval=400",
                                   "--transactionCheckMax=3", NULL};

/* ---- helpers ---- */

/* What the callbacks see and answer; shared with the producer's threads. */
typedef struct tx_script {
    _Atomic int execute_answer; /* rill_tx_state_t */
    _Atomic int check_answer;
    atomic_int executes, checks;
    atomic_int check_has_tran_msg; /* checks whose message had TRAN_MSG=true */
} tx_script_t;

static rill_tx_state_t on_execute(const rill_msg_t *msg, void *arg, void *opaque)
{
    (void)msg;
    tx_script_t *s = opaque;
    cr_assert_eq(arg, (void *)s, "execute gets the send's arg");
    atomic_fetch_add(&s->executes, 1);
    return (rill_tx_state_t)atomic_load(&s->execute_answer);
}

static rill_tx_state_t on_check(const rill_msg_t *msg, void *opaque)
{
    tx_script_t *s = opaque;
    const char *v = rill_msg_property(msg, "TRAN_MSG");
    if (v && strcmp(v, "true") == 0)
        atomic_fetch_add(&s->check_has_tran_msg, 1);
    atomic_fetch_add(&s->checks, 1);
    return (rill_tx_state_t)atomic_load(&s->check_answer);
}

static rill_tx_producer_t *txp_new(const tc_cluster_t *c, const char *group, tx_script_t *s)
{
    rill_conf_t *conf = tc_conf(c, group);
    char err[256];
    rill_tx_producer_t *p = NULL;
    cr_assert_eq(rill_tx_producer_new(&p, conf, on_execute, on_check, s, err, sizeof(err)), 0, "%s",
                 err);
    return p;
}

/* Send one transactional message; returns its result. */
static rill_send_result_t txp_send(rill_tx_producer_t *p, tx_script_t *s, const char *topic,
                                   const char *body, int want_rc, rill_tx_state_t want_state)
{
    rill_msg_t *m = rill_msg_new(topic);
    cr_assert_not_null(m);
    cr_assert_eq(rill_msg_set_body(m, body, strlen(body)), 0);
    rill_send_result_t res;
    rill_tx_state_t state = (rill_tx_state_t)-1;
    int rc = rill_tx_producer_send(p, m, s, &res, &state);
    cr_assert_eq(rc, want_rc, "tx send: %d %s", rc, rill_last_error());
    cr_assert_eq(state, want_state);
    cr_assert_eq(res.status, RILL_SEND_OK);
    cr_assert_str_eq(rill_msg_property(m, "TRAN_MSG"), "true");
    rill_msg_destroy(m);
    return res;
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

/*
 * Poll for `ms` (or until `stop_at` messages arrived, when > 0); count the
 * messages whose body is `body` (NULL: any) into *matching; returns all.
 */
static int watch(rill_pull_consumer_t *pc, unsigned ms, int stop_at, const char *body,
                 int *matching)
{
    int all = 0, match = 0;
    uint64_t deadline = rill_mono_ms() + ms;
    while (rill_mono_ms() < deadline && (stop_at <= 0 || match < stop_at)) {
        rill_msg_t *msgs[32];
        size_t n = 0;
        cr_assert_eq(rill_pull_consumer_poll(pc, 100, msgs, 32, &n), 0);
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const void *b = rill_msg_body(msgs[i], &len);
            all++;
            if (body == NULL || (len == strlen(body) && memcmp(b, body, len) == 0))
                match++;
            rill_msg_destroy(msgs[i]);
        }
    }
    if (matching)
        *matching = match;
    return all;
}

/* Wait until counter reaches want (bounded); returns its value. */
static int wait_count(atomic_int *counter, int want, unsigned ms)
{
    uint64_t deadline = rill_mono_ms() + ms;
    while (atomic_load(counter) < want && rill_mono_ms() < deadline)
        rill_sleep_ms(20);
    return atomic_load(counter);
}

/* A raw END_TRANSACTION to broker addr; returns the response code. */
static int raw_end(const char *addr, const char *group, int64_t offset, int state)
{
    char url[64];
    snprintf(url, sizeof(url), "tcp://%s", addr);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    Rill__EndTransactionRequest e = RILL__END_TRANSACTION_REQUEST__INIT;
    e.producer_group = (char *)group;
    e.commitlog_offset = offset;
    e.state = state;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__END_TRANSACTION;
    req.version = 1;
    req.body_case = RILL__REQUEST__BODY_END_TRANSACTION;
    req.end_transaction = &e;
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(cli, &req, CALL_MS, &resp), 0);
    int code = resp->code;
    rpc_response_free(resp);
    rpc_client_close(cli);
    return code;
}

/* The broker's pending half count, once it equals want (bounded); returns the last seen. */
static int64_t wait_pending(const tc_cluster_t *c, int64_t want)
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
        if (st.pending_half_messages == want)
            break;
        rill_sleep_ms(50);
    } while (rill_mono_ms() < deadline);
    rill_admin_destroy(a);
    return st.pending_half_messages;
}

/* A raw POLL_TRANSACTION_CHECK; returns the code, *count and *took_ms. */
static int raw_poll(const char *addr, const char *group, int64_t suspend_ms, int *count,
                    uint64_t *took_ms)
{
    char url[64];
    snprintf(url, sizeof(url), "tcp://%s", addr);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    Rill__PollTransactionCheckRequest body = RILL__POLL_TRANSACTION_CHECK_REQUEST__INIT;
    body.producer_group = (char *)group;
    body.client_id = "raw";
    body.suspend_timeout_ms = suspend_ms;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__POLL_TRANSACTION_CHECK;
    req.version = 1;
    req.body_case = RILL__REQUEST__BODY_POLL_TRANSACTION_CHECK;
    req.poll_transaction_check = &body;
    Rill__Response *resp = NULL;
    uint64_t t0 = rill_mono_ms();
    cr_assert_eq(rpc_client_call(cli, &req, CALL_MS, &resp), 0);
    *took_ms = rill_mono_ms() - t0;
    int code = resp->code;
    *count = -1;
    if (code == 0) {
        cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_TRANSACTION_CHECK);
        *count = resp->transaction_check->count;
    }
    rpc_response_free(resp);
    rpc_client_close(cli);
    return code;
}

/* ---- stories ---- */

Test(client_transaction, end_and_poll_refusals)
{
    tc_cluster_t c;
    const char *const slow[] = {"--transactionTimeOut=60000", NULL};
    tc_start(&c, 1, 1, slow);
    tc_create_topic(&c, "tx_refuse", 1);
    const char *addr = tc_broker_addr(&c, 0);
    tx_script_t s = {.execute_answer = RILL_TX_UNKNOWN, .check_answer = RILL_TX_UNKNOWN};
    rill_tx_producer_t *p = txp_new(&c, "txpg_refuse", &s);
    rill_send_result_t half = txp_send(p, &s, "tx_refuse", "half", 0, RILL_TX_UNKNOWN);

    cr_assert_eq(
        raw_end(addr, "another_group", half.commitlog_offset, RILL__TRANSACTION_STATE__TX_COMMIT),
        RILL__RESPONSE_CODE__NO_PERMISSION);
    cr_assert_eq(raw_end(addr, "txpg_refuse", half.commitlog_offset, 7),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(raw_end(addr, "txpg_refuse", -1, RILL__TRANSACTION_STATE__TX_COMMIT),
                 RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(raw_end(addr, "txpg_refuse", half.commitlog_offset + 1000000,
                         RILL__TRANSACTION_STATE__TX_COMMIT),
                 RILL__RESPONSE_CODE__QUERY_NOT_FOUND, "no record there");
    cr_assert_eq(
        raw_end(addr, "txpg_refuse", half.commitlog_offset + 1, RILL__TRANSACTION_STATE__TX_COMMIT),
        RILL__RESPONSE_CODE__QUERY_NOT_FOUND, "inside a record");
    /* a plain message is no half */
    rill_producer_t *plain = NULL;
    char err[256];
    cr_assert_eq(rill_producer_new(&plain, tc_conf(&c, "txpg_plain"), err, sizeof(err)), 0);
    rill_msg_t *m = rill_msg_new("tx_refuse");
    cr_assert_eq(rill_msg_set_body(m, "plain", 5), 0);
    rill_send_result_t pr;
    cr_assert_eq(rill_producer_send(plain, m, &pr), 0);
    rill_msg_destroy(m);
    rill_producer_destroy(plain);
    cr_assert_eq(
        raw_end(addr, "txpg_plain", pr.commitlog_offset, RILL__TRANSACTION_STATE__TX_COMMIT),
        RILL__RESPONSE_CODE__QUERY_NOT_FOUND);
    /* UNKNOWN changes nothing: the half still commits, once */
    cr_assert_eq(
        raw_end(addr, "txpg_refuse", half.commitlog_offset, RILL__TRANSACTION_STATE__TX_UNKNOWN),
        RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(
        raw_end(addr, "txpg_refuse", half.commitlog_offset, RILL__TRANSACTION_STATE__TX_COMMIT),
        RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(
        raw_end(addr, "txpg_refuse", half.commitlog_offset, RILL__TRANSACTION_STATE__TX_ROLLBACK),
        RILL__RESPONSE_CODE__QUERY_NOT_FOUND);

    int count;
    uint64_t took;
    cr_assert_eq(raw_poll(addr, "", 100, &count, &took), RILL__RESPONSE_CODE__MESSAGE_ILLEGAL);
    cr_assert_eq(raw_poll(addr, "txpg_nobody", 300, &count, &took), RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(count, 0);
    cr_assert_geq(took, 250, "parked until its deadline: %llu ms", (unsigned long long)took);
    cr_assert_lt(took, 2000);

    rill_pull_consumer_t *w = watcher_new(&c, "txw_refuse", "tx_refuse");
    int match = 0;
    int all = watch(w, 1500, 0, "half", &match);
    cr_assert_eq(match, 1);
    cr_assert_eq(all, 2, "the plain message and the committed half");
    rill_pull_consumer_destroy(w);
    rill_tx_producer_destroy(p);
    tc_stop(&c);
}

Test(client_transaction, commit_is_visible_once_and_never_checked)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, FAST);
    tc_create_topic(&c, "tx_commit", 2);
    tx_script_t s = {.execute_answer = RILL_TX_COMMIT, .check_answer = RILL_TX_ROLLBACK};
    rill_tx_producer_t *p = txp_new(&c, "txpg_commit", &s);
    rill_pull_consumer_t *w = watcher_new(&c, "txw_commit", "tx_commit");
    for (int i = 0; i < 3; i++) {
        char body[32];
        snprintf(body, sizeof(body), "commit-%d", i);
        txp_send(p, &s, "tx_commit", body, 0, RILL_TX_COMMIT);
    }
    cr_assert_eq(atomic_load(&s.executes), 3);
    int match = 0;
    /* well past transactionTimeOut: a committed half is never checked */
    int all = watch(w, 1500, 0, NULL, &match);
    cr_assert_eq(all, 3, "each committed message is delivered exactly once, got %d", all);
    cr_assert_eq(atomic_load(&s.checks), 0);
    rill_pull_consumer_destroy(w);
    rill_tx_producer_destroy(p);
    tc_stop(&c);
}

Test(client_transaction, commit_to_a_topic_not_routed_yet_ends_at_once)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, FAST);
    /* no tc_create_topic: the broker auto-creates it, the NameServers learn it later */
    tx_script_t s = {.execute_answer = RILL_TX_COMMIT, .check_answer = RILL_TX_ROLLBACK};
    rill_tx_producer_t *p = txp_new(&c, "txpg_new", &s);
    txp_send(p, &s, "tx_new_topic", "first", 0, RILL_TX_COMMIT);
    rill_sleep_ms(1500); /* past registration and transactionTimeOut */
    cr_assert_eq(atomic_load(&s.checks), 0, "ended by the producer, not by a check-back");
    rill_pull_consumer_t *w = watcher_new(&c, "txw_new", "tx_new_topic");
    int match = 0;
    int all = watch(w, 5000, 1, "first", &match);
    cr_assert_eq(match, 1);
    cr_assert_eq(all, 1);
    rill_pull_consumer_destroy(w);
    rill_tx_producer_destroy(p);
    tc_stop(&c);
}

Test(client_transaction, rollback_is_never_visible)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, FAST);
    tc_create_topic(&c, "tx_rollback", 2);
    tx_script_t s = {.execute_answer = RILL_TX_ROLLBACK, .check_answer = RILL_TX_COMMIT};
    rill_tx_producer_t *p = txp_new(&c, "txpg_rb", &s);
    rill_pull_consumer_t *w = watcher_new(&c, "txw_rb", "tx_rollback");
    rill_send_result_t res = txp_send(p, &s, "tx_rollback", "rolled-back", 0, RILL_TX_ROLLBACK);
    int all = watch(w, 1500, 0, NULL, NULL);
    cr_assert_eq(all, 0, "a rolled back message is never delivered");
    cr_assert_eq(atomic_load(&s.checks), 0, "a rolled back half is not checked back");
    /* resolved: a late commit of the same half is refused */
    cr_assert_eq(raw_end(tc_broker_addr(&c, 0), "txpg_rb", res.commitlog_offset,
                         RILL__TRANSACTION_STATE__TX_COMMIT),
                 RILL__RESPONSE_CODE__QUERY_NOT_FOUND);
    /* the consumer does work: a committed one after it arrives */
    atomic_store(&s.execute_answer, RILL_TX_COMMIT);
    txp_send(p, &s, "tx_rollback", "committed", 0, RILL_TX_COMMIT);
    int match = 0;
    all = watch(w, 5000, 1, "committed", &match);
    cr_assert_eq(match, 1);
    cr_assert_eq(all, 1);
    rill_pull_consumer_destroy(w);
    rill_tx_producer_destroy(p);
    tc_stop(&c);
}

Test(client_transaction, unknown_is_resolved_by_check_back)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, FAST);
    tc_create_topic(&c, "tx_unknown", 2);
    tx_script_t s = {.execute_answer = RILL_TX_UNKNOWN, .check_answer = RILL_TX_COMMIT};
    rill_tx_producer_t *p = txp_new(&c, "txpg_unknown", &s);
    rill_pull_consumer_t *w = watcher_new(&c, "txw_unknown", "tx_unknown");
    txp_send(p, &s, "tx_unknown", "checked-commit", 0, RILL_TX_UNKNOWN);
    /* invisible until checked: nothing before transactionTimeOut */
    cr_assert_eq(watch(w, 200, 0, NULL, NULL), 0);
    int match = 0;
    int all = watch(w, 8000, 1, "checked-commit", &match);
    cr_assert_eq(match, 1, "the check-back committed it");
    cr_assert_eq(all, 1);
    cr_assert_eq(atomic_load(&s.checks), 1, "one check, answered COMMIT");
    cr_assert_eq(atomic_load(&s.check_has_tran_msg), 1, "the check carries the half's properties");

    /* the same for a check answered ROLLBACK: never visible, checked once */
    atomic_store(&s.check_answer, RILL_TX_ROLLBACK);
    txp_send(p, &s, "tx_unknown", "checked-rollback", 0, RILL_TX_UNKNOWN);
    cr_assert_eq(wait_count(&s.checks, 2, 8000), 2);
    all = watch(w, 1500, 0, NULL, NULL);
    cr_assert_eq(all, 0, "a half rolled back by its check is never delivered");
    cr_assert_eq(atomic_load(&s.checks), 2, "a resolved half is not checked again");
    rill_pull_consumer_destroy(w);
    rill_tx_producer_destroy(p);
    tc_stop(&c);
}

Test(client_transaction, check_reaches_the_next_producer_of_the_group)
{
    tc_cluster_t c;
    /* a longer first check so the old producer is surely gone by then */
    const char *const slow_first[] = {"--transactionTimeOut=1500", "--transactionCheckInterval=400",
                                      "--transactionCheckMax=5", NULL};
    tc_start(&c, 1, 1, slow_first);
    tc_create_topic(&c, "tx_restart", 2);
    tx_script_t old = {.execute_answer = RILL_TX_UNKNOWN, .check_answer = RILL_TX_ROLLBACK};
    rill_tx_producer_t *p = txp_new(&c, "txpg_restart", &old);
    txp_send(p, &old, "tx_restart", "survives-producer", 0, RILL_TX_UNKNOWN);
    rill_tx_producer_destroy(p);
    cr_assert_eq(atomic_load(&old.checks), 0, "destroyed before the first check");

    tx_script_t fresh = {.execute_answer = RILL_TX_ROLLBACK, .check_answer = RILL_TX_COMMIT};
    rill_tx_producer_t *p2 = txp_new(&c, "txpg_restart", &fresh);
    rill_pull_consumer_t *w = watcher_new(&c, "txw_restart", "tx_restart");
    int match = 0;
    int all = watch(w, 10000, 1, "survives-producer", &match);
    cr_assert_eq(match, 1, "the new producer's check committed the old half");
    cr_assert_eq(all, 1);
    cr_assert_eq(atomic_load(&fresh.checks), 1);
    cr_assert_eq(atomic_load(&fresh.executes), 0, "the new producer never sent");
    rill_pull_consumer_destroy(w);
    rill_tx_producer_destroy(p2);
    tc_stop(&c);
}

Test(client_transaction, checks_reach_the_producer_from_every_master)
{
    tc_cluster_t c;
    /* one check only, and an interval longer than the producer's 1 s polls */
    const char *const one_check[] = {"--transactionTimeOut=400", "--transactionCheckInterval=1500",
                                     "--transactionCheckMax=1", NULL};
    tc_start(&c, 1, 2, one_check);
    tc_create_topic(&c, "tx_two", 2);
    tx_script_t s = {.execute_answer = RILL_TX_UNKNOWN, .check_answer = RILL_TX_COMMIT};
    rill_tx_producer_t *p = txp_new(&c, "txpg_two", &s);
    rill_pull_consumer_t *w = watcher_new(&c, "txw_two", "tx_two");
    bool on[2] = {false, false};
    for (int i = 0; i < 8; i++) {
        char body[32];
        snprintf(body, sizeof(body), "two-%d", i);
        rill_send_result_t r = txp_send(p, &s, "tx_two", body, 0, RILL_TX_UNKNOWN);
        on[strcmp(r.broker_name, "broker-a") == 0 ? 0 : 1] = true;
    }
    cr_assert(on[0] && on[1], "halves on both brokers");
    /* the producer's one poll thread is parked on one broker at a time; the
     * other broker's checks wait for it instead of counting as unanswered */
    int all = watch(w, 10000, 8, NULL, NULL);
    all += watch(w, 800, 0, NULL, NULL);
    cr_assert_eq(all, 8, "every half committed by its check, once: %d", all);
    cr_assert_eq(atomic_load(&s.checks), 8);
    rill_pull_consumer_destroy(w);
    rill_tx_producer_destroy(p);
    tc_stop(&c);
}

Test(client_transaction, unanswered_half_is_rolled_back_after_check_max)
{
    tc_cluster_t c;
    tc_start(&c, 1, 1, FAST);
    tc_create_topic(&c, "tx_max", 2);
    tx_script_t s = {.execute_answer = RILL_TX_UNKNOWN, .check_answer = RILL_TX_UNKNOWN};
    rill_tx_producer_t *p = txp_new(&c, "txpg_max", &s);
    rill_pull_consumer_t *w = watcher_new(&c, "txw_max", "tx_max");
    rill_send_result_t res = txp_send(p, &s, "tx_max", "never", 0, RILL_TX_UNKNOWN);
    cr_assert_eq(wait_pending(&c, 1), 1, "rill broker status counts the open half");
    /* first check at 400 ms, then 2 more 400 ms apart, rolled back at the 4th */
    cr_assert_eq(wait_count(&s.checks, 3, 8000), 3);
    rill_sleep_ms(1500);
    cr_assert_eq(atomic_load(&s.checks), 3, "transactionCheckMax=3 checks, then no more");
    cr_assert_eq(wait_pending(&c, 0), 0, "rolled back: no longer pending");
    cr_assert_eq(raw_end(tc_broker_addr(&c, 0), "txpg_max", res.commitlog_offset,
                         RILL__TRANSACTION_STATE__TX_COMMIT),
                 RILL__RESPONSE_CODE__QUERY_NOT_FOUND, "rolled back: a late commit is refused");
    cr_assert_eq(watch(w, 500, 0, NULL, NULL), 0);
    rill_pull_consumer_destroy(w);
    rill_tx_producer_destroy(p);
    tc_stop(&c);
}

Test(client_transaction, halves_survive_a_broker_kill)
{
    tc_cluster_t c;
    /* checks after 2 s, up to 20 of them: the restart happens in between */
    const char *const slow[] = {"--transactionTimeOut=2000", "--transactionCheckInterval=500",
                                "--transactionCheckMax=20", NULL};
    tc_start(&c, 1, 1, slow);
    tc_create_topic(&c, "tx_kill", 2);
    tx_script_t s = {.execute_answer = RILL_TX_UNKNOWN, .check_answer = RILL_TX_UNKNOWN};
    rill_tx_producer_t *p = txp_new(&c, "txpg_kill", &s);
    rill_send_result_t a = txp_send(p, &s, "tx_kill", "explicit-commit", 0, RILL_TX_UNKNOWN);
    txp_send(p, &s, "tx_kill", "check-commit", 0, RILL_TX_UNKNOWN);
    tc_broker_stop(&c, 0, SIGKILL);
    tc_broker_restart(&c, 0);

    rill_pull_consumer_t *w = watcher_new(&c, "txw_kill", "tx_kill");
    cr_assert_eq(watch(w, 500, 0, NULL, NULL), 0, "both halves still invisible");
    /* an END_TRANSACTION after the restart commits the first half, once */
    cr_assert_eq(raw_end(tc_broker_addr(&c, 0), "txpg_kill", a.commitlog_offset,
                         RILL__TRANSACTION_STATE__TX_COMMIT),
                 RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(raw_end(tc_broker_addr(&c, 0), "txpg_kill", a.commitlog_offset,
                         RILL__TRANSACTION_STATE__TX_COMMIT),
                 RILL__RESPONSE_CODE__QUERY_NOT_FOUND);
    int match = 0;
    watch(w, 5000, 1, "explicit-commit", &match);
    cr_assert_eq(match, 1);
    /* the second is resolved by a check-back once the producer says COMMIT */
    atomic_store(&s.check_answer, RILL_TX_COMMIT);
    int all = watch(w, 12000, 1, "check-commit", &match);
    cr_assert_eq(match, 1, "the check after the restart committed the second half");
    cr_assert_eq(all, 1);
    cr_assert_geq(atomic_load(&s.checks), 1);
    rill_pull_consumer_destroy(w);
    rill_tx_producer_destroy(p);
    tc_stop(&c);
}
