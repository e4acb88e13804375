/*
 * errors.c - text for Rill's error codes.
 */
#include "common/errors.h"

#include <errno.h>
#include <string.h>

static const char *const rill_error_text[] = {
    [-(RILL_EINVAL)-20001] = "RILL_EINVAL: invalid argument",
    [-(RILL_ENOTFOUND)-20001] = "RILL_ENOTFOUND: not found",
    [-(RILL_ETOOBIG)-20001] = "RILL_ETOOBIG: size exceeds the limit",
    [-(RILL_ECORRUPT)-20001] = "RILL_ECORRUPT: data failed a format or checksum check",
    [-(RILL_EDISKFULL)-20001] = "RILL_EDISKFULL: disk is full or above the refuse ratio",
    [-(RILL_EFLUSHTIMEOUT)-20001] = "RILL_EFLUSHTIMEOUT: flush to disk timed out",
    [-(RILL_EBUSY)-20001] = "RILL_EBUSY: system busy, a bounded queue is full",
    [-(RILL_ECONFIG)-20001] = "RILL_ECONFIG: bad configuration",
    [-(RILL_ECLOSED)-20001] = "RILL_ECLOSED: closed or shutting down",
    [-(RILL_ETOPIC)-20001] = "RILL_ETOPIC: topic not found or illegal",
    [-(RILL_EKV)-20001] = "RILL_EKV: key-value store failure",
    [-(RILL_ERANGE)-20001] = "RILL_ERANGE: offset out of range",
    [-(RILL_ENOSPACE)-20001] = "RILL_ENOSPACE: buffer too small",
    [-(RILL_ETIMEDOUT)-20001] = "RILL_ETIMEDOUT: no answer within the timeout",
    [-(RILL_ECONNREFUSED)-20001] = "RILL_ECONNREFUSED: no connection to the peer",
    [-(RILL_ENET)-20001] = "RILL_ENET: network transport failure",
    [-(RILL_ENOPERM)-20001] = "RILL_ENOPERM: no permission",
    [-(RILL_EBROKER)-20001] = "RILL_EBROKER: the broker answered an error",
    [-(RILL_EILLEGAL)-20001] = "RILL_EILLEGAL: message refused as illegal",
    [-(RILL_EUNAVAIL)-20001] = "RILL_EUNAVAIL: service not available",
    [-(RILL_ENOROUTE)-20001] = "RILL_ENOROUTE: no route to a broker for the topic",
};

const char *rill_strerror(int rc)
{
    if (rc == 0)
        return "OK: success";
    if (rc > 0)
        return strerror(rc);
    if (rc >= RILL_ERROR_FIRST && rc <= RILL_ERROR_LAST)
        return rill_error_text[-rc - 20001];
    return "RILL_EUNKNOWN: unknown error code";
}

const char *rill_errname(int rc)
{
    static const char *const names[] = {
        "RILL_EINVAL",    "RILL_ENOTFOUND",     "RILL_ETOOBIG",      "RILL_ECORRUPT",
        "RILL_EDISKFULL", "RILL_EFLUSHTIMEOUT", "RILL_EBUSY",        "RILL_ECONFIG",
        "RILL_ECLOSED",   "RILL_ETOPIC",        "RILL_EKV",          "RILL_ERANGE",
        "RILL_ENOSPACE",  "RILL_ETIMEDOUT",     "RILL_ECONNREFUSED", "RILL_ENET",
        "RILL_ENOPERM",   "RILL_EBROKER",       "RILL_EILLEGAL",     "RILL_EUNAVAIL",
        "RILL_ENOROUTE",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == RILL_ERROR_LAST - RILL_ERROR_FIRST + 1,
                   "one name per code");
    if (rc == 0)
        return "OK";
    if (rc >= RILL_ERROR_FIRST && rc <= RILL_ERROR_LAST)
        return names[-rc - 20001];
    if (rc > 0) {
        const char *n = strerrorname_np(rc);
        return n ? n : "errno";
    }
    return "RILL_EUNKNOWN";
}
