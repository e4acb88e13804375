/*
 * The store's read side: pulls and their statuses, tag filters, buffer
 * limits, queue independence, msgId (phys) lookups, key and time queries,
 * offset-by-time search and queue metadata.
 */
#include "broker/store/store.h"
#include "common/clock.h"
#include "common/errors.h"
#include "store_test_util.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char g_dir[512];
static store_t *g_store;
static uint8_t g_buf[1 << 20];

static void open_store(int64_t segment_size)
{
    ts_mkdtemp(g_dir, sizeof(g_dir), "query");
    store_config_t cfg;
    stu_config(&cfg, g_dir, segment_size);
    cr_assert_eq(store_open(&g_store, &cfg), 0);
}

static void teardown(void)
{
    store_close(g_store);
    g_store = NULL;
    if (g_dir[0])
        ts_rmtree(g_dir);
}

static void setup_1m(void)
{
    open_store(STU_SEG_1M);
}

static void wait_dispatched(void)
{
    cr_assert_eq(store_wait_dispatched(g_store, STU_DISPATCH_WAIT_MS), 0);
}

static const stu_attrs_t NO_ATTRS = {NULL, NULL, NULL};

TestSuite(store_query, .init = setup_1m, .fini = teardown, .timeout = 60);

Test(store_query, pull_returns_queue_order_with_bodies_and_offsets)
{
    char body[64];
    store_put_result_t r;
    for (int i = 0; i < 100; i++) {
        snprintf(body, sizeof(body), "q0-%d", i);
        cr_assert_eq(stu_put(g_store, "T", 0, body, NO_ATTRS, &r), 0);
        cr_assert_eq(r.queue_offset, (uint64_t)i);
        snprintf(body, sizeof(body), "q1-%d", i);
        cr_assert_eq(stu_put(g_store, "T", 1, body, NO_ATTRS, &r), 0);
        cr_assert_eq(r.queue_offset, (uint64_t)i);
    }
    wait_dispatched();

    store_get_result_t gr;
    cr_assert_eq(store_get_messages(g_store, "T", 0, 0, 32, NULL, g_buf, sizeof(g_buf), &gr), 0);
    cr_assert_eq(gr.status, STORE_FOUND);
    cr_assert_eq(gr.count, 32);
    cr_assert_eq(gr.next_offset, 32);
    cr_assert_eq(gr.min_offset, 0);
    cr_assert_eq(gr.max_offset, 100);
    record_view_t rv[128];
    cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, 128), 32);
    for (int i = 0; i < 32; i++) {
        snprintf(body, sizeof(body), "q0-%d", i);
        cr_assert(stu_body_is(&rv[i], body), "record %d", i);
        cr_assert_eq(rv[i].queue_offset, (uint64_t)i);
        cr_assert_eq(rv[i].queue_id, 0);
        cr_assert_eq(rv[i].topic_len, 1);
        cr_assert_eq(rv[i].topic[0], 'T');
    }

    /* From the middle of queue 1, more asked than left. */
    cr_assert_eq(store_get_messages(g_store, "T", 1, 90, 32, NULL, g_buf, sizeof(g_buf), &gr), 0);
    cr_assert_eq(gr.status, STORE_FOUND);
    cr_assert_eq(gr.count, 10);
    cr_assert_eq(gr.next_offset, 100);
    cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, 128), 10);
    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof(body), "q1-%d", 90 + i);
        cr_assert(stu_body_is(&rv[i], body));
        cr_assert_eq(rv[i].queue_offset, (uint64_t)(90 + i));
    }

    /* max_count 1 */
    cr_assert_eq(store_get_messages(g_store, "T", 0, 57, 1, NULL, g_buf, sizeof(g_buf), &gr), 0);
    cr_assert_eq(gr.status, STORE_FOUND);
    cr_assert_eq(gr.count, 1);
    cr_assert_eq(gr.next_offset, 58);
    cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, 128), 1);
    cr_assert(stu_body_is(&rv[0], "q0-57"));
}

