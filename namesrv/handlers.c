/*
 * handlers.c - RPC handlers of rill-namesrv.
 *
 * Each handler checks that the body fits its code, asks the route table,
 * and replies before it returns: nothing here parks. Replies are built in
 * a per-request arena while the table's lock is held and packed by
 * rpc_reply() after it is released. Handlers run on nng's threads,
 * concurrently; the route table is their only shared state.
 */
#include "namesrv/handlers.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>

#define LOG_MOD "namesrv"

static void reply_missing_body(rpc_request_t *req, const char *body)
{
    char remark[RPC_REMARK_BYTES_MAX];
    snprintf(remark, sizeof(remark), "request has no %s body", body);
    rpc_reply_code(req, RILL__RESPONSE_CODE__SYSTEM_ERROR, remark);
}

static void reply_failure(rpc_request_t *req, int rc, const char *what)
{
    char remark[RPC_REMARK_BYTES_MAX];
    snprintf(remark, sizeof(remark), "%s: %s", what, rill_strerror(rc));
    rpc_reply_code(req,
                   rc == RILL_EBUSY ? RILL__RESPONSE_CODE__SYSTEM_BUSY
                                    : RILL__RESPONSE_CODE__SYSTEM_ERROR,
                   remark);
}

static void on_register(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    ns_route_table_t *rt = arg;
    if (msg->body_case != RILL__REQUEST__BODY_REGISTER_BROKER) {
        reply_missing_body(req, "register_broker");
        return;
    }
    ns_arena_t arena = {0};
    Rill__RegisterBrokerResponse body = RILL__REGISTER_BROKER_RESPONSE__INIT;
    char err[RPC_REMARK_BYTES_MAX] = "";
    int rc = ns_route_register(rt, msg->register_broker, rpc_request_pipe_id(req), rill_mono_ms(),
                               &arena, &body, err, sizeof(err));
    if (rc == 0) {
        Rill__Response resp = RILL__RESPONSE__INIT;
        resp.code = RILL__RESPONSE_CODE__SUCCESS;
        resp.body_case = RILL__RESPONSE__BODY_REGISTER_BROKER;
        resp.register_broker = &body;
        rpc_reply(req, &resp);
    } else {
        LOG_WARN(LOG_MOD, "registration of %s refused: %s", msg->register_broker->broker_addr,
                 err[0] ? err : rill_strerror(rc));
        if (err[0] == '\0')
            reply_failure(req, rc, "registration refused");
        else
            rpc_reply_code(req,
                           rc == RILL_EBUSY ? RILL__RESPONSE_CODE__SYSTEM_BUSY
                                            : RILL__RESPONSE_CODE__SYSTEM_ERROR,
                           err);
    }
    ns_arena_free(&arena);
}

static void on_unregister(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    ns_route_table_t *rt = arg;
    if (msg->body_case != RILL__REQUEST__BODY_UNREGISTER_BROKER) {
        reply_missing_body(req, "unregister_broker");
        return;
    }
    const Rill__UnregisterBrokerRequest *u = msg->unregister_broker;
    int rc = ns_route_unregister(rt, u->cluster_name, u->broker_name, u->broker_id, u->broker_addr);
    /* Idempotent: a broker unregistering twice, or after it expired, is fine. */
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS,
                   rc == RILL_ENOTFOUND ? "broker was not registered" : NULL);
}

static void on_get_route(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    ns_route_table_t *rt = arg;
    if (msg->body_case != RILL__REQUEST__BODY_GET_ROUTE_INFO) {
        reply_missing_body(req, "get_route_info");
        return;
    }
    const char *topic = msg->get_route_info->topic;
    ns_arena_t arena = {0};
    Rill__TopicRouteResponse body;
    int rc = ns_route_get(rt, topic, &arena, &body);
    if (rc == 0) {
        Rill__Response resp = RILL__RESPONSE__INIT;
        resp.code = RILL__RESPONSE_CODE__SUCCESS;
        resp.body_case = RILL__RESPONSE__BODY_TOPIC_ROUTE;
        resp.topic_route = &body;
        rpc_reply(req, &resp);
    } else if (rc == RILL_ETOPIC) {
        char remark[RPC_REMARK_BYTES_MAX];
        snprintf(remark, sizeof(remark), "no route for topic '%.128s'", topic);
        rpc_reply_code(req, RILL__RESPONSE_CODE__TOPIC_NOT_EXIST, remark);
    } else {
        reply_failure(req, rc, "route lookup failed");
    }
    ns_arena_free(&arena);
}

