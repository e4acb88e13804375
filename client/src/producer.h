/*
 * producer.h - the producer's insides, shared by producer.c (lifecycle,
 * heartbeats, queue choice, fault memory), producer_send.c (sync, select,
 * async, oneway) and producer_batch.c. Internal: not installed.
 *
 * The one idea: every send is a loop of attempts. An attempt picks a
 * (broker set, queue) from the topic's route, sends to the set's master and
 * judges the answer with pr_judge(): done, retry (preferring another set),
 * or fail. Sync sends run the loop on the caller's thread; async sends run
 * it from rpc completions, one attempt per completion, with no thread hop.
 */
#ifndef RILL_CLIENT_PRODUCER_H
#define RILL_CLIENT_PRODUCER_H

#include "client/src/core.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/** Producer group when conf leaves "group" empty (RocketMQ's default). */
#define PR_DEFAULT_GROUP "DEFAULT_PRODUCER"
/** Broker sets remembered as failing at once (more are simply not remembered). */
#define PR_FAULT_SETS_MAX 64
/** How long a set that failed in transport is skipped while another set can take a send. */
#define PR_FAULT_MS 10000
/** Budget of one heartbeat call (capped by request.timeout.ms). */
#define PR_HEARTBEAT_TIMEOUT_MS 3000
/** Pauses of a caller waiting for a free call slot (doubling from min to max), microseconds. */
#define PR_SLOT_WAIT_MIN_US 50
#define PR_SLOT_WAIT_MAX_US 1000
/** Budget of the UNREGISTER_CLIENT calls of destroy (sent in parallel, best effort). */
#define PR_UNREGISTER_TIMEOUT_MS 1000

/** Topics with an open linger batch at once; sends to further topics go alone. */
#define PR_LINGER_TOPICS_MAX 64

typedef struct send_op send_op_t;
typedef struct pr_batch_op pr_batch_op_t;

/**
 * The linger accumulator (producer_linger.c): per topic, the open batch of
 * async sends waiting for batch.size, batch.bytes or linger.ms. `mtx`
 * guards the table; the "rill-linger" thread ships batches whose linger
 * time ran out; full batches ship on the thread of the send that filled them.
 */
typedef struct pr_linger {
    pthread_mutex_t mtx;
    pthread_cond_t wake; /* monotonic clock: a batch opened, or stop */
    pthread_t thread;
    bool started, stop;
    size_t n_open; /* slots with a batch */
    struct {
        pr_batch_op_t *open; /* NULL: slot free */
        size_t bytes;        /* body bytes in open */
        uint64_t ship_ms;    /* monotonic: when open leaves at the latest */
    } slots[PR_LINGER_TOPICS_MAX];
} pr_linger_t;

struct rill_producer {
    rill_conf_t *conf; /* owned */
    rc_client_t *cli;
    char group[RC_GROUP_BYTES_MAX + 1];
    int hb_task; /* heartbeat task id, or -1 */

    atomic_bool closing;      /* set by destroy: new sends get RILL_ECLOSED */
    atomic_uint next_queue;   /* round-robin position over a route's write queues */
    atomic_long inflight;     /* accepted async/oneway sends whose completion has not ended */
    atomic_long aux_inflight; /* heartbeat and unregister calls in flight */

    /* mtx + drained: waiting for inflight or aux_inflight to drop to 0.
     * Completions decrement without the lock and take it only to signal. */
    pthread_mutex_t mtx;
    pthread_cond_t drained; /* monotonic clock */

    /* Broker sets that failed in transport recently, by name. fault_mtx
     * guards the table; n_faults lets the common case (none) skip the lock. */
    pthread_mutex_t fault_mtx;
    atomic_int n_faults;
    struct {
        char name[64];
        uint64_t until_ms; /* monotonic */
    } faults[PR_FAULT_SETS_MAX];

    char (*hb_addrs)[RC_ADDR_BYTES]; /* RC_BROKERS_MAX; the timer thread's and destroy's scratch */
    pr_linger_t linger;              /* used when conf linger.ms > 0 */
};

/** Where one attempt goes: a queue and its set's master. */
typedef struct pr_target {
    rill_queue_t q;
    char addr[RC_ADDR_BYTES];
} pr_target_t;

/**
 * Pick the next queue round-robin over r's write queues whose set has a
 * master. Sets in the fault memory are skipped when another one can be used;
 * `avoid` (a set name, or NULL) is skipped too, and when `strict` it is never
 * used at all.
 * @return 0; RILL_ENOROUTE (rc_fail'd) when no queue qualifies.
 */
int pr_pick(rill_producer_t *p, const rc_route_t *r, const char *avoid, bool strict,
            pr_target_t *out);

/**
 * The route of topic for a send: the cached one, or when the NameServers
 * know none, a stand-in listing every master with queue id -1 so a broker
 * may auto-create the topic (producer_route.c).
 * @return 0 with *out held; the errors of rc_route_get().
 */
int pr_route(rill_producer_t *p, const char *topic, rc_route_t **out);

/** The queue (broker name, id) of r with its master: 0, or RILL_ENOROUTE (rc_fail'd). */
int pr_find(const rc_route_t *r, const rill_queue_t *q, pr_target_t *out);

/** Remember that a set failed in transport / forget it after a success. */
void pr_fault(rill_producer_t *p, const char *broker_name);
void pr_ok(rill_producer_t *p, const char *broker_name);

