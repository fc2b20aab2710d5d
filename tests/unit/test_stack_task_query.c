/*
 * test_stack_task_query.c: the page SQL of api/task_query.c against real Postgres.
 *
 * Needs DATABASE_URL; without it the test FAILS. Applies the repository's migrations
 * (idempotent), then works inside one transaction that is rolled back. One user gets
 * 2300 tasks (more than a filtered page's probe reads), another 500 that share the
 * first one's rare word and tag. Every filter below is listed in every sort, page after
 * page (the next page starting after the last row, as the cursor does), and the ids must
 * be exactly those of a plain ORDER BY over the same condition: whether the probe fills
 * the page (common filters; the "rare" ones sit among the oldest tasks, so sorts that
 * start there fill it and the others fall back), and whatever plan Postgres picks (run
 * again with index scans, then bitmap scans, turned off). The owner-scoped index keys
 * agree with task_owner_keys, as 0011_task_owner_search.sql promises. The same tasks in a
 * team project (no owner) page exactly as well through the project-scoped SQL, for a
 * member; a non-member's statement lists nothing. Assigned tasks (some of the Inbox's,
 * copies in a team project UID is a member of, and in one UID is not) page exactly as
 * the assigned scope (assignee= without project=: only the caller's projects) and as the
 * assignee filter of a team project and of the Inbox. Which task is assigned depends
 * only on its created_at, so every run builds the same data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/task_query.h"
#include "shared/migrate.h"
#include "shared/pg_pool.h"
#include "tests/unit/stack_pg.h"

#define UID "0190f5a0-0000-7000-8000-00000000d001"
#define OTHER "0190f5a0-0000-7000-8000-00000000d002"
#define TEAM "0190f5a0-0000-7000-8000-00000000d0aa"
#define TEAM_A "0190f5a0-0000-7000-8000-00000000d0ab"     /* UID and OTHER are members */
#define TEAM_NOT_A "0190f5a0-0000-7000-8000-00000000d0ac" /* OTHER only */
#define MAX_IDS 2400

/* The tasks (see the top of the file). Times are fixed, so due bounds are literals. */
static const char TASKS_SQL[] =
    "INSERT INTO tasks (id, owner_id, title, description, status, priority, due_at, tags,"
    " created_at, updated_at, completed_at)"
    " SELECT gen_random_uuid(), '" UID "',"
    "  'task ' || i || CASE WHEN i < 30 THEN ' trip to zanzibar'"
    "                       WHEN i % 500 = 7 THEN ' zanzibar to trip' ELSE '' END,"
    "  CASE WHEN i % 2 = 0 THEN 'common words here' ELSE 'other text' END,"
    "  st, (ARRAY['low','medium','high','urgent'])[1 + (i / 3) % 4],"
    "  CASE WHEN i % 5 = 0 THEN NULL"
    "       ELSE TIMESTAMPTZ '2026-06-01 00:00:00+00' + ((i % 200) - 100) * interval '1 day'"
    "            + (i % 3) * interval '1 hour' END,"
    "  CASE WHEN i >= 100 AND i < 110 THEN ARRAY['rare'] WHEN i % 15 = 0 THEN ARRAY['work','home']"
    "       WHEN i % 3 = 0 THEN ARRAY['work'] WHEN i % 11 = 0 THEN ARRAY['home']"
    "       ELSE '{}'::text[] END,"
    "  ca, ca + (i % 50) * interval '1 minute', CASE WHEN st = 'done' THEN ca END"
    " FROM (SELECT i, TIMESTAMPTZ '2026-06-01 00:00:00+00' - (2300 - i) * interval '1 minute' AS "
    "ca,"
    "              CASE WHEN i < 200 THEN 'done'"
    "                   ELSE (ARRAY['todo','in_progress'])[1 + i % 2] END AS st"
    "       FROM generate_series(0, 2299) i) s;"
    "INSERT INTO tasks (id, owner_id, title, status, completed_at, tags)"
    " SELECT gen_random_uuid(), '" OTHER "', 'zanzibar trip to zanzibar ' || i, 'done', now(),"
    "  ARRAY['rare', 'work'] FROM generate_series(1, 500) i;";

