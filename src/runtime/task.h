/*
 * Internal task API shared by the loop, the HTTP server and the crash handler.
 */
#ifndef BENNU_RUNTIME_TASK_H
#define BENNU_RUNTIME_TASK_H

#include "bennu/runtime.h"

typedef void bn_task_exit_cb(void *arg);

/**
 * Takes a task from the loop's pool (or makes one) for fn(arg) without
 * scheduling it. Start it with bn__task_run.
 */
bn_task *bn__task_new(bn_loop *loop, bn_task_fn *fn, void *arg);
/**
 * Runs `t` now, on the calling (native, non-task) stack, until it finishes or
 * suspends. Returns true if it finished (it is then back in the pool and
 * must not be touched). If it suspended, `on_exit(exit_arg)` will be called
 * on the loop's native stack once it finishes.
 */
bool bn__task_run(bn_task *t, bn_task_exit_cb *on_exit, void *exit_arg);

/**
 * For the crash handler (async-signal-safe): if `addr` lies in the guard page
 * of the task running on this thread, stores its usable stack size in
 * *stack_size and returns true.
 */
bool bn__task_guard_hit(const void *addr, size_t *stack_size);

#endif
