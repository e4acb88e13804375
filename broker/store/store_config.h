/*
 * store_config.h - the store's configuration keys (RocketMQ names) as a
 * config schema, so the broker and store_bench parse `key = value` files and
 * `--key=value` flags straight into a store_config_t.
 */
#ifndef RILL_STORE_CONFIG_H
#define RILL_STORE_CONFIG_H

#include "broker/store/store.h"
#include "common/config.h"

/** The store keys; every offset points into store_config_t. */
extern const rill_cfg_key_t store_config_keys[];
extern const size_t store_config_key_count;

/** A schema holding just the store keys. */
const rill_cfg_schema_t *store_config_schema(void);

#endif
