/*
 * test_uuid7.c: UUIDv7 generation and UUID text validation (shared/uuid7.c).
 *
 * Checks the text form, the version and variant bits, strict ordering over many ids
 * (also many within one millisecond, which forces the counter to overflow and borrow the
 * next millisecond), timestamp extraction and the validator on good and bad strings.
 * Ids are compared as strings: lower-case fixed-width hex sorts like the numbers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "shared/time_util.h"
#include "shared/uuid7.h"

#define MANY 100000

static void test_format_and_bits(void **state) {
    (void)state;
    for (int i = 0; i < 1000; i++) {
        char id[UUID_STR_LEN];
        uuid7_generate(id);
        assert_int_equal(strlen(id), 36);
        assert_true(uuid_is_valid(id));
        assert_int_equal(id[8], '-');
        assert_int_equal(id[13], '-');
        assert_int_equal(id[18], '-');
        assert_int_equal(id[23], '-');
        assert_int_equal(id[14], '7');           /* version */
        assert_non_null(strchr("89ab", id[19])); /* variant 10xx */
        for (int k = 0; k < 36; k++)
            assert_non_null(strchr("0123456789abcdef-", id[k])); /* lower case */
    }
}

static void test_strictly_increasing(void **state) {
    (void)state;
    char *ids = malloc((size_t)MANY * UUID_STR_LEN);
    assert_non_null(ids);
    for (int i = 0; i < MANY; i++)
        uuid7_generate(ids + (size_t)i * UUID_STR_LEN);
    for (int i = 1; i < MANY; i++) {
        const char *a = ids + (size_t)(i - 1) * UUID_STR_LEN;
        const char *b = ids + (size_t)i * UUID_STR_LEN;
        if (strcmp(a, b) >= 0)
            fail_msg("id %d not greater than its predecessor: %s >= %s", i, a, b);
    }
    free(ids);
}

/* 100 000 ids stamped with one millisecond: the 12-bit counter overflows many times,
 * so the timestamp must move forward rather than repeat or wrap. */
static void test_same_millisecond(void **state) {
    (void)state;
    uint64_t ms = (uint64_t)time_now_unix_ms() + 10000;
    char prev[UUID_STR_LEN] = "";
    uint64_t last_ts = 0;
    for (int i = 0; i < MANY; i++) {
        char id[UUID_STR_LEN];
        uuid7_generate_at(id, ms);
        if (i > 0 && strcmp(prev, id) >= 0)
            fail_msg("same-ms id %d out of order: %s >= %s", i, prev, id);
        uint64_t ts = uuid7_unix_ms(id);
        assert_true(ts >= ms);
        assert_true(ts >= last_ts);
        last_ts = ts;
        memcpy(prev, id, UUID_STR_LEN);
    }
    /* At most 4096 per millisecond, at least 2048 (the seed leaves that headroom). */
    assert_true(last_ts - ms >= MANY / 4096);
    assert_true(last_ts - ms <= MANY / 2048 + 1);
}

/* A clock that steps back must not break ordering. */
static void test_clock_going_back(void **state) {
    (void)state;
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    uuid7_generate(a);
    uuid7_generate_at(b, 1000);
    assert_true(strcmp(a, b) < 0);
    assert_true(uuid7_unix_ms(b) >= uuid7_unix_ms(a));
}

static void test_timestamp_extraction(void **state) {
    (void)state;
    char id[UUID_STR_LEN];
    /* Far ahead of anything the other tests used, so the injected value is taken as is. */
    uint64_t ms = (uint64_t)time_now_unix_ms() + 86400000ull;
    uuid7_generate_at(id, ms);
    assert_int_equal(uuid7_unix_ms(id), ms);

    /* The example of RFC 9562, appendix A.6, in both cases. */
    assert_int_equal(uuid7_unix_ms("017f22e2-79b0-7cc3-98c4-dc0c0c07398f"), 0x017f22e279b0ull);
    assert_int_equal(uuid7_unix_ms("017F22E2-79B0-7CC3-98C4-DC0C0C07398F"), 0x017f22e279b0ull);
}

static void test_unix_ms_rejects_non_v7(void **state) {
    (void)state;
    assert_int_equal(uuid7_unix_ms("550e8400-e29b-41d4-a716-446655440000"), 0); /* v4 */
    assert_int_equal(uuid7_unix_ms("017f22e2-79b0-7cc3-c8c4-dc0c0c07398f"), 0); /* variant */
    assert_int_equal(uuid7_unix_ms("not-a-uuid"), 0);
    assert_int_equal(uuid7_unix_ms(NULL), 0);
}

static void test_validation(void **state) {
    (void)state;
    assert_true(uuid_is_valid("550e8400-e29b-41d4-a716-446655440000"));
    assert_true(uuid_is_valid("017F22E2-79B0-7CC3-98C4-DC0C0C07398F"));
    assert_true(uuid_is_valid("00000000-0000-0000-0000-000000000000"));

    assert_false(uuid_is_valid(NULL));
    assert_false(uuid_is_valid(""));
    assert_false(uuid_is_valid("550e8400-e29b-41d4-a716-44665544000"));   /* short */
    assert_false(uuid_is_valid("550e8400-e29b-41d4-a716-4466554400000")); /* long */
    assert_false(uuid_is_valid("550e8400e29b-41d4-a716-4466554400000"));  /* dash moved */
    assert_false(uuid_is_valid("550e8400-e29b-41d4-a716-44665544000g"));  /* not hex */
    assert_false(uuid_is_valid("550e8400-e29b-41d4-a716_446655440000"));
    assert_false(uuid_is_valid("{550e8400-e29b-41d4-a716-446655440000}"));
    assert_false(uuid_is_valid(" 550e8400-e29b-41d4-a716-44665544000"));
    assert_false(uuid_is_valid("550e8400-e29b-41d4-a716-446655440000\n"));
    assert_false(uuid_is_valid("550e8400-e29b-41d4-a716-44665544'--0"));
}

/* A derived id is a v7 with the source's millisecond, the same for the same inputs, and
 * different for another label or source. */
static void test_derive(void **state) {
    (void)state;
    const char *from = "0190f5a0-1234-7abc-8def-0123456789ab";
    char a[UUID_STR_LEN], b[UUID_STR_LEN], c[UUID_STR_LEN], d[UUID_STR_LEN];
    uuid7_derive(from, "label one", a);
    uuid7_derive(from, "label one", b);
    uuid7_derive(from, "label two", c);
    uuid7_derive("0190f5a0-1234-7abc-8def-0123456789ac", "label one", d);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_true(uuid_is_valid(a));
    assert_int_equal(uuid7_unix_ms(a), uuid7_unix_ms(from));
    assert_int_equal(uuid7_unix_ms(c), uuid7_unix_ms(from));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_bits),      cmocka_unit_test(test_strictly_increasing),
        cmocka_unit_test(test_same_millisecond),     cmocka_unit_test(test_clock_going_back),
        cmocka_unit_test(test_timestamp_extraction), cmocka_unit_test(test_unix_ms_rejects_non_v7),
        cmocka_unit_test(test_validation),           cmocka_unit_test(test_derive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
