/*
 * test_txn_table.c - the `txn` table of pending half messages: the
 * dispatcher adds a half and drops it when it dispatches the TX_COMMIT copy
 * or the TX_ROLLBACK record pointing at it; check bookkeeping is kept only
 * while the half is pending; all of it survives a reopen; the commit copy is
 * queued, the half and the rollback record are not.
 */
#include "broker/store/store.h"
#include "broker/store/txn_table.h"
#include "common/errors.h"
#include "common/props.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
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

static store_put_result_t put(store_t *s, uint32_t flags, uint64_t prepared, const char *body)
{
    store_msg_t m = {.topic = "T",
                     .topic_len = 1,
                     .queue_id = 0,
                     .body = body,
                     .body_len = (uint32_t)strlen(body),
                     .flags = flags,
                     .prepared_tx_offset = prepared};
    store_put_result_t r;
    cr_assert_eq(store_put(s, &m, 1, &r), 0);
    return r;
}

Test(store_txn_table, halves_pending_until_their_resolution_is_dispatched)
{
    char dir[512];
    ts_mkdtemp(dir, sizeof(dir), "txn");
    store_config_t cfg;
    store_t *s = open_store(dir, &cfg);

    store_put_result_t plain = put(s, 0, 0, "plain");
    store_put_result_t h1 = put(s, RECORD_TX_PREPARED, 0, "half-1");
    store_put_result_t h2 = put(s, RECORD_TX_PREPARED, 0, "half-2");
    store_put_result_t h3 = put(s, RECORD_TX_PREPARED, 0, "half-3");
    cr_assert_eq(store_wait_dispatched(s, 5000), 0);

    uint64_t n = 99;
    cr_assert_eq(store_txn_count(s, &n), 0);
    cr_assert_eq(n, 3);
    txn_entry_t e;
    cr_assert_eq(store_txn_get(s, plain.phys_offset, &e), RILL_ENOTFOUND);
    cr_assert_eq(store_txn_get(s, h2.phys_offset, &e), 0);
    cr_assert_eq(e.phys, h2.phys_offset);
    cr_assert_eq(e.size, h2.size);
    cr_assert_eq(e.check_count, 0);
    cr_assert_eq(e.next_check_ts, 0);

    /* check bookkeeping */
    cr_assert_eq(store_txn_set_check(s, h2.phys_offset, 2, 12345), 0);
    cr_assert_eq(store_txn_get(s, h2.phys_offset, &e), 0);
    cr_assert_eq(e.check_count, 2);
    cr_assert_eq(e.next_check_ts, 12345);
    cr_assert_eq(e.size, h2.size);
    cr_assert_eq(store_txn_set_check(s, plain.phys_offset, 1, 1), RILL_ENOTFOUND,
                 "never creates an entry");

    /* the halves take no queue slot */
    uint64_t min, max;
    cr_assert_eq(store_queue_range(s, "T", 0, &min, &max), 0);
    cr_assert_eq(max, 1);

    /* commit h1 (queued), roll back h2 (not queued) */
    store_put_result_t c1 = put(s, RECORD_TX_COMMIT, h1.phys_offset, "half-1");
    cr_assert_eq(c1.queue_offset, 1);
    put(s, RECORD_TX_ROLLBACK, h2.phys_offset, "");
    cr_assert_eq(store_wait_dispatched(s, 5000), 0);
    cr_assert_eq(store_txn_get(s, h1.phys_offset, &e), RILL_ENOTFOUND);
    cr_assert_eq(store_txn_get(s, h2.phys_offset, &e), RILL_ENOTFOUND);
    cr_assert_eq(store_txn_set_check(s, h2.phys_offset, 3, 1), RILL_ENOTFOUND);
    cr_assert_eq(store_queue_range(s, "T", 0, &min, &max), 0);
    cr_assert_eq(max, 2, "the commit copy is queued, the rollback record is not");

    txn_entry_t list[8];
    size_t got = 0;
    cr_assert_eq(store_txn_list(s, 0, list, 8, &got), 0);
    cr_assert_eq(got, 1);
    cr_assert_eq(list[0].phys, h3.phys_offset);
    cr_assert_eq(store_txn_list(s, h3.phys_offset + 1, list, 8, &got), 0);
    cr_assert_eq(got, 0);

    /* a second resolution of a resolved half is harmless */
    put(s, RECORD_TX_ROLLBACK, h1.phys_offset, "");
    cr_assert_eq(store_wait_dispatched(s, 5000), 0);

    /* reopen: the same state */
    cr_assert_eq(store_txn_set_check(s, h3.phys_offset, 1, 777), 0);
    store_close(s);
    s = open_store(dir, &cfg);
    cr_assert_eq(store_txn_count(s, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(store_txn_get(s, h3.phys_offset, &e), 0);
    cr_assert_eq(e.check_count, 1);
    cr_assert_eq(e.next_check_ts, 777);
    store_close(s);
    ts_rmtree(dir);
}

Test(store_txn_table, a_query_by_key_finds_the_commit_copy_not_the_half)
{
    char dir[512];
    ts_mkdtemp(dir, sizeof(dir), "txnkey");
    store_config_t cfg;
    store_t *s = open_store(dir, &cfg);
    char props[64];
    size_t plen = 0;
    cr_assert_eq(rill_props_append(props, sizeof(props), &plen, RILL_PROP_KEYS, "order-7", 7), 0);
    store_msg_t m = {.topic = "T",
                     .topic_len = 1,
                     .body = "b",
                     .body_len = 1,
                     .props = props,
                     .props_len = (uint32_t)plen,
                     .flags = RECORD_TX_PREPARED};
    store_put_result_t half, copy;
    cr_assert_eq(store_put(s, &m, 1, &half), 0);
    cr_assert_eq(store_wait_dispatched(s, 5000), 0);
    static uint8_t buf[1 << 16];
    store_query_result_t qr;
    cr_assert_eq(store_query_by_key(s, "T", "order-7", 0, UINT64_MAX, 0, buf, sizeof(buf), &qr), 0);
    cr_assert_eq(qr.count, 0, "a pending half is not found by key");
    m.flags = RECORD_TX_COMMIT;
    m.prepared_tx_offset = half.phys_offset;
    cr_assert_eq(store_put(s, &m, 1, &copy), 0);
    cr_assert_eq(store_wait_dispatched(s, 5000), 0);
    cr_assert_eq(store_query_by_key(s, "T", "order-7", 0, UINT64_MAX, 0, buf, sizeof(buf), &qr), 0);
    cr_assert_eq(qr.count, 1);
    record_view_t rv;
    cr_assert_eq(record_decode(buf, qr.bytes, &rv), 0);
    cr_assert_eq(rv.phys_offset, copy.phys_offset);
    store_close(s);
    ts_rmtree(dir);
}
