/*
 * test_time_util.c: the one RFC 3339 parser and the calendar (shared/time_util.c), and
 * proof that each caller of the two parsers it replaced gets the same answer.
 *
 * The former parsers are kept here, verbatim from commit db2bb38 but for their names, as
 * reference oracles: task_time_parse (shared/task_model.c: the writer's command decoder,
 * event rows, webhooks, the API's due_at, analytics days) and task_query_parse_rfc3339
 * (api/task_query.c: the list's and reports' due_before/due_after). They differed in
 * three ways, which the one parser keeps as the callers' choice: the query form takes a
 * space for '+' in the offset (TIME_RFC3339_SPACE_IS_PLUS), cuts the fraction to the
 * microsecond and bounds the instant to years 0001-9999; the writer's form rounds at the
 * seventh digit and then to the millisecond, and does not bound the instant.
 * time_parse_rfc3339_ms must equal the first and task_query_parse_rfc3339 the second on
 * every text: checked on named cases and on a million mutations of valid texts (each
 * byte replaced, dropped or repeated from the characters where the grammar turns).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/task_query.h"
#include "shared/time_util.h"
#include "tests/unit/xorshift.h"

/* ---- the former parsers (db2bb38), reference only ---- */

/* shared/task_model.c */

/* Reads exactly n digits at *p into *out and advances; false when they are not digits. */
static bool tp_digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return false;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool tp_expect(const char **p, char c) {
    if (**p != c) {
        return false;
    }
    (*p)++;
    return true;
}

static int tp_days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static long long tp_days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The fraction after '.', in microseconds rounded at the seventh digit (as Postgres
 * stores it); at least one and at most nine digits. May return 1000000. */
static bool tp_fraction_us(const char **p, long long *us) {
    int n = 0;
    long long v = 0;
    int seventh = 0;
    while (isdigit((unsigned char)**p)) {
        if (n < 6) {
            v = v * 10 + (**p - '0');
        } else if (n == 6) {
            seventh = **p - '0';
        }
        n++;
        (*p)++;
    }
    if (n == 0 || n > 9) {
        return false;
    }
    for (int i = n; i < 6; i++) {
        v *= 10;
    }
    *us = v + (seventh >= 5 ? 1 : 0);
    return true;
}

/* "Z" or "+hh:mm"/"-hh:mm" as seconds east of UTC. */
static bool tp_offset_seconds(const char **p, int *secs) {
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *secs = 0;
        return true;
    }
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    int oh, om;
    if (sign == 0) {
        return false;
    }
    (*p)++;
    if (!tp_digits(p, 2, &oh) || !tp_expect(p, ':') || !tp_digits(p, 2, &om) || oh > 23 ||
        om > 59) {
        return false;
    }
    *secs = sign * (oh * 3600 + om * 60);
    return true;
}

static int old_task_time_parse(const char *text, long long *unix_ms_out) {
    if (text == NULL) {
        return -1;
    }
    const char *p = text;
    int y, mo, d, h, mi, s, off = 0;
    long long us = 0;
    if (!tp_digits(&p, 4, &y) || !tp_expect(&p, '-') || !tp_digits(&p, 2, &mo) ||
        !tp_expect(&p, '-') || !tp_digits(&p, 2, &d) || (*p != 'T' && *p != 't')) {
        return -1;
    }
    p++;
    if (!tp_digits(&p, 2, &h) || !tp_expect(&p, ':') || !tp_digits(&p, 2, &mi) ||
        !tp_expect(&p, ':') || !tp_digits(&p, 2, &s)) {
        return -1;
    }
    if (*p == '.') {
        p++;
        if (!tp_fraction_us(&p, &us)) {
            return -1;
        }
    }
    if (!tp_offset_seconds(&p, &off) || *p != '\0') {
        return -1;
    }
    /* Leap seconds (:60) are refused: Postgres and most clients cannot represent them. */
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > tp_days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59) {
        return -1;
    }
    long long secs = tp_days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + s - off;
    long long total_us = secs * 1000000LL + us;
    /* Half away from zero, like Postgres' numeric-to-bigint cast in TASK_SELECT_COLUMNS. */
    long long ms = total_us >= 0 ? (total_us + 500) / 1000 : -((-total_us + 500) / 1000);
    if (unix_ms_out != NULL) {
        *unix_ms_out = ms;
    }
    return 0;
}

