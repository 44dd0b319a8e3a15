/*
 * libFuzzer target for src/web/multipart.c. Input: a Content-Type line, '\n',
 * then the body. Checks that feeding the body whole, byte by byte (short
 * inputs) and in random pieces gives the same events, then parses it into
 * params with files on or off and checks the temporary files and their cleanup.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"
#include <sys/stat.h>
#include <unistd.h>

#include "web/parsers.h"

static const bn_params_limits limits = {
    .max_depth = 4,
    .max_pairs = 16,
    .max_key_len = 32,
    .max_parts = 8,
    .max_part_header = 256,
    .max_header_line = 128,
    .max_field_size = 256,
    .max_files = 3,
    .max_file_size = 512,
    .max_files_total = 1024,
};

/* ---- event transcripts ------------------------------------------------- */

static void log_str(bn_buf *b, bn_str s)
{
    if (s.ptr)
        bn_buf_printf(b, "[%zu:%.*s]", s.len, (int)s.len, s.ptr);
    else
        bn_buf_append(b, "-", 1);
}

static int rec_begin(bn__multipart *p, const bn__part_info *info)
{
    bn_buf *b = p->ud;
    bn_buf_printf(b, "<B%d", info->form_data);
    log_str(b, info->name);
    log_str(b, info->filename);
    log_str(b, info->content_type);
    bn_buf_append(b, ">", 1);
    return 0;
}

static int rec_data(bn__multipart *p, const char *data, size_t len)
{
    CHECK(len > 0);
    bn_buf_append(p->ud, data, len);
    return 0;
}

static int rec_end(bn__multipart *p)
{
    bn_buf_append(p->ud, "<E>", 3);
    return 0;
}

static const bn__multipart_callbacks rec_cb = {rec_begin, rec_data, rec_end};

/* Feeds `body` cut at the offsets of `cuts` (ascending); returns the rc and fills `log`. */
static int run(bn_arena *a, bn_str boundary, bn_str body, const size_t *cuts, size_t ncuts, bn_buf *log)
{
    bn__multipart p;
    bn__multipart_init(&p, a, boundary, &limits, &rec_cb, log);
    size_t pos = 0;
    int r = 0;
    for (size_t i = 0; i <= ncuts && r == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : body.len;
        r = bn__multipart_feed(&p, body.ptr + pos, end - pos);
        pos = end;
    }
    if (r == 0)
        r = bn__multipart_finish(&p);
    CHECK(r == 0 || r == -1);
    if (r)
        CHECK(p.err[0]);
    bn_buf_printf(log, "|%d|%s", r, r ? p.err : "");
    return r;
}

static void check_splits(bn_arena *a, bn_str boundary, bn_str body, unsigned seed, bn_buf *whole)
{
    int r = run(a, boundary, body, NULL, 0, whole);
    (void)r;
    size_t cuts[16];
    for (int round = 0; round < 3; round++) {
        size_t n = 0;
        for (size_t pos = 0; n < BN_ARRAY_LEN(cuts) && body.len; n++) {
            seed = seed * 1103515245u + 12345u;
            pos += 1 + (seed >> 16) % (round == 0 ? 4 : 64);
            if (pos >= body.len)
                break;
            cuts[n] = pos;
        }
        bn_buf log = BN_BUF_INIT;
        run(a, boundary, body, cuts, n, &log);
        CHECK(log.len == whole->len && memcmp(log.data, whole->data, log.len) == 0);
        bn_buf_free(&log);
    }
    if (body.len <= 300) {
        size_t *all = malloc(body.len * sizeof *all + 1);
        CHECK(all);
        for (size_t i = 0; i + 1 < body.len; i++)
            all[i] = i + 1;
        bn_buf log = BN_BUF_INIT;
        run(a, boundary, body, all, body.len ? body.len - 1 : 0, &log);
        CHECK(log.len == whole->len && memcmp(log.data, whole->data, log.len) == 0);
        bn_buf_free(&log);
        free(all);
    }
}

/* ---- params and files -------------------------------------------------- */

static char tmpdir[64];

static size_t files_in_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    CHECK(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void remove_tmpdir(void) { rmdir(tmpdir); }

static void setup_tmpdir(void)
{
    if (tmpdir[0])
        return;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/bn-fuzz-multipart-XXXXXX", base);
    CHECK(mkdtemp(tmpdir));
    setenv("TMPDIR", tmpdir, 1);
    atexit(remove_tmpdir);
}

static void check_params(bn_arena *a, bn_str ct, bn_str body, bool files, bool framing_failed)
{
    bn__uploads up = BN__UPLOADS_INIT;
    bn_value *root = bn_value_object(a);
    char err[160] = "";
    int r = bn__parse_multipart(a, body, ct, root, files ? &up : NULL, &limits, err, sizeof err);
    CHECK(r == 0 || r == -1);
    if (framing_failed)
        CHECK(r == -1);
    if (r == -1) {
        CHECK(err[0] && up.len == 0);
        for (const char *c = err; *c; c++)
            CHECK(*c >= 0x20 && *c < 0x7f);
    }
    CHECK(files_in_tmpdir() == up.len);
    CHECK(up.len <= limits.max_files);
    uint64_t total = 0;
    for (size_t i = 0; i < up.len; i++) {
        struct stat st;
        CHECK(stat(up.items[i].path, &st) == 0);
        CHECK((uint64_t)st.st_size == up.items[i].size && (st.st_mode & 0777) == 0600);
        CHECK(up.items[i].size <= limits.max_file_size);
        CHECK(up.items[i].filename.len > 0 && bn__utf8_valid(up.items[i].filename));
        total += up.items[i].size;
    }
    CHECK(total <= limits.max_files_total);
    bn__uploads_cleanup(&up);
    CHECK(files_in_tmpdir() == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_tmpdir();
    char *buf = malloc(size ? size : 1);
    CHECK(buf);
    if (size)
        memcpy(buf, data, size);
    const char *nl = size ? memchr(buf, '\n', size) : NULL;
    bn_str ct = BN_STR("multipart/form-data; boundary=XyZ"), body = bn_str_make(buf, size);
    if (nl && nl - buf <= 200) {
        ct = bn_str_make(buf, (size_t)(nl - buf));
        body = bn_str_make(nl + 1, size - ct.len - 1);
    }
    bn_str boundary;
    bool has_boundary = bn__multipart_boundary(ct, &boundary);
    if (has_boundary) {
        CHECK(boundary.len >= 1 && boundary.len <= 70);
        CHECK(boundary.ptr >= ct.ptr && boundary.ptr + boundary.len <= ct.ptr + ct.len);
        CHECK(!memchr(boundary.ptr, '\r', boundary.len) && !memchr(boundary.ptr, '\n', boundary.len));
    }

    bn_arena a = BN_ARENA_INIT;
    bn_buf whole = BN_BUF_INIT;
    unsigned seed = size ? (unsigned)data[0] * 31u + (unsigned)data[size - 1] : 0;
    check_splits(&a, has_boundary ? boundary : BN_STR("XyZ"), body, seed, &whole);
    /* The transcript ends with "|0|" when the framing was fine. */
    bool framing_failed = !has_boundary || memcmp(whole.data + whole.len - 3, "|0|", 3) != 0;
    check_params(&a, ct, body, seed & 1, framing_failed);
    bn_buf_free(&whole);
    bn_arena_destroy(&a);
    free(buf);
    return 0;
}
