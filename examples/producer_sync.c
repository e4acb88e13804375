/*
 * producer_sync.c - send messages one at a time and wait for each answer.
 *
 *     producer_sync [namesrv] [topic] [count]
 *
 * Defaults: 127.0.0.1:9876, TopicTest, 10. Prints where each message was
 * stored. Build: `make` (or cc producer_sync.c $(pkg-config --cflags --libs rill)).
 */
#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *namesrv = argc > 1 ? argv[1] : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicTest";
    int count = argc > 3 ? atoi(argv[3]) : 10;

    char err[256];
    rill_conf_t *conf = rill_conf_new();
    if (conf == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if (rill_conf_set(conf, "namesrv", namesrv, err, sizeof(err)) != 0 ||
        rill_conf_set(conf, "group", "ExampleProducerGroup", err, sizeof(err)) != 0) {
        fprintf(stderr, "conf: %s\n", err);
        rill_conf_destroy(conf);
        return 1;
    }
    rill_producer_t *producer = NULL;
    if (rill_producer_new(&producer, conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "producer: %s\n", err);
        rill_conf_destroy(conf); /* still ours: the producer takes it on success only */
        return 1;
    }

    int failed = 0;
    for (int i = 0; i < count; i++) {
        rill_msg_t *msg = rill_msg_new(topic);
        if (msg == NULL) {
            fprintf(stderr, "message: %s\n", rill_last_error());
            failed++;
            break;
        }
        char body[64], key[32];
        snprintf(body, sizeof(body), "Hello Rill %d", i);
        snprintf(key, sizeof(key), "order-%d", i);
        int rc = rill_msg_set_body(msg, body, strlen(body));
        if (rc == 0)
            rc = rill_msg_set_tags(msg, "TagA");
        if (rc == 0)
            rc = rill_msg_set_keys(msg, key);
        if (rc == 0)
            rc = rill_msg_set_property(msg, "source", "producer_sync");
        if (rc != 0) {
            fprintf(stderr, "message %d: %s\n", i, rill_strerror(rc));
            rill_msg_destroy(msg);
            failed++;
            continue;
        }

        rill_send_result_t res;
        rc = rill_producer_send(producer, msg, &res);
        if (rc != 0) {
            fprintf(stderr, "send %d: %s (%s)\n", i, rill_strerror(rc), rill_last_error());
            failed++;
        } else {
            printf("%s msgId=%s uniqKey=%s queue=%s:%d offset=%lld\n",
                   rill_send_status_name(res.status), res.msg_id, res.unique_key, res.broker_name,
                   res.queue_id, (long long)res.queue_offset);
        }
        rill_msg_destroy(msg);
    }

    rill_producer_destroy(producer);
    return failed ? 1 : 0;
}
