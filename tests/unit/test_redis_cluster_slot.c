/*
 * test_redis_cluster_slot.c: the Redis Cluster key slot (CRC16 with {tag} rules) and the
 * routing key of a command, against slots Redis itself computed (`redis-cli CLUSTER
 * KEYSLOT <key>` on redis-server 7.0), and the REDIS_URL seed list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "shared/redis_cluster.h"
#include "shared/redis_keys.h"
#include "shared/redis_url.h"

static int slot(const char *key) {
    return redis_cluster_key_slot(key, strlen(key));
}

static void test_known_slots(void **state) {
    (void)state;
    /* Each value is what CLUSTER KEYSLOT answered. */
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("bar"), 5061);
    assert_int_equal(slot("hello"), 866);
    assert_int_equal(slot("{user1000}.following"), 3443);
    assert_int_equal(slot("{user1000}.followers"), 3443);
    assert_int_equal(slot("foo{}{bar}"), 8363);    /* empty tag: the whole key */
    assert_int_equal(slot("foo{{bar}}zap"), 4015); /* tag "{bar" */
    assert_int_equal(slot("foo{bar}{zap}"), 5061); /* the first tag: "bar" */
    assert_int_equal(slot("{}foo"), 9500);
    assert_int_equal(slot("a{b"), 13340); /* no closing brace: the whole key */
    assert_int_equal(slot(""), 0);
    assert_int_equal(slot("{u:0190a0b0-0000-7000-8000-000000000001}:task:x"), 9437);
}

/* Every key of one user shares the slot of the {u:<uid>} tag (shared/redis_keys.h). */
static void test_user_keys_share_a_slot(void **state) {
    (void)state;
    const char *uid = "0190a0b0-0000-7000-8000-000000000001";
    char k[REDIS_KEY_MAX];
    int want = slot("{u:0190a0b0-0000-7000-8000-000000000001}");
    assert_int_equal(slot(redis_key_task(k, uid, "t1")), want);
    assert_int_equal(slot(redis_key_generation(k, uid)), want);
    assert_int_equal(slot(redis_key_list(k, uid, 7, "abc")), want);
    assert_int_equal(slot(redis_key_command(k, uid, "c1")), want);
    assert_int_equal(slot(redis_key_events_log(k, uid)), want);
    assert_int_equal(slot(redis_key_events_channel(k, uid)), want);
    assert_int_equal(slot(redis_key_epoch(k, uid)), want);
    assert_int_equal(slot(redis_key_revoked(k, uid, "s1")), want);
    assert_int_equal(slot(NEAR_CACHE_SEQ_KEY), slot(NEAR_CACHE_LEASES_KEY));
    assert_int_equal(slot(NEAR_CACHE_SEQ_KEY), slot(NEAR_CACHE_ACKS_KEY));
    assert_int_equal(slot(NEAR_CACHE_SEQ_KEY), slot(NEAR_CACHE_BORN_KEY));
    assert_int_equal(slot(NEAR_CACHE_SEQ_KEY), slot(NEAR_CACHE_CHANNEL));
}

static void test_command_routing_key(void **state) {
    (void)state;
    const char *get[] = {"GET", "foo"};
    assert_int_equal(redis_cluster_command_slot(2, get, NULL), 12182);
    const char *evalsha[] = {"EVALSHA", "0123", "2", "{user1000}.a", "{user1000}.b", "x"};
    assert_int_equal(redis_cluster_command_slot(6, evalsha, NULL), 3443);
    const char *nokeys[] = {"EVALSHA", "0123", "0", "x"};
    assert_int_equal(redis_cluster_command_slot(4, nokeys, NULL), -1);
    const char *ping[] = {"PING"};
    assert_int_equal(redis_cluster_command_slot(1, ping, NULL), -1);
    const char *client[] = {"client", "list"};
    assert_int_equal(redis_cluster_command_slot(2, client, NULL), -1);
    const char *wait[] = {"WAIT", "1", "100"};
    assert_int_equal(redis_cluster_command_slot(3, wait, NULL), -1);
    /* The same from RESP, as the printf-style calls route. */
    char *buf = NULL;
    int len = redisFormatCommand(&buf, "SET %s %s EX %d", "bar", "v a l", 5);
    assert_true(len > 0);
    assert_int_equal(redis_cluster_formatted_slot(buf, (size_t)len), 5061);
    redisFreeCommand(buf);
    len = redisFormatCommand(&buf, "EVALSHA %s 1 %s", "abc", "hello");
    assert_int_equal(redis_cluster_formatted_slot(buf, (size_t)len), 866);
    redisFreeCommand(buf);
    len = redisFormatCommand(&buf, "TIME");
    assert_int_equal(redis_cluster_formatted_slot(buf, (size_t)len), -1);
    redisFreeCommand(buf);
    assert_int_equal(redis_cluster_formatted_slot("*2\r\n$3\r\nGET\r\n$9\r\nfoo", 20), -1);
    assert_int_equal(redis_cluster_formatted_slot("garbage", 7), -1);
}

static void test_url_seeds(void **state) {
    (void)state;
    redis_url u;
    char err[256];
    assert_int_equal(redis_url_parse("redis://:pw,x@127.0.0.1:7000,127.0.0.1:7001,[::1]:7002", &u,
                                     err, sizeof err),
                     0);
    assert_string_equal(u.password, "pw,x");
    assert_int_equal(u.nseeds, 3);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.seeds[1].port, 7001);
    assert_string_equal(u.seeds[2].host, "::1");
    assert_int_equal(u.seeds[2].port, 7002);
    assert_int_equal(u.db, 0);
    assert_int_equal(redis_url_parse("redis://h1,h2/0", &u, err, sizeof err), 0);
    assert_int_equal(u.seeds[1].port, 6379);
    assert_int_equal(redis_url_parse("redis://cache:6379/2", &u, err, sizeof err), 0);
    assert_int_equal(u.nseeds, 1);
    const char *bad[] = {"redis://h1,h2/3", "redis://h1,", "redis://,h1", "redis://h1,,h2",
                         "redis://h1,h2:0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(redis_url_parse(bad[i], &u, err, sizeof err), -1);
        assert_true(err[0] != '\0');
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_slots),
        cmocka_unit_test(test_user_keys_share_a_slot),
        cmocka_unit_test(test_command_routing_key),
        cmocka_unit_test(test_url_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
