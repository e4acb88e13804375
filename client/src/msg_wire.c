/*
 * msg_wire.c - messages to and from the wire: rc_wire_msg_init() turns a
 * rill_msg_t into the Rill__Message a send carries (zstd-compressing a large
 * body), rc_msgs_from_records() turns the raw CommitLog records of a pull
 * reply or a query answer back into rill_msg_t, and rc_unique_key() makes
 * the producer's UNIQ_KEY.
 *
 * Compression: a body longer than compress.threshold.bytes is compressed
 * at compress.level and sent with sys_flag RC_SYS_FLAG_COMPRESSED only when
 * that makes it smaller; the broker stores the flag as RECORD_FLAG_COMPRESSED
 * and never looks inside. A consumer decompresses into a buffer of the size
 * the zstd frame header declares, refusing frames without one or above the
 * record format's body limit (a hostile frame cannot make it allocate more).
 */
#include "client/src/core.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/msgid.h"
#include "common/props.h"
#include "common/record.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <zstd.h>

_Static_assert(RC_SYS_FLAG_COMPRESSED == RECORD_FLAG_COMPRESSED, "one bit, two names");
_Static_assert(RILL_MSGID_BYTES == MSGID_HEX_LEN, "msgId and UNIQ_KEY are 32 hex digits");

/* ---- process-wide identity: born host and the unique-key seed ---- */

static pthread_once_t wire_once = PTHREAD_ONCE_INIT;
static char wire_born_host[RC_ADDR_BYTES] = "127.0.0.1:0";
static uint32_t wire_seed; /* random, fixed per process */
static _Atomic uint32_t wire_counter;
/* getpid() is a system call; a forked child refreshes the cached value */
static _Atomic uint32_t wire_pid;

static void wire_after_fork(void)
{
    atomic_store(&wire_pid, (uint32_t)getpid());
}

static void wire_init_once(void)
{
    atomic_store(&wire_pid, (uint32_t)getpid());
    pthread_atfork(NULL, NULL, wire_after_fork);
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
            if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
                (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
                continue;
            char ip[INET_ADDRSTRLEN];
            const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
            if (inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)) != NULL) {
                snprintf(wire_born_host, sizeof(wire_born_host), "%s:0", ip);
                break;
            }
        }
        freeifaddrs(ifs);
    }
    if (getrandom(&wire_seed, sizeof(wire_seed), GRND_NONBLOCK) != (ssize_t)sizeof(wire_seed))
        wire_seed = (uint32_t)rill_mono_ns() ^ ((uint32_t)getpid() << 16);
    atomic_store(&wire_counter, wire_seed);
}

/*
 * UNIQ_KEY, 16 bytes as 32 uppercase hex digits (RocketMQ's is similar):
 *
 *   +-----------------+----------+----------+----------------+
 *   | epoch ms (6 B)  | pid (3 B)| seed(3 B)| counter (4 B)  |
 *   +-----------------+----------+----------+----------------+
 *
 * Unique per process by the counter (2^32 keys per millisecond would be
 * needed to repeat), across processes by pid and a random seed.
 */
void rc_unique_key(char out[RILL_MSGID_BYTES + 1])
{
    pthread_once(&wire_once, wire_init_once);
    uint8_t b[16];
    uint64_t ms = rill_now_ms();
    uint32_t pid = atomic_load_explicit(&wire_pid, memory_order_relaxed);
    uint32_t n = atomic_fetch_add(&wire_counter, 1);
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (8 * (5 - i)));
    b[6] = (uint8_t)(pid >> 16), b[7] = (uint8_t)(pid >> 8), b[8] = (uint8_t)pid;
    b[9] = (uint8_t)(wire_seed >> 16), b[10] = (uint8_t)(wire_seed >> 8),
    b[11] = (uint8_t)wire_seed;
    b[12] = (uint8_t)(n >> 24), b[13] = (uint8_t)(n >> 16), b[14] = (uint8_t)(n >> 8),
    b[15] = (uint8_t)n;
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 0xF];
    }
    out[RILL_MSGID_BYTES] = '\0';
}

