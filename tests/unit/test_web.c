/*
 * The web layer end to end, in-process: an endpoint with plugs, a router with
 * pipelines, params of every kind, cookies, assigns, halting, redirects and
 * the error views, all driven through bn_test_client.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

#include <bennu.h>

/* ---- the app under test ------------------------------------------------------- */

static void put_user(bn_conn *c, const void *opts)
{
    (void)opts;
    bn_str token = bn_conn_req_cookie(c, "token");
    if (token.ptr && bn_str_eq(token, BN_STR("letmein")))
        bn_conn_assign(c, "user", bn_value_string(bn_conn_arena(c), BN_STR("ada")));
}

static void require_user(bn_conn *c, const void *opts)
{
    (void)opts;
    if (!bn_conn_assigned(c, "user")) {
        bn_conn_redirect(c, "/login");
        bn_conn_halt(c);
    }
}

static void page_home(bn_conn *c) { bn_conn_html(c, 200, BN_STR("<h1>home</h1>")); }

static void login(bn_conn *c)
{
    bn_conn_put_resp_cookie(c, "token", BN_STR("letmein"), NULL);
    bn_conn_redirect(c, "/dashboard");
}

static void dashboard(bn_conn *c)
{
    bn_str user = bn_value_str(bn_conn_assigned(c, "user"));
    bn_conn_text(c, 200, user);
}

static void user_show(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "id", bn_value_string(a, bn_conn_param(c, "id")));
    bn_value_set(a, v, "q", bn_value_string(a, bn_conn_param(c, "q")));
    bn_conn_json(c, 200, v);
}

static void user_create(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    bn_str name = bn_conn_param(c, "user.name");
    if (!name.ptr)
        bn_raise(c, 422, "user.name is required");
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "name", bn_value_string(a, name));
    bn_value_set(a, v, "tags", (bn_value *)bn_value_path(bn_conn_params(c), "user.tags"));
    bn_conn_json(c, 201, v);
}

static void upload(bn_conn *c)
{
    const bn_value *f = bn_value_get(bn_conn_params(c), "file");
    bn_str path = bn_value_str(bn_value_get(f, "path"));
    cr_assert(path.ptr, "the upload has a temporary file");
    FILE *fp = fopen(path.ptr, "r");
    cr_assert(fp);
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    bn_conn_put_resp_header(c, BN_STR("x-temp-path"), path);
    bn_conn_text(c, 200, bn_str_make(buf, n));
}

static void segments(bn_conn *c)
{
    size_t n;
    const bn_str *segs = bn_conn_path_segments(c, &n);
    bn_buf out = BN_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        bn_buf_printf(&out, "[%.*s]", BN_STR_ARG(segs[i]));
    bn_conn_put_resp_header(c, BN_STR("x-first"), BN_STR("1"));
    bn_str first = bn_conn_resp_header(c, BN_STR("X-First"));
    bn_buf_printf(&out, " %.*s", BN_STR_ARG(first));
    bn_conn_text(c, 200, bn_str_make(out.data, out.len));
    bn_buf_free(&out);
}

/* The users controller's action fallback: its errors come back in its own shape. */
static void users_fallback(bn_conn *c, int status, const char *message)
{
    bn_arena *a = bn_conn_arena(c);
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "error", bn_value_string(a, bn_str_from_cstr(message ? message : "")));
    bn_conn_json(c, status, v);
}

static const bn_controller users = {
    .name = "UserController", .show = user_show, .create = user_create, .fallback = users_fallback};

static void boom(bn_conn *c)
{
    bn_conn_params(c);
    bn_raise(c, 500, "boom");
}

static const char *const api_formats[] = {"json", NULL};
static const char *const page_formats[] = {"html", "json", NULL};

static void negotiated(bn_conn *c) { bn_conn_text(c, 200, bn_str_from_cstr(bn_conn_format(c))); }

static void routes(bn_router *r)
{
    bn_pipeline(r, "negotiate", BN_PLUG(bn_plug_accepts, page_formats));
    bn_scope(r, "/", "negotiate") {
        bn_get(r, "/format", negotiated);
        bn_get(r, "/boom", boom);
    }
    bn_pipeline(r, "browser", BN_PLUG(put_user, NULL), BN_PLUG(bn_plug_secure_headers, NULL));
    bn_pipeline(r, "auth", BN_PLUG(require_user, NULL));
    bn_pipeline(r, "api", BN_PLUG(bn_plug_request_id, NULL), BN_PLUG(bn_plug_accepts, api_formats));
    bn_scope(r, "/", "browser") {
        bn_get(r, "/", page_home);
        bn_post(r, "/login", login);
        bn_scope(r, "/", "auth") {
            bn_get(r, "/dashboard", dashboard);
        }
    }
    bn_scope(r, "/api", "api") {
        bn_resources(r, "/users", &users);
        bn_post(r, "/upload", upload);
        bn_get(r, "/segments/*rest", segments);
    }
}

