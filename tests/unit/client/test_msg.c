/*
 * test_msg.c - rill_msg_t and its trip over the wire: setters validate as
 * rill.h says (reserved names, separator bytes, ranges), getters read what
 * was set, and a message survives rc_wire_msg_init() -> a CommitLog record
 * built as the broker builds it (broker/send.c) -> rc_msgs_from_records(),
 * with and without zstd compression; a damaged record is RILL_ECORRUPT.
 */
#include "client/src/core.h"

#include "common/msgid.h"
#include "common/props.h"
#include "common/record.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct rill_conf *test_conf(long long threshold)
{
    rill_conf_t *c = rill_conf_new();
    cr_assert_not_null(c);
    c->compress_threshold_bytes = threshold;
    return c;
}

Test(msg, new_checks_topic)
{
    cr_assert_null(rill_msg_new(NULL));
    cr_assert_null(rill_msg_new(""));
    char t[RILL_TOPIC_BYTES_MAX + 2];
    memset(t, 't', sizeof(t) - 1);
    t[sizeof(t) - 1] = '\0';
    cr_assert_null(rill_msg_new(t));
    cr_assert(strstr(rill_last_error(), "128 bytes") != NULL, "%s", rill_last_error());
    t[RILL_TOPIC_BYTES_MAX] = '\0';
    rill_msg_t *m = rill_msg_new(t);
    cr_assert_not_null(m);
    cr_assert_str_eq(rill_msg_topic(m), t);
    /* fresh message: nothing a broker adds */
    cr_assert_null(rill_msg_id(m));
    cr_assert_null(rill_msg_unique_key(m));
    cr_assert_null(rill_msg_broker_name(m));
    cr_assert_eq(rill_msg_queue_id(m), -1);
    cr_assert_eq(rill_msg_queue_offset(m), -1);
    cr_assert_eq(rill_msg_commitlog_offset(m), -1);
    cr_assert_str_eq(rill_msg_born_host(m), "");
    size_t len = 99;
    cr_assert_null(rill_msg_body(m, &len));
    cr_assert_eq(len, 0);
    rill_msg_destroy(m);
    rill_msg_destroy(NULL);
}

Test(msg, setters_and_getters)
{
    rill_msg_t *m = rill_msg_new("T");
    cr_assert_eq(rill_msg_set_body(m, "hello", 5), 0);
    cr_assert_eq(rill_msg_set_body(m, NULL, 3), RILL_EINVAL);
    size_t len;
    cr_assert_eq(memcmp(rill_msg_body(m, &len), "hello", 5), 0);
    cr_assert_eq(len, 5);
    cr_assert_eq(rill_msg_stored_body_size(m), 5);

    cr_assert_eq(rill_msg_set_tags(m, "TagA"), 0);
    cr_assert_str_eq(rill_msg_tags(m), "TagA");
    cr_assert_str_eq(rill_msg_property(m, "TAGS"), "TagA");
    cr_assert_eq(rill_msg_set_tags(m, "A||B"), RILL_EINVAL);
    cr_assert_eq(rill_msg_set_tags(m, "two words"), RILL_EINVAL);
    cr_assert_eq(rill_msg_set_tags(m, "a\001b"), RILL_EINVAL);
    cr_assert_str_eq(rill_msg_tags(m), "TagA"); /* unchanged by a refused set */
    cr_assert_eq(rill_msg_set_tags(m, ""), 0);
    cr_assert_null(rill_msg_tags(m));
    cr_assert_eq(rill_msg_set_tags(m, "TagB"), 0);
    cr_assert_eq(rill_msg_set_tags(m, NULL), 0);
    cr_assert_null(rill_msg_tags(m));

    cr_assert_eq(rill_msg_set_keys(m, "k1 k2"), 0);
    cr_assert_str_eq(rill_msg_keys(m), "k1 k2");
    cr_assert_str_eq(rill_msg_property(m, "KEYS"), "k1 k2");
    cr_assert_eq(rill_msg_set_keys(m, "k\002"), RILL_EINVAL);

    cr_assert_eq(rill_msg_set_delay_level(m, 3), 0);
    cr_assert_eq(rill_msg_delay_level(m), 3);
    cr_assert_eq(rill_msg_set_delay_level(m, RILL_DELAY_LEVEL_MAX + 1), RILL_EINVAL);
    cr_assert_eq(rill_msg_set_delay_level(m, -1), RILL_EINVAL);
    cr_assert_eq(rill_msg_delay_level(m), 3);
    cr_assert_eq(rill_msg_set_deliver_time(m, -5), RILL_EINVAL);
    cr_assert_eq(rill_msg_set_deliver_time(m, 1700000000000LL), 0);
    cr_assert_eq(rill_msg_deliver_time(m), 1700000000000LL);
    rill_msg_destroy(m);
}

