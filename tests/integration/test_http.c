/*
 * The HTTP/1.1 server against real clients: raw sockets for exact bytes,
 * curl for a real-world client. Each test starts its own testserver
 * (tests/support/bin/testserver.c) with the limits it needs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static bt_server srv;

static void start(const char *const *env)
{
    cr_assert(bt_server_start(&srv, "testserver", env), "testserver did not start (log %s)", srv.log_path);
}

static void stop_clean(void)
{
    int status = bt_server_stop(&srv, 10000);
    /* A clean drain exits 0; a leak (LeakSanitizer) or crash would not. */
    cr_expect_eq(status, 0, "server exit status %d (log %s)", status, srv.log_path);
}

static void fini(void)
{
    if (srv.pid)
        bt_server_stop(&srv, 2000);
}

TestSuite(http, .fini = fini, .timeout = 60);

/* Sends `req` on a new connection and reads one response. */
static int roundtrip(const char *req, bt_response *r)
{
    int fd = bt_connect(srv.port);
    cr_assert(fd >= 0);
    cr_assert(bt_send_str(fd, req));
    int rc = bt_read_response(fd, r, strncmp(req, "HEAD", 4) == 0);
    close(fd);
    return rc;
}

static void expect_status(const char *req, int status)
{
    bt_response r;
    cr_assert_eq(roundtrip(req, &r), 1, "no response to %.40s", req);
    cr_expect_eq(r.status, status, "got %d, want %d for %.60s", r.status, status, req);
    bt_response_free(&r);
}

/* ---- basics ---------------------------------------------------------------- */

Test(http, hello_and_headers)
{
    start(NULL);
    bt_response r;
    cr_assert_eq(roundtrip("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r), 1);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "Hello, World!");
    char v[128];
    cr_expect(bt_header(&r, "content-length", v, sizeof v) && strcmp(v, "13") == 0);
    cr_expect(bt_header(&r, "date", v, sizeof v) && strlen(v) == 29 && strstr(v, " GMT"));
    cr_expect(bt_header(&r, "server", v, sizeof v));
    cr_expect(bt_header(&r, "content-type", v, sizeof v) && strcmp(v, "text/plain") == 0);
    cr_expect(!bt_header(&r, "connection", v, sizeof v), "HTTP/1.1 keep-alive needs no Connection header");
    bt_response_free(&r);
    stop_clean();
}

Test(http, keep_alive_serves_many_requests_on_one_connection)
{
    start(NULL);
    int fd = bt_connect(srv.port);
    for (int i = 0; i < 50; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET /echo?i=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        cr_assert(bt_send_str(fd, req));
        bt_response r;
        cr_assert_eq(bt_read_response(fd, &r, false), 1, "request %d", i);
        char q[32], want[32];
        snprintf(want, sizeof want, "i=%d", i);
        cr_expect(bt_header(&r, "x-query", q, sizeof q) && strcmp(q, want) == 0);
        bt_response_free(&r);
    }
    close(fd);
    stop_clean();
}

Test(http, http10_closes_unless_keep_alive)
{
    start(NULL);
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "GET /hello HTTP/1.0\r\n\r\n");
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    char v[64];
    cr_expect(bt_header(&r, "connection", v, sizeof v) && strcmp(v, "close") == 0);
    cr_expect(bt_wait_closed(fd, 3000), "HTTP/1.0 connection should close");
    bt_response_free(&r);
    close(fd);

    fd = bt_connect(srv.port);
    bt_send_str(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect(bt_header(&r, "connection", v, sizeof v) && strcmp(v, "keep-alive") == 0);
    bt_response_free(&r);
    bt_send_str(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cr_expect_eq(bt_read_response(fd, &r, false), 1, "second request on a kept-alive 1.0 connection");
    bt_response_free(&r);
    close(fd);
    stop_clean();
}

Test(http, connection_close_is_honoured)
{
    start(NULL);
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    char v[64];
    cr_expect(bt_header(&r, "connection", v, sizeof v) && strcmp(v, "close") == 0);
    cr_expect(bt_wait_closed(fd, 3000));
    bt_response_free(&r);
    close(fd);
    stop_clean();
}

Test(http, head_has_length_but_no_body)
{
    start(NULL);
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, true), 1);
    char v[64];
    cr_expect(bt_header(&r, "content-length", v, sizeof v) && strcmp(v, "13") == 0);
    bt_response_free(&r);
    /* If HEAD had leaked a body, this second response would be garbage. */
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "Hello, World!");
    bt_response_free(&r);
    close(fd);
    stop_clean();
}

