/*
 * Builds the initial frame of a new context: the frame bn__ctx_switch would
 * have saved, "returning" into bn__ctx_trampoline (context_*.S).
 */
#include "runtime/context.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bn__ctx_trampoline(void);
_Noreturn void bn__ctx_entry_returned(void);

/* Called by the trampoline: an entry must switch away, never return. */
_Noreturn void bn__ctx_entry_returned(void)
{
    static const char msg[] = "bennu: context entry function returned\n";
    fwrite(msg, 1, sizeof(msg) - 1, stderr);
    abort();
}

#if defined(__x86_64__)

/* Mirrors the frame pushed by bn__ctx_switch in context_x86_64.S. */
struct initial_frame {
    uint32_t mxcsr;
    uint16_t x87_cw;
    uint16_t pad;
    uint64_t r15, r14, r13, r12, rbx, rbp;
    uint64_t ret;      /* bn__ctx_trampoline */
    uint64_t end[2];   /* rsp after the "return": aligned, zero fake return address */
};

static void fill_frame(struct initial_frame *f, bn_ctx_entry *entry, void *arg)
{
    /* A new context inherits the creator's FP control state, as threads do. */
    __asm__ volatile("stmxcsr %0" : "=m"(f->mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(f->x87_cw));
    f->r12 = (uint64_t)(uintptr_t)entry;
    f->r13 = (uint64_t)(uintptr_t)arg;
    f->rbp = 0; /* ends frame-pointer chains */
    f->ret = (uint64_t)(uintptr_t)bn__ctx_trampoline;
}

#elif defined(__aarch64__)

/* Mirrors the frame stored by bn__ctx_switch in context_aarch64.S. */
struct initial_frame {
    uint64_t x[10]; /* x19..x28 */
    uint64_t fp, lr;
    uint64_t d[8]; /* d8..d15 */
    uint64_t fpcr, pad;
    uint64_t end[2]; /* sp after the switch: a zero frame record */
};

static void fill_frame(struct initial_frame *f, bn_ctx_entry *entry, void *arg)
{
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    f->fpcr = fpcr; /* inherited from the creator, as threads do */
    f->x[0] = (uint64_t)(uintptr_t)entry;
    f->x[1] = (uint64_t)(uintptr_t)arg;
    f->fp = 0;
    f->lr = (uint64_t)(uintptr_t)bn__ctx_trampoline;
}

#else
#error "bennu contexts support x86-64 and aarch64 only"
#endif

_Static_assert(sizeof(struct initial_frame) % 16 == 0, "initial frame keeps sp 16-byte aligned");

void bn__ctx_make(bn_ctx *ctx, void *stack_lo, size_t size, bn_ctx_entry *entry, void *arg)
{
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
    struct initial_frame *f = (struct initial_frame *)(top - sizeof(*f));
    memset(f, 0, sizeof(*f));
    fill_frame(f, entry, arg);
    ctx->sp = f;
}
