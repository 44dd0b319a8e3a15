/*
 * Unit tests for src/socket/ws_deflate.c (RFC 7692 permessage-deflate): the
 * RFC's §7.2.3 example bytes, round trips against plain zlib playing the
 * client (raw deflate, Z_SYNC_FLUSH, tail stripped; raw inflate with the tail
 * put back), context takeover and no_context_takeover on each side, every
 * window size, empty and 1 MiB messages, the max_len limit against a zip bomb,
 * corrupt and truncated input, and the memory count.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "socket/ws_deflate.h"

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static bn_ws_deflate_params params(int server_bits, int client_bits, bool server_nct, bool client_nct)
{
    return (bn_ws_deflate_params){.server_no_context_takeover = server_nct,
                                  .client_no_context_takeover = client_nct,
                                  .server_max_window_bits = server_bits,
                                  .client_max_window_bits = client_bits};
}

static bn_str str_of(const bn_buf *b) { return bn_str_make(b->data, b->len); }
static bn_str bytes_str(const uint8_t *p, size_t n) { return bn_str_make((const char *)p, n); }

/* Deterministic text with repeats at all distances: words drawn from a small vocabulary, plus numbers. */
static char *make_text(size_t len, unsigned seed)
{
    static const char *words[] = {"phx_join", "room:lobby", "payload", "\"status\":\"ok\"", "user", "message",
                                  "hello", "world", "presence_diff", "joins", "leaves", "metas"};
    char *t = malloc(len + 1);
    size_t at = 0;
    uint32_t x = seed * 2654435761u + 1;
    while (at < len) {
        x = x * 1103515245u + 12345u;
        char piece[48];
        int n = (x >> 28) < 3 ? snprintf(piece, sizeof(piece), "%u,", (x >> 8) & 0xffff)
                              : snprintf(piece, sizeof(piece), "%s ", words[(x >> 16) % BN_ARRAY_LEN(words)]);
        size_t k = BN_MIN((size_t)n, len - at);
        memcpy(t + at, piece, k);
        at += k;
    }
    t[len] = 0;
    return t;
}

/* ------------------------------------------------------------------------ */
/* The client's side, written with plain zlib.                                */

typedef struct {
    z_stream z;
} peer;

static void client_deflater(peer *c, int bits)
{
    memset(c, 0, sizeof(*c));
    /* zlib has no raw 8-bit deflate: a zlib client that agreed to 8 uses 9 (see ws_deflate.c). */
    cr_assert_eq(deflateInit2(&c->z, 6, Z_DEFLATED, -BN_MAX(bits, 9), 8, Z_DEFAULT_STRATEGY), Z_OK);
}

static void client_inflater(peer *c, int bits)
{
    memset(c, 0, sizeof(*c));
    cr_assert_eq(inflateInit2(&c->z, -bits), Z_OK);
}

/* Compresses a message as a client does: Z_SYNC_FLUSH (or Z_FINISH), tail stripped. */
static bn_buf client_compress(peer *c, bn_str msg, int flush)
{
    bn_buf out = BN_BUF_INIT;
    c->z.next_in = (Bytef *)msg.ptr;
    c->z.avail_in = (uInt)msg.len;
    do {
        size_t room = 64 * 1024;
        c->z.next_out = (Bytef *)bn_buf_reserve(&out, room);
        c->z.avail_out = (uInt)room;
        int rc = deflate(&c->z, flush);
        cr_assert(rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END, "deflate: %d", rc);
        out.len += room - c->z.avail_out;
    } while (c->z.avail_out == 0);
    if (flush == Z_SYNC_FLUSH && out.len == 0 && msg.len == 0) {
        /* zlib emits nothing for no input after a flush: a client sends an empty stored block's byte. */
        bn_buf_append(&out, "", 1);
    } else if (flush == Z_SYNC_FLUSH) {
        cr_assert_geq(out.len, 4);
        cr_assert(memcmp(out.data + out.len - 4, "\0\0\xff\xff", 4) == 0);
        out.len -= 4;
    }
    return out;
}

