/*
 * Unit tests for the router (bennu/router.h): declaration, build errors,
 * matching rules, path helpers, the routes table and a large router.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>

#include "bennu/router.h"

/* ---- fixtures ------------------------------------------------------------ */

#define ACTION(name)                                                                                                   \
    static void name(bn_conn *c) { (void)c; }
ACTION(page_home)
ACTION(page_about)
ACTION(api_status)
ACTION(api_upload)
ACTION(file_show)
ACTION(user_new_form)
ACTION(user_by_id)
ACTION(any_method)
ACTION(dav_propfind)
ACTION(head_only)
ACTION(admin_dashboard)
ACTION(admin_user)
ACTION(deep_action)
ACTION(user_index)
ACTION(user_new)
ACTION(user_create)
ACTION(user_show)
ACTION(user_edit)
ACTION(user_update)
ACTION(user_delete)
ACTION(post_index)
ACTION(post_show)
ACTION(post_create)
ACTION(account_show)
ACTION(account_edit)

static void plug_a(bn_conn *c, const void *o) { (void)c, (void)o; }
static void plug_b(bn_conn *c, const void *o) { (void)c, (void)o; }
static void plug_c(bn_conn *c, const void *o) { (void)c, (void)o; }
static void plug_d(bn_conn *c, const void *o) { (void)c, (void)o; }
static const int opt_a = 1, opt_b = 2;

static const bn_controller users = {
    .name = "UserController",
    .index = user_index,
    .new_ = user_new,
    .create = user_create,
    .show = user_show,
    .edit = user_edit,
    .update = user_update,
    .delete_ = user_delete,
};
static const bn_controller posts = {
    .name = "MyAppWeb.PostController", .index = post_index, .show = post_show, .create = post_create};
static const bn_controller account = {.name = "AccountController", .show = account_show, .edit = account_edit};

static bn_arena arena = BN_ARENA_INIT;
static bn_router *r;

static void setup(void) { r = bn_router_new(); }
static void teardown(void)
{
    bn_router_free(r);
    bn_arena_destroy(&arena);
}
TestSuite(router, .init = setup, .fini = teardown);

