/*
 * test_record.c - CommitLog record encoding (broker/store/record.h): every
 * field survives a round trip, record_check_fields() rejects what the format
 * cannot hold, and record_decode() rejects every truncated, torn or flipped
 * record with the documented code.
 */
#include "common/record.h"
#include "common/checksum.h"
#include "common/errors.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A record with every field set to a distinct, recognisable value. */
static record_fields_t sample_fields(const char *topic, const void *body, uint32_t body_len,
                                     const char *props, uint32_t props_len)
{
    return (record_fields_t){
        .topic = topic,
        .topic_len = (uint16_t)strlen(topic),
        .queue_id = 0xA1B2C3D4u,
        .queue_offset = 0x0102030405060708ull,
        .phys_offset = 0x1112131415161718ull,
        .born_ts = 0x2122232425262728ull,
        .store_ts = 0x3132333435363738ull,
        .prepared_tx_offset = 0x4142434445464748ull,
        .tag_hash = 0x5152535455565758ull,
        .flags = RECORD_TX_PREPARED | RECORD_FLAG_DELAYED | RECORD_FLAG_COMPRESSED,
        .reconsume_times = 0x61626364u,
        .born_ip = 0xC0A80101u,
        .store_ip = 0x0A000002u,
        .born_port = 0xBEEF,
        .store_port = 10911,
        .body = body,
        .body_len = body_len,
        .props = props,
        .props_len = props_len,
    };
}

/* Encode f into a fresh heap buffer of exactly record_size() bytes. */
static uint8_t *encode_new(const record_fields_t *f, uint32_t *size)
{
    cr_assert_eq(record_check_fields(f), 0);
    uint64_t sz = record_size(f->topic_len, f->body_len, f->props_len);
    uint8_t *buf = malloc(sz);
    cr_assert_not_null(buf);
    record_encode(buf, f);
    *size = (uint32_t)sz;
    return buf;
}

static void assert_view_matches(const record_view_t *v, const record_fields_t *f,
                                const uint8_t *base)
{
    cr_assert_eq(v->kind, RECORD_KIND_MSG);
    cr_assert_eq(v->total_size, record_size(f->topic_len, f->body_len, f->props_len));
    cr_assert_eq(v->phys_offset, f->phys_offset);
    cr_assert_eq(v->queue_offset, f->queue_offset);
    cr_assert_eq(v->born_ts, f->born_ts);
    cr_assert_eq(v->store_ts, f->store_ts);
    cr_assert_eq(v->prepared_tx_offset, f->prepared_tx_offset);
    cr_assert_eq(v->tag_hash, f->tag_hash);
    cr_assert_eq(v->queue_id, f->queue_id);
    cr_assert_eq(v->flags, f->flags);
    cr_assert_eq(v->reconsume_times, f->reconsume_times);
    cr_assert_eq(v->born_ip, f->born_ip);
    cr_assert_eq(v->store_ip, f->store_ip);
    cr_assert_eq(v->born_port, f->born_port);
    cr_assert_eq(v->store_port, f->store_port);
    cr_assert_eq(v->topic_len, f->topic_len);
    cr_assert(memcmp(v->topic, f->topic, f->topic_len) == 0);
    cr_assert_eq(v->body_len, f->body_len);
    cr_assert_eq(v->props_len, f->props_len);
    if (f->body_len)
        cr_assert(memcmp(v->body, f->body, f->body_len) == 0);
    if (f->props_len)
        cr_assert(memcmp(v->props, f->props, f->props_len) == 0);
    /* The view points into the decoded bytes, in layout order. */
    cr_assert_eq((const uint8_t *)v->topic, base + RECORD_HEADER_SIZE);
    cr_assert_eq(v->body, base + RECORD_HEADER_SIZE + f->topic_len);
    cr_assert_eq((const uint8_t *)v->props, base + RECORD_HEADER_SIZE + f->topic_len + f->body_len);
}

static void round_trip(const record_fields_t *f)
{
    uint32_t size;
    uint8_t *buf = encode_new(f, &size);
    cr_assert_eq(record_peek_size(buf), size);
    record_view_t v;
    memset(&v, 0xEE, sizeof(v));
    cr_assert_eq(record_decode(buf, size, &v), 0);
    assert_view_matches(&v, f, buf);
    free(buf);
}

