/*
 * record.c - encode and verify CommitLog records (layout drawn in record.h).
 *
 * Fields are stored little-endian through memcpy so records need no alignment.
 */
#include "common/record.h"

#include "common/checksum.h"
#include "common/errors.h"

#include <assert.h>
#include <string.h>

_Static_assert(RECORD_HEADER_SIZE == 100, "record header layout is fixed");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "records are little-endian on disk");

static inline void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static inline void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static inline void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static inline uint16_t get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t record_checksum(const uint8_t *p, uint32_t size)
{
    return rill_hash64(p + 16, size - 16, size);
}

int record_check_fields(const record_fields_t *in)
{
    if (in->topic == NULL || in->topic_len == 0 || in->topic_len > RECORD_TOPIC_BYTES_MAX)
        return RILL_ETOPIC;
    if (in->props_len > RECORD_PROPS_BYTES_MAX || in->body_len > RECORD_BODY_BYTES_MAX)
        return RILL_ETOOBIG;
    if ((in->body_len > 0 && in->body == NULL) || (in->props_len > 0 && in->props == NULL))
        return RILL_EINVAL;
    if (in->flags & ~RECORD_FLAGS_KNOWN)
        return RILL_EINVAL;
    return 0;
}

void record_encode(uint8_t *dst, const record_fields_t *in)
{
    uint32_t size = (uint32_t)record_size(in->topic_len, in->body_len, in->props_len);
    put32(dst + 0, size);
    put32(dst + 4, RECORD_MAGIC);
    put64(dst + 16, in->phys_offset);
    put64(dst + 24, in->queue_offset);
    put64(dst + 32, in->born_ts);
    put64(dst + 40, in->store_ts);
    put64(dst + 48, in->prepared_tx_offset);
    put64(dst + 56, in->tag_hash);
    put32(dst + 64, in->queue_id);
    put32(dst + 68, in->flags);
    put32(dst + 72, in->reconsume_times);
    put32(dst + 76, in->body_len);
    put32(dst + 80, in->props_len);
    put32(dst + 84, in->born_ip);
    put32(dst + 88, in->store_ip);
    put16(dst + 92, in->born_port);
    put16(dst + 94, in->store_port);
    put16(dst + 96, in->topic_len);
    put16(dst + 98, 0);
    uint8_t *q = dst + RECORD_HEADER_SIZE;
    memcpy(q, in->topic, in->topic_len);
    q += in->topic_len;
    if (in->body_len)
        memcpy(q, in->body, in->body_len);
    q += in->body_len;
    if (in->props_len)
        memcpy(q, in->props, in->props_len);
    put64(dst + 8, record_checksum(dst, size));
}

void record_encode_blank(uint8_t *dst, uint32_t size)
{
    assert(size >= RECORD_BLANK_MIN);
    put32(dst + 0, size);
    put32(dst + 4, RECORD_BLANK_MAGIC);
}

uint32_t record_peek_size(const uint8_t *p)
{
    return get32(p);
}

void record_peek(const uint8_t *p, record_peek_t *out)
{
    _Static_assert(RECORD_PEEK_BYTES >= 48, "store_ts ends at byte 48");
    out->size = get32(p);
    out->magic = get32(p + 4);
    out->phys_offset = get64(p + 16);
    out->store_ts = get64(p + 40);
}

int record_decode(const uint8_t *p, size_t avail, record_view_t *out)
{
    if (avail < RECORD_BLANK_MIN)
        return avail >= 4 && get32(p) == 0 ? RILL_ENOTFOUND : RILL_ECORRUPT;
    uint32_t size = get32(p);
    uint32_t magic = get32(p + 4);
    if (size == 0 && magic == 0)
        return RILL_ENOTFOUND;
    if (size > avail)
        return RILL_ECORRUPT;
    if (magic == RECORD_BLANK_MAGIC) {
        if (size < RECORD_BLANK_MIN)
            return RILL_ECORRUPT;
        memset(out, 0, sizeof(*out));
        out->kind = RECORD_KIND_BLANK;
        out->total_size = size;
        return 0;
    }
    if (magic != RECORD_MAGIC || size < RECORD_HEADER_SIZE)
        return RILL_ECORRUPT;
    uint32_t body_len = get32(p + 76), props_len = get32(p + 80);
    uint16_t topic_len = get16(p + 96);
    uint32_t flags = get32(p + 68);
    if (topic_len == 0 || topic_len > RECORD_TOPIC_BYTES_MAX ||
        props_len > RECORD_PROPS_BYTES_MAX || body_len > RECORD_BODY_BYTES_MAX ||
        get16(p + 98) != 0 || (flags & ~RECORD_FLAGS_KNOWN))
        return RILL_ECORRUPT;
    if (record_size(topic_len, body_len, props_len) != size)
        return RILL_ECORRUPT;
    if (get64(p + 8) != record_checksum(p, size))
        return RILL_ECORRUPT;
    out->kind = RECORD_KIND_MSG;
    out->total_size = size;
    out->phys_offset = get64(p + 16);
    out->queue_offset = get64(p + 24);
    out->born_ts = get64(p + 32);
    out->store_ts = get64(p + 40);
    out->prepared_tx_offset = get64(p + 48);
    out->tag_hash = get64(p + 56);
    out->queue_id = get32(p + 64);
    out->flags = flags;
    out->reconsume_times = get32(p + 72);
    out->body_len = body_len;
    out->props_len = props_len;
    out->born_ip = get32(p + 84);
    out->store_ip = get32(p + 88);
    out->born_port = get16(p + 92);
    out->store_port = get16(p + 94);
    out->topic_len = topic_len;
    out->topic = (const char *)p + RECORD_HEADER_SIZE;
    out->body = p + RECORD_HEADER_SIZE + topic_len;
    out->props = (const char *)p + RECORD_HEADER_SIZE + topic_len + body_len;
    return 0;
}
