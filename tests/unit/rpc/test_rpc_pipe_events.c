/*
 * test_rpc_pipe_events.c - the closed-connection hook of the RPC server:
 * a closed client connection is reported once with the pipe id its
 * requests carried, other connections are not, the hook is frozen once
 * serving, and nothing is reported once the server stops.
 */
#include "rpc_fixture.h"

/* Connections a test watches at most. */
#define WATCH_PIPES_MAX 64

typedef struct {
    pthread_mutex_t mtx;
    pthread_cond_t cond; /* monotonic; signalled on every closed pipe */
    uint32_t closed[WATCH_PIPES_MAX];
    int nclosed;
    uint32_t last_request_pipe;
} watch_t;

static void watch_init(watch_t *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mtx, NULL);
    rill_cond_init_monotonic(&w->cond);
}

static void watch_destroy(watch_t *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mtx);
}

static void on_closed(uint32_t pipe_id, void *arg)
{
    watch_t *w = arg;
    pthread_mutex_lock(&w->mtx);
    if (w->nclosed < WATCH_PIPES_MAX)
        w->closed[w->nclosed++] = pipe_id;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mtx);
}

/* PING that remembers which connection it came on. */
static void ping_and_note_pipe(rpc_request_t *req, const Rill__Request *msg, void *arg)
{
    watch_t *w = arg;
    pthread_mutex_lock(&w->mtx);
    w->last_request_pipe = rpc_request_pipe_id(req);
    pthread_mutex_unlock(&w->mtx);
    fix_ping(req, msg, NULL);
}

static uint32_t ping_pipe(rpc_client_t *cli, watch_t *w)
{
    cr_assert_eq(fix_ping_call(cli, "which pipe", FIX_CALL_MS), 0);
    pthread_mutex_lock(&w->mtx);
    uint32_t id = w->last_request_pipe;
    pthread_mutex_unlock(&w->mtx);
    cr_assert_neq(id, 0);
    return id;
}

static bool closed_contains(watch_t *w, uint32_t id)
{
    for (int i = 0; i < w->nclosed; i++)
        if (w->closed[i] == id)
            return true;
    return false;
}

/* Wait until pipe id is reported closed; false after timeout_ms. */
static bool wait_closed(watch_t *w, uint32_t id, uint32_t timeout_ms)
{
    struct timespec deadline;
    rill_deadline_after_ms(&deadline, timeout_ms);
    pthread_mutex_lock(&w->mtx);
    while (!closed_contains(w, id))
        if (pthread_cond_timedwait(&w->cond, &w->mtx, &deadline) != 0)
            break;
    bool ok = closed_contains(w, id);
    pthread_mutex_unlock(&w->mtx);
    return ok;
}

static rpc_server_t *start_watched(watch_t *w, char *url, size_t cap)
{
    rpc_server_t *srv = NULL;
    cr_assert_eq(rpc_server_create(&srv, NULL), 0);
    cr_assert_eq(rpc_server_set_handler(srv, RILL__REQUEST_CODE__PING, ping_and_note_pipe, w), 0);
    cr_assert_eq(rpc_server_set_pipe_closed(srv, on_closed, w), 0);
    cr_assert_eq(rpc_server_start(srv, "tcp://127.0.0.1:0"), 0);
    snprintf(url, cap, "tcp://127.0.0.1:%d", rpc_server_port(srv));
    return srv;
}

Test(rpc_pipe_events, closed_connection_is_reported_with_its_pipe_id)
{
    watch_t w;
    watch_init(&w);
    char url[64];
    rpc_server_t *srv = start_watched(&w, url, sizeof(url));
    rpc_client_t *a = NULL, *b = NULL;
    cr_assert_eq(rpc_client_open(&a, url, NULL), 0);
    cr_assert_eq(rpc_client_open(&b, url, NULL), 0);
    uint32_t pipe_a = ping_pipe(a, &w);
    uint32_t pipe_b = ping_pipe(b, &w);
    cr_assert_neq(pipe_a, pipe_b, "one pipe per connection");
    cr_assert_eq(ping_pipe(a, &w), pipe_a, "the same connection keeps its id");

    rpc_client_close(a);
    cr_assert(wait_closed(&w, pipe_a, FIX_CALL_MS), "closing a was never reported");
    pthread_mutex_lock(&w.mtx);
    cr_assert_eq(w.nclosed, 1);
    cr_assert_not(closed_contains(&w, pipe_b));
    pthread_mutex_unlock(&w.mtx);
    cr_assert_eq(ping_pipe(b, &w), pipe_b, "b keeps being served");

    rpc_client_close(b);
    cr_assert(wait_closed(&w, pipe_b, FIX_CALL_MS));
    rpc_server_close(srv);
    cr_assert_eq(w.nclosed, 2, "each connection is reported once");
    watch_destroy(&w);
}

Test(rpc_pipe_events, nothing_is_reported_once_stopping)
{
    watch_t w;
    watch_init(&w);
    char url[64];
    rpc_server_t *srv = start_watched(&w, url, sizeof(url));
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    ping_pipe(cli, &w);
    /* The server closes the connection itself: not a peer leaving. */
    rpc_server_close(srv);
    pthread_mutex_lock(&w.mtx);
    cr_assert_eq(w.nclosed, 0);
    pthread_mutex_unlock(&w.mtx);
    rpc_client_close(cli);
    watch_destroy(&w);
}

Test(rpc_pipe_events, hook_is_frozen_once_serving)
{
    watch_t w;
    watch_init(&w);
    rpc_server_t *srv = NULL;
    cr_assert_eq(rpc_server_create(&srv, NULL), 0);
    cr_assert_eq(rpc_server_set_pipe_closed(srv, on_closed, &w), 0);
    cr_assert_eq(rpc_server_set_pipe_closed(srv, NULL, NULL), 0, "NULL removes it");
    cr_assert_eq(rpc_server_start(srv, "tcp://127.0.0.1:0"), 0);
    cr_assert_eq(rpc_server_set_pipe_closed(srv, on_closed, &w), RILL_EINVAL);

    /* Without a hook, connections come and go unreported. */
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", rpc_server_port(srv));
    rpc_client_t *cli = NULL;
    cr_assert_eq(rpc_client_open(&cli, url, NULL), 0);
    Rill__Request req;
    fix_bare_request(&req, RILL__REQUEST_CODE__PING);
    Rill__Response *resp = NULL;
    cr_assert_eq(rpc_client_call(cli, &req, FIX_CALL_MS, &resp), 0);
    cr_assert_eq(resp->code, RILL__RESPONSE_CODE__REQUEST_CODE_NOT_SUPPORTED);
    rpc_response_free(resp);
    rpc_client_close(cli);
    rill_sleep_ms(100);
    cr_assert_eq(w.nclosed, 0);
    rpc_server_close(srv);
    watch_destroy(&w);
}