Test(http, handler_without_response_gets_500_and_double_send_is_ignored)
{
    start(NULL);
    expect_status("GET /nosend HTTP/1.1\r\nHost: t\r\n\r\n", 500);
    bt_response r;
    cr_assert_eq(roundtrip("GET /twice HTTP/1.1\r\nHost: t\r\n\r\n", &r), 1);
    cr_expect_str_eq(r.body, "first");
    bt_response_free(&r);
    cr_expect(bt_log_contains(&srv, "returned without sending a response"));
    cr_expect(bt_log_contains(&srv, "already sent"));
    stop_clean();
}

Test(http, response_header_injection_is_refused)
{
    start(NULL);
    bt_response r;
    cr_assert_eq(roundtrip("GET /inject HTTP/1.1\r\nHost: t\r\n\r\n", &r), 1);
    char v[64];
    cr_expect(bt_header(&r, "x-ok", v, sizeof v) && strcmp(v, "fine") == 0);
    cr_expect(!bt_header(&r, "set-cookie", v, sizeof v), "a header was injected: %s", r.head);
    cr_expect(!bt_header(&r, "x-evil", v, sizeof v));
    cr_expect_null(strstr(r.head, "bad name"));
    bt_response_free(&r);
    cr_expect(bt_log_contains(&srv, "refusing response header"));
    stop_clean();
}

