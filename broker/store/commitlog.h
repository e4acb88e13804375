/*
 * commitlog.h - the append-only log every topic shares: a run of contiguous
 * fixed-size mapped segments, one append path that assigns queue offsets, and
 * the positions that readers, the flusher and the dispatcher follow.
 *
 * Positions (all commitlog offsets, record boundaries):
 *   min_offset <= flushed <= committed == write position
 * `committed` is published with release order after a record is complete, so
 * any thread that loads it (acquire) may read every byte below it.
 */
#ifndef RILL_STORE_COMMITLOG_H
#define RILL_STORE_COMMITLOG_H

#include "broker/store/store_types.h"

#include <stddef.h>
#include <stdint.h>

typedef struct commitlog commitlog_t;

typedef struct commitlog_options {
    const char *dir;       /* <storePathRootDir>/commitlog, created if missing */
    uint64_t segment_size; /* mappedFileSizeCommitLog; >= 4096 and a multiple of the page size */
    uint32_t max_message_size; /* body bytes limit (maxMessageSize) */
    uint32_t store_ip;         /* written into every record (msgId) */
    uint16_t store_port;
} commitlog_options_t;

/**
 * Open the log directory and map the segments found there. No record is
 * checked: recovery does that and then calls commitlog_set_end().
 * @return 0; RILL_EINVAL for bad options; RILL_ECORRUPT when segment files
 *         are not contiguous or larger than segment_size; errno.
 */
int commitlog_open(commitlog_t **out, const commitlog_options_t *opt);

/** Unmap everything. Does not flush (the flusher does). NULL is ok. */
void commitlog_close(commitlog_t *cl);

/**
 * Append messages as one unit under one lock hold: either all are written,
 * contiguous and with consecutive queue offsets per queue, or none is.
 *
 * @param[out] results  n entries, written on success.
 * @return 0; RILL_EINVAL (n == 0, bad flags); RILL_ETOPIC (empty or > 127 B
 *         topic); RILL_ETOOBIG (a body above max_message_size, or the batch
 *         cannot fit in one segment); RILL_EDISKFULL (writes refused, or a
 *         new segment cannot be reserved); RILL_EBUSY (too many queues); errno.
 * @remark Thread-safe. Returns once the bytes are in the mapping (not yet
 *         durable: see flush.h). Never waits for dispatch.
 */
int commitlog_append(commitlog_t *cl, const store_msg_t *msgs, size_t n,
                     store_put_result_t *results);

/** Refuse (rc = RILL_EDISKFULL) or allow (rc = 0) appends; set by the cleaner. */
void commitlog_set_refuse(commitlog_t *cl, int rc);

/**
 * Refuse every later append with rc, for good (the first call wins): set by
 * the flusher when a flush fails, since after an EIO the kernel may have
 * dropped the dirty pages and a later flush could report success for bytes
 * that never reached the disk. A restart re-verifies the tail.
 */
void commitlog_set_fatal(commitlog_t *cl, int rc);

/** End of the last complete record (acquire). */
uint64_t commitlog_committed(const commitlog_t *cl);

/** Start of the oldest segment still present (0 for an empty log). */
uint64_t commitlog_min_offset(commitlog_t *cl);

/** End of the newest mapped segment (0 for an empty log). */
uint64_t commitlog_mapped_end(commitlog_t *cl);

uint64_t commitlog_segment_size(const commitlog_t *cl);

/**
 * Pointer to the byte at `phys` and how many bytes of its segment follow it.
 * Returns NULL when phys is not mapped. The pointer stays valid while the
 * segment exists: callers use it only at or above the dispatched offset,
 * below which alone retention deletes.
 */
const uint8_t *commitlog_ptr(commitlog_t *cl, uint64_t phys, uint64_t *avail);

/**
 * Copy the record at `phys` into buf (safe against concurrent retention).
 * @param[out] size_out  the record size, also set when the result is RILL_ENOSPACE.
 * @return 0; RILL_ERANGE when phys is below the minimum or at/after committed;
 *         RILL_ECORRUPT when no valid record starts there; RILL_ENOSPACE.
 */
int commitlog_read(commitlog_t *cl, uint64_t phys, void *buf, size_t cap, uint32_t *size_out);

/**
 * Copy `size` bytes at `phys` (a record whose size is known, e.g. from the
 * ConsumeQueue) into dst. 0 or RILL_ERANGE.
 */
int commitlog_copy(commitlog_t *cl, uint64_t phys, uint32_t size, void *dst);

/** msync [from, to) across segments. 0 or errno. */
int commitlog_flush(commitlog_t *cl, uint64_t from, uint64_t to);

/**
 * Recovery only, before any append: make `end` the write position. Zeroes the
 * rest of its segment, removes segments that start after it, and creates the
 * first segment of an empty log lazily on the first append.
 * @return 0; RILL_ERANGE when end is outside the mapped segments.
 */
int commitlog_set_end(commitlog_t *cl, uint64_t end);

/** Recovery only: seed the next queue offset of (topic, queue). */
int commitlog_set_queue_offset(commitlog_t *cl, const char *topic, uint16_t topic_len,
                               uint32_t queue_id, uint64_t next_offset);

/** Next queue offset the appender will assign to (topic, queue), 0 if unknown. */
uint64_t commitlog_next_queue_offset(commitlog_t *cl, const char *topic, uint16_t topic_len,
                                     uint32_t queue_id);

/** One segment as seen by retention. */
typedef struct commitlog_segment_info {
    uint64_t start;
    uint64_t end;
    int64_t mtime_ms; /* last modification of the file */
} commitlog_segment_info_t;

/** Copy up to cap segment descriptions, oldest first; returns how many exist. */
size_t commitlog_segments(commitlog_t *cl, commitlog_segment_info_t *out, size_t cap);

/**
 * Delete the oldest segment if it ends at or below `limit` (never the active
 * one). Returns 0 when one was deleted, RILL_ENOTFOUND when none qualifies.
 */
int commitlog_delete_oldest(commitlog_t *cl, uint64_t limit);

/**
 * Replication (slave side): append `len` bytes of whole records a master
 * encoded, byte-identical, at `offset`, which must equal the write position.
 * Every record is verified (checksum, phys_offset, segment layout); the
 * valid prefix before a bad record stays appended.
 * @param[out] bad_at  the write position reached (where a bad record starts).
 * @return 0; RILL_ERANGE (offset != write position); RILL_ECORRUPT; errno.
 */
int commitlog_append_raw(commitlog_t *cl, uint64_t offset, const uint8_t *bytes, size_t len,
                         uint64_t *bad_at);

#endif
