/*
 * process_queue.h - the messages a push consumer holds for one queue, in
 * queue-offset order, from the pull that fetched them until the listener
 * is done with them (RocketMQ's ProcessQueue). Internal.
 *
 *   start                               deliver                      n
 *   | DONE | INFLIGHT | DONE | INFLIGHT | PENDING | PENDING | ... |
 *   ^ head: first not yet consumed      ^ next to hand to a listener
 *
 * Listener calls finish out of order; each finished message is marked DONE
 * (and freed), and DONE entries are popped from the head only, so the
 * committable offset — "the first message not yet consumed" — is the head's
 * offset, or when nothing is held, the offset the next pull starts from.
 * A crash therefore redelivers only messages that were not consumed, plus
 * ones finished after an unfinished one.
 *
 * Plain data: the owner serialises every call with its own lock.
 */
#ifndef RILL_CLIENT_PROCESS_QUEUE_H
#define RILL_CLIENT_PROCESS_QUEUE_H

#include "rill.h"

#include <stddef.h>
#include <stdint.h>

enum pq_state { PQ_PENDING = 0, PQ_INFLIGHT = 1, PQ_DONE = 2 };

typedef struct pq_entry {
    rill_msg_t *msg; /* NULL once DONE */
    int64_t offset;
    uint8_t state; /* enum pq_state */
} pq_entry_t;

typedef struct pq {
    pq_entry_t *e; /* slots e[start .. start + n) */
    size_t start, n, cap;
    size_t deliver;      /* entries [0, deliver) past start were handed out */
    size_t held;         /* entries not DONE */
    size_t bytes;        /* stored body bytes of entries not DONE */
    int64_t next_offset; /* where the next pull starts */
} pq_t;

/** An empty cache whose next pull starts at next_offset. */
void pq_init(pq_t *q, int64_t next_offset);

/** Destroy every message still held and free. */
void pq_free(pq_t *q);

/**
 * Append messages fetched by a pull, and move next_offset to next_offset.
 * Takes ownership of the n messages in every case. Messages below the last
 * offset held or below the old next_offset are destroyed (a pull answered
 * twice), the rest must be in increasing offset order.
 * @return 0; ENOMEM (every message destroyed, nothing changed).
 */
int pq_append(pq_t *q, rill_msg_t **msgs, size_t n, int64_t next_offset);

/** Hand out up to max PENDING messages in order (they become INFLIGHT). Returns how many. */
size_t pq_take(pq_t *q, size_t max, rill_msg_t **out);

/** Messages not yet handed out. */
size_t pq_pending(const pq_t *q);

/**
 * The listener is done with these INFLIGHT messages: mark them DONE, destroy
 * them, pop DONE entries off the head.
 */
void pq_done(pq_t *q, rill_msg_t *const *msgs, size_t n);

/**
 * Orderly retry: the last k messages handed out (and not done) become
 * PENDING again, to be taken again in the same order.
 */
void pq_rewind(pq_t *q, size_t k);

/** The offset to commit: the first message not consumed, else next_offset. */
int64_t pq_committable(const pq_t *q);

/** Slots in use (held messages plus DONE ones behind an unfinished head). */
static inline size_t pq_slots(const pq_t *q)
{
    return q->n;
}

#endif
