/*
 * producer_route.c - the route a send uses, including the first send to a
 * topic no broker has yet.
 *
 * The NameServers only route topics that brokers registered, so a topic a
 * broker would auto-create (autoCreateTopicEnable) has no route before its
 * first message. RocketMQ's producer then uses the route of the template
 * topic TBW102; Rill's brokers register no template, so the producer asks
 * the NameServers for every master (GET_BROKER_CLUSTER_INFO) and builds a
 * stand-in route with one pseudo-queue per master whose queue id is -1:
 * SEND_MESSAGE with queue id -1 lets the broker pick a queue. A broker that
 * auto-creates stores the message, creates the topic and registers it, and
 * the next lookup finds the real route; one that does not answers
 * TOPIC_NOT_EXIST, which the send loop turns into RILL_ETOPIC naming the
 * topic.
 *
 * The stand-in is allocated the way route.c allocates routes (calloc'd
 * struct, sets and write queues) so rc_route_release() frees it like any
 * other; it is never cached.
 */
#include "client/src/producer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RocketMQ's topic name rule, as the broker checks it (topics_check_name). */
static bool topic_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > RILL_TOPIC_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '%' || c == '|' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int set_cmp(const void *a, const void *b)
{
    return strcmp(((const rc_broker_set_t *)a)->name, ((const rc_broker_set_t *)b)->name);
}

/* A stand-in route for topic: every master the NameServers list. */
static int autocreate_route(rill_producer_t *p, const char *topic, rc_route_t **out)
{
    Rill__GetClusterInfoRequest body = RILL__GET_CLUSTER_INFO_REQUEST__INIT;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__GET_BROKER_CLUSTER_INFO;
    req.body_case = RILL__REQUEST__BODY_GET_CLUSTER_INFO;
    req.get_cluster_info = &body;
    Rill__Response *resp = NULL;
    int rc = rc_namesrv_call(p->cli, &req, 0, &resp);
    if (rc != 0)
        return rc;
    rc_route_t *r = NULL;
    if (resp->code != RILL__RESPONSE_CODE__SUCCESS ||
        resp->body_case != RILL__RESPONSE__BODY_CLUSTER_INFO) {
        rc = RILL_ENOROUTE;
        goto out;
    }
    const Rill__ClusterInfoResponse *ci = resp->cluster_info;
    size_t n = ci->n_brokers < RC_BROKERS_MAX ? ci->n_brokers : RC_BROKERS_MAX;
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    atomic_init(&r->refs, 1);
    if (n && ((r->sets = calloc(n, sizeof(*r->sets))) == NULL ||
              (r->write_queues = calloc(n, sizeof(*r->write_queues))) == NULL)) {
        rc = ENOMEM;
        goto out;
    }
    snprintf(r->topic, sizeof(r->topic), "%s", topic);
    for (size_t i = 0; i < n; i++) {
        const Rill__BrokerData *bd = ci->brokers[i];
        const char *master = NULL;
        for (size_t a = 0; a < bd->n_addrs && master == NULL; a++)
            if (bd->addrs[a]->broker_id == 0 && bd->addrs[a]->addr &&
                strlen(bd->addrs[a]->addr) < RC_ADDR_BYTES)
                master = bd->addrs[a]->addr;
        if (master == NULL || bd->broker_name == NULL || bd->broker_name[0] == '\0' ||
            strlen(bd->broker_name) >= sizeof(r->sets[0].name))
            continue;
        rc_broker_set_t *s = &r->sets[r->n_sets++];
        snprintf(s->name, sizeof(s->name), "%s", bd->broker_name);
        snprintf(s->cluster, sizeof(s->cluster), "%s", bd->cluster_name ? bd->cluster_name : "");
        s->n_addrs = 1;
        s->ids[0] = 0;
        snprintf(s->addrs[0], RC_ADDR_BYTES, "%s", master);
        s->perm = 6;
        s->write_queue_nums = 1;
    }
    if (r->n_sets == 0) {
        rc = RILL_ENOROUTE;
        goto out;
    }
    qsort(r->sets, r->n_sets, sizeof(*r->sets), set_cmp); /* rc_route_set() bsearches */
    for (size_t i = 0; i < r->n_sets; i++) {
        rill_queue_t *q = &r->write_queues[r->n_write++];
        snprintf(q->topic, sizeof(q->topic), "%s", topic);
        snprintf(q->broker_name, sizeof(q->broker_name), "%s", r->sets[i].name);
        q->queue_id = -1; /* the broker picks */
    }
    *out = r;
    r = NULL;
out:
    rc_route_release(r);
    rpc_response_free(resp);
    return rc;
}

int pr_route(rill_producer_t *p, const char *topic, rc_route_t **out)
{
    int rc = rc_route_get(p->cli, topic, false, out);
    if (rc != RILL_ETOPIC || !topic_name_ok(topic))
        return rc;
    char why[512]; /* the lookup's explanation, kept if there is no stand-in either */
    snprintf(why, sizeof(why), "%s", rill_last_error());
    if (autocreate_route(p, topic, out) == 0)
        return 0;
    return rc_fail(RILL_ETOPIC, "%s", why);
}
