/*
 * broker.h - the rill-broker process: its configuration, its state and the
 * parts that serve requests (topics, send, pull with long polling, admin
 * and queries, registration with the namesrvs).
 *
 * One broker_t owns one store_t and one rpc_server_t. Handlers run on nng's
 * threads and never block: a SYNC_FLUSH send is answered by the flusher
 * (send.c), a pull that finds nothing is parked and answered by the
 * "pull-hold" thread (pull.c). "register" (registry.c) talks to the namesrvs.
 * consumers.c keeps the clients that heartbeat (group membership) and its
 * "client-scan" thread forgets the silent ones.
 */
#ifndef RILL_BROKER_BROKER_H
#define RILL_BROKER_BROKER_H

#include "broker/delay.h"
#include "broker/store/store.h"
#include "common/config.h"
#include "proto/common.pb-c.h"
#include "rpc/rpc_server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define BROKER_TOPIC_BYTES_MAX   127  /* RocketMQ's topic name limit */
#define BROKER_TOPICS_MAX        8192 /* topics one broker serves; more are refused */
#define BROKER_QUEUE_NUMS_MAX    1024 /* read/write queues of one topic */
#define BROKER_BATCH_MSGS_MAX    4096 /* messages in one SEND_BATCH_MESSAGE */
#define BROKER_PULL_MSGS_MAX     1024 /* max_msg_nums of one pull is clamped to this */
#define BROKER_PULL_MSGS_DEFAULT 32
#define BROKER_PARKED_PULLS_MAX  768  /* long polls parked at once; more answer at once */
#define BROKER_RPC_CONTEXTS      1024 /* requests served or parked at once */
#define BROKER_NAMESRVS_MAX      16   /* addresses in namesrvAddr */
#define BROKER_GROUP_BYTES_MAX   255
#define BROKER_QUERY_BYTES_MAX   (8u << 20) /* records returned by one query */
#define BROKER_NAMESRV_CALL_MS   3000
#define BROKER_VERSION           "rill-0.1.0"

/* Client membership (consumers.c). */
#define BROKER_CLIENT_GROUPS_MAX    4096 /* consumer groups (and producer groups) known at once */
#define BROKER_GROUP_MEMBERS_MAX    4096 /* live clients of one group */
#define BROKER_CLIENT_ID_BYTES_MAX  255
#define BROKER_HEARTBEAT_GROUPS_MAX 256  /* producer + consumer groups named by one heartbeat */
#define BROKER_MEMBER_SUBS_MAX      256  /* subscriptions of one consumer in one group */
#define BROKER_SUB_EXPR_BYTES_MAX   4096 /* one subscription expression */

/* Message.sys_flag bits (proto/broker.proto) the broker accepts; others are MESSAGE_ILLEGAL. */
#define BROKER_MSG_SYS_FLAG_COMPRESSED 0x8 /* body is zstd-compressed: RECORD_FLAG_COMPRESSED */
#define BROKER_MSG_SYS_FLAG_TX_PREPARED 0x4 /* half message: RECORD_TX_PREPARED (transaction.c) */
#define BROKER_MSG_SYS_FLAGS_KNOWN \
    (BROKER_MSG_SYS_FLAG_COMPRESSED | BROKER_MSG_SYS_FLAG_TX_PREPARED)

enum broker_role { BROKER_ASYNC_MASTER = 0, BROKER_SYNC_MASTER = 1, BROKER_SLAVE = 2 };

/**
 * Effective configuration. The store's fields come FIRST, so the store keys'
 * offsets (offsetof(store_config_t, ...)) are valid offsets into this struct
 * and one schema (broker keys + store keys) fills both.
 */
