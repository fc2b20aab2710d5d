/*
 * test_stack_importer_inflight.c: the importer's ledger of produced batches
 * (workers/importer/importer_inflight.c) against real Postgres, inside one transaction
 * that is rolled back, with times the test chooses.
 *
 * Needs DATABASE_URL; without it the test FAILS. A batch leaves the ledger when its last
 * command has a `commands` row (applied or rejected), counting its apply latency; one
 * older than IMPORTER_INFLIGHT_FORGET_MS leaves only when forgetting is allowed; the
 * items in flight and the oldest entry follow; the ledger refuses an entry when full.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/stack_pg.h"
#include "workers/importer/importer_inflight.h"

#define U "0190f5a0-0000-7000-8000-00000000a601"
#define C(n) "0190f5a0-0000-7000-8000-0000000a60" n
#define S 1000000000LL

static int setup(void **state) {
    if (stack_pg_open_in_txn(state, "test_stack_importer_inflight", 30000) != 0)
        return -1;
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO commands (command_id, user_id, task_id, type, status)"
                           " VALUES ('" C("01") "', '" U "', '" U "', 'task.create', 'applied'),"
                                                " ('" C("02") "', '" U "', '" U
                                                              "', 'task.update', 'rejected')");
    return 0;
}

static void applied_batches_leave_the_ledger(void **state) {
    stack_pg *f = *state;
    importer_inflight *led = calloc(1, sizeof *led);
    assert_non_null(led);
    importer_inflight_clear(led);
    assert_int_equal(importer_inflight_oldest_ns(led), -1);
    const int64_t t0 = 1000 * S;
    assert_true(importer_inflight_add(led, C("09"), 5, t0));            /* old, never applied */
    assert_true(importer_inflight_add(led, C("01"), 10, t0 + 100 * S)); /* applied */
    assert_true(importer_inflight_add(led, C("02"), 20, t0 + 110 * S)); /* rejected */
    assert_true(importer_inflight_add(led, C("08"), 40, t0 + 115 * S)); /* recent */
    assert_int_equal(led->items, 75);
    assert_int_equal(importer_inflight_room(led), IMPORTER_INFLIGHT_MAX - 4);
    assert_int_equal(importer_inflight_oldest_ns(led), t0);

    char err[256] = "";
    const int64_t now = t0 + 120 * S; /* C09 is 120 s old: past the forget age */
    if (importer_inflight_check(led, f->conn, now, false, err, sizeof err) != 0)
        fail_msg("check: %s", err);
    assert_int_equal(led->n, 2);
    assert_int_equal(led->items, 45);
    assert_string_equal(led->batches[0].last_command_id, C("09"));
    assert_string_equal(led->batches[1].last_command_id, C("08"));
    assert_int_equal(led->seen_min_ns, 10 * S);
    assert_int_equal(led->seen_applied, 2);
    assert_int_equal(led->seen_latency_max_ns, 20 * S);
    assert_int_equal(led->seen_latency_sum_ns, 30 * S);
    assert_int_equal(importer_inflight_oldest_ns(led), t0);

    /* The writer keeps up: the old entry is forgotten, the recent one stays. */
    if (importer_inflight_check(led, f->conn, now, true, err, sizeof err) != 0)
        fail_msg("check: %s", err);
    assert_int_equal(led->n, 1);
    assert_int_equal(led->items, 40);
    assert_int_equal(led->seen_min_ns, -1);
    assert_string_equal(led->batches[0].last_command_id, C("08"));
    assert_int_equal(importer_inflight_oldest_ns(led), t0 + 115 * S);

    /* Full: nothing more is recorded. */
    importer_inflight_clear(led);
    for (int i = 0; i < IMPORTER_INFLIGHT_MAX; i++)
        assert_true(importer_inflight_add(led, C("07"), 1, t0 + i));
    assert_int_equal(importer_inflight_room(led), 0);
    assert_false(importer_inflight_add(led, C("07"), 1, t0));
    assert_int_equal(led->items, IMPORTER_INFLIGHT_MAX);
    free(led);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(applied_batches_leave_the_ledger),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
