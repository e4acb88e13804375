/*
 * admin.c - the broker's non-hot-path requests: topic create/update/delete
 * and list, consumer offsets, queue offsets and times, queries (by key, by
 * msgId, by time, by queue offset), runtime stats, consumer groups and
 * consumer progress. Each handler checks its body case, answers once, and
 * copies records into one malloc'd buffer freed after the reply.
 */
#include "broker/broker.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "admin"

#define NEED_BODY(req, msg, which, name)                                                           \
    do {                                                                                           \
        if ((msg)->body_case != (which)) {                                                         \
            rpc_reply_code((req), RILL__RESPONSE_CODE__SYSTEM_ERROR,                               \
                           "request needs a " name " body");                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* A topic that exists with queue_id among its read queues; answers and returns -1 if not. */
static int check_queue(broker_t *b, rpc_request_t *req, const char *topic, int32_t queue_id)
{
    topic_conf_t tc;
    if (topics_check_name(topic) != 0 || topics_get(b->topics, topic, &tc) != 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__TOPIC_NOT_EXIST, "topic %.127s does not exist",
                          topic);
        return -1;
    }
    if (queue_id < 0 || queue_id >= tc.read_queue_nums) {
        broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                          "queue id %d out of range: topic %s has %d read queues", queue_id, topic,
                          tc.read_queue_nums);
        return -1;
    }
    return 0;
}

static int check_group(rpc_request_t *req, const char *group)
{
    if (group[0] == '\0' || strlen(group) > BROKER_GROUP_BYTES_MAX ||
        topics_check_name(group) != 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "illegal group name '%.64s': must match ^[%%|a-zA-Z0-9_-]+$", group);
        return -1;
    }
    return 0;
}

/* ---- topics ---- */

static void handle_update_topic(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_UPDATE_TOPIC, "update_topic");
    const Rill__TopicConfig *t = msg->update_topic->topic;
    if (t == NULL) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR, "update_topic needs a topic");
        return;
    }
    if (topics_check_name(t->topic_name) != 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "illegal topic name: must match ^[%%|a-zA-Z0-9_-]+$ and have at most "
                          "%d characters",
                          BROKER_TOPIC_BYTES_MAX);
        return;
    }
    if (topics_is_reserved(t->topic_name) || strcmp(t->topic_name, b->cfg.broker_name) == 0 ||
        strcmp(t->topic_name, b->cfg.broker_cluster_name) == 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__NO_PERMISSION,
                          "topic %s conflicts with a system topic", t->topic_name);
        return;
    }
    topic_conf_t c;
    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "%s", t->topic_name);
    c.read_queue_nums = t->read_queue_nums ? t->read_queue_nums : 4;
    c.write_queue_nums = t->write_queue_nums ? t->write_queue_nums : 4;
    c.perm = t->perm;
    c.topic_sys_flag = t->topic_sys_flag;
    c.order = t->order;
    int rc = topics_put(b->topics, &c);
    if (rc == RILL_EINVAL) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "queue counts must be in [1, %d] and perm one of 0, 2, 4, 6",
                          BROKER_QUEUE_NUMS_MAX);
        return;
    }
    if (rc != 0) {
        broker_reply_code(req, broker_code_of(rc), "cannot save topic: %s", rill_strerror(rc));
        return;
    }
    LOG_INFO(LOG_MOD, "topic %s: read %d, write %d, perm %d", c.name, c.read_queue_nums,
             c.write_queue_nums, c.perm);
    registry_kick(b->registry);
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS, NULL);
}

static void handle_delete_topic(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_DELETE_TOPIC, "delete_topic");
    const char *name = msg->delete_topic->topic;
    int rc = topics_check_name(name) == 0 ? topics_delete(b->topics, name) : RILL_ENOTFOUND;
    if (rc == RILL_ENOTFOUND) {
        broker_reply_code(req, RILL__RESPONSE_CODE__TOPIC_NOT_EXIST, "topic %.127s does not exist",
                          name);
        return;
    }
    if (rc != 0) {
        broker_reply_code(req, broker_code_of(rc), "cannot delete topic: %s", rill_strerror(rc));
        return;
    }
    LOG_INFO(LOG_MOD, "topic %s deleted", name);
    registry_kick(b->registry);
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS, NULL);
}

