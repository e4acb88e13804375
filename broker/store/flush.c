/*
 * flush.c - the flusher thread: periodic flushes and group commit.
 *
 * Design notes
 * - One thread ("flusher") owns msync. It sleeps on `cond`; appenders that
 *   need durability queue a flush_waiter and signal it. Each round flushes
 *   everything committed at its start, so all waiters queued before the round
 *   (and any that arrive during the previous one) share one msync: group commit.
 * - `lock` guards the waiter list and `flushed`. Callbacks run after the lock
 *   is dropped; each waiter completes exactly once (completed flag, set under
 *   the lock by whoever completes it: the flusher, expiry, or shutdown).
 * - A blocked flusher_wait() sleeps on its own semaphore, so a round wakes
 *   exactly its waiters, without a herd on one condition variable.
 * - ASYNC_FLUSH: every interval_ms, flush when at least least_pages pages are
 *   dirty; every thorough_interval_ms flush whatever is dirty.
 */
#include "broker/store/flush.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define FLUSH_PAGE_BYTES 4096u

struct flusher {
    commitlog_t *cl;
    flusher_options_t opt;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* wakes the flusher */
    flush_waiter_t *head, *tail;
    _Atomic uint64_t flushed;
    uint64_t last_thorough_ms;
    int stopping;
    int failed; /* sticky flush error: nothing is durable past `flushed` any more */
};

static void list_push(flusher_t *f, flush_waiter_t *w)
{
    w->next = NULL;
    if (f->tail)
        f->tail->next = w;
    else
        f->head = w;
    f->tail = w;
}

/* Unlink every waiter for which pick() is true and chain them through next. */
static flush_waiter_t *list_take(flusher_t *f, int (*pick)(flush_waiter_t *, uint64_t),
                                 uint64_t arg)
{
    flush_waiter_t *taken = NULL, **tail = &taken, *prev = NULL;
    for (flush_waiter_t *w = f->head; w != NULL;) {
        flush_waiter_t *next = w->next;
        if (pick(w, arg)) {
            if (prev)
                prev->next = next;
            else
                f->head = next;
            if (f->tail == w)
                f->tail = prev;
            w->next = NULL;
            *tail = w;
            tail = &w->next;
        } else {
            prev = w;
        }
        w = next;
    }
    return taken;
}

static int pick_durable(flush_waiter_t *w, uint64_t flushed)
{
    return w->target <= flushed;
}
static int pick_overdue(flush_waiter_t *w, uint64_t now)
{
    return w->deadline_ms <= now;
}
static int pick_self(flush_waiter_t *w, uint64_t self)
{
    return (uint64_t)(uintptr_t)w == self;
}
static int pick_all(flush_waiter_t *w, uint64_t unused)
{
    (void)w;
    (void)unused;
    return 1;
}

/*
 * Called with the lock held; drops it to run callbacks, retakes it. Each
 * waiter is marked completed under the lock, then woken after the unlock:
 * a callback waiter through done, a blocking one (flusher_wait) by a post on
 * its semaphore. A blocking waiter cannot return before that post, so its
 * stack stays valid; nothing reads a waiter after waking it.
 */
static void complete(flusher_t *f, flush_waiter_t *list, int rc)
{
    uint64_t now = rill_mono_ms();
    for (flush_waiter_t *w = list; w; w = w->next) {
        w->completed = 1;
        /* Durable, but later than promised: RocketMQ's FLUSH_DISK_TIMEOUT. */
        w->rc = (rc == 0 && now > w->deadline_ms) ? RILL_EFLUSHTIMEOUT : rc;
    }
    pthread_mutex_unlock(&f->lock);
    for (flush_waiter_t *w = list; w;) {
        flush_waiter_t *next = w->next;
        if (w->done)
            w->done(w, w->rc);
        else
            sem_post(w->sem);
        w = next;
    }
    pthread_mutex_lock(&f->lock);
}

/* One flush round; called and returns with the lock held. */
static int flush_round(flusher_t *f)
{
    uint64_t from = atomic_load(&f->flushed);
    uint64_t target = commitlog_committed(f->cl);
    int rc = f->failed;
    if (target > from && rc == 0) {
        pthread_mutex_unlock(&f->lock);
        rc = commitlog_flush(f->cl, from, target);
        pthread_mutex_lock(&f->lock);
        if (rc && !f->failed) {
            f->failed = rc;
            commitlog_set_fatal(f->cl, rc);
            LOG_ERROR("store",
                      "flush [%llu, %llu) failed (%s): the store refuses writes until it is "
                      "restarted and recovery has re-verified the log",
                      (unsigned long long)from, (unsigned long long)target, rill_strerror(rc));
        }
        /* Rounds may overlap (flusher_flush_now): flushed only moves forward. */
        if (rc == 0 && target > atomic_load(&f->flushed))
            atomic_store(&f->flushed, target);
    }
    flush_waiter_t *done = list_take(f, pick_durable, atomic_load(&f->flushed));
    if (done)
        complete(f, done, 0);
    if (rc) {
        /* Everything above the durable offset fails, now and from now on. */
        flush_waiter_t *failed = list_take(f, pick_all, 0);
        if (failed)
            complete(f, failed, rc);
    }
    return rc;
}

