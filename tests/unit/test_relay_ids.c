/*
 * test_relay_ids.c: the relay's bookkeeping of the batch in flight
 * (workers/relay/relay_ids.c): the holes of a batch's id range (none, one, many, at the
 * edges of a gap, a single id), and the bigint[] literals of its ids and of its holes,
 * which the read of the next batch and the DELETE of published rows take; holes come out
 * ascending and never name an id the batch holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "workers/relay/relay_ids.h"

static void assert_literal(char *got, const char *want) {
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_empty_batch_has_no_holes(void **state) {
    (void)state;
    assert_int_equal(relay_ids_holes(NULL, 0), 0);
    assert_literal(relay_ids_array(NULL, 0), "{}");
    assert_literal(relay_ids_holes_array(NULL, 0), "{}");
}

static void test_single_id(void **state) {
    (void)state;
    const int64_t ids[] = {42};
    assert_int_equal(relay_ids_holes(ids, 1), 0);
    assert_literal(relay_ids_array(ids, 1), "{42}");
    assert_literal(relay_ids_holes_array(ids, 1), "{}");
}

static void test_contiguous_batch(void **state) {
    (void)state;
    const int64_t ids[] = {7, 8, 9, 10};
    assert_int_equal(relay_ids_holes(ids, 4), 0);
    assert_literal(relay_ids_array(ids, 4), "{7,8,9,10}");
    assert_literal(relay_ids_holes_array(ids, 4), "{}");
}

/* Rows that committed late (or rolled back) leave gaps; each gap id is a hole. */
static void test_gaps_are_holes_in_order(void **state) {
    (void)state;
    const int64_t ids[] = {3, 5, 6, 10, 11};
    assert_int_equal(relay_ids_holes(ids, 5), 4);
    assert_literal(relay_ids_array(ids, 5), "{3,5,6,10,11}");
    assert_literal(relay_ids_holes_array(ids, 5), "{4,7,8,9}");
}

/* Large ids keep every digit (bigserial). */
static void test_large_ids(void **state) {
    (void)state;
    const int64_t ids[] = {9007199254740993LL, 9007199254740995LL};
    assert_int_equal(relay_ids_holes(ids, 2), 1);
    assert_literal(relay_ids_array(ids, 2), "{9007199254740993,9007199254740995}");
    assert_literal(relay_ids_holes_array(ids, 2), "{9007199254740994}");
}

/* The count of holes equals the elements of the holes literal, for a batch with many. */
static void test_hole_count_matches_literal(void **state) {
    (void)state;
    int64_t ids[100];
    for (int i = 0; i < 100; i++) {
        ids[i] = 1000 + (int64_t)i * 3; /* two holes between neighbours */
    }
    assert_int_equal(relay_ids_holes(ids, 100), 198);
    char *holes = relay_ids_holes_array(ids, 100);
    assert_non_null(holes);
    size_t commas = 0;
    for (const char *p = holes; *p != '\0'; p++) {
        commas += *p == ',';
    }
    assert_int_equal(commas + 1, 198);
    assert_true(strncmp(holes, "{1001,1002,1004,", 16) == 0);
    free(holes);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_batch_has_no_holes),
        cmocka_unit_test(test_single_id),
        cmocka_unit_test(test_contiguous_batch),
        cmocka_unit_test(test_gaps_are_holes_in_order),
        cmocka_unit_test(test_large_ids),
        cmocka_unit_test(test_hole_count_matches_literal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
