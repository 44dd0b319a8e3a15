/*
 * The long-poll transport over real sockets (PROTOCOLS.md §4): the requests
 * the npm phoenix client's LongPoll makes, sent raw, each on a connection of
 * its own so that a session's requests reach both loop threads.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bennu.h>

#include "harness.h"

#define LP "/socket/longpoll?vsn=2.0.0"

static bt_server srv;
static bn_arena arena;

static void start_with(const char *window)
{
    const char *env[] = {"BENNU_MASTER=0", "BENNU_THREADS=2", window, NULL};
    cr_assert(bt_server_start(&srv, "channel_server", env), "channel_server did not start (log %s)", srv.log_path);
}

static void start(void) { start_with("LONGPOLL_WINDOW_MS=300"); }
static void start_long_window(void) { start_with("LONGPOLL_WINDOW_MS=3000"); }

static void fini(void)
{
    if (srv.pid)
        bt_server_stop(&srv, 2000);
    bn_arena_destroy(&arena);
}

TestSuite(longpoll, .init = start, .fini = fini, .timeout = 60);
TestSuite(longpoll_wait, .init = start_long_window, .fini = fini, .timeout = 60);

/* ---- requests ------------------------------------------------------------ */

/* Sends a request on a new connection (from `src_ip` when not NULL); returns the fd. */
static int send_request(const char *src_ip, const char *method, const char *target, const char *headers,
                        const char *body)
{
    int fd = src_ip ? bt_connect_from(srv.port, src_ip) : bt_connect(srv.port);
    cr_assert(fd >= 0, "connect");
    size_t len = body ? strlen(body) : 0;
    char head[4096];
    snprintf(head, sizeof head,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n", method,
             target, headers ? headers : "", len);
    cr_assert(bt_send_str(fd, head));
    if (len)
        cr_assert(bt_send(fd, body, len));
    return fd;
}

/* Reads the answer: always HTTP 200 with JSON, not cached, any origin; returns the JSON. */
static const bn_value *read_json(int fd)
{
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1, "no response");
    close(fd);
    cr_assert_eq(r.status, 200, "%s", r.head);
    char v[128];
    cr_expect(bt_header(&r, "content-type", v, sizeof v) && strcmp(v, "application/json; charset=utf-8") == 0, "%s",
              r.head);
    cr_expect(bt_header(&r, "cache-control", v, sizeof v) && strcmp(v, "no-store") == 0, "%s", r.head);
    cr_expect(bt_header(&r, "access-control-allow-origin", v, sizeof v) && strcmp(v, "*") == 0, "%s", r.head);
    bn_json_error err;
    const bn_value *json = bn_json_parse(&arena, bn_str_make(r.body, r.body_len), &err);
    cr_assert(json, "not JSON: %s", r.body);
    bt_response_free(&r);
    return json;
}

static int64_t status_of(const bn_value *json)
{
    int64_t st = 0;
    cr_assert(bn_value_to_int(bn_value_get(json, "status"), &st), "no status");
    return st;
}

static const char *token_of(const bn_value *json)
{
    bn_str t = bn_value_str(bn_value_get(json, "token"));
    cr_assert(t.ptr, "no token");
    return bn_arena_strndup(&arena, t.ptr, t.len);
}

/* A poll: GET with the token (NULL: none) and `extra` query params / headers. */
static const bn_value *get_from(const char *src_ip, const char *token, const char *query, const char *headers)
{
    char target[512];
    snprintf(target, sizeof target, LP "%s%s%s", token ? "&token=" : "", token ? token : "", query ? query : "");
    return read_json(send_request(src_ip, "GET", target, headers, NULL));
}

static const bn_value *get(const char *token) { return get_from(NULL, token, NULL, NULL); }

