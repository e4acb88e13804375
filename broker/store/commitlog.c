/*
 * commitlog.c - segments, the append path and positions of the CommitLog.
 *
 * Design notes
 * - One append lock serialises writers; under it a writer reserves space,
 *   assigns queue offsets (queue_table), encodes straight into the mapping
 *   and publishes `committed`. A batch is one lock hold, so its records are
 *   contiguous and all-or-nothing: every check that can fail (sizes, a new
 *   segment) happens before the first byte is written.
 * - The segment array is guarded by a rwlock: appenders take it exclusively
 *   only to add a segment, retention only to drop the oldest one; readers
 *   that copy out (pull, msgId lookups) hold it shared while they copy.
 *   The dispatcher and recovery read without it, at offsets retention never
 *   deletes (see commitlog_ptr).
 * - A "cl-warmer" thread faults in the pages ahead of the write position
 *   (MADV_POPULATE_WRITE), so appenders do not pay the kernel's page fault
 *   and zero-fill on fresh pages (measured: a third of the append cost).
 * - Store timestamps are clamped to be monotonic in log order, so per-queue
 *   store times are sorted and can be binary-searched.
 */
#include "broker/store/commitlog.h"

#include "broker/store/mapped_file.h"
#include "broker/store/queue_table.h"
#include "common/record.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMMITLOG_SEGMENTS_MAX (1u << 20)
#define WARM_AHEAD_BYTES       (64u << 20) /* pages kept faulted in ahead of the writer */
#define WARM_STEP_BYTES        (4u << 20)  /* faulted in per step */

struct commitlog {
    char dir[4096];
    uint64_t segment_size;
    uint32_t max_message_size;
    uint32_t store_ip;
    uint16_t store_port;

    pthread_rwlock_t seg_lock; /* guards segs/nsegs/cap */
    mapped_file_t **segs;
    size_t nsegs, cap;
    mapped_file_t *active; /* segment under write_pos; appender-owned (append_lock) */

    pthread_mutex_t append_lock; /* guards everything below until `committed` */
    uint64_t write_pos;
    uint64_t last_store_ts;
    queue_table_t queues;
    _Atomic uint64_t committed;
    _Atomic int refuse_rc;
    _Atomic int fatal_rc; /* sticky: a flush failed, nothing more is accepted */
    int end_known;        /* write_pos is valid: an empty log, or set by recovery */

    pthread_t warmer;
    int warmer_running, warm_stop;
    pthread_mutex_t warm_lock;
    pthread_cond_t warm_cond;
    _Atomic uint64_t warm_pos; /* pages below are faulted in */
};

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return errno;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int push_segment(commitlog_t *cl, mapped_file_t *mf)
{
    if (cl->nsegs == cl->cap) {
        if (cl->cap >= COMMITLOG_SEGMENTS_MAX)
            return RILL_EBUSY;
        size_t cap = cl->cap ? cl->cap * 2 : 16;
        mapped_file_t **segs = realloc(cl->segs, cap * sizeof(*segs));
        if (segs == NULL)
            return ENOMEM;
        cl->segs = segs;
        cl->cap = cap;
    }
    cl->segs[cl->nsegs++] = mf;
    return 0;
}

static int load_segments(commitlog_t *cl)
{
    DIR *d = opendir(cl->dir);
    if (d == NULL)
        return errno;
    uint64_t *starts = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t start;
        if (mapped_file_parse_name(de->d_name, &start) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *s = realloc(starts, cap * sizeof(*s));
            if (s == NULL) {
                rc = ENOMEM;
                goto out;
            }
            starts = s;
        }
        starts[n++] = start;
    }
    if (n > 1) /* starts is NULL when there is no segment: qsort must not see it */
        qsort(starts, n, sizeof(*starts), cmp_u64);
    for (size_t i = 0; i < n; i++) {
        if (starts[i] % cl->segment_size != 0 ||
            (i > 0 && starts[i] != starts[i - 1] + cl->segment_size)) {
            LOG_ERROR("store", "commitlog %s: segment %020llu is not contiguous with the others",
                      cl->dir, (unsigned long long)starts[i]);
            rc = RILL_ECORRUPT;
            goto out;
        }
        mapped_file_t *mf;
        rc = mapped_file_open(&mf, cl->dir, starts[i], cl->segment_size);
        if (rc) {
            LOG_ERROR("store", "commitlog %s: cannot open segment %020llu: %s", cl->dir,
                      (unsigned long long)starts[i], rill_strerror(rc));
            goto out;
        }
        rc = push_segment(cl, mf);
        if (rc) {
            mapped_file_close(mf, 0);
            goto out;
        }
    }
