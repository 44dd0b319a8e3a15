/*
 * master.c — the supervising master process: forks the worker and restarts it
 * when it dies, forwards SIGTERM/SIGINT for a graceful drain, and on SIGUSR2
 * hands the listening sockets to a freshly executed copy of the program.
 *
 * Zero-downtime upgrade (SIGUSR2), old master O, new master N:
 *   1. O makes a readiness pipe (both ends close-on-exec) and forks a child
 *      that clears FD_CLOEXEC on the listen fds and the pipe's write end only
 *      in its own fd table (so O's fds never lose the flag), sets
 *      BENNU_LISTEN_FDS="fd,fd,..." and BENNU_READY_FD=<write end>, and execs
 *      the program path resolved when O started (a binary replaced at that
 *      path is what runs).
 *   2. N's main() finds its sockets with bn_master_inherited_fds() instead of
 *      binding, and calls bn_master_run(). N takes BENNU_READY_FD out of its
 *      environment (close-on-exec, so N's own upgrades never pass it on) and
 *      keeps it as its "upstream".
 *   3. Every worker gets its own private readiness pipe from its master (as
 *      BENNU_READY_FD); bn_worker_ready() writes one byte to it. When N's
 *      first worker is ready, N relays the byte upstream and closes it, so a
 *      worker that crashes before it is ready does not fail the upgrade as
 *      long as its restarted successor becomes ready in time.
 *   4. Both generations accept on the same sockets meanwhile. When O reads
 *      the byte it SIGTERMs its own worker (which drains) and returns 0 once
 *      that worker is gone; N carries on.
 *   5. If O's pipe reaches EOF without the byte (exec failed, N died) or 30 s
 *      pass, O logs an error, SIGKILLs N if it still lives (N's workers die
 *      with it through PR_SET_PDEATHSIG) and keeps serving.
 *
 * The master is single-threaded: signals arrive through a signalfd and all
 * waiting happens in one poll() with the nearest deadline as its timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bennu/runtime.h"

#define LISTEN_ENV "BENNU_LISTEN_FDS"
#define READY_ENV "BENNU_READY_FD"

enum {
    DRAIN_DEFAULT_MS = 30000,
    DRAIN_MARGIN_MS = 1000,  /* on top of the drain timeout, before SIGKILL */
    QUICK_DEATH_MS = 1000,   /* a worker dying younger than this counts as a crash loop */
    BACKOFF_MIN_MS = 100,
    BACKOFF_MAX_MS = 2000,
    UPGRADE_TIMEOUT_MS = 30000,
    HEIR_EXIT_GRACE_MS = 1000, /* after its pipe closes, wait this long to reap it for the log */
};

typedef struct master {
    const bn_master_opts *o;
    pid_t self;
    char exe[PATH_MAX]; /* program to exec on SIGUSR2 ("" when upgrades are off) */
    int sfd;            /* signalfd */
    sigset_t old_mask;
    struct sigaction old_chld;

    pid_t worker;         /* 0 when none is running */
    uint64_t worker_born; /* when it was forked */
    int worker_ready;     /* read end of its readiness pipe, or -1 */
    int upstream;         /* BENNU_READY_FD inherited from an old master, or -1 */
    unsigned quick_deaths; /* consecutive workers that died younger than QUICK_DEATH_MS */
    uint64_t respawn_at;  /* when to fork the next worker, 0: not scheduled */

    bool stopping;
    bool handed_over; /* stopping because a new master took over: return 0 */
    uint64_t kill_at; /* SIGKILL a draining worker at this time, 0: none */
    int status;       /* returned by bn_master_run */

    pid_t heir;        /* new master being started, 0 when none */
    int heir_ready;    /* read end of its readiness pipe, -1 once closed */
    uint64_t heir_deadline;
} master;

static void close_fd(int *fd)
{
    if (*fd >= 0 && close(*fd) < 0 && errno != EINTR)
        bn_warn("master: close(%d): %s", *fd, strerror(errno));
    *fd = -1;
}

