/*
 * offset_store.c - a consumer group's offsets: what the consumer recorded
 * per owned queue, and where the group stands on the brokers.
 *
 * CLUSTERING (RocketMQ's RemoteBrokerOffsetStore): the group's offset of a
 * queue lives on the queue's broker set; commits go to its master
 * (UPDATE_CONSUMER_OFFSET), falling back to the read address when the set
 * has no master address; QUERY_CONSUMER_OFFSET reads it back.
 * BROADCASTING (LocalFileOffsetStore): every member reads every queue, so
 * positions are the member's own, kept in a local JSON file (offset_file.c)
 * loaded at open and rewritten atomically on each commit.
 *
 * A commit sends only the queues whose recorded offset differs from the
 * last one committed. commit_lock makes commits one at a time (so two
 * writers never race on the file, and a queue is never committed backwards
 * by an older snapshot overtaking a newer one); g->lock is never held
 * across a remote call or a file write.
 */
#include "client/src/consumer_group_int.h"

#include "common/errors.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "consumer"

static int entry_qsort_cmp(const void *a, const void *b)
{
    return cg_queue_cmp(&((const of_entry_t *)a)->queue, &((const of_entry_t *)b)->queue);
}

int cg_offsets_open(cg_t *g)
{
    if (g->conf->message_model != RC_BROADCASTING)
        return 0;
    g->local = true;
    if (of_path(g->local_path, sizeof g->local_path, g->conf->offset_store_dir, g->conf->group,
                g->conf->client_id) != 0)
        return rc_fail(RILL_ECONFIG, "offset.store.dir \"%s\" is too long",
                       g->conf->offset_store_dir);
    int rc = of_load(g->local_path, &g->local_offs, &g->n_local);
    if (rc != 0)
        return rc_fail(rc, "cannot read offset file %s: %s", g->local_path, rill_strerror(rc));
    if (g->n_local > 1)
        qsort(g->local_offs, g->n_local, sizeof *g->local_offs, entry_qsort_cmp);
    return 0;
}

void cg_offsets_close(cg_t *g)
{
    free(g->local_offs);
    g->local_offs = NULL;
    g->n_local = 0;
}

/* ---- what the consumer records ---- */

int cg_offset_update(cg_t *g, const rill_queue_t *q, int64_t offset, bool increase_only)
{
    if (offset < 0)
        return RILL_EINVAL;
    pthread_mutex_lock(&g->lock);
    ssize_t i = cg_owned_find_locked(g, q);
    if (i >= 0 && (!increase_only || offset > g->owned[i].offset))
        g->owned[i].offset = offset;
    pthread_mutex_unlock(&g->lock);
    return i >= 0 ? 0 : RILL_ENOTFOUND;
}

int cg_offset_get(cg_t *g, const rill_queue_t *q, int64_t *offset)
{
    pthread_mutex_lock(&g->lock);
    ssize_t i = cg_owned_find_locked(g, q);
    if (i >= 0)
        *offset = g->owned[i].offset;
    pthread_mutex_unlock(&g->lock);
    return i >= 0 ? 0 : RILL_ENOTFOUND;
}

/* ---- broker calls about one queue ---- */

/* The address of q's set: its master (when master) else the read address. */
static int queue_addr(cg_t *g, const rill_queue_t *q, bool master, char addr[RC_ADDR_BYTES])
{
    rc_route_t *r = NULL;
    int rc = rc_route_get(g->cli, q->topic, false, &r);
    if (rc != 0)
        return rc;
    const rc_broker_set_t *s = rc_route_set(r, q->broker_name);
    if (!s) { /* the set may be new: read the route once more */
        rc_route_release(r);
        rc = rc_route_get(g->cli, q->topic, true, &r);
        if (rc != 0)
            return rc;
        s = rc_route_set(r, q->broker_name);
    }
    const char *a = NULL;
    if (s && master)
        a = rc_set_addr(s, 0);
    if (s && !a)
        a = rc_set_read_addr(g->cli, s);
    if (a)
        snprintf(addr, RC_ADDR_BYTES, "%s", a);
    rc_route_release(r);
    if (!a)
        return rc_fail(RILL_ENOROUTE, "no address for broker %s of topic \"%s\"", q->broker_name,
                       q->topic);
    return 0;
}

int cg_queue_read_addr(cg_t *g, const rill_queue_t *q, char addr[RC_ADDR_BYTES])
{
    return queue_addr(g, q, false, addr);
}

/* Make the call and take the offset from an OffsetResponse or QueryConsumerOffsetResponse. */
static int offset_call(cg_t *g, const char *addr, Rill__Request *req, int64_t *out)
{
    Rill__Response *resp = NULL;
    int rc = rc_broker_call(g->cli, addr, req, 0, &resp);
    if (rc != 0)
        return rc;
    rc = rc_response_error(resp, addr);
    if (rc == 0) {
        if (resp->body_case == RILL__RESPONSE__BODY_OFFSET)
            *out = resp->offset->offset;
        else if (resp->body_case == RILL__RESPONSE__BODY_QUERY_CONSUMER_OFFSET)
            *out = resp->query_consumer_offset->offset;
        else
            rc = rc_fail(RILL_ECORRUPT, "answer of %s has no offset", addr);
    }
    rpc_response_free(resp);
    return rc;
}