out:
    free(starts);
    closedir(d);
    return rc;
}

static mapped_file_t *segment_for(commitlog_t *cl, uint64_t phys);
static mapped_file_t *last_segment(commitlog_t *cl);

/* Fault in [from, to) of a segment without changing a byte. */
static void populate(uint8_t *p, size_t len)
{
    if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
        return;
    /* Older kernels: a locked add of zero write-faults each page and cannot
     * clobber a byte an appender is writing at the same moment. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < len; off += page)
        __atomic_fetch_add(p + off, 0, __ATOMIC_RELAXED);
}

static void *warmer_main(void *arg)
{
    commitlog_t *cl = arg;
    pthread_setname_np(pthread_self(), "cl-warmer");
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    pthread_mutex_lock(&cl->warm_lock);
    while (!cl->warm_stop) {
        uint64_t committed = commitlog_committed(cl);
        uint64_t pos = atomic_load(&cl->warm_pos);
        if (pos < committed)
            pos = committed - committed % page;
        uint64_t target = committed + WARM_AHEAD_BYTES;
        int progressed = 0;
        if (pos < target) {
            pthread_mutex_unlock(&cl->warm_lock);
            pthread_rwlock_rdlock(&cl->seg_lock);
            mapped_file_t *mf = segment_for(cl, pos);
            if (mf != NULL) {
                uint64_t end = pos + WARM_STEP_BYTES;
                if (end > mf->start + mf->size)
                    end = mf->start + mf->size;
                populate(mf->base + (pos - mf->start), end - pos);
                pos = end;
                progressed = 1;
            }
            pthread_rwlock_unlock(&cl->seg_lock);
            pthread_mutex_lock(&cl->warm_lock);
            atomic_store(&cl->warm_pos, pos);
        }
        if (!progressed && !cl->warm_stop) {
            struct timespec ts;
            rill_deadline_after_ms(&ts, 100);
            pthread_cond_timedwait(&cl->warm_cond, &cl->warm_lock, &ts);
        }
    }
    pthread_mutex_unlock(&cl->warm_lock);
    return NULL;
}

int commitlog_open(commitlog_t **out, const commitlog_options_t *opt)
{
    long page = sysconf(_SC_PAGESIZE);
    if (opt == NULL || opt->dir == NULL || opt->segment_size < 4096 ||
        opt->segment_size % (uint64_t)page != 0 || opt->segment_size > (1ull << 40) ||
        opt->max_message_size == 0 || opt->max_message_size > RECORD_BODY_BYTES_MAX)
        return RILL_EINVAL;
    commitlog_t *cl = calloc(1, sizeof(*cl));
    if (cl == NULL)
        return ENOMEM;
    int rc;
    snprintf(cl->dir, sizeof(cl->dir), "%s", opt->dir);
    cl->segment_size = opt->segment_size;
    cl->max_message_size = opt->max_message_size;
    cl->store_ip = opt->store_ip;
    cl->store_port = opt->store_port;
    pthread_rwlock_init(&cl->seg_lock, NULL);
    pthread_mutex_init(&cl->append_lock, NULL);
    pthread_mutex_init(&cl->warm_lock, NULL);
    rill_cond_init_monotonic(&cl->warm_cond);
    rc = queue_table_init(&cl->queues);
    if (rc)
        goto fail;
    rc = mkdir_p(cl->dir);
    if (rc)
        goto fail;
    rc = load_segments(cl);
    if (rc)
        goto fail;
    cl->write_pos = cl->nsegs ? cl->segs[0]->start : 0;
    cl->end_known = cl->nsegs == 0;
    cl->active = last_segment(cl);
    atomic_store(&cl->committed, cl->write_pos);
    rc = pthread_create(&cl->warmer, NULL, warmer_main, cl);
    if (rc)
        goto fail;
    cl->warmer_running = 1;
    *out = cl;
    return 0;
fail:
    commitlog_close(cl);
    return rc;
}

void commitlog_close(commitlog_t *cl)
{
    if (cl == NULL)
        return;
    if (cl->warmer_running) {
        pthread_mutex_lock(&cl->warm_lock);
        cl->warm_stop = 1;
        pthread_cond_signal(&cl->warm_cond);
        pthread_mutex_unlock(&cl->warm_lock);
        pthread_join(cl->warmer, NULL);
    }
    for (size_t i = 0; i < cl->nsegs; i++)
        mapped_file_close(cl->segs[i], 0);
    free(cl->segs);
    queue_table_free(&cl->queues);
    pthread_rwlock_destroy(&cl->seg_lock);
    pthread_mutex_destroy(&cl->append_lock);
    pthread_mutex_destroy(&cl->warm_lock);
    pthread_cond_destroy(&cl->warm_cond);
    free(cl);
}

static mapped_file_t *segment_for(commitlog_t *cl, uint64_t phys)
{
    if (cl->nsegs == 0 || phys < cl->segs[0]->start)
        return NULL;
    size_t i = (size_t)((phys - cl->segs[0]->start) / cl->segment_size);
    return i < cl->nsegs ? cl->segs[i] : NULL;
}

static mapped_file_t *last_segment(commitlog_t *cl)
{
    return cl->nsegs ? cl->segs[cl->nsegs - 1] : NULL;
}

/* Take a reference on the segment holding phys, so retention cannot unmap it
 * while the caller uses it without the lock (msync). NULL if there is none. */
static mapped_file_t *segment_hold(commitlog_t *cl, uint64_t phys)
{
    pthread_rwlock_rdlock(&cl->seg_lock);
    mapped_file_t *mf = segment_for(cl, phys);
    if (mf)
        atomic_fetch_add(&mf->refs, 1);
    pthread_rwlock_unlock(&cl->seg_lock);
    return mf;
}

static void segment_release(mapped_file_t *mf)
{
    if (atomic_fetch_sub(&mf->refs, 1) == 1)
        mapped_file_close(mf, mf->doomed);
}

/*
 * Make room for `need` bytes at write_pos: a record fits in a segment if it
 * ends exactly at the segment end or leaves at least RECORD_BLANK_MIN bytes
 * for the blank that closes the segment.
 */
static int reserve(commitlog_t *cl, uint64_t need)
{
    mapped_file_t *act = cl->active;
    if (act != NULL && cl->write_pos < act->start + act->size) {
        uint64_t left = act->start + act->size - cl->write_pos;
        if (need == left || need + RECORD_BLANK_MIN <= left)
            return 0;
    }
    uint64_t next_start =
        act ? act->start + act->size : cl->write_pos - cl->write_pos % cl->segment_size;
    mapped_file_t *mf;
    int rc = mapped_file_create(&mf, cl->dir, next_start, cl->segment_size);
    if (rc == EEXIST) {
        LOG_WARN("store", "commitlog: segment %020llu already exists; reusing it",
                 (unsigned long long)next_start);
        rc = mapped_file_open(&mf, cl->dir, next_start, cl->segment_size);
    }
    if (rc) {
        LOG_ERROR("store", "commitlog: cannot create segment %020llu: %s",
                  (unsigned long long)next_start, rill_strerror(rc));
        return rc;
    }
    pthread_rwlock_wrlock(&cl->seg_lock);
    rc = push_segment(cl, mf);
    pthread_rwlock_unlock(&cl->seg_lock);
    if (rc) {
        mapped_file_close(mf, 1);
        return rc;
    }
    cl->active = mf;
    if (act != NULL && cl->write_pos < act->start + act->size) {
        uint64_t left = act->start + act->size - cl->write_pos;
        assert(left >= RECORD_BLANK_MIN);
        record_encode_blank(act->base + (cl->write_pos - act->start), (uint32_t)left);
    }
    cl->write_pos = next_start;
    return 0;
}

static int check_msg(const commitlog_t *cl, const store_msg_t *m)
{
    if (m->topic == NULL || m->topic_len == 0 || m->topic_len > RECORD_TOPIC_BYTES_MAX)
        return RILL_ETOPIC;
    if (m->body_len > cl->max_message_size || m->props_len > RECORD_PROPS_BYTES_MAX)
        return RILL_ETOOBIG;
    if ((m->body_len && m->body == NULL) || (m->props_len && m->props == NULL))
        return RILL_EINVAL;
    if (m->flags & ~RECORD_FLAGS_KNOWN)
        return RILL_EINVAL;
    return 0;
}

int commitlog_append(commitlog_t *cl, const store_msg_t *msgs, size_t n,
                     store_put_result_t *results)
{
    if (n == 0 || msgs == NULL || results == NULL)
        return RILL_EINVAL;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = check_msg(cl, &msgs[i]);
        if (rc)
            return rc;
        total += record_size(msgs[i].topic_len, msgs[i].body_len, msgs[i].props_len);
    }
    /* Same rule as reserve() applied to a fresh segment: the batch fills it
     * exactly or leaves room for the closing blank. */
    if (total > cl->segment_size ||
        (total != cl->segment_size && total + RECORD_BLANK_MIN > cl->segment_size))
        return RILL_ETOOBIG;
    int rc = atomic_load_explicit(&cl->fatal_rc, memory_order_relaxed);
    if (rc == 0)
        rc = atomic_load_explicit(&cl->refuse_rc, memory_order_relaxed);
    if (rc)
        return rc;

    pthread_mutex_lock(&cl->append_lock);
    assert(cl->end_known && "commitlog_set_end() must run before appending to an existing log");
    rc = reserve(cl, total);
    if (rc)
        goto out;
    /* Every queue gets a counter before anything is written, so a failing
     * insert (table full) cannot leave half a batch behind. */
    uint64_t *counters[64];
    uint64_t **ctr = n <= 64 ? counters : malloc(n * sizeof(*ctr));
    if (ctr == NULL) {
        rc = ENOMEM;
        goto out;
    }
    size_t cap_before = cl->queues.cap;
    for (size_t i = 0; i < n; i++) {
        ctr[i] = NULL;
        if (!record_flags_in_cq(msgs[i].flags))
            continue;
        rc = queue_table_slot(&cl->queues, msgs[i].topic, msgs[i].topic_len, msgs[i].queue_id,
                              &ctr[i]);
        if (rc)
            goto out_free;
    }
    if (cl->queues.cap != cap_before) /* the table grew: earlier counters moved */
        for (size_t i = 0; i < n; i++)
            if (ctr[i])
                queue_table_slot(&cl->queues, msgs[i].topic, msgs[i].topic_len, msgs[i].queue_id,
                                 &ctr[i]);

    uint64_t now = rill_now_ms();
    if (now < cl->last_store_ts)
        now = cl->last_store_ts;
    cl->last_store_ts = now;
    mapped_file_t *act = cl->active;
    for (size_t i = 0; i < n; i++) {
        const store_msg_t *m = &msgs[i];
        record_fields_t f = {
            .topic = m->topic,
            .topic_len = m->topic_len,
            .queue_id = m->queue_id,
            .queue_offset = ctr[i] ? (*ctr[i])++ : 0,
            .phys_offset = cl->write_pos,
            .born_ts = m->born_ts,
            .store_ts = now,
            .prepared_tx_offset = m->prepared_tx_offset,
            .tag_hash = m->tag_hash,
            .flags = m->flags,
            .reconsume_times = m->reconsume_times,
            .born_ip = m->born_ip,
            .store_ip = cl->store_ip,
            .born_port = m->born_port,
            .store_port = cl->store_port,
            .body = m->body,
            .body_len = m->body_len,
            .props = m->props,
            .props_len = m->props_len,
        };
        uint32_t size = (uint32_t)record_size(f.topic_len, f.body_len, f.props_len);
        assert(cl->write_pos + size <= act->start + act->size);
        record_encode(act->base + (cl->write_pos - act->start), &f);
        results[i] = (store_put_result_t){
            .phys_offset = f.phys_offset,
            .queue_offset = f.queue_offset,
            .store_ts = now,
            .size = size,
        };
        cl->write_pos += size;
    }
    atomic_store_explicit(&cl->committed, cl->write_pos, memory_order_release);
    if (cl->write_pos + WARM_AHEAD_BYTES / 2 >
        atomic_load_explicit(&cl->warm_pos, memory_order_relaxed))
        pthread_cond_signal(&cl->warm_cond); /* a missed wake-up costs the warmer 100 ms */
out_free:
    if (ctr != counters)
        free(ctr);
out:
    pthread_mutex_unlock(&cl->append_lock);
    return rc;
}

