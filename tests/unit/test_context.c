/*
 * Unit tests for the machine context switch (runtime/context.h): entry and
 * argument, ping-pong, callee-saved and FP control state, nesting, the
 * initial frame (alignment, unwinding) and the abort when an entry returns.
 */
#include <criterion/criterion.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "runtime/context.h"
#include "runtime/stack.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#ifdef HAVE_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#define STACK_SIZE (64 * 1024)

typedef struct coro {
    bn_ctx ctx;
    bn_stack stack;
    const void *bottom; /* the stack's extent, for ASan */
    size_t size;
} coro;

static coro main_co; /* the test's own thread stack */

static void main_co_init(void)
{
    pthread_attr_t attr;
    void *addr;
    cr_assert_eq(pthread_getattr_np(pthread_self(), &attr), 0);
    cr_assert_eq(pthread_attr_getstack(&attr, &addr, &main_co.size), 0);
    main_co.bottom = addr;
    pthread_attr_destroy(&attr);
}

static void coro_make(coro *c, bn_ctx_entry *entry, void *arg)
{
    main_co_init();
    cr_assert_eq(bn__stack_alloc(&c->stack, STACK_SIZE), 0);
    c->bottom = c->stack.lo;
    c->size = c->stack.size;
    bn__ctx_make(&c->ctx, c->stack.lo, c->stack.size, entry, arg);
}

static void coro_free(coro *c) { bn__stack_free(&c->stack); }

/* ASan follows one stack per thread: tell it before leaving for `to`... */
static void *asan_leave(const coro *to)
{
#ifdef HAVE_ASAN
    void *fake_stack = NULL;
    __sanitizer_start_switch_fiber(&fake_stack, to->bottom, to->size);
    return fake_stack;
#else
    (void)to;
    return NULL;
#endif
}

/* ...and once back (or, in a new context's entry, on arrival with NULL). */
static void asan_arrived(void *fake_stack)
{
#ifdef HAVE_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, NULL, NULL);
#else
    (void)fake_stack;
#endif
}

static void sw(coro *from, coro *to)
{
    void *fake_stack = asan_leave(to);
    bn__ctx_switch(&from->ctx, &to->ctx);
    asan_arrived(fake_stack);
}

/* Entries must never return: after their last switch they just keep yielding. */
static _Noreturn void park(coro *self)
{
    for (;;)
        sw(self, &main_co);
}

/* ------------------------------------------------------------------------ */

struct arg_box {
    coro co;
    int magic;
    int seen;
    int runs;
};

static void arg_entry(void *arg)
{
    asan_arrived(NULL);
    struct arg_box *b = arg;
    b->seen = b->magic;
    b->runs++;
    park(&b->co);
}

Test(context, entry_receives_its_argument_once)
{
    struct arg_box b = {.magic = 0x5eed};
    coro_make(&b.co, arg_entry, &b);
    cr_assert_eq(b.runs, 0, "making a context must not run it");
    sw(&main_co, &b.co);
    cr_assert_eq(b.seen, 0x5eed);
    sw(&main_co, &b.co); /* resumes in park(), not at entry */
    cr_assert_eq(b.runs, 1);
    coro_free(&b.co);
}

/* ------------------------------------------------------------------------ */

struct pingpong {
    coro co;
    uint64_t in;
    uint64_t out;
    double dout;
};

static void pingpong_entry(void *arg)
{
    asan_arrived(NULL);
    struct pingpong *p = arg;
    /* Both accumulators live on this context's stack across every switch. */
    uint64_t acc = 7;
    double dacc = 0.25;
    for (;;) {
        acc = acc * 6364136223846793005u + p->in;
        dacc = dacc * 0.5 + (double)(p->in & 0xff);
        p->out = acc;
        p->dout = dacc;
        sw(&p->co, &main_co);
    }
}

