/*
 * admin_groups.c - consumer groups: their configs (create, delete, list),
 * their progress (committed offset and lag per queue) and resetting their
 * offsets to a point in time.
 *
 * Offsets live on each broker set's master, per (group, topic, queue).
 * Progress asks every set involved (GET_CONSUME_STATS) and merges; a reset
 * asks each queue's read address for the offset of a time, then commits it
 * on the master, queue by queue.
 */
#include "client/src/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rill_group_config_init(rill_group_config_t *gc, const char *name)
{
    memset(gc, 0, sizeof(*gc));
    if (name)
        snprintf(gc->name, sizeof(gc->name), "%s", name);
    gc->consume_enable = true;
    gc->consume_broadcast_enable = true;
    gc->retry_queue_nums = 1;
    gc->retry_max_times = 16;
}

static int check_group_name(const char *group)
{
    if (group == NULL || !adm_name_ok(group, RC_GROUP_BYTES_MAX))
        return rc_fail(RILL_EINVAL,
                       "illegal group name \"%.64s\": must match ^[%%|a-zA-Z0-9_-]+$ and have "
                       "at most %d bytes",
                       group ? group : "(null)", RC_GROUP_BYTES_MAX);
    return 0;
}

int rill_admin_group_create(rill_admin_t *a, const char *cluster, const char *broker_addr,
                            const rill_group_config_t *gc)
{
    if (a == NULL || gc == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_group_create: NULL argument");
    int rc = check_group_name(gc->name);
    if (rc != 0)
        return rc;
    if (gc->retry_queue_nums < 0 || gc->retry_max_times < 0)
        return rc_fail(RILL_EINVAL, "retry_queue_nums and retry_max_times must not be negative");
    Rill__SubscriptionGroupConfig cfg = RILL__SUBSCRIPTION_GROUP_CONFIG__INIT;
    cfg.group_name = (char *)gc->name;
    cfg.consume_enable = gc->consume_enable;
    cfg.consume_broadcast_enable = gc->consume_broadcast_enable;
    cfg.retry_queue_nums = gc->retry_queue_nums;
    cfg.retry_max_times = gc->retry_max_times;
    Rill__UpdateGroupRequest body = RILL__UPDATE_GROUP_REQUEST__INIT;
    body.group = &cfg;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__UPDATE_AND_CREATE_SUBSCRIPTIONGROUP);
    req.body_case = RILL__REQUEST__BODY_UPDATE_GROUP;
    req.update_group = &body;
    return adm_call_create_targets(a, cluster, broker_addr, &req);
}

int rill_admin_group_delete(rill_admin_t *a, const char *group, const char *cluster)
{
    if (a == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_group_delete: NULL handle");
    int rc = check_group_name(group);
    if (rc != 0)
        return rc;
    adm_targets_t *t = malloc(sizeof(*t));
    if (t == NULL)
        return rc_fail(ENOMEM, "out of memory");
    rc = adm_cluster_masters(a, cluster && cluster[0] ? cluster : NULL, t);
    Rill__DeleteGroupRequest body = RILL__DELETE_GROUP_REQUEST__INIT;
    body.group_name = (char *)group;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__DELETE_SUBSCRIPTIONGROUP);
    req.body_case = RILL__REQUEST__BODY_DELETE_GROUP;
    req.delete_group = &body;
    size_t deleted = 0;
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        rc = adm_broker_call(a, t->addr[i], &req, 0, NULL);
        if (rc == 0)
            deleted++;
        else if (rc == RILL_ENOTFOUND) /* SUBSCRIPTION_GROUP_NOT_EXIST: not on this one */
            rc = 0;
    }
    if (rc == 0 && deleted == 0)
        rc =
            rc_fail(RILL_ENOTFOUND, "group \"%s\" not found (SUBSCRIPTION_GROUP_NOT_EXIST)", group);
    free(t);
    return rc;
}

static int cmp_group(const void *x, const void *y)
{
    return strcmp(((const rill_group_config_t *)x)->name, ((const rill_group_config_t *)y)->name);
}

