/*
 * histogram.c - log-linear latency buckets (see histogram.h).
 *
 * Bucket of v: v itself below HIST_SUB; else with m = floor(log2 v), the
 * top HIST_SUB_BITS + 1 bits of v (a number in [HIST_SUB, 2 * HIST_SUB))
 * select one of HIST_SUB buckets in the band of m:
 *   index = (m - HIST_SUB_BITS + 1) * HIST_SUB + (v >> (m - HIST_SUB_BITS)) - HIST_SUB
 */
#include "cli/histogram.h"

#include <assert.h>
#include <string.h>

unsigned hist_bucket(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned m = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = m - HIST_SUB_BITS;
    unsigned idx = (m - HIST_SUB_BITS + 1) * HIST_SUB + (unsigned)(v >> shift) - HIST_SUB;
    assert(idx < HIST_BUCKETS);
    return idx;
}

uint64_t hist_bucket_high(unsigned b)
{
    assert(b < HIST_BUCKETS);
    if (b < HIST_SUB)
        return b;
    unsigned band = b / HIST_SUB;             /* >= 1 */
    unsigned shift = band - 1;                /* = m - HIST_SUB_BITS */
    uint64_t sub = HIST_SUB + b % HIST_SUB;   /* top bits, in [HIST_SUB, 2 * HIST_SUB) */
    uint64_t low = sub << shift;
    return low + ((1ull << shift) - 1);
}

void hist_reset(hist_t *h)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        atomic_store_explicit(&h->counts[i], 0, memory_order_relaxed);
    atomic_store(&h->total, 0);
    atomic_store(&h->max, 0);
}

void hist_record(hist_t *h, uint64_t v)
{
    atomic_fetch_add_explicit(&h->counts[hist_bucket(v)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
    uint64_t cur = atomic_load_explicit(&h->max, memory_order_relaxed);
    while (v > cur &&
           !atomic_compare_exchange_weak_explicit(&h->max, &cur, v, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

uint64_t hist_count(const hist_t *h)
{
    return atomic_load_explicit(&h->total, memory_order_relaxed);
}

uint64_t hist_percentile(const hist_t *h, double p)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        sum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    if (sum == 0)
        return 0;
    uint64_t rank = (uint64_t)((p / 100.0) * (double)sum + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > sum)
        rank = sum;
    uint64_t seen = 0;
    uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (seen >= rank) {
            uint64_t high = hist_bucket_high(i);
            return high < max ? high : max;
        }
    }
    return max;
}
