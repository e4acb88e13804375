/*
 * tx_producer.c - the transactional producer: half message, local
 * transaction, END_TRANSACTION, and the check-back long poll.
 *
 * A rill_tx_producer_t wraps an ordinary producer (routes, retries,
 * heartbeats, UNIQ_KEY). A half message is a normal send whose Message
 * sys_flag carries TXP_SYS_FLAG_PREPARED (RocketMQ's TRANSACTION_PREPARED
 * bit) and whose properties name the group (PGROUP); the END_TRANSACTION
 * goes to the master of the broker set that stored it, addressed by the
 * half's CommitLog offset.
 *
 * Check-backs: nng req/rep cannot call the client, so the "rill-txcheck"
 * thread keeps a POLL_TRANSACTION_CHECK request parked on each master in
 * turn (TXP_POLL_MS each, so destroy waits at most about that long). The
 * masters come from the NameServers' cluster info, refreshed every
 * TXP_BROKERS_REFRESH_MS, so a producer that has not sent anything yet (a
 * restarted process) still receives the checks of its group. Each answer
 * holds the raw half records; the thread runs the check callback for each
 * and sends END_TRANSACTION(from_transaction_check). Only this thread
 * touches the broker list.
 */
#include "client/src/producer.h"

#include "client/src/client_int.h"
#include "common/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TXP_SYS_FLAG_PREPARED  0x4 /* Message.sys_flag: a half message */
#define TXP_PROP_PGROUP        "PGROUP"
#define TXP_PROP_TRAN_MSG      "TRAN_MSG"
#define TXP_POLL_MS            1000  /* one parked check poll */
#define TXP_BROKERS_MAX        64    /* masters polled */
#define TXP_BROKERS_REFRESH_MS 10000 /* re-read the cluster from the NameServers */
#define TXP_ERROR_PAUSE_MS     200   /* after a failed poll round */

struct rill_tx_producer {
    rill_producer_t *p;
    rill_tx_execute_cb execute;
    rill_tx_check_cb check;
    void *opaque;
    atomic_bool stop;
    pthread_t thread;
    /* the poll thread's */
    char (*brokers)[RC_ADDR_BYTES];
    size_t n_brokers;
    uint64_t brokers_ms; /* monotonic time of the last refresh, 0 = never */
};

const char *rill_tx_state_name(rill_tx_state_t state)
{
    switch (state) {
    case RILL_TX_COMMIT:
        return "COMMIT";
    case RILL_TX_ROLLBACK:
        return "ROLLBACK";
    case RILL_TX_UNKNOWN:
        return "UNKNOWN";
    }
    return "UNKNOWN";
}

static int32_t wire_state(rill_tx_state_t s)
{
    return s == RILL_TX_COMMIT     ? RILL__TRANSACTION_STATE__TX_COMMIT
           : s == RILL_TX_ROLLBACK ? RILL__TRANSACTION_STATE__TX_ROLLBACK
                                   : RILL__TRANSACTION_STATE__TX_UNKNOWN;
}

/* END_TRANSACTION for the half at offset on addr: 0 or an rc_fail'd code. */
static int end_transaction(rill_tx_producer_t *t, const char *addr, int64_t offset,
                           const char *msg_id, const char *uniq, rill_tx_state_t state,
                           bool from_check)
{
    Rill__Request req = RILL__REQUEST__INIT;
    Rill__EndTransactionRequest body = RILL__END_TRANSACTION_REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__END_TRANSACTION;
    req.version = 1;
    req.body_case = RILL__REQUEST__BODY_END_TRANSACTION;
    req.end_transaction = &body;
    body.producer_group = t->p->group;
    body.msg_id = (char *)(msg_id ? msg_id : "");
    body.commitlog_offset = offset;
    body.state = wire_state(state);
    body.from_transaction_check = from_check;
    body.transaction_id = (char *)(uniq ? uniq : "");
    Rill__Response *resp = NULL;
    int rc = rc_broker_call(t->p->cli, addr, &req, 0, &resp);
    if (rc != 0)
        return rc;
    if (resp->code != RILL__RESPONSE_CODE__SUCCESS)
        rc = rc_response_error(resp, addr);
    rpc_response_free(resp);
    return rc;
}

/* ---- send ---- */

