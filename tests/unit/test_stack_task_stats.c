/*
 * test_stack_task_stats.c: the task counters of 0011_task_counts.sql and the stats query
 * of api/task_stats.c against real Postgres.
 *
 * Needs DATABASE_URL; without it the test FAILS. Applies the repository's migrations
 * (idempotent), then works inside one transaction that is rolled back, so it leaves
 * nothing behind (now() is the transaction's start, fixed for the whole test). After
 * every kind of write (set-based and one-row inserts, updates of each counted column and
 * of none, deletes, a user's deletion, TRUNCATE-free) the counters equal a GROUP BY over
 * tasks, and task_stats_query equals the plain count(*) the API ran before the counters,
 * including the time boundaries: due exactly at the start of today's bin, in today's
 * bin before and after now(), infinities; completed exactly 7 days ago, a microsecond
 * before, at the next bin boundary, in the future. task_counts_rebuild changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/task_stats.h"
#include "shared/migrate.h"
#include "shared/pg_pool.h"
#include "tests/unit/stack_pg.h"

#define UID "0190f5a0-0000-7000-8000-00000000c001"
#define OTHER "0190f5a0-0000-7000-8000-00000000c002"

static int setup(void **state) {
    if (stack_pg_open(state, "test_stack_task_stats", 60000) != 0)
        return -1;
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "BEGIN");
    stack_pg_exec(f->conn, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
                           " ('" UID "', 'stats-test-1@example.test', 'x', 'Stats'),"
                           " ('" OTHER "', 'stats-test-2@example.test', 'x', 'Stats 2')");
    return 0;
}

/* The single text value of sql. */
static char *scalar(stack_pg *f, const char *sql) {
    PGresult *res = pg_exec_sql(f->conn, sql);
    if (!pg_result_ok(res) || PQntuples(res) != 1)
        fail_msg("%s: %s", sql, res != NULL ? PQresultErrorMessage(res) : "no result");
    char *v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    assert_non_null(v);
    return v;
}

/* The stats as the API computed them before the counters: one count(*) per figure. */
static json_t *stats_by_counting(stack_pg *f, const char *uid) {
    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "SELECT json_build_object("
        " 'by_status', json_build_object('todo', count(*) FILTER (WHERE status = 'todo'),"
        "   'in_progress', count(*) FILTER (WHERE status = 'in_progress'),"
        "   'done', count(*) FILTER (WHERE status = 'done')),"
        " 'by_priority', json_build_object('low', count(*) FILTER (WHERE priority = 'low'),"
        "   'medium', count(*) FILTER (WHERE priority = 'medium'),"
        "   'high', count(*) FILTER (WHERE priority = 'high'),"
        "   'urgent', count(*) FILTER (WHERE priority = 'urgent')),"
        " 'overdue', count(*) FILTER (WHERE due_at < now() AND status <> 'done'),"
        " 'done_last_7_days', count(*) FILTER (WHERE completed_at >= now() - interval '7 days'),"
        " 'total', count(*)) FROM tasks WHERE owner_id = '%s'",
        uid);
    char *text = scalar(f, sql);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    free(text);
    assert_non_null(j);
    return j;
}

/* The counters equal a recount, and the stats query equals counting, for both users. */
static void assert_exact(stack_pg *f, const char *when) {
    char *diff = scalar(f, "SELECT count(*) FROM ("
                           " (SELECT owner_id, counter, day, n FROM task_counts"
                           "   WHERE owner_id IN ('" UID "', '" OTHER "')"
                           "  EXCEPT SELECT t.owner_id, k.counter, k.day, count(*) FROM tasks t,"
                           "   task_count_keys(t.status, t.priority, t.due_at, t.completed_at) k"
                           "   WHERE t.owner_id IN ('" UID "', '" OTHER "') GROUP BY 1, 2, 3)"
                           " UNION ALL"
                           " (SELECT t.owner_id, k.counter, k.day, count(*) FROM tasks t,"
                           "   task_count_keys(t.status, t.priority, t.due_at, t.completed_at) k"
                           "   WHERE t.owner_id IN ('" UID "', '" OTHER "') GROUP BY 1, 2, 3"
                           "  EXCEPT SELECT owner_id, counter, day, n FROM task_counts"
                           "   WHERE owner_id IN ('" UID "', '" OTHER "'))) d");
    if (strcmp(diff, "0") != 0)
        fail_msg("%s: %s counters differ from a recount", when, diff);
    free(diff);
    char *zeros = scalar(f, "SELECT count(*) FROM task_counts WHERE n <= 0");
    assert_string_equal(zeros, "0");
    free(zeros);
    static const char *const USERS[] = {UID, OTHER};
    for (int i = 0; i < 2; i++) {
        json_t *got = NULL;
        char err[256];
        assert_int_equal(task_stats_query(f->conn, USERS[i], &got, err, sizeof err), TASK_STATS_OK);
        json_t *want = stats_by_counting(f, USERS[i]);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
            fail_msg("%s: stats %s, counting says %s", when, g, w);
        }
        json_decref(got);
        json_decref(want);
    }
}

