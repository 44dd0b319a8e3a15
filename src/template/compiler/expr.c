/*
 * Scanning C embedded in templates: the compiler never parses C, but it must
 * find where an expression ends, which needs string and character literals
 * and comments skipped ("}" inside "a}b" does not close a {…}).
 */
#include <ctype.h>

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

/* Only block comments are recognised in template code: a line comment
 * would swallow the %> or } that ends the code on its line. */
int tpl_skip_c_noise(const char **p, const char *end)
{
    const char *s = *p;
    if (s + 1 < end && s[0] == '/' && s[1] == '*') {
        const char *e = memmem(s + 2, (size_t)(end - s - 2), "*/", 2);
        *p = e ? e + 2 : end;
        return e ? 1 : -1;
    }
    if (*s == '"' || *s == '\'') {
        if (!tpl_skip_c_literal(p, end)) {
            *p = end;
            return -1;
        }
        return 1;
    }
    return 0;
}

const char *tpl_find_brace_end(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        int skipped = tpl_skip_c_noise(&p, end);
        if (skipped < 0)
            return NULL;
        if (skipped)
            continue;
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
        int skipped = tpl_skip_c_noise(&p, end);
        if (skipped < 0)
            break;
        if (skipped)
            continue;
        n += (*p == '{') - (*p == '}');
        p++;
    }
    return n;
}

bn_str tpl_trim(bn_str s)
{
    while (s.len && isspace((unsigned char)s.ptr[0]))
        s.ptr++, s.len--;
    while (s.len && isspace((unsigned char)s.ptr[s.len - 1]))
        s.len--;
    return s;
}
