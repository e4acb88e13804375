/*
 * test_commitlog.c - the CommitLog append path (broker/store/commitlog.h),
 * driven directly with 64 KiB segments: queue offsets, contiguity, segment
 * roll-over at exact boundaries, all-or-nothing batches, refusal and a
 * segment that cannot be created, reads, reopen and a corrupt directory.
 */
#include "broker/store/commitlog.h"
#include "common/record.h"
#include "common/errors.h"
#include "support/test_support.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define SEG        65536u      /* segment_size */
#define MAX_MSG    (1u << 20)  /* max_message_size */
#define STORE_IP   0x0A000001u /* 10.0.0.1 */
#define STORE_PORT 10911
#define MIN_REC    (RECORD_HEADER_SIZE + 1) /* topic "T", empty body */

static uint8_t g_body[MAX_MSG + 1];

static void fill_body(void)
{
    for (size_t i = 0; i < sizeof(g_body); i++)
        g_body[i] = (uint8_t)(i * 31 + 7);
}

static commitlog_t *open_log_max(const char *dir, uint32_t max_message_size)
{
    commitlog_options_t opt = {
        .dir = dir,
        .segment_size = SEG,
        .max_message_size = max_message_size,
        .store_ip = STORE_IP,
        .store_port = STORE_PORT,
    };
    commitlog_t *cl = NULL;
    int rc = commitlog_open(&cl, &opt);
    cr_assert_eq(rc, 0, "commitlog_open: %s", rill_strerror(rc));
    cr_assert_not_null(cl);
    return cl;
}

static commitlog_t *open_log(const char *dir)
{
    return open_log_max(dir, MAX_MSG);
}

static void log_dir(char *buf, size_t cap, const char *tag)
{
    char root[512];
    ts_mkdtemp(root, sizeof(root), tag);
    /* A subdirectory that does not exist yet: commitlog_open creates it. */
    snprintf(buf, cap, "%s/commitlog", root);
}

static void rm_log_dir(const char *dir)
{
    char root[600];
    snprintf(root, sizeof(root), "%s", dir);
    char *slash = strrchr(root, '/');
    cr_assert_not_null(slash);
    *slash = '\0';
    ts_rmtree(root);
}

static void seg_path(char *buf, size_t cap, const char *dir, uint64_t start)
{
    snprintf(buf, cap, "%s/%020" PRIu64, dir, start);
}

static long long seg_file_size(const char *dir, uint64_t start)
{
    char p[1024];
    seg_path(p, sizeof(p), dir, start);
    return ts_file_size(p);
}

/* A message whose record is exactly `rec` bytes (topic length counts). */
static store_msg_t msg_rec(const char *topic, uint32_t queue_id, uint64_t rec)
{
    size_t tlen = strlen(topic);
    cr_assert_geq(rec, RECORD_HEADER_SIZE + tlen);
    cr_assert_leq(rec - RECORD_HEADER_SIZE - tlen, sizeof(g_body));
    return (store_msg_t){
        .topic = topic,
        .topic_len = (uint16_t)tlen,
        .queue_id = queue_id,
        .body = g_body,
        .body_len = (uint32_t)(rec - RECORD_HEADER_SIZE - tlen),
        .born_ts = 1700000000000ull,
        .born_ip = 0xC0A80001u,
        .born_port = 5555,
    };
}

static store_put_result_t append1(commitlog_t *cl, const store_msg_t *m)
{
    store_put_result_t r;
    int rc = commitlog_append(cl, m, 1, &r);
    cr_assert_eq(rc, 0, "append: %s", rill_strerror(rc));
    return r;
}

static store_put_result_t append_rec(commitlog_t *cl, uint64_t rec)
{
    store_msg_t m = msg_rec("T", 0, rec);
    return append1(cl, &m);
}

/* Decode the record at phys through commitlog_ptr. */
static record_view_t view_at(commitlog_t *cl, uint64_t phys, uint64_t *avail_out)
{
    uint64_t avail = 0;
    const uint8_t *p = commitlog_ptr(cl, phys, &avail);
    cr_assert_not_null(p, "offset %" PRIu64 " not mapped", phys);
    record_view_t v;
    int rc = record_decode(p, avail, &v);
    cr_assert_eq(rc, 0, "decode at %" PRIu64 ": %s", phys, rill_strerror(rc));
    if (avail_out)
        *avail_out = avail;
    return v;
}

static int decode_rc_at(commitlog_t *cl, uint64_t phys)
{
    uint64_t avail = 0;
    const uint8_t *p = commitlog_ptr(cl, phys, &avail);
    cr_assert_not_null(p);
    record_view_t v;
    return record_decode(p, avail, &v);
}