void commitlog_set_refuse(commitlog_t *cl, int rc)
{
    atomic_store(&cl->refuse_rc, rc);
}

void commitlog_set_fatal(commitlog_t *cl, int rc)
{
    int none = 0;
    atomic_compare_exchange_strong(&cl->fatal_rc, &none, rc);
}

uint64_t commitlog_committed(const commitlog_t *cl)
{
    return atomic_load_explicit(&((commitlog_t *)cl)->committed, memory_order_acquire);
}

uint64_t commitlog_min_offset(commitlog_t *cl)
{
    pthread_rwlock_rdlock(&cl->seg_lock);
    uint64_t v = cl->nsegs ? cl->segs[0]->start : commitlog_committed(cl);
    pthread_rwlock_unlock(&cl->seg_lock);
    return v;
}

uint64_t commitlog_mapped_end(commitlog_t *cl)
{
    pthread_rwlock_rdlock(&cl->seg_lock);
    mapped_file_t *last = last_segment(cl);
    uint64_t v = last ? last->start + last->size : 0;
    pthread_rwlock_unlock(&cl->seg_lock);
    return v;
}

uint64_t commitlog_segment_size(const commitlog_t *cl)
{
    return cl->segment_size;
}

const uint8_t *commitlog_ptr(commitlog_t *cl, uint64_t phys, uint64_t *avail)
{
    pthread_rwlock_rdlock(&cl->seg_lock);
    mapped_file_t *mf = segment_for(cl, phys);
    const uint8_t *p = NULL;
    if (mf != NULL) {
        p = mf->base + (phys - mf->start);
        *avail = mf->start + mf->size - phys;
    }
    pthread_rwlock_unlock(&cl->seg_lock);
    return p;
}

