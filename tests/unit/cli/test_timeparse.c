/*
 * test_timeparse.c - the CLI's time parsing and printing (cli/timeparse.c),
 * its latency histogram (cli/histogram.c) and its safe body printing
 * (cli/output.c). Runs in a fixed time zone so local times are exact.
 */
#include "cli/histogram.h"
#include "cli/output.h"
#include "cli/timeparse.h"

#include "rill.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void utc(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
}

TestSuite(cli_timeparse, .init = utc);

/* 2026-11-22T10:00:00Z */
#define T0 1795341600000LL

Test(cli_timeparse, epoch_ms)
{
    int64_t t = 0;
    cr_assert_eq(cli_parse_time("1795341600000", 0, &t), 0);
    cr_assert_eq(t, T0);
    cr_assert_eq(cli_parse_time("0", 0, &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(cli_parse_time("99999999999999999999", 0, &t), RILL_EINVAL);
}

Test(cli_timeparse, local_iso)
{
    int64_t t = 0;
    cr_assert_eq(cli_parse_time("2026-11-22T10:00:00", 0, &t), 0);
    cr_assert_eq(t, T0);
    cr_assert_eq(cli_parse_time("2026-11-22 10:00:00", 0, &t), 0);
    cr_assert_eq(t, T0);
    cr_assert_eq(cli_parse_time("2026-11-22T10:00", 0, &t), 0);
    cr_assert_eq(t, T0);
    cr_assert_eq(cli_parse_time("2026-11-22T10:00:00.25", 0, &t), 0);
    cr_assert_eq(t, T0 + 250);
    cr_assert_eq(cli_parse_time("2026-11-22T10:00:00.007", 0, &t), 0);
    cr_assert_eq(t, T0 + 7);
    cr_assert_eq(cli_parse_time("2026-11-22", 0, &t), 0);
    cr_assert_eq(t, T0 - 10 * 3600 * 1000LL);
}

Test(cli_timeparse, relative)
{
    int64_t t = 0;
    cr_assert_eq(cli_parse_time("-15m", T0, &t), 0);
    cr_assert_eq(t, T0 - 15 * 60000);
    cr_assert_eq(cli_parse_time("-2h", T0, &t), 0);
    cr_assert_eq(t, T0 - 2 * 3600000);
    cr_assert_eq(cli_parse_time("-1d", T0, &t), 0);
    cr_assert_eq(t, T0 - 86400000);
    cr_assert_eq(cli_parse_time("-30s", T0, &t), 0);
    cr_assert_eq(t, T0 - 30000);
    cr_assert_eq(cli_parse_time("-500ms", T0, &t), 0);
    cr_assert_eq(t, T0 - 500);
    cr_assert_eq(cli_parse_time("+10m", T0, &t), 0);
    cr_assert_eq(t, T0 + 600000);
    cr_assert_eq(cli_parse_time("now", T0, &t), 0);
    cr_assert_eq(t, T0);
}

Test(cli_timeparse, rejects)
{
    static const char *const bad[] = {
        "",           "yesterday",           "-15",        "-m",         "-15x",
        "15m",        "2026-13-01T00:00:00", "2026-11-22T25:00", "2026-11-22T10:00:00.",
        "2026-11-22T10:00:00.1234", "2026-1-2",  "2026-11-22X", "12:00", "-99999999999d",
        "2026-11-22T10:00:00Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = 42;
        cr_assert_eq(cli_parse_time(bad[i], T0, &t), RILL_EINVAL, "accepted '%s'", bad[i]);
        cr_assert_eq(t, 42, "wrote the output for '%s'", bad[i]);
    }
}

Test(cli_timeparse, format_round_trip)
{
    char buf[CLI_TIME_BYTES];
    cr_assert_str_eq(cli_format_time(T0 + 250, buf, sizeof(buf)), "2026-11-22T10:00:00.250");
    int64_t t = 0;
    cr_assert_eq(cli_parse_time(buf, 0, &t), 0);
    cr_assert_eq(t, T0 + 250);
}

Test(cli_timeparse, histogram_buckets)
{
    /* every value lies in its bucket, buckets are monotonic, error <= 1/32 */
    uint64_t prev_high = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        uint64_t high = hist_bucket_high(b);
        if (b > 0)
            cr_assert_gt(high, prev_high, "bucket %u", b);
        prev_high = high;
        if (b >= HIST_BUCKETS - 1)
            break;
    }
    static const uint64_t vals[] = {0, 1, 31, 32, 33, 63, 64, 65, 1000, 123456, 1ull << 40,
                                    UINT64_MAX};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        unsigned b = hist_bucket(vals[i]);
        cr_assert_lt(b, HIST_BUCKETS);
        uint64_t high = hist_bucket_high(b);
        cr_assert_geq(high, vals[i]);
        cr_assert_leq(high - vals[i], vals[i] / 32, "value %llu high %llu",
                      (unsigned long long)vals[i], (unsigned long long)high);
        if (b > 0)
            cr_assert_lt(hist_bucket_high(b - 1), vals[i]);
    }
}

Test(cli_timeparse, histogram_percentiles)
{
    static hist_t h;
    hist_reset(&h);
    cr_assert_eq(hist_percentile(&h, 50), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        hist_record(&h, v);
    cr_assert_eq(hist_count(&h), 1000);
    uint64_t p50 = hist_percentile(&h, 50), p99 = hist_percentile(&h, 99),
             p100 = hist_percentile(&h, 100);
    cr_assert(p50 >= 500 && p50 <= 500 + 500 / 32, "p50 %llu", (unsigned long long)p50);
    cr_assert(p99 >= 990 && p99 <= 990 + 990 / 32, "p99 %llu", (unsigned long long)p99);
    cr_assert_eq(p100, 1000);
    hist_reset(&h);
    cr_assert_eq(hist_count(&h), 0);
}

Test(cli_timeparse, escape_and_text)
{
    const unsigned char bin[] = {'a', 0, '\n', 0x1b, 0xff, '\\'};
    char *e = out_escape(bin, sizeof(bin), 100);
    cr_assert_str_eq(e, "a\\x00\\n\\x1b\\xff\\\\");
    free(e);
    e = out_escape("abcdefgh", 8, 4);
    cr_assert_str_eq(e, "abcd...");
    free(e);
    cr_assert(out_is_text("hello\nworld\t", 12));
    cr_assert(out_is_text("h\xc3\xa9llo", 6));
    cr_assert(!out_is_text("a\0b", 3));
    cr_assert(!out_is_text("\x1b[2J", 4));
    cr_assert(!out_is_text("\xc3", 1));
    cr_assert(!out_is_text("\xc0\x80", 2)); /* overlong NUL */
    char *b = out_base64("\x00\x01" "A\xff\x1b[2J\n", 9);
    cr_assert_str_eq(b, "AAFB/xtbMkoK");
    free(b);
    b = out_base64("ab", 2);
    cr_assert_str_eq(b, "YWI=");
    free(b);
}
