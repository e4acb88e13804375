/*
 * test_recovery.c - crash and recovery of the storage engine (recovery.c).
 *
 * Every test damages a store the way a crash or a power loss would, reopens
 * it and checks one property (verify() and check_recovered()):
 *  - every fully written record before the cut is readable: through pulls of
 *    every queue, store_get_by_phys, key queries and the time query;
 *  - nothing past the cut is: queue max offsets equal the surviving counts,
 *    store_get_by_phys of a removed record is RILL_ENOTFOUND, no key query
 *    returns one;
 *  - appends after recovery continue every queue at the next offset (no gap,
 *    no duplicate), right at the end of the valid log (no garbage between);
 *  - a further close and reopen finds exactly the same state.
 *
 * A crash is a fork()ed child that writes and then _exit()s, or is SIGKILLed,
 * without store_close; it reports its put results through a pipe (shared
 * memory where even a pipe write would slow it down). What a power loss does
 * to bytes that were never flushed is simulated by truncating a segment or
 * flipping a byte in them. Segments are 64 KiB, so every store has several.
 *
 * No test sets Criterion's per-test .timeout: with --jobs > 1 the 2.4.1
 * runner then leaks a timer, which fails the ASan build; ctest's --timeout
 * covers the suite instead.
 */
#include "common/record.h"
#include "broker/store/store.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/props.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEG_BYTES         (64u * 1024u)
#define TOPIC             "RecT"
#define TOPIC_LEN         4u
#define QUEUES            4u
#define KEY_GROUPS        13u /* every message carries KEYS "id<seed> g<seed % 13>" */
#define BODY_MIN_BYTES    16u
#define BODY_SPREAD_BYTES 1500u
#define MODEL_MAX         16384u   /* messages one test tracks */
#define NEW_SEED_BASE     1000000u /* seeds of messages appended after a recovery */
#define CHILD_WAIT_MS     30000    /* a child must finish (or report) within this */
#define PATH_BYTES        1400u

/* ---- messages -------------------------------------------------------------- */

/* Everything about a message follows from its seed, so a reader can check it. */
static uint32_t queue_of(uint32_t seed)
{
    return ((seed * 2654435761u) >> 16) % QUEUES;
}

static uint32_t body_len_of(uint32_t seed)
{
    uint32_t h = seed * 2246822519u + 374761393u;
    h ^= h >> 15;
    return BODY_MIN_BYTES + h % BODY_SPREAD_BYTES;
}

typedef struct gen_msg {
    uint8_t body[BODY_MIN_BYTES + BODY_SPREAD_BYTES];
    char props[128];
    store_msg_t m; /* points into this struct: do not copy it */
} gen_msg_t;

/* body_len 0: the seed's own length; otherwise that many bytes of the same pattern. */
static void gen_msg_len(gen_msg_t *g, uint32_t seed, uint32_t body_len)
{
    uint32_t blen = body_len ? body_len : body_len_of(seed);
    memcpy(g->body, &seed, sizeof(seed));
    for (uint32_t j = sizeof(seed); j < blen; j++)
        g->body[j] = (uint8_t)(seed * 131u + j * 7u + 1u);
    char keys[64], tag[16];
    int kl = snprintf(keys, sizeof(keys), "id%u g%u", seed, seed % KEY_GROUPS);
    int tl = snprintf(tag, sizeof(tag), "t%u", seed % 3u);
    size_t plen = 0;
    if (rill_props_append(g->props, sizeof(g->props), &plen, RILL_PROP_TAGS, tag, (size_t)tl) ||
        rill_props_append(g->props, sizeof(g->props), &plen, RILL_PROP_KEYS, keys, (size_t)kl))
        abort(); /* cannot happen with these sizes */
    g->m = (store_msg_t){
        .topic = TOPIC,
        .topic_len = TOPIC_LEN,
        .queue_id = queue_of(seed),
        .body = g->body,
        .body_len = blen,
        .props = g->props,
        .props_len = (uint32_t)plen,
        .born_ts = 1000u + seed,
    };
}

static void gen_msg(gen_msg_t *g, uint32_t seed)
{
    gen_msg_len(g, seed, 0);
}

/* ---- the model: what the store must hold ----------------------------------- */

enum msg_state {
    MSG_DEAD = 0, /* past the cut: must be gone */
    MSG_ALIVE,    /* must be readable everywhere */
    MSG_CORRUPT,  /* damaged before the checkpoint: still indexed, reads as corrupt */
};

typedef struct expect_msg {
    uint32_t seed;
    uint32_t queue_id;
    int state;
    store_put_result_t res;
    bool start_damaged; /* MSG_CORRUPT with its magic or phys field hit: no longer a record start */
    uint32_t body_len;  /* 0: body_len_of(seed) */
} expect_msg_t;

/* Messages in append order; alive ones are in log order too. */
typedef struct model {
    size_t n;
    uint32_t next_new_seed;
    expect_msg_t msgs[MODEL_MAX];
} model_t;

static model_t *model_new(void)
{
    model_t *md = calloc(1, sizeof(*md));
    cr_assert_not_null(md);
    md->next_new_seed = NEW_SEED_BASE;
    return md;
}

static model_t *model_clone(const model_t *src)
{
    model_t *md = model_new();
    memcpy(md, src, sizeof(*md));
    return md;
}

static void model_add(model_t *md, uint32_t seed, uint32_t queue_id, const store_put_result_t *r)
{
    cr_assert_lt(md->n, MODEL_MAX);
    md->msgs[md->n++] = (expect_msg_t){seed, queue_id, MSG_ALIVE, *r, false, 0};
}

/* Alive exactly the messages whose record ends at or below `end`. */
static void model_cut_at(model_t *md, uint64_t end)
{
    for (size_t i = 0; i < md->n; i++)
        md->msgs[i].state =
            md->msgs[i].res.phys_offset + md->msgs[i].res.size <= end ? MSG_ALIVE : MSG_DEAD;
}

/* ---- files ----------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void path_join(char *out, const char *a, const char *b)
{
    int n = snprintf(out, PATH_BYTES, "%s/%s", a, b);
    cr_assert(n > 0 && (size_t)n < PATH_BYTES, "path too long: %s/%s", a, b);
}

static void segment_path(char *out, const char *root, uint64_t start)
{
    int n = snprintf(out, PATH_BYTES, "%s/commitlog/%020llu", root, (unsigned long long)start);
    cr_assert(n > 0 && (size_t)n < PATH_BYTES);
}

/* Start offsets of the segment files, ascending; returns how many. */
static size_t list_segments(const char *root, uint64_t *starts, size_t cap)
{
    char dir[PATH_BYTES];
    path_join(dir, root, "commitlog");
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) != 20 || strspn(de->d_name, "0123456789") != 20)
            continue;
        cr_assert_lt(n, cap);
        starts[n++] = strtoull(de->d_name, NULL, 10);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of names */
        for (size_t j = i; j > 0 && starts[j - 1] > starts[j]; j--) {
            uint64_t t = starts[j];
            starts[j] = starts[j - 1];
            starts[j - 1] = t;
        }
    return n;
}

