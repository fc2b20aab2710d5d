/*
 * test_redis_keys.c: every Redis key and channel name (shared/redis_keys.c).
 *
 * Covers: the exact spelling of every key (the API, the writer, taskbus-admin and the
 * Redis data of a running deployment meet on these), the shared {u:<uid>} hash tag of
 * every key of one user (tasks, sign-in state and the per-user rate-limit bucket, so
 * multi-key scripts and MGETs stay in one Redis Cluster slot), the {nc} tag of the
 * near-cache registry, the hashed e-mail of the per-account bucket, and refusal (empty
 * result) instead of truncation when a name would not fit REDIS_KEY_MAX.
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
#define SID "0190f5a0-0000-7000-8000-0000000000dd"
/* sha256("ada@example.com") and sha256(""), hex. */
#define ADA_SHA256 "b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_spelling(void **state) {
    (void)state;
    char k[REDIS_KEY_MAX];
    assert_string_equal(redis_key_task(k, UID, TID), "{u:" UID "}:task:" TID);
    assert_string_equal(redis_key_generation(k, UID), "{u:" UID "}:gen");
    assert_string_equal(redis_key_list(k, UID, 42, "abc123"), "{u:" UID "}:list:42:abc123");
    assert_string_equal(redis_key_command(k, UID, CID), "{u:" UID "}:cmd:" CID);
    assert_string_equal(redis_key_events_log(k, UID), "{u:" UID "}:events:log");
    assert_string_equal(redis_key_events_channel(k, UID), "{u:" UID "}:events");
    assert_string_equal(redis_key_commit_lsn(k, UID), "{u:" UID "}:lsn");
}

static void test_sign_in_spelling(void **state) {
    (void)state;
    char k[REDIS_KEY_MAX];
    assert_string_equal(redis_key_epoch(k, UID), "{u:" UID "}:epoch");
    /* the tag by which an erasure finds every key of the user, its rate bucket's too */
    assert_string_equal(redis_key_user_tag(k, UID), "{u:" UID "}");
    char other[REDIS_KEY_MAX];
    assert_non_null(strstr(redis_key_rate_user(other, UID), k));
    assert_non_null(strstr(redis_key_revoked(other, UID, SID), k));
    assert_string_equal(redis_key_revoked(k, UID, SID), "{u:" UID "}:revoked:" SID);
    /* A ticket is looked up by its hash alone: no user in its name. */
    assert_string_equal(redis_key_sse_ticket(k, ADA_SHA256), "sse:ticket:" ADA_SHA256);
}

static void test_rate_limit_spelling(void **state) {
    (void)state;
    char k[REDIS_KEY_MAX];
    assert_string_equal(redis_key_rate_ip(k, "203.0.113.7"), "rl:{ip:203.0.113.7}:all");
    assert_string_equal(redis_key_rate_ip(k, "2001:db8::1"), "rl:{ip:2001:db8::1}:all");
    assert_string_equal(redis_key_rate_user(k, UID), "rl:{u:" UID "}:all");
    assert_string_equal(redis_key_rate_ip_auth(k, "203.0.113.7"), "rl:{ip:203.0.113.7}:auth");
    assert_string_equal(redis_key_rate_login_account(k, "ada@example.com"),
                        "rl:{acct:" ADA_SHA256 "}:login");
    assert_string_equal(redis_key_rate_login_account(k, ""), "rl:{acct:" EMPTY_SHA256 "}:login");
    assert_string_equal(redis_key_rate_login_account(k, NULL), "rl:{acct:" EMPTY_SHA256 "}:login");
    assert_string_equal(redis_key_rate_mail_address(k, "ada@example.com"),
                        "rl:{acct:" ADA_SHA256 "}:mail");
    /* No address in clear, and any input makes a key of the same short length. */
    char huge[4 * REDIS_KEY_MAX];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_null(strstr(redis_key_rate_login_account(k, "ada@example.com"), "ada"));
    assert_int_equal(strlen(redis_key_rate_login_account(k, huge)),
                     strlen("rl:{acct:" ADA_SHA256 "}:login"));
}

