/*
 * rpc_server.c - rep0 server: N contexts, each an aio-driven state machine.
 *
 * Design notes
 * ------------
 * Each context ("worker", struct rpc_request) owns one nng_ctx and two aios
 * and loops:
 *
 *     recv_aio: nng_ctx_recv --> on_recv: decode, check version and code
 *                                   |
 *                   handler(req) ---+--- or the layer's own error reply
 *                                   |
 *     rpc_reply(req), any thread, exactly once
 *                                   |
 *     send_aio: nng_ctx_send --> on_sent: nng_ctx_recv again (unless stopping)
 *
 * Ownership: between on_recv taking a message and on_sent re-arming the
 * receive, the worker belongs to whoever holds the request (the handler, or
 * the layer while it answers an error); nng owns it otherwise. on_recv never
 * touches the worker after calling the handler, because the handler may
 * already have replied from another thread and the worker may be receiving
 * the next request. Every received frame therefore completes exactly once:
 * one reply, or, when the server is stopping or out of memory, one drop.
 *
 * Locking: srv->mtx guards `stopping`, `busy`, `sending` and the counters. `busy`
 * counts workers outside nng's hands (taken by on_recv, released after the
 * send is handed back to nng or abandoned); rpc_server_close() waits for it
 * to reach 0 before stopping the aios, so no callback, handler or reply
 * can touch freed memory. on_recv checks `stopping` under the lock when it
 * takes a worker, so close never misses one. No lock is held while calling
 * a handler or any nng function.
 *
 * Stopping: `stopping` is set first, so nothing re-arms a receive or starts
 * a send any more; each receive aio is stopped; replies already handed to
 * nng (`sending`) get a bounded time to leave; only then is the socket
 * closed. nng 1.5.2's nng_close() could hang for good when it raced context
 * sends in progress, which this order avoids.
 *
 * Threads: the layer starts none. Callbacks and handlers run on nng's task
 * threads, replies may come from any thread. The handler table is written
 * only before start and read-only afterwards.
 *
 * Closed connections: when the owner asked for it, nng_pipe_notify()
 * (NNG_PIPE_EV_REM_POST) calls on_pipe_removed on nng's pipe reaper once per
 * closed pipe. It forwards the pipe id unless the server is stopping. nng
 * removes a pipe from its socket only after that callback returned, and
 * nng_close() waits until every pipe is gone, so no call outlives
 * rpc_server_stop().
 */
#include "rpc/rpc_server.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "rpc/rpc_codes.h"

#include <assert.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "rpc"

/* Smallest frame limit accepted, so an error reply always fits a request. */
#define RPC_FRAME_BYTES_MIN 1024

enum worker_phase {
    PHASE_NNG = 0, /* nng holds it: receiving or sending */
    PHASE_HELD,    /* taken by on_recv, not answered yet */
};

struct rpc_request {
    rpc_server_t *srv;
    nng_ctx ctx;
    nng_aio *recv_aio;
    nng_aio *send_aio;
    Rill__Request *msg; /* decoded request while held; freed by rpc_reply */
    uint64_t opaque;
    uint32_t pipe_id;
    _Atomic int phase; /* asserts exactly-once replies */
};

typedef struct {
    rpc_handler_fn fn;
    void *arg;
} handler_entry_t;

struct rpc_server {
    rpc_server_opts_t opts;
    handler_entry_t handlers[RPC_HANDLER_CODES_MAX];
    rpc_pipe_closed_fn pipe_closed; /* written before start only */
    void *pipe_closed_arg;
    nng_socket sock;
    nng_listener listener;
    bool sock_open;
    bool started;
    int port;
    rpc_request_t *workers;
    uint32_t workers_ready; /* workers whose ctx and aios exist */

    pthread_mutex_t mtx;
    pthread_cond_t drained; /* monotonic; signalled when busy drops to 0 while stopping */
    bool stopping;
    uint32_t busy;    /* workers held by a handler or being answered */
    uint32_t sending; /* replies handed to nng_ctx_send, on_sent not run yet */
    rpc_server_stats_t stats;
};

static void on_recv(void *arg);
static void on_sent(void *arg);

