/*
 * consumers.c - client membership: HEART_BEAT, UNREGISTER_CLIENT and
 * GET_CONSUMER_LIST_BY_GROUP, and the "client-scan" thread that forgets
 * clients whose heartbeats stopped.
 *
 * Producers and consumers heartbeat every broker they use. For each group a
 * heartbeat names, the broker keeps one member per client id: the time of
 * its last heartbeat, the connection (nng pipe) that heartbeat came on and,
 * for consumers, subscriptions, consume type, message model and
 * consume-from. A member leaves when it unregisters, at once when the
 * connection of its last heartbeat closes (rpc_server_set_pipe_closed), and
 * channelExpiredTimeoutMillis after its last heartbeat (the scan runs every
 * expiry / 4, clamped to [SCAN_MS_MIN, SCAN_MS_MAX]).
 *
 * Consumers rebalance on the member list, so every change of a consumer
 * group's member SET gives the group a new generation; a heartbeat from a
 * member already there only refreshes it. Generations come from one counter
 * seeded with the start time (wall ms << 20), so a group that empties and
 * fills again, or a restarted broker, does not hand out a generation a
 * client already saw for another set. A group nobody is in has generation 0.
 *
 * Layout: two tables (consumer groups, producer groups), each an array of
 * group pointers sorted by name; each group an array of members sorted by
 * client id in strcmp() order, the order replies list them in. A group is
 * freed when its last member leaves. Limits: BROKER_CLIENT_GROUPS_MAX groups
 * per table and BROKER_GROUP_MEMBERS_MAX members per group; a heartbeat
 * beyond them is answered SYSTEM_BUSY (the groups before the full one in the
 * request stay joined). A heartbeat is checked completely before anything
 * changes, so a MESSAGE_ILLEGAL heartbeat changes nothing.
 *
 * Threads: the handlers and the pipe-closed hook (nng threads) and the scan
 * thread all take c->lock, the only lock here, for short in-memory work.
 * Replies are copied out under it into one malloc'd block and sent after it
 * is released. A heartbeat still in flight when its connection closed may
 * re-add its member after the hook ran (rpc_server.h allows that); the
 * expiry removes such a member.
 */
#include "broker/broker.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD           "clients"
#define SCAN_MS_MAX       1000 /* the expiry scan runs at least this often */
#define SCAN_MS_MIN       10
#define MODE_BYTES        16 /* "BROADCASTING" and the other mode words, NUL included */
#define GROUPS_FIRST_CAP  16
#define MEMBERS_FIRST_CAP 4

typedef struct member {
    char client_id[BROKER_CLIENT_ID_BYTES_MAX + 1];
    uint32_t pipe_id;      /* connection of the last heartbeat */
    uint64_t last_beat_ms; /* monotonic */
    char consume_type[MODE_BYTES], message_model[MODE_BYTES], consume_from[MODE_BYTES];
    uint32_t n_subs;
    uint32_t subs_len;
    char *subs; /* n_subs "topic\0expression\0" pairs, malloc'd; NULL for none */
} member_t;

typedef struct group {
    char name[BROKER_GROUP_BYTES_MAX + 1];
    uint64_t generation;
    size_t n, cap;
    member_t *members; /* sorted by client_id */
} group_t;

typedef struct table {
    const char *kind; /* "consumer" or "producer", for logs */
    bool versioned;   /* consumer groups get generations */
    size_t n, cap;
    group_t **groups; /* sorted by name */
} table_t;

struct consumers {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* monotonic; consumers_close() wakes the scan */
    table_t consumer_groups, producer_groups;
    uint64_t last_generation;
    uint64_t expiry_ms;
    bool stop;
    pthread_t thread;
    bool thread_started;
};

/* ---- tables (c->lock held) ---- */