Test(store_query, pull_statuses_at_and_past_the_end)
{
    store_put_result_t r;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(stu_put(g_store, "T", 2, "x", NO_ATTRS, &r), 0);
    wait_dispatched();
    store_get_result_t gr;

    cr_assert_eq(store_get_messages(g_store, "T", 2, 5, 32, NULL, g_buf, sizeof(g_buf), &gr), 0);
    cr_assert_eq(gr.status, STORE_OFFSET_OVERFLOW_ONE);
    cr_assert_eq(gr.count, 0);
    cr_assert_eq(gr.next_offset, 5);
    cr_assert_eq(gr.max_offset, 5);

    cr_assert_eq(store_get_messages(g_store, "T", 2, 6, 32, NULL, g_buf, sizeof(g_buf), &gr), 0);
    cr_assert_eq(gr.status, STORE_OFFSET_OVERFLOW_BADLY);
    cr_assert_eq(gr.count, 0);
    cr_assert_eq(gr.next_offset, 5);

    cr_assert_eq(store_get_messages(g_store, "T", 2, 1000000, 32, NULL, g_buf, sizeof(g_buf), &gr),
                 0);
    cr_assert_eq(gr.status, STORE_OFFSET_OVERFLOW_BADLY);
    cr_assert_eq(gr.next_offset, 5);

    /* unknown topic, unknown queue of a known topic */
    cr_assert_eq(store_get_messages(g_store, "Nope", 0, 0, 32, NULL, g_buf, sizeof(g_buf), &gr), 0);
    cr_assert_eq(gr.status, STORE_NO_MESSAGE_IN_QUEUE);
    cr_assert_eq(gr.count, 0);
    cr_assert_eq(gr.max_offset, 0);
    cr_assert_eq(store_get_messages(g_store, "T", 3, 0, 32, NULL, g_buf, sizeof(g_buf), &gr), 0);
    cr_assert_eq(gr.status, STORE_NO_MESSAGE_IN_QUEUE);
    cr_assert_eq(gr.count, 0);

    /* bad arguments */
    cr_assert_eq(store_get_messages(g_store, "T", 2, 0, 0, NULL, g_buf, sizeof(g_buf), &gr),
                 RILL_EINVAL);
    cr_assert_eq(store_get_messages(g_store, "", 2, 0, 1, NULL, g_buf, sizeof(g_buf), &gr),
                 RILL_ETOPIC);
}

/* 40 messages cycling TagA, TagB, TagC, untagged. */
static void put_tagged(void)
{
    static const char *const tags[] = {"TagA", "TagB", "TagC", NULL};
    char body[32];
    store_put_result_t r;
    for (int i = 0; i < 40; i++) {
        snprintf(body, sizeof(body), "m%d", i);
        stu_attrs_t a = {tags[i % 4], NULL, NULL};
        cr_assert_eq(stu_put(g_store, "Tags", 0, body, a, &r), 0);
        cr_assert_eq(r.queue_offset, (uint64_t)i);
    }
    wait_dispatched();
}

Test(store_query, tag_filter_returns_only_matching_and_skips_ahead)
{
    put_tagged();
    rill_tag_filter_t f;
    cr_assert_eq(rill_tag_filter_parse(&f, "TagA || TagB"), 0);
    store_get_result_t gr;
    cr_assert_eq(store_get_messages(g_store, "Tags", 0, 0, 100, &f, g_buf, sizeof(g_buf), &gr), 0);
    cr_assert_eq(gr.status, STORE_FOUND);
    cr_assert_eq(gr.count, 20);
    cr_assert_eq(gr.next_offset, 40); /* the trailing TagC and untagged ones were passed over */
    record_view_t rv[64];
    cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, 64), 20);
    for (int j = 0; j < 20; j++) {
        uint64_t want = (uint64_t)(j / 2 * 4 + j % 2);
        cr_assert_eq(rv[j].queue_offset, want, "record %d: offset %llu", j,
                     (unsigned long long)rv[j].queue_offset);
        char tag[16], body[16];
        stu_tag_of(&rv[j], tag, sizeof(tag));
        cr_assert_str_eq(tag, j % 2 ? "TagB" : "TagA");
        cr_assert_eq(rv[j].tag_hash, rill_tag_hash(tag, strlen(tag)));
        snprintf(body, sizeof(body), "m%llu", (unsigned long long)want);
        cr_assert(stu_body_is(&rv[j], body));
    }

    /* max_count stops inside the run: next_offset is right after the last returned */
    cr_assert_eq(store_get_messages(g_store, "Tags", 0, 0, 5, &f, g_buf, sizeof(g_buf), &gr), 0);
    cr_assert_eq(gr.status, STORE_FOUND);
    cr_assert_eq(gr.count, 5);
    cr_assert_eq(gr.next_offset, 9);
    cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, 64), 5);
    cr_assert_eq(rv[4].queue_offset, 8);

    /* starting on a skipped entry */
    cr_assert_eq(store_get_messages(g_store, "Tags", 0, 2, 1, &f, g_buf, sizeof(g_buf), &gr), 0);
    cr_assert_eq(gr.count, 1);
    cr_assert_eq(gr.next_offset, 5);
    cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, 64), 1);
    cr_assert_eq(rv[0].queue_offset, 4);
}

