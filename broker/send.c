/*
 * send.c - SEND_MESSAGE and SEND_BATCH_MESSAGE: validate, build each
 * message's properties (TAGS, KEYS, user properties such as UNIQ_KEY) and tag
 * hash, and append with one store_put_async() call (a batch is all or
 * nothing, one lock hold). Message.sys_flag 0x8 (body zstd-compressed by the
 * producer) becomes RECORD_FLAG_COMPRESSED in the record; the broker never
 * looks inside the body. A message with delay_level (1..N of
 * messageDelayLevel) or deliver_time_ms (at most 40 days ahead; a time in the
 * past means at once) is stored with RECORD_FLAG_DELAYED, DELIVER_TIME
 * (absolute epoch ms), DELAY (the level), REAL_TOPIC and REAL_QID in its own
 * topic and queue; the "delay" thread delivers it (delay.h). A batch cannot
 * hold delayed messages.
 *
 * ASYNC_FLUSH replies at once. SYNC_FLUSH puts a send_ctx (with the
 * flush_waiter embedded) on the flusher's list; its done callback answers
 * SUCCESS or FLUSH_DISK_TIMEOUT from the flusher thread and frees it, so no
 * thread blocks per request. The callback may run inside store_put_async()
 * itself, so the context is never touched after that call returned 1.
 */
#include "broker/broker.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/props.h"
#include "common/tags.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "send"

typedef struct send_ctx {
    flush_waiter_t waiter; /* first: the done callback casts back */
    broker_t *b;
    rpc_request_t *req;
    bool batch;
    uint32_t queue_id;
    size_t n;
    store_put_result_t res[];
} send_ctx_t;

static void reply_result(broker_t *b, rpc_request_t *req, bool batch, uint32_t queue_id,
                         const store_put_result_t *res, size_t n, int code, const char *remark)
{
    Rill__Response resp = RILL__RESPONSE__INIT;
    resp.code = code;
    resp.remark = (char *)(remark ? remark : "");
    char one[MSGID_HEX_LEN + 1];
    if (!batch) {
        Rill__SendMessageResponse body = RILL__SEND_MESSAGE_RESPONSE__INIT;
        msgid_encode(one, b->store_ip, (uint16_t)b->cfg.listen_port, res[0].phys_offset);
        body.msg_id = one;
        body.queue_id = (int32_t)queue_id;
        body.queue_offset = (int64_t)res[0].queue_offset;
        body.commitlog_offset = (int64_t)res[0].phys_offset;
        body.store_timestamp_ms = (int64_t)res[0].store_ts;
        resp.body_case = RILL__RESPONSE__BODY_SEND_MESSAGE;
        resp.send_message = &body;
        rpc_reply(req, &resp);
        return;
    }
    char(*ids)[MSGID_HEX_LEN + 1] = malloc(n * sizeof(*ids));
    char **ptrs = malloc(n * sizeof(char *));
    if (ids == NULL || ptrs == NULL) {
        free(ids);
        free(ptrs);
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR, "out of memory after the append");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        msgid_encode(ids[i], b->store_ip, (uint16_t)b->cfg.listen_port, res[i].phys_offset);
        ptrs[i] = ids[i];
    }
    Rill__SendBatchResponse body = RILL__SEND_BATCH_RESPONSE__INIT;
    body.n_msg_ids = n;
    body.msg_ids = ptrs;
    body.queue_id = (int32_t)queue_id;
    body.first_queue_offset = (int64_t)res[0].queue_offset;
    body.first_commitlog_offset = (int64_t)res[0].phys_offset;
    resp.body_case = RILL__RESPONSE__BODY_SEND_BATCH;
    resp.send_batch = &body;
    rpc_reply(req, &resp);
    free(ptrs);
    free(ids);
}

/* SYNC_MASTER (broker/ha.c): the slave's verdict on a stored send. */
static void on_slave(void *arg, int code)
{
    send_ctx_t *ctx = arg;
    reply_result(ctx->b, ctx->req, ctx->batch, ctx->queue_id, ctx->res, ctx->n, code,
                 code == RILL__RESPONSE_CODE__SUCCESS ? NULL
                 : code == RILL__RESPONSE_CODE__SLAVE_NOT_AVAILABLE
                     ? "stored on the master; no slave in sync"
                     : "stored on the master; no slave ack within syncFlushTimeout");
    free(ctx);
}

