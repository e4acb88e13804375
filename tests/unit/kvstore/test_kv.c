/*
 * test_kv.c - the kvstore contract: persistence, get/put/del, aborting
 * writes, cursor order over big-endian keys, KV_APPEND, clear/count, map
 * growth (alone, under concurrent readers, from another process, at the
 * limit) and argument checking.
 */
#include "kvstore/kv.h"
#include "common/errors.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB       (1ull << 20)
#define VAL_BYTES 100

static char dir[512];
static kv_env_t *env;
static kv_table_t tab;

static void setup(void)
{
    ts_mkdtemp(dir, sizeof(dir), "kv");
}

static void teardown(void)
{
    kv_close(env);
    env = NULL;
    ts_rmtree(dir);
}

TestSuite(kv, .init = setup, .fini = teardown, .timeout = 60);

/* Open env on dir with a small map and no syncing (tests need no durability). */
static void open_env(uint64_t map_size, uint64_t map_size_max)
{
    kv_options_t o = KV_OPTIONS_INIT;
    o.map_size = map_size;
    o.map_size_max = map_size_max;
    o.sync_mode = KV_SYNC_NONE;
    cr_assert_eq(kv_open(&env, dir, &o), 0);
    cr_assert_eq(kv_table_open(env, "t", &tab), 0);
}

static void fill_value(uint8_t *buf, uint64_t id)
{
    for (size_t i = 0; i < VAL_BYTES; i++)
        buf[i] = (uint8_t)(id * 31 + i);
}

static bool value_ok(kv_val_t v, uint64_t id)
{
    uint8_t want[VAL_BYTES];
    fill_value(want, id);
    return v.len == VAL_BYTES && memcmp(v.data, want, VAL_BYTES) == 0;
}

/* A batch of keys first..first+count-1 (big-endian u64) with 100-byte values. */
struct batch {
    kv_table_t t;
    uint64_t first;
    uint64_t count;
    unsigned flags;
    int mode;      /* BATCH_STRICT, BATCH_IGNORE, BATCH_TRANSFORM */
    int fail_rc;   /* returned by fn after the puts when nonzero */
    unsigned runs; /* how many times fn ran: a side effect outside the txn, tests only */
};

enum { BATCH_STRICT, BATCH_IGNORE, BATCH_TRANSFORM };

static int batch_fn(kv_txn_t *txn, void *arg)
{
    struct batch *b = arg;
    b->runs++;
    uint8_t key[8], val[VAL_BYTES];
    for (uint64_t i = 0; i < b->count; i++) {
        kv_be64_put(key, b->first + i);
        fill_value(val, b->first + i);
        int rc = kv_put(txn, b->t, key, sizeof(key), val, sizeof(val), b->flags);
        if (rc != 0 && b->mode == BATCH_STRICT)
            return rc;
        if (rc != 0 && b->mode == BATCH_TRANSFORM)
            return 77; /* a caller's own code: kv_write must still see MAP_FULL */
    }
    return b->fail_rc;
}

static int write_batch(uint64_t first, uint64_t count)
{
    struct batch b = {.t = tab, .first = first, .count = count};
    return kv_write(env, batch_fn, &b);
}

static int get_u64(kv_txn_t *txn, uint64_t id, kv_val_t *v)
{
    uint8_t key[8];
    kv_be64_put(key, id);
    return kv_get(txn, tab, key, sizeof(key), v);
}

/* Every key first..first+count-1 present with its value, and nothing else. */
static void assert_range(uint64_t first, uint64_t count)
{
    kv_txn_t *txn;
    kv_cursor_t *c;
    kv_val_t k, v;
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_count(txn, tab), count);
    cr_assert_eq(kv_cursor_open(txn, tab, &c), 0);
    uint64_t n = 0;
    int rc;
    while ((rc = kv_cursor_next(c, &k, &v)) == 0) {
        cr_assert_eq(k.len, 8);
        cr_assert_eq(kv_be64_get(k.data), first + n);
        cr_assert(value_ok(v, first + n), "value of key %llu", (unsigned long long)(first + n));
        n++;
    }
    cr_assert_eq(rc, RILL_ENOTFOUND);
    cr_assert_eq(n, count);
    kv_cursor_close(c);
    kv_read_end(txn);
}

/* ---- basics ---------------------------------------------------------- */

struct kvpair {
    const char *key;
    const char *val;
};

static int put_pair_fn(kv_txn_t *txn, void *arg)
{
    const struct kvpair *p = arg;
    return kv_put(txn, tab, p->key, strlen(p->key), p->val, strlen(p->val), 0);
}

static int del_key_fn(kv_txn_t *txn, void *arg)
{
    const char *key = arg;
    return kv_del(txn, tab, key, strlen(key));
}