/* Index of name in t, or where it would be inserted (*found false). */
static size_t group_pos(const table_t *t, const char *name, bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(t->groups[mid]->name, name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static group_t *group_find(const table_t *t, const char *name)
{
    bool found;
    size_t i = group_pos(t, name, &found);
    return found ? t->groups[i] : NULL;
}

/* The group, created empty when missing. RILL_EBUSY (table full), ENOMEM. */
static int group_get(table_t *t, const char *name, group_t **out)
{
    bool found;
    size_t i = group_pos(t, name, &found);
    if (found) {
        *out = t->groups[i];
        return 0;
    }
    if (t->n == BROKER_CLIENT_GROUPS_MAX)
        return RILL_EBUSY;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : GROUPS_FIRST_CAP;
        group_t **groups = realloc(t->groups, cap * sizeof(*groups));
        if (groups == NULL)
            return ENOMEM;
        t->groups = groups;
        t->cap = cap;
    }
    group_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return ENOMEM;
    assert(strlen(name) <= BROKER_GROUP_BYTES_MAX); /* checked by the handler */
    strcpy(g->name, name);
    memmove(&t->groups[i + 1], &t->groups[i], (t->n - i) * sizeof(*t->groups));
    t->groups[i] = g;
    t->n++;
    *out = g;
    return 0;
}

static void group_free(group_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->members[i].subs);
    free(g->members);
    free(g);
}

/* Free the group at index i if nobody is left in it. */
static void group_drop_if_empty(table_t *t, size_t i)
{
    group_t *g = t->groups[i];
    if (g->n > 0)
        return;
    group_free(g);
    memmove(&t->groups[i], &t->groups[i + 1], (t->n - i - 1) * sizeof(*t->groups));
    t->n--;
}

static size_t member_pos(const group_t *g, const char *client_id, bool *found)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(g->members[mid].client_id, client_id);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void member_remove_at(group_t *g, size_t i)
{
    assert(i < g->n);
    free(g->members[i].subs);
    memmove(&g->members[i], &g->members[i + 1], (g->n - i - 1) * sizeof(*g->members));
    g->n--;
}

static void bump(consumers_t *c, const table_t *t, group_t *g)
{
    if (t->versioned)
        g->generation = ++c->last_generation;
}

/*
 * "topic\0expression\0" for every subscription of cd, malloc'd into
 * *out (NULL when there is none). 0 or ENOMEM.
 */
static int pack_subs(const Rill__ConsumerData *cd, char **out, uint32_t *len_out)
{
    size_t len = 0;
    for (size_t i = 0; i < cd->n_subscriptions; i++) {
        const Rill__SubscriptionData *s = cd->subscriptions[i];
        len += strlen(s->topic) + 1 + strlen(s->expression) + 1;
    }
    *out = NULL;
    *len_out = 0;
    if (len == 0)
        return 0;
    char *buf = malloc(len);
    if (buf == NULL)
        return ENOMEM;
    size_t pos = 0;
    for (size_t i = 0; i < cd->n_subscriptions; i++) {
        const Rill__SubscriptionData *s = cd->subscriptions[i];
        size_t tl = strlen(s->topic) + 1, el = strlen(s->expression) + 1;
        memcpy(buf + pos, s->topic, tl);
        memcpy(buf + pos + tl, s->expression, el);
        pos += tl + el;
    }
    assert(pos == len);
    *out = buf;
    *len_out = (uint32_t)len;
    return 0;
}

/*
 * Add or refresh client_id in group `name` of t; cd carries a consumer's
 * data (NULL for producers). 0, RILL_EBUSY (a limit), ENOMEM.
 */
