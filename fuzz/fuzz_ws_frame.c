/*
 * libFuzzer target for src/socket/ws_frame.c. The first byte picks the
 * parser's settings (require_mask, allow_rsv1, max_payload); the rest is
 * parsed as a stream of frames. Each frame must lie inside the input, obey
 * the control-frame rules, need more at every shorter prefix without the
 * input being touched, and read back the same once re-encoded. Text and
 * close payloads go through the UTF-8 validator (whole and split) and the
 * close parser; the whole input is also read as a Sec-WebSocket-Extensions
 * header, whose accepted response must negotiate to itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

#include "socket/ws_frame.h"

static bool is_control(bn_ws_opcode op) { return op & 0x8; }

/* Validation in one call and split in two at `at` must agree. */
static bool utf8_whole(const uint8_t *p, size_t n, size_t at, uint32_t *state_out)
{
    uint32_t s1 = 0, s2 = 0;
    bool ok1 = bn_utf8_validate(&s1, p, n);
    if (at > n)
        at = n;
    bool ok2 = bn_utf8_validate(&s2, p, at) && bn_utf8_validate(&s2, p + at, n - at);
    CHECK(ok1 == ok2);
    if (ok1)
        CHECK(s1 == s2);
    *state_out = s1;
    return ok1;
}

static void check_close(bn_str payload)
{
    int code = -1;
    bn_str reason;
    if (!bn_ws_parse_close(payload, &code, &reason))
        return;
    if (payload.len == 0) {
        CHECK(code == 1005 && reason.len == 0);
        return;
    }
    CHECK(code >= 1000 && code <= 4999 && code != 1004 && code != 1005 && code != 1006);
    CHECK(reason.ptr == payload.ptr + 2 && reason.len == payload.len - 2);
    uint32_t s = 0;
    CHECK(bn_utf8_validate(&s, (const uint8_t *)reason.ptr, reason.len) && s == 0);
    /* Written back (a reason without NUL), it reads the same. */
    if (memchr(reason.ptr, 0, reason.len))
        return;
    char *cstr = strndup(reason.ptr, reason.len);
    CHECK(cstr);
    bn_buf out = BN_BUF_INIT;
    bn_ws_write_close(&out, code, cstr);
    bn_ws_frame f;
    size_t used = 0;
    int err = 0;
    CHECK(bn_ws_parse((uint8_t *)out.data, out.len, false, false, 125, &f, &used, &err) == BN_WS_FRAME);
    CHECK(used == out.len && f.opcode == BN_WS_CLOSE);
    int code2 = -1;
    bn_str reason2;
    CHECK(bn_ws_parse_close(f.payload, &code2, &reason2));
    CHECK(code2 == code && bn_str_eq(reason2, reason));
    bn_buf_free(&out);
    free(cstr);
}

/* Re-encodes a parsed frame (masked with `key` or not) and parses it back. */
static void check_reencode(const bn_ws_frame *f, const uint8_t *key, bool allow_rsv1, uint64_t max)
{
    bn_buf out = BN_BUF_INIT;
    if (f->fin && !f->rsv1) {
        bn_ws_write_frame(&out, f->opcode, f->payload, key);
    } else {
        bn_ws_write_header(&out, f->fin, f->rsv1, f->opcode, f->payload.len, key);
        size_t at = out.len;
        bn_buf_append_str(&out, f->payload);
        for (size_t i = 0; key && i < f->payload.len; i++)
            out.data[at + i] = (char)(out.data[at + i] ^ key[i & 3]);
    }
    bn_ws_frame g;
    size_t used = 0;
    int code = 0;
    CHECK(bn_ws_parse((uint8_t *)out.data, out.len, key != NULL, allow_rsv1, max, &g, &used, &code) == BN_WS_FRAME);
    CHECK(used == out.len);
    CHECK(g.fin == f->fin && g.rsv1 == f->rsv1 && g.opcode == f->opcode);
    CHECK(bn_str_eq(g.payload, f->payload));
    bn_buf_free(&out);
}

