/*
 * WebSocket framing (RFC 6455 §5) and the opening handshake's pure parts,
 * written for Bennu's buffers: the parser reads frames in place from a
 * connection's input (no copy unless a masked payload must be unmasked,
 * which is done in place), the writer appends a frame header to an output
 * buffer so that a broadcast's payload can be framed once and shared.
 *
 * Internal to the socket layer (src/socket); the transport that drives a
 * connection with it comes next.
 */
#ifndef BENNU_WS_FRAME_H
#define BENNU_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bennu/core.h"

typedef enum {
    BN_WS_CONTINUATION = 0x0,
    BN_WS_TEXT = 0x1,
    BN_WS_BINARY = 0x2,
    BN_WS_CLOSE = 0x8,
    BN_WS_PING = 0x9,
    BN_WS_PONG = 0xA,
} bn_ws_opcode;

/* Close codes (RFC 6455 §7.4.1) Bennu sends. */
enum {
    BN_WS_CLOSE_NORMAL = 1000,
    BN_WS_CLOSE_GOING_AWAY = 1001,
    BN_WS_CLOSE_PROTOCOL_ERROR = 1002,
    BN_WS_CLOSE_UNSUPPORTED = 1003,
    BN_WS_CLOSE_INVALID_DATA = 1007, /* text that is not UTF-8 */
    BN_WS_CLOSE_POLICY = 1008,
    BN_WS_CLOSE_TOO_BIG = 1009,
    BN_WS_CLOSE_INTERNAL = 1011,
};

typedef struct bn_ws_frame {
    bool fin;
    bool rsv1; /* permessage-deflate: the message is compressed */
    bn_ws_opcode opcode;
    bn_str payload; /* unmasked, in place in the input */
} bn_ws_frame;

typedef enum {
    BN_WS_NEED_MORE = 0, /* not a whole frame yet: read more */
    BN_WS_FRAME = 1,     /* *frame and *consumed are set */
    BN_WS_ERROR = -1,    /* *close_code says why (1002, 1009) */
} bn_ws_parse_result;

/*
 * Parses one frame at the start of `data` (len bytes). A server requires
 * masked frames (`require_mask`) and unmasks the payload in place. Errors
 * (BN_WS_ERROR, *close_code 1002): reserved bits other than RSV1, RSV1 unless
 * `allow_rsv1` (deflate negotiated), RSV1 on a control or continuation
 * frame (RFC 7692 §6.1), unknown opcodes,
 * a control frame that is fragmented or longer than 125 bytes, a 64-bit
 * length with its top bit set, an unmasked frame when a mask is required.
 * A payload longer than `max_payload` is an error with 1009 as soon as the
 * header says so, before the payload arrives. Lengths not in their shortest
 * encoding are accepted, as RFC 6455 allows.
 */
bn_ws_parse_result bn_ws_parse(uint8_t *data, size_t len, bool require_mask, bool allow_rsv1, uint64_t max_payload,
                               bn_ws_frame *frame, size_t *consumed, int *close_code);

/* Appends a frame header for `payload_len` bytes (server frames are not masked;
 * a client, such as the benchmark's load tool, passes a mask key). */
void bn_ws_write_header(bn_buf *out, bool fin, bool rsv1, bn_ws_opcode opcode, uint64_t payload_len,
                        const uint8_t *mask_key /* NULL or 4 bytes */);
/* Header + payload (masked in the copy when mask_key is given). */
void bn_ws_write_frame(bn_buf *out, bn_ws_opcode opcode, bn_str payload, const uint8_t *mask_key);
/* A close frame: the code (2 bytes, big endian) and a UTF-8 reason (≤ 123 bytes, cut at a
 * character). A code that cannot be sent (≤ 0, 1005, > 65535) gives an empty close frame. */
void bn_ws_write_close(bn_buf *out, int code, const char *reason);
/* Reads a close frame's payload: code 1005 (none) for an empty one; false if malformed
 * (1 byte, a code that must not be sent (1004, 1005, 1006, 1015, < 1000, 1016–2999), or
 * a reason that is not UTF-8). */
bool bn_ws_parse_close(bn_str payload, int *code, bn_str *reason);

/*
 * Incremental UTF-8 validation (text messages arrive in fragments whose
 * boundaries may split a character): *state starts at 0; returns false at
 * the first invalid byte (overlongs, surrogates, > U+10FFFF are invalid).
 * At the end of the message *state must be 0 again (else a truncated character).
 */
bool bn_utf8_validate(uint32_t *state, const uint8_t *p, size_t len);

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
void bn_ws_accept_key(bn_str client_key, char out[29]);
/* A Sec-WebSocket-Key is the base64 of 16 bytes: 24 characters ending in "==". */
bool bn_ws_key_valid(bn_str client_key);

/*
 * permessage-deflate (RFC 7692) offer negotiation: reads the client's
 * Sec-WebSocket-Extensions header and, if it offers permessage-deflate with
 * parameters the server accepts, writes the response extension line into
 * `response` and the agreed parameters. Unknown parameters or values make
 * that offer unacceptable (the next offer is tried).
 */
typedef struct bn_ws_deflate_params {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    int server_max_window_bits; /* 8..15 */
    int client_max_window_bits; /* 8..15 */
} bn_ws_deflate_params;
bool bn_ws_deflate_negotiate(bn_str extensions_header, bn_ws_deflate_params *agreed, bn_buf *response);

#endif
