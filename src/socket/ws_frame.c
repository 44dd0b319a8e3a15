/*
 * WebSocket framing (RFC 6455 §5), close frames (§5.5.1, §7.4), UTF-8
 * validation (§8.1), the handshake's accept key (§4.2.2) and permessage-deflate
 * offer negotiation (RFC 7692 §5–7). See ws_frame.h for the contracts.
 */
#include <string.h>

#include "bennu/crypto.h"
#include "socket/ws_frame.h"

/* ------------------------------------------------------------------------ */
/* Frames                                                                     */

static bn_ws_parse_result fail(int *close_code, int code)
{
    *close_code = code;
    return BN_WS_ERROR;
}

static bool opcode_known(unsigned op) { return op <= BN_WS_BINARY || (op >= BN_WS_CLOSE && op <= BN_WS_PONG); }

/* dst = src XOR the 4-byte key repeated (dst may be src), `len` bytes from key offset 0. */
static void mask_bytes(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4])
{
    uint8_t k8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    uint64_t k;
    memcpy(&k, k8, 8);
    size_t i = 0;
    for (; len - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= k;
        memcpy(dst + i, &w, 8);
    }
    for (; i < len; i++)
        dst[i] = src[i] ^ key[i & 3];
}

/*
 * Checks each byte as soon as it is there, so a bad frame is refused from
 * its first bytes, and a partial frame is never modified (the payload is
 * unmasked only once the whole frame has arrived).
 */
bn_ws_parse_result bn_ws_parse(uint8_t *data, size_t len, bool require_mask, bool allow_rsv1, uint64_t max_payload,
                               bn_ws_frame *frame, size_t *consumed, int *close_code)
{
    if (len < 1)
        return BN_WS_NEED_MORE;
    uint8_t b0 = data[0];
    unsigned op = b0 & 0x0F;
    bool fin = b0 & 0x80, rsv1 = b0 & 0x40, control = op & 0x8;
    if (b0 & 0x30 || !opcode_known(op))
        return fail(close_code, BN_WS_CLOSE_PROTOCOL_ERROR);
    /* RFC 7692 §6.1: only the first frame of a data message carries RSV1. */
    if (rsv1 && (!allow_rsv1 || control || op == BN_WS_CONTINUATION))
        return fail(close_code, BN_WS_CLOSE_PROTOCOL_ERROR);
    if (control && !fin)
        return fail(close_code, BN_WS_CLOSE_PROTOCOL_ERROR);
    if (len < 2)
        return BN_WS_NEED_MORE;

    uint8_t b1 = data[1];
    bool masked = b1 & 0x80;
    if (require_mask && !masked)
        return fail(close_code, BN_WS_CLOSE_PROTOCOL_ERROR);
    uint64_t plen = b1 & 0x7F;
    if (control && plen > 125)
        return fail(close_code, BN_WS_CLOSE_PROTOCOL_ERROR);
    size_t hdr = 2;
    if (plen == 126) {
        if (len < 4)
            return BN_WS_NEED_MORE;
        plen = (uint64_t)data[2] << 8 | data[3];
        hdr = 4;
    } else if (plen == 127) {
        if (len < 10)
            return BN_WS_NEED_MORE;
        if (data[2] & 0x80)
            return fail(close_code, BN_WS_CLOSE_PROTOCOL_ERROR);
        plen = 0;
        for (int i = 2; i < 10; i++)
            plen = plen << 8 | data[i];
        hdr = 10;
    }
    if (plen > max_payload)
        return fail(close_code, BN_WS_CLOSE_TOO_BIG);
    if (masked)
        hdr += 4;
    if (len < hdr || (uint64_t)(len - hdr) < plen)
        return BN_WS_NEED_MORE;

    uint8_t *payload = data + hdr;
    if (masked)
        mask_bytes(payload, payload, (size_t)plen, data + hdr - 4);
    frame->fin = fin;
    frame->rsv1 = rsv1;
    frame->opcode = (bn_ws_opcode)op;
    frame->payload = bn_str_make((const char *)payload, (size_t)plen);
    *consumed = hdr + (size_t)plen;
    return BN_WS_FRAME;
}

