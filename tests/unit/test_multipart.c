/*
 * Unit tests for src/web/multipart.c: the boundary parameter, the push parser
 * (fed whole, byte by byte and in random pieces), the params and temporary
 * files it produces, every limit and error, and the cleanup of uploads.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trees.h"
#include "web/parsers.h"

#define S(lit) BN_STR(lit)
#define CT "multipart/form-data; boundary=XyZ"

static bn_arena arena;
static char tmpdir[64];

static void setup(void)
{
    arena = (bn_arena)BN_ARENA_INIT;
    strcpy(tmpdir, "/tmp/bn-multipart-test-XXXXXX");
    cr_assert(mkdtemp(tmpdir));
    setenv("TMPDIR", tmpdir, 1);
}

/* Files left in the private TMPDIR. */
static int leftover_files(void)
{
    DIR *d = opendir(tmpdir);
    cr_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void teardown(void)
{
    cr_expect_eq(leftover_files(), 0, "temporary files left behind");
    rmdir(tmpdir);
    bn_arena_destroy(&arena);
}

TestSuite(multipart, .init = setup, .fini = teardown);

static bn_str cs(const char *s) { return bn_str_from_cstr(s); }

/* Parses with bn__parse_multipart into a fresh object; files refused (uploads NULL). */
static void assert_fields(const char *body, const char *expected)
{
    char err[160] = "";
    bn_value *got = bn_value_object(&arena);
    int r = bn__parse_multipart(&arena, cs(body), S(CT), got, NULL, NULL, err, sizeof err);
    cr_assert_eq(r, 0, "failed: %s", err);
    cr_assert(bn_value_equal(got, bt_tree(&arena, expected)), "got %s, want %s", bt_json(&arena, got), expected);
}

static void assert_error(const char *body, const bn_params_limits *lim, bool files, const char *message)
{
    char err[160] = "";
    bn__uploads up = BN__UPLOADS_INIT;
    bn_value *got = bn_value_object(&arena);
    int before = leftover_files();
    int r = bn__parse_multipart(&arena, cs(body), S(CT), got, files ? &up : NULL, lim, err, sizeof err);
    cr_assert_eq(r, -1, "should fail with %s, got %s", message, bt_json(&arena, got));
    cr_assert_str_eq(err, message);
    cr_assert_eq(up.len, 0);
    cr_assert_eq(leftover_files(), before, "no temporary file left after an error");
    bn__uploads_cleanup(&up);
}

/* ------------------------------------------------------------------------ */
/* Boundary                                                                   */

static void assert_boundary(const char *ct, const char *want)
{
    bn_str b = S("untouched");
    bool ok = bn__multipart_boundary(cs(ct), &b);
    if (!want) {
        cr_assert_not(ok, "%s should have no boundary, got %.*s", ct, (int)b.len, b.ptr);
        return;
    }
    cr_assert(ok, "%s", ct);
    cr_assert(bn_str_eq(b, cs(want)), "%s: got \"%.*s\"", ct, (int)b.len, b.ptr);
}

Test(multipart, boundary_parameter)
{
    assert_boundary("multipart/form-data; boundary=abc", "abc");
    assert_boundary("multipart/form-data;boundary=abc", "abc");
    assert_boundary("multipart/form-data; BOUNDARY = abc ; charset=utf-8", "abc");
    assert_boundary("multipart/form-data; boundary=\"a b:c?\"", "a b:c?");
    assert_boundary("multipart/form-data; charset=x; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
                    "----WebKitFormBoundary7MA4YWxkTrZu0gW");
    assert_boundary("multipart/form-data; x=\"boundary=no; y\"; boundary=yes", "yes");
    assert_boundary("multipart/form-data; boundary=abc;", "abc");
    char ct[120] = "multipart/form-data; boundary=";
    memset(ct + strlen(ct), 'b', 70);
    assert_boundary(ct, ct + strlen("multipart/form-data; boundary="));
    strcat(ct, "b"); /* 71 */
    assert_boundary(ct, NULL);
    assert_boundary("multipart/form-data", NULL);
    assert_boundary("multipart/form-data; boundary=", NULL);
    assert_boundary("multipart/form-data; boundary=\"\"", NULL);
    assert_boundary("multipart/form-data; boundary=\"a\\\"b\"", NULL);
    assert_boundary("multipart/form-data; boundary=\"abc ", NULL);
    assert_boundary("multipart/form-data; boundary=\"abc \"", NULL);
    assert_boundary("multipart/form-data; boundary=a\x01z", NULL);
    assert_boundary("multipart/form-data; boundary=\xc3\xa9", NULL);
    assert_boundary("multipart/form-data; =abc", NULL);
    assert_boundary("", NULL);
}

/* ------------------------------------------------------------------------ */
/* Fields                                                                     */

#define PART(name, value) "--XyZ\r\nContent-Disposition: form-data; name=\"" name "\"\r\n\r\n" value "\r\n"
#define END "--XyZ--\r\n"

Test(multipart, plain_fields_with_bracket_keys)
{
    assert_fields(PART("a", "1") PART("b", "two words") END, "{\"a\":\"1\",\"b\":\"two words\"}");
    assert_fields(PART("user[name]", "x") PART("user[tags][]", "a") PART("user[tags][]", "b") END,
                  "{\"user\":{\"name\":\"x\",\"tags\":[\"a\",\"b\"]}}");
    assert_fields(PART("a", "1") PART("a", "2") END, "{\"a\":\"2\"}");
    assert_fields(PART("u[][n]", "1") PART("u[][n]", "2") END, "{\"u\":[{\"n\":\"1\"},{\"n\":\"2\"}]}");
    assert_fields(PART("empty", "") END, "{\"empty\":\"\"}");
    /* Values are raw bytes: no percent- or plus-decoding. */
    assert_fields(PART("a", "x+y%41") END, "{\"a\":\"x+y%41\"}");
    assert_fields(PART("multi", "line1\r\nline2\r\n") END, "{\"multi\":\"line1\\r\\nline2\\r\\n\"}");
    assert_fields(END, "{}");
}

Test(multipart, preamble_epilogue_padding_and_header_variants)
{
    assert_fields("this is a preamble\r\nstill\r\n" PART("a", "1") "--XyZ--\r\nepilogue --XyZ\r\n garbage",
                  "{\"a\":\"1\"}");
    assert_fields("--XyZ \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--", "{\"a\":\"1\"}");
    assert_fields("--XyZ\r\ncontent-disposition:FORM-DATA;NAME=\"a\"\r\nX-Other: y\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\n\r\nv\r\n--XyZ--",
                  "{\"a\":\"v\"}");
    /* \" and \\ are unescaped; other backslashes are kept. */
    assert_fields("--XyZ\r\nContent-Disposition: form-data; name=\"q\\\"x\\\\y\\z\"\r\n\r\nv\r\n--XyZ--",
                  "{\"q\\\"x\\\\y\\\\z\":\"v\"}");
    /* The first Content-Disposition counts. */
    assert_fields("--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n"
                  "\r\nv\r\n--XyZ--",
                  "{\"a\":\"v\"}");
}

Test(multipart, data_that_looks_like_a_boundary)
{
    assert_fields(PART("a", "x\r\n--XyY\r\n--Xy\r\n-\r\r\n--X\r--XyZ\n--XyZ\r") END,
                  "{\"a\":\"x\\r\\n--XyY\\r\\n--Xy\\r\\n-\\r\\r\\n--X\\r--XyZ\\n--XyZ\\r\"}");
}

Test(multipart, parts_without_a_usable_name_are_skipped)
{
    assert_fields("--XyZ\r\n\r\nno headers\r\n"
                  "--XyZ\r\nContent-Disposition: form-data\r\n\r\nno name\r\n"
                  "--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nempty name\r\n"
                  "--XyZ\r\nContent-Disposition: attachment; name=\"x\"\r\n\r\nnot form-data\r\n"
                  "--XyZ\r\nContent-Disposition: form-data; name=\"[b]\"\r\n\r\nempty key name\r\n"
                  "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n\r\n\r\n" PART("ok", "1") END,
                  "{\"ok\":\"1\"}");
}

/* ------------------------------------------------------------------------ */
/* Files                                                                      */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "open %s", path);
    static char data[1 << 16];
    *len = fread(data, 1, sizeof data, f);
    fclose(f);
    return data;
}

