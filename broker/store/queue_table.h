/*
 * queue_table.h - next queue offset of every (topic, queue id), kept by the
 * appender so queue offsets are assigned under the append lock, in log order.
 *
 * Open addressing with linear probing, keyed by a 64-bit hash of topic and
 * queue id and checked against the stored topic. Owned by whoever holds the
 * append lock; not thread-safe by itself.
 */
#ifndef RILL_STORE_QUEUE_TABLE_H
#define RILL_STORE_QUEUE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_TABLE_ENTRIES_MAX (1u << 20) /* distinct (topic, queue) pairs per broker */

typedef struct queue_table_entry {
    uint64_t hash; /* 0 = empty slot */
    uint64_t next_offset;
    uint32_t queue_id;
    uint16_t topic_len;
    char topic[128];
} queue_table_entry_t;

typedef struct queue_table {
    queue_table_entry_t *slots;
    size_t cap; /* power of two */
    size_t count;
} queue_table_t;

/** Initialise an empty table. 0 or ENOMEM. */
int queue_table_init(queue_table_t *qt);

/** Free the slots; the table may be re-initialised. */
void queue_table_free(queue_table_t *qt);

/**
 * The next-offset counter of (topic, queue_id), inserted at 0 when missing.
 * @param[out] out  pointer to the counter, valid until the next insert.
 * @return 0; ENOMEM; RILL_EBUSY when QUEUE_TABLE_ENTRIES_MAX pairs exist.
 */
int queue_table_slot(queue_table_t *qt, const char *topic, uint16_t topic_len, uint32_t queue_id,
                     uint64_t **out);

/** Look up without inserting. Returns the counter or NULL. */
const uint64_t *queue_table_find(const queue_table_t *qt, const char *topic, uint16_t topic_len,
                                 uint32_t queue_id);

#endif
