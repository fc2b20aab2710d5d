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

#define PROJ "0190f5a0-0000-7000-8000-00000000a4e1"
#define PROJ2 "0190f5a0-0000-7000-8000-00000000a4e2"
#define STRANGER "0190f5a0-0000-7000-8000-00000000a403"
/* A v2 event of project p by actor a. */
#define EVENT_V2(n, type, time, p, a)                                                              \
    "{\"specversion\":\"1.0\",\"id\":\"" EV(n) "\",\"type\":\"" type "\",\"time\":\"" time         \
                                               "\",\"data\":{\"title\":\"t" n                      \
                                               "\",\"project_id\":\"" p "\",\"actor_id\":\"" a     \
                                               "\"}}"
#define PROJECT_HOOK(n, user, types)                                                               \
    "INSERT INTO webhooks (id, user_id, url, event_types, secret, created_at, project_id)"         \
    " VALUES ('" W(n) "', '" user "', 'https://p.example/h', '" types                              \
                      "', 's', '2024-01-01', '" PROJ "')"

/* Inserts a project webhook that its trigger must refuse with SQLSTATE 42501 and why. */
static void expect_refused(pg_conn *c, const char *sql, const char *why) {
    stack_pg_exec(c, "SAVEPOINT refused");
    PGresult *res = pg_exec_sql(c, sql);
    const char *state = res != NULL ? pg_result_sqlstate(res) : "";
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    bool ok =
        !pg_result_ok(res) && strcmp(state, "42501") == 0 && msg != NULL && strcmp(msg, why) == 0;
    char got[256];
    snprintf(got, sizeof got, "%s %s", state, msg != NULL ? msg : "(none)");
    PQclear(res);
    stack_pg_exec(c, "ROLLBACK TO SAVEPOINT refused");
    if (!ok)
        fail_msg("%s: got %s, want 42501 %s", sql, got, why);
}

/* A project's webhook: only an owner registers one; it is sent the v2 events of its
 * project whoever acted (never v1 events, never another project's), its user's own
 * webhooks are not sent v2 events, nor is anyone a v2 type on the v1 topic; when its user
 * stops being an owner it is gone, with its pending deliveries. */
static void project_webhooks_take_their_projects_v2_events(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
                           " ('" STRANGER "', 'hooks-unit-3@example.test', 'x', 'Hooks 3')");
    stack_pg_exec(f->conn, "INSERT INTO projects (id, name) VALUES ('" PROJ "', 'Hooks team'),"
                           " ('" PROJ2 "', 'Other team')");
    stack_pg_exec(f->conn, "INSERT INTO project_members (project_id, user_id, role) VALUES"
                           " ('" PROJ "', '" U "', 'owner'), ('" PROJ "', '" O "', 'editor'),"
                           " ('" PROJ2 "', '" O "', 'owner')");
    stack_pg_exec(f->conn, PROJECT_HOOK("6", U, "{taskbus.task.*.v2}"));
    stack_pg_exec(f->conn, PROJECT_HOOK("7", U, "{taskbus.task.completed.v2}"));
    expect_refused(f->conn, PROJECT_HOOK("8", O, "{taskbus.task.*.v2}"), "forbidden");
    expect_refused(f->conn, PROJECT_HOOK("8", STRANGER, "{taskbus.task.*.v2}"), "not_found");
    kafka_record records[] = {
        kafka_record_of("task-events.v2", 0, PROJ,
                        EVENT_V2("41", "taskbus.task.created.v2", "2024-06-02T10:00:00Z", PROJ, O)),
        kafka_record_of(
            "task-events.v2", 1, PROJ,
            EVENT_V2("42", "taskbus.task.completed.v2", "2024-06-02T10:00:01Z", PROJ, U)),
        kafka_record_of(
            "task-events.v2", 2, PROJ2,
            EVENT_V2("43", "taskbus.task.created.v2", "2024-06-02T10:00:02Z", PROJ2, U)),
        kafka_record_of(
            "task-events.v2", 3, PROJ,
            EVENT_V2("44", "taskbus.task.created.v2", "2024-06-02T10:00:03Z", "not-a-project", U)),
        kafka_record_of("task-events", 9, PROJ,
                        EVENT_O("45", "taskbus.task.created", "2024-06-02T10:00:00Z")),
        /* a v2 type on the v1 topic is no event of it */
        kafka_record_of("task-events", 10, PROJ,
                        EVENT_V2("46", "taskbus.task.created.v2", "2024-06-02T10:00:04Z", PROJ, U)),
    };
    size_t n = sizeof records / sizeof records[0];
    assert_int_equal(webhooks_on_batch(NULL, f->conn, records, n), 0);
    stack_pg_expect(f->conn, DELIVERIES " AND event_id::text LIKE '%a404_'",
                    "5:45:taskbus.task.created:pending:0 6:41:taskbus.task.created.v2:pending:0"
                    " 6:42:taskbus.task.completed.v2:pending:0"
                    " 7:42:taskbus.task.completed.v2:pending:0");
    /* Demoted: the project's webhooks of U and their deliveries are gone; O's own stays. */
    stack_pg_exec(f->conn, "UPDATE project_members SET role = 'editor'"
                           " WHERE project_id = '" PROJ "' AND user_id = '" U "'");
    stack_pg_expect(f->conn, DELIVERIES " AND event_id::text LIKE '%a404_'",
                    "5:45:taskbus.task.created:pending:0");
    stack_pg_expect(f->conn, "SELECT count(*) FROM webhooks WHERE project_id = '" PROJ "'", "0");
    /* An owner again registers anew; removed, it is gone again. */
    stack_pg_exec(f->conn, "UPDATE project_members SET role = 'owner'"
                           " WHERE project_id = '" PROJ "' AND user_id = '" U "'");
    stack_pg_exec(f->conn, PROJECT_HOOK("6", U, "{taskbus.task.*.v2}"));
    stack_pg_exec(f->conn, "DELETE FROM project_members"
                           " WHERE project_id = '" PROJ "' AND user_id = '" U "'");
    stack_pg_expect(f->conn, "SELECT count(*) FROM webhooks WHERE project_id = '" PROJ "'", "0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_become_deliveries),
        cmocka_unit_test(project_webhooks_take_their_projects_v2_events),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
