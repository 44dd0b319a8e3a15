/*
 * A static file server for the integration tests: bn_plug_static serves
 * $STATIC_DIR at "/" (with gzip twins); every other request gets the router's 404.
 */
#include <stdio.h>
#include <stdlib.h>

#include <bennu.h>
#include <bennu/static.h>

static void not_found(bn_conn *c) { bn_conn_text(c, 404, BN_STR("no route\n")); }

static bn_static_opts static_opts = {.at = "/", .gzip = true};
static const bn_plug endpoint_plugs[] = {
    BN_PLUG(bn_plug_static, &static_opts),
    BN_PLUG(bn_plug_logger, NULL),
};

int main(int argc, char **argv)
{
    static_opts.from = getenv("STATIC_DIR");
    if (!static_opts.from) {
        fprintf(stderr, "static_demo: set STATIC_DIR\n");
        return 2;
    }
    bn_router *r = bn_router_new();
    bn_match(r, "*", "/*path", not_found);
    bn_endpoint ep = {.plugs = endpoint_plugs, .nplugs = 2, .router = r};
    int status = bn_endpoint_main(&ep, argc, argv);
    bn_router_free(r);
    return status;
}
