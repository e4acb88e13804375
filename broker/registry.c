/*
 * registry.c - registration with every namesrv in namesrvAddr (';'
 * separated): the "register" thread sends REGISTER_BROKER with the whole
 * topic table to each namesrv every registerNameServerPeriod ms and soon
 * after a topic change (registry_kick), and UNREGISTER_BROKER to each at
 * shutdown. Each namesrv has its own rpc_client; a namesrv that is down only
 * costs a logged warning and a timed-out call (BROKER_NAMESRV_CALL_MS).
 * The data version is the topic table's change counter, with the broker's
 * start time as its timestamp.
 */
#include "broker/broker.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "rpc/rpc_client.h"
#include "rpc/rpc_codes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD       "register"
#define KICK_DELAY_MS 50 /* coalesce a burst of topic changes into one registration */

struct registry {
    broker_t *b;
    size_t n;
    rpc_client_t *clients[BROKER_NAMESRVS_MAX];
    char addrs[BROKER_NAMESRVS_MAX][128];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, kick;
    pthread_t thread;
};

static void register_all(registry_t *r)
{
    broker_t *b = r->b;
    topic_conf_t *all = NULL;
    size_t n = 0;
    if (topics_snapshot(b->topics, &all, &n) != 0)
        return;
    Rill__TopicConfig *tcs = NULL, **ptrs = NULL;
    if (topics_to_proto(all, n, &tcs, &ptrs) != 0)
        goto out;
    char addr[128], ha[128];
    snprintf(addr, sizeof(addr), "%s:%d", b->cfg.broker_ip1, (int)b->cfg.listen_port);
    snprintf(ha, sizeof(ha), "%s:%d", b->cfg.broker_ip1,
             b->cfg.ha_listen_port ? (int)b->cfg.ha_listen_port : (int)b->cfg.listen_port + 1);
    static const char *const role_names[] = {"ASYNC_MASTER", "SYNC_MASTER", "SLAVE"};
    Rill__DataVersion dv = RILL__DATA_VERSION__INIT;
    dv.timestamp_ms = (int64_t)b->start_ms;
    dv.counter = (int64_t)topics_version(b->topics);
    Rill__RegisterBrokerRequest body = RILL__REGISTER_BROKER_REQUEST__INIT;
    body.cluster_name = b->cfg.broker_cluster_name;
    body.broker_name = b->cfg.broker_name;
    body.broker_id = b->cfg.broker_id;
    body.broker_addr = addr;
    body.ha_server_addr = ha;
    body.broker_role = (char *)role_names[b->cfg.broker_role];
    body.data_version = &dv;
    body.n_topics = n;
    body.topics = ptrs;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__REGISTER_BROKER;
    req.body_case = RILL__REQUEST__BODY_REGISTER_BROKER;
    req.register_broker = &body;
    for (size_t i = 0; i < r->n; i++) {
        Rill__Response *resp = NULL;
        int rc = rpc_client_call(r->clients[i], &req, BROKER_NAMESRV_CALL_MS, &resp);
        if (rc != 0)
            LOG_WARN(LOG_MOD, "register with %s failed: %s", r->addrs[i], rill_strerror(rc));
        else if (resp->code != RILL__RESPONSE_CODE__SUCCESS)
            LOG_WARN(LOG_MOD, "register with %s: %s %s", r->addrs[i],
                     rpc_response_code_name(resp->code), resp->remark);
        else if (resp->body_case == RILL__RESPONSE__BODY_REGISTER_BROKER &&
                 resp->register_broker->ha_server_addr &&
                 resp->register_broker->ha_server_addr[0])
            ha_glue_master_learned(b, resp->register_broker->ha_server_addr);
        else
            LOG_DEBUG(LOG_MOD, "registered with %s (%zu topics)", r->addrs[i], n);
        rpc_response_free(resp);
    }
out:
    free(ptrs);
    free(tcs);
    free(all);
}

