/*
 * ha_slave.c - the slave's replication thread: ask the master for bytes from
 * this store's max offset, append them byte-identical, repeat. Stops for
 * good on divergence (see ha.h) and tells the broker through on_fatal.
 */
#include "replication/ha.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "ha"

#define PENDING_MAX 100000 /* offsets waiting for the master; more are dropped (logged) */

/* An offset committed on this slave, to hand back to the master. */
typedef struct pending_offset {
    char *name; /* "group\ntopic" */
    uint32_t queue_id;
    uint64_t offset;
} pending_offset_t;

struct ha_slave {
    store_t *store;
    char url[256];
    nng_socket sock;
    pthread_t thread;
    atomic_bool stop;
    ha_fatal_fn on_fatal;
    ha_topic_fn on_topic;
    void *arg;
    uint64_t meta_interval_ms, next_meta_ms;
    _Atomic uint64_t meta_syncs;
    _Atomic uint64_t master_max, last_reply_ms, behind_since_ms;
    atomic_bool diverged;
    bool master_lost; /* the last log round trip failed */
    pthread_mutex_t pending_mu;
    pending_offset_t *pending; /* offsets to hand back, one per (group, topic, queue) */
    size_t npending, cap_pending;
};

/* Record (name, queue_id) >= offset in the pending list; takes name on success. Locked. */
static bool pending_put(ha_slave_t *sl, char *name, uint32_t queue_id, uint64_t offset)
{
    for (size_t i = 0; i < sl->npending; i++) {
        pending_offset_t *e = &sl->pending[i];
        if (e->queue_id == queue_id && strcmp(e->name, name) == 0) {
            if (offset > e->offset)
                e->offset = offset;
            return false;
        }
    }
    if (sl->npending == sl->cap_pending) {
        size_t cap = sl->cap_pending ? sl->cap_pending * 2 : 64;
        pending_offset_t *n;
        if (sl->npending >= PENDING_MAX || (n = realloc(sl->pending, cap * sizeof(*n))) == NULL) {
            LOG_WARN(LOG_MOD, "too many offsets to hand back; dropping %s queue %u", name,
                     (unsigned)queue_id);
            return false;
        }
        sl->pending = n;
        sl->cap_pending = cap;
    }
    sl->pending[sl->npending++] = (pending_offset_t){name, queue_id, offset};
    return true;
}

void ha_slave_offset_committed(ha_slave_t *sl, const char *group, const char *topic,
                               uint32_t queue_id, uint64_t offset)
{
    if (sl == NULL)
        return;
    size_t n = strlen(group) + 1 + strlen(topic) + 1;
    char *name = malloc(n);
    if (name == NULL)
        return;
    snprintf(name, n, "%s\n%s", group, topic);
    pthread_mutex_lock(&sl->pending_mu);
    bool taken = pending_put(sl, name, queue_id, offset);
    pthread_mutex_unlock(&sl->pending_mu);
    if (!taken)
        free(name);
}