static void handle_topic_list(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    (void)msg;
    topic_conf_t *all = NULL;
    size_t n = 0;
    if (topics_snapshot(b->topics, &all, &n) != 0) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        return;
    }
    Rill__TopicConfig *tcs = NULL, **ptrs = NULL;
    if (topics_to_proto(all, n, &tcs, &ptrs) != 0) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        goto out;
    }
    Rill__Response resp = RILL__RESPONSE__INIT;
    Rill__TopicListResponse body = RILL__TOPIC_LIST_RESPONSE__INIT;
    body.n_topics = n;
    body.topics = ptrs;
    resp.body_case = RILL__RESPONSE__BODY_TOPIC_LIST;
    resp.topic_list = &body;
    rpc_reply(req, &resp);
out:
    free(ptrs);
    free(tcs);
    free(all);
}

/* ---- consumer offsets ---- */

static void handle_update_offset(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_UPDATE_CONSUMER_OFFSET, "update_consumer_offset");
    const Rill__UpdateConsumerOffsetRequest *u = msg->update_consumer_offset;
    if (check_group(req, u->consumer_group) != 0 || check_queue(b, req, u->topic, u->queue_id) != 0)
        return;
    if (u->commit_offset < 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL, "negative offset %lld",
                          (long long)u->commit_offset);
        return;
    }
    int rc = store_offset_commit(b->store, u->consumer_group, u->topic, (uint32_t)u->queue_id,
                                 (uint64_t)u->commit_offset);
    if (rc != 0) {
        broker_reply_code(req, broker_code_of(rc), "commit failed: %s", rill_strerror(rc));
        return;
    }
    ha_glue_offset_committed(b, u->consumer_group, u->topic, (uint32_t)u->queue_id,
                             (uint64_t)u->commit_offset);
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS, NULL);
}

static void reply_offset_body(rpc_request_t *req, int64_t offset)
{
    Rill__Response resp = RILL__RESPONSE__INIT;
    Rill__OffsetResponse body = RILL__OFFSET_RESPONSE__INIT;
    body.offset = offset;
    resp.body_case = RILL__RESPONSE__BODY_OFFSET;
    resp.offset = &body;
    rpc_reply(req, &resp);
}

static void handle_query_offset(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_QUERY_CONSUMER_OFFSET, "query_consumer_offset");
    const Rill__QueryConsumerOffsetRequest *q = msg->query_consumer_offset;
    if (check_group(req, q->consumer_group) != 0 || check_queue(b, req, q->topic, q->queue_id) != 0)
        return;
    uint64_t off = 0;
    int rc = store_offset_get(b->store, q->consumer_group, q->topic, (uint32_t)q->queue_id, &off);
    if (rc == RILL_ENOTFOUND) {
        broker_reply_code(req, RILL__RESPONSE_CODE__QUERY_NOT_FOUND,
                          "group %s has no offset for %s queue %d", q->consumer_group, q->topic,
                          q->queue_id);
        return;
    }
    if (rc != 0) {
        broker_reply_code(req, broker_code_of(rc), "query failed: %s", rill_strerror(rc));
        return;
    }
    Rill__Response resp = RILL__RESPONSE__INIT;
    Rill__QueryConsumerOffsetResponse body = RILL__QUERY_CONSUMER_OFFSET_RESPONSE__INIT;
    body.offset = (int64_t)off;
    resp.body_case = RILL__RESPONSE__BODY_QUERY_CONSUMER_OFFSET;
    resp.query_consumer_offset = &body;
    rpc_reply(req, &resp);
}

/* ---- queue offsets and times ---- */

