/*
 * namesrv.c - the NameServer list: parse it, pick one at random, fail over.
 *
 * The "namesrv" key is "host:port;host:port" (RocketMQ's namesrvAddr).
 * Each client starts at a random entry so many clients spread their
 * lookups; rc_namesrv_call() tries the current one and, when it fails in
 * transport, each other one once, round-robin; the one that answers becomes
 * current. Connections are opened on first use and kept until the client
 * closes (an rpc_client_t redials by itself). ns_lock guards the current
 * index and the connection slots, never a call.
 */
#include "client/src/client_int.h"

#include "common/clock.h"
#include "common/errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Is s "host:port" with a non-empty host and a port in [1, 65535]? */
static bool ns_addr_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0')
        return false;
    for (const char *c = s; c < colon; c++)
        if (*c == ';' || *c == '/' || (unsigned char)*c <= ' ')
            return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return *end == '\0' && port >= 1 && port <= 65535 && colon[1] >= '0' && colon[1] <= '9';
}

int rc_namesrv_parse(rc_client_t *cli, const char *list, char *errstr, size_t errstr_size)
{
    char err[256] = "";
    size_t n = 0;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        if (*p == '\0')
            break;
        const char *end = p;
        while (*end && *end != ';')
            end++;
        size_t len = (size_t)(end - p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (n == RC_NAMESRVS_MAX) {
            snprintf(err, sizeof(err), "namesrv list has more than %d addresses", RC_NAMESRVS_MAX);
            goto fail;
        }
        if (len >= RC_ADDR_BYTES) {
            snprintf(err, sizeof(err), "namesrv address '%.*s...' is too long", 32, p);
            goto fail;
        }
        memcpy(cli->ns_addrs[n], p, len);
        cli->ns_addrs[n][len] = '\0';
        if (!ns_addr_ok(cli->ns_addrs[n])) {
            snprintf(err, sizeof(err), "bad namesrv address '%s': expected host:port",
                     cli->ns_addrs[n]);
            goto fail;
        }
        n++;
        p = end;
    }
    if (n == 0) {
        snprintf(err, sizeof(err), "namesrv list is empty");
        goto fail;
    }
    cli->n_ns = n;
    cli->ns_current = (size_t)(rill_mono_ns() ^ (uintptr_t)cli) % n;
    return 0;
fail:
    if (errstr != NULL && errstr_size > 0)
        snprintf(errstr, errstr_size, "%s", err);
    return rc_fail(RILL_ECONFIG, "%s", err);
}

void rc_namesrv_close(rc_client_t *cli)
{
    for (size_t i = 0; i < RC_NAMESRVS_MAX; i++) {
        rpc_client_close(cli->ns_conns[i]);
        cli->ns_conns[i] = NULL;
    }
}

/* The connection to NameServer i, opened on first use. */
static int ns_conn(rc_client_t *cli, size_t i, rpc_client_t **out)
{
    pthread_mutex_lock(&cli->ns_lock);
    int rc = 0;
    if (cli->ns_conns[i] == NULL) {
        char url[RC_ADDR_BYTES + 8];
        snprintf(url, sizeof(url), "tcp://%s", cli->ns_addrs[i]);
        rpc_client_opts_t opts = {.inflight_max = RC_NAMESRV_INFLIGHT_MAX};
        rc = rpc_client_open(&cli->ns_conns[i], url, &opts);
    }
    if (rc == 0)
        *out = cli->ns_conns[i];
    pthread_mutex_unlock(&cli->ns_lock);
    return rc;
}

int rc_transport_fail(int rc, const char *what, const char *addr, uint32_t timeout_ms)
{
    switch (rc) {
    case RILL_ETIMEDOUT:
        return rc_fail(rc, "no answer from %s%s within %u ms", what, addr, timeout_ms);
    case RILL_ECONNREFUSED:
        return rc_fail(rc, "cannot connect to %s%s within %u ms", what, addr, timeout_ms);
    case RILL_ENET:
        return rc_fail(rc, "connection to %s%s failed", what, addr);
    case RILL_ECORRUPT:
        return rc_fail(rc, "malformed answer from %s%s", what, addr);
    case RILL_EBUSY:
        return rc_fail(rc, "too many calls in flight to %s%s", what, addr);
    case RILL_ECLOSED:
        return rc_fail(rc, "connection to %s%s is closed", what, addr);
    default:
        return rc_fail(rc, "call to %s%s failed: %s", what, addr, rill_strerror(rc));
    }
}

/* Transport failures worth trying another NameServer for. */
static bool ns_retriable(int rc)
{
    return rc == RILL_ETIMEDOUT || rc == RILL_ECONNREFUSED || rc == RILL_ENET ||
           rc == RILL_ECORRUPT || rc == RILL_EBUSY;
}

int rc_namesrv_call(rc_client_t *cli, Rill__Request *req, uint32_t timeout_ms, Rill__Response **out)
{
    if (timeout_ms == 0)
        timeout_ms = (uint32_t)cli->conf->request_timeout_ms;
    pthread_mutex_lock(&cli->ns_lock);
    size_t start = cli->ns_current;
    pthread_mutex_unlock(&cli->ns_lock);

    int rc = RILL_ECONNREFUSED;
    for (size_t k = 0; k < cli->n_ns; k++) {
        size_t i = (start + k) % cli->n_ns;
        rpc_client_t *conn;
        rc = ns_conn(cli, i, &conn);
        if (rc != 0) {
            rc_fail(rc, "cannot open a connection to NameServer %s: %s", cli->ns_addrs[i],
                    rill_strerror(rc));
            continue;
        }
        Rill__Response *resp = NULL;
        rc = rpc_client_call(conn, req, timeout_ms, &resp);
        if (rc == 0) {
            pthread_mutex_lock(&cli->ns_lock);
            cli->ns_current = i;
            pthread_mutex_unlock(&cli->ns_lock);
            *out = resp;
            return 0;
        }
        rc_transport_fail(rc, "NameServer ", cli->ns_addrs[i], timeout_ms);
        if (!ns_retriable(rc))
            return rc;
        /* the next call (of any thread) starts at the next one */
        pthread_mutex_lock(&cli->ns_lock);
        if (cli->ns_current == i)
            cli->ns_current = (i + 1) % cli->n_ns;
        pthread_mutex_unlock(&cli->ns_lock);
    }
    if (cli->n_ns > 1) {
        char last[512];
        snprintf(last, sizeof(last), "%s", rill_last_error());
        return rc_fail(rc, "no NameServer of %zu answered; last: %s", cli->n_ns, last);
    }
    return rc;
}

size_t rc_namesrv_addrs(rc_client_t *cli, char (*out)[RC_ADDR_BYTES], size_t cap)
{
    pthread_mutex_lock(&cli->ns_lock);
    size_t n = cli->n_ns < cap ? cli->n_ns : cap;
    memcpy(out, cli->ns_addrs, n * sizeof(cli->ns_addrs[0]));
    pthread_mutex_unlock(&cli->ns_lock);
    return n;
}
