/*
 * store.c - open and close a store, the put path, stats and msgIds.
 *
 * Open order: commitlog (map segments) -> LMDB -> recovery (synchronous) ->
 * flusher -> dispatcher thread -> cleaner thread. Close runs it backwards and
 * leaves a checkpoint at the end of the log, so the next open verifies
 * nothing but the checkpoint record.
 */
#include "broker/store/store_impl.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

void store_config_defaults(store_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->store_path_root_dir, sizeof(cfg->store_path_root_dir), "./data/store");
    cfg->mapped_file_size_commitlog = 1ll << 30;
    cfg->flush_disk_type = STORE_ASYNC_FLUSH;
    cfg->flush_interval_commitlog = 500;
    cfg->flush_commitlog_least_pages = 4;
    cfg->flush_commitlog_thorough_interval = 10000;
    cfg->sync_flush_timeout = 5000;
    cfg->max_message_size = 4ll << 20;
    cfg->file_reserved_time = 72;
    snprintf(cfg->delete_when, sizeof(cfg->delete_when), "04");
    cfg->disk_max_used_space_ratio = 75;
    cfg->disk_space_clean_forcibly_ratio = 85;
    cfg->disk_space_refuse_ratio = 90;
    cfg->clean_resource_interval = 10000;
    cfg->kv_map_size = 256ll << 20;
    cfg->dispatch_batch_max = 16384;
    cfg->store_ip = 0x7F000001; /* 127.0.0.1 */
    cfg->store_port = 10911;
}

static int check_config(const store_config_t *c)
{
    if (c->store_path_root_dir[0] == '\0' || c->mapped_file_size_commitlog < 4096 ||
        c->flush_interval_commitlog <= 0 || c->flush_commitlog_least_pages < 0 ||
        c->flush_commitlog_thorough_interval <= 0 || c->sync_flush_timeout <= 0 ||
        c->max_message_size <= 0 || c->max_message_size > RECORD_BODY_BYTES_MAX ||
        c->file_reserved_time < 0 || c->disk_max_used_space_ratio <= 0 ||
        c->disk_max_used_space_ratio > 100 || c->disk_space_clean_forcibly_ratio <= 0 ||
        c->disk_space_refuse_ratio <= 0 || c->clean_resource_interval <= 0 ||
        c->kv_map_size < (1 << 20) || c->dispatch_batch_max <= 0 ||
        (c->flush_disk_type != STORE_ASYNC_FLUSH && c->flush_disk_type != STORE_SYNC_FLUSH))
        return RILL_EINVAL;
    return 0;
}

int store_open(store_t **out, const store_config_t *cfg)
{
    int rc = check_config(cfg);
    if (rc)
        return rc;
    store_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ENOMEM;
    s->cfg = *cfg;
    pthread_mutex_init(&s->cleaner_lock, NULL);
    pthread_mutex_init(&s->retention_lock, NULL);
    rill_cond_init_monotonic(&s->cleaner_cond);
    rc = retention_parse_hours(cfg->delete_when, &s->delete_hours);
    if (rc)
        goto fail;
    snprintf(s->commitlog_dir, sizeof(s->commitlog_dir), "%s/commitlog", cfg->store_path_root_dir);
    snprintf(s->kv_dir, sizeof(s->kv_dir), "%s/kv", cfg->store_path_root_dir);

    commitlog_options_t clo = {
        .dir = s->commitlog_dir,
        .segment_size = (uint64_t)cfg->mapped_file_size_commitlog,
        .max_message_size = (uint32_t)cfg->max_message_size,
        .store_ip = cfg->store_ip,
        .store_port = cfg->store_port,
    };
    rc = commitlog_open(&s->cl, &clo);
    if (rc) {
        LOG_ERROR("store", "cannot open commitlog %s: %s", s->commitlog_dir, rill_strerror(rc));
        goto fail;
    }
    kv_options_t kvo = {.map_size = (uint64_t)cfg->kv_map_size, .sync_mode = KV_SYNC_NOMETA};
    rc = kv_open(&s->kv, s->kv_dir, &kvo);
    if (rc) {
        LOG_ERROR("store", "cannot open LMDB %s: %s", s->kv_dir, rill_strerror(rc));
        goto fail;
    }
    rc = store_tables_open(s->kv, &s->t);
    if (rc)
        goto fail;
    rc = store_recover(s);
    if (rc) {
        LOG_ERROR("store", "recovery failed: %s", rill_strerror(rc));
        goto fail;
    }
    flusher_options_t fo = {
        .sync_flush = cfg->flush_disk_type == STORE_SYNC_FLUSH,
        .interval_ms = (uint32_t)cfg->flush_interval_commitlog,
        .least_pages = (uint32_t)cfg->flush_commitlog_least_pages,
        .thorough_interval_ms = (uint32_t)cfg->flush_commitlog_thorough_interval,
        .sync_flush_timeout_ms = (uint32_t)cfg->sync_flush_timeout,
    };
    /* Bytes recovered past the checkpoint may exist only in the page cache
     * (the previous process died before flushing them): make them durable
     * before anything new is acked on top of them. */
    uint64_t end = commitlog_committed(s->cl);
    rc = commitlog_flush(s->cl, s->recovered_from, end);
    if (rc) {
        LOG_ERROR("store", "flushing the recovered tail failed: %s", rill_strerror(rc));
        goto fail;
    }
    rc = flusher_start(&s->flusher, s->cl, &fo, end);
    if (rc)
        goto fail;
    rc = dispatcher_start(s->disp);
    if (rc)
        goto fail;
    retention_check_disk(s); /* refuse appends at once if the disk is already full */
    rc = pthread_create(&s->cleaner, NULL, retention_main, s);
    if (rc)
        goto fail;
    s->cleaner_running = 1;
    *out = s;
    return 0;
fail:
    store_close(s);
    return rc;
}

