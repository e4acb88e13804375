/*
 * rpc_client.c - req0 client: a fixed pool of call slots, each an nng
 * context and an aio driving one call at a time.
 *
 * Design notes
 * ------------
 * A call is a two-step state machine on its slot's aio:
 *
 *     rpc_client_call_async: take a free slot, nng_ctx_send(timeout = budget)
 *        -> on_slot(SEND): nng_ctx_recv(timeout = what is left of the budget)
 *        -> on_slot(RECV): decode the Response -> finish: free the slot, run cb
 *
 * The send completes when req0 hands the request to a connection, so a call
 * made while no connection exists waits (bounded by its timeout) rather
 * than failing at once; a timeout with no connection up is reported as
 * RILL_ECONNREFUSED, with one as RILL_ETIMEDOUT.
 *
 * Ownership: a slot on the free list belongs to the client; a taken slot
 * belongs to its call until finish() puts it back, which happens exactly
 * once per accepted call, after the user's callback returned (a callback may
 * start a new call on another free slot).
 *
 * Locking: cli->mtx guards the free list, `inflight` and `closing`. No lock
 * is held across nng calls or user callbacks. rpc_client_close() closes the
 * socket (every pending aio ends with NNG_ECLOSED), waits for `inflight` to
 * reach 0, then frees the aios, which waits for callbacks still returning.
 *
 * Threads: the client starts none; callbacks run on nng's task threads.
 * rpc_client_call() waits on a condition variable of its own stack frame.
 */
#include "rpc/rpc_client.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "rpc/rpc_codes.h"

#include <assert.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "rpc"

/* How long past its own timeout rpc_client_call() waits before it logs that
 * nng has not completed the call (it keeps waiting: the frame is on its stack). */
#define RPC_SYNC_GRACE_MS 5000

enum slot_phase { SLOT_FREE = 0, SLOT_SEND, SLOT_RECV };

typedef struct call_slot {
    rpc_client_t *cli;
    nng_ctx ctx;
    nng_aio *aio;
    enum slot_phase phase;
    uint64_t deadline_ms; /* monotonic */
    uint64_t opaque;
    rpc_client_cb cb;
    void *cb_arg;
    struct call_slot *next_free;
} call_slot_t;

struct rpc_client {
    rpc_client_opts_t opts;
    nng_socket sock;
    nng_dialer dialer;
    call_slot_t *slots;
    uint32_t slots_ready;
    _Atomic uint64_t next_opaque;
    _Atomic int pipes; /* connections up right now */

    pthread_mutex_t mtx;
    pthread_cond_t idle; /* monotonic; signalled when inflight drops to 0 while closing */
    call_slot_t *free_list;
    uint32_t inflight;
    bool closing;
    uint32_t arming; /* threads inside nng_ctx_send/recv on a slot (see arm()) */
};

static void on_slot(void *arg);

static void on_pipe(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    rpc_client_t *cli = arg;
    (void)pipe;
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_fetch_add(&cli->pipes, 1);
    else if (ev == NNG_PIPE_EV_REM_POST)
        atomic_fetch_sub(&cli->pipes, 1);
}

