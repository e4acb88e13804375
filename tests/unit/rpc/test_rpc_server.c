/*
 * test_rpc_server.c - the server half of the RPC layer: dispatch by code,
 * answers the layer gives by itself (unknown code, bad version, garbage,
 * oversized frames), parked requests that never block the others, and a
 * clean stop with requests in flight.
 */
#include "rpc_fixture.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>

Test(rpc_server, echo_round_trip)
{
    fixture_t f;
    fix_start(&f);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);

    Rill__Request req;
    Rill__PingRequest ping;
    fix_ping_request(&req, &ping, "hello rill", 10);
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(cli, &req, FIX_CALL_MS, &resp), 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_neq(resp->opaque, 0, "the layer numbers calls and the server echoes the number");
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_PING);
    cr_assert_eq(resp->ping->payload.len, 10);
    cr_assert_eq(memcmp(resp->ping->payload.data, "hello rill", 10), 0);
    rpc_response_free(resp);
    cr_assert_eq(fix_ping_call(cli, "", FIX_CALL_MS), 0, "an empty payload echoes too");

    rpc_server_stats_t st;
    rpc_server_stats(f.srv, &st);
    cr_assert_eq(st.received, 2);
    cr_assert_eq(st.dispatched, 2);
    cr_assert_eq(st.replied, 2);
    /* A worker counts until its send completes on the server, which may be
     * just after the client already has the reply: wait for it, bounded. */
    for (int i = 0; i < 500 && st.in_handler != 0; i++) {
        rill_sleep_ms(2);
        rpc_server_stats(f.srv, &st);
    }
    cr_assert_eq(st.in_handler, 0);
    rpc_client_close(cli);
    fix_stop(&f);
}

Test(rpc_server, unknown_code_is_request_code_not_supported)
{
    fixture_t f;
    fix_start(&f);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);
    /* Registered nowhere, beyond the table, zero, negative. */
    int codes[] = {RILL__REQUEST_CODE__SEND_MESSAGE, 999, RPC_HANDLER_CODES_MAX, 123456, 0, -7};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        Rill__Request req;
        fix_bare_request(&req, codes[i]);
        Rill__Response *resp = NULL;
        cr_assert_eq(rpc_client_call(cli, &req, FIX_CALL_MS, &resp), 0);
        cr_assert_eq(resp->code, RILL__RESPONSE_CODE__REQUEST_CODE_NOT_SUPPORTED, "code %d",
                     codes[i]);
        cr_assert_not_null(strstr(resp->remark, "not supported"), "remark: %s", resp->remark);
        cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY__NOT_SET);
        rpc_response_free(resp);
    }
    rpc_server_stats_t st;
    rpc_server_stats(f.srv, &st);
    cr_assert_eq(st.unsupported, 6);
    cr_assert_eq(st.dispatched, 0);
    cr_assert_eq(fix_ping_call(cli, "still serving", FIX_CALL_MS), 0);
    rpc_client_close(cli);
    fix_stop(&f);
}

Test(rpc_server, bad_version_is_version_not_supported)
{
    fixture_t f;
    fix_start(&f);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);
    uint32_t versions[] = {2, 7, UINT32_MAX};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        Rill__Request req;
        Rill__PingRequest ping;
        fix_ping_request(&req, &ping, "x", 1);
        req.version = versions[i];
        Rill__Response *resp = NULL;
        cr_assert_eq(rpc_client_call(cli, &req, FIX_CALL_MS, &resp), 0);
        cr_assert_eq(resp->code, RILL__RESPONSE_CODE__VERSION_NOT_SUPPORTED);
        cr_assert_neq(resp->opaque, 0, "the opaque is echoed even on a version error");
        cr_assert_not_null(strstr(resp->remark, "version"), "remark: %s", resp->remark);
        rpc_response_free(resp);
    }
    rpc_server_stats_t st;
    rpc_server_stats(f.srv, &st);
    cr_assert_eq(st.bad_version, 3);
    cr_assert_eq(st.dispatched, 0);
    rpc_client_close(cli);
    fix_stop(&f);
}