Test(kv, open_close_reopen_persists)
{
    kv_options_t o = KV_OPTIONS_INIT; /* default sync mode: KV_SYNC_NOMETA */
    o.map_size = MIB;
    cr_assert_eq(kv_open(&env, dir, &o), 0);
    cr_assert_eq(kv_map_size(env), MIB);
    cr_assert_eq(kv_table_open(env, "t", &tab), 0);
    kv_table_t other;
    cr_assert_eq(kv_table_open(env, "other", &other), 0);
    cr_assert_neq(other, tab);
    struct kvpair p = {"hello", "world"};
    cr_assert_eq(kv_write(env, put_pair_fn, &p), 0);
    cr_assert_eq(kv_sync(env), 0);
    kv_close(env);
    env = NULL;

    cr_assert_eq(kv_open(&env, dir, NULL), 0);
    kv_table_t again;
    cr_assert_eq(kv_table_open(env, "t", &again), 0);
    tab = again;
    kv_txn_t *txn;
    kv_val_t v;
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_get(txn, tab, "hello", 5, &v), 0);
    cr_assert_eq(v.len, 5);
    cr_assert_eq(memcmp(v.data, "world", 5), 0);
    cr_assert_eq(kv_count(txn, tab), 1);
    kv_read_end(txn);
}

Test(kv, open_creates_one_directory_level)
{
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/kv", dir);
    cr_assert_eq(kv_open(&env, sub, NULL), 0);
    kv_close(env);
    env = NULL;
    char deep[700];
    snprintf(deep, sizeof(deep), "%s/missing/kv", dir);
    kv_env_t *e = (kv_env_t *)0x1;
    cr_assert_eq(kv_open(&e, deep, NULL), ENOENT);
    cr_assert_eq(e, (kv_env_t *)0x1, "out written on failure");
}

Test(kv, put_get_overwrite_del)
{
    open_env(MIB, 0);
    kv_txn_t *txn;
    kv_val_t v = {NULL, 0};

    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_get(txn, tab, "a", 1, &v), RILL_ENOTFOUND);
    cr_assert_null(v.data, "out written on failure");
    kv_read_end(txn);

    struct kvpair p1 = {"a", "one"}, p2 = {"a", "three"};
    cr_assert_eq(kv_write(env, put_pair_fn, &p1), 0);
    cr_assert_eq(kv_write(env, put_pair_fn, &p2), 0);
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_get(txn, tab, "a", 1, &v), 0);
    cr_assert_eq(v.len, 5);
    cr_assert_eq(memcmp(v.data, "three", 5), 0);
    cr_assert_eq(kv_get(txn, tab, "a", 1, NULL), 0, "presence test");
    cr_assert_eq(kv_count(txn, tab), 1);
    kv_read_end(txn);

    cr_assert_eq(kv_write(env, del_key_fn, "a"), 0);
    cr_assert_eq(kv_write(env, del_key_fn, "a"), RILL_ENOTFOUND);
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_get(txn, tab, "a", 1, &v), RILL_ENOTFOUND);
    cr_assert_eq(kv_count(txn, tab), 0);
    kv_read_end(txn);
}

static int empty_value_fn(kv_txn_t *txn, void *arg)
{
    return kv_put(txn, tab, "k", 1, NULL, 0, 0);
}

Test(kv, empty_value)
{
    open_env(MIB, 0);
    cr_assert_eq(kv_write(env, empty_value_fn, NULL), 0);
    kv_txn_t *txn;
    kv_val_t v;
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_get(txn, tab, "k", 1, &v), 0);
    cr_assert_eq(v.len, 0);
    kv_read_end(txn);
}

/* A write sees its own puts; a notfound del leaves the txn usable. */
static int read_own_writes_fn(kv_txn_t *txn, void *arg)
{
    kv_val_t v;
    cr_assert_eq(kv_put(txn, tab, "x", 1, "1", 1, 0), 0);
    cr_assert_eq(kv_get(txn, tab, "x", 1, &v), 0);
    cr_assert_eq(v.len, 1);
    cr_assert_eq(kv_del(txn, tab, "nope", 4), RILL_ENOTFOUND);
    cr_assert_eq(kv_put(txn, tab, "y", 1, "2", 1, 0), 0);
    return 0;
}

Test(kv, write_reads_own_writes)
{
    open_env(MIB, 0);
    cr_assert_eq(kv_write(env, read_own_writes_fn, NULL), 0);
    kv_txn_t *txn;
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_count(txn, tab), 2);
    kv_read_end(txn);
}

Test(kv, write_fn_error_aborts)
{
    open_env(MIB, 0);
    cr_assert_eq(write_batch(0, 10), 0);
    struct batch b = {.t = tab, .first = 10, .count = 100, .fail_rc = RILL_ETOPIC};
    cr_assert_eq(kv_write(env, batch_fn, &b), RILL_ETOPIC);
    b.fail_rc = 42; /* positive values pass through too */
    cr_assert_eq(kv_write(env, batch_fn, &b), 42);
    cr_assert_eq(b.runs, 2);
    assert_range(0, 10); /* none of the aborted puts is visible */
}

