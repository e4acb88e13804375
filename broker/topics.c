/*
 * topics.c - the broker's topic table: name -> read/write queue counts and
 * perm, kept in memory behind a rwlock and persisted in the store's topics
 * table as packed TopicConfig protobufs (loaded at open).
 *
 * Lookups (every send and pull) take the read lock; changes take the write
 * lock and write the store before changing memory, so memory never holds a
 * topic the disk lacks. The table is bounded (BROKER_TOPICS_MAX).
 */
#include "broker/broker.h"

#include "common/errors.h"
#include "common/log.h"
#include "proto/broker.pb-c.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "topics"

struct topics {
    pthread_rwlock_t lock;
    store_t *store;
    topic_conf_t *items; /* count used of BROKER_TOPICS_MAX */
    size_t count;
    atomic_uint_fast64_t version;
};

/* RocketMQ's TopicValidator system topics, plus its auto-create template. */
static const char *const reserved[] = {
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "OFFSET_MOVED_EVENT",
    "SELF_TEST_TOPIC",
    "BenchmarkTest",
    NULL,
};

int topics_check_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > BROKER_TOPIC_BYTES_MAX)
        return RILL_ETOPIC;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '%' || c == '|' || c == '_' || c == '-';
        if (!ok)
            return RILL_ETOPIC;
    }
    return 0;
}

bool topics_is_reserved(const char *name)
{
    for (size_t i = 0; reserved[i]; i++)
        if (strcmp(name, reserved[i]) == 0)
            return true;
    return false;
}

static topic_conf_t *find(topics_t *t, const char *name)
{
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->items[i].name, name) == 0)
            return &t->items[i];
    return NULL;
}

