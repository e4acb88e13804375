/*
 * test_conf.c - rill_conf_t: every key of rill.h settable and readable
 * back, defaults as documented, exact error texts and codes, the
 * environment defaults of namesrv and offset.store.dir, dup.
 */
#include "client/src/core.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every key of rill.h's table with its documented default ("" = environment-dependent). */
static const struct {
    const char *key, *def, *good, *bad;
} keys[] = {
    {"namesrv", NULL, "10.0.0.1:9876;10.0.0.2:9876", NULL},
    {"group", "", "OrderGroup", NULL},
    {"client.id", "", "host@1@2", NULL},
    {"request.timeout.ms", "3000", "1500", "0"},
    {"route.refresh.ms", "30000", "500", "-1"},
    {"heartbeat.interval.ms", "10000", "300", "x"},
    {"send.timeout.ms", "3000", "100", "0"},
    {"send.retries", "2", "16", "17"},
    {"send.inflight.max", "10000", "1", "0"},
    {"compress.threshold.bytes", "4096", "0", "-5"},
    {"compress.level", "3", "19", "23"},
    {"max.message.bytes", "4194304", "1024", "0"},
    {"message.model", "CLUSTERING", "BROADCASTING", "clustering"},
    {"consume.from", "LAST_OFFSET", "TIMESTAMP", "LATEST"},
    {"consume.timestamp.ms", "0", "1700000000000", "-1"},
    {"consume.threads", "20", "1000", "1001"},
    {"consume.batch.size", "1", "32", "0"},
    {"consume.timeout.ms", "900000", "1000", "0"},
    {"pull.batch.size", "32", "1024", "1025"},
    {"pull.threshold.queue.msgs", "1000", "5", "0"},
    {"pull.threshold.queue.mb", "100", "1", "0"},
    {"pull.suspend.ms", "15000", "1000", "-1"},
    {"rebalance.interval.ms", "20000", "1000", "0"},
    {"auto.commit.interval.ms", "5000", "500", "0"},
    {"enable.auto.commit", "true", "false", "yes"},
    {"reconsume.delay.ms", "1000", "0", "-1"},
    {"max.reconsume.times", "16", "0", "-1"},
    {"offset.store.dir", NULL, "/var/lib/rill", NULL},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static void get_eq(const rill_conf_t *c, const char *key, const char *want)
{
    char buf[2048];
    size_t sz = sizeof(buf);
    int rc = rill_conf_get(c, key, buf, &sz);
    cr_assert_eq(rc, 0, "get %s: %d %s", key, rc, rill_last_error());
    cr_assert_str_eq(buf, want, "key %s", key);
    cr_assert_eq(sz, strlen(want) + 1);
}

Test(conf, defaults_as_documented)
{
    rill_conf_t *c = rill_conf_new();
    cr_assert_not_null(c);
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].def)
            get_eq(c, keys[i].key, keys[i].def);
    rill_conf_destroy(c);
}

Test(conf, every_key_settable_and_readable)
{
    rill_conf_t *c = rill_conf_new();
    char err[256];
    for (size_t i = 0; i < N_KEYS; i++) {
        int rc = rill_conf_set(c, keys[i].key, keys[i].good, err, sizeof(err));
        cr_assert_eq(rc, 0, "%s=%s: %s", keys[i].key, keys[i].good, err);
        get_eq(c, keys[i].key, keys[i].good);
    }
    /* the typed fields the handles read */
    cr_assert_eq(c->send_retries, 16);
    cr_assert_eq(c->message_model, RC_BROADCASTING);
    cr_assert_eq(c->consume_from, RC_FROM_TIMESTAMP);
    cr_assert_eq(c->enable_auto_commit, false);
    cr_assert_eq(c->pull_batch_size, 1024);
    cr_assert_str_eq(c->namesrv, "10.0.0.1:9876;10.0.0.2:9876");
    rill_conf_destroy(c);
}

Test(conf, bad_values_refused_and_conf_unchanged)
{
    rill_conf_t *c = rill_conf_new();
    char err[256];
    for (size_t i = 0; i < N_KEYS; i++) {
        if (!keys[i].bad)
            continue;
        err[0] = '\0';
        int rc = rill_conf_set(c, keys[i].key, keys[i].bad, err, sizeof(err));
        cr_assert_eq(rc, RILL_ECONFIG, "%s=%s accepted", keys[i].key, keys[i].bad);
        cr_assert(strstr(err, keys[i].key) != NULL, "%s", err);
        cr_assert_str_eq(rill_last_error(), err);
        get_eq(c, keys[i].key, keys[i].def);
    }
    rill_conf_destroy(c);
}

