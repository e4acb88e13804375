/*
 * dispatcher.h - feeds LMDB from the CommitLog: for every new record it writes
 * the ConsumeQueue entry, key-index entries and queue maximum, together with
 * meta.dispatched, in large batched write transactions.
 */
#ifndef RILL_STORE_DISPATCHER_H
#define RILL_STORE_DISPATCHER_H

#include <stdint.h>

typedef struct dispatcher dispatcher_t;
struct store;

/** Create (no thread yet); dispatched: every record below is already in LMDB. */
int dispatcher_create(dispatcher_t **out, struct store *s, uint64_t dispatched,
                      uint64_t checkpoint);

/** Dispatch synchronously on the calling thread until `end` (recovery). */
int dispatcher_run_until(dispatcher_t *d, uint64_t end);

/** Start the "dispatcher" thread. */
int dispatcher_start(dispatcher_t *d);

/** Tell the thread new records were committed (cheap when it is busy). */
void dispatcher_notify(dispatcher_t *d);

/** Dispatch everything committed, stop the thread, write the final checkpoint. */
void dispatcher_stop(dispatcher_t *d);

void dispatcher_free(dispatcher_t *d);

uint64_t dispatcher_dispatched(dispatcher_t *d);

/** Wait until dispatched >= target. 0 or RILL_EFLUSHTIMEOUT. */
int dispatcher_wait(dispatcher_t *d, uint64_t target, uint32_t timeout_ms);

/** Store time of the last record dispatched (0 before any). */
uint64_t dispatcher_last_store_ts(dispatcher_t *d);

#endif
