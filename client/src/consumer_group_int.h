/*
 * consumer_group_int.h - the inside of cg_t, shared by consumer_group.c
 * (membership, rebalance) and offset_store.c (offsets). Not for consumers:
 * they use consumer_group.h.
 */
#ifndef RILL_CLIENT_CONSUMER_GROUP_INT_H
#define RILL_CLIENT_CONSUMER_GROUP_INT_H

#include "client/src/consumer_group.h"
#include "client/src/offset_file.h"

#include <pthread.h>
#include <sys/types.h>

/* consume.from TIMESTAMP default: this long before the consumer was created */
#define CG_CONSUME_TIMESTAMP_BACK_MS (30 * 60 * 1000)
/* caps on request.timeout.ms for calls made by the background tasks */
#define CG_HEARTBEAT_TIMEOUT_MS_MAX  3000
#define CG_MEMBERS_TIMEOUT_MS_MAX    3000
#define CG_UNREGISTER_TIMEOUT_MS_MAX 1000

/* An owned queue and its offsets. */
typedef struct cg_owned {
    rill_queue_t queue;
    int64_t offset;    /* next offset to consume, recorded by the consumer */
    int64_t committed; /* last offset committed, -1 when none */
} cg_owned_t;

/* A broker address heartbeated, and the group generation it last reported. */
typedef struct cg_hb_addr {
    char addr[RC_ADDR_BYTES];
    uint64_t generation;
    bool known;
} cg_hb_addr_t;

struct cg {
    rc_client_t *cli;
    struct rill_conf *conf; /* the client's */
    cg_consume_type_t type;
    cg_callbacks_t cbs;
    void *opaque;
    int64_t consume_ts_ms; /* consume.from TIMESTAMP start */

    pthread_mutex_t apply_lock;  /* one assignment change at a time */
    pthread_mutex_t commit_lock; /* one commit at a time (local file writes) */
    pthread_mutex_t lock;        /* everything below */
    pthread_cond_t cond;         /* hb_inflight reached 0 */

    cg_sub_t *subs; /* sorted by topic; immutable once started */
    size_t n_subs;
    bool started, stopped;
    int hb_task, rb_task, commit_task; /* -1: none */
    int hb_inflight;                   /* heartbeat / unregister calls in flight */

    cg_owned_t *owned; /* sorted by cg_queue_cmp */
    size_t n_owned, cap_owned;

    cg_hb_addr_t hb[RC_BROKERS_MAX]; /* append-only */
    size_t n_hb;

    /* BROADCASTING: the local file and its committed offsets, sorted */
    bool local;
    char local_path[2048];
    of_entry_t *local_offs;
    size_t n_local;
};

/** Index of q in g->owned, or -1. Caller holds g->lock. */
ssize_t cg_owned_find_locked(cg_t *g, const rill_queue_t *q);
/** Drop q from g->owned if there. Caller holds g->lock. */
void cg_owned_remove_locked(cg_t *g, const rill_queue_t *q);

/** offset_store.c: load the local file (BROADCASTING). rc_fail'd. */
int cg_offsets_open(cg_t *g);
void cg_offsets_close(cg_t *g);

/**
 * Commit the recorded offsets of these owned queues (all when queues is
 * NULL) that changed; with forget, drop them from the owned table after.
 */
int cg_commit_queues(cg_t *g, const rill_queue_t *queues, size_t n, bool forget);

/** cg_start_offset() that also says whether the offset was a committed one. */
int cg_start_offset_ex(cg_t *g, const rill_queue_t *q, int64_t *offset, bool *committed);

/** UNREGISTER_CLIENT to every broker heartbeated; waits. */
void cg_unregister(cg_t *g);

#endif
