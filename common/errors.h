/*
 * errors.h - the error codes every Rill module returns.
 *
 * One convention everywhere (LMDB's): 0 is success, negative values are Rill's
 * own codes from the reserved range below, positive values are errno values
 * passed through unchanged. LMDB and nng codes are converted where they enter
 * Rill's code and are never returned raw.
 */
#ifndef RILL_COMMON_ERRORS_H
#define RILL_COMMON_ERRORS_H

/* The same enum is in client/include/rill.h under the same guard, so the
 * client's sources may include both; tests/unit/client/test_errors_match.c
 * keeps the two copies equal. */
#ifndef RILL_ERROR_CODES_DEFINED
#define RILL_ERROR_CODES_DEFINED
#define RILL_OK 0

enum rill_error {
    RILL_EINVAL = -20001,        /**< an argument is malformed or out of its range */
    RILL_ENOTFOUND = -20002,     /**< the thing asked for does not exist */
    RILL_ETOOBIG = -20003,       /**< a message, batch or field exceeds its limit */
    RILL_ECORRUPT = -20004,      /**< stored or received bytes fail a format or checksum check */
    RILL_EDISKFULL = -20005,     /**< disk use is above the refuse ratio, or the disk is full */
    RILL_EFLUSHTIMEOUT = -20006, /**< a sync flush did not complete within its timeout */
    RILL_EBUSY = -20007,         /**< a bounded queue or table is full; retry later */
    RILL_ECONFIG = -20008,       /**< unknown configuration key or bad value */
    RILL_ECLOSED = -20009,       /**< the object is shutting down or closed */
    RILL_ETOPIC = -20010,        /**< topic name is illegal or the topic does not exist */
    RILL_EKV = -20011,           /**< the LMDB key-value store failed */
    RILL_ERANGE = -20012,        /**< an offset lies outside the stored range */
    RILL_ENOSPACE = -20013,      /**< a caller-provided buffer is too small */
    RILL_ETIMEDOUT = -20014,     /**< a remote call got no answer within its timeout */
    RILL_ECONNREFUSED = -20015,  /**< no connection to the peer: refused, unreachable or not up */
    RILL_ENET = -20016,          /**< the transport failed: connection reset, protocol error */
    RILL_ENOPERM = -20017,       /**< the broker refused: no permission (NO_PERMISSION) */
    RILL_EBROKER = -20018,       /**< the broker answered an error (SYSTEM_ERROR, ...) */
    RILL_EILLEGAL = -20019,      /**< the broker refused the message (MESSAGE_ILLEGAL) */
    RILL_EUNAVAIL = -20020,      /**< service not available (a slave, shutting down) */
    RILL_ENOROUTE = -20021,      /**< no broker serves the topic (for this operation) */
};
#define RILL_ERROR_FIRST RILL_ENOROUTE
#define RILL_ERROR_LAST  RILL_EINVAL
#endif

/**
 * Describe an error code.
 *
 * @param[in] rc  0, a RILL_E* code, or a positive errno value.
 * @return a static string; Rill codes start with the code's name
 *         ("RILL_ETOPIC: topic not found or illegal"), errno values read as
 *         strerror() does. Never NULL.
 * @remark Thread-safe.
 */
const char *rill_strerror(int rc);

/**
 * Name of an error code alone ("RILL_ETOOBIG", "OK", or "errno 28" style
 * "ENOSPC" where known). Never NULL. Thread-safe.
 */
const char *rill_errname(int rc);

#endif
