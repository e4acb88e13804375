/*
 * Review finding: the appender gives every record a queue offset, also
 * delayed and half (prepared) transaction records, but the dispatcher indexes
 * those in `delay`/`txn`, not in the ConsumeQueue. The queue therefore has
 * holes in the middle. search_time() (query.c) treats a hole as "older than
 * ts" and moves lo past it, which skips every real entry below the hole:
 * store_offset_by_time() returns an offset past messages stored after ts
 * (consumers reset by time skip them) and store_query_by_time() misses them.
 */
#include "broker/store/store.h"
#include "common/errors.h"
#include "store_test_util.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

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

TestSuite(review_time_holes, .fini = teardown, .timeout = 60);

Test(review_time_holes, offset_by_time_with_a_delayed_record_in_the_queue)
{
    ts_mkdtemp(g_dir, sizeof(g_dir), "review-holes");
    store_config_t cfg;
    stu_config(&cfg, g_dir, STU_SEG_64K);
    cr_assert_eq(store_open(&g_store, &cfg), 0);

    store_put_result_t r0, r1, r2;
    stu_msg_buf_t b;
    stu_msg(&b, "T", 0, "first", (stu_attrs_t){0});
    cr_assert_eq(store_put(g_store, &b.m, 1, &r0), 0);
    usleep(5000);
    stu_msg(&b, "T", 0, "delayed", (stu_attrs_t){0});
    b.m.flags = RECORD_FLAG_DELAYED;
    cr_assert_eq(store_put(g_store, &b.m, 1, &r1), 0);
    usleep(5000);
    stu_msg(&b, "T", 0, "third", (stu_attrs_t){0});
    cr_assert_eq(store_put(g_store, &b.m, 1, &r2), 0);
    cr_assert_eq(store_wait_dispatched(g_store, STU_DISPATCH_WAIT_MS), 0);
    cr_assert_eq(r0.queue_offset, 0);
    /* a delayed record takes no queue offset (it is not in the ConsumeQueue
     * until delivered), so the queue has no gap */
    cr_assert_eq(r1.queue_offset, 0);
    cr_assert_eq(r2.queue_offset, 1);

    /* store.h: "min offset when all are newer"; the first message stored at or
     * after r0.store_ts is the one at offset 0. */
    uint64_t off = 99;
    cr_assert_eq(store_offset_by_time(g_store, "T", 0, 0, &off), 0);
    cr_expect_eq(off, 0, "offset_by_time(0) = %llu, expected 0", (unsigned long long)off);
    cr_assert_eq(store_offset_by_time(g_store, "T", 0, r0.store_ts, &off), 0);
    cr_expect_eq(off, 0, "offset_by_time(first store ts) = %llu, expected 0",
                 (unsigned long long)off);

    store_query_result_t qr;
    cr_assert_eq(store_query_by_time(g_store, "T", 0, UINT64_MAX / 2, 0, g_buf, sizeof(g_buf), &qr),
                 0);
    cr_expect_eq(qr.count, 2, "query_by_time found %u of the 2 queued messages", qr.count);
}
