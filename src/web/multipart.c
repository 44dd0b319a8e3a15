/*
 * multipart/form-data bodies (RFC 7578 over RFC 2046): an incremental push
 * parser with per-part callbacks, and on top of it the params builder that
 * stores fields in the tree and files in temporary files [Plug.Parsers.MULTIPART].
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web/parsers.h"

enum {
    S_PREAMBLE,   /* before the first delimiter: discarded */
    S_DELIM_TAIL, /* just after "--boundary": "--" or padding + CRLF must follow */
    S_DASH1,      /* one '-' of a close delimiter seen */
    S_PAD,        /* transport padding (SP/HT) after a delimiter */
    S_CR,         /* CR of the delimiter line seen */
    S_HEADERS,
    S_BODY,
    S_DONE, /* after the close delimiter: the epilogue is ignored */
    S_ERROR,
};

/* ------------------------------------------------------------------------ */
/* Header-value parameters (Content-Type, Content-Disposition)               */

static bool is_tchar(unsigned char c)
{
    /* RFC 9110 token characters. */
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c && strchr(extra, c));
}

static bn_str skip_ows(bn_str s)
{
    while (s.len && (*s.ptr == ' ' || *s.ptr == '\t'))
        s.ptr++, s.len--;
    return s;
}

/*
 * Pops the next `; name=value` of `*s` (OWS allowed around each piece). A
 * quoted value is returned without its quotes but with its backslash escapes.
 * Returns 1, 0 at the end, -1 if malformed.
 */
static int next_param(bn_str *s, bn_str *name, bn_str *value, bool *quoted)
{
    bn_str r = skip_ows(*s);
    if (!r.len)
        return 0;
    if (*r.ptr != ';')
        return -1;
    r = skip_ows(bn_str_make(r.ptr + 1, r.len - 1));
    if (!r.len) {
        *s = r; /* a trailing ';' */
        return 0;
    }
    size_t n = 0;
    while (n < r.len && is_tchar((unsigned char)r.ptr[n]))
        n++;
    if (!n)
        return -1;
    *name = bn_str_make(r.ptr, n);
    r = skip_ows(bn_str_make(r.ptr + n, r.len - n));
    if (!r.len || *r.ptr != '=')
        return -1;
    r = skip_ows(bn_str_make(r.ptr + 1, r.len - 1));
    *quoted = r.len && *r.ptr == '"';
    if (*quoted) {
        size_t i = 1;
        while (i < r.len && r.ptr[i] != '"')
            i += r.ptr[i] == '\\' ? 2 : 1;
        if (i >= r.len)
            return -1;
        *value = bn_str_make(r.ptr + 1, i - 1);
        *s = bn_str_make(r.ptr + i + 1, r.len - i - 1);
        return 1;
    }
    n = 0;
    while (n < r.len && r.ptr[n] != ';')
        n++;
    *value = bn_str_trim(bn_str_make(r.ptr, n));
    *s = bn_str_make(r.ptr + n, r.len - n);
    return 1;
}

/* The media type or disposition type before the parameters; *rest starts at ';'. */
static bn_str main_value(bn_str v, bn_str *rest)
{
    const char *semi = v.len ? memchr(v.ptr, ';', v.len) : NULL;
    size_t n = semi ? (size_t)(semi - v.ptr) : v.len;
    *rest = bn_str_make(v.ptr + n, v.len - n);
    return bn_str_trim(bn_str_make(v.ptr, n));
}

static bool boundary_ok(bn_str b)
{
    if (b.len < 1 || b.len > 70 || b.ptr[b.len - 1] == ' ')
        return false;
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.ptr[i] < 0x20 || (unsigned char)b.ptr[i] > 0x7e)
            return false;
    return true;
}

bool bn__multipart_boundary(bn_str content_type, bn_str *boundary)
{
    bn_str rest, name, value;
    bool quoted;
    main_value(content_type, &rest);
    int r;
    while ((r = next_param(&rest, &name, &value, &quoted)) > 0) {
        if (!bn_str_eq_nocase(name, BN_STR("boundary")))
            continue;
        /* An escaped boundary would need a copy; no client sends one. */
        if (quoted && memchr(value.ptr, '\\', value.len))
            return false;
        if (!boundary_ok(value))
            return false;
        *boundary = value;
        return true;
    }
    return false;
}