int commitlog_read(commitlog_t *cl, uint64_t phys, void *buf, size_t cap, uint32_t *size_out)
{
    if (phys >= commitlog_committed(cl))
        return RILL_ERANGE;
    int rc = 0;
    pthread_rwlock_rdlock(&cl->seg_lock);
    mapped_file_t *mf = segment_for(cl, phys);
    if (mf == NULL) {
        rc = RILL_ERANGE;
        goto out;
    }
    const uint8_t *p = mf->base + (phys - mf->start);
    uint64_t avail = mf->start + mf->size - phys;
    record_view_t v;
    rc = record_decode(p, avail, &v);
    if (rc == 0 && v.kind != RECORD_KIND_MSG)
        rc = RILL_ECORRUPT;
    if (rc == RILL_ENOTFOUND)
        rc = RILL_ECORRUPT;
    if (rc == 0 && v.phys_offset != phys)
        rc = RILL_ECORRUPT; /* a stale index entry pointing into a rewritten region */
    if (rc)
        goto out;
    *size_out = v.total_size;
    if (v.total_size > cap) {
        rc = RILL_ENOSPACE;
        goto out;
    }
    memcpy(buf, p, v.total_size);
out:
    pthread_rwlock_unlock(&cl->seg_lock);
    return rc;
}

