/*
 * test_request_id.c: which X-Request-ID values are reused and what replaces the others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/request_id.h"
#include "shared/uuid7.h"

static void test_valid_ids(void **state) {
    (void)state;
    assert_true(request_id_is_valid("a"));
    assert_true(request_id_is_valid("abc-DEF_123.4:5"));
    assert_true(request_id_is_valid("01906d3c-8f8e-7b5c-9d1a-3b2c4d5e6f70"));
    char max[REQUEST_ID_MAX_LEN + 1];
    memset(max, 'x', REQUEST_ID_MAX_LEN);
    max[REQUEST_ID_MAX_LEN] = '\0';
    assert_true(request_id_is_valid(max));
}

static void test_invalid_ids(void **state) {
    (void)state;
    char too_long[REQUEST_ID_MAX_LEN + 2];
    memset(too_long, 'x', REQUEST_ID_MAX_LEN + 1);
    too_long[REQUEST_ID_MAX_LEN + 1] = '\0';
    const char *bad[] = {"",     "a b", "a\nb", "a\"b",   "a/b", "a;b", "caf\xc3\xa9",
                         "a\tb", "{x}", "a,b",  too_long, "a\\b"};
    assert_false(request_id_is_valid(NULL));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(request_id_is_valid(bad[i]));
    }
}

static void test_choose_keeps_a_valid_id(void **state) {
    (void)state;
    char out[REQUEST_ID_MAX_LEN + 1];
    request_id_choose("client-id.42", out);
    assert_string_equal(out, "client-id.42");
}

static void test_choose_replaces_an_invalid_id(void **state) {
    (void)state;
    char first[REQUEST_ID_MAX_LEN + 1], second[REQUEST_ID_MAX_LEN + 1];
    request_id_choose("bad id\r\nX-Injected: 1", first);
    request_id_choose(NULL, second);
    assert_true(uuid_is_valid(first));
    assert_true(uuid_is_valid(second));
    assert_int_equal(first[14], '7'); /* version nibble */
    assert_true(uuid7_unix_ms(first) > 0);
    assert_true(strcmp(first, second) < 0); /* time-ordered, strictly increasing */
    assert_true(request_id_is_valid(first));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_ids),
        cmocka_unit_test(test_invalid_ids),
        cmocka_unit_test(test_choose_keeps_a_valid_id),
        cmocka_unit_test(test_choose_replaces_an_invalid_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