static int set_cloexec(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0)
        return -1;
    int want = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
    return want == flags ? 0 : fcntl(fd, F_SETFD, want);
}

/* Parses a whole string as a non-negative fd number; -1 if it is not one. */
static int parse_fd(const char *s, const char **end)
{
    long v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9' && v <= INT_MAX) {
        v = v * 10 + (*p - '0');
        p++;
    }
    if (p == s || v > INT_MAX)
        return -1;
    if (end)
        *end = p;
    else if (*p)
        return -1;
    return (int)v;
}

/* ------------------------------------------------------------------------ */
/* Inherited sockets and readiness (the new-master and worker side).         */

static bool is_listening_socket(int fd)
{
    int on = 0;
    socklen_t len = sizeof on;
    if (fcntl(fd, F_GETFD) < 0)
        return false;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

size_t bn_master_inherited_fds(int *fds, size_t max)
{
    const char *s = getenv(LISTEN_ENV);
    size_t n = 0;
    while (s && *s) {
        const char *end;
        int fd = parse_fd(s, &end);
        if (fd < 0 || (*end && *end != ',')) {
            bn_warn("%s: malformed at \"%s\"", LISTEN_ENV, s);
            break;
        }
        if (!is_listening_socket(fd))
            bn_warn("%s: fd %d is not a listening socket; ignored", LISTEN_ENV, fd);
        else if (n == max)
            bn_warn("%s: more than %zu fds; fd %d ignored", LISTEN_ENV, max, fd);
        else if (set_cloexec(fd, true) < 0)
            bn_warn("%s: fd %d: fcntl: %s", LISTEN_ENV, fd, strerror(errno));
        else
            fds[n++] = fd;
        s = *end ? end + 1 : end;
    }
    if (unsetenv(LISTEN_ENV) < 0)
        bn_warn("unsetenv(%s): %s", LISTEN_ENV, strerror(errno));
    return n;
}

void bn_worker_ready(void)
{
    static atomic_flag done = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&done))
        return;
    const char *s = getenv(READY_ENV);
    if (!s)
        return;
    int fd = parse_fd(s, NULL);
    if (unsetenv(READY_ENV) < 0)
        bn_warn("unsetenv(%s): %s", READY_ENV, strerror(errno));
    if (fd < 0) {
        bn_warn("%s: not an fd: \"%s\"", READY_ENV, s);
        return;
    }
    ssize_t n;
    do
        n = write(fd, "R", 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        bn_warn("bn_worker_ready: write(%d): %s", fd, n < 0 ? strerror(errno) : "short write");
    close_fd(&fd);
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                      */

/*
 * Makes argv0 absolute against the current directory without resolving
 * symlinks, so a deploy that flips a "current -> release-N" link is honoured.
 * A bare name (found through PATH) falls back to /proc/self/exe.
 */
static int resolve_exe(const char *argv0, char *out, size_t cap)
{
    if (argv0[0] == '/') {
        if (strlen(argv0) >= cap)
            return -ENAMETOOLONG;
        strcpy(out, argv0);
        return 0;
    }
    if (strchr(argv0, '/')) {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return -errno;
        int n = snprintf(out, cap, "%s/%s", cwd, argv0);
        return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
    }
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n < 0)
        return -errno;
    out[n] = '\0';
    return 0;
}

/* Takes BENNU_READY_FD away from this master so its own upgrades never pass it on. */
static int take_upstream(void)
{
    const char *s = getenv(READY_ENV);
    if (!s)
        return -1;
    int fd = parse_fd(s, NULL);
    if (unsetenv(READY_ENV) < 0)
        bn_warn("unsetenv(%s): %s", READY_ENV, strerror(errno));
    if (fd < 0 || set_cloexec(fd, true) < 0) {
        bn_warn("%s=\"%s\" is unusable; the old master will not hear from us", READY_ENV, s);
        return -1;
    }
    return fd;
}