static int all_zero_at(commitlog_t *cl, uint64_t from, uint64_t len)
{
    uint64_t avail;
    const uint8_t *p = commitlog_ptr(cl, from, &avail);
    cr_assert_not_null(p);
    cr_assert_geq(avail, len);
    for (uint64_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

/*
 * Walk the log from its minimum to committed: every message record must
 * carry its own offset, blanks may only close a segment. Returns messages.
 */
static size_t walk_log(commitlog_t *cl)
{
    uint64_t pos = commitlog_min_offset(cl), end = commitlog_committed(cl);
    size_t msgs = 0;
    while (pos < end) {
        uint64_t avail;
        record_view_t v = view_at(cl, pos, &avail);
        if (v.kind == RECORD_KIND_BLANK) {
            cr_assert_eq(v.total_size, avail, "blank at %" PRIu64 " does not reach the end", pos);
            cr_assert_eq((pos + v.total_size) % SEG, 0);
        } else {
            cr_assert_eq(v.kind, RECORD_KIND_MSG);
            cr_assert_eq(v.phys_offset, pos);
            cr_assert_leq(v.total_size, avail, "record spans segments");
            msgs++;
        }
        pos += v.total_size;
    }
    cr_assert_eq(pos, end);
    return msgs;
}

/* ---- options, empty log ---------------------------------------------------- */

Test(commitlog, open_rejects_bad_options)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-opt");
    commitlog_t *cl = (commitlog_t *)0x1;
    commitlog_options_t ok = {.dir = dir, .segment_size = SEG, .max_message_size = MAX_MSG};
    commitlog_options_t o;

    cr_assert_eq(commitlog_open(&cl, NULL), RILL_EINVAL);
    o = ok;
    o.dir = NULL;
    cr_assert_eq(commitlog_open(&cl, &o), RILL_EINVAL);
    o = ok;
    o.segment_size = 1024;
    cr_assert_eq(commitlog_open(&cl, &o), RILL_EINVAL);
    o = ok;
    o.segment_size = SEG + 100; /* not a page multiple */
    cr_assert_eq(commitlog_open(&cl, &o), RILL_EINVAL);
    o = ok;
    o.max_message_size = 0;
    cr_assert_eq(commitlog_open(&cl, &o), RILL_EINVAL);
    o = ok;
    o.max_message_size = RECORD_BODY_BYTES_MAX + 1;
    cr_assert_eq(commitlog_open(&cl, &o), RILL_EINVAL);
    cr_assert_eq(cl, (commitlog_t *)0x1, "out written on failure");

    cr_assert_eq(commitlog_open(&cl, &ok), 0);
    commitlog_close(cl);
    commitlog_close(NULL);
    rm_log_dir(dir);
}

Test(commitlog, empty_log)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-empty");
    commitlog_t *cl = open_log(dir);
    cr_assert_eq(commitlog_committed(cl), 0);
    cr_assert_eq(commitlog_min_offset(cl), 0);
    cr_assert_eq(commitlog_mapped_end(cl), 0);
    cr_assert_eq(commitlog_segment_size(cl), SEG);
    commitlog_segment_info_t info[2];
    cr_assert_eq(commitlog_segments(cl, info, 2), 0);
    uint64_t avail;
    cr_assert_null(commitlog_ptr(cl, 0, &avail));
    uint8_t buf[256];
    uint32_t size;
    cr_assert_eq(commitlog_read(cl, 0, buf, sizeof(buf), &size), RILL_ERANGE);
    cr_assert_eq(seg_file_size(dir, 0), -1, "no segment before the first append");
    commitlog_close(cl);
    rm_log_dir(dir);
}

/* ---- offsets and contiguity ---------------------------------------------- */

Test(commitlog, queue_offsets_per_topic_and_queue, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-qoff");
    commitlog_t *cl = open_log(dir);
    const char *topics[] = {"TopicA", "TopicB", "%RETRY%group"};
    uint64_t expect[3][4] = {{0}};
    uint64_t next_phys = 0, last_ts = 0;
    for (int i = 0; i < 400; i++) {
        int t = (i * 7) % 3;
        uint32_t q = (uint32_t)((i / 3) % 4);
        store_msg_t m = msg_rec(topics[t], q, RECORD_HEADER_SIZE + strlen(topics[t]) + (i % 50));
        m.tag_hash = (uint64_t)i;
        m.reconsume_times = (uint32_t)i % 3;
        m.flags = (i % 5 == 0) ? RECORD_FLAG_DELAYED : 0;
        store_put_result_t r = append1(cl, &m);
        if (m.flags & RECORD_FLAG_DELAYED) {
            /* not in a ConsumeQueue until delivered: no queue offset, no gap */
            cr_assert_eq(r.queue_offset, 0, "delayed msg %d", i);
        } else {
            cr_assert_eq(r.queue_offset, expect[t][q], "msg %d %s/%u", i, topics[t], q);
            expect[t][q]++;
        }
        cr_assert_eq(r.size, RECORD_HEADER_SIZE + strlen(topics[t]) + (i % 50));
        cr_assert_eq(r.phys_offset, next_phys, "msg %d not contiguous", i);
        cr_assert_geq(r.store_ts, last_ts, "store timestamps are monotonic");
        last_ts = r.store_ts;
        next_phys += r.size;
        cr_assert_eq(commitlog_committed(cl), next_phys);

        record_view_t v = view_at(cl, r.phys_offset, NULL);
        cr_assert_eq(v.kind, RECORD_KIND_MSG);
        cr_assert_eq(v.total_size, r.size);
        cr_assert_eq(v.phys_offset, r.phys_offset);
        cr_assert_eq(v.queue_offset, r.queue_offset);
        cr_assert_eq(v.queue_id, q);
        cr_assert_eq(v.topic_len, strlen(topics[t]));
        cr_assert(memcmp(v.topic, topics[t], v.topic_len) == 0);
        cr_assert_eq(v.body_len, m.body_len);
        cr_assert(memcmp(v.body, g_body, v.body_len) == 0);
        cr_assert_eq(v.store_ts, r.store_ts);
        cr_assert_eq(v.born_ts, m.born_ts);
        cr_assert_eq(v.born_ip, m.born_ip);
        cr_assert_eq(v.born_port, m.born_port);
        cr_assert_eq(v.store_ip, STORE_IP);
        cr_assert_eq(v.store_port, STORE_PORT);
        cr_assert_eq(v.tag_hash, (uint64_t)i);
        cr_assert_eq(v.flags, m.flags);
        cr_assert_eq(v.reconsume_times, m.reconsume_times);
    }
    for (int t = 0; t < 3; t++)
        for (uint32_t q = 0; q < 4; q++)
            cr_assert_eq(commitlog_next_queue_offset(cl, topics[t], (uint16_t)strlen(topics[t]), q),
                         expect[t][q]);
    cr_assert_eq(commitlog_next_queue_offset(cl, "TopicA", 6, 4), 0, "unknown queue");
    cr_assert_eq(commitlog_next_queue_offset(cl, "TopicC", 6, 0), 0, "unknown topic");
    cr_assert_lt(next_phys, SEG, "all in the first segment, so all contiguous");
    cr_assert_eq(walk_log(cl), 400);
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, records_contiguous_across_many_segments, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-many");
    commitlog_t *cl = open_log(dir);
    uint64_t prev_end = 0;
    int n = 1500;
    for (int i = 0; i < n; i++) {
        uint64_t rec = MIN_REC + (uint64_t)(i * 977) % 3000;
        store_put_result_t r = append_rec(cl, rec);
        cr_assert_eq(r.queue_offset, (uint64_t)i);
        cr_assert_gt(r.phys_offset + 1, prev_end, "offsets increase");
        if (r.phys_offset != prev_end) {
            /* Rolled: the previous tail is one blank up to the segment end. */
            cr_assert_eq(r.phys_offset % SEG, 0);
            cr_assert_eq(r.phys_offset / SEG, prev_end / SEG + 1);
            uint64_t avail;
            record_view_t b = view_at(cl, prev_end, &avail);
            cr_assert_eq(b.kind, RECORD_KIND_BLANK);
            cr_assert_eq(b.total_size, r.phys_offset - prev_end);
            cr_assert_geq(b.total_size, RECORD_BLANK_MIN);
        }
        cr_assert_eq(r.phys_offset / SEG, (r.phys_offset + r.size - 1) / SEG, "no spanning");
        prev_end = r.phys_offset + r.size;
    }
    cr_assert_eq(walk_log(cl), (size_t)n);
    uint64_t nsegs = (prev_end + SEG - 1) / SEG;
    cr_assert_geq(nsegs, 10);
    commitlog_segment_info_t info[64];
    cr_assert_eq(commitlog_segments(cl, info, 64), nsegs);
    for (uint64_t s = 0; s < nsegs; s++) {
        cr_assert_eq(info[s].start, s * SEG);
        cr_assert_eq(info[s].end, (s + 1) * SEG);
        cr_assert_eq(seg_file_size(dir, s * SEG), SEG, "segment %" PRIu64, s);
    }
    cr_assert_eq(commitlog_mapped_end(cl), nsegs * SEG);
    cr_assert_eq(seg_file_size(dir, nsegs * SEG), -1);
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, segment_files_named_by_start_offset, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-names");
    commitlog_t *cl = open_log(dir);
    for (int i = 0; i < 3; i++)
        append_rec(cl, SEG - 8); /* one record per segment */
    char p[1024];
    snprintf(p, sizeof(p), "%s/00000000000000000000", dir);
    cr_assert_eq(ts_file_size(p), SEG);
    snprintf(p, sizeof(p), "%s/00000000000000065536", dir);
    cr_assert_eq(ts_file_size(p), SEG);
    snprintf(p, sizeof(p), "%s/00000000000000131072", dir);
    cr_assert_eq(ts_file_size(p), SEG);
    snprintf(p, sizeof(p), "%s/00000000000000196608", dir);
    cr_assert_eq(ts_file_size(p), -1);
    commitlog_close(cl);
    rm_log_dir(dir);
}

