/*
 * The per-connection write queue. Responses of a batch are appended to the
 * same byte segment and leave in one writev(); files are sendfile()d in
 * order between byte segments. Segments (and their buffers) are recycled
 * through a per-thread cache so a connection holds none once flushed.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#include "http/http_internal.h"

#define SEG_CACHE_MAX 64
#define SEG_KEEP_CAP (64 * 1024) /* larger buffers are freed, not cached */
#define MAX_IOV 64

static bn_out_seg *seg_new(bn_http_thread *thr)
{
    bn_out_seg *s = thr->seg_cache;
    if (s) {
        thr->seg_cache = s->next;
        thr->seg_cache_len--;
    } else {
        s = bn_xcalloc(1, sizeof(*s));
    }
    s->next = NULL;
    s->buf.len = 0;
    s->shared = NULL;
    s->sent = 0;
    s->file_fd = -1;
    s->file_off = 0;
    s->file_left = 0;
    return s;
}

static void seg_free(bn_http_thread *thr, bn_out_seg *s)
{
    if (s->file_fd >= 0)
        close(s->file_fd);
    bn_shared_unref(s->shared);
    if (thr->seg_cache_len >= SEG_CACHE_MAX || s->buf.cap > SEG_KEEP_CAP) {
        bn_buf_free(&s->buf);
        free(s);
        return;
    }
    s->next = thr->seg_cache;
    thr->seg_cache = s;
    thr->seg_cache_len++;
}

void bn__out_cache_free(bn_http_thread *thr)
{
    while (thr->seg_cache) {
        bn_out_seg *s = thr->seg_cache;
        thr->seg_cache = s->next;
        bn_buf_free(&s->buf);
        free(s);
    }
    thr->seg_cache_len = 0;
}

static void push(bn_http_conn *hc, bn_out_seg *s)
{
    if (hc->out_tail)
        hc->out_tail->next = s;
    else
        hc->out_head = s;
    hc->out_tail = s;
}

static bn_out_seg *byte_tail(bn_http_conn *hc)
{
    bn_out_seg *t = hc->out_tail;
    if (!t || t->file_fd >= 0 || t->shared) {
        t = seg_new(hc->thr);
        push(hc, t);
    }
    return t;
}

char *bn__out_reserve(bn_http_conn *hc, size_t len) { return bn_buf_reserve(&byte_tail(hc)->buf, len); }

void bn__out_commit(bn_http_conn *hc, size_t len)
{
    hc->out_tail->buf.len += len;
    hc->out_pending += len;
}

void bn__out_append(bn_http_conn *hc, const void *data, size_t len)
{
    bn_buf_append(&byte_tail(hc)->buf, data, len);
    hc->out_pending += len;
}

void bn__out_file(bn_http_conn *hc, int fd, off_t off, size_t len)
{
    bn_out_seg *s = seg_new(hc->thr);
    s->file_fd = fd;
    s->file_off = off;
    s->file_left = len;
    push(hc, s);
    hc->out_pending += len;
}

void bn__out_shared(bn_http_conn *hc, bn_shared *sh, size_t off, size_t len)
{
    bn_out_seg *s = seg_new(hc->thr);
    s->shared = bn_shared_ref(sh);
    s->shared_ptr = sh->data + off;
    s->shared_len = len;
    push(hc, s);
    hc->out_pending += len;
}

/* The bytes of a byte or shared segment. */
static const char *seg_bytes(const bn_out_seg *s, size_t *len)
{
    *len = s->shared ? s->shared_len : s->buf.len;
    return s->shared ? s->shared_ptr : s->buf.data;
}

static void pop_head(bn_http_conn *hc)
{
    bn_out_seg *s = hc->out_head;
    hc->out_head = s->next;
    if (!hc->out_head)
        hc->out_tail = NULL;
    seg_free(hc->thr, s);
}

/* Advances the queue past `n` written bytes of consecutive byte segments. */
static void advance(bn_http_conn *hc, size_t n)
{
    hc->out_pending -= n;
    while (n > 0) {
        bn_out_seg *s = hc->out_head;
        size_t len;
        seg_bytes(s, &len);
        size_t left = len - s->sent;
        if (n < left) {
            s->sent += n;
            return;
        }
        n -= left;
        pop_head(hc);
    }
}

static int write_bytes(bn_http_conn *hc)
{
    struct iovec iov[MAX_IOV];
    int n = 0;
    for (bn_out_seg *s = hc->out_head; s && s->file_fd < 0 && n < MAX_IOV; s = s->next) {
        size_t len;
        const char *bytes = seg_bytes(s, &len);
        if (len == s->sent)
            continue;
        iov[n].iov_base = (char *)bytes + s->sent;
        iov[n].iov_len = len - s->sent;
        n++;
    }
    if (n == 0) { /* only empty byte segments before a file */
        while (hc->out_head && hc->out_head->file_fd < 0)
            pop_head(hc);
        return 1;
    }
    ssize_t w = writev(hc->io.fd, iov, n);
    if (w < 0)
        return errno == EAGAIN ? 0 : (errno == EINTR ? 1 : -1);
    advance(hc, (size_t)w);
    return 1;
}

static int write_file(bn_http_conn *hc)
{
    bn_out_seg *s = hc->out_head;
    if (s->file_left == 0) {
        pop_head(hc);
        return 1;
    }
    ssize_t w = sendfile(hc->io.fd, s->file_fd, &s->file_off, BN_MIN(s->file_left, (size_t)1 << 30));
    if (w < 0)
        return errno == EAGAIN ? 0 : (errno == EINTR ? 1 : -1);
    if (w == 0) { /* the file shrank under us: the response is now broken */
        return -1;
    }
    s->file_left -= (size_t)w;
    hc->out_pending -= (size_t)w;
    if (s->file_left == 0)
        pop_head(hc);
    return 1;
}

int bn__out_flush(bn_http_conn *hc)
{
    hc->want_write = false;
    while (hc->out_head) {
        int r = hc->out_head->file_fd >= 0 ? write_file(hc) : write_bytes(hc);
        if (r < 0)
            return -1;
        if (r == 0) {
            hc->want_write = true;
            return 0;
        }
    }
    return 0;
}

void bn__out_discard(bn_http_conn *hc)
{
    while (hc->out_head)
        pop_head(hc);
    hc->out_pending = 0;
}
