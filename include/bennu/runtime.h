/*
 * bennu/runtime.h — the "BEAM-lite": event loops, timers, tasks, mailboxes and
 * the supervising master process.
 *
 * One loop per thread. Every connection, timer and task belongs to exactly one
 * loop for its whole life, so nothing here takes a lock except the mailbox
 * that lets other threads post work to a loop. Handler code runs in tasks:
 * stackful coroutines that may call blocking-looking functions (bn_sleep,
 * bn_wait_fd, bn_mailbox_recv) which suspend only the calling task.
 *
 * Example:
 *
 *     static void hello(void *arg) {
 *         bn_sleep(100);                      // suspends this task only
 *         bn_info("hello after 100 ms");
 *         bn_loop_stop(bn_loop_current());
 *     }
 *     int main(void) {
 *         bn_loop *loop = bn_loop_new();
 *         bn_task_spawn(loop, hello, NULL);
 *         bn_loop_run(loop);
 *         bn_loop_free(loop);
 *     }
 */
#ifndef BENNU_RUNTIME_H
#define BENNU_RUNTIME_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "bennu/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_loop bn_loop;
typedef struct bn_task bn_task;

/* ------------------------------------------------------------------------ */
/* Loops                                                                      */

/** Creates a loop owned by the calling thread (becomes bn_loop_current()). */
bn_loop *bn_loop_new(void);
/** Frees a stopped loop. Timers, ios and tasks still registered are abandoned. */
void bn_loop_free(bn_loop *loop);
/** Runs until bn_loop_stop(). Returns 0, or -errno if epoll itself fails. */
int bn_loop_run(bn_loop *loop);
/** Asks the loop to return from bn_loop_run after the current iteration. Any thread. */
void bn_loop_stop(bn_loop *loop);
/** The loop of the calling thread, or NULL. */
bn_loop *bn_loop_current(void);
/** Cached monotonic time in ms, refreshed once per loop iteration. */
uint64_t bn_loop_now(const bn_loop *loop);
/** Small sequential id (0, 1, ...) in creation order, for logs and sharding. */
unsigned bn_loop_id(const bn_loop *loop);

/* ------------------------------------------------------------------------ */
/* File descriptor readiness (always edge-triggered).                       */

/* BN_IO_HUP: the peer closed (or shut down its sending side); always comes with BN_IO_READ. */
enum { BN_IO_READ = 1u << 0, BN_IO_WRITE = 1u << 1, BN_IO_HUP = 1u << 2, BN_IO_ERR = 1u << 3 };

typedef struct bn_io bn_io;
/** Called with the BN_IO_* bits that became ready. */
typedef void bn_io_cb(bn_io *io, unsigned events);
struct bn_io {
    int fd;
    unsigned events;
    bn_io_cb *cb;
};

/** Watches `fd` for `events` (BN_IO_READ|BN_IO_WRITE). Returns 0 or -errno. */
int bn_io_start(bn_loop *loop, bn_io *io, int fd, unsigned events, bn_io_cb *cb);
/** Stops watching; does not close the fd. */
void bn_io_stop(bn_loop *loop, bn_io *io);

/* ------------------------------------------------------------------------ */
/* Timers, millisecond resolution, driven by a hierarchical timer wheel.    */
/* A timer never fires early; it may fire up to one loop iteration late.     */

typedef struct bn_timer bn_timer;
typedef void bn_timer_cb(bn_timer *t);
struct bn_timer {
    bn_list node;       /* private: slot link in the wheel */
    uint64_t expire_ms; /* private: absolute monotonic deadline */
    bn_timer_cb *cb;
};

/** Prepares `t`; safe to call bn_timer_stop on it right after. */
void bn_timer_init(bn_timer *t, bn_timer_cb *cb);
/** (Re)arms `t` to fire `delay_ms` from now on `loop`. */
void bn_timer_start(bn_loop *loop, bn_timer *t, uint64_t delay_ms);
/** Disarms `t` if armed. O(1). */
void bn_timer_stop(bn_timer *t);
static inline bool bn_timer_active(const bn_timer *t) { return bn_list_linked(&t->node); }

/* ------------------------------------------------------------------------ */
/* Tasks: stackful coroutines with pooled, guard-paged stacks.               */

typedef void bn_task_fn(void *arg);

