/*
 * store.h - the storage engine of a broker: append messages to the CommitLog,
 * read them back through ConsumeQueues and indexes kept in LMDB, keep
 * consumer offsets and configuration, recover after a crash.
 *
 * Threads inside a store: "flusher" (flush.h), "dispatcher" (feeds LMDB from
 * the log) and "cleaner" (retention, disk-usage checks). Every function here
 * is thread-safe unless it says otherwise. A message becomes readable once it
 * is dispatched, normally within milliseconds of its append; appends never
 * wait for dispatch.
 */
#ifndef RILL_STORE_STORE_H
#define RILL_STORE_STORE_H

#include "broker/store/flush.h"
#include "common/record.h"
#include "broker/store/store_types.h"
#include "common/msgid.h"
#include "common/tags.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

enum store_flush_type { STORE_ASYNC_FLUSH = 0, STORE_SYNC_FLUSH = 1 };

/**
 * Called on the dispatcher thread after new entries of a queue became
 * readable (long polling hooks in here). Must be quick and must not call
 * back into the store's write functions.
 */
typedef void (*store_dispatch_fn)(void *arg, const char *topic, uint16_t topic_len,
                                  uint32_t queue_id, uint64_t max_offset);

/** Disk usage of the filesystem holding dir, 0.0 .. 1.0 (a test hook; default statvfs). */
typedef double (*store_disk_usage_fn)(void *arg, const char *dir);

/**
 * Store configuration. Integer fields are int64_t and named after the
 * RocketMQ keys so the broker's config schema can point straight at them
 * (see store_config_schema()).
 */
typedef struct store_config {
    char store_path_root_dir[1024];            /* storePathRootDir: commitlog/ and kv/ live here */
    int64_t mapped_file_size_commitlog;        /* bytes per segment, default 1 GiB */
    int flush_disk_type;                       /* STORE_ASYNC_FLUSH (default) or STORE_SYNC_FLUSH */
    int64_t flush_interval_commitlog;          /* ms, 500 */
    int64_t flush_commitlog_least_pages;       /* 4 */
    int64_t flush_commitlog_thorough_interval; /* ms, 10000 */
    int64_t sync_flush_timeout;                /* ms, 5000 */
    int64_t max_message_size;                  /* body bytes, 4 MiB */
    int64_t file_reserved_time;                /* hours, 72 */
    char delete_when[64];                      /* hours of the day, "04" or "04;10" */
    int64_t disk_max_used_space_ratio;         /* percent, 75: expired segments go at once */
    int64_t disk_space_clean_forcibly_ratio;   /* percent, 85: oldest segments go even if young */
    int64_t disk_space_refuse_ratio;           /* percent, 90: appends are refused */
    int64_t clean_resource_interval;           /* ms between retention checks, 10000 */
    int64_t kv_map_size;                       /* initial LMDB map bytes, 256 MiB (grows) */
    int64_t dispatch_batch_max;                /* records per LMDB transaction, 16384 */
    uint32_t store_ip;                         /* IPv4 host order, written in records (msgId) */
    uint16_t store_port;
    store_dispatch_fn on_dispatch;
    void *on_dispatch_arg;
    store_disk_usage_fn disk_usage;
    void *disk_usage_arg;
} store_config_t;

/** Fill cfg with the defaults above (root dir "./data/store"). */
void store_config_defaults(store_config_t *cfg);

/**
 * Open a store: map the CommitLog, open LMDB, recover (cut a torn tail, drop
 * derived entries past it, dispatch what LMDB lacks), then start the threads.
 * @return 0; RILL_EINVAL for bad config; RILL_ECORRUPT for a log that cannot
 *         be opened; RILL_EKV; errno.
 */
int store_open(store_t **out, const store_config_t *cfg);

/**
 * Stop the threads, dispatch and flush everything appended, write the
 * checkpoint, sync LMDB and free. NULL is ok. Must not race with other calls.
 */
void store_close(store_t *s);

/**
 * Append n messages as one unit (all or nothing, one lock hold). With
 * SYNC_FLUSH it returns once they are durable (group commit).
 * @param[out] res  n results, written when the messages were appended (also
 *                  when the result is RILL_EFLUSHTIMEOUT: stored, flush late).
 * @return 0; RILL_EFLUSHTIMEOUT; RILL_ETOOBIG; RILL_ETOPIC; RILL_EINVAL;
 *         RILL_EDISKFULL; RILL_EBUSY; RILL_ECLOSED; errno.
 */
int store_put(store_t *s, const store_msg_t *msgs, size_t n, store_put_result_t *res);

