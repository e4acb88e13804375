/*
 * store_config.c - store configuration keys, defaults and ranges. The
 * defaults here and in store_config_defaults() agree (a unit test checks).
 */
#include "broker/store/store_config.h"

#include <stddef.h>

static const char *const flush_types[] = {"ASYNC_FLUSH", "SYNC_FLUSH", NULL};

#define INT_KEY(n, field, d, lo, hi, h)                                                            \
    {                                                                                              \
        n, RILL_CFG_INT, offsetof(store_config_t, field), 0, d, lo, hi, NULL, h                    \
    }

const rill_cfg_key_t store_config_keys[] = {
    {"storePathRootDir", RILL_CFG_STRING, offsetof(store_config_t, store_path_root_dir),
     sizeof(((store_config_t *)0)->store_path_root_dir), "./data/store", 0, 0, NULL,
     "directory holding commitlog/ and kv/"},
    INT_KEY("mappedFileSizeCommitLog", mapped_file_size_commitlog, "1073741824", 65536, 1ll << 40,
            "bytes per CommitLog segment (multiple of the page size)"),
    {"flushDiskType", RILL_CFG_ENUM, offsetof(store_config_t, flush_disk_type), 0, "ASYNC_FLUSH", 0,
     0, flush_types, "ASYNC_FLUSH: periodic flush; SYNC_FLUSH: ack after fsync (group commit)"},
    INT_KEY("flushIntervalCommitLog", flush_interval_commitlog, "500", 1, 60000,
            "ms between ASYNC_FLUSH checks"),
    INT_KEY("flushCommitLogLeastPages", flush_commitlog_least_pages, "4", 0, 1 << 20,
            "dirty pages that trigger an ASYNC_FLUSH"),
    INT_KEY("flushCommitLogThoroughInterval", flush_commitlog_thorough_interval, "10000", 1,
            3600000, "ms after which any dirty page is flushed"),
    INT_KEY("syncFlushTimeout", sync_flush_timeout, "5000", 1, 600000,
            "ms a SYNC_FLUSH send waits before FLUSH_DISK_TIMEOUT"),
    INT_KEY("maxMessageSize", max_message_size, "4194304", 1, 64ll << 20,
            "largest message body in bytes"),
    INT_KEY("fileReservedTime", file_reserved_time, "72", 0, 24 * 365 * 10,
            "hours a CommitLog segment is kept"),
    {"deleteWhen", RILL_CFG_STRING, offsetof(store_config_t, delete_when),
     sizeof(((store_config_t *)0)->delete_when), "04", 0, 0, NULL,
     "hours of the day expired segments are deleted, e.g. 04 or 04;16, * for any"},
    INT_KEY("diskMaxUsedSpaceRatio", disk_max_used_space_ratio, "75", 10, 95,
            "percent disk use above which expired segments are deleted at once"),
    INT_KEY("diskSpaceCleanForciblyRatio", disk_space_clean_forcibly_ratio, "85", 10, 99,
            "percent disk use above which the oldest segments are deleted even if young"),
    INT_KEY("diskSpaceRefuseRatio", disk_space_refuse_ratio, "90", 10, 100,
            "percent disk use at which appends are refused"),
    INT_KEY("cleanResourceInterval", clean_resource_interval, "10000", 10, 3600000,
            "ms between retention checks"),
    INT_KEY("kvMapSize", kv_map_size, "268435456", 1 << 20, 1ll << 40,
            "initial LMDB map size in bytes (grows by doubling)"),
    INT_KEY("dispatchBatchMax", dispatch_batch_max, "16384", 1, 1 << 20,
            "records per dispatcher LMDB transaction"),
};

const size_t store_config_key_count = sizeof(store_config_keys) / sizeof(store_config_keys[0]);

const rill_cfg_schema_t *store_config_schema(void)
{
    static const rill_cfg_schema_t schema = {
        "store", store_config_keys, sizeof(store_config_keys) / sizeof(store_config_keys[0]),
        NULL};
    return &schema;
}
