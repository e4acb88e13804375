/*
 * tables.c - open the store's LMDB tables; small meta and topic-id helpers.
 */
#include "broker/store/tables.h"

#include "common/errors.h"

int store_tables_open(kv_env_t *env, store_tables_t *t)
{
    struct {
        const char *name;
        kv_table_t *dst;
    } all[] = {
        {"cq", &t->cq},
        {"keyidx", &t->keyidx},
        {"qmax", &t->qmax},
        {"topicids", &t->topicids},
        {"topicnames", &t->topicnames},
        {"offsets", &t->offsets},
        {"topics", &t->topics},
        {"groups", &t->groups},
        {"delay", &t->delay},
        {"txn", &t->txn},
        {"meta", &t->meta},
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        int rc = kv_table_open(env, all[i].name, all[i].dst);
        if (rc)
            return rc;
    }
    return 0;
}

int meta_get_u64(kv_txn_t *txn, const store_tables_t *t, const char *name, uint64_t *out)
{
    kv_val_t v;
    int rc = kv_get(txn, t->meta, name, strlen(name), &v);
    if (rc)
        return rc;
    if (v.len != 8)
        return RILL_ECORRUPT;
    *out = kv_be64_get(v.data);
    return 0;
}

int meta_put_u64(kv_txn_t *txn, const store_tables_t *t, const char *name, uint64_t v)
{
    uint8_t b[8];
    kv_be64_put(b, v);
    return kv_put(txn, t->meta, name, strlen(name), b, 8, 0);
}

int topic_id_get(kv_txn_t *txn, const store_tables_t *t, const char *topic, size_t len,
                 uint32_t *out)
{
    kv_val_t v;
    int rc = kv_get(txn, t->topicids, topic, len, &v);
    if (rc)
        return rc;
    if (v.len != 4)
        return RILL_ECORRUPT;
    *out = kv_be32_get(v.data);
    return 0;
}