int rpc_server_create(rpc_server_t **out, const rpc_server_opts_t *opts)
{
    rpc_server_opts_t o = {0};
    if (opts)
        o = *opts;
    if (o.contexts == 0)
        o.contexts = RPC_SERVER_CONTEXTS_DEFAULT;
    if (o.frame_bytes_max == 0)
        o.frame_bytes_max = RPC_SERVER_FRAME_BYTES_DEFAULT;
    if (o.contexts < RPC_SERVER_CONTEXTS_MIN || o.contexts > RPC_SERVER_CONTEXTS_MAX ||
        o.frame_bytes_max < RPC_FRAME_BYTES_MIN)
        return RILL_EINVAL;

    rpc_server_t *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return ENOMEM;
    int rc = pthread_mutex_init(&srv->mtx, NULL);
    if (rc != 0) {
        free(srv);
        return rc;
    }
    rc = rill_cond_init_monotonic(&srv->drained);
    if (rc != 0) {
        pthread_mutex_destroy(&srv->mtx);
        free(srv);
        return rc;
    }
    srv->opts = o;
    *out = srv;
    return 0;
}

int rpc_server_set_handler(rpc_server_t *srv, int code, rpc_handler_fn fn, void *arg)
{
    assert(srv != NULL);
    if (code <= 0 || code >= RPC_HANDLER_CODES_MAX || srv->started)
        return RILL_EINVAL;
    srv->handlers[code].fn = fn;
    srv->handlers[code].arg = arg;
    return 0;
}

int rpc_server_set_pipe_closed(rpc_server_t *srv, rpc_pipe_closed_fn fn, void *arg)
{
    assert(srv != NULL);
    if (srv->started)
        return RILL_EINVAL;
    srv->pipe_closed = fn;
    srv->pipe_closed_arg = arg;
    return 0;
}

static void on_pipe_removed(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    rpc_server_t *srv = arg;
    assert(ev == NNG_PIPE_EV_REM_POST);
    (void)ev;
    pthread_mutex_lock(&srv->mtx);
    bool stopping = srv->stopping;
    pthread_mutex_unlock(&srv->mtx);
    if (stopping)
        return;
    int id = nng_pipe_id(pipe);
    LOG_DEBUG(LOG_MOD, "connection %d closed", id);
    if (id > 0)
        srv->pipe_closed((uint32_t)id, srv->pipe_closed_arg);
}

int rpc_server_start(rpc_server_t *srv, const char *url)
{
    assert(srv != NULL);
    if (url == NULL || srv->started)
        return RILL_EINVAL;
    srv->started = true;

    int rv = nng_rep0_open(&srv->sock);
    if (rv != 0)
        goto fail;
    srv->sock_open = true;
    /* Before the listener exists, so no pipe escapes the notification. */
    if (srv->pipe_closed != NULL) {
        rv = nng_pipe_notify(srv->sock, NNG_PIPE_EV_REM_POST, on_pipe_removed, srv);
        if (rv != 0)
            goto fail;
    }
    /* Set on the socket before the listener exists, so the listener and every
     * pipe it accepts inherit the limit. */
    rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, srv->opts.frame_bytes_max);
    if (rv != 0)
        goto fail;

    srv->workers = calloc(srv->opts.contexts, sizeof(*srv->workers));
    if (srv->workers == NULL) {
        rv = NNG_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < srv->opts.contexts; i++) {
        rpc_request_t *w = &srv->workers[i];
        w->srv = srv;
        if ((rv = nng_aio_alloc(&w->recv_aio, on_recv, w)) != 0)
            goto fail;
        if ((rv = nng_aio_alloc(&w->send_aio, on_sent, w)) != 0) {
            nng_aio_free(w->recv_aio);
            goto fail;
        }
        if ((rv = nng_ctx_open(&w->ctx, srv->sock)) != 0) {
            nng_aio_free(w->send_aio);
            nng_aio_free(w->recv_aio);
            goto fail;
        }
        srv->workers_ready++;
    }

    rv = nng_listener_create(&srv->listener, srv->sock, url);
    if (rv != 0)
        goto fail;
    rv = nng_listener_set_size(srv->listener, NNG_OPT_RECVMAXSZ, srv->opts.frame_bytes_max);
    if (rv != 0)
        goto fail;
    rv = nng_listener_start(srv->listener, 0);
    if (rv != 0)
        goto fail;
    int port = 0;
    if (nng_listener_get_int(srv->listener, NNG_OPT_TCP_BOUND_PORT, &port) == 0)
        srv->port = port;

    for (uint32_t i = 0; i < srv->workers_ready; i++)
        nng_ctx_recv(srv->workers[i].ctx, srv->workers[i].recv_aio);
    LOG_INFO(LOG_MOD, "listening on %s (port %d, %u contexts, frames up to %zu bytes)", url,
             srv->port, srv->opts.contexts, srv->opts.frame_bytes_max);
    return 0;

