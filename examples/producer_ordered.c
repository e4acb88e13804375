/*
 * producer_ordered.c - ordered messages: every message of one order goes to
 * the same queue (chosen by a selector from the order id), so a consumer
 * reads each order's steps in the order they were sent.
 *
 *     producer_ordered [namesrv] [topic] [count]
 *
 * Defaults: 127.0.0.1:9876, TopicTest, 30 (orders 0..9, three steps each).
 */
#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Same order id, same queue index (while the topic's queues do not change). */
static int select_by_order(int n_queues, const rill_msg_t *msg, void *arg)
{
    (void)msg;
    long order_id = *(const long *)arg;
    return (int)(order_id % n_queues);
}

int main(int argc, char **argv)
{
    static const char *const steps[] = {"created", "paid", "shipped"};
    const char *namesrv = argc > 1 ? argv[1] : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicTest";
    int count = argc > 3 ? atoi(argv[3]) : 30;

    char err[256];
    rill_conf_t *conf = rill_conf_new();
    if (conf == NULL || rill_conf_set(conf, "namesrv", namesrv, err, sizeof(err)) != 0 ||
        rill_conf_set(conf, "group", "ExampleOrderedGroup", err, sizeof(err)) != 0) {
        fprintf(stderr, "conf: %s\n", conf ? err : "out of memory");
        rill_conf_destroy(conf);
        return 1;
    }
    rill_producer_t *producer = NULL;
    if (rill_producer_new(&producer, conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "producer: %s\n", err);
        rill_conf_destroy(conf);
        return 1;
    }

    int failed = 0;
    for (int i = 0; i < count; i++) {
        long order_id = i % 10;
        const char *step = steps[(i / 10) % 3];
        char body[64], key[32];
        snprintf(body, sizeof(body), "order %ld %s", order_id, step);
        snprintf(key, sizeof(key), "order-%ld", order_id);
        rill_msg_t *msg = rill_msg_new(topic);
        if (msg == NULL || rill_msg_set_body(msg, body, strlen(body)) != 0 ||
            rill_msg_set_keys(msg, key) != 0) {
            fprintf(stderr, "message %d: %s\n", i, rill_last_error());
            rill_msg_destroy(msg);
            failed++;
            break;
        }
        rill_send_result_t res;
        int rc = rill_producer_send_select(producer, msg, select_by_order, &order_id, &res);
        if (rc != 0) {
            fprintf(stderr, "send %d: %s (%s)\n", i, rill_strerror(rc), rill_last_error());
            failed++;
        } else {
            printf("%-22s -> %s:%d offset %lld\n", body, res.broker_name, res.queue_id,
                   (long long)res.queue_offset);
        }
        rill_msg_destroy(msg);
    }

    rill_producer_destroy(producer);
    return failed ? 1 : 0;
}
