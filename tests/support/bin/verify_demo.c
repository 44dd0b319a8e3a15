/*
 * A program with verified paths for `verify_demo routes --verify`
 * (tests/integration/test_view_verify.c): ~p"/userz/#{}" has no route unless
 * VERIFY_DEMO_COMPLETE=1 adds one.
 */
#include <stdlib.h>

#include <bennu.h>

static const bn_verified_path user_link = {"/users/#{}?tab=#{}", false, "demo.html.bnx", 3, 12};
BN_VERIFIED_PATH_REGISTER(user_link);
static const bn_verified_path typo_link = {"/userz/#{}", false, "demo.html.bnx", 7, 9};
BN_VERIFIED_PATH_REGISTER(typo_link);

static void user_show(bn_conn *c) { bn_conn_redirect(c, BN_PATH(c, "/users/%d", 1)); }

int main(int argc, char **argv)
{
    bn_router *r = bn_router_new();
    bn_get(r, "/users/:id", user_show);
    const char *complete = getenv("VERIFY_DEMO_COMPLETE");
    if (complete && strcmp(complete, "1") == 0)
        bn_get(r, "/userz/:id", user_show);
    bn_endpoint ep = {.router = r};
    int status = bn_endpoint_main(&ep, argc, argv);
    bn_router_free(r);
    return status;
}
