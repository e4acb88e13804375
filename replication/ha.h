/*
 * ha.h - master/slave replication of the CommitLog (DESIGN.md §6).
 *
 * The master runs an nng rep0 server on haListenPort. A slave's thread asks
 * "bytes from offset X" (X = its own max offset) and gets up to 1 MiB of
 * whole records, long-polled (HA_POLL_MS) when it is caught up; it appends
 * them byte-identical with store_replica_append(), and its own dispatcher
 * indexes them. Each request also proves the slave's log equals the
 * master's below X: it carries a hash of the last <= 4 KiB before X, which
 * the master compares with its own bytes. A slave ahead of the master, a
 * hash mismatch, a record failing its checksum or a different segment size
 * is divergence: the slave stops for good and reports it (on_fatal).
 *
 * Wire format (little endian), one request and one reply per round trip:
 *   request: u32 magic "RHA1", u32 flags 0, u64 offset, u64 hash_from, u64 hash
 *   reply:   u32 magic, u32 status, u64 master_max, u64 segment_size,
 *            u64 offset, then the record bytes (status OK only)
 * The offset in a request is also the slave's ack: every byte below it is
 * written on the slave (what SYNC_MASTER waits for).
 *
 * Metadata (flags HA_FLAG_META, every haMetaSyncInterval ms): the reply's
 * payload is entries "u8 kind, u16 name_len, name, u32 len, blob": topic
 * configs (STORE_TOPICS blobs), subscription groups (STORE_GROUPS blobs) and
 * consumer offsets (name "group\ntopic", blob u32 queue_id + u64 offset).
 * The slave stores groups as they are, keeps the larger of its own and the
 * master's offset (offsets committed on the slave while the master was away
 * survive), and hands topics to the broker (on_topic).
 *
 * Offset hand-back: a metadata request carries, after its 32 header bytes,
 * HA_META_OFFSET entries (same format) for every offset committed on the
 * slave (ha_slave_offset_committed) that the master has not yet answered
 * with HA_OK. The master keeps the larger of its own and the slave's offset
 * (never moving one back). A slave whose master answers again after failing
 * syncs metadata at once, so offsets committed during an outage go back as
 * soon as the master returns.
 */
#ifndef RILL_REPLICATION_HA_H
#define RILL_REPLICATION_HA_H

#include "broker/store/store.h"

#include <stdbool.h>
#include <stdint.h>

#define HA_MAGIC            0x31414852u /* "RHA1" */
#define HA_TRANSFER_MAX     (1u << 20)  /* record bytes in one reply */
#define HA_POLL_MS          1000        /* a caught-up request waits this long for bytes */
#define HA_MASTER_THREADS   4           /* slaves served at once */
#define HA_CALL_TIMEOUT_MS  5000
#define HA_RETRY_MS         200         /* slave's pause after a failed round trip */
#define HA_REQ_BYTES        32
#define HA_REPLY_HDR_BYTES  32
#define HA_FLAG_META        1u          /* request flag: topics, groups and offsets instead of log */
#define HA_META_BYTES_MAX   (48u << 20)
#define HA_META_TOPIC       1
#define HA_META_GROUP       2
#define HA_META_OFFSET      3

enum ha_status {
    HA_OK = 0,
    HA_DIVERGED = 1, /* the slave is ahead, or its bytes below its offset differ */
    HA_TOO_OLD = 2,  /* the offset is below the master's oldest segment */
    HA_ERROR = 3,    /* the master could not read its log */
};

/* ---- master ---- */

typedef struct ha_master ha_master_t;

/** What the master knows of its slaves, for stats and SYNC_MASTER. */
typedef struct ha_master_stats {
    uint64_t slave_ack_offset; /* largest offset a slave reported written */
    uint64_t last_request_ms;  /* wall time of the last request (0: never) */
    uint32_t slaves;           /* requests served in the last 3 s (0: no slave) */
    uint64_t requests, bytes_sent;
} ha_master_stats_t;

/** Listen on url ("tcp://0.0.0.0:10912") and serve slaves from s. */
int ha_master_start(ha_master_t **out, store_t *s, const char *url);
/** Stop serving; waiters left are completed with HA_WAIT_CLOSED. Later waits fail at once. */
void ha_master_stop(ha_master_t *m);
/** Free a stopped master. NULL ok. */
void ha_master_free(ha_master_t *m);

/* SYNC_MASTER: wait until a slave has written the log up to a target. */
enum ha_wait_result { HA_WAIT_OK = 0, HA_WAIT_TIMEOUT = 1, HA_WAIT_CLOSED = 2 };
typedef struct ha_waiter ha_waiter_t;
typedef void (*ha_wait_fn)(ha_waiter_t *w, int result);
struct ha_waiter {
    uint64_t target;      /* set by the caller: log end the slave must have */
    ha_wait_fn done;      /* set by the caller; runs once, on an HA thread or inside the call */
    void *arg;
    uint64_t deadline_ms; /* internal */
    ha_waiter_t *next;    /* internal */
};
/**
 * Queue w (caller-owned until done runs) for timeout_ms. Every slave report
 * completes all waiters it covers at once (group ack). done may run inside
 * this call when the target is already acked.
 */
void ha_master_wait(ha_master_t *m, ha_waiter_t *w, uint64_t timeout_ms);
void ha_master_get_stats(ha_master_t *m, ha_master_stats_t *out);
/** Largest offset a slave has written (acked); 0 when none. */
uint64_t ha_master_acked(ha_master_t *m);
/** True when a slave has asked within the last 3 s. */
bool ha_master_slave_connected(ha_master_t *m);

/* ---- slave ---- */

typedef struct ha_slave ha_slave_t;

/** Called once, on the slave's thread, when replication stops for good (divergence). */
typedef void (*ha_fatal_fn)(void *arg, const char *why);

typedef struct ha_slave_stats {
    uint64_t local_max;      /* this store's max offset */
    uint64_t master_max;     /* the master's max offset at the last reply */
    uint64_t lag_bytes;      /* master_max - local_max */
    uint64_t lag_ms;         /* how long the slave has been behind (0 when caught up) */
    uint64_t last_reply_ms;  /* wall time of the last reply (0: never) */
    bool connected;          /* a reply arrived in the last 3 s */
    uint64_t meta_syncs;     /* metadata syncs applied */
    bool diverged;
} ha_slave_stats_t;

/** Called on the slave's thread with each topic config blob of the master. */
typedef void (*ha_topic_fn)(void *arg, const char *name, const void *blob, size_t len);

typedef struct ha_slave_opts {
    const char *master_url;    /* "tcp://host:port" */
    uint64_t meta_interval_ms; /* metadata sync period; 0 = never */
    ha_fatal_fn on_fatal;
    ha_topic_fn on_topic;
    void *arg;                 /* passed to both */
} ha_slave_opts_t;

/** Start replicating into s. */
int ha_slave_start(ha_slave_t **out, store_t *s, const ha_slave_opts_t *opts);
void ha_slave_stop(ha_slave_t *sl);
void ha_slave_get_stats(ha_slave_t *sl, ha_slave_stats_t *out);
/**
 * A client committed this offset on the slave: hand it back to the master
 * with the next metadata sync. Thread-safe; kept in memory only.
 */
void ha_slave_offset_committed(ha_slave_t *sl, const char *group, const char *topic,
                               uint32_t queue_id, uint64_t offset);

/* Little-endian field access for the headers above. */
static inline void ha_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ha_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t ha_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t ha_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif
