/*
 * errors.c - librill's error reporting: rill_last_error() and the rc_fail()
 * family that fills it, and the mapping from a broker's or namesrv's
 * Response code to a RILL_E* code.
 *
 * rill_strerror() itself is common/errors.c's (the code table is shared with
 * the broker). The last error is one thread-local buffer per thread: a call
 * that fails writes it just before returning, so the text always belongs to
 * the last failing call on that thread. Nothing here allocates.
 */
#include "client/src/core.h"

#include "common/errors.h"
#include "rpc/rpc_codes.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Longest rill_last_error() text, NUL included; longer messages are cut. */
#define RC_LAST_ERROR_BYTES 1024

static _Thread_local char rc_last_error[RC_LAST_ERROR_BYTES];

const char *rill_version(void)
{
    return RILL_VERSION_STR;
}

const char *rill_last_error(void)
{
    return rc_last_error;
}

int rc_fail(int rc, const char *fmt, ...)
{
    if (fmt == NULL) {
        snprintf(rc_last_error, sizeof(rc_last_error), "%s", rill_strerror(rc));
        return rc;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rc_last_error, sizeof(rc_last_error), fmt, ap);
    va_end(ap);
    return rc;
}

void rc_clear_error(void)
{
    rc_last_error[0] = '\0';
}

/* The Rill code of a Response code (remark consulted for a full disk). */
static int rc_code_of(int code, const char *remark)
{
    switch (code) {
    case RILL__RESPONSE_CODE__SUCCESS:
        return 0;
    case RILL__RESPONSE_CODE__TOPIC_NOT_EXIST:
        return RILL_ETOPIC;
    case RILL__RESPONSE_CODE__NO_PERMISSION:
        return RILL_ENOPERM;
    case RILL__RESPONSE_CODE__MESSAGE_ILLEGAL:
        return RILL_EILLEGAL;
    case RILL__RESPONSE_CODE__SYSTEM_BUSY:
        return RILL_EBUSY;
    case RILL__RESPONSE_CODE__FLUSH_DISK_TIMEOUT:
        return RILL_EFLUSHTIMEOUT;
    case RILL__RESPONSE_CODE__QUERY_NOT_FOUND:
    case RILL__RESPONSE_CODE__PULL_NOT_FOUND:
    case RILL__RESPONSE_CODE__SUBSCRIPTION_GROUP_NOT_EXIST:
        return RILL_ENOTFOUND;
    case RILL__RESPONSE_CODE__PULL_OFFSET_MOVED:
        return RILL_ERANGE;
    default:
        break;
    }
    /* A broker refusing writes for its disk says so in the remark
     * (rill_strerror(RILL_EDISKFULL) or its own words). */
    if (remark != NULL &&
        (strstr(remark, "RILL_EDISKFULL") != NULL ||
         (strcasestr(remark, "disk") != NULL && strcasestr(remark, "full") != NULL)))
        return RILL_EDISKFULL;
    switch (code) {
    case RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE:
    case RILL__RESPONSE_CODE__SLAVE_NOT_AVAILABLE:
        return RILL_EUNAVAIL;
    default:
        return RILL_EBROKER; /* SYSTEM_ERROR, REQUEST_CODE_NOT_SUPPORTED, VERSION_..., unknown */
    }
}

int rc_response_error(const Rill__Response *resp, const char *addr)
{
    if (resp == NULL)
        return rc_fail(RILL_ENET, "no response from %s", addr ? addr : "the peer");
    const char *remark = resp->remark ? resp->remark : "";
    int rc = rc_code_of(resp->code, remark);
    if (rc == 0)
        return 0;
    const char *name = rpc_response_code_name(resp->code);
    if (remark[0] != '\0')
        return rc_fail(rc, "%s (%s)", remark, name);
    return rc_fail(rc, "%s answered %s", addr ? addr : "the peer", name);
}
