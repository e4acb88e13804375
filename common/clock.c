/*
 * clock.c - wall and monotonic clocks, sleeping, and monotonic deadlines.
 *
 * Sleeps and deadlines are absolute CLOCK_MONOTONIC times, so an interrupted
 * sleep resumes towards the same instant instead of starting over, and a
 * settimeofday() never stretches or cuts a timeout.
 */
#include "common/clock.h"

#include "common/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_SEC 1000000000ULL
#define NS_PER_MS  1000000ULL

/* Deadlines further out than this (about 292 years) are clamped; they are "never". */
#define DEADLINE_SECONDS_MAX ((uint64_t)INT64_MAX / 4)

_Static_assert(sizeof(time_t) >= 8, "Rill needs a 64-bit time_t");

static uint64_t timespec_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * NS_PER_SEC + (uint64_t)ts->tv_nsec;
}

uint64_t rill_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return timespec_ns(&ts) / NS_PER_MS;
}

uint64_t rill_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return timespec_ns(&ts);
}

uint64_t rill_mono_ms(void)
{
    return rill_mono_ns() / NS_PER_MS;
}

void rill_deadline_after_ms(struct timespec *out, uint64_t ms)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);

    uint64_t add_sec = ms / 1000;
    uint64_t nsec = (uint64_t)now.tv_nsec + (ms % 1000) * NS_PER_MS;
    if (add_sec > DEADLINE_SECONDS_MAX)
        add_sec = DEADLINE_SECONDS_MAX;
    uint64_t sec = (uint64_t)now.tv_sec + add_sec + nsec / NS_PER_SEC;
    out->tv_sec = (time_t)sec;
    out->tv_nsec = (long)(nsec % NS_PER_SEC);
}

void rill_sleep_ms(uint32_t ms)
{
    if (ms == 0)
        return;
    struct timespec deadline;
    rill_deadline_after_ms(&deadline, ms);
    /* clock_nanosleep returns the error instead of setting errno. */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR)
        ;
}

int rill_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc != 0)
        goto fail;
    rc = pthread_cond_init(cond, &attr);
    if (rc != 0)
        goto fail;
    pthread_condattr_destroy(&attr);
    return 0;

fail:
    pthread_condattr_destroy(&attr);
    return rc;
}

/* Shared by both formatters: local calendar time, optionally with "+hhmm". */
static int format_time(uint64_t epoch_ms, int with_zone, char *buf, size_t cap)
{
    char text[96];
    struct tm tm;
    time_t sec = (time_t)(epoch_ms / 1000);
    unsigned ms = (unsigned)(epoch_ms % 1000);

    if (localtime_r(&sec, &tm) == NULL)
        return RILL_EINVAL;
    size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0)
        return RILL_EINVAL;
    int m = snprintf(text + n, sizeof(text) - n, ".%03u", ms);
    if (m < 0 || (size_t)m >= sizeof(text) - n)
        return RILL_EINVAL;
    n += (size_t)m;
    if (with_zone) {
        size_t z = strftime(text + n, sizeof(text) - n, "%z", &tm);
        if (z == 0)
            return RILL_EINVAL;
        n += z;
    }
    if (n + 1 > cap)
        return RILL_ENOSPACE;
    memcpy(buf, text, n + 1);
    return 0;
}

int rill_format_time_ms(uint64_t epoch_ms, char *buf, size_t cap)
{
    return format_time(epoch_ms, 0, buf, cap);
}

int rill_format_time_ms_tz(uint64_t epoch_ms, char *buf, size_t cap)
{
    return format_time(epoch_ms, 1, buf, cap);
}