Test(http, raise_ends_the_request_with_its_status_and_a_clean_page)
{
    start(NULL);
    bt_response r;
    cr_assert_eq(roundtrip("GET /raise?404 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 1);
    cr_expect_eq(r.status, 404);
    char v[64];
    cr_expect(!bt_header(&r, "x-lost", v, sizeof v), "headers set before the raise must not leak");
    cr_expect_str_eq(r.body, "Not Found\n");
    bt_response_free(&r);
    /* Raising keeps the connection: the next request on it works. */
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "GET /raise?503 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_eq(r.status, 503);
    bt_response_free(&r);
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_str_eq(r.body, "Hello, World!");
    bt_response_free(&r);
    close(fd);
    cr_expect(bt_log_contains(&srv, "raised from deep inside (status 503)"));
    stop_clean(); /* under ASan: the jump leaked nothing */
}

Test(http, before_send_callbacks_run_last_registered_first)
{
    start(NULL);
    bt_response r;
    cr_assert_eq(roundtrip("GET /before-send HTTP/1.1\r\nHost: t\r\n\r\n", &r), 1);
    cr_expect_eq(r.status, 201);
    char *second = strstr(r.head, "x-before-send: second"), *first = strstr(r.head, "x-before-send: first");
    cr_expect(second && first && second < first, "%s", r.head);
    bt_response_free(&r);
    stop_clean();
}

Test(http, streamed_chunked_response)
{
    start(NULL);
    char cmd[256];
    int st;
    snprintf(cmd, sizeof cmd, "curl -s --max-time 10 'http://127.0.0.1:%u/stream?7' | wc -c", srv.port);
    char *out = bt_run(cmd, &st);
    cr_expect_eq(atoi(out), 7000);
    free(out);
    /* Raw: chunk framing, then the next request on the same connection. */
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "GET /stream?2 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    static char buf[8192];
    size_t n = 0;
    while (n < sizeof buf - 1 && !strstr(buf, "Hello, World!")) {
        ssize_t k = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
        buf[n] = '\0';
    }
    cr_expect(strstr(buf, "transfer-encoding: chunked\r\n"), "%s", buf);
    cr_expect(strstr(buf, "\r\n3e8\r\naaaa"), "first chunk framing");
    cr_expect(strstr(buf, "bbbb\r\n0\r\n\r\nHTTP/1.1 200 OK"), "last chunk, then the next response");
    close(fd);
    /* HTTP/1.0: no chunking, the body ends with the connection. */
    fd = bt_connect(srv.port);
    bt_send_str(fd, "GET /stream?3 HTTP/1.0\r\n\r\n");
    n = bt_read_until_close(fd, buf, sizeof buf - 1, 5000);
    buf[n] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    cr_expect(body && strlen(body + 4) == 3000, "HTTP/1.0 stream body");
    cr_expect_null(strstr(buf, "transfer-encoding"));
    close(fd);
    stop_clean();
}

Test(http, streaming_to_a_client_that_stops_reading_and_leaves)
{
    const char *env[] = {"BENNU_WRITE_TIMEOUT_MS=500", NULL};
    start(env);
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "GET /stream?100000 HTTP/1.1\r\nHost: t\r\n\r\n"); /* 100 MB, never read */
    usleep(1500000);
    close(fd);
    long long t0 = bt_now_ms();
    while (bt_now_ms() - t0 < 5000 && !bt_log_contains(&srv, "stream: client gone"))
        usleep(20000);
    cr_expect(bt_log_contains(&srv, "stream: client gone"), "the producer must learn the client left");
    expect_status("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200);
    stop_clean();
}

Test(http, a_raise_in_a_before_send_callback_still_gets_its_error_page)
{
    start(NULL);
    bt_response r;
    cr_assert_eq(roundtrip("GET /before-send-raise HTTP/1.1\r\nHost: t\r\n\r\n", &r), 1);
    cr_expect_eq(r.status, 503);
    cr_expect_str_eq(r.body, "Service Unavailable\n");
    char v[32];
    cr_expect(bt_header(&r, "x-before-send", v, sizeof v) && strcmp(v, "still-runs") == 0,
              "callbacks not yet run still run for the error page: %s", r.head);
    bt_response_free(&r);
    stop_clean();
}

/* ---- pipelining ------------------------------------------------------------- */

Test(http, pipelined_responses_keep_request_order_across_suspended_handlers)
{
    start(NULL);
    /* The sleeping handlers suspend; the quick ones behind them must wait. */
    const char *paths[] = {"/echo?1", "/sleep?150", "/echo?3", "/sleep?10", "/echo?5", "/echo?6"};
    char batch[4096] = "";
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < 6; i++) {
            char req[128];
            snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", paths[i]);
            strcat(batch, req);
        }
    int fd = bt_connect(srv.port);
    cr_assert(bt_send_str(fd, batch));
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < 6; i++) {
            bt_response r;
            cr_assert_eq(bt_read_response(fd, &r, false), 1, "response %zu of round %d", i, round);
            const char *q = strchr(paths[i], '?') + 1;
            if (strncmp(paths[i], "/sleep", 6) == 0) {
                char want[32];
                snprintf(want, sizeof want, "slept %s\n", q);
                cr_expect_str_eq(r.body, want);
            } else {
                char got[32];
                cr_expect(bt_header(&r, "x-query", got, sizeof got) && strcmp(got, q) == 0,
                          "out of order: wanted %s", paths[i]);
            }
            bt_response_free(&r);
        }
    close(fd);
    stop_clean();
}

Test(http, pipelined_batch_arrives_byte_by_byte)
{
    start(NULL);
    const char *req = "POST /echo?a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd = bt_connect(srv.port);
    for (const char *p = req; *p; p++) {
        cr_assert(bt_send(fd, p, 1));
        if ((p - req) % 7 == 0)
            usleep(1000);
    }
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_str_eq(r.body, "hello");
    bt_response_free(&r);
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_str_eq(r.body, "Hello, World!");
    bt_response_free(&r);
    close(fd);
    stop_clean();
}

/* ---- bodies ------------------------------------------------------------------ */

Test(http, chunked_request_body_is_decoded)
{
    start(NULL);
    bt_response r;
    cr_assert_eq(roundtrip("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n",
                           &r),
                 1);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "hello, world");
    bt_response_free(&r);
    stop_clean();
}

