/*
 * Compiled templates in controllers (bn_render inside root and app layouts,
 * status, content type, escaping, render errors, the layout plugs) and
 * verified paths (bn_router_verify_paths over every path this binary
 * registers, BN_PATH formatting).
 *
 * The templates below are written by hand exactly as bennu-tpl emits them.
 * The "bn_verified_paths" section is global to the binary: every path
 * registered in this file is listed in VERIFY_EXPECTED below, and no other
 * object of this test registers one.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bennu/endpoint.h"
#include "bennu/session.h"
#include "bennu/template.h"
#include "bennu/testing.h"
#include "bennu/view.h"

#define SKB "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- templates, as the compiler emits them ------------------------------------------ */

/* page.html.bnx: <p>Hi {@name}</p> */
static const bn_str page__s0[] = {BN_STR("<p>Hi "), BN_STR("</p>")};
static const bn_tpl_block page__b0 = {page__s0, 1, 0x12345678u, "page.html.bnx:1"};
typedef struct page_assigns {
    const char *name;
} page_assigns;
static void page(bn_tpl *t, const page_assigns *assigns)
{
    bn_tpl_open(t, &page__b0);
    bn_tpl_text(t, &page__b0, 0);
    if (bn_tpl_dyn(t, bn_tpl_bit(0)))
        bn_tpl_put(t, assigns->name);
    bn_tpl_text(t, &page__b0, 1);
    bn_tpl_close(t, &page__b0);
}
static void page__any(bn_tpl *t, const void *a) { page(t, a); }

/* broken.html.bnx: <a href={@url}>x</a> where the URL is refused (a render error). */
static const bn_str broken__s0[] = {BN_STR("<a"), BN_STR(">x</a>")};
static const bn_tpl_block broken__b0 = {broken__s0, 1, 0x0badf00du, "broken.html.bnx:1"};
typedef struct broken_assigns {
    const char *url;
} broken_assigns;
static void broken(bn_tpl *t, const broken_assigns *assigns)
{
    bn_tpl_open(t, &broken__b0);
    bn_tpl_text(t, &broken__b0, 0);
    if (bn_tpl_dyn(t, bn_tpl_bit(0))) {
        if (bn_tpl_url_is_safe(assigns->url, strlen(assigns->url)))
            bn_tpl_attr(t, "href", assigns->url);
        else
            bn_tpl_fail(t, "broken.html.bnx:1: unsafe URL in href");
    }
    bn_tpl_text(t, &broken__b0, 1);
    bn_tpl_close(t, &broken__b0);
}
static void broken__any(bn_tpl *t, const void *a) { broken(t, a); }

/* root.html.bnx: <html><head><meta name="csrf-token" content={@csrf_token}>
 *                <title>{@page_title || "Bennu"}</title></head><body>{@inner_content}</body></html> */
static const bn_str root__s0[] = {BN_STR("<html><head><meta name=\"csrf-token\""), BN_STR("><title>"),
                                  BN_STR("</title></head><body>"), BN_STR("</body></html>")};
static const bn_tpl_block root__b0 = {root__s0, 3, 0x00a0b0c0u, "root.html.bnx:1"};
typedef bn_layout_assigns root_assigns;
static void root(bn_tpl *t, const root_assigns *assigns)
{
    bn_tpl_open(t, &root__b0);
    bn_tpl_text(t, &root__b0, 0);
    if (bn_tpl_dyn(t, bn_tpl_bit(3)))
        bn_tpl_attr(t, "content", assigns->csrf_token);
    bn_tpl_text(t, &root__b0, 1);
    if (bn_tpl_dyn(t, bn_tpl_bit(2)))
        bn_tpl_put(t, assigns->page_title ? assigns->page_title : "Bennu");
    bn_tpl_text(t, &root__b0, 2);
    if (bn_tpl_dyn(t, bn_tpl_bit(1)))
        bn_tpl_put(t, assigns->inner_content);
    bn_tpl_text(t, &root__b0, 3);
    bn_tpl_close(t, &root__b0);
}
static void root__any(bn_tpl *t, const void *a) { root(t, a); }

