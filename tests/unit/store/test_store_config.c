/*
 * test_store_config.c - the store's config schema (store_config.h): its
 * defaults agree with store_config_defaults(), files load into a
 * store_config_t, bad files fail with "file:line" messages, and store_open()
 * rejects configurations it cannot run with.
 */
#include "broker/store/store.h"
#include "broker/store/store_config.h"
#include "common/config.h"
#include "common/errors.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void field_equal(const rill_cfg_key_t *k, const store_config_t *a, const store_config_t *b)
{
    const char *pa = (const char *)a + k->offset;
    const char *pb = (const char *)b + k->offset;
    switch (k->type) {
    case RILL_CFG_INT: {
        int64_t x, y;
        memcpy(&x, pa, sizeof(x));
        memcpy(&y, pb, sizeof(y));
        cr_assert_eq(x, y, "key %s: schema default %lld, store_config_defaults %lld", k->name,
                     (long long)x, (long long)y);
        break;
    }
    case RILL_CFG_BOOL: {
        bool x, y;
        memcpy(&x, pa, sizeof(x));
        memcpy(&y, pb, sizeof(y));
        cr_assert_eq(x, y, "key %s", k->name);
        break;
    }
    case RILL_CFG_STRING:
        cr_assert_leq(k->offset + k->size, sizeof(store_config_t), "key %s", k->name);
        cr_assert_str_eq(pa, pb, "key %s", k->name);
        break;
    case RILL_CFG_ENUM: {
        int x, y;
        memcpy(&x, pa, sizeof(x));
        memcpy(&y, pb, sizeof(y));
        cr_assert_eq(x, y, "key %s: schema default %d, store_config_defaults %d", k->name, x, y);
        break;
    }
    default:
        cr_assert_fail("key %s has unknown type %d", k->name, (int)k->type);
    }
}

