/*
 * admin.h - what the admin sources share (internal, not installed): the
 * handle, one checked broker call, the cluster table, the list of masters a
 * request goes to, and small validators.
 *
 * The admin API (rill_admin_*) is split by concern:
 *   admin.c         handle lifecycle, calls, cluster info, target brokers
 *   admin_topics.c  topics, routes, queue status, clusters, broker stats
 *   admin_groups.c  consumer groups, progress, offset reset
 *   admin_query.c   message queries (by id, key, time, queue offset)
 *
 * Every function is synchronous and makes its calls one after another on
 * the caller's thread; an rill_admin_t has no state beyond its client, so
 * any number of threads may use one at once.
 */
#ifndef RILL_CLIENT_ADMIN_H
#define RILL_CLIENT_ADMIN_H

#include "client/src/core.h"

#include "proto/common.pb-c.h"

#include <stdbool.h>
#include <stddef.h>

/** Broker addresses one admin request fans out to. */
#define ADM_TARGETS_MAX RC_BROKERS_MAX

struct rill_admin {
    rill_conf_t *conf; /* owned; borrowed by cli */
    rc_client_t *cli;
};

/** A request with its code and version set and no body. */
void adm_request_init(Rill__Request *req, Rill__RequestCode code);

/**
 * Call a broker (rc_broker_call) and check the answer: a code other than
 * SUCCESS becomes rc_response_error()'s code; a SUCCESS without the body
 * case `body` (0: any) becomes RILL_ECORRUPT.
 * @param[out] out  the Response on success (free with rpc_response_free());
 *                  may be NULL when the caller only needs the code.
 * @return 0; the rc_fail'd error.
 */
int adm_broker_call(rill_admin_t *a, const char *addr, Rill__Request *req, int body,
                    Rill__Response **out);

/** As adm_broker_call(), to the current NameServer (rc_namesrv_call). */
int adm_namesrv_call(rill_admin_t *a, Rill__Request *req, int body, Rill__Response **out);

/**
 * The cluster table (GET_BROKER_CLUSTER_INFO).
 * @param[out] out  the Response; out->cluster_info is set.
 */
int adm_cluster_info(rill_admin_t *a, Rill__Response **out);

/** Broker addresses an admin request goes to: unique, in a stable order. */
typedef struct adm_targets {
    size_t n;
    char addr[ADM_TARGETS_MAX][RC_ADDR_BYTES];
    char name[ADM_TARGETS_MAX][64]; /* broker name of each */
} adm_targets_t;

/**
 * The masters (broker id 0) of a cluster, or of every cluster when cluster
 * is NULL, sorted by broker name. A broker set with no live master is
 * skipped.
 * @return 0 (t->n may be 0 only when cluster is NULL); RILL_ENOTFOUND
 *         (no such cluster, rc_fail'd); RILL_EUNAVAIL (the cluster has no
 *         live master); errors of the NameServer call.
 */
int adm_cluster_masters(rill_admin_t *a, const char *cluster, adm_targets_t *t);

/**
 * Send a create-or-update request (topic, group) to its targets: every
 * master of `cluster`, or the one broker at broker_addr (exactly one of the
 * two must be given), in order, stopping at the first failure.
 * @return 0; RILL_EINVAL (neither or both, bad address); ENOMEM;
 *         adm_cluster_masters() and adm_broker_call() errors.
 */
int adm_call_create_targets(rill_admin_t *a, const char *cluster, const char *broker_addr,
                            Rill__Request *req);

/**
 * The address to read a set from (rc_set_read_addr), rc_fail'ing
 * RILL_EUNAVAIL when the set has none.
 */
int adm_read_addr(rill_admin_t *a, const rc_broker_set_t *s, const char **addr);

/** The master address of a set, rc_fail'ing RILL_EUNAVAIL when it has none. */
int adm_master_addr(const rc_broker_set_t *s, const char **addr);

/** A fresh route of a topic (rc_route_get with refresh). RILL_ETOPIC when no broker serves it. */
int adm_route(rill_admin_t *a, const char *topic, rc_route_t **out);

/** Does name match RocketMQ's topic and group rule ^[%|a-zA-Z0-9_-]+$ with at most max bytes? */
bool adm_name_ok(const char *name, size_t max);

#endif
