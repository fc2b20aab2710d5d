/*
 * test_stack_migrate.c: shared/migrate.c against a real Postgres.
 *
 * Needs DATABASE_URL (a role allowed to CREATE DATABASE); without it the test FAILS.
 * Each case runs on a fresh scratch database (dropped afterwards) with migration files
 * written to a temporary directory: two runners started at once apply each file exactly
 * once; a second run applies nothing; a changed file is refused; a failing file rolls
 * back completely; the repository's own migrations apply to an empty database, and
 * migration 0020 moves the tasks a database already holds into their owners' Inboxes;
 * 0022's team tasks have no owner and count for none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/migrate.h"
#include "shared/pg_pool.h"

static const char *g_url;

typedef struct scratch {
    char dbname[64];
    char conninfo[1024];
    char dir[256];
} scratch;

static int setup(void **state) {
    (void)state;
    g_url = getenv("DATABASE_URL");
    if (g_url == NULL || g_url[0] == '\0') {
        fprintf(stderr, "test_stack_migrate: DATABASE_URL is not set; this test needs Postgres\n");
        return -1;
    }
    return 0;
}

/* Runs sql on the DATABASE_URL database itself. */
static void admin_sql(const char *sql) {
    PGconn *c = PQconnectdb(g_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    }
    PQclear(res);
    PQfinish(c);
}

/* DATABASE_URL's parameters with dbname replaced, as a keyword=value string. */
static void conninfo_for(const char *dbname, char *out, size_t outlen) {
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(g_url, &perr);
    assert_non_null(opts);
    size_t len = 0;
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? dbname : o->val;
        if (v != NULL) {
            len += (size_t)snprintf(out + len, outlen - len, "%s='%s' ", o->keyword, v);
            assert_true(len < outlen);
        }
    }
    PQconninfoFree(opts);
}

