/*
 * pull.c - PULL_MESSAGE and long polling.
 *
 * A pull reads up to max_msg_nums records of one queue through
 * store_get_messages() (tag filter by hash) into one malloc'd buffer and
 * returns them as raw CommitLog records in one bytes field. Store statuses
 * map to RocketMQ's codes (PullMessageProcessor):
 *
 *   FOUND                         SUCCESS
 *   NO_MATCHED_MSG                PULL_RETRY_IMMEDIATELY (next offset moved on)
 *   OFFSET_OVERFLOW_ONE           PULL_NOT_FOUND         (long-polled)
 *   NO_MESSAGE_IN_QUEUE           PULL_NOT_FOUND at offset 0 (long-polled), else
 *                                 PULL_OFFSET_MOVED
 *   OFFSET_TOO_SMALL / _BADLY     PULL_OFFSET_MOVED
 *   OFFSET_FOUND_NULL             PULL_NOT_FOUND         (next offset skips the hole)
 *
 * Long polling: a pull answered PULL_NOT_FOUND whose suspend_timeout_ms > 0
 * is parked in a fixed table (BROKER_PARKED_PULLS_MAX slots; when it is full
 * the pull is answered at once). The store's on_dispatch callback, on the
 * dispatcher thread, only marks slots of the grown queue "woken" and signals;
 * the "pull-hold" thread takes woken and expired slots out of the table
 * under the lock and runs them again with no lock held: a result or the
 * deadline answers, otherwise the slot is parked again with its first
 * deadline. A slot is in the table or in exactly one thread's hands, so each
 * request is answered exactly once. The parked request keeps pointing at its
 * decoded Request, which the RPC layer keeps valid until the reply.
 *
 * The same thread samples the put/get counters once a second for the TPS in
 * the runtime stats.
 */
#include "broker/broker.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/tags.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD          "pull"
#define PULL_BYTES_FIRST (1u << 20) /* first buffer; a bigger record gets a retry */
#define HOLD_TICK_MS     50         /* deadline resolution of parked pulls */
#define TPS_SAMPLE_MS    1000

typedef struct parked {
    bool used, woken;
    rpc_request_t *req;
    const Rill__Request *msg;
    uint64_t deadline_ms; /* monotonic */
    uint32_t queue_id;
    uint64_t offset;
    char topic[BROKER_TOPIC_BYTES_MAX + 1];
} parked_t;

struct pull_hold {
    broker_t *b;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, kick;
    size_t used;
    parked_t slots[BROKER_PARKED_PULLS_MAX];
    pthread_t thread;
    bool thread_started;
    uint64_t sample_ms, sample_put, sample_get;
};

static int park(pull_hold_t *h, rpc_request_t *req, const Rill__Request *msg, uint64_t deadline,
                const char *topic, uint32_t queue_id, uint64_t offset);

/* Fill a PULL reply body with offsets. */
static void fill_offsets(Rill__PullMessageResponse *body, const store_get_result_t *r)
{
    body->next_begin_offset = (int64_t)r->next_offset;
    body->min_offset = (int64_t)r->min_offset;
    body->max_offset = (int64_t)r->max_offset;
}

/*
 * Run a pull. deadline_ms: 0 on the first run (computed from the request),
 * else the deadline it was parked with. Returns after answering, or after
 * parking (the request then belongs to the hold table).
 */
