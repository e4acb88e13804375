/*
 * timeparse.c - parse and print the CLI's times (see timeparse.h for the
 * accepted forms). Local times go through mktime() with tm_isdst = -1, so
 * the zone's daylight-saving rule decides the offset, as people expect.
 */
#include "cli/timeparse.h"

#include "rill.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Latest accepted epoch-ms value: year 9999. */
#define CLI_EPOCH_MS_MAX 253402300799999LL

int64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* "-15m", "+2h", "-500ms": sign, digits, unit. */
static int parse_relative(const char *s, int64_t now_ms, int64_t *out)
{
    int sign = s[0] == '-' ? -1 : 1;
    const char *p = s + 1;
    char *end = NULL;
    if (!isdigit((unsigned char)*p))
        return RILL_EINVAL;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (errno != 0 || end == p)
        return RILL_EINVAL;
    int64_t unit;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (strcmp(end, "s") == 0)
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        unit = 3600 * 1000;
    else if (strcmp(end, "d") == 0)
        unit = 86400 * 1000;
    else
        return RILL_EINVAL;
    if (v > CLI_EPOCH_MS_MAX / unit)
        return RILL_EINVAL;
    int64_t t = now_ms + sign * (int64_t)v * unit;
    if (t < 0)
        return RILL_EINVAL;
    *out = t;
    return 0;
}

/* "YYYY-MM-DD[(T| )HH:MM[:SS[.mmm]]]" in local time. */
static int parse_local(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int ms = 0;
    const char *p = strptime(s, "%Y-%m-%d", &tm);
    if (p == NULL)
        return RILL_EINVAL;
    /* strptime accepts one-digit fields; insist on the ISO shape. */
    if (p - s != 10 || s[4] != '-' || s[7] != '-')
        return RILL_EINVAL;
    if (*p == 'T' || *p == ' ') {
        const char *q = strptime(p + 1, "%H:%M", &tm);
        if (q == NULL || q - (p + 1) != 5)
            return RILL_EINVAL;
        p = q;
        if (*p == ':') {
            if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
                return RILL_EINVAL;
            tm.tm_sec = (p[1] - '0') * 10 + (p[2] - '0');
            if (tm.tm_sec > 60)
                return RILL_EINVAL;
            p += 3;
            if (*p == '.') {
                int digits = 0;
                p++;
                while (isdigit((unsigned char)*p) && digits < 3) {
                    ms = ms * 10 + (*p - '0');
                    p++;
                    digits++;
                }
                if (digits == 0 || isdigit((unsigned char)*p))
                    return RILL_EINVAL;
                while (digits++ < 3)
                    ms *= 10;
            }
        }
    }
    if (*p != '\0')
        return RILL_EINVAL;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1 || t < 0)
        return RILL_EINVAL;
    *out = (int64_t)t * 1000 + ms;
    return 0;
}

int cli_parse_time(const char *s, int64_t now_ms, int64_t *out_ms)
{
    if (s == NULL || *s == '\0')
        return RILL_EINVAL;
    if (strcmp(s, "now") == 0) {
        *out_ms = now_ms;
        return 0;
    }
    if (all_digits(s)) {
        if (strlen(s) > 15)
            return RILL_EINVAL;
        long long v = strtoll(s, NULL, 10);
        if (v > CLI_EPOCH_MS_MAX)
            return RILL_EINVAL;
        *out_ms = v;
        return 0;
    }
    if (s[0] == '-' || s[0] == '+')
        return parse_relative(s, now_ms, out_ms);
    return parse_local(s, out_ms);
}

char *cli_format_time(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || localtime_r(&t, &tm) == NULL) {
        snprintf(buf, cap, "%lld", (long long)ms);
        return buf;
    }
    char date[24];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%03d", date, (int)(ms % 1000));
    return buf;
}
