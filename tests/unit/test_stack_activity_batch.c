/*
 * test_stack_activity_batch.c: task events to activity rows (consumers/activity/
 * activity_batch.c) against real Postgres, inside one transaction that is rolled back.
 *
 * Needs DATABASE_URL; without it the test FAILS. One batch holds every kind of task
 * event and the records a consumer must skip (a deletion with a title, another event
 * with none, a title over 1024 bytes, a bad user id, a bad time, data that is not an
 * object, a type that is not a task's, no value, a duplicate): exactly the valid events
 * become rows, each row is its event's id, user, task, type, title, time and data, and
 * the batch and a replay of it store each event once. A v2 event (task-events.v2) becomes
 * a row of its project's log with who acted, and only there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumers/activity/activity_batch.h"
#include "tests/unit/kafka_records.h"
#include "tests/unit/stack_pg.h"

#define U "0190f5a0-0000-7000-8000-00000000a101"
#define TASK "0190f5a0-0000-7000-8000-00000000a1f1"
#define EV(n) "0190f5a0-0000-7000-8000-0000000a10" n

/* A task event of type t (suffix of taskbus.task.) with id EV(n) and data d. */
#define EVENT(n, t, time, d)                                                                       \
    "{\"specversion\":\"1.0\",\"id\":\"" EV(n) "\",\"source\":\"/taskbus/writer\",\"type\":"       \
                                               "\"taskbus.task." t "\",\"time\":\"" time           \
                                               "\",\"subject\":\"" TASK "\",\"data\":" d "}"
#define DATA(title) "{\"id\":\"" TASK "\",\"user_id\":\"" U "\"" title "}"

static int setup(void **state) {
    return stack_pg_open_in_txn(state, "test_stack_activity_batch", 30000);
}

static void batch_becomes_rows(void **state) {
    stack_pg *f = *state;
    char long_title[1100 + 40];
    snprintf(long_title, sizeof long_title, ",\"title\":\"%01100d\"", 0);
    char too_long[2048];
    snprintf(too_long, sizeof too_long,
             "{\"id\":\"" EV("10") "\",\"type\":\"taskbus.task.updated\","
                                   "\"time\":\"2024-06-01T10:00:05Z\",\"data\":{\"id\":\"" TASK
                                   "\",\"user_id\":\"" U "\"%s}}",
             long_title);
    const char *values[] = {
        EVENT("01", "created", "2024-06-01T10:00:00.123Z",
              DATA(",\"title\":\"Write, \\\"tests\\\"\"")),
        EVENT("02", "updated", "2024-06-01T10:00:01Z",
              DATA(",\"title\":\"Renamed\",\"status\":\"in_progress\"")),
        EVENT("03", "completed", "2024-06-01T10:00:02Z", DATA(",\"title\":\"Renamed\"")),
        EVENT("04", "deleted", "2024-06-01T10:00:03+02:00", DATA("")),
        EVENT("05", "deleted", "2024-06-01T10:00:04Z", DATA(",\"title\":\"not for a deletion\"")),
        EVENT("06", "updated", "2024-06-01T10:00:04Z", DATA("")),
        too_long,
        EVENT("07", "created", "2024-06-01T10:00:04Z",
              "{\"id\":\"" TASK "\",\"user_id\":\"not-a-uuid\",\"title\":\"x\"}"),
        EVENT("08", "created", "yesterday", DATA(",\"title\":\"x\"")),
        EVENT("09", "created", "2024-06-01T10:00:04Z", "[1,2]"),
        "{\"id\":\"" EV("11") "\",\"type\":\"taskbus.report.requested\",\"time\":"
                              "\"2024-06-01T10:00:04Z\",\"data\":" DATA(",\"title\":\"x\"") "}",
        NULL, /* a record without a value */
        "{not json",
        EVENT("01", "created", "2024-06-01T10:00:00.123Z",
              DATA(",\"title\":\"Write, \\\"tests\\\"\"")),
    };
    size_t n = sizeof values / sizeof values[0];
    kafka_record records[16];
    for (size_t i = 0; i < n; i++)
        records[i] = kafka_record_of("task-events", (int64_t)i, U, values[i]);
    assert_int_equal(activity_on_batch(NULL, f->conn, records, n), 0);
    stack_pg_expect(f->conn,
                    "SELECT string_agg(right(event_id::text, 2) || ':' || type || ':' ||"
                    " coalesce(title, '<null>'), ' ' ORDER BY event_id) FROM activity"
                    " WHERE user_id = '" U "'",
                    "01:taskbus.task.created:Write, \"tests\" 02:taskbus.task.updated:Renamed"
                    " 03:taskbus.task.completed:Renamed 04:taskbus.task.deleted:<null>");
    stack_pg_expect(
        f->conn, "SELECT count(*) FROM activity WHERE user_id = '" U "' AND task_id = '" TASK "'",
        "4");
    /* occurred_at is the event's time (offsets kept), data the event's data. */
    stack_pg_expect(f->conn,
                    "SELECT occurred_at = '2024-06-01T08:00:03Z' FROM activity"
                    " WHERE event_id = '" EV("04") "'",
                    "t");
    stack_pg_expect(f->conn,
                    "SELECT occurred_at = '2024-06-01T10:00:00.123Z' FROM activity"
                    " WHERE event_id = '" EV("01") "'",
                    "t");
    stack_pg_expect(
        f->conn,
        "SELECT data = '" DATA(
            ",\"title\":\"Renamed\",\"status\":\"in_progress\"") "'::jsonb FROM activity WHERE "
                                                                 "event_id = '" EV("02") "'",
        "t");
    /* A replay (the relay sent the batch again) adds nothing. */
    assert_int_equal(activity_on_batch(NULL, f->conn, records, n), 0);
    stack_pg_expect(f->conn, "SELECT count(*) FROM activity WHERE user_id = '" U "'", "4");
}