static void write_file(const scratch *s, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void scratch_new(scratch *s) {
    static int seq;
    snprintf(s->dbname, sizeof s->dbname, "tb_migrate_test_%d_%d", (int)getpid(), ++seq);
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", s->dbname);
    admin_sql(sql);
    conninfo_for(s->dbname, s->conninfo, sizeof s->conninfo);
    snprintf(s->dir, sizeof s->dir, "/tmp/tb_migrate_test_XXXXXX");
    assert_non_null(mkdtemp(s->dir));
}

static void scratch_drop(scratch *s) {
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", s->dbname);
    admin_sql(sql);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    assert_int_equal(system(cmd), 0);
}

static long count_of(pg_conn *c, const char *sql) {
    PGresult *res = pg_exec_sql(c, sql);
    if (!pg_result_ok(res)) {
        fail_msg("%s: %s", sql, res ? PQresultErrorMessage(res) : "connection failed");
    }
    long n = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

typedef struct runner {
    const scratch *s;
    pthread_barrier_t *start;
    int result;
    char err[512];
} runner;

static void *run_migrator(void *arg) {
    runner *r = arg;
    char err[256];
    pg_pool *pool = pg_pool_create(r->s->conninfo, 1, 5000, err, sizeof err);
    pg_conn *c = pool ? pg_pool_acquire(pool, 5000, err, sizeof err) : NULL;
    pthread_barrier_wait(r->start);
    r->result = c ? migrate_run(c, r->s->dir, r->err, sizeof r->err) : -2;
    if (c != NULL) {
        pg_pool_release(pool, c);
    }
    pg_pool_destroy(pool);
    return NULL;
}

static void write_three_files(const scratch *s) {
    /* The sleep widens the window in which a second runner would race the first. */
    write_file(s, "0001_a.sql", "CREATE TABLE t_a(x int);\nSELECT pg_sleep(0.3);\n");
    write_file(s, "0002_b.sql", "CREATE TABLE t_log(n int);\nINSERT INTO t_log VALUES (1);\n");
    write_file(s, "0003_c.sql", "INSERT INTO t_log VALUES (2);\n");
    write_file(s, "README.txt", "not a migration\n");
}

static void concurrent_runners_apply_each_file_once(void **state) {
    (void)state;
    for (int round = 0; round < 2; round++) {
        scratch s;
        scratch_new(&s);
        write_three_files(&s);
        pthread_barrier_t start;
        assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
        runner a = {.s = &s, .start = &start}, b = {.s = &s, .start = &start};
        pthread_t ta, tb;
        assert_int_equal(pthread_create(&ta, NULL, run_migrator, &a), 0);
        assert_int_equal(pthread_create(&tb, NULL, run_migrator, &b), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&start);
        if (a.result < 0 || b.result < 0) {
            fail_msg("runner failed: a=%d (%s) b=%d (%s)", a.result, a.err, b.result, b.err);
        }
        assert_int_equal(a.result + b.result, 3);

        char err[256];
        pg_pool *pool = pg_pool_create(s.conninfo, 1, 5000, err, sizeof err);
        pg_conn *c = pg_pool_acquire(pool, 5000, err, sizeof err);
        assert_non_null(c);
        assert_int_equal(count_of(c, "SELECT count(*) FROM t_log"), 2);
        assert_int_equal(count_of(c, "SELECT count(*) FROM schema_migrations"), 3);
        assert_int_equal(count_of(c, "SELECT count(*) FROM schema_migrations WHERE version IN "
                                     "('0001_a','0002_b','0003_c') AND length(checksum) = 64"),
                         3);
        /* A later run finds nothing to do. */
        assert_int_equal(migrate_run(c, s.dir, err, sizeof err), 0);
        assert_int_equal(count_of(c, "SELECT count(*) FROM t_log"), 2);
        pg_pool_release(pool, c);
        pg_pool_destroy(pool);
        scratch_drop(&s);
    }
}

static void changed_file_is_refused(void **state) {
    (void)state;
    scratch s;
    scratch_new(&s);
    write_three_files(&s);
    char err[512] = "";
    pg_pool *pool = pg_pool_create(s.conninfo, 1, 5000, err, sizeof err);
    pg_conn *c = pg_pool_acquire(pool, 5000, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(migrate_run(c, s.dir, err, sizeof err), 3);
    write_file(&s, "0002_b.sql", "CREATE TABLE t_log(n int);\nINSERT INTO t_log VALUES (99);\n");
    write_file(&s, "0004_d.sql", "INSERT INTO t_log VALUES (4);\n");
    assert_int_equal(migrate_run(c, s.dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "0002_b"));
    assert_non_null(strstr(err, "changed"));
    /* Nothing after the refused file ran either. */
    assert_int_equal(count_of(c, "SELECT count(*) FROM t_log"), 2);
    assert_int_equal(count_of(c, "SELECT count(*) FROM schema_migrations"), 3);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
    scratch_drop(&s);
}

static void failing_file_rolls_back(void **state) {
    (void)state;
    scratch s;
    scratch_new(&s);
    write_file(&s, "0001_ok.sql", "CREATE TABLE t_ok(x int);\n");
    write_file(&s, "0002_bad.sql", "CREATE TABLE t_bad(x int);\nSELECT 1/0;\n");
    write_file(&s, "0003_after.sql", "CREATE TABLE t_after(x int);\n");
    char err[512] = "";
    pg_pool *pool = pg_pool_create(s.conninfo, 1, 4321, err, sizeof err);
    pg_conn *c = pg_pool_acquire(pool, 5000, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(migrate_run(c, s.dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "0002_bad"));
    assert_non_null(strstr(err, "division by zero"));
    assert_int_equal(count_of(c, "SELECT count(*) FROM schema_migrations"), 1);
    assert_int_equal(count_of(c, "SELECT count(*) FROM pg_tables WHERE tablename IN "
                                 "('t_bad','t_after')"),
                     0);
    /* The connection is back to normal: idle, its own statement_timeout, no lock held. */
    assert_int_equal(PQtransactionStatus(pg_conn_raw(c)), PQTRANS_IDLE);
    PGresult *res = pg_exec_sql(c, "SHOW statement_timeout");
    assert_string_equal(PQgetvalue(res, 0, 0), "4321ms");
    PQclear(res);
    assert_int_equal(count_of(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                 "AND objid = 7264001"),
                     0);
    /* Fixing the file lets the run continue where it stopped. */
    write_file(&s, "0002_bad.sql", "CREATE TABLE t_bad(x int);\n");
    assert_int_equal(migrate_run(c, s.dir, err, sizeof err), 2);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
    scratch_drop(&s);
}

static void repository_migrations_apply(void **state) {
    (void)state;
    scratch s;
    scratch_new(&s);
    char err[512] = "";
    pg_pool *pool = pg_pool_create(s.conninfo, 1, 5000, err, sizeof err);
    pg_conn *c = pg_pool_acquire(pool, 5000, err, sizeof err);
    assert_non_null(c);
    int n = migrate_run(c, TASKBUS_SOURCE_DIR "/schemas/migrations", err, sizeof err);
    if (n < 1) {
        fail_msg("repository migrations: %d: %s", n, err);
    }
    assert_int_equal(count_of(c, "SELECT count(*) FROM pg_tables WHERE tablename IN "
                                 "('outbox','kafka_consumer_offsets')"),
                     2);
    assert_int_equal(migrate_run(c, TASKBUS_SOURCE_DIR "/schemas/migrations", err, sizeof err), 0);
    assert_int_equal(migrate_run(c, "/nonexistent/dir", err, sizeof err), -1);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
    scratch_drop(&s);
}

/* Links the repository's migrations whose version sorts before upto (all when NULL) into
 * s's directory, as files a deployment of that release would hold. */
static void link_repository_migrations(const scratch *s, const char *upto) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "for f in '%s'/schemas/migrations/*.sql; do n=$(basename \"$f\");"
             " if [ -z '%s' ] || [ \"$n\" \\< '%s' ]; then ln -sf \"$f\" '%s'/\"$n\"; fi; done",
             TASKBUS_SOURCE_DIR, upto ? upto : "", upto ? upto : "", s->dir);
    assert_int_equal(system(cmd), 0);
}

static void exec_ok(pg_conn *c, const char *sql) {
    PGresult *res = pg_exec_sql(c, sql);
    if (!pg_result_ok(res)) {
        fail_msg("%s: %s", sql, res ? PQresultErrorMessage(res) : "connection failed");
    }
    PQclear(res);
}

static void text_equal(pg_conn *c, const char *sql, const char *want) {
    PGresult *res = pg_exec_sql(c, sql);
    if (!pg_result_ok(res) || PQntuples(res) != 1) {
        fail_msg("%s: %s", sql, res ? PQresultErrorMessage(res) : "connection failed");
    }
    assert_string_equal(PQgetvalue(res, 0, 0), want);
    PQclear(res);
}

#define ADA "0190a8d0-0000-7000-8000-00000000a0a0"
#define BOB "0190a8d0-0000-7000-8000-00000000b0b0"
#define TEAM "0190a8d0-0000-7000-8000-0000000077aa"
#define COUNTS_SQL                                                                                 \
    "SELECT string_agg(owner_id || counter || day || n, ',' ORDER BY owner_id, counter, day) "     \
    "FROM task_counts"

/* Migration 0020 on a database written by the release before: every task moves into its
 * owner's Inbox, the counters are untouched; afterwards an INSERT that names no project
 * gets the owner's Inbox, a project holding tasks is not deleted, and a user still is
 * (with the Inbox and its tasks). */
static void tasks_move_into_their_owners_inbox(void **state) {
    (void)state;
    scratch s;
    scratch_new(&s);
    link_repository_migrations(&s, "0020");
    char err[512] = "";
    pg_pool *pool = pg_pool_create(s.conninfo, 1, 5000, err, sizeof err);
    pg_conn *c = pg_pool_acquire(pool, 5000, err, sizeof err);
    assert_non_null(c);
    if (migrate_run(c, s.dir, err, sizeof err) < 19) {
        fail_msg("migrations before 0020: %s", err);
    }
    exec_ok(c, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
               " ('" ADA "', 'ada@example.test', 'x', 'Ada'), ('" BOB
               "', 'bob@example.test', 'x', 'Bob')");
    exec_ok(c,
            "INSERT INTO tasks (id, owner_id, title, status, completed_at)"
            " SELECT taskbus_uuid7(), CASE WHEN i % 3 = 0 THEN '" BOB "' ELSE '" ADA "' END::uuid,"
            " 't' || i, CASE WHEN i % 2 = 0 THEN 'done' ELSE 'todo' END,"
            " CASE WHEN i % 2 = 0 THEN now() END FROM generate_series(1, 30) i");
    PGresult *before = pg_exec_sql(c, COUNTS_SQL);
    assert_true(pg_result_ok(before));

    link_repository_migrations(&s, NULL);
    assert_int_equal(migrate_run(c, s.dir, err, sizeof err) >= 1, 1);
    assert_int_equal(count_of(c,
                              "SELECT count(*) FROM tasks t JOIN projects p ON p.id = t.project_id"
                              " AND p.inbox_of = t.owner_id"),
                     30);
    text_equal(c, COUNTS_SQL, PQgetvalue(before, 0, 0));
    PQclear(before);

    /* A writer of the release before names no project: the owner's Inbox. */
    exec_ok(c, "INSERT INTO tasks (id, owner_id, title) VALUES (taskbus_uuid7(), '" BOB
               "', 'old writer')");
    assert_int_equal(count_of(c,
                              "SELECT count(*) FROM tasks t JOIN projects p ON p.inbox_of = '" BOB
                              "' AND p.id = t.project_id WHERE t.title = 'old writer'"),
                     1);

    /* A team project holding a task is not deleted; empty, it is. */
    exec_ok(c, "INSERT INTO projects (id, name) VALUES ('" TEAM "', 'Team');"
               " INSERT INTO project_members (project_id, user_id, role) VALUES ('" TEAM "', '" ADA
               "', 'owner')");
    exec_ok(c, "UPDATE tasks SET project_id = '" TEAM "' WHERE title = 't1'");
    text_equal(c, "SELECT outcome FROM project_delete('" TEAM "', '" ADA "', NULL)", "not_empty");
    assert_int_equal(count_of(c, "SELECT count(*) FROM projects WHERE id = '" TEAM "'"), 1);
    exec_ok(c, "DELETE FROM tasks WHERE title = 't1'");
    text_equal(c, "SELECT outcome FROM project_delete('" TEAM "', '" ADA "', NULL)", "ok");

    /* A user goes with the Inbox and the tasks in it. */
    exec_ok(c, "DELETE FROM users WHERE id = '" BOB "'");
    assert_int_equal(count_of(c, "SELECT count(*) FROM tasks WHERE owner_id = '" BOB "'"), 0);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
    scratch_drop(&s);
}

/* Migration 0022: a task in a team project has no owner. It is counted by no owner's
 * counters (insert, update and delete leave them as they were, while an Inbox task still
 * counts; task_counts_rebuild agrees), the indexes take it, and its creator's deletion
 * does not take it. */
static void team_tasks_have_no_owner(void **state) {
    (void)state;
    scratch s;
    scratch_new(&s);
    link_repository_migrations(&s, "0024"); /* 0024 counts them for their project */
    char err[512] = "";
    pg_pool *pool = pg_pool_create(s.conninfo, 1, 5000, err, sizeof err);
    pg_conn *c = pg_pool_acquire(pool, 5000, err, sizeof err);
    assert_non_null(c);
    if (migrate_run(c, s.dir, err, sizeof err) < 22) {
        fail_msg("repository migrations: %s", err);
    }
    exec_ok(c, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
               " ('" ADA "', 'ada@example.test', 'x', 'Ada');"
               " INSERT INTO projects (id, name) VALUES ('" TEAM "', 'Team');"
               " INSERT INTO project_members (project_id, user_id, role) VALUES ('" TEAM "', '" ADA
               "', 'owner')");
    exec_ok(c,
            "INSERT INTO tasks (id, owner_id, title) VALUES (taskbus_uuid7(), '" ADA "', 'inbox')");
    PGresult *before = pg_exec_sql(c, COUNTS_SQL);
    assert_true(pg_result_ok(before));
    assert_string_not_equal(PQgetvalue(before, 0, 0), "");
    exec_ok(c, "INSERT INTO tasks (id, owner_id, project_id, title, status, due_at, tags)"
               " SELECT taskbus_uuid7(), NULL, '" TEAM "', 'team' || i, 'todo', now(), '{a}'"
               " FROM generate_series(1, 5) i");
    exec_ok(c, "UPDATE tasks SET status = 'done', completed_at = now() WHERE title = 'team1'");
    exec_ok(c, "DELETE FROM tasks WHERE title = 'team2'");
    text_equal(c, COUNTS_SQL, PQgetvalue(before, 0, 0));
    exec_ok(c, "SELECT task_counts_rebuild()"); /* an operator's recount skips them too */
    text_equal(c, COUNTS_SQL, PQgetvalue(before, 0, 0));
    PQclear(before);
    assert_int_equal(count_of(c, "SELECT count(*) FROM tasks WHERE owner_id IS NULL AND"
                                 " project_id = '" TEAM "'"),
                     4);
    exec_ok(c, "INSERT INTO tasks (id, owner_id, title) VALUES (taskbus_uuid7(), '" ADA
               "', 'inbox 2')");
    assert_int_equal(count_of(c, "SELECT n FROM task_counts WHERE owner_id = '" ADA
                                 "' AND counter = 'status:todo'"),
                     2);

    exec_ok(c, "DELETE FROM users WHERE id = '" ADA "'");
    assert_int_equal(count_of(c, "SELECT count(*) FROM tasks"), 4);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
    scratch_drop(&s);
}

/* The counters of the TEAM scope and of ADA's against a recount of what each scope holds
 * (a task counts for its owner, or for its project when it has none): 0 when equal. */
#define SCOPE_DIFF_SQL                                                                             \
    "SELECT count(*) FROM ("                                                                       \
    " (SELECT owner_id, counter, day, n FROM task_counts"                                          \
    "  EXCEPT SELECT COALESCE(t.owner_id, t.project_id), k.counter, k.day, count(*) FROM tasks t," \
    "   task_count_keys(t.status, t.priority, t.due_at, t.completed_at) k GROUP BY 1, 2, 3)"       \
    " UNION ALL"                                                                                   \
    " (SELECT COALESCE(t.owner_id, t.project_id), k.counter, k.day, count(*) FROM tasks t,"        \
    "   task_count_keys(t.status, t.priority, t.due_at, t.completed_at) k GROUP BY 1, 2, 3"        \
    "  EXCEPT SELECT owner_id, counter, day, n FROM task_counts)) d"

/* Migration 0024: a team project's tasks count for the project. The team tasks written
 * before it are counted by its backfill; afterwards inserts, updates, deletes and moves
 * between the Inbox and the team keep both scopes exact, and task_counts_rebuild of
 * either scope agrees. */
static void team_tasks_count_for_their_project(void **state) {
    (void)state;
    scratch s;
    scratch_new(&s);
    link_repository_migrations(&s, "0024");
    char err[512] = "";
    pg_pool *pool = pg_pool_create(s.conninfo, 1, 5000, err, sizeof err);
    pg_conn *c = pg_pool_acquire(pool, 5000, err, sizeof err);
    assert_non_null(c);
    if (migrate_run(c, s.dir, err, sizeof err) < 23) {
        fail_msg("migrations before 0024: %s", err);
    }
    exec_ok(c, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
               " ('" ADA "', 'ada@example.test', 'x', 'Ada');"
               " INSERT INTO projects (id, name) VALUES ('" TEAM "', 'Team');"
               " INSERT INTO project_members (project_id, user_id, role) VALUES ('" TEAM "', '" ADA
               "', 'owner')");
    exec_ok(c, "INSERT INTO tasks (id, owner_id, project_id, title, status, due_at)"
               " SELECT taskbus_uuid7(), NULL, '" TEAM "', 'before' || i, 'todo', now()"
               " FROM generate_series(1, 3) i");
    assert_int_equal(count_of(c, "SELECT count(*) FROM task_counts WHERE owner_id = '" TEAM "'"),
                     0); /* 0022: not counted yet */
    link_repository_migrations(&s, NULL);
    if (migrate_run(c, s.dir, err, sizeof err) < 0) {
        fail_msg("0024: %s", err);
    }
    assert_int_equal(count_of(c, "SELECT n FROM task_counts WHERE owner_id = '" TEAM
                                 "' AND counter = 'status:todo'"),
                     3);
    assert_int_equal(count_of(c, SCOPE_DIFF_SQL), 0);
    exec_ok(c,
            "INSERT INTO tasks (id, owner_id, title) VALUES (taskbus_uuid7(), '" ADA "', 'inbox')");
    exec_ok(c, "INSERT INTO tasks (id, owner_id, project_id, title, priority)"
               " VALUES (taskbus_uuid7(), NULL, '" TEAM "', 'after', 'high')");
    exec_ok(c, "UPDATE tasks SET status = 'done', completed_at = now() WHERE title = 'before1'");
    exec_ok(c, "DELETE FROM tasks WHERE title = 'before2'");
    assert_int_equal(count_of(c, SCOPE_DIFF_SQL), 0);
    /* Moves: the Inbox task into the team, a team task into the Inbox. */
    exec_ok(c, "UPDATE tasks SET owner_id = NULL, project_id = '" TEAM "' WHERE title = 'inbox'");
    exec_ok(c, "UPDATE tasks SET owner_id = '" ADA "', project_id = (SELECT id FROM projects"
               " WHERE inbox_of = '" ADA "') WHERE title = 'before3'");
    assert_int_equal(count_of(c, SCOPE_DIFF_SQL), 0);
    assert_int_equal(count_of(c, "SELECT n FROM task_counts WHERE owner_id = '" TEAM
                                 "' AND counter = 'status:todo'"),
                     2);
    exec_ok(c, "DELETE FROM task_counts");
    exec_ok(c, "SELECT task_counts_rebuild('" TEAM "')");
    exec_ok(c, "SELECT task_counts_rebuild('" ADA "')");
    assert_int_equal(count_of(c, SCOPE_DIFF_SQL), 0);
    assert_int_equal(count_of(c, "SELECT count(*) FROM task_counts WHERE n <= 0"), 0);
    pg_pool_release(pool, c);
    pg_pool_destroy(pool);
    scratch_drop(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_runners_apply_each_file_once),
        cmocka_unit_test(changed_file_is_refused),
        cmocka_unit_test(failing_file_rolls_back),
        cmocka_unit_test(repository_migrations_apply),
        cmocka_unit_test(tasks_move_into_their_owners_inbox),
        cmocka_unit_test(team_tasks_have_no_owner),
        cmocka_unit_test(team_tasks_count_for_their_project),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
