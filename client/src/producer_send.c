/*
 * producer_send.c - the send loops: rill_producer_send(), _send_select(),
 * _send_async() and _send_oneway(). producer.h explains the attempt loop;
 * producer.c the queue choice and the judging of answers.
 *
 * Sync sends run every attempt on the caller's thread through
 * rc_broker_call(). Async sends run one attempt per rpc completion: the
 * completion either starts the next attempt (a new rpc_client_call_async(),
 * still on the nng thread, no lock held) or calls the user's callback, then
 * frees the send. Nothing in that path blocks: a retry reuses the route the
 * send started with (held by the send), because re-reading a route is a
 * synchronous NameServer call; routes still refresh every route.refresh.ms.
 *
 * An async send owns a flat copy of the message (send_op_t): the user's
 * message is only borrowed until send_async() returns, and a retry must
 * re-encode the same bytes with the same UNIQ_KEY.
 */
#include "client/src/producer.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/msgid.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_MOD "producer"

uint32_t pr_send_timeout(const rill_producer_t *p)
{
    int64_t t = p->conf->send_timeout_ms;
    if (t <= 0)
        return 3000;
    return t > RPC_CALL_TIMEOUT_MS_MAX ? RPC_CALL_TIMEOUT_MS_MAX : (uint32_t)t;
}

int pr_attempts(const rill_producer_t *p)
{
    return 1 + (p->conf->send_retries > 0 ? (int)p->conf->send_retries : 0);
}

/* The batch request of a job; everything borrowed. */
static void request_batch(Rill__Request *req, Rill__SendBatchRequest *sb, rill_producer_t *p,
                          const pr_job_t *job, int32_t queue_id)
{
    rill__request__init(req);
    rill__send_batch_request__init(sb);
    sb->producer_group = p->group;
    sb->topic = (char *)job->topic;
    sb->queue_id = queue_id;
    sb->n_messages = job->n;
    sb->messages = job->many;
    req->code = RILL__REQUEST_CODE__SEND_BATCH_MESSAGE;
    req->body_case = RILL__REQUEST__BODY_SEND_BATCH;
    req->send_batch = sb;
}

/* The results of a stored batch; RILL_EBROKER when the answer does not match it. */
void pr_batch_result(rill_send_result_t *res, const Rill__SendBatchResponse *b, size_t i,
                     rill_send_status_t status, const char *broker_name, const char *unique_key)
{
    Rill__SendMessageResponse one = RILL__SEND_MESSAGE_RESPONSE__INIT;
    one.msg_id = b->msg_ids[i];
    one.queue_id = b->queue_id;
    one.queue_offset = b->first_queue_offset + (int64_t)i;
    one.commitlog_offset = b->first_commitlog_offset;
    uint32_t ip;
    uint16_t port;
    uint64_t phys;
    if (i > 0 && msgid_decode(b->msg_ids[i], &ip, &port, &phys) == 0)
        one.commitlog_offset = (int64_t)phys;
    pr_fill_result(res, &one, status, broker_name, unique_key);
}

static int batch_results(const pr_job_t *job, const Rill__SendBatchResponse *b,
                         rill_send_status_t status, const pr_target_t *t)
{
    if (b->n_msg_ids != job->n)
        return rc_fail(RILL_EBROKER, "%s stored a batch of %zu but answered %zu msgIds", t->addr,
                       job->n, b->n_msg_ids);
    if (job->res == NULL)
        return 0;
    for (size_t i = 0; i < job->n; i++)
        pr_batch_result(&job->res[i], b, i, status, t->q.broker_name, job->uniq[i]);
    return 0;
}

/*
 * Re-read the route after a TOPIC_NOT_EXIST answer: the broker no longer
 * has the topic, so the NameServers may route it elsewhere or not at all.
 */
static int refresh_route(rill_producer_t *p, const char *topic, rc_route_t **r)
{
    rc_route_t *fresh = NULL;
    int rc = rc_route_get(p->cli, topic, true, &fresh);
    if (rc == 0) {
        rc_route_release(*r);
        *r = fresh;
    }
    return rc;
}

