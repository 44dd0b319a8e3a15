/*
 * libFuzzer target for src/http/parser.c: parses the input as a request head,
 * checks the parser's invariants, and runs the chunked decoder whole and split.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

#include "http/parser.h"

enum { MAX_HEADERS = 16 };

static const bn_http_parse_limits limits = {
    .max_request_line = 256,
    .max_header_bytes = 1024,
    .max_headers = MAX_HEADERS,
};

/* A slice must be NULL-and-empty or lie within buf[0..len). */
static void check_slice(bn_str s, const char *buf, size_t len)
{
    if (!s.ptr) {
        CHECK(s.len == 0);
        return;
    }
    CHECK(s.ptr >= buf && s.ptr <= buf + len);
    CHECK(s.len <= (size_t)(buf + len - s.ptr));
}

static bool is_status(ssize_t r)
{
    return r == BN_HTTP_E400 || r == BN_HTTP_E414 || r == BN_HTTP_E417 || r == BN_HTTP_E431 ||
           r == BN_HTTP_E501 || r == BN_HTTP_E505;
}

static void check_request(const bn_http_request *req, const bn_header *headers, const char *buf, size_t head)
{
    CHECK(req->headers == headers && req->nheaders <= MAX_HEADERS);
    CHECK(req->method.len > 0 && req->target.len > 0 && req->path.len > 0);
    CHECK(req->target.len <= limits.max_request_line);
    CHECK(req->version_minor == 0 || req->version_minor == 1);
    CHECK(req->method_id == bn_http_method_id(req->method));
    CHECK(!(req->chunked && req->has_content_length));
    CHECK(req->version_minor == 0 || req->host.ptr != NULL);
    bn_str all[] = {req->method, req->target, req->path, req->query, req->host, req->upgrade};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        check_slice(all[i], buf, head);
    for (size_t i = 0; i < req->nheaders; i++) {
        check_slice(headers[i].name, buf, head);
        check_slice(headers[i].value, buf, head);
        CHECK(headers[i].name.len > 0);
    }
}

typedef struct decode_run {
    int r;
    bn_http_chunked d;
    char *region;
} decode_run;

/* Decodes region (a fresh copy of body) in up to two calls: [0, split) then all. */
static decode_run decode(const uint8_t *body, size_t n, size_t split)
{
    decode_run run = {0};
    run.region = malloc(n ? n : 1);
    CHECK(run.region);
    if (n)
        memcpy(run.region, body, n);
    const uint64_t max_body = 4096;
    const size_t max_line = 64;
    if (split < n) {
        run.r = bn_http_chunked_decode(&run.d, run.region, split, max_body, max_line);
        CHECK(run.d.decoded <= run.d.consumed && run.d.consumed <= split);
    }
    if (run.r == 0)
        run.r = bn_http_chunked_decode(&run.d, run.region, n, max_body, max_line);
    CHECK(run.r == 1 || run.r == 0 || run.r == BN_HTTP_E400 || run.r == -413);
    CHECK(run.d.decoded <= run.d.consumed && run.d.consumed <= n);
    CHECK(run.d.decoded <= max_body);
    /* The bytes after the body belong to the next request: untouched. */
    size_t rest = n - run.d.consumed;
    if (run.r == 1 && rest)
        CHECK(memcmp(run.region + run.d.consumed, body + run.d.consumed, rest) == 0);
    return run;
}

static void check_chunked(const uint8_t *body, size_t n, size_t seed)
{
    decode_run whole = decode(body, n, n);
    size_t splits[] = {n ? seed % (n + 1) : 0, n / 2, n ? n - 1 : 0};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
        decode_run part = decode(body, n, splits[i]);
        CHECK(part.r == whole.r);
        CHECK(part.d.decoded == whole.d.decoded && part.d.consumed == whole.d.consumed);
        CHECK(whole.d.decoded == 0 || memcmp(part.region, whole.region, whole.d.decoded) == 0);
        free(part.region);
    }
    free(whole.region);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past `size`. */
    char *buf = malloc(size ? size : 1);
    CHECK(buf);
    buf[0] = '\0'; /* only matters when size == 0, where nothing may be read */
    if (size)
        memcpy(buf, data, size);
    bn_header headers[MAX_HEADERS];
    bn_http_request req;
    ssize_t r = bn_http_parse_request(buf, size, &req, headers, &limits);
    CHECK(r == BN_HTTP_INCOMPLETE || is_status(r) || (r > 0 && (size_t)r <= size));
    CHECK(r <= (ssize_t)limits.max_header_bytes);
    if (r > 0)
        check_request(&req, headers, buf, (size_t)r);

    /* A prefix either waits for more bytes or already gives the same answer. */
    size_t seed = size ? data[size - 1] * 131u + data[0] : 0;
    size_t cut = size ? seed % size : 0;
    bn_http_request preq;
    ssize_t pr = bn_http_parse_request(buf, cut, &preq, headers, &limits);
    CHECK(pr == BN_HTTP_INCOMPLETE || pr == r);
    if (r > 0)
        CHECK(cut < (size_t)r ? pr == BN_HTTP_INCOMPLETE : pr == r);

    if (r > 0 && req.chunked)
        check_chunked(data + r, size - (size_t)r, seed);
    /* The decoder is also fed the raw input directly: most inputs never get
     * past a valid head, and framing bugs should not hide behind it. */
    check_chunked(data, size, seed);
    free(buf);
    return 0;
}