static void test_near_cache_names(void **state) {
    (void)state;
    assert_string_equal(NEAR_CACHE_SEQ_KEY, "{nc}:seq");
    assert_string_equal(NEAR_CACHE_LEASES_KEY, "{nc}:leases");
    assert_string_equal(NEAR_CACHE_ACKS_KEY, "{nc}:acks");
    assert_string_equal(NEAR_CACHE_BORN_KEY, "{nc}:born");
    assert_string_equal(NEAR_CACHE_CHANNEL, "{nc}:invalidations");
}

/* Redis Cluster hashes only what is between the first { and the next }. */
static const char *hash_tag(const char *key, char *out) {
    const char *open = strchr(key, '{');
    assert_non_null(open);
    const char *close = strchr(open, '}');
    assert_non_null(close);
    memcpy(out, open + 1, (size_t)(close - open - 1));
    out[close - open - 1] = '\0';
    return out;
}

static void test_one_slot_per_user(void **state) {
    (void)state;
    char k[REDIS_KEY_MAX];
    char tag[REDIS_KEY_MAX];
    char *(*const with_one[])(char *, const char *) = {
        redis_key_generation, redis_key_events_log, redis_key_events_channel, redis_key_commit_lsn};
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
    /* Sign-in state is read with one MGET of the epoch and the deny key. */
    assert_string_equal(hash_tag(redis_key_epoch(k, UID), tag), "u:" UID);
    assert_string_equal(hash_tag(redis_key_revoked(k, UID, SID), tag), "u:" UID);
    /* The per-user bucket sits in the user's slot too; the others in their own. */
    assert_string_equal(hash_tag(redis_key_rate_user(k, UID), tag), "u:" UID);
    assert_string_equal(hash_tag(redis_key_rate_ip(k, "203.0.113.7"), tag), "ip:203.0.113.7");
    assert_string_equal(hash_tag(redis_key_rate_ip_auth(k, "2001:db8::1"), tag), "ip:2001:db8::1");
    assert_string_equal(hash_tag(redis_key_rate_login_account(k, "ada@example.com"), tag),
                        "acct:" ADA_SHA256);
}

/* The near-cache registry's scripts take several of its keys: one slot for all. */
static void test_one_slot_for_the_registry(void **state) {
    (void)state;
    char tag[REDIS_KEY_MAX];
    const char *const names[] = {NEAR_CACHE_SEQ_KEY, NEAR_CACHE_LEASES_KEY, NEAR_CACHE_ACKS_KEY,
                                 NEAR_CACHE_BORN_KEY, NEAR_CACHE_CHANNEL};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        assert_string_equal(hash_tag(names[i], tag), "nc");
    }
}

static void test_too_long_is_empty(void **state) {
    (void)state;
    char k[REDIS_KEY_MAX];
    char long_hash[REDIS_KEY_MAX];
    memset(long_hash, 'h', sizeof long_hash - 1);
    long_hash[sizeof long_hash - 1] = '\0';
    assert_string_equal(redis_key_list(k, UID, 1, long_hash), "");
    assert_string_equal(redis_key_task(k, long_hash, TID), "");
    assert_string_equal(redis_key_revoked(k, UID, long_hash), "");
    assert_string_equal(redis_key_epoch(k, long_hash), "");
    assert_string_equal(redis_key_rate_ip(k, long_hash), "");
    /* The longest name that fits is kept whole. */
    size_t room = REDIS_KEY_MAX - 1 - strlen("{u:" UID "}:list:1:");
    long_hash[room] = '\0';
    assert_int_equal(strlen(redis_key_list(k, UID, 1, long_hash)), REDIS_KEY_MAX - 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spelling),
        cmocka_unit_test(test_sign_in_spelling),
        cmocka_unit_test(test_rate_limit_spelling),
        cmocka_unit_test(test_near_cache_names),
        cmocka_unit_test(test_one_slot_per_user),
        cmocka_unit_test(test_one_slot_for_the_registry),
        cmocka_unit_test(test_too_long_is_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