int pr_send_sync(rill_producer_t *p, const pr_job_t *job)
{
    int attempts = pr_attempts(p);
    uint32_t timeout = pr_send_timeout(p);
    bool refresh = false, refreshed = false, strict = false;
    char avoid[64] = "";
    rc_route_t *r = NULL;
    int rc = job->fixed ? rc_route_get(p->cli, job->topic, false, &r) : pr_route(p, job->topic, &r);
    if (rc != 0)
        return rc;
    for (int a = 0; a < attempts; a++) {
        if (refresh) {
            if ((rc = refresh_route(p, job->topic, &r)) != 0)
                break;
            refreshed = true;
            refresh = false;
        }
        pr_target_t t;
        int pick_rc = job->fixed ? pr_find(r, job->fixed, &t)
                                 : pr_pick(p, r, avoid[0] ? avoid : NULL, strict, &t);
        if (pick_rc != 0) {
            if (!(strict && rc != 0))
                rc = pick_rc; /* else the refusal explains more than "no other set" */
            break;
        }

        Rill__Request req;
        Rill__SendMessageRequest sm;
        Rill__SendBatchRequest sb;
        if (job->batch)
            request_batch(&req, &sb, p, job, t.q.queue_id);
        else
            pr_request_one(&req, &sm, p, t.q.queue_id, job->one);
        Rill__Response *resp = NULL;
        rc = rc_broker_call(p->cli, t.addr, &req, timeout, &resp);
        snprintf(avoid, sizeof(avoid), "%s", t.q.broker_name);
        if (rc != 0) {
            if (!pr_transport_retryable(rc))
                break;
            /* No forced route refresh here: a refresh that finds no broker
             * drops the cached route (rc_route_get), and a lone broker that is
             * restarting must not turn into RILL_ETOPIC. The fault memory
             * steers around the set; the periodic refresh (which keeps the
             * last route) picks up what the NameServers learn. */
            pr_fault(p, t.q.broker_name);
            strict = false;
            continue;
        }
        rill_send_status_t status;
        enum pr_verdict v =
            pr_judge(resp, t.addr, job->batch, refreshed, &rc, &status, &strict, &refresh);
        if (v == PR_DONE) {
            pr_ok(p, t.q.broker_name);
            if (job->batch) {
                rc = batch_results(job, resp->send_batch, status, &t);
            } else if (job->res) {
                pr_fill_result(job->res, resp->send_message, status, t.q.broker_name, job->uniq[0]);
            }
        }
        rpc_response_free(resp);
        if (v != PR_RETRY)
            break;
    }
    rc_route_release(r);
    return rc;
}

/* Checks every send starts with; 0 or an rc_fail'd code. */
static int send_check(rill_producer_t *p, const rill_msg_t *msg)
{
    if (p == NULL || msg == NULL)
        return rc_fail(RILL_EINVAL, "producer or message is NULL");
    if (atomic_load_explicit(&p->closing, memory_order_relaxed))
        return rc_fail(RILL_ECLOSED, "the producer is being destroyed");
    return 0;
}

/* The queue a selector picks for msg: 0 or an rc_fail'd code. */
static int select_queue(rill_producer_t *p, const rill_msg_t *msg, rill_queue_selector_cb selector,
                        void *arg, rill_queue_t *out)
{
    rc_route_t *r = NULL;
    int rc = rc_route_get(p->cli, msg->topic, false, &r);
    if (rc != 0)
        return rc;
    if (r->n_write == 0) {
        rc_route_release(r);
        return rc_fail(RILL_ENOROUTE, "topic \"%s\" has no writable queue", msg->topic);
    }
    int n = r->n_write > INT32_MAX ? INT32_MAX : (int)r->n_write;
    int i = selector(n, msg, arg) % n;
    *out = r->write_queues[i < 0 ? i + n : i];
    rc_route_release(r);
    return 0;
}

/* A sync send of one message; to the selector's queue when selector is set. */
static int send_one(rill_producer_t *p, rill_msg_t *msg, rill_queue_selector_cb selector, void *arg,
                    rill_send_result_t *res)
{
    int rc = send_check(p, msg);
    if (rc != 0)
        return rc;
    char uniq[1][RILL_MSGID_BYTES + 1];
    if ((rc = pr_unique_key(msg, uniq[0])) != 0)
        return rc;
    rc_wire_msg_t w;
    if ((rc = rc_wire_msg_init(&w, msg, p->conf)) != 0) /* refusals before any call */
        return rc;
    rill_queue_t fixed;
    if (selector == NULL || (rc = select_queue(p, msg, selector, arg, &fixed)) == 0) {
        pr_job_t job = {.topic = msg->topic,
                        .one = &w.pb,
                        .n = 1,
                        .fixed = selector ? &fixed : NULL,
                        .res = res,
                        .uniq = uniq};
        rc = pr_send_sync(p, &job);
    }
    rc_wire_msg_free(&w);
    return rc;
}

int rill_producer_send(rill_producer_t *p, rill_msg_t *msg, rill_send_result_t *res)
{
    return send_one(p, msg, NULL, NULL, res);
}

int rill_producer_send_select(rill_producer_t *p, rill_msg_t *msg, rill_queue_selector_cb selector,
                              void *arg, rill_send_result_t *res)
{
    if (selector == NULL)
        return rc_fail(RILL_EINVAL, "selector is NULL");
    return send_one(p, msg, selector, arg, res);
}

