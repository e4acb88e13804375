/*
 * admin_query.c - find messages: by offset msgId (the id names its broker,
 * so no route is needed), by key and by time range (every broker set of the
 * topic's route, merged), and by queue offset.
 *
 * Brokers answer with raw CommitLog records; rc_msgs_from_records() checks
 * and decodes them. The client re-checks what the broker's indexes
 * promise: a key query keeps only messages whose KEYS words or UNIQ_KEY
 * equal the key (index hashes may collide), a time query only messages
 * stored inside the range.
 */
#include "client/src/admin.h"

#include "common/msgid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Messages a query returns when the caller says 0. */
#define ADM_QUERY_MAX_DEFAULT 64
/** Most messages one query asks one broker for (the broker caps its reply at 8 MiB anyway). */
#define ADM_QUERY_MAX 4096

/* Decode exactly one record; RILL_ECORRUPT when the broker sent something else. */
static int one_message(const ProtobufCBinaryData *rec, const char *broker_name, const char *addr,
                       rill_msg_t **out)
{
    rill_msg_t **msgs = NULL;
    size_t n = 0;
    int rc = rc_msgs_from_records(rec->data, rec->len, broker_name, &msgs, &n);
    if (rc != 0)
        return rc_fail(rc, "the record from %s does not decode: %s", addr, rill_strerror(rc));
    if (n != 1) {
        for (size_t i = 0; i < n; i++)
            rill_msg_destroy(msgs[i]);
        free(msgs);
        return rc_fail(RILL_ECORRUPT, "%s answered %zu records for one message", addr, n);
    }
    *out = msgs[0];
    free(msgs);
    return 0;
}

int rill_admin_query_msg_by_id(rill_admin_t *a, const char *msg_id, rill_msg_t **out)
{
    if (a == NULL || out == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_query_msg_by_id: NULL argument");
    uint32_t ip;
    uint16_t port;
    uint64_t phys;
    if (msgid_decode(msg_id, &ip, &port, &phys) != 0)
        return rc_fail(RILL_EINVAL, "bad msgId \"%.64s\": expected 32 hex digits",
                       msg_id ? msg_id : "(null)");
    char addr[RC_ADDR_BYTES];
    snprintf(addr, sizeof(addr), "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 0xFF, (ip >> 8) & 0xFF,
             ip & 0xFF, (unsigned)port);
    Rill__ViewMessageByIdRequest body = RILL__VIEW_MESSAGE_BY_ID_REQUEST__INIT;
    body.msg_id = (char *)msg_id;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__VIEW_MESSAGE_BY_ID);
    req.body_case = RILL__REQUEST__BODY_VIEW_MESSAGE_BY_ID;
    req.view_message_by_id = &body;
    Rill__Response *resp = NULL;
    int rc = adm_broker_call(a, addr, &req, RILL__RESPONSE__BODY_VIEW_MESSAGE, &resp);
    if (rc != 0)
        return rc;
    rc = one_message(&resp->view_message->record, NULL, addr, out);
    rpc_response_free(resp);
    return rc;
}

/* ---- key and time queries: every set, merged ---- */

typedef struct msg_acc {
    rill_msg_t **v;
    size_t n, cap;
} msg_acc_t;

static int acc_add(msg_acc_t *acc, rill_msg_t *m)
{
    if (acc->n == acc->cap) {
        size_t cap = acc->cap ? acc->cap * 2 : 64;
        void *p = realloc(acc->v, cap * sizeof(*acc->v));
        if (p == NULL)
            return ENOMEM;
        acc->v = p;
        acc->cap = cap;
    }
    acc->v[acc->n++] = m;
    return 0;
}

static void acc_free(msg_acc_t *acc)
{
    for (size_t i = 0; i < acc->n; i++)
        rill_msg_destroy(acc->v[i]);
    free(acc->v);
    acc->v = NULL;
    acc->n = acc->cap = 0;
}

/* Does the space-separated word list `keys` hold `key` as one word? */
static bool has_word(const char *keys, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = keys; p && *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == klen && memcmp(p, key, klen) == 0)
            return true;
        p += len;
    }
    return false;
}

typedef bool (*keep_fn)(const rill_msg_t *m, const void *arg);

