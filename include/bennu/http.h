/*
 * bennu/http.h — the HTTP/1.1 server and the request/response exchange
 * (`bn_conn`) that handlers see.
 *
 * Each request is handed to the configured handler in a task on the loop
 * thread that owns the connection. The handler reads the request through the
 * bn_conn_* accessors and answers with bn_conn_send_resp or bn_conn_send_file.
 * It may suspend (bn_sleep, bn_wait_fd, ...) without stalling other
 * connections; pipelined requests on the same connection wait their turn, so
 * responses always leave in request order.
 *
 * Example (examples/hello.c):
 *
 *     static void hello(bn_conn *c) {
 *         bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("text/plain"));
 *         bn_conn_send_resp(c, 200, BN_STR("Hello, World!"));
 *     }
 *     int main(int argc, char **argv) {
 *         bn_server_config cfg;
 *         bn_server_config_defaults(&cfg, argv);   // PORT, BENNU_THREADS, ...
 *         cfg.handler = hello;
 *         return bn_server_run(&cfg);
 *     }
 */
#ifndef BENNU_HTTP_H
#define BENNU_HTTP_H

#include "bennu/core.h"
#include "bennu/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_conn bn_conn;
typedef void bn_handler(bn_conn *c);
/** Renders an error response for `status` (no response has been sent yet when it is called).
 *  A server with a renderer leaves logging the error to it. */
typedef void bn_error_renderer(bn_conn *c, int status, const char *message);

/* ------------------------------------------------------------------------ */
/* Server configuration                                                       */

/** Limits on what a client may send; each one has its own error status. */
typedef struct bn_http_limits {
    size_t max_request_line;       /* 8 KiB; longer -> 414 */
    size_t max_header_bytes;       /* 32 KiB for the whole head; more -> 431 */
    size_t max_headers;            /* 100 fields; more -> 431 */
    size_t max_body;               /* 8 MB; more -> 413 */
    uint64_t max_streamed_body;    /* 1 GB for a body streamed to a body sink; more -> 413 */
    unsigned header_timeout_ms;    /* 10 s to send a complete head -> 408 */
    unsigned body_timeout_ms;      /* 30 s between body reads -> 408 */
    unsigned keepalive_timeout_ms; /* 60 s idle between requests -> close */
    unsigned write_timeout_ms;     /* 30 s without write progress -> close */
} bn_http_limits;

/**
 * A consumer of a request body as it arrives, so that large bodies (uploads)
 * are never held in memory. See bn_server_config.body_sink.
 */
typedef struct bn_body_sink bn_body_sink;
struct bn_body_sink {
    /** Each piece of the body, in order: 0, or -1 to refuse the request with `status`. */
    int (*feed)(bn_body_sink *s, const char *data, size_t len);
    /** The whole body has arrived: 0 (the handler then runs, with an empty bn_conn_body), or -1. */
    int (*finish)(bn_body_sink *s);
    int status; /* the answer when feed or finish refuse (0: 400) */
};
/**
 * Called once the head of a request with a Content-Length body has arrived,
 * before any of the body is read: a sink to stream the body into (allocated
 * in the conn's arena; release anything else with bn_conn_defer, which also
 * runs if the body never completes), or NULL to buffer the body as usual.
 */
typedef bn_body_sink *bn_body_sink_fn(bn_conn *c);

typedef struct bn_server_config {
    const char *bind;        /* address to listen on; BENNU_BIND, default "127.0.0.1" */
    unsigned port;           /* PORT, default 4000; 0 picks a free port */
    unsigned threads;        /* BENNU_THREADS, default: one per core */
    bool master;             /* run under a supervising master (BENNU_MASTER=0 disables) */
    unsigned drain_timeout_ms; /* BENNU_DRAIN_TIMEOUT_MS, default 10 s */
    bn_handler *handler;     /* called for every request */
    bn_http_limits limits;   /* BENNU_MAX_BODY, BENNU_HEADER_TIMEOUT_MS, ... */
    char *const *argv;       /* the program's argv, re-executed on SIGUSR2 upgrade */
    /** Renders the response of a raised error or a handler that sent none (NULL: plain text). */
    bn_error_renderer *error_renderer;
    /** Streams chosen request bodies instead of buffering them (NULL: buffer all). */
    bn_body_sink_fn *body_sink;
    /** Called in each worker process before its loops start (may be NULL). */
    void (*on_worker_start)(void);
} bn_server_config;

/** Fills `cfg` with defaults, then applies the environment (see each field). */
void bn_server_config_defaults(bn_server_config *cfg, char *const *argv);

/**
 * Binds, then serves until SIGTERM/SIGINT (graceful drain) with cfg->threads
 * loop threads. Under a master (cfg->master) the workers are supervised and
 * restarted. Logs "listening on http://ADDR:PORT" once ready. Returns the
 * process exit status.
 */