Test(msg, properties_reserved_and_replaced)
{
    rill_msg_t *m = rill_msg_new("T");
    static const char *const reserved[] = {"TAGS",         "KEYS",       "UNIQ_KEY", "DELAY",
                                           "DELIVER_TIME", "REAL_TOPIC", "REAL_QID"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        cr_assert_eq(rill_msg_set_property(m, reserved[i], "x"), RILL_EINVAL, "%s", reserved[i]);
        cr_assert(strstr(rill_last_error(), "reserved") != NULL);
    }
    cr_assert_eq(rill_msg_set_property(m, "", "x"), RILL_EINVAL);
    cr_assert_eq(rill_msg_set_property(m, "a\001", "x"), RILL_EINVAL);
    cr_assert_eq(rill_msg_set_property(m, "a", "x\002"), RILL_EINVAL);
    cr_assert_eq(rill_msg_set_property(m, "a", NULL), RILL_EINVAL);

    cr_assert_eq(rill_msg_set_property(m, "color", "red"), 0);
    cr_assert_eq(rill_msg_set_property(m, "size", ""), 0);
    cr_assert_eq(rill_msg_set_property(m, "color", "blue"), 0);
    cr_assert_str_eq(rill_msg_property(m, "color"), "blue");
    cr_assert_str_eq(rill_msg_property(m, "size"), "");
    cr_assert_null(rill_msg_property(m, "weight"));
    const char *n, *v;
    cr_assert_eq(rill_msg_property_at(m, 0, &n, &v), 0);
    cr_assert_str_eq(n, "color");
    cr_assert_str_eq(v, "blue");
    cr_assert_eq(rill_msg_property_at(m, 1, &n, &v), 0);
    cr_assert_str_eq(n, "size");
    cr_assert_eq(rill_msg_property_at(m, 2, &n, &v), RILL_ENOTFOUND);

    rill_msg_t *d = rill_msg_dup(m);
    cr_assert_not_null(d);
    cr_assert_eq(rill_msg_set_property(m, "color", "green"), 0);
    cr_assert_str_eq(rill_msg_property(d, "color"), "blue");
    rill_msg_destroy(m);
    rill_msg_destroy(d);
}

Test(msg, unique_keys_differ)
{
    char a[RILL_MSGID_BYTES + 1], b[RILL_MSGID_BYTES + 1];
    rc_unique_key(a);
    rc_unique_key(b);
    cr_assert_eq(strlen(a), RILL_MSGID_BYTES);
    cr_assert_str_neq(a, b);
    for (size_t i = 0; i < RILL_MSGID_BYTES; i++)
        cr_assert(strchr("0123456789ABCDEF", a[i]) != NULL);
}

/*
 * What the broker does with a Message (broker/send.c build_msg): TAGS, KEYS
 * and the properties encoded in order, sys_flag 0x8 -> RECORD_FLAG_COMPRESSED.
 * Appends one record to *buf.
 */
static void broker_store(const Rill__Message *pb, uint64_t phys, uint64_t qoff, uint8_t **buf,
                         size_t *len)
{
    char props[RC_PROP_BYTES_MAX];
    size_t plen = 0;
    if (pb->tags && pb->tags[0])
        cr_assert_eq(rill_props_append(props, sizeof(props), &plen, RILL_PROP_TAGS, pb->tags,
                                       strlen(pb->tags)),
                     0);
    if (pb->keys && pb->keys[0])
        cr_assert_eq(rill_props_append(props, sizeof(props), &plen, RILL_PROP_KEYS, pb->keys,
                                       strlen(pb->keys)),
                     0);
    for (size_t i = 0; i < pb->n_properties; i++)
        cr_assert_eq(rill_props_append(props, sizeof(props), &plen, pb->properties[i]->key,
                                       pb->properties[i]->value, strlen(pb->properties[i]->value)),
                     0);
    record_fields_t f = {
        .topic = pb->topic,
        .topic_len = (uint16_t)strlen(pb->topic),
        .queue_id = 3,
        .queue_offset = qoff,
        .phys_offset = phys,
        .born_ts = (uint64_t)pb->born_timestamp_ms,
        .store_ts = (uint64_t)pb->born_timestamp_ms + 1,
        .flags = (pb->sys_flag & RC_SYS_FLAG_COMPRESSED) ? RECORD_FLAG_COMPRESSED : 0,
        .reconsume_times = 2,
        .born_ip = 0x0A000001,
        .born_port = 4242,
        .store_ip = 0x7F000001,
        .store_port = 10911,
        .body = pb->body.data,
        .body_len = (uint32_t)pb->body.len,
        .props = plen ? props : NULL,
        .props_len = (uint32_t)plen,
    };
    cr_assert_eq(record_check_fields(&f), 0);
    size_t sz = (size_t)record_size(f.topic_len, f.body_len, f.props_len);
    *buf = realloc(*buf, *len + sz);
    record_encode(*buf + *len, &f);
    *len += sz;
}