static int setup(void **state) {
    if (stack_pg_open(state, "test_stack_task_query", 120000) != 0)
        return -1;
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "BEGIN");
    stack_pg_exec(f->conn, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
                           " ('" UID "', 'query-test-1@example.test', 'x', 'Query'),"
                           " ('" OTHER "', 'query-test-2@example.test', 'x', 'Query 2')");
    stack_pg_exec(f->conn, TASKS_SQL);
    return 0;
}

typedef struct id_list {
    char (*ids)[UUID_STR_LEN];
    int n;
} id_list;

static void add_id(id_list *l, const char *id) {
    assert_true(l->n < MAX_IDS);
    snprintf(l->ids[l->n++], UUID_STR_LEN, "%s", id);
}

/* The ids of sql (no parameters), in order. */
static void oracle(stack_pg *f, const char *sql, id_list *out) {
    PGresult *res = pg_exec_sql(f->conn, sql);
    if (!pg_result_ok(res))
        fail_msg("%s: %s", sql, res != NULL ? PQresultErrorMessage(res) : "no result");
    for (int i = 0; i < PQntuples(res); i++)
        add_id(out, PQgetvalue(res, i, 0));
    PQclear(res);
}

/* The rows a list may show, as the API builds them and as plain SQL says them. */
typedef enum { SCOPE_INBOX, SCOPE_PROJECT, SCOPE_ASSIGNED } scope_kind;

typedef struct list_scope {
    scope_kind kind;
    const char *project; /* SCOPE_PROJECT */
    const char *member;  /* the caller */
    const char *qs;      /* what the scope adds to the query string ("" for none) */
    const char *where;   /* the same rows in plain SQL */
} list_scope;

static const list_scope INBOX = {SCOPE_INBOX, NULL, UID, "", "owner_id = '" UID "'"};
static const list_scope IN_TEAM = {SCOPE_PROJECT, TEAM, UID, "",
                                   "project_id = '" TEAM "' AND owner_id IS NULL"};

/* The page query of scope for q. */
static int build_page(const task_query *q, const list_scope *scope, task_sql *sql) {
    if (scope->kind == SCOPE_PROJECT)
        return task_query_build_project_sql(q, scope->project, scope->member, sql);
    if (scope->kind == SCOPE_ASSIGNED)
        return task_query_build_assigned_sql(q, task_query_assignee_for(q, scope->member),
                                             scope->member, sql);
    return task_query_build_sql(q, scope->member, sql);
}

/* Every page of qs (with the scope's own parameters) in scope, each starting after the
 * last row of the one before. */
static void walk_pages(stack_pg *f, const char *qs, const list_scope *scope, id_list *out) {
    static const unsigned char KEY[32] = {1};
    char full[600];
    snprintf(full, sizeof full, "%s&%s", qs, scope->qs);
    json_t *errors = json_array();
    task_query q;
    assert_int_equal(task_query_parse(full, KEY, sizeof KEY, &q, errors), 0);
    json_decref(errors);
    task_sql *sql = malloc(sizeof *sql);
    assert_non_null(sql);
    for (int page = 0;; page++) {
        assert_true(page < MAX_IDS);
        assert_int_equal(build_page(&q, scope, sql), 0);
        PGresult *res = PQexecParams(pg_conn_raw(f->conn), sql->text, sql->nparams, NULL,
                                     sql->values, NULL, NULL, 0);
        if (!pg_result_ok(res))
            fail_msg("%s: %s\n%s", qs, PQresultErrorMessage(res), sql->text);
        int rows = PQntuples(res);
        int shown = rows > q.limit ? q.limit : rows;
        /* the routes read the key by position: it must be the column named sort_key */
        assert_int_equal(PQfnumber(res, "sort_key"), TASK_SQL_SORT_KEY_COLUMN);
        for (int i = 0; i < shown; i++)
            add_id(out, PQgetvalue(res, i, 0));
        if (rows <= q.limit) {
            PQclear(res);
            break;
        }
        q.after.present = true;
        q.after.key_null = PQgetisnull(res, shown - 1, TASK_SQL_SORT_KEY_COLUMN);
        q.after.key = q.after.key_null
                          ? 0
                          : strtoll(PQgetvalue(res, shown - 1, TASK_SQL_SORT_KEY_COLUMN), NULL, 10);
        snprintf(q.after.id, sizeof q.after.id, "%s", PQgetvalue(res, shown - 1, 0));
        PQclear(res);
    }
    free(sql);
    task_query_clear(&q);
}

