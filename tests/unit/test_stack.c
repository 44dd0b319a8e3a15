/*
 * Unit tests for guard-paged task stacks (runtime/stack.h).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "runtime/stack.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#ifdef HAVE_ASAN
/* Let a guard-page fault kill the process with SIGSEGV as it would in
 * production, instead of ASan reporting it and exiting with status 1. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "handle_segv=0"; }
#endif

static size_t page(void) { return (size_t)sysconf(_SC_PAGESIZE); }

Test(stack, sizes_round_up_to_pages)
{
    size_t p = page();
    const size_t asked[] = {0, 1, p - 1, p, p + 1, 3 * p + 5, 256 * 1024};
    const size_t want[] = {p, p, p, p, 2 * p, 4 * p, 256 * 1024};
    for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
        bn_stack s;
        cr_assert_eq(bn__stack_alloc(&s, asked[i]), 0);
        cr_assert_eq(s.size, want[i], "asked %zu: got %zu usable, want %zu", asked[i], s.size, want[i]);
        cr_assert_eq(s.map_len, s.size + p);
        cr_assert_eq((char *)s.lo, (char *)s.map + p);
        cr_assert_eq((uintptr_t)s.map % p, 0);
        bn__stack_free(&s);
        cr_assert_null(s.map);
        cr_assert_null(s.lo);
    }
}

Test(stack, whole_usable_area_is_writable)
{
    bn_stack s;
    cr_assert_eq(bn__stack_alloc(&s, 64 * 1024 + 1), 0);
    unsigned char *lo = s.lo;
    for (size_t i = 0; i < s.size; i++)
        lo[i] = (unsigned char)(i * 7);
    for (size_t i = 0; i < s.size; i++)
        cr_assert_eq(lo[i], (unsigned char)(i * 7));
    bn__stack_free(&s);
}

Test(stack, guard_hit_matches_exactly_the_guard_page)
{
    bn_stack s;
    cr_assert_eq(bn__stack_alloc(&s, 16 * 1024), 0);
    char *map = s.map, *lo = s.lo;
    cr_assert(bn__stack_guard_hit(&s, map));
    cr_assert(bn__stack_guard_hit(&s, map + page() / 2));
    cr_assert(bn__stack_guard_hit(&s, lo - 1));
    cr_assert_not(bn__stack_guard_hit(&s, lo));
    cr_assert_not(bn__stack_guard_hit(&s, lo + s.size - 1));
    cr_assert_not(bn__stack_guard_hit(&s, lo + s.size));
    cr_assert_not(bn__stack_guard_hit(&s, map - 1));
    cr_assert_not(bn__stack_guard_hit(&s, NULL));
    bn__stack_free(&s);
    cr_assert_not(bn__stack_guard_hit(&s, map), "a freed stack has no guard");
}

Test(stack, touching_the_guard_page_faults, .signal = SIGSEGV)
{
    bn_stack s;
    cr_assert_eq(bn__stack_alloc(&s, 16 * 1024), 0);
    volatile char *below = (volatile char *)s.lo - 1;
    *below = 1;
}

Test(stack, release_pages_zeroes_but_keeps_the_mapping)
{
    bn_stack s;
    cr_assert_eq(bn__stack_alloc(&s, 32 * 1024), 0);
    void *map = s.map, *lo = s.lo;
    memset(s.lo, 0xab, s.size);
    bn__stack_release_pages(&s);
    cr_assert_eq(s.map, map);
    cr_assert_eq(s.lo, lo);
    unsigned char *p = s.lo;
    for (size_t i = 0; i < s.size; i++)
        if (p[i] != 0)
            cr_assert_fail("byte %zu is %#x after release, want 0", i, p[i]);
    memset(s.lo, 0x5c, s.size); /* still mapped read-write */
    cr_assert_eq(p[s.size - 1], 0x5c);
    cr_assert(bn__stack_guard_hit(&s, (char *)s.lo - 1));
    bn__stack_free(&s);
}

Test(stack, impossible_size_fails_with_enomem)
{
    bn_stack s;
    cr_assert_eq(bn__stack_alloc(&s, SIZE_MAX), -ENOMEM);
    cr_assert_null(s.map);
    cr_assert_eq(bn__stack_alloc(&s, SIZE_MAX - 3 * page()), -ENOMEM);
    bn__stack_free(&s); /* harmless on a failed stack */
}

Test(stack, release_then_guard_still_faults, .signal = SIGSEGV)
{
    bn_stack s;
    cr_assert_eq(bn__stack_alloc(&s, 16 * 1024), 0);
    bn__stack_release_pages(&s);
    volatile char *guard = s.map;
    *guard = 1;
}
