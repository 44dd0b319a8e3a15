/*
 * The WebSocket transport: the opening handshake (RFC 6455 §4, origin check,
 * subprotocols and the authToken bearer), then frames on the upgraded
 * connection: control frames, fragments, UTF-8 checks, size limits,
 * permessage-deflate, the idle timeout — and messages handed whole to the
 * channel core. Frames are parsed in place in the input the http layer
 * offers; only a fragmented or compressed message is assembled in a buffer.
 */
#include <stdlib.h>

#include "bennu/crypto.h"
#include "socket/socket_internal.h"
#include "socket/ws_deflate.h"
#include "socket/ws_frame.h"

#define AUTH_TOKEN_PREFIX "base64url.bearer.phx."

typedef struct ws {
    bn_stream *stream;
    bn_socket *socket;
    bn_timer idle;
    uint64_t last_in_ms;  /* when the last frame arrived */
    bn_buf frag;          /* a fragmented message being assembled; empty otherwise */
    uint32_t utf8_state;  /* of the text fragments so far */
    bn_ws_opcode frag_opcode;
    bool frag_compressed;
    bool in_fragment;
    bool close_sent;
    bool draining;
    bn_ws_deflate *deflate; /* NULL unless negotiated */
} ws;

/* ---- sending ---------------------------------------------------------------- */

static void write_frame(ws *w, bn_ws_opcode op, bn_str payload)
{
    bn_buf b = BN_BUF_INIT;
    if (w->deflate && (op == BN_WS_TEXT || op == BN_WS_BINARY)) {
        bn_buf z = BN_BUF_INIT;
        bn_ws_deflate_message(w->deflate, payload, &z);
        bn_ws_write_header(&b, true, true, op, z.len, NULL);
        bn_buf_append(&b, z.data, z.len);
        bn_buf_free(&z);
        bn_stream_write(w->stream, b.data, b.len);
    } else {
        bn_ws_write_header(&b, true, false, op, payload.len, NULL);
        bn_stream_write(w->stream, b.data, b.len);
        if (payload.len)
            bn_stream_write(w->stream, payload.ptr, payload.len);
    }
    bn_buf_free(&b);
}

/* Says goodbye with `code`; the connection closes once it is written. */
static void send_close(ws *w, int code, const char *reason)
{
    if (w->close_sent)
        return;
    w->close_sent = true;
    bn_buf b = BN_BUF_INIT;
    bn_ws_write_close(&b, code, reason);
    bn_stream_write(w->stream, b.data, b.len);
    bn_buf_free(&b);
    bn_stream_close(w->stream);
}

static void t_send(bn_socket *s, bn_str msg, bool binary)
{
    ws *w = bn__socket_tdata(s);
    if (!w->close_sent)
        write_frame(w, binary ? BN_WS_BINARY : BN_WS_TEXT, msg);
}

static void t_send_fastlane(bn_socket *s, bn_fastlane *fl)
{
    ws *w = bn__socket_tdata(s);
    if (w->close_sent)
        return;
    if (w->deflate) { /* the compressor's window is this connection's own: no sharing */
        bn_str m = bn__fastlane_message(fl, bn__socket_vsn_of(s));
        if (m.ptr)
            write_frame(w, fl->binary ? BN_WS_BINARY : BN_WS_TEXT, m);
        bn_stream_flush(w->stream);
        return;
    }
    size_t hdr;
    bn_shared *frame = bn__fastlane_frame(fl, bn__socket_vsn_of(s), &hdr);
    if (frame)
        bn_stream_write_shared(w->stream, frame, 0, frame->len);
}

static size_t t_pending(bn_socket *s) { return bn_stream_pending(((ws *)bn__socket_tdata(s))->stream); }

static void t_close(bn_socket *s, int code, const char *reason)
{
    ws *w = bn__socket_tdata(s);
    if (code == BN_WS_CLOSE_POLICY) { /* a client that does not read would not read a goodbye either */
        bn_stream_abort(w->stream);
        return;
    }
    send_close(w, code, reason);
}

static void t_resume(bn_socket *s) { bn_stream_resume(((ws *)bn__socket_tdata(s))->stream); }
static void t_flush(bn_socket *s) { bn_stream_flush(((ws *)bn__socket_tdata(s))->stream); }

static const bn_transport websocket_transport = {
    .name = "websocket",
    .send = t_send,
    .send_fastlane = t_send_fastlane,
    .pending = t_pending,
    .close = t_close,
    .resume = t_resume,
    .flush = t_flush,
};

/* ---- receiving ---------------------------------------------------------------- */

/* A whole message: inflate and check it, then give it to the core. Returns
 * false when the connection must stop reading (closed or busy). */
