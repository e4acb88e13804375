/*
 * rpc_codes.c - code names from the generated enum descriptors, and the
 * nng-to-Rill error conversion.
 */
#include "rpc/rpc_codes.h"

#include "common/errors.h"

#include <errno.h>
#include <nng/nng.h>

int rpc_from_nng(int nng_rv)
{
    if (nng_rv == 0)
        return 0;
    if (nng_rv & NNG_ESYSERR) {
        int e = nng_rv & ~NNG_ESYSERR;
        return e > 0 ? e : RILL_ENET;
    }
    switch (nng_rv) {
    case NNG_ETIMEDOUT:
        return RILL_ETIMEDOUT;
    case NNG_ECONNREFUSED:
    case NNG_EUNREACHABLE:
        return RILL_ECONNREFUSED;
    case NNG_ECLOSED:
    case NNG_ECANCELED:
        return RILL_ECLOSED;
    case NNG_EMSGSIZE:
        return RILL_ETOOBIG;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
    case NNG_ENOTSUP:
    case NNG_EBADTYPE:
    case NNG_ENOENT:
    case NNG_EREADONLY:
    case NNG_EWRITEONLY:
        return RILL_EINVAL;
    case NNG_EBUSY:
    case NNG_EAGAIN:
        return RILL_EBUSY;
    case NNG_ENOMEM:
        return ENOMEM;
    case NNG_EADDRINUSE:
        return EADDRINUSE;
    case NNG_EPERM:
        return EPERM;
    case NNG_ENOFILES:
        return EMFILE;
    case NNG_ENOSPC:
        return ENOSPC;
    default: /* ECONNRESET, ECONNSHUT, ECONNABORTED, EPROTO, ESTATE, ECRYPTO, ... */
        return RILL_ENET;
    }
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int code)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, code);
    return v ? v->name : "UNKNOWN";
}

const char *rpc_response_code_name(int code)
{
    return enum_name(&rill__response_code__descriptor, code);
}

const char *rpc_request_code_name(int code)
{
    return enum_name(&rill__request_code__descriptor, code);
}
