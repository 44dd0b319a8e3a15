/*
 * Task stacks: mmap'd, with a PROT_NONE guard page below the usable area so
 * that an overflow faults at a known address instead of corrupting memory.
 */
#ifndef BENNU_RUNTIME_STACK_H
#define BENNU_RUNTIME_STACK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bn_stack {
    void *map;      /* start of the mapping (the guard page) */
    size_t map_len; /* guard + usable */
    void *lo;       /* lowest usable byte (just above the guard) */
    size_t size;    /* usable bytes */
} bn_stack;

/** Maps a stack of at least `size` usable bytes (rounded up to pages). 0 or -errno. */
int bn__stack_alloc(bn_stack *s, size_t size);
void bn__stack_free(bn_stack *s);
/** True if `addr` falls in the guard page(s) of `s`. */
bool bn__stack_guard_hit(const bn_stack *s, const void *addr);
/** Returns the usable pages to the kernel (MADV_DONTNEED) without unmapping. */
void bn__stack_release_pages(bn_stack *s);

#endif
