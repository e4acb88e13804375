/*
 * record.h - the CommitLog record: one message as it lies on disk.
 *
 * Every message is stored as one self-delimiting, checksummed record; records
 * never span segments, and the unused tail of a segment is closed by a BLANK
 * record (magic + size only) so a reader can always hop to the next segment.
 * The same decoder serves the dispatcher, recovery, the pull path and the
 * client (pull replies carry raw records).
 *
 * Layout (little-endian, byte offsets):
 *
 *   0       4       8               16              24
 *   +-------+-------+---------------+---------------+
 *   | size  | magic |   checksum    |  phys_offset  |
 *   +-------+-------+---------------+---------------+
 *   24              32              40              48
 *   | queue_offset  |   born_ts ms  |  store_ts ms  |
 *   +---------------+---------------+---------------+
 *   48              56              64
 *   | prepared_tx   |   tag_hash    |
 *   +-------+-------+-------+-------+-------+-------+
 *   64      68      72      76      80      84      88
 *   |queue_id| flags |reconsume|body_len|props_len|born_ip|
 *   +-------+---+---+---+---+-------+-------+-------+
 *   88      92  94  96  98  100
 *   |store_ip|bp |sp |tlen|rsv| topic | body | props |
 *   +-------+---+---+---+---+------------------------+
 *
 *   size      total record bytes, header included (= 100 + tlen + body_len + props_len)
 *   magic     RECORD_MAGIC, or RECORD_BLANK_MAGIC for the end-of-segment filler
 *   checksum  XXH3-64 of bytes [16, size) seeded with size: covers every field
 *             after itself; a torn or flipped record fails it
 *   bp, sp    born port, store port; tlen topic length (1..127); rsv must be 0
 *
 * A BLANK record is just size (the rest of the segment) and magic; size and
 * magic both 0 mean nothing was ever written here (preallocated zeros).
 */
#ifndef RILL_STORE_RECORD_H
#define RILL_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define RECORD_HEADER_SIZE     100u
#define RECORD_MAGIC           0x4C4C4952u /* "RILL" */
#define RECORD_BLANK_MAGIC     0x4B4E4C42u /* "BLNK" */
#define RECORD_BLANK_MIN       8u          /* a segment always keeps room for a blank */
#define RECORD_TOPIC_BYTES_MAX 127u
#define RECORD_PROPS_BYTES_MAX 32767u
#define RECORD_BODY_BYTES_MAX  (64u << 20) /* hard format limit; maxMessageSize is lower */

/* flags */
#define RECORD_FLAG_TX_MASK    0x3u
#define RECORD_TX_NONE         0x0u
#define RECORD_TX_PREPARED     0x1u
#define RECORD_TX_COMMIT       0x2u
#define RECORD_TX_ROLLBACK     0x3u
#define RECORD_FLAG_DELAYED    0x4u /* deliver later: indexed in `delay`, not in the cq */
#define RECORD_FLAG_COMPRESSED 0x8u /* body is zstd-compressed */
#define RECORD_FLAGS_KNOWN     0xFu

/**
 * Does a record with these flags take a ConsumeQueue slot? Delayed records
 * (indexed by deliver time) and half or rollback transaction records are
 * invisible to consumers: they get no queue offset (0) and leave no gap.
 */
static inline int record_flags_in_cq(uint32_t flags)
{
    uint32_t tx = flags & RECORD_FLAG_TX_MASK;
    return !(flags & RECORD_FLAG_DELAYED) && tx != RECORD_TX_PREPARED && tx != RECORD_TX_ROLLBACK;
}

enum record_kind { RECORD_KIND_MSG = 1, RECORD_KIND_BLANK = 2 };

/** What the caller provides to encode a message record. */
typedef struct record_fields {
    const char *topic;
    uint16_t topic_len;
    uint32_t queue_id;
    uint64_t queue_offset;
    uint64_t phys_offset;
    uint64_t born_ts;
    uint64_t store_ts;
    uint64_t prepared_tx_offset;
    uint64_t tag_hash;
    uint32_t flags;
    uint32_t reconsume_times;
    uint32_t born_ip, store_ip; /* IPv4 in host byte order */
    uint16_t born_port, store_port;
    const void *body;
    uint32_t body_len;
    const char *props;
    uint32_t props_len;
} record_fields_t;

/**
 * A decoded record: header fields plus pointers into the bytes it was decoded
 * from (valid as long as those bytes are). For a BLANK only kind and
 * total_size are set.
 */
typedef struct record_view {
    int kind;
    uint32_t total_size;
    uint64_t phys_offset, queue_offset;
    uint64_t born_ts, store_ts;
    uint64_t prepared_tx_offset, tag_hash;
    uint32_t queue_id, flags, reconsume_times;
    uint32_t born_ip, store_ip;
    uint16_t born_port, store_port;
    const char *topic;
    uint16_t topic_len;
    const uint8_t *body;
    uint32_t body_len;
    const char *props;
    uint32_t props_len;
} record_view_t;

/** Bytes a record with these lengths occupies. */
static inline uint64_t record_size(size_t topic_len, size_t body_len, size_t props_len)
{
    return (uint64_t)RECORD_HEADER_SIZE + topic_len + body_len + props_len;
}

/**
 * Check the lengths and flags of a record before encoding it.
 * @return 0; RILL_ETOPIC for an empty or > 127-byte topic; RILL_ETOOBIG for
 *         props or body above the format limits; RILL_EINVAL for unknown flags.
 */
int record_check_fields(const record_fields_t *in);

/**
 * Encode a message record into dst, which must hold record_size() bytes;
 * computes the checksum last. Fields must have passed record_check_fields().
 * @remark No allocation; dst may be a CommitLog mapping.
 */
void record_encode(uint8_t *dst, const record_fields_t *in);

/** Write a BLANK record of `size` bytes (>= RECORD_BLANK_MIN) at dst. */
void record_encode_blank(uint8_t *dst, uint32_t size);

/**
 * Decode and verify the record at p, of which `avail` bytes are readable.
 *
 * @param[out] out  written on success (kind MSG or BLANK).
 * @return 0 for a valid record or blank; RILL_ENOTFOUND when size and magic
 *         are both zero (nothing written here); RILL_ECORRUPT for a bad magic, a size
 *         that is too small or exceeds `avail`, inconsistent lengths, unknown
 *         flags or a checksum mismatch.
 */
int record_decode(const uint8_t *p, size_t avail, record_view_t *out);

/** Read the size field of the record at p (no verification). */
uint32_t record_peek_size(const uint8_t *p);

#define RECORD_PEEK_BYTES 48u /* header bytes record_peek() reads */

/** Header fields read without verification: the record may be torn or not a record at all. */
typedef struct record_peek {
    uint32_t size, magic;
    uint64_t phys_offset, store_ts;
} record_peek_t;

/** Read the unverified header fields from the RECORD_PEEK_BYTES bytes at p. */
void record_peek(const uint8_t *p, record_peek_t *out);

#endif
