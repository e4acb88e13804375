/*
 * brokers.c - one rpc_client_t per broker address, and which brokers are
 * down.
 *
 * A connection is opened on first use ("tcp://<addr>", RC_BROKER_INFLIGHT_MAX
 * calls in flight so one producer can keep thousands of async sends going)
 * and kept until the client closes, so the pointer rc_broker_conn() hands
 * out stays valid that long; rpc_client_t redials a broker that restarts.
 * The table is bounded (RC_BROKERS_MAX addresses); br_lock guards it and is
 * never held during a call. A transport failure marks an address down for
 * RC_BROKER_DOWN_MS, which only rc_set_read_addr() looks at: reads move to a
 * slave while the master is unreachable, and come back after a success or
 * when the window passes.
 */
#include "client/src/client_int.h"

#include "common/clock.h"
#include "common/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The entry for addr, or NULL; br_lock held. */
static rc_broker_t *br_find(rc_client_t *cli, const char *addr)
{
    for (size_t i = 0; i < cli->n_brokers; i++)
        if (strcmp(cli->brokers[i].addr, addr) == 0)
            return &cli->brokers[i];
    return NULL;
}

int rc_broker_conn(rc_client_t *cli, const char *addr, rpc_client_t **out)
{
    if (addr == NULL || addr[0] == '\0' || strlen(addr) >= RC_ADDR_BYTES)
        return rc_fail(RILL_EINVAL, "bad broker address '%s'", addr ? addr : "(null)");
    pthread_mutex_lock(&cli->br_lock);
    rc_broker_t *b = br_find(cli, addr);
    int rc = 0;
    if (b == NULL) {
        if (cli->n_brokers == RC_BROKERS_MAX) {
            pthread_mutex_unlock(&cli->br_lock);
            return rc_fail(RILL_EBUSY, "connections to %d brokers already open", RC_BROKERS_MAX);
        }
        char url[RC_ADDR_BYTES + 8];
        snprintf(url, sizeof(url), "tcp://%s", addr);
        rpc_client_opts_t opts = {.inflight_max = RC_BROKER_INFLIGHT_MAX};
        rpc_client_t *conn = NULL;
        /* rpc_client_open() dials in the background: holding the lock is brief */
        rc = rpc_client_open(&conn, url, &opts);
        if (rc != 0) {
            pthread_mutex_unlock(&cli->br_lock);
            return rc_fail(rc, "cannot open a connection to broker %s: %s", addr,
                           rill_strerror(rc));
        }
        b = &cli->brokers[cli->n_brokers];
        snprintf(b->addr, sizeof(b->addr), "%s", addr);
        b->conn = conn;
        b->down_since_ms = 0;
        cli->n_brokers++;
    }
    *out = b->conn;
    pthread_mutex_unlock(&cli->br_lock);
    return 0;
}

void rc_broker_mark_down(rc_client_t *cli, const char *addr)
{
    if (addr == NULL)
        return;
    pthread_mutex_lock(&cli->br_lock);
    rc_broker_t *b = br_find(cli, addr);
    if (b != NULL && b->down_since_ms == 0) {
        uint64_t now = rill_mono_ms();
        b->down_since_ms = now ? now : 1; /* 0 means up */
    }
    pthread_mutex_unlock(&cli->br_lock);
}

void rc_broker_mark_up(rc_client_t *cli, const char *addr)
{
    if (addr == NULL)
        return;
    pthread_mutex_lock(&cli->br_lock);
    rc_broker_t *b = br_find(cli, addr);
    if (b != NULL)
        b->down_since_ms = 0;
    pthread_mutex_unlock(&cli->br_lock);
}

/* Was addr marked down within the last RC_BROKER_DOWN_MS? */
static bool br_is_down(rc_client_t *cli, const char *addr)
{
    pthread_mutex_lock(&cli->br_lock);
    rc_broker_t *b = br_find(cli, addr);
    bool down =
        b != NULL && b->down_since_ms != 0 && rill_mono_ms() < b->down_since_ms + RC_BROKER_DOWN_MS;
    pthread_mutex_unlock(&cli->br_lock);
    return down;
}

const char *rc_set_addr(const rc_broker_set_t *s, int64_t id)
{
    for (size_t i = 0; i < s->n_addrs; i++)
        if (s->ids[i] == id)
            return s->addrs[i];
    return NULL;
}

const char *rc_set_read_addr(rc_client_t *cli, const rc_broker_set_t *s)
{
    const char *master = rc_set_addr(s, 0);
    const char *slave = NULL;
    int64_t slave_id = 0;
    for (size_t i = 0; i < s->n_addrs; i++) {
        if (s->ids[i] > 0 && (slave == NULL || s->ids[i] < slave_id)) {
            slave = s->addrs[i];
            slave_id = s->ids[i];
        }
    }
    if (master != NULL && (slave == NULL || !br_is_down(cli, master)))
        return master;
    return slave ? slave : master;
}

int rc_broker_call(rc_client_t *cli, const char *addr, Rill__Request *req, uint32_t timeout_ms,
                   Rill__Response **out)
{
    if (timeout_ms == 0)
        timeout_ms = (uint32_t)cli->conf->request_timeout_ms;
    if (timeout_ms > RPC_CALL_TIMEOUT_MS_MAX)
        timeout_ms = RPC_CALL_TIMEOUT_MS_MAX;
    rpc_client_t *conn;
    int rc = rc_broker_conn(cli, addr, &conn);
    if (rc != 0)
        return rc;
    Rill__Response *resp = NULL;
    rc = rpc_client_call(conn, req, timeout_ms, &resp);
    if (rc != 0) {
        if (rc == RILL_ETIMEDOUT || rc == RILL_ECONNREFUSED || rc == RILL_ENET ||
            rc == RILL_ECORRUPT)
            rc_broker_mark_down(cli, addr);
        return rc_transport_fail(rc, "", addr, timeout_ms);
    }
    rc_broker_mark_up(cli, addr);
    *out = resp;
    return 0;
}

void rc_brokers_close(rc_client_t *cli)
{
    for (size_t i = 0; i < cli->n_brokers; i++) {
        rpc_client_close(cli->brokers[i].conn);
        cli->brokers[i].conn = NULL;
    }
    cli->n_brokers = 0;
}

size_t rc_client_broker_addrs(rc_client_t *cli, char (*out)[RC_ADDR_BYTES], size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&cli->route_lock);
    for (size_t r = 0; r < cli->n_routes && n < cap; r++) {
        const rc_route_t *route = cli->routes[r]->route;
        for (size_t s = 0; s < route->n_sets && n < cap; s++) {
            const rc_broker_set_t *set = &route->sets[s];
            for (size_t a = 0; a < set->n_addrs && n < cap; a++) {
                bool seen = false;
                for (size_t k = 0; k < n && !seen; k++)
                    seen = strcmp(out[k], set->addrs[a]) == 0;
                if (!seen)
                    snprintf(out[n++], RC_ADDR_BYTES, "%s", set->addrs[a]);
            }
        }
    }
    pthread_mutex_unlock(&cli->route_lock);
    return n;
}
