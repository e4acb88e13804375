/*
 * queue_lock.c - LOCK_BATCH_MQ and UNLOCK_BATCH_MQ: the queue locks that
 * let an orderly consumer be the only one of its group reading a queue
 * (RocketMQ's RebalanceLockManager).
 *
 * A lock is keyed by (consumer group, topic, queue id) and held by one
 * client id for a lease (rebalanceLockMaxLiveTime, 60 s) counted from the
 * last time that client locked it; locking again renews it. Another client
 * gets it only once the lease has run out or the holder released it:
 * UNLOCK_BATCH_MQ (only the holder's own locks), UNREGISTER_CLIENT of the
 * group (consumers.c calls queue_locks_release_client), or the close of the
 * connection the holder last locked it over (consumers.c's connection hook
 * calls queue_locks_pipe_closed; the rpc layer has one hook). A lock request
 * answers the subset of its queues the client holds after it, so a client
 * consumes exactly what it was told it holds.
 *
 * Layout: one array of pointers to locks (malloc'd one by one), sorted by
 * (group, topic, queue id), grown on demand up to BROKER_QUEUE_LOCKS_MAX;
 * pointers keep the memmove of an insert small (a lock is ~660 bytes).
 * Expired locks stay until taken over or until room is needed (then every
 * expired one is dropped at once). A request that would need more room
 * than that is answered SYSTEM_BUSY and changes nothing. Expiry is judged
 * on the monotonic clock of this process: a restarted broker starts with no
 * locks, and clients take them again on their next renewal (their local
 * leases are shorter than the broker's).
 *
 * Threads: the handlers and the hooks run on nng threads; l->lock guards
 * the table, held for short in-memory work only; replies are sent after it
 * is released.
 */
#include "broker/broker.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD         "qlock"
#define LOCKS_FIRST_CAP 64

typedef struct qlock {
    char group[BROKER_GROUP_BYTES_MAX + 1];
    char topic[BROKER_TOPIC_BYTES_MAX + 1];
    int32_t queue_id;
    char client_id[BROKER_CLIENT_ID_BYTES_MAX + 1];
    uint32_t pipe_id;   /* connection of the last lock request */
    uint64_t expire_ms; /* monotonic; free from then on */
} qlock_t;

struct queue_locks {
    pthread_mutex_t lock; /* guards everything below */
    uint64_t lease_ms;
    qlock_t **locks; /* sorted by (group, topic, queue_id) */
    size_t n, cap;
};

/* ---- the table (l->lock held) ---- */

static int key_cmp(const qlock_t *e, const char *group, const char *topic, int32_t queue_id)
{
    int c = strcmp(e->group, group);
    if (c == 0)
        c = strcmp(e->topic, topic);
    if (c == 0)
        c = e->queue_id < queue_id ? -1 : e->queue_id > queue_id;
    return c;
}

/* Index of the key, or where it would go (*found false). */
static size_t lock_pos(const queue_locks_t *l, const char *group, const char *topic,
                       int32_t queue_id, bool *found)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(l->locks[mid], group, topic, queue_id);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

typedef bool (*lock_pred_fn)(const qlock_t *e, const void *arg);

/* Drop every lock pred() selects, keeping the order. Returns how many. */
static size_t remove_if(queue_locks_t *l, lock_pred_fn pred, const void *arg)
{
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (pred(l->locks[i], arg)) {
            free(l->locks[i]);
            continue;
        }
        if (kept != i)
            l->locks[kept] = l->locks[i];
        kept++;
    }
    size_t removed = l->n - kept;
    l->n = kept;
    return removed;
}

static bool is_expired(const qlock_t *e, const void *arg)
{
    return e->expire_ms <= *(const uint64_t *)arg;
}

static bool on_pipe(const qlock_t *e, const void *arg)
{
    return e->pipe_id == *(const uint32_t *)arg;
}

typedef struct {
    const char *group, *client_id;
} holder_t;

static bool held_by(const qlock_t *e, const void *arg)
{
    const holder_t *h = arg;
    return strcmp(e->client_id, h->client_id) == 0 && strcmp(e->group, h->group) == 0;
}

