/*
 * producer_linger.c - async and oneway sends gathered into one
 * SEND_BATCH_MESSAGE per topic, as Kafka's producer gathers records for
 * linger.ms or batch.size.
 *
 * The one idea: one request per message costs more than the broker's whole
 * store path (nng's socket lock, wake-ups of its I/O and completion threads
 * on both sides, see docs/BENCHMARKS.md). An accepted async send joins its
 * topic's open batch; the batch leaves when it holds batch.size messages,
 * when the next message would take it past batch.bytes (or
 * max.message.bytes), or linger.ms after its first message, whichever comes
 * first. The broker stores a batch with one append in one queue at
 * consecutive offsets, so message i's result is first_queue_offset + i and
 * msg_ids[i]. A failed attempt retries the whole batch (same encodings, so
 * every message keeps its UNIQ_KEY), with the retry rules of a single send;
 * when the batch finally fails every message's callback gets the error.
 *
 * Messages that cannot share a batch are sent alone: delayed ones (no queue
 * offset yet), bodies above batch.bytes, and sends to a topic when
 * PR_LINGER_TOPICS_MAX other topics have an open batch.
 *
 * Threads and state:
 *  - linger.mtx guards the slot table. Nothing is sent with it held: a full
 *    or expired batch is detached under the lock and shipped after.
 *  - Full batches ship on the thread of the send that filled them (which may
 *    wait for a call slot, as a lone async send does); expired ones from the
 *    "rill-linger" thread; flush and destroy ship what is open themselves.
 *  - Completions run on nng's threads: each message's callback, in batch
 *    order, with no lock held; retries start from there without waiting.
 *  - Every message of a batch is counted in the producer's `inflight` from
 *    send_async() until its callback returned, so flush (after draining
 *    the open batches) waits for all of them.
 */
#include "client/src/producer.h"

#include "common/clock.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "producer"

/* A batch of async sends of one topic; its attempts as a send_op's. */
struct pr_batch_op {
    rill_producer_t *p;
    size_t n, cap;
    int attempt, attempts;
    uint32_t timeout_ms;
    pr_target_t target;
    send_op_t **ops;      /* n, owned; ops[0]->route is the batch's route */
    Rill__Message **msgs; /* n: &ops[i]->w.pb */
};

static bool linger_on(const rill_producer_t *p)
{
    return p->conf->linger_ms > 0;
}

static size_t batch_bytes_max(const rill_producer_t *p)
{
    int64_t b = p->conf->batch_bytes;
    if (b > p->conf->max_message_bytes)
        b = p->conf->max_message_bytes;
    return (size_t)b;
}

static pr_batch_op_t *batch_new(rill_producer_t *p)
{
    size_t cap = (size_t)p->conf->batch_size;
    assert(cap >= 1 && cap <= RC_BATCH_MSGS_MAX);
    pr_batch_op_t *b = malloc(sizeof(*b) + cap * (sizeof(send_op_t *) + sizeof(Rill__Message *)));
    if (b == NULL)
        return NULL;
    b->p = p;
    b->n = 0;
    b->cap = cap;
    b->attempt = 0;
    b->attempts = 0;
    b->timeout_ms = pr_send_timeout(p);
    b->ops = (send_op_t **)(b + 1);
    b->msgs = (Rill__Message **)(b->ops + cap);
    return b;
}

/* End every message of b with rc (results from resp when rc is 0), free b. */
static void batch_complete(pr_batch_op_t *b, int rc, const Rill__SendBatchResponse *resp,
                           rill_send_status_t status)
{
    char why[512] = "";
    if (rc != 0) /* each callback may overwrite this thread's last error */
        snprintf(why, sizeof(why), "%s", rill_last_error());
    for (size_t i = 0; i < b->n; i++) {
        rill_send_result_t res = {0};
        if (rc == 0)
            pr_batch_result(&res, resp, i, status, b->target.q.broker_name, b->ops[i]->uniq);
        else
            rc_fail(rc, "%s", why);
        pr_op_complete(b->ops[i], rc, &res);
    }
    free(b);
}

static void on_batch_reply(int rc, Rill__Response *resp, void *arg);

static int batch_start(pr_batch_op_t *b, bool may_wait)
{
    Rill__Request req = RILL__REQUEST__INIT;
    Rill__SendBatchRequest sb = RILL__SEND_BATCH_REQUEST__INIT;
    sb.producer_group = b->p->group;
    sb.topic = b->ops[0]->shadow.topic;
    sb.queue_id = b->target.q.queue_id;
    sb.n_messages = b->n;
    sb.messages = b->msgs;
    req.code = RILL__REQUEST_CODE__SEND_BATCH_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_SEND_BATCH;
    req.send_batch = &sb;
    return pr_call_async(b->p, b->target.addr, &req, b->timeout_ms, on_batch_reply, b, may_wait);
}