/* ---- to the wire ---- */

/* Bytes the broker's property encoding of these fields takes (TAGS, KEYS, user properties). */
static size_t wire_props_bytes(const rill_msg_t *msg)
{
    size_t n = 0;
    if (msg->tags)
        n += sizeof(RILL_PROP_TAGS) - 1 + strlen(msg->tags) + 2;
    if (msg->keys)
        n += sizeof(RILL_PROP_KEYS) - 1 + strlen(msg->keys) + 2;
    for (size_t i = 0; i < msg->n_props; i++)
        n += strlen(msg->props[i].name) + strlen(msg->props[i].value) + 2;
    return n;
}

int rc_wire_msg_init(rc_wire_msg_t *w, const rill_msg_t *msg, const struct rill_conf *conf)
{
    memset(w, 0, sizeof(*w));
    rill__message__init(&w->pb);
    if (msg->body_len == 0)
        return rc_fail(RILL_EINVAL, "message to topic \"%s\" has no body", msg->topic);
    if ((int64_t)msg->body_len > conf->max_message_bytes)
        return rc_fail(RILL_ETOOBIG, "body of %zu bytes exceeds max.message.bytes %lld",
                       msg->body_len, (long long)conf->max_message_bytes);
    size_t pbytes = wire_props_bytes(msg);
    if (pbytes > RC_PROP_BYTES_MAX)
        return rc_fail(RILL_ETOOBIG, "tags, keys and properties take %zu bytes, at most %d", pbytes,
                       RC_PROP_BYTES_MAX);
    pthread_once(&wire_once, wire_init_once);

    Rill__Message *pb = &w->pb;
    pb->topic = (char *)msg->topic;
    pb->body.data = msg->body;
    pb->body.len = msg->body_len;
    pb->tags = msg->tags ? msg->tags : (char *)"";
    pb->keys = msg->keys ? msg->keys : (char *)"";
    pb->delay_level = msg->delay_level;
    pb->deliver_time_ms = msg->deliver_time_ms;
    pb->born_timestamp_ms = (int64_t)rill_now_ms();
    pb->born_host = wire_born_host;
    pb->reconsume_times = msg->reconsume_times;

    if (msg->n_props > 0) {
        w->prop_ptrs = malloc(msg->n_props * sizeof(*w->prop_ptrs));
        w->prop_items = malloc(msg->n_props * sizeof(*w->prop_items));
        if (w->prop_ptrs == NULL || w->prop_items == NULL)
            goto nomem;
        for (size_t i = 0; i < msg->n_props; i++) {
            rill__property__init(&w->prop_items[i]);
            w->prop_items[i].key = msg->props[i].name;
            w->prop_items[i].value = msg->props[i].value;
            w->prop_ptrs[i] = &w->prop_items[i];
        }
        pb->properties = w->prop_ptrs;
        pb->n_properties = msg->n_props;
    }

    if (conf->compress_threshold_bytes > 0 &&
        (int64_t)msg->body_len > conf->compress_threshold_bytes) {
        size_t bound = ZSTD_compressBound(msg->body_len);
        w->zbody = malloc(bound);
        if (w->zbody == NULL)
            goto nomem;
        size_t z =
            ZSTD_compress(w->zbody, bound, msg->body, msg->body_len, (int)conf->compress_level);
        if (!ZSTD_isError(z) && z < msg->body_len) {
            pb->body.data = w->zbody;
            pb->body.len = z;
            pb->sys_flag |= RC_SYS_FLAG_COMPRESSED;
        } else {
            free(w->zbody); /* incompressible: send it as it is */
            w->zbody = NULL;
        }
    }
    return 0;
nomem:
    rc_wire_msg_free(w);
    return rc_fail(ENOMEM, "out of memory encoding a message");
}