/* Send raw bytes on a plain req0 socket and decode what comes back. */
static Rill__Response *raw_call(const char *url, const void *bytes, size_t len)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, FIX_CALL_MS), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, FIX_CALL_MS), 0);
    cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
    cr_assert_eq(nng_send(s, (void *)bytes, len, 0), 0);
    void *buf = NULL;
    size_t got = 0;
    cr_assert_eq(nng_recv(s, &buf, &got, NNG_FLAG_ALLOC), 0);
    Rill__Response *resp = rill__response__unpack(NULL, got, buf);
    nng_free(buf, got);
    nng_close(s);
    cr_assert_not_null(resp, "the server always answers with a Response");
    return resp;
}

Test(rpc_server, garbage_gets_system_error_and_server_keeps_serving)
{
    fixture_t f;
    fix_start(&f);
    /* 0xff... is a field tag whose varint never ends: no Request decodes from it. */
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    Rill__Response *resp = raw_call(f.url, garbage, sizeof(garbage));
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SYSTEM_ERROR);
    cr_assert_not_null(strstr(resp->remark, "malformed"), "remark: %s", resp->remark);
    rill__response__free_unpacked(resp, NULL);

    /* A truncated valid request: a length-delimited body cut short. */
    Rill__Request req;
    Rill__PingRequest ping;
    fix_ping_request(&req, &ping, "0123456789", 10);
    req.version = RPC_PROTOCOL_VERSION;
    uint8_t packed[64];
    size_t n = rill__request__pack(&req, packed);
    cr_assert_gt(n, 6);
    resp = raw_call(f.url, packed, n - 3);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SYSTEM_ERROR);
    rill__response__free_unpacked(resp, NULL);

    /* The same request whole is served: the layer judged bytes, not the peer. */
    resp = raw_call(f.url, packed, n);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS);
    rill__response__free_unpacked(resp, NULL);

    /* An empty frame is an empty Request: version 0. */
    resp = raw_call(f.url, "", 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__VERSION_NOT_SUPPORTED);
    rill__response__free_unpacked(resp, NULL);

    rpc_server_stats_t st;
    rpc_server_stats(f.srv, &st);
    cr_assert_eq(st.malformed, 2);

    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);
    cr_assert_eq(fix_ping_call(cli, "after garbage", FIX_CALL_MS), 0);
    rpc_client_close(cli);
    fix_stop(&f);
}

Test(rpc_server, oversized_frame_closes_that_connection_only)
{
    fixture_t f;
    rpc_server_opts_t opts = {.frame_bytes_max = 64 * 1024};
    fix_start_opts(&f, &opts);
    rpc_client_t *big = NULL, *other = NULL;
    cr_assert_eq(rpc_client_open(&big, f.url, NULL), 0);
    cr_assert_eq(rpc_client_open(&other, f.url, NULL), 0);
    cr_assert_eq(fix_ping_call(big, "warm up", FIX_CALL_MS), 0);
    cr_assert_eq(fix_ping_call(other, "warm up", FIX_CALL_MS), 0);

    size_t len = 1024 * 1024;
    char *payload = malloc(len + 1);
    cr_assert_not_null(payload);
    memset(payload, 'a', len);
    payload[len] = '\0';
    uint64_t t0 = rill_mono_ms();
    int rc = fix_ping_call(big, payload, 1000);
    uint64_t elapsed = rill_mono_ms() - t0;
    /* nng drops the connection on the frame; the call fails, it never succeeds. */
    cr_assert(rc == RILL_ENET || rc == RILL_ETIMEDOUT || rc == RILL_ECONNREFUSED, "rc %d %s", rc,
              rill_strerror(rc));
    cr_assert_lt(elapsed, 3000);
    free(payload);

    rpc_server_stats_t st;
    rpc_server_stats(f.srv, &st);
    cr_assert_eq(st.received, 2, "the oversized frame never reached the layer");

    /* Other connections never noticed; the offender reconnects by itself. */
    cr_assert_eq(fix_ping_call(other, "unaffected", FIX_CALL_MS), 0);
    int ok = -1;
    for (int i = 0; i < 50 && ok != 0; i++) {
        ok = fix_ping_call(big, "reconnected", 200);
        if (ok != 0)
            rill_sleep_ms(50);
    }
    cr_assert_eq(ok, 0, "the client reconnects after the server dropped it");
    rpc_client_close(big);
    rpc_client_close(other);
    fix_stop(&f);
}

