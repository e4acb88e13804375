/*
 * consume_pool.c - worker threads over two intrusive lists: `ready` (FIFO)
 * and `delayed` (sorted by due time, FIFO among equals).
 *
 * Design notes: one mutex guards both lists and the flags; a worker takes
 * the first ready task, or moves due delayed tasks to ready, or sleeps on
 * the condvar until the earliest due time or a submit. Tasks run with no
 * pool lock held. A task is dequeued (queued = false) before it runs, so it
 * may resubmit itself. Destroy sets `closing` (submits fail from then on),
 * waits for the running tasks, then runs what is still queued with
 * cancelled = true on the destroying thread and joins the workers; the
 * memory stays until cp_destroy() so late submits fail cleanly.
 */
#include "client/src/consume_pool.h"

#include "common/clock.h"
#include "common/errors.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cp_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* work arrived, or closing */
    pthread_cond_t idle_cond; /* running reached 0 */
    cp_task_t *ready_head, *ready_tail;
    cp_task_t *delayed; /* sorted by due_ms */
    size_t n_pending;
    size_t running;
    bool closing;
    bool joined; /* cp_shutdown() finished */
    char name[CP_THREAD_NAME_MAX + 1];
    size_t n_threads;
    pthread_t *threads;
};

static void push_ready_locked(cp_pool_t *p, cp_task_t *t)
{
    t->next = NULL;
    if (p->ready_tail)
        p->ready_tail->next = t;
    else
        p->ready_head = t;
    p->ready_tail = t;
}

static void push_delayed_locked(cp_pool_t *p, cp_task_t *t)
{
    cp_task_t **at = &p->delayed;
    while (*at && (*at)->due_ms <= t->due_ms)
        at = &(*at)->next;
    t->next = *at;
    *at = t;
}

/* Next task to run, or NULL with *wait_ms set (0: wait for a signal). */
static cp_task_t *take_locked(cp_pool_t *p, uint64_t *wait_ms)
{
    uint64_t now = rill_mono_ms();
    while (p->delayed && p->delayed->due_ms <= now) {
        cp_task_t *t = p->delayed;
        p->delayed = t->next;
        push_ready_locked(p, t);
    }
    cp_task_t *t = p->ready_head;
    if (t) {
        p->ready_head = t->next;
        if (!p->ready_head)
            p->ready_tail = NULL;
        t->next = NULL;
        t->queued = false;
        p->n_pending--;
        return t;
    }
    *wait_ms = p->delayed ? p->delayed->due_ms - now : 0;
    return NULL;
}

static void *worker(void *arg)
{
    cp_pool_t *p = arg;
    pthread_setname_np(pthread_self(), p->name);
    pthread_mutex_lock(&p->lock);
    while (!p->closing) {
        uint64_t wait_ms = 0;
        cp_task_t *t = take_locked(p, &wait_ms);
        if (!t) {
            if (wait_ms > 0) {
                struct timespec ts;
                rill_deadline_after_ms(&ts, wait_ms);
                pthread_cond_timedwait(&p->cond, &p->lock, &ts);
            } else {
                pthread_cond_wait(&p->cond, &p->lock);
            }
            continue;
        }
        p->running++;
        pthread_mutex_unlock(&p->lock);
        t->fn(t, false);
        pthread_mutex_lock(&p->lock);
        if (--p->running == 0)
            pthread_cond_broadcast(&p->idle_cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int cp_create(cp_pool_t **out, size_t threads, const char *name)
{
    if (threads < 1 || threads > CP_THREADS_MAX)
        return RILL_EINVAL;
    cp_pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return ENOMEM;
    p->threads = calloc(threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return ENOMEM;
    }
    snprintf(p->name, sizeof p->name, "%s", name);
    pthread_mutex_init(&p->lock, NULL);
    rill_cond_init_monotonic(&p->cond);
    pthread_cond_init(&p->idle_cond, NULL);
    for (size_t i = 0; i < threads; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker, p);
        if (rc != 0) {
            cp_destroy(p);
            return rc;
        }
        p->n_threads++;
    }
    *out = p;
    return 0;
}

int cp_submit(cp_pool_t *p, cp_task_t *t, uint32_t delay_ms)
{
    pthread_mutex_lock(&p->lock);
    if (p->closing) {
        pthread_mutex_unlock(&p->lock);
        return RILL_ECLOSED;
    }
    assert(!t->queued && "a task is queued at most once");
    t->queued = true;
    p->n_pending++;
    if (delay_ms == 0) {
        push_ready_locked(p, t);
        pthread_cond_signal(&p->cond);
    } else {
        t->due_ms = rill_mono_ms() + delay_ms;
        bool first = !p->delayed || t->due_ms < p->delayed->due_ms;
        push_delayed_locked(p, t);
        if (first) /* a sleeper may be waiting for a later time */
            pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

size_t cp_pending(cp_pool_t *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->n_pending;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void cp_shutdown(cp_pool_t *p)
{
    pthread_mutex_lock(&p->lock);
    if (p->joined) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->closing = true;
    pthread_cond_broadcast(&p->cond);
    while (p->running > 0)
        pthread_cond_wait(&p->idle_cond, &p->lock);
    /* every task left is cancelled; cancelled tasks cannot resubmit (closing) */
    while (p->ready_head || p->delayed) {
        cp_task_t *t = p->ready_head;
        if (t) {
            p->ready_head = t->next;
            if (!p->ready_head)
                p->ready_tail = NULL;
        } else {
            t = p->delayed;
            p->delayed = t->next;
        }
        t->next = NULL;
        t->queued = false;
        p->n_pending--;
        pthread_mutex_unlock(&p->lock);
        t->fn(t, true);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_lock(&p->lock);
    p->joined = true;
    pthread_mutex_unlock(&p->lock);
}

void cp_destroy(cp_pool_t *p)
{
    if (!p)
        return;
    cp_shutdown(p);
    pthread_cond_destroy(&p->idle_cond);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}
