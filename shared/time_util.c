/*
 * time_util.c: clocks, the calendar and RFC 3339 text.
 *
 * Owns: the two clocks every binary reads, the one timestamp format taskbus writes and
 * the one RFC 3339 parser every reader of a time uses (the writer's command decoder, the
 * API's due_at and list filters, event rows, webhooks, analytics days).
 * Rules: CLOCK_REALTIME only for timestamps shown to people or stored; CLOCK_MONOTONIC
 * for durations, so a wall-clock step never makes a latency negative.
 */
#include "shared/time_util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

int64_t time_now_unix_ms(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec time_monotonic_deadline_ms(int ms) {
    struct timespec ts = {0, 0};
    (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for CLOCK_MONOTONIC */
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

void time_sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        /* a signal: sleep the rest */
    }
}

int64_t time_monotonic_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void time_format_rfc3339_ms(int64_t unix_ms, char *out, size_t outlen) {
    if (outlen == 0)
        return;
    /* Floor division so times before 1970 still get a non-negative millisecond part. */
    int64_t secs = unix_ms / 1000;
    int64_t ms = unix_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, outlen, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

/* ---- calendar ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static long long days_from_civil(long long y, int m, int d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void time_civil_from_days(long long z, long long *y, int *m, int *d) {
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m) {
    static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : DAYS[m - 1];
}

/* ---- RFC 3339 ---- */

/* Reads exactly n ASCII digits at *p into *out and advances; false when they are not. A
 * NUL is not a digit, so nothing past the end is read. */
static bool digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c) {
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* The fraction after '.': 1-9 digits, cut to microseconds, the seventh digit noted. */
static bool fraction(const char **p, int *micros, bool *round_up) {
    int n = 0, v = 0, seventh = 0;
    for (; **p >= '0' && **p <= '9'; (*p)++, n++) {
        if (n < 6)
            v = v * 10 + (**p - '0');
        else if (n == 6)
            seventh = **p - '0';
    }
    if (n == 0 || n > 9)
        return false;
    for (int i = n; i < 6; i++)
        v *= 10;
    *micros = v;
    *round_up = seventh >= 5;
    return true;
}

/* "Z" or "+hh:mm"/"-hh:mm" as seconds east of UTC. */
static bool offset_seconds(const char **p, unsigned flags, int *secs) {
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *secs = 0;
        return true;
    }
    char c = **p;
    int sign = c == '+' || (c == ' ' && (flags & TIME_RFC3339_SPACE_IS_PLUS) != 0) ? 1
               : c == '-'                                                          ? -1
                                                                                   : 0;
    int oh, om;
    if (sign == 0)
        return false;
    (*p)++;
    if (!digits(p, 2, &oh) || !expect(p, ':') || !digits(p, 2, &om) || oh > 23 || om > 59)
        return false;
    *secs = sign * (oh * 3600 + om * 60);
    return true;
}

int time_rfc3339_parse(const char *text, unsigned flags, time_rfc3339 *out) {
    if (text == NULL)
        return -1;
    const char *p = text;
    int y, mo, d, h, mi, s, off = 0, micros = 0;
    bool round_up = false;
    if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) || !expect(&p, '-') ||
        !digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
        return -1;
    p++;
    if (!digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &mi) || !expect(&p, ':') ||
        !digits(&p, 2, &s))
        return -1;
    if (*p == '.') {
        p++;
        if (!fraction(&p, &micros, &round_up))
            return -1;
    }
    if (!offset_seconds(&p, flags, &off) || *p != '\0')
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59)
        return -1;
    out->unix_s = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + s - off;
    out->micros = micros;
    out->round_up = round_up;
    return 0;
}

int time_parse_rfc3339_ms(const char *text, long long *unix_ms_out) {
    time_rfc3339 t;
    if (time_rfc3339_parse(text, TIME_RFC3339_STRICT, &t) != 0)
        return -1;
    long long total_us = t.unix_s * 1000000LL + t.micros + (t.round_up ? 1 : 0);
    /* Half away from zero, like Postgres' numeric-to-bigint cast in TASK_SELECT_COLUMNS. */
    long long ms = total_us >= 0 ? (total_us + 500) / 1000 : -((-total_us + 500) / 1000);
    if (unix_ms_out != NULL)
        *unix_ms_out = ms;
    return 0;
}