Test(conf, exact_error_texts)
{
    rill_conf_t *c = rill_conf_new();
    char err[256];
    cr_assert_eq(rill_conf_set(c, "foo", "1", err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "unknown key 'foo'");
    cr_assert_eq(rill_conf_set(c, "send.retries", "x", err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "bad value 'x' for key 'send.retries': expected an integer in [0, 16]");
    cr_assert_eq(rill_conf_set(c, "message.model", "P2P", err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "bad value 'P2P' for key 'message.model': expected one of CLUSTERING, "
                          "BROADCASTING");
    cr_assert_eq(rill_conf_set(c, "enable.auto.commit", "1", err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "bad value '1' for key 'enable.auto.commit': expected true or false");
    char big[300];
    memset(big, 'g', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(rill_conf_set(c, "group", big, err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "value for key 'group' is too long: 299 bytes, at most 255");
    /* errstr may be NULL with size 0; a tiny errstr is cut, NUL-terminated */
    cr_assert_eq(rill_conf_set(c, "foo", "1", NULL, 0), RILL_ECONFIG);
    char tiny[5];
    cr_assert_eq(rill_conf_set(c, "foo", "1", tiny, sizeof(tiny)), RILL_ECONFIG);
    cr_assert_str_eq(tiny, "unkn");
    cr_assert_eq(rill_conf_set(c, "send.retries", NULL, err, sizeof(err)), RILL_ECONFIG);
    rill_conf_destroy(c);
}

Test(conf, get_sizes_and_unknown_key)
{
    rill_conf_t *c = rill_conf_new();
    cr_assert_eq(rill_conf_set(c, "group", "G1", NULL, 0), 0);
    size_t sz = 0;
    cr_assert_eq(rill_conf_get(c, "group", NULL, &sz), 0);
    cr_assert_eq(sz, 3);
    char small[2];
    sz = sizeof(small);
    cr_assert_eq(rill_conf_get(c, "group", small, &sz), RILL_ENOSPACE);
    cr_assert_eq(sz, 3);
    char buf[3];
    sz = sizeof(buf);
    cr_assert_eq(rill_conf_get(c, "group", buf, &sz), 0);
    cr_assert_str_eq(buf, "G1");
    sz = sizeof(buf);
    cr_assert_eq(rill_conf_get(c, "nope", buf, &sz), RILL_ECONFIG);
    cr_assert_str_eq(rill_last_error(), "unknown key 'nope'");
    rill_conf_destroy(c);
}

Test(conf, dup_is_deep_and_independent)
{
    rill_conf_t *c = rill_conf_new();
    cr_assert_eq(rill_conf_set(c, "group", "A", NULL, 0), 0);
    rill_conf_t *d = rill_conf_dup(c);
    cr_assert_not_null(d);
    cr_assert_eq(rill_conf_set(c, "group", "B", NULL, 0), 0);
    get_eq(d, "group", "A");
    get_eq(c, "group", "B");
    rill_conf_destroy(c);
    rill_conf_destroy(d);
    rill_conf_destroy(NULL);
    cr_assert_null(rill_conf_dup(NULL));
}

Test(conf, namesrv_from_environment)
{
    /* each Criterion test runs in its own process: the environment is ours */
    unsetenv("RILL_NAMESRV");
    unsetenv("NAMESRV_ADDR");
    rill_conf_t *c = rill_conf_new();
    get_eq(c, "namesrv", "127.0.0.1:9876");
    rill_conf_destroy(c);

    setenv("NAMESRV_ADDR", "10.1.1.1:9876", 1);
    c = rill_conf_new();
    get_eq(c, "namesrv", "10.1.1.1:9876");
    rill_conf_destroy(c);

    setenv("RILL_NAMESRV", "10.2.2.2:9876;10.3.3.3:9876", 1);
    c = rill_conf_new();
    get_eq(c, "namesrv", "10.2.2.2:9876;10.3.3.3:9876");
    rill_conf_destroy(c);
}

Test(conf, offset_store_dir_from_home)
{
    setenv("HOME", "/home/someone", 1);
    rill_conf_t *c = rill_conf_new();
    get_eq(c, "offset.store.dir", "/home/someone/.rill_offsets");
    rill_conf_destroy(c);
    unsetenv("HOME");
    c = rill_conf_new();
    get_eq(c, "offset.store.dir", "/tmp/.rill_offsets");
    rill_conf_destroy(c);
}
