/*
 * test_problem.c: RFC 9457 problem objects (shared/problem.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "shared/problem.h"

static void test_full_problem(void **state) {
    (void)state;
    json_t *p = problem_new(404, "not-found", "no such task", "req-1");
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "type")), "/problems/not-found");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Not found");
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(p, "detail")), "no such task");
    assert_string_equal(json_string_value(json_object_get(p, "request_id")), "req-1");
    assert_null(json_object_get(p, "errors"));
    json_decref(p);
}

static void test_optional_fields_absent(void **state) {
    (void)state;
    json_t *p = problem_new(500, "internal-error", NULL, NULL);
    assert_non_null(p);
    assert_null(json_object_get(p, "detail"));
    assert_null(json_object_get(p, "request_id"));
    assert_int_equal(json_object_size(p), 3);
    json_decref(p);
}

static void test_every_decided_slug_has_a_title(void **state) {
    (void)state;
    static const char *const slugs[] = {
        "malformed-json",    "validation-error",       "not-found",     "method-not-allowed",
        "payload-too-large", "unsupported-media-type", "unauthorized",  "forbidden",
        "email-taken",       "invalid-credentials",    "rate-limited",  "service-unavailable",
        "internal-error",    "report-not-ready",       "report-expired"};
    const char *generic = problem_title("no-such-slug");
    for (size_t i = 0; i < sizeof slugs / sizeof slugs[0]; i++) {
        const char *t = problem_title(slugs[i]);
        assert_non_null(t);
        assert_true(strlen(t) > 0);
        if (strcmp(t, generic) == 0)
            fail_msg("slug %s has only the generic title", slugs[i]);
    }
    assert_string_equal(problem_title("validation-error"), "Validation failed");
}

static void test_unknown_slug(void **state) {
    (void)state;
    json_t *p = problem_new(418, "teapot", NULL, NULL);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "type")), "/problems/teapot");
    assert_string_equal(json_string_value(json_object_get(p, "title")), problem_title("x"));
    assert_non_null(problem_title(NULL));
    json_decref(p);
}

static void test_field_errors(void **state) {
    (void)state;
    json_t *p = problem_new(422, "validation-error", "2 fields are invalid", "r");
    problem_add_field_error(p, "title", "must be 1 to 200 characters");
    problem_add_field_error(p, "priority", "must be one of low, medium, high, urgent");
    json_t *errors = json_object_get(p, "errors");
    assert_true(json_is_array(errors));
    assert_int_equal(json_array_size(errors), 2);
    json_t *first = json_array_get(errors, 0);
    assert_string_equal(json_string_value(json_object_get(first, "field")), "title");
    assert_string_equal(json_string_value(json_object_get(first, "message")),
                        "must be 1 to 200 characters");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "field")),
                        "priority");
    problem_add_field_error(NULL, "x", "y"); /* harmless */
    json_decref(p);
}

static void test_non_utf8_detail_is_dropped(void **state) {
    (void)state;
    json_t *p = problem_new(400, "malformed-json", "bad \xff byte", "r");
    assert_non_null(p);
    assert_null(json_object_get(p, "detail"));
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 400);
    char *text = json_dumps(p, JSON_COMPACT);
    assert_non_null(text);
    free(text);
    json_decref(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_problem),
        cmocka_unit_test(test_optional_fields_absent),
        cmocka_unit_test(test_every_decided_slug_has_a_title),
        cmocka_unit_test(test_unknown_slug),
        cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_non_utf8_detail_is_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
