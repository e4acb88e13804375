/*
 * admin_topics.c - topics (create, delete, list, route, queue status), the
 * cluster list and broker runtime stats.
 *
 * Topic configs live on the brokers; the NameServers only learn them from
 * the brokers' registrations. So create and delete go to the brokers
 * (masters); delete also removes the route from every NameServer at once,
 * rather than waiting for the brokers' next registration.
 */
#include "client/src/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Queue counts a topic may have (the broker's BROKER_QUEUE_NUMS_MAX). */
#define ADM_QUEUE_NUMS_MAX 1024

void rill_topic_config_init(rill_topic_config_t *tc, const char *name)
{
    memset(tc, 0, sizeof(*tc));
    if (name)
        snprintf(tc->name, sizeof(tc->name), "%s", name);
    tc->read_queue_nums = 4;
    tc->write_queue_nums = 4;
    tc->perm = 6;
    tc->order = false;
}

static int check_topic_name(const char *topic)
{
    if (topic == NULL || !adm_name_ok(topic, RILL_TOPIC_BYTES_MAX))
        return rc_fail(RILL_ETOPIC,
                       "illegal topic name \"%.127s\": must match ^[%%|a-zA-Z0-9_-]+$ and have "
                       "at most %d bytes",
                       topic ? topic : "(null)", RILL_TOPIC_BYTES_MAX);
    return 0;
}

int rill_admin_topic_create(rill_admin_t *a, const char *cluster, const char *broker_addr,
                            const rill_topic_config_t *tc)
{
    if (a == NULL || tc == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_topic_create: NULL argument");
    int rc = check_topic_name(tc->name);
    if (rc != 0)
        return rc;
    if (tc->read_queue_nums < 1 || tc->read_queue_nums > ADM_QUEUE_NUMS_MAX ||
        tc->write_queue_nums < 1 || tc->write_queue_nums > ADM_QUEUE_NUMS_MAX)
        return rc_fail(RILL_EINVAL, "queue counts must be in [1, %d] (read %d, write %d)",
                       ADM_QUEUE_NUMS_MAX, tc->read_queue_nums, tc->write_queue_nums);
    if (tc->perm != 0 && tc->perm != 2 && tc->perm != 4 && tc->perm != 6)
        return rc_fail(RILL_EINVAL, "perm must be 0, 2 (write), 4 (read) or 6 (both), not %d",
                       tc->perm);
    Rill__TopicConfig cfg = RILL__TOPIC_CONFIG__INIT;
    cfg.topic_name = (char *)tc->name;
    cfg.read_queue_nums = tc->read_queue_nums;
    cfg.write_queue_nums = tc->write_queue_nums;
    cfg.perm = tc->perm;
    cfg.order = tc->order;
    Rill__UpdateTopicRequest body = RILL__UPDATE_TOPIC_REQUEST__INIT;
    body.topic = &cfg;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__UPDATE_AND_CREATE_TOPIC);
    req.body_case = RILL__REQUEST__BODY_UPDATE_TOPIC;
    req.update_topic = &body;
    return adm_call_create_targets(a, cluster, broker_addr, &req);
}

/*
 * DELETE_TOPIC_IN_NAMESRV on every NameServer of the list, not only the
 * current one (rc_namesrv_call reaches one): each is called through the
 * core's connection pool like a broker. Every one is tried; the first
 * failure is returned.
 */
static int delete_in_namesrvs(rill_admin_t *a, const char *topic)
{
    char addrs[RC_NAMESRVS_MAX][RC_ADDR_BYTES];
    size_t n = rc_namesrv_addrs(a->cli, addrs, RC_NAMESRVS_MAX);
    Rill__DeleteTopicInNamesrvRequest body = RILL__DELETE_TOPIC_IN_NAMESRV_REQUEST__INIT;
    body.topic = (char *)topic;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__DELETE_TOPIC_IN_NAMESRV);
    req.body_case = RILL__REQUEST__BODY_DELETE_TOPIC_IN_NAMESRV;
    req.delete_topic_in_namesrv = &body;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = adm_broker_call(a, addrs[i], &req, 0, NULL);
        if (rc != 0 && first == 0)
            first = rc;
    }
    if (first != 0)
        return rc_fail(first, "topic \"%s\" deleted on the brokers but not on every NameServer: %s",
                       topic, rill_strerror(first));
    return 0;
}

