/*
 * broker_config.c - rill-broker's keys: RocketMQ's BrokerConfig names for the
 * broker's own settings, followed by every store key (store_config.h).
 *
 * broker_config_t embeds store_config_t as its first member, so the store
 * keys' offsets are offsets into broker_config_t too; the combined table is
 * built once at start-up. storePathRootDir's default is replaced by "",
 * meaning ./data/<brokerName>, the way `rill-broker -n ...` runs out of the box.
 */
#include "broker/broker.h"

#include "broker/store/store_config.h"
#include "common/errors.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(offsetof(broker_config_t, store) == 0, "store keys need store at offset 0");

/* Index order matches rill_log_level_t (debug = 0 ... error = 3). */
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
/* Index order matches enum broker_role. */
static const char *const roles[] = {"ASYNC_MASTER", "SYNC_MASTER", "SLAVE", NULL};

#define FIELD_SIZE(f) sizeof(((broker_config_t *)0)->f)
#define INT_KEY(n, field, d, lo, hi, h)                                                            \
    {                                                                                              \
        n, RILL_CFG_INT, offsetof(broker_config_t, field), 0, d, lo, hi, NULL, h                   \
    }
#define STRING_KEY(n, field, d, h)                                                                 \
    {                                                                                              \
        n, RILL_CFG_STRING, offsetof(broker_config_t, field), FIELD_SIZE(field), d, 0, 0, NULL, h  \
    }
#define BOOL_KEY(n, field, d, h)                                                                   \
    {                                                                                              \
        n, RILL_CFG_BOOL, offsetof(broker_config_t, field), 0, d, 0, 0, NULL, h                    \
    }

static const rill_cfg_key_t broker_keys[] = {
    STRING_KEY("brokerClusterName", broker_cluster_name, "DefaultCluster",
               "cluster this broker belongs to"),
    STRING_KEY("brokerName", broker_name, "broker-a", "name of the master/slave set"),
    INT_KEY("brokerId", broker_id, "0", 0, 1024, "0 = master, >= 1 = slave"),
    {"brokerRole", RILL_CFG_ENUM, offsetof(broker_config_t, broker_role), 0, "ASYNC_MASTER", 0, 0,
     roles, "ASYNC_MASTER, SYNC_MASTER or SLAVE (slaves refuse sends)"},
    STRING_KEY("namesrvAddr", namesrv_addr, "", "namesrvs to register with, 'a:9876;b:9876'"),
    INT_KEY("listenPort", listen_port, "10911", 1, 65535, "TCP port clients connect to"),
    STRING_KEY("brokerIP1", broker_ip1, "127.0.0.1",
               "IPv4 address clients reach this broker at (in routes and msgIds)"),
    STRING_KEY("bindAddress", bind_address, "0.0.0.0", "IPv4 address to listen on"),
    BOOL_KEY("autoCreateTopicEnable", auto_create_topic_enable, "true",
             "create unknown topics on their first send"),
    INT_KEY("defaultTopicQueueNums", default_topic_queue_nums, "4", 1, BROKER_QUEUE_NUMS_MAX,
            "read and write queues of an auto-created topic"),
    INT_KEY("registerNameServerPeriod", register_name_server_period, "30000", 100, 3600000,
            "ms between registrations with every namesrv"),
    INT_KEY("brokerSuspendMaxTimeMillis", broker_suspend_max_time_millis, "15000", 0, 600000,
            "longest time a pull is parked (long polling), ms"),
    INT_KEY("transactionTimeOut", transaction_time_out, "6000", 10, 86400000,
            "ms after which an unresolved half message is first checked back"),
    INT_KEY("transactionCheckInterval", transaction_check_interval, "60000", 10, 86400000,
            "ms between check-backs of one half message"),
    INT_KEY("transactionCheckMax", transaction_check_max, "15", 1, 1000,
            "check-backs of one half message before it is rolled back"),
    INT_KEY("rebalanceLockMaxLiveTime", rebalance_lock_max_live_time, "60000", 10, 86400000,
            "lease of an orderly consumer's queue lock, ms (queue_lock.c)"),
    STRING_KEY("messageDelayLevel", message_delay_level, DELAY_DEFAULT_LEVELS,
               "delay levels 1..N: numbers with unit s, m, h or d, space-separated"),
    INT_KEY("channelExpiredTimeoutMillis", channel_expired_timeout_millis, "120000", 100, 86400000,
            "ms after its last heartbeat a client leaves its groups"),
    INT_KEY("haListenPort", ha_listen_port, "0", 0, 65535,
            "port a master serves its slaves on (replication/); 0 = listenPort + 1"),
    STRING_KEY("haMasterAddress", ha_master_address, "",
               "a slave's master HA address host:port (required on a slave)"),
    INT_KEY("haMetaSyncInterval", ha_meta_sync_interval, "10000", 0, 86400000,
            "ms between a slave's copies of topics, groups and offsets; 0 = never"),
    INT_KEY("haSlaveFallbehindMax", ha_slave_fallbehind_max, "268435456", 0, INT64_MAX,
            "bytes a slave may lag before a SYNC_MASTER answers SLAVE_NOT_AVAILABLE"),
    {"logLevel", RILL_CFG_ENUM, offsetof(broker_config_t, log_level), 0, "info", 0, 0, log_levels,
     "lowest level logged: debug, info, warn or error"},
    STRING_KEY("logFile", log_file, "", "file to append log lines to; empty = stderr"),
};