/* ---- roll-over at exact boundaries ----------------------------------------- */

Test(commitlog, record_ending_exactly_at_segment_end, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-exact");
    commitlog_t *cl = open_log(dir);
    store_put_result_t a = append_rec(cl, 1000);
    cr_assert_eq(a.phys_offset, 0);
    store_put_result_t b = append_rec(cl, SEG - 1000);
    cr_assert_eq(b.phys_offset, 1000, "fits exactly: no roll");
    cr_assert_eq(commitlog_committed(cl), SEG);
    cr_assert_eq(commitlog_mapped_end(cl), SEG, "no segment created before it is needed");
    cr_assert_eq(seg_file_size(dir, SEG), -1);
    uint64_t avail;
    record_view_t v = view_at(cl, 1000, &avail);
    cr_assert_eq(v.kind, RECORD_KIND_MSG);
    cr_assert_eq(v.total_size, SEG - 1000);
    cr_assert_eq(avail, SEG - 1000, "the record fills the segment, no blank");

    store_put_result_t c = append_rec(cl, 500);
    cr_assert_eq(c.phys_offset, SEG, "next record at the next segment's start");
    cr_assert_eq(c.queue_offset, 2);
    cr_assert_eq(seg_file_size(dir, SEG), SEG);
    cr_assert_eq(commitlog_committed(cl), SEG + 500);
    cr_assert_eq(walk_log(cl), 3);
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, record_leaving_exactly_a_blank, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-blank8");
    commitlog_t *cl = open_log(dir);
    append_rec(cl, 1000);
    store_put_result_t b = append_rec(cl, SEG - 1000 - RECORD_BLANK_MIN);
    cr_assert_eq(b.phys_offset, 1000, "leaves room for a blank: fits");
    cr_assert_eq(commitlog_committed(cl), SEG - RECORD_BLANK_MIN);
    cr_assert_eq(seg_file_size(dir, SEG), -1);
    /* The blank is written only when the segment is closed. */
    cr_assert(all_zero_at(cl, SEG - RECORD_BLANK_MIN, RECORD_BLANK_MIN));
    cr_assert_eq(decode_rc_at(cl, SEG - RECORD_BLANK_MIN), RILL_ENOTFOUND);

    store_put_result_t c = append_rec(cl, 200);
    cr_assert_eq(c.phys_offset, SEG);
    uint64_t avail;
    record_view_t blank = view_at(cl, SEG - RECORD_BLANK_MIN, &avail);
    cr_assert_eq(blank.kind, RECORD_KIND_BLANK);
    cr_assert_eq(blank.total_size, RECORD_BLANK_MIN);
    cr_assert_eq(avail, RECORD_BLANK_MIN);
    cr_assert_eq(walk_log(cl), 3);
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, record_leaving_1_to_7_bytes_rolls, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-roll17");
    commitlog_t *cl = open_log(dir);
    append_rec(cl, 1000);
    uint64_t queue_offset = 1;
    for (uint64_t r = 1; r < RECORD_BLANK_MIN; r++) {
        uint64_t pos = commitlog_committed(cl);
        uint64_t seg_end = (pos / SEG + 1) * SEG;
        uint64_t left = seg_end - pos;
        cr_assert_geq(left - r, MIN_REC);
        store_put_result_t x = append_rec(cl, left - r);
        cr_assert_eq(x.phys_offset, seg_end, "r=%" PRIu64 ": would leave %" PRIu64 " bytes", r, r);
        cr_assert_eq(x.queue_offset, queue_offset++);
        cr_assert_eq(x.size, left - r);
        cr_assert_eq(commitlog_committed(cl), seg_end + left - r);
        cr_assert_eq(seg_file_size(dir, seg_end), SEG);
        /* The old tail is one blank up to the segment end, and nothing of the
         * record that did not fit was written there. */
        uint64_t avail;
        record_view_t blank = view_at(cl, pos, &avail);
        cr_assert_eq(blank.kind, RECORD_KIND_BLANK);
        cr_assert_eq(blank.total_size, left);
        cr_assert_eq(avail, left);
        cr_assert(all_zero_at(cl, pos + RECORD_BLANK_MIN, left - RECORD_BLANK_MIN));
        record_view_t v = view_at(cl, seg_end, NULL);
        cr_assert_eq(v.kind, RECORD_KIND_MSG);
        cr_assert_eq(v.phys_offset, seg_end);
    }
    cr_assert_eq(walk_log(cl), RECORD_BLANK_MIN);
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, record_larger_than_what_is_left_rolls, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-rollbig");
    commitlog_t *cl = open_log(dir);
    append_rec(cl, SEG - 5000);
    store_put_result_t r = append_rec(cl, 5001);
    cr_assert_eq(r.phys_offset, SEG);
    record_view_t blank = view_at(cl, SEG - 5000, NULL);
    cr_assert_eq(blank.kind, RECORD_KIND_BLANK);
    cr_assert_eq(blank.total_size, 5000);
    commitlog_close(cl);
    rm_log_dir(dir);
}

