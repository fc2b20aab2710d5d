/*
 * test_redis_keys.c: the Redis key names of tasks (shared/redis_keys.c).
 *
 * Covers: the exact spelling of every key (the API and the writer meet on these), the
 * shared {u:<uid>} hash tag, and refusal (empty result) instead of truncation when a
 * name would not fit REDIS_KEY_MAX.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "shared/redis_keys.h"

#define UID "0190f5a0-0000-7000-8000-0000000000aa"
#define TID "0190f5a0-0000-7000-8000-0000000000bb"
#define CID "0190f5a0-0000-7000-8000-0000000000cc"

static void test_spelling(void **state) {
    (void)state;
    char k[REDIS_KEY_MAX];
    assert_string_equal(redis_key_task(k, UID, TID), "{u:" UID "}:task:" TID);
    assert_string_equal(redis_key_generation(k, UID), "{u:" UID "}:gen");
    assert_string_equal(redis_key_list(k, UID, 42, "abc123"), "{u:" UID "}:list:42:abc123");
    assert_string_equal(redis_key_command(k, UID, CID), "{u:" UID "}:cmd:" CID);
    assert_string_equal(redis_key_events_log(k, UID), "{u:" UID "}:events:log");
    assert_string_equal(redis_key_events_channel(k, UID), "{u:" UID "}:events");
}

/* Redis Cluster hashes only what is between the first { and the next }. */
static void hash_tag(const char *key, char *out) {
    const char *open = strchr(key, '{');
    assert_non_null(open);
    const char *close = strchr(open, '}');
    assert_non_null(close);
    memcpy(out, open + 1, (size_t)(close - open - 1));
    out[close - open - 1] = '\0';
}

static void test_one_slot_per_user(void **state) {
    (void)state;
    char k[REDIS_KEY_MAX];
    char tag[REDIS_KEY_MAX];
    char *(*const with_one[])(char *, const char *) = {redis_key_generation, redis_key_events_log,
                                                       redis_key_events_channel};
    for (size_t i = 0; i < sizeof with_one / sizeof with_one[0]; i++) {
        hash_tag(with_one[i](k, UID), tag);
        assert_string_equal(tag, "u:" UID);
    }
    hash_tag(redis_key_task(k, UID, TID), tag);
    assert_string_equal(tag, "u:" UID);
    hash_tag(redis_key_command(k, UID, CID), tag);
    assert_string_equal(tag, "u:" UID);
    hash_tag(redis_key_list(k, UID, -1, "h"), tag);
    assert_string_equal(tag, "u:" UID);
}

static void test_too_long_is_empty(void **state) {
    (void)state;
    char k[REDIS_KEY_MAX];
    char long_hash[REDIS_KEY_MAX];
    memset(long_hash, 'h', sizeof long_hash - 1);
    long_hash[sizeof long_hash - 1] = '\0';
    assert_string_equal(redis_key_list(k, UID, 1, long_hash), "");
    assert_string_equal(redis_key_task(k, long_hash, TID), "");
    /* The longest name that fits is kept whole. */
    size_t room = REDIS_KEY_MAX - 1 - strlen("{u:" UID "}:list:1:");
    long_hash[room] = '\0';
    assert_int_equal(strlen(redis_key_list(k, UID, 1, long_hash)), REDIS_KEY_MAX - 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spelling),
        cmocka_unit_test(test_one_slot_per_user),
        cmocka_unit_test(test_too_long_is_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