static rill_msg_t *sample_msg(size_t body_len, char fill)
{
    rill_msg_t *m = rill_msg_new("Orders");
    char *body = malloc(body_len);
    for (size_t i = 0; i < body_len; i++)
        body[i] = fill == 0 ? (char)(rand() & 0xFF) : fill;
    cr_assert_eq(rill_msg_set_body(m, body, body_len), 0);
    free(body);
    cr_assert_eq(rill_msg_set_tags(m, "TagA"), 0);
    cr_assert_eq(rill_msg_set_keys(m, "order-1 user-9"), 0);
    cr_assert_eq(rill_msg_set_property(m, "color", "red"), 0);
    cr_assert_eq(rill_msg_set_property(m, "empty", ""), 0);
    return m;
}

/* Send m through wire + record + decode; returns the one decoded message. */
static rill_msg_t *round_trip(const rill_msg_t *m, struct rill_conf *conf, bool *compressed)
{
    rc_wire_msg_t w;
    cr_assert_eq(rc_wire_msg_init(&w, m, conf), 0, "%s", rill_last_error());
    *compressed = (w.pb.sys_flag & RC_SYS_FLAG_COMPRESSED) != 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    broker_store(&w.pb, 4096, 7, &buf, &len);
    rc_wire_msg_free(&w);
    rill_msg_t **out = NULL;
    size_t n = 0;
    cr_assert_eq(rc_msgs_from_records(buf, len, "broker-a", &out, &n), 0, "%s", rill_last_error());
    cr_assert_eq(n, 1);
    rill_msg_t *r = out[0];
    free(out);
    free(buf);
    return r;
}

static void assert_same_content(const rill_msg_t *m, const rill_msg_t *r)
{
    size_t a, b;
    const void *ba = rill_msg_body(m, &a), *bb = rill_msg_body(r, &b);
    cr_assert_eq(a, b);
    cr_assert_eq(memcmp(ba, bb, a), 0);
    cr_assert_str_eq(rill_msg_topic(r), "Orders");
    cr_assert_str_eq(rill_msg_tags(r), "TagA");
    cr_assert_str_eq(rill_msg_keys(r), "order-1 user-9");
    cr_assert_str_eq(rill_msg_property(r, "color"), "red");
    cr_assert_str_eq(rill_msg_property(r, "empty"), "");
}

Test(msg, wire_round_trip_uncompressed)
{
    struct rill_conf *conf = test_conf(4096);
    rill_msg_t *m = sample_msg(100, 'x');
    char uk[RILL_MSGID_BYTES + 1];
    rc_unique_key(uk);
    /* the producer's way of adding UNIQ_KEY (a reserved name for users) */
    m->props = realloc(m->props, (m->n_props + 1) * sizeof(*m->props));
    m->cap_props = m->n_props + 1;
    m->props[m->n_props].name = strdup("UNIQ_KEY");
    m->props[m->n_props].value = strdup(uk);
    m->n_props++;

    bool z;
    rill_msg_t *r = round_trip(m, conf, &z);
    cr_assert_not(z);
    assert_same_content(m, r);
    cr_assert_str_eq(rill_msg_unique_key(r), uk);
    cr_assert_eq(rill_msg_stored_body_size(r), 100);
    cr_assert_str_eq(rill_msg_broker_name(r), "broker-a");
    cr_assert_eq(rill_msg_queue_id(r), 3);
    cr_assert_eq(rill_msg_queue_offset(r), 7);
    cr_assert_eq(rill_msg_commitlog_offset(r), 4096);
    cr_assert_eq(rill_msg_reconsume_times(r), 2);
    cr_assert_str_eq(rill_msg_born_host(r), "10.0.0.1:4242");
    cr_assert_str_eq(rill_msg_store_host(r), "127.0.0.1:10911");
    cr_assert_gt(rill_msg_born_timestamp(r), 0);
    cr_assert_eq(rill_msg_store_timestamp(r), rill_msg_born_timestamp(r) + 1);
    char id[MSGID_HEX_LEN + 1];
    msgid_encode(id, 0x7F000001, 10911, 4096);
    cr_assert_str_eq(rill_msg_id(r), id);
    /* a NUL follows every body (sscanf on a text body must stop there) */
    size_t blen;
    cr_assert_eq(((const char *)rill_msg_body(r, &blen))[blen], '\0');
    cr_assert_eq(((const char *)rill_msg_body(m, &blen))[blen], '\0');
    /* a received message copies whole */
    rill_msg_t *d = rill_msg_dup(r);
    cr_assert_eq(((const char *)rill_msg_body(d, &blen))[blen], '\0');
    cr_assert_str_eq(rill_msg_id(d), id);
    cr_assert_str_eq(rill_msg_unique_key(d), uk);
    rill_msg_destroy(d);
    rill_msg_destroy(r);
    rill_msg_destroy(m);
    rill_conf_destroy(conf);
}