static void copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY);
    cr_assert_geq(in, 0, "open %s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(out, 0, "open %s: %s", dst, strerror(errno));
    struct stat st;
    cr_assert_eq(fstat(in, &st), 0);
    cr_assert_eq(ftruncate(out, st.st_size), 0);
    /* Copy only the data extents: LMDB and preallocated segments may be sparse. */
    static char buf[1 << 16];
    off_t pos = 0;
    while (pos < st.st_size) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0)
            break; /* only a hole is left */
        off_t hole = lseek(in, data, SEEK_HOLE);
        cr_assert_geq(hole, data);
        for (off_t p = data; p < hole;) {
            size_t want = (size_t)(hole - p) < sizeof(buf) ? (size_t)(hole - p) : sizeof(buf);
            ssize_t r = pread(in, buf, want, p);
            cr_assert_gt(r, 0, "read %s: %s", src, strerror(errno));
            cr_assert_eq(pwrite(out, buf, (size_t)r, p), r, "write %s: %s", dst, strerror(errno));
            p += r;
        }
        pos = hole;
    }
    close(in);
    close(out);
}

/* cp -a for the plain files and directories of a store. */
static void copy_tree(const char *src, const char *dst)
{
    cr_assert(mkdir(dst, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", dst, strerror(errno));
    DIR *d = opendir(src);
    cr_assert_not_null(d, "opendir %s: %s", src, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char sp[PATH_BYTES], dp[PATH_BYTES];
        path_join(sp, src, de->d_name);
        path_join(dp, dst, de->d_name);
        struct stat st;
        cr_assert_eq(lstat(sp, &st), 0);
        if (S_ISDIR(st.st_mode))
            copy_tree(sp, dp);
        else if (S_ISREG(st.st_mode))
            copy_file(sp, dp);
    }
    closedir(d);
}

static void restore_tree(const char *tmpl, const char *dir)
{
    ts_rmtree(dir);
    copy_tree(tmpl, dir);
}

/* XOR one byte of the log at commitlog offset phys. */
static void flip_log_byte(const char *root, uint64_t phys)
{
    char path[PATH_BYTES];
    segment_path(path, root, phys - phys % SEG_BYTES);
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    uint8_t b;
    off_t at = (off_t)(phys % SEG_BYTES);
    cr_assert_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x5A;
    cr_assert_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static void truncate_segment(const char *root, uint64_t start, uint64_t len)
{
    char path[PATH_BYTES];
    segment_path(path, root, start);
    cr_assert_eq(truncate(path, (off_t)len), 0, "truncate %s: %s", path, strerror(errno));
}

static void remove_segment(const char *root, uint64_t start)
{
    char path[PATH_BYTES];
    segment_path(path, root, start);
    cr_assert_eq(unlink(path), 0, "unlink %s: %s", path, strerror(errno));
}

/* ---- store helpers ---------------------------------------------------------- */

static void base_config(store_config_t *cfg, const char *dir)
{
    store_config_defaults(cfg);
    int n = snprintf(cfg->store_path_root_dir, sizeof(cfg->store_path_root_dir), "%s", dir);
    cr_assert(n > 0 && (size_t)n < sizeof(cfg->store_path_root_dir));
    cfg->mapped_file_size_commitlog = SEG_BYTES;
    cfg->kv_map_size = 16 << 20;
}

/*
 * For crash children: ASYNC_FLUSH whose flusher never flushes on its own
 * (4 GiB of dirty pages needed, thorough flush hourly), so the only durable
 * bytes are those the child flushes with store_flush(): meta.checkpoint, which
 * only ever names a flushed record, cannot move past them.
 */
static void crash_config(store_config_t *cfg, const char *dir)
{
    base_config(cfg, dir);
    cfg->flush_disk_type = STORE_ASYNC_FLUSH;
    cfg->flush_interval_commitlog = 500;
    cfg->flush_commitlog_least_pages = 1 << 20;
    cfg->flush_commitlog_thorough_interval = 3600 * 1000;
}

static store_t *open_store(const store_config_t *cfg)
{
    store_t *s = NULL;
    int rc = store_open(&s, cfg);
    cr_assert_eq(rc, 0, "store_open: %s", rill_strerror(rc));
    return s;
}

static void put_seed(store_t *s, model_t *md, uint32_t seed)
{
    gen_msg_t g;
    gen_msg(&g, seed);
    store_put_result_t r;
    int rc = store_put(s, &g.m, 1, &r);
    cr_assert_eq(rc, 0, "store_put(seed %u): %s", seed, rill_strerror(rc));
    model_add(md, seed, g.m.queue_id, &r);
}

/*
 * Write seeds 0, 1, ... into a new store at dir, at least n of them and on
 * until the last segment is at least half full, and close it cleanly.
 */
static model_t *write_and_close(const store_config_t *cfg, uint32_t n)
{
    model_t *md = model_new();
    store_t *s = open_store(cfg);
    for (uint32_t seed = 0;; seed++) {
        if (seed >= n) {
            const store_put_result_t *r = &md->msgs[md->n - 1].res;
            if ((r->phys_offset + r->size) % SEG_BYTES >= SEG_BYTES / 2)
                break;
        }
        put_seed(s, md, seed);
    }
    cr_assert_eq(store_wait_dispatched(s, 10000), 0);
    store_close(s);
    return md;
}

static uint8_t g_buf[8u << 20]; /* pulls and queries land here */

/* Check that the record at p is exactly the message e describes. */
static void expect_record(const uint8_t *p, size_t avail, const expect_msg_t *e, const char *what)
{
    record_view_t rv;
    int rc = record_decode(p, avail, &rv);
    cr_assert_eq(rc, 0, "%s: seed %u (phys %llu) does not decode: %s", what, e->seed,
                 (unsigned long long)e->res.phys_offset, rill_strerror(rc));
    cr_assert_eq(rv.kind, RECORD_KIND_MSG, "%s: seed %u", what, e->seed);
    cr_assert_eq(rv.total_size, e->res.size, "%s: seed %u size", what, e->seed);
    cr_assert_eq(rv.phys_offset, e->res.phys_offset, "%s: seed %u phys", what, e->seed);
    cr_assert_eq(rv.queue_id, e->queue_id, "%s: seed %u queue", what, e->seed);
    cr_assert_eq(rv.queue_offset, e->res.queue_offset, "%s: seed %u queue offset", what, e->seed);
    cr_assert_eq(rv.store_ts, e->res.store_ts, "%s: seed %u store ts", what, e->seed);
    cr_assert_eq(rv.topic_len, TOPIC_LEN);
    cr_assert(memcmp(rv.topic, TOPIC, TOPIC_LEN) == 0);
    gen_msg_t g;
    gen_msg_len(&g, e->seed, e->body_len);
    cr_assert_eq(rv.body_len, g.m.body_len, "%s: seed %u body length", what, e->seed);
    cr_assert(memcmp(rv.body, g.body, rv.body_len) == 0, "%s: seed %u body", what, e->seed);
    cr_assert_eq(rv.props_len, g.m.props_len, "%s: seed %u props", what, e->seed);
    cr_assert(memcmp(rv.props, g.props, rv.props_len) == 0, "%s: seed %u props", what, e->seed);
}

/* Index of the non-dead message whose record starts at phys (they are sorted), or -1. */
static long find_live(const model_t *md, const size_t *live, size_t nlive, uint64_t phys)
{
    size_t lo = 0, hi = nlive;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t p = md->msgs[live[mid]].res.phys_offset;
        if (p == phys)
            return (long)live[mid];
        if (p < phys)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void verify_pulls(store_t *s, const model_t *md, const size_t *byoff, const uint64_t *count)
{
    size_t n = md->n;
    for (uint32_t q = 0; q < QUEUES; q++) {
        uint64_t min = 1, max = 0;
        cr_assert_eq(store_queue_range(s, TOPIC, q, &min, &max), 0);
        cr_assert_eq(max, count[q], "queue %u: max offset %llu, want %llu", q,
                     (unsigned long long)max, (unsigned long long)count[q]);
        cr_assert_eq(min, 0, "queue %u: min offset %llu", q, (unsigned long long)min);
        store_get_result_t gr;
        for (uint64_t off = 0; off < count[q];) {
            int rc = store_get_messages(s, TOPIC, q, off, 32, NULL, g_buf, sizeof(g_buf), &gr);
            cr_assert_eq(rc, 0, "pull q%u@%llu: %s", q, (unsigned long long)off, rill_strerror(rc));
            cr_assert_eq(gr.status, STORE_FOUND, "pull q%u@%llu: status %d", q,
                         (unsigned long long)off, gr.status);
            cr_assert_eq(gr.max_offset, count[q]);
            cr_assert_gt(gr.count, 0);
            size_t pos = 0;
            for (uint32_t j = 0; j < gr.count; j++) {
                const expect_msg_t *e = &md->msgs[byoff[q * n + off + j]];
                cr_assert_leq(pos + e->res.size, gr.bytes);
                if (e->state == MSG_ALIVE) {
                    expect_record(g_buf + pos, gr.bytes - pos, e, "pull");
                } else {
                    record_view_t rv;
                    cr_assert_neq(record_decode(g_buf + pos, e->res.size, &rv), 0,
                                  "pull: corrupt seed %u decodes", e->seed);
                }
                pos += e->res.size;
            }
            cr_assert_eq(pos, gr.bytes);
            cr_assert_eq(gr.next_offset, off + gr.count);
            off += gr.count;
        }
        int rc = store_get_messages(s, TOPIC, q, count[q], 32, NULL, g_buf, sizeof(g_buf), &gr);
        cr_assert_eq(rc, 0);
        cr_assert_eq(gr.count, 0);
        cr_assert_eq(gr.status, count[q] ? STORE_OFFSET_OVERFLOW_ONE : STORE_NO_MESSAGE_IN_QUEUE,
                     "queue %u: status %d past the end", q, gr.status);
    }
}

static void verify_keys(store_t *s, const model_t *md, const size_t *live, size_t nlive)
{
    store_query_result_t qr;
    char key[32];
    for (size_t i = 0; i < md->n; i++) {
        const expect_msg_t *e = &md->msgs[i];
        snprintf(key, sizeof(key), "id%u", e->seed);
        int rc = store_query_by_key(s, TOPIC, key, 0, UINT64_MAX, 8, g_buf, sizeof(g_buf), &qr);
        cr_assert_eq(rc, 0, "key %s: %s", key, rill_strerror(rc));
        if (e->state == MSG_ALIVE) {
            cr_assert_eq(qr.count, 1, "key %s: %u hits", key, qr.count);
            expect_record(g_buf, qr.bytes, e, "key query");
        } else {
            cr_assert_eq(qr.count, 0, "key %s of a %s message: %u hits", key,
                         e->state == MSG_DEAD ? "removed" : "corrupt", qr.count);
        }
    }
    for (uint32_t grp = 0; grp < KEY_GROUPS; grp++) {
        uint32_t want = 0;
        for (size_t i = 0; i < md->n; i++)
            want += md->msgs[i].state == MSG_ALIVE && md->msgs[i].seed % KEY_GROUPS == grp;
        snprintf(key, sizeof(key), "g%u", grp);
        int rc = store_query_by_key(s, TOPIC, key, 0, UINT64_MAX, 4096, g_buf, sizeof(g_buf), &qr);
        cr_assert_eq(rc, 0);
        cr_assert(!qr.truncated);
        cr_assert_eq(qr.count, want, "key %s: %u hits, want %u", key, qr.count, want);
        size_t pos = 0;
        for (uint32_t j = 0; j < qr.count; j++) {
            record_view_t rv;
            cr_assert_eq(record_decode(g_buf + pos, qr.bytes - pos, &rv), 0);
            long idx = find_live(md, live, nlive, rv.phys_offset);
            cr_assert_geq(idx, 0, "key %s returned a record at %llu that must not exist", key,
                          (unsigned long long)rv.phys_offset);
            cr_assert_eq(md->msgs[idx].state, MSG_ALIVE);
            cr_assert_eq(md->msgs[idx].seed % KEY_GROUPS, grp);
            expect_record(g_buf + pos, qr.bytes - pos, &md->msgs[idx], "key group query");
            pos += rv.total_size;
        }
    }
}

static void verify_time(store_t *s, const model_t *md, const size_t *live, size_t nlive)
{
    store_query_result_t qr;
    int rc = store_query_by_time(s, TOPIC, 0, UINT64_MAX, MODEL_MAX, g_buf, sizeof(g_buf), &qr);
    cr_assert_eq(rc, 0, "time query: %s", rill_strerror(rc));
    cr_assert(!qr.truncated);
    cr_assert_eq(qr.count, nlive, "time query: %u records, want %zu", qr.count, nlive);
    size_t pos = 0;
    for (size_t j = 0; j < nlive; j++) {
        const expect_msg_t *e = &md->msgs[live[j]];
        cr_assert_leq(pos + e->res.size, qr.bytes);
        if (e->state == MSG_ALIVE)
            expect_record(g_buf + pos, qr.bytes - pos, e, "time query");
        pos += e->res.size;
    }
    cr_assert_eq(pos, qr.bytes);
}

/*
 * The store holds exactly the non-dead messages of the model. With
 * cut_absent, removed records must also be gone from the log (true until
 * something is appended over the cut).
 */
static void verify(store_t *s, const model_t *md, bool cut_absent)
{
    cr_assert_eq(store_wait_dispatched(s, 10000), 0);
    size_t n = md->n;
    size_t *byoff = malloc((QUEUES * n + 1) * sizeof(*byoff));
    size_t *live = malloc((n + 1) * sizeof(*live));
    cr_assert(byoff != NULL && live != NULL);
    for (size_t i = 0; i < QUEUES * n; i++)
        byoff[i] = SIZE_MAX;
    uint64_t count[QUEUES] = {0};
    uint64_t live_end = 0, dead_min = UINT64_MAX;
    size_t nlive = 0;
    for (size_t i = 0; i < n; i++) {
        const expect_msg_t *e = &md->msgs[i];
        if (e->state == MSG_DEAD) {
            if (e->res.phys_offset < dead_min)
                dead_min = e->res.phys_offset;
            continue;
        }
        cr_assert_lt(e->queue_id, QUEUES);
        cr_assert_lt(e->res.queue_offset, n);
        size_t *slot = &byoff[e->queue_id * n + e->res.queue_offset];
        cr_assert_eq(*slot, SIZE_MAX, "model: two messages at q%u@%llu", e->queue_id,
                     (unsigned long long)e->res.queue_offset);
        *slot = i;
        count[e->queue_id]++;
        if (nlive > 0)
            cr_assert_gt(e->res.phys_offset, md->msgs[live[nlive - 1]].res.phys_offset);
        live[nlive++] = i;
        live_end = e->res.phys_offset + e->res.size;
    }
    for (uint32_t q = 0; q < QUEUES; q++)
        for (uint64_t off = 0; off < count[q]; off++)
            cr_assert_neq(byoff[q * n + off], SIZE_MAX, "model: gap at q%u@%llu", q,
                          (unsigned long long)off);

    store_stats_t st;
    store_get_stats(s, &st);
    cr_assert_geq(st.committed, live_end);
    if (cut_absent)
        cr_assert_leq(st.committed, dead_min,
                      "the log ends at %llu, after a removed record at %llu",
                      (unsigned long long)st.committed, (unsigned long long)dead_min);

    verify_pulls(s, md, byoff, count);
    for (size_t i = 0; i < n; i++) {
        const expect_msg_t *e = &md->msgs[i];
        uint32_t size = 0;
        int rc = store_get_by_phys(s, e->res.phys_offset, g_buf, sizeof(g_buf), &size);
        if (e->state == MSG_ALIVE) {
            cr_assert_eq(rc, 0, "by phys: seed %u at %llu: %s", e->seed,
                         (unsigned long long)e->res.phys_offset, rill_strerror(rc));
            cr_assert_eq(size, e->res.size);
            expect_record(g_buf, size, e, "by phys");
        } else if (e->state == MSG_CORRUPT) {
            /* store.h: RILL_ECORRUPT for a record failing its checksum, RILL_ENOTFOUND
             * where no record starts (which is what a lost magic or offset says) */
            cr_assert(rc == RILL_ECORRUPT || (e->start_damaged && rc == RILL_ENOTFOUND),
                      "by phys: corrupt seed %u: %s", e->seed, rill_strerror(rc));
        } else if (cut_absent || e->res.phys_offset >= st.committed) {
            cr_assert_eq(rc, RILL_ENOTFOUND, "by phys: removed seed %u at %llu: %s", e->seed,
                         (unsigned long long)e->res.phys_offset, rill_strerror(rc));
        }
    }
    verify_keys(s, md, live, nlive);
    verify_time(s, md, live, nlive);
    free(live);
    free(byoff);
}

/*
 * Append `count` new messages, round robin over the queues: each must get the
 * next offset of its queue and land right at the end of the log (or at the
 * start of the next segment).
 */
static void append_more(store_t *s, model_t *md, uint32_t count)
{
    uint64_t next[QUEUES] = {0};
    for (size_t i = 0; i < md->n; i++)
        if (md->msgs[i].state != MSG_DEAD)
            next[md->msgs[i].queue_id]++;
    store_stats_t st;
    store_get_stats(s, &st);
    uint64_t pos = st.committed;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t seed = md->next_new_seed++;
        gen_msg_t g;
        gen_msg(&g, seed);
        g.m.queue_id = k % QUEUES;
        store_put_result_t r;
        int rc = store_put(s, &g.m, 1, &r);
        cr_assert_eq(rc, 0, "append after recovery: %s", rill_strerror(rc));
        cr_assert_eq(r.queue_offset, next[g.m.queue_id],
                     "q%u: new message got offset %llu, want %llu", g.m.queue_id,
                     (unsigned long long)r.queue_offset, (unsigned long long)next[g.m.queue_id]);
        next[g.m.queue_id]++;
        cr_assert(r.phys_offset == pos || (r.phys_offset > pos && r.phys_offset % SEG_BYTES == 0 &&
                                           r.phys_offset - pos < SEG_BYTES),
                  "new record at %llu, log end was %llu", (unsigned long long)r.phys_offset,
                  (unsigned long long)pos);
        pos = r.phys_offset + r.size;
        model_add(md, seed, g.m.queue_id, &r);
    }
}

/* After the first verify of a recovered store: append, reopen, check again, close. */
/*
 * If the cut left removed records right at the end of the log (a cut at a
 * record boundary), append one message exactly as long as the first of them
 * and return true. It ends where the next removed record started: had the cut
 * not zeroed the rest of the log, that record would still be there, with the
 * right offset in its header, and the next open would take it for valid.
 */
static bool append_tile(store_t *s, model_t *md)
{
    store_stats_t st;
    store_get_stats(s, &st);
    const expect_msg_t *d = NULL;
    for (size_t i = 0; i < md->n && d == NULL; i++)
        if (md->msgs[i].state == MSG_DEAD && md->msgs[i].res.phys_offset == st.committed)
            d = &md->msgs[i];
    if (d == NULL)
        return false;
    uint32_t seed = md->next_new_seed++;
    gen_msg_t g;
    gen_msg(&g, seed);
    uint64_t fixed = record_size(TOPIC_LEN, 0, g.m.props_len);
    uint64_t body_len = d->res.size - fixed;
    cr_assert(d->res.size > fixed + 4 && body_len <= sizeof(g.body));
    gen_msg_len(&g, seed, (uint32_t)body_len);
    g.m.queue_id = 0;
    uint64_t next = 0;
    for (size_t i = 0; i < md->n; i++)
        next += md->msgs[i].state != MSG_DEAD && md->msgs[i].queue_id == 0;
    store_put_result_t r;
    int rc = store_put(s, &g.m, 1, &r);
    cr_assert_eq(rc, 0, "append after recovery: %s", rill_strerror(rc));
    cr_assert_eq(r.phys_offset, st.committed);
    cr_assert_eq(r.size, d->res.size);
    cr_assert_eq(r.queue_offset, next);
    model_add(md, seed, 0, &r);
    md->msgs[md->n - 1].body_len = (uint32_t)body_len;
    return true;
}

static void finish_recovered(store_t *s, const store_config_t *cfg, model_t *md)
{
    if (append_tile(s, md)) {
        verify(s, md, false);
        store_close(s);
        s = open_store(cfg);
        verify(s, md, false);
    }
    append_more(s, md, QUEUES + 2);
    verify(s, md, false);
    store_close(s);
    s = open_store(cfg);
    verify(s, md, false);
    store_close(s);
}

static void check_recovered(const store_config_t *cfg, model_t *md)
{
    store_t *s = open_store(cfg);
    verify(s, md, true);
    finish_recovered(s, cfg, md);
}

/* ---- children ---------------------------------------------------------------- */

typedef struct wire_put {
    uint32_t seed, queue_id;
    store_put_result_t res;
} wire_put_t;

static pid_t g_child; /* reaped by kill_child() if a test fails while it runs */

static void kill_child(void)
{
    if (g_child > 0) {
        kill(g_child, SIGKILL);
        waitpid(g_child, NULL, 0);
        g_child = 0;
    }
}

static int send_put(int fd, uint32_t seed, uint32_t queue_id, const store_put_result_t *r)
{
    wire_put_t w;
    memset(&w, 0, sizeof(w));
    w.seed = seed;
    w.queue_id = queue_id;
    w.res = *r;
    ssize_t n;
    do
        n = write(fd, &w, sizeof(w)); /* < PIPE_BUF: atomic */
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(w) ? 0 : -1;
}

/* In a child: put one seed and report it. 0 or a nonzero exit code. */
static int child_put(store_t *s, uint32_t seed, int fd, store_put_result_t *out)
{
    gen_msg_t g;
    gen_msg(&g, seed);
    store_put_result_t r;
    if (store_put(s, &g.m, 1, &r) != 0)
        return 2;
    if (fd >= 0 && send_put(fd, seed, g.m.queue_id, &r) != 0)
        return 3;
    if (out)
        *out = r;
    return 0;
}

/* Read reported puts into md until EOF, or until md holds stop_at messages. */
static void read_puts(int fd, model_t *md, size_t stop_at)
{
    static uint8_t buf[sizeof(wire_put_t) * 256];
    size_t have = 0;
    uint64_t deadline = now_ms() + CHILD_WAIT_MS;
    while (md->n < stop_at) {
        uint64_t now = now_ms();
        cr_assert_lt(now, deadline, "the child did not report in time");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(deadline - now));
        if (r <= 0) {
            cr_assert(r == 0 || errno == EINTR, "poll: %s", strerror(errno));
            continue;
        }
        ssize_t got = read(fd, buf + have, sizeof(buf) - have);
        if (got < 0 && errno == EINTR)
            continue;
        cr_assert_geq(got, 0, "read: %s", strerror(errno));
        if (got == 0)
            break;
        have += (size_t)got;
        size_t used = 0;
        for (; have - used >= sizeof(wire_put_t); used += sizeof(wire_put_t)) {
            wire_put_t w;
            memcpy(&w, buf + used, sizeof(w));
            model_add(md, w.seed, w.queue_id, &w.res);
        }
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    cr_assert_eq(have, 0, "a torn report in the pipe");
}

/* Wait (bounded) for the child; returns its wait status. */
static int reap_child(pid_t pid)
{
    uint64_t deadline = now_ms() + CHILD_WAIT_MS;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            g_child = 0;
            return st;
        }
        cr_assert(r == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
        if (now_ms() > deadline) {
            kill_child();
            cr_assert_fail("child %d did not exit in time", (int)pid);
        }
        usleep(2000);
    }
}

static void expect_clean_exit(int st)
{
    cr_assert(WIFEXITED(st), "the child died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    cr_assert_eq(WEXITSTATUS(st), 0, "the child failed with code %d", WEXITSTATUS(st));
}

typedef int (*child_fn)(const char *dir, int fd, void *arg);

/* Fork a child running fn(dir, write end of a pipe, arg); returns the read end. */
static int spawn_child(child_fn fn, const char *dir, void *arg)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        int code = fn(dir, p[1], arg);
        /* A crash: no store_close, no atexit handlers, nothing flushed. */
        _exit(code);
    }
    g_child = pid;
    close(p[1]);
    return p[0];
}

/* ---- 1. a torn tail: truncate the last segment anywhere ------------------------ */

/*
 * A clean close leaves meta.checkpoint at the last record and LMDB dispatched
 * to the end. Truncating the last segment (the store extends it back with
 * zeros) below the checkpoint record's end makes that record bad, so
 * recovery takes the fallback: it scans from the start of the checkpoint's
 * segment (or an earlier one) and cuts at the first torn record; LMDB is then
 * ahead of the log and loses its entries past the cut.
 */
Test(store_recovery, truncate_last_segment_everywhere)
{
    char dir[PATH_BYTES - 100], tmpl[PATH_BYTES - 100];
    ts_mkdtemp(dir, sizeof(dir), "rec-trunc");
    ts_mkdtemp(tmpl, sizeof(tmpl), "rec-trunc-tmpl");
    rill_log_set_level(RILL_LOG_ERROR); /* hundreds of reopens */
    store_config_t cfg;
    base_config(&cfg, dir);
    model_t *written = write_and_close(&cfg, 300);
    uint64_t segs[64];
    size_t nseg = list_segments(dir, segs, 64);
    cr_assert_geq(nseg, 4, "want several segments, got %zu", nseg);
    uint64_t last = segs[nseg - 1];
    ts_rmtree(tmpl);
    copy_tree(dir, tmpl);

    /* cut positions inside the last segment: every record boundary +-1, and random ones */
    static uint64_t cuts[4096];
    size_t ncut = 0;
    uint64_t log_end = 0;
    for (size_t i = 0; i < written->n; i++) {
        const store_put_result_t *r = &written->msgs[i].res;
        log_end = r->phys_offset + r->size;
        if (r->phys_offset < last)
            continue;
        uint64_t b[2] = {r->phys_offset - last, r->phys_offset + r->size - last};
        for (int j = 0; j < 2; j++)
            for (int d = -1; d <= 1; d++)
                if (b[j] + (uint64_t)(int64_t)d <= SEG_BYTES && ncut < 4000)
                    cuts[ncut++] = b[j] + (uint64_t)(int64_t)d;
    }
    cr_assert_gt(ncut, 30, "the last segment holds too few records");
    uint64_t x = 0x9E3779B97F4A7C15ull; /* xorshift64, fixed seed: reproducible */
    for (int i = 0; i < 50; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        cuts[ncut++] = x % (log_end - last + 64);
    }
    cuts[ncut++] = 0;
    cuts[ncut++] = SEG_BYTES; /* untouched: nothing may be lost */

    uint64_t t0 = now_ms();
    size_t done = 0;
    for (size_t c = 0; c < ncut; c++) {
        bool dup = false;
        for (size_t j = 0; j < c; j++)
            dup |= cuts[j] == cuts[c];
        if (dup)
            continue;
        restore_tree(tmpl, dir);
        truncate_segment(dir, last, cuts[c]);
        model_t *md = model_clone(written);
        model_cut_at(md, last + cuts[c]);
        check_recovered(&cfg, md);
        free(md);
        done++;
    }
    cr_log_info("%zu truncation points checked in %llu ms", done,
                (unsigned long long)(now_ms() - t0));
    free(written);
    ts_rmtree(dir);
    ts_rmtree(tmpl);
}

/* ---- 2. a flipped byte in the unflushed tail of a crashed writer --------------- */

typedef struct two_batches {
    uint32_t flushed, tail;
} two_batches_t;

/*
 * Write a first batch, flush it and let the idle dispatcher move
 * meta.checkpoint onto it; then write the tail batch, wait until LMDB has it
 * and die. The tail was never flushed, so the checkpoint lies before it.
 */
static int child_two_batches(const char *dir, int fd, void *arg)
{
    const two_batches_t *tb = arg;
    store_config_t cfg;
    crash_config(&cfg, dir);
    store_t *s;
    if (store_open(&s, &cfg) != 0)
        return 10;
    uint32_t seed = 0;
    for (; seed < tb->flushed; seed++)
        if (child_put(s, seed, fd, NULL))
            return 11;
    if (store_flush(s) != 0 || store_wait_dispatched(s, 10000) != 0)
        return 12;
    usleep(1300 * 1000); /* > CHECKPOINT_EVERY_MS: the checkpoint reaches the flushed end */
    for (; seed < tb->flushed + tb->tail; seed++)
        if (child_put(s, seed, fd, NULL))
            return 13;
    if (store_wait_dispatched(s, 10000) != 0)
        return 14;
    return 0;
}

/*
 * Flip one byte of tail record k (at various places in the record): recovery
 * must keep every record before k and drop k and everything after it, even
 * though LMDB had dispatched them all.
 */
Test(store_recovery, flip_byte_in_crashed_tail, .fini = kill_child)
{
    char dir[PATH_BYTES - 100], tmpl[PATH_BYTES - 100];
    ts_mkdtemp(dir, sizeof(dir), "rec-flip");
    ts_mkdtemp(tmpl, sizeof(tmpl), "rec-flip-tmpl");
    two_batches_t tb = {.flushed = 150, .tail = 80};
    int fd = spawn_child(child_two_batches, dir, &tb);
    model_t *written = model_new();
    read_puts(fd, written, SIZE_MAX);
    close(fd);
    expect_clean_exit(reap_child(g_child));
    cr_assert_eq(written->n, tb.flushed + tb.tail);
    ts_rmtree(tmpl);
    copy_tree(dir, tmpl);
    store_config_t cfg;
    base_config(&cfg, dir);

    /* the crashed store itself: nothing lost */
    model_t *md = model_clone(written);
    check_recovered(&cfg, md);
    free(md);

    /* tail records to damage: first, second, the first of a segment, middle, last two */
    size_t ks[8], nk = 0;
    size_t first = tb.flushed, n = written->n;
    ks[nk++] = first;
    ks[nk++] = first + 1;
    for (size_t i = first + 2; i < n - 2; i++)
        if (written->msgs[i].res.phys_offset % SEG_BYTES == 0) {
            ks[nk++] = i;
            break;
        }
    ks[nk++] = first + (n - first) / 2;
    ks[nk++] = n - 2;
    ks[nk++] = n - 1;
    for (size_t j = 0; j < nk; j++) {
        const store_put_result_t *r = &written->msgs[ks[j]].res;
        /* size, magic, checksum, phys offset, queue offset, body, last byte */
        static const uint32_t at[] = {0, 5, 9, 17, 26, 0, 0};
        uint32_t where = j % 7 < 5 ? at[j % 7] : j % 7 == 5 ? r->size / 2 : r->size - 1;
        restore_tree(tmpl, dir);
        flip_log_byte(dir, r->phys_offset + where);
        md = model_clone(written);
        model_cut_at(md, r->phys_offset);
        check_recovered(&cfg, md);
        free(md);
    }
    free(written);
    ts_rmtree(dir);
    ts_rmtree(tmpl);
}

/* ---- a flipped byte before the checkpoint is not a cut -------------------------- */

/*
 * After a clean close the checkpoint is the last record and recovery verifies
 * nothing before it: a record damaged there stays in the log and in LMDB, but
 * every read that verifies it says RILL_ECORRUPT (store_get_by_phys; key
 * queries skip it; pulls hand out raw records the client verifies with
 * record_decode) and every other record reads fine.
 */
Test(store_recovery, flip_byte_before_checkpoint)
{
    char dir[PATH_BYTES - 100];
    ts_mkdtemp(dir, sizeof(dir), "rec-flipck");
    store_config_t cfg;
    base_config(&cfg, dir);
    model_t *md = write_and_close(&cfg, 300);
    /* damage records in several segments, each in a different field: size, magic,
     * checksum, body, phys offset, last byte */
    static const size_t victims[] = {40, 41, 120, 160, 199, 280};
    for (size_t j = 0; j < sizeof(victims) / sizeof(victims[0]); j++) {
        expect_msg_t *e = &md->msgs[victims[j]];
        uint32_t where = (uint32_t[]){1, 6, 10, e->res.size / 2, 20, e->res.size - 1}[j];
        flip_log_byte(dir, e->res.phys_offset + where);
        e->state = MSG_CORRUPT;
        e->start_damaged = (where >= 4 && where < 8) || (where >= 16 && where < 24);
    }
    check_recovered(&cfg, md);
    free(md);
    ts_rmtree(dir);
}

/* ---- 3. LMDB deleted: everything is rebuilt from the CommitLog ------------------ */

/*
 * rm -rf kv/ after a clean close. Recovery finds no meta.dispatched, verifies
 * the whole log from its first segment and dispatches all of it: cq entries,
 * queue maxima and the key index come back with the same queue offsets. What
 * lived only in LMDB is gone for good: consumer offsets (RILL_ENOTFOUND) and
 * the topic/group config blobs, which the broker must restore or recreate.
 */
Test(store_recovery, kv_deleted_rebuilds_from_log)
{
    char dir[PATH_BYTES - 100];
    ts_mkdtemp(dir, sizeof(dir), "rec-kv");
    store_config_t cfg;
    base_config(&cfg, dir);
    model_t *md = model_new();
    store_t *s = open_store(&cfg);
    for (uint32_t seed = 0; seed < 300; seed++)
        put_seed(s, md, seed);
    cr_assert_eq(store_offset_commit(s, "G1", TOPIC, 1, 7), 0);
    cr_assert_eq(store_conf_put(s, STORE_TOPICS, TOPIC, "cfg", 3), 0);
    verify(s, md, true);
    store_close(s);

    char kv[PATH_BYTES];
    path_join(kv, dir, "kv");
    ts_rmtree(kv);
    cr_assert_eq(ts_file_size(kv), -1);

    s = open_store(&cfg);
    verify(s, md, true);
    uint64_t off = 0;
    cr_assert_eq(store_offset_get(s, "G1", TOPIC, 1, &off), RILL_ENOTFOUND);
    char blob[16];
    size_t len = 0;
    cr_assert_eq(store_conf_get(s, STORE_TOPICS, TOPIC, blob, sizeof(blob), &len), RILL_ENOTFOUND);
    finish_recovered(s, &cfg, md);
    free(md);
    ts_rmtree(dir);
}

/* ---- 4. LMDB ahead of the log ----------------------------------------------------- */

/*
 * A clean close, then the log loses its end: the last segment cut in the
 * middle of a record, or whole segment files gone. LMDB's dispatched offset
 * is beyond the log: recovery deletes the cq entries past the cut, pulls the
 * queue maxima back and leaves stale key-index entries that key queries must
 * not return.
 */
static void lmdb_ahead_case(int how)
{
    char dir[PATH_BYTES - 100];
    ts_mkdtemp(dir, sizeof(dir), "rec-ahead");
    store_config_t cfg;
    base_config(&cfg, dir);
    model_t *md = write_and_close(&cfg, 400);
    uint64_t segs[64];
    size_t nseg = list_segments(dir, segs, 64);
    cr_assert_geq(nseg, 4);
    uint64_t end;
    if (how == 0) {
        /* the middle of a record in the middle of the last segment */
        size_t mid = md->n - 1;
        while (mid > 0 && md->msgs[mid - 1].res.phys_offset >= segs[nseg - 1])
            mid--;
        mid += (md->n - mid) / 2;
        const store_put_result_t *r = &md->msgs[mid].res;
        truncate_segment(dir, segs[nseg - 1], r->phys_offset + r->size / 2 - segs[nseg - 1]);
        end = r->phys_offset;
    } else {
        /* the last `how` segment files */
        for (int i = 0; i < how; i++)
            remove_segment(dir, segs[nseg - 1 - (size_t)i]);
        end = segs[nseg - (size_t)how];
        nseg -= (size_t)how;
    }
    model_cut_at(md, end);
    size_t dead = 0;
    for (size_t i = 0; i < md->n; i++)
        dead += md->msgs[i].state == MSG_DEAD;
    cr_assert_gt(dead, 0);

    store_t *s = open_store(&cfg);
    verify(s, md, true);
    store_stats_t st;
    store_get_stats(s, &st);
    cr_assert_eq(st.segments, nseg);
    finish_recovered(s, &cfg, md);
    free(md);
    ts_rmtree(dir);
}

Test(store_recovery, lmdb_ahead_last_segment_cut)
{
    lmdb_ahead_case(0);
}

Test(store_recovery, lmdb_ahead_last_segment_deleted)
{
    lmdb_ahead_case(1);
}

Test(store_recovery, lmdb_ahead_two_segments_deleted)
{
    lmdb_ahead_case(2);
}

/* ---- 5. SIGKILL during SYNC_FLUSH writes ------------------------------------------ */

/* Put seeds one by one with SYNC_FLUSH and report each once it is acked. */
static int child_sync_writer(const char *dir, int fd, void *arg)
{
    (void)arg;
    store_config_t cfg;
    base_config(&cfg, dir);
    cfg.flush_disk_type = STORE_SYNC_FLUSH;
    store_t *s;
    if (store_open(&s, &cfg) != 0)
        return 10;
    for (uint32_t seed = 0; seed < 5000; seed++)
        if (child_put(s, seed, fd, NULL))
            return 11;
    return 0; /* normally killed long before */
}

/*
 * The child wrote seeds 0, 1, 2 ... in order; md holds the first md->n of
 * them (all it reported). The store may hold more (written, not reported):
 * survivors are a prefix of the sequence. Add the unreported survivors to md,
 * reading their positions from the store, and check their contents.
 */
static void adopt_unreported(store_t *s, model_t *md)
{
    cr_assert_eq(store_wait_dispatched(s, 10000), 0);
    uint64_t next[QUEUES] = {0}, max[QUEUES], total = 0;
    for (size_t i = 0; i < md->n; i++) {
        cr_assert_eq(md->msgs[i].seed, i);
        next[md->msgs[i].queue_id]++;
    }
    for (uint32_t q = 0; q < QUEUES; q++) {
        uint64_t min;
        cr_assert_eq(store_queue_range(s, TOPIC, q, &min, &max[q]), 0);
        cr_assert_geq(max[q], next[q], "queue %u lost acked messages: max %llu < %llu acked", q,
                      (unsigned long long)max[q], (unsigned long long)next[q]);
        total += max[q];
    }
    for (uint32_t seed = (uint32_t)md->n; seed < total; seed++) {
        uint32_t q = queue_of(seed);
        cr_assert_lt(next[q], max[q], "survivors are not a prefix of what was written");
        store_get_result_t gr;
        cr_assert_eq(store_get_messages(s, TOPIC, q, next[q], 1, NULL, g_buf, sizeof(g_buf), &gr),
                     0);
        cr_assert_eq(gr.count, 1);
        record_view_t rv;
        cr_assert_eq(record_decode(g_buf, gr.bytes, &rv), 0);
        store_put_result_t r = {rv.phys_offset, rv.queue_offset, rv.store_ts, rv.total_size};
        model_add(md, seed, q, &r);
        expect_record(g_buf, gr.bytes, &md->msgs[md->n - 1], "unreported survivor");
        next[q]++;
    }
}

Test(store_recovery, sigkill_sync_flush_keeps_acked, .fini = kill_child)
{
    char dir[PATH_BYTES - 100];
    ts_mkdtemp(dir, sizeof(dir), "rec-kill");
    int fd = spawn_child(child_sync_writer, dir, NULL);
    pid_t pid = g_child;
    model_t *md = model_new();
    read_puts(fd, md, 300); /* 300 acked ... */
    cr_assert_eq(kill(pid, SIGKILL), 0);
    read_puts(fd, md, SIZE_MAX); /* ... and whatever was acked before the kill landed */
    close(fd);
    int st = reap_child(pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "the child was not killed mid-stream (exit code %d, signal %d)",
              WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    size_t acked = md->n;
    cr_assert_geq(acked, 300);

    store_config_t cfg;
    base_config(&cfg, dir);
    store_t *s = open_store(&cfg);
    adopt_unreported(s, md);
    cr_log_info("%zu acked, %zu survived", acked, md->n);
    verify(s, md, true);
    finish_recovered(s, &cfg, md);
    free(md);
    ts_rmtree(dir);
}

/* ---- 6. a crash before dispatch ------------------------------------------------------ */

#define FAST_PUTS 3000u

typedef struct fast_report {
    _Atomic uint32_t n;
    uint64_t committed, dispatched; /* at the moment of the crash */
    wire_put_t puts[FAST_PUTS];
} fast_report_t;

/*
 * Append as fast as possible and _exit at once, reporting through shared
 * memory (a pipe write per message would give the dispatcher time to catch
 * up). One record per LMDB transaction keeps the dispatcher far behind.
 */
static int child_fast_writer(const char *dir, int fd, void *arg)
{
    (void)fd;
    fast_report_t *rep = arg;
    store_config_t cfg;
    crash_config(&cfg, dir);
    cfg.dispatch_batch_max = 1;
    store_t *s;
    if (store_open(&s, &cfg) != 0)
        return 10;
    for (uint32_t seed = 0; seed < FAST_PUTS; seed++) {
        store_put_result_t r;
        if (child_put(s, seed, -1, &r))
            return 11;
        rep->puts[seed] = (wire_put_t){seed, queue_of(seed), r};
        atomic_store(&rep->n, seed + 1);
    }
    store_stats_t st;
    store_get_stats(s, &st);
    rep->committed = st.committed;
    rep->dispatched = st.dispatched;
    return 0;
}

Test(store_recovery, crash_before_dispatch, .fini = kill_child)
{
    char dir[PATH_BYTES - 100];
    ts_mkdtemp(dir, sizeof(dir), "rec-nodisp");
    fast_report_t *rep =
        mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(rep, MAP_FAILED);
    int fd = spawn_child(child_fast_writer, dir, rep);
    close(fd);
    expect_clean_exit(reap_child(g_child));
    cr_assert_eq(atomic_load(&rep->n), FAST_PUTS);
    cr_assert_lt(rep->dispatched, rep->committed,
                 "the child should have died with undispatched records (%llu of %llu)",
                 (unsigned long long)rep->dispatched, (unsigned long long)rep->committed);
    model_t *md = model_new();
    uint64_t per_queue[QUEUES] = {0};
    for (uint32_t i = 0; i < FAST_PUTS; i++) {
        model_add(md, rep->puts[i].seed, rep->puts[i].queue_id, &rep->puts[i].res);
        per_queue[rep->puts[i].queue_id]++;
    }
    munmap(rep, sizeof(*rep));

    store_config_t cfg;
    base_config(&cfg, dir);
    store_t *s = open_store(&cfg);
    for (uint32_t q = 0; q < QUEUES; q++) {
        uint64_t min, max;
        cr_assert_eq(store_queue_range(s, TOPIC, q, &min, &max), 0);
        cr_assert_eq(max, per_queue[q], "queue %u: max %llu, the child put %llu", q,
                     (unsigned long long)max, (unsigned long long)per_queue[q]);
    }
    verify(s, md, true);
    finish_recovered(s, &cfg, md);
    free(md);
    ts_rmtree(dir);
}

/* ---- 7. a clean reopen reads only the tail ---------------------------------------- */

/* The "recovery: log [min, end), N records verified" line of the last open, from a log file. */
static void last_recovery_line(const char *path, uint64_t *end, uint64_t *verified)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
    char line[1024];
    bool found = false;
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "recovery: log [");
        unsigned long long a, b, c;
        if (p && sscanf(p, "recovery: log [%llu, %llu), %llu records verified", &a, &b, &c) == 3) {
            *end = b;
            *verified = c;
            found = true;
        }
    }
    fclose(f);
    cr_assert(found, "no recovery summary in %s", path);
}

