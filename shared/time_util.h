/*
 * time_util.h: clocks, the proleptic Gregorian calendar and RFC 3339 text.
 * Rules: wall-clock time is for timestamps only; durations use the monotonic clock. There
 * is one RFC 3339 parser (time_rfc3339_parse); callers differ only in the flag they pass
 * and in how they round or bound its exact result.
 */
#ifndef TASKBUS_SHARED_TIME_UTIL_H
#define TASKBUS_SHARED_TIME_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

int64_t time_now_unix_ms(void);
int64_t time_monotonic_ns(void);
/* The CLOCK_MONOTONIC time ms milliseconds from now, for pthread_cond_timedwait on a
 * condvar whose clock is CLOCK_MONOTONIC. */
struct timespec time_monotonic_deadline_ms(int ms);
/* Sleeps ms milliseconds, the whole of them: a signal does not cut it short. */
void time_sleep_ms(int ms);
/* "2026-11-22T10:00:00.123Z"; out must hold at least 32 bytes. */
void time_format_rfc3339_ms(int64_t unix_ms, char *out, size_t outlen);

/* 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in Unix milliseconds: the years a
 * Postgres timestamptz and a four-digit RFC 3339 year both hold are [FIRST, END). */
#define TIME_YEAR_1_UNIX_MS (-62135596800000LL)
#define TIME_YEAR_10000_UNIX_MS 253402300800000LL
/* One UTC day (no leap seconds in Unix time). */
#define TIME_DAY_MS 86400000LL

/* The date of a day counted from 1970-01-01 (negative before), proleptic Gregorian. */
void time_civil_from_days(long long days, long long *year, int *month, int *day);

/* What the one RFC 3339 parser accepts beyond the strict grammar. */
enum {
    TIME_RFC3339_STRICT = 0,
    /* A ' ' where the offset's sign goes means '+': an unescaped '+' in a query string
     * arrives as a space. */
    TIME_RFC3339_SPACE_IS_PLUS = 1,
};

/* An instant as text gave it, before any rounding. */
typedef struct time_rfc3339 {
    long long unix_s; /* whole seconds since 1970-01-01T00:00:00Z, the offset applied */
    int micros;       /* the fraction cut after six digits, 0-999999 */
    bool round_up;    /* the seventh fraction digit is 5-9 */
} time_rfc3339;

/* Parses an RFC 3339 date-time, exactly "YYYY-MM-DD" 'T' "hh:mm:ss", an optional '.' and
 * 1-9 fraction digits, then 'Z' or "+hh:mm"/"-hh:mm", and nothing after it. 'T' and 'Z'
 * may be lower-case. The date must exist (year 0001-9999, leap years proleptic
 * Gregorian), hh <= 23, mm <= 59, ss <= 59 (no leap second: Postgres and most clients
 * cannot hold one), an offset's hh <= 23 and mm <= 59. The instant itself is not bounded:
 * 0001-01-01T00:00:00+01:00 is accepted and lies before year 1. flags: TIME_RFC3339_*.
 * 0, or -1 (out untouched) when text (NULL included) is not one. */
int time_rfc3339_parse(const char *text, unsigned flags, time_rfc3339 *out);

/* time_rfc3339_parse (strict) to Unix milliseconds rounded as Postgres rounds a stored
 * time read back through TASK_SELECT_COLUMNS: to the microsecond at the seventh digit,
 * then half away from zero to the millisecond. unix_ms_out may be NULL (validation only).
 * Not bounded to years 0001-9999 (see above). 0, or -1. */
int time_parse_rfc3339_ms(const char *text, long long *unix_ms_out);

#endif