static void handle_queue(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_QUEUE, "queue");
    const Rill__QueueRequest *q = msg->queue;
    if (check_queue(b, req, q->topic, q->queue_id) != 0)
        return;
    uint32_t qid = (uint32_t)q->queue_id;
    uint64_t min_off = 0, max_off = 0, ts = 0;
    int rc = store_queue_range(b->store, q->topic, qid, &min_off, &max_off);
    if (rc != 0) {
        broker_reply_code(req, broker_code_of(rc), "%s", rill_strerror(rc));
        return;
    }
    switch (msg->code) {
    case RILL__REQUEST_CODE__GET_MAX_OFFSET:
        reply_offset_body(req, (int64_t)max_off);
        return;
    case RILL__REQUEST_CODE__GET_MIN_OFFSET:
        reply_offset_body(req, (int64_t)min_off);
        return;
    case RILL__REQUEST_CODE__GET_EARLIEST_MSG_STORETIME:
        rc = store_queue_store_ts(b->store, q->topic, qid, min_off, &ts);
        if (rc != 0) {
            broker_reply_code(req, RILL__RESPONSE_CODE__QUERY_NOT_FOUND,
                              "queue %d of %s holds no message", q->queue_id, q->topic);
            return;
        }
        reply_offset_body(req, (int64_t)ts);
        return;
    default: { /* GET_QUEUE_STATS */
        if (store_queue_last_store_ts(b->store, q->topic, qid, &ts) != 0)
            ts = 0;
        Rill__Response resp = RILL__RESPONSE__INIT;
        Rill__QueueStatsResponse body = RILL__QUEUE_STATS_RESPONSE__INIT;
        body.min_offset = (int64_t)min_off;
        body.max_offset = (int64_t)max_off;
        body.last_store_timestamp_ms = (int64_t)ts;
        resp.body_case = RILL__RESPONSE__BODY_QUEUE_STATS;
        resp.queue_stats = &body;
        rpc_reply(req, &resp);
        return;
    }
    }
}

static void handle_search_offset(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_SEARCH_OFFSET_BY_TIMESTAMP,
              "search_offset_by_timestamp");
    const Rill__SearchOffsetByTimestampRequest *s = msg->search_offset_by_timestamp;
    if (check_queue(b, req, s->topic, s->queue_id) != 0)
        return;
    uint64_t ts = s->timestamp_ms > 0 ? (uint64_t)s->timestamp_ms : 0;
    uint64_t off = 0, min_off = 0, max_off = 0;
    /* upper boundary: the last message stored at or before ts = first after ts, minus one */
    int rc = store_offset_by_time(b->store, s->topic, (uint32_t)s->queue_id,
                                  s->upper_boundary ? ts + 1 : ts, &off);
    if (rc == 0 && s->upper_boundary &&
        store_queue_range(b->store, s->topic, (uint32_t)s->queue_id, &min_off, &max_off) == 0 &&
        off > min_off)
        off--;
    if (rc != 0) {
        broker_reply_code(req, broker_code_of(rc), "search failed: %s", rill_strerror(rc));
        return;
    }
    reply_offset_body(req, (int64_t)off);
}

/* ---- queries ---- */

static void reply_records(rpc_request_t *req, void *buf, const store_query_result_t *r, int rc,
                          const char *what)
{
    if (rc == 0 && r->count == 0)
        rc = RILL_ENOTFOUND;
    if (rc != 0) {
        broker_reply_code(req,
                          rc == RILL_ENOTFOUND || rc == RILL_ETOPIC
                              ? RILL__RESPONSE_CODE__QUERY_NOT_FOUND
                              : broker_code_of(rc),
                          "no message found %s", what);
        return;
    }
    Rill__Response resp = RILL__RESPONSE__INIT;
    Rill__QueryMessageResponse body = RILL__QUERY_MESSAGE_RESPONSE__INIT;
    body.msg_count = (int32_t)r->count;
    body.records.data = buf;
    body.records.len = r->bytes;
    resp.body_case = RILL__RESPONSE__BODY_QUERY_MESSAGE;
    resp.query_message = &body;
    rpc_reply(req, &resp);
}

static void handle_query_key(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_QUERY_MESSAGE_BY_KEY, "query_message_by_key");
    const Rill__QueryMessageByKeyRequest *q = msg->query_message_by_key;
    if (topics_check_name(q->topic) != 0 || q->key[0] == '\0') {
        rpc_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                       "a query by key needs a legal topic and a key");
        return;
    }
    uint32_t max = q->max_num > 0 ? (uint32_t)q->max_num : STORE_QUERY_MAX_DEFAULT;
    uint64_t begin = q->begin_timestamp_ms > 0 ? (uint64_t)q->begin_timestamp_ms : 0;
    uint64_t end = q->end_timestamp_ms > 0 ? (uint64_t)q->end_timestamp_ms : rill_now_ms() + 1000;
    void *buf = malloc(BROKER_QUERY_BYTES_MAX);
    store_query_result_t r = {0};
    int rc = buf ? store_query_by_key(b->store, q->topic, q->key, begin, end, max, buf,
                                      BROKER_QUERY_BYTES_MAX, &r)
                 : ENOMEM;
    reply_records(req, buf, &r, rc, "for this key");
    free(buf);
}