static int64_t post_from(const char *src_ip, const char *token, const char *body, bool ndjson)
{
    char target[512];
    snprintf(target, sizeof target, LP "&token=%s", token);
    const char *headers = ndjson ? "Content-Type: application/x-ndjson\r\n" : "Content-Type: text/plain\r\n";
    const bn_value *json = read_json(send_request(src_ip, "POST", target, headers, body));
    return status_of(json);
}

static int64_t post(const char *token, const char *body) { return post_from(NULL, token, body, false); }

/* A new session: its token. */
static const char *open_session(void)
{
    const bn_value *json = get(NULL);
    cr_assert_eq(status_of(json), 410, "opening answers 410");
    cr_assert_eq(bn_value_len(bn_value_get(json, "messages")), 0);
    const char *token = token_of(json);
    cr_assert_eq(strlen(token), 22, "a 128-bit base64url token: %s", token);
    return token;
}

/* Message `i` of a 200 poll, decoded: [join_ref, ref, topic, event, payload]. */
static const bn_value *message(const bn_value *json, size_t i)
{
    bn_str text = bn_value_str(bn_value_at(bn_value_get(json, "messages"), i));
    cr_assert(text.ptr, "no message %zu", i);
    bn_json_error err;
    const bn_value *msg = bn_json_parse(&arena, text, &err);
    cr_assert(bn_value_len(msg) == 5, "not a V2 message: %.*s", (int)text.len, text.ptr);
    return msg;
}

static bool str_at(const bn_value *msg, size_t i, const char *want)
{
    bn_str s = bn_value_str(bn_value_at(msg, i));
    return want ? bn_str_eq(s, bn_str_from_cstr(want)) : bn_value_is(bn_value_at(msg, i), BN_VALUE_NULL);
}

/* Polls until messages come (a broadcast may reach the other thread after the POST is answered). */
static const bn_value *poll_messages(const char *token)
{
    for (int i = 0; i < 20; i++) {
        const bn_value *json = get(token);
        int64_t st = status_of(json);
        cr_assert(st == 200 || st == 204, "poll status %lld", (long long)st);
        cr_assert_str_eq(token_of(json), token, "a poll echoes its token");
        if (st == 200)
            return json;
    }
    cr_assert_fail("no messages after 20 polls");
    return NULL;
}

static void expect_reply(const bn_value *msg, const char *join_ref, const char *ref, const char *topic,
                         const char *status)
{
    cr_expect(str_at(msg, 0, join_ref) && str_at(msg, 1, ref) && str_at(msg, 2, topic) && str_at(msg, 3, "phx_reply"),
              "reply %s/%s on %s", join_ref ? join_ref : "null", ref, topic);
    cr_expect(bn_str_eq(bn_value_str(bn_value_get(bn_value_at(msg, 4), "status")), bn_str_from_cstr(status)),
              "status %s", status);
}

static const char *joined_session(const char *topic)
{
    const char *token = open_session();
    char join[256];
    snprintf(join, sizeof join, "[\"1\",\"1\",\"%s\",\"phx_join\",{}]", topic);
    cr_assert_eq(post(token, join), 200);
    const bn_value *json = poll_messages(token);
    expect_reply(message(json, 0), "1", "1", topic, "ok");
    return token;
}

/* ---- tests ------------------------------------------------------------------ */

Test(longpoll, open_join_and_heartbeat)
{
    const char *token = joined_session("room:a");
    cr_assert_eq(post(token, "[null,\"2\",\"phoenix\",\"heartbeat\",{}]"), 200);
    const bn_value *json = poll_messages(token);
    cr_assert_eq(bn_value_len(bn_value_get(json, "messages")), 1);
    expect_reply(message(json, 0), NULL, "2", "phoenix", "ok");
}

Test(longpoll, poll_without_messages_answers_204_after_the_window)
{
    const char *token = open_session();
    const bn_value *json = get(token);
    cr_expect_eq(status_of(json), 204);
    cr_expect_str_eq(token_of(json), token);
    cr_expect_eq(bn_value_len(bn_value_get(json, "messages")), 0);
}