int rpc_client_open(rpc_client_t **out, const char *url, const rpc_client_opts_t *opts)
{
    rpc_client_opts_t o = {0};
    if (opts)
        o = *opts;
    if (o.inflight_max == 0)
        o.inflight_max = RPC_CLIENT_INFLIGHT_DEFAULT;
    if (o.frame_bytes_max == 0)
        o.frame_bytes_max = RPC_CLIENT_FRAME_BYTES_DEFAULT;
    if (url == NULL || o.inflight_max > RPC_CLIENT_INFLIGHT_MAX || o.frame_bytes_max < 1024)
        return RILL_EINVAL;

    rpc_client_t *cli = calloc(1, sizeof(*cli));
    if (cli == NULL)
        return ENOMEM;
    cli->opts = o;
    bool sock_open = false, mtx_ok = false, cond_ok = false;
    int rc = 0, rv = 0;
    if ((rc = pthread_mutex_init(&cli->mtx, NULL)) != 0)
        goto fail;
    mtx_ok = true;
    if ((rc = rill_cond_init_monotonic(&cli->idle)) != 0)
        goto fail;
    cond_ok = true;

    if ((rv = nng_req0_open(&cli->sock)) != 0)
        goto fail_nng;
    sock_open = true;
    /* Before any context exists: contexts copy the socket's resend time. */
    if ((rv = nng_socket_set_ms(cli->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
        (rv = nng_socket_set_size(cli->sock, NNG_OPT_RECVMAXSZ, o.frame_bytes_max)) != 0 ||
        (rv = nng_socket_set_ms(cli->sock, NNG_OPT_RECONNMINT, RPC_RECONNECT_MS_MIN)) != 0 ||
        (rv = nng_socket_set_ms(cli->sock, NNG_OPT_RECONNMAXT, RPC_RECONNECT_MS_MAX)) != 0 ||
        (rv = nng_pipe_notify(cli->sock, NNG_PIPE_EV_ADD_POST, on_pipe, cli)) != 0 ||
        (rv = nng_pipe_notify(cli->sock, NNG_PIPE_EV_REM_POST, on_pipe, cli)) != 0)
        goto fail_nng;

    cli->slots = calloc(o.inflight_max, sizeof(*cli->slots));
    if (cli->slots == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < o.inflight_max; i++) {
        call_slot_t *s = &cli->slots[i];
        s->cli = cli;
        if ((rv = nng_aio_alloc(&s->aio, on_slot, s)) != 0)
            goto fail_nng;
        if ((rv = nng_ctx_open(&s->ctx, cli->sock)) != 0) {
            nng_aio_free(s->aio);
            goto fail_nng;
        }
        nng_ctx_set_ms(s->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        s->next_free = cli->free_list;
        cli->free_list = s;
        cli->slots_ready++;
    }

    if ((rv = nng_dialer_create(&cli->dialer, cli->sock, url)) != 0 ||
        (rv = nng_dialer_set_size(cli->dialer, NNG_OPT_RECVMAXSZ, o.frame_bytes_max)) != 0 ||
        (rv = nng_dialer_start(cli->dialer, NNG_FLAG_NONBLOCK)) != 0)
        goto fail_nng;
    *out = cli;
    return 0;

fail_nng:
    LOG_ERROR(LOG_MOD, "cannot open a client for %s: %s", url, nng_strerror(rv));
    rc = rpc_from_nng(rv);
fail:
    if (sock_open)
        nng_close(cli->sock);
    for (uint32_t i = 0; i < cli->slots_ready; i++)
        nng_aio_free(cli->slots[i].aio);
    free(cli->slots);
    if (cond_ok)
        pthread_cond_destroy(&cli->idle);
    if (mtx_ok)
        pthread_mutex_destroy(&cli->mtx);
    free(cli);
    return rc;
}

/*
 * End a call exactly once: tell the caller, then give the slot back. The
 * slot returns to the free list only after the callback, so no other thread
 * can start an operation on this aio while nng is still running its
 * completion callback (nng 1.5.2 panics on such reuse under load).
 */
static void finish(call_slot_t *s, int rc, Rill__Response *resp)
{
    rpc_client_t *cli = s->cli;
    rpc_client_cb cb = s->cb;
    void *cb_arg = s->cb_arg;
    assert(s->phase != SLOT_FREE);
    s->phase = SLOT_FREE;
    s->cb = NULL;
    s->cb_arg = NULL;
    cb(rc, resp, cb_arg);

    pthread_mutex_lock(&cli->mtx);
    s->next_free = cli->free_list;
    cli->free_list = s;
    assert(cli->inflight > 0);
    if (--cli->inflight == 0 && cli->closing)
        pthread_cond_broadcast(&cli->idle);
    pthread_mutex_unlock(&cli->mtx);
}

/* An nng failure of a call, as the caller sees it. */
static int call_error(rpc_client_t *cli, int rv)
{
    /* Closing resets the connections first, so calls may see NNG_ECONNRESET. */
    pthread_mutex_lock(&cli->mtx);
    bool closing = cli->closing;
    pthread_mutex_unlock(&cli->mtx);
    if (closing)
        return RILL_ECLOSED;
    if (rv == NNG_ETIMEDOUT && atomic_load(&cli->pipes) == 0)
        return RILL_ECONNREFUSED;
    return rpc_from_nng(rv);
}

/*
 * Start the next nng operation of a slot unless the client is closing.
 * nng 1.5.2 can panic ("pthread_mutex_lock: Invalid argument") when
 * nng_ctx_send/recv runs while nng_close() tears the socket down, so every
 * such call is counted under the lock and rpc_client_close() waits for the
 * count to drop to 0 before it closes the socket; after `closing` is set no
 * new call starts. Returns false (nothing started) when closing.
 */
static bool arm(call_slot_t *s, bool recv)
{
    rpc_client_t *cli = s->cli;
    pthread_mutex_lock(&cli->mtx);
    if (cli->closing) {
        pthread_mutex_unlock(&cli->mtx);
        return false;
    }
    cli->arming++;
    pthread_mutex_unlock(&cli->mtx);
    if (recv)
        nng_ctx_recv(s->ctx, s->aio);
    else
        nng_ctx_send(s->ctx, s->aio);
    pthread_mutex_lock(&cli->mtx);
    if (--cli->arming == 0 && cli->closing)
        pthread_cond_broadcast(&cli->idle);
    pthread_mutex_unlock(&cli->mtx);
    return true;
}

static void on_slot(void *arg)
{
    call_slot_t *s = arg;
    rpc_client_t *cli = s->cli;
    int rv = nng_aio_result(s->aio);

    if (s->phase == SLOT_SEND) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(s->aio)); /* a failed send leaves it with us */
            nng_aio_set_msg(s->aio, NULL);
            finish(s, call_error(cli, rv), NULL);
            return;
        }
        uint64_t now = rill_mono_ms();
        if (now >= s->deadline_ms) {
            finish(s, RILL_ETIMEDOUT, NULL);
            return;
        }
        s->phase = SLOT_RECV;
        nng_aio_set_timeout(s->aio, (nng_duration)(s->deadline_ms - now));
        if (!arm(s, true))
            finish(s, RILL_ECLOSED, NULL);
        return;
    }

    assert(s->phase == SLOT_RECV);
    if (rv != 0) {
        finish(s, call_error(cli, rv), NULL);
        return;
    }
    nng_msg *m = nng_aio_get_msg(s->aio);
    nng_aio_set_msg(s->aio, NULL);
    Rill__Response *resp = rill__response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    if (resp == NULL) {
        LOG_WARN(LOG_MOD, "reply to call %llu is not a Response", (unsigned long long)s->opaque);
        finish(s, RILL_ECORRUPT, NULL);
        return;
    }
    if (resp->opaque != s->opaque) {
        LOG_WARN(LOG_MOD, "reply opaque %llu does not match call %llu",
                 (unsigned long long)resp->opaque, (unsigned long long)s->opaque);
        rill__response__free_unpacked(resp, NULL);
        finish(s, RILL_ECORRUPT, NULL);
        return;
    }
    finish(s, 0, resp);
}