void bn_ws_write_header(bn_buf *out, bool fin, bool rsv1, bn_ws_opcode opcode, uint64_t payload_len,
                        const uint8_t *mask_key)
{
    uint8_t *h = (uint8_t *)bn_buf_reserve(out, 14);
    size_t n = 0;
    h[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | ((unsigned)opcode & 0x0F));
    uint8_t mask_bit = mask_key ? 0x80 : 0;
    if (payload_len < 126) {
        h[n++] = (uint8_t)(mask_bit | payload_len);
    } else if (payload_len <= 0xFFFF) {
        h[n++] = mask_bit | 126;
        h[n++] = (uint8_t)(payload_len >> 8);
        h[n++] = (uint8_t)payload_len;
    } else {
        h[n++] = mask_bit | 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            h[n++] = (uint8_t)(payload_len >> shift);
    }
    if (mask_key) {
        memcpy(h + n, mask_key, 4);
        n += 4;
    }
    out->len += n;
}

void bn_ws_write_frame(bn_buf *out, bn_ws_opcode opcode, bn_str payload, const uint8_t *mask_key)
{
    bn_ws_write_header(out, true, false, opcode, payload.len, mask_key);
    if (!payload.len)
        return;
    uint8_t *dst = (uint8_t *)bn_buf_reserve(out, payload.len);
    if (mask_key)
        mask_bytes(dst, (const uint8_t *)payload.ptr, payload.len, mask_key);
    else
        memcpy(dst, payload.ptr, payload.len);
    out->len += payload.len;
}

/* A code <= 0 (no code), 1005 ("no status", never sent) or > 65535 writes a close frame without a payload. */
void bn_ws_write_close(bn_buf *out, int code, const char *reason)
{
    if (code <= 0 || code == 1005 || code > 0xFFFF) {
        bn_ws_write_header(out, true, false, BN_WS_CLOSE, 0, NULL);
        return;
    }
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > 123) {
        rlen = 123;
        /* Back up to the start of the character that straddles the limit. */
        while (rlen > 0 && ((unsigned char)reason[rlen] & 0xC0) == 0x80)
            rlen--;
    }
    uint8_t body[125];
    body[0] = (uint8_t)(code >> 8);
    body[1] = (uint8_t)code;
    if (rlen)
        memcpy(body + 2, reason, rlen);
    bn_ws_write_frame(out, BN_WS_CLOSE, bn_str_make((const char *)body, rlen + 2), NULL);
}

/* RFC 6455 §7.4: codes a peer may send. 1012–1014 are registered with IANA since; 5000 and up are undefined. */
static bool close_code_valid(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

bool bn_ws_parse_close(bn_str payload, int *code, bn_str *reason)
{
    if (payload.len == 0) {
        *code = 1005;
        *reason = bn_str_make(payload.ptr, 0);
        return true;
    }
    if (payload.len == 1)
        return false;
    const uint8_t *p = (const uint8_t *)payload.ptr;
    int c = p[0] << 8 | p[1];
    if (!close_code_valid(c))
        return false;
    uint32_t state = 0;
    if (!bn_utf8_validate(&state, p + 2, payload.len - 2) || state != 0)
        return false;
    *code = c;
    *reason = bn_str_make(payload.ptr + 2, payload.len - 2);
    return true;
}

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                      */

/*
 * A DFA over byte classes. Classes: 0 ASCII; 1 80–8F, 2 90–9F, 3 A0–BF
 * (continuations, split where some leads restrict the second byte); 4 C0–C1
 * (overlong leads); 5 C2–DF; 6 E0 (second byte A0–BF, else overlong);
 * 7 E1–EC, EE–EF; 8 ED (second byte 80–9F, else a surrogate); 9 F0 (second
 * byte 90–BF, else overlong); 10 F1–F3; 11 F4 (second byte 80–8F, else
 * > U+10FFFF); 12 F5–FF.
 */
static const uint8_t utf8_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 90 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* A0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* B0 */
    4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* C0 */
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* D0 */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7, /* E0 */
    9, 10, 10, 10, 11, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* F0 */
};

/*
 * States: 0 between characters; 1, 2, 3 that many continuation bytes to go
 * (any of 80–BF); 4 after E0, 5 after ED, 6 after F0, 7 after F4 (the second
 * byte's range is restricted); 8 rejected, for good. A state is kept
 * multiplied by 16 (the row's offset in the table), so a step is one add and
 * one load.
 */
