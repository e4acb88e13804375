/*
 * client.c - rc_client_t's lifecycle and its timer thread.
 *
 * Design notes. Every handle (producer, consumers, admin) owns one client.
 * The client owns one thread, "rill-timer", which runs periodic tasks:
 * the route refresh (route.c) and what handles register (heartbeats,
 * rebalances, offset commits). The thread sleeps on t_wake (a monotonic
 * condvar) until the earliest task is due, a task is added or kicked, or
 * the client stops. A due task is run with t_lock released, one at a time,
 * and `running` says which one, so rc_client_cancel() can wait on t_idle
 * until a running task returns: after cancel, the task is not running and
 * never runs again. Tasks may make synchronous remote calls; they delay
 * the tasks after them, never the caller's threads.
 *
 * Client ids are "<hostname>@<pid>@<n>" with n counting clients of the
 * process, so two handles of one process are two members of a group.
 */
#include "client/src/client_int.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longest a timer sleep lasts without a reason to wake (bounds clock drift effects). */
#define RC_TIMER_IDLE_MS 1000u

static atomic_uint rc_client_counter;

static void *timer_main(void *arg)
{
    rc_client_t *cli = arg;
    pthread_setname_np(pthread_self(), "rill-timer");
    pthread_mutex_lock(&cli->t_lock);
    while (!cli->stop) {
        uint64_t now = rill_mono_ms();
        int due = -1;
        uint64_t due_at = 0, earliest = now + RC_TIMER_IDLE_MS;
        for (int i = 0; i < RC_TASKS_MAX; i++) {
            rc_task_t *t = &cli->tasks[i];
            if (!t->used)
                continue;
            uint64_t at = t->kicked ? 0 : t->next_ms; /* a kicked task goes first */
            if (at <= now && (due < 0 || at < due_at)) {
                due = i;
                due_at = at;
            }
            if (at < earliest)
                earliest = at;
        }
        if (due < 0) {
            struct timespec deadline;
            rill_deadline_after_ms(&deadline, earliest > now ? earliest - now : 0);
            pthread_cond_timedwait(&cli->t_wake, &cli->t_lock, &deadline);
            continue;
        }
        rc_task_t *t = &cli->tasks[due];
        t->kicked = false;
        t->next_ms = now + t->period_ms;
        void (*fn)(void *) = t->fn;
        void *targ = t->arg;
        cli->running = due;
        pthread_mutex_unlock(&cli->t_lock);
        fn(targ);
        pthread_mutex_lock(&cli->t_lock);
        cli->running = -1;
        pthread_cond_broadcast(&cli->t_idle);
    }
    pthread_mutex_unlock(&cli->t_lock);
    return NULL;
}

int rc_client_every(rc_client_t *cli, uint32_t period_ms, bool now, void (*fn)(void *), void *arg)
{
    assert(cli != NULL && fn != NULL);
    if (period_ms == 0)
        period_ms = 1;
    pthread_mutex_lock(&cli->t_lock);
    int id = -1;
    for (int i = 0; i < RC_TASKS_MAX; i++) {
        if (!cli->tasks[i].used) {
            id = i;
            break;
        }
    }
    if (id < 0) {
        pthread_mutex_unlock(&cli->t_lock);
        return rc_fail(RILL_EBUSY, "too many periodic tasks (%d) on one client", RC_TASKS_MAX);
    }
    cli->tasks[id] = (rc_task_t){
        .used = true,
        .kicked = now,
        .period_ms = period_ms,
        .next_ms = rill_mono_ms() + period_ms,
        .fn = fn,
        .arg = arg,
    };
    pthread_cond_signal(&cli->t_wake);
    pthread_mutex_unlock(&cli->t_lock);
    return id;
}

void rc_client_kick(rc_client_t *cli, int task_id)
{
    if (cli == NULL || task_id < 0 || task_id >= RC_TASKS_MAX)
        return;
    pthread_mutex_lock(&cli->t_lock);
    if (cli->tasks[task_id].used) {
        cli->tasks[task_id].kicked = true;
        pthread_cond_signal(&cli->t_wake);
    }
    pthread_mutex_unlock(&cli->t_lock);
}