Test(kv, read_txn_is_a_snapshot)
{
    open_env(MIB, 0);
    cr_assert_eq(write_batch(0, 5), 0);
    kv_txn_t *old, *old2;
    cr_assert_eq(kv_read_begin(env, &old), 0);
    /* MDB_NOTLS: a second read txn on the same thread is fine. */
    cr_assert_eq(kv_read_begin(env, &old2), 0);
    kv_read_end(old2);
    /* ... but writing while holding one is refused rather than risking a deadlock. */
    cr_assert_eq(write_batch(5, 5), RILL_EINVAL);
    kv_table_t t2;
    cr_assert_eq(kv_table_open(env, "t2", &t2), RILL_EINVAL);
    kv_read_end(old);

    cr_assert_eq(kv_read_begin(env, &old), 0);
    cr_assert_eq(write_batch(5, 5), RILL_EINVAL);
    kv_read_end(old);
    cr_assert_eq(kv_read_begin(env, &old), 0);
    kv_val_t v;
    cr_assert_eq(get_u64(old, 7, &v), RILL_ENOTFOUND);
    kv_read_end(old);
    cr_assert_eq(write_batch(5, 5), 0);
    assert_range(0, 10);
}

/* Another thread's open read txn does not block this thread's writes. */
static void *hold_read(void *arg)
{
    kv_txn_t **out = arg;
    cr_assert_eq(kv_read_begin(env, out), 0);
    return NULL;
}

Test(kv, snapshot_held_by_other_thread)
{
    open_env(MIB, 0);
    cr_assert_eq(write_batch(0, 5), 0);
    kv_txn_t *txn = NULL;
    pthread_t th;
    pthread_create(&th, NULL, hold_read, &txn);
    pthread_join(th, NULL);
    cr_assert_not_null(txn);
    cr_assert_eq(write_batch(5, 5), 0);
    kv_val_t v;
    cr_assert_eq(get_u64(txn, 7, &v), RILL_ENOTFOUND, "old snapshot");
    kv_read_end(txn); /* ended on another thread than the one that began it */
    assert_range(0, 10);
}

static int nested_write_fn(kv_txn_t *txn, void *arg)
{
    int *inner = arg;
    *inner = write_batch(100, 1);
    return 0;
}

Test(kv, nested_write_refused)
{
    open_env(MIB, 0);
    int inner = 0;
    cr_assert_eq(kv_write(env, nested_write_fn, &inner), 0);
    cr_assert_eq(inner, RILL_EINVAL);
}

/* ---- cursors --------------------------------------------------------- */

static const uint64_t ids[] = {1, 255, 256, 65536, 1ull << 32, 1ull << 63};
#define NIDS (sizeof(ids) / sizeof(ids[0]))

static int put_ids_fn(kv_txn_t *txn, void *arg)
{
    /* Insert out of order: the table, not the insertion, orders them. */
    static const unsigned order[NIDS] = {3, 0, 5, 2, 4, 1};
    uint8_t key[8], val[8];
    for (size_t i = 0; i < NIDS; i++) {
        kv_be64_put(key, ids[order[i]]);
        kv_be64_put(val, ids[order[i]] * 10);
        int rc = kv_put(txn, tab, key, 8, val, 8, 0);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static uint64_t key_of(kv_val_t k)
{
    cr_assert_eq(k.len, 8);
    return kv_be64_get(k.data);
}

static int seek(kv_cursor_t *c, uint64_t id, kv_val_t *k, bool le)
{
    uint8_t key[8];
    kv_be64_put(key, id);
    kv_val_t v;
    int rc = le ? kv_cursor_seek_le(c, key, 8, k, &v) : kv_cursor_seek(c, key, 8, k, &v);
    if (rc == 0)
        cr_assert_eq(kv_be64_get(v.data), key_of(*k) * 10);
    return rc;
}

Test(kv, cursor_numeric_order)
{
    open_env(MIB, 0);
    cr_assert_eq(kv_write(env, put_ids_fn, NULL), 0);
    kv_txn_t *txn;
    kv_cursor_t *c;
    kv_val_t k = {NULL, 0}, v;
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_cursor_open(txn, tab, &c), 0);

    /* forward and backward */
    cr_assert_eq(kv_cursor_first(c, &k, &v), 0);
    cr_assert_eq(key_of(k), ids[0]);
    for (size_t i = 1; i < NIDS; i++) {
        cr_assert_eq(kv_cursor_next(c, &k, NULL), 0);
        cr_assert_eq(key_of(k), ids[i]);
    }
    cr_assert_eq(kv_cursor_next(c, &k, &v), RILL_ENOTFOUND);
    cr_assert_eq(key_of(k), ids[NIDS - 1], "untouched on failure");
    /* a failed next leaves the cursor on the last entry */
    cr_assert_eq(kv_cursor_prev(c, &k, NULL), 0);
    cr_assert_eq(key_of(k), ids[NIDS - 2]);
    cr_assert_eq(kv_cursor_last(c, &k, NULL), 0);
    cr_assert_eq(key_of(k), ids[NIDS - 1]);
    for (size_t i = NIDS - 1; i-- > 0;) {
        cr_assert_eq(kv_cursor_prev(c, &k, NULL), 0);
        cr_assert_eq(key_of(k), ids[i]);
    }
    cr_assert_eq(kv_cursor_prev(c, &k, NULL), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_next(c, &k, NULL), 0);
    cr_assert_eq(key_of(k), ids[1]);

    /* seek: first key >= */
    cr_assert_eq(seek(c, 0, &k, false), 0);
    cr_assert_eq(key_of(k), 1);
    cr_assert_eq(seek(c, 255, &k, false), 0);
    cr_assert_eq(key_of(k), 255);
    cr_assert_eq(seek(c, 257, &k, false), 0);
    cr_assert_eq(key_of(k), 65536);
    cr_assert_eq(kv_cursor_next(c, &k, NULL), 0);
    cr_assert_eq(key_of(k), 1ull << 32);
    cr_assert_eq(seek(c, (1ull << 63) + 1, &k, false), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_prev(c, &k, NULL), 0, "prev after a failed seek: the last");
    cr_assert_eq(key_of(k), 1ull << 63);

    /* seek_le: last key <= */
    cr_assert_eq(seek(c, 256, &k, true), 0);
    cr_assert_eq(key_of(k), 256);
    cr_assert_eq(seek(c, 65535, &k, true), 0);
    cr_assert_eq(key_of(k), 256);
    cr_assert_eq(kv_cursor_next(c, &k, NULL), 0);
    cr_assert_eq(key_of(k), 65536);
    cr_assert_eq(seek(c, UINT64_MAX, &k, true), 0);
    cr_assert_eq(key_of(k), 1ull << 63);
    cr_assert_eq(seek(c, 1, &k, true), 0);
    cr_assert_eq(key_of(k), 1);
    cr_assert_eq(seek(c, 0, &k, true), RILL_ENOTFOUND);
    cr_assert_eq(key_of(k), 1, "untouched on failure");
    cr_assert_eq(kv_cursor_next(c, &k, NULL), 0, "next after a failed seek_le: the first");
    cr_assert_eq(key_of(k), 1);

    /* a shorter key sorts before its extensions */
    uint8_t two[2] = {0, 0};
    cr_assert_eq(kv_cursor_seek_le(c, two, 2, &k, NULL), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_seek(c, two, 2, &k, NULL), 0);
    cr_assert_eq(key_of(k), 1);

    kv_cursor_close(c);
    kv_read_end(txn);
}

Test(kv, cursor_empty_table)
{
    open_env(MIB, 0);
    kv_txn_t *txn;
    kv_cursor_t *c;
    kv_val_t k;
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_cursor_open(txn, tab, &c), 0);
    cr_assert_eq(kv_cursor_first(c, &k, NULL), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_last(c, &k, NULL), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_next(c, &k, NULL), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_prev(c, &k, NULL), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_seek(c, "a", 1, &k, NULL), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_seek_le(c, "a", 1, &k, NULL), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_del(c), RILL_EINVAL, "read-only txn");
    kv_cursor_close(c);
    kv_cursor_close(NULL);
    kv_read_end(txn);
    kv_read_end(NULL);
}

