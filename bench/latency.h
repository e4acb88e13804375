/*
 * latency.h - a fixed-size latency histogram (log-linear buckets, ~1.5 %
 * precision, 1 ns .. ~1 hour) with no allocation, mergeable across threads.
 */
#ifndef RILL_BENCH_LATENCY_H
#define RILL_BENCH_LATENCY_H

#include <stdint.h>
#include <string.h>

#define LAT_SUB_BITS 6
#define LAT_SUB      (1u << LAT_SUB_BITS)
#define LAT_BUCKETS  (64u * LAT_SUB)

typedef struct lat_hist {
    uint64_t count;
    uint64_t buckets[LAT_BUCKETS];
} lat_hist_t;

static inline unsigned lat_index(uint64_t ns)
{
    if (ns < LAT_SUB)
        return (unsigned)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
    unsigned shift = msb - LAT_SUB_BITS;
    unsigned sub = (unsigned)(ns >> shift) & (LAT_SUB - 1);
    return (shift + 1) * LAT_SUB + sub;
}

static inline uint64_t lat_value(unsigned idx)
{
    if (idx < LAT_SUB)
        return idx;
    unsigned shift = idx / LAT_SUB - 1;
    uint64_t sub = idx % LAT_SUB;
    return ((uint64_t)LAT_SUB + sub) << shift;
}

static inline void lat_record(lat_hist_t *h, uint64_t ns)
{
    h->buckets[lat_index(ns)]++;
    h->count++;
}

static inline void lat_merge(lat_hist_t *into, const lat_hist_t *from)
{
    for (unsigned i = 0; i < LAT_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
}

/** Value at quantile q (0..1), in ns. */
static inline uint64_t lat_quantile(const lat_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)(h->count - 1)) + 1, seen = 0;
    for (unsigned i = 0; i < LAT_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank)
            return lat_value(i);
    }
    return lat_value(LAT_BUCKETS - 1);
}

#endif
