/*
 * Internal structures of the HTTP/1.1 server, shared by server.c (listeners,
 * threads, drain), connection.c (the per-connection state machine),
 * output.c (the write queue) and exchange.c (bn_conn).
 */
#ifndef BENNU_HTTP_INTERNAL_H
#define BENNU_HTTP_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/socket.h>

#include "bennu/http.h"
#include "http/parser.h"
#include "runtime/task.h"

#define BN_HTTP_SCRATCH_SIZE (64 * 1024) /* per-thread read buffer */
#define BN_HTTP_OUT_HIGH_WATER (1024 * 1024) /* stop parsing while this much output waits */
#define BN_HTTP_LINGER_MS 2000               /* read-and-discard time before closing after an error */

/* A TCP peer address: all a connection needs to keep (28 bytes, where a
 * sockaddr_storage would take 128 in every connection). */
typedef union bn_peer_addr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
} bn_peer_addr;

typedef struct bn_http_thread bn_http_thread;
typedef struct bn_http_conn bn_http_conn;

/* A listening socket watched by one loop thread. */
typedef struct bn_listener {
    bn_io io;
    bn_http_thread *thr;
} bn_listener;

/* One output segment: bytes (file_fd < 0), a region of a file, or bytes
 * shared by reference (`shared`: buf is unused). */
typedef struct bn_out_seg {
    struct bn_out_seg *next;
    bn_buf buf;
    bn_shared *shared;
    const char *shared_ptr;
    size_t shared_len;
    size_t sent;
    int file_fd;
    off_t file_off;
    size_t file_left;
} bn_out_seg;

/* A response header added by the handler, kept in the request arena. */
typedef struct bn_resp_header {
    struct bn_resp_header *next;
    bn_str name;
    bn_str value;
} bn_resp_header;

typedef struct bn_callback {
    struct bn_callback *next;
    void (*fn)(bn_conn *c, void *arg); /* before-send callbacks */
    void *arg;
    void (*deferred_fn)(void *arg); /* deferred ones */
} bn_callback;

typedef struct bn_private {
    struct bn_private *next;
    const char *key;
    void *value;
} bn_private;

/* The exchange a handler sees (one request and its response). Lives in the
 * connection's arena, which is reset once the response is serialised. */
struct bn_conn {
    bn_http_conn *hc;
    bn_http_request req;
    bn_str body;
    size_t raw_len; /* bytes of the whole request (head + raw body) in the input */
    int status;
    bn_resp_header *resp_headers;
    bn_resp_header **resp_tail;
    bool sent;
    bool close_after;
    bool user_date; /* the handler set its own Date header */
    bool chunked;   /* a streamed response (bn_conn_send_chunked) */
    bool in_before_send; /* running before-send callbacks: the head is not written yet */
    bn_callback *before_send;
    bn_callback *deferred; /* fn is called with (NULL, arg): see bn_conn_defer */
    bn_private *privates;
    jmp_buf *catch_frame; /* where bn_raise jumps; set while the handler runs */
    int raised;
    const char *raise_message;
    char *remote_ip;
    const bn_stream_handler *upgrade; /* bn_conn_upgrade: who takes the connection after this response */
    void *upgrade_user;
};

typedef enum bn_conn_state {
    CONN_IDLE,     /* between requests; keep-alive timer armed */
    CONN_HEAD,     /* part of a head received; header timer armed */
    CONN_BODY,     /* head parsed, waiting for the body; body timer armed */
    CONN_HANDLING, /* a handler task is suspended */
    CONN_LINGER,   /* error sent: discard input until EOF or timeout, then close */
    CONN_UPGRADED, /* a stream handler (WebSocket) owns the bytes; only the write timer runs */
    CONN_CLOSED,   /* fd closed; struct freed at the next loop turn */
} bn_conn_state;