/* app.html.bnx: <main>{@inner_content}</main> */
static const bn_str app__s0[] = {BN_STR("<main>"), BN_STR("</main>")};
static const bn_tpl_block app__b0 = {app__s0, 1, 0x00a0b0c1u, "app.html.bnx:1"};
typedef bn_layout_assigns app_assigns;
static void app(bn_tpl *t, const app_assigns *assigns)
{
    bn_tpl_open(t, &app__b0);
    bn_tpl_text(t, &app__b0, 0);
    if (bn_tpl_dyn(t, bn_tpl_bit(1)))
        bn_tpl_put(t, assigns->inner_content);
    bn_tpl_text(t, &app__b0, 1);
    bn_tpl_close(t, &app__b0);
}
static void app__any(bn_tpl *t, const void *a) { app(t, a); }

/* Layout plugs are constant expressions: they fit a static plug array. */
static const bn_plug layout_plugs[] = {BN_PLUG_ROOT_LAYOUT(root), BN_PLUG_LAYOUT(app)};

/* ---- verified paths registered in this binary ------------------------------------- */

#define TPL_PATH(var, pat, ln, cl)                                                                                     \
    static const bn_verified_path var = {pat, false, "lib/pages.html.bnx", ln, cl};                                    \
    BN_VERIFIED_PATH_REGISTER(var)

TPL_PATH(vp_user, "/users/#{}", 1, 10);                    /* :id */
TPL_PATH(vp_user_new, "/users/new", 2, 10);                /* the static segment */
TPL_PATH(vp_user_edit, "/users/#{}/edit?tab=#{}", 3, 10);  /* the query is ignored */
TPL_PATH(vp_files, "/files/#{}/#{}", 4, 10);               /* a glob takes the rest */
TPL_PATH(vp_files_root, "/files", 5, 10);                  /* a glob matches zero segments */
TPL_PATH(vp_login, "/login", 6, 10);                       /* POST only: any method counts */
TPL_PATH(vp_admin, "//admin/stats/#{}/", 7, 10);           /* forwarded; empty segments dropped */
TPL_PATH(vp_root_query, "/?q=#{}", 8, 10);                 /* "/" itself */
TPL_PATH(vp_fragment, "/posts/new#top", 9, 10);            /* the fragment is ignored */
TPL_PATH(vp_userz, "/userz/#{}", 10, 5);                   /* FAILS: no such path */
TPL_PATH(vp_post, "/posts/#{}", 11, 5);                    /* FAILS: only /posts/new, no :param */
TPL_PATH(vp_relative, "users", 12, 5);                     /* FAILS: not an absolute path */
TPL_PATH(vp_mixed, "/users/u-#{}", 13, 5);                 /* a segment with a dynamic part is dynamic */

/* A printf-style entry registered by hand, as BN_PATH does. */
static const bn_verified_path vp_fmt_hand = {"/files/%s.txt", true, "src/files.c", 20, 0};
BN_VERIFIED_PATH_REGISTER(vp_fmt_hand);

/* The BN_PATH calls of this file (registered whether or not they run). */
static const int fmt_edit_line = __LINE__ + 1;
static const char *edit_path(bn_conn *c, int id) { return BN_PATH(c, "/users/%d/edit", id); }
static const char *discount_path(bn_conn *c) { return BN_PATH(c, "/discount/100%%25"); } /* %% is a literal % */
static const int fmt_percent_line = __LINE__ + 1;
static const char *percent_path(bn_conn *c, int n) { return BN_PATH(c, "/discount/%d%%", n); } /* FAILS */
static const int fmt_userz_line = __LINE__ + 1;
static const char *userz_path(bn_conn *c, const char *s, int n) { return BN_PATH(c, "/userz/%s?x=%5d", s, n); } /* FAILS */