/* Stored (and durable when SYNC_FLUSH): wait for a slave on a SYNC_MASTER. */
static bool wait_slave(send_ctx_t *ctx)
{
    const store_put_result_t *last = &ctx->res[ctx->n - 1];
    return ha_glue_wait_slave(ctx->b, last->phys_offset + last->size, on_slave, ctx);
}

static void on_flushed(flush_waiter_t *w, int rc)
{
    send_ctx_t *ctx = (send_ctx_t *)w;
    int code = rc == 0                    ? RILL__RESPONSE_CODE__SUCCESS
               : rc == RILL_EFLUSHTIMEOUT ? RILL__RESPONSE_CODE__FLUSH_DISK_TIMEOUT
                                          : RILL__RESPONSE_CODE__SYSTEM_ERROR;
    if (rc == 0 && wait_slave(ctx))
        return;
    reply_result(ctx->b, ctx->req, ctx->batch, ctx->queue_id, ctx->res, ctx->n, code,
                 rc == 0 ? NULL : rill_strerror(rc));
    free(ctx);
}

/* Bytes a message's properties need, or SIZE_MAX when a part is absurd. */
static size_t props_need(const Rill__Message *m)
{
    size_t need = 0;
    if (m->tags && m->tags[0])
        need += sizeof(RILL_PROP_TAGS) + 1 + strlen(m->tags);
    if (m->keys && m->keys[0])
        need += sizeof(RILL_PROP_KEYS) + 1 + strlen(m->keys);
    for (size_t i = 0; i < m->n_properties; i++) {
        const Rill__Property *p = m->properties[i];
        need += 2 + (p->key ? strlen(p->key) : 0) + (p->value ? strlen(p->value) : 0);
    }
    if (m->delay_level != 0 || m->deliver_time_ms != 0)
        need += DELAY_PROPS_EXTRA_BYTES + 2 * BROKER_TOPIC_BYTES_MAX;
    return need;
}

static void parse_host(const char *s, uint32_t *ip, uint16_t *port)
{
    *ip = 0;
    *port = 0;
    if (s == NULL || s[0] == '\0')
        return;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", s);
    char *colon = strrchr(buf, ':');
    if (colon) {
        *colon = '\0';
        long p = strtol(colon + 1, NULL, 10);
        if (p > 0 && p < 65536)
            *port = (uint16_t)p;
    }
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) == 1)
        *ip = ntohl(a.s_addr);
}

/*
 * Turn one Message into a store_msg_t, its properties written at props.
 * Returns 0 or a response code with remark filled.
 */
