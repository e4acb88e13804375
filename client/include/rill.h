/*
 * rill.h - librill, the C client of the Rill message broker.
 *
 * This header is the manual. It declares four kinds of handle, all opaque:
 *
 *   rill_producer_t       sends messages (sync, async, oneway, batch, ordered)
 *   rill_push_consumer_t  a group member the library drives: it pulls, calls
 *                         your listener on its thread pool and commits offsets
 *   rill_pull_consumer_t  a "lite" consumer you drive with poll()
 *   rill_admin_t          topics, groups, cluster, stats, offsets, queries
 *
 * and two value types: rill_conf_t (key/value configuration, librdkafka style)
 * and rill_msg_t (one message, built by you or received from a broker).
 *
 * Conventions
 *  - Functions that can fail return int: 0 (RILL_OK) is success, negative
 *    values are RILL_E* codes, positive values are errno values. Describe any
 *    of them with rill_strerror(). The failing call also leaves a one-line
 *    explanation for the calling thread in rill_last_error(), e.g.
 *    `topic "Orders" not found (TOPIC_NOT_EXIST)`.
 *  - Output parameters are written only on success.
 *  - Every destroy function accepts NULL.
 *  - Handles are thread-safe unless a function says otherwise; callbacks run
 *    on library threads and must not destroy the handle that called them.
 *  - Routes come from the NameServers given by the "namesrv" key (default:
 *    $RILL_NAMESRV, then $NAMESRV_ADDR, then 127.0.0.1:9876). One is picked at
 *    random; on failure the next one is tried. Topic routes are refreshed
 *    every route.refresh.ms (30 s).
 *
 * Link with `pkg-config --cflags --libs rill`.
 */
#ifndef RILL_H
#define RILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RILL_VERSION_MAJOR 0
#define RILL_VERSION_MINOR 1
#define RILL_VERSION_PATCH 0
#define RILL_VERSION_STR   "0.1.0"

/** The library's version string, e.g. "0.1.0". */
const char *rill_version(void);

/* ======================================================================== */
/* Errors                                                                   */
/* ======================================================================== */

/*
 * The codes below are shared with the broker's own sources (common/errors.h
 * defines the same enum under the same guard; a unit test keeps them equal).
 */
#ifndef RILL_ERROR_CODES_DEFINED
#define RILL_ERROR_CODES_DEFINED
#define RILL_OK 0
enum rill_error {
    RILL_EINVAL = -20001,        /**< an argument is malformed or out of its range */
    RILL_ENOTFOUND = -20002,     /**< the thing asked for does not exist */
    RILL_ETOOBIG = -20003,       /**< a message, batch or field exceeds its limit */
    RILL_ECORRUPT = -20004,      /**< received bytes fail a format or checksum check */
    RILL_EDISKFULL = -20005,     /**< the broker's disk is above its refuse ratio, or full */
    RILL_EFLUSHTIMEOUT = -20006, /**< a sync flush did not complete within its timeout */
    RILL_EBUSY = -20007,         /**< a bounded queue is full (SYSTEM_BUSY); retry later */
    RILL_ECONFIG = -20008,       /**< unknown configuration key or bad value */
    RILL_ECLOSED = -20009,       /**< the handle is shutting down or closed */
    RILL_ETOPIC = -20010,        /**< topic name is illegal or the topic does not exist */
    RILL_EKV = -20011,           /**< the broker's key-value store failed */
    RILL_ERANGE = -20012,        /**< an offset lies outside the stored range */
    RILL_ENOSPACE = -20013,      /**< a caller-provided buffer is too small */
    RILL_ETIMEDOUT = -20014,     /**< a remote call got no answer within its timeout */
    RILL_ECONNREFUSED = -20015,  /**< no connection to the peer: refused, unreachable, not up */
    RILL_ENET = -20016,          /**< the transport failed: connection reset, protocol error */
    RILL_ENOPERM = -20017,       /**< the broker refused: no permission (NO_PERMISSION) */
    RILL_EBROKER = -20018,       /**< the broker answered an error (SYSTEM_ERROR, ...) */
    RILL_EILLEGAL = -20019,      /**< the broker refused the message (MESSAGE_ILLEGAL) */
    RILL_EUNAVAIL = -20020,      /**< service not available (a slave, shutting down) */
    RILL_ENOROUTE = -20021,      /**< no broker serves the topic (for this operation) */
};
#define RILL_ERROR_FIRST RILL_ENOROUTE
#define RILL_ERROR_LAST  RILL_EINVAL
#endif

/**
 * Describe an error code.
 * @param[in] rc  0, a RILL_E* code or a positive errno value.
 * @return a static string starting with the code's name for RILL_E* codes
 *         ("RILL_ETOPIC: topic not found or illegal"). Never NULL.
 * @remark Thread-safe.
 */
const char *rill_strerror(int rc);

/**
 * The explanation left by the last failing librill call on this thread, e.g.
 * `topic "Orders" not found (TOPIC_NOT_EXIST)` or
 * `no answer from 127.0.0.1:10911 within 3000 ms`. Empty ("") when no call
 * on this thread has failed yet.
 * @return a thread-local string, valid until the next librill call on this
 *         thread. Never NULL.
 */
const char *rill_last_error(void);

/* ======================================================================== */
/* Configuration                                                            */
/* ======================================================================== */