static int setup_signals(master *m)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGPIPE); /* a write to a vanished old master must not kill us */
    /* SIGCHLD must not be SIG_IGN, or children would be reaped behind our back. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    if (sigaction(SIGCHLD, &dfl, &m->old_chld) < 0)
        return -errno;
    if (sigprocmask(SIG_BLOCK, &set, &m->old_mask) < 0)
        return -errno;
    m->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return m->sfd < 0 ? -errno : 0;
}

static void restore_signals(master *m)
{
    if (sigprocmask(SIG_SETMASK, &m->old_mask, NULL) < 0)
        bn_warn("master: sigprocmask: %s", strerror(errno));
    if (sigaction(SIGCHLD, &m->old_chld, NULL) < 0)
        bn_warn("master: sigaction: %s", strerror(errno));
}

/* In a child: an empty mask, and the caller's own SIGCHLD disposition back. */
static void child_signals(master *m)
{
    sigset_t none;
    sigemptyset(&none);
    if (sigaction(SIGCHLD, &m->old_chld, NULL) < 0 || sigprocmask(SIG_SETMASK, &none, NULL) < 0) {
        bn_error("master child: resetting signals: %s", strerror(errno));
        _exit(127);
    }
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                    */

static _Noreturn void run_worker(master *m, int ready_r, int ready_w)
{
    /* An orphaned worker would hold the sockets with nobody supervising it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        bn_warn("worker: prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
    if (getppid() != m->self)
        _exit(1); /* the master died before prctl took effect */
    close_fd(&m->sfd);
    close_fd(&ready_r);
    close_fd(&m->heir_ready);
    close_fd(&m->upstream);
    if (ready_w >= 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", ready_w);
        if (setenv(READY_ENV, buf, 1) < 0)
            bn_warn("worker: setenv: %s", strerror(errno));
    }
    child_signals(m);
    int rc = m->o->worker(m->o->arg, m->o->listen_fds, m->o->nfds);
    _exit(rc);
}

static void spawn_worker(master *m)
{
    int p[2] = {-1, -1};
    m->respawn_at = 0;
    /* Non-blocking: poll() may report a stale event for a recycled fd number. */
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        bn_warn("master: pipe2: %s (worker readiness will not be reported)", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        bn_error("master: fork: %s; retrying in %d ms", strerror(errno), BACKOFF_MAX_MS);
        close_fd(&p[0]);
        close_fd(&p[1]);
        m->respawn_at = bn_clock_ms() + BACKOFF_MAX_MS;
        return;
    }
    if (pid == 0)
        run_worker(m, p[0], p[1]);
    close_fd(&p[1]);
    m->worker = pid;
    m->worker_born = bn_clock_ms();
    m->worker_ready = p[0];
    bn_info("master %d: started worker %d", (int)m->self, (int)pid);
}

/* The worker said it accepts connections: pass the news on to an old master. */
static void on_worker_ready(master *m)
{
    char c;
    ssize_t n;
    do
        n = read(m->worker_ready, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n == 1)
        bn_info("master %d: worker %d is ready", (int)m->self, (int)m->worker);
    close_fd(&m->worker_ready);
    if (n != 1 || m->upstream < 0)
        return;
    do
        n = write(m->upstream, "R", 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        bn_error("master %d: telling the old master we are ready: %s", (int)m->self,
                 n < 0 ? strerror(errno) : "short write");
    close_fd(&m->upstream);
}

static int status_code(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void log_death(master *m, pid_t pid, int st)
{
    if (WIFSIGNALED(st))
        bn_error("master %d: worker %d killed by signal %d (%s)%s", (int)m->self, (int)pid, WTERMSIG(st),
                 strsignal(WTERMSIG(st)), WCOREDUMP(st) ? ", core dumped" : "");
    else if (WEXITSTATUS(st) != 0)
        bn_error("master %d: worker %d exited with status %d", (int)m->self, (int)pid, WEXITSTATUS(st));
    else
        bn_warn("master %d: worker %d exited on its own", (int)m->self, (int)pid);
}

static void worker_died(master *m, int st)
{
    pid_t pid = m->worker;
    m->worker = 0;
    close_fd(&m->worker_ready);
    if (m->stopping) {
        m->status = status_code(st);
        bn_info("master %d: worker %d finished (status %d)", (int)m->self, (int)pid, m->status);
        return;
    }
    log_death(m, pid, st);
    uint64_t now = bn_clock_ms();
    m->quick_deaths = now - m->worker_born < QUICK_DEATH_MS ? m->quick_deaths + 1 : 0;
    if (m->quick_deaths <= 1) {
        spawn_worker(m); /* a one-off death: replace it at once */
        return;
    }
    /* Dying young again and again: keep restarting, but not in a tight loop. */
    unsigned shift = BN_MIN(m->quick_deaths - 2, 5u);
    unsigned delay = BN_MIN((unsigned)BACKOFF_MIN_MS << shift, (unsigned)BACKOFF_MAX_MS);
    m->respawn_at = now + delay;
    bn_error("master %d: %u workers in a row died within %d ms of starting; crash loop backoff: next start in %u ms",
             (int)m->self, m->quick_deaths, QUICK_DEATH_MS, delay);
}

/* ------------------------------------------------------------------------ */
/* Upgrade                                                                    */

static void heir_gone(master *m)
{
    close_fd(&m->heir_ready);
    m->heir = 0;
    m->heir_deadline = 0;
}

/* `heir_alive`: not reaped yet, so its pid is still ours to kill. */
static void upgrade_failed(master *m, const char *why, bool heir_alive)
{
    bn_error("master %d: upgrade failed: %s; keeping the current worker", (int)m->self, why);
    if (heir_alive && m->heir > 0 && kill(m->heir, SIGKILL) < 0 && errno != ESRCH)
        bn_warn("master: kill(%d): %s", (int)m->heir, strerror(errno));
    heir_gone(m); /* reaped later as an unknown child */
}

static void heir_died(master *m, int st)
{
    char why[128];
    if (WIFSIGNALED(st))
        snprintf(why, sizeof why, "the new master %d was killed by signal %d (%s) before its worker was ready",
                 (int)m->heir, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(why, sizeof why, "the new master %d exited with status %d before its worker was ready",
                 (int)m->heir, WEXITSTATUS(st));
    upgrade_failed(m, why, false);
}

static _Noreturn void exec_heir(master *m, int ready_r, int ready_w)
{
    char buf[16];
    bn_buf fds = BN_BUF_INIT;
    for (size_t i = 0; i < m->o->nfds; i++) {
        if (set_cloexec(m->o->listen_fds[i], false) < 0)
            goto fail;
        bn_buf_printf(&fds, "%s%d", i ? "," : "", m->o->listen_fds[i]);
    }
    bn_buf_append(&fds, "", 1);
    snprintf(buf, sizeof buf, "%d", ready_w);
    close_fd(&ready_r);
    if (set_cloexec(ready_w, false) < 0 || setenv(LISTEN_ENV, fds.data, 1) < 0 || setenv(READY_ENV, buf, 1) < 0)
        goto fail;
    child_signals(m);
    execv(m->exe, m->o->argv);
fail:
    bn_error("master %d: upgrade: cannot start %s: %s", (int)m->self, m->exe, strerror(errno));
    _exit(127);
}

static void begin_upgrade(master *m)
{
    if (m->stopping)
        return;
    if (!m->exe[0]) {
        bn_warn("master %d: SIGUSR2 ignored: no argv to re-execute", (int)m->self);
        return;
    }
    if (m->heir) {
        bn_warn("master %d: SIGUSR2 ignored: upgrade to %d already under way", (int)m->self, (int)m->heir);
        return;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        bn_error("master %d: upgrade: pipe2: %s", (int)m->self, strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        bn_error("master %d: upgrade: fork: %s", (int)m->self, strerror(errno));
        close_fd(&p[0]);
        close_fd(&p[1]);
        return;
    }
    if (pid == 0)
        exec_heir(m, p[0], p[1]);
    close_fd(&p[1]);
    m->heir = pid;
    m->heir_ready = p[0];
    m->heir_deadline = bn_clock_ms() + UPGRADE_TIMEOUT_MS;
    bn_info("master %d: upgrading: started %s as %d", (int)m->self, m->exe, (int)pid);
}

static void begin_stop(master *m, const char *why);

static void on_heir_ready(master *m)
{
    char c;
    ssize_t n;
    do
        n = read(m->heir_ready, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n != 1) {
        /* Usually it is exiting: give it a moment so the log can say how it died. */
        if (n < 0)
            bn_warn("master %d: upgrade: read: %s", (int)m->self, strerror(errno));
        close_fd(&m->heir_ready);
        m->heir_deadline = BN_MIN(m->heir_deadline, bn_clock_ms() + HEIR_EXIT_GRACE_MS);
        return;
    }
    bn_info("master %d: new master %d is ready; handing over and draining worker %d", (int)m->self, (int)m->heir,
            (int)m->worker);
    heir_gone(m); /* it lives on without us */
    begin_stop(m, "handed over");
    m->handed_over = true;
}

/* ------------------------------------------------------------------------ */
/* Stopping and the main loop                                                 */

static void begin_stop(master *m, const char *why)
{
    if (m->heir) {
        /* Told to stop mid-upgrade: the new copy must not outlive us. */
        if (kill(m->heir, SIGTERM) < 0 && errno != ESRCH)
            bn_warn("master: kill(%d): %s", (int)m->heir, strerror(errno));
        heir_gone(m);
    }
    if (!m->stopping) {
        unsigned drain = m->o->drain_timeout_ms ? m->o->drain_timeout_ms : DRAIN_DEFAULT_MS;
        m->stopping = true;
        m->respawn_at = 0;
        m->kill_at = bn_clock_ms() + drain + DRAIN_MARGIN_MS;
    }
    if (!m->worker)
        return;
    bn_info("master %d: %s: asking worker %d to drain", (int)m->self, why, (int)m->worker);
    if (kill(m->worker, SIGTERM) < 0 && errno != ESRCH)
        bn_warn("master: kill(%d): %s", (int)m->worker, strerror(errno));
}

static void reap(master *m)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0 && errno != ECHILD)
            bn_warn("master: waitpid: %s", strerror(errno));
        if (pid <= 0)
            return;
        if (pid == m->worker)
            worker_died(m, st);
        else if (pid == m->heir)
            heir_died(m, st);
        /* anything else: a killed heir or a grandchild; reaping it is all */
    }
}

static void on_signals(master *m)
{
    bool chld = false, stop = false, upgrade = false;
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t n = read(m->sfd, &si, sizeof si);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof si) {
            if (n < 0 && errno != EAGAIN)
                bn_warn("master: read(signalfd): %s", strerror(errno));
            break;
        }
        chld |= si.ssi_signo == SIGCHLD;
        stop |= si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT;
        upgrade |= si.ssi_signo == SIGUSR2;
    }
    /* Stop first, so a worker exiting because of the same SIGTERM is not restarted. */
    if (stop)
        begin_stop(m, "stop signal");
    if (chld)
        reap(m);
    if (upgrade)
        begin_upgrade(m);
}