static bool deliver(ws *w, bn_ws_opcode op, bool compressed, bn_str payload)
{
    bn_buf inflated = BN_BUF_INIT;
    if (compressed) {
        int rc = bn_ws_inflate_message(w->deflate, payload, bn__socket_max_frame(bn__socket_def(w->socket)), &inflated);
        if (rc) {
            send_close(w, rc, rc == BN_WS_CLOSE_TOO_BIG ? "message too big" : "bad compressed data");
            return false;
        }
        payload = bn_str_make(inflated.data, inflated.len);
        uint32_t st = 0;
        if (op == BN_WS_TEXT && (!bn_utf8_validate(&st, (const uint8_t *)payload.ptr, payload.len) || st)) {
            bn_buf_free(&inflated);
            send_close(w, BN_WS_CLOSE_INVALID_DATA, "text is not UTF-8");
            return false;
        }
    }
    int r = bn__socket_input(w->socket, op == BN_WS_BINARY, payload);
    bn_buf_free(&inflated);
    if (r == BN_SOCKET_ERROR) {
        send_close(w, BN_WS_CLOSE_INVALID_DATA, "malformed message");
        return false;
    }
    if (r == BN_SOCKET_BUSY) {
        bn_stream_pause(w->stream);
        return false;
    }
    return true;
}

static bool fail(ws *w, int code, const char *reason)
{
    send_close(w, code, reason);
    return false;
}

/* A text or binary frame, or a continuation. */
static bool data_frame(ws *w, const bn_ws_frame *f)
{
    size_t max = bn__socket_max_frame(bn__socket_def(w->socket));
    if (f->opcode != BN_WS_CONTINUATION) {
        if (w->in_fragment)
            return fail(w, BN_WS_CLOSE_PROTOCOL_ERROR, "expected a continuation frame");
        if (f->fin) {
            if (f->opcode == BN_WS_TEXT && !f->rsv1) {
                uint32_t st = 0;
                if (!bn_utf8_validate(&st, (const uint8_t *)f->payload.ptr, f->payload.len) || st)
                    return fail(w, BN_WS_CLOSE_INVALID_DATA, "text is not UTF-8");
            }
            return deliver(w, f->opcode, f->rsv1, f->payload);
        }
        w->in_fragment = true;
        w->frag_opcode = f->opcode;
        w->frag_compressed = f->rsv1;
        w->utf8_state = 0;
    } else if (!w->in_fragment) {
        return fail(w, BN_WS_CLOSE_PROTOCOL_ERROR, "continuation without a message");
    }
    if (w->frag.len + f->payload.len > max)
        return fail(w, BN_WS_CLOSE_TOO_BIG, "message too big");
    if (w->frag_opcode == BN_WS_TEXT && !w->frag_compressed &&
        !bn_utf8_validate(&w->utf8_state, (const uint8_t *)f->payload.ptr, f->payload.len))
        return fail(w, BN_WS_CLOSE_INVALID_DATA, "text is not UTF-8");
    bn_buf_append(&w->frag, f->payload.ptr, f->payload.len);
    if (!f->fin)
        return true;
    w->in_fragment = false;
    if (w->frag_opcode == BN_WS_TEXT && !w->frag_compressed && w->utf8_state)
        return fail(w, BN_WS_CLOSE_INVALID_DATA, "text is not UTF-8");
    bool go_on = deliver(w, w->frag_opcode, w->frag_compressed, bn_str_make(w->frag.data, w->frag.len));
    bn_buf_free(&w->frag); /* the core copied what it keeps */
    return go_on;
}

/* One frame. Returns false to stop reading. */
static bool on_frame(ws *w, const bn_ws_frame *f)
{
    switch (f->opcode) {
    case BN_WS_PING:
        if (!w->close_sent)
            write_frame(w, BN_WS_PONG, f->payload);
        return true;
    case BN_WS_PONG:
        return true;
    case BN_WS_CLOSE: {
        int code;
        bn_str reason;
        if (!bn_ws_parse_close(f->payload, &code, &reason))
            return fail(w, BN_WS_CLOSE_PROTOCOL_ERROR, "malformed close frame");
        send_close(w, code == 1005 ? BN_WS_CLOSE_NORMAL : code, ""); /* echo it, then close */
        return false;
    }
    default:
        return data_frame(w, f);
    }
}

