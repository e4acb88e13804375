/*
 * broker.c - a broker's lifecycle: open the store, load topics, start the
 * long-poll and registration threads and the RPC server; close them in the
 * order that answers every request still held.
 *
 * Shutdown order: mark stopping (new pulls are answered at once instead of
 * parked), answer parked pulls, let requests in
 * handlers finish for a short bounded while, stop the RPC server (nothing new
 * is read), unregister from the namesrvs, close the store (the flusher completes SYNC_FLUSH
 * waiters, whose replies then go nowhere), and close the server, which waits until every request it
 * handed out was answered. The client membership tables go last: the
 * server's handlers and connection hook use them until it is closed.
 */
#include "broker/broker.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD           "broker"
#define SHUTDOWN_DRAIN_MS 2000 /* wait for requests in handlers before stopping the server */

int broker_reply_code(rpc_request_t *req, int code, const char *fmt, ...)
{
    char remark[RPC_REMARK_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(remark, sizeof(remark), fmt, ap);
    va_end(ap);
    return rpc_reply_code(req, code, remark);
}

int broker_code_of(int rc)
{
    switch (rc) {
    case 0:
        return RILL__RESPONSE_CODE__SUCCESS;
    case RILL_ETOOBIG:
    case RILL_EINVAL:
        return RILL__RESPONSE_CODE__MESSAGE_ILLEGAL;
    case RILL_ETOPIC:
        return RILL__RESPONSE_CODE__TOPIC_NOT_EXIST;
    case RILL_EBUSY:
        return RILL__RESPONSE_CODE__SYSTEM_BUSY;
    case RILL_EDISKFULL:
    case RILL_ECLOSED:
        return RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE;
    case RILL_EFLUSHTIMEOUT:
        return RILL__RESPONSE_CODE__FLUSH_DISK_TIMEOUT;
    case RILL_ENOTFOUND:
        return RILL__RESPONSE_CODE__QUERY_NOT_FOUND;
    default:
        return RILL__RESPONSE_CODE__SYSTEM_ERROR;
    }
}

int broker_open(broker_t **out, const broker_config_t *cfg)
{
    broker_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return ENOMEM;
    b->cfg = *cfg;
    b->start_ms = rill_now_ms();
    pthread_mutex_init(&b->tps_lock, NULL);
    struct in_addr a;
    int rc = RILL_EINVAL;
    if (inet_pton(AF_INET, cfg->broker_ip1, &a) != 1)
        goto fail;
    b->store_ip = ntohl(a.s_addr);

    /* The hold table exists before the store so on_dispatch always has it. */
    rc = pull_hold_start(&b->hold, b);
    if (rc != 0)
        goto fail;
    store_config_t sc = cfg->store;
    sc.store_ip = b->store_ip;
    sc.store_port = (uint16_t)cfg->listen_port;
    sc.on_dispatch = pull_hold_on_dispatch;
    sc.on_dispatch_arg = b->hold;
    rc = store_open(&b->store, &sc);
    if (rc != 0) {
        LOG_ERROR(LOG_MOD, "cannot open the store at %s: %s", sc.store_path_root_dir,
                  rill_strerror(rc));
        goto fail;
    }
    rc = topics_open(&b->topics, b->store);
    if (rc != 0)
        goto fail;
    rc = consumers_open(&b->consumers, (uint64_t)cfg->channel_expired_timeout_millis);
    if (rc != 0)
        goto fail;
    rc = transaction_start(&b->tx, b);
    if (rc != 0)
        goto fail;
    rc = delay_start(&b->delay, b);
    if (rc != 0)
        goto fail;
    rc = queue_locks_open(&b->locks, (uint64_t)cfg->rebalance_lock_max_live_time);
    if (rc != 0)
        goto fail;

    rpc_server_opts_t opts = {.contexts = BROKER_RPC_CONTEXTS};
    size_t frame = (size_t)cfg->store.max_message_size + (1u << 20);
    opts.frame_bytes_max =
        frame > RPC_SERVER_FRAME_BYTES_DEFAULT ? frame : RPC_SERVER_FRAME_BYTES_DEFAULT;
    rc = rpc_server_create(&b->rpc, &opts);
    if (rc != 0)
        goto fail;
    if ((rc = send_register(b)) != 0 || (rc = pull_register(b)) != 0 ||
        (rc = admin_register(b)) != 0 || (rc = consumers_register(b)) != 0 ||
        (rc = transaction_register(b)) != 0 || (rc = queue_locks_register(b)) != 0 ||
        (rc = sendback_register(b)) != 0)
        goto fail;
    char url[128];
    snprintf(url, sizeof(url), "tcp://%s:%d", cfg->bind_address, (int)cfg->listen_port);
    rc = rpc_server_start(b->rpc, url);
    if (rc != 0) {
        LOG_ERROR(LOG_MOD, "cannot listen on %s: %s", url, rill_strerror(rc));
        goto fail;
    }
    rc = ha_glue_start(b);
    if (rc != 0)
        goto fail;
    /* Atomic: handlers already run and may kick it (found by make tsan). */
    registry_t *registry;
    rc = registry_start(&registry, b);
    if (rc != 0)
        goto fail;
    atomic_store(&b->registry, registry);
    LOG_INFO(LOG_MOD, "%s (%s, id %d) serving %s, data in %s", cfg->broker_name,
             cfg->broker_cluster_name, (int)cfg->broker_id, url, cfg->store.store_path_root_dir);
    *out = b;
    return 0;
fail:
    atomic_store(&b->stopping, true);
    if (b->rpc)
        rpc_server_stop(b->rpc);
    pull_hold_stop(b->hold);
    transaction_stop(b->tx);
    delay_stop(b->delay);
    ha_glue_stop(b);
    store_close(b->store);
    ha_glue_free(b);
    rpc_server_close(b->rpc);
    transaction_free(b->tx);
    consumers_close(b->consumers);
    queue_locks_close(b->locks);
    pull_hold_free(b->hold);
    topics_close(b->topics);
    pthread_mutex_destroy(&b->tps_lock);
    free(b);
    return rc;
}

void broker_close(broker_t *b)
{
    if (b == NULL)
        return;
    LOG_INFO(LOG_MOD, "shutting down");
    atomic_store(&b->stopping, true);
    pull_hold_release_all(b->hold);
    transaction_stop(b->tx); /* answers its parked polls; uses the store */
    delay_stop(b->delay);    /* stops delivering; uses the store */
    for (int i = 0; i < SHUTDOWN_DRAIN_MS / 10; i++) {
        rpc_server_stats_t st;
        rpc_server_stats(b->rpc, &st);
        if (st.in_handler == 0)
            break;
        pull_hold_release_all(b->hold);
        rill_sleep_ms(10);
    }
    rpc_server_stop(b->rpc);
    registry_stop(atomic_exchange(&b->registry, NULL)); /* after the handlers, which kick it */
    pull_hold_stop(b->hold);
    ha_glue_stop(b);       /* uses the store */
    store_close(b->store); /* flushes; completes every SYNC_FLUSH waiter */
    b->store = NULL;
    ha_glue_free(b); /* after the flusher's last callbacks */
    rpc_server_close(b->rpc);
    transaction_free(b->tx);
    consumers_close(b->consumers); /* after the server: its handlers and hook use them */
    queue_locks_close(b->locks);   /* likewise */
    pull_hold_free(b->hold);
    topics_close(b->topics);
    pthread_mutex_destroy(&b->tps_lock);
    free(b);
    LOG_INFO(LOG_MOD, "stopped");
}