static void handle_query_time(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_QUERY_MESSAGE_BY_TIME, "query_message_by_time");
    const Rill__QueryMessageByTimeRequest *q = msg->query_message_by_time;
    if (topics_check_name(q->topic) != 0) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL, "illegal topic name");
        return;
    }
    uint32_t max = q->max_num > 0 ? (uint32_t)q->max_num : STORE_QUERY_MAX_DEFAULT;
    uint64_t begin = q->begin_timestamp_ms > 0 ? (uint64_t)q->begin_timestamp_ms : 0;
    uint64_t end = q->end_timestamp_ms > 0 ? (uint64_t)q->end_timestamp_ms : rill_now_ms() + 1000;
    void *buf = malloc(BROKER_QUERY_BYTES_MAX);
    store_query_result_t r = {0};
    int rc = buf ? store_query_by_time(b->store, q->topic, begin, end, max, buf,
                                       BROKER_QUERY_BYTES_MAX, &r)
                 : ENOMEM;
    reply_records(req, buf, &r, rc, "in this time range");
    free(buf);
}

static void reply_one_record(rpc_request_t *req, const void *rec, size_t len)
{
    Rill__Response resp = RILL__RESPONSE__INIT;
    Rill__ViewMessageResponse body = RILL__VIEW_MESSAGE_RESPONSE__INIT;
    body.record.data = (uint8_t *)rec;
    body.record.len = len;
    resp.body_case = RILL__RESPONSE__BODY_VIEW_MESSAGE;
    resp.view_message = &body;
    rpc_reply(req, &resp);
}

static void handle_view_id(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_VIEW_MESSAGE_BY_ID, "view_message_by_id");
    uint32_t ip;
    uint16_t port;
    uint64_t phys;
    if (msgid_decode(msg->view_message_by_id->msg_id, &ip, &port, &phys) != 0) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                       "a msgId is exactly 32 hex digits");
        return;
    }
    size_t cap = (size_t)b->cfg.store.max_message_size + RECORD_PROPS_BYTES_MAX + 1024;
    void *buf = malloc(cap);
    uint32_t size = 0;
    int rc = buf ? store_get_by_phys(b->store, phys, buf, cap, &size) : ENOMEM;
    if (rc == 0)
        reply_one_record(req, buf, size);
    else if (rc == RILL_ENOTFOUND)
        broker_reply_code(req, RILL__RESPONSE_CODE__QUERY_NOT_FOUND,
                          "no message at commitlog offset %llu", (unsigned long long)phys);
    else
        broker_reply_code(req, broker_code_of(rc), "lookup failed: %s", rill_strerror(rc));
    free(buf);
}

static void handle_query_offset_msg(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_QUERY_MESSAGE_BY_OFFSET, "query_message_by_offset");
    const Rill__QueryMessageByOffsetRequest *q = msg->query_message_by_offset;
    if (check_queue(b, req, q->topic, q->queue_id) != 0)
        return;
    size_t cap = (size_t)b->cfg.store.max_message_size + RECORD_PROPS_BYTES_MAX + 1024;
    void *buf = malloc(cap);
    store_get_result_t r;
    int rc = buf == NULL ? ENOMEM
             : q->queue_offset < 0
                 ? RILL_ENOTFOUND
                 : store_get_messages(b->store, q->topic, (uint32_t)q->queue_id,
                                      (uint64_t)q->queue_offset, 1, NULL, buf, cap, &r);
    if (rc == 0 && r.status == STORE_FOUND)
        reply_one_record(req, buf, r.bytes);
    else if (rc == 0 || rc == RILL_ENOTFOUND)
        broker_reply_code(req, RILL__RESPONSE_CODE__QUERY_NOT_FOUND,
                          "no message at offset %lld of %s queue %d", (long long)q->queue_offset,
                          q->topic, q->queue_id);
    else
        broker_reply_code(req, broker_code_of(rc), "lookup failed: %s", rill_strerror(rc));
    free(buf);
}

