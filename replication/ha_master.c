/*
 * ha_master.c - the master's HA server: HA_MASTER_THREADS threads, each with
 * its own nng context on one rep0 socket, answer "bytes from offset X".
 */
#include "replication/ha.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_MOD "ha"

struct ha_master {
    store_t *store;
    nng_socket sock;
    pthread_t threads[HA_MASTER_THREADS];
    int nthreads;
    atomic_bool stop;
    _Atomic uint64_t acked, last_request_ms, requests, bytes_sent;
    pthread_mutex_t wait_lock;
    ha_waiter_t *waiters; /* unordered */
    bool closed;          /* under wait_lock */
    pthread_t reaper;
    bool reaper_running;
    pthread_mutex_t poll_lock; /* a caught-up request waits on poll_cond for new bytes */
    pthread_cond_t poll_cond;  /* signalled by ha_master_wait (a SYNC_MASTER send) */
};

/* Wait up to 1 ms, or until a SYNC_MASTER send signals new bytes. */
static void poll_wait(ha_master_t *m)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&m->poll_lock);
    pthread_cond_timedwait(&m->poll_cond, &m->poll_lock, &ts);
    pthread_mutex_unlock(&m->poll_lock);
}

/* Complete waiters covered by the ack (and, with now_ms, those past their deadline). */
static void complete(ha_master_t *m, uint64_t now_ms, bool all)
{
    uint64_t acked = atomic_load(&m->acked);
    ha_waiter_t *done = NULL, **pp;
    pthread_mutex_lock(&m->wait_lock);
    pp = &m->waiters;
    while (*pp) {
        ha_waiter_t *w = *pp;
        if (all || w->target <= acked || (now_ms && now_ms >= w->deadline_ms)) {
            *pp = w->next;
            w->next = done;
            done = w;
        } else {
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&m->wait_lock);
    while (done) {
        ha_waiter_t *w = done;
        done = w->next;
        w->done(w, all ? HA_WAIT_CLOSED : w->target <= acked ? HA_WAIT_OK : HA_WAIT_TIMEOUT);
    }
}

static void *reaper_main(void *arg)
{
    ha_master_t *m = arg;
    while (!atomic_load(&m->stop)) {
        rill_sleep_ms(5);
        complete(m, rill_now_ms(), false);
    }
    return NULL;
}

void ha_master_wait(ha_master_t *m, ha_waiter_t *w, uint64_t timeout_ms)
{
    w->deadline_ms = rill_now_ms() + timeout_ms;
    pthread_mutex_lock(&m->wait_lock);
    if (m->closed) {
        pthread_mutex_unlock(&m->wait_lock);
        w->done(w, HA_WAIT_CLOSED);
        return;
    }
    if (w->target <= atomic_load(&m->acked)) {
        pthread_mutex_unlock(&m->wait_lock);
        w->done(w, HA_WAIT_OK);
        return;
    }
    /* Once w is on the list, another thread may complete and free it: only
     * the copy of its target may be read after the unlock. */
    uint64_t target = w->target;
    w->next = m->waiters;
    m->waiters = w;
    pthread_mutex_unlock(&m->wait_lock);
    pthread_mutex_lock(&m->poll_lock); /* wake a caught-up slave's request now */
    pthread_cond_broadcast(&m->poll_cond);
    pthread_mutex_unlock(&m->poll_lock);
    /* an ack that landed between the check and the insert */
    if (target <= atomic_load(&m->acked))
        complete(m, 0, false);
}

/* ---- metadata (HA_FLAG_META) ---- */

typedef struct meta_buf {
    nng_msg *msg;
    int kind;
    int err;
} meta_buf_t;

static void meta_add(meta_buf_t *mb, int kind, const char *name, size_t name_len,
                     const void *blob, size_t len)
{
    if (mb->err || name_len > 0xFFFF ||
        nng_msg_len(mb->msg) + 7 + name_len + len > HA_META_BYTES_MAX) {
        mb->err = 1;
        return;
    }
    uint8_t h[4];
    h[0] = (uint8_t)kind;
    h[1] = (uint8_t)name_len;
    h[2] = (uint8_t)(name_len >> 8);
    if (nng_msg_append(mb->msg, h, 3) != 0 || nng_msg_append(mb->msg, name, name_len) != 0)
        mb->err = 1;
    ha_put32(h, (uint32_t)len);
    if (mb->err || nng_msg_append(mb->msg, h, 4) != 0 || nng_msg_append(mb->msg, blob, len) != 0)
        mb->err = 1;
}

static int meta_conf(void *arg, const char *name, const void *blob, size_t len)
{
    meta_buf_t *mb = arg;
    meta_add(mb, mb->kind, name, strlen(name), blob, len);
    return mb->err;
}

static int meta_offset(void *arg, const char *group, const char *topic, uint32_t queue_id,
                       uint64_t offset, uint64_t update_ts)
{
    (void)update_ts;
    meta_buf_t *mb = arg;
    char name[1024];
    int n = snprintf(name, sizeof(name), "%s\n%s", group, topic);
    if (n < 0 || (size_t)n >= sizeof(name))
        return 0;
    uint8_t blob[12];
    ha_put32(blob, queue_id);
    ha_put64(blob + 4, offset);
    meta_add(mb, HA_META_OFFSET, name, (size_t)n, blob, sizeof(blob));
    return mb->err;
}

/*
 * Offsets a slave hands back (entries after a metadata request's header):
 * keep the larger of ours and the slave's; never move an offset back.
 */
static void take_offsets(ha_master_t *m, const uint8_t *p, size_t len)
{
    size_t pos = 0, taken = 0;
    while (pos + 7 <= len) {
        size_t nl = (size_t)p[pos + 1] | (size_t)p[pos + 2] << 8;
        if (pos + 7 + nl > len)
            break;
        size_t bl = ha_get32(p + pos + 3 + nl);
        if (pos + 7 + nl + bl > len)
            break;
        const uint8_t *blob = p + pos + 7 + nl;
        char name[65536 + 1];
        memcpy(name, p + pos + 3, nl);
        name[nl] = '\0';
        int kind = p[pos];
        pos += 7 + nl + bl;
        char *topic = strchr(name, '\n');
        if (kind != HA_META_OFFSET || bl != 12 || topic == NULL)
            continue;
        *topic++ = '\0';
        uint32_t qid = ha_get32(blob);
        uint64_t off = ha_get64(blob + 4), mine = 0;
        if (store_offset_get(m->store, name, topic, qid, &mine) == 0 && mine >= off)
            continue;
        if (store_offset_commit(m->store, name, topic, qid, off) == 0)
            taken++;
    }
    if (taken)
        LOG_INFO(LOG_MOD, "took %zu consumer offset%s from a slave", taken, taken == 1 ? "" : "s");
}

/* Build a metadata reply into msg (empty). */
static void serve_meta(ha_master_t *m, nng_msg *msg)
{
    uint8_t hdr[HA_REPLY_HDR_BYTES] = {0};
    ha_put32(hdr, HA_MAGIC);
    ha_put64(hdr + 8, store_max_offset(m->store));
    ha_put64(hdr + 16, store_segment_size(m->store));
    meta_buf_t mb = {.msg = msg};
    if (nng_msg_append(msg, hdr, sizeof(hdr)) != 0)
        return;
    mb.kind = HA_META_TOPIC;
    store_conf_foreach(m->store, STORE_TOPICS, meta_conf, &mb);
    mb.kind = HA_META_GROUP;
    store_conf_foreach(m->store, STORE_GROUPS, meta_conf, &mb);
    store_offset_foreach(m->store, NULL, meta_offset, &mb);
    if (mb.err) {
        LOG_WARN(LOG_MOD, "metadata for a slave exceeds %u bytes; not sent", HA_META_BYTES_MAX);
        nng_msg_chop(msg, nng_msg_len(msg) - HA_REPLY_HDR_BYTES);
        ha_put32((uint8_t *)nng_msg_body(msg) + 4, HA_ERROR);
    }
}

/* Build the reply to one request into msg (already empty). */
static void serve(ha_master_t *m, const uint8_t *req, size_t len, nng_msg *msg)
{
    uint8_t hdr[HA_REPLY_HDR_BYTES];
    uint32_t status = HA_OK;
    uint64_t offset = 0;
    size_t n = 0;
    uint8_t *payload = NULL;
    if (len < HA_REQ_BYTES || ha_get32(req) != HA_MAGIC) {
        status = HA_ERROR;
        goto reply;
    }
    if (ha_get32(req + 4) & HA_FLAG_META) {
        take_offsets(m, req + HA_REQ_BYTES, len - HA_REQ_BYTES);
        serve_meta(m, msg);
        return;
    }
    offset = ha_get64(req + 8);
    uint64_t hash_from = ha_get64(req + 16), hash = ha_get64(req + 24);
    uint64_t max = store_max_offset(m->store);
    if (offset > max) {
        status = HA_DIVERGED;
        goto reply;
    }
    if (offset < store_min_offset(m->store) && offset != max) {
        status = HA_TOO_OLD;
        goto reply;
    }
    if (hash_from < offset) {
        uint64_t mine;
        if (store_replica_hash(m->store, hash_from, offset, &mine) != 0 || mine != hash) {
            status = HA_DIVERGED;
            goto reply;
        }
    }
    /* The slave has everything below offset: that is its ack. */
    uint64_t prev = atomic_load(&m->acked);
    while (offset > prev && !atomic_compare_exchange_weak(&m->acked, &prev, offset))
        ;
    if (offset > prev)
        complete(m, 0, false);
    atomic_store(&m->last_request_ms, rill_now_ms());
    uint64_t deadline = rill_now_ms() + HA_POLL_MS;
    while (store_max_offset(m->store) == offset && !atomic_load(&m->stop) &&
           rill_now_ms() < deadline)
        poll_wait(m);
    if (nng_msg_realloc(msg, HA_REPLY_HDR_BYTES + HA_TRANSFER_MAX) != 0) {
        status = HA_ERROR;
        goto reply;
    }
    payload = (uint8_t *)nng_msg_body(msg) + HA_REPLY_HDR_BYTES;
    int rc = store_replica_read(m->store, offset, payload, HA_TRANSFER_MAX, &n);
    if (rc) {
        LOG_WARN(LOG_MOD, "cannot read the log at %llu for a slave: %s",
                 (unsigned long long)offset, rill_strerror(rc));
        status = rc == RILL_ERANGE ? HA_TOO_OLD : HA_ERROR;
        n = 0;
    }
reply:
    ha_put32(hdr, HA_MAGIC);
    ha_put32(hdr + 4, status);
    ha_put64(hdr + 8, store_max_offset(m->store));
    ha_put64(hdr + 16, store_segment_size(m->store));
    ha_put64(hdr + 24, offset);
    if (payload == NULL && nng_msg_realloc(msg, HA_REPLY_HDR_BYTES) != 0)
        return;
    memcpy(nng_msg_body(msg), hdr, sizeof(hdr));
    nng_msg_chop(msg, nng_msg_len(msg) - HA_REPLY_HDR_BYTES - n);
    atomic_fetch_add(&m->requests, 1);
    atomic_fetch_add(&m->bytes_sent, n);
}

static void *worker(void *arg)
{
    ha_master_t *m = arg;
    nng_ctx ctx;
    nng_aio *aio;
    if (nng_ctx_open(&ctx, m->sock) != 0)
        return NULL;
    if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
        nng_ctx_close(ctx);
        return NULL;
    }
    while (!atomic_load(&m->stop)) {
        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        int rv = nng_aio_result(aio);
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            break;
        if (rv != 0)
            continue;
        nng_msg *req = nng_aio_get_msg(aio);
        nng_msg *rep;
        if (nng_msg_alloc(&rep, 0) != 0) {
            nng_msg_free(req);
            continue;
        }
        serve(m, nng_msg_body(req), nng_msg_len(req), rep);
        nng_msg_free(req);
        nng_aio_set_msg(aio, rep);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            nng_msg_free(rep);
    }
    nng_aio_free(aio);
    nng_ctx_close(ctx);
    return NULL;
}