/**
 * Give msg a UNIQ_KEY property unless it has one; copy it to out.
 * @return 0 or ENOMEM.
 */
int pr_unique_key(rill_msg_t *msg, char out[RILL_MSGID_BYTES + 1]);

/** Transport failures an attempt may retry on (another set). */
bool pr_transport_retryable(int rc);

/** What to do after an answered attempt. */
enum pr_verdict {
    PR_DONE,  /* stored: *status says how */
    PR_RETRY, /* try again; *avoid_strict: never the same set; *refresh: re-read the route */
    PR_FAIL,  /* give up with *rc */
};

/**
 * Judge a Response to SEND_MESSAGE (batch false) or SEND_BATCH_MESSAGE.
 * Non-DONE outcomes are rc_fail'd with the broker's remark and addr.
 * `refreshed`: the route was already re-read after a TOPIC_NOT_EXIST.
 */
enum pr_verdict pr_judge(const Rill__Response *resp, const char *addr, bool batch, bool refreshed,
                         int *rc, rill_send_status_t *status, bool *avoid_strict, bool *refresh);

/** Fill res from a SendMessageResponse. */
void pr_fill_result(rill_send_result_t *res, const Rill__SendMessageResponse *b,
                    rill_send_status_t status, const char *broker_name, const char *unique_key);

/** The request envelope of one SEND_MESSAGE; everything borrowed. */
void pr_request_one(Rill__Request *req, Rill__SendMessageRequest *sm, rill_producer_t *p,
                    int32_t queue_id, Rill__Message *m);

/** Count an accepted async send / end one (signals flush when the count drops to 0). */
void pr_async_end(rill_producer_t *p);
/** Same for heartbeat and unregister calls. */
void pr_aux_end(rill_producer_t *p);

/** True while this thread runs a send callback (flush and destroy must not be called). */
bool pr_in_callback(void);
void pr_set_in_callback(bool on);

/** One send loop (sync): a message, or a batch of n messages of one topic. */
typedef struct pr_job {
    const char *topic;
    bool batch;
    Rill__Message *one;                 /* !batch */
    Rill__Message **many;               /* batch: n messages */
    size_t n;                           /* 1 for !batch */
    const rill_queue_t *fixed;          /* send_select: this queue, retries too; else NULL */
    rill_send_result_t *res;            /* n results, or NULL */
    char (*uniq)[RILL_MSGID_BYTES + 1]; /* n unique keys */
} pr_job_t;

/** Run the attempts of a job on this thread. @return as rill_producer_send(). */
int pr_send_sync(rill_producer_t *p, const pr_job_t *job);

/* ---- async sends (producer_send.c) and their batching (producer_linger.c) ---- */

/** One async send: its own copy of the message, encoded once. */
struct send_op {
    rill_producer_t *p;
    rc_route_t *route; /* held from the first attempt to the end */
    rill_send_cb cb;   /* NULL for oneway */
    void *opaque;
    int attempt, attempts;
    uint32_t timeout_ms;
    pr_target_t target;
    char uniq[RILL_MSGID_BYTES + 1];
    rill_msg_t shadow; /* pointers into flat[]; never rill_msg_destroy()'d */
    rc_wire_msg_t w;   /* encoded from shadow */
    alignas(max_align_t) unsigned char flat[];
};

/** A send_op holding a copy of msg (one allocation), encoded. 0, or the errors of
 * rc_wire_msg_init(). */
int pr_op_new(rill_producer_t *p, const rill_msg_t *msg, send_op_t **out);
void pr_op_free(send_op_t *op);
/** End op: its callback (res only when rc is 0), free it, count it done. */
void pr_op_complete(send_op_t *op, int rc, const rill_send_result_t *res);

uint32_t pr_send_timeout(const rill_producer_t *p);
/** 1 + send.retries. */
int pr_attempts(const rill_producer_t *p);
/** Mark addr down and rc_fail rc with a text naming addr; returns rc. */
int pr_transport_fail(rill_producer_t *p, const char *addr, uint32_t timeout_ms, int rc);

/**
 * rpc_client_call_async() to addr; with may_wait (a caller's thread, never
 * an nng one) waits for a free call slot up to timeout_ms.
 * @return 0 (cb will run) or an rc_fail'd code (cb never runs).
 */
int pr_call_async(rill_producer_t *p, const char *addr, const Rill__Request *req,
                  uint32_t timeout_ms, rpc_client_cb cb, void *arg, bool may_wait);

/** Result i of a stored batch. */
void pr_batch_result(rill_send_result_t *res, const Rill__SendBatchResponse *b, size_t i,
                     rill_send_status_t status, const char *broker_name, const char *unique_key);

/** Start the linger thread when linger.ms > 0. 0 or an errno. */
int pr_linger_start(rill_producer_t *p);
/**
 * Offer an accepted async send (route held, not started) to a batch.
 * @return true: the batch owns op now (its callback runs exactly once);
 *         false: linger is off or op cannot join one; send it alone.
 */
bool pr_linger_add(rill_producer_t *p, send_op_t *op);
/** Ship every open batch now (flush, destroy). Never from an nng thread. */
void pr_linger_drain(rill_producer_t *p);
/** End the linger thread, then ship what is open; later adds go alone (destroy). */
void pr_linger_stop(rill_producer_t *p);
/** Free what pr_linger_start() made; after the last send ended. */
void pr_linger_free(rill_producer_t *p);

#endif