/* Removes the backslash of \" and \\ in place (other backslashes are kept:
 * old browsers send Windows paths unescaped). */
static bn_str unescape(bn_str v)
{
    char *s = (char *)v.ptr;
    size_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (s[i] == '\\' && i + 1 < v.len && (s[i + 1] == '"' || s[i + 1] == '\\'))
            i++;
        s[n++] = s[i];
    }
    return bn_str_make(v.ptr, n);
}

/* RFC 8187 ext-value "UTF-8''%e2%82%ac.txt" decoded into `a`; false if malformed. */
static bool ext_value(bn_arena *a, bn_str v, bn_str *out)
{
    if (v.len < 7 || !bn_str_eq_nocase(bn_str_make(v.ptr, 5), BN_STR("utf-8")) || v.ptr[5] != '\'')
        return false;
    const char *quote = memchr(v.ptr + 6, '\'', v.len - 6);
    if (!quote)
        return false;
    size_t off = (size_t)(quote - v.ptr) + 1;
    return bn__percent_decode(a, bn_str_make(v.ptr + off, v.len - off), false, out);
}

static void parse_disposition(bn__multipart *p, bn_str v, bn__part_info *info)
{
    bn_str rest, name, value, ext = BN_STR_NULL;
    bool quoted;
    info->form_data = bn_str_eq_nocase(main_value(v, &rest), BN_STR("form-data"));
    while (next_param(&rest, &name, &value, &quoted) > 0) {
        if (quoted)
            value = unescape(value);
        if (bn_str_eq_nocase(name, BN_STR("name")) && !info->name.ptr)
            info->name = value;
        else if (bn_str_eq_nocase(name, BN_STR("filename")) && !info->filename.ptr)
            info->filename = value;
        else if (bn_str_eq_nocase(name, BN_STR("filename*")) && !ext.ptr)
            ext = value;
    }
    bn_str decoded;
    if (ext.ptr && ext_value(p->arena, ext, &decoded))
        info->filename = decoded;
}

/* ------------------------------------------------------------------------ */
/* The push parser                                                            */

int bn__multipart_fail(bn__multipart *p, const char *fmt, ...)
{
    if (p->state != S_ERROR) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, sizeof p->err, fmt, ap);
        va_end(ap);
        p->state = S_ERROR;
    }
    return -1;
}

void bn__multipart_init(bn__multipart *p, bn_arena *a, bn_str boundary, const bn_params_limits *lim,
                        const bn__multipart_callbacks *cb, void *ud)
{
    memset(p, 0, sizeof *p);
    p->ud = ud;
    p->cb = cb;
    p->arena = a;
    p->lim = bn__params_limits_resolve(lim);
    p->delim_len = 4 + boundary.len;
    p->delim = bn_arena_alloc(a, p->delim_len + 1);
    memcpy(p->delim, "\r\n--", 4);
    memcpy(p->delim + 4, boundary.ptr, boundary.len);
    p->delim[p->delim_len] = '\0';
    p->hdr = bn_arena_alloc(a, p->lim.max_part_header);
    p->state = S_PREAMBLE;
    /* The first delimiter may open the body: act as if its CRLF was seen. */
    p->matched = 2;
}

/* Runs a callback's verdict: a refusal without a message still stops the parse. */
static int verdict(bn__multipart *p, int r)
{
    if (r == 0)
        return 0;
    if (p->state != S_ERROR)
        bn__multipart_fail(p, "multipart parse stopped");
    return -1;
}

static int emit(bn__multipart *p, const char *data, size_t len)
{
    if (p->state != S_BODY || !len || !p->cb || !p->cb->on_part_data)
        return 0;
    return verdict(p, p->cb->on_part_data(p, data, len));
}

/*
 * Scans preamble or body bytes for the delimiter, passing the data of a body
 * on. A partial match at the end of the input is held back (it is a prefix of
 * the delimiter, so nothing needs copying) and passed on if it fails later.
 * The boundary has no CR, so after a mismatch a new match can only start at
 * the byte that broke the old one. Returns the bytes consumed, or -1.
 */
