/*
 * permessage-deflate (RFC 7692 §7) compression streams for one WebSocket
 * connection, on zlib's raw deflate. Negotiation is in ws_frame.c
 * (bn_ws_deflate_negotiate); this is what runs once the parameters are agreed.
 *
 * Internal to the socket layer (src/socket).
 */
#ifndef BENNU_WS_DEFLATE_H
#define BENNU_WS_DEFLATE_H

#include <stddef.h>

#include "bennu/core.h"
#include "socket/ws_frame.h"

typedef struct bn_ws_deflate bn_ws_deflate;

/* Streams for one connection with the agreed parameters (server side: we deflate with
 * server_max_window_bits / server_no_context_takeover and inflate with client_max_window_bits /
 * client_no_context_takeover). zlib streams are allocated lazily at first use, so an idle
 * connection that never sent or received a compressed message holds only this small struct. */
bn_ws_deflate *bn_ws_deflate_new(const bn_ws_deflate_params *p);
void bn_ws_deflate_free(bn_ws_deflate *d);
/* Inflates one whole compressed message (the concatenated payloads of its frames, without the
 * 00 00 ff ff tail that the sender stripped) and appends the result to `out`. Returns 0, or
 * BN_WS_CLOSE_TOO_BIG (1009) if the result would exceed `max_len` (stop early: a zip bomb must
 * not allocate more than max_len), or BN_WS_CLOSE_INVALID_DATA / 1007 for corrupt data.
 * Honours context takeover (the window persists between messages unless no_context_takeover).
 * On an error `out` is left as it was and the connection must close. */
int bn_ws_inflate_message(bn_ws_deflate *d, bn_str in, size_t max_len, bn_buf *out);
/* Compresses one message and appends the result (tail 00 00 ff ff removed, as RFC 7692 §7.2.1
 * says) to `out`. With server_no_context_takeover the stream is reset after each message. */
void bn_ws_deflate_message(bn_ws_deflate *d, bn_str in, bn_buf *out);
/* Bytes of zlib state this connection holds now (0 until first use), for docs and benchmarks. */
size_t bn_ws_deflate_memory(const bn_ws_deflate *d);

#endif