Test(multipart, file_parts_go_to_temporary_files)
{
    const char body[] = PART("title", "hello")
        "--XyZ\r\nContent-Disposition: form-data; name=\"doc[file]\"; filename=\"a b.txt\"\r\n"
        "Content-Type: text/plain\r\n\r\nline1\r\nline2\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"raw\"; filename=\"x.bin\"\r\n\r\n\0\x01\xff\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"empty\"; filename=\"e\"\r\n\r\n\r\n" END;
    bn__uploads up = BN__UPLOADS_INIT;
    bn_value *got = bn_value_object(&arena);
    char err[160] = "";
    cr_assert_eq(bn__parse_multipart(&arena, bn_str_make(body, sizeof body - 1), S(CT), got, &up, NULL, err,
                                     sizeof err),
                 0, "%s", err);
    cr_assert_eq(up.len, 3);
    cr_assert_eq(leftover_files(), 3);

    const char *want[][4] = {{"doc[file]", "a b.txt", "text/plain", "line1\r\nline2"},
                             {"raw", "x.bin", NULL, "\0\x01\xff"},
                             {"empty", "e", NULL, ""}};
    size_t want_size[] = {12, 3, 0};
    for (size_t i = 0; i < 3; i++) {
        bn__upload *u = &up.items[i];
        cr_assert(bn_str_eq(u->field, cs(want[i][0])));
        cr_assert(bn_str_eq(u->filename, cs(want[i][1])));
        cr_assert(want[i][2] ? bn_str_eq(u->content_type, cs(want[i][2])) : u->content_type.ptr == NULL);
        cr_assert_eq(u->size, want_size[i]);
        cr_assert(strncmp(u->path, tmpdir, strlen(tmpdir)) == 0, "%s under TMPDIR", u->path);
        struct stat st;
        cr_assert_eq(stat(u->path, &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0600);
        size_t len;
        char *data = slurp(u->path, &len);
        cr_assert_eq(len, want_size[i]);
        cr_assert(memcmp(data, want[i][3], len) == 0);
    }

    const bn_value *f = bn_value_path(got, "doc.file");
    cr_assert_str_eq(bn_value_str(bn_value_get(f, "filename")).ptr, "a b.txt");
    cr_assert_str_eq(bn_value_str(bn_value_get(f, "content_type")).ptr, "text/plain");
    cr_assert_str_eq(bn_value_str(bn_value_get(f, "path")).ptr, up.items[0].path);
    int64_t size;
    cr_assert(bn_value_to_int(bn_value_get(f, "size"), &size) && size == 12);
    cr_assert(bn_value_is(bn_value_path(got, "raw.content_type"), BN_VALUE_NULL));
    cr_assert_str_eq(bn_value_str(bn_value_get(got, "title")).ptr, "hello");
    cr_assert_eq(bn_value_len(got), 4);

    char *paths[3];
    for (size_t i = 0; i < 3; i++)
        paths[i] = strdup(up.items[i].path);
    bn__uploads_cleanup(&up);
    cr_assert_eq(up.len, 0);
    cr_assert_null(up.items);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(access(paths[i], F_OK), -1, "%s removed", paths[i]);
        free(paths[i]);
    }
}