static uint64_t nearest(uint64_t a, uint64_t b)
{
    return !a ? b : !b ? a : BN_MIN(a, b);
}

static void on_timers(master *m)
{
    uint64_t now = bn_clock_ms();
    if (m->respawn_at && now >= m->respawn_at && !m->stopping)
        spawn_worker(m);
    if (m->kill_at && now >= m->kill_at && m->worker) {
        bn_error("master %d: worker %d still draining after %u ms; killing it", (int)m->self, (int)m->worker,
                 m->o->drain_timeout_ms ? m->o->drain_timeout_ms : DRAIN_DEFAULT_MS);
        if (kill(m->worker, SIGKILL) < 0 && errno != ESRCH)
            bn_warn("master: kill(%d): %s", (int)m->worker, strerror(errno));
        m->kill_at = 0;
    }
    if (m->heir_deadline && now >= m->heir_deadline)
        upgrade_failed(m, m->heir_ready < 0 ? "the new master closed its readiness pipe without reporting ready"
                                            : "the new master did not report ready within 30 s",
                       true);
}

static int loop(master *m)
{
    while (!(m->stopping && !m->worker)) {
        struct pollfd p[3] = {{m->sfd, POLLIN, 0}, {m->worker_ready, POLLIN, 0}, {m->heir_ready, POLLIN, 0}};
        uint64_t due = nearest(nearest(m->respawn_at, m->kill_at), m->heir_deadline);
        int timeout = -1;
        if (due) {
            uint64_t now = bn_clock_ms();
            timeout = due <= now ? 0 : (int)BN_MIN(due - now, (uint64_t)INT_MAX);
        }
        int n = poll(p, 3, timeout); /* negative fds are skipped */
        if (n < 0 && errno != EINTR) {
            bn_error("master: poll: %s", strerror(errno));
            return -1;
        }
        if (n > 0 && p[0].revents)
            on_signals(m);
        if (n > 0 && p[1].revents && m->worker_ready == p[1].fd)
            on_worker_ready(m);
        if (n > 0 && p[2].revents && m->heir_ready == p[2].fd)
            on_heir_ready(m);
        on_timers(m);
    }
    return m->handed_over ? 0 : m->status;
}