/* Delete keys [lo, hi) with a cursor, as retention purges a range. */
struct range {
    uint64_t lo, hi;
    uint64_t deleted;
};

static int cursor_del_range_fn(kv_txn_t *txn, void *arg)
{
    struct range *r = arg;
    kv_cursor_t *c;
    kv_val_t k;
    uint8_t key[8];
    int rc = kv_cursor_open(txn, tab, &c);
    if (rc != 0)
        return rc;
    cr_assert_eq(kv_cursor_del(c), RILL_ENOTFOUND, "no current entry yet");
    r->deleted = 0;
    kv_be64_put(key, r->lo);
    rc = kv_cursor_seek(c, key, 8, &k, NULL);
    while (rc == 0 && kv_be64_get(k.data) < r->hi) {
        if ((rc = kv_cursor_del(c)) != 0)
            goto fail;
        cr_assert_eq(kv_cursor_del(c), RILL_ENOTFOUND, "already deleted");
        r->deleted++;
        rc = kv_cursor_next(c, &k, NULL);
    }
    if (rc == RILL_ENOTFOUND)
        rc = 0;
fail:
    kv_cursor_close(c);
    return rc;
}

Test(kv, cursor_del_range)
{
    open_env(MIB, 0);
    cr_assert_eq(write_batch(0, 5000), 0);
    struct range r = {1000, 4000, 0};
    cr_assert_eq(kv_write(env, cursor_del_range_fn, &r), 0);
    cr_assert_eq(r.deleted, 3000);
    /* delete to the end, then everything */
    r = (struct range){4500, UINT64_MAX, 0};
    cr_assert_eq(kv_write(env, cursor_del_range_fn, &r), 0);
    cr_assert_eq(r.deleted, 500);

    kv_txn_t *txn;
    kv_cursor_t *c;
    kv_val_t k;
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_count(txn, tab), 1500);
    cr_assert_eq(kv_cursor_open(txn, tab, &c), 0);
    uint64_t n = 0;
    while (kv_cursor_next(c, &k, NULL) == 0) {
        uint64_t id = kv_be64_get(k.data);
        cr_assert(id < 1000 || (id >= 4000 && id < 4500), "id %llu", (unsigned long long)id);
        n++;
    }
    cr_assert_eq(n, 1500);
    kv_cursor_close(c);
    kv_read_end(txn);

    r = (struct range){0, UINT64_MAX, 0};
    cr_assert_eq(kv_write(env, cursor_del_range_fn, &r), 0);
    cr_assert_eq(r.deleted, 1500);
    assert_range(0, 0);
}

