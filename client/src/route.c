/*
 * route.c - the topic route cache: GET_ROUTEINFO_BY_TOPIC from a
 * NameServer, turned into an immutable, refcounted rc_route_t.
 *
 * The cache is an array of entries sorted by topic (bsearch; at most
 * RC_ROUTES_MAX), each holding one reference to the topic's current route.
 * A reader takes its own reference under route_lock and uses the route
 * without any lock; a refresh builds a new route and swaps it in, so a
 * route never changes after it is built. A refreshed route equal to the
 * cached one is dropped (the cached one and its version stay); a different
 * one gets the next version, so handles can tell a change by comparing
 * versions.
 *
 * The timer thread refreshes every route asked for within RC_ROUTE_IDLE_MS,
 * every route.refresh.ms, and drops the others. Fetches happen with no lock
 * held; two threads missing the same topic at once both fetch it, and the
 * second swap finds an equal route.
 *
 * Queues are listed by broker set name, then queue id. Writable queues are
 * those of sets with the write perm (2) and a master (id 0); readable ones
 * those of sets with the read perm (4), master or not.
 */
#include "client/src/client_int.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "route"

#define RC_PERM_WRITE 2
#define RC_PERM_READ  4
/* Queues of one topic on one broker set (= the broker's BROKER_QUEUE_NUMS_MAX). */
#define RC_SET_QUEUES_MAX 1024
/* Broker sets of one topic's route. */
#define RC_ROUTE_SETS_MAX 256
/* Addresses of one broker set (rc_broker_set_t.addrs). */
#define RC_SET_ADDRS_MAX (sizeof(((rc_broker_set_t *)0)->addrs) / RC_ADDR_BYTES)

static void route_free(rc_route_t *r)
{
    if (r == NULL)
        return;
    free(r->sets);
    free(r->write_queues);
    free(r->read_queues);
    free(r);
}

void rc_route_release(rc_route_t *r)
{
    if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1)
        route_free(r);
}

