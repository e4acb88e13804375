/*
 * push_consumer.c - rill_push_consumer_*: the library pulls, calls the
 * listener on its threads and commits (RocketMQ's DefaultMQPushConsumer).
 *
 * Pieces: the group (consumer_group.h: heartbeat, rebalance, offsets)
 * decides which queues this member owns and where each starts; every owned
 * queue is a push_queue_t with a cache of pulled messages (process_queue.h);
 * two pools (consume_pool.h) run the work: "rill-pull" (one thread) starts
 * pulls, "rill-consume" (consume.threads) runs listener calls.
 *
 * One queue's pull loop, exactly one step in flight at a time:
 *
 *   pull task (rill-pull) --PULL_MESSAGE async, long poll--> completion (nng)
 *        ^                                                     |
 *        +---- now / +50 ms flow control / +1 s back-off <-----+ adds to the cache,
 *                                                                schedules consume
 *
 * Consume: concurrent listeners take chunks of consume.batch.size in queue
 * order, several at once even for one queue; the queue's consume task
 * resubmits itself while messages are pending. RECONSUME_LATER turns a
 * chunk into a retry task due after reconsume.delay.ms (the message stays
 * in the cache, so the committed offset stays before it). Orderly listeners:
 * the consume task stays scheduled while it runs, so one thread at a time
 * consumes a queue, in order; RECONSUME_LATER rewinds the chunk and
 * reschedules the task after the delay.
 *
 * Orderly CLUSTERING consumers also hold the broker's queue lock of every
 * queue they consume (broker/queue_lock.c, client/src/queue_lock.c): a
 * "lock tick" on the timer thread (every PUSH_LOCK_TICK_MS) locks each
 * new queue on its master (again every PUSH_LOCK_RETRY_MS while another
 * member holds it), renews held locks every lock.renew.ms, and sends the
 * unlocks of queues a rebalance took away. A queue's pull chain starts only
 * once its lock is held, from the group's committed offset read then (the
 * last owner committed before it unlocked); listener calls run only while
 * the lock is held and younger than 2.5 x lock.renew.ms. queues_removed
 * waits (at most PUSH_ORDERLY_DRAIN_MS) for a running listener call of the
 * queue to return, reports the offset after it, and queues the unlock; the
 * group commits right after, on the same timer thread, so the unlock sent
 * by a later tick follows the commit. When the call does not return in
 * time the lock is not sent back: it expires on the broker. A queue whose
 * lock the broker gives to another member while we still own it is
 * restarted (restart_queue()): cache dropped, lock awaited, offset re-read.
 *
 * Ownership and locks: a push_queue_t is refcounted: one ref for the
 * table of owned queues, one for the pull chain (task queued, call in
 * flight, or completion running), one while the consume task is scheduled,
 * one per running listener call and per retry task. pq->lock guards the
 * cache and the flags; it is taken before the group's lock and the pools'
 * locks, never after. c->lock guards the table. Callbacks from the group
 * (queues added / removed) run on the timer thread with no lock held.
 *
 * Shutdown (destroy): stop the group's tasks; set `stopping` (completions
 * and tasks then stop their loops); shut the pull pool, then the consume
 * pool (running listener calls finish, queued ones are cancelled: those
 * messages were not consumed and will be redelivered); record every queue's
 * committable offset and let the group commit them and unregister; close the
 * client, which ends pulls still in flight (their completions only drop
 * their refs); free.
 */
#include "client/src/push_consumer.h"

#include "client/src/consume_pool.h"
#include "client/src/consumer_group.h"
#include "client/src/core.h"
#include "client/src/process_queue.h"
#include "client/src/queue_lock.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "push"

#define PUSH_FLOW_RETRY_MS         50   /* a queue held by flow control is looked at again after */
#define PUSH_PULL_BACKOFF_MS       1000 /* after a pull failed in transport or was refused */
#define PUSH_PULL_TIMEOUT_EXTRA_MS 3000 /* pull timeout = pull.suspend.ms + this */
#define PUSH_CONSUME_BATCH_MAX     1024 /* consume.batch.size is clamped to this */
#define PUSH_POOL_PULL_THREADS     1
#define PUSH_LOCK_TICK_MS          100  /* orderly: how often lock work is looked for */
#define PUSH_LOCK_RETRY_MS         1000 /* orderly: a queue locked by another is tried again after */
#define PUSH_ORDERLY_DRAIN_MS      1000 /* orderly: wait for a running call of a removed queue */

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef struct push_queue push_queue_t;

struct rill_push_consumer {
    rill_conf_t *conf; /* owned */
    rc_client_t *cli;
    cg_t *g;

    pthread_mutex_t lock; /* the table and `started` */
    rill_msg_listener_cb listener;
    void *listener_opaque;
    bool orderly;
    bool locking; /* orderly and CLUSTERING: consume only queues locked on the broker */
    bool started;
    int lock_task;         /* the lock tick on the timer thread, -1 when none */
    rill_queue_t *unlocks; /* queues taken away, to unlock on the next tick (c->lock) */
    size_t n_unlocks, cap_unlocks;
    push_queue_t **queues; /* owned queues, unsorted */
    size_t n_queues, cap_queues;

    atomic_bool stopping;
    cp_pool_t *consume_pool, *pull_pool;
    size_t batch; /* consume.batch.size, clamped */

    /* stats */
    atomic_size_t cached_slots_max;
    atomic_uint_fast64_t pulls, pull_errors, flow_holds, redeliveries, given_up;
};

struct push_queue {
    rill_push_consumer_t *c;
    rill_queue_t queue;
    const cg_sub_t *sub;
    atomic_int refs;
    pthread_mutex_t lock; /* everything below */
    pq_t cache;
    bool dropped;
    bool consume_scheduled;
    cp_task_t consume_task;
    cp_task_t pull_task;
    char pull_addr[RC_ADDR_BYTES]; /* the broker of the pull in flight */
    /* orderly locking (c->locking): the broker's queue lock as last answered */
    bool lock_held;
    bool pulling;                                         /* the pull chain was started */
    bool consuming;                                       /* an orderly listener call runs */
    uint64_t lock_taken_ms, lock_until_ms, lock_tried_ms; /* monotonic */
    pthread_cond_t idle; /* consuming became false (monotonic clock) */
};