#define VERIFY_TOTAL 18
#define VERIFY_FAILURES 5

/* ---- the app ---------------------------------------------------------------------------- */

static void plain(bn_conn *c) { bn_render(c, page, &(page_assigns){.name = "<Ada & \"Bob\">"}); }

static void titled(bn_conn *c)
{
    bn_conn_assign(c, "page_title", bn_value_string(bn_conn_arena(c), BN_STR("Users")));
    bn_render(c, page, &(page_assigns){.name = "Ada"});
}

static void with_root(bn_conn *c)
{
    bn_conn_put_root_layout(c, BN_LAYOUT(root));
    titled(c);
}

static void with_both(bn_conn *c)
{
    bn_conn_put_layout(c, BN_LAYOUT(app));
    bn_conn_put_root_layout(c, BN_LAYOUT(root));
    bn_conn_assign(c, "page_title", bn_value_int(bn_conn_arena(c), 7)); /* not a string: no title */
    bn_render(c, page, &(page_assigns){.name = "Ada"});
}

static void app_only(bn_conn *c)
{
    bn_conn_put_layout(c, BN_LAYOUT(app));
    bn_render(c, page, &(page_assigns){.name = "Ada"});
}

static void created(bn_conn *c) { bn_conn_render_fn(c, 201, BN_TPL_ARGS(page, &(page_assigns){.name = "new"})); }

static void put_status(bn_conn *c)
{
    bn_conn_put_status(c, 202);
    bn_render(c, page, &(page_assigns){.name = "accepted"});
}

static void xml(bn_conn *c)
{
    bn_conn_put_resp_content_type(c, "application/xml");
    bn_render(c, page, &(page_assigns){.name = "x"});
}

static void fails(bn_conn *c)
{
    bn_conn_put_root_layout(c, BN_LAYOUT(root));
    bn_render(c, broken, &(broken_assigns){.url = "javascript:alert(1)"});
}

static void unlayout(bn_conn *c)
{
    bn_conn_put_layout(c, NULL);
    bn_conn_put_root_layout(c, NULL);
    bn_render(c, page, &(page_assigns){.name = "bare"});
}

static void paths(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    const char *body = bn_arena_printf(a, "%s %s %s %s", edit_path(c, 42), discount_path(c), percent_path(c, 5),
                                       userz_path(c, "ada", 3));
    bn_conn_text(c, 200, bn_str_from_cstr(body));
}

static const bn_session_opts session = {.key = "_view_key", .signing_salt = "view salt", .secret_key_base = SKB};

static void routes(bn_router *r)
{
    bn_get(r, "/plain", plain);
    bn_get(r, "/titled", titled);
    bn_get(r, "/root", with_root);
    bn_get(r, "/both", with_both);
    bn_get(r, "/app_only", app_only);
    bn_get(r, "/created", created);
    bn_get(r, "/put_status", put_status);
    bn_get(r, "/xml", xml);
    bn_get(r, "/fails", fails);
    bn_get(r, "/paths", paths);
    bn_pipeline(r, "browser", BN_PLUG(bn_plug_fetch_session, &session), BN_PLUG_ROOT_LAYOUT(root));
    bn_pipeline(r, "app", layout_plugs[1]);
    bn_pipeline(r, "no_root", BN_PLUG(bn_plug_put_root_layout, NULL));
    bn_scope(r, "/browser", "browser") {
        bn_get(r, "/page", titled);
        bn_get(r, "/unlayout", unlayout);
        bn_scope(r, "/", "app") {
            bn_get(r, "/nested", titled);
        }
        bn_scope(r, "/", "no_root") {
            bn_get(r, "/removed", titled);
        }
    }
}

static bn_endpoint ep;
static bn_test_client *t;

static void setup(void)
{
    bn_router *r = bn_router_new();
    routes(r);
    ep = (bn_endpoint){.router = r};
    t = bn_test_client_for(&ep);
    cr_assert_not_null(t, "the router has mistakes");
}