Test(store_config, schema_defaults_match_store_config_defaults)
{
    const rill_cfg_schema_t *schema = store_config_schema();
    cr_assert_not_null(schema);
    cr_assert_eq(schema->keys, store_config_keys);
    cr_assert_eq(schema->count, store_config_key_count);
    cr_assert_geq(store_config_key_count, 16);

    /* Start from two different fillings: the schema must overwrite all its fields. */
    store_config_t a, b, c;
    memset(&a, 0, sizeof(a));
    memset(&c, 0x5A, sizeof(c));
    char err[512] = "";
    cr_assert_eq(rill_cfg_defaults(schema, &a, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(rill_cfg_defaults(schema, &c, err, sizeof(err)), 0, "%s", err);
    store_config_defaults(&b);
    for (size_t i = 0; i < store_config_key_count; i++) {
        const rill_cfg_key_t *k = &store_config_keys[i];
        cr_assert_lt(k->offset, sizeof(store_config_t), "key %s", k->name);
        field_equal(k, &a, &b);
        field_equal(k, &c, &b);
    }
}

Test(store_config, keys_unique_and_findable)
{
    const rill_cfg_schema_t *schema = store_config_schema();
    for (size_t i = 0; i < store_config_key_count; i++) {
        const rill_cfg_key_t *k = &store_config_keys[i];
        cr_assert_eq(rill_cfg_find(schema, k->name), k, "key %s", k->name);
        for (size_t j = i + 1; j < store_config_key_count; j++) {
            cr_assert_str_neq(k->name, store_config_keys[j].name);
            cr_assert_neq(k->offset, store_config_keys[j].offset, "%s and %s share a field",
                          k->name, store_config_keys[j].name);
        }
    }
    /* The keys a broker.conf written for RocketMQ uses. */
    const char *names[] = {"storePathRootDir",     "mappedFileSizeCommitLog", "flushDiskType",
                           "maxMessageSize",       "fileReservedTime",        "deleteWhen",
                           "diskMaxUsedSpaceRatio"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert_not_null(rill_cfg_find(schema, names[i]), "%s", names[i]);
    cr_assert_null(rill_cfg_find(schema, "flushdisktype"), "names are case-sensitive");
}

/* Write text to <dir>/name and return the path in buf. */
static void write_conf(char *buf, size_t cap, const char *dir, const char *name, const char *text)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    cr_assert_eq(ts_write_file(buf, text, strlen(text)), 0);
}

Test(store_config, load_file)
{
    char dir[512], path[1024], err[512] = "";
    ts_mkdtemp(dir, sizeof(dir), "storecfg");
    write_conf(path, sizeof(path), dir, "broker.conf",
               "# store settings\n"
               "flushDiskType = SYNC_FLUSH\n"
               "\n"
               "mappedFileSizeCommitLog=65536\n"
               "  deleteWhen = 04;16  \n"
               "; another comment\n"
               "maxMessageSize: 1024\n");
    store_config_t cfg;
    store_config_defaults(&cfg);
    cfg.store_ip = 0x0A0B0C0D; /* not a schema field: loading must not touch it */
    cfg.store_port = 1234;
    cr_assert_eq(rill_cfg_load_file(store_config_schema(), &cfg, path, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(cfg.flush_disk_type, STORE_SYNC_FLUSH);
    cr_assert_eq(cfg.mapped_file_size_commitlog, 65536);
    cr_assert_str_eq(cfg.delete_when, "04;16");
    cr_assert_eq(cfg.max_message_size, 1024);
    /* Keys not in the file keep their values. */
    cr_assert_eq(cfg.flush_interval_commitlog, 500);
    cr_assert_eq(cfg.file_reserved_time, 72);
    cr_assert_str_eq(cfg.store_path_root_dir, "./data/store");
    cr_assert_eq(cfg.store_ip, 0x0A0B0C0D);
    cr_assert_eq(cfg.store_port, 1234);
    ts_rmtree(dir);
}

/* Load text and expect RILL_ECONFIG with every needle in err and cfg untouched. */
static void expect_load_error(const char *text, const char *const *needles, size_t n)
{
    char dir[512], path[1024], err[512] = "";
    ts_mkdtemp(dir, sizeof(dir), "storecfg");
    write_conf(path, sizeof(path), dir, "bad.conf", text);
    store_config_t cfg, before;
    store_config_defaults(&cfg);
    memcpy(&before, &cfg, sizeof(cfg));
    cr_assert_eq(rill_cfg_load_file(store_config_schema(), &cfg, path, err, sizeof(err)),
                 RILL_ECONFIG);
    for (size_t i = 0; i < n; i++) {
        char needle[1200];
        snprintf(needle, sizeof(needle), needles[i], path);
        cr_assert_not_null(strstr(err, needle), "err '%s' lacks '%s'", err, needle);
    }
    /* All or nothing: lines before the bad one are not applied either. */
    cr_assert(memcmp(&cfg, &before, sizeof(cfg)) == 0, "config changed by a failed load");
    ts_rmtree(dir);
}

Test(store_config, unknown_key_names_file_line_and_key)
{
    const char *needles[] = {"%s:3:", "unknown key 'flushDisk'"};
    expect_load_error("flushDiskType = SYNC_FLUSH\n"
                      "# comment\n"
                      "flushDisk = SYNC_FLUSH\n"
                      "maxMessageSize = 10\n",
                      needles, 2);
}

Test(store_config, bad_enum)
{
    const char *needles[] = {"%s:2:", "flushDiskType", "'SYNC'", "ASYNC_FLUSH, SYNC_FLUSH"};
    expect_load_error("maxMessageSize = 10\nflushDiskType = SYNC\n", needles, 4);
}

Test(store_config, enum_is_case_sensitive)
{
    const char *needles[] = {"%s:1:", "flushDiskType"};
    expect_load_error("flushDiskType = sync_flush\n", needles, 2);
}

Test(store_config, segment_size_out_of_range)
{
    const char *needles[] = {"%s:1:", "mappedFileSizeCommitLog", "'100'"};
    expect_load_error("mappedFileSizeCommitLog=100\n", needles, 3);
}

Test(store_config, segment_size_just_below_minimum)
{
    const char *needles[] = {"%s:2:", "mappedFileSizeCommitLog"};
    expect_load_error("mappedFileSizeCommitLog=65536\nmappedFileSizeCommitLog=65535\n", needles, 2);
}

Test(store_config, max_message_size_above_format_limit)
{
    char text[128];
    snprintf(text, sizeof(text), "maxMessageSize = %u\n", RECORD_BODY_BYTES_MAX + 1);
    const char *needles[] = {"%s:1:", "maxMessageSize"};
    expect_load_error(text, needles, 2);
}

Test(store_config, not_an_integer)
{
    const char *needles[] = {"%s:1:", "fileReservedTime", "'72h'"};
    expect_load_error("fileReservedTime = 72h\n", needles, 3);
}

Test(store_config, set_single_key)
{
    store_config_t cfg;
    store_config_defaults(&cfg);
    char err[256] = "";
    const rill_cfg_schema_t *s = store_config_schema();
    cr_assert_eq(rill_cfg_set(s, &cfg, "mappedFileSizeCommitLog", "131072", err, sizeof(err)), 0);
    cr_assert_eq(cfg.mapped_file_size_commitlog, 131072);
    cr_assert_eq(rill_cfg_set(s, &cfg, "mappedFileSizeCommitLog", "100", err, sizeof(err)),
                 RILL_ECONFIG);
    cr_assert_eq(cfg.mapped_file_size_commitlog, 131072, "unchanged on error");
    cr_assert_eq(rill_cfg_set(s, &cfg, "flushDiskType", "ASYNC_FLUSH", err, sizeof(err)), 0);
    cr_assert_eq(cfg.flush_disk_type, STORE_ASYNC_FLUSH);
    cr_assert_eq(rill_cfg_set(s, &cfg, "noSuchKey", "1", err, sizeof(err)), RILL_ECONFIG);
    cr_assert_not_null(strstr(err, "noSuchKey"), "%s", err);
}

/* ---- store_open rejects what it cannot run with --------------------------- */

static void open_expect(store_config_t *cfg, int want)
{
    char dir[512];
    ts_mkdtemp(dir, sizeof(dir), "storecfg");
    snprintf(cfg->store_path_root_dir, sizeof(cfg->store_path_root_dir), "%s", dir);
    store_t *s = (store_t *)0x1;
    int rc = store_open(&s, cfg);
    cr_assert_eq(rc, want, "store_open returned %d (%s), want %d", rc, rill_strerror(rc), want);
    cr_assert_eq(s, (store_t *)0x1, "out written on failure");
    ts_rmtree(dir);
}

Test(store_config, store_open_rejects_tiny_segments)
{
    store_config_t cfg;
    store_config_defaults(&cfg);
    cfg.mapped_file_size_commitlog = 100;
    open_expect(&cfg, RILL_EINVAL);
}

Test(store_config, store_open_rejects_unaligned_segments)
{
    store_config_t cfg;
    store_config_defaults(&cfg);
    cfg.mapped_file_size_commitlog = 65536 + 1; /* passes the schema, not a page multiple */
    open_expect(&cfg, RILL_EINVAL);
}

Test(store_config, store_open_rejects_bad_values)
{
    store_config_t cfg;
    store_config_defaults(&cfg);
    cfg.max_message_size = 0;
    open_expect(&cfg, RILL_EINVAL);
    store_config_defaults(&cfg);
    cfg.max_message_size = (int64_t)RECORD_BODY_BYTES_MAX + 1;
    open_expect(&cfg, RILL_EINVAL);
    store_config_defaults(&cfg);
    cfg.flush_disk_type = 2;
    open_expect(&cfg, RILL_EINVAL);
    store_config_defaults(&cfg);
    cfg.flush_interval_commitlog = 0;
    open_expect(&cfg, RILL_EINVAL);
}

Test(store_config, store_open_rejects_empty_root_dir)
{
    store_config_t cfg;
    store_config_defaults(&cfg);
    cfg.mapped_file_size_commitlog = 65536;
    cfg.store_path_root_dir[0] = '\0';
    store_t *s = (store_t *)0x1;
    cr_assert_eq(store_open(&s, &cfg), RILL_EINVAL);
    cr_assert_eq(s, (store_t *)0x1);
}

Test(store_config, store_open_rejects_bad_delete_when)
{
    const char *bad[] = {"25", "24", "-1", "4x", "", "04;;", "04,10", "abc"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        store_config_t cfg;
        store_config_defaults(&cfg);
        cfg.mapped_file_size_commitlog = 65536;
        snprintf(cfg.delete_when, sizeof(cfg.delete_when), "%s", bad[i]);
        char dir[512];
        ts_mkdtemp(dir, sizeof(dir), "storecfg");
        snprintf(cfg.store_path_root_dir, sizeof(cfg.store_path_root_dir), "%s", dir);
        store_t *s = (store_t *)0x1;
        int rc = store_open(&s, &cfg);
        cr_assert_eq(rc, RILL_ECONFIG, "deleteWhen '%s': %d (%s)", bad[i], rc, rill_strerror(rc));
        ts_rmtree(dir);
    }
}

Test(store_config, store_open_accepts_loaded_test_config)
{
    char dir[512], path[1024], err[512] = "";
    ts_mkdtemp(dir, sizeof(dir), "storecfg");
    char text[1200];
    snprintf(text, sizeof(text),
             "storePathRootDir = %s/store\n"
             "mappedFileSizeCommitLog = 65536\n"
             "flushDiskType = SYNC_FLUSH\n"
             "deleteWhen = 04;16\n",
             dir);
    write_conf(path, sizeof(path), dir, "broker.conf", text);
    store_config_t cfg;
    store_config_defaults(&cfg);
    cr_assert_eq(rill_cfg_load_file(store_config_schema(), &cfg, path, err, sizeof(err)), 0, "%s",
                 err);
    store_t *s = NULL;
    cr_assert_eq(store_open(&s, &cfg), 0);
    cr_assert_not_null(s);
    store_msg_t m = {.topic = "T", .topic_len = 1, .body = "x", .body_len = 1};
    store_put_result_t r;
    cr_assert_eq(store_put(s, &m, 1, &r), 0);
    cr_assert_eq(r.phys_offset, 0);
    store_close(s);
    char seg[1100];
    snprintf(seg, sizeof(seg), "%s/store/commitlog/00000000000000000000", dir);
    cr_assert_eq(ts_file_size(seg), 65536);
    ts_rmtree(dir);
}