fail:
    LOG_ERROR(LOG_MOD, "cannot serve %s: %s", url, nng_strerror(rv));
    return rpc_from_nng(rv);
}

int rpc_server_port(const rpc_server_t *srv)
{
    return srv ? srv->port : 0;
}

uint32_t rpc_request_pipe_id(const rpc_request_t *req)
{
    return req->pipe_id;
}

void rpc_server_stats(rpc_server_t *srv, rpc_server_stats_t *out)
{
    pthread_mutex_lock(&srv->mtx);
    *out = srv->stats;
    out->in_handler = srv->busy;
    pthread_mutex_unlock(&srv->mtx);
}

/* Give a worker back to nng: receive the next request unless stopping. */
static void worker_release(rpc_request_t *w)
{
    rpc_server_t *srv = w->srv;
    pthread_mutex_lock(&srv->mtx);
    bool stopping = srv->stopping;
    pthread_mutex_unlock(&srv->mtx);
    /* If stop lands right after the check, the receive fails with NNG_ECLOSED. */
    if (!stopping)
        nng_ctx_recv(w->ctx, w->recv_aio);
    pthread_mutex_lock(&srv->mtx);
    assert(srv->busy > 0);
    if (--srv->busy == 0 && srv->stopping)
        pthread_cond_broadcast(&srv->drained);
    pthread_mutex_unlock(&srv->mtx);
}

