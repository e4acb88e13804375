/*
 * rpc_codes.h - what the RPC layer shares between its server and client:
 * the protocol version, names of request and response codes, and the one
 * place nng's error codes become Rill's.
 *
 * The wire types themselves are generated from proto/common.proto
 * (Rill__Request, Rill__Response, RILL__RESPONSE_CODE__*, RILL__REQUEST_CODE__*);
 * docs/PROTOCOL.md describes them.
 */
#ifndef RILL_RPC_CODES_H
#define RILL_RPC_CODES_H

#include "proto/common.pb-c.h"

/** The protocol version this build speaks; Request.version must equal it. */
#define RPC_PROTOCOL_VERSION 1

/**
 * Convert an nng error into a Rill code. Called where nng's codes enter Rill;
 * nothing above the RPC layer ever sees an nng code.
 *
 * @param[in] nng_rv  0 or an NNG_E* value (including NNG_ESYSERR | errno).
 * @return 0; RILL_ETIMEDOUT (NNG_ETIMEDOUT); RILL_ECONNREFUSED (refused,
 *         unreachable); RILL_ECLOSED (closed, canceled); RILL_ETOOBIG
 *         (message size); RILL_EINVAL (bad address, option or type);
 *         RILL_EBUSY (busy, would block); ENOMEM, EADDRINUSE or the errno of
 *         NNG_ESYSERR; RILL_ENET for every other transport failure (reset,
 *         shut down, protocol error, bad state).
 * @remark Thread-safe.
 */
int rpc_from_nng(int nng_rv);

/**
 * Name of a response code as in common.proto ("SUCCESS", "TOPIC_NOT_EXIST").
 *
 * @param[in] code  a Response.code value.
 * @return a static string; "UNKNOWN" for a value the enum lacks. Never NULL.
 * @remark Thread-safe.
 */
const char *rpc_response_code_name(int code);

/**
 * Name of a request code as in common.proto ("SEND_MESSAGE", "PING").
 *
 * @param[in] code  a Request.code value.
 * @return a static string; "UNKNOWN" for a value the enum lacks. Never NULL.
 * @remark Thread-safe.
 */
const char *rpc_request_code_name(int code);

#endif
