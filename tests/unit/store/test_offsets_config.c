/*
 * Consumer offsets and topic/group configuration blobs kept by the store:
 * commit/get/overwrite, per-group walks (a group that is a prefix of another
 * must not see the other's offsets), deletes, bad arguments, and that all of
 * it survives a close and reopen.
 */
#include "broker/store/store.h"
#include "common/clock.h"
#include "common/errors.h"
#include "store_test_util.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static char g_dir[512];
static store_config_t g_cfg;
static store_t *g_store;

static void setup(void)
{
    ts_mkdtemp(g_dir, sizeof(g_dir), "offsets");
    stu_config(&g_cfg, g_dir, STU_SEG_64K);
    cr_assert_eq(store_open(&g_store, &g_cfg), 0);
}

static void teardown(void)
{
    store_close(g_store);
    g_store = NULL;
    if (g_dir[0])
        ts_rmtree(g_dir);
}

static void reopen(void)
{
    store_close(g_store);
    g_store = NULL;
    cr_assert_eq(store_open(&g_store, &g_cfg), 0);
}

TestSuite(store_offsets, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(store_conf, .init = setup, .fini = teardown, .timeout = 60);

/* ---- consumer offsets ---------------------------------------------------- */

typedef struct seen_offset {
    char group[64], topic[64];
    uint32_t queue_id;
    uint64_t offset, update_ts;
} seen_offset_t;

typedef struct offset_walk {
    seen_offset_t items[64];
    size_t n;
    size_t stop_after; /* 0: never stop */
} offset_walk_t;

static int collect_offset(void *arg, const char *group, const char *topic, uint32_t queue_id,
                          uint64_t offset, uint64_t update_ts)
{
    offset_walk_t *w = arg;
    cr_assert_lt(w->n, 64);
    seen_offset_t *it = &w->items[w->n++];
    snprintf(it->group, sizeof(it->group), "%s", group);
    snprintf(it->topic, sizeof(it->topic), "%s", topic);
    it->queue_id = queue_id;
    it->offset = offset;
    it->update_ts = update_ts;
    return (w->stop_after && w->n == w->stop_after) ? 42 : 0;
}

static const seen_offset_t *find_offset(const offset_walk_t *w, const char *group,
                                        const char *topic, uint32_t queue_id)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->items[i].group, group) == 0 && strcmp(w->items[i].topic, topic) == 0 &&
            w->items[i].queue_id == queue_id)
            return &w->items[i];
    return NULL;
}

static uint64_t get_off(const char *g, const char *t, uint32_t q)
{
    uint64_t v = UINT64_MAX;
    cr_assert_eq(store_offset_get(g_store, g, t, q, &v), 0, "%s/%s/%u", g, t, q);
    return v;
}

Test(store_offsets, commit_get_overwrite_unknown)
{
    uint64_t v = 777;
    cr_assert_eq(store_offset_get(g_store, "g", "T", 0, &v), RILL_ENOTFOUND);
    cr_assert_eq(v, 777); /* written only on success */

    cr_assert_eq(store_offset_commit(g_store, "g", "T", 0, 5), 0);
    cr_assert_eq(get_off("g", "T", 0), 5);
    cr_assert_eq(store_offset_commit(g_store, "g", "T", 0, 9), 0);
    cr_assert_eq(get_off("g", "T", 0), 9);
    /* going backwards is allowed (a reset) */
    cr_assert_eq(store_offset_commit(g_store, "g", "T", 0, 3), 0);
    cr_assert_eq(get_off("g", "T", 0), 3);
    cr_assert_eq(store_offset_commit(g_store, "g", "T", 1, UINT64_MAX - 1), 0);
    cr_assert_eq(get_off("g", "T", 1), UINT64_MAX - 1);
    cr_assert_eq(store_offset_commit(g_store, "g", "T", UINT32_MAX, 1), 0);
    cr_assert_eq(get_off("g", "T", UINT32_MAX), 1);

    /* neighbours of the committed key stay unknown */
    cr_assert_eq(store_offset_get(g_store, "g", "T", 2, &v), RILL_ENOTFOUND);
    cr_assert_eq(store_offset_get(g_store, "g", "T2", 0, &v), RILL_ENOTFOUND);
    cr_assert_eq(store_offset_get(g_store, "g1", "T", 0, &v), RILL_ENOTFOUND);
    cr_assert_eq(store_offset_get(g_store, "", "T", 0, &v), RILL_EINVAL);
    cr_assert_eq(store_offset_get(g_store, "g", "", 0, &v), RILL_EINVAL);
    cr_assert_eq(store_offset_get(g_store, NULL, "T", 0, &v), RILL_EINVAL);
    cr_assert_eq(store_offset_commit(g_store, "", "T", 0, 1), RILL_EINVAL);
    cr_assert_eq(store_offset_commit(g_store, "g", NULL, 0, 1), RILL_EINVAL);
}