Test(context, ping_pong_keeps_both_sides_state)
{
    struct pingpong p = {0};
    coro_make(&p.co, pingpong_entry, &p);
    volatile uint64_t guard_a = 0xa5a5a5a5deadbeefu;
    volatile double guard_d = 3.141592653589793;
    uint64_t acc = 7, local = 0;
    double dacc = 0.25, dlocal = 1.0;
    for (uint64_t i = 0; i < 200000; i++) {
        p.in = i * 2654435761u;
        sw(&main_co, &p.co);
        acc = acc * 6364136223846793005u + p.in;
        dacc = dacc * 0.5 + (double)(p.in & 0xff);
        local += i ^ acc;
        dlocal = dlocal * 0.999 + 1.0;
        if (p.out != acc || p.dout != dacc)
            cr_assert_fail("round %llu: context computed %llx/%g, expected %llx/%g", (unsigned long long)i,
                     (unsigned long long)p.out, p.dout, (unsigned long long)acc, dacc);
    }
    /* Redo the main side's computation without switches. */
    uint64_t acc2 = 7, local2 = 0;
    double dlocal2 = 1.0;
    for (uint64_t i = 0; i < 200000; i++) {
        acc2 = acc2 * 6364136223846793005u + i * 2654435761u;
        local2 += i ^ acc2;
        dlocal2 = dlocal2 * 0.999 + 1.0;
    }
    cr_assert_eq(local, local2);
    cr_assert_eq(dlocal, dlocal2);
    cr_assert_eq(guard_a, 0xa5a5a5a5deadbeefu);
    cr_assert_eq(guard_d, 3.141592653589793);
    coro_free(&p.co);
}

/* ------------------------------------------------------------------------ */
/* Callee-saved registers, checked directly: compiled C might keep nothing   */
/* in them at -O0, so two asm helpers do it. probe loads a known value into   */
/* each, switches, and returns a bit per register that came back different;  */
/* clobber_switch fills them with junk and switches.                          */

uint32_t test_ctx_probe(bn_ctx *from, bn_ctx *to);
void test_ctx_clobber_switch(bn_ctx *from, bn_ctx *to);

#if defined(__x86_64__)
__asm__(".text\n"
        ".p2align 4\n"
        ".globl test_ctx_probe\n"
        ".hidden test_ctx_probe\n"
        ".type test_ctx_probe, @function\n"
        "test_ctx_probe:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n"
        "  movabsq $0x0102030405060701, %rbx\n"
        "  movabsq $0x0102030405060702, %rbp\n"
        "  movabsq $0x0102030405060703, %r12\n"
        "  movabsq $0x0102030405060704, %r13\n"
        "  movabsq $0x0102030405060705, %r14\n"
        "  movabsq $0x0102030405060706, %r15\n"
        "  call bn__ctx_switch\n"
        "  xorl %eax, %eax\n"
        "  .macro tcp_check reg, val, mask\n"
        "  movabsq $\\val, %rcx\n"
        "  cmpq %rcx, \\reg\n"
        "  je 1f\n"
        "  orl $\\mask, %eax\n"
        "1:\n"
        "  .endm\n"
        "  tcp_check %rbx, 0x0102030405060701, 1\n"
        "  tcp_check %rbp, 0x0102030405060702, 2\n"
        "  tcp_check %r12, 0x0102030405060703, 4\n"
        "  tcp_check %r13, 0x0102030405060704, 8\n"
        "  tcp_check %r14, 0x0102030405060705, 16\n"
        "  tcp_check %r15, 0x0102030405060706, 32\n"
        "  .purgem tcp_check\n"
        "  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size test_ctx_probe, .-test_ctx_probe\n"
        "\n"
        ".p2align 4\n"
        ".globl test_ctx_clobber_switch\n"
        ".hidden test_ctx_clobber_switch\n"
        ".type test_ctx_clobber_switch, @function\n"
        "test_ctx_clobber_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n"
        "  movq $-1, %rbx\n  movq $-2, %rbp\n  movq $-3, %r12\n"
        "  movq $-4, %r13\n  movq $-5, %r14\n  movq $-6, %r15\n"
        "  call bn__ctx_switch\n"
        "  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size test_ctx_clobber_switch, .-test_ctx_clobber_switch\n");
