/*
 * Review finding: store_recover() commits the LMDB cut (cut_derived: cq
 * entries past the valid end E removed, meta.dispatched = E) with the store's
 * relaxed sync (MDB_NOMETASYNC: "a system crash may undo the last
 * transaction") and then accepts appends. Until the dispatcher's next commit,
 * a power loss can undo the cut while SYNC_FLUSH appends written over the cut
 * region are already acknowledged. The next recovery then finds LMDB ahead of
 * the log again, cuts only what lies past the *new* end, and keeps the old
 * life's cq entries in between: they point into the middle of the new
 * records (pulls copy them unverified), and the new records are never
 * dispatched (meta.dispatched says they are).
 *
 * The test builds exactly that state: the kv/ directory as it was before the
 * cut (what LMDB reverts to when the cut's meta page is lost) next to a log
 * holding the acknowledged records appended after the cut. kv_sync() right
 * after the cut closes the window on a real disk, but cannot be observed
 * here; the test passes once recovery, when LMDB is ahead of the log, also
 * drops tail cq entries that do not match the record they point to (phys,
 * size, queue id/offset) and re-dispatches from the lowest such entry.
 */
#include "common/record.h"
#include "broker/store/store.h"
#include "common/errors.h"
#include "store_test_util.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[512];
static store_t *g_store;
static uint8_t g_buf[4 << 20];

static void teardown(void)
{
    store_close(g_store);
    g_store = NULL;
    if (g_dir[0])
        ts_rmtree(g_dir);
}

TestSuite(review_cut_sync, .fini = teardown, .timeout = 60);

static void copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY);
    cr_assert_geq(in, 0, "open %s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(out, 0, "open %s: %s", dst, strerror(errno));
    struct stat st;
    cr_assert_eq(fstat(in, &st), 0);
    cr_assert_eq(ftruncate(out, st.st_size), 0);
    static char buf[1 << 16];
    off_t pos = 0;
    while (pos < st.st_size) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0)
            break;
        off_t hole = lseek(in, data, SEEK_HOLE);
        for (off_t p = data; p < hole;) {
            size_t want = (size_t)(hole - p) < sizeof(buf) ? (size_t)(hole - p) : sizeof(buf);
            ssize_t r = pread(in, buf, want, p);
            cr_assert_gt(r, 0);
            cr_assert_eq(pwrite(out, buf, (size_t)r, p), r);
            p += r;
        }
        pos = hole;
    }
    close(in);
    close(out);
}

static void copy_kv(const char *from_root, const char *from_sub, const char *to_root,
                    const char *to_sub)
{
    const char *files[] = {"data.mdb", "lock.mdb"};
    char dst_dir[1024];
    snprintf(dst_dir, sizeof(dst_dir), "%s/%s", to_root, to_sub);
    cr_assert(mkdir(dst_dir, 0755) == 0 || errno == EEXIST);
    for (int i = 0; i < 2; i++) {
        char src[1024], dst[1024];
        snprintf(src, sizeof(src), "%s/%s/%s", from_root, from_sub, files[i]);
        snprintf(dst, sizeof(dst), "%s/%s/%s", to_root, to_sub, files[i]);
        copy_file(src, dst);
    }
}

Test(review_cut_sync, undone_cut_does_not_resurrect_old_entries)
{
    ts_mkdtemp(g_dir, sizeof(g_dir), "review-cut");
    store_config_t cfg;
    stu_config(&cfg, g_dir, STU_SEG_1M);
    cfg.flush_disk_type = STORE_SYNC_FLUSH;

    /* Life 1: 300 records of one size, dispatched and closed cleanly. */
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    static char old_body[201], new_body[331];
    memset(old_body, 'o', sizeof(old_body) - 1);
    memset(new_body, 'n', sizeof(new_body) - 1);
    store_put_result_t r;
    for (int i = 0; i < 300; i++)
        cr_assert_eq(stu_put(g_store, "T", 0, old_body, (stu_attrs_t){0}, &r), 0);
    uint64_t old_end = r.phys_offset + r.size;
    store_close(g_store);
    g_store = NULL;

    /* A power loss took the log's second half (LMDB kept it). */
    char seg[1024];
    snprintf(seg, sizeof(seg), "%s/commitlog/%020d", g_dir, 0);
    cr_assert_eq(truncate(seg, (off_t)(old_end / 2)), 0);
    copy_kv(g_dir, "kv", g_dir, "kv-before-cut");

    /* Life 2: recovery cuts LMDB back; 40 acknowledged (SYNC_FLUSH) appends of
     * another size land over the cut region. */
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    uint64_t max0, min0;
    cr_assert_eq(store_queue_range(g_store, "T", 0, &min0, &max0), 0);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(stu_put(g_store, "T", 0, new_body, (stu_attrs_t){0}, &r), 0);
    uint64_t new_end = r.phys_offset + r.size;
    cr_assert_lt(new_end, old_end, "the new records end inside the old life's range");
    store_close(g_store);
    g_store = NULL;

    /* The power loss right after those acks undid LMDB's last transaction, the cut. */
    copy_kv(g_dir, "kv-before-cut", g_dir, "kv");

    /* Life 3: every record a pull returns must be a valid record, and the 40
     * acknowledged messages must be there. */
    cr_assert_eq(store_open(&g_store, &cfg), 0);
    uint64_t min, max;
    cr_assert_eq(store_queue_range(g_store, "T", 0, &min, &max), 0);
    cr_expect_eq(max, max0 + 40, "queue max %llu, expected %llu survivors + 40 new",
                 (unsigned long long)max, (unsigned long long)max0);
    uint64_t off = 0;
    size_t new_seen = 0, bad = 0;
    while (off < max) {
        store_get_result_t gr;
        int rc = store_get_messages(g_store, "T", 0, off, 32, NULL, g_buf, sizeof(g_buf), &gr);
        cr_assert_eq(rc, 0);
        if (gr.status != STORE_FOUND)
            break;
        size_t pos = 0;
        for (uint32_t i = 0; i < gr.count; i++) {
            record_view_t rv;
            uint32_t sz;
            memcpy(&sz, g_buf + pos, 4);
            if (record_decode(g_buf + pos, gr.bytes - pos, &rv) != 0) {
                bad++;
            } else if (stu_body_is(&rv, new_body)) {
                new_seen++;
            }
            pos += sz ? sz : 1;
            if (pos >= gr.bytes)
                break;
        }
        off = gr.next_offset;
    }
    cr_expect_eq(bad, 0, "%zu pulled records are not valid records", bad);
    cr_expect_eq(new_seen, 40, "%zu of the 40 acknowledged messages are pullable", new_seen);
}