/* Recompute the checksum after editing header bytes (documented in record.h). */
static void reseal(uint8_t *p)
{
    uint32_t size;
    memcpy(&size, p, 4);
    uint64_t sum = rill_hash64(p + 16, size - 16, size);
    memcpy(p + 8, &sum, 8);
}

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* ---- round trips --------------------------------------------------------- */

Test(record, round_trip_all_fields)
{
    const char body[] = "hello, rill";
    const char props[] = "KEYS\001k1\002TAGS\001tagA\002";
    record_fields_t f =
        sample_fields("TopicTest", body, sizeof(body) - 1, props, sizeof(props) - 1);
    uint32_t size;
    uint8_t *buf = encode_new(&f, &size);
    cr_assert_eq(size, RECORD_HEADER_SIZE + 9 + (sizeof(body) - 1) + (sizeof(props) - 1));
    /* Fixed header positions from the layout drawing. */
    uint32_t magic;
    memcpy(&magic, buf + 4, 4);
    cr_assert_eq(magic, RECORD_MAGIC);
    uint64_t phys;
    memcpy(&phys, buf + 16, 8);
    cr_assert_eq(phys, f.phys_offset);
    uint16_t tlen, rsv;
    memcpy(&tlen, buf + 96, 2);
    memcpy(&rsv, buf + 98, 2);
    cr_assert_eq(tlen, 9);
    cr_assert_eq(rsv, 0);
    cr_assert(memcmp(buf + RECORD_HEADER_SIZE, "TopicTest", 9) == 0);
    free(buf);
    round_trip(&f);
}

Test(record, round_trip_empty_body_and_props)
{
    record_fields_t f = sample_fields("T", NULL, 0, NULL, 0);
    f.flags = 0;
    round_trip(&f);
    uint32_t size;
    uint8_t *buf = encode_new(&f, &size);
    cr_assert_eq(size, RECORD_HEADER_SIZE + 1);
    free(buf);
}

Test(record, round_trip_empty_body_with_props)
{
    const char props[] = "a\001b\002";
    record_fields_t f = sample_fields("T", NULL, 0, props, 4);
    round_trip(&f);
}

Test(record, round_trip_body_without_props)
{
    record_fields_t f = sample_fields("T", "xyz", 3, NULL, 0);
    round_trip(&f);
}

Test(record, round_trip_max_topic_and_max_props)
{
    char topic[RECORD_TOPIC_BYTES_MAX + 1];
    memset(topic, 'q', RECORD_TOPIC_BYTES_MAX);
    topic[RECORD_TOPIC_BYTES_MAX] = '\0';
    char *props = malloc(RECORD_PROPS_BYTES_MAX);
    cr_assert_not_null(props);
    for (uint32_t i = 0; i < RECORD_PROPS_BYTES_MAX; i++)
        props[i] = (char)('a' + i % 26);
    record_fields_t f = sample_fields(topic, "b", 1, props, RECORD_PROPS_BYTES_MAX);
    cr_assert_eq(f.topic_len, 127);
    round_trip(&f);
    free(props);
}

Test(record, round_trip_large_body)
{
    uint32_t len = 3u << 20; /* 3 MiB */
    uint8_t *body = malloc(len);
    cr_assert_not_null(body);
    for (uint32_t i = 0; i < len; i++)
        body[i] = (uint8_t)(i * 2654435761u >> 24);
    record_fields_t f = sample_fields("big", body, len, "p\001v\002", 4);
    round_trip(&f);
    free(body);
}

Test(record, round_trip_extreme_values)
{
    record_fields_t f = sample_fields("T", "\0\0\0", 3, NULL, 0);
    f.queue_id = UINT32_MAX;
    f.queue_offset = UINT64_MAX;
    f.phys_offset = UINT64_MAX;
    f.born_ts = 0;
    f.store_ts = UINT64_MAX;
    f.prepared_tx_offset = 0;
    f.tag_hash = UINT64_MAX;
    f.flags = RECORD_FLAGS_KNOWN;
    f.reconsume_times = UINT32_MAX;
    f.born_ip = 0;
    f.store_ip = UINT32_MAX;
    f.born_port = 0;
    f.store_port = UINT16_MAX;
    round_trip(&f);
}