/* A record exactly one segment long fits a fresh segment (it ends exactly at
 * the segment end), so it is not "too big". */
Test(commitlog, record_of_exactly_one_segment, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-fullseg");
    commitlog_t *cl = open_log(dir);
    store_put_result_t a = append_rec(cl, SEG);
    cr_assert_eq(a.phys_offset, 0);
    cr_assert_eq(commitlog_committed(cl), SEG);
    store_put_result_t b = append_rec(cl, 300);
    cr_assert_eq(b.phys_offset, SEG);
    store_put_result_t c = append_rec(cl, SEG);
    cr_assert_eq(c.phys_offset, 2 * SEG);
    record_view_t blank = view_at(cl, SEG + 300, NULL);
    cr_assert_eq(blank.kind, RECORD_KIND_BLANK);
    cr_assert_eq(blank.total_size, SEG - 300);
    cr_assert_eq(walk_log(cl), 3);
    /* One byte more can never fit. */
    store_msg_t m = msg_rec("T", 0, SEG + 1);
    store_put_result_t r;
    cr_assert_eq(commitlog_append(cl, &m, 1, &r), RILL_ETOOBIG);
    /* Nor can a record that would leave 1..7 bytes of a fresh segment. */
    for (uint64_t left = 1; left < RECORD_BLANK_MIN; left++) {
        m = msg_rec("T", 0, SEG - left);
        cr_assert_eq(commitlog_append(cl, &m, 1, &r), RILL_ETOOBIG, "left %" PRIu64, left);
    }
    m = msg_rec("T", 0, SEG - RECORD_BLANK_MIN);
    cr_assert_eq(commitlog_append(cl, &m, 1, &r), 0);
    cr_assert_eq(r.phys_offset, 3 * SEG);
    commitlog_close(cl);
    rm_log_dir(dir);
}

/* ---- batches ----------------------------------------------------------------- */

Test(commitlog, batch_is_contiguous_with_consecutive_queue_offsets, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-batch");
    commitlog_t *cl = open_log(dir);
    append_rec(cl, 700); /* T/0 -> 0 */
    /* 100 messages (more than the on-stack counter array) over 3 queues. */
    enum { N = 100 };
    store_msg_t msgs[N];
    store_put_result_t res[N];
    for (int i = 0; i < N; i++)
        msgs[i] = msg_rec(i % 3 == 2 ? "U" : "T", (uint32_t)(i % 3 == 1), MIN_REC + (uint64_t)i);
    cr_assert_eq(commitlog_append(cl, msgs, N, res), 0);
    uint64_t next[3] = {1, 0, 0}; /* T/0, T/1, U/0 */
    uint64_t phys = 700;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(res[i].phys_offset, phys, "msg %d", i);
        cr_assert_eq(res[i].size, MIN_REC + (uint64_t)i);
        cr_assert_eq(res[i].queue_offset, next[i % 3]++, "msg %d", i);
        cr_assert_eq(res[i].store_ts, res[0].store_ts, "one store time per batch");
        phys += res[i].size;
    }
    cr_assert_eq(commitlog_committed(cl), phys);
    cr_assert_eq(commitlog_next_queue_offset(cl, "T", 1, 0), next[0]);
    cr_assert_eq(commitlog_next_queue_offset(cl, "T", 1, 1), next[1]);
    cr_assert_eq(commitlog_next_queue_offset(cl, "U", 1, 0), next[2]);
    cr_assert_eq(walk_log(cl), N + 1);
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, batch_rolls_as_a_unit, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-batchroll");
    commitlog_t *cl = open_log(dir);
    append_rec(cl, 1000);
    /* Three records whose total would leave 3 bytes: all go to the next segment. */
    uint64_t left = SEG - 1000;
    store_msg_t msgs[3] = {msg_rec("T", 0, 20000), msg_rec("T", 0, 20000),
                           msg_rec("T", 0, left - 40000 - 3)};
    store_put_result_t res[3];
    cr_assert_eq(commitlog_append(cl, msgs, 3, res), 0);
    cr_assert_eq(res[0].phys_offset, SEG);
    cr_assert_eq(res[1].phys_offset, SEG + 20000);
    cr_assert_eq(res[2].phys_offset, SEG + 40000);
    record_view_t blank = view_at(cl, 1000, NULL);
    cr_assert_eq(blank.kind, RECORD_KIND_BLANK);
    cr_assert_eq(blank.total_size, left);

    /* A batch that fills the rest of the segment exactly stays. */
    uint64_t pos = commitlog_committed(cl);
    left = 2 * SEG - pos;
    cr_assert_geq(left, 2 * MIN_REC);
    store_msg_t fill[2] = {msg_rec("T", 1, left / 2), msg_rec("T", 1, left - left / 2)};
    cr_assert_eq(commitlog_append(cl, fill, 2, res), 0);
    cr_assert_eq(res[0].phys_offset, pos);
    cr_assert_eq(res[1].phys_offset, pos + left / 2);
    cr_assert_eq(commitlog_committed(cl), 2 * SEG);
    cr_assert_eq(walk_log(cl), 6);
    commitlog_close(cl);
    rm_log_dir(dir);
}

