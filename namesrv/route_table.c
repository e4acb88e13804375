/*
 * route_table.c - brokers and topic routes held by the namesrv (see
 * route_table.h for the rules).
 *
 * Design notes
 * ------------
 * Brokers live in a fixed array of NS_BROKERS_MAX entries allocated at
 * create time, unordered (removal swaps the last entry in). Lookups scan
 * it: a deployment has tens of brokers, and the limit keeps a scan short.
 *
 * Topics live in one array sorted by name, found with bsearch. A
 * registration that changes a broker name's table makes one pass that
 * removes that name's queue data everywhere (compacting topics left empty),
 * then adds the new queue data: to existing topics in place, new topics
 * appended and the array sorted once at the end, so applying T topics costs
 * O(T log T) rather than one memmove per insertion.
 *
 * Invariant: every queue data names a broker name with at least one live
 * process (removing a broker name's last process removes its queue data),
 * and no topic has zero queue data.
 *
 * Locking: rt->lock (a rwlock) guards everything; writers are
 * registrations, unregistrations, deletes, the expiry scan and closed
 * connections; readers are the lookups. No call holds it while logging
 * anything but a short line.
 */
#include "namesrv/route_table.h"

#include "common/errors.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "namesrv"

typedef struct {
    char cluster[NS_NAME_LEN_MAX + 1];
    char broker_name[NS_NAME_LEN_MAX + 1];
    int64_t broker_id;
    char addr[NS_ADDR_LEN_MAX + 1];
    char ha_addr[NS_ADDR_LEN_MAX + 1];
    char role[NS_ROLE_LEN_MAX + 1];
    bool version_known; /* false: the next registration applies its topics whatever its version */
    int64_t dv_timestamp_ms;
    int64_t dv_counter;
    uint64_t last_seen_ms; /* monotonic */
    uint32_t pipe_id;
} ns_broker_t;

typedef struct {
    char broker_name[NS_NAME_LEN_MAX + 1];
    int32_t read_queue_nums;
    int32_t write_queue_nums;
    int32_t perm;
    uint32_t topic_sys_flag;
} ns_queue_data_t;

typedef struct {
    char name[NS_TOPIC_LEN_MAX + 1];
    uint32_t nqueues;
    uint32_t cap;
    ns_queue_data_t *queues;
} ns_topic_t;

struct ns_route_table {
    pthread_rwlock_t lock;
    ns_broker_t *brokers; /* NS_BROKERS_MAX entries */
    size_t nbrokers;
    ns_topic_t *topics; /* sorted by name */
    size_t ntopics;
    size_t topics_cap;
};

