/* Test harness implementation (see harness.h). */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long bt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *bt_log_read(const bt_server *s)
{
    FILE *f = fopen(s->log_path, "r");
    if (!f)
        return strdup("");
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

bool bt_log_contains(const bt_server *s, const char *needle)
{
    char *log = bt_log_read(s);
    bool found = strstr(log, needle) != NULL;
    free(log);
    return found;
}

static unsigned parse_port(const bt_server *s)
{
    char *log = bt_log_read(s);
    unsigned port = 0;
    char *p = strstr(log, "listening on http://");
    if (p) {
        p = strchr(p + strlen("listening on http://"), ':');
        while (p && strchr(p + 1, ':') && strchr(p + 1, ':') < strchr(p, '\n'))
            p = strchr(p + 1, ':'); /* IPv6 addresses have colons too */
        if (p)
            port = (unsigned)strtoul(p + 1, NULL, 10);
    }
    free(log);
    return port;
}

bool bt_server_start(bt_server *s, const char *program, const char *const *env)
{
    static int counter;
    memset(s, 0, sizeof *s);
    snprintf(s->log_path, sizeof s->log_path, "/tmp/bennu-test-%d-%d.log", (int)getpid(), counter++);
    unlink(s->log_path);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("PORT", "0", 1);
        setenv("BENNU_LOG_LEVEL", "debug", 0);
        for (size_t i = 0; env && env[i]; i++)
            putenv(strdup(env[i]));
        char path[512];
        snprintf(path, sizeof path, "%s/%s", BENNU_BIN_DIR, program);
        execl(path, program, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    s->pid = pid;
    setpgid(pid, pid);
    for (long long end = bt_now_ms() + 15000; bt_now_ms() < end;) {
        if (!s->port)
            s->port = parse_port(s);
        if (s->port) {
            int fd = bt_connect(s->port);
            if (fd >= 0) {
                close(fd);
                /* Accepting is not serving yet under a master: wait for the worker. */
                if (bt_log_contains(s, "serving with"))
                    return true;
            }
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            s->pid = 0;
            return false;
        }
        usleep(20000);
    }
    return false;
}

int bt_server_wait(bt_server *s, int timeout_ms)
{
    if (!s->pid)
        return -1;
    for (long long end = bt_now_ms() + timeout_ms; bt_now_ms() < end;) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return status;
        }
        usleep(10000);
    }
    return -1;
}

int bt_server_stop(bt_server *s, int grace_ms)
{
    if (!s->pid)
        return -1;
    pid_t pgid = s->pid;
    kill(s->pid, SIGTERM);
    int status = bt_server_wait(s, grace_ms);
    kill(-pgid, SIGKILL); /* stragglers: workers of a master killed too early */
    if (status == -1 && s->pid) {
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    return status;
}

static int connect_impl(unsigned port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src) {
        struct sockaddr_in local = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &local.sin_addr);
        if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int bt_connect(unsigned port) { return connect_impl(port, NULL); }
int bt_connect_from(unsigned port, const char *src_ip) { return connect_impl(port, src_ip); }

bool bt_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool bt_send_str(int fd, const char *s) { return bt_send(fd, s, strlen(s)); }

bool bt_header(const bt_response *r, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':') {
            const char *v = h + nlen + 1;
            while (*v == ' ')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t n = end ? (size_t)(end - v) : strlen(v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

/* Reads byte by byte up to the blank line, so nothing of the next response is consumed. */
static int read_head(int fd, bt_response *r)
{
    size_t len = 0;
    while (len < sizeof r->head - 1) {
        ssize_t n = recv(fd, r->head + len, 1, 0);
        if (n == 0)
            return len == 0 ? 0 : -1;
        if (n < 0)
            return errno == EINTR ? read_head(fd, r) : -1;
        len++;
        r->head[len] = '\0';
        if (len >= 4 && memcmp(r->head + len - 4, "\r\n\r\n", 4) == 0)
            return 1;
    }
    return -1;
}

int bt_read_response(int fd, bt_response *r, bool head_only)
{
    memset(r, 0, offsetof(bt_response, head) + 1);
    r->head[0] = '\0';
    r->body = NULL;
    r->body_len = 0;
    int h;
    do { /* skip interim 1xx responses */
        h = read_head(fd, r);
        if (h <= 0)
            return h;
        if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
            return -1;
    } while (r->status >= 100 && r->status < 200);
    char cl[32];
    if (head_only || r->status == 204 || r->status == 304) {
        r->body = calloc(1, 1);
        return 1;
    }
    if (bt_header(r, "content-length", cl, sizeof cl)) {
        size_t want = strtoull(cl, NULL, 10);
        r->body = malloc(want + 1);
        while (r->body_len < want) {
            ssize_t n = recv(fd, r->body + r->body_len, want - r->body_len, 0);
            if (n <= 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                r->body[r->body_len] = '\0';
                return -1;
            }
            r->body_len += (size_t)n;
        }
        r->body[r->body_len] = '\0';
        return 1;
    }
    r->body = malloc(1 << 20);
    r->body_len = bt_read_until_close(fd, r->body, (1 << 20) - 1, 5000);
    r->body[r->body_len] = '\0';
    return 1;
}

void bt_response_free(bt_response *r)
{
    free(r->body);
    r->body = NULL;
}

size_t bt_read_until_close(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    long long end = bt_now_ms() + timeout_ms;
    while (len < cap) {
        long long left = end - bt_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    return len;
}

bool bt_wait_closed(int fd, int timeout_ms)
{
    char buf[4096];
    long long end = bt_now_ms() + timeout_ms;
    for (;;) {
        long long left = end - bt_now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return true;
    }
}

char *bt_run(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    if (!p) {
        *status = -1;
        return strdup("");
    }
    size_t cap = 1 << 16, len = 0, n;
    char *out = malloc(cap);
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 4096)
            out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

static char *read_first_line(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[1024];
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    if (!got)
        return NULL;
    line[strcspn(line, "\r\n")] = '\0';
    return line[0] ? strdup(line) : NULL;
}

const char *bt_pg_url(void)
{
    static bool done;
    static char *url;
    if (done)
        return url;
    done = true;
    const char *env = getenv("BENNU_TEST_PG_URL");
    const char *file = getenv("BENNU_TEST_PG_URL_FILE");
    if (env && *env)
        url = strdup(env);
    else if (file && *file)
        url = read_first_line(file);
    else
        url = read_first_line(BENNU_BIN_DIR "/../pg/url");
    return url;
}