/* ---- stats ---- */

static void handle_stats(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    (void)msg;
    store_stats_t st;
    store_get_stats(b->store, &st);
    Rill__Response resp = RILL__RESPONSE__INIT;
    Rill__RuntimeStatsResponse body = RILL__RUNTIME_STATS_RESPONSE__INIT;
    pthread_mutex_lock(&b->tps_lock);
    body.put_tps = b->put_tps;
    body.get_tps = b->get_tps;
    pthread_mutex_unlock(&b->tps_lock);
    body.put_total = (int64_t)atomic_load(&b->put_total);
    body.get_total = (int64_t)atomic_load(&b->get_total);
    body.commitlog_min_offset = (int64_t)st.min_offset;
    body.commitlog_max_offset = (int64_t)st.committed;
    body.dispatched_offset = (int64_t)st.dispatched;
    body.dispatch_lag_bytes = (int64_t)st.dispatch_lag_bytes;
    body.disk_used_ratio = st.disk_usage;
    body.uptime_ms = (int64_t)(rill_now_ms() - b->start_ms);
    body.broker_version = (char *)BROKER_VERSION;
    body.pending_half_messages = (int64_t)transaction_pending_count(b->tx);
    body.delay_pending = (int64_t)delay_pending_count(b);
    ha_glue_lag(b, &body.ha_lag_bytes, &body.ha_lag_ms, &body.ha_connected);
    resp.body_case = RILL__RESPONSE__BODY_RUNTIME_STATS;
    resp.runtime_stats = &body;
    rpc_reply(req, &resp);
}

/*
 * GET_BROKER_CONFIG: every key of the broker's schema with its current value.
 * rill_cfg_print() writes "key=value" lines (values never hold a line
 * break), so the reply is built by splitting its output at the first '='.
 */
static void handle_broker_config(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    (void)msg;
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (f == NULL) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        return;
    }
    int rc = rill_cfg_print(broker_config_schema(), &b->cfg, f);
    if (fclose(f) != 0 || rc != 0) {
        free(text);
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        return;
    }
    size_t n_lines = 0;
    for (size_t i = 0; i < text_len; i++)
        n_lines += text[i] == '\n';
    Rill__BrokerConfigEntry *items = calloc(n_lines ? n_lines : 1, sizeof(*items));
    Rill__BrokerConfigEntry **ptrs = calloc(n_lines ? n_lines : 1, sizeof(*ptrs));
    if (items == NULL || ptrs == NULL) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        goto done;
    }
    size_t n = 0;
    for (char *line = text, *nl; n < n_lines && (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        rill__broker_config_entry__init(&items[n]);
        items[n].key = line;
        items[n].value = eq + 1;
        ptrs[n] = &items[n];
        n++;
    }
    Rill__Response resp = RILL__RESPONSE__INIT;
    Rill__BrokerConfigResponse body = RILL__BROKER_CONFIG_RESPONSE__INIT;
    body.n_entries = n;
    body.entries = ptrs;
    resp.body_case = RILL__RESPONSE__BODY_BROKER_CONFIG;
    resp.broker_config = &body;
    rpc_reply(req, &resp);
done:
    free(ptrs);
    free(items);
    free(text);
}

/* ---- consumer groups ---- */

static void handle_update_group(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_UPDATE_GROUP, "update_group");
    const Rill__SubscriptionGroupConfig *g = msg->update_group->group;
    if (g == NULL) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR, "update_group needs a group");
        return;
    }
    if (check_group(req, g->group_name) != 0)
        return;
    size_t len = rill__subscription_group_config__get_packed_size(g);
    uint8_t *blob = malloc(len + 1);
    if (blob == NULL) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        return;
    }
    rill__subscription_group_config__pack(g, blob);
    int rc = store_conf_put(b->store, STORE_GROUPS, g->group_name, blob, len);
    free(blob);
    if (rc != 0) {
        broker_reply_code(req, broker_code_of(rc), "cannot save group: %s", rill_strerror(rc));
        return;
    }
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS, NULL);
}

