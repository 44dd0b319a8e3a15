/*
 * Test harness for integration tests: start a real server process, talk to
 * it over raw sockets or with curl, read its log.
 */
#ifndef BENNU_TEST_HARNESS_H
#define BENNU_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct bt_server {
    pid_t pid;      /* the process we started (the master, when there is one) */
    unsigned port;
    char log_path[256];
} bt_server;

/**
 * Starts BENNU_BIN_DIR/<program> in its own process group with PORT=0 and the
 * extra "KEY=VALUE" strings in `env` (NULL-terminated, may be NULL), stdout
 * and stderr to a log file, and waits until it accepts connections.
 */
bool bt_server_start(bt_server *s, const char *program, const char *const *env);
/** SIGTERM, then SIGKILL to the whole group after `grace_ms`; returns the exit status or -1. */
int bt_server_stop(bt_server *s, int grace_ms);
/** Waits up to timeout_ms for the started process to exit; returns its wait status or -1. */
int bt_server_wait(bt_server *s, int timeout_ms);
/** True if the server's log contains `needle`. */
bool bt_log_contains(const bt_server *s, const char *needle);
/** Copies the log (NUL-terminated) into a malloc'd string. */
char *bt_log_read(const bt_server *s);

/** A blocking TCP connection to 127.0.0.1:port with 5 s send/receive timeouts, or -1. */
int bt_connect(unsigned port);
/** Same, from a chosen local address such as "127.0.0.7". */
int bt_connect_from(unsigned port, const char *src_ip);
bool bt_send(int fd, const void *data, size_t len);
bool bt_send_str(int fd, const char *s);

typedef struct bt_response {
    int status;
    char head[16384]; /* status line and headers, NUL-terminated */
    char *body;       /* malloc'd, NUL-terminated */
    size_t body_len;
} bt_response;

/**
 * Reads one response (Content-Length or until close). Returns 1 on success,
 * 0 if the connection closed before any byte, -1 on timeout or junk.
 * `head_only` is for HEAD requests (no body follows).
 */
int bt_read_response(int fd, bt_response *r, bool head_only);
void bt_response_free(bt_response *r);
/** Value of a header in r->head (case-insensitive), copied into `out`; false if absent. */
bool bt_header(const bt_response *r, const char *name, char *out, size_t cap);
/** Reads until EOF or timeout; returns bytes read. */
size_t bt_read_until_close(int fd, char *buf, size_t cap, int timeout_ms);
/** True if the peer closed the connection (EOF or reset) within timeout_ms. */
bool bt_wait_closed(int fd, int timeout_ms);

/** Runs a shell command, returns its stdout (malloc'd) and sets *status. */
char *bt_run(const char *cmd, int *status);
/** Milliseconds on a monotonic clock. */
long long bt_now_ms(void);

/**
 * The URL of the test suite's PostgreSQL ("postgres://user@127.0.0.1:PORT/bennu_test"),
 * or NULL when none runs (then tests skip their PostgreSQL variants). From
 * BENNU_TEST_PG_URL if set, else the file named by BENNU_TEST_PG_URL_FILE (ctest's
 * `pg` fixture writes it), else the build's pg/url (a server started by hand with
 * tools/pg_test_server.sh start BUILD/pg). Read once.
 */
const char *bt_pg_url(void);

#endif
