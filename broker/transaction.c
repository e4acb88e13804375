/*
 * transaction.c - transactional messages: END_TRANSACTION and the check-back
 * of half messages through POLL_TRANSACTION_CHECK long polls.
 *
 * A half message is an ordinary SEND_MESSAGE with Message.sys_flag 0x4
 * (send.c stores it with RECORD_TX_PREPARED; the dispatcher keeps it out of
 * the ConsumeQueue and records it in the `txn` table, broker/store/txn_table.h).
 * Resolving it appends one more record, never rewrites the half:
 *
 *   commit    a copy in the same topic and queue, RECORD_TX_COMMIT, with
 *             prepared_tx_offset = the half's offset: visible like any message
 *   rollback  an empty RECORD_TX_ROLLBACK record with that prepared_tx_offset
 *
 * and the dispatcher drops the `txn` entry when it dispatches that record, in
 * log order. So a restart (or a slave) sees exactly the halves still open, and
 * a commit sent after a restart works like any other.
 *
 * Design notes (threads and ownership):
 * - One thread, "tx-check", does every resolution, one at a time: handlers
 *   only queue END_TRANSACTION requests (TX_END_QUEUE_MAX; full = SYSTEM_BUSY)
 *   and never block. Whether a half is still open is decided without
 *   waiting for the dispatcher (half_open()): from its `txn` entry, the
 *   dispatched offset, and `recent`, the halves this thread resolved whose
 *   records are not dispatched yet. So two answers for one half (the
 *   producer's and a check-back's) resolve it once; the second gets
 *   QUERY_NOT_FOUND.
 * - Check-back: producers of a group keep POLL_TRANSACTION_CHECK requests
 *   parked here (TX_POLLS_MAX slots, each until its deadline). Every
 *   TX_SCAN_MS the thread walks `txn`; a half whose time has come
 *   (store time + transactionTimeOut first, then every
 *   transactionCheckInterval) is added to a parked poll of its PGROUP as
 *   soon as one is parked; when none comes within transactionCheckInterval
 *   of the due time the check counts anyway (the group may be gone). After
 *   transactionCheckMax checks it is rolled back and logged.
 *   The producer answers with END_TRANSACTION(from_transaction_check).
 * - `lock` guards the END queue, the poll slots and `stop`. A slot is in the
 *   table or in the thread's hands, so each request is answered exactly once;
 *   replies are sent with no lock held.
 */
#include "broker/broker.h"

#include "broker/store/txn_table.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/props.h"
#include "common/record.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD             "transaction"
#define TX_END_QUEUE_MAX    1024       /* END_TRANSACTION requests waiting for the thread */
#define TX_POLLS_MAX        256        /* parked POLL_TRANSACTION_CHECK requests */
#define TX_TICK_MS          20         /* deadline resolution of parked polls */
#define TX_SCAN_MS          100        /* between walks of `txn` */
#define TX_SCAN_BATCH       256        /* entries read per LMDB read transaction */
#define TX_SCAN_MAX         65536      /* entries examined by one walk */
#define TX_CHECKS_PER_POLL  64         /* halves sent in one poll answer */
#define TX_CHECK_BYTES_MAX  (8u << 20) /* record bytes of one poll answer */
#define TX_DISPATCH_WAIT_MS 3000       /* wait for the dispatcher when TX_RECENT_MAX is full */
#define TX_RECENT_MAX       4096       /* resolutions appended but not dispatched yet */
#define TX_PROP_PGROUP      "PGROUP"   /* producer group of a half (RocketMQ's name) */

typedef struct tx_end {
    rpc_request_t *req;
    const Rill__Request *msg; /* valid until req is answered */
} tx_end_t;

typedef struct tx_poll {
    bool used;
    rpc_request_t *req;
    uint64_t deadline_ms; /* monotonic */
    char group[BROKER_GROUP_BYTES_MAX + 1];
    /* the answer being built by the thread (only the thread touches these) */
    uint8_t *out;
    size_t out_len, out_cap;
    uint32_t out_count;
} tx_poll_t;

