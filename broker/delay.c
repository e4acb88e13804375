/*
 * delay.c - delayed messages: messageDelayLevel parsing and the "delay"
 * thread that delivers due messages (the storage contract is in delay.h).
 *
 * The thread scans the `delay` table from its earliest entry, at most every
 * DELAY_TICK_MS (earlier when the next entry is due sooner): each due record
 * is read back by its CommitLog offset and appended again, visible, to its
 * topic and queue with DELAY_ORIGIN="<deliver_ts>:<phys>" added. The
 * dispatcher deletes the entry when it dispatches that copy, so before the
 * next scan the thread waits until its own appends are dispatched: an entry
 * it sees again has really not been delivered.
 */
#include "broker/delay.h"

#include "broker/broker.h"
#include "broker/store/delay_table.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/props.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD        "delay"
#define DELAY_TICK_MS  20  /* longest sleep between scans: the delivery latency bound */
#define DELAY_BATCH    256 /* entries delivered per scan */
#define DELAY_WAIT_MS  1000

struct delay_service {
    broker_t *b;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* monotonic */
    bool stop;
    uint8_t *buf;
    size_t cap;
    char *props;
};

uint64_t delay_pending_count(broker_t *b)
{
    uint64_t n = 0;
    if (b == NULL || b->store == NULL || store_delay_count(b->store, &n) != 0)
        return 0;
    return n;
}

typedef struct copy_arg {
    char *buf;
    size_t len;
    int rc;
} copy_arg_t;

/* Copy every property but the delay ones: the delivered message is an
 * ordinary one (sending it on does not delay it again). */
static int copy_prop(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
    copy_arg_t *ca = arg;
#define NAME_IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)
    if (NAME_IS(RILL_PROP_DELAY_LEVEL) || NAME_IS(RILL_PROP_DELIVER_TIME) ||
        NAME_IS(DELAY_ORIGIN_PROP))
        return 0;
#undef NAME_IS
    char n[256];
    if (nlen >= sizeof(n))
        return RILL_ECORRUPT;
    memcpy(n, name, nlen);
    n[nlen] = '\0';
    return rill_props_append(ca->buf, RECORD_PROPS_BYTES_MAX, &ca->len, n, val, vlen);
}

/* Append the visible copy of one due entry. 0, or an error to retry later. */
static int deliver_one(delay_service_t *d, const delay_entry_t *e)
{
    broker_t *b = d->b;
    if (e->size > d->cap) {
        uint8_t *nb = realloc(d->buf, e->size);
        if (nb == NULL)
            return ENOMEM;
        d->buf = nb;
        d->cap = e->size;
    }
    uint32_t size = 0;
    int rc = store_get_by_phys(b->store, e->phys, d->buf, d->cap, &size);
    record_view_t rv;
    if (rc == 0)
        rc = record_decode(d->buf, size, &rv);
    if (rc == 0 && (rv.kind != RECORD_KIND_MSG || !(rv.flags & RECORD_FLAG_DELAYED)))
        rc = RILL_ECORRUPT;
    if (rc == RILL_ENOTFOUND || rc == RILL_ECORRUPT) {
        /* never happens with retention protecting the entry; do not spin on it */
        LOG_ERROR(LOG_MOD, "delayed message at offset %" PRIu64 " cannot be read (%s): dropped",
                  e->phys, rill_strerror(rc));
        return store_delay_drop(b->store, e->deliver_ts, e->phys);
    }
    if (rc != 0)
        return rc;
    copy_arg_t ca = {d->props, 0, 0};
    rc = rill_props_foreach(rv.props, rv.props_len, copy_prop, &ca);
    size_t len = ca.len;
    char origin[48];
    int n = snprintf(origin, sizeof(origin), "%" PRIu64 ":%" PRIu64, e->deliver_ts, e->phys);
    if (rc == 0)
        rc = rill_props_append(d->props, RECORD_PROPS_BYTES_MAX, &len, DELAY_ORIGIN_PROP, origin,
                               (size_t)n);
    if (rc != 0) {
        LOG_ERROR(LOG_MOD, "delayed message at offset %" PRIu64
                           ": cannot copy its properties: dropped",
                  e->phys);
        return store_delay_drop(b->store, e->deliver_ts, e->phys);
    }
    store_msg_t m = {
        .topic = rv.topic,
        .topic_len = rv.topic_len,
        .queue_id = rv.queue_id,
        .body = rv.body,
        .body_len = rv.body_len,
        .props = d->props,
        .props_len = (uint32_t)len,
        .tag_hash = rv.tag_hash,
        .flags = rv.flags & ~(uint32_t)RECORD_FLAG_DELAYED,
        .reconsume_times = rv.reconsume_times,
        .born_ts = rv.born_ts,
        .born_ip = rv.born_ip,
        .born_port = rv.born_port,
    };
    store_put_result_t res;
    rc = store_put(b->store, &m, 1, &res);
    if (rc == RILL_EFLUSHTIMEOUT)
        rc = 0; /* appended; durable a little later */
    if (rc == 0)
        atomic_fetch_add(&b->put_total, 1);
    return rc;
}

