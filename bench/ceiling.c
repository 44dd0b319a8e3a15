/*
 * bench/ceiling.c — the "ceiling" server of `make bench`: the least work an
 * HTTP/1.1 keep-alive server can do per request on this machine.
 *
 * It never parses anything. Each thread has its own SO_REUSEPORT listener and
 * an edge-triggered epoll loop; it reads up to 64 KiB at a time, counts the
 * "\r\n\r\n" that end request heads (the match state survives across reads)
 * and answers with that many copies of one fixed plaintext response in a
 * single write. The Date is frozen at start-up but has the real length, so
 * the bytes on the wire match a real server's.
 *
 * The response is "Hello, World!" as text/plain, or the content of BODY_FILE
 * with CONTENT_TYPE (default "text/html; charset=utf-8"): run.sh's fortunes
 * cases start a second ceiling that answers the Fortunes page this way.
 *
 * Usage: ceiling PORT [THREADS [BODY_FILE [CONTENT_TYPE]]]
 *        (listens on 127.0.0.1, THREADS default 2)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 65536
#define BATCH 2048 /* responses prepared back to back; more are sent in rounds */

static unsigned short port;
static char *batch;       /* BATCH copies of the response */
static size_t resp_len;
static unsigned char match[MAX_FDS]; /* chars of "\r\n\r\n" matched so far, per fd */

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* Writes all of buf, waiting for POLLOUT on a full socket buffer (rare). */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 5000) <= 0)
                return -1;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    return 0;
}

/*
 * Reads until the socket is drained, answering every complete head; -1: close
 * the fd. A short read means it is drained (epoll(7)): new data will raise a
 * new edge, so the EAGAIN read that would confirm it is skipped.
 */
static int serve(int fd, char *in)
{
    for (;;) {
        ssize_t n = read(fd, in, 65536);
        if (n == 0)
            return -1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        unsigned m = match[fd];
        size_t count = 0;
        for (ssize_t i = 0; i < n; i++) {
            char want = (m & 1) ? '\n' : '\r';
            if (in[i] == want)
                m++;
            else
                m = in[i] == '\r';
            if (m == 4) {
                count++;
                m = 0;
            }
        }
        match[fd] = (unsigned char)m;
        while (count > 0) {
            size_t k = count < BATCH ? count : BATCH;
            if (write_all(fd, batch, k * resp_len) < 0)
                return -1;
            count -= k;
        }
        if (n < 65536)
            return 0;
    }
}

static void *loop(void *arg)
{
    (void)arg;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        die("socket");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0)
        die("bind/listen");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll");
    char *in = malloc(65536);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (c >= MAX_FDS) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    match[c] = 0;
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
            } else if (serve(fd, in) < 0) {
                close(fd);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [THREADS [BODY_FILE [CONTENT_TYPE]]]\n", argv[0]);
        return 2;
    }
    port = (unsigned short)atoi(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    if (threads < 1)
        threads = 1;
    signal(SIGPIPE, SIG_IGN);

    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    const char *type = "text/plain", *body = "Hello, World!";
    size_t body_len = 13;
    if (argc > 3) {
        FILE *f = fopen(argv[3], "rb");
        static char file_body[1 << 20];
        if (!f)
            die(argv[3]);
        body_len = fread(file_body, 1, sizeof file_body, f);
        if (ferror(f) || !feof(f)) {
            fprintf(stderr, "ceiling: cannot read %s (at most %zu bytes)\n", argv[3], sizeof file_body - 1);
            return 1;
        }
        fclose(f);
        body = file_body;
        type = argc > 4 ? argv[4] : "text/html; charset=utf-8";
    }
    char head[512];
    int head_len = snprintf(head, sizeof head,
                            "HTTP/1.1 200 OK\r\nServer: ceiling\r\nDate: %s\r\n"
                            "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                            date, type, body_len);
    if (head_len < 0 || (size_t)head_len >= sizeof head) {
        fprintf(stderr, "ceiling: content type too long\n");
        return 1;
    }
    char *resp = malloc((size_t)head_len + body_len);
    if (!resp)
        die("malloc");
    memcpy(resp, head, (size_t)head_len);
    memcpy(resp + head_len, body, body_len);
    resp_len = (size_t)head_len + body_len;
    batch = malloc(BATCH * resp_len);
    if (!batch)
        die("malloc");
    for (size_t i = 0; i < BATCH; i++)
        memcpy(batch + i * resp_len, resp, resp_len);

    pthread_t tid;
    for (int i = 1; i < threads; i++)
        if (pthread_create(&tid, NULL, loop, NULL) != 0)
            die("pthread_create");
    fprintf(stderr, "ceiling: listening on http://127.0.0.1:%u (%d threads)\n", port, threads);
    loop(NULL);
}
