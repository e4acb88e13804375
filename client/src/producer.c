/*
 * producer.c - rill_producer_t's lifecycle and the pieces every send shares:
 * queue choice, the fault memory, UNIQ_KEY, judging a broker's answer,
 * heartbeats, flush and destroy. The sends themselves are in
 * producer_send.c and producer_batch.c.
 *
 * Design notes
 * ------------
 * Queue choice is RocketMQ's MQFaultStrategy, lite: a round-robin counter
 * over the route's write queues (sorted by broker name, then queue id), skipping
 * a broker set that failed in transport within PR_FAULT_MS while another set
 * can take the message, and the set the previous attempt failed on.
 *
 * Threads and state:
 *  - caller threads run sync sends and start async ones; nng's threads run
 *    async completions (retries start from there); the client's "rill-timer"
 *    thread runs the heartbeat task. None holds a producer lock across a call
 *    or a user callback.
 *  - `inflight` counts accepted async/oneway sends until their completion has
 *    run (the user callback returned); `aux_inflight` counts heartbeat and
 *    unregister calls. Both are atomics; a completion takes `mtx` only to
 *    signal `drained` when its count reaches 0. That completion may still be
 *    running when a waiter wakes, so destroy frees the producer only after
 *    rc_client_close(), which waits until every rpc callback has returned.
 *  - The fault table has its own mutex, taken only when it holds an entry.
 *  - Destroy: flush (forever), refuse new sends, flush again (callbacks may
 *    have sent), cancel the heartbeat, unregister in parallel, wait for those
 *    calls (bounded by their timeout; nng must not be closed with answers in
 *    flight, see docs/PROTOCOL.md), close the client, free.
 */
#include "client/src/producer.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/props.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "producer"

static _Thread_local bool tl_in_callback;

bool pr_in_callback(void)
{
    return tl_in_callback;
}

void pr_set_in_callback(bool on)
{
    tl_in_callback = on;
}

const char *rill_send_status_name(rill_send_status_t status)
{
    switch (status) {
    case RILL_SEND_OK:
        return "SEND_OK";
    case RILL_SEND_FLUSH_DISK_TIMEOUT:
        return "FLUSH_DISK_TIMEOUT";
    case RILL_SEND_FLUSH_SLAVE_TIMEOUT:
        return "FLUSH_SLAVE_TIMEOUT";
    case RILL_SEND_SLAVE_NOT_AVAILABLE:
        return "SLAVE_NOT_AVAILABLE";
    }
    return "UNKNOWN";
}

/* ---- fault memory ---- */

/* Index of name in the table, or -1. fault_mtx held. */
static int fault_find(rill_producer_t *p, const char *name)
{
    for (int i = 0; i < PR_FAULT_SETS_MAX; i++)
        if (p->faults[i].name[0] && strcmp(p->faults[i].name, name) == 0)
            return i;
    return -1;
}

void pr_fault(rill_producer_t *p, const char *broker_name)
{
    uint64_t now = rill_mono_ms();
    pthread_mutex_lock(&p->fault_mtx);
    int i = fault_find(p, broker_name);
    for (int k = 0; i < 0 && k < PR_FAULT_SETS_MAX; k++)
        if (p->faults[k].name[0] == '\0' || p->faults[k].until_ms <= now)
            i = k;
    if (i >= 0) {
        if (p->faults[i].name[0] == '\0')
            atomic_fetch_add(&p->n_faults, 1);
        snprintf(p->faults[i].name, sizeof(p->faults[i].name), "%s", broker_name);
        p->faults[i].until_ms = now + PR_FAULT_MS;
    }
    pthread_mutex_unlock(&p->fault_mtx);
}

