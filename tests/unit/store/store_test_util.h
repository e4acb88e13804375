/*
 * store_test_util.h - small helpers shared by the store read-side, flush and
 * retention suites: a test configuration, one-call puts with TAGS / KEYS /
 * UNIQ_KEY properties, and decoding the records a pull or query returned.
 * Header-only (static functions) so each suite stays one source file.
 */
#ifndef RILL_TESTS_STORE_TEST_UTIL_H
#define RILL_TESTS_STORE_TEST_UTIL_H

#include "common/record.h"
#include "broker/store/store.h"
#include "common/errors.h"
#include "common/props.h"
#include "common/tags.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define STU_SEG_64K          (64 * 1024)
#define STU_SEG_1M           (1024 * 1024)
#define STU_DISPATCH_WAIT_MS 10000u /* bound for store_wait_dispatched in tests */

/* Disk usage the host reports does not leak into tests: 10 % unless a test hooks its own. */
static inline double stu_usage_low(void *arg, const char *dir)
{
    (void)arg;
    (void)dir;
    return 0.10;
}

/* Defaults plus a private root dir, a small segment size, a quiet cleaner thread
 * (retention runs only when a test calls store_run_retention) and a fixed disk usage. */
static inline void stu_config(store_config_t *cfg, const char *dir, int64_t segment_size)
{
    store_config_defaults(cfg);
    snprintf(cfg->store_path_root_dir, sizeof(cfg->store_path_root_dir), "%s", dir);
    cfg->mapped_file_size_commitlog = segment_size;
    cfg->clean_resource_interval = 3600000;
    cfg->disk_usage = stu_usage_low;
    cfg->disk_usage_arg = NULL;
}

/* Optional message attributes for stu_msg(); NULL or "" leaves the property out. */
typedef struct stu_attrs {
    const char *tag;
    const char *keys;
    const char *uniq;
} stu_attrs_t;

typedef struct stu_msg_buf {
    store_msg_t m;
    char props[512];
} stu_msg_buf_t;

/* Fill b->m for (topic, queue_id, body) with the given properties; b must outlive the put. */
static inline void stu_msg(stu_msg_buf_t *b, const char *topic, uint32_t queue_id, const char *body,
                           stu_attrs_t a)
{
    size_t plen = 0;
    memset(&b->m, 0, sizeof(b->m));
    if (a.tag && a.tag[0])
        cr_assert_eq(rill_props_append(b->props, sizeof(b->props), &plen, RILL_PROP_TAGS, a.tag,
                                       strlen(a.tag)),
                     0);
    if (a.keys && a.keys[0])
        cr_assert_eq(rill_props_append(b->props, sizeof(b->props), &plen, RILL_PROP_KEYS, a.keys,
                                       strlen(a.keys)),
                     0);
    if (a.uniq && a.uniq[0])
        cr_assert_eq(rill_props_append(b->props, sizeof(b->props), &plen, RILL_PROP_UNIQ_KEY,
                                       a.uniq, strlen(a.uniq)),
                     0);
    b->m.topic = topic;
    b->m.topic_len = (uint16_t)strlen(topic);
    b->m.queue_id = queue_id;
    b->m.body = body;
    b->m.body_len = (uint32_t)strlen(body);
    b->m.props = plen ? b->props : NULL;
    b->m.props_len = (uint32_t)plen;
    b->m.tag_hash = a.tag ? rill_tag_hash(a.tag, strlen(a.tag)) : 0;
}

/* Put one message; returns store_put()'s code. */
static inline int stu_put(store_t *s, const char *topic, uint32_t queue_id, const char *body,
                          stu_attrs_t a, store_put_result_t *res)
{
    stu_msg_buf_t b;
    stu_msg(&b, topic, queue_id, body, a);
    return store_put(s, &b.m, 1, res);
}

/* Decode the records packed back to back in buf[0, bytes); asserts each decodes as a
 * message and that exactly `bytes` were used. Returns how many (at most cap are stored). */
static inline size_t stu_decode_all(const void *buf, size_t bytes, record_view_t *out, size_t cap)
{
    const uint8_t *p = buf;
    size_t n = 0, off = 0;
    while (off < bytes) {
        record_view_t rv;
        cr_assert_eq(record_decode(p + off, bytes - off, &rv), 0, "record at %zu", off);
        cr_assert_eq(rv.kind, RECORD_KIND_MSG);
        if (n < cap)
            out[n] = rv;
        n++;
        off += rv.total_size;
    }
    cr_assert_eq(off, bytes);
    return n;
}

/* Does a record's body equal the NUL-terminated text? */
static inline int stu_body_is(const record_view_t *rv, const char *text)
{
    size_t n = strlen(text);
    return rv->body_len == n && memcmp(rv->body, text, n) == 0;
}

/* The record's TAGS value copied into out ("" when it has none). */
static inline void stu_tag_of(const record_view_t *rv, char *out, size_t cap)
{
    const char *v;
    size_t vlen;
    out[0] = '\0';
    if (rill_props_get(rv->props, rv->props_len, RILL_PROP_TAGS, &v, &vlen) == 0 && vlen < cap) {
        memcpy(out, v, vlen);
        out[vlen] = '\0';
    }
}

#endif