/* A RECONSUME_LATER chunk waiting for its redelivery (concurrent listener). */
typedef struct retry_task {
    cp_task_t task;
    push_queue_t *pq;
    size_t n;
    rill_msg_t *msgs[];
} retry_task_t;

/* ---- push_queue refs ---- */

static void pq_ref(push_queue_t *pq)
{
    int old = atomic_fetch_add(&pq->refs, 1);
    assert(old > 0);
    (void)old;
}

static void pq_release(push_queue_t *pq)
{
    int old = atomic_fetch_sub(&pq->refs, 1);
    assert(old > 0);
    if (old != 1)
        return;
    pq_free(&pq->cache);
    pthread_cond_destroy(&pq->idle);
    pthread_mutex_destroy(&pq->lock);
    free(pq);
}

static bool stopping(const rill_push_consumer_t *c)
{
    return atomic_load(&c->stopping);
}

static void stat_max(atomic_size_t *max, size_t v)
{
    size_t cur = atomic_load(max);
    while (v > cur && !atomic_compare_exchange_weak(max, &cur, v)) {
    }
}

/* ---- listener calls ---- */

static rill_consume_status_t call_listener(rill_push_consumer_t *c, rill_msg_t *const *msgs,
                                           size_t n)
{
    uint64_t t0 = rill_mono_ms();
    rill_consume_status_t st = c->listener(msgs, n, c->listener_opaque);
    uint64_t took = rill_mono_ms() - t0;
    if ((int64_t)took > c->conf->consume_timeout_ms)
        LOG_WARN(LOG_MOD,
                 "listener took %llu ms for %zu messages of %s#%d (consume.timeout.ms %lld)",
                 (unsigned long long)took, n, msgs[0]->topic, msgs[0]->queue_id,
                 (long long)c->conf->consume_timeout_ms);
    if (st != RILL_CONSUME_SUCCESS && st != RILL_RECONSUME_LATER) {
        LOG_WARN(LOG_MOD, "listener returned %d, taken as RECONSUME_LATER", (int)st);
        st = RILL_RECONSUME_LATER;
    }
    return st;
}

/* Record the queue's committable offset with the group. Caller holds no lock. */
static void record_offset(push_queue_t *pq)
{
    pthread_mutex_lock(&pq->lock);
    bool dropped = pq->dropped;
    int64_t off = pq_committable(&pq->cache);
    pthread_mutex_unlock(&pq->lock);
    if (!dropped)
        (void)cg_offset_update(pq->c->g, &pq->queue, off, true);
}

static void log_given_up(const rill_msg_t *m, int64_t max)
{
    LOG_ERROR(LOG_MOD,
              "giving up message %s (key %s) of %s@%s#%d offset %lld after %lld redeliveries",
              m->msg_id, rill_msg_unique_key(m) ? rill_msg_unique_key(m) : "-", m->topic,
              m->broker_name, m->queue_id, (long long)m->queue_offset, (long long)max);
}

/* ---- retry: CONSUMER_SEND_MSG_BACK ---- */

/*
 * Give m back to the master of the broker set it came from: the broker
 * stores it into %RETRY%<group> (delayed) or, past max (or when dlq is set),
 * into %DLQ%<group>. 0 when stored; otherwise the caller retries locally.
 */
static int send_back(rill_push_consumer_t *c, const push_queue_t *pq, const rill_msg_t *m, bool dlq)
{
    if (m->commitlog_offset < 0)
        return RILL_EINVAL;
    rc_route_t *r = NULL;
    int rc = rc_route_get(c->cli, pq->queue.topic, false, &r);
    if (rc != 0)
        return rc;
    const rc_broker_set_t *set = rc_route_set(r, m->broker_name[0] ? m->broker_name
                                                                   : pq->queue.broker_name);
    const char *a = set ? rc_set_addr(set, 0) : NULL;
    char addr[RC_ADDR_BYTES];
    if (a)
        snprintf(addr, sizeof(addr), "%s", a);
    rc_route_release(r);
    if (a == NULL)
        return RILL_ENOTFOUND;
    Rill__ConsumerSendMsgBackRequest body = RILL__CONSUMER_SEND_MSG_BACK_REQUEST__INIT;
    body.group = (char *)c->conf->group;
    body.commitlog_offset = m->commitlog_offset;
    body.delay_level = dlq ? -1 : 0;
    body.max_reconsume_times = (int32_t)c->conf->max_reconsume_times;
    body.origin_msg_id = (char *)m->msg_id;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__CONSUMER_SEND_MSG_BACK;
    req.body_case = RILL__REQUEST__BODY_CONSUMER_SEND_MSG_BACK;
    req.consumer_send_msg_back = &body;
    Rill__Response *resp = NULL;
    rc = rc_broker_call(c->cli, addr, &req, 0, &resp);
    if (rc != 0)
        return rc;
    if (resp->code != RILL__RESPONSE_CODE__SUCCESS) {
        LOG_WARN(LOG_MOD, "send-back of %s to %s refused: %d %s", m->msg_id, addr, resp->code,
                 resp->remark ? resp->remark : "");
        rc = RILL_EBROKER;
    }
    rpc_response_free(resp);
    return rc;
}

/* ---- consume: concurrent ---- */

static void retry_run(cp_task_t *t, bool cancelled);

/*
 * The end of a concurrent listener call on msgs of pq: done, or scheduled
 * again, or given up. Frees nothing the caller still uses.
 */
