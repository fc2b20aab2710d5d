/*
 * test_json_text.c: JSON string literals written without jansson (shared/json_text.c).
 *
 * Covers: plain text, quotes, backslashes, every control character, multi-byte UTF-8 and
 * NULL, each read back by jansson as exactly the string that went in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "shared/json_text.h"

/* Writes s as a literal inside an array and reads it back with jansson. */
static void assert_round_trip(const char *s) {
    strbuf b = {0};
    strbuf_puts(&b, "[");
    json_text_string(&b, s);
    strbuf_puts(&b, "]");
    assert_false(b.failed);
    json_error_t jerr;
    json_t *arr = json_loads(b.data, 0, &jerr);
    assert_non_null(arr);
    assert_string_equal(json_string_value(json_array_get(arr, 0)), s);
    json_decref(arr);
    free(b.data);
}

static void test_round_trips(void **state) {
    (void)state;
    assert_round_trip("");
    assert_round_trip("plain text");
    assert_round_trip("{\"a\":\"quoted \\\"inner\\\" value\",\"b\":[1,2]}");
    assert_round_trip("back\\slash at the end\\");
    assert_round_trip("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    char controls[32];
    for (int c = 1; c < 32; c++) {
        controls[c - 1] = (char)c;
    }
    controls[31] = '\0';
    assert_round_trip(controls);
}

static void test_exact_text(void **state) {
    (void)state;
    strbuf b = {0};
    json_text_string(&b, "a\"b\\c\nd\x01");
    json_text_string(&b, NULL);
    assert_false(b.failed);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\nd\\u0001\"null");
    free(b.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_exact_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
