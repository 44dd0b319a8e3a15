/*
 * The HTTP server: configuration, listening sockets (one SO_REUSEPORT socket
 * per loop thread), the worker's loop threads, and the graceful drain.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "http/http_internal.h"
#include "runtime/crash.h"

#define MAX_LISTENERS 256

typedef struct bn_http_worker {
    const bn_server_config *cfg;
    bn_http_thread *threads;
    unsigned nthreads;
    const int *fds;
    size_t nfds;
    bn_io signal_io;
    bn_timer drain_deadline;
    pthread_barrier_t ready; /* every loop set up before the worker reports ready */
} bn_http_worker;

/* ---- configuration --------------------------------------------------------- */

void bn_server_config_defaults(bn_server_config *cfg, char *const *argv)
{
    bn_log_init_from_env();
    memset(cfg, 0, sizeof(*cfg));
    cfg->bind = getenv("BENNU_BIND") ? getenv("BENNU_BIND") : "127.0.0.1";
    long port = bn_env_long("PORT", 4000);
    cfg->port = port >= 0 && port <= 65535 ? (unsigned)port : 4000;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long threads = bn_env_long("BENNU_THREADS", cores > 0 ? cores : 1);
    cfg->threads = threads >= 1 && threads <= MAX_LISTENERS ? (unsigned)threads : 1;
    const char *master = getenv("BENNU_MASTER");
    cfg->master = !(master && strcmp(master, "0") == 0);
    cfg->drain_timeout_ms = (unsigned)bn_env_long("BENNU_DRAIN_TIMEOUT_MS", 10000);
    cfg->argv = argv;

    bn_http_limits *l = &cfg->limits;
    l->max_request_line = bn_env_size("BENNU_MAX_REQUEST_LINE", 8 * 1024);
    l->max_header_bytes = bn_env_size("BENNU_MAX_HEADER_BYTES", 32 * 1024);
    l->max_headers = (size_t)bn_env_long("BENNU_MAX_HEADERS", 100);
    l->max_body = bn_env_size("BENNU_MAX_BODY", 8 * 1000 * 1000);
    l->max_streamed_body = bn_env_size("BENNU_MAX_STREAMED_BODY", (size_t)1 << 30);
    l->header_timeout_ms = (unsigned)bn_env_long("BENNU_HEADER_TIMEOUT_MS", 10000);
    l->body_timeout_ms = (unsigned)bn_env_long("BENNU_BODY_TIMEOUT_MS", 30000);
    l->keepalive_timeout_ms = (unsigned)bn_env_long("BENNU_KEEPALIVE_TIMEOUT_MS", 60000);
    l->write_timeout_ms = (unsigned)bn_env_long("BENNU_WRITE_TIMEOUT_MS", 30000);
}

/* ---- listening sockets ---------------------------------------------------- */

/* Binds `n` SO_REUSEPORT sockets to the same address; port 0 takes the port
 * the kernel gives the first one. Returns the count bound, or -1. */
static int bind_listeners(const bn_server_config *cfg, int *fds, unsigned n, unsigned *port_out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai;
    char portstr[8];
    unsigned port = cfg->port;
    for (unsigned i = 0; i < n; i++) {
        snprintf(portstr, sizeof portstr, "%u", port);
        int err = getaddrinfo(cfg->bind, portstr, &hints, &ai);
        if (err) {
            bn_error("cannot resolve bind address %s: %s", cfg->bind, gai_strerror(err));
            return -1;
        }
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1, zero = 0;
        if (fd >= 0) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
            if (ai->ai_family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        }
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
            bn_error("cannot listen on %s:%u: %s", cfg->bind, port, strerror(errno));
            freeaddrinfo(ai);
            if (fd >= 0)
                close(fd);
            return -1;
        }
        freeaddrinfo(ai);
        if (port == 0) {
            struct sockaddr_storage ss;
            socklen_t len = sizeof ss;
            getsockname(fd, (struct sockaddr *)&ss, &len);
            port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
        }
        fds[i] = fd;
    }
    *port_out = port;
    return (int)n;
}

static unsigned socket_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- accepting ------------------------------------------------------------ */

static void accept_ready(bn_io *io, unsigned events);