static void finish_concurrent(push_queue_t *pq, rill_msg_t *const *msgs, size_t n,
                              rill_consume_status_t st)
{
    rill_push_consumer_t *c = pq->c;
    if (st == RILL_CONSUME_SUCCESS) {
        pthread_mutex_lock(&pq->lock);
        pq_done(&pq->cache, msgs, n);
        pthread_mutex_unlock(&pq->lock);
        record_offset(pq);
        return;
    }
    int64_t max = c->conf->max_reconsume_times;
    rill_msg_t *done[PUSH_CONSUME_BATCH_MAX];
    size_t n_done = 0;
    retry_task_t *rt = malloc(sizeof *rt + n * sizeof rt->msgs[0]);
    if (rt) {
        cp_task_init(&rt->task, retry_run);
        rt->pq = pq;
        rt->n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        rill_msg_t *m = msgs[i];
        if (c->conf->message_model == RC_CLUSTERING && c->conf->retry_send_back && !stopping(c) &&
            send_back(c, pq, m, false) == 0) {
            done[n_done++] = m; /* the broker has it (retry topic or DLQ) */
            continue;
        }
        m->reconsume_times++;
        if (m->reconsume_times > max) {
            log_given_up(m, max);
            atomic_fetch_add(&c->given_up, 1);
            done[n_done++] = m;
        } else if (rt) {
            rt->msgs[rt->n++] = m;
        }
        /* without memory for a retry the message stays in the cache, unconsumed:
           the committed offset stays before it, so the next owner redelivers it */
    }
    if (n_done > 0) {
        pthread_mutex_lock(&pq->lock);
        pq_done(&pq->cache, done, n_done);
        pthread_mutex_unlock(&pq->lock);
        record_offset(pq);
    }
    if (!rt)
        return;
    if (rt->n == 0) {
        free(rt);
        return;
    }
    pq_ref(pq);
    if (stopping(c) ||
        cp_submit(c->consume_pool, &rt->task, (uint32_t)c->conf->reconsume_delay_ms) != 0) {
        free(rt);
        pq_release(pq);
        return;
    }
    atomic_fetch_add(&c->redeliveries, 1);
}

static void retry_run(cp_task_t *t, bool cancelled)
{
    retry_task_t *rt = container_of(t, retry_task_t, task);
    push_queue_t *pq = rt->pq;
    rill_push_consumer_t *c = pq->c;
    pthread_mutex_lock(&pq->lock);
    bool drop = cancelled || pq->dropped || stopping(c);
    pthread_mutex_unlock(&pq->lock);
    if (!drop) {
        rill_consume_status_t st = call_listener(c, rt->msgs, rt->n);
        finish_concurrent(pq, rt->msgs, rt->n, st);
    }
    free(rt);
    pq_release(pq);
}

/* Schedule pq's consume task if messages wait and it is not. Caller holds pq->lock. */
static void consume_schedule_locked(push_queue_t *pq)
{
    if (pq->consume_scheduled || pq->dropped || pq_pending(&pq->cache) == 0)
        return;
    pq->consume_scheduled = true;
    pq_ref(pq);
    if (cp_submit(pq->c->consume_pool, &pq->consume_task, 0) != 0) {
        pq->consume_scheduled = false;
        int old = atomic_fetch_sub(&pq->refs, 1); /* the caller still holds one */
        assert(old > 1);
        (void)old;
    }
}

static void consume_concurrent(push_queue_t *pq)
{
    rill_push_consumer_t *c = pq->c;
    rill_msg_t *msgs[PUSH_CONSUME_BATCH_MAX];
    /* pq->lock held; consume_scheduled holds one ref */
    size_t k = pq_take(&pq->cache, c->batch, msgs);
    if (k == 0) {
        pq->consume_scheduled = false;
        pthread_mutex_unlock(&pq->lock);
        pq_release(pq);
        return;
    }
    pq_ref(pq); /* this call's */
    bool release_sched = false;
    if (pq_pending(&pq->cache) > 0) {
        /* more to do: let another thread take the next chunk meanwhile */
        if (cp_submit(c->consume_pool, &pq->consume_task, 0) != 0) {
            pq->consume_scheduled = false;
            release_sched = true;
        }
    } else {
        pq->consume_scheduled = false;
        release_sched = true;
    }
    pthread_mutex_unlock(&pq->lock);
    if (release_sched)
        pq_release(pq);
    rill_consume_status_t st = call_listener(c, msgs, k);
    finish_concurrent(pq, msgs, k, st);
    pq_release(pq);
}

/* ---- consume: orderly ---- */

static void consume_orderly(push_queue_t *pq)
{
    rill_push_consumer_t *c = pq->c;
    rill_msg_t *msgs[PUSH_CONSUME_BATCH_MAX];
    /* pq->lock held; consume_scheduled stays true (and its ref held) while we run */
    if (c->locking && (!pq->lock_held || rill_mono_ms() >= pq->lock_until_ms)) {
        /* not ours (yet, or any more): the lock tick schedules us once it is */
        pq->consume_scheduled = false;
        pthread_mutex_unlock(&pq->lock);
        pq_release(pq);
        return;
    }
    size_t k = pq_take(&pq->cache, c->batch, msgs);
    if (k == 0) {
        pq->consume_scheduled = false;
        pthread_mutex_unlock(&pq->lock);
        pq_release(pq);
        return;
    }
    pq->consuming = true;
    pthread_mutex_unlock(&pq->lock);

    rill_consume_status_t st = call_listener(c, msgs, k);

    uint32_t delay = 0;
    int64_t max = c->conf->max_reconsume_times;
    /* past the max: into %DLQ%<group> (CLUSTERING), before taking the lock
       (only this call touches msgs while pq->consuming is set) */
    bool in_dlq[PUSH_CONSUME_BATCH_MAX] = {false};
    if (st != RILL_CONSUME_SUCCESS && c->conf->message_model == RC_CLUSTERING &&
        c->conf->retry_send_back)
        for (size_t i = 0; i < k; i++)
            if (msgs[i]->reconsume_times + 1 > max)
                in_dlq[i] = send_back(c, pq, msgs[i], true) == 0;
    pthread_mutex_lock(&pq->lock);
    if (st == RILL_CONSUME_SUCCESS) {
        pq_done(&pq->cache, msgs, k);
    } else {
        /* counts fall along the chunk (older messages were delivered more often),
           so the messages past the limit are a prefix */
        size_t give_up = 0;
        for (size_t i = 0; i < k; i++) {
            msgs[i]->reconsume_times++;
            if (msgs[i]->reconsume_times > max)
                give_up = i + 1;
        }
        pq_rewind(&pq->cache, k);
        if (give_up > 0) {
            size_t again = pq_take(&pq->cache, give_up, msgs);
            assert(again == give_up);
            for (size_t i = 0; i < again; i++)
                if (!in_dlq[i])
                    log_given_up(msgs[i], max); /* else: in %DLQ%<group> now */
            atomic_fetch_add(&c->given_up, again);
            pq_done(&pq->cache, msgs, again);
        }
        if (give_up < k) {
            delay = (uint32_t)c->conf->reconsume_delay_ms;
            atomic_fetch_add(&c->redeliveries, 1);
        }
    }
    pq->consuming = false;
    pthread_cond_broadcast(&pq->idle);
    bool again = !pq->dropped && !stopping(c) && pq_pending(&pq->cache) > 0;
    if (again && cp_submit(c->consume_pool, &pq->consume_task, delay) != 0)
        again = false;
    if (!again)
        pq->consume_scheduled = false;
    pthread_mutex_unlock(&pq->lock);
    record_offset(pq);
    if (!again)
        pq_release(pq);
}

