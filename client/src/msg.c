/*
 * msg.c - rill_msg_t, one message: the setters and getters of rill.h.
 *
 * A message owns every string and its body (struct rill_msg in core.h).
 * TAGS and KEYS have their own fields; every other property, Rill's own
 * (UNIQ_KEY set by a producer, REAL_TOPIC on a received message) and the
 * user's, lives in the props array in insertion order. Users may not set
 * Rill's names (common/props.h) nor use the encoding's separator bytes
 * (\001, \002) anywhere, so what they set always survives the trip through
 * the broker's property encoding unchanged. The wire side is msg_wire.c.
 */
#include "client/src/core.h"

#include "common/errors.h"
#include "common/props.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const msg_reserved[] = {
    RILL_PROP_TAGS,         RILL_PROP_KEYS,       RILL_PROP_UNIQ_KEY, RILL_PROP_DELAY_LEVEL,
    RILL_PROP_DELIVER_TIME, RILL_PROP_REAL_TOPIC, RILL_PROP_REAL_QID,
};

static bool msg_has_separator(const char *s)
{
    return strchr(s, RILL_PROP_NAME_SEP) != NULL || strchr(s, RILL_PROP_PAIR_SEP) != NULL;
}

static bool msg_name_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof(msg_reserved) / sizeof(msg_reserved[0]); i++)
        if (strcmp(name, msg_reserved[i]) == 0)
            return true;
    return false;
}

rill_msg_t *rill_msg_new(const char *topic)
{
    if (topic == NULL || topic[0] == '\0') {
        rc_fail(RILL_EINVAL, "rill_msg_new: the topic is %s", topic ? "empty" : "NULL");
        return NULL;
    }
    size_t len = strlen(topic);
    if (len > RILL_TOPIC_BYTES_MAX) {
        rc_fail(RILL_EINVAL, "rill_msg_new: topic of %zu bytes, at most %d", len,
                RILL_TOPIC_BYTES_MAX);
        return NULL;
    }
    rill_msg_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        rc_fail(ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(m->topic, topic, len + 1);
    m->queue_id = -1;
    m->queue_offset = -1;
    m->commitlog_offset = -1;
    return m;
}

static void msg_free_props(rc_prop_t *props, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(props[i].name);
        free(props[i].value);
    }
    free(props);
}

void rill_msg_destroy(rill_msg_t *msg)
{
    if (msg == NULL)
        return;
    free(msg->body);
    free(msg->tags);
    free(msg->keys);
    msg_free_props(msg->props, msg->n_props);
    free(msg);
}

/* strdup that keeps NULL as NULL; *ok becomes false when out of memory. */
static char *msg_strdup(const char *s, bool *ok)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *ok = false;
    return d;
}

rill_msg_t *rill_msg_dup(const rill_msg_t *msg)
{
    if (msg == NULL)
        return NULL;
    rill_msg_t *d = malloc(sizeof(*d));
    if (d == NULL)
        goto fail;
    *d = *msg;
    d->body = NULL;
    d->tags = d->keys = NULL;
    d->props = NULL;
    d->n_props = d->cap_props = 0;

    bool ok = true;
    if (msg->body_len > 0) {
        d->body = malloc(msg->body_len + 1); /* + NUL, see rill_msg_body() */
        if (d->body == NULL)
            goto fail;
        memcpy(d->body, msg->body, msg->body_len);
        d->body[msg->body_len] = 0;
    }
    d->tags = msg_strdup(msg->tags, &ok);
    d->keys = msg_strdup(msg->keys, &ok);
    if (!ok)
        goto fail;
    if (msg->n_props > 0) {
        d->props = calloc(msg->n_props, sizeof(*d->props));
        if (d->props == NULL)
            goto fail;
        d->cap_props = msg->n_props;
        for (size_t i = 0; i < msg->n_props; i++) {
            d->props[i].name = msg_strdup(msg->props[i].name, &ok);
            d->props[i].value = msg_strdup(msg->props[i].value, &ok);
            d->n_props = i + 1;
            if (!ok)
                goto fail;
        }
    }
    return d;
fail:
    rill_msg_destroy(d);
    rc_fail(ENOMEM, "out of memory");
    return NULL;
}