/** Default usable stack size of a task (BENNU_TASK_STACK overrides, e.g. "256k"). */
size_t bn_task_stack_size(void);

/** Creates a task on `loop` that will run fn(arg) at the loop's next turn. */
bn_task *bn_task_spawn(bn_loop *loop, bn_task_fn *fn, void *arg);
/** The task running now, or NULL when called from plain loop code. */
bn_task *bn_task_self(void);
/** Lets other runnable tasks go first; returns at the next loop turn. */
void bn_task_yield(void);
/** Suspends the current task until someone calls bn_task_wake() on it. */
void bn_task_suspend(void);
/** Makes a suspended task runnable. Same loop thread only; waking a runnable task is a no-op. */
void bn_task_wake(bn_task *t);
/** Suspends the current task for `ms` milliseconds. */
void bn_sleep(uint64_t ms);
/**
 * Suspends the current task until `fd` is ready for `events` (BN_IO_READ/WRITE)
 * or `timeout_ms` passes (negative: no timeout). Returns the ready BN_IO_* bits,
 * 0 on timeout, or -errno if the fd cannot be watched.
 */
int bn_wait_fd(int fd, unsigned events, int64_t timeout_ms);

/* ------------------------------------------------------------------------ */
/* Cross-thread messages. A bn_msg is allocated by the sender and owned by   */
/* the receiver once delivered.                                               */

typedef struct bn_msg bn_msg;
typedef struct bn_mailbox bn_mailbox;
typedef void bn_msg_fn(bn_msg *m);

struct bn_msg {
    _Atomic(bn_msg *) next; /* private: MPSC link */
    bn_msg_fn *run;         /* called on the target loop (bn_loop_post) */
    bn_mailbox *dest;       /* private: set by bn_mailbox_send */
    bn_list link;           /* private: mailbox queue link */
};

/** Runs m->run(m) on `loop`'s thread soon. Safe from any thread; wakes the loop only when it sleeps. */
void bn_loop_post(bn_loop *loop, bn_msg *m);

/** A queue of messages for tasks of one loop. */
struct bn_mailbox {
    bn_loop *loop;  /* owner */
    bn_list queue;  /* delivered, not yet received */
    bn_task *waiter;
};

/** Binds `mb` to `loop` (its owner). */
void bn_mailbox_init(bn_mailbox *mb, bn_loop *loop);
/** Delivers `m` to `mb`. Safe from any thread. */
void bn_mailbox_send(bn_mailbox *mb, bn_msg *m);
/**
 * Takes the next message, suspending the current task (on the owner loop) up
 * to `timeout_ms` (negative: forever). Returns NULL on timeout. One waiter at a time.
 */
bn_msg *bn_mailbox_recv(bn_mailbox *mb, int64_t timeout_ms);

/* ------------------------------------------------------------------------ */
/* The supervising master process.                                           */
/*                                                                            */
/* bn_master_run() forks a worker that runs worker(arg, fds, nfds), restarts */
/* it at once when it dies (logging the signal; a crashing worker prints its */
/* own backtrace), forwards SIGTERM/SIGINT for a graceful drain, and on      */
/* SIGUSR2 executes a new copy of the program that inherits the listening    */
/* sockets: once the new master reports its worker ready, the old one drains */
/* and exits, so a deploy drops no connection.                               */

typedef int bn_worker_main(void *arg, const int *listen_fds, size_t nfds);

typedef struct bn_master_opts {
    const int *listen_fds; /* bound, listening sockets the workers share */
    size_t nfds;
    bn_worker_main *worker;
    void *arg;
    unsigned drain_timeout_ms; /* SIGKILL a draining worker after this (0: 30 s) */
    char *const *argv;         /* argv to re-execute on SIGUSR2 (NULL: no upgrade) */
} bn_master_opts;

/** Runs the master until it is told to stop; returns the process exit status. */
int bn_master_run(const bn_master_opts *opts);

/**
 * Listening sockets inherited from an upgrading master (env BENNU_LISTEN_FDS),
 * or 0 if none. Writes at most `max` fds into `fds`.
 */
size_t bn_master_inherited_fds(int *fds, size_t max);

/** Called by a worker once it accepts connections; an upgrading master waits for it. */
void bn_worker_ready(void);

/** Installs the fatal-signal handlers that print a backtrace (and name a task stack overflow). */
void bn_crash_handlers_install(void);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_RUNTIME_H */