static void *flusher_main(void *arg)
{
    flusher_t *f = arg;
    pthread_setname_np(pthread_self(), "flusher");
    pthread_mutex_lock(&f->lock);
    f->last_thorough_ms = rill_mono_ms();
    while (!f->stopping) {
        if (f->head == NULL) {
            struct timespec ts;
            rill_deadline_after_ms(&ts, f->opt.interval_ms);
            pthread_cond_timedwait(&f->cond, &f->lock, &ts);
            if (f->stopping)
                break;
        }
        uint64_t now = rill_mono_ms();
        uint64_t dirty = commitlog_committed(f->cl) - atomic_load(&f->flushed);
        int thorough = now - f->last_thorough_ms >= f->opt.thorough_interval_ms;
        if (f->head != NULL ||
            (!f->opt.sync_flush && dirty >= (uint64_t)f->opt.least_pages * FLUSH_PAGE_BYTES) ||
            (thorough && dirty > 0)) {
            if (flush_round(f) != 0) {
                /* Do not spin on a failing disk. */
                struct timespec ts;
                rill_deadline_after_ms(&ts, 100);
                pthread_cond_timedwait(&f->cond, &f->lock, &ts);
            }
        }
        if (thorough)
            f->last_thorough_ms = now;
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

int flusher_start(flusher_t **out, commitlog_t *cl, const flusher_options_t *opt, uint64_t flushed)
{
    if (cl == NULL || opt == NULL || opt->interval_ms == 0 || opt->sync_flush_timeout_ms == 0)
        return RILL_EINVAL;
    flusher_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return ENOMEM;
    f->cl = cl;
    f->opt = *opt;
    atomic_store(&f->flushed, flushed);
    pthread_mutex_init(&f->lock, NULL);
    rill_cond_init_monotonic(&f->cond);
    int rc = pthread_create(&f->thread, NULL, flusher_main, f);
    if (rc) {
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->lock);
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void flusher_stop(flusher_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    f->stopping = 1;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);

    pthread_mutex_lock(&f->lock);
    flush_round(f);
    flush_waiter_t *left = list_take(f, pick_all, 0);
    if (left)
        complete(f, left, RILL_ECLOSED);
    pthread_mutex_unlock(&f->lock);

    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* Queue w, or complete it at once when already durable (returns 1 then). */
static int submit(flusher_t *f, flush_waiter_t *w)
{
    w->completed = 0;
    w->rc = 0;
    w->deadline_ms = rill_mono_ms() + f->opt.sync_flush_timeout_ms;
    if (w->target <= atomic_load(&f->flushed)) {
        w->completed = 1;
        return 1;
    }
    pthread_mutex_lock(&f->lock);
    list_push(f, w);
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

void flusher_submit(flusher_t *f, flush_waiter_t *w)
{
    if (submit(f, w) && w->done)
        w->done(w, 0);
}

int flusher_wait(flusher_t *f, uint64_t target)
{
    sem_t sem;
    sem_init(&sem, 0, 0);
    flush_waiter_t w = {.target = target, .done = NULL, .sem = &sem};
    if (submit(f, &w)) {
        /* Only an inline completion may be read without the semaphore: once
         * queued, the flusher owns w until it posts. */
        sem_destroy(&sem);
        return 0;
    }
    struct timespec ts;
    rill_deadline_after_ms(&ts, f->opt.sync_flush_timeout_ms);
    int rc;
    while ((rc = sem_clockwait(&sem, CLOCK_MONOTONIC, &ts)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        pthread_mutex_lock(&f->lock);
        int taken = w.completed;
        if (!taken) /* still queued: unlink it so nobody touches our stack */
            list_take(f, pick_self, (uint64_t)(uintptr_t)&w);
        pthread_mutex_unlock(&f->lock);
        if (taken)
            sem_wait(&sem); /* completion is being delivered right now */
        else
            w.rc = RILL_EFLUSHTIMEOUT;
    }
    sem_destroy(&sem);
    return w.rc;
}

uint64_t flusher_flushed(flusher_t *f)
{
    return atomic_load(&f->flushed);
}

void flusher_expire(flusher_t *f)
{
    pthread_mutex_lock(&f->lock);
    flush_waiter_t *overdue = list_take(f, pick_overdue, rill_mono_ms());
    if (overdue)
        complete(f, overdue, RILL_EFLUSHTIMEOUT);
    pthread_mutex_unlock(&f->lock);
}

int flusher_flush_now(flusher_t *f)
{
    pthread_mutex_lock(&f->lock);
    int rc = flush_round(f);
    pthread_mutex_unlock(&f->lock);
    return rc;
}
