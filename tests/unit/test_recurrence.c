/*
 * test_recurrence.c: the RRULE subset's check and the next occurrence (shared/recurrence.h),
 * with libical and the system's zoneinfo: daylight-saving changes in Europe/Berlin and
 * America/New_York, month ends, COUNT and UNTIL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "shared/recurrence.h"
#include "shared/time_util.h"

/* Unix ms of an RFC 3339 UTC text. */
static int64_t at(const char *text) {
    long long ms;
    assert_int_equal(time_parse_rfc3339_ms(text, &ms), 0);
    return (int64_t)ms;
}

/* The next occurrence of rule in tz after due (RFC 3339), as RFC 3339 UTC text in out, and
 * the next rule in next_rule; returns what recurrence_next returned. */
static int next_of(const char *rule, const char *tz, const char *due, char *out, char *next_rule) {
    int64_t next = 0;
    int rc = recurrence_next(rule, tz, at(due), &next, next_rule, RECURRENCE_RULE_MAX + 1);
    if (rc == 1) {
        time_format_rfc3339_ms((long long)next, out, 32);
    }
    return rc;
}

static void expect_next(const char *rule, const char *tz, const char *due, const char *want) {
    char got[32] = "", next_rule[RECURRENCE_RULE_MAX + 1];
    assert_int_equal(next_of(rule, tz, due, got, next_rule), 1);
    if (strcmp(got, want) != 0) {
        fail_msg("%s in %s after %s: %s, want %s", rule, tz, due, got, want);
    }
}

static void weekly_at_nine_in_berlin_keeps_nine_across_both_changes(void **state) {
    (void)state;
    /* 2027-03-28: CET (+1) -> CEST (+2); 09:00 local is 08:00Z before, 07:00Z after. */
    expect_next("FREQ=WEEKLY", "Europe/Berlin", "2027-03-22T08:00:00.000Z",
                "2027-03-29T07:00:00.000Z");
    /* 2027-10-31: CEST -> CET; 09:00 local is 07:00Z before, 08:00Z after. */
    expect_next("FREQ=WEEKLY;BYDAY=MO", "Europe/Berlin", "2027-10-25T07:00:00.000Z",
                "2027-11-01T08:00:00.000Z");
    /* The same in UTC moves nothing. */
    expect_next("FREQ=WEEKLY", "UTC", "2027-03-22T08:00:00.000Z", "2027-03-29T08:00:00.000Z");
}

static void daily_across_new_york_changes_and_milliseconds_kept(void **state) {
    (void)state;
    /* 2027-03-14: EST -> EDT in New York. 18:30 local. */
    expect_next("FREQ=DAILY", "America/New_York", "2027-03-13T23:30:00.250Z",
                "2027-03-14T22:30:00.250Z");
    expect_next("FREQ=DAILY;INTERVAL=3", "America/New_York", "2027-03-13T23:30:00.000Z",
                "2027-03-16T22:30:00.000Z");
}

/* A time a change skips (02:30 on the last Sunday of March in Berlin) is resolved by
 * libical to 01:30 local standard time, and the series goes on at 01:30 (the documented
 * limit: docs/decisions.md, "Recurring tasks (slice 2)"). */
static void a_skipped_local_time_is_resolved_by_libical(void **state) {
    (void)state;
    expect_next("FREQ=DAILY", "Europe/Berlin", "2030-03-30T01:30:00.000Z", /* 02:30 CET */
                "2030-03-31T00:30:00.000Z");                               /* 01:30 CET */
    expect_next("FREQ=DAILY", "Europe/Berlin", "2030-03-31T00:30:00.000Z",
                "2030-03-31T23:30:00.000Z"); /* 01:30 CEST */
}

static void byday_and_monthly_rules(void **state) {
    (void)state;
    /* Monday 2027-03-01, every Monday and Thursday: Thursday next. */
    expect_next("FREQ=WEEKLY;BYDAY=MO,TH", "UTC", "2027-03-01T09:00:00.000Z",
                "2027-03-04T09:00:00.000Z");
    /* Every other week on Monday: from a Monday, two weeks on. */
    expect_next("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", "UTC", "2027-03-01T09:00:00.000Z",
                "2027-03-15T09:00:00.000Z");
    /* The 31st skips months without one. */
    expect_next("FREQ=MONTHLY;BYMONTHDAY=31", "UTC", "2027-01-31T09:00:00.000Z",
                "2027-03-31T09:00:00.000Z");
    /* The last day of each month. */
    expect_next("FREQ=MONTHLY;BYMONTHDAY=-1", "UTC", "2028-01-31T09:00:00.000Z",
                "2028-02-29T09:00:00.000Z");
    /* The first Monday of each month. */
    expect_next("FREQ=MONTHLY;BYDAY=1MO", "UTC", "2027-03-01T09:00:00.000Z",
                "2027-04-05T09:00:00.000Z");
    expect_next("freq=yearly", "UTC", "2027-06-01T09:00:00.000Z", "2028-06-01T09:00:00.000Z");
}

