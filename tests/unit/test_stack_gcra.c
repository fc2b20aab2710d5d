/*
 * test_stack_gcra.c: ratelimit_take (the GCRA Lua script) against a real Redis.
 *
 * Needs REDIS_URL (tests/run exports it); without it the test FAILS rather than skips,
 * so a misconfigured run cannot pass silently. Every test uses fresh hash-tagged keys
 * ("rl:{t:<uuid>}:...") and deletes them, so it can share a Redis with anything else.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/gcra.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

static redis_pool *g_pool;

static void new_key(char *out, size_t outlen) {
    char id[UUID_STR_LEN];
    uuid7_generate(id);
    snprintf(out, outlen, "rl:{t:%s}:test", id);
}

static void del_key(const char *key) {
    redisReply *r = redis_pool_command(g_pool, "DEL %s", key);
    assert_non_null(r);
    freeReplyObject(r);
}

static ratelimit_result take_ok(const char *key, rate_limit_spec spec) {
    ratelimit_result r;
    memset(&r, 0xAB, sizeof r);
    assert_int_equal(ratelimit_take(g_pool, key, spec, &r), 0);
    return r;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int setup(void **state) {
    (void)state;
    const char *url = getenv("REDIS_URL");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "test_stack_ratelimit: REDIS_URL is not set; this test needs Redis\n");
        return -1;
    }
    char err[256] = "";
    g_pool = redis_pool_create(url, 4, 2000, err, sizeof err);
    if (g_pool == NULL) {
        fprintf(stderr, "redis_pool_create(%s): %s\n", url, err);
        return -1;
    }
    if (!redis_pool_ping(g_pool, err, sizeof err)) {
        fprintf(stderr, "Redis at REDIS_URL does not answer PING: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    redis_pool_destroy(g_pool);
    g_pool = NULL;
    return 0;
}

static void test_burst_then_denied(void **state) {
    (void)state;
    char key[96];
    new_key(key, sizeof key);
    rate_limit_spec spec = {5, 60}; /* interval 12 s */
    for (int i = 0; i < 5; i++) {
        ratelimit_result r = take_ok(key, spec);
        assert_true(r.allowed);
        assert_int_equal(r.limit, 5);
        assert_int_equal(r.remaining, 4 - i);
        assert_int_equal(r.retry_after_s, 0);
        assert_int_equal(r.reset_s, 12 * (i + 1));
        assert_int_equal(r.next_s, 12); /* RateLimit t: the first spent unit comes back */
    }
    ratelimit_result r = take_ok(key, spec);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_true(r.retry_after_s >= 11 && r.retry_after_s <= 12);
    assert_int_equal(r.next_s, r.retry_after_s);
    assert_true(r.reset_s >= 59 && r.reset_s <= 60);

    /* The TAT expires with the bucket: nothing lingers once it is full again. */
    redisReply *ttl = redis_pool_command(g_pool, "PTTL %s", key);
    assert_non_null(ttl);
    assert_int_equal(ttl->type, REDIS_REPLY_INTEGER);
    assert_true(ttl->integer > 55000 && ttl->integer <= 60000);
    freeReplyObject(ttl);

    /* The stored TAT is Redis's clock plus a period, in microseconds. */
    redisReply *tat = redis_pool_command(g_pool, "GET %s", key);
    assert_non_null(tat);
    assert_int_equal(tat->type, REDIS_REPLY_STRING);
    long long tat_ms = strtoll(tat->str, NULL, 10) / 1000;
    freeReplyObject(tat);
    long long local = time_now_unix_ms();
    assert_true(tat_ms > local + 55000 && tat_ms < local + 61000);
    del_key(key);
}

static void test_refill(void **state) {
    (void)state;
    char key[96];
    new_key(key, sizeof key);
    rate_limit_spec spec = {10, 1}; /* interval 100 ms */
    int allowed = 0;
    for (int i = 0; i < 10; i++)
        allowed += take_ok(key, spec).allowed ? 1 : 0;
    assert_int_equal(allowed, 10);
    ratelimit_result denied = take_ok(key, spec);
    if (denied.allowed) /* only if the ten took >100 ms; tolerate one refill */
        denied = take_ok(key, spec);
    assert_false(denied.allowed);
    assert_int_equal(denied.retry_after_s, 1);
    sleep_ms(250); /* two intervals and change */
    assert_true(take_ok(key, spec).allowed);
    assert_true(take_ok(key, spec).allowed);
    del_key(key);
}

static void test_keys_are_independent(void **state) {
    (void)state;
    char a[96], b[96];
    new_key(a, sizeof a);
    new_key(b, sizeof b);
    rate_limit_spec spec = {1, 60};
    assert_true(take_ok(a, spec).allowed);
    assert_false(take_ok(a, spec).allowed);
    ratelimit_result r = take_ok(b, spec);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    del_key(a);
    del_key(b);
}