/* Decompresses a server message as a client does: the tail put back, inflated. False on a zlib error. */
static bool client_decompress(peer *c, bn_str msg, bn_buf *out)
{
    bn_buf in = BN_BUF_INIT;
    bn_buf_append_str(&in, msg);
    bn_buf_append(&in, "\0\0\xff\xff", 4);
    c->z.next_in = (Bytef *)in.data;
    c->z.avail_in = (uInt)in.len;
    bool ok = true;
    do {
        size_t room = 64 * 1024;
        c->z.next_out = (Bytef *)bn_buf_reserve(out, room);
        c->z.avail_out = (uInt)room;
        int rc = inflate(&c->z, Z_SYNC_FLUSH);
        out->len += room - c->z.avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            ok = false;
            break;
        }
    } while (c->z.avail_out == 0 || c->z.avail_in > 0);
    bn_buf_free(&in);
    return ok;
}

/* Server deflate -> client inflate of `msg`; returns the compressed size. */
static size_t server_to_client(bn_ws_deflate *d, peer *c, bn_str msg)
{
    bn_buf wire = BN_BUF_INIT, back = BN_BUF_INIT;
    bn_ws_deflate_message(d, msg, &wire);
    cr_assert(client_decompress(c, str_of(&wire), &back), "client inflate failed (%zu bytes)", msg.len);
    cr_assert_eq(back.len, msg.len);
    cr_assert(msg.len == 0 || memcmp(back.data, msg.ptr, msg.len) == 0);
    size_t n = wire.len;
    bn_buf_free(&wire);
    bn_buf_free(&back);
    return n;
}

/* Client deflate -> server inflate of `msg`; returns the compressed size. */
static size_t client_to_server(peer *c, bn_ws_deflate *d, bn_str msg)
{
    bn_buf wire = client_compress(c, msg, Z_SYNC_FLUSH), back = BN_BUF_INIT;
    cr_assert_eq(bn_ws_inflate_message(d, str_of(&wire), SIZE_MAX, &back), 0, "inflate of %zu bytes", msg.len);
    cr_assert_eq(back.len, msg.len);
    cr_assert(msg.len == 0 || memcmp(back.data, msg.ptr, msg.len) == 0);
    size_t n = wire.len;
    bn_buf_free(&wire);
    bn_buf_free(&back);
    return n;
}

static void expect_inflate(bn_ws_deflate *d, const uint8_t *in, size_t len, const char *expected)
{
    bn_buf out = BN_BUF_INIT;
    cr_assert_eq(bn_ws_inflate_message(d, bytes_str(in, len), 1000, &out), 0);
    cr_assert_eq(out.len, strlen(expected));
    cr_assert(memcmp(out.data, expected, out.len) == 0, "got \"%.*s\"", (int)out.len, out.data);
    bn_buf_free(&out);
}