/* A poll taken out of the table to be answered. */
typedef struct tx_answer {
    rpc_request_t *req;
    uint8_t *out;
    size_t len;
    uint32_t count;
} tx_answer_t;

struct tx_service {
    broker_t *b;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* monotonic */
    bool stop, kick;
    tx_end_t ends[TX_END_QUEUE_MAX];
    size_t end_head, end_count;
    tx_poll_t polls[TX_POLLS_MAX];
    pthread_t thread;
    bool thread_started;
    _Atomic uint64_t pending; /* halves open at the last walk */
    /* the thread's scratch */
    uint8_t *rec;
    size_t rec_cap;
    txn_entry_t batch[TX_SCAN_BATCH];
    /* halves this thread resolved whose resolving record (ending at `end`)
     * the dispatcher has not applied yet: their txn entry still exists */
    struct {
        uint64_t half, end;
    } recent[TX_RECENT_MAX];
    size_t n_recent;
};

/* ---- answers ---- */

static void reply_checks(rpc_request_t *req, const uint8_t *records, size_t len, uint32_t count)
{
    Rill__Response resp = RILL__RESPONSE__INIT;
    Rill__PollTransactionCheckResponse body = RILL__POLL_TRANSACTION_CHECK_RESPONSE__INIT;
    body.records.data = (uint8_t *)records;
    body.records.len = len;
    body.count = (int32_t)count;
    resp.code = RILL__RESPONSE_CODE__SUCCESS;
    resp.remark = "";
    resp.body_case = RILL__RESPONSE__BODY_TRANSACTION_CHECK;
    resp.transaction_check = &body;
    rpc_reply(req, &resp);
}

/* ---- reading a half ---- */

/* Read the record at phys into t->rec (grown as needed) and decode it. */
static int read_record(tx_service_t *t, uint64_t phys, record_view_t *rv)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        uint32_t size = 0;
        int rc = store_get_by_phys(t->b->store, phys, t->rec, t->rec_cap, &size);
        if (rc == RILL_ENOSPACE && attempt == 0) {
            uint8_t *n = realloc(t->rec, size);
            if (n == NULL)
                return ENOMEM;
            t->rec = n;
            t->rec_cap = size;
            continue;
        }
        if (rc)
            return rc;
        return record_decode(t->rec, size, rv);
    }
    return RILL_ENOSPACE;
}

static void pgroup_of(const record_view_t *rv, char *out, size_t cap)
{
    const char *v;
    size_t vlen;
    out[0] = '\0';
    if (rill_props_get(rv->props, rv->props_len, TX_PROP_PGROUP, &v, &vlen) == 0 && vlen < cap) {
        memcpy(out, v, vlen);
        out[vlen] = '\0';
    }
}

/* Forget resolutions the dispatcher has applied; returns the dispatched offset. */
static uint64_t recent_prune(tx_service_t *t)
{
    store_stats_t st;
    store_get_stats(t->b->store, &st);
    size_t j = 0;
    for (size_t i = 0; i < t->n_recent; i++)
        if (t->recent[i].end > st.dispatched)
            t->recent[j++] = t->recent[i];
    t->n_recent = j;
    return st.dispatched;
}

static bool recent_has(const tx_service_t *t, uint64_t half)
{
    for (size_t i = 0; i < t->n_recent; i++)
        if (t->recent[i].half == half)
            return true;
    return false;
}

/*
 * Is the half at phys open? Without waiting for the dispatcher: a half
 * below the dispatched offset is open iff its txn entry exists; one above
 * is not dispatched yet, so nothing resolving it is either. Halves this
 * thread resolved a moment ago are in `recent` until their record is
 * dispatched. @return 0 with *rv read; RILL_ENOTFOUND (resolved, or not a
 * half); a store error.
 */
static int half_open(tx_service_t *t, uint64_t phys, record_view_t *rv)
{
    uint64_t dispatched = recent_prune(t); /* read before the entry: see above */
    if (recent_has(t, phys))
        return RILL_ENOTFOUND;
    txn_entry_t ent;
    int rc = store_txn_get(t->b->store, phys, &ent);
    if (rc == RILL_ENOTFOUND && phys < dispatched)
        return RILL_ENOTFOUND;
    if (rc != 0 && rc != RILL_ENOTFOUND)
        return rc;
    rc = read_record(t, phys, rv);
    if (rc == 0 && (rv->flags & RECORD_FLAG_TX_MASK) != RECORD_TX_PREPARED)
        rc = RILL_ENOTFOUND;
    return rc;
}