static void consume_run(cp_task_t *t, bool cancelled)
{
    push_queue_t *pq = container_of(t, push_queue_t, consume_task);
    pthread_mutex_lock(&pq->lock);
    if (cancelled || pq->dropped || stopping(pq->c)) {
        pq->consume_scheduled = false;
        pthread_mutex_unlock(&pq->lock);
        pq_release(pq);
        return;
    }
    if (pq->c->orderly)
        consume_orderly(pq);
    else
        consume_concurrent(pq);
}

/* ---- pulls ---- */

/* Run the pull task again after delay_ms; the pull chain's ref moves with it. */
static void pull_again(push_queue_t *pq, uint32_t delay_ms)
{
    if (stopping(pq->c) || cp_submit(pq->c->pull_pool, &pq->pull_task, delay_ms) != 0)
        pq_release(pq);
}

static void pull_done(int rc, Rill__Response *resp, void *arg);

static void pull_run(cp_task_t *t, bool cancelled)
{
    push_queue_t *pq = container_of(t, push_queue_t, pull_task);
    rill_push_consumer_t *c = pq->c;
    const struct rill_conf *conf = c->conf;

    pthread_mutex_lock(&pq->lock);
    bool drop = cancelled || pq->dropped || stopping(c);
    size_t slots = pq_slots(&pq->cache);
    size_t bytes = pq->cache.bytes;
    int64_t offset = pq->cache.next_offset;
    pthread_mutex_unlock(&pq->lock);
    if (drop) {
        pq_release(pq);
        return;
    }
    if ((int64_t)slots > conf->pull_threshold_queue_msgs ||
        (int64_t)bytes > conf->pull_threshold_queue_mb * 1024 * 1024) {
        atomic_fetch_add(&c->flow_holds, 1);
        pull_again(pq, PUSH_FLOW_RETRY_MS);
        return;
    }

    rpc_client_t *rpc = NULL;
    int rc = cg_queue_read_addr(c->g, &pq->queue, pq->pull_addr);
    if (rc == 0)
        rc = rc_broker_conn(c->cli, pq->pull_addr, &rpc);
    if (rc != 0) {
        LOG_DEBUG(LOG_MOD, "no pull of %s@%s#%d: %s", pq->queue.topic, pq->queue.broker_name,
                  pq->queue.queue_id, rill_last_error());
        atomic_fetch_add(&c->pull_errors, 1);
        pull_again(pq, PUSH_PULL_BACKOFF_MS);
        return;
    }
    int64_t commit = -1;
    if (cg_offset_get(c->g, &pq->queue, &commit) != 0)
        commit = -1;

    Rill__PullMessageRequest body = RILL__PULL_MESSAGE_REQUEST__INIT;
    body.consumer_group = (char *)conf->group;
    body.topic = pq->queue.topic;
    body.queue_id = pq->queue.queue_id;
    body.queue_offset = offset;
    body.max_msg_nums = (int32_t)conf->pull_batch_size;
    body.subscription = (char *)pq->sub->expression;
    body.suspend_timeout_ms = conf->pull_suspend_ms;
    body.commit_offset = commit;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__PULL_MESSAGE;
    req.body_case = RILL__REQUEST__BODY_PULL_MESSAGE;
    req.pull_message = &body;
    uint32_t timeout = (uint32_t)(conf->pull_suspend_ms + PUSH_PULL_TIMEOUT_EXTRA_MS);
    atomic_fetch_add(&c->pulls, 1);
    rc = rpc_client_call_async(rpc, &req, timeout, pull_done, pq);
    if (rc != 0) {
        LOG_DEBUG(LOG_MOD, "pull of %s#%d not sent: %s", pq->queue.topic, pq->queue.queue_id,
                  rill_strerror(rc));
        atomic_fetch_add(&c->pull_errors, 1);
        pull_again(pq, rc == RILL_EBUSY ? PUSH_FLOW_RETRY_MS : PUSH_PULL_BACKOFF_MS);
    }
}