Test(longpoll, broadcast_reaches_another_longpoll_client)
{
    const char *a = joined_session("room:b");
    const char *b = joined_session("room:b");
    cr_assert_eq(post(a, "[\"1\",\"2\",\"room:b\",\"new_msg\",{\"body\":\"hi\"}]"), 200);
    const bn_value *msg = message(poll_messages(b), 0);
    cr_expect(str_at(msg, 0, NULL) && str_at(msg, 1, NULL) && str_at(msg, 2, "room:b") && str_at(msg, 3, "new_msg"));
    cr_expect(bn_str_eq(bn_value_str(bn_value_get(bn_value_at(msg, 4), "body")), BN_STR("hi")));
    /* The sender gets the broadcast too (after its empty reply, in some order). */
    const bn_value *json = poll_messages(a);
    bool seen = false;
    for (int i = 0; i < 5 && !seen; i++) {
        for (size_t j = 0; j < bn_value_len(bn_value_get(json, "messages")); j++)
            seen |= str_at(message(json, j), 3, "new_msg");
        if (!seen)
            json = poll_messages(a);
    }
    cr_expect(seen, "the sender's own copy");
}

Test(longpoll, ndjson_batch_is_handled_in_order)
{
    const char *token = open_session();
    /* A join, a ping, a slow one (its callback suspends: the rest waits), a binary push (answered
     * with a binary reply, which long-poll drops), a ping. */
    const char *binary = "AAEBBgQxNXJvb206Y3BpbmcBAg=="; /* kind 0, join_ref "1", ref "5", "room:c", "ping", 01 02 */
    char body[1024];
    snprintf(body, sizeof body,
             "[\"1\",\"1\",\"room:c\",\"phx_join\",{}]\n"
             "[\"1\",\"2\",\"room:c\",\"ping\",{\"n\":2}]\n"
             "[\"1\",\"3\",\"room:c\",\"slow\",{\"n\":3}]\r\n"
             "%s\n"
             "[\"1\",\"6\",\"room:c\",\"ping\",{\"n\":6}]",
             binary);
    cr_assert_eq(post_from(NULL, token, body, true), 200);
    /* The POST was answered once every message was handled: all replies are buffered. */
    const bn_value *json = get(token);
    cr_assert_eq(status_of(json), 200);
    /* The binary ping (ref 5) was handled, but its binary reply cannot travel over long-poll. */
    cr_assert_eq(bn_value_len(bn_value_get(json, "messages")), 4);
    const char *refs[] = {"1", "2", "3", "6"};
    for (size_t i = 0; i < 4; i++)
        expect_reply(message(json, i), "1", refs[i], "room:c", "ok");
    int64_t n = 0;
    cr_expect(bn_value_to_int(bn_value_path(message(json, 2), "4.response.n"), &n) && n == 3);
}

Test(longpoll, ndjson_batch_beyond_100_lines_is_cut)
{
    const char *token = open_session();
    bn_buf body = BN_BUF_INIT;
    for (int i = 1; i <= 105; i++)
        bn_buf_printf(&body, "%s[null,\"%d\",\"phoenix\",\"heartbeat\",{}]", i > 1 ? "\n" : "", i);
    bn_buf_append(&body, "", 1);
    cr_assert_eq(post_from(NULL, token, body.data, true), 200);
    bn_buf_free(&body);
    const bn_value *json = get(token);
    cr_assert_eq(status_of(json), 200);
    cr_assert_eq(bn_value_len(bn_value_get(json, "messages")), 100, "Phoenix handles 100 lines, drops the rest");
    expect_reply(message(json, 99), NULL, "100", "phoenix", "ok");
}

