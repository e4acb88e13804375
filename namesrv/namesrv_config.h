/*
 * namesrv_config.h - rill-namesrv's settings as a config schema: one table
 * of keys (RocketMQ names where RocketMQ has the option) parsed from
 * `-c FILE` and `--key=value` by common/config.h into an ns_config_t.
 */
#ifndef RILL_NAMESRV_CONFIG_H
#define RILL_NAMESRV_CONFIG_H

#include "common/config.h"

#include <stdint.h>

/** Capacity of ns_config_t.bind_address, NUL included. */
#define NS_BIND_ADDRESS_BYTES 64
/** Capacity of ns_config_t.log_file, NUL included. */
#define NS_LOG_FILE_BYTES 1024

/** Effective configuration of one rill-namesrv process. */
typedef struct {
    int64_t listen_port;                        /**< listenPort: TCP port, default 9876 */
    char bind_address[NS_BIND_ADDRESS_BYTES];   /**< bindAddress: IPv4 address, default 0.0.0.0 */
    int64_t scan_not_active_broker_interval_ms; /**< scanNotActiveBrokerInterval: ms, 10000 */
    int64_t broker_channel_expired_time_ms;     /**< brokerChannelExpiredTime: ms, 120000 */
    int log_level;                              /**< logLevel: index of debug/info/warn/error */
    char log_file[NS_LOG_FILE_BYTES];           /**< logFile: "" = stderr */
} ns_config_t;

/**
 * The schema of every rill-namesrv key.
 *
 * @return a static schema whose offsets point into ns_config_t.
 * @remark Thread-safe.
 */
const rill_cfg_schema_t *ns_config_schema(void);

#endif
