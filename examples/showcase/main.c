/*
 * The Bennu showcase. It grows with each layer; today it shows the runtime,
 * the HTTP server and the web layer: an endpoint with plugs, a router with
 * pipelines, params, JSON, a handler that suspends without stalling anyone,
 * and a Server-Sent Events clock. Later issues add channels, LiveView, the
 * data layer and generators.
 *
 * Run: make run (or build/bin/showcase; `build/bin/showcase routes` prints the routes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <bennu.h>

static const char home_page[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bennu showcase</title>\n"
    "<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
    "code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}#clock{font-size:1.6rem}</style></head>\n"
    "<body><h1>Bennu</h1>\n"
    "<p>A real-time web framework for C in the spirit of Phoenix. This page went through an endpoint "
    "(request id, logger), the router and a <code>browser</code> pipeline; its handler ran in a task on "
    "one of the server's event loops.</p>\n"
    "<p>Server time, streamed with Server-Sent Events: <span id=\"clock\">…</span></p>\n"
    "<ul>\n"
    "<li><a href=\"/hello/world\"><code>/hello/:name</code></a>: a path param, HTML-escaped.</li>\n"
    "<li><a href=\"/sleep?ms=500\"><code>/sleep?ms=500</code></a>: the handler sleeps 500 ms in its task; "
    "every other connection keeps being served meanwhile.</li>\n"
    "<li><code>POST /api/echo</code>: params from a form or JSON body, answered as JSON "
    "(<code>curl -d 'user[name]=Ada' localhost:4000/api/echo</code>).</li>\n"
    "<li><code>POST /api/upload</code>: a multipart upload, streamed to a temporary file as it arrives "
    "(<code>curl -F file=@big.iso localhost:4000/api/upload</code>).</li>\n"
    "<li><a href=\"/plaintext\"><code>/plaintext</code></a> and <a href=\"/json\"><code>/json</code></a>: "
    "the TechEmpower endpoints that <code>make bench</code> races against nginx.</li>\n"
    "<li><a href=\"/health\"><code>/health</code></a>: a liveness check.</li>\n"
    "</ul>\n"
    "<script>const es = new EventSource('/clock');"
    "es.addEventListener('tick', e => { document.getElementById('clock').textContent = e.data; });</script>\n"
    "</body></html>\n";

static void home(bn_conn *c) { bn_conn_html(c, 200, BN_STR(home_page)); }

static void hello(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    bn_str name = bn_conn_param(c, "name");
    const char *safe = bn_html_escape(a, bn_arena_strndup(a, name.ptr, name.len));
    bn_conn_html(c, 200, bn_str_from_cstr(bn_arena_printf(a, "<h1>Hello, %s!</h1>\n", safe)));
}

static void sleepy(bn_conn *c)
{
    int64_t ms = 100;
    bn_value_to_int(bn_value_get(bn_conn_params(c), "ms"), &ms);
    ms = ms < 0 ? 0 : ms > 10000 ? 10000 : ms;
    bn_sleep((uint64_t)ms);
    bn_conn_text(c, 200, bn_str_from_cstr(bn_arena_printf(bn_conn_arena(c), "slept %lld ms\n", (long long)ms)));
}

static void clock_events(bn_conn *c)
{
    bn_conn_sse_start(c);
    for (int i = 0; i < 3600; i++) { /* an hour at most; stops when the tab closes */
        char now[32];
        time_t t = time(NULL);
        strftime(now, sizeof now, "%H:%M:%S UTC", gmtime(&t));
        if (bn_conn_sse_send(c, "tick", bn_str_from_cstr(now), NULL) < 0)
            return;
        bn_sleep(1000);
    }
}

static void plaintext(bn_conn *c) { bn_conn_text(c, 200, BN_STR("Hello, World!")); }

static void json(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "message", bn_value_string(a, BN_STR("Hello, World!")));
    bn_conn_json(c, 200, v);
}

static void echo(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "params", (bn_value *)bn_conn_params(c));
    bn_value_set(a, v, "request_id", bn_value_string(a, bn_str_from_cstr(bn_conn_request_id(c))));
    bn_conn_json(c, 200, v);
}

/* A multipart upload: the file was streamed to a temporary file while it
 * arrived (never held in memory) and is removed when this request ends. */
static void upload(bn_conn *c)
{
    const bn_value *file = bn_value_get(bn_conn_params(c), "file");
    if (!bn_value_get(file, "path"))
        bn_raise(c, 422, "no file in the \"file\" field");
    bn_arena *a = bn_conn_arena(c);
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "filename", (bn_value *)bn_value_get(file, "filename"));
    bn_value_set(a, v, "size", (bn_value *)bn_value_get(file, "size"));
    bn_conn_json(c, 200, v);
}

static void health(bn_conn *c) { bn_conn_text(c, 200, BN_STR("ok\n")); }

static void routes(bn_router *r)
{
    bn_pipeline(r, "browser", BN_PLUG(bn_plug_secure_headers, NULL));
    bn_scope(r, "/", "browser") {
        bn_get(r, "/", home);
        bn_get(r, "/hello/:name", hello);
        bn_get(r, "/sleep", sleepy);
        bn_get(r, "/clock", clock_events);
    }
    bn_scope(r, "/api") {
        bn_post(r, "/echo", echo);
        bn_post(r, "/upload", upload);
    }
    bn_get(r, "/plaintext", plaintext);
    bn_get(r, "/json", json);
    bn_get(r, "/health", health);
}

static const bn_plug endpoint_plugs[] = {
    BN_PLUG(bn_plug_request_id, NULL),
    BN_PLUG(bn_plug_logger, NULL),
};

int main(int argc, char **argv)
{
    bn_router *r = bn_router_new();
    routes(r);
    bn_endpoint ep = {.plugs = endpoint_plugs, .nplugs = BN_ARRAY_LEN(endpoint_plugs), .router = r};
    int status = bn_endpoint_main(&ep, argc, argv);
    bn_router_free(r);
    return status;
}
