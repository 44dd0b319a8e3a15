/*
 * Arena (bump) allocator for request- and connection-scoped memory.
 * Standard-size blocks are recycled through a small per-thread cache, so a
 * request that fits in one block costs no malloc/free at all once warm, and
 * a reset arena holds no memory (idle connections own nothing).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "bennu/core.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ALIGN 16
#define BLOCK_BYTES 8192 /* a standard block, header included */
#define CACHE_MAX 64     /* standard blocks kept per thread */

struct bn_arena_block {
    bn_arena_block *prev;
    size_t size; /* bytes in data[] */
    _Alignas(ALIGN) char data[];
};

static _Thread_local bn_arena_block *cache;
static _Thread_local unsigned cache_len;

static const size_t STANDARD = BLOCK_BYTES - sizeof(bn_arena_block);

/* A thread that exits gives its cached blocks back (loop threads, helper
 * threads of tests); the key's value only marks that the thread has a cache. */
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void cache_free(void *unused)
{
    (void)unused;
    while (cache) {
        bn_arena_block *b = cache;
        cache = b->prev;
        free(b);
    }
    cache_len = 0;
}

static void cache_key_create(void) { pthread_key_create(&cache_key, cache_free); }

static bn_arena_block *block_get(size_t need)
{
    bn_arena_block *b;
    if (need <= STANDARD && cache) {
        b = cache;
        cache = b->prev;
        cache_len--;
    } else {
        size_t size = need <= STANDARD ? STANDARD : need;
        b = bn_xmalloc(sizeof(*b) + size);
        b->size = size;
    }
    UNPOISON(b->data, b->size);
    return b;
}

static void block_put(bn_arena_block *b)
{
    if (b->size == STANDARD && cache_len < CACHE_MAX) {
        if (!cache) { /* first block cached by this thread: free them at its exit */
            pthread_once(&cache_key_once, cache_key_create);
            pthread_setspecific(cache_key, &cache_key);
        }
        POISON(b->data, b->size);
        b->prev = cache;
        cache = b;
        cache_len++;
    } else {
        free(b);
    }
}

void *bn_arena_alloc(bn_arena *a, size_t size)
{
    size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (BN_UNLIKELY((size_t)(a->end - a->cur) < size || a->cur == NULL)) {
        bn_arena_block *b = block_get(size);
        b->prev = a->head;
        a->head = b;
        a->cur = b->data;
        a->end = b->data + b->size;
    }
    void *p = a->cur;
    a->cur += size;
    return p;
}

char *bn_arena_strndup(bn_arena *a, const char *s, size_t len)
{
    char *p = bn_arena_alloc(a, len + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *bn_arena_printf(bn_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return bn_arena_strndup(a, "", 0);
    char *p = bn_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void bn_arena_reset(bn_arena *a)
{
    bn_arena_block *b = a->head;
    while (b) {
        bn_arena_block *prev = b->prev;
        block_put(b);
        b = prev;
    }
    *a = (bn_arena)BN_ARENA_INIT;
}

void bn_arena_destroy(bn_arena *a) { bn_arena_reset(a); }