/* g: T/0, T/1, U/0; g1: T/0; f: T/0; h: T/0 */
static void commit_groups(void)
{
    cr_assert_eq(store_offset_commit(g_store, "g", "T", 0, 10), 0);
    cr_assert_eq(store_offset_commit(g_store, "g", "T", 1, 11), 0);
    cr_assert_eq(store_offset_commit(g_store, "g", "U", 0, 12), 0);
    cr_assert_eq(store_offset_commit(g_store, "g1", "T", 0, 20), 0);
    cr_assert_eq(store_offset_commit(g_store, "f", "T", 0, 30), 0);
    cr_assert_eq(store_offset_commit(g_store, "h", "T", 0, 40), 0);
}

Test(store_offsets, foreach_one_group_and_all)
{
    uint64_t before = rill_now_ms();
    commit_groups();
    uint64_t after = rill_now_ms();

    offset_walk_t w = {0};
    cr_assert_eq(store_offset_foreach(g_store, "g", collect_offset, &w), 0);
    cr_assert_eq(w.n, 3);
    for (size_t i = 0; i < w.n; i++)
        cr_assert_str_eq(w.items[i].group, "g");
    cr_assert_eq(find_offset(&w, "g", "T", 0)->offset, 10);
    cr_assert_eq(find_offset(&w, "g", "T", 1)->offset, 11);
    cr_assert_eq(find_offset(&w, "g", "U", 0)->offset, 12);
    for (size_t i = 0; i < w.n; i++) {
        cr_assert_geq(w.items[i].update_ts, before);
        cr_assert_leq(w.items[i].update_ts, after);
    }

    memset(&w, 0, sizeof(w));
    cr_assert_eq(store_offset_foreach(g_store, "g1", collect_offset, &w), 0);
    cr_assert_eq(w.n, 1);
    cr_assert_str_eq(w.items[0].group, "g1");
    cr_assert_eq(w.items[0].offset, 20);

    memset(&w, 0, sizeof(w));
    cr_assert_eq(store_offset_foreach(g_store, "nobody", collect_offset, &w), 0);
    cr_assert_eq(w.n, 0);
    memset(&w, 0, sizeof(w));
    cr_assert_eq(store_offset_foreach(g_store, "", collect_offset, &w), RILL_EINVAL);
    cr_assert_eq(w.n, 0); /* "" is no group's name, as for commit */

    memset(&w, 0, sizeof(w));
    cr_assert_eq(store_offset_foreach(g_store, NULL, collect_offset, &w), 0);
    cr_assert_eq(w.n, 6);
    cr_assert_eq(find_offset(&w, "f", "T", 0)->offset, 30);
    cr_assert_eq(find_offset(&w, "g1", "T", 0)->offset, 20);
    cr_assert_eq(find_offset(&w, "h", "T", 0)->offset, 40);
    cr_assert_eq(find_offset(&w, "g", "U", 0)->offset, 12);

    /* a nonzero return stops the walk and is returned */
    memset(&w, 0, sizeof(w));
    w.stop_after = 2;
    cr_assert_eq(store_offset_foreach(g_store, NULL, collect_offset, &w), 42);
    cr_assert_eq(w.n, 2);
    memset(&w, 0, sizeof(w));
    w.stop_after = 1;
    cr_assert_eq(store_offset_foreach(g_store, "g", collect_offset, &w), 42);
    cr_assert_eq(w.n, 1);
}