Test(store_query, tag_filter_star_and_no_match)
{
    put_tagged();
    rill_tag_filter_t all, none, c_only;
    cr_assert_eq(rill_tag_filter_parse(&all, "*"), 0);
    cr_assert_eq(rill_tag_filter_parse(&none, "TagZ"), 0);
    cr_assert_eq(rill_tag_filter_parse(&c_only, "TagC"), 0);
    store_get_result_t gr;
    cr_assert_eq(store_get_messages(g_store, "Tags", 0, 0, 100, &all, g_buf, sizeof(g_buf), &gr),
                 0);
    cr_assert_eq(gr.status, STORE_FOUND);
    cr_assert_eq(gr.count, 40); /* untagged ones included */
    cr_assert_eq(gr.next_offset, 40);

    cr_assert_eq(store_get_messages(g_store, "Tags", 0, 0, 100, &none, g_buf, sizeof(g_buf), &gr),
                 0);
    cr_assert_eq(gr.status, STORE_NO_MATCHED_MSG);
    cr_assert_eq(gr.count, 0);
    cr_assert_eq(gr.bytes, 0);
    cr_assert_eq(gr.next_offset, 40);

    cr_assert_eq(store_get_messages(g_store, "Tags", 0, 13, 100, &none, g_buf, sizeof(g_buf), &gr),
                 0);
    cr_assert_eq(gr.status, STORE_NO_MATCHED_MSG);
    cr_assert_eq(gr.next_offset, 40);

    cr_assert_eq(store_get_messages(g_store, "Tags", 0, 0, 100, &c_only, g_buf, sizeof(g_buf), &gr),
                 0);
    cr_assert_eq(gr.count, 10);
    cr_assert_eq(gr.next_offset, 40);
    record_view_t rv[16];
    cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, 16), 10);
    for (int j = 0; j < 10; j++)
        cr_assert_eq(rv[j].queue_offset, (uint64_t)(j * 4 + 2));
}

Test(store_query, buffer_limits)
{
    store_put_result_t r[10];
    for (int i = 0; i < 10; i++)
        cr_assert_eq(stu_put(g_store, "Buf", 0, "0123456789abcdef", NO_ATTRS, &r[i]), 0);
    wait_dispatched();
    uint32_t size = r[0].size;
    cr_assert_eq(size, record_size(3, 16, 0));
    store_get_result_t gr;

    cr_assert_eq(store_get_messages(g_store, "Buf", 0, 4, 10, NULL, g_buf, size - 1, &gr),
                 RILL_ENOSPACE);
    cr_assert_eq(gr.next_offset, 4); /* stays where the pull started */
    cr_assert_eq(gr.count, 0);

    /* exactly one record */
    cr_assert_eq(store_get_messages(g_store, "Buf", 0, 4, 10, NULL, g_buf, size, &gr), 0);
    cr_assert_eq(gr.status, STORE_FOUND);
    cr_assert_eq(gr.count, 1);
    cr_assert_eq(gr.next_offset, 5);

    /* room for three and a half */
    cr_assert_eq(
        store_get_messages(g_store, "Buf", 0, 2, 10, NULL, g_buf, 3 * (size_t)size + size / 2, &gr),
        0);
    cr_assert_eq(gr.status, STORE_FOUND);
    cr_assert_eq(gr.count, 3);
    cr_assert_eq(gr.bytes, 3 * (size_t)size);
    cr_assert_eq(gr.next_offset, 5);
    record_view_t rv[4];
    cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, 4), 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(rv[i].queue_offset, (uint64_t)(2 + i));
        cr_assert_eq(rv[i].phys_offset, r[2 + i].phys_offset);
    }
}

