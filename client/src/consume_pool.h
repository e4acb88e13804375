/*
 * consume_pool.h - a fixed set of named worker threads running tasks, now
 * or after a delay (internal). The push consumer runs listener calls on one
 * ("rill-consume", consume.threads threads) and schedules its pulls on
 * another ("rill-pull", one thread).
 *
 * Tasks are intrusive: the caller embeds a cp_task_t in its own object, so
 * submitting never allocates and never fails for lack of room. The pool's
 * queues are bounded by its users: a task can be queued at most once at a
 * time (asserted), and the push consumer has at most one pull task and one
 * consume task per process queue, plus one retry task per cached message,
 * all bounded by flow control.
 */
#ifndef RILL_CLIENT_CONSUME_POOL_H
#define RILL_CLIENT_CONSUME_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CP_THREADS_MAX     1000
#define CP_THREAD_NAME_MAX 15 /* pthread_setname_np's limit without the NUL */

typedef struct cp_pool cp_pool_t;
typedef struct cp_task cp_task_t;

/**
 * A task's function. cancelled is true when the pool is being destroyed
 * and the task must only release what it holds (it must not resubmit: the
 * pool refuses with RILL_ECLOSED anyway).
 */
typedef void (*cp_fn)(cp_task_t *task, bool cancelled);

struct cp_task {
    cp_fn fn;
    /* owned by the pool while queued */
    cp_task_t *next;
    uint64_t due_ms; /* monotonic */
    bool queued;
};

/** Initialise a task before its first submit. */
static inline void cp_task_init(cp_task_t *t, cp_fn fn)
{
    t->fn = fn;
    t->next = NULL;
    t->due_ms = 0;
    t->queued = false;
}

/**
 * Start `threads` workers named `name` (at most CP_THREAD_NAME_MAX bytes).
 * @return 0; RILL_EINVAL (threads out of [1, CP_THREADS_MAX]); ENOMEM; errno
 *         of pthread_create.
 */
int cp_create(cp_pool_t **out, size_t threads, const char *name);

/**
 * Run t on a worker as soon as one is free (delay_ms 0), or no earlier than
 * delay_ms from now. Tasks due at the same time run in submission order.
 * @return 0; RILL_ECLOSED (the pool is being destroyed: t will not run).
 * @remark Thread-safe; never blocks for long (no allocation); may be called
 *         from nng callbacks and from tasks, including t itself while it runs.
 */
int cp_submit(cp_pool_t *p, cp_task_t *t, uint32_t delay_ms);

/** Tasks queued now (ready and delayed). */
size_t cp_pending(cp_pool_t *p);

/**
 * Refuse new tasks, wait for the running ones, run every queued task with
 * cancelled = true (delays ignored) and join the workers. The pool stays
 * allocated, so late cp_submit() calls (from rpc completions) safely get
 * RILL_ECLOSED until cp_destroy(). Idempotent.
 * @remark Not from a task of this pool.
 */
void cp_shutdown(cp_pool_t *p);

/** cp_shutdown() if not done, then free. NULL ok. No cp_submit() may follow. */
void cp_destroy(cp_pool_t *p);

#endif
