/*
 * The web layer over real sockets: the showcase app (endpoint, router,
 * pipelines, params, SSE, error views, the chat page and its socket) driven
 * by curl.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bennu.h>

#include "harness.h"

static bt_server srv;

static void start(void)
{
    mkdir("/tmp/bennu-upload-test", 0700);
    /* A small buffered-body limit and a large upload limit: a 20 MB upload can
     * only get through if it is streamed. */
    const char *env[] = {"BENNU_MASTER=0", "TMPDIR=/tmp/bennu-upload-test", "BENNU_MAX_BODY=1m",
                         "BENNU_MAX_FILE_SIZE=64m", "BENNU_MAX_FILES_SIZE=64m", NULL};
    cr_assert(bt_server_start(&srv, "showcase", env), "showcase did not start (log %s)", srv.log_path);
}

static void fini(void)
{
    if (srv.pid)
        bt_server_stop(&srv, 2000);
}

TestSuite(web_socket, .init = start, .fini = fini, .timeout = 60);

static char *curl(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "curl -s --max-time 10 %s", args);
    char *c = strstr(cmd, "URL");
    if (c) { /* replace URL with the server's base URL */
        char rest[1024];
        snprintf(rest, sizeof rest, "%s", c + 3);
        snprintf(c, sizeof cmd - (size_t)(c - cmd), "http://127.0.0.1:%u%s", srv.port, rest);
    }
    int st;
    char *out = bt_run(cmd, &st);
    cr_expect_eq(st, 0, "curl failed: %s", cmd);
    return out;
}

Test(web_socket, home_page_through_the_browser_pipeline)
{
    char *out = curl("-i URL/");
    cr_expect(strstr(out, "HTTP/1.1 200 OK"));
    cr_expect(strstr(out, "x-frame-options: SAMEORIGIN"), "the browser pipeline's secure headers");
    cr_expect(strstr(out, "x-request-id: "), "the endpoint's request id");
    cr_expect(strstr(out, "content-type: text/html; charset=utf-8"));
    /* Rendered from templates: page_html/home inside <Layouts.app> inside the root layout. */
    cr_expect(strstr(out, "<!DOCTYPE html>\n<html lang=\"en\">"), "the root layout: %s", out);
    cr_expect(strstr(out, "<a href=\"/\" class=\"brand\">Bennu</a>"), "the app layout's <.link>: %s", out);
    cr_expect(strstr(out, "<li>\n      <a href=\"/hello/world\"><code>/hello/:name</code></a>:"), "a :for item: %s", out);
    cr_expect(strstr(out, "<code>POST /api/echo</code>:"), "a false :if leaves the link out: %s", out);
    free(out);
}

Test(web_socket, path_params_are_decoded_and_escaped)
{
    char *out = curl("URL/hello/%3Cscript%3E");
    cr_expect(strstr(out, "<p>Hello, <strong>&lt;script&gt;</strong>!</p>"), "%s", out);
    cr_expect(strstr(out, "<title>Bennu showcase</title>"), "%s", out);
    free(out);
}

Test(web_socket, form_and_json_params)
{
    char *out = curl("-d 'user[name]=Ada&user[langs][]=c&user[langs][]=elixir' URL/api/echo");
    cr_expect(strstr(out, "\"params\":{\"user\":{\"name\":\"Ada\",\"langs\":[\"c\",\"elixir\"]}}"), "%s", out);
    free(out);
    out = curl("-H 'content-type: application/json' -d '{\"n\":1.5,\"ok\":true}' URL/api/echo");
    cr_expect(strstr(out, "\"params\":{\"n\":1.5,\"ok\":true}"), "%s", out);
    free(out);
    out = curl("-o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d '{oops' URL/api/echo");
    cr_expect_str_eq(out, "400");
    free(out);
}

Test(web_socket, request_id_is_kept_when_valid)
{
    char *out = curl("-i -H 'x-request-id: abcdefghijklmnopqrstuvwxyz' URL/health");
    cr_expect(strstr(out, "x-request-id: abcdefghijklmnopqrstuvwxyz"), "%s", out);
    free(out);
    out = curl("-i -H 'x-request-id: short' URL/health");
    cr_expect_null(strstr(out, "x-request-id: short"), "an invalid id is replaced");
    free(out);
}