/* Room for `more` new locks: drop expired ones, grow. RILL_EBUSY; ENOMEM. */
static int reserve(queue_locks_t *l, size_t more, uint64_t now)
{
    if (l->n + more > BROKER_QUEUE_LOCKS_MAX)
        remove_if(l, is_expired, &now);
    if (l->n + more > BROKER_QUEUE_LOCKS_MAX)
        return RILL_EBUSY;
    if (l->n + more <= l->cap)
        return 0;
    size_t cap = l->cap ? l->cap : LOCKS_FIRST_CAP;
    while (cap < l->n + more)
        cap *= 2;
    if (cap > BROKER_QUEUE_LOCKS_MAX)
        cap = BROKER_QUEUE_LOCKS_MAX;
    qlock_t **locks = realloc(l->locks, cap * sizeof(*locks));
    if (locks == NULL)
        return ENOMEM;
    l->locks = locks;
    l->cap = cap;
    return 0;
}

/* ---- checks ---- */

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '%' || ch == '|' || ch == '_' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool client_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > BROKER_CLIENT_ID_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ' || (unsigned char)s[i] < 0x20)
            return false;
    return true;
}

/* 0, or MESSAGE_ILLEGAL with the reason in remark. */
static int check_request(const Rill__LockBatchRequest *r, char *remark, size_t rcap)
{
    if (!name_ok(r->consumer_group, BROKER_GROUP_BYTES_MAX)) {
        snprintf(remark, rcap, "illegal consumer group '%.64s': must match ^[%%|a-zA-Z0-9_-]+$",
                 r->consumer_group);
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    if (!client_id_ok(r->client_id)) {
        snprintf(remark, rcap, "a lock request needs a client_id of 1 to %d bytes without spaces",
                 BROKER_CLIENT_ID_BYTES_MAX);
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    if (r->n_queues > BROKER_LOCK_BATCH_MAX) {
        snprintf(remark, rcap, "%zu queues in one request: at most %d", r->n_queues,
                 BROKER_LOCK_BATCH_MAX);
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    for (size_t i = 0; i < r->n_queues; i++) {
        const Rill__LockQueue *q = r->queues[i];
        if (!name_ok(q->topic, BROKER_TOPIC_BYTES_MAX) || q->queue_id < 0 ||
            q->queue_id >= BROKER_QUEUE_NUMS_MAX) {
            snprintf(remark, rcap, "illegal queue '%.64s'#%d", q->topic, (int)q->queue_id);
            return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
        }
    }
    return 0;
}

/* ---- handlers ---- */

static void handle_lock(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    queue_locks_t *l = arg;
    if (msg->body_case != RILL__REQUEST__BODY_LOCK_BATCH) {
        broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                          "request needs a lock_batch body");
        return;
    }
    const Rill__LockBatchRequest *r = msg->lock_batch;
    char remark[RPC_REMARK_BYTES_MAX];
    int code = check_request(r, remark, sizeof(remark));
    if (code != 0) {
        rpc_reply_code(req, code, remark);
        return;
    }
    /* the answer borrows the request's LockQueue messages */
    Rill__LockQueue **locked = NULL;
    if (r->n_queues > 0 && (locked = malloc(r->n_queues * sizeof(*locked))) == NULL) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        return;
    }
    size_t n_locked = 0;
    uint32_t pipe_id = rpc_request_pipe_id(req);
    uint64_t now = rill_mono_ms();

    pthread_mutex_lock(&l->lock);
    size_t missing = 0;
    for (size_t i = 0; i < r->n_queues; i++) {
        bool found;
        (void)lock_pos(l, r->consumer_group, r->queues[i]->topic, r->queues[i]->queue_id, &found);
        missing += !found;
    }
    /* a queue named twice is counted twice: harmless, the bound is loose */
    int rc = reserve(l, missing, now);
    for (size_t i = 0; rc == 0 && i < r->n_queues; i++) {
        const Rill__LockQueue *q = r->queues[i];
        bool found;
        size_t at = lock_pos(l, r->consumer_group, q->topic, q->queue_id, &found);
        qlock_t *e = found ? l->locks[at] : NULL;
        if (!found) {
            assert(l->n < l->cap);
            if ((e = calloc(1, sizeof(*e))) == NULL) {
                rc = ENOMEM;
                break;
            }
            memmove(&l->locks[at + 1], &l->locks[at], (l->n - at) * sizeof(*l->locks));
            l->locks[at] = e;
            l->n++;
            strcpy(e->group, r->consumer_group);
            strcpy(e->topic, q->topic);
            e->queue_id = q->queue_id;
        } else if (strcmp(e->client_id, r->client_id) != 0) {
            if (e->expire_ms > now)
                continue; /* another client holds it */
            LOG_INFO(LOG_MOD, "%s: %s#%d taken over by %s, lease of %s expired", e->group, e->topic,
                     (int)e->queue_id, r->client_id, e->client_id);
        }
        strcpy(e->client_id, r->client_id);
        e->pipe_id = pipe_id;
        e->expire_ms = now + l->lease_ms;
        locked[n_locked++] = (Rill__LockQueue *)q;
    }
    pthread_mutex_unlock(&l->lock);

    if (rc != 0) {
        free(locked);
        if (rc == RILL_EBUSY)
            broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY,
                              "queue lock table full: at most %d locks", BROKER_QUEUE_LOCKS_MAX);
        else
            broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "lock: %s", rill_strerror(rc));
        return;
    }
    Rill__LockBatchResponse body = RILL__LOCK_BATCH_RESPONSE__INIT;
    body.n_locked = n_locked;
    body.locked = locked;
    Rill__Response resp = RILL__RESPONSE__INIT;
    resp.code = RILL__RESPONSE_CODE__SUCCESS;
    resp.body_case = RILL__RESPONSE__BODY_LOCK_BATCH;
    resp.lock_batch = &body;
    rpc_reply(req, &resp);
    free(locked);
}

