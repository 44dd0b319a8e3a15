/*
 * bench/bench_server.c — Bennu's side of `make bench`: the TechEmpower
 * "plaintext", "json" and "fortunes" endpoints on the public API of
 * bennu/http.h, and (BENCH_ROUTER=1) the same JSON answer behind Bennu's
 * endpoint, a router of 10 routes and a 3-plug "api" pipeline.
 *
 * Bare mode (default), the handler is a bn_server_config.handler:
 *   GET /plaintext  -> 200 text/plain        "Hello, World!"
 *   GET /json       -> 200 application/json  {"message":"Hello, World!"}
 *   GET /fortunes   -> 200 text/html; charset=utf-8, the Fortunes page
 *                      (fortunes.html.bnx; the rows in memory, fortunes.c)
 *   anything else   -> 404
 *
 * Router mode (BENCH_ROUTER=1), a bn_endpoint without endpoint plugs:
 *   GET /, GET /about                          small HTML pages
 *   scope "/api", pipe_through "api":
 *     resources "/users" (index, show, create)  JSON
 *     GET /api/status, GET /api/posts/:id, GET /api/files/(glob "path")
 *     GET /api/json        -> the bare /json handler itself (jansson)
 *     GET /api/json_value  -> the same body via bn_value + bn_conn_json
 *   The "api" pipeline: accepts_json (406 unless Accept allows JSON),
 *   assign_tenant (assigns "tenant" from the Host header), api_version
 *   (a before-send callback adds "x-api-version: 1").
 * /api/json runs exactly the bare /json code, so the difference between the
 * two modes is the endpoint, the router match and the pipeline.
 *
 * The JSON body is built and serialized for every request (a jansson object,
 * json_dumpb into a stack buffer), as TechEmpower requires; the _nocheck
 * setters only skip UTF-8 validation of the two literals. The Fortunes page
 * too is made for every request: the rows plus the request's own fortune in
 * an array from the request's arena, sorted by message, rendered by the
 * compiled template into a buffer that send_resp copies. The server adds
 * Date and Server itself. Configuration comes from the environment (PORT,
 * BENNU_THREADS, BENNU_MASTER, ...), see bn_server_config_defaults.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/endpoint.h"
#include "bennu/http.h"
#include "bennu/router.h"
#include "bennu/template.h"
#include "fortunes.h"
#include "fortunes.html.h"

/* ---- bare mode ------------------------------------------------------------ */

static void plaintext(bn_conn *c)
{
    bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("text/plain"));
    bn_conn_send_resp(c, 200, BN_STR("Hello, World!"));
}

static void json(bn_conn *c)
{
    char buf[128];
    json_t *obj = json_object();
    json_object_set_new_nocheck(obj, "message", json_string_nocheck("Hello, World!"));
    size_t len = json_dumpb(obj, buf, sizeof buf, JSON_COMPACT);
    json_decref(obj);
    if (len == 0 || len > sizeof buf) {
        bn_conn_send_resp(c, 500, BN_STR(""));
        return;
    }
    bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("application/json"));
    bn_conn_send_resp(c, 200, bn_str_make(buf, len));
}

/* TechEmpower's Fortunes without the database: the rows (fortune_table) and
 * one more fortune made for this request go into a list from the request's
 * arena, sorted by message, then rendered by fortunes.html.bnx. */
static void fortunes_page(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    fortune *extra = bn_arena_alloc(a, sizeof *extra);
    *extra = (fortune){0, FORTUNE_EXTRA_MESSAGE};
    const fortune **list = bn_arena_alloc(a, (fortune_table_count + 1) * sizeof *list);
    size_t n = fortunes_collect(list, extra);

    const fortunes_assigns assigns = {.fortunes = list, .count = n};
    bn_buf page = BN_BUF_INIT;
    const char *err = bn_tpl_render_html(&page, fortunes, &assigns);
    if (err) {
        bn_buf_free(&page);
        bn_conn_send_resp(c, 500, BN_STR(""));
        return;
    }
    bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("text/html; charset=utf-8"));
    bn_conn_send_resp(c, 200, bn_str_make(page.data, page.len));
    bn_buf_free(&page); /* send_resp copied it */
}

static void route(bn_conn *c)
{
    bn_str path = bn_conn_path(c);
    if (bn_str_eq(path, BN_STR("/plaintext")))
        plaintext(c);
    else if (bn_str_eq(path, BN_STR("/json")))
        json(c);
    else if (bn_str_eq(path, BN_STR("/fortunes")))
        fortunes_page(c);
    else
        bn_conn_send_resp(c, 404, BN_STR("Not Found"));
}

/* ---- router mode: the "api" pipeline ----------------------------------------- */

