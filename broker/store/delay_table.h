/*
 * delay_table.h - the `delay` table: one entry per delayed message not yet
 * delivered (RECORD_FLAG_DELAYED), keyed by (deliver_ts, phys).
 *
 * The dispatcher inserts an entry when it dispatches a delayed record and
 * deletes it when it dispatches the record that delivers it: a visible copy
 * carrying the property DELAY_ORIGIN="<deliver_ts>:<phys>" (the entry's key),
 * appended by the broker's "delay" thread (broker/delay.c). Delivery is
 * therefore recorded in log order and survives a crash at any point.
 *
 *   key   deliver_ts:8 phys:8 (big-endian)   value size:4
 */
#ifndef RILL_STORE_DELAY_TABLE_H
#define RILL_STORE_DELAY_TABLE_H

#include "broker/store/tables.h"

#include <stddef.h>
#include <stdint.h>

#define DELAY_ORIGIN_PROP "DELAY_ORIGIN"

typedef struct store store_t;

/** One pending delayed message. */
typedef struct delay_entry {
    uint64_t deliver_ts; /* epoch ms */
    uint64_t phys;       /* CommitLog offset of the delayed record */
    uint32_t size;       /* its record bytes */
} delay_entry_t;

/**
 * Inside a dispatcher write transaction: a record carrying DELAY_ORIGIN was
 * dispatched; parse its value and drop that entry. An absent entry or a
 * malformed value is fine (0).
 */
int delay_table_delivered(kv_txn_t *txn, const store_tables_t *t, const char *val, size_t vlen);

/**
 * Copy up to cap entries due at `now` (deliver_ts <= now), earliest first.
 * @param[out] n        entries written.
 * @param[out] next_ts  deliver_ts of the first entry not returned (UINT64_MAX if none).
 * @return 0; RILL_EKV; RILL_ECORRUPT.
 */
int store_delay_due(store_t *s, uint64_t now, delay_entry_t *out, size_t cap, size_t *n,
                    uint64_t *next_ts);

/** Delete one entry directly (its record is gone from the log). 0 or a kv error. */
int store_delay_drop(store_t *s, uint64_t deliver_ts, uint64_t phys);

/** Number of pending delayed messages. */
int store_delay_count(store_t *s, uint64_t *out);

#endif