/* Append the record that resolves the half rv (at phys). */
static int resolve(tx_service_t *t, const record_view_t *rv, uint64_t phys, bool commit)
{
    if (t->n_recent == TX_RECENT_MAX) {
        (void)store_wait_dispatched(t->b->store, TX_DISPATCH_WAIT_MS);
        recent_prune(t);
        if (t->n_recent == TX_RECENT_MAX)
            return RILL_EBUSY;
    }
    store_msg_t m = {
        .topic = rv->topic,
        .topic_len = rv->topic_len,
        .queue_id = rv->queue_id,
        .born_ts = rv->born_ts,
        .born_ip = rv->born_ip,
        .born_port = rv->born_port,
        .prepared_tx_offset = phys,
    };
    if (commit) {
        m.body = rv->body;
        m.body_len = rv->body_len;
        m.props = rv->props;
        m.props_len = rv->props_len;
        m.tag_hash = rv->tag_hash;
        m.reconsume_times = rv->reconsume_times;
        m.flags = (rv->flags & ~RECORD_FLAG_TX_MASK) | RECORD_TX_COMMIT;
    } else {
        m.flags = RECORD_TX_ROLLBACK;
    }
    store_put_result_t res;
    int rc = store_put(t->b->store, &m, 1, &res);
    if (rc == RILL_EFLUSHTIMEOUT)
        rc = 0; /* stored; the flush is late */
    if (rc == 0) {
        t->recent[t->n_recent].half = phys;
        t->recent[t->n_recent].end = res.phys_offset + res.size;
        t->n_recent++;
    }
    if (rc == 0 && commit)
        atomic_fetch_add(&t->b->put_total, 1);
    return rc;
}

/* ---- END_TRANSACTION ---- */

static void end_one(tx_service_t *t, rpc_request_t *req, const Rill__EndTransactionRequest *e)
{
    uint64_t phys = (uint64_t)e->commitlog_offset;
    if (e->state == RILL__TRANSACTION_STATE__TX_UNKNOWN) {
        if (e->from_transaction_check)
            LOG_DEBUG(LOG_MOD, "check-back of the half at %" PRIu64 " answered UNKNOWN", phys);
        rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS, "");
        return;
    }
    bool commit = e->state == RILL__TRANSACTION_STATE__TX_COMMIT;
    record_view_t rv;
    int rc = half_open(t, phys, &rv);
    if (rc == RILL_ENOTFOUND) {
        broker_reply_code(req, RILL__RESPONSE_CODE__QUERY_NOT_FOUND,
                          "no pending half message at commitlog offset %" PRIu64
                          " (already committed or rolled back, or not a half message)",
                          phys);
        return;
    }
    if (rc) {
        broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                          "cannot read the half message at %" PRIu64 ": %s", phys,
                          rill_strerror(rc));
        return;
    }
    char group[BROKER_GROUP_BYTES_MAX + 1];
    pgroup_of(&rv, group, sizeof(group));
    if (group[0] && e->producer_group && strcmp(group, e->producer_group) != 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__NO_PERMISSION,
                          "the half message at %" PRIu64 " belongs to producer group %s, not %s",
                          phys, group, e->producer_group);
        return;
    }
    rc = resolve(t, &rv, phys, commit);
    if (rc) {
        broker_reply_code(req, broker_code_of(rc), "cannot %s: %s", commit ? "commit" : "roll back",
                          rill_strerror(rc));
        return;
    }
    LOG_DEBUG(LOG_MOD, "%s the half at %" PRIu64 " (group %s%s)",
              commit ? "committed" : "rolled back", phys, group,
              e->from_transaction_check ? ", from a check-back" : "");
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS, "");
}