/**
 * Key/value configuration of one handle. Keys (defaults in brackets):
 *
 * Every handle
 *   namesrv                   "host:port;host:port" [$RILL_NAMESRV, $NAMESRV_ADDR, 127.0.0.1:9876]
 *   group                     producer or consumer group [DEFAULT_PRODUCER / required for consumers]
 *   client.id                 instance id in the group ["<hostname>@<pid>@<n>"]
 *   request.timeout.ms        admin, offset and query calls [3000]
 *   route.refresh.ms          how often topic routes are re-read [30000]
 *   heartbeat.interval.ms     heartbeat to every broker of a subscribed topic [10000]
 *   log.level                 DEBUG | INFO | WARN | ERROR: lowest level of librill's log
 *                             lines on stderr; process-wide, set when a handle opens [WARN]
 *
 * Producer
 *   send.timeout.ms           per attempt [3000]
 *   send.retries              extra attempts on another broker after a failure [2]
 *   send.inflight.max         async sends in flight before send_async() says RILL_EBUSY [10000]
 *   compress.threshold.bytes  zstd-compress bodies larger than this; 0 = never [4096]
 *   compress.level            zstd level [3]
 *   max.message.bytes         largest body, and largest batch [4194304]
 *   linger.ms                 async and oneway sends wait up to this long for others to the
 *                             same topic and leave together in one batch request (Kafka's
 *                             linger.ms); 0 = every send alone [5]
 *   batch.size                most sends in one such batch; a full batch leaves at once [512]
 *   batch.bytes               most body bytes in one such batch (and at most
 *                             max.message.bytes); larger bodies are sent alone [262144]
 *
 * Consumers
 *   message.model             CLUSTERING | BROADCASTING [CLUSTERING]
 *   consume.from              LAST_OFFSET | FIRST_OFFSET | TIMESTAMP, for a group
 *                             with no committed offset on a queue [LAST_OFFSET]
 *   consume.timestamp.ms      the TIMESTAMP start, epoch ms [now - 30 min, at start]
 *   consume.threads           push: listener threads [20]
 *   consume.batch.size        push: most messages per listener call [1]
 *   consume.timeout.ms        push: a listener call longer than this is logged [900000]
 *   pull.batch.size           messages per pull request [32]
 *   pull.threshold.queue.msgs stop pulling a queue above this many cached messages [1000]
 *   pull.threshold.queue.mb   ... or above this many MiB cached [100]
 *   pull.suspend.ms           long-poll time a broker may hold an empty pull [15000]
 *   rebalance.interval.ms     periodic rebalance [20000]
 *   auto.commit.interval.ms   offset commit period [5000]
 *   enable.auto.commit        pull consumer: commit polled positions periodically [true]
 *   reconsume.delay.ms        push: delay before a RECONSUME_LATER message is
 *                             delivered again [1000]
 *   max.reconsume.times       push: deliveries after the first before a message is
 *                             given up (to %DLQ%<group>, else logged) [16]
 *   retry.send.back           push CLUSTERING: RECONSUME_LATER sends the message back
 *                             to the broker (%RETRY%<group>, %DLQ%<group>); false =
 *                             redeliver locally only [true]
 *   lock.renew.ms             orderly push: renew the broker's queue locks this often; a
 *                             lock counts as held for 2.5x this long after it was taken
 *                             (keep 2.5x it below the broker's rebalanceLockMaxLiveTime,
 *                             60000) [20000]
 *   offset.store.dir          BROADCASTING: directory of the local offset files, one per
 *                             member: <dir>/<group>/<client.id>.json; set a fixed
 *                             client.id to resume from it after a restart [$HOME/.rill_offsets]
 */
typedef struct rill_conf rill_conf_t;

/** A configuration holding every default. NULL only when out of memory. */
rill_conf_t *rill_conf_new(void);

/** A copy of conf; NULL when out of memory. */
rill_conf_t *rill_conf_dup(const rill_conf_t *conf);

/** Free a configuration. Accepts NULL. */
void rill_conf_destroy(rill_conf_t *conf);

/**
 * Set one key.
 * @param[in]  conf         the configuration.
 * @param[in]  name         a key listed above.
 * @param[in]  value        its value as text.
 * @param[out] errstr       on error, a one-line reason ("unknown key 'foo'",
 *                          "bad value 'x' for key 'send.retries': expected
 *                          an integer in [0, 16]"); may be NULL if size is 0.
 * @param[in]  errstr_size  capacity of errstr.
 * @return 0 or RILL_ECONFIG (conf unchanged).
 * @remark Not thread-safe for the same conf.
 */
int rill_conf_set(rill_conf_t *conf, const char *name, const char *value, char *errstr,
                  size_t errstr_size);

/**
 * Read one key as text.
 * @param[in]     conf      the configuration.
 * @param[in]     name      a key.
 * @param[out]    dst       buffer for the value and its NUL, or NULL to ask the size.
 * @param[in,out] dst_size  in: capacity of dst; out: bytes needed incl. the NUL.
 * @return 0; RILL_ECONFIG for an unknown key; RILL_ENOSPACE when dst is too
 *         small (*dst_size says how much is needed).
 */
int rill_conf_get(const rill_conf_t *conf, const char *name, char *dst, size_t *dst_size);

/* ======================================================================== */
/* Messages                                                                 */
/* ======================================================================== */

/**
 * One message. A message you build is yours: the send functions borrow it
 * (copying what they need before they return) and you destroy it. A message
 * received by a consumer belongs to the consumer unless the function that
 * gave it to you says otherwise.
 */
typedef struct rill_msg rill_msg_t;

/** Largest topic name, in bytes. */
#define RILL_TOPIC_BYTES_MAX 127
/** A msgId is 32 hex digits. */
#define RILL_MSGID_BYTES 32
/** Delay levels 1..18 map to messageDelayLevel on the broker. */
#define RILL_DELAY_LEVEL_MAX 18

/**
 * A new message for topic, with an empty body.
 * @return the message, or NULL when topic is NULL, empty or longer than
 *         RILL_TOPIC_BYTES_MAX, or when out of memory (rill_last_error() says which).
 */
rill_msg_t *rill_msg_new(const char *topic);

/** A deep copy of msg (received fields included), or NULL when out of memory. */
rill_msg_t *rill_msg_dup(const rill_msg_t *msg);

/** Free a message. Accepts NULL. Never free a message a consumer lends you. */
void rill_msg_destroy(rill_msg_t *msg);

/** Copy len bytes as the body. 0, RILL_EINVAL (body NULL with len > 0), ENOMEM. */
int rill_msg_set_body(rill_msg_t *msg, const void *body, size_t len);

/** Set the tag, the filter key (one word, no "||"). NULL or "" clears it. 0, RILL_EINVAL, ENOMEM. */
int rill_msg_set_tags(rill_msg_t *msg, const char *tags);

/**
 * Set the business keys, space-separated; the broker indexes each. NULL or "" clears them.
 * 0, RILL_EINVAL (the bytes \001 or \002), ENOMEM.
 */
int rill_msg_set_keys(rill_msg_t *msg, const char *keys);