int rill_tx_producer_send(rill_tx_producer_t *t, rill_msg_t *msg, void *arg,
                          rill_send_result_t *res, rill_tx_state_t *state_out)
{
    if (t == NULL || msg == NULL)
        return rc_fail(RILL_EINVAL, "producer or message is NULL");
    rill_producer_t *p = t->p;
    if (atomic_load(&p->closing) || atomic_load(&t->stop))
        return rc_fail(RILL_ECLOSED, "the producer is being destroyed");
    if (msg->delay_level > 0 || msg->deliver_time_ms > 0)
        return rc_fail(RILL_EINVAL, "a transactional message cannot be delayed");
    int rc;
    if ((rc = rill_msg_set_property(msg, TXP_PROP_TRAN_MSG, "true")) != 0 ||
        (rc = rill_msg_set_property(msg, TXP_PROP_PGROUP, p->group)) != 0)
        return rc;
    char uniq[1][RILL_MSGID_BYTES + 1];
    if ((rc = pr_unique_key(msg, uniq[0])) != 0)
        return rc;
    rc_wire_msg_t w;
    if ((rc = rc_wire_msg_init(&w, msg, p->conf)) != 0)
        return rc;
    w.pb.sys_flag |= TXP_SYS_FLAG_PREPARED;
    rill_send_result_t half;
    pr_job_t job = {.topic = msg->topic, .one = &w.pb, .n = 1, .res = &half, .uniq = uniq};
    rc = pr_send_sync(p, &job);
    rc_wire_msg_free(&w);
    if (rc != 0)
        return rc;

    rill_tx_state_t state = t->execute(msg, arg, t->opaque);
    if (state != RILL_TX_COMMIT && state != RILL_TX_ROLLBACK)
        state = RILL_TX_UNKNOWN;

    /* END_TRANSACTION goes to the master of the set that stored the half;
     * pr_route() as the send: a topic the NameServers do not route yet (the
     * broker auto-created it) gets the stand-in route of every master */
    rc_route_t *r = NULL;
    rc = pr_route(p, msg->topic, &r);
    const char *addr = NULL;
    if (rc == 0) {
        const rc_broker_set_t *set = rc_route_set(r, half.broker_name);
        addr = set ? rc_set_addr(set, 0) : NULL;
        if (addr == NULL)
            rc = rc_fail(RILL_ENOROUTE, "broker set %s of the half message has no master now",
                         half.broker_name);
    }
    if (rc == 0)
        rc = end_transaction(t, addr, half.commitlog_offset, half.msg_id, uniq[0], state, false);
    rc_route_release(r);
    if (res)
        *res = half;
    if (state_out)
        *state_out = state;
    return rc;
}

/* ---- check-backs ---- */

/* Re-read the masters of every cluster from the NameServers (best effort). */
static void refresh_brokers(rill_tx_producer_t *t)
{
    Rill__Request req = RILL__REQUEST__INIT;
    Rill__GetClusterInfoRequest body = RILL__GET_CLUSTER_INFO_REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_BROKER_CLUSTER_INFO;
    req.version = 1;
    req.body_case = RILL__REQUEST__BODY_GET_CLUSTER_INFO;
    req.get_cluster_info = &body;
    Rill__Response *resp = NULL;
    if (rc_namesrv_call(t->p->cli, &req, 0, &resp) != 0)
        return; /* keep the list we have; try again next round */
    t->brokers_ms = rill_mono_ms();
    if (resp->code == RILL__RESPONSE_CODE__SUCCESS &&
        resp->body_case == RILL__RESPONSE__BODY_CLUSTER_INFO) {
        size_t n = 0;
        const Rill__ClusterInfoResponse *ci = resp->cluster_info;
        for (size_t i = 0; i < ci->n_brokers && n < TXP_BROKERS_MAX; i++) {
            const Rill__BrokerData *bd = ci->brokers[i];
            for (size_t j = 0; j < bd->n_addrs && n < TXP_BROKERS_MAX; j++) {
                if (bd->addrs[j]->broker_id != 0 || bd->addrs[j]->addr == NULL)
                    continue;
                snprintf(t->brokers[n], RC_ADDR_BYTES, "%s", bd->addrs[j]->addr);
                n++;
            }
        }
        t->n_brokers = n;
    }
    rpc_response_free(resp);
}