static int queue_request(cg_t *g, const rill_queue_t *q, int code, int64_t *offset)
{
    char addr[RC_ADDR_BYTES];
    int rc = queue_addr(g, q, false, addr);
    if (rc != 0)
        return rc;
    Rill__QueueRequest body = RILL__QUEUE_REQUEST__INIT;
    body.topic = (char *)q->topic;
    body.queue_id = q->queue_id;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = code;
    req.body_case = RILL__REQUEST__BODY_QUEUE;
    req.queue = &body;
    return offset_call(g, addr, &req, offset);
}

int cg_queue_min_offset(cg_t *g, const rill_queue_t *q, int64_t *offset)
{
    return queue_request(g, q, RILL__REQUEST_CODE__GET_MIN_OFFSET, offset);
}

int cg_queue_max_offset(cg_t *g, const rill_queue_t *q, int64_t *offset)
{
    return queue_request(g, q, RILL__REQUEST_CODE__GET_MAX_OFFSET, offset);
}

int cg_queue_offset_by_time(cg_t *g, const rill_queue_t *q, int64_t ts_ms, int64_t *offset)
{
    char addr[RC_ADDR_BYTES];
    int rc = queue_addr(g, q, false, addr);
    if (rc != 0)
        return rc;
    Rill__SearchOffsetByTimestampRequest body = RILL__SEARCH_OFFSET_BY_TIMESTAMP_REQUEST__INIT;
    body.topic = (char *)q->topic;
    body.queue_id = q->queue_id;
    body.timestamp_ms = ts_ms;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__SEARCH_OFFSET_BY_TIMESTAMP;
    req.body_case = RILL__REQUEST__BODY_SEARCH_OFFSET_BY_TIMESTAMP;
    req.search_offset_by_timestamp = &body;
    return offset_call(g, addr, &req, offset);
}

/* ---- the group's committed offsets ---- */

static of_entry_t *local_find_locked(cg_t *g, const rill_queue_t *q)
{
    of_entry_t key = {.queue = *q};
    if (g->n_local == 0)
        return NULL;
    return bsearch(&key, g->local_offs, g->n_local, sizeof key, entry_qsort_cmp);
}

int cg_offset_committed(cg_t *g, const rill_queue_t *q, int64_t *offset)
{
    if (g->local) {
        pthread_mutex_lock(&g->lock);
        of_entry_t *e = local_find_locked(g, q);
        if (e)
            *offset = e->offset;
        pthread_mutex_unlock(&g->lock);
        if (!e)
            return rc_fail(RILL_ENOTFOUND, "no offset of %s@%s#%d in %s", q->topic, q->broker_name,
                           q->queue_id, g->local_path);
        return 0;
    }
    char addr[RC_ADDR_BYTES];
    int rc = queue_addr(g, q, true, addr);
    if (rc != 0)
        return rc;
    Rill__QueryConsumerOffsetRequest body = RILL__QUERY_CONSUMER_OFFSET_REQUEST__INIT;
    body.consumer_group = g->conf->group;
    body.topic = (char *)q->topic;
    body.queue_id = q->queue_id;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__QUERY_CONSUMER_OFFSET;
    req.body_case = RILL__REQUEST__BODY_QUERY_CONSUMER_OFFSET;
    req.query_consumer_offset = &body;
    return offset_call(g, addr, &req, offset);
}

int cg_start_offset_ex(cg_t *g, const rill_queue_t *q, int64_t *offset, bool *committed)
{
    int64_t off = 0;
    int rc = cg_offset_committed(g, q, &off);
    if (rc == 0) {
        *offset = off;
        *committed = true;
        return 0;
    }
    if (rc != RILL_ENOTFOUND)
        return rc;
    switch (g->conf->consume_from) {
    case RC_FROM_FIRST:
        rc = cg_queue_min_offset(g, q, &off);
        break;
    case RC_FROM_TIMESTAMP:
        rc = cg_queue_offset_by_time(g, q, g->consume_ts_ms, &off);
        break;
    default:
        rc = cg_queue_max_offset(g, q, &off);
        break;
    }
    if (rc != 0)
        return rc;
    *offset = off;
    *committed = false;
    return 0;
}

int cg_start_offset(cg_t *g, const rill_queue_t *q, int64_t *offset)
{
    bool committed = false;
    return cg_start_offset_ex(g, q, offset, &committed);
}

/* ---- commits ---- */

