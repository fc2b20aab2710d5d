/*
 * test_pg_array.c: Postgres array literals built as text (shared/pg_array.c).
 *
 * Covers: the empty array, commas between elements, NULL, the empty string, and quotes
 * and backslashes inside elements (JSON text among them). That Postgres reads them back
 * is covered by every writer statement in the integration suite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "shared/pg_array.h"

static void test_empty(void **state) {
    (void)state;
    strbuf b = {0};
    pg_array_open(&b);
    pg_array_close(&b);
    assert_string_equal(b.data, "{}");
    free(b.data);
}

static void test_elements(void **state) {
    (void)state;
    strbuf b = {0};
    pg_array_open(&b);
    pg_array_add(&b, "plain");
    pg_array_add(&b, NULL);
    pg_array_add(&b, "");
    pg_array_add(&b, "{\"k\":\"a \\\"q\\\"\"}");
    pg_array_close(&b);
    assert_false(b.failed);
    assert_string_equal(b.data,
                        "{\"plain\",NULL,\"\",\"{\\\"k\\\":\\\"a \\\\\\\"q\\\\\\\"\\\"}\"}");
    free(b.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