static void limit_file_size(rlim_t bytes)
{
    /* Criterion runs each test in its own process: this stays in this test.
     * Only appends run under the limit (see append_limited), so Criterion
     * can still report a failed assertion. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = bytes;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void unlimit_file_size(void)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* When nonzero, appends run with RLIMIT_FSIZE at this many bytes, so that
 * creating a segment (fallocate) fails with EFBIG. */
static rlim_t g_fsize_limit;

static int append_limited(commitlog_t *cl, const store_msg_t *msgs, size_t n,
                          store_put_result_t *res)
{
    if (g_fsize_limit)
        limit_file_size(g_fsize_limit);
    int rc = commitlog_append(cl, msgs, n, res);
    if (g_fsize_limit)
        unlimit_file_size();
    return rc;
}

/* A failed append leaves committed, queue offsets, the bytes and results alone. */
static void assert_batch_fails(commitlog_t *cl, const store_msg_t *msgs, size_t n, int want)
{
    uint64_t committed = commitlog_committed(cl);
    uint64_t mapped_end = commitlog_mapped_end(cl);
    uint64_t t0 = commitlog_next_queue_offset(cl, "T", 1, 0);
    store_put_result_t res[16];
    cr_assert_leq(n, 16);
    memset(res, 0xAB, sizeof(res));
    int rc = append_limited(cl, msgs, n, res);
    cr_assert_eq(rc, want, "append returned %d (%s), want %d", rc, rill_strerror(rc), want);
    for (size_t i = 0; i < sizeof(res); i++)
        cr_assert_eq(((const uint8_t *)res)[i], 0xAB, "results written on failure");
    cr_assert_eq(commitlog_committed(cl), committed);
    cr_assert_eq(commitlog_mapped_end(cl), mapped_end);
    cr_assert_eq(commitlog_next_queue_offset(cl, "T", 1, 0), t0);
    if (committed < mapped_end)
        cr_assert_eq(decode_rc_at(cl, committed), RILL_ENOTFOUND, "bytes written on failure");
}

Test(commitlog, batch_with_a_bad_message_writes_nothing, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-batchbad");
    commitlog_t *cl = open_log(dir);
    for (int i = 0; i < 3; i++)
        append_rec(cl, 300);
    store_msg_t msgs[5];
    for (int i = 0; i < 5; i++)
        msgs[i] = msg_rec("T", 0, 400);

    msgs[2].topic_len = 0; /* 3rd message: empty topic */
    assert_batch_fails(cl, msgs, 5, RILL_ETOPIC);
    msgs[2].topic = NULL;
    msgs[2].topic_len = 1;
    assert_batch_fails(cl, msgs, 5, RILL_ETOPIC);
    char long_topic[129];
    memset(long_topic, 'L', 128);
    long_topic[128] = '\0';
    msgs[2] = msg_rec(long_topic, 0, RECORD_HEADER_SIZE + 128);
    assert_batch_fails(cl, msgs, 5, RILL_ETOPIC);

    msgs[2] = msg_rec("T", 0, 400);
    msgs[4].body_len = MAX_MSG + 1; /* last message too big */
    assert_batch_fails(cl, msgs, 5, RILL_ETOOBIG);
    msgs[4] = msg_rec("T", 0, 400);
    msgs[3].props = "x";
    msgs[3].props_len = RECORD_PROPS_BYTES_MAX + 1;
    assert_batch_fails(cl, msgs, 5, RILL_ETOOBIG);
    msgs[3] = msg_rec("T", 0, 400);
    msgs[1].flags = 0x10; /* unknown flag */
    assert_batch_fails(cl, msgs, 5, RILL_EINVAL);
    msgs[1].flags = 0;
    msgs[1].body = NULL; /* body_len > 0 */
    assert_batch_fails(cl, msgs, 5, RILL_EINVAL);
    msgs[1] = msg_rec("T", 0, 400);

    /* Fixed, the same batch goes in with the next offsets. */
    store_put_result_t res[5];
    cr_assert_eq(commitlog_append(cl, msgs, 5, res), 0);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(res[i].queue_offset, 3 + (uint64_t)i);
        cr_assert_eq(res[i].phys_offset, 900 + 400 * (uint64_t)i);
    }
    cr_assert_eq(walk_log(cl), 8);
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, batch_larger_than_a_segment_is_too_big, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-batchbig");
    commitlog_t *cl = open_log(dir);
    append_rec(cl, 300);
    store_msg_t msgs[10];
    for (int i = 0; i < 10; i++)
        msgs[i] = msg_rec("T", 0, 7000); /* 70000 bytes > 65536 */
    assert_batch_fails(cl, msgs, 10, RILL_ETOOBIG);
    /* Just over a segment, or leaving 1..7 bytes of a fresh one. */
    msgs[9] = msg_rec("T", 0, SEG - 9 * 7000 + 1);
    assert_batch_fails(cl, msgs, 10, RILL_ETOOBIG);
    msgs[9] = msg_rec("T", 0, SEG - 9 * 7000 - 1);
    assert_batch_fails(cl, msgs, 10, RILL_ETOOBIG);
    /* Leaving room for a blank: accepted, in a new segment. */
    msgs[9] = msg_rec("T", 0, SEG - 9 * 7000 - RECORD_BLANK_MIN);
    store_put_result_t res[10];
    cr_assert_eq(commitlog_append(cl, msgs, 10, res), 0);
    cr_assert_eq(res[0].phys_offset, SEG);
    cr_assert_eq(res[9].queue_offset, 10);
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, bad_arguments)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-args");
    commitlog_t *cl = open_log(dir);
    store_msg_t m = {.topic = "T", .topic_len = 1};
    store_put_result_t r;
    cr_assert_eq(commitlog_append(cl, &m, 0, &r), RILL_EINVAL);
    cr_assert_eq(commitlog_append(cl, NULL, 1, &r), RILL_EINVAL);
    cr_assert_eq(commitlog_append(cl, &m, 1, NULL), RILL_EINVAL);
    cr_assert_eq(commitlog_committed(cl), 0);
    cr_assert_eq(seg_file_size(dir, 0), -1);
    /* An empty body is fine. */
    cr_assert_eq(commitlog_append(cl, &m, 1, &r), 0);
    cr_assert_eq(r.size, MIN_REC);
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, body_above_max_message_size, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-maxmsg");
    commitlog_t *cl = open_log(dir);
    store_msg_t m = msg_rec("T", 0, MIN_REC);
    m.body_len = MAX_MSG + 1;
    assert_batch_fails(cl, &m, 1, RILL_ETOOBIG);
    commitlog_close(cl);

    /* With a limit below the segment size the limit itself decides. */
    cl = open_log_max(dir, 1000);
    m = msg_rec("T", 0, RECORD_HEADER_SIZE + 1 + 1000);
    store_put_result_t r;
    cr_assert_eq(commitlog_append(cl, &m, 1, &r), 0);
    cr_assert_eq(r.size, RECORD_HEADER_SIZE + 1 + 1000);
    m.body_len = 1001;
    assert_batch_fails(cl, &m, 1, RILL_ETOOBIG);
    commitlog_close(cl);
    rm_log_dir(dir);
}

/* ---- refusing writes, a segment that cannot be created --------------------- */