typedef struct filter_case {
    const char *qs;
    const char *where; /* the same question in plain SQL */
} filter_case;

#define Q(text) "search @@ websearch_to_tsquery('simple', '" text "')"

static const filter_case FILTERS[] = {
    {"", "TRUE"},
    {"q=zanzibar", Q("zanzibar")},
    {"q=common", Q("common")},
    {"q=%22trip+to%22", Q("\"trip to\"")},
    {"q=trip+to", Q("trip to")},
    {"q=zanzibar+or+rare", Q("zanzibar or rare")},
    {"q=-common", Q("-common")},
    {"q=common+-zanzibar", Q("common -zanzibar")},
    {"q=nosuchword", Q("nosuchword")},
    {"tag=rare", "tags @> ARRAY['rare']"},
    {"tag=work&tag=home", "tags @> ARRAY['work', 'home']"},
    {"tag=nosuch", "tags @> ARRAY['nosuch']"},
    {"status=done", "status = 'done'"},
    {"status=done&tag=work", "status = 'done' AND tags @> ARRAY['work']"},
    {"priority=low,urgent", "priority IN ('low', 'urgent')"},
    {"priority=medium,high", "priority IN ('medium', 'high')"},
    {"status=in_progress&priority=urgent&q=common",
     "status = 'in_progress' AND priority = 'urgent' AND " Q("common")},
    {"due_before=2026-06-01T00:00:00Z", "due_at < '2026-06-01T00:00:00Z'"},
    {"due_after=2026-06-01T00:00:00Z&status=done",
     "due_at >= '2026-06-01T00:00:00Z' AND status = 'done'"},
};

typedef struct sort_case {
    const char *qs;
    const char *order;
} sort_case;

static const sort_case SORTS[] = {
    {"", "created_at DESC, id DESC"},
    {"sort=created_at", "created_at ASC, id ASC"},
    {"sort=-updated_at", "updated_at DESC, id DESC"},
    {"sort=updated_at", "updated_at ASC, id ASC"},
    {"sort=due_at", "due_at IS NULL, due_at ASC, id ASC"},
    {"sort=-due_at", "due_at IS NULL, due_at DESC, id DESC"},
    {"sort=priority", "priority_rank ASC, id ASC"},
    {"sort=-priority", "priority_rank DESC, id DESC"},
};

static void compare(const char *what, const id_list *want, const id_list *got) {
    if (want->n != got->n)
        fail_msg("%s: %d tasks listed, %d expected", what, got->n, want->n);
    for (int i = 0; i < want->n; i++) {
        if (strcmp(want->ids[i], got->ids[i]) != 0)
            fail_msg("%s: row %d is %s, expected %s", what, i, got->ids[i], want->ids[i]);
    }
}

/* Pages of qs in scope against the plain ORDER BY of where in scope. */
static void compare_walk(stack_pg *f, const list_scope *scope, const char *qs, const char *where,
                         const char *order, const char *plan, id_list *want, id_list *got) {
    char sql[1024], what[900];
    snprintf(sql, sizeof sql, "SELECT id FROM tasks WHERE %s AND %s ORDER BY %s", scope->where,
             where, order);
    snprintf(what, sizeof what, "%s&%s [%s]", qs, scope->qs, plan);
    want->n = got->n = 0;
    oracle(f, sql, want);
    walk_pages(f, qs, scope, got);
    compare(what, want, got);
}

static void every_filter_in_every_sort(stack_pg *f, const char *plan, const list_scope *scope) {
    id_list want = {.ids = calloc(MAX_IDS, UUID_STR_LEN)};
    id_list got = {.ids = calloc(MAX_IDS, UUID_STR_LEN)};
    assert_non_null(want.ids);
    assert_non_null(got.ids);
    for (size_t i = 0; i < sizeof FILTERS / sizeof FILTERS[0]; i++) {
        for (size_t j = 0; j < sizeof SORTS / sizeof SORTS[0]; j++) {
            char qs[512];
            snprintf(qs, sizeof qs, "limit=100&%s&%s", FILTERS[i].qs, SORTS[j].qs);
            compare_walk(f, scope, qs, FILTERS[i].where, SORTS[j].order, plan, &want, &got);
        }
    }
    free(want.ids);
    free(got.ids);
}