static void handle_end(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    tx_service_t *t = b->tx;
    if (msg->body_case != RILL__REQUEST__BODY_END_TRANSACTION) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                       "END_TRANSACTION needs an end_transaction body");
        return;
    }
    const Rill__EndTransactionRequest *e = msg->end_transaction;
    if (b->cfg.broker_role == BROKER_SLAVE) {
        broker_reply_code(req, RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE,
                          "broker %s is a slave; transactions end on the master",
                          b->cfg.broker_name);
        return;
    }
    if (e->commitlog_offset < 0 || e->state < RILL__TRANSACTION_STATE__TX_UNKNOWN ||
        e->state > RILL__TRANSACTION_STATE__TX_ROLLBACK) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "END_TRANSACTION needs commitlog_offset >= 0 and a state 0..2");
        return;
    }
    pthread_mutex_lock(&t->lock);
    bool stopped = t->stop, full = t->end_count == TX_END_QUEUE_MAX;
    if (!stopped && !full) {
        size_t i = (t->end_head + t->end_count++) % TX_END_QUEUE_MAX;
        t->ends[i] = (tx_end_t){req, msg};
        pthread_cond_signal(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
    if (stopped)
        rpc_reply_code(req, RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE, "broker shutting down");
    else if (full)
        broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY,
                          "%d END_TRANSACTION requests already waiting", TX_END_QUEUE_MAX);
}

/* ---- POLL_TRANSACTION_CHECK ---- */

static void handle_poll(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    tx_service_t *t = b->tx;
    if (msg->body_case != RILL__REQUEST__BODY_POLL_TRANSACTION_CHECK) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                       "POLL_TRANSACTION_CHECK needs a poll_transaction_check body");
        return;
    }
    const Rill__PollTransactionCheckRequest *p = msg->poll_transaction_check;
    size_t glen = p->producer_group ? strlen(p->producer_group) : 0;
    if (glen == 0 || glen > BROKER_GROUP_BYTES_MAX) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "POLL_TRANSACTION_CHECK needs a producer group of 1 to %d bytes",
                          BROKER_GROUP_BYTES_MAX);
        return;
    }
    int64_t wait = p->suspend_timeout_ms;
    if (wait > b->cfg.broker_suspend_max_time_millis)
        wait = b->cfg.broker_suspend_max_time_millis;
    if (wait < 0)
        wait = 0;
    pthread_mutex_lock(&t->lock);
    int code = 0;
    if (t->stop || atomic_load(&b->stopping)) {
        code = RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE;
    } else {
        size_t i = 0;
        while (i < TX_POLLS_MAX && t->polls[i].used)
            i++;
        if (i == TX_POLLS_MAX) {
            code = RILL__RESPONSE_CODE__SYSTEM_BUSY;
        } else {
            tx_poll_t *s = &t->polls[i];
            s->used = true;
            s->req = req;
            s->deadline_ms = rill_mono_ms() + (uint64_t)wait;
            memcpy(s->group, p->producer_group, glen + 1);
            t->kick = true; /* a producer is here: look for due checks now */
            pthread_cond_signal(&t->cond);
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (code == RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE)
        rpc_reply_code(req, code, "broker shutting down");
    else if (code)
        broker_reply_code(req, code, "%d check polls already parked", TX_POLLS_MAX);
}

/* ---- the check-back walk ---- */

/* Add the half rv to a parked poll of group; true if one took it. */
static bool offer_check(tx_service_t *t, const char *group, const record_view_t *rv)
{
    bool taken = false;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < TX_POLLS_MAX && !taken; i++) {
        tx_poll_t *s = &t->polls[i];
        if (!s->used || strcmp(s->group, group) != 0 || s->out_count >= TX_CHECKS_PER_POLL ||
            s->out_len + rv->total_size > TX_CHECK_BYTES_MAX)
            continue;
        if (s->out_len + rv->total_size > s->out_cap) {
            size_t cap = s->out_cap ? s->out_cap : 4096;
            while (cap < s->out_len + rv->total_size)
                cap *= 2;
            uint8_t *n = realloc(s->out, cap);
            if (n == NULL)
                continue;
            s->out = n;
            s->out_cap = cap;
        }
        memcpy(s->out + s->out_len, t->rec, rv->total_size);
        s->out_len += rv->total_size;
        s->out_count++;
        s->deadline_ms = 0; /* answer at the end of this walk */
        taken = true;
    }
    pthread_mutex_unlock(&t->lock);
    return taken;
}

