/*
 * push_consumer.h - internal hooks of the push consumer, for tests only.
 */
#ifndef RILL_CLIENT_PUSH_CONSUMER_H
#define RILL_CLIENT_PUSH_CONSUMER_H

#include "rill.h"

#include <stddef.h>
#include <stdint.h>

/** Counters of one push consumer since it started. */
typedef struct rc_push_stats {
    size_t cached_slots_max; /* most cache slots one queue ever held (flow control bound) */
    uint64_t pulls;          /* pull requests sent */
    uint64_t pull_errors;    /* pulls that failed in transport or were refused */
    uint64_t flow_holds;     /* times a pull was held back by flow control */
    uint64_t redeliveries;   /* RECONSUME_LATER redeliveries scheduled */
    uint64_t given_up;       /* messages skipped after max.reconsume.times */
} rc_push_stats_t;

/** A snapshot of c's counters. */
void rc_push_consumer_stats(rill_push_consumer_t *c, rc_push_stats_t *out);

#endif
