/*
 * ordered_producer.c - per-order ordering, producer side: every step of one
 * order ("ORD-17": created, paid, packed, shipped, delivered) goes to the
 * queue a selector picks by hashing the order id, so all steps of an order
 * sit in one queue in the order they were sent. Run ordered_consumer.c (one
 * or several instances of one group) to see them consumed in that order.
 *
 *     ordered_producer [namesrv] [topic] [orders]
 *
 * Defaults: $RILL_NAMESRV or 127.0.0.1:9876, TopicOrdered, 20 orders. Steps
 * are interleaved across orders (step 0 of every order, then step 1 ...), as
 * a busy shop would produce them.
 */
#include <rill.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const steps[] = {"created", "paid", "packed", "shipped", "delivered"};
#define N_STEPS (sizeof(steps) / sizeof(steps[0]))

/* FNV-1a of the order id: the same id always picks the same queue index. */
static int select_by_order_id(int n_queues, const rill_msg_t *msg, void *arg)
{
    (void)msg;
    uint32_t h = 2166136261u;
    for (const char *p = arg; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return (int)(h % (uint32_t)n_queues);
}

int main(int argc, char **argv)
{
    const char *env = getenv("RILL_NAMESRV");
    const char *namesrv = argc > 1 ? argv[1] : env ? env : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicOrdered";
    int orders = argc > 3 ? atoi(argv[3]) : 20;

    char err[256];
    rill_conf_t *conf = rill_conf_new();
    if (!conf || rill_conf_set(conf, "namesrv", namesrv, err, sizeof err) != 0 ||
        rill_conf_set(conf, "group", "example_ordered_producer", err, sizeof err) != 0) {
        fprintf(stderr, "conf: %s\n", conf ? err : "out of memory");
        rill_conf_destroy(conf);
        return 1;
    }
    rill_producer_t *producer = NULL;
    if (rill_producer_new(&producer, conf, err, sizeof err) != 0) {
        fprintf(stderr, "producer: %s\n", err);
        rill_conf_destroy(conf);
        return 1;
    }
    int failed = 0;
    for (size_t step = 0; step < N_STEPS && !failed; step++) {
        for (int o = 0; o < orders && !failed; o++) {
            char order_id[32], body[96];
            snprintf(order_id, sizeof order_id, "ORD-%d", o);
            snprintf(body, sizeof body, "%s step %zu %s", order_id, step, steps[step]);
            rill_msg_t *msg = rill_msg_new(topic);
            if (!msg || rill_msg_set_body(msg, body, strlen(body)) != 0 ||
                rill_msg_set_keys(msg, order_id) != 0) {
                fprintf(stderr, "message: %s\n", rill_last_error());
                rill_msg_destroy(msg);
                failed = 1;
                break;
            }
            rill_send_result_t res;
            int rc = rill_producer_send_select(producer, msg, select_by_order_id, order_id, &res);
            if (rc != 0) {
                fprintf(stderr, "send %s: %s (%s)\n", body, rill_strerror(rc), rill_last_error());
                failed = 1;
            } else {
                printf("%-32s -> %s#%d offset %lld\n", body, res.broker_name, res.queue_id,
                       (long long)res.queue_offset);
            }
            rill_msg_destroy(msg);
        }
    }
    rill_producer_destroy(producer);
    return failed;
}