Test(record, decode_unaligned_and_with_more_bytes_available)
{
    record_fields_t f = sample_fields("Unaligned", "body!", 5, "k\001v\002", 4);
    uint32_t size = (uint32_t)record_size(f.topic_len, f.body_len, f.props_len);
    uint8_t *buf = calloc(1, size + 4096 + 3);
    cr_assert_not_null(buf);
    record_encode(buf + 3, &f);
    record_view_t v;
    cr_assert_eq(record_decode(buf + 3, size + 4096, &v), 0);
    assert_view_matches(&v, &f, buf + 3);
    /* What follows (zeros) is "nothing written". */
    cr_assert_eq(record_decode(buf + 3 + size, 4096, &v), RILL_ENOTFOUND);
    free(buf);
}

/* ---- record_check_fields ------------------------------------------------- */

Test(record, check_fields_topic)
{
    record_fields_t f = sample_fields("T", "b", 1, NULL, 0);
    cr_assert_eq(record_check_fields(&f), 0);
    f.topic_len = 0;
    cr_assert_eq(record_check_fields(&f), RILL_ETOPIC);
    f.topic = NULL;
    f.topic_len = 1;
    cr_assert_eq(record_check_fields(&f), RILL_ETOPIC);

    char topic[129];
    memset(topic, 't', 128);
    topic[128] = '\0';
    f.topic = topic;
    f.topic_len = 128;
    cr_assert_eq(record_check_fields(&f), RILL_ETOPIC);
    f.topic_len = 127;
    cr_assert_eq(record_check_fields(&f), 0);
    f.topic_len = UINT16_MAX;
    cr_assert_eq(record_check_fields(&f), RILL_ETOPIC);
}

Test(record, check_fields_sizes)
{
    static char props[RECORD_PROPS_BYTES_MAX + 1];
    record_fields_t f = sample_fields("T", "b", 1, props, RECORD_PROPS_BYTES_MAX);
    cr_assert_eq(record_check_fields(&f), 0);
    f.props_len = RECORD_PROPS_BYTES_MAX + 1;
    cr_assert_eq(record_check_fields(&f), RILL_ETOOBIG);
    f.props_len = UINT32_MAX;
    cr_assert_eq(record_check_fields(&f), RILL_ETOOBIG);

    /* Body above the format limit; the body bytes are never read. */
    f = sample_fields("T", "b", RECORD_BODY_BYTES_MAX + 1, NULL, 0);
    cr_assert_eq(record_check_fields(&f), RILL_ETOOBIG);
    f.body_len = RECORD_BODY_BYTES_MAX;
    cr_assert_eq(record_check_fields(&f), 0);
}

Test(record, check_fields_flags_and_null_pointers)
{
    record_fields_t f = sample_fields("T", "b", 1, NULL, 0);
    f.flags = RECORD_FLAGS_KNOWN;
    cr_assert_eq(record_check_fields(&f), 0);
    f.flags = 0x10;
    cr_assert_eq(record_check_fields(&f), RILL_EINVAL);
    f.flags = 0x80000000u;
    cr_assert_eq(record_check_fields(&f), RILL_EINVAL);
    f.flags = RECORD_FLAGS_KNOWN | 0x100;
    cr_assert_eq(record_check_fields(&f), RILL_EINVAL);

    f.flags = 0;
    f.body = NULL; /* body_len 1 */
    cr_assert_eq(record_check_fields(&f), RILL_EINVAL);
    f.body = "b";
    f.props = NULL;
    f.props_len = 2;
    cr_assert_eq(record_check_fields(&f), RILL_EINVAL);
    f.props_len = 0;
    cr_assert_eq(record_check_fields(&f), 0);
}

/* ---- decode errors --------------------------------------------------------- */

Test(record, decode_zeroed_bytes_is_not_found)
{
    static uint8_t zeros[4096];
    record_view_t v;
    cr_assert_eq(record_decode(zeros, sizeof(zeros), &v), RILL_ENOTFOUND);
    cr_assert_eq(record_decode(zeros, RECORD_HEADER_SIZE, &v), RILL_ENOTFOUND);
    cr_assert_eq(record_decode(zeros, RECORD_BLANK_MIN, &v), RILL_ENOTFOUND);
    /* A readable zero size field at the very end of a segment: still nothing. */
    for (size_t avail = 4; avail < RECORD_BLANK_MIN; avail++)
        cr_assert_eq(record_decode(zeros, avail, &v), RILL_ENOTFOUND, "avail %zu", avail);
}

