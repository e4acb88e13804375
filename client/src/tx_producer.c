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
 * thread keeps a POLL_TRANSACTION_CHECK request parked on every master at
 * once (async calls of TXP_POLL_MS, so destroy waits at most about that
 * long). The masters come from the NameServers' cluster info, re-read every
 * TXP_BROKERS_REFRESH_MS after the polls in flight have ended, so a
 * producer that has not sent anything yet (a restarted process) still
 * receives the checks of its group. The call callbacks only mark their slot
 * done (under mtx) and signal; the thread runs the check callback for each
 * half of an answer and sends END_TRANSACTION(from_transaction_check), then
 * parks a new poll there. Only this thread touches the broker list and a
 * slot's response; inflight/done are shared with the callbacks.
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
    /* the poll thread's; mtx + cond: poll completions (callbacks on nng's threads) */
    char (*brokers)[RC_ADDR_BYTES];
    size_t n_brokers;
    struct txp_poll *polls; /* TXP_BROKERS_MAX, one per broker */
    pthread_mutex_t mtx;
    pthread_cond_t cond; /* monotonic */
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

/* One poll in flight on brokers[i]; its callback fills the slot. */
typedef struct txp_poll {
    rill_tx_producer_t *t;
    bool inflight, done; /* under t->mtx */
    int rc;
    Rill__Response *resp;
    uint64_t retry_ms; /* monotonic: do not poll this broker again before */
} txp_poll_t;

static void poll_done(int rc, Rill__Response *resp, void *arg)
{
    txp_poll_t *slot = arg;
    rill_tx_producer_t *t = slot->t;
    pthread_mutex_lock(&t->mtx);
    slot->rc = rc;
    slot->resp = resp;
    slot->done = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->mtx);
}

/* Start a parked poll on brokers[i]: 0, or the error of starting it. */
static int poll_start(rill_tx_producer_t *t, size_t i)
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
    rpc_client_t *conn;
    int rc = rc_broker_conn(t->p->cli, t->brokers[i], &conn);
    if (rc != 0)
        return rc;
    txp_poll_t *slot = &t->polls[i];
    pthread_mutex_lock(&t->mtx);
    slot->t = t;
    slot->inflight = true;
    slot->done = false;
    slot->resp = NULL;
    pthread_mutex_unlock(&t->mtx);
    rc = rpc_client_call_async(conn, &req, TXP_POLL_MS + 3000, poll_done, slot);
    if (rc != 0) {
        pthread_mutex_lock(&t->mtx);
        slot->inflight = false;
        pthread_mutex_unlock(&t->mtx);
    }
    return rc;
}

/* Wait (bounded) until some poll is done; returns its index, or -1 when none is in flight. */
static int poll_wait(rill_tx_producer_t *t, uint32_t ms)
{
    int found = -1;
    pthread_mutex_lock(&t->mtx);
    for (int round = 0; round < 2 && found < 0; round++) {
        bool any = false;
        for (size_t i = 0; i < t->n_brokers && found < 0; i++) {
            any |= t->polls[i].inflight;
            if (t->polls[i].inflight && t->polls[i].done)
                found = (int)i;
        }
        if (found >= 0 || !any || round == 1)
            break;
        struct timespec dl;
        rill_deadline_after_ms(&dl, ms);
        pthread_cond_timedwait(&t->cond, &t->mtx, &dl);
    }
    if (found >= 0)
        t->polls[found].inflight = false;
    pthread_mutex_unlock(&t->mtx);
    return found;
}

static size_t polls_inflight(rill_tx_producer_t *t)
{
    size_t n = 0;
    pthread_mutex_lock(&t->mtx);
    for (size_t i = 0; i < t->n_brokers; i++)
        n += t->polls[i].inflight;
    pthread_mutex_unlock(&t->mtx);
    return n;
}

/* A finished poll of brokers[i]: run its checks, or note when to try again. */
static void poll_finish(rill_tx_producer_t *t, size_t i)
{
    txp_poll_t *slot = &t->polls[i];
    Rill__Response *resp = slot->resp;
    slot->resp = NULL;
    slot->retry_ms = 0;
    if (slot->rc == 0 && resp->code == RILL__RESPONSE_CODE__SUCCESS &&
        resp->body_case == RILL__RESPONSE__BODY_TRANSACTION_CHECK) {
        run_checks(t, t->brokers[i], resp->transaction_check);
    } else {
        slot->retry_ms = rill_mono_ms() + TXP_ERROR_PAUSE_MS;
        if (slot->rc != 0)
            rc_broker_mark_down(t->p->cli, t->brokers[i]);
    }
    rpc_response_free(resp);
}

/*
 * The poll loop: one parked poll on every master at once; a finished one is
 * handled here (its checks run on this thread) and started again. Every
 * TXP_BROKERS_REFRESH_MS the polls are drained and the masters re-read.
 */
static void *txcheck_main(void *arg)
{
    rill_tx_producer_t *t = arg;
    pthread_setname_np(pthread_self(), "rill-txcheck");
    while (!atomic_load(&t->stop)) {
        refresh_brokers(t);
        if (t->n_brokers == 0) {
            rill_sleep_ms(TXP_ERROR_PAUSE_MS);
            continue;
        }
        for (size_t i = 0; i < t->n_brokers; i++)
            t->polls[i].retry_ms = 0;
        uint64_t until = rill_mono_ms() + TXP_BROKERS_REFRESH_MS;
        for (;;) {
            bool draining = atomic_load(&t->stop) || rill_mono_ms() >= until;
            uint64_t now = rill_mono_ms();
            for (size_t i = 0; i < t->n_brokers && !draining; i++) {
                if (t->polls[i].inflight || t->polls[i].retry_ms > now)
                    continue;
                if (poll_start(t, i) != 0)
                    t->polls[i].retry_ms = now + TXP_ERROR_PAUSE_MS;
            }
            int i = poll_wait(t, 50);
            if (i >= 0) {
                poll_finish(t, (size_t)i);
            } else if (polls_inflight(t) == 0) {
                if (draining)
                    break;
                rill_sleep_ms(20); /* every broker is in its error pause */
            }
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
    if (t == NULL || (t->brokers = calloc(TXP_BROKERS_MAX, RC_ADDR_BYTES)) == NULL ||
        (t->polls = calloc(TXP_BROKERS_MAX, sizeof(*t->polls))) == NULL) {
        if (t) {
            free(t->brokers);
            free(t);
        }
        return rc_fail(ENOMEM, "out of memory");
    }
    int rc = pthread_mutex_init(&t->mtx, NULL);
    if (rc == 0 && (rc = rill_cond_init_monotonic(&t->cond)) != 0)
        pthread_mutex_destroy(&t->mtx);
    if (rc != 0) {
        free(t->polls);
        free(t->brokers);
        free(t);
        return rc_fail(rc, "cannot create a mutex or condition variable");
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
    rc = rill_producer_new(&t->p, copy, errstr, errstr_size);
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
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->mtx);
    free(t->polls);
    free(t->brokers);
    free(t);
    return rc;
}

void rill_tx_producer_destroy(rill_tx_producer_t *t)
{
    if (t == NULL)
        return;
    atomic_store(&t->stop, true);
    pthread_join(t->thread, NULL); /* it ends with no poll in flight */
    rill_producer_destroy(t->p);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->mtx);
    free(t->polls);
    free(t->brokers);
    free(t);
}