Test(longpoll, unknown_and_expired_sessions_are_gone)
{
    cr_expect_eq(post("AAAAAAAAAAAAAAAAAAAAAA", "[null,\"1\",\"phoenix\",\"heartbeat\",{}]"), 410);
    char target[128];
    snprintf(target, sizeof target, LP);
    cr_expect_eq(status_of(read_json(send_request(NULL, "POST", target, NULL, "[]"))), 410, "no token");

    /* A GET with an unknown token opens a new session (the client, holding a token, reconnects). */
    const bn_value *json = get("AAAAAAAAAAAAAAAAAAAAAA");
    cr_expect_eq(status_of(json), 410);
    cr_expect_str_neq(token_of(json), "AAAAAAAAAAAAAAAAAAAAAA");

    /* No poll for 1.5 x the window (450 ms): the session ends. POSTs do not keep it. */
    const char *token = open_session();
    int64_t st = 200;
    for (int i = 0; i < 50 && st == 200; i++) {
        usleep(100 * 1000);
        st = post(token, "[null,\"1\",\"phoenix\",\"heartbeat\",{}]");
    }
    cr_assert_eq(st, 410, "the idle session ended");
    json = get(token);
    cr_expect_eq(status_of(json), 410);
    cr_expect_str_neq(token_of(json), token, "a new session");
}

Test(longpoll, refused_connections_get_403)
{
    const bn_value *json = get_from(NULL, NULL, "&reject=1", NULL);
    cr_expect_eq(status_of(json), 403);
    cr_expect_null(bn_value_get(json, "token"));
    json = read_json(send_request(NULL, "GET", "/socket/longpoll?vsn=1.0.0", NULL, NULL));
    cr_expect_eq(status_of(json), 403, "long-poll speaks V2 only");
    json = get_from(NULL, NULL, NULL, "X-Phoenix-AuthToken: wrong\r\n");
    cr_expect_eq(status_of(json), 403, "a wrong auth token");
    json = get_from(NULL, NULL, NULL, "X-Phoenix-AuthToken: secret-token\r\n");
    cr_expect_eq(status_of(json), 410, "the right auth token");
}

Test(longpoll, options_preflight_and_other_methods)
{
    int fd = send_request(NULL, "OPTIONS", LP,
                          "Access-Control-Request-Method: POST\r\n"
                          "Access-Control-Request-Headers: content-type, x-phoenix-authtoken\r\n",
                          NULL);
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    close(fd);
    cr_expect_eq(r.status, 200);
    char v[256];
    cr_expect(bt_header(&r, "access-control-allow-origin", v, sizeof v) && strcmp(v, "*") == 0, "%s", r.head);
    cr_expect(bt_header(&r, "access-control-allow-headers", v, sizeof v) &&
                  strcmp(v, "content-type, x-phoenix-authtoken") == 0,
              "%s", r.head);
    cr_expect(bt_header(&r, "access-control-allow-methods", v, sizeof v) && strcmp(v, "get, post, options") == 0,
              "%s", r.head);
    cr_expect(bt_header(&r, "access-control-max-age", v, sizeof v) && strcmp(v, "3600") == 0, "%s", r.head);
    bt_response_free(&r);

    fd = send_request(NULL, "PUT", LP, NULL, "x");
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    close(fd);
    cr_expect_eq(r.status, 400);
    bt_response_free(&r);
}

Test(longpoll, requests_from_many_connections_reach_the_session)
{
    /* Connections from different addresses spread over both loop threads (SO_REUSEPORT). */
    const char *token = joined_session("room:d");
    for (int i = 2; i < 10; i++) {
        char src[32], body[128];
        snprintf(src, sizeof src, "127.0.0.%d", i);
        snprintf(body, sizeof body, "[\"1\",\"%d\",\"room:d\",\"ping\",{}]", i);
        cr_assert_eq(post_from(src, token, body, false), 200, "POST from %s", src);
        const bn_value *json = get_from(src, token, NULL, NULL);
        cr_assert_eq(status_of(json), 200, "poll from %s", src);
        char ref[16];
        snprintf(ref, sizeof ref, "%d", i);
        expect_reply(message(json, 0), "1", ref, "room:d", "ok");
    }
}

