/*
 * consumer_group.c - a consumer's life as a member of its group:
 * subscriptions, heartbeats, rebalance and the assignment it produces
 * (offsets are in offset_store.c, the pure allocation in allocate.c).
 *
 * Design notes
 *  - Three timer tasks on the client's "rill-timer" thread: heartbeat,
 *    rebalance, commit. Tasks run one at a time, so a rebalance never
 *    overlaps another; apply_lock still serialises assignment changes because
 *    cg_set_assignment() runs them on a caller's thread.
 *  - Heartbeats are asynchronous (one call per broker address, all at once),
 *    so a dead broker costs the timer thread nothing; hb_inflight counts
 *    them and cg_stop() waits for it to reach 0. A completion that sees a
 *    new generation of the group kicks the rebalance task while holding
 *    g->lock, after checking `stopped`, so no kick reaches a cancelled task.
 *  - g->lock guards the owned table, the heartbeat address table, the local
 *    offsets and the flags; it is never held across a remote call or a
 *    callback. Lock order: apply_lock -> commit_lock -> lock -> client locks.
 *  - Rebalance keeps a topic's current queues when its route or member list
 *    cannot be read (a broker down must not make everyone drop everything),
 *    and when this client is not (yet) in the member list: the broker has
 *    not seen our heartbeat, which is kicked again.
 */
#include "client/src/consumer_group_int.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "consumer"

/* ---- queues and the owned table ---- */

int cg_queue_cmp(const rill_queue_t *a, const rill_queue_t *b)
{
    int c = strcmp(a->topic, b->topic);
    if (c != 0)
        return c;
    c = strcmp(a->broker_name, b->broker_name);
    if (c != 0)
        return c;
    return (a->queue_id > b->queue_id) - (a->queue_id < b->queue_id);
}

static int queue_qsort_cmp(const void *a, const void *b)
{
    return cg_queue_cmp(a, b);
}

