/*
 * Retention and the disk-usage guard: expired segments go (never the active
 * one), derived entries below the new minimum are purged so pulls, ranges and
 * key/time queries agree with the log; appends are refused at the refuse
 * ratio and allowed again below it; past the forcibly ratio young segments go
 * too; with low usage and young segments nothing goes. Disk usage comes from
 * the cfg.disk_usage test hook.
 */
#include "broker/store/store.h"
#include "common/clock.h"
#include "common/errors.h"
#include "store_test_util.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { MSGS = 1000, BODY_BYTES = 1000, QUEUES = 4 };

static char g_dir[512];
static store_config_t g_cfg;
static store_t *g_store;
static uint8_t g_buf[2 << 20];
static store_put_result_t g_res[MSGS];
static uint64_t g_extra[QUEUES]; /* messages put to a queue after fill() */

/* Disk usage the hook reports, in parts per million (a test sets it). */
static _Atomic long g_usage_ppm = 100000;

static double usage_hook(void *arg, const char *dir)
{
    (void)arg;
    (void)dir;
    return (double)atomic_load(&g_usage_ppm) / 1e6;
}

static void set_usage(double u)
{
    atomic_store(&g_usage_ppm, (long)(u * 1e6 + 0.5));
}

static void setup(void)
{
    ts_mkdtemp(g_dir, sizeof(g_dir), "retention");
    set_usage(0.10);
    stu_config(&g_cfg, g_dir, STU_SEG_64K);
    g_cfg.disk_usage = usage_hook;
}

static void teardown(void)
{
    store_close(g_store);
    g_store = NULL;
    if (g_dir[0])
        ts_rmtree(g_dir);
}

TestSuite(store_retention, .init = setup, .fini = teardown, .timeout = 60);

static void open_store(void)
{
    cr_assert_eq(store_open(&g_store, &g_cfg), 0);
}

static void reopen(void)
{
    store_close(g_store);
    g_store = NULL;
    open_store();
}

static void key_of(int i, char *out, size_t cap)
{
    snprintf(out, cap, "key-%d", i);
}

/* MSGS messages of ~1 KB (about 1 MiB, 16+ segments of 64 KiB), round robin over
 * QUEUES queues of "R", each with its own key and the shared key "every". */
static void fill(void)
{
    char body[BODY_BYTES + 1];
    char keys[64];
    for (int i = 0; i < MSGS; i++) {
        memset(body, 'a' + i % 26, BODY_BYTES);
        body[BODY_BYTES] = '\0';
        snprintf(body, 16, "msg-%06d", i);
        body[strlen(body)] = '.'; /* keep the full length */
        char key[32];
        key_of(i, key, sizeof(key));
        snprintf(keys, sizeof(keys), "%s every", key);
        cr_assert_eq(stu_put(g_store, "R", (uint32_t)(i % QUEUES), body,
                             (stu_attrs_t){NULL, keys, NULL}, &g_res[i]),
                     0);
        cr_assert_eq(g_res[i].queue_offset, (uint64_t)(i / QUEUES));
    }
    cr_assert_eq(store_wait_dispatched(g_store, STU_DISPATCH_WAIT_MS), 0);
}

static store_stats_t stats(void)
{
    store_stats_t st;
    store_get_stats(g_store, &st);
    return st;
}

static int count_segment_files(void)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/commitlog", g_dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strlen(de->d_name) == 20 && de->d_name[0] >= '0' && de->d_name[0] <= '9')
            n++;
    closedir(d);
    return n;
}

/* Run retention until a pass deletes nothing (bounded); returns the total deleted. */
static int retention_until_quiet(void)
{
    int total = 0;
    for (int pass = 0; pass < 64; pass++) {
        int n = store_run_retention(g_store);
        cr_assert_geq(n, 0);
        if (n == 0)
            return total;
        total += n;
    }
    cr_assert_fail("retention kept deleting");
    return total;
}