static void pull_run(broker_t *b, rpc_request_t *req, const Rill__Request *msg,
                     uint64_t deadline_ms, bool may_park)
{
    const Rill__PullMessageRequest *p = msg->pull_message;
    topic_conf_t tc;
    if (topics_check_name(p->topic) != 0 || topics_get(b->topics, p->topic, &tc) != 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__TOPIC_NOT_EXIST, "topic %s does not exist",
                          p->topic);
        return;
    }
    if ((tc.perm & 4) == 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__NO_PERMISSION,
                          "topic %s is not readable (perm %d)", p->topic, tc.perm);
        return;
    }
    if (p->queue_id < 0 || p->queue_id >= tc.read_queue_nums) {
        broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                          "queue id %d out of range: topic %s has %d read queues", p->queue_id,
                          p->topic, tc.read_queue_nums);
        return;
    }
    if (p->queue_offset < 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL, "negative queue offset %lld",
                          (long long)p->queue_offset);
        return;
    }
    rill_tag_filter_t filter;
    if (rill_tag_filter_parse(&filter, p->subscription[0] ? p->subscription : NULL) != 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "bad subscription expression '%.64s'", p->subscription);
        return;
    }
    uint32_t max = p->max_msg_nums <= 0 ? BROKER_PULL_MSGS_DEFAULT : (uint32_t)p->max_msg_nums;
    if (max > BROKER_PULL_MSGS_MAX)
        max = BROKER_PULL_MSGS_MAX;

    size_t cap = PULL_BYTES_FIRST;
    void *buf = malloc(cap);
    store_get_result_t r;
    int rc = buf ? store_get_messages(b->store, p->topic, (uint32_t)p->queue_id,
                                      (uint64_t)p->queue_offset, max, &filter, buf, cap, &r)
                 : ENOMEM;
    if (rc == RILL_ENOSPACE) { /* one record larger than the first buffer */
        free(buf);
        cap = (size_t)b->cfg.store.max_message_size + RECORD_PROPS_BYTES_MAX + 1024;
        buf = malloc(cap);
        rc = buf ? store_get_messages(b->store, p->topic, (uint32_t)p->queue_id,
                                      (uint64_t)p->queue_offset, 1, &filter, buf, cap, &r)
                 : ENOMEM;
    }
    if (rc != 0) {
        free(buf);
        broker_reply_code(req,
                          broker_code_of(rc) == RILL__RESPONSE_CODE__MESSAGE_ILLEGAL
                              ? RILL__RESPONSE_CODE__SYSTEM_ERROR
                              : broker_code_of(rc),
                          "pull failed: %s", rill_strerror(rc));
        return;
    }
    int code;
    switch (r.status) {
    case STORE_FOUND:
        code = RILL__RESPONSE_CODE__SUCCESS;
        break;
    case STORE_NO_MATCHED_MSG:
        code = RILL__RESPONSE_CODE__PULL_RETRY_IMMEDIATELY;
        break;
    case STORE_NO_MESSAGE_IN_QUEUE:
        code = p->queue_offset == 0 ? RILL__RESPONSE_CODE__PULL_NOT_FOUND
                                    : RILL__RESPONSE_CODE__PULL_OFFSET_MOVED;
        break;
    case STORE_OFFSET_OVERFLOW_ONE:
    case STORE_OFFSET_FOUND_NULL:
        code = RILL__RESPONSE_CODE__PULL_NOT_FOUND;
        break;
    default:
        code = RILL__RESPONSE_CODE__PULL_OFFSET_MOVED;
        break;
    }
    if (code == RILL__RESPONSE_CODE__PULL_NOT_FOUND && may_park && p->suspend_timeout_ms > 0 &&
        r.status != STORE_OFFSET_FOUND_NULL && !atomic_load(&b->stopping)) {
        if (deadline_ms == 0) {
            int64_t t = p->suspend_timeout_ms;
            if (t > b->cfg.broker_suspend_max_time_millis)
                t = b->cfg.broker_suspend_max_time_millis;
            deadline_ms = rill_mono_ms() + (uint64_t)t;
        }
        if (rill_mono_ms() < deadline_ms &&
            park(b->hold, req, msg, deadline_ms, p->topic, (uint32_t)p->queue_id,
                 (uint64_t)p->queue_offset) == 0) {
            free(buf);
            return;
        }
    }
    Rill__Response resp = RILL__RESPONSE__INIT;
    Rill__PullMessageResponse body = RILL__PULL_MESSAGE_RESPONSE__INIT;
    resp.code = code;
    resp.body_case = RILL__RESPONSE__BODY_PULL_MESSAGE;
    resp.pull_message = &body;
    fill_offsets(&body, &r);
    if (code == RILL__RESPONSE_CODE__SUCCESS) {
        body.msg_count = (int32_t)r.count;
        body.records.data = buf;
        body.records.len = r.bytes;
        atomic_fetch_add(&b->get_total, r.count);
    }
    rpc_reply(req, &resp);
    free(buf);
}

static void handle_pull(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    if (msg->body_case != RILL__REQUEST__BODY_PULL_MESSAGE) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                       "PULL_MESSAGE needs a pull_message body");
        return;
    }
    const Rill__PullMessageRequest *p = msg->pull_message;
    if (p->commit_offset >= 0 && p->consumer_group[0] && topics_check_name(p->topic) == 0 &&
        p->queue_id >= 0 && strlen(p->consumer_group) <= BROKER_GROUP_BYTES_MAX) {
        int rc = store_offset_commit(b->store, p->consumer_group, p->topic, (uint32_t)p->queue_id,
                                     (uint64_t)p->commit_offset);
        if (rc != 0)
            LOG_WARN(LOG_MOD, "offset commit with a pull failed: %s", rill_strerror(rc));
        else
            ha_glue_offset_committed(b, p->consumer_group, p->topic, (uint32_t)p->queue_id,
                                     (uint64_t)p->commit_offset);
    }
    pull_run(b, req, msg, 0, true);
}

int pull_register(broker_t *b)
{
    return rpc_server_set_handler(b->rpc, RILL__REQUEST_CODE__PULL_MESSAGE, handle_pull, b);
}

/* ---- the hold table ---- */

static int park(pull_hold_t *h, rpc_request_t *req, const Rill__Request *msg, uint64_t deadline,
                const char *topic, uint32_t queue_id, uint64_t offset)
{
    pthread_mutex_lock(&h->lock);
    parked_t *s = NULL;
    if (!h->stop && h->used < BROKER_PARKED_PULLS_MAX) {
        for (size_t i = 0; i < BROKER_PARKED_PULLS_MAX; i++) {
            if (!h->slots[i].used) {
                s = &h->slots[i];
                break;
            }
        }
    }
    if (s == NULL) {
        pthread_mutex_unlock(&h->lock);
        return RILL_EBUSY;
    }
    s->used = true;
    s->woken = false;
    s->req = req;
    s->msg = msg;
    s->deadline_ms = deadline;
    s->queue_id = queue_id;
    s->offset = offset;
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    h->used++;
    pthread_mutex_unlock(&h->lock);
    /* A dispatch between our read and the insert above would be lost: look again. */
    uint64_t min_off, max_off;
    if (store_queue_range(h->b->store, topic, queue_id, &min_off, &max_off) == 0 &&
        max_off > offset) {
        pthread_mutex_lock(&h->lock);
        if (s->used && s->req == req) {
            s->woken = true;
            h->kick = true;
            pthread_cond_signal(&h->cond);
        }
        pthread_mutex_unlock(&h->lock);
    }
    return 0;
}

