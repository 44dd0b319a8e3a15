/*
 * Unit tests for src/http/parser.c: the request head parser (every rule of
 * RFC 9112/9110 it enforces, each limit at and past its edge) and the
 * resumable in-place chunked decoder.
 */
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "http/parser.h"

/* ------------------------------------------------------------------------ */
/* Fixture: every input is copied into a heap block of exactly its size, so */
/* ASan catches any read past `len`.                                         */

static bn_http_parse_limits lim;
static bn_header hdrs[256];
static bn_http_request req;
static char *owned[4096];
static size_t nowned;

static void setup(void) { lim = (bn_http_parse_limits){8192, 32768, 100}; }

static void teardown(void)
{
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    nowned = 0;
}

TestSuite(parser, .init = setup, .fini = teardown);
TestSuite(chunked, .fini = teardown);

static char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    memcpy(p, s, n);
    cr_assert_lt(nowned, BN_ARRAY_LEN(owned));
    owned[nowned++] = p;
    return p;
}

static ssize_t parse_n(const char *s, size_t n) { return bn_http_parse_request(dup_exact(s, n), n, &req, hdrs, &lim); }
static ssize_t parse(const char *s) { return parse_n(s, strlen(s)); }

/* A heap string of `n` copies of `c` (NUL-terminated, owned by the fixture). */
static char *rep(char c, size_t n)
{
    char *p = malloc(n + 1);
    cr_assert_not_null(p);
    cr_assert_lt(nowned, BN_ARRAY_LEN(owned));
    memset(p, c, n);
    p[n] = '\0';
    owned[nowned++] = p;
    return p;
}

static char *fmt(const char *f, ...) BN_PRINTF(1, 2);
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    cr_assert_geq(vasprintf(&s, f, ap), 0);
    va_end(ap);
    cr_assert_lt(nowned, BN_ARRAY_LEN(owned));
    owned[nowned++] = s;
    return s;
}

