/*
 * handlers.h - the namesrv's RPC handlers: register/unregister broker, get
 * route by topic, cluster info, all topics, delete topic, ping, and the
 * closed-connection hook that drops a broker at once when its connection
 * goes (docs/PROTOCOL.md lists each request and its errors).
 */
#ifndef RILL_NAMESRV_HANDLERS_H
#define RILL_NAMESRV_HANDLERS_H

#include "namesrv/route_table.h"
#include "rpc/rpc_server.h"

/**
 * Register every namesrv handler and the closed-connection hook on srv.
 *
 * @param[in] srv  a server not started yet.
 * @param[in] rt   the route table the handlers serve; borrowed, must outlive
 *                 srv (close srv first).
 * @return 0, or RILL_EINVAL if srv was already started.
 * @remark Call from the thread that owns srv, before rpc_server_start().
 */
int ns_handlers_install(rpc_server_t *srv, ns_route_table_t *rt);

#endif