#define PROBED_REGS 6
#elif defined(__aarch64__)
__asm__(".text\n"
        ".p2align 4\n"
        ".globl test_ctx_probe\n"
        ".hidden test_ctx_probe\n"
        ".type test_ctx_probe, %function\n"
        "test_ctx_probe:\n"
        "  stp x29, x30, [sp, #-160]!\n"
        "  stp x19, x20, [sp, #16]\n  stp x21, x22, [sp, #32]\n  stp x23, x24, [sp, #48]\n"
        "  stp x25, x26, [sp, #64]\n  stp x27, x28, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n"
        "  stp d12, d13, [sp, #128]\n  stp d14, d15, [sp, #144]\n"
        "  mov x19, #0x1901\n  mov x20, #0x1902\n  mov x21, #0x1903\n  mov x22, #0x1904\n"
        "  mov x23, #0x1905\n  mov x24, #0x1906\n  mov x25, #0x1907\n  mov x26, #0x1908\n"
        "  mov x27, #0x1909\n  mov x28, #0x190a\n  mov x29, #0x190b\n"
        "  mov x9, #0x1911\n  fmov d8, x9\n  mov x9, #0x1912\n  fmov d9, x9\n"
        "  mov x9, #0x1913\n  fmov d10, x9\n  mov x9, #0x1914\n  fmov d11, x9\n"
        "  mov x9, #0x1915\n  fmov d12, x9\n  mov x9, #0x1916\n  fmov d13, x9\n"
        "  mov x9, #0x1917\n  fmov d14, x9\n  mov x9, #0x1918\n  fmov d15, x9\n"
        "  bl bn__ctx_switch\n"
        "  mov w0, #0\n"
        "  .macro tcp_check reg, val, bitn\n"
        "  mov x9, #\\val\n"
        "  cmp \\reg, x9\n"
        "  cset w10, ne\n"
        "  orr w0, w0, w10, lsl #\\bitn\n"
        "  .endm\n"
        "  .macro tcp_checkd reg, val, bitn\n"
        "  fmov x11, \\reg\n"
        "  tcp_check x11, \\val, \\bitn\n"
        "  .endm\n"
        "  tcp_check x19, 0x1901, 0\n  tcp_check x20, 0x1902, 1\n  tcp_check x21, 0x1903, 2\n"
        "  tcp_check x22, 0x1904, 3\n  tcp_check x23, 0x1905, 4\n  tcp_check x24, 0x1906, 5\n"
        "  tcp_check x25, 0x1907, 6\n  tcp_check x26, 0x1908, 7\n  tcp_check x27, 0x1909, 8\n"
        "  tcp_check x28, 0x190a, 9\n  tcp_check x29, 0x190b, 10\n"
        "  tcp_checkd d8, 0x1911, 11\n  tcp_checkd d9, 0x1912, 12\n  tcp_checkd d10, 0x1913, 13\n"
        "  tcp_checkd d11, 0x1914, 14\n  tcp_checkd d12, 0x1915, 15\n  tcp_checkd d13, 0x1916, 16\n"
        "  tcp_checkd d14, 0x1917, 17\n  tcp_checkd d15, 0x1918, 18\n"
        "  .purgem tcp_checkd\n"
        "  .purgem tcp_check\n"
        "  ldp x19, x20, [sp, #16]\n  ldp x21, x22, [sp, #32]\n  ldp x23, x24, [sp, #48]\n"
        "  ldp x25, x26, [sp, #64]\n  ldp x27, x28, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n"
        "  ldp d12, d13, [sp, #128]\n  ldp d14, d15, [sp, #144]\n"
        "  ldp x29, x30, [sp], #160\n"
        "  ret\n"
        ".size test_ctx_probe, .-test_ctx_probe\n"
        "\n"
        ".p2align 4\n"
        ".globl test_ctx_clobber_switch\n"
        ".hidden test_ctx_clobber_switch\n"
        ".type test_ctx_clobber_switch, %function\n"
        "test_ctx_clobber_switch:\n"
        "  stp x29, x30, [sp, #-160]!\n"
        "  stp x19, x20, [sp, #16]\n  stp x21, x22, [sp, #32]\n  stp x23, x24, [sp, #48]\n"
        "  stp x25, x26, [sp, #64]\n  stp x27, x28, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n"
        "  stp d12, d13, [sp, #128]\n  stp d14, d15, [sp, #144]\n"
        "  mov x9, #-1\n"
        "  mov x19, x9\n  mov x20, x9\n  mov x21, x9\n  mov x22, x9\n  mov x23, x9\n"
        "  mov x24, x9\n  mov x25, x9\n  mov x26, x9\n  mov x27, x9\n  mov x28, x9\n  mov x29, x9\n"
        "  fmov d8, x9\n  fmov d9, x9\n  fmov d10, x9\n  fmov d11, x9\n"
        "  fmov d12, x9\n  fmov d13, x9\n  fmov d14, x9\n  fmov d15, x9\n"
        "  bl bn__ctx_switch\n"
        "  ldp x19, x20, [sp, #16]\n  ldp x21, x22, [sp, #32]\n  ldp x23, x24, [sp, #48]\n"
        "  ldp x25, x26, [sp, #64]\n  ldp x27, x28, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n"
        "  ldp d12, d13, [sp, #128]\n  ldp d14, d15, [sp, #144]\n"
        "  ldp x29, x30, [sp], #160\n"
        "  ret\n"
        ".size test_ctx_clobber_switch, .-test_ctx_clobber_switch\n");