Test(web_socket, error_views_by_accept_header)
{
    char *out = curl("-i -H 'accept: application/json' URL/nowhere");
    cr_expect(strstr(out, "HTTP/1.1 404"));
    cr_expect(strstr(out, "{\"errors\":{\"detail\":\"Not Found\"}}"), "%s", out);
    free(out);
    out = curl("-i -X DELETE URL/health");
    cr_expect(strstr(out, "HTTP/1.1 405"));
    cr_expect(strstr(out, "allow: GET, HEAD"), "%s", out);
    cr_expect(strstr(out, "x-request-id: "), "error pages keep the request id");
    free(out);
}

Test(web_socket, server_sent_events_stream)
{
    char *out = curl("-N --max-time 3 URL/clock/stream | head -c 60");
    cr_expect(strstr(out, "event: tick\ndata: "), "%s", out);
    free(out);
    cr_expect(bt_log_contains(&srv, "GET /clock/stream -> 200"), "the logger saw the stream start");
}

Test(web_socket, bennu_routes_prints_the_table)
{
    int st;
    char *out = bt_run(BENNU_BIN_DIR "/bennu routes " BENNU_BIN_DIR "/showcase", &st);
    cr_expect_eq(st, 0);
    cr_expect(strstr(out, "hello_path  GET   /hello/:name        hello"), "%s", out);
    cr_expect(strstr(out, "echo_path  POST  /api/echo           echo"), "%s", out);
    free(out);
}

static int temp_files_left(void)
{
    DIR *d = opendir("/tmp/bennu-upload-test");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strncmp(e->d_name, "bennu-upload-", 13) == 0;
    if (d)
        closedir(d);
    return n;
}

Test(web_socket, a_large_upload_streams_to_a_temp_file_and_is_cleaned_up)
{
    int st;
    char *out = bt_run("head -c 20000000 /dev/urandom > /tmp/bennu-upload-test/big.bin && echo ok", &st);
    free(out);
    out = curl("-F file=@/tmp/bennu-upload-test/big.bin URL/api/upload");
    cr_expect_str_eq(out, "{\"filename\":\"big.bin\",\"size\":20000000}");
    free(out);
    unlink("/tmp/bennu-upload-test/big.bin");
    cr_expect_eq(temp_files_left(), 0, "the upload's temporary file is removed after the request");

    /* A plain form body over BENNU_MAX_BODY is still refused: only multipart streams. */
    int fd = bt_connect(srv.port);
    bt_send_str(fd, "POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    "Content-Length: 2000000\r\n\r\n");
    bt_response r;
    cr_assert_eq(bt_read_response(fd, &r, false), 1);
    cr_expect_eq(r.status, 413);
    bt_response_free(&r);
    close(fd);
}

Test(web_socket, an_upload_cut_short_leaves_no_temp_file)
{
    int fd = bt_connect(srv.port);
    cr_assert(fd >= 0);
    const char *head = "POST /api/upload HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 5000000\r\n\r\n"
                       "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\n";
    cr_assert(bt_send_str(fd, head));
    static char chunk[65536];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 16; i++)
        cr_assert(bt_send(fd, chunk, sizeof chunk));
    long long t0 = bt_now_ms();
    while (temp_files_left() == 0 && bt_now_ms() - t0 < 3000)
        usleep(10000);
    cr_expect_eq(temp_files_left(), 1, "the file is being written while the body arrives");
    close(fd); /* gone mid-body */
    t0 = bt_now_ms();
    while (temp_files_left() > 0 && bt_now_ms() - t0 < 3000)
        usleep(10000);
    cr_expect_eq(temp_files_left(), 0, "an abandoned upload's temporary file is removed");
}

/* Sends a multipart upload head declaring `length` bytes, then up to `send` bytes of file
 * data, stopping as soon as the server answers; returns the status. */
static int upload_status(unsigned long long length, size_t send)
{
    int fd = bt_connect(srv.port);
    cr_assert(fd >= 0);
    char head[512];
    snprintf(head, sizeof head,
             "POST /api/upload HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
             "Content-Length: %llu\r\n\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; "
             "filename=\"big.bin\"\r\n\r\n",
             length);
    cr_assert(bt_send_str(fd, head));
    static char chunk[1 << 20];
    memset(chunk, 'z', sizeof chunk);
    for (size_t sent = 0; sent < send; sent += sizeof chunk) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0 || !bt_send(fd, chunk, sizeof chunk))
            break; /* the server has answered (or closed): stop sending */
    }
    bt_response r;
    int status = bt_read_response(fd, &r, false) == 1 ? r.status : -1;
    if (status != -1)
        bt_response_free(&r);
    close(fd);
    return status;
}