static int beat(consumers_t *c, table_t *t, const char *name, const char *client_id,
                uint32_t pipe_id, uint64_t now_ms, const Rill__ConsumerData *cd)
{
    char *subs = NULL;
    uint32_t subs_len = 0;
    if (cd != NULL && pack_subs(cd, &subs, &subs_len) != 0)
        return ENOMEM;
    group_t *g;
    int rc = group_get(t, name, &g);
    if (rc != 0)
        goto fail;
    bool found;
    size_t i = member_pos(g, client_id, &found);
    if (!found) {
        rc = RILL_EBUSY;
        if (g->n == BROKER_GROUP_MEMBERS_MAX)
            goto fail_group;
        if (g->n == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : MEMBERS_FIRST_CAP;
            member_t *members = realloc(g->members, cap * sizeof(*members));
            rc = ENOMEM;
            if (members == NULL)
                goto fail_group;
            g->members = members;
            g->cap = cap;
        }
        memmove(&g->members[i + 1], &g->members[i], (g->n - i) * sizeof(*g->members));
        g->n++;
        memset(&g->members[i], 0, sizeof(g->members[i]));
        assert(strlen(client_id) <= BROKER_CLIENT_ID_BYTES_MAX); /* checked by the handler */
        strcpy(g->members[i].client_id, client_id);
        bump(c, t, g);
        if (t->versioned)
            LOG_INFO(LOG_MOD, "%s joined consumer group %s: %zu member(s), generation %llu",
                     client_id, name, g->n, (unsigned long long)g->generation);
        else
            LOG_DEBUG(LOG_MOD, "%s joined producer group %s", client_id, name);
    }
    member_t *m = &g->members[i];
    m->pipe_id = pipe_id;
    m->last_beat_ms = now_ms;
    if (cd != NULL) {
        snprintf(m->consume_type, sizeof(m->consume_type), "%s", cd->consume_type);
        snprintf(m->message_model, sizeof(m->message_model), "%s", cd->message_model);
        snprintf(m->consume_from, sizeof(m->consume_from), "%s", cd->consume_from_where);
        if (m->subs_len == subs_len && (subs_len == 0 || memcmp(m->subs, subs, subs_len) == 0)) {
            free(subs); /* unchanged, the usual case */
        } else {
            free(m->subs);
            m->subs = subs;
            m->subs_len = subs_len;
            m->n_subs = (uint32_t)cd->n_subscriptions;
        }
    }
    return 0;
fail_group : {
    bool gfound;
    size_t gi = group_pos(t, name, &gfound);
    assert(gfound);
    group_drop_if_empty(t, gi); /* a group created for this beat alone */
}
fail:
    free(subs);
    return rc;
}

/* Remove client_id from group `name` of t if it is there. */
static void leave(consumers_t *c, table_t *t, const char *name, const char *client_id)
{
    bool found;
    size_t gi = group_pos(t, name, &found);
    if (!found)
        return;
    group_t *g = t->groups[gi];
    size_t i = member_pos(g, client_id, &found);
    if (!found)
        return;
    member_remove_at(g, i);
    bump(c, t, g);
    RILL_LOG_AT(t->versioned ? RILL_LOG_INFO : RILL_LOG_DEBUG, LOG_MOD,
                "%s left %s group %s (unregistered): %zu member(s) left", client_id, t->kind, name,
                g->n);
    group_drop_if_empty(t, gi);
}

typedef bool (*member_pred_fn)(const member_t *m, uint64_t arg);

static bool on_pipe(const member_t *m, uint64_t pipe_id)
{
    return m->pipe_id == (uint32_t)pipe_id;
}

/* Remove every member of t the predicate picks; returns how many. */
static int sweep_table(consumers_t *c, table_t *t, member_pred_fn pred, uint64_t arg,
                       const char *why)
{
    int dropped = 0;
    for (size_t gi = t->n; gi-- > 0;) {
        group_t *g = t->groups[gi];
        size_t before = g->n;
        for (size_t i = g->n; i-- > 0;) {
            if (pred(&g->members[i], arg)) {
                RILL_LOG_AT(t->versioned ? RILL_LOG_INFO : RILL_LOG_DEBUG, LOG_MOD,
                            "%s left %s group %s (%s)", g->members[i].client_id, t->kind, g->name,
                            why);
                member_remove_at(g, i);
            }
        }
        if (g->n != before) {
            dropped += (int)(before - g->n);
            bump(c, t, g);
            group_drop_if_empty(t, gi);
        }
    }
    return dropped;
}

