/*
 * The Bennu showcase. For now it shows the foundation: a home page, the
 * TechEmpower plaintext and JSON endpoints, a slow endpoint that suspends
 * its task without stalling others, and a health check. Later issues grow it
 * into the full tour (channels, LiveView, data, generators).
 */
#include <stdio.h>
#include <stdlib.h>

#include <bennu.h>
#include <jansson.h>

static const char home_page[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bennu showcase</title>\n"
    "<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
    "code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}</style></head>\n"
    "<body><h1>Bennu</h1>\n"
    "<p>A real-time web framework for C in the spirit of Phoenix. This page is served by a Bennu worker:\n"
    "one event loop per core, each request handled in its own task.</p>\n"
    "<ul>\n"
    "<li><a href=\"/plaintext\"><code>/plaintext</code></a> and <a href=\"/json\"><code>/json</code></a>: "
    "the TechEmpower endpoints that <code>make bench</code> races against nginx.</li>\n"
    "<li><a href=\"/sleep?ms=500\"><code>/sleep?ms=500</code></a>: the handler sleeps 500 ms in its task; "
    "every other connection keeps being served meanwhile.</li>\n"
    "<li><a href=\"/health\"><code>/health</code></a>: a liveness check.</li>\n"
    "</ul></body></html>\n";

static bool is(bn_conn *c, const char *path) { return bn_str_eq(bn_conn_path(c), bn_str_from_cstr(path)); }

static void send_text(bn_conn *c, int status, const char *type, bn_str body)
{
    bn_conn_put_resp_header(c, BN_STR("content-type"), bn_str_from_cstr(type));
    bn_conn_send_resp(c, status, body);
}

static long query_long(bn_conn *c, const char *key, long def)
{
    bn_str q = bn_conn_query(c);
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen < q.len; i++) {
        if ((i == 0 || q.ptr[i - 1] == '&') && memcmp(q.ptr + i, key, klen) == 0 && q.ptr[i + klen] == '=') {
            char num[24] = {0};
            size_t j = i + klen + 1, n = 0;
            while (j < q.len && q.ptr[j] != '&' && n < sizeof num - 1)
                num[n++] = q.ptr[j++];
            return strtol(num, NULL, 10);
        }
    }
    return def;
}

static void handle(bn_conn *c)
{
    if (is(c, "/")) {
        send_text(c, 200, "text/html; charset=utf-8", BN_STR(home_page));
    } else if (is(c, "/plaintext")) {
        send_text(c, 200, "text/plain", BN_STR("Hello, World!"));
    } else if (is(c, "/json")) {
        json_t *obj = json_pack("{s:s}", "message", "Hello, World!");
        char buf[128];
        size_t n = json_dumpb(obj, buf, sizeof buf, JSON_COMPACT);
        json_decref(obj);
        send_text(c, 200, "application/json", bn_str_make(buf, n));
    } else if (is(c, "/sleep")) {
        long ms = query_long(c, "ms", 100);
        ms = ms < 0 ? 0 : ms > 10000 ? 10000 : ms;
        bn_sleep((uint64_t)ms);
        char *msg = bn_arena_printf(bn_conn_arena(c), "slept %ld ms\n", ms);
        send_text(c, 200, "text/plain", bn_str_from_cstr(msg));
    } else if (is(c, "/health")) {
        send_text(c, 200, "text/plain", BN_STR("ok\n"));
    } else {
        send_text(c, 404, "text/plain", BN_STR("Not Found\n"));
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