static void expect_inflate_error(bn_ws_deflate *d, const uint8_t *in, size_t len, int code)
{
    bn_buf out = BN_BUF_INIT;
    bn_buf_append(&out, "kept", 4);
    cr_assert_eq(bn_ws_inflate_message(d, bytes_str(in, len), 1 << 20, &out), code);
    cr_assert_eq(out.len, 4, "out is left as it was");
    cr_assert(memcmp(out.data, "kept", 4) == 0);
    bn_buf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* RFC 7692 §7.2.3                                                            */

Test(ws_deflate, rfc_examples_decode)
{
    bn_ws_deflate_params p = params(15, 15, false, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    /* §7.2.3.1: one compressed block. */
    expect_inflate(d, BYTES(0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00), "Hello");
    /* §7.2.3.2: the same again, as a back-reference into the first message. */
    expect_inflate(d, BYTES(0xf2, 0x00, 0x11, 0x00, 0x00), "Hello");
    /* §7.2.3.3: a stored (uncompressed) block. */
    expect_inflate(d, BYTES(0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00), "Hello");
    /* §7.2.3.4: a block with BFINAL set, then an empty stored block's first byte. */
    expect_inflate(d, BYTES(0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00), "Hello");
    /* After it the history is still there: §7.2.3.2's back-reference decodes. */
    expect_inflate(d, BYTES(0xf2, 0x00, 0x11, 0x00, 0x00), "Hello");
    /* §7.2.3.5: two blocks in one message. */
    expect_inflate(d, BYTES(0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00), "Hello");
    /* §7.2.3.6: an empty message. */
    expect_inflate(d, BYTES(0x00), "");
    bn_ws_deflate_free(d);
}

Test(ws_deflate, rfc_examples_encode)
{
    bn_ws_deflate_params p = params(15, 15, false, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    bn_buf out = BN_BUF_INIT;
    bn_ws_deflate_message(d, BN_STR("Hello"), &out);
    cr_assert_eq(out.len, 7);
    cr_assert(memcmp(out.data, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7) == 0);
    out.len = 0;
    bn_ws_deflate_message(d, BN_STR("Hello"), &out);
    cr_assert_eq(out.len, 5, "the second Hello refers to the first (§7.2.3.2)");
    cr_assert(memcmp(out.data, "\xf2\x00\x11\x00\x00", 5) == 0);
    bn_buf_free(&out);
    bn_ws_deflate_free(d);
}

/* §7.2.3.2's second message refers back 5 bytes: without takeover that is past the start. */
Test(ws_deflate, rfc_back_reference_needs_takeover)
{
    bn_ws_deflate_params p = params(15, 15, false, true);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    expect_inflate(d, BYTES(0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00), "Hello");
    expect_inflate_error(d, BYTES(0xf2, 0x00, 0x11, 0x00, 0x00), BN_WS_CLOSE_INVALID_DATA);
    bn_ws_deflate_free(d);
}

/* ------------------------------------------------------------------------ */
/* Context takeover                                                           */

Test(ws_deflate, server_context_takeover)
{
    bn_ws_deflate_params p = params(15, 15, false, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    char *text = make_text(2000, 1);
    bn_str msg = bn_str_from_cstr(text);
    peer c;
    client_inflater(&c, 15);
    size_t first = server_to_client(d, &c, msg);
    size_t second = server_to_client(d, &c, msg);
    cr_assert_lt(second * 4, first, "a repeat is a back-reference: %zu then %zu bytes", first, second);
    for (int i = 0; i < 5; i++)
        server_to_client(d, &c, msg);

    /* The repeat decodes only with the history: a fresh client fails or gets something else. */
    bn_buf wire = BN_BUF_INIT, back = BN_BUF_INIT;
    bn_ws_deflate_message(d, msg, &wire);
    peer fresh;
    client_inflater(&fresh, 15);
    bool ok = client_decompress(&fresh, str_of(&wire), &back);
    cr_assert(!ok || !bn_str_eq(str_of(&back), msg));
    inflateEnd(&fresh.z);
    inflateEnd(&c.z);
    bn_buf_free(&wire);
    bn_buf_free(&back);
    free(text);
    bn_ws_deflate_free(d);
}

Test(ws_deflate, server_no_context_takeover)
{
    bn_ws_deflate_params p = params(15, 15, true, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    char *text = make_text(2000, 2);
    bn_str msg = bn_str_from_cstr(text);
    bn_buf first = BN_BUF_INIT;
    bn_ws_deflate_message(d, msg, &first);
    for (int i = 0; i < 3; i++) {
        /* Every message is compressed alone: the same bytes each time, each decodable by a fresh client. */
        bn_buf again = BN_BUF_INIT, back = BN_BUF_INIT;
        bn_ws_deflate_message(d, msg, &again);
        cr_assert(bn_str_eq(str_of(&again), str_of(&first)));
        peer fresh;
        client_inflater(&fresh, 15);
        cr_assert(client_decompress(&fresh, str_of(&again), &back));
        cr_assert(bn_str_eq(str_of(&back), msg));
        inflateEnd(&fresh.z);
        bn_buf_free(&again);
        bn_buf_free(&back);
    }
    bn_buf_free(&first);
    free(text);
    bn_ws_deflate_free(d);
}

Test(ws_deflate, client_context_takeover)
{
    bn_ws_deflate_params p = params(15, 15, false, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    char *text = make_text(2000, 3);
    bn_str msg = bn_str_from_cstr(text);
    peer c;
    client_deflater(&c, 15);
    size_t first = client_to_server(&c, d, msg);
    size_t second = client_to_server(&c, d, msg);
    cr_assert_lt(second * 4, first, "%zu then %zu bytes", first, second);
    for (int i = 0; i < 5; i++)
        client_to_server(&c, d, msg);

    /* Negotiated client_no_context_takeover: the same back-reference is corrupt data. */
    bn_ws_deflate_params q = params(15, 15, false, true);
    bn_ws_deflate *strict = bn_ws_deflate_new(&q);
    peer c2;
    client_deflater(&c2, 15);
    client_to_server(&c2, strict, msg);
    bn_buf wire = client_compress(&c2, msg, Z_SYNC_FLUSH);
    expect_inflate_error(strict, (const uint8_t *)wire.data, wire.len, BN_WS_CLOSE_INVALID_DATA);
    bn_buf_free(&wire);
    deflateEnd(&c2.z);
    bn_ws_deflate_free(strict);

    deflateEnd(&c.z);
    free(text);
    bn_ws_deflate_free(d);
}

Test(ws_deflate, client_no_context_takeover)
{
    bn_ws_deflate_params p = params(15, 15, false, true);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    char *a = make_text(3000, 4), *b = make_text(500, 5);
    for (int i = 0; i < 4; i++) {
        /* A client that honours it resets its stream after each message. */
        peer c;
        client_deflater(&c, 15);
        client_to_server(&c, d, bn_str_from_cstr(i % 2 ? b : a));
        deflateEnd(&c.z);
    }
    free(a);
    free(b);
    bn_ws_deflate_free(d);
}

/* ------------------------------------------------------------------------ */
/* Window sizes                                                               */

Test(ws_deflate, window_bits_8_to_15)
{
    char *text = make_text(200 * 1000, 6);
    bn_str msg = bn_str_from_cstr(text);
    for (int bits = 8; bits <= 15; bits++) {
        bn_ws_deflate_params p = params(bits, bits, false, false);
        bn_ws_deflate *d = bn_ws_deflate_new(&p);
        peer in, out;
        client_inflater(&in, bits); /* exactly the agreed window: a larger distance fails */
        client_deflater(&out, bits);
        for (int i = 0; i < 3; i++) {
            server_to_client(d, &in, msg);
            client_to_server(&out, d, msg);
        }
        inflateEnd(&in.z);
        deflateEnd(&out.z);
        bn_ws_deflate_free(d);
    }
    free(text);
}

/* A client that uses a larger window than it agreed to is caught: its distances go too far back. */
Test(ws_deflate, client_window_larger_than_agreed)
{
    bn_ws_deflate_params p = params(15, 9, false, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    char *text = make_text(100 * 1000, 7);
    peer c;
    client_deflater(&c, 15);
    bn_buf wire = client_compress(&c, bn_str_from_cstr(text), Z_SYNC_FLUSH);
    expect_inflate_error(d, (const uint8_t *)wire.data, wire.len, BN_WS_CLOSE_INVALID_DATA);
    bn_buf_free(&wire);
    deflateEnd(&c.z);
    free(text);
    bn_ws_deflate_free(d);
}

/* ------------------------------------------------------------------------ */
/* Sizes                                                                      */

Test(ws_deflate, empty_message)
{
    bn_ws_deflate_params p = params(15, 15, false, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    bn_buf out = BN_BUF_INIT;
    bn_ws_deflate_message(d, BN_STR(""), &out);
    cr_assert_eq(out.len, 1);
    cr_assert_eq(out.data[0], 0);
    bn_buf_free(&out);

    /* Between other messages, both ways, with the history kept. */
    peer in, out_peer;
    client_inflater(&in, 15);
    client_deflater(&out_peer, 15);
    bn_str msgs[] = {BN_STR("Hello"), BN_STR(""), BN_STR("Hello"), BN_STR(""), BN_STR("")};
    for (size_t i = 0; i < BN_ARRAY_LEN(msgs); i++) {
        server_to_client(d, &in, msgs[i]);
        client_to_server(&out_peer, d, msgs[i]);
    }
    /* A payload of no bytes at all is read as an empty message. */
    bn_buf back = BN_BUF_INIT;
    cr_assert_eq(bn_ws_inflate_message(d, BN_STR(""), 10, &back), 0);
    cr_assert_eq(back.len, 0);
    inflateEnd(&in.z);
    deflateEnd(&out_peer.z);
    bn_ws_deflate_free(d);
}

Test(ws_deflate, large_message)
{
    size_t len = 1 << 20;
    char *text = make_text(len, 8);
    bn_str msg = bn_str_make(text, len);
    bn_ws_deflate_params p = params(15, 15, false, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    peer in, out;
    client_inflater(&in, 15);
    client_deflater(&out, 15);
    size_t down = server_to_client(d, &in, msg);
    size_t up = client_to_server(&out, d, msg);
    cr_assert_lt(down, len / 2);
    cr_assert_lt(up, len / 2);
    /* Uncompressible bytes too (stored blocks, output larger than input). */
    for (size_t i = 0; i < len; i++)
        text[i] = (char)((i * 2654435761u) >> 13);
    server_to_client(d, &in, msg);
    client_to_server(&out, d, msg);
    inflateEnd(&in.z);
    deflateEnd(&out.z);
    free(text);
    bn_ws_deflate_free(d);
}

Test(ws_deflate, max_len_stops_a_zip_bomb)
{
    size_t bomb_len = 50u << 20; /* 50 MiB of zeros: about 50 KiB compressed */
    char *zeros = calloc(1, bomb_len);
    peer c;
    client_deflater(&c, 15);
    bn_buf wire = client_compress(&c, bn_str_make(zeros, bomb_len), Z_SYNC_FLUSH);
    deflateEnd(&c.z);
    free(zeros);
    cr_assert_lt(wire.len, 100 * 1024);

    bn_ws_deflate_params p = params(15, 15, false, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    size_t max_len = 64 * 1024;
    bn_buf out = BN_BUF_INIT;
    cr_assert_eq(bn_ws_inflate_message(d, str_of(&wire), max_len, &out), BN_WS_CLOSE_TOO_BIG);
    cr_assert_eq(out.len, 0);
    cr_assert_leq(out.cap, 2 * (max_len + 1), "out grew to %zu bytes for a %zu limit", out.cap, max_len);
    cr_assert_lt(bn_ws_deflate_memory(d), 64 * 1024, "zlib holds a 32 KiB window, no more");
    bn_buf_free(&out);
    bn_buf_free(&wire);
    bn_ws_deflate_free(d);
}

Test(ws_deflate, max_len_exact)
{
    const char *text = "a message of exactly forty-two bytes......";
    size_t len = strlen(text);
    cr_assert_eq(len, 42);
    for (int takeover = 0; takeover < 2; takeover++) {
        bn_ws_deflate_params p = params(15, 15, false, !takeover);
        peer c;
        client_deflater(&c, 15);
        bn_buf wire = client_compress(&c, bn_str_make(text, len), Z_SYNC_FLUSH);
        deflateEnd(&c.z);
        for (size_t max = len - 2; max <= len + 1; max++) {
            bn_ws_deflate *d = bn_ws_deflate_new(&p);
            bn_buf out = BN_BUF_INIT;
            int rc = bn_ws_inflate_message(d, str_of(&wire), max, &out);
            cr_assert_eq(rc, max >= len ? 0 : BN_WS_CLOSE_TOO_BIG, "max_len %zu", max);
            cr_assert_eq(out.len, rc ? 0 : len);
            bn_buf_free(&out);
            bn_ws_deflate_free(d);
        }
        bn_buf_free(&wire);
    }
}

/* ------------------------------------------------------------------------ */
/* Corrupt input                                                              */

Test(ws_deflate, corrupt_input)
{
    bn_ws_deflate_params p = params(15, 15, false, false);
    /* BTYPE 11 is reserved. */
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    expect_inflate_error(d, BYTES(0x07, 0x00), BN_WS_CLOSE_INVALID_DATA);
    bn_ws_deflate_free(d);
    /* A stored block whose NLEN is not LEN's complement. */
    d = bn_ws_deflate_new(&p);
    expect_inflate_error(d, BYTES(0x00, 0x05, 0x00, 0xfa, 0xfe, 'H', 'e', 'l', 'l', 'o', 0x00),
                         BN_WS_CLOSE_INVALID_DATA);
    bn_ws_deflate_free(d);
    /* A distance before the start of the stream. */
    d = bn_ws_deflate_new(&p);
    expect_inflate_error(d, BYTES(0xf2, 0x00, 0x11, 0x00, 0x00), BN_WS_CLOSE_INVALID_DATA);
    bn_ws_deflate_free(d);
    /* Garbage. */
    d = bn_ws_deflate_new(&p);
    expect_inflate_error(d, BYTES(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), BN_WS_CLOSE_INVALID_DATA);
    bn_ws_deflate_free(d);
}

/*
 * A message cut short mostly ends inside a block: corrupt, not silently half a
 * message. (Not always: the tail's bits may happen to complete a block, as
 * they do when only the last byte of this message is cut. Any deflate decoder
 * has that blind spot.)
 */
Test(ws_deflate, truncated_message)
{
    bn_ws_deflate_params p = params(15, 15, false, false);
    /* A stored block of 255 bytes that brings 3 (and then the tail's 4). */
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    expect_inflate_error(d, BYTES(0x00, 0xff, 0x00, 0x00, 0xff, 'a', 'b', 'c'), BN_WS_CLOSE_INVALID_DATA);
    bn_ws_deflate_free(d);

    char *text = make_text(5000, 9);
    peer c;
    client_deflater(&c, 15);
    bn_buf wire = client_compress(&c, bn_str_from_cstr(text), Z_SYNC_FLUSH);
    deflateEnd(&c.z);
    size_t cuts[] = {1, 2, wire.len / 2};
    for (size_t i = 0; i < BN_ARRAY_LEN(cuts); i++) {
        d = bn_ws_deflate_new(&p);
        expect_inflate_error(d, (const uint8_t *)wire.data, cuts[i], BN_WS_CLOSE_INVALID_DATA);
        bn_ws_deflate_free(d);
    }
    bn_buf_free(&wire);
    free(text);
}

/* A client that ends each message with a final block (§7.2.3.4) and starts a
 * new stream primed with the history: both decode. Too many final blocks in
 * one message are refused. */
Test(ws_deflate, final_blocks)
{
    char *a = make_text(3000, 10);
    bn_ws_deflate_params p = params(15, 15, false, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    peer c;
    client_deflater(&c, 15);
    bn_buf first = client_compress(&c, bn_str_from_cstr(a), Z_FINISH);
    bn_buf_append(&first, "", 1); /* the empty stored block's first byte */
    deflateEnd(&c.z);
    client_deflater(&c, 15);
    cr_assert_eq(deflateSetDictionary(&c.z, (const Bytef *)a, (uInt)strlen(a)), Z_OK);
    bn_buf second = client_compress(&c, bn_str_from_cstr(a), Z_SYNC_FLUSH);
    deflateEnd(&c.z);
    cr_assert_lt(second.len * 4, first.len);

    bn_buf out = BN_BUF_INIT;
    cr_assert_eq(bn_ws_inflate_message(d, str_of(&first), SIZE_MAX, &out), 0);
    cr_assert(bn_str_eq(str_of(&out), bn_str_from_cstr(a)));
    out.len = 0;
    cr_assert_eq(bn_ws_inflate_message(d, str_of(&second), SIZE_MAX, &out), 0);
    cr_assert(bn_str_eq(str_of(&out), bn_str_from_cstr(a)));
    /* A final block without the stored block's byte after it is accepted too. */
    out.len = 0;
    cr_assert_eq(bn_ws_inflate_message(d, bn_str_make(first.data, first.len - 1), SIZE_MAX, &out), 0);
    cr_assert(bn_str_eq(str_of(&out), bn_str_from_cstr(a)));

    /* Empty final blocks (fixed Huffman, end of block only: 03 00), many in one message. */
    bn_buf many = BN_BUF_INIT;
    for (int i = 0; i < 4; i++)
        bn_buf_append(&many, "\x03\x00", 2);
    out.len = 0;
    cr_assert_eq(bn_ws_inflate_message(d, str_of(&many), SIZE_MAX, &out), 0);
    cr_assert_eq(out.len, 0);
    bn_buf_append(&many, "\x03\x00", 2);
    expect_inflate_error(d, (const uint8_t *)many.data, many.len, BN_WS_CLOSE_INVALID_DATA);

    bn_buf_free(&many);
    bn_buf_free(&out);
    bn_buf_free(&first);
    bn_buf_free(&second);
    free(a);
    bn_ws_deflate_free(d);
}

/* ------------------------------------------------------------------------ */
/* Memory                                                                     */

Test(ws_deflate, memory_is_lazy)
{
    bn_ws_deflate_params p = params(15, 15, false, false);
    bn_ws_deflate *d = bn_ws_deflate_new(&p);
    cr_assert_eq(bn_ws_deflate_memory(d), 0);
    bn_buf out = BN_BUF_INIT;
    bn_ws_deflate_message(d, BN_STR(""), &out); /* no zlib for an empty message */
    cr_assert_eq(bn_ws_deflate_memory(d), 0);
    cr_assert_eq(bn_ws_inflate_message(d, BN_STR(""), 10, &out), 0);
    cr_assert_eq(bn_ws_deflate_memory(d), 0);

    bn_ws_deflate_message(d, BN_STR("Hello"), &out);
    size_t deflater = bn_ws_deflate_memory(d);
    cr_assert_gt(deflater, 128 * 1024, "deflater: %zu", deflater);
    cr_assert_lt(deflater, 256 * 1024, "deflater: %zu", deflater);
    expect_inflate(d, BYTES(0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00), "Hello");
    size_t both = bn_ws_deflate_memory(d);
    cr_assert_gt(both - deflater, 32 * 1024, "inflater: %zu", both - deflater);
    cr_assert_lt(both - deflater, 48 * 1024, "inflater: %zu", both - deflater);
    bn_buf_free(&out);
    bn_ws_deflate_free(d);

    /* Smaller windows cost less. */
    p = params(9, 9, false, false);
    d = bn_ws_deflate_new(&p);
    bn_ws_deflate_message(d, BN_STR("Hello"), &out);
    expect_inflate(d, BYTES(0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00), "Hello");
    cr_assert_lt(bn_ws_deflate_memory(d), both / 2, "9-bit windows: %zu", bn_ws_deflate_memory(d));
    bn_buf_free(&out);
    bn_ws_deflate_free(d);
}
