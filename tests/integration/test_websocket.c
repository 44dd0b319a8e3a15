/*
 * The WebSocket transport over raw sockets (RFC 6455, PROTOCOLS.md §1–3):
 * handshakes written byte for byte, client frames built with the framing
 * helpers (masked, fragmented, split, malformed), and every server frame
 * checked to the byte. The server is channel_server
 * (tests/support/bin/channel_server.c): socket /socket, channels "room:*"
 * whose "ping" replies ok with the payload (binary as binary), auth_token on,
 * any origin, connect refused for reject=1 or a token other than
 * "secret-token".
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <bennu.h>

#include "harness.h"
#include "socket/ws_frame.h"

/* RFC 6455 §1.3's sample key and its accept value. */
#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define WAIT_MS 5000
#define MAX_FRAME ((size_t)1 << 20) /* channel_server's max_frame_size (the default) */

#define JOIN "[\"1\",\"1\",\"room:lobby\",\"phx_join\",{}]"
#define JOINED "[\"1\",\"1\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]"

static bt_server srv;

static void start_with(const char *extra)
{
    const char *env[] = {"BENNU_MASTER=0", "BENNU_THREADS=2", extra, NULL};
    cr_assert(bt_server_start(&srv, "channel_server", env), "channel_server did not start (log %s)", srv.log_path);
}

static void start(void) { start_with(NULL); }
static void start_short_timeout(void) { start_with("CHANNEL_SERVER_TIMEOUT_MS=300"); }

/* Ends a test: a clean drain exits 0; a leak (LeakSanitizer) or a crash would not. */
static void stop_clean(void)
{
    int status = bt_server_stop(&srv, 5000);
    cr_expect_eq(status, 0, "channel_server exit status %d (log %s)", status, srv.log_path);
}

static void fini(void)
{
    if (srv.pid)
        bt_server_stop(&srv, 2000);
}

TestSuite(websocket, .init = start, .fini = fini, .timeout = 60);
TestSuite(websocket_idle, .init = start_short_timeout, .fini = fini, .timeout = 60);

/* ---- the handshake ----------------------------------------------------------- */

/* An upgrade request; `key` and `version` NULL leave their header out, `extra` is more header lines. */
static const char *upgrade_request(const char *method, const char *query, const char *key, const char *version,
                                   const char *extra)
{
    static char req[4096];
    int n = snprintf(req, sizeof req,
                     "%s /socket/websocket?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n%s%s%s%s%s%s%s\r\n",
                     method, query, key ? "Sec-WebSocket-Key: " : "", key ? key : "", key ? "\r\n" : "",
                     version ? "Sec-WebSocket-Version: " : "", version ? version : "", version ? "\r\n" : "",
                     extra ? extra : "");
    cr_assert(n > 0 && (size_t)n < sizeof req);
    return req;
}

/* Sends `request` on a new connection and reads the answer's head, and not a byte more (frames may
 * follow a 101); a refusal's body is read into r->body. Returns the connection. */