static void accept_retry(bn_timer *t)
{
    bn_http_thread *thr = bn_container_of(t, bn_http_thread, accept_retry);
    for (size_t i = 0; i < thr->nlisteners; i++)
        accept_ready(&thr->listeners[i].io, BN_IO_READ);
}

static void accept_ready(bn_io *io, unsigned events)
{
    (void)events;
    bn_listener *l = (bn_listener *)io;
    bn_http_thread *thr = l->thr;
    if (!thr->accepting)
        return;
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            bn__http_accept(thr, fd, &peer, len);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN)
            return;
        /* Out of fds or memory: the backlog keeps the clients waiting; retry
         * soon (edge-triggered, so no new event would tell us). */
        if (!bn_timer_active(&thr->accept_retry)) {
            bn_warn("accept: %s; pausing accepts for 100 ms", strerror(errno));
            bn_timer_start(thr->loop, &thr->accept_retry, 100);
        }
        return;
    }
}

/* ---- drain ---------------------------------------------------------------- */

static void thread_drained_check(bn_http_thread *thr)
{
    if (thr->draining && thr->nconns == 0)
        bn_loop_stop(thr->loop);
}

void bn__http_conn_gone(bn_http_thread *thr) { thread_drained_check(thr); }

static void drain_thread(bn_msg *m)
{
    bn_http_thread *thr = bn_container_of(m, bn_http_thread, drain_msg);
    if (thr->draining)
        return;
    thr->draining = true;
    thr->accepting = false;
    for (size_t i = 0; i < thr->nlisteners; i++)
        bn_io_stop(thr->loop, &thr->listeners[i].io);
    bn__http_drain_conns(thr);
    thread_drained_check(thr);
}

static void drain_deadline(bn_timer *t)
{
    bn_http_worker *w = bn_container_of(t, bn_http_worker, drain_deadline);
    size_t left = 0;
    for (unsigned i = 0; i < w->nthreads; i++)
        left += w->threads[i].nconns; /* racy read, only for the log line */
    bn_warn("drain deadline of %u ms reached; closing %zu connection(s)", w->cfg->drain_timeout_ms, left);
    fflush(NULL);
    _exit(0);
}

static void on_signal(bn_io *io, unsigned events)
{
    (void)events;
    bn_http_worker *w = bn_container_of(io, bn_http_worker, signal_io);
    struct signalfd_siginfo si;
    bool drain = false;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si)
        drain |= si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT;
    if (!drain || bn_timer_active(&w->drain_deadline))
        return;
    bn_info("draining: no new connections, finishing requests in flight (deadline %u ms)", w->cfg->drain_timeout_ms);
    bn_timer_start(w->threads[0].loop, &w->drain_deadline, w->cfg->drain_timeout_ms);
    for (unsigned i = 0; i < w->nthreads; i++)
        bn_loop_post(w->threads[i].loop, &w->threads[i].drain_msg);
}

/* ---- threads -------------------------------------------------------------- */

static void thread_setup(bn_http_thread *thr)
{
    bn_http_worker *w = thr->worker;
    const bn_server_config *cfg = w->cfg;
    unsigned idx = (unsigned)(thr - w->threads);
    bn__crash_altstack_init();
    thr->loop = bn_loop_new();
    thr->cfg = cfg;
    thr->parse_limits = (bn_http_parse_limits){cfg->limits.max_request_line, cfg->limits.max_header_bytes,
                                               cfg->limits.max_headers};
    thr->scratch = bn_xmalloc(BN_HTTP_SCRATCH_SIZE);
    thr->parse_headers = bn_xmalloc(BN_MAX(cfg->limits.max_headers, (size_t)1) * sizeof(bn_header));
    bn_list_init(&thr->conns);
    bn_timer_init(&thr->accept_retry, accept_retry);
    thr->drain_msg.run = drain_thread;
    /* Thread i serves sockets i, i+n, ...: every socket of the reuseport
     * group must be accepted from, or connections hashed to it would wait. */
    bn_listener *ls = bn_xcalloc(w->nfds / w->nthreads + 1, sizeof(*ls));
    size_t k = 0;
    for (size_t j = idx; j < w->nfds; j += w->nthreads) {
        ls[k].thr = thr;
        if (bn_io_start(thr->loop, &ls[k].io, w->fds[j], BN_IO_READ, accept_ready) < 0)
            bn_fatal("cannot watch listening socket %d: %s", w->fds[j], strerror(errno));
        k++;
    }
    thr->listeners = ls;
    thr->nlisteners = k;
    thr->accepting = true;
}