#define PROBED_REGS 19
#endif

struct clobber {
    coro co;
    int rounds;
};

static void clobber_entry(void *arg)
{
    asan_arrived(NULL);
    struct clobber *c = arg;
    for (;;) {
        c->rounds++;
        void *fake_stack = asan_leave(&main_co);
        test_ctx_clobber_switch(&c->co.ctx, &main_co.ctx);
        asan_arrived(fake_stack);
    }
}

Test(context, callee_saved_registers_survive_a_clobbering_context)
{
    struct clobber c = {0};
    coro_make(&c.co, clobber_entry, &c);
    for (int i = 0; i < 1000; i++) {
        void *fake_stack = asan_leave(&c.co);
        uint32_t bad = test_ctx_probe(&main_co.ctx, &c.co.ctx);
        asan_arrived(fake_stack);
        cr_assert_eq(bad, 0, "round %d: registers changed, mask %#x (bit i = i-th of %d probed)", i, bad,
                     PROBED_REGS);
    }
    cr_assert_eq(c.rounds, 1000);
    coro_free(&c.co);
}

/* ------------------------------------------------------------------------ */
/* Floating-point control state (rounding mode) is per context.              */

typedef enum { ROUND_NEAREST, ROUND_UP, ROUND_ZERO } rounding;

#if defined(__x86_64__)
typedef struct fpctl {
    uint32_t mxcsr;
    uint16_t cw;
} fpctl;

static fpctl fpctl_get(void)
{
    fpctl f;
    __asm__ volatile("stmxcsr %0" : "=m"(f.mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(f.cw));
    return f;
}

static void fpctl_set(fpctl f)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(f.mxcsr));
    __asm__ volatile("fldcw %0" : : "m"(f.cw));
}

/* Compares control bits only: MXCSR bits 0-5 are sticky exception flags that
 * any inexact division sets. */
static bool fpctl_eq(fpctl a, fpctl b) { return ((a.mxcsr ^ b.mxcsr) & ~0x3fu) == 0 && a.cw == b.cw; }

static fpctl fpctl_with(fpctl f, rounding r)
{
    static const uint32_t sse[] = {0x0000, 0x4000, 0x6000}; /* MXCSR.RC, bits 13-14 */
    static const uint16_t x87[] = {0x0000, 0x0800, 0x0c00}; /* CW.RC, bits 10-11 */
    f.mxcsr = (f.mxcsr & ~0x6000u) | sse[r];
    f.cw = (uint16_t)((f.cw & ~0x0c00u) | x87[r]);
    return f;
}
#elif defined(__aarch64__)
typedef struct fpctl {
    uint64_t fpcr;
} fpctl;

static fpctl fpctl_get(void)
{
    fpctl f;
    __asm__ volatile("mrs %0, fpcr" : "=r"(f.fpcr));
    return f;
}

static void fpctl_set(fpctl f) { __asm__ volatile("msr fpcr, %0" : : "r"(f.fpcr)); }

static bool fpctl_eq(fpctl a, fpctl b) { return a.fpcr == b.fpcr; }

static fpctl fpctl_with(fpctl f, rounding r)
{
    static const uint64_t rmode[] = {0, 1, 3}; /* FPCR.RMode, bits 22-23: RN, RP, RZ */
    f.fpcr = (f.fpcr & ~(UINT64_C(3) << 22)) | rmode[r] << 22;
    return f;
}
#endif

static double third(void)
{
    volatile double one = 1.0, three = 3.0;
    return one / three;
}

struct fpbox {
    coro co;
    fpctl main_mode, co_mode;
    fpctl seen_at_start, seen_on_resume;
    double co_third;
};

static void fp_entry(void *arg)
{
    asan_arrived(NULL);
    struct fpbox *b = arg;
    b->seen_at_start = fpctl_get();
    fpctl_set(b->co_mode);
    sw(&b->co, &main_co);
    b->seen_on_resume = fpctl_get();
    b->co_third = third();
    park(&b->co);
}

