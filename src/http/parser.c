/*
 * Strict, zero-copy HTTP/1.1 request head parser and in-place chunked body
 * decoder (RFC 9112, RFC 9110). The contract is in parser.h.
 */
#include "parser.h"

/* ------------------------------------------------------------------------ */
/* Character classes: one 256-byte table of flags, computed at compile time  */
/* from the RFC grammar so that every scanning loop is a single load + test.  */

enum {
    CT_TCHAR = 1 << 0,  /* token (method, field names, connection options) */
    CT_TARGET = 1 << 1, /* request-target byte other than '?' and '#' */
    CT_VALUE = 1 << 2,  /* field-value byte: HTAB, SP, VCHAR, obs-text */
    CT_WS = 1 << 3,     /* SP, HTAB */
    CT_HOST = 1 << 4,   /* uri-host [":" port]: unreserved, pct, sub-delims, ':', '[', ']' */
    CT_DIGIT = 1 << 5,
};

#define IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_VCHAR(c) ((c) >= 0x21 && (c) <= 0x7E)
#define IS_TSPECIAL(c)                                                                                                 \
    ((c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' ||  \
     (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define IS_SUBDELIM(c)                                                                                                 \
    ((c) == '!' || (c) == '$' || (c) == '&' || (c) == '\'' || (c) == '(' || (c) == ')' || (c) == '*' || (c) == '+' ||  \
     (c) == ',' || (c) == ';' || (c) == '=')
#define IS_HOSTCHAR(c)                                                                                                 \
    (IS_ALPHA(c) || IS_DIGIT(c) || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' || (c) == '%' ||              \
     IS_SUBDELIM(c) || (c) == ':' || (c) == '[' || (c) == ']')
#define CLASS(c)                                                                                                       \
    ((IS_ALPHA(c) || IS_DIGIT(c) || IS_TSPECIAL(c) ? CT_TCHAR : 0) |                                                   \
     (IS_VCHAR(c) && (c) != '?' && (c) != '#' ? CT_TARGET : 0) |                                                       \
     (IS_VCHAR(c) || (c) >= 0x80 || (c) == ' ' || (c) == '\t' ? CT_VALUE : 0) |                                        \
     ((c) == ' ' || (c) == '\t' ? CT_WS : 0) | (IS_HOSTCHAR(c) ? CT_HOST : 0) | (IS_DIGIT(c) ? CT_DIGIT : 0))
#define ROW(b)                                                                                                         \
    CLASS(b), CLASS(b + 1), CLASS(b + 2), CLASS(b + 3), CLASS(b + 4), CLASS(b + 5), CLASS(b + 6), CLASS(b + 7),       \
        CLASS(b + 8), CLASS(b + 9), CLASS(b + 10), CLASS(b + 11), CLASS(b + 12), CLASS(b + 13), CLASS(b + 14),         \
        CLASS(b + 15)

static const uint8_t cls[256] = {
    ROW(0x00), ROW(0x10), ROW(0x20), ROW(0x30), ROW(0x40), ROW(0x50), ROW(0x60), ROW(0x70),
    ROW(0x80), ROW(0x90), ROW(0xA0), ROW(0xB0), ROW(0xC0), ROW(0xD0), ROW(0xE0), ROW(0xF0),
};

static inline bool is(char c, unsigned mask) { return cls[(uint8_t)c] & mask; }

/** First byte in [p, end) outside `mask` (or end). Unrolled: this is the hot loop. */
static inline const char *scan(const char *p, const char *end, unsigned mask)
{
    while (end - p >= 4) {
        if (!is(p[0], mask))
            return p;
        if (!is(p[1], mask))
            return p + 1;
        if (!is(p[2], mask))
            return p + 2;
        if (!is(p[3], mask))
            return p + 3;
        p += 4;
    }
    while (p < end && is(*p, mask))
        p++;
    return p;
}

/*
 * Field values are most of a head's bytes, so they are skipped a word at a
 * time (SWAR): a word passes if none of its bytes is a CTL (< 0x20) or DEL.
 * The test is exact as a yes/no; HTAB also fails it and is then sorted out
 * by the table. Bytes >= 0x80 (obs-text) pass, as they should.
 */
static inline bool word_has_ctl(const char *p)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t w;
    memcpy(&w, p, sizeof w); /* an unaligned load */
    uint64_t del = w ^ (ones * 0x7F);
    return (((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & highs;
}

/** First byte in [p, end) that may not appear in a field value (or end). */
static const char *scan_value(const char *p, const char *end)
{
    for (;;) {
        while (end - p >= 8 && !word_has_ctl(p))
            p += 8;
        const char *stop = end - p >= 8 ? p + 8 : end;
        const char *q = scan(p, stop, CT_VALUE);
        if (q < stop || stop == end)
            return q;
        p = stop; /* the word only held HTABs */
    }
}

static bool all_of(bn_str s, unsigned mask) { return s.len == 0 || scan(s.ptr, s.ptr + s.len, mask) == s.ptr + s.len; }

static inline bn_str span(const char *from, const char *to) { return bn_str_make(from, (size_t)(to - from)); }

/**
 * Length of the line ending at p: 2 for CRLF, 1 for a bare LF (RFC 9112 §2.2
 * lets us accept it), 0 if it has not fully arrived, BN_HTTP_E400 for anything
 * else (notably a bare CR).
 */
static int line_end(const char *p, const char *end)
{
    if (p == end)
        return BN_HTTP_INCOMPLETE;
    if (*p == '\n')
        return 1;
    if (*p != '\r')
        return BN_HTTP_E400;
    if (p + 1 == end)
        return BN_HTTP_INCOMPLETE;
    return p[1] == '\n' ? 2 : BN_HTTP_E400;
}

/* ------------------------------------------------------------------------ */
/* Methods                                                                    */

bn_method bn_http_method_id(bn_str m)
{
#define IS_M(lit) (memcmp(m.ptr, lit, sizeof(lit) - 1) == 0) /* the length is the switch's */
    switch (m.len) { /* case-sensitive (RFC 9110 §9.1) */
    case 3:
        return IS_M("GET") ? BN_METHOD_GET : IS_M("PUT") ? BN_METHOD_PUT : BN_METHOD_OTHER;
    case 4:
        return IS_M("POST") ? BN_METHOD_POST : IS_M("HEAD") ? BN_METHOD_HEAD : BN_METHOD_OTHER;
    case 5:
        return IS_M("PATCH") ? BN_METHOD_PATCH : IS_M("TRACE") ? BN_METHOD_TRACE : BN_METHOD_OTHER;
    case 6:
        return IS_M("DELETE") ? BN_METHOD_DELETE : BN_METHOD_OTHER;
    case 7:
        return IS_M("OPTIONS") ? BN_METHOD_OPTIONS : IS_M("CONNECT") ? BN_METHOD_CONNECT : BN_METHOD_OTHER;
    default:
        return BN_METHOD_OTHER;
    }
#undef IS_M
}

/* ------------------------------------------------------------------------ */
/* Request line                                                               */

/** Ran out of bytes at `cap` inside the request line: too long, or wait for more. */
static int out_of_line(const char *line, const char *cap, size_t max)
{
    return (size_t)(cap - line) > max ? BN_HTTP_E414 : BN_HTTP_INCOMPLETE;
}

/** Byte i of "HTTP/" DIGIT "." DIGIT (HTTP-name is case-sensitive). */
static bool version_byte_ok(int i, char c)
{
    if (i < 5)
        return c == "HTTP/"[i];
    return i == 6 ? c == '.' : IS_DIGIT(c);
}

/** Origin-form "/path?query"; `qmark` is the first '?' in the target or NULL. */
static int parse_origin_form(bn_http_request *req, const char *qmark)
{
    const char *t = req->target.ptr, *end = t + req->target.len;
    req->path = span(t, qmark ? qmark : end);
    req->query = qmark ? span(qmark + 1, end) : span(end, end);
    return 0;
}

/** True if the target starts with `scheme` ("http://"), ASCII case-insensitive. */
static bool has_scheme(bn_str t, bn_str scheme)
{
    return t.len >= scheme.len && bn_str_eq_nocase(bn_str_make(t.ptr, scheme.len), scheme);
}

/** Absolute-form "http[s]://authority[/path][?query]" (RFC 9112 §3.2.2). */
static int parse_absolute_form(bn_http_request *req, const char *qmark)
{
    bn_str t = req->target;
    size_t skip;
    if (has_scheme(t, BN_STR("http://")))
        skip = 7;
    else if (has_scheme(t, BN_STR("https://")))
        skip = 8;
    else
        return BN_HTTP_E400;
    const char *auth = t.ptr + skip, *end = t.ptr + t.len;
    const char *stop = qmark ? qmark : end;
    const char *slash = memchr(auth, '/', (size_t)(stop - auth));
    bn_str authority = span(auth, slash ? slash : stop);
    /* '@' (userinfo) is not a host char: RFC 9110 §4.2.4 says treat it as an error. */
    if (authority.len == 0 || !all_of(authority, CT_HOST))
        return BN_HTTP_E400;
    req->host = authority;
    /* An empty path means "/": point at the last '/' of "://" so the slice
     * still lies inside the caller's buffer. */
    req->path = slash ? span(slash, stop) : span(auth - 1, auth);
    req->query = qmark ? span(qmark + 1, end) : span(end, end);
    return 0;
}

/** Authority-form "host:port", only for CONNECT (RFC 9112 §3.2.3). */
static int parse_authority_form(bn_http_request *req)
{
    bn_str t = req->target;
    if (!all_of(t, CT_HOST))
        return BN_HTTP_E400;
    const char *end = t.ptr + t.len, *colon = memrchr(t.ptr, ':', t.len);
    if (!colon || colon == t.ptr || colon + 1 == end || !all_of(span(colon + 1, end), CT_DIGIT))
        return BN_HTTP_E400;
    req->path = t;
    req->query = span(end, end);
    return 0;
}

/** Picks the request-target form allowed for this method and splits it. */
static int parse_target(bn_http_request *req, const char *qmark)
{
    bn_str t = req->target;
    if (req->method_id == BN_METHOD_CONNECT)
        return parse_authority_form(req);
    if (t.ptr[0] == '/')
        return parse_origin_form(req, qmark);
    if (t.len == 1 && t.ptr[0] == '*') {
        if (req->method_id != BN_METHOD_OPTIONS)
            return BN_HTTP_E400;
        req->path = t;
        req->query = span(t.ptr + 1, t.ptr + 1);
        return 0;
    }
    return parse_absolute_form(req, qmark);
}

/**
 * method SP request-target SP HTTP-version line-end. Scans at most
 * max_request_line + 1 content bytes, so an over-long line is refused with
 * 414 whether or not its end has arrived.
 */
static int parse_request_line(const char **pp, const char *end, size_t max, bn_http_request *req)
{
    const char *line = *pp;
    const char *cap = (size_t)(end - line) <= max ? end : line + max + 1;

    const char *p = scan(line, cap, CT_TCHAR);
    if (p == cap)
        return out_of_line(line, cap, max);
    if (*p != ' ' || p == line)
        return BN_HTTP_E400;
    req->method = span(line, p);
    req->method_id = bn_http_method_id(req->method);

    const char *target = ++p, *qmark = NULL;
    for (;;) {
        p = scan(p, cap, CT_TARGET);
        if (p == cap)
            return out_of_line(line, cap, max);
        if (*p != '?')
            break;
        if (!qmark)
            qmark = p;
        p++;
    }
    if (*p != ' ' || p == target) /* '#', CTLs, non-ASCII, a second SP... */
        return BN_HTTP_E400;
    req->target = span(target, p);

    const char *version = ++p;
    for (int i = 0; i < 8; i++, p++) {
        if (p == cap)
            return out_of_line(line, cap, max);
        if (!version_byte_ok(i, *p))
            return BN_HTTP_E400;
    }
    if ((size_t)(p - line) > max)
        return BN_HTTP_E414;
    int n = line_end(p, end);
    if (n <= 0)
        return n;
    if (version[5] != '1')
        return BN_HTTP_E505;
    req->version_minor = version[7] == '0' ? 0 : 1; /* 1.2-1.9: answer as 1.1 */

    int r = parse_target(req, qmark);
    if (r < 0)
        return r;
    *pp = p + n;
    return 1;
}

/** Skips CRLF / LF lines before the request line (RFC 9112 §2.2). */
static int skip_empty_lines(const char **pp, const char *end)
{
    const char *p = *pp;
    while (p < end && (*p == '\r' || *p == '\n')) {
        int n = line_end(p, end);
        if (n <= 0)
            return n;
        p += n;
    }
    *pp = p;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Header fields                                                              */

/** What the field interpretation remembers until the end of the head. */
typedef struct head_ctx {
    int hosts;
    bool absolute_form; /* host comes from the target, not the Host field */
    bool te_seen;
    bool conn_close;
    bool conn_keep_alive;
} head_ctx;

/**
 * field-name ":" OWS field-value OWS line-end, the line starting at *pp with
 * a byte that is neither a line end nor whitespace. Returns 1 and advances.
 */
static int parse_field(const char **pp, const char *end, bn_header *h)
{
    const char *name = *pp;
    const char *p = scan(name, end, CT_TCHAR);
    if (p == end)
        return BN_HTTP_INCOMPLETE;
    if (*p != ':' || p == name) /* also "Name :" (RFC 9112 §5.1 says reject) */
        return BN_HTTP_E400;
    h->name = span(name, p);

    p = scan(p + 1, end, CT_WS);
    const char *value = p;
    p = scan_value(p, end);
    const char *vend = p;
    while (vend > value && is(vend[-1], CT_WS))
        vend--;
    h->value = span(value, vend);

    int n = line_end(p, end); /* a CTL, DEL or NUL in the value lands here: 400 */
    if (n <= 0)
        return n;
    *pp = p + n;
    return 1;
}

static int on_host(bn_http_request *req, head_ctx *cx, bn_str v)
{
    if (++cx->hosts > 1 || !all_of(v, CT_HOST))
        return BN_HTTP_E400;
    if (!cx->absolute_form)
        req->host = v;
    return 0;
}

static int on_content_length(bn_http_request *req, head_ctx *cx, bn_str v)
{
    uint64_t n;
    if (cx->te_seen || !bn_str_to_u64(v, &n)) /* 1*DIGIT only: no sign, list or spaces */
        return BN_HTTP_E400;
    if (req->has_content_length && n != req->content_length)
        return BN_HTTP_E400;
    req->content_length = n;
    req->has_content_length = true;
    return 0;
}

/** The codings must end with exactly one "chunked" (RFC 9112 §6.1, §6.3). */
static int on_transfer_encoding(bn_http_request *req, head_ctx *cx, bn_str v)
{
    if (req->version_minor == 0 || req->has_content_length) /* smuggling vectors */
        return BN_HTTP_E400;
    cx->te_seen = true;
    bn_str coding;
    while (bn_str_list_next(&v, &coding)) {
        if (req->chunked) /* anything after chunked, even chunked again */
            return BN_HTTP_E400;
        if (!bn_str_eq_nocase(coding, BN_STR("chunked")))
            return BN_HTTP_E501;
        req->chunked = true;
    }
    return 0;
}

static int on_connection(head_ctx *cx, bn_str v)
{
    bn_str opt;
    while (bn_str_list_next(&v, &opt)) {
        if (!all_of(opt, CT_TCHAR))
            return BN_HTTP_E400;
        if (bn_str_eq_nocase(opt, BN_STR("close")))
            cx->conn_close = true;
        else if (bn_str_eq_nocase(opt, BN_STR("keep-alive")))
            cx->conn_keep_alive = true;
    }
    return 0;
}

/** Applies the fields the server itself acts on; the others are only stored. */
static int interpret_field(bn_http_request *req, head_ctx *cx, const bn_header *h)
{
    bn_str n = h->name, v = h->value;
    switch (n.len) { /* the length rules out most names without a compare */
    case 4:
        if (bn_str_eq_nocase(n, BN_STR("host")))
            return on_host(req, cx, v);
        break;
    case 6:
        if (bn_str_eq_nocase(n, BN_STR("expect"))) {
            if (!bn_str_eq_nocase(v, BN_STR("100-continue")))
                return BN_HTTP_E417;
            req->expect_continue = true;
        }
        break;
    case 7:
        if (bn_str_eq_nocase(n, BN_STR("upgrade")) && !req->upgrade.ptr)
            req->upgrade = v;
        break;
    case 10:
        if (bn_str_eq_nocase(n, BN_STR("connection")))
            return on_connection(cx, v);
        break;
    case 14:
        if (bn_str_eq_nocase(n, BN_STR("content-length")))
            return on_content_length(req, cx, v);
        break;
    case 17:
        if (bn_str_eq_nocase(n, BN_STR("transfer-encoding")))
            return on_transfer_encoding(req, cx, v);
        break;
    }
    return 0;
}

/** Checks that need the whole head; 1 if it is acceptable. */
static int finish_head(bn_http_request *req, const head_ctx *cx)
{
    if (req->version_minor == 1 && cx->hosts == 0) /* RFC 9112 §3.2 */
        return BN_HTTP_E400;
    if (cx->te_seen && !req->chunked) /* an empty Transfer-Encoding list */
        return BN_HTTP_E400;
    req->keep_alive = !cx->conn_close && (req->version_minor == 1 || cx->conn_keep_alive);
    return 1;
}

/** The fields and the blank line after the request line; advances *pp past them. */
static int parse_fields(const char **pp, const char *end, bn_http_request *req, head_ctx *cx, size_t max_headers)
{
    const char *p = *pp;
    for (;;) {
        if (p == end)
            return BN_HTTP_INCOMPLETE;
        if (*p == '\r' || *p == '\n') {
            int n = line_end(p, end);
            if (n <= 0)
                return n;
            *pp = p + n;
            return 1;
        }
        if (is(*p, CT_WS)) /* obs-fold, or whitespace before the first field */
            return BN_HTTP_E400;
        if (req->nheaders == max_headers)
            return BN_HTTP_E431;
        bn_header *h = &req->headers[req->nheaders];
        int r = parse_field(&p, end, h);
        if (r <= 0)
            return r;
        req->nheaders++;
        r = interpret_field(req, cx, h);
        if (r < 0)
            return r;
    }
}

ssize_t bn_http_parse_request(const char *buf, size_t len, bn_http_request *req, bn_header *headers,
                              const bn_http_parse_limits *lim)
{
    memset(req, 0, sizeof *req);
    req->headers = headers;
    if (len == 0)
        return BN_HTTP_INCOMPLETE;
    /* Never look past max_header_bytes: a head that has not ended by then is 431. */
    const char *p = buf, *end = buf + BN_MIN(len, lim->max_header_bytes);
    head_ctx cx = {0};

    int r = skip_empty_lines(&p, end);
    if (r > 0)
        r = parse_request_line(&p, end, lim->max_request_line, req);
    if (r > 0) {
        cx.absolute_form = req->host.ptr != NULL;
        r = parse_fields(&p, end, req, &cx, lim->max_headers);
    }
    if (r > 0)
        r = finish_head(req, &cx);
    if (r == BN_HTTP_INCOMPLETE && len > lim->max_header_bytes)
        return BN_HTTP_E431;
    return r < 0 || r == BN_HTTP_INCOMPLETE ? r : (ssize_t)(p - buf);
}

/* ------------------------------------------------------------------------ */
/* Chunked body decoder (RFC 9112 §7.1). A byte-wise state machine for the   */
/* framing, a memmove for the data, so it can stop and resume at any byte.   */

enum chunk_state {
    CK_SIZE = 0,      /* chunk-size hex digits (zeroed struct starts here) */
    CK_SIZE_WS,       /* BWS after the size, before ';' or the line end */
    CK_EXT,           /* chunk extensions, skipped */
    CK_SIZE_LF,       /* CR seen at the end of the size line */
    CK_DATA,          /* `remaining` data bytes to move down */
    CK_DATA_CR,       /* the CRLF after the data */
    CK_DATA_LF,
    CK_TRAILER,       /* start of a trailer field or of the final empty line */
    CK_TRAILER_NAME,
    CK_TRAILER_VALUE,
    CK_TRAILER_LF,
    CK_END_LF,        /* CR of the final empty line seen */
    CK_DONE,
    CK_FAIL_400,      /* errors are sticky */
    CK_FAIL_413,
};

#define CHUNK_MAX_DIGITS 16

static int hex_value(uint8_t c)
{
    if (IS_DIGIT(c))
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/** Counts one non-terminator byte of the current size or trailer line. */
static int count_line_byte(bn_http_chunked *d, size_t max_line)
{
    return ++d->line_bytes > max_line ? BN_HTTP_E400 : 0;
}

static int size_line_done(bn_http_chunked *d)
{
    d->line_bytes = 0;
    d->state = d->remaining ? CK_DATA : CK_TRAILER;
    return 0;
}

/** One byte of the chunk-size line. */
static int size_byte(bn_http_chunked *d, uint8_t c, uint64_t max_body, size_t max_line)
{
    if (d->state == CK_SIZE_LF)
        return c == '\n' ? size_line_done(d) : BN_HTTP_E400;
    if (c == '\r' || c == '\n') {
        if (d->state == CK_SIZE && d->line_bytes == 0)
            return BN_HTTP_E400; /* no digits */
        if (c == '\n')
            return size_line_done(d);
        d->state = CK_SIZE_LF;
        return 0;
    }
    if (count_line_byte(d, max_line) < 0)
        return BN_HTTP_E400;
    if (d->state == CK_SIZE) {
        int h = hex_value(c);
        if (h >= 0) {
            if (d->line_bytes > CHUNK_MAX_DIGITS)
                return BN_HTTP_E400;
            d->remaining = d->remaining << 4 | (uint64_t)h;
            /* Refuse as soon as the size is known to be too big. */
            return d->decoded > max_body || d->remaining > max_body - d->decoded ? -413 : 0;
        }
        if (d->line_bytes == 1) /* the line does not start with a digit */
            return BN_HTTP_E400;
        d->state = CK_SIZE_WS; /* the size has ended; c is looked at below */
    }
    if (d->state == CK_EXT) /* skipped, but CTLs are refused */
        return is((char)c, CT_VALUE) ? 0 : BN_HTTP_E400;
    if (c == ';')
        d->state = CK_EXT;
    else if (!is((char)c, CT_WS))
        return BN_HTTP_E400;
    return 0;
}

/** One byte of the CRLF after a chunk's data. */
static int data_end_byte(bn_http_chunked *d, uint8_t c)
{
    if (c == '\r' && d->state == CK_DATA_CR) {
        d->state = CK_DATA_LF;
        return 0;
    }
    if (c != '\n')
        return BN_HTTP_E400;
    d->state = CK_SIZE;
    d->remaining = 0;
    d->line_bytes = 0;
    return 0;
}

/** One byte of the trailer section; 1 once its final empty line has ended. */
static int trailer_byte(bn_http_chunked *d, uint8_t c, size_t max_line)
{
    /* Trailers are skipped, but bounded: each line and all of them together. */
    size_t max_total = max_line > SIZE_MAX / 8 ? SIZE_MAX : max_line * 8;
    if (++d->trailer_bytes > max_total)
        return BN_HTTP_E400;
    switch (d->state) {
    case CK_TRAILER:
        d->line_bytes = 0;
        if (c == '\r' || c == '\n') {
            d->state = c == '\r' ? CK_END_LF : CK_DONE;
            return d->state == CK_DONE;
        }
        if (!is((char)c, CT_TCHAR)) /* obs-fold, empty name, CTLs */
            return BN_HTTP_E400;
        d->state = CK_TRAILER_NAME;
        return count_line_byte(d, max_line);
    case CK_TRAILER_NAME:
        if (c == ':')
            d->state = CK_TRAILER_VALUE;
        else if (!is((char)c, CT_TCHAR))
            return BN_HTTP_E400;
        return count_line_byte(d, max_line);
    case CK_TRAILER_VALUE:
        if (c == '\r' || c == '\n') {
            d->state = c == '\r' ? CK_TRAILER_LF : CK_TRAILER;
            return 0;
        }
        return is((char)c, CT_VALUE) ? count_line_byte(d, max_line) : BN_HTTP_E400;
    case CK_TRAILER_LF:
        if (c != '\n')
            return BN_HTTP_E400;
        d->state = CK_TRAILER;
        return 0;
    default: /* CK_END_LF */
        if (c != '\n')
            return BN_HTTP_E400;
        d->state = CK_DONE;
        return 1;
    }
}

/** Moves as much of the current chunk's data down as has arrived. */
static size_t move_data(bn_http_chunked *d, char *region, size_t pos, size_t avail)
{
    size_t n = avail - pos;
    if (n > d->remaining)
        n = (size_t)d->remaining;
    memmove(region + d->decoded, region + pos, n);
    d->decoded += n;
    d->remaining -= n;
    if (d->remaining == 0)
        d->state = CK_DATA_CR;
    return pos + n;
}

int bn_http_chunked_decode(bn_http_chunked *d, char *region, size_t avail, uint64_t max_body, size_t max_line)
{
    size_t pos = d->consumed;
    int r = 0;
    while (r == 0 && pos < avail) {
        uint8_t c = (uint8_t)region[pos];
        switch (d->state) {
        case CK_DATA:
            pos = move_data(d, region, pos, avail);
            continue;
        case CK_SIZE:
        case CK_SIZE_WS:
        case CK_EXT:
        case CK_SIZE_LF:
            r = size_byte(d, c, max_body, max_line);
            break;
        case CK_DATA_CR:
        case CK_DATA_LF:
            r = data_end_byte(d, c);
            break;
        case CK_DONE:
        case CK_FAIL_400:
        case CK_FAIL_413:
            goto out;
        default:
            r = trailer_byte(d, c, max_line);
            break;
        }
        if (r >= 0)
            pos++;
    }
    if (r < 0)
        d->state = r == -413 ? CK_FAIL_413 : CK_FAIL_400;
out:
    d->consumed = pos;
    switch (d->state) {
    case CK_DONE:
        return 1;
    case CK_FAIL_400:
        return BN_HTTP_E400;
    case CK_FAIL_413:
        return -413;
    default:
        return 0;
    }
}
