/*
 * conf.c - rill_conf_t: the key/value configuration of every librill handle.
 *
 * One schema table (common/config.h) names each key of rill.h with its
 * field in struct rill_conf, its default and its range, so defaults,
 * validation, error texts ("bad value 'x' for key 'send.retries': expected
 * an integer in [0, 16]") and rill_conf_get() all come from one place, as
 * they do for the broker's own keys. Defaults that depend on the
 * environment (namesrv, offset.store.dir) are applied in rill_conf_new(),
 * once, after the table's.
 */
#include "client/src/core.h"

#include "common/config.h"
#include "common/errors.h"
#include "rpc/rpc_client.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every duration in ms is at most a day unless a key says otherwise. */
#define CONF_DAY_MS 86400000LL

static const char *const conf_models[] = {"CLUSTERING", "BROADCASTING", NULL};
static const char *const conf_froms[] = {"LAST_OFFSET", "FIRST_OFFSET", "TIMESTAMP", NULL};
/* In rill_log_level_t's order. */
static const char *const conf_log_levels[] = {"DEBUG", "INFO", "WARN", "ERROR", NULL};

/* clang-format off */
#define INT_KEY(n, f, def, lo, hi, help) \
    {n, RILL_CFG_INT, offsetof(struct rill_conf, f), 0, def, lo, hi, NULL, help}
#define STR_KEY(n, f, def, help) \
    {n, RILL_CFG_STRING, offsetof(struct rill_conf, f), sizeof(((struct rill_conf *)0)->f), def, \
     0, 0, NULL, help}
/* clang-format on */

static const rill_cfg_key_t conf_keys[] = {
    STR_KEY("namesrv", namesrv, "127.0.0.1:9876", "NameServer list, host:port;host:port"),
    STR_KEY("group", group, "", "producer or consumer group"),
    STR_KEY("client.id", client_id, "", "instance id in the group; empty = hostname@pid@n"),
    INT_KEY("request.timeout.ms", request_timeout_ms, "3000", 1, RPC_CALL_TIMEOUT_MS_MAX,
            "admin, offset and query calls, ms"),
    INT_KEY("route.refresh.ms", route_refresh_ms, "30000", 10, CONF_DAY_MS,
            "how often topic routes are re-read, ms"),
    INT_KEY("heartbeat.interval.ms", heartbeat_interval_ms, "10000", 10, CONF_DAY_MS,
            "heartbeat period to every broker, ms"),
    /* producer */
    INT_KEY("send.timeout.ms", send_timeout_ms, "3000", 1, RPC_CALL_TIMEOUT_MS_MAX,
            "timeout of one send attempt, ms"),
    INT_KEY("send.retries", send_retries, "2", 0, 16, "extra attempts after a failed send"),
    INT_KEY("send.inflight.max", send_inflight_max, "10000", 1, 1000000,
            "async sends in flight before RILL_EBUSY"),
    INT_KEY("compress.threshold.bytes", compress_threshold_bytes, "4096", 0, 1LL << 30,
            "zstd-compress bodies larger than this; 0 = never"),
    INT_KEY("compress.level", compress_level, "3", 1, 22, "zstd level"),
    INT_KEY("max.message.bytes", max_message_bytes, "4194304", 1, 64LL << 20,
            "largest body, and largest batch"),
    INT_KEY("linger.ms", linger_ms, "5", 0, 10000,
            "async sends wait this long to share one batch request, ms; 0 = no batching"),
    INT_KEY("batch.size", batch_size, "512", 1, RC_BATCH_MSGS_MAX,
            "most async sends in one batch request"),
    INT_KEY("batch.bytes", batch_bytes, "262144", 1, 64LL << 20,
            "most body bytes in one batch request (also capped by max.message.bytes)"),
    /* consumers */
    {"message.model", RILL_CFG_ENUM, offsetof(struct rill_conf, message_model), 0, "CLUSTERING", 0,
     0, conf_models, "CLUSTERING or BROADCASTING"},
    {"consume.from", RILL_CFG_ENUM, offsetof(struct rill_conf, consume_from), 0, "LAST_OFFSET", 0,
     0, conf_froms, "start of a queue with no committed offset"},
    INT_KEY("consume.timestamp.ms", consume_timestamp_ms, "0", 0, INT64_MAX,
            "TIMESTAMP start, epoch ms; 0 = 30 minutes before start"),
    INT_KEY("consume.threads", consume_threads, "20", 1, 1000, "push: listener threads"),
    INT_KEY("consume.batch.size", consume_batch_size, "1", 1, 1024,
            "push: most messages per listener call"),
    INT_KEY("consume.timeout.ms", consume_timeout_ms, "900000", 1, CONF_DAY_MS,
            "push: listener calls longer than this are logged, ms"),
    INT_KEY("pull.batch.size", pull_batch_size, "32", 1, 1024, "messages per pull request"),
    INT_KEY("pull.threshold.queue.msgs", pull_threshold_queue_msgs, "1000", 1, 1000000,
            "stop pulling a queue above this many cached messages"),
    INT_KEY("pull.threshold.queue.mb", pull_threshold_queue_mb, "100", 1, 65536,
            "stop pulling a queue above this many cached MiB"),
    INT_KEY("pull.suspend.ms", pull_suspend_ms, "15000", 0, 300000,
            "long-poll time a broker may hold an empty pull, ms"),
    INT_KEY("rebalance.interval.ms", rebalance_interval_ms, "20000", 10, CONF_DAY_MS,
            "periodic rebalance, ms"),
    INT_KEY("auto.commit.interval.ms", auto_commit_interval_ms, "5000", 10, CONF_DAY_MS,
            "offset commit period, ms"),
    {"enable.auto.commit", RILL_CFG_BOOL, offsetof(struct rill_conf, enable_auto_commit), 0, "true",
     0, 0, NULL, "pull consumer: commit polled positions periodically"},
    INT_KEY("reconsume.delay.ms", reconsume_delay_ms, "1000", 0, CONF_DAY_MS,
            "push: delay before a RECONSUME_LATER message comes again, ms"),
    INT_KEY("max.reconsume.times", max_reconsume_times, "16", 0, 10000,
            "push: deliveries after the first before a message is skipped"),
    {"retry.send.back", RILL_CFG_BOOL, offsetof(struct rill_conf, retry_send_back), 0, "true", 0, 0,
     NULL, "push CLUSTERING: RECONSUME_LATER sends the message to %RETRY%<group> (false: "
     "redeliver locally)"},
    INT_KEY("lock.renew.ms", lock_renew_ms, "20000", 10, CONF_DAY_MS,
            "orderly push: queue lock renewal period, ms; a lock counts 2.5x this long"),
    STR_KEY("offset.store.dir", offset_store_dir, "",
            "BROADCASTING: directory of the local offset file"),
    {"log.level", RILL_CFG_ENUM, offsetof(struct rill_conf, log_level), 0, "WARN", 0, 0,
     conf_log_levels, "DEBUG, INFO, WARN or ERROR: librill's log lines (process-wide)"},
};