/* ======================================================================== */
/* Async                                                                    */
/* ======================================================================== */

static size_t str_bytes(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static char *flat_str(unsigned char **cur, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = (char *)*cur;
    memcpy(d, s, n);
    *cur += n;
    return d;
}

/* A send_op holding a copy of msg (one allocation), encoded. */
int pr_op_new(rill_producer_t *p, const rill_msg_t *msg, send_op_t **out)
{
    size_t need = msg->n_props * sizeof(rc_prop_t) + msg->body_len + str_bytes(msg->tags) +
                  str_bytes(msg->keys);
    for (size_t i = 0; i < msg->n_props; i++)
        need += str_bytes(msg->props[i].name) + str_bytes(msg->props[i].value);
    send_op_t *op = malloc(sizeof(*op) + need);
    if (op == NULL)
        return rc_fail(ENOMEM, "out of memory for an async send");
    op->shadow = *msg;
    unsigned char *cur = op->flat;
    rc_prop_t *props = (rc_prop_t *)cur;
    cur += msg->n_props * sizeof(rc_prop_t);
    for (size_t i = 0; i < msg->n_props; i++) {
        props[i].name = flat_str(&cur, msg->props[i].name);
        props[i].value = flat_str(&cur, msg->props[i].value);
    }
    op->shadow.props = msg->n_props ? props : NULL;
    op->shadow.cap_props = msg->n_props;
    op->shadow.body = msg->body_len ? cur : NULL;
    if (msg->body_len)
        memcpy(cur, msg->body, msg->body_len);
    cur += msg->body_len;
    op->shadow.tags = flat_str(&cur, msg->tags);
    op->shadow.keys = flat_str(&cur, msg->keys);
    assert((size_t)(cur - op->flat) == need);
    int rc = rc_wire_msg_init(&op->w, &op->shadow, p->conf);
    if (rc != 0) {
        free(op);
        return rc;
    }
    op->p = p;
    op->route = NULL;
    *out = op;
    return 0;
}

void pr_op_free(send_op_t *op)
{
    rc_route_release(op->route);
    rc_wire_msg_free(&op->w);
    free(op);
}

static void on_reply(int rc, Rill__Response *resp, void *arg);

/*
 * Start the current attempt of op at op->target. 0: on_reply will run.
 * When the connection has no free call slot, a caller's thread (may_wait)
 * waits for one up to the attempt's timeout, as RocketMQ's async send waits
 * for its semaphore; an nng thread must not block, so its retry fails.
 */
int pr_call_async(rill_producer_t *p, const char *addr, const Rill__Request *req,
                  uint32_t timeout_ms, rpc_client_cb cb, void *arg, bool may_wait)
{
    rpc_client_t *conn = NULL;
    int rc = rc_broker_conn(p->cli, addr, &conn);
    if (rc != 0)
        return rc_fail(rc, "cannot use broker %s: %s", addr, rill_strerror(rc));
    rc = rpc_client_call_async(conn, req, timeout_ms, cb, arg);
    if (rc == RILL_EBUSY && may_wait) {
        uint64_t deadline = rill_mono_ms() + timeout_ms;
        long pause_us = PR_SLOT_WAIT_MIN_US;
        while (rc == RILL_EBUSY && rill_mono_ms() < deadline) {
            struct timespec ts = {0, pause_us * 1000};
            nanosleep(&ts, NULL);
            pause_us = pause_us * 2 > PR_SLOT_WAIT_MAX_US ? PR_SLOT_WAIT_MAX_US : pause_us * 2;
            rc = rpc_client_call_async(conn, req, timeout_ms, cb, arg);
        }
    }
    if (rc == RILL_EBUSY)
        return rc_fail(rc, "every call slot to %s stayed busy for %u ms", addr, timeout_ms);
    if (rc != 0)
        return rc_fail(rc, "cannot send to %s: %s", addr, rill_strerror(rc));
    return 0;
}

static int op_start(send_op_t *op, bool may_wait)
{
    Rill__Request req;
    Rill__SendMessageRequest sm;
    pr_request_one(&req, &sm, op->p, op->target.q.queue_id, &op->w.pb);
    return pr_call_async(op->p, op->target.addr, &req, op->timeout_ms, on_reply, op, may_wait);
}

/* End op: the user's callback, then free it and count it done. */
void pr_op_complete(send_op_t *op, int rc, const rill_send_result_t *res)
{
    rill_producer_t *p = op->p;
    if (op->cb) {
        pr_set_in_callback(true);
        op->cb(rc, rc == 0 ? res : NULL, op->opaque);
        pr_set_in_callback(false);
    }
    pr_op_free(op);
    pr_async_end(p);
}

/* A transport failure of an async attempt, explained as rc_broker_call() does. */
int pr_transport_fail(rill_producer_t *p, const char *addr, uint32_t timeout_ms, int rc)
{
    rc_broker_mark_down(p->cli, addr);
    switch (rc) {
    case RILL_ETIMEDOUT:
        return rc_fail(rc, "no answer from %s within %u ms", addr, timeout_ms);
    case RILL_ECONNREFUSED:
        return rc_fail(rc, "cannot connect to %s within %u ms", addr, timeout_ms);
    case RILL_ECLOSED:
        return rc_fail(rc, "the producer closed while sending to %s", addr);
    default:
        return rc_fail(rc, "call to %s failed: %s", addr, rill_strerror(rc));
    }
}

/*
 * Completion of one async attempt (nng thread): done, or the next attempt,
 * or the user's callback with the last error.
 */
static void on_reply(int rc, Rill__Response *resp, void *arg)
{
    send_op_t *op = arg;
    rill_producer_t *p = op->p;
    bool strict = false, refresh = false;
    rill_send_result_t res;
    if (rc != 0) {
        rc = pr_transport_fail(p, op->target.addr, op->timeout_ms, rc);
        if (!pr_transport_retryable(rc))
            goto done;
        pr_fault(p, op->target.q.broker_name);
    } else {
        rc_broker_mark_up(p->cli, op->target.addr);
        rill_send_status_t status;
        /* no route refresh here (it would block): TOPIC_NOT_EXIST retries once elsewhere */
        enum pr_verdict v = pr_judge(resp, op->target.addr, false, op->attempt > 0, &rc, &status,
                                     &strict, &refresh);
        if (v == PR_DONE) {
            pr_ok(p, op->target.q.broker_name);
            pr_fill_result(&res, resp->send_message, status, op->target.q.broker_name, op->uniq);
            rc = 0;
        }
        rpc_response_free(resp);
        if (v != PR_RETRY)
            goto done;
    }
    /* The next attempts; one that cannot even start counts as failed. */
    while (++op->attempt < op->attempts) {
        char avoid[64];
        snprintf(avoid, sizeof(avoid), "%s", op->target.q.broker_name);
        int pick_rc = pr_pick(p, op->route, avoid, strict, &op->target);
        if (pick_rc != 0) {
            if (!strict)
                rc = pick_rc;
            break;
        }
        int start_rc = op_start(op, false);
        if (start_rc == 0)
            return; /* op belongs to the next completion */
        rc = start_rc;
        if (!pr_transport_retryable(rc))
            break;
    }
done:
    pr_op_complete(op, rc, &res);
}

static int send_async(rill_producer_t *p, rill_msg_t *msg, rill_send_cb cb, void *opaque)
{
    int rc = send_check(p, msg);
    if (rc != 0)
        return rc;
    long max = p->conf->send_inflight_max > 0 ? (long)p->conf->send_inflight_max : 10000;
    if (atomic_fetch_add(&p->inflight, 1) >= max) {
        pr_async_end(p);
        return rc_fail(RILL_EBUSY, "%ld sends in flight (send.inflight.max)", max);
    }
    send_op_t *op = NULL;
    char uniq[RILL_MSGID_BYTES + 1];
    if ((rc = pr_unique_key(msg, uniq)) != 0 || (rc = pr_op_new(p, msg, &op)) != 0)
        goto fail;
    memcpy(op->uniq, uniq, sizeof(uniq));
    op->cb = cb;
    op->opaque = opaque;
    op->attempt = 0;
    op->attempts = cb ? pr_attempts(p) : 1; /* oneway: no retries */
    op->timeout_ms = pr_send_timeout(p);
    if ((rc = pr_route(p, msg->topic, &op->route)) != 0)
        goto fail;
    if (pr_linger_add(p, op))
        return 0; /* the batch it joined sends it */
    if ((rc = pr_pick(p, op->route, NULL, false, &op->target)) != 0)
        goto fail;
    if ((rc = op_start(op, true)) != 0)
        goto fail;
    return 0;

fail:
    if (op)
        pr_op_free(op);
    pr_async_end(p);
    return rc;
}

int rill_producer_send_async(rill_producer_t *p, rill_msg_t *msg, rill_send_cb cb, void *opaque)
{
    if (cb == NULL)
        return rc_fail(RILL_EINVAL, "callback is NULL (use rill_producer_send_oneway())");
    return send_async(p, msg, cb, opaque);
}

int rill_producer_send_oneway(rill_producer_t *p, rill_msg_t *msg)
{
    return send_async(p, msg, NULL, NULL);
}
