/*
 * test_client.c - rc_client_t without any server: the namesrv list is
 * parsed (and refused exactly), client ids are filled in, and the timer
 * thread runs tasks periodically, at once when kicked, one at a time, and
 * never again after rc_client_cancel() returns, even when cancelled while
 * running.
 */
#include "client/src/core.h"
#include "rpc/rpc_client.h"

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int open_with(const char *namesrv, rc_client_t **cli, rill_conf_t **conf, char *err,
                     size_t cap)
{
    *conf = rill_conf_new();
    cr_assert_eq(rill_conf_set(*conf, "namesrv", namesrv, NULL, 0), 0);
    return rc_client_open(cli, *conf, err, cap);
}

Test(client, namesrv_lists)
{
    static const char *const good[] = {"127.0.0.1:9876", "a:1;b:2", " a:1 ; b:2 ;", "host.x:65535"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        rc_client_t *cli = NULL;
        rill_conf_t *conf;
        char err[256] = "";
        cr_assert_eq(open_with(good[i], &cli, &conf, err, sizeof(err)), 0, "%s: %s", good[i], err);
        rc_client_close(cli);
        rill_conf_destroy(conf);
    }
    static const struct {
        const char *list, *err;
    } bad[] = {
        {"", "namesrv list is empty"},
        {" ; ;", "namesrv list is empty"},
        {"localhost", "bad namesrv address 'localhost': expected host:port"},
        {"a:1;b", "bad namesrv address 'b': expected host:port"},
        {"a:0", "bad namesrv address 'a:0': expected host:port"},
        {"a:65536", "bad namesrv address 'a:65536': expected host:port"},
        {":80", "bad namesrv address ':80': expected host:port"},
        {"a:8x", "bad namesrv address 'a:8x': expected host:port"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc_client_t *cli = NULL;
        rill_conf_t *conf;
        char err[256] = "";
        cr_assert_eq(open_with(bad[i].list, &cli, &conf, err, sizeof(err)), RILL_ECONFIG, "%s",
                     bad[i].list);
        cr_assert_str_eq(err, bad[i].err);
        cr_assert_str_eq(rill_last_error(), bad[i].err);
        cr_assert_null(cli);
        rill_conf_destroy(conf);
    }
    char many[512] = "";
    for (int i = 0; i < 17; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "h%d:1;", i);
    rc_client_t *cli = NULL;
    rill_conf_t *conf;
    char err[256];
    cr_assert_eq(open_with(many, &cli, &conf, err, sizeof(err)), RILL_ECONFIG);
    cr_assert_str_eq(err, "namesrv list has more than 16 addresses");
    rill_conf_destroy(conf);
}

Test(client, client_ids_filled_and_distinct)
{
    rc_client_t *a, *b;
    rill_conf_t *ca, *cb;
    cr_assert_eq(open_with("127.0.0.1:1", &a, &ca, NULL, 0), 0);
    cr_assert_eq(open_with("127.0.0.1:1", &b, &cb, NULL, 0), 0);
    char pid[32];
    snprintf(pid, sizeof(pid), "@%d@", (int)getpid());
    cr_assert(strstr(ca->client_id, pid) != NULL, "%s", ca->client_id);
    cr_assert_str_neq(ca->client_id, cb->client_id);
    cr_assert_eq(rc_client_conf(a), ca);
    rc_client_close(a);
    rc_client_close(b);
    rill_conf_destroy(ca);
    rill_conf_destroy(cb);
    /* a given id is kept */
    rill_conf_t *cc = rill_conf_new();
    cr_assert_eq(rill_conf_set(cc, "client.id", "mine", NULL, 0), 0);
    rc_client_t *c;
    cr_assert_eq(rc_client_open(&c, cc, NULL, 0), 0);
    cr_assert_str_eq(cc->client_id, "mine");
    rc_client_close(c);
    rill_conf_destroy(cc);
    rc_client_close(NULL);
}

typedef struct counter {
    atomic_int runs;
    atomic_int inside, max_inside;
    unsigned sleep_ms;
} counter_t;

static void count_task(void *arg)
{
    counter_t *c = arg;
    int in = atomic_fetch_add(&c->inside, 1) + 1;
    int m = atomic_load(&c->max_inside);
    while (in > m && !atomic_compare_exchange_weak(&c->max_inside, &m, in))
        ;
    if (c->sleep_ms)
        sleep_ms(c->sleep_ms);
    atomic_fetch_add(&c->runs, 1);
    atomic_fetch_sub(&c->inside, 1);
}

Test(client, timer_periodic_now_kick_cancel)
{
    rc_client_t *cli;
    rill_conf_t *conf;
    cr_assert_eq(open_with("127.0.0.1:1", &cli, &conf, NULL, 0), 0);

    counter_t fast = {0}, slow = {0}, kicked = {0};
    int f = rc_client_every(cli, 20, false, count_task, &fast);
    cr_assert_geq(f, 0);
    slow.sleep_ms = 30;
    int s = rc_client_every(cli, 20, true, count_task, &slow);
    cr_assert_geq(s, 0);
    int k = rc_client_every(cli, 60000, false, count_task, &kicked);
    cr_assert_geq(k, 0);
    cr_assert(f != s && s != k && f != k);

    sleep_ms(400);
    cr_assert_geq(atomic_load(&fast.runs), 4, "fast ran %d times", atomic_load(&fast.runs));
    cr_assert_geq(atomic_load(&slow.runs), 2);
    cr_assert_eq(atomic_load(&kicked.runs), 0);

    uint64_t t0 = mono_ms();
    rc_client_kick(cli, k);
    while (atomic_load(&kicked.runs) == 0 && mono_ms() - t0 < 2000)
        sleep_ms(1);
    cr_assert_eq(atomic_load(&kicked.runs), 1);
    cr_assert_lt(mono_ms() - t0, 200);

    /* cancel while it may be running: afterwards it never runs again */
    rc_client_cancel(cli, s);
    int after = atomic_load(&slow.runs);
    cr_assert_eq(atomic_load(&slow.inside), 0);
    sleep_ms(150);
    cr_assert_eq(atomic_load(&slow.runs), after);
    rc_client_cancel(cli, f);
    rc_client_cancel(cli, k);
    rc_client_kick(cli, k); /* kicking a cancelled task does nothing */
    sleep_ms(50);
    cr_assert_eq(atomic_load(&kicked.runs), 1);

    /* one at a time, across tasks */
    cr_assert_eq(atomic_load(&fast.max_inside), 1);
    cr_assert_eq(atomic_load(&slow.max_inside), 1);
    rc_client_close(cli);
    rill_conf_destroy(conf);
}

Test(client, timer_task_limit)
{
    rc_client_t *cli;
    rill_conf_t *conf;
    cr_assert_eq(open_with("127.0.0.1:1", &cli, &conf, NULL, 0), 0);
    counter_t c = {0};
    /* the route refresh task takes one slot */
    int ids[RC_TASKS_MAX];
    int n = 0;
    for (; n < RC_TASKS_MAX; n++) {
        ids[n] = rc_client_every(cli, 60000, false, count_task, &c);
        if (ids[n] < 0)
            break;
    }
    cr_assert_eq(n, RC_TASKS_MAX - 1);
    cr_assert_eq(ids[n], RILL_EBUSY);
    rc_client_cancel(cli, ids[0]);
    cr_assert_eq(rc_client_every(cli, 60000, false, count_task, &c), ids[0]);
    rc_client_close(cli);
    rill_conf_destroy(conf);
}

Test(client, read_addr_follows_mark_down_and_up)
{
    rc_client_t *cli;
    rill_conf_t *conf;
    cr_assert_eq(open_with("127.0.0.1:1", &cli, &conf, NULL, 0), 0);
    rc_broker_set_t s = {0};
    s.n_addrs = 3;
    s.ids[0] = 0, s.ids[1] = 1, s.ids[2] = 2;
    snprintf(s.addrs[0], RC_ADDR_BYTES, "127.0.0.1:2");
    snprintf(s.addrs[1], RC_ADDR_BYTES, "127.0.0.1:3");
    snprintf(s.addrs[2], RC_ADDR_BYTES, "127.0.0.1:4");
    rpc_client_t *conn;
    cr_assert_eq(rc_broker_conn(cli, s.addrs[0], &conn), 0);
    cr_assert_str_eq(rc_set_read_addr(cli, &s), "127.0.0.1:2");
    /* many marks, over many milliseconds: a mark-down always counts at once
     * (it once failed on every other millisecond) */
    for (int i = 0; i < 40; i++) {
        rc_broker_mark_down(cli, s.addrs[0]);
        cr_assert_str_eq(rc_set_read_addr(cli, &s), "127.0.0.1:3", "round %d", i);
        rc_broker_mark_up(cli, s.addrs[0]);
        cr_assert_str_eq(rc_set_read_addr(cli, &s), "127.0.0.1:2");
        sleep_ms(1);
    }
    /* no slave: the master even when down */
    s.n_addrs = 1;
    rc_broker_mark_down(cli, s.addrs[0]);
    cr_assert_str_eq(rc_set_read_addr(cli, &s), "127.0.0.1:2");
    cr_assert_str_eq(rc_set_addr(&s, 0), "127.0.0.1:2");
    cr_assert_null(rc_set_addr(&s, 1));
    rc_client_close(cli);
    rill_conf_destroy(conf);
}
