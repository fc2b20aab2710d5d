/*
 * test_if_match.c: ETag and If-Match (api/if_match.c).
 *
 * Owns: RFC 9110's rules as the write routes apply them: a task's tag is its version as a
 * strong tag; If-Match matches by strong comparison (weak tags never match), "*" matches
 * any existing task, lists may carry spaces and empty elements, and a malformed value
 * matches nothing (412, never a write under an unreadable guard). Also the weak
 * comparison offered for If-None-Match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/if_match.h"

static void etag_is_the_quoted_version(void **state) {
    (void)state;
    char etag[IF_MATCH_ETAG_MAX];
    assert_string_equal(if_match_etag(1, etag, sizeof etag), "\"1\"");
    assert_string_equal(if_match_etag(9223372036854775807LL, etag, sizeof etag),
                        "\"9223372036854775807\"");
}

static void absent_header_sets_no_condition(void **state) {
    (void)state;
    assert_int_equal(if_match_evaluate(NULL, 3), IF_MATCH_ABSENT);
}

static void star_matches_any_version(void **state) {
    (void)state;
    assert_int_equal(if_match_evaluate("*", 3), IF_MATCH_ANY);
    assert_int_equal(if_match_evaluate("  *\t", 1), IF_MATCH_ANY);
    /* "*" is the whole value or nothing. */
    assert_int_equal(if_match_evaluate("*, \"3\"", 3), IF_MATCH_FAILED);
}

static void current_version_matches(void **state) {
    (void)state;
    assert_int_equal(if_match_evaluate("\"3\"", 3), IF_MATCH_MATCHED);
    assert_int_equal(if_match_evaluate("\"1\", \"3\"", 3), IF_MATCH_MATCHED);
    assert_int_equal(if_match_evaluate("\"3\",\"4\"", 3), IF_MATCH_MATCHED);
    assert_int_equal(if_match_evaluate(" , \"2\" ,, \"3\" ,", 3), IF_MATCH_MATCHED);
}

static void stale_versions_fail(void **state) {
    (void)state;
    assert_int_equal(if_match_evaluate("\"2\"", 3), IF_MATCH_FAILED);
    assert_int_equal(if_match_evaluate("\"1\", \"2\"", 3), IF_MATCH_FAILED);
    /* Opaque tags compare as text: "03" is not "3". */
    assert_int_equal(if_match_evaluate("\"03\"", 3), IF_MATCH_FAILED);
    assert_int_equal(if_match_evaluate("\"abc\"", 3), IF_MATCH_FAILED);
}

static void weak_tags_never_match(void **state) {
    (void)state;
    assert_int_equal(if_match_evaluate("W/\"3\"", 3), IF_MATCH_FAILED);
    assert_int_equal(if_match_evaluate("W/\"3\", \"4\"", 3), IF_MATCH_FAILED);
    assert_int_equal(if_match_evaluate("W/\"3\", \"3\"", 3), IF_MATCH_MATCHED);
}

static void malformed_values_fail(void **state) {
    (void)state;
    const char *bad[] = {"",    "   ",     ",",           "3",         "\"3",     "3\"",
                         "'3'", "w/\"3\"", "\"3\" \"3\"", "\"3\";q=1", "\"a b\"", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        print_message("If-Match: [%s]\n", bad[i]);
        assert_int_equal(if_match_evaluate(bad[i], 3), IF_MATCH_FAILED);
    }
}

static void weak_comparison_for_if_none_match(void **state) {
    (void)state;
    assert_true(if_match_etag_list_matches("W/\"3\"", "\"3\"", true));
    assert_true(if_match_etag_list_matches("\"1\", W/\"3\"", "\"3\"", true));
    assert_false(if_match_etag_list_matches("W/\"3\"", "\"3\"", false));
    assert_true(if_match_etag_list_matches("*", "\"3\"", true));
    assert_false(if_match_etag_list_matches("\"4\"", "\"3\"", true));
    assert_false(if_match_etag_list_matches(NULL, "\"3\"", true));
    assert_false(if_match_etag_list_matches("\"3", "\"3\"", true));
    assert_false(if_match_etag_list_matches("\"3\"", "3", true));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(etag_is_the_quoted_version),
        cmocka_unit_test(absent_header_sets_no_condition),
        cmocka_unit_test(star_matches_any_version),
        cmocka_unit_test(current_version_matches),
        cmocka_unit_test(stale_versions_fail),
        cmocka_unit_test(weak_tags_never_match),
        cmocka_unit_test(malformed_values_fail),
        cmocka_unit_test(weak_comparison_for_if_none_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
