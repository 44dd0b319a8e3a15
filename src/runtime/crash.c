/*
 * crash.c — fatal-signal handlers: print what happened and a backtrace with
 * write(2) only, name a task stack overflow, then die by the same signal.
 */
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bennu/runtime.h"
#include "runtime/crash.h"
#include "runtime/task.h"

enum { ALTSTACK_SIZE = 64 * 1024, MAX_FRAMES = 64 };

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

/* What was installed before us (e.g. ASan's handler), chained to after our report. */
static struct sigaction previous[BN_ARRAY_LEN(fatal_signals)];
static atomic_int crashing_tid;

/* ------------------------------------------------------------------------ */
/* Alternate signal stacks                                                   */

static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;

static void altstack_free(void *mem)
{
    stack_t off = {.ss_flags = SS_DISABLE};
    if (sigaltstack(&off, NULL) == 0)
        free(mem); /* only once the kernel no longer points at it */
}

static void altstack_key_create(void)
{
    int rc = pthread_key_create(&altstack_key, altstack_free);
    if (rc)
        bn_fatal("pthread_key_create: %s", strerror(rc));
}

void bn__crash_altstack_init(void)
{
    stack_t cur;
    if (sigaltstack(NULL, &cur) < 0) {
        bn_warn("sigaltstack: %s", strerror(errno));
        return;
    }
    if (!(cur.ss_flags & SS_DISABLE))
        return; /* someone (ours, or ASan's) already gave this thread one: keep it */
    pthread_once(&altstack_once, altstack_key_create);
    stack_t st = {.ss_sp = bn_xmalloc(ALTSTACK_SIZE), .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&st, NULL) < 0) {
        bn_warn("sigaltstack: %s", strerror(errno));
        free(st.ss_sp);
        return;
    }
    int rc = pthread_setspecific(altstack_key, st.ss_sp);
    if (rc)
        bn_warn("pthread_setspecific: %s", strerror(rc)); /* the stack just stays for the thread's life */
}

/* ------------------------------------------------------------------------ */
/* Async-signal-safe formatting: a fixed buffer and write(2).                */

typedef struct out {
    char buf[256];
    size_t len;
} out;

static void put_str(out *o, const char *s)
{
    while (*s && o->len < sizeof o->buf)
        o->buf[o->len++] = *s++;
}

static void put_num(out *o, uintptr_t v, unsigned base)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (base == 16)
        put_str(o, "0x");
    while (n && o->len < sizeof o->buf)
        o->buf[o->len++] = tmp[--n];
}

static void flush(out *o)
{
    size_t off = 0;
    while (off < o->len) {
        ssize_t n = write(STDERR_FILENO, o->buf + off, o->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    o->len = 0;
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    default: return "?";
    }
}

/* ------------------------------------------------------------------------ */
/* The handler                                                                */

static void report(int sig, const siginfo_t *si)
{
    out o = {.len = 0};
    /* si_addr only means something for a kernel-detected fault (si_code > 0). */
    const void *addr = si->si_code > 0 ? si->si_addr : NULL;
    size_t stack_size = 0;
    if ((sig == SIGSEGV || sig == SIGBUS) && addr && bn__task_guard_hit(addr, &stack_size)) {
        put_str(&o, "bennu: task stack overflow (guard page hit at ");
        put_num(&o, (uintptr_t)addr, 16);
        put_str(&o, ", stack size ");
        put_num(&o, stack_size, 10);
        put_str(&o, " bytes)\n");
    } else {
        put_str(&o, "bennu: worker ");
        put_num(&o, (uintptr_t)getpid(), 10);
        put_str(&o, " caught signal ");
        put_num(&o, (uintptr_t)sig, 10);
        put_str(&o, " (");
        put_str(&o, signal_name(sig));
        put_str(&o, ") at address ");
        put_num(&o, (uintptr_t)addr, 16);
        put_str(&o, "\n");
    }
    flush(&o);
    void *frames[MAX_FRAMES];
    int n = backtrace(frames, MAX_FRAMES);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
}

static const struct sigaction *previous_for(int sig)
{
    for (size_t i = 0; i < BN_ARRAY_LEN(fatal_signals); i++)
        if (fatal_signals[i] == sig)
            return &previous[i];
    return NULL;
}

/* Dies by `sig` with the default action, so the master sees the real cause. */
static void die_by(int sig)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    /* Pending while blocked in this handler, delivered (fatally) on unblock. */
    raise(sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    /* Still alive only if the signal was somehow ignored: returning re-runs a
     * faulting instruction, which now kills us with the default action. */
}

static void crash_handler(int sig, siginfo_t *si, void *uctx)
{
    int tid = (int)syscall(SYS_gettid);
    int expected = 0;
    if (!atomic_compare_exchange_strong(&crashing_tid, &expected, tid) && expected != tid) {
        /* Another thread is already reporting and will take the process down. */
        for (;;)
            pause();
    }
    if (expected == 0) /* first entry; a nested crash in this thread skips the report */
        report(sig, si);
    const struct sigaction *prev = previous_for(sig);
    if (expected == 0 && prev && (prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
        prev->sa_sigaction(sig, si, uctx); /* e.g. ASan: let it print its own report */
    } else if (expected == 0 && prev && !(prev->sa_flags & SA_SIGINFO) && prev->sa_handler != SIG_DFL &&
               prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
    }
    die_by(sig);
}

void bn_crash_handlers_install(void)
{
    static atomic_flag installed = ATOMIC_FLAG_INIT;
    bn__crash_altstack_init();
    if (atomic_flag_test_and_set(&installed))
        return;
    /* The first backtrace() dlopens libgcc_s; do it now, not inside a crash. */
    void *warm[2];
    (void)backtrace(warm, 2);

    struct sigaction sa = {.sa_sigaction = crash_handler, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    sigemptyset(&sa.sa_mask);
    /* A second fatal signal while reporting then kills us at once (the kernel
     * forces a blocked synchronous fault) instead of recursing. */
    for (size_t i = 0; i < BN_ARRAY_LEN(fatal_signals); i++)
        sigaddset(&sa.sa_mask, fatal_signals[i]);
    for (size_t i = 0; i < BN_ARRAY_LEN(fatal_signals); i++) {
        if (sigaction(fatal_signals[i], &sa, &previous[i]) < 0) {
            bn_warn("sigaction(%s): %s", signal_name(fatal_signals[i]), strerror(errno));
            continue;
        }
        if ((previous[i].sa_flags & SA_SIGINFO) && previous[i].sa_sigaction == crash_handler)
            previous[i] = (struct sigaction){.sa_handler = SIG_DFL}; /* never chain to ourselves */
    }
}