static void handle_delete_group(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_DELETE_GROUP, "delete_group");
    const char *name = msg->delete_group->group_name;
    if (check_group(req, name) != 0)
        return;
    int rc = store_conf_del(b->store, STORE_GROUPS, name);
    if (rc == RILL_ENOTFOUND) {
        broker_reply_code(req, RILL__RESPONSE_CODE__SUBSCRIPTION_GROUP_NOT_EXIST,
                          "group %s does not exist", name);
        return;
    }
    if (rc == 0)
        rc = store_offset_delete(b->store, name, NULL);
    if (rc != 0 && rc != RILL_ENOTFOUND) {
        broker_reply_code(req, broker_code_of(rc), "cannot delete group: %s", rill_strerror(rc));
        return;
    }
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS, NULL);
}

typedef struct group_list {
    Rill__SubscriptionGroupConfig **items;
    size_t n, cap;
} group_list_t;

static int collect_group(void *arg, const char *name, const void *blob, size_t len)
{
    group_list_t *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *p = realloc(l->items, cap * sizeof(*l->items));
        if (p == NULL)
            return ENOMEM;
        l->items = p;
        l->cap = cap;
    }
    Rill__SubscriptionGroupConfig *g = rill__subscription_group_config__unpack(NULL, len, blob);
    if (g == NULL) {
        LOG_WARN(LOG_MOD, "skipping unreadable group config '%s'", name);
        return 0;
    }
    l->items[l->n++] = g;
    return 0;
}

static void handle_group_list(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    (void)msg;
    group_list_t l = {0};
    int rc = store_conf_foreach(b->store, STORE_GROUPS, collect_group, &l);
    if (rc != 0) {
        broker_reply_code(req, broker_code_of(rc), "cannot list groups: %s", rill_strerror(rc));
    } else {
        Rill__Response resp = RILL__RESPONSE__INIT;
        Rill__GroupListResponse body = RILL__GROUP_LIST_RESPONSE__INIT;
        body.n_groups = l.n;
        body.groups = l.items;
        resp.body_case = RILL__RESPONSE__BODY_GROUP_LIST;
        resp.group_list = &body;
        rpc_reply(req, &resp);
    }
    for (size_t i = 0; i < l.n; i++)
        rill__subscription_group_config__free_unpacked(l.items[i], NULL);
    free(l.items);
}

/* ---- consumer progress ---- */

typedef struct progress {
    broker_t *b;
    const char *topic; /* NULL: all */
    Rill__QueueProgress *items;
    size_t n, cap;
    int64_t total_lag;
} progress_t;

static int collect_progress(void *arg, const char *group, const char *topic, uint32_t queue_id,
                            uint64_t offset, uint64_t update_ts)
{
    progress_t *p = arg;
    (void)group;
    (void)update_ts;
    if (p->topic && strcmp(p->topic, topic) != 0)
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        void *m = realloc(p->items, cap * sizeof(*p->items));
        if (m == NULL)
            return ENOMEM;
        p->items = m;
        p->cap = cap;
    }
    Rill__QueueProgress *q = &p->items[p->n++];
    rill__queue_progress__init(q);
    q->topic = strdup(topic);
    q->broker_name = p->b->cfg.broker_name;
    q->queue_id = (int32_t)queue_id;
    uint64_t min_off = 0, max_off = 0;
    store_queue_range(p->b->store, topic, queue_id, &min_off, &max_off);
    q->broker_offset = (int64_t)max_off;
    q->consumer_offset = (int64_t)offset;
    q->lag = max_off > offset ? (int64_t)(max_off - offset) : 0;
    p->total_lag += q->lag;
    uint64_t ts = 0;
    if (offset > 0 && store_queue_store_ts(p->b->store, topic, queue_id, offset - 1, &ts) == 0)
        q->last_timestamp_ms = (int64_t)ts;
    return q->topic ? 0 : ENOMEM;
}

