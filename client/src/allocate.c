/*
 * allocate.c - which queues of a topic each member of a clustering group
 * reads: RocketMQ's AllocateMessageQueueAveragely, as a pure function.
 *
 * Every member sorts the same queue list and the same member list, so each
 * computes its own share and the shares partition the queues with no
 * coordination: member i gets a contiguous block; blocks are
 * n_queues / n_members long, the first n_queues % n_members of them one
 * longer; members past the queue count get nothing and idle.
 */
#include "client/src/consumer_group.h"

#include <assert.h>

void cg_allocate_averagely(size_t n_queues, size_t n_members, size_t index, size_t *first,
                           size_t *count)
{
    assert(n_members >= 1 && index < n_members);
    if (index >= n_queues) {
        *first = 0;
        *count = 0;
        return;
    }
    size_t mod = n_queues % n_members;
    size_t base = n_queues / n_members;
    size_t size = n_queues <= n_members ? 1 : (index < mod ? base + 1 : base);
    size_t start = index < mod ? index * size : index * size + mod;
    *first = start;
    *count = start < n_queues ? (size < n_queues - start ? size : n_queues - start) : 0;
}