enum { U8_ACCEPT = 0, U8_REJECT = 8 * 16 };
#define R U8_REJECT
#define ROW(...) __VA_ARGS__, R, R, R /* 13 classes, padded to 16 */
static const uint8_t utf8_next[9 * 16] = {
    /* class:   0    1    2    3   4   5   6   7   8   9  10  11 12 */
    /* 0 */ ROW(0, R, R, R, R, 16, 64, 32, 80, 96, 48, 112, R),
    /* 1 */ ROW(R, 0, 0, 0, R, R, R, R, R, R, R, R, R),
    /* 2 */ ROW(R, 16, 16, 16, R, R, R, R, R, R, R, R, R),
    /* 3 */ ROW(R, 32, 32, 32, R, R, R, R, R, R, R, R, R),
    /* 4 */ ROW(R, R, R, 16, R, R, R, R, R, R, R, R, R),
    /* 5 */ ROW(R, 16, 16, R, R, R, R, R, R, R, R, R, R),
    /* 6 */ ROW(R, R, 32, 32, R, R, R, R, R, R, R, R, R),
    /* 7 */ ROW(R, 32, R, R, R, R, R, R, R, R, R, R, R),
    /* 8 */ ROW(R, R, R, R, R, R, R, R, R, R, R, R, R),
};
#undef ROW
#undef R

bool bn_utf8_validate(uint32_t *state, const uint8_t *p, size_t len)
{
    uint32_t s = *state;
    if (s >= U8_REJECT || s % 16) {
        *state = U8_REJECT;
        return false;
    }
    const uint8_t *end = p + len;
    while (p < end) {
        if (s == U8_ACCEPT && *p < 0x80) {
            /* A run of ASCII: 8 bytes at a time, then the rest one by one. */
            p++;
            while (end - p >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                if (w & UINT64_C(0x8080808080808080))
                    break;
                p += 8;
            }
            while (p < end && *p < 0x80)
                p++;
            continue;
        }
        s = utf8_next[s + utf8_class[*p++]];
        if (s == U8_REJECT) {
            *state = U8_REJECT;
            return false;
        }
    }
    *state = s;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Handshake                                                                  */

void bn_ws_accept_key(bn_str client_key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t digest[BN_SHA1_LEN];
    bn_buf b = BN_BUF_INIT;
    bn_buf_append_str(&b, client_key);
    bn_buf_append(&b, guid, sizeof(guid) - 1);
    bn_sha1(b.data, b.len, digest);
    b.len = 0;
    bn_base64_encode(&b, digest, sizeof(digest));
    memcpy(out, b.data, 28);
    out[28] = '\0';
    bn_buf_free(&b);
}

static bool is_base64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Like most servers, the unused low bits of the last character are not checked. */
bool bn_ws_key_valid(bn_str client_key)
{
    if (client_key.len != 24 || client_key.ptr[22] != '=' || client_key.ptr[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_base64_char((unsigned char)client_key.ptr[i]))
            return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* permessage-deflate negotiation                                              */

/*
 * Sec-WebSocket-Extensions (RFC 6455 §9.1):
 *   extension-list = 1#extension
 *   extension      = token *( ";" extension-param )
 *   extension-param = token [ "=" ( token / quoted-string ) ]
 * with optional whitespace around the separators. A malformed offer is
 * skipped up to the next comma outside a quoted string.
 */
typedef struct {
    const char *p, *end;
} cursor;

static bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c && strchr(extra, c));
}

static void skip_ows(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static bn_str read_token(cursor *c)
{
    const char *start = c->p;
    while (c->p < c->end && is_tchar((unsigned char)*c->p))
        c->p++;
    return bn_str_make(start, (size_t)(c->p - start));
}

/* A parameter value, unescaped into out (at most cap bytes; *len counts them all). */
static bool read_value(cursor *c, char *out, size_t cap, size_t *len)
{
    *len = 0;
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        while (c->p < c->end) {
            unsigned char ch = (unsigned char)*c->p++;
            if (ch == '"')
                return true;
            if (ch == '\\') {
                if (c->p == c->end)
                    return false;
                ch = (unsigned char)*c->p++;
                if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                    return false;
            } else if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                return false;
            }
            if (*len < cap)
                out[*len] = (char)ch;
            ++*len;
        }
        return false; /* unterminated */
    }
    bn_str t = read_token(c);
    if (!t.len)
        return false;
    memcpy(out, t.ptr, t.len < cap ? t.len : cap);
    *len = t.len;
    return true;
}

/* Past the rest of the current element: up to the next comma outside quotes (or the end). */
static void skip_element(cursor *c)
{
    bool quoted = false;
    while (c->p < c->end) {
        char ch = *c->p;
        if (quoted) {
            if (ch == '\\' && c->end - c->p >= 2)
                c->p++;
            else if (ch == '"')
                quoted = false;
        } else if (ch == '"') {
            quoted = true;
        } else if (ch == ',') {
            return;
        }
        c->p++;
    }
}

