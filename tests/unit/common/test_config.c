/*
 * test_config.c - schema-driven configuration: defaults, every value type,
 * every error message, broker.conf files (comments, whitespace, sections,
 * line numbers), printing that loads back, and command-line options.
 */
#include "common/config.h"
#include "common/errors.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_cfg {
    int sentinel_before; /* not in the schema: must never be written */
    char brokerName[16];
    int64_t listenPort;
    bool autoCreateTopicEnable;
    int flushDiskType;
    int64_t offsetBase;
    char storePathRootDir[512];
    int sentinel_after;
} test_cfg_t;

static const char *const flush_types[] = {"ASYNC_FLUSH", "SYNC_FLUSH", NULL};

#define STR_KEY(field, def, help)                                                                  \
    {                                                                                              \
#field, RILL_CFG_STRING, offsetof(test_cfg_t, field), sizeof(((test_cfg_t *)0)->field),    \
            def, 0, 0, NULL, help                                                                  \
    }

static const rill_cfg_key_t test_keys[] = {
    STR_KEY(brokerName, "broker-a", "name of the broker"),
    {"listenPort", RILL_CFG_INT, offsetof(test_cfg_t, listenPort), 0, "10911", 1, 65535, NULL,
     "port to listen on"},
    {"autoCreateTopicEnable", RILL_CFG_BOOL, offsetof(test_cfg_t, autoCreateTopicEnable), 0, "true",
     0, 0, NULL, "create topics on first send"},
    {"flushDiskType", RILL_CFG_ENUM, offsetof(test_cfg_t, flushDiskType), 0, "ASYNC_FLUSH", 0, 0,
     flush_types, "when a put is acknowledged"},
    {"offsetBase", RILL_CFG_INT, offsetof(test_cfg_t, offsetBase), 0, "-5", INT64_MIN, INT64_MAX,
     NULL, "full int64 range"},
    STR_KEY(storePathRootDir, "/tmp/rill", "data directory"),
};

static const rill_cfg_schema_t schema = {"test", test_keys,
                                         sizeof(test_keys) / sizeof(test_keys[0]), NULL};

static char dir[512];

static void setup(void)
{
    ts_mkdtemp(dir, sizeof(dir), "cfg");
}