/*
 * A clean close leaves the checkpoint at the last record, so the next open
 * verifies that record and nothing else. Proof by behaviour: a byte flipped in
 * the middle of the FIRST segment does not cut the log (a scan over it would
 * drop everything after it); and the recovery summary says 0 records verified.
 */
Test(store_recovery, clean_reopen_reads_only_the_tail)
{
    char dir[PATH_BYTES - 100], logdir[PATH_BYTES - 100];
    ts_mkdtemp(dir, sizeof(dir), "rec-tail");
    ts_mkdtemp(logdir, sizeof(logdir), "rec-tail-log");
    char logpath[PATH_BYTES];
    path_join(logpath, logdir, "store.log");
    store_config_t cfg;
    base_config(&cfg, dir);
    model_t *md = write_and_close(&cfg, 600);
    uint64_t segs[64];
    size_t nseg = list_segments(dir, segs, 64);
    cr_assert_geq(nseg, 8);
    /* a record in the middle of the first segment */
    size_t victim = 0;
    while (md->msgs[victim + 1].res.phys_offset < SEG_BYTES / 2)
        victim++;
    flip_log_byte(dir, md->msgs[victim].res.phys_offset + md->msgs[victim].res.size / 2);
    md->msgs[victim].state = MSG_CORRUPT;

    cr_assert_eq(rill_log_set_file(logpath), 0);
    store_t *s = NULL;
    int rc = store_open(&s, &cfg);
    rill_log_set_file(NULL);
    cr_assert_eq(rc, 0, "store_open: %s", rill_strerror(rc));
    uint64_t end = 0, verified = UINT64_MAX;
    last_recovery_line(logpath, &end, &verified);
    const store_put_result_t *lastr = &md->msgs[md->n - 1].res;
    cr_assert_eq(end, lastr->phys_offset + lastr->size);
    cr_assert_eq(verified, 0, "a clean reopen verified %llu records", (unsigned long long)verified);
    verify(s, md, true);
    finish_recovered(s, &cfg, md);
    free(md);
    ts_rmtree(dir);
    ts_rmtree(logdir);
}

