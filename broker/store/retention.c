/*
 * retention.c - the cleaner thread: disk-usage guard and segment retention.
 *
 * Every clean_resource_interval ms (and once at open) it
 *  - measures disk use of the store's filesystem; at diskSpaceRefuseRatio
 *    (90 %) and above appends are refused with RILL_EDISKFULL, below they are
 *    allowed again;
 *  - deletes the oldest segments that are expired (last written more than
 *    fileReservedTime hours ago) when the hour is one of deleteWhen, or at
 *    any hour once disk use passes diskMaxUsedSpaceRatio (75 %); past
 *    diskSpaceCleanForciblyRatio (85 %) it deletes the oldest segments even
 *    if they are young (RocketMQ's behaviour: keep accepting writes);
 *  - never deletes the active segment, nor anything the dispatcher or the
 *    flusher has not passed;
 *  - purges ConsumeQueue and key-index entries that point below the new
 *    minimum offset, in bounded transactions.
 * It also expires sync-flush waiters stuck behind hung I/O.
 */
#include "broker/store/consume_queue.h"
#include "common/record.h"
#include "broker/store/store_impl.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#define RETENTION_DELETE_MAX   16     /* segments deleted per pass */
#define PURGE_BATCH_ENTRIES    65536  /* derived entries deleted per transaction */
#define PURGE_SCAN_ENTRIES     262144 /* key-index entries examined per transaction */
#define RETENTION_SEGMENT_LIST 4096   /* segments looked at per pass */
#define EXPIRE_TICK_MS         200    /* flush-waiter expiry granularity */

int retention_parse_hours(const char *spec, uint32_t *mask)
{
    uint32_t m = 0;
    if (spec == NULL)
        return RILL_ECONFIG;
    if (strcmp(spec, "*") == 0) {
        *mask = (1u << 24) - 1;
        return 0;
    }
    const char *p = spec;
    while (*p) {
        char *end;
        errno = 0;
        long h = strtol(p, &end, 10);
        if (end == p || errno || h < 0 || h > 23)
            return RILL_ECONFIG;
        m |= 1u << h;
        p = end;
        if (*p == ';')
            p++;
        else if (*p)
            return RILL_ECONFIG;
    }
    if (m == 0)
        return RILL_ECONFIG;
    *mask = m;
    return 0;
}

static double statvfs_usage(void *arg, const char *dir)
{
    (void)arg;
    struct statvfs st;
    if (statvfs(dir, &st) != 0 || st.f_blocks == 0)
        return 0.0;
    return (double)(st.f_blocks - st.f_bavail) / (double)st.f_blocks;
}

typedef struct purge_ctx {
    store_t *s;
    uint64_t below;
    uint64_t deleted;
    int more;
    /* key-index scan position: where this round starts (in) and where the
     * next one must start (out, adopted only after a successful commit) */
    uint8_t resume_in[KEYIDX_KEY_BYTES_MAX], resume_out[KEYIDX_KEY_BYTES_MAX];
    size_t resume_in_len, resume_out_len;
} purge_ctx_t;

/* Delete up to PURGE_BATCH_ENTRIES cq entries (per queue, from the front) and
 * key-index entries pointing below ctx->below. Sets ctx->more if it stopped early. */
