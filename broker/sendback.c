/*
 * sendback.c - retry and dead letters: CONSUMER_SEND_MSG_BACK (code 36).
 *
 * A consumer that could not process a message gives it back by its CommitLog
 * offset. The broker reads the record, increments reconsume_times and
 *   - when that exceeds the max (the request's, else the group's retryMaxTimes,
 *     else SENDBACK_MAX_DEFAULT) or
 *     the request asks for it (delay_level < 0), appends it to %DLQ%<group>
 *     (auto-created: 1 queue, perm 2 = write-only; it is read by id/offset
 *     queries and `rill msg print`, never by consumers);
 *   - else appends it to %RETRY%<group> (auto-created: 1 queue, perm 6) as a
 *     delayed message (delay.h contract) of level 3 + reconsume_times (or the
 *     request's level when higher), clamped to the last messageDelayLevel.
 * Body, tag hash, born time and properties are kept; REAL_TOPIC and
 * RETRY_TOPIC name the original topic (kept from the first retry), REAL_QID
 * its queue, ORIGIN_MSG_ID the first msgId. Every member of a CLUSTERING
 * group subscribes to %RETRY%<group> (librill does that), so the message comes
 * back to the group after its delay.
 *
 * The append is synchronous (store_put) in the RPC context: a send-back is
 * rare next to sends, and the answer must mean "stored".
 */
#include "broker/broker.h"
#include "broker/delay.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/props.h"
#include "common/record.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD              "sendback"
#define SENDBACK_MAX_DEFAULT 16 /* maxReconsumeTimes */
#define SENDBACK_PROP_RETRY  "RETRY_TOPIC"
#define SENDBACK_PROP_ORIGIN "ORIGIN_MSG_ID"
#define SENDBACK_PROPS_EXTRA (3 * (BROKER_TOPIC_BYTES_MAX + 24) + 128 + DELAY_PROPS_EXTRA_BYTES)

/* Read the record at phys into a malloc'd buffer and decode it. */
static int read_record(broker_t *b, uint64_t phys, uint8_t **buf, record_view_t *rv)
{
    size_t cap = 4096;
    for (int attempt = 0; attempt < 2; attempt++) {
        uint8_t *p = malloc(cap);
        if (p == NULL)
            return ENOMEM;
        uint32_t size = 0;
        int rc = store_get_by_phys(b->store, phys, p, cap, &size);
        if (rc == RILL_ENOSPACE && attempt == 0) {
            free(p);
            cap = size;
            continue;
        }
        if (rc == 0)
            rc = record_decode(p, size, rv);
        if (rc) {
            free(p);
            return rc;
        }
        *buf = p;
        return 0;
    }
    return RILL_ENOSPACE;
}

/* Copy props without the pairs named in drop (NULL-terminated). */
typedef struct copy_ctx {
    char *buf;
    size_t cap, len;
    const char *const *drop;
    int rc;
} copy_ctx_t;

static int copy_pair(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
    copy_ctx_t *c = arg;
    for (size_t i = 0; c->drop[i]; i++)
        if (strlen(c->drop[i]) == nlen && memcmp(c->drop[i], name, nlen) == 0)
            return 0;
    char n[256];
    if (nlen >= sizeof(n))
        return 0;
    memcpy(n, name, nlen);
    n[nlen] = '\0';
    c->rc = rill_props_append(c->buf, c->cap, &c->len, n, val, vlen);
    return c->rc;
}

static int get_or_create(broker_t *b, const char *name, int32_t perm, topic_conf_t *tc)
{
    if (topics_get(b->topics, name, tc) == 0)
        return 0;
    topic_conf_t conf;
    memset(&conf, 0, sizeof(conf));
    snprintf(conf.name, sizeof(conf.name), "%s", name);
    conf.read_queue_nums = conf.write_queue_nums = 1;
    conf.perm = perm;
    int rc = topics_put(b->topics, &conf);
    if (rc == 0 && topics_get(b->topics, name, tc) != 0)
        *tc = conf;
    if (rc == 0) {
        LOG_INFO(LOG_MOD, "created topic %s (1 queue, perm %d)", name, (int)perm);
        registry_kick(b->registry);
    }
    return rc;
}

