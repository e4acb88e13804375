/*
 * test_delay_table.c - the `delay` table of pending delayed messages: the
 * dispatcher indexes a RECORD_FLAG_DELAYED record by (DELIVER_TIME, phys)
 * and not in the ConsumeQueue; store_delay_due() returns entries in time
 * order and only when due; a visible copy carrying DELAY_ORIGIN (the key)
 * removes its entry when dispatched, a malformed or stale one removes
 * nothing; all of it survives a reopen (log replay included).
 */
#include "broker/store/delay_table.h"
#include "broker/store/store.h"
#include "common/errors.h"
#include "common/props.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static store_t *open_store(const char *dir, store_config_t *cfg)
{
    store_config_defaults(cfg);
    snprintf(cfg->store_path_root_dir, sizeof(cfg->store_path_root_dir), "%s", dir);
    cfg->mapped_file_size_commitlog = 64 * 1024;
    store_t *s;
    cr_assert_eq(store_open(&s, cfg), 0);
    return s;
}

/* Put body; deliver_ts > 0 makes it delayed; origin (may be NULL) adds DELAY_ORIGIN. */
static store_put_result_t put(store_t *s, const char *body, uint64_t deliver_ts,
                              const char *origin)
{
    char props[256];
    size_t len = 0;
    if (deliver_ts) {
        char num[24];
        int n = snprintf(num, sizeof(num), "%" PRIu64, deliver_ts);
        cr_assert_eq(rill_props_append(props, sizeof(props), &len, RILL_PROP_DELIVER_TIME, num,
                                       (size_t)n),
                     0);
    }
    if (origin)
        cr_assert_eq(rill_props_append(props, sizeof(props), &len, DELAY_ORIGIN_PROP, origin,
                                       strlen(origin)),
                     0);
    store_msg_t m = {.topic = "T",
                     .topic_len = 1,
                     .queue_id = 0,
                     .body = body,
                     .body_len = (uint32_t)strlen(body),
                     .props = len ? props : NULL,
                     .props_len = (uint32_t)len,
                     .flags = deliver_ts ? RECORD_FLAG_DELAYED : 0};
    store_put_result_t r;
    cr_assert_eq(store_put(s, &m, 1, &r), 0);
    return r;
}

static uint64_t count(store_t *s)
{
    uint64_t n = 99;
    cr_assert_eq(store_delay_count(s, &n), 0);
    return n;
}

Test(store_delay_table, pending_until_the_delivered_copy_is_dispatched)
{
    char dir[512];
    ts_mkdtemp(dir, sizeof(dir), "delay");
    store_config_t cfg;
    store_t *s = open_store(dir, &cfg);

    store_put_result_t late = put(s, "late", 3000, NULL);
    store_put_result_t early = put(s, "early", 1000, NULL);
    store_put_result_t mid = put(s, "mid", 2000, NULL);
    cr_assert_eq(store_wait_dispatched(s, 5000), 0);
    cr_assert_eq(count(s), 3);
    uint64_t min, max;
    cr_assert_eq(store_queue_range(s, "T", 0, &min, &max), 0);
    cr_assert_eq(max, 0, "delayed records take no queue slot");

    delay_entry_t e[4];
    size_t n = 9;
    uint64_t next = 0;
    cr_assert_eq(store_delay_due(s, 999, e, 4, &n, &next), 0);
    cr_assert_eq(n, 0, "nothing due before 1000");
    cr_assert_eq(next, 1000);
    cr_assert_eq(store_delay_due(s, 2000, e, 4, &n, &next), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(e[0].phys, early.phys_offset);
    cr_assert_eq(e[0].deliver_ts, 1000);
    cr_assert_eq(e[0].size, early.size);
    cr_assert_eq(e[1].phys, mid.phys_offset);
    cr_assert_eq(next, 3000);
    cr_assert_eq(store_delay_due(s, 5000, e, 1, &n, &next), 0);
    cr_assert_eq(n, 1, "cap respected");
    cr_assert_eq(next, 2000, "next is the first entry not returned");

    /* deliver `early`: a visible copy with its key */
    char origin[64];
    snprintf(origin, sizeof(origin), "1000:%" PRIu64, early.phys_offset);
    put(s, "early", 0, origin);
    /* stale, malformed and foreign origins remove nothing */
    put(s, "x", 0, origin);
    put(s, "y", 0, "garbage");
    snprintf(origin, sizeof(origin), "1999:%" PRIu64, mid.phys_offset);
    put(s, "z", 0, origin);
    cr_assert_eq(store_wait_dispatched(s, 5000), 0);
    cr_assert_eq(count(s), 2);
    cr_assert_eq(store_queue_range(s, "T", 0, &min, &max), 0);
    cr_assert_eq(max, 4, "the copies are queued");
    cr_assert_eq(store_delay_due(s, 5000, e, 4, &n, &next), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(e[0].phys, mid.phys_offset);
    cr_assert_eq(e[1].phys, late.phys_offset);

    /* deliver `mid`, then reopen: log replay and LMDB agree */
    snprintf(origin, sizeof(origin), "2000:%" PRIu64, mid.phys_offset);
    put(s, "mid", 0, origin);
    store_close(s);
    s = open_store(dir, &cfg);
    cr_assert_eq(store_wait_dispatched(s, 5000), 0);
    cr_assert_eq(count(s), 1);
    cr_assert_eq(store_delay_due(s, 5000, e, 4, &n, &next), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(e[0].phys, late.phys_offset);
    cr_assert_eq(e[0].deliver_ts, 3000);

    /* a record that is gone can be dropped directly */
    cr_assert_eq(store_delay_drop(s, 3000, late.phys_offset), 0);
    cr_assert_eq(store_delay_drop(s, 3000, late.phys_offset), 0, "absent is fine");
    cr_assert_eq(count(s), 0);
    store_close(s);
    ts_rmtree(dir);
}
