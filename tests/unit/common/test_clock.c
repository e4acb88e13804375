/*
 * test_clock.c - clocks move the right way, sleeps last long enough,
 * monotonic condvar deadlines expire, and times format as local ISO-8601.
 */
#include "common/clock.h"
#include "common/errors.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

Test(clock, monotonic_never_goes_back)
{
    uint64_t prev = rill_mono_ns();
    for (int i = 0; i < 10000; i++) {
        uint64_t now = rill_mono_ns();
        cr_assert_geq(now, prev);
        prev = now;
    }
}

Test(clock, sleep_lasts_at_least_its_duration)
{
    uint64_t t0 = rill_mono_ns();
    uint64_t m0 = rill_mono_ms();
    rill_sleep_ms(30);
    uint64_t elapsed_ns = rill_mono_ns() - t0;
    cr_assert_geq(elapsed_ns, 30ULL * 1000000ULL);
    cr_assert_lt(elapsed_ns, 5ULL * 1000000000ULL, "slept %llu ns", (unsigned long long)elapsed_ns);
    cr_assert_geq(rill_mono_ms() - m0, 29);
    rill_sleep_ms(0);
}

Test(clock, wall_clock_is_epoch_ms)
{
    time_t before = time(NULL);
    uint64_t now = rill_now_ms();
    time_t after = time(NULL);
    cr_assert_geq(now / 1000, (uint64_t)before);
    cr_assert_leq(now / 1000, (uint64_t)after);
}

Test(clock, deadline_is_normalised_and_ahead)
{
    struct timespec now, d;
    clock_gettime(CLOCK_MONOTONIC, &now);
    rill_deadline_after_ms(&d, 1999);
    cr_assert_geq(d.tv_nsec, 0);
    cr_assert_lt(d.tv_nsec, 1000000000L);
    long long diff_ms =
        (long long)(d.tv_sec - now.tv_sec) * 1000 + (d.tv_nsec - now.tv_nsec) / 1000000;
    cr_assert_geq(diff_ms, 1999);
    cr_assert_lt(diff_ms, 2999);

    rill_deadline_after_ms(&d, UINT64_MAX); /* clamped, not wrapped into the past */
    cr_assert_gt(d.tv_sec, now.tv_sec + 100LL * 365 * 24 * 3600);
}

Test(clock, monotonic_condvar_times_out)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond;
    cr_assert_eq(rill_cond_init_monotonic(&cond), 0);
    struct timespec d;
    uint64_t t0 = rill_mono_ns();
    rill_deadline_after_ms(&d, 20);
    pthread_mutex_lock(&mu);
    int rc = 0;
    while (rc == 0)
        rc = pthread_cond_timedwait(&cond, &mu, &d);
    pthread_mutex_unlock(&mu);
    cr_assert_eq(rc, ETIMEDOUT);
    uint64_t elapsed = rill_mono_ns() - t0;
    cr_assert_geq(elapsed, 20ULL * 1000000ULL);
    /* A CLOCK_REALTIME condvar would wait ~50 years for a monotonic deadline. */
    cr_assert_lt(elapsed, 5ULL * 1000000000ULL);
    pthread_cond_destroy(&cond);
}

Test(clock, format_time_in_utc)
{
    setenv("TZ", "UTC", 1);
    tzset();
    char buf[RILL_TIME_TEXT_BYTES];
    /* 2026-11-22T10:00:00.123Z */
    cr_assert_eq(rill_format_time_ms(1795341600123ULL, buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "2026-11-22T10:00:00.123");
    cr_assert_eq(rill_format_time_ms(0, buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "1970-01-01T00:00:00.000");

    char tz[RILL_TIME_TZ_TEXT_BYTES];
    cr_assert_eq(rill_format_time_ms_tz(1795341600123ULL, tz, sizeof(tz)), 0);
    cr_assert_str_eq(tz, "2026-11-22T10:00:00.123+0000");
}

Test(clock, format_time_uses_local_zone)
{
    setenv("TZ", "Asia/Kolkata", 1); /* +05:30, no daylight saving */
    tzset();
    char tz[RILL_TIME_TZ_TEXT_BYTES];
    cr_assert_eq(rill_format_time_ms_tz(1795341600123ULL, tz, sizeof(tz)), 0);
    if (strcmp(tz, "2026-11-22T10:00:00.123+0000") == 0)
        cr_skip_test("no zoneinfo for Asia/Kolkata on this machine");
    cr_assert_str_eq(tz, "2026-11-22T15:30:00.123+0530");
}

Test(clock, format_time_small_buffer)
{
    setenv("TZ", "UTC", 1);
    tzset();
    char buf[RILL_TIME_TEXT_BYTES];
    memset(buf, 'x', sizeof(buf));
    cr_assert_eq(rill_format_time_ms(1795341600123ULL, buf, RILL_TIME_TEXT_BYTES - 1),
                 RILL_ENOSPACE);
    cr_assert_eq(buf[0], 'x', "buffer written on error");
    cr_assert_eq(rill_format_time_ms(1795341600123ULL, buf, 0), RILL_ENOSPACE);

    char tz[RILL_TIME_TZ_TEXT_BYTES];
    cr_assert_eq(rill_format_time_ms_tz(1795341600123ULL, tz, sizeof(tz) - 1), RILL_ENOSPACE);
    cr_assert_eq(rill_format_time_ms_tz(1795341600123ULL, tz, sizeof(tz)), 0);
}