int rill_admin_group_list(rill_admin_t *a, const char *cluster, rill_group_config_t **out,
                          size_t *n)
{
    if (a == NULL || out == NULL || n == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_group_list: NULL argument");
    adm_targets_t *t = malloc(sizeof(*t));
    if (t == NULL)
        return rc_fail(ENOMEM, "out of memory");
    int rc = adm_cluster_masters(a, cluster && cluster[0] ? cluster : NULL, t);
    rill_group_config_t *v = NULL;
    size_t nv = 0, cap = 0;
    Rill__GetGroupListRequest body = RILL__GET_GROUP_LIST_REQUEST__INIT;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__GET_ALL_SUBSCRIPTIONGROUP_CONFIG);
    req.body_case = RILL__REQUEST__BODY_GET_GROUP_LIST;
    req.get_group_list = &body;
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        Rill__Response *resp = NULL;
        rc = adm_broker_call(a, t->addr[i], &req, RILL__RESPONSE__BODY_GROUP_LIST, &resp);
        if (rc != 0)
            break;
        const Rill__GroupListResponse *gl = resp->group_list;
        for (size_t j = 0; j < gl->n_groups; j++) {
            const Rill__SubscriptionGroupConfig *g = gl->groups[j];
            bool seen = false; /* the same group on several masters is listed once */
            for (size_t k = 0; k < nv && !seen; k++)
                seen = strcmp(v[k].name, g->group_name) == 0;
            if (seen)
                continue;
            if (nv == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                void *p = realloc(v, ncap * sizeof(*v));
                if (p == NULL) {
                    rc = rc_fail(ENOMEM, "out of memory");
                    break;
                }
                v = p;
                cap = ncap;
            }
            rill_group_config_t *e = &v[nv++];
            memset(e, 0, sizeof(*e));
            snprintf(e->name, sizeof(e->name), "%s", g->group_name);
            e->consume_enable = g->consume_enable;
            e->consume_broadcast_enable = g->consume_broadcast_enable;
            e->retry_queue_nums = g->retry_queue_nums;
            e->retry_max_times = g->retry_max_times;
        }
        rpc_response_free(resp);
    }
    free(t);
    if (rc != 0) {
        free(v);
        return rc;
    }
    if (v == NULL && (v = calloc(1, sizeof(*v))) == NULL)
        return rc_fail(ENOMEM, "out of memory");
    qsort(v, nv, sizeof(*v), cmp_group);
    *out = v;
    *n = nv;
    return 0;
}

/* ---- consumer progress ---- */

typedef struct progress_acc {
    rill_queue_progress_t *v;
    size_t n, cap;
} progress_acc_t;

static rill_queue_progress_t *acc_push(progress_acc_t *acc)
{
    if (acc->n == acc->cap) {
        size_t cap = acc->cap ? acc->cap * 2 : 32;
        void *p = realloc(acc->v, cap * sizeof(*acc->v));
        if (p == NULL)
            return NULL;
        acc->v = p;
        acc->cap = cap;
    }
    rill_queue_progress_t *e = &acc->v[acc->n++];
    memset(e, 0, sizeof(*e));
    return e;
}

static bool acc_has(const progress_acc_t *acc, const char *topic, const char *broker, int32_t q)
{
    for (size_t i = 0; i < acc->n; i++)
        if (acc->v[i].queue.queue_id == q && strcmp(acc->v[i].queue.broker_name, broker) == 0 &&
            strcmp(acc->v[i].queue.topic, topic) == 0)
            return true;
    return false;
}

