/*
 * Intrusive multi-producer single-consumer queue of bn_msg (Vyukov's
 * algorithm): push is wait-free (one atomic exchange), pop is done by the one
 * consumer thread. Used by loop mailboxes.
 */
#ifndef BENNU_RUNTIME_MPSC_H
#define BENNU_RUNTIME_MPSC_H

#include "bennu/runtime.h"

typedef struct bn_mpsc {
    _Atomic(bn_msg *) head; /* producers exchange here */
    bn_msg *tail;           /* consumer only */
    bn_msg stub;
} bn_mpsc;

void bn__mpsc_init(bn_mpsc *q);
/** Any thread. Waking the consumer is the caller's business. */
void bn__mpsc_push(bn_mpsc *q, bn_msg *m);
/**
 * Consumer only. Returns the oldest message, or NULL if the queue is empty or
 * a producer is midway through a push (the caller will be woken again).
 */
bn_msg *bn__mpsc_pop(bn_mpsc *q);

#endif
