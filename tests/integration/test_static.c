/*
 * bn_plug_static over a real socket, with curl as the client: a file, a 304
 * revalidation, a byte range and traversal attempts (tests/support/bin/static_demo.c).
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static bt_server srv;
static char base[64]; /* holds secret.txt; base/pub is served */

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(base, sizeof base, "/tmp/bn-static-it-XXXXXX");
    cr_assert(mkdtemp(base));
    char pub[128], env[160];
    snprintf(pub, sizeof pub, "%s/pub", base);
    cr_assert_eq(mkdir(pub, 0755), 0);
    write_file("secret.txt", "TOP SECRET\n");
    write_file("pub/hello.txt", "Hello, static world!\n");
    snprintf(env, sizeof env, "STATIC_DIR=%s", pub);
    const char *const envs[] = {env, NULL};
    cr_assert(bt_server_start(&srv, "static_demo", envs), "static_demo did not start (log %s)", srv.log_path);
}

static void teardown(void)
{
    if (srv.pid)
        bt_server_stop(&srv, 2000);
    nftw(base, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(static_files, .init = setup, .fini = teardown, .timeout = 60);

/* Runs a curl command line (a format with the port as its only %u) and returns its stdout. */
static char *curl(const char *fmt, int *status)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, fmt, srv.port);
    return bt_run(cmd, status);
}

Test(static_files, file_revalidation_range_and_traversal_with_curl)
{
    int st;
    /* -D - puts the head before the body on stdout */
    char *out = curl("curl -s --max-time 10 -D - http://127.0.0.1:%u/hello.txt", &st);
    cr_assert_eq(st, 0);
    cr_expect(strncmp(out, "HTTP/1.1 200", 12) == 0, "%s", out);
    cr_expect(strstr(out, "\r\ncontent-type: text/plain; charset=utf-8\r\n"), "%s", out);
    cr_expect(strstr(out, "\r\ncontent-length: 21\r\n"), "%s", out);
    cr_expect(strstr(out, "\r\n\r\nHello, static world!\n"), "%s", out);
    const char *e = strstr(out, "\r\netag: ");
    cr_assert(e, "%s", out);
    char etag[64];
    e += 8;
    size_t n = strcspn(e, "\r");
    cr_assert(n < sizeof etag);
    memcpy(etag, e, n);
    etag[n] = '\0';
    free(out);

    char fmt[256];
    snprintf(fmt, sizeof fmt,
             "curl -s --max-time 10 -o /dev/null -w '%%%%{http_code}' -H 'If-None-Match: %s' "
             "http://127.0.0.1:%%u/hello.txt",
             etag);
    out = curl(fmt, &st);
    cr_expect_str_eq(out, "304");
    free(out);

    out = curl("curl -s --max-time 10 -r 7-12 -w '|%%{http_code}' http://127.0.0.1:%u/hello.txt", &st);
    cr_expect_str_eq(out, "static|206");
    free(out);

    out = curl("curl -s --max-time 10 -D - -r 100- http://127.0.0.1:%u/hello.txt", &st);
    cr_expect(strncmp(out, "HTTP/1.1 416", 12) == 0, "%s", out);
    cr_expect(strstr(out, "\r\ncontent-range: bytes */21\r\n"), "%s", out);
    free(out);

    static const char *const attacks[] = {
        "curl -s --max-time 10 --path-as-is -w '|%%{http_code}' http://127.0.0.1:%u/../secret.txt",
        "curl -s --max-time 10 --path-as-is -w '|%%{http_code}' http://127.0.0.1:%u/%%2e%%2e/secret.txt",
        "curl -s --max-time 10 --path-as-is -w '|%%{http_code}' http://127.0.0.1:%u/..%%2fsecret.txt",
        "curl -s --max-time 10 --path-as-is -w '|%%{http_code}' http://127.0.0.1:%u/%%252e%%252e/secret.txt",
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        out = curl(attacks[i], &st);
        cr_expect(!strstr(out, "SECRET"), "%s served the secret: %s", attacks[i], out);
        size_t len = strlen(out);
        cr_expect(len >= 4 && strcmp(out + len - 4, "|404") == 0, "%s: %s", attacks[i], out);
        free(out);
    }

    int status = bt_server_stop(&srv, 10000);
    cr_expect_eq(status, 0, "server exit status %d (log %s)", status, srv.log_path);
    srv.pid = 0;
}
