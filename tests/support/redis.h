/*
 * Test support for the pubsub layer: a redis-server of the test's own on a
 * free loopback port (never the system's service), and a raw WebSocket
 * client for tests that drive channel_server nodes frame by frame.
 */
#ifndef BENNU_TEST_REDIS_H
#define BENNU_TEST_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <bennu.h>

#define BT_REDIS_MAX_ARGS 8

typedef struct bt_redis {
    pid_t pid;          /* 0 while stopped */
    unsigned port;      /* kept across a restart */
    char url[64];       /* "redis://127.0.0.1:PORT" */
    char log_path[256]; /* redis-server's stdout and stderr */
    char *args[BT_REDIS_MAX_ARGS + 1]; /* extra arguments, kept for a restart */
} bt_redis;

/**
 * Starts /usr/bin/redis-server (or BENNU_REDIS_SERVER) on a free port of
 * 127.0.0.1 without persistence, with the extra arguments `args`
 * (NULL-terminated, may be NULL; e.g. "--requirepass", "secret"), and waits
 * until it answers. It dies with the calling process.
 */
bool bt_redis_start(bt_redis *r, const char *const *args);
/** Stops it (SIGTERM, then SIGKILL); the port and arguments are kept for bt_redis_restart. */
void bt_redis_stop(bt_redis *r);
/** Starts it again on the same port with the same arguments. */
bool bt_redis_restart(bt_redis *r);
/** Frees the kept arguments (after the last stop). */
void bt_redis_free(bt_redis *r);
/** PUBLISHes `len` bytes to `channel` ("bennu:bennu" is the default cluster's); `password` may be NULL. */
bool bt_redis_publish(const bt_redis *r, const char *password, const char *channel, const void *data, size_t len);

/* ---- a raw WebSocket client (masked frames, the server's unmasked) ------------------------------ */

typedef struct bt_ws {
    int fd;
    bn_buf in; /* received, not yet parsed */
} bt_ws;

/** Opens ws://127.0.0.1:port/socket/websocket?`query` (e.g. "vsn=2.0.0"); false unless the answer is 101. */
bool bt_ws_open(bt_ws *c, unsigned port, const char *query);
bool bt_ws_send_text(bt_ws *c, const char *text);
/**
 * The next text frame's payload (malloc'd, NUL-terminated), or NULL if none
 * comes within `timeout_ms` or the connection ends. Pings and other control
 * frames are skipped.
 */
char *bt_ws_read_text(bt_ws *c, int timeout_ms);
/** Reads text frames until one contains `needle` (returned, malloc'd); NULL after `timeout_ms`. */
char *bt_ws_read_until(bt_ws *c, const char *needle, int timeout_ms);
void bt_ws_close(bt_ws *c);

#endif