void pr_ok(rill_producer_t *p, const char *broker_name)
{
    if (atomic_load_explicit(&p->n_faults, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&p->fault_mtx);
    int i = fault_find(p, broker_name);
    if (i >= 0) {
        p->faults[i].name[0] = '\0';
        atomic_fetch_sub(&p->n_faults, 1);
    }
    pthread_mutex_unlock(&p->fault_mtx);
}

static bool is_faulty(rill_producer_t *p, const char *broker_name, uint64_t now)
{
    if (atomic_load_explicit(&p->n_faults, memory_order_relaxed) == 0)
        return false;
    pthread_mutex_lock(&p->fault_mtx);
    int i = fault_find(p, broker_name);
    bool faulty = i >= 0 && p->faults[i].until_ms > now;
    pthread_mutex_unlock(&p->fault_mtx);
    return faulty;
}

/* ---- queue choice ---- */

/* The master of q's set in r, or NULL. */
static const char *master_of(const rc_route_t *r, const rill_queue_t *q)
{
    const rc_broker_set_t *s = rc_route_set(r, q->broker_name);
    return s ? rc_set_addr(s, 0) : NULL;
}

static void target_set(pr_target_t *out, const rill_queue_t *q, const char *addr)
{
    out->q = *q;
    snprintf(out->addr, sizeof(out->addr), "%s", addr);
}

int pr_pick(rill_producer_t *p, const rc_route_t *r, const char *avoid, bool strict,
            pr_target_t *out)
{
    size_t n = r->n_write;
    if (n == 0)
        return rc_fail(RILL_ENOROUTE, "topic \"%s\" has no writable queue", r->topic);
    size_t start = atomic_fetch_add_explicit(&p->next_queue, 1, memory_order_relaxed);
    uint64_t now = rill_mono_ms();
    long faulty_other = -1, avoided = -1;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        const rill_queue_t *q = &r->write_queues[i];
        const char *addr = master_of(r, q);
        if (addr == NULL)
            continue;
        if (avoid && strcmp(q->broker_name, avoid) == 0) {
            if (avoided < 0)
                avoided = (long)i;
            continue;
        }
        if (is_faulty(p, q->broker_name, now)) {
            if (faulty_other < 0)
                faulty_other = (long)i;
            continue;
        }
        target_set(out, q, addr);
        return 0;
    }
    /* Every other set failed lately: one of them may be back; the set that
     * just failed only if nothing else exists and the failure allows it. */
    long i = faulty_other >= 0 ? faulty_other : strict ? -1 : avoided;
    if (i < 0)
        return rc_fail(RILL_ENOROUTE, "no broker set of topic \"%s\" with a master can take it%s%s",
                       r->topic, avoid ? " besides " : "", avoid ? avoid : "");
    target_set(out, &r->write_queues[i], master_of(r, &r->write_queues[i]));
    return 0;
}

int pr_find(const rc_route_t *r, const rill_queue_t *q, pr_target_t *out)
{
    for (size_t i = 0; i < r->n_write; i++) {
        const rill_queue_t *w = &r->write_queues[i];
        if (w->queue_id == q->queue_id && strcmp(w->broker_name, q->broker_name) == 0) {
            const char *addr = master_of(r, w);
            if (addr == NULL)
                return rc_fail(RILL_ENOROUTE, "broker set %s of topic \"%s\" has no master",
                               q->broker_name, r->topic);
            target_set(out, w, addr);
            return 0;
        }
    }
    return rc_fail(RILL_ENOROUTE, "topic \"%s\" has no writable queue %s:%d any more", r->topic,
                   q->broker_name, q->queue_id);
}

/* ---- messages and answers ---- */

int pr_unique_key(rill_msg_t *msg, char out[RILL_MSGID_BYTES + 1])
{
    const char *have = rill_msg_property(msg, RILL_PROP_UNIQ_KEY);
    if (have) {
        snprintf(out, RILL_MSGID_BYTES + 1, "%s", have);
        return 0;
    }
    rc_unique_key(out);
    if (msg->n_props == msg->cap_props) {
        size_t cap = msg->cap_props ? msg->cap_props * 2 : 4;
        rc_prop_t *props = realloc(msg->props, cap * sizeof(*props));
        if (props == NULL)
            return rc_fail(ENOMEM, "out of memory for the UNIQ_KEY property");
        msg->props = props;
        msg->cap_props = cap;
    }
    char *name = strdup(RILL_PROP_UNIQ_KEY);
    char *value = strdup(out);
    if (name == NULL || value == NULL) {
        free(name);
        free(value);
        return rc_fail(ENOMEM, "out of memory for the UNIQ_KEY property");
    }
    msg->props[msg->n_props].name = name;
    msg->props[msg->n_props].value = value;
    msg->n_props++;
    return 0;
}

bool pr_transport_retryable(int rc)
{
    return rc == RILL_ETIMEDOUT || rc == RILL_ECONNREFUSED || rc == RILL_ENET ||
           rc == RILL_ECORRUPT || rc == RILL_EBUSY;
}