/* The layer's own answer to a request no handler sees. */
static void reply_error(rpc_request_t *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_error(rpc_request_t *w, int code, const char *fmt, ...)
{
    char remark[RPC_REMARK_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(remark, sizeof(remark), fmt, ap);
    va_end(ap);
    rpc_reply_code(w, code, remark);
}

static void on_recv(void *arg)
{
    rpc_request_t *w = arg;
    rpc_server_t *srv = w->srv;
    int rv = nng_aio_result(w->recv_aio);
    if (rv != 0) {
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            return; /* stopping: this worker is done */
        LOG_WARN(LOG_MOD, "receive failed: %s", nng_strerror(rv));
        pthread_mutex_lock(&srv->mtx);
        bool stopping = srv->stopping;
        pthread_mutex_unlock(&srv->mtx);
        if (!stopping)
            nng_ctx_recv(w->ctx, w->recv_aio);
        return;
    }
    nng_msg *frame = nng_aio_get_msg(w->recv_aio);
    nng_aio_set_msg(w->recv_aio, NULL);

    pthread_mutex_lock(&srv->mtx);
    bool stopping = srv->stopping;
    if (!stopping) {
        srv->busy++;
        srv->stats.received++;
    }
    pthread_mutex_unlock(&srv->mtx);
    if (stopping) {
        nng_msg_free(frame); /* arrived as the socket closed: dropped, never answered */
        return;
    }

    int expected = PHASE_NNG;
    bool took = atomic_compare_exchange_strong(&w->phase, &expected, PHASE_HELD);
    assert(took && "a worker received while still held");
    (void)took;
    w->pipe_id = nng_pipe_id(nng_msg_get_pipe(frame));
    w->opaque = 0;
    w->msg = rill__request__unpack(NULL, nng_msg_len(frame), nng_msg_body(frame));
    size_t frame_len = nng_msg_len(frame);
    nng_msg_free(frame);

    if (w->msg == NULL) {
        pthread_mutex_lock(&srv->mtx);
        srv->stats.malformed++;
        pthread_mutex_unlock(&srv->mtx);
        LOG_DEBUG(LOG_MOD, "malformed request of %zu bytes from pipe %u", frame_len, w->pipe_id);
        reply_error(w, RILL__RESPONSE_CODE__SYSTEM_ERROR,
                    "malformed request: %zu bytes that are not a Request", frame_len);
        return;
    }
    w->opaque = w->msg->opaque;
    if (w->msg->version != RPC_PROTOCOL_VERSION) {
        pthread_mutex_lock(&srv->mtx);
        srv->stats.bad_version++;
        pthread_mutex_unlock(&srv->mtx);
        reply_error(w, RILL__RESPONSE_CODE__VERSION_NOT_SUPPORTED,
                    "protocol version %u not supported; this server speaks %d", w->msg->version,
                    RPC_PROTOCOL_VERSION);
        return;
    }
    int code = w->msg->code;
    const handler_entry_t *h =
        (code > 0 && code < RPC_HANDLER_CODES_MAX) ? &srv->handlers[code] : NULL;
    if (h == NULL || h->fn == NULL) {
        pthread_mutex_lock(&srv->mtx);
        srv->stats.unsupported++;
        pthread_mutex_unlock(&srv->mtx);
        reply_error(w, RILL__RESPONSE_CODE__REQUEST_CODE_NOT_SUPPORTED,
                    "request code %d (%s) not supported", code, rpc_request_code_name(code));
        return;
    }
    pthread_mutex_lock(&srv->mtx);
    srv->stats.dispatched++;
    pthread_mutex_unlock(&srv->mtx);
    /* Ownership passes to the handler: w must not be touched after this call. */
    h->fn(w, w->msg, h->arg);
}

static void on_sent(void *arg)
{
    rpc_request_t *w = arg;
    int rv = nng_aio_result(w->send_aio);
    if (rv != 0) {
        /* On failure the message is still ours. */
        nng_msg_free(nng_aio_get_msg(w->send_aio));
        nng_aio_set_msg(w->send_aio, NULL);
        if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
            LOG_DEBUG(LOG_MOD, "reply to pipe %u not sent: %s", w->pipe_id, nng_strerror(rv));
    }
    pthread_mutex_lock(&w->srv->mtx);
    assert(w->srv->sending > 0);
    if (--w->srv->sending == 0 && w->srv->stopping)
        pthread_cond_broadcast(&w->srv->drained);
    pthread_mutex_unlock(&w->srv->mtx);
    worker_release(w);
}

/* Pack resp into a new nng message; NULL on failure with *rc set. */
static nng_msg *pack_reply(const Rill__Response *resp, int *rc)
{
    size_t len = rill__response__get_packed_size(resp);
    if (len > RPC_REPLY_BYTES_MAX) {
        *rc = RILL_ETOOBIG;
        return NULL;
    }
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, len) != 0) {
        *rc = ENOMEM;
        return NULL;
    }
    size_t packed = rill__response__pack(resp, nng_msg_body(m));
    assert(packed == len);
    (void)packed;
    return m;
}

int rpc_reply(rpc_request_t *req, const Rill__Response *resp)
{
    assert(req != NULL && resp != NULL);
    rpc_request_t *w = req;
    rpc_server_t *srv = w->srv;
    int expected = PHASE_HELD;
    bool held = atomic_compare_exchange_strong(&w->phase, &expected, PHASE_NNG);
    assert(held && "rpc_reply called twice for one request");
    (void)held;

    Rill__Response out = *resp;
    out.opaque = w->opaque;
    int rc = 0;
    nng_msg *m = pack_reply(&out, &rc);
    if (m == NULL && rc == RILL_ETOOBIG) {
        LOG_WARN(LOG_MOD, "reply to %s is larger than %u bytes; sending SYSTEM_ERROR",
                 w->msg ? rpc_request_code_name(w->msg->code) : "?", RPC_REPLY_BYTES_MAX);
        Rill__Response err = RILL__RESPONSE__INIT;
        err.code = RILL__RESPONSE_CODE__SYSTEM_ERROR;
        err.remark = "reply too large";
        err.opaque = w->opaque;
        int rc2 = 0;
        m = pack_reply(&err, &rc2);
    }
    /* The reply is packed: the request (which resp may point into) can go. */
    rill__request__free_unpacked(w->msg, NULL);
    w->msg = NULL;

    pthread_mutex_lock(&srv->mtx);
    bool stopping = srv->stopping;
    if (!stopping && m != NULL) {
        srv->stats.replied++;
        srv->sending++;
    }
    pthread_mutex_unlock(&srv->mtx);
    if (stopping || m == NULL) {
        nng_msg_free(m);
        worker_release(w);
        return stopping ? RILL_ECLOSED : rc;
    }
    nng_aio_set_msg(w->send_aio, m);
    nng_ctx_send(w->ctx, w->send_aio);
    return rc;
}