int rpc_client_call_async(rpc_client_t *cli, const Rill__Request *req, uint32_t timeout_ms,
                          rpc_client_cb cb, void *arg)
{
    if (cli == NULL || req == NULL || cb == NULL || timeout_ms == 0 ||
        timeout_ms > RPC_CALL_TIMEOUT_MS_MAX)
        return RILL_EINVAL;

    Rill__Request out = *req;
    out.opaque = atomic_fetch_add(&cli->next_opaque, 1) + 1;
    if (out.version == 0)
        out.version = RPC_PROTOCOL_VERSION;
    size_t len = rill__request__get_packed_size(&out);
    if (len > cli->opts.frame_bytes_max)
        return RILL_ETOOBIG;
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, len) != 0)
        return ENOMEM;
    rill__request__pack(&out, nng_msg_body(m));

    pthread_mutex_lock(&cli->mtx);
    call_slot_t *s = cli->closing ? NULL : cli->free_list;
    int rc = cli->closing ? RILL_ECLOSED : RILL_EBUSY;
    if (s != NULL) {
        cli->free_list = s->next_free;
        cli->inflight++;
    }
    pthread_mutex_unlock(&cli->mtx);
    if (s == NULL) {
        nng_msg_free(m);
        return rc;
    }

    assert(s->phase == SLOT_FREE);
    s->next_free = NULL;
    s->phase = SLOT_SEND;
    s->opaque = out.opaque;
    s->cb = cb;
    s->cb_arg = arg;
    s->deadline_ms = rill_mono_ms() + timeout_ms;
    nng_aio_set_msg(s->aio, m);
    nng_aio_set_timeout(s->aio, (nng_duration)timeout_ms);
    if (!arm(s, false)) {
        /* closed meanwhile: the call was accepted, so it ends through cb */
        nng_aio_set_msg(s->aio, NULL);
        nng_msg_free(m);
        finish(s, RILL_ECLOSED, NULL);
    }
    return 0;
}