Test(longpoll, token_in_a_header)
{
    const char *token = open_session();
    char headers[128];
    snprintf(headers, sizeof headers, "X-Phoenix-Longpoll-Token: %s\r\n", token);
    int fd = send_request(NULL, "POST", LP, headers, "[null,\"7\",\"phoenix\",\"heartbeat\",{}]");
    cr_assert_eq(status_of(read_json(fd)), 200);
    const bn_value *json = read_json(send_request(NULL, "GET", LP, headers, NULL));
    cr_assert_eq(status_of(json), 200);
    expect_reply(message(json, 0), NULL, "7", "phoenix", "ok");
}

Test(longpoll, malformed_message_ends_the_session)
{
    const char *token = open_session();
    cr_expect_eq(post(token, "[\"1\",\"1\",\"room:e\""), 400);
    int64_t st = 400;
    for (int i = 0; i < 50 && st != 410; i++) /* the session ends at the owner's next turn */
        st = post(token, "[null,\"2\",\"phoenix\",\"heartbeat\",{}]");
    cr_expect_eq(st, 410);
}

/* ---- with a 3 s window: polls that wait ------------------------------------------ */

Test(longpoll_wait, a_waiting_poll_gets_a_message_as_it_comes)
{
    const char *token = open_session();
    char target[256];
    snprintf(target, sizeof target, LP "&token=%s", token);
    int poll_fd = send_request("127.0.0.2", "GET", target, NULL, NULL);
    usleep(50 * 1000); /* let the poll start waiting (if it does not, it finds the message buffered) */
    cr_assert_eq(post_from("127.0.0.3", token, "[null,\"3\",\"phoenix\",\"heartbeat\",{}]", false), 200);
    const bn_value *json = read_json(poll_fd);
    cr_assert_eq(status_of(json), 200);
    expect_reply(message(json, 0), NULL, "3", "phoenix", "ok");
}

Test(longpoll_wait, a_second_poll_replaces_the_first)
{
    const char *token = open_session();
    char target[256];
    snprintf(target, sizeof target, LP "&token=%s", token);
    int fds[2] = {send_request("127.0.0.4", "GET", target, NULL, NULL),
                  send_request("127.0.0.5", "GET", target, NULL, NULL)};
    /* Whichever reached the session first is answered 204 as the other arrives. */
    struct pollfd pfd[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
    cr_assert_eq(poll(pfd, 2, 2500), 1, "one poll ends at once, the other waits");
    int replaced = pfd[0].revents ? 0 : 1;
    cr_expect_eq(status_of(read_json(fds[replaced])), 204, "the replaced poll");
    cr_assert_eq(post(token, "[null,\"4\",\"phoenix\",\"heartbeat\",{}]"), 200);
    const bn_value *json = read_json(fds[1 - replaced]);
    cr_assert_eq(status_of(json), 200, "the newer poll gets the message");
    expect_reply(message(json, 0), NULL, "4", "phoenix", "ok");
}

Test(longpoll_wait, a_disconnected_session_answers_its_waiting_poll_410)
{
    const bn_value *json = get_from(NULL, NULL, "&user_id=7", NULL);
    cr_assert_eq(status_of(json), 410);
    const char *kicked = token_of(json);
    const char *kicker = joined_session("room:k");
    char target[256];
    snprintf(target, sizeof target, LP "&token=%s", kicked);
    int poll_fd = send_request("127.0.0.6", "GET", target, NULL, NULL);
    usleep(50 * 1000); /* let the poll start waiting (if it comes after the kick, it finds no session: 410 too) */
    cr_assert_eq(post(kicker, "[\"1\",\"2\",\"room:k\",\"kick\",{\"user_id\":\"7\"}]"), 200);
    cr_expect_eq(status_of(read_json(poll_fd)), 410, "the session is gone: the client reconnects");
    cr_expect_eq(post(kicked, "[null,\"3\",\"phoenix\",\"heartbeat\",{}]"), 410);
}
