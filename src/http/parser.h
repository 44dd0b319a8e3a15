/*
 * The HTTP/1.1 request parser: strict, hand-written, zero-copy.
 *
 * Every bn_str it produces points into the caller's buffer; nothing is
 * allocated or copied. The head parser is restartable in the simplest way:
 * call it again on the grown buffer (heads are small and bounded by
 * max_header_bytes, so re-scanning is cheaper than keeping state).
 * The chunked body decoder keeps state across calls and decodes in place.
 */
#ifndef BENNU_HTTP_PARSER_H
#define BENNU_HTTP_PARSER_H

#include <sys/types.h>

#include "bennu/http.h"

typedef struct bn_http_parse_limits {
    size_t max_request_line; /* request line (without its CRLF) longer than this -> 414 */
    size_t max_header_bytes; /* whole head (request line + fields + blank line) longer -> 431 */
    size_t max_headers;      /* more fields than this -> 431 */
} bn_http_parse_limits;

typedef struct bn_http_request {
    bn_str method;
    bn_method method_id;
    bn_str target; /* request-target as sent */
    bn_str path;   /* origin-form path ("/a/b"); for absolute-form the path part ("/" if empty);
                      "*" for asterisk-form; the authority for CONNECT */
    bn_str query;  /* after '?', empty if none */
    int version_minor; /* 0 or 1 */
    bn_header *headers; /* points at the caller's array */
    size_t nheaders;

    /* Interpreted from the headers: */
    bn_str host;             /* Host value (required for HTTP/1.1); for absolute-form the target's
                                authority, which overrides Host (RFC 9112 §3.2.2) */
    uint64_t content_length; /* valid if has_content_length */
    bool has_content_length;
    bool chunked;          /* Transfer-Encoding: chunked */
    bool keep_alive;       /* from version and Connection */
    bool expect_continue;  /* Expect: 100-continue */
    bn_str upgrade;        /* Upgrade value, if any (WebSocket later) */
} bn_http_request;

/* Parse results (negative values are the HTTP status to answer with). */
enum {
    BN_HTTP_INCOMPLETE = 0,
    BN_HTTP_E400 = -400, /* malformed */
    BN_HTTP_E414 = -414, /* request line too long */
    BN_HTTP_E417 = -417, /* Expect with something other than 100-continue */
    BN_HTTP_E431 = -431, /* head too large / too many fields */
    BN_HTTP_E501 = -501, /* a transfer coding other than chunked */
    BN_HTTP_E505 = -505, /* HTTP major version other than 1 */
};

/**
 * Parses the request head at buf[0..len). `headers` has room for
 * lim->max_headers entries. Returns the length of the head (> 0, up to and
 * including the blank line) on success, BN_HTTP_INCOMPLETE if more bytes are
 * needed, or a negative BN_HTTP_E* status. Limits are enforced on incomplete
 * input too, so a client cannot make the caller buffer more than the limits.
 * Empty lines before the request line are skipped (RFC 9112 §2.2) and count
 * toward the head length.
 */
ssize_t bn_http_parse_request(const char *buf, size_t len, bn_http_request *req, bn_header *headers,
                              const bn_http_parse_limits *lim);

/** State of an in-place chunked body decoder. Zero-initialise before first use. */
typedef struct bn_http_chunked {
    uint64_t decoded;   /* body bytes decoded so far; they sit at region[0..decoded) */
    size_t consumed;    /* raw bytes of the message body consumed so far from region */
    uint64_t remaining; /* private: data bytes left in the current chunk */
    size_t line_bytes;  /* private: bytes in the current size/trailer line */
    size_t trailer_bytes;
    int state;          /* private */
} bn_http_chunked;

/**
 * Decodes the chunked body that starts at `region`, of which `avail` raw bytes
 * have arrived (counted from `region`, including those already consumed).
 * Decoded bytes are moved down to region[d->decoded...], which is safe because
 * decoded never exceeds consumed. Returns 1 when the last chunk and the
 * trailers have been consumed (the body is region[0..d->decoded) and the raw
 * body length is d->consumed; bytes after that belong to the next request),
 * 0 if more input is needed, BN_HTTP_E400 on bad framing, or -413 if the body
 * would exceed `max_body`. Chunk extensions and trailer fields are skipped,
 * each line bounded by `max_line` bytes (-400 beyond).
 */
int bn_http_chunked_decode(bn_http_chunked *d, char *region, size_t avail, uint64_t max_body, size_t max_line);

/** Maps a method name to its enum (BN_METHOD_OTHER if not standard). */
bn_method bn_http_method_id(bn_str method);

#endif /* BENNU_HTTP_PARSER_H */
