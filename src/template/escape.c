/*
 * Escaping for compiled templates [Phoenix.HTML.Engine.html_escape]: HTML
 * text and attribute values, the URL scheme check of <.link>, and the
 * percent-encoding of verified paths [Phoenix.VerifiedRoutes].
 */
#include "template/template_internal.h"

/* ------------------------------------------------------------------------ */
/* HTML                                                                       */

/* 0: copied as is; 1: replaced (an entity or U+FFFD); 2: the first byte of a
 * UTF-8 sequence to check. Everything else is copied in runs. */
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
static const unsigned char html_class[256] = {
    [0] = 1,
    ['"'] = 1,
    ['&'] = 1,
    ['\''] = 1,
    ['<'] = 1,
    ['>'] = 1,
    [0x80] = R16(2), R16(2), R16(2), R16(2), R16(2), R16(2), R16(2), R16(2),
};

size_t bn__tpl_utf8_seq(const unsigned char *p, size_t avail, size_t *bad)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    } else {
        *bad = 1; /* a continuation byte, C0, C1 or F5..FF */
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= avail || p[i] < lo || p[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

void bn_tpl_escape(bn_buf *out, const char *s, size_t len)
{
    if (!len)
        return;
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
    while (p < end) {
        unsigned char cls = html_class[*p];
        if (BN_LIKELY(cls == 0)) {
            p++;
            continue;
        }
        size_t skip = 1;
        if (cls == 2) {
            size_t n = bn__tpl_utf8_seq(p, (size_t)(end - p), &skip);
            if (n) {
                p += n; /* valid: stays in the run */
                continue;
            }
        }
        bn_buf_append(out, run, (size_t)(p - run));
        switch (*p) {
        case '&': bn_buf_append(out, "&amp;", 5); break;
        case '<': bn_buf_append(out, "&lt;", 4); break;
        case '>': bn_buf_append(out, "&gt;", 4); break;
        case '"': bn_buf_append(out, "&quot;", 6); break;
        case '\'': bn_buf_append(out, "&#39;", 5); break;
        default: bn_buf_append(out, BN__TPL_FFFD, 3); break; /* NUL, invalid UTF-8 */
        }
        p += skip;
        run = p;
    }
    bn_buf_append(out, run, (size_t)(p - run));
}

/* ------------------------------------------------------------------------ */
/* URLs                                                                       */

bool bn_tpl_url_is_safe(const char *url, size_t len)
{
    if (!url)
        return true;
    /* Browsers drop leading C0 controls and spaces, and ASCII tabs and
     * newlines anywhere (WHATWG URL), so "\t java\nscript:" is javascript:. */
    size_t i = 0;
    while (i < len && (unsigned char)url[i] <= 0x20)
        i++;
    char scheme[11];
    size_t n = 0;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == ':')
            break;
        bool alpha = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
        if (!alpha && !(n > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')))
            return true; /* no scheme: a relative URL */
        if (n == sizeof scheme - 1)
            return true; /* longer than any scheme refused below */
        scheme[n++] = alpha ? (char)(c | 0x20) : (char)c;
    }
    if (i == len)
        return true;
    scheme[n] = '\0';
    return strcmp(scheme, "javascript") != 0 && strcmp(scheme, "vbscript") != 0 && strcmp(scheme, "data") != 0;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

/* RFC 3986 pchar: unreserved, sub-delims, ':' and '@'. */
static bool segment_char(unsigned char c)
{
    if (unreserved(c))
        return true;
    switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*':
    case '+': case ',': case ';': case '=': case ':': case '@':
        return true;
    default:
        return false;
    }
}

/* Writes `s` percent-encoded at `dst` (when not NULL); returns its length. */
static size_t percent_encode(char *dst, const char *s, bool query)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (query ? unreserved(*p) : segment_char(*p)) {
            if (dst)
                dst[n] = (char)*p;
            n++;
        } else if (query && *p == ' ') {
            if (dst)
                dst[n] = '+';
            n++;
        } else {
            if (dst) {
                dst[n] = '%';
                dst[n + 1] = hex[*p >> 4];
                dst[n + 2] = hex[*p & 15];
            }
            n += 3;
        }
    }
    return n;
}

/* One pass of bn_tpl_path: measures (dst NULL) or writes. */
static size_t path_join(char *dst, const char *const *parts, const char *const *values, size_t nvalues)
{
    size_t n = 0;
    bool query = false;
    for (size_t i = 0; i <= nvalues; i++) {
        const char *part = parts[i] ? parts[i] : "";
        size_t len = strlen(part);
        if (dst)
            memcpy(dst + n, part, len);
        n += len;
        query = query || memchr(part, '?', len) != NULL;
        if (i < nvalues)
            n += percent_encode(dst ? dst + n : NULL, values[i], query);
    }
    return n;
}

const char *bn_tpl_path(bn_tpl *t, const char *const *parts, const char *const *values, size_t nvalues)
{
    size_t len = path_join(NULL, parts, values, nvalues);
    char *s = bn_arena_alloc(t->arena, len + 1);
    path_join(s, parts, values, nvalues);
    s[len] = '\0';
    return s;
}
