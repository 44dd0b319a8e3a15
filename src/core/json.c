/*
 * JSON for the value tree: parsing through jansson (then copied into the
 * arena), and a hand-written streaming encoder into a bn_buf (hot path).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bennu/value.h"

#define MAX_DEPTH 64

/* ---- parsing ----------------------------------------------------------- */

static void set_error(bn_json_error *err, int line, int column, const char *text)
{
    if (!err)
        return;
    err->line = line;
    err->column = column;
    snprintf(err->text, sizeof(err->text), "%s", text);
}

/*
 * Line and column (1-based; columns count UTF-8 characters, like jansson's)
 * of the bracket that opens nesting level `level`. Only called on the error
 * path, after jansson has accepted the text, so it may assume valid JSON.
 */
static void locate_depth(bn_str json, int level, int *line, int *column)
{
    int depth = 0, ln = 1, col = 0;
    bool in_string = false;
    for (size_t i = 0; i < json.len; i++) {
        unsigned char c = (unsigned char)json.ptr[i];
        if ((c & 0xC0) != 0x80) /* count characters, not continuation bytes */
            col++;
        if (c == '\n') {
            ln++;
            col = 0;
        } else if (in_string) {
            if (c == '\\')
                i++, col++; /* the escaped character is ASCII */
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth == level)
                break;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    *line = ln;
    *column = col;
}

/* Copies a jansson tree into the arena; NULL once `depth` exceeds the limit. */
static bn_value *convert(bn_arena *a, json_t *j, int depth)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        return bn_value_null(a);
    case JSON_TRUE:
        return bn_value_bool(a, true);
    case JSON_FALSE:
        return bn_value_bool(a, false);
    case JSON_INTEGER:
        return bn_value_int(a, (int64_t)json_integer_value(j));
    case JSON_REAL:
        return bn_value_float(a, json_real_value(j));
    case JSON_STRING:
        return bn_value_string(a, bn_str_make(json_string_value(j), json_string_length(j)));
    case JSON_ARRAY: {
        if (depth >= MAX_DEPTH)
            return NULL;
        /* Exact-size allocation: the length is known up front. */
        size_t n = json_array_size(j);
        bn_value *v = bn_value_array(a);
        v->as.array.items = n ? bn_arena_alloc(a, n * sizeof(bn_value *)) : NULL;
        v->as.array.cap = n;
        for (size_t i = 0; i < n; i++) {
            bn_value *item = convert(a, json_array_get(j, i), depth + 1);
            if (!item)
                return NULL;
            v->as.array.items[v->as.array.len++] = item;
        }
        return v;
    }
    case JSON_OBJECT: {
        if (depth >= MAX_DEPTH)
            return NULL;
        /* jansson already merged duplicate keys (last wins) and keeps
         * insertion order, so members are appended without a lookup. */
        size_t n = json_object_size(j);
        bn_value *v = bn_value_object(a);
        v->as.object.members = n ? bn_arena_alloc(a, n * sizeof(bn_value_member)) : NULL;
        v->as.object.cap = n;
        for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it)) {
            bn_value *item = convert(a, json_object_iter_value(it), depth + 1);
            if (!item)
                return NULL;
            size_t klen = json_object_iter_key_len(it);
            bn_value_member *m = &v->as.object.members[v->as.object.len++];
            m->key = bn_str_make(bn_arena_strndup(a, json_object_iter_key(it), klen), klen);
            m->value = item;
        }
        return v;
    }
    }
    return NULL;
}

bn_value *bn_json_parse(bn_arena *a, bn_str json, bn_json_error *err)
{
    /* DECODE_ANY: RFC 8259 allows a scalar document. ALLOW_NUL: "\u0000" is
     * fine in a length-counted bn_str. EOF check stays on: trailing junk fails. */
    json_error_t je;
    json_t *root = json_loadb(json.len ? json.ptr : "", json.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!root) {
        set_error(err, je.line, je.column, je.text);
        return NULL;
    }
    bn_value *v = convert(a, root, 0);
    json_decref(root);
    if (!v && err) {
        int line, column;
        locate_depth(json, MAX_DEPTH + 1, &line, &column);
        set_error(err, line, column, "nesting deeper than 64 levels");
    }
    return v;
}

/* ---- encoding ---------------------------------------------------------- */

static void put(bn_buf *out, const char *s, size_t n) { bn_buf_append(out, s, n); }

/* Length of the valid UTF-8 sequence at s[0..n) (shortest form, no
 * surrogates, at most U+10FFFF), or 0 if it is invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Bytes that pass through unchanged: printable ASCII except " and \. */
static inline bool plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

void bn_json_encode_string(bn_buf *out, bn_str s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t n = s.len;
    put(out, "\"", 1);
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && plain(p[run]))
            run++;
        put(out, (const char *)p + i, run - i); /* copy runs, not bytes */
        i = run;
        if (i == n)
            break;
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t len = utf8_seq(p + i, n - i);
            if (len) {
                put(out, (const char *)p + i, len);
                i += len;
            } else {
                /* Invalid UTF-8 would make the whole document invalid. */
                put(out, "\xEF\xBF\xBD", 3);
                i++;
            }
            continue;
        }
        char esc[6] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        put(out, esc, elen);
        i++;
    }
    put(out, "\"", 1);
}

static void encode_int(bn_buf *out, int64_t i)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    /* Work on the unsigned magnitude so INT64_MIN does not overflow. */
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0)
        *--p = '-';
    put(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

/*
 * Shortest of %.15g..%.17g that reads back as the same double, so 0.1 is
 * "0.1", not "0.10000000000000001". An integral result gets ".0" so the
 * value parses back as a float, not an integer. NaN and infinities have no
 * JSON form and become null.
 */
static void encode_float(bn_buf *out, double f)
{
    if (!isfinite(f)) {
        put(out, "null", 4);
        return;
    }
    char tmp[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof(tmp), "%.*g", prec, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    bool integral = true;
    for (int i = 0; i < n; i++) {
        if (tmp[i] == ',') /* a non-C LC_NUMERIC locale */
            tmp[i] = '.';
        if (tmp[i] == '.' || tmp[i] == 'e' || tmp[i] == 'E')
            integral = false;
    }
    put(out, tmp, (size_t)n);
    if (integral)
        put(out, ".0", 2);
}

void bn_json_encode(bn_buf *out, const bn_value *v)
{
    if (!v) {
        put(out, "null", 4);
        return;
    }
    switch (v->type) {
    case BN_VALUE_NULL:
        put(out, "null", 4);
        break;
    case BN_VALUE_BOOL:
        if (v->as.b)
            put(out, "true", 4);
        else
            put(out, "false", 5);
        break;
    case BN_VALUE_INT:
        encode_int(out, v->as.i);
        break;
    case BN_VALUE_FLOAT:
        encode_float(out, v->as.f);
        break;
    case BN_VALUE_STRING:
        bn_json_encode_string(out, v->as.s);
        break;
    case BN_VALUE_ARRAY:
        put(out, "[", 1);
        for (size_t i = 0; i < v->as.array.len; i++) {
            if (i)
                put(out, ",", 1);
            bn_json_encode(out, v->as.array.items[i]);
        }
        put(out, "]", 1);
        break;
    case BN_VALUE_OBJECT:
        put(out, "{", 1);
        for (size_t i = 0; i < v->as.object.len; i++) {
            if (i)
                put(out, ",", 1);
            bn_json_encode_string(out, v->as.object.members[i].key);
            put(out, ":", 1);
            bn_json_encode(out, v->as.object.members[i].value);
        }
        put(out, "}", 1);
        break;
    }
}
