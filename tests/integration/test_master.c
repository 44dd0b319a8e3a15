/*
 * The supervising master, end to end: runs bin/master_demo in its own
 * session, kills, crashes, drains and upgrades it, and reads its log.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bennu/core.h"

#define DEMO BENNU_BIN_DIR "/master_demo"

typedef struct demo {
    pid_t pid; /* the first master; also the process group of everything it starts */
    int port;
    char log[64];
    bool reaped;
} demo;

static demo D;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Starts master_demo with extra "NAME=value" settings (NULL-terminated). */
static void demo_start(const char *const *env)
{
    /* Orphaned masters (after an upgrade) come back to us, so we can reap them. */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    snprintf(D.log, sizeof D.log, "/tmp/bennu-master-XXXXXX");
    int logfd = mkstemp(D.log);
    cr_assert_geq(logfd, 0);
    int out[2];
    cr_assert_eq(pipe(out), 0);
    D.pid = fork();
    cr_assert_geq(D.pid, 0);
    if (D.pid == 0) {
        setsid(); /* its own process group: the test kills -pgid at the end */
        int fl = fcntl(logfd, F_GETFL);
        fcntl(logfd, F_SETFL, fl | O_APPEND);
        dup2(out[1], STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        setenv("BENNU_LOG_LEVEL", "info", 1);
        unsetenv("BENNU_DEMO_GEN");
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execl(DEMO, DEMO, (char *)NULL);
        _exit(126);
    }
    close(logfd);
    close(out[1]);
    char buf[64] = {0};
    size_t len = 0;
    uint64_t deadline = bn_clock_ms() + 5000;
    while (!memchr(buf, '\n', len) && len + 1 < sizeof buf && bn_clock_ms() < deadline) {
        struct pollfd p = {out[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(out[0], buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(out[0]);
    cr_assert_eq(sscanf(buf, "port %d", &D.port), 1, "master_demo did not report its port: \"%s\"", buf);
}

/* Kills everything the demo started, reaps it all and removes the log. */
static void demo_cleanup(void)
{
    if (D.pid > 0) {
        kill(-D.pid, SIGKILL);
        uint64_t deadline = bn_clock_ms() + 5000;
        while (bn_clock_ms() < deadline) {
            pid_t r = waitpid(-1, NULL, WNOHANG);
            if (r < 0)
                break; /* ECHILD: all reaped */
            if (r == 0)
                sleep_ms(10);
        }
    }
    if (D.log[0])
        unlink(D.log);
    D = (demo){0};
}

/* Waits for the first master to exit; returns its wait status or -1 on timeout. */
static int demo_wait(long timeout_ms)
{
    uint64_t deadline = bn_clock_ms() + (uint64_t)timeout_ms;
    do {
        int st;
        pid_t r = waitpid(D.pid, &st, WNOHANG);
        if (r == D.pid) {
            D.reaped = true;
            return st;
        }
        sleep_ms(10);
    } while (bn_clock_ms() < deadline);
    return -1;
}

static char *read_log(void)
{
    static char buf[1 << 16];
    int fd = open(D.log, O_RDONLY);
    cr_assert_geq(fd, 0);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static bool log_wait_for(const char *needle, long timeout_ms)
{
    uint64_t deadline = bn_clock_ms() + (uint64_t)timeout_ms;
    do {
        if (strstr(read_log(), needle))
            return true;
        sleep_ms(20);
    } while (bn_clock_ms() < deadline);
    return false;
}

static int connect_demo(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)D.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until EOF; returns the byte count, or -1 on error/timeout. */
static ssize_t read_reply(int fd, char *buf, size_t cap, long timeout_ms)
{
    size_t len = 0;
    uint64_t deadline = bn_clock_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = bn_clock_ms();
        if (now >= deadline)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0)
            return -1;
        buf[len += (size_t)n] = '\0';
        if (n == 0 || len + 1 == cap)
            return (ssize_t)len;
    }
}

typedef struct answer {
    int pid;
    int gen;
} answer;

/* One request; true with the parsed answer, false if anything went wrong. */
static bool ask(const char *line, answer *a, long timeout_ms)
{
    char buf[128];
    int fd = connect_demo();
    if (fd < 0)
        return false;
    bool ok = write(fd, line, strlen(line)) == (ssize_t)strlen(line) &&
              read_reply(fd, buf, sizeof buf, timeout_ms) > 0 && sscanf(buf, "pid %d gen %d", &a->pid, &a->gen) == 2;
    close(fd);
    return ok;
}

static answer ask_ok(void)
{
    answer a;
    cr_assert(ask("hi\n", &a, 3000), "the demo did not answer");
    return a;
}

/* Asks until a worker other than `old` answers; returns the elapsed ms. */
static uint64_t wait_new_worker(int old, answer *a, long timeout_ms)
{
    uint64_t t0 = bn_clock_ms();
    while (bn_clock_ms() - t0 < (uint64_t)timeout_ms) {
        if (ask("hi\n", a, 1000) && a->pid != old)
            return bn_clock_ms() - t0;
        sleep_ms(5);
    }
    cr_assert_fail("no new worker answered within %ld ms", timeout_ms);
    return 0;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void stop_demo_cleanly(void)
{
    cr_assert_eq(kill(D.pid, SIGTERM), 0);
    int st = demo_wait(10000);
    cr_assert_neq(st, -1, "master did not exit after SIGTERM");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "master wait status %#x", st);
}

TestSuite(master, .fini = demo_cleanup, .timeout = 60);

Test(master, restarts_a_killed_worker)
{
    demo_start(NULL);
    answer first = ask_ok();
    cr_assert_eq(first.gen, 0);
    cr_assert_eq(kill(first.pid, SIGKILL), 0);
    answer next;
    uint64_t ms = wait_new_worker(first.pid, &next, 3000);
    cr_expect_lt(ms, 1000, "the new worker answered only after %llu ms", (unsigned long long)ms);
    char want[96];
    snprintf(want, sizeof want, "worker %d killed by signal 9 (Killed)", first.pid);
    cr_expect(log_wait_for(want, 2000), "log lacks \"%s\":\n%s", want, read_log());
    stop_demo_cleanly();
}

Test(master, crash_logs_signal_and_backtrace_then_restarts)
{
    demo_start(NULL);
    answer first = ask_ok();
    answer none;
    cr_assert_not(ask("crash\n", &none, 3000), "a crashing worker answered");
    answer next;
    uint64_t ms = wait_new_worker(first.pid, &next, 3000);
    cr_expect_lt(ms, 1000);

    char want[128];
    snprintf(want, sizeof want, "bennu: worker %d caught signal 11 (SIGSEGV) at address 0x0\n", first.pid);
    cr_assert(log_wait_for(want, 2000), "log lacks \"%s\":\n%s", want, read_log());
    const char *log = read_log();
    const char *trace = strstr(log, want) + strlen(want);
    /* backtrace_symbols_fd: one "binary(+offset)[0xaddress]" line per frame */
    cr_expect_geq(count(trace, ")[0x"), 3, "no backtrace after the crash line:\n%s", log);
    cr_expect(strstr(trace, "master_demo("), "the backtrace does not name the program:\n%s", log);
    /* The master saw it die: by SIGSEGV, or with exit status 1 when ASan reports it first. */
    char died[96], asan[96];
    snprintf(died, sizeof died, "worker %d killed by signal 11", first.pid);
    snprintf(asan, sizeof asan, "worker %d exited with status 1", first.pid);
    cr_expect(strstr(log, died) || (strstr(log, asan) && strstr(log, "AddressSanitizer")), "master log:\n%s", log);
    stop_demo_cleanly();
}

Test(master, sigterm_drains_the_request_in_flight)
{
    demo_start(NULL);
    answer first = ask_ok();
    int fd = connect_demo();
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "slow\n", 5), 5);
    sleep_ms(200); /* the worker is now inside the 1 s of work */
    uint64_t t0 = bn_clock_ms();
    cr_assert_eq(kill(D.pid, SIGTERM), 0);
    char buf[128];
    cr_assert_gt(read_reply(fd, buf, sizeof buf, 5000), 0, "the slow request was dropped");
    close(fd);
    answer a;
    cr_assert_eq(sscanf(buf, "pid %d gen %d", &a.pid, &a.gen), 2, "reply: %s", buf);
    cr_expect_eq(a.pid, first.pid);
    int st = demo_wait(10000);
    cr_assert_neq(st, -1, "master did not exit");
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "master wait status %#x", st);
    cr_expect_geq(bn_clock_ms() - t0, 600, "the master did not wait for the drain");
    cr_expect(strstr(read_log(), "asking worker"), "log:\n%s", read_log());
}

Test(master, drain_timeout_kills_a_stuck_worker)
{
    demo_start((const char *const[]){"BENNU_DEMO_DRAIN_MS=100", NULL});
    ask_ok();
    int fd = connect_demo();
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "hang\n", 5), 5);
    sleep_ms(200);
    uint64_t t0 = bn_clock_ms();
    cr_assert_eq(kill(D.pid, SIGTERM), 0);
    int st = demo_wait(8000);
    uint64_t ms = bn_clock_ms() - t0;
    close(fd);
    cr_assert_neq(st, -1, "master did not exit");
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL, "master wait status %#x", st);
    cr_expect(ms >= 1000 && ms < 5000, "killed after %llu ms (drain 100 ms + 1 s margin)", (unsigned long long)ms);
    cr_expect(strstr(read_log(), "still draining"), "log:\n%s", read_log());
}