#define assert_slice(s, want)                                                                                          \
    do {                                                                                                               \
        bn_str s_ = (s);                                                                                               \
        const char *w_ = (want);                                                                                       \
        cr_assert(s_.len == strlen(w_) && (s_.len == 0 || memcmp(s_.ptr, w_, s_.len) == 0),                           \
                  "%s: got \"%.*s\", want \"%s\"", #s, (int)s_.len, s_.ptr ? s_.ptr : "", w_);                        \
    } while (0)

#define assert_status(input, status)                                                                                   \
    do {                                                                                                               \
        const char *in_ = (input);                                                                                     \
        ssize_t r_ = parse(in_);                                                                                       \
        cr_assert_eq(r_, (ssize_t)(status), "got %zd, want %d for: %s", r_, (int)(status), in_);                       \
    } while (0)

#define assert_ok(input) assert_status((input), strlen(input))

#define H11 " HTTP/1.1\r\nHost: h\r\n"

/* ------------------------------------------------------------------------ */
/* Basic requests                                                             */

Test(parser, simple_get)
{
    const char *in = "GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
    cr_assert_eq(parse(in), (ssize_t)strlen(in));
    assert_slice(req.method, "GET");
    cr_assert_eq(req.method_id, BN_METHOD_GET);
    assert_slice(req.target, "/index.html");
    assert_slice(req.path, "/index.html");
    assert_slice(req.query, "");
    cr_assert_eq(req.version_minor, 1);
    cr_assert_eq(req.nheaders, 2);
    cr_assert_eq(req.headers, hdrs);
    assert_slice(req.headers[0].name, "Host");
    assert_slice(req.headers[0].value, "example.com");
    assert_slice(req.headers[1].name, "Accept");
    assert_slice(req.headers[1].value, "*/*");
    assert_slice(req.host, "example.com");
    cr_assert(req.keep_alive);
    cr_assert_not(req.has_content_length);
    cr_assert_not(req.chunked);
    cr_assert_not(req.expect_continue);
    cr_assert_null(req.upgrade.ptr);
}

Test(parser, slices_point_into_the_buffer)
{
    const char *in = "POST /a?b HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\nabc";
    size_t n = strlen(in);
    const char *buf = dup_exact(in, n);
    ssize_t r = bn_http_parse_request(buf, n, &req, hdrs, &lim);
    cr_assert_eq(r, (ssize_t)(n - 3));
    bn_str all[] = {req.method, req.target, req.path, req.query, req.host, req.upgrade};
    for (size_t i = 0; i < BN_ARRAY_LEN(all); i++)
        cr_assert(all[i].ptr >= buf && all[i].ptr + all[i].len <= buf + r, "slice %zu", i);
    for (size_t i = 0; i < req.nheaders; i++) {
        cr_assert(req.headers[i].name.ptr >= buf && req.headers[i].name.ptr + req.headers[i].name.len <= buf + r);
        cr_assert(req.headers[i].value.ptr >= buf && req.headers[i].value.ptr + req.headers[i].value.len <= buf + r);
    }
    cr_assert(req.has_content_length);
    cr_assert_eq(req.content_length, 3);
    assert_slice(req.upgrade, "websocket");
}

Test(parser, empty_input_is_incomplete) { cr_assert_eq(bn_http_parse_request(NULL, 0, &req, hdrs, &lim), 0); }

Test(parser, http10_without_host)
{
    assert_ok("GET / HTTP/1.0\r\n\r\n");
    cr_assert_eq(req.version_minor, 0);
    cr_assert_null(req.host.ptr);
    cr_assert_not(req.keep_alive);
}

Test(parser, request_is_reset_on_every_call)
{
    assert_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    cr_assert(req.has_content_length);
    assert_ok("GET / HTTP/1.0\r\n\r\n");
    cr_assert_not(req.has_content_length);
    cr_assert_not(req.expect_continue);
    cr_assert_null(req.host.ptr);
    cr_assert_eq(req.nheaders, 0);
}

/* ------------------------------------------------------------------------ */
/* Methods                                                                    */

Test(parser, standard_methods_map_to_ids)
{
    static const struct {
        const char *name;
        bn_method id;
    } m[] = {
        {"GET", BN_METHOD_GET},         {"HEAD", BN_METHOD_HEAD},   {"POST", BN_METHOD_POST},
        {"PUT", BN_METHOD_PUT},         {"PATCH", BN_METHOD_PATCH}, {"DELETE", BN_METHOD_DELETE},
        {"OPTIONS", BN_METHOD_OPTIONS}, {"TRACE", BN_METHOD_TRACE},
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(m); i++) {
        assert_ok(fmt("%s /" H11 "\r\n", m[i].name));
        cr_assert_eq(req.method_id, m[i].id, "%s", m[i].name);
        assert_slice(req.method, m[i].name);
        cr_assert_eq(bn_http_method_id(bn_str_from_cstr(m[i].name)), m[i].id);
    }
    assert_ok("CONNECT example.com:443" H11 "\r\n");
    cr_assert_eq(req.method_id, BN_METHOD_CONNECT);
}

Test(parser, method_ids_are_case_sensitive_and_others_are_other)
{
    static const char *other[] = {"get", "Get", "PURGE", "GETS", "GE", "M-SEARCH", "PROPFIND", "POSTX", "X"};
    for (size_t i = 0; i < BN_ARRAY_LEN(other); i++) {
        assert_ok(fmt("%s /" H11 "\r\n", other[i]));
        cr_assert_eq(req.method_id, BN_METHOD_OTHER, "%s", other[i]);
        assert_slice(req.method, other[i]);
    }
    cr_assert_eq(bn_http_method_id(BN_STR("")), BN_METHOD_OTHER);
}

Test(parser, bad_methods)
{
    assert_status("GE(T /" H11 "\r\n", -400);
    assert_status("GE\"T /" H11 "\r\n", -400);
    assert_status(" GET /" H11 "\r\n", -400);
    assert_status("/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);
    assert_status("GET\t/" H11 "\r\n", -400);
    assert_status("G\xc3\x89T /" H11 "\r\n", -400);
}

/* ------------------------------------------------------------------------ */
/* Request line syntax and versions                                           */

Test(parser, request_line_separators_are_single_spaces)
{
    assert_status("GET  /" H11 "\r\n", -400);
    assert_status("GET /  HTTP/1.1\r\nHost: h\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", -400);
    assert_status("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n", -400);
    assert_status("GET / \r\nHost: h\r\n\r\n", -400);
    assert_status("GET /\r\nHost: h\r\n\r\n", -400);
    assert_status("GET\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", -400);
}

Test(parser, version_variants)
{
    assert_ok("GET / HTTP/1.0\r\n\r\n");
    cr_assert_eq(req.version_minor, 0);
    assert_ok("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(req.version_minor, 1);
    for (char d = '2'; d <= '9'; d++) {
        assert_ok(fmt("GET / HTTP/1.%c\r\nHost: h\r\n\r\n", d));
        cr_assert_eq(req.version_minor, 1, "HTTP/1.%c is answered as 1.1", d);
    }
}

Test(parser, other_major_versions_are_505)
{
    assert_status("GET / HTTP/2.0\r\nHost: h\r\n\r\n", -505);
    assert_status("GET / HTTP/0.9\r\n\r\n", -505);
    assert_status("GET / HTTP/3.0\r\nHost: h\r\n\r\n", -505);
    assert_status("GET / HTTP/9.1\r\nHost: h\r\n\r\n", -505);
}

Test(parser, malformed_versions_are_400)
{
    static const char *bad[] = {"HTTP/1", "HTTP/1.", "HTTP/11", "HTTP/1.10", "HTTP/11.1", "http/1.1", "Http/1.1",
                                "HTTP 1.1", "HTTP/1,1", "HTTP/a.1", "HTTP/1.a", "HTTPS/1.1", "HTTP/1.1x", "HTTP/",
                                "HTTP/2", "xTTP/1.1", "HTTP/1.1.1", "HTTP/+1.1"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++)
        assert_status(fmt("GET / %s\r\nHost: h\r\n\r\n", bad[i]), -400);
}

/* ------------------------------------------------------------------------ */
/* Request targets                                                            */

Test(parser, origin_form_splits_path_and_query_at_the_first_question_mark)
{
    assert_ok("GET /a/b?x=1&y=2" H11 "\r\n");
    assert_slice(req.target, "/a/b?x=1&y=2");
    assert_slice(req.path, "/a/b");
    assert_slice(req.query, "x=1&y=2");
    assert_ok("GET /a?b?c" H11 "\r\n");
    assert_slice(req.path, "/a");
    assert_slice(req.query, "b?c");
    assert_ok("GET /a?" H11 "\r\n");
    assert_slice(req.path, "/a");
    assert_slice(req.query, "");
    assert_ok("GET /?q" H11 "\r\n");
    assert_slice(req.path, "/");
    assert_slice(req.query, "q");
    assert_ok("GET /%20a%2Fb" H11 "\r\n");
    assert_slice(req.path, "/%20a%2Fb");
    assert_ok("GET //double//slash" H11 "\r\n");
    assert_slice(req.path, "//double//slash");
}

Test(parser, target_bytes_must_be_visible_ascii)
{
    assert_status("GET /a#frag" H11 "\r\n", -400);
    assert_status("GET /a?x#frag" H11 "\r\n", -400);
    assert_status("GET # HTTP/1.1\r\nHost: h\r\n\r\n", -400);
    assert_status("GET /\xc3\xa9" H11 "\r\n", -400);
    assert_status("GET /\x7f" H11 "\r\n", -400);
    assert_status("GET /\x01" H11 "\r\n", -400);
    assert_status("GET /a\x0b" H11 "\r\n", -400);
    assert_status("GET /\x80" H11 "\r\n", -400);
    assert_status("GET /\xff" H11 "\r\n", -400);
    static const char nul[] = "GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n";
    cr_assert_eq(parse_n(nul, sizeof nul - 1), -400);
    /* All of 0x21..0x7E except '#' are fine. */
    char path[128] = "/";
    size_t n = 1;
    for (int c = 0x21; c <= 0x7e; c++)
        if (c != '#')
            path[n++] = (char)c;
    path[n] = '\0';
    assert_ok(fmt("GET %s" H11 "\r\n", path));
    assert_slice(req.target, path);
}

Test(parser, asterisk_form_only_with_options)
{
    assert_ok("OPTIONS *" H11 "\r\n");
    assert_slice(req.target, "*");
    assert_slice(req.path, "*");
    assert_slice(req.query, "");
    assert_status("GET *" H11 "\r\n", -400);
    assert_status("POST *" H11 "\r\n", -400);
    assert_status("OPTIONS *x" H11 "\r\n", -400);
    assert_status("OPTIONS *?a" H11 "\r\n", -400);
    assert_status("OPTIONS **" H11 "\r\n", -400);
    assert_ok("OPTIONS /x" H11 "\r\n");
    assert_slice(req.path, "/x");
}

Test(parser, absolute_form)
{
    assert_ok("GET http://example.com:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_slice(req.target, "http://example.com:8080/p/q?x=1");
    assert_slice(req.path, "/p/q");
    assert_slice(req.query, "x=1");
    /* RFC 9112 §3.2.2: the target's authority wins over the Host field. */
    assert_slice(req.host, "example.com:8080");

    assert_ok("GET HTTPS://Example.COM HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_slice(req.path, "/");
    assert_slice(req.query, "");
    assert_slice(req.host, "Example.COM");

    assert_ok("GET hTTp://h?x=y" H11 "\r\n");
    assert_slice(req.path, "/");
    assert_slice(req.query, "x=y");
    assert_ok("GET http://h/?" H11 "\r\n");
    assert_slice(req.path, "/");
    assert_slice(req.query, "");
    assert_ok("GET http://[::1]:80/a" H11 "\r\n");
    assert_slice(req.host, "[::1]:80");
    assert_slice(req.path, "/a");
    assert_ok("GET http://h/a?b/c" H11 "\r\n");
    assert_slice(req.path, "/a");
    assert_slice(req.query, "b/c");
    assert_ok("GET http://h?a/b" H11 "\r\n");
    assert_slice(req.host, "h");
    assert_slice(req.path, "/");
    assert_slice(req.query, "a/b");
}

Test(parser, absolute_form_still_needs_host_in_http11)
{
    assert_status("GET http://example.com/ HTTP/1.1\r\n\r\n", -400);
    assert_ok("GET http://example.com/ HTTP/1.0\r\n\r\n");
    assert_slice(req.host, "example.com");
}

Test(parser, bad_absolute_forms)
{
    assert_status("GET http:///x" H11 "\r\n", -400);
    assert_status("GET http://" H11 "\r\n", -400);
    assert_status("GET http://?q" H11 "\r\n", -400);
    assert_status("GET http:/h/x" H11 "\r\n", -400);
    assert_status("GET ftp://h/x" H11 "\r\n", -400);
    assert_status("GET httpx://h/x" H11 "\r\n", -400);
    assert_status("GET http://user@h/x" H11 "\r\n", -400);
    assert_status("GET http://h\"/x" H11 "\r\n", -400);
    assert_status("GET example.com/x" H11 "\r\n", -400);
    assert_status("GET example.com:80" H11 "\r\n", -400);
    assert_status("GET ?x" H11 "\r\n", -400);
    assert_status("GET x" H11 "\r\n", -400);
}

Test(parser, authority_form_only_for_connect)
{
    assert_ok("CONNECT example.com:443" H11 "\r\n");
    assert_slice(req.target, "example.com:443");
    assert_slice(req.path, "example.com:443");
    assert_slice(req.query, "");
    assert_ok("CONNECT [::1]:8443" H11 "\r\n");
    assert_status("CONNECT /" H11 "\r\n", -400);
    assert_status("CONNECT *" H11 "\r\n", -400);
    assert_status("CONNECT http://h:1/" H11 "\r\n", -400);
    assert_status("CONNECT example.com" H11 "\r\n", -400);
    assert_status("CONNECT example.com:" H11 "\r\n", -400);
    assert_status("CONNECT :443" H11 "\r\n", -400);
    assert_status("CONNECT h:44x" H11 "\r\n", -400);
    assert_status("CONNECT u@h:443" H11 "\r\n", -400);
    assert_status("CONNECT h:443?x" H11 "\r\n", -400);
    assert_status("GET example.com:443" H11 "\r\n", -400);
}

/* ------------------------------------------------------------------------ */
/* Line endings                                                               */

Test(parser, leading_empty_lines_are_skipped_and_counted)
{
    const char *in = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    cr_assert_eq(parse(in), (ssize_t)strlen(in));
    assert_slice(req.method, "GET");
    cr_assert_eq(parse("\r\n"), 0);
    cr_assert_eq(parse("\n\n\n"), 0);
    cr_assert_eq(parse("\r"), 0);
    cr_assert_eq(parse("\r\n\r"), 0);
    assert_status("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", -400);
    assert_status("\r\n \r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", -400);
}

Test(parser, leading_empty_lines_are_bounded_by_max_header_bytes)
{
    lim.max_header_bytes = 64;
    cr_assert_eq(parse(rep('\n', 64)), 0);
    cr_assert_eq(parse(rep('\n', 65)), -431);
    cr_assert_eq(parse(fmt("%sGET / HTTP/1.0\r\n\r\n", rep('\n', 64 - 18))), 64);
    cr_assert_eq(parse(fmt("%sGET / HTTP/1.0\r\n\r\n", rep('\n', 65 - 18))), -431);
}

Test(parser, lf_only_lines_are_accepted)
{
    const char *in = "GET /x HTTP/1.1\nHost: h\nX-A: 1\n\n";
    cr_assert_eq(parse(in), (ssize_t)strlen(in));
    cr_assert_eq(req.nheaders, 2);
    assert_slice(req.headers[1].value, "1");
    const char *mixed = "GET /x HTTP/1.1\r\nHost: h\nX-A: 1\r\n\n";
    cr_assert_eq(parse(mixed), (ssize_t)strlen(mixed));
    const char *mixed2 = "GET /x HTTP/1.1\nHost: h\r\n\r\n";
    cr_assert_eq(parse(mixed2), (ssize_t)strlen(mixed2));
}

Test(parser, bare_cr_is_rejected_everywhere)
{
    assert_status("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\rHost: h\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nX\r: y\r\nHost: h\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\n\rX", -400);
    assert_status("G\rET / HTTP/1.1\r\nHost: h\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", -400);
}

/* ------------------------------------------------------------------------ */
/* Header fields                                                              */

Test(parser, field_values_are_trimmed)
{
    assert_ok("GET / HTTP/1.1\r\nHost:h\r\nX-A:   v  \t\r\nX-B:\tin  side\t \r\nX-C:\r\nX-D:   \r\n\r\n");
    cr_assert_eq(req.nheaders, 5);
    assert_slice(req.headers[0].value, "h");
    assert_slice(req.headers[1].name, "X-A");
    assert_slice(req.headers[1].value, "v");
    assert_slice(req.headers[2].value, "in  side");
    assert_slice(req.headers[3].value, "");
    assert_slice(req.headers[4].value, "");
    cr_assert_not_null(req.headers[3].value.ptr);
}

Test(parser, field_values_allow_htab_sp_vchar_and_obs_text)
{
    assert_ok("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb c~!\x80\xff\xc3\xa9\r\n\r\n");
    assert_slice(req.headers[1].value, "a\tb c~!\x80\xff\xc3\xa9");
}

Test(parser, control_bytes_in_values_are_400)
{
    static const char head[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a";
    static const char tail[] = "b\r\n\r\n";
    for (int c = 0; c < 0x20; c++) {
        if (c == '\t' || c == '\r' || c == '\n')
            continue;
        char in[64];
        memcpy(in, head, sizeof head - 1);
        in[sizeof head - 1] = (char)c;
        memcpy(in + sizeof head, tail, sizeof tail - 1);
        cr_assert_eq(parse_n(in, sizeof head + sizeof tail - 1), -400, "byte 0x%02x", c);
    }
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\x7f\r\n\r\n", -400);
}

/* Long values are skipped a word at a time: put each byte at every offset. */
Test(parser, every_byte_at_every_offset_of_a_long_value)
{
    static const char head[] = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    enum { VLEN = 37 };
    char in[sizeof head + VLEN + 8];
    for (int c = 0; c < 256; c++) {
        bool ok = c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
        if (c == '\n')
            continue; /* ends the line; a bare CR must not */
        for (size_t at = 0; at < VLEN; at++) {
            size_t n = sizeof head - 1;
            memcpy(in, head, n);
            memset(in + n, 'v', VLEN);
            in[n + at] = (char)c;
            n += VLEN;
            memcpy(in + n, "\r\n\r\n", 4);
            n += 4;
            ssize_t r = parse_n(in, n);
            if (ok) {
                cr_assert_eq(r, (ssize_t)n, "byte 0x%02x at %zu", c, at);
                size_t vlen = VLEN - ((c == ' ' || c == '\t') && at == VLEN - 1);
                cr_assert_eq(req.headers[1].value.len, vlen - ((c == ' ' || c == '\t') && at == 0),
                             "byte 0x%02x at %zu", c, at);
            } else {
                cr_assert_eq(r, -400, "byte 0x%02x at %zu", c, at);
            }
        }
        teardown();
    }
}

Test(parser, field_names_are_tokens_glued_to_the_colon)
{
    assert_status("GET / HTTP/1.1\r\nHost : h\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nX y: v\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: v\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nX\x7f: v\r\n\r\n", -400);
    assert_ok("GET / HTTP/1.1\r\nHost: h\r\n!#$%&'*+-.^_`|~09AZaz: v\r\n\r\n");
    assert_slice(req.headers[1].name, "!#$%&'*+-.^_`|~09AZaz");
    assert_ok("GET / HTTP/1.1\r\nHost: h\r\nX:a:b: c\r\n\r\n");
    assert_slice(req.headers[1].name, "X");
    assert_slice(req.headers[1].value, "a:b: c");
}

Test(parser, obs_fold_and_leading_whitespace_are_400)
{
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\n Host: h\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\n\r\n", -400); /* no Host */
    assert_status("GET / HTTP/1.1\r\nHost: h\r\n \r\n\r\n", -400);
}

Test(parser, headers_keep_their_order_and_duplicates)
{
    assert_ok("GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\nx: 2\r\nY: 3\r\n\r\n");
    cr_assert_eq(req.nheaders, 4);
    assert_slice(req.headers[1].value, "1");
    assert_slice(req.headers[2].name, "x");
    assert_slice(req.headers[2].value, "2");
    assert_slice(req.headers[3].name, "Y");
}

Test(parser, look_alike_field_names_are_only_stored)
{
    /* Same lengths as the interpreted names, so only the compare tells them apart. */
    assert_ok("GET / HTTP/1.0\r\nDate: Mon\r\nExpecx: foo\r\nReferer: /a\r\nKeep-Alive: 5\r\n"
              "Content-Lengtx: abc\r\nTransfer-Encodinx: gzip\r\n\r\n");
    cr_assert_eq(req.nheaders, 6);
    cr_assert_null(req.host.ptr);
    cr_assert_not(req.expect_continue);
    cr_assert_null(req.upgrade.ptr);
    cr_assert_not(req.keep_alive);
    cr_assert_not(req.has_content_length);
    cr_assert_not(req.chunked);
    assert_slice(req.headers[3].name, "Keep-Alive");
    assert_slice(req.headers[3].value, "5");
}

/* ------------------------------------------------------------------------ */
/* Host                                                                       */

Test(parser, host_rules)
{
    assert_status("GET / HTTP/1.1\r\nX: y\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", -400);
    assert_status("GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n", -400);
    assert_ok("GET / HTTP/1.1\r\nhOsT: Example.com:8080\r\n\r\n");
    assert_slice(req.host, "Example.com:8080");
    assert_ok("GET / HTTP/1.1\r\nHost: [::1]:4000\r\n\r\n");
    assert_slice(req.host, "[::1]:4000");
    assert_ok("GET / HTTP/1.1\r\nHost:\r\n\r\n"); /* empty is allowed (RFC 9110 §7.2) */
    cr_assert_not_null(req.host.ptr);
    cr_assert_eq(req.host.len, 0);
    assert_ok("GET / HTTP/1.0\r\nHost: a\r\n\r\n");
    assert_slice(req.host, "a");
}

Test(parser, host_values_must_be_uri_hosts)
{
    assert_status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: user@h\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\"\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\xc3\xa9\r\n\r\n", -400);
    assert_ok("GET / HTTP/1.1\r\nHost: a-b.c_d~e%41!$&'()*+,;=\r\n\r\n");
}

/* ------------------------------------------------------------------------ */
/* Content-Length and Transfer-Encoding                                       */

Test(parser, content_length_values)
{
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n");
    cr_assert(req.has_content_length);
    cr_assert_eq(req.content_length, 12);
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\ncontent-length:0\r\n\r\n");
    cr_assert(req.has_content_length);
    cr_assert_eq(req.content_length, 0);
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:   42 \t\r\n\r\n");
    cr_assert_eq(req.content_length, 42);
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n");
    cr_assert_eq(req.content_length, UINT64_MAX);
}

Test(parser, bad_content_lengths_are_400)
{
    static const char *bad[] = {"+12", "-1", "1 2", "12a", "", "0x10", "5, 5", "5,5", "1.0",
                                "18446744073709551616", "99999999999999999999999"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++)
        assert_status(fmt("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n\r\n", bad[i]), -400);
}

Test(parser, repeated_content_length)
{
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    cr_assert_eq(req.content_length, 5);
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 005\r\n\r\n");
    cr_assert_eq(req.content_length, 5);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", -400);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\ncontent-length: 1\r\n\r\n", -400);
}

Test(parser, chunked_transfer_encoding)
{
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    cr_assert(req.chunked);
    cr_assert_not(req.has_content_length);
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: CHUNKED\r\n\r\n");
    cr_assert(req.chunked);
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked ,\r\n\r\n");
    cr_assert(req.chunked);
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n");
    cr_assert(req.chunked);
}

Test(parser, transfer_codings_other_than_chunked)
{
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -501);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", -501);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", -501);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", -501);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunkedx\r\n\r\n", -501);
}

Test(parser, chunked_must_be_last_and_single)
{
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", -400);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -400);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                  -400);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", -400);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", -400);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , \r\n\r\n", -400);
}