typedef struct {
    fixture_t *f;
    uint32_t delay_ms;
} late_answer_t;

static void *answer_later(void *arg)
{
    late_answer_t *la = arg;
    pthread_setname_np(pthread_self(), "test-answerer");
    cr_assert(fix_wait_parked(la->f, 1, FIX_CALL_MS));
    rill_sleep_ms(la->delay_ms);
    fix_release(la->f, RILL__RESPONSE_CODE__SUCCESS);
    return NULL;
}

Test(rpc_server, parked_request_never_blocks_the_others)
{
    fixture_t f;
    fix_start(&f);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);
    cr_assert_eq(fix_ping_call(cli, "connect", FIX_CALL_MS), 0);

    tally_t parked;
    tally_init(&parked);
    Rill__Request req;
    fix_bare_request(&req, FIX_PARK_CODE);
    uint64_t t0 = rill_mono_ms();
    cr_assert_eq(rpc_client_call_async(cli, &req, FIX_CALL_MS, tally_cb, &parked), 0);
    late_answer_t la = {.f = &f, .delay_ms = 500};
    pthread_t answerer;
    cr_assert_eq(pthread_create(&answerer, NULL, answer_later, &la), 0);
    cr_assert(fix_wait_parked(&f, 1, FIX_CALL_MS));

    /* While it is parked, other requests on the same connection are answered at once. */
    int pings = 0;
    for (int i = 0; i < 20; i++) {
        uint64_t p0 = rill_mono_ms();
        cr_assert_eq(fix_ping_call(cli, "meanwhile", FIX_CALL_MS), 0);
        cr_assert_lt(rill_mono_ms() - p0, 200, "a ping waited behind the parked request");
        pings++;
    }
    pthread_mutex_lock(&parked.mtx);
    int done_during_pings = parked.done;
    pthread_mutex_unlock(&parked.mtx);
    cr_assert_eq(done_during_pings, 0, "the parked request was answered before its time");
    cr_assert_eq(pings, 20);

    cr_assert_eq(tally_wait(&parked, 1, FIX_CALL_MS), 1);
    cr_assert_eq(parked.ok, 1);
    cr_assert_geq(parked.t_last_ms - t0, 500, "answered from the other thread after 500 ms");
    pthread_join(answerer, NULL);
    tally_destroy(&parked);
    rpc_client_close(cli);
    fix_stop(&f);
}

Test(rpc_server, stop_with_requests_parked_and_in_flight_is_clean)
{
    fixture_t f;
    fix_start(&f);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);
    cr_assert_eq(fix_ping_call(cli, "connect", FIX_CALL_MS), 0);

    enum { N = 80 };
    tally_t t;
    tally_init(&t);
    Rill__Request req;
    fix_bare_request(&req, FIX_PARK_CODE);
    for (int i = 0; i < N; i++)
        cr_assert_eq(rpc_client_call_async(cli, &req, 2000, tally_cb, &t), 0);
    cr_assert(fix_wait_parked(&f, N, FIX_CALL_MS));
    rpc_server_stats_t st;
    rpc_server_stats(f.srv, &st);
    cr_assert_eq(st.in_handler, N);

    /* Stop: nothing more is received or replied; parked answers report ECLOSED. */
    rpc_server_stop(f.srv);
    rpc_server_stop(f.srv);
    pthread_mutex_lock(&f.mtx);
    for (int i = 0; i < f.nparked; i++)
        cr_assert_eq(rpc_reply_code(f.parked[i], RILL__RESPONSE_CODE__SUCCESS, NULL), RILL_ECLOSED);
    f.nparked = 0;
    pthread_mutex_unlock(&f.mtx);
    fix_stop(&f);

    /* Every client call still ends exactly once, none with a reply. */
    cr_assert_eq(tally_wait(&t, N, FIX_CALL_MS), N);
    cr_assert_eq(t.ok, 0);
    cr_assert(t.last_rc == RILL_ENET || t.last_rc == RILL_ETIMEDOUT ||
                  t.last_rc == RILL_ECONNREFUSED,
              "rc %d", t.last_rc);
    tally_destroy(&t);
    rpc_client_close(cli);
}

