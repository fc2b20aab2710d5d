/*
 * test_stack_task_model.c: task_from_row (shared/task_model.c) against real Postgres rows.
 *
 * Needs DATABASE_URL; without it the test FAILS. Applies the repository's migrations
 * (idempotent), then works inside one transaction that is rolled back, so it leaves
 * nothing behind: a full task and a minimal one map to the exact JSON the API and the
 * cache share (with the project its INSERT was given by migration 0020's trigger; events
 * leave project and recurrence out); generated columns and the done/completed_at rule hold; times
 * stored from RFC 3339 text come back as time_parse_rfc3339_ms computes them (the API's "task as it
 * will be" matches the writer's); malformed rows map to NULL; a recurrence maps after tags and the
 * schema keeps a rule with a due_at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/migrate.h"
#include "shared/pg_pool.h"
#include "shared/task_model.h"
#include "shared/time_util.h"
#include "tests/unit/stack_pg.h"

#define UID "0190f5a0-0000-7000-8000-00000000a001"
#define T1 "0190f5a0-0000-7000-8000-00000000b001"
#define T2 "0190f5a0-0000-7000-8000-00000000b002"

static int setup(void **state) {
    return stack_pg_open(state, "test_stack_task_model", 5000);
}

static int begin_with_user(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "BEGIN");
    stack_pg_exec(f->conn,
                  "INSERT INTO users (id, email, password_hash, display_name) VALUES ('" UID
                  "', 'task-model-test@example.test', 'x', 'Task Model')");
    return 0;
}

static int rollback(void **state) {
    stack_pg *f = *state;
    pg_rollback(f->conn);
    return 0;
}

static PGresult *select_task(stack_pg *f, const char *id) {
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT " TASK_SELECT_COLUMNS " FROM tasks WHERE id = '%s'", id);
    PGresult *res = pg_exec_sql(f->conn, sql);
    assert_true(pg_result_ok(res));
    assert_int_equal(PQntuples(res), 1);
    return res;
}

/* The test user's Inbox (migration 0018 made it with the user; 0020 puts tasks there). */
static void inbox_of(stack_pg *f, char out[64]) {
    PGresult *res = pg_exec_sql(f->conn, "SELECT id FROM projects WHERE inbox_of = '" UID "'");
    assert_true(pg_result_ok(res));
    assert_int_equal(PQntuples(res), 1);
    snprintf(out, 64, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

static char *dump(const json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    return s;
}

static void test_full_task(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(
        f->conn,
        "INSERT INTO tasks (id, owner_id, title, description, status, priority, due_at, tags,"
        " created_at, updated_at, completed_at, version) VALUES ('" T1 "', '" UID "',"
        " 'Write \"report\" \xe2\x82\xac', 'line1\nline2', 'done', 'urgent',"
        " '2026-11-27T19:00:00.123+02:00', ARRAY['work', 'q4 plan', 'a\"b,c'],"
        " '2026-11-20T08:00:00Z', '2026-11-21T09:30:00.5Z', '2026-11-21T09:30:00.5Z', 3)");
    PGresult *res = select_task(f, T1);
    char owner[37] = "";
    json_t *task = task_from_row(res, 0, owner);
    PQclear(res);
    assert_non_null(task);
    assert_string_equal(owner, UID);
    char inbox[64];
    inbox_of(f, inbox);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"id\":\"" T1
             "\",\"project_id\":\"%s\",\"title\":\"Write \\\"report\\\" \xe2\x82\xac\","
             "\"description\":\"line1\\nline2\",\"status\":\"done\",\"priority\":"
             "\"urgent\",\"due_at\":\"2026-11-27T17:00:00.123Z\",\"tags\":[\"work\","
             "\"q4 plan\",\"a\\\"b,c\"],\"created_at\":\"2026-11-20T08:00:00.000Z\","
             "\"updated_at\":\"2026-11-21T09:30:00.500Z\",\"completed_at\":"
             "\"2026-11-21T09:30:00.500Z\",\"version\":3}",
             inbox);
    char *text = dump(task);
    assert_string_equal(text, want);
    free(text);
    assert_int_equal(task_json_version(task), 3);
    json_decref(task);
}

static void test_minimal_task_and_generated_columns(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn,
                  "INSERT INTO tasks (id, owner_id, title) VALUES ('" T2 "', '" UID "', 'x')");
    PGresult *res = select_task(f, T2);
    json_t *task = task_from_row(res, 0, NULL);
    PQclear(res);
    assert_non_null(task);
    assert_string_equal(json_string_value(json_object_get(task, "description")), "");
    assert_string_equal(json_string_value(json_object_get(task, "status")), "todo");
    assert_string_equal(json_string_value(json_object_get(task, "priority")), "medium");
    assert_true(json_is_null(json_object_get(task, "due_at")));
    assert_true(json_is_null(json_object_get(task, "completed_at")));
    assert_int_equal(json_array_size(json_object_get(task, "tags")), 0);
    assert_true(json_is_array(json_object_get(task, "tags")));
    assert_int_equal(task_json_version(task), 1);
    json_decref(task);
    res = pg_exec_sql(f->conn, "SELECT priority_rank, search @@ to_tsquery('simple', 'x')"
                               " FROM tasks WHERE id = '" T2 "'");
    assert_true(pg_result_ok(res));
    assert_string_equal(PQgetvalue(res, 0, 0), "1");
    assert_string_equal(PQgetvalue(res, 0, 1), "t");
    PQclear(res);
}

