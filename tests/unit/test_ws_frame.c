/*
 * Unit tests for src/socket/ws_frame.c: RFC 6455 §5.7's examples byte for
 * byte, every protocol error with its close code, partial frames, writer and
 * parser round trips, close frames, UTF-8 validation (against a reference
 * decoder, and split at every point), the accept key and permessage-deflate
 * negotiation (RFC 7692).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socket/ws_frame.h"

#define NOLIMIT UINT64_MAX
#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static const uint8_t rfc_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

typedef struct {
    bn_ws_parse_result r;
    bn_ws_frame f;
    size_t consumed;
    int code;
    uint8_t *copy; /* the parsed (writable) copy; payload points into it */
} parsed;

/* Parses a copy of `bytes` (freed by the caller through p->copy). */
static parsed parse(const uint8_t *bytes, size_t len, bool require_mask, bool allow_rsv1, uint64_t max)
{
    parsed p = {.code = -1, .consumed = 0};
    p.copy = malloc(len ? len : 1);
    memcpy(p.copy, bytes, len);
    p.r = bn_ws_parse(p.copy, len, require_mask, allow_rsv1, max, &p.f, &p.consumed, &p.code);
    return p;
}

static void expect_frame(const uint8_t *bytes, size_t len, bool require_mask, bool fin, bn_ws_opcode op,
                         const void *payload, size_t plen)
{
    parsed p = parse(bytes, len, require_mask, false, NOLIMIT);
    cr_assert_eq(p.r, BN_WS_FRAME);
    cr_assert_eq(p.consumed, len);
    cr_assert_eq(p.f.fin, fin);
    cr_assert_eq(p.f.opcode, op);
    cr_assert_not(p.f.rsv1);
    cr_assert_eq(p.f.payload.len, plen);
    cr_assert(plen == 0 || memcmp(p.f.payload.ptr, payload, plen) == 0);
    cr_assert_eq((const uint8_t *)p.f.payload.ptr, p.copy + len - plen, "payload is in place, at the frame's end");
    free(p.copy);
}

static void expect_error(const uint8_t *bytes, size_t len, bool require_mask, bool allow_rsv1, uint64_t max,
                         int code)
{
    parsed p = parse(bytes, len, require_mask, allow_rsv1, max);
    cr_assert_eq(p.r, BN_WS_ERROR, "bytes %02x %02x... (%zu)", bytes[0], len > 1 ? bytes[1] : 0, len);
    cr_assert_eq(p.code, code, "bytes %02x %02x...: code %d, expected %d", bytes[0], len > 1 ? bytes[1] : 0, p.code,
                 code);
    free(p.copy);
}

static void expect_bytes(const bn_buf *b, const uint8_t *want, size_t len)
{
    cr_assert_eq(b->len, len, "wrote %zu bytes, expected %zu", b->len, len);
    cr_assert(memcmp(b->data, want, len) == 0);
}

/* ------------------------------------------------------------------------ */
/* RFC 6455 §5.7                                                              */

Test(ws_frame, rfc_single_unmasked_text)
{
    expect_frame(BYTES(0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f), false, true, BN_WS_TEXT, "Hello", 5);
    /* A server refuses it: clients must mask. */
    expect_error(BYTES(0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f), true, false, NOLIMIT, 1002);

    bn_buf out = BN_BUF_INIT;
    bn_ws_write_frame(&out, BN_WS_TEXT, BN_STR("Hello"), NULL);
    expect_bytes(&out, BYTES(0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f));
    bn_buf_free(&out);
}

Test(ws_frame, rfc_single_masked_text)
{
    expect_frame(BYTES(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58), true, true, BN_WS_TEXT,
                 "Hello", 5);
    /* A client (require_mask false) reads masked frames too. */
    expect_frame(BYTES(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58), false, true, BN_WS_TEXT,
                 "Hello", 5);

    bn_buf out = BN_BUF_INIT;
    bn_ws_write_frame(&out, BN_WS_TEXT, BN_STR("Hello"), rfc_mask);
    expect_bytes(&out, BYTES(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58));
    bn_buf_free(&out);
}

