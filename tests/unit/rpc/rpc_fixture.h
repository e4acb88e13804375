/*
 * rpc_fixture.h - a test server on a free loopback port with two handlers:
 * PING echoes its payload at once; PULL_MESSAGE parks the request in a
 * table that the test (or the handler, once enough are parked) answers
 * later. Header-only so each rpc suite stays one executable.
 */
#ifndef RILL_TEST_RPC_FIXTURE_H
#define RILL_TEST_RPC_FIXTURE_H

#include "common/clock.h"
#include "common/errors.h"
#include "rpc/rpc_client.h"
#include "rpc/rpc_codes.h"
#include "rpc/rpc_server.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/** Most requests a fixture parks at once. */
#define FIX_PARKED_MAX 512
/** Timeout of calls expected to succeed. */
#define FIX_CALL_MS 5000
/** Request code the fixture parks. */
#define FIX_PARK_CODE RILL__REQUEST_CODE__PULL_MESSAGE

typedef struct {
    rpc_server_t *srv;
    char url[64];
    pthread_mutex_t mtx;
    pthread_cond_t cond; /* monotonic; signalled on every park */
    rpc_request_t *parked[FIX_PARKED_MAX];
    int nparked;
    int release_at;    /* when > 0: the handler answers all once this many are parked */
    int reply_results; /* rpc_reply() codes of the parked answers that were not 0 */
} fixture_t;

static inline void fix_ping(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    (void)arg;
    Rill__PingResponse pong = RILL__PING_RESPONSE__INIT;
    if (msg->body_case == RILL__REQUEST__BODY_PING)
        pong.payload = msg->ping->payload; /* may point into the request: packed before it goes */
    Rill__Response resp = RILL__RESPONSE__INIT;
    resp.code = RILL__RESPONSE_CODE__SUCCESS;
    resp.body_case = RILL__RESPONSE__BODY_PING;
    resp.ping = &pong;
    rpc_reply(req, &resp);
}

/* Answer every parked request with code; call with f->mtx held. */
static inline void fix_release_locked(fixture_t *f, int code)
{
    for (int i = 0; i < f->nparked; i++)
        if (rpc_reply_code(f->parked[i], code, "released") != 0)
            f->reply_results++;
    f->nparked = 0;
}

static inline void fix_park(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    (void)msg;
    fixture_t *f = arg;
    pthread_mutex_lock(&f->mtx);
    cr_assert_lt(f->nparked, FIX_PARKED_MAX);
    f->parked[f->nparked++] = req;
    if (f->release_at > 0 && f->nparked >= f->release_at)
        fix_release_locked(f, RILL__RESPONSE_CODE__SUCCESS);
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mtx);
}

static inline void fix_start_opts(fixture_t *f, const rpc_server_opts_t *opts)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mtx, NULL);
    rill_cond_init_monotonic(&f->cond);
    cr_assert_eq(rpc_server_create(&f->srv, opts), 0);
    cr_assert_eq(rpc_server_set_handler(f->srv, RILL__REQUEST_CODE__PING, fix_ping, f), 0);
    cr_assert_eq(rpc_server_set_handler(f->srv, FIX_PARK_CODE, fix_park, f), 0);
    cr_assert_eq(rpc_server_start(f->srv, "tcp://127.0.0.1:0"), 0);
    int port = rpc_server_port(f->srv);
    cr_assert_gt(port, 0);
    snprintf(f->url, sizeof(f->url), "tcp://127.0.0.1:%d", port);
}

static inline void fix_start(fixture_t *f)
{
    fix_start_opts(f, NULL);
}

/* Wait until at least n requests are parked; false after timeout_ms. */
static inline bool fix_wait_parked(fixture_t *f, int n, uint32_t timeout_ms)
{
    struct timespec deadline;
    rill_deadline_after_ms(&deadline, timeout_ms);
    pthread_mutex_lock(&f->mtx);
    while (f->nparked < n)
        if (pthread_cond_timedwait(&f->cond, &f->mtx, &deadline) != 0)
            break;
    bool ok = f->nparked >= n;
    pthread_mutex_unlock(&f->mtx);
    return ok;
}

static inline void fix_release(fixture_t *f, int code)
{
    pthread_mutex_lock(&f->mtx);
    fix_release_locked(f, code);
    pthread_mutex_unlock(&f->mtx);
}

/* Answer whatever is still parked, then close the server. */
static inline void fix_stop(fixture_t *f)
{
    fix_release(f, RILL__RESPONSE_CODE__SYSTEM_ERROR);
    rpc_server_close(f->srv);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->mtx);
}

/* A PING request carrying payload (borrowed). */
static inline void fix_ping_request(Rill__Request *req, Rill__PingRequest *ping,
                                    const void *payload, size_t len)
{
    rill__request__init(req);
    rill__ping_request__init(ping);
    ping->payload.data = (uint8_t *)payload;
    ping->payload.len = len;
    req->code = RILL__REQUEST_CODE__PING;
    req->body_case = RILL__REQUEST__BODY_PING;
    req->ping = ping;
}

/* One PING round trip; returns the call's code and checks the echo on success. */
static inline int fix_ping_call(rpc_client_t *cli, const char *text, uint32_t timeout_ms)
{
    Rill__Request req;
    Rill__PingRequest ping;
    fix_ping_request(&req, &ping, text, strlen(text));
    Rill__Response *resp = NULL;
    int rc = rpc_client_call(cli, &req, timeout_ms, &resp);
    if (rc != 0)
        return rc;
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__SUCCESS, "code %d remark %s", resp->code,
                 resp->remark);
    cr_assert_eq(resp->body_case, RILL__RESPONSE__BODY_PING);
    cr_assert_eq(resp->ping->payload.len, strlen(text));
    if (strlen(text) > 0)
        cr_assert_eq(memcmp(resp->ping->payload.data, text, strlen(text)), 0);
    rpc_response_free(resp);
    return 0;
}

/* A request with a code and no body. */
static inline void fix_bare_request(Rill__Request *req, int code)
{
    rill__request__init(req);
    req->code = code;
}

/* Counts completions of async calls, by result. */
typedef struct {
    pthread_mutex_t mtx;
    pthread_cond_t cond;
    int done;
    int ok;       /* rc 0 and SUCCESS */
    int last_rc;  /* rc of the last failure */
    int codes[4]; /* per-outcome tallies for a test's own use */
    uint64_t t_last_ms;
} tally_t;

static inline void tally_init(tally_t *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mtx, NULL);
    rill_cond_init_monotonic(&t->cond);
}

static inline void tally_cb(int rc, Rill__Response *resp, void *arg)
{
    tally_t *t = arg;
    pthread_mutex_lock(&t->mtx);
    t->done++;
    if (rc == 0 && (resp == NULL || resp->code == RILL__RESPONSE_CODE__SUCCESS))
        t->ok++;
    else if (rc != 0)
        t->last_rc = rc;
    t->t_last_ms = rill_mono_ms();
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->mtx);
    rpc_response_free(resp);
}

/* Wait until n completions; returns how many were seen when it gave up. */
static inline int tally_wait(tally_t *t, int n, uint32_t timeout_ms)
{
    struct timespec deadline;
    rill_deadline_after_ms(&deadline, timeout_ms);
    pthread_mutex_lock(&t->mtx);
    while (t->done < n)
        if (pthread_cond_timedwait(&t->cond, &t->mtx, &deadline) != 0)
            break;
    int done = t->done;
    pthread_mutex_unlock(&t->mtx);
    return done;
}

static inline void tally_destroy(tally_t *t)
{
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->mtx);
}

#endif
