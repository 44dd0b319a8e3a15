/*
 * Query strings and application/x-www-form-urlencoded bodies into a bn_value
 * tree [Plug.Conn.Query], and the params key rule that multipart shares.
 */
#include <stdio.h>

#include "web/parsers.h"

bn_params_limits bn__params_limits_resolve(const bn_params_limits *lim)
{
    bn_params_limits l = lim ? *lim : (bn_params_limits){0};
    if (!l.max_depth)
        l.max_depth = 32;
    if (!l.max_pairs)
        l.max_pairs = 1000;
    if (!l.max_key_len)
        l.max_key_len = 1024;
    if (!l.max_parts)
        l.max_parts = 1000;
    if (!l.max_part_header)
        l.max_part_header = 8 * 1024;
    if (!l.max_header_line)
        l.max_header_line = 4 * 1024;
    if (!l.max_field_size)
        l.max_field_size = 1024 * 1024;
    if (!l.max_files)
        l.max_files = 100;
    if (!l.max_file_size)
        l.max_file_size = 8 * 1024 * 1024;
    if (!l.max_files_total)
        l.max_files_total = 32 * 1024 * 1024;
    return l;
}

static void fail(char *err, size_t errlen, const char *fmt, ...) BN_PRINTF(3, 4);
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *bn__quote(bn_str s, char buf[BN__QUOTE_SIZE])
{
    static const char hex[] = "0123456789ABCDEF";
    enum { SHOWN = 32 };
    char *p = buf;
    *p++ = '"';
    for (size_t i = 0; i < s.len && i < SHOWN; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *p++ = (char)c;
        } else {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    if (s.len > SHOWN) {
        memcpy(p, "...", 3);
        p += 3;
    }
    *p++ = '"';
    *p = '\0';
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Percent-decoding and UTF-8                                                 */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Offset of the first broken %-escape of `s`, or s.len if there is none. */
static size_t bad_escape(bn_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] != '%')
            continue;
        if (i + 2 >= s.len)
            return i;
        if (hexval((unsigned char)s.ptr[i + 1]) < 0 || hexval((unsigned char)s.ptr[i + 2]) < 0)
            return i;
        i += 2;
    }
    return s.len;
}

bool bn__percent_decode(bn_arena *a, bn_str in, bool plus_is_space, bn_str *out)
{
    if (bad_escape(in) != in.len)
        return false;
    char *dst = bn_arena_alloc(a, in.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c == '%') {
            c = (char)(hexval((unsigned char)in.ptr[i + 1]) << 4 | hexval((unsigned char)in.ptr[i + 2]));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        dst[n++] = c;
    }
    dst[n] = '\0';
    *out = bn_str_make(dst, n);
    return true;
}

bool bn__utf8_valid(bn_str s)
{
    if (!s.len)
        return true;
    const unsigned char *p = (const unsigned char *)s.ptr, *end = p + s.len;
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false; /* a continuation byte, an overlong lead (C0, C1) or > F4 */
        }
        if ((size_t)(end - p) <= n)
            return false;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Keys: name[seg][seg]...                                                    */

/* Pops the next "[seg]" of `*rest` (validated beforehand by split_key). */
static bool next_seg(bn_str *rest, bn_str *seg)
{
    if (!rest->len)
        return false;
    const char *close = memchr(rest->ptr, ']', rest->len);
    *seg = bn_str_make(rest->ptr + 1, (size_t)(close - rest->ptr) - 1);
    size_t used = (size_t)(close - rest->ptr) + 1;
    *rest = bn_str_make(rest->ptr + used, rest->len - used);
    return true;
}

/*
 * Splits `key` into its name and the bracket part ("[b][]"), counting the
 * segments. Malformed brackets make the whole key a flat name.
 */
static void split_key(bn_str key, bn_str *name, bn_str *brackets, size_t *nsegs)
{
    *name = key;
    *brackets = bn_str_make("", 0);
    *nsegs = 0;
    const char *open = key.len ? memchr(key.ptr, '[', key.len) : NULL;
    if (!open)
        return;
    size_t pos = (size_t)(open - key.ptr), n = 0;
    while (pos < key.len) {
        if (key.ptr[pos] != '[')
            return; /* junk after ']' */
        const char *close = memchr(key.ptr + pos + 1, ']', key.len - pos - 1);
        if (!close || memchr(key.ptr + pos + 1, '[', (size_t)(close - key.ptr) - pos - 1))
            return; /* unclosed, or '[' inside a segment */
        pos = (size_t)(close - key.ptr) + 1;
        n++;
    }
    *name = bn_str_make(key.ptr, (size_t)(open - key.ptr));
    *brackets = bn_str_make(open, key.len - name->len);
    *nsegs = n;
}

static bn_value *member(bn_value *object, bn_str key)
{
    return (bn_value *)bn_value_get_str(object, key);
}

/* True if following `rest` from `v` lands on an existing value ("[]" never does). */
static bool path_exists(const bn_value *v, bn_str rest)
{
    bn_str seg;
    while (next_seg(&rest, &seg)) {
        if (!seg.len)
            return false;
        v = bn_value_get_str(v, seg);
        if (!v)
            return false;
    }
    return true;
}

