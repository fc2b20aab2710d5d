/*
 * test_import_parse.c: import bodies split into numbered items: media types, JSON arrays
 * (position numbering, malformed/not-an-array/too-deep bodies), NDJSON (physical line
 * numbers with blank lines and CRLF, a broken line rejected alone), the empty and the
 * 10 000-item limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/import_parse.h"

static import_parse_result parse(import_format f, const char *text, import_items *out) {
    char detail[256];
    return import_parse(f, text, strlen(text), IMPORT_MAX_ITEMS, out, detail, sizeof detail);
}

static void test_content_types(void **state) {
    (void)state;
    assert_int_equal(import_format_from_content_type("application/json"), IMPORT_FORMAT_JSON_ARRAY);
    assert_int_equal(import_format_from_content_type("application/json; charset=utf-8"),
                     IMPORT_FORMAT_JSON_ARRAY);
    assert_int_equal(import_format_from_content_type("application/x-ndjson"), IMPORT_FORMAT_NDJSON);
    assert_int_equal(import_format_from_content_type("Application/X-NDJSON; charset=UTF-8"),
                     IMPORT_FORMAT_NDJSON);
    assert_int_equal(import_format_from_content_type("application/jsonl"), IMPORT_FORMAT_NDJSON);
    assert_int_equal(import_format_from_content_type(" application/jsonl "), IMPORT_FORMAT_NDJSON);
    assert_int_equal(import_format_from_content_type("application/x-ndjson; charset=latin1"),
                     IMPORT_FORMAT_UNSUPPORTED);
    assert_int_equal(import_format_from_content_type("application/x-ndjsonx"),
                     IMPORT_FORMAT_UNSUPPORTED);
    assert_int_equal(import_format_from_content_type("text/plain"), IMPORT_FORMAT_UNSUPPORTED);
    assert_int_equal(import_format_from_content_type(""), IMPORT_FORMAT_UNSUPPORTED);
    assert_int_equal(import_format_from_content_type(NULL), IMPORT_FORMAT_UNSUPPORTED);
}

static void test_array(void **state) {
    (void)state;
    import_items items;
    assert_int_equal(
        parse(IMPORT_FORMAT_JSON_ARRAY, "[{\"title\":\"a\"}, 5, {\"title\":\"c\"}]", &items),
        IMPORT_PARSE_OK);
    assert_int_equal(items.count, 3);
    assert_int_equal(items.items[0].line, 1);
    assert_int_equal(items.items[2].line, 3);
    assert_string_equal(json_string_value(json_object_get(items.items[2].value, "title")), "c");
    /* not an object is kept: validation names it */
    assert_true(json_is_integer(items.items[1].value));
    import_items_free(&items);
    assert_null(items.items);
}

static void test_array_refused(void **state) {
    (void)state;
    import_items items;
    assert_int_equal(parse(IMPORT_FORMAT_JSON_ARRAY, "[{\"title\":\"a\"},", &items),
                     IMPORT_PARSE_MALFORMED);
    assert_int_equal(items.count, 0);
    assert_int_equal(parse(IMPORT_FORMAT_JSON_ARRAY, "{\"title\":\"a\"}", &items),
                     IMPORT_PARSE_MALFORMED);
    assert_int_equal(parse(IMPORT_FORMAT_JSON_ARRAY, "", &items), IMPORT_PARSE_MALFORMED);
    assert_int_equal(parse(IMPORT_FORMAT_JSON_ARRAY, "[]", &items), IMPORT_PARSE_EMPTY);
    assert_int_equal(parse(IMPORT_FORMAT_JSON_ARRAY, "[{\"a\":1,\"a\":2}]", &items),
                     IMPORT_PARSE_MALFORMED);
    /* 33 levels are allowed (the array and 32 inside), 34 are not */
    char deep[100];
    memset(deep, '[', 34);
    memset(deep + 34, ']', 34);
    deep[68] = '\0';
    assert_int_equal(parse(IMPORT_FORMAT_JSON_ARRAY, deep, &items), IMPORT_PARSE_MALFORMED);
    deep[67] = '\0'; /* from deep + 1: 33 '[' and 33 ']' */
    assert_int_equal(parse(IMPORT_FORMAT_JSON_ARRAY, deep + 1, &items), IMPORT_PARSE_OK);
    assert_int_equal(items.count, 1);
    import_items_free(&items);
}