static const bn_plug endpoint_plugs[] = {BN_PLUG(bn_plug_logger, NULL)};
static bn_endpoint ep;
static bn_test_client *t;

static void setup(void)
{
    bn_router *r = bn_router_new();
    routes(r);
    ep = (bn_endpoint){.plugs = endpoint_plugs, .nplugs = 1, .router = r};
    t = bn_test_client_for(&ep);
    cr_assert_not_null(t, "the router has mistakes");
}

static void teardown(void)
{
    bn_test_client_free(t);
    bn_router_free(ep.router);
}

TestSuite(web, .init = setup, .fini = teardown, .timeout = 30);

/* ---- tests ----------------------------------------------------------------------------- */

Test(web, pipelines_assigns_cookies_and_halting)
{
    bn_test_conn *r = bn_test_get(t, "/dashboard");
    cr_expect_eq(r->status, 302, "an anonymous user is sent to log in");
    cr_expect_str_eq(bn_test_redirected_to(r), "/login");
    cr_expect(bn_test_header(r, "x-frame-options").ptr, "the browser pipeline ran before auth halted");
    bn_test_conn_free(r);

    r = bn_test_post_form(t, "/login", "");
    cr_expect_eq(r->status, 302);
    cr_expect_str_eq(bn_test_cookie(t, "token"), "letmein");
    bn_test_conn_free(r);

    r = bn_test_get(t, "/dashboard");
    cr_expect_eq(r->status, 200);
    cr_expect(bn_str_eq(r->body, BN_STR("ada")));
    bn_test_conn_free(r);
}

Test(web, path_and_query_params)
{
    bn_test_conn *r = bn_test_get(t, "/api/users/42?q=a%20b&id=ignored");
    cr_expect_eq(r->status, 200);
    const bn_value *j = bn_test_json(r);
    cr_expect(bn_str_eq(bn_value_str(bn_value_get(j, "id")), BN_STR("42")), "path params win over the query");
    cr_expect(bn_str_eq(bn_value_str(bn_value_get(j, "q")), BN_STR("a b")));
    cr_expect_eq(bn_test_header(r, "x-request-id").len, 20u);
    bn_test_conn_free(r);
}

