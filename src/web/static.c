/*
 * The static files plug [Plug.Static]: maps a request path onto a regular
 * file beneath a directory, safely, and serves it with validators, ranges and gzip twins.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bennu/static.h"
#include "web/parsers.h"

#define DEFAULT_CACHE_CONTROL "public"
#define DEFAULT_VSN_CACHE_CONTROL "public, max-age=31536000, immutable"

/* Tests set this to exercise the fallback used where openat2 is missing (Linux < 5.6, seccomp). */
bool bn__static_no_openat2;

/* ---- content types ------------------------------------------------------------ */

static const struct {
    const char *ext, *type;
} content_types[] = {
    /* text (bn_conn_put_resp_content_type adds charset=utf-8) */
    {"html", "text/html"}, {"htm", "text/html"}, {"css", "text/css"}, {"js", "text/javascript"},
    {"mjs", "text/javascript"}, {"txt", "text/plain"}, {"csv", "text/csv"}, {"md", "text/markdown"},
    {"xml", "text/xml"}, {"json", "application/json"}, {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    /* images */
    {"svg", "image/svg+xml"}, {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
    {"gif", "image/gif"}, {"webp", "image/webp"}, {"avif", "image/avif"}, {"ico", "image/vnd.microsoft.icon"},
    /* fonts, media, binaries */
    {"woff", "font/woff"}, {"woff2", "font/woff2"}, {"ttf", "font/ttf"}, {"otf", "font/otf"},
    {"mp4", "video/mp4"}, {"webm", "video/webm"}, {"mp3", "audio/mpeg"}, {"ogg", "audio/ogg"},
    {"wav", "audio/wav"}, {"pdf", "application/pdf"}, {"wasm", "application/wasm"},
    {"zip", "application/zip"}, {"gz", "application/gzip"}, {"tar", "application/x-tar"},
};

const char *bn_static_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/'))
        return "application/octet-stream";
    for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++)
        if (strcasecmp(dot + 1, content_types[i].ext) == 0)
            return content_types[i].type;
    return "application/octet-stream";
}

/* ---- from the request path to a relative file path ---------------------------- */

/* Pops the next non-empty '/'-separated segment of *path (empty ones are skipped, as the router does). */
static bool next_segment(bn_str *path, bn_str *seg)
{
    while (path->len && path->ptr[0] == '/') {
        path->ptr++;
        path->len--;
    }
    if (!path->len)
        return false;
    const char *slash = memchr(path->ptr, '/', path->len);
    size_t n = slash ? (size_t)(slash - path->ptr) : path->len;
    *seg = bn_str_make(path->ptr, n);
    path->ptr += n;
    path->len -= n;
    return true;
}

/* The path after the segments of `at`, or BN_STR_NULL when the path is not under `at`. */
static bn_str strip_prefix(bn_str path, const char *at)
{
    bn_str prefix = bn_str_from_cstr(at), want, got;
    while (next_segment(&prefix, &want))
        if (!next_segment(&path, &got) || !bn_str_eq(want, got))
            return BN_STR_NULL;
    return path;
}

/* A decoded segment that could name something other than one entry of its directory. */
static bool segment_unsafe(bn_str s)
{
    return s.len == 0 || bn_str_eq(s, BN_STR(".")) || bn_str_eq(s, BN_STR("..")) || memchr(s.ptr, '/', s.len) ||
           memchr(s.ptr, '\\', s.len) || memchr(s.ptr, '\0', s.len);
}

static bool in_list(const char *const *list, bn_str name, bool prefix)
{
    for (; *list; list++) {
        size_t n = strlen(*list);
        if ((prefix ? name.len >= n : name.len == n) && memcmp(name.ptr, *list, n) == 0)
            return true;
    }
    return false;
}

static bool allowed(const bn_static_opts *o, bn_str first)
{
    if (!o->only && !o->only_matching)
        return true;
    return (o->only && in_list(o->only, first, false)) || (o->only_matching && in_list(o->only_matching, first, true));
}