static void test_ndjson(void **state) {
    (void)state;
    import_items items;
    const char *body = "{\"title\":\"one\"}\r\n"
                       "\n"
                       "   \n"
                       "{\"title\": broken\n"
                       "[1,2]\n"
                       "{\"title\":\"six\"}"; /* no final newline */
    assert_int_equal(parse(IMPORT_FORMAT_NDJSON, body, &items), IMPORT_PARSE_OK);
    assert_int_equal(items.count, 4);
    assert_int_equal(items.items[0].line, 1);
    assert_string_equal(json_string_value(json_object_get(items.items[0].value, "title")), "one");
    assert_int_equal(items.items[1].line, 4);
    assert_null(items.items[1].value);
    assert_non_null(strstr(items.items[1].error, "not valid JSON"));
    assert_int_equal(items.items[2].line, 5);
    assert_true(json_is_array(items.items[2].value));
    assert_string_equal(items.items[2].error, "");
    assert_int_equal(items.items[3].line, 6);
    assert_string_equal(json_string_value(json_object_get(items.items[3].value, "title")), "six");
    import_items_free(&items);
}

static void test_ndjson_odd_lines(void **state) {
    (void)state;
    import_items items;
    /* a NUL byte inside a line, invalid UTF-8, a too-deep line: each only sinks its line */
    const char body[] = "{\"title\":\"a\"}\n{\"t\0\":1}\n\"\xff\"\n"
                        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
                        "{\"title\":\"e\"}\n";
    char detail[128];
    assert_int_equal(import_parse(IMPORT_FORMAT_NDJSON, body, sizeof body - 1, 10, &items, detail,
                                  sizeof detail),
                     IMPORT_PARSE_OK);
    assert_int_equal(items.count, 5);
    assert_non_null(items.items[0].value);
    assert_null(items.items[1].value);
    assert_null(items.items[2].value);
    assert_null(items.items[3].value);
    assert_non_null(strstr(items.items[3].error, "deeper"));
    assert_non_null(items.items[4].value);
    for (size_t i = 1; i < 4; i++) {
        for (const char *p = items.items[i].error; *p; p++) {
            assert_true(*p >= 0x20 && *p < 0x7f);
        }
    }
    import_items_free(&items);
}

static void test_limits(void **state) {
    (void)state;
    import_items items;
    char detail[128];
    assert_int_equal(parse(IMPORT_FORMAT_NDJSON, "\n \r\n\n", &items), IMPORT_PARSE_EMPTY);
    assert_int_equal(parse(IMPORT_FORMAT_NDJSON, "", &items), IMPORT_PARSE_EMPTY);
    const char *three = "{}\n{}\n{}\n";
    assert_int_equal(
        import_parse(IMPORT_FORMAT_NDJSON, three, strlen(three), 2, &items, detail, sizeof detail),
        IMPORT_PARSE_TOO_MANY);
    assert_int_equal(items.count, 0);
    assert_int_equal(
        import_parse(IMPORT_FORMAT_JSON_ARRAY, "[{},{},{}]", 10, 2, &items, detail, sizeof detail),
        IMPORT_PARSE_TOO_MANY);
    assert_non_null(strstr(detail, "at most 2"));
    /* commas and brackets inside strings and nested values are not items */
    const char *tricky = "[{\"title\":\"a,b],[\\\",\"},{\"tags\":[\"x\",\"y\"]}]";
    assert_int_equal(import_parse(IMPORT_FORMAT_JSON_ARRAY, tricky, strlen(tricky), 2, &items,
                                  detail, sizeof detail),
                     IMPORT_PARSE_OK);
    assert_int_equal(items.count, 2);
    import_items_free(&items);
    assert_int_equal(import_parse(IMPORT_FORMAT_UNSUPPORTED, three, strlen(three), 2, &items,
                                  detail, sizeof detail),
                     IMPORT_PARSE_MALFORMED);

    /* exactly the limit of 10 000 passes, one more does not */
    size_t n = IMPORT_MAX_ITEMS + 1;
    char *big = malloc(n * 3 + 1);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++) {
        memcpy(big + i * 3, "{}\n", 3);
    }
    big[n * 3] = '\0';
    assert_int_equal(import_parse(IMPORT_FORMAT_NDJSON, big, n * 3, IMPORT_MAX_ITEMS, &items,
                                  detail, sizeof detail),
                     IMPORT_PARSE_TOO_MANY);
    assert_int_equal(import_parse(IMPORT_FORMAT_NDJSON, big, (n - 1) * 3, IMPORT_MAX_ITEMS, &items,
                                  detail, sizeof detail),
                     IMPORT_PARSE_OK);
    assert_int_equal(items.count, IMPORT_MAX_ITEMS);
    assert_int_equal(items.items[IMPORT_MAX_ITEMS - 1].line, IMPORT_MAX_ITEMS);
    import_items_free(&items);
    free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_types),    cmocka_unit_test(test_array),
        cmocka_unit_test(test_array_refused),    cmocka_unit_test(test_ndjson),
        cmocka_unit_test(test_ndjson_odd_lines), cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