/* GET_CONSUME_STATS at addr; appends what it lists. A group unknown there adds nothing. */
static int progress_from(rill_admin_t *a, const char *addr, const char *group, const char *topic,
                         progress_acc_t *acc)
{
    Rill__ConsumerProgressRequest body = RILL__CONSUMER_PROGRESS_REQUEST__INIT;
    body.consumer_group = (char *)group;
    body.topic = (char *)(topic ? topic : "");
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__GET_CONSUME_STATS);
    req.body_case = RILL__REQUEST__BODY_CONSUMER_PROGRESS;
    req.consumer_progress = &body;
    Rill__Response *resp = NULL;
    int rc = adm_broker_call(a, addr, &req, RILL__RESPONSE__BODY_CONSUMER_PROGRESS, &resp);
    if (rc == RILL_ENOTFOUND) /* SUBSCRIPTION_GROUP_NOT_EXIST on this broker */
        return 0;
    if (rc != 0)
        return rc;
    const Rill__ConsumerProgressResponse *cp = resp->consumer_progress;
    for (size_t i = 0; i < cp->n_queues; i++) {
        const Rill__QueueProgress *q = cp->queues[i];
        if (acc_has(acc, q->topic, q->broker_name, q->queue_id))
            continue; /* a set reached twice (master and slave addresses) */
        rill_queue_progress_t *e = acc_push(acc);
        if (e == NULL) {
            rpc_response_free(resp);
            return rc_fail(ENOMEM, "out of memory");
        }
        snprintf(e->queue.topic, sizeof(e->queue.topic), "%s", q->topic);
        snprintf(e->queue.broker_name, sizeof(e->queue.broker_name), "%s", q->broker_name);
        e->queue.queue_id = q->queue_id;
        e->broker_offset = q->broker_offset;
        e->consumer_offset = q->consumer_offset;
        e->lag = q->lag;
        e->last_timestamp = q->last_timestamp_ms;
    }
    rpc_response_free(resp);
    return 0;
}

/*
 * With a topic, every queue of its route is listed: the ones the group
 * never committed get consumer_offset -1 and lag max - min (what a new
 * member starting at FIRST_OFFSET would have to read).
 */
static int progress_uncommitted(rill_admin_t *a, const rc_route_t *r, const char *addr,
                                const rc_broker_set_t *s, progress_acc_t *acc)
{
    for (int32_t q = 0; q < s->read_queue_nums; q++) {
        if (acc_has(acc, r->topic, s->name, q))
            continue;
        Rill__QueueRequest body = RILL__QUEUE_REQUEST__INIT;
        body.topic = (char *)r->topic;
        body.queue_id = q;
        Rill__Request req;
        adm_request_init(&req, RILL__REQUEST_CODE__GET_QUEUE_STATS);
        req.body_case = RILL__REQUEST__BODY_QUEUE;
        req.queue = &body;
        Rill__Response *resp = NULL;
        int rc = adm_broker_call(a, addr, &req, RILL__RESPONSE__BODY_QUEUE_STATS, &resp);
        if (rc != 0)
            return rc;
        rill_queue_progress_t *e = acc_push(acc);
        if (e == NULL) {
            rpc_response_free(resp);
            return rc_fail(ENOMEM, "out of memory");
        }
        snprintf(e->queue.topic, sizeof(e->queue.topic), "%s", r->topic);
        snprintf(e->queue.broker_name, sizeof(e->queue.broker_name), "%s", s->name);
        e->queue.queue_id = q;
        e->broker_offset = resp->queue_stats->max_offset;
        e->consumer_offset = -1;
        e->lag = resp->queue_stats->max_offset - resp->queue_stats->min_offset;
        rpc_response_free(resp);
    }
    return 0;
}

static int cmp_progress(const void *x, const void *y)
{
    const rill_queue_progress_t *a = x, *b = y;
    int c = strcmp(a->queue.topic, b->queue.topic);
    if (c == 0)
        c = strcmp(a->queue.broker_name, b->queue.broker_name);
    if (c == 0)
        c = (a->queue.queue_id > b->queue.queue_id) - (a->queue.queue_id < b->queue.queue_id);
    return c;
}