static int load_one(void *arg, const char *name, const void *blob, size_t len)
{
    topics_t *t = arg;
    Rill__TopicConfig *tc = rill__topic_config__unpack(NULL, len, blob);
    if (tc == NULL || topics_check_name(tc->topic_name) != 0 || t->count == BROKER_TOPICS_MAX) {
        LOG_WARN(LOG_MOD, "skipping unreadable topic config '%s'", name);
        rill__topic_config__free_unpacked(tc, NULL);
        return 0;
    }
    topic_conf_t *c = &t->items[t->count++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", tc->topic_name);
    c->read_queue_nums = tc->read_queue_nums;
    c->write_queue_nums = tc->write_queue_nums;
    c->perm = tc->perm;
    c->topic_sys_flag = tc->topic_sys_flag;
    c->order = tc->order;
    rill__topic_config__free_unpacked(tc, NULL);
    return 0;
}

int topics_open(topics_t **out, store_t *store)
{
    topics_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return ENOMEM;
    t->items = calloc(BROKER_TOPICS_MAX, sizeof(topic_conf_t));
    if (t->items == NULL) {
        free(t);
        return ENOMEM;
    }
    pthread_rwlock_init(&t->lock, NULL);
    t->store = store;
    atomic_init(&t->version, 1);
    int rc = store_conf_foreach(store, STORE_TOPICS, load_one, t);
    if (rc != 0) {
        topics_close(t);
        return rc;
    }
    LOG_INFO(LOG_MOD, "%zu topics loaded", t->count);
    *out = t;
    return 0;
}

void topics_close(topics_t *t)
{
    if (t == NULL)
        return;
    pthread_rwlock_destroy(&t->lock);
    free(t->items);
    free(t);
}

int topics_get(topics_t *t, const char *name, topic_conf_t *out)
{
    pthread_rwlock_rdlock(&t->lock);
    topic_conf_t *c = find(t, name);
    if (c)
        *out = *c;
    pthread_rwlock_unlock(&t->lock);
    return c ? 0 : RILL_ENOTFOUND;
}

static int persist(topics_t *t, const topic_conf_t *c)
{
    Rill__TopicConfig tc = RILL__TOPIC_CONFIG__INIT;
    tc.topic_name = (char *)c->name;
    tc.read_queue_nums = c->read_queue_nums;
    tc.write_queue_nums = c->write_queue_nums;
    tc.perm = c->perm;
    tc.topic_sys_flag = c->topic_sys_flag;
    tc.order = c->order;
    uint8_t buf[256];
    size_t len = rill__topic_config__get_packed_size(&tc);
    assert(len <= sizeof(buf));
    rill__topic_config__pack(&tc, buf);
    return store_conf_put(t->store, STORE_TOPICS, c->name, buf, len);
}

static int validate(const topic_conf_t *c)
{
    if (topics_check_name(c->name) != 0)
        return RILL_ETOPIC;
    if (c->read_queue_nums < 1 || c->read_queue_nums > BROKER_QUEUE_NUMS_MAX ||
        c->write_queue_nums < 1 || c->write_queue_nums > BROKER_QUEUE_NUMS_MAX)
        return RILL_EINVAL;
    if (c->perm < 0 || c->perm > 7 || (c->perm & ~6) != 0)
        return RILL_EINVAL;
    return 0;
}

/* Write lock held. */
static int put_locked(topics_t *t, const topic_conf_t *conf)
{
    topic_conf_t *c = find(t, conf->name);
    if (c == NULL && t->count == BROKER_TOPICS_MAX)
        return RILL_EBUSY;
    int rc = persist(t, conf);
    if (rc != 0)
        return rc;
    if (c == NULL)
        c = &t->items[t->count++];
    *c = *conf;
    atomic_fetch_add(&t->version, 1);
    return 0;
}

int topics_put(topics_t *t, const topic_conf_t *conf)
{
    int rc = validate(conf);
    if (rc != 0)
        return rc;
    pthread_rwlock_wrlock(&t->lock);
    rc = put_locked(t, conf);
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

int topics_get_or_create(topics_t *t, const char *name, bool autocreate, int32_t n,
                         topic_conf_t *out, bool *created)
{
    *created = false;
    if (topics_get(t, name, out) == 0)
        return 0;
    if (!autocreate)
        return RILL_ENOTFOUND;
    topic_conf_t conf;
    memset(&conf, 0, sizeof(conf));
    snprintf(conf.name, sizeof(conf.name), "%s", name);
    conf.read_queue_nums = conf.write_queue_nums = n;
    conf.perm = 6;
    int rc = validate(&conf);
    if (rc != 0)
        return rc;
    pthread_rwlock_wrlock(&t->lock);
    topic_conf_t *c = find(t, name); /* another sender may have created it */
    if (c) {
        *out = *c;
    } else {
        rc = put_locked(t, &conf);
        if (rc == 0) {
            *out = conf;
            *created = true;
        }
    }
    pthread_rwlock_unlock(&t->lock);
    if (*created)
        LOG_INFO(LOG_MOD, "auto-created topic %s with %d queues", name, n);
    return rc;
}

int topics_delete(topics_t *t, const char *name)
{
    pthread_rwlock_wrlock(&t->lock);
    int rc = RILL_ENOTFOUND;
    topic_conf_t *c = find(t, name);
    if (c) {
        rc = store_conf_del(t->store, STORE_TOPICS, name);
        if (rc == 0 || rc == RILL_ENOTFOUND) {
            *c = t->items[--t->count];
            atomic_fetch_add(&t->version, 1);
            rc = 0;
        }
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

int topics_snapshot(topics_t *t, topic_conf_t **out, size_t *count)
{
    pthread_rwlock_rdlock(&t->lock);
    topic_conf_t *copy = malloc((t->count ? t->count : 1) * sizeof(*copy));
    if (copy == NULL) {
        pthread_rwlock_unlock(&t->lock);
        return ENOMEM;
    }
    memcpy(copy, t->items, t->count * sizeof(*copy));
    *count = t->count;
    pthread_rwlock_unlock(&t->lock);
    *out = copy;
    return 0;
}

uint64_t topics_version(topics_t *t)
{
    return atomic_load(&t->version);
}

int topics_to_proto(const topic_conf_t *all, size_t n, Rill__TopicConfig **tcs_out,
                    Rill__TopicConfig ***ptrs_out)
{
    Rill__TopicConfig *tcs = calloc(n ? n : 1, sizeof(*tcs));
    Rill__TopicConfig **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (tcs == NULL || ptrs == NULL) {
        free(tcs);
        free(ptrs);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        rill__topic_config__init(&tcs[i]);
        tcs[i].topic_name = (char *)all[i].name;
        tcs[i].read_queue_nums = all[i].read_queue_nums;
        tcs[i].write_queue_nums = all[i].write_queue_nums;
        tcs[i].perm = all[i].perm;
        tcs[i].topic_sys_flag = all[i].topic_sys_flag;
        tcs[i].order = all[i].order;
        ptrs[i] = &tcs[i];
    }
    *tcs_out = tcs;
    *ptrs_out = ptrs;
    return 0;
}