/* ---- a cut must not leave a checkpoint behind it ------------------------------------ */

typedef struct reappend {
    const model_t *orig;
    size_t from;
} reappend_t;

/*
 * Open the store (recovery cuts at orig[from]), append the same messages
 * again (they land at the very same offsets) and crash without flushing.
 */
static int child_reappend(const char *dir, int fd, void *arg)
{
    const reappend_t *ra = arg;
    store_config_t cfg;
    crash_config(&cfg, dir);
    store_t *s;
    if (store_open(&s, &cfg) != 0)
        return 10;
    for (size_t i = ra->from; i < ra->orig->n; i++) {
        const expect_msg_t *e = &ra->orig->msgs[i];
        store_put_result_t r;
        if (child_put(s, e->seed, fd, &r))
            return 11;
        if (r.phys_offset != e->res.phys_offset || r.queue_offset != e->res.queue_offset)
            return 12;
    }
    if (store_wait_dispatched(s, 10000) != 0)
        return 13;
    return 0;
}

/*
 * A clean close leaves meta.checkpoint C at the last record. The log then
 * loses its tail (cut at E < C); the store is reopened, the lost messages are
 * written again (a new record starts at C again) and the process dies before
 * anything is flushed. A power loss may tear any of those unflushed records:
 * the next recovery must verify them all and cut at the torn one. It cannot
 * if the old checkpoint C survived the cut: C names a valid record again, and
 * recovery would trust everything before it.
 */