static int purge_fn(kv_txn_t *txn, void *arg)
{
    purge_ctx_t *ctx = arg;
    const store_tables_t *t = &ctx->s->t;
    ctx->deleted = 0;
    ctx->more = 0;
    kv_cursor_t *qc = NULL, *cc = NULL;
    int rc = kv_cursor_open(txn, t->qmax, &qc);
    kv_val_t k, v;
    for (rc = rc ? rc : kv_cursor_first(qc, &k, &v); rc == 0 && !ctx->more;
         rc = kv_cursor_next(qc, &k, &v)) {
        if (k.len != QMAX_KEY_BYTES)
            continue;
        const uint8_t *qk = k.data;
        int r = cq_purge_head(txn, t, kv_be32_get(qk), kv_be32_get(qk + 4), ctx->below,
                              PURGE_BATCH_ENTRIES - ctx->deleted, &ctx->deleted);
        if (r == 1)
            ctx->more = 1;
        else if (r) {
            rc = r;
            break;
        }
    }
    if (rc == RILL_ENOTFOUND)
        rc = 0;
    if (rc || ctx->more)
        goto out;
    /* Key index: phys is the last key field, so this is a scan; it runs only
     * after segments were deleted, PURGE_SCAN_ENTRIES at a time, each round
     * resuming where the previous one stopped. */
    ctx->resume_out_len = 0;
    rc = kv_cursor_open(txn, t->keyidx, &cc);
    if (rc == 0)
        rc = ctx->resume_in_len ? kv_cursor_seek(cc, ctx->resume_in, ctx->resume_in_len, &k, &v)
                                : kv_cursor_first(cc, &k, &v);
    for (uint64_t examined = 0; rc == 0; examined++) {
        if (examined == PURGE_SCAN_ENTRIES || ctx->deleted >= PURGE_BATCH_ENTRIES) {
            if (k.len > sizeof(ctx->resume_out)) {
                rc = RILL_ECORRUPT;
                break;
            }
            memcpy(ctx->resume_out, k.data, k.len);
            ctx->resume_out_len = k.len;
            ctx->more = 1;
            break;
        }
        if (k.len >= 21 && kv_be64_get((const uint8_t *)k.data + k.len - 8) < ctx->below) {
            rc = kv_cursor_del(cc);
            if (rc)
                break;
            ctx->deleted++;
        }
        rc = kv_cursor_next(cc, &k, &v); /* after a delete LMDB's next is the follower */
    }
    if (rc == RILL_ENOTFOUND)
        rc = 0;
out:
    kv_cursor_close(cc);
    kv_cursor_close(qc);
    return rc;
}

static void purge_below(store_t *s, uint64_t below)
{
    purge_ctx_t ctx = {.s = s, .below = below};
    uint64_t total = 0;
    for (int round = 0; round < 1024; round++) {
        int rc = kv_write(s->kv, purge_fn, &ctx);
        if (rc) {
            LOG_ERROR("store", "retention: purging entries below %llu failed: %s",
                      (unsigned long long)below, rill_strerror(rc));
            return;
        }
        total += ctx.deleted;
        if (!ctx.more)
            break;
        memcpy(ctx.resume_in, ctx.resume_out, ctx.resume_out_len);
        ctx.resume_in_len = ctx.resume_out_len;
    }
    atomic_store(&s->purged_below, below);
    if (total)
        LOG_INFO("store", "retention: purged %llu index entries below offset %llu",
                 (unsigned long long)total, (unsigned long long)below);
}

/* Refuse or allow appends by disk use; log only the transitions. */
static void set_refuse(store_t *s, double pct)
{
    int refuse = pct >= (double)s->cfg.disk_space_refuse_ratio;
    int was = atomic_exchange(&s->refusing, refuse);
    commitlog_set_refuse(s->cl, refuse ? RILL_EDISKFULL : 0);
    if (refuse && !was)
        LOG_WARN("store", "disk use %.1f%% >= diskSpaceRefuseRatio %lld%%: appends refused", pct,
                 (long long)s->cfg.disk_space_refuse_ratio);
    else if (!refuse && was)
        LOG_INFO("store", "disk use %.1f%%: appends allowed again", pct);
}

double retention_check_disk(store_t *s)
{
    store_disk_usage_fn usage_fn = s->cfg.disk_usage ? s->cfg.disk_usage : statvfs_usage;
    double usage = usage_fn(s->cfg.disk_usage_arg, s->cfg.store_path_root_dir);
    atomic_store(&s->disk_usage_ppm, (uint64_t)(usage * 1e6));
    set_refuse(s, usage * 100.0);
    return usage;
}

static int retention_pass(store_t *s);

/*
 * Lowest commitlog offset a pending delayed or half (transaction) message
 * still needs; UINT64_MAX when none. Such a message is acked and waits to be
 * delivered or resolved, so its segment must outlive fileReservedTime and
 * even forced cleaning: the store refuses writes at diskSpaceRefuseRatio
 * rather than lose it. txn is keyed by offset (one lookup); delay by deliver
 * time, so it is scanned.
 */
static uint64_t pending_min_phys(store_t *s)
{
    uint64_t min = UINT64_MAX;
    kv_txn_t *txn;
    if (kv_read_begin(s->kv, &txn) != 0)
        return 0; /* cannot tell: delete nothing */
    kv_cursor_t *c = NULL;
    kv_val_t k, v;
    if (kv_cursor_open(txn, s->t.txn, &c) == 0 && kv_cursor_first(c, &k, &v) == 0 && k.len == 8)
        min = kv_be64_get(k.data);
    kv_cursor_close(c);
    c = NULL;
    if (kv_cursor_open(txn, s->t.delay, &c) == 0) {
        for (int rc = kv_cursor_first(c, &k, &v); rc == 0; rc = kv_cursor_next(c, &k, &v)) {
            if (k.len != DELAY_KEY_BYTES)
                continue;
            uint64_t phys = kv_be64_get((const uint8_t *)k.data + 8);
            if (phys < min)
                min = phys;
        }
    }
    kv_cursor_close(c);
    kv_read_end(txn);
    return min;
}

