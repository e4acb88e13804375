/*
 * histogram.h - a small HDR-style latency histogram for `rill bench`.
 *
 * Values (microseconds) fall in log-linear buckets: below 2^HIST_SUB_BITS
 * each value has its own bucket; above, each power of two is split into
 * 2^HIST_SUB_BITS equal buckets, so any recorded value is known within
 * 1/2^HIST_SUB_BITS (~3 %) at a fixed 16 KiB of counters, whatever the range.
 * Counters are atomic: any number of threads (send callbacks, listeners)
 * record at once without a lock. Percentiles read a snapshot that may miss
 * values recorded meanwhile, which a progress line can afford.
 */
#ifndef RILL_CLI_HISTOGRAM_H
#define RILL_CLI_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB      (1u << HIST_SUB_BITS)
/** Buckets: HIST_SUB exact ones, then HIST_SUB per power of two up to 2^63. */
#define HIST_BUCKETS  (HIST_SUB * (64 - HIST_SUB_BITS + 1))

typedef struct hist {
    _Atomic uint64_t counts[HIST_BUCKETS];
    _Atomic uint64_t total;
    _Atomic uint64_t max;
} hist_t;

/** Zero every counter (not atomic as a whole: call when nobody records, or accept a blur). */
void hist_reset(hist_t *h);
/** Record one value. Thread-safe. */
void hist_record(hist_t *h, uint64_t value);
/** Values recorded. */
uint64_t hist_count(const hist_t *h);
/**
 * The value at percentile p (0 < p <= 100): the upper bound of the bucket
 * holding it, never above the largest value recorded. 0 when empty.
 */
uint64_t hist_percentile(const hist_t *h, double p);
/** Bucket of a value and the largest value of a bucket (exposed for tests). */
unsigned hist_bucket(uint64_t value);
uint64_t hist_bucket_high(unsigned bucket);

#endif