/* Decode a SUCCESS reply, drop what the tags do not match, add the rest. */
static int pull_found(push_queue_t *pq, const Rill__PullMessageResponse *body)
{
    rill_push_consumer_t *c = pq->c;
    rill_msg_t **msgs = NULL;
    size_t n = 0;
    int rc = rc_msgs_from_records(body->records.data, body->records.len, pq->queue.broker_name,
                                  &msgs, &n);
    if (rc != 0) {
        LOG_ERROR(LOG_MOD, "pull reply of %s@%s#%d from %s undecodable: %s", pq->queue.topic,
                  pq->queue.broker_name, pq->queue.queue_id, pq->pull_addr, rill_last_error());
        return rc;
    }
    /* the broker filters by tag hash; hashes collide, so check the tag itself */
    size_t kept = 0;
    bool retry_queue = strncmp(pq->queue.topic, "%RETRY%", 7) == 0;
    for (size_t i = 0; i < n; i++) {
        if (retry_queue) {
            /* a message given back: the listener sees its original topic */
            const char *real = rill_msg_property(msgs[i], "RETRY_TOPIC");
            if (!real)
                real = rill_msg_property(msgs[i], "REAL_TOPIC");
            if (real && real[0] && strlen(real) < sizeof msgs[i]->topic)
                snprintf(msgs[i]->topic, sizeof msgs[i]->topic, "%s", real);
        }
        const char *tag = msgs[i]->tags;
        if (rill_tag_filter_match(&pq->sub->filter, tag, tag ? strlen(tag) : 0))
            msgs[kept++] = msgs[i];
        else
            rill_msg_destroy(msgs[i]);
    }
    pthread_mutex_lock(&pq->lock);
    if (pq->dropped) {
        pthread_mutex_unlock(&pq->lock);
        for (size_t i = 0; i < kept; i++)
            rill_msg_destroy(msgs[i]);
        free(msgs);
        return 0;
    }
    rc = pq_append(&pq->cache, msgs, kept, body->next_begin_offset);
    size_t slots = pq_slots(&pq->cache);
    if (rc == 0)
        consume_schedule_locked(pq);
    pthread_mutex_unlock(&pq->lock);
    free(msgs);
    stat_max(&c->cached_slots_max, slots);
    if (rc == 0 && kept == 0)
        record_offset(pq); /* everything was filtered out: the position still moves */
    return rc;
}

/* Completion of a pull, on an nng thread: never blocks. */
static void pull_done(int rc, Rill__Response *resp, void *arg)
{
    push_queue_t *pq = arg;
    rill_push_consumer_t *c = pq->c;
    pthread_mutex_lock(&pq->lock);
    bool drop = pq->dropped || stopping(c);
    pthread_mutex_unlock(&pq->lock);
    if (drop) {
        rpc_response_free(resp);
        pq_release(pq);
        return;
    }
    if (rc != 0) {
        rc_broker_mark_down(c->cli, pq->pull_addr);
        LOG_DEBUG(LOG_MOD, "pull of %s@%s#%d from %s failed: %s", pq->queue.topic,
                  pq->queue.broker_name, pq->queue.queue_id, pq->pull_addr, rill_strerror(rc));
        atomic_fetch_add(&c->pull_errors, 1);
        pull_again(pq, PUSH_PULL_BACKOFF_MS);
        return;
    }
    rc_broker_mark_up(c->cli, pq->pull_addr);
    const Rill__PullMessageResponse *body =
        resp->body_case == RILL__RESPONSE__BODY_PULL_MESSAGE ? resp->pull_message : NULL;
    uint32_t delay = 0;
    switch (resp->code) {
    case RILL__RESPONSE_CODE__SUCCESS:
        if (!body || pull_found(pq, body) != 0) {
            atomic_fetch_add(&c->pull_errors, 1);
            delay = PUSH_PULL_BACKOFF_MS;
        }
        break;
    case RILL__RESPONSE_CODE__PULL_NOT_FOUND:
    case RILL__RESPONSE_CODE__PULL_RETRY_IMMEDIATELY:
        if (body) {
            pthread_mutex_lock(&pq->lock);
            bool empty = pq_slots(&pq->cache) == 0;
            if (body->next_begin_offset > pq->cache.next_offset)
                pq->cache.next_offset = body->next_begin_offset;
            pthread_mutex_unlock(&pq->lock);
            if (empty)
                record_offset(pq);
        }
        break;
    case RILL__RESPONSE_CODE__PULL_OFFSET_MOVED:
        if (body) {
            LOG_WARN(LOG_MOD, "%s@%s#%d: offset moved, pulling from %lld", pq->queue.topic,
                     pq->queue.broker_name, pq->queue.queue_id, (long long)body->next_begin_offset);
            pthread_mutex_lock(&pq->lock);
            pq->cache.next_offset = body->next_begin_offset;
            bool empty = pq_slots(&pq->cache) == 0;
            pthread_mutex_unlock(&pq->lock);
            if (empty)
                (void)cg_offset_update(c->g, &pq->queue, body->next_begin_offset, false);
        } else {
            delay = PUSH_PULL_BACKOFF_MS;
        }
        break;
    default:
        LOG_WARN(LOG_MOD, "pull of %s@%s#%d refused by %s: code %d %s", pq->queue.topic,
                 pq->queue.broker_name, pq->queue.queue_id, pq->pull_addr, resp->code,
                 resp->remark);
        atomic_fetch_add(&c->pull_errors, 1);
        delay = PUSH_PULL_BACKOFF_MS;
        break;
    }
    rpc_response_free(resp);
    pull_again(pq, delay);
}

/* ---- the group's callbacks (timer thread) ---- */

static void unlock_later(rill_push_consumer_t *c, const rill_queue_t *q);

static void queues_added(void *opaque, const cg_queue_start_t *starts, size_t n)
{
    rill_push_consumer_t *c = opaque;
    for (size_t i = 0; i < n; i++) {
        const cg_sub_t *sub = cg_sub_find(c->g, starts[i].queue.topic);
        push_queue_t *pq = calloc(1, sizeof *pq);
        if (!sub || !pq) {
            free(pq);
            LOG_ERROR(LOG_MOD, "cannot consume %s#%d: out of memory", starts[i].queue.topic,
                      starts[i].queue.queue_id);
            continue;
        }
        pq->c = c;
        pq->queue = starts[i].queue;
        pq->sub = sub;
        atomic_init(&pq->refs, 1); /* the table's */
        pthread_mutex_init(&pq->lock, NULL);
        if (rill_cond_init_monotonic(&pq->idle) != 0) {
            pthread_mutex_destroy(&pq->lock);
            free(pq);
            LOG_ERROR(LOG_MOD, "cannot consume %s#%d: no condition variable", starts[i].queue.topic,
                      starts[i].queue.queue_id);
            continue;
        }
        pq_init(&pq->cache, starts[i].offset);
        cp_task_init(&pq->consume_task, consume_run);
        cp_task_init(&pq->pull_task, pull_run);

        pthread_mutex_lock(&c->lock);
        if (c->n_queues == c->cap_queues) {
            size_t cap = c->cap_queues ? c->cap_queues * 2 : 16;
            push_queue_t **q = realloc(c->queues, cap * sizeof *q);
            if (!q) {
                pthread_mutex_unlock(&c->lock);
                pq_release(pq);
                LOG_ERROR(LOG_MOD, "cannot consume %s#%d: out of memory", starts[i].queue.topic,
                          starts[i].queue.queue_id);
                continue;
            }
            c->queues = q;
            c->cap_queues = cap;
        }
        c->queues[c->n_queues++] = pq;
        pthread_mutex_unlock(&c->lock);

        if (c->locking)
            continue; /* the lock tick starts the pull chain once the lock is held */
        pq->pulling = true;
        pq_ref(pq); /* the pull chain's */
        pull_again(pq, 0);
    }
}

