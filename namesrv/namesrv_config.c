/*
 * namesrv_config.c - rill-namesrv's keys, defaults and ranges.
 *
 * RocketMQ hard-codes the liveness timings (a 10 s scan, a 120 s expiry:
 * RouteInfoManager.BROKER_CHANNEL_EXPIRED_TIME); Rill makes both keys so
 * tests and small deployments can shorten them. The names follow RocketMQ:
 * scanNotActiveBrokerInterval is NamesrvConfig's key in RocketMQ 5, and
 * brokerChannelExpiredTime is the 4.x constant in camelCase.
 */
#include "namesrv/namesrv_config.h"

#include <stddef.h>

/* Index order matches rill_log_level_t (debug = 0 ... error = 3). */
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

#define INT_KEY(n, field, d, lo, hi, h)                                                            \
    {                                                                                              \
        n, RILL_CFG_INT, offsetof(ns_config_t, field), 0, d, lo, hi, NULL, h                       \
    }
#define STRING_KEY(n, field, d, h)                                                                 \
    {                                                                                              \
        n, RILL_CFG_STRING, offsetof(ns_config_t, field), sizeof(((ns_config_t *)0)->field), d, 0, \
            0, NULL, h                                                                             \
    }

static const rill_cfg_key_t ns_keys[] = {
    INT_KEY("listenPort", listen_port, "9876", 1, 65535, "TCP port clients and brokers connect to"),
    STRING_KEY("bindAddress", bind_address, "0.0.0.0",
               "IPv4 address to listen on; 0.0.0.0 = every interface"),
    INT_KEY("scanNotActiveBrokerInterval", scan_not_active_broker_interval_ms, "10000", 10, 3600000,
            "ms between scans that drop brokers not seen for brokerChannelExpiredTime"),
    INT_KEY("brokerChannelExpiredTime", broker_channel_expired_time_ms, "120000", 100, 86400000,
            "ms after its last registration that a silent broker is dropped"),
    {"logLevel", RILL_CFG_ENUM, offsetof(ns_config_t, log_level), 0, "info", 0, 0, log_levels,
     "lowest level logged: debug, info, warn or error"},
    STRING_KEY("logFile", log_file, "", "file to append log lines to; empty = stderr"),
};

const rill_cfg_schema_t *ns_config_schema(void)
{
    static const rill_cfg_schema_t schema = {"namesrv", ns_keys,
                                             sizeof(ns_keys) / sizeof(ns_keys[0]), NULL};
    return &schema;
}
