/*
 * test_stack_rate_limit_sync.c: the reconciler (api/rate_limit_sync.c) and
 * RATELIMIT_SYNC_LUA against a real Redis: two local tables play two API instances
 * sharing one Redis bucket.
 *
 * Needs REDIS_URL (tests/run exports it); without it the test FAILS rather than skips.
 * Rounds are driven by hand (interval 0) except in the thread test, whose waits poll a
 * condition under a deadline. Every key is fresh and hash-tagged ("rl:{t:<uuid>}:...") and
 * deleted afterwards, so the test can share a Redis with anything else.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/rate_limit_sync.h"
#include "api/rate_limit_local.h"
#include "shared/redis_pool.h"
#include "shared/time_util.h"
#include "shared/uuid7.h"

static redis_pool *g_pool;
static const char *g_url;

static int64_t now_us(void) {
    return time_monotonic_ns() / 1000;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void new_key(char *out, size_t outlen) {
    char id[UUID_STR_LEN];
    uuid7_generate(id);
    snprintf(out, outlen, "rl:{t:%s}:all", id);
}

static void del_key(const char *key) {
    redisReply *r = redis_pool_command(g_pool, "DEL %s", key);
    assert_non_null(r);
    freeReplyObject(r);
}

/* The shared bucket's TAT minus Redis's now, in microseconds (-1: no key). */
static int64_t shared_debt_us(const char *key) {
    redisReply *t = redis_pool_command(g_pool, "TIME");
    redisReply *v = redis_pool_command(g_pool, "GET %s", key);
    assert_non_null(t);
    assert_non_null(v);
    assert_int_equal(t->type, REDIS_REPLY_ARRAY);
    int64_t now = atoll(t->element[0]->str) * 1000000 + atoll(t->element[1]->str);
    int64_t debt = v->type == REDIS_REPLY_STRING ? atoll(v->str) - now : -1;
    freeReplyObject(t);
    freeReplyObject(v);
    return debt;
}

static limit_sync *manual_sync(local_limits *ll, const char *url) {
    char err[256] = "";
    limit_sync_params p = {.limits = ll, .redis_url = url, .timeout_ms = 1000, .interval_ms = 0};
    limit_sync *s = limit_sync_start(&p, err, sizeof err);
    if (s == NULL)
        fail_msg("limit_sync_start: %s", err);
    return s;
}

static bool take1(local_limits *ll, const char *key, rate_limit_spec spec, ratelimit_result *out) {
    local_limit_take t = {.key = key, .spec = spec};
    bool ok = local_limits_take(ll, &t, 1, now_us());
    if (out != NULL)
        *out = t.result;
    return ok;
}

