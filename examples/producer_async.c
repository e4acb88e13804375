/*
 * producer_async.c - keep many sends in flight; a callback reports each one.
 *
 *     producer_async [namesrv] [topic] [count]
 *
 * Defaults: 127.0.0.1:9876, TopicTest, 1000. The callbacks run on library
 * threads, so they only count; rill_producer_flush() waits for the last one.
 */
#include <rill.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int ok_count, err_count;

static void on_sent(int err, const rill_send_result_t *res, void *opaque)
{
    (void)opaque;
    if (err == 0) {
        atomic_fetch_add(&ok_count, 1);
        (void)res; /* res->msg_id, res->queue_offset, ... are valid here only */
    } else if (atomic_fetch_add(&err_count, 1) < 10) {
        fprintf(stderr, "async send failed: %s (%s)\n", rill_strerror(err), rill_last_error());
    }
}

int main(int argc, char **argv)
{
    const char *namesrv = argc > 1 ? argv[1] : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicTest";
    int count = argc > 3 ? atoi(argv[3]) : 1000;

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

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rejected = 0;
    for (int i = 0; i < count; i++) {
        rill_msg_t *msg = rill_msg_new(topic);
        char body[64];
        snprintf(body, sizeof(body), "async message %d", i);
        if (msg == NULL || rill_msg_set_body(msg, body, strlen(body)) != 0) {
            fprintf(stderr, "message: %s\n", rill_last_error());
            rill_msg_destroy(msg);
            rejected++;
            break;
        }
        int rc = rill_producer_send_async(producer, msg, on_sent, NULL);
        for (int tries = 0; rc == RILL_EBUSY && tries < 5000; tries++) {
            /* send.inflight.max sends are in flight: let some finish, try again */
            nanosleep(&(struct timespec){0, 1000000}, NULL);
            rc = rill_producer_send_async(producer, msg, on_sent, NULL);
        }
        if (rc != 0 && rejected++ < 10)
            fprintf(stderr, "send_async %d: %s (%s)\n", i, rill_strerror(rc), rill_last_error());
        rill_msg_destroy(msg); /* the producer copied what it needs */
    }
    if (rill_producer_flush(producer, 30000) != 0)
        fprintf(stderr, "flush: %s\n", rill_last_error());
    clock_gettime(CLOCK_MONOTONIC, &t1);

    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("sent %d, failed %d, rejected %d in %.3f s (%.0f msg/s)\n", atomic_load(&ok_count),
           atomic_load(&err_count), rejected, s, s > 0 ? atomic_load(&ok_count) / s : 0.0);
    rill_producer_destroy(producer);
    return atomic_load(&err_count) || rejected ? 1 : 0;
}