#define PROJ "0190f5a0-0000-7000-8000-00000000a1e1"
#define ACTOR "0190f5a0-0000-7000-8000-00000000a1e2"
/* The data of a v2 event: the task's project and who acted. */
#define DATA_V2(title)                                                                             \
    "{\"id\":\"" TASK "\",\"project_id\":\"" PROJ "\",\"actor_id\":\"" ACTOR "\"" title "}"

/* A v2 event (task-events.v2) goes to the project's log with who acted, never to a user's;
 * its v1 twin in the same batch goes to the user's log only; a v2 event without a project
 * or an actor, a v1 type on the v2 topic and a v2 type on the v1 topic are skipped. */
static void v2_events_become_project_rows(void **state) {
    stack_pg *f = *state;
    const char *v2[] = {
        EVENT("21", "created.v2", "2024-06-02T10:00:00Z", DATA_V2(",\"title\":\"Team\"")),
        EVENT("22", "completed.v2", "2024-06-02T10:00:01Z", DATA_V2(",\"title\":\"Team\"")),
        EVENT("23", "deleted.v2", "2024-06-02T10:00:02Z", DATA_V2("")),
        EVENT("24", "created.v2", "2024-06-02T10:00:03Z",
              "{\"id\":\"" TASK "\",\"actor_id\":\"" ACTOR "\",\"title\":\"no project\"}"),
        EVENT("25", "created.v2", "2024-06-02T10:00:03Z",
              "{\"id\":\"" TASK "\",\"project_id\":\"" PROJ "\",\"title\":\"no actor\"}"),
        EVENT("26", "created", "2024-06-02T10:00:03Z", DATA_V2(",\"title\":\"v1 type\"")),
    };
    kafka_record records[8];
    size_t n = sizeof v2 / sizeof v2[0];
    for (size_t i = 0; i < n; i++)
        records[i] = kafka_record_of("task-events.v2", (int64_t)i, PROJ, v2[i]);
    records[n++] = kafka_record_of(
        "task-events", 0, PROJ,
        EVENT("27", "created", "2024-06-02T10:00:00Z", DATA(",\"title\":\"Team\"")));
    records[n++] = kafka_record_of(
        "task-events", 1, PROJ,
        EVENT("28", "created.v2", "2024-06-02T10:00:00Z", DATA_V2(",\"title\":\"v2 type\"")));
    assert_int_equal(activity_on_batch(NULL, f->conn, records, n), 0);
    stack_pg_expect(f->conn,
                    "SELECT string_agg(right(event_id::text, 2) || ':' || type || ':' ||"
                    " coalesce(title, '<null>') || ':' || (actor_id = '" ACTOR "')::text || ':'"
                    " || (task_id = '" TASK "')::text, ' ' ORDER BY event_id)"
                    " FROM project_activity WHERE project_id = '" PROJ "'",
                    "21:taskbus.task.created.v2:Team:true:true"
                    " 22:taskbus.task.completed.v2:Team:true:true"
                    " 23:taskbus.task.deleted.v2:<null>:true:true");
    stack_pg_expect(f->conn,
                    "SELECT string_agg(right(event_id::text, 2), ' ' ORDER BY event_id)"
                    " FROM activity WHERE event_id::text LIKE '%a1%'"
                    " AND occurred_at >= '2024-06-02'",
                    "27");
    stack_pg_expect(f->conn,
                    "SELECT data = '" DATA_V2("") "'::jsonb FROM project_activity"
                                                  " WHERE event_id = '" EV("23") "'",
                    "t");
    assert_int_equal(activity_on_batch(NULL, f->conn, records, n), 0);
    stack_pg_expect(f->conn, "SELECT count(*) FROM project_activity WHERE project_id = '" PROJ "'",
                    "3");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_becomes_rows),
        cmocka_unit_test(v2_events_become_project_rows),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
