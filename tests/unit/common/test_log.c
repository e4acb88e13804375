/*
 * test_log.c - records go to a file as whole lines with timestamp, level and
 * module; the threshold filters them (and skips formatting); long records are
 * cut, never overflowed; concurrent writers never interleave.
 */
#include "common/errors.h"
#include "common/log.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[512];
static char path[600];

static void setup(void)
{
    ts_mkdtemp(dir, sizeof(dir), "log");
    snprintf(path, sizeof(path), "%s/rill.log", dir);
    cr_assert_eq(rill_log_set_file(path), 0);
}

static void teardown(void)
{
    rill_log_set_file(NULL);
    ts_rmtree(dir);
}

/* Whole log file as a NUL-terminated heap string. */
static char *slurp(size_t *len_out)
{
    long long size = ts_file_size(path);
    cr_assert_geq(size, 0);
    char *text = malloc((size_t)size + 1);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, (size_t)size, f);
    fclose(f);
    cr_assert_eq(n, (size_t)size);
    text[n] = '\0';
    if (len_out)
        *len_out = n;
    return text;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, default_level_is_info)
{
    cr_assert_eq(rill_log_get_level(), RILL_LOG_INFO);
}

Test(log, line_format)
{
    rill_log(RILL_LOG_INFO, "store", "hello %d", 42);
    rill_log(RILL_LOG_WARN, NULL, "no module");
    rill_log(RILL_LOG_ERROR, "kv", "bad");
    char *text = slurp(NULL);

    regex_t re;
    const char *pattern =
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}[+-][0-9]{4} "
        "INFO  \\[store\\] hello 42\n"
        "[0-9T:.+-]{28} WARN  \\[-\\] no module\n"
        "[0-9T:.+-]{28} ERROR \\[kv\\] bad\n$";
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
    cr_assert_eq(regexec(&re, text, 0, NULL, 0), 0, "log text:\n%s", text);
    regfree(&re);
    free(text);
}

Test(log, levels_are_filtered)
{
    rill_log_set_level(RILL_LOG_WARN);
    cr_assert_eq(rill_log_get_level(), RILL_LOG_WARN);
    rill_log(RILL_LOG_DEBUG, "t", "d");
    rill_log(RILL_LOG_INFO, "t", "i");
    LOG_DEBUG("t", "d2");
    LOG_INFO("t", "i2");
    rill_log(RILL_LOG_WARN, "t", "w");
    LOG_ERROR("t", "e2");
    char *text = slurp(NULL);
    cr_assert_eq(count_lines(text), 2, "log text:\n%s", text);
    cr_assert_not_null(strstr(text, "WARN  [t] w\n"));
    cr_assert_not_null(strstr(text, "ERROR [t] e2\n"));
    free(text);

    rill_log_set_level(RILL_LOG_DEBUG);
    LOG_DEBUG("t", "now visible");
    text = slurp(NULL);
    cr_assert_not_null(strstr(text, "DEBUG [t] now visible\n"));
    free(text);
}

static int side_effects;
static int count_call(void)
{
    return ++side_effects;
}

Test(log, filtered_macros_do_not_evaluate_arguments)
{
    rill_log_set_level(RILL_LOG_ERROR);
    LOG_DEBUG("t", "%d", count_call());
    LOG_INFO("t", "%d", count_call());
    LOG_WARN("t", "%d", count_call());
    cr_assert_eq(side_effects, 0);
    LOG_ERROR("t", "%d", count_call());
    cr_assert_eq(side_effects, 1);
}

Test(log, parse_level)
{
    rill_log_level_t l = RILL_LOG_ERROR;
    cr_assert_eq(rill_log_parse_level("debug", &l), 0);
    cr_assert_eq(l, RILL_LOG_DEBUG);
    cr_assert_eq(rill_log_parse_level("INFO", &l), 0);
    cr_assert_eq(l, RILL_LOG_INFO);
    cr_assert_eq(rill_log_parse_level("Warn", &l), 0);
    cr_assert_eq(l, RILL_LOG_WARN);
    cr_assert_eq(rill_log_parse_level("eRRor", &l), 0);
    cr_assert_eq(l, RILL_LOG_ERROR);

    cr_assert_eq(rill_log_parse_level("warning", &l), RILL_EINVAL);
    cr_assert_eq(rill_log_parse_level("", &l), RILL_EINVAL);
    cr_assert_eq(rill_log_parse_level(" info", &l), RILL_EINVAL);
    cr_assert_eq(rill_log_parse_level(NULL, &l), RILL_EINVAL);
    cr_assert_eq(l, RILL_LOG_ERROR, "out written on error");

    cr_assert_str_eq(rill_log_level_name(RILL_LOG_INFO), "INFO");
    cr_assert_str_eq(rill_log_level_name((rill_log_level_t)9), "?");
}