typedef struct broker_config {
    store_config_t store;
    char broker_cluster_name[128];          /* brokerClusterName, DefaultCluster */
    char broker_name[64];                   /* brokerName, broker-a */
    int64_t broker_id;                      /* brokerId, 0 = master */
    int broker_role;                        /* brokerRole, enum broker_role */
    char namesrv_addr[1024];                /* namesrvAddr, "a:9876;b:9876", "" = none */
    int64_t listen_port;                    /* listenPort, 10911 */
    char broker_ip1[64];                    /* brokerIP1, 127.0.0.1: address in msgIds and routes */
    char bind_address[64];                  /* bindAddress, 0.0.0.0 */
    bool auto_create_topic_enable;          /* autoCreateTopicEnable, true */
    int64_t default_topic_queue_nums;       /* defaultTopicQueueNums, 4 */
    int64_t register_name_server_period;    /* registerNameServerPeriod, ms, 30000 */
    int64_t broker_suspend_max_time_millis; /* longest long poll, ms, 15000 */
    int64_t channel_expired_timeout_millis; /* forget a client this long after its heartbeat, ms */
    int log_level;                          /* logLevel */
    char log_file[1024];                    /* logFile, "" = stderr */
    int64_t transaction_time_out;           /* transactionTimeOut, ms, 6000: first check-back */
    int64_t transaction_check_interval;     /* transactionCheckInterval, ms, 60000 */
    int64_t transaction_check_max;          /* transactionCheckMax, 15: then roll back */
    int64_t rebalance_lock_max_live_time;   /* rebalanceLockMaxLiveTime, ms, 60000: queue lock lease */
    char message_delay_level[1024];         /* messageDelayLevel, "1s 5s ... 2h" (delay.h) */
    delay_levels_t delay_levels;            /* parsed by broker_config_finish() */
    int64_t ha_listen_port;                 /* haListenPort, 0 = listenPort + 1 (replication/) */
    char ha_master_address[256];            /* haMasterAddress, a slave's master "host:port" */
    int64_t ha_meta_sync_interval;          /* haMetaSyncInterval, ms, 10000 */
    int64_t ha_slave_fallbehind_max;        /* haSlaveFallbehindMax, bytes, 256 MiB */
} broker_config_t;

/**
 * The schema of every broker key: broker keys then store keys. Built once
 * (thread-safe); storePathRootDir's default is "" meaning ./data/<brokerName>,
 * which broker_config_finish() fills in.
 */
const rill_cfg_schema_t *broker_config_schema(void);

/** Fill derived values (data dir, store host). 0 or RILL_ECONFIG with err set. */
int broker_config_finish(broker_config_t *cfg, char *err, size_t errcap);

/* ---- topics (topics.c) ---- */

typedef struct topic_conf {
    char name[BROKER_TOPIC_BYTES_MAX + 1];
    int32_t read_queue_nums, write_queue_nums, perm;
    uint32_t topic_sys_flag;
    bool order;
} topic_conf_t;

typedef struct topics topics_t;

/** Load every topic the store holds. 0 or an error of the store. */
int topics_open(topics_t **out, store_t *store);
void topics_close(topics_t *t);
/** Name rule ^[%|a-zA-Z0-9_-]+$, <= 127 bytes: 0 or RILL_ETOPIC. */
int topics_check_name(const char *name);
/** Names a client may neither create nor send to (TBW102, SCHEDULE_TOPIC_XXXX...). */
bool topics_is_reserved(const char *name);
/** Copy a topic's config; RILL_ENOTFOUND. */
int topics_get(topics_t *t, const char *name, topic_conf_t *out);
/** Create or update and persist; RILL_ETOPIC (name), RILL_EINVAL (counts/perm), RILL_EBUSY (full).
 */
int topics_put(topics_t *t, const topic_conf_t *conf);
/** Get, or create with n queues when auto is set; RILL_ENOTFOUND when not. *created set. */
int topics_get_or_create(topics_t *t, const char *name, bool autocreate, int32_t n,
                         topic_conf_t *out, bool *created);
/** Remove and persist; RILL_ENOTFOUND. */
int topics_delete(topics_t *t, const char *name);
/** A malloc'd copy of every topic (free() it), name order not guaranteed. */
int topics_snapshot(topics_t *t, topic_conf_t **out, size_t *count);

