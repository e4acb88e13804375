/*
 * producer_batch.c - send messages of one topic as batches: each batch is
 * stored in one queue, all or nothing, at consecutive offsets.
 *
 *     producer_batch [namesrv] [topic] [count]
 *
 * Defaults: 127.0.0.1:9876, TopicTest, 100 (sent as batches of up to 32).
 */
#include <rill.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 32

int main(int argc, char **argv)
{
    const char *namesrv = argc > 1 ? argv[1] : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicTest";
    int count = argc > 3 ? atoi(argv[3]) : 100;

    char err[256];
    rill_conf_t *conf = rill_conf_new();
    if (conf == NULL || rill_conf_set(conf, "namesrv", namesrv, err, sizeof(err)) != 0) {
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
    for (int first = 0; first < count; first += BATCH) {
        rill_msg_t *msgs[BATCH];
        rill_send_result_t res[BATCH];
        size_t n = 0;
        for (int i = first; i < count && n < BATCH; i++) {
            char body[64];
            snprintf(body, sizeof(body), "batch message %d", i);
            rill_msg_t *m = rill_msg_new(topic);
            if (m == NULL || rill_msg_set_body(m, body, strlen(body)) != 0 ||
                rill_msg_set_tags(m, "TagB") != 0) {
                fprintf(stderr, "message %d: %s\n", i, rill_last_error());
                rill_msg_destroy(m);
                break;
            }
            msgs[n++] = m;
        }
        int rc = n ? rill_producer_send_batch(producer, msgs, n, res) : RILL_EINVAL;
        if (rc != 0) {
            fprintf(stderr, "batch at %d: %s (%s)\n", first, rill_strerror(rc), rill_last_error());
            failed++;
        } else {
            printf("batch of %zu: %s queue=%s:%d offsets %lld..%lld first msgId=%s\n", n,
                   rill_send_status_name(res[0].status), res[0].broker_name, res[0].queue_id,
                   (long long)res[0].queue_offset, (long long)res[n - 1].queue_offset,
                   res[0].msg_id);
        }
        for (size_t i = 0; i < n; i++)
            rill_msg_destroy(msgs[i]);
        if (rc != 0 && n == 0)
            break;
    }

    rill_producer_destroy(producer);
    return failed ? 1 : 0;
}
