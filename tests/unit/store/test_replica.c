/*
 * test_replica.c - the store's replication API (commitlog_replica.c):
 * records read with store_replica_read() from one store and appended with
 * store_replica_append() into another give byte-identical segments (across
 * segment ends and their blanks) and readable queues; a wrong offset, a
 * corrupted record or a foreign segment layout is refused, keeping the
 * valid prefix; the window hash matches only equal logs.
 */
#include "store_test_util.h"
#include "support/test_support.h"

#include <stdlib.h>

static void put_n(store_t *s, int from, int n, const char *prefix)
{
    for (int i = from; i < from + n; i++) {
        char body[64];
        snprintf(body, sizeof(body), "%s-%d-%s", prefix, i, i % 7 ? "x" : "a longer body here");
        stu_msg_buf_t b;
        stu_msg(&b, "R", (uint32_t)(i % 3), body, (stu_attrs_t){0});
        store_put_result_t r;
        cr_assert_eq(store_put(s, &b.m, 1, &r), 0);
    }
}

/* Copy everything a has and b lacks, in store_replica_read() chunks of cap bytes. */
static void ship(store_t *a, store_t *b, size_t cap)
{
    uint8_t *buf = malloc(cap);
    cr_assert_not_null(buf);
    for (int guard = 0; guard < 100000; guard++) {
        uint64_t off = store_max_offset(b);
        size_t len = 0;
        cr_assert_eq(store_replica_read(a, off, buf, cap, &len), 0);
        if (len == 0)
            break;
        uint64_t bad = 0;
        cr_assert_eq(store_replica_append(b, off, buf, len, &bad), 0);
        cr_assert_eq(bad, off + len);
    }
    free(buf);
    cr_assert_eq(store_max_offset(a), store_max_offset(b));
}

static void same_files(const char *da, const char *db, uint64_t seg, uint64_t max)
{
    for (uint64_t start = 0; start < max; start += seg) {
        char pa[1024], pb[1024];
        snprintf(pa, sizeof(pa), "%s/commitlog/%020llu", da, (unsigned long long)start);
        snprintf(pb, sizeof(pb), "%s/commitlog/%020llu", db, (unsigned long long)start);
        FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
        cr_assert(fa && fb, "segment %llu missing", (unsigned long long)start);
        static uint8_t x[STU_SEG_64K], y[STU_SEG_64K];
        size_t la = fread(x, 1, sizeof(x), fa), lb = fread(y, 1, sizeof(y), fb);
        fclose(fa);
        fclose(fb);
        cr_assert_eq(la, lb);
        cr_assert_eq(memcmp(x, y, la), 0, "segment %llu differs", (unsigned long long)start);
    }
}

Test(store_replica, byte_identical_across_segments_and_readable)
{
    char da[512], db[512];
    ts_mkdtemp(da, sizeof(da), "replica-a");
    ts_mkdtemp(db, sizeof(db), "replica-b");
    store_config_t ca, cb;
    stu_config(&ca, da, STU_SEG_64K);
    stu_config(&cb, db, STU_SEG_64K);
    store_t *a, *b;
    cr_assert_eq(store_open(&a, &ca), 0);
    cr_assert_eq(store_open(&b, &cb), 0);
    put_n(a, 0, 3000, "m"); /* ~300 KiB: several 64 KiB segments, each closed by a blank */
    ship(a, b, 5000);
    uint64_t max = store_max_offset(a);
    cr_assert_gt(max, 4 * STU_SEG_64K);
    same_files(da, db, STU_SEG_64K, max);
    cr_assert_eq(store_wait_dispatched(b, STU_DISPATCH_WAIT_MS), 0);
    uint64_t lo, hi;
    cr_assert_eq(store_queue_range(b, "R", 1, &lo, &hi), 0);
    cr_assert_eq(hi, 1000);
    /* the window hash agrees on equal logs */
    uint64_t from, ha, hb;
    store_replica_window(b, max, &from);
    cr_assert_lt(from, max);
    cr_assert_eq(store_replica_hash(a, from, max, &ha), 0);
    cr_assert_eq(store_replica_hash(b, from, max, &hb), 0);
    cr_assert_eq(ha, hb);
    /* reopen b: it recovers to the same end and goes on */
    store_close(b);
    cr_assert_eq(store_open(&b, &cb), 0);
    cr_assert_eq(store_max_offset(b), max);
    put_n(a, 3000, 500, "m");
    ship(a, b, 1 << 20);
    same_files(da, db, STU_SEG_64K, store_max_offset(a));
    store_close(a);
    store_close(b);
    ts_rmtree(da);
    ts_rmtree(db);
}

Test(store_replica, refuses_wrong_offset_corruption_and_layout)
{
    char da[512], db[512], dc[512];
    ts_mkdtemp(da, sizeof(da), "replica-a");
    ts_mkdtemp(db, sizeof(db), "replica-b");
    ts_mkdtemp(dc, sizeof(dc), "replica-c");
    store_config_t ca, cb, cc;
    stu_config(&ca, da, STU_SEG_64K);
    stu_config(&cb, db, STU_SEG_64K);
    stu_config(&cc, dc, STU_SEG_1M);
    store_t *a, *b, *c;
    cr_assert_eq(store_open(&a, &ca), 0);
    cr_assert_eq(store_open(&b, &cb), 0);
    cr_assert_eq(store_open(&c, &cc), 0);
    put_n(a, 0, 1000, "m");
    static uint8_t buf[1 << 16];
    size_t len = 0;
    cr_assert_eq(store_replica_read(a, 0, buf, sizeof(buf), &len), 0);
    cr_assert_gt(len, 0);
    uint64_t bad = 0;
    /* not at b's end */
    cr_assert_eq(store_replica_append(b, 100, buf, len, &bad), RILL_ERANGE);
    cr_assert_eq(store_max_offset(b), 0);
    /* flip a byte in the third record: the first two stay */
    record_view_t v1, v2;
    cr_assert_eq(record_decode(buf, len, &v1), 0);
    cr_assert_eq(record_decode(buf + v1.total_size, len - v1.total_size, &v2), 0);
    size_t third = v1.total_size + v2.total_size;
    buf[third + RECORD_HEADER_SIZE + 2] ^= 0x5a;
    cr_assert_eq(store_replica_append(b, 0, buf, len, &bad), RILL_ECORRUPT);
    cr_assert_eq(bad, third);
    cr_assert_eq(store_max_offset(b), third);
    buf[third + RECORD_HEADER_SIZE + 2] ^= 0x5a;
    /* b holds a valid prefix of a: the window hashes agree */
    uint64_t from, ha, hb;
    store_replica_window(b, third, &from);
    cr_assert_eq(store_replica_hash(a, from, third, &ha), 0);
    cr_assert_eq(store_replica_hash(b, from, third, &hb), 0);
    cr_assert_eq(ha, hb);
    /* a log with 1 MiB segments cannot take a 64 KiB segment's closing blank */
    uint64_t off = 0;
    int rc = 0;
    while (rc == 0) {
        cr_assert_eq(store_replica_read(a, off, buf, sizeof(buf), &len), 0);
        cr_assert_gt(len, 0, "reached a's end without a blank");
        rc = store_replica_append(c, off, buf, len, &bad);
        off += len;
    }
    cr_assert_eq(rc, RILL_ECORRUPT);
    cr_assert_lt(bad, (uint64_t)STU_SEG_64K);
    store_close(a);
    store_close(b);
    store_close(c);
    ts_rmtree(da);
    ts_rmtree(db);
    ts_rmtree(dc);
}