static void pending_free(pending_offset_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

static void fatal(ha_slave_t *sl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fatal(ha_slave_t *sl, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    atomic_store(&sl->diverged, true);
    LOG_ERROR(LOG_MOD, "replication stopped: %s; refusing to serve a forked log", why);
    if (sl->on_fatal)
        sl->on_fatal(sl->arg, why);
}

/* One round trip. 0 to go on at once, 1 to pause, -1 to stop for good. */
static int round_trip(ha_slave_t *sl)
{
    uint64_t offset = store_max_offset(sl->store);
    uint64_t from, hash = 0;
    store_replica_window(sl->store, offset, &from);
    if (store_replica_hash(sl->store, from, offset, &hash) != 0)
        from = offset; /* nothing to compare */
    nng_msg *msg;
    if (nng_msg_alloc(&msg, HA_REQ_BYTES) != 0)
        return 1;
    uint8_t *p = nng_msg_body(msg);
    ha_put32(p, HA_MAGIC);
    ha_put32(p + 4, 0);
    ha_put64(p + 8, offset);
    ha_put64(p + 16, from);
    ha_put64(p + 24, hash);
    int rv = nng_sendmsg(sl->sock, msg, 0);
    if (rv != 0) {
        nng_msg_free(msg);
        return 1;
    }
    rv = nng_recvmsg(sl->sock, &msg, 0);
    if (rv != 0)
        return 1;
    int ret = 1;
    const uint8_t *r = nng_msg_body(msg);
    size_t len = nng_msg_len(msg);
    if (len < HA_REPLY_HDR_BYTES || ha_get32(r) != HA_MAGIC)
        goto out;
    uint32_t status = ha_get32(r + 4);
    uint64_t master_max = ha_get64(r + 8), seg = ha_get64(r + 16), at = ha_get64(r + 24);
    atomic_store(&sl->master_max, master_max);
    uint64_t now = rill_now_ms();
    atomic_store(&sl->last_reply_ms, now);
    if (seg != store_segment_size(sl->store)) {
        fatal(sl, "the master's segment size is %llu, ours %llu (mapedFileSizeCommitLog must match)",
              (unsigned long long)seg, (unsigned long long)store_segment_size(sl->store));
        ret = -1;
        goto out;
    }
    if (status == HA_DIVERGED) {
        if (offset > master_max)
            fatal(sl, "this slave's log ends at %llu, past the master's %llu (diverged)",
                  (unsigned long long)offset, (unsigned long long)master_max);
        else
            fatal(sl, "this slave's log differs from the master's below offset %llu (diverged)",
                  (unsigned long long)offset);
        ret = -1;
        goto out;
    }
    if (status == HA_TOO_OLD) {
        LOG_WARN(LOG_MOD, "the master no longer holds offset %llu; retrying",
                 (unsigned long long)offset);
        goto out;
    }
    if (status != HA_OK || at != offset)
        goto out;
    size_t n = len - HA_REPLY_HDR_BYTES;
    if (n > 0) {
        uint64_t bad_at = offset;
        int rc = store_replica_append(sl->store, offset, r + HA_REPLY_HDR_BYTES, n, &bad_at);
        if (rc == RILL_ECORRUPT) {
            fatal(sl, "a record from the master at offset %llu fails verification (checksum, "
                      "position or segment layout)",
                  (unsigned long long)bad_at);
            ret = -1;
            goto out;
        }
        if (rc) {
            LOG_WARN(LOG_MOD, "cannot append at %llu: %s", (unsigned long long)offset,
                     rill_strerror(rc));
            goto out;
        }
    }
    uint64_t local = store_max_offset(sl->store);
    if (local >= master_max)
        atomic_store(&sl->behind_since_ms, 0);
    else if (atomic_load(&sl->behind_since_ms) == 0)
        atomic_store(&sl->behind_since_ms, now);
    ret = 0;
out:
    nng_msg_free(msg);
    return ret;
}

/* Apply one metadata reply's payload. */
static void apply_meta(ha_slave_t *sl, const uint8_t *p, size_t len)
{
    size_t pos = 0;
    while (pos + 7 <= len) {
        int kind = p[pos];
        size_t nl = (size_t)p[pos + 1] | (size_t)p[pos + 2] << 8;
        if (pos + 3 + nl + 4 > len)
            return;
        char name[65536 + 1];
        memcpy(name, p + pos + 3, nl);
        name[nl] = '\0';
        size_t bl = ha_get32(p + pos + 3 + nl);
        const uint8_t *blob = p + pos + 7 + nl;
        if (pos + 7 + nl + bl > len)
            return;
        pos += 7 + nl + bl;
        if (kind == HA_META_TOPIC) {
            if (sl->on_topic)
                sl->on_topic(sl->arg, name, blob, bl);
        } else if (kind == HA_META_GROUP) {
            store_conf_put(sl->store, STORE_GROUPS, name, blob, bl);
        } else if (kind == HA_META_OFFSET && bl == 12) {
            char *nlp = strchr(name, '\n');
            if (nlp == NULL)
                continue;
            *nlp = '\0';
            uint32_t qid = ha_get32(blob);
            uint64_t off = ha_get64(blob + 4), mine = 0;
            if (store_offset_get(sl->store, name, nlp + 1, qid, &mine) != 0 || mine < off)
                store_offset_commit(sl->store, name, nlp + 1, qid, off);
        }
    }
    atomic_fetch_add(&sl->meta_syncs, 1);
}

/* Append the offsets to hand back to a metadata request. 0 on success. */
static int append_offsets(nng_msg *msg, const pending_offset_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(v[i].name);
        if (nl > 0xFFFF || nng_msg_len(msg) + 7 + nl + 12 > HA_META_BYTES_MAX)
            return -1;
        uint8_t h[3] = {HA_META_OFFSET, (uint8_t)nl, (uint8_t)(nl >> 8)}, b[16];
        ha_put32(b, 12);
        ha_put32(b + 4, v[i].queue_id);
        ha_put64(b + 8, v[i].offset);
        if (nng_msg_append(msg, h, 3) != 0 || nng_msg_append(msg, v[i].name, nl) != 0 ||
            nng_msg_append(msg, b, 16) != 0)
            return -1;
    }
    return 0;
}

/* Sync metadata; hands back the pending offsets. True when the master answered OK. */
static bool meta_round_trip(ha_slave_t *sl)
{
    /* take the pending offsets; put them back unless the master answers OK */
    pthread_mutex_lock(&sl->pending_mu);
    pending_offset_t *sent = sl->pending;
    size_t nsent = sl->npending;
    sl->pending = NULL;
    sl->npending = sl->cap_pending = 0;
    pthread_mutex_unlock(&sl->pending_mu);
    bool ok = false;
    nng_msg *msg;
    if (nng_msg_alloc(&msg, HA_REQ_BYTES) != 0)
        goto done;
    uint8_t *p = nng_msg_body(msg);
    memset(p, 0, HA_REQ_BYTES);
    ha_put32(p, HA_MAGIC);
    ha_put32(p + 4, HA_FLAG_META);
    if (append_offsets(msg, sent, nsent) != 0 || nng_sendmsg(sl->sock, msg, 0) != 0) {
        nng_msg_free(msg);
        goto done;
    }
    if (nng_recvmsg(sl->sock, &msg, 0) != 0)
        goto done;
    const uint8_t *r = nng_msg_body(msg);
    size_t len = nng_msg_len(msg);
    if (len >= HA_REPLY_HDR_BYTES && ha_get32(r) == HA_MAGIC && ha_get32(r + 4) == HA_OK) {
        ok = true;
        apply_meta(sl, r + HA_REPLY_HDR_BYTES, len - HA_REPLY_HDR_BYTES);
    }
    nng_msg_free(msg);
done:
    if (!ok && nsent > 0) {
        pthread_mutex_lock(&sl->pending_mu);
        for (size_t i = 0; i < nsent; i++)
            if (pending_put(sl, sent[i].name, sent[i].queue_id, sent[i].offset))
                sent[i].name = NULL; /* now owned by the list */
        pthread_mutex_unlock(&sl->pending_mu);
    } else if (ok && nsent > 0) {
        LOG_INFO(LOG_MOD, "handed %zu consumer offset%s back to the master", nsent,
                 nsent == 1 ? "" : "s");
    }
    pending_free(sent, nsent);
    return ok;
}

static void *slave_main(void *arg)
{
    ha_slave_t *sl = arg;
    while (!atomic_load(&sl->stop)) {
        if (sl->meta_interval_ms && rill_mono_ms() >= sl->next_meta_ms) {
            meta_round_trip(sl);
            sl->next_meta_ms = rill_mono_ms() + sl->meta_interval_ms;
        }
        int r = round_trip(sl);
        if (r < 0)
            break;
        if (r == 0 && sl->master_lost)
            sl->next_meta_ms = 0; /* the master is back: hand offsets back at once */
        sl->master_lost = r > 0;
        if (r > 0)
            for (int i = 0; i < HA_RETRY_MS / 10 && !atomic_load(&sl->stop); i++)
                rill_sleep_ms(10);
    }
    return NULL;
}

int ha_slave_start(ha_slave_t **out, store_t *s, const ha_slave_opts_t *opts)
{
    const char *master_url = opts->master_url;
    ha_slave_t *sl = calloc(1, sizeof(*sl));
    if (sl == NULL)
        return ENOMEM;
    sl->store = s;
    sl->on_fatal = opts->on_fatal;
    sl->on_topic = opts->on_topic;
    sl->arg = opts->arg;
    sl->meta_interval_ms = opts->meta_interval_ms;
    pthread_mutex_init(&sl->pending_mu, NULL);
    snprintf(sl->url, sizeof(sl->url), "%s", master_url);
    int rv = nng_req0_open(&sl->sock);
    if (rv == 0)
        rv = nng_socket_set_ms(sl->sock, NNG_OPT_RECVTIMEO, HA_POLL_MS + HA_CALL_TIMEOUT_MS);
    if (rv == 0)
        rv = nng_socket_set_ms(sl->sock, NNG_OPT_SENDTIMEO, HA_CALL_TIMEOUT_MS);
    if (rv == 0)
        rv = nng_socket_set_ms(sl->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (rv == 0)
        rv = nng_socket_set_size(sl->sock, NNG_OPT_RECVMAXSZ, HA_META_BYTES_MAX + 4096);
    if (rv == 0)
        rv = nng_socket_set_ms(sl->sock, NNG_OPT_RECONNMINT, 100);
    if (rv == 0)
        rv = nng_socket_set_ms(sl->sock, NNG_OPT_RECONNMAXT, 1000);
    if (rv == 0)
        rv = nng_dial(sl->sock, master_url, NULL, NNG_FLAG_NONBLOCK);
    if (rv == 0 && pthread_create(&sl->thread, NULL, slave_main, sl) != 0)
        rv = NNG_ENOMEM;
    if (rv != 0) {
        LOG_ERROR(LOG_MOD, "cannot replicate from %s: %s", master_url, nng_strerror(rv));
        nng_close(sl->sock);
        pthread_mutex_destroy(&sl->pending_mu);
        free(sl);
        return RILL_EINVAL;
    }
    LOG_INFO(LOG_MOD, "replicating from %s at offset %llu", master_url,
             (unsigned long long)store_max_offset(s));
    *out = sl;
    return 0;
}

void ha_slave_stop(ha_slave_t *sl)
{
    if (sl == NULL)
        return;
    atomic_store(&sl->stop, true);
    nng_close(sl->sock); /* ends a blocked send/recv */
    pthread_join(sl->thread, NULL);
    pending_free(sl->pending, sl->npending);
    pthread_mutex_destroy(&sl->pending_mu);
    free(sl);
}

void ha_slave_get_stats(ha_slave_t *sl, ha_slave_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->local_max = store_max_offset(sl->store);
    out->master_max = atomic_load(&sl->master_max);
    out->lag_bytes = out->master_max > out->local_max ? out->master_max - out->local_max : 0;
    uint64_t since = atomic_load(&sl->behind_since_ms), now = rill_now_ms();
    out->lag_ms = since && out->lag_bytes && now > since ? now - since : 0;
    out->last_reply_ms = atomic_load(&sl->last_reply_ms);
    out->connected = out->last_reply_ms != 0 && now < out->last_reply_ms + 3000;
    out->diverged = atomic_load(&sl->diverged);
    out->meta_syncs = atomic_load(&sl->meta_syncs);
}
