/*
 * client_int.h - the inside of rc_client_t, shared by client.c (open,
 * close, timer thread), namesrv.c (NameServer list and failover), route.c
 * (topic route cache) and brokers.c (connection pool). Nothing else
 * includes it: handles use core.h's functions.
 *
 * Locks, each guarding its own part and never held across a remote call or
 * a task: ns_lock (the namesrv list's current index and connections),
 * route_lock (the route table), br_lock (the broker table), t_lock (the
 * tasks). No code holds two of them at once.
 */
#ifndef RILL_CLIENT_CLIENT_INT_H
#define RILL_CLIENT_CLIENT_INT_H

#include "client/src/core.h"

/* A route not asked for in this long is dropped from the refresh (and the cache). */
#define RC_ROUTE_IDLE_MS (3u * 60u * 1000u)
/* How long rc_broker_mark_down() keeps a broker out of rc_set_read_addr()'s choice. */
#define RC_BROKER_DOWN_MS 10000u
/* Calls in flight on one broker connection (a producer keeps thousands of async sends). */
#define RC_BROKER_INFLIGHT_MAX 4096u
/* Calls in flight on one NameServer connection. */
#define RC_NAMESRV_INFLIGHT_MAX 64u

typedef struct rc_route_entry {
    char topic[RILL_TOPIC_BYTES_MAX + 1];
    rc_route_t *route;     /* the cache's own hold */
    uint64_t last_used_ms; /* monotonic */
} rc_route_entry_t;

typedef struct rc_broker {
    char addr[RC_ADDR_BYTES];
    rpc_client_t *conn;     /* opened on first use, closed with the client */
    uint64_t down_since_ms; /* monotonic; 0 = not down */
} rc_broker_t;

typedef struct rc_task {
    bool used;
    bool kicked;
    uint32_t period_ms;
    uint64_t next_ms; /* monotonic */
    void (*fn)(void *);
    void *arg;
} rc_task_t;

struct rc_client {
    struct rill_conf *conf; /* borrowed */

    /* namesrv.c */
    pthread_mutex_t ns_lock;
    size_t n_ns, ns_current;
    char ns_addrs[RC_NAMESRVS_MAX][RC_ADDR_BYTES];
    rpc_client_t *ns_conns[RC_NAMESRVS_MAX];

    /* route.c: entries sorted by topic (bsearch) */
    pthread_mutex_t route_lock;
    size_t n_routes;
    rc_route_entry_t *routes[RC_ROUTES_MAX];
    int route_task;

    /* brokers.c */
    pthread_mutex_t br_lock;
    size_t n_brokers;
    rc_broker_t brokers[RC_BROKERS_MAX];

    /* client.c: the timer thread */
    pthread_mutex_t t_lock;
    pthread_cond_t t_wake; /* monotonic: tasks changed, kick, stop */
    pthread_cond_t t_idle; /* a task finished running */
    pthread_t timer;
    bool timer_started, stop;
    int running; /* task id running now, -1 none */
    rc_task_t tasks[RC_TASKS_MAX];
};

/* namesrv.c */
/** Parse "host:port;host:port" into cli's list (random current). RILL_ECONFIG with errstr. */
int rc_namesrv_parse(rc_client_t *cli, const char *list, char *errstr, size_t errstr_size);
/** Close every NameServer connection. */
void rc_namesrv_close(rc_client_t *cli);

/* route.c */
/** Register the refresh task (after the timer thread runs). */
int rc_route_start(rc_client_t *cli);
/** Drop every cached route. */
void rc_route_close(rc_client_t *cli);

/* brokers.c */
/** Close every broker connection. */
void rc_brokers_close(rc_client_t *cli);

/**
 * Record a transport failure of a call to addr for rill_last_error() and
 * return rc: "no answer from <what><addr> within <timeout_ms> ms", "cannot
 * connect to ...". what is "" for brokers (rill.h's wording) or "NameServer ".
 */
int rc_transport_fail(int rc, const char *what, const char *addr, uint32_t timeout_ms);

#endif
