/*
 * String-slice helpers declared in bennu/core.h: ASCII case folding,
 * HTTP-style comma-separated lists and strict decimal parsing.
 */
#include "bennu/core.h"

/* ASCII-only on purpose: header names and tokens are ASCII, and locale
 * dependent tolower() would be both slower and wrong here. A table makes the
 * comparison loop one load per side (it runs several times per request). */
#define L(c) ((c) >= 'A' && (c) <= 'Z' ? (c) | 0x20 : (c))
#define L4(c) L(c), L(c + 1), L(c + 2), L(c + 3)
#define L16(c) L4(c), L4(c + 4), L4(c + 8), L4(c + 12)
static const unsigned char ascii_lower[256] = {
    L16(0x00), L16(0x10), L16(0x20), L16(0x30), L16(0x40), L16(0x50), L16(0x60), L16(0x70),
    L16(0x80), L16(0x90), L16(0xA0), L16(0xB0), L16(0xC0), L16(0xD0), L16(0xE0), L16(0xF0),
};
#undef L16
#undef L4
#undef L

static inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool bn_str_eq_nocase(bn_str a, bn_str b)
{
    if (a.len != b.len)
        return false;
    const unsigned char *x = (const unsigned char *)a.ptr, *y = (const unsigned char *)b.ptr;
    for (size_t i = 0; i < a.len; i++)
        if (ascii_lower[x[i]] != ascii_lower[y[i]])
            return false;
    return true;
}

bn_str bn_str_trim(bn_str s)
{
    if (s.len == 0) /* also keeps NULL slices away from pointer arithmetic */
        return s;
    const char *p = s.ptr, *e = s.ptr + s.len;
    while (p < e && is_ows(*p))
        p++;
    while (e > p && is_ows(e[-1]))
        e--;
    return bn_str_make(p, (size_t)(e - p));
}

bool bn_str_list_next(bn_str *list, bn_str *elem)
{
    if (list->len == 0)
        return false;
    const char *p = list->ptr, *end = list->ptr + list->len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        bn_str e = bn_str_trim(bn_str_make(p, (size_t)(stop - p)));
        p = comma ? comma + 1 : end;
        if (e.len) {
            *elem = e;
            *list = bn_str_make(p, (size_t)(end - p));
            return true;
        }
    }
    *list = bn_str_make(end, 0);
    return false;
}

bool bn_str_has_token(bn_str list, bn_str token)
{
    bn_str e;
    while (bn_str_list_next(&list, &e))
        if (bn_str_eq_nocase(e, token))
            return true;
    return false;
}

bool bn_str_to_u64(bn_str s, uint64_t *out)
{
    if (s.len == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.ptr[i] - (unsigned)'0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool bn_str_to_i64(bn_str s, int64_t *out)
{
    bool neg = s.len > 0 && s.ptr[0] == '-';
    if (s.len > 0 && (s.ptr[0] == '-' || s.ptr[0] == '+'))
        s = bn_str_make(s.ptr + 1, s.len - 1);
    uint64_t v;
    if (!bn_str_to_u64(s, &v) || v > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        return false;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}
