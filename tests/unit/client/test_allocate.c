/*
 * test_allocate.c - cg_allocate_averagely(), RocketMQ's
 * AllocateMessageQueueAveragely: every queue owned exactly once, shares
 * differ by at most one with the larger ones first, contiguous blocks in
 * member order, members beyond the queue count idle.
 */
#include "client/src/consumer_group.h"

#include <criterion/criterion.h>
#include <stdio.h>

static void share(size_t q, size_t m, size_t i, size_t *first, size_t *count)
{
    cg_allocate_averagely(q, m, i, first, count);
}

Test(allocate, eight_queues_three_members)
{
    size_t f, c;
    share(8, 3, 0, &f, &c);
    cr_assert_eq(f, 0);
    cr_assert_eq(c, 3);
    share(8, 3, 1, &f, &c);
    cr_assert_eq(f, 3);
    cr_assert_eq(c, 3);
    share(8, 3, 2, &f, &c);
    cr_assert_eq(f, 6);
    cr_assert_eq(c, 2);
}

Test(allocate, one_member_takes_all)
{
    size_t f, c;
    share(5, 1, 0, &f, &c);
    cr_assert_eq(f, 0);
    cr_assert_eq(c, 5);
}

Test(allocate, more_members_than_queues)
{
    size_t f, c;
    for (size_t i = 0; i < 3; i++) {
        share(3, 5, i, &f, &c);
        cr_assert_eq(f, i);
        cr_assert_eq(c, 1);
    }
    for (size_t i = 3; i < 5; i++) {
        share(3, 5, i, &f, &c);
        cr_assert_eq(c, 0, "member %zu must idle", i);
    }
}

Test(allocate, no_queues)
{
    size_t f = 99, c = 99;
    share(0, 2, 0, &f, &c);
    cr_assert_eq(c, 0);
}

Test(allocate, equal_counts)
{
    size_t f, c;
    for (size_t i = 0; i < 4; i++) {
        share(4, 4, i, &f, &c);
        cr_assert_eq(f, i);
        cr_assert_eq(c, 1);
    }
}

/* The properties over many shapes: exact partition, balance, order. */
Test(allocate, partition_properties)
{
    for (size_t q = 0; q <= 40; q++) {
        for (size_t m = 1; m <= 12; m++) {
            int owner[64];
            for (size_t k = 0; k < 64; k++)
                owner[k] = -1;
            size_t min_c = SIZE_MAX, max_c = 0, next = 0;
            for (size_t i = 0; i < m; i++) {
                size_t f, c;
                share(q, m, i, &f, &c);
                cr_assert_leq(f + c, q, "q=%zu m=%zu i=%zu", q, m, i);
                if (c > 0)
                    cr_assert_eq(f, next, "blocks are contiguous in member order");
                next = f + c > next ? f + c : next;
                for (size_t k = f; k < f + c; k++) {
                    cr_assert_eq(owner[k], -1, "queue %zu owned twice (q=%zu m=%zu)", k, q, m);
                    owner[k] = (int)i;
                }
                if (i < q) {
                    min_c = c < min_c ? c : min_c;
                    max_c = c > max_c ? c : max_c;
                    /* the first q mod m members get the extra queue */
                    size_t expect = q / m + (i < q % m ? 1 : 0);
                    cr_assert_eq(c, expect, "q=%zu m=%zu i=%zu", q, m, i);
                } else {
                    cr_assert_eq(c, 0);
                }
            }
            for (size_t k = 0; k < q; k++)
                cr_assert_neq(owner[k], -1, "queue %zu unowned (q=%zu m=%zu)", k, q, m);
            if (q > 0)
                cr_assert_leq(max_c - min_c, 1);
        }
    }
}

static int cmp(const char *t1, const char *b1, int q1, const char *t2, const char *b2, int q2)
{
    rill_queue_t a = {.queue_id = q1}, b = {.queue_id = q2};
    snprintf(a.topic, sizeof a.topic, "%s", t1);
    snprintf(a.broker_name, sizeof a.broker_name, "%s", b1);
    snprintf(b.topic, sizeof b.topic, "%s", t2);
    snprintf(b.broker_name, sizeof b.broker_name, "%s", b2);
    return cg_queue_cmp(&a, &b);
}

Test(allocate, queue_order)
{
    cr_assert_eq(cmp("T", "broker-a", 1, "T", "broker-a", 1), 0);
    cr_assert_lt(cmp("T", "broker-a", 1, "T", "broker-a", 2), 0);
    cr_assert_lt(cmp("T", "broker-a", 7, "T", "broker-b", 0), 0);
    cr_assert_gt(cmp("U", "broker-a", 0, "T", "broker-b", 9), 0);
    cr_assert_gt(cmp("T", "broker-a", 10, "T", "broker-a", 9), 0); /* numeric, not text */
}
