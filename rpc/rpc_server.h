/*
 * rpc_server.h - the server half of Rill's RPC layer: a rep0 socket that
 * decodes Request envelopes, dispatches them by request code to registered
 * handlers and sends back their Response envelopes.
 *
 * Lifecycle: rpc_server_create() -> rpc_server_set_handler() for each code ->
 * rpc_server_start(url) -> ... -> rpc_server_stop() (optional) ->
 * rpc_server_close().
 *
 * A handler is given an rpc_request_t, the reply handle. It answers with
 * rpc_reply() exactly once, either before it returns or later from any thread
 * (a parked long poll, a send waiting for its SYNC_FLUSH). Until then the
 * request holds one of the server's contexts and nothing else: no thread
 * blocks and every other request keeps being served, as long as a context is
 * free. With every context busy, nng stops reading from the connections
 * (back-pressure) until one is answered.
 *
 * Requests the layer answers itself, without calling a handler:
 *   - bytes that are not a Request: SYSTEM_ERROR, remark "malformed request ...";
 *   - Request.version != RPC_PROTOCOL_VERSION: VERSION_NOT_SUPPORTED;
 *   - a code with no handler: REQUEST_CODE_NOT_SUPPORTED;
 *   - a frame larger than frame_bytes_max: nng closes that connection before
 *     the layer sees the frame (no reply; the caller's call fails or times
 *     out and its req0 socket reconnects). Other connections are unaffected.
 */
#ifndef RILL_RPC_SERVER_H
#define RILL_RPC_SERVER_H

#include "proto/common.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/** Contexts (requests served or parked at once) when the options say 0. */
#define RPC_SERVER_CONTEXTS_DEFAULT 256
/** Fewest contexts a server may have (DESIGN.md §4). */
#define RPC_SERVER_CONTEXTS_MIN 64
/** Most contexts a server may have. */
#define RPC_SERVER_CONTEXTS_MAX 8192
/** Largest request frame accepted when the options say 0: a 4 MiB message plus headroom. */
#define RPC_SERVER_FRAME_BYTES_DEFAULT (8u * 1024 * 1024)
/** Largest reply the layer sends; above it the handler's reply becomes SYSTEM_ERROR. */
#define RPC_REPLY_BYTES_MAX (64u * 1024 * 1024)
/** Request codes are table indexes: [0, RPC_HANDLER_CODES_MAX). */
#define RPC_HANDLER_CODES_MAX 2048
/** How long rpc_server_stop() lets replies already handed to nng leave. */
#define RPC_SERVER_SEND_DRAIN_MS_MAX 1000
/** How long rpc_server_close() waits for handlers to answer parked requests. */
#define RPC_SERVER_DRAIN_MS_MAX 30000
/** Longest remark the layer writes in its own error replies, in bytes with the NUL. */
#define RPC_REMARK_BYTES_MAX 256

typedef struct rpc_server rpc_server_t;

/** One received request waiting for its reply; the reply handle. */
typedef struct rpc_request rpc_request_t;

/**
 * A request handler.
 *
 * @param[in] req  the reply handle; answer it with rpc_reply() exactly once.
 * @param[in] msg  the decoded request, owned by the layer and valid until
 *                 rpc_reply(req) returns. msg->version was checked, msg->code
 *                 is the code the handler was registered for; the body case
 *                 is whatever the client sent (check it).
 * @param[in] arg  the pointer given to rpc_server_set_handler().
 * @remark Runs on one of nng's callback threads with no lock of the layer
 *         held. It must not block: anything slow parks the request and
 *         answers it later from another thread.
 */
typedef void (*rpc_handler_fn)(rpc_request_t *req, const Rill__Request *msg, void *arg);

/**
 * Told that a connection (nng pipe) has closed, so state tied to it with
 * rpc_request_pipe_id() (a registered broker) can be dropped at once.
 *
 * @param[in] pipe_id  the id rpc_request_pipe_id() gave for requests that
 *                     came on this connection. Ids are not reused while the
 *                     process lives (nng numbers pipes from a random start
 *                     and wraps only after 2^31).
 * @param[in] arg      the pointer given to rpc_server_set_pipe_closed().
 * @remark Runs on an nng thread, once per closed connection, with no lock of
 *         the layer held; it must not block or call into srv. A request that
 *         arrived on the connection may still be in a handler (or even reach
 *         one) after this ran: callers that must never keep state for a
 *         closed connection need another bound (an expiry) as well.
 */
typedef void (*rpc_pipe_closed_fn)(uint32_t pipe_id, void *arg);

/** Server options; zero means the default. */
typedef struct {
    uint32_t contexts;      /**< requests in progress at once, [64, 8192]; 0 = 256 */
    size_t frame_bytes_max; /**< NNG_OPT_RECVMAXSZ for requests; 0 = 8 MiB */
} rpc_server_opts_t;

/** Counters of a server, for tests and stats. */
typedef struct {
    uint64_t received;    /**< frames taken from the socket */
    uint64_t dispatched;  /**< requests handed to a handler */
    uint64_t malformed;   /**< frames that were not a Request (SYSTEM_ERROR) */
    uint64_t bad_version; /**< VERSION_NOT_SUPPORTED replies */
    uint64_t unsupported; /**< REQUEST_CODE_NOT_SUPPORTED replies */
    uint64_t replied;     /**< replies handed to nng */
    uint32_t in_handler;  /**< requests a handler holds right now (parked or running) */
} rpc_server_stats_t;