/**
 * Append without blocking for durability. With SYNC_FLUSH, `waiter` (done and
 * arg set by the caller, owned by the caller) is queued and completed by the
 * flusher; the call then returns 1. Returns 0 when nothing needs waiting
 * (ASYNC_FLUSH, or waiter NULL), or an error as store_put (waiter unused).
 */
int store_put_async(store_t *s, const store_msg_t *msgs, size_t n, store_put_result_t *res,
                    flush_waiter_t *waiter);

/** Outcome of a pull, RocketMQ's GetMessageStatus. */
typedef enum store_get_status {
    STORE_FOUND = 0,
    STORE_NO_MATCHED_MSG,        /* entries exist but none passed the tag filter */
    STORE_NO_MESSAGE_IN_QUEUE,   /* the queue is empty (or unknown) */
    STORE_OFFSET_TOO_SMALL,      /* offset < min offset: next_offset = min */
    STORE_OFFSET_OVERFLOW_ONE,   /* offset == max offset: nothing new yet */
    STORE_OFFSET_OVERFLOW_BADLY, /* offset > max offset: next_offset = max */
    STORE_OFFSET_FOUND_NULL,     /* entries point to deleted log: skip ahead */
} store_get_status_t;

/** Result of store_get_messages(); records are back to back in the caller's buffer. */
typedef struct store_get_result {
    store_get_status_t status;
    uint32_t count;       /* records copied */
    size_t bytes;         /* bytes of buf used */
    uint64_t next_offset; /* where the next pull should start */
    uint64_t min_offset, max_offset;
} store_get_result_t;

#define STORE_PULL_SCAN_MAX 16384 /* cq entries examined by one pull (tag filtering) */

/**
 * Read up to max_count dispatched messages of (topic, queue) from
 * queue_offset, skipping those whose tag hash fails filter (NULL = all),
 * copying whole records into buf until cap is reached (at least one record is
 * returned when it fits at all). Decode them with record_decode().
 * @return 0 (see res->status); RILL_ENOSPACE when not even the first matching
 *         record fits (res->next_offset stays); RILL_EINVAL; RILL_EKV.
 */
int store_get_messages(store_t *s, const char *topic, uint32_t queue_id, uint64_t queue_offset,
                       uint32_t max_count, const rill_tag_filter_t *filter, void *buf, size_t cap,
                       store_get_result_t *res);

/** Min and max (next) offset of a queue; both 0 for an unknown queue. */
int store_queue_range(store_t *s, const char *topic, uint32_t queue_id, uint64_t *min_offset,
                      uint64_t *max_offset);

/** Store time of the last dispatched message of a queue; RILL_ENOTFOUND if none. */
int store_queue_last_store_ts(store_t *s, const char *topic, uint32_t queue_id, uint64_t *ts);

/**
 * Store time of the message at queue_offset, read from its ConsumeQueue entry
 * (no record is copied). RILL_ENOTFOUND when there is no such message, or
 * its segment was deleted.
 */
int store_queue_store_ts(store_t *s, const char *topic, uint32_t queue_id, uint64_t queue_offset,
                         uint64_t *ts);

/** Queue ids of a topic that hold (or held) messages, ascending; returns the count (<= cap). */
int store_topic_queues(store_t *s, const char *topic, uint32_t *ids, size_t cap, size_t *count);

/**
 * Offset of the first message of the queue stored at or after ts (RocketMQ's
 * searchOffset): max offset when all are older, min offset when all are newer.
 */
int store_offset_by_time(store_t *s, const char *topic, uint32_t queue_id, uint64_t ts,
                         uint64_t *offset);

/**
 * Copy the record at commitlog offset phys (a msgId's offset) into buf.
 * @return 0; RILL_ENOTFOUND (no such record: deleted, never written, or not
 *         a record start); RILL_ECORRUPT (checksum); RILL_ENOSPACE (*size set).
 */
int store_get_by_phys(store_t *s, uint64_t phys, void *buf, size_t cap, uint32_t *size);

/** Result of a query that returns several records into a buffer. */
typedef struct store_query_result {
    uint32_t count;
    size_t bytes;
    bool truncated; /* more matched than max_count or than fit in cap */
} store_query_result_t;

#define STORE_QUERY_MAX_DEFAULT 64
#define STORE_QUERY_MAX         65536 /* larger max_count values are clamped to this */

/**
 * Messages of topic carrying `key` in KEYS (space-separated) or UNIQ_KEY,
 * stored in [begin_ts, end_ts], newest first, at most max_count.
 */
int store_query_by_key(store_t *s, const char *topic, const char *key, uint64_t begin_ts,
                       uint64_t end_ts, uint32_t max_count, void *buf, size_t cap,
                       store_query_result_t *res);