Test(record, decode_zero_size_with_magic_is_corrupt)
{
    uint8_t buf[256] = {0};
    put32(buf + 4, RECORD_MAGIC);
    record_view_t v;
    cr_assert_eq(record_decode(buf, sizeof(buf), &v), RILL_ECORRUPT);
    put32(buf + 4, RECORD_BLANK_MAGIC);
    cr_assert_eq(record_decode(buf, sizeof(buf), &v), RILL_ECORRUPT);
    /* Zero magic under a non-zero size is a torn record, not an empty slot. */
    put32(buf + 0, 101);
    put32(buf + 4, 0);
    cr_assert_eq(record_decode(buf, sizeof(buf), &v), RILL_ECORRUPT);
}

Test(record, decode_truncated_is_corrupt)
{
    record_fields_t f = sample_fields("Trunc", "0123456789", 10, "k\001v\002", 4);
    uint32_t size;
    uint8_t *buf = encode_new(&f, &size);
    record_view_t v;
    cr_assert_eq(record_decode(buf, size, &v), 0);
    for (size_t avail = RECORD_BLANK_MIN; avail < size; avail++)
        cr_assert_eq(record_decode(buf, avail, &v), RILL_ECORRUPT, "avail %zu", avail);
    /* Fewer bytes than a size + magic pair, non-zero size. */
    for (size_t avail = 0; avail < RECORD_BLANK_MIN; avail++)
        cr_assert_neq(record_decode(buf, avail, &v), 0, "avail %zu", avail);
    for (size_t avail = 4; avail < RECORD_BLANK_MIN; avail++)
        cr_assert_eq(record_decode(buf, avail, &v), RILL_ECORRUPT, "avail %zu", avail);
    free(buf);
}

Test(record, decode_every_single_byte_flip_is_corrupt)
{
    /* ~300 bytes: header, topic, body and props all covered. */
    char body[150];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)(i * 7 + 3);
    const char props[] = "KEYS\001order-42\002TAGS\001TagA\002UNIQ_KEY\001ABCDEF\002";
    record_fields_t f =
        sample_fields("FlipTopic", body, sizeof(body), props, (uint32_t)(sizeof(props) - 1));
    uint32_t size;
    uint8_t *orig = encode_new(&f, &size);
    cr_assert_geq(size, 290);
    cr_assert_leq(size, 320);

    /* Decode from a larger zero-padded buffer too, so a size flipped upwards
     * stays inside `avail` and the other checks have to catch it. */
    size_t cap = size + 4096;
    uint8_t *buf = calloc(1, cap);
    cr_assert_not_null(buf);
    record_view_t v;
    for (uint32_t pos = 0; pos < size; pos++) {
        for (unsigned x = 1; x <= 0xFF; x++) {
            memcpy(buf, orig, size);
            buf[pos] ^= (uint8_t)x;
            /* One byte cannot zero both size and magic, so never ENOTFOUND. */
            int rc = record_decode(buf, size, &v);
            if (rc != RILL_ECORRUPT)
                cr_assert_fail("byte %u ^ 0x%02x: avail=size gave %d", pos, x, rc);
            rc = record_decode(buf, cap, &v);
            if (rc != RILL_ECORRUPT)
                cr_assert_fail("byte %u ^ 0x%02x: avail=cap gave %d", pos, x, rc);
        }
    }
    memcpy(buf, orig, size);
    cr_assert_eq(record_decode(buf, size, &v), 0);
    free(buf);
    free(orig);
}

