/*
 * Vyukov's intrusive MPSC queue. `head` is the newest message (producers
 * swap themselves in), `tail` the oldest (consumer side); the embedded stub
 * keeps the list non-empty so push never has to touch `tail`.
 */
#include "runtime/mpsc.h"

void bn__mpsc_init(bn_mpsc *q)
{
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->head, &q->stub);
    q->tail = &q->stub;
}

void bn__mpsc_push(bn_mpsc *q, bn_msg *m)
{
    atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
    /* acq_rel: release publishes m (and its NULL link) to the next producer;
     * acquire orders our link store after the previous producer's NULL store. */
    bn_msg *prev = atomic_exchange_explicit(&q->head, m, memory_order_acq_rel);
    /* Between the exchange and this store the chain is broken; pop sees that
     * as "mid-push" and returns NULL until it is mended. */
    atomic_store_explicit(&prev->next, m, memory_order_release);
}

bn_msg *bn__mpsc_pop(bn_mpsc *q)
{
    bn_msg *tail = q->tail;
    bn_msg *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next)
            return NULL;
        q->tail = tail = next; /* skip the stub */
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    /* `tail` is the last linked message. It may only be handed out once
     * something follows it, so that no producer still links onto it. */
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
        return NULL; /* a producer swapped head but has not linked yet */
    bn__mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL; /* another push slipped in before the stub; it will link soon */
}