/** Messages of topic stored in [begin_ts, end_ts], oldest first, at most max_count. */
int store_query_by_time(store_t *s, const char *topic, uint64_t begin_ts, uint64_t end_ts,
                        uint32_t max_count, void *buf, size_t cap, store_query_result_t *res);

/* Consumer offsets (group, topic, queue) -> offset. */
int store_offset_commit(store_t *s, const char *group, const char *topic, uint32_t queue_id,
                        uint64_t offset);
int store_offset_get(store_t *s, const char *group, const char *topic, uint32_t queue_id,
                     uint64_t *offset);
/** Visit every committed offset of group (NULL: all groups). fn returning nonzero stops. */
typedef int (*store_offset_fn)(void *arg, const char *group, const char *topic, uint32_t queue_id,
                               uint64_t offset, uint64_t update_ts);
int store_offset_foreach(store_t *s, const char *group, store_offset_fn fn, void *arg);
/** Remove every offset of group (and topic, if not NULL). */
int store_offset_delete(store_t *s, const char *group, const char *topic);

/* Topic and group configuration: opaque blobs owned by the broker. */
enum store_config_table { STORE_TOPICS = 0, STORE_GROUPS = 1 };
int store_conf_put(store_t *s, int table, const char *name, const void *blob, size_t len);
/** Copy a blob into buf; RILL_ENOTFOUND; RILL_ENOSPACE (*len set to the size). */
int store_conf_get(store_t *s, int table, const char *name, void *buf, size_t cap, size_t *len);
int store_conf_del(store_t *s, int table, const char *name);
typedef int (*store_conf_fn)(void *arg, const char *name, const void *blob, size_t len);
int store_conf_foreach(store_t *s, int table, store_conf_fn fn, void *arg);

/** Runtime numbers for stats and benchmarks. */
typedef struct store_stats {
    uint64_t min_offset, committed, flushed, dispatched;
    uint64_t dispatch_lag_bytes;
    uint64_t dispatch_lag_ms; /* age of the oldest undispatched message, 0 when caught up */
    uint64_t puts, put_bytes; /* since open */
    uint64_t segments;
    double disk_usage;
    int writable; /* 0 when appends are refused for disk space */
} store_stats_t;
void store_get_stats(store_t *s, store_stats_t *out);

/** Block until everything committed now is dispatched, or timeout. 0 or RILL_EFLUSHTIMEOUT. */
int store_wait_dispatched(store_t *s, uint32_t timeout_ms);

/** Run one retention pass now (as the cleaner thread does). Returns segments deleted. */
int store_run_retention(store_t *s);

/** Flush everything committed now, from the calling thread. */
int store_flush(store_t *s);

/* ---- replication (commitlog_replica.c, used by replication/) ---- */

#define STORE_REPLICA_WINDOW 4096u /* bytes hashed to compare two logs below an offset */

/** End of the last complete record (the CommitLog max offset). */
uint64_t store_max_offset(store_t *s);
/** Start of the oldest segment still present. */
uint64_t store_min_offset(store_t *s);
uint64_t store_segment_size(store_t *s);
/** Store time of the record at phys (unverified header); RILL_ENOTFOUND. */
int store_record_store_ts(store_t *s, uint64_t phys, uint64_t *ts);

/**
 * Master side: copy whole records (blanks included) from commitlog offset
 * `from`, a record boundary, into buf: at most cap bytes, never across a
 * segment end. *len = 0 when from is the max offset.
 * @return 0; RILL_ERANGE (from above the max offset or below the minimum);
 *         RILL_ECORRUPT (no record starts there); RILL_ENOSPACE (cap too small).
 */
int store_replica_read(store_t *s, uint64_t from, void *buf, size_t cap, size_t *len);

/**
 * Slave side: append bytes a master's store_replica_read() returned, at
 * `offset` (must be this store's max offset), byte-identical, verifying each
 * record; then dispatch them as any append. *bad_at: where it stopped.
 * @return 0; RILL_ERANGE (offset is not the max offset); RILL_ECORRUPT.
 */
int store_replica_append(store_t *s, uint64_t offset, const void *bytes, size_t len,
                         uint64_t *bad_at);

/** The window [*from, offset) both sides hash: <= 4 KiB, inside one segment. */
void store_replica_window(store_t *s, uint64_t offset, uint64_t *from);
/** Hash of the log bytes [from, to) (to - from <= STORE_REPLICA_WINDOW). 0 or RILL_ERANGE. */
int store_replica_hash(store_t *s, uint64_t from, uint64_t to, uint64_t *hash);

#endif
