/*
 * test_stack_admin_reset_consumer.c: what `taskbus-admin reset-consumer` deletes
 * (tools/admin/admin_reset_consumer.c, admin_reset_forget) against real Postgres, inside
 * one transaction that is rolled back, so the running consumers lose nothing.
 *
 * Needs DATABASE_URL; without it the test FAILS. Resetting analytics empties its three
 * tables and forgets its group's stored offsets, counting both, and leaves the activity
 * log and other groups' offsets alone; resetting activity then empties the activity logs
 * (users' and projects').
 * A partial reset (--accept-partial, admin_reset_start_at) stores each task-events
 * partition's low watermark as the group's next offset, in the same transaction, and
 * admin_stream_start_partial says whether any partition lost records.
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
#include "tools/admin/admin_reset_consumer.h"

#define U "0190f5a0-0000-7000-8000-00000000a501"
#define EV "0190f5a0-0000-7000-8000-00000000a5e1"

static int setup(void **state) {
    if (stack_pg_open_in_txn(state, "test_stack_admin_reset_consumer", 30000) != 0)
        return -1;
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO analytics_daily (user_id, day, created, completed)"
                           " VALUES ('" U "', '2024-06-01', 2, 1)");
    stack_pg_exec(f->conn,
                  "INSERT INTO analytics_completions VALUES ('" EV "', '" U "', '2024-06-01', 10)");
    stack_pg_exec(f->conn, "INSERT INTO analytics_seen_events VALUES ('" EV "')");
    stack_pg_exec(f->conn, "INSERT INTO activity (event_id, user_id, task_id, type, title,"
                           " occurred_at, data) VALUES ('" EV "', '" U "', '" U
                           "', 'taskbus.task.created', 't', now(), '{}')");
    stack_pg_exec(f->conn,
                  "INSERT INTO analytics_project_daily VALUES ('" U "', '2024-06-01', 1, 1)");
    stack_pg_exec(f->conn, "INSERT INTO analytics_project_completions VALUES ('" EV "', '" U
                           "', '2024-06-01', 10)");
    stack_pg_exec(f->conn, "INSERT INTO project_activity VALUES ('" EV "', '" U "', '" U "', '" U
                           "', 'taskbus.task.created.v2', 't', now(), '{}')");
    stack_pg_exec(f->conn, "INSERT INTO kafka_consumer_offsets (group_id, topic, partition,"
                           " next_offset) VALUES"
                           " ('taskbus-analytics', 'reset-unit-topic', 0, 5),"
                           " ('taskbus-activity', 'reset-unit-topic', 0, 7),"
                           " ('reset-unit-other', 'reset-unit-topic', 0, 9)"
                           " ON CONFLICT DO NOTHING");
    return 0;
}

static void reset_forgets_only_its_consumer(void **state) {
    stack_pg *f = *state;
    char err[512] = "";
    long long rows = -1, offsets = -1;
    const admin_reset_target *analytics = admin_reset_target_find("analytics");
    assert_non_null(analytics);
    if (admin_reset_forget(f->conn, analytics, &rows, &offsets, err, sizeof err) != 0)
        fail_msg("admin_reset_forget: %s", err);
    assert_true(rows >= 5);
    assert_true(offsets >= 1);
    stack_pg_expect(f->conn,
                    "SELECT (SELECT count(*) FROM analytics_daily) + (SELECT count(*) FROM"
                    " analytics_completions) + (SELECT count(*) FROM analytics_seen_events)"
                    " + (SELECT count(*) FROM analytics_project_daily)"
                    " + (SELECT count(*) FROM analytics_project_completions)",
                    "0");
    stack_pg_expect(f->conn, "SELECT count(*) FROM project_activity WHERE event_id = '" EV "'",
                    "1");
    stack_pg_expect(
        f->conn, "SELECT count(*) FROM kafka_consumer_offsets WHERE group_id = 'taskbus-analytics'",
        "0");
    stack_pg_expect(f->conn, "SELECT count(*) FROM activity WHERE event_id = '" EV "'", "1");
    stack_pg_expect(f->conn,
                    "SELECT string_agg(group_id, ' ' ORDER BY group_id) FROM kafka_consumer_offsets"
                    " WHERE topic = 'reset-unit-topic'",
                    "reset-unit-other taskbus-activity");

    const admin_reset_target *activity = admin_reset_target_find("activity");
    assert_non_null(activity);
    if (admin_reset_forget(f->conn, activity, &rows, &offsets, err, sizeof err) != 0)
        fail_msg("admin_reset_forget: %s", err);
    assert_true(rows >= 2);
    assert_true(offsets >= 1);
    stack_pg_expect(f->conn, "SELECT count(*) FROM activity", "0");
    stack_pg_expect(f->conn, "SELECT count(*) FROM project_activity", "0");
    stack_pg_expect(f->conn,
                    "SELECT string_agg(group_id, ' ') FROM kafka_consumer_offsets"
                    " WHERE topic = 'reset-unit-topic'",
                    "reset-unit-other");
}

static void partial_reset_starts_at_the_low_watermarks(void **state) {
    stack_pg *f = *state;
    char err[512] = "";
    long long rows = -1, offsets = -1;
    const admin_reset_target *analytics = admin_reset_target_find("analytics");
    assert_non_null(analytics);
    int64_t low[3] = {0, 42, 7};
    int64_t high[3] = {5, 90, 7};
    admin_stream_start whole = {
        .topic = "task-events", .partitions = 3, .low = (int64_t[3]){0, 0, 0}, .high = high};
    admin_stream_start lost = {.topic = "task-events", .partitions = 3, .low = low, .high = high};
    admin_stream_start lost_v2 = {
        .topic = "task-events.v2", .partitions = 2, .low = (int64_t[2]){3, 0}, .high = high};
    assert_false(admin_stream_start_partial(&whole));
    assert_true(admin_stream_start_partial(&lost));
    if (admin_reset_forget(f->conn, analytics, &rows, &offsets, err, sizeof err) != 0)
        fail_msg("admin_reset_forget: %s", err);
    if (admin_reset_start_at(f->conn, analytics, &lost, err, sizeof err) != 0 ||
        admin_reset_start_at(f->conn, analytics, &lost_v2, err, sizeof err) != 0)
        fail_msg("admin_reset_start_at: %s", err);
    stack_pg_expect(f->conn,
                    "SELECT string_agg(topic || '/' || partition || ':' || next_offset, ' '"
                    " ORDER BY topic, partition)"
                    " FROM kafka_consumer_offsets WHERE group_id = 'taskbus-analytics'",
                    "task-events/0:0 task-events/1:42 task-events/2:7"
                    " task-events.v2/0:3 task-events.v2/1:0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reset_forgets_only_its_consumer),
        cmocka_unit_test(partial_reset_starts_at_the_low_watermarks),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
