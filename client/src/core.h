/*
 * core.h - what every librill handle is built on (internal, not installed):
 *
 *   conf       struct rill_conf, the typed settings behind rill_conf_set()
 *   last error rc_fail(): set rill_last_error() for this thread, return rc
 *   messages   struct rill_msg; to the wire (Rill__Message) and back from
 *              raw CommitLog records (pull replies, queries), zstd inside
 *   client     rc_client_t: one per handle; the NameServer list with
 *              failover, the topic route cache refreshed in the background,
 *              one rpc_client_t per broker address, a timer thread
 *
 * Threads: rc_client_t owns one thread, "rill-timer", that refreshes routes
 * and runs the periodic tasks handles register (heartbeats, rebalances,
 * offset commits). Tasks run one at a time, with no client lock held; they
 * may make synchronous calls. Everything else here is called from the
 * caller's threads and from rpc callbacks, and is thread-safe unless said.
 */
#ifndef RILL_CLIENT_CORE_H
#define RILL_CLIENT_CORE_H

#include "rill.h"

#include "proto/common.pb-c.h"
#include "rpc/rpc_client.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits ---- */
#define RC_NAMESRVS_MAX       16   /* addresses in the namesrv list */
#define RC_ADDR_BYTES         64   /* "ip:port" + NUL, generously */
#define RC_GROUP_BYTES_MAX    255
#define RC_CLIENT_ID_BYTES    128
#define RC_BROKERS_MAX        256  /* broker addresses one client connects to */
#define RC_ROUTES_MAX         4096 /* topics one client caches routes for */
#define RC_TASKS_MAX          16   /* periodic tasks on one client's timer thread */
#define RC_BATCH_MSGS_MAX     4096 /* = the broker's BROKER_BATCH_MSGS_MAX */
#define RC_PROP_BYTES_MAX     32767

/* ---- configuration (conf.c) ---- */

enum rc_message_model { RC_CLUSTERING = 0, RC_BROADCASTING = 1 };
enum rc_consume_from { RC_FROM_LAST = 0, RC_FROM_FIRST = 1, RC_FROM_TIMESTAMP = 2 };

/* Field per key of rill.h's table; filled by common/config.c's schema code. */
struct rill_conf {
    char namesrv[1024];
    char group[RC_GROUP_BYTES_MAX + 1];
    char client_id[RC_CLIENT_ID_BYTES];
    int64_t request_timeout_ms;
    int64_t route_refresh_ms;
    int64_t heartbeat_interval_ms;
    /* producer */
    int64_t send_timeout_ms;
    int64_t send_retries;
    int64_t send_inflight_max;
    int64_t compress_threshold_bytes;
    int64_t compress_level;
    int64_t max_message_bytes;
    /* consumers */
    int message_model;     /* enum rc_message_model */
    int consume_from;      /* enum rc_consume_from */
    int64_t consume_timestamp_ms; /* 0 = now - 30 min at start */
    int64_t consume_threads;
    int64_t consume_batch_size;
    int64_t consume_timeout_ms;
    int64_t pull_batch_size;
    int64_t pull_threshold_queue_msgs;
    int64_t pull_threshold_queue_mb;
    int64_t pull_suspend_ms;
    int64_t rebalance_interval_ms;
    int64_t auto_commit_interval_ms;
    bool enable_auto_commit;
    bool retry_send_back; /* push CLUSTERING: RECONSUME_LATER -> CONSUMER_SEND_MSG_BACK */
    int64_t reconsume_delay_ms;
    int64_t max_reconsume_times;
    int64_t lock_renew_ms; /* orderly push: queue lock renewal (push_consumer.c) */
    char offset_store_dir[1024];
    /* producer: async sends gathered into SEND_BATCH_MESSAGE (producer_linger.c) */
    int64_t linger_ms; /* 0 = every async send alone */
    int64_t batch_size;
    int64_t batch_bytes;
    int log_level; /* rill_log_level_t, applied when a handle opens */
};

/* ---- last error (errors.c) ---- */

/**
 * Record why a call fails for rill_last_error() on this thread and return
 * rc, so error paths read `return rc_fail(RILL_ETOPIC, "topic \"%s\" ...", t);`.
 * fmt NULL records rill_strerror(rc).
 */
int rc_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Clear this thread's last error (calls that succeed need not). */
void rc_clear_error(void);

