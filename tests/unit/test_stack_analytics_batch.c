/*
 * test_stack_analytics_batch.c: task events to daily aggregates (consumers/analytics/
 * analytics_batch.c) against real Postgres, inside one transaction that is rolled back.
 *
 * Needs DATABASE_URL; without it the test FAILS. Creations count on the UTC day of
 * data.created_at, completions on the UTC day of data.completed_at with completed_at -
 * created_at as seconds to complete; updates and deletions count nothing; a completion
 * without completed_at, a bad user id or a bad time is skipped; an event counts once,
 * whether repeated in its batch or replayed in a later one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumers/analytics/analytics_batch.h"
#include "tests/unit/kafka_records.h"
#include "tests/unit/stack_pg.h"

#define U "0190f5a0-0000-7000-8000-00000000a201"
#define EV(n) "0190f5a0-0000-7000-8000-0000000a20" n

#define EVENT(n, t, d)                                                                             \
    "{\"id\":\"" EV(n) "\",\"type\":\"taskbus.task." t "\",\"time\":\"2024-06-03T00:00:00Z\","     \
                       "\"data\":" d "}"
#define DATA(user, rest)                                                                           \
    "{\"id\":\"0190f5a0-0000-7000-8000-00000000a2f1\",\"user_id\":\"" user "\"" rest "}"

static int setup(void **state) {
    return stack_pg_open_in_txn(state, "test_stack_analytics_batch", 30000);
}

#define DAILY                                                                                      \
    "SELECT string_agg(day || '=' || created || '/' || completed, ' ' ORDER BY day)"               \
    " FROM analytics_daily WHERE user_id = '" U "'"

static void events_are_counted_once(void **state) {
    stack_pg *f = *state;
    const char *values[] = {
        /* 23:30 on June 1st in UTC, though the offset says June 2nd locally. */
        EVENT("01", "created", DATA(U, ",\"created_at\":\"2024-06-02T01:30:00+02:00\"")),
        EVENT("02", "created", DATA(U, ",\"created_at\":\"2024-06-02T00:10:00Z\"")),
        EVENT("03", "completed",
              DATA(U, ",\"created_at\":\"2024-06-01T10:00:00Z\","
                      "\"completed_at\":\"2024-06-02T10:00:00Z\"")),
        EVENT("03", "completed",
              DATA(U, ",\"created_at\":\"2024-06-01T10:00:00Z\","
                      "\"completed_at\":\"2024-06-02T10:00:00Z\"")),
        EVENT("04", "updated", DATA(U, ",\"created_at\":\"2024-06-01T10:00:00Z\"")),
        EVENT("05", "deleted", DATA(U, ",\"created_at\":\"2024-06-01T10:00:00Z\"")),
        EVENT("06", "completed", DATA(U, ",\"created_at\":\"2024-06-01T10:00:00Z\"")),
        EVENT("07", "created", DATA("nobody", ",\"created_at\":\"2024-06-01T10:00:00Z\"")),
        EVENT("08", "created", DATA(U, ",\"created_at\":\"2024-13-01T10:00:00Z\"")),
        EVENT("09", "created", DATA(U, "")),
    };
    size_t n = sizeof values / sizeof values[0];
    kafka_record records[16];
    for (size_t i = 0; i < n; i++)
        records[i] = kafka_record_of("task-events", (int64_t)i, U, values[i]);
    assert_int_equal(analytics_on_batch(NULL, f->conn, records, n), 0);
    stack_pg_expect(f->conn, DAILY, "2024-06-01=1/0 2024-06-02=1/1");
    stack_pg_expect(f->conn,
                    "SELECT string_agg(right(event_id::text, 2) || ':' || day || ':' ||"
                    " seconds_to_complete, ' ') FROM analytics_completions WHERE user_id = '" U "'",
                    "03:2024-06-02:86400");
    stack_pg_expect(f->conn,
                    "SELECT string_agg(right(event_id::text, 2), ' ' ORDER BY event_id)"
                    " FROM analytics_seen_events WHERE event_id::text LIKE '%-0000000a20__'",
                    "01 02 03");
    /* A replay, and a new event beside it: only the new one counts. */
    records[0] = kafka_record_of(
        "task-events", 20, U,
        EVENT("10", "created", DATA(U, ",\"created_at\":\"2024-06-02T12:00:00Z\"")));
    assert_int_equal(analytics_on_batch(NULL, f->conn, records, n), 0);
    stack_pg_expect(f->conn, DAILY, "2024-06-01=1/0 2024-06-02=2/1");
}

#define PROJ "0190f5a0-0000-7000-8000-00000000a2e1"
#define DATA_V2(rest)                                                                              \
    "{\"id\":\"0190f5a0-0000-7000-8000-00000000a2f2\",\"project_id\":\"" PROJ "\","                \
    "\"actor_id\":\"" U "\"" rest "}"
#define PROJECT_DAILY                                                                              \
    "SELECT string_agg(day || '=' || created || '/' || completed, ' ' ORDER BY day)"               \
    " FROM analytics_project_daily WHERE project_id = '" PROJ "'"

/* v2 events count for their project, never for the user who acted (their v1 twins do
 * that); the v2 types not counted, a v2 event without a project and a v2 type on the v1
 * topic count nowhere; a replay counts nothing. */
static void v2_events_count_for_their_project(void **state) {
    stack_pg *f = *state;
    const char *v2[] = {
        EVENT("31", "created.v2", DATA_V2(",\"created_at\":\"2024-07-01T10:00:00Z\"")),
        EVENT("32", "completed.v2",
              DATA_V2(",\"created_at\":\"2024-07-01T10:00:00Z\","
                      "\"completed_at\":\"2024-07-01T10:01:00Z\"")),
        EVENT("33", "updated.v2", DATA_V2(",\"created_at\":\"2024-07-01T10:00:00Z\"")),
        EVENT("34", "created.v2",
              "{\"id\":\"0190f5a0-0000-7000-8000-00000000a2f2\",\"actor_id\":\"" U "\","
              "\"created_at\":\"2024-07-01T10:00:00Z\"}"),
    };
    kafka_record records[8];
    size_t n = sizeof v2 / sizeof v2[0];
    for (size_t i = 0; i < n; i++)
        records[i] = kafka_record_of("task-events.v2", (int64_t)i, PROJ, v2[i]);
    records[n++] = kafka_record_of(
        "task-events", 30, U,
        EVENT("35", "created.v2", DATA_V2(",\"created_at\":\"2024-07-01T10:00:00Z\"")));
    assert_int_equal(analytics_on_batch(NULL, f->conn, records, n), 0);
    assert_int_equal(analytics_on_batch(NULL, f->conn, records, n), 0);
    stack_pg_expect(f->conn, PROJECT_DAILY, "2024-07-01=1/1");
    stack_pg_expect(f->conn,
                    "SELECT string_agg(right(event_id::text, 2) || ':' || day || ':' ||"
                    " seconds_to_complete, ' ') FROM analytics_project_completions"
                    " WHERE project_id = '" PROJ "'",
                    "32:2024-07-01:60");
    stack_pg_expect(f->conn,
                    "SELECT count(*) FROM analytics_daily WHERE day = '2024-07-01'"
                    " AND user_id = '" U "'",
                    "0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_are_counted_once),
        cmocka_unit_test(v2_events_count_for_their_project),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