static void handle_progress(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    NEED_BODY(req, msg, RILL__REQUEST__BODY_CONSUMER_PROGRESS, "consumer_progress");
    const Rill__ConsumerProgressRequest *c = msg->consumer_progress;
    if (check_group(req, c->consumer_group) != 0)
        return;
    progress_t p = {.b = b, .topic = c->topic[0] ? c->topic : NULL};
    int rc = store_offset_foreach(b->store, c->consumer_group, collect_progress, &p);
    size_t len = 0;
    bool known =
        store_conf_get(b->store, STORE_GROUPS, c->consumer_group, NULL, 0, &len) != RILL_ENOTFOUND;
    if (rc != 0) {
        broker_reply_code(req, broker_code_of(rc), "cannot read offsets: %s", rill_strerror(rc));
    } else if (p.n == 0 && !known) {
        broker_reply_code(req, RILL__RESPONSE_CODE__SUBSCRIPTION_GROUP_NOT_EXIST,
                          "group %s has no config and no committed offset", c->consumer_group);
    } else {
        Rill__QueueProgress **ptrs = calloc(p.n ? p.n : 1, sizeof(*ptrs));
        if (ptrs == NULL) {
            rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        } else {
            for (size_t i = 0; i < p.n; i++)
                ptrs[i] = &p.items[i];
            Rill__Response resp = RILL__RESPONSE__INIT;
            Rill__ConsumerProgressResponse body = RILL__CONSUMER_PROGRESS_RESPONSE__INIT;
            body.n_queues = p.n;
            body.queues = ptrs;
            body.total_lag = p.total_lag;
            resp.body_case = RILL__RESPONSE__BODY_CONSUMER_PROGRESS;
            resp.consumer_progress = &body;
            rpc_reply(req, &resp);
            free(ptrs);
        }
    }
    for (size_t i = 0; i < p.n; i++)
        free(p.items[i].topic);
    free(p.items);
}

static void handle_ping(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    (void)arg;
    Rill__Response resp = RILL__RESPONSE__INIT;
    Rill__PingResponse body = RILL__PING_RESPONSE__INIT;
    if (msg->body_case == RILL__REQUEST__BODY_PING)
        body.payload = msg->ping->payload;
    resp.body_case = RILL__RESPONSE__BODY_PING;
    resp.ping = &body;
    rpc_reply(req, &resp);
}

int admin_register(broker_t *b)
{
    static const struct {
        int code;
        rpc_handler_fn fn;
    } table[] = {
        {RILL__REQUEST_CODE__UPDATE_AND_CREATE_TOPIC, handle_update_topic},
        {RILL__REQUEST_CODE__DELETE_TOPIC_IN_BROKER, handle_delete_topic},
        {RILL__REQUEST_CODE__GET_ALL_TOPIC_CONFIG, handle_topic_list},
        {RILL__REQUEST_CODE__UPDATE_CONSUMER_OFFSET, handle_update_offset},
        {RILL__REQUEST_CODE__QUERY_CONSUMER_OFFSET, handle_query_offset},
        {RILL__REQUEST_CODE__GET_MAX_OFFSET, handle_queue},
        {RILL__REQUEST_CODE__GET_MIN_OFFSET, handle_queue},
        {RILL__REQUEST_CODE__GET_EARLIEST_MSG_STORETIME, handle_queue},
        {RILL__REQUEST_CODE__GET_QUEUE_STATS, handle_queue},
        {RILL__REQUEST_CODE__SEARCH_OFFSET_BY_TIMESTAMP, handle_search_offset},
        {RILL__REQUEST_CODE__QUERY_MESSAGE, handle_query_key},
        {RILL__REQUEST_CODE__QUERY_MESSAGE_BY_TIME, handle_query_time},
        {RILL__REQUEST_CODE__VIEW_MESSAGE_BY_ID, handle_view_id},
        {RILL__REQUEST_CODE__QUERY_MESSAGE_BY_OFFSET, handle_query_offset_msg},
        {RILL__REQUEST_CODE__GET_BROKER_RUNTIME_INFO, handle_stats},
        {RILL__REQUEST_CODE__GET_BROKER_CONFIG, handle_broker_config},
        {RILL__REQUEST_CODE__UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, handle_update_group},
        {RILL__REQUEST_CODE__DELETE_SUBSCRIPTIONGROUP, handle_delete_group},
        {RILL__REQUEST_CODE__GET_ALL_SUBSCRIPTIONGROUP_CONFIG, handle_group_list},
        {RILL__REQUEST_CODE__GET_CONSUME_STATS, handle_progress},
        {RILL__REQUEST_CODE__PING, handle_ping},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        int rc = rpc_server_set_handler(b->rpc, table[i].code, table[i].fn, b);
        if (rc != 0)
            return rc;
    }
    return 0;
}
