/*
 * Tasks on a real loop: spawning, sleeping, yielding, waiting on fds,
 * suspend/wake, pooling, and the stack guard.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bennu/runtime.h"
#include "runtime/task.h"

static bn_loop *loop;
static char trace[256];
static size_t trace_len;

static void mark(char c)
{
    if (trace_len < sizeof trace - 1)
        trace[trace_len++] = c;
    trace[trace_len] = '\0';
}

static void setup(void)
{
    loop = bn_loop_new();
    trace_len = 0;
    trace[0] = '\0';
}

static void teardown(void) { bn_loop_free(loop); }

TestSuite(task, .init = setup, .fini = teardown, .timeout = 20);

static void stop_loop(bn_timer *t)
{
    (void)t;
    bn_loop_stop(loop);
}

/* Runs the loop until every task is done or `max_ms` passes. */
static void run_for(uint64_t max_ms)
{
    static bn_timer guard;
    bn_timer_init(&guard, stop_loop);
    bn_timer_start(loop, &guard, max_ms);
    cr_assert_eq(bn_loop_run(loop), 0);
    bn_timer_stop(&guard);
}

static int live_tasks;

static void finish(void)
{
    if (--live_tasks == 0)
        bn_loop_stop(loop);
}

static void sleeper(void *arg)
{
    uint64_t ms = (uint64_t)(uintptr_t)arg;
    uint64_t t0 = bn_clock_ms();
    bn_sleep(ms);
    cr_expect_geq(bn_clock_ms() - t0, ms, "woke early");
    mark((char)('0' + ms / 10));
    finish();
}

Test(task, sleeps_wake_in_deadline_order_and_never_early)
{
    live_tasks = 3;
    bn_task_spawn(loop, sleeper, (void *)(uintptr_t)30);
    bn_task_spawn(loop, sleeper, (void *)(uintptr_t)10);
    bn_task_spawn(loop, sleeper, (void *)(uintptr_t)20);
    run_for(2000);
    cr_expect_str_eq(trace, "123");
}

static void yielder(void *arg)
{
    char id = (char)(uintptr_t)arg;
    for (int i = 0; i < 3; i++) {
        mark(id);
        bn_task_yield();
    }
    finish();
}

Test(task, yield_interleaves_runnable_tasks)
{
    live_tasks = 2;
    bn_task_spawn(loop, yielder, (void *)(uintptr_t)'a');
    bn_task_spawn(loop, yielder, (void *)(uintptr_t)'b');
    run_for(2000);
    cr_expect_str_eq(trace, "ababab");
}

static bn_task *parked;

static void park(void *arg)
{
    (void)arg;
    parked = bn_task_self();
    cr_assert_not_null(parked);
    mark('s');
    bn_task_suspend();
    mark('w');
    finish();
}

static void waker(void *arg)
{
    (void)arg;
    bn_sleep(5);
    mark('k');
    bn_task_wake(parked);
    bn_task_wake(parked); /* a second wake of a runnable task is a no-op */
    finish();
}

Test(task, suspend_until_woken)
{
    live_tasks = 2;
    bn_task_spawn(loop, park, NULL);
    bn_task_spawn(loop, waker, NULL);
    run_for(2000);
    cr_expect_str_eq(trace, "skw");
    cr_expect_null(bn_task_self(), "no task runs on the loop's own stack");
}

static int pipefd[2];

static void reader(void *arg)
{
    (void)arg;
    int r = bn_wait_fd(pipefd[0], BN_IO_READ, 5000);
    cr_expect(r & BN_IO_READ);
    char c = 0;
    cr_expect_eq(read(pipefd[0], &c, 1), 1);
    mark(c);
    /* Nothing more to read: this wait must time out. */
    uint64_t t0 = bn_clock_ms();
    cr_expect_eq(bn_wait_fd(pipefd[0], BN_IO_READ, 30), 0);
    cr_expect_geq(bn_clock_ms() - t0, 30);
    mark('t');
    finish();
}

static void writer(void *arg)
{
    (void)arg;
    bn_sleep(10);
    cr_expect_eq(write(pipefd[1], "x", 1), 1);
    finish();
}

Test(task, wait_fd_wakes_on_readiness_and_times_out)
{
    cr_assert_eq(pipe(pipefd), 0);
    live_tasks = 2;
    bn_task_spawn(loop, reader, NULL);
    bn_task_spawn(loop, writer, NULL);
    run_for(3000);
    cr_expect_str_eq(trace, "xt");
    close(pipefd[0]);
    close(pipefd[1]);
}