int rill_msg_set_body(rill_msg_t *msg, const void *body, size_t len)
{
    if (msg == NULL || (body == NULL && len > 0))
        return rc_fail(RILL_EINVAL, "rill_msg_set_body: %s is NULL", msg ? "body" : "msg");
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = malloc(len + 1); /* + NUL, see rill_msg_body() */
        if (copy == NULL)
            return rc_fail(ENOMEM, "out of memory for a body of %zu bytes", len);
        memcpy(copy, body, len);
        copy[len] = 0;
    }
    free(msg->body);
    msg->body = copy;
    msg->body_len = len;
    return 0;
}

/* Replace *field by a copy of s ("" and NULL clear it). */
static int msg_set_string(char **field, const char *s)
{
    char *copy = NULL;
    if (s != NULL && s[0] != '\0') {
        copy = strdup(s);
        if (copy == NULL)
            return rc_fail(ENOMEM, "out of memory");
    }
    free(*field);
    *field = copy;
    return 0;
}

int rill_msg_set_tags(rill_msg_t *msg, const char *tags)
{
    if (msg == NULL)
        return rc_fail(RILL_EINVAL, "rill_msg_set_tags: msg is NULL");
    if (tags != NULL) {
        if (strstr(tags, "||") != NULL || strpbrk(tags, " \t\r\n") != NULL ||
            msg_has_separator(tags))
            return rc_fail(RILL_EINVAL,
                           "tag \"%s\" is not one word (no spaces, \"||\" or \\001/\\002)", tags);
    }
    return msg_set_string(&msg->tags, tags);
}

int rill_msg_set_keys(rill_msg_t *msg, const char *keys)
{
    if (msg == NULL)
        return rc_fail(RILL_EINVAL, "rill_msg_set_keys: msg is NULL");
    if (keys != NULL && msg_has_separator(keys))
        return rc_fail(RILL_EINVAL, "keys contain the byte \\001 or \\002");
    return msg_set_string(&msg->keys, keys);
}

int rill_msg_set_property(rill_msg_t *msg, const char *name, const char *value)
{
    if (msg == NULL || name == NULL || value == NULL)
        return rc_fail(RILL_EINVAL, "rill_msg_set_property: %s is NULL",
                       msg == NULL    ? "msg"
                       : name == NULL ? "name"
                                      : "value");
    if (name[0] == '\0')
        return rc_fail(RILL_EINVAL, "property name is empty");
    if (msg_name_reserved(name))
        return rc_fail(RILL_EINVAL, "property name \"%s\" is reserved by Rill", name);
    if (msg_has_separator(name) || msg_has_separator(value))
        return rc_fail(RILL_EINVAL, "property \"%s\": name or value contains \\001 or \\002", name);

    char *v = strdup(value);
    if (v == NULL)
        return rc_fail(ENOMEM, "out of memory");
    for (size_t i = 0; i < msg->n_props; i++) {
        if (strcmp(msg->props[i].name, name) == 0) {
            free(msg->props[i].value);
            msg->props[i].value = v;
            return 0;
        }
    }
    char *n = strdup(name);
    if (n == NULL)
        goto nomem;
    if (msg->n_props == msg->cap_props) {
        size_t cap = msg->cap_props ? msg->cap_props * 2 : 4;
        rc_prop_t *props = realloc(msg->props, cap * sizeof(*props));
        if (props == NULL)
            goto nomem;
        msg->props = props;
        msg->cap_props = cap;
    }
    msg->props[msg->n_props].name = n;
    msg->props[msg->n_props].value = v;
    msg->n_props++;
    return 0;
nomem:
    free(n);
    free(v);
    return rc_fail(ENOMEM, "out of memory");
}

