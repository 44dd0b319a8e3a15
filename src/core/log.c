/* Line-oriented logging to stderr; one write(2) per line so lines from
 * several threads and processes never interleave. */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bennu/core.h"

bn_log_level bn_log_threshold = BN_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void bn_log_init_from_env(void)
{
    const char *v = getenv("BENNU_LOG_LEVEL");
    if (!v)
        return;
    for (size_t i = 0; i < BN_ARRAY_LEN(level_names); i++)
        if (strcasecmp(v, level_names[i]) == 0)
            bn_log_threshold = (bn_log_level)i;
}

static void log_vwrite(bn_log_level level, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld [%s] [%d] ", tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], (int)getpid());
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : BN_MIN((size_t)m, sizeof line - (size_t)n - 2));
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nothing sensible to do if stderr is gone */
}

void bn_log_write(bn_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}

void bn_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(BN_LOG_ERROR, fmt, ap);
    va_end(ap);
    abort();
}