static size_t on_data(bn_stream *s, void *user, char *data, size_t len)
{
    (void)s;
    ws *w = user;
    size_t off = 0;
    uint64_t max = bn__socket_max_frame(bn__socket_def(w->socket));
    while (off < len && !w->close_sent) {
        bn_ws_frame f;
        size_t used;
        int code;
        bn_ws_parse_result r = bn_ws_parse((uint8_t *)data + off, len - off, true, w->deflate != NULL, max, &f,
                                           &used, &code);
        if (r == BN_WS_NEED_MORE)
            break;
        if (r == BN_WS_ERROR) {
            send_close(w, code, code == BN_WS_CLOSE_TOO_BIG ? "message too big" : "protocol error");
            return len;
        }
        off += used;
        w->last_in_ms = bn_loop_now(bn_stream_loop(w->stream));
        if (!on_frame(w, &f))
            break;
    }
    return w->close_sent ? len : off;
}

static void on_close(bn_stream *s, void *user)
{
    (void)s;
    ws *w = user;
    bn_timer_stop(&w->idle);
    bn__socket_closed(w->socket, w->draining ? "shutdown" : "closed");
    bn_buf_free(&w->frag);
    bn_ws_deflate_free(w->deflate);
    free(w);
}

static void on_drain(bn_stream *s, void *user)
{
    (void)s;
    ws *w = user;
    w->draining = true;
    send_close(w, 1012, "server restart"); /* "service restart": clients come back */
}

static const bn_stream_handler ws_handler = {on_data, on_close, on_drain};

/* Phoenix's socket timeout: a client silent that long (heartbeats count) is gone. */
static void idle_check(bn_timer *t)
{
    ws *w = bn_container_of(t, ws, idle);
    unsigned timeout = bn__socket_timeout_ms(bn__socket_def(w->socket));
    uint64_t now = bn_loop_now(bn_stream_loop(w->stream));
    if (now - w->last_in_ms >= timeout) {
        send_close(w, BN_WS_CLOSE_NORMAL, "timeout");
        return;
    }
    bn_timer_start(bn_stream_loop(w->stream), &w->idle, w->last_in_ms + timeout - now);
}

/* ---- the handshake ---------------------------------------------------------------- */

static bool header_has_token(bn_conn *c, const char *name, bn_str token)
{
    bn_str list = bn_conn_req_header(c, bn_str_from_cstr(name)), elem;
    while (list.ptr && bn_str_list_next(&list, &elem))
        if (bn_str_eq_nocase(elem, token))
            return true;
    return false;
}

/* Splits "scheme://host[:port]" (a trailing path is ignored). */
static void split_origin(bn_str o, bn_str *scheme, bn_str *host, bn_str *port)
{
    *scheme = *port = BN_STR_NULL;
    const char *sep = memmem(o.ptr, o.len, "//", 2);
    bn_str rest = o;
    if (sep) {
        *scheme = bn_str_make(o.ptr, (size_t)(sep - o.ptr));
        if (scheme->len && scheme->ptr[scheme->len - 1] == ':')
            scheme->len--;
        rest = bn_str_make(sep + 2, o.len - (size_t)(sep + 2 - o.ptr));
    }
    const char *slash = memchr(rest.ptr, '/', rest.len);
    if (slash)
        rest.len = (size_t)(slash - rest.ptr);
    const char *colon = rest.len && rest.ptr[0] != '[' ? memchr(rest.ptr, ':', rest.len) : NULL;
    if (colon) {
        *port = bn_str_make(colon + 1, rest.len - (size_t)(colon + 1 - rest.ptr));
        rest.len = (size_t)(colon - rest.ptr);
    }
    *host = rest;
}

static bool host_matches(bn_str pattern, bn_str host)
{
    if (pattern.len > 2 && pattern.ptr[0] == '*' && pattern.ptr[1] == '.') { /* any subdomain */
        bn_str suffix = bn_str_make(pattern.ptr + 1, pattern.len - 1);
        return host.len > suffix.len &&
               bn_str_eq_nocase(bn_str_make(host.ptr + host.len - suffix.len, suffix.len), suffix);
    }
    return bn_str_eq_nocase(pattern, host);
}

bool bn__socket_origin_allowed(bn_conn *c, const bn_socket_def *def)
{
    bn_str origin = bn_conn_req_header(c, BN_STR("origin"));
    if (!origin.ptr)
        return true;
    bn_str scheme, host, port;
    split_origin(origin, &scheme, &host, &port);
    if (!def->check_origin)
        return host.len && bn_str_eq_nocase(host, bn_conn_host(c));
    for (const char *const *a = def->check_origin; *a; a++) {
        if (strcmp(*a, "*") == 0)
            return true;
        bn_str as, ah, ap;
        split_origin(bn_str_from_cstr(*a), &as, &ah, &ap);
        if ((!as.len || bn_str_eq_nocase(as, scheme)) && host_matches(ah, host) && (!ap.len || bn_str_eq(ap, port)))
            return true;
    }
    return false;
}

