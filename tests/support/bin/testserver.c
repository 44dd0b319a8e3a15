/*
 * The server the integration tests talk to: one endpoint per behaviour
 * under test. Configured entirely through the environment (PORT=0 picks a
 * free port; the tests read it from the "listening on" log line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <bennu.h>

static bool is(bn_conn *c, const char *path) { return bn_str_eq(bn_conn_path(c), bn_str_from_cstr(path)); }

static long query_long(bn_conn *c, long def)
{
    bn_str q = bn_conn_query(c);
    if (q.len == 0 || q.len > 20)
        return def;
    char num[24];
    memcpy(num, q.ptr, q.len);
    num[q.len] = '\0';
    return strtol(num, NULL, 10);
}

static void text(bn_conn *c, int status, bn_str body)
{
    bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("text/plain"));
    bn_conn_send_resp(c, status, body);
}

/* Recurses until the task's stack hits its guard page (depth from a
 * volatile so the compiler cannot prove the recursion endless). */
static volatile long depth_limit = -1;
static int recurse(volatile char *prev, long depth)
{
    volatile char frame[512];
    frame[0] = (char)(prev ? prev[0] + 1 : 0);
    if (depth == depth_limit)
        return frame[0];
    return recurse(frame, depth + 1) + frame[1];
}

static volatile bool really_raise = true; /* keeps gcc from calling the recursion endless */
static void deep_raise(bn_conn *c, int depth, int status)
{
    if (depth == 0) {
        if (really_raise)
            bn_raise(c, status, "raised from deep inside (status %d)", status);
        return;
    }
    deep_raise(c, depth - 1, status);
}

static void add_header_before_send(bn_conn *c, void *arg)
{
    bn_conn_put_resp_header(c, BN_STR("x-before-send"), bn_str_from_cstr(arg));
}

static void raise_before_send(bn_conn *c, void *arg)
{
    (void)arg;
    bn_raise(c, 503, "raised from a before-send callback");
}

static void handle(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    if (is(c, "/hello")) {
        text(c, 200, BN_STR("Hello, World!"));
    } else if (is(c, "/echo")) { /* body back, with what we saw of it */
        bn_conn_put_resp_header(c, BN_STR("x-method"), bn_conn_method(c));
        bn_conn_put_resp_header(c, BN_STR("x-query"), bn_conn_query(c));
        text(c, 200, bn_conn_body(c));
    } else if (is(c, "/header")) { /* value of the header named in the query */
        bn_str v = bn_conn_req_header(c, bn_conn_query(c));
        text(c, v.ptr ? 200 : 404, v);
    } else if (is(c, "/sleep")) { /* suspends the task: ?ms */
        long ms = query_long(c, 100);
        bn_sleep((uint64_t)(ms < 0 ? 0 : ms));
        text(c, 200, bn_str_from_cstr(bn_arena_printf(a, "slept %ld\n", ms)));
    } else if (is(c, "/big")) { /* ?bytes of 'x' */
        long n = query_long(c, 1 << 20);
        char *body = bn_arena_alloc(a, (size_t)n);
        memset(body, 'x', (size_t)n);
        text(c, 200, bn_str_make(body, (size_t)n));
    } else if (is(c, "/file")) { /* sends this program's own source file */
        if (bn_conn_send_file(c, 200, BENNU_TESTSERVER_FILE) < 0)
            text(c, 404, BN_STR("no file\n"));
    } else if (is(c, "/inject")) { /* a header value with CRLF must be refused */
        bn_conn_put_resp_header(c, BN_STR("x-ok"), BN_STR("fine"));
        bn_conn_put_resp_header(c, BN_STR("x-evil"), BN_STR("a\r\nset-cookie: owned=1"));
        bn_conn_put_resp_header(c, BN_STR("bad name"), BN_STR("v"));
        text(c, 200, BN_STR("ok"));
    } else if (is(c, "/raise")) { /* ?status: raised ten calls deep, after a header was set */
        bn_conn_put_resp_header(c, BN_STR("x-lost"), BN_STR("yes"));
        deep_raise(c, 10, (int)query_long(c, 500));
    } else if (is(c, "/before-send")) { /* callbacks run last-registered first, then the head */
        bn_conn_register_before_send(c, add_header_before_send, "first");
        bn_conn_register_before_send(c, add_header_before_send, "second");
        text(c, 201, BN_STR("created"));
    } else if (is(c, "/stream")) { /* ?n chunks of 1000 bytes, 5 ms apart */
        long n = query_long(c, 5);
        bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("text/plain"));
        bn_conn_send_chunked(c, 200);
        char block[1000];
        for (long i = 0; i < n; i++) {
            memset(block, 'a' + (int)(i % 26), sizeof block);
            if (bn_conn_chunk(c, bn_str_make(block, sizeof block)) < 0) {
                bn_info("stream: client gone after %ld chunks", i);
                return;
            }
            if (n <= 100)
                bn_sleep(5);
        }
    } else if (is(c, "/before-send-raise")) { /* the error page still goes, with the unrun callback */
        bn_conn_register_before_send(c, add_header_before_send, "still-runs");
        bn_conn_register_before_send(c, raise_before_send, NULL);
        text(c, 200, BN_STR("never seen"));
    } else if (is(c, "/ip")) {
        text(c, 200, bn_str_from_cstr(bn_conn_remote_ip(c)));
    } else if (is(c, "/pid")) {
        text(c, 200, bn_str_from_cstr(bn_arena_printf(a, "%d", (int)getpid())));
    } else if (is(c, "/nosend")) {
        /* returns without a response: the server must answer 500 */
    } else if (is(c, "/twice")) {
        text(c, 200, BN_STR("first"));
        text(c, 200, BN_STR("second"));
    } else if (is(c, "/crash")) {
        /* Not NULL (UBSan would stop first) and hidden from the optimiser. */
        volatile uintptr_t bad = 16;
        *(volatile int *)bad = 1;
    } else if (is(c, "/overflow")) {
        recurse(NULL, 0);
    } else {
        text(c, 404, BN_STR("Not Found\n"));
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    bn_server_config cfg;
    bn_server_config_defaults(&cfg, argv);
    cfg.handler = handle;
    return bn_server_run(&cfg);
}