/* Signals that arrived after the loop ended must not fire once unblocked. */
static void drain_signalfd(master *m)
{
    struct signalfd_siginfo si;
    while (read(m->sfd, &si, sizeof si) == (ssize_t)sizeof si)
        ;
}

int bn_master_run(const bn_master_opts *opts)
{
    static master m; /* static: ~4 KiB of path; one master per process */
    m = (master){.o = opts, .self = getpid(), .sfd = -1, .worker_ready = -1, .upstream = -1, .heir_ready = -1};
    if (!opts->worker) {
        bn_error("bn_master_run: no worker function");
        return 1;
    }
    if (opts->argv && opts->argv[0]) {
        int rc = resolve_exe(opts->argv[0], m.exe, sizeof m.exe);
        if (rc < 0) {
            bn_warn("master: cannot resolve %s (%s); upgrades disabled", opts->argv[0], strerror(-rc));
            m.exe[0] = '\0';
        }
    }
    for (size_t i = 0; i < opts->nfds; i++)
        if (set_cloexec(opts->listen_fds[i], true) < 0)
            bn_warn("master: fd %d: fcntl: %s", opts->listen_fds[i], strerror(errno));
    m.upstream = take_upstream();
    int rc = setup_signals(&m);
    if (rc < 0) {
        bn_error("master: setting up signals: %s", strerror(-rc));
        restore_signals(&m);
        close_fd(&m.upstream);
        return 1;
    }
    spawn_worker(&m);
    rc = loop(&m);
    if (rc < 0) {
        /* poll itself broke: take the worker down rather than orphan it */
        if (m.worker && kill(m.worker, SIGKILL) == 0)
            while (waitpid(m.worker, NULL, 0) < 0 && errno == EINTR)
                ;
        rc = 1;
    }
    drain_signalfd(&m);
    close_fd(&m.sfd);
    close_fd(&m.worker_ready);
    close_fd(&m.upstream);
    close_fd(&m.heir_ready);
    restore_signals(&m);
    bn_info("master %d: exiting with status %d", (int)m.self, rc);
    return rc;
}