void pull_hold_on_dispatch(void *arg, const char *topic, uint16_t topic_len, uint32_t queue_id,
                           uint64_t max_offset)
{
    pull_hold_t *h = arg;
    pthread_mutex_lock(&h->lock);
    bool any = false;
    for (size_t i = 0, seen = 0; seen < h->used && i < BROKER_PARKED_PULLS_MAX; i++) {
        parked_t *s = &h->slots[i];
        if (!s->used)
            continue;
        seen++;
        if (s->queue_id == queue_id && max_offset > s->offset && strlen(s->topic) == topic_len &&
            memcmp(s->topic, topic, topic_len) == 0) {
            s->woken = true;
            any = true;
        }
    }
    if (any) {
        h->kick = true;
        pthread_cond_signal(&h->cond);
    }
    pthread_mutex_unlock(&h->lock);
}

/* Take slots out of the table: woken or expired ones, or every one when all is set. */
static size_t take(pull_hold_t *h, parked_t *out, bool all, uint64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < BROKER_PARKED_PULLS_MAX && h->used > 0; i++) {
        parked_t *s = &h->slots[i];
        if (s->used && (all || s->woken || now >= s->deadline_ms)) {
            out[n++] = *s;
            s->used = false;
            h->used--;
        }
    }
    return n;
}

static void run_taken(pull_hold_t *h, parked_t *taken, size_t n, bool final)
{
    uint64_t now = rill_mono_ms();
    for (size_t i = 0; i < n; i++) {
        bool may_park = !final && now < taken[i].deadline_ms;
        pull_run(h->b, taken[i].req, taken[i].msg, taken[i].deadline_ms, may_park);
    }
}

static void sample_tps(pull_hold_t *h)
{
    uint64_t now = rill_mono_ms();
    if (now - h->sample_ms < TPS_SAMPLE_MS)
        return;
    broker_t *b = h->b;
    uint64_t put = atomic_load(&b->put_total), get = atomic_load(&b->get_total);
    double secs = (double)(now - h->sample_ms) / 1000.0;
    pthread_mutex_lock(&b->tps_lock);
    b->put_tps = (double)(put - h->sample_put) / secs;
    b->get_tps = (double)(get - h->sample_get) / secs;
    pthread_mutex_unlock(&b->tps_lock);
    h->sample_ms = now;
    h->sample_put = put;
    h->sample_get = get;
}

static void *hold_main(void *arg)
{
    pull_hold_t *h = arg;
    pthread_setname_np(pthread_self(), "pull-hold");
    parked_t *taken = malloc(sizeof(parked_t) * BROKER_PARKED_PULLS_MAX);
    if (taken == NULL)
        abort(); /* 768 small slots at start-up; nothing sensible to do without them */
    pthread_mutex_lock(&h->lock);
    while (!h->stop) {
        if (!h->kick) {
            struct timespec ts;
            rill_deadline_after_ms(&ts, HOLD_TICK_MS);
            pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        }
        h->kick = false;
        size_t n = take(h, taken, false, rill_mono_ms());
        pthread_mutex_unlock(&h->lock);
        run_taken(h, taken, n, false);
        sample_tps(h);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    free(taken);
    return NULL;
}

int pull_hold_start(pull_hold_t **out, broker_t *b)
{
    pull_hold_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return ENOMEM;
    h->b = b;
    pthread_mutex_init(&h->lock, NULL);
    rill_cond_init_monotonic(&h->cond);
    h->sample_ms = rill_mono_ms();
    int rc = pthread_create(&h->thread, NULL, hold_main, h);
    if (rc != 0) {
        pthread_cond_destroy(&h->cond);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return rc;
    }
    h->thread_started = true;
    *out = h;
    return 0;
}

void pull_hold_release_all(pull_hold_t *h)
{
    if (h == NULL)
        return;
    parked_t *taken = malloc(sizeof(parked_t) * BROKER_PARKED_PULLS_MAX);
    if (taken == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    size_t n = take(h, taken, true, rill_mono_ms());
    pthread_mutex_unlock(&h->lock);
    run_taken(h, taken, n, true);
    free(taken);
}

void pull_hold_stop(pull_hold_t *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
    if (h->thread_started)
        pthread_join(h->thread, NULL);
    h->thread_started = false;
    pull_hold_release_all(h); /* park() refuses from now on */
}

void pull_hold_free(pull_hold_t *h)
{
    if (h == NULL)
        return;
    assert(!h->thread_started && h->used == 0);
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