Test(web, form_and_json_bodies)
{
    bn_test_conn *r = bn_test_post_form(t, "/api/users", "user[name]=Ada+L&user[tags][]=x&user[tags][]=y");
    cr_expect_eq(r->status, 201);
    cr_expect(bn_str_eq(r->body, BN_STR("{\"name\":\"Ada L\",\"tags\":[\"x\",\"y\"]}")), "%.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);

    r = bn_test_post_json(t, "/api/users", "{\"user\":{\"name\":\"Grace\",\"tags\":[]}}");
    cr_expect_eq(r->status, 201);
    cr_expect(bn_str_eq(r->body, BN_STR("{\"name\":\"Grace\",\"tags\":[]}")), "%.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);

    r = bn_test_post_json(t, "/api/users", "{\"user\":{}}");
    cr_expect_eq(r->status, 422);
    cr_expect(bn_str_eq(r->body, BN_STR("{\"error\":\"user.name is required\"}")),
              "the controller's fallback renders its errors: %.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);
}

Test(web, malformed_input_is_a_400_with_the_reason_in_the_log)
{
    bn_test_conn *r = bn_test_post_json(t, "/api/upload", "{\"user\":1} trailing");
    cr_expect_eq(r->status, 400);
    cr_expect(bn_str_eq(bn_test_header(r, "content-type"), BN_STR("application/json; charset=utf-8")),
              "a JSON client gets a JSON error");
    const bn_value *detail = bn_value_path(bn_test_json(r), "errors.detail");
    cr_expect(bn_str_eq(bn_value_str(detail), BN_STR("Bad Request")));
    bn_test_conn_free(r);

    r = bn_test_get(t, "/api/users/1?q=%zz");
    cr_expect_eq(r->status, 400);
    cr_expect(memmem(r->body.ptr, r->body.len, "malformed query string", 22), "the users fallback shows the reason");
    bn_test_conn_free(r);

    static const char *const h[] = {"content-type: multipart/form-data", NULL}; /* no boundary */
    r = bn_test_request(t, "POST", "/api/upload", BN_STR("--x\r\n"), h);
    cr_expect_eq(r->status, 400);
    bn_test_conn_free(r);
}

Test(web, multipart_upload_lands_in_a_temporary_file_removed_after_the_request)
{
    const char *body = "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"file\"; filename=\"hello.txt\"\r\n"
                       "Content-Type: text/plain\r\n\r\n"
                       "hello upload\r\n"
                       "--XyZ--\r\n";
    static const char *const h[] = {"content-type: multipart/form-data; boundary=XyZ", NULL};
    bn_test_conn *r = bn_test_request(t, "POST", "/api/upload", bn_str_from_cstr(body), h);
    cr_expect_eq(r->status, 200);
    cr_expect(bn_str_eq(r->body, BN_STR("hello upload")), "%.*s", BN_STR_ARG(r->body));
    bn_str path = bn_test_header(r, "x-temp-path");
    cr_assert(path.ptr);
    char file[256];
    snprintf(file, sizeof file, "%.*s", BN_STR_ARG(path));
    cr_expect_neq(access(file, F_OK), 0, "the temporary file must be gone after the request");
    bn_test_conn_free(r);
}

Test(web, not_found_and_method_not_allowed_pages)
{
    bn_test_conn *r = bn_test_get(t, "/nowhere");
    cr_expect_eq(r->status, 404);
    cr_expect(bn_str_eq(bn_test_header(r, "content-type"), BN_STR("text/html; charset=utf-8")));
    cr_expect(memmem(r->body.ptr, r->body.len, "Not Found", 9));
    bn_test_conn_free(r);

    r = bn_test_request(t, "DELETE", "/dashboard", BN_STR(""), NULL);
    cr_expect_eq(r->status, 405);
    cr_expect(bn_str_eq(bn_test_header(r, "allow"), BN_STR("GET, HEAD")), "allow: %.*s",
              BN_STR_ARG(bn_test_header(r, "allow")));
    bn_test_conn_free(r);
}

Test(web, error_pages_escape_what_they_show_in_dev)
{
    ep.dev = true;
    bn_test_conn *r = bn_test_get(t, "/<script>");
    cr_expect_eq(r->status, 404);
    cr_expect_null(memmem(r->body.ptr, r->body.len, "<script>", 8), "the path must be escaped");
    cr_expect(memmem(r->body.ptr, r->body.len, "&lt;script&gt;", 14));
    cr_expect(memmem(r->body.ptr, r->body.len, "Request headers", 15), "dev pages show the headers");
    bn_test_conn_free(r);

    /* Params are shown once parsed (escaped); cookies never are. */
    bn_test_put_cookie(t, "token", "hush");
    static const char *const html[] = {"accept: text/html", NULL};
    r = bn_test_request(t, "GET", "/boom?x=%3Cb%3E", BN_STR(""), html);
    cr_expect_eq(r->status, 500);
    cr_expect(memmem(r->body.ptr, r->body.len, "{&#34;x&#34;:&#34;&lt;b&gt;&#34;}", 33), "%.*s", BN_STR_ARG(r->body));
    cr_expect_null(memmem(r->body.ptr, r->body.len, "hush", 4), "cookies are filtered");
    cr_expect(memmem(r->body.ptr, r->body.len, "[FILTERED]", 10));
    bn_test_conn_free(r);
}

Test(web, path_segments_are_decoded_and_response_headers_readable)
{
    bn_test_conn *r = bn_test_get(t, "/api/segments/a%20b//c%2Fd/");
    cr_expect_eq(r->status, 200);
    cr_expect(bn_str_eq(r->body, BN_STR("[api][segments][a b][c/d] 1")), "%.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);
}

static const char *format_for(const char *accept)
{
    static char got[32];
    const char *h[] = {accept, NULL};
    bn_test_conn *r = bn_test_request(t, "GET", "/format", BN_STR(""), accept ? h : NULL);
    snprintf(got, sizeof got, "%d %.*s", r->status, (int)BN_MIN(r->body.len, 20u), r->body.ptr);
    if (r->status != 200)
        snprintf(got, sizeof got, "%d", r->status);
    bn_test_conn_free(r);
    return got;
}

Test(web, accepts_negotiates_the_format)
{
    cr_expect_str_eq(format_for(NULL), "200 html", "no Accept: the first listed");
    cr_expect_str_eq(format_for("accept: */*"), "200 html");
    cr_expect_str_eq(format_for("accept: application/json"), "200 json");
    cr_expect_str_eq(format_for("accept: text/html;q=0.5, application/json"), "200 json");
    cr_expect_str_eq(format_for("accept: application/json;q=0.1, text/*;q=0.9"), "200 html");
    cr_expect_str_eq(format_for("accept: image/png"), "406");
    bn_test_conn *r = bn_test_get(t, "/format?_format=json");
    cr_expect(bn_str_eq(r->body, BN_STR("json")));
    bn_test_conn_free(r);
    /* The API only speaks JSON: a browser asking for HTML is refused. */
    static const char *const html[] = {"accept: text/html", NULL};
    r = bn_test_request(t, "GET", "/api/users/1", BN_STR(""), html);
    cr_expect_eq(r->status, 406);
    bn_test_conn_free(r);
}
