/*
 * test_stack_reporter_retention.c: the retention of report files and rows
 * (workers/reporter/reporter_retention.c) against real Postgres and a temporary folder,
 * inside one transaction that is rolled back (reporter_retention_run is a pass without its
 * BEGIN/COMMIT). No sleeping: the rows carry old timestamps.
 *
 * Needs DATABASE_URL; without it the test FAILS. With a retention of one hour: a ready
 * report finished 2 h ago is expired and its file removed; one whose file is already
 * absent and a failed one (no file) are expired too; a ready report finished 10 min ago
 * keeps its row and file; an unfinished one created 2 h ago is untouched; a report expired
 * 2 h ago is deleted, one expired 10 min ago is kept. A file that cannot be removed (a
 * folder in its place) fails the pass, which the caller rolls back. A second pass finds
 * nothing of ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/stack_pg.h"
#include "workers/reporter/reporter_retention.h"

#define U "0190f5a0-0000-7000-8000-00000000b301"
#define R_OLD "0190f5a0-0000-7000-8000-0000000b3001"
#define R_FRESH "0190f5a0-0000-7000-8000-0000000b3002"
#define R_FAILED "0190f5a0-0000-7000-8000-0000000b3003"
#define R_QUEUED "0190f5a0-0000-7000-8000-0000000b3004"
#define R_GONE "0190f5a0-0000-7000-8000-0000000b3005"
#define R_EXPIRED "0190f5a0-0000-7000-8000-0000000b3006"
#define R_NOFILE "0190f5a0-0000-7000-8000-0000000b3007"

static char dir[64];

static void write_file(const char *name) {
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs("id\r\n", fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

static bool file_exists(const char *name) {
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/test_stack_reporter_retention.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    if (stack_pg_open_in_txn(state, "test_stack_reporter_retention", 30000) != 0)
        return -1;
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
                           " ('" U "', 'retention-unit@example.test', 'x', 'Retention')");
    static const char *const REPORTS[] = {
        "'" R_OLD "', 'csv', 'ready', now() - interval '3 hours', now() - interval '2 hours', NULL",
        "'" R_FRESH "', 'json', 'ready', now() - interval '20 minutes',"
        " now() - interval '10 minutes', NULL",
        "'" R_FAILED "', 'csv', 'failed', now() - interval '3 hours', now() - interval '2 hours',"
        " NULL",
        "'" R_QUEUED "', 'csv', 'queued', now() - interval '2 hours', NULL, NULL",
        "'" R_GONE "', 'csv', 'ready', now() - interval '5 hours', now() - interval '4 hours',"
        " now() - interval '2 hours'",
        "'" R_EXPIRED "', 'csv', 'ready', now() - interval '5 hours', now() - interval '4 hours',"
        " now() - interval '10 minutes'",
        "'" R_NOFILE "', 'json', 'ready', now() - interval '3 hours',"
        " now() - interval '2 hours', NULL",
    };
    for (size_t i = 0; i < sizeof REPORTS / sizeof REPORTS[0]; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "INSERT INTO reports (id, format, status, created_at, finished_at, expired_at,"
                 " user_id) VALUES (%s, '" U "')",
                 REPORTS[i]);
        stack_pg_exec(f->conn, sql);
    }
    write_file(R_OLD ".csv");
    write_file(R_FRESH ".json");
    return 0;
}

static int teardown(void **state) {
    static const char *const NAMES[] = {R_OLD ".csv", R_FRESH ".json"};
    for (size_t i = 0; i < 2; i++) {
        char path[160];
        snprintf(path, sizeof path, "%s/%s", dir, NAMES[i]);
        unlink(path);
        rmdir(path);
    }
    rmdir(dir);
    return stack_pg_close(state);
}

#define STATES                                                                                     \
    "SELECT string_agg(right(id::text, 1) || ':' || (expired_at IS NOT NULL)::text, ' '"           \
    " ORDER BY id) FROM reports WHERE user_id = '" U "'"

static void a_file_that_cannot_be_removed_fails_the_pass(void **state) {
    stack_pg *f = *state;
    char path[160], err[512] = "";
    snprintf(path, sizeof path, "%s/%s", dir, R_OLD ".csv");
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0); /* unlink(2) of a folder fails: EISDIR */
    stack_pg_exec(f->conn, "SAVEPOINT before_pass");
    reporter_retention_counts n;
    assert_int_equal(reporter_retention_run(f->conn, dir, 3600, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot remove"));
    stack_pg_exec(f->conn, "ROLLBACK TO SAVEPOINT before_pass");
    assert_int_equal(rmdir(path), 0);
    write_file(R_OLD ".csv");
    stack_pg_expect(f->conn, STATES, "1:false 2:false 3:false 4:false 5:true 6:true 7:false");
}

static void old_reports_expire_and_expired_ones_go(void **state) {
    stack_pg *f = *state;
    char err[512] = "";
    reporter_retention_counts n;
    if (reporter_retention_run(f->conn, dir, 3600, &n, err, sizeof err) != 0)
        fail_msg("reporter_retention_run: %s", err);
    assert_true(n.expired >= 3); /* others' committed reports may expire too */
    assert_true(n.deleted >= 1);
    /* 5 deleted; 1, 3 and 7 expired; 2 (fresh), 4 (unfinished), 6 (recently expired) kept. */
    stack_pg_expect(f->conn, STATES, "1:true 2:false 3:true 4:false 6:true 7:true");
    stack_pg_expect(f->conn,
                    "SELECT count(*) FROM reports WHERE user_id = '" U "' AND status = 'queued'"
                    " AND expired_at IS NULL AND finished_at IS NULL",
                    "1");
    assert_false(file_exists(R_OLD ".csv"));
    assert_true(file_exists(R_FRESH ".json"));
    /* A second pass finds nothing of ours. */
    if (reporter_retention_run(f->conn, dir, 3600, &n, err, sizeof err) != 0)
        fail_msg("reporter_retention_run: %s", err);
    stack_pg_expect(f->conn, STATES, "1:true 2:false 3:true 4:false 6:true 7:true");
    assert_true(file_exists(R_FRESH ".json"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_file_that_cannot_be_removed_fails_the_pass),
        cmocka_unit_test(old_reports_expire_and_expired_ones_go),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