#define BROKER_KEY_COUNT (sizeof(broker_keys) / sizeof(broker_keys[0]))

static rill_cfg_key_t all_keys[BROKER_KEY_COUNT + 64];
/* Values whose syntax the schema types cannot express: messageDelayLevel. */
static int broker_check(const rill_cfg_key_t *k, const char *value, char *err, size_t errcap)
{
    if (strcmp(k->name, "messageDelayLevel") != 0)
        return 0;
    delay_levels_t levels;
    char derr[256];
    if (delay_levels_parse(value, &levels, derr, sizeof(derr)) == 0)
        return 0;
    snprintf(err, errcap, "bad value '%s' for key 'messageDelayLevel': %s", value, derr);
    return RILL_ECONFIG;
}

static rill_cfg_schema_t schema = {"broker", all_keys, 0, broker_check};
static pthread_once_t schema_once = PTHREAD_ONCE_INIT;

static void build_schema(void)
{
    size_t n = 0;
    for (size_t i = 0; i < BROKER_KEY_COUNT; i++)
        all_keys[n++] = broker_keys[i];
    for (size_t i = 0; i < store_config_key_count; i++) {
        if (n == sizeof(all_keys) / sizeof(all_keys[0]))
            abort(); /* the table above is sized for every store key */
        all_keys[n] = store_config_keys[i];
        if (strcmp(all_keys[n].name, "storePathRootDir") == 0) {
            all_keys[n].def = "";
            all_keys[n].help = "directory holding commitlog/ and kv/; empty = ./data/<brokerName>";
        }
        n++;
    }
    schema.count = n;
}

const rill_cfg_schema_t *broker_config_schema(void)
{
    pthread_once(&schema_once, build_schema);
    return &schema;
}

int broker_config_finish(broker_config_t *cfg, char *err, size_t errcap)
{
    struct in_addr a;
    if (inet_pton(AF_INET, cfg->broker_ip1, &a) != 1) {
        snprintf(err, errcap, "bad value '%s' for key 'brokerIP1': expected an IPv4 address",
                 cfg->broker_ip1);
        return RILL_ECONFIG;
    }
    if (inet_pton(AF_INET, cfg->bind_address, &a) != 1) {
        snprintf(err, errcap, "bad value '%s' for key 'bindAddress': expected an IPv4 address",
                 cfg->bind_address);
        return RILL_ECONFIG;
    }
    if (cfg->store.store_path_root_dir[0] == '\0') {
        int n = snprintf(cfg->store.store_path_root_dir, sizeof(cfg->store.store_path_root_dir),
                         "./data/%s", cfg->broker_name);
        if (n < 0 || (size_t)n >= sizeof(cfg->store.store_path_root_dir)) {
            snprintf(err, errcap, "brokerName is too long for a data directory");
            return RILL_ECONFIG;
        }
    }
    char derr[256];
    if (delay_levels_parse(cfg->message_delay_level, &cfg->delay_levels, derr, sizeof(derr)) !=
        0) {
        snprintf(err, errcap, "bad value '%s' for key 'messageDelayLevel': %s",
                 cfg->message_delay_level, derr);
        return RILL_ECONFIG;
    }
    if (cfg->broker_role == BROKER_SLAVE && cfg->broker_id == 0) {
        snprintf(err, errcap, "brokerRole SLAVE needs brokerId >= 1");
        return RILL_ECONFIG;
    }
    return 0;
}