/*
 * Look at one pending half; returns 1 if it was open after the look.
 * *fresh_wait is set once a never-checked half is found not due: the walk
 * goes in log order, and store times are monotonic in log order, so no
 * later never-checked half is due either and their records need no read.
 */
static int check_one(tx_service_t *t, const txn_entry_t *e, uint64_t now, bool *fresh_wait)
{
    const broker_config_t *cfg = &t->b->cfg;
    if (recent_has(t, e->phys))
        return 0; /* resolved a moment ago; the dispatcher drops the entry soon */
    if (e->next_check_ts ? e->next_check_ts > now : *fresh_wait)
        return 1; /* not due: no need to read it */
    record_view_t rv;
    int rc = read_record(t, e->phys, &rv);
    if (rc) {
        LOG_WARN(LOG_MOD, "cannot read the half message at %" PRIu64 ": %s", e->phys,
                 rill_strerror(rc));
        return 1;
    }
    uint64_t due =
        e->next_check_ts ? e->next_check_ts : rv.store_ts + (uint64_t)cfg->transaction_time_out;
    if (due > now) {
        *fresh_wait = true;
        return 1;
    }
    char group[BROKER_GROUP_BYTES_MAX + 1];
    pgroup_of(&rv, group, sizeof(group));
    if (e->check_count >= (uint64_t)cfg->transaction_check_max) {
        rc = resolve(t, &rv, e->phys, false);
        if (rc == 0)
            LOG_WARN(LOG_MOD,
                     "rolled back the half message at %" PRIu64 " (topic %.*s, group %s): "
                     "unresolved after %u check-backs",
                     e->phys, (int)rv.topic_len, rv.topic, group[0] ? group : "?", e->check_count);
        else
            LOG_ERROR(LOG_MOD, "cannot roll back the half at %" PRIu64 ": %s", e->phys,
                      rill_strerror(rc));
        return rc == 0 ? 0 : 1;
    }
    bool asked = group[0] && offer_check(t, group, &rv);
    if (!asked && now - due < (uint64_t)cfg->transaction_check_interval)
        return 1; /* wait for a producer to poll (it may be polling another broker) */
    if (!asked)
        LOG_DEBUG(LOG_MOD, "no producer of group %s polled for the check of the half at %" PRIu64,
                  group[0] ? group : "?", e->phys);
    rc = store_txn_set_check(t->b->store, e->phys, e->check_count + 1,
                             now + (uint64_t)cfg->transaction_check_interval);
    if (rc && rc != RILL_ENOTFOUND)
        LOG_WARN(LOG_MOD, "cannot record the check of the half at %" PRIu64 ": %s", e->phys,
                 rill_strerror(rc));
    return 1;
}

static void scan(tx_service_t *t)
{
    if (t->b->cfg.broker_role == BROKER_SLAVE)
        return; /* the master checks back; a slave's `txn` follows its log */
    uint64_t from = 0, open = 0, seen = 0;
    uint64_t now = rill_now_ms();
    bool fresh_wait = false;
    recent_prune(t);
    for (;;) {
        size_t n = 0;
        int rc = store_txn_list(t->b->store, from, t->batch, TX_SCAN_BATCH, &n);
        if (rc) {
            LOG_WARN(LOG_MOD, "cannot read the txn table: %s", rill_strerror(rc));
            return;
        }
        for (size_t i = 0; i < n; i++)
            open += (uint64_t)check_one(t, &t->batch[i], now, &fresh_wait);
        seen += n;
        if (n < TX_SCAN_BATCH || seen >= TX_SCAN_MAX)
            break;
        from = t->batch[n - 1].phys + 1;
    }
    atomic_store(&t->pending, open);
}

/* ---- the thread ---- */

