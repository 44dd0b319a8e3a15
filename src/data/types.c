/*
 * Dates and datetimes: the clock, ISO 8601 text in and out. Calendar
 * arithmetic is done on day numbers (proleptic Gregorian, days since
 * 1970-01-01), so no libc time zone state is involved.
 */
#include <stdio.h>
#include <time.h>

#include "data/data_internal.h"

#define USEC_PER_SEC 1000000
#define SEC_PER_DAY 86400

/* Days since 1970-01-01 of a civil date (month 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                             /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;      /* 0..146096 */
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

bn_datetime bn_datetime_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (bn_datetime)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

const char *bn_datetime_format(bn_datetime t, char buf[32])
{
    int64_t secs = t / USEC_PER_SEC, usec = t % USEC_PER_SEC;
    if (usec < 0) {
        usec += USEC_PER_SEC;
        secs--;
    }
    int64_t days = secs / SEC_PER_DAY, rem = secs % SEC_PER_DAY;
    if (rem < 0) {
        rem += SEC_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(buf, 32, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m, d, (int)(rem / 3600),
                     (int)(rem / 60 % 60), (int)(rem % 60));
    if (usec)
        n += snprintf(buf + n, (size_t)(32 - n), ".%06d", (int)usec);
    snprintf(buf + n, (size_t)(32 - n), "Z");
    return buf;
}

/* Reads exactly `n` digits at s[*i]. */
static bool digits(bn_str s, size_t *i, int n, int *out)
{
    if (*i + (size_t)n > s.len)
        return false;
    int v = 0;
    for (int k = 0; k < n; k++) {
        char c = s.ptr[*i + (size_t)k];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *i += (size_t)n;
    *out = v;
    return true;
}

static bool expect(bn_str s, size_t *i, char c)
{
    if (*i >= s.len || s.ptr[*i] != c)
        return false;
    (*i)++;
    return true;
}

/* "YYYY-MM-DD" at s[*i], checked against the calendar. */
static bool read_date(bn_str s, size_t *i, int *y, int *m, int *d)
{
    return digits(s, i, 4, y) && expect(s, i, '-') && digits(s, i, 2, m) && expect(s, i, '-') &&
           digits(s, i, 2, d) && *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

bool bn_date_parse(bn_str s, bn_date *out)
{
    size_t i = 0;
    int y, m, d;
    if (!read_date(s, &i, &y, &m, &d) || i != s.len)
        return false;
    *out = (bn_date){.year = y, .month = (uint8_t)m, .day = (uint8_t)d};
    return true;
}

bool bn_datetime_parse(bn_str s, bn_datetime *out)
{
    size_t i = 0;
    int y, mo, d, h, mi, sec;
    if (!read_date(s, &i, &y, &mo, &d))
        return false;
    if (i >= s.len || (s.ptr[i] != 'T' && s.ptr[i] != 't' && s.ptr[i] != ' '))
        return false;
    i++;
    if (!digits(s, &i, 2, &h) || !expect(s, &i, ':') || !digits(s, &i, 2, &mi) || !expect(s, &i, ':') ||
        !digits(s, &i, 2, &sec) || h > 23 || mi > 59 || sec > 59)
        return false;
    int64_t usec = 0;
    if (i < s.len && s.ptr[i] == '.') {
        i++;
        int n = 0;
        int64_t scale = 100000;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
            usec += (s.ptr[i] - '0') * scale; /* digits past the sixth are dropped */
            scale /= 10;
            i++;
            n++;
        }
        if (n == 0)
            return false;
    }
    int64_t offset = 0; /* seconds east of UTC */
    if (i < s.len && (s.ptr[i] == 'Z' || s.ptr[i] == 'z')) {
        i++;
    } else if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-')) {
        int sign = s.ptr[i] == '-' ? -1 : 1, oh, om = 0;
        i++;
        if (!digits(s, &i, 2, &oh) || oh > 23)
            return false;
        if (i < s.len && s.ptr[i] == ':') {
            i++;
            if (!digits(s, &i, 2, &om))
                return false;
        } else if (i < s.len) {
            if (!digits(s, &i, 2, &om))
                return false;
        }
        if (om > 59)
            return false;
        offset = sign * (oh * 3600 + om * 60);
    }
    if (i != s.len)
        return false;
    int64_t secs = days_from_civil(y, mo, d) * SEC_PER_DAY + h * 3600 + mi * 60 + sec - offset;
    *out = secs * USEC_PER_SEC + usec;
    return true;
}