/**
 * Set a user property; a second set of the same name replaces the value.
 * @return 0; RILL_EINVAL (empty name, a name reserved by Rill such as TAGS,
 *         KEYS, UNIQ_KEY, DELAY, or a name or value containing the bytes
 *         \001 or \002); ENOMEM.
 */
int rill_msg_set_property(rill_msg_t *msg, const char *name, const char *value);

/**
 * Deliver no earlier than this delay level (1..18, RocketMQ's
 * messageDelayLevel: 1s 5s 10s 30s 1m ...); 0 clears it. 0 or RILL_EINVAL.
 * @remark The broker stores the message at once (durable when the send
 *         succeeds) and delivers it to its topic and queue when due, within
 *         about 100 ms; a level beyond the broker's messageDelayLevel list is
 *         refused with RILL_EILLEGAL. Delayed messages cannot be batched.
 *         The delivered message carries the property DELAY_ORIGIN and no
 *         longer the delay (rill_msg_delay_level() is 0 on it).
 */
int rill_msg_set_delay_level(rill_msg_t *msg, int level);

/**
 * Deliver at this absolute time (epoch ms, at most 40 days ahead; the broker
 * refuses later times with MESSAGE_ILLEGAL, RILL_EILLEGAL; a time in the
 * past is delivered at once); 0 clears it. 0 or RILL_EINVAL (negative).
 * Same remark as rill_msg_set_delay_level(); set a level or a time, not both.
 */
int rill_msg_set_deliver_time(rill_msg_t *msg, int64_t deliver_time_ms);

/** Topic; never NULL. */
const char *rill_msg_topic(const rill_msg_t *msg);
/**
 * Body and its length (decompressed when it was sent compressed); the pointer
 * lives as long as msg. A NUL byte follows the body (not counted in *len), so
 * a text body can be read as a C string; a body may itself contain NULs.
 * NULL (with *len 0) when the body is empty.
 */
const void *rill_msg_body(const rill_msg_t *msg, size_t *len);
/** Tag, or NULL. */
const char *rill_msg_tags(const rill_msg_t *msg);
/** Keys, or NULL. */
const char *rill_msg_keys(const rill_msg_t *msg);
/** A user property, or NULL. Works for Rill's own names too (UNIQ_KEY, ...). */
const char *rill_msg_property(const rill_msg_t *msg, const char *name);
/**
 * Iterate user properties: the i-th (name, value) pair, i from 0.
 * @return 0, or RILL_ENOTFOUND past the last one.
 */
int rill_msg_property_at(const rill_msg_t *msg, size_t i, const char **name, const char **value);
/** Delay level, 0 when none. */
int rill_msg_delay_level(const rill_msg_t *msg);
/** Deliver time in epoch ms, 0 when none. */
int64_t rill_msg_deliver_time(const rill_msg_t *msg);

/* Fields a broker adds; meaningful on received messages only. */

/** Offset msgId (32 hex digits: store host + CommitLog offset), or NULL on an unsent message. */
const char *rill_msg_id(const rill_msg_t *msg);
/** The producer's unique key (UNIQ_KEY property, 32 hex digits), or NULL. */
const char *rill_msg_unique_key(const rill_msg_t *msg);
/** Name of the broker set the message was read from, or NULL. */
const char *rill_msg_broker_name(const rill_msg_t *msg);
/** Queue id, -1 when unknown. */
int32_t rill_msg_queue_id(const rill_msg_t *msg);
/** Offset in its queue, -1 when unknown. */
int64_t rill_msg_queue_offset(const rill_msg_t *msg);
/** Physical offset in the broker's CommitLog, -1 when unknown. */
int64_t rill_msg_commitlog_offset(const rill_msg_t *msg);
/** Time the producer created it (epoch ms); 0 when unknown. */
int64_t rill_msg_born_timestamp(const rill_msg_t *msg);
/** Time the broker stored it (epoch ms); 0 when unknown. */
int64_t rill_msg_store_timestamp(const rill_msg_t *msg);
/** "ip:port" of the producer and of the storing broker ("" when unknown). */
const char *rill_msg_born_host(const rill_msg_t *msg);
const char *rill_msg_store_host(const rill_msg_t *msg);
/** Times this message was delivered before this delivery. */
int32_t rill_msg_reconsume_times(const rill_msg_t *msg);
/** Size of the body as stored (compressed size when it was compressed). */
size_t rill_msg_stored_body_size(const rill_msg_t *msg);

/* ======================================================================== */
/* Queues                                                                   */
/* ======================================================================== */

/** One queue of a topic on one broker set (RocketMQ's MessageQueue). */
typedef struct rill_queue {
    char topic[RILL_TOPIC_BYTES_MAX + 1];
    char broker_name[64];
    int32_t queue_id;
} rill_queue_t;

/* ======================================================================== */
/* Producer                                                                 */
/* ======================================================================== */

typedef struct rill_producer rill_producer_t;

/** What a successful send reports. */
typedef enum rill_send_status {
    RILL_SEND_OK = 0,                   /**< stored (and flushed / replicated as the broker requires) */
    RILL_SEND_FLUSH_DISK_TIMEOUT = 1,   /**< stored, but the SYNC_FLUSH did not finish in time */
    RILL_SEND_FLUSH_SLAVE_TIMEOUT = 2,  /**< stored, but the SYNC_MASTER's slave did not confirm in time */
    RILL_SEND_SLAVE_NOT_AVAILABLE = 3,  /**< stored on a SYNC_MASTER with no usable slave */
} rill_send_status_t;

/** Name of a send status ("SEND_OK", "FLUSH_DISK_TIMEOUT", ...); never NULL. */
const char *rill_send_status_name(rill_send_status_t status);

typedef struct rill_send_result {
    rill_send_status_t status;
    char msg_id[RILL_MSGID_BYTES + 1];     /**< offset msgId given by the broker */
    char unique_key[RILL_MSGID_BYTES + 1]; /**< UNIQ_KEY: the same over every retry */
    char broker_name[64];                  /**< broker set that stored it */
    int32_t queue_id;
    int64_t queue_offset;
    int64_t commitlog_offset;
} rill_send_result_t;