/*
 * The decoded path relative to `from` ("css/app.css", in the arena), or NULL
 * when the request is not for this plug. Raises 404 for a segment that could
 * step out of its directory and 400 for a broken escape: such paths are
 * attacks or bugs, and must not reach the filesystem or the router.
 */
static const char *relative_path(bn_conn *c, const bn_static_opts *o)
{
    bn_str rest = strip_prefix(bn_conn_path(c), o->at), seg, dec;
    if (!rest.ptr || !next_segment(&rest, &seg))
        return NULL; /* not under `at`, or `at` itself (a directory) */
    bn_arena *a = bn_conn_arena(c);
    if ((o->only || o->only_matching) && (!bn__percent_decode(a, seg, false, &dec) || !allowed(o, dec)))
        return NULL; /* checked first so that paths left to the router are never refused here */
    bn_buf rel = BN_BUF_INIT;
    do {
        if (!bn__percent_decode(a, seg, false, &dec)) {
            bn_buf_free(&rel);
            bn_raise(c, 400, "static: malformed percent-encoding in the path");
        }
        if (segment_unsafe(dec)) {
            bn_buf_free(&rel);
            bn_raise(c, 404, "static: refused path segment");
        }
        if (rel.len)
            bn_buf_append(&rel, "/", 1);
        bn_buf_append_str(&rel, dec);
    } while (next_segment(&rest, &seg));
    const char *out = rel.len < PATH_MAX - 4 ? bn_arena_strndup(a, rel.data, rel.len) : NULL;
    bn_buf_free(&rel);
    return out;
}

/* ---- opening beneath `from` ----------------------------------------------------- */

/* Walks `rel` one segment at a time with O_NOFOLLOW: no symlink is followed at all. */
static int open_walk(int root, const char *rel, int flags)
{
    char path[PATH_MAX];
    size_t n = strlen(rel);
    if (n >= sizeof path)
        return -1;
    memcpy(path, rel, n + 1);
    int dir = root;
    char *seg = path;
    for (char *slash; (slash = strchr(seg, '/')); seg = slash + 1) {
        *slash = '\0';
        int next = openat(dir, seg, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir != root)
            close(dir);
        if (next < 0)
            return -1;
        dir = next;
    }
    int fd = openat(dir, seg, flags | O_NOFOLLOW);
    if (dir != root)
        close(dir);
    return fd;
}

/*
 * Opens `rel` (already free of "." and ".." segments) beneath the directory
 * `root`. openat2's RESOLVE_BENEATH makes the kernel refuse, atomically, any
 * resolution that leaves `root` (through a symlink, absolute or relative),
 * so there is no check-then-open race as with realpath and a prefix compare,
 * and in-tree symlinks still work. Without openat2 the fallback follows no
 * symlink at all, which is stricter but equally safe.
 */
static int open_beneath(int root, const char *rel)
{
    /* O_NONBLOCK: opening a FIFO planted in the tree must not block the loop thread. */
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (!bn__static_no_openat2) {
        struct open_how how = {.flags = (uint64_t)flags, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, root, rel, &how, sizeof how);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return (int)fd;
    }
    return open_walk(root, rel, flags);
}