Test(log, long_lines_are_cut)
{
    size_t big = 10000;
    char *msg = malloc(big + 1);
    memset(msg, 'a', big);
    msg[big] = '\0';
    rill_log(RILL_LOG_INFO, "store", "%s", msg);
    rill_log(RILL_LOG_INFO, "store", "after");
    free(msg);

    size_t len;
    char *text = slurp(&len);
    char *nl = strchr(text, '\n');
    cr_assert_not_null(nl);
    size_t first = (size_t)(nl - text) + 1;
    cr_assert_eq(first, RILL_LOG_LINE_BYTES_MAX);
    cr_assert_eq(memcmp(nl - 4, "a...", 4), 0);
    cr_assert_not_null(strstr(nl + 1, "INFO  [store] after\n"));
    cr_assert_eq(count_lines(text), 2);
    free(text);
}

Test(log, line_just_under_the_limit_is_whole)
{
    rill_log(RILL_LOG_INFO, "m", "x");
    size_t len;
    char *text = slurp(&len);
    size_t prefix = len - 2; /* everything before "x\n" */
    free(text);
    cr_assert_eq(truncate(path, 0), 0);

    size_t body = RILL_LOG_LINE_BYTES_MAX - prefix - 1;
    char *msg = malloc(body + 1);
    memset(msg, 'b', body);
    msg[body] = '\0';
    rill_log(RILL_LOG_INFO, "m", "%s", msg);
    free(msg);
    text = slurp(&len);
    cr_assert_eq(len, RILL_LOG_LINE_BYTES_MAX);
    cr_assert_eq(memcmp(text + len - 4, "bbb\n", 4), 0, "a line that fits is not cut");
    free(text);
}

Test(log, set_file_error_keeps_destination)
{
    char bad[700];
    snprintf(bad, sizeof(bad), "%s/missing/dir/rill.log", dir);
    cr_assert_eq(rill_log_set_file(bad), ENOENT);
    rill_log(RILL_LOG_INFO, "t", "still here");
    char *text = slurp(NULL);
    cr_assert_not_null(strstr(text, "still here"));
    free(text);
}

Test(log, file_is_appended)
{
    rill_log(RILL_LOG_INFO, "t", "one");
    cr_assert_eq(rill_log_set_file(NULL), 0);
    cr_assert_eq(rill_log_set_file(path), 0);
    rill_log(RILL_LOG_INFO, "t", "two");
    char *text = slurp(NULL);
    cr_assert_eq(count_lines(text), 2);
    cr_assert_lt(strstr(text, "one"), strstr(text, "two"));
    free(text);
}

Test(log, errno_is_preserved)
{
    errno = ENOSPC;
    rill_log(RILL_LOG_ERROR, "t", "disk full");
    cr_assert_eq(errno, ENOSPC);
}

#define WRITERS          4
#define LINES_PER_WRITER 2000

static void *writer(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < LINES_PER_WRITER; i++)
        LOG_INFO("w", "writer %ld line %d %s", id, i, "padding-padding-padding-padding");
    return NULL;
}

Test(log, concurrent_lines_never_interleave)
{
    pthread_t th[WRITERS];
    for (long i = 0; i < WRITERS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, writer, (void *)i), 0);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);

    char *text = slurp(NULL);
    cr_assert_eq(count_lines(text), WRITERS * LINES_PER_WRITER);
    regex_t re;
    cr_assert_eq(regcomp(&re,
                         "^[0-9T:.+-]{28} INFO  \\[w\\] writer [0-9] line [0-9]+ "
                         "padding-padding-padding-padding$",
                         REG_EXTENDED | REG_NOSUB),
                 0);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        cr_assert_eq(regexec(&re, line, 0, NULL, 0), 0, "bad line '%s'", line);
    regfree(&re);
    free(text);
}
