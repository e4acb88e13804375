/*
 * admin_topics.c - create (or update) a topic on every master of a cluster,
 * then print its route and the offsets of each of its queues.
 *
 *     admin_topics [namesrv] [topic] [queues] [cluster]
 *     admin_topics 127.0.0.1:9876 TopicTest 8 DefaultCluster
 */
#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The NameServers learn a new topic from the brokers' next registration. */
#define ROUTE_WAIT_TRIES 50
#define ROUTE_WAIT_MS    100

static int fail(const char *what, int rc)
{
    fprintf(stderr, "%s: %s: %s\n", what, rill_strerror(rc), rill_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *namesrv = argc > 1 ? argv[1] : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicTest";
    int queues = argc > 3 ? atoi(argv[3]) : 4;
    const char *cluster = argc > 4 ? argv[4] : "DefaultCluster";
    char err[256];

    rill_conf_t *conf = rill_conf_new();
    if (conf == NULL || rill_conf_set(conf, "namesrv", namesrv, err, sizeof(err)) != 0) {
        fprintf(stderr, "conf: %s\n", conf ? err : "out of memory");
        rill_conf_destroy(conf);
        return 1;
    }
    rill_admin_t *a = NULL;
    if (rill_admin_new(&a, conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "admin: %s\n", err);
        rill_conf_destroy(conf);
        return 1;
    }

    rill_topic_config_t tc;
    rill_topic_config_init(&tc, topic);
    tc.read_queue_nums = tc.write_queue_nums = queues;
    int rc = rill_admin_topic_create(a, cluster, NULL, &tc);
    if (rc != 0) {
        rill_admin_destroy(a);
        return fail("create", rc);
    }
    printf("topic %s: %d queues on every master of %s\n", topic, queues, cluster);

    rill_topic_route_t route;
    for (int i = 0;
         (rc = rill_admin_topic_route(a, topic, &route)) == RILL_ETOPIC && i < ROUTE_WAIT_TRIES;
         i++)
        usleep(ROUTE_WAIT_MS * 1000);
    if (rc != 0) {
        rill_admin_destroy(a);
        return fail("route", rc);
    }
    printf("route:\n");
    for (size_t i = 0; i < route.n_queue_datas; i++)
        printf("  %-16s read %d write %d perm %d\n", route.queue_datas[i].broker_name,
               route.queue_datas[i].read_queue_nums, route.queue_datas[i].write_queue_nums,
               route.queue_datas[i].perm);
    for (size_t i = 0; i < route.n_brokers; i++)
        for (size_t j = 0; j < route.brokers[i].n_addrs; j++)
            printf("  %-16s id %lld at %s (cluster %s)\n", route.brokers[i].broker_name,
                   (long long)route.brokers[i].addrs[j].broker_id, route.brokers[i].addrs[j].addr,
                   route.brokers[i].cluster);
    rill_topic_route_free(&route);

    rill_queue_stat_t *st = NULL;
    size_t n = 0;
    rc = rill_admin_topic_status(a, topic, &st, &n);
    if (rc != 0) {
        rill_admin_destroy(a);
        return fail("status", rc);
    }
    printf("%-16s %5s %12s %12s %s\n", "broker", "queue", "min", "max", "last stored (ms)");
    for (size_t i = 0; i < n; i++)
        printf("%-16s %5d %12lld %12lld %lld\n", st[i].queue.broker_name, st[i].queue.queue_id,
               (long long)st[i].min_offset, (long long)st[i].max_offset,
               (long long)st[i].last_store_timestamp);
    free(st);
    rill_admin_destroy(a);
    return 0;
}