/* Looks through Sec-WebSocket-Protocol: the authToken bearer (decoded into
 * `token`) and whether "phoenix" was offered. */
static void read_subprotocols(bn_conn *c, bool want_token, bn_buf *token, bool *offered, bool *phoenix)
{
    bn_str list = bn_conn_req_header(c, BN_STR("sec-websocket-protocol")), elem;
    *offered = list.ptr != NULL;
    *phoenix = false;
    while (list.ptr && bn_str_list_next(&list, &elem)) {
        size_t plen = sizeof(AUTH_TOKEN_PREFIX) - 1;
        if (want_token && elem.len > plen && memcmp(elem.ptr, AUTH_TOKEN_PREFIX, plen) == 0) {
            bn_buf padded = BN_BUF_INIT; /* the client strips the '=' padding */
            bn_buf_append(&padded, elem.ptr + plen, elem.len - plen);
            while (padded.len % 4)
                bn_buf_append(&padded, "=", 1);
            token->len = 0;
            if (!bn_base64_decode(token, bn_str_make(padded.data, padded.len)))
                token->len = 0;
            bn_buf_free(&padded);
        } else if (bn_str_eq(elem, BN_STR("phoenix"))) {
            *phoenix = true;
        }
    }
}

static void refuse(bn_conn *c, int status, const char *why)
{
    bn_debug("websocket refused (%d): %s", status, why);
    if (status == 426)
        bn_conn_put_resp_header(c, BN_STR("sec-websocket-version"), BN_STR("13"));
    bn_conn_send_resp(c, status, BN_STR(""));
}

void bn__websocket_serve(bn_conn *c, const bn_socket_def *def)
{
    bn_str key = bn_conn_req_header(c, BN_STR("sec-websocket-key"));
    if (bn_conn_method_id(c) != BN_METHOD_GET || !header_has_token(c, "upgrade", BN_STR("websocket")) ||
        !header_has_token(c, "connection", BN_STR("upgrade")) || !bn_ws_key_valid(key))
        return refuse(c, 400, "not a WebSocket handshake");
    if (!bn_str_eq(bn_conn_req_header(c, BN_STR("sec-websocket-version")), BN_STR("13")))
        return refuse(c, 426, "unsupported WebSocket version");
    if (!bn__socket_origin_allowed(c, def))
        return refuse(c, 403, "origin not allowed");
    bn_vsn vsn;
    if (!bn__socket_vsn(c, &vsn))
        return refuse(c, 403, "unsupported vsn");

    bn_buf token = BN_BUF_INIT;
    bool offered, phoenix;
    read_subprotocols(c, def->auth_token, &token, &offered, &phoenix);
    ws *w = bn_xcalloc(1, sizeof(*w));
    w->socket = bn__socket_connect(def, &websocket_transport, w, vsn, bn_conn_query_params(c), c,
                                   bn_str_make(token.data, token.len));
    bn_buf_free(&token);
    if (!w->socket) {
        free(w);
        return refuse(c, 403, "connect refused");
    }

    char accept[29];
    bn_ws_accept_key(key, accept);
    bn_conn_put_resp_header(c, BN_STR("upgrade"), BN_STR("websocket"));
    bn_conn_put_resp_header(c, BN_STR("connection"), BN_STR("Upgrade"));
    bn_conn_put_resp_header(c, BN_STR("sec-websocket-accept"), bn_str_make(accept, 28));
    if (offered && phoenix)
        bn_conn_put_resp_header(c, BN_STR("sec-websocket-protocol"), BN_STR("phoenix"));
    bn_ws_deflate_params params;
    bn_buf ext = BN_BUF_INIT;
    if (def->compress &&
        bn_ws_deflate_negotiate(bn_conn_req_header(c, BN_STR("sec-websocket-extensions")), &params, &ext)) {
        w->deflate = bn_ws_deflate_new(&params);
        bn_conn_put_resp_header(c, BN_STR("sec-websocket-extensions"), bn_str_make(ext.data, ext.len));
    }
    bn_buf_free(&ext);
    bn_conn_send_resp(c, 101, BN_STR(""));
    w->stream = bn_conn_upgrade(c, &ws_handler, w);
    if (!w->stream) { /* an in-process request: nothing to talk over */
        bn__socket_closed(w->socket, "closed");
        bn_ws_deflate_free(w->deflate);
        free(w);
        return;
    }
    bn_timer_init(&w->idle, idle_check);
    w->last_in_ms = bn_loop_now(bn_loop_current());
    bn_timer_start(bn_loop_current(), &w->idle, bn__socket_timeout_ms(def));
}
