/*
 * test_stack_webhooks_ingest.c: task events to webhook deliveries (workers/webhooks/
 * webhooks_ingest.c) against real Postgres, inside one transaction that is rolled back
 * (the running sender cannot see this test's uncommitted webhooks).
 *
 * Needs DATABASE_URL; without it the test FAILS. An event gets one pending delivery per
 * enabled webhook of its user (data.user_id, whatever the Kafka key: a team task's event
 * is keyed by its project) whose types match (the exact type or
 * taskbus.task.*) and that existed when the event happened: not a disabled one, not one
 * registered after the event, not another user's. Records that are not task CloudEvents
 * (another type, a bad time, a data.user_id that is not a user id, no value) are skipped; the
 * delivery's payload is the record as sent; a repeated event, in its batch or a later
 * one, adds nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/kafka_records.h"
#include "tests/unit/stack_pg.h"
#include "workers/webhooks/webhooks_ingest.h"

#define U "0190f5a0-0000-7000-8000-00000000a401"
#define O "0190f5a0-0000-7000-8000-00000000a402"
#define W(n) "0190f5a0-0000-7000-8000-00000000a4b" n
#define EV(n) "0190f5a0-0000-7000-8000-0000000a40" n

#define TEAM "0190f5a0-0000-7000-8000-00000000a4ff"
#define EVENT_BY(n, type, time, user)                                                              \
    "{\"specversion\":\"1.0\",\"id\":\"" EV(n) "\",\"type\":\"" type "\",\"time\":\"" time         \
                                               "\",\"data\":{\"title\":\"t" n                      \
                                               "\",\"user_id\":\"" user "\"}}"
#define EVENT(n, type, time) EVENT_BY(n, type, time, U)
#define EVENT_O(n, type, time) EVENT_BY(n, type, time, O)

static int setup(void **state) {
    if (stack_pg_open_in_txn(state, "test_stack_webhooks_ingest", 30000) != 0)
        return -1;
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
                           " ('" U "', 'hooks-unit-1@example.test', 'x', 'Hooks'),"
                           " ('" O "', 'hooks-unit-2@example.test', 'x', 'Hooks 2')");
    stack_pg_exec(
        f->conn,
        "INSERT INTO webhooks (id, user_id, url, event_types, secret, enabled, created_at,"
        " disabled_at, disabled_reason) VALUES"
        " ('" W("1") "', '" U "', 'https://a.example/h', '{taskbus.task.*}', 's', true, "
                     "'2024-01-01', NULL, NULL),"
                     " ('" W("2") "', '" U "', 'https://b.example/h', '{taskbus.task.completed}', "
                                  "'s', true, '2024-01-01', NULL, NULL),"
                                  " ('" W(
                                      "3") "', '" U "', 'https://c.example/h', '{taskbus.task.*}', "
                                           "'s', false, '2024-01-01', now(), 'test'),"
                                           " ('" W(
                                               "4") "', '" U
                                                    "', 'https://d.example/h', '{taskbus.task.*}', "
                                                    "'s', true, '2030-01-01', NULL, NULL),"
                                                    " ('" W("5") "', '" O
                                                                 "', 'https://e.example/h', "
                                                                 "'{taskbus.task.created,taskbus."
                                                                 "task.deleted}', 's', true,"
                                                                 "  '2024-01-01', NULL, NULL)");
    return 0;
}

#define DELIVERIES                                                                                 \
    "SELECT string_agg(right(webhook_id::text, 1) || ':' || right(event_id::text, 2) || ':' ||"    \
    " event_type || ':' || status || ':' || attempts, ' ' ORDER BY webhook_id, event_id)"          \
    " FROM webhook_deliveries WHERE webhook_id::text LIKE '%-00000000a4b_'"

static void events_become_deliveries(void **state) {
    stack_pg *f = *state;
    kafka_record records[] = {
        kafka_record_of("task-events", 0, U,
                        EVENT("01", "taskbus.task.created", "2024-06-01T10:00:00Z")),
        kafka_record_of("task-events", 1, U,
                        EVENT("02", "taskbus.task.completed", "2024-06-01T11:00:00Z")),
        kafka_record_of("task-events", 2, U,
                        EVENT("03", "taskbus.report.requested", "2024-06-01T11:00:00Z")),
        kafka_record_of("task-events", 3, U, EVENT("04", "taskbus.task.updated", "June 1st")),
        kafka_record_of("task-events", 4, TEAM, /* a team task's: keyed by its project */
                        EVENT_O("05", "taskbus.task.created", "2024-06-01T12:00:00Z")),
        kafka_record_of("task-events", 5, O,
                        EVENT_O("06", "taskbus.task.updated", "2024-06-01T12:00:00Z")),
        kafka_record_of(
            "task-events", 6, U,
            EVENT_BY("07", "taskbus.task.created", "2024-06-01T12:00:00Z", "not-a-user")),
        kafka_record_of("task-events", 7, U, NULL),
        kafka_record_of("task-events", 8, U,
                        EVENT("02", "taskbus.task.completed", "2024-06-01T11:00:00Z")),
    };
    size_t n = sizeof records / sizeof records[0];
    assert_int_equal(webhooks_on_batch(NULL, f->conn, records, n), 0);
    stack_pg_expect(f->conn, DELIVERIES,
                    "1:01:taskbus.task.created:pending:0 1:02:taskbus.task.completed:pending:0"
                    " 2:02:taskbus.task.completed:pending:0 5:05:taskbus.task.created:pending:0");
    stack_pg_expect(
        f->conn,
        "SELECT payload = '" EVENT("02", "taskbus.task.completed",
                                   "2024-06-01T11:00:00Z") "'::jsonb FROM webhook_deliveries WHERE "
                                                           "webhook_id = '" W("2") "'",
        "t");
    /* Redelivered by Kafka: nothing new. */
    assert_int_equal(webhooks_on_batch(NULL, f->conn, records, 2), 0);
    stack_pg_expect(f->conn,
                    "SELECT count(*) FROM webhook_deliveries WHERE webhook_id::text LIKE"
                    " '%-00000000a4b_'",
                    "4");
    /* A batch with nothing to deliver succeeds and adds nothing. */
    assert_int_equal(webhooks_on_batch(NULL, f->conn, &records[2], 2), 0);
    assert_int_equal(webhooks_on_batch(NULL, f->conn, records, 0), 0);
    stack_pg_expect(f->conn,
                    "SELECT count(*) FROM webhook_deliveries WHERE webhook_id::text LIKE"
                    " '%-00000000a4b_'",
                    "4");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_become_deliveries),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
