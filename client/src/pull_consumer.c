/*
 * pull_consumer.c - the pull ("lite") consumer: the library fetches in the
 * background, the application takes messages with poll().
 *
 * Queues come from assign() (exactly those, no rebalance) or from
 * subscribe() (the group's rebalance, started by the first poll(), as
 * Kafka's consumer joins on its first poll). Either way consumer_group.c
 * owns the assignment, the start offsets and the offset store; it tells us
 * through queues_added / queues_removed.
 *
 * Per queue (pc_queue_t) there are two offsets:
 *
 *     committed ... position ........ fetch
 *                   |<-- buffered -->|
 *
 *   position  the next offset poll() returns (what a commit sends)
 *   fetch     the next offset to pull from the broker
 *
 * and a FIFO of fetched, not yet polled messages, bounded by
 * pull.threshold.queue.msgs / .mb: a queue at its bound is not pulled until
 * poll() drains it (flow control).
 *
 * Design notes (threads and locks):
 *  - One lock, pc->lock, guards every queue and the queue table.
 *  - "rill-pull", this consumer's thread, starts every pull: for each queue
 *    not paused, not full and with no pull in flight it starts one async
 *    long-poll PULL_MESSAGE, then sleeps on work_cond until a pull ends, a
 *    poll makes room, a seek or resume, a retry time or close. It is the
 *    only thread that calls out with the lock released for routes
 *    (cg_queue_read_addr may fetch one synchronously) and it runs
 *    commit_async()'s commit.
 *  - A pull completes on an nng thread (pull_done): it decodes outside the
 *    lock, then under it appends to the queue or notes a retry time, and
 *    signals. It never blocks and never calls out except cg_offset_update().
 *  - Each pull carries the queue's epoch; seek, offset-moved and removal
 *    bump it, so an answer to a stale pull is dropped, and the queue may
 *    be pulled again at once without waiting for the stale long poll.
 *  - pc_queue_t is refcounted (the table and each pull in flight hold
 *    one), so a queue removed by a rebalance lives until its pull ends.
 *  - Lock order: pc->lock, then the group's lock (cg_offset_update). The
 *    group calls queues_added / queues_removed with no lock of its own.
 *  - Offsets reach the group only as positions: with enable.auto.commit,
 *    every poll and seek records them (the group commits periodically and
 *    on close); without it, only commit_sync() / commit_async() do, so the
 *    group never commits what the application did not ask for.
 */
#include "client/src/consumer_group.h"
#include "client/src/core.h"

#include "common/clock.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "pull-consumer"

/** Wait before pulling a queue again after a transport or broker error. */
#define PC_RETRY_MS 1000
/** Longest sleep of the pull thread with nothing to do (it is woken for everything else). */
#define PC_IDLE_WAIT_MS 1000
/**
 * Pause before pulling again after a PULL_NOT_FOUND that came back in less
 * than half of pull.suspend.ms: the broker did not hold it (its long-poll
 * table is full, or it is stopping), and pulling again at once would spin.
 */
#define PC_NOT_HELD_RETRY_MS 100

typedef enum pc_mode { PC_NONE = 0, PC_ASSIGN, PC_SUBSCRIBE } pc_mode_t;

typedef struct pc_queue {
    rill_queue_t queue;
    int refs;     /* the table's + pulls in flight; freed at 0 */
    bool dropped; /* no longer assigned */
    bool paused;
    bool pulling; /* a current-epoch pull is in flight */
    bool polled;  /* poll() moved position: record it once per poll */
    uint64_t epoch;
    int64_t position, fetch;
    uint64_t retry_at_ms; /* monotonic; 0 = now */
    const cg_sub_t *sub;  /* subscribe mode: tags to re-check; NULL = all */
    /* the FIFO of fetched messages: a ring of cap slots */
    rill_msg_t **ring;
    size_t head, count, cap;
    size_t bytes;
} pc_queue_t;

