/*
 * push_consumer_orderly.c - consume ordered messages (see producer_ordered.c):
 * with an orderly listener each queue is consumed by one thread at a time,
 * in queue order, so messages a producer sent to one queue (same order id)
 * are seen in the order they were sent. A failing call suspends its queue
 * and redelivers the same messages. Ctrl-C shuts down and commits.
 *
 *   push_consumer_orderly [topic] [group]
 *   (defaults: TopicOrdered, example_orderly_group; NameServer from $RILL_NAMESRV)
 *
 * Each queue is locked on its broker by one member of the group at a time,
 * so order also holds across members and rebalances (see ordered_consumer.c).
 */
#include <rill.h>

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static rill_consume_status_t on_ordered(rill_msg_t *const *msgs, size_t n, void *opaque)
{
    (void)opaque;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *body = rill_msg_body(msgs[i], &len);
        const char *keys = rill_msg_keys(msgs[i]);
        printf("queue %d offset %lld key %s: %.*s\n", rill_msg_queue_id(msgs[i]),
               (long long)rill_msg_queue_offset(msgs[i]), keys ? keys : "-",
               (int)(len > 80 ? 80 : len), body);
    }
    return RILL_CONSUME_SUCCESS;
}

int main(int argc, char **argv)
{
    const char *topic = argc > 1 ? argv[1] : "TopicOrdered";
    const char *group = argc > 2 ? argv[2] : "example_orderly_group";
    char err[256];

    rill_conf_t *conf = rill_conf_new();
    if (!conf || rill_conf_set(conf, "group", group, err, sizeof err) != 0 ||
        rill_conf_set(conf, "consume.from", "FIRST_OFFSET", err, sizeof err) != 0) {
        fprintf(stderr, "conf: %s\n", conf ? err : "out of memory");
        return 1;
    }
    rill_push_consumer_t *c = NULL;
    if (rill_push_consumer_new(&c, conf, err, sizeof err) != 0) {
        fprintf(stderr, "consumer: %s\n", err);
        rill_conf_destroy(conf);
        return 1;
    }
    int rc = rill_push_consumer_subscribe(c, topic, "*");
    if (rc == 0)
        rc = rill_push_consumer_set_orderly_listener(c, on_ordered, NULL);
    if (rc == 0)
        rc = rill_push_consumer_start(c);
    if (rc != 0) {
        fprintf(stderr, "start: %s (%s)\n", rill_strerror(rc), rill_last_error());
        rill_push_consumer_destroy(c);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop)
        usleep(100 * 1000);
    rill_push_consumer_destroy(c);
    return 0;
}