/* One query answer (records) into acc, keeping what keep() accepts. */
static int collect(msg_acc_t *acc, const ProtobufCBinaryData *recs, const char *broker_name,
                   const char *addr, keep_fn keep, const void *arg)
{
    rill_msg_t **msgs = NULL;
    size_t n = 0;
    int rc = rc_msgs_from_records(recs->data, recs->len, broker_name, &msgs, &n);
    if (rc != 0)
        return rc_fail(rc, "the records from %s do not decode: %s", addr, rill_strerror(rc));
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && keep(msgs[i], arg)) {
            rc = acc_add(acc, msgs[i]);
            if (rc == 0)
                continue;
        }
        rill_msg_destroy(msgs[i]);
    }
    free(msgs);
    return rc == 0 ? 0 : rc_fail(rc, "out of memory");
}

/* Oldest first; ties by broker, queue, queue offset so the order is stable. */
static int cmp_store_time(const void *x, const void *y)
{
    const rill_msg_t *a = *(rill_msg_t *const *)x, *b = *(rill_msg_t *const *)y;
    if (a->store_ts != b->store_ts)
        return a->store_ts < b->store_ts ? -1 : 1;
    int c = strcmp(a->broker_name, b->broker_name);
    if (c)
        return c;
    if (a->queue_id != b->queue_id)
        return a->queue_id < b->queue_id ? -1 : 1;
    return (a->queue_offset > b->queue_offset) - (a->queue_offset < b->queue_offset);
}

typedef struct key_filter {
    const char *key;
} key_filter_t;

static bool keep_key(const rill_msg_t *m, const void *arg)
{
    const char *key = ((const key_filter_t *)arg)->key;
    const char *uniq = rill_msg_unique_key(m);
    return has_word(m->keys, key) || (uniq && strcmp(uniq, key) == 0);
}

typedef struct time_filter {
    int64_t begin, end;
} time_filter_t;

static bool keep_time(const rill_msg_t *m, const void *arg)
{
    const time_filter_t *t = arg;
    return m->store_ts >= t->begin && m->store_ts <= t->end;
}

/*
 * Send req (its body already set) to the read address of every set of
 * topic's route and collect what each answers; QUERY_NOT_FOUND adds nothing.
 */
static int query_sets(rill_admin_t *a, const char *topic, Rill__Request *req, keep_fn keep,
                      const void *arg, msg_acc_t *acc)
{
    rc_route_t *r = NULL;
    int rc = adm_route(a, topic, &r);
    if (rc != 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < r->n_sets; i++) {
        const char *addr = NULL;
        rc = adm_read_addr(a, &r->sets[i], &addr);
        if (rc != 0)
            break;
        Rill__Response *resp = NULL;
        rc = adm_broker_call(a, addr, req, RILL__RESPONSE__BODY_QUERY_MESSAGE, &resp);
        if (rc == RILL_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc != 0)
            break;
        rc = collect(acc, &resp->query_message->records, r->sets[i].name, addr, keep, arg);
        rpc_response_free(resp);
    }
    rc_route_release(r);
    return rc;
}

static int check_range(int64_t begin_ms, int64_t *end_ms, int max)
{
    if (begin_ms < 0 || *end_ms < 0 || max < 0)
        return rc_fail(RILL_EINVAL, "times and max must not be negative");
    if (*end_ms == 0)
        *end_ms = INT64_MAX;
    if (*end_ms < begin_ms)
        return rc_fail(RILL_EINVAL, "end %lld is before begin %lld", (long long)*end_ms,
                       (long long)begin_ms);
    return 0;
}

int rill_admin_query_msg_by_key(rill_admin_t *a, const char *topic, const char *key,
                                int64_t begin_ms, int64_t end_ms, int max, rill_msg_list_t *out)
{
    if (a == NULL || out == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_query_msg_by_key: NULL argument");
    if (key == NULL || key[0] == '\0' || strchr(key, ' '))
        return rc_fail(RILL_EINVAL, "a key is one non-empty word");
    int rc = check_range(begin_ms, &end_ms, max);
    if (rc != 0)
        return rc;
    int want = max > 0 ? (max < ADM_QUERY_MAX ? max : ADM_QUERY_MAX) : ADM_QUERY_MAX_DEFAULT;
    Rill__QueryMessageByKeyRequest body = RILL__QUERY_MESSAGE_BY_KEY_REQUEST__INIT;
    body.topic = (char *)topic;
    body.key = (char *)key;
    body.max_num = want;
    body.begin_timestamp_ms = begin_ms;
    body.end_timestamp_ms = end_ms == INT64_MAX ? 0 : end_ms;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__QUERY_MESSAGE);
    req.body_case = RILL__REQUEST__BODY_QUERY_MESSAGE_BY_KEY;
    req.query_message_by_key = &body;
    msg_acc_t acc = {NULL, 0, 0};
    key_filter_t kf = {key};
    rc = query_sets(a, topic, &req, keep_key, &kf, &acc);
    if (rc != 0) {
        acc_free(&acc);
        return rc;
    }
    if (acc.n > 1)
        qsort(acc.v, acc.n, sizeof(*acc.v), cmp_store_time);
    /* at most `want` over every broker: keep the newest */
    size_t drop = acc.n > (size_t)want ? acc.n - (size_t)want : 0;
    for (size_t i = 0; i < drop; i++)
        rill_msg_destroy(acc.v[i]);
    if (drop > 0)
        memmove(acc.v, acc.v + drop, (acc.n - drop) * sizeof(*acc.v));
    out->n = acc.n - drop;
    out->msgs = acc.v;
    return 0;
}