static int commit_remote(cg_t *g, const of_entry_t *e)
{
    char addr[RC_ADDR_BYTES];
    int rc = queue_addr(g, &e->queue, true, addr);
    if (rc != 0)
        return rc;
    Rill__UpdateConsumerOffsetRequest body = RILL__UPDATE_CONSUMER_OFFSET_REQUEST__INIT;
    body.consumer_group = g->conf->group;
    body.topic = (char *)e->queue.topic;
    body.queue_id = e->queue.queue_id;
    body.commit_offset = e->offset;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UPDATE_CONSUMER_OFFSET;
    req.body_case = RILL__REQUEST__BODY_UPDATE_CONSUMER_OFFSET;
    req.update_consumer_offset = &body;
    Rill__Response *resp = NULL;
    rc = rc_broker_call(g->cli, addr, &req, 0, &resp);
    if (rc != 0)
        return rc;
    rc = rc_response_error(resp, addr);
    rpc_response_free(resp);
    return rc;
}

/* Put e into the sorted local table. Caller holds g->lock. */
static int local_set_locked(cg_t *g, const of_entry_t *e)
{
    of_entry_t *found = local_find_locked(g, &e->queue);
    if (found) {
        found->offset = e->offset;
        return 0;
    }
    if (g->n_local == OF_ENTRIES_MAX)
        return RILL_ETOOBIG;
    of_entry_t *t = realloc(g->local_offs, (g->n_local + 1) * sizeof *t);
    if (!t)
        return ENOMEM;
    g->local_offs = t;
    size_t i = 0;
    while (i < g->n_local && cg_queue_cmp(&t[i].queue, &e->queue) < 0)
        i++;
    memmove(&t[i + 1], &t[i], (g->n_local - i) * sizeof *t);
    t[i] = *e;
    g->n_local++;
    return 0;
}

static bool selected(const rill_queue_t *queues, size_t n, const rill_queue_t *q)
{
    if (!queues)
        return true;
    for (size_t i = 0; i < n; i++)
        if (cg_queue_cmp(&queues[i], q) == 0)
            return true;
    return false;
}

/* Note an offset as committed if the queue is still owned. */
static void mark_committed(cg_t *g, const of_entry_t *e)
{
    pthread_mutex_lock(&g->lock);
    ssize_t i = cg_owned_find_locked(g, &e->queue);
    if (i >= 0)
        g->owned[i].committed = e->offset;
    pthread_mutex_unlock(&g->lock);
}

int cg_commit_queues(cg_t *g, const rill_queue_t *queues, size_t n, bool forget)
{
    int first_err = 0;
    pthread_mutex_lock(&g->commit_lock);

    pthread_mutex_lock(&g->lock);
    of_entry_t *todo = malloc((g->n_owned ? g->n_owned : 1) * sizeof *todo);
    size_t n_todo = 0;
    if (todo)
        for (size_t i = 0; i < g->n_owned; i++) {
            const cg_owned_t *o = &g->owned[i];
            if (o->offset >= 0 && o->offset != o->committed && selected(queues, n, &o->queue))
                todo[n_todo++] = (of_entry_t){.queue = o->queue, .offset = o->offset};
        }
    pthread_mutex_unlock(&g->lock);
    if (!todo) {
        first_err = rc_fail(ENOMEM, NULL);
        goto forget;
    }

    if (g->local && n_todo > 0) {
        pthread_mutex_lock(&g->lock);
        int rc = 0;
        for (size_t i = 0; i < n_todo && rc == 0; i++)
            rc = local_set_locked(g, &todo[i]);
        size_t n_copy = g->n_local;
        of_entry_t *copy = malloc((n_copy ? n_copy : 1) * sizeof *copy);
        if (copy && n_copy > 0)
            memcpy(copy, g->local_offs, n_copy * sizeof *copy);
        pthread_mutex_unlock(&g->lock);
        if (rc == 0 && !copy)
            rc = ENOMEM;
        if (rc == 0)
            rc = of_save(g->local_path, g->conf->group, g->conf->client_id, copy, n_copy);
        free(copy);
        if (rc != 0)
            first_err =
                rc_fail(rc, "cannot write offset file %s: %s", g->local_path, rill_strerror(rc));
        else
            for (size_t i = 0; i < n_todo; i++)
                mark_committed(g, &todo[i]);
    } else {
        for (size_t i = 0; i < n_todo; i++) {
            int rc = commit_remote(g, &todo[i]);
            if (rc == 0)
                mark_committed(g, &todo[i]);
            else if (first_err == 0)
                first_err = rc;
        }
    }
    free(todo);
forget:
    if (forget && queues) {
        pthread_mutex_lock(&g->lock);
        for (size_t i = 0; i < n; i++)
            cg_owned_remove_locked(g, &queues[i]);
        pthread_mutex_unlock(&g->lock);
    }
    pthread_mutex_unlock(&g->commit_lock);
    return first_err;
}

int cg_commit(cg_t *g)
{
    return cg_commit_queues(g, NULL, 0, false);
}