static void unregister_all(registry_t *r)
{
    broker_t *b = r->b;
    char addr[128];
    snprintf(addr, sizeof(addr), "%s:%d", b->cfg.broker_ip1, (int)b->cfg.listen_port);
    Rill__UnregisterBrokerRequest body = RILL__UNREGISTER_BROKER_REQUEST__INIT;
    body.cluster_name = b->cfg.broker_cluster_name;
    body.broker_name = b->cfg.broker_name;
    body.broker_id = b->cfg.broker_id;
    body.broker_addr = addr;
    Rill__Request req = RILL__REQUEST__INIT;
    req.code = RILL__REQUEST_CODE__UNREGISTER_BROKER;
    req.body_case = RILL__REQUEST__BODY_UNREGISTER_BROKER;
    req.unregister_broker = &body;
    for (size_t i = 0; i < r->n; i++) {
        Rill__Response *resp = NULL;
        int rc = rpc_client_call(r->clients[i], &req, 1000, &resp);
        if (rc != 0)
            LOG_WARN(LOG_MOD, "unregister from %s failed: %s", r->addrs[i], rill_strerror(rc));
        rpc_response_free(resp);
    }
}

static void *registry_main(void *arg)
{
    registry_t *r = arg;
    pthread_setname_np(pthread_self(), "register");
    uint64_t period = (uint64_t)r->b->cfg.register_name_server_period;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        pthread_mutex_unlock(&r->lock);
        register_all(r);
        pthread_mutex_lock(&r->lock);
        uint64_t next = rill_mono_ms() + period;
        while (!r->stop && !r->kick && rill_mono_ms() < next) {
            struct timespec ts;
            rill_deadline_after_ms(&ts, next - rill_mono_ms());
            pthread_cond_timedwait(&r->cond, &r->lock, &ts);
        }
        if (r->kick && !r->stop) {
            struct timespec ts;
            rill_deadline_after_ms(&ts, KICK_DELAY_MS);
            pthread_cond_timedwait(&r->cond, &r->lock, &ts);
        }
        r->kick = false;
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int registry_start(registry_t **out, broker_t *b)
{
    *out = NULL;
    if (b->cfg.namesrv_addr[0] == '\0') {
        LOG_INFO(LOG_MOD, "namesrvAddr is empty: not registering anywhere");
        return 0;
    }
    registry_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return ENOMEM;
    r->b = b;
    char list[sizeof(b->cfg.namesrv_addr)];
    snprintf(list, sizeof(list), "%s", b->cfg.namesrv_addr);
    char *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(list, "; ", &save); tok; tok = strtok_r(NULL, "; ", &save)) {
        if (r->n == BROKER_NAMESRVS_MAX) {
            LOG_WARN(LOG_MOD, "more than %d namesrvs; ignoring %s", BROKER_NAMESRVS_MAX, tok);
            continue;
        }
        char url[160];
        snprintf(r->addrs[r->n], sizeof(r->addrs[r->n]), "%s", tok);
        snprintf(url, sizeof(url), "tcp://%s", tok);
        rc = rpc_client_open(&r->clients[r->n], url, NULL);
        if (rc != 0) {
            LOG_ERROR(LOG_MOD, "bad namesrv address '%s': %s", tok, rill_strerror(rc));
            goto fail;
        }
        r->n++;
    }
    pthread_mutex_init(&r->lock, NULL);
    rill_cond_init_monotonic(&r->cond);
    rc = pthread_create(&r->thread, NULL, registry_main, r);
    if (rc != 0) {
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        goto fail;
    }
    *out = r;
    return 0;
fail:
    for (size_t i = 0; i < r->n; i++)
        rpc_client_close(r->clients[i]);
    free(r);
    return rc;
}

void registry_kick(registry_t *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->kick = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void registry_stop(registry_t *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    unregister_all(r);
    for (size_t i = 0; i < r->n; i++)
        rpc_client_close(r->clients[i]);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