static void counters_follow_every_write(void **state) {
    stack_pg *f = *state;
    assert_exact(f, "no tasks");
    /* A set-based insert as the writer's batch does, around every time boundary. */
    stack_pg_exec(
        f->conn,
        "INSERT INTO tasks (id, owner_id, title, status, priority, due_at, completed_at)"
        " SELECT gen_random_uuid(), '" UID "', 't' || i,"
        "  (ARRAY['todo','in_progress','done'])[1 + i % 3],"
        "  (ARRAY['low','medium','high','urgent'])[1 + i % 4],"
        "  (ARRAY[NULL, task_count_day(now()), task_count_day(now()) - interval '1 microsecond',"
        "         now() - interval '1 microsecond', now(), now() + interval '1 microsecond',"
        "         task_count_day(now()) + interval '24 hours' - interval '1 microsecond',"
        "         now() - interval '400 days', now() + interval '30 days', '-infinity',"
        "         'infinity'])[1 + i % 11],"
        "  CASE WHEN i % 3 = 2 THEN (ARRAY[now(), now() - interval '7 days',"
        "         now() - interval '7 days' - interval '1 microsecond',"
        "         task_count_day(now() - interval '7 days') + interval '24 hours',"
        "         task_count_day(now() - interval '7 days') + interval '24 hours'"
        "           - interval '1 microsecond',"
        "         task_count_day(now() - interval '7 days'), now() + interval '2 days',"
        "         now() - interval '3 days', 'infinity', '-infinity'])[1 + i % 10] END"
        " FROM generate_series(0, 659) i");
    stack_pg_exec(f->conn, "INSERT INTO tasks (id, owner_id, title, due_at) VALUES"
                           " (gen_random_uuid(), '" OTHER "', 'other', now() - interval '1 day')");
    assert_exact(f, "after a batch insert");
    /* One-row insert (the writer's single path). */
    stack_pg_exec(f->conn, "INSERT INTO tasks (id, owner_id, title, due_at) VALUES"
                           " (gen_random_uuid(), '" UID "', 'one', now() - interval '2 hours')");
    assert_exact(f, "after a one-row insert");
    /* Updates: status to done (completed now), back to todo, due dates moved, priorities
     * changed, and an update that moves no counted column. */
    stack_pg_exec(f->conn, "UPDATE tasks SET status = 'done', completed_at = now()"
                           " WHERE owner_id = '" UID "' AND status = 'todo' AND title LIKE 't1%'");
    assert_exact(f, "after completing tasks");
    stack_pg_exec(f->conn, "UPDATE tasks SET status = 'todo', completed_at = NULL"
                           " WHERE owner_id = '" UID "' AND status = 'done' AND title LIKE 't2%'");
    assert_exact(f, "after reopening tasks");
    stack_pg_exec(f->conn,
                  "UPDATE tasks SET due_at = due_at - interval '1 day', priority = 'urgent'"
                  " WHERE owner_id = '" UID "' AND title LIKE 't3%'");
    assert_exact(f, "after moving due dates and priorities");
    stack_pg_exec(f->conn, "UPDATE tasks SET title = title || '!', version = version + 1"
                           " WHERE owner_id = '" UID "'");
    assert_exact(f, "after an update of no counted column");
    stack_pg_exec(f->conn, "UPDATE tasks SET completed_at = now() - interval '8 days'"
                           " WHERE owner_id = '" UID "' AND status = 'done' AND title LIKE 't4%'");
    assert_exact(f, "after moving completion times");
    /* Deletes: some, then every task of one day's bin (its counters reach zero). */
    stack_pg_exec(f->conn, "DELETE FROM tasks WHERE owner_id = '" UID "' AND title LIKE 't5%'");
    assert_exact(f, "after deletes");
    stack_pg_exec(f->conn, "DELETE FROM tasks WHERE owner_id = '" UID "'"
                           " AND due_at >= now() + interval '29 days'");
    assert_exact(f, "after deleting a whole bin");
    /* The repair function agrees with what the triggers kept. */
    stack_pg_exec(f->conn, "SELECT task_counts_rebuild('" UID "')");
    assert_exact(f, "after task_counts_rebuild");
    /* Deleting the user (tasks go by the cascade) leaves no counter behind. */
    stack_pg_exec(f->conn, "DELETE FROM users WHERE id = '" OTHER "'");
    char *left = scalar(f, "SELECT count(*) FROM task_counts WHERE owner_id = '" OTHER "'");
    assert_string_equal(left, "0");
    free(left);
    stack_pg_exec(f->conn, "DELETE FROM tasks WHERE owner_id = '" UID "'");
    left = scalar(f, "SELECT count(*) FROM task_counts WHERE owner_id = '" UID "'");
    assert_string_equal(left, "0");
    free(left);
    assert_exact(f, "after deleting everything");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_follow_every_write),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