static int handshake(const char *request, bt_response *r)
{
    int fd = bt_connect(srv.port);
    cr_assert(fd >= 0, "connect");
    cr_assert(bt_send_str(fd, request));
    memset(r, 0, sizeof *r);
    size_t len = 0;
    while (len < 4 || memcmp(r->head + len - 4, "\r\n\r\n", 4) != 0) {
        cr_assert(len < sizeof r->head - 1, "answer head too long");
        ssize_t n = recv(fd, r->head + len, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_eq(n, 1, "no complete answer (%s): %s", n == 0 ? "closed" : "timeout", r->head);
        len++;
    }
    cr_assert_eq(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1, "%s", r->head);
    char cl[32];
    size_t want = r->status != 101 && bt_header(r, "content-length", cl, sizeof cl) ? strtoull(cl, NULL, 10) : 0;
    r->body = calloc(1, want + 1);
    while (r->body_len < want) {
        ssize_t n = recv(fd, r->body + r->body_len, want - r->body_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert(n > 0, "body cut short");
        r->body_len += (size_t)n;
    }
    return fd;
}

/* A refused handshake: `status` with an empty body. */
static void expect_refused(const char *request, int status, bt_response *r)
{
    int fd = handshake(request, r);
    close(fd);
    cr_expect_eq(r->status, status, "got %d, want %d: %s", r->status, status, r->head);
    cr_expect_eq(r->body_len, 0, "a refusal has an empty body: %s", r->body);
    char v[64];
    cr_expect(!bt_header(r, "sec-websocket-accept", v, sizeof v), "%s", r->head);
}

/* "base64url.bearer.phx.<token>": the npm client's authToken subprotocol, '=' padding stripped. */
static const char *bearer(const char *token)
{
    static char out[256];
    bn_buf b = BN_BUF_INIT;
    bn_base64_encode(&b, token, strlen(token));
    while (b.len && b.data[b.len - 1] == '=')
        b.len--;
    snprintf(out, sizeof out, "base64url.bearer.phx.%.*s", (int)b.len, b.data);
    bn_buf_free(&b);
    return out;
}

/* ---- frames -------------------------------------------------------------------- */

typedef struct wsc {
    int fd;
    bn_buf in; /* bytes received and not yet parsed */
} wsc;

/* An open WebSocket, the handshake's answer checked to be 101. */
static wsc ws_open_with(const char *query, const char *extra)
{
    bt_response r;
    int fd = handshake(upgrade_request("GET", query, SAMPLE_KEY, "13", extra), &r);
    cr_assert_eq(r.status, 101, "%s", r.head);
    bt_response_free(&r);
    return (wsc){fd, BN_BUF_INIT};
}

static wsc ws_open(void) { return ws_open_with("vsn=2.0.0", NULL); }

static void ws_close(wsc *c)
{
    close(c->fd);
    bn_buf_free(&c->in);
}

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a masked client frame. */
static void put_frame(bn_buf *out, bool fin, bn_ws_opcode op, const void *payload, size_t len)
{
    bn_ws_write_header(out, fin, false, op, len, mask_key);
    if (!len)
        return;
    char *dst = bn_buf_reserve(out, len);
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)(((const uint8_t *)payload)[i] ^ mask_key[i & 3]);
    out->len += len;
}

static void put_text(bn_buf *out, const char *text) { put_frame(out, true, BN_WS_TEXT, text, strlen(text)); }

/* Sends the buffer in one write and frees it. */
static void send_buf(wsc *c, bn_buf *b)
{
    cr_assert(bt_send(c->fd, b->data, b->len), "send");
    bn_buf_free(b);
}

static void send_frame(wsc *c, bool fin, bn_ws_opcode op, const void *payload, size_t len)
{
    bn_buf b = BN_BUF_INIT;
    put_frame(&b, fin, op, payload, len);
    send_buf(c, &b);
}

static void send_text(wsc *c, const char *text) { send_frame(c, true, BN_WS_TEXT, text, strlen(text)); }

typedef struct rframe {
    bn_ws_opcode opcode;
    bool fin;
    bool rsv1; /* compressed (permessage-deflate) */
    char *data; /* malloc'd, NUL-terminated */
    size_t len;
} rframe;

/* The server's next frame (unmasked; RSV1 only where deflate was negotiated); false at EOF. */
static bool read_frame(wsc *c, rframe *f)
{
    long long end = bt_now_ms() + WAIT_MS;
    for (;;) {
        if (c->in.len >= 2)
            cr_assert(!((uint8_t)c->in.data[1] & 0x80), "a server frame is masked");
        bn_ws_frame fr;
        size_t used;
        int code = 0;
        bn_ws_parse_result pr = bn_ws_parse((uint8_t *)c->in.data, c->in.len, false, true, UINT64_MAX, &fr, &used,
                                            &code);
        cr_assert_neq(pr, BN_WS_ERROR, "malformed server frame (%d)", code);
        if (pr == BN_WS_FRAME) {
            f->opcode = fr.opcode;
            f->fin = fr.fin;
            f->rsv1 = fr.rsv1;
            f->len = fr.payload.len;
            f->data = malloc(f->len + 1);
            memcpy(f->data, fr.payload.ptr, f->len);
            f->data[f->len] = '\0';
            bn_buf_consume(&c->in, used);
            return true;
        }
        long long left = end - bt_now_ms();
        cr_assert(left > 0, "no whole frame from the server within %d ms (%zu bytes buffered)", WAIT_MS, c->in.len);
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert(n > 0, "no whole frame from the server within %d ms (%zu bytes buffered)", WAIT_MS, c->in.len);
        char *dst = bn_buf_reserve(&c->in, 1 << 16);
        ssize_t got = recv(c->fd, dst, 1 << 16, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            cr_assert_eq(c->in.len, 0, "the connection ended inside a frame");
            return false;
        }
        c->in.len += (size_t)got;
    }
}

static void expect_frame(wsc *c, bn_ws_opcode op, const void *payload, size_t len)
{
    rframe f;
    cr_assert(read_frame(c, &f), "the connection closed; expected a frame with opcode %d", op);
    cr_expect(f.fin, "server messages are not fragmented");
    cr_expect(!f.rsv1, "a compressed frame where nothing was negotiated");
    cr_expect_eq(f.opcode, op, "opcode %d, want %d: %s", f.opcode, op, f.data);
    cr_expect(f.len == len && memcmp(f.data, payload, len) == 0, "got (%zu bytes) %s\nwant (%zu bytes) %.*s", f.len,
              f.data, len, (int)len, (const char *)payload);
    free(f.data);
}

static void expect_text(wsc *c, const char *text) { expect_frame(c, BN_WS_TEXT, text, strlen(text)); }

/* The server's goodbye: a close frame with `code`, nothing after it, then the end of the connection. */
static void expect_close(wsc *c, int code)
{
    rframe f;
    cr_assert(read_frame(c, &f), "the connection closed without a close frame");
    cr_assert_eq(f.opcode, BN_WS_CLOSE, "opcode %d instead of a close frame: %s", f.opcode, f.data);
    int got;
    bn_str reason;
    cr_assert(bn_ws_parse_close(bn_str_make(f.data, f.len), &got, &reason), "malformed close frame (%zu bytes)",
              f.len);
    cr_expect_eq(got, code, "close code %d, want %d (reason \"%.*s\")", got, code, (int)reason.len, reason.ptr);
    free(f.data);
    cr_expect_eq(c->in.len, 0, "bytes after the close frame");
    cr_expect(bt_wait_closed(c->fd, WAIT_MS), "the server kept the connection open after its close frame");
}

static void join_lobby(wsc *c)
{
    send_text(c, JOIN);
    expect_text(c, JOINED);
}

/* ---- handshake answers ----------------------------------------------------------- */

Test(websocket, handshake_answers_101_with_the_accept_key)
{
    bt_response r;
    int fd = handshake(upgrade_request("GET", "vsn=2.0.0", SAMPLE_KEY, "13", NULL), &r);
    cr_assert_eq(r.status, 101, "%s", r.head);
    char v[128];
    cr_expect(bt_header(&r, "upgrade", v, sizeof v) && strcasecmp(v, "websocket") == 0, "%s", r.head);
    cr_expect(bt_header(&r, "connection", v, sizeof v) && strcasecmp(v, "upgrade") == 0, "%s", r.head);
    cr_expect(bt_header(&r, "sec-websocket-accept", v, sizeof v) && strcmp(v, SAMPLE_ACCEPT) == 0, "%s", r.head);
    cr_expect(!bt_header(&r, "sec-websocket-protocol", v, sizeof v), "no subprotocol was offered: %s", r.head);
    cr_expect(!bt_header(&r, "sec-websocket-extensions", v, sizeof v), "no extension was offered: %s", r.head);
    cr_expect(!bt_header(&r, "content-length", v, sizeof v) && !bt_header(&r, "transfer-encoding", v, sizeof v),
              "a 101 has no body: %s", r.head);
    bt_response_free(&r);
    wsc c = {fd, BN_BUF_INIT};
    join_lobby(&c); /* the connection now speaks frames */
    ws_close(&c);
    stop_clean();
}

Test(websocket, any_origin_is_allowed)
{
    wsc c = ws_open_with("vsn=2.0.0", "Origin: http://elsewhere.example:8080\r\n");
    join_lobby(&c);
    ws_close(&c);
    stop_clean();
}

Test(websocket, a_non_get_request_is_400)
{
    bt_response r;
    expect_refused(upgrade_request("POST", "vsn=2.0.0", SAMPLE_KEY, "13", "Content-Length: 0\r\n"), 400, &r);
    bt_response_free(&r);
    stop_clean();
}

Test(websocket, a_missing_or_invalid_key_is_400)
{
    const char *keys[] = {NULL, "", "abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=",
                          "dGhlIHNhbXBsZ!Bub25jZQ=="};
    for (size_t i = 0; i < BN_ARRAY_LEN(keys); i++) {
        bt_response r;
        expect_refused(upgrade_request("GET", "vsn=2.0.0", keys[i], "13", NULL), 400, &r);
        bt_response_free(&r);
    }
    stop_clean();
}

Test(websocket, a_wrong_version_is_426_naming_13)
{
    const char *versions[] = {"8", "12", NULL};
    for (size_t i = 0; i < BN_ARRAY_LEN(versions); i++) {
        bt_response r;
        expect_refused(upgrade_request("GET", "vsn=2.0.0", SAMPLE_KEY, versions[i], NULL), 426, &r);
        char v[64];
        cr_expect(bt_header(&r, "sec-websocket-version", v, sizeof v) && strcmp(v, "13") == 0, "%s", r.head);
        bt_response_free(&r);
    }
    stop_clean();
}

Test(websocket, an_unsupported_vsn_is_403)
{
    bt_response r;
    expect_refused(upgrade_request("GET", "vsn=3.0.0", SAMPLE_KEY, "13", NULL), 403, &r);
    bt_response_free(&r);
    stop_clean();
}

Test(websocket, a_refused_connect_is_403)
{
    bt_response r;
    expect_refused(upgrade_request("GET", "reject=1&vsn=2.0.0", SAMPLE_KEY, "13", NULL), 403, &r);
    bt_response_free(&r);
    stop_clean();
}

Test(websocket, the_auth_token_subprotocol_answers_phoenix)
{
    char extra[512];
    snprintf(extra, sizeof extra, "Sec-WebSocket-Protocol: phoenix, %s\r\n", bearer("secret-token"));
    bt_response r;
    int fd = handshake(upgrade_request("GET", "vsn=2.0.0", SAMPLE_KEY, "13", extra), &r);
    cr_assert_eq(r.status, 101, "%s", r.head);
    char v[256];
    cr_expect(bt_header(&r, "sec-websocket-protocol", v, sizeof v) && strcmp(v, "phoenix") == 0,
              "the token is not echoed, only phoenix: %s", r.head);
    bt_response_free(&r);
    wsc c = {fd, BN_BUF_INIT};
    join_lobby(&c);
    ws_close(&c);
    stop_clean();
}

Test(websocket, a_wrong_auth_token_is_403)
{
    char extra[512];
    snprintf(extra, sizeof extra, "Sec-WebSocket-Protocol: phoenix, %s\r\n", bearer("wrong-token")); /* one '=' cut */
    bt_response r;
    expect_refused(upgrade_request("GET", "vsn=2.0.0", SAMPLE_KEY, "13", extra), 403, &r);
    bt_response_free(&r);
    stop_clean();
}

/* ---- messages ---------------------------------------------------------------------- */

Test(websocket, v2_join_and_ping_reply)
{
    wsc c = ws_open();
    join_lobby(&c);
    send_text(&c, "[\"1\",\"2\",\"room:lobby\",\"ping\",{\"n\":1,\"s\":\"h\\u00e9\"}]");
    expect_text(&c, "[\"1\",\"2\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":"
                    "{\"n\":1,\"s\":\"h\xC3\xA9\"}}]"); /* \u00e9 comes back as UTF-8 */
    ws_close(&c);
    stop_clean();
}

Test(websocket, v1_join_and_reply_are_json_objects)
{
    wsc c = ws_open_with("vsn=1.0.0", NULL);
    send_text(&c, "{\"topic\":\"room:lobby\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\",\"join_ref\":\"1\"}");
    expect_text(&c, "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"ok\",\"response\":{}},"
                    "\"ref\":\"1\"}");
    send_text(&c, "{\"topic\":\"room:lobby\",\"event\":\"ping\",\"payload\":{\"n\":2},\"ref\":\"2\"}");
    expect_text(&c, "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"ok\",\"response\":"
                    "{\"n\":2}},\"ref\":\"2\"}");
    ws_close(&c);
    stop_clean();
}

Test(websocket, heartbeat_reply)
{
    wsc c = ws_open();
    send_text(&c, "[null,\"5\",\"phoenix\",\"heartbeat\",{}]");
    expect_text(&c, "[null,\"5\",\"phoenix\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
    ws_close(&c);
    stop_clean();
}

Test(websocket, a_broadcast_reaches_every_subscriber)
{
    wsc a = ws_open(), b = ws_open();
    join_lobby(&a);
    join_lobby(&b);
    send_text(&a, "[\"1\",\"2\",\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]");
    const char *bcast = "[null,null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]";
    expect_text(&a, bcast);
    expect_text(&b, bcast);
    ws_close(&a);
    ws_close(&b);
    stop_clean();
}

Test(websocket, a_binary_push_gets_a_binary_reply)
{
    wsc c = ws_open();
    join_lobby(&c);
    /* kind 0, join_ref "1", ref "2", topic "room:lobby", event "ping", then the payload */
    static const uint8_t push[] = {0, 1, 1, 10, 4, '1', '2', 'r', 'o', 'o', 'm', ':', 'l', 'o', 'b', 'b', 'y',
                                   'p', 'i', 'n', 'g', 0x01, 0x02, 0x00, 0xFF, 0x80};
    send_frame(&c, true, BN_WS_BINARY, push, sizeof push);
    /* kind 1, join_ref "1", ref "2", topic, status "ok", the same payload */
    static const uint8_t reply[] = {1, 1, 1, 10, 2, '1', '2', 'r', 'o', 'o', 'm', ':', 'l', 'o', 'b', 'b', 'y',
                                    'o', 'k', 0x01, 0x02, 0x00, 0xFF, 0x80};
    expect_frame(&c, BN_WS_BINARY, reply, sizeof reply);
    ws_close(&c);
    stop_clean();
}

/* ---- control frames ------------------------------------------------------------------ */

Test(websocket, a_ping_is_answered_by_a_pong_with_its_payload)
{
    wsc c = ws_open();
    static const char bytes[] = "\x00ping\xFF\x80";
    send_frame(&c, true, BN_WS_PING, bytes, sizeof bytes - 1);
    expect_frame(&c, BN_WS_PONG, bytes, sizeof bytes - 1);
    send_frame(&c, true, BN_WS_PING, "", 0);
    expect_frame(&c, BN_WS_PONG, "", 0);
    char big[125];
    memset(big, 'p', sizeof big);
    send_frame(&c, true, BN_WS_PING, big, sizeof big);
    expect_frame(&c, BN_WS_PONG, big, sizeof big);
    /* an unsolicited pong is ignored; the connection goes on */
    send_frame(&c, true, BN_WS_PONG, "x", 1);
    join_lobby(&c);
    ws_close(&c);
    stop_clean();
}

Test(websocket, a_client_close_is_echoed_and_the_server_closes_tcp)
{
    wsc c = ws_open();
    join_lobby(&c);
    const char close_4001[] = {0x0F, (char)0xA1, 'b', 'y', 'e'};
    send_frame(&c, true, BN_WS_CLOSE, close_4001, sizeof close_4001);
    expect_close(&c, 4001);
    ws_close(&c);

    c = ws_open(); /* a close without a code is answered with 1000 */
    send_frame(&c, true, BN_WS_CLOSE, "", 0);
    expect_close(&c, 1000);
    ws_close(&c);
    stop_clean();
}

/* ---- fragments -------------------------------------------------------------------------- */

Test(websocket, a_fragmented_message_with_a_ping_inside_is_one_message)
{
    wsc c = ws_open();
    join_lobby(&c);
    const char *msg = "[\"1\",\"2\",\"room:lobby\",\"ping\",{\"n\":3}]";
    size_t len = strlen(msg);
    send_frame(&c, false, BN_WS_TEXT, msg, 10);
    send_frame(&c, true, BN_WS_PING, "mid", 3);
    send_frame(&c, false, BN_WS_CONTINUATION, msg + 10, 15);
    send_frame(&c, true, BN_WS_CONTINUATION, msg + 25, len - 25);
    expect_frame(&c, BN_WS_PONG, "mid", 3); /* answered at once, not after the message */
    expect_text(&c, "[\"1\",\"2\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"n\":3}}]");
    ws_close(&c);
    stop_clean();
}

Test(websocket, a_continuation_without_a_start_is_1002)
{
    wsc c = ws_open();
    send_frame(&c, true, BN_WS_CONTINUATION, "[]", 2);
    expect_close(&c, BN_WS_CLOSE_PROTOCOL_ERROR);
    ws_close(&c);
    stop_clean();
}

Test(websocket, a_new_message_inside_a_fragmented_one_is_1002)
{
    wsc c = ws_open();
    bn_buf b = BN_BUF_INIT;
    put_frame(&b, false, BN_WS_TEXT, "[\"1\",", 5);
    put_text(&b, JOIN);
    send_buf(&c, &b);
    expect_close(&c, BN_WS_CLOSE_PROTOCOL_ERROR);
    ws_close(&c);
    stop_clean();
}

Test(websocket, an_unmasked_client_frame_is_1002)
{
    wsc c = ws_open();
    bn_buf b = BN_BUF_INIT;
    bn_ws_write_frame(&b, BN_WS_TEXT, BN_STR(JOIN), NULL);
    send_buf(&c, &b);
    expect_close(&c, BN_WS_CLOSE_PROTOCOL_ERROR);
    ws_close(&c);
    stop_clean();
}

/* ---- UTF-8 -------------------------------------------------------------------------- */

Test(websocket, invalid_utf8_in_a_text_frame_is_1007)
{
    wsc c = ws_open();
    join_lobby(&c);
    send_text(&c, "[\"1\",\"2\",\"room:lobby\",\"ping\",{\"s\":\"\xC3\x28\"}]");
    expect_close(&c, BN_WS_CLOSE_INVALID_DATA);
    ws_close(&c);
    stop_clean();
}

Test(websocket, invalid_utf8_in_a_first_fragment_is_1007_before_the_message_ends)
{
    wsc c = ws_open();
    join_lobby(&c);
    const char *part = "[\"1\",\"2\",\"room:lobby\",\"ping\",{\"s\":\"\xED\xA0\x80"; /* a surrogate */
    send_frame(&c, false, BN_WS_TEXT, part, strlen(part));
    expect_close(&c, BN_WS_CLOSE_INVALID_DATA);
    ws_close(&c);
    stop_clean();
}

Test(websocket, a_character_split_across_fragments_is_accepted)
{
    wsc c = ws_open();
    join_lobby(&c);
    /* é (2 bytes), € (3 bytes), U+1F600 (4 bytes) */
    const char *msg = "[\"1\",\"2\",\"room:lobby\",\"ping\",{\"s\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}]";
    size_t len = strlen(msg);
    size_t cut1 = (size_t)(strstr(msg, "\xE2") - msg) + 1; /* after €'s first byte */
    size_t cut2 = (size_t)(strstr(msg, "\xF0") - msg) + 2; /* inside the 4-byte character */
    send_frame(&c, false, BN_WS_TEXT, msg, cut1);
    send_frame(&c, false, BN_WS_CONTINUATION, msg + cut1, cut2 - cut1);
    send_frame(&c, true, BN_WS_CONTINUATION, msg + cut2, len - cut2);
    expect_text(&c, "[\"1\",\"2\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":"
                    "{\"s\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}}]");
    ws_close(&c);
    stop_clean();
}

/* ---- sizes ------------------------------------------------------------------------------ */

/* A ping message of exactly `len` bytes: its payload's string is padded with 'a'. */
static char *ping_of_size(size_t len, size_t *pad)
{
    const char *head = "[\"1\",\"2\",\"room:lobby\",\"ping\",{\"s\":\"", *tail = "\"}]";
    size_t fixed = strlen(head) + strlen(tail);
    cr_assert(len > fixed);
    char *msg = malloc(len + 1);
    *pad = len - fixed;
    memcpy(msg, head, strlen(head));
    memset(msg + strlen(head), 'a', *pad);
    memcpy(msg + strlen(head) + *pad, tail, strlen(tail) + 1);
    return msg;
}

Test(websocket, a_message_of_max_frame_size_is_accepted)
{
    wsc c = ws_open();
    join_lobby(&c);
    size_t pad;
    char *msg = ping_of_size(MAX_FRAME, &pad);
    send_text(&c, msg);
    free(msg);
    rframe f;
    cr_assert(read_frame(&c, &f), "closed instead of replying");
    const char *head = "[\"1\",\"2\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"s\":\"";
    size_t hl = strlen(head);
    cr_expect_eq(f.opcode, BN_WS_TEXT);
    cr_assert_eq(f.len, hl + pad + strlen("\"}}]"), "reply of %zu bytes: %.200s", f.len, f.data);
    cr_expect(memcmp(f.data, head, hl) == 0, "%.200s", f.data);
    cr_expect(strspn(f.data + hl, "a") == pad && strcmp(f.data + hl + pad, "\"}}]") == 0);
    free(f.data);
    ws_close(&c);
    stop_clean();
}

Test(websocket, a_frame_over_max_frame_size_is_1009_from_its_header)
{
    wsc c = ws_open();
    join_lobby(&c);
    /* The header announces 1 MiB + 1; only 16 bytes follow: the answer cannot wait for the rest. */
    bn_buf b = BN_BUF_INIT;
    bn_ws_write_header(&b, true, false, BN_WS_TEXT, MAX_FRAME + 1, mask_key);
    bn_buf_append(&b, "[\"1\",\"2\",\"room:l", 16);
    send_buf(&c, &b);
    expect_close(&c, BN_WS_CLOSE_TOO_BIG);
    ws_close(&c);
    stop_clean();
}

Test(websocket, fragments_adding_up_to_more_than_max_frame_size_are_1009)
{
    wsc c = ws_open();
    join_lobby(&c);
    size_t half = MAX_FRAME / 2 + 1, pad;
    char *msg = ping_of_size(2 * half, &pad);
    bn_buf b = BN_BUF_INIT;
    put_frame(&b, false, BN_WS_TEXT, msg, half);
    put_frame(&b, true, BN_WS_CONTINUATION, msg + half, half);
    free(msg);
    send_buf(&c, &b);
    expect_close(&c, BN_WS_CLOSE_TOO_BIG);
    ws_close(&c);
    stop_clean();
}

/* ---- how bytes arrive ------------------------------------------------------------------ */

Test(websocket, frames_arriving_byte_by_byte)
{
    wsc c = ws_open();
    bn_buf b = BN_BUF_INIT;
    put_text(&b, JOIN);
    for (size_t i = 0; i < b.len; i++) {
        cr_assert(bt_send(c.fd, b.data + i, 1));
        usleep(1000); /* one byte per segment, each read on its own */
    }
    bn_buf_free(&b);
    expect_text(&c, JOINED);
    ws_close(&c);
    stop_clean();
}

Test(websocket, several_frames_in_one_write_get_every_reply)
{
    wsc c = ws_open();
    bn_buf b = BN_BUF_INIT;
    put_text(&b, JOIN);
    put_text(&b, "[\"1\",\"2\",\"room:lobby\",\"ping\",{\"i\":2}]");
    put_text(&b, "[\"1\",\"3\",\"room:lobby\",\"ping\",{\"i\":3}]");
    put_text(&b, "[\"1\",\"4\",\"room:lobby\",\"ping\",{\"i\":4}]");
    send_buf(&c, &b);
    expect_text(&c, JOINED);
    expect_text(&c, "[\"1\",\"2\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"i\":2}}]");
    expect_text(&c, "[\"1\",\"3\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"i\":3}}]");
    expect_text(&c, "[\"1\",\"4\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"i\":4}}]");
    ws_close(&c);
    stop_clean();
}

/* ---- connect_info -------------------------------------------------------------------------- */

/* connect gets the request: its peer, its headers, and the session its cookie carries. */
Test(websocket, connect_sees_the_peer_the_headers_and_the_session)
{
    int fd = bt_connect(srv.port);
    cr_assert(bt_send_str(fd, "GET /login/ada HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_assert_eq(r.status, 200, "%s", r.head);
    char cookie[1024];
    cr_assert(bt_header(&r, "set-cookie", cookie, sizeof cookie), "no session cookie: %s", r.head);
    *strchrnul(cookie, ';') = '\0';
    bt_response_free(&r);
    close(fd);

    char extra[1200];
    snprintf(extra, sizeof extra, "Cookie: %s\r\nX-Client-Name: raw-test\r\n", cookie);
    wsc c = ws_open_with("vsn=2.0.0", extra);
    join_lobby(&c);
    send_text(&c, "[\"1\",\"2\",\"room:lobby\",\"whoami\",{}]");
    expect_text(&c, "[\"1\",\"2\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":"
                    "{\"peer\":\"127.0.0.1\",\"client_name\":\"raw-test\",\"session_user\":\"ada\"}}]");
    ws_close(&c);
    stop_clean();
}

/* ---- extensions ------------------------------------------------------------------------ */

/* channel_server leaves `compress` off: the offer is not taken, and a compressed frame is a protocol error. */
Test(websocket, permessage_deflate_is_not_answered_when_compress_is_off)
{
    bt_response r;
    int fd = handshake(upgrade_request("GET", "vsn=2.0.0", SAMPLE_KEY, "13",
                                       "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
                       &r);
    cr_assert_eq(r.status, 101, "%s", r.head);
    char v[256];
    cr_expect(!bt_header(&r, "sec-websocket-extensions", v, sizeof v), "extension answered: %s", v);
    bt_response_free(&r);
    wsc c = {fd, BN_BUF_INIT};
    join_lobby(&c);
    bn_buf b = BN_BUF_INIT;
    bn_ws_write_header(&b, true, true, BN_WS_TEXT, 0, mask_key); /* RSV1 without the extension */
    send_buf(&c, &b);
    expect_close(&c, BN_WS_CLOSE_PROTOCOL_ERROR);
    ws_close(&c);
    stop_clean();
}

/* ---- permessage-deflate (CHANNEL_SERVER_COMPRESS=1) ----------------------------------------- */

static void start_compress(void) { start_with("CHANNEL_SERVER_COMPRESS=1"); }
TestSuite(websocket_deflate, .init = start_compress, .fini = fini, .timeout = 60);

/* The client's two zlib streams, raw deflate with 15-bit windows and context takeover. */
typedef struct zclient {
    z_stream def, inf;
} zclient;

static void zclient_init(zclient *z)
{
    memset(z, 0, sizeof *z);
    cr_assert_eq(deflateInit2(&z->def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    cr_assert_eq(inflateInit2(&z->inf, -15), Z_OK);
}

static void zclient_free(zclient *z)
{
    deflateEnd(&z->def);
    inflateEnd(&z->inf);
}

/* A compressed, masked text frame: deflate with a sync flush, its 00 00 ff ff tail dropped (RFC 7692 §7.2.1). */
static void send_compressed(wsc *c, zclient *z, const char *text)
{
    unsigned char out[4096];
    z->def.next_in = (unsigned char *)text;
    z->def.avail_in = (unsigned)strlen(text);
    z->def.next_out = out;
    z->def.avail_out = sizeof out;
    cr_assert_eq(deflate(&z->def, Z_SYNC_FLUSH), Z_OK);
    size_t len = sizeof out - z->def.avail_out;
    cr_assert(len >= 4 && memcmp(out + len - 4, "\x00\x00\xff\xff", 4) == 0);
    len -= 4;
    bn_buf b = BN_BUF_INIT;
    bn_ws_write_header(&b, true, true, BN_WS_TEXT, len, mask_key);
    char *dst = bn_buf_reserve(&b, len);
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)(out[i] ^ mask_key[i & 3]);
    b.len += len;
    send_buf(c, &b);
}

/* The next frame must be a compressed text frame that inflates to `text`. */
static void expect_compressed(wsc *c, zclient *z, const char *text)
{
    rframe f;
    cr_assert(read_frame(c, &f), "the connection closed; expected %s", text);
    cr_assert(f.rsv1 && f.opcode == BN_WS_TEXT, "opcode %d rsv1 %d: not a compressed text frame", f.opcode, f.rsv1);
    unsigned char in[4096], out[4096];
    cr_assert(f.len + 4 <= sizeof in);
    memcpy(in, f.data, f.len);
    memcpy(in + f.len, "\x00\x00\xff\xff", 4);
    z->inf.next_in = in;
    z->inf.avail_in = (unsigned)f.len + 4;
    z->inf.next_out = out;
    z->inf.avail_out = sizeof out;
    int rc = inflate(&z->inf, Z_SYNC_FLUSH);
    cr_assert(rc == Z_OK || rc == Z_BUF_ERROR, "inflate: %d", rc);
    size_t len = sizeof out - z->inf.avail_out;
    cr_expect(len == strlen(text) && memcmp(out, text, len) == 0, "got %.*s\nwant %s", (int)len, out, text);
    free(f.data);
}

Test(websocket_deflate, messages_both_ways_are_compressed_with_context_takeover)
{
    bt_response r;
    int fd = handshake(upgrade_request("GET", "vsn=2.0.0", SAMPLE_KEY, "13",
                                       "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
                       &r);
    cr_assert_eq(r.status, 101, "%s", r.head);
    char v[256];
    cr_assert(bt_header(&r, "sec-websocket-extensions", v, sizeof v), "no extension answered");
    cr_expect(strncmp(v, "permessage-deflate", 18) == 0, "extension answered: %s", v);
    bt_response_free(&r);
    wsc c = {fd, BN_BUF_INIT};
    zclient z;
    zclient_init(&z);
    send_compressed(&c, &z, JOIN);
    expect_compressed(&c, &z, JOINED);
    /* The same message twice: the second only inflates with the first one's window kept. */
    for (int i = 0; i < 2; i++) {
        send_compressed(&c, &z, "[\"1\",\"2\",\"room:lobby\",\"ping\",{\"say\":\"hello hello hello\"}]");
        expect_compressed(&c, &z,
                          "[\"1\",\"2\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":"
                          "{\"say\":\"hello hello hello\"}}]");
    }
    /* A broadcast reaches a compressed socket compressed, from its own stream. */
    send_compressed(&c, &z, "[\"1\",\"3\",\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]");
    expect_compressed(&c, &z, "[null,null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]");
    zclient_free(&z);
    ws_close(&c);
    stop_clean();
}

Test(websocket_deflate, a_client_that_offers_nothing_gets_plain_frames)
{
    wsc c = ws_open();
    join_lobby(&c);
    ws_close(&c);
    stop_clean();
}

/* ---- the outgoing high-water mark (CHANNEL_SERVER_MAX_OUTGOING=65536) ------------------------------ */

/* One loop thread: broadcasts are then delivered in the order they were made. */
static void start_small_queue(void)
{
    const char *env[] = {"BENNU_MASTER=0", "BENNU_THREADS=1", "CHANNEL_SERVER_MAX_OUTGOING=65536", NULL};
    cr_assert(bt_server_start(&srv, "channel_server", env), "channel_server did not start (log %s)", srv.log_path);
}
TestSuite(websocket_slow, .init = start_small_queue, .fini = fini, .timeout = 60);

/* A client that asks for 20 MB of broadcasts and does not read is dropped
 * once 64 KiB wait unsent; the server goes on serving others. */
Test(websocket_slow, a_client_that_does_not_read_is_dropped)
{
    wsc slow = ws_open();
    send_text(&slow, "[\"1\",\"1\",\"room:flood\",\"phx_join\",{}]");
    wsc other = ws_open();
    join_lobby(&other);
    send_text(&slow, "[\"1\",\"2\",\"room:flood\",\"flood\",{\"count\":20000,\"size\":1000}]");
    /* flood_done comes after every flood frame was written or queued for the slow client. */
    expect_text(&other, "[null,null,\"room:lobby\",\"flood_done\",{}]");
    send_text(&other, "[\"1\",\"2\",\"room:lobby\",\"ping\",{}]");
    expect_text(&other, "[\"1\",\"2\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");

    /* Now read what the slow client was sent: it ends (EOF or reset) well before 20 MB. */
    size_t total = 0;
    long long end = bt_now_ms() + WAIT_MS;
    bool ended = false;
    char buf[65536];
    while (!ended && bt_now_ms() < end) {
        struct pollfd p = {.fd = slow.fd, .events = POLLIN};
        if (poll(&p, 1, (int)(end - bt_now_ms())) <= 0)
            continue;
        ssize_t n = recv(slow.fd, buf, sizeof buf, 0);
        if (n > 0)
            total += (size_t)n;
        else if (n == 0 || errno != EINTR)
            ended = true;
    }
    cr_expect(ended, "the slow client was not dropped (%zu bytes read)", total);
    cr_expect_lt(total, (size_t)20000 * 1000, "the whole flood was delivered (%zu bytes)", total);
    ws_close(&slow);
    ws_close(&other);
    stop_clean();
}

/* ---- server-side endings ----------------------------------------------------------------- */

Test(websocket, a_draining_server_closes_with_1012_and_exits)
{
    wsc c = ws_open();
    join_lobby(&c);
    cr_assert_eq(kill(srv.pid, SIGTERM), 0);
    expect_close(&c, 1012); /* "service restart": the client comes back */
    ws_close(&c);
    stop_clean();
}

/* ---- the idle timeout (CHANNEL_SERVER_TIMEOUT_MS=300) ------------------------------------ */

Test(websocket_idle, a_silent_client_gets_a_close_frame_then_eof)
{
    wsc c = ws_open();
    expect_close(&c, BN_WS_CLOSE_NORMAL);
    ws_close(&c);
    stop_clean();
}