static void thread_teardown(bn_http_thread *thr)
{
    free(thr->listeners);
    free(thr->scratch);
    free(thr->parse_headers);
    bn__out_cache_free(thr);
    bn_loop_free(thr->loop);
}

static void *thread_main(void *arg)
{
    bn_http_thread *thr = arg;
    thread_setup(thr);
    pthread_barrier_wait(&thr->worker->ready);
    bn_loop_run(thr->loop);
    thread_teardown(thr);
    return NULL;
}

/* Waits for the other loop threads, up to the drain deadline. */
static void join_threads(bn_http_worker *w)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += w->cfg->drain_timeout_ms / 1000 + 1;
    for (unsigned i = 1; i < w->nthreads; i++) {
        if (pthread_timedjoin_np(w->threads[i].thread, NULL, &deadline) != 0) {
            bn_warn("drain deadline reached with loop thread %u still busy; exiting", i);
            fflush(NULL);
            _exit(0);
        }
    }
}

static int worker_main(void *arg, const int *fds, size_t nfds)
{
    bn_http_worker *w = arg;
    const bn_server_config *cfg = w->cfg;
    w->fds = fds;
    w->nfds = nfds;
    w->nthreads = cfg->threads;
    w->threads = bn_xcalloc(w->nthreads, sizeof(bn_http_thread));

    /* Signals go to a signalfd on the first loop; the other threads inherit
     * the blocked mask, so the kernel never interrupts them with these. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    bn_crash_handlers_install();
    if (cfg->on_worker_start)
        cfg->on_worker_start();
    bn__http_worker_started();

    pthread_barrier_init(&w->ready, NULL, w->nthreads);
    for (unsigned i = 0; i < w->nthreads; i++)
        w->threads[i].worker = w;
    for (unsigned i = 1; i < w->nthreads; i++)
        if (pthread_create(&w->threads[i].thread, NULL, thread_main, &w->threads[i]) != 0)
            bn_fatal("cannot start loop thread %u: %s", i, strerror(errno));
    bn_http_thread *main_thr = &w->threads[0];
    thread_setup(main_thr);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0 || bn_io_start(main_thr->loop, &w->signal_io, sfd, BN_IO_READ, on_signal) < 0)
        bn_fatal("cannot watch signals: %s", strerror(errno));
    bn_timer_init(&w->drain_deadline, drain_deadline);
    pthread_barrier_wait(&w->ready);

    bn_info("worker %d serving with %u loop thread(s)", (int)getpid(), w->nthreads);
    bn_worker_ready();
    bn_loop_run(main_thr->loop);
    join_threads(w);
    bn_info("worker %d drained, exiting", (int)getpid());
    bn_io_stop(main_thr->loop, &w->signal_io);
    close(sfd);
    thread_teardown(main_thr);
    pthread_barrier_destroy(&w->ready);
    free(w->threads);
    return 0;
}

/* Every connection is a file: take all the process may have (the soft limit is often 1024). */
static void raise_open_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            bn_warn("cannot raise the open-file limit: %s", strerror(errno));
    }
}

int bn_server_run(const bn_server_config *cfg)
{
    if (!cfg->handler) {
        bn_error("bn_server_run: no handler configured");
        return 2;
    }
    raise_open_file_limit();
    int fds[MAX_LISTENERS];
    unsigned port = 0;
    int n = (int)bn_master_inherited_fds(fds, MAX_LISTENERS);
    if (n > 0) {
        port = socket_port(fds[0]);
        bn_info("took over %d listening socket(s) on port %u from the previous master", n, port);
    } else if ((n = bind_listeners(cfg, fds, cfg->threads, &port)) < 0) {
        return 1;
    }
    bn_info("listening on http://%s:%u", cfg->bind, port);

    bn_http_worker worker = {.cfg = cfg};
    int status;
    if (cfg->master) {
        bn_master_opts opts = {
            .listen_fds = fds,
            .nfds = (size_t)n,
            .worker = worker_main,
            .arg = &worker,
            .drain_timeout_ms = cfg->drain_timeout_ms + 1000,
            .argv = cfg->argv,
        };
        status = bn_master_run(&opts);
    } else {
        status = worker_main(&worker, fds, (size_t)n);
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return status;
}