Test(rpc_server, close_answers_nothing_twice_under_load)
{
    /* Calls keep arriving while the server closes: every one ends exactly once. */
    fixture_t f;
    fix_start(&f);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);
    cr_assert_eq(fix_ping_call(cli, "connect", FIX_CALL_MS), 0);
    enum { N = 200 };
    tally_t t;
    tally_init(&t);
    Rill__Request req;
    Rill__PingRequest ping;
    fix_ping_request(&req, &ping, "load", 4);
    int started = 0;
    for (int i = 0; i < N; i++)
        if (rpc_client_call_async(cli, &req, 1500, tally_cb, &t) == 0)
            started++;
    fix_stop(&f);
    cr_assert_eq(tally_wait(&t, started, FIX_CALL_MS), started);
    tally_destroy(&t);
    rpc_client_close(cli);
}

Test(rpc_server, options_and_registration_are_checked)
{
    rpc_server_t *srv = NULL;
    rpc_server_opts_t few = {.contexts = RPC_SERVER_CONTEXTS_MIN - 1};
    cr_assert_eq(rpc_server_create(&srv, &few), RILL_EINVAL);
    rpc_server_opts_t many = {.contexts = RPC_SERVER_CONTEXTS_MAX + 1};
    cr_assert_eq(rpc_server_create(&srv, &many), RILL_EINVAL);
    rpc_server_opts_t tiny = {.frame_bytes_max = 100};
    cr_assert_eq(rpc_server_create(&srv, &tiny), RILL_EINVAL);
    cr_assert_null(srv, "out is written only on success");

    cr_assert_eq(rpc_server_create(&srv, NULL), 0);
    cr_assert_eq(rpc_server_set_handler(srv, 0, fix_ping, NULL), RILL_EINVAL);
    cr_assert_eq(rpc_server_set_handler(srv, -1, fix_ping, NULL), RILL_EINVAL);
    cr_assert_eq(rpc_server_set_handler(srv, RPC_HANDLER_CODES_MAX, fix_ping, NULL), RILL_EINVAL);
    cr_assert_eq(rpc_server_set_handler(srv, RILL__REQUEST_CODE__PING, fix_ping, NULL), 0);
    cr_assert_eq(rpc_server_start(srv, "tcp://127.0.0.1:0"), 0);
    cr_assert_eq(rpc_server_set_handler(srv, RILL__REQUEST_CODE__PING, NULL, NULL), RILL_EINVAL,
                 "the table is frozen once serving");
    cr_assert_eq(rpc_server_start(srv, "tcp://127.0.0.1:0"), RILL_EINVAL);

    /* A second server on the same port: EADDRINUSE, and it closes cleanly. */
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", rpc_server_port(srv));
    rpc_server_t *dup = NULL;
    cr_assert_eq(rpc_server_create(&dup, NULL), 0);
    cr_assert_eq(rpc_server_start(dup, url), EADDRINUSE);
    rpc_server_close(dup);

    rpc_server_t *bad = NULL;
    cr_assert_eq(rpc_server_create(&bad, NULL), 0);
    cr_assert_eq(rpc_server_start(bad, "nonsense://x"), RILL_EINVAL);
    rpc_server_close(bad);

    rpc_server_close(srv);
    rpc_server_close(NULL);
}