static int setup(void **state) {
    (void)state;
    g_url = getenv("REDIS_URL");
    if (g_url == NULL || g_url[0] == '\0') {
        fprintf(stderr, "test_stack_limit_sync: REDIS_URL is not set; this test needs Redis\n");
        return -1;
    }
    char err[256] = "";
    g_pool = redis_pool_create(g_url, 2, 2000, err, sizeof err);
    if (g_pool == NULL || !redis_pool_ping(g_pool, err, sizeof err)) {
        fprintf(stderr, "Redis at REDIS_URL: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    redis_pool_destroy(g_pool);
    return 0;
}

/* Spent on A, pushed; B admits one blind request, pushes it, learns the shared debt and
 * refuses with the shared Retry-After. The shared bucket holds every admission once. */
static void test_two_instances_share_one_bucket(void **state) {
    (void)state;
    char key[96];
    new_key(key, sizeof key);
    rate_limit_spec spec = {10, 3600}; /* one per 360 s: no refill during the test */
    local_limits *a = local_limits_create(1000, true), *b = local_limits_create(1000, true);
    limit_sync *sa = manual_sync(a, g_url), *sb = manual_sync(b, g_url);
    for (int i = 0; i < 10; i++)
        assert_true(take1(a, key, spec, NULL));
    assert_false(take1(a, key, spec, NULL));
    assert_int_equal(limit_sync_round(sa), 0);
    int64_t debt = shared_debt_us(key);
    assert_true(debt > 3590LL * 1000000 && debt <= 3600LL * 1000000);

    assert_true(take1(b, key, spec, NULL)); /* b has not seen the key: its view is full */
    assert_int_equal(limit_sync_round(sb), 0);
    debt = shared_debt_us(key);
    assert_true(debt > 3950LL * 1000000 && debt <= 3960LL * 1000000); /* 11 intervals */
    ratelimit_result r;
    assert_false(take1(b, key, spec, &r));
    assert_int_equal(r.remaining, 0);
    assert_true(r.retry_after_s >= 715 && r.retry_after_s <= 720); /* 11*360 + 360 - 3600 */
    assert_int_equal(limit_sync_round(sb), 0);                     /* nothing pending: idle */
    limit_sync_stop(sa);
    limit_sync_stop(sb);
    local_limits_destroy(a);
    local_limits_destroy(b);
    del_key(key);
}

/* Redis unreachable: rounds fail, the counts wait in their buckets, the local decisions go on;
 * a round with nothing to push does not even try. */
static void test_unreachable_redis_keeps_counts(void **state) {
    (void)state;
    rate_limit_spec spec = {5, 60};
    local_limits *ll = local_limits_create(100, true);
    limit_sync *s = manual_sync(ll, "redis://127.0.0.1:1/0");
    assert_int_equal(limit_sync_round(s), 0); /* idle: no connect attempt, no failure */
    for (int i = 0; i < 3; i++)
        assert_true(take1(ll, "rl:{t:down}:all", spec, NULL));
    assert_int_equal(limit_sync_round(s), -1);
    assert_int_equal(limit_sync_round(s), -1); /* back-off: still failing, still kept */
    assert_true(take1(ll, "rl:{t:down}:all", spec, NULL));
    assert_true(take1(ll, "rl:{t:down}:all", spec, NULL));
    assert_false(take1(ll, "rl:{t:down}:all", spec, NULL)); /* limited alone */
    local_limit_sync_item items[2];
    assert_int_equal(local_limits_collect(ll, items, 2), 1);
    assert_int_equal(items[0].n, 5);
    limit_sync_stop(s);
    local_limits_destroy(ll);
}

/* SCRIPT FLUSH: the round that meets NOSCRIPT fails without charging, the next connection
 * loads the script again, and the shared bucket gets each admission exactly once. */
static void test_survives_script_flush(void **state) {
    (void)state;
    char key[96];
    new_key(key, sizeof key);
    rate_limit_spec spec = {100, 3600}; /* 36 s each */
    local_limits *ll = local_limits_create(100, true);
    limit_sync *s = manual_sync(ll, g_url);
    assert_true(take1(ll, key, spec, NULL));
    assert_int_equal(limit_sync_round(s), 0);
    redisReply *r = redis_pool_command(g_pool, "SCRIPT FLUSH");
    assert_non_null(r);
    freeReplyObject(r);
    assert_true(take1(ll, key, spec, NULL));
    assert_true(take1(ll, key, spec, NULL));
    assert_int_equal(limit_sync_round(s), -1);
    int64_t deadline = now_us() + 10 * 1000000LL;
    while (limit_sync_round(s) != 0) {
        if (now_us() > deadline)
            fail_msg("the reconciler did not recover from SCRIPT FLUSH within 10 s");
        sleep_ms(20);
    }
    int64_t debt = shared_debt_us(key);
    assert_true(debt > 3 * 36LL * 1000000 - 5000000 && debt <= 3 * 36LL * 1000000);
    limit_sync_stop(s);
    local_limits_destroy(ll);
    del_key(key);
}

/* A push whose answer is lost (Redis paused past the reconciler's timeout: it may still run
 * the script afterwards) is not retried, so the shared bucket never counts a request twice;
 * the local bucket still holds those requests. */
static void test_lost_answers_are_not_retried(void **state) {
    (void)state;
    char key[96];
    new_key(key, sizeof key);
    rate_limit_spec spec = {10, 3600}; /* 360 s each */
    const int64_t each = 360LL * 1000000;
    local_limits *ll = local_limits_create(100, true);
    char err[256] = "";
    limit_sync_params p = {.limits = ll, .redis_url = g_url, .timeout_ms = 200, .interval_ms = 0};
    limit_sync *s = limit_sync_start(&p, err, sizeof err);
    assert_non_null(s);
    for (int i = 0; i < 3; i++)
        assert_true(take1(ll, key, spec, NULL));
    assert_int_equal(limit_sync_round(s), 0);
    redisReply *r = redis_pool_command(g_pool, "CLIENT PAUSE 800 WRITE");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    assert_true(take1(ll, key, spec, NULL));
    assert_true(take1(ll, key, spec, NULL));
    assert_int_equal(limit_sync_round(s), -1); /* timed out after writing the EVALSHA */
    local_limit_sync_item left[2];
    assert_int_equal(local_limits_collect(ll, left, 2), 0); /* dropped, not kept */
    /* A write of our own returns once the pause is over. */
    int64_t deadline = now_us() + 10 * 1000000LL;
    for (;;) {
        r = redis_pool_command(g_pool, "SET %s-probe 1 PX 1000", key);
        bool done = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r != NULL)
            freeReplyObject(r);
        if (done)
            break;
        if (now_us() > deadline)
            fail_msg("Redis still refuses writes 10 s after CLIENT PAUSE 800");
        sleep_ms(20);
    }
    assert_true(take1(ll, key, spec, NULL));
    deadline = now_us() + 10 * 1000000LL;
    while (limit_sync_round(s) != 0) { /* reconnects after the back-off */
        if (now_us() > deadline)
            fail_msg("the reconciler did not recover within 10 s of the pause");
        sleep_ms(20);
    }
    /* 3 + 1 for sure, + 2 if Redis ran the lost push after the pause: never 3 + 1 + 2 + 2. */
    int64_t debt = shared_debt_us(key);
    assert_true(debt > 4 * each - 10000000 && debt <= 6 * each);
    /* The local bucket holds all six either way: four left of ten. */
    ratelimit_result res;
    assert_true(take1(ll, key, spec, &res));
    assert_true(res.remaining <= 3);
    limit_sync_stop(s);
    local_limits_destroy(ll);
    del_key(key);
}

/* More buckets than one pipelined chunk: all of them reach Redis in one round. */
static void test_many_buckets_in_one_round(void **state) {
    (void)state;
    enum { KEYS = LIMIT_SYNC_CHUNK * 2 + 100 };
    static char keys[KEYS][96];
    rate_limit_spec spec = {10, 60};
    local_limits *ll = local_limits_create(65536, true);
    limit_sync *s = manual_sync(ll, g_url);
    for (int i = 0; i < KEYS; i++) {
        new_key(keys[i], sizeof keys[i]);
        assert_true(take1(ll, keys[i], spec, NULL));
    }
    assert_int_equal(limit_sync_round(s), 0);
    local_limit_sync_item left[1];
    assert_int_equal(local_limits_collect(ll, left, 1), 0);
    for (int i = 0; i < KEYS; i++) {
        int64_t debt = shared_debt_us(keys[i]);
        assert_true(debt > 0 && debt <= 6LL * 1000000);
        del_key(keys[i]);
    }
    limit_sync_stop(s);
    local_limits_destroy(ll);
}

/* The thread reconciles on its own, and stopping it pushes what is still pending. */
static void test_thread_rounds_and_final_flush(void **state) {
    (void)state;
    char key[96], late[96];
    new_key(key, sizeof key);
    new_key(late, sizeof late);
    rate_limit_spec spec = {10, 60};
    local_limits *ll = local_limits_create(100, true);
    char err[256] = "";
    limit_sync_params p = {.limits = ll, .redis_url = g_url, .timeout_ms = 1000, .interval_ms = 20};
    limit_sync *s = limit_sync_start(&p, err, sizeof err);
    assert_non_null(s);
    assert_true(take1(ll, key, spec, NULL));
    int64_t deadline = now_us() + 10 * 1000000LL;
    while (shared_debt_us(key) < 0) {
        if (now_us() > deadline)
            fail_msg("the reconciler thread did not push within 10 s");
        sleep_ms(10);
    }
    assert_true(take1(ll, late, spec, NULL));
    limit_sync_stop(s); /* its last round pushes "late" */
    assert_true(shared_debt_us(late) > 0);
    local_limits_destroy(ll);
    del_key(key);
    del_key(late);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_instances_share_one_bucket),
        cmocka_unit_test(test_unreachable_redis_keeps_counts),
        cmocka_unit_test(test_survives_script_flush),
        cmocka_unit_test(test_lost_answers_are_not_retried),
        cmocka_unit_test(test_many_buckets_in_one_round),
        cmocka_unit_test(test_thread_rounds_and_final_flush),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
