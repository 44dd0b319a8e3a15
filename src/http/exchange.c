/*
 * bn_conn: the request a handler reads and the response it writes.
 * A response is serialised straight into the connection's output queue.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http/http_internal.h"

bn_conn *bn__exchange_new(bn_http_conn *hc)
{
    bn_conn *c = bn_arena_alloc(&hc->arena, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->hc = hc;
    c->resp_tail = &c->resp_headers;
    return c;
}

/* ---- request accessors -------------------------------------------------- */

bn_str bn_conn_method(const bn_conn *c) { return c->req.method; }
bn_method bn_conn_method_id(const bn_conn *c) { return c->req.method_id; }
bn_str bn_conn_path(const bn_conn *c) { return c->req.path; }
bn_str bn_conn_query(const bn_conn *c) { return c->req.query; }
int bn_conn_http_minor(const bn_conn *c) { return c->req.version_minor; }
bn_str bn_conn_body(const bn_conn *c) { return c->body; }
bn_arena *bn_conn_arena(bn_conn *c) { return &c->hc->arena; }

bn_str bn_conn_req_header(const bn_conn *c, bn_str name)
{
    for (size_t i = 0; i < c->req.nheaders; i++)
        if (bn_str_eq_nocase(c->req.headers[i].name, name))
            return c->req.headers[i].value;
    return BN_STR_NULL;
}

const bn_header *bn_conn_req_headers(const bn_conn *c, size_t *count)
{
    *count = c->req.nheaders;
    return c->req.headers;
}

const char *bn_conn_remote_ip(const bn_conn *c)
{
    bn_conn *m = (bn_conn *)c;
    if (m->remote_ip)
        return m->remote_ip;
    char text[INET6_ADDRSTRLEN] = "unknown";
    const bn_peer_addr *peer = &c->hc->peer;
    if (peer->sa.sa_family == AF_INET)
        inet_ntop(AF_INET, &peer->in.sin_addr, text, sizeof text);
    else if (peer->sa.sa_family == AF_INET6)
        inet_ntop(AF_INET6, &peer->in6.sin6_addr, text, sizeof text);
    m->remote_ip = bn_arena_strndup(&c->hc->arena, text, strlen(text));
    return m->remote_ip;
}

/* Compared as integers: `lo` may be a buffer that realloc() just freed. */
static void shift(bn_str *s, const char *lo, size_t len, ptrdiff_t delta)
{
    uintptr_t p = (uintptr_t)s->ptr, base = (uintptr_t)lo;
    if (s->ptr && p >= base && p - base < len)
        s->ptr = (const char *)(p + (uintptr_t)delta);
}

void bn__exchange_rebase(bn_conn *c, const char *lo, size_t len, ptrdiff_t delta)
{
    bn_http_request *r = &c->req;
    bn_str *slices[] = {&r->method, &r->target, &r->path, &r->query, &r->host, &r->upgrade, &c->body};
    for (size_t i = 0; i < BN_ARRAY_LEN(slices); i++)
        shift(slices[i], lo, len, delta);
    for (size_t i = 0; i < r->nheaders; i++) {
        shift(&r->headers[i].name, lo, len, delta);
        shift(&r->headers[i].value, lo, len, delta);
    }
}

/* ---- response ----------------------------------------------------------- */

void bn_conn_put_status(bn_conn *c, int status) { c->status = status; }

bn_str bn_conn_resp_header(const bn_conn *c, bn_str name)
{
    for (const bn_resp_header *h = c->resp_headers; h; h = h->next)
        if (bn_str_eq_nocase(h->name, name))
            return h->value;
    return BN_STR_NULL;
}
bool bn_conn_sent(const bn_conn *c) { return c->sent; }
int bn_conn_status(const bn_conn *c) { return c->status; }
void bn_conn_close_after(bn_conn *c) { c->close_after = true; }

