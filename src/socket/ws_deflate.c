/*
 * permessage-deflate (RFC 7692 §7) on zlib raw deflate streams. See
 * ws_deflate.h for the contracts.
 *
 * What a connection costs (zlib 1.2.13, measured through the allocation
 * hooks below): nothing but this 40-byte struct until the first compressed
 * message. With 15-bit windows the deflater then holds 198 KiB (window 64 KiB,
 * match chains 64 KiB, hash heads 32 KiB, pending buffer 32 KiB, state 6 KiB)
 * and the inflater 39 KiB (window 32 KiB, state 7 KiB). Windows and chains
 * scale with 2^bits, the rest does not: with 9-bit windows 72 KiB and 8 KiB.
 *
 * memLevel is 7, not zlib's default 8: it halves the hash heads and the
 * pending buffer (64 KiB less per connection, -24%) and, on Phoenix-style
 * JSON messages of 250 bytes and of 1 MiB, compressed within 0.5% of
 * memLevel 8 at the same speed; lower memLevels start to cost ratio on
 * large messages. The compression level is zlib's default (6): on the same
 * messages level 1 was twice as fast but 27% larger.
 */
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

#include "socket/ws_deflate.h"

enum {
    MEM_LEVEL = 7,
    /* Inflate output is reserved at most this much at a time (and never past max_len + 1). */
    INFLATE_CHUNK = 64 * 1024,
    DEFLATE_CHUNK = 64 * 1024,
    /*
     * A sender may end a DEFLATE stream (a block with BFINAL set, RFC 7692
     * §7.2.3.4) and start another in the same message. Each restart copies the
     * window out and back to keep the LZ77 history; bounding restarts per
     * message bounds that work, so a message made of tiny final blocks cannot
     * make us copy 64 KiB for every 2 bytes it sends.
     */
    MAX_STREAM_ENDS = 4,
};

struct bn_ws_deflate {
    bn_ws_deflate_params params;
    z_stream *deflater; /* NULL until the first message we compress */
    z_stream *inflater; /* NULL until the first compressed message we receive */
    size_t memory;      /* bytes held by zlib's allocations and the z_streams */
};

/* The empty stored block that Z_SYNC_FLUSH ends with; senders strip it, receivers put it back. */
static const uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* ------------------------------------------------------------------------ */
/* zlib allocation: bn_xmalloc (aborts rather than fail, like all of Bennu's  */
/* allocations) with a size header so that `memory` counts exactly.           */

typedef union {
    size_t size;
    max_align_t align;
} alloc_header;

static voidpf zalloc_cb(voidpf opaque, uInt items, uInt size)
{
    bn_ws_deflate *d = opaque;
    size_t n = (size_t)items * size; /* uInt × uInt fits a 64-bit size_t */
    alloc_header *h = bn_xmalloc(sizeof(*h) + n);
    h->size = n;
    d->memory += n;
    return h + 1;
}

static void zfree_cb(voidpf opaque, voidpf ptr)
{
    bn_ws_deflate *d = opaque;
    alloc_header *h = (alloc_header *)ptr - 1;
    d->memory -= h->size;
    free(h);
}

static z_stream *stream_new(bn_ws_deflate *d)
{
    z_stream *s = bn_xcalloc(1, sizeof(*s));
    s->zalloc = zalloc_cb;
    s->zfree = zfree_cb;
    s->opaque = d;
    d->memory += sizeof(*s);
    return s;
}

static void stream_free(bn_ws_deflate *d, z_stream *s)
{
    d->memory -= sizeof(*s);
    free(s);
}

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                   */

bn_ws_deflate *bn_ws_deflate_new(const bn_ws_deflate_params *p)
{
    bn_ws_deflate *d = bn_xcalloc(1, sizeof(*d));
    d->params = *p;
    return d;
}