struct rill_pull_consumer {
    rill_conf_t *conf; /* owned */
    rc_client_t *cli;
    cg_t *group;
    pthread_mutex_t lock;
    pthread_cond_t data_cond; /* poll waits: messages arrived, or closing */
    pthread_cond_t work_cond; /* the pull thread waits */
    pthread_t thread;
    bool thread_started;
    pc_mode_t mode;
    bool group_started, closing, commit_requested;
    bool auto_commit;
    pc_queue_t **queues; /* assigned, sorted by cg_queue_cmp */
    size_t n_queues, cap_queues;
    size_t rr;    /* poll's round-robin start */
    int inflight; /* pulls in flight, stale ones included */
    size_t max_msgs, max_bytes;
};

typedef struct pc_pull {
    rill_pull_consumer_t *pc;
    pc_queue_t *q;
    uint64_t epoch;
    int64_t offset;
    char addr[RC_ADDR_BYTES];
    uint64_t started_ms; /* monotonic */
} pc_pull_t;

/* ---- queues (pc->lock held) ---- */

static void queue_clear(pc_queue_t *q, rill_msg_t ***drop, size_t *n_drop)
{
    /* hand the messages to the caller to destroy outside the lock */
    for (size_t i = 0; i < q->count; i++) {
        rill_msg_t *m = q->ring[(q->head + i) % q->cap];
        if (drop && *drop)
            (*drop)[(*n_drop)++] = m;
        else
            rill_msg_destroy(m);
    }
    q->head = q->count = 0;
    q->bytes = 0;
}

static void queue_unref(pc_queue_t *q)
{
    assert(q->refs > 0);
    if (--q->refs > 0)
        return;
    queue_clear(q, NULL, NULL);
    free(q->ring);
    free(q);
}

static int queue_push(pc_queue_t *q, rill_msg_t *m)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        rill_msg_t **r = malloc(cap * sizeof(*r));
        if (r == NULL)
            return ENOMEM;
        for (size_t i = 0; i < q->count; i++)
            r[i] = q->ring[(q->head + i) % q->cap];
        free(q->ring);
        q->ring = r;
        q->head = 0;
        q->cap = cap;
    }
    q->ring[(q->head + q->count) % q->cap] = m;
    q->count++;
    q->bytes += m->body_len;
    return 0;
}

static rill_msg_t *queue_pop(pc_queue_t *q)
{
    assert(q->count > 0);
    rill_msg_t *m = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->bytes -= m->body_len;
    return m;
}