static ssize_t scan(bn__multipart *p, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (p->matched == 0) {
            const char *cr = memchr(data + i, '\r', len - i);
            size_t end = cr ? (size_t)(cr - data) : len;
            if (emit(p, data + i, end - i) < 0)
                return -1;
            i = end;
            if (cr) {
                p->matched = 1;
                i++;
            }
        } else if (data[i] == p->delim[p->matched]) {
            i++;
            if (++p->matched == p->delim_len) {
                p->matched = 0;
                if (p->state == S_BODY && p->cb && p->cb->on_part_end && verdict(p, p->cb->on_part_end(p)) < 0)
                    return -1;
                p->state = S_DELIM_TAIL;
                return (ssize_t)i;
            }
        } else {
            size_t held = p->matched;
            p->matched = 0;
            if (emit(p, p->delim, held) < 0)
                return -1;
        }
    }
    return (ssize_t)i;
}

static bool is_header_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

/* Checks one complete header line (without CRLF). */
static int check_header_line(bn__multipart *p, bn_str line)
{
    if (*line.ptr == ' ' || *line.ptr == '\t')
        return bn__multipart_fail(p, "folded part header lines are not supported");
    size_t n = 0;
    while (n < line.len && is_tchar((unsigned char)line.ptr[n]))
        n++;
    if (!n || n == line.len || line.ptr[n] != ':')
        return bn__multipart_fail(p, "malformed part header line");
    for (size_t i = n; i < line.len; i++)
        if (is_header_ctl((unsigned char)line.ptr[i]))
            return bn__multipart_fail(p, "control character in a part header");
    return 0;
}

/* The part's header block is complete: pick the fields we know, start the body. */
static int begin_part(bn__multipart *p)
{
    bn__part_info info = {BN_STR_NULL, BN_STR_NULL, BN_STR_NULL, false};
    bool seen_disposition = false;
    size_t pos = 0;
    while (pos < p->line_start) {
        const char *nl = memchr(p->hdr + pos, '\n', p->line_start - pos);
        bn_str line = bn_str_make(p->hdr + pos, (size_t)(nl - p->hdr) - pos - 1);
        pos = (size_t)(nl - p->hdr) + 1;
        const char *colon = memchr(line.ptr, ':', line.len);
        bn_str name = bn_str_make(line.ptr, (size_t)(colon - line.ptr));
        bn_str value = bn_str_trim(bn_str_make(colon + 1, line.len - name.len - 1));
        if (bn_str_eq_nocase(name, BN_STR("content-disposition")) && !seen_disposition) {
            seen_disposition = true;
            parse_disposition(p, value, &info);
        } else if (bn_str_eq_nocase(name, BN_STR("content-type")) && !info.content_type.ptr) {
            info.content_type = value;
        }
    }
    p->state = S_BODY;
    p->matched = 0;
    if (p->cb && p->cb->on_part_begin)
        return verdict(p, p->cb->on_part_begin(p, &info));
    return 0;
}

/* One byte of a part's header block. */
static int header_byte(bn__multipart *p, char c)
{
    if (p->hdr_len == p->lim.max_part_header)
        return bn__multipart_fail(p, "part headers larger than %zu bytes", p->lim.max_part_header);
    size_t line_len = p->hdr_len - p->line_start; /* before this byte */
    bool after_cr = line_len && p->hdr[p->hdr_len - 1] == '\r';
    p->hdr[p->hdr_len++] = c;
    if (c == '\n') {
        if (!after_cr)
            return bn__multipart_fail(p, "part header line not ended by CRLF");
        if (line_len == 1)
            return begin_part(p);
        if (check_header_line(p, bn_str_make(p->hdr + p->line_start, line_len - 1)) < 0)
            return -1;
        p->line_start = p->hdr_len;
        return 0;
    }
    if (after_cr)
        return bn__multipart_fail(p, "part header line not ended by CRLF");
    if (c != '\r' && line_len + 1 > p->lim.max_header_line)
        return bn__multipart_fail(p, "part header line longer than %zu bytes", p->lim.max_header_line);
    return 0;
}

