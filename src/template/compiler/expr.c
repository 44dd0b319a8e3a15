/*
 * Scanning C embedded in templates: the compiler never parses C, but it must
 * find where an expression ends, which needs string and character literals
 * and comments skipped ("}" inside "a}b" does not close a {…}).
 */
#include "template/compiler/tpl.h"

bool tpl_skip_c_literal(const char **pp, const char *end)
{
    const char *p = *pp;
    char q = *p++;
    while (p < end && *p != q) {
        if (*p == '\n')
            return false;
        if (*p == '\\' && p + 1 < end)
            p++;
        p++;
    }
    if (p >= end)
        return false;
    *pp = p + 1;
    return true;
}

/* Skips a comment at p ("//…" or slash-star); returns p unchanged if none. */
static const char *skip_comment(const char *p, const char *end)
{
    if (p + 1 >= end || p[0] != '/')
        return p;
    if (p[1] == '/') {
        while (p < end && *p != '\n')
            p++;
        return p;
    }
    if (p[1] == '*') {
        const char *e = memmem(p + 2, (size_t)(end - p - 2), "*/", 2);
        return e ? e + 2 : end;
    }
    return p;
}

const char *tpl_find_brace_end(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        const char *q = skip_comment(p, end);
        if (q != p) {
            p = q;
            continue;
        }
        if (*p == '"' || *p == '\'') {
            if (!tpl_skip_c_literal(&p, end))
                return NULL;
            continue;
        }
        if (*p == '{')
            depth++;
        else if (*p == '}' && depth-- == 0)
            return p;
        p++;
    }
    return NULL;
}

int tpl_brace_balance(bn_str code)
{
    const char *p = code.ptr, *end = code.ptr + code.len;
    int n = 0;
    while (p < end) {
        const char *q = skip_comment(p, end);
        if (q != p) {
            p = q;
            continue;
        }
        if (*p == '"' || *p == '\'') {
            if (!tpl_skip_c_literal(&p, end))
                break;
            continue;
        }
        n += (*p == '{') - (*p == '}');
        p++;
    }
    return n;
}