static void check_frames(const uint8_t *data, size_t size)
{
    uint8_t flags = data[0];
    bool require_mask = flags & 1, allow_rsv1 = flags & 2;
    static const uint64_t limits[4] = {UINT64_MAX, 125, 1000, 65536};
    uint64_t max = limits[(flags >> 2) & 3];
    uint8_t key[4] = {flags, (uint8_t)(flags * 3), 0x5a, (uint8_t)size};

    size_t len = size - 1;
    uint8_t *orig = malloc(len ? len : 1), *buf = malloc(len ? len : 1);
    CHECK(orig && buf);
    memcpy(orig, data + 1, len);
    memcpy(buf, orig, len);

    size_t off = 0;
    uint32_t text_state = 0;
    bool in_text = false;
    for (int n = 0; off < len; n++) {
        bn_ws_frame f;
        size_t used = 0;
        int code = 0;
        bn_ws_parse_result r = bn_ws_parse(buf + off, len - off, require_mask, allow_rsv1, max, &f, &used, &code);
        if (r == BN_WS_NEED_MORE) {
            CHECK(memcmp(buf + off, orig + off, len - off) == 0);
            break;
        }
        if (r == BN_WS_ERROR) {
            CHECK(code == BN_WS_CLOSE_PROTOCOL_ERROR || code == BN_WS_CLOSE_TOO_BIG);
            break;
        }
        CHECK(r == BN_WS_FRAME);
        CHECK(used >= 2 && used <= len - off && used <= 14 + f.payload.len);
        const uint8_t *pp = (const uint8_t *)f.payload.ptr;
        CHECK(pp >= buf + off && pp + f.payload.len == buf + off + used);
        CHECK(f.payload.len <= max);
        CHECK(f.opcode <= BN_WS_BINARY || (f.opcode >= BN_WS_CLOSE && f.opcode <= BN_WS_PONG));
        if (is_control(f.opcode))
            CHECK(f.fin && f.payload.len <= 125 && !f.rsv1);
        if (f.rsv1)
            CHECK(allow_rsv1 && f.opcode != BN_WS_CONTINUATION);
        /* The bytes after the frame are untouched; so is the header. */
        CHECK(memcmp(buf + off + used, orig + off + used, len - off - used) == 0);
        CHECK(memcmp(buf + off, orig + off, used - f.payload.len) == 0);

        /* Every shorter prefix (the first few and the last) needs more and changes nothing. */
        if (n < 4) {
            uint8_t *scratch = malloc(used);
            CHECK(scratch);
            for (size_t k = 0; k < used; k = (k < 24 ? k + 1 : (k < used - 1 ? used - 1 : used))) {
                memcpy(scratch, orig + off, used);
                bn_ws_frame g;
                size_t u2 = 0;
                int c2 = 0;
                CHECK(bn_ws_parse(scratch, k, require_mask, allow_rsv1, max, &g, &u2, &c2) == BN_WS_NEED_MORE);
                CHECK(memcmp(scratch, orig + off, used) == 0);
            }
            /* The whole frame again, from a pristine copy: the same answer. */
            memcpy(scratch, orig + off, used);
            bn_ws_frame g;
            size_t u2 = 0;
            int c2 = 0;
            CHECK(bn_ws_parse(scratch, used, require_mask, allow_rsv1, max, &g, &u2, &c2) == BN_WS_FRAME);
            CHECK(u2 == used && g.opcode == f.opcode && g.fin == f.fin && g.rsv1 == f.rsv1);
            CHECK(g.payload.len == f.payload.len && memcmp(g.payload.ptr, f.payload.ptr, f.payload.len) == 0);
            free(scratch);
            check_reencode(&f, NULL, allow_rsv1, max);
            check_reencode(&f, key, allow_rsv1, max);
        }

        /* Text messages are validated across fragments. */
        if (f.opcode == BN_WS_TEXT) {
            in_text = true;
            text_state = 0;
        }
        if (in_text && (f.opcode == BN_WS_TEXT || f.opcode == BN_WS_CONTINUATION)) {
            if (!bn_utf8_validate(&text_state, pp, f.payload.len))
                in_text = false;
            else if (f.fin)
                in_text = false;
        }
        if (f.opcode == BN_WS_CLOSE)
            check_close(f.payload);
        if (f.payload.len) {
            uint32_t s;
            utf8_whole(pp, f.payload.len, f.payload.len / 2, &s);
        }
        off += used;
    }
    free(orig);
    free(buf);
}

static void check_negotiate(const uint8_t *data, size_t size)
{
    bn_ws_deflate_params p;
    bn_buf resp = BN_BUF_INIT;
    bool ok = bn_ws_deflate_negotiate(bn_str_make((const char *)data, size), &p, &resp);
    if (!ok) {
        CHECK(resp.len == 0);
        return;
    }
    CHECK(resp.len >= 18 && memcmp(resp.data, "permessage-deflate", 18) == 0);
    CHECK(p.server_max_window_bits >= 8 && p.server_max_window_bits <= 15);
    CHECK(p.client_max_window_bits >= 8 && p.client_max_window_bits <= 15);
    for (size_t i = 0; i < resp.len; i++)
        CHECK(resp.data[i] >= 0x20 && resp.data[i] < 0x7f);
    /* The response, as an offer, negotiates to itself. */
    bn_ws_deflate_params q;
    bn_buf resp2 = BN_BUF_INIT;
    CHECK(bn_ws_deflate_negotiate(bn_str_make(resp.data, resp.len), &q, &resp2));
    CHECK(resp2.len == resp.len && memcmp(resp2.data, resp.data, resp.len) == 0);
    CHECK(p.server_no_context_takeover == q.server_no_context_takeover &&
          p.client_no_context_takeover == q.client_no_context_takeover &&
          p.server_max_window_bits == q.server_max_window_bits && p.client_max_window_bits == q.client_max_window_bits);
    bn_buf_free(&resp2);
    bn_buf_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    check_frames(data, size);
    uint32_t s;
    utf8_whole(data, size, data[0] % (size + 1), &s);
    check_negotiate(data, size);
    if (size == 24)
        (void)bn_ws_key_valid(bn_str_make((const char *)data, size));
    return 0;
}
