/*
 * libFuzzer target for src/socket/ws_deflate.c. Byte 0 picks the agreed
 * parameters (bits 0-2: client window 8 + n, bit 3: client_no_context_takeover,
 * bits 4-6: server window 8 + n, bit 7: server_no_context_takeover), byte 1
 * the inflate limit; the rest is a sequence of messages, each a length byte
 * and that many bytes (the last may be short).
 *
 * The messages are inflated in turn by one connection, so that the history
 * carries over: the answer is 0, 1007 or 1009; on an error `out` is as it
 * was, otherwise it grew by at most the limit; either way no more than the
 * limit (+1, doubled by bn_buf) was reserved. The first message, when it
 * inflates, does the same on a fresh connection, and is too big (1009) for a
 * limit one byte under its size. Every message's bytes, and every inflated
 * result, are also compressed by bn_ws_deflate_message and read back by a
 * connection with the mirrored parameters (the client's side): same bytes.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"

#include "socket/ws_deflate.h"

static const size_t limits[4] = {0, 100, 4096, 1 << 20};

static bn_ws_deflate_params params_of(uint8_t flags)
{
    return (bn_ws_deflate_params){
        .client_max_window_bits = 8 + (flags & 7),
        .client_no_context_takeover = flags & 0x08,
        .server_max_window_bits = 8 + ((flags >> 4) & 7),
        .server_no_context_takeover = flags & 0x80,
    };
}

/* The client's view of the same connection: what we deflate, it inflates. */
static bn_ws_deflate_params mirrored(bn_ws_deflate_params p)
{
    return (bn_ws_deflate_params){
        .client_max_window_bits = p.server_max_window_bits,
        .client_no_context_takeover = p.server_no_context_takeover,
        .server_max_window_bits = p.client_max_window_bits,
        .server_no_context_takeover = p.client_no_context_takeover,
    };
}

/* Inflates `in` into an empty buffer and checks the answer's invariants. */
static int inflate_checked(bn_ws_deflate *d, bn_str in, size_t max_len, bn_buf *out)
{
    bn_buf_append(out, "pre", 3);
    int rc = bn_ws_inflate_message(d, in, max_len, out);
    CHECK(rc == 0 || rc == BN_WS_CLOSE_INVALID_DATA || rc == BN_WS_CLOSE_TOO_BIG);
    CHECK(out->len >= 3 && memcmp(out->data, "pre", 3) == 0);
    if (rc)
        CHECK(out->len == 3);
    else
        CHECK(out->len - 3 <= max_len);
    CHECK(out->cap <= BN_MAX((size_t)64, 2 * (3 + max_len + 1)));
    bn_buf_consume(out, 3);
    return rc;
}

/* Our deflate, the mirrored connection's inflate: the same bytes back. */
static void check_round_trip(bn_ws_deflate *server, bn_ws_deflate *client, bn_str msg)
{
    bn_buf wire = BN_BUF_INIT, back = BN_BUF_INIT;
    bn_ws_deflate_message(server, msg, &wire);
    CHECK(wire.len > 0);
    CHECK(bn_ws_inflate_message(client, bn_str_make(wire.data, wire.len), msg.len, &back) == 0);
    CHECK(bn_str_eq(bn_str_make(back.data, back.len), msg));
    bn_buf_free(&wire);
    bn_buf_free(&back);
}

/* The first message alone, on fresh connections: same result, and one byte less of limit is too little. */
static void check_first(bn_ws_deflate_params p, bn_str in, size_t max_len, bn_str result)
{
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    bn_buf out = BN_BUF_INIT;
    CHECK(inflate_checked(d, in, max_len, &out) == 0);
    CHECK(bn_str_eq(bn_str_make(out.data, out.len), result));
    bn_ws_deflate_free(d);
    bn_buf_free(&out);
    if (result.len > 0) {
        d = bn_ws_deflate_new(&p);
        CHECK(inflate_checked(d, in, result.len - 1, &out) == BN_WS_CLOSE_TOO_BIG);
        bn_ws_deflate_free(d);
        bn_buf_free(&out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bn_ws_deflate_params p = params_of(data[0]), q = mirrored(p);
    size_t max_len = limits[data[1] & 3];
    bn_ws_deflate *conn = bn_ws_deflate_new(&p);
    bn_ws_deflate *server = bn_ws_deflate_new(&p), *client = bn_ws_deflate_new(&q);
    bool inflating = true; /* until an error: then the connection would close */
    bn_buf out = BN_BUF_INIT;
    for (size_t off = 2, n = 0; off < size; n++) {
        size_t len = BN_MIN((size_t)data[off], size - off - 1);
        bn_str msg = bn_str_make((const char *)data + off + 1, len);
        off += 1 + len;
        if (inflating) {
            out.len = 0;
            int rc = inflate_checked(conn, msg, max_len, &out);
            bn_str result = bn_str_make(out.data, out.len);
            if (rc == 0 && n == 0)
                check_first(p, msg, max_len, result);
            if (rc == 0)
                check_round_trip(server, client, result);
            inflating = rc == 0;
        }
        check_round_trip(server, client, msg);
    }
    CHECK(bn_ws_deflate_memory(conn) < (size_t)48 * 1024); /* an inflater only: state and window */
    bn_buf_free(&out);
    bn_ws_deflate_free(conn);
    bn_ws_deflate_free(server);
    bn_ws_deflate_free(client);
    return 0;
}