/**
 * The protobuf view of a snapshot, for topic lists and namesrv
 * registration: *tcs_out holds n TopicConfigs whose strings point into
 * `all`, *ptrs_out the array of pointers to them a repeated field wants.
 * Free both with free() (before `all`). 0 or ENOMEM.
 */
int topics_to_proto(const topic_conf_t *all, size_t n, Rill__TopicConfig **tcs_out,
                    Rill__TopicConfig ***ptrs_out);
/** Bumped on every change; the registration's data version. */
uint64_t topics_version(topics_t *t);

/* ---- the broker ---- */

typedef struct pull_hold pull_hold_t;
typedef struct registry registry_t;
typedef struct consumers consumers_t;
typedef struct tx_service tx_service_t;
typedef struct queue_locks queue_locks_t;

typedef struct broker {
    broker_config_t cfg;
    store_t *store;
    topics_t *topics;
    rpc_server_t *rpc;
    pull_hold_t *hold;
    registry_t *_Atomic registry; /* set after the server starts; handlers read it */
    consumers_t *consumers;
    tx_service_t *tx; /* transaction.c */
    queue_locks_t *locks; /* queue_lock.c */
    delay_service_t *delay; /* delay.c; NULL on a slave */
    struct ha_master *ha_master; /* replication/ha.h: on a master */
    struct ha_slave *_Atomic ha_slave; /* on a slave; set late when learned from a namesrv */
    uint64_t start_ms;
    uint32_t store_ip;               /* brokerIP1, host order */
    atomic_uint_fast32_t next_queue; /* round robin for queue_id -1 */
    atomic_bool stopping;
    atomic_uint_fast64_t put_total, get_total;
    pthread_mutex_t tps_lock;
    double put_tps, get_tps; /* sampled by the pull-hold thread every second */
} broker_t;

/* Replication (ha.c): start the HA server (master) or the log shipping thread (slave). */
int ha_glue_start(broker_t *b);
void ha_glue_stop(broker_t *b);
void ha_glue_free(broker_t *b);
/** A namesrv named the master's HA address: a slave without haMasterAddress starts replicating. */
void ha_glue_master_learned(broker_t *b, const char *ha_addr);
/** A client committed an offset here: on a slave, hand it back to the master later. */
void ha_glue_offset_committed(broker_t *b, const char *group, const char *topic,
                              uint32_t queue_id, uint64_t offset);
/** Replication lag for stats: a slave's own, or a master's slave's (see RuntimeStatsResponse). */
void ha_glue_lag(broker_t *b, int64_t *bytes, int64_t *ms, protobuf_c_boolean *connected);
typedef void (*ha_glue_done_fn)(void *arg, int code);
/**
 * SYNC_MASTER: answer a send once a slave has the log up to target. Returns
 * false when this broker is no SYNC_MASTER (answer at once); else done(arg,
 * code) runs exactly once (maybe inside this call) with SUCCESS,
 * FLUSH_SLAVE_TIMEOUT (syncFlushTimeout) or SLAVE_NOT_AVAILABLE (no slave
 * asked within 3 s, or it lags more than haSlaveFallbehindMax bytes).
 */
bool ha_glue_wait_slave(broker_t *b, uint64_t target, ha_glue_done_fn done, void *arg);

/** Open the store, load topics, start the threads and listen. */
int broker_open(broker_t **out, const broker_config_t *cfg);
/** Stop serving: answer parked pulls, unregister, stop, close the store, free. NULL ok. */
void broker_close(broker_t *b);

/* Handler registration of each part (called by broker_open). */
int send_register(broker_t *b);
int admin_register(broker_t *b);
int pull_register(broker_t *b);

/* Long polling (pull.c). */
int pull_hold_start(pull_hold_t **out, broker_t *b);
/** Answer every parked pull with what is there now. */
void pull_hold_release_all(pull_hold_t *h);
/** Stop the thread and answer what is parked; needs the store open. NULL ok. */
void pull_hold_stop(pull_hold_t *h);
/** Free after the store is closed (on_dispatch may run until then). NULL ok. */
void pull_hold_free(pull_hold_t *h);
/** store_config_t.on_dispatch: wake pulls parked on that queue. */
void pull_hold_on_dispatch(void *arg, const char *topic, uint16_t topic_len, uint32_t queue_id,
                           uint64_t max_offset);

