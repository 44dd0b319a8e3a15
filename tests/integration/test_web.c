/*
 * The web layer over real sockets: the showcase app (endpoint, router,
 * pipelines, params, SSE, error views) driven by curl.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static bt_server srv;

static void start(void)
{
    const char *env[] = {"BENNU_MASTER=0", NULL};
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
    free(out);
}

Test(web_socket, path_params_are_decoded_and_escaped)
{
    char *out = curl("URL/hello/%3Cscript%3E");
    cr_expect_str_eq(out, "<h1>Hello, &lt;script&gt;!</h1>\n");
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
    char *out = curl("-N --max-time 3 URL/clock | head -c 60");
    cr_expect(strstr(out, "event: tick\ndata: "), "%s", out);
    free(out);
    cr_expect(bt_log_contains(&srv, "GET /clock -> 200"), "the logger saw the stream start");
}

Test(web_socket, bennu_routes_prints_the_table)
{
    int st;
    char *out = bt_run(BENNU_BIN_DIR "/bennu routes " BENNU_BIN_DIR "/showcase", &st);
    cr_expect_eq(st, 0);
    cr_expect(strstr(out, "hello_path  GET   /hello/:name  hello"), "%s", out);
    cr_expect(strstr(out, "echo_path  POST  /api/echo     echo"), "%s", out);
    free(out);
}