static int start_part(bn__multipart *p)
{
    if (++p->parts > p->lim.max_parts)
        return bn__multipart_fail(p, "too many parts in multipart body (more than %zu)", p->lim.max_parts);
    p->state = S_HEADERS;
    p->hdr_len = p->line_start = 0;
    return 0;
}

/* One byte of the line after a delimiter: "--" closes, [SP/HT]* CRLF opens a part. */
static int delim_tail_byte(bn__multipart *p, char c)
{
    switch (p->state) {
    case S_DELIM_TAIL:
        if (c == '-') {
            p->state = S_DASH1;
            return 0;
        }
        /* fall through */
    case S_PAD:
        if (c == ' ' || c == '\t') {
            p->state = S_PAD;
            return 0;
        }
        if (c == '\r') {
            p->state = S_CR;
            return 0;
        }
        break;
    case S_DASH1:
        if (c == '-') {
            p->state = S_DONE;
            return 0;
        }
        break;
    case S_CR:
        if (c == '\n')
            return start_part(p);
        break;
    }
    return bn__multipart_fail(p, "malformed multipart boundary line");
}

int bn__multipart_feed(bn__multipart *p, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        switch (p->state) {
        case S_ERROR:
            return -1;
        case S_DONE:
            return 0;
        case S_PREAMBLE:
        case S_BODY: {
            ssize_t n = scan(p, data + i, len - i);
            if (n < 0)
                return -1;
            i += (size_t)n;
            break;
        }
        case S_HEADERS:
            if (header_byte(p, data[i++]) < 0)
                return -1;
            break;
        default:
            if (delim_tail_byte(p, data[i++]) < 0)
                return -1;
            break;
        }
    }
    return p->state == S_ERROR ? -1 : 0;
}

int bn__multipart_finish(bn__multipart *p)
{
    switch (p->state) {
    case S_DONE:
        return 0;
    case S_ERROR:
        return -1;
    case S_PREAMBLE:
        return bn__multipart_fail(p, "no multipart boundary found in the body");
    default:
        return bn__multipart_fail(p, "multipart body ends before its final boundary");
    }
}

/* ------------------------------------------------------------------------ */
/* Uploads                                                                    */

void bn__uploads_cleanup(bn__uploads *u)
{
    for (size_t i = 0; i < u->len; i++) {
        unlink(u->items[i].path);
        free(u->items[i].path);
    }
    free(u->items);
    *u = (bn__uploads)BN__UPLOADS_INIT;
}

/* Drops (and unlinks) the uploads from index `from` on. */
static void uploads_truncate(bn__uploads *u, size_t from)
{
    while (u->len > from) {
        bn__upload *up = &u->items[--u->len];
        unlink(up->path);
        free(up->path);
    }
}

static bn__upload *uploads_push(bn__uploads *u)
{
    if (u->len == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 4;
        u->items = bn_xrealloc(u->items, u->cap * sizeof *u->items);
    }
    bn__upload *up = &u->items[u->len++];
    memset(up, 0, sizeof *up);
    return up;
}

static int temp_file(char **path)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    size_t n = strlen(dir) + sizeof "/bennu-upload-XXXXXX";
    *path = bn_xmalloc(n);
    snprintf(*path, n, "%s/bennu-upload-XXXXXX", dir);
    int fd = mkostemp(*path, O_CLOEXEC); /* mode 0600 */
    if (fd < 0) {
        int e = errno;
        free(*path);
        *path = NULL;
        errno = e;
    }
    return fd;
}

static bool write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* multipart params                                                           */

typedef struct form {
    bn_arena *a;
    bn_value *into;
    bn__uploads *uploads;
    bn_params_limits lim;
    enum { PART_SKIP, PART_FIELD, PART_FILE } kind;
    bn_str name; /* in the arena */
    bn_buf field;
    size_t up_index; /* of the current file's upload (items may move on a push) */
    int fd;
    size_t files;
    uint64_t files_total;
    bool too_large; /* failed on a size limit of the content (413, not 400) */
} form;

static bn_str arena_copy(bn_arena *a, bn_str s)
{
    return s.ptr ? bn_str_make(bn_arena_strndup(a, s.len ? s.ptr : "", s.len), s.len) : BN_STR_NULL;
}