Test(ws_frame, rfc_fragmented_text)
{
    const uint8_t wire[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    uint8_t buf[sizeof(wire)];
    memcpy(buf, wire, sizeof(buf));
    bn_ws_frame f;
    size_t used;
    int code = 0;
    cr_assert_eq(bn_ws_parse(buf, sizeof(buf), false, false, NOLIMIT, &f, &used, &code), BN_WS_FRAME);
    cr_assert_eq(used, 5);
    cr_assert_not(f.fin);
    cr_assert_eq(f.opcode, BN_WS_TEXT);
    cr_assert(bn_str_eq(f.payload, BN_STR("Hel")));
    cr_assert_eq(bn_ws_parse(buf + used, sizeof(buf) - used, false, false, NOLIMIT, &f, &used, &code), BN_WS_FRAME);
    cr_assert_eq(used, 4);
    cr_assert(f.fin);
    cr_assert_eq(f.opcode, BN_WS_CONTINUATION);
    cr_assert(bn_str_eq(f.payload, BN_STR("lo")));

    bn_buf out = BN_BUF_INIT;
    bn_ws_write_header(&out, false, false, BN_WS_TEXT, 3, NULL);
    bn_buf_append(&out, "Hel", 3);
    bn_ws_write_header(&out, true, false, BN_WS_CONTINUATION, 2, NULL);
    bn_buf_append(&out, "lo", 2);
    expect_bytes(&out, wire, sizeof(wire));
    bn_buf_free(&out);
}

Test(ws_frame, rfc_ping_pong)
{
    expect_frame(BYTES(0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f), false, true, BN_WS_PING, "Hello", 5);
    expect_frame(BYTES(0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58), true, true, BN_WS_PONG,
                 "Hello", 5);
    expect_frame(BYTES(0x89, 0x80, 1, 2, 3, 4), true, true, BN_WS_PING, "", 0);

    bn_buf out = BN_BUF_INIT;
    bn_ws_write_frame(&out, BN_WS_PING, BN_STR("Hello"), NULL);
    expect_bytes(&out, BYTES(0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f));
    out.len = 0;
    bn_ws_write_frame(&out, BN_WS_PONG, BN_STR("Hello"), rfc_mask);
    expect_bytes(&out, BYTES(0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58));
    bn_buf_free(&out);
}

/* A binary frame of `n` bytes (i & 0xff) as RFC 6455 §5.7 shows for 256 bytes and 64 KiB. */
static void check_binary(size_t n, const uint8_t *head, size_t head_len)
{
    uint8_t *payload = malloc(n);
    for (size_t i = 0; i < n; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    bn_buf out = BN_BUF_INIT;
    bn_ws_write_frame(&out, BN_WS_BINARY, bn_str_make((const char *)payload, n), NULL);
    cr_assert_eq(out.len, head_len + n);
    cr_assert(memcmp(out.data, head, head_len) == 0, "header of a %zu-byte frame", n);
    cr_assert(memcmp(out.data + head_len, payload, n) == 0);
    expect_frame((const uint8_t *)out.data, out.len, false, true, BN_WS_BINARY, payload, n);
    bn_buf_free(&out);
    free(payload);
}

Test(ws_frame, rfc_binary_16_and_64_bit_lengths)
{
    check_binary(256, BYTES(0x82, 0x7E, 0x01, 0x00));
    check_binary(65536, BYTES(0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00));
    /* The boundaries between the three encodings. */
    check_binary(125, BYTES(0x82, 0x7D));
    check_binary(126, BYTES(0x82, 0x7E, 0x00, 0x7E));
    check_binary(65535, BYTES(0x82, 0x7E, 0xFF, 0xFF));
}

Test(ws_frame, non_minimal_lengths_accepted)
{
    expect_frame(BYTES(0x81, 0x7E, 0x00, 0x05, 'H', 'e', 'l', 'l', 'o'), false, true, BN_WS_TEXT, "Hello", 5);
    expect_frame(BYTES(0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0x02, 'h', 'i'), false, true, BN_WS_BINARY, "hi", 2);
    expect_frame(BYTES(0x81, 0x00), false, true, BN_WS_TEXT, "", 0);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */

Test(ws_frame, reserved_bits)
{
    expect_error(BYTES(0xA1, 0x80, 1, 2, 3, 4), true, true, NOLIMIT, 1002); /* RSV2 */
    expect_error(BYTES(0x91, 0x80, 1, 2, 3, 4), true, true, NOLIMIT, 1002); /* RSV3 */
    expect_error(BYTES(0xF1, 0x80, 1, 2, 3, 4), true, true, NOLIMIT, 1002);
    /* RSV1 only when deflate was negotiated, and then only on a message's first frame. */
    expect_error(BYTES(0xC1, 0x80, 1, 2, 3, 4), true, false, NOLIMIT, 1002);
    expect_error(BYTES(0xC9, 0x80, 1, 2, 3, 4), true, true, NOLIMIT, 1002);  /* ping */
    expect_error(BYTES(0xC8, 0x80, 1, 2, 3, 4), true, true, NOLIMIT, 1002);  /* close */
    expect_error(BYTES(0xCA, 0x80, 1, 2, 3, 4), true, true, NOLIMIT, 1002);  /* pong */
    expect_error(BYTES(0xC0, 0x80, 1, 2, 3, 4), true, true, NOLIMIT, 1002);  /* continuation */
    parsed p = parse(BYTES(0xC1, 0x80, 1, 2, 3, 4), true, true, NOLIMIT);
    cr_assert_eq(p.r, BN_WS_FRAME);
    cr_assert(p.f.rsv1);
    free(p.copy);
    p = parse(BYTES(0x42, 0x80, 1, 2, 3, 4), true, true, NOLIMIT); /* not final: fine */
    cr_assert_eq(p.r, BN_WS_FRAME);
    cr_assert(p.f.rsv1 && !p.f.fin && p.f.opcode == BN_WS_BINARY);
    free(p.copy);
}

Test(ws_frame, unknown_opcodes)
{
    for (uint8_t op = 0; op < 16; op++) {
        uint8_t frame[] = {(uint8_t)(0x80 | op), 0x80, 1, 2, 3, 4};
        bool known = op <= 2 || (op >= 8 && op <= 10);
        parsed p = parse(frame, sizeof(frame), true, false, NOLIMIT);
        cr_assert_eq(p.r, known ? BN_WS_FRAME : BN_WS_ERROR, "opcode %x", op);
        if (!known)
            cr_assert_eq(p.code, 1002);
        free(p.copy);
        /* Refused from the first byte alone. */
        p = parse(frame, 1, true, false, NOLIMIT);
        cr_assert_eq(p.r, known ? BN_WS_NEED_MORE : BN_WS_ERROR, "opcode %x, one byte", op);
        free(p.copy);
    }
}

Test(ws_frame, control_frames)
{
    /* Fragmented control frames. */
    expect_error(BYTES(0x09, 0x80, 1, 2, 3, 4), true, false, NOLIMIT, 1002);
    expect_error(BYTES(0x08, 0x80, 1, 2, 3, 4), true, false, NOLIMIT, 1002);
    expect_error(BYTES(0x0A), true, false, NOLIMIT, 1002);
    /* Longer than 125, refused from the header's first two bytes (whatever the encoding). */
    expect_error(BYTES(0x89, 0xFE), true, false, NOLIMIT, 1002);
    expect_error(BYTES(0x88, 0xFF), true, false, NOLIMIT, 1002);
    expect_error(BYTES(0x8A, 0x7E, 0x00, 0x05), false, false, NOLIMIT, 1002);
    /* 125 is fine. */
    uint8_t ping[2 + 4 + 125] = {0x89, 0xFD, 0, 0, 0, 0};
    parsed p = parse(ping, sizeof(ping), true, false, NOLIMIT);
    cr_assert_eq(p.r, BN_WS_FRAME);
    cr_assert_eq(p.f.payload.len, 125);
    free(p.copy);
}

Test(ws_frame, length_top_bit)
{
    expect_error(BYTES(0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0), true, false, NOLIMIT, 1002);
    expect_error(BYTES(0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF), false, false, NOLIMIT, 1002);
    /* 2^63 - 1 is a legal length, only too big for a 1 GiB limit. */
    expect_error(BYTES(0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF), true, false, 1u << 30, 1009);
    parsed p = parse(BYTES(0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4), true, false,
                     NOLIMIT);
    cr_assert_eq(p.r, BN_WS_NEED_MORE);
    free(p.copy);
}

Test(ws_frame, unmasked_when_mask_required)
{
    expect_error(BYTES(0x82, 0x00), true, false, NOLIMIT, 1002);
    expect_error(BYTES(0x88, 0x02, 0x03, 0xE8), true, false, NOLIMIT, 1002);
    expect_error(BYTES(0x82, 0x7E), true, false, NOLIMIT, 1002);
}

Test(ws_frame, max_payload_from_the_header_alone)
{
    /* 2^40 bytes announced; only the header (and its mask) is there. */
    expect_error(BYTES(0x82, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0, 1, 2, 3, 4), true, false, 1 << 20, 1009);
    /* Before the mask key has arrived. */
    expect_error(BYTES(0x82, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0), true, false, 1 << 20, 1009);
    expect_error(BYTES(0x82, 0xFE, 0x01, 0x00), true, false, 255, 1009);
    expect_error(BYTES(0x81, 0x85), true, false, 4, 1009);
    expect_error(BYTES(0x80, 0x81), true, false, 0, 1009);
    /* Exactly the limit is fine: the header asks for more. */
    parsed p = parse(BYTES(0x82, 0xFE, 0x01, 0x00), true, false, 256);
    cr_assert_eq(p.r, BN_WS_NEED_MORE);
    free(p.copy);
    expect_frame(BYTES(0x81, 0x05, 'H', 'e', 'l', 'l', 'o'), false, true, BN_WS_TEXT, "Hello", 5);
    p = parse(BYTES(0x81, 0x05, 'H', 'e', 'l', 'l', 'o'), false, false, 5);
    cr_assert_eq(p.r, BN_WS_FRAME);
    free(p.copy);
}

Test(ws_frame, empty_input)
{
    bn_ws_frame f;
    size_t used = 99;
    int code = 0;
    uint8_t b = 0;
    cr_assert_eq(bn_ws_parse(&b, 0, true, false, NOLIMIT, &f, &used, &code), BN_WS_NEED_MORE);
    cr_assert_eq(used, 99);
}

/* ------------------------------------------------------------------------ */
/* Partial frames                                                             */

/* Every strict prefix of a frame needs more and leaves the bytes alone; the whole frame parses. */
static void check_every_split(const uint8_t *wire, size_t len, bool require_mask, bool allow_rsv1)
{
    uint8_t *buf = malloc(len);
    memcpy(buf, wire, len);
    bn_ws_frame f;
    int code = 0;
    for (size_t k = 0; k < len; k++) {
        size_t used = 0;
        bn_ws_parse_result r = bn_ws_parse(buf, k, require_mask, allow_rsv1, NOLIMIT, &f, &used, &code);
        if (r != BN_WS_NEED_MORE)
            cr_assert_fail("prefix %zu of %zu: result %d", k, len, r);
        if (memcmp(buf, wire, len) != 0)
            cr_assert_fail("prefix %zu of %zu modified the input", k, len);
    }
    size_t used = 0;
    cr_assert_eq(bn_ws_parse(buf, len, require_mask, allow_rsv1, NOLIMIT, &f, &used, &code), BN_WS_FRAME);
    cr_assert_eq(used, len);
    free(buf);
}

Test(ws_frame, partial_frames_every_split)
{
    check_every_split(BYTES(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58), true, false);
    check_every_split(BYTES(0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f), false, false);
    check_every_split(BYTES(0x89, 0x80, 1, 2, 3, 4), true, false);
    check_every_split(BYTES(0x81, 0x00), false, false);
    check_every_split(BYTES(0xC1, 0x82, 9, 8, 7, 6, 5, 4), true, true);

    static const size_t sizes[] = {126, 256, 65535, 65536, 70001};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        bn_buf out = BN_BUF_INIT;
        uint8_t *payload = malloc(sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            payload[j] = (uint8_t)(j ^ (j >> 8));
        bn_ws_write_frame(&out, BN_WS_BINARY, bn_str_make((const char *)payload, sizes[i]), rfc_mask);
        check_every_split((const uint8_t *)out.data, out.len, true, false);
        bn_buf_free(&out);
        free(payload);
    }
}

Test(ws_frame, several_frames_in_one_buffer)
{
    bn_buf out = BN_BUF_INIT;
    const uint8_t key[4] = {1, 2, 3, 4};
    bn_ws_write_frame(&out, BN_WS_TEXT, BN_STR("first"), key);
    bn_ws_write_frame(&out, BN_WS_PING, BN_STR(""), key);
    bn_ws_write_frame(&out, BN_WS_BINARY, BN_STR("third one"), key);
    bn_ws_write_frame(&out, BN_WS_TEXT, BN_STR("fou"), key); /* and the last one cut short */
    out.len -= 1;
    static const char *want[] = {"first", "", "third one"};
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        bn_ws_frame f;
        size_t used;
        int code;
        cr_assert_eq(bn_ws_parse((uint8_t *)out.data + off, out.len - off, true, false, NOLIMIT, &f, &used, &code),
                     BN_WS_FRAME);
        cr_assert(bn_str_eq(f.payload, bn_str_from_cstr(want[i])));
        off += used;
    }
    bn_ws_frame f;
    size_t used;
    int code;
    cr_assert_eq(bn_ws_parse((uint8_t *)out.data + off, out.len - off, true, false, NOLIMIT, &f, &used, &code),
                 BN_WS_NEED_MORE);
    bn_buf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* Round trips                                                                */

Test(ws_frame, round_trips)
{
    static const size_t lens[] = {0, 1, 7, 8, 9, 125, 126, 127, 1000, 65535, 65536, 100003};
    static const bn_ws_opcode ops[] = {BN_WS_TEXT, BN_WS_BINARY, BN_WS_CONTINUATION,
                                       BN_WS_PING, BN_WS_PONG,   BN_WS_CLOSE};
    const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
    for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
        size_t n = lens[li];
        char *payload = malloc(n ? n : 1);
        for (size_t j = 0; j < n; j++)
            payload[j] = (char)('a' + j % 26);
        for (size_t oi = 0; oi < sizeof(ops) / sizeof(ops[0]); oi++) {
            bool control = ops[oi] & 8;
            if (control && n > 125)
                continue;
            for (int masked = 0; masked < 2; masked++) {
                bn_buf out = BN_BUF_INIT;
                bn_ws_write_frame(&out, ops[oi], bn_str_make(payload, n), masked ? key : NULL);
                cr_assert_eq(out.len, n + (n < 126 ? 2 : n <= 65535 ? 4 : 10) + (masked ? 4 : 0));
                if (masked && n >= 4)
                    cr_assert(memcmp(out.data + out.len - n, payload, n) != 0, "the copy is masked");
                bn_ws_frame f;
                size_t used;
                int code;
                cr_assert_eq(bn_ws_parse((uint8_t *)out.data, out.len, masked, false, NOLIMIT, &f, &used, &code),
                             BN_WS_FRAME, "len %zu op %d masked %d", n, ops[oi], masked);
                cr_assert_eq(used, out.len);
                cr_assert(f.fin && !f.rsv1);
                cr_assert_eq(f.opcode, ops[oi]);
                cr_assert(bn_str_eq(f.payload, bn_str_make(payload, n)), "len %zu op %d masked %d", n, ops[oi],
                          masked);
                bn_buf_free(&out);
            }
        }
        free(payload);
    }
}

Test(ws_frame, header_flags_round_trip)
{
    for (int fin = 0; fin < 2; fin++)
        for (int rsv1 = 0; rsv1 < 2; rsv1++) {
            bn_buf out = BN_BUF_INIT;
            bn_ws_write_header(&out, fin, rsv1, BN_WS_BINARY, 3, rfc_mask);
            cr_assert_eq(out.len, 6);
            cr_assert_eq((uint8_t)out.data[0], (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | 0x2);
            cr_assert_eq((uint8_t)out.data[1], 0x83);
            bn_buf_append(&out, "\x37\xfa\x21", 3); /* "\0\0\0" masked */
            bn_ws_frame f;
            size_t used;
            int code;
            cr_assert_eq(bn_ws_parse((uint8_t *)out.data, out.len, true, true, NOLIMIT, &f, &used, &code), BN_WS_FRAME);
            cr_assert_eq(f.fin, fin);
            cr_assert_eq(f.rsv1, rsv1);
            cr_assert(bn_str_eq(f.payload, bn_str_make("\0\0\0", 3)));
            bn_buf_free(&out);
        }
    /* A 64-bit length is written big endian, whatever the size. */
    bn_buf out = BN_BUF_INIT;
    bn_ws_write_header(&out, true, false, BN_WS_BINARY, UINT64_C(0x0102030405060708), NULL);
    expect_bytes(&out, BYTES(0x82, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8));
    /* The writer appends. */
    bn_ws_write_header(&out, true, false, BN_WS_TEXT, 0, NULL);
    expect_bytes(&out, BYTES(0x82, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8, 0x81, 0x00));
    bn_buf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* Close frames                                                               */

/* Writes a close frame, parses it back; returns its reason (a copy the caller frees). */
static char *close_round_trip(int code, const char *reason, int *got_code, size_t *frame_len)
{
    bn_buf out = BN_BUF_INIT;
    bn_ws_write_close(&out, code, reason);
    *frame_len = out.len;
    bn_ws_frame f;
    size_t used;
    int err;
    cr_assert_eq(bn_ws_parse((uint8_t *)out.data, out.len, false, false, NOLIMIT, &f, &used, &err), BN_WS_FRAME);
    cr_assert_eq(f.opcode, BN_WS_CLOSE);
    cr_assert(f.payload.len <= 125);
    bn_str r;
    cr_assert(bn_ws_parse_close(f.payload, got_code, &r), "close %d", code);
    char *copy = strndup(r.ptr ? r.ptr : "", r.len);
    bn_buf_free(&out);
    return copy;
}

Test(ws_frame, close_encode)
{
    bn_buf out = BN_BUF_INIT;
    bn_ws_write_close(&out, 1000, "bye");
    expect_bytes(&out, BYTES(0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'));
    out.len = 0;
    bn_ws_write_close(&out, 1009, NULL);
    expect_bytes(&out, BYTES(0x88, 0x02, 0x03, 0xF1));
    out.len = 0;
    bn_ws_write_close(&out, 4321, "");
    expect_bytes(&out, BYTES(0x88, 0x02, 0x10, 0xE1));
    out.len = 0;
    bn_ws_write_close(&out, 0, "ignored"); /* no code: an empty close frame */
    expect_bytes(&out, BYTES(0x88, 0x00));
    out.len = 0;
    bn_ws_write_close(&out, 1005, NULL);
    expect_bytes(&out, BYTES(0x88, 0x00));
    bn_buf_free(&out);

    int code;
    size_t flen;
    char *r = close_round_trip(1001, "going away", &code, &flen);
    cr_assert_eq(code, 1001);
    cr_assert_str_eq(r, "going away");
    free(r);
    r = close_round_trip(0, NULL, &code, &flen);
    cr_assert_eq(code, 1005);
    cr_assert_str_eq(r, "");
    free(r);
}

Test(ws_frame, close_reason_cut_on_a_character)
{
    char reason[512];
    int code;
    size_t flen;

    memset(reason, 'x', 200);
    reason[200] = '\0';
    char *r = close_round_trip(1000, reason, &code, &flen);
    cr_assert_eq(strlen(r), 123);
    cr_assert_eq(flen, 2 + 125);
    free(r);

    /* 123 bytes exactly: kept whole. */
    reason[123] = '\0';
    r = close_round_trip(1000, reason, &code, &flen);
    cr_assert_eq(strlen(r), 123);
    free(r);

    /* "é" is 2 bytes: 61 of them fit (122), the 62nd would straddle byte 123. */
    reason[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(reason, "\xc3\xa9");
    r = close_round_trip(1000, reason, &code, &flen);
    cr_assert_eq(strlen(r), 122);
    free(r);
    /* One ASCII byte first: 1 + 61 * 2 = 123 exactly. */
    memmove(reason + 1, reason, strlen(reason) + 1);
    reason[0] = '!';
    r = close_round_trip(1000, reason, &code, &flen);
    cr_assert_eq(strlen(r), 123);
    free(r);

    /* 4-byte characters: 30 of them (120 bytes). */
    reason[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(reason, "\xf0\x9f\x98\x80");
    r = close_round_trip(3000, reason, &code, &flen);
    cr_assert_eq(code, 3000);
    cr_assert_eq(strlen(r), 120);
    free(r);
    /* Shifted by 1, 2 and 3 bytes: still cut before the straddling character. */
    for (int shift = 1; shift <= 3; shift++) {
        char s[512];
        memset(s, 'a', (size_t)shift);
        strcpy(s + shift, reason);
        r = close_round_trip(3000, s, &code, &flen);
        cr_assert_eq(strlen(r), (size_t)shift + 120, "shift %d", shift);
        free(r);
    }

    /* 3-byte characters: 41 of them = 123 bytes. */
    reason[0] = '\0';
    for (int i = 0; i < 50; i++)
        strcat(reason, "\xe2\x82\xac");
    r = close_round_trip(1000, reason, &code, &flen);
    cr_assert_eq(strlen(r), 123);
    free(r);
}

Test(ws_frame, close_parse)
{
    int code = 0;
    bn_str reason;
    cr_assert(bn_ws_parse_close(bn_str_make("", 0), &code, &reason));
    cr_assert_eq(code, 1005);
    cr_assert_eq(reason.len, 0);
    cr_assert(bn_ws_parse_close(BN_STR_NULL, &code, &reason));
    cr_assert_eq(code, 1005);
    cr_assert_not(bn_ws_parse_close(bn_str_make("\x03", 1), &code, &reason));

    static const int valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
                                4000, 4999};
    static const int invalid[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        char p[2] = {(char)(valid[i] >> 8), (char)valid[i]};
        cr_assert(bn_ws_parse_close(bn_str_make(p, 2), &code, &reason), "code %d", valid[i]);
        cr_assert_eq(code, valid[i]);
        cr_assert_eq(reason.len, 0);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        char p[2] = {(char)(invalid[i] >> 8), (char)invalid[i]};
        cr_assert_not(bn_ws_parse_close(bn_str_make(p, 2), &code, &reason), "code %d", invalid[i]);
    }

    cr_assert(bn_ws_parse_close(BN_STR("\x03\xe8h\xc3\xa9llo"), &code, &reason));
    cr_assert_eq(code, 1000);
    cr_assert(bn_str_eq(reason, BN_STR("h\xc3\xa9llo")));
    /* Reasons that are not UTF-8, or end inside a character. */
    cr_assert_not(bn_ws_parse_close(BN_STR("\x03\xe8\xff"), &code, &reason));
    cr_assert_not(bn_ws_parse_close(BN_STR("\x03\xe8" "ab\xc3"), &code, &reason));
    cr_assert_not(bn_ws_parse_close(BN_STR("\x03\xe8\xed\xa0\x80"), &code, &reason));
    cr_assert_not(bn_ws_parse_close(BN_STR("\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited"),
                                    &code, &reason));
}

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                      */

/* A straightforward reference decoder: the whole input is complete, valid UTF-8. */
static bool ref_utf8(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* Whole-message validity as the transport checks it: no invalid byte and a final state of 0. */
static bool dfa_utf8(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    return bn_utf8_validate(&s, p, n) && s == 0;
}

typedef struct {
    const char *bytes;
    size_t len;
    bool valid;     /* a complete, valid message */
    bool truncated; /* no invalid byte, but it ends inside a character */
} utf8_case;

#define U(lit, v, t) {lit, sizeof(lit) - 1, v, t}
static const utf8_case utf8_cases[] = {
    U("", true, false),
    U("hello", true, false),
    U("\x00", true, false),
    U("\x7f", true, false),
    U("\xc2\x80", true, false),          /* U+0080 */
    U("\xdf\xbf", true, false),          /* U+07FF */
    U("\xe0\xa0\x80", true, false),      /* U+0800 */
    U("\xe2\x82\xac", true, false),      /* € */
    U("\xed\x9f\xbf", true, false),      /* U+D7FF */
    U("\xee\x80\x80", true, false),      /* U+E000 */
    U("\xef\xbf\xbf", true, false),      /* U+FFFF */
    U("\xf0\x90\x80\x80", true, false),  /* U+10000 */
    U("\xf0\x9f\x98\x80", true, false),  /* 😀 */
    U("\xf4\x8f\xbf\xbf", true, false),  /* U+10FFFF */
    U("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true, false), /* κόσμε */
    U("\xc0\x80", false, false),         /* overlong NUL */
    U("\xc1\xbf", false, false),
    U("\xe0\x80\x80", false, false),     /* overlong */
    U("\xe0\x9f\xbf", false, false),
    U("\xf0\x80\x80\x80", false, false), /* overlong */
    U("\xf0\x8f\xbf\xbf", false, false),
    U("\xed\xa0\x80", false, false),     /* U+D800 */
    U("\xed\xbf\xbf", false, false),     /* U+DFFF */
    U("\xed\xa0\x80\xed\xb0\x80", false, false), /* a surrogate pair */
    U("\xf4\x90\x80\x80", false, false), /* U+110000 */
    U("\xf5\x80\x80\x80", false, false),
    U("\xf8\x88\x80\x80\x80", false, false),
    U("\xfe", false, false),
    U("\xff", false, false),
    U("\x80", false, false),             /* lone continuation */
    U("a\xbf", false, false),
    U("\xc2\x41", false, false),         /* lead then ASCII */
    U("\xe2\x82\x41", false, false),
    U("\xf0\x9f\x98\x41", false, false),
    U("\xc2\xc2\x80", false, false),
    U("\xc2", false, true),              /* truncated */
    U("\xe2\x82", false, true),
    U("\xe2", false, true),
    U("\xf0\x9f\x98", false, true),
    U("\xf4\x8f", false, true),
    U("hello \xf0", false, true),
};
#undef U

Test(utf8, table)
{
    for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
        const utf8_case *c = &utf8_cases[i];
        const uint8_t *p = (const uint8_t *)c->bytes;
        uint32_t s = 0;
        bool ok = bn_utf8_validate(&s, p, c->len);
        cr_assert_eq(ok, c->valid || c->truncated, "case %zu", i);
        cr_assert_eq(ok && s == 0, c->valid, "case %zu", i);
        cr_assert_eq(ref_utf8(p, c->len), c->valid, "reference, case %zu", i);
        if (!ok) {
            /* Once rejected, always rejected. */
            cr_assert_not(bn_utf8_validate(&s, (const uint8_t *)"a", 1));
            cr_assert_not(bn_utf8_validate(&s, NULL, 0));
        }
    }
}

Test(utf8, every_split_point)
{
    for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
        const utf8_case *c = &utf8_cases[i];
        /* Embedded in ASCII on both sides, so the fast path meets every boundary. */
        uint8_t buf[64];
        size_t n = 0;
        memcpy(buf, "0123456789", 10), n += 10;
        memcpy(buf + n, c->bytes, c->len), n += c->len;
        if (!c->truncated)
            memcpy(buf + n, "abcdefghi", 9), n += 9;
        for (size_t a = 0; a <= n; a++)
            for (size_t b = a; b <= n; b++) {
                uint32_t s = 0;
                bool ok = bn_utf8_validate(&s, buf, a) && bn_utf8_validate(&s, buf + a, b - a) &&
                          bn_utf8_validate(&s, buf + b, n - b);
                cr_assert_eq(ok && s == 0, c->valid, "case %zu split at %zu, %zu", i, a, b);
                cr_assert_eq(ok, c->valid || c->truncated, "case %zu split at %zu, %zu", i, a, b);
            }
        /* Byte by byte. */
        uint32_t s = 0;
        bool ok = true;
        for (size_t k = 0; k < n && ok; k++)
            ok = bn_utf8_validate(&s, buf + k, 1);
        cr_assert_eq(ok && s == 0, c->valid, "case %zu byte by byte", i);
    }
}

Test(utf8, against_reference_decoder)
{
    uint8_t b[4];
    /* Every 1- and 2-byte string. */
    for (unsigned x = 0; x < 65536; x++) {
        b[0] = (uint8_t)(x >> 8), b[1] = (uint8_t)x;
        cr_assert_eq(dfa_utf8(b, 1), ref_utf8(b, 1));
        if (dfa_utf8(b, 2) != ref_utf8(b, 2))
            cr_assert_fail("%02x %02x", b[0], b[1]);
    }
    /* Every 3-byte string with a 3-byte lead (and C2, E0's neighbours DF and F0). */
    static const uint8_t leads3[] = {0xC2, 0xDF, 0xE0, 0xE1, 0xE7, 0xEC, 0xED, 0xEE, 0xEF, 0xF0};
    for (size_t l = 0; l < sizeof(leads3); l++)
        for (unsigned x = 0; x < 65536; x++) {
            b[0] = leads3[l], b[1] = (uint8_t)(x >> 8), b[2] = (uint8_t)x;
            if (dfa_utf8(b, 3) != ref_utf8(b, 3))
                cr_assert_fail("%02x %02x %02x", b[0], b[1], b[2]);
        }
    /* 4-byte leads F0–F7 with every second byte and the edges of the others. */
    static const uint8_t edge[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0xBF, 0xC0, 0xFF};
    for (unsigned lead = 0xF0; lead <= 0xF7; lead++)
        for (unsigned second = 0; second < 256; second++)
            for (size_t t = 0; t < sizeof(edge); t++)
                for (size_t u = 0; u < sizeof(edge); u++) {
                    b[0] = (uint8_t)lead, b[1] = (uint8_t)second, b[2] = edge[t], b[3] = edge[u];
                    if (dfa_utf8(b, 4) != ref_utf8(b, 4))
                        cr_assert_fail("%02x %02x %02x %02x", b[0], b[1], b[2], b[3]);
                }
}

Test(utf8, ascii_fast_path)
{
    uint8_t buf[80];
    memset(buf, 'a', sizeof(buf));
    cr_assert(dfa_utf8(buf, sizeof(buf)));
    /* A bad byte at every position and every alignment. */
    for (size_t off = 0; off < 8; off++)
        for (size_t k = off; k < sizeof(buf); k++) {
            buf[k] = 0xFF;
            uint32_t s = 0;
            cr_assert_not(bn_utf8_validate(&s, buf + off, sizeof(buf) - off), "offset %zu bad byte %zu", off, k);
            /* A 2-byte character there is fine. */
            buf[k] = 0xC3;
            if (k + 1 < sizeof(buf)) {
                buf[k + 1] = 0xA9;
                cr_assert(dfa_utf8(buf + off, sizeof(buf) - off), "offset %zu char at %zu", off, k);
                buf[k + 1] = 'a';
            }
            buf[k] = 'a';
        }
}

/* ------------------------------------------------------------------------ */
/* Handshake                                                                  */

Test(ws_handshake, accept_key)
{
    char out[29];
    memset(out, 'z', sizeof(out));
    bn_ws_accept_key(BN_STR("dGhlIHNhbXBsZSBub25jZQ=="), out);
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    bn_ws_accept_key(BN_STR("x3JJHMbDL1EzLkh9GBhXDw=="), out); /* a second, widely quoted pair */
    cr_assert_eq(strlen(out), 28);
    cr_assert_str_eq(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

Test(ws_handshake, key_valid)
{
    cr_assert(bn_ws_key_valid(BN_STR("dGhlIHNhbXBsZSBub25jZQ==")));
    cr_assert(bn_ws_key_valid(BN_STR("AAAAAAAAAAAAAAAAAAAAAA==")));
    cr_assert(bn_ws_key_valid(BN_STR("+/+/+/+/+/+/+/+/+/+/+w==")));
    cr_assert_not(bn_ws_key_valid(BN_STR("")));
    cr_assert_not(bn_ws_key_valid(BN_STR_NULL));
    cr_assert_not(bn_ws_key_valid(BN_STR("dGhlIHNhbXBsZSBub25jZQ=")));   /* 23 */
    cr_assert_not(bn_ws_key_valid(BN_STR("dGhlIHNhbXBsZSBub25jZQ===")));  /* 25 */
    cr_assert_not(bn_ws_key_valid(BN_STR("dGhlIHNhbXBsZSBub25jZQAA")));   /* no padding */
    cr_assert_not(bn_ws_key_valid(BN_STR("dGhlIHNhbXBsZSBub25jZ===")));   /* 15 bytes + junk */
    cr_assert_not(bn_ws_key_valid(BN_STR("dGhlIHNhbXBsZSBub25j-Q==")));   /* base64url */
    cr_assert_not(bn_ws_key_valid(BN_STR("dGhlIHNhbXBsZSBub25j Q==")));
    cr_assert_not(bn_ws_key_valid(BN_STR("dGhlIHNhbXBsZSBub=5jZQ==")));
    cr_assert_not(bn_ws_key_valid(bn_str_make("dGhlIHNhbXBsZSBub25j\0Q==", 24)));
}

/* ------------------------------------------------------------------------ */
/* permessage-deflate                                                         */

/* Negotiates `header`; NULL `want` means no offer is acceptable. */
static void expect_deflate(const char *header, const char *want, int snct, int cnct, int smwb, int cmwb)
{
    bn_ws_deflate_params p = {true, true, -1, -1};
    bn_buf resp = BN_BUF_INIT;
    bn_buf_append(&resp, "X", 1); /* the line is appended */
    bool ok = bn_ws_deflate_negotiate(bn_str_from_cstr(header), &p, &resp);
    if (!want) {
        cr_assert_not(ok, "header [%s] accepted as [%.*s]", header, (int)resp.len, resp.data);
        cr_assert_eq(resp.len, 1, "header [%s]: response untouched", header);
        bn_buf_free(&resp);
        return;
    }
    cr_assert(ok, "header [%s] refused", header);
    cr_assert_eq(resp.len, 1 + strlen(want), "header [%s]: [%.*s]", header, (int)resp.len, resp.data);
    cr_assert(memcmp(resp.data + 1, want, strlen(want)) == 0, "header [%s]: [%.*s]", header, (int)resp.len - 1,
              resp.data + 1);
    cr_assert_eq(p.server_no_context_takeover, snct, "header [%s]", header);
    cr_assert_eq(p.client_no_context_takeover, cnct, "header [%s]", header);
    cr_assert_eq(p.server_max_window_bits, smwb, "header [%s]", header);
    cr_assert_eq(p.client_max_window_bits, cmwb, "header [%s]", header);

    /* The response, read as an offer, agrees to the same. */
    bn_ws_deflate_params again;
    bn_buf resp2 = BN_BUF_INIT;
    cr_assert(bn_ws_deflate_negotiate(bn_str_make(resp.data + 1, resp.len - 1), &again, &resp2));
    cr_assert(resp2.len == resp.len - 1 && memcmp(resp2.data, resp.data + 1, resp2.len) == 0);
    cr_assert(again.server_no_context_takeover == p.server_no_context_takeover &&
              again.client_no_context_takeover == p.client_no_context_takeover &&
              again.server_max_window_bits == p.server_max_window_bits &&
              again.client_max_window_bits == p.client_max_window_bits);
    bn_buf_free(&resp2);
    bn_buf_free(&resp);
}

Test(ws_deflate, no_offer)
{
    expect_deflate("", NULL, 0, 0, 0, 0);
    expect_deflate(" , ,", NULL, 0, 0, 0, 0);
    expect_deflate("x-webkit-deflate-frame", NULL, 0, 0, 0, 0);
    expect_deflate("permessage-deflatex", NULL, 0, 0, 0, 0);
    expect_deflate("deflate-frame; no_context_takeover", NULL, 0, 0, 0, 0);
    bn_ws_deflate_params p;
    bn_buf resp = BN_BUF_INIT;
    cr_assert_not(bn_ws_deflate_negotiate(BN_STR_NULL, &p, &resp));
    cr_assert_eq(resp.len, 0);
}

Test(ws_deflate, plain_offer)
{
    expect_deflate("permessage-deflate", "permessage-deflate", 0, 0, 15, 15);
    expect_deflate("  permessage-deflate  ", "permessage-deflate", 0, 0, 15, 15);
    expect_deflate("PerMessage-Deflate", "permessage-deflate", 0, 0, 15, 15);
    expect_deflate("foo, permessage-deflate", "permessage-deflate", 0, 0, 15, 15);
    expect_deflate(",permessage-deflate,", "permessage-deflate", 0, 0, 15, 15);
}

Test(ws_deflate, parameters)
{
    /* What browsers send. */
    expect_deflate("permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits=15", 0,
                   0, 15, 15);
    expect_deflate("permessage-deflate; server_no_context_takeover; client_max_window_bits",
                   "permessage-deflate; server_no_context_takeover; client_max_window_bits=15", 1, 0, 15, 15);
    expect_deflate("permessage-deflate;client_no_context_takeover",
                   "permessage-deflate; client_no_context_takeover", 0, 1, 15, 15);
    expect_deflate(
        "permessage-deflate; client_max_window_bits=12; server_max_window_bits=10; client_no_context_takeover; "
        "server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; "
        "client_max_window_bits=12",
        1, 1, 10, 12);
    expect_deflate("permessage-deflate ;\tserver_max_window_bits = 8 ", "permessage-deflate; server_max_window_bits=8",
                   0, 0, 8, 15);
    expect_deflate("permessage-deflate; SERVER_MAX_WINDOW_BITS=15", "permessage-deflate; server_max_window_bits=15", 0,
                   0, 15, 15);
    expect_deflate("permessage-deflate; client_max_window_bits=9", "permessage-deflate; client_max_window_bits=9", 0,
                   0, 15, 9);
    /* Quoted values (RFC 7692 §7.1.2: the value after unescaping). */
    expect_deflate("permessage-deflate; server_max_window_bits=\"10\"",
                   "permessage-deflate; server_max_window_bits=10", 0, 0, 10, 15);
    expect_deflate("permessage-deflate; client_max_window_bits=\"1\\5\"",
                   "permessage-deflate; client_max_window_bits=15", 0, 0, 15, 15);
}

Test(ws_deflate, invalid_values)
{
    static const char *bad[] = {
        "permessage-deflate; server_max_window_bits",   /* a value is required */
        "permessage-deflate; server_max_window_bits=7", "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08", "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=-9", "permessage-deflate; server_max_window_bits=abc",
        "permessage-deflate; server_max_window_bits=\"\"", "permessage-deflate; server_max_window_bits=\"100\"",
        "permessage-deflate; server_max_window_bits=", "permessage-deflate; client_max_window_bits=",
        "permessage-deflate; client_max_window_bits=0", "permessage-deflate; client_max_window_bits=20",
        "permessage-deflate; client_max_window_bits=\"8 \"",
        "permessage-deflate; server_no_context_takeover=1", "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate; foo", "permessage-deflate; foo=bar",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover", /* repeated */
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        /* Malformed. */
        "permessage-deflate;", "permessage-deflate;;", "permessage-deflate; ;client_max_window_bits",
        "permessage-deflate x", "permessage-deflate; server_max_window_bits=\"10",
        "permessage-deflate; server_max_window_bits=1 0", "permessage-deflate; client_max_window_bits=\"1\x01\"",
        "permessage-deflate client_max_window_bits", "\"permessage-deflate\"", "; permessage-deflate",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_deflate(bad[i], NULL, 0, 0, 0, 0);
}

Test(ws_deflate, first_offer_unacceptable)
{
    /* The usual fallback list: a narrow offer first, then a plain one. */
    expect_deflate("permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits",
                   "permessage-deflate; client_max_window_bits=15", 0, 0, 15, 15);
    expect_deflate("permessage-deflate; foo, permessage-deflate; server_no_context_takeover",
                   "permessage-deflate; server_no_context_takeover", 1, 0, 15, 15);
    /* The first acceptable one wins. */
    expect_deflate("permessage-deflate; server_max_window_bits=9, permessage-deflate",
                   "permessage-deflate; server_max_window_bits=9", 0, 0, 9, 15);
    /* A malformed offer, including a comma inside a quoted string, is skipped to the next one. */
    expect_deflate("permessage-deflate; x=\"a, permessage-deflate; y\", permessage-deflate; client_no_context_takeover",
                   "permessage-deflate; client_no_context_takeover", 0, 1, 15, 15);
    expect_deflate("foo; bar=\"a,\\\"b\", permessage-deflate", "permessage-deflate", 0, 0, 15, 15);
    expect_deflate("permessage-deflate x y, permessage-deflate", "permessage-deflate", 0, 0, 15, 15);
    expect_deflate("permessage-deflate; a=\"unterminated, permessage-deflate", NULL, 0, 0, 0, 0);
    /* Two unacceptable ones. */
    expect_deflate("permessage-deflate; server_max_window_bits=7, permessage-deflate; bogus", NULL, 0, 0, 0, 0);
}
