/*
 * The static files plug through bn_test_client: an endpoint whose only plug is
 * bn_plug_static and a router whose one catch-all route shows what fell through.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bennu.h>
#include <bennu/static.h>

extern bool bn__static_no_openat2;

#define ALPHA "0123456789abcdefghij" /* 20 bytes, for ranges */
#define ALPHA_MTIME 1700000000        /* Tue, 14 Nov 2023 22:13:20 GMT */
#define ALPHA_DATE "Tue, 14 Nov 2023 22:13:20 GMT"
#define SECRET "TOP SECRET"

static char base[64];     /* the temp tree; holds secret.txt, outside `from` */
static char pub[96];      /* base/pub: the `from` directory */
static bn_router *router; /* the current app */
static bn_endpoint ep;
static bn_test_client *t;

/* ---- the tree ------------------------------------------------------------------------- */

static void write_file(const char *rel, const char *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    FILE *f = fopen(path, "wb");
    cr_assert(f, "create %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}
#define WRITE(rel, lit) write_file(rel, lit, sizeof(lit) - 1)

static void link_at(const char *target, const char *rel)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    cr_assert_eq(symlink(target, path), 0, "symlink %s", path);
}

static void set_mtime(const char *rel, time_t sec, long nsec)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    cr_assert_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void make_tree(void)
{
    snprintf(base, sizeof base, "/tmp/bn-static-XXXXXX");
    cr_assert(mkdtemp(base));
    snprintf(pub, sizeof pub, "%s/pub", base);
    char path[256];
    cr_assert_eq(mkdir(pub, 0755), 0);
    snprintf(path, sizeof path, "%s/sub", pub);
    cr_assert_eq(mkdir(path, 0755), 0);
    WRITE("secret.txt", SECRET "\n");
    WRITE("pub/alpha.txt", ALPHA);
    set_mtime("pub/alpha.txt", ALPHA_MTIME, 0);
    WRITE("pub/index.html", "<h1>hi</h1>\n");
    WRITE("pub/app.css", "body{color:red}\n");
    WRITE("pub/app.css.gz", "GZIPPED-CSS");
    WRITE("pub/logo.svg", "<svg/>");
    WRITE("pub/data.unknownext", "x");
    WRITE("pub/empty.txt", "");
    WRITE("pub/with space.txt", "spaced\n");
    WRITE("pub/a\\b.txt", "backslash\n");
    WRITE("pub/sub/page.txt", "sub page\n");
    snprintf(path, sizeof path, "%s/secret.txt", base);
    link_at(path, "pub/leak_abs");          /* absolute, outside */
    link_at("../secret.txt", "pub/leak");   /* relative, outside */
    link_at("..", "pub/updir");             /* a directory outside */
    link_at("../../secret.txt", "pub/sub/leak2");
    link_at("alpha.txt", "pub/alias.txt");  /* inside */
    link_at("sub", "pub/subalias");         /* a directory inside */
    snprintf(path, sizeof path, "%s/fifo", pub);
    cr_assert_eq(mkfifo(path, 0644), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* ---- the app -------------------------------------------------------------------------- */

static void fallback(bn_conn *c)
{
    const char *body = bn_arena_printf(bn_conn_arena(c), "fallback %.*s", BN_STR_ARG(bn_conn_method(c)));
    bn_conn_text(c, 200, bn_str_from_cstr(body));
}

static bn_static_opts opts; /* each test fills it, then calls start() */
static bn_plug plugs[1];

static void start(void)
{
    router = bn_router_new();
    bn_match(router, "*", "/*path", fallback);
    plugs[0] = BN_PLUG(bn_plug_static, &opts);
    ep = (bn_endpoint){.plugs = plugs, .nplugs = 1, .router = router};
    t = bn_test_client_for(&ep);
    cr_assert_not_null(t, "the router has mistakes");
}

static void setup(void)
{
    make_tree();
    opts = (bn_static_opts){.at = "/", .from = pub};
    bn__static_no_openat2 = false;
}

static void teardown(void)
{
    if (t)
        bn_test_client_free(t);
    if (router)
        bn_router_free(router);
    t = NULL;
    router = NULL;
    nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(static_files, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers -------------------------------------------------------------------------- */

#define HDRS(...) ((const char *const[]){__VA_ARGS__, NULL})

static bn_test_conn *req(const char *method, const char *path, const char *const *headers)
{
    return bn_test_request(t, method, path, BN_STR(""), headers);
}

static bool header_is(const bn_test_conn *r, const char *name, const char *want)
{
    bn_str v = bn_test_header(r, name);
    return want ? v.ptr && bn_str_eq(v, bn_str_from_cstr(want)) : v.ptr == NULL;
}

static const char *or_none(const char *s) { return s ? s : "(none)"; }

#define EXPECT_HEADER(r, name, want)                                                                                   \
    cr_expect(header_is(r, name, want), "%s: got \"%.*s\", want \"%s\"", name,                                        \
              BN_STR_ARG(bn_test_header(r, name)), or_none(want))
#define EXPECT_BODY(r, want)                                                                                           \
    cr_expect(bn_str_eq((r)->body, bn_str_from_cstr(want)), "body \"%.*s\", want \"%s\"", BN_STR_ARG((r)->body), want)

/* One request; checks status and body, and that not a byte of secret.txt came back. */
static void expect(const char *method, const char *path, const char *const *headers, int status, const char *body)
{
    bn_test_conn *r = req(method, path, headers);
    cr_expect_eq(r->status, status, "%s %s: status %d, want %d", method, path, r->status, status);
    if (body)
        cr_expect(bn_str_eq(r->body, bn_str_from_cstr(body)), "%s %s: body \"%.*s\", want \"%s\"", method, path,
                  BN_STR_ARG(r->body), body);
    cr_expect(!memmem(r->raw.data, r->raw.len, SECRET, strlen(SECRET)), "%s %s leaked the secret", method, path);
    bn_test_conn_free(r);
}
#define GET(path, status, body) expect("GET", path, NULL, status, body)
#define FELL_THROUGH(path) expect("GET", path, NULL, 200, "fallback GET")

typedef struct etag_buf {
    char s[32];
} etag_buf;

/* The ETag of GET `path`. */
static etag_buf etag_of(const char *path)
{
    bn_test_conn *r = bn_test_get(t, path);
    bn_str e = bn_test_header(r, "etag");
    cr_assert(e.ptr && e.len < sizeof(etag_buf));
    etag_buf out;
    memcpy(out.s, e.ptr, e.len);
    out.s[e.len] = '\0';
    bn_test_conn_free(r);
    return out;
}

/* ---- serving -------------------------------------------------------------------------- */

Test(static_files, serves_a_file_with_its_headers)
{
    start();
    bn_test_conn *r = bn_test_get(t, "/alpha.txt");
    cr_expect_eq(r->status, 200);
    EXPECT_BODY(r, ALPHA);
    EXPECT_HEADER(r, "content-type", "text/plain; charset=utf-8");
    EXPECT_HEADER(r, "content-length", "20");
    EXPECT_HEADER(r, "last-modified", ALPHA_DATE);
    EXPECT_HEADER(r, "cache-control", "public");
    EXPECT_HEADER(r, "accept-ranges", "bytes");
    EXPECT_HEADER(r, "vary", NULL);
    EXPECT_HEADER(r, "content-encoding", NULL);
    bn_str etag = bn_test_header(r, "etag");
    cr_assert(etag.ptr && etag.len == 18 && etag.ptr[0] == '"' && etag.ptr[17] == '"', "etag %.*s", BN_STR_ARG(etag));
    for (size_t i = 1; i < 17; i++)
        cr_expect(strchr("0123456789abcdef", etag.ptr[i]), "etag %.*s is quoted hex", BN_STR_ARG(etag));
    bn_test_conn_free(r);

    GET("/sub/page.txt", 200, "sub page\n");
    GET("/with%20space.txt", 200, "spaced\n");
    GET("//sub///page.txt", 200, "sub page\n"); /* empty segments are skipped, as the router does */
    GET("/empty.txt", 200, "");
}

Test(static_files, the_etag_follows_size_and_mtime)
{
    start();
    etag_buf before = etag_of("/alpha.txt");
    cr_expect_str_eq(before.s, etag_of("/alpha.txt").s, "stable between requests");
    set_mtime("pub/alpha.txt", ALPHA_MTIME, 1); /* one nanosecond later */
    cr_expect_str_neq(before.s, etag_of("/alpha.txt").s);
    WRITE("pub/alpha.txt", ALPHA "k");
    set_mtime("pub/alpha.txt", ALPHA_MTIME, 0);
    cr_expect_str_neq(before.s, etag_of("/alpha.txt").s, "a size change alone changes it");
}

Test(static_files, content_types)
{
    start();
    bn_test_conn *r = bn_test_get(t, "/index.html");
    EXPECT_HEADER(r, "content-type", "text/html; charset=utf-8");
    bn_test_conn_free(r);
    r = bn_test_get(t, "/logo.svg");
    EXPECT_HEADER(r, "content-type", "image/svg+xml");
    bn_test_conn_free(r);
    r = bn_test_get(t, "/data.unknownext");
    EXPECT_HEADER(r, "content-type", "application/octet-stream");
    bn_test_conn_free(r);
    r = bn_test_get(t, "/app.css");
    EXPECT_HEADER(r, "content-type", "text/css; charset=utf-8");
    bn_test_conn_free(r);

    cr_expect_str_eq(bn_static_content_type("app.js"), "text/javascript");
    cr_expect_str_eq(bn_static_content_type("a/b/app.mjs"), "text/javascript");
    cr_expect_str_eq(bn_static_content_type("app.js.map"), "application/json");
    cr_expect_str_eq(bn_static_content_type("LOGO.PNG"), "image/png");
    cr_expect_str_eq(bn_static_content_type("x.jpeg"), "image/jpeg");
    cr_expect_str_eq(bn_static_content_type("f.woff2"), "font/woff2");
    cr_expect_str_eq(bn_static_content_type("m.wasm"), "application/wasm");
    cr_expect_str_eq(bn_static_content_type("favicon.ico"), "image/vnd.microsoft.icon");
    cr_expect_str_eq(bn_static_content_type("Makefile"), "application/octet-stream");
    cr_expect_str_eq(bn_static_content_type("dir.d/file"), "application/octet-stream");
    cr_expect_str_eq(bn_static_content_type("archive.tar.gz"), "application/gzip");
}

Test(static_files, head_has_the_headers_and_no_body)
{
    start();
    bn_test_conn *r = req("HEAD", "/alpha.txt", NULL);
    cr_expect_eq(r->status, 200);
    EXPECT_HEADER(r, "content-length", "20");
    EXPECT_HEADER(r, "content-type", "text/plain; charset=utf-8");
    cr_expect(bn_test_header(r, "etag").ptr);
    cr_expect_eq(r->body.len, 0);
    cr_expect(r->raw.len >= 4 && memcmp(r->raw.data + r->raw.len - 4, "\r\n\r\n", 4) == 0, "nothing after the head");
    bn_test_conn_free(r);
    /* HEAD ignores Range (only GET defines it) */
    r = req("HEAD", "/alpha.txt", HDRS("range: bytes=0-1"));
    cr_expect_eq(r->status, 200);
    bn_test_conn_free(r);
}

Test(static_files, other_methods_misses_and_directories_fall_through)
{
    start();
    expect("POST", "/alpha.txt", NULL, 200, "fallback POST");
    expect("DELETE", "/alpha.txt", NULL, 200, "fallback DELETE");
    expect("OPTIONS", "/alpha.txt", NULL, 200, "fallback OPTIONS");
    FELL_THROUGH("/nope.txt");
    FELL_THROUGH("/sub/nope/deeper.txt");
    FELL_THROUGH("/alpha.txt/x"); /* a file used as a directory */
    FELL_THROUGH("/sub");         /* no listings */
    FELL_THROUGH("/sub/");
    FELL_THROUGH("/");
    FELL_THROUGH("/fifo"); /* not a regular file, and opening it must not block */
}

Test(static_files, at_prefix)
{
    opts.at = "/static";
    start();
    GET("/static/alpha.txt", 200, ALPHA);
    GET("/static/sub/page.txt", 200, "sub page\n");
    FELL_THROUGH("/alpha.txt");
    FELL_THROUGH("/staticx/alpha.txt");
    FELL_THROUGH("/static");
    FELL_THROUGH("/static/");
    FELL_THROUGH("/other/static/alpha.txt");
}

Test(static_files, deep_at_prefix)
{
    opts.at = "/a/b/";
    start();
    GET("/a/b/alpha.txt", 200, ALPHA);
    FELL_THROUGH("/a/alpha.txt");
}

/* ---- safety --------------------------------------------------------------------------- */

static void traversal_attempts(void)
{
    static const char *const refused[] = {
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2e/secret.txt",
        "/%2E%2E/%2e%2e/secret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/sub/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/sub/%2E%2E%2Fsecret.txt",
        "/./alpha.txt",
        "/%2e/alpha.txt",
        "/sub/../alpha.txt",
        "/alpha.txt%00.png",
        "/alpha.txt%00",
        "/sub%5c..%5c..%5csecret.txt",
        "/a%5cb.txt", /* exists on disk, but a backslash is never accepted */
        "/sub%2fpage.txt",
        "/..%2fsecret.txt",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        GET(refused[i], 404, NULL);

    /* Decoded once only: "%252e%252e" is the literal name "%2e%2e", which does not exist. */
    FELL_THROUGH("/%252e%252e/secret.txt");
    FELL_THROUGH("/sub/%252e%252e%252fsecret.txt");
    /* Symlinks that leave `from` are never followed. */
    FELL_THROUGH("/leak");
    FELL_THROUGH("/leak_abs");
    FELL_THROUGH("/updir/secret.txt");
    FELL_THROUGH("/updir/pub/alpha.txt");
    FELL_THROUGH("/sub/leak2");
    GET("/%zz", 400, NULL);
    GET("/sub/%2", 400, NULL);
}

Test(static_files, traversal_is_refused)
{
    start();
    traversal_attempts();
}

Test(static_files, a_raw_backslash_is_refused)
{
    start();
    /* Sent raw, the request line may be refused by the parser itself; either way nothing is served. */
    bn_test_conn *r = bn_test_get(t, "/..\\secret.txt");
    cr_expect(r->status == 404 || r->status == 400, "status %d", r->status);
    cr_expect(!memmem(r->raw.data, r->raw.len, SECRET, strlen(SECRET)));
    bn_test_conn_free(r);
}

Test(static_files, symlinks_inside_from_are_followed)
{
    start();
    GET("/alias.txt", 200, ALPHA);
    GET("/subalias/page.txt", 200, "sub page\n");
}

Test(static_files, without_openat2_no_symlink_is_followed)
{
    bn__static_no_openat2 = true;
    start();
    GET("/alpha.txt", 200, ALPHA);
    GET("/sub/page.txt", 200, "sub page\n");
    FELL_THROUGH("/alias.txt");
    FELL_THROUGH("/subalias/page.txt");
    FELL_THROUGH("/fifo");
    traversal_attempts();
}

Test(static_files, only_lists)
{
    static const char *const only[] = {"sub", "alpha.txt", "with space.txt", NULL};
    opts.only = only;
    start();
    GET("/alpha.txt", 200, ALPHA);
    GET("/sub/page.txt", 200, "sub page\n");
    GET("/with%20space.txt", 200, "spaced\n");
    FELL_THROUGH("/index.html");
    FELL_THROUGH("/alpha.txtx");
    FELL_THROUGH("/%2e%2e/secret.txt"); /* not ours to judge: the router sees it */
    GET("/sub/%2e%2e/secret.txt", 404, NULL);
}

Test(static_files, only_matching_prefixes)
{
    static const char *const prefixes[] = {"app", "ind", NULL};
    opts.only_matching = prefixes;
    start();
    GET("/app.css", 200, "body{color:red}\n");
    GET("/index.html", 200, "<h1>hi</h1>\n");
    FELL_THROUGH("/alpha.txt");
}

/* ---- caching -------------------------------------------------------------------------- */

Test(static_files, if_none_match)
{
    start();
    etag_buf saved = etag_of("/alpha.txt");
    const char *etag = saved.s;
    char weak[64], list[96], inm[128];

    snprintf(inm, sizeof inm, "if-none-match: %s", etag);
    bn_test_conn *r = req("GET", "/alpha.txt", HDRS(inm));
    cr_expect_eq(r->status, 304);
    cr_expect_eq(r->body.len, 0);
    EXPECT_HEADER(r, "etag", etag);
    EXPECT_HEADER(r, "cache-control", "public");
    EXPECT_HEADER(r, "last-modified", ALPHA_DATE);
    EXPECT_HEADER(r, "content-length", NULL);
    cr_expect(memcmp(r->raw.data + r->raw.len - 4, "\r\n\r\n", 4) == 0);
    bn_test_conn_free(r);

    snprintf(weak, sizeof weak, "if-none-match: W/%s", etag);
    expect("GET", "/alpha.txt", HDRS(weak), 304, "");
    snprintf(list, sizeof list, "if-none-match: \"nope\", W/\"other\" ,%s", etag);
    expect("GET", "/alpha.txt", HDRS(list), 304, "");
    expect("GET", "/alpha.txt", HDRS("if-none-match: *"), 304, "");
    expect("HEAD", "/alpha.txt", HDRS(inm), 304, "");
    expect("GET", "/alpha.txt", HDRS("if-none-match: \"nope\""), 200, ALPHA);
    /* If-None-Match wins over If-Modified-Since */
    expect("GET", "/alpha.txt", HDRS("if-none-match: \"nope\"", "if-modified-since: " ALPHA_DATE), 200, ALPHA);
}

Test(static_files, if_modified_since)
{
    start();
    expect("GET", "/alpha.txt", HDRS("if-modified-since: " ALPHA_DATE), 304, "");
    expect("GET", "/alpha.txt", HDRS("if-modified-since: Wed, 15 Nov 2023 00:00:00 GMT"), 304, "");
    expect("GET", "/alpha.txt", HDRS("if-modified-since: Tue, 14 Nov 2023 22:13:19 GMT"), 200, ALPHA);
    /* the two obsolete forms recipients must accept */
    expect("GET", "/alpha.txt", HDRS("if-modified-since: Tuesday, 14-Nov-23 22:13:20 GMT"), 304, "");
    expect("GET", "/alpha.txt", HDRS("if-modified-since: Tue Nov 14 22:13:20 2023"), 304, "");
    expect("GET", "/alpha.txt", HDRS("if-modified-since: yesterday"), 200, ALPHA);
    expect("GET", "/alpha.txt", HDRS("if-modified-since: " ALPHA_DATE " junk"), 200, ALPHA);
}

Test(static_files, cache_control_and_vsn)
{
    start();
    static const struct {
        const char *path, *cc;
    } cases[] = {
        {"/alpha.txt", "public"},
        {"/alpha.txt?vsn=d", "public, max-age=31536000, immutable"},
        {"/alpha.txt?a=1&vsn=abc", "public, max-age=31536000, immutable"},
        {"/alpha.txt?vsn", "public, max-age=31536000, immutable"},
        {"/alpha.txt?vsnx=1", "public"},
        {"/alpha.txt?xvsn=1", "public"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bn_test_conn *r = bn_test_get(t, cases[i].path);
        cr_expect_eq(r->status, 200);
        cr_expect(header_is(r, "cache-control", cases[i].cc), "%s: cache-control %.*s", cases[i].path,
                  BN_STR_ARG(bn_test_header(r, "cache-control")));
        bn_test_conn_free(r);
    }
}

Test(static_files, custom_cache_control_and_headers)
{
    static const char *const extra[] = {"x-static: yes", "access-control-allow-origin:*", NULL};
    opts.cache_control_for_etags = "public, max-age=60";
    opts.cache_control_for_vsn_requests = "public, max-age=600";
    opts.headers = extra;
    start();
    bn_test_conn *r = bn_test_get(t, "/alpha.txt");
    EXPECT_HEADER(r, "cache-control", "public, max-age=60");
    EXPECT_HEADER(r, "x-static", "yes");
    EXPECT_HEADER(r, "access-control-allow-origin", "*");
    bn_test_conn_free(r);
    r = bn_test_get(t, "/alpha.txt?vsn=1");
    EXPECT_HEADER(r, "cache-control", "public, max-age=600");
    bn_test_conn_free(r);
    r = bn_test_get(t, "/nope");
    EXPECT_HEADER(r, "x-static", NULL);
    bn_test_conn_free(r);
}

/* ---- ranges --------------------------------------------------------------------------- */

static void expect_range(const char *range, int status, const char *body, const char *content_range)
{
    char h[128];
    snprintf(h, sizeof h, "range: %s", range);
    bn_test_conn *r = req("GET", "/alpha.txt", HDRS(h));
    cr_expect_eq(r->status, status, "%s: status %d, want %d", range, r->status, status);
    cr_expect(bn_str_eq(r->body, bn_str_from_cstr(body)), "%s: body %.*s, want %s", range, BN_STR_ARG(r->body), body);
    cr_expect(header_is(r, "content-range", content_range), "%s: content-range %.*s, want %s", range,
              BN_STR_ARG(bn_test_header(r, "content-range")), content_range ? content_range : "(none)");
    char len[24];
    snprintf(len, sizeof len, "%zu", strlen(body));
    EXPECT_HEADER(r, "content-length", len);
    EXPECT_HEADER(r, "accept-ranges", "bytes");
    bn_test_conn_free(r);
}

Test(static_files, single_ranges)
{
    start();
    expect_range("bytes=0-4", 206, "01234", "bytes 0-4/20");
    expect_range("bytes=5-5", 206, "5", "bytes 5-5/20");
    expect_range("bytes=15-", 206, "fghij", "bytes 15-19/20");
    expect_range("bytes=-3", 206, "hij", "bytes 17-19/20");
    expect_range("bytes=-100", 206, ALPHA, "bytes 0-19/20");
    expect_range("bytes=10-100", 206, "abcdefghij", "bytes 10-19/20");
    expect_range("BYTES=0-1", 206, "01", "bytes 0-1/20");
    expect_range("bytes=19-19", 206, "j", "bytes 19-19/20");
}

Test(static_files, unsatisfiable_ranges)
{
    start();
    expect_range("bytes=20-", 416, "", "bytes */20");
    expect_range("bytes=20-30", 416, "", "bytes */20");
    expect_range("bytes=-0", 416, "", "bytes */20");
    bn_test_conn *r = req("GET", "/empty.txt", HDRS("range: bytes=0-"));
    cr_expect_eq(r->status, 416);
    EXPECT_HEADER(r, "content-range", "bytes */0");
    bn_test_conn_free(r);
}

Test(static_files, multiple_or_invalid_ranges_get_the_whole_file)
{
    start();
    expect_range("bytes=0-1,5-6", 200, ALPHA, NULL);
    expect_range("bytes=0-1, -2", 200, ALPHA, NULL);
    expect_range("bytes=5-2", 200, ALPHA, NULL);
    expect_range("bytes=a-b", 200, ALPHA, NULL);
    expect_range("bytes=1", 200, ALPHA, NULL);
    expect_range("bytes=", 200, ALPHA, NULL);
    expect_range("items=0-1", 200, ALPHA, NULL);
    expect_range("bytes=99999999999999999999999-", 200, ALPHA, NULL);
}

Test(static_files, if_range)
{
    start();
    etag_buf saved = etag_of("/alpha.txt");
    const char *etag = saved.s;
    char h[96];
    snprintf(h, sizeof h, "if-range: %s", etag);
    expect("GET", "/alpha.txt", HDRS("range: bytes=0-1", h), 206, "01");
    expect("GET", "/alpha.txt", HDRS("range: bytes=0-1", "if-range: \"stale\""), 200, ALPHA);
    snprintf(h, sizeof h, "if-range: W/%s", etag);
    expect("GET", "/alpha.txt", HDRS("range: bytes=0-1", h), 200, ALPHA); /* strong comparison only */
    expect("GET", "/alpha.txt", HDRS("range: bytes=0-1", "if-range: " ALPHA_DATE), 206, "01");
    expect("GET", "/alpha.txt", HDRS("range: bytes=0-1", "if-range: Wed, 15 Nov 2023 00:00:00 GMT"), 200, ALPHA);
    expect("GET", "/alpha.txt", HDRS("range: bytes=30-", "if-range: \"stale\""), 200, ALPHA);
}

/* ---- gzip ----------------------------------------------------------------------------- */

static void expect_gzip(const char *accept_encoding, bool gzipped)
{
    char h[128];
    snprintf(h, sizeof h, "accept-encoding: %s", accept_encoding);
    bn_test_conn *r = req("GET", "/app.css", HDRS(h));
    cr_expect_eq(r->status, 200);
    cr_expect(bn_str_eq(r->body, gzipped ? BN_STR("GZIPPED-CSS") : BN_STR("body{color:red}\n")),
              "accept-encoding %s: body %.*s", accept_encoding, BN_STR_ARG(r->body));
    cr_expect(header_is(r, "content-encoding", gzipped ? "gzip" : NULL), "accept-encoding %s", accept_encoding);
    EXPECT_HEADER(r, "vary", "accept-encoding");
    EXPECT_HEADER(r, "content-type", "text/css; charset=utf-8");
    bn_test_conn_free(r);
}

Test(static_files, gzip_negotiation)
{
    opts.gzip = true;
    start();
    expect_gzip("gzip", true);
    expect_gzip("deflate, gzip;q=0.5", true);
    expect_gzip("GZIP ; Q=0.8", true);
    expect_gzip("x-gzip", true);
    expect_gzip("br, *", true);
    expect_gzip("gzip;q=0.001", true);
    expect_gzip("gzip;q=0", false);
    expect_gzip("gzip; q=0.000", false);
    expect_gzip("*;q=0", false);
    expect_gzip("gzip;q=0, *", false);
    expect_gzip("deflate, br", false);
    expect_gzip("identity", false);

    bn_test_conn *r = bn_test_get(t, "/app.css"); /* no Accept-Encoding */
    EXPECT_BODY(r, "body{color:red}\n");
    EXPECT_HEADER(r, "vary", "accept-encoding");
    EXPECT_HEADER(r, "content-encoding", NULL);
    bn_str identity_etag = bn_test_header(r, "etag");
    bn_test_conn *g = req("GET", "/app.css", HDRS("accept-encoding: gzip"));
    cr_expect(!bn_str_eq(identity_etag, bn_test_header(g, "etag")), "each representation has its own validator");
    bn_test_conn_free(g);
    bn_test_conn_free(r);

    r = req("GET", "/alpha.txt", HDRS("accept-encoding: gzip")); /* no twin */
    EXPECT_BODY(r, ALPHA);
    EXPECT_HEADER(r, "content-encoding", NULL);
    EXPECT_HEADER(r, "vary", "accept-encoding");
    bn_test_conn_free(r);

    r = req("GET", "/app.css", HDRS("accept-encoding: gzip", "range: bytes=0-3")); /* ranges are of the identity */
    cr_expect_eq(r->status, 206);
    EXPECT_BODY(r, "body");
    EXPECT_HEADER(r, "content-encoding", NULL);
    bn_test_conn_free(r);

    r = req("HEAD", "/app.css", HDRS("accept-encoding: gzip"));
    EXPECT_HEADER(r, "content-encoding", "gzip");
    EXPECT_HEADER(r, "content-length", "11");
    cr_expect_eq(r->body.len, 0);
    bn_test_conn_free(r);

    GET("/app.css.gz", 200, "GZIPPED-CSS"); /* the twin is a file like any other */
}

Test(static_files, gzip_disabled_ignores_twins)
{
    start();
    bn_test_conn *r = req("GET", "/app.css", HDRS("accept-encoding: gzip"));
    EXPECT_BODY(r, "body{color:red}\n");
    EXPECT_HEADER(r, "content-encoding", NULL);
    EXPECT_HEADER(r, "vary", NULL);
    bn_test_conn_free(r);
}