enum pr_verdict pr_judge(const Rill__Response *resp, const char *addr, bool batch, bool refreshed,
                         int *rc, rill_send_status_t *status, bool *avoid_strict, bool *refresh)
{
    *avoid_strict = false;
    *refresh = false;
    bool has_body =
        batch ? resp->body_case == RILL__RESPONSE__BODY_SEND_BATCH && resp->send_batch != NULL
              : resp->body_case == RILL__RESPONSE__BODY_SEND_MESSAGE && resp->send_message != NULL;
    switch (resp->code) {
    case RILL__RESPONSE_CODE__SUCCESS:
        if (!has_body) {
            *rc = rc_fail(RILL_EBROKER, "%s answered SUCCESS without a send result", addr);
            return PR_FAIL;
        }
        *status = RILL_SEND_OK;
        return PR_DONE;
    /* Stored, but not as durably as the broker is configured to: with a
     * result these are statuses (RocketMQ's SendStatus), without one errors. */
    case RILL__RESPONSE_CODE__FLUSH_DISK_TIMEOUT:
    case RILL__RESPONSE_CODE__FLUSH_SLAVE_TIMEOUT:
    case RILL__RESPONSE_CODE__SLAVE_NOT_AVAILABLE:
        if (!has_body) {
            *rc = rc_response_error(resp, addr);
            return PR_FAIL;
        }
        *status = resp->code == RILL__RESPONSE_CODE__FLUSH_DISK_TIMEOUT
                      ? RILL_SEND_FLUSH_DISK_TIMEOUT
                  : resp->code == RILL__RESPONSE_CODE__FLUSH_SLAVE_TIMEOUT
                      ? RILL_SEND_FLUSH_SLAVE_TIMEOUT
                      : RILL_SEND_SLAVE_NOT_AVAILABLE;
        return PR_DONE;
    case RILL__RESPONSE_CODE__SYSTEM_BUSY:
    case RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE:
    case RILL__RESPONSE_CODE__SYSTEM_ERROR:
        *rc = rc_response_error(resp, addr);
        return PR_RETRY;
    case RILL__RESPONSE_CODE__NO_PERMISSION:
        *rc = rc_response_error(resp, addr);
        *avoid_strict = true; /* only another set could take it */
        return PR_RETRY;
    case RILL__RESPONSE_CODE__TOPIC_NOT_EXIST:
        *rc = rc_response_error(resp, addr);
        if (refreshed)
            return PR_FAIL;
        *refresh = true;
        return PR_RETRY;
    default: /* MESSAGE_ILLEGAL and anything else: the message itself is refused */
        *rc = rc_response_error(resp, addr);
        return PR_FAIL;
    }
}

/* snprintf(dst, cap, "%s", src) without the formatting machinery */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void pr_fill_result(rill_send_result_t *res, const Rill__SendMessageResponse *b,
                    rill_send_status_t status, const char *broker_name, const char *unique_key)
{
    /* copies by hand: snprintf("%s") was a visible share of the completion thread */
    res->status = status;
    copy_str(res->msg_id, sizeof(res->msg_id), b->msg_id ? b->msg_id : "");
    copy_str(res->unique_key, sizeof(res->unique_key), unique_key);
    copy_str(res->broker_name, sizeof(res->broker_name), broker_name);
    res->queue_id = b->queue_id;
    res->queue_offset = b->queue_offset;
    res->commitlog_offset = b->commitlog_offset;
}

void pr_request_one(Rill__Request *req, Rill__SendMessageRequest *sm, rill_producer_t *p,
                    int32_t queue_id, Rill__Message *m)
{
    rill__request__init(req);
    rill__send_message_request__init(sm);
    sm->producer_group = p->group;
    sm->queue_id = queue_id;
    sm->message = m;
    req->code = RILL__REQUEST_CODE__SEND_MESSAGE;
    req->body_case = RILL__REQUEST__BODY_SEND_MESSAGE;
    req->send_message = sm;
}

/* ---- in-flight accounting ---- */

static void signal_drained(rill_producer_t *p)
{
    pthread_mutex_lock(&p->mtx);
    pthread_cond_broadcast(&p->drained);
    pthread_mutex_unlock(&p->mtx);
}