Test(store_offsets, delete_topic_then_group)
{
    commit_groups();
    uint64_t v;
    cr_assert_eq(store_offset_delete(g_store, "g", "T"), 0);
    cr_assert_eq(store_offset_get(g_store, "g", "T", 0, &v), RILL_ENOTFOUND);
    cr_assert_eq(store_offset_get(g_store, "g", "T", 1, &v), RILL_ENOTFOUND);
    cr_assert_eq(get_off("g", "U", 0), 12);
    cr_assert_eq(get_off("g1", "T", 0), 20); /* a group named with g as prefix is untouched */
    cr_assert_eq(get_off("f", "T", 0), 30);

    offset_walk_t w = {0};
    cr_assert_eq(store_offset_foreach(g_store, "g", collect_offset, &w), 0);
    cr_assert_eq(w.n, 1);
    cr_assert_str_eq(w.items[0].topic, "U");

    /* deleting what is not there is fine */
    cr_assert_eq(store_offset_delete(g_store, "g", "T"), 0);
    cr_assert_eq(store_offset_delete(g_store, "nobody", NULL), 0);

    cr_assert_eq(store_offset_delete(g_store, "g", NULL), 0);
    cr_assert_eq(store_offset_get(g_store, "g", "U", 0, &v), RILL_ENOTFOUND);
    cr_assert_eq(get_off("g1", "T", 0), 20);
    cr_assert_eq(get_off("h", "T", 0), 40);
    memset(&w, 0, sizeof(w));
    cr_assert_eq(store_offset_foreach(g_store, NULL, collect_offset, &w), 0);
    cr_assert_eq(w.n, 3);
    cr_assert_null(find_offset(&w, "g", "U", 0));

    cr_assert_eq(store_offset_delete(g_store, "", NULL), RILL_EINVAL);
    cr_assert_eq(store_offset_delete(g_store, NULL, NULL), RILL_EINVAL);

    /* the prefix the other way round: deleting g1 leaves a recommitted g alone */
    cr_assert_eq(store_offset_commit(g_store, "g", "T", 0, 99), 0);
    cr_assert_eq(store_offset_delete(g_store, "g1", NULL), 0);
    cr_assert_eq(get_off("g", "T", 0), 99);
    cr_assert_eq(store_offset_get(g_store, "g1", "T", 0, &v), RILL_ENOTFOUND);
}

Test(store_offsets, many_queues_delete_whole_group)
{
    char topic[16];
    for (int t = 0; t < 5; t++) {
        snprintf(topic, sizeof(topic), "T%d", t);
        for (uint32_t q = 0; q < 40; q++) {
            cr_assert_eq(store_offset_commit(g_store, "big", topic, q, (uint64_t)t * 1000 + q), 0);
            cr_assert_eq(store_offset_commit(g_store, "big2", topic, q, 1), 0);
        }
    }
    offset_walk_t w = {0};
    w.stop_after = 64; /* the walk stops at the array size */
    cr_assert_eq(store_offset_foreach(g_store, "big", collect_offset, &w), 42);
    cr_assert_eq(store_offset_delete(g_store, "big", "T3"), 0);
    uint64_t v;
    for (uint32_t q = 0; q < 40; q++) {
        cr_assert_eq(store_offset_get(g_store, "big", "T3", q, &v), RILL_ENOTFOUND);
        cr_assert_eq(get_off("big", "T4", q), 4000 + q);
    }
    cr_assert_eq(store_offset_delete(g_store, "big", NULL), 0);
    for (int t = 0; t < 5; t++) {
        snprintf(topic, sizeof(topic), "T%d", t);
        for (uint32_t q = 0; q < 40; q++) {
            cr_assert_eq(store_offset_get(g_store, "big", topic, q, &v), RILL_ENOTFOUND);
            cr_assert_eq(get_off("big2", topic, q), 1);
        }
    }
}

