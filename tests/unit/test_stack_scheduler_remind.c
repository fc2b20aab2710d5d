/*
 * test_stack_scheduler_remind.c: which reminders are due (workers/scheduler/
 * scheduler_pass.c) against real Postgres, inside one transaction that is rolled back
 * (scheduler_remind is a pass without its BEGIN/COMMIT; the running scheduler cannot see
 * this test's uncommitted tasks).
 *
 * Needs DATABASE_URL; without it the test FAILS. With a lead of one hour: an open task
 * due in 10 minutes is reminded; one due in 2 hours, one overdue, a done one, one without
 * a due date and one already reminded for its due date are not; one reminded for an
 * earlier due date is reminded again. Each reminder is a reminders row and one due_soon
 * notification in the outbox (key the owner, to the owner's address, the task's id, title
 * and due date, the pass's request id); a second pass reminds none of them again.
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
#include "workers/scheduler/scheduler_pass.h"

#define U "0190f5a0-0000-7000-8000-00000000a301"
#define T01 "0190f5a0-0000-7000-8000-0000000a3001"
#define T02 "0190f5a0-0000-7000-8000-0000000a3002"
#define T03 "0190f5a0-0000-7000-8000-0000000a3003"
#define T04 "0190f5a0-0000-7000-8000-0000000a3004"
#define T05 "0190f5a0-0000-7000-8000-0000000a3005"
#define T06 "0190f5a0-0000-7000-8000-0000000a3006"
#define T07 "0190f5a0-0000-7000-8000-0000000a3007"
#define REQ "0190f5a0-0000-7000-8000-00000000a3ee"

/* due_soon notifications of this test's user in the outbox (uncommitted: only ours). */
#define MINE "FROM outbox WHERE topic = 'notifications' AND key = '" U "'"

static int setup(void **state) {
    if (stack_pg_open_in_txn(state, "test_stack_scheduler_remind", 30000) != 0)
        return -1;
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
                           " ('" U "', 'remind-unit@example.test', 'x', 'Remind')");
    /* Due dates at whole milliseconds, as the API stores them. */
    static const char *const TASKS[] = {
        "'" T01 "', 'due soon', 'todo', date_trunc('ms', now() + interval '10 minutes'), NULL",
        "'" T02 "', 'later', 'todo', now() + interval '2 hours', NULL",
        "'" T03 "', 'overdue', 'in_progress', now() - interval '1 minute', NULL",
        "'" T04 "', 'done', 'done', now() + interval '5 minutes', now()",
        "'" T05 "', 'no date', 'todo', NULL, NULL",
        "'" T06 "', 'reminded', 'todo', now() + interval '20 minutes', NULL",
        "'" T07 "', 'moved', 'in_progress', date_trunc('ms', now() + interval '30 minutes'), NULL",
    };
    for (size_t i = 0; i < sizeof TASKS / sizeof TASKS[0]; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "INSERT INTO tasks (id, title, status, due_at, completed_at, owner_id)"
                 " VALUES (%s, '" U "')",
                 TASKS[i]);
        stack_pg_exec(f->conn, sql);
    }
    /* T06 was reminded for its due date, T07 for an earlier one. */
    stack_pg_exec(f->conn, "INSERT INTO reminders (task_id, due_at, user_id)"
                           " SELECT id, due_at, owner_id FROM tasks WHERE id = '" T06 "'"
                           " UNION ALL SELECT id, due_at - interval '1 day', owner_id FROM tasks"
                           " WHERE id = '" T07 "'");
    return 0;
}

static void due_tasks_are_reminded_once(void **state) {
    stack_pg *f = *state;
    char err[512] = "";
    int n = scheduler_remind(f->conn, 3600, REQ, err, sizeof err);
    if (n < 0)
        fail_msg("scheduler_remind: %s", err);
    assert_true(n >= 2); /* others' committed due tasks may be reminded too */
    stack_pg_expect(f->conn,
                    "SELECT string_agg(right(r.task_id::text, 2), ' ' ORDER BY r.task_id)"
                    " FROM reminders r JOIN tasks t ON t.id = r.task_id AND t.due_at = r.due_at"
                    " WHERE r.user_id = '" U "'",
                    "01 06 07");
    stack_pg_expect(f->conn, "SELECT count(*) FROM reminders WHERE user_id = '" U "'", "4");
    stack_pg_expect(f->conn,
                    "SELECT string_agg(right(payload->'data'->>'task_id', 2) || ':' ||"
                    " (payload->'data'->>'title'), ' ' ORDER BY payload->'data'->>'task_id') " MINE,
                    "01:due soon 07:moved");
    stack_pg_expect(f->conn,
                    "SELECT bool_and(o.payload->>'kind' = 'due_soon'"
                    " AND o.payload->>'to' = 'remind-unit@example.test'"
                    " AND o.payload->>'user_id' = '" U "'"
                    " AND o.headers->>'request_id' = '" REQ "'"
                    " AND (o.payload->'data'->>'due_at')::timestamptz = t.due_at)"
                    " FROM outbox o JOIN tasks t ON t.id = (o.payload->'data'->>'task_id')::uuid"
                    " WHERE o.topic = 'notifications' AND o.key = '" U "'",
                    "t");
    /* The next pass finds nothing of ours: no second notification. */
    n = scheduler_remind(f->conn, 3600, REQ, err, sizeof err);
    if (n < 0)
        fail_msg("scheduler_remind: %s", err);
    stack_pg_expect(f->conn, "SELECT count(*) " MINE, "2");
    stack_pg_expect(f->conn, "SELECT count(*) FROM reminders WHERE user_id = '" U "'", "4");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(due_tasks_are_reminded_once),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
