/*
 * queue_table.c - open-addressing map (topic, queue id) -> next queue offset.
 * Grows by doubling at 50 % load; growth is rare (new queues), lookups are
 * one hash and usually one probe.
 */
#include "broker/store/queue_table.h"

#include "common/checksum.h"
#include "common/errors.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_TABLE_INITIAL_CAP 256u

static uint64_t pair_hash(const char *topic, uint16_t len, uint32_t queue_id)
{
    uint64_t h = rill_hash64(topic, len, queue_id);
    return h ? h : 1; /* 0 marks an empty slot */
}

int queue_table_init(queue_table_t *qt)
{
    qt->slots = calloc(QUEUE_TABLE_INITIAL_CAP, sizeof(*qt->slots));
    if (qt->slots == NULL)
        return ENOMEM;
    qt->cap = QUEUE_TABLE_INITIAL_CAP;
    qt->count = 0;
    return 0;
}

void queue_table_free(queue_table_t *qt)
{
    free(qt->slots);
    qt->slots = NULL;
    qt->cap = qt->count = 0;
}

static queue_table_entry_t *probe(queue_table_entry_t *slots, size_t cap, uint64_t h,
                                  const char *topic, uint16_t len, uint32_t queue_id)
{
    size_t mask = cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        queue_table_entry_t *e = &slots[i];
        if (e->hash == 0)
            return e;
        if (e->hash == h && e->queue_id == queue_id && e->topic_len == len &&
            memcmp(e->topic, topic, len) == 0)
            return e;
    }
}

static int grow(queue_table_t *qt)
{
    size_t cap = qt->cap * 2;
    queue_table_entry_t *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return ENOMEM;
    for (size_t i = 0; i < qt->cap; i++) {
        queue_table_entry_t *e = &qt->slots[i];
        if (e->hash)
            *probe(slots, cap, e->hash, e->topic, e->topic_len, e->queue_id) = *e;
    }
    free(qt->slots);
    qt->slots = slots;
    qt->cap = cap;
    return 0;
}

int queue_table_slot(queue_table_t *qt, const char *topic, uint16_t topic_len, uint32_t queue_id,
                     uint64_t **out)
{
    assert(topic_len > 0 && topic_len < sizeof(qt->slots[0].topic));
    uint64_t h = pair_hash(topic, topic_len, queue_id);
    queue_table_entry_t *e = probe(qt->slots, qt->cap, h, topic, topic_len, queue_id);
    if (e->hash == 0) {
        if (qt->count >= QUEUE_TABLE_ENTRIES_MAX)
            return RILL_EBUSY;
        if ((qt->count + 1) * 2 > qt->cap) {
            int rc = grow(qt);
            if (rc)
                return rc;
            e = probe(qt->slots, qt->cap, h, topic, topic_len, queue_id);
        }
        e->hash = h;
        e->queue_id = queue_id;
        e->topic_len = topic_len;
        memcpy(e->topic, topic, topic_len);
        e->next_offset = 0;
        qt->count++;
    }
    *out = &e->next_offset;
    return 0;
}

const uint64_t *queue_table_find(const queue_table_t *qt, const char *topic, uint16_t topic_len,
                                 uint32_t queue_id)
{
    if (topic_len == 0 || topic_len >= sizeof(qt->slots[0].topic))
        return NULL;
    uint64_t h = pair_hash(topic, topic_len, queue_id);
    queue_table_entry_t *e = probe(qt->slots, qt->cap, h, topic, topic_len, queue_id);
    return e->hash ? &e->next_offset : NULL;
}
