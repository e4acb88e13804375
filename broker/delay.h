/*
 * delay.h - delayed messages: the levels of messageDelayLevel and the
 * "delay" service thread that delivers delayed messages when they are due.
 *
 * HOW A DELAYED MESSAGE IS STORED (the contract every writer follows, send.c
 * for producers and the retry path for %RETRY%<group>):
 *
 *   store_msg_t m = { .topic = <the REAL topic, e.g. "%RETRY%g">,
 *                     .queue_id = <the REAL queue>,
 *                     .flags = RECORD_FLAG_DELAYED (| RECORD_FLAG_COMPRESSED),
 *                     .props = original properties
 *                              + DELIVER_TIME=<absolute epoch ms, decimal>
 *                              (+ DELAY=<level> when it came from a level),
 *                     ... body, tag_hash, reconsume_times, born_* as usual };
 *   store_put(...) / store_put_async(...)
 *
 * Build the properties with delay_props_append() below. The record is
 * durable like any other; the dispatcher indexes it in the `delay` table by
 * (deliver_ts, phys) and NOT in the ConsumeQueue, so consumers cannot see it.
 * Retention keeps its segment while the entry exists.
 *
 * When DELIVER_TIME has come, the "delay" thread appends a copy to the same
 * topic and queue with RECORD_FLAG_DELAYED cleared, the same body, tag hash,
 * reconsume_times, born time and properties plus DELAY_ORIGIN=<deliver_ts>:<phys>
 * (the entry key; DELIVER_TIME and DELAY are kept). The dispatcher deletes
 * that `delay` entry when it dispatches the copy,
 * i.e. in log order: a crash at any point neither loses the message nor
 * delivers it twice, and a slave replays the same decision. A deliver time in
 * the past means "deliver at once" (next wake-up of the thread).
 */
#ifndef RILL_BROKER_DELAY_H
#define RILL_BROKER_DELAY_H

#include <stddef.h>
#include <stdint.h>

#define DELAY_LEVELS_MAX        64
#define DELAY_DEFAULT_LEVELS    "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
#define DELAY_MAX_AHEAD_MS      (40ull * 24 * 3600 * 1000) /* absolute deliver time limit */
#define DELAY_PROP_ORIGIN       "DELAY_ORIGIN" /* on the delivered copy: "<deliver_ts>:<phys>" */
#define DELAY_PROPS_EXTRA_BYTES 96 /* room delay_props_append() needs at most */

typedef struct broker broker_t;
typedef struct delay_service delay_service_t;

/** Parsed messageDelayLevel: level i (1-based) lasts ms[i - 1]. */
typedef struct delay_levels {
    size_t n;
    uint64_t ms[DELAY_LEVELS_MAX];
} delay_levels_t;

/**
 * Parse "1s 5s 10s 30s 1m ... 2h": whitespace-separated positive numbers with
 * a unit s, m, h or d (ms also accepted), 1..DELAY_LEVELS_MAX of them.
 * @return 0; RILL_ECONFIG with err set ("level 3: \"10x\": unknown unit").
 */
int delay_levels_parse(const char *text, delay_levels_t *out, char *err, size_t errcap);

/**
 * Append DELIVER_TIME=<deliver_ts> (and DELAY=<level> when level > 0) to an
 * encoded property list (common/props.h) of *len bytes in buf.
 * @return 0 or the error of rill_props_append().
 */
int delay_props_append(char *buf, size_t cap, size_t *len, uint64_t deliver_ts, uint32_t level);

/** Start the "delay" thread (masters only; a slave only indexes). Needs b->store. */
int delay_start(delay_service_t **out, broker_t *b);
/** Stop the thread and free. NULL ok. */
void delay_stop(delay_service_t *d);
/** Delayed messages not delivered yet (entries of the `delay` table); 0 when unknown. */
uint64_t delay_pending_count(broker_t *b);

#endif
