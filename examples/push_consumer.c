/*
 * push_consumer.c - consume a topic with a push consumer: the library pulls
 * and calls on_messages() on its threads; Ctrl-C shuts down cleanly, which
 * commits the offsets of what was consumed.
 *
 *   push_consumer [topic] [group] [expression]
 *   (defaults: TopicTest, example_group, "*"; NameServer from $RILL_NAMESRV)
 */
#include <rill.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static atomic_long consumed;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Runs on one of consume.threads library threads, possibly many at once. */
static rill_consume_status_t on_messages(rill_msg_t *const *msgs, size_t n, void *opaque)
{
    (void)opaque;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *body = rill_msg_body(msgs[i], &len);
        const char *tags = rill_msg_tags(msgs[i]);
        printf("%s queue %d offset %lld tags %s: %.*s\n", rill_msg_topic(msgs[i]),
               rill_msg_queue_id(msgs[i]), (long long)rill_msg_queue_offset(msgs[i]),
               tags ? tags : "-", (int)(len > 80 ? 80 : len), body);
    }
    atomic_fetch_add(&consumed, (long)n);
    return RILL_CONSUME_SUCCESS; /* RILL_RECONSUME_LATER: deliver again later */
}

int main(int argc, char **argv)
{
    const char *topic = argc > 1 ? argv[1] : "TopicTest";
    const char *group = argc > 2 ? argv[2] : "example_group";
    const char *expression = argc > 3 ? argv[3] : "*";
    char err[256];

    rill_conf_t *conf = rill_conf_new();
    if (!conf || rill_conf_set(conf, "group", group, err, sizeof err) != 0) {
        fprintf(stderr, "conf: %s\n", conf ? err : "out of memory");
        return 1;
    }
    rill_push_consumer_t *c = NULL;
    if (rill_push_consumer_new(&c, conf, err, sizeof err) != 0) {
        fprintf(stderr, "consumer: %s\n", err);
        rill_conf_destroy(conf); /* still ours: the consumer takes it only on success */
        return 1;
    }
    int rc = rill_push_consumer_subscribe(c, topic, expression);
    if (rc == 0)
        rc = rill_push_consumer_set_listener(c, on_messages, NULL);
    if (rc == 0)
        rc = rill_push_consumer_start(c);
    if (rc != 0) {
        fprintf(stderr, "start: %s (%s)\n", rill_strerror(rc), rill_last_error());
        rill_push_consumer_destroy(c);
        return 1;
    }

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr, "consuming %s (%s) as %s; Ctrl-C to stop\n", topic, expression, group);
    while (!stop)
        usleep(100 * 1000);

    rill_push_consumer_destroy(c); /* waits for listener calls, commits, unregisters */
    fprintf(stderr, "consumed %ld messages\n", atomic_load(&consumed));
    return 0;
}