/* Two pools stand for two API instances: they share one bucket. */
static void test_shared_between_pools(void **state) {
    (void)state;
    char err[256] = "";
    redis_pool *other = redis_pool_create(getenv("REDIS_URL"), 2, 2000, err, sizeof err);
    assert_non_null(other);
    char key[96];
    new_key(key, sizeof key);
    rate_limit_spec spec = {6, 3600};
    int allowed = 0;
    for (int i = 0; i < 10; i++) {
        ratelimit_result r;
        redis_pool *p = (i % 2) ? other : g_pool;
        assert_int_equal(ratelimit_take(p, key, spec, &r), 0);
        allowed += r.allowed ? 1 : 0;
    }
    assert_int_equal(allowed, 6);
    redis_pool_destroy(other);
    del_key(key);
}

typedef struct {
    const char *key;
    int allowed;
    int failed;
} hammer_arg;

static void *hammer(void *p) {
    hammer_arg *arg = p;
    rate_limit_spec spec = {100, 3600};
    for (int i = 0; i < 60; i++) {
        ratelimit_result r;
        if (ratelimit_take(g_pool, arg->key, spec, &r) != 0)
            arg->failed++;
        else if (r.allowed)
            arg->allowed++;
    }
    return NULL;
}

/* The script is atomic: 4 threads x 60 requests on a 100-request bucket admit exactly 100. */
static void test_atomic_under_concurrency(void **state) {
    (void)state;
    char key[96];
    new_key(key, sizeof key);
    pthread_t t[4];
    hammer_arg args[4] = {{key, 0, 0}, {key, 0, 0}, {key, 0, 0}, {key, 0, 0}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    int allowed = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(args[i].failed, 0);
        allowed += args[i].allowed;
    }
    assert_int_equal(allowed, 100);
    del_key(key);
}

/* Above 1000/s the script's microsecond TAT keeps the burst near the count (the ms form
 * would cap it at 1000). The interval is floor(1e6 / 3000) = 333 us, so the burst is
 * floor(1e6 / 333) = 3003, plus whatever refilled while the loop ran. */
/* Redis's clock (TIME) in microseconds. */
static int64_t redis_now_us(void) {
    redisReply *r = redis_pool_command(g_pool, "TIME");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    int64_t us =
        strtoll(r->element[0]->str, NULL, 10) * 1000000 + strtoll(r->element[1]->str, NULL, 10);
    freeReplyObject(r);
    return us;
}

static void test_high_rate_precision(void **state) {
    (void)state;
    char key[96];
    new_key(key, sizeof key);
    rate_limit_spec spec = {3000, 1};
    const int64_t interval_us = 1000000 / 3000;
    /* The script decides by Redis's clock (TIME), so the elapsed time is read from it too:
     * the box's monotonic clock and Redis's wall clock can disagree by more than an
     * interval over the loop on a loaded machine. */
    int64_t start_us = redis_now_us();
    int allowed = 0;
    for (int i = 0; i < 20000; i++) {
        if (!take_ok(key, spec).allowed)
            break;
        allowed++;
    }
    int64_t elapsed_us = redis_now_us() - start_us;
    int64_t bound = 1000000 / interval_us + elapsed_us / interval_us + 1;
    if (allowed < 3000 || allowed > bound)
        fail_msg("allowed %d in %lld us; expected 3000..%lld", allowed, (long long)elapsed_us,
                 (long long)bound);
    del_key(key);
}

/* After SCRIPT FLUSH the pool must load the script again (NOSCRIPT path). */
static void test_survives_script_flush(void **state) {
    (void)state;
    char key[96];
    new_key(key, sizeof key);
    rate_limit_spec spec = {2, 60};
    assert_true(take_ok(key, spec).allowed);
    redisReply *r = redis_pool_command(g_pool, "SCRIPT FLUSH");
    assert_non_null(r);
    freeReplyObject(r);
    ratelimit_result res = take_ok(key, spec);
    assert_true(res.allowed);
    assert_int_equal(res.remaining, 0);
    assert_false(take_ok(key, spec).allowed);
    del_key(key);
}

/* An unreachable Redis is reported as -1 so the caller can fail open. */
static void test_unreachable_redis(void **state) {
    (void)state;
    char err[256] = "";
    redis_pool *down = redis_pool_create("redis://127.0.0.1:1/0", 1, 200, err, sizeof err);
    assert_non_null(down);
    ratelimit_result r;
    rate_limit_spec spec = {5, 60};
    assert_int_equal(ratelimit_take(down, "rl:{t:down}:x", spec, &r), -1);
    redis_pool_destroy(down);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_denied),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_shared_between_pools),
        cmocka_unit_test(test_atomic_under_concurrency),
        cmocka_unit_test(test_high_rate_precision),
        cmocka_unit_test(test_survives_script_flush),
        cmocka_unit_test(test_unreachable_redis),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