/**
 * Create a producer. It connects lazily: the first send looks up the route.
 * @param[out] out          the producer, written on success.
 * @param[in]  conf         configuration; the producer takes ownership ON
 *                          SUCCESS ONLY (do not touch it after); on failure
 *                          it stays yours. NULL means every default.
 * @param[out] errstr       reason on failure; may be NULL if errstr_size is 0.
 * @param[in]  errstr_size  capacity of errstr.
 * @return 0; RILL_ECONFIG (e.g. unparsable namesrv list); ENOMEM.
 */
int rill_producer_new(rill_producer_t **out, rill_conf_t *conf, char *errstr, size_t errstr_size);

/**
 * Wait until every async send has completed (its callback has returned).
 * @param[in] timeout_ms  how long to wait; < 0 means forever.
 * @return 0; RILL_ETIMEDOUT with sends still in flight.
 */
int rill_producer_flush(rill_producer_t *p, int timeout_ms);

/**
 * Flush with no time limit (every callback runs), then free. Accepts NULL.
 * @remark Not from a send callback.
 */
void rill_producer_destroy(rill_producer_t *p);

/**
 * Send one message and wait for the broker's answer.
 *
 * The producer picks the next writable queue round-robin over every broker
 * set serving the topic. A failed attempt (no answer in send.timeout.ms, no
 * connection, broker busy, or a broker-side error other than a refusal of the
 * message itself) is retried up to send.retries times, preferring another
 * broker set; every attempt carries the same UNIQ_KEY, so a retried message
 * that had in fact been stored is stored twice but with one unique key.
 *
 * @param[in]  p    the producer.
 * @param[in]  msg  the message; borrowed. The producer sets its UNIQ_KEY
 *                  property if it has none (visible in msg afterwards).
 * @param[out] res  the result; may be NULL.
 * @return 0 (check res->status); RILL_EINVAL (no body); RILL_ETOOBIG (body
 *         above max.message.bytes); RILL_ETOPIC (no such topic and the
 *         broker does not auto-create it, or an illegal name); RILL_ENOPERM;
 *         RILL_EILLEGAL; RILL_ETIMEDOUT / RILL_ECONNREFUSED / RILL_ENET
 *         (after the last retry); RILL_EBUSY; RILL_EDISKFULL; RILL_EBROKER;
 *         RILL_ECLOSED; ENOMEM.
 * @remark Thread-safe.
 */
int rill_producer_send(rill_producer_t *p, rill_msg_t *msg, rill_send_result_t *res);

/**
 * Completion of an async send; runs exactly once per accepted send.
 * @param[in] err     0 on success, else as rill_producer_send() returns.
 * @param[in] res     the result when err is 0, else NULL; valid during the call.
 * @param[in] opaque  the pointer given to rill_producer_send_async().
 * @remark Runs on a library thread. It may send again (async) but must not
 *         call rill_producer_flush() or rill_producer_destroy().
 */
typedef void (*rill_send_cb)(int err, const rill_send_result_t *res, void *opaque);

/**
 * Start sending one message; cb reports the end (with retries as for
 * rill_producer_send()). Many sends may be in flight at once, from any
 * number of threads.
 * @param[in] msg  borrowed: encoded before this returns; the producer sets
 *                 its UNIQ_KEY if missing.
 * @return 0 (cb will run); RILL_EINVAL; RILL_ETOOBIG; RILL_EBUSY (already
 *         send.inflight.max sends in flight, or no free call slot on the
 *         chosen broker's connection within send.timeout.ms); RILL_ETOPIC,
 *         RILL_ENOROUTE and the NameServer call errors of a route lookup;
 *         RILL_ECLOSED; ENOMEM. cb never runs when this fails. Route lookups
 *         may block this call the first time a topic is used, and so does a
 *         connection with every call slot (4096) in use: the call waits for
 *         one, up to send.timeout.ms, as RocketMQ's async send does.
 * @remark With linger.ms > 0 (the default) the send joins its topic's open
 *         batch, which leaves as one SEND_BATCH_MESSAGE when it holds
 *         batch.size sends or batch.bytes of bodies, linger.ms after its
 *         first send, or at rill_producer_flush() / _destroy(). The broker
 *         stores a batch in one queue at consecutive offsets; each send keeps
 *         its UNIQ_KEY and gets its own result. A failed batch is retried as
 *         a whole and every callback of it gets the same error; the broker
 *         refuses a batch as a whole, so one message it refuses fails the
 *         sends batched with it. A full batch leaves on the thread of the
 *         send that filled it (which may then wait for a call slot). Delayed
 *         messages and bodies above batch.bytes are sent alone.
 */
int rill_producer_send_async(rill_producer_t *p, rill_msg_t *msg, rill_send_cb cb, void *opaque);

/**
 * Send without waiting for an answer and without retries (RocketMQ's
 * sendOneway: logging-grade delivery).
 * @return 0 once the request is handed to the transport; the errors of
 *         rill_producer_send_async() before that.
 */
int rill_producer_send_oneway(rill_producer_t *p, rill_msg_t *msg);

/**
 * Pick the queue of a message (ordered messages: same key, same queue).
 * @param[in] n_queues  writable queues of the topic, > 0.
 * @param[in] msg       the message being sent.
 * @param[in] arg       the pointer given with the send.
 * @return an index in [0, n_queues); others are taken modulo n_queues.
 * @remark Queues are ordered by broker name, then queue id, so the same
 *         index names the same queue as long as the route does not change.
 */
typedef int (*rill_queue_selector_cb)(int n_queues, const rill_msg_t *msg, void *arg);

/**
 * Send to the queue a selector picks and wait. Retries (send.retries) go to
 * the same queue, never another one, so per-queue order holds.
 * @return as rill_producer_send(); RILL_ETOPIC also for a topic no broker
 *         has yet (the queues must exist to be numbered: create the topic
 *         first, or send to it once with rill_producer_send()).
 */
int rill_producer_send_select(rill_producer_t *p, rill_msg_t *msg, rill_queue_selector_cb selector,
                              void *arg, rill_send_result_t *res);

/**
 * Send messages of one topic as one batch: stored together in one queue, all
 * or nothing, in order.
 * @param[in]  msgs  n messages, same topic, none delayed; borrowed.
 * @param[in]  n     1..4096.
 * @param[out] res   n results, or NULL.
 * @return as rill_producer_send(); RILL_EINVAL for mixed topics, delayed
 *         messages or n out of range; RILL_ETOOBIG when the bodies together
 *         exceed max.message.bytes (4 MiB).
 */
