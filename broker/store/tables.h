/*
 * tables.h - the LMDB tables of the store and their key/value layouts.
 *
 * The key index stores keys as they are, not hashed: keys that grow over
 * time (UNIQ_KEY is time-ordered per producer; order ids usually are) then
 * land next to each other and a batch of inserts dirties few pages, where
 * hashed keys scatter every insert over the whole tree (measured: 10x
 * slower dispatch). Keys longer than KEYIDX_KEY_TEXT_MAX index their prefix;
 * lookups always verify the full key in the record.
 *
 * Every integer in a key is big-endian so that byte order is numeric order
 * and a cursor walks a queue, a key or a time range in order. Values are
 * big-endian too, for one rule everywhere.
 *
 *   cq        topic_id:4 queue_id:4 chunk_start:8         -> up to 32 entries of
 *                                                            phys:8 size:4 tag_hash:8 store_ts:8
 *             (see consume_queue.h: one LMDB entry per 32 queue offsets)
 *   keyidx    topic_id:4 key NUL store_ts:8 phys:8        -> size:4
 *   qmax      topic_id:4 queue_id:4                       -> next_offset:8 last_store_ts:8
 *   topicids  topic name                                  -> topic_id:4
 *   topicnames topic_id:4                                 -> topic name
 *   offsets   group NUL topic NUL queue_id:4              -> offset:8 update_ts:8
 *   topics    topic name                                  -> config blob (owned by the broker)
 *   groups    group name                                  -> config blob (owned by the broker)
 *   delay     deliver_ts:8 phys:8                         -> size:4
 *   txn       phys:8                                      -> state blob (transactions)
 *   meta      name                                        -> value (see META_*)
 */
#ifndef RILL_STORE_TABLES_H
#define RILL_STORE_TABLES_H

#include "kvstore/kv.h"

#include <stdint.h>
#include <string.h>

#define CQ_KEY_BYTES          16
#define CQ_VAL_BYTES          28 /* one entry inside a chunk */
#define KEYIDX_KEY_TEXT_MAX   255
#define KEYIDX_KEY_BYTES_MAX  (4 + KEYIDX_KEY_TEXT_MAX + 1 + 16)
#define KEYIDX_VAL_BYTES      4
#define QMAX_KEY_BYTES        8
#define QMAX_VAL_BYTES        16
#define DELAY_KEY_BYTES       16
#define OFFSETS_KEY_BYTES_MAX (255 + 1 + 127 + 1 + 4)

#define META_DISPATCHED    "dispatched" /* u64: every record below is in the tables */
#define META_CHECKPOINT    "checkpoint" /* u64: start of a record that is durable and dispatched */
#define META_NEXT_TOPIC_ID "next_topic_id" /* u32 */
#define META_VERSION       "version"       /* u32: layout version, STORE_KV_VERSION */
#define STORE_KV_VERSION   1u

typedef struct store_tables {
    kv_table_t cq, keyidx, qmax, topicids, topicnames, offsets, topics, groups, delay, txn, meta;
} store_tables_t;

typedef struct cq_entry {
    uint64_t phys;
    uint32_t size;
    uint64_t tag_hash;
    uint64_t store_ts;
} cq_entry_t;

static inline void cq_key(uint8_t k[CQ_KEY_BYTES], uint32_t topic_id, uint32_t queue_id,
                          uint64_t queue_offset)
{
    kv_be32_put(k, topic_id);
    kv_be32_put(k + 4, queue_id);
    kv_be64_put(k + 8, queue_offset);
}

static inline void cq_val(uint8_t v[CQ_VAL_BYTES], const cq_entry_t *e)
{
    kv_be64_put(v, e->phys);
    kv_be32_put(v + 8, e->size);
    kv_be64_put(v + 12, e->tag_hash);
    kv_be64_put(v + 20, e->store_ts);
}

/**
 * Build a key-index key; returns its length, or 0 when the key cannot be
 * indexed (empty, or holding a NUL byte). *prefix_len gets the length of the
 * part that identifies (topic, key).
 */
static inline size_t keyidx_key(uint8_t *k, uint32_t topic_id, const char *key, size_t len,
                                uint64_t store_ts, uint64_t phys, size_t *prefix_len)
{
    if (len == 0 || memchr(key, 0, len) != NULL)
        return 0;
    if (len > KEYIDX_KEY_TEXT_MAX)
        len = KEYIDX_KEY_TEXT_MAX;
    kv_be32_put(k, topic_id);
    memcpy(k + 4, key, len);
    k[4 + len] = 0;
    kv_be64_put(k + 5 + len, store_ts);
    kv_be64_put(k + 13 + len, phys);
    if (prefix_len)
        *prefix_len = 5 + len;
    return 21 + len;
}

static inline void qmax_key(uint8_t k[QMAX_KEY_BYTES], uint32_t topic_id, uint32_t queue_id)
{
    kv_be32_put(k, topic_id);
    kv_be32_put(k + 4, queue_id);
}

/** Build an offsets key; returns its length, or 0 when names are too long. */
static inline size_t offsets_key(uint8_t *k, const char *group, size_t glen, const char *topic,
                                 size_t tlen, uint32_t queue_id)
{
    if (glen == 0 || glen > 255 || tlen == 0 || tlen > 127)
        return 0;
    memcpy(k, group, glen);
    k[glen] = 0;
    memcpy(k + glen + 1, topic, tlen);
    k[glen + 1 + tlen] = 0;
    kv_be32_put(k + glen + tlen + 2, queue_id);
    return glen + tlen + 6;
}

/** Open (create) every table of the store. */
int store_tables_open(kv_env_t *env, store_tables_t *t);

/** Read a u64 from meta; RILL_ENOTFOUND when absent. */
int meta_get_u64(kv_txn_t *txn, const store_tables_t *t, const char *name, uint64_t *out);
int meta_put_u64(kv_txn_t *txn, const store_tables_t *t, const char *name, uint64_t v);

/** Topic id of a name within txn; RILL_ENOTFOUND if the topic never had a message. */
int topic_id_get(kv_txn_t *txn, const store_tables_t *t, const char *topic, size_t len,
                 uint32_t *out);

#endif