void pr_async_end(rill_producer_t *p)
{
    long before = atomic_fetch_sub(&p->inflight, 1);
    assert(before > 0);
    if (before == 1)
        signal_drained(p);
}

void pr_aux_end(rill_producer_t *p)
{
    long before = atomic_fetch_sub(&p->aux_inflight, 1);
    assert(before > 0);
    if (before == 1)
        signal_drained(p);
}

/* Wait until *count is 0; timeout_ms < 0: forever. true when drained. */
static bool wait_drained(rill_producer_t *p, atomic_long *count, int timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms >= 0)
        rill_deadline_after_ms(&deadline, (uint64_t)timeout_ms);
    pthread_mutex_lock(&p->mtx);
    while (atomic_load(count) > 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&p->drained, &p->mtx);
        } else if (pthread_cond_timedwait(&p->drained, &p->mtx, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    bool drained = atomic_load(count) == 0;
    pthread_mutex_unlock(&p->mtx);
    return drained;
}

int rill_producer_flush(rill_producer_t *p, int timeout_ms)
{
    if (p == NULL)
        return rc_fail(RILL_EINVAL, "producer is NULL");
    assert(!pr_in_callback() && "rill_producer_flush() from a send callback would wait forever");
    pr_linger_drain(p); /* open batches leave now */
    if (wait_drained(p, &p->inflight, timeout_ms))
        return 0;
    return rc_fail(RILL_ETIMEDOUT, "%ld sends still in flight after %d ms",
                   atomic_load(&p->inflight), timeout_ms);
}

/* ---- heartbeat and unregister ---- */

static void aux_done(int rc, Rill__Response *resp, void *arg)
{
    rill_producer_t *p = arg;
    if (rc == 0 && resp->code != RILL__RESPONSE_CODE__SUCCESS)
        LOG_DEBUG(LOG_MOD, "heartbeat/unregister answered %d: %s", resp->code,
                  resp->remark ? resp->remark : "");
    rpc_response_free(resp);
    pr_aux_end(p);
}

/* Fire one membership call at addr; its answer is only logged. */
static void aux_call(rill_producer_t *p, const char *addr, const Rill__Request *req,
                     uint32_t timeout_ms)
{
    rpc_client_t *conn = NULL;
    if (rc_broker_conn(p->cli, addr, &conn) != 0)
        return;
    atomic_fetch_add(&p->aux_inflight, 1);
    int rc = rpc_client_call_async(conn, req, timeout_ms, aux_done, p);
    if (rc != 0) {
        LOG_DEBUG(LOG_MOD, "cannot send to %s: %s", addr, rill_strerror(rc));
        pr_aux_end(p);
    }
}

static uint32_t aux_timeout(const rill_producer_t *p, uint32_t cap_ms)
{
    int64_t t = p->conf->request_timeout_ms;
    return t > 0 && t < cap_ms ? (uint32_t)t : cap_ms;
}

/*
 * Timer task: HEART_BEAT with our group to every broker of the routes we use.
 * A producer's heartbeat is informational (the broker lists its producers),
 * so its budget is short: a dead broker must not hold destroy for long.
 */
static void heartbeat_task(void *arg)
{
    rill_producer_t *p = arg;
    int64_t every = p->conf->heartbeat_interval_ms;
    uint32_t budget = every > 0 && every < PR_HEARTBEAT_TIMEOUT_MS
                          ? (every < 1000 ? 1000 : (uint32_t)every)
                          : PR_HEARTBEAT_TIMEOUT_MS;
    char *groups[1] = {p->group};
    Rill__HeartbeatRequest hb = RILL__HEARTBEAT_REQUEST__INIT;
    hb.client_id = p->conf->client_id;
    hb.n_producer_groups = 1;
    hb.producer_groups = groups;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__HEART_BEAT;
    req.body_case = RILL__REQUEST__BODY_HEARTBEAT;
    req.heartbeat = &hb;
    size_t n = rc_client_broker_addrs(p->cli, p->hb_addrs, RC_BROKERS_MAX);
    for (size_t i = 0; i < n; i++)
        aux_call(p, p->hb_addrs[i], &req, aux_timeout(p, budget));
}

static void unregister_all(rill_producer_t *p)
{
    Rill__UnregisterClientRequest ur = RILL__UNREGISTER_CLIENT_REQUEST__INIT;
    ur.client_id = p->conf->client_id;
    ur.producer_group = p->group;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UNREGISTER_CLIENT;
    req.body_case = RILL__REQUEST__BODY_UNREGISTER_CLIENT;
    req.unregister_client = &ur;
    size_t n = rc_client_broker_addrs(p->cli, p->hb_addrs, RC_BROKERS_MAX);
    for (size_t i = 0; i < n; i++)
        aux_call(p, p->hb_addrs[i], &req, aux_timeout(p, PR_UNREGISTER_TIMEOUT_MS));
}

/* ---- lifecycle ---- */

int rill_producer_new(rill_producer_t **out, rill_conf_t *conf, char *errstr, size_t errstr_size)
{
    if (out == NULL) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "out is NULL");
        return rc_fail(RILL_EINVAL, "out is NULL");
    }
    bool own_conf = conf == NULL;
    if (own_conf && (conf = rill_conf_new()) == NULL)
        return rc_fail(ENOMEM, "out of memory");
    rill_producer_t *p = calloc(1, sizeof(*p));
    int rc = ENOMEM;
    bool mtx = false, cond = false, fmtx = false;
    if (p == NULL)
        goto fail;
    p->hb_task = -1;
    p->hb_addrs = calloc(RC_BROKERS_MAX, sizeof(*p->hb_addrs));
    if (p->hb_addrs == NULL)
        goto fail;
    if ((rc = pthread_mutex_init(&p->mtx, NULL)) != 0)
        goto fail;
    mtx = true;
    if ((rc = rill_cond_init_monotonic(&p->drained)) != 0)
        goto fail;
    cond = true;
    if ((rc = pthread_mutex_init(&p->fault_mtx, NULL)) != 0)
        goto fail;
    fmtx = true;
    snprintf(p->group, sizeof(p->group), "%s", conf->group[0] ? conf->group : PR_DEFAULT_GROUP);
    if ((rc = rc_client_open(&p->cli, conf, errstr, errstr_size)) != 0)
        goto fail;
    p->conf = conf;
    if ((rc = pr_linger_start(p)) != 0) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "cannot start the linger thread: %s", strerror(rc));
        rc_client_close(p->cli);
        p->conf = NULL;
        goto fail;
    }
    int64_t every = conf->heartbeat_interval_ms > 0 ? conf->heartbeat_interval_ms : 10000;
    p->hb_task = rc_client_every(p->cli, (uint32_t)every, false, heartbeat_task, p);
    if (p->hb_task < 0) {
        rc = p->hb_task;
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "cannot schedule the heartbeat: %s", rill_strerror(rc));
        pr_linger_stop(p);
        pr_linger_free(p);
        rc_client_close(p->cli);
        goto fail;
    }
    *out = p;
    return 0;