static int begin_file(bn__multipart *p, form *f, const bn__part_info *info)
{
    char q[BN__QUOTE_SIZE];
    if (!f->uploads)
        return bn__multipart_fail(p, "file uploads are not accepted here (field %s)", bn__quote(f->name, q));
    if (++f->files > f->lim.max_files)
        return bn__multipart_fail(p, "too many files in multipart body (more than %zu)", f->lim.max_files);
    if (!bn__utf8_valid(info->filename))
        return bn__multipart_fail(p, "invalid UTF-8 in the filename of field %s", bn__quote(f->name, q));
    char *path;
    int fd = temp_file(&path);
    if (fd < 0)
        return bn__multipart_fail(p, "cannot create a temporary file for an upload: %s", strerror(errno));
    f->fd = fd;
    f->up_index = f->uploads->len;
    bn__upload *up = uploads_push(f->uploads);
    up->field = f->name;
    up->filename = arena_copy(f->a, info->filename);
    up->content_type = arena_copy(f->a, info->content_type);
    up->path = path;
    f->kind = PART_FILE;
    return 0;
}

static int on_begin(bn__multipart *p, const bn__part_info *info)
{
    form *f = p->ud;
    f->kind = PART_SKIP;
    /* Parts without a name (or not form-data) carry no param [RFC 7578 §4.2]. */
    if (!info->form_data || !info->name.len)
        return 0;
    char q[BN__QUOTE_SIZE];
    if (info->name.len > f->lim.max_key_len)
        return bn__multipart_fail(p, "parameter name longer than %zu bytes", f->lim.max_key_len);
    if (!bn__utf8_valid(info->name))
        return bn__multipart_fail(p, "invalid UTF-8 in multipart field name %s", bn__quote(info->name, q));
    f->name = arena_copy(f->a, info->name);
    if (!info->filename.ptr) {
        f->kind = PART_FIELD;
        f->field.len = 0;
        return 0;
    }
    /* An empty filename is a file input left empty: no upload, no param. */
    return info->filename.len ? begin_file(p, f, info) : 0;
}

static int file_data(bn__multipart *p, form *f, const char *data, size_t len)
{
    bn__upload *up = &f->uploads->items[f->up_index];
    uint64_t room_file = f->lim.max_file_size - up->size;
    uint64_t room_total = f->lim.max_files_total - f->files_total;
    char q[BN__QUOTE_SIZE];
    /* Report the limit the stream crosses first, whatever the chunking. */
    f->too_large = len > room_file || len > room_total; /* only read if we fail below */
    if (len > room_file && room_file <= room_total)
        return bn__multipart_fail(p, "uploaded file %s larger than %llu bytes", bn__quote(up->filename, q),
                                  (unsigned long long)f->lim.max_file_size);
    if (len > room_total)
        return bn__multipart_fail(p, "uploaded files larger than %llu bytes in total",
                                  (unsigned long long)f->lim.max_files_total);
    if (!write_all(f->fd, data, len))
        return bn__multipart_fail(p, "cannot write an upload to its temporary file: %s", strerror(errno));
    up->size += len;
    f->files_total += len;
    return 0;
}

static int on_data(bn__multipart *p, const char *data, size_t len)
{
    form *f = p->ud;
    if (f->kind == PART_FILE)
        return file_data(p, f, data, len);
    if (f->kind == PART_FIELD) {
        if (len > f->lim.max_field_size - f->field.len) {
            char q[BN__QUOTE_SIZE];
            f->too_large = true;
            return bn__multipart_fail(p, "multipart field %s larger than %zu bytes", bn__quote(f->name, q),
                                      f->lim.max_field_size);
        }
        bn_buf_append(&f->field, data, len);
    }
    return 0;
}

static bn_value *file_value(form *f, const bn__upload *up)
{
    bn_value *v = bn_value_object(f->a);
    bn_value_set(f->a, v, "filename", bn_value_string_ref(f->a, up->filename));
    bn_value_set(f->a, v, "content_type",
                 up->content_type.ptr ? bn_value_string_ref(f->a, up->content_type) : bn_value_null(f->a));
    bn_value_set(f->a, v, "path", bn_value_string(f->a, bn_str_from_cstr(up->path)));
    bn_value_set(f->a, v, "size", bn_value_int(f->a, (int64_t)up->size));
    return v;
}