int rill_admin_topic_delete(rill_admin_t *a, const char *topic, const char *cluster)
{
    if (a == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_topic_delete: NULL handle");
    int rc = check_topic_name(topic);
    if (rc != 0)
        return rc;
    adm_targets_t *t = malloc(sizeof(*t));
    if (t == NULL)
        return rc_fail(ENOMEM, "out of memory");
    if (cluster && cluster[0]) {
        rc = adm_cluster_masters(a, cluster, t);
    } else {
        rc_route_t *r = NULL;
        rc = adm_route(a, topic, &r);
        t->n = 0;
        for (size_t i = 0; rc == 0 && i < r->n_sets; i++) {
            const char *m = rc_set_addr(&r->sets[i], 0);
            if (m && t->n < ADM_TARGETS_MAX) {
                snprintf(t->addr[t->n], sizeof(t->addr[0]), "%s", m);
                snprintf(t->name[t->n], sizeof(t->name[0]), "%s", r->sets[i].name);
                t->n++;
            }
        }
        rc_route_release(r);
    }
    if (rc != 0)
        goto out;
    Rill__DeleteTopicRequest body = RILL__DELETE_TOPIC_REQUEST__INIT;
    body.topic = (char *)topic;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__DELETE_TOPIC_IN_BROKER);
    req.body_case = RILL__REQUEST__BODY_DELETE_TOPIC;
    req.delete_topic = &body;
    size_t deleted = 0;
    for (size_t i = 0; i < t->n; i++) {
        rc = adm_broker_call(a, t->addr[i], &req, 0, NULL);
        if (rc == RILL_ETOPIC) /* not on this broker: fine, others may have it */
            continue;
        if (rc != 0)
            goto out;
        deleted++;
    }
    rc = delete_in_namesrvs(a, topic);
    if (rc == 0 && deleted == 0)
        rc = rc_fail(RILL_ETOPIC, "topic \"%s\" not found (TOPIC_NOT_EXIST)", topic);
out:
    free(t);
    return rc;
}

int rill_admin_topic_list(rill_admin_t *a, rill_strv_t *out)
{
    if (a == NULL || out == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_topic_list: NULL argument");
    Rill__GetAllTopicsRequest body = RILL__GET_ALL_TOPICS_REQUEST__INIT;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__GET_ALL_TOPIC_LIST_FROM_NAMESERVER);
    req.body_case = RILL__REQUEST__BODY_GET_ALL_TOPICS;
    req.get_all_topics = &body;
    Rill__Response *resp = NULL;
    int rc = adm_namesrv_call(a, &req, RILL__RESPONSE__BODY_TOPIC_NAMES, &resp);
    if (rc != 0)
        return rc;
    const Rill__TopicNamesResponse *tn = resp->topic_names;
    rill_strv_t sv = {0, NULL};
    sv.v = calloc(tn->n_topics ? tn->n_topics : 1, sizeof(*sv.v));
    if (sv.v == NULL)
        goto nomem;
    for (; sv.n < tn->n_topics; sv.n++) {
        sv.v[sv.n] = strdup(tn->topics[sv.n]);
        if (sv.v[sv.n] == NULL)
            goto nomem;
    }
    rpc_response_free(resp);
    *out = sv;
    return 0;
nomem:
    rill_strv_free(&sv);
    rpc_response_free(resp);
    return rc_fail(ENOMEM, "out of memory");
}

/* One rill_broker_info_t from a set of addresses by id (sorted by id). */
static void broker_info_fill(rill_broker_info_t *bi, const char *cluster, const char *name,
                             const int64_t *ids, const char *const *addrs, size_t n)
{
    memset(bi, 0, sizeof(*bi));
    snprintf(bi->cluster, sizeof(bi->cluster), "%s", cluster);
    snprintf(bi->broker_name, sizeof(bi->broker_name), "%s", name);
    size_t cap = sizeof(bi->addrs) / sizeof(bi->addrs[0]);
    for (size_t i = 0; i < n && bi->n_addrs < cap; i++) {
        /* insertion by broker id */
        size_t j = bi->n_addrs++;
        while (j > 0 && bi->addrs[j - 1].broker_id > ids[i]) {
            bi->addrs[j] = bi->addrs[j - 1];
            j--;
        }
        bi->addrs[j].broker_id = ids[i];
        snprintf(bi->addrs[j].addr, sizeof(bi->addrs[j].addr), "%s", addrs[i]);
    }
}

