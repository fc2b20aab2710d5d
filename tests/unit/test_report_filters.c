/*
 * test_report_filters.c: the filters of POST /api/v1/reports (api/report_filters.c).
 *
 * Owns: the JSON-to-query-string adapter (percent-encoding, strings and arrays) and the
 * normalised form stored for taskbus-reporter, with the list parser's errors renamed
 * "filters.<name>".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/report_filters.h"

/* Parses the JSON text; returns the error count, leaving *out (or NULL) and *errors. */
static int parse(const char *text, json_t **out, json_t **errors) {
    json_error_t jerr;
    json_t *filters = json_loads(text, JSON_DECODE_ANY, &jerr);
    assert_non_null(filters);
    *errors = json_array();
    int n = report_filters_parse(filters, out, *errors);
    json_decref(filters);
    assert_int_equal((int)json_array_size(*errors), n);
    return n;
}

static void assert_normalised(const char *in, const char *want) {
    json_t *out = NULL, *errors = NULL;
    assert_int_equal(parse(in, &out, &errors), 0);
    json_error_t jerr;
    json_t *expect = json_loads(want, 0, &jerr);
    assert_non_null(expect);
    if (!json_equal(out, expect)) {
        char *got = json_dumps(out, JSON_SORT_KEYS);
        fail_msg("normalised %s as %s, want %s", in, got, want);
    }
    json_decref(expect);
    json_decref(out);
    json_decref(errors);
}

static void assert_error_field(const char *in, const char *field) {
    json_t *out = NULL, *errors = NULL;
    assert_true(parse(in, &out, &errors) > 0);
    assert_null(out);
    const char *got = json_string_value(json_object_get(json_array_get(errors, 0), "field"));
    assert_non_null(got);
    assert_string_equal(got, field);
    json_decref(errors);
}

static void test_empty_and_null(void **state) {
    (void)state;
    assert_normalised("{}", "{}");
    assert_normalised("null", "{}");
}

static void test_every_filter_normalised(void **state) {
    (void)state;
    assert_normalised(
        "{\"status\": \"done,todo\", \"priority\": [\"urgent\", \"low\"],"
        " \"tag\": [\"b\", \"a & b\"], \"due_after\": \"2030-01-01T02:00:00+02:00\","
        " \"due_before\": \"2031-01-01T00:00:00.5Z\", \"q\": \"x y\"}",
        "{\"status\": [\"todo\", \"done\"], \"priority\": [\"low\", \"urgent\"],"
        " \"tag\": [\"a & b\", \"b\"], \"due_after\": \"2030-01-01T00:00:00.000000Z\","
        " \"due_before\": \"2031-01-01T00:00:00.500000Z\", \"q\": \"x y\"}");
}

/* A project (lower-cased): a team project's report; the route checks the membership. */
static void test_project(void **state) {
    (void)state;
    assert_normalised(
        "{\"project\": \"0190F5A0-0000-7000-8000-0000000000C1\", \"status\": \"todo\"}",
        "{\"status\": [\"todo\"], \"project\": \"0190f5a0-0000-7000-8000-0000000000c1\"}");
    assert_error_field("{\"project\": \"inbox\"}", "filters.project");
    assert_error_field("{\"project\": [\"0190f5a0-0000-7000-8000-0000000000c1\"]}",
                       "filters.project");
}

static void test_query_string_is_encoded(void **state) {
    (void)state;
    json_t *filters = json_pack("{s:[s,s]}", "tag", "a&b=c", "ü %");
    json_t *errors = json_array();
    char *qs = report_filters_query_string(filters, errors);
    assert_non_null(qs);
    assert_string_equal(qs, "tag=a%26b%3Dc&tag=%C3%BC%20%25");
    free(qs);
    json_decref(filters);
    json_decref(errors);
}

static void test_refusals(void **state) {
    (void)state;
    assert_error_field("[]", "filters");
    assert_error_field("{\"status\": \"sleeping\"}", "filters.status");
    assert_error_field("{\"sort\": \"created_at\"}", "filters.sort");
    assert_error_field("{\"limit\": \"5\"}", "filters.limit");
    assert_error_field("{\"cursor\": \"x\"}", "filters.cursor");
    assert_error_field("{\"bogus\": \"1\"}", "filters.bogus");
    assert_error_field("{\"q\": [\"a\"]}", "filters.q");
    assert_error_field("{\"tag\": []}", "filters.tag");
    assert_error_field("{\"tag\": [1]}", "filters.tag");
    assert_error_field("{\"due_before\": \"tomorrow\"}", "filters.due_before");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_null), cmocka_unit_test(test_every_filter_normalised),
        cmocka_unit_test(test_project),        cmocka_unit_test(test_query_string_is_encoded),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
