/*
 * admin.c - the admin handle and what every admin request shares: one
 * checked call (transport errors and non-SUCCESS codes both end up in
 * rill_last_error(), so the CLI can print it as is), the cluster table,
 * and the brokers a request fans out to.
 *
 * An admin handle is an rc_client_t and nothing else: no background work
 * beyond the core's route refresh, no state between calls, so it is
 * thread-safe for free. Requests go to masters (writes) or to a set's read
 * address (reads: the master, or a slave while the master is down).
 */
#include "client/src/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rill_admin_new(rill_admin_t **out, rill_conf_t *conf, char *errstr, size_t errstr_size)
{
    if (out == NULL) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "out is NULL");
        return rc_fail(RILL_EINVAL, "rill_admin_new: out is NULL");
    }
    rill_admin_t *a = calloc(1, sizeof(*a));
    rill_conf_t *own = NULL;
    if (a == NULL)
        goto nomem;
    if (conf == NULL) {
        own = rill_conf_new();
        if (own == NULL)
            goto nomem;
    }
    a->conf = conf ? conf : own;
    int rc = rc_client_open(&a->cli, a->conf, errstr, errstr_size);
    if (rc != 0) {
        rill_conf_destroy(own);
        free(a);
        return rc;
    }
    *out = a;
    return 0;
nomem:
    free(a);
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "out of memory");
    return rc_fail(ENOMEM, "out of memory");
}

void rill_admin_destroy(rill_admin_t *a)
{
    if (a == NULL)
        return;
    rc_client_close(a->cli);
    rill_conf_destroy(a->conf);
    free(a);
}

void adm_request_init(Rill__Request *req, Rill__RequestCode code)
{
    rill__request__init(req);
    req->code = code;
    req->version = 1;
}

/* A non-SUCCESS code or a missing body; frees resp in both cases. */
static int check_response(Rill__Response *resp, const char *addr, int body)
{
    if (resp->code != RILL__RESPONSE_CODE__SUCCESS) {
        int rc = rc_response_error(resp, addr);
        rpc_response_free(resp);
        return rc;
    }
    if (body != 0 && (int)resp->body_case != body) {
        rpc_response_free(resp);
        return rc_fail(RILL_ECORRUPT, "%s answered SUCCESS without the expected body", addr);
    }
    return 0;
}

int adm_broker_call(rill_admin_t *a, const char *addr, Rill__Request *req, int body,
                    Rill__Response **out)
{
    Rill__Response *resp = NULL;
    int rc = rc_broker_call(a->cli, addr, req, 0, &resp);
    if (rc != 0)
        return rc;
    rc = check_response(resp, addr, body);
    if (rc != 0)
        return rc;
    if (out)
        *out = resp;
    else
        rpc_response_free(resp);
    return 0;
}

int adm_namesrv_call(rill_admin_t *a, Rill__Request *req, int body, Rill__Response **out)
{
    Rill__Response *resp = NULL;
    int rc = rc_namesrv_call(a->cli, req, 0, &resp);
    if (rc != 0)
        return rc;
    rc = check_response(resp, "the NameServer", body);
    if (rc != 0)
        return rc;
    if (out)
        *out = resp;
    else
        rpc_response_free(resp);
    return 0;
}

int adm_cluster_info(rill_admin_t *a, Rill__Response **out)
{
    Rill__Request req;
    Rill__GetClusterInfoRequest body = RILL__GET_CLUSTER_INFO_REQUEST__INIT;
    adm_request_init(&req, RILL__REQUEST_CODE__GET_BROKER_CLUSTER_INFO);
    req.body_case = RILL__REQUEST__BODY_GET_CLUSTER_INFO;
    req.get_cluster_info = &body;
    return adm_namesrv_call(a, &req, RILL__RESPONSE__BODY_CLUSTER_INFO, out);
}

static bool targets_has(const adm_targets_t *t, const char *addr)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->addr[i], addr) == 0)
            return true;
    return false;
}

static int targets_add(adm_targets_t *t, const char *addr, const char *name)
{
    if (targets_has(t, addr))
        return 0;
    if (t->n == ADM_TARGETS_MAX)
        return rc_fail(RILL_ETOOBIG, "more than %d brokers", ADM_TARGETS_MAX);
    snprintf(t->addr[t->n], sizeof(t->addr[t->n]), "%s", addr);
    snprintf(t->name[t->n], sizeof(t->name[t->n]), "%s", name);
    t->n++;
    return 0;
}