int commitlog_copy(commitlog_t *cl, uint64_t phys, uint32_t size, void *dst)
{
    if (phys + size > commitlog_committed(cl))
        return RILL_ERANGE;
    int rc = 0;
    pthread_rwlock_rdlock(&cl->seg_lock);
    mapped_file_t *mf = segment_for(cl, phys);
    if (mf == NULL || phys + size > mf->start + mf->size)
        rc = RILL_ERANGE;
    else
        memcpy(dst, mf->base + (phys - mf->start), size);
    pthread_rwlock_unlock(&cl->seg_lock);
    return rc;
}

int commitlog_flush(commitlog_t *cl, uint64_t from, uint64_t to)
{
    while (from < to) {
        mapped_file_t *mf = segment_hold(cl, from);
        if (mf == NULL) /* deleted by retention: nothing left to flush there */
            return 0;
        uint64_t end = mf->start + mf->size < to ? mf->start + mf->size : to;
        int rc = mapped_file_flush(mf, from - mf->start, end - mf->start);
        segment_release(mf);
        if (rc)
            return rc;
        from = end;
    }
    return 0;
}

int commitlog_set_end(commitlog_t *cl, uint64_t end)
{
    pthread_mutex_lock(&cl->append_lock);
    pthread_rwlock_wrlock(&cl->seg_lock);
    int rc = 0;
    if (cl->nsegs == 0) {
        if (end % cl->segment_size != 0) {
            rc = RILL_ERANGE;
            goto out;
        }
    } else {
        mapped_file_t *mf = segment_for(cl, end);
        uint64_t last_end = cl->segs[cl->nsegs - 1]->start + cl->segment_size;
        if (mf == NULL && end != last_end) {
            rc = RILL_ERANGE;
            goto out;
        }
        while (cl->nsegs > 0 && cl->segs[cl->nsegs - 1]->start > end) {
            mapped_file_t *last = cl->segs[--cl->nsegs];
            LOG_WARN("store", "commitlog: removing segment %020llu past the end of the log",
                     (unsigned long long)last->start);
            mapped_file_close(last, 1);
        }
        if (mf != NULL)
            mapped_file_zero_tail(mf, end - mf->start);
    }
    cl->active = last_segment(cl);
    cl->write_pos = end;
    cl->end_known = 1;
    atomic_store(&cl->committed, end);
out:
    pthread_rwlock_unlock(&cl->seg_lock);
    pthread_mutex_unlock(&cl->append_lock);
    return rc;
}

