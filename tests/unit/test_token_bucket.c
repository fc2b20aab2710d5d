/*
 * test_token_bucket.c: the importer's pacing: a full bucket at start, refill at the rate,
 * the burst cap, refunds, the wait until the next token, a clock stepping backwards, and
 * that over a long run the tokens handed out never exceed burst + rate * time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shared/token_bucket.h"

#define S 1000000000LL

static void test_basics(void **state) {
    (void)state;
    token_bucket b;
    token_bucket_init(&b, 200, 40, 0);
    assert_int_equal(token_bucket_take(&b, 100, 0), 40); /* full bucket = burst */
    assert_int_equal(token_bucket_take(&b, 1, 0), 0);
    assert_int_equal(token_bucket_wait_ns(&b, 0), S / 200);
    assert_int_equal(token_bucket_take(&b, 100, S / 10), 20); /* 0.1 s at 200/s */
    token_bucket_refund(&b, 5);
    assert_int_equal(token_bucket_take(&b, 100, S / 10), 5);
    assert_int_equal(token_bucket_take(&b, 100, 100 * S), 40); /* capped at burst */
    token_bucket_refund(&b, 1000);
    assert_int_equal(token_bucket_take(&b, 1000, 100 * S), 40);
    assert_int_equal(token_bucket_take(&b, 0, 200 * S), 0);
    assert_int_equal(token_bucket_wait_ns(&b, 200 * S), 0);
}

static void test_backwards_clock(void **state) {
    (void)state;
    token_bucket b;
    token_bucket_init(&b, 10, 1, 5 * S);
    assert_int_equal(token_bucket_take(&b, 1, 5 * S), 1);
    assert_int_equal(token_bucket_take(&b, 1, 1 * S), 0); /* earlier: nothing accrues */
    assert_int_equal(token_bucket_take(&b, 1, 5 * S + S / 10), 1);
}

static void test_long_run(void **state) {
    (void)state;
    token_bucket b;
    token_bucket_init(&b, 200, 40, 0);
    long taken = 0;
    int64_t now = 0;
    for (int i = 0; i < 10000; i++) {
        now += 7 * 1000000LL; /* a pass every 7 ms for 70 s */
        taken += token_bucket_take(&b, 500, now);
        assert_true(taken <= 40 + (long)(200.0 * (double)now / 1e9) + 1);
    }
    assert_true(taken >= 200 * 70 - 1);
}

static void test_bad_settings(void **state) {
    (void)state;
    token_bucket b;
    token_bucket_init(&b, 0, 0, 0);
    assert_int_equal(token_bucket_take(&b, 5, 0), 1);
    assert_int_equal(token_bucket_take(&b, 5, S), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_backwards_clock),
        cmocka_unit_test(test_long_run),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