static bn_value *new_container(bn_arena *a, bool array)
{
    return array ? bn_value_array(a) : bn_value_object(a);
}

/*
 * The container (an array if `array`) that the segment after `slot` goes into:
 * parent[slot] if parent is an object, else the array parent's last item,
 * unless `rest` already exists in it. Made when missing or of the wrong kind.
 */
static bn_value *descend(bn_arena *a, bn_value *parent, bn_str slot, bool array, bn_str rest)
{
    bn_value_type want = array ? BN_VALUE_ARRAY : BN_VALUE_OBJECT;
    if (parent->type == BN_VALUE_OBJECT) {
        bn_value *cur = member(parent, slot);
        if (cur && cur->type == want)
            return cur;
        cur = new_container(a, array);
        bn_value_set_str(a, parent, slot, cur);
        return cur;
    }
    size_t n = parent->as.array.len;
    bn_value *last = n ? parent->as.array.items[n - 1] : NULL;
    if (last && last->type == want && !path_exists(last, rest))
        return last;
    bn_value *cur = new_container(a, array);
    bn_value_push(a, parent, cur);
    return cur;
}

int bn__params_put(bn_arena *a, bn_value *root, bn_str key, bn_value *value, const bn_params_limits *lim,
                   char *err, size_t errlen)
{
    if (!root || root->type != BN_VALUE_OBJECT)
        bn_fatal("bn__params_put: the params root is not an object");
    bn_params_limits l = bn__params_limits_resolve(lim);
    bn_str name, rest;
    size_t nsegs;
    split_key(key, &name, &rest, &nsegs);
    if (!name.len)
        return 1;
    if (nsegs > l.max_depth) {
        char q[BN__QUOTE_SIZE];
        fail(err, errlen, "parameter %s is nested deeper than %zu levels", bn__quote(key, q), l.max_depth);
        return -1;
    }
    /* `parent` and `slot` say where the next value goes: parent[slot] for an
     * object, the end of parent for an array. */
    bn_value *parent = root;
    bn_str slot = name, seg;
    while (next_seg(&rest, &seg)) {
        parent = descend(a, parent, slot, seg.len == 0, bn_str_make(seg.ptr - 1, rest.len + seg.len + 2));
        slot = seg;
    }
    if (parent->type == BN_VALUE_OBJECT)
        bn_value_set_str(a, parent, slot, value);
    else
        bn_value_push(a, parent, value);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* urlencoded                                                                 */

static int decode_part(bn_arena *a, bn_str raw, bn_str *out, char *err, size_t errlen)
{
    if (bn__percent_decode(a, raw, true, out))
        return 0;
    size_t at = bad_escape(raw);
    char q[BN__QUOTE_SIZE];
    fail(err, errlen, "invalid percent-encoding %s in params",
         bn__quote(bn_str_make(raw.ptr + at, BN_MIN(3, raw.len - at)), q));
    return -1;
}

static int parse_pair(bn_arena *a, bn_str pair, bn_value *into, const bn_params_limits *l, char *err,
                      size_t errlen)
{
    const char *eq = memchr(pair.ptr, '=', pair.len);
    bn_str rkey = eq ? bn_str_make(pair.ptr, (size_t)(eq - pair.ptr)) : pair;
    bn_str rval = eq ? bn_str_make(eq + 1, pair.len - rkey.len - 1) : bn_str_make("", 0);
    if (rkey.len > l->max_key_len) {
        fail(err, errlen, "parameter name longer than %zu bytes", l->max_key_len);
        return -1;
    }
    bn_str key, val;
    if (decode_part(a, rkey, &key, err, errlen) < 0 || decode_part(a, rval, &val, err, errlen) < 0)
        return -1;
    char q[BN__QUOTE_SIZE];
    if (!bn__utf8_valid(key)) {
        fail(err, errlen, "invalid UTF-8 in parameter name %s", bn__quote(key, q));
        return -1;
    }
    if (!bn__utf8_valid(val)) {
        fail(err, errlen, "invalid UTF-8 in the value of parameter %s", bn__quote(key, q));
        return -1;
    }
    return bn__params_put(a, into, key, bn_value_string_ref(a, val), l, err, errlen) < 0 ? -1 : 0;
}

int bn__parse_urlencoded(bn_arena *a, bn_str input, bn_value *into, const bn_params_limits *lim, char *err,
                         size_t errlen)
{
    bn_params_limits l = bn__params_limits_resolve(lim);
    size_t pairs = 0, pos = 0;
    while (pos < input.len) {
        const char *amp = memchr(input.ptr + pos, '&', input.len - pos);
        size_t end = amp ? (size_t)(amp - input.ptr) : input.len;
        bn_str pair = bn_str_make(input.ptr + pos, end - pos);
        pos = end + 1;
        if (!pair.len)
            continue;
        if (++pairs > l.max_pairs) {
            fail(err, errlen, "too many parameters (more than %zu)", l.max_pairs);
            return -1;
        }
        if (parse_pair(a, pair, into, &l, err, errlen) < 0)
            return -1;
    }
    return 0;
}
