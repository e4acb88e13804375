/*
 * scanner.c - the expiry scan (see scanner.h).
 *
 * The thread sleeps on a monotonic condition variable so that
 * ns_scanner_stop() wakes it at once; `stop` is the only shared field and
 * sc->mtx guards it. The scan itself takes the route table's write lock.
 */
#include "namesrv/scanner.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define LOG_MOD "namesrv"

struct ns_scanner {
    ns_route_table_t *rt;
    uint64_t interval_ms;
    uint64_t expiry_ms;
    pthread_t thread;
    pthread_mutex_t mtx;
    pthread_cond_t wake; /* monotonic */
    bool stop;
};

static void *scan_main(void *arg)
{
    ns_scanner_t *sc = arg;
    pthread_setname_np(pthread_self(), "ns-scan");
    pthread_mutex_lock(&sc->mtx);
    while (!sc->stop) {
        struct timespec deadline;
        rill_deadline_after_ms(&deadline, sc->interval_ms);
        /* Each wait ends at the deadline or on stop; spurious wake-ups just scan early. */
        pthread_cond_timedwait(&sc->wake, &sc->mtx, &deadline);
        if (sc->stop)
            break;
        pthread_mutex_unlock(&sc->mtx);
        int dropped = ns_route_expire(sc->rt, rill_mono_ms(), sc->expiry_ms);
        if (dropped > 0)
            LOG_INFO(LOG_MOD, "expiry scan dropped %d broker(s)", dropped);
        pthread_mutex_lock(&sc->mtx);
    }
    pthread_mutex_unlock(&sc->mtx);
    return NULL;
}

int ns_scanner_start(ns_scanner_t **out, ns_route_table_t *rt, uint64_t interval_ms,
                     uint64_t expiry_ms)
{
    if (interval_ms == 0 || expiry_ms == 0)
        return RILL_EINVAL;
    ns_scanner_t *sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return ENOMEM;
    sc->rt = rt;
    sc->interval_ms = interval_ms;
    sc->expiry_ms = expiry_ms;
    int rc = pthread_mutex_init(&sc->mtx, NULL);
    if (rc != 0)
        goto fail_free;
    if ((rc = rill_cond_init_monotonic(&sc->wake)) != 0)
        goto fail_mtx;
    if ((rc = pthread_create(&sc->thread, NULL, scan_main, sc)) != 0)
        goto fail_cond;
    *out = sc;
    return 0;
fail_cond:
    pthread_cond_destroy(&sc->wake);
fail_mtx:
    pthread_mutex_destroy(&sc->mtx);
fail_free:
    free(sc);
    return rc;
}

void ns_scanner_stop(ns_scanner_t *sc)
{
    if (sc == NULL)
        return;
    pthread_mutex_lock(&sc->mtx);
    sc->stop = true;
    pthread_cond_signal(&sc->wake);
    pthread_mutex_unlock(&sc->mtx);
    pthread_join(sc->thread, NULL);
    pthread_cond_destroy(&sc->wake);
    pthread_mutex_destroy(&sc->mtx);
    free(sc);
}