/**
 * Create a server; it does not listen yet.
 *
 * @param[out] out   the server; written only on success.
 * @param[in]  opts  options, or NULL for every default.
 * @return 0; RILL_EINVAL if contexts is outside [RPC_SERVER_CONTEXTS_MIN,
 *         RPC_SERVER_CONTEXTS_MAX] or frame_bytes_max is below 1 KiB; ENOMEM.
 * @remark Thread-safe.
 */
int rpc_server_create(rpc_server_t **out, const rpc_server_opts_t *opts);

/**
 * Register the handler of a request code, replacing any earlier one.
 *
 * @param[in] srv   a server not started yet.
 * @param[in] code  request code in [1, RPC_HANDLER_CODES_MAX).
 * @param[in] fn    the handler; NULL removes it.
 * @param[in] arg   passed to every call of fn.
 * @return 0; RILL_EINVAL for a code out of range or a started server.
 * @remark Call from the thread that owns srv, before rpc_server_start().
 */
int rpc_server_set_handler(rpc_server_t *srv, int code, rpc_handler_fn fn, void *arg);

/**
 * Register the callback told about closed connections, replacing any earlier
 * one. It is called for every connection that closes after rpc_server_start()
 * and before rpc_server_stop() begins; never afterwards, and
 * rpc_server_stop()/rpc_server_close() return only once a call in progress
 * has returned.
 *
 * @param[in] srv  a server not started yet.
 * @param[in] fn   the callback; NULL removes it.
 * @param[in] arg  passed to every call of fn.
 * @return 0; RILL_EINVAL for a started server.
 * @remark Call from the thread that owns srv, before rpc_server_start().
 */
int rpc_server_set_pipe_closed(rpc_server_t *srv, rpc_pipe_closed_fn fn, void *arg);

/**
 * Open the rep0 socket, arm every context and listen.
 *
 * @param[in] srv  a created server, not started yet.
 * @param[in] url  "tcp://127.0.0.1:10911"; port 0 picks a free port, read it
 *                 with rpc_server_port().
 * @return 0; RILL_EINVAL for a bad URL or a second start; EADDRINUSE;
 *         ENOMEM; another code of rpc_from_nng(). On failure the server can
 *         only be closed.
 * @remark Call from the thread that owns srv.
 */
int rpc_server_start(rpc_server_t *srv, const char *url);

/**
 * The TCP port the server listens on (the chosen one when the URL said 0).
 *
 * @return the port, or 0 if the server is not listening on TCP.
 * @remark Thread-safe once rpc_server_start() has returned 0.
 */
int rpc_server_port(const rpc_server_t *srv);

/**
 * Answer a request. Takes the handle whatever it returns: req and the
 * Request it carried are invalid once this returns.
 *
 * @param[in] req   a handle given to a handler and not answered yet.
 *                  Answering twice is a programmer error (assert).
 * @param[in] resp  the reply; borrowed, packed before this returns, and may
 *                  point into the Request. Its opaque is replaced by the
 *                  request's.
 * @return 0 (handed to nng; delivery is not confirmed); RILL_ETOOBIG (the
 *         packed reply exceeds RPC_REPLY_BYTES_MAX: SYSTEM_ERROR was sent
 *         instead); RILL_ECLOSED (the server is stopping; nothing is sent);
 *         ENOMEM (nothing is sent; the caller times out).
 * @remark Thread-safe; any thread, including inside the handler.
 */
int rpc_reply(rpc_request_t *req, const Rill__Response *resp);

/**
 * Answer a request with a code and a remark and no body.
 *
 * @param[in] req     as for rpc_reply().
 * @param[in] code    a response code (RILL__RESPONSE_CODE__*).
 * @param[in] remark  text for people, or NULL; borrowed.
 * @return as rpc_reply().
 * @remark Thread-safe.
 */
int rpc_reply_code(rpc_request_t *req, int code, const char *remark);

/**
 * The id of the connection (nng pipe) a request came on, so a server can
 * tie state (a registered broker) to a connection and drop it on close.
 *
 * @return a pipe id, never 0 for a request from the network.
 * @remark Any thread holding req.
 */
uint32_t rpc_request_pipe_id(const rpc_request_t *req);

/**
 * Read the server's counters.
 *
 * @param[out] out  filled with a consistent snapshot.
 * @remark Thread-safe.
 */
void rpc_server_stats(rpc_server_t *srv, rpc_server_stats_t *out);

/**
 * Stop serving: stop receiving, let replies already handed to nng leave
 * (RPC_SERVER_SEND_DRAIN_MS_MAX at most), then close the socket. Requests
 * held by handlers stay valid; their rpc_reply() returns RILL_ECLOSED and
 * sends nothing. Idempotent.
 *
 * @remark Thread-safe, but never from a handler (it waits for running
 *         handlers' callbacks to return) and not concurrently with
 *         rpc_server_close().
 */
void rpc_server_stop(rpc_server_t *srv);

/**
 * Stop the server, wait until every request handed to a handler has been
 * answered with rpc_reply() (RPC_SERVER_DRAIN_MS_MAX at most: a handler
 * that never answers is a programmer error and asserts), then free it.
 * Accepts NULL.
 *
 * @remark Call once, from the thread that owns srv, never from a handler.
 *         Owners of parked requests answer them (they may after
 *         rpc_server_stop()) before or while this waits.
 */
void rpc_server_close(rpc_server_t *srv);

#endif