static void set_err(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errcap, const char *fmt, ...)
{
    if (err == NULL || errcap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

int ns_route_table_create(ns_route_table_t **out)
{
    ns_route_table_t *rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return ENOMEM;
    rt->brokers = calloc(NS_BROKERS_MAX, sizeof(*rt->brokers));
    if (rt->brokers == NULL) {
        free(rt);
        return ENOMEM;
    }
    int rc = pthread_rwlock_init(&rt->lock, NULL);
    if (rc != 0) {
        free(rt->brokers);
        free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

void ns_route_table_destroy(ns_route_table_t *rt)
{
    if (rt == NULL)
        return;
    for (size_t i = 0; i < rt->ntopics; i++)
        free(rt->topics[i].queues);
    free(rt->topics);
    free(rt->brokers);
    pthread_rwlock_destroy(&rt->lock);
    free(rt);
}

int ns_topic_name_valid(const char *topic)
{
    if (topic == NULL || topic[0] == '\0')
        return 0;
    size_t n = 0;
    for (const char *p = topic; *p != '\0'; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '%' || c == '|' || c == '_' || c == '-';
        if (!ok || n >= NS_TOPIC_LEN_MAX)
            return 0;
    }
    return 1;
}

/* ---- lookups; callers hold the lock ---- */

static int topic_cmp(const void *a, const void *b)
{
    return strcmp(((const ns_topic_t *)a)->name, ((const ns_topic_t *)b)->name);
}

static ns_topic_t *find_topic(ns_route_table_t *rt, size_t n, const char *name)
{
    ns_topic_t key;
    size_t len = strlen(name);
    if (len > NS_TOPIC_LEN_MAX || n == 0) /* n == 0: topics may be NULL, bsearch's UB */
        return NULL;
    memcpy(key.name, name, len + 1);
    return bsearch(&key, rt->topics, n, sizeof(*rt->topics), topic_cmp);
}

static ns_broker_t *find_by_addr(ns_route_table_t *rt, const char *addr)
{
    for (size_t i = 0; i < rt->nbrokers; i++)
        if (strcmp(rt->brokers[i].addr, addr) == 0)
            return &rt->brokers[i];
    return NULL;
}

static ns_broker_t *find_by_name_id(ns_route_table_t *rt, const char *name, int64_t id)
{
    for (size_t i = 0; i < rt->nbrokers; i++)
        if (rt->brokers[i].broker_id == id && strcmp(rt->brokers[i].broker_name, name) == 0)
            return &rt->brokers[i];
    return NULL;
}

static ns_broker_t *find_by_name(ns_route_table_t *rt, const char *name, const ns_broker_t *skip)
{
    for (size_t i = 0; i < rt->nbrokers; i++)
        if (&rt->brokers[i] != skip && strcmp(rt->brokers[i].broker_name, name) == 0)
            return &rt->brokers[i];
    return NULL;
}

/* ---- changes; callers hold the write lock ---- */

/* Remove every queue data of broker_name; drop topics left with none. */
static void remove_queue_data(ns_route_table_t *rt, const char *broker_name)
{
    size_t kept = 0;
    for (size_t i = 0; i < rt->ntopics; i++) {
        ns_topic_t *t = &rt->topics[i];
        uint32_t q = 0;
        for (uint32_t j = 0; j < t->nqueues; j++)
            if (strcmp(t->queues[j].broker_name, broker_name) != 0)
                t->queues[q++] = t->queues[j];
        t->nqueues = q;
        if (q == 0) {
            free(t->queues);
            continue;
        }
        if (kept != i)
            rt->topics[kept] = *t;
        kept++;
    }
    rt->ntopics = kept; /* removal keeps the order */
}

/* Remove the broker at b; its broker name's routes go with its last process. */
static void remove_broker(ns_route_table_t *rt, ns_broker_t *b, const char *why)
{
    size_t i = (size_t)(b - rt->brokers);
    assert(i < rt->nbrokers);
    char name[NS_NAME_LEN_MAX + 1];
    memcpy(name, b->broker_name, sizeof(name));
    LOG_INFO(LOG_MOD, "broker %s id %" PRId64 " at %s (cluster %s) removed: %s", b->broker_name,
             b->broker_id, b->addr, b->cluster, why);
    rt->brokers[i] = rt->brokers[rt->nbrokers - 1];
    rt->nbrokers--;
    if (find_by_name(rt, name, NULL) == NULL)
        remove_queue_data(rt, name);
}

static int add_queue_data(ns_topic_t *t, const char *broker_name, const Rill__TopicConfig *tc)
{
    if (t->nqueues == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 2;
        ns_queue_data_t *q = realloc(t->queues, cap * sizeof(*q));
        if (q == NULL)
            return ENOMEM;
        t->queues = q;
        t->cap = cap;
    }
    ns_queue_data_t *qd = &t->queues[t->nqueues++];
    memset(qd, 0, sizeof(*qd));
    snprintf(qd->broker_name, sizeof(qd->broker_name), "%s", broker_name);
    qd->read_queue_nums = tc->read_queue_nums;
    qd->write_queue_nums = tc->write_queue_nums;
    qd->perm = tc->perm;
    qd->topic_sys_flag = tc->topic_sys_flag;
    return 0;
}

/* Replace broker_name's topics with the request's (validated, no duplicates). */
static int apply_topics(ns_route_table_t *rt, const char *broker_name,
                        const Rill__RegisterBrokerRequest *req)
{
    remove_queue_data(rt, broker_name);
    size_t sorted = rt->ntopics;
    int rc = 0;
    for (size_t i = 0; i < req->n_topics; i++) {
        const Rill__TopicConfig *tc = req->topics[i];
        ns_topic_t *t = find_topic(rt, sorted, tc->topic_name);
        if (t == NULL) {
            if (rt->ntopics == rt->topics_cap) {
                size_t cap = rt->topics_cap ? rt->topics_cap * 2 : 64;
                ns_topic_t *grown = realloc(rt->topics, cap * sizeof(*grown));
                if (grown == NULL) {
                    rc = ENOMEM;
                    break;
                }
                rt->topics = grown;
                rt->topics_cap = cap;
            }
            assert(rt->ntopics < NS_TOPICS_MAX);
            t = &rt->topics[rt->ntopics];
            memset(t, 0, sizeof(*t));
            snprintf(t->name, sizeof(t->name), "%s", tc->topic_name);
            if ((rc = add_queue_data(t, broker_name, tc)) != 0)
                break;
            rt->ntopics++;
            continue;
        }
        if ((rc = add_queue_data(t, broker_name, tc)) != 0)
            break;
    }
    if (rt->ntopics > sorted)
        qsort(rt->topics, rt->ntopics, sizeof(*rt->topics), topic_cmp);
    return rc;
}

/* ---- registration ---- */

static int str_cmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_field(const char *what, const char *s, size_t max, bool required, char *err,
                       size_t errcap)
{
    if (s == NULL || (required && s[0] == '\0')) {
        set_err(err, errcap, "%s is missing", what);
        return RILL_EINVAL;
    }
    if (strlen(s) > max) {
        set_err(err, errcap, "%s is longer than %zu bytes", what, max);
        return RILL_EINVAL;
    }
    return 0;
}

static int validate_register(const Rill__RegisterBrokerRequest *req, char *err, size_t errcap)
{
    int rc;
    if ((rc = check_field("cluster_name", req->cluster_name, NS_NAME_LEN_MAX, true, err, errcap)) !=
            0 ||
        (rc = check_field("broker_name", req->broker_name, NS_NAME_LEN_MAX, true, err, errcap)) !=
            0 ||
        (rc = check_field("broker_addr", req->broker_addr, NS_ADDR_LEN_MAX, true, err, errcap)) !=
            0 ||
        (rc = check_field("ha_server_addr", req->ha_server_addr, NS_ADDR_LEN_MAX, false, err,
                          errcap)) != 0 ||
        (rc = check_field("broker_role", req->broker_role, NS_ROLE_LEN_MAX, false, err, errcap)) !=
            0)
        return rc;
    if (req->broker_id < 0) {
        set_err(err, errcap, "broker_id %" PRId64 " is negative", req->broker_id);
        return RILL_EINVAL;
    }
    if (req->n_topics > NS_REGISTER_TOPICS_MAX) {
        set_err(err, errcap, "%zu topics in one registration; at most %d", req->n_topics,
                NS_REGISTER_TOPICS_MAX);
        return RILL_EINVAL;
    }
    for (size_t i = 0; i < req->n_topics; i++) {
        const Rill__TopicConfig *tc = req->topics[i];
        if (tc == NULL || !ns_topic_name_valid(tc->topic_name)) {
            set_err(err, errcap, "illegal topic name '%.*s'", NS_TOPIC_LEN_MAX,
                    tc && tc->topic_name ? tc->topic_name : "");
            return RILL_EINVAL;
        }
        if (tc->read_queue_nums < 0 || tc->read_queue_nums > NS_QUEUE_NUMS_MAX ||
            tc->write_queue_nums < 0 || tc->write_queue_nums > NS_QUEUE_NUMS_MAX) {
            set_err(err, errcap, "topic '%s': queue counts %d/%d outside [0, %d]", tc->topic_name,
                    tc->read_queue_nums, tc->write_queue_nums, NS_QUEUE_NUMS_MAX);
            return RILL_EINVAL;
        }
        if (tc->perm < 0 || tc->perm > 7) {
            set_err(err, errcap, "topic '%s': perm %d outside [0, 7]", tc->topic_name, tc->perm);
            return RILL_EINVAL;
        }
    }
    if (req->n_topics < 2)
        return 0;
    const char **names = malloc(req->n_topics * sizeof(*names));
    if (names == NULL)
        return ENOMEM;
    for (size_t i = 0; i < req->n_topics; i++)
        names[i] = req->topics[i]->topic_name;
    qsort(names, req->n_topics, sizeof(*names), str_cmp_ptr);
    rc = 0;
    for (size_t i = 1; i < req->n_topics; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            set_err(err, errcap, "topic '%s' appears twice", names[i]);
            rc = RILL_EINVAL;
            break;
        }
    }
    free(names);
    return rc;
}

static bool same_identity(const ns_broker_t *b, const Rill__RegisterBrokerRequest *req)
{
    return b->broker_id == req->broker_id && strcmp(b->broker_name, req->broker_name) == 0 &&
           strcmp(b->cluster, req->cluster_name) == 0;
}

int ns_route_register(ns_route_table_t *rt, const Rill__RegisterBrokerRequest *req,
                      uint32_t pipe_id, uint64_t now_ms, ns_arena_t *arena,
                      Rill__RegisterBrokerResponse *out, char *err, size_t errcap)
{
    int rc = validate_register(req, err, errcap);
    if (rc != 0)
        return rc;
    int64_t dv_ts = req->data_version ? req->data_version->timestamp_ms : 0;
    int64_t dv_counter = req->data_version ? req->data_version->counter : 0;
    bool master = req->broker_id == 0;
    bool topics_needed = false;
    const char *master_addr = NULL, *master_ha = NULL;

    pthread_rwlock_wrlock(&rt->lock);
    ns_broker_t *by_addr = find_by_addr(rt, req->broker_addr);
    ns_broker_t *by_slot = find_by_name_id(rt, req->broker_name, req->broker_id);
    /* A broker name lives in one cluster. Processes about to be replaced
     * below do not count: a lone broker may move to another cluster. */
    for (size_t i = 0; i < rt->nbrokers; i++) {
        ns_broker_t *b = &rt->brokers[i];
        if (b == by_addr || b == by_slot || strcmp(b->broker_name, req->broker_name) != 0)
            continue;
        if (strcmp(b->cluster, req->cluster_name) != 0) {
            set_err(err, errcap, "broker name '%s' is registered in cluster '%s'", b->broker_name,
                    b->cluster);
            rc = RILL_EINVAL;
            goto out;
        }
    }
    /* Room for the topics this registration may add, checked before any
     * change. Removing a broker name's old table only frees room. */
    bool cheap = by_addr != NULL && same_identity(by_addr, req) && by_addr->version_known &&
                 by_addr->dv_timestamp_ms == dv_ts && by_addr->dv_counter == dv_counter;
    if (master && !cheap && req->n_topics > 0) {
        size_t added = 0;
        for (size_t i = 0; i < req->n_topics; i++)
            if (find_topic(rt, rt->ntopics, req->topics[i]->topic_name) == NULL)
                added++;
        if (rt->ntopics + added > NS_TOPICS_MAX) {
            set_err(err, errcap, "%zu new topics would exceed %d topics", added, NS_TOPICS_MAX);
            rc = RILL_EBUSY;
            goto out;
        }
    }
    ns_broker_t *b = NULL;
    if (by_addr != NULL && same_identity(by_addr, req)) {
        b = by_addr;
    } else {
        bool freed = by_addr != NULL || by_slot != NULL;
        if (!freed && rt->nbrokers == NS_BROKERS_MAX) {
            set_err(err, errcap, "%d brokers registered; no room for another", NS_BROKERS_MAX);
            rc = RILL_EBUSY;
            goto out;
        }
        /* remove_broker() swaps entries around: remove by_slot by identity
         * after by_addr is gone, not through a stale pointer. */
        if (by_addr != NULL)
            remove_broker(rt, by_addr, "its address registered as another broker");
        by_slot = find_by_name_id(rt, req->broker_name, req->broker_id);
        if (by_slot != NULL)
            remove_broker(rt, by_slot, "another address registered with its name and id");
        b = &rt->brokers[rt->nbrokers++];
        memset(b, 0, sizeof(*b));
        snprintf(b->cluster, sizeof(b->cluster), "%s", req->cluster_name);
        snprintf(b->broker_name, sizeof(b->broker_name), "%s", req->broker_name);
        snprintf(b->addr, sizeof(b->addr), "%s", req->broker_addr);
        b->broker_id = req->broker_id;
        b->version_known = false;
        LOG_INFO(LOG_MOD, "broker %s id %" PRId64 " at %s (cluster %s, %s) registered",
                 req->broker_name, req->broker_id, req->broker_addr, req->cluster_name,
                 req->broker_role[0] ? req->broker_role : "no role");
        /* First contact without topics: ask for them (the broker believes we
         * hold its version; after a restart or an expiry we do not). */
        if (master && req->n_topics == 0) {
            topics_needed = true;
            dv_ts = dv_counter = 0;
        }
    }
    if (cheap) {
        /* Unchanged: the cheap path; topics sent, if any, are ignored. */
        assert(b == by_addr);
    } else if (!topics_needed) {
        if (master && (rc = apply_topics(rt, b->broker_name, req)) != 0) {
            b->version_known = false;
            set_err(err, errcap, "out of memory applying %zu topics", req->n_topics);
        } else {
            b->version_known = true;
            b->dv_timestamp_ms = dv_ts;
            b->dv_counter = dv_counter;
            if (master)
                LOG_DEBUG(LOG_MOD, "broker %s: %zu topics at data version %" PRId64 "/%" PRId64,
                          b->broker_name, req->n_topics, dv_ts, dv_counter);
        }
    }
    snprintf(b->ha_addr, sizeof(b->ha_addr), "%s", req->ha_server_addr);
    snprintf(b->role, sizeof(b->role), "%s", req->broker_role);
    b->last_seen_ms = now_ms;
    b->pipe_id = pipe_id;

    if (!master) {
        ns_broker_t *m = find_by_name_id(rt, req->broker_name, 0);
        if (m != NULL) {
            master_addr = ns_arena_strdup(arena, m->addr);
            master_ha = ns_arena_strdup(arena, m->ha_addr);
            if (master_addr == NULL || master_ha == NULL) {
                rc = ENOMEM;
                goto out;
            }
        }
    }
out:
    pthread_rwlock_unlock(&rt->lock);
    if (rc == 0) {
        out->topics_needed = topics_needed;
        if (master_addr != NULL) {
            out->master_addr = (char *)master_addr;
            out->ha_server_addr = (char *)master_ha;
        }
    }
    return rc;
}

int ns_route_unregister(ns_route_table_t *rt, const char *cluster, const char *broker_name,
                        int64_t broker_id, const char *addr)
{
    int rc = RILL_ENOTFOUND;
    pthread_rwlock_wrlock(&rt->lock);
    ns_broker_t *b = find_by_addr(rt, addr ? addr : "");
    if (b != NULL && b->broker_id == broker_id && strcmp(b->broker_name, broker_name) == 0 &&
        strcmp(b->cluster, cluster) == 0) {
        remove_broker(rt, b, "unregistered");
        rc = 0;
    }
    pthread_rwlock_unlock(&rt->lock);
    return rc;
}

int ns_route_expire(ns_route_table_t *rt, uint64_t now_ms, uint64_t expiry_ms)
{
    int dropped = 0;
    pthread_rwlock_wrlock(&rt->lock);
    /* Backwards: remove_broker() swaps the last entry into the hole. */
    for (size_t i = rt->nbrokers; i-- > 0;) {
        ns_broker_t *b = &rt->brokers[i];
        if (now_ms > b->last_seen_ms && now_ms - b->last_seen_ms > expiry_ms) {
            char why[96];
            snprintf(why, sizeof(why), "not seen for %" PRIu64 " ms", now_ms - b->last_seen_ms);
            remove_broker(rt, b, why);
            dropped++;
        }
    }
    pthread_rwlock_unlock(&rt->lock);
    return dropped;
}

int ns_route_drop_pipe(ns_route_table_t *rt, uint32_t pipe_id)
{
    int dropped = 0;
    if (pipe_id == 0)
        return 0;
    pthread_rwlock_wrlock(&rt->lock);
    for (size_t i = rt->nbrokers; i-- > 0;) {
        if (rt->brokers[i].pipe_id == pipe_id) {
            remove_broker(rt, &rt->brokers[i], "its connection closed");
            dropped++;
        }
    }
    pthread_rwlock_unlock(&rt->lock);
    return dropped;
}

int ns_route_delete_topic(ns_route_table_t *rt, const char *topic)
{
    int rc = RILL_ENOTFOUND;
    pthread_rwlock_wrlock(&rt->lock);
    ns_topic_t *t = find_topic(rt, rt->ntopics, topic ? topic : "");
    if (t != NULL) {
        size_t i = (size_t)(t - rt->topics);
        free(t->queues);
        memmove(&rt->topics[i], &rt->topics[i + 1], (rt->ntopics - i - 1) * sizeof(*t));
        rt->ntopics--;
        rc = 0;
    }
    pthread_rwlock_unlock(&rt->lock);
    if (rc == 0)
        LOG_INFO(LOG_MOD, "topic %s deleted from the routes", topic);
    return rc;
}

/* ---- lookups that build replies; callers hold the read lock ---- */

/* A BrokerData with the addresses of every live process of broker_name. */
static Rill__BrokerData *build_broker_data(ns_route_table_t *rt, const char *broker_name,
                                           ns_arena_t *arena)
{
    size_t n = 0;
    const char *cluster = NULL;
    for (size_t i = 0; i < rt->nbrokers; i++) {
        if (strcmp(rt->brokers[i].broker_name, broker_name) == 0) {
            n++;
            cluster = rt->brokers[i].cluster;
        }
    }
    Rill__BrokerData *bd = ns_arena_alloc(arena, sizeof(*bd));
    Rill__BrokerAddr **addrs = ns_arena_alloc(arena, n * sizeof(*addrs));
    if (bd == NULL || addrs == NULL)
        return NULL;
    rill__broker_data__init(bd);
    bd->broker_name = ns_arena_strdup(arena, broker_name);
    bd->cluster_name = ns_arena_strdup(arena, cluster ? cluster : "");
    if (bd->broker_name == NULL || bd->cluster_name == NULL)
        return NULL;
    bd->addrs = addrs;
    for (size_t i = 0; i < rt->nbrokers; i++) {
        const ns_broker_t *b = &rt->brokers[i];
        if (strcmp(b->broker_name, broker_name) != 0)
            continue;
        Rill__BrokerAddr *a = ns_arena_alloc(arena, sizeof(*a));
        if (a == NULL)
            return NULL;
        rill__broker_addr__init(a);
        a->broker_id = b->broker_id;
        if ((a->addr = ns_arena_strdup(arena, b->addr)) == NULL)
            return NULL;
        addrs[bd->n_addrs++] = a;
    }
    return bd;
}

int ns_route_get(ns_route_table_t *rt, const char *topic, ns_arena_t *arena,
                 Rill__TopicRouteResponse *out)
{
    int rc = 0;
    pthread_rwlock_rdlock(&rt->lock);
    ns_topic_t *t = find_topic(rt, rt->ntopics, topic ? topic : "");
    if (t == NULL) {
        rc = RILL_ETOPIC;
        goto out;
    }
    assert(t->nqueues > 0);
    Rill__QueueData **qds = ns_arena_alloc(arena, t->nqueues * sizeof(*qds));
    Rill__BrokerData **bds = ns_arena_alloc(arena, t->nqueues * sizeof(*bds));
    if (qds == NULL || bds == NULL) {
        rc = ENOMEM;
        goto out;
    }
    size_t nbds = 0;
    for (uint32_t i = 0; i < t->nqueues; i++) {
        const ns_queue_data_t *q = &t->queues[i];
        Rill__QueueData *qd = ns_arena_alloc(arena, sizeof(*qd));
        if (qd == NULL) {
            rc = ENOMEM;
            goto out;
        }
        rill__queue_data__init(qd);
        qd->broker_name = ns_arena_strdup(arena, q->broker_name);
        qd->read_queue_nums = q->read_queue_nums;
        qd->write_queue_nums = q->write_queue_nums;
        qd->perm = q->perm;
        qd->topic_sys_flag = q->topic_sys_flag;
        /* One queue data per broker name, so one broker data each too. */
        Rill__BrokerData *bd = build_broker_data(rt, q->broker_name, arena);
        if (qd->broker_name == NULL || bd == NULL) {
            rc = ENOMEM;
            goto out;
        }
        qds[i] = qd;
        bds[nbds++] = bd;
    }
    rill__topic_route_response__init(out);
    out->n_queue_datas = t->nqueues;
    out->queue_datas = qds;
    out->n_broker_datas = nbds;
    out->broker_datas = bds;
out:
    pthread_rwlock_unlock(&rt->lock);
    return rc;
}

int ns_route_cluster_info(ns_route_table_t *rt, ns_arena_t *arena, Rill__ClusterInfoResponse *out)
{
    int rc = ENOMEM;
    pthread_rwlock_rdlock(&rt->lock);
    size_t nb = rt->nbrokers;
    /* At most one entry per process: sized for the worst case. */
    Rill__BrokerData **bds = ns_arena_alloc(arena, nb * sizeof(*bds));
    Rill__ClusterData **cds = ns_arena_alloc(arena, nb * sizeof(*cds));
    if (bds == NULL || cds == NULL)
        goto out;
    size_t nbds = 0, ncds = 0;
    for (size_t i = 0; i < nb; i++) {
        const ns_broker_t *b = &rt->brokers[i];
        /* First process of its broker name? Then emit the name. */
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            if (strcmp(rt->brokers[j].broker_name, b->broker_name) == 0)
                first = false;
        if (!first)
            continue;
        if ((bds[nbds++] = build_broker_data(rt, b->broker_name, arena)) == NULL)
            goto out;
        Rill__ClusterData *cd = NULL;
        for (size_t j = 0; j < ncds; j++)
            if (strcmp(cds[j]->cluster_name, b->cluster) == 0)
                cd = cds[j];
        if (cd == NULL) {
            if ((cd = ns_arena_alloc(arena, sizeof(*cd))) == NULL)
                goto out;
            rill__cluster_data__init(cd);
            cd->cluster_name = ns_arena_strdup(arena, b->cluster);
            cd->broker_names = ns_arena_alloc(arena, nb * sizeof(char *));
            if (cd->cluster_name == NULL || cd->broker_names == NULL)
                goto out;
            cds[ncds++] = cd;
        }
        if ((cd->broker_names[cd->n_broker_names++] = ns_arena_strdup(arena, b->broker_name)) ==
            NULL)
            goto out;
    }
    rill__cluster_info_response__init(out);
    out->n_brokers = nbds;
    out->brokers = bds;
    out->n_clusters = ncds;
    out->clusters = cds;
    rc = 0;
out:
    pthread_rwlock_unlock(&rt->lock);
    return rc;
}

int ns_route_all_topics(ns_route_table_t *rt, ns_arena_t *arena, Rill__TopicNamesResponse *out)
{
    int rc = ENOMEM;
    pthread_rwlock_rdlock(&rt->lock);
    char **names = ns_arena_alloc(arena, rt->ntopics * sizeof(*names));
    if (names == NULL)
        goto out;
    for (size_t i = 0; i < rt->ntopics; i++)
        if ((names[i] = ns_arena_strdup(arena, rt->topics[i].name)) == NULL)
            goto out;
    rill__topic_names_response__init(out);
    out->n_topics = rt->ntopics;
    out->topics = names;
    rc = 0;
out:
    pthread_rwlock_unlock(&rt->lock);
    return rc;
}

size_t ns_route_broker_count(ns_route_table_t *rt)
{
    pthread_rwlock_rdlock(&rt->lock);
    size_t n = rt->nbrokers;
    pthread_rwlock_unlock(&rt->lock);
    return n;
}

size_t ns_route_topic_count(ns_route_table_t *rt)
{
    pthread_rwlock_rdlock(&rt->lock);
    size_t n = rt->ntopics;
    pthread_rwlock_unlock(&rt->lock);
    return n;
}
