/*
 * test_rpc_client.c - the client half of the RPC layer: many calls in flight
 * from several threads, timeouts that are bounded, a clear error when no
 * server is up, the in-flight limit, close with calls pending, reconnects.
 */
#include "rpc_fixture.h"

#include <errno.h>
#include <stdlib.h>

enum { CALLERS = 4, CALLS_PER_CALLER = 32, IN_FLIGHT = CALLERS * CALLS_PER_CALLER };

typedef struct {
    rpc_client_t *cli;
    tally_t *tally;
    int started;
} caller_t;

static void *start_parked_calls(void *arg)
{
    caller_t *c = arg;
    pthread_setname_np(pthread_self(), "test-caller");
    Rill__Request req;
    fix_bare_request(&req, FIX_PARK_CODE);
    for (int i = 0; i < CALLS_PER_CALLER; i++)
        if (rpc_client_call_async(c->cli, &req, FIX_CALL_MS, tally_cb, c->tally) == 0)
            c->started++;
    return NULL;
}

Test(rpc_client, many_calls_in_flight_from_several_threads)
{
    fixture_t f;
    fix_start(&f);
    /* The server answers nothing until all IN_FLIGHT calls are parked at once. */
    f.release_at = IN_FLIGHT;
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);
    tally_t t;
    tally_init(&t);
    pthread_t th[CALLERS];
    caller_t callers[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        callers[i] = (caller_t){.cli = cli, .tally = &t};
        cr_assert_eq(pthread_create(&th[i], NULL, start_parked_calls, &callers[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(callers[i].started, CALLS_PER_CALLER);
    }
    cr_assert_eq(tally_wait(&t, IN_FLIGHT, 10000), IN_FLIGHT);
    cr_assert_eq(t.ok, IN_FLIGHT, "every one of %d parked calls answered", IN_FLIGHT);
    tally_destroy(&t);
    rpc_client_close(cli);
    fix_stop(&f);
}

typedef struct {
    rpc_client_t *cli;
    int ok;
} pinger_t;

static void *ping_many(void *arg)
{
    pinger_t *p = arg;
    pthread_setname_np(pthread_self(), "test-pinger");
    char text[32];
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof(text), "ping %d", i);
        if (fix_ping_call(p->cli, text, FIX_CALL_MS) == 0)
            p->ok++;
    }
    return NULL;
}

Test(rpc_client, synchronous_calls_from_several_threads)
{
    fixture_t f;
    fix_start(&f);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);
    pthread_t th[CALLERS];
    pinger_t p[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        p[i] = (pinger_t){.cli = cli};
        cr_assert_eq(pthread_create(&th[i], NULL, ping_many, &p[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(p[i].ok, 100);
    }
    rpc_client_close(cli);
    fix_stop(&f);
}

Test(rpc_client, timeout_when_the_server_never_answers)
{
    fixture_t f;
    fix_start(&f);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);
    cr_assert_eq(fix_ping_call(cli, "connect", FIX_CALL_MS), 0);

    Rill__Request req;
    fix_bare_request(&req, FIX_PARK_CODE);
    Rill__Response *resp = NULL;
    uint64_t t0 = rill_mono_ms();
    cr_assert_eq(rpc_client_call(cli, &req, 300, &resp), RILL_ETIMEDOUT);
    uint64_t elapsed = rill_mono_ms() - t0;
    cr_assert_null(resp);
    cr_assert_geq(elapsed, 290);
    cr_assert_lt(elapsed, 1500, "timed out after %llu ms", (unsigned long long)elapsed);

    /* The late answer finds no caller and is dropped; the client goes on. */
    cr_assert(fix_wait_parked(&f, 1, FIX_CALL_MS));
    fix_release(&f, RILL__RESPONSE_CODE__SUCCESS);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(fix_ping_call(cli, "after timeout", FIX_CALL_MS), 0);
    rpc_client_close(cli);
    fix_stop(&f);
}

/* A loopback port nobody listens on: serve on port 0, note the port, close. */
static int unused_port(void)
{
    rpc_server_t *srv = NULL;
    cr_assert_eq(rpc_server_create(&srv, NULL), 0);
    cr_assert_eq(rpc_server_start(srv, "tcp://127.0.0.1:0"), 0);
    int port = rpc_server_port(srv);
    rpc_server_close(srv);
    return port;
}

Test(rpc_client, no_server_is_a_clear_error_within_the_timeout)
{
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", unused_port());
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0, "opening does not need the server");
    for (int i = 0; i < 3; i++) {
        uint64_t t0 = rill_mono_ms();
        int rc = fix_ping_call(cli, "anyone?", 400);
        uint64_t elapsed = rill_mono_ms() - t0;
        cr_assert_eq(rc, RILL_ECONNREFUSED, "rc %d %s", rc, rill_strerror(rc));
        cr_assert_lt(elapsed, 1500, "took %llu ms", (unsigned long long)elapsed);
    }
    rpc_client_close(cli);
}

Test(rpc_client, server_started_late_or_restarted_is_reached)
{
    int port = unused_port();
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    cr_assert_eq(fix_ping_call(cli, "too early", 200), RILL_ECONNREFUSED);

    for (int round = 0; round < 2; round++) {
        rpc_server_t *srv = NULL;
        cr_assert_eq(rpc_server_create(&srv, NULL), 0);
        cr_assert_eq(rpc_server_set_handler(srv, RILL__REQUEST_CODE__PING, fix_ping, NULL), 0);
        cr_assert_eq(rpc_server_start(srv, url), 0);
        /* The dialer backs off up to RPC_RECONNECT_MS_MAX; one call covers it. */
        cr_assert_eq(fix_ping_call(cli, "up now", RPC_RECONNECT_MS_MAX + 3000), 0);
        rpc_server_close(srv);
    }
    rpc_client_close(cli);
}