/* A statement the schema must refuse (checked inside a savepoint). */
static void expect_refused(stack_pg *f, const char *sql) {
    stack_pg_exec(f->conn, "SAVEPOINT s");
    char err[512];
    if (pg_run(f->conn, sql, err, sizeof err) == 0) {
        fail_msg("accepted: %s", sql);
    }
    stack_pg_exec(f->conn, "ROLLBACK TO SAVEPOINT s");
}

static void test_schema_checks(void **state) {
    stack_pg *f = *state;
    const char *head = "INSERT INTO tasks (id, owner_id, title, status, completed_at, tags) VALUES"
                       " ('" T2 "', '" UID "', ";
    char sql[512];
    snprintf(sql, sizeof sql, "%s'', 'todo', NULL, '{}')", head);
    expect_refused(f, sql);
    snprintf(sql, sizeof sql, "%s'a', 'done', NULL, '{}')", head);
    expect_refused(f, sql);
    snprintf(sql, sizeof sql, "%s'a', 'todo', now(), '{}')", head);
    expect_refused(f, sql);
    snprintf(sql, sizeof sql, "%s'a', 'open', NULL, '{}')", head);
    expect_refused(f, sql);
    snprintf(sql, sizeof sql, "%s'a', 'todo', NULL, array_fill('t'::text, ARRAY[21]))", head);
    expect_refused(f, sql);
    expect_refused(f, "INSERT INTO tasks (id, owner_id, title) VALUES ('" T2
                      "', '0190f5a0-0000-7000-8000-00000000ffff', 'no such owner')");
}

/* Times written as RFC 3339 text come back as time_parse_rfc3339_ms says. */
static void test_times_agree_with_parser(void **state) {
    stack_pg *f = *state;
    static const char *const times[] = {
        "2026-11-22T10:00:00Z",         "2026-11-22T10:00:00.1235Z",
        "2026-11-22T10:00:00.1234999Z", "2026-11-22T12:00:00.999999+02:00",
        "1969-12-31T23:59:59.9995Z",    "2000-02-29T23:59:59.0005-05:30",
        "9999-12-31T23:59:59.999Z",     "0001-01-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char sql[512];
        snprintf(sql, sizeof sql, "SELECT (extract(epoch from '%s'::timestamptz) * 1000)::bigint",
                 times[i]);
        PGresult *res = pg_exec_sql(f->conn, sql);
        assert_true(pg_result_ok(res));
        long long want = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        long long got = 0;
        assert_int_equal(time_parse_rfc3339_ms(times[i], &got), 0);
        if (got != want) {
            fail_msg("%s: parser %lld, postgres %lld", times[i], got, want);
        }
    }
}