/* Which bytes may appear in a response header name (a token) and value. */
enum { HDR_NAME = 1, HDR_VALUE = 2 };
#define TSPECIAL(c)                                                                                                    \
    ((c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' || \
     (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define TCHAR(c) (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || TSPECIAL(c))
#define HC(c) ((TCHAR(c) ? HDR_NAME : 0) | ((c) == '\t' || ((c) >= ' ' && (c) != 0x7F) ? HDR_VALUE : 0))
#define HC4(c) HC(c), HC(c + 1), HC(c + 2), HC(c + 3)
#define HC16(c) HC4(c), HC4(c + 4), HC4(c + 8), HC4(c + 12)
static const uint8_t hdr_class[256] = {
    HC16(0x00), HC16(0x10), HC16(0x20), HC16(0x30), HC16(0x40), HC16(0x50), HC16(0x60), HC16(0x70),
    HC16(0x80), HC16(0x90), HC16(0xA0), HC16(0xB0), HC16(0xC0), HC16(0xD0), HC16(0xE0), HC16(0xF0),
};

/* A header that would break the response framing (response splitting) is refused. */
static bool header_ok(bn_str name, bn_str value)
{
    if (name.len == 0)
        return false;
    uint8_t name_ok = HDR_NAME, value_ok = HDR_VALUE;
    for (size_t i = 0; i < name.len; i++)
        name_ok &= hdr_class[(unsigned char)name.ptr[i]];
    for (size_t i = 0; i < value.len; i++)
        value_ok &= hdr_class[(unsigned char)value.ptr[i]];
    return name_ok && value_ok;
}

void bn_conn_put_resp_header(bn_conn *c, bn_str name, bn_str value)
{
    if (!header_ok(name, value)) {
        bn_error("%.*s %.*s: refusing response header \"%.*s\" with a control character or bad name",
                 BN_STR_ARG(c->req.method), BN_STR_ARG(c->req.path), (int)BN_MIN(name.len, 64), name.ptr);
        return;
    }
    /* One allocation for the node and both copies. */
    bn_resp_header *h = bn_arena_alloc(&c->hc->arena, sizeof(*h) + name.len + value.len);
    char *copy = (char *)(h + 1);
    memcpy(copy, name.ptr, name.len);
    memcpy(copy + name.len, value.ptr, value.len);
    h->next = NULL;
    h->name = bn_str_make(copy, name.len);
    h->value = bn_str_make(copy + name.len, value.len);
    *c->resp_tail = h;
    c->resp_tail = &h->next;
    if (name.len == 4 && bn_str_eq_nocase(name, BN_STR("date")))
        c->user_date = true;
}

/* The Date value, and the server + date header lines ready to copy, rebuilt
 * once a second per thread. */
static _Thread_local struct {
    int64_t sec;
    char lines[64]; /* "server: bennu\r\ndate: <IMF-fixdate>\r\n" */
} date_cache = {-1, ""};

#define SERVER_LINE "server: bennu\r\n"
#define SERVER_LINE_LEN (sizeof(SERVER_LINE) - 1)
#define DATE_OFFSET (SERVER_LINE_LEN + 6)
#define LINES_LEN (DATE_OFFSET + 29 + 2)

static void date_refresh(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != date_cache.sec) {
        date_cache.sec = ts.tv_sec;
        memcpy(date_cache.lines, SERVER_LINE "date: ", DATE_OFFSET);
        bn_http_date_format(ts.tv_sec, date_cache.lines + DATE_OFFSET);
        memcpy(date_cache.lines + DATE_OFFSET + 29, "\r\n", 3);
    }
}

const char *bn__http_date(void)
{
    static _Thread_local char text[30];
    date_refresh();
    memcpy(text, date_cache.lines + DATE_OFFSET, 29);
    text[29] = '\0';
    return text;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Whether the connection stays open after this exchange. */
static bool keeps_alive(const bn_conn *c)
{
    return c->req.keep_alive && !c->close_after && !c->hc->thr->draining;
}

/* Writes status line and headers; the body (if any) follows. */
static void write_head(bn_conn *c, int status, uint64_t content_length)
{
    size_t need = 256;
    for (bn_resp_header *h = c->resp_headers; h; h = h->next)
        need += h->name.len + h->value.len + 4;
    char *start = bn__out_reserve(c->hc, need), *p = start;
    const char *reason = bn_http_reason(status);
    p = put(p, "HTTP/1.1 ", 9);
    p = put_u64(p, (uint64_t)status);
    *p++ = ' ';
    p = put(p, reason, strlen(reason));
    p = put(p, "\r\n", 2);
    date_refresh();
    p = put(p, date_cache.lines, c->user_date ? SERVER_LINE_LEN : LINES_LEN);
    /* 1xx and 204 carry no body and no Content-Length (RFC 9110 §8.6). */
    if (content_length == BN_CHUNKED) {
        if (c->req.version_minor >= 1) /* 1.0 clients read until the close instead */
            p = put(p, "transfer-encoding: chunked\r\n", 28);
    } else if (status >= 200 && status != 204 && status != 304) {
        p = put(p, "content-length: ", 16);
        p = put_u64(p, content_length);
        p = put(p, "\r\n", 2);
    }
    for (bn_resp_header *h = c->resp_headers; h; h = h->next) {
        p = put(p, h->name.ptr, h->name.len);
        p = put(p, ": ", 2);
        p = put(p, h->value.ptr, h->value.len);
        p = put(p, "\r\n", 2);
    }
    if (!keeps_alive(c))
        p = put(p, "connection: close\r\n", 19);
    else if (c->req.version_minor == 0)
        p = put(p, "connection: keep-alive\r\n", 24);
    p = put(p, "\r\n", 2);
    bn__out_commit(c->hc, (size_t)(p - start));
}

static bool body_allowed(const bn_conn *c, int status)
{
    return c->req.method_id != BN_METHOD_HEAD && status >= 200 && status != 204 && status != 304;
}

/* Marks the response sent, settles its status and runs the before-send
 * callbacks (which may still change status and headers). */
static bool claim_send(bn_conn *c, int status)
{
    if (c->sent) {
        bn_error("%.*s %.*s: a response was already sent; ignoring the second one", BN_STR_ARG(c->req.method),
                 BN_STR_ARG(c->req.path));
        return false;
    }
    c->sent = true;
    c->status = status ? status : c->status ? c->status : 200;
    /* Each callback is taken off the list before it runs: none runs twice, and
     * if one raises, the error page still runs the ones not yet run. */
    c->in_before_send = true;
    while (c->before_send) {
        bn_callback *cb = c->before_send;
        c->before_send = cb->next;
        cb->fn(c, cb->arg);
    }
    c->in_before_send = false;
    return true;
}

void bn_conn_send_resp(bn_conn *c, int status, bn_str body)
{
    if (!claim_send(c, status))
        return;
    write_head(c, c->status, body.len);
    if (body_allowed(c, c->status))
        bn__out_append(c->hc, body.ptr, body.len);
}

void bn_conn_send_chunked(bn_conn *c, int status)
{
    if (!claim_send(c, status))
        return;
    c->chunked = true;
    if (c->req.version_minor == 0)
        c->close_after = true; /* the body ends with the connection */
    write_head(c, c->status, BN_CHUNKED);
}

int bn_conn_chunk(bn_conn *c, bn_str data)
{
    if (!c->chunked) {
        bn_error("bn_conn_chunk without bn_conn_send_chunked");
        return -1;
    }
    if (data.len == 0 || !body_allowed(c, c->status))
        return bn__conn_flush_from_task(c->hc); /* an empty chunk would end the body */
    if (c->req.version_minor >= 1) {
        char size[24];
        int n = snprintf(size, sizeof size, "%zx\r\n", data.len);
        bn__out_append(c->hc, size, (size_t)n);
    }
    bn__out_append(c->hc, data.ptr, data.len);
    if (c->req.version_minor >= 1)
        bn__out_append(c->hc, "\r\n", 2);
    return bn__conn_flush_from_task(c->hc);
}

void bn_conn_register_before_send(bn_conn *c, void (*fn)(bn_conn *c, void *arg), void *arg)
{
    bn_callback *cb = bn_arena_alloc(&c->hc->arena, sizeof(*cb));
    *cb = (bn_callback){.next = c->before_send, .fn = fn, .arg = arg};
    c->before_send = cb; /* pushed in front: the last registered runs first */
}

void bn_conn_defer(bn_conn *c, void (*fn)(void *arg), void *arg)
{
    bn_callback *cb = bn_arena_alloc(&c->hc->arena, sizeof(*cb));
    *cb = (bn_callback){.next = c->deferred, .arg = arg, .deferred_fn = fn};
    c->deferred = cb;
}

void bn__exchange_run_deferred(bn_conn *c)
{
    for (bn_callback *cb = c->deferred; cb; cb = cb->next)
        cb->deferred_fn(cb->arg);
    c->deferred = NULL;
}

void bn_conn_put_private(bn_conn *c, const char *key, void *value)
{
    for (bn_private *p = c->privates; p; p = p->next)
        if (p->key == key || strcmp(p->key, key) == 0) {
            p->value = value;
            return;
        }
    bn_private *p = bn_arena_alloc(&c->hc->arena, sizeof(*p));
    *p = (bn_private){c->privates, key, value};
    c->privates = p;
}

void *bn_conn_private(const bn_conn *c, const char *key)
{
    for (const bn_private *p = c->privates; p; p = p->next)
        if (p->key == key || strcmp(p->key, key) == 0)
            return p->value;
    return NULL;
}

void bn_raise(bn_conn *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->raised = status >= 400 && status <= 599 ? status : 500;
    c->raise_message = bn_arena_strndup(&c->hc->arena, msg, strlen(msg));
    if (!c->catch_frame)
        bn_fatal("bn_raise(%d, %s) outside a request handler", status, msg);
    longjmp(*c->catch_frame, 1);
}

int bn_conn_raised(const bn_conn *c) { return c->raised; }
const char *bn_conn_raise_message(const bn_conn *c) { return c->raise_message; }

int bn_conn_send_file(bn_conn *c, int status, const char *path)
{
    if (c->sent)
        return -EALREADY;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    bn_conn_send_file_part(c, status, fd, 0, (uint64_t)st.st_size);
    return 0;
}

void bn_conn_send_file_part(bn_conn *c, int status, int fd, uint64_t offset, uint64_t length)
{
    if (!claim_send(c, status)) {
        close(fd);
        return;
    }
    write_head(c, c->status, length);
    if (body_allowed(c, c->status) && length > 0)
        bn__out_file(c->hc, fd, (off_t)offset, (size_t)length);
    else
        close(fd);
}

/* The plain-text error page used when the server has no error renderer. */
static void render_plain_error(bn_conn *c, int status, const char *message)
{
    (void)message; /* messages may hold internals: they go to the log, not the client */
    bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("text/plain; charset=utf-8"));
    const char *reason = bn_http_reason(status);
    char *body = bn_arena_printf(&c->hc->arena, "%s\n", reason);
    bn_conn_send_resp(c, status, bn_str_from_cstr(body));
}

/* After a jump from bn_raise: a raise from a before-send callback came before
 * the head was written, so the error page can still go out. */
static void caught(bn_conn *c, bool renderer_logs)
{
    if (c->in_before_send) {
        c->in_before_send = false;
        c->sent = false;
    }
    if (renderer_logs)
        return;
    if (c->raised >= 500)
        bn_error("%.*s %.*s: %d %s", BN_STR_ARG(c->req.method), BN_STR_ARG(c->req.path), c->raised,
                 c->raise_message);
    else
        bn_info("%.*s %.*s: %d %s", BN_STR_ARG(c->req.method), BN_STR_ARG(c->req.path), c->raised,
                c->raise_message);
}

void bn__exchange_run(bn_conn *c, bn_handler *handler, bn_error_renderer *render)
{
    jmp_buf frame;
    c->catch_frame = &frame;
    if (setjmp(frame) == 0)
        handler(c);
    else
        caught(c, render != NULL);
    if (!c->sent && !c->raised) {
        bn_error("%.*s %.*s: the handler returned without sending a response", BN_STR_ARG(c->req.method),
                 BN_STR_ARG(c->req.path));
        c->raised = 500;
        c->raise_message = "the handler returned without sending a response";
    }
    if (!c->sent) {
        /* A raise may have left half-built headers: the error page starts clean. */
        c->resp_headers = NULL;
        c->resp_tail = &c->resp_headers;
        c->user_date = false;
        if (setjmp(frame) == 0)
            (render ? render : render_plain_error)(c, c->raised, c->raise_message);
        else
            caught(c, false);
        if (!c->sent) /* the renderer raised or sent nothing */
            render_plain_error(c, c->raised ? c->raised : 500, NULL);
    }
    c->catch_frame = NULL;
}

void bn__exchange_finish(bn_conn *c)
{
    if (c->chunked && c->req.version_minor >= 1 && body_allowed(c, c->status))
        bn__out_append(c->hc, "0\r\n\r\n", 5); /* the last chunk */
    if (!keeps_alive(c))
        c->hc->close_after_flush = true;
}

void bn__http_write_error(bn_http_conn *hc, int status)
{
    char buf[512];
    const char *reason = bn_http_reason(status);
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nserver: bennu\r\ndate: %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     "content-length: %zu\r\nconnection: close\r\n\r\n%s\n",
                     status, reason, bn__http_date(), strlen(reason) + 1, reason);
    bn__out_append(hc, buf, (size_t)n);
    hc->close_after_flush = true;
}