Test(multipart, filename_star_and_escapes)
{
    const char *body = "--XyZ\r\nContent-Disposition: form-data; name=f; filename=\"fallback.txt\"; "
                       "filename*=UTF-8''%E2%82%AC%20rates.txt\r\n\r\nx\r\n"
                       "--XyZ\r\nContent-Disposition: form-data; name=g; filename=\"C:\\dir\\q\\\"uote.txt\"\r\n\r\n"
                       "y\r\n"
                       "--XyZ\r\nContent-Disposition: form-data; name=h; filename=\"ok.txt\"; filename*=latin1''x\r\n"
                       "\r\nz\r\n" END;
    bn__uploads up = BN__UPLOADS_INIT;
    bn_value *got = bn_value_object(&arena);
    char err[160] = "";
    cr_assert_eq(bn__parse_multipart(&arena, cs(body), S(CT), got, &up, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(up.len, 3);
    cr_assert(bn_str_eq(up.items[0].filename, S("\xe2\x82\xac rates.txt")));
    cr_assert(bn_str_eq(up.items[1].filename, S("C:\\dir\\q\"uote.txt")));
    cr_assert(bn_str_eq(up.items[2].filename, S("ok.txt")), "a non-UTF-8 filename* is ignored");
    bn__uploads_cleanup(&up);
}

Test(multipart, uploads_append_to_an_existing_list)
{
    bn__uploads up = BN__UPLOADS_INIT;
    char err[160];
    for (int i = 0; i < 6; i++) {
        bn_value *got = bn_value_object(&arena);
        cr_assert_eq(bn__parse_multipart(&arena,
                                         S("--XyZ\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\n"
                                           "data\r\n--XyZ--"),
                                         S(CT), got, &up, NULL, err, sizeof err),
                     0, "%s", err);
    }
    cr_assert_eq(up.len, 6);
    cr_assert_eq(leftover_files(), 6);
    /* A failing parse removes only its own files. */
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\ndata\r\n"
                 "--XyZ\r\nContent-Disposition: form-data; name=g; filename=b\r\n\r\nmore",
                 NULL, true, "multipart body ends before its final boundary");
    bn_value *got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_multipart(&arena,
                                     S("--XyZ\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\n"
                                       "data\r\n--XyZ\r\nContent-Disposition: form-data; name=g; filename=b\r\n\r\nmore"),
                                     S(CT), got, &up, NULL, err, sizeof err),
                 -1);
    cr_assert_eq(up.len, 6);
    cr_assert_eq(leftover_files(), 6);
    bn__uploads_cleanup(&up);
    bn__uploads_cleanup(&up); /* idempotent */
}