static void count_is_what_is_left_and_until_ends(void **state) {
    (void)state;
    char got[32], next_rule[RECURRENCE_RULE_MAX + 1];
    assert_int_equal(
        next_of("FREQ=DAILY;COUNT=3", "UTC", "2027-01-01T09:00:00.000Z", got, next_rule), 1);
    assert_string_equal(next_rule, "FREQ=DAILY;COUNT=2");
    assert_int_equal(next_of(next_rule, "UTC", got, got, next_rule), 1);
    assert_string_equal(next_rule, "FREQ=DAILY;COUNT=1");
    assert_int_equal(next_of(next_rule, "UTC", got, got, next_rule), 0);
    assert_int_equal(next_of("FREQ=DAILY;UNTIL=20270102T090000Z", "UTC", "2027-01-01T09:00:00.000Z",
                             got, next_rule),
                     1);
    assert_string_equal(got, "2027-01-02T09:00:00.000Z");
    assert_string_equal(next_rule, "FREQ=DAILY;UNTIL=20270102T090000Z");
    assert_int_equal(next_of(next_rule, "UTC", got, got, next_rule), 0);
    assert_int_equal(
        next_of("FREQ=DAILY;UNTIL=20270101", "UTC", "2027-01-01T09:00:00.000Z", got, next_rule), 0);
}

