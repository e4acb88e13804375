/*
 * test_rpc_codes.c - nng errors become Rill codes, code names come from the
 * generated enums, and the wire numbers are RocketMQ's.
 */
#include "common/errors.h"
#include "rpc/rpc_codes.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <nng/nng.h>
#include <string.h>

Test(rpc_codes, nng_errors_become_rill_codes)
{
    cr_assert_eq(rpc_from_nng(0), 0);
    cr_assert_eq(rpc_from_nng(NNG_ETIMEDOUT), RILL_ETIMEDOUT);
    cr_assert_eq(rpc_from_nng(NNG_ECONNREFUSED), RILL_ECONNREFUSED);
    cr_assert_eq(rpc_from_nng(NNG_EUNREACHABLE), RILL_ECONNREFUSED);
    cr_assert_eq(rpc_from_nng(NNG_ECLOSED), RILL_ECLOSED);
    cr_assert_eq(rpc_from_nng(NNG_ECANCELED), RILL_ECLOSED);
    cr_assert_eq(rpc_from_nng(NNG_EMSGSIZE), RILL_ETOOBIG);
    cr_assert_eq(rpc_from_nng(NNG_EADDRINVAL), RILL_EINVAL);
    cr_assert_eq(rpc_from_nng(NNG_ENOTSUP), RILL_EINVAL);
    cr_assert_eq(rpc_from_nng(NNG_EBUSY), RILL_EBUSY);
    cr_assert_eq(rpc_from_nng(NNG_ENOMEM), ENOMEM);
    cr_assert_eq(rpc_from_nng(NNG_EADDRINUSE), EADDRINUSE);
    cr_assert_eq(rpc_from_nng(NNG_ECONNRESET), RILL_ENET);
    cr_assert_eq(rpc_from_nng(NNG_ECONNSHUT), RILL_ENET);
    cr_assert_eq(rpc_from_nng(NNG_EPROTO), RILL_ENET);
    cr_assert_eq(rpc_from_nng(NNG_ESYSERR | EMFILE), EMFILE);
    cr_assert_eq(rpc_from_nng(NNG_ETRANERR | 5), RILL_ENET);
}

Test(rpc_codes, new_error_codes_have_text)
{
    cr_assert_str_eq(rill_errname(RILL_ETIMEDOUT), "RILL_ETIMEDOUT");
    cr_assert_str_eq(rill_errname(RILL_ECONNREFUSED), "RILL_ECONNREFUSED");
    cr_assert_str_eq(rill_errname(RILL_ENET), "RILL_ENET");
    cr_assert_eq(strncmp(rill_strerror(RILL_ENET), "RILL_ENET: ", 11), 0);
}

Test(rpc_codes, wire_numbers_follow_rocketmq)
{
    cr_assert_eq(RILL__RESPONSE_CODE__SUCCESS, 0);
    cr_assert_eq(RILL__RESPONSE_CODE__SYSTEM_ERROR, 1);
    cr_assert_eq(RILL__RESPONSE_CODE__SYSTEM_BUSY, 2);
    cr_assert_eq(RILL__RESPONSE_CODE__REQUEST_CODE_NOT_SUPPORTED, 3);
    cr_assert_eq(RILL__RESPONSE_CODE__FLUSH_DISK_TIMEOUT, 10);
    cr_assert_eq(RILL__RESPONSE_CODE__SLAVE_NOT_AVAILABLE, 11);
    cr_assert_eq(RILL__RESPONSE_CODE__FLUSH_SLAVE_TIMEOUT, 12);
    cr_assert_eq(RILL__RESPONSE_CODE__MESSAGE_ILLEGAL, 13);
    cr_assert_eq(RILL__RESPONSE_CODE__SERVICE_NOT_AVAILABLE, 14);
    cr_assert_eq(RILL__RESPONSE_CODE__VERSION_NOT_SUPPORTED, 15);
    cr_assert_eq(RILL__RESPONSE_CODE__NO_PERMISSION, 16);
    cr_assert_eq(RILL__RESPONSE_CODE__TOPIC_NOT_EXIST, 17);
    cr_assert_eq(RILL__RESPONSE_CODE__PULL_NOT_FOUND, 19);
    cr_assert_eq(RILL__RESPONSE_CODE__PULL_RETRY_IMMEDIATELY, 20);
    cr_assert_eq(RILL__RESPONSE_CODE__PULL_OFFSET_MOVED, 21);
    cr_assert_eq(RILL__RESPONSE_CODE__QUERY_NOT_FOUND, 22);
    cr_assert_eq(RILL__RESPONSE_CODE__SUBSCRIPTION_GROUP_NOT_EXIST, 26);
    cr_assert_eq(RILL__REQUEST_CODE__SEND_MESSAGE, 10);
    cr_assert_eq(RILL__REQUEST_CODE__PULL_MESSAGE, 11);
    cr_assert_eq(RILL__REQUEST_CODE__REGISTER_BROKER, 103);
    cr_assert_eq(RILL__REQUEST_CODE__GET_ROUTEINFO_BY_TOPIC, 105);
    cr_assert_eq(RILL__REQUEST_CODE__SEND_BATCH_MESSAGE, 320);
}

Test(rpc_codes, names_come_from_the_proto_enums)
{
    cr_assert_str_eq(rpc_response_code_name(0), "SUCCESS");
    cr_assert_str_eq(rpc_response_code_name(17), "TOPIC_NOT_EXIST");
    cr_assert_str_eq(rpc_response_code_name(18), "UNKNOWN");
    cr_assert_str_eq(rpc_request_code_name(11), "PULL_MESSAGE");
    cr_assert_str_eq(rpc_request_code_name(1000), "PING");
    cr_assert_str_eq(rpc_request_code_name(-1), "UNKNOWN");
}