Test(master, crash_loop_backs_off)
{
    demo_start((const char *const[]){"BENNU_DEMO_DIE_AT_START=1", NULL});
    sleep_ms(2500);
    const char *log = read_log();
    int starts = count(log, "started worker");
    /* 0 + 100 + 200 + 400 + 800 ms of backoff fit in 2.5 s: about 6 starts, not thousands */
    cr_expect(starts >= 4 && starts <= 8, "%d worker starts in 2.5 s:\n%s", starts, log);
    cr_expect(strstr(log, "crash loop backoff: next start in 100 ms"), "log:\n%s", log);
    cr_expect(strstr(log, "next start in 800 ms"), "log:\n%s", log);
    cr_expect(strstr(log, "exited with status 3"), "log:\n%s", log);
    stop_demo_cleanly(); /* also while no worker runs */
}

/* ---- zero-downtime upgrade ---------------------------------------------- */

typedef struct hammer {
    pthread_t thread;
    atomic_bool stop;
    atomic_bool old_gone;   /* set once the old master has exited */
    atomic_int ok, failed;
    atomic_int gen0, gen1, gen0_after_exit, other;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    while (!atomic_load(&h->stop)) {
        bool after = atomic_load(&h->old_gone);
        answer a;
        if (!ask("hi\n", &a, 5000)) {
            atomic_fetch_add(&h->failed, 1);
            continue;
        }
        atomic_fetch_add(&h->ok, 1);
        if (a.gen == 0)
            atomic_fetch_add(after ? &h->gen0_after_exit : &h->gen0, 1);
        else if (a.gen == 1)
            atomic_fetch_add(&h->gen1, 1);
        else
            atomic_fetch_add(&h->other, 1);
    }
    return NULL;
}