int retention_run(store_t *s)
{
    pthread_mutex_lock(&s->retention_lock); /* the cleaner and store_run_retention() */
    int rc = retention_pass(s);
    pthread_mutex_unlock(&s->retention_lock);
    return rc;
}

static int retention_pass(store_t *s)
{
    store_disk_usage_fn usage_fn = s->cfg.disk_usage ? s->cfg.disk_usage : statvfs_usage;
    double usage = retention_check_disk(s);
    double pct = usage * 100.0;

    int forced = pct >= (double)s->cfg.disk_space_clean_forcibly_ratio;
    int pressed = pct >= (double)s->cfg.disk_max_used_space_ratio;
    time_t now_s = time(NULL);
    struct tm lt;
    localtime_r(&now_s, &lt);
    int in_window = (s->delete_hours >> lt.tm_hour) & 1u;
    if (!forced && !pressed && !in_window)
        return 0;

    uint64_t dispatched = dispatcher_dispatched(s->disp);
    uint64_t flushed = flusher_flushed(s->flusher);
    uint64_t limit = dispatched < flushed ? dispatched : flushed;
    uint64_t pending = pending_min_phys(s);
    if (pending < limit)
        limit = pending;
    int64_t now_ms = (int64_t)rill_now_ms();
    int64_t reserved_ms = s->cfg.file_reserved_time * 3600ll * 1000ll;
    commitlog_segment_info_t *segs = malloc(RETENTION_SEGMENT_LIST * sizeof(*segs));
    if (segs == NULL)
        return ENOMEM;
    size_t n = commitlog_segments(s->cl, segs, RETENTION_SEGMENT_LIST);
    if (n > RETENTION_SEGMENT_LIST)
        n = RETENTION_SEGMENT_LIST;
    int deleted = 0;
    for (size_t i = 0; i + 1 < n && deleted < RETENTION_DELETE_MAX; i++) {
        int expired = now_ms - segs[i].mtime_ms >= reserved_ms;
        if (!(expired || forced))
            break; /* oldest first: the rest are younger */
        if (commitlog_delete_oldest(s->cl, limit) != 0)
            break;
        deleted++;
        if (forced && !expired) {
            /* re-measure: delete young segments only while still above the ratio */
            usage = usage_fn(s->cfg.disk_usage_arg, s->cfg.store_path_root_dir);
            if (usage * 100.0 < (double)s->cfg.disk_space_clean_forcibly_ratio)
                forced = 0;
        }
    }
    free(segs);
    if (deleted) {
        LOG_INFO("store", "retention: deleted %d segment(s); log now starts at %llu", deleted,
                 (unsigned long long)commitlog_min_offset(s->cl));
        purge_below(s, commitlog_min_offset(s->cl));
        usage = usage_fn(s->cfg.disk_usage_arg, s->cfg.store_path_root_dir);
        atomic_store(&s->disk_usage_ppm, (uint64_t)(usage * 1e6));
        set_refuse(s, usage * 100.0);
    }
    return deleted;
}

int store_run_retention(store_t *s)
{
    return retention_run(s);
}

void *retention_main(void *arg)
{
    store_t *s = arg;
    pthread_setname_np(pthread_self(), "cleaner");
    uint64_t next_clean = rill_mono_ms() + (uint64_t)s->cfg.clean_resource_interval;
    pthread_mutex_lock(&s->cleaner_lock);
    while (!s->cleaner_stop) {
        struct timespec ts;
        rill_deadline_after_ms(&ts, EXPIRE_TICK_MS);
        pthread_cond_timedwait(&s->cleaner_cond, &s->cleaner_lock, &ts);
        if (s->cleaner_stop)
            break;
        pthread_mutex_unlock(&s->cleaner_lock);
        flusher_expire(s->flusher);
        if (rill_mono_ms() >= next_clean) {
            retention_run(s);
            next_clean = rill_mono_ms() + (uint64_t)s->cfg.clean_resource_interval;
        }
        pthread_mutex_lock(&s->cleaner_lock);
    }
    pthread_mutex_unlock(&s->cleaner_lock);
    return NULL;
}