Test(store_query, queue_offsets_are_independent_across_topics_and_queues)
{
    static const char *const topics[] = {"Alpha", "Beta", "Gamma"};
    char body[64];
    for (int round = 0; round < 20; round++) {
        for (int t = 0; t < 3; t++) {
            for (uint32_t q = 0; q < 4; q++) {
                store_put_result_t r;
                snprintf(body, sizeof(body), "%s/%u/%d", topics[t], q, round);
                cr_assert_eq(stu_put(g_store, topics[t], q, body, NO_ATTRS, &r), 0);
                cr_assert_eq(r.queue_offset, (uint64_t)round, "%s", body);
            }
        }
    }
    wait_dispatched();
    record_view_t rv[32];
    for (int t = 0; t < 3; t++) {
        uint32_t ids[8];
        size_t n = 99;
        cr_assert_eq(store_topic_queues(g_store, topics[t], ids, 8, &n), 0);
        cr_assert_eq(n, 4);
        for (uint32_t q = 0; q < 4; q++) {
            cr_assert_eq(ids[q], q);
            uint64_t min = 1, max = 0;
            cr_assert_eq(store_queue_range(g_store, topics[t], q, &min, &max), 0);
            cr_assert_eq(min, 0);
            cr_assert_eq(max, 20);
            store_get_result_t gr;
            cr_assert_eq(
                store_get_messages(g_store, topics[t], q, 0, 64, NULL, g_buf, sizeof(g_buf), &gr),
                0);
            cr_assert_eq(gr.count, 20);
            cr_assert_eq(stu_decode_all(g_buf, gr.bytes, rv, 32), 20);
            for (int i = 0; i < 20; i++) {
                snprintf(body, sizeof(body), "%s/%u/%d", topics[t], q, i);
                cr_assert(stu_body_is(&rv[i], body), "%s", body);
                cr_assert_eq(rv[i].queue_offset, (uint64_t)i);
            }
        }
    }
    /* cap below the number of queues: the first cap ids, count not above cap */
    uint32_t two[2];
    size_t n = 0;
    cr_assert_eq(store_topic_queues(g_store, "Beta", two, 2, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(two[0], 0);
    cr_assert_eq(two[1], 1);
    /* unknown topic */
    cr_assert_eq(store_topic_queues(g_store, "Delta", two, 2, &n), 0);
    cr_assert_eq(n, 0);
    uint64_t min = 7, max = 7;
    cr_assert_eq(store_queue_range(g_store, "Delta", 0, &min, &max), 0);
    cr_assert_eq(min, 0);
    cr_assert_eq(max, 0);
    cr_assert_eq(store_queue_range(g_store, "Alpha", 9, &min, &max), 0);
    cr_assert_eq(min, 0);
    cr_assert_eq(max, 0);
}

Test(store_query, messages_become_visible_after_dispatch)
{
    uint64_t min = 1, max = 1;
    cr_assert_eq(store_queue_range(g_store, "Vis", 0, &min, &max), 0);
    cr_assert_eq(max, 0);
    for (int i = 0; i < 50; i++) {
        store_put_result_t r;
        cr_assert_eq(stu_put(g_store, "Vis", 0, "v", NO_ATTRS, &r), 0);
        wait_dispatched();
        cr_assert_eq(store_queue_range(g_store, "Vis", 0, &min, &max), 0);
        cr_assert_eq(max, (uint64_t)i + 1);
        store_get_result_t gr;
        cr_assert_eq(
            store_get_messages(g_store, "Vis", 0, (uint64_t)i, 4, NULL, g_buf, sizeof(g_buf), &gr),
            0);
        cr_assert_eq(gr.status, STORE_FOUND);
        cr_assert_eq(gr.count, 1);
    }
    store_stats_t st;
    store_get_stats(g_store, &st);
    cr_assert_eq(st.dispatched, st.committed);
    cr_assert_eq(st.dispatch_lag_bytes, 0);
}

Test(store_query, get_by_phys)
{
    store_put_result_t r[3];
    const char *bodies[] = {"first body", "second body", "third body"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(stu_put(g_store, "Phys", (uint32_t)i, bodies[i], NO_ATTRS, &r[i]), 0);
    wait_dispatched();
    uint32_t size = 0;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(store_get_by_phys(g_store, r[i].phys_offset, g_buf, sizeof(g_buf), &size), 0);
        cr_assert_eq(size, r[i].size);
        record_view_t rv;
        cr_assert_eq(record_decode(g_buf, size, &rv), 0);
        cr_assert(stu_body_is(&rv, bodies[i]));
        cr_assert_eq(rv.phys_offset, r[i].phys_offset);
        cr_assert_eq(rv.queue_id, (uint32_t)i);
        cr_assert_eq(rv.store_ts, r[i].store_ts);
    }
    /* too small a buffer: size reported */
    size = 0;
    cr_assert_eq(store_get_by_phys(g_store, r[1].phys_offset, g_buf, r[1].size - 1, &size),
                 RILL_ENOSPACE);
    cr_assert_eq(size, r[1].size);

    /* not a record start: store.h says RILL_ENOTFOUND */
    uint64_t inside[] = {r[1].phys_offset + 1, r[1].phys_offset + 4, r[1].phys_offset + 8,
                         r[1].phys_offset + RECORD_HEADER_SIZE, r[2].phys_offset - 1};
    for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
        int rc = store_get_by_phys(g_store, inside[i], g_buf, sizeof(g_buf), &size);
        cr_assert_neq(rc, 0);
        cr_assert_eq(rc, RILL_ENOTFOUND, "phys %llu: %s", (unsigned long long)inside[i],
                     rill_errname(rc));
    }
    /* at and past the end of the log */
    uint64_t end = r[2].phys_offset + r[2].size;
    cr_assert_eq(store_get_by_phys(g_store, end, g_buf, sizeof(g_buf), &size), RILL_ENOTFOUND);
    cr_assert_eq(store_get_by_phys(g_store, end + 12345, g_buf, sizeof(g_buf), &size),
                 RILL_ENOTFOUND);
    cr_assert_eq(store_get_by_phys(g_store, (uint64_t)10 << 40, g_buf, sizeof(g_buf), &size),
                 RILL_ENOTFOUND);

    /* a real record start whose bytes were damaged is RILL_ECORRUPT, not "not found" */
    char seg[1100];
    snprintf(seg, sizeof(seg), "%s/commitlog/%020llu", g_dir, 0ull);
    int fd = open(seg, O_WRONLY);
    cr_assert_geq(fd, 0);
    char flip = 'X';
    off_t at = (off_t)(r[0].phys_offset + r[0].size - 2); /* inside the body */
    cr_assert_eq(pwrite(fd, &flip, 1, at), 1);
    close(fd);
    cr_assert_eq(store_get_by_phys(g_store, r[0].phys_offset, g_buf, sizeof(g_buf), &size),
                 RILL_ECORRUPT);
    cr_assert_eq(store_get_by_phys(g_store, r[1].phys_offset, g_buf, sizeof(g_buf), &size), 0);
}

/* Collect the phys offsets of a query result in order. */
static size_t result_phys(const store_query_result_t *qr, uint64_t *phys, size_t cap)
{
    static record_view_t rv[256];
    size_t n = stu_decode_all(g_buf, qr->bytes, rv, 256);
    cr_assert_eq(n, qr->count);
    for (size_t i = 0; i < n && i < cap; i++)
        phys[i] = rv[i].phys_offset;
    return n;
}

Test(store_query, query_by_key_keys_and_uniq_key)
{
    store_put_result_t a, b, c, d, e;
    cr_assert_eq(
        stu_put(g_store, "K", 0, "order", (stu_attrs_t){NULL, "order-1 customer-7", NULL}, &a), 0);
    cr_assert_eq(stu_put(g_store, "K", 1, "other order",
                         (stu_attrs_t){"TagA", "order-10 customer-77", NULL}, &b),
                 0);
    cr_assert_eq(stu_put(g_store, "K", 2, "unique", (stu_attrs_t){NULL, NULL, "C0A80001ABCD"}, &c),
                 0);
    cr_assert_eq(stu_put(g_store, "K", 2, "unique prefix",
                         (stu_attrs_t){NULL, "C0A80001ABCD0", "C0A80001ABCDE"}, &d),
                 0);
    /* the same key in another topic */
    cr_assert_eq(stu_put(g_store, "K2", 0, "elsewhere", (stu_attrs_t){NULL, "order-1", NULL}, &e),
                 0);
    wait_dispatched();
    store_query_result_t qr;
    uint64_t phys[8];

    cr_assert_eq(
        store_query_by_key(g_store, "K", "order-1", 0, UINT64_MAX, 0, g_buf, sizeof(g_buf), &qr),
        0);
    cr_assert_eq(qr.count, 1);
    cr_assert(!qr.truncated);
    result_phys(&qr, phys, 8);
    cr_assert_eq(phys[0], a.phys_offset);

    cr_assert_eq(
        store_query_by_key(g_store, "K", "customer-7", 0, UINT64_MAX, 0, g_buf, sizeof(g_buf), &qr),
        0);
    cr_assert_eq(qr.count, 1);
    result_phys(&qr, phys, 8);
    cr_assert_eq(phys[0], a.phys_offset);

    cr_assert_eq(store_query_by_key(g_store, "K", "customer-77", 0, UINT64_MAX, 0, g_buf,
                                    sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 1);
    result_phys(&qr, phys, 8);
    cr_assert_eq(phys[0], b.phys_offset);

    cr_assert_eq(store_query_by_key(g_store, "K", "C0A80001ABCD", 0, UINT64_MAX, 0, g_buf,
                                    sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 1);
    result_phys(&qr, phys, 8);
    cr_assert_eq(phys[0], c.phys_offset);

    cr_assert_eq(store_query_by_key(g_store, "K", "C0A80001ABCDE", 0, UINT64_MAX, 0, g_buf,
                                    sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 1);
    result_phys(&qr, phys, 8);
    cr_assert_eq(phys[0], d.phys_offset);

    cr_assert_eq(
        store_query_by_key(g_store, "K2", "order-1", 0, UINT64_MAX, 0, g_buf, sizeof(g_buf), &qr),
        0);
    cr_assert_eq(qr.count, 1);
    result_phys(&qr, phys, 8);
    cr_assert_eq(phys[0], e.phys_offset);

    /* unknown key, unknown topic, substrings of keys */
    const char *misses[] = {"order", "order-2", "customer", "C0A80001ABC", "nothing"};
    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
        cr_assert_eq(store_query_by_key(g_store, "K", misses[i], 0, UINT64_MAX, 0, g_buf,
                                        sizeof(g_buf), &qr),
                     0);
        cr_assert_eq(qr.count, 0, "%s", misses[i]);
        cr_assert_eq(qr.bytes, 0);
        cr_assert(!qr.truncated);
    }
    cr_assert_eq(store_query_by_key(g_store, "NoTopic", "order-1", 0, UINT64_MAX, 0, g_buf,
                                    sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 0);
    cr_assert_eq(store_query_by_key(g_store, "K", "", 0, UINT64_MAX, 0, g_buf, sizeof(g_buf), &qr),
                 RILL_EINVAL);
    cr_assert_eq(store_query_by_key(g_store, "K", "order-1", 10, 5, 0, g_buf, sizeof(g_buf), &qr),
                 RILL_EINVAL);
}

Test(store_query, query_by_key_newest_first_default_limit)
{
    enum { N = 100 };
    store_put_result_t r[N];
    char body[32];
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "same-%d", i);
        cr_assert_eq(stu_put(g_store, "Many", (uint32_t)(i % 3), body,
                             (stu_attrs_t){NULL, "same-key", NULL}, &r[i]),
                     0);
        if (i % 10 == 9)
            rill_sleep_ms(3); /* a few distinct store times */
    }
    wait_dispatched();
    store_query_result_t qr;
    static record_view_t rv[256];

    cr_assert_eq(store_query_by_key(g_store, "Many", "same-key", 0, UINT64_MAX, 0, g_buf,
                                    sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, STORE_QUERY_MAX_DEFAULT);
    cr_assert(qr.truncated);
    cr_assert_eq(stu_decode_all(g_buf, qr.bytes, rv, 256), STORE_QUERY_MAX_DEFAULT);
    for (int j = 0; j < STORE_QUERY_MAX_DEFAULT; j++) {
        snprintf(body, sizeof(body), "same-%d", N - 1 - j); /* the latest, newest first */
        cr_assert(stu_body_is(&rv[j], body), "position %d", j);
        cr_assert_eq(rv[j].phys_offset, r[N - 1 - j].phys_offset);
        if (j > 0)
            cr_assert_geq(rv[j - 1].store_ts, rv[j].store_ts);
    }

    cr_assert_eq(store_query_by_key(g_store, "Many", "same-key", 0, UINT64_MAX, 10, g_buf,
                                    sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 10);
    cr_assert(qr.truncated);

    cr_assert_eq(store_query_by_key(g_store, "Many", "same-key", 0, UINT64_MAX, 100, g_buf,
                                    sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 100);
    cr_assert(!qr.truncated);
    cr_assert_eq(stu_decode_all(g_buf, qr.bytes, rv, 256), 100);
    cr_assert_eq(rv[99].phys_offset, r[0].phys_offset);

    cr_assert_eq(store_query_by_key(g_store, "Many", "same-key", 0, UINT64_MAX, 500, g_buf,
                                    sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 100);
    cr_assert(!qr.truncated);

    /* a buffer that holds 5 records */
    cr_assert_eq(store_query_by_key(g_store, "Many", "same-key", 0, UINT64_MAX, 100, g_buf,
                                    5 * (size_t)r[N - 1].size + 10, &qr),
                 0);
    cr_assert_eq(qr.count, 5);
    cr_assert(qr.truncated);
    cr_assert_eq(stu_decode_all(g_buf, qr.bytes, rv, 256), 5);
    cr_assert_eq(rv[0].phys_offset, r[N - 1].phys_offset);
}

Test(store_query, query_by_key_time_range)
{
    /* three batches of three, separated in time */
    store_put_result_t r[3][3];
    stu_msg_buf_t mb[3];
    char bodies[3][3][16];
    for (int b = 0; b < 3; b++) {
        store_msg_t msgs[3];
        for (int i = 0; i < 3; i++) {
            snprintf(bodies[b][i], sizeof(bodies[b][i]), "b%d-%d", b, i);
            stu_msg(&mb[i], "Time", (uint32_t)i, bodies[b][i],
                    (stu_attrs_t){NULL, "tr-key other", NULL});
            msgs[i] = mb[i].m;
        }
        cr_assert_eq(store_put(g_store, msgs, 3, r[b]), 0);
        cr_assert_eq(r[b][0].store_ts, r[b][2].store_ts); /* one batch, one store time */
        rill_sleep_ms(15);
    }
    cr_assert_lt(r[0][0].store_ts, r[1][0].store_ts);
    cr_assert_lt(r[1][0].store_ts, r[2][0].store_ts);
    wait_dispatched();
    uint64_t t0 = r[0][0].store_ts, t1 = r[1][0].store_ts, t2 = r[2][0].store_ts;
    store_query_result_t qr;
    static record_view_t rv[16];

    struct {
        uint64_t begin, end;
        int first_batch, last_batch; /* expected, newest first: last_batch down to first_batch */
    } cases[] = {
        {0, UINT64_MAX, 0, 2},      {t1, t1, 1, 1}, {t0, t1, 0, 1},
        {t1 + 1, UINT64_MAX, 2, 2}, {0, t0, 0, 0},  {t0 + 1, t2 - 1, 1, 1},
        {0, t0 - 1, 1, 0},          /* empty */
        {t2 + 1, UINT64_MAX, 1, 0}, /* empty */
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        cr_assert_eq(store_query_by_key(g_store, "Time", "tr-key", cases[c].begin, cases[c].end, 0,
                                        g_buf, sizeof(g_buf), &qr),
                     0);
        int batches = cases[c].last_batch - cases[c].first_batch + 1;
        if (batches < 0)
            batches = 0;
        cr_assert_eq(qr.count, (uint32_t)(3 * batches), "case %zu: count %u", c, qr.count);
        cr_assert(!qr.truncated);
        size_t n = stu_decode_all(g_buf, qr.bytes, rv, 16);
        size_t j = 0;
        for (int b = cases[c].last_batch; b >= cases[c].first_batch; b--) {
            for (int i = 2; i >= 0; i--, j++) {
                cr_assert_lt(j, n);
                cr_assert_eq(rv[j].phys_offset, r[b][i].phys_offset, "case %zu pos %zu", c, j);
                cr_assert_geq(rv[j].store_ts, cases[c].begin);
                cr_assert_leq(rv[j].store_ts, cases[c].end);
            }
        }
    }
}

/* 3 batches × 8 messages over 4 queues of "TQ", one in "Other" each batch. */
typedef struct time_fixture {
    store_put_result_t r[3][8];
    uint64_t first_ts[3], last_ts[3];
} time_fixture_t;

static void put_time_batches(time_fixture_t *fx)
{
    char body[32];
    for (int b = 0; b < 3; b++) {
        for (int i = 0; i < 8; i++) {
            snprintf(body, sizeof(body), "tq-%d-%d", b, i);
            cr_assert_eq(stu_put(g_store, "TQ", (uint32_t)(i % 4), body, NO_ATTRS, &fx->r[b][i]),
                         0);
            cr_assert_eq(fx->r[b][i].queue_offset, (uint64_t)(b * 2 + i / 4));
        }
        store_put_result_t other;
        cr_assert_eq(stu_put(g_store, "Other", 0, "noise", NO_ATTRS, &other), 0);
        fx->first_ts[b] = fx->r[b][0].store_ts;
        fx->last_ts[b] = fx->r[b][7].store_ts;
        rill_sleep_ms(15);
    }
    cr_assert_lt(fx->last_ts[0], fx->first_ts[1]);
    cr_assert_lt(fx->last_ts[1], fx->first_ts[2]);
    wait_dispatched();
}

Test(store_query, query_by_time)
{
    time_fixture_t fx;
    put_time_batches(&fx);
    store_query_result_t qr;
    uint64_t phys[32];

    /* batch 1 only, across 4 queues, oldest first */
    cr_assert_eq(store_query_by_time(g_store, "TQ", fx.first_ts[1], fx.last_ts[1], 0, g_buf,
                                     sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 8);
    cr_assert(!qr.truncated);
    result_phys(&qr, phys, 32);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(phys[i], fx.r[1][i].phys_offset, "position %d", i);

    /* max_count 3: the three oldest of the range */
    cr_assert_eq(store_query_by_time(g_store, "TQ", fx.first_ts[1], UINT64_MAX, 3, g_buf,
                                     sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 3);
    cr_assert(qr.truncated);
    result_phys(&qr, phys, 32);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(phys[i], fx.r[1][i].phys_offset);

    /* everything: 24, not the other topic's */
    cr_assert_eq(store_query_by_time(g_store, "TQ", 0, UINT64_MAX, 0, g_buf, sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 24);
    cr_assert(!qr.truncated);
    static record_view_t rv[32];
    cr_assert_eq(stu_decode_all(g_buf, qr.bytes, rv, 32), 24);
    for (int j = 0; j < 24; j++) {
        cr_assert_eq(rv[j].phys_offset, fx.r[j / 8][j % 8].phys_offset);
        cr_assert_eq(rv[j].topic_len, 2);
        if (j > 0)
            cr_assert_leq(rv[j - 1].store_ts, rv[j].store_ts);
    }

    /* exactly 24 asked: not truncated; 23: truncated */
    cr_assert_eq(store_query_by_time(g_store, "TQ", 0, UINT64_MAX, 24, g_buf, sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 24);
    cr_assert(!qr.truncated);
    cr_assert_eq(store_query_by_time(g_store, "TQ", 0, UINT64_MAX, 23, g_buf, sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 23);
    cr_assert(qr.truncated);

    /* batches 0 and 1 */
    cr_assert_eq(
        store_query_by_time(g_store, "TQ", 0, fx.first_ts[2] - 1, 0, g_buf, sizeof(g_buf), &qr), 0);
    cr_assert_eq(qr.count, 16);

    /* empty ranges, unknown topic */
    cr_assert_eq(store_query_by_time(g_store, "TQ", fx.last_ts[2] + 1, UINT64_MAX, 0, g_buf,
                                     sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 0);
    cr_assert_eq(
        store_query_by_time(g_store, "TQ", 0, fx.first_ts[0] - 1, 0, g_buf, sizeof(g_buf), &qr), 0);
    cr_assert_eq(qr.count, 0);
    cr_assert_eq(store_query_by_time(g_store, "None", 0, UINT64_MAX, 0, g_buf, sizeof(g_buf), &qr),
                 0);
    cr_assert_eq(qr.count, 0);
    cr_assert_eq(store_query_by_time(g_store, "TQ", 10, 5, 0, g_buf, sizeof(g_buf), &qr),
                 RILL_EINVAL);
}

Test(store_query, offset_by_time_and_last_store_ts)
{
    time_fixture_t fx;
    put_time_batches(&fx);
    /* queue 1 holds offsets 0,1 (batch 0), 2,3 (batch 1), 4,5 (batch 2) */
    uint64_t off = 99;
    cr_assert_eq(store_offset_by_time(g_store, "TQ", 1, 0, &off), 0);
    cr_assert_eq(off, 0);
    cr_assert_eq(store_offset_by_time(g_store, "TQ", 1, fx.first_ts[0] - 1, &off), 0);
    cr_assert_eq(off, 0);
    cr_assert_eq(store_offset_by_time(g_store, "TQ", 1, fx.last_ts[2] + 1, &off), 0);
    cr_assert_eq(off, 6);
    cr_assert_eq(store_offset_by_time(g_store, "TQ", 1, UINT64_MAX, &off), 0);
    cr_assert_eq(off, 6);
    for (int b = 0; b < 3; b++) {
        /* the first message of queue 1 in batch b is r[b][1] */
        uint64_t ts = fx.r[b][1].store_ts;
        cr_assert_eq(store_offset_by_time(g_store, "TQ", 1, ts, &off), 0);
        cr_assert_eq(off, fx.r[b][1].queue_offset, "batch %d", b);
        cr_assert_eq(off, (uint64_t)(2 * b));
    }
    /* between batch 0 and batch 1: the first of batch 1 */
    cr_assert_eq(store_offset_by_time(g_store, "TQ", 1, fx.last_ts[0] + 1, &off), 0);
    cr_assert_eq(off, 2);
    cr_assert_eq(store_offset_by_time(g_store, "TQ", 1, fx.first_ts[2] - 1, &off), 0);
    cr_assert_eq(off, 4);
    /* unknown queue and topic */
    cr_assert_eq(store_offset_by_time(g_store, "TQ", 9, 0, &off), 0);
    cr_assert_eq(off, 0);
    cr_assert_eq(store_offset_by_time(g_store, "None", 0, 12345, &off), 0);
    cr_assert_eq(off, 0);

    uint64_t ts = 0;
    for (uint32_t q = 0; q < 4; q++) {
        cr_assert_eq(store_queue_last_store_ts(g_store, "TQ", q, &ts), 0);
        cr_assert_eq(ts, fx.r[2][4 + q].store_ts);
    }
    cr_assert_eq(store_queue_last_store_ts(g_store, "TQ", 4, &ts), RILL_ENOTFOUND);
    cr_assert_eq(store_queue_last_store_ts(g_store, "None", 0, &ts), RILL_ENOTFOUND);

    uint32_t ids[8];
    size_t n = 0;
    cr_assert_eq(store_topic_queues(g_store, "Other", ids, 8, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], 0);
}
