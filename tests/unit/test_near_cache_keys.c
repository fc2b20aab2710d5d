/*
 * test_near_cache_keys.c: the spelling of the near cache's keys (api/near_cache_keys.c).
 *
 * Covers: each family's exact key, families and users that never share a key, and the
 * empty answer for a key that would not fit (never a truncated one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "api/near_cache_keys.h"

#define USER "0190f5a0-0000-7000-8000-0000000000a1"
#define OTHER "0190f5a0-0000-7000-8000-0000000000b2"
#define ID "0190f5a0-0000-7000-8000-000000000001"
#define HASH "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static void spells_each_family(void **state) {
    (void)state;
    char key[NEAR_CACHE_KEY_MAX];
    assert_string_equal(near_cache_key_task(key, USER, ID), USER ":t:" ID);
    assert_string_equal(near_cache_key_page(key, USER, HASH), USER ":l:" HASH);
    assert_string_equal(near_cache_key_session(key, USER, ID), USER ":s:" ID);
}

static void families_and_users_never_share_a_key(void **state) {
    (void)state;
    char task[NEAR_CACHE_KEY_MAX], session[NEAR_CACHE_KEY_MAX], other[NEAR_CACHE_KEY_MAX];
    near_cache_key_task(task, USER, ID);
    near_cache_key_session(session, USER, ID);
    near_cache_key_task(other, OTHER, ID);
    assert_string_not_equal(task, session);
    assert_string_not_equal(task, other);
}

static void a_key_too_long_is_empty(void **state) {
    (void)state;
    char long_id[NEAR_CACHE_KEY_MAX];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    char key[NEAR_CACHE_KEY_MAX];
    assert_string_equal(near_cache_key_task(key, USER, long_id), "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spells_each_family),
        cmocka_unit_test(families_and_users_never_share_a_key),
        cmocka_unit_test(a_key_too_long_is_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
