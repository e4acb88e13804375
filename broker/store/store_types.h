/*
 * store_types.h - the plain structs that cross the store's API: a message to
 * append and where it landed.
 */
#ifndef RILL_STORE_TYPES_H
#define RILL_STORE_TYPES_H

#include <stdint.h>

/** A message to append. Every pointer is borrowed for the duration of the call. */
typedef struct store_msg {
    const char *topic;
    uint16_t topic_len;
    uint32_t queue_id;
    const void *body;
    uint32_t body_len;
    const char *props; /* encoded properties (common/props.h), may be NULL */
    uint32_t props_len;
    uint64_t tag_hash; /* rill_tag_hash() of the TAGS property, 0 for none */
    uint32_t flags;    /* RECORD_FLAG_* */
    uint32_t reconsume_times;
    uint64_t born_ts; /* producer clock, epoch ms */
    uint32_t born_ip; /* IPv4, host byte order */
    uint16_t born_port;
    uint64_t prepared_tx_offset;
} store_msg_t;

/** Where an appended message landed. */
typedef struct store_put_result {
    uint64_t phys_offset;  /* commitlog offset of the record (part of the msgId) */
    uint64_t queue_offset; /* position in its (topic, queue) */
    uint64_t store_ts;     /* broker clock, epoch ms, monotonic in log order */
    uint32_t size;         /* record bytes */
} store_put_result_t;

#endif
