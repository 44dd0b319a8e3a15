/*
 * Cookies (RFC 6265): the request Cookie header into a bn_value object, and
 * the Set-Cookie header value of a response cookie [Plug.Conn.Cookies].
 */
#include <stdio.h>
#include <time.h>

#include "web/parsers.h"

static bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c && strchr(extra, c));
}

static bool is_token(bn_str s)
{
    if (!s.len)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((unsigned char)s.ptr[i]))
            return false;
    return true;
}

static bool has_ctl(bn_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x20 || s.ptr[i] == 0x7f)
            return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Cookie request header                                                      */

/* Splits one "name=value" piece; false if it is not a cookie we accept. Reading
 * is lenient (spaces or non-ASCII in values pass) where writing is strict. */
static bool parse_pair(bn_str piece, bn_str *name, bn_str *value)
{
    if (piece.len > BN__COOKIE_MAX_PAIR)
        return false;
    const char *eq = memchr(piece.ptr, '=', piece.len);
    if (!eq)
        return false;
    *name = bn_str_trim(bn_str_make(piece.ptr, (size_t)(eq - piece.ptr)));
    *value = bn_str_trim(bn_str_make(eq + 1, piece.len - (size_t)(eq - piece.ptr) - 1));
    if (value->len >= 2 && value->ptr[0] == '"' && value->ptr[value->len - 1] == '"')
        *value = bn_str_make(value->ptr + 1, value->len - 2);
    return is_token(*name) && !has_ctl(*value);
}

int bn__parse_cookie_header(bn_arena *a, bn_str header, bn_value *into)
{
    if (!into || into->type != BN_VALUE_OBJECT)
        bn_fatal("bn__parse_cookie_header: not an object");
    int added = 0, seen = 0;
    size_t pos = 0;
    while (pos < header.len && seen < BN__COOKIE_MAX_COUNT) {
        const char *semi = memchr(header.ptr + pos, ';', header.len - pos);
        size_t end = semi ? (size_t)(semi - header.ptr) : header.len;
        bn_str piece = bn_str_make(header.ptr + pos, end - pos), name, value;
        pos = end + 1;
        if (!parse_pair(piece, &name, &value))
            continue;
        seen++;
        if (bn_value_get_str(into, name))
            continue; /* the first (most specific) one wins */
        bn_value_set_str(a, into, name, bn_value_string(a, value));
        added++;
    }
    return added;
}

/* ------------------------------------------------------------------------ */
/* Set-Cookie                                                                 */

/* RFC 6265 §4.1.1 cookie-octet: visible ASCII but for DQUOTE, ',', ';' and '\'. */
static bool is_cookie_octet(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

static bool value_ok(bn_str v)
{
    if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
        v = bn_str_make(v.ptr + 1, v.len - 2);
    for (size_t i = 0; i < v.len; i++)
        if (!is_cookie_octet((unsigned char)v.ptr[i]))
            return false;
    return true;
}

static bool attr_ok(const char *s) { return !s || (!has_ctl(bn_str_from_cstr(s)) && !strchr(s, ';')); }

/* The last second an IMF-fixdate can show (9999-12-31T23:59:59Z). */
#define MAX_DATE INT64_C(253402300799)

static void put_expiry(bn_buf *out, int64_t max_age, int64_t now)
{
    int64_t at = 0; /* deletion: the epoch */
    if (max_age > 0)
        at = now < 0 || now >= MAX_DATE || max_age > MAX_DATE - now ? MAX_DATE : now + max_age;
    char date[30];
    bn_http_date_format(at, date);
    bn_buf_printf(out, "; Max-Age=%lld; Expires=%s", (long long)max_age, date);
}

bool bn__cookie_serialize_at(bn_buf *out, bn_str name, bn_str value, const bn_cookie_attrs *attrs, int64_t now)
{
    bn_cookie_attrs at = attrs ? *attrs : BN_COOKIE_ATTRS_DEFAULT;
    if (!is_token(name) || !value_ok(value) || !attr_ok(at.path) || !attr_ok(at.domain))
        return false;
    bn_buf_append_str(out, name);
    bn_buf_append(out, "=", 1);
    bn_buf_append_str(out, value);
    bn_buf_printf(out, "; Path=%s", at.path ? at.path : "/");
    if (at.domain)
        bn_buf_printf(out, "; Domain=%s", at.domain);
    if (at.max_age >= 0)
        put_expiry(out, at.max_age, now);
    if (at.secure)
        bn_buf_append_str(out, BN_STR("; Secure"));
    if (at.http_only)
        bn_buf_append_str(out, BN_STR("; HttpOnly"));
    static const char *const same_site[] = {NULL, "Lax", "Strict", "None"};
    if (at.same_site > BN_SAME_SITE_UNSET && at.same_site <= BN_SAME_SITE_NONE)
        bn_buf_printf(out, "; SameSite=%s", same_site[at.same_site]);
    return true;
}

bool bn__cookie_serialize(bn_buf *out, bn_str name, bn_str value, const bn_cookie_attrs *attrs)
{
    return bn__cookie_serialize_at(out, name, value, attrs, (int64_t)time(NULL));
}