Test(commitlog, refuse_and_allow_again, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-refuse");
    commitlog_t *cl = open_log(dir);
    append_rec(cl, 500);
    commitlog_set_refuse(cl, RILL_EDISKFULL);
    store_msg_t m = msg_rec("T", 0, 500);
    assert_batch_fails(cl, &m, 1, RILL_EDISKFULL);
    assert_batch_fails(cl, &m, 1, RILL_EDISKFULL);
    commitlog_set_refuse(cl, 0);
    store_put_result_t r = append1(cl, &m);
    cr_assert_eq(r.phys_offset, 500);
    cr_assert_eq(r.queue_offset, 1, "refused appends consumed no queue offset");
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, segment_that_cannot_be_created, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-fsize");
    commitlog_t *cl = open_log(dir);
    store_put_result_t first[3];
    for (int i = 0; i < 3; i++)
        first[i] = append_rec(cl, 20000);
    uint64_t committed = commitlog_committed(cl);
    cr_assert_eq(committed, 60000);

    g_fsize_limit = 4096; /* fallocate of a 64 KiB segment fails with EFBIG */
    /* Still fits the current segment: the limit does not matter. */
    store_msg_t fits = msg_rec("T", 0, 1000);
    store_put_result_t r;
    cr_assert_eq(append_limited(cl, &fits, 1, &r), 0);
    cr_assert_eq(r.phys_offset, 60000);
    committed += 1000;
    /* Needs a new segment: refused cleanly, single and batch. */
    store_msg_t m = msg_rec("T", 0, 5000);
    assert_batch_fails(cl, &m, 1, RILL_EDISKFULL);
    store_msg_t two[2] = {msg_rec("T", 0, 3000), msg_rec("T", 0, 3000)};
    assert_batch_fails(cl, two, 2, RILL_EDISKFULL);
    cr_assert_eq(commitlog_committed(cl), committed);
    cr_assert_eq(seg_file_size(dir, SEG), -1, "no half-created segment left behind");
    commitlog_segment_info_t info[4];
    cr_assert_eq(commitlog_segments(cl, info, 4), 1);
    /* No blank and no partial record at the tail. */
    cr_assert(all_zero_at(cl, committed, SEG - committed));
    /* What was written before still decodes. */
    for (int i = 0; i < 3; i++) {
        record_view_t v = view_at(cl, first[i].phys_offset, NULL);
        cr_assert_eq(v.kind, RECORD_KIND_MSG);
        cr_assert_eq(v.queue_offset, (uint64_t)i);
    }
    uint8_t *buf = malloc(SEG);
    cr_assert_not_null(buf);
    uint32_t size;
    cr_assert_eq(commitlog_read(cl, first[2].phys_offset, buf, SEG, &size), 0);
    cr_assert_eq(size, 20000);
    free(buf);
    cr_assert_eq(walk_log(cl), 4);

    /* Space comes back: the same append now succeeds in a new segment. */
    g_fsize_limit = 0;
    r = append1(cl, &m);
    cr_assert_eq(r.phys_offset, SEG);
    cr_assert_eq(r.queue_offset, 4);
    record_view_t blank = view_at(cl, committed, NULL);
    cr_assert_eq(blank.kind, RECORD_KIND_BLANK);
    cr_assert_eq(blank.total_size, SEG - committed);
    cr_assert_eq(walk_log(cl), 5);
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, first_segment_that_cannot_be_created, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-fsize0");
    commitlog_t *cl = open_log(dir);
    g_fsize_limit = 4096;
    store_msg_t m = msg_rec("T", 0, 300);
    assert_batch_fails(cl, &m, 1, RILL_EDISKFULL);
    cr_assert_eq(commitlog_committed(cl), 0);
    cr_assert_eq(commitlog_mapped_end(cl), 0);
    cr_assert_eq(seg_file_size(dir, 0), -1);
    g_fsize_limit = 0;
    store_put_result_t r = append1(cl, &m);
    cr_assert_eq(r.phys_offset, 0);
    cr_assert_eq(r.queue_offset, 0);
    commitlog_close(cl);
    rm_log_dir(dir);
}

/* ---- reading back ---------------------------------------------------------- */

Test(commitlog, read_and_copy, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-read");
    commitlog_t *cl = open_log(dir);
    store_put_result_t a = append_rec(cl, 300);
    store_put_result_t b = append_rec(cl, SEG - 300 - 100); /* leaves 100: a blank later */
    store_put_result_t c = append_rec(cl, 1234);
    cr_assert_eq(c.phys_offset, SEG);
    uint64_t committed = commitlog_committed(cl);

    static uint8_t buf[2 * SEG];
    uint32_t size = 0;
    uint64_t avail;
    cr_assert_eq(commitlog_read(cl, a.phys_offset, buf, sizeof(buf), &size), 0);
    cr_assert_eq(size, 300);
    cr_assert(memcmp(buf, commitlog_ptr(cl, a.phys_offset, &avail), 300) == 0);

    /* Too small a buffer: RILL_ENOSPACE with the size needed. */
    size = 0;
    cr_assert_eq(commitlog_read(cl, b.phys_offset, buf, b.size - 1, &size), RILL_ENOSPACE);
    cr_assert_eq(size, b.size);
    cr_assert_eq(commitlog_read(cl, b.phys_offset, buf, 0, &size), RILL_ENOSPACE);
    cr_assert_eq(commitlog_read(cl, b.phys_offset, buf, b.size, &size), 0);
    cr_assert_eq(size, b.size);
    record_view_t v;
    cr_assert_eq(record_decode(buf, size, &v), 0);
    cr_assert_eq(v.phys_offset, b.phys_offset);
    cr_assert_eq(v.queue_offset, 1);

    cr_assert_eq(commitlog_read(cl, c.phys_offset, buf, sizeof(buf), &size), 0);
    cr_assert_eq(size, 1234);

    /* At or past committed. */
    cr_assert_eq(commitlog_read(cl, committed, buf, sizeof(buf), &size), RILL_ERANGE);
    cr_assert_eq(commitlog_read(cl, committed + 1, buf, sizeof(buf), &size), RILL_ERANGE);
    cr_assert_eq(commitlog_read(cl, 5 * SEG, buf, sizeof(buf), &size), RILL_ERANGE);
    cr_assert_eq(commitlog_read(cl, UINT64_MAX, buf, sizeof(buf), &size), RILL_ERANGE);
    /* Not a record start, or the blank. */
    cr_assert_eq(commitlog_read(cl, a.phys_offset + 1, buf, sizeof(buf), &size), RILL_ECORRUPT);
    cr_assert_eq(commitlog_read(cl, b.phys_offset + 100, buf, sizeof(buf), &size), RILL_ECORRUPT);
    cr_assert_eq(commitlog_read(cl, SEG - 100, buf, sizeof(buf), &size), RILL_ECORRUPT);

    /* commitlog_copy: a known size. */
    memset(buf, 0, sizeof(buf));
    cr_assert_eq(commitlog_copy(cl, c.phys_offset, c.size, buf), 0);
    cr_assert(memcmp(buf, commitlog_ptr(cl, c.phys_offset, &avail), c.size) == 0);
    cr_assert_eq(commitlog_copy(cl, c.phys_offset, c.size + 1, buf), RILL_ERANGE);
    cr_assert_eq(commitlog_copy(cl, committed, 1, buf), RILL_ERANGE);
    /* Across a segment end. */
    cr_assert_eq(commitlog_copy(cl, SEG - 50, 100, buf), RILL_ERANGE);

    /* commitlog_ptr: beyond the mapping. */
    cr_assert_null(commitlog_ptr(cl, 2 * SEG, &avail));
    cr_assert_not_null(commitlog_ptr(cl, 2 * SEG - 1, &avail));
    cr_assert_eq(avail, 1);
    commitlog_close(cl);
    rm_log_dir(dir);
}

