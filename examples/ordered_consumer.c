/*
 * ordered_consumer.c - per-order ordering, consumer side (see
 * ordered_producer.c): an orderly push consumer prints every order step it
 * gets and checks that the steps of each order arrive in sequence.
 *
 *     ordered_consumer [namesrv] [topic] [group]
 *
 * Defaults: $RILL_NAMESRV or 127.0.0.1:9876, TopicOrdered,
 * example_ordered_group. Start several in one group: each queue is locked
 * on its broker by one member at a time, which consumes it on one thread in
 * queue order; when members come and go, a queue moves only after its old
 * owner finished its current call and committed. Ctrl-C stops and commits.
 */
#include <rill.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ORDERS_MAX 4096

static volatile sig_atomic_t stop;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int next_step[ORDERS_MAX]; /* per order number: the step expected next */

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static rill_consume_status_t on_steps(rill_msg_t *const *msgs, size_t n, void *opaque)
{
    (void)opaque;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *body = rill_msg_body(msgs[i], &len);
        char text[128];
        snprintf(text, sizeof text, "%.*s", (int)(len < 127 ? len : 127), body);
        int order = -1, step = -1;
        const char *mark = "";
        pthread_mutex_lock(&lock);
        if (sscanf(text, "ORD-%d step %d", &order, &step) == 2 && order >= 0 &&
            order < ORDERS_MAX) {
            /* a step seen again (a redelivery) is fine; one ahead of its time is not */
            if (step > next_step[order])
                mark = "   <-- OUT OF ORDER";
            if (step + 1 > next_step[order])
                next_step[order] = step + 1;
        }
        pthread_mutex_unlock(&lock);
        printf("%s#%d offset %-6lld %s%s\n", rill_msg_broker_name(msgs[i]),
               rill_msg_queue_id(msgs[i]), (long long)rill_msg_queue_offset(msgs[i]), text, mark);
    }
    fflush(stdout);
    return RILL_CONSUME_SUCCESS;
}

int main(int argc, char **argv)
{
    const char *env = getenv("RILL_NAMESRV");
    const char *namesrv = argc > 1 ? argv[1] : env ? env : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicOrdered";
    const char *group = argc > 3 ? argv[3] : "example_ordered_group";
    char err[256];

    rill_conf_t *conf = rill_conf_new();
    if (!conf || rill_conf_set(conf, "namesrv", namesrv, err, sizeof err) != 0 ||
        rill_conf_set(conf, "group", group, err, sizeof err) != 0 ||
        rill_conf_set(conf, "consume.from", "FIRST_OFFSET", err, sizeof err) != 0) {
        fprintf(stderr, "conf: %s\n", conf ? err : "out of memory");
        rill_conf_destroy(conf);
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
        rc = rill_push_consumer_set_orderly_listener(c, on_steps, NULL);
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
    rill_push_consumer_destroy(c); /* commits, then the broker releases the locks */
    return 0;
}