void store_close(store_t *s)
{
    if (s == NULL)
        return;
    if (s->cleaner_running) {
        pthread_mutex_lock(&s->cleaner_lock);
        s->cleaner_stop = 1;
        pthread_cond_signal(&s->cleaner_cond);
        pthread_mutex_unlock(&s->cleaner_lock);
        pthread_join(s->cleaner, NULL);
    }
    if (s->flusher)
        flusher_flush_now(s->flusher);
    dispatcher_stop(s->disp); /* dispatches the rest and writes the checkpoint */
    flusher_stop(s->flusher);
    dispatcher_free(s->disp);
    if (s->kv)
        kv_sync(s->kv);
    kv_close(s->kv);
    commitlog_close(s->cl);
    pthread_mutex_destroy(&s->cleaner_lock);
    pthread_mutex_destroy(&s->retention_lock);
    pthread_cond_destroy(&s->cleaner_cond);
    free(s);
}

static int append(store_t *s, const store_msg_t *msgs, size_t n, store_put_result_t *res)
{
    int rc = commitlog_append(s->cl, msgs, n, res);
    if (rc)
        return rc;
    dispatcher_notify(s->disp);
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += res[i].size;
    atomic_fetch_add_explicit(&s->puts, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->put_bytes, bytes, memory_order_relaxed);
    return 0;
}

int store_put(store_t *s, const store_msg_t *msgs, size_t n, store_put_result_t *res)
{
    int rc = append(s, msgs, n, res);
    if (rc || s->cfg.flush_disk_type != STORE_SYNC_FLUSH)
        return rc;
    return flusher_wait(s->flusher, res[n - 1].phys_offset + res[n - 1].size);
}

int store_put_async(store_t *s, const store_msg_t *msgs, size_t n, store_put_result_t *res,
                    flush_waiter_t *waiter)
{
    int rc = append(s, msgs, n, res);
    if (rc || s->cfg.flush_disk_type != STORE_SYNC_FLUSH || waiter == NULL)
        return rc;
    waiter->target = res[n - 1].phys_offset + res[n - 1].size;
    flusher_submit(s->flusher, waiter);
    return 1;
}

int store_flush(store_t *s)
{
    return flusher_flush_now(s->flusher);
}

int store_wait_dispatched(store_t *s, uint32_t timeout_ms)
{
    return dispatcher_wait(s->disp, commitlog_committed(s->cl), timeout_ms);
}

void store_get_stats(store_t *s, store_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->min_offset = commitlog_min_offset(s->cl);
    out->committed = commitlog_committed(s->cl);
    out->flushed = flusher_flushed(s->flusher);
    out->dispatched = dispatcher_dispatched(s->disp);
    out->dispatch_lag_bytes = out->committed - out->dispatched;
    if (out->dispatch_lag_bytes > 0) {
        /* age of the oldest undispatched record = now - its store time; the
         * header is copied under the segment lock (retention may be running) */
        uint8_t hdr[RECORD_PEEK_BYTES];
        record_peek_t hp;
        if (commitlog_copy(s->cl, out->dispatched, sizeof(hdr), hdr) == 0 &&
            (record_peek(hdr, &hp), hp.magic == RECORD_MAGIC)) {
            uint64_t now = rill_now_ms();
            out->dispatch_lag_ms = now > hp.store_ts ? now - hp.store_ts : 0;
        }
    }
    out->puts = atomic_load(&s->puts);
    out->put_bytes = atomic_load(&s->put_bytes);
    commitlog_segment_info_t one;
    out->segments = commitlog_segments(s->cl, &one, 0);
    out->disk_usage = (double)atomic_load(&s->disk_usage_ppm) / 1e6;
    out->writable = out->disk_usage * 100.0 < (double)s->cfg.disk_space_refuse_ratio;
}

