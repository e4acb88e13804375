/*
 * transaction_producer.c - send messages that become visible only when a
 * local transaction commits (RocketMQ's TransactionMQProducer).
 *
 *     transaction_producer [namesrv] [topic] [count]
 *
 * Defaults: 127.0.0.1:9876, TopicTest, 6. Message i runs a pretend local
 * transaction that commits when i % 3 == 0, rolls back when i % 3 == 1 and
 * answers UNKNOWN otherwise; the broker then checks back (after
 * transactionTimeOut, 6 s by default) and the check callback commits. So
 * a consumer of the topic sees messages 0, 2, 3, 5, ... and never 1, 4, ...
 * The program waits for the check-backs before it exits.
 */
#include <rill.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int checks;

/* The local transaction: here, a decision by the message's number. */
static rill_tx_state_t execute(const rill_msg_t *msg, void *arg, void *opaque)
{
    (void)opaque;
    int i = *(const int *)arg;
    rill_tx_state_t s = i % 3 == 0   ? RILL_TX_COMMIT
                        : i % 3 == 1 ? RILL_TX_ROLLBACK
                                     : RILL_TX_UNKNOWN;
    printf("local transaction of %s: %s\n", rill_msg_unique_key(msg), rill_tx_state_name(s));
    return s;
}

/* The broker asks about a half it got no answer for: look the state up (here: commit). */
static rill_tx_state_t check(const rill_msg_t *msg, void *opaque)
{
    (void)opaque;
    printf("check-back of %s: COMMIT\n", rill_msg_unique_key(msg));
    atomic_fetch_add(&checks, 1);
    return RILL_TX_COMMIT;
}

int main(int argc, char **argv)
{
    const char *namesrv = argc > 1 ? argv[1] : "127.0.0.1:9876";
    const char *topic = argc > 2 ? argv[2] : "TopicTest";
    int count = argc > 3 ? atoi(argv[3]) : 6;

    char err[256];
    rill_conf_t *conf = rill_conf_new();
    if (conf == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if (rill_conf_set(conf, "namesrv", namesrv, err, sizeof(err)) != 0 ||
        rill_conf_set(conf, "group", "ExampleTxProducerGroup", err, sizeof(err)) != 0) {
        fprintf(stderr, "conf: %s\n", err);
        rill_conf_destroy(conf);
        return 1;
    }
    rill_tx_producer_t *producer = NULL;
    if (rill_tx_producer_new(&producer, conf, execute, check, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "producer: %s\n", err);
        rill_conf_destroy(conf); /* still ours: taken on success only */
        return 1;
    }

    int failed = 0, unknown = 0;
    for (int i = 0; i < count; i++) {
        rill_msg_t *msg = rill_msg_new(topic);
        char body[64];
        int n = snprintf(body, sizeof(body), "transactional message %d", i);
        if (msg == NULL || rill_msg_set_body(msg, body, (size_t)n) != 0) {
            fprintf(stderr, "message: %s\n", rill_last_error());
            rill_msg_destroy(msg);
            failed++;
            continue;
        }
        rill_send_result_t res;
        rill_tx_state_t state;
        int rc = rill_tx_producer_send(producer, msg, &i, &res, &state);
        if (rc != 0) {
            fprintf(stderr, "send %d: %s (%s)\n", i, rill_strerror(rc), rill_last_error());
            failed++;
        } else {
            printf("half %d stored as %s on %s, ended %s\n", i, res.msg_id, res.broker_name,
                   rill_tx_state_name(state));
            unknown += state == RILL_TX_UNKNOWN;
        }
        rill_msg_destroy(msg);
    }
    /* wait (bounded) for the broker to check back the UNKNOWN ones */
    for (int waited = 0; atomic_load(&checks) < unknown && waited < 90000; waited += 100) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    printf("%d check-backs answered\n", atomic_load(&checks));
    rill_tx_producer_destroy(producer);
    return failed ? 1 : 0;
}