/* Opens a regular file; -1 (nothing left open) for anything else. */
static int open_regular(int root, const char *rel, struct stat *st)
{
    int fd = open_beneath(root, rel);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- request headers ------------------------------------------------------------- */

/* False only for an explicit zero weight ("q=0", "q=0.000") among `params` (";q=0.5;x=y"). */
static bool weight_positive(bn_str params)
{
    bn_str p = params;
    while (p.len) {
        const char *semi = memchr(p.ptr, ';', p.len);
        size_t n = semi ? (size_t)(semi - p.ptr) : p.len;
        bn_str param = bn_str_trim(bn_str_make(p.ptr, n));
        p = semi ? bn_str_make(semi + 1, p.len - n - 1) : bn_str_make(p.ptr + n, 0);
        if (param.len < 2 || (param.ptr[0] != 'q' && param.ptr[0] != 'Q') || param.ptr[1] != '=')
            continue;
        bn_str q = bn_str_trim(bn_str_make(param.ptr + 2, param.len - 2));
        if (!q.len || q.ptr[0] != '0')
            return true;
        for (size_t i = 1; i < q.len; i++)
            if (q.ptr[i] != '0' && !(i == 1 && q.ptr[i] == '.'))
                return true;
        return false;
    }
    return true;
}

/* Whether Accept-Encoding takes gzip: named with q > 0, or through "*" when not named. */
static bool accepts_gzip(const bn_conn *c)
{
    bn_str list = bn_conn_req_header(c, BN_STR("accept-encoding")), el;
    int gzip = -1, any = -1; /* -1: not mentioned */
    while (list.ptr && bn_str_list_next(&list, &el)) {
        const char *semi = memchr(el.ptr, ';', el.len);
        size_t n = semi ? (size_t)(semi - el.ptr) : el.len;
        bn_str coding = bn_str_trim(bn_str_make(el.ptr, n));
        bool ok = weight_positive(bn_str_make(el.ptr + n, el.len - n));
        if (bn_str_eq_nocase(coding, BN_STR("gzip")) || bn_str_eq_nocase(coding, BN_STR("x-gzip")))
            gzip = ok;
        else if (bn_str_eq(coding, BN_STR("*")))
            any = ok;
    }
    return gzip >= 0 ? gzip : any > 0;
}

/* Parses an HTTP-date in any of the three forms RFC 9110 §5.6.7 makes recipients accept. */
static bool parse_http_date(bn_str s, time_t *out)
{
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* asctime */
    };
    char text[64];
    s = bn_str_trim(s);
    if (s.len >= sizeof text)
        return false;
    memcpy(text, s.ptr, s.len);
    text[s.len] = '\0';
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm = {0};
        const char *end = strptime(text, formats[i], &tm);
        if (end && *end == '\0') {
            *out = timegm(&tm);
            return *out != (time_t)-1;
        }
    }
    return false;
}

/* An entity tag without its weakness indicator. */
static bn_str opaque_tag(bn_str tag)
{
    return tag.len >= 2 && tag.ptr[0] == 'W' && tag.ptr[1] == '/' ? bn_str_make(tag.ptr + 2, tag.len - 2) : tag;
}

/* If-None-Match: "*" or any tag equal under weak comparison (RFC 9110 §8.8.3.2). */
static bool none_match_fails(bn_str list, bn_str etag)
{
    bn_str el;
    while (bn_str_list_next(&list, &el))
        if (bn_str_eq(el, BN_STR("*")) || bn_str_eq(opaque_tag(el), etag))
            return true;
    return false;
}

/* GET/HEAD conditionals: true when the client's copy is current (answer 304). */
static bool not_modified(const bn_conn *c, bn_str etag, time_t mtime)
{
    bn_str inm = bn_conn_req_header(c, BN_STR("if-none-match"));
    if (inm.ptr) /* when present, If-Modified-Since is ignored (RFC 9110 §13.1.3) */
        return none_match_fails(inm, etag);
    bn_str ims = bn_conn_req_header(c, BN_STR("if-modified-since"));
    time_t since;
    return ims.ptr && parse_http_date(ims, &since) && mtime <= since;
}

/* If-Range: a strong match of the ETag or exactly the Last-Modified date (RFC 9110 §13.1.5). */
static bool if_range_holds(const bn_conn *c, bn_str etag, time_t mtime)
{
    bn_str v = bn_conn_req_header(c, BN_STR("if-range"));
    if (!v.ptr)
        return true;
    v = bn_str_trim(v);
    if ((v.len && v.ptr[0] == '"') || (v.len >= 2 && v.ptr[0] == 'W' && v.ptr[1] == '/'))
        return bn_str_eq(v, etag); /* a weak tag never matches strongly */
    time_t t;
    return parse_http_date(v, &t) && t == mtime;
}

typedef enum { RANGE_NONE, RANGE_PART, RANGE_UNSATISFIABLE } range_kind;