static void pages_match_a_plain_order_by(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "ANALYZE tasks");
    every_filter_in_every_sort(f, "any plan", &INBOX);
    stack_pg_exec(f->conn, "SET LOCAL enable_indexscan = off");
    every_filter_in_every_sort(f, "no index scans", &INBOX);
    stack_pg_exec(f->conn, "RESET enable_indexscan");
    stack_pg_exec(f->conn, "SET LOCAL enable_bitmapscan = off");
    stack_pg_exec(f->conn, "SET LOCAL enable_seqscan = off");
    every_filter_in_every_sort(f, "no bitmap or sequential scans", &INBOX);
    stack_pg_exec(f->conn, "RESET enable_bitmapscan");
    stack_pg_exec(f->conn, "RESET enable_seqscan");
}

/* A short page: limit 7 over ties (many tasks share a priority and a due date). */
static void small_pages_over_ties(void **state) {
    stack_pg *f = *state;
    id_list want = {.ids = calloc(MAX_IDS, UUID_STR_LEN)};
    id_list got = {.ids = calloc(MAX_IDS, UUID_STR_LEN)};
    assert_non_null(want.ids);
    assert_non_null(got.ids);
    oracle(f,
           "SELECT id FROM tasks WHERE owner_id = '" UID "' AND status = 'done'"
           " ORDER BY due_at IS NULL, due_at DESC, id DESC",
           &want);
    walk_pages(f, "limit=7&status=done&sort=-due_at", &INBOX, &got);
    compare("limit=7&status=done&sort=-due_at", &want, &got);
    want.n = got.n = 0;
    oracle(f,
           "SELECT id FROM tasks WHERE owner_id = '" UID "' AND tags @> ARRAY['rare']"
           " ORDER BY priority_rank DESC, id DESC",
           &want);
    walk_pages(f, "limit=7&tag=rare&sort=-priority", &INBOX, &got);
    compare("limit=7&tag=rare&sort=-priority", &want, &got);
    free(want.ids);
    free(got.ids);
}

/* The index expression is the sum of task_owner_keys of each kind. */
static void index_keys_agree_with_task_owner_keys(void **state) {
    stack_pg *f = *state;
    PGresult *res = pg_exec_sql(
        f->conn, "SELECT count(*) FROM tasks WHERE owner_id IN ('" UID "', '" OTHER "') AND"
                 " task_owner_index_keys(owner_id, status, priority, tags, search) <>"
                 " ARRAY[task_owner_hex(owner_id)] || task_owner_keys(owner_id, 's', ARRAY[status])"
                 " || task_owner_keys(owner_id, 'p', ARRAY[priority])"
                 " || task_owner_keys(owner_id, 't', tags)"
                 " || task_owner_keys(owner_id, 'w', tsvector_to_array(search))");
    assert_true(pg_result_ok(res));
    assert_string_equal(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
}

/* A team project's pages (no owner-scoped index: the probe, then the exact tests over the
 * project's rows) match a plain ORDER BY too: UID's tasks copied into a team project. */
static void team_pages_match_a_plain_order_by(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "SAVEPOINT team");
    stack_pg_exec(f->conn,
                  "INSERT INTO projects (id, name) VALUES ('" TEAM "', 'Team');"
                  " INSERT INTO project_members (project_id, user_id, role) VALUES ('" TEAM
                  "', '" UID "', 'viewer');"
                  " INSERT INTO tasks (id, owner_id, project_id, title, description, status,"
                  " priority, due_at, tags, created_at, updated_at, completed_at)"
                  " SELECT gen_random_uuid(), NULL, '" TEAM "', title, description, status,"
                  " priority, due_at, tags, created_at, updated_at, completed_at FROM tasks"
                  " WHERE owner_id = '" UID "'; ANALYZE tasks");
    every_filter_in_every_sort(f, "team project", &IN_TEAM);
    /* a non-member's statement lists nothing */
    static const unsigned char KEY[32] = {1};
    json_t *errors = json_array();
    task_query q;
    assert_int_equal(task_query_parse("", KEY, sizeof KEY, &q, errors), 0);
    json_decref(errors);
    task_sql *sql = malloc(sizeof *sql);
    assert_non_null(sql);
    assert_int_equal(task_query_build_project_sql(&q, TEAM, OTHER, sql), 0);
    PGresult *res = PQexecParams(pg_conn_raw(f->conn), sql->text, sql->nparams, NULL, sql->values,
                                 NULL, NULL, 0);
    assert_true(pg_result_ok(res));
    assert_int_equal(PQntuples(res), 0);
    PQclear(res);
    free(sql);
    task_query_clear(&q);
    stack_pg_exec(f->conn, "ROLLBACK TO SAVEPOINT team");
}

