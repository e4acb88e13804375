/*
 * pull_consumer.c - read every queue of a topic with a pull consumer:
 * assign all its queues, poll, print each message, commit after each batch.
 * Ctrl-C stops it; destroy commits once more.
 *
 *     pull_consumer [namesrv] [topic] [group]
 *     pull_consumer 127.0.0.1:9876 TopicTest example_pull_group
 */
#include <rill.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define QUEUES_MAX 1024
#define BATCH      32

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    const char *namesrv = argc > 1 ? argv[1] : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicTest";
    const char *group = argc > 3 ? argv[3] : "example_pull_group";
    char err[256];

    rill_conf_t *conf = rill_conf_new();
    if (conf == NULL || rill_conf_set(conf, "namesrv", namesrv, err, sizeof(err)) != 0 ||
        rill_conf_set(conf, "group", group, err, sizeof(err)) != 0 ||
        rill_conf_set(conf, "consume.from", "FIRST_OFFSET", err, sizeof(err)) != 0 ||
        rill_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) != 0) {
        fprintf(stderr, "conf: %s\n", conf ? err : "out of memory");
        rill_conf_destroy(conf);
        return 1;
    }
    rill_pull_consumer_t *c = NULL;
    if (rill_pull_consumer_new(&c, conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "pull consumer: %s\n", err);
        rill_conf_destroy(conf);
        return 1;
    }

    /* every readable queue of the topic, ordered by broker and queue id */
    static rill_queue_t queues[QUEUES_MAX];
    size_t n = 0;
    int rc = rill_pull_consumer_topic_queues(c, topic, queues, QUEUES_MAX, &n);
    if (rc == 0 && n > QUEUES_MAX)
        n = QUEUES_MAX;
    if (rc == 0)
        rc = rill_pull_consumer_assign(c, queues, n);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", rill_strerror(rc), rill_last_error());
        rill_pull_consumer_destroy(c);
        return 1;
    }
    printf("consuming %zu queues of %s as %s; Ctrl-C to stop\n", n, topic, group);

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    long total = 0;
    while (!stop) {
        rill_msg_t *msgs[BATCH];
        size_t got = 0;
        rc = rill_pull_consumer_poll(c, 1000, msgs, BATCH, &got);
        if (rc != 0) {
            fprintf(stderr, "poll: %s: %s\n", rill_strerror(rc), rill_last_error());
            break;
        }
        for (size_t i = 0; i < got; i++) {
            size_t len = 0;
            const char *body = rill_msg_body(msgs[i], &len);
            const char *tags = rill_msg_tags(msgs[i]);
            printf("%s %s/%d@%lld tags=%s body=%.*s\n", rill_msg_id(msgs[i]),
                   rill_msg_broker_name(msgs[i]), rill_msg_queue_id(msgs[i]),
                   (long long)rill_msg_queue_offset(msgs[i]), tags ? tags : "-",
                   (int)(len > 80 ? 80 : len), body);
            rill_msg_destroy(msgs[i]); /* polled messages are ours */
        }
        total += (long)got;
        if (got > 0 && (rc = rill_pull_consumer_commit_sync(c)) != 0)
            fprintf(stderr, "commit: %s: %s\n", rill_strerror(rc), rill_last_error());
    }
    printf("%ld messages\n", total);
    rill_pull_consumer_destroy(c);
    return 0;
}
