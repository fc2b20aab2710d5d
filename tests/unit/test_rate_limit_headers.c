/*
 * test_rate_limit_headers.c: the RateLimit-Policy and RateLimit fields
 * (api/rate_limit_headers.c): which policy the headers describe, the RFC 9651 text, and
 * that a buffer too small gives no field rather than a truncated one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api/rate_limit_headers.h"

static void test_empty_writes_nothing(void **state) {
    (void)state;
    rate_limit_headers h = {0};
    char buf[RATE_LIMIT_HEADER_MAX] = "junk";
    assert_int_equal(rate_limit_headers_pick(&h), -1);
    assert_int_equal(rate_limit_headers_format_policy(&h, buf, sizeof buf), -1);
    assert_string_equal(buf, "");
    strcpy(buf, "junk");
    assert_int_equal(rate_limit_headers_format_limit(&h, RATE_POLICY_IP, buf, sizeof buf), -1);
    assert_string_equal(buf, "");
}

static void test_one_policy(void **state) {
    (void)state;
    rate_limit_headers h = {0};
    rate_limit_headers_note(&h, RATE_POLICY_IP, 600, 60, 599, 1);
    char buf[RATE_LIMIT_HEADER_MAX];
    assert_int_equal(rate_limit_headers_pick(&h), RATE_POLICY_IP);
    int n = rate_limit_headers_format_policy(&h, buf, sizeof buf);
    assert_string_equal(buf, "\"ip\";q=600;w=60");
    assert_int_equal(n, (int)strlen(buf));
    n = rate_limit_headers_format_limit(&h, RATE_POLICY_IP, buf, sizeof buf);
    assert_string_equal(buf, "\"ip\";r=599;t=1");
    assert_int_equal(n, (int)strlen(buf));
}

/* Every policy listed in the fixed order whatever the order they were noted in; the
 * tightest described. */
static void test_every_policy_listed_tightest_described(void **state) {
    (void)state;
    rate_limit_headers h = {0};
    rate_limit_headers_note(&h, RATE_POLICY_LOGIN_ACCOUNT, 10, 300, 7, 30);
    rate_limit_headers_note(&h, RATE_POLICY_AUTH, 20, 60, 3, 3);
    rate_limit_headers_note(&h, RATE_POLICY_IP, 600, 60, 590, 1);
    char buf[RATE_LIMIT_HEADER_MAX];
    rate_limit_headers_format_policy(&h, buf, sizeof buf);
    assert_string_equal(buf, "\"ip\";q=600;w=60, \"auth\";q=20;w=60, \"login_account\";q=10;w=300");
    int id = rate_limit_headers_pick(&h);
    assert_int_equal(id, RATE_POLICY_AUTH);
    rate_limit_headers_format_limit(&h, id, buf, sizeof buf);
    assert_string_equal(buf, "\"auth\";r=3;t=3");
}

static void test_pick_ties(void **state) {
    (void)state;
    rate_limit_headers h = {0};
    rate_limit_headers_note(&h, RATE_POLICY_IP, 600, 60, 0, 2);
    rate_limit_headers_note(&h, RATE_POLICY_USER, 300, 60, 0, 5);
    assert_int_equal(rate_limit_headers_pick(&h), RATE_POLICY_USER); /* same r: longer t */
    rate_limit_headers_note(&h, RATE_POLICY_USER, 300, 60, 0, 2);
    assert_int_equal(rate_limit_headers_pick(&h), RATE_POLICY_IP); /* same r and t: first */
    rate_limit_headers_note(&h, RATE_POLICY_USER, 300, 60, 1, 9);
    assert_int_equal(rate_limit_headers_pick(&h), RATE_POLICY_IP); /* fewer left wins */
}

/* Noting a policy again replaces it (a request charged twice to one policy); it is listed
 * once. */
static void test_note_replaces(void **state) {
    (void)state;
    rate_limit_headers h = {0};
    rate_limit_headers_note(&h, RATE_POLICY_IP, 600, 60, 10, 1);
    rate_limit_headers_note(&h, RATE_POLICY_IP, 600, 60, 0, 4);
    char buf[RATE_LIMIT_HEADER_MAX];
    rate_limit_headers_format_policy(&h, buf, sizeof buf);
    assert_string_equal(buf, "\"ip\";q=600;w=60");
    rate_limit_headers_format_limit(&h, RATE_POLICY_IP, buf, sizeof buf);
    assert_string_equal(buf, "\"ip\";r=0;t=4");
}

static void test_out_of_range_and_negative(void **state) {
    (void)state;
    rate_limit_headers h = {0};
    rate_limit_headers_note(&h, RATE_POLICY_COUNT, 1, 1, 1, 1);
    rate_limit_headers_note(&h, (rate_policy_id)-1, 1, 1, 1, 1);
    assert_int_equal(h.present, 0);
    assert_null(rate_policy_name(RATE_POLICY_COUNT));
    assert_string_equal(rate_policy_name(RATE_POLICY_LOGIN_ACCOUNT), "login_account");
    rate_limit_headers_note(&h, RATE_POLICY_USER, -5, -1, -3, -2);
    char buf[RATE_LIMIT_HEADER_MAX];
    rate_limit_headers_format_limit(&h, RATE_POLICY_USER, buf, sizeof buf);
    assert_string_equal(buf, "\"user\";r=0;t=0");
    assert_int_equal(rate_limit_headers_format_limit(&h, RATE_POLICY_IP, buf, sizeof buf), -1);
    assert_int_equal(rate_limit_headers_format_limit(&h, 99, buf, sizeof buf), -1);
}

/* The largest values of every policy fit RATE_LIMIT_HEADER_MAX; one byte short of a field
 * gives -1 and an empty buffer. */
static void test_sizes(void **state) {
    (void)state;
    rate_limit_headers h = {0};
    for (int id = 0; id < RATE_POLICY_COUNT; id++)
        rate_limit_headers_note(&h, (rate_policy_id)id, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX);
    char buf[RATE_LIMIT_HEADER_MAX];
    int n = rate_limit_headers_format_policy(&h, buf, sizeof buf);
    assert_true(n > 0 && n < RATE_LIMIT_HEADER_MAX);
    char small[RATE_LIMIT_HEADER_MAX];
    assert_int_equal(rate_limit_headers_format_policy(&h, small, (size_t)n), -1);
    assert_string_equal(small, "");
    assert_int_equal(rate_limit_headers_format_policy(&h, small, (size_t)n + 1), n);
    assert_string_equal(small, buf);
    n = rate_limit_headers_format_limit(&h, RATE_POLICY_LOGIN_ACCOUNT, buf, sizeof buf);
    assert_string_equal(buf, "\"login_account\";r=2147483647;t=2147483647");
    assert_int_equal(
        rate_limit_headers_format_limit(&h, RATE_POLICY_LOGIN_ACCOUNT, small, (size_t)n), -1);
    assert_string_equal(small, "");
    assert_int_equal(rate_limit_headers_format_policy(&h, NULL, 10), -1);
    assert_int_equal(rate_limit_headers_format_limit(&h, 0, small, 0), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_writes_nothing),
        cmocka_unit_test(test_one_policy),
        cmocka_unit_test(test_every_policy_listed_tightest_described),
        cmocka_unit_test(test_pick_ties),
        cmocka_unit_test(test_note_replaces),
        cmocka_unit_test(test_out_of_range_and_negative),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