Test(msg, wire_compression_above_threshold)
{
    struct rill_conf *conf = test_conf(4096);
    bool z;
    /* compressible and above the threshold: compressed, stored smaller, read back whole */
    rill_msg_t *m = sample_msg(64 * 1024, 'a');
    rill_msg_t *r = round_trip(m, conf, &z);
    cr_assert(z);
    assert_same_content(m, r);
    cr_assert_lt(rill_msg_stored_body_size(r), 64 * 1024);
    cr_assert_eq(r->record_flags & RECORD_FLAG_COMPRESSED, RECORD_FLAG_COMPRESSED);
    cr_assert_eq(((const char *)r->body)[r->body_len], '\0', "NUL after a decompressed body");
    rill_msg_destroy(r);
    rill_msg_destroy(m);

    /* exactly at the threshold: not compressed */
    m = sample_msg(4096, 'a');
    r = round_trip(m, conf, &z);
    cr_assert_not(z);
    assert_same_content(m, r);
    rill_msg_destroy(r);
    rill_msg_destroy(m);

    /* incompressible (random): sent as it is */
    m = sample_msg(16 * 1024, 0);
    r = round_trip(m, conf, &z);
    cr_assert_not(z);
    assert_same_content(m, r);
    cr_assert_eq(rill_msg_stored_body_size(r), 16 * 1024);
    rill_msg_destroy(r);
    rill_msg_destroy(m);
    rill_conf_destroy(conf);
}

Test(msg, wire_compression_off)
{
    struct rill_conf *conf = test_conf(0);
    bool z;
    rill_msg_t *m = sample_msg(64 * 1024, 'a');
    rill_msg_t *r = round_trip(m, conf, &z);
    cr_assert_not(z);
    assert_same_content(m, r);
    cr_assert_eq(rill_msg_stored_body_size(r), 64 * 1024);
    rill_msg_destroy(r);
    rill_msg_destroy(m);
    rill_conf_destroy(conf);
}

Test(msg, wire_refuses_empty_and_big)
{
    struct rill_conf *conf = test_conf(4096);
    conf->max_message_bytes = 1000;
    rc_wire_msg_t w;
    rill_msg_t *m = rill_msg_new("T");
    cr_assert_eq(rc_wire_msg_init(&w, m, conf), RILL_EINVAL);
    char body[1001] = {0};
    cr_assert_eq(rill_msg_set_body(m, body, 1001), 0);
    cr_assert_eq(rc_wire_msg_init(&w, m, conf), RILL_ETOOBIG);
    cr_assert_eq(rill_msg_set_body(m, body, 1000), 0);
    cr_assert_eq(rc_wire_msg_init(&w, m, conf), 0);
    rc_wire_msg_free(&w);
    /* properties beyond the record's 32767 bytes */
    char *big = malloc(RC_PROP_BYTES_MAX);
    memset(big, 'v', RC_PROP_BYTES_MAX - 1);
    big[RC_PROP_BYTES_MAX - 1] = '\0';
    cr_assert_eq(rill_msg_set_property(m, "big", big), 0);
    cr_assert_eq(rc_wire_msg_init(&w, m, conf), RILL_ETOOBIG);
    free(big);
    rill_msg_destroy(m);
    rill_conf_destroy(conf);
}