/* RFC 7692 §7.1.2: a decimal integer 8..15 without leading zeros. */
static int window_bits(const char *v, size_t len)
{
    if (len == 1 && (v[0] == '8' || v[0] == '9'))
        return v[0] - '0';
    if (len == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + v[1] - '0';
    return 0;
}

enum { P_SNCT = 1, P_CNCT = 2, P_SMWB = 4, P_CMWB = 8 };

/* Applies one parameter of a permessage-deflate offer; false makes the offer unacceptable. */
static bool apply_param(bn_str name, bool has_value, const char *v, size_t vlen, unsigned *seen,
                        bn_ws_deflate_params *p)
{
    unsigned bit;
    if (bn_str_eq_nocase(name, BN_STR("server_no_context_takeover"))) {
        bit = P_SNCT;
        if (has_value)
            return false;
        p->server_no_context_takeover = true;
    } else if (bn_str_eq_nocase(name, BN_STR("client_no_context_takeover"))) {
        bit = P_CNCT;
        if (has_value)
            return false;
        p->client_no_context_takeover = true;
    } else if (bn_str_eq_nocase(name, BN_STR("server_max_window_bits"))) {
        bit = P_SMWB;
        if (!has_value || !(p->server_max_window_bits = window_bits(v, vlen)))
            return false;
    } else if (bn_str_eq_nocase(name, BN_STR("client_max_window_bits"))) {
        bit = P_CMWB;
        /* Bare: the client supports any window; we keep the largest. */
        p->client_max_window_bits = has_value ? window_bits(v, vlen) : 15;
        if (!p->client_max_window_bits)
            return false;
    } else {
        return false;
    }
    if (*seen & bit) /* RFC 7692 §7: a repeated parameter declines the offer */
        return false;
    *seen |= bit;
    return true;
}

/*
 * Parses one element at the cursor (which is at its first non-blank byte).
 * True if it is an acceptable permessage-deflate offer; *params and *seen
 * then hold it. Leaves the cursor at the comma that ends the element, or the end.
 */
static bool parse_offer(cursor *c, bn_ws_deflate_params *params, unsigned *seen)
{
    bn_str name = read_token(c);
    bool acceptable = name.len && bn_str_eq_nocase(name, BN_STR("permessage-deflate"));
    *params = (bn_ws_deflate_params){false, false, 15, 15};
    *seen = 0;
    if (!name.len)
        goto malformed;
    for (;;) {
        skip_ows(c);
        if (c->p == c->end || *c->p == ',')
            return acceptable;
        if (*c->p != ';')
            goto malformed;
        c->p++;
        skip_ows(c);
        bn_str pname = read_token(c);
        if (!pname.len)
            goto malformed;
        skip_ows(c);
        bool has_value = false;
        char v[4] = {0};
        size_t vlen = 0;
        if (c->p < c->end && *c->p == '=') {
            c->p++;
            skip_ows(c);
            if (!read_value(c, v, sizeof(v), &vlen))
                goto malformed;
            has_value = true;
        }
        if (acceptable && !apply_param(pname, has_value, v, vlen < sizeof(v) ? vlen : 0, seen, params))
            acceptable = false;
    }
malformed:
    skip_element(c);
    return false;
}

bool bn_ws_deflate_negotiate(bn_str extensions_header, bn_ws_deflate_params *agreed, bn_buf *response)
{
    if (!extensions_header.ptr)
        return false;
    cursor c = {extensions_header.ptr, extensions_header.ptr + extensions_header.len};
    while (c.p < c.end) {
        skip_ows(&c);
        if (c.p == c.end)
            break;
        if (*c.p == ',') {
            c.p++;
            continue;
        }
        bn_ws_deflate_params p;
        unsigned seen;
        if (!parse_offer(&c, &p, &seen))
            continue;
        *agreed = p;
        bn_buf_append_str(response, BN_STR("permessage-deflate"));
        if (p.server_no_context_takeover)
            bn_buf_append_str(response, BN_STR("; server_no_context_takeover"));
        if (p.client_no_context_takeover)
            bn_buf_append_str(response, BN_STR("; client_no_context_takeover"));
        /* Agreed as offered (the server never narrows); absent from the offer, absent here (§7.1.2.2). */
        if (seen & P_SMWB)
            bn_buf_printf(response, "; server_max_window_bits=%d", p.server_max_window_bits);
        if (seen & P_CMWB)
            bn_buf_printf(response, "; client_max_window_bits=%d", p.client_max_window_bits);
        return true;
    }
    return false;
}
