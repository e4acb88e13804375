/*
 * producer_batch.c - rill_producer_send_batch(): n messages of one topic in
 * one SEND_BATCH_MESSAGE, stored by the broker in one queue, all or nothing,
 * at consecutive queue offsets.
 *
 * Everything a broker would refuse for the batch as a whole is checked here
 * first, before any call: n in 1..RC_BATCH_MSGS_MAX, one topic, no delayed
 * message (a delayed message has no queue offset yet, so it cannot sit at a
 * consecutive one), and the bodies together within max.message.bytes.
 * Each message is encoded (and compressed) once; retries resend the same
 * encoding, so every message keeps its UNIQ_KEY.
 */
#include "client/src/producer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int batch_check(rill_producer_t *p, rill_msg_t *const *msgs, size_t n)
{
    if (p == NULL || msgs == NULL)
        return rc_fail(RILL_EINVAL, "producer or message array is NULL");
    if (atomic_load_explicit(&p->closing, memory_order_relaxed))
        return rc_fail(RILL_ECLOSED, "the producer is being destroyed");
    if (n == 0 || n > RC_BATCH_MSGS_MAX)
        return rc_fail(RILL_EINVAL, "a batch holds 1 to %d messages, not %zu", RC_BATCH_MSGS_MAX,
                       n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const rill_msg_t *m = msgs[i];
        if (m == NULL)
            return rc_fail(RILL_EINVAL, "message %zu of the batch is NULL", i);
        if (strcmp(m->topic, msgs[0]->topic) != 0)
            return rc_fail(RILL_EINVAL, "message %zu of the batch is for topic \"%s\", not \"%s\"",
                           i, m->topic, msgs[0]->topic);
        if (m->delay_level != 0 || m->deliver_time_ms != 0)
            return rc_fail(RILL_EINVAL, "message %zu of the batch is delayed; send it alone", i);
        total += m->body_len;
    }
    if (total > (uint64_t)p->conf->max_message_bytes)
        return rc_fail(RILL_ETOOBIG, "a batch of %llu body bytes exceeds max.message.bytes %lld",
                       (unsigned long long)total, (long long)p->conf->max_message_bytes);
    return 0;
}

int rill_producer_send_batch(rill_producer_t *p, rill_msg_t *const *msgs, size_t n,
                             rill_send_result_t *res)
{
    int rc = batch_check(p, msgs, n);
    if (rc != 0)
        return rc;
    rc_wire_msg_t *w = malloc(n * sizeof(*w));
    Rill__Message **ptrs = malloc(n * sizeof(*ptrs));
    char(*uniq)[RILL_MSGID_BYTES + 1] = malloc(n * sizeof(*uniq));
    size_t encoded = 0;
    if (w == NULL || ptrs == NULL || uniq == NULL) {
        rc = rc_fail(ENOMEM, "out of memory for a batch of %zu", n);
        goto out;
    }
    for (; encoded < n; encoded++) {
        size_t i = encoded;
        if ((rc = pr_unique_key(msgs[i], uniq[i])) != 0)
            goto out;
        if ((rc = rc_wire_msg_init(&w[i], msgs[i], p->conf)) != 0) {
            char why[256]; /* rc_fail() rewrites the buffer rill_last_error() returns */
            snprintf(why, sizeof(why), "%s", rill_last_error());
            rc = rc_fail(rc, "message %zu of the batch: %s", i, why);
            goto out;
        }
        ptrs[i] = &w[i].pb;
    }
    /* The batch's topic travels in the request; the broker checks each one. */
    pr_job_t job = {
        .topic = msgs[0]->topic, .batch = true, .many = ptrs, .n = n, .res = res, .uniq = uniq};
    rc = pr_send_sync(p, &job);
out:
    for (size_t i = 0; i < encoded; i++)
        rc_wire_msg_free(&w[i]);
    free(uniq);
    free(ptrs);
    free(w);
    return rc;
}