int commitlog_set_queue_offset(commitlog_t *cl, const char *topic, uint16_t topic_len,
                               uint32_t queue_id, uint64_t next_offset)
{
    if (topic_len == 0 || topic_len > RECORD_TOPIC_BYTES_MAX)
        return RILL_ETOPIC;
    pthread_mutex_lock(&cl->append_lock);
    uint64_t *ctr;
    int rc = queue_table_slot(&cl->queues, topic, topic_len, queue_id, &ctr);
    if (rc == 0)
        *ctr = next_offset;
    pthread_mutex_unlock(&cl->append_lock);
    return rc;
}

uint64_t commitlog_next_queue_offset(commitlog_t *cl, const char *topic, uint16_t topic_len,
                                     uint32_t queue_id)
{
    pthread_mutex_lock(&cl->append_lock);
    const uint64_t *ctr = queue_table_find(&cl->queues, topic, topic_len, queue_id);
    uint64_t v = ctr ? *ctr : 0;
    pthread_mutex_unlock(&cl->append_lock);
    return v;
}

size_t commitlog_segments(commitlog_t *cl, commitlog_segment_info_t *out, size_t cap)
{
    pthread_rwlock_rdlock(&cl->seg_lock);
    size_t n = cl->nsegs;
    for (size_t i = 0; i < n && i < cap; i++) {
        mapped_file_t *mf = cl->segs[i];
        struct stat st;
        int64_t mtime = 0;
        if (fstat(mf->fd, &st) == 0)
            mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        out[i] = (commitlog_segment_info_t){mf->start, mf->start + mf->size, mtime};
    }
    pthread_rwlock_unlock(&cl->seg_lock);
    return n;
}

