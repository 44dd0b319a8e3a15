/*
 * Base64 (standard and url-safe, RFC 4648) and hex codecs. Decoders are
 * strict: one accepted spelling per byte string, nothing appended on error.
 */
#include "bennu/crypto.h"

static const char STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void encode(bn_buf *out, const uint8_t *p, size_t len, const char *alphabet, bool pad)
{
    if (len == 0)
        return;
    char *w = bn_buf_reserve(out, (len + 2) / 3 * 4);
    char *start = w;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *w++ = alphabet[v >> 18];
        *w++ = alphabet[v >> 12 & 63];
        *w++ = alphabet[v >> 6 & 63];
        *w++ = alphabet[v & 63];
    }
    size_t rest = len - i;
    if (rest) {
        uint32_t v = (uint32_t)p[i] << 16 | (rest == 2 ? (uint32_t)p[i + 1] << 8 : 0);
        *w++ = alphabet[v >> 18];
        *w++ = alphabet[v >> 12 & 63];
        if (rest == 2)
            *w++ = alphabet[v >> 6 & 63];
        if (pad) {
            *w++ = '=';
            if (rest == 1)
                *w++ = '=';
        }
    }
    out->len += (size_t)(w - start);
}

void bn_base64_encode(bn_buf *out, const void *data, size_t len) { encode(out, data, len, STD, true); }

void bn_base64url_encode(bn_buf *out, const void *data, size_t len, bool pad) { encode(out, data, len, URL, pad); }

/* 0..63 for a character of the alphabet, -1 otherwise. */
static int sextet(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static bool decode(bn_buf *out, bn_str in, bool url, bool padded)
{
    size_t n = in.len;
    if (padded) {
        if (n % 4)
            return false;
        /* At most two '=' and only at the very end. */
        if (n && in.ptr[n - 1] == '=')
            n -= in.ptr[n - 2] == '=' ? 2 : 1;
    }
    if (n % 4 == 1)
        return false; /* 6 bits cannot end a byte string */
    size_t start = out->len;
    uint8_t *w = (uint8_t *)bn_buf_reserve(out, n / 4 * 3 + 2);
    uint32_t acc = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int s = sextet(in.ptr[i], url);
        if (s < 0)
            goto fail;
        acc = acc << 6 | (uint32_t)s;
        if (++k == 4) {
            *w++ = (uint8_t)(acc >> 16);
            *w++ = (uint8_t)(acc >> 8);
            *w++ = (uint8_t)acc;
            acc = 0;
            k = 0;
        }
    }
    /* Tail: 2 chars carry 1 byte + 4 spare bits, 3 chars 2 bytes + 2 spare
     * bits. Spare bits must be zero, else two spellings would decode alike. */
    if (k == 2) {
        if (acc & 0xF)
            goto fail;
        *w++ = (uint8_t)(acc >> 4);
    } else if (k == 3) {
        if (acc & 0x3)
            goto fail;
        *w++ = (uint8_t)(acc >> 10);
        *w++ = (uint8_t)(acc >> 2);
    }
    out->len = (size_t)((char *)w - out->data);
    return true;
fail:
    out->len = start;
    return false;
}

bool bn_base64_decode(bn_buf *out, bn_str in) { return decode(out, in, false, true); }

bool bn_base64url_decode(bn_buf *out, bn_str in, bool padded) { return decode(out, in, true, padded); }

void bn_hex_encode(bn_buf *out, const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    if (len == 0)
        return;
    char *w = bn_buf_reserve(out, len * 2);
    for (size_t i = 0; i < len; i++) {
        w[2 * i] = digits[p[i] >> 4];
        w[2 * i + 1] = digits[p[i] & 15];
    }
    out->len += len * 2;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool bn_hex_decode_to(uint8_t *dst, bn_str in)
{
    if (in.len % 2)
        return false;
    for (size_t i = 0; i < in.len; i += 2) {
        int hi = nibble(in.ptr[i]), lo = nibble(in.ptr[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        dst[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

bool bn_hex_decode(bn_buf *out, bn_str in)
{
    if (in.len % 2)
        return false;
    if (in.len == 0)
        return true;
    /* Written past out->len: nothing is committed until the whole string decoded. */
    if (!bn_hex_decode_to((uint8_t *)bn_buf_reserve(out, in.len / 2), in))
        return false;
    out->len += in.len / 2;
    return true;
}