/* After a cursor delete, prev gives the entry before the deleted one. */
static int cursor_del_prev_fn(kv_txn_t *txn, void *arg)
{
    kv_cursor_t *c;
    kv_val_t k;
    uint8_t key[8];
    cr_assert_eq(kv_cursor_open(txn, tab, &c), 0);
    kv_be64_put(key, 10);
    cr_assert_eq(kv_cursor_seek(c, key, 8, &k, NULL), 0);
    cr_assert_eq(kv_cursor_del(c), 0);
    cr_assert_eq(kv_cursor_prev(c, &k, NULL), 0);
    cr_assert_eq(kv_be64_get(k.data), 9);
    cr_assert_eq(kv_cursor_last(c, &k, NULL), 0);
    cr_assert_eq(kv_cursor_del(c), 0); /* the last one */
    cr_assert_eq(kv_cursor_next(c, &k, NULL), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_prev(c, &k, NULL), 0);
    cr_assert_eq(kv_be64_get(k.data), 18);
    /* kv_clear drops the cursor's position */
    cr_assert_eq(kv_clear(txn, tab), 0);
    cr_assert_eq(kv_cursor_del(c), RILL_ENOTFOUND);
    cr_assert_eq(kv_cursor_first(c, &k, NULL), RILL_ENOTFOUND);
    kv_cursor_close(c);
    return 0;
}

Test(kv, cursor_del_then_prev)
{
    open_env(MIB, 0);
    cr_assert_eq(write_batch(0, 20), 0);
    cr_assert_eq(kv_write(env, cursor_del_prev_fn, NULL), 0);
    assert_range(0, 0);
}

/* ---- KV_APPEND, clear, count ----------------------------------------- */

Test(kv, append_in_order_and_out_of_order)
{
    open_env(MIB, 0);
    struct batch b = {.t = tab, .first = 100, .count = 1000, .flags = KV_APPEND};
    cr_assert_eq(kv_write(env, &batch_fn, &b), 0);
    assert_range(100, 1000);
    /* Keys below the greatest: the hint is wrong, the put still happens. */
    b.first = 0;
    b.count = 100;
    cr_assert_eq(kv_write(env, &batch_fn, &b), 0);
    /* Equal keys overwrite, greater ones append again. */
    b.first = 1050;
    b.count = 100;
    cr_assert_eq(kv_write(env, &batch_fn, &b), 0);
    assert_range(0, 1150);
}

static int clear_fn(kv_txn_t *txn, void *arg)
{
    kv_table_t *t = arg;
    cr_assert_eq(kv_count(txn, *t), 300);
    int rc = kv_clear(txn, *t);
    cr_assert_eq(kv_count(txn, *t), 0);
    return rc;
}

Test(kv, clear_and_count)
{
    open_env(MIB, 0);
    kv_table_t other;
    cr_assert_eq(kv_table_open(env, "other", &other), 0);
    cr_assert_eq(write_batch(0, 300), 0);
    struct batch b = {.t = other, .first = 0, .count = 7};
    cr_assert_eq(kv_write(env, batch_fn, &b), 0);

    kv_txn_t *txn;
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_count(txn, tab), 300);
    cr_assert_eq(kv_count(txn, other), 7);
    kv_read_end(txn);

    cr_assert_eq(kv_write(env, clear_fn, &tab), 0);
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_count(txn, tab), 0);
    cr_assert_eq(kv_count(txn, other), 7, "other tables untouched");
    kv_read_end(txn);
    cr_assert_eq(write_batch(5, 3), 0, "a cleared table is still usable");
    assert_range(5, 3);
}

/* ---- map growth ------------------------------------------------------ */

#define GROW_TOTAL 200000u
#define GROW_BATCH 10000u

Test(kv, map_grows)
{
    open_env(MIB, 0);
    uint64_t before = kv_map_size(env);
    cr_assert_eq(before, MIB);
    for (uint64_t first = 0; first < GROW_TOTAL; first += GROW_BATCH)
        cr_assert_eq(write_batch(first, GROW_BATCH), 0, "batch at %llu", (unsigned long long)first);
    cr_assert_gt(kv_map_size(env), 16 * MIB);
    assert_range(0, GROW_TOTAL);
    /* the grown size is persisted */
    uint64_t grown = kv_map_size(env);
    kv_close(env);
    env = NULL;
    cr_assert_eq(kv_open(&env, dir, NULL), 0);
    cr_assert_eq(kv_table_open(env, "t", &tab), 0);
    cr_assert_geq(kv_map_size(env), grown);
    assert_range(0, GROW_TOTAL);
}

Test(kv, map_full_seen_even_if_fn_ignores_it)
{
    open_env(MIB, 0);
    struct batch b = {.t = tab, .first = 0, .count = 30000, .mode = BATCH_IGNORE};
    cr_assert_eq(kv_write(env, batch_fn, &b), 0);
    cr_assert_gt(b.runs, 1, "fn ran again after growth");
    assert_range(0, 30000);

    b = (struct batch){.t = tab, .first = 30000, .count = 60000, .mode = BATCH_TRANSFORM};
    cr_assert_eq(kv_write(env, batch_fn, &b), 0);
    cr_assert_gt(b.runs, 1);
    assert_range(0, 90000);
}