static void set_to_info(rill_broker_info_t *bi, const rc_broker_set_t *s)
{
    const char *addrs[8];
    size_t n = s->n_addrs < 8 ? s->n_addrs : 8;
    for (size_t i = 0; i < n; i++)
        addrs[i] = s->addrs[i];
    broker_info_fill(bi, s->cluster, s->name, s->ids, addrs, n);
}

int rill_admin_topic_route(rill_admin_t *a, const char *topic, rill_topic_route_t *out)
{
    if (a == NULL || out == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_topic_route: NULL argument");
    rc_route_t *r = NULL;
    int rc = adm_route(a, topic, &r);
    if (rc != 0)
        return rc;
    rill_topic_route_t tr = {0, NULL, 0, NULL};
    size_t n = r->n_sets ? r->n_sets : 1;
    tr.queue_datas = calloc(n, sizeof(*tr.queue_datas));
    tr.brokers = calloc(n, sizeof(*tr.brokers));
    if (tr.queue_datas == NULL || tr.brokers == NULL) {
        rill_topic_route_free(&tr);
        rc_route_release(r);
        return rc_fail(ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_sets; i++) {
        const rc_broker_set_t *s = &r->sets[i];
        snprintf(tr.queue_datas[i].broker_name, sizeof(tr.queue_datas[i].broker_name), "%s",
                 s->name);
        tr.queue_datas[i].read_queue_nums = s->read_queue_nums;
        tr.queue_datas[i].write_queue_nums = s->write_queue_nums;
        tr.queue_datas[i].perm = s->perm;
        set_to_info(&tr.brokers[i], s);
    }
    tr.n_queue_datas = tr.n_brokers = r->n_sets;
    rc_route_release(r);
    *out = tr;
    return 0;
}

void rill_topic_route_free(rill_topic_route_t *r)
{
    if (r == NULL)
        return;
    free(r->queue_datas);
    free(r->brokers);
    r->queue_datas = NULL;
    r->brokers = NULL;
    r->n_queue_datas = r->n_brokers = 0;
}

/* GET_QUEUE_STATS of one queue at addr. */
static int queue_stats(rill_admin_t *a, const char *addr, const char *topic, int32_t queue_id,
                       Rill__QueueStatsResponse *out)
{
    Rill__QueueRequest body = RILL__QUEUE_REQUEST__INIT;
    body.topic = (char *)topic;
    body.queue_id = queue_id;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__GET_QUEUE_STATS);
    req.body_case = RILL__REQUEST__BODY_QUEUE;
    req.queue = &body;
    Rill__Response *resp = NULL;
    int rc = adm_broker_call(a, addr, &req, RILL__RESPONSE__BODY_QUEUE_STATS, &resp);
    if (rc != 0)
        return rc;
    *out = *resp->queue_stats;
    rpc_response_free(resp);
    return 0;
}

int rill_admin_topic_status(rill_admin_t *a, const char *topic, rill_queue_stat_t **out, size_t *n)
{
    if (a == NULL || out == NULL || n == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_topic_status: NULL argument");
    rc_route_t *r = NULL;
    int rc = adm_route(a, topic, &r);
    if (rc != 0)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < r->n_sets; i++)
        total += (size_t)(r->sets[i].read_queue_nums > 0 ? r->sets[i].read_queue_nums : 0);
    rill_queue_stat_t *st = calloc(total ? total : 1, sizeof(*st));
    if (st == NULL) {
        rc_route_release(r);
        return rc_fail(ENOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < r->n_sets; i++) {
        const rc_broker_set_t *s = &r->sets[i];
        const char *addr = NULL;
        rc = adm_read_addr(a, s, &addr);
        for (int32_t q = 0; rc == 0 && q < s->read_queue_nums; q++) {
            Rill__QueueStatsResponse qs;
            rc = queue_stats(a, addr, topic, q, &qs);
            if (rc != 0)
                break;
            rill_queue_stat_t *e = &st[k++];
            snprintf(e->queue.topic, sizeof(e->queue.topic), "%s", topic);
            snprintf(e->queue.broker_name, sizeof(e->queue.broker_name), "%s", s->name);
            e->queue.queue_id = q;
            e->min_offset = qs.min_offset;
            e->max_offset = qs.max_offset;
            e->last_store_timestamp = qs.last_store_timestamp_ms;
        }
    }
    rc_route_release(r);
    if (rc != 0) {
        free(st);
        return rc;
    }
    *out = st;
    *n = k;
    return 0;
}

static int cmp_info(const void *x, const void *y)
{
    const rill_broker_info_t *a = x, *b = y;
    int c = strcmp(a->cluster, b->cluster);
    return c ? c : strcmp(a->broker_name, b->broker_name);
}

int rill_admin_cluster_list(rill_admin_t *a, rill_broker_info_t **out, size_t *n)
{
    if (a == NULL || out == NULL || n == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_cluster_list: NULL argument");
    Rill__Response *resp = NULL;
    int rc = adm_cluster_info(a, &resp);
    if (rc != 0)
        return rc;
    const Rill__ClusterInfoResponse *ci = resp->cluster_info;
    rill_broker_info_t *v = calloc(ci->n_brokers ? ci->n_brokers : 1, sizeof(*v));
    if (v == NULL) {
        rpc_response_free(resp);
        return rc_fail(ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ci->n_brokers; i++) {
        const Rill__BrokerData *bd = ci->brokers[i];
        int64_t ids[8];
        const char *addrs[8];
        size_t m = 0;
        for (size_t j = 0; j < bd->n_addrs && m < 8; j++, m++) {
            ids[m] = bd->addrs[j]->broker_id;
            addrs[m] = bd->addrs[j]->addr;
        }
        broker_info_fill(&v[i], bd->cluster_name, bd->broker_name, ids, addrs, m);
    }
    qsort(v, ci->n_brokers, sizeof(*v), cmp_info);
    *n = ci->n_brokers;
    *out = v;
    rpc_response_free(resp);
    return 0;
}

int rill_admin_broker_stats(rill_admin_t *a, const char *addr, rill_broker_stats_t *out)
{
    if (a == NULL || addr == NULL || out == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_broker_stats: NULL argument");
    Rill__GetRuntimeStatsRequest body = RILL__GET_RUNTIME_STATS_REQUEST__INIT;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__GET_BROKER_RUNTIME_INFO);
    req.body_case = RILL__REQUEST__BODY_GET_RUNTIME_STATS;
    req.get_runtime_stats = &body;
    Rill__Response *resp = NULL;
    int rc = adm_broker_call(a, addr, &req, RILL__RESPONSE__BODY_RUNTIME_STATS, &resp);
    if (rc != 0)
        return rc;
    const Rill__RuntimeStatsResponse *s = resp->runtime_stats;
    rill_broker_stats_t st;
    memset(&st, 0, sizeof(st));
    st.put_tps = s->put_tps;
    st.get_tps = s->get_tps;
    st.put_total = s->put_total;
    st.get_total = s->get_total;
    st.commitlog_min_offset = s->commitlog_min_offset;
    st.commitlog_max_offset = s->commitlog_max_offset;
    st.dispatched_offset = s->dispatched_offset;
    st.dispatch_lag_bytes = s->dispatch_lag_bytes;
    st.disk_used_ratio = s->disk_used_ratio;
    st.uptime_ms = s->uptime_ms;
    st.pending_half_messages = s->pending_half_messages;
    st.delay_pending = s->delay_pending;
    st.ha_lag_bytes = s->ha_lag_bytes;
    st.ha_lag_ms = s->ha_lag_ms;
    st.ha_connected = s->ha_connected ? 1 : 0;
    snprintf(st.version, sizeof(st.version), "%s", s->broker_version ? s->broker_version : "");
    rpc_response_free(resp);
    *out = st;
    return 0;
}