Test(store_offsets, survive_reopen)
{
    commit_groups();
    cr_assert_eq(store_offset_commit(g_store, "g", "T", 1, 111), 0);
    cr_assert_eq(store_offset_delete(g_store, "h", NULL), 0);
    reopen();
    cr_assert_eq(get_off("g", "T", 0), 10);
    cr_assert_eq(get_off("g", "T", 1), 111);
    cr_assert_eq(get_off("g", "U", 0), 12);
    cr_assert_eq(get_off("g1", "T", 0), 20);
    cr_assert_eq(get_off("f", "T", 0), 30);
    uint64_t v;
    cr_assert_eq(store_offset_get(g_store, "h", "T", 0, &v), RILL_ENOTFOUND);
    offset_walk_t w = {0};
    cr_assert_eq(store_offset_foreach(g_store, NULL, collect_offset, &w), 0);
    cr_assert_eq(w.n, 5);
    cr_assert_eq(store_offset_commit(g_store, "g", "T", 0, 1234), 0);
    reopen();
    cr_assert_eq(get_off("g", "T", 0), 1234);
}

/* ---- config blobs -------------------------------------------------------- */

typedef struct conf_walk {
    char names[16][64];
    char blobs[16][64];
    size_t lens[16];
    size_t n;
} conf_walk_t;

static int collect_conf(void *arg, const char *name, const void *blob, size_t len)
{
    conf_walk_t *w = arg;
    cr_assert_lt(w->n, 16);
    cr_assert_lt(len, 64);
    snprintf(w->names[w->n], sizeof(w->names[0]), "%s", name);
    memcpy(w->blobs[w->n], blob, len);
    w->lens[w->n] = len;
    w->n++;
    return 0;
}

static void expect_blob(int table, const char *name, const char *want)
{
    char buf[256];
    size_t len = 0;
    cr_assert_eq(store_conf_get(g_store, table, name, buf, sizeof(buf), &len), 0, "%s", name);
    cr_assert_eq(len, strlen(want));
    cr_assert(memcmp(buf, want, len) == 0);
}

Test(store_conf, put_get_overwrite_delete)
{
    cr_assert_eq(store_conf_put(g_store, STORE_TOPICS, "TopicA", "perm=6;queues=8", 15), 0);
    cr_assert_eq(store_conf_put(g_store, STORE_GROUPS, "TopicA", "a group", 7), 0);
    expect_blob(STORE_TOPICS, "TopicA", "perm=6;queues=8");
    expect_blob(STORE_GROUPS, "TopicA", "a group"); /* separate tables */

    cr_assert_eq(store_conf_put(g_store, STORE_TOPICS, "TopicA", "perm=4", 6), 0);
    expect_blob(STORE_TOPICS, "TopicA", "perm=4");

    /* binary blob with NULs */
    const char bin[] = {0, 1, 2, 0, (char)0xFF};
    cr_assert_eq(store_conf_put(g_store, STORE_GROUPS, "bin", bin, sizeof(bin)), 0);
    char buf[64];
    size_t len = 0;
    cr_assert_eq(store_conf_get(g_store, STORE_GROUPS, "bin", buf, sizeof(buf), &len), 0);
    cr_assert_eq(len, sizeof(bin));
    cr_assert(memcmp(buf, bin, sizeof(bin)) == 0);

    /* empty blob */
    cr_assert_eq(store_conf_put(g_store, STORE_TOPICS, "empty", NULL, 0), 0);
    len = 99;
    cr_assert_eq(store_conf_get(g_store, STORE_TOPICS, "empty", buf, sizeof(buf), &len), 0);
    cr_assert_eq(len, 0);

    /* too small a buffer: size reported */
    len = 0;
    cr_assert_eq(store_conf_get(g_store, STORE_TOPICS, "TopicA", buf, 5, &len), RILL_ENOSPACE);
    cr_assert_eq(len, 6);
    len = 0;
    cr_assert_eq(store_conf_get(g_store, STORE_TOPICS, "TopicA", buf, 6, &len), 0);
    cr_assert_eq(len, 6);

    cr_assert_eq(store_conf_del(g_store, STORE_TOPICS, "TopicA"), 0);
    cr_assert_eq(store_conf_get(g_store, STORE_TOPICS, "TopicA", buf, sizeof(buf), &len),
                 RILL_ENOTFOUND);
    expect_blob(STORE_GROUPS, "TopicA", "a group");
    cr_assert_eq(store_conf_get(g_store, STORE_TOPICS, "Never", buf, sizeof(buf), &len),
                 RILL_ENOTFOUND);
}

