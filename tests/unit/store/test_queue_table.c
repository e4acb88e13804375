/*
 * test_queue_table.c - the (topic, queue id) -> next queue offset map the
 * appender keeps: counters are independent per pair, survive every growth,
 * and lookups never insert.
 */
#include "broker/store/queue_table.h"
#include "common/errors.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t *slot(queue_table_t *qt, const char *topic, uint32_t queue_id)
{
    uint64_t *ctr = NULL;
    cr_assert_eq(queue_table_slot(qt, topic, (uint16_t)strlen(topic), queue_id, &ctr), 0);
    cr_assert_not_null(ctr);
    return ctr;
}

static const uint64_t *find(const queue_table_t *qt, const char *topic, uint32_t queue_id)
{
    return queue_table_find(qt, topic, (uint16_t)strlen(topic), queue_id);
}

Test(queue_table, new_counter_starts_at_zero_and_persists)
{
    queue_table_t qt;
    cr_assert_eq(queue_table_init(&qt), 0);
    cr_assert_eq(qt.count, 0);
    uint64_t *c = slot(&qt, "TopicA", 0);
    cr_assert_eq(*c, 0);
    cr_assert_eq(qt.count, 1);
    *c = 41;
    (*c)++;
    /* Asking again returns the same counter, not a fresh one. */
    uint64_t *again = slot(&qt, "TopicA", 0);
    cr_assert_eq(again, c);
    cr_assert_eq(*again, 42);
    cr_assert_eq(qt.count, 1);
    const uint64_t *f = find(&qt, "TopicA", 0);
    cr_assert_eq(f, c);
    cr_assert_eq(*f, 42);
    queue_table_free(&qt);
}

Test(queue_table, counters_are_independent_per_topic_and_queue)
{
    queue_table_t qt;
    cr_assert_eq(queue_table_init(&qt), 0);
    /* Same topic with different queues, same queue with different topics,
     * topics that are prefixes of each other. */
    struct {
        const char *topic;
        uint32_t queue;
        uint64_t value;
    } pairs[] = {
        {"A", 0, 10},  {"A", 1, 11},   {"A", UINT32_MAX, 12}, {"B", 0, 20}, {"AB", 0, 30},
        {"AB", 1, 31}, {"ABC", 0, 40}, {"a", 0, 50},          {"B", 1, 21}, {"%RETRY%g1", 0, 60},
    };
    size_t n = sizeof(pairs) / sizeof(pairs[0]);
    for (size_t i = 0; i < n; i++)
        *slot(&qt, pairs[i].topic, pairs[i].queue) = pairs[i].value;
    cr_assert_eq(qt.count, n);
    for (size_t i = 0; i < n; i++) {
        const uint64_t *c = find(&qt, pairs[i].topic, pairs[i].queue);
        cr_assert_not_null(c, "%s/%u", pairs[i].topic, pairs[i].queue);
        cr_assert_eq(*c, pairs[i].value, "%s/%u", pairs[i].topic, pairs[i].queue);
    }
    /* Bumping one leaves every other one alone. */
    (*slot(&qt, "A", 1))++;
    for (size_t i = 0; i < n; i++) {
        uint64_t want = pairs[i].value + (strcmp(pairs[i].topic, "A") == 0 && pairs[i].queue == 1);
        cr_assert_eq(*find(&qt, pairs[i].topic, pairs[i].queue), want);
    }
    queue_table_free(&qt);
}

Test(queue_table, find_does_not_insert)
{
    queue_table_t qt;
    cr_assert_eq(queue_table_init(&qt), 0);
    cr_assert_null(find(&qt, "Missing", 0));
    cr_assert_eq(qt.count, 0);
    *slot(&qt, "Present", 3) = 7;
    cr_assert_null(find(&qt, "Present", 2));
    cr_assert_null(find(&qt, "Present", 4));
    cr_assert_null(find(&qt, "Presen", 3));
    cr_assert_null(find(&qt, "Presents", 3));
    /* A length shorter than the string: only the prefix counts. */
    cr_assert_null(queue_table_find(&qt, "Present", 3, 3));
    cr_assert_not_null(queue_table_find(&qt, "PresentXYZ", 7, 3));
    cr_assert_eq(qt.count, 1);
    /* Lengths the table cannot hold are simply not found. */
    cr_assert_null(queue_table_find(&qt, "Present", 0, 3));
    char big[200];
    memset(big, 'x', sizeof(big));
    cr_assert_null(queue_table_find(&qt, big, 128, 0));
    cr_assert_null(queue_table_find(&qt, big, 200, 0));
    cr_assert_eq(qt.count, 1);
    queue_table_free(&qt);
}