int rpc_reply_code(rpc_request_t *req, int code, const char *remark)
{
    Rill__Response resp = RILL__RESPONSE__INIT;
    resp.code = code;
    /* protobuf-c packs strings with strlen, so the cast only drops const. */
    resp.remark = (char *)(remark ? remark : "");
    return rpc_reply(req, &resp);
}

void rpc_server_stop(rpc_server_t *srv)
{
    if (srv == NULL)
        return;
    pthread_mutex_lock(&srv->mtx);
    bool was = srv->stopping;
    srv->stopping = true;
    pthread_mutex_unlock(&srv->mtx);
    if (was || !srv->sock_open)
        return;
    /* Quiesce before closing: nng 1.5.2's nng_close() can hang for good when
     * it races context sends in progress (seen under load in
     * close_answers_nothing_twice_under_load). So: no more receives (stopping
     * keeps them from being re-armed; stopping each receive waits for an
     * on_recv still running), then let the replies already handed to nng
     * leave, then close. */
    for (uint32_t i = 0; i < srv->workers_ready; i++)
        nng_aio_stop(srv->workers[i].recv_aio);
    struct timespec deadline;
    rill_deadline_after_ms(&deadline, RPC_SERVER_SEND_DRAIN_MS_MAX);
    pthread_mutex_lock(&srv->mtx);
    while (srv->sending > 0)
        if (pthread_cond_timedwait(&srv->drained, &srv->mtx, &deadline) == ETIMEDOUT)
            break;
    uint32_t stuck = srv->sending;
    pthread_mutex_unlock(&srv->mtx);
    if (stuck > 0)
        LOG_WARN(LOG_MOD, "%u replies still queued after %d ms; closing anyway", stuck,
                 RPC_SERVER_SEND_DRAIN_MS_MAX);
    nng_listener_close(srv->listener);
    nng_close(srv->sock); /* aborts what is left with NNG_ECLOSED */
    LOG_INFO(LOG_MOD, "stopped serving port %d", srv->port);
}

void rpc_server_close(rpc_server_t *srv)
{
    if (srv == NULL)
        return;
    rpc_server_stop(srv);

    struct timespec deadline;
    rill_deadline_after_ms(&deadline, RPC_SERVER_DRAIN_MS_MAX);
    pthread_mutex_lock(&srv->mtx);
    while (srv->busy > 0) {
        if (pthread_cond_timedwait(&srv->drained, &srv->mtx, &deadline) == ETIMEDOUT &&
            srv->busy > 0) {
            LOG_ERROR(LOG_MOD, "%u requests never answered after %d ms", srv->busy,
                      RPC_SERVER_DRAIN_MS_MAX);
            assert(!"a handler kept a request without rpc_reply()");
            break;
        }
    }
    pthread_mutex_unlock(&srv->mtx);

    /* busy == 0: no worker is held, so only nng callbacks can still run;
     * nng_aio_free() stops each aio and waits for its callback. Sends first:
     * on_sent may re-arm the receive. */
    for (uint32_t i = 0; i < srv->workers_ready; i++)
        nng_aio_stop(srv->workers[i].send_aio);
    for (uint32_t i = 0; i < srv->workers_ready; i++) {
        rpc_request_t *w = &srv->workers[i];
        nng_aio_free(w->recv_aio);
        nng_aio_free(w->send_aio);
        assert(w->msg == NULL);
    }
    free(srv->workers);
    pthread_cond_destroy(&srv->drained);
    pthread_mutex_destroy(&srv->mtx);
    free(srv);
}
