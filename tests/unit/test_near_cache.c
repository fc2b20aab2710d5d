/*
 * test_near_cache.c: the API's in-process cache and what makes an entry servable:
 * nothing without a valid lease; an invalidation of the user, or an epoch bump, kills
 * entries at once (a task write only the user's tasks and pages, not their sessions); a fill whose
 * ticket was taken before an invalidation is dead on arrival (the slow-reader race); other users
 * are untouched; the byte budget evicts the least recently used entries; blobs outlive their
 * entries; the empty key is never stored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/near_cache.h"
#include "shared/time_util.h"

#define ALICE "0190f0a0-0000-7000-8000-00000000000a"
#define BOB "0190f0a0-0000-7000-8000-00000000000b"

static near_cache *with_lease(size_t bytes) {
    near_cache *nc = near_cache_create(bytes);
    assert_non_null(nc);
    near_cache_set_lease(nc, time_monotonic_ns() + 60LL * 1000000000);
    return nc;
}

static void put(near_cache *nc, const char *user, const char *key, const char *value,
                long long aux) {
    near_cache_ticket t = near_cache_ticket_take(nc, user, NEAR_CACHE_TASKS);
    near_cache_put(nc, &t, user, key, value, strlen(value), aux);
}

/* 1 with the value in out, 0 for a miss. */
static int get(near_cache *nc, const char *key, char *out, size_t outlen) {
    near_cache_blob *b = near_cache_get(nc, key);
    if (b == NULL)
        return 0;
    snprintf(out, outlen, "%s", near_cache_blob_data(b));
    near_cache_blob_release(b);
    return 1;
}

static void test_hit_and_aux(void **state) {
    (void)state;
    near_cache *nc = with_lease(1 << 20);
    put(nc, ALICE, ALICE ":t:1", "{\"version\":3}", 3);
    near_cache_blob *b = near_cache_get(nc, ALICE ":t:1");
    assert_non_null(b);
    assert_string_equal(near_cache_blob_data(b), "{\"version\":3}");
    assert_int_equal(near_cache_blob_len(b), 13);
    assert_int_equal(near_cache_blob_aux(b), 3);
    near_cache_blob_release(b);
    near_cache_destroy(nc);
}

/* "" is what a key builder answers for a key that does not fit: it is never stored, so
 * two users whose keys both overflowed cannot share an entry. */
static void test_empty_key_is_never_cached(void **state) {
    (void)state;
    near_cache *nc = with_lease(1 << 20);
    put(nc, ALICE, "", "alice's", 1);
    char out[32];
    assert_int_equal(get(nc, "", out, sizeof out), 0);
    near_cache_destroy(nc);
}

static void test_nothing_without_lease(void **state) {
    (void)state;
    near_cache *nc = with_lease(1 << 20);
    put(nc, ALICE, "k", "v", 0);
    char out[16];
    assert_int_equal(get(nc, "k", out, sizeof out), 1);
    near_cache_set_lease(nc, 0);
    assert_int_equal(get(nc, "k", out, sizeof out), 0);
    near_cache_ticket t = near_cache_ticket_take(nc, ALICE, NEAR_CACHE_TASKS);
    assert_false(t.usable);
    near_cache_put(nc, &t, ALICE, "k2", "v", 1, 0);
    near_cache_set_lease(nc, time_monotonic_ns() + 60LL * 1000000000);
    assert_int_equal(get(nc, "k2", out, sizeof out), 0);
    near_cache_destroy(nc);
}

static void test_invalidation_is_per_user(void **state) {
    (void)state;
    near_cache *nc = with_lease(1 << 20);
    put(nc, ALICE, "a", "1", 0);
    put(nc, BOB, "b", "2", 0);
    near_cache_invalidate_user(nc, ALICE, NEAR_CACHE_ALL_FAMILIES);
    char out[16];
    assert_int_equal(get(nc, "a", out, sizeof out), 0);
    assert_int_equal(get(nc, "b", out, sizeof out), 1);
    assert_string_equal(out, "2");
    put(nc, ALICE, "a", "3", 0);
    assert_int_equal(get(nc, "a", out, sizeof out), 1);
    assert_string_equal(out, "3");
    near_cache_destroy(nc);
}