/* api/task_query.c */
/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static long long qp_days_from_civil(long long y, int m, int d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void qp_civil_from_days(long long z, long long *y, int *m, int *d) {
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

static long long qp_min_timestamp_us(void) {
    return qp_days_from_civil(1, 1, 1) * 86400LL * 1000000LL;
}

static long long qp_max_timestamp_us(void) {
    return qp_days_from_civil(10000, 1, 1) * 86400LL * 1000000LL - 1;
}

/* Reads exactly n digits at s into *out. */
static bool qp_digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int qp_days_in_month(int y, int m) {
    static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : DAYS[m - 1];
}

/* The fraction ".ddd" at *p as microseconds (truncated); advances *p. */
static bool qp_fraction_us(const char **p, long long *us) {
    const char *s = *p;
    *us = 0;
    if (*s != '.')
        return true;
    s++;
    int n = 0;
    long long scale = 100000;
    while (*s >= '0' && *s <= '9') {
        if (n < 6)
            *us += (*s - '0') * scale;
        scale /= 10;
        s++;
        n++;
    }
    *p = s;
    return n >= 1 && n <= 9;
}

/* "Z", "+HH:MM" or "-HH:MM" (a space counts as '+': an unescaped '+' in a query string
 * arrives as a space) as seconds east of UTC. */
static bool qp_offset_seconds(const char *s, long long *off) {
    if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
        *off = 0;
        return true;
    }
    int hh, mm;
    if ((s[0] != '+' && s[0] != '-' && s[0] != ' ') || !qp_digits(s + 1, 2, &hh) || s[3] != ':' ||
        !qp_digits(s + 4, 2, &mm) || s[6] != '\0' || hh > 23 || mm > 59)
        return false;
    *off = (hh * 3600LL + mm * 60LL) * (s[0] == '-' ? -1 : 1);
    return true;
}

static int old_task_query_parse_rfc3339(const char *text, long long *us_out) {
    int y, mo, d, h, mi, sec;
    if (text == NULL || strlen(text) < 20 || !qp_digits(text, 4, &y) || text[4] != '-' ||
        !qp_digits(text + 5, 2, &mo) || text[7] != '-' || !qp_digits(text + 8, 2, &d) ||
        (text[10] != 'T' && text[10] != 't') || !qp_digits(text + 11, 2, &h) || text[13] != ':' ||
        !qp_digits(text + 14, 2, &mi) || text[16] != ':' || !qp_digits(text + 17, 2, &sec))
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > qp_days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 59)
        return -1;
    const char *p = text + 19;
    long long frac, off;
    if (!qp_fraction_us(&p, &frac) || !qp_offset_seconds(p, &off))
        return -1;
    long long secs = qp_days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec - off;
    long long us = secs * 1000000LL + frac;
    if (us < qp_min_timestamp_us() || us > qp_max_timestamp_us())
        return -1;
    *us_out = us;
    return 0;
}

/* ---- helpers ---- */

/* A fixed sequence, so a failure repeats. */
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
    return xorshift64(&rng_state);
}

/* Both callers' answers from the one parser equal the former parsers' on text. */
static void assert_same_as_before(const char *text) {
    long long old_ms = 7, new_ms = 7, old_us = 7, new_us = 7;
    int old_rc = old_task_time_parse(text, &old_ms);
    int new_rc = time_parse_rfc3339_ms(text, &new_ms);
    if (old_rc != new_rc || old_ms != new_ms)
        fail_msg("ms of \"%s\": was %d/%lld, is %d/%lld", text, old_rc, old_ms, new_rc, new_ms);
    old_rc = old_task_query_parse_rfc3339(text, &old_us);
    new_rc = task_query_parse_rfc3339(text, &new_us);
    if (old_rc != new_rc || old_us != new_us)
        fail_msg("us of \"%s\": was %d/%lld, is %d/%lld", text, old_rc, old_us, new_rc, new_us);
}

