/*
 * test_redis_url.c: REDIS_URL parsing for the dedicated (SSE) connections: host, port and
 * db defaults, IPv6 brackets, user and password with percent escapes, and refused forms
 * (other schemes, bad ports, bad db numbers, overlong secrets) whose messages never echo
 * the password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "shared/redis_url.h"

static void test_good(void **state) {
    (void)state;
    redis_url u;
    char err[256];
    assert_int_equal(redis_url_parse("redis://127.0.0.1:46379/14", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 46379);
    assert_int_equal(u.db, 14);
    assert_string_equal(u.password, "");
    assert_int_equal(redis_url_parse("redis://cache", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "cache");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_int_equal(redis_url_parse("redis://cache:7000/", &u, err, sizeof err), 0);
    assert_int_equal(u.port, 7000);
    assert_int_equal(redis_url_parse("redis://[::1]:6380/2", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_int_equal(redis_url_parse("redis://:s%40cret@h:1", &u, err, sizeof err), 0);
    assert_string_equal(u.username, "");
    assert_string_equal(u.password, "s@cret");
    assert_int_equal(redis_url_parse("redis://app:p%3Aw@x@h/3", &u, err, sizeof err), 0);
    assert_string_equal(u.username, "app");
    assert_string_equal(u.password, "p:w@x");
    assert_string_equal(u.host, "h");
    assert_int_equal(u.db, 3);
}

static void test_bad(void **state) {
    (void)state;
    redis_url u;
    char err[256];
    const char *bad[] = {"",
                         "rediss://h",
                         "http://h",
                         "redis://",
                         "redis://h:0",
                         "redis://h:65536",
                         "redis://h:12a",
                         "redis://h/x",
                         "redis://h/-1",
                         "redis://[::1",
                         "redis://[::1]x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(redis_url_parse(bad[i], &u, err, sizeof err), -1);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(redis_url_parse(NULL, &u, err, sizeof err), -1);
    char longpw[400] = "redis://:";
    memset(longpw + 9, 'p', 300);
    strcpy(longpw + 309, "@h");
    assert_int_equal(redis_url_parse(longpw, &u, err, sizeof err), -1);
    assert_null(strstr(err, "ppp"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