void rc_client_cancel(rc_client_t *cli, int task_id)
{
    if (cli == NULL || task_id < 0 || task_id >= RC_TASKS_MAX)
        return;
    pthread_mutex_lock(&cli->t_lock);
    /* a task cancelling itself would wait for itself forever */
    assert(!(cli->timer_started && pthread_equal(pthread_self(), cli->timer) &&
             cli->running == task_id));
    cli->tasks[task_id].used = false;
    while (cli->running == task_id)
        pthread_cond_wait(&cli->t_idle, &cli->t_lock);
    pthread_mutex_unlock(&cli->t_lock);
}

struct rill_conf *rc_client_conf(rc_client_t *cli)
{
    return cli->conf;
}

static void client_make_id(char *out, size_t cap)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    unsigned n = atomic_fetch_add(&rc_client_counter, 1);
    /* keep the id within RC_CLIENT_ID_BYTES: cut the host name, never pid or n */
    char tail[48];
    snprintf(tail, sizeof(tail), "@%d@%u", (int)getpid(), n);
    int room = (int)cap - 1 - (int)strlen(tail);
    snprintf(out, cap, "%.*s%s", room > 0 ? room : 0, host, tail);
    /* a client id has no spaces or control bytes (the broker checks) */
    for (char *c = out; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            *c = '_';
}

int rc_client_open(rc_client_t **out, struct rill_conf *conf, char *errstr, size_t errstr_size)
{
    assert(out != NULL && conf != NULL);
    rc_client_t *cli = calloc(1, sizeof(*cli));
    if (cli == NULL) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "out of memory");
        return rc_fail(ENOMEM, "out of memory");
    }
    cli->conf = conf;
    cli->running = -1;
    cli->route_task = -1;
    pthread_mutex_init(&cli->ns_lock, NULL);
    pthread_mutex_init(&cli->route_lock, NULL);
    pthread_mutex_init(&cli->br_lock, NULL);
    pthread_mutex_init(&cli->t_lock, NULL);
    pthread_cond_init(&cli->t_idle, NULL);
    int rc = rill_cond_init_monotonic(&cli->t_wake);
    if (rc != 0) {
        pthread_cond_init(&cli->t_wake, NULL); /* so close can destroy it */
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "cannot create a condition variable: %s", strerror(rc));
        rc_fail(rc, "cannot create a condition variable: %s", strerror(rc));
        goto fail;
    }

    rc = rc_namesrv_parse(cli, conf->namesrv, errstr, errstr_size);
    if (rc != 0)
        goto fail;
    /* log.level is process-wide: the logger has one threshold */
    rill_log_set_level((rill_log_level_t)conf->log_level);
    if (conf->client_id[0] == '\0')
        client_make_id(conf->client_id, sizeof(conf->client_id));

    rc = pthread_create(&cli->timer, NULL, timer_main, cli);
    if (rc != 0) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "cannot start the timer thread: %s", strerror(rc));
        rc_fail(rc, "cannot start the timer thread: %s", strerror(rc));
        goto fail;
    }
    cli->timer_started = true;
    rc = rc_route_start(cli);
    if (rc != 0) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s", rill_last_error());
        goto fail;
    }
    *out = cli;
    return 0;
fail:
    rc_client_close(cli);
    return rc;
}

void rc_client_close(rc_client_t *cli)
{
    if (cli == NULL)
        return;
    if (cli->timer_started) {
        pthread_mutex_lock(&cli->t_lock);
        cli->stop = true;
        pthread_cond_signal(&cli->t_wake);
        pthread_mutex_unlock(&cli->t_lock);
        pthread_join(cli->timer, NULL);
        cli->timer_started = false;
    }
    /* nothing calls the client any more: close what the parts hold */
    rc_route_close(cli);
    rc_brokers_close(cli);
    rc_namesrv_close(cli);
    pthread_cond_destroy(&cli->t_wake);
    pthread_cond_destroy(&cli->t_idle);
    pthread_mutex_destroy(&cli->t_lock);
    pthread_mutex_destroy(&cli->br_lock);
    pthread_mutex_destroy(&cli->route_lock);
    pthread_mutex_destroy(&cli->ns_lock);
    free(cli);
}