/* The two requests below have empty bodies, which clients may leave unset. */

static void on_cluster_info(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    ns_route_table_t *rt = arg;
    (void)msg;
    ns_arena_t arena = {0};
    Rill__ClusterInfoResponse body;
    int rc = ns_route_cluster_info(rt, &arena, &body);
    if (rc == 0) {
        Rill__Response resp = RILL__RESPONSE__INIT;
        resp.code = RILL__RESPONSE_CODE__SUCCESS;
        resp.body_case = RILL__RESPONSE__BODY_CLUSTER_INFO;
        resp.cluster_info = &body;
        rpc_reply(req, &resp);
    } else {
        reply_failure(req, rc, "cluster info failed");
    }
    ns_arena_free(&arena);
}

static void on_all_topics(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    ns_route_table_t *rt = arg;
    (void)msg;
    ns_arena_t arena = {0};
    Rill__TopicNamesResponse body;
    int rc = ns_route_all_topics(rt, &arena, &body);
    if (rc == 0) {
        Rill__Response resp = RILL__RESPONSE__INIT;
        resp.code = RILL__RESPONSE_CODE__SUCCESS;
        resp.body_case = RILL__RESPONSE__BODY_TOPIC_NAMES;
        resp.topic_names = &body;
        rpc_reply(req, &resp);
    } else {
        reply_failure(req, rc, "topic list failed");
    }
    ns_arena_free(&arena);
}

static void on_delete_topic(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    ns_route_table_t *rt = arg;
    if (msg->body_case != RILL__REQUEST__BODY_DELETE_TOPIC_IN_NAMESRV) {
        reply_missing_body(req, "delete_topic_in_namesrv");
        return;
    }
    int rc = ns_route_delete_topic(rt, msg->delete_topic_in_namesrv->topic);
    /* Idempotent, as RocketMQ's: deleting a topic that has no route succeeds. */
    rpc_reply_code(req, RILL__RESPONSE_CODE__SUCCESS,
                   rc == RILL_ENOTFOUND ? "topic had no route" : NULL);
}

static void on_ping(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    (void)arg;
    Rill__PingResponse pong = RILL__PING_RESPONSE__INIT;
    if (msg->body_case == RILL__REQUEST__BODY_PING)
        pong.payload = msg->ping->payload; /* packed before the request is freed */
    Rill__Response resp = RILL__RESPONSE__INIT;
    resp.code = RILL__RESPONSE_CODE__SUCCESS;
    resp.body_case = RILL__RESPONSE__BODY_PING;
    resp.ping = &pong;
    rpc_reply(req, &resp);
}

static void on_pipe_closed(uint32_t pipe_id, void *arg)
{
    ns_route_table_t *rt = arg;
    ns_route_drop_pipe(rt, pipe_id);
}

int ns_handlers_install(rpc_server_t *srv, ns_route_table_t *rt)
{
    static const struct {
        int code;
        rpc_handler_fn fn;
    } table[] = {
        {RILL__REQUEST_CODE__REGISTER_BROKER, on_register},
        {RILL__REQUEST_CODE__UNREGISTER_BROKER, on_unregister},
        {RILL__REQUEST_CODE__GET_ROUTEINFO_BY_TOPIC, on_get_route},
        {RILL__REQUEST_CODE__GET_BROKER_CLUSTER_INFO, on_cluster_info},
        {RILL__REQUEST_CODE__GET_ALL_TOPIC_LIST_FROM_NAMESERVER, on_all_topics},
        {RILL__REQUEST_CODE__DELETE_TOPIC_IN_NAMESRV, on_delete_topic},
        {RILL__REQUEST_CODE__PING, on_ping},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        int rc = rpc_server_set_handler(srv, table[i].code, table[i].fn, rt);
        if (rc != 0)
            return rc;
    }
    return rpc_server_set_pipe_closed(srv, on_pipe_closed, rt);
}
