/*
 * `PROG routes --verify` (bn_endpoint_main): the verified paths linked into a
 * program against its router (tests/support/bin/verify_demo.c), and a program
 * that registers none (static_demo).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char *run(const char *env, const char *program, const char *args, int *status)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s/%s %s", env, BENNU_BIN_DIR, program, args);
    return bt_run(cmd, status);
}

Test(view_verify, a_path_without_a_route_fails_with_its_location)
{
    int status;
    char *out = run("", "verify_demo", "routes --verify 2>&1", &status);
    cr_expect_eq(status, 1, "%s", out);
    cr_expect_str_eq(out, "demo.html.bnx:7:9: error: no route matches ~p\"/userz/#{}\"\n");
    free(out);

    out = run("", "verify_demo", "routes --verify 2>/dev/null", &status);
    cr_expect_str_eq(out, "", "errors go to stderr, nothing to stdout");
    free(out);
}

Test(view_verify, all_paths_routed_is_exit_0)
{
    int status;
    char *out = run("VERIFY_DEMO_COMPLETE=1", "verify_demo", "routes --verify 2>&1", &status);
    cr_expect_eq(status, 0, "%s", out);
    cr_expect_str_eq(out, "3 verified paths OK\n", "two ~p and one BN_PATH");
    free(out);
}

Test(view_verify, routes_without_verify_still_prints_the_table)
{
    int status;
    char *out = run("", "verify_demo", "routes 2>&1", &status);
    cr_expect_eq(status, 0);
    cr_expect(strstr(out, "/users/:id") && !strstr(out, "error"), "%s", out);
    free(out);
}

Test(view_verify, a_program_without_verified_paths_has_nothing_to_check)
{
    int status;
    char *out = run("STATIC_DIR=/tmp", "static_demo", "routes --verify 2>&1", &status);
    cr_expect_eq(status, 0, "%s", out);
    cr_expect_str_eq(out, "0 verified paths OK\n");
    free(out);
}