/* Completion of one attempt of a batch (nng thread): done, next attempt, or every callback. */
static void on_batch_reply(int rc, Rill__Response *resp, void *arg)
{
    pr_batch_op_t *b = arg;
    rill_producer_t *p = b->p;
    bool strict = false, refresh = false;
    if (rc != 0) {
        rc = pr_transport_fail(p, b->target.addr, b->timeout_ms, rc);
        if (!pr_transport_retryable(rc))
            goto fail;
        pr_fault(p, b->target.q.broker_name);
    } else {
        rc_broker_mark_up(p->cli, b->target.addr);
        rill_send_status_t status;
        enum pr_verdict v =
            pr_judge(resp, b->target.addr, true, b->attempt > 0, &rc, &status, &strict, &refresh);
        if (v == PR_DONE) {
            pr_ok(p, b->target.q.broker_name);
            if (resp->send_batch->n_msg_ids != b->n) {
                rc = rc_fail(RILL_EBROKER, "%s stored a batch of %zu but answered %zu msgIds",
                             b->target.addr, b->n, resp->send_batch->n_msg_ids);
            } else {
                batch_complete(b, 0, resp->send_batch, status);
                rpc_response_free(resp);
                return;
            }
        }
        rpc_response_free(resp);
        if (v != PR_RETRY)
            goto fail;
    }
    while (++b->attempt < b->attempts) {
        char avoid[64];
        snprintf(avoid, sizeof(avoid), "%s", b->target.q.broker_name);
        int pick_rc = pr_pick(p, b->ops[0]->route, avoid, strict, &b->target);
        if (pick_rc != 0) {
            if (!strict)
                rc = pick_rc;
            break;
        }
        int start_rc = batch_start(b, false);
        if (start_rc == 0)
            return; /* b belongs to the next completion */
        rc = start_rc;
        if (!pr_transport_retryable(rc))
            break;
    }
fail:
    batch_complete(b, rc, NULL, RILL_SEND_OK);
}

/* First attempt of a detached batch, on a thread that may wait (never nng's). */
static void batch_ship(pr_batch_op_t *b)
{
    assert(b->n > 0);
    rill_producer_t *p = b->p;
    /* oneway messages have no retries; a batch with one retries as a send_async would */
    b->attempts = 1;
    for (size_t i = 0; i < b->n; i++)
        if (b->ops[i]->attempts > b->attempts)
            b->attempts = b->ops[i]->attempts;
    int rc = pr_pick(p, b->ops[0]->route, NULL, false, &b->target);
    if (rc == 0)
        rc = batch_start(b, true);
    if (rc != 0)
        batch_complete(b, rc, NULL, RILL_SEND_OK);
}

/* Slot of topic, or a free one (open == NULL), or -1. linger.mtx held. */
static int slot_find(pr_linger_t *l, const char *topic)
{
    int free_slot = -1;
    for (int i = 0; i < PR_LINGER_TOPICS_MAX; i++) {
        pr_batch_op_t *b = l->slots[i].open;
        if (b == NULL) {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(b->ops[0]->shadow.topic, topic) == 0) {
            return i;
        }
    }
    return free_slot;
}

/* Take slot i's batch out of the table. linger.mtx held. */
static pr_batch_op_t *slot_detach(pr_linger_t *l, int i)
{
    pr_batch_op_t *b = l->slots[i].open;
    assert(b != NULL);
    l->slots[i].open = NULL;
    l->slots[i].bytes = 0;
    l->n_open--;
    return b;
}

