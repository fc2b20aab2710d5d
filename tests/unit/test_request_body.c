/*
 * test_request_body.c: the 413 size rule, the 415 media-type rule and the 400 JSON rules
 * (empty, malformed, not an object, duplicate keys, invalid UTF-8, nesting over 32),
 * including nesting far deeper than any stack would survive in a recursive parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "api/request_body.h"

#define LIMIT 1048576L

static void test_size(void **state) {
    (void)state;
    assert_int_equal(request_body_check_size(NULL, 0, LIMIT), BODY_OK);
    assert_int_equal(request_body_check_size("1048576", 1048576, LIMIT), BODY_OK);
    assert_int_equal(request_body_check_size("1048577", 0, LIMIT), BODY_TOO_LARGE);
    assert_int_equal(request_body_check_size(NULL, 1048577, LIMIT), BODY_TOO_LARGE);
    assert_int_equal(request_body_check_size("5", 1048577, LIMIT), BODY_TOO_LARGE);
    assert_int_equal(request_body_check_size("99999999999999999999999999", 0, LIMIT),
                     BODY_TOO_LARGE);
    /* not a number: the received count decides */
    assert_int_equal(request_body_check_size("abc", 10, LIMIT), BODY_OK);
    assert_int_equal(request_body_check_size("12x", 10, LIMIT), BODY_OK);
    assert_int_equal(request_body_check_size("-5", 10, LIMIT), BODY_OK);
    assert_int_equal(request_body_check_size("1", 2, 1), BODY_TOO_LARGE);
}

static void test_json_media_type(void **state) {
    (void)state;
    const char *good[] = {"application/json",
                          "Application/JSON",
                          "application/json; charset=utf-8",
                          "application/json;charset=UTF-8",
                          "application/json; charset=\"utf-8\"",
                          "application/json; charset=utf8",
                          "application/json; foo=bar",
                          "application/json ;  charset = utf-8 ",
                          " application/json "};
    const char *bad[] = {"",
                         "text/plain",
                         "application/jsonx",
                         "application/json-patch+json",
                         "application/x-www-form-urlencoded",
                         "application/json; charset=latin1",
                         "application/json; charset=",
                         "application/json, text/plain",
                         "text/json",
                         "multipart/form-data; boundary=x"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_true(request_body_is_json_type(good[i]));
    }
    assert_false(request_body_is_json_type(NULL));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(request_body_is_json_type(bad[i]));
    }
}

static int depth_of(const char *text) {
    return request_body_json_depth(text, strlen(text), REQUEST_BODY_MAX_DEPTH);
}

static void test_depth_scan(void **state) {
    (void)state;
    assert_int_equal(depth_of(""), 0);
    assert_int_equal(depth_of("{}"), 1);
    assert_int_equal(depth_of("{\"a\":[1,{\"b\":2}],\"c\":{}}"), 3);
    assert_int_equal(depth_of("{\"a\":\"[[[[{{{{\"}"), 1);
    assert_int_equal(depth_of("{\"a\":\"\\\"[[[[\"}"), 1);
    assert_int_equal(depth_of("{\"a\\\\\":[[1]]}"), 3);
    assert_int_equal(depth_of("]]]]{}"), 1);
}

/* n nested levels: an object holding n - 1 nested arrays. Caller frees. */
static char *nested(size_t n) {
    char *text = malloc(2 * n + 16);
    assert_non_null(text);
    size_t used = 0;
    used += (size_t)sprintf(text, "{\"a\":");
    for (size_t i = 1; i < n; i++) {
        text[used++] = '[';
    }
    for (size_t i = 1; i < n; i++) {
        text[used++] = ']';
    }
    text[used++] = '}';
    text[used] = '\0';
    return text;
}

static body_verdict parse(const char *text, json_t **out, char *detail, size_t len) {
    return request_body_parse_object(text, strlen(text), out, detail, len);
}

static void test_parse_ok(void **state) {
    (void)state;
    json_t *doc = NULL;
    char detail[256];
    assert_int_equal(parse("{\"title\":\"x\",\"n\":[1,2]}", &doc, detail, sizeof detail), BODY_OK);
    assert_true(json_is_object(doc));
    assert_string_equal(json_string_value(json_object_get(doc, "title")), "x");
    json_decref(doc);

    char *at_limit = nested(REQUEST_BODY_MAX_DEPTH);
    assert_int_equal(parse(at_limit, &doc, detail, sizeof detail), BODY_OK);
    json_decref(doc);
    free(at_limit);
}

static void expect_malformed(const char *text, size_t len) {
    json_t *doc = (json_t *)0x1;
    char detail[256] = "";
    assert_int_equal(request_body_parse_object(text, len, &doc, detail, sizeof detail),
                     BODY_MALFORMED);
    assert_null(doc);
    assert_true(strlen(detail) > 0);
    for (const char *p = detail; *p != '\0'; p++) {
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    }
}

static void test_parse_rejects(void **state) {
    (void)state;
    const char *bad[] = {" ",
                         "{",
                         "{\"a\":}",
                         "[]",
                         "[{\"a\":1}]",
                         "\"text\"",
                         "42",
                         "null",
                         "{} {}",
                         "{\"a\":1,\"a\":2}",
                         "{\"a\":\"\\u0000\"}",
                         "{\"a\":\"\xff\xfe\"}",
                         "{\"a\xc3\x28\":1}",
                         "{'a':1}",
                         "{\"a\":NaN}"};
    expect_malformed(NULL, 0);
    expect_malformed("", 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_malformed(bad[i], strlen(bad[i]));
    }
    expect_malformed("{\"a\":1}\0", 8); /* an embedded NUL after the document */
}

static void test_parse_rejects_deep_nesting(void **state) {
    (void)state;
    char *over = nested(REQUEST_BODY_MAX_DEPTH + 1);
    expect_malformed(over, strlen(over));
    free(over);
    /* a million levels: must be refused by the scan, long before any recursion */
    size_t n = 1000000;
    char *deep = malloc(n + 1);
    assert_non_null(deep);
    memset(deep, '[', n);
    deep[n] = '\0';
    expect_malformed(deep, n);
    memset(deep, '{', n);
    expect_malformed(deep, n);
    free(deep);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size),          cmocka_unit_test(test_json_media_type),
        cmocka_unit_test(test_depth_scan),    cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_rejects), cmocka_unit_test(test_parse_rejects_deep_nesting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