static pc_queue_t *find_queue(rill_pull_consumer_t *pc, const rill_queue_t *rq, size_t *index)
{
    size_t lo = 0, hi = pc->n_queues;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cg_queue_cmp(&pc->queues[mid]->queue, rq);
        if (c == 0) {
            if (index)
                *index = mid;
            return pc->queues[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (index)
        *index = lo;
    return NULL;
}

/* Tell the group where a queue stands (see the design notes). */
static void record_position(rill_pull_consumer_t *pc, pc_queue_t *q)
{
    if (pc->auto_commit)
        cg_offset_update(pc->group, &q->queue, q->position, false);
}

/* ---- group callbacks (timer thread or the assign() caller, no group lock) ---- */

static void on_queues_added(void *opaque, const cg_queue_start_t *qs, size_t n)
{
    rill_pull_consumer_t *pc = opaque;
    pthread_mutex_lock(&pc->lock);
    for (size_t i = 0; i < n; i++) {
        size_t at = 0;
        if (find_queue(pc, &qs[i].queue, &at) != NULL)
            continue;
        pc_queue_t *q = calloc(1, sizeof(*q));
        if (q == NULL) {
            LOG_ERROR(LOG_MOD, "cannot take queue %s/%s/%d: out of memory", qs[i].queue.topic,
                      qs[i].queue.broker_name, qs[i].queue.queue_id);
            continue;
        }
        if (pc->n_queues == pc->cap_queues) {
            size_t cap = pc->cap_queues ? pc->cap_queues * 2 : 16;
            void *p = realloc(pc->queues, cap * sizeof(*pc->queues));
            if (p == NULL) {
                free(q);
                LOG_ERROR(LOG_MOD, "cannot take queue %s/%s/%d: out of memory", qs[i].queue.topic,
                          qs[i].queue.broker_name, qs[i].queue.queue_id);
                continue;
            }
            pc->queues = p;
            pc->cap_queues = cap;
        }
        q->queue = qs[i].queue;
        q->refs = 1;
        q->position = q->fetch = qs[i].offset;
        if (pc->mode == PC_SUBSCRIBE) {
            q->sub = cg_sub_find(pc->group, q->queue.topic);
            if (q->sub && q->sub->filter.match_all)
                q->sub = NULL;
        }
        memmove(&pc->queues[at + 1], &pc->queues[at], (pc->n_queues - at) * sizeof(*pc->queues));
        pc->queues[at] = q;
        pc->n_queues++;
    }
    pthread_cond_signal(&pc->work_cond);
    pthread_mutex_unlock(&pc->lock);
}

static void on_queues_removed(void *opaque, const rill_queue_t *qs, size_t n)
{
    rill_pull_consumer_t *pc = opaque;
    pthread_mutex_lock(&pc->lock);
    for (size_t i = 0; i < n; i++) {
        size_t at = 0;
        pc_queue_t *q = find_queue(pc, &qs[i], &at);
        if (q == NULL)
            continue;
        record_position(pc, q); /* the group commits it right after we return */
        q->dropped = true;
        q->epoch++;
        queue_clear(q, NULL, NULL);
        memmove(&pc->queues[at], &pc->queues[at + 1],
                (pc->n_queues - at - 1) * sizeof(*pc->queues));
        pc->n_queues--;
        queue_unref(q);
    }
    pthread_mutex_unlock(&pc->lock);
}

/* ---- pulling ---- */

static void pull_done(int rc, Rill__Response *resp, void *arg)
{
    pc_pull_t *p = arg;
    rill_pull_consumer_t *pc = p->pc;
    pc_queue_t *q = p->q;
    rill_msg_t **msgs = NULL;
    size_t n = 0;
    int dec = 0;
    const Rill__PullMessageResponse *body =
        rc == 0 && resp->body_case == RILL__RESPONSE__BODY_PULL_MESSAGE ? resp->pull_message : NULL;
    if (rc == 0 && resp->code == RILL__RESPONSE_CODE__SUCCESS && body)
        dec = rc_msgs_from_records(body->records.data, body->records.len, q->queue.broker_name,
                                   &msgs, &n);
    bool signal_data = false;
    size_t kept = 0;

    pthread_mutex_lock(&pc->lock);
    pc->inflight--;
    bool current = p->epoch == q->epoch && !q->dropped && !pc->closing;
    if (current) {
        q->pulling = false;
        int code = rc == 0 ? resp->code : -1;
        if (rc != 0) {
            if (rc != RILL_ECLOSED) {
                rc_broker_mark_down(pc->cli, p->addr);
                LOG_DEBUG(LOG_MOD, "pull %s/%d from %s failed: %s", q->queue.topic,
                          q->queue.queue_id, p->addr, rill_strerror(rc));
            }
            q->retry_at_ms = rill_mono_ms() + PC_RETRY_MS;
        } else if (body == NULL && code != RILL__RESPONSE_CODE__SUCCESS &&
                   code != RILL__RESPONSE_CODE__PULL_NOT_FOUND &&
                   code != RILL__RESPONSE_CODE__PULL_RETRY_IMMEDIATELY &&
                   code != RILL__RESPONSE_CODE__PULL_OFFSET_MOVED) {
            LOG_WARN(LOG_MOD, "pull %s/%s/%d at %lld: code %d: %s", q->queue.topic,
                     q->queue.broker_name, q->queue.queue_id, (long long)p->offset, code,
                     resp->remark ? resp->remark : "");
            q->retry_at_ms = rill_mono_ms() + PC_RETRY_MS;
        } else if (body == NULL || dec != 0) {
            LOG_WARN(LOG_MOD, "pull %s/%d from %s: %s", q->queue.topic, q->queue.queue_id, p->addr,
                     dec ? rill_strerror(dec) : "answer without a body");
            q->retry_at_ms = rill_mono_ms() + PC_RETRY_MS;
        } else if (code == RILL__RESPONSE_CODE__SUCCESS) {
            for (size_t i = 0; i < n; i++) {
                rill_msg_t *m = msgs[i];
                bool keep = m->queue_offset >= q->fetch;
                if (keep && q->sub) {
                    const char *t = m->tags ? m->tags : "";
                    keep = rill_tag_filter_match(&q->sub->filter, t, strlen(t));
                }
                if (keep && queue_push(q, m) == 0) {
                    msgs[i] = NULL;
                    kept++;
                }
            }
            q->fetch = body->next_begin_offset;
            signal_data = kept > 0;
            if (kept == 0 && q->count == 0 && q->position < q->fetch) {
                q->position = q->fetch; /* all filtered out: move past them */
                record_position(pc, q);
            }
        } else if (code == RILL__RESPONSE_CODE__PULL_OFFSET_MOVED) {
            LOG_INFO(LOG_MOD, "%s/%s/%d: offset %lld moved to %lld", q->queue.topic,
                     q->queue.broker_name, q->queue.queue_id, (long long)p->offset,
                     (long long)body->next_begin_offset);
            queue_clear(q, NULL, NULL);
            q->epoch++;
            q->position = q->fetch = body->next_begin_offset;
            record_position(pc, q);
        } else { /* PULL_NOT_FOUND, PULL_RETRY_IMMEDIATELY */
            uint64_t now = rill_mono_ms();
            if (code == RILL__RESPONSE_CODE__PULL_NOT_FOUND &&
                now - p->started_ms < (uint64_t)pc->conf->pull_suspend_ms / 2)
                q->retry_at_ms = now + PC_NOT_HELD_RETRY_MS;
            q->fetch = body->next_begin_offset;
            if (q->count == 0 && q->position < q->fetch) {
                q->position = q->fetch;
                record_position(pc, q);
            }
        }
    }
    queue_unref(q);
    if (signal_data)
        pthread_cond_broadcast(&pc->data_cond);
    pthread_cond_signal(&pc->work_cond);
    pthread_mutex_unlock(&pc->lock);

    for (size_t i = 0; i < n; i++)
        rill_msg_destroy(msgs[i]);
    free(msgs);
    rpc_response_free(resp);
    free(p);
}

/* Start one pull of q (ref held by the caller); called with pc->lock NOT held. */
static int pull_start(rill_pull_consumer_t *pc, pc_pull_t *p, const char *expression)
{
    int rc = cg_queue_read_addr(pc->group, &p->q->queue, p->addr);
    rpc_client_t *rpc = NULL;
    if (rc == 0)
        rc = rc_broker_conn(pc->cli, p->addr, &rpc);
    if (rc != 0)
        return rc;
    const struct rill_conf *conf = pc->conf;
    Rill__PullMessageRequest body = RILL__PULL_MESSAGE_REQUEST__INIT;
    body.consumer_group = (char *)conf->group;
    body.topic = p->q->queue.topic;
    body.queue_id = p->q->queue.queue_id;
    body.queue_offset = p->offset;
    body.max_msg_nums = (int32_t)conf->pull_batch_size;
    body.subscription = (char *)expression;
    body.suspend_timeout_ms = conf->pull_suspend_ms;
    body.commit_offset = -1;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__PULL_MESSAGE;
    req.version = 1;
    req.body_case = RILL__REQUEST__BODY_PULL_MESSAGE;
    req.pull_message = &body;
    int64_t timeout = conf->pull_suspend_ms + conf->request_timeout_ms;
    if (timeout > RPC_CALL_TIMEOUT_MS_MAX)
        timeout = RPC_CALL_TIMEOUT_MS_MAX;
    return rpc_client_call_async(rpc, &req, (uint32_t)timeout, pull_done, p);
}

static bool queue_wants_pull(const rill_pull_consumer_t *pc, const pc_queue_t *q, uint64_t now,
                             uint64_t *wake)
{
    if (q->dropped || q->paused || q->pulling)
        return false;
    if (q->count >= pc->max_msgs || q->bytes >= pc->max_bytes)
        return false; /* flow control: poll() wakes us when it drains the queue */
    if (q->retry_at_ms > now) {
        if (q->retry_at_ms < *wake)
            *wake = q->retry_at_ms;
        return false;
    }
    return true;
}

static void *pull_thread(void *arg)
{
    rill_pull_consumer_t *pc = arg;
    pthread_setname_np(pthread_self(), "rill-pull");
    pthread_mutex_lock(&pc->lock);
    while (!pc->closing) {
        if (pc->commit_requested) {
            pc->commit_requested = false;
            pthread_mutex_unlock(&pc->lock);
            int rc = cg_commit(pc->group);
            if (rc != 0)
                LOG_WARN(LOG_MOD, "commit_async: %s", rill_last_error());
            pthread_mutex_lock(&pc->lock);
            continue;
        }
        uint64_t now = rill_mono_ms(), wake = now + PC_IDLE_WAIT_MS;
        pc_queue_t *q = NULL;
        for (size_t i = 0; i < pc->n_queues && q == NULL; i++)
            if (queue_wants_pull(pc, pc->queues[i], now, &wake))
                q = pc->queues[i];
        if (q == NULL) {
            struct timespec ts;
            rill_deadline_after_ms(&ts, wake - now);
            pthread_cond_timedwait(&pc->work_cond, &pc->lock, &ts);
            continue;
        }
        pc_pull_t *p = calloc(1, sizeof(*p));
        if (p == NULL) {
            q->retry_at_ms = now + PC_RETRY_MS;
            continue;
        }
        p->pc = pc;
        p->q = q;
        p->epoch = q->epoch;
        p->offset = q->fetch;
        p->started_ms = now;
        q->refs++;
        q->pulling = true;
        pc->inflight++;
        const char *expr = q->sub ? q->sub->expression : "*";
        pthread_mutex_unlock(&pc->lock);
        int rc = pull_start(pc, p, expr);
        pthread_mutex_lock(&pc->lock);
        if (rc != 0) {
            /* pull_done will not run: undo what it would have */
            if (p->epoch == q->epoch)
                q->pulling = false;
            q->retry_at_ms = rill_mono_ms() + PC_RETRY_MS;
            pc->inflight--;
            LOG_DEBUG(LOG_MOD, "cannot pull %s/%s/%d: %s", q->queue.topic, q->queue.broker_name,
                      q->queue.queue_id, rill_strerror(rc));
            queue_unref(q);
            free(p);
        }
    }
    pthread_mutex_unlock(&pc->lock);
    return NULL;
}

/* ---- the API ---- */

int rill_pull_consumer_new(rill_pull_consumer_t **out, rill_conf_t *conf, char *errstr,
                           size_t errstr_size)
{
    if (out == NULL || conf == NULL) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s", "a pull consumer needs a conf with \"group\"");
        return rc_fail(conf == NULL ? RILL_ECONFIG : RILL_EINVAL,
                       "a pull consumer needs a conf with \"group\"");
    }
    if (conf->group[0] == '\0') {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s", "\"group\" must be set for a consumer");
        return rc_fail(RILL_ECONFIG, "\"group\" must be set for a consumer");
    }
    rill_pull_consumer_t *pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        goto nomem;
    pc->conf = conf;
    pc->auto_commit = conf->enable_auto_commit;
    pc->max_msgs = (size_t)conf->pull_threshold_queue_msgs;
    pc->max_bytes = (size_t)conf->pull_threshold_queue_mb << 20;
    pthread_mutex_init(&pc->lock, NULL);
    if (rill_cond_init_monotonic(&pc->data_cond) != 0) {
        pthread_mutex_destroy(&pc->lock);
        free(pc);
        goto nomem;
    }
    if (rill_cond_init_monotonic(&pc->work_cond) != 0) {
        pthread_cond_destroy(&pc->data_cond);
        pthread_mutex_destroy(&pc->lock);
        free(pc);
        goto nomem;
    }
    int rc = rc_client_open(&pc->cli, conf, errstr, errstr_size);
    if (rc != 0)
        goto fail;
    cg_callbacks_t cbs = {on_queues_added, on_queues_removed};
    rc = cg_open(&pc->group, pc->cli, CG_PULL, &cbs, pc);
    if (rc != 0) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s", rill_last_error());
        goto fail;
    }
    if (pthread_create(&pc->thread, NULL, pull_thread, pc) != 0) {
        rc = rc_fail(ENOMEM, "cannot start the pull thread");
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s", rill_last_error());
        goto fail;
    }
    pc->thread_started = true;
    *out = pc;
    return 0;
