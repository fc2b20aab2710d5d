/*
 * test_read_replica.c: the pure decisions of exact reads from the replica
 * (api/read_replica.c) and the commit LSN key they read (shared/redis_keys.c).
 *
 * Owns: the rule of docs/decisions.md "Exact reads from the replica": the replica serves a
 * read only when it is configured, not backing off, the user's commit LSN is known and
 * its replay position is at or past it; anything unknown reads the primary. The value
 * Redis holds is a decimal int64; nil is "missing", anything else "unknown".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/read_replica.h"
#include "shared/redis_keys.h"

#define UID "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

static read_lsn known(int64_t lsn) {
    return (read_lsn){.state = READ_LSN_KNOWN, .lsn = lsn};
}

static void key_is_in_the_users_slot(void **state) {
    (void)state;
    char k[REDIS_KEY_MAX];
    assert_string_equal(redis_key_commit_lsn(k, UID), "{u:" UID "}:lsn");
    assert_int_equal(CACHE_COMMIT_LSN_TTL_S, 7 * 24 * 3600);
}

static void parse_takes_decimal_int64_only(void **state) {
    (void)state;
    int64_t v = -1;
    assert_true(read_lsn_parse("0", 1, &v));
    assert_int_equal(v, 0);
    assert_true(read_lsn_parse("123456789012345678", 18, &v));
    assert_int_equal(v, 123456789012345678LL);
    assert_false(read_lsn_parse("", 0, &v));
    assert_false(read_lsn_parse("-1", 2, &v));
    assert_false(read_lsn_parse("12a", 3, &v));
    assert_false(read_lsn_parse("0/16B3748", 9, &v)); /* pg_lsn text is not the contract */
    assert_false(read_lsn_parse("1234567890123456789", 19, &v));
    assert_false(read_lsn_parse(NULL, 1, &v));
}

static void reply_maps_to_need(void **state) {
    (void)state;
    char digits[] = "4242";
    redisReply str = {.type = REDIS_REPLY_STRING, .str = digits, .len = 4};
    read_lsn n = read_lsn_from_reply(&str);
    assert_int_equal(n.state, READ_LSN_KNOWN);
    assert_int_equal(n.lsn, 4242);

    redisReply nil = {.type = REDIS_REPLY_NIL};
    assert_int_equal(read_lsn_from_reply(&nil).state, READ_LSN_MISSING);

    assert_int_equal(read_lsn_from_reply(NULL).state, READ_LSN_UNKNOWN);
    char msg[] = "MOVED 123 127.0.0.1:7000";
    redisReply err = {.type = REDIS_REPLY_ERROR, .str = msg, .len = strlen(msg)};
    assert_int_equal(read_lsn_from_reply(&err).state, READ_LSN_UNKNOWN);
    char junk[] = "soon";
    redisReply bad = {.type = REDIS_REPLY_STRING, .str = junk, .len = 4};
    assert_int_equal(read_lsn_from_reply(&bad).state, READ_LSN_UNKNOWN);
}

static void precheck_reads_the_primary_when_unsure(void **state) {
    (void)state;
    assert_string_equal(read_replica_precheck(false, known(1), false), "no_replica");
    read_lsn missing = {.state = READ_LSN_MISSING};
    read_lsn unknown = {.state = READ_LSN_UNKNOWN};
    read_lsn any = {.state = READ_LSN_ANY};
    assert_string_equal(read_replica_precheck(true, missing, false), "lsn_missing");
    assert_string_equal(read_replica_precheck(true, unknown, false), "lsn_unknown");
    assert_string_equal(read_replica_precheck(true, known(1), true), "replica_backoff");
    assert_string_equal(read_replica_precheck(true, any, true), "replica_backoff");
    assert_null(read_replica_precheck(true, known(1), false));
    assert_null(read_replica_precheck(true, any, false));
}

static void verdict_needs_replay_at_or_past_the_commit(void **state) {
    (void)state;
    assert_null(read_replica_verdict(known(100), true, 100));
    assert_null(read_replica_verdict(known(100), true, 101));
    assert_string_equal(read_replica_verdict(known(100), true, 99), "replica_behind");
    /* NULL replay position: not a standby (promoted, or the primary itself). */
    assert_string_equal(read_replica_verdict(known(100), false, 0), "replica_not_standby");
    read_lsn any = {.state = READ_LSN_ANY};
    assert_null(read_replica_verdict(any, true, 0));
    assert_null(read_replica_verdict(any, false, 0));
    read_lsn missing = {.state = READ_LSN_MISSING};
    assert_string_equal(read_replica_verdict(missing, true, 1000), "replica_behind");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_is_in_the_users_slot),
        cmocka_unit_test(parse_takes_decimal_int64_only),
        cmocka_unit_test(reply_maps_to_need),
        cmocka_unit_test(precheck_reads_the_primary_when_unsure),
        cmocka_unit_test(verdict_needs_replay_at_or_past_the_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