/* 406 unless the Accept header (if any) allows JSON [Phoenix's accepts(["json"])]. */
static void accepts_json(bn_conn *c, const void *opts)
{
    (void)opts;
    bn_str accept = bn_conn_req_header(c, BN_STR("accept"));
    if (!accept.ptr || memmem(accept.ptr, accept.len, "json", 4) || memmem(accept.ptr, accept.len, "*/*", 3))
        return;
    bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("application/json"));
    bn_conn_send_resp(c, 406, BN_STR("{\"errors\":{\"detail\":\"Not Acceptable\"}}"));
    bn_conn_halt(c);
}

/* assigns "tenant": the Host without its port (a multi-tenant app's first step). */
static void assign_tenant(bn_conn *c, const void *opts)
{
    (void)opts;
    bn_conn_assign(c, "tenant", bn_value_string_ref(bn_conn_arena(c), bn_conn_host(c)));
}

static void add_api_version(bn_conn *c, void *arg)
{
    (void)arg;
    bn_conn_put_resp_header(c, BN_STR("x-api-version"), BN_STR("1"));
}

static void api_version(bn_conn *c, const void *opts)
{
    (void)opts;
    bn_conn_register_before_send(c, add_api_version, NULL);
}

/* ---- router mode: actions ------------------------------------------------------ */

static void page_home(bn_conn *c) { bn_conn_html(c, 200, BN_STR("<h1>Bennu</h1>")); }
static void page_about(bn_conn *c) { bn_conn_html(c, 200, BN_STR("<p>About Bennu</p>")); }

/* {"message":"Hello, World!"} from Bennu's own value tree and encoder. */
static void json_value(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    bn_value *obj = bn_value_object(a);
    bn_value_set(a, obj, "message", bn_value_string_ref(a, BN_STR("Hello, World!")));
    bn_conn_json(c, 200, obj);
}

static bn_value *with_tenant(bn_conn *c, const char *key, bn_value *v)
{
    bn_arena *a = bn_conn_arena(c);
    bn_value *obj = bn_value_object(a);
    bn_value_set(a, obj, key, v);
    const bn_value *tenant = bn_conn_assigned(c, "tenant");
    if (tenant)
        bn_value_set(a, obj, "tenant", (bn_value *)tenant);
    return obj;
}

static void api_status(bn_conn *c)
{
    bn_conn_json(c, 200, with_tenant(c, "status", bn_value_string_ref(bn_conn_arena(c), BN_STR("ok"))));
}

static void user_index(bn_conn *c) { bn_conn_json(c, 200, with_tenant(c, "data", bn_value_array(bn_conn_arena(c)))); }

static void user_show(bn_conn *c)
{
    bn_conn_json(c, 200, with_tenant(c, "id", bn_value_string(bn_conn_arena(c), bn_conn_param(c, "id"))));
}

static void user_create(bn_conn *c) { bn_conn_json(c, 201, with_tenant(c, "created", bn_value_bool(bn_conn_arena(c), true))); }

static void post_show(bn_conn *c)
{
    bn_conn_json(c, 200, with_tenant(c, "post", bn_value_string(bn_conn_arena(c), bn_conn_param(c, "id"))));
}

static void file_show(bn_conn *c)
{
    bn_conn_json(c, 200, with_tenant(c, "path", bn_value_string(bn_conn_arena(c), bn_conn_param(c, "path"))));
}

static const bn_controller users = {
    .name = "UserController", .index = user_index, .show = user_show, .create = user_create};

static void routes(bn_router *r)
{
    bn_pipeline(r, "api", BN_PLUG(accepts_json, NULL), BN_PLUG(assign_tenant, NULL), BN_PLUG(api_version, NULL));

    bn_get_as(r, "/", page_home, "home");
    bn_get_as(r, "/about", page_about, "about");
    bn_scope(r, "/api", "api") {
        bn_resources(r, "/users", &users, BN_ONLY("index", "show", "create"));
        bn_get(r, "/status", api_status);
        bn_get(r, "/posts/:id", post_show);
        bn_get(r, "/files/*path", file_show);
        bn_get(r, "/json", json);
        bn_get(r, "/json_value", json_value);
    }
}

int main(int argc, char **argv)
{
    const char *mode = getenv("BENCH_ROUTER");
    if (mode && strcmp(mode, "1") == 0) {
        /* `BENCH_ROUTER=1 bench_server routes` prints the routes table. */
        static bn_endpoint ep; /* the endpoint keeps a pointer to it while serving */
        ep.router = bn_router_new();
        routes(ep.router);
        return bn_endpoint_main(&ep, argc, argv);
    }
    bn_server_config cfg;
    bn_server_config_defaults(&cfg, argv);
    cfg.handler = route;
    return bn_server_run(&cfg);
}
