/* Smoke: append, dispatch, pull back, reopen. */
#include "broker/store/store.h"
#include "common/errors.h"
#include "common/props.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(store_smoke, put_pull_reopen)
{
    char dir[512];
    ts_mkdtemp(dir, sizeof(dir), "smoke");
    store_config_t cfg;
    store_config_defaults(&cfg);
    snprintf(cfg.store_path_root_dir, sizeof(cfg.store_path_root_dir), "%s", dir);
    cfg.mapped_file_size_commitlog = 64 * 1024;
    store_t *s;
    cr_assert_eq(store_open(&s, &cfg), 0);
    char body[200];
    for (int i = 0; i < 1000; i++) {
        snprintf(body, sizeof(body), "message-%d", i);
        char props[128];
        size_t plen = 0;
        char key[32];
        snprintf(key, sizeof(key), "k%d", i % 10);
        cr_assert_eq(
            rill_props_append(props, sizeof(props), &plen, RILL_PROP_KEYS, key, strlen(key)), 0);
        store_msg_t m = {.topic = "T",
                         .topic_len = 1,
                         .queue_id = (uint32_t)(i % 4),
                         .body = body,
                         .body_len = (uint32_t)strlen(body),
                         .props = props,
                         .props_len = (uint32_t)plen};
        store_put_result_t r;
        cr_assert_eq(store_put(s, &m, 1, &r), 0);
        cr_assert_eq(r.queue_offset, (uint64_t)(i / 4));
    }
    cr_assert_eq(store_wait_dispatched(s, 5000), 0);
    static uint8_t buf[1 << 20];
    store_get_result_t gr;
    cr_assert_eq(store_get_messages(s, "T", 1, 0, 32, NULL, buf, sizeof(buf), &gr), 0);
    cr_assert_eq(gr.status, STORE_FOUND);
    cr_assert_eq(gr.count, 32);
    cr_assert_eq(gr.next_offset, 32);
    cr_assert_eq(gr.max_offset, 250);
    record_view_t rv;
    cr_assert_eq(record_decode(buf, gr.bytes, &rv), 0);
    cr_assert_eq(rv.body_len, strlen("message-1"));
    cr_assert(memcmp(rv.body, "message-1", rv.body_len) == 0);
    store_query_result_t qr;
    cr_assert_eq(store_query_by_key(s, "T", "k3", 0, UINT64_MAX, 0, buf, sizeof(buf), &qr), 0);
    cr_assert_eq(qr.count, 64);
    cr_assert(qr.truncated);
    store_close(s);
    cr_assert_eq(store_open(&s, &cfg), 0);
    uint64_t min, max;
    cr_assert_eq(store_queue_range(s, "T", 3, &min, &max), 0);
    cr_assert_eq(max, 250);
    store_put_result_t r;
    store_msg_t m = {.topic = "T", .topic_len = 1, .queue_id = 3, .body = "x", .body_len = 1};
    cr_assert_eq(store_put(s, &m, 1, &r), 0);
    cr_assert_eq(r.queue_offset, 250);
    store_close(s);
    ts_rmtree(dir);
}