static const rill_cfg_schema_t conf_schema = {"librill", conf_keys,
                                              sizeof(conf_keys) / sizeof(conf_keys[0]), NULL};

/* Set key from the environment-derived value when it is valid; else keep the default. */
static void conf_env_default(rill_conf_t *conf, const char *key, const char *value)
{
    if (value != NULL && value[0] != '\0')
        (void)rill_cfg_set(&conf_schema, conf, key, value, NULL, 0);
}

rill_conf_t *rill_conf_new(void)
{
    rill_conf_t *conf = calloc(1, sizeof(*conf));
    if (conf == NULL) {
        rc_fail(ENOMEM, "out of memory");
        return NULL;
    }
    char err[256];
    int rc = rill_cfg_defaults(&conf_schema, conf, err, sizeof(err));
    assert(rc == 0 && "librill's conf_keys defaults parse");
    if (rc != 0) {
        free(conf);
        rc_fail(rc, "%s", err);
        return NULL;
    }
    const char *ns = getenv("RILL_NAMESRV");
    if (ns == NULL || ns[0] == '\0')
        ns = getenv("NAMESRV_ADDR");
    conf_env_default(conf, "namesrv", ns);

    char dir[sizeof(conf->offset_store_dir)];
    const char *home = getenv("HOME");
    int n = snprintf(dir, sizeof(dir), "%s/.rill_offsets", home && home[0] ? home : "/tmp");
    if (n < 0 || (size_t)n >= sizeof(dir))
        snprintf(dir, sizeof(dir), "/tmp/.rill_offsets");
    conf_env_default(conf, "offset.store.dir", dir);
    return conf;
}

rill_conf_t *rill_conf_dup(const rill_conf_t *conf)
{
    if (conf == NULL)
        return NULL;
    rill_conf_t *copy = malloc(sizeof(*copy));
    if (copy == NULL) {
        rc_fail(ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(copy, conf, sizeof(*copy));
    return copy;
}

void rill_conf_destroy(rill_conf_t *conf)
{
    free(conf);
}

int rill_conf_set(rill_conf_t *conf, const char *name, const char *value, char *errstr,
                  size_t errstr_size)
{
    char err[512];
    if (conf == NULL || name == NULL) {
        snprintf(err, sizeof(err), "%s", conf == NULL ? "conf is NULL" : "key name is NULL");
        goto fail;
    }
    if (rill_cfg_set(&conf_schema, conf, name, value, err, sizeof(err)) == 0)
        return 0;
fail:
    if (errstr != NULL && errstr_size > 0)
        snprintf(errstr, errstr_size, "%s", err);
    return rc_fail(RILL_ECONFIG, "%s", err);
}

int rill_conf_get(const rill_conf_t *conf, const char *name, char *dst, size_t *dst_size)
{
    if (conf == NULL || name == NULL || dst_size == NULL)
        return rc_fail(RILL_EINVAL, "rill_conf_get: conf, name and dst_size are required");
    const rill_cfg_key_t *k = rill_cfg_find(&conf_schema, name);
    if (k == NULL)
        return rc_fail(RILL_ECONFIG, "unknown key '%s'", name);

    const char *field = (const char *)conf + k->offset;
    char num[32];
    const char *text = num;
    switch (k->type) {
    case RILL_CFG_INT:
        snprintf(num, sizeof(num), "%" PRId64, *(const int64_t *)field);
        break;
    case RILL_CFG_BOOL:
        text = *(const bool *)field ? "true" : "false";
        break;
    case RILL_CFG_STRING:
        text = field;
        break;
    case RILL_CFG_ENUM:
        text = k->choices[*(const int *)field];
        break;
    }
    size_t need = strlen(text) + 1;
    if (dst == NULL || *dst_size < need) {
        bool asking = dst == NULL;
        *dst_size = need;
        if (asking)
            return 0;
        return rc_fail(RILL_ENOSPACE, "value of '%s' needs %zu bytes", name, need);
    }
    memcpy(dst, text, need);
    *dst_size = need;
    return 0;
}
