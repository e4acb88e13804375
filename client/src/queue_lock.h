/*
 * queue_lock.h - LOCK_BATCH_MQ / UNLOCK_BATCH_MQ from the client side: the
 * broker-side queue locks an orderly push consumer holds on the queues it
 * consumes (internal; push_consumer.c uses it, broker/queue_lock.c serves it).
 */
#ifndef RILL_CLIENT_QUEUE_LOCK_H
#define RILL_CLIENT_QUEUE_LOCK_H

#include "client/src/core.h"

#include <stdbool.h>
#include <stddef.h>

#define QL_BATCH_MAX 4096 /* = the broker's BROKER_LOCK_BATCH_MAX: queues per request */

/**
 * Lock (or renew) queues for group/client_id on the master of their broker
 * set. Every queue must name the same broker set; at most QL_BATCH_MAX.
 * @param[out] locked  locked[i] is set when the broker answered queues[i]
 *                     held by this client; written only on success.
 * @return 0; RILL_EINVAL (mixed sets, too many); RILL_ENOROUTE (no master
 *         address); the errors of rc_route_get(), rc_broker_call() and
 *         rc_response_error(). rc_fail'd.
 * @remark Synchronous; not from an rpc completion.
 */
int ql_lock(rc_client_t *cli, const char *group, const rill_queue_t *queues, size_t n,
            bool *locked);

/** Release those of these queues the client holds; same rules as ql_lock(). */
int ql_unlock(rc_client_t *cli, const char *group, const rill_queue_t *queues, size_t n);

#endif