Test(store_recovery, cut_clears_stale_checkpoint, .fini = kill_child)
{
    char dir[PATH_BYTES - 100], tmpl[PATH_BYTES - 100];
    ts_mkdtemp(dir, sizeof(dir), "rec-stale");
    ts_mkdtemp(tmpl, sizeof(tmpl), "rec-stale-tmpl");
    store_config_t cfg;
    base_config(&cfg, dir);
    model_t *orig = write_and_close(&cfg, 200);
    size_t from = orig->n - 15;
    uint64_t cut = orig->msgs[from].res.phys_offset;
    uint64_t segs[64];
    size_t nseg = list_segments(dir, segs, 64);
    for (size_t i = 0; i < nseg; i++) {
        if (segs[i] > cut)
            remove_segment(dir, segs[i]);
        else if (segs[i] + SEG_BYTES > cut)
            truncate_segment(dir, segs[i], cut - segs[i]);
    }

    reappend_t ra = {orig, from};
    int fd = spawn_child(child_reappend, dir, &ra);
    model_t *again = model_new();
    read_puts(fd, again, SIZE_MAX);
    close(fd);
    expect_clean_exit(reap_child(g_child));
    cr_assert_eq(again->n, orig->n - from);
    for (size_t i = 0; i < again->n; i++)
        orig->msgs[from + i].res = again->msgs[i].res; /* same place, new store time */
    free(again);
    ts_rmtree(tmpl);
    copy_tree(dir, tmpl);

    /* tear an unflushed re-appended record before C (and, for contrast, C itself) */
    size_t victims[] = {from + 3, orig->n - 2, orig->n - 1};
    for (size_t j = 0; j < sizeof(victims) / sizeof(victims[0]); j++) {
        const store_put_result_t *r = &orig->msgs[victims[j]].res;
        restore_tree(tmpl, dir);
        flip_log_byte(dir, r->phys_offset + r->size / 2);
        model_t *md = model_clone(orig);
        model_cut_at(md, r->phys_offset);
        check_recovered(&cfg, md);
        free(md);
    }
    free(orig);
    ts_rmtree(dir);
    ts_rmtree(tmpl);
}