/* Everything that must hold once the log starts at stats().min_offset. */
static void check_after_deletion(void)
{
    store_stats_t st = stats();
    uint64_t min_phys = st.min_offset;
    cr_assert_gt(min_phys, 0);
    cr_assert_eq(min_phys % STU_SEG_64K, 0);
    int survivors = 0;
    for (int i = 0; i < MSGS; i++)
        survivors += g_res[i].phys_offset >= min_phys;
    cr_assert_gt(survivors, 0);
    cr_assert_lt(survivors, MSGS);

    for (uint32_t q = 0; q < QUEUES; q++) {
        /* the first surviving message of the queue is the new queue minimum */
        uint64_t want_min = UINT64_MAX;
        int want_count = 0;
        for (int i = (int)q; i < MSGS; i += QUEUES) {
            if (g_res[i].phys_offset >= min_phys) {
                if (want_min == UINT64_MAX)
                    want_min = g_res[i].queue_offset;
                want_count++;
            }
        }
        uint64_t min, max;
        cr_assert_eq(store_queue_range(g_store, "R", q, &min, &max), 0);
        cr_assert_gt(min, 0, "queue %u: cq entries below the log were not purged", q);
        cr_assert_eq(min, want_min, "queue %u", q);
        cr_assert_eq(max, MSGS / QUEUES + g_extra[q]);
        uint64_t by_time = UINT64_MAX;
        cr_assert_eq(store_offset_by_time(g_store, "R", q, 0, &by_time), 0);
        cr_assert_eq(by_time, want_min, "queue %u: offset by time before all", q);
        cr_assert_eq(store_offset_by_time(g_store, "R", q, g_res[0].store_ts, &by_time), 0);
        cr_assert_eq(by_time, want_min);

        store_get_result_t gr;
        cr_assert_eq(store_get_messages(g_store, "R", q, 0, 32, NULL, g_buf, sizeof(g_buf), &gr),
                     0);
        cr_assert_eq(gr.status, STORE_OFFSET_TOO_SMALL);
        cr_assert_eq(gr.next_offset, want_min);
        cr_assert_eq(gr.count, 0);
        cr_assert_eq(gr.min_offset, want_min);

        /* everything from the minimum on is readable */
        cr_assert_eq(
            store_get_messages(g_store, "R", q, min, MSGS, NULL, g_buf, sizeof(g_buf), &gr), 0);
        cr_assert_eq(gr.status, STORE_FOUND);
        cr_assert_eq(gr.count, (uint32_t)want_count + g_extra[q]);
        cr_assert_eq(gr.next_offset, max);
        static record_view_t rv[MSGS + 8];
        cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, MSGS + 8),
                     (size_t)want_count + g_extra[q]);
        for (int j = 0; j < want_count; j++) {
            cr_assert_eq(rv[j].queue_offset, min + (uint64_t)j);
            cr_assert_geq(rv[j].phys_offset, min_phys);
            int i = (int)(rv[j].queue_offset * QUEUES + q);
            cr_assert_eq(rv[j].phys_offset, g_res[i].phys_offset);
        }
    }

    /* key index: deleted messages are gone, survivors found */
    char key[32];
    store_query_result_t qr;
    for (int i = 0; i < MSGS; i += 7) {
        key_of(i, key, sizeof(key));
        cr_assert_eq(
            store_query_by_key(g_store, "R", key, 0, UINT64_MAX, 0, g_buf, sizeof(g_buf), &qr), 0);
        cr_assert_eq(qr.count, g_res[i].phys_offset >= min_phys ? 1u : 0u, "%s", key);
    }
    cr_assert_eq(
        store_query_by_key(g_store, "R", "every", 0, UINT64_MAX, MSGS, g_buf, sizeof(g_buf), &qr),
        0);
    cr_assert_eq(qr.count, (uint32_t)survivors);
    cr_assert(!qr.truncated);
    static record_view_t rv[MSGS];
    cr_assert_eq(stu_decode_all(g_buf, qr.bytes, rv, MSGS), (size_t)survivors);
    for (int j = 0; j < survivors; j++)
        cr_assert_geq(rv[j].phys_offset, min_phys);

    /* time query: survivors only, oldest first */
    cr_assert_eq(store_query_by_time(g_store, "R", 0, UINT64_MAX, MSGS, g_buf, sizeof(g_buf), &qr),
                 0);
    uint64_t extra = 0;
    for (uint32_t q = 0; q < QUEUES; q++)
        extra += g_extra[q];
    cr_assert_eq(qr.count, (uint32_t)(survivors + extra));
    cr_assert_eq(stu_decode_all(g_buf, qr.bytes, rv, MSGS), (size_t)(survivors + extra));
    cr_assert_eq(rv[0].phys_offset, g_res[MSGS - survivors].phys_offset);

    /* msgId lookups */
    uint32_t size;
    cr_assert_eq(store_get_by_phys(g_store, g_res[0].phys_offset, g_buf, sizeof(g_buf), &size),
                 RILL_ENOTFOUND);
    cr_assert_eq(store_get_by_phys(g_store, g_res[MSGS - survivors].phys_offset, g_buf,
                                   sizeof(g_buf), &size),
                 0);
}

