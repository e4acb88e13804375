/*
 * Review finding: retention (retention.c) deletes segments by age and disk
 * use, bounded only by min(dispatched, flushed). A delayed message (up to 40
 * days, DESIGN.md §5) or a half transaction message that is still pending
 * lives only in its CommitLog record; the `delay` / `txn` entry is just a
 * pointer to it. Once its segment is older than fileReservedTime (72 h) or the
 * disk passes diskSpaceCleanForciblyRatio, the record is deleted and the
 * scheduled message is lost when it comes due (the `delay` entry, which
 * purge_below() does not touch either, now points below the log).
 * file_reserved_time = 0 stands in for "72 h have passed" here.
 */
#include "broker/store/store.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/props.h"
#include "store_test_util.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static char g_dir[512];
static store_t *g_store;
static uint8_t g_buf[1 << 20];

static void teardown(void)
{
    store_close(g_store);
    g_store = NULL;
    if (g_dir[0])
        ts_rmtree(g_dir);
}

TestSuite(review_retention_delay, .fini = teardown, .timeout = 60);

Test(review_retention_delay, pending_delayed_message_survives_retention)
{
    ts_mkdtemp(g_dir, sizeof(g_dir), "review-delay");
    store_config_t cfg;
    stu_config(&cfg, g_dir, STU_SEG_64K);
    cfg.file_reserved_time = 0;
    snprintf(cfg.delete_when, sizeof(cfg.delete_when), "*");
    cr_assert_eq(store_open(&g_store, &cfg), 0);

    /* Deliver in 10 days. */
    char props[128], when[32];
    size_t plen = 0;
    uint64_t due = rill_now_ms() + 10ull * 24 * 3600 * 1000;
    snprintf(when, sizeof(when), "%" PRIu64, due);
    cr_assert_eq(
        rill_props_append(props, sizeof(props), &plen, RILL_PROP_DELIVER_TIME, when, strlen(when)),
        0);
    store_msg_t m = {.topic = "T",
                     .topic_len = 1,
                     .body = "later",
                     .body_len = 5,
                     .props = props,
                     .props_len = (uint32_t)plen,
                     .flags = RECORD_FLAG_DELAYED};
    store_put_result_t delayed;
    cr_assert_eq(store_put(g_store, &m, 1, &delayed), 0);

    static char body[1001];
    memset(body, 'x', sizeof(body) - 1);
    store_put_result_t r;
    for (int i = 0; i < 300; i++)
        cr_assert_eq(stu_put(g_store, "T", 0, body, (stu_attrs_t){0}, &r), 0);
    cr_assert_eq(store_wait_dispatched(g_store, STU_DISPATCH_WAIT_MS), 0);
    cr_assert_eq(store_flush(g_store), 0);
    store_run_retention(g_store);

    uint32_t size = 0;
    int rc = store_get_by_phys(g_store, delayed.phys_offset, g_buf, sizeof(g_buf), &size);
    cr_expect_eq(rc, 0, "the pending delayed message at %llu is gone: %s",
                 (unsigned long long)delayed.phys_offset, rill_strerror(rc));
}