int rill_producer_send_batch(rill_producer_t *p, rill_msg_t *const *msgs, size_t n,
                             rill_send_result_t *res);

/* ======================================================================== */
/* Transactional producer                                                   */
/* ======================================================================== */

/*
 * A transactional producer sends a message in two steps (RocketMQ's
 * TransactionMQProducer): the broker stores a "half" message that no consumer
 * sees, the producer runs its local transaction, then tells the broker to
 * commit (the message becomes visible, once) or roll back (it never does).
 * When the broker gets no answer (UNKNOWN, a crash, a lost END_TRANSACTION)
 * it asks a member of the producer group later, first after
 * transactionTimeOut (6 s), then every transactionCheckInterval (60 s), at
 * most transactionCheckMax (15) times, then rolls the message back. The
 * producer receives those check-backs on a long poll its "rill-txcheck"
 * thread keeps open to every master the NameServers know, and answers with
 * the check callback. Any member of the group may get the check of a half
 * another member (or an earlier process) sent.
 */

typedef struct rill_tx_producer rill_tx_producer_t;

/** State of a local transaction. */
typedef enum rill_tx_state {
    RILL_TX_COMMIT = 0,   /**< make the message visible */
    RILL_TX_ROLLBACK = 1, /**< discard it */
    RILL_TX_UNKNOWN = 2,  /**< not decided: the broker checks back later */
} rill_tx_state_t;

/** Name of a state ("COMMIT", "ROLLBACK", "UNKNOWN"); never NULL. */
const char *rill_tx_state_name(rill_tx_state_t state);

/**
 * Run the local transaction of a half message that the broker has stored.
 * @param[in] msg     the message as sent (borrowed for the call).
 * @param[in] arg     the arg given to rill_tx_producer_send().
 * @param[in] opaque  the opaque given to rill_tx_producer_new().
 * @return the transaction's state.
 * @remark Runs on the thread that called rill_tx_producer_send().
 */
typedef rill_tx_state_t (*rill_tx_execute_cb)(const rill_msg_t *msg, void *arg, void *opaque);

/**
 * Tell the broker the state of an earlier half message (a check-back).
 * @param[in] msg     the half message as the broker stored it (topic, body,
 *                    properties, UNIQ_KEY as rill_msg_unique_key(),
 *                    msg id, store time); borrowed for the call.
 * @param[in] opaque  the opaque given to rill_tx_producer_new().
 * @return its state; UNKNOWN lets the broker ask again later.
 * @remark Runs on the producer's "rill-txcheck" thread, one check at a time.
 */
typedef rill_tx_state_t (*rill_tx_check_cb)(const rill_msg_t *msg, void *opaque);

/**
 * Create a transactional producer and start its check-back thread.
 * Configuration as rill_producer_new(); "group" names the producer group
 * that check-backs go to (DEFAULT_PRODUCER when unset; give every process
 * that may answer for these transactions the same group).
 * @param[out] out      written on success.
 * @param[in]  conf     taken ON SUCCESS ONLY, as for rill_producer_new().
 * @param[in]  execute  the local transaction; required.
 * @param[in]  check    the check-back answer; required.
 * @param[in]  opaque   passed to both callbacks.
 * @return 0; RILL_EINVAL (a callback is NULL); the errors of
 *         rill_producer_new(); ENOMEM or a thread error.
 */
int rill_tx_producer_new(rill_tx_producer_t **out, rill_conf_t *conf, rill_tx_execute_cb execute,
                         rill_tx_check_cb check, void *opaque, char *errstr, size_t errstr_size);

/**
 * Send msg as a transaction: store the half message (with retries as
 * rill_producer_send()), run execute(msg, arg, opaque) on this thread, then
 * send END_TRANSACTION with its state to the broker that stored the half.
 * The producer adds the properties TRAN_MSG=true and PGROUP=<group> to msg.
 * @param[out] res        the half's send result, or NULL.
 * @param[out] state_out  what execute returned, or NULL.
 * @return 0 once the broker has the state (for UNKNOWN: once it was told);
 *         the send errors of rill_producer_send() (execute did not run,
 *         nothing was stored); or, when the half was stored and execute ran
 *         but END_TRANSACTION failed (res and state_out are then written),
 *         a call error or RILL_ENOTFOUND (the half was already resolved):
 *         the broker's check-back resolves such a half later.
 * @remark Any thread; not from a callback of this producer.
 */
int rill_tx_producer_send(rill_tx_producer_t *p, rill_msg_t *msg, void *arg,
                          rill_send_result_t *res, rill_tx_state_t *state_out);

/**
 * Stop the check-back thread (waits for a check callback in progress and
 * the open poll, at most about a second), then destroy the producer. NULL ok.
 * Half messages still open stay on the brokers; their check-backs go to
 * another member of the group, or to the next producer of that group.
 */
void rill_tx_producer_destroy(rill_tx_producer_t *p);

/* ======================================================================== */
/* Push consumer                                                            */
/* ======================================================================== */

typedef struct rill_push_consumer rill_push_consumer_t;

typedef enum rill_consume_status {
    RILL_CONSUME_SUCCESS = 0,  /**< done; the offset may move past these messages */
    RILL_RECONSUME_LATER = 1,  /**< failed; deliver again later (orderly: suspend the queue) */
} rill_consume_status_t;

/**
 * Message listener: consume 1..consume.batch.size messages of one queue.
 * @param[in] msgs    the messages, lent for the duration of the call.
 * @param[in] n       how many.
 * @param[in] opaque  the pointer given to the set_listener function.
 * @return RILL_CONSUME_SUCCESS or RILL_RECONSUME_LATER (for all n).
 * @remark Concurrent listener: runs on any of consume.threads threads, many
 *         calls at once, even for one queue.
 *         RECONSUME_LATER (CLUSTERING): each message is sent back to its
 *         broker (CONSUMER_SEND_MSG_BACK), which stores it in %RETRY%<group>
 *         with delay level 3 + reconsume_times and reconsume_times + 1, or in
 *         %DLQ%<group> once that exceeds max.reconsume.times; every member
 *         subscribes to %RETRY%<group> itself, and the listener sees such a
 *         message with its original topic (properties RETRY_TOPIC/REAL_TOPIC)
 *         and rill_msg_reconsume_times() > 0. Only when the send-back fails
 *         (and in BROADCASTING) does the consumer redeliver locally after
 *         reconsume.delay.ms, at most max.reconsume.times times, then log and
 *         skip; the committed offset stays before them until then.
 */