/* Assignments that depend only on a task's created_at (UID's are a minute apart), so
 * every run builds the same ones: a quarter of UID's Inbox to UID; copies of the Inbox in
 * TEAM_A (UID and OTHER members) a third each to UID, to OTHER and to nobody; copies of
 * half of it in TEAM_NOT_A (OTHER only), all to UID, whom they must never be shown. */
#define MINUTE "(extract(epoch from created_at)::bigint / 60)"
#define COPY_COLUMNS                                                                               \
    "title, description, status, priority, due_at, tags, created_at, updated_at, completed_at"

static const char ASSIGNED_SQL[] =
    "UPDATE tasks SET assignee_id = '" UID "' WHERE owner_id = '" UID "' AND " MINUTE " % 4 = 0;"
    " INSERT INTO projects (id, name) VALUES ('" TEAM_A "', 'Team A'),"
    " ('" TEAM_NOT_A "', 'Team not A');"
    " INSERT INTO project_members (project_id, user_id, role) VALUES"
    " ('" TEAM_A "', '" UID "', 'editor'), ('" TEAM_A "', '" OTHER "', 'owner'),"
    " ('" TEAM_NOT_A "', '" OTHER "', 'owner');"
    " INSERT INTO tasks (id, owner_id, project_id, assignee_id, " COPY_COLUMNS ")"
    " SELECT gen_random_uuid(), NULL, '" TEAM_A "',"
    " (ARRAY['" UID "', '" OTHER "', NULL]::uuid[])[1 + " MINUTE " % 3], " COPY_COLUMNS
    " FROM tasks WHERE owner_id = '" UID "';"
    " INSERT INTO tasks (id, owner_id, project_id, assignee_id, " COPY_COLUMNS ")"
    " SELECT gen_random_uuid(), NULL, '" TEAM_NOT_A "', '" UID "', " COPY_COLUMNS
    " FROM tasks WHERE owner_id = '" UID "' AND " MINUTE " % 2 = 0;"
    " ANALYZE tasks";

#define MEMBER_OF(user)                                                                            \
    "project_id IN (SELECT project_id FROM project_members WHERE user_id = '" user "')"

/* assignee= without project=: UID's tasks in UID's projects (Inbox, TEAM_A); for OTHER,
 * UID's tasks in OTHER's (TEAM_A, TEAM_NOT_A). Said in SQL as IN, not as the EXISTS the
 * builder writes. */
static const list_scope ASSIGNED_TO_ME = {SCOPE_ASSIGNED, NULL, UID, "assignee=me",
                                          "assignee_id = '" UID "' AND " MEMBER_OF(UID)};
static const list_scope ASSIGNED_TO_UID_FOR_OTHER = {
    SCOPE_ASSIGNED, NULL, OTHER, "assignee=" UID, "assignee_id = '" UID "' AND " MEMBER_OF(OTHER)};
/* assignee= as a filter: in a team project, in the Inbox, in a project UID cannot see */
static const list_scope TEAM_A_MINE = {SCOPE_PROJECT, TEAM_A, UID, "assignee=me",
                                       "project_id = '" TEAM_A
                                       "' AND owner_id IS NULL AND assignee_id = '" UID "'"};
static const list_scope TEAM_A_OTHERS = {SCOPE_PROJECT, TEAM_A, UID, "assignee=" OTHER,
                                         "project_id = '" TEAM_A
                                         "' AND owner_id IS NULL AND assignee_id = '" OTHER "'"};