static void *tx_main(void *arg)
{
    tx_service_t *t = arg;
    pthread_setname_np(pthread_self(), "tx-check");
    uint64_t next_scan = 0;
    tx_end_t ends[64];
    tx_answer_t ready[TX_POLLS_MAX];
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        /* END_TRANSACTION first: producers wait on them */
        size_t ne = 0;
        while (t->end_count && ne < sizeof(ends) / sizeof(ends[0])) {
            ends[ne++] = t->ends[t->end_head];
            t->end_head = (t->end_head + 1) % TX_END_QUEUE_MAX;
            t->end_count--;
        }
        bool do_scan = t->kick || rill_mono_ms() >= next_scan;
        t->kick = false;
        pthread_mutex_unlock(&t->lock);
        for (size_t i = 0; i < ne; i++)
            end_one(t, ends[i].req, ends[i].msg->end_transaction);
        if (do_scan) {
            scan(t);
            next_scan = rill_mono_ms() + TX_SCAN_MS;
        }
        /* answer polls that got checks or reached their deadline */
        size_t nr = 0;
        uint64_t mono = rill_mono_ms();
        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < TX_POLLS_MAX; i++) {
            tx_poll_t *s = &t->polls[i];
            if (s->used && s->deadline_ms <= mono) {
                /* out of the table with its buffer: ours to answer, the slot is free */
                ready[nr++] = (tx_answer_t){s->req, s->out, s->out_len, s->out_count};
                s->used = false;
                s->out = NULL;
                s->out_len = s->out_cap = 0;
                s->out_count = 0;
            }
        }
        pthread_mutex_unlock(&t->lock);
        for (size_t i = 0; i < nr; i++) {
            reply_checks(ready[i].req, ready[i].out, ready[i].len, ready[i].count);
            free(ready[i].out);
        }
        pthread_mutex_lock(&t->lock);
        if (nr == 0 && t->end_count == 0 && !t->kick && !t->stop) {
            struct timespec dl;
            rill_deadline_after_ms(&dl, TX_TICK_MS);
            pthread_cond_timedwait(&t->cond, &t->lock, &dl);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int transaction_start(tx_service_t **out, broker_t *b)
{
    tx_service_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return ENOMEM;
    t->b = b;
    int rc = pthread_mutex_init(&t->lock, NULL);
    if (rc) {
        free(t);
        return rc;
    }
    rc = rill_cond_init_monotonic(&t->cond);
    if (rc)
        goto fail;
    rc = pthread_create(&t->thread, NULL, tx_main, t);
    if (rc) {
        pthread_cond_destroy(&t->cond);
        goto fail;
    }
    t->thread_started = true;
    *out = t;
    return 0;
fail:
    pthread_mutex_destroy(&t->lock);
    free(t);
    return rc;
}

int transaction_register(broker_t *b)
{
    int rc = rpc_server_set_handler(b->rpc, RILL__REQUEST_CODE__END_TRANSACTION, handle_end, b);
    if (rc == 0)
        rc = rpc_server_set_handler(b->rpc, RILL__REQUEST_CODE__POLL_TRANSACTION_CHECK, handle_poll,
                                    b);
    return rc;
}

void transaction_stop(tx_service_t *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    bool was = t->stop;
    t->stop = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    if (was)
        return;
    if (t->thread_started)
        pthread_join(t->thread, NULL);
    t->thread_started = false;
    /* the thread is gone: the tables are ours; new requests see stop */
    while (t->end_count) {
        rpc_reply_code(t->ends[t->end_head].req, RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE,
                       "broker shutting down");
        t->end_head = (t->end_head + 1) % TX_END_QUEUE_MAX;
        t->end_count--;
    }
    for (size_t i = 0; i < TX_POLLS_MAX; i++) {
        tx_poll_t *s = &t->polls[i];
        if (s->used) {
            s->used = false;
            reply_checks(s->req, s->out, s->out_len, s->out_count);
        }
    }
}

void transaction_free(tx_service_t *t)
{
    if (t == NULL)
        return;
    transaction_stop(t);
    for (size_t i = 0; i < TX_POLLS_MAX; i++)
        free(t->polls[i].out);
    free(t->rec);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

uint64_t transaction_pending_count(tx_service_t *t)
{
    return t ? atomic_load(&t->pending) : 0;
}