/* Answer every half of one poll answer. */
static void run_checks(rill_tx_producer_t *t, const char *addr,
                       const Rill__PollTransactionCheckResponse *body)
{
    rill_msg_t **msgs = NULL;
    size_t n = 0;
    if (rc_msgs_from_records(body->records.data, body->records.len, NULL, &msgs, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        rill_msg_t *m = msgs[i];
        if (!atomic_load(&t->stop)) {
            rill_tx_state_t state = t->check(m, t->opaque);
            if (state != RILL_TX_COMMIT && state != RILL_TX_ROLLBACK)
                state = RILL_TX_UNKNOWN;
            /* a failed END is asked again at the next check: nothing to do here */
            (void)end_transaction(t, addr, m->commitlog_offset, m->msg_id, rill_msg_unique_key(m),
                                  state, true);
        }
        rill_msg_destroy(m);
    }
    free(msgs);
}

/* One parked poll on addr; returns 0 after an answer, else a call error. */
static int poll_once(rill_tx_producer_t *t, const char *addr)
{
    Rill__Request req = RILL__REQUEST__INIT;
    Rill__PollTransactionCheckRequest body = RILL__POLL_TRANSACTION_CHECK_REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__POLL_TRANSACTION_CHECK;
    req.version = 1;
    req.body_case = RILL__REQUEST__BODY_POLL_TRANSACTION_CHECK;
    req.poll_transaction_check = &body;
    body.producer_group = t->p->group;
    body.client_id = t->p->conf->client_id;
    body.suspend_timeout_ms = TXP_POLL_MS;
    Rill__Response *resp = NULL;
    int rc = rc_broker_call(t->p->cli, addr, &req, TXP_POLL_MS + 3000, &resp);
    if (rc != 0)
        return rc;
    if (resp->code == RILL__RESPONSE_CODE__SUCCESS &&
        resp->body_case == RILL__RESPONSE__BODY_TRANSACTION_CHECK)
        run_checks(t, addr, resp->transaction_check);
    else
        rc = rc_response_error(resp, addr);
    rpc_response_free(resp);
    return rc;
}

static void *txcheck_main(void *arg)
{
    rill_tx_producer_t *t = arg;
    pthread_setname_np(pthread_self(), "rill-txcheck");
    while (!atomic_load(&t->stop)) {
        if (t->brokers_ms == 0 || rill_mono_ms() - t->brokers_ms >= TXP_BROKERS_REFRESH_MS)
            refresh_brokers(t);
        bool failed = t->n_brokers == 0;
        for (size_t i = 0; i < t->n_brokers && !atomic_load(&t->stop); i++)
            if (poll_once(t, t->brokers[i]) != 0)
                failed = true;
        if (failed && !atomic_load(&t->stop)) {
            if (t->n_brokers == 0)
                t->brokers_ms = 0; /* ask the NameServers again */
            rill_sleep_ms(TXP_ERROR_PAUSE_MS);
        }
    }
    return NULL;
}

/* ---- lifecycle ---- */

int rill_tx_producer_new(rill_tx_producer_t **out, rill_conf_t *conf, rill_tx_execute_cb execute,
                         rill_tx_check_cb check, void *opaque, char *errstr, size_t errstr_size)
{
    if (out == NULL || execute == NULL || check == NULL) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s is NULL",
                     out == NULL       ? "out"
                     : execute == NULL ? "execute"
                                       : "check");
        return rc_fail(RILL_EINVAL, "%s is NULL",
                       out == NULL       ? "out"
                       : execute == NULL ? "execute"
                                         : "check");
    }
    rill_tx_producer_t *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->brokers = calloc(TXP_BROKERS_MAX, RC_ADDR_BYTES)) == NULL) {
        if (t)
            free(t);
        return rc_fail(ENOMEM, "out of memory");
    }
    t->execute = execute;
    t->check = check;
    t->opaque = opaque;
    /* The producer gets a copy, so conf stays the caller's until every step worked. */
    rill_conf_t *copy = NULL;
    if (conf != NULL && (copy = rill_conf_dup(conf)) == NULL) {
        free(t->brokers);
        free(t);
        return rc_fail(ENOMEM, "out of memory");
    }
    int rc = rill_producer_new(&t->p, copy, errstr, errstr_size);
    if (rc != 0) {
        rill_conf_destroy(copy);
        goto fail;
    }
    rc = pthread_create(&t->thread, NULL, txcheck_main, t);
    if (rc != 0) {
        rill_producer_destroy(t->p); /* frees copy */
        rc = rc_fail(rc, "cannot start the check-back thread");
        goto fail;
    }
    rill_conf_destroy(conf); /* taken on success */
    *out = t;
    return 0;
fail:
    free(t->brokers);
    free(t);
    return rc;
}

void rill_tx_producer_destroy(rill_tx_producer_t *t)
{
    if (t == NULL)
        return;
    atomic_store(&t->stop, true);
    pthread_join(t->thread, NULL);
    rill_producer_destroy(t->p);
    free(t->brokers);
    free(t);
}