static int on_end(bn__multipart *p)
{
    form *f = p->ud;
    bn_value *v;
    if (f->kind == PART_SKIP)
        return 0;
    if (f->kind == PART_FILE) {
        close(f->fd);
        f->fd = -1;
        v = file_value(f, &f->uploads->items[f->up_index]);
    } else {
        bn_str s = bn_str_make(f->field.data, f->field.len);
        if (!bn__utf8_valid(s)) {
            char q[BN__QUOTE_SIZE];
            return bn__multipart_fail(p, "invalid UTF-8 in multipart field %s", bn__quote(f->name, q));
        }
        v = bn_value_string(f->a, s);
    }
    f->kind = PART_SKIP;
    char msg[sizeof p->err];
    if (bn__params_put(f->a, f->into, f->name, v, &f->lim, msg, sizeof msg) < 0)
        return bn__multipart_fail(p, "%s", msg);
    return 0;
}

static const bn__multipart_callbacks form_callbacks = {on_begin, on_data, on_end};

/* A multipart body parsed into params as it arrives: the parser, the params
 * state, and where this body's uploads start in the list (for cleanup). */
struct bn__multipart_form {
    bn__multipart p;
    form f;
    size_t first_upload;
    bool done;
};

bn__multipart_form *bn__multipart_form_begin(bn_arena *a, bn_str content_type, bn_value *into, bn__uploads *uploads,
                                             const bn_params_limits *lim, char *err, size_t errlen)
{
    bn_str boundary;
    if (!bn__multipart_boundary(content_type, &boundary)) {
        if (err && errlen)
            snprintf(err, errlen, "missing or invalid boundary in the multipart Content-Type");
        return NULL;
    }
    bn__multipart_form *mf = bn_arena_alloc(a, sizeof(*mf));
    memset(mf, 0, sizeof(*mf));
    mf->f = (form){.a = a, .into = into, .uploads = uploads, .lim = bn__params_limits_resolve(lim), .fd = -1};
    mf->first_upload = uploads ? uploads->len : 0;
    bn__multipart_init(&mf->p, a, boundary, &mf->f.lim, &form_callbacks, &mf->f);
    return mf;
}

/* Ends the form: closes an open file, and on failure removes this body's uploads. */
static int form_end(bn__multipart_form *mf, int r, char *err, size_t errlen)
{
    if (mf->done)
        return r;
    mf->done = true;
    if (mf->f.fd >= 0)
        close(mf->f.fd);
    mf->f.fd = -1;
    bn_buf_free(&mf->f.field);
    if (r < 0) {
        if (mf->f.uploads)
            uploads_truncate(mf->f.uploads, mf->first_upload);
        if (err && errlen)
            snprintf(err, errlen, "%s", mf->p.err);
    }
    return r;
}

int bn__multipart_form_feed(bn__multipart_form *mf, const char *data, size_t len, char *err, size_t errlen)
{
    if (mf->done)
        return -1;
    int r = bn__multipart_feed(&mf->p, data, len);
    return r < 0 ? form_end(mf, r, err, errlen) : 0;
}

int bn__multipart_form_finish(bn__multipart_form *mf, char *err, size_t errlen)
{
    if (mf->done)
        return -1;
    return form_end(mf, bn__multipart_finish(&mf->p), err, errlen);
}

bool bn__multipart_form_too_large(const bn__multipart_form *mf) { return mf->f.too_large; }

void bn__multipart_form_abort(bn__multipart_form *mf)
{
    if (!mf->done)
        bn__multipart_fail(&mf->p, "the body ended early");
    form_end(mf, -1, NULL, 0);
}

int bn__parse_multipart(bn_arena *a, bn_str body, bn_str content_type, bn_value *into, bn__uploads *uploads,
                        const bn_params_limits *lim, char *err, size_t errlen)
{
    bn__multipart_form *mf = bn__multipart_form_begin(a, content_type, into, uploads, lim, err, errlen);
    if (!mf)
        return -1;
    if (bn__multipart_form_feed(mf, body.ptr, body.len, err, errlen) < 0)
        return -1;
    return bn__multipart_form_finish(mf, err, errlen);
}