static const list_scope INBOX_MINE = {SCOPE_INBOX, NULL, UID, "assignee=me",
                                      "owner_id = '" UID "' AND assignee_id = '" UID "'"};
static const list_scope TEAM_NOT_A_MINE = {SCOPE_PROJECT, TEAM_NOT_A, UID, "assignee=me", "FALSE"};

/* Every sort of scope's unfiltered list in pages of limit. */
static void every_sort_in_small_pages(stack_pg *f, const list_scope *scope, int limit) {
    id_list want = {.ids = calloc(MAX_IDS, UUID_STR_LEN)};
    id_list got = {.ids = calloc(MAX_IDS, UUID_STR_LEN)};
    assert_non_null(want.ids);
    assert_non_null(got.ids);
    for (size_t j = 0; j < sizeof SORTS / sizeof SORTS[0]; j++) {
        char qs[64];
        snprintf(qs, sizeof qs, "limit=%d&%s", limit, SORTS[j].qs);
        compare_walk(f, scope, qs, "TRUE", SORTS[j].order, "small pages", &want, &got);
    }
    free(want.ids);
    free(got.ids);
}

/* The data holds what the cases below rely on: tasks assigned to UID where UID may not
 * look, and, where UID may, exactly the Inbox's and TEAM_A's. */
static void assigned_data_is_as_meant(stack_pg *f) {
    char *hidden = stack_pg_text(f->conn, "SELECT count(*) FROM tasks WHERE assignee_id = '" UID
                                          "' AND project_id = '" TEAM_NOT_A "'");
    assert_string_not_equal(hidden, "0");
    free(hidden);
    char *mine =
        stack_pg_text(f->conn, "SELECT count(*) FROM tasks WHERE assignee_id = '" UID
                               "' AND (owner_id = '" UID "' OR project_id = '" TEAM_A "')");
    id_list got = {.ids = calloc(MAX_IDS, UUID_STR_LEN)};
    assert_non_null(got.ids);
    walk_pages(f, "limit=100", &ASSIGNED_TO_ME, &got);
    char n[16];
    snprintf(n, sizeof n, "%d", got.n);
    assert_string_equal(n, mine);
    assert_string_not_equal(mine, "0");
    free(mine);
    free(got.ids);
}

/* Assigned tasks page exactly: the assigned scope (only the caller's projects, whatever
 * the assignee), and the assignee filter of a team project and of the Inbox. */
static void assigned_pages_match_a_plain_order_by(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "SAVEPOINT assigned");
    stack_pg_exec(f->conn, ASSIGNED_SQL);
    assigned_data_is_as_meant(f);
    every_sort_in_small_pages(f, &ASSIGNED_TO_ME, 7);
    every_filter_in_every_sort(f, "assigned, any plan", &ASSIGNED_TO_ME);
    stack_pg_exec(f->conn, "SET LOCAL enable_bitmapscan = off");
    stack_pg_exec(f->conn, "SET LOCAL enable_seqscan = off");
    every_filter_in_every_sort(f, "assigned, no bitmap or sequential scans", &ASSIGNED_TO_ME);
    stack_pg_exec(f->conn, "RESET enable_bitmapscan");
    stack_pg_exec(f->conn, "RESET enable_seqscan");
    every_sort_in_small_pages(f, &ASSIGNED_TO_UID_FOR_OTHER, 30);
    every_filter_in_every_sort(f, "assignee filter in a team project", &TEAM_A_MINE);
    every_sort_in_small_pages(f, &TEAM_A_MINE, 7);
    every_sort_in_small_pages(f, &TEAM_A_OTHERS, 7);
    every_sort_in_small_pages(f, &INBOX_MINE, 7);
    every_sort_in_small_pages(f, &TEAM_NOT_A_MINE, 7); /* not a member: nothing */
    stack_pg_exec(f->conn, "ROLLBACK TO SAVEPOINT assigned");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(index_keys_agree_with_task_owner_keys),
        cmocka_unit_test(small_pages_over_ties),
        cmocka_unit_test(pages_match_a_plain_order_by),
        cmocka_unit_test(team_pages_match_a_plain_order_by),
        cmocka_unit_test(assigned_pages_match_a_plain_order_by),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