Test(parser, transfer_encoding_in_http10_is_400)
{
    assert_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400);
    assert_status("POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", -400);
}

Test(parser, transfer_encoding_with_content_length_is_400)
{
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -400);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", -400);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", -400);
}

/* ------------------------------------------------------------------------ */
/* Connection, Expect, Upgrade                                                */

Test(parser, keep_alive_matrix)
{
    static const struct {
        const char *version;
        const char *connection; /* NULL: no Connection field */
        bool keep_alive;
    } m[] = {
        {"1.1", NULL, true},
        {"1.1", "close", false},
        {"1.1", "Close", false},
        {"1.1", "keep-alive", true},
        {"1.1", "keep-alive, close", false},
        {"1.1", "Upgrade, CLOSE", false},
        {"1.1", "closed", true},
        {"1.1", "upgrade", true},
        {"1.0", NULL, false},
        {"1.0", "keep-alive", true},
        {"1.0", "Keep-Alive", true},
        {"1.0", " , keep-alive , ", true},
        {"1.0", "keep-alive, close", false},
        {"1.0", "close", false},
        {"1.0", "upgrade", false},
        {"1.0", "keep-alives", false},
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(m); i++) {
        const char *in = m[i].connection
                             ? fmt("GET / HTTP/%s\r\nHost: h\r\nConnection: %s\r\n\r\n", m[i].version, m[i].connection)
                             : fmt("GET / HTTP/%s\r\nHost: h\r\n\r\n", m[i].version);
        assert_ok(in);
        cr_assert_eq(req.keep_alive, m[i].keep_alive, "%s", in);
    }
}