fail:
    if (rc == ENOMEM && errstr && errstr_size)
        snprintf(errstr, errstr_size, "out of memory");
    if (p) {
        if (fmtx)
            pthread_mutex_destroy(&p->fault_mtx);
        if (cond)
            pthread_cond_destroy(&p->drained);
        if (mtx)
            pthread_mutex_destroy(&p->mtx);
        free(p->hb_addrs);
        free(p);
    }
    if (own_conf)
        rill_conf_destroy(conf);
    return rc_fail(rc, "%s", errstr && errstr_size ? errstr : rill_strerror(rc));
}

void rill_producer_destroy(rill_producer_t *p)
{
    if (p == NULL)
        return;
    assert(!pr_in_callback() && "rill_producer_destroy() from a send callback");
    pr_linger_drain(p);
    wait_drained(p, &p->inflight, -1);
    atomic_store(&p->closing, true);
    pr_linger_stop(p);                 /* ships what callbacks added; later adds go alone */
    wait_drained(p, &p->inflight, -1); /* sends a callback started before `closing` */
    rc_client_cancel(p->cli, p->hb_task);
    unregister_all(p);
    wait_drained(p, &p->aux_inflight, -1); /* every call has a timeout */
    rc_client_close(p->cli);               /* waits for callbacks still returning */
    pr_linger_free(p);
    rill_conf_destroy(p->conf);
    pthread_mutex_destroy(&p->fault_mtx);
    pthread_cond_destroy(&p->drained);
    pthread_mutex_destroy(&p->mtx);
    free(p->hb_addrs);
    free(p);
}