/**
 * Map a broker or namesrv Response to a Rill code and, unless SUCCESS, record
 * `<remark> (<CODE_NAME>)` via rc_fail() ("topic "X" not found (TOPIC_NOT_EXIST)").
 * SUCCESS -> 0; TOPIC_NOT_EXIST -> RILL_ETOPIC; NO_PERMISSION -> RILL_ENOPERM;
 * MESSAGE_ILLEGAL -> RILL_EILLEGAL; SYSTEM_BUSY -> RILL_EBUSY;
 * SERVICE_NOT_AVAILABLE, SLAVE_NOT_AVAILABLE -> RILL_EUNAVAIL;
 * FLUSH_DISK_TIMEOUT -> RILL_EFLUSHTIMEOUT; QUERY_NOT_FOUND, PULL_NOT_FOUND,
 * SUBSCRIPTION_GROUP_NOT_EXIST -> RILL_ENOTFOUND; PULL_OFFSET_MOVED ->
 * RILL_ERANGE; REQUEST_CODE_NOT_SUPPORTED, VERSION_NOT_SUPPORTED ->
 * RILL_EBROKER; a remark mentioning a full disk -> RILL_EDISKFULL;
 * anything else -> RILL_EBROKER.
 */
int rc_response_error(const Rill__Response *resp, const char *addr);

/* ---- messages (msg.c) ---- */

/* One user property, both strings owned by the message. */
typedef struct rc_prop {
    char *name, *value;
} rc_prop_t;

struct rill_msg {
    char topic[RILL_TOPIC_BYTES_MAX + 1];
    uint8_t *body;             /* owned; decompressed on received messages */
    size_t body_len;
    size_t stored_body_len;    /* as stored (compressed length), received only */
    char *tags, *keys;         /* owned or NULL */
    rc_prop_t *props;          /* user properties incl. UNIQ_KEY; owned */
    size_t n_props, cap_props;
    int delay_level;
    int64_t deliver_time_ms;
    /* set on received messages */
    char msg_id[RILL_MSGID_BYTES + 1]; /* "" when unknown */
    char broker_name[64];
    char born_host[RC_ADDR_BYTES], store_host[RC_ADDR_BYTES];
    int32_t queue_id;
    int64_t queue_offset, commitlog_offset;
    int64_t born_ts, store_ts;
    int32_t reconsume_times;
    uint32_t record_flags;
};

/** A fresh 32-hex-digit unique key (time + pid + counter + random), NUL-terminated. */
void rc_unique_key(char out[RILL_MSGID_BYTES + 1]);

/**
 * Everything one encoded Rill__Message points to, owned together; lives
 * while the request that borrows it is being packed (or retried).
 */
typedef struct rc_wire_msg {
    Rill__Message pb;
    Rill__Property **prop_ptrs;
    Rill__Property *prop_items;
    uint8_t *zbody;            /* compressed body when compressed, else NULL */
} rc_wire_msg_t;

/**
 * Fill w from msg: topic, body (zstd-compressed when conf says so; then
 * pb.sys_flag has RC_SYS_FLAG_COMPRESSED), tags, keys, properties, delay,
 * deliver time, born time and host. msg must outlive w.
 * @return 0; RILL_EINVAL (empty body); RILL_ETOOBIG (body above
 *         max.message.bytes); ENOMEM.
 */
int rc_wire_msg_init(rc_wire_msg_t *w, const rill_msg_t *msg, const struct rill_conf *conf);
void rc_wire_msg_free(rc_wire_msg_t *w);

/** Message sys_flag bit meaning "body is zstd-compressed" (= RECORD_FLAG_COMPRESSED). */
#define RC_SYS_FLAG_COMPRESSED 0x8

/**
 * Decode concatenated raw CommitLog records (a pull reply or a query answer)
 * into messages, checking every checksum and decompressing bodies.
 * @param[in]  buf, len     the records.
 * @param[in]  broker_name  stamped on each message (may be NULL).
 * @param[out] out          malloc'd array of *n messages (each freed with
 *                          rill_msg_destroy(), the array with free()); NULL
 *                          when *n is 0.
 * @return 0; RILL_ECORRUPT (a record fails its checks; nothing returned); ENOMEM.
 */
int rc_msgs_from_records(const uint8_t *buf, size_t len, const char *broker_name,
                         rill_msg_t ***out, size_t *n);

/* ---- the client core (client.c, namesrv.c, route.c, brokers.c) ---- */

typedef struct rc_client rc_client_t;

/** One broker set of a route: its name and addresses by broker id. */
typedef struct rc_broker_set {
    char cluster[128];
    char name[64];
    size_t n_addrs;
    int64_t ids[8];
    char addrs[8][RC_ADDR_BYTES];
    int32_t perm;              /* the topic's perm on this set */
    int32_t read_queue_nums, write_queue_nums;
} rc_broker_set_t;

/**
 * A topic's route as fetched from a NameServer. Immutable and refcounted:
 * hold it with rc_route_get(), drop it with rc_route_release().
 */
typedef struct rc_route {
    atomic_int refs;
    char topic[RILL_TOPIC_BYTES_MAX + 1];
    uint64_t version;          /* bumped when a refresh changes the route */
    size_t n_sets;
    rc_broker_set_t *sets;     /* sorted by name */
    size_t n_write, n_read;
    rill_queue_t *write_queues; /* writable queues, sorted by broker name then id */
    rill_queue_t *read_queues;  /* readable queues, same order */
} rc_route_t;