static void bad_fd_task(void *arg)
{
    int *out = arg;
    *out = bn_wait_fd(-1, BN_IO_READ, 100);
    finish();
}

Test(task, wait_fd_rejects_an_invalid_fd)
{
    int result = 0;
    live_tasks = 1;
    bn_task_spawn(loop, bad_fd_task, &result);
    run_for(2000);
    cr_expect_lt(result, 0, "expected -errno, got %d", result);
}

static int counter;

static void count_and_return(void *arg)
{
    (void)arg;
    counter++;
}

Test(task, finished_tasks_are_reused_from_the_pool)
{
    /* Each bn__task_run finishes synchronously; the same task comes back. */
    bn_task *first = bn__task_new(loop, count_and_return, NULL);
    cr_assert(bn__task_run(first, NULL, NULL));
    for (int i = 0; i < 10000; i++) {
        bn_task *t = bn__task_new(loop, count_and_return, NULL);
        cr_expect_eq(t, first, "a pooled task should be reused");
        cr_assert(bn__task_run(t, NULL, NULL));
    }
    cr_expect_eq(counter, 10001);
}

static int exited;

static void on_exit_hook(void *arg)
{
    cr_expect_null(bn_task_self(), "exit hooks run on the loop's stack");
    exited = *(int *)arg;
    bn_loop_stop(loop);
}

static void sleep_briefly(void *arg)
{
    (void)arg;
    bn_sleep(5);
}

Test(task, exit_hook_runs_after_a_suspended_task_finishes)
{
    static int token = 42;
    bn_task *t = bn__task_new(loop, sleep_briefly, NULL);
    cr_expect_not(bn__task_run(t, on_exit_hook, &token), "the task suspended, so it has not finished");
    run_for(2000);
    cr_expect_eq(exited, 42);
}

static void spawn_many(void *arg)
{
    (void)arg;
    bn_sleep(1 + (uint64_t)(counter++ % 7));
    finish();
}

Test(task, ten_thousand_concurrent_tasks)
{
    live_tasks = 10000;
    for (int i = 0; i < 10000; i++)
        bn_task_spawn(loop, spawn_many, NULL);
    run_for(10000);
    cr_expect_eq(live_tasks, 0);
}

/* More tasks than the pool keeps resident finish while suspended: the stacks
 * of the extra ones are given back (madvise), which zeroes the context they
 * saved when they last switched out. Reusing them must start them afresh,
 * not resume that zeroed context (it jumped to address 0). */
static void sleep_then_finish(void *arg)
{
    (void)arg;
    bn_sleep(1);
    finish();
}

Test(task, pooled_tasks_whose_stacks_were_given_back_run_again)
{
    for (int round = 0; round < 3; round++) {
        live_tasks = 100;
        for (int i = 0; i < 100; i++)
            bn_task_spawn(loop, sleep_then_finish, NULL);
        run_for(5000);
        cr_assert_eq(live_tasks, 0, "round %d: every task ran to its end", round);
    }
}

static volatile long depth_limit = -1;

static int recurse(long depth)
{
    volatile char frame[256];
    frame[0] = (char)depth;
    if (depth == depth_limit)
        return frame[0];
    return recurse(depth + 1) + frame[0];
}

static void overflow(void *arg)
{
    (void)arg;
    recurse(0);
}

static void blow_the_stack(void)
{
    bn_crash_handlers_install();
    bn_task *t = bn__task_new(loop, overflow, NULL);
    bn__task_run(t, NULL, NULL);
}

Test(task, stack_overflow_hits_the_guard_page_and_is_named)
{
    int out[2];
    cr_assert_eq(pipe(out), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(out[1], 2);
        blow_the_stack();
        _exit(0); /* not reached */
    }
    close(out[1]);
    static char report[1 << 16];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof report - 1 && (n = read(out[0], report + len, sizeof report - 1 - len)) > 0)
        len += (size_t)n;
    report[len] = '\0';
    close(out[0]);
    int status;
    waitpid(pid, &status, 0);
#if defined(__SANITIZE_ADDRESS__)
    /* Our line comes first, then ASan's own report; ASan exits with 1. */
    cr_expect(strstr(report, "task stack overflow") || strstr(report, "stack-overflow"), "%s", report);
    cr_expect(WIFEXITED(status) || WIFSIGNALED(status));
#else
    cr_expect(strstr(report, "task stack overflow (guard page hit at"), "report was: %.2000s", report);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "the process must die by SIGSEGV");
#endif
}