int bn_server_run(const bn_server_config *cfg);

/**
 * Runs one raw HTTP/1.1 request through exactly the path a socket's request
 * takes (parser, limits, handler in a task, error rendering) without a socket,
 * and appends the raw response to `response`. For tests (bennu/testing.h
 * builds on it). The calling thread gets a loop of its own if it has none;
 * a handler that suspends is run to completion. Returns 0, or -1 if the
 * request was incomplete (the response then holds nothing).
 */
int bn_http_local_request(const bn_server_config *cfg, bn_str request, bn_buf *response);

/* ------------------------------------------------------------------------ */
/* Request                                                                    */

typedef enum bn_method {
    BN_METHOD_OTHER = 0,
    BN_METHOD_GET,
    BN_METHOD_HEAD,
    BN_METHOD_POST,
    BN_METHOD_PUT,
    BN_METHOD_PATCH,
    BN_METHOD_DELETE,
    BN_METHOD_OPTIONS,
    BN_METHOD_CONNECT,
    BN_METHOD_TRACE,
} bn_method;

typedef struct bn_header {
    bn_str name; /* as sent; compare with bn_str_eq_nocase */
    bn_str value;
} bn_header;

/** The method as sent ("GET") and as an enum. */
bn_str bn_conn_method(const bn_conn *c);
bn_method bn_conn_method_id(const bn_conn *c);
/** The path part of the request target, still percent-encoded ("/users/1"). */
bn_str bn_conn_path(const bn_conn *c);
/** The query string after '?', without the '?'; empty if none. */
bn_str bn_conn_query(const bn_conn *c);
/** 0 for HTTP/1.0, 1 for HTTP/1.1. */
int bn_conn_http_minor(const bn_conn *c);
/** Value of the first header named `name` (case-insensitive), or BN_STR_NULL (ptr == NULL). */
bn_str bn_conn_req_header(const bn_conn *c, bn_str name);
/** All request headers in the order received. */
const bn_header *bn_conn_req_headers(const bn_conn *c, size_t *count);
/** The request body (de-chunked). Empty if none. */
bn_str bn_conn_body(const bn_conn *c);
/** Peer address as text ("127.0.0.1" or "::1"). */
const char *bn_conn_remote_ip(const bn_conn *c);
/** Memory that lives until the response has been sent. */
bn_arena *bn_conn_arena(bn_conn *c);

/* ------------------------------------------------------------------------ */
/* Response                                                                   */

/** Sets the status used by bn_conn_send_resp when it is given 0. */
void bn_conn_put_status(bn_conn *c, int status);
/** Adds a response header (copied). A name that is not a token or a value with CR, LF or
 *  another control character is refused with an error in the log (no response splitting). */
void bn_conn_put_resp_header(bn_conn *c, bn_str name, bn_str value);
/** Value of the first response header named `name` put so far, or BN_STR_NULL. */
bn_str bn_conn_resp_header(const bn_conn *c, bn_str name);
/** Sends status (0: the one put before, else 200), the headers and `body`. Once per request. */
void bn_conn_send_resp(bn_conn *c, int status, bn_str body);
/**
 * Sends the file at `path` with sendfile(2). Returns 0, or -errno if it cannot
 * be opened (nothing is sent then, so the caller can still answer 404).
 */
int bn_conn_send_file(bn_conn *c, int status, const char *path);
/** The response status: the one put or sent so far (0 if none yet). */
int bn_conn_status(const bn_conn *c);
/**
 * Starts a streamed response: status and headers now, then the body in
 * chunks (Transfer-Encoding: chunked; for an HTTP/1.0 client, until the
 * connection closes). The body ends when the handler returns.
 */
void bn_conn_send_chunked(bn_conn *c, int status);
/**
 * Sends `data` as the next chunk and writes it out now; while the client is
 * slow the task suspends (other connections go on). Returns 0, or -1 once the
 * client is gone (stop producing then).
 */
int bn_conn_chunk(bn_conn *c, bn_str data);
/**
 * Sends `length` bytes of the open file `fd` from `offset` (sendfile), taking
 * ownership of `fd` (closed once written). For ranges and for callers that
 * opened and checked the file themselves (static files).
 */
void bn_conn_send_file_part(bn_conn *c, int status, int fd, uint64_t offset, uint64_t length);
/** True once a response has been sent for this request. */
bool bn_conn_sent(const bn_conn *c);
/** Asks to close the connection after this response. */
void bn_conn_close_after(bn_conn *c);

/**
 * Calls fn(c, arg) once, just before the response head is written (by
 * send_resp or send_file); callbacks may still change the status and add
 * headers. The last registered runs first [Plug.Conn.register_before_send].
 */
void bn_conn_register_before_send(bn_conn *c, void (*fn)(bn_conn *c, void *arg), void *arg);