static void test_malformed_rows(void **state) {
    stack_pg *f = *state;
    PGresult *res = pg_exec_sql(f->conn, "SELECT 1, 2, 3");
    assert_true(pg_result_ok(res));
    assert_null(task_from_row(res, 0, NULL));
    assert_null(task_from_row(res, 5, NULL));
    assert_null(task_from_row(NULL, 0, NULL));
    PQclear(res);
    /* A well-formed row first (so the others fail for their one flaw, not their shape),
     * then a NULL title, a version that is not a number, tags that are not an array, a
     * due time that is not a number, recurrences that are not {rule, time_zone}, a NULL
     * project. */
    res = pg_exec_sql(f->conn, "SELECT '" T1 "', '" UID "', 't', '', 'todo', 'low', NULL, '[]', 0,"
                               " 0, NULL, '1', NULL, '" T2 "', NULL");
    assert_true(pg_result_ok(res));
    json_t *fine = task_from_row(res, 0, NULL);
    assert_non_null(fine);
    assert_null(json_object_get(fine, "assignee_id")); /* unassigned: no member */
    json_decref(fine);
    PQclear(res);
    res = pg_exec_sql(f->conn, "SELECT '" T1 "', '" UID "', 't', '', 'todo', 'low', NULL, '[]', 0,"
                               " 0, NULL, '1', NULL, '" T2 "', '" UID "'");
    assert_true(pg_result_ok(res));
    fine = task_from_row(res, 0, NULL);
    assert_non_null(fine);
    assert_string_equal(json_string_value(json_object_get(fine, "assignee_id")), UID);
    json_decref(fine);
    PQclear(res);
    static const char *const rows[] = {
        "SELECT '" T1 "', '" UID
        "', NULL, '', 'todo', 'low', NULL, '[]', 0, 0, NULL, '1', NULL, '" T2 "', NULL",
        "SELECT '" T1 "', '" UID
        "', 't', '', 'todo', 'low', NULL, '[]', 0, 0, NULL, 'v1', NULL, '" T2 "', NULL",
        "SELECT '" T1 "', '" UID
        "', 't', '', 'todo', 'low', NULL, '{}', 0, 0, NULL, '1', NULL, '" T2 "', NULL",
        "SELECT '" T1 "', '" UID
        "', 't', '', 'todo', 'low', NULL, '[1]', 0, 0, NULL, '1', NULL, '" T2 "', NULL",
        "SELECT '" T1 "', '" UID
        "', 't', '', 'todo', 'low', 'soon', '[]', 0, 0, NULL, '1', NULL, '" T2 "', NULL",
        "SELECT '" T1 "', '" UID "', 't', '', 'todo', 'low', 0, '[]', 0, 0, NULL, '1', '[]', '" T2
        "', NULL",
        "SELECT '" T1 "', '" UID "', 't', '', 'todo', 'low', 0, '[]', 0, 0, NULL, '1',"
        " '{\"rule\":\"FREQ=DAILY\"}', '" T2 "', NULL",
        "SELECT '" T1 "', '" UID "', 't', '', 'todo', 'low', 0, '[]', 0, 0, NULL, '1',"
        " '{\"rule\":1,\"time_zone\":\"UTC\"}', '" T2 "', NULL",
        /* a NULL project */
        "SELECT '" T1 "', '" UID
        "', 't', '', 'todo', 'low', NULL, '[]', 0, 0, NULL, '1', NULL, NULL, NULL",
        /* the old column list: one column short */
        "SELECT '" T1 "', '" UID "', 't', '', 'todo', 'low', NULL, '[]', 0, 0, NULL, '1', NULL,"
        " '" T2 "'",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        res = pg_exec_sql(f->conn, rows[i]);
        assert_true(pg_result_ok(res));
        if (task_from_row(res, 0, NULL) != NULL) {
            fail_msg("mapped a malformed row: %s", rows[i]);
        }
        PQclear(res);
    }
}

/* A recurring task maps its rule after tags; the schema keeps a rule with a due_at. */
static void test_recurrence_column(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn,
                  "INSERT INTO tasks (id, owner_id, title, due_at, recurrence) VALUES ('" T1
                  "', '" UID "', 'r', '2030-01-07T08:00:00Z',"
                  " '{\"rule\":\"FREQ=WEEKLY\",\"time_zone\":\"Europe/Berlin\"}')");
    PGresult *res = select_task(f, T1);
    json_t *task = task_from_row(res, 0, NULL);
    PQclear(res);
    assert_non_null(task);
    char *text = dump(task);
    assert_non_null(strstr(text, "\"tags\":[],\"recurrence\":{\"rule\":\"FREQ=WEEKLY\","
                                 "\"time_zone\":\"Europe/Berlin\"},\"created_at\":"));
    free(text);
    /* events leave it and the project out (docs/decisions.md, "Recurring tasks") */
    assert_true(task_json_strip_for_event(task));
    assert_null(json_object_get(task, "recurrence"));
    assert_null(json_object_get(task, "project_id"));
    assert_false(task_json_strip_for_event(task));
    json_decref(task);
    expect_refused(f, "UPDATE tasks SET due_at = NULL WHERE id = '" T1 "'");
    expect_refused(f, "INSERT INTO tasks (id, owner_id, title, recurrence) VALUES ('" T2 "', '" UID
                      "', 'x', '{\"rule\":\"FREQ=DAILY\",\"time_zone\":\"UTC\"}')");
    expect_refused(f, "INSERT INTO tasks (id, owner_id, title, due_at, recurrence) VALUES ('" T2
                      "', '" UID "', 'x', now(), '\"FREQ=DAILY\"')");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_task, begin_with_user, rollback),
        cmocka_unit_test_setup_teardown(test_minimal_task_and_generated_columns, begin_with_user,
                                        rollback),
        cmocka_unit_test_setup_teardown(test_schema_checks, begin_with_user, rollback),
        cmocka_unit_test_setup_teardown(test_times_agree_with_parser, begin_with_user, rollback),
        cmocka_unit_test_setup_teardown(test_malformed_rows, begin_with_user, rollback),
        cmocka_unit_test_setup_teardown(test_recurrence_column, begin_with_user, rollback),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
