/*
 * Mailboxes and cross-thread posts: messages from other threads reach a task
 * on the owner loop in per-sender order, none lost; receive timeouts;
 * bn_loop_post runs on the target thread; bn_loop_stop from another thread.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "bennu/runtime.h"

typedef struct test_msg {
    bn_msg msg;
    int sender;
    int seq;
} test_msg;

enum { SENDERS = 4, PER_SENDER = 20000 };

static bn_loop *loop;
static bn_mailbox box;
static pthread_t loop_thread_id;

static void *sender(void *arg)
{
    int id = (int)(uintptr_t)arg;
    for (int i = 0; i < PER_SENDER; i++) {
        test_msg *m = bn_xcalloc(1, sizeof *m);
        m->sender = id;
        m->seq = i;
        bn_mailbox_send(&box, &m->msg);
        if (i % 1000 == 0)
            usleep(100); /* let the receiver fall asleep now and then */
    }
    return NULL;
}

static void receiver(void *arg)
{
    int *received = arg;
    int next[SENDERS] = {0};
    while (*received < SENDERS * PER_SENDER) {
        bn_msg *m = bn_mailbox_recv(&box, 5000);
        cr_assert_not_null(m, "a message was lost (%d received)", *received);
        test_msg *tm = bn_container_of(m, test_msg, msg);
        cr_assert_eq(tm->seq, next[tm->sender], "sender %d out of order", tm->sender);
        next[tm->sender]++;
        (*received)++;
        free(tm);
    }
    bn_loop_stop(loop);
}

Test(mailbox, messages_from_many_threads_arrive_in_order, .timeout = 60)
{
    loop = bn_loop_new();
    bn_mailbox_init(&box, loop);
    int received = 0;
    bn_task_spawn(loop, receiver, &received);
    pthread_t threads[SENDERS];
    for (int i = 0; i < SENDERS; i++)
        pthread_create(&threads[i], NULL, sender, (void *)(uintptr_t)i);
    cr_assert_eq(bn_loop_run(loop), 0);
    for (int i = 0; i < SENDERS; i++)
        pthread_join(threads[i], NULL);
    cr_expect_eq(received, SENDERS * PER_SENDER);
    bn_loop_free(loop);
}

static void recv_with_timeout(void *arg)
{
    (void)arg;
    uint64_t t0 = bn_clock_ms();
    cr_expect_null(bn_mailbox_recv(&box, 40));
    cr_expect_geq(bn_clock_ms() - t0, 40);
    cr_expect_null(bn_mailbox_recv(&box, 0), "a zero timeout polls");
    /* Same-thread send is delivered at once. */
    test_msg m = {.seq = 7};
    bn_mailbox_send(&box, &m.msg);
    bn_msg *got = bn_mailbox_recv(&box, 0);
    cr_expect_eq(got, &m.msg);
    bn_loop_stop(loop);
}

Test(mailbox, receive_times_out, .timeout = 10)
{
    loop = bn_loop_new();
    bn_mailbox_init(&box, loop);
    bn_task_spawn(loop, recv_with_timeout, NULL);
    cr_assert_eq(bn_loop_run(loop), 0);
    bn_loop_free(loop);
}

static int posted_runs;

static void on_loop_thread(bn_msg *m)
{
    cr_expect(pthread_equal(pthread_self(), loop_thread_id), "posted work must run on the loop's thread");
    posted_runs++;
    free(m);
    if (posted_runs == 1000)
        bn_loop_stop(loop);
}

static void *poster(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        bn_msg *m = bn_xcalloc(1, sizeof *m);
        m->run = on_loop_thread;
        bn_loop_post(loop, m);
    }
    return NULL;
}

Test(mailbox, loop_post_runs_on_the_target_thread, .timeout = 10)
{
    loop = bn_loop_new();
    loop_thread_id = pthread_self();
    pthread_t t;
    pthread_create(&t, NULL, poster, NULL);
    cr_assert_eq(bn_loop_run(loop), 0);
    pthread_join(t, NULL);
    cr_expect_eq(posted_runs, 1000);
    bn_loop_free(loop);
}

static void *stopper(void *arg)
{
    usleep(50000);
    bn_loop_stop(arg);
    return NULL;
}

Test(mailbox, stop_from_another_thread_wakes_a_sleeping_loop, .timeout = 10)
{
    loop = bn_loop_new();
    pthread_t t;
    uint64_t t0 = bn_clock_ms();
    pthread_create(&t, NULL, stopper, loop);
    cr_assert_eq(bn_loop_run(loop), 0); /* nothing to do: sleeps in epoll until woken */
    pthread_join(t, NULL);
    cr_expect_lt(bn_clock_ms() - t0, 5000);
    bn_loop_free(loop);
}