/**
 * Calls fn(arg) when the exchange ends: after its response has been queued
 * (or the request raised), before its arena is freed. Latest first. For
 * request-scoped cleanup such as removing uploaded temporary files.
 */
void bn_conn_defer(bn_conn *c, void (*fn)(void *arg), void *arg);

/** Per-request private data under a string key [Plug.Conn.put_private]; the key is not copied. */
void bn_conn_put_private(bn_conn *c, const char *key, void *value);
void *bn_conn_private(const bn_conn *c, const char *key);

/* ------------------------------------------------------------------------ */
/* Protocol upgrade (WebSocket): after a 101 response the connection's bytes  */
/* belong to a stream handler. The http layer still owns the socket, the      */
/* write queue (writev, write timeout) and the thread's scratch buffer: input */
/* is offered from the scratch buffer and only an unconsumed tail is kept.   */

typedef struct bn_stream bn_stream;
typedef struct bn_stream_handler {
    /**
     * Bytes arrived: data[0..len) (writable, for unmasking in place). Returns
     * how many were consumed; the rest is kept and offered again, first,
     * with the next bytes. Called on the loop's stack, never from a task.
     */
    size_t (*on_data)(bn_stream *s, void *user, char *data, size_t len);
    /**
     * The connection is gone (peer closed, read or write error, write
     * timeout, or after bn_stream_close). The last callback: the stream must
     * not be used after it. Not called from inside on_data.
     */
    void (*on_close)(bn_stream *s, void *user);
    /** The server begins a graceful drain: say goodbye and bn_stream_close. */
    void (*on_drain)(bn_stream *s, void *user);
} bn_stream_handler;

/**
 * Hands the connection to `h` once this exchange's response (a 101, sent by
 * the caller) has been written; input that followed the request goes to
 * on_data. The exchange itself ends as usual when the handler returns.
 * Returns the stream (writes before the hand-over are dropped), or NULL for
 * an in-process request, which has no connection.
 */
bn_stream *bn_conn_upgrade(bn_conn *c, const bn_stream_handler *h, void *user);

/** Queues bytes (copied). They leave at the end of the current batch, or with bn_stream_flush. */
void bn_stream_write(bn_stream *s, const void *data, size_t len);
/**
 * Queues sh->data[off..off+len) by reference (no copy): written at once
 * when nothing else waits, else kept with a reference until written.
 */
void bn_stream_write_shared(bn_stream *s, bn_shared *sh, size_t off, size_t len);
/** Writes what is queued now (from a task or the loop). Returns 0, or -1 if the connection broke. */
int bn_stream_flush(bn_stream *s);
/** Bytes queued and not yet written. */
size_t bn_stream_pending(const bn_stream *s);
/** Stops offering input (a handler is busy); bytes that arrive meanwhile wait in the kernel. */
void bn_stream_pause(bn_stream *s);
/** Offers input again, starting with what was kept. Call from the loop's stack, not a task. */
void bn_stream_resume(bn_stream *s);
/** Closes after the queued output is written (on_close follows). Safe from any callback. */
void bn_stream_close(bn_stream *s);
/** Closes at the next loop turn, dropping queued output (a client that does not read). */
void bn_stream_abort(bn_stream *s);
/**
 * Registers `fn` to run on every loop thread of the server when a graceful
 * drain begins, before idle connections close: for long-lived state that is
 * not a connection (long-poll sessions). Process-wide, at most 8 hooks; a
 * hook registered twice runs once.
 */
void bn_http_on_drain(void (*fn)(void));
/**
 * Registers `fn` to run in every worker process bn_server_run starts (or in
 * this process without a master), before its loops start, after the
 * config's own on_worker_start: for threads and connections a library needs
 * in the process that serves (PubSub's Redis connection). Process-wide, at
 * most 8; registered twice runs once. Returns true if a worker is already
 * running in this process (then the caller must start by itself: fn is not
 * called for it).
 */
bool bn_http_on_worker_start(void (*fn)(void));
/** Peer address as text. */
const char *bn_stream_remote_ip(bn_stream *s);
bn_loop *bn_stream_loop(bn_stream *s);

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */

/**
 * Ends the request from anywhere in the handler (however deep) with `status`
 * and a message for the log and the error page: control jumps back to the
 * server, which renders the error response unless one was already sent. The
 * request's arena is freed as usual; memory from malloc and fds opened since
 * the handler started are NOT released, so handlers that may raise keep
 * their allocations in bn_conn_arena().
 */
_Noreturn void bn_raise(bn_conn *c, int status, const char *fmt, ...) BN_PRINTF(3, 4);
/** The status passed to bn_raise, or 0 if the request did not raise. */
int bn_conn_raised(const bn_conn *c);
/** The message passed to bn_raise, or NULL. */
const char *bn_conn_raise_message(const bn_conn *c);

/** The reason phrase of a status code ("Not Found"), "Unknown" if none. */
const char *bn_http_reason(int status);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_HTTP_H */