static int sweep(consumers_t *c, member_pred_fn pred, uint64_t arg, const char *why)
{
    return sweep_table(c, &c->consumer_groups, pred, arg, why) +
           sweep_table(c, &c->producer_groups, pred, arg, why);
}

/* ---- replies ---- */

/*
 * The members of the consumer groups names[0..k) as k GroupMembers, in one
 * malloc'd block (free() it) laid out as
 *
 *   [GroupMembers x k][GroupMembers * x k][char * x ids][client id strings]
 *
 * Group names point to names[] (the request's strings). c->lock held.
 * Returns the block with *ptrs_out set, or NULL (ENOMEM).
 */
static void *snapshot(consumers_t *c, const char *const *names, size_t k,
                      Rill__GroupMembers ***ptrs_out)
{
    size_t ids = 0, bytes = 0;
    for (size_t i = 0; i < k; i++) {
        const group_t *g = group_find(&c->consumer_groups, names[i]);
        for (size_t j = 0; g != NULL && j < g->n; j++)
            bytes += strlen(g->members[j].client_id) + 1;
        ids += g ? g->n : 0;
    }
    size_t size = k * (sizeof(Rill__GroupMembers) + sizeof(Rill__GroupMembers *)) +
                  ids * sizeof(char *) + bytes;
    _Static_assert(sizeof(Rill__GroupMembers) % sizeof(void *) == 0, "pointer alignment");
    uint8_t *block = malloc(size ? size : 1);
    if (block == NULL)
        return NULL;
    Rill__GroupMembers *gm = (Rill__GroupMembers *)block;
    Rill__GroupMembers **ptrs = (Rill__GroupMembers **)(gm + k);
    char **idp = (char **)(ptrs + k);
    char *s = (char *)(idp + ids);
    for (size_t i = 0; i < k; i++) {
        rill__group_members__init(&gm[i]);
        gm[i].group = (char *)names[i];
        ptrs[i] = &gm[i];
        const group_t *g = group_find(&c->consumer_groups, names[i]);
        if (g == NULL)
            continue;
        gm[i].generation = g->generation;
        gm[i].n_client_ids = g->n;
        gm[i].client_ids = idp;
        for (size_t j = 0; j < g->n; j++) {
            size_t len = strlen(g->members[j].client_id) + 1;
            memcpy(s, g->members[j].client_id, len);
            *idp++ = s;
            s += len;
        }
    }
    assert((uint8_t *)s == block + size);
    *ptrs_out = ptrs;
    return block;
}

/* ---- checks ---- */

static bool group_name_ok(const char *name)
{
    return name[0] != '\0' && strlen(name) <= BROKER_GROUP_BYTES_MAX &&
           topics_check_name(name) == 0;
}

/* Non-empty, bounded, no spaces or control bytes. */
static bool client_id_ok(const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len > BROKER_CLIENT_ID_BYTES_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)id[i];
        if (ch <= 0x20 || ch == 0x7f)
            return false;
    }
    return true;
}

static bool one_of(const char *v, const char *const *words)
{
    if (v[0] == '\0')
        return true; /* not said: the client's default */
    for (; *words; words++)
        if (strcmp(v, *words) == 0)
            return true;
    return false;
}

static const char *const consume_types[] = {"PUSH", "PULL", NULL};
static const char *const message_models[] = {"CLUSTERING", "BROADCASTING", NULL};
static const char *const consume_froms[] = {"LAST_OFFSET", "FIRST_OFFSET", "TIMESTAMP", NULL};