Test(store_retention, expired_segments_are_deleted)
{
    open_store();
    fill();
    store_stats_t before = stats();
    cr_assert_geq(before.segments, 16);
    cr_assert_eq(before.min_offset, 0);
    /* young segments and a closed delete window: nothing goes */
    cr_assert_eq(store_run_retention(g_store), 0);

    g_cfg.file_reserved_time = 0;
    snprintf(g_cfg.delete_when, sizeof(g_cfg.delete_when), "*");
    reopen();
    /* retention never passes the flusher: make sure everything is flushed */
    cr_assert_eq(store_flush(g_store), 0);
    int deleted = store_run_retention(g_store);
    cr_assert_gt(deleted, 0);
    store_stats_t after = stats();
    cr_assert_eq(after.segments, before.segments - (uint64_t)deleted);
    cr_assert_eq(after.min_offset, (uint64_t)deleted * STU_SEG_64K);
    cr_assert_eq((int)after.segments, count_segment_files());
    cr_assert_eq(after.committed, before.committed);
    check_after_deletion();

    /* keep going: everything but the active segment */
    retention_until_quiet();
    after = stats();
    cr_assert_eq(after.segments, 1);
    cr_assert_eq(count_segment_files(), 1);
    cr_assert_eq(after.min_offset, (before.committed - 1) / STU_SEG_64K * STU_SEG_64K);
    check_after_deletion();

    /* appends go on with the next queue offsets; a reopen keeps the new minimum */
    store_put_result_t r;
    cr_assert_eq(stu_put(g_store, "R", 1, "after", (stu_attrs_t){NULL, NULL, NULL}, &r), 0);
    cr_assert_eq(r.queue_offset, MSGS / QUEUES);
    g_extra[1]++;
    cr_assert_eq(store_wait_dispatched(g_store, STU_DISPATCH_WAIT_MS), 0);
    check_after_deletion();
    reopen();
    cr_assert_eq(stats().min_offset, after.min_offset);
    check_after_deletion();
    uint64_t min, max;
    cr_assert_eq(store_queue_range(g_store, "R", 1, &min, &max), 0);
    cr_assert_eq(max, MSGS / QUEUES + 1);
    cr_assert_eq(stu_put(g_store, "R", 1, "after2", (stu_attrs_t){NULL, NULL, NULL}, &r), 0);
    cr_assert_eq(r.queue_offset, MSGS / QUEUES + 1);
}

Test(store_retention, refuse_ratio_blocks_appends_until_usage_drops)
{
    open_store();
    store_put_result_t r;
    cr_assert_eq(stu_put(g_store, "D", 0, "ok", (stu_attrs_t){NULL, NULL, NULL}, &r), 0);
    cr_assert_eq(stats().writable, 1);

    set_usage(0.95);
    cr_assert_geq(store_run_retention(g_store), 0);
    store_stats_t st = stats();
    cr_assert_eq(st.writable, 0);
    cr_assert_float_eq(st.disk_usage, 0.95, 1e-6);
    cr_assert_eq(stu_put(g_store, "D", 0, "refused", (stu_attrs_t){NULL, NULL, NULL}, &r),
                 RILL_EDISKFULL);
    stu_msg_buf_t mb;
    stu_msg(&mb, "D", 0, "refused async", (stu_attrs_t){NULL, NULL, NULL});
    cr_assert_eq(store_put_async(g_store, &mb.m, 1, &r, NULL), RILL_EDISKFULL);
    cr_assert_eq(stats().puts, 1);

    /* exactly at the ratio is refused too */
    set_usage(0.90);
    cr_assert_geq(store_run_retention(g_store), 0);
    cr_assert_eq(stats().writable, 0);
    cr_assert_eq(stu_put(g_store, "D", 0, "refused", (stu_attrs_t){NULL, NULL, NULL}, &r),
                 RILL_EDISKFULL);

    set_usage(0.50);
    cr_assert_eq(store_run_retention(g_store), 0);
    st = stats();
    cr_assert_eq(st.writable, 1);
    cr_assert_float_eq(st.disk_usage, 0.50, 1e-6);
    cr_assert_eq(stu_put(g_store, "D", 0, "ok again", (stu_attrs_t){NULL, NULL, NULL}, &r), 0);
    cr_assert_eq(r.queue_offset, 1);

    /* the state set at open: a store opened on a full disk refuses at once */
    set_usage(0.97);
    reopen();
    cr_assert_eq(stats().writable, 0);
    cr_assert_eq(stu_put(g_store, "D", 0, "refused", (stu_attrs_t){NULL, NULL, NULL}, &r),
                 RILL_EDISKFULL);
    set_usage(0.10);
    cr_assert_eq(store_run_retention(g_store), 0);
    cr_assert_eq(stu_put(g_store, "D", 0, "fine", (stu_attrs_t){NULL, NULL, NULL}, &r), 0);
    cr_assert_eq(r.queue_offset, 2);
}