Test(store_conf, bad_arguments)
{
    char buf[16];
    size_t len;
    cr_assert_eq(store_conf_put(g_store, 2, "x", "v", 1), RILL_EINVAL);
    cr_assert_eq(store_conf_put(g_store, -1, "x", "v", 1), RILL_EINVAL);
    cr_assert_eq(store_conf_put(g_store, STORE_TOPICS, "", "v", 1), RILL_EINVAL);
    cr_assert_eq(store_conf_put(g_store, STORE_TOPICS, NULL, "v", 1), RILL_EINVAL);
    cr_assert_eq(store_conf_put(g_store, STORE_TOPICS, "x", NULL, 1), RILL_EINVAL);
    cr_assert_eq(store_conf_get(g_store, 2, "x", buf, sizeof(buf), &len), RILL_EINVAL);
    cr_assert_eq(store_conf_get(g_store, STORE_GROUPS, "", buf, sizeof(buf), &len), RILL_EINVAL);
    cr_assert_eq(store_conf_del(g_store, 7, "x"), RILL_EINVAL);
    cr_assert_eq(store_conf_del(g_store, STORE_TOPICS, ""), RILL_EINVAL);
    cr_assert_eq(store_conf_foreach(g_store, 2, collect_conf, NULL), RILL_EINVAL);
    char longname[300];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    cr_assert_eq(store_conf_put(g_store, STORE_TOPICS, longname, "v", 1), RILL_EINVAL);
    /* nothing was stored by the failed calls */
    conf_walk_t w = {0};
    cr_assert_eq(store_conf_foreach(g_store, STORE_TOPICS, collect_conf, &w), 0);
    cr_assert_eq(w.n, 0);
}

Test(store_conf, foreach_and_survive_reopen)
{
    cr_assert_eq(store_conf_put(g_store, STORE_TOPICS, "b-topic", "B", 1), 0);
    cr_assert_eq(store_conf_put(g_store, STORE_TOPICS, "a-topic", "AA", 2), 0);
    cr_assert_eq(store_conf_put(g_store, STORE_TOPICS, "c-topic", "CCC", 3), 0);
    cr_assert_eq(store_conf_put(g_store, STORE_GROUPS, "grp", "G", 1), 0);
    cr_assert_eq(store_conf_put(g_store, STORE_GROUPS, "gone", "X", 1), 0);
    cr_assert_eq(store_conf_del(g_store, STORE_GROUPS, "gone"), 0);

    conf_walk_t w = {0};
    cr_assert_eq(store_conf_foreach(g_store, STORE_TOPICS, collect_conf, &w), 0);
    cr_assert_eq(w.n, 3);
    cr_assert_str_eq(w.names[0], "a-topic"); /* name order */
    cr_assert_str_eq(w.names[1], "b-topic");
    cr_assert_str_eq(w.names[2], "c-topic");
    cr_assert_eq(w.lens[0], 2);
    cr_assert(memcmp(w.blobs[0], "AA", 2) == 0);
    cr_assert_eq(w.lens[2], 3);
    cr_assert(memcmp(w.blobs[2], "CCC", 3) == 0);

    memset(&w, 0, sizeof(w));
    cr_assert_eq(store_conf_foreach(g_store, STORE_GROUPS, collect_conf, &w), 0);
    cr_assert_eq(w.n, 1);
    cr_assert_str_eq(w.names[0], "grp");

    reopen();
    expect_blob(STORE_TOPICS, "a-topic", "AA");
    expect_blob(STORE_TOPICS, "b-topic", "B");
    expect_blob(STORE_TOPICS, "c-topic", "CCC");
    expect_blob(STORE_GROUPS, "grp", "G");
    char buf[8];
    size_t len;
    cr_assert_eq(store_conf_get(g_store, STORE_GROUPS, "gone", buf, sizeof(buf), &len),
                 RILL_ENOTFOUND);
    memset(&w, 0, sizeof(w));
    cr_assert_eq(store_conf_foreach(g_store, STORE_TOPICS, collect_conf, &w), 0);
    cr_assert_eq(w.n, 3);
}