static void *delay_main(void *arg)
{
    delay_service_t *d = arg;
    broker_t *b = d->b;
    pthread_setname_np(pthread_self(), "delay");
    delay_entry_t *due = malloc(DELAY_BATCH * sizeof(*due));
    uint64_t last_err_log = 0;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        bool stop = d->stop;
        pthread_mutex_unlock(&d->lock);
        if (stop || due == NULL)
            break;
        uint64_t now = rill_now_ms();
        size_t n = 0;
        uint64_t next = UINT64_MAX;
        int rc = store_delay_due(b->store, now, due, DELAY_BATCH, &n, &next);
        size_t delivered = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            rc = deliver_one(d, &due[i]);
            if (rc == 0)
                delivered++;
        }
        if (rc != 0 && rill_mono_ms() - last_err_log > 10000) {
            last_err_log = rill_mono_ms();
            LOG_WARN(LOG_MOD, "delivering delayed messages: %s (retrying)", rill_strerror(rc));
        }
        if (delivered) {
            /* the entries go when their copies are dispatched; do not see them again */
            while (store_wait_dispatched(b->store, DELAY_WAIT_MS) != 0) {
                pthread_mutex_lock(&d->lock);
                bool stopping = d->stop;
                pthread_mutex_unlock(&d->lock);
                if (stopping)
                    break;
            }
            if (n == DELAY_BATCH && rc == 0)
                continue;
        }
        uint64_t wait = DELAY_TICK_MS;
        now = rill_now_ms();
        if (rc == 0 && next != UINT64_MAX && next > now && next - now < wait)
            wait = next - now;
        if (rc != 0)
            wait = 200;
        struct timespec dl;
        rill_deadline_after_ms(&dl, wait);
        pthread_mutex_lock(&d->lock);
        if (!d->stop)
            pthread_cond_timedwait(&d->cond, &d->lock, &dl);
        pthread_mutex_unlock(&d->lock);
    }
    free(due);
    return NULL;
}

int delay_start(delay_service_t **out, broker_t *b)
{
    *out = NULL;
    if (b->cfg.broker_role == BROKER_SLAVE)
        return 0; /* a slave indexes delayed records; its master delivers them */
    delay_service_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return ENOMEM;
    d->b = b;
    d->props = malloc(RECORD_PROPS_BYTES_MAX);
    if (d->props == NULL) {
        free(d);
        return ENOMEM;
    }
    pthread_mutex_init(&d->lock, NULL);
    rill_cond_init_monotonic(&d->cond);
    int rc = pthread_create(&d->thread, NULL, delay_main, d);
    if (rc != 0) {
        pthread_cond_destroy(&d->cond);
        pthread_mutex_destroy(&d->lock);
        free(d->props);
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void delay_stop(delay_service_t *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->lock);
    d->stop = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d->buf);
    free(d->props);
    free(d);
}
