/*
 * rpc_client.h - the client half of Rill's RPC layer: a req0 socket dialing
 * one server, with a fixed pool of call slots so many calls are in flight at
 * once, each on its own nng context.
 *
 * Lifecycle: rpc_client_open(url) -> rpc_client_call()/_call_async() from any
 * number of threads -> rpc_client_close().
 *
 * Every call has a timeout that covers the whole round trip, including the
 * wait for a connection. Requests are never resent by nng
 * (NNG_OPT_REQ_RESENDTIME is off): whether to retry is the caller's decision
 * (a producer resends with the same UNIQ_KEY). The socket dials in the
 * background and reconnects by itself, so a client may be opened before its
 * server is up and survives server restarts.
 */
#ifndef RILL_RPC_CLIENT_H
#define RILL_RPC_CLIENT_H

#include "proto/common.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/** Calls in flight at once when the options say 0; the next one gets RILL_EBUSY. */
#define RPC_CLIENT_INFLIGHT_DEFAULT 256
/** Most calls in flight a client may allow. */
#define RPC_CLIENT_INFLIGHT_MAX 8192
/** Largest frame sent or received when the options say 0 (pull replies are big). */
#define RPC_CLIENT_FRAME_BYTES_DEFAULT (64u * 1024 * 1024)
/** Longest timeout a call may ask for: more than any long poll (15 s). */
#define RPC_CALL_TIMEOUT_MS_MAX 600000
/** Reconnect back-off of the dialer, first and largest. */
#define RPC_RECONNECT_MS_MIN 100
#define RPC_RECONNECT_MS_MAX 2000

typedef struct rpc_client rpc_client_t;

/** Client options; zero means the default. */
typedef struct {
    uint32_t inflight_max;  /**< call slots, [1, 8192]; 0 = 256 */
    size_t frame_bytes_max; /**< largest request sent and reply received; 0 = 64 MiB */
} rpc_client_opts_t;

/**
 * Completion of an asynchronous call; runs exactly once per call that
 * rpc_client_call_async() accepted.
 *
 * @param[in] rc    0 when a Response arrived (whatever its code), else
 *                  RILL_ETIMEDOUT, RILL_ECONNREFUSED, RILL_ENET,
 *                  RILL_ECORRUPT, RILL_ECLOSED (client closed) or ENOMEM.
 * @param[in] resp  the Response when rc is 0, else NULL. The callback owns
 *                  it: free with rpc_response_free(), from any thread.
 * @param[in] arg   the pointer given with the call.
 * @remark Runs on one of nng's callback threads, no lock held. It must not
 *         block and must not make synchronous calls or close the client;
 *         it may start new asynchronous calls. The call's own slot is
 *         released only after the callback returns, so a new call started
 *         from it needs another free slot (RILL_EBUSY otherwise).
 */
typedef void (*rpc_client_cb)(int rc, Rill__Response *resp, void *arg);

/**
 * Open a client and start dialing the server in the background.
 *
 * @param[out] out   the client; written only on success.
 * @param[in]  url   "tcp://127.0.0.1:10911".
 * @param[in]  opts  options, or NULL for every default.
 * @return 0; RILL_EINVAL (bad URL or options); ENOMEM; another code of
 *         rpc_from_nng(). A server that is not up is not an error here:
 *         calls report it.
 * @remark Thread-safe.
 */
int rpc_client_open(rpc_client_t **out, const char *url, const rpc_client_opts_t *opts);

/**
 * Start a call; cb reports its end.
 *
 * @param[in] cli         the client.
 * @param[in] req         the request; borrowed, packed before this returns.
 *                        The layer sets the opaque; a version of 0 becomes
 *                        RPC_PROTOCOL_VERSION (any other is sent as is).
 * @param[in] timeout_ms  round-trip budget, [1, RPC_CALL_TIMEOUT_MS_MAX].
 * @param[in] cb          completion, called exactly once if this returns 0.
 * @param[in] arg         passed to cb.
 * @return 0 (cb will run); RILL_EINVAL (bad arguments); RILL_ETOOBIG (packed
 *         request larger than frame_bytes_max); RILL_EBUSY (inflight_max
 *         calls in flight); RILL_ECLOSED (closing); ENOMEM. cb never runs
 *         when this fails.
 * @remark Thread-safe.
 */
int rpc_client_call_async(rpc_client_t *cli, const Rill__Request *req, uint32_t timeout_ms,
                          rpc_client_cb cb, void *arg);

/**
 * Make a call and wait for its end.
 *
 * @param[in]  cli         the client.
 * @param[in]  req         as for rpc_client_call_async().
 * @param[in]  timeout_ms  as for rpc_client_call_async().
 * @param[out] out         the Response, written only when 0 is returned;
 *                         the caller frees it with rpc_response_free().
 * @return 0 when a Response arrived (check its code); the codes of
 *         rpc_client_call_async() and of rpc_client_cb: RILL_ETIMEDOUT (no
 *         answer in time), RILL_ECONNREFUSED (no connection to the server
 *         during the whole timeout), RILL_ENET, RILL_ECORRUPT.
 * @remark Thread-safe; never from an rpc_client_cb or a server handler.
 */
int rpc_client_call(rpc_client_t *cli, const Rill__Request *req, uint32_t timeout_ms,
                    Rill__Response **out);

/**
 * Free a Response returned by a call. Accepts NULL.
 *
 * @remark Thread-safe.
 */
void rpc_response_free(Rill__Response *resp);

/**
 * Close the socket, which ends every call in flight with RILL_ECLOSED, wait
 * for their callbacks to return, and free the client. Accepts NULL.
 *
 * @remark Call once, after every other thread has stopped starting calls;
 *         never from an rpc_client_cb.
 */
void rpc_client_close(rpc_client_t *cli);

#endif