Test(rpc_client, in_flight_limit_is_system_busy_for_the_caller)
{
    fixture_t f;
    fix_start(&f);
    rpc_client_opts_t opts = {.inflight_max = 4};
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, &opts), 0);
    tally_t t;
    tally_init(&t);
    Rill__Request req;
    fix_bare_request(&req, FIX_PARK_CODE);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(rpc_client_call_async(cli, &req, FIX_CALL_MS, tally_cb, &t), 0);
    cr_assert_eq(rpc_client_call_async(cli, &req, FIX_CALL_MS, tally_cb, &t), RILL_EBUSY);
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(cli, &req, FIX_CALL_MS, &resp), RILL_EBUSY);
    cr_assert(fix_wait_parked(&f, 4, FIX_CALL_MS));
    fix_release(&f, RILL__RESPONSE_CODE__SUCCESS);
    cr_assert_eq(tally_wait(&t, 4, FIX_CALL_MS), 4);
    cr_assert_eq(t.ok, 4);
    cr_assert_eq(fix_ping_call(cli, "slots are back", FIX_CALL_MS), 0);
    tally_destroy(&t);
    rpc_client_close(cli);
    fix_stop(&f);
}

Test(rpc_client, close_ends_every_call_in_flight_once)
{
    fixture_t f;
    fix_start(&f);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, NULL), 0);
    tally_t t;
    tally_init(&t);
    Rill__Request req;
    fix_bare_request(&req, FIX_PARK_CODE);
    enum { N = 70 };
    for (int i = 0; i < N; i++)
        cr_assert_eq(rpc_client_call_async(cli, &req, FIX_CALL_MS, tally_cb, &t), 0);
    cr_assert(fix_wait_parked(&f, N, FIX_CALL_MS));
    rpc_client_close(cli); /* returns only after every callback ran */
    cr_assert_eq(t.done, N);
    cr_assert_eq(t.ok, 0);
    cr_assert_eq(t.last_rc, RILL_ECLOSED, "rc %s", rill_errname(t.last_rc));
    tally_destroy(&t);
    fix_stop(&f); /* the parked answers go to a closed connection */
}

typedef struct {
    rpc_client_t *cli;
    tally_t *tally;
    int left;
} chain_t;

static void chain_cb(int rc, Rill__Response *resp, void *arg)
{
    chain_t *c = arg;
    bool ok = rc == 0 && resp->code == RILL__RESPONSE_CODE__SUCCESS;
    rpc_response_free(resp);
    if (ok && --c->left > 0) {
        Rill__Request req;
        Rill__PingRequest ping;
        fix_ping_request(&req, &ping, "next", 4);
        if (rpc_client_call_async(c->cli, &req, FIX_CALL_MS, chain_cb, c) == 0)
            return;
    }
    tally_cb(ok ? 0 : RILL_EINVAL, NULL, c->tally);
}

Test(rpc_client, a_callback_may_start_the_next_call)
{
    fixture_t f;
    fix_start(&f);
    /* the finishing call's slot is released only after its callback, so the
     * chain takes a fresh slot each time: leave it enough of them */
    rpc_client_opts_t opts = {.inflight_max = 32};
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, f.url, &opts), 0);
    tally_t t;
    tally_init(&t);
    chain_t c = {.cli = cli, .tally = &t, .left = 20};
    Rill__Request req;
    Rill__PingRequest ping;
    fix_ping_request(&req, &ping, "first", 5);
    cr_assert_eq(rpc_client_call_async(cli, &req, FIX_CALL_MS, chain_cb, &c), 0);
    cr_assert_eq(tally_wait(&t, 1, 10000), 1);
    cr_assert_eq(t.last_rc, 0);
    cr_assert_eq(c.left, 0);
    tally_destroy(&t);
    rpc_client_close(cli);
    fix_stop(&f);
}

Test(rpc_client, arguments_are_checked)
{
    fixture_t f;
    fix_start(&f);
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, NULL, NULL), RILL_EINVAL);
    rpc_client_opts_t huge = {.inflight_max = RPC_CLIENT_INFLIGHT_MAX + 1};
    cr_assert_eq(rpc_client_open(&cli, f.url, &huge), RILL_EINVAL);
    cr_assert_eq(rpc_client_open(&cli, "nonsense://x", NULL), RILL_EINVAL);
    cr_assert_null(cli);

    rpc_client_opts_t small = {.frame_bytes_max = 4096};
    cr_assert_eq(rpc_client_open(&cli, f.url, &small), 0);
    Rill__Request req;
    Rill__PingRequest ping;
    fix_ping_request(&req, &ping, "x", 1);
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(cli, &req, 0, &resp), RILL_EINVAL);
    cr_assert_eq(rpc_client_call(cli, &req, RPC_CALL_TIMEOUT_MS_MAX + 1, &resp), RILL_EINVAL);
    cr_assert_eq(rpc_client_call(cli, NULL, FIX_CALL_MS, &resp), RILL_EINVAL);
    cr_assert_eq(rpc_client_call(cli, &req, FIX_CALL_MS, NULL), RILL_EINVAL);
    cr_assert_eq(rpc_client_call_async(cli, &req, FIX_CALL_MS, NULL, NULL), RILL_EINVAL);
    static char big[8192];
    fix_ping_request(&req, &ping, big, sizeof(big));
    cr_assert_eq(rpc_client_call(cli, &req, FIX_CALL_MS, &resp), RILL_ETOOBIG);
    cr_assert_null(resp);
    cr_assert_eq(fix_ping_call(cli, "small is fine", FIX_CALL_MS), 0);
    rpc_client_close(cli);
    rpc_client_close(NULL);
    rpc_response_free(NULL);
    fix_stop(&f);
}
