/*
 * consumer_group.h - what a consumer does as a member of a group, shared by
 * the push consumer and the pull (lite) consumer (internal, not installed):
 *
 *   subscriptions  topic -> expression ("*", "TagA || TagB"), parsed once
 *   heartbeat      a timer task: HEART_BEAT to every broker of the
 *                  subscribed topics; a new group generation kicks rebalance;
 *                  UNREGISTER_CLIENT to each of them on close
 *   rebalance      a timer task (rebalance.interval.ms and on kick): per
 *                  topic, the route's read queues and the group's members,
 *                  AllocateMessageQueueAveragely (CLUSTERING) or every queue
 *                  (BROADCASTING); the difference with the current
 *                  assignment goes to the consumer through two callbacks
 *   offset store   the position to commit per assigned queue; remote
 *                  (QUERY/UPDATE_CONSUMER_OFFSET on the set's master) for
 *                  CLUSTERING, a local JSON file for BROADCASTING; commits
 *                  what changed every auto.commit.interval.ms and all on close
 *
 * A queue's life: rebalance (or cg_set_assignment) decides the consumer owns
 * it, computes its start offset (the committed offset, else consume.from)
 * and calls queues_added; the consumer reports progress with
 * cg_offset_update(); when the queue goes away, queues_removed is called,
 * the consumer reports its last position in it (before returning), and the
 * group commits that position and forgets the queue.
 *
 * Threads: the callbacks run on the client's "rill-timer" thread (rebalance)
 * or on the thread calling cg_set_assignment(), one at a time and never
 * concurrently with each other, with no group lock held; they may call any
 * cg_* function except cg_stop/cg_close/cg_set_assignment, and must not
 * block for long (no waiting for pulls in flight). Everything else is
 * thread-safe.
 */
#ifndef RILL_CLIENT_CONSUMER_GROUP_H
#define RILL_CLIENT_CONSUMER_GROUP_H

#include "core.h"

#include "common/tags.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits ---- */
#define CG_SUBS_MAX    64   /* topics one consumer subscribes to */
#define CG_QUEUES_MAX  8192 /* queues one consumer may own at once */
#define CG_MEMBERS_MAX 4096 /* = the broker's members per group */

typedef struct cg cg_t;

/** One subscription. Immutable once the group is started. */
typedef struct cg_sub {
    char topic[RILL_TOPIC_BYTES_MAX + 1];
    char expression[RILL_TAG_EXPR_BYTES_MAX + 1]; /* normalised: "*" for match-all */
    rill_tag_filter_t filter;
} cg_sub_t;

/** A queue given to the consumer, and where to start reading it. */
typedef struct cg_queue_start {
    rill_queue_t queue;
    int64_t offset; /* the committed offset, else the consume.from position */
} cg_queue_start_t;

typedef enum cg_consume_type { CG_PUSH = 0, CG_PULL = 1 } cg_consume_type_t;

/** What the consumer implements; see the threads note above. */
typedef struct cg_callbacks {
    /** The consumer now owns these queues (n >= 1); start reading them. */
    void (*queues_added)(void *opaque, const cg_queue_start_t *queues, size_t n);
    /**
     * The consumer no longer owns these queues (n >= 1): stop reading them,
     * drop what is cached, and call cg_offset_update() with the last position
     * before returning; the group commits it right after. Updates for a queue
     * made after this returns are ignored.
     */
    void (*queues_removed)(void *opaque, const rill_queue_t *queues, size_t n);
} cg_callbacks_t;

/** Compare two queues by topic, broker name, queue id (qsort order). */
int cg_queue_cmp(const rill_queue_t *a, const rill_queue_t *b);

/* ---- lifecycle ---- */

/**
 * Create the group part of a consumer. conf->group must be set; conf is
 * borrowed (the client's) and outlives the group. BROADCASTING loads the
 * local offset file (offset.store.dir/<group>/<client.id>.json) here.
 * @param[in] cli    the consumer's client core.
 * @param[in] type   CG_PUSH or CG_PULL (sent in heartbeats).
 * @param[in] cbs    callbacks; copied.
 * @param[in] opaque passed to the callbacks.
 * @return 0; RILL_ECONFIG (no group; rc_fail'd); RILL_ECORRUPT (unreadable
 *         offset file); ENOMEM.
 */
int cg_open(cg_t **out, rc_client_t *cli, cg_consume_type_t type, const cg_callbacks_t *cbs,
            void *opaque);

/**
 * Add or replace a subscription (before cg_start).
 * @param[in] expression  NULL, "" or "*" for everything, or "TagA || TagB".
 * @return 0; RILL_EINVAL (bad topic or expression, CG_SUBS_MAX reached, or
 *         started); RILL_ETOOBIG (expression too long or too many tags).
 */
int cg_subscribe(cg_t *g, const char *topic, const char *expression);

/** Number of subscriptions. */
size_t cg_sub_count(cg_t *g);

/**
 * The subscription of a topic, or NULL. Valid until cg_close(); stable once
 * started (use it on any thread to re-check tags).
 */
const cg_sub_t *cg_sub_find(cg_t *g, const char *topic);