/* A task write spares the user's session verdicts; a revocation kills both families. */
static void test_families(void **state) {
    (void)state;
    near_cache *nc = with_lease(1 << 20);
    put(nc, ALICE, "task", "1", 0);
    near_cache_ticket t = near_cache_ticket_take(nc, ALICE, NEAR_CACHE_SESSIONS);
    near_cache_put(nc, &t, ALICE, "session", "", 0, 7);
    char out[16];
    near_cache_invalidate_user(nc, ALICE, 1u << NEAR_CACHE_TASKS);
    assert_int_equal(get(nc, "task", out, sizeof out), 0);
    assert_int_equal(get(nc, "session", out, sizeof out), 1);
    near_cache_invalidate_user(nc, ALICE, NEAR_CACHE_ALL_FAMILIES);
    assert_int_equal(get(nc, "session", out, sizeof out), 0);
    near_cache_destroy(nc);
}

static void test_epoch_kills_everything(void **state) {
    (void)state;
    near_cache *nc = with_lease(1 << 20);
    put(nc, ALICE, "a", "1", 0);
    put(nc, BOB, "b", "2", 0);
    near_cache_bump_epoch(nc);
    char out[16];
    assert_int_equal(get(nc, "a", out, sizeof out), 0);
    assert_int_equal(get(nc, "b", out, sizeof out), 0);
    near_cache_destroy(nc);
}

/* The reader took its ticket, read the old state, the invalidation came, then it
 * stores: what it stores must never be served. */
static void test_slow_fill_is_dead_on_arrival(void **state) {
    (void)state;
    near_cache *nc = with_lease(1 << 20);
    near_cache_ticket before = near_cache_ticket_take(nc, ALICE, NEAR_CACHE_TASKS);
    near_cache_invalidate_user(nc, ALICE, NEAR_CACHE_ALL_FAMILIES);
    near_cache_put(nc, &before, ALICE, "a", "old", 3, 1);
    char out[16];
    assert_int_equal(get(nc, "a", out, sizeof out), 0);
    near_cache_ticket epoch_before = near_cache_ticket_take(nc, ALICE, NEAR_CACHE_TASKS);
    near_cache_bump_epoch(nc);
    near_cache_put(nc, &epoch_before, ALICE, "a", "old", 3, 1);
    assert_int_equal(get(nc, "a", out, sizeof out), 0);
    near_cache_destroy(nc);
}

/* A budget of 64 stripes x 200 bytes: many entries of ~150 bytes cannot all stay; the
 * one read most recently in its stripe does, and the bytes stay under the budget. */
static void test_budget_evicts_least_recent(void **state) {
    (void)state;
    near_cache *nc = with_lease(64 * 400);
    char key[32], value[64];
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put(nc, ALICE, key, value, i);
    }
    near_cache_stats st;
    near_cache_stats_read(nc, &st);
    assert_true(st.evictions > 0);
    assert_true(st.bytes <= 64 * 400);
    char out[128];
    assert_int_equal(get(nc, "k1999", out, sizeof out), 1);
    assert_int_equal(get(nc, "k0", out, sizeof out), 0);
    near_cache_destroy(nc);
}

static void test_blob_outlives_entry(void **state) {
    (void)state;
    near_cache *nc = with_lease(1 << 20);
    put(nc, ALICE, "a", "first", 1);
    near_cache_blob *b = near_cache_get(nc, "a");
    assert_non_null(b);
    put(nc, ALICE, "a", "second", 2); /* replaces the entry */
    near_cache_invalidate_user(nc, ALICE, NEAR_CACHE_ALL_FAMILIES);
    assert_string_equal(near_cache_blob_data(b), "first");
    near_cache_blob_release(b);
    near_cache_destroy(nc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_aux),
        cmocka_unit_test(test_empty_key_is_never_cached),
        cmocka_unit_test(test_nothing_without_lease),
        cmocka_unit_test(test_invalidation_is_per_user),
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_epoch_kills_everything),
        cmocka_unit_test(test_slow_fill_is_dead_on_arrival),
        cmocka_unit_test(test_budget_evicts_least_recent),
        cmocka_unit_test(test_blob_outlives_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