struct reader {
    atomic_bool stop;
    atomic_ulong loops;
};

static void *reader_loop(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(&r->stop)) {
        kv_txn_t *txn, *nested;
        kv_val_t v;
        cr_assert_eq(kv_read_begin(env, &txn), 0);
        uint64_t n = kv_count(txn, tab);
        cr_assert_geq(n, GROW_BATCH);
        cr_assert_eq(n % GROW_BATCH, 0, "a snapshot holds whole batches");
        cr_assert_eq(get_u64(txn, 0, &v), 0);
        cr_assert(value_ok(v, 0));
        cr_assert_eq(get_u64(txn, n - 1, &v), 0);
        cr_assert(value_ok(v, n - 1));
        /* A cursor keeps pointers into the map between calls: a walk that
         * spans a resize would fault if growth did not wait for readers. */
        kv_cursor_t *c;
        kv_val_t k;
        cr_assert_eq(kv_cursor_open(txn, tab, &c), 0);
        for (uint64_t i = 0; i < 2000; i++) {
            cr_assert_eq(kv_cursor_next(c, &k, &v), 0);
            cr_assert_eq(kv_be64_get(k.data), i);
            cr_assert(value_ok(v, i));
        }
        kv_cursor_close(c);
        /* A second txn on a thread that holds one must not wait for growth. */
        cr_assert_eq(kv_read_begin(env, &nested), 0);
        cr_assert_geq(kv_count(nested, tab), n);
        kv_read_end(nested);
        kv_read_end(txn);
        atomic_fetch_add(&r->loops, 1);
    }
    return NULL;
}

Test(kv, map_grows_under_concurrent_readers)
{
    open_env(MIB, 0);
    cr_assert_eq(write_batch(0, GROW_BATCH), 0);
    struct reader r = {false, 0};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, reader_loop, &r), 0);
    uint64_t before = kv_map_size(env);
    for (uint64_t first = GROW_BATCH; first < GROW_TOTAL; first += GROW_BATCH)
        cr_assert_eq(write_batch(first, GROW_BATCH), 0);
    atomic_store(&r.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_assert_gt(kv_map_size(env), before);
    cr_assert_gt(atomic_load(&r.loops), 0);
    assert_range(0, GROW_TOTAL);
}

struct grower {
    uint64_t first, count;
    int rc;
};

static void *grow_thread(void *arg)
{
    struct grower *g = arg;
    g->rc = write_batch(g->first, g->count);
    return NULL;
}

/*
 * A read txn begun by a thread that has exited is held by this thread, which
 * then begins a second one while growth waits for the first. The owner check
 * cannot see the hand-over; the bounded hold-back keeps it from deadlocking.
 */
Test(kv, growth_with_handed_over_read_txn)
{
    open_env(MIB, 0);
    cr_assert_eq(write_batch(0, 10), 0);
    kv_txn_t *held = NULL, *second;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, hold_read, &held), 0);
    pthread_join(th, NULL);
    cr_assert_not_null(held);

    /* A new thread (possibly reusing the exited one's pthread_t) may write. */
    struct grower g = {10, 20000, -1};
    cr_assert_eq(pthread_create(&th, NULL, grow_thread, &g), 0);
    usleep(200 * 1000); /* let it hit MAP_FULL and wait for `held` */
    cr_assert_eq(kv_map_size(env), MIB, "no growth while a txn is open");
    cr_assert_eq(kv_read_begin(env, &second), 0);
    cr_assert_eq(kv_count(second, tab), 10);
    kv_read_end(second);
    kv_read_end(held);
    pthread_join(th, NULL);
    cr_assert_eq(g.rc, 0);
    cr_assert_gt(kv_map_size(env), MIB);
    assert_range(0, 20010);
}

Test(kv, map_size_max_gives_diskfull_and_stays_usable)
{
    open_env(MIB, 2 * MIB);
    cr_assert_eq(write_batch(0, 1000), 0);
    cr_assert_eq(write_batch(1000, 50000), RILL_EDISKFULL);
    cr_assert_eq(kv_map_size(env), 2 * MIB);
    cr_assert_eq(strncmp(kv_last_error(env), "MDB_MAP_FULL", 12), 0, "%s", kv_last_error(env));
    assert_range(0, 1000);
    cr_assert_eq(write_batch(1000, 100), 0);
    assert_range(0, 1100);
}