struct bn_http_conn {
    bn_io io;
    bn_http_thread *thr;
    bn_list link; /* in thr->conns */
    bn_timer timer;
    bn_conn_state state;
    unsigned served;      /* requests answered on this connection */
    bool read_pending;    /* readable while we could not read (busy, backpressure) */
    bool peer_eof;        /* read() returned 0 */
    bool peer_hup;        /* epoll saw the peer's FIN: read until 0, not just until short */
    bool local;           /* an in-process request (bn_http_local_request): no socket */
    bn_task *write_waiter; /* a streaming handler waiting for the socket to drain */
    bool close_after_flush;
    bool want_write;      /* last write hit EAGAIN */
    bool write_timer;     /* the timer measures write progress, not the state */
    bn_buf in;            /* unparsed input that outlived a read; empty when idle */
    bn_out_seg *out_head, *out_tail;
    size_t out_pending;   /* bytes queued, not yet written */
    bn_arena arena;       /* request-scoped memory */
    bn_conn *ex;          /* exchange of the head parsed / being handled, or NULL */
    bn_http_chunked chunked;
    bn_body_sink *sink;   /* where ex's body goes as it arrives, if streamed */
    uint64_t sink_fed;    /* body bytes given to the sink so far */
    size_t head_len;      /* of ex, once parsed */
    bool continue_sent;   /* 100 Continue already written for ex */
    bn_peer_addr peer;
    const bn_stream_handler *stream; /* CONN_UPGRADED: the protocol handler and its state */
    void *stream_user;
    bool stream_paused;   /* the handler asked for no input */
    bool in_stream_cb;    /* inside on_data: closing waits until it returns */
    bool broken;          /* a write failed outside the loop's own path: close at the next turn */
};

struct bn_http_thread {
    bn_loop *loop;
    const bn_server_config *cfg;
    bn_http_parse_limits parse_limits;
    bn_listener *listeners;
    size_t nlisteners;
    bool accepting;
    bn_timer accept_retry; /* after EMFILE */
    bn_list conns;
    size_t nconns;
    bool draining;
    char *scratch;
    bn_header *parse_headers; /* room for max_headers during parsing */
    bn_out_seg *seg_cache;
    unsigned seg_cache_len;
    bn_msg drain_msg;
    pthread_t thread;
    struct bn_http_worker *worker;
};

#define BN_CHUNKED UINT64_MAX /* write_head: the length is not known */

/* connection.c */
/**
 * Writes the queued output now, from the handler's task, suspending it while
 * the client is slow. Returns 0, or -1 once the connection is gone.
 */
int bn__conn_flush_from_task(bn_http_conn *hc);
void bn__http_accept(bn_http_thread *thr, int fd, const struct sockaddr_storage *peer, socklen_t peer_len);
/** Begins a graceful drain of one thread: idle connections close, busy ones close after their response. */
void bn__http_drain_conns(bn_http_thread *thr);
/** Runs the bn_http_on_worker_start hooks (server.c, in each worker before its loops start). */
void bn__http_worker_started(void);
/** Called when a connection is finally freed; lets server.c notice the end of a drain. */
void bn__http_conn_gone(bn_http_thread *thr);

/* output.c */
void bn__out_append(bn_http_conn *hc, const void *data, size_t len);
char *bn__out_reserve(bn_http_conn *hc, size_t len); /* then bn__out_commit */
void bn__out_commit(bn_http_conn *hc, size_t len);
void bn__out_file(bn_http_conn *hc, int fd, off_t off, size_t len);
/** Queues sh->data[off..off+len) by reference (takes a reference). */
void bn__out_shared(bn_http_conn *hc, bn_shared *sh, size_t off, size_t len);
/** Writes what it can. Returns 0, or -1 if the connection broke (caller closes). */
int bn__out_flush(bn_http_conn *hc);
void bn__out_discard(bn_http_conn *hc);
void bn__out_cache_free(bn_http_thread *thr);

/* exchange.c */
bn_conn *bn__exchange_new(bn_http_conn *hc);
/** Runs the handler with a catch frame for bn_raise; renders an error if no response was sent. */
void bn__exchange_run(bn_conn *c, bn_handler *handler, bn_error_renderer *render);
/** Runs the bn_conn_defer callbacks (once). */
void bn__exchange_run_deferred(bn_conn *c);
/** Decides whether the connection stays open after this exchange's response. */
void bn__exchange_finish(bn_conn *c);
/** Adds `delta` to every slice of the request that points into [lo, lo+len). */
void bn__exchange_rebase(bn_conn *c, const char *lo, size_t len, ptrdiff_t delta);
/** new_base - old_base for pointers into different buffers (as integers: no UB). */
static inline ptrdiff_t bn__ptr_delta(const char *new_base, const char *old_base)
{
    return (ptrdiff_t)((uintptr_t)new_base - (uintptr_t)old_base);
}
/** Writes a complete error response (status, short text body, Connection: close). */
void bn__http_write_error(bn_http_conn *hc, int status);
/** The cached Date header value of this thread, refreshed once a second. */
const char *bn__http_date(void);

#endif
