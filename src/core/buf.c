/* Growable heap byte buffer. */
#include <stdio.h>
#include <stdlib.h>

#include "bennu/core.h"

char *bn_buf_reserve(bn_buf *b, size_t extra)
{
    if (b->cap - b->len < extra) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < extra)
            cap *= 2;
        b->data = bn_xrealloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

void bn_buf_append(bn_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return;
    memcpy(bn_buf_reserve(b, len), data, len);
    b->len += len;
}

void bn_buf_printf(bn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *tail = bn_buf_reserve(b, 64);
    int n = vsnprintf(tail, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        tail = bn_buf_reserve(b, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(tail, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void bn_buf_consume(bn_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void bn_buf_free(bn_buf *b)
{
    free(b->data);
    *b = (bn_buf)BN_BUF_INIT;
}

bn_shared *bn_shared_new(size_t len)
{
    bn_shared *s = bn_xmalloc(sizeof(*s) + len);
    atomic_init(&s->refs, 1);
    s->len = len;
    return s;
}

void bn_shared_unref(bn_shared *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        free(s);
}