ssize_t cg_owned_find_locked(cg_t *g, const rill_queue_t *q)
{
    size_t lo = 0, hi = g->n_owned;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cg_queue_cmp(&g->owned[mid].queue, q);
        if (c == 0)
            return (ssize_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Insert keeping the table sorted; the queue is not in it yet. */
static int owned_insert_locked(cg_t *g, const cg_owned_t *e)
{
    if (g->n_owned == CG_QUEUES_MAX)
        return RILL_ETOOBIG;
    if (g->n_owned == g->cap_owned) {
        size_t cap = g->cap_owned ? g->cap_owned * 2 : 64;
        cg_owned_t *o = realloc(g->owned, cap * sizeof *o);
        if (!o)
            return ENOMEM;
        g->owned = o;
        g->cap_owned = cap;
    }
    size_t i = 0;
    while (i < g->n_owned && cg_queue_cmp(&g->owned[i].queue, &e->queue) < 0)
        i++;
    memmove(&g->owned[i + 1], &g->owned[i], (g->n_owned - i) * sizeof *g->owned);
    g->owned[i] = *e;
    g->n_owned++;
    return 0;
}

void cg_owned_remove_locked(cg_t *g, const rill_queue_t *q)
{
    ssize_t i = cg_owned_find_locked(g, q);
    if (i < 0)
        return;
    memmove(&g->owned[i], &g->owned[i + 1], (g->n_owned - (size_t)i - 1) * sizeof *g->owned);
    g->n_owned--;
}

void cg_assignment(cg_t *g, rill_queue_t *out, size_t cap, size_t *n)
{
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < g->n_owned && i < cap; i++)
        out[i] = g->owned[i].queue;
    *n = g->n_owned;
    pthread_mutex_unlock(&g->lock);
}

bool cg_owns(cg_t *g, const rill_queue_t *q)
{
    pthread_mutex_lock(&g->lock);
    bool owned = cg_owned_find_locked(g, q) >= 0;
    pthread_mutex_unlock(&g->lock);
    return owned;
}

/* ---- lifecycle and subscriptions ---- */

int cg_open(cg_t **out, rc_client_t *cli, cg_consume_type_t type, const cg_callbacks_t *cbs,
            void *opaque)
{
    struct rill_conf *conf = rc_client_conf(cli);
    if (!conf->group[0])
        return rc_fail(RILL_ECONFIG, "a consumer needs a group (conf key \"group\")");
    assert(cbs && cbs->queues_added && cbs->queues_removed);
    cg_t *g = calloc(1, sizeof *g);
    if (!g)
        return rc_fail(ENOMEM, NULL);
    g->cli = cli;
    g->conf = conf;
    g->type = type;
    g->cbs = *cbs;
    g->opaque = opaque;
    g->hb_task = g->rb_task = g->commit_task = -1;
    g->consume_ts_ms = conf->consume_timestamp_ms > 0
                           ? conf->consume_timestamp_ms
                           : (int64_t)rill_now_ms() - CG_CONSUME_TIMESTAMP_BACK_MS;
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->apply_lock, NULL);
    pthread_mutex_init(&g->commit_lock, NULL);
    rill_cond_init_monotonic(&g->cond);
    int rc = cg_offsets_open(g);
    if (rc != 0) {
        cg_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

int cg_subscribe(cg_t *g, const char *topic, const char *expression)
{
    if (!topic || !topic[0] || strlen(topic) > RILL_TOPIC_BYTES_MAX)
        return rc_fail(RILL_EINVAL, "bad topic name");
    cg_sub_t sub;
    memset(&sub, 0, sizeof sub);
    int rc = rill_tag_filter_parse(&sub.filter, expression);
    if (rc != 0)
        return rc_fail(rc, "bad subscription expression \"%s\"", expression);
    snprintf(sub.topic, sizeof sub.topic, "%s", topic);
    snprintf(sub.expression, sizeof sub.expression, "%s", sub.filter.match_all ? "*" : expression);

    pthread_mutex_lock(&g->lock);
    rc = 0;
    if (g->started) {
        rc = rc_fail(RILL_EINVAL, "subscribe after start");
        goto out;
    }
    size_t i = 0;
    while (i < g->n_subs && strcmp(g->subs[i].topic, topic) < 0)
        i++;
    if (i < g->n_subs && strcmp(g->subs[i].topic, topic) == 0) {
        g->subs[i] = sub;
        goto out;
    }
    if (g->n_subs == CG_SUBS_MAX) {
        rc = rc_fail(RILL_EINVAL, "more than %d subscriptions", CG_SUBS_MAX);
        goto out;
    }
    cg_sub_t *s = realloc(g->subs, (g->n_subs + 1) * sizeof *s);
    if (!s) {
        rc = rc_fail(ENOMEM, NULL);
        goto out;
    }
    g->subs = s;
    memmove(&g->subs[i + 1], &g->subs[i], (g->n_subs - i) * sizeof *g->subs);
    g->subs[i] = sub;
    g->n_subs++;
out:
    pthread_mutex_unlock(&g->lock);
    return rc;
}

size_t cg_sub_count(cg_t *g)
{
    pthread_mutex_lock(&g->lock);
    size_t n = g->n_subs;
    pthread_mutex_unlock(&g->lock);
    return n;
}

const cg_sub_t *cg_sub_find(cg_t *g, const char *topic)
{
    /* subs is immutable once started; before that only the owner's thread changes it */
    size_t lo = 0, hi = g->n_subs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->subs[mid].topic, topic);
        if (c == 0)
            return &g->subs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void rebalance_task(void *arg);
static void heartbeat_task(void *arg);
static void commit_task(void *arg);

int cg_start(cg_t *g, bool rebalance, bool auto_commit)
{
    pthread_mutex_lock(&g->lock);
    if (g->started || g->stopped) {
        pthread_mutex_unlock(&g->lock);
        return rc_fail(RILL_EINVAL, "consumer already started");
    }
    if (rebalance && g->n_subs == 0) {
        pthread_mutex_unlock(&g->lock);
        return rc_fail(RILL_EINVAL, "no subscription");
    }
    g->started = true;
    pthread_mutex_unlock(&g->lock);

    const struct rill_conf *conf = g->conf;
    int rc = 0;
    /* the heartbeat first, so the broker knows us when the first rebalance asks */
    int id =
        rc_client_every(g->cli, (uint32_t)conf->heartbeat_interval_ms, true, heartbeat_task, g);
    if (id < 0) {
        rc = id;
        goto fail;
    }
    g->hb_task = id;
    if (rebalance) {
        id =
            rc_client_every(g->cli, (uint32_t)conf->rebalance_interval_ms, true, rebalance_task, g);
        if (id < 0) {
            rc = id;
            goto fail;
        }
        pthread_mutex_lock(&g->lock);
        g->rb_task = id;
        pthread_mutex_unlock(&g->lock);
    }
    if (auto_commit) {
        id =
            rc_client_every(g->cli, (uint32_t)conf->auto_commit_interval_ms, false, commit_task, g);
        if (id < 0) {
            rc = id;
            goto fail;
        }
        pthread_mutex_lock(&g->lock);
        g->commit_task = id;
        pthread_mutex_unlock(&g->lock);
    }
    return 0;
fail:
    cg_stop(g);
    return rc_fail(rc, "cannot start the consumer's background tasks");
}

void cg_rebalance_kick(cg_t *g)
{
    pthread_mutex_lock(&g->lock);
    if (!g->stopped && g->rb_task >= 0)
        rc_client_kick(g->cli, g->rb_task);
    pthread_mutex_unlock(&g->lock);
}

void cg_commit_kick(cg_t *g)
{
    pthread_mutex_lock(&g->lock);
    if (!g->stopped && g->commit_task >= 0)
        rc_client_kick(g->cli, g->commit_task);
    pthread_mutex_unlock(&g->lock);
}

void cg_stop(cg_t *g)
{
    pthread_mutex_lock(&g->lock);
    g->stopped = true;
    int tasks[3] = {g->hb_task, g->rb_task, g->commit_task};
    g->hb_task = g->rb_task = g->commit_task = -1;
    pthread_mutex_unlock(&g->lock);
    for (int i = 0; i < 3; i++)
        if (tasks[i] >= 0)
            rc_client_cancel(g->cli, tasks[i]);
    pthread_mutex_lock(&g->lock);
    while (g->hb_inflight > 0)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

/* ---- heartbeat ---- */

typedef struct hb_call {
    cg_t *g;
    char addr[RC_ADDR_BYTES];
} hb_call_t;

static const char *model_name(const struct rill_conf *conf)
{
    return conf->message_model == RC_BROADCASTING ? "BROADCASTING" : "CLUSTERING";
}

static const char *from_name(const struct rill_conf *conf)
{
    switch (conf->consume_from) {
    case RC_FROM_FIRST:
        return "FIRST_OFFSET";
    case RC_FROM_TIMESTAMP:
        return "TIMESTAMP";
    default:
        return "LAST_OFFSET";
    }
}

/* Every broker address of every subscribed topic's route, deduplicated. */
static size_t sub_broker_addrs(cg_t *g, char (*out)[RC_ADDR_BYTES], size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_subs; i++) {
        rc_route_t *r = NULL;
        if (rc_route_get(g->cli, g->subs[i].topic, false, &r) != 0)
            continue;
        for (size_t s = 0; s < r->n_sets; s++) {
            for (size_t a = 0; a < r->sets[s].n_addrs; a++) {
                const char *addr = r->sets[s].addrs[a];
                bool dup = false;
                for (size_t k = 0; k < n && !dup; k++)
                    dup = strcmp(out[k], addr) == 0;
                if (!dup && n < cap)
                    snprintf(out[n++], RC_ADDR_BYTES, "%s", addr);
            }
        }
        rc_route_release(r);
    }
    return n;
}

/* The heartbeat table entry of addr, added when new; NULL when full. */
static cg_hb_addr_t *hb_entry_locked(cg_t *g, const char *addr)
{
    for (size_t i = 0; i < g->n_hb; i++)
        if (strcmp(g->hb[i].addr, addr) == 0)
            return &g->hb[i];
    if (g->n_hb == RC_BROKERS_MAX)
        return NULL;
    cg_hb_addr_t *e = &g->hb[g->n_hb++];
    memset(e, 0, sizeof *e);
    snprintf(e->addr, sizeof e->addr, "%s", addr);
    return e;
}

static void hb_call_end(cg_t *g)
{
    pthread_mutex_lock(&g->lock);
    assert(g->hb_inflight > 0);
    if (--g->hb_inflight == 0)
        pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* Completion of a heartbeat, on an nng thread: never blocks. */
static void heartbeat_done(int rc, Rill__Response *resp, void *arg)
{
    hb_call_t *call = arg;
    cg_t *g = call->g;
    if (rc != 0) {
        rc_broker_mark_down(g->cli, call->addr);
        LOG_DEBUG(LOG_MOD, "heartbeat to %s failed: %s", call->addr, rill_strerror(rc));
    } else {
        rc_broker_mark_up(g->cli, call->addr);
        const Rill__GroupMembers *gm = NULL;
        if (resp->code == RILL__RESPONSE_CODE__SUCCESS &&
            resp->body_case == RILL__RESPONSE__BODY_HEARTBEAT)
            for (size_t i = 0; i < resp->heartbeat->n_groups; i++)
                if (strcmp(resp->heartbeat->groups[i]->group, g->conf->group) == 0)
                    gm = resp->heartbeat->groups[i];
        if (resp->code != RILL__RESPONSE_CODE__SUCCESS)
            LOG_WARN(LOG_MOD, "heartbeat to %s refused: code %d %s", call->addr, resp->code,
                     resp->remark);
        if (gm) {
            pthread_mutex_lock(&g->lock);
            cg_hb_addr_t *e = hb_entry_locked(g, call->addr);
            if (e && (!e->known || e->generation != gm->generation)) {
                e->known = true;
                e->generation = gm->generation;
                if (!g->stopped && g->rb_task >= 0)
                    rc_client_kick(g->cli, g->rb_task);
            }
            pthread_mutex_unlock(&g->lock);
        }
        rpc_response_free(resp);
    }
    free(call);
    hb_call_end(g);
}

static uint32_t call_timeout_ms(const cg_t *g, uint32_t cap_ms)
{
    int64_t t = g->conf->request_timeout_ms;
    return t <= 0 || t > cap_ms ? cap_ms : (uint32_t)t;
}

static void heartbeat_task(void *arg)
{
    cg_t *g = arg;
    char(*list)[RC_ADDR_BYTES] = malloc(RC_BROKERS_MAX * sizeof *list);
    Rill__SubscriptionData *subs = calloc(g->n_subs ? g->n_subs : 1, sizeof *subs);
    Rill__SubscriptionData **sub_ptrs = calloc(g->n_subs ? g->n_subs : 1, sizeof *sub_ptrs);
    if (!list || !subs || !sub_ptrs)
        goto out;
    size_t n = sub_broker_addrs(g, list, RC_BROKERS_MAX);
    if (n == 0)
        goto out;

    for (size_t i = 0; i < g->n_subs; i++) {
        rill__subscription_data__init(&subs[i]);
        subs[i].topic = g->subs[i].topic;
        subs[i].expression = g->subs[i].expression;
        sub_ptrs[i] = &subs[i];
    }
    Rill__ConsumerData cd = RILL__CONSUMER_DATA__INIT;
    cd.group = g->conf->group;
    cd.consume_type = g->type == CG_PUSH ? "PUSH" : "PULL";
    cd.message_model = (char *)model_name(g->conf);
    cd.consume_from_where = (char *)from_name(g->conf);
    cd.n_subscriptions = g->n_subs;
    cd.subscriptions = sub_ptrs;
    Rill__ConsumerData *cds[1] = {&cd};
    Rill__HeartbeatRequest hb = RILL__HEARTBEAT_REQUEST__INIT;
    hb.client_id = g->conf->client_id;
    hb.n_consumers = 1;
    hb.consumers = cds;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__HEART_BEAT;
    req.body_case = RILL__REQUEST__BODY_HEARTBEAT;
    req.heartbeat = &hb;

    uint32_t timeout = call_timeout_ms(g, CG_HEARTBEAT_TIMEOUT_MS_MAX);
    for (size_t i = 0; i < n; i++) {
        rpc_client_t *rpc = NULL;
        if (rc_broker_conn(g->cli, list[i], &rpc) != 0)
            continue;
        hb_call_t *call = malloc(sizeof *call);
        if (!call)
            break;
        call->g = g;
        snprintf(call->addr, sizeof call->addr, "%s", list[i]);
        pthread_mutex_lock(&g->lock);
        (void)hb_entry_locked(g, list[i]); /* remembered for the unregister on close */
        g->hb_inflight++;
        pthread_mutex_unlock(&g->lock);
        int rc = rpc_client_call_async(rpc, &req, timeout, heartbeat_done, call);
        if (rc != 0) {
            free(call);
            hb_call_end(g);
            LOG_DEBUG(LOG_MOD, "heartbeat to %s not sent: %s", list[i], rill_strerror(rc));
        }
    }
out:
    free(sub_ptrs);
    free(subs);
    free(list);
}

/* UNREGISTER_CLIENT to every broker heartbeated, all at once; waits for the answers. */
static void unregister_done(int rc, Rill__Response *resp, void *arg)
{
    hb_call_t *call = arg;
    if (rc == 0)
        rpc_response_free(resp);
    cg_t *g = call->g;
    free(call);
    hb_call_end(g);
}

void cg_unregister(cg_t *g)
{
    Rill__UnregisterClientRequest ur = RILL__UNREGISTER_CLIENT_REQUEST__INIT;
    ur.client_id = g->conf->client_id;
    ur.consumer_group = g->conf->group;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UNREGISTER_CLIENT;
    req.body_case = RILL__REQUEST__BODY_UNREGISTER_CLIENT;
    req.unregister_client = &ur;
    uint32_t timeout = call_timeout_ms(g, CG_UNREGISTER_TIMEOUT_MS_MAX);
    pthread_mutex_lock(&g->lock);
    size_t n = g->n_hb;
    pthread_mutex_unlock(&g->lock);
    for (size_t i = 0; i < n; i++) {
        rpc_client_t *rpc = NULL;
        if (rc_broker_conn(g->cli, g->hb[i].addr, &rpc) != 0)
            continue;
        hb_call_t *call = malloc(sizeof *call);
        if (!call)
            break;
        call->g = g;
        snprintf(call->addr, sizeof call->addr, "%s", g->hb[i].addr);
        pthread_mutex_lock(&g->lock);
        g->hb_inflight++;
        pthread_mutex_unlock(&g->lock);
        if (rpc_client_call_async(rpc, &req, timeout, unregister_done, call) != 0) {
            free(call);
            hb_call_end(g);
        }
    }
    pthread_mutex_lock(&g->lock);
    while (g->hb_inflight > 0)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

/* ---- rebalance ---- */

static int str_qsort_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/*
 * The group's members as a broker of the route sees them, sorted; tries
 * each set's read address once. *out malloc'd.
 */
static int fetch_members(cg_t *g, const rc_route_t *r, char (**out)[RC_CLIENT_ID_BYTES], size_t *n)
{
    Rill__GetConsumerListRequest body = RILL__GET_CONSUMER_LIST_REQUEST__INIT;
    body.consumer_group = g->conf->group;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_CONSUMER_LIST_BY_GROUP;
    req.body_case = RILL__REQUEST__BODY_GET_CONSUMER_LIST;
    req.get_consumer_list = &body;
    int rc = RILL_ENOROUTE;
    for (size_t s = 0; s < r->n_sets; s++) {
        const char *addr = rc_set_read_addr(g->cli, &r->sets[s]);
        if (!addr)
            continue;
        Rill__Response *resp = NULL;
        rc = rc_broker_call(g->cli, addr, &req, call_timeout_ms(g, CG_MEMBERS_TIMEOUT_MS_MAX),
                            &resp);
        if (rc != 0)
            continue;
        rc = rc_response_error(resp, addr);
        if (rc == 0 && (resp->body_case != RILL__RESPONSE__BODY_CONSUMER_LIST ||
                        !resp->consumer_list->members))
            rc = rc_fail(RILL_ECORRUPT, "consumer list from %s has no body", addr);
        if (rc != 0) {
            rpc_response_free(resp);
            continue;
        }
        const Rill__GroupMembers *gm = resp->consumer_list->members;
        size_t m = gm->n_client_ids < CG_MEMBERS_MAX ? gm->n_client_ids : CG_MEMBERS_MAX;
        char(*ids)[RC_CLIENT_ID_BYTES] = calloc(m ? m : 1, sizeof *ids);
        if (!ids) {
            rpc_response_free(resp);
            return rc_fail(ENOMEM, NULL);
        }
        for (size_t i = 0; i < m; i++)
            snprintf(ids[i], RC_CLIENT_ID_BYTES, "%s", gm->client_ids[i]);
        rpc_response_free(resp);
        if (m > 1)
            qsort(ids, m, sizeof *ids, str_qsort_cmp);
        *out = ids;
        *n = m;
        return 0;
    }
    return rc;
}

/* Append the currently owned queues of topic to want. */
static void keep_topic(cg_t *g, const char *topic, rill_queue_t *want, size_t *n_want)
{
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < g->n_owned; i++)
        if (strcmp(g->owned[i].queue.topic, topic) == 0 && *n_want < CG_QUEUES_MAX)
            want[(*n_want)++] = g->owned[i].queue;
    pthread_mutex_unlock(&g->lock);
}

/* The queues this member should own, over every subscribed topic. */
static void compute_target(cg_t *g, rill_queue_t *want, size_t *n_want)
{
    *n_want = 0;
    bool broadcast = g->conf->message_model == RC_BROADCASTING;
    for (size_t t = 0; t < g->n_subs; t++) {
        const char *topic = g->subs[t].topic;
        rc_route_t *r = NULL;
        if (rc_route_get(g->cli, topic, false, &r) != 0) {
            LOG_DEBUG(LOG_MOD, "rebalance %s: no route (%s), keeping its queues", topic,
                      rill_last_error());
            keep_topic(g, topic, want, n_want);
            continue;
        }
        size_t first = 0, count = r->n_read;
        if (!broadcast && r->n_read > 0) {
            char(*members)[RC_CLIENT_ID_BYTES] = NULL;
            size_t n_members = 0;
            if (fetch_members(g, r, &members, &n_members) != 0) {
                LOG_DEBUG(LOG_MOD, "rebalance %s: no member list (%s), keeping its queues", topic,
                          rill_last_error());
                keep_topic(g, topic, want, n_want);
                rc_route_release(r);
                continue;
            }
            char(*self)[RC_CLIENT_ID_BYTES] = n_members == 0
                                                  ? NULL
                                                  : bsearch(g->conf->client_id, members, n_members,
                                                            sizeof *members, str_qsort_cmp);
            if (!self) {
                LOG_DEBUG(LOG_MOD, "rebalance %s: %s not yet a member, keeping its queues", topic,
                          g->conf->client_id);
                free(members);
                keep_topic(g, topic, want, n_want);
                rc_route_release(r);
                pthread_mutex_lock(&g->lock);
                if (!g->stopped && g->hb_task >= 0)
                    rc_client_kick(g->cli, g->hb_task);
                pthread_mutex_unlock(&g->lock);
                continue;
            }
            cg_allocate_averagely(r->n_read, n_members, (size_t)(self - members), &first, &count);
            free(members);
        }
        for (size_t i = 0; i < count && *n_want < CG_QUEUES_MAX; i++)
            want[(*n_want)++] = r->read_queues[first + i];
        rc_route_release(r);
    }
    if (*n_want > 1)
        qsort(want, *n_want, sizeof *want, queue_qsort_cmp);
}

/*
 * Make the owned set equal `want` (sorted): removed queues through the
 * callback and a commit, added ones with their start offsets. Caller holds
 * apply_lock. Returns the first start-offset error.
 */
static int apply_assignment(cg_t *g, const rill_queue_t *want, size_t n_want)
{
    int first_err = 0;
    rill_queue_t *removed = NULL, *added = NULL;
    cg_queue_start_t *starts = NULL;
    size_t n_removed = 0, n_added = 0, n_starts = 0;

    pthread_mutex_lock(&g->lock);
    removed = malloc((g->n_owned ? g->n_owned : 1) * sizeof *removed);
    added = malloc((n_want ? n_want : 1) * sizeof *added);
    if (!removed || !added) {
        pthread_mutex_unlock(&g->lock);
        first_err = rc_fail(ENOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < g->n_owned; i++)
        if (n_want == 0 ||
            !bsearch(&g->owned[i].queue, want, n_want, sizeof *want, queue_qsort_cmp))
            removed[n_removed++] = g->owned[i].queue;
    for (size_t i = 0; i < n_want; i++)
        if (cg_owned_find_locked(g, &want[i]) < 0 &&
            (n_added == 0 || cg_queue_cmp(&added[n_added - 1], &want[i]) != 0))
            added[n_added++] = want[i];
    pthread_mutex_unlock(&g->lock);

    if (n_removed > 0) {
        g->cbs.queues_removed(g->opaque, removed, n_removed);
        int rc = cg_commit_queues(g, removed, n_removed, true);
        if (rc != 0)
            LOG_WARN(LOG_MOD, "commit of %zu released queues failed: %s", n_removed,
                     rill_last_error());
        for (size_t i = 0; i < n_removed; i++)
            LOG_INFO(LOG_MOD, "%s released %s@%s#%d", g->conf->client_id, removed[i].topic,
                     removed[i].broker_name, removed[i].queue_id);
    }
    if (n_added > 0) {
        starts = malloc(n_added * sizeof *starts);
        if (!starts) {
            first_err = rc_fail(ENOMEM, NULL);
            goto out;
        }
        for (size_t i = 0; i < n_added; i++) {
            cg_owned_t e = {.queue = added[i]};
            bool committed = false;
            int rc = cg_start_offset_ex(g, &added[i], &e.offset, &committed);
            if (rc != 0) {
                LOG_WARN(LOG_MOD, "%s@%s#%d not taken: no start offset: %s", added[i].topic,
                         added[i].broker_name, added[i].queue_id, rill_last_error());
                if (first_err == 0)
                    first_err = rc;
                continue;
            }
            /* a start the group never committed is committed soon, so it sticks */
            e.committed = committed ? e.offset : -1;
            pthread_mutex_lock(&g->lock);
            rc = owned_insert_locked(g, &e);
            pthread_mutex_unlock(&g->lock);
            if (rc != 0) {
                if (first_err == 0)
                    first_err = rc_fail(rc, "cannot own more queues");
                continue;
            }
            starts[n_starts].queue = added[i];
            starts[n_starts].offset = e.offset;
            n_starts++;
            LOG_INFO(LOG_MOD, "%s took %s@%s#%d from offset %lld", g->conf->client_id,
                     added[i].topic, added[i].broker_name, added[i].queue_id, (long long)e.offset);
        }
        if (n_starts > 0)
            g->cbs.queues_added(g->opaque, starts, n_starts);
    }
out:
    free(starts);
    free(added);
    free(removed);
    return first_err;
}

static void rebalance_task(void *arg)
{
    cg_t *g = arg;
    rill_queue_t *want = malloc(CG_QUEUES_MAX * sizeof *want);
    if (!want)
        return;
    pthread_mutex_lock(&g->apply_lock);
    size_t n_want = 0;
    compute_target(g, want, &n_want);
    (void)apply_assignment(g, want, n_want);
    pthread_mutex_unlock(&g->apply_lock);
    free(want);
}

int cg_set_assignment(cg_t *g, const rill_queue_t *queues, size_t n)
{
    if (n > CG_QUEUES_MAX)
        return rc_fail(RILL_EINVAL, "more than %d queues", CG_QUEUES_MAX);
    pthread_mutex_lock(&g->lock);
    bool rebalancing = g->rb_task >= 0;
    pthread_mutex_unlock(&g->lock);
    if (rebalancing)
        return rc_fail(RILL_EINVAL, "the group assigns queues by rebalance");
    rill_queue_t *want = malloc((n ? n : 1) * sizeof *want);
    if (!want)
        return rc_fail(ENOMEM, NULL);
    if (n > 0) {
        memcpy(want, queues, n * sizeof *want);
        qsort(want, n, sizeof *want, queue_qsort_cmp);
    }
    pthread_mutex_lock(&g->apply_lock);
    int rc = apply_assignment(g, want, n);
    pthread_mutex_unlock(&g->apply_lock);
    free(want);
    return rc;
}

static void commit_task(void *arg)
{
    cg_t *g = arg;
    if (cg_commit(g) != 0)
        LOG_WARN(LOG_MOD, "offset commit of group %s failed: %s", g->conf->group,
                 rill_last_error());
}

void cg_close(cg_t *g)
{
    if (!g)
        return;
    cg_stop(g);
    if (g->started) {
        if (cg_commit(g) != 0)
            LOG_WARN(LOG_MOD, "final offset commit of group %s failed: %s", g->conf->group,
                     rill_last_error());
        cg_unregister(g);
    }
    cg_offsets_close(g);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->commit_lock);
    pthread_mutex_destroy(&g->apply_lock);
    pthread_mutex_destroy(&g->lock);
    free(g->owned);
    free(g->subs);
    free(g);
}
