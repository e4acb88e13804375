/*
 * store_impl.h - the store's insides, shared by store.c, dispatcher.c,
 * recovery.c, query.c and retention.c. Not for use outside broker/store/.
 */
#ifndef RILL_STORE_IMPL_H
#define RILL_STORE_IMPL_H

#include "broker/store/commitlog.h"
#include "broker/store/dispatcher.h"
#include "broker/store/flush.h"
#include "broker/store/store.h"
#include "broker/store/tables.h"
#include "kvstore/kv.h"

#include <pthread.h>
#include <stdatomic.h>

struct store {
    store_config_t cfg;
    char commitlog_dir[1100];
    char kv_dir[1100];
    commitlog_t *cl;
    kv_env_t *kv;
    store_tables_t t;
    flusher_t *flusher;
    dispatcher_t *disp;
    uint32_t delete_hours;   /* bit h set: retention may delete expired segments at hour h */
    uint64_t recovered_from; /* recovery verified the log from here: below is durable */

    pthread_mutex_t retention_lock; /* one retention pass at a time */
    pthread_t cleaner;
    int cleaner_running;
    pthread_mutex_t cleaner_lock;
    pthread_cond_t cleaner_cond;
    int cleaner_stop;

    _Atomic uint64_t puts, put_bytes;
    _Atomic uint64_t disk_usage_ppm; /* parts per million */
    _Atomic uint64_t purged_below;
    _Atomic int refusing; /* appends refused for disk space */ /* derived entries below this
                                                                  commitlog offset are gone */
};

/** Recovery (recovery.c): bring LMDB and the log into agreement before threads start. */
int store_recover(store_t *s);

/** Measure disk use and refuse or allow appends (retention.c). Returns the usage 0..1. */
double retention_check_disk(store_t *s);
/** Retention pass (retention.c). Returns segments deleted (>= 0) or an error. */
int retention_run(store_t *s);
/** Cleaner thread body (retention.c). */
void *retention_main(void *arg);
/** Parse deleteWhen ("04", "04;10", "*") into an hour bitmask. RILL_ECONFIG on error. */
int retention_parse_hours(const char *spec, uint32_t *mask);

#endif