static int build_msg(broker_t *b, const Rill__Message *m, const char *topic, uint32_t queue_id,
                     char *props, size_t props_cap, store_msg_t *out, char *remark, size_t rcap)
{
    if (m == NULL) {
        snprintf(remark, rcap, "message is missing");
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    if (m->body.len == 0) {
        snprintf(remark, rcap, "message body is empty");
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    if ((int64_t)m->body.len > b->cfg.store.max_message_size) {
        snprintf(remark, rcap, "message body of %zu bytes exceeds maxMessageSize %lld", m->body.len,
                 (long long)b->cfg.store.max_message_size);
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    if ((uint32_t)m->sys_flag & ~(uint32_t)BROKER_MSG_SYS_FLAGS_KNOWN) {
        snprintf(remark, rcap, "unknown sys_flag bits 0x%x (known: 0x%x)",
                 (unsigned)((uint32_t)m->sys_flag & ~(uint32_t)BROKER_MSG_SYS_FLAGS_KNOWN),
                 (unsigned)BROKER_MSG_SYS_FLAGS_KNOWN);
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    size_t len = 0;
    int rc = 0;
    if (m->tags && m->tags[0])
        rc = rill_props_append(props, props_cap, &len, RILL_PROP_TAGS, m->tags, strlen(m->tags));
    if (rc == 0 && m->keys && m->keys[0])
        rc = rill_props_append(props, props_cap, &len, RILL_PROP_KEYS, m->keys, strlen(m->keys));
    for (size_t i = 0; rc == 0 && i < m->n_properties; i++) {
        const Rill__Property *p = m->properties[i];
        if (p->key == NULL || p->key[0] == '\0' || strcmp(p->key, RILL_PROP_TAGS) == 0 ||
            strcmp(p->key, RILL_PROP_KEYS) == 0) {
            snprintf(remark, rcap, "property %zu has an empty or reserved name", i);
            return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
        }
        /* delay bookkeeping comes from the message's fields, never from properties
         * (a consumed delayed message sent on carries DELAY_ORIGIN) */
        if (strcmp(p->key, RILL_PROP_DELAY_LEVEL) == 0 ||
            strcmp(p->key, RILL_PROP_DELIVER_TIME) == 0 || strcmp(p->key, DELAY_PROP_ORIGIN) == 0)
            continue;
        rc = rill_props_append(props, props_cap, &len, p->key, p->value,
                               p->value ? strlen(p->value) : 0);
    }
    if (rc != 0) {
        snprintf(remark, rcap, "bad properties: %s", rill_strerror(rc));
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    memset(out, 0, sizeof(*out));
    out->topic = topic;
    out->topic_len = (uint16_t)strlen(topic);
    out->queue_id = queue_id;
    out->body = m->body.data;
    out->body_len = (uint32_t)m->body.len;
    out->props = len ? props : NULL;
    out->props_len = (uint32_t)len;
    out->tag_hash = (m->tags && m->tags[0]) ? rill_tag_hash(m->tags, strlen(m->tags)) : 0;
    out->flags = (m->sys_flag & BROKER_MSG_SYS_FLAG_COMPRESSED) ? RECORD_FLAG_COMPRESSED : 0;
    if (m->sys_flag & BROKER_MSG_SYS_FLAG_TX_PREPARED) {
        if (m->delay_level > 0 || m->deliver_time_ms > 0) {
            snprintf(remark, rcap, "a half (transactional) message cannot be delayed");
            return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
        }
        out->flags |= RECORD_TX_PREPARED; /* a half message: kept in `txn`, see transaction.c */
    }
    if (m->delay_level != 0 || m->deliver_time_ms != 0) {
        uint64_t now = rill_now_ms(), at;
        uint32_t level = 0;
        if (m->delay_level != 0) {
            if (m->delay_level < 0 || (size_t)m->delay_level > b->cfg.delay_levels.n) {
                snprintf(remark, rcap, "delay level %d out of range 1..%zu (messageDelayLevel)",
                         (int)m->delay_level, b->cfg.delay_levels.n);
                return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
            }
            if (m->deliver_time_ms != 0) {
                snprintf(remark, rcap, "set either a delay level or a deliver time, not both");
                return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
            }
            level = (uint32_t)m->delay_level;
            at = now + b->cfg.delay_levels.ms[level - 1];
        } else if (m->deliver_time_ms < 0 ||
                   (uint64_t)m->deliver_time_ms > now + DELAY_MAX_AHEAD_MS) {
            snprintf(remark, rcap, "deliver time %lld is more than 40 days ahead (now %llu)",
                     (long long)m->deliver_time_ms, (unsigned long long)now);
            return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
        } else {
            at = (uint64_t)m->deliver_time_ms; /* in the past: delivered at once */
        }
        char qid[16];
        int qn = snprintf(qid, sizeof(qid), "%u", (unsigned)queue_id);
        if (rill_props_get(props, len, RILL_PROP_REAL_TOPIC, &(const char *){NULL},
                           &(size_t){0}) != 0)
            rc = rill_props_append(props, props_cap, &len, RILL_PROP_REAL_TOPIC, topic,
                                   strlen(topic));
        if (rc == 0 && rill_props_get(props, len, RILL_PROP_REAL_QID, &(const char *){NULL},
                                      &(size_t){0}) != 0)
            rc = rill_props_append(props, props_cap, &len, RILL_PROP_REAL_QID, qid, (size_t)qn);
        if (rc == 0)
            rc = delay_props_append(props, props_cap, &len, at, level);
        if (rc != 0) {
            snprintf(remark, rcap, "bad properties: %s", rill_strerror(rc));
            return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
        }
        out->props = props;
        out->props_len = (uint32_t)len;
        out->flags |= RECORD_FLAG_DELAYED;
    }
    out->reconsume_times = m->reconsume_times > 0 ? (uint32_t)m->reconsume_times : 0;
    out->born_ts = m->born_timestamp_ms > 0 ? (uint64_t)m->born_timestamp_ms : rill_now_ms();
    parse_host(m->born_host, &out->born_ip, &out->born_port);
    return 0;
}

/*
 * Checks shared by both sends: role, topic name, reserved names, the topic
 * (auto-created when allowed), write perm and the queue id. Answers req and
 * returns -1 on failure; returns 0 with *qid chosen.
 */
static int check_target(broker_t *b, rpc_request_t *req, const char *topic, int32_t queue_id,
                        uint32_t *qid)
{
    if (b->cfg.broker_role == BROKER_SLAVE) {
        broker_reply_code(req, RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE,
                          "broker %s is a slave; sending is forbidden", b->cfg.broker_name);
        return -1;
    }
    if (topics_check_name(topic) != 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "illegal topic name: must match ^[%%|a-zA-Z0-9_-]+$ and have at most "
                          "%d characters",
                          BROKER_TOPIC_BYTES_MAX);
        return -1;
    }
    if (topics_is_reserved(topic)) {
        broker_reply_code(req, RILL__RESPONSE_CODE__NO_PERMISSION,
                          "sending to the system topic %s is forbidden", topic);
        return -1;
    }
    topic_conf_t tc;
    bool created = false;
    int rc = topics_get_or_create(b->topics, topic, b->cfg.auto_create_topic_enable,
                                  (int32_t)b->cfg.default_topic_queue_nums, &tc, &created);
    if (rc == RILL_ENOTFOUND) {
        broker_reply_code(req, RILL__RESPONSE_CODE__TOPIC_NOT_EXIST,
                          "topic %s does not exist and autoCreateTopicEnable is false", topic);
        return -1;
    }
    if (rc != 0) {
        broker_reply_code(req, broker_code_of(rc), "cannot create topic %s: %s", topic,
                          rill_strerror(rc));
        return -1;
    }
    if (created)
        registry_kick(b->registry);
    if ((tc.perm & 2) == 0) {
        broker_reply_code(req, RILL__RESPONSE_CODE__NO_PERMISSION,
                          "topic %s is not writable (perm %d)", topic, tc.perm);
        return -1;
    }
    if (queue_id < 0) {
        *qid = (uint32_t)(atomic_fetch_add(&b->next_queue, 1) % (uint32_t)tc.write_queue_nums);
    } else if (queue_id >= tc.write_queue_nums) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "queue id %d out of range: topic %s has %d write queues", queue_id, topic,
                          tc.write_queue_nums);
        return -1;
    } else {
        *qid = (uint32_t)queue_id;
    }
    return 0;
}

/* Append msgs and answer: at once (ASYNC) or from the flusher (SYNC_FLUSH). */
static void append_and_reply(broker_t *b, rpc_request_t *req, bool batch, uint32_t qid,
                             const store_msg_t *msgs, size_t n)
{
    send_ctx_t *ctx = malloc(sizeof(*ctx) + n * sizeof(store_put_result_t));
    if (ctx == NULL) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        return;
    }
    memset(ctx, 0, sizeof(*ctx));
    ctx->b = b;
    ctx->req = req;
    ctx->batch = batch;
    ctx->queue_id = qid;
    ctx->n = n;
    ctx->waiter.done = on_flushed;
    ctx->waiter.arg = ctx;
    int rc = store_put_async(b->store, msgs, n, ctx->res, &ctx->waiter);
    if (rc == 1) {
        atomic_fetch_add(&b->put_total, n);
        return; /* ctx belongs to the flusher now */
    }
    if (rc == 0) {
        atomic_fetch_add(&b->put_total, n);
        if (wait_slave(ctx))
            return; /* ctx belongs to the slave wait now */
        reply_result(b, req, batch, qid, ctx->res, n, RILL__RESPONSE_CODE__SUCCESS, NULL);
    } else {
        broker_reply_code(req, broker_code_of(rc), "append failed: %s", rill_strerror(rc));
    }
    free(ctx);
}

static void handle_send(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    if (msg->body_case != RILL__REQUEST__BODY_SEND_MESSAGE || msg->send_message->message == NULL) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                       "SEND_MESSAGE needs a send_message body with a message");
        return;
    }
    const Rill__SendMessageRequest *sm = msg->send_message;
    const Rill__Message *m = sm->message;
    uint32_t qid;
    if (check_target(b, req, m->topic, sm->queue_id, &qid) != 0)
        return;
    size_t need = props_need(m);
    if (need > RECORD_PROPS_BYTES_MAX) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "properties of %zu bytes exceed %u", need, RECORD_PROPS_BYTES_MAX);
        return;
    }
    char props[RECORD_PROPS_BYTES_MAX];
    char remark[RPC_REMARK_BYTES_MAX];
    store_msg_t sm_out;
    int code =
        build_msg(b, m, m->topic, qid, props, sizeof(props), &sm_out, remark, sizeof(remark));
    if (code != 0) {
        rpc_reply_code(req, code, remark);
        return;
    }
    append_and_reply(b, req, false, qid, &sm_out, 1);
}