typedef struct {
    pthread_mutex_t mtx;
    pthread_cond_t cond;
    bool done;
    int rc;
    Rill__Response *resp;
} sync_wait_t;

static void sync_done(int rc, Rill__Response *resp, void *arg)
{
    sync_wait_t *w = arg;
    pthread_mutex_lock(&w->mtx);
    w->rc = rc;
    w->resp = resp;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mtx);
}

int rpc_client_call(rpc_client_t *cli, const Rill__Request *req, uint32_t timeout_ms,
                    Rill__Response **out)
{
    if (out == NULL)
        return RILL_EINVAL;
    sync_wait_t w = {.done = false};
    int rc = pthread_mutex_init(&w.mtx, NULL);
    if (rc != 0)
        return rc;
    if ((rc = rill_cond_init_monotonic(&w.cond)) != 0) {
        pthread_mutex_destroy(&w.mtx);
        return rc;
    }
    rc = rpc_client_call_async(cli, req, timeout_ms, sync_done, &w);
    if (rc == 0) {
        struct timespec deadline;
        rill_deadline_after_ms(&deadline, (uint64_t)timeout_ms + RPC_SYNC_GRACE_MS);
        pthread_mutex_lock(&w.mtx);
        while (!w.done) {
            if (pthread_cond_timedwait(&w.cond, &w.mtx, &deadline) == ETIMEDOUT && !w.done) {
                /* nng always completes a timed aio; keep waiting, but say so. */
                LOG_WARN(LOG_MOD, "call not completed %d ms after its timeout", RPC_SYNC_GRACE_MS);
                rill_deadline_after_ms(&deadline, RPC_SYNC_GRACE_MS);
            }
        }
        pthread_mutex_unlock(&w.mtx);
        rc = w.rc;
        if (rc == 0)
            *out = w.resp;
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.mtx);
    return rc;
}

void rpc_response_free(Rill__Response *resp)
{
    if (resp)
        rill__response__free_unpacked(resp, NULL);
}

void rpc_client_close(rpc_client_t *cli)
{
    if (cli == NULL)
        return;
    pthread_mutex_lock(&cli->mtx);
    cli->closing = true;
    while (cli->arming > 0) /* no nng_ctx_send/recv may race nng_close (see arm()) */
        pthread_cond_wait(&cli->idle, &cli->mtx);
    pthread_mutex_unlock(&cli->mtx);
    /* Every pending send and receive now ends with NNG_ECLOSED. */
    nng_close(cli->sock);
    pthread_mutex_lock(&cli->mtx);
    while (cli->inflight > 0)
        pthread_cond_wait(&cli->idle, &cli->mtx);
    pthread_mutex_unlock(&cli->mtx);
    for (uint32_t i = 0; i < cli->slots_ready; i++)
        nng_aio_free(cli->slots[i].aio);
    free(cli->slots);
    pthread_cond_destroy(&cli->idle);
    pthread_mutex_destroy(&cli->mtx);
    free(cli);
}
