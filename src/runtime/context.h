/*
 * Machine context switch for tasks (x86-64 and aarch64, in context_*.S).
 *
 * A context is just a saved stack pointer: bn__ctx_switch pushes the
 * callee-saved registers on the current stack, stores sp into from->sp,
 * loads to->sp and pops the registers saved there. Floating-point control
 * state (mxcsr / x87 cw on x86-64, fpcr on aarch64) is saved too.
 */
#ifndef BENNU_RUNTIME_CONTEXT_H
#define BENNU_RUNTIME_CONTEXT_H

#include <stddef.h>

typedef struct bn_ctx {
    void *sp;
} bn_ctx;

typedef void bn_ctx_entry(void *arg);

/** Saves the current context into `from` and resumes `to`. */
void bn__ctx_switch(bn_ctx *from, bn_ctx *to);

/**
 * Prepares `ctx` so that the first bn__ctx_switch into it calls entry(arg) on
 * the stack [stack_lo, stack_lo + size). `entry` must never return (it
 * switches away for the last time instead); if it does, the process aborts.
 */
void bn__ctx_make(bn_ctx *ctx, void *stack_lo, size_t size, bn_ctx_entry *entry, void *arg);

#endif
