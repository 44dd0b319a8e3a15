/*
 * Task stacks: one anonymous mapping per stack, its lowest page made
 * PROT_NONE so that running off the end faults at a recognisable address.
 */
#include "runtime/stack.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* Not cached: glibc answers from memory, and a cache shared by loop threads would race. */
static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

int bn__stack_alloc(bn_stack *s, size_t size)
{
    *s = (bn_stack){0};
    size_t page = page_size();
    if (size > SIZE_MAX - 2 * page)
        return -ENOMEM;
    size_t usable = size ? (size + page - 1) & ~(page - 1) : page;
    size_t len = page + usable;
    /* NORESERVE: only touched pages cost memory, so big stacks are cheap. */
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return -errno;
    if (mprotect(map, page, PROT_NONE) != 0) {
        int err = errno;
        munmap(map, len);
        return -err;
    }
    *s = (bn_stack){.map = map, .map_len = len, .lo = (char *)map + page, .size = usable};
    return 0;
}

void bn__stack_free(bn_stack *s)
{
    if (s->map)
        munmap(s->map, s->map_len);
    *s = (bn_stack){0};
}

/* Pure arithmetic: called from the SIGSEGV handler. */
bool bn__stack_guard_hit(const bn_stack *s, const void *addr)
{
    uintptr_t a = (uintptr_t)addr, map = (uintptr_t)s->map;
    return s->map && a - map < (uintptr_t)s->lo - map;
}

void bn__stack_release_pages(bn_stack *s)
{
    /* Private anonymous pages read back as zeroes after this; the mapping stays. */
    if (s->map)
        madvise(s->lo, s->size, MADV_DONTNEED);
}
