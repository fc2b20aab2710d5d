/*
 * test_gcra.c: the GCRA arithmetic (gcra_decide in shared/gcra.c).
 *
 * Drives the pure function the way Redis drives the script: each allowed decision's
 * new_tat_ms becomes the next stored TAT, a denied one stores nothing. next_s (the
 * RateLimit field's t) is checked against its definition: r requests get through until
 * t - 1 s later, r + 1 from t s later, and it is Retry-After on a refusal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "shared/gcra.h"

#define NOW 1700000000000LL /* an arbitrary wall-clock millisecond */

/* One request against a bucket whose TAT lives in *tat. */
static ratelimit_result take(rate_limit_spec spec, int64_t *tat, int64_t now) {
    ratelimit_result r = gcra_decide(spec, *tat, now);
    if (r.allowed)
        *tat = r.new_tat_ms;
    return r;
}

static void test_first_request(void **state) {
    (void)state;
    rate_limit_spec spec = {10, 60}; /* interval 6 s */
    ratelimit_result r = gcra_decide(spec, 0, NOW);
    assert_true(r.allowed);
    assert_int_equal(r.limit, 10);
    assert_int_equal(r.remaining, 9);
    assert_int_equal(r.reset_s, 6);
    assert_int_equal(r.retry_after_s, 0);
    assert_int_equal(r.new_tat_ms, NOW + 6000);
}

static void test_stale_tat_counts_as_empty(void **state) {
    (void)state;
    rate_limit_spec spec = {10, 60};
    ratelimit_result fresh = gcra_decide(spec, 0, NOW);
    ratelimit_result stale = gcra_decide(spec, NOW - 3600 * 1000, NOW);
    assert_true(stale.allowed);
    assert_int_equal(stale.remaining, fresh.remaining);
    assert_int_equal(stale.new_tat_ms, fresh.new_tat_ms);
}

static void test_burst_then_denied(void **state) {
    (void)state;
    rate_limit_spec spec = {10, 60};
    int64_t tat = 0;
    for (int i = 0; i < 10; i++) {
        ratelimit_result r = take(spec, &tat, NOW);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 9 - i);
        assert_int_equal(r.reset_s, 6 * (i + 1));
    }
    assert_int_equal(tat, NOW + 60000);
    ratelimit_result r = take(spec, &tat, NOW);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retry_after_s, 6);
    assert_int_equal(r.reset_s, 60);
    assert_int_equal(tat, NOW + 60000); /* a denial stores nothing */

    /* Retry-After shrinks as time passes and stays at least 1. */
    r = gcra_decide(spec, tat, NOW + 5500);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_s, 1);
    r = gcra_decide(spec, tat, NOW + 5999);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_s, 1);
    r = gcra_decide(spec, tat, NOW + 2500);
    assert_int_equal(r.retry_after_s, 4);
}

static void test_refill_after_one_interval(void **state) {
    (void)state;
    rate_limit_spec spec = {10, 60};
    int64_t tat = 0;
    for (int i = 0; i < 10; i++)
        assert_true(take(spec, &tat, NOW).allowed);
    assert_false(take(spec, &tat, NOW + 5999).allowed);
    ratelimit_result r = take(spec, &tat, NOW + 6000);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_false(take(spec, &tat, NOW + 6000).allowed);
    /* Two more intervals earn exactly two more requests. */
    assert_true(take(spec, &tat, NOW + 18000).allowed);
    assert_true(take(spec, &tat, NOW + 18000).allowed);
    assert_false(take(spec, &tat, NOW + 18000).allowed);
}

static void test_full_after_a_period(void **state) {
    (void)state;
    rate_limit_spec spec = {5, 10};
    int64_t tat = 0;
    for (int i = 0; i < 5; i++)
        assert_true(take(spec, &tat, NOW).allowed);
    assert_false(take(spec, &tat, NOW).allowed);
    ratelimit_result r = take(spec, &tat, NOW + 10000);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 4);
}

static void test_steady_rate_is_sustained(void **state) {
    (void)state;
    rate_limit_spec spec = {600, 60}; /* one per 100 ms */
    int64_t tat = 0;
    for (int i = 0; i < 600; i++)
        assert_true(take(spec, &tat, NOW).allowed);
    int allowed = 0;
    for (int64_t t = NOW; t <= NOW + 10000; t += 10) /* 1001 tries over 10 s */
        allowed += take(spec, &tat, t).allowed ? 1 : 0;
    assert_int_equal(allowed, 100);
}

static void test_reset_rounds_up(void **state) {
    (void)state;
    rate_limit_spec spec = {3, 1}; /* interval 333 ms */
    int64_t tat = 0;
    ratelimit_result r = take(spec, &tat, NOW);
    assert_int_equal(r.reset_s, 1);
    assert_int_equal(r.remaining, 2);
    r = take(spec, &tat, NOW);
    r = take(spec, &tat, NOW);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.reset_s, 1);
    r = take(spec, &tat, NOW);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_s, 1);
}