static void handle_batch(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg;
    if (msg->body_case != RILL__REQUEST__BODY_SEND_BATCH) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                       "SEND_BATCH_MESSAGE needs a send_batch body");
        return;
    }
    const Rill__SendBatchRequest *sb = msg->send_batch;
    size_t n = sb->n_messages;
    if (n == 0 || n > BROKER_BATCH_MSGS_MAX) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "a batch holds 1 to %d messages, not %zu", BROKER_BATCH_MSGS_MAX, n);
        return;
    }
    uint32_t qid;
    if (check_target(b, req, sb->topic, sb->queue_id, &qid) != 0)
        return;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const Rill__Message *m = sb->messages[i];
        if (m->topic && m->topic[0] && strcmp(m->topic, sb->topic) != 0) {
            broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                              "message %zu of the batch names topic %s, not %s", i, m->topic,
                              sb->topic);
            return;
        }
        if (m->delay_level != 0 || m->deliver_time_ms != 0) {
            broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                              "message %zu of the batch is delayed: send delayed messages one "
                              "at a time",
                              i);
            return;
        }
        if (m->sys_flag & BROKER_MSG_SYS_FLAG_TX_PREPARED) {
            broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                              "message %zu of the batch is a half (transactional) message: "
                              "send those one at a time",
                              i);
            return;
        }
        size_t need = props_need(m);
        if (need > RECORD_PROPS_BYTES_MAX) {
            broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                              "properties of message %zu exceed %u bytes", i,
                              RECORD_PROPS_BYTES_MAX);
            return;
        }
        total += need;
    }
    store_msg_t *msgs = malloc(n * sizeof(*msgs));
    char *props = malloc(total + 1);
    if (msgs == NULL || props == NULL) {
        free(msgs);
        free(props);
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        return;
    }
    char remark[RPC_REMARK_BYTES_MAX];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t need = props_need(sb->messages[i]);
        int code = build_msg(b, sb->messages[i], sb->topic, qid, props + used, need, &msgs[i],
                             remark, sizeof(remark));
        if (code != 0) {
            broker_reply_code(req, code, "message %zu of the batch: %s", i, remark);
            goto out;
        }
        used += need;
    }
    append_and_reply(b, req, true, qid, msgs, n);
out:
    free(props);
    free(msgs);
}

int send_register(broker_t *b)
{
    int rc = rpc_server_set_handler(b->rpc, RILL__REQUEST_CODE__SEND_MESSAGE, handle_send, b);
    if (rc == 0)
        rc =
            rpc_server_set_handler(b->rpc, RILL__REQUEST_CODE__SEND_BATCH_MESSAGE, handle_batch, b);
    return rc;
}
