/*
 * test_writer_unlanded.c: a committed batch that stays journaled still invalidates its
 * users' near-cache entries (workers/writer/writer_batch.c, writer_effects.c).
 *
 * Covers: the distinct, sorted user ids of an effect list (one invalidation per user);
 * an empty list publishes nothing; after_commit of a journaled batch that did not land
 * (backlog mode: older batches wait) attempts the invalidation at once, and when {nc} is
 * unreachable too it says so once and backs off for WRITER_REDIS_RETRY_MS (a frozen
 * master must not cost every batch a timeout); a batch with nothing journaled attempts
 * nothing. Redis and Postgres are addresses nothing listens on (port 1): no stack needed;
 * that the message reaches the instances is the scale suite's Redis scenario.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "shared/time_util.h"
#include "workers/writer/writer_batch.h"
#include "workers/writer/writer_effects.h"

#define ALICE "0190f5a0-0000-7000-8000-0000000000a1"
#define BOB "0190f5a0-0000-7000-8000-0000000000b2"
#define CAROL "0190f5a0-0000-7000-8000-0000000000c3"
#define NOWHERE_REDIS "redis://127.0.0.1:1/0"
#define NOWHERE_PG "host=127.0.0.1 port=1 dbname=none user=none connect_timeout=1"

static void push_effect(writer_effect_list *list, const char *user, const char *task) {
    writer_effect e;
    memset(&e, 0, sizeof e);
    memcpy(e.user_id, user, UUID_STR_LEN);
    memcpy(e.task_id, task, UUID_STR_LEN);
    memcpy(e.command_id, task, UUID_STR_LEN);
    e.version = 2;
    e.task_value = strdup("{\"version\":2}");
    e.status_value = strdup("{\"status\":\"applied\"}");
    e.event_value = strdup("{}");
    assert_non_null(e.task_value);
    assert_int_equal(writer_effects_push(list, &e), 0);
}

static void test_users_distinct_and_sorted(void **state) {
    (void)state;
    writer_effect_list list = {0};
    push_effect(&list, CAROL, "0190f5a0-0000-7000-8000-000000000001");
    push_effect(&list, ALICE, "0190f5a0-0000-7000-8000-000000000002");
    push_effect(&list, CAROL, "0190f5a0-0000-7000-8000-000000000003");
    push_effect(&list, BOB, "0190f5a0-0000-7000-8000-000000000004");
    push_effect(&list, ALICE, "0190f5a0-0000-7000-8000-000000000005");
    const char *uids[5];
    assert_int_equal(writer_effects_users(&list, uids), 3);
    assert_string_equal(uids[0], ALICE);
    assert_string_equal(uids[1], BOB);
    assert_string_equal(uids[2], CAROL);
    writer_effects_free(&list);
}

static void test_empty_list_publishes_nothing(void **state) {
    (void)state;
    writer_effect_list list = {0};
    char err[128] = "";
    /* No pool at all: an empty list must not touch Redis. */
    assert_int_equal(writer_effects_invalidate(NULL, &list, err, sizeof err), 0);
}

typedef struct fixture {
    redis_pool *redis;
    pg_pool *pg;
    writer_ctx ctx;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    char err[256];
    f->redis = redis_pool_create(NOWHERE_REDIS, 1, 200, err, sizeof err);
    f->pg = pg_pool_create(NOWHERE_PG, 1, 1000, err, sizeof err);
    if (f->redis == NULL || f->pg == NULL)
        return -1;
    f->ctx.redis = f->redis;
    f->ctx.pg = f->pg;
    f->ctx.lease_ms = 2000;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    writer_ctx_free(&f->ctx);
    redis_pool_destroy(f->redis);
    pg_pool_destroy(f->pg);
    free(f);
    return 0;
}

static void test_journaled_batch_is_invalidated_at_once(void **state) {
    fixture *f = *state;
    f->ctx.backlog = true; /* older batches wait: this one is not even tried */
    f->ctx.journal_id = 7;
    push_effect(&f->ctx.effects, BOB, "0190f5a0-0000-7000-8000-000000000001");
    push_effect(&f->ctx.effects, ALICE, "0190f5a0-0000-7000-8000-000000000002");
    int64_t before = time_monotonic_ns();
    assert_int_equal(writer_after_commit(&f->ctx, NULL, 0), 0);
    /* The invalidation was attempted ({nc} unreachable here), logged once, backed off. */
    assert_true(f->ctx.said_nc_failed);
    assert_true(f->ctx.nc_retry_ns >= before + (int64_t)WRITER_REDIS_RETRY_MS * 1000000);
    assert_true(f->ctx.backlog);
    assert_int_equal(f->ctx.effects.count, 0);
    assert_int_equal(f->ctx.journal_id, 0);

    /* Within the back-off the next journaled batch does not try (no timeout per batch). */
    int64_t retry = f->ctx.nc_retry_ns;
    f->ctx.journal_id = 8;
    push_effect(&f->ctx.effects, ALICE, "0190f5a0-0000-7000-8000-000000000003");
    assert_int_equal(writer_after_commit(&f->ctx, NULL, 0), 0);
    assert_true(f->ctx.nc_retry_ns == retry);
}

static void test_nothing_journaled_attempts_nothing(void **state) {
    fixture *f = *state;
    f->ctx.backlog = true;
    f->ctx.journal_id = 0; /* a batch with no effects (e.g. all skipped) */
    assert_int_equal(writer_after_commit(&f->ctx, NULL, 0), 0);
    assert_false(f->ctx.said_nc_failed);
    assert_true(f->ctx.nc_retry_ns == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users_distinct_and_sorted),
        cmocka_unit_test(test_empty_list_publishes_nothing),
        cmocka_unit_test_setup_teardown(test_journaled_batch_is_invalidated_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nothing_journaled_attempts_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
