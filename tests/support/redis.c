/* A redis-server per test and a raw WebSocket client (see redis.h). */
#include "redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "harness.h"
#include "socket/ws_frame.h"

/* ---- redis-server ------------------------------------------------------------------------ */

/* A port the kernel just handed out on 127.0.0.1 (free now; redis-server binds it a moment later). */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    unsigned port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* True once the server answers PING (+PONG, or -NOAUTH when it wants a password). */
static bool answers(unsigned port)
{
    int fd = bt_connect(port);
    if (fd < 0)
        return false;
    char buf[64] = {0};
    bool ok = bt_send_str(fd, "PING\r\n") && recv(fd, buf, sizeof buf - 1, 0) > 0 &&
              (strncmp(buf, "+PONG", 5) == 0 || strncmp(buf, "-NOAUTH", 7) == 0);
    close(fd);
    return ok;
}

static bool spawn(bt_redis *r)
{
    char port[16];
    snprintf(port, sizeof port, "%u", r->port);
    const char *program = getenv("BENNU_REDIS_SERVER") ? getenv("BENNU_REDIS_SERVER") : "/usr/bin/redis-server";
    const char *argv[32] = {program, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                            "--daemonize", "no"};
    size_t n = 11;
    for (size_t i = 0; r->args[i]; i++)
        argv[n++] = r->args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(r->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(program, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", program, strerror(errno));
        _exit(127);
    }
    r->pid = pid;
    for (long long end = bt_now_ms() + 10000; bt_now_ms() < end;) {
        if (answers(r->port))
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid) { /* the port was taken meanwhile, or no redis-server */
            r->pid = 0;
            return false;
        }
        usleep(10000);
    }
    bt_redis_stop(r);
    return false;
}

bool bt_redis_start(bt_redis *r, const char *const *args)
{
    static int counter;
    memset(r, 0, sizeof *r);
    for (size_t i = 0; args && args[i] && i < BT_REDIS_MAX_ARGS; i++)
        r->args[i] = strdup(args[i]);
    snprintf(r->log_path, sizeof r->log_path, "/tmp/bennu-redis-%d-%d.log", (int)getpid(), counter++);
    unlink(r->log_path);
    for (int attempt = 0; attempt < 5; attempt++) {
        r->port = free_port();
        snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%u", r->port);
        if (r->port && spawn(r))
            return true;
    }
    return false;
}

void bt_redis_stop(bt_redis *r)
{
    if (!r->pid)
        return;
    kill(r->pid, SIGTERM);
    for (long long end = bt_now_ms() + 5000; bt_now_ms() < end;) {
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
            r->pid = 0;
            return;
        }
        usleep(5000);
    }
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
}

bool bt_redis_restart(bt_redis *r)
{
    bt_redis_stop(r);
    return spawn(r);
}

void bt_redis_free(bt_redis *r)
{
    for (size_t i = 0; r->args[i]; i++) {
        free(r->args[i]);
        r->args[i] = NULL;
    }
}

bool bt_redis_publish(const bt_redis *r, const char *password, const char *channel, const void *data, size_t len)
{
    redisContext *c = redisConnect("127.0.0.1", (int)r->port);
    bool ok = c && !c->err;
    if (ok && password) {
        redisReply *auth = redisCommand(c, "AUTH %s", password);
        ok = auth && auth->type != REDIS_REPLY_ERROR;
        freeReplyObject(auth);
    }
    if (ok) {
        redisReply *reply = redisCommand(c, "PUBLISH %s %b", channel, data, len);
        ok = reply && reply->type == REDIS_REPLY_INTEGER;
        freeReplyObject(reply);
    }
    if (c)
        redisFree(c);
    return ok;
}

/* ---- WebSocket ------------------------------------------------------------------------------ */

static const uint8_t mask_key[4] = {0x5a, 0x13, 0xc7, 0x02};

bool bt_ws_open(bt_ws *c, unsigned port, const char *query)
{
    c->fd = bt_connect(port);
    c->in = (bn_buf)BN_BUF_INIT;
    if (c->fd < 0)
        return false;
    char req[512];
    snprintf(req, sizeof req,
             "GET /socket/websocket?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             query);
    if (!bt_send_str(c->fd, req))
        return false;
    /* The answer's head byte by byte: frames may follow it at once. */
    char head[4096];
    size_t len = 0;
    while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
        if (len == sizeof head - 1)
            return false;
        ssize_t n = recv(c->fd, head + len, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != 1)
            return false;
        len++;
    }
    head[len] = '\0';
    return strncmp(head, "HTTP/1.1 101", 12) == 0;
}

bool bt_ws_send_text(bt_ws *c, const char *text)
{
    bn_buf b = BN_BUF_INIT;
    bn_ws_write_frame(&b, BN_WS_TEXT, bn_str_from_cstr(text), mask_key);
    bool ok = bt_send(c->fd, b.data, b.len);
    bn_buf_free(&b);
    return ok;
}

char *bt_ws_read_text(bt_ws *c, int timeout_ms)
{
    long long end = bt_now_ms() + timeout_ms;
    for (;;) {
        bn_ws_frame f;
        size_t used;
        int code = 0;
        bn_ws_parse_result pr =
            bn_ws_parse((uint8_t *)c->in.data, c->in.len, false, false, UINT64_MAX, &f, &used, &code);
        if (pr == BN_WS_ERROR)
            return NULL;
        if (pr == BN_WS_FRAME) {
            char *text = NULL;
            if (f.opcode == BN_WS_TEXT) {
                text = malloc(f.payload.len + 1);
                memcpy(text, f.payload.ptr, f.payload.len);
                text[f.payload.len] = '\0';
            }
            bool close = f.opcode == BN_WS_CLOSE;
            bn_buf_consume(&c->in, used);
            if (text || close)
                return text;
            continue;
        }
        long long left = end - bt_now_ms();
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (left <= 0)
            return NULL;
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        ssize_t got = recv(c->fd, bn_buf_reserve(&c->in, 1 << 16), 1 << 16, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return NULL;
        c->in.len += (size_t)got;
    }
}

char *bt_ws_read_until(bt_ws *c, const char *needle, int timeout_ms)
{
    long long end = bt_now_ms() + timeout_ms;
    for (;;) {
        long long left = end - bt_now_ms();
        char *text = left > 0 ? bt_ws_read_text(c, (int)left) : NULL;
        if (!text || strstr(text, needle))
            return text;
        free(text);
    }
}

void bt_ws_close(bt_ws *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    bn_buf_free(&c->in);
}