Test(context, fp_control_state_is_per_context)
{
    fpctl saved = fpctl_get();
    struct fpbox b = {.main_mode = fpctl_with(saved, ROUND_UP), .co_mode = fpctl_with(saved, ROUND_ZERO)};
    fpctl_set(b.main_mode);
    coro_make(&b.co, fp_entry, &b); /* a new context inherits its creator's mode */
    sw(&main_co, &b.co);
    fpctl back = fpctl_get();
    double main_third = third();
    sw(&main_co, &b.co);
    fpctl back_again = fpctl_get();
    fpctl_set(saved);

    cr_assert(fpctl_eq(b.seen_at_start, b.main_mode), "new context did not inherit the creator's mode");
    cr_assert(fpctl_eq(back, b.main_mode), "the context's rounding mode leaked into main");
    cr_assert(fpctl_eq(b.seen_on_resume, b.co_mode), "the context lost its own rounding mode");
    cr_assert(fpctl_eq(back_again, b.main_mode));
    cr_assert_gt(main_third, b.co_third, "1/3 rounded up must exceed 1/3 rounded toward zero");
    coro_free(&b.co);
}

/* ------------------------------------------------------------------------ */

struct nest {
    coro a, b, c;
    char log[16];
    int n;
};

static void nest_c(void *arg)
{
    asan_arrived(NULL);
    struct nest *s = arg;
    s->log[s->n++] = 'c';
    sw(&s->c, &s->b);
    s->log[s->n++] = 'C';
    park(&s->c);
}

static void nest_b(void *arg)
{
    asan_arrived(NULL);
    struct nest *s = arg;
    s->log[s->n++] = 'b';
    sw(&s->b, &s->c);
    s->log[s->n++] = 'B';
    sw(&s->b, &s->a);
    s->log[s->n++] = '2';
    sw(&s->b, &s->c); /* C finishes into main */
    park(&s->b);
}

static void nest_a(void *arg)
{
    asan_arrived(NULL);
    struct nest *s = arg;
    volatile int mine = 0xa;
    s->log[s->n++] = 'a';
    sw(&s->a, &s->b);
    s->log[s->n++] = mine == 0xa ? 'A' : '!';
    sw(&s->a, &main_co);
    s->log[s->n++] = '1';
    sw(&s->a, &s->b);
    park(&s->a);
}

Test(context, nested_contexts_switch_among_themselves)
{
    struct nest s = {0};
    coro_make(&s.a, nest_a, &s);
    coro_make(&s.b, nest_b, &s);
    coro_make(&s.c, nest_c, &s);
    /* main -> A -> B -> C -> B -> A -> main */
    sw(&main_co, &s.a);
    cr_assert_str_eq(s.log, "abcBA");
    /* main -> A -> B -> C -> main */
    sw(&main_co, &s.a);
    cr_assert_str_eq(s.log, "abcBA12C");
    coro_free(&s.a);
    coro_free(&s.b);
    coro_free(&s.c);
}

/* ------------------------------------------------------------------------ */

struct frame_box {
    coro co;
    uintptr_t frame;
    void *caller_frame;
    char text[32];
    int depth;
};

static void frame_entry(void *arg)
{
    asan_arrived(NULL);
    struct frame_box *b = arg;
    b->frame = (uintptr_t)__builtin_frame_address(0);
    b->caller_frame = *(void **)__builtin_frame_address(0); /* frame records start with the caller's fp */
    /* Variadic calls with doubles spill SSE registers with aligned stores on
     * x86-64, so a misaligned initial stack would crash here. */
    snprintf(b->text, sizeof(b->text), "%.2f %s", 2.5, "ok");
    void *pcs[64];
    b->depth = backtrace(pcs, 64);
    park(&b->co);
}

Test(context, initial_frame_is_aligned_and_ends_the_backtrace)
{
    struct frame_box b = {0};
    coro_make(&b.co, frame_entry, &b);
    sw(&main_co, &b.co);
    uintptr_t lo = (uintptr_t)b.co.stack.lo;
    cr_assert(b.frame > lo && b.frame < lo + b.co.stack.size, "entry does not run on its stack");
    cr_assert_eq(b.frame % 16, 0, "frame pointer %#lx not 16-byte aligned", (unsigned long)b.frame);
    cr_assert_str_eq(b.text, "2.50 ok");
    cr_assert_null(b.caller_frame, "the frame-pointer chain must end at the entry's caller");
    /* frame_entry and the trampoline; the unwinder must stop there rather than
     * wander into the garbage above the stack top. */
    cr_assert(b.depth >= 2 && b.depth <= 4, "backtrace depth %d", b.depth);
    coro_free(&b.co);
}

/* ------------------------------------------------------------------------ */

static void returning_entry(void *arg)
{
    asan_arrived(NULL);
    *(int *)arg = 1;
}

Test(context, returning_entry_aborts, .signal = SIGABRT)
{
    static int ran;
    static coro co;
    coro_make(&co, returning_entry, &ran);
    sw(&main_co, &co);
}