void bn_ws_deflate_free(bn_ws_deflate *d)
{
    if (!d)
        return;
    if (d->deflater) {
        deflateEnd(d->deflater);
        stream_free(d, d->deflater);
    }
    if (d->inflater) {
        inflateEnd(d->inflater);
        stream_free(d, d->inflater);
    }
    free(d);
}

size_t bn_ws_deflate_memory(const bn_ws_deflate *d) { return d->memory; }

/*
 * zlib refuses an 8-bit window for raw deflate; 9 bits is safe when 8 were
 * agreed because zlib never emits a distance beyond the window minus its
 * 262-byte lookahead (250 < 256 here), so the peer's 256-byte window suffices.
 */
static z_stream *deflater(bn_ws_deflate *d)
{
    if (!d->deflater) {
        z_stream *s = stream_new(d);
        int bits = BN_MAX(d->params.server_max_window_bits, 9);
        if (deflateInit2(s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
            bn_fatal("ws_deflate: deflateInit2(%d bits) failed", bits);
        d->deflater = s;
    }
    return d->deflater;
}

/* Raw inflate accepts 8..15 bits; the window must be as large as the client's, no larger. */
static z_stream *inflater(bn_ws_deflate *d)
{
    if (!d->inflater) {
        z_stream *s = stream_new(d);
        if (inflateInit2(s, -d->params.client_max_window_bits) != Z_OK)
            bn_fatal("ws_deflate: inflateInit2(%d bits) failed", d->params.client_max_window_bits);
        d->inflater = s;
    }
    return d->inflater;
}

/* ------------------------------------------------------------------------ */
/* Compression                                                                */

/* Deflates `len` bytes with `flush`, appending everything zlib produces. */
static void deflate_into(z_stream *s, const char *p, size_t len, int flush, bn_buf *out)
{
    s->next_in = (Bytef *)p;
    s->avail_in = (uInt)len;
    do {
        size_t room = BN_MIN(deflateBound(s, s->avail_in) + 16, (size_t)DEFLATE_CHUNK);
        s->next_out = (Bytef *)bn_buf_reserve(out, room);
        s->avail_out = (uInt)room;
        int rc = deflate(s, flush);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            bn_fatal("ws_deflate: deflate failed (%d)", rc);
        out->len += room - s->avail_out;
    } while (s->avail_out == 0); /* output space left over: all input consumed, flush complete */
}

void bn_ws_deflate_message(bn_ws_deflate *d, bn_str in, bn_buf *out)
{
    /* An empty stored block's first byte (RFC 7692 §7.2.3.6). zlib would emit
     * nothing for no input after a flush, so it is written directly. */
    if (in.len == 0) {
        bn_buf_append(out, "", 1);
        return;
    }
    z_stream *s = deflater(d);
    size_t start = out->len;
    const char *p = in.ptr;
    size_t left = in.len;
    while (left > UINT_MAX) { /* avail_in is 32 bits */
        deflate_into(s, p, UINT_MAX, Z_NO_FLUSH, out);
        p += UINT_MAX;
        left -= UINT_MAX;
    }
    deflate_into(s, p, left, Z_SYNC_FLUSH, out);
    if (out->len - start < sizeof(sync_tail) ||
        memcmp(out->data + out->len - sizeof(sync_tail), sync_tail, sizeof(sync_tail)) != 0)
        bn_fatal("ws_deflate: Z_SYNC_FLUSH did not end with 00 00 ff ff");
    out->len -= sizeof(sync_tail);
    if (d->params.server_no_context_takeover)
        deflateReset(s);
}

/* ------------------------------------------------------------------------ */
/* Decompression                                                              */

typedef struct {
    size_t produced; /* bytes appended to out so far */
    size_t max_len;
    int stream_ends; /* BFINAL blocks seen in this message */
} inflate_run;

/* After a final block, a new DEFLATE stream follows with the same LZ77 history. */
static void restart_keeping_window(bn_ws_deflate *d, z_stream *s)
{
    Bytef *window = bn_xmalloc((size_t)1 << d->params.client_max_window_bits);
    uInt n = 0;
    inflateGetDictionary(s, window, &n);
    inflateReset(s);
    if (n)
        inflateSetDictionary(s, window, n);
    free(window);
}

/*
 * Inflates all `len` bytes at `p` into `out`, going on past final blocks.
 * Returns 0 or a close code.
 */
static int inflate_part(bn_ws_deflate *d, z_stream *s, const char *p, size_t len, bn_buf *out, inflate_run *r)
{
    s->next_in = (Bytef *)p;
    s->avail_in = 0;
    bool pending_output = false; /* the last call filled the output: more may be waiting */
    for (;;) {
        if (s->avail_in == 0 && len > 0) {
            s->avail_in = (uInt)BN_MIN(len, (size_t)UINT_MAX);
            len -= s->avail_in;
        }
        if (s->avail_in == 0 && !pending_output)
            return 0;
        /* Room for one byte past max_len: producing it is how a too-big message is told. */
        size_t allowed = r->max_len - r->produced;
        size_t room = allowed < INFLATE_CHUNK ? allowed + 1 : INFLATE_CHUNK;
        s->next_out = (Bytef *)bn_buf_reserve(out, room);
        s->avail_out = (uInt)room;
        int rc = inflate(s, Z_SYNC_FLUSH);
        size_t n = room - s->avail_out;
        out->len += n;
        r->produced += n;
        if (r->produced > r->max_len)
            return BN_WS_CLOSE_TOO_BIG;
        pending_output = s->avail_out == 0;
        if (rc == Z_STREAM_END) {
            if (++r->stream_ends > MAX_STREAM_ENDS)
                return BN_WS_CLOSE_INVALID_DATA;
            restart_keeping_window(d, s);
            pending_output = false;
        } else if (rc == Z_BUF_ERROR) {
            /* No progress possible: nothing was waiting. (With input left that
             * cannot happen; refusing it keeps the loop finite regardless.) */
            if (s->avail_in)
                return BN_WS_CLOSE_INVALID_DATA;
            pending_output = false;
        } else if (rc != Z_OK) {
            return BN_WS_CLOSE_INVALID_DATA; /* Z_DATA_ERROR, or Z_NEED_DICT which raw streams never ask */
        }
    }
}

static int inflate_all(bn_ws_deflate *d, z_stream *s, bn_str in, size_t max_len, bn_buf *out)
{
    inflate_run r = {.produced = 0, .max_len = max_len, .stream_ends = 0};
    int rc = inflate_part(d, s, in.ptr, in.len, out, &r);
    if (rc)
        return rc;
    /* A message whose last block is final without the empty stored block
     * after it (§7.2.3.4 adds one) is accepted: the tail would only open a
     * truncated stored block in a new stream. */
    if (r.stream_ends && s->total_in == 0)
        return 0;
    rc = inflate_part(d, s, (const char *)sync_tail, sizeof(sync_tail), out, &r);
    if (rc)
        return rc;
    /* data_type & 128: inflate stopped between blocks. Anything else means the
     * message ended inside a block (truncated data). */
    return (s->data_type & 128) ? 0 : BN_WS_CLOSE_INVALID_DATA;
}

int bn_ws_inflate_message(bn_ws_deflate *d, bn_str in, size_t max_len, bn_buf *out)
{
    /* No payload at all is not what a compressor produces (an empty message is
     * 0x00, §7.2.3.6), but it can only mean an empty message: no zlib needed. */
    if (in.len == 0)
        return 0;
    z_stream *s = inflater(d);
    size_t start = out->len;
    int rc = inflate_all(d, s, in, max_len, out);
    if (rc) {
        out->len = start;
        inflateReset(s); /* the connection closes; leave the stream in a defined state */
    } else if (d->params.client_no_context_takeover) {
        inflateReset(s);
    }
    return rc;
}