/* 0, or a response code with remark written. */
static int check_consumer(const Rill__ConsumerData *cd, char *remark, size_t rcap)
{
    if (!group_name_ok(cd->group)) {
        snprintf(remark, rcap,
                 "illegal consumer group name '%.64s': must match ^[%%|a-zA-Z0-9_-]+$", cd->group);
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    if (!one_of(cd->consume_type, consume_types) || !one_of(cd->message_model, message_models) ||
        !one_of(cd->consume_from_where, consume_froms)) {
        snprintf(remark, rcap,
                 "group %s: consume_type must be PUSH or PULL, message_model CLUSTERING or "
                 "BROADCASTING, consume_from_where LAST_OFFSET, FIRST_OFFSET or TIMESTAMP",
                 cd->group);
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    if (cd->n_subscriptions > BROKER_MEMBER_SUBS_MAX) {
        snprintf(remark, rcap, "group %s: %zu subscriptions, at most %d", cd->group,
                 cd->n_subscriptions, BROKER_MEMBER_SUBS_MAX);
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    for (size_t i = 0; i < cd->n_subscriptions; i++) {
        const Rill__SubscriptionData *s = cd->subscriptions[i];
        if (topics_check_name(s->topic) != 0) {
            snprintf(remark, rcap, "group %s: subscription %zu has an illegal topic '%.64s'",
                     cd->group, i, s->topic);
            return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
        }
        if (strlen(s->expression) > BROKER_SUB_EXPR_BYTES_MAX) {
            snprintf(remark, rcap, "group %s: expression of %s longer than %d bytes", cd->group,
                     s->topic, BROKER_SUB_EXPR_BYTES_MAX);
            return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
        }
    }
    return 0;
}

static int check_heartbeat(const Rill__HeartbeatRequest *hb, char *remark, size_t rcap)
{
    if (!client_id_ok(hb->client_id)) {
        snprintf(remark, rcap,
                 "heartbeat needs a client_id of 1 to %d bytes without spaces or control bytes",
                 BROKER_CLIENT_ID_BYTES_MAX);
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    if (hb->n_producer_groups + hb->n_consumers > BROKER_HEARTBEAT_GROUPS_MAX) {
        snprintf(remark, rcap, "heartbeat names %zu groups, at most %d",
                 hb->n_producer_groups + hb->n_consumers, BROKER_HEARTBEAT_GROUPS_MAX);
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    }
    for (size_t i = 0; i < hb->n_producer_groups; i++) {
        if (!group_name_ok(hb->producer_groups[i])) {
            snprintf(remark, rcap,
                     "illegal producer group name '%.64s': must match ^[%%|a-zA-Z0-9_-]+$",
                     hb->producer_groups[i]);
            return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
        }
    }
    for (size_t i = 0; i < hb->n_consumers; i++) {
        int code = check_consumer(hb->consumers[i], remark, rcap);
        if (code != 0)
            return code;
    }
    return 0;
}

/* ---- handlers ---- */

static void reply_missing_body(rpc_request_t *req, const char *body)
{
    broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR, "request needs a %s body", body);
}

static void handle_heartbeat(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    consumers_t *c = arg;
    if (msg->body_case != RILL__REQUEST__BODY_HEARTBEAT) {
        reply_missing_body(req, "heartbeat");
        return;
    }
    const Rill__HeartbeatRequest *hb = msg->heartbeat;
    char remark[RPC_REMARK_BYTES_MAX];
    int code = check_heartbeat(hb, remark, sizeof(remark));
    if (code != 0) {
        rpc_reply_code(req, code, remark);
        return;
    }
    const char *names[BROKER_HEARTBEAT_GROUPS_MAX];
    for (size_t i = 0; i < hb->n_consumers; i++)
        names[i] = hb->consumers[i]->group;

    uint32_t pipe_id = rpc_request_pipe_id(req);
    uint64_t now = rill_mono_ms();
    int rc = 0;
    const char *failed = NULL;
    void *block = NULL;
    Rill__GroupMembers **ptrs = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; rc == 0 && i < hb->n_producer_groups; i++) {
        failed = hb->producer_groups[i];
        rc = beat(c, &c->producer_groups, failed, hb->client_id, pipe_id, now, NULL);
    }
    for (size_t i = 0; rc == 0 && i < hb->n_consumers; i++) {
        failed = names[i];
        rc = beat(c, &c->consumer_groups, failed, hb->client_id, pipe_id, now, hb->consumers[i]);
    }
    if (rc == 0) {
        block = snapshot(c, names, hb->n_consumers, &ptrs);
        rc = block == NULL ? ENOMEM : 0;
        failed = NULL;
    }
    pthread_mutex_unlock(&c->lock);

    if (rc != 0) {
        if (rc == RILL_EBUSY)
            broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY,
                              "group %s is full: at most %d groups and %d members per group",
                              failed, BROKER_CLIENT_GROUPS_MAX, BROKER_GROUP_MEMBERS_MAX);
        else
            broker_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "heartbeat: %s",
                              rill_strerror(rc));
        return;
    }
    Rill__HeartbeatResponse body = RILL__HEARTBEAT_RESPONSE__INIT;
    body.n_groups = hb->n_consumers;
    body.groups = ptrs;
    Rill__Response resp = RILL__RESPONSE__INIT;
    resp.code = RILL__RESPONSE_CODE__SUCCESS;
    resp.body_case = RILL__RESPONSE__BODY_HEARTBEAT;
    resp.heartbeat = &body;
    rpc_reply(req, &resp);
    free(block);
}