static void teardown(void)
{
    bn_test_client_free(t);
    bn_router_free(ep.router);
}

TestSuite(view, .init = setup, .fini = teardown, .timeout = 30);

static bool body_is(const bn_test_conn *r, const char *expected)
{
    return bn_str_eq(r->body, bn_str_from_cstr(expected));
}

/* ---- rendering ---------------------------------------------------------------------------- */

Test(view, render_without_layouts_escapes_assigns)
{
    bn_test_conn *r = bn_test_get(t, "/plain");
    cr_expect_eq(r->status, 200);
    cr_expect(body_is(r, "<p>Hi &lt;Ada &amp; &quot;Bob&quot;&gt;</p>"), "%.*s", BN_STR_ARG(r->body));
    cr_expect(bn_str_eq(bn_test_header(r, "content-type"), BN_STR("text/html; charset=utf-8")));
    bn_test_conn_free(r);

    r = bn_test_get(t, "/titled");
    cr_expect(body_is(r, "<p>Hi Ada</p>"), "no layout, no title anywhere: %.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);
}

Test(view, root_layout_wraps_the_page_with_its_title)
{
    bn_test_conn *r = bn_test_get(t, "/root");
    cr_expect_eq(r->status, 200);
    cr_expect(body_is(r, "<html><head><meta name=\"csrf-token\"><title>Users</title></head>"
                         "<body><p>Hi Ada</p></body></html>"),
              "no session: no csrf token; %.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);
}

Test(view, root_layout_wraps_the_app_layout_wrapping_the_page)
{
    bn_test_conn *r = bn_test_get(t, "/both");
    cr_expect_eq(r->status, 200);
    cr_expect(body_is(r, "<html><head><meta name=\"csrf-token\"><title>Bennu</title></head>"
                         "<body><main><p>Hi Ada</p></main></body></html>"),
              "a page_title that is not a string is NULL: %.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);

    r = bn_test_get(t, "/app_only");
    cr_expect(body_is(r, "<main><p>Hi Ada</p></main>"), "%.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);
}

Test(view, status_given_put_or_default)
{
    bn_test_conn *r = bn_test_get(t, "/created");
    cr_expect_eq(r->status, 201);
    cr_expect(body_is(r, "<p>Hi new</p>"));
    bn_test_conn_free(r);

    r = bn_test_get(t, "/put_status");
    cr_expect_eq(r->status, 202, "status 0 takes the status put on the conn");
    cr_expect(bn_str_eq(bn_test_header(r, "content-type"), BN_STR("text/html; charset=utf-8")));
    bn_test_conn_free(r);
}

Test(view, a_content_type_put_before_is_kept)
{
    bn_test_conn *r = bn_test_get(t, "/xml");
    cr_expect_eq(r->status, 200);
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        n += bn_str_eq_nocase(r->headers[i].name, BN_STR("content-type"));
    cr_expect_eq(n, 1u, "one content-type header");
    cr_expect(bn_str_eq(bn_test_header(r, "content-type"), BN_STR("application/xml")));
    bn_test_conn_free(r);
}

Test(view, a_render_error_is_a_500_and_is_logged)
{
    char log_path[] = "/tmp/bn-view-log-XXXXXX";
    int fd = mkstemp(log_path);
    cr_assert(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    bn_test_conn *r = bn_test_get(t, "/fails");
    dup2(saved, STDERR_FILENO);
    close(saved);

    char log[8192];
    ssize_t len = pread(fd, log, sizeof log - 1, 0);
    close(fd);
    unlink(log_path);
    log[len > 0 ? len : 0] = '\0';

    cr_expect_eq(r->status, 500);
    /* The root layout and the broken page had both written output before the error. */
    cr_expect_null(memmem(r->body.ptr, r->body.len, "csrf-token", 10), "nothing of the failed render is sent: %.*s",
                   (int)r->body.len, r->body.ptr);
    cr_expect_null(memmem(r->body.ptr, r->body.len, ">x</a>", 6), "nothing of the failed render is sent");
    cr_expect(strstr(log, "[error]") && strstr(log, "broken.html.bnx:1: unsafe URL in href"), "log: %s", log);
    bn_test_conn_free(r);
}

Test(view, the_layout_plugs_put_and_remove_layouts)
{
    bn_test_conn *r = bn_test_get(t, "/browser/page");
    cr_expect_eq(r->status, 200);
    const char *head = "<html><head><meta name=\"csrf-token\" content=\"";
    cr_assert(r->body.len > strlen(head) + BN_CSRF_TOKEN_LEN, "%.*s", BN_STR_ARG(r->body));
    cr_expect_eq(memcmp(r->body.ptr, head, strlen(head)), 0, "%.*s", BN_STR_ARG(r->body));
    const char *rest = "\"><title>Users</title></head><body><p>Hi Ada</p></body></html>";
    cr_expect(bn_str_eq(bn_str_make(r->body.ptr + strlen(head) + BN_CSRF_TOKEN_LEN,
                                    r->body.len - strlen(head) - BN_CSRF_TOKEN_LEN),
                        bn_str_from_cstr(rest)),
              "a session is fetched: the layout gets a masked CSRF token: %.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);

    r = bn_test_get(t, "/browser/nested");
    cr_expect(memmem(r->body.ptr, r->body.len, "<body><main><p>Hi Ada</p></main></body>", 39), "%.*s",
              BN_STR_ARG(r->body));
    bn_test_conn_free(r);

    r = bn_test_get(t, "/browser/removed");
    cr_expect(body_is(r, "<p>Hi Ada</p>"), "the plug with NULL removes the root layout: %.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);

    r = bn_test_get(t, "/browser/unlayout");
    cr_expect(body_is(r, "<p>Hi bare</p>"), "%.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);
}

Test(view, layout_plugs_carry_the_template_function)
{
    cr_expect_eq(layout_plugs[0].fn, bn_plug_put_root_layout);
    cr_expect_eq(layout_plugs[1].fn, bn_plug_put_layout);
    cr_expect_str_eq(layout_plugs[0].name, "bn_plug_put_root_layout");
    cr_expect(layout_plugs[0].opts == BN__FN_OPTS(root__any));
    cr_expect(layout_plugs[1].opts == BN__FN_OPTS(app__any));
}

/* ---- verified paths ---------------------------------------------------------------------- */

static void nop(bn_conn *c) { bn_conn_text(c, 200, BN_STR("")); }

static bn_router *verify_router(bn_router **sub)
{
    *sub = bn_router_new();
    bn_get(*sub, "/stats/:day", nop);
    bn_router *r = bn_router_new();
    bn_get(r, "/", nop);
    bn_get(r, "/users/new", nop);
    bn_get(r, "/users/:id", nop);
    bn_get(r, "/users/:id/edit", nop);
    bn_get(r, "/files/*path", nop);
    bn_post(r, "/login", nop);
    bn_get(r, "/posts/new", nop);
    bn_get(r, "/discount/100%25", nop);
    bn_forward(r, "/admin", *sub);
    cr_assert_eq(bn_router_build(r), 0);
    return r;
}

Test(view, every_registered_path_is_listed)
{
    size_t n;
    const bn_verified_path *const *all = bn_verified_path_list(&n);
    cr_assert_eq(n, (size_t)VERIFY_TOTAL, "the section holds exactly this file's paths (got %zu)", n);
    bool seen_user = false, seen_hand = false, seen_edit = false;
    for (size_t i = 0; i < n; i++) {
        cr_assert_not_null(all[i]);
        seen_user |= all[i] == &vp_user;
        seen_hand |= all[i] == &vp_fmt_hand;
        seen_edit |= all[i]->printf_style && strcmp(all[i]->pattern, "/users/%d/edit") == 0 &&
                     all[i]->line == fmt_edit_line && strcmp(all[i]->file, __FILE__) == 0 && all[i]->col == 0;
    }
    cr_expect(seen_user && seen_hand && seen_edit);
}

Test(view, verify_paths_reports_each_path_without_a_route)
{
    bn_router *sub, *r = verify_router(&sub);
    char *text = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&text, &len);
    int failures = bn_router_verify_paths(r, err);
    fclose(err);
    cr_expect_eq(failures, VERIFY_FAILURES, "%s", text);

    char expected[VERIFY_FAILURES][256];
    snprintf(expected[0], 256, "lib/pages.html.bnx:10:5: error: no route matches ~p\"/userz/#{}\"\n");
    snprintf(expected[1], 256, "lib/pages.html.bnx:11:5: error: no route matches ~p\"/posts/#{}\"\n");
    snprintf(expected[2], 256, "lib/pages.html.bnx:12:5: error: no route matches ~p\"users\"\n");
    snprintf(expected[3], 256, "%s:%d:0: error: no route matches BN_PATH(\"/discount/%%d%%%%\")\n", __FILE__,
             fmt_percent_line);
    snprintf(expected[4], 256, "%s:%d:0: error: no route matches BN_PATH(\"/userz/%%s?x=%%5d\")\n", __FILE__,
             fmt_userz_line);
    size_t expected_len = 0;
    for (int i = 0; i < VERIFY_FAILURES; i++) {
        cr_expect(strstr(text, expected[i]), "missing: %s in:\n%s", expected[i], text);
        expected_len += strlen(expected[i]);
    }
    cr_expect_eq(len, expected_len, "nothing else is reported:\n%s", text);
    free(text);
    bn_router_free(r);
    bn_router_free(sub);
}

Test(view, verify_paths_without_routes_fails_every_path)
{
    FILE *err = fopen("/dev/null", "w");
    cr_expect_eq(bn_router_verify_paths(NULL, err), VERIFY_TOTAL);
    bn_router *empty = bn_router_new();
    cr_assert_eq(bn_router_build(empty), 0);
    cr_expect_eq(bn_router_verify_paths(empty, err), VERIFY_TOTAL);
    fclose(err);
    bn_router_free(empty);
}

Test(view, bn_path_formats_into_the_conn_arena)
{
    bn_test_conn *r = bn_test_get(t, "/paths");
    cr_expect_eq(r->status, 200);
    cr_expect(body_is(r, "/users/42/edit /discount/100%25 /discount/5% /userz/ada?x=    3"), "%.*s",
              BN_STR_ARG(r->body));
    bn_test_conn_free(r);
}

Test(view, has_path_takes_any_value_only_at_params_and_globs)
{
    bn_router *sub, *r = verify_router(&sub);
    bn_str users_any[] = {BN_STR("users"), BN_STR_NULL};
    bn_str users_new[] = {BN_STR("users"), BN_STR("new")};
    bn_str posts_any[] = {BN_STR("posts"), BN_STR_NULL};
    bn_str posts_new[] = {BN_STR("posts"), BN_STR("new")};
    bn_str files_deep[] = {BN_STR("files"), BN_STR_NULL, BN_STR("x"), BN_STR_NULL};
    bn_str admin_any[] = {BN_STR("admin"), BN_STR("stats"), BN_STR_NULL};
    bn_str nothing[] = {BN_STR("nothing")};
    cr_expect(bn_router_has_path(r, users_any, 2));
    cr_expect(bn_router_has_path(r, users_new, 2));
    cr_expect_not(bn_router_has_path(r, posts_any, 2));
    cr_expect(bn_router_has_path(r, posts_new, 2));
    cr_expect(bn_router_has_path(r, files_deep, 4));
    cr_expect(bn_router_has_path(r, admin_any, 3));
    cr_expect(bn_router_has_path(r, NULL, 0), "\"/\"");
    cr_expect_not(bn_router_has_path(r, nothing, 1));
    bn_router_free(r);
    bn_router_free(sub);
}
