/*
 * Unit tests for the intrusive MPSC queue (runtime/mpsc.h): FIFO order, the
 * "producer mid-push" case, and many producers against one consumer thread.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/mpsc.h"

typedef struct item {
    bn_msg msg;
    unsigned producer;
    unsigned seq;
} item;

static item *item_of(bn_msg *m) { return bn_container_of(m, item, msg); }

Test(mpsc, empty_queue_pops_null)
{
    bn_mpsc q;
    bn__mpsc_init(&q);
    cr_assert_null(bn__mpsc_pop(&q));
    cr_assert_null(bn__mpsc_pop(&q));
}

Test(mpsc, single_thread_fifo_with_interleaving)
{
    enum { N = 1000 };
    static item items[N];
    bn_mpsc q;
    bn__mpsc_init(&q);
    unsigned pushed = 0, popped = 0;
    /* Push bursts of growing size and drain them partially, so the queue
     * passes through empty, one-element and many-element states. */
    for (unsigned burst = 1; pushed < N; burst++) {
        for (unsigned i = 0; i < burst && pushed < N; i++) {
            items[pushed].seq = pushed;
            bn__mpsc_push(&q, &items[pushed].msg);
            pushed++;
        }
        for (unsigned i = 0; i < burst / 2 + 1 && popped < pushed; i++) {
            bn_msg *m = bn__mpsc_pop(&q);
            cr_assert_not_null(m, "pop %u of %u pushed returned NULL", popped, pushed);
            cr_assert_eq(item_of(m)->seq, popped);
            popped++;
        }
    }
    for (bn_msg *m; (m = bn__mpsc_pop(&q)); popped++)
        cr_assert_eq(item_of(m)->seq, popped);
    cr_assert_eq(popped, N);
    cr_assert_null(bn__mpsc_pop(&q));
}

Test(mpsc, messages_can_be_pushed_again_after_pop)
{
    item a = {.seq = 0}, b = {.seq = 1};
    bn_mpsc q;
    bn__mpsc_init(&q);
    for (unsigned round = 0; round < 10; round++) {
        bn__mpsc_push(&q, &a.msg);
        bn__mpsc_push(&q, &b.msg);
        cr_assert_eq(bn__mpsc_pop(&q), &a.msg);
        cr_assert_eq(bn__mpsc_pop(&q), &b.msg);
        cr_assert_null(bn__mpsc_pop(&q));
    }
}

Test(mpsc, pop_waits_for_a_producer_midway_through_push)
{
    item a = {.seq = 0}, b = {.seq = 1};
    bn_mpsc q;
    bn__mpsc_init(&q);
    bn__mpsc_push(&q, &a.msg);
    /* Play a producer stalled between its exchange and its link store. */
    atomic_store(&b.msg.next, NULL);
    bn_msg *prev = atomic_exchange(&q.head, &b.msg);
    cr_assert_eq(prev, &a.msg);
    cr_assert_null(bn__mpsc_pop(&q), "a must not be handed out while b is being linked to it");
    cr_assert_null(bn__mpsc_pop(&q), "asking again changes nothing");
    atomic_store(&prev->next, &b.msg);
    cr_assert_eq(bn__mpsc_pop(&q), &a.msg);
    cr_assert_eq(bn__mpsc_pop(&q), &b.msg);
    cr_assert_null(bn__mpsc_pop(&q));
}

/* ------------------------------------------------------------------------ */

enum { PRODUCERS = 4, PER_PRODUCER = 100000 };

struct shared {
    bn_mpsc q;
    item *items; /* PRODUCERS x PER_PRODUCER */
    atomic_uint ready;
    unsigned popped;
    unsigned next_seq[PRODUCERS];
    unsigned errors;
    unsigned first_error_producer, first_error_seq, first_error_want;
    int timed_out;
};

struct producer_arg {
    struct shared *sh;
    unsigned id;
};

static void *producer(void *arg)
{
    struct producer_arg *pa = arg;
    struct shared *sh = pa->sh;
    item *mine = sh->items + (size_t)pa->id * PER_PRODUCER;
    /* Start together to maximise contention on head. */
    atomic_fetch_add(&sh->ready, 1);
    while (atomic_load(&sh->ready) < PRODUCERS + 1)
        sched_yield();
    for (unsigned i = 0; i < PER_PRODUCER; i++) {
        mine[i].producer = pa->id;
        mine[i].seq = i;
        bn__mpsc_push(&sh->q, &mine[i].msg);
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *consumer(void *arg)
{
    struct shared *sh = arg;
    atomic_fetch_add(&sh->ready, 1);
    double last_progress = now_s();
    unsigned idle = 0;
    while (sh->popped < PRODUCERS * PER_PRODUCER) {
        bn_msg *m = bn__mpsc_pop(&sh->q);
        if (!m) {
            /* Bounded: give up if nothing arrives for 30 s (a lost message). */
            if (++idle % 1024 == 0) {
                if (now_s() - last_progress > 30) {
                    sh->timed_out = 1;
                    break;
                }
                sched_yield();
            }
            continue;
        }
        idle = 0;
        last_progress = now_s();
        item *it = item_of(m);
        if (it->producer >= PRODUCERS || it->seq != sh->next_seq[it->producer]) {
            if (!sh->errors++) {
                sh->first_error_producer = it->producer;
                sh->first_error_seq = it->seq;
                sh->first_error_want = it->producer < PRODUCERS ? sh->next_seq[it->producer] : 0;
            }
        } else {
            sh->next_seq[it->producer]++;
        }
        sh->popped++;
    }
    return NULL;
}

Test(mpsc, four_producers_one_consumer_keep_per_producer_order, .timeout = 120)
{
    static struct shared sh;
    sh.items = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof(item));
    cr_assert_not_null(sh.items);
    bn__mpsc_init(&sh.q);

    pthread_t cons, prod[PRODUCERS];
    struct producer_arg args[PRODUCERS];
    cr_assert_eq(pthread_create(&cons, NULL, consumer, &sh), 0);
    for (unsigned i = 0; i < PRODUCERS; i++) {
        args[i] = (struct producer_arg){&sh, i};
        cr_assert_eq(pthread_create(&prod[i], NULL, producer, &args[i]), 0);
    }
    for (unsigned i = 0; i < PRODUCERS; i++)
        pthread_join(prod[i], NULL);
    pthread_join(cons, NULL);

    cr_assert_not(sh.timed_out, "consumer starved after %u messages", sh.popped);
    cr_assert_eq(sh.errors, 0, "%u out-of-order messages; first: producer %u seq %u, expected seq %u", sh.errors,
                 sh.first_error_producer, sh.first_error_seq, sh.first_error_want);
    cr_assert_eq(sh.popped, PRODUCERS * PER_PRODUCER);
    for (unsigned i = 0; i < PRODUCERS; i++)
        cr_assert_eq(sh.next_seq[i], PER_PRODUCER);
    cr_assert_null(bn__mpsc_pop(&sh.q), "nothing may be left over");
    free(sh.items);
}