int commitlog_delete_oldest(commitlog_t *cl, uint64_t limit)
{
    int rc = RILL_ENOTFOUND;
    pthread_rwlock_wrlock(&cl->seg_lock);
    if (cl->nsegs > 1 && cl->segs[0]->start + cl->segs[0]->size <= limit) {
        mapped_file_t *old = cl->segs[0];
        memmove(cl->segs, cl->segs + 1, (cl->nsegs - 1) * sizeof(*cl->segs));
        cl->nsegs--;
        LOG_INFO("store", "retention: deleted segment %020llu", (unsigned long long)old->start);
        old->doomed = 1;
        segment_release(old); /* unmapped now, or by the last holder */
        rc = 0;
    }
    pthread_rwlock_unlock(&cl->seg_lock);
    return rc;
}

/*
 * Replication (slave side): append records a master already encoded, at the
 * exact offset the master wrote them. Each record is verified (checksum,
 * phys_offset == its position); a blank must end exactly at its segment's end.
 */
int commitlog_append_raw(commitlog_t *cl, uint64_t offset, const uint8_t *bytes, size_t len,
                         uint64_t *bad_at)
{
    int rc = atomic_load_explicit(&cl->fatal_rc, memory_order_relaxed);
    if (rc)
        return rc;
    pthread_mutex_lock(&cl->append_lock);
    assert(cl->end_known);
    *bad_at = cl->write_pos;
    if (offset != cl->write_pos) {
        rc = RILL_ERANGE;
        goto out;
    }
    size_t pos = 0;
    while (pos < len) {
        record_view_t v;
        rc = record_decode(bytes + pos, len - pos, &v);
        if (rc) {
            rc = RILL_ECORRUPT;
            break;
        }
        mapped_file_t *act = cl->active;
        if (v.kind == RECORD_KIND_BLANK) {
            if (act == NULL || cl->write_pos + v.total_size != act->start + act->size) {
                rc = RILL_ECORRUPT;
                break;
            }
        } else {
            if (v.phys_offset != cl->write_pos) {
                rc = RILL_ECORRUPT;
                break;
            }
            if (act != NULL && cl->write_pos < act->start + act->size) {
                uint64_t left = act->start + act->size - cl->write_pos;
                if (!(v.total_size == left || v.total_size + RECORD_BLANK_MIN <= left)) {
                    rc = RILL_ECORRUPT; /* the master would have closed the segment */
                    break;
                }
            }
            rc = reserve(cl, v.total_size);
            if (rc)
                break;
            act = cl->active;
            if (record_flags_in_cq(v.flags)) {
                uint64_t *ctr;
                if (queue_table_slot(&cl->queues, v.topic, v.topic_len, v.queue_id, &ctr) == 0 &&
                    *ctr <= v.queue_offset)
                    *ctr = v.queue_offset + 1;
            }
            if (v.store_ts > cl->last_store_ts)
                cl->last_store_ts = v.store_ts;
        }
        memcpy(act->base + (cl->write_pos - act->start), bytes + pos, v.total_size);
        cl->write_pos += v.total_size;
        pos += v.total_size;
        *bad_at = cl->write_pos;
    }
    if (cl->write_pos != atomic_load_explicit(&cl->committed, memory_order_relaxed))
        atomic_store_explicit(&cl->committed, cl->write_pos, memory_order_release);
out:
    pthread_mutex_unlock(&cl->append_lock);
    return rc;
}