static void queues_removed(void *opaque, const rill_queue_t *queues, size_t n)
{
    rill_push_consumer_t *c = opaque;
    for (size_t i = 0; i < n; i++) {
        push_queue_t *pq = NULL;
        pthread_mutex_lock(&c->lock);
        for (size_t k = 0; k < c->n_queues; k++)
            if (cg_queue_cmp(&c->queues[k]->queue, &queues[i]) == 0) {
                pq = c->queues[k];
                c->queues[k] = c->queues[--c->n_queues];
                break;
            }
        pthread_mutex_unlock(&c->lock);
        if (!pq)
            continue;
        pthread_mutex_lock(&pq->lock);
        pq->dropped = true;
        if (c->locking) {
            /* let a running call finish so its messages count as consumed */
            struct timespec deadline;
            rill_deadline_after_ms(&deadline, PUSH_ORDERLY_DRAIN_MS);
            while (pq->consuming && pthread_cond_timedwait(&pq->idle, &pq->lock, &deadline) == 0) {
            }
        }
        int64_t off = pq_committable(&pq->cache);
        bool unlock = c->locking && pq->lock_held && !pq->consuming;
        bool busy = c->locking && pq->consuming;
        pthread_mutex_unlock(&pq->lock);
        (void)cg_offset_update(c->g, &pq->queue, off, true);
        if (unlock)
            unlock_later(c, &pq->queue);
        if (busy)
            LOG_WARN(LOG_MOD,
                     "%s@%s#%d removed while its listener call still runs: its lock is left "
                     "to expire on the broker",
                     pq->queue.topic, pq->queue.broker_name, pq->queue.queue_id);
        pq_release(pq);
    }
}

/* ---- orderly: broker queue locks (timer thread) ---- */

/* Queue q's unlock for the next lock tick (after the group's commit). */
static void unlock_later(rill_push_consumer_t *c, const rill_queue_t *q)
{
    pthread_mutex_lock(&c->lock);
    if (c->n_unlocks == c->cap_unlocks && c->cap_unlocks < CG_QUEUES_MAX) {
        size_t cap = c->cap_unlocks ? c->cap_unlocks * 2 : 16;
        rill_queue_t *u = realloc(c->unlocks, cap * sizeof *u);
        if (u) {
            c->unlocks = u;
            c->cap_unlocks = cap;
        }
    }
    /* without room the lock is left to expire on the broker */
    if (c->n_unlocks < c->cap_unlocks)
        c->unlocks[c->n_unlocks++] = *q;
    pthread_mutex_unlock(&c->lock);
}

static int queue_broker_cmp(const void *a, const void *b)
{
    return cg_queue_cmp(a, b);
}

static int pq_broker_cmp(const void *a, const void *b)
{
    const push_queue_t *x = *(push_queue_t *const *)a, *y = *(push_queue_t *const *)b;
    return cg_queue_cmp(&x->queue, &y->queue);
}

/*
 * Apply a lock answer to pq; start its pull chain the first time it is held.
 * Returns true when a lock pq was consuming under went to another member:
 * the caller then restarts the queue (restart_queue()).
 */
static bool lock_result(push_queue_t *pq, int rc, bool got, uint64_t sent_ms)
{
    rill_push_consumer_t *c = pq->c;
    pthread_mutex_lock(&pq->lock);
    pq->lock_tried_ms = sent_ms;
    if (pq->dropped || rc != 0) {
        /* a failed call changes nothing: the local lease still runs out */
        pthread_mutex_unlock(&pq->lock);
        return false;
    }
    if (!got) {
        bool lost = pq->lock_held && pq->pulling;
        if (pq->lock_held)
            LOG_WARN(LOG_MOD, "%s@%s#%d: queue lock lost to another member", pq->queue.topic,
                     pq->queue.broker_name, pq->queue.queue_id);
        pq->lock_held = false;
        pthread_mutex_unlock(&pq->lock);
        return lost;
    }
    pq->lock_held = true;
    pq->lock_taken_ms = sent_ms;
    pq->lock_until_ms = sent_ms + (uint64_t)c->conf->lock_renew_ms * 5 / 2;
    bool start = !pq->pulling;
    if (!start)
        consume_schedule_locked(pq);
    pthread_mutex_unlock(&pq->lock);
    if (!start)
        return false;
    /* the previous owner committed before it unlocked: start from there */
    int64_t off = 0;
    rc = cg_start_offset(c->g, &pq->queue, &off);
    if (rc != 0) {
        LOG_WARN(LOG_MOD, "%s@%s#%d locked but no start offset: %s", pq->queue.topic,
                 pq->queue.broker_name, pq->queue.queue_id, rill_last_error());
        pthread_mutex_lock(&pq->lock);
        pq->lock_taken_ms = 0; /* renew (and try again) on a later tick */
        pthread_mutex_unlock(&pq->lock);
        return false;
    }
    pthread_mutex_lock(&pq->lock);
    assert(pq_slots(&pq->cache) == 0);
    pq->cache.next_offset = off;
    pq->pulling = true;
    pthread_mutex_unlock(&pq->lock);
    (void)cg_offset_update(c->g, &pq->queue, off, false);
    LOG_INFO(LOG_MOD, "%s locked %s@%s#%d, consuming from %lld", c->conf->client_id,
             pq->queue.topic, pq->queue.broker_name, pq->queue.queue_id, (long long)off);
    pq_ref(pq); /* the pull chain's */
    pull_again(pq, 0);
    return false;
}

