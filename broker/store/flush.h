/*
 * flush.h - makes CommitLog bytes durable: periodic flushing (ASYNC_FLUSH)
 * and group commit (SYNC_FLUSH), where every append waiting for durability
 * is completed by one msync that covers all of them.
 */
#ifndef RILL_STORE_FLUSH_H
#define RILL_STORE_FLUSH_H

#include "broker/store/commitlog.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>

typedef struct flusher flusher_t;
typedef struct flush_waiter flush_waiter_t;

/**
 * Called exactly once per submitted waiter, on the flusher thread (or inside
 * flusher_submit when the bytes are already durable), with no lock held.
 * rc: 0 durable; RILL_EFLUSHTIMEOUT when durability took longer than the
 * timeout (the bytes stay in the log and will be flushed); RILL_ECLOSED at
 * shutdown after a final flush attempt failed; errno from msync.
 */
typedef void (*flush_done_fn)(flush_waiter_t *w, int rc);

/**
 * A request to be told when the log is durable up to `target`. Owned by the
 * caller (embed it in a request context); must stay valid until done runs.
 */
struct flush_waiter {
    uint64_t target;    /* commitlog offset that must be durable */
    flush_done_fn done; /* completion callback */
    void *arg;          /* for the callback */
    /* private */
    uint64_t deadline_ms; /* monotonic */
    int completed, rc;
    sem_t *sem; /* flusher_wait: posted on completion */
    flush_waiter_t *next;
};

typedef struct flusher_options {
    int sync_flush;                 /* SYNC_FLUSH (1) or ASYNC_FLUSH (0) */
    uint32_t interval_ms;           /* flushIntervalCommitLog, 500 */
    uint32_t least_pages;           /* flushCommitLogLeastPages, 4 */
    uint32_t thorough_interval_ms;  /* flushCommitLogThoroughInterval, 10000 */
    uint32_t sync_flush_timeout_ms; /* syncFlushTimeout, 5000 */
} flusher_options_t;

/**
 * Start the flusher thread ("flusher"). `flushed` is the offset known to be
 * durable already; everything committed above it is flushed soon.
 * @return 0, RILL_EINVAL, or errno.
 */
int flusher_start(flusher_t **out, commitlog_t *cl, const flusher_options_t *opt, uint64_t flushed);

/**
 * Flush everything committed, complete every waiter, stop the thread and free.
 * NULL is ok. Waiters still pending after the final flush get RILL_ECLOSED.
 */
void flusher_stop(flusher_t *f);

/** Queue w (target and done set by the caller). Thread-safe; never blocks on I/O. */
void flusher_submit(flusher_t *f, flush_waiter_t *w);

/**
 * Block until the log is durable up to target.
 * @return 0; RILL_EFLUSHTIMEOUT after syncFlushTimeout; RILL_ECLOSED; errno.
 */
int flusher_wait(flusher_t *f, uint64_t target);

/** Offset below which every byte is durable. */
uint64_t flusher_flushed(flusher_t *f);

/** Complete waiters whose timeout passed with RILL_EFLUSHTIMEOUT (a watchdog for hung I/O). */
void flusher_expire(flusher_t *f);

/** Synchronously flush everything committed so far (from the calling thread). */
int flusher_flush_now(flusher_t *f);

#endif