/* ------------------------------------------------------------------------ */
/* Errors and limits                                                          */

Test(multipart, framing_errors)
{
    char err[160];
    bn_value *got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_multipart(&arena, S(END), S("multipart/form-data"), got, NULL, NULL, err, sizeof err), -1);
    cr_assert_str_eq(err, "missing or invalid boundary in the multipart Content-Type");
    assert_error("", NULL, false, "no multipart boundary found in the body");
    assert_error("just text --XyZ-- \r\n", NULL, false, "no multipart boundary found in the body");
    assert_error(PART("a", "1"), NULL, false, "multipart body ends before its final boundary");
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=a\r\n", NULL, false,
                 "multipart body ends before its final boundary");
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue", NULL, false,
                 "multipart body ends before its final boundary");
    assert_error("--XyZ", NULL, false, "multipart body ends before its final boundary");
    assert_error("--XyZ-", NULL, false, "multipart body ends before its final boundary");
    assert_error("--XyZx\r\n", NULL, false, "malformed multipart boundary line");
    assert_error("--XyZ-x", NULL, false, "malformed multipart boundary line");
    assert_error("--XyZ\rx", NULL, false, "malformed multipart boundary line");
    assert_error("--XyZ \n", NULL, false, "malformed multipart boundary line");
    assert_error(PART("a", "x\r\n--XyZzz") END, NULL, false, "malformed multipart boundary line");
}

Test(multipart, header_errors)
{
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=a\n\r\nv\r\n" END, NULL, false,
                 "part header line not ended by CRLF");
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=a\r\r\n\r\nv\r\n" END, NULL, false,
                 "part header line not ended by CRLF");
    assert_error("--XyZ\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nv\r\n" END, NULL, false,
                 "folded part header lines are not supported");
    assert_error("--XyZ\r\nno colon here\r\n\r\nv\r\n" END, NULL, false, "malformed part header line");
    assert_error("--XyZ\r\n: empty name\r\n\r\nv\r\n" END, NULL, false, "malformed part header line");
    assert_error("--XyZ\r\nX-A: b\x01\r\n\r\nv\r\n" END, NULL, false, "control character in a part header");
}