Test(queue_table, longest_topic)
{
    queue_table_t qt;
    cr_assert_eq(queue_table_init(&qt), 0);
    char t1[127], t2[127];
    memset(t1, 'z', sizeof(t1));
    memcpy(t2, t1, sizeof(t2));
    t2[126] = 'y';
    uint64_t *c;
    cr_assert_eq(queue_table_slot(&qt, t1, 127, 5, &c), 0);
    *c = 1;
    cr_assert_eq(queue_table_slot(&qt, t2, 127, 5, &c), 0);
    *c = 2;
    cr_assert_eq(*queue_table_find(&qt, t1, 127, 5), 1);
    cr_assert_eq(*queue_table_find(&qt, t2, 127, 5), 2);
    cr_assert_eq(qt.count, 2);
    queue_table_free(&qt);
}

#define PAIRS 5000

static void pair_name(char *buf, size_t cap, int i)
{
    /* 1250 topics x 4 queues, queue ids spread out, so both halves of the key vary. */
    snprintf(buf, cap, "topic-%d", i / 4);
}

static uint32_t pair_queue(int i)
{
    return (uint32_t)(i % 4) * 1000003u;
}

static uint64_t pair_value(int i)
{
    return (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
}

static void check_all(const queue_table_t *qt, int n)
{
    char name[64];
    for (int i = 0; i < n; i++) {
        pair_name(name, sizeof(name), i);
        const uint64_t *c = find(qt, name, pair_queue(i));
        if (c == NULL)
            cr_assert_fail("after %d inserts: pair %d (%s/%u) lost", n, i, name, pair_queue(i));
        if (*c != pair_value(i))
            cr_assert_fail("after %d inserts: pair %d has %llu", n, i, (unsigned long long)*c);
    }
}

Test(queue_table, growth_keeps_every_counter)
{
    queue_table_t qt;
    cr_assert_eq(queue_table_init(&qt), 0);
    size_t initial_cap = qt.cap;
    cr_assert_eq(initial_cap & (initial_cap - 1), 0, "capacity is a power of two");
    char name[64];
    size_t growths = 0, last_cap = qt.cap;
    for (int i = 0; i < PAIRS; i++) {
        pair_name(name, sizeof(name), i);
        uint64_t *c = slot(&qt, name, pair_queue(i));
        cr_assert_eq(*c, 0, "pair %d is new", i);
        *c = pair_value(i);
        cr_assert_eq(qt.count, (size_t)i + 1);
        cr_assert_leq(qt.count * 2, qt.cap, "load stays at most 50 %%");
        cr_assert_eq(qt.cap & (qt.cap - 1), 0);
        if (qt.cap != last_cap) {
            growths++;
            last_cap = qt.cap;
            check_all(&qt, i + 1); /* right after each growth: 256 -> 512 -> ... */
        }
    }
    cr_assert_geq(growths, 5, "5000 pairs outgrow 256 slots several times");
    check_all(&qt, PAIRS);
    /* Slot on an existing pair neither inserts nor resets. */
    for (int i = 0; i < PAIRS; i++) {
        pair_name(name, sizeof(name), i);
        uint64_t *c = slot(&qt, name, pair_queue(i));
        cr_assert_eq(*c, pair_value(i));
        (*c)++;
    }
    cr_assert_eq(qt.count, PAIRS);
    for (int i = 0; i < PAIRS; i++) {
        pair_name(name, sizeof(name), i);
        cr_assert_eq(*find(&qt, name, pair_queue(i)), pair_value(i) + 1);
    }
    /* Pairs that were never inserted are still missing. */
    cr_assert_null(find(&qt, "topic-0", 1));
    cr_assert_null(find(&qt, "topic-1250", 0));
    cr_assert_eq(qt.count, PAIRS);
    queue_table_free(&qt);
}

Test(queue_table, free_then_init_again)
{
    queue_table_t qt;
    cr_assert_eq(queue_table_init(&qt), 0);
    *slot(&qt, "T", 0) = 9;
    queue_table_free(&qt);
    cr_assert_null(qt.slots);
    cr_assert_eq(qt.count, 0);
    cr_assert_eq(queue_table_init(&qt), 0);
    cr_assert_null(find(&qt, "T", 0));
    cr_assert_eq(*slot(&qt, "T", 0), 0);
    queue_table_free(&qt);
}
