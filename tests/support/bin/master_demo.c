/*
 * master_demo — a tiny prefork server for the master tests. Every connection
 * sends one line and gets "pid <worker pid> gen <generation>\n"; the line
 * "slow" delays the answer by 1 s, "hang" by 10 s, "crash" makes the worker
 * segfault.
 *
 * Environment: BENNU_DEMO_PORT (default 0: any; "port N" is printed on stdout),
 * BENNU_DEMO_GEN (this generation, default 0; an upgraded copy sees GEN+1),
 * BENNU_DEMO_UPGRADE_ARGV0 (program to exec on SIGUSR2 instead of ourselves),
 * BENNU_DEMO_DRAIN_MS (drain timeout, default 5000), BENNU_DEMO_DIE_AT_START
 * (every worker exits 3 at once).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bennu/runtime.h"

static volatile sig_atomic_t stop_requested;
static long generation;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Reads one line (or whatever arrives within 2 s) from a fresh connection. */
static void read_line(int fd, char *line, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap && !memchr(line, '\n', len)) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, 2000);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t n = read(fd, line + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = '\0';
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A genuine SIGSEGV; UBSan must not turn it into its own report. */
__attribute__((no_sanitize("undefined"))) static void crash(void)
{
    *(volatile int *)(uintptr_t)0 = 1;
}

static void serve(int fd)
{
    char line[64];
    read_line(fd, line, sizeof line);
    if (strncmp(line, "crash", 5) == 0)
        crash();
    if (strncmp(line, "slow", 4) == 0)
        sleep_ms(1000); /* in-flight work a drain must wait for */
    if (strncmp(line, "hang", 4) == 0)
        sleep_ms(10000); /* outlasts any drain timeout the tests set */
    char reply[64];
    int n = snprintf(reply, sizeof reply, "pid %d gen %ld\n", (int)getpid(), generation);
    if (write(fd, reply, (size_t)n) != n)
        bn_warn("demo worker: write: %s", strerror(errno));
    close(fd);
}

static int worker(void *arg, const int *fds, size_t nfds)
{
    (void)arg;
    if (getenv("BENNU_DEMO_DIE_AT_START"))
        return 3; /* a worker that can never start: the master must back off */
    bn_crash_handlers_install();
    signal(SIGPIPE, SIG_IGN);
    /* SIGTERM stays blocked except inside ppoll, so it never cuts a request short. */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigprocmask(SIG_BLOCK, &term, &old);
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct pollfd p[8];
    nfds = BN_MIN(nfds, BN_ARRAY_LEN(p));
    for (size_t i = 0; i < nfds; i++)
        p[i] = (struct pollfd){fds[i], POLLIN, 0};
    bn_worker_ready();
    while (!stop_requested) {
        int r = ppoll(p, nfds, NULL, &old);
        if (r < 0 && errno != EINTR) {
            bn_error("demo worker: ppoll: %s", strerror(errno));
            return 1;
        }
        for (size_t i = 0; r > 0 && i < nfds; i++) {
            if (!p[i].revents)
                continue;
            /* The listener is non-blocking: the other generation may win the race. */
            int c = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0)
                serve(c);
            else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                bn_warn("demo worker: accept: %s", strerror(errno));
        }
    }
    return 0;
}

static int listen_here(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)bn_env_long("BENNU_DEMO_PORT", 0))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 512) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("master_demo: listen");
        exit(2);
    }
    printf("port %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    return fd;
}

int main(int argc, char **argv)
{
    (void)argc;
    bn_log_init_from_env();
    generation = bn_env_long("BENNU_DEMO_GEN", 0);
    char next[24];
    snprintf(next, sizeof next, "%ld", generation + 1);
    setenv("BENNU_DEMO_GEN", next, 1); /* what an upgraded copy will see */

    int fd;
    if (bn_master_inherited_fds(&fd, 1) != 1)
        fd = listen_here();
    /* Shared by every process holding the socket; each worker copes with EAGAIN. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        perror("master_demo: fcntl");
        return 2;
    }
    const char *override = getenv("BENNU_DEMO_UPGRADE_ARGV0");
    if (override)
        argv[0] = (char *)override;
    bn_master_opts opts = {
        .listen_fds = &fd,
        .nfds = 1,
        .worker = worker,
        .drain_timeout_ms = (unsigned)bn_env_long("BENNU_DEMO_DRAIN_MS", 5000),
        .argv = argv,
    };
    int rc = bn_master_run(&opts);
    close(fd);
    return rc;
}
