/* Mailboxes: messages for tasks, sendable from any thread. */
#include "loop.h"

void bn_mailbox_init(bn_mailbox *mb, bn_loop *loop)
{
    mb->loop = loop;
    bn_list_init(&mb->queue);
    mb->waiter = NULL;
}

void bn__mailbox_deliver(bn_msg *m)
{
    bn_mailbox *mb = m->dest;
    if (!mb) { /* a bn_loop_post message left over at loop teardown */
        m->run(m);
        return;
    }
    bn_list_push_back(&mb->queue, &m->link);
    if (mb->waiter)
        bn_task_wake(mb->waiter);
}

void bn_mailbox_send(bn_mailbox *mb, bn_msg *m)
{
    m->dest = mb;
    if (mb->loop == bn_loop_current())
        bn__mailbox_deliver(m);
    else
        bn__loop_enqueue(mb->loop, m);
}

/* A receive with a timeout: lives on the waiting task's stack. */
struct recv_wait {
    bn_timer timer;
    bn_mailbox *mb;
};

static void recv_timeout(bn_timer *t)
{
    bn_mailbox *mb = bn_container_of(t, struct recv_wait, timer)->mb;
    if (mb->waiter)
        bn_task_wake(mb->waiter);
}

bn_msg *bn_mailbox_recv(bn_mailbox *mb, int64_t timeout_ms)
{
    if (bn_list_empty(&mb->queue) && timeout_ms != 0) {
        bn_task *self = bn_task_self();
        if (!self)
            bn_fatal("bn_mailbox_recv called outside a task");
        if (mb->waiter)
            bn_fatal("bn_mailbox_recv: the mailbox already has a waiting task");
        struct recv_wait wait;
        bn_timer_init(&wait.timer, recv_timeout);
        wait.mb = mb;
        if (timeout_ms > 0)
            bn_timer_start(mb->loop, &wait.timer, (uint64_t)timeout_ms);
        mb->waiter = self;
        while (bn_list_empty(&mb->queue)) {
            bn_task_suspend();
            if (timeout_ms > 0 && !bn_timer_active(&wait.timer))
                break; /* timed out */
        }
        mb->waiter = NULL;
        bn_timer_stop(&wait.timer);
    }
    bn_list *n = bn_list_pop_front(&mb->queue);
    return n ? bn_container_of(n, bn_msg, link) : NULL;
}