Test(web_socket, streamed_upload_limits_answer_413)
{
    /* Over BENNU_MAX_STREAMED_BODY (1 GB): refused from the head alone. */
    cr_expect_eq(upload_status(2000000000ull, 0), 413);
    /* A file over BENNU_MAX_FILE_SIZE (64m here): refused while it arrives. */
    cr_expect_eq(upload_status(100ull << 20, 80u << 20), 413);
    long long t0 = bt_now_ms();
    while (temp_files_left() > 0 && bt_now_ms() - t0 < 3000)
        usleep(10000);
    cr_expect_eq(temp_files_left(), 0, "a refused upload leaves no temporary file");
}

/* ---- the chat page: a socket at /socket and the npm phoenix client at /assets/phoenix.js ---- */

#define PHOENIX_JS BENNU_SOURCE_DIR "/examples/showcase/assets/node_modules/phoenix/priv/static/phoenix.min.js"

Test(web_socket, chat_page_and_its_client_are_served)
{
    struct stat st;
    bool present = stat(PHOENIX_JS, &st) == 0;
    char *out = curl("-i URL/chat");
    cr_expect(strstr(out, "HTTP/1.1 200 OK"));
    cr_expect(strstr(out, "<script src=\"/assets/phoenix.js\"></script>"), "%s", out);
    cr_expect(strstr(out, "socket.channel('room:lobby'"), "the inline script joins the room: %s", out);
    cr_expect_eq(strstr(out, "id=\"chat-missing\"") != NULL, !present,
                 "the page says so when the client is missing (it is %s)", present ? "there" : "missing");
    free(out);
    out = curl("URL/");
    cr_expect(strstr(out, "<a href=\"/chat\"><code>/chat</code></a>"), "the home page links to it: %s", out);
    free(out);

    out = curl("-o /dev/null -w '%{http_code} %{content_type} %{size_download}' URL/assets/phoenix.js");
    if (present) {
        char want[128];
        snprintf(want, sizeof want, "200 text/javascript; charset=utf-8 %lld", (long long)st.st_size);
        cr_expect_str_eq(out, want);
    } else {
        cr_expect(strncmp(out, "404 ", 4) == 0, "%s", out);
    }
    free(out);
}

/* The strings of a long-poll answer's "messages" array, concatenated. */
static char *longpoll(const char *args, char *token, size_t token_cap)
{
    char *out = curl(args);
    bn_arena a = BN_ARENA_INIT;
    bn_json_error err;
    const bn_value *v = bn_json_parse(&a, bn_str_from_cstr(out), &err);
    cr_assert_not_null(v, "long-poll answers JSON: %s", out);
    bn_str t = bn_value_str(bn_value_get(v, "token"));
    if (t.ptr && token)
        snprintf(token, token_cap, BN_STR_FMT, BN_STR_ARG(t));
    bn_buf msgs = BN_BUF_INIT;
    bn_buf_printf(&msgs, "status %lld:", (long long)bn_value_get(v, "status")->as.i);
    const bn_value *list = bn_value_get(v, "messages");
    for (size_t i = 0; i < bn_value_len(list); i++)
        bn_buf_printf(&msgs, " " BN_STR_FMT, BN_STR_ARG(bn_value_str(bn_value_at(list, i))));
    bn_buf_append(&msgs, "", 1);
    bn_arena_destroy(&a);
    free(out);
    return msgs.data;
}

Test(web_socket, chat_room_over_long_poll)
{
    char token[256] = "", args[1024];
    char *msgs = longpoll("'URL/socket/longpoll?vsn=2.0.0'", token, sizeof token);
    cr_expect_str_eq(msgs, "status 410:", "a new session");
    free(msgs);
    cr_assert(token[0]);
    const char *posts[] = {"[\"1\",\"1\",\"room:lobby\",\"phx_join\",{}]",
                           "[\"1\",\"2\",\"room:lobby\",\"ping\",{\"n\":7}]",
                           "[\"1\",\"3\",\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]"};
    for (size_t i = 0; i < BN_ARRAY_LEN(posts); i++) {
        snprintf(args, sizeof args,
                 "-H 'content-type: application/json' --data '%s' 'URL/socket/longpoll?vsn=2.0.0&token=%s'", posts[i],
                 token);
        msgs = longpoll(args, NULL, 0);
        cr_expect_str_eq(msgs, "status 200:", "post %zu", i);
        free(msgs);
    }
    snprintf(args, sizeof args, "'URL/socket/longpoll?vsn=2.0.0&token=%s'", token);
    msgs = longpoll(args, NULL, 0);
    cr_expect_str_eq(msgs,
                     "status 200: [\"1\",\"1\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]"
                     " [\"1\",\"2\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"n\":7}}]"
                     " [null,null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]");
    free(msgs);
}