void rc_wire_msg_free(rc_wire_msg_t *w)
{
    if (w == NULL)
        return;
    free(w->prop_ptrs);
    free(w->prop_items);
    free(w->zbody);
    w->prop_ptrs = NULL;
    w->prop_items = NULL;
    w->zbody = NULL;
}

/* ---- from records ---- */

/* Decimal digits of v at out; returns the end. */
static char *wire_dec(char *out, unsigned v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0)
        *out++ = tmp[--n];
    return out;
}

/* "a.b.c.d:port", by hand: two per decoded message, snprintf was a third of consume's CPU. */
static void wire_host(char out[RC_ADDR_BYTES], uint32_t ip, uint16_t port)
{
    if (ip == 0 && port == 0) {
        out[0] = '\0';
        return;
    }
    char *p = out; /* at most 21 bytes + NUL */
    for (int shift = 24; shift >= 0; shift -= 8) {
        p = wire_dec(p, (ip >> shift) & 0xFF);
        *p++ = shift ? '.' : ':';
    }
    p = wire_dec(p, port);
    *p = '\0';
}

static char *wire_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Parse a non-negative decimal of exactly n bytes; -1 when it is not one. */
static int64_t wire_parse_i64(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* rill_props_foreach visitor: one stored property into the message. */
static int wire_prop(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
    rill_msg_t *m = arg;
#define NAME_IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)
    if (NAME_IS(RILL_PROP_TAGS) || NAME_IS(RILL_PROP_KEYS)) {
        char **field = NAME_IS(RILL_PROP_TAGS) ? &m->tags : &m->keys;
        if (*field != NULL)
            return 0; /* the first pair wins, as in rill_props_get() */
        if (vlen == 0)
            return 0;
        *field = wire_strndup(val, vlen);
        return *field ? 0 : ENOMEM;
    }
    if (NAME_IS(RILL_PROP_DELAY_LEVEL)) {
        int64_t v = wire_parse_i64(val, vlen);
        m->delay_level = v >= 0 && v <= RILL_DELAY_LEVEL_MAX ? (int)v : 0;
    } else if (NAME_IS(RILL_PROP_DELIVER_TIME)) {
        int64_t v = wire_parse_i64(val, vlen);
        m->deliver_time_ms = v > 0 ? v : 0;
    }
#undef NAME_IS
    /* every other name, and DELAY / DELIVER_TIME too, stays readable by name */
    if (m->n_props == m->cap_props) {
        size_t cap = m->cap_props ? m->cap_props * 2 : 4;
        rc_prop_t *p = realloc(m->props, cap * sizeof(*p));
        if (p == NULL)
            return ENOMEM;
        m->props = p;
        m->cap_props = cap;
    }
    char *n = wire_strndup(name, nlen), *v = wire_strndup(val, vlen);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return ENOMEM;
    }
    m->props[m->n_props].name = n;
    m->props[m->n_props].value = v;
    m->n_props++;
    return 0;
}

