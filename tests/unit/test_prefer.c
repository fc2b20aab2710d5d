/*
 * test_prefer.c: Prefer: wait=N (api/prefer.c, prefer_wait).
 *
 * Owns: RFC 7240 as the write routes read it: N is delta-seconds, capped at 30, 0 means
 * "do not wait"; preference names are case-insensitive, "=" may have whitespace around
 * it, parameters after ";" are ignored, other preferences are ignored, only the first
 * wait counts (even when it is malformed), and commas inside quoted strings do not split
 * the list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/prefer.h"

static void plain_wait(void **state) {
    (void)state;
    assert_int_equal(prefer_wait("wait=5"), 5);
    assert_int_equal(prefer_wait("wait=1"), 1);
    assert_int_equal(prefer_wait("wait=30"), 30);
    assert_int_equal(prefer_wait("  wait=7  "), 7);
    assert_int_equal(prefer_wait("wait=007"), 7);
}

static void no_wait(void **state) {
    (void)state;
    assert_int_equal(prefer_wait(NULL), 0);
    assert_int_equal(prefer_wait(""), 0);
    assert_int_equal(prefer_wait("wait=0"), 0);
    assert_int_equal(prefer_wait("return=minimal"), 0);
    assert_int_equal(prefer_wait("respond-async"), 0);
    assert_int_equal(prefer_wait("waiting=5"), 0);
    assert_int_equal(prefer_wait("await=5"), 0);
}

static void large_values_are_capped(void **state) {
    (void)state;
    assert_int_equal(prefer_wait("wait=31"), 30);
    assert_int_equal(prefer_wait("wait=3600"), 30);
    assert_int_equal(prefer_wait("wait=99999999999999999999999999"), 30);
}

static void grammar_variants(void **state) {
    (void)state;
    assert_int_equal(prefer_wait("WAIT=3"), 3);
    assert_int_equal(prefer_wait("Wait = 4"), 4);
    assert_int_equal(prefer_wait("wait=\"6\""), 6);
    assert_int_equal(prefer_wait("wait=5;foo=bar"), 5);
    assert_int_equal(prefer_wait("wait=5 ; foo"), 5);
    assert_int_equal(prefer_wait("respond-async, wait=10"), 10);
    assert_int_equal(prefer_wait("return=representation,wait=9,handling=lenient"), 9);
    assert_int_equal(prefer_wait("foo=\"a,wait=9\", wait=2"), 2);
}

static void only_the_first_wait_counts(void **state) {
    (void)state;
    assert_int_equal(prefer_wait("wait=5, wait=10"), 5);
    assert_int_equal(prefer_wait("wait=abc, wait=10"), 0);
}

static void malformed_waits_are_ignored(void **state) {
    (void)state;
    const char *bad[] = {"wait",      "wait=",    "wait=-1",  "wait=1.5", "wait=5s", "wait=5 6",
                         "wait=\"\"", "wait=0x5", "wait=\"5", "wait=+5",  NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        print_message("Prefer: [%s]\n", bad[i]);
        assert_int_equal(prefer_wait(bad[i]), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_wait),
        cmocka_unit_test(no_wait),
        cmocka_unit_test(large_values_are_capped),
        cmocka_unit_test(grammar_variants),
        cmocka_unit_test(only_the_first_wait_counts),
        cmocka_unit_test(malformed_waits_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
