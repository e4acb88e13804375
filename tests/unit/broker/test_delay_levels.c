/*
 * test_delay_levels.c - messageDelayLevel parsing (broker/delay_levels.c)
 * and the delay properties a delayed record carries.
 */
#include "broker/delay.h"
#include "common/errors.h"
#include "common/config.h"
#include "common/props.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

Test(delay_levels, default_is_rocketmqs_18)
{
    delay_levels_t l;
    char err[256] = "";
    cr_assert_eq(delay_levels_parse(DELAY_DEFAULT_LEVELS, &l, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(l.n, 18);
    cr_assert_eq(l.ms[0], 1000);
    cr_assert_eq(l.ms[3], 30000);
    cr_assert_eq(l.ms[4], 60000);
    cr_assert_eq(l.ms[14], 20 * 60000);
    cr_assert_eq(l.ms[17], 2 * 3600000);
}

Test(delay_levels, units_and_spacing)
{
    delay_levels_t l;
    char err[256] = "";
    cr_assert_eq(delay_levels_parse("  250ms\t1s  2m 3h 1d 40d ", &l, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(l.n, 6);
    uint64_t want[] = {250, 1000, 120000, 3 * 3600000ull, 86400000ull, 40 * 86400000ull};
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(l.ms[i], want[i], "level %zu", i + 1);
}

static void bad(const char *text, const char *needle)
{
    delay_levels_t l;
    char err[256] = "";
    cr_assert_eq(delay_levels_parse(text, &l, err, sizeof(err)), RILL_ECONFIG, "'%s' accepted",
                 text);
    cr_assert_not_null(strstr(err, needle), "'%s': error '%s' lacks '%s'", text, err, needle);
}

Test(delay_levels, refuses_bad_lists)
{
    bad("", "no delay levels");
    bad("   ", "no delay levels");
    bad("1s 5x", "level 2: '5x': unknown unit");
    bad("1s 5", "level 2: '5': unknown unit");
    bad("s", "level 1: 's': expected a number");
    bad("1s -5s", "level 2");
    bad("0s", "level 1: '0s': must be > 0");
    bad("41d", "at most 40d");
    bad("1s 1.5s", "level 2");
    char many[1024] = "";
    for (int i = 0; i < DELAY_LEVELS_MAX + 1; i++)
        strcat(many, "1s ");
    bad(many, "more than 64");
}

Test(delay_levels, props_carry_time_and_level)
{
    char buf[256];
    size_t len = 0;
    cr_assert_eq(delay_props_append(buf, sizeof(buf), &len, 1700000000123ull, 3), 0);
    const char *v;
    size_t vlen;
    cr_assert_eq(rill_props_get(buf, len, RILL_PROP_DELIVER_TIME, &v, &vlen), 0);
    cr_assert_eq(vlen, 13);
    cr_assert_eq(memcmp(v, "1700000000123", 13), 0);
    cr_assert_eq(rill_props_get(buf, len, RILL_PROP_DELAY_LEVEL, &v, &vlen), 0);
    cr_assert_eq(vlen, 1);
    cr_assert_eq(v[0], '3');
    len = 0;
    cr_assert_eq(delay_props_append(buf, sizeof(buf), &len, 5, 0), 0);
    cr_assert_neq(rill_props_get(buf, len, RILL_PROP_DELAY_LEVEL, &v, &vlen), 0,
                  "no DELAY without a level");
    len = 0;
    cr_assert_neq(delay_props_append(buf, 8, &len, 5, 0), 0, "too small a buffer fails");
    cr_assert_eq(len, 0);
}

/* The broker's schema checks messageDelayLevel the same way (broker_config.c's
 * check); here a one-key schema with that check shows where errors point. */
typedef struct lvl_cfg {
    char levels[256];
} lvl_cfg_t;

static int check_levels(const rill_cfg_key_t *k, const char *value, char *err, size_t errcap)
{
    (void)k;
    delay_levels_t l;
    char derr[200];
    if (delay_levels_parse(value, &l, derr, sizeof(derr)) == 0)
        return 0;
    snprintf(err, errcap, "bad value '%s' for key 'messageDelayLevel': %s", value, derr);
    return RILL_ECONFIG;
}

static const rill_cfg_key_t lvl_keys[] = {
    {"messageDelayLevel", RILL_CFG_STRING, offsetof(lvl_cfg_t, levels), 256, DELAY_DEFAULT_LEVELS,
     0, 0, NULL, "levels"},
};
static const rill_cfg_schema_t lvl_schema = {"lvl", lvl_keys, 1, check_levels};

Test(delay_levels, config_errors_name_file_and_line)
{
    char dir[512], path[600], err[512] = "";
    ts_mkdtemp(dir, sizeof(dir), "levels");
    snprintf(path, sizeof(path), "%s/broker.conf", dir);
    const char *text = "# levels\n\nmessageDelayLevel = 1s 2x\n";
    cr_assert_eq(ts_write_file(path, text, strlen(text)), 0);
    lvl_cfg_t c;
    cr_assert_eq(rill_cfg_defaults(&lvl_schema, &c, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(rill_cfg_load_file(&lvl_schema, &c, path, err, sizeof(err)), RILL_ECONFIG);
    char want[700];
    snprintf(want, sizeof(want), "%s:3: bad value '1s 2x' for key 'messageDelayLevel': level 2",
             path);
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "got: %s", err);
    cr_assert_str_eq(c.levels, DELAY_DEFAULT_LEVELS, "the field is unchanged");
    char *argv[] = {"prog", "--messageDelayLevel=1s 0s", NULL};
    cr_assert_eq(rill_cfg_parse_args(&lvl_schema, &c, 2, argv, NULL, err, sizeof(err)),
                 RILL_ECONFIG);
    cr_assert_not_null(strstr(err, "level 2: '0s': must be > 0"), "got: %s", err);
    char *ok[] = {"prog", "--messageDelayLevel=1s 2s 3s", NULL};
    cr_assert_eq(rill_cfg_parse_args(&lvl_schema, &c, 2, ok, NULL, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_str_eq(c.levels, "1s 2s 3s");
    ts_rmtree(dir);
}