Test(http, expect_100_continue)
{
    start(NULL);
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    char interim[64] = {0};
    size_t n = 0;
    while (n < 25) {
        ssize_t k = recv(fd, interim + n, 25 - n, 0);
        cr_assert(k > 0, "no 100 Continue before the body was sent");
        n += (size_t)k;
    }
    cr_expect_str_eq(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    bt_send_str(fd, "ping");
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_str_eq(r.body, "ping");
    bt_response_free(&r);
    close(fd);
    stop_clean();
}

Test(http, large_body_and_large_response)
{
    const char *env[] = {"BENNU_MAX_BODY=4m", NULL};
    start(env);
    size_t len = 3 * 1000 * 1000;
    char *body = malloc(len);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + i % 26);
    char head[128];
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", len);
    int fd = bt_connect(srv.port);
    cr_assert(bt_send_str(fd, head));
    cr_assert(bt_send(fd, body, len));
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_eq(r.body_len, len);
    cr_expect(memcmp(r.body, body, len) == 0);
    bt_response_free(&r);
    /* A 10 MB response through the same connection. */
    bt_send_str(fd, "GET /big?10000000 HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_eq(r.body_len, 10000000u);
    bt_response_free(&r);
    close(fd);
    free(body);
    stop_clean();
}

Test(http, send_file_uses_the_file_contents)
{
    start(NULL);
    bt_response r;
    cr_assert_eq(roundtrip("GET /file HTTP/1.1\r\nHost: t\r\n\r\n", &r), 1);
    FILE *f = fopen(BENNU_SOURCE_DIR "/tests/support/bin/testserver.c", "rb");
    cr_assert(f);
    char *want = malloc(1 << 20);
    size_t n = fread(want, 1, 1 << 20, f);
    fclose(f);
    cr_expect_eq(r.body_len, n);
    cr_expect(memcmp(r.body, want, n) == 0);
    free(want);
    bt_response_free(&r);
    stop_clean();
}

/* ---- limits and errors --------------------------------------------------------- */

static char *request_with_target(size_t target_len)
{
    char *req = malloc(target_len + 64);
    strcpy(req, "GET /");
    memset(req + 5, 'a', target_len - 1);
    strcpy(req + 4 + target_len, " HTTP/1.1\r\nHost: t\r\n\r\n");
    return req;
}

Test(http, request_line_limit_414)
{
    start(NULL);
    /* "GET " + target + " HTTP/1.1" = 8192 bytes exactly: allowed. */
    char *ok = request_with_target(8192 - 4 - 9);
    expect_status(ok, 404);
    char *too_long = request_with_target(8192 - 4 - 9 + 1);
    expect_status(too_long, 414);
    free(ok);
    free(too_long);
    stop_clean();
}

Test(http, header_limits_431)
{
    start(NULL);
    char *req = malloc(64 * 1024);
    strcpy(req, "GET /hello HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 101; i++)
        sprintf(req + strlen(req), "X-%d: v\r\n", i);
    strcat(req, "\r\n");
    expect_status(req, 431); /* 102 fields */

    strcpy(req, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ");
    size_t n = strlen(req);
    memset(req + n, 'b', 33 * 1024);
    strcpy(req + n + 33 * 1024, "\r\n\r\n");
    expect_status(req, 431); /* 33 KiB of fields */
    free(req);
    stop_clean();
}

Test(http, body_limit_413)
{
    const char *env[] = {"BENNU_MAX_BODY=1000", NULL};
    start(env);
    expect_status("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n", 413);
    char req[2048];
    snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n%01000d", 7);
    expect_status(req, 200);
    /* Chunked bodies are limited by their decoded size. */
    expect_status("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n", 413);
    stop_clean();
}

Test(http, malformed_requests_400_and_versions_505)
{
    start(NULL);
    expect_status("GET /hello HTTP/1.1\r\n\r\n", 400);                       /* no Host */
    expect_status("GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400); /* two Hosts */
    expect_status("GET  /hello HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    expect_status("GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400);
    expect_status("GET /hello HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400);
    expect_status("GET /hel\x01lo HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    expect_status("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400);
    expect_status("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    expect_status("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    expect_status("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400);
    expect_status("GET /hello HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n\r\n", 417);
    expect_status("GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505);
    expect_status("GET /hello HTTP/0.9\r\nHost: t\r\n\r\n", 505);
    expect_status("GET /hello HTTX/1.1\r\nHost: t\r\n\r\n", 400);
    /* The server is still fine. */
    expect_status("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200);
    stop_clean();
}

Test(http, error_response_closes_the_connection)
{
    start(NULL);
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "BROKEN\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_eq(r.status, 400);
    char v[32];
    cr_expect(bt_header(&r, "connection", v, sizeof v) && strcmp(v, "close") == 0);
    bt_response_free(&r);
    cr_expect(bt_wait_closed(fd, 3000), "nothing may be answered after a 400");
    close(fd);
    stop_clean();
}

Test(http, garbage_never_crashes_the_server)
{
    start(NULL);
    unsigned seed = 12345;
    for (int i = 0; i < 200; i++) {
        char junk[512];
        size_t n = 1 + rand_r(&seed) % sizeof junk;
        for (size_t k = 0; k < n; k++)
            junk[k] = (char)rand_r(&seed);
        int fd = bt_connect(srv.port);
        cr_assert(fd >= 0, "server stopped accepting after %d junk requests", i);
        bt_send(fd, junk, n);
        shutdown(fd, SHUT_WR);
        char buf[4096];
        bt_read_until_close(fd, buf, sizeof buf, 2000);
        close(fd);
    }
    expect_status("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200);
    stop_clean();
}

/* ---- timeouts -------------------------------------------------------------------- */

Test(http, slow_headers_get_408)
{
    const char *env[] = {"BENNU_HEADER_TIMEOUT_MS=300", NULL};
    start(env);
    int fd = bt_connect(srv.port);
    long long t0 = bt_now_ms();
    bt_send_str(fd, "GET /hello HTTP/1.1\r\nHo");
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_eq(r.status, 408);
    cr_expect_geq(bt_now_ms() - t0, 250);
    cr_expect(bt_wait_closed(fd, 4000));
    bt_response_free(&r);
    close(fd);
    /* Trickling bytes does not extend the head deadline. */
    fd = bt_connect(srv.port);
    t0 = bt_now_ms();
    const char *slow = "GET /hello HTTP/1.1\r\nHost: t\r\nX: 1234567890\r\n";
    for (const char *p = slow; *p && bt_now_ms() - t0 < 1500; p++) {
        if (!bt_send(fd, p, 1))
            break;
        usleep(50000);
    }
    cr_expect(bt_wait_closed(fd, 3000));
    cr_expect_lt(bt_now_ms() - t0, 2500, "the head deadline was extended by trickling");
    close(fd);
    stop_clean();
}

Test(http, slow_body_gets_408)
{
    const char *env[] = {"BENNU_BODY_TIMEOUT_MS=300", NULL};
    start(env);
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_eq(r.status, 408);
    bt_response_free(&r);
    close(fd);
    stop_clean();
}

Test(http, idle_keep_alive_connection_is_closed)
{
    const char *env[] = {"BENNU_KEEPALIVE_TIMEOUT_MS=300", NULL};
    start(env);
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    bt_response_free(&r);
    long long t0 = bt_now_ms();
    cr_expect(bt_wait_closed(fd, 3000));
    long long waited = bt_now_ms() - t0;
    cr_expect(waited >= 200 && waited < 2500, "closed after %lld ms", waited);
    close(fd);
    stop_clean();
}

Test(http, new_connection_that_sends_nothing_is_closed)
{
    const char *env[] = {"BENNU_HEADER_TIMEOUT_MS=300", NULL};
    start(env);
    int fd = bt_connect(srv.port);
    char buf[256];
    size_t n = bt_read_until_close(fd, buf, sizeof buf, 3000);
    cr_expect_eq(n, 0u, "an idle new connection is closed silently");
    close(fd);
    stop_clean();
}

/* ---- clients that go away ---------------------------------------------------------- */

Test(http, client_disconnecting_mid_request_loses_nothing_else)
{
    start(NULL);
    for (int i = 0; i < 20; i++) {
        int fd = bt_connect(srv.port);
        bt_send_str(fd, i % 2 ? "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc"
                              : "GET /sleep?50 HTTP/1.1\r\nHost: t\r\n\r\n");
        close(fd); /* gone before the body / while the handler sleeps */
    }
    usleep(200000);
    expect_status("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200);
    stop_clean(); /* under ASan, a leaked connection fails the exit status */
}

Test(http, remote_ip_is_the_peer_address)
{
    start(NULL);
    int fd = bt_connect_from(srv.port, "127.0.0.9");
    cr_assert(fd >= 0);
    bt_send_str(fd, "GET /ip HTTP/1.1\r\nHost: t\r\n\r\n");
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_str_eq(r.body, "127.0.0.9");
    bt_response_free(&r);
    close(fd);
    stop_clean();
}

Test(http, a_thousand_concurrent_connections)
{
    start(NULL);
    enum { N = 1000 };
    static int fds[N];
    for (int i = 0; i < N; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", 1 + i % 4);
        fds[i] = bt_connect_from(srv.port, src);
        cr_assert(fds[i] >= 0, "connection %d refused", i);
    }
    for (int i = 0; i < N; i++) {
        char req[96];
        snprintf(req, sizeof req, "GET /echo?%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        cr_assert(bt_send_str(fds[i], req));
    }
    for (int i = 0; i < N; i++) {
        bt_response r;
        cr_assert_eq(bt_read_response(fds[i], &r, false), 1, "connection %d got no response", i);
        char q[16], want[16];
        snprintf(want, sizeof want, "%d", i);
        cr_expect(bt_header(&r, "x-query", q, sizeof q) && strcmp(q, want) == 0);
        bt_response_free(&r);
        close(fds[i]);
    }
    stop_clean();
}

/* ---- curl ------------------------------------------------------------------------------ */

Test(http, curl_keep_alive_post_and_http10)
{
    start(NULL);
    char cmd[512];
    int st;
    snprintf(cmd, sizeof cmd,
             "curl -s --max-time 10 http://127.0.0.1:%u/hello http://127.0.0.1:%u/hello -w '|%%{num_connects}'",
             srv.port, srv.port);
    char *out = bt_run(cmd, &st);
    cr_expect_eq(st, 0);
    cr_expect_str_eq(out, "Hello, World!|1Hello, World!|0", "second request must reuse the connection");
    free(out);

    /* curl sends Expect: 100-continue for large bodies. */
    snprintf(cmd, sizeof cmd,
             "head -c 2000000 /dev/zero | tr '\\0' 'z' | curl -s --max-time 10 -H 'Expect: 100-continue' "
             "--data-binary @- http://127.0.0.1:%u/echo | wc -c",
             srv.port);
    out = bt_run(cmd, &st);
    cr_expect_eq(atoi(out), 2000000);
    free(out);

    snprintf(cmd, sizeof cmd, "curl -s -0 --max-time 10 http://127.0.0.1:%u/hello", srv.port);
    out = bt_run(cmd, &st);
    cr_expect_str_eq(out, "Hello, World!");
    free(out);

    snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' --max-time 10 http://127.0.0.1:%u/nothing",
             srv.port);
    out = bt_run(cmd, &st);
    cr_expect_str_eq(out, "404");
    free(out);
    stop_clean();
}

/* ---- process model ------------------------------------------------------------------------- */

static int worker_pid(void)
{
    bt_response r;
    if (roundtrip("GET /pid HTTP/1.1\r\nHost: t\r\n\r\n", &r) != 1)
        return -1;
    int pid = atoi(r.body);
    bt_response_free(&r);
    return pid;
}

Test(http, graceful_drain_completes_in_flight_requests)
{
    start(NULL);
    int busy = bt_connect(srv.port);
    int idle = bt_connect(srv.port);  /* keep-alive, between requests */
    int fresh = bt_connect(srv.port); /* connected, first request not sent yet */
    bt_response r;
    bt_send_str(idle, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(bt_read_response(idle, &r, false), 1);
    bt_response_free(&r);
    bt_send_str(busy, "GET /sleep?700 HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(150000);
    kill(srv.pid, SIGTERM);
    usleep(100000);
    /* A client that connected before the drain still gets its answer. */
    bt_send_str(fresh, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(bt_read_response(fresh, &r, false), 1, "a connection accepted before the drain was dropped");
    cr_expect_eq(r.status, 200);
    bt_response_free(&r);
    cr_expect(bt_wait_closed(fresh, 3000));
    cr_assert_eq(bt_read_response(busy, &r, false), 1, "the in-flight request was cut");
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "slept 700\n");
    char v[32];
    cr_expect(bt_header(&r, "connection", v, sizeof v) && strcmp(v, "close") == 0);
    bt_response_free(&r);
    cr_expect(bt_wait_closed(idle, 3000), "idle connections close at once on drain");
    int status = bt_server_wait(&srv, 5000);
    cr_expect(status == 0, "master exit status %d", status);
    cr_expect(bt_log_contains(&srv, "draining"));
    close(busy);
    close(idle);
    close(fresh);
}

Test(http, killed_worker_is_replaced)
{
    start(NULL);
    int pid = worker_pid();
    cr_assert_gt(pid, 0);
    cr_assert_neq(pid, srv.pid, "the worker is a child of the master");
    kill(pid, SIGKILL);
    long long t0 = bt_now_ms();
    int again = -1;
    while (bt_now_ms() - t0 < 3000) {
        again = worker_pid();
        if (again > 0 && again != pid)
            break;
        usleep(10000);
    }
    cr_expect(again > 0 && again != pid, "no new worker answered");
    cr_expect_lt(bt_now_ms() - t0, 1000, "replacement took %lld ms", bt_now_ms() - t0);
    stop_clean();
}

Test(http, crash_is_logged_with_a_backtrace_and_the_worker_restarts)
{
    start(NULL);
    int pid = worker_pid();
    bt_response r;
    int rc = roundtrip("GET /crash HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    if (rc == 1)
        bt_response_free(&r);
    cr_expect_neq(rc, 1, "a crashing handler cannot answer");
    long long t0 = bt_now_ms();
    int again = -1;
    while (bt_now_ms() - t0 < 3000 && (again <= 0 || again == pid)) {
        usleep(10000);
        again = worker_pid();
    }
    cr_expect(again > 0 && again != pid);
    char *log = bt_log_read(&srv);
    cr_expect(strstr(log, "SIGSEGV") || strstr(log, "signal 11") || strstr(log, "AddressSanitizer"), "%s", log);
    free(log);
    stop_clean();
}

Test(http, task_stack_overflow_is_reported_as_such)
{
    start(NULL);
    bt_response r;
    if (roundtrip("GET /overflow HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 1)
        bt_response_free(&r);
    long long t0 = bt_now_ms();
    while (bt_now_ms() - t0 < 3000 && !bt_log_contains(&srv, "overflow"))
        usleep(20000);
    char *log = bt_log_read(&srv);
    cr_expect(strstr(log, "task stack overflow") || strstr(log, "stack-overflow"), "%s", log);
    free(log);
    cr_expect_gt(worker_pid(), 0, "a new worker answers");
    stop_clean();
}

/* One GET /pid on a fresh connection; -1 on any failure (never asserts). */
static int try_worker_pid(void)
{
    int fd = bt_connect(srv.port);
    if (fd < 0)
        return -1;
    bt_response r;
    int pid = -1;
    if (bt_send_str(fd, "GET /pid HTTP/1.1\r\nHost: t\r\n\r\n") && bt_read_response(fd, &r, false) == 1) {
        if (r.status == 200)
            pid = atoi(r.body);
        bt_response_free(&r);
    }
    close(fd);
    return pid;
}

Test(http, sigusr2_upgrade_drops_no_request)
{
    /* The new master is a child of the old one; adopt it when the old one exits. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    start(NULL);
    pid_t group = srv.pid;
    int first = try_worker_pid();
    cr_assert_gt(first, 0);
    int failures = 0, answered = 0, last = first;
    bool signalled = false;
    long long t0 = bt_now_ms();
    while (bt_now_ms() - t0 < 3000) {
        if (!signalled && bt_now_ms() - t0 > 300) {
            kill(srv.pid, SIGUSR2);
            signalled = true;
        }
        int pid = try_worker_pid();
        if (pid <= 0)
            failures++;
        else
            answered++, last = pid;
    }
    cr_expect_eq(failures, 0, "%d of %d requests failed during the upgrade", failures, failures + answered);
    cr_expect_neq(last, first, "the new generation never answered");
    int status = bt_server_wait(&srv, 5000);
    cr_expect_eq(status, 0, "the old master should exit 0 after the hand-over (status %d)", status);
    cr_expect(bt_log_contains(&srv, "took over"), "the new program did not inherit the sockets");
    cr_expect_gt(try_worker_pid(), 0, "the new generation keeps serving");
    kill(-group, SIGTERM);
    for (long long end = bt_now_ms() + 5000; bt_now_ms() < end;)
        if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
            break;
        else
            usleep(10000);
    kill(-group, SIGKILL);
}