int ha_master_start(ha_master_t **out, store_t *s, const char *url)
{
    ha_master_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ENOMEM;
    m->store = s;
    pthread_mutex_init(&m->wait_lock, NULL);
    pthread_mutex_init(&m->poll_lock, NULL);
    pthread_cond_init(&m->poll_cond, NULL);
    int rv = nng_rep0_open(&m->sock);
    if (rv == 0)
        rv = nng_socket_set_size(m->sock, NNG_OPT_RECVMAXSZ, 4096);
    if (rv == 0)
        rv = nng_listen(m->sock, url, NULL, 0);
    if (rv != 0) {
        LOG_ERROR(LOG_MOD, "cannot listen on %s: %s", url, nng_strerror(rv));
        nng_close(m->sock);
        pthread_mutex_destroy(&m->wait_lock);
        pthread_mutex_destroy(&m->poll_lock);
        pthread_cond_destroy(&m->poll_cond);
        free(m);
        return rv == NNG_EADDRINUSE ? EADDRINUSE : RILL_EINVAL;
    }
    for (int i = 0; i < HA_MASTER_THREADS; i++) {
        if (pthread_create(&m->threads[i], NULL, worker, m) != 0)
            break;
        m->nthreads++;
    }
    m->reaper_running = pthread_create(&m->reaper, NULL, reaper_main, m) == 0;
    LOG_INFO(LOG_MOD, "serving slaves on %s", url);
    *out = m;
    return 0;
}

