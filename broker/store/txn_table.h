/*
 * txn_table.h - the `txn` table: one entry per unresolved half message
 * (transactional message, RECORD_TX_PREPARED), keyed by its CommitLog offset.
 *
 * Life of an entry: the dispatcher inserts it when it dispatches the half
 * (value size:4 only) and deletes it when it dispatches the record that
 * resolves the half (a RECORD_TX_COMMIT copy or a RECORD_TX_ROLLBACK record
 * whose prepared_tx_offset is the half's offset). Resolution therefore
 * follows log order, survives a crash at any point (the log is replayed into
 * LMDB) and reaches slaves with the log. While the entry exists retention
 * keeps the half's segment; once it is gone nothing protects it.
 *
 * The broker's check-back (broker/transaction.c) rewrites the value with its
 * bookkeeping, and only while the entry exists:
 *
 *   key   phys:8
 *   value size:4                                   (as dispatched: never checked)
 *         size:4 check_count:4 next_check_ts:8     (TXN_VAL_BYTES, after a check)
 *
 * The producer group, topic and queue are in the half record itself (PGROUP
 * property), so they are read from the CommitLog, not duplicated here.
 */
#ifndef RILL_STORE_TXN_TABLE_H
#define RILL_STORE_TXN_TABLE_H

#include "broker/store/tables.h"

#include <stddef.h>
#include <stdint.h>

#define TXN_VAL_BYTES_DISPATCHED 4
#define TXN_VAL_BYTES            16

typedef struct store store_t;

/** One pending half message. */
typedef struct txn_entry {
    uint64_t phys;          /* CommitLog offset of the half */
    uint32_t size;          /* its record bytes */
    uint32_t check_count;   /* check-backs sent so far */
    uint64_t next_check_ts; /* epoch ms; 0 = never checked (first at store_ts + timeout) */
} txn_entry_t;

/**
 * Inside a dispatcher write transaction: the half at phys is resolved, drop
 * its entry. An absent entry is fine (0): resolved twice, or never dispatched.
 * @return 0 or the kv error.
 */
int txn_table_resolve(kv_txn_t *txn, const store_tables_t *t, uint64_t phys);

/**
 * Copy up to cap pending entries with phys >= from, in offset order.
 * @param[out] n  entries written.
 * @return 0; RILL_EKV; RILL_ECORRUPT (a value of an unknown size).
 */
int store_txn_list(store_t *s, uint64_t from, txn_entry_t *out, size_t cap, size_t *n);

/** The pending entry at phys: 0; RILL_ENOTFOUND (resolved or never a half); RILL_EKV. */
int store_txn_get(store_t *s, uint64_t phys, txn_entry_t *out);

/**
 * Record a check-back of the half at phys, only if it is still pending.
 * @return 0; RILL_ENOTFOUND (resolved meanwhile: nothing written); kv errors.
 */
int store_txn_set_check(store_t *s, uint64_t phys, uint32_t check_count, uint64_t next_check_ts);

/** Number of pending half messages. */
int store_txn_count(store_t *s, uint64_t *out);

#endif