static bn_method method_of(const char *m)
{
    static const char *names[] = {"", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"};
    for (size_t i = 1; i < BN_ARRAY_LEN(names); i++)
        if (strcmp(names[i], m) == 0)
            return (bn_method)i;
    return BN_METHOD_OTHER;
}

static bn_route_match match(const char *method, const char *path)
{
    return bn_router_match(r, method_of(method), bn_str_from_cstr(method), bn_str_from_cstr(path), &arena);
}

static const char *param(bn_route_match m, const char *name)
{
    const bn_value *v = bn_value_get(m.params, name);
    cr_assert_not_null(v, "no param %s", name);
    return bn_value_str(v).ptr;
}

/* Asserts that `method path` reaches `action`, and returns the match. */
static bn_route_match assert_routes(const char *method, const char *path, bn_action *action)
{
    bn_route_match m = match(method, path);
    cr_assert_eq(m.status, 0, "%s %s: status %d", method, path, m.status);
    cr_assert_eq(m.route->action, action, "%s %s: got %s", method, path, m.route->action_name);
    return m;
}

static void build_ok(void)
{
    int rc = bn_router_build(r);
    cr_assert_eq(rc, 0, "build failed:\n%s", bn_router_errors(r) ? bn_router_errors(r) : "");
}

/* ---- verbs ----------------------------------------------------------------- */

Test(router, every_verb_routes_its_method_only)
{
    bn_get(r, "/v", page_home);
    bn_post(r, "/v", page_about);
    bn_put(r, "/v", api_status);
    bn_patch(r, "/v", api_upload);
    bn_delete(r, "/v", file_show);
    bn_options(r, "/v", user_new_form);
    bn_head(r, "/v", head_only);
    build_ok();
    assert_routes("GET", "/v", page_home);
    assert_routes("POST", "/v", page_about);
    assert_routes("PUT", "/v", api_status);
    assert_routes("PATCH", "/v", api_upload);
    assert_routes("DELETE", "/v", file_show);
    assert_routes("OPTIONS", "/v", user_new_form);
    assert_routes("HEAD", "/v", head_only);
    bn_route_match m = match("TRACE", "/v");
    cr_assert_eq(m.status, 405);
    cr_assert_str_eq(m.allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
}

Test(router, route_fields_describe_the_declaration)
{
    int line = __LINE__; bn_get(r, "/about", page_about);
    build_ok();
    const bn_route *rt = assert_routes("GET", "/about", page_about).route;
    cr_assert_str_eq(rt->method, "GET");
    cr_assert_eq(rt->method_id, BN_METHOD_GET);
    cr_assert_str_eq(rt->path, "/about");
    cr_assert_str_eq(rt->action_name, "page_about");
    cr_assert_null(rt->controller);
    cr_assert_str_eq(rt->name, "page_about");
    cr_assert_str_eq(rt->file, __FILE__);
    cr_assert_eq(rt->line, line);
    cr_assert_eq(rt->nparams, 0);
    cr_assert_eq(bn_value_len(match("GET", "/about").params), 0);
}

/* A route can carry data for its action (what bn_live routes hold: their view). */
Test(router, a_route_carries_the_data_it_was_declared_with)
{
    static const int view = 42;
    bn__route_data(r, __FILE__, __LINE__, "GET", "/counter", page_about, "live", true, NULL, &view);
    bn_get(r, "/about", page_about);
    build_ok();
    const bn_route *rt = assert_routes("GET", "/counter", page_about).route;
    cr_assert_eq(rt->data, &view);
    cr_assert_null(rt->name, "no route name unless one is given");
    cr_assert_null(assert_routes("GET", "/about", page_about).route->data);
}

Test(router, match_lists_methods_custom_methods_and_any)
{
    bn_match(r, "GET|POST", "/form", page_home);
    bn_match(r, "PROPFIND", "/dav", dav_propfind);
    bn_match(r, "*", "/any", any_method);
    bn_get(r, "/any", page_about);
    build_ok();
    assert_routes("GET", "/form", page_home);
    assert_routes("POST", "/form", page_home);
    cr_assert_eq(match("PUT", "/form").status, 405);
    bn_route_match m = assert_routes("PROPFIND", "/dav", dav_propfind);
    cr_assert_eq(m.route->method_id, BN_METHOD_OTHER);
    cr_assert_eq(match("GET", "/dav").status, 405);
    cr_assert_str_eq(match("GET", "/dav").allow, "PROPFIND");
    cr_assert_eq(match("MKCOL", "/form").status, 405);
    /* "*" takes every method, after an exact route of the same path. */
    assert_routes("DELETE", "/any", any_method);
    assert_routes("MKCOL", "/any", any_method);
    assert_routes("GET", "/any", page_about);
    assert_routes("HEAD", "/any", page_about);
}

Test(router, route_names_default_to_the_action_and_can_be_set)
{
    bn_get(r, "/", page_home);
    bn_get_as(r, "/about", page_about, "about");
    bn_post_as(r, "/status", api_status, NULL);
    bn_get(r, "/u", &user_show); /* an address: the name is still the identifier */
    build_ok();
    cr_assert_str_eq(match("GET", "/").route->name, "page_home");
    cr_assert_str_eq(match("GET", "/about").route->name, "about");
    cr_assert_null(match("POST", "/status").route->name);
    cr_assert_str_eq(match("GET", "/u").route->name, "user_show");
    cr_assert_str_eq(match("GET", "/u").route->action_name, "user_show");
}

/* ---- scopes and pipelines -------------------------------------------------- */

Test(router, scopes_nest_prefixes_and_flatten_pipelines_outer_first)
{
    bn_pipeline(r, "browser", BN_PLUG(plug_a, &opt_a), BN_PLUG(plug_b, NULL));
    bn_pipeline(r, "auth", BN_PLUG(plug_c, &opt_b));
    bn_pipeline(r, "admin", BN_PLUG(plug_d, NULL));
    bn_get(r, "/top", page_home);
    bn_scope(r, "/", "browser") {
        bn_get(r, "/about", page_about);
        bn_scope(r, "/admin/", "auth", "admin") {
            bn_get(r, "/", admin_dashboard);
            bn_scope(r, "/deep") {
                bn_get(r, "/x", deep_action);
            }
        }
        bn_get(r, "/after", api_status);
    }
    build_ok();

    size_t n = 99;
    bn_route_plugs(assert_routes("GET", "/top", page_home).route, &n);
    cr_assert_eq(n, 0);

    const bn_route *about = assert_routes("GET", "/about", page_about).route;
    cr_assert_eq(about->nplugs, 2);
    cr_assert_eq(about->plugs[0].fn, plug_a);
    cr_assert_eq(about->plugs[0].opts, &opt_a);
    cr_assert_str_eq(about->plugs[0].name, "plug_a");
    cr_assert_eq(about->plugs[1].fn, plug_b);

    const bn_route *admin = assert_routes("GET", "/admin", admin_dashboard).route;
    cr_assert_str_eq(admin->path, "/admin");
    cr_assert_eq(admin->nplugs, 4);
    cr_assert_eq(admin->plugs[0].fn, plug_a);
    cr_assert_eq(admin->plugs[1].fn, plug_b);
    cr_assert_eq(admin->plugs[2].fn, plug_c);
    cr_assert_eq(admin->plugs[2].opts, &opt_b);
    cr_assert_eq(admin->plugs[3].fn, plug_d);

    const bn_route *deep = assert_routes("GET", "/admin/deep/x", deep_action).route;
    cr_assert_eq(deep->nplugs, 4);
    cr_assert_eq(deep->plugs[3].fn, plug_d);

    /* Leaving a scope restores the outer prefix and pipelines. */
    const bn_route *after = assert_routes("GET", "/after", api_status).route;
    cr_assert_eq(after->nplugs, 2);
    cr_assert_eq(match("GET", "/deep/x").status, 404);
}

Test(router, pipelines_may_be_declared_after_the_scopes_using_them)
{
    bn_scope(r, "/api", "api") {
        bn_get(r, "/status", api_status);
    }
    bn_pipeline(r, "api", BN_PLUG(plug_c, NULL));
    build_ok();
    const bn_route *rt = assert_routes("GET", "/api/status", api_status).route;
    cr_assert_eq(rt->nplugs, 1);
    cr_assert_eq(rt->plugs[0].fn, plug_c);
}

/* ---- resources ------------------------------------------------------------- */

Test(router, resources_declare_the_seven_rest_actions)
{
    bn_resources(r, "/users", &users);
    build_ok();
    struct {
        const char *method, *path;
        bn_action *action;
        const char *action_name, *id;
    } cases[] = {
        {"GET", "/users", user_index, "index", NULL},        {"GET", "/users/new", user_new, "new", NULL},
        {"POST", "/users", user_create, "create", NULL},     {"GET", "/users/42", user_show, "show", "42"},
        {"GET", "/users/42/edit", user_edit, "edit", "42"},  {"PATCH", "/users/42", user_update, "update", "42"},
        {"PUT", "/users/42", user_update, "update", "42"},   {"DELETE", "/users/42", user_delete, "delete", "42"},
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(cases); i++) {
        bn_route_match m = assert_routes(cases[i].method, cases[i].path, cases[i].action);
        cr_assert_str_eq(m.route->action_name, cases[i].action_name);
        cr_assert_str_eq(m.route->controller, "UserController");
        cr_assert_str_eq(m.route->name, "user");
        if (cases[i].id)
            cr_assert_str_eq(param(m, "id"), cases[i].id);
    }
    size_t n;
    bn_router_routes(r, &n);
    cr_assert_eq(n, 8);
    cr_assert_eq(match("POST", "/users/42").status, 405);
    cr_assert_str_eq(match("POST", "/users/42").allow, "GET, HEAD, PUT, PATCH, DELETE");
}

Test(router, resources_only_except_and_missing_actions)
{
    bn_resources(r, "/users", &users, BN_ONLY("index", "show"));
    bn_resources(r, "/people", &users, BN_EXCEPT("delete", "new", "edit"));
    bn_resources(r, "/posts", &posts); /* no edit/update/...: no routes for them */
    build_ok();
    assert_routes("GET", "/users", user_index);
    assert_routes("GET", "/users/1", user_show);
    cr_assert_eq(match("POST", "/users").status, 405);
    cr_assert_eq(match("GET", "/users/1/edit").status, 404);
    /* Without a "new" route, /users/new is just a show. */
    cr_assert_str_eq(param(assert_routes("GET", "/users/new", user_show), "id"), "new");

    assert_routes("GET", "/people", user_index);
    assert_routes("POST", "/people", user_create);
    assert_routes("PUT", "/people/1", user_update);
    cr_assert_eq(match("DELETE", "/people/1").status, 405);
    cr_assert_eq(match("GET", "/people/1/edit").status, 404);

    assert_routes("GET", "/posts", post_index);
    assert_routes("POST", "/posts", post_create);
    assert_routes("GET", "/posts/9", post_show);
    cr_assert_str_eq(match("GET", "/posts").route->name, "post");
    cr_assert_eq(match("DELETE", "/posts/9").status, 405);
    size_t n;
    bn_router_routes(r, &n);
    cr_assert_eq(n, 2 + 5 + 3); /* people: index, create, show, update (PATCH and PUT) */
}

Test(router, nested_resources_use_a_named_parent_param)
{
    bn_pipeline(r, "browser", BN_PLUG(plug_a, NULL));
    bn_scope(r, "/", "browser") {
        bn_resources(r, "/users", &users) {
            bn_resources(r, "/posts", &posts);
            bn_get(r, "/export", api_status);
        }
    }
    build_ok();
    bn_route_match m = assert_routes("GET", "/users/7/posts/3", post_show);
    cr_assert_str_eq(m.route->path, "/users/:user_id/posts/:id");
    cr_assert_str_eq(m.route->name, "user_post");
    cr_assert_str_eq(param(m, "user_id"), "7");
    cr_assert_str_eq(param(m, "id"), "3");
    cr_assert_eq(m.route->nplugs, 1);
    cr_assert_str_eq(m.route->params[0], "user_id");
    cr_assert_str_eq(m.route->params[1], "id");
    m = assert_routes("GET", "/users/7/export", api_status);
    cr_assert_str_eq(m.route->name, "user_api_status");
    cr_assert_str_eq(param(m, "user_id"), "7");
    assert_routes("GET", "/users/7", user_show);
    assert_routes("POST", "/users/7/posts", post_create);
}

Test(router, singleton_and_named_resources)
{
    bn_resources(r, "/account", &account, ((bn_resource_opts){.singleton = true}));
    bn_resources(r, "/members", &users, ((bn_resource_opts){.as = "member", .only = BN_PARAMS("show")})) {
        bn_resources(r, "/posts", &posts, BN_ONLY("index"));
    }
    build_ok();
    bn_route_match m = assert_routes("GET", "/account", account_show);
    cr_assert_str_eq(m.route->name, "account");
    assert_routes("GET", "/account/edit", account_edit);
    cr_assert_eq(match("GET", "/account/1").status, 404);
    m = assert_routes("GET", "/members/5", user_show);
    cr_assert_str_eq(m.route->name, "member");
    m = assert_routes("GET", "/members/5/posts", post_index);
    cr_assert_str_eq(m.route->name, "member_post");
    cr_assert_str_eq(param(m, "member_id"), "5");
}

/* ---- params, globs, precedence, slashes ------------------------------------ */

Test(router, params_and_globs_are_captured_and_decoded)
{
    bn_get(r, "/users/:id", user_by_id);
    bn_get(r, "/files/*path", file_show);
    bn_get(r, "/in/:dir/*rest", api_upload);
    build_ok();
    bn_route_match m = assert_routes("GET", "/users/a%20b%2Fc%C3%A9", user_by_id);
    cr_assert_str_eq(param(m, "id"), "a b/c\xc3\xa9");
    cr_assert_eq(bn_value_str(bn_value_get(m.params, "id")).len, 7);
    m = assert_routes("GET", "/users/plus+stays", user_by_id);
    cr_assert_str_eq(param(m, "id"), "plus+stays");

    m = assert_routes("GET", "/files/a/b%20c/d.txt", file_show);
    cr_assert_str_eq(param(m, "path"), "a/b c/d.txt");
    m = assert_routes("GET", "/files/a//b/", file_show);
    cr_assert_str_eq(param(m, "path"), "a/b");
    m = assert_routes("GET", "/files", file_show); /* zero segments */
    cr_assert_str_eq(param(m, "path"), "");
    m = assert_routes("GET", "/in/x/1/2", api_upload);
    cr_assert_str_eq(param(m, "dir"), "x");
    cr_assert_str_eq(param(m, "rest"), "1/2");
}

Test(router, malformed_escapes_are_400)
{
    bn_get(r, "/users/:id", user_by_id);
    bn_get(r, "/files/*path", file_show);
    build_ok();
    const char *bad[] = {"/users/%", "/users/%4", "/users/%zz", "/users/a%00b", "/files/ok/%g1", "/files/x%"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++) {
        bn_route_match m = match("GET", bad[i]);
        cr_assert_eq(m.status, 400, "%s: %d", bad[i], m.status);
        cr_assert_null(m.params);
    }
    /* Static segments are not decoded: an escape there is just another segment. */
    cr_assert_eq(match("GET", "/user%73/1").status, 404);
}

Test(router, static_beats_param_beats_glob_whatever_the_order)
{
    bn_get(r, "/x/*rest", file_show);
    bn_get(r, "/x/:id", user_by_id);
    bn_get(r, "/x/new", user_new_form);
    bn_get(r, "/x/:id/edit", user_edit);
    bn_get(r, "/x/new/edit", page_about);
    build_ok();
    assert_routes("GET", "/x/new", user_new_form);
    assert_routes("GET", "/x/7", user_by_id);
    assert_routes("GET", "/x/7/edit", user_edit);
    assert_routes("GET", "/x/new/edit", page_about);
    /* Backtracking: "new" has no "other" child, so the glob takes it. */
    cr_assert_str_eq(param(assert_routes("GET", "/x/new/other", file_show), "rest"), "new/other");
    cr_assert_str_eq(param(assert_routes("GET", "/x/7/8/9", file_show), "rest"), "7/8/9");
}

Test(router, a_more_specific_branch_without_the_method_falls_back)
{
    bn_get(r, "/users/new", user_new_form);
    bn_patch(r, "/users/:id", user_update);
    build_ok();
    bn_route_match m = assert_routes("PATCH", "/users/new", user_update);
    cr_assert_str_eq(param(m, "id"), "new");
    cr_assert_eq(match("DELETE", "/users/new").status, 405);
    /* The Allow header is the union of every node the path reaches. */
    cr_assert_str_eq(match("DELETE", "/users/new").allow, "GET, HEAD, PATCH");
    cr_assert_str_eq(match("DELETE", "/users/9").allow, "PATCH");
}

Test(router, trailing_and_repeated_slashes_do_not_matter)
{
    bn_get(r, "/", page_home);
    bn_get(r, "/users/", user_index);
    bn_get(r, "//a//b//", page_about);
    build_ok();
    assert_routes("GET", "/", page_home);
    assert_routes("GET", "", page_home);
    assert_routes("GET", "//", page_home);
    assert_routes("GET", "/users", user_index);
    assert_routes("GET", "/users/", user_index);
    assert_routes("GET", "//users//", user_index);
    cr_assert_str_eq(assert_routes("GET", "/a/b", page_about).route->path, "/a/b");
}

/* ---- 404, 405, HEAD ---------------------------------------------------------- */

Test(router, not_found_and_method_not_allowed)
{
    bn_get(r, "/r", page_home);
    bn_post(r, "/r", page_about);
    bn_delete(r, "/r", api_status);
    bn_match(r, "PROPFIND|MKCOL", "/r", dav_propfind);
    bn_get(r, "/users/:id", user_by_id);
    build_ok();
    bn_route_match m = match("GET", "/nope");
    cr_assert_eq(m.status, 404);
    cr_assert_null(m.route);
    cr_assert_null(m.allow);
    cr_assert_eq(match("GET", "/users").status, 404); /* an inner node without routes */
    cr_assert_eq(match("GET", "/users/1/2").status, 404);
    m = match("PUT", "/r");
    cr_assert_eq(m.status, 405);
    cr_assert_null(m.route);
    cr_assert_str_eq(m.allow, "GET, HEAD, POST, DELETE, PROPFIND, MKCOL");
    cr_assert_str_eq(match("POST", "/users/1").allow, "GET, HEAD");
}

Test(router, head_uses_get_unless_declared)
{
    bn_get(r, "/g", page_home);
    bn_get(r, "/h", page_home);
    bn_head(r, "/h", head_only);
    bn_post(r, "/p", page_about);
    build_ok();
    assert_routes("HEAD", "/g", page_home);
    assert_routes("HEAD", "/h", head_only);
    assert_routes("GET", "/h", page_home);
    bn_route_match m = match("HEAD", "/p");
    cr_assert_eq(m.status, 405);
    cr_assert_str_eq(m.allow, "POST");
}

/* ---- forward ------------------------------------------------------------------- */

Test(router, forward_hands_the_rest_of_the_path_to_a_sub_router)
{
    bn_router *admin = bn_router_new();
    bn_pipeline(admin, "admin_only", BN_PLUG(plug_c, NULL), BN_PLUG(plug_d, NULL));
    bn_scope(admin, "/", "admin_only") {
        bn_get(admin, "/", admin_dashboard);
        bn_get(admin, "/users/:id", admin_user);
    }
    bn_pipeline(r, "browser", BN_PLUG(plug_a, NULL), BN_PLUG(plug_b, NULL));
    bn_get(r, "/", page_home);
    bn_scope(r, "/", "browser") {
        bn_forward(r, "/admin", admin);
    }
    build_ok();
    bn_route_match m = assert_routes("GET", "/admin", admin_dashboard);
    cr_assert_str_eq(m.route->path, "/admin");
    cr_assert_eq(m.route->nplugs, 4);
    cr_assert_eq(m.route->plugs[0].fn, plug_a);
    cr_assert_eq(m.route->plugs[1].fn, plug_b);
    cr_assert_eq(m.route->plugs[2].fn, plug_c);
    cr_assert_eq(m.route->plugs[3].fn, plug_d);
    m = assert_routes("GET", "/admin/users/5", admin_user);
    cr_assert_str_eq(param(m, "id"), "5");
    cr_assert_str_eq(m.route->path, "/admin/users/:id");
    assert_routes("GET", "/", page_home);
    cr_assert_eq(match("GET", "/users/5").status, 404);
    cr_assert_str_eq(bn_router_path(r, &arena, "admin_user", NULL, BN_PARAMS("5")), "/admin/users/5");

    /* The sub-router still works on its own, without the prefix. */
    cr_assert_eq(bn_router_build(admin), 0);
    bn_route_match own = bn_router_match(admin, BN_METHOD_GET, BN_STR("GET"), BN_STR("/users/5"), &arena);
    cr_assert_eq(own.status, 0);
    cr_assert_eq(own.route->nplugs, 2);
    bn_router_free(admin);
}

Test(router, forwards_nest)
{
    bn_router *inner = bn_router_new(), *middle = bn_router_new();
    bn_get(inner, "/leaf/*rest", deep_action);
    bn_forward(middle, "/in", inner);
    bn_forward(r, "/mid", middle);
    build_ok();
    bn_route_match m = assert_routes("GET", "/mid/in/leaf/a/b", deep_action);
    cr_assert_str_eq(param(m, "rest"), "a/b");
    bn_router_free(middle);
    bn_router_free(inner);
}

/* ---- path helpers --------------------------------------------------------------- */

Test(router, path_helpers_fill_and_encode_params)
{
    bn_get_as(r, "/", page_home, "home");
    bn_resources(r, "/users", &users) {
        bn_resources(r, "/posts", &posts);
    }
    bn_get_as(r, "/files/*path", file_show, "file");
    build_ok();
    cr_assert_str_eq(bn_router_path(r, &arena, "home", NULL, NULL), "/");
    cr_assert_str_eq(bn_router_path(r, &arena, "home_path", NULL, NULL), "/");
    cr_assert_str_eq(bn_router_path(r, &arena, "user", "index", NULL), "/users");
    cr_assert_str_eq(bn_router_path(r, &arena, "user_path", "new", NULL), "/users/new");
    cr_assert_str_eq(bn_router_path(r, &arena, "user", "edit", BN_PARAMS("42")), "/users/42/edit");
    cr_assert_str_eq(bn_router_path(r, &arena, "user", "show", BN_PARAMS("a b/c?&é")),
                     "/users/a%20b%2Fc%3F%26%C3%A9");
    cr_assert_str_eq(bn_router_path(r, &arena, "user_post", "show", BN_PARAMS("1", "2")), "/users/1/posts/2");
    cr_assert_str_eq(bn_router_path(r, &arena, "file", NULL, BN_PARAMS("a b/c.txt")), "/files/a%20b/c.txt");

    /* What the helper builds, the router matches back to the same values. */
    const char *p = bn_router_path(r, &arena, "user_post", "show", BN_PARAMS("x/y", "100%"));
    bn_route_match m = assert_routes("GET", p, post_show);
    cr_assert_str_eq(param(m, "user_id"), "x/y");
    cr_assert_str_eq(param(m, "id"), "100%");
}

Test(router, path_helpers_refuse_what_does_not_fit)
{
    cr_redirect_stderr();
    bn_resources(r, "/users", &users);
    build_ok();
    cr_assert_null(bn_router_path(r, &arena, "user", "edit", NULL));
    cr_assert_null(bn_router_path(r, &arena, "user", "index", BN_PARAMS("1")));
    cr_assert_null(bn_router_path(r, &arena, "user", "show", BN_PARAMS("1", "2")));
    cr_assert_null(bn_router_path(r, &arena, "user", "show", BN_PARAMS("")));
    cr_assert_null(bn_router_path(r, &arena, "nobody", NULL, NULL));
    cr_assert_null(bn_router_path(r, &arena, "user", "publish", NULL));
    /* Without an action, a name whose routes differ in path is ambiguous. */
    cr_assert_null(bn_router_path(r, &arena, "user", NULL, BN_PARAMS("3")));
}

/* ---- build errors ----------------------------------------------------------------- */

static char *expect_line(int line, const char *msg)
{
    return bn_arena_printf(&arena, "%s:%d: %s\n", __FILE__, line, msg);
}

static void assert_error(const char *text, int line, const char *msg)
{
    const char *want = expect_line(line, msg);
    cr_assert_not_null(text);
    cr_assert_not_null(strstr(text, want), "expected\n  %s\nin\n%s", want, text);
}

static const char *build_fails(void)
{
    cr_assert_eq(bn_router_build(r), -1);
    const char *errors = bn_router_errors(r);
    cr_assert_not_null(errors);
    return errors;
}

Test(router, declaration_mistakes_are_all_reported_with_file_and_line)
{
    cr_redirect_stderr();
    int l1 = __LINE__; bn_get(r, "/files/*path/more", file_show);
    int l2 = __LINE__; bn_get(r, "/users/:", user_show);
    int l3 = __LINE__; bn_get(r, "/users/:user-id", user_show);
    int l4 = __LINE__; bn_get(r, "/a/:id/b/:id", user_show);
    int l5 = __LINE__; bn_get(r, "users", user_show);
    int l6 = __LINE__; bn_get(r, "/null", (bn_action *)NULL);
    int l7 = __LINE__; bn_match(r, "GET|get", "/m", page_home);
    int l8 = __LINE__; bn_get(r, "/q?x", page_home);
    bn_get(r, "/fine", page_home); /* still declared: mistakes are collected, not fatal */
    const char *e = build_fails();
    assert_error(e, l1, "glob \"*path\" must be the last segment of \"/files/*path/more\"");
    assert_error(e, l2, "empty param name in \"/users/:\"");
    assert_error(e, l3, "invalid param name \":user-id\" in \"/users/:user-id\"");
    assert_error(e, l4, "param \"id\" appears twice in \"/a/:id/b/:id\"");
    assert_error(e, l5, "route path \"users\" must start with '/'");
    assert_error(e, l6, "route \"/null\" has no action");
    assert_error(e, l7, "invalid method \"get\" in \"GET|get\"");
    assert_error(e, l8, "invalid character '?' in \"/q?x\"");
    /* A failed router matches nothing. */
    cr_assert_eq(match("GET", "/fine").status, 404);
    cr_assert_eq(bn_router_build(r), -1);
}

Test(router, duplicate_routes_are_errors)
{
    cr_redirect_stderr();
    int first = __LINE__; bn_get(r, "/users/:id", user_show);
    int second = __LINE__; bn_get(r, "/users/:uid", user_by_id);
    bn_post(r, "/users/:uid", user_by_id); /* another method: fine */
    int third = __LINE__; bn_match(r, "*", "/any", any_method);
    int fourth = __LINE__; bn_match(r, "*", "/any/", any_method);
    const char *e = build_fails();
    char *msg = bn_arena_printf(&arena, "duplicate route GET /users/:uid: same as GET /users/:id at %s:%d", __FILE__,
                                first);
    assert_error(e, second, msg);
    msg = bn_arena_printf(&arena, "duplicate route * /any: same as * /any at %s:%d", __FILE__, third);
    assert_error(e, fourth, msg);
}

Test(router, pipeline_mistakes)
{
    cr_redirect_stderr();
    int l1 = __LINE__; bn_pipeline(r, "api", BN_PLUG(plug_a, NULL));
    int l2 = __LINE__; bn_pipeline(r, "api", BN_PLUG(plug_b, NULL));
    int l3 = __LINE__; bn_pipeline(r, "nofn", ((bn_plug){NULL, NULL, "x"}));
    int l4 = __LINE__; bn_scope(r, "/x", "api", "brwoser") {
        bn_get(r, "/y", page_home);
        bn_get(r, "/z", page_about); /* reported once per scope, not per route */
    }
    int l5 = __LINE__; bn_scope(r, "nope") {}
    const char *e = build_fails();
    assert_error(e, l2, bn_arena_printf(&arena, "pipeline \"api\" is already defined at %s:%d", __FILE__, l1));
    assert_error(e, l3, "pipeline \"nofn\": plug 1 has no function");
    assert_error(e, l4, "unknown pipeline \"brwoser\"");
    assert_error(e, l5, "scope path \"nope\" must start with '/'");
    const char *once = strstr(e, "brwoser");
    cr_assert_null(strstr(once + 1, "brwoser"));
}

Test(router, resources_mistakes)
{
    cr_redirect_stderr();
    static const bn_controller nameless = {.index = user_index};
    int l1 = __LINE__; bn_resources(r, "/a", &users, BN_ONLY("index", "shw"));
    int l2 = __LINE__; bn_resources(r, "/b", &posts, BN_ONLY("edit"));
    int l3 = __LINE__; bn_resources(r, "/c", &users, ((bn_resource_opts){.only = BN_PARAMS("index"), .except = BN_PARAMS("new")}));
    int l4 = __LINE__; bn_resources(r, "/d", &nameless);
    int l5 = __LINE__; bn_resources(r, "/e", (const bn_controller *)NULL) {
        bn_get(r, "/inside", page_home); /* the block still works: routed under /inside */
    }
    int l6 = __LINE__; bn_resources(r, "/f", &users, BN_EXCEPT("destroy"));
    const char *e = build_fails();
    assert_error(e, l1, "unknown action \"shw\" in only (index, new, create, show, edit, update, delete)");
    assert_error(e, l2, "only lists \"edit\" but MyAppWeb.PostController has no edit action");
    assert_error(e, l3, "resources \"/c\": give only or except, not both");
    assert_error(e, l4, "resources \"/d\": cannot derive a name from controller \"(null)\"; set .as");
    assert_error(e, l5, "resources \"/e\" has no controller");
    assert_error(e, l6, "unknown action \"destroy\" in except (index, new, create, show, edit, update, delete)");
}

Test(router, forward_mistakes)
{
    cr_redirect_stderr();
    bn_router *a = bn_router_new(), *b = bn_router_new();
    int l1 = __LINE__; bn_forward(r, "/self", r);
    int l2 = __LINE__; bn_forward(r, "/none", (bn_router *)NULL);
    int l3 = __LINE__; bn_forward(r, "/x/:id", a);
    int l4 = __LINE__; bn_forward(a, "/b", b);
    int l5 = __LINE__; bn_forward(b, "/a", a);
    bn_forward(r, "/a", a);
    const char *e = build_fails();
    assert_error(e, l1, "forward \"/self\" to the router itself");
    assert_error(e, l2, "forward \"/none\" to a NULL router");
    assert_error(e, l3, "forward prefix \"/x/:id\" cannot have params");
    (void)l4;
    assert_error(e, l5, "forward \"/a\" makes a cycle of routers");
    bn_router_free(a);
    bn_router_free(b);
}

static void leave_early(bn_router *rr)
{
    bn_scope(rr, "/s") {
        bn_get(rr, "/x", page_home);
        return; /* the mistake under test */
    }
}

Test(router, an_unclosed_block_is_reported)
{
    cr_redirect_stderr();
    leave_early(r);
    const char *e = build_fails();
    cr_assert_not_null(strstr(e, "block never closed (break or return inside bn_scope/bn_resources?)"), "%s", e);
}

Test(router, declarations_after_build_are_ignored)
{
    cr_redirect_stderr();
    bn_get(r, "/a", page_home);
    build_ok();
    bn_get(r, "/b", page_about);
    bn_scope(r, "/s") {
        bn_get(r, "/c", page_about);
    }
    cr_assert_eq(match("GET", "/b").status, 404);
    cr_assert_eq(match("GET", "/s/c").status, 404);
    assert_routes("GET", "/a", page_home);
}

/* ---- routes table ------------------------------------------------------------------ */

Test(router, print_writes_an_aligned_routes_table)
{
    bn_get_as(r, "/", page_home, "page");
    bn_resources(r, "/users", &users, BN_ONLY("index", "edit", "update"));
    bn_scope(r, "/api") {
        bn_get(r, "/status", api_status);
        bn_post_as(r, "/files/*path", api_upload, NULL);
    }
    build_ok();
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    bn_router_print(r, out);
    fclose(out);
    /* The path column is as wide as the longest path. */
    const char *exact =
        "        page_path  GET    /                 page_home\n"
        "        user_path  GET    /users            UserController :index\n"
        "        user_path  GET    /users/:id/edit   UserController :edit\n"
        "        user_path  PATCH  /users/:id        UserController :update\n"
        "        user_path  PUT    /users/:id        UserController :update\n"
        "  api_status_path  GET    /api/status       api_status\n"
        "                   POST   /api/files/*path  api_upload\n";
    cr_assert_str_eq(text, exact);
    free(text);
}

/* ---- scale and speed ----------------------------------------------------------------- */

Test(router, ten_thousand_routes_match_correctly)
{
    enum { N = 10000 };
    static bn_action *const actions[] = {page_home, page_about, api_status, api_upload};
    for (int i = 0; i < N; i++) {
        char path[64];
        switch (i % 4) {
        case 0: snprintf(path, sizeof(path), "/r%d", i); break;
        case 1: snprintf(path, sizeof(path), "/r%d/:id", i); break;
        case 2: snprintf(path, sizeof(path), "/g%d/items/:item/*rest", i % 100); break;
        default: snprintf(path, sizeof(path), "/s/%d/x", i); break;
        }
        if (i % 4 == 2 && i >= 100) /* one glob route per prefix, the others would be duplicates */
            continue;
        bn_match_as(r, i % 8 == 3 ? "POST" : "GET", path, actions[i % 4], NULL);
    }
    build_ok();
    for (int i = 0; i < N; i++) {
        char path[64];
        const char *method = i % 8 == 3 ? "POST" : "GET";
        switch (i % 4) {
        case 0: snprintf(path, sizeof(path), "/r%d", i); break;
        case 1: snprintf(path, sizeof(path), "/r%d/v%d", i, i); break;
        case 2: snprintf(path, sizeof(path), "/g%d/items/it/a/%d", i % 100, i); break;
        default: snprintf(path, sizeof(path), "/s/%d/x", i); break;
        }
        bn_route_match m = match(method, path);
        cr_assert_eq(m.status, 0, "%s %s: %d", method, path, m.status);
        cr_assert_eq(m.route->action, actions[i % 4], "%s", path);
        if (i % 4 == 1) {
            char want[32];
            snprintf(want, sizeof(want), "v%d", i);
            cr_assert_str_eq(param(m, "id"), want);
        }
        if (i % 4 == 2)
            cr_assert_str_eq(param(m, "rest"), strrchr(path, 'a'));
        if (i % 100 == 0)
            bn_arena_reset(&arena);
    }
    cr_assert_eq(match("GET", "/r10001").status, 404);
    cr_assert_eq(match("GET", "/s/3/x").status, 405);
}