static void handle_unregister(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    broker_t *b = arg; /* also releases the client's queue locks (queue_lock.c) */
    consumers_t *c = b->consumers;
    if (msg->body_case != RILL__REQUEST__BODY_UNREGISTER_CLIENT) {
        reply_missing_body(req, "unregister_client");
        return;
    }
    const Rill__UnregisterClientRequest *u = msg->unregister_client;
    if (!client_id_ok(u->client_id)) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "unregister needs a client_id of 1 to %d bytes without spaces",
                          BROKER_CLIENT_ID_BYTES_MAX);
        return;
    }
    const char *groups[2] = {u->producer_group, u->consumer_group};
    for (int i = 0; i < 2; i++) {
        if (groups[i][0] != '\0' && !group_name_ok(groups[i])) {
            broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                              "illegal group name '%.64s': must match ^[%%|a-zA-Z0-9_-]+$",
                              groups[i]);
            return;
        }
    }
    pthread_mutex_lock(&c->lock);
    if (u->producer_group[0] != '\0')
        leave(c, &c->producer_groups, u->producer_group, u->client_id);
    if (u->consumer_group[0] != '\0')
        leave(c, &c->consumer_groups, u->consumer_group, u->client_id);
    pthread_mutex_unlock(&c->lock);
    if (u->consumer_group[0] != '\0')
        queue_locks_release_client(b->locks, u->consumer_group, u->client_id);
    /* Idempotent: a client that already left, or never joined, is fine. */
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS, NULL);
}

static void handle_consumer_list(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    consumers_t *c = arg;
    if (msg->body_case != RILL__REQUEST__BODY_GET_CONSUMER_LIST) {
        reply_missing_body(req, "get_consumer_list");
        return;
    }
    const char *name = msg->get_consumer_list->consumer_group;
    if (!group_name_ok(name)) {
        broker_reply_code(req, RILL__RESPONSE_CODE__MESSAGE_ILLEGAL,
                          "illegal group name '%.64s': must match ^[%%|a-zA-Z0-9_-]+$", name);
        return;
    }
    Rill__GroupMembers **ptrs = NULL;
    pthread_mutex_lock(&c->lock);
    void *block = snapshot(c, &name, 1, &ptrs);
    pthread_mutex_unlock(&c->lock);
    if (block == NULL) {
        rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_BUSY, "out of memory");
        return;
    }
    Rill__ConsumerListResponse body = RILL__CONSUMER_LIST_RESPONSE__INIT;
    body.members = ptrs[0];
    Rill__Response resp = RILL__RESPONSE__INIT;
    resp.code = RILL__RESPONSE_CODE__SUCCESS;
    resp.body_case = RILL__RESPONSE__BODY_CONSUMER_LIST;
    resp.consumer_list = &body;
    rpc_reply(req, &resp);
    free(block);
}