/*
 * pq lost its lock while still assigned: another member may have consumed
 * past what pq has cached, so drop pq (cache, pull chain) and start the
 * queue afresh: it waits for the lock again and then reads the committed
 * offset. Nothing is reported to the group: pq consumed nothing since.
 */
static void restart_queue(rill_push_consumer_t *c, push_queue_t *pq)
{
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (size_t k = 0; k < c->n_queues; k++)
        if (c->queues[k] == pq) {
            c->queues[k] = c->queues[--c->n_queues];
            found = true;
            break;
        }
    pthread_mutex_unlock(&c->lock);
    if (!found)
        return;
    pthread_mutex_lock(&pq->lock);
    pq->dropped = true;
    pthread_mutex_unlock(&pq->lock);
    cg_queue_start_t start = {.queue = pq->queue, .offset = 0}; /* re-read once locked */
    pq_release(pq);                                             /* the table's */
    queues_added(c, &start, 1);
}

/* Unlock queues taken away (sorted), one request per broker set. */
static void send_unlocks(rill_push_consumer_t *c, rill_queue_t *qs, size_t n)
{
    qsort(qs, n, sizeof *qs, queue_broker_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && j - i < QL_BATCH_MAX && strcmp(qs[j].broker_name, qs[i].broker_name) == 0)
            j++;
        if (ql_unlock(c->cli, c->conf->group, &qs[i], j - i) != 0)
            LOG_WARN(LOG_MOD, "unlock of %zu queues of %s failed (they expire): %s", j - i,
                     qs[i].broker_name, rill_last_error());
        i = j;
    }
}

static void lock_tick(void *arg)
{
    rill_push_consumer_t *c = arg;
    if (stopping(c))
        return;
    uint64_t now = rill_mono_ms();
    uint64_t renew = (uint64_t)c->conf->lock_renew_ms;
    pthread_mutex_lock(&c->lock);
    rill_queue_t *unl = c->unlocks;
    size_t n_unl = c->n_unlocks;
    c->unlocks = NULL;
    c->n_unlocks = c->cap_unlocks = 0;
    push_queue_t **todo = c->n_queues ? malloc(c->n_queues * sizeof *todo) : NULL;
    size_t n = 0;
    for (size_t i = 0; todo && i < c->n_queues; i++) {
        push_queue_t *pq = c->queues[i];
        pthread_mutex_lock(&pq->lock);
        /* held: renew every lock.renew.ms; else (or after a failed call) retry every second */
        bool retry_ok = now - pq->lock_tried_ms >= PUSH_LOCK_RETRY_MS;
        bool due = pq->lock_held ? now - pq->lock_taken_ms >= renew &&
                                       (pq->lock_tried_ms == pq->lock_taken_ms || retry_ok)
                                 : retry_ok;
        pthread_mutex_unlock(&pq->lock);
        if (due) {
            pq_ref(pq);
            todo[n++] = pq;
        }
    }
    pthread_mutex_unlock(&c->lock);

    if (n_unl > 0)
        send_unlocks(c, unl, n_unl);
    free(unl);

    if (n > 1)
        qsort(todo, n, sizeof *todo, pq_broker_cmp);
    rill_queue_t *qs = n ? malloc(n * sizeof *qs) : NULL;
    bool *locked = n ? malloc(n * sizeof *locked) : NULL;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && j - i < QL_BATCH_MAX &&
               strcmp(todo[j]->queue.broker_name, todo[i]->queue.broker_name) == 0)
            j++;
        int rc = ENOMEM;
        uint64_t sent = rill_mono_ms();
        if (qs && locked) {
            for (size_t k = i; k < j; k++)
                qs[k] = todo[k]->queue;
            rc = ql_lock(c->cli, c->conf->group, &qs[i], j - i, &locked[i]);
            if (rc != 0)
                LOG_WARN(LOG_MOD, "lock of %zu queues of %s failed: %s", j - i,
                         todo[i]->queue.broker_name, rill_last_error());
        }
        for (size_t k = i; k < j; k++)
            if (lock_result(todo[k], rc, rc == 0 && locked[k], sent))
                restart_queue(c, todo[k]);
        i = j;
    }
    for (size_t i = 0; i < n; i++)
        pq_release(todo[i]);
    free(locked);
    free(qs);
    free(todo);
}

/* ---- public API ---- */

static void set_errstr(char *errstr, size_t size, const char *text)
{
    if (errstr && size > 0)
        snprintf(errstr, size, "%s", text);
}

int rill_push_consumer_new(rill_push_consumer_t **out, rill_conf_t *conf, char *errstr,
                           size_t errstr_size)
{
    if (!out)
        return rc_fail(RILL_EINVAL, "out is NULL");
    if (!conf || !conf->group[0]) {
        set_errstr(errstr, errstr_size, "a push consumer needs a group (conf key \"group\")");
        return rc_fail(RILL_ECONFIG, "a push consumer needs a group (conf key \"group\")");
    }
    rill_push_consumer_t *c = calloc(1, sizeof *c);
    if (!c) {
        set_errstr(errstr, errstr_size, "out of memory");
        return rc_fail(ENOMEM, NULL);
    }
    pthread_mutex_init(&c->lock, NULL);
    c->lock_task = -1;
    int rc = rc_client_open(&c->cli, conf, errstr, errstr_size);
    if (rc != 0)
        goto fail;
    cg_callbacks_t cbs = {.queues_added = queues_added, .queues_removed = queues_removed};
    rc = cg_open(&c->g, c->cli, CG_PUSH, &cbs, c);
    if (rc != 0) {
        set_errstr(errstr, errstr_size, rill_last_error());
        goto fail;
    }
    c->conf = conf;
    *out = c;
    return 0;
fail:
    rc_client_close(c->cli);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return rc;
}

