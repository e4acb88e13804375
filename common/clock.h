/*
 * clock.h - the clocks Rill uses and the one way to wait on a deadline.
 *
 * Wall time (CLOCK_REALTIME) is only for timestamps people read or store:
 * message born/store times, log lines. Every timeout, interval and deadline
 * uses CLOCK_MONOTONIC, which never jumps when an operator or NTP sets the
 * clock; condition variables that wait on deadlines must therefore be made
 * with rill_cond_init_monotonic() and given rill_deadline_after_ms() deadlines.
 */
#ifndef RILL_COMMON_CLOCK_H
#define RILL_COMMON_CLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/** Bytes rill_format_time_ms() needs: "2026-11-22T10:00:00.123" and a NUL. */
#define RILL_TIME_TEXT_BYTES 24
/** Bytes rill_format_time_ms_tz() needs: "2026-11-22T10:00:00.123+0100" and a NUL. */
#define RILL_TIME_TZ_TEXT_BYTES 29

/**
 * Wall-clock time.
 *
 * @return milliseconds since the Unix epoch (CLOCK_REALTIME).
 * @remark Thread-safe. May jump backwards; never use it for timeouts.
 */
uint64_t rill_now_ms(void);

/**
 * Monotonic time in nanoseconds.
 *
 * @return nanoseconds of CLOCK_MONOTONIC since an arbitrary start (boot).
 * @remark Thread-safe. Never decreases.
 */
uint64_t rill_mono_ns(void);

/**
 * Monotonic time in milliseconds.
 *
 * @return rill_mono_ns() / 1000000.
 * @remark Thread-safe. Never decreases.
 */
uint64_t rill_mono_ms(void);

/**
 * Sleep for at least ms milliseconds of monotonic time.
 *
 * @param[in] ms  duration; 0 returns at once.
 * @remark Thread-safe. A signal does not shorten the sleep: it resumes
 *         towards the same absolute deadline.
 */
void rill_sleep_ms(uint32_t ms);

/**
 * Initialise a condition variable whose pthread_cond_timedwait() deadlines
 * are CLOCK_MONOTONIC times, as rill_deadline_after_ms() makes them.
 *
 * @param[out] cond  the condition variable; destroy with pthread_cond_destroy().
 * @return 0, or a positive errno from pthread_condattr_*()/pthread_cond_init().
 * @remark Thread-safe.
 */
int rill_cond_init_monotonic(pthread_cond_t *cond);

/**
 * Absolute deadline ms milliseconds from now on CLOCK_MONOTONIC, for
 * pthread_cond_timedwait() on a condvar from rill_cond_init_monotonic().
 *
 * @param[out] out  the deadline, tv_nsec normalised to [0, 1e9).
 * @param[in]  ms   how far ahead; huge values are clamped to a far future.
 * @remark Thread-safe.
 */
void rill_deadline_after_ms(struct timespec *out, uint64_t ms);

/**
 * Format an epoch time as local ISO-8601 with milliseconds:
 * "2026-11-22T10:00:00.123".
 *
 * @param[in]  epoch_ms  milliseconds since the Unix epoch.
 * @param[out] buf       receives the NUL-terminated text; written only on success.
 * @param[in]  cap       size of buf; RILL_TIME_TEXT_BYTES is enough for years 0-9999.
 * @return 0, RILL_ENOSPACE if cap is too small, RILL_EINVAL if the time
 *         cannot be represented as a calendar date.
 * @remark Thread-safe.
 */
int rill_format_time_ms(uint64_t epoch_ms, char *buf, size_t cap);

/**
 * As rill_format_time_ms(), followed by the local UTC offset:
 * "2026-11-22T10:00:00.123+0100". Log lines use this form.
 *
 * @param[in]  epoch_ms  milliseconds since the Unix epoch.
 * @param[out] buf       receives the NUL-terminated text; written only on success.
 * @param[in]  cap       size of buf; RILL_TIME_TZ_TEXT_BYTES is enough for years 0-9999.
 * @return 0, RILL_ENOSPACE if cap is too small, RILL_EINVAL if the time
 *         cannot be represented as a calendar date.
 * @remark Thread-safe.
 */
int rill_format_time_ms_tz(uint64_t epoch_ms, char *buf, size_t cap);

#endif
