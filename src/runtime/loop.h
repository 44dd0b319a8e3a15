/*
 * The loop structure, shared by loop.c, task.c and mailbox.c only.
 */
#ifndef BENNU_RUNTIME_LOOP_H
#define BENNU_RUNTIME_LOOP_H

#include "bennu/runtime.h"
#include "context.h"
#include "mpsc.h"
#include "timer_wheel.h"

struct bn_loop {
    int epfd;
    unsigned id;
    uint64_t now; /* cached bn_clock_ms(), refreshed each iteration */
    atomic_bool stopping;

    bn_timer_wheel wheel;

    /* Cross-thread inbox: an MPSC queue plus an eventfd that is written only
     * when the loop may be asleep (wake_pending was clear). */
    bn_mpsc inbox;
    atomic_bool wake_pending;
    bn_io wake_io;

    /* Tasks. */
    bn_ctx native_ctx;     /* the loop thread's own stack */
    bn_task *current;      /* running task, NULL on the native stack */
    bn_list runq;          /* runnable tasks */
    bn_list pool;          /* finished tasks with their stacks, LIFO */
    unsigned pool_len;
    const void *native_stack_bottom; /* for ASan fiber switches */
    size_t native_stack_size;
};

/** Pushes `m` (with its dest already set) to the loop's inbox and wakes it. Any thread. */
void bn__loop_enqueue(bn_loop *loop, bn_msg *m);
/** Delivers one inbox message on the loop thread (mailbox.c). */
void bn__mailbox_deliver(bn_msg *m);
/** Runs every task made runnable so far (task.c). */
void bn__loop_run_tasks(bn_loop *loop);
/** Frees the pooled tasks of a loop (task.c). */
void bn__loop_free_tasks(bn_loop *loop);

#endif