Test(master, sigusr2_upgrades_without_dropping_a_connection)
{
    demo_start(NULL);
    answer first = ask_ok();
    cr_assert_eq(first.gen, 0);
    static hammer h[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&h[i].thread, NULL, hammer_run, &h[i]), 0);
    sleep_ms(300);
    cr_assert_eq(kill(D.pid, SIGUSR2), 0);
    int st = demo_wait(15000);
    for (int i = 0; i < 2; i++)
        atomic_store(&h[i].old_gone, true);
    sleep_ms(500); /* the new generation alone now */
    for (int i = 0; i < 2; i++) {
        atomic_store(&h[i].stop, true);
        pthread_join(h[i].thread, NULL);
    }
    cr_assert_neq(st, -1, "the old master did not exit:\n%s", read_log());
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "old master wait status %#x", st);

    int ok = h[0].ok + h[1].ok, failed = h[0].failed + h[1].failed;
    cr_expect_eq(failed, 0, "%d of %d connections failed during the upgrade", failed, ok + failed);
    cr_expect_gt(ok, 50, "only %d requests made it: the hammer barely ran", ok);
    cr_expect_gt(h[0].gen0 + h[1].gen0, 0);
    cr_expect_gt(h[0].gen1 + h[1].gen1, 0, "no answer from the new generation");
    cr_expect_eq(h[0].gen0_after_exit + h[1].gen0_after_exit, 0, "old workers answered after the old master left");
    cr_expect_eq(h[0].other + h[1].other, 0);
    cr_expect(strstr(read_log(), "is ready; handing over"), "log:\n%s", read_log());

    /* The new master keeps serving, and supervises its worker. */
    answer a = ask_ok();
    cr_expect_eq(a.gen, 1);
    cr_assert_eq(kill(a.pid, SIGKILL), 0);
    answer b;
    wait_new_worker(a.pid, &b, 3000);
    cr_expect_eq(b.gen, 1);
}

static void expect_failed_upgrade(const char *why)
{
    answer first = ask_ok();
    cr_assert_eq(kill(D.pid, SIGUSR2), 0);
    cr_assert(log_wait_for("upgrade failed", 5000), "log:\n%s", read_log());
    cr_expect(strstr(read_log(), why), "log lacks \"%s\":\n%s", why, read_log());
    /* Same master, same worker, still serving. */
    for (int i = 0; i < 20; i++) {
        answer a = ask_ok();
        cr_expect_eq(a.pid, first.pid);
        cr_expect_eq(a.gen, 0);
    }
    cr_expect_eq(demo_wait(0), -1, "the old master exited");
}

Test(master, failed_upgrade_keeps_serving)
{
    demo_start((const char *const[]){"BENNU_DEMO_UPGRADE_ARGV0=/bin/false", NULL});
    expect_failed_upgrade("exited with status 1 before its worker was ready");
    /* A second attempt is allowed and fails the same way. */
    kill(D.pid, SIGUSR2);
    sleep_ms(300);
    cr_expect_eq(count(read_log(), "upgrade failed"), 2, "log:\n%s", read_log());
    ask_ok();
    stop_demo_cleanly();
}

Test(master, upgrade_to_a_missing_binary_keeps_serving)
{
    demo_start((const char *const[]){"BENNU_DEMO_UPGRADE_ARGV0=/nonexistent/bennu-demo", NULL});
    expect_failed_upgrade("exited with status 127 before its worker was ready");
    cr_expect(strstr(read_log(), "cannot start /nonexistent/bennu-demo"), "log:\n%s", read_log());
    stop_demo_cleanly();
}