static void handle_unlock(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    queue_locks_t *l = arg;
    if (msg->body_case != RILL__REQUEST__BODY_UNLOCK_BATCH) {
        broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                          "request needs an unlock_batch body");
        return;
    }
    const Rill__LockBatchRequest *r = msg->unlock_batch;
    char remark[RPC_REMARK_BYTES_MAX];
    int code = check_request(r, remark, sizeof(remark));
    if (code != 0) {
        rpc_reply_code(req, code, remark);
        return;
    }
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < r->n_queues; i++) {
        bool found;
        size_t at =
            lock_pos(l, r->consumer_group, r->queues[i]->topic, r->queues[i]->queue_id, &found);
        if (found && strcmp(l->locks[at]->client_id, r->client_id) == 0) {
            free(l->locks[at]);
            memmove(&l->locks[at], &l->locks[at + 1], (l->n - at - 1) * sizeof(*l->locks));
            l->n--;
        }
    }
    pthread_mutex_unlock(&l->lock);
    /* Idempotent: unlocking what one does not hold changes nothing. */
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS, NULL);
}

/* ---- releases from consumers.c ---- */

void queue_locks_pipe_closed(queue_locks_t *l, uint32_t pipe_id)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    size_t n = remove_if(l, on_pipe, &pipe_id);
    pthread_mutex_unlock(&l->lock);
    if (n > 0)
        LOG_INFO(LOG_MOD, "released %zu queue locks: connection closed", n);
}

void queue_locks_release_client(queue_locks_t *l, const char *group, const char *client_id)
{
    if (l == NULL)
        return;
    holder_t h = {group, client_id};
    pthread_mutex_lock(&l->lock);
    size_t n = remove_if(l, held_by, &h);
    pthread_mutex_unlock(&l->lock);
    if (n > 0)
        LOG_INFO(LOG_MOD, "released %zu queue locks of %s in %s: unregistered", n, client_id,
                 group);
}

/* ---- lifecycle ---- */

int queue_locks_open(queue_locks_t **out, uint64_t lease_ms)
{
    if (lease_ms == 0)
        return RILL_EINVAL;
    queue_locks_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return ENOMEM;
    int rc = pthread_mutex_init(&l->lock, NULL);
    if (rc != 0) {
        free(l);
        return rc;
    }
    l->lease_ms = lease_ms;
    *out = l;
    return 0;
}

int queue_locks_register(broker_t *b)
{
    int rc =
        rpc_server_set_handler(b->rpc, RILL__REQUEST_CODE__LOCK_BATCH_MQ, handle_lock, b->locks);
    if (rc == 0)
        rc = rpc_server_set_handler(b->rpc, RILL__REQUEST_CODE__UNLOCK_BATCH_MQ, handle_unlock,
                                    b->locks);
    return rc;
}

void queue_locks_close(queue_locks_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->locks[i]);
    free(l->locks);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