/**
 * Start the background tasks: heartbeat (heartbeat.interval.ms, first at
 * once), offset commit (auto.commit.interval.ms, when auto_commit), and
 * when rebalance is set the rebalance task (rebalance.interval.ms, first
 * at once; needs a subscription). Without rebalance the consumer sets its
 * queues with cg_set_assignment().
 * @return 0; RILL_EINVAL (started twice; rebalance without subscriptions);
 *         RILL_EBUSY (no timer slot).
 */
int cg_start(cg_t *g, bool rebalance, bool auto_commit);

/** Run a rebalance soon (no-op without the rebalance task). */
void cg_rebalance_kick(cg_t *g);

/** Run the offset commit task soon (commit_async); no-op without it. */
void cg_commit_kick(cg_t *g);

/**
 * Cancel every task: when this returns no callback runs and none will.
 * The assignment and offsets stay for cg_close(). Idempotent.
 * @remark Not from a callback or a timer task.
 */
void cg_stop(cg_t *g);

/**
 * Stop (if not yet), commit every offset that changed, send
 * UNREGISTER_CLIENT to every broker heartbeated, free. NULL ok. The
 * consumer must have stopped reading and made its last cg_offset_update()
 * calls before.
 */
void cg_close(cg_t *g);

/* ---- assignment ---- */

/**
 * Replace the assignment by exactly these queues (pull consumer's assign()):
 * removed ones go through queues_removed (and are committed), new ones get
 * their start offset and go through queues_added, on the calling thread.
 * A queue whose start offset cannot be read is not added: the call returns
 * that error after applying the rest.
 * @return 0; RILL_EINVAL (more than CG_QUEUES_MAX, or the rebalance task
 *         runs); the first start-offset error; ENOMEM.
 */
int cg_set_assignment(cg_t *g, const rill_queue_t *queues, size_t n);

/** As rill_push_consumer_assignment(): copies up to cap, *n = owned. Sorted. */
void cg_assignment(cg_t *g, rill_queue_t *out, size_t cap, size_t *n);

/** Is this queue currently owned? */
bool cg_owns(cg_t *g, const rill_queue_t *q);

/* ---- offsets ---- */

/**
 * Record the next offset to consume in an owned queue (to be committed).
 * @param[in] increase_only  ignore an offset below the one recorded (the
 *                           push consumer: completions race); false lets a
 *                           seek move it back.
 * @return 0; RILL_ENOTFOUND (queue not owned: ignored).
 */
int cg_offset_update(cg_t *g, const rill_queue_t *q, int64_t offset, bool increase_only);

/**
 * The offset recorded for an owned queue (what the next commit sends).
 * @return 0; RILL_ENOTFOUND.
 */
int cg_offset_get(cg_t *g, const rill_queue_t *q, int64_t *offset);

/**
 * Commit now, synchronously, every owned queue whose recorded offset differs
 * from the last one committed (UPDATE_CONSUMER_OFFSET to the set's master,
 * else its read address; BROADCASTING: rewrite the local file).
 * @return 0; the first error (the others are still tried).
 * @remark Not from an rpc completion.
 */
int cg_commit(cg_t *g);

/**
 * The group's committed offset of a queue, owned or not (remote:
 * QUERY_CONSUMER_OFFSET; BROADCASTING: the local file).
 * @return 0; RILL_ENOTFOUND (never committed); call errors.
 */
int cg_offset_committed(cg_t *g, const rill_queue_t *q, int64_t *offset);

/**
 * Where a queue starts for this group: the committed offset, else by
 * consume.from: LAST_OFFSET the queue's max offset, FIRST_OFFSET its min
 * offset, TIMESTAMP the first offset stored at/after consume.timestamp.ms.
 * @return 0; RILL_ENOROUTE (the topic's route has no such broker set);
 *         call errors.
 */
int cg_start_offset(cg_t *g, const rill_queue_t *q, int64_t *offset);

/**
 * Queue offsets from the broker set of q (its read address):
 * min / max (GET_MIN_OFFSET / GET_MAX_OFFSET) and the first offset stored
 * at/after ts_ms (SEARCH_OFFSET_BY_TIMESTAMP).
 * @return 0; RILL_ENOROUTE; RILL_ETOPIC; call errors.
 */
int cg_queue_min_offset(cg_t *g, const rill_queue_t *q, int64_t *offset);
int cg_queue_max_offset(cg_t *g, const rill_queue_t *q, int64_t *offset);
int cg_queue_offset_by_time(cg_t *g, const rill_queue_t *q, int64_t ts_ms, int64_t *offset);

/**
 * The address to read q from (rc_set_read_addr of its set), copied.
 * @return 0; RILL_ENOROUTE; the errors of rc_route_get().
 */
int cg_queue_read_addr(cg_t *g, const rill_queue_t *q, char addr[RC_ADDR_BYTES]);

/* ---- allocation (pure) ---- */

/**
 * RocketMQ's AllocateMessageQueueAveragely: member `index` of n_members
 * (sorted client ids) gets the contiguous range [*first, *first + *count)
 * of n_queues (sorted) queues. Queues spread evenly; the first
 * (n_queues mod n_members) members get one more; members at or beyond
 * n_queues get none (*count 0).
 * @remark n_members >= 1, index < n_members.
 */
void cg_allocate_averagely(size_t n_queues, size_t n_members, size_t index, size_t *first,
                           size_t *count);

#endif