int rill_push_consumer_subscribe(rill_push_consumer_t *c, const char *topic, const char *expression)
{
    if (!c)
        return rc_fail(RILL_EINVAL, "consumer is NULL");
    pthread_mutex_lock(&c->lock);
    bool started = c->started;
    pthread_mutex_unlock(&c->lock);
    if (started)
        return rc_fail(RILL_EINVAL, "subscribe after start");
    int rc = cg_subscribe(c->g, topic, expression);
    return rc == RILL_ETOOBIG ? RILL_EINVAL : rc; /* rill.h: a bad expression is RILL_EINVAL */
}

static int set_listener(rill_push_consumer_t *c, rill_msg_listener_cb cb, void *opaque,
                        bool orderly)
{
    if (!c || !cb)
        return rc_fail(RILL_EINVAL, "NULL consumer or listener");
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    if (c->started) {
        rc = rc_fail(RILL_EINVAL, "listener set after start");
    } else {
        c->listener = cb;
        c->listener_opaque = opaque;
        c->orderly = orderly;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int rill_push_consumer_set_listener(rill_push_consumer_t *c, rill_msg_listener_cb cb, void *opaque)
{
    return set_listener(c, cb, opaque, false);
}

int rill_push_consumer_set_orderly_listener(rill_push_consumer_t *c, rill_msg_listener_cb cb,
                                            void *opaque)
{
    return set_listener(c, cb, opaque, true);
}

int rill_push_consumer_start(rill_push_consumer_t *c)
{
    if (!c)
        return rc_fail(RILL_EINVAL, "consumer is NULL");
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    if (c->started)
        rc = rc_fail(RILL_EINVAL, "consumer already started");
    else if (!c->listener)
        rc = rc_fail(RILL_EINVAL, "no listener set");
    else if (cg_sub_count(c->g) == 0)
        rc = rc_fail(RILL_EINVAL, "no subscription");
    if (rc != 0) {
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    if (!c->orderly && c->conf->message_model == RC_CLUSTERING && c->conf->retry_send_back) {
        /* every member consumes the group's retry topic (messages given back
           with CONSUMER_SEND_MSG_BACK come back there after their delay) */
        char retry[RILL_TOPIC_BYTES_MAX + 1];
        int n = snprintf(retry, sizeof retry, "%%RETRY%%%s", c->conf->group);
        if (n > 0 && (size_t)n < sizeof retry && cg_sub_find(c->g, retry) == NULL &&
            cg_subscribe(c->g, retry, "*") != 0)
            LOG_WARN(LOG_MOD, "cannot subscribe to %s: %s", retry, rill_last_error());
    }
    c->started = true;
    pthread_mutex_unlock(&c->lock);

    const struct rill_conf *conf = c->conf;
    c->batch = conf->consume_batch_size < 1 ? 1
               : conf->consume_batch_size > PUSH_CONSUME_BATCH_MAX
                   ? PUSH_CONSUME_BATCH_MAX
                   : (size_t)conf->consume_batch_size;
    rc = cp_create(&c->consume_pool, (size_t)conf->consume_threads, "rill-consume");
    if (rc == 0)
        rc = cp_create(&c->pull_pool, PUSH_POOL_PULL_THREADS, "rill-pull");
    if (rc != 0) {
        rc_fail(rc, "cannot start consumer threads: %s", rill_strerror(rc));
        goto fail;
    }
    c->locking = c->orderly && conf->message_model == RC_CLUSTERING;
    if (c->locking) {
        rc = rc_client_every(c->cli, PUSH_LOCK_TICK_MS, true, lock_tick, c);
        if (rc < 0) {
            rc_fail(rc, "no timer slot for the queue lock task");
            goto fail;
        }
        c->lock_task = rc;
    }
    rc = cg_start(c->g, true, true);
    if (rc != 0)
        goto fail;
    return 0;
fail:
    if (c->lock_task >= 0)
        rc_client_cancel(c->cli, c->lock_task);
    c->lock_task = -1;
    cp_destroy(c->pull_pool);
    cp_destroy(c->consume_pool);
    c->pull_pool = c->consume_pool = NULL;
    pthread_mutex_lock(&c->lock);
    c->started = false;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int rill_push_consumer_assignment(rill_push_consumer_t *c, rill_queue_t *out, size_t cap, size_t *n)
{
    if (!c || !n || (cap > 0 && !out))
        return rc_fail(RILL_EINVAL, "NULL argument");
    cg_assignment(c->g, out, cap, n);
    return 0;
}

void rill_push_consumer_destroy(rill_push_consumer_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    bool started = c->started;
    pthread_mutex_unlock(&c->lock);
    if (started) {
        if (c->lock_task >= 0)
            rc_client_cancel(c->cli, c->lock_task); /* unregistering releases the locks */
        cg_stop(c->g); /* no rebalance callback from here on */
        atomic_store(&c->stopping, true);
        cp_shutdown(c->pull_pool);
        cp_shutdown(c->consume_pool); /* running listener calls finish */
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n_queues; i++)
            record_offset(c->queues[i]);
        pthread_mutex_unlock(&c->lock);
    }
    cg_close(c->g);          /* commits and unregisters */
    rc_client_close(c->cli); /* pulls still in flight end; their completions drop their refs */
    cp_destroy(c->pull_pool);
    cp_destroy(c->consume_pool);
    for (size_t i = 0; i < c->n_queues; i++) {
        pthread_mutex_lock(&c->queues[i]->lock);
        c->queues[i]->dropped = true;
        pthread_mutex_unlock(&c->queues[i]->lock);
        pq_release(c->queues[i]);
    }
    free(c->queues);
    free(c->unlocks);
    pthread_mutex_destroy(&c->lock);
    rill_conf_destroy(c->conf);
    free(c);
}

void rc_push_consumer_stats(rill_push_consumer_t *c, rc_push_stats_t *out)
{
    out->cached_slots_max = atomic_load(&c->cached_slots_max);
    out->pulls = atomic_load(&c->pulls);
    out->pull_errors = atomic_load(&c->pull_errors);
    out->flow_holds = atomic_load(&c->flow_holds);
    out->redeliveries = atomic_load(&c->redeliveries);
    out->given_up = atomic_load(&c->given_up);
}