/* The group's retryMaxTimes (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP), else 16. */
static int32_t group_max(broker_t *b, const char *group)
{
    uint8_t buf[4096];
    size_t len = 0;
    int32_t max = SENDBACK_MAX_DEFAULT;
    if (store_conf_get(b->store, STORE_GROUPS, group, buf, sizeof(buf), &len) == 0) {
        Rill__SubscriptionGroupConfig *g = rill__subscription_group_config__unpack(NULL, len, buf);
        if (g && g->retry_max_times > 0)
            max = g->retry_max_times;
        if (g)
            rill__subscription_group_config__free_unpacked(g, NULL);
    }
    return max;
}

static void handle_send_back(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    if (msg->body_case != RILL__REQUEST__BODY_CONSUMER_SEND_MSG_BACK) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                       "CONSUMER_SEND_MSG_BACK needs a consumer_send_msg_back body");
        return;
    }
    const Rill__ConsumerSendMsgBackRequest *r = msg->consumer_send_msg_back;
    if (b->cfg.broker_role == BROKER_SLAVE) {
        broker_reply_code(req, RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE,
                          "broker %s is a slave; send messages back to the master",
                          b->cfg.broker_name);
        return;
    }
    const char *group = r->group ? r->group : "";
    if (group[0] == '\0' || strlen(group) > BROKER_GROUP_BYTES_MAX || r->commitlog_offset < 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "CONSUMER_SEND_MSG_BACK needs a group and commitlog_offset >= 0");
        return;
    }
    char retry_topic[BROKER_TOPIC_BYTES_MAX + 1], dlq_topic[BROKER_TOPIC_BYTES_MAX + 1];
    int n1 = snprintf(retry_topic, sizeof(retry_topic), "%%RETRY%%%s", group);
    int n2 = snprintf(dlq_topic, sizeof(dlq_topic), "%%DLQ%%%s", group);
    if (n1 < 0 || (size_t)n1 >= sizeof(retry_topic) || n2 < 0 || (size_t)n2 >= sizeof(dlq_topic) ||
        topics_check_name(retry_topic) != 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "group %s makes no valid retry topic name", group);
        return;
    }
    uint8_t *rec = NULL;
    record_view_t rv;
    int rc = read_record(b, (uint64_t)r->commitlog_offset, &rec, &rv);
    if (rc == 0 && (rv.kind != RECORD_KIND_MSG ||
                    (rv.flags & (RECORD_FLAG_DELAYED | RECORD_FLAG_TX_MASK)) != 0))
        rc = RILL_ENOTFOUND;
    if (rc) {
        free(rec);
        if (rc == RILL_ENOTFOUND || rc == RILL_ECORRUPT || rc == RILL_EINVAL || rc == RILL_ERANGE)
            broker_reply_code(req, RILL__RESPONSE_CODE__QUERY_NOT_FOUND,
                              "no consumable message at commitlog offset %" PRId64,
                              r->commitlog_offset);
        else
            broker_reply_code(req, broker_code_of(rc), "cannot read commitlog offset %" PRId64 ": %s",
                              r->commitlog_offset, rill_strerror(rc));
        return;
    }
    uint32_t times = rv.reconsume_times + 1;
    int32_t max = r->max_reconsume_times > 0 ? r->max_reconsume_times : group_max(b, group);
    bool dlq = r->delay_level < 0 || times > (uint32_t)max;

    char orig_topic[BROKER_TOPIC_BYTES_MAX + 1];
    snprintf(orig_topic, sizeof(orig_topic), "%.*s", (int)rv.topic_len, rv.topic);
    const char *v;
    size_t vlen;
    char real_topic[BROKER_TOPIC_BYTES_MAX + 1];
    if (rill_props_get(rv.props, rv.props_len, RILL_PROP_REAL_TOPIC, &v, &vlen) == 0 &&
        vlen < sizeof(real_topic) && vlen > 0)
        snprintf(real_topic, sizeof(real_topic), "%.*s", (int)vlen, v);
    else
        snprintf(real_topic, sizeof(real_topic), "%s", orig_topic);
    char real_qid[16];
    if (rill_props_get(rv.props, rv.props_len, RILL_PROP_REAL_QID, &v, &vlen) == 0 &&
        vlen < sizeof(real_qid) && vlen > 0)
        snprintf(real_qid, sizeof(real_qid), "%.*s", (int)vlen, v);
    else
        snprintf(real_qid, sizeof(real_qid), "%u", (unsigned)rv.queue_id);
    char origin[128];
    if (rill_props_get(rv.props, rv.props_len, SENDBACK_PROP_ORIGIN, &v, &vlen) == 0 &&
        vlen < sizeof(origin) && vlen > 0)
        snprintf(origin, sizeof(origin), "%.*s", (int)vlen, v);
    else if (r->origin_msg_id && r->origin_msg_id[0] && strlen(r->origin_msg_id) < sizeof(origin))
        snprintf(origin, sizeof(origin), "%s", r->origin_msg_id);
    else
        snprintf(origin, sizeof(origin), "%" PRIu64, (uint64_t)r->commitlog_offset);

    /* properties: the original ones minus our bookkeeping, then ours */
    static const char *const drop[] = {RILL_PROP_REAL_TOPIC, RILL_PROP_REAL_QID, SENDBACK_PROP_RETRY,
                                       SENDBACK_PROP_ORIGIN, RILL_PROP_DELIVER_TIME,
                                       RILL_PROP_DELAY_LEVEL, DELAY_PROP_ORIGIN, NULL};
    size_t cap = rv.props_len + SENDBACK_PROPS_EXTRA;
    char *props = malloc(cap);
    if (props == NULL) {
        free(rec);
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR, "out of memory");
        return;
    }
    copy_ctx_t c = {.buf = props, .cap = cap, .len = 0, .drop = drop, .rc = 0};
    if (rv.props_len)
        (void)rill_props_foreach(rv.props, rv.props_len, copy_pair, &c);
    rc = c.rc;
    if (rc == 0)
        rc = rill_props_append(props, cap, &c.len, RILL_PROP_REAL_TOPIC, real_topic,
                               strlen(real_topic));
    if (rc == 0)
        rc = rill_props_append(props, cap, &c.len, RILL_PROP_REAL_QID, real_qid, strlen(real_qid));
    if (rc == 0)
        rc = rill_props_append(props, cap, &c.len, SENDBACK_PROP_RETRY, real_topic,
                               strlen(real_topic));
    if (rc == 0)
        rc = rill_props_append(props, cap, &c.len, SENDBACK_PROP_ORIGIN, origin, strlen(origin));
    uint32_t level = 0;
    if (rc == 0 && !dlq && b->cfg.delay_levels.n > 0) {
        level = 3 + rv.reconsume_times;
        if (r->delay_level > 0 && (uint32_t)r->delay_level > level)
            level = (uint32_t)r->delay_level;
        if (level > b->cfg.delay_levels.n)
            level = (uint32_t)b->cfg.delay_levels.n;
        rc = delay_props_append(props, cap, &c.len, rill_now_ms() + b->cfg.delay_levels.ms[level - 1],
                                level);
    }
    if (rc) {
        free(props);
        free(rec);
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL, "bad properties: %s",
                          rill_strerror(rc));
        return;
    }
    const char *target = dlq ? dlq_topic : retry_topic;
    topic_conf_t tc;
    rc = get_or_create(b, target, dlq ? 2 : 6, &tc);
    if (rc) {
        free(props);
        free(rec);
        broker_reply_code(req, broker_code_of(rc), "cannot create topic %s: %s", target,
                          rill_strerror(rc));
        return;
    }
    store_msg_t m = {
        .topic = target,
        .topic_len = (uint16_t)strlen(target),
        .queue_id = 0,
        .body = rv.body,
        .body_len = rv.body_len,
        .props = props,
        .props_len = (uint32_t)c.len,
        .tag_hash = rv.tag_hash,
        .reconsume_times = times,
        .flags = (rv.flags & RECORD_FLAG_COMPRESSED) | (level ? RECORD_FLAG_DELAYED : 0),
        .born_ts = rv.born_ts,
        .born_ip = rv.born_ip,
        .born_port = rv.born_port,
    };
    store_put_result_t res;
    rc = store_put(b->store, &m, 1, &res);
    if (rc == RILL_EFLUSHTIMEOUT)
        rc = 0;
    free(props);
    free(rec);
    if (rc) {
        broker_reply_code(req, broker_code_of(rc), "cannot store into %s: %s", target,
                          rill_strerror(rc));
        return;
    }
    atomic_fetch_add(&b->put_total, 1);
    LOG_DEBUG(LOG_MOD, "message at %" PRId64 " of %s sent back by %s to %s (reconsume %u, level %u)",
              r->commitlog_offset, real_topic, group, target, times, level);
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS, "");
}

int sendback_register(broker_t *b)
{
    return rpc_server_set_handler(b->rpc, RILL__REQUEST_CODE__CONSUMER_SEND_MSG_BACK,
                                  handle_send_back, b);
}