/* ---- client membership (consumers.c) ---- */

/**
 * Create the membership tables and start the "client-scan" thread, which
 * drops members expiry_ms after their last heartbeat.
 *
 * @param[out] out        the tables; written only on success.
 * @param[in]  expiry_ms  channelExpiredTimeoutMillis, > 0.
 * @return 0; RILL_EINVAL (expiry_ms 0); ENOMEM or a pthread error.
 */
int consumers_open(consumers_t **out, uint64_t expiry_ms);
/**
 * Register HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP and the
 * connection-closed hook on b->rpc (not started yet) for b->consumers.
 *
 * @return 0 or RILL_EINVAL (server already started).
 */
int consumers_register(broker_t *b);
/**
 * Stop the scan thread and free every table. Call after rpc_server_close():
 * handlers and the connection hook use the tables until then. NULL ok.
 */
void consumers_close(consumers_t *c);

/* ---- transactional messages (transaction.c) ---- */

/**
 * Start the "tx-check" thread, which answers END_TRANSACTION requests one at
 * a time and checks back unresolved half messages with their producer group.
 * Needs b->store open. @return 0; ENOMEM or a pthread error.
 */
int transaction_start(tx_service_t **out, broker_t *b);
/** Register CONSUMER_SEND_MSG_BACK, retry and dead letters (sendback.c). */
int sendback_register(broker_t *b);
/** Register END_TRANSACTION and POLL_TRANSACTION_CHECK (before the server starts). */
int transaction_register(broker_t *b);
/**
 * Stop the thread and answer every parked poll and queued END_TRANSACTION
 * (SERVICE_NOT_AVAILABLE); later requests are answered at once. Needs the
 * store open. NULL ok.
 */
void transaction_stop(tx_service_t *t);
/** Free after rpc_server_close(). NULL ok. */
void transaction_free(tx_service_t *t);
/** Half messages not resolved yet (for the runtime stats); 0 when unknown. */
uint64_t transaction_pending_count(tx_service_t *t);

/* ---- ordered consumption: queue locks (queue_lock.c) ---- */

#define BROKER_QUEUE_LOCKS_MAX 65536 /* locks held at once; more answer SYSTEM_BUSY */
#define BROKER_LOCK_BATCH_MAX  4096  /* queues in one LOCK/UNLOCK_BATCH_MQ */

/**
 * Create the lock table: one holder (client id) per (group, topic, queue),
 * each lock valid lease_ms after it was last taken or renewed.
 * @return 0; RILL_EINVAL (lease_ms 0); ENOMEM.
 */
int queue_locks_open(queue_locks_t **out, uint64_t lease_ms);
/** Register LOCK_BATCH_MQ and UNLOCK_BATCH_MQ (before the server starts). */
int queue_locks_register(broker_t *b);
/** Release every lock taken over connection pipe_id (the connection closed). NULL ok. */
void queue_locks_pipe_closed(queue_locks_t *l, uint32_t pipe_id);
/** Release every lock client_id holds in group (it unregistered). NULL ok. */
void queue_locks_release_client(queue_locks_t *l, const char *group, const char *client_id);
/** Free after rpc_server_close(): handlers use the table until then. NULL ok. */
void queue_locks_close(queue_locks_t *l);

/* Registration (registry.c). */
int registry_start(registry_t **out, broker_t *b);
/** Ask for a registration soon (topics changed). NULL ok. */
void registry_kick(registry_t *r);
/** Unregister from every namesrv, stop the thread, free. NULL ok. */
void registry_stop(registry_t *r);

/* Helpers shared by the handlers (broker.c). */
int broker_reply_code(rpc_request_t *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Map a store error to a response code. */
int broker_code_of(int rc);

#endif
