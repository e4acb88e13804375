/*
 * route_table.h - the namesrv's whole state: which brokers are alive and
 * which topics they serve (RocketMQ's RouteInfoManager).
 *
 *   clusters     cluster name -> broker names            (derived from brokers)
 *   brokers      one entry per live broker process, keyed by its address:
 *                cluster, broker name, broker id (0 = master), HA address,
 *                role, data version, last registration time, connection
 *   topics       topic -> queue data per broker name (read/write queue
 *                counts, perm, sys flag), sorted by topic name
 *
 * Rules, RocketMQ's unless marked:
 *   - Only a master's (broker id 0) registration sets its broker name's
 *     topics; slaves serve the topics of their master.
 *   - A registration whose data version equals the one held for that
 *     broker is cheap: it refreshes liveness and ignores any topics sent.
 *     Otherwise the topics sent are the broker's whole table and replace
 *     what its broker name had (Rill: RocketMQ 4 never removes a topic a
 *     broker stopped sending).
 *   - A registration without topics from a broker the table does not hold
 *     (first contact, after expiry, or after a namesrv restart) is answered
 *     "topics needed" and recorded with no data version, so the broker's
 *     resend is applied whatever it carries, an empty table included.
 *   - A broker name belongs to one cluster; a broker name/id pair to one
 *     address (a new address replaces the old one).
 *   - When the last live process of a broker name goes (unregister, expiry,
 *     closed connection), that broker name's queue data goes with it, and
 *     a topic with no queue data left is gone.
 *
 * Thread safety: every call may come from any thread; one rwlock guards
 * everything. Lookups copy what they return into a caller's arena under
 * the read lock, so replies are packed and sent with no lock held.
 */
#ifndef RILL_NAMESRV_ROUTE_TABLE_H
#define RILL_NAMESRV_ROUTE_TABLE_H

#include "namesrv/arena.h"
#include "proto/namesrv.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/** Live broker processes held at once; a new one beyond is refused (SYSTEM_BUSY). */
#define NS_BROKERS_MAX 1024
/** Topics held at once; a registration that could exceed it is refused (SYSTEM_BUSY). */
#define NS_TOPICS_MAX 262144
/** Topics in one registration. */
#define NS_REGISTER_TOPICS_MAX 65536
/** Longest cluster or broker name, in bytes without the NUL. */
#define NS_NAME_LEN_MAX 127
/** Longest broker or HA address ("host:port"), in bytes without the NUL. */
#define NS_ADDR_LEN_MAX 127
/** Longest broker role ("ASYNC_MASTER", "SYNC_MASTER", "SLAVE"), in bytes without the NUL. */
#define NS_ROLE_LEN_MAX 31
/** Longest topic name (RocketMQ: 127 characters of [%|a-zA-Z0-9_-]). */
#define NS_TOPIC_LEN_MAX 127
/** Largest read or write queue count of a topic. */
#define NS_QUEUE_NUMS_MAX 1024

typedef struct ns_route_table ns_route_table_t;

/**
 * Create an empty table.
 *
 * @param[out] out  the table; written only on success.
 * @return 0, ENOMEM, or a positive errno of pthread_rwlock_init().
 */
int ns_route_table_create(ns_route_table_t **out);

/** Free the table and everything in it. Accepts NULL. No other call may run. */
void ns_route_table_destroy(ns_route_table_t *rt);

/**
 * Register a broker or refresh its registration (see the rules on top).
 *
 * @param[in]  rt       the table.
 * @param[in]  req      the request; borrowed.
 * @param[in]  pipe_id  the connection it came on (0: none); the broker is
 *                      dropped when ns_route_drop_pipe() names it.
 * @param[in]  now_ms   monotonic time of the registration.
 * @param[in]  arena    holds the strings of out.
 * @param[out] out      master_addr and ha_server_addr (for a slave whose
 *                      master is registered) and topics_needed; written
 *                      only on success. Must be initialised by the caller.
 * @param[out] err      why it failed, for the reply's remark.
 * @param[in]  errcap   size of err.
 * @return 0; RILL_EINVAL (a missing or too long field, a negative broker
 *         id, an illegal or duplicate topic, queue counts or perm out of
 *         range, a broker name registered in another cluster: nothing
 *         changed); RILL_EBUSY (NS_BROKERS_MAX or NS_TOPICS_MAX reached:
 *         nothing changed); ENOMEM (the broker is held with no data version,
 *         so its next registration is applied in full).
 */
int ns_route_register(ns_route_table_t *rt, const Rill__RegisterBrokerRequest *req,
                      uint32_t pipe_id, uint64_t now_ms, ns_arena_t *arena,
                      Rill__RegisterBrokerResponse *out, char *err, size_t errcap);

/**
 * Drop a broker process on its request.
 *
 * @return 0; RILL_ENOTFOUND if no broker with that cluster, name, id and
 *         address is held (nothing changed).
 */
int ns_route_unregister(ns_route_table_t *rt, const char *cluster, const char *broker_name,
                        int64_t broker_id, const char *addr);

/**
 * The route of a topic: its queue data per broker name and the addresses
 * of those broker names' live processes by broker id.
 *
 * @param[out] out  filled with arena memory; written only on success.
 * @return 0; RILL_ETOPIC (no live broker serves the topic); ENOMEM.
 */
int ns_route_get(ns_route_table_t *rt, const char *topic, ns_arena_t *arena,
                 Rill__TopicRouteResponse *out);

/**
 * Every live broker grouped by broker name, and every cluster's broker names.
 *
 * @param[out] out  filled with arena memory; written only on success.
 * @return 0 or ENOMEM.
 */
int ns_route_cluster_info(ns_route_table_t *rt, ns_arena_t *arena, Rill__ClusterInfoResponse *out);

/**
 * The names of every topic held, in byte order.
 *
 * @param[out] out  filled with arena memory; written only on success.
 * @return 0 or ENOMEM.
 */
int ns_route_all_topics(ns_route_table_t *rt, ns_arena_t *arena, Rill__TopicNamesResponse *out);

/**
 * Forget a topic's route (its brokers keep it until they register a table
 * without it; a changed data version brings it back).
 *
 * @return 0; RILL_ENOTFOUND if the topic is not held.
 */
int ns_route_delete_topic(ns_route_table_t *rt, const char *topic);

/**
 * Drop every broker whose last registration is more than expiry_ms before now_ms.
 *
 * @return how many were dropped.
 */
int ns_route_expire(ns_route_table_t *rt, uint64_t now_ms, uint64_t expiry_ms);

/**
 * Drop every broker that registered on the connection pipe_id (it closed).
 *
 * @return how many were dropped.
 */
int ns_route_drop_pipe(ns_route_table_t *rt, uint32_t pipe_id);

/** Live broker processes held now. */
size_t ns_route_broker_count(ns_route_table_t *rt);

/** Topics held now. */
size_t ns_route_topic_count(ns_route_table_t *rt);

/**
 * Whether a topic name is legal: 1 to NS_TOPIC_LEN_MAX characters of
 * [%|a-zA-Z0-9_-] (RocketMQ's rule).
 */
int ns_topic_name_valid(const char *topic);

#endif