/* The rpc layer has one connection hook: it also releases queue locks (queue_lock.c). */
static void on_pipe_closed(uint32_t pipe_id, void *arg)
{
    broker_t *b = arg;
    consumers_t *c = b->consumers;
    pthread_mutex_lock(&c->lock);
    sweep(c, on_pipe, pipe_id, "connection closed");
    pthread_mutex_unlock(&c->lock);
    queue_locks_pipe_closed(b->locks, pipe_id);
}

/* ---- expiry ---- */

static bool expired(const member_t *m, uint64_t deadline_ms)
{
    return m->last_beat_ms <= deadline_ms;
}

static void *scan_main(void *arg)
{
    consumers_t *c = arg;
    pthread_setname_np(pthread_self(), "client-scan");
    uint64_t interval = c->expiry_ms / 4;
    interval = interval < SCAN_MS_MIN   ? SCAN_MS_MIN
               : interval > SCAN_MS_MAX ? SCAN_MS_MAX
                                        : interval;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct timespec deadline;
        rill_deadline_after_ms(&deadline, interval);
        /* Ends at the deadline or on stop; a spurious wake-up just scans early. */
        pthread_cond_timedwait(&c->wake, &c->lock, &deadline);
        if (c->stop)
            break;
        uint64_t now = rill_mono_ms();
        if (now > c->expiry_ms)
            sweep(c, expired, now - c->expiry_ms, "no heartbeat for channelExpiredTimeoutMillis");
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* ---- lifecycle ---- */

int consumers_open(consumers_t **out, uint64_t expiry_ms)
{
    if (expiry_ms == 0)
        return RILL_EINVAL;
    consumers_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ENOMEM;
    int rc = pthread_mutex_init(&c->lock, NULL);
    if (rc != 0) {
        free(c);
        return rc;
    }
    rc = rill_cond_init_monotonic(&c->wake);
    if (rc != 0) {
        pthread_mutex_destroy(&c->lock);
        free(c);
        return rc;
    }
    c->consumer_groups = (table_t){.kind = "consumer", .versioned = true};
    c->producer_groups = (table_t){.kind = "producer", .versioned = false};
    c->last_generation = rill_now_ms() << 20;
    c->expiry_ms = expiry_ms;
    rc = pthread_create(&c->thread, NULL, scan_main, c);
    if (rc != 0) {
        consumers_close(c);
        return rc;
    }
    c->thread_started = true;
    *out = c;
    return 0;
}

int consumers_register(broker_t *b)
{
    static const struct {
        int code;
        rpc_handler_fn fn;
        bool broker_arg; /* gets b (it also touches b->locks), else b->consumers */
    } table[] = {
        {RILL__REQUEST_CODE__HEART_BEAT, handle_heartbeat, false},
        {RILL__REQUEST_CODE__UNREGISTER_CLIENT, handle_unregister, true},
        {RILL__REQUEST_CODE__GET_CONSUMER_LIST_BY_GROUP, handle_consumer_list, false},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        void *arg = table[i].broker_arg ? (void *)b : (void *)b->consumers;
        int rc = rpc_server_set_handler(b->rpc, table[i].code, table[i].fn, arg);
        if (rc != 0)
            return rc;
    }
    return rpc_server_set_pipe_closed(b->rpc, on_pipe_closed, b);
}

static void table_free(table_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        group_free(t->groups[i]);
    free(t->groups);
    t->groups = NULL;
    t->n = t->cap = 0;
}

void consumers_close(consumers_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    if (c->thread_started)
        pthread_join(c->thread, NULL);
    table_free(&c->consumer_groups);
    table_free(&c->producer_groups);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