bool pr_linger_add(rill_producer_t *p, send_op_t *op)
{
    if (!linger_on(p) || op->shadow.delay_level != 0 || op->shadow.deliver_time_ms != 0)
        return false;
    size_t body = op->shadow.body_len;
    size_t max_bytes = batch_bytes_max(p);
    if (body > max_bytes)
        return false;
    pr_linger_t *l = &p->linger;
    pr_batch_op_t *ship[2] = {NULL, NULL};
    pthread_mutex_lock(&l->mtx);
    int i = l->stop ? -1 : slot_find(l, op->shadow.topic);
    if (i < 0) { /* stopping (destroy), or no slot: alone */
        pthread_mutex_unlock(&l->mtx);
        return false;
    }
    if (l->slots[i].open != NULL && l->slots[i].bytes + body > max_bytes)
        ship[0] = slot_detach(l, i); /* op starts the next batch */
    if (l->slots[i].open == NULL) {
        pr_batch_op_t *b = batch_new(p);
        if (b == NULL) {
            pthread_mutex_unlock(&l->mtx);
            if (ship[0])
                batch_ship(ship[0]);
            return false; /* alone, as without linger */
        }
        l->slots[i].open = b;
        l->slots[i].ship_ms = rill_mono_ms() + (uint64_t)p->conf->linger_ms;
        l->n_open++;
        pthread_cond_signal(&l->wake);
    }
    pr_batch_op_t *b = l->slots[i].open;
    b->ops[b->n] = op;
    b->msgs[b->n] = &op->w.pb;
    b->n++;
    l->slots[i].bytes += body;
    if (b->n == b->cap)
        ship[1] = slot_detach(l, i);
    pthread_mutex_unlock(&l->mtx);
    for (int k = 0; k < 2; k++)
        if (ship[k])
            batch_ship(ship[k]);
    return true;
}

/* Detach the batches due by now_ms (all when now_ms is UINT64_MAX) into out. linger.mtx held. */
static size_t detach_due(pr_linger_t *l, uint64_t now_ms, pr_batch_op_t **out)
{
    size_t n = 0;
    for (int i = 0; i < PR_LINGER_TOPICS_MAX && l->n_open > 0; i++)
        if (l->slots[i].open != NULL && l->slots[i].ship_ms <= now_ms)
            out[n++] = slot_detach(l, i);
    return n;
}

static void *linger_main(void *arg)
{
    rill_producer_t *p = arg;
    pr_linger_t *l = &p->linger;
    pthread_setname_np(pthread_self(), "rill-linger");
    pr_batch_op_t *due[PR_LINGER_TOPICS_MAX];
    pthread_mutex_lock(&l->mtx);
    while (!l->stop) {
        uint64_t now = rill_mono_ms();
        size_t n = detach_due(l, now, due);
        if (n > 0) {
            pthread_mutex_unlock(&l->mtx);
            for (size_t i = 0; i < n; i++)
                batch_ship(due[i]);
            pthread_mutex_lock(&l->mtx);
            continue;
        }
        if (l->n_open == 0) {
            pthread_cond_wait(&l->wake, &l->mtx);
            continue;
        }
        uint64_t next = UINT64_MAX;
        for (int i = 0; i < PR_LINGER_TOPICS_MAX; i++)
            if (l->slots[i].open != NULL && l->slots[i].ship_ms < next)
                next = l->slots[i].ship_ms;
        struct timespec deadline;
        rill_deadline_after_ms(&deadline, next > now ? next - now : 0);
        pthread_cond_timedwait(&l->wake, &l->mtx, &deadline);
    }
    pthread_mutex_unlock(&l->mtx);
    return NULL;
}

int pr_linger_start(rill_producer_t *p)
{
    pr_linger_t *l = &p->linger;
    int rc = pthread_mutex_init(&l->mtx, NULL);
    if (rc != 0)
        return rc;
    if ((rc = rill_cond_init_monotonic(&l->wake)) != 0) {
        pthread_mutex_destroy(&l->mtx);
        return rc;
    }
    l->started = false;
    if (linger_on(p)) {
        if ((rc = pthread_create(&l->thread, NULL, linger_main, p)) != 0) {
            pthread_cond_destroy(&l->wake);
            pthread_mutex_destroy(&l->mtx);
            return rc;
        }
        l->started = true;
    }
    return 0;
}

void pr_linger_drain(rill_producer_t *p)
{
    if (!linger_on(p))
        return;
    pr_linger_t *l = &p->linger;
    pr_batch_op_t *due[PR_LINGER_TOPICS_MAX];
    pthread_mutex_lock(&l->mtx);
    size_t n = detach_due(l, UINT64_MAX, due);
    pthread_mutex_unlock(&l->mtx);
    for (size_t i = 0; i < n; i++)
        batch_ship(due[i]);
}

void pr_linger_stop(rill_producer_t *p)
{
    pr_linger_t *l = &p->linger;
    pthread_mutex_lock(&l->mtx);
    l->stop = true; /* later adds go alone */
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mtx);
    if (l->started) {
        pthread_join(l->thread, NULL);
        l->started = false;
    }
    pr_linger_drain(p);
    assert(l->n_open == 0);
}

void pr_linger_free(rill_producer_t *p)
{
    pthread_cond_destroy(&p->linger.wake);
    pthread_mutex_destroy(&p->linger.mtx);
}