static void teardown(void)
{
    ts_rmtree(dir);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Fresh struct with sentinels set and schema defaults applied. */
static test_cfg_t fresh(void)
{
    test_cfg_t c;
    memset(&c, 0xab, sizeof(c));
    c.sentinel_before = 111;
    c.sentinel_after = 222;
    char err[256] = "";
    cr_assert_eq(rill_cfg_defaults(&schema, &c, err, sizeof(err)), 0, "%s", err);
    return c;
}

/* Write text to DIR/name and return the path in a static buffer. */
static const char *write_conf(const char *name, const char *text)
{
    static char path[2][700];
    static int which;
    char *p = path[which++ & 1];
    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    cr_assert_eq(ts_write_file(p, text, strlen(text)), 0);
    return p;
}

static void assert_unchanged(const test_cfg_t *a, const test_cfg_t *b)
{
    cr_assert_eq(memcmp(a, b, sizeof(*a)), 0, "target changed on error");
}

/* ---- defaults and rill_cfg_set ---------------------------------------------- */

Test(config, defaults)
{
    test_cfg_t c = fresh();
    cr_assert_str_eq(c.brokerName, "broker-a");
    cr_assert_eq(c.listenPort, 10911);
    cr_assert_eq(c.autoCreateTopicEnable, true);
    cr_assert_eq(c.flushDiskType, 0);
    cr_assert_eq(c.offsetBase, -5);
    cr_assert_str_eq(c.storePathRootDir, "/tmp/rill");
    cr_assert_eq(c.sentinel_before, 111);
    cr_assert_eq(c.sentinel_after, 222);
}

Test(config, bad_default_is_reported_and_nothing_written)
{
    static const rill_cfg_key_t keys[] = {
        {"listenPort", RILL_CFG_INT, offsetof(test_cfg_t, listenPort), 0, "10911", 1, 65535, NULL,
         ""},
        {"flushDiskType", RILL_CFG_ENUM, offsetof(test_cfg_t, flushDiskType), 0, "SOMETIMES", 0, 0,
         flush_types, ""},
    };
    const rill_cfg_schema_t bad = {"broken", keys, 2, NULL};
    test_cfg_t c, before;
    memset(&c, 0, sizeof(c));
    before = c;
    char err[256];
    cr_assert_eq(rill_cfg_defaults(&bad, &c, err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "schema 'broken': bad default: bad value 'SOMETIMES' for key "
                          "'flushDiskType': expected one of ASYNC_FLUSH, SYNC_FLUSH");
    assert_unchanged(&c, &before);
}

Test(config, set_each_type)
{
    test_cfg_t c = fresh();
    char err[256];
    cr_assert_eq(rill_cfg_set(&schema, &c, "brokerName", "broker-b", err, sizeof(err)), 0);
    cr_assert_str_eq(c.brokerName, "broker-b");
    cr_assert_eq(rill_cfg_set(&schema, &c, "listenPort", "8080", err, sizeof(err)), 0);
    cr_assert_eq(c.listenPort, 8080);
    cr_assert_eq(rill_cfg_set(&schema, &c, "listenPort", "+1", err, sizeof(err)), 0);
    cr_assert_eq(c.listenPort, 1);
    cr_assert_eq(rill_cfg_set(&schema, &c, "listenPort", "65535", err, sizeof(err)), 0);
    cr_assert_eq(c.listenPort, 65535);
    cr_assert_eq(rill_cfg_set(&schema, &c, "autoCreateTopicEnable", "false", err, sizeof(err)), 0);
    cr_assert_eq(c.autoCreateTopicEnable, false);
    cr_assert_eq(rill_cfg_set(&schema, &c, "autoCreateTopicEnable", "TRUE", err, sizeof(err)), 0);
    cr_assert_eq(c.autoCreateTopicEnable, true);
    cr_assert_eq(rill_cfg_set(&schema, &c, "autoCreateTopicEnable", "False", err, sizeof(err)), 0);
    cr_assert_eq(c.autoCreateTopicEnable, false);
    cr_assert_eq(rill_cfg_set(&schema, &c, "flushDiskType", "SYNC_FLUSH", err, sizeof(err)), 0);
    cr_assert_eq(c.flushDiskType, 1);
    cr_assert_eq(rill_cfg_set(&schema, &c, "offsetBase", "-9223372036854775808", err, sizeof(err)),
                 0);
    cr_assert_eq(c.offsetBase, INT64_MIN);
    cr_assert_eq(rill_cfg_set(&schema, &c, "offsetBase", "9223372036854775807", err, sizeof(err)),
                 0);
    cr_assert_eq(c.offsetBase, INT64_MAX);
    cr_assert_eq(rill_cfg_set(&schema, &c, "offsetBase", "-0", err, sizeof(err)), 0);
    cr_assert_eq(c.offsetBase, 0);
    cr_assert_eq(rill_cfg_set(&schema, &c, "storePathRootDir", "", err, sizeof(err)), 0);
    cr_assert_str_eq(c.storePathRootDir, "");
    cr_assert_eq(c.sentinel_before, 111);
    cr_assert_eq(c.sentinel_after, 222);
}

Test(config, set_unknown_key)
{
    test_cfg_t c = fresh(), before = c;
    char err[256];
    cr_assert_eq(rill_cfg_set(&schema, &c, "foo", "1", err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "unknown key 'foo'");
    cr_assert_eq(rill_cfg_set(&schema, &c, "listenport", "1", err, sizeof(err)), RILL_ECONFIG,
                 "keys are case-sensitive");
    cr_assert_str_eq(err, "unknown key 'listenport'");
    cr_assert_eq(rill_cfg_set(&schema, &c, "", "1", err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "unknown key ''");
    assert_unchanged(&c, &before);
}

Test(config, set_bad_integers)
{
    test_cfg_t c = fresh(), before = c;
    const char *bad[] = {"abc",  "",      " 1",  "1 ",  "1x",
                         "0x10", "65536", "0",   "-1",  "+",
                         "-",    "1.5",   "1e3", "++1", "99999999999999999999"};
    char err[256], want[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(rill_cfg_set(&schema, &c, "listenPort", bad[i], err, sizeof(err)),
                     RILL_ECONFIG, "'%s'", bad[i]);
        snprintf(want, sizeof(want),
                 "bad value '%s' for key 'listenPort': expected an integer in [1, 65535]", bad[i]);
        cr_assert_str_eq(err, want);
    }
    cr_assert_eq(rill_cfg_set(&schema, &c, "offsetBase", "9223372036854775808", err, sizeof(err)),
                 RILL_ECONFIG, "overflow");
    cr_assert_str_eq(err, "bad value '9223372036854775808' for key 'offsetBase': expected an "
                          "integer in [-9223372036854775808, 9223372036854775807]");
    cr_assert_eq(rill_cfg_set(&schema, &c, "offsetBase", "-9223372036854775809", err, sizeof(err)),
                 RILL_ECONFIG, "underflow");
    assert_unchanged(&c, &before);
}

Test(config, set_bad_bool)
{
    test_cfg_t c = fresh(), before = c;
    const char *bad[] = {"yes", "1", "0", "", "truee", " true", "on"};
    char err[256], want[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(rill_cfg_set(&schema, &c, "autoCreateTopicEnable", bad[i], err, sizeof(err)),
                     RILL_ECONFIG, "'%s'", bad[i]);
        snprintf(want, sizeof(want),
                 "bad value '%s' for key 'autoCreateTopicEnable': expected true or false", bad[i]);
        cr_assert_str_eq(err, want);
    }
    assert_unchanged(&c, &before);
}

Test(config, set_bad_enum)
{
    test_cfg_t c = fresh(), before = c;
    char err[256];
    cr_assert_eq(rill_cfg_set(&schema, &c, "flushDiskType", "x", err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(
        err, "bad value 'x' for key 'flushDiskType': expected one of ASYNC_FLUSH, SYNC_FLUSH");
    cr_assert_eq(rill_cfg_set(&schema, &c, "flushDiskType", "sync_flush", err, sizeof(err)),
                 RILL_ECONFIG, "enum names are case-sensitive, like Java's valueOf");
    cr_assert_eq(rill_cfg_set(&schema, &c, "flushDiskType", "", err, sizeof(err)), RILL_ECONFIG);
    assert_unchanged(&c, &before);
}

Test(config, set_string_limits)
{
    test_cfg_t c = fresh();
    char err[256];
    /* brokerName is char[16]: 15 bytes fit, 16 do not. */
    cr_assert_eq(rill_cfg_set(&schema, &c, "brokerName", "123456789012345", err, sizeof(err)), 0);
    cr_assert_str_eq(c.brokerName, "123456789012345");
    test_cfg_t before = c;
    cr_assert_eq(rill_cfg_set(&schema, &c, "brokerName", "1234567890123456", err, sizeof(err)),
                 RILL_ECONFIG);
    cr_assert_str_eq(err, "value for key 'brokerName' is too long: 16 bytes, at most 15");
    cr_assert_eq(rill_cfg_set(&schema, &c, "brokerName", "a\nb", err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "bad value for key 'brokerName': line breaks are not allowed");
    cr_assert_eq(rill_cfg_set(&schema, &c, "brokerName", "a\rb", err, sizeof(err)), RILL_ECONFIG);
    assert_unchanged(&c, &before);
}

Test(config, set_missing_value)
{
    test_cfg_t c = fresh();
    char err[256];
    cr_assert_eq(rill_cfg_set(&schema, &c, "listenPort", NULL, err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "missing value for key 'listenPort'");
}

Test(config, error_text_is_truncated_and_terminated)
{
    test_cfg_t c = fresh();
    char err[10];
    memset(err, 'x', sizeof(err));
    cr_assert_eq(rill_cfg_set(&schema, &c, "nope", "1", err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "unknown k");
    cr_assert_eq(rill_cfg_set(&schema, &c, "nope", "1", NULL, 0), RILL_ECONFIG);
    char one[1] = {'x'};
    cr_assert_eq(rill_cfg_set(&schema, &c, "nope", "1", one, 1), RILL_ECONFIG);
    cr_assert_eq(one[0], '\0');
}

Test(config, find)
{
    const rill_cfg_key_t *k = rill_cfg_find(&schema, "flushDiskType");
    cr_assert_not_null(k);
    cr_assert_eq(k, &test_keys[3]);
    cr_assert_null(rill_cfg_find(&schema, "flushdisktype"));
    cr_assert_null(rill_cfg_find(&schema, "flushDisk"));
    cr_assert_null(rill_cfg_find(&schema, "flushDiskTypeX"));
    cr_assert_null(rill_cfg_find(&schema, ""));
}

/* ---- files -------------------------------------------------------------------- */

Test(config, load_file_syntax)
{
    const char *path = write_conf("broker.conf", "# broker.conf\n"
                                                 "\n"
                                                 "; semicolon comment\n"
                                                 "   # indented comment\n"
                                                 "brokerName=broker-b\n"
                                                 "listenPort   =   10920   \n"
                                                 "\tautoCreateTopicEnable\t=\tfalse\n"
                                                 "flushDiskType = SYNC_FLUSH\r\n"
                                                 "offsetBase: 42\n"
                                                 "storePathRootDir = /data/rill # not a comment\n"
                                                 "\n");
    test_cfg_t c = fresh();
    char err[512] = "";
    cr_assert_eq(rill_cfg_load_file(&schema, &c, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.brokerName, "broker-b");
    cr_assert_eq(c.listenPort, 10920);
    cr_assert_eq(c.autoCreateTopicEnable, false);
    cr_assert_eq(c.flushDiskType, 1);
    cr_assert_eq(c.offsetBase, 42);
    cr_assert_str_eq(c.storePathRootDir, "/data/rill # not a comment");
    cr_assert_eq(c.sentinel_before, 111);
    cr_assert_eq(c.sentinel_after, 222);
}

Test(config, load_file_keeps_unset_keys_and_last_duplicate_wins)
{
    const char *path = write_conf("dup.conf", "listenPort = 1\nlistenPort = 2\nbrokerName =\n");
    test_cfg_t c = fresh();
    char err[512] = "";
    cr_assert_eq(rill_cfg_load_file(&schema, &c, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.listenPort, 2);
    cr_assert_str_eq(c.brokerName, "");
    cr_assert_str_eq(c.storePathRootDir, "/tmp/rill");
}

Test(config, load_empty_file_and_no_trailing_newline)
{
    test_cfg_t c = fresh();
    char err[512] = "";
    cr_assert_eq(rill_cfg_load_file(&schema, &c, write_conf("empty.conf", ""), err, sizeof(err)),
                 0);
    cr_assert_eq(
        rill_cfg_load_file(&schema, &c, write_conf("nonl.conf", "listenPort=7"), err, sizeof(err)),
        0, "%s", err);
    cr_assert_eq(c.listenPort, 7);
}

/* Load text, expect RILL_ECONFIG and the message "PATH<suffix>", target unchanged. */
static void expect_load_error(const char *text, const char *suffix)
{
    const char *path = write_conf("broker.conf", text);
    test_cfg_t c = fresh(), before = c;
    char err[512], want[1024];
    cr_assert_eq(rill_cfg_load_file(&schema, &c, path, err, sizeof(err)), RILL_ECONFIG, "%s",
                 suffix);
    snprintf(want, sizeof(want), "%s%s", path, suffix);
    cr_assert_str_eq(err, want);
    assert_unchanged(&c, &before);
}

Test(config, load_unknown_key_has_file_and_line)
{
    expect_load_error("brokerName = b\n# comment\nflushDisk = SYNC_FLUSH\n",
                      ":3: unknown key 'flushDisk'");
}

Test(config, load_bad_value_has_file_line_and_key)
{
    expect_load_error(
        "\n\n\n\nlistenPort = abc\n",
        ":5: bad value 'abc' for key 'listenPort': expected an integer in [1, 65535]");
    expect_load_error("flushDiskType=x\n",
                      ":1: bad value 'x' for key 'flushDiskType': expected one of ASYNC_FLUSH, "
                      "SYNC_FLUSH");
    expect_load_error("brokerName = this-name-is-far-too-long\n",
                      ":1: value for key 'brokerName' is too long: 25 bytes, at most 15");
}

Test(config, load_first_error_wins_and_nothing_is_applied)
{
    /* listenPort on line 1 is valid but must not be applied when line 2 fails. */
    expect_load_error("listenPort = 9\nnope = 1\nlistenPort = x\n", ":2: unknown key 'nope'");
}

Test(config, load_sections_rejected)
{
    expect_load_error("listenPort = 9\n[broker]\nbrokerName = a\n",
                      ":2: sections are not supported");
    expect_load_error("  [broker]\n", ":1: sections are not supported");
    expect_load_error("[broker\n", ":1: sections are not supported");
}

Test(config, load_line_without_equals)
{
    expect_load_error("listenPort = 9\n\n# c\njust some words\n", ":4: expected 'key = value'");
}

Test(config, load_indented_line_is_not_a_continuation)
{
    /* inih would append this to brokerName's value in multiline mode. */
    expect_load_error("brokerName = a\n    continued\n", ":2: expected 'key = value'");
    /* An indented key line is just a key line. */
    const char *path = write_conf("indent.conf", "brokerName = a\n    listenPort = 5\n");
    test_cfg_t c = fresh();
    char err[512] = "";
    cr_assert_eq(rill_cfg_load_file(&schema, &c, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.brokerName, "a");
    cr_assert_eq(c.listenPort, 5);
}

Test(config, load_inline_semicolon_is_part_of_the_value)
{
    expect_load_error("listenPort = 10911 ; main port\n",
                      ":1: bad value '10911 ; main port' for key 'listenPort': expected an "
                      "integer in [1, 65535]");
}

Test(config, load_missing_file)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/missing.conf", dir);
    test_cfg_t c = fresh(), before = c;
    char err[1024], want[1024];
    cr_assert_eq(rill_cfg_load_file(&schema, &c, path, err, sizeof(err)), RILL_ECONFIG);
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
    cr_assert_str_eq(err, want);
    assert_unchanged(&c, &before);

    cr_assert_eq(rill_cfg_load_file(&schema, &c, dir, err, sizeof(err)), RILL_ECONFIG,
                 "a directory is not a config file");
}

Test(config, load_long_string_value)
{
    /* Longer than inih's default 200-byte line, within storePathRootDir's 511. */
    char value[401], text[600];
    memset(value, 'p', 400);
    value[0] = '/';
    value[400] = '\0';
    snprintf(text, sizeof(text), "storePathRootDir = %s\nlistenPort = 3\n", value);
    test_cfg_t c = fresh();
    char err[512] = "";
    cr_assert_eq(rill_cfg_load_file(&schema, &c, write_conf("long.conf", text), err, sizeof(err)),
                 0, "%s", err);
    cr_assert_str_eq(c.storePathRootDir, value);
    cr_assert_eq(c.listenPort, 3);
}

Test(config, load_overlong_line)
{
    size_t n = RILL_CFG_LINE_BYTES_MAX + 10;
    char *text = malloc(n + 64);
    strcpy(text, "listenPort = 1\nbrokerName = ");
    size_t len = strlen(text);
    memset(text + len, 'n', n);
    strcpy(text + len + n, "\nlistenPort = 2\n");
    char suffix[128];
    snprintf(suffix, sizeof(suffix), ":2: line is longer than %d bytes", RILL_CFG_LINE_BYTES_MAX);
    expect_load_error(text, suffix);
    free(text);
}

Test(config, load_line_at_the_limit)
{
    /* A comment line of exactly RILL_CFG_LINE_BYTES_MAX bytes is fine. */
    size_t n = RILL_CFG_LINE_BYTES_MAX;
    char *text = malloc(n + 64);
    memset(text, '#', n);
    strcpy(text + n, "\nlistenPort = 2\n");
    test_cfg_t c = fresh();
    char err[512] = "";
    cr_assert_eq(rill_cfg_load_file(&schema, &c, write_conf("limit.conf", text), err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(c.listenPort, 2);
    free(text);
}

Test(config, load_nul_byte)
{
    const char text[] = "listenPort = 1\nbrokerName = a\0b\n";
    char path[700];
    snprintf(path, sizeof(path), "%s/nul.conf", dir);
    cr_assert_eq(ts_write_file(path, text, sizeof(text) - 1), 0);
    test_cfg_t c = fresh(), before = c;
    char err[1024], want[1024];
    cr_assert_eq(rill_cfg_load_file(&schema, &c, path, err, sizeof(err)), RILL_ECONFIG);
    snprintf(want, sizeof(want), "%s:2: NUL byte in line", path);
    cr_assert_str_eq(err, want);
    assert_unchanged(&c, &before);
}

/* ---- printing ----------------------------------------------------------------- */

static char *print_to_string(const test_cfg_t *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_assert_eq(rill_cfg_print(&schema, c, f), 0);
    fclose(f);
    return buf;
}

Test(config, print_format)
{
    test_cfg_t c = fresh();
    char *text = print_to_string(&c);
    cr_assert_str_eq(text, "brokerName=broker-a\n"
                           "listenPort=10911\n"
                           "autoCreateTopicEnable=true\n"
                           "flushDiskType=ASYNC_FLUSH\n"
                           "offsetBase=-5\n"
                           "storePathRootDir=/tmp/rill\n");
    free(text);
}

Test(config, print_round_trip)
{
    test_cfg_t c = fresh();
    char err[512] = "";
    cr_assert_eq(rill_cfg_set(&schema, &c, "brokerName", "b-2 x#y;z=w", err, sizeof(err)), 0);
    cr_assert_eq(rill_cfg_set(&schema, &c, "listenPort", "65535", err, sizeof(err)), 0);
    cr_assert_eq(rill_cfg_set(&schema, &c, "autoCreateTopicEnable", "false", err, sizeof(err)), 0);
    cr_assert_eq(rill_cfg_set(&schema, &c, "flushDiskType", "SYNC_FLUSH", err, sizeof(err)), 0);
    cr_assert_eq(rill_cfg_set(&schema, &c, "offsetBase", "-9223372036854775808", err, sizeof(err)),
                 0);
    cr_assert_eq(rill_cfg_set(&schema, &c, "storePathRootDir", "", err, sizeof(err)), 0);

    char *text = print_to_string(&c);
    test_cfg_t back = fresh();
    cr_assert_eq(
        rill_cfg_load_file(&schema, &back, write_conf("printed.conf", text), err, sizeof(err)), 0,
        "%s\n%s", err, text);
    cr_assert_str_eq(back.brokerName, c.brokerName);
    cr_assert_eq(back.listenPort, c.listenPort);
    cr_assert_eq(back.autoCreateTopicEnable, c.autoCreateTopicEnable);
    cr_assert_eq(back.flushDiskType, c.flushDiskType);
    cr_assert_eq(back.offsetBase, c.offsetBase);
    cr_assert_str_eq(back.storePathRootDir, c.storePathRootDir);

    char *again = print_to_string(&back);
    cr_assert_str_eq(again, text);
    free(again);
    free(text);
}

Test(config, print_help_lists_every_key)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(rill_cfg_print_help(&schema, f), 0);
    fclose(f);
    for (size_t i = 0; i < schema.count; i++)
        cr_assert_not_null(strstr(buf, test_keys[i].name));
    cr_assert_not_null(strstr(buf, "--listenPort=<int> [1, 65535] (default: 10911)"));
    cr_assert_not_null(strstr(buf, "ASYNC_FLUSH|SYNC_FLUSH"));
    free(buf);
}

/* ---- command line ------------------------------------------------------------- */

#define ARGV(...) ((char *[]){"rill-broker", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"rill-broker", __VA_ARGS__}) / sizeof(char *)))

static int parse(test_cfg_t *c, int argc, char **argv, int *consumed, char *err, size_t errcap)
{
    return rill_cfg_parse_args(&schema, c, argc, argv, consumed, err, errcap);
}

Test(config, args_no_options)
{
    test_cfg_t c = fresh(), before = c;
    char *argv[] = {"rill-broker", NULL};
    int consumed = -1;
    char err[256];
    cr_assert_eq(parse(&c, 1, argv, &consumed, err, sizeof(err)), 0);
    cr_assert_eq(consumed, 0);
    assert_unchanged(&c, &before);
}

Test(config, args_file_then_overrides_win_regardless_of_order)
{
    const char *p1 = write_conf("a.conf", "listenPort = 100\nbrokerName = from-a\n");
    const char *p2 = write_conf("b.conf", "listenPort = 200\nflushDiskType = SYNC_FLUSH\n");
    char cfg2[800];
    snprintf(cfg2, sizeof(cfg2), "--config=%s", p2);
    test_cfg_t c = fresh();
    char err[512] = "";
    int consumed = -1;
    char **argv = ARGV("--listenPort=300", "-c", (char *)p1, cfg2, "--brokerName=cli");
    int argc = ARGC("--listenPort=300", "-c", (char *)p1, cfg2, "--brokerName=cli");
    cr_assert_eq(parse(&c, argc, argv, &consumed, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(consumed, 5);
    cr_assert_eq(c.listenPort, 300, "--key=value beats every file");
    cr_assert_str_eq(c.brokerName, "cli");
    cr_assert_eq(c.flushDiskType, 1, "second file applied");

    /* Two files: the later one wins. */
    test_cfg_t d = fresh();
    char **argv2 = ARGV("-c", (char *)p1, "-c", (char *)p2);
    cr_assert_eq(parse(&d, 5, argv2, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(d.listenPort, 200);
    cr_assert_str_eq(d.brokerName, "from-a");
}

Test(config, args_help_options_are_left_alone)
{
    test_cfg_t c = fresh();
    char err[256] = "";
    int consumed = -1;
    char **argv = ARGV("-h", "--listenPort=5", "--print-config", "--help");
    cr_assert_eq(parse(&c, 5, argv, &consumed, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(consumed, 4);
    cr_assert_eq(c.listenPort, 5);
}

Test(config, args_stop_at_positional_and_double_dash)
{
    test_cfg_t c = fresh();
    char err[256] = "";
    int consumed = -1;
    char **argv = ARGV("--listenPort=5", "topic", "--listenPort=6");
    cr_assert_eq(parse(&c, 4, argv, &consumed, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(consumed, 1);
    cr_assert_eq(c.listenPort, 5);

    char **argv2 = ARGV("--listenPort=7", "--", "--listenPort=8");
    cr_assert_eq(parse(&c, 4, argv2, &consumed, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(consumed, 2, "'--' is consumed");
    cr_assert_eq(c.listenPort, 7);

    char **argv3 = ARGV("-", "--listenPort=9");
    cr_assert_eq(parse(&c, 3, argv3, &consumed, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(consumed, 0);
    cr_assert_eq(c.listenPort, 7);
}

Test(config, args_empty_value)
{
    test_cfg_t c = fresh();
    char err[256] = "";
    char **argv = ARGV("--brokerName=");
    cr_assert_eq(parse(&c, 2, argv, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.brokerName, "");
}

/* Parse argv, expect RILL_ECONFIG with exactly msg, target and consumed unchanged. */
static void expect_args_error(int argc, char **argv, const char *msg)
{
    test_cfg_t c = fresh(), before = c;
    char err[1024];
    int consumed = -1;
    cr_assert_eq(parse(&c, argc, argv, &consumed, err, sizeof(err)), RILL_ECONFIG, "%s", msg);
    cr_assert_str_eq(err, msg);
    cr_assert_eq(consumed, -1);
    assert_unchanged(&c, &before);
}

Test(config, args_errors)
{
    expect_args_error(3, ARGV("--listenPort=5", "-x"), "unknown option '-x'");
    expect_args_error(2, ARGV("--nope=1"), "unknown option '--nope'");
    expect_args_error(2, ARGV("--nope"), "unknown option '--nope'");
    expect_args_error(2, ARGV("--listenport=1"), "unknown option '--listenport'");
    expect_args_error(2, ARGV("--listenPort"),
                      "option '--listenPort' needs a value: use --listenPort=VALUE");
    expect_args_error(2, ARGV("-c"), "option '-c' needs a file name");
    expect_args_error(3, ARGV("-c", ""), "option '-c' needs a file name");
    expect_args_error(2, ARGV("--config"),
                      "option '--config' needs a file name: use --config=FILE");
    expect_args_error(2, ARGV("--config="),
                      "option '--config' needs a file name: use --config=FILE");
    expect_args_error(3, ARGV("--brokerName=ok", "--listenPort=abc"),
                      "bad value 'abc' for key 'listenPort': expected an integer in [1, 65535]");
    expect_args_error(2, ARGV("---"), "unknown option '---'");
}

Test(config, args_file_errors_propagate)
{
    const char *good = write_conf("good.conf", "listenPort = 100\n");
    const char *bad = write_conf("bad.conf", "listenPort = 1\n\nflushDisk = x\n");
    char want[1024];
    snprintf(want, sizeof(want), "%s:3: unknown key 'flushDisk'", bad);
    expect_args_error(5, ARGV("-c", (char *)good, "-c", (char *)bad), want);

    char missing[700], opt[800];
    snprintf(missing, sizeof(missing), "%s/none.conf", dir);
    snprintf(opt, sizeof(opt), "--config=%s", missing);
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", missing);
    expect_args_error(3, ARGV("--listenPort=1", opt), want);
}