int rill_admin_consumer_progress(rill_admin_t *a, const char *group, const char *topic,
                                 rill_consumer_progress_t *out)
{
    if (a == NULL || out == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_consumer_progress: NULL argument");
    int rc = check_group_name(group);
    if (rc != 0)
        return rc;
    progress_acc_t acc = {NULL, 0, 0};
    size_t committed = 0;
    if (topic && topic[0]) {
        rc_route_t *r = NULL;
        rc = adm_route(a, topic, &r);
        if (rc != 0)
            return rc;
        for (size_t i = 0; rc == 0 && i < r->n_sets; i++) {
            const char *addr = NULL;
            rc = adm_read_addr(a, &r->sets[i], &addr);
            if (rc == 0)
                rc = progress_from(a, addr, group, topic, &acc);
        }
        committed = acc.n;
        for (size_t i = 0; rc == 0 && committed > 0 && i < r->n_sets; i++) {
            const char *addr = NULL;
            rc = adm_read_addr(a, &r->sets[i], &addr);
            if (rc == 0)
                rc = progress_uncommitted(a, r, addr, &r->sets[i], &acc);
        }
        rc_route_release(r);
    } else {
        adm_targets_t *t = malloc(sizeof(*t));
        if (t == NULL)
            return rc_fail(ENOMEM, "out of memory");
        rc = adm_cluster_masters(a, NULL, t);
        for (size_t i = 0; rc == 0 && i < t->n; i++)
            rc = progress_from(a, t->addr[i], group, NULL, &acc);
        committed = acc.n;
        free(t);
    }
    if (rc == 0 && committed == 0)
        rc = rc_fail(RILL_ENOTFOUND, "group \"%s\" has committed no offset%s%s%s", group,
                     topic && topic[0] ? " on topic \"" : "", topic && topic[0] ? topic : "",
                     topic && topic[0] ? "\"" : "");
    if (rc != 0) {
        free(acc.v);
        return rc;
    }
    qsort(acc.v, acc.n, sizeof(*acc.v), cmp_progress);
    rill_consumer_progress_t p = {acc.n, acc.v, 0};
    for (size_t i = 0; i < acc.n; i++)
        p.total_lag += acc.v[i].lag;
    *out = p;
    return 0;
}

void rill_consumer_progress_free(rill_consumer_progress_t *p)
{
    if (p == NULL)
        return;
    free(p->queues);
    p->queues = NULL;
    p->n = 0;
    p->total_lag = 0;
}

/* ---- reset offset ---- */

int rill_admin_reset_offset(rill_admin_t *a, const char *group, const char *topic, int64_t ts_ms,
                            size_t *n_queues)
{
    if (a == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_reset_offset: NULL handle");
    int rc = check_group_name(group);
    if (rc != 0)
        return rc;
    if (ts_ms < 0)
        return rc_fail(RILL_EINVAL, "negative timestamp %lld", (long long)ts_ms);
    rc_route_t *r = NULL;
    rc = adm_route(a, topic, &r);
    if (rc != 0)
        return rc;
    size_t done = 0;
    for (size_t i = 0; rc == 0 && i < r->n_sets; i++) {
        const rc_broker_set_t *s = &r->sets[i];
        const char *raddr = NULL, *maddr = NULL;
        rc = adm_read_addr(a, s, &raddr);
        if (rc == 0)
            rc = adm_master_addr(s, &maddr);
        for (int32_t q = 0; rc == 0 && q < s->read_queue_nums; q++) {
            Rill__SearchOffsetByTimestampRequest sb =
                RILL__SEARCH_OFFSET_BY_TIMESTAMP_REQUEST__INIT;
            sb.topic = (char *)topic;
            sb.queue_id = q;
            sb.timestamp_ms = ts_ms;
            Rill__Request req;
            adm_request_init(&req, RILL__REQUEST_CODE__SEARCH_OFFSET_BY_TIMESTAMP);
            req.body_case = RILL__REQUEST__BODY_SEARCH_OFFSET_BY_TIMESTAMP;
            req.search_offset_by_timestamp = &sb;
            Rill__Response *resp = NULL;
            rc = adm_broker_call(a, raddr, &req, RILL__RESPONSE__BODY_OFFSET, &resp);
            if (rc != 0)
                break;
            int64_t off = resp->offset->offset;
            rpc_response_free(resp);
            Rill__UpdateConsumerOffsetRequest ub = RILL__UPDATE_CONSUMER_OFFSET_REQUEST__INIT;
            ub.consumer_group = (char *)group;
            ub.topic = (char *)topic;
            ub.queue_id = q;
            ub.commit_offset = off;
            adm_request_init(&req, RILL__REQUEST_CODE__UPDATE_CONSUMER_OFFSET);
            req.body_case = RILL__REQUEST__BODY_UPDATE_CONSUMER_OFFSET;
            req.update_consumer_offset = &ub;
            rc = adm_broker_call(a, maddr, &req, 0, NULL);
            if (rc == 0)
                done++;
        }
    }
    rc_route_release(r);
    if (rc != 0)
        return rc;
    if (n_queues)
        *n_queues = done;
    return 0;
}
