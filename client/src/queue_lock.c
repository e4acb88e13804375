/*
 * queue_lock.c - the client side of the broker's queue locks: one
 * LOCK_BATCH_MQ or UNLOCK_BATCH_MQ per broker set, sent to the set's master
 * (locks live on masters only: a slave answers pulls but never locks).
 * The client id is the consumer's client.id, the one its heartbeats carry,
 * so UNREGISTER_CLIENT and the close of its connection release its locks on
 * the broker as well.
 */
#include "client/src/queue_lock.h"

#include "common/errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The master address of the set `broker_name` of topic's route. */
static int master_addr(rc_client_t *cli, const rill_queue_t *q, char addr[RC_ADDR_BYTES])
{
    rc_route_t *r = NULL;
    int rc = rc_route_get(cli, q->topic, false, &r);
    if (rc != 0)
        return rc;
    const rc_broker_set_t *s = rc_route_set(r, q->broker_name);
    const char *a = s ? rc_set_addr(s, 0) : NULL;
    if (a)
        snprintf(addr, RC_ADDR_BYTES, "%s", a);
    rc_route_release(r);
    if (!a)
        return rc_fail(RILL_ENOROUTE, "no master address for broker %s of topic \"%s\"",
                       q->broker_name, q->topic);
    return 0;
}

static int lock_call(rc_client_t *cli, bool lock, const char *group, const rill_queue_t *queues,
                     size_t n, bool *locked)
{
    if (n == 0)
        return 0;
    if (n > QL_BATCH_MAX)
        return rc_fail(RILL_EINVAL, "%zu queues in one lock request: at most %d", n, QL_BATCH_MAX);
    for (size_t i = 1; i < n; i++)
        if (strcmp(queues[i].broker_name, queues[0].broker_name) != 0)
            return rc_fail(RILL_EINVAL, "one lock request per broker set");
    char addr[RC_ADDR_BYTES];
    int rc = master_addr(cli, &queues[0], addr);
    if (rc != 0)
        return rc;
    Rill__LockQueue *qs = calloc(n, sizeof *qs);
    Rill__LockQueue **qp = calloc(n, sizeof *qp);
    Rill__Response *resp = NULL;
    if (!qs || !qp) {
        rc = rc_fail(ENOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rill__lock_queue__init(&qs[i]);
        qs[i].topic = (char *)queues[i].topic;
        qs[i].queue_id = queues[i].queue_id;
        qp[i] = &qs[i];
    }
    Rill__LockBatchRequest body = RILL__LOCK_BATCH_REQUEST__INIT;
    body.consumer_group = (char *)group;
    body.client_id = rc_client_conf(cli)->client_id;
    body.n_queues = n;
    body.queues = qp;
    Rill__Request req = RILL__REQUEST__INIT;
    if (lock) {
        req.code = RILL__REQUEST_CODE__LOCK_BATCH_MQ;
        req.body_case = RILL__REQUEST__BODY_LOCK_BATCH;
        req.lock_batch = &body;
    } else {
        req.code = RILL__REQUEST_CODE__UNLOCK_BATCH_MQ;
        req.body_case = RILL__REQUEST__BODY_UNLOCK_BATCH;
        req.unlock_batch = &body;
    }
    rc = rc_broker_call(cli, addr, &req, 0, &resp);
    if (rc != 0)
        goto out;
    rc = rc_response_error(resp, addr);
    if (rc != 0 || !lock)
        goto out;
    if (resp->body_case != RILL__RESPONSE__BODY_LOCK_BATCH) {
        rc = rc_fail(RILL_EBROKER, "lock reply from %s without a body", addr);
        goto out;
    }
    memset(locked, 0, n * sizeof *locked);
    for (size_t k = 0; k < resp->lock_batch->n_locked; k++) {
        const Rill__LockQueue *l = resp->lock_batch->locked[k];
        for (size_t i = 0; i < n; i++)
            if (l->queue_id == queues[i].queue_id && strcmp(l->topic, queues[i].topic) == 0)
                locked[i] = true;
    }
out:
    rpc_response_free(resp);
    free(qp);
    free(qs);
    return rc;
}

int ql_lock(rc_client_t *cli, const char *group, const rill_queue_t *queues, size_t n, bool *locked)
{
    return lock_call(cli, true, group, queues, n, locked);
}

int ql_unlock(rc_client_t *cli, const char *group, const rill_queue_t *queues, size_t n)
{
    return lock_call(cli, false, group, queues, n, NULL);
}