fail:
    cg_close(pc->group);
    rc_client_close(pc->cli);
    pthread_cond_destroy(&pc->work_cond);
    pthread_cond_destroy(&pc->data_cond);
    pthread_mutex_destroy(&pc->lock);
    free(pc);
    return rc;
nomem:
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "%s", "out of memory");
    return rc_fail(ENOMEM, "out of memory");
}

int rill_pull_consumer_subscribe(rill_pull_consumer_t *c, const char *topic, const char *expression)
{
    if (c == NULL)
        return rc_fail(RILL_EINVAL, "rill_pull_consumer_subscribe: NULL consumer");
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    if (c->mode == PC_ASSIGN)
        rc = rc_fail(RILL_EINVAL, "subscribe() after assign(): a consumer does one or the other");
    else if (c->group_started)
        rc = rc_fail(RILL_EINVAL, "subscribe() after the first poll()");
    pthread_mutex_unlock(&c->lock);
    if (rc != 0)
        return rc;
    rc = cg_subscribe(c->group, topic, expression);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&c->lock);
    c->mode = PC_SUBSCRIBE;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int rill_pull_consumer_assign(rill_pull_consumer_t *c, const rill_queue_t *queues, size_t n)
{
    if (c == NULL || (queues == NULL && n > 0))
        return rc_fail(RILL_EINVAL, "rill_pull_consumer_assign: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (queues[i].topic[0] == '\0' || queues[i].broker_name[0] == '\0' ||
            queues[i].queue_id < 0)
            return rc_fail(RILL_EINVAL, "queue %zu has no topic, no broker name or a negative id",
                           i);
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    if (c->mode == PC_SUBSCRIBE)
        rc = rc_fail(RILL_EINVAL, "assign() after subscribe(): a consumer does one or the other");
    else if (c->closing)
        rc = rc_fail(RILL_ECLOSED, "the consumer is closing");
    bool start = rc == 0 && !c->group_started;
    if (rc == 0) {
        c->mode = PC_ASSIGN;
        c->group_started = true;
    }
    pthread_mutex_unlock(&c->lock);
    if (rc != 0)
        return rc;
    if (start) {
        rc = cg_start(c->group, false, c->auto_commit);
        if (rc != 0)
            return rc;
    }
    return cg_set_assignment(c->group, queues, n);
}