const rc_broker_set_t *rc_route_set(const rc_route_t *r, const char *broker_name)
{
    size_t lo = 0, hi = r->n_sets;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->sets[mid].name, broker_name);
        if (c == 0)
            return &r->sets[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int set_cmp(const void *a, const void *b)
{
    return strcmp(((const rc_broker_set_t *)a)->name, ((const rc_broker_set_t *)b)->name);
}

/* Build a route from a TopicRouteResponse. RILL_ETOPIC when it names no usable set. */
static int route_build(const char *topic, const Rill__TopicRouteResponse *tr, rc_route_t **out)
{
    rc_route_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return rc_fail(ENOMEM, "out of memory for a route");
    int rc = 0;
    atomic_init(&r->refs, 1);
    snprintf(r->topic, sizeof(r->topic), "%s", topic);
    size_t n_q = tr->n_queue_datas < RC_ROUTE_SETS_MAX ? tr->n_queue_datas : RC_ROUTE_SETS_MAX;
    if (n_q > 0) {
        r->sets = calloc(n_q, sizeof(*r->sets));
        if (r->sets == NULL) {
            rc = rc_fail(ENOMEM, "out of memory for a route");
            goto fail;
        }
    }
    /* one set per QueueData that has a BrokerData (addresses) */
    for (size_t i = 0; i < n_q; i++) {
        const Rill__QueueData *qd = tr->queue_datas[i];
        if (qd->broker_name == NULL || qd->broker_name[0] == '\0' ||
            strlen(qd->broker_name) >= sizeof(r->sets[0].name))
            continue;
        const Rill__BrokerData *bd = NULL;
        for (size_t j = 0; j < tr->n_broker_datas && bd == NULL; j++)
            if (tr->broker_datas[j]->broker_name &&
                strcmp(tr->broker_datas[j]->broker_name, qd->broker_name) == 0)
                bd = tr->broker_datas[j];
        if (bd == NULL || bd->n_addrs == 0)
            continue;
        bool dup = false;
        for (size_t k = 0; k < r->n_sets && !dup; k++)
            dup = strcmp(r->sets[k].name, qd->broker_name) == 0;
        if (dup)
            continue;
        if (qd->read_queue_nums < 0 || qd->read_queue_nums > RC_SET_QUEUES_MAX ||
            qd->write_queue_nums < 0 || qd->write_queue_nums > RC_SET_QUEUES_MAX) {
            rc = rc_fail(RILL_ECORRUPT, "route of \"%s\": %s has %d/%d queues, at most %d", topic,
                         qd->broker_name, qd->read_queue_nums, qd->write_queue_nums,
                         RC_SET_QUEUES_MAX);
            goto fail;
        }
        rc_broker_set_t *s = &r->sets[r->n_sets];
        snprintf(s->name, sizeof(s->name), "%s", qd->broker_name);
        snprintf(s->cluster, sizeof(s->cluster), "%s", bd->cluster_name ? bd->cluster_name : "");
        s->perm = qd->perm;
        s->read_queue_nums = qd->read_queue_nums;
        s->write_queue_nums = qd->write_queue_nums;
        /* addresses sorted by broker id (insertion sort: at most 8) */
        for (size_t a = 0; a < bd->n_addrs && s->n_addrs < RC_SET_ADDRS_MAX; a++) {
            const Rill__BrokerAddr *ba = bd->addrs[a];
            if (ba->addr == NULL || ba->addr[0] == '\0' || strlen(ba->addr) >= RC_ADDR_BYTES ||
                ba->broker_id < 0)
                continue;
            size_t at = s->n_addrs;
            while (at > 0 && s->ids[at - 1] > ba->broker_id) {
                s->ids[at] = s->ids[at - 1];
                memcpy(s->addrs[at], s->addrs[at - 1], RC_ADDR_BYTES);
                at--;
            }
            s->ids[at] = ba->broker_id;
            memset(s->addrs[at], 0, RC_ADDR_BYTES);
            snprintf(s->addrs[at], RC_ADDR_BYTES, "%s", ba->addr);
            s->n_addrs++;
        }
        if (s->n_addrs == 0) {
            memset(s, 0, sizeof(*s));
            continue;
        }
        r->n_sets++;
    }
    if (r->n_sets == 0) {
        rc = rc_fail(RILL_ETOPIC, "topic \"%s\" not found (no broker serves it)", topic);
        goto fail;
    }
    qsort(r->sets, r->n_sets, sizeof(*r->sets), set_cmp);

    size_t nw = 0, nr = 0;
    for (size_t i = 0; i < r->n_sets; i++) {
        const rc_broker_set_t *s = &r->sets[i];
        if ((s->perm & RC_PERM_WRITE) && rc_set_addr(s, 0) != NULL)
            nw += (size_t)s->write_queue_nums;
        if (s->perm & RC_PERM_READ)
            nr += (size_t)s->read_queue_nums;
    }
    r->write_queues = nw ? calloc(nw, sizeof(rill_queue_t)) : NULL;
    r->read_queues = nr ? calloc(nr, sizeof(rill_queue_t)) : NULL;
    if ((nw && r->write_queues == NULL) || (nr && r->read_queues == NULL)) {
        rc = rc_fail(ENOMEM, "out of memory for a route");
        goto fail;
    }
    for (size_t i = 0; i < r->n_sets; i++) {
        const rc_broker_set_t *s = &r->sets[i];
        if ((s->perm & RC_PERM_WRITE) && rc_set_addr(s, 0) != NULL) {
            for (int32_t q = 0; q < s->write_queue_nums; q++) {
                rill_queue_t *wq = &r->write_queues[r->n_write++];
                snprintf(wq->topic, sizeof(wq->topic), "%s", topic);
                snprintf(wq->broker_name, sizeof(wq->broker_name), "%s", s->name);
                wq->queue_id = q;
            }
        }
        if (s->perm & RC_PERM_READ) {
            for (int32_t q = 0; q < s->read_queue_nums; q++) {
                rill_queue_t *rq = &r->read_queues[r->n_read++];
                snprintf(rq->topic, sizeof(rq->topic), "%s", topic);
                snprintf(rq->broker_name, sizeof(rq->broker_name), "%s", s->name);
                rq->queue_id = q;
            }
        }
    }
    assert(r->n_write == nw && r->n_read == nr);
    *out = r;
    return 0;
fail:
    route_free(r);
    return rc;
}

/* Same sets, addresses, perms and queues? (The buffers are zero-filled, so memcmp works.) */
static bool route_equal(const rc_route_t *a, const rc_route_t *b)
{
    return a->n_sets == b->n_sets && a->n_write == b->n_write && a->n_read == b->n_read &&
           memcmp(a->sets, b->sets, a->n_sets * sizeof(*a->sets)) == 0 &&
           (a->n_write == 0 ||
            memcmp(a->write_queues, b->write_queues, a->n_write * sizeof(rill_queue_t)) == 0) &&
           (a->n_read == 0 ||
            memcmp(a->read_queues, b->read_queues, a->n_read * sizeof(rill_queue_t)) == 0);
}

/* Ask a NameServer for topic's route. */
static int route_fetch(rc_client_t *cli, const char *topic, rc_route_t **out)
{
    Rill__GetRouteInfoRequest body = RILL__GET_ROUTE_INFO_REQUEST__INIT;
    body.topic = (char *)topic;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_ROUTEINFO_BY_TOPIC;
    req.body_case = RILL__REQUEST__BODY_GET_ROUTE_INFO;
    req.get_route_info = &body;
    Rill__Response *resp = NULL;
    int rc = rc_namesrv_call(cli, &req, 0, &resp);
    if (rc != 0)
        return rc;
    if (resp->code == RILL__RESPONSE_CODE__TOPIC_NOT_EXIST) {
        rc = rc_fail(RILL_ETOPIC, "topic \"%s\" not found (TOPIC_NOT_EXIST)", topic);
    } else if (resp->code != RILL__RESPONSE_CODE__SUCCESS) {
        rc = rc_response_error(resp, "NameServer");
    } else if (resp->body_case != RILL__RESPONSE__BODY_TOPIC_ROUTE || resp->topic_route == NULL) {
        rc = rc_fail(RILL_ECORRUPT, "NameServer answered the route of \"%s\" without a route",
                     topic);
    } else {
        rc = route_build(topic, resp->topic_route, out);
    }
    rpc_response_free(resp);
    return rc;
}

/* Index of topic's entry, or where it would go (*found false); route_lock held. */
static size_t route_find(const rc_client_t *cli, const char *topic, bool *found)
{
    size_t lo = 0, hi = cli->n_routes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(cli->routes[mid]->topic, topic);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/*
 * Put a fetched route in the cache (or keep the cached one when equal) and
 * return the cache's current route with a hold for the caller. Takes over
 * fresh's reference. touch: count as a use.
 */
static rc_route_t *route_swap(rc_client_t *cli, rc_route_t *fresh, bool touch)
{
    rc_route_t *drop = NULL, *cur;
    pthread_mutex_lock(&cli->route_lock);
    bool found;
    size_t i = route_find(cli, fresh->topic, &found);
    if (found) {
        rc_route_entry_t *e = cli->routes[i];
        if (route_equal(e->route, fresh)) {
            drop = fresh;
        } else {
            fresh->version = e->route->version + 1;
            drop = e->route;
            e->route = fresh;
            LOG_DEBUG(LOG_MOD,
                      "route of %s changed (version %llu): %zu sets, %zu write queues, %zu "
                      "read queues",
                      fresh->topic, (unsigned long long)fresh->version, fresh->n_sets,
                      fresh->n_write, fresh->n_read);
        }
        if (touch)
            e->last_used_ms = rill_mono_ms();
        cur = e->route;
    } else {
        rc_route_entry_t *e = NULL;
        fresh->version = 1;
        if (cli->n_routes < RC_ROUTES_MAX && (e = malloc(sizeof(*e))) != NULL) {
            snprintf(e->topic, sizeof(e->topic), "%s", fresh->topic);
            e->route = fresh;
            e->last_used_ms = rill_mono_ms();
            memmove(&cli->routes[i + 1], &cli->routes[i],
                    (cli->n_routes - i) * sizeof(cli->routes[0]));
            cli->routes[i] = e;
            cli->n_routes++;
            cur = fresh;
        } else {
            /* table full: the caller gets the route uncached (fetched every time) */
            pthread_mutex_unlock(&cli->route_lock);
            return fresh;
        }
    }
    atomic_fetch_add(&cur->refs, 1);
    pthread_mutex_unlock(&cli->route_lock);
    rc_route_release(drop);
    return cur;
}

/* Drop topic's entry (the topic went away). */
static void route_forget(rc_client_t *cli, const char *topic)
{
    rc_route_entry_t *e = NULL;
    pthread_mutex_lock(&cli->route_lock);
    bool found;
    size_t i = route_find(cli, topic, &found);
    if (found) {
        e = cli->routes[i];
        memmove(&cli->routes[i], &cli->routes[i + 1],
                (cli->n_routes - i - 1) * sizeof(cli->routes[0]));
        cli->n_routes--;
    }
    pthread_mutex_unlock(&cli->route_lock);
    if (e != NULL) {
        rc_route_release(e->route);
        free(e);
    }
}

int rc_route_get(rc_client_t *cli, const char *topic, bool refresh, rc_route_t **out)
{
    if (topic == NULL || topic[0] == '\0' || strlen(topic) > RILL_TOPIC_BYTES_MAX)
        return rc_fail(RILL_ETOPIC, "illegal topic name \"%s\"", topic ? topic : "(null)");
    if (!refresh) {
        pthread_mutex_lock(&cli->route_lock);
        bool found;
        size_t i = route_find(cli, topic, &found);
        if (found) {
            rc_route_entry_t *e = cli->routes[i];
            e->last_used_ms = rill_mono_ms();
            atomic_fetch_add(&e->route->refs, 1);
            *out = e->route;
            pthread_mutex_unlock(&cli->route_lock);
            return 0;
        }
        pthread_mutex_unlock(&cli->route_lock);
    }
    rc_route_t *fresh = NULL;
    int rc = route_fetch(cli, topic, &fresh);
    if (rc == RILL_ETOPIC)
        route_forget(cli, topic);
    if (rc != 0)
        return rc;
    *out = route_swap(cli, fresh, true);
    return 0;
}

/* Timer task: refresh routes in use, drop idle ones. */
static void route_refresh_task(void *arg)
{
    rc_client_t *cli = arg;
    char(*topics)[RILL_TOPIC_BYTES_MAX + 1] = NULL;
    size_t n = 0;
    uint64_t now = rill_mono_ms();

    pthread_mutex_lock(&cli->route_lock);
    size_t total = cli->n_routes;
    if (total > 0)
        topics = malloc(total * sizeof(*topics));
    for (size_t i = 0; topics != NULL && i < total; i++)
        memcpy(topics[n++], cli->routes[i]->topic, sizeof(topics[0]));
    pthread_mutex_unlock(&cli->route_lock);

    for (size_t i = 0; i < n; i++) {
        bool idle = false, found;
        pthread_mutex_lock(&cli->route_lock);
        size_t at = route_find(cli, topics[i], &found);
        if (found)
            idle = now - cli->routes[at]->last_used_ms > RC_ROUTE_IDLE_MS;
        pthread_mutex_unlock(&cli->route_lock);
        if (!found)
            continue;
        if (idle) {
            route_forget(cli, topics[i]);
            continue;
        }
        rc_route_t *fresh = NULL;
        int rc = route_fetch(cli, topics[i], &fresh);
        if (rc == 0) {
            rc_route_release(route_swap(cli, fresh, false));
        } else if (rc == RILL_ETOPIC) {
            /* keep serving the last route: a namesrv that lost its brokers for a moment
             * must not stop producers; a deleted topic fails at the broker instead */
            LOG_DEBUG(LOG_MOD, "refresh of %s: %s", topics[i], rill_last_error());
        } else {
            LOG_DEBUG(LOG_MOD, "refresh of %s failed: %s", topics[i], rill_last_error());
        }
    }
    free(topics);
}

int rc_route_start(rc_client_t *cli)
{
    int id =
        rc_client_every(cli, (uint32_t)cli->conf->route_refresh_ms, false, route_refresh_task, cli);
    if (id < 0)
        return id;
    cli->route_task = id;
    return 0;
}

void rc_route_close(rc_client_t *cli)
{
    for (size_t i = 0; i < cli->n_routes; i++) {
        rc_route_release(cli->routes[i]->route);
        free(cli->routes[i]);
    }
    cli->n_routes = 0;
}