Test(multipart, header_size_limits)
{
    bn_params_limits lim = {.max_header_line = 20, .max_part_header = 40};
    /* "X: " + 17 = 20 bytes: fits; 21 does not. */
    char err[160];
    bn_value *got = bn_value_object(&arena);
    const char *ok = "--XyZ\r\nX: 12345678901234567\r\n\r\n\r\n" END;
    cr_assert_eq(bn__parse_multipart(&arena, cs(ok), S(CT), got, NULL, &lim, err, sizeof err), 0, "%s", err);
    assert_error("--XyZ\r\nX: 123456789012345678\r\n\r\n\r\n" END, &lim, false,
                 "part header line longer than 20 bytes");
    /* 3 lines of 12+2 bytes = 42 > 40. */
    assert_error("--XyZ\r\nX: 123456789\r\nY: 123456789\r\nZ: 123456789\r\n\r\n\r\n" END, &lim, false,
                 "part headers larger than 40 bytes");
    /* Exactly 40 bytes with the blank line. */
    cr_assert_eq(bn__parse_multipart(&arena, cs("--XyZ\r\nX: 12345678901234\r\nY: 12345678901234\r\n\r\n\r\n" END),
                                     S(CT), got, NULL, &lim, err, sizeof err),
                 0, "%s", err);
}

Test(multipart, part_and_file_count_limits)
{
    bn_params_limits lim = {.max_parts = 2};
    assert_fields(PART("a", "1") PART("b", "2") END, "{\"a\":\"1\",\"b\":\"2\"}");
    assert_error(PART("a", "1") PART("b", "2") PART("c", "3") END, &lim, false,
                 "too many parts in multipart body (more than 2)");
    lim = (bn_params_limits){.max_files = 1};
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\n1\r\n"
                 "--XyZ\r\nContent-Disposition: form-data; name=g; filename=b\r\n\r\n2\r\n" END,
                 &lim, true, "too many files in multipart body (more than 1)");
}

Test(multipart, size_limits)
{
    bn_params_limits lim = {.max_field_size = 4, .max_file_size = 5, .max_files_total = 8};
    char err[160];
    bn__uploads up = BN__UPLOADS_INIT;
    bn_value *got = bn_value_object(&arena);
    const char *ok = PART("a", "1234") "--XyZ\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\n"
                                       "12345\r\n--XyZ\r\nContent-Disposition: form-data; name=g; filename=b\r\n\r\n"
                                       "123\r\n" END;
    cr_assert_eq(bn__parse_multipart(&arena, cs(ok), S(CT), got, &up, &lim, err, sizeof err), 0, "%s", err);
    cr_assert_eq(up.len, 2);
    bn__uploads_cleanup(&up);

    assert_error(PART("a", "12345") END, &lim, false, "multipart field \"a\" larger than 4 bytes");
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=f; filename=big.txt\r\n\r\n123456\r\n" END, &lim,
                 true, "uploaded file \"big.txt\" larger than 5 bytes");
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\n12345\r\n"
                 "--XyZ\r\nContent-Disposition: form-data; name=g; filename=b\r\n\r\n1234\r\n" END,
                 &lim, true, "uploaded files larger than 8 bytes in total");
    /* When both limits are crossed the one the stream reaches first is reported. */
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\n1234\r\n"
                 "--XyZ\r\nContent-Disposition: form-data; name=g; filename=b\r\n\r\n1234567\r\n" END,
                 &lim, true, "uploaded files larger than 8 bytes in total");
    /* A skipped part has no size limit of its own. */
    assert_fields("--XyZ\r\nContent-Disposition: form-data\r\n\r\n" "0123456789012345678901234567890123456789"
                  "\r\n" END,
                  "{}");
}