int rill_msg_set_delay_level(rill_msg_t *msg, int level)
{
    if (msg == NULL || level < 0 || level > RILL_DELAY_LEVEL_MAX)
        return rc_fail(RILL_EINVAL, "delay level %d outside [0, %d]", level, RILL_DELAY_LEVEL_MAX);
    msg->delay_level = level;
    return 0;
}

int rill_msg_set_deliver_time(rill_msg_t *msg, int64_t deliver_time_ms)
{
    if (msg == NULL || deliver_time_ms < 0)
        return rc_fail(RILL_EINVAL, "deliver time %lld is negative", (long long)deliver_time_ms);
    msg->deliver_time_ms = deliver_time_ms;
    return 0;
}

const char *rill_msg_topic(const rill_msg_t *msg)
{
    return msg->topic;
}

const void *rill_msg_body(const rill_msg_t *msg, size_t *len)
{
    if (len != NULL)
        *len = msg->body_len;
    return msg->body;
}

const char *rill_msg_tags(const rill_msg_t *msg)
{
    return msg->tags;
}

const char *rill_msg_keys(const rill_msg_t *msg)
{
    return msg->keys;
}

const char *rill_msg_property(const rill_msg_t *msg, const char *name)
{
    if (msg == NULL || name == NULL)
        return NULL;
    if (strcmp(name, RILL_PROP_TAGS) == 0)
        return msg->tags;
    if (strcmp(name, RILL_PROP_KEYS) == 0)
        return msg->keys;
    for (size_t i = 0; i < msg->n_props; i++)
        if (strcmp(msg->props[i].name, name) == 0)
            return msg->props[i].value;
    return NULL;
}

int rill_msg_property_at(const rill_msg_t *msg, size_t i, const char **name, const char **value)
{
    if (msg == NULL || i >= msg->n_props)
        return RILL_ENOTFOUND;
    if (name != NULL)
        *name = msg->props[i].name;
    if (value != NULL)
        *value = msg->props[i].value;
    return 0;
}

int rill_msg_delay_level(const rill_msg_t *msg)
{
    return msg->delay_level;
}

int64_t rill_msg_deliver_time(const rill_msg_t *msg)
{
    return msg->deliver_time_ms;
}

const char *rill_msg_id(const rill_msg_t *msg)
{
    return msg->msg_id[0] ? msg->msg_id : NULL;
}

const char *rill_msg_unique_key(const rill_msg_t *msg)
{
    return rill_msg_property(msg, RILL_PROP_UNIQ_KEY);
}

const char *rill_msg_broker_name(const rill_msg_t *msg)
{
    return msg->broker_name[0] ? msg->broker_name : NULL;
}

int32_t rill_msg_queue_id(const rill_msg_t *msg)
{
    return msg->queue_id;
}

int64_t rill_msg_queue_offset(const rill_msg_t *msg)
{
    return msg->queue_offset;
}

int64_t rill_msg_commitlog_offset(const rill_msg_t *msg)
{
    return msg->commitlog_offset;
}

int64_t rill_msg_born_timestamp(const rill_msg_t *msg)
{
    return msg->born_ts;
}

int64_t rill_msg_store_timestamp(const rill_msg_t *msg)
{
    return msg->store_ts;
}

const char *rill_msg_born_host(const rill_msg_t *msg)
{
    return msg->born_host;
}

const char *rill_msg_store_host(const rill_msg_t *msg)
{
    return msg->store_host;
}

int32_t rill_msg_reconsume_times(const rill_msg_t *msg)
{
    return msg->reconsume_times;
}

size_t rill_msg_stored_body_size(const rill_msg_t *msg)
{
    return msg->stored_body_len ? msg->stored_body_len : msg->body_len;
}

void rill_msg_list_free(rill_msg_list_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        rill_msg_destroy(l->msgs[i]);
    free(l->msgs);
    l->msgs = NULL;
    l->n = 0;
}

void rill_strv_free(rill_strv_t *sv)
{
    if (sv == NULL)
        return;
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}
