/*
 * Tasks: stackful coroutines scheduled by their loop.
 *
 * A task only ever switches to or from its loop's native stack, never to
 * another task, which keeps the scheduler a few lines long. A finished task
 * keeps its stack and context and waits in the loop's pool: its entry
 * function is an endless loop, so reusing it is a single context switch.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "loop.h"
#include "stack.h"
#include "task.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define ASAN_FIBERS 1
#endif

#define POOL_MAX 128      /* finished tasks kept per loop */
#define POOL_RESIDENT 16  /* beyond this many pooled, give stack pages back */

typedef enum { TASK_DONE, TASK_RUNNABLE, TASK_RUNNING, TASK_SUSPENDED } task_state;

struct bn_task {
    bn_ctx ctx;
    bn_stack stack;
    bn_loop *loop;
    bn_task_fn *fn;
    void *arg;
    task_state state;
    bn_list link; /* runq or pool */
    bool pages_released; /* pooled with its stack given back: its saved context is gone */
    bn_task_exit_cb *on_exit;
    void *exit_arg;
    bn_timer timer; /* bn_sleep and wait timeouts */
    bn_io wait_io;
    int wait_result;
#ifdef ASAN_FIBERS
    void *fake_stack;
#endif
};

size_t bn_task_stack_size(void)
{
    static size_t size;
    if (!size) {
        size_t def = 256 * 1024;
#ifdef ASAN_FIBERS
        def *= 4; /* ASan's redzones make frames several times larger */
#endif
        size = bn_env_size("BENNU_TASK_STACK", def);
        if (size < 16 * 1024)
            size = 16 * 1024;
    }
    return size;
}

/* ---- switching ---------------------------------------------------------- */

static void switch_to_loop(bn_task *t)
{
    bn_loop *loop = t->loop;
#ifdef ASAN_FIBERS
    __sanitizer_start_switch_fiber(&t->fake_stack, loop->native_stack_bottom, loop->native_stack_size);
#endif
    bn__ctx_switch(&t->ctx, &loop->native_ctx);
#ifdef ASAN_FIBERS
    __sanitizer_finish_switch_fiber(t->fake_stack, NULL, NULL);
#endif
}

static void task_main(void *p)
{
    bn_task *t = p;
#ifdef ASAN_FIBERS
    __sanitizer_finish_switch_fiber(NULL, &t->loop->native_stack_bottom, &t->loop->native_stack_size);
#endif
    for (;;) {
        t->fn(t->arg);
        t->state = TASK_DONE;
        switch_to_loop(t);
    }
}

static void release(bn_task *t)
{
    bn_loop *loop = t->loop;
    if (loop->pool_len >= POOL_MAX) {
        bn__stack_free(&t->stack);
        free(t);
        return;
    }
    if (loop->pool_len >= POOL_RESIDENT) {
        /* The pages hold the context saved when the task switched back to the
         * loop: once zeroed, the task must start afresh when reused. */
        bn__stack_release_pages(&t->stack);
        t->pages_released = true;
    }
    bn_list_push_back(&loop->pool, &t->link);
    loop->pool_len++;
}

bool bn__task_run(bn_task *t, bn_task_exit_cb *on_exit, void *exit_arg)
{
    bn_loop *loop = t->loop;
    if (loop->current)
        bn_fatal("bn__task_run called from inside a task");
    t->on_exit = on_exit;
    t->exit_arg = exit_arg;
    t->state = TASK_RUNNING;
    loop->current = t;
#ifdef ASAN_FIBERS
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, t->stack.lo, t->stack.size);
#endif
    bn__ctx_switch(&loop->native_ctx, &t->ctx);
#ifdef ASAN_FIBERS
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    loop->current = NULL;
    if (t->state != TASK_DONE)
        return false;
    release(t);
    return true;
}

/* Resumes a task made runnable after it suspended; calls its exit hook if it finishes. */
static void resume(bn_task *t)
{
    bn_task_exit_cb *cb = t->on_exit;
    void *arg = t->exit_arg;
    if (bn__task_run(t, cb, arg) && cb)
        cb(arg);
}

void bn__loop_run_tasks(bn_loop *loop)
{
    /* Only the tasks runnable now: one that yields goes to the next turn. */
    bn_list batch;
    bn_list_init(&batch);
    bn_list_splice(&batch, &loop->runq);
    bn_list *n;
    while ((n = bn_list_pop_front(&batch)))
        resume(bn_container_of(n, bn_task, link));
}