/* Another process grows the map; this one adopts the size (MDB_MAP_RESIZED). */
Test(kv, map_grown_by_another_process)
{
    open_env(MIB, 0);
    cr_assert_eq(write_batch(0, 10), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* Child: its own env on the same directory, never the parent's. */
        kv_env_t *e;
        kv_table_t t;
        kv_options_t o = KV_OPTIONS_INIT;
        o.map_size = MIB;
        o.sync_mode = KV_SYNC_NONE;
        if (kv_open(&e, dir, &o) != 0 || kv_table_open(e, "t", &t) != 0)
            _exit(1);
        struct batch b = {.t = t, .first = 10, .count = 40000};
        int rc = kv_write(e, batch_fn, &b);
        kv_close(e);
        _exit(rc == 0 ? 0 : 2);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    cr_assert_eq(kv_map_size(env), MIB);
    assert_range(0, 40010);
    cr_assert_gt(kv_map_size(env), MIB);
    cr_assert_eq(write_batch(40010, 10), 0);
    assert_range(0, 40020);
}

/* ---- limits and arguments -------------------------------------------- */

Test(kv, table_limit)
{
    kv_options_t o = KV_OPTIONS_INIT;
    o.max_tables = 2;
    o.sync_mode = KV_SYNC_NONE;
    cr_assert_eq(kv_open(&env, dir, &o), 0);
    kv_table_t a, b, c = 12345, a2;
    cr_assert_eq(kv_table_open(env, "a", &a), 0);
    cr_assert_eq(kv_table_open(env, "b", &b), 0);
    cr_assert_eq(kv_table_open(env, "c", &c), RILL_EKV);
    cr_assert_eq(c, 12345, "out written on failure");
    cr_assert_eq(strncmp(kv_last_error(env), "MDB_DBS_FULL", 12), 0, "%s", kv_last_error(env));
    cr_assert_eq(kv_table_open(env, "a", &a2), 0);
    cr_assert_eq(a2, a);
}

Test(kv, sync_modes)
{
    kv_options_t o;
    kv_options_init(&o);
    cr_assert_eq(o.sync_mode, KV_SYNC_NOMETA);
    cr_assert_eq(o.map_size, 0);
    kv_options_init(NULL);
    int modes[] = {KV_SYNC_FULL, KV_SYNC_NOMETA, KV_SYNC_NONE};
    for (size_t i = 0; i < 3; i++) {
        o.sync_mode = modes[i];
        o.map_size = MIB;
        cr_assert_eq(kv_open(&env, dir, &o), 0);
        cr_assert_eq(kv_table_open(env, "t", &tab), 0);
        cr_assert_eq(write_batch(i * 10, 10), 0);
        cr_assert_eq(kv_sync(env), 0);
        kv_close(env);
        env = NULL;
    }
    cr_assert_eq(kv_open(&env, dir, NULL), 0);
    cr_assert_eq(kv_table_open(env, "t", &tab), 0);
    assert_range(0, 30);
}

Test(kv, big_endian_helpers)
{
    uint8_t b[8];
    kv_be16_put(b, 0x0102);
    cr_assert(b[0] == 1 && b[1] == 2);
    cr_assert_eq(kv_be16_get(b), 0x0102);
    kv_be32_put(b, 0x01020304u);
    cr_assert(b[0] == 1 && b[3] == 4);
    cr_assert_eq(kv_be32_get(b), 0x01020304u);
    kv_be64_put(b, 0x0102030405060708ull);
    cr_assert(b[0] == 1 && b[7] == 8);
    cr_assert_eq(kv_be64_get(b), 0x0102030405060708ull);
    kv_be64_put(b, UINT64_MAX);
    cr_assert_eq(kv_be64_get(b), UINT64_MAX);
    uint8_t x[8], y[8];
    kv_be64_put(x, 255);
    kv_be64_put(y, 256);
    cr_assert_lt(memcmp(x, y, 8), 0, "byte order is numeric order");
}

static int bad_args_fn(kv_txn_t *txn, void *arg)
{
    uint8_t big[1024] = {0};
    size_t max = kv_max_key_size(env);
    kv_cursor_t *c;
    cr_assert_eq(kv_put(NULL, tab, "k", 1, "v", 1, 0), RILL_EINVAL);
    cr_assert_eq(kv_put(txn, tab, NULL, 1, "v", 1, 0), RILL_EINVAL);
    cr_assert_eq(kv_put(txn, tab, "k", 0, "v", 1, 0), RILL_EINVAL);
    cr_assert_eq(kv_put(txn, tab, big, max + 1, "v", 1, 0), RILL_EINVAL);
    cr_assert_eq(kv_put(txn, tab, "k", 1, NULL, 1, 0), RILL_EINVAL);
    cr_assert_eq(kv_put(txn, tab, "k", 1, "v", 1, 0x80), RILL_EINVAL);
    cr_assert_eq(kv_put(txn, tab + 100, "k", 1, "v", 1, 0), RILL_EINVAL);
    cr_assert_eq(kv_put(txn, 1, "k", 1, "v", 1, 0), RILL_EINVAL, "LMDB's main db");
    cr_assert_eq(kv_del(txn, tab, "k", 0), RILL_EINVAL);
    cr_assert_eq(kv_clear(NULL, tab), RILL_EINVAL);
    cr_assert_eq(kv_clear(txn, tab + 100), RILL_EINVAL);
    cr_assert_eq(kv_cursor_open(txn, tab, NULL), RILL_EINVAL);
    cr_assert_eq(kv_cursor_open(txn, tab + 100, &c), RILL_EINVAL);
    /* none of that spoiled the txn: the longest key still works */
    return kv_put(txn, tab, big, max, "v", 1, 0);
}

Test(kv, invalid_arguments)
{
    kv_env_t *e = NULL;
    kv_options_t o = KV_OPTIONS_INIT;
    cr_assert_eq(kv_open(NULL, dir, NULL), RILL_EINVAL);
    cr_assert_eq(kv_open(&e, NULL, NULL), RILL_EINVAL);
    cr_assert_eq(kv_open(&e, "", NULL), RILL_EINVAL);
    o.sync_mode = 7;
    cr_assert_eq(kv_open(&e, dir, &o), RILL_EINVAL);
    o = (kv_options_t)KV_OPTIONS_INIT;
    o.map_size = 4 * MIB;
    o.map_size_max = 2 * MIB;
    cr_assert_eq(kv_open(&e, dir, &o), RILL_EINVAL);
    o = (kv_options_t)KV_OPTIONS_INIT;
    o.max_tables = KV_TABLES_MAX + 1;
    cr_assert_eq(kv_open(&e, dir, &o), RILL_EINVAL);
    o = (kv_options_t)KV_OPTIONS_INIT;
    o.max_readers = KV_READERS_MAX + 1;
    cr_assert_eq(kv_open(&e, dir, &o), RILL_EINVAL);
    cr_assert_null(e);

    open_env(MIB, 0);
    cr_assert_eq(kv_max_key_size(env), 511);
    kv_table_t t;
    char longname[600];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    cr_assert_eq(kv_table_open(NULL, "x", &t), RILL_EINVAL);
    cr_assert_eq(kv_table_open(env, NULL, &t), RILL_EINVAL);
    cr_assert_eq(kv_table_open(env, "", &t), RILL_EINVAL);
    cr_assert_eq(kv_table_open(env, longname, &t), RILL_EINVAL);
    cr_assert_eq(kv_table_open(env, "x", NULL), RILL_EINVAL);
    cr_assert_eq(kv_write(NULL, bad_args_fn, NULL), RILL_EINVAL);
    cr_assert_eq(kv_write(env, NULL, NULL), RILL_EINVAL);
    cr_assert_eq(kv_sync(NULL), RILL_EINVAL);
    cr_assert_eq(kv_map_size(NULL), 0);
    cr_assert_eq(kv_max_key_size(NULL), 0);
    cr_assert_str_eq(kv_last_error(NULL), "");
    cr_assert_str_eq(kv_last_error(env), "");
    kv_close(NULL);

    cr_assert_eq(kv_write(env, bad_args_fn, NULL), 0);

    kv_txn_t *txn;
    kv_val_t v;
    kv_cursor_t *c;
    cr_assert_eq(kv_read_begin(NULL, &txn), RILL_EINVAL);
    cr_assert_eq(kv_read_begin(env, NULL), RILL_EINVAL);
    cr_assert_eq(kv_read_begin(env, &txn), 0);
    cr_assert_eq(kv_get(NULL, tab, "k", 1, &v), RILL_EINVAL);
    cr_assert_eq(kv_get(txn, tab, NULL, 1, &v), RILL_EINVAL);
    cr_assert_eq(kv_get(txn, tab, "k", 0, &v), RILL_EINVAL);
    cr_assert_eq(kv_get(txn, tab + 100, "k", 1, &v), RILL_EINVAL);
    cr_assert_eq(kv_put(txn, tab, "k", 1, "v", 1, 0), RILL_EINVAL, "read-only txn");
    cr_assert_eq(kv_del(txn, tab, "k", 1), RILL_EINVAL, "read-only txn");
    cr_assert_eq(kv_clear(txn, tab), RILL_EINVAL, "read-only txn");
    cr_assert_eq(kv_count(NULL, tab), 0);
    cr_assert_eq(kv_count(txn, tab + 100), 0);
    cr_assert_eq(kv_count(txn, tab), 1);
    cr_assert_eq(kv_cursor_open(NULL, tab, &c), RILL_EINVAL);
    cr_assert_eq(kv_cursor_open(txn, tab, &c), 0);
    cr_assert_eq(kv_cursor_seek(c, NULL, 1, &v, &v), RILL_EINVAL);
    cr_assert_eq(kv_cursor_seek(c, "k", 0, &v, &v), RILL_EINVAL);
    cr_assert_eq(kv_cursor_seek_le(c, NULL, 1, &v, &v), RILL_EINVAL);
    cr_assert_eq(kv_cursor_seek_le(c, "k", 600, &v, &v), RILL_EINVAL);
    cr_assert_eq(kv_cursor_first(NULL, &v, &v), RILL_EINVAL);
    cr_assert_eq(kv_cursor_last(NULL, &v, &v), RILL_EINVAL);
    cr_assert_eq(kv_cursor_next(NULL, &v, &v), RILL_EINVAL);
    cr_assert_eq(kv_cursor_prev(NULL, &v, &v), RILL_EINVAL);
    cr_assert_eq(kv_cursor_del(NULL), RILL_EINVAL);
    cr_assert_eq(kv_cursor_first(c, NULL, NULL), 0);
    kv_cursor_close(c);
    kv_read_end(txn);
}