Test(parser, connection_options_accumulate_over_fields)
{
    assert_ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
    cr_assert_not(req.keep_alive);
    assert_ok("GET / HTTP/1.0\r\nConnection: foo\r\nconnection: keep-alive\r\n\r\n");
    cr_assert(req.keep_alive);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep alive\r\n\r\n", -400);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nConnection: close;x\r\n\r\n", -400);
}

Test(parser, expect)
{
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    cr_assert(req.expect_continue);
    assert_ok("POST / HTTP/1.1\r\nHost: h\r\nexpect:  100-Continue \r\n\r\n");
    cr_assert(req.expect_continue);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue-x\r\n\r\n", -417);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nExpect: foo\r\n\r\n", -417);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nExpect:\r\n\r\n", -417);
    assert_status("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, foo\r\n\r\n", -417);
}

Test(parser, upgrade_value_is_kept)
{
    assert_ok("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_slice(req.upgrade, "websocket");
    cr_assert(req.keep_alive);
    assert_ok("GET /ws HTTP/1.1\r\nHost: h\r\nupgrade: h2c, websocket\r\nUpgrade: other\r\n\r\n");
    assert_slice(req.upgrade, "h2c, websocket");
}

/* ------------------------------------------------------------------------ */
/* Limits                                                                     */

/* "GET /aaa...a HTTP/1.1": a request line of exactly `n` bytes (n >= 15). */
static const char *line_of(size_t n) { return fmt("GET /%s HTTP/1.1", rep('a', n - 14)); }

Test(parser, request_line_limit)
{
    lim.max_request_line = 64;
    cr_assert_eq(strlen(line_of(64)), 64);
    assert_ok(fmt("%s\r\nHost: h\r\n\r\n", line_of(64)));
    assert_status(fmt("%s\r\nHost: h\r\n\r\n", line_of(65)), -414);
    assert_ok(fmt("%s\nHost: h\n\n", line_of(64)));
    assert_status(fmt("%s\nHost: h\n\n", line_of(65)), -414);
    /* Incomplete: no line end yet. */
    cr_assert_eq(parse(line_of(64)), 0);
    cr_assert_eq(parse(fmt("%s\r", line_of(64))), 0);
    cr_assert_eq(parse(line_of(65)), -414);
    cr_assert_eq(parse(fmt("GET /%s", rep('a', 60))), -414);
    cr_assert_eq(parse(fmt("GET /%s", rep('a', 59))), 0);
    cr_assert_eq(parse(rep('A', 65)), -414, "a method alone can be too long");
    cr_assert_eq(parse(rep('A', 64)), 0);
    cr_assert_eq(parse(fmt("GET /%s HTTP/1", rep('a', 59 - 7))), 0);
    cr_assert_eq(parse(fmt("GET /%s HTTP/1.1", rep('a', 51))), -414);
}

Test(parser, request_line_limit_does_not_count_leading_empty_lines)
{
    lim.max_request_line = 64;
    assert_ok(fmt("\r\n\r\n%s\r\nHost: h\r\n\r\n", line_of(64)));
}

/* A head of exactly `n` bytes: request line, Host, a filler field, blank line. */
static const char *head_of(size_t n)
{
    const char *fixed = "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n";
    return fmt("GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", rep('v', n - strlen(fixed)));
}

Test(parser, header_bytes_limit)
{
    lim.max_header_bytes = 256;
    cr_assert_eq(strlen(head_of(256)), 256);
    cr_assert_eq(parse(head_of(256)), 256);
    cr_assert_eq(parse(head_of(257)), -431);
    /* Body bytes after the head do not count. */
    cr_assert_eq(parse(fmt("%sBODYBODY", head_of(256))), 256);
    /* Incomplete but already over. */
    const char *big = head_of(300);
    cr_assert_eq(parse_n(big, 257), -431);
    cr_assert_eq(parse_n(big, 256), 0);
    /* Cut one byte short of the limit's blank line: still waiting. */
    cr_assert_eq(parse_n(head_of(256), 255), 0);
    /* The limit also covers the blank line, in LF form too. */
    size_t lf_fixed = strlen("GET / HTTP/1.1\nHost: h\nX: \n\n");
    const char *lf = fmt("GET / HTTP/1.1\nHost: h\nX: %s\n\n", rep('v', 256 - lf_fixed));
    cr_assert_eq(strlen(lf), 256);
    cr_assert_eq(parse(lf), 256);
    cr_assert_eq(parse(fmt("GET / HTTP/1.1\nHost: h\nX: %s\n\n", rep('v', 257 - lf_fixed))), -431);
}

Test(parser, header_count_limit)
{
    lim.max_headers = 4;
    assert_ok("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    cr_assert_eq(req.nheaders, 4);
    assert_status("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", -431);
    /* As soon as the fifth field starts: the caller must not buffer it. */
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD"), -431);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n"), 0);
    lim.max_headers = 0;
    assert_ok("GET / HTTP/1.0\r\n\r\n");
    assert_status("GET / HTTP/1.0\r\nA: 1\r\n\r\n", -431);
}