typedef rill_consume_status_t (*rill_msg_listener_cb)(rill_msg_t *const *msgs, size_t n,
                                                      void *opaque);

/**
 * Create a push consumer. "group" must be set in conf.
 * @param[in] conf  taken ON SUCCESS ONLY, as for rill_producer_new().
 * @return 0; RILL_ECONFIG (no group, bad key values); ENOMEM.
 */
int rill_push_consumer_new(rill_push_consumer_t **out, rill_conf_t *conf, char *errstr,
                           size_t errstr_size);

/**
 * Subscribe to a topic (before start). A second call for the same topic
 * replaces the expression.
 * @param[in] topic       topic name.
 * @param[in] expression  "*" (or NULL / "") for every message, or tags
 *                        joined by "||": "TagA || TagB".
 * @return 0; RILL_EINVAL (bad expression or topic, or already started); ENOMEM.
 */
int rill_push_consumer_subscribe(rill_push_consumer_t *c, const char *topic,
                                 const char *expression);

/**
 * Set a concurrent listener (see rill_msg_listener_cb), before start.
 * @return 0; RILL_EINVAL (NULL cb, already started).
 */
int rill_push_consumer_set_listener(rill_push_consumer_t *c, rill_msg_listener_cb cb, void *opaque);

/**
 * Set an orderly listener instead, before start: each queue is consumed by
 * one thread at a time, in queue order. RILL_RECONSUME_LATER suspends the
 * queue for reconsume.delay.ms and delivers the same messages again (up to
 * max.reconsume.times; then, CLUSTERING, they are sent to %DLQ%<group>, or
 * logged and skipped if that fails, and the queue moves on).
 * @return 0; RILL_EINVAL.
 * @remark Order across the group: the consumer locks each queue it is
 *         assigned on the queue's master (LOCK_BATCH_MQ) before it pulls
 *         it, reads the group's committed offset only once it holds the
 *         lock, renews the lock every lock.renew.ms and calls the listener
 *         only while the lock is held (not older than 2.5 x lock.renew.ms).
 *         A queue it loses in a rebalance is unlocked after its running
 *         listener call returned and its offset was committed; a queue
 *         locked by another member is tried again every second. So one
 *         member at a time consumes a queue, in queue order, and the next
 *         owner starts where the last one committed. Exceptions: a listener
 *         call still running 1 s after its queue was taken away keeps the
 *         lock until the broker's lease (rebalanceLockMaxLiveTime) runs out
 *         rather than being unlocked early. A member whose lock went to
 *         another member while it still owned the queue (it could not
 *         renew in time, or the broker restarted and another member locked
 *         first) drops what it fetched and starts again from the committed
 *         offset once it gets the lock back.
 */
int rill_push_consumer_set_orderly_listener(rill_push_consumer_t *c, rill_msg_listener_cb cb,
                                            void *opaque);

/**
 * Start: heartbeat, rebalance, pull and consume in the background.
 * @return 0; RILL_EINVAL (no subscription or listener, or started twice);
 *         ENOMEM. Brokers that are not up are not an error: the consumer
 *         keeps trying.
 */
int rill_push_consumer_start(rill_push_consumer_t *c);

/**
 * The queues this consumer currently owns.
 * @param[out]    out  array of cap queues.
 * @param[in]     cap  its capacity.
 * @param[out]    n    number owned (may exceed cap: only cap are written).
 * @return 0; RILL_EINVAL.
 */
int rill_push_consumer_assignment(rill_push_consumer_t *c, rill_queue_t *out, size_t cap,
                                  size_t *n);

/**
 * Stop pulling, wait for listener calls in progress, commit offsets,
 * unregister from the brokers, and free. Accepts NULL.
 * @remark Not from a listener.
 */
void rill_push_consumer_destroy(rill_push_consumer_t *c);

/* ======================================================================== */
/* Pull (lite) consumer                                                     */
/* ======================================================================== */

typedef struct rill_pull_consumer rill_pull_consumer_t;

/**
 * Create a pull consumer. "group" must be set in conf.
 * @param[in] conf  taken ON SUCCESS ONLY.
 * @return 0; RILL_ECONFIG; ENOMEM.
 */
int rill_pull_consumer_new(rill_pull_consumer_t **out, rill_conf_t *conf, char *errstr,
                           size_t errstr_size);

/**
 * Subscribe: queues are shared with the group's other members by rebalance,
 * as in a push consumer. Not with assign(). The consumer joins the group
 * (heartbeats, rebalance) at its first poll(), as Kafka's does; subscribe
 * to every topic before that. Messages are filtered by tag on the broker
 * and again on the client.
 * @return 0; RILL_EINVAL (bad topic or expression, assign() was used, or
 *         after the first poll()); ENOMEM.
 */
int rill_pull_consumer_subscribe(rill_pull_consumer_t *c, const char *topic,
                                 const char *expression);

/**
 * Consume exactly these queues, no group rebalance (replaces an earlier
 * assignment). Start positions: the group's committed offset, else
 * consume.from; they are read from the brokers before this returns.
 * @return 0; RILL_EINVAL (subscribe() was used, a queue without topic or
 *         broker name); ENOMEM; the error of reading a start position (a
 *         queue whose broker cannot be reached is not assigned; the others
 *         are: call again to retry).
 */
int rill_pull_consumer_assign(rill_pull_consumer_t *c, const rill_queue_t *queues, size_t n);

/**
 * List the readable queues of a topic, ordered by broker name and queue id.
 * @param[out] out  array of cap queues; @param[out] n  number of queues
 *                  (may exceed cap).
 * @return 0; RILL_ETOPIC; RILL_ETIMEDOUT; RILL_ECONNREFUSED.
 */
int rill_pull_consumer_topic_queues(rill_pull_consumer_t *c, const char *topic, rill_queue_t *out,
                                    size_t cap, size_t *n);