Test(msg, many_records_and_empty_input)
{
    struct rill_conf *conf = test_conf(4096);
    uint8_t *buf = NULL;
    size_t len = 0;
    for (int i = 0; i < 50; i++) {
        rill_msg_t *m = sample_msg((size_t)(10 + i * 300), 'a' + (char)(i % 20));
        rc_wire_msg_t w;
        cr_assert_eq(rc_wire_msg_init(&w, m, conf), 0);
        broker_store(&w.pb, (uint64_t)i * 1000, (uint64_t)i, &buf, &len);
        rc_wire_msg_free(&w);
        rill_msg_destroy(m);
    }
    rill_msg_t **out;
    size_t n;
    cr_assert_eq(rc_msgs_from_records(buf, len, NULL, &out, &n), 0);
    cr_assert_eq(n, 50);
    for (size_t i = 0; i < n; i++) {
        size_t bl;
        const char *b = rill_msg_body(out[i], &bl);
        cr_assert_eq(bl, 10 + i * 300);
        cr_assert_eq(b[bl - 1], 'a' + (char)(i % 20));
        cr_assert_eq(rill_msg_queue_offset(out[i]), (int64_t)i);
        cr_assert_null(rill_msg_broker_name(out[i]));
        rill_msg_destroy(out[i]);
    }
    free(out);
    out = (rill_msg_t **)1;
    n = 9;
    cr_assert_eq(rc_msgs_from_records(NULL, 0, "b", &out, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(out);
    free(buf);
    rill_conf_destroy(conf);
}

Test(msg, corrupt_records_refused)
{
    struct rill_conf *conf = test_conf(4096);
    uint8_t *buf = NULL;
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        rill_msg_t *m = sample_msg(200, 'q');
        rc_wire_msg_t w;
        cr_assert_eq(rc_wire_msg_init(&w, m, conf), 0);
        broker_store(&w.pb, (uint64_t)i * 1000, (uint64_t)i, &buf, &len);
        rc_wire_msg_free(&w);
        rill_msg_destroy(m);
    }
    rill_msg_t **out = NULL;
    size_t n = 77;
    /* a flipped byte in the last record's body: checksum */
    buf[len - 30] ^= 0x40;
    cr_assert_eq(rc_msgs_from_records(buf, len, "b", &out, &n), RILL_ECORRUPT);
    cr_assert_eq(n, 77); /* nothing returned */
    cr_assert(strstr(rill_last_error(), "record 2") != NULL, "%s", rill_last_error());
    buf[len - 30] ^= 0x40;
    /* truncated */
    cr_assert_eq(rc_msgs_from_records(buf, len - 1, "b", &out, &n), RILL_ECORRUPT);
    /* trailing garbage */
    uint8_t *more = malloc(len + 8);
    memcpy(more, buf, len);
    memset(more + len, 0xAB, 8);
    cr_assert_eq(rc_msgs_from_records(more, len + 8, "b", &out, &n), RILL_ECORRUPT);
    free(more);
    cr_assert_eq(rc_msgs_from_records(buf, len, "b", &out, &n), 0);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++)
        rill_msg_destroy(out[i]);
    free(out);
    free(buf);
    rill_conf_destroy(conf);
}

Test(msg, corrupt_compressed_body_refused)
{
    /* a record flagged compressed whose body is not a zstd frame: checksum fine, body bad */
    record_fields_t f = {
        .topic = "T",
        .topic_len = 1,
        .flags = RECORD_FLAG_COMPRESSED,
        .body = "not zstd at all",
        .body_len = 15,
    };
    size_t sz = (size_t)record_size(1, 15, 0);
    uint8_t *buf = malloc(sz);
    record_encode(buf, &f);
    rill_msg_t **out;
    size_t n;
    cr_assert_eq(rc_msgs_from_records(buf, sz, "b", &out, &n), RILL_ECORRUPT);
    free(buf);
}

Test(msg, list_and_strv_free)
{
    rill_msg_list_t l = {0};
    l.msgs = calloc(2, sizeof(*l.msgs));
    l.msgs[0] = rill_msg_new("a");
    l.msgs[1] = rill_msg_new("b");
    l.n = 2;
    rill_msg_list_free(&l);
    cr_assert_eq(l.n, 0);
    cr_assert_null(l.msgs);
    rill_msg_list_free(NULL);
    rill_strv_t sv = {0};
    sv.v = calloc(1, sizeof(char *));
    sv.v[0] = strdup("x");
    sv.n = 1;
    rill_strv_free(&sv);
    cr_assert_eq(sv.n, 0);
    rill_strv_free(NULL);
}
