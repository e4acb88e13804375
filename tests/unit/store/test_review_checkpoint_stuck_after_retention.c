/*
 * Review finding: refresh_checkpoint() (dispatcher.c) walks the log from the
 * current checkpoint to min(flushed, dispatched). When retention has deleted
 * the segment holding the checkpoint, commitlog_ptr() returns NULL on the
 * first step and the walk gives up, so the checkpoint never moves again (not
 * even at store_close). Every later open then re-verifies the whole log from
 * its first segment instead of the checkpoint record (store.c promises a
 * clean close leaves the checkpoint on the last record). The same walk reads
 * segments below `dispatched` through an unlocked pointer, which retention
 * may unmap meanwhile.
 */
#include "broker/store/store.h"
#include "broker/store/store_impl.h"
#include "common/errors.h"
#include "store_test_util.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

static char g_dir[512];
static store_t *g_store;

static void teardown(void)
{
    store_close(g_store);
    g_store = NULL;
    if (g_dir[0])
        ts_rmtree(g_dir);
}

TestSuite(review_checkpoint, .fini = teardown, .timeout = 60);

Test(review_checkpoint, clean_close_after_retention_leaves_checkpoint_at_the_end)
{
    ts_mkdtemp(g_dir, sizeof(g_dir), "review-ckpt");
    store_config_t cfg;
    stu_config(&cfg, g_dir, STU_SEG_64K);
    cfg.flush_interval_commitlog = 3600000; /* only explicit flushes */
    cfg.flush_commitlog_thorough_interval = 3600000;
    cfg.file_reserved_time = 0;
    snprintf(cfg.delete_when, sizeof(cfg.delete_when), "*");

    /* A checkpoint on the first record. */
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    store_put_result_t r;
    cr_assert_eq(stu_put(g_store, "T", 0, "first", (stu_attrs_t){0}, &r), 0);
    store_close(g_store);
    g_store = NULL;

    /* Fill several segments, make them durable, and let retention take the
     * first ones (including the checkpoint's) before the idle refresh runs. */
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    static char body[1001];
    memset(body, 'x', sizeof(body) - 1);
    for (int i = 0; i < 300; i++)
        cr_assert_eq(stu_put(g_store, "T", 0, body, (stu_attrs_t){0}, &r), 0);
    cr_assert_eq(store_wait_dispatched(g_store, STU_DISPATCH_WAIT_MS), 0);
    cr_assert_eq(store_flush(g_store), 0);
    cr_assert_gt(store_run_retention(g_store), 0);
    store_stats_t st;
    store_get_stats(g_store, &st);
    cr_assert_gt(st.min_offset, 0, "the first segment was deleted");
    sleep(2); /* idle: the dispatcher refreshes its checkpoint (every 1 s) */
    store_close(g_store);
    g_store = NULL;

    /* A clean close: recovery should start at the end of the log. */
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    uint64_t end = r.phys_offset + r.size;
    cr_expect_eq(
        g_store->recovered_from, end,
        "recovery re-verified from %llu (log min %llu), not from the last record's end %llu",
        (unsigned long long)g_store->recovered_from, (unsigned long long)st.min_offset,
        (unsigned long long)end);
}
