/*
 * bench/bench_server.c — Bennu's side of `make bench`: the TechEmpower
 * "plaintext" and "json" endpoints on the public API of bennu/http.h.
 *
 *   GET /plaintext  -> 200 text/plain        "Hello, World!"
 *   GET /json       -> 200 application/json  {"message":"Hello, World!"}
 *   anything else   -> 404
 *
 * The JSON body is built and serialized for every request (a jansson object,
 * json_dumpb into a stack buffer), as TechEmpower requires; the _nocheck
 * setters only skip UTF-8 validation of the two literals. The server adds
 * Date and Server itself. Configuration comes from the environment (PORT,
 * BENNU_THREADS, BENNU_MASTER, ...), see bn_server_config_defaults.
 */
#include <jansson.h>

#include "bennu/http.h"

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

static void route(bn_conn *c)
{
    bn_str path = bn_conn_path(c);
    if (bn_str_eq(path, BN_STR("/plaintext")))
        plaintext(c);
    else if (bn_str_eq(path, BN_STR("/json")))
        json(c);
    else
        bn_conn_send_resp(c, 404, BN_STR("Not Found"));
}

int main(int argc, char **argv)
{
    (void)argc;
    bn_server_config cfg;
    bn_server_config_defaults(&cfg, argv);
    cfg.handler = route;
    return bn_server_run(&cfg);
}