static void test_large_periods(void **state) {
    (void)state;
    rate_limit_spec hour = {100, 3600}; /* interval 36 s */
    int64_t tat = 0;
    ratelimit_result r = take(hour, &tat, NOW);
    assert_int_equal(r.remaining, 99);
    assert_int_equal(r.reset_s, 36);
    for (int i = 1; i < 100; i++)
        assert_true(take(hour, &tat, NOW).allowed);
    r = take(hour, &tat, NOW);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_s, 36);
    assert_int_equal(r.reset_s, 3600);

    rate_limit_spec week = {1, 604800};
    tat = 0;
    r = take(week, &tat, NOW);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.reset_s, 604800);
    r = take(week, &tat, NOW + 1000);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_s, 604799);
    assert_true(take(week, &tat, NOW + 604800000LL).allowed);
}

static void test_single_request_bucket(void **state) {
    (void)state;
    rate_limit_spec spec = {1, 60};
    int64_t tat = 0;
    ratelimit_result r = take(spec, &tat, NOW);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.reset_s, 60);
    r = take(spec, &tat, NOW + 30000);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_s, 30);
    assert_true(take(spec, &tat, NOW + 60000).allowed);
}

/* Above 1000/s the millisecond form clamps the interval to 1 ms: still a limiter,
 * still no division by zero, remaining never above the limit. */
static void test_very_high_rate(void **state) {
    (void)state;
    rate_limit_spec spec = {1000000, 1};
    int64_t tat = 0;
    ratelimit_result r = take(spec, &tat, NOW);
    assert_true(r.allowed);
    assert_true(r.remaining <= r.limit);
    assert_true(r.remaining > 0);
    for (int i = 0; i < 2000; i++)
        take(spec, &tat, NOW);
    r = take(spec, &tat, NOW);
    assert_false(r.allowed);
    assert_true(r.retry_after_s >= 1);
}

/* How many requests in a row a bucket with this TAT admits at `now` (the TAT is a copy). */
static int admits(rate_limit_spec spec, int64_t tat, int64_t now) {
    int n = 0;
    while (take(spec, &tat, now).allowed)
        n++;
    return n;
}

static void test_next_s_on_a_burst(void **state) {
    (void)state;
    rate_limit_spec spec = {10, 60}; /* interval 6 s */
    int64_t tat = 0;
    ratelimit_result r = take(spec, &tat, NOW);
    assert_int_equal(r.remaining, 9);
    assert_int_equal(r.next_s, 6); /* the unit just spent comes back after one interval */
    for (int i = 0; i < 8; i++)
        r = take(spec, &tat, NOW + 1000);
    assert_int_equal(r.remaining, 1);
    assert_int_equal(r.next_s, 5); /* the first spent unit, 1 s later */
    r = take(spec, &tat, NOW + 1000);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.next_s, 5);
    ratelimit_result refused = take(spec, &tat, NOW + 2500);
    assert_false(refused.allowed);
    assert_int_equal(refused.next_s, refused.retry_after_s);
    assert_int_equal(refused.retry_after_s, 4); /* 3.5 s rounded up */
}

/* The definition, on many states: at now + (t - 1) s the bucket admits exactly r more
 * (t > 1) and at now + t s at least r + 1; a refusal's t is Retry-After. */
static void test_next_s_matches_its_definition(void **state) {
    (void)state;
    const rate_limit_spec specs[] = {{10, 60}, {7, 60}, {600, 60}, {5, 1}, {3, 3600}, {20, 7}};
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        rate_limit_spec spec = specs[k];
        int64_t tat = 0, now = NOW;
        for (int step = 0; step < 400; step++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            now += (int64_t)((seed >> 33) % (uint64_t)(spec.period_s * 1000 / spec.count * 2 + 1));
            ratelimit_result r = take(spec, &tat, now);
            assert_true(r.next_s >= 1);
            if (!r.allowed) {
                assert_int_equal(r.remaining, 0);
                assert_int_equal(r.next_s, r.retry_after_s);
                assert_int_equal(admits(spec, tat, now + (int64_t)(r.next_s - 1) * 1000), 0);
                assert_true(admits(spec, tat, now + (int64_t)r.next_s * 1000) >= 1);
                continue;
            }
            assert_int_equal(admits(spec, tat, now), r.remaining);
            if (r.next_s > 1)
                assert_int_equal(admits(spec, tat, now + (int64_t)(r.next_s - 1) * 1000),
                                 r.remaining);
            assert_true(admits(spec, tat, now + (int64_t)r.next_s * 1000) >= r.remaining + 1);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_s_on_a_burst),
        cmocka_unit_test(test_next_s_matches_its_definition),
        cmocka_unit_test(test_first_request),
        cmocka_unit_test(test_stale_tat_counts_as_empty),
        cmocka_unit_test(test_burst_then_denied),
        cmocka_unit_test(test_refill_after_one_interval),
        cmocka_unit_test(test_full_after_a_period),
        cmocka_unit_test(test_steady_rate_is_sustained),
        cmocka_unit_test(test_reset_rounds_up),
        cmocka_unit_test(test_large_periods),
        cmocka_unit_test(test_single_request_bucket),
        cmocka_unit_test(test_very_high_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