Test(multipart, content_errors)
{
    assert_error(PART("a", "\xff") END, NULL, false, "invalid UTF-8 in multipart field \"a\"");
    assert_error(PART("n\xc3", "v") END, NULL, false, "invalid UTF-8 in multipart field name \"n\\xC3\"");
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=f; filename=\"\xe2\x82\"\r\n\r\nx\r\n" END, NULL,
                 true, "invalid UTF-8 in the filename of field \"f\"");
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=f; filename=a.txt\r\n\r\nx\r\n" END, NULL, false,
                 "file uploads are not accepted here (field \"f\")");
    bn_params_limits lim = {.max_depth = 1, .max_key_len = 8};
    assert_error(PART("a[b][c]", "1") END, &lim, false, "parameter \"a[b][c]\" is nested deeper than 1 levels");
    assert_error(PART("abcdefghi", "1") END, &lim, false, "parameter name longer than 8 bytes");
    /* The tree error of a file part removes its file too. */
    assert_error("--XyZ\r\nContent-Disposition: form-data; name=\"f[a][b]\"; filename=a.txt\r\n\r\nx\r\n" END, &lim,
                 true, "parameter \"f[a][b]\" is nested deeper than 1 levels");
}

/* ------------------------------------------------------------------------ */
/* Incremental feeding                                                        */

/* Records parser events so runs with different splits can be compared. */
typedef struct transcript {
    bn_buf log;
    int stop_at_begin; /* part number whose begin refuses, or 0 */
    int begins;
} transcript;

static void log_str(bn_buf *b, const char *tag, bn_str s)
{
    if (s.ptr)
        bn_buf_printf(b, " %s=[%.*s]", tag, (int)s.len, s.ptr);
    else
        bn_buf_printf(b, " %s=none", tag);
}

static int rec_begin(bn__multipart *p, const bn__part_info *info)
{
    transcript *t = p->ud;
    bn_buf_printf(&t->log, "<begin fd=%d", info->form_data);
    log_str(&t->log, "name", info->name);
    log_str(&t->log, "filename", info->filename);
    log_str(&t->log, "type", info->content_type);
    bn_buf_append_str(&t->log, S(">"));
    if (++t->begins == t->stop_at_begin)
        return -1;
    return 0;
}

static int rec_data(bn__multipart *p, const char *data, size_t len)
{
    transcript *t = p->ud;
    cr_assert_gt(len, 0, "no empty data callbacks");
    bn_buf_append(&t->log, data, len);
    return 0;
}

static int rec_end(bn__multipart *p)
{
    transcript *t = p->ud;
    bn_buf_append_str(&t->log, S("<end>"));
    return 0;
}

static const bn__multipart_callbacks rec_cb = {rec_begin, rec_data, rec_end};

/* Feeds `body` in pieces whose sizes come from `next_cut` and returns the transcript. */
static char *run_split(bn_str body, size_t (*next_cut)(size_t left), int stop_at_begin)
{
    transcript t = {BN_BUF_INIT, stop_at_begin, 0};
    bn__multipart p;
    bn_params_limits lim = {.max_part_header = 100, .max_header_line = 60, .max_parts = 4};
    bn__multipart_init(&p, &arena, S("XyZ"), &lim, &rec_cb, &t);
    size_t pos = 0;
    int r = 0;
    while (r == 0 && pos < body.len) {
        size_t n = next_cut(body.len - pos);
        r = bn__multipart_feed(&p, body.ptr + pos, n);
        pos += n;
    }
    if (r == 0)
        r = bn__multipart_finish(&p);
    cr_assert_eq(bn__multipart_feed(&p, "x", 1), r == 0 ? 0 : -1, "state sticks after the end");
    bn_buf_printf(&t.log, "|r=%d err=%s", r, r ? p.err : "");
    char *s = bn_arena_strndup(&arena, t.log.data, t.log.len);
    bn_buf_free(&t.log);
    return s;
}

static size_t cut_whole(size_t left) { return left; }
static size_t cut_one(size_t left)
{
    (void)left;
    return 1;
}
static size_t cut_random(size_t left) { return 1 + (size_t)rand() % left; }