/**
 * Return up to cap messages, waiting up to timeout_ms for the first one
 * (0: do not wait; < 0: wait until one arrives). Messages of one queue come
 * in queue order; queues take turns. Polling moves the consumer's position
 * past what it returns. Messages are fetched in the background, up to
 * pull.threshold.queue.msgs / .mb per queue, so a poll usually returns at
 * once.
 * @param[out] msgs  array of cap pointers; each returned message is YOURS:
 *                   free it with rill_msg_destroy().
 * @param[out] n     messages returned, 0 on timeout.
 * @return 0; RILL_EINVAL; RILL_ECLOSED.
 * @remark Call from one thread at a time.
 */
int rill_pull_consumer_poll(rill_pull_consumer_t *c, int timeout_ms, rill_msg_t **msgs, size_t cap,
                            size_t *n);

/**
 * Commit the position of every queue (what poll() has returned) and wait.
 * @return 0; the first error of the commit calls.
 */
int rill_pull_consumer_commit_sync(rill_pull_consumer_t *c);

/** Commit in the background; errors are logged. 0, or RILL_ECLOSED. */
int rill_pull_consumer_commit_async(rill_pull_consumer_t *c);

/**
 * Move a queue's position to a queue offset; the next poll starts there.
 * @return 0; RILL_ENOTFOUND (queue not assigned); RILL_EINVAL.
 */
int rill_pull_consumer_seek(rill_pull_consumer_t *c, const rill_queue_t *q, int64_t offset);

/**
 * Move a queue's position to the first message stored at or after ts_ms.
 * @return 0; RILL_ENOTFOUND; and the errors of a broker call.
 */
int rill_pull_consumer_seek_timestamp(rill_pull_consumer_t *c, const rill_queue_t *q,
                                      int64_t ts_ms);

/**
 * The committed offset of a queue for this consumer's group.
 * @return 0; RILL_ENOTFOUND (never committed); errors of a broker call.
 */
int rill_pull_consumer_committed(rill_pull_consumer_t *c, const rill_queue_t *q, int64_t *offset);

/** Stop fetching these queues (poll returns none of their messages) until resumed. 0 or RILL_ENOTFOUND. */
int rill_pull_consumer_pause(rill_pull_consumer_t *c, const rill_queue_t *queues, size_t n);
int rill_pull_consumer_resume(rill_pull_consumer_t *c, const rill_queue_t *queues, size_t n);

/** The queues currently assigned (by assign() or by rebalance); as rill_push_consumer_assignment(). */
int rill_pull_consumer_assignment(rill_pull_consumer_t *c, rill_queue_t *out, size_t cap,
                                  size_t *n);

/** Commit (when enable.auto.commit), unregister, free. Accepts NULL. */
void rill_pull_consumer_destroy(rill_pull_consumer_t *c);

/* ======================================================================== */
/* Admin                                                                    */
/* ======================================================================== */

typedef struct rill_admin rill_admin_t;

/** Create an admin handle. conf taken on success only. 0, RILL_ECONFIG, ENOMEM. */
int rill_admin_new(rill_admin_t **out, rill_conf_t *conf, char *errstr, size_t errstr_size);

/** Free. Accepts NULL. */
void rill_admin_destroy(rill_admin_t *a);

/** Topic configuration (RocketMQ's TopicConfig). */
typedef struct rill_topic_config {
    char name[RILL_TOPIC_BYTES_MAX + 1];
    int32_t read_queue_nums;  /**< default 4 */
    int32_t write_queue_nums; /**< default 4 */
    int32_t perm;             /**< 2 write, 4 read, 6 both (default) */
    bool order;
} rill_topic_config_t;

/** A config with name and every default (4, 4, 6, false). */
void rill_topic_config_init(rill_topic_config_t *tc, const char *name);

/**
 * Create or update a topic on every master of a cluster, or on one broker.
 * @param[in] cluster      cluster name, or NULL when broker_addr is given.
 * @param[in] broker_addr  "ip:port" of one broker, or NULL.
 * @return 0; RILL_EINVAL (neither or both targets, bad counts); RILL_ENOTFOUND
 *         (no such cluster); RILL_ETOPIC (illegal name); errors of the calls.
 */
int rill_admin_topic_create(rill_admin_t *a, const char *cluster, const char *broker_addr,
                            const rill_topic_config_t *tc);

/**
 * Delete a topic from every broker of a cluster (NULL: of every cluster
 * that serves it) and from the NameServers.
 * @return 0; RILL_ETOPIC (no broker serves it); errors of the calls.
 */
int rill_admin_topic_delete(rill_admin_t *a, const char *topic, const char *cluster);

/** An array of strings; free with rill_strv_free(). */
typedef struct rill_strv {
    size_t n;
    char **v;
} rill_strv_t;
void rill_strv_free(rill_strv_t *sv);

/** Names of every topic the NameServers know. out freed with rill_strv_free(). */
int rill_admin_topic_list(rill_admin_t *a, rill_strv_t *out);

/** One broker set of a route or cluster. */
typedef struct rill_broker_info {
    char cluster[128];
    char broker_name[64];
    size_t n_addrs;
    struct {
        int64_t broker_id; /**< 0 master, >= 1 slave */
        char addr[64];     /**< "ip:port" */
    } addrs[8];
} rill_broker_info_t;

typedef struct rill_topic_route {
    size_t n_queue_datas;
    struct {
        char broker_name[64];
        int32_t read_queue_nums, write_queue_nums, perm;
    } *queue_datas;
    size_t n_brokers;
    rill_broker_info_t *brokers;
} rill_topic_route_t;

/** Route of a topic. Free with rill_topic_route_free(). 0, RILL_ETOPIC, call errors. */
int rill_admin_topic_route(rill_admin_t *a, const char *topic, rill_topic_route_t *out);
void rill_topic_route_free(rill_topic_route_t *r);

/** Status of one queue. */
typedef struct rill_queue_stat {
    rill_queue_t queue;
    int64_t min_offset, max_offset;
    int64_t last_store_timestamp; /**< epoch ms, 0 when empty */
} rill_queue_stat_t;

/** Every queue of a topic with its offsets; *out is malloc'd (free()). */
int rill_admin_topic_status(rill_admin_t *a, const char *topic, rill_queue_stat_t **out,
                            size_t *n);

/** Every broker set, by cluster; *out is malloc'd (free()). */
int rill_admin_cluster_list(rill_admin_t *a, rill_broker_info_t **out, size_t *n);