/* ---- reopen ---------------------------------------------------------------- */

Test(commitlog, reopen_maps_the_segments_again, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-reopen");
    commitlog_t *cl = open_log(dir);
    enum { N = 200 };
    store_put_result_t res[N];
    uint8_t *copy = malloc((size_t)4 * SEG);
    cr_assert_not_null(copy);
    for (int i = 0; i < N; i++) {
        store_msg_t m = msg_rec(i % 2 ? "Odd" : "Even", (uint32_t)(i % 3), 900 + (uint64_t)i);
        res[i] = append1(cl, &m);
    }
    uint64_t committed = commitlog_committed(cl);
    cr_assert_gt(committed, 3 * SEG);
    cr_assert_lt(committed, 4 * SEG);
    for (uint64_t s = 0; s < 4; s++) {
        uint64_t avail;
        const uint8_t *p = commitlog_ptr(cl, s * SEG, &avail);
        cr_assert_eq(avail, SEG);
        memcpy(copy + s * SEG, p, SEG);
    }
    commitlog_close(cl);

    cl = open_log(dir);
    commitlog_segment_info_t info[8];
    cr_assert_eq(commitlog_segments(cl, info, 8), 4);
    for (uint64_t s = 0; s < 4; s++) {
        cr_assert_eq(info[s].start, s * SEG);
        uint64_t avail;
        const uint8_t *p = commitlog_ptr(cl, s * SEG, &avail);
        cr_assert_not_null(p);
        cr_assert_eq(avail, SEG);
        cr_assert(memcmp(p, copy + s * SEG, SEG) == 0, "segment %" PRIu64 " differs", s);
    }
    cr_assert_eq(commitlog_min_offset(cl), 0);
    cr_assert_eq(commitlog_mapped_end(cl), 4 * SEG);
    for (int i = 0; i < N; i++) {
        record_view_t v = view_at(cl, res[i].phys_offset, NULL);
        cr_assert_eq(v.kind, RECORD_KIND_MSG);
        cr_assert_eq(v.queue_offset, res[i].queue_offset);
        cr_assert_eq(v.total_size, res[i].size);
    }

    /* Recovery sets the end and seeds the queue offsets; appends continue. */
    cr_assert_eq(commitlog_set_end(cl, committed), 0);
    cr_assert_eq(commitlog_committed(cl), committed);
    cr_assert_eq(walk_log(cl), N);
    uint32_t size;
    uint8_t rec[2048];
    cr_assert_eq(commitlog_read(cl, res[N - 1].phys_offset, rec, sizeof(rec), &size), 0);
    cr_assert(memcmp(rec, copy + res[N - 1].phys_offset, size) == 0);
    cr_assert_eq(commitlog_set_queue_offset(cl, "Odd", 3, 1, 34), 0);
    cr_assert_eq(commitlog_set_queue_offset(cl, "", 0, 1, 34), RILL_ETOPIC);
    cr_assert_eq(commitlog_next_queue_offset(cl, "Odd", 3, 1), 34);
    store_msg_t m = msg_rec("Odd", 1, 500);
    store_put_result_t r = append1(cl, &m);
    cr_assert_eq(r.phys_offset, committed);
    cr_assert_eq(r.queue_offset, 34);
    cr_assert_eq(walk_log(cl), N + 1);
    commitlog_close(cl);
    free(copy);
    rm_log_dir(dir);
}

Test(commitlog, set_end_cuts_the_tail, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-setend");
    commitlog_t *cl = open_log(dir);
    store_put_result_t a = append_rec(cl, 30000);
    store_put_result_t b = append_rec(cl, 30000);
    store_put_result_t c = append_rec(cl, 30000); /* rolls into segment 2 */
    cr_assert_eq(c.phys_offset, SEG);
    commitlog_close(cl);

    cl = open_log(dir);
    cr_assert_eq(commitlog_set_end(cl, b.phys_offset), 0); /* b and c are torn away */
    cr_assert_eq(commitlog_committed(cl), b.phys_offset);
    cr_assert_eq(seg_file_size(dir, SEG), -1, "segment past the end removed");
    cr_assert_eq(commitlog_mapped_end(cl), SEG);
    cr_assert(all_zero_at(cl, b.phys_offset, SEG - b.phys_offset));
    cr_assert_eq(commitlog_set_end(cl, 3 * SEG), RILL_ERANGE);
    store_msg_t m = msg_rec("T", 0, 100 + 1 + 10);
    store_put_result_t r = append1(cl, &m);
    cr_assert_eq(r.phys_offset, b.phys_offset);
    cr_assert_eq(walk_log(cl), 2);
    cr_assert_eq(view_at(cl, a.phys_offset, NULL).kind, RECORD_KIND_MSG);
    commitlog_close(cl);
    rm_log_dir(dir);
}

/* ---- a directory that is not a log ------------------------------------------ */

static void make_two_segments(const char *dir)
{
    commitlog_t *cl = open_log(dir);
    append_rec(cl, SEG - 8);
    append_rec(cl, 500);
    cr_assert_eq(commitlog_mapped_end(cl), 2 * SEG);
    commitlog_close(cl);
}