Test(parser, many_headers_within_default_limits)
{
    char *in = fmt("GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < 99; i++)
        in = fmt("%sX-%d: %d\r\n", in, i, i);
    in = fmt("%s\r\n", in);
    assert_ok(in);
    cr_assert_eq(req.nheaders, 100);
    assert_slice(req.headers[99].name, "X-98");
    assert_slice(req.headers[99].value, "98");
    cr_assert_eq(parse(fmt("%.*sY: z\r\n\r\n", (int)strlen(in) - 2, in)), -431);
}

/* ------------------------------------------------------------------------ */
/* Incremental input and pipelining                                           */

static const char *valid_requests[] = {
    "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "\r\n\r\nPOST /submit?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
    "GET /x HTTP/1.1\nHost: h\nX-A:  spaced  \n\n",
    ("PUT http://example.com:80/a?b HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n"
     "Expect: 100-continue\r\n\r\n"),
    "OPTIONS * HTTP/1.0\r\n\r\n",
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\nEmpty:\r\nX: \xc3\xa9\r\n\r\n",
};

Test(parser, every_prefix_of_a_valid_request_is_incomplete)
{
    for (size_t i = 0; i < BN_ARRAY_LEN(valid_requests); i++) {
        const char *in = valid_requests[i];
        size_t n = strlen(in);
        cr_assert_eq(parse_n(in, n), (ssize_t)n, "request %zu", i);
        for (size_t k = 0; k < n; k++) {
            ssize_t r = parse_n(in, k); /* an exact-size copy: reading byte k would trip ASan */
            cr_assert_eq(r, 0, "request %zu cut at %zu of %zu gave %zd", i, k, n, r);
        }
        teardown();
    }
}

Test(parser, every_prefix_at_the_limits_is_incomplete)
{
    lim.max_request_line = 64;
    lim.max_header_bytes = 256;
    const char *in = fmt("%s\r\nHost: h\r\nX: %s\r\n\r\n", line_of(64), rep('v', 256 - 64 - 2 - 9 - 5 - 2));
    size_t n = strlen(in);
    cr_assert_eq(n, 256);
    cr_assert_eq(parse(in), 256);
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(parse_n(in, k), 0, "cut at %zu", k);
}

Test(parser, pipelined_requests)
{
    const char *in = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /b HTTP/1.1\r\nHost: y\r\nContent-Length: 2\r\n\r\nhi"
                     "GET /c HTTP/1.0\r\n\r\n";
    size_t n = strlen(in);
    const char *buf = dup_exact(in, n);
    ssize_t r1 = bn_http_parse_request(buf, n, &req, hdrs, &lim);
    cr_assert_eq(r1, (ssize_t)strlen("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_slice(req.path, "/a");
    ssize_t r2 = bn_http_parse_request(buf + r1, n - (size_t)r1, &req, hdrs, &lim);
    cr_assert_gt(r2, 0);
    assert_slice(req.path, "/b");
    cr_assert_eq(req.content_length, 2);
    cr_assert_eq(memcmp(buf + r1 + r2, "hi", 2), 0, "the body follows the head");
    size_t off = (size_t)(r1 + r2) + 2;
    ssize_t r3 = bn_http_parse_request(buf + off, n - off, &req, hdrs, &lim);
    cr_assert_eq(r3, (ssize_t)(n - off));
    assert_slice(req.path, "/c");
    cr_assert_eq(req.version_minor, 0);
}

Test(parser, errors_do_not_depend_on_how_bytes_arrive)
{
    /* Errors are found at the first byte that proves them: a prefix either
     * waits for more or already gives the final answer. */
    static const char *bad[] = {
        "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nX: \x01\r\n\r\n",
        "GET / HTTP/1.1\r\nExpect: nope\r\nHost: h\r\nHost: h\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX y\r\n\r\n",
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++) {
        size_t n = strlen(bad[i]);
        ssize_t full = parse_n(bad[i], n);
        cr_assert_lt(full, 0);
        for (size_t k = 0; k < n; k++) {
            ssize_t r = parse_n(bad[i], k);
            cr_assert(r == 0 || r == full, "input %zu cut at %zu: %zd vs %zd", i, k, r, full);
        }
        teardown();
    }
}

/* ------------------------------------------------------------------------ */
/* Chunked decoder                                                            */

typedef struct decode_result {
    int r;
    uint64_t decoded;
    size_t consumed;
    char *region;
} decode_result;

/* Feeds `body` in pieces ending at the given cut points (ascending), then all. */
static decode_result decode_cuts(const char *body, size_t n, uint64_t max_body, size_t max_line, const size_t *cuts,
                                 size_t ncuts)
{
    char *region = dup_exact(body, n);
    bn_http_chunked d = {0};
    int r = 0;
    for (size_t i = 0; i < ncuts && r == 0; i++) {
        r = bn_http_chunked_decode(&d, region, cuts[i], max_body, max_line);
        cr_assert_leq(d.decoded, d.consumed);
        cr_assert_leq(d.consumed, cuts[i]);
    }
    if (r == 0)
        r = bn_http_chunked_decode(&d, region, n, max_body, max_line);
    cr_assert_leq(d.decoded, d.consumed);
    cr_assert_leq(d.consumed, n);
    return (decode_result){r, d.decoded, d.consumed, region};
}

static decode_result decode_whole(const char *body, size_t n, uint64_t max_body, size_t max_line)
{
    return decode_cuts(body, n, max_body, max_line, NULL, 0);
}

static decode_result decode_bytewise(const char *body, size_t n, uint64_t max_body, size_t max_line)
{
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    for (size_t i = 0; i <= n; i++)
        cuts[i] = i;
    decode_result res = decode_cuts(body, n, max_body, max_line, cuts, n + 1);
    free(cuts);
    return res;
}

static void assert_same(decode_result a, decode_result b, const char *what)
{
    cr_assert_eq(a.r, b.r, "%s: result %d vs %d", what, a.r, b.r);
    cr_assert_eq(a.decoded, b.decoded, "%s: decoded", what);
    cr_assert_eq(a.consumed, b.consumed, "%s: consumed", what);
    cr_assert(memcmp(a.region, b.region, a.decoded) == 0, "%s: data", what);
}

/* Decodes `body` whole, byte by byte and in random pieces; all must agree. */
static decode_result decode_all_ways(const char *body, size_t n, uint64_t max_body, size_t max_line)
{
    decode_result whole = decode_whole(body, n, max_body, max_line);
    assert_same(whole, decode_bytewise(body, n, max_body, max_line), "byte at a time");
    unsigned seed = 12345;
    for (int round = 0; round < 20; round++) {
        size_t cuts[16], ncuts = 0, at = 0;
        while (ncuts < BN_ARRAY_LEN(cuts) && at < n) {
            seed = seed * 1103515245u + 12345u;
            at += (seed >> 16) % 9;
            cuts[ncuts++] = BN_MIN(at, n);
        }
        assert_same(whole, decode_cuts(body, n, max_body, max_line, cuts, ncuts), "random cuts");
    }
    return whole;
}

#define BODY(lit) (lit), sizeof(lit) - 1

static void assert_decodes(const char *body, size_t n, const char *want)
{
    decode_result res = decode_all_ways(body, n, 1 << 20, 256);
    cr_assert_eq(res.r, 1, "result %d for %s", res.r, body);
    cr_assert_eq(res.decoded, strlen(want));
    cr_assert(memcmp(res.region, want, strlen(want)) == 0, "got \"%.*s\"", (int)res.decoded, res.region);
    cr_assert_eq(res.consumed, n);
}

static void assert_decode_fails(const char *body, size_t n, int status)
{
    decode_result res = decode_all_ways(body, n, 1 << 20, 256);
    cr_assert_eq(res.r, status, "got %d, want %d for: %.*s", res.r, status, (int)n, body);
}

Test(chunked, simple_body)
{
    assert_decodes(BODY("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "hello world");
}

Test(chunked, empty_body) { assert_decodes(BODY("0\r\n\r\n"), ""); }

Test(chunked, hex_sizes_any_case_and_leading_zeros)
{
    assert_decodes(BODY("a\r\n0123456789\r\nB\r\nabcdefghijk\r\n000\r\n\r\n"), "0123456789abcdefghijk");
    assert_decodes(BODY("0000000000000003\r\nabc\r\n0\r\n\r\n"), "abc");
    assert_decode_fails(BODY("00000000000000003\r\nabc\r\n0\r\n\r\n"), -400);
    assert_decode_fails(BODY("00000000000000000\r\n\r\n"), -400);
}

Test(chunked, extensions_are_skipped)
{
    assert_decodes(BODY("5;name=value;flag\r\nhello\r\n0;last=\"q;\\\"x\"\r\n\r\n"), "hello");
    assert_decodes(BODY("5 ; a=b\r\nhello\r\n0\t;x\r\n\r\n"), "hello");
    assert_decodes(BODY("5  \r\nhello\r\n0\r\n\r\n"), "hello");
    assert_decodes(BODY("5;\xc3\xa9\r\nhello\r\n0\r\n\r\n"), "hello");
}

Test(chunked, trailers_are_skipped)
{
    assert_decodes(BODY("3\r\nabc\r\n0\r\nX-Sum: 123\r\nY:\r\nZ:  a b\t\r\n\r\n"), "abc");
}

Test(chunked, lf_only_lines)
{
    assert_decodes(BODY("3\nabc\n0\nX: y\n\n"), "abc");
    assert_decodes(BODY("3\r\nabc\n0\nX: y\r\n\n"), "abc");
}

Test(chunked, data_may_contain_crlf_and_binary)
{
    static const char body[] = "4\r\n\r\n\0\xff\r\n0\r\n\r\n";
    decode_result res = decode_all_ways(body, sizeof body - 1, 1 << 20, 256);
    cr_assert_eq(res.r, 1);
    cr_assert_eq(res.decoded, 4);
    cr_assert(memcmp(res.region, "\r\n\0\xff", 4) == 0);
}

Test(chunked, malformed_sizes)
{
    assert_decode_fails(BODY("\r\nhello\r\n0\r\n\r\n"), -400);
    assert_decode_fails(BODY("g\r\n"), -400);
    assert_decode_fails(BODY("5x\r\nhello\r\n"), -400);
    assert_decode_fails(BODY("-5\r\nhello\r\n"), -400);
    assert_decode_fails(BODY("+5\r\nhello\r\n"), -400);
    assert_decode_fails(BODY("0x5\r\nhello\r\n"), -400);
    assert_decode_fails(BODY("5 5\r\nhello\r\n"), -400);
    assert_decode_fails(BODY(" 5\r\nhello\r\n"), -400);
    assert_decode_fails(BODY(";x\r\n"), -400);
    assert_decode_fails(BODY("5\rhello\r\n"), -400);
    assert_decode_fails(BODY("5;a\x01\r\nhello\r\n"), -400);
    assert_decode_fails(BODY("5;a\x7f\r\nhello\r\n"), -400);
    assert_decode_fails(BODY("5\0\r\nhello\r\n"), -400);
    assert_decode_fails(BODY("0\r\r\n\r\n"), -400);
}

Test(chunked, missing_crlf_after_data)
{
    assert_decode_fails(BODY("5\r\nhelloX\r\n0\r\n\r\n"), -400);
    assert_decode_fails(BODY("5\r\nhello\rX0\r\n\r\n"), -400);
    assert_decode_fails(BODY("5\r\nhello0\r\n\r\n"), -400);
    assert_decode_fails(BODY("5\r\nhello\r\r\n0\r\n\r\n"), -400);
}

Test(chunked, malformed_trailers)
{
    assert_decode_fails(BODY("0\r\nX: a\r\n b\r\n\r\n"), -400);
    assert_decode_fails(BODY("0\r\n X: a\r\n\r\n"), -400);
    assert_decode_fails(BODY("0\r\nNoColon\r\n\r\n"), -400);
    assert_decode_fails(BODY("0\r\n: v\r\n\r\n"), -400);
    assert_decode_fails(BODY("0\r\nX : v\r\n\r\n"), -400);
    assert_decode_fails(BODY("0\r\nX: a\x01\r\n\r\n"), -400);
    assert_decode_fails(BODY("0\r\nX: a\rb\r\n\r\n"), -400);
    assert_decode_fails(BODY("0\r\n\rX"), -400);
}

Test(chunked, incomplete_bodies_wait)
{
    static const char body[] = "5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n";
    size_t n = sizeof body - 1;
    for (size_t k = 0; k < n; k++) {
        decode_result res = decode_whole(body, k, 1 << 20, 256);
        cr_assert_eq(res.r, 0, "cut at %zu gave %d", k, res.r);
        decode_result step = decode_bytewise(body, k, 1 << 20, 256);
        cr_assert_eq(step.r, 0);
        cr_assert_eq(step.consumed, k, "everything that arrived is consumed");
    }
}

Test(chunked, max_body)
{
    static const char body[] = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    decode_result ok = decode_all_ways(body, sizeof body - 1, 11, 256);
    cr_assert_eq(ok.r, 1);
    cr_assert_eq(ok.decoded, 11);
    decode_result over = decode_all_ways(body, sizeof body - 1, 10, 256);
    cr_assert_eq(over.r, -413);
    cr_assert_eq(over.decoded, 5, "the first chunk fitted");
    /* Refused on the size alone, before the data arrives. */
    decode_result early = decode_whole(BODY("b"), 10, 256);
    cr_assert_eq(early.r, -413);
    decode_result huge = decode_all_ways(BODY("ffffffffffffffff\r\n"), 1 << 20, 256);
    cr_assert_eq(huge.r, -413);
    decode_result zero = decode_all_ways(BODY("1\r\nx\r\n0\r\n\r\n"), 0, 256);
    cr_assert_eq(zero.r, -413);
    decode_result empty = decode_all_ways(BODY("0\r\n\r\n"), 0, 256);
    cr_assert_eq(empty.r, 1);
}

Test(chunked, size_line_limit)
{
    /* "5;" plus extension: exactly 16 bytes is fine, 17 is not. */
    static const char at[] = "5;xxxxxxxxxxxxxx\r\nhello\r\n0\r\n\r\n";
    static const char over[] = "5;xxxxxxxxxxxxxxx\r\nhello\r\n0\r\n\r\n";
    cr_assert_eq(decode_all_ways(at, sizeof at - 1, 1 << 20, 16).r, 1);
    cr_assert_eq(decode_all_ways(over, sizeof over - 1, 1 << 20, 16).r, -400);
    /* Bounded while incomplete too. */
    cr_assert_eq(decode_whole(BODY("5;xxxxxxxxxxxxxxx"), 1 << 20, 16).r, -400);
    cr_assert_eq(decode_whole(BODY("5;xxxxxxxxxxxxxx"), 1 << 20, 16).r, 0);
}

Test(chunked, trailer_line_limit)
{
    static const char at[] = "0\r\nX: 3456789012345\r\n\r\n";    /* a 16-byte line */
    static const char over[] = "0\r\nX: 34567890123456\r\n\r\n"; /* 17 bytes */
    cr_assert_eq(decode_all_ways(at, sizeof at - 1, 1 << 20, 16).r, 1);
    cr_assert_eq(decode_all_ways(over, sizeof over - 1, 1 << 20, 16).r, -400);
}

Test(chunked, trailer_total_limit)
{
    /* max_line 16: all trailer bytes together may not exceed 8 * 16 = 128. */
    char body[512] = "0\r\n";
    for (int i = 0; i < 10; i++)
        strcat(body, "X: 34567890123\r\n"); /* 16 bytes each with CRLF */
    strcat(body, "\r\n");
    size_t n = strlen(body);
    cr_assert_eq(decode_all_ways(body, n, 1 << 20, 16).r, -400);
    char ok[512] = "0\r\n";
    for (int i = 0; i < 7; i++)
        strcat(ok, "X: 34567890123\r\n");
    strcat(ok, "\r\n");
    cr_assert_eq(decode_all_ways(ok, strlen(ok), 1 << 20, 16).r, 1);
}

Test(chunked, bytes_after_the_body_stay_untouched)
{
    static const char in[] = "3\r\nabc\r\n2;x\r\nde\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t body_len = strlen("3\r\nabc\r\n2;x\r\nde\r\n0\r\nT: 1\r\n\r\n");
    decode_result res = decode_all_ways(in, sizeof in - 1, 1 << 20, 256);
    cr_assert_eq(res.r, 1);
    cr_assert_eq(res.consumed, body_len);
    cr_assert_eq(res.decoded, 5);
    cr_assert(memcmp(res.region, "abcde", 5) == 0);
    cr_assert(memcmp(res.region + res.consumed, in + body_len, sizeof in - 1 - body_len) == 0);
    /* And the next request parses from there. */
    lim = (bn_http_parse_limits){8192, 32768, 100};
    ssize_t r = bn_http_parse_request(res.region + res.consumed, sizeof in - 1 - body_len, &req, hdrs, &lim);
    cr_assert_eq(r, (ssize_t)(sizeof in - 1 - body_len));
}

Test(chunked, finished_and_failed_states_are_sticky)
{
    static const char in[] = "1\r\nx\r\n0\r\n\r\nNEXT";
    char *region = dup_exact(in, sizeof in - 1);
    bn_http_chunked d = {0};
    cr_assert_eq(bn_http_chunked_decode(&d, region, sizeof in - 1, 100, 64), 1);
    bn_http_chunked copy = d;
    cr_assert_eq(bn_http_chunked_decode(&d, region, sizeof in - 1, 100, 64), 1);
    cr_assert_eq(memcmp(&copy, &d, sizeof d), 0);
    cr_assert_eq(memcmp(region + d.consumed, "NEXT", 4), 0);

    static const char badin[] = "zz\r\n";
    char *bad = dup_exact(badin, 4);
    bn_http_chunked e = {0};
    cr_assert_eq(bn_http_chunked_decode(&e, bad, 4, 100, 64), -400);
    cr_assert_eq(bn_http_chunked_decode(&e, bad, 4, 100, 64), -400);
    char *fresh = dup_exact(in, sizeof in - 1);
    bn_http_chunked f = {0};
    cr_assert_eq(bn_http_chunked_decode(&f, fresh, 1, 0, 64), -413);
    cr_assert_eq(bn_http_chunked_decode(&f, fresh, sizeof in - 1, 100, 64), -413);
}

Test(chunked, large_body_in_random_pieces)
{
    /* 200 chunks of varying sizes with extensions, and a trailer. */
    size_t cap = 200 * 300, n = 0, want_len = 0;
    char *body = malloc(cap), *want = malloc(cap);
    unsigned seed = 7;
    for (int i = 0; i < 200; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = 1 + (seed >> 16) % 200;
        n += (size_t)sprintf(body + n, i % 3 ? "%zx\r\n" : "%zX;i=%d\r\n", len, i);
        for (size_t k = 0; k < len; k++)
            want[want_len++] = body[n++] = (char)('a' + (i + k) % 26);
        body[n++] = '\r';
        body[n++] = '\n';
    }
    n += (size_t)sprintf(body + n, "0\r\nDone: yes\r\n\r\n");
    decode_result res = decode_all_ways(body, n, 1 << 20, 64);
    cr_assert_eq(res.r, 1);
    cr_assert_eq(res.consumed, n);
    cr_assert_eq(res.decoded, want_len);
    cr_assert(memcmp(res.region, want, want_len) == 0);
    free(body);
    free(want);
}