/** Runtime statistics of one broker. */
typedef struct rill_broker_stats {
    double put_tps, get_tps;
    int64_t put_total, get_total;
    int64_t commitlog_min_offset, commitlog_max_offset;
    int64_t dispatched_offset, dispatch_lag_bytes;
    double disk_used_ratio;
    int64_t uptime_ms;
    char version[64];
    int64_t pending_half_messages; /**< transactional halves not resolved yet (as of the last check walk, every 100 ms) */
    int64_t delay_pending;         /**< delayed messages stored and not delivered yet */
    int64_t ha_lag_bytes;          /**< replication: a slave's lag behind its master, or a master's slave's lag */
    int64_t ha_lag_ms;             /**< the same in time (age of the oldest message not replicated) */
    int ha_connected;              /**< 1: master and slave talked in the last 3 s */
} rill_broker_stats_t;

/** Stats of the broker at addr ("ip:port"). 0 or call errors. */
int rill_admin_broker_stats(rill_admin_t *a, const char *addr, rill_broker_stats_t *out);

/** Consumer group configuration (RocketMQ's SubscriptionGroupConfig). */
typedef struct rill_group_config {
    char name[256];
    bool consume_enable;        /**< default true */
    bool consume_broadcast_enable; /**< default true */
    int32_t retry_queue_nums;   /**< default 1 */
    int32_t retry_max_times;    /**< default 16 */
} rill_group_config_t;

/** A config with name and every default. */
void rill_group_config_init(rill_group_config_t *gc, const char *name);

/** Create or update a group on every master of a cluster or on one broker (as topic_create). */
int rill_admin_group_create(rill_admin_t *a, const char *cluster, const char *broker_addr,
                            const rill_group_config_t *gc);
/** Delete a group from every broker of a cluster (NULL: every cluster). */
int rill_admin_group_delete(rill_admin_t *a, const char *group, const char *cluster);
/** Every group known to the cluster's masters (NULL: every cluster); *out malloc'd. */
int rill_admin_group_list(rill_admin_t *a, const char *cluster, rill_group_config_t **out,
                          size_t *n);

/** Progress of a group on one queue. */
typedef struct rill_queue_progress {
    rill_queue_t queue;
    int64_t broker_offset;   /**< max offset of the queue */
    int64_t consumer_offset; /**< committed offset, -1 when never committed */
    int64_t lag;             /**< broker_offset - consumer_offset (or - min offset) */
    int64_t last_timestamp;  /**< store time of the last consumed message, 0 if none */
} rill_queue_progress_t;

typedef struct rill_consumer_progress {
    size_t n;
    rill_queue_progress_t *queues; /**< by topic, broker name, queue id */
    int64_t total_lag;
} rill_consumer_progress_t;

/**
 * Progress of a group over every broker. With a topic: every queue of the
 * topic, the ones the group never committed with consumer_offset -1 and lag
 * max - min offset. With topic NULL: every queue the group committed, on
 * every master of every cluster. Free with rill_consumer_progress_free().
 * @return 0; RILL_ENOTFOUND (the group committed nothing, on that topic);
 *         RILL_ETOPIC; RILL_EINVAL (illegal group name); call errors.
 */
int rill_admin_consumer_progress(rill_admin_t *a, const char *group, const char *topic,
                                 rill_consumer_progress_t *out);
void rill_consumer_progress_free(rill_consumer_progress_t *p);

/**
 * Move a group's committed offsets on every queue of a topic to the first
 * message stored at or after ts_ms (the max offset when none is).
 * @param[out] n_queues  queues reset; may be NULL.
 * @return 0; RILL_ETOPIC; call errors.
 * @remark Running consumers of the group commit their own positions over
 *         it; stop them first (as with RocketMQ's resetOffsetByTime -f false).
 */
int rill_admin_reset_offset(rill_admin_t *a, const char *group, const char *topic, int64_t ts_ms,
                            size_t *n_queues);

/** A list of messages a query returns; free with rill_msg_list_free(). */
typedef struct rill_msg_list {
    size_t n;
    rill_msg_t **msgs;
} rill_msg_list_t;
void rill_msg_list_free(rill_msg_list_t *l);

/** The message with this offset msgId (the broker is decoded from the id). 0, RILL_EINVAL (bad id), RILL_ENOTFOUND. */
int rill_admin_query_msg_by_id(rill_admin_t *a, const char *msg_id, rill_msg_t **out);

/**
 * Messages of a topic with this key (a KEYS word or the UNIQ_KEY) stored in
 * [begin_ms, end_ms] (end 0: now), at most max (0: 64) in all, from every
 * broker: the newest ones when more match, returned oldest first. Only exact
 * matches are returned (the brokers' key index is hashed; the client checks).
 * @return 0 (possibly none: out->n == 0); RILL_ETOPIC; RILL_EINVAL (empty
 *         key or one with a space, end before begin); call errors.
 */
int rill_admin_query_msg_by_key(rill_admin_t *a, const char *topic, const char *key,
                                int64_t begin_ms, int64_t end_ms, int max, rill_msg_list_t *out);

/**
 * Messages of a topic stored in [begin_ms, end_ms] (end 0: now), at most max
 * (0: 64) per broker, oldest first.
 */
int rill_admin_query_msg_by_time(rill_admin_t *a, const char *topic, int64_t begin_ms,
                                 int64_t end_ms, int max, rill_msg_list_t *out);

/** The message at a queue offset. 0; RILL_ENOTFOUND; RILL_ETOPIC; call errors. */
int rill_admin_query_msg_by_offset(rill_admin_t *a, const rill_queue_t *q, int64_t offset,
                                   rill_msg_t **out);

/**
 * The configuration of the broker at addr ("ip:port"): every key of its
 * schema with its current value, as "key=value" strings in the broker's
 * schema order ("brokerName=broker-a", "flushDiskType=ASYNC_FLUSH", ...).
 * @param[out] out  freed with rill_strv_free(); written on success only.
 * @return 0; RILL_EBROKER (a broker that predates GET_BROKER_CONFIG); call errors.
 */
int rill_admin_broker_config(rill_admin_t *a, const char *addr, rill_strv_t *out);

#ifdef __cplusplus
}
#endif

#endif /* RILL_H */