int rill_pull_consumer_topic_queues(rill_pull_consumer_t *c, const char *topic, rill_queue_t *out,
                                    size_t cap, size_t *n)
{
    if (c == NULL || topic == NULL || n == NULL || (out == NULL && cap > 0))
        return rc_fail(RILL_EINVAL, "rill_pull_consumer_topic_queues: NULL argument");
    rc_route_t *r = NULL;
    int rc = rc_route_get(c->cli, topic, false, &r);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < r->n_read && i < cap; i++)
        out[i] = r->read_queues[i];
    *n = r->n_read;
    rc_route_release(r);
    return 0;
}

int rill_pull_consumer_poll(rill_pull_consumer_t *c, int timeout_ms, rill_msg_t **msgs, size_t cap,
                            size_t *n)
{
    if (c == NULL || msgs == NULL || cap == 0 || n == NULL)
        return rc_fail(RILL_EINVAL, "rill_pull_consumer_poll: NULL argument or cap 0");
    pthread_mutex_lock(&c->lock);
    if (c->mode == PC_NONE) {
        pthread_mutex_unlock(&c->lock);
        return rc_fail(RILL_EINVAL, "poll() before subscribe() or assign()");
    }
    if (c->mode == PC_SUBSCRIBE && !c->group_started) {
        c->group_started = true;
        pthread_mutex_unlock(&c->lock);
        int rc = cg_start(c->group, true, c->auto_commit);
        if (rc != 0) {
            pthread_mutex_lock(&c->lock);
            c->group_started = false;
            pthread_mutex_unlock(&c->lock);
            return rc;
        }
        pthread_mutex_lock(&c->lock);
    }
    struct timespec deadline;
    rill_deadline_after_ms(&deadline, timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
    size_t got = 0;
    for (;;) {
        if (c->closing) {
            pthread_mutex_unlock(&c->lock);
            return rc_fail(RILL_ECLOSED, "the consumer is closing");
        }
        /* one message per queue per pass, from a start that moves every poll */
        size_t nq = c->n_queues;
        bool took = true;
        while (got < cap && took) {
            took = false;
            for (size_t k = 0; k < nq && got < cap; k++) {
                pc_queue_t *q = c->queues[(c->rr + k) % nq];
                if (q->paused || q->count == 0)
                    continue;
                rill_msg_t *m = queue_pop(q);
                msgs[got++] = m;
                q->position = m->queue_offset + 1;
                if (q->count == 0 && q->position < q->fetch)
                    q->position = q->fetch; /* what lies between was filtered out */
                q->polled = true;
                took = true;
            }
        }
        for (size_t k = 0; k < nq && got > 0; k++) {
            if (c->queues[k]->polled) {
                c->queues[k]->polled = false;
                record_position(c, c->queues[k]);
            }
        }
        if (nq > 0)
            c->rr = (c->rr + 1) % nq;
        if (got > 0) {
            pthread_cond_signal(&c->work_cond); /* room freed: a queue may be pulled again */
            break;
        }
        if (timeout_ms == 0)
            break;
        if (timeout_ms < 0)
            pthread_cond_wait(&c->data_cond, &c->lock);
        else if (pthread_cond_timedwait(&c->data_cond, &c->lock, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&c->lock);
    *n = got;
    return 0;
}

/* Record every queue's position in the group (commit_sync / commit_async). */
static void record_all(rill_pull_consumer_t *c)
{
    for (size_t i = 0; i < c->n_queues; i++)
        cg_offset_update(c->group, &c->queues[i]->queue, c->queues[i]->position, false);
}

int rill_pull_consumer_commit_sync(rill_pull_consumer_t *c)
{
    if (c == NULL)
        return rc_fail(RILL_EINVAL, "rill_pull_consumer_commit_sync: NULL consumer");
    pthread_mutex_lock(&c->lock);
    record_all(c);
    pthread_mutex_unlock(&c->lock);
    return cg_commit(c->group);
}

int rill_pull_consumer_commit_async(rill_pull_consumer_t *c)
{
    if (c == NULL)
        return rc_fail(RILL_EINVAL, "rill_pull_consumer_commit_async: NULL consumer");
    pthread_mutex_lock(&c->lock);
    if (c->closing) {
        pthread_mutex_unlock(&c->lock);
        return rc_fail(RILL_ECLOSED, "the consumer is closing");
    }
    record_all(c);
    c->commit_requested = true;
    pthread_cond_signal(&c->work_cond);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static int not_assigned(const rill_queue_t *q)
{
    return rc_fail(RILL_ENOTFOUND, "queue %s/%s/%d is not assigned to this consumer", q->topic,
                   q->broker_name, q->queue_id);
}

int rill_pull_consumer_seek(rill_pull_consumer_t *c, const rill_queue_t *rq, int64_t offset)
{
    if (c == NULL || rq == NULL)
        return rc_fail(RILL_EINVAL, "rill_pull_consumer_seek: NULL argument");
    if (offset < 0)
        return rc_fail(RILL_EINVAL, "negative offset %lld", (long long)offset);
    pthread_mutex_lock(&c->lock);
    pc_queue_t *q = find_queue(c, rq, NULL);
    if (q == NULL) {
        pthread_mutex_unlock(&c->lock);
        return not_assigned(rq);
    }
    size_t n_drop = 0;
    rill_msg_t **drop = q->count ? malloc(q->count * sizeof(*drop)) : NULL;
    queue_clear(q, &drop, &n_drop);
    q->epoch++; /* a pull in flight now answers for nothing */
    q->pulling = false;
    q->retry_at_ms = 0;
    q->position = q->fetch = offset;
    record_position(c, q);
    pthread_cond_signal(&c->work_cond);
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n_drop; i++)
        rill_msg_destroy(drop[i]);
    free(drop);
    return 0;
}

int rill_pull_consumer_seek_timestamp(rill_pull_consumer_t *c, const rill_queue_t *rq,
                                      int64_t ts_ms)
{
    if (c == NULL || rq == NULL)
        return rc_fail(RILL_EINVAL, "rill_pull_consumer_seek_timestamp: NULL argument");
    if (ts_ms < 0)
        return rc_fail(RILL_EINVAL, "negative timestamp %lld", (long long)ts_ms);
    pthread_mutex_lock(&c->lock);
    bool assigned = find_queue(c, rq, NULL) != NULL;
    pthread_mutex_unlock(&c->lock);
    if (!assigned)
        return not_assigned(rq);
    int64_t offset = 0;
    int rc = cg_queue_offset_by_time(c->group, rq, ts_ms, &offset);
    if (rc != 0)
        return rc;
    return rill_pull_consumer_seek(c, rq, offset);
}

int rill_pull_consumer_committed(rill_pull_consumer_t *c, const rill_queue_t *q, int64_t *offset)
{
    if (c == NULL || q == NULL || offset == NULL)
        return rc_fail(RILL_EINVAL, "rill_pull_consumer_committed: NULL argument");
    return cg_offset_committed(c->group, q, offset);
}

static int set_paused(rill_pull_consumer_t *c, const rill_queue_t *qs, size_t n, bool paused)
{
    if (c == NULL || (qs == NULL && n > 0))
        return rc_fail(RILL_EINVAL, "pause/resume: NULL argument");
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        if (find_queue(c, &qs[i], NULL) == NULL) {
            pthread_mutex_unlock(&c->lock);
            return not_assigned(&qs[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        find_queue(c, &qs[i], NULL)->paused = paused;
    pthread_cond_signal(&c->work_cond);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int rill_pull_consumer_pause(rill_pull_consumer_t *c, const rill_queue_t *queues, size_t n)
{
    return set_paused(c, queues, n, true);
}

int rill_pull_consumer_resume(rill_pull_consumer_t *c, const rill_queue_t *queues, size_t n)
{
    return set_paused(c, queues, n, false);
}

int rill_pull_consumer_assignment(rill_pull_consumer_t *c, rill_queue_t *out, size_t cap, size_t *n)
{
    if (c == NULL || n == NULL || (out == NULL && cap > 0))
        return rc_fail(RILL_EINVAL, "rill_pull_consumer_assignment: NULL argument");
    cg_assignment(c->group, out, cap, n);
    return 0;
}

void rill_pull_consumer_destroy(rill_pull_consumer_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->closing = true;
    pthread_cond_broadcast(&c->data_cond);
    pthread_cond_broadcast(&c->work_cond);
    pthread_mutex_unlock(&c->lock);
    if (c->thread_started)
        pthread_join(c->thread, NULL);
    cg_stop(c->group);       /* no rebalance callback from here on */
    cg_close(c->group);      /* commits the recorded positions, unregisters */
    rc_client_close(c->cli); /* ends the long polls still parked: pull_done drops them */
    pthread_mutex_lock(&c->lock);
    while (c->inflight > 0) /* none left after the close; kept for safety */
        pthread_cond_wait(&c->work_cond, &c->lock);
    for (size_t i = 0; i < c->n_queues; i++)
        queue_unref(c->queues[i]);
    pthread_mutex_unlock(&c->lock);
    free(c->queues);
    pthread_cond_destroy(&c->work_cond);
    pthread_cond_destroy(&c->data_cond);
    pthread_mutex_destroy(&c->lock);
    rill_conf_destroy(c->conf);
    free(c);
}