void ha_master_stop(ha_master_t *m)
{
    if (m == NULL)
        return;
    if (atomic_exchange(&m->stop, true))
        return;
    nng_close(m->sock);
    for (int i = 0; i < m->nthreads; i++)
        pthread_join(m->threads[i], NULL);
    if (m->reaper_running)
        pthread_join(m->reaper, NULL);
    pthread_mutex_lock(&m->wait_lock);
    m->closed = true;
    pthread_mutex_unlock(&m->wait_lock);
    complete(m, 0, true);
}

void ha_master_free(ha_master_t *m)
{
    if (m == NULL)
        return;
    ha_master_stop(m);
    pthread_mutex_destroy(&m->wait_lock);
    pthread_mutex_destroy(&m->poll_lock);
    pthread_cond_destroy(&m->poll_cond);
    free(m);
}

bool ha_master_slave_connected(ha_master_t *m)
{
    uint64_t last = atomic_load(&m->last_request_ms);
    return last != 0 && rill_now_ms() < last + 3000;
}

uint64_t ha_master_acked(ha_master_t *m)
{
    return atomic_load(&m->acked);
}

void ha_master_get_stats(ha_master_t *m, ha_master_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->slave_ack_offset = atomic_load(&m->acked);
    out->last_request_ms = atomic_load(&m->last_request_ms);
    out->slaves = ha_master_slave_connected(m) ? 1 : 0;
    out->requests = atomic_load(&m->requests);
    out->bytes_sent = atomic_load(&m->bytes_sent);
}