/* Header edits that keep size and checksum consistent must still be caught. */
Test(record, decode_rejects_resealed_bad_header)
{
    static uint8_t body[40000];
    record_fields_t f = sample_fields("T", body, sizeof(body), NULL, 0);
    f.flags = 0;
    uint32_t size;
    uint8_t *orig = encode_new(&f, &size);
    uint8_t *buf = malloc(size);
    cr_assert_not_null(buf);
    record_view_t v;

    /* reseal() itself keeps a good record good. */
    memcpy(buf, orig, size);
    reseal(buf);
    cr_assert_eq(record_decode(buf, size, &v), 0);

    /* unknown flag */
    memcpy(buf, orig, size);
    put32(buf + 68, 0x10);
    reseal(buf);
    cr_assert_eq(record_decode(buf, size, &v), RILL_ECORRUPT);

    /* reserved field not zero */
    memcpy(buf, orig, size);
    put16(buf + 98, 1);
    reseal(buf);
    cr_assert_eq(record_decode(buf, size, &v), RILL_ECORRUPT);

    /* topic length 0 (body grows by one so the sizes still add up) */
    memcpy(buf, orig, size);
    put16(buf + 96, 0);
    put32(buf + 76, sizeof(body) + 1);
    reseal(buf);
    cr_assert_eq(record_decode(buf, size, &v), RILL_ECORRUPT);

    /* topic length 128, sizes still add up */
    memcpy(buf, orig, size);
    put16(buf + 96, 128);
    put32(buf + 76, sizeof(body) + 1 - 128);
    reseal(buf);
    cr_assert_eq(record_decode(buf, size, &v), RILL_ECORRUPT);

    /* props length above the limit, sizes still add up */
    memcpy(buf, orig, size);
    put32(buf + 80, RECORD_PROPS_BYTES_MAX + 1);
    put32(buf + 76, sizeof(body) - (RECORD_PROPS_BYTES_MAX + 1));
    reseal(buf);
    cr_assert_eq(record_decode(buf, size, &v), RILL_ECORRUPT);

    /* lengths that do not add up to size */
    memcpy(buf, orig, size);
    put32(buf + 76, sizeof(body) - 1);
    reseal(buf);
    cr_assert_eq(record_decode(buf, size, &v), RILL_ECORRUPT);

    /* size below the header */
    memcpy(buf, orig, size);
    put32(buf + 0, RECORD_HEADER_SIZE - 1);
    cr_assert_eq(record_decode(buf, size, &v), RILL_ECORRUPT);

    /* lengths whose sum overflows 32 bits must not wrap into a match */
    memcpy(buf, orig, size);
    put32(buf + 76, UINT32_MAX);
    reseal(buf);
    cr_assert_eq(record_decode(buf, size, &v), RILL_ECORRUPT);

    free(buf);
    free(orig);
}

/* ---- blanks ------------------------------------------------------------- */

Test(record, blank_round_trip)
{
    uint8_t buf[1024];
    memset(buf, 0xAB, sizeof(buf));
    record_encode_blank(buf, 1024);
    record_view_t v;
    memset(&v, 0xEE, sizeof(v));
    cr_assert_eq(record_decode(buf, sizeof(buf), &v), 0);
    cr_assert_eq(v.kind, RECORD_KIND_BLANK);
    cr_assert_eq(v.total_size, 1024);
    cr_assert_eq(record_peek_size(buf), 1024);

    /* The smallest blank: exactly size + magic. */
    record_encode_blank(buf, RECORD_BLANK_MIN);
    cr_assert_eq(record_decode(buf, RECORD_BLANK_MIN, &v), 0);
    cr_assert_eq(v.kind, RECORD_KIND_BLANK);
    cr_assert_eq(v.total_size, RECORD_BLANK_MIN);

    /* A blank longer than what is readable is corrupt. */
    record_encode_blank(buf, 1024);
    cr_assert_eq(record_decode(buf, 1023, &v), RILL_ECORRUPT);
}

Test(record, blank_too_small_is_corrupt)
{
    uint8_t buf[64] = {0};
    put32(buf + 4, RECORD_BLANK_MAGIC);
    record_view_t v;
    for (uint32_t size = 0; size < RECORD_BLANK_MIN; size++) {
        put32(buf, size);
        cr_assert_eq(record_decode(buf, sizeof(buf), &v), RILL_ECORRUPT, "blank size %u", size);
    }
    put32(buf, RECORD_BLANK_MIN);
    cr_assert_eq(record_decode(buf, sizeof(buf), &v), 0);
}

Test(record, bad_magic_is_corrupt)
{
    record_fields_t f = sample_fields("T", "b", 1, NULL, 0);
    uint32_t size;
    uint8_t *buf = encode_new(&f, &size);
    record_view_t v;
    put32(buf + 4, 0xDEADBEEF);
    cr_assert_eq(record_decode(buf, size, &v), RILL_ECORRUPT);
    free(buf);
}