Test(store_retention, forcibly_ratio_deletes_young_segments)
{
    open_store();
    fill();
    cr_assert_eq(store_flush(g_store), 0);
    store_stats_t before = stats();
    /* young (72 h) and outside any delete window, but 88 % >= 85 % */
    set_usage(0.88);
    int deleted = store_run_retention(g_store);
    cr_assert_gt(deleted, 0);
    store_stats_t after = stats();
    cr_assert_eq(after.segments, before.segments - (uint64_t)deleted);
    cr_assert_eq(after.min_offset, (uint64_t)deleted * STU_SEG_64K);
    cr_assert_eq(after.writable, 1); /* below the refuse ratio */
    check_after_deletion();
    retention_until_quiet();
    cr_assert_eq(stats().segments, 1); /* never the active one */
    store_put_result_t r;
    cr_assert_eq(stu_put(g_store, "R", 0, "still writable", (stu_attrs_t){NULL, NULL, NULL}, &r),
                 0);
}

/* Usage that falls as segment files go: 88 % while more than `keep` remain, 80 % after. */
static _Atomic int g_keep = 0;

static double usage_by_files(void *arg, const char *dir)
{
    (void)arg;
    (void)dir;
    return count_segment_files() > atomic_load(&g_keep) ? 0.88 : 0.80;
}

Test(store_retention, forcibly_deletes_only_while_above_the_ratio)
{
    open_store();
    fill();
    store_stats_t before = stats();
    cr_assert_geq(before.segments, 16);
    atomic_store(&g_keep, (int)before.segments - 3);
    g_cfg.disk_usage = usage_by_files;
    reopen();
    cr_assert_eq(store_flush(g_store), 0);
    /* 88 %: young segments go until the usage falls below 85 %; at 80 % (above 75 %)
     * only expired ones would go and these are young */
    int deleted = store_run_retention(g_store);
    cr_assert_eq(deleted, 3);
    cr_assert_eq(stats().segments, before.segments - 3);
    cr_assert_eq(store_run_retention(g_store), 0);
    check_after_deletion();
}

Test(store_retention, low_usage_keeps_young_segments)
{
    snprintf(g_cfg.delete_when, sizeof(g_cfg.delete_when), "*"); /* window always open */
    open_store();
    fill();
    cr_assert_eq(store_flush(g_store), 0);
    store_stats_t before = stats();
    set_usage(0.50);
    cr_assert_eq(store_run_retention(g_store), 0);
    /* above diskMaxUsedSpaceRatio but below forcibly: still only expired segments */
    set_usage(0.80);
    cr_assert_eq(store_run_retention(g_store), 0);
    store_stats_t after = stats();
    cr_assert_eq(after.segments, before.segments);
    cr_assert_eq(after.min_offset, 0);
    cr_assert_eq(after.writable, 1);
    uint64_t min, max;
    for (uint32_t q = 0; q < QUEUES; q++) {
        cr_assert_eq(store_queue_range(g_store, "R", q, &min, &max), 0);
        cr_assert_eq(min, 0);
        cr_assert_eq(max, MSGS / QUEUES);
    }
    store_query_result_t qr;
    cr_assert_eq(
        store_query_by_key(g_store, "R", "every", 0, UINT64_MAX, MSGS, g_buf, sizeof(g_buf), &qr),
        0);
    cr_assert_eq(qr.count, MSGS);
}

Test(store_retention, used_space_ratio_deletes_expired_outside_the_window)
{
    /* a delete window 12 hours away from now */
    time_t now = time(NULL);
    struct tm lt;
    localtime_r(&now, &lt);
    snprintf(g_cfg.delete_when, sizeof(g_cfg.delete_when), "%02d", (lt.tm_hour + 12) % 24);
    open_store();
    fill();
    g_cfg.file_reserved_time = 0;
    reopen();
    cr_assert_eq(store_flush(g_store), 0);
    set_usage(0.50); /* expired, but not the hour and no pressure */
    cr_assert_eq(store_run_retention(g_store), 0);
    cr_assert_eq(stats().min_offset, 0);
    set_usage(0.76); /* past diskMaxUsedSpaceRatio: expired segments go at any hour */
    cr_assert_gt(store_run_retention(g_store), 0);
    check_after_deletion();
}