/* One decoded record into a new message. */
static int wire_msg_of(const record_view_t *v, const char *broker_name, rill_msg_t **out)
{
    rill_msg_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return rc_fail(ENOMEM, "out of memory decoding a message");
    int rc;
    assert(v->topic_len >= 1 && v->topic_len <= RILL_TOPIC_BYTES_MAX); /* record_decode checked */
    memcpy(m->topic, v->topic, v->topic_len);
    m->topic[v->topic_len] = '\0';

    m->stored_body_len = v->body_len;
    if (v->flags & RECORD_FLAG_COMPRESSED) {
        unsigned long long size = ZSTD_getFrameContentSize(v->body, v->body_len);
        if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
            size > RECORD_BODY_BYTES_MAX) {
            rc = rc_fail(RILL_ECORRUPT, "compressed body at offset %llu has no usable size",
                         (unsigned long long)v->phys_offset);
            goto fail;
        }
        m->body = malloc(size + 1); /* + NUL, see rill_msg_body() */
        if (m->body == NULL) {
            rc = rc_fail(ENOMEM, "out of memory for a body of %llu bytes", size);
            goto fail;
        }
        size_t got = ZSTD_decompress(m->body, size, v->body, v->body_len);
        if (ZSTD_isError(got) || got != size) {
            rc = rc_fail(RILL_ECORRUPT, "compressed body at offset %llu does not decompress: %s",
                         (unsigned long long)v->phys_offset,
                         ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
            goto fail;
        }
        m->body[size] = 0;
        m->body_len = size;
    } else if (v->body_len > 0) {
        m->body = malloc(v->body_len + 1);
        if (m->body == NULL) {
            rc = rc_fail(ENOMEM, "out of memory for a body of %u bytes", v->body_len);
            goto fail;
        }
        memcpy(m->body, v->body, v->body_len);
        m->body[v->body_len] = 0;
        m->body_len = v->body_len;
    }

    if (rill_props_validate(v->props, v->props_len) != 0) {
        rc = rc_fail(RILL_ECORRUPT, "properties of the record at offset %llu are malformed",
                     (unsigned long long)v->phys_offset);
        goto fail;
    }
    rc = rill_props_foreach(v->props, v->props_len, wire_prop, m);
    if (rc != 0) {
        rc = rc_fail(rc, "decoding properties: %s", rill_strerror(rc));
        goto fail;
    }

    msgid_encode(m->msg_id, v->store_ip, v->store_port, v->phys_offset);
    if (broker_name != NULL) {
        size_t len = strnlen(broker_name, sizeof(m->broker_name) - 1);
        memcpy(m->broker_name, broker_name, len);
        m->broker_name[len] = '\0';
    }
    wire_host(m->born_host, v->born_ip, v->born_port);
    wire_host(m->store_host, v->store_ip, v->store_port);
    m->queue_id = (int32_t)v->queue_id;
    m->queue_offset = (int64_t)v->queue_offset;
    m->commitlog_offset = (int64_t)v->phys_offset;
    m->born_ts = (int64_t)v->born_ts;
    m->store_ts = (int64_t)v->store_ts;
    m->reconsume_times = (int32_t)v->reconsume_times;
    m->record_flags = v->flags;
    *out = m;
    return 0;
fail:
    rill_msg_destroy(m);
    return rc;
}

int rc_msgs_from_records(const uint8_t *buf, size_t len, const char *broker_name, rill_msg_t ***out,
                         size_t *n)
{
    rill_msg_t **msgs = NULL;
    size_t count = 0, cap = 0, off = 0;
    int rc = 0;
    while (off < len) {
        record_view_t v;
        rc = record_decode(buf + off, len - off, &v);
        if (rc != 0) {
            rc = rc_fail(RILL_ECORRUPT, "record %zu (byte %zu of %zu) fails its checks: %s", count,
                         off, len, rill_strerror(rc));
            goto fail;
        }
        if (v.kind != RECORD_KIND_MSG) {
            rc = rc_fail(RILL_ECORRUPT, "byte %zu of %zu is a blank record, not a message", off,
                         len);
            goto fail;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 32;
            rill_msg_t **grown = realloc(msgs, cap * sizeof(*grown));
            if (grown == NULL) {
                rc = rc_fail(ENOMEM, "out of memory for %zu messages", cap);
                goto fail;
            }
            msgs = grown;
        }
        rc = wire_msg_of(&v, broker_name, &msgs[count]);
        if (rc != 0)
            goto fail;
        count++;
        off += v.total_size;
    }
    *out = msgs;
    *n = count;
    return 0;
fail:
    for (size_t j = 0; j < count; j++)
        rill_msg_destroy(msgs[j]);
    free(msgs);
    return rc;
}