static const char *const SEEDS[] = {
    "2026-11-22T10:00:00Z",
    "2026-11-22t10:00:00.123z",
    "2026-11-22T12:00:00.123456+02:00",
    "2026-11-22T05:30:00.5-04:30",
    "2026-11-22T05:30:00.123456789 04:30",
    "2024-02-29T23:59:59.9999995Z",
    "1969-12-31T23:59:59.9995Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-01:00",
    "2100-02-28T00:00:00+23:59",
    "2000-02-29T00:00:00-23:59",
};

/* ---- named cases ---- */

static void strict_grammar(void **state) {
    (void)state;
    time_rfc3339 t;
    assert_int_equal(time_rfc3339_parse("1970-01-01T00:00:00Z", TIME_RFC3339_STRICT, &t), 0);
    assert_int_equal(t.unix_s, 0);
    assert_int_equal(t.micros, 0);
    assert_false(t.round_up);
    assert_int_equal(time_rfc3339_parse("1970-01-01t01:00:00.1234567+01:00", 0, &t), 0);
    assert_int_equal(t.unix_s, 0);
    assert_int_equal(t.micros, 123456);
    assert_true(t.round_up);
    assert_int_equal(time_rfc3339_parse("1969-12-31T23:59:59.5z", 0, &t), 0);
    assert_int_equal(t.unix_s, -1);
    assert_int_equal(t.micros, 500000);
    static const char *const BAD[] = {
        "",
        "2026-11-22",
        "2026-11-22T10:00:00",             /* no offset */
        "2026-11-22 10:00:00Z",            /* no 'T' */
        "2026-11-22T10:00Z",               /* no seconds */
        "2026-11-22T10:00:60Z",            /* leap second */
        "2026-11-22T24:00:00Z",            /* hour 24 */
        "2026-02-29T00:00:00Z",            /* not a leap year */
        "1900-02-29T00:00:00Z",            /* nor is 1900 */
        "2026-13-01T00:00:00Z",            /* month 13 */
        "2026-00-01T00:00:00Z",            /* month 0 */
        "2026-04-31T00:00:00Z",            /* April 31 */
        "0000-01-01T00:00:00Z",            /* year 0 */
        "2026-11-22T10:00:00.Z",           /* empty fraction */
        "2026-11-22T10:00:00.1234567890Z", /* ten digits */
        "2026-11-22T10:00:00+24:00",       /* offset hour 24 */
        "2026-11-22T10:00:00+02:60",       /* offset minute 60 */
        "2026-11-22T10:00:00+0200",        /* offset without ':' */
        "2026-11-22T10:00:00 02:00",       /* a space is not '+' when strict */
        "2026-11-22T10:00:00Z ",           /* trailing text */
        "+2026-11-22T10:00:00Z",
        "2026-1-22T10:00:00Z",
        "2026-11-22T10:00:00\xef\xbc\x95Z",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        t.unix_s = 42;
        if (time_rfc3339_parse(BAD[i], TIME_RFC3339_STRICT, &t) != -1)
            fail_msg("accepted \"%s\"", BAD[i]);
        assert_int_equal(t.unix_s, 42); /* untouched */
    }
    assert_int_equal(time_rfc3339_parse(NULL, 0, &t), -1);
}

static void space_is_plus_only_when_asked(void **state) {
    (void)state;
    time_rfc3339 t;
    assert_int_equal(time_rfc3339_parse("2026-11-22T12:00:00 02:00", 0, &t), -1);
    assert_int_equal(
        time_rfc3339_parse("2026-11-22T12:00:00 02:00", TIME_RFC3339_SPACE_IS_PLUS, &t), 0);
    time_rfc3339 plus;
    assert_int_equal(time_rfc3339_parse("2026-11-22T12:00:00+02:00", 0, &plus), 0);
    assert_int_equal(t.unix_s, plus.unix_s);
    /* Only in the sign's place. */
    assert_int_equal(time_rfc3339_parse("2026-11-22 12:00:00Z", TIME_RFC3339_SPACE_IS_PLUS, &t),
                     -1);
}

