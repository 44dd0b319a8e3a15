/*
 * The event loop: epoll (edge-triggered), the timer wheel, the runnable-task
 * queue and the cross-thread inbox. One per thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop.h"

#define MAX_EVENTS 256

static _Thread_local bn_loop *current_loop;
static atomic_uint next_loop_id;

static void wake_cb(bn_io *io, unsigned events);

bn_loop *bn_loop_new(void)
{
    bn_loop *loop = bn_xcalloc(1, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    int wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || wfd < 0)
        bn_fatal("cannot create event loop: %s", strerror(errno));
    loop->id = atomic_fetch_add(&next_loop_id, 1);
    loop->now = bn_clock_ms();
    bn__tw_init(&loop->wheel, loop->now);
    bn__mpsc_init(&loop->inbox);
    bn_list_init(&loop->runq);
    bn_list_init(&loop->pool);
    if (bn_io_start(loop, &loop->wake_io, wfd, BN_IO_READ, wake_cb) < 0)
        bn_fatal("cannot watch the loop's eventfd: %s", strerror(errno));
    current_loop = loop;
    return loop;
}

void bn_loop_free(bn_loop *loop)
{
    if (!loop)
        return;
    /* Messages still in the inbox are handed over so their owners can free them. */
    bn_msg *m;
    while ((m = bn__mpsc_pop(&loop->inbox)))
        bn__mailbox_deliver(m);
    bn__loop_free_tasks(loop);
    close(loop->wake_io.fd);
    close(loop->epfd);
    if (current_loop == loop)
        current_loop = NULL;
    free(loop);
}

bn_loop *bn_loop_current(void) { return current_loop; }
uint64_t bn_loop_now(const bn_loop *loop) { return loop->now; }
unsigned bn_loop_id(const bn_loop *loop) { return loop->id; }

static void wake(bn_loop *loop)
{
    if (!atomic_exchange(&loop->wake_pending, true)) {
        uint64_t one = 1;
        ssize_t n = write(loop->wake_io.fd, &one, sizeof one);
        (void)n; /* EAGAIN means the counter is already non-zero: awake anyway */
    }
}

void bn_loop_stop(bn_loop *loop)
{
    atomic_store(&loop->stopping, true);
    if (loop != current_loop)
        wake(loop);
}

void bn__loop_enqueue(bn_loop *loop, bn_msg *m)
{
    bn__mpsc_push(&loop->inbox, m);
    wake(loop);
}

void bn_loop_post(bn_loop *loop, bn_msg *m)
{
    m->dest = NULL;
    bn__loop_enqueue(loop, m);
}

static void drain_inbox(bn_loop *loop)
{
    /* Clear the flag before draining: a producer that pushes after this point
     * will write the eventfd again, so no message can be left behind. */
    atomic_store(&loop->wake_pending, false);
    bn_msg *m;
    while ((m = bn__mpsc_pop(&loop->inbox))) {
        if (m->dest)
            bn__mailbox_deliver(m);
        else
            m->run(m);
    }
}

static void wake_cb(bn_io *io, unsigned events)
{
    (void)events;
    uint64_t count;
    while (read(io->fd, &count, sizeof count) > 0) {
    }
    drain_inbox(current_loop);
}

/* ---- fds ---------------------------------------------------------------- */

static uint32_t to_epoll(unsigned events)
{
    uint32_t e = EPOLLET | EPOLLRDHUP;
    if (events & BN_IO_READ)
        e |= EPOLLIN;
    if (events & BN_IO_WRITE)
        e |= EPOLLOUT;
    return e;
}

int bn_io_start(bn_loop *loop, bn_io *io, int fd, unsigned events, bn_io_cb *cb)
{
    io->fd = fd;
    io->events = events;
    io->cb = cb;
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    return 0;
}

void bn_io_stop(bn_loop *loop, bn_io *io)
{
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

static unsigned from_epoll(uint32_t e)
{
    unsigned ev = 0;
    if (e & EPOLLIN)
        ev |= BN_IO_READ;
    if (e & EPOLLRDHUP) /* the peer shut down its side: a read will return 0 */
        ev |= BN_IO_READ | BN_IO_HUP;
    if (e & EPOLLOUT)
        ev |= BN_IO_WRITE;
    if (e & EPOLLHUP)
        ev |= BN_IO_HUP | BN_IO_READ;
    if (e & EPOLLERR)
        ev |= BN_IO_ERR | BN_IO_READ | BN_IO_WRITE;
    return ev;
}

/* ---- timers ------------------------------------------------------------- */

void bn_timer_init(bn_timer *t, bn_timer_cb *cb)
{
    bn_list_init(&t->node);
    t->expire_ms = 0;
    t->cb = cb;
}

void bn_timer_start(bn_loop *loop, bn_timer *t, uint64_t delay_ms)
{
    /* Deadlines count from the cached time: a timer armed while handling an
     * event measures from when the event was seen, which is what callers mean. */
    bn__tw_add(&loop->wheel, t, loop->now + delay_ms);
}

void bn_timer_stop(bn_timer *t) { bn__tw_cancel(t); }

/* ---- the loop ----------------------------------------------------------- */

static int next_timeout(bn_loop *loop)
{
    if (!bn_list_empty(&loop->runq) || atomic_load(&loop->stopping))
        return 0;
    uint64_t d = bn__tw_next_delay(&loop->wheel);
    if (d == UINT64_MAX)
        return -1;
    return d > 60000 ? 60000 : (int)d;
}

int bn_loop_run(bn_loop *loop)
{
    struct epoll_event events[MAX_EVENTS];
    current_loop = loop;
    atomic_store(&loop->stopping, false);
    while (!atomic_load(&loop->stopping)) {
        loop->now = bn_clock_ms();
        bn__tw_run(&loop->wheel, loop->now);
        bn__loop_run_tasks(loop);

        int n = epoll_wait(loop->epfd, events, MAX_EVENTS, next_timeout(loop));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        loop->now = bn_clock_ms();
        for (int i = 0; i < n; i++) {
            bn_io *io = events[i].data.ptr;
            io->cb(io, from_epoll(events[i].events));
        }
        bn__loop_run_tasks(loop);
    }
    return 0;
}