void bn__loop_free_tasks(bn_loop *loop)
{
    bn_list *n;
    while ((n = bn_list_pop_front(&loop->pool))) {
        bn_task *t = bn_container_of(n, bn_task, link);
        bn__stack_free(&t->stack);
        free(t);
    }
    loop->pool_len = 0;
}

/* ---- creation ----------------------------------------------------------- */

bn_task *bn__task_new(bn_loop *loop, bn_task_fn *fn, void *arg)
{
    bn_task *t;
    bn_list *n = bn_list_pop_front(&loop->pool);
    if (n) {
        loop->pool_len--;
        t = bn_container_of(n, bn_task, link);
        if (t->pages_released) {
            bn__ctx_make(&t->ctx, t->stack.lo, t->stack.size, task_main, t);
            t->pages_released = false;
        }
    } else {
        t = bn_xcalloc(1, sizeof(*t));
        int err = bn__stack_alloc(&t->stack, bn_task_stack_size());
        if (err < 0)
            bn_fatal("cannot map a task stack: %s", strerror(-err));
        t->loop = loop;
        bn_list_init(&t->link);
        bn_timer_init(&t->timer, NULL);
        bn__ctx_make(&t->ctx, t->stack.lo, t->stack.size, task_main, t);
    }
    t->fn = fn;
    t->arg = arg;
    t->on_exit = NULL;
    t->exit_arg = NULL;
    t->state = TASK_SUSPENDED;
    return t;
}

bn_task *bn_task_spawn(bn_loop *loop, bn_task_fn *fn, void *arg)
{
    bn_task *t = bn__task_new(loop, fn, arg);
    bn_task_wake(t);
    return t;
}

/* ---- suspension --------------------------------------------------------- */

bn_task *bn_task_self(void)
{
    bn_loop *loop = bn_loop_current();
    return loop ? loop->current : NULL;
}

static bn_task *self_or_die(const char *what)
{
    bn_task *t = bn_task_self();
    if (!t)
        bn_fatal("%s called outside a task", what);
    return t;
}

void bn_task_suspend(void)
{
    bn_task *t = self_or_die("bn_task_suspend");
    t->state = TASK_SUSPENDED;
    switch_to_loop(t);
}

void bn_task_wake(bn_task *t)
{
    if (t->state != TASK_SUSPENDED)
        return;
    t->state = TASK_RUNNABLE;
    bn_list_push_back(&t->loop->runq, &t->link);
}

void bn_task_yield(void)
{
    bn_task *t = self_or_die("bn_task_yield");
    t->state = TASK_RUNNABLE;
    bn_list_push_back(&t->loop->runq, &t->link);
    switch_to_loop(t);
}

static void timer_wake(bn_timer *timer)
{
    bn_task *t = bn_container_of(timer, bn_task, timer);
    t->wait_result = 0;
    bn_task_wake(t);
}

void bn_sleep(uint64_t ms)
{
    bn_task *t = self_or_die("bn_sleep");
    t->timer.cb = timer_wake;
    /* From the clock now, not the loop's cached time: a task that ran long since the loop
     * looked at the clock must still sleep its full time (never early). */
    uint64_t behind = bn_clock_ms() - bn_loop_now(t->loop);
    bn_timer_start(t->loop, &t->timer, ms + behind);
    bn_task_suspend();
    bn_timer_stop(&t->timer);
}

static void fd_wake(bn_io *io, unsigned events)
{
    bn_task *t = bn_container_of(io, bn_task, wait_io);
    t->wait_result = (int)(events & (io->events | BN_IO_HUP | BN_IO_ERR));
    if (t->wait_result)
        bn_task_wake(t);
}

int bn_wait_fd(int fd, unsigned events, int64_t timeout_ms)
{
    bn_task *t = self_or_die("bn_wait_fd");
    int err = bn_io_start(t->loop, &t->wait_io, fd, events, fd_wake);
    if (err < 0)
        return err;
    t->wait_result = 0;
    if (timeout_ms >= 0) {
        t->timer.cb = timer_wake;
        bn_timer_start(t->loop, &t->timer, (uint64_t)timeout_ms);
    }
    bn_task_suspend();
    bn_timer_stop(&t->timer);
    bn_io_stop(t->loop, &t->wait_io);
    return t->wait_result;
}

/* ---- crash support ------------------------------------------------------ */

bool bn__task_guard_hit(const void *addr, size_t *stack_size)
{
    bn_loop *loop = bn_loop_current();
    bn_task *t = loop ? loop->current : NULL;
    if (!t || !bn__stack_guard_hit(&t->stack, addr))
        return false;
    *stack_size = t->stack.size;
    return true;
}
