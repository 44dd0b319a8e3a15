/* Allocation wrappers that abort on out-of-memory (see core.h for why). */
#include <stdio.h>
#include <stdlib.h>

#include "bennu/core.h"

static _Noreturn void out_of_memory(size_t size)
{
    /* No allocation here: the message must get out even when malloc cannot. */
    fprintf(stderr, "bennu: out of memory (requested %zu bytes)\n", size);
    abort();
}

void *bn_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (BN_UNLIKELY(p == NULL))
        out_of_memory(size);
    return p;
}

void *bn_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (BN_UNLIKELY(p == NULL))
        out_of_memory(n * size);
    return p;
}

void *bn_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (BN_UNLIKELY(p == NULL))
        out_of_memory(size);
    return p;
}

char *bn_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(bn_xmalloc(n), s, n);
}

char *bn_xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        bn_fatal("bn_xprintf: bad format \"%s\"", fmt);
    char *s = bn_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}