static void each_refusal_names_its_part(void **state) {
    (void)state;
    static const struct {
        const char *rule, *tz, *part;
    } bad[] = {
        {"", "UTC", "rule"},
        {"WEEKLY", "UTC", "rule"},
        {"INTERVAL=2", "UTC", "FREQ"},
        {"FREQ=HOURLY", "UTC", "FREQ"},
        {"FREQ=DAILY;FREQ=DAILY", "UTC", "FREQ"},
        {"FREQ=DAILY;INTERVAL=0", "UTC", "INTERVAL"},
        {"FREQ=DAILY;INTERVAL=x", "UTC", "INTERVAL"},
        {"FREQ=WEEKLY;BYDAY=MON", "UTC", "BYDAY"},
        {"FREQ=WEEKLY;BYDAY=MO,,TU", "UTC", "BYDAY"},
        {"FREQ=WEEKLY;BYDAY=,MO", "UTC", "BYDAY"},
        {"FREQ=WEEKLY;BYDAY=MO,", "UTC", "BYDAY"},
        {"FREQ=WEEKLY;BYDAY=", "UTC", "BYDAY"},
        {"FREQ=WEEKLY;BYDAY=1MO", "UTC", "BYDAY"},
        {"FREQ=MONTHLY;BYDAY=0MO", "UTC", "BYDAY"},
        {"FREQ=MONTHLY;BYMONTHDAY=32", "UTC", "BYMONTHDAY"},
        {"FREQ=MONTHLY;BYMONTHDAY=0", "UTC", "BYMONTHDAY"},
        {"FREQ=WEEKLY;BYMONTHDAY=1", "UTC", "BYMONTHDAY"},
        {"FREQ=DAILY;COUNT=0", "UTC", "COUNT"},
        {"FREQ=DAILY;COUNT=2;UNTIL=20270101", "UTC", "COUNT"},
        {"FREQ=DAILY;UNTIL=20270231", "UTC", "UNTIL"},
        {"FREQ=DAILY;UNTIL=2027-01-01", "UTC", "UNTIL"},
        {"FREQ=DAILY;BYHOUR=9", "UTC", "rule"},
        {"FREQ=DAILY", "Mars/Olympus_Mons", "time_zone"},
        {"FREQ=DAILY", "../../etc/passwd", "time_zone"},
        {"FREQ=DAILY", "", "time_zone"},
        /* names zoneinfo has but zone.tab does not: host-dependent, or not a place */
        {"FREQ=DAILY", "right/Europe/Berlin", "time_zone"},
        {"FREQ=DAILY", "posix/Europe/Berlin", "time_zone"},
        {"FREQ=DAILY", "localtime", "time_zone"},
        {"FREQ=DAILY", "Factory", "time_zone"},
        /* rules that can never occur, which libical would search for in vain */
        {"FREQ=MONTHLY;BYDAY=6MO", "UTC", "BYDAY"},
        {"FREQ=MONTHLY;BYDAY=MO,-6FR", "UTC", "BYDAY"},
        {"FREQ=MONTHLY;BYMONTHDAY=31;BYDAY=1MO", "UTC", "BYMONTHDAY"},
        {"FREQ=YEARLY;BYMONTHDAY=31;BYDAY=1MO", "UTC", "BYMONTHDAY"},
        {"FREQ=MONTHLY;BYMONTHDAY=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,"
         "25,26,27,28,29,30,31,1",
         "UTC", "BYMONTHDAY"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *part = NULL;
        const char *why = recurrence_check(bad[i].rule, bad[i].tz, &part);
        if (why == NULL || part == NULL || strcmp(part, bad[i].part) != 0) {
            fail_msg("%s in %s: %s (%s), want a refusal naming %s", bad[i].rule, bad[i].tz,
                     why ? why : "accepted", part ? part : "-", bad[i].part);
        }
    }
    const char *part = NULL;
    assert_null(recurrence_check("RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR;COUNT=5",
                                 "Europe/Berlin", &part));
    assert_null(recurrence_check("FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20271231T235959Z",
                                 "America/New_York", &part));
    assert_null(recurrence_check("FREQ=MONTHLY;BYDAY=5MO,-5FR", "UTC", &part));
    assert_null(recurrence_check("FREQ=YEARLY;BYDAY=53MO", "UTC", &part));
    assert_null(recurrence_check("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", "UTC", &part));
}

/* The part a refusal names outlives the call: a second check, which parses another text
 * in the same stack frame, must not change what the first one named. */
static void the_part_outlives_the_call(void **state) {
    (void)state;
    const char *first = NULL, *second = NULL;
    assert_non_null(recurrence_check("byday=xx;freq=weekly", "UTC", &first));
    assert_non_null(recurrence_check("COUNT=0;FREQ=DAILY", "UTC", &second));
    assert_string_equal(first, "BYDAY");
    assert_string_equal(second, "COUNT");
    assert_non_null(recurrence_check("FREQ=DAILY;BYHOUR=9", "UTC", &first));
    assert_string_equal(first, "rule"); /* not FREQ, the part before it */
}

/* The canonical text: upper case, no prefix, the parts in one order, COUNT as given. */
static void canonical_text(void **state) {
    (void)state;
    char out[RECURRENCE_RULE_MAX + 1];
    assert_int_equal(recurrence_canonical("rrule:count=3;byday=mo,fr;freq=weekly", out, sizeof out),
                     0);
    assert_string_equal(out, "FREQ=WEEKLY;BYDAY=MO,FR;COUNT=3");
    assert_int_equal(
        recurrence_canonical("UNTIL=20301231;FREQ=MONTHLY;BYMONTHDAY=-1", out, sizeof out), 0);
    assert_string_equal(out, "FREQ=MONTHLY;BYMONTHDAY=-1;UNTIL=20301231");
    assert_int_equal(recurrence_canonical("FREQ=HOURLY", out, sizeof out), -1);
}

/* libical's zone table is global and unlocked: checks from many threads at once, with
 * known and unknown names, must neither crash nor disagree (the module's lock). */
#define THREADS 8
#define ROUNDS 200

static void *check_many(void *arg) {
    static const char *const zones[] = {"Europe/Berlin",    "right/Europe/Paris",
                                        "America/New_York", "posix/Asia/Tokyo",
                                        "Australia/Sydney", "Nowhere/City"};
    static const bool known[] = {true, false, true, false, true, false};
    long k = (long)(intptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        size_t z = (size_t)(k + i) % (sizeof zones / sizeof zones[0]);
        const char *part = NULL;
        bool ok = recurrence_check("FREQ=WEEKLY", zones[z], &part) == NULL;
        int64_t next = 0;
        char rule[RECURRENCE_RULE_MAX + 1];
        int found =
            recurrence_next("FREQ=DAILY", zones[z], 1900000000000LL, &next, rule, sizeof rule);
        if (ok != known[z] || found != (known[z] ? 1 : -1)) {
            return (void *)zones[z];
        }
    }
    return NULL;
}

static void threads_share_libical(void **state) {
    (void)state;
    pthread_t t[THREADS];
    for (long k = 0; k < THREADS; k++) {
        assert_int_equal(pthread_create(&t[k], NULL, check_many, (void *)(intptr_t)k), 0);
    }
    for (long k = 0; k < THREADS; k++) {
        void *bad = NULL;
        assert_int_equal(pthread_join(t[k], &bad), 0);
        if (bad != NULL) {
            fail_msg("thread %ld: %s was judged wrongly", k, (const char *)bad);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(weekly_at_nine_in_berlin_keeps_nine_across_both_changes),
        cmocka_unit_test(daily_across_new_york_changes_and_milliseconds_kept),
        cmocka_unit_test(byday_and_monthly_rules),
        cmocka_unit_test(count_is_what_is_left_and_until_ends),
        cmocka_unit_test(each_refusal_names_its_part),
        cmocka_unit_test(the_part_outlives_the_call),
        cmocka_unit_test(canonical_text),
        cmocka_unit_test(a_skipped_local_time_is_resolved_by_libical),
        cmocka_unit_test(threads_share_libical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