static int cmp_brokerdata(const void *x, const void *y)
{
    const Rill__BrokerData *a = *(Rill__BrokerData *const *)x;
    const Rill__BrokerData *b = *(Rill__BrokerData *const *)y;
    return strcmp(a->broker_name, b->broker_name);
}

int adm_cluster_masters(rill_admin_t *a, const char *cluster, adm_targets_t *t)
{
    Rill__Response *resp = NULL;
    int rc = adm_cluster_info(a, &resp);
    if (rc != 0)
        return rc;
    const Rill__ClusterInfoResponse *ci = resp->cluster_info;
    if (ci->n_brokers > 1)
        qsort(ci->brokers, ci->n_brokers, sizeof(*ci->brokers), cmp_brokerdata);
    t->n = 0;
    size_t sets = 0;
    for (size_t i = 0; i < ci->n_brokers && rc == 0; i++) {
        const Rill__BrokerData *bd = ci->brokers[i];
        if (cluster && strcmp(bd->cluster_name, cluster) != 0)
            continue;
        sets++;
        for (size_t j = 0; j < bd->n_addrs; j++)
            if (bd->addrs[j]->broker_id == 0 && bd->addrs[j]->addr[0])
                rc = targets_add(t, bd->addrs[j]->addr, bd->broker_name);
    }
    if (rc == 0 && cluster && sets == 0)
        rc = rc_fail(RILL_ENOTFOUND, "cluster \"%s\" not found", cluster);
    else if (rc == 0 && cluster && t->n == 0)
        rc = rc_fail(RILL_EUNAVAIL, "cluster \"%s\" has no live master", cluster);
    rpc_response_free(resp);
    return rc;
}

static int create_targets(rill_admin_t *a, const char *cluster, const char *broker_addr,
                          adm_targets_t *t)
{
    bool has_cluster = cluster && cluster[0], has_addr = broker_addr && broker_addr[0];
    if (has_cluster == has_addr)
        return rc_fail(RILL_EINVAL, "give either a cluster or a broker address, not %s",
                       has_cluster ? "both" : "neither");
    if (has_cluster)
        return adm_cluster_masters(a, cluster, t);
    if (strlen(broker_addr) >= RC_ADDR_BYTES || strchr(broker_addr, ':') == NULL)
        return rc_fail(RILL_EINVAL, "bad broker address \"%s\": expected ip:port", broker_addr);
    t->n = 0;
    return targets_add(t, broker_addr, "");
}

int adm_call_create_targets(rill_admin_t *a, const char *cluster, const char *broker_addr,
                            Rill__Request *req)
{
    adm_targets_t *t = malloc(sizeof(*t));
    if (t == NULL)
        return rc_fail(ENOMEM, "out of memory");
    int rc = create_targets(a, cluster, broker_addr, t);
    for (size_t i = 0; rc == 0 && i < t->n; i++)
        rc = adm_broker_call(a, t->addr[i], req, 0, NULL);
    free(t);
    return rc;
}

int adm_read_addr(rill_admin_t *a, const rc_broker_set_t *s, const char **addr)
{
    const char *r = rc_set_read_addr(a->cli, s);
    if (r == NULL)
        return rc_fail(RILL_EUNAVAIL, "broker %s has no live address", s->name);
    *addr = r;
    return 0;
}

int adm_master_addr(const rc_broker_set_t *s, const char **addr)
{
    const char *m = rc_set_addr(s, 0);
    if (m == NULL)
        return rc_fail(RILL_EUNAVAIL, "broker %s has no live master", s->name);
    *addr = m;
    return 0;
}

int adm_route(rill_admin_t *a, const char *topic, rc_route_t **out)
{
    if (topic == NULL || !adm_name_ok(topic, RILL_TOPIC_BYTES_MAX))
        return rc_fail(RILL_ETOPIC,
                       "illegal topic name \"%.127s\": must match "
                       "^[%%|a-zA-Z0-9_-]+$ and have at most %d bytes",
                       topic ? topic : "(null)", RILL_TOPIC_BYTES_MAX);
    return rc_route_get(a->cli, topic, true, out);
}

bool adm_name_ok(const char *name, size_t max)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '%' || c == '|';
        if (!ok)
            return false;
    }
    return n > 0 && n <= max;
}