static const char *split_bodies[] = {
    PART("a", "1") PART("b", "x\r\n--XyY\r\n-\r\r\n--X") END "epilogue",
    PART("a", "1") PART("b", "x\r\n--XyZz\r\n-\r\r\n--X") END, /* delimiter with junk */
    "pre\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/x\r\n\r\n"
    "\r\r\r\n\r\n--\r\n--Xy\r\n" END,
    "--XyZ  \r\nContent-Disposition: form-data\r\n\r\n\r\n--XyZ--",
    PART("a", "1") "--XyZ\r\nX: 1\n",                                   /* bare LF */
    PART("a", "1") "--XyZ\r\nX: 123456789012345678901234567890123456789012345678901234567890\r\n", /* long */
    PART("a", "1") PART("b", "2") PART("c", "3") PART("d", "4") PART("e", "5") END, /* too many parts */
    PART("a", "unterminated"),
    "--XyZ--",
    "--XyZ\r\n\r\n\r\n--XyZ--",
    "\r\n--XyZ\r\n\r\nabc\r\n--XyZ--",
    ("--XyZ\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\nJ: 10\r\nK: 11\r\n"
     "L: 12\r\nM: 13\r\nN: 14\r\nO: 15\r\nP: 16\r\nQ: 17\r\n\r\n\r\n--XyZ--"), /* headers too big */
};

Test(multipart, any_split_gives_the_same_events)
{
    srand(1234);
    for (size_t i = 0; i < BN_ARRAY_LEN(split_bodies); i++) {
        bn_str body = cs(split_bodies[i]);
        for (int stop = 0; stop <= 2; stop++) {
            char *whole = run_split(body, cut_whole, stop);
            char *bytes = run_split(body, cut_one, stop);
            cr_assert_str_eq(bytes, whole, "body %zu byte by byte", i);
            for (int k = 0; k < 50; k++) {
                char *random = run_split(body, cut_random, stop);
                cr_assert_str_eq(random, whole, "body %zu random split", i);
            }
        }
    }
}

Test(multipart, transcript_of_a_tricky_body)
{
    char *got = run_split(cs(split_bodies[0]), cut_one, 0);
    cr_assert_str_eq(got, "<begin fd=1 name=[a] filename=none type=none>1<end>"
                          "<begin fd=1 name=[b] filename=none type=none>x\r\n--XyY\r\n-\r\r\n--X<end>|r=0 err=");
    got = run_split(cs(split_bodies[3]), cut_whole, 0);
    cr_assert_str_eq(got, "<begin fd=1 name=none filename=none type=none><end>|r=0 err=");
    got = run_split(cs(split_bodies[0]), cut_one, 2);
    cr_assert_str_eq(got, "<begin fd=1 name=[a] filename=none type=none>1<end>"
                          "<begin fd=1 name=[b] filename=none type=none>|r=-1 err=multipart parse stopped");
}

Test(multipart, high_level_parse_is_split_independent_via_fields)
{
    /* The same fields parse the same through a body with long data near cut points. */
    bn_buf body = BN_BUF_INIT;
    bn_buf_append_str(&body, S("--XyZ\r\nContent-Disposition: form-data; name=big\r\n\r\n"));
    for (int i = 0; i < 5000; i++)
        bn_buf_append_str(&body, S("\r\n--XyZ-"));
    bn_buf_append_str(&body, S("\r\n" END));
    bn_value *got = bn_value_object(&arena);
    char err[160];
    cr_assert_eq(bn__parse_multipart(&arena, bn_str_make(body.data, body.len), S(CT), got, NULL, NULL, err, sizeof err),
                 -1);
    cr_assert_str_eq(err, "malformed multipart boundary line", "\"--XyZ-\" then CR is a bad close delimiter");
    bn_buf_free(&body);

    bn_buf_append_str(&body, S("--XyZ\r\nContent-Disposition: form-data; name=big\r\n\r\n"));
    for (int i = 0; i < 5000; i++)
        bn_buf_append_str(&body, S("\r\n--XyY"));
    bn_buf_append_str(&body, S("\r\n" END));
    got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_multipart(&arena, bn_str_make(body.data, body.len), S(CT), got, NULL, NULL, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(bn_value_str(bn_value_get(got, "big")).len, 5000 * 7);
    bn_buf_free(&body);
}
