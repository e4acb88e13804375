/*
 * delay_levels.c - messageDelayLevel parsing and the delay properties
 * (broker/delay.h); no broker state, so unit tests link it alone.
 */
#include "broker/delay.h"

#include "common/errors.h"
#include "common/props.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int delay_levels_parse(const char *text, delay_levels_t *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof(*out));
    const char *p = text ? text : "";
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        size_t len = (size_t)(p - start);
        size_t level = out->n + 1;
        if (out->n == DELAY_LEVELS_MAX) {
            snprintf(err, errcap, "more than %d delay levels", DELAY_LEVELS_MAX);
            return RILL_ECONFIG;
        }
        size_t i = 0;
        uint64_t v = 0;
        while (i < len && isdigit((unsigned char)start[i]) && v < 1000000000ull)
            v = v * 10 + (uint64_t)(start[i++] - '0');
        const char *unit = start + i;
        size_t ulen = len - i;
        uint64_t mul = 0;
        if (ulen == 1 && unit[0] == 's')
            mul = 1000;
        else if (ulen == 1 && unit[0] == 'm')
            mul = 60000;
        else if (ulen == 1 && unit[0] == 'h')
            mul = 3600000;
        else if (ulen == 1 && unit[0] == 'd')
            mul = 86400000;
        else if (ulen == 2 && unit[0] == 'm' && unit[1] == 's')
            mul = 1;
        if (i == 0 || (i < len && isdigit((unsigned char)start[i]))) {
            snprintf(err, errcap, "level %zu: '%.*s': expected a number and a unit (s, m, h, d)",
                     level, (int)len, start);
            return RILL_ECONFIG;
        }
        if (mul == 0) {
            snprintf(err, errcap, "level %zu: '%.*s': unknown unit (s, m, h, d or ms)", level,
                     (int)len, start);
            return RILL_ECONFIG;
        }
        if (v == 0 || v * mul > DELAY_MAX_AHEAD_MS) {
            snprintf(err, errcap, "level %zu: '%.*s': must be > 0 and at most 40d", level,
                     (int)len, start);
            return RILL_ECONFIG;
        }
        out->ms[out->n++] = v * mul;
    }
    if (out->n == 0) {
        snprintf(err, errcap, "no delay levels: expected e.g. '1s 5s 10s 30s 1m'");
        return RILL_ECONFIG;
    }
    return 0;
}

int delay_props_append(char *buf, size_t cap, size_t *len, uint64_t deliver_ts, uint32_t level)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRIu64, deliver_ts);
    int rc = rill_props_append(buf, cap, len, RILL_PROP_DELIVER_TIME, num, (size_t)n);
    if (rc == 0 && level > 0) {
        n = snprintf(num, sizeof(num), "%" PRIu32, level);
        rc = rill_props_append(buf, cap, len, RILL_PROP_DELAY_LEVEL, num, (size_t)n);
    }
    return rc;
}