static void the_instant_is_not_bounded_but_callers_bound_it(void **state) {
    (void)state;
    long long ms = 0, us = 0;
    /* Before year 1 once the offset is applied: the writer's form takes it. */
    assert_int_equal(time_parse_rfc3339_ms("0001-01-01T00:30:00+01:00", &ms), 0);
    assert_int_equal(ms, TIME_YEAR_1_UNIX_MS - 1800000);
    /* The list's and reports' form refuses it. */
    assert_int_equal(task_query_parse_rfc3339("0001-01-01T00:30:00+01:00", &us), -1);
    assert_int_equal(task_query_parse_rfc3339("0001-01-01T00:00:00Z", &us), 0);
    assert_int_equal(us, TIME_YEAR_1_UNIX_MS * 1000);
    assert_int_equal(time_parse_rfc3339_ms("9999-12-31T23:59:59.9995Z", &ms), 0);
    assert_int_equal(ms, TIME_YEAR_10000_UNIX_MS); /* rounded into year 10000 */
    assert_int_equal(time_parse_rfc3339_ms("2026-11-22T10:00:00Z", NULL), 0);
}

static void calendar_round_trips(void **state) {
    (void)state;
    long long y;
    int m, d;
    time_civil_from_days(0, &y, &m, &d);
    assert_true(y == 1970 && m == 1 && d == 1);
    time_civil_from_days(TIME_YEAR_1_UNIX_MS / 86400000, &y, &m, &d);
    assert_true(y == 1 && m == 1 && d == 1);
    time_civil_from_days(TIME_YEAR_10000_UNIX_MS / 86400000 - 1, &y, &m, &d);
    assert_true(y == 9999 && m == 12 && d == 31);
    /* Every day of years 0001-9999 is the date it was before, and formats to a text that
     * parses back to that day. */
    for (long long day = TIME_YEAR_1_UNIX_MS / 86400000; day < TIME_YEAR_10000_UNIX_MS / 86400000;
         day++) {
        time_civil_from_days(day, &y, &m, &d);
        long long oy;
        int om, od;
        qp_civil_from_days(day, &oy, &om, &od); /* the former copy (task_query.c) */
        if (oy != y || om != m || od != d)
            fail_msg("day %lld: calendar differs from before", day);
        char text[32];
        snprintf(text, sizeof text, "%04lld-%02d-%02dT00:00:00Z", y, m, d);
        long long ms;
        if (time_parse_rfc3339_ms(text, &ms) != 0 || ms != day * 86400000)
            fail_msg("day %lld: %s", day, text);
    }
}

/* ---- the proof against the former parsers ---- */

static void same_answers_as_before_on_seeds(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof SEEDS / sizeof SEEDS[0]; i++)
        assert_same_as_before(SEEDS[i]);
    assert_same_as_before("");
    assert_same_as_before("2026-11-22T10:00:00");
}

static void same_answers_as_before_on_mutations(void **state) {
    (void)state;
    /* The characters where the grammar turns. */
    static const char POOL[] = "0123456789-:.TtZz+ 9\x01\xff";
    char text[64];
    long accepted = 0;
    for (int i = 0; i < 1000000; i++) {
        const char *seed = SEEDS[rnd() % (sizeof SEEDS / sizeof SEEDS[0])];
        size_t len = strlen(seed);
        memcpy(text, seed, len + 1);
        int edits = 1 + (int)(rnd() % 3);
        for (int e = 0; e < edits && len > 0 && len < sizeof text - 2; e++) {
            size_t at = rnd() % len;
            switch (rnd() % 3) {
            case 0: /* replace */
                text[at] = POOL[rnd() % (sizeof POOL - 1)];
                break;
            case 1: /* drop */
                memmove(text + at, text + at + 1, len - at);
                len--;
                break;
            default: /* repeat */
                memmove(text + at + 1, text + at, len - at + 1);
                len++;
                break;
            }
        }
        assert_same_as_before(text);
        long long ms;
        accepted += time_parse_rfc3339_ms(text, &ms) == 0;
    }
    assert_true(accepted > 1000); /* mutations that stay valid were exercised too */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strict_grammar),
        cmocka_unit_test(space_is_plus_only_when_asked),
        cmocka_unit_test(the_instant_is_not_bounded_but_callers_bound_it),
        cmocka_unit_test(calendar_round_trips),
        cmocka_unit_test(same_answers_as_before_on_seeds),
        cmocka_unit_test(same_answers_as_before_on_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
