/*
 * consume_queue.h - the ConsumeQueue of every (topic, queue): queue offset ->
 * where the message lies in the CommitLog, its size, tag hash and store time.
 *
 * Entries are packed CQ_CHUNK_ENTRIES to one LMDB value keyed by the first
 * queue offset of the chunk. One put per chunk instead of one per message
 * cuts the dispatcher's LMDB work for the queue index by an order of
 * magnitude; a read of one entry is still one lookup. A chunk always starts
 * at its first offset; offsets never written (a queue whose head was deleted
 * before an LMDB rebuild) are zero entries, "holes", that readers skip.
 */
#ifndef RILL_STORE_CONSUME_QUEUE_H
#define RILL_STORE_CONSUME_QUEUE_H

#include "broker/store/tables.h"

#define CQ_CHUNK_ENTRIES 32u
#define CQ_CHUNK_BYTES   (CQ_CHUNK_ENTRIES * CQ_VAL_BYTES)

/** Read the entry at off. 0; RILL_ENOTFOUND (absent or a hole); RILL_ECORRUPT. */
int cq_read(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid, uint64_t off,
            cq_entry_t *e);

/**
 * First offset of the queue whose entry points at or above log_min (older
 * entries point into deleted segments). *min = next when there is none.
 */
int cq_min_offset(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                  uint64_t log_min, uint64_t next, uint64_t *min);

/** Forward iterator over the entries of one queue, skipping holes. */
typedef struct cq_iter {
    kv_cursor_t *cur;
    uint8_t prefix[8];
    const uint8_t *chunk;
    uint64_t chunk_start;
    uint32_t chunk_n, idx;
} cq_iter_t;

/** Position at the first entry >= off. 0 or an error (RILL_ENOTFOUND is not an error here). */
int cq_iter_open(cq_iter_t *it, kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                 uint64_t off);
/** Next entry: 0 with *off and *e, RILL_ENOTFOUND at the end of the queue. */
int cq_iter_next(cq_iter_t *it, uint64_t *off, cq_entry_t *e);
void cq_iter_close(cq_iter_t *it);

/**
 * Write n entries of one queue, offs ascending (the dispatcher's batch for
 * that queue): one read-modify-write per chunk touched.
 */
int cq_write_run(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                 const uint64_t *offs, const cq_entry_t *entries, size_t n);

/**
 * Remove the entries at the tail of the queue that point at or past
 * end_phys (recovery after a cut). *next gets the new next offset (at most
 * the old one), *last_ts the store time of the new last entry (unchanged
 * when none remains), *removed the count.
 */
int cq_truncate_tail(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                     uint64_t end_phys, uint64_t *next, uint64_t *last_ts, uint64_t *removed);

/**
 * Delete whole chunks at the head of the queue whose entries all point below
 * `below` (retention). Stops after `budget` chunks; *deleted += chunks removed.
 * Returns 1 when the budget ran out, 0 when done, or an error.
 */
int cq_purge_head(kv_txn_t *txn, const store_tables_t *t, uint32_t tid, uint32_t qid,
                  uint64_t below, uint64_t budget, uint64_t *deleted);

#endif
