/*
 * Internal crash-handler API: per-thread alternate signal stacks, so the
 * fatal-signal handler can still run when a thread or task blows its stack.
 */
#ifndef BENNU_RUNTIME_CRASH_H
#define BENNU_RUNTIME_CRASH_H

/**
 * Gives the calling thread a 64 KiB alternate signal stack (freed when the
 * thread exits). Keeps one that is already installed (e.g. by ASan).
 * Call once from every thread that runs tasks.
 */
void bn__crash_altstack_init(void);

#endif