int rill_admin_query_msg_by_time(rill_admin_t *a, const char *topic, int64_t begin_ms,
                                 int64_t end_ms, int max, rill_msg_list_t *out)
{
    if (a == NULL || out == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_query_msg_by_time: NULL argument");
    int rc = check_range(begin_ms, &end_ms, max);
    if (rc != 0)
        return rc;
    int want = max > 0 ? (max < ADM_QUERY_MAX ? max : ADM_QUERY_MAX) : ADM_QUERY_MAX_DEFAULT;
    Rill__QueryMessageByTimeRequest body = RILL__QUERY_MESSAGE_BY_TIME_REQUEST__INIT;
    body.topic = (char *)topic;
    body.begin_timestamp_ms = begin_ms;
    body.end_timestamp_ms = end_ms == INT64_MAX ? 0 : end_ms;
    body.max_num = want;
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__QUERY_MESSAGE_BY_TIME);
    req.body_case = RILL__REQUEST__BODY_QUERY_MESSAGE_BY_TIME;
    req.query_message_by_time = &body;
    msg_acc_t acc = {NULL, 0, 0};
    time_filter_t tf = {begin_ms, end_ms};
    rc = query_sets(a, topic, &req, keep_time, &tf, &acc);
    if (rc != 0) {
        acc_free(&acc);
        return rc;
    }
    if (acc.n > 1)
        qsort(acc.v, acc.n, sizeof(*acc.v), cmp_store_time);
    out->n = acc.n;
    out->msgs = acc.v;
    return 0;
}

int rill_admin_query_msg_by_offset(rill_admin_t *a, const rill_queue_t *q, int64_t offset,
                                   rill_msg_t **out)
{
    if (a == NULL || q == NULL || out == NULL)
        return rc_fail(RILL_EINVAL, "rill_admin_query_msg_by_offset: NULL argument");
    if (offset < 0)
        return rc_fail(RILL_EINVAL, "negative queue offset %lld", (long long)offset);
    rc_route_t *r = NULL;
    int rc = adm_route(a, q->topic, &r);
    if (rc != 0)
        return rc;
    const rc_broker_set_t *s = rc_route_set(r, q->broker_name);
    const char *addr = NULL;
    if (s == NULL || q->queue_id < 0 || q->queue_id >= s->read_queue_nums)
        rc = rc_fail(RILL_ENOTFOUND, "topic \"%s\" has no queue %d on broker %s", q->topic,
                     q->queue_id, q->broker_name);
    else
        rc = adm_read_addr(a, s, &addr);
    if (rc == 0) {
        Rill__QueryMessageByOffsetRequest body = RILL__QUERY_MESSAGE_BY_OFFSET_REQUEST__INIT;
        body.topic = (char *)q->topic;
        body.queue_id = q->queue_id;
        body.queue_offset = offset;
        Rill__Request req;
        adm_request_init(&req, RILL__REQUEST_CODE__QUERY_MESSAGE_BY_OFFSET);
        req.body_case = RILL__REQUEST__BODY_QUERY_MESSAGE_BY_OFFSET;
        req.query_message_by_offset = &body;
        Rill__Response *resp = NULL;
        rc = adm_broker_call(a, addr, &req, RILL__RESPONSE__BODY_VIEW_MESSAGE, &resp);
        if (rc == 0) {
            rc = one_message(&resp->view_message->record, s->name, addr, out);
            rpc_response_free(resp);
        }
    }
    rc_route_release(r);
    return rc;
}