/**
 * Open the core of a handle. Parses conf->namesrv (';' separated host:port;
 * RILL_ECONFIG when empty or malformed), fills conf->client_id when empty,
 * starts "rill-timer". conf is borrowed and must outlive the client.
 */
int rc_client_open(rc_client_t **out, struct rill_conf *conf, char *errstr, size_t errstr_size);

/** Stop the timer thread (waits for a running task), close every connection, free. NULL ok. */
void rc_client_close(rc_client_t *cli);

/** The configuration the client was opened with. */
struct rill_conf *rc_client_conf(rc_client_t *cli);

/**
 * Call a NameServer: the current one, then each other once (round-robin)
 * when the call fails in transport (timeout, refused, reset); a NameServer
 * that answers becomes the current one. timeout_ms per attempt, 0 =
 * request.timeout.ms.
 * @param[out] out  the Response (any code); free with rpc_response_free().
 * @return 0; the transport error of the last attempt (rc_fail'd).
 */
int rc_namesrv_call(rc_client_t *cli, Rill__Request *req, uint32_t timeout_ms,
                    Rill__Response **out);

/**
 * The NameServer list, in configuration order (for requests that must reach
 * every NameServer, such as DELETE_TOPIC_IN_NAMESRV). Writes up to cap
 * addresses; returns how many.
 */
size_t rc_namesrv_addrs(rc_client_t *cli, char (*out)[RC_ADDR_BYTES], size_t cap);

/**
 * The route of a topic: from the cache, or fetched now (then cached and kept
 * fresh every route.refresh.ms by the timer thread while it is used).
 * @param[in] refresh  fetch now even when cached (after a send failure).
 * @return 0 with *out held; RILL_ETOPIC (no broker serves the topic,
 *         rc_fail'd as `topic "X" not found (TOPIC_NOT_EXIST)`); transport
 *         errors from rc_namesrv_call().
 */
int rc_route_get(rc_client_t *cli, const char *topic, bool refresh, rc_route_t **out);

/** Drop a hold. NULL ok. */
void rc_route_release(rc_route_t *r);

/** The set named broker_name in r, or NULL. */
const rc_broker_set_t *rc_route_set(const rc_route_t *r, const char *broker_name);

/** Address of broker id `id` in a set, or NULL. */
const char *rc_set_addr(const rc_broker_set_t *s, int64_t id);

/**
 * The address to READ a set from: the master (id 0) unless it is marked
 * unreachable (rc_broker_mark_down() within the last 10 s) and a slave
 * exists, then the lowest slave id. NULL when the set has no address.
 */
const char *rc_set_read_addr(rc_client_t *cli, const rc_broker_set_t *s);

/**
 * The connection to a broker, opened on first use and kept until the client
 * closes (so the pointer stays valid that long).
 * @return 0; RILL_EBUSY (RC_BROKERS_MAX addresses); RILL_EINVAL (bad address); ENOMEM.
 */
int rc_broker_conn(rc_client_t *cli, const char *addr, rpc_client_t **out);

/** Remember that addr failed in transport (for rc_set_read_addr()); a success clears it. */
void rc_broker_mark_down(rc_client_t *cli, const char *addr);
void rc_broker_mark_up(rc_client_t *cli, const char *addr);

/**
 * Synchronous call to a broker. Transport failures are rc_fail'd with the
 * address ("no answer from 127.0.0.1:10911 within 3000 ms") and mark the
 * broker down; a Response of any code returns 0 and marks it up.
 * timeout_ms 0 = request.timeout.ms.
 */
int rc_broker_call(rc_client_t *cli, const char *addr, Rill__Request *req, uint32_t timeout_ms,
                   Rill__Response **out);

/**
 * Every broker address (masters and slaves) of every route the client has
 * cached, for heartbeats. Writes up to cap addresses; returns how many.
 */
size_t rc_client_broker_addrs(rc_client_t *cli, char (*out)[RC_ADDR_BYTES], size_t cap);

/**
 * Run fn(arg) on the timer thread every period_ms (first run after
 * period_ms, or at once when `now` is set). Tasks run one at a time.
 * @return a task id >= 0; RILL_EBUSY (RC_TASKS_MAX tasks).
 */
int rc_client_every(rc_client_t *cli, uint32_t period_ms, bool now, void (*fn)(void *), void *arg);

/** Run task id soon (next timer tick, within 10 ms). */
void rc_client_kick(rc_client_t *cli, int task_id);

/**
 * Remove a task; when this returns the task is not running and never will.
 * @remark Not from the task itself.
 */
void rc_client_cancel(rc_client_t *cli, int task_id);

#endif