/* One range-spec of a byte range set against a representation of `size` bytes. */
static range_kind range_spec(bn_str spec, uint64_t size, uint64_t *off, uint64_t *len)
{
    const char *dash = memchr(spec.ptr, '-', spec.len);
    if (!dash)
        return RANGE_NONE;
    bn_str first = bn_str_trim(bn_str_make(spec.ptr, (size_t)(dash - spec.ptr)));
    bn_str last = bn_str_trim(bn_str_make(dash + 1, spec.len - (size_t)(dash - spec.ptr) - 1));
    uint64_t a, b;
    if (!first.len) { /* suffix: the last b bytes */
        if (!bn_str_to_u64(last, &b))
            return RANGE_NONE;
        if (b == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        *len = b < size ? b : size;
        *off = size - *len;
        return RANGE_PART;
    }
    if (!bn_str_to_u64(first, &a) || (last.len && (!bn_str_to_u64(last, &b) || b < a)))
        return RANGE_NONE; /* invalid: the whole Range header is ignored */
    if (a >= size)
        return RANGE_UNSATISFIABLE;
    uint64_t end = !last.len || b >= size ? size - 1 : b;
    *off = a;
    *len = end - a + 1;
    return RANGE_PART;
}

/* The Range header: a single byte range is honoured; several get the whole file (RFC 9110 §14.2). */
static range_kind parse_range(bn_str h, uint64_t size, uint64_t *off, uint64_t *len)
{
    h = bn_str_trim(h);
    if (h.len < 6 || !bn_str_eq_nocase(bn_str_make(h.ptr, 6), BN_STR("bytes=")))
        return RANGE_NONE;
    bn_str set = bn_str_make(h.ptr + 6, h.len - 6), spec, more;
    if (!bn_str_list_next(&set, &spec) || bn_str_list_next(&set, &more))
        return RANGE_NONE;
    return range_spec(spec, size, off, len);
}

/* Whether the query string has a `vsn` parameter (a digested, never-changing asset). */
static bool vsn_request(const bn_conn *c)
{
    bn_str q = bn_conn_query(c);
    while (q.len) {
        const char *amp = memchr(q.ptr, '&', q.len);
        size_t n = amp ? (size_t)(amp - q.ptr) : q.len;
        if ((n == 3 || (n > 3 && q.ptr[3] == '=')) && memcmp(q.ptr, "vsn", 3) == 0)
            return true;
        q = amp ? bn_str_make(amp + 1, q.len - n - 1) : bn_str_make(q.ptr + n, 0);
    }
    return false;
}

/* ---- the response ------------------------------------------------------------------ */

/* A strong-looking validator from size and mtime (ns): changes whenever the file does. */
static void make_etag(const struct stat *st, char out[20])
{
    uint64_t words[2] = {(uint64_t)st->st_size,
                         (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec};
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    const unsigned char *p = (const unsigned char *)words;
    for (size_t i = 0; i < sizeof words; i++)
        h = (h ^ p[i]) * 1099511628211u;
    static const char hex[] = "0123456789abcdef";
    out[0] = '"';
    for (int i = 0; i < 16; i++)
        out[1 + i] = hex[(h >> (60 - 4 * i)) & 15];
    out[17] = '"';
    out[18] = '\0';
}

static void put_header(bn_conn *c, const char *name, const char *value)
{
    bn_conn_put_resp_header(c, bn_str_from_cstr(name), bn_str_from_cstr(value));
}

static void put_extra_headers(bn_conn *c, const char *const *headers)
{
    for (; headers && *headers; headers++) {
        const char *colon = strchr(*headers, ':');
        if (!colon) {
            bn_error("static: header \"%s\" is not \"name: value\"", *headers);
            continue;
        }
        bn_conn_put_resp_header(c, bn_str_make(*headers, (size_t)(colon - *headers)),
                                bn_str_trim(bn_str_from_cstr(colon + 1)));
    }
}

/* The headers every answer about this file carries, 304 included (RFC 9110 §15.4.5). */
static void put_file_headers(bn_conn *c, const bn_static_opts *o, const char *etag, time_t mtime)
{
    char date[30];
    bn_http_date_format((int64_t)mtime, date);
    const char *cc = vsn_request(c) ? o->cache_control_for_vsn_requests ? o->cache_control_for_vsn_requests
                                                                         : DEFAULT_VSN_CACHE_CONTROL
                     : o->cache_control_for_etags ? o->cache_control_for_etags
                                                  : DEFAULT_CACHE_CONTROL;
    put_header(c, "cache-control", cc);
    put_header(c, "etag", etag);
    put_header(c, "last-modified", date);
    put_header(c, "accept-ranges", "bytes");
    if (o->gzip)
        put_header(c, "vary", "accept-encoding");
    put_extra_headers(c, o->headers);
}

/* Sends the open file `fd` (owned from here on) as the answer to this request. */
static void serve(bn_conn *c, const bn_static_opts *o, const char *rel, int fd, const struct stat *st, bool gzipped)
{
    char etag[20];
    make_etag(st, etag);
    time_t mtime = st->st_mtim.tv_sec;
    put_file_headers(c, o, etag, mtime);
    if (not_modified(c, bn_str_from_cstr(etag), mtime)) {
        close(fd);
        bn_conn_send_resp(c, 304, BN_STR(""));
        return;
    }
    uint64_t size = (uint64_t)st->st_size, off = 0, len = size;
    bn_str range = bn_conn_req_header(c, BN_STR("range"));
    range_kind kind = RANGE_NONE;
    if (range.ptr && bn_conn_method_id(c) == BN_METHOD_GET && !gzipped &&
        if_range_holds(c, bn_str_from_cstr(etag), mtime))
        kind = parse_range(range, size, &off, &len);
    if (kind == RANGE_UNSATISFIABLE) {
        close(fd);
        put_header(c, "content-range", bn_arena_printf(bn_conn_arena(c), "bytes */%llu", (unsigned long long)size));
        bn_conn_send_resp(c, 416, BN_STR(""));
        return;
    }
    bn_conn_put_resp_content_type(c, bn_static_content_type(rel));
    if (gzipped)
        put_header(c, "content-encoding", "gzip");
    if (kind == RANGE_PART)
        put_header(c, "content-range",
                   bn_arena_printf(bn_conn_arena(c), "bytes %llu-%llu/%llu", (unsigned long long)off,
                                   (unsigned long long)(off + len - 1), (unsigned long long)size));
    bn_conn_send_file_part(c, kind == RANGE_PART ? 206 : 200, fd, off, len);
}

/* Opens the file to send: the .gz twin when it is wanted and exists, else `rel` itself. */
static int open_variant(bn_conn *c, const bn_static_opts *o, int root, const char *rel, struct stat *st,
                        bool *gzipped)
{
    int fd = open_regular(root, rel, st);
    *gzipped = false;
    bool ranged = bn_conn_method_id(c) == BN_METHOD_GET && bn_conn_req_header(c, BN_STR("range")).ptr;
    if (fd < 0 || !o->gzip || ranged || !accepts_gzip(c))
        return fd;
    struct stat gz_st;
    int gz = open_regular(root, bn_arena_printf(bn_conn_arena(c), "%s.gz", rel), &gz_st);
    if (gz < 0)
        return fd;
    close(fd);
    *st = gz_st;
    *gzipped = true;
    return gz;
}

void bn_plug_static(bn_conn *c, const void *opts)
{
    const bn_static_opts *o = opts;
    bn_method m = bn_conn_method_id(c);
    if (m != BN_METHOD_GET && m != BN_METHOD_HEAD)
        return;
    const char *rel = relative_path(c, o); /* may raise: nothing is open yet */
    if (!rel)
        return;
    int root = open(o->from, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        bn_error("static: cannot open directory %s: %s", o->from, strerror(errno));
        return;
    }
    struct stat st;
    bool gzipped;
    int fd = open_variant(c, o, root, rel, &st, &gzipped);
    close(root);
    if (fd < 0)
        return; /* missing, a directory, or outside `from`: the router decides */
    serve(c, o, rel, fd, &st, gzipped);
    bn_conn_halt(c);
}
