/*
 * test_user_epoch.c: what the auth middleware concludes from Redis (shared/user_epoch.c)
 * and how deletion notifications are read (api/user_deletions.c).
 *
 * Covers: a deleted user's tombstone refuses every token, even one carrying the largest
 * epoch; a deny key refuses; a missing epoch, or one this process may not trust yet (it
 * has not applied the recent deletions), sends the check to Postgres; an older token epoch
 * is refused and a current or newer one accepted; the tombstone outlives an access token;
 * a notification payload is a user id only when it is exactly a UUID. (The epoch key's
 * spelling is checked with the other keys in test_redis_keys.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "api/user_deletions.h"
#include "shared/user_epoch.h"

static void test_tombstone_refuses_every_token(void **state) {
    (void)state;
    assert_int_equal(user_epoch_judge(false, true, USER_EPOCH_GONE, true, 0), USER_EPOCH_REVOKED);
    assert_int_equal(user_epoch_judge(false, true, USER_EPOCH_GONE, true, USER_EPOCH_GONE),
                     USER_EPOCH_REVOKED);
    /* Even before the catch-up: a tombstone is never a leftover. */
    assert_int_equal(user_epoch_judge(false, true, USER_EPOCH_GONE, false, 3), USER_EPOCH_REVOKED);
}

static void test_deny_key_refuses(void **state) {
    (void)state;
    assert_int_equal(user_epoch_judge(true, true, 2, true, 2), USER_EPOCH_REVOKED);
    assert_int_equal(user_epoch_judge(true, false, 0, true, 2), USER_EPOCH_REVOKED);
    assert_int_equal(user_epoch_judge(true, false, 0, false, 2), USER_EPOCH_REVOKED);
}

static void test_unknown_or_untrusted_epoch_asks_postgres(void **state) {
    (void)state;
    assert_int_equal(user_epoch_judge(false, false, 0, true, 0), USER_EPOCH_ASK_SOURCE);
    assert_int_equal(user_epoch_judge(false, true, 0, false, 0), USER_EPOCH_ASK_SOURCE);
    assert_int_equal(user_epoch_judge(false, true, 5, false, 1), USER_EPOCH_ASK_SOURCE);
}

static void test_epoch_comparison(void **state) {
    (void)state;
    assert_int_equal(user_epoch_judge(false, true, 3, true, 2), USER_EPOCH_REVOKED);
    assert_int_equal(user_epoch_judge(false, true, 3, true, 3), USER_EPOCH_CURRENT);
    assert_int_equal(user_epoch_judge(false, true, 3, true, 4), USER_EPOCH_CURRENT);
    assert_int_equal(user_epoch_judge(false, true, 0, true, 0), USER_EPOCH_CURRENT);
}

static void test_tombstone_outlives_tokens(void **state) {
    (void)state;
    assert_true(user_epoch_tombstone_ttl(900) > 900);
    assert_int_equal(user_epoch_tombstone_ttl(900), 900 + USER_EPOCH_TOMBSTONE_EXTRA_S);
    assert_true(user_deletions_window_s(900) >= user_epoch_tombstone_ttl(900));
}

static void test_payload(void **state) {
    (void)state;
    char id[UUID_STR_LEN];
    memset(id, 'x', sizeof id);
    assert_true(user_deletions_payload_id("0190f5a0-0000-7000-8000-0000000000aa", id));
    assert_string_equal(id, "0190f5a0-0000-7000-8000-0000000000aa");
    assert_false(user_deletions_payload_id("", id)); /* TRUNCATE: catch up */
    assert_false(user_deletions_payload_id(NULL, id));
    assert_false(user_deletions_payload_id("*", id));
    assert_false(user_deletions_payload_id("0190f5a0-0000-7000-8000-0000000000aa ", id));
    assert_false(user_deletions_payload_id("0190f5a0-0000-7000-8000-0000000000a", id));
    assert_false(user_deletions_payload_id("0190f5a0-0000-7000-8000-0000000000ag", id));
    assert_false(user_deletions_payload_id("{u:0190f5a0-0000-7000-8000-0000000000aa}", id));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tombstone_refuses_every_token),
        cmocka_unit_test(test_deny_key_refuses),
        cmocka_unit_test(test_unknown_or_untrusted_epoch_asks_postgres),
        cmocka_unit_test(test_epoch_comparison),
        cmocka_unit_test(test_tombstone_outlives_tokens),
        cmocka_unit_test(test_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