static void expect_open_fails(const char *dir, int want)
{
    commitlog_options_t opt = {.dir = dir, .segment_size = SEG, .max_message_size = MAX_MSG};
    commitlog_t *cl = (commitlog_t *)0x1;
    int rc = commitlog_open(&cl, &opt);
    cr_assert_eq(rc, want, "commitlog_open: %d (%s)", rc, rill_strerror(rc));
    cr_assert_eq(cl, (commitlog_t *)0x1);
}

static void write_zeros(const char *dir, const char *name, size_t len)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    void *z = calloc(1, len ? len : 1);
    cr_assert_not_null(z);
    cr_assert_eq(ts_write_file(p, z, len), 0);
    free(z);
}

static void remove_file(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    cr_assert_eq(remove(p), 0);
}

Test(commitlog, unaligned_stray_segment_is_corrupt, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-stray");
    make_two_segments(dir);
    write_zeros(dir, "00000000000000999999", 100);
    expect_open_fails(dir, RILL_ECORRUPT);
    remove_file(dir, "00000000000000999999");
    commitlog_close(open_log(dir));
    rm_log_dir(dir);
}

Test(commitlog, unaligned_segments_alone_are_corrupt, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-unaligned");
    commitlog_close(open_log(dir)); /* creates the directory */
    /* Contiguous with each other, but not on segment boundaries. */
    write_zeros(dir, "00000000000000999999", SEG);
    write_zeros(dir, "00000000000001065535", SEG);
    expect_open_fails(dir, RILL_ECORRUPT);
    remove_file(dir, "00000000000001065535");
    expect_open_fails(dir, RILL_ECORRUPT);
    rm_log_dir(dir);
}

Test(commitlog, gap_between_segments_is_corrupt, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-gap");
    make_two_segments(dir);
    write_zeros(dir, "00000000000000196608", SEG); /* 131072 is missing */
    expect_open_fails(dir, RILL_ECORRUPT);
    remove_file(dir, "00000000000000196608");
    /* A missing segment in the middle is a gap too. */
    remove_file(dir, "00000000000000065536");
    write_zeros(dir, "00000000000000131072", SEG);
    expect_open_fails(dir, RILL_ECORRUPT);
    rm_log_dir(dir);
}

Test(commitlog, oversized_segment_is_corrupt, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-oversize");
    make_two_segments(dir);
    write_zeros(dir, "00000000000000131072", SEG + 4096);
    expect_open_fails(dir, RILL_ECORRUPT);
    rm_log_dir(dir);
}

Test(commitlog, other_files_are_ignored_and_short_segment_extended, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-other");
    make_two_segments(dir);
    write_zeros(dir, "checkpoint", 16);
    write_zeros(dir, "00000000000000131072.tmp", 16);
    write_zeros(dir, "0000000000000131072", 16);   /* 19 digits */
    write_zeros(dir, "00000000000000131072", 100); /* crash while creating: short */
    commitlog_t *cl = open_log(dir);
    commitlog_segment_info_t info[8];
    cr_assert_eq(commitlog_segments(cl, info, 8), 3);
    cr_assert_eq(commitlog_mapped_end(cl), 3 * SEG);
    cr_assert_eq(seg_file_size(dir, 2 * SEG), SEG, "short segment extended");
    commitlog_close(cl);
    rm_log_dir(dir);
}

Test(commitlog, log_starting_after_zero, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-start");
    commitlog_close(open_log(dir)); /* creates the directory */
    write_zeros(dir, "00000000000000131072", SEG);
    commitlog_t *cl = open_log(dir);
    cr_assert_eq(commitlog_min_offset(cl), 2 * SEG);
    cr_assert_eq(commitlog_mapped_end(cl), 3 * SEG);
    cr_assert_eq(commitlog_set_end(cl, 2 * SEG), 0);
    uint64_t avail;
    cr_assert_null(commitlog_ptr(cl, SEG, &avail));
    store_put_result_t r = append_rec(cl, 400);
    cr_assert_eq(r.phys_offset, 2 * SEG);
    uint8_t buf[512];
    uint32_t size;
    cr_assert_eq(commitlog_read(cl, SEG, buf, sizeof(buf), &size), RILL_ERANGE);
    cr_assert_eq(commitlog_read(cl, 2 * SEG, buf, sizeof(buf), &size), 0);
    commitlog_close(cl);
    rm_log_dir(dir);
}

/* ---- concurrent appenders ------------------------------------------------ */

typedef struct writer {
    commitlog_t *cl;
    uint32_t queue_id;
    int count;
    store_put_result_t *res;
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    for (int i = 0; i < w->count; i++) {
        /* Two writers share each queue. */
        store_msg_t m = msg_rec("Conc", w->queue_id / 2, MIN_REC + 3 + (uint64_t)(i % 200));
        if (commitlog_append(w->cl, &m, 1, &w->res[i]) != 0)
            return (void *)1;
    }
    return NULL;
}

Test(commitlog, concurrent_appends, .init = fill_body)
{
    char dir[600];
    log_dir(dir, sizeof(dir), "cl-conc");
    commitlog_t *cl = open_log(dir);
    enum { W = 4, PER = 1000 };
    writer_t w[W];
    pthread_t th[W];
    for (int i = 0; i < W; i++) {
        w[i] = (writer_t){cl, (uint32_t)i, PER, calloc(PER, sizeof(store_put_result_t))};
        cr_assert_not_null(w[i].res);
        cr_assert_eq(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < W; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        cr_assert_null(ret, "writer %d failed", i);
    }
    /* Each queue got offsets 0..2*PER-1, each exactly once. */
    for (uint32_t q = 0; q < W / 2; q++) {
        uint8_t seen[2 * PER] = {0};
        for (int i = 2 * (int)q; i < 2 * (int)q + 2; i++)
            for (int j = 0; j < PER; j++) {
                uint64_t off = w[i].res[j].queue_offset;
                cr_assert_lt(off, 2 * PER);
                cr_assert_eq(seen[off], 0, "queue %u offset %" PRIu64 " twice", q, off);
                seen[off] = 1;
            }
        cr_assert_eq(commitlog_next_queue_offset(cl, "Conc", 4, q), 2 * PER);
    }
    cr_assert_eq(walk_log(cl), W * PER);
    for (int i = 0; i < W; i++)
        free(w[i].res);
    commitlog_close(cl);
    rm_log_dir(dir);
}
