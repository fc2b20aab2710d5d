/*
 * test_stack_scheduler_retention.c: the retention of analytics_seen_events and of expired
 * project invitations (workers/scheduler/scheduler_retention.c) against real Postgres,
 * inside one transaction that is rolled back. No sleeping: the rows carry old times.
 *
 * Needs DATABASE_URL; without it the test FAILS. With a retention of one day: rows seen
 * two days and 25 hours ago are deleted; rows seen 23 hours ago and just now (the
 * column's default, as the analytics consumer inserts) are kept; a second call deletes
 * nothing of ours. Invitations expired 8 days and 1 second ago go, one open for a day more
 * stays. In each table of mailed links, a link two days past its expiry goes, one an hour
 * past it and an open one stay.
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
#include "workers/scheduler/scheduler_retention.h"

#define E1 "0190f5a0-0000-7000-8000-0000000c3001"
#define E2 "0190f5a0-0000-7000-8000-0000000c3002"
#define E3 "0190f5a0-0000-7000-8000-0000000c3003"
#define E4 "0190f5a0-0000-7000-8000-0000000c3004"

#define MINE                                                                                       \
    "SELECT coalesce(string_agg(right(event_id::text, 1), ' ' ORDER BY event_id), '')"             \
    " FROM analytics_seen_events WHERE event_id IN ('" E1 "', '" E2 "', '" E3 "', '" E4 "')"

static int setup(void **state) {
    if (stack_pg_open_in_txn(state, "test_stack_scheduler_retention", 30000) != 0)
        return -1;
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO analytics_seen_events (event_id, seen_at) VALUES"
                           " ('" E1 "', now() - interval '2 days'),"
                           " ('" E2 "', now() - interval '25 hours'),"
                           " ('" E3 "', now() - interval '23 hours')");
    stack_pg_exec(f->conn, "INSERT INTO analytics_seen_events (event_id) VALUES ('" E4 "')");
    return 0;
}

static void old_rows_go_fresh_ones_stay(void **state) {
    stack_pg *f = *state;
    char err[512] = "";
    stack_pg_expect(f->conn, MINE, "1 2 3 4");
    int n = scheduler_prune_seen(f->conn, 86400, err, sizeof err);
    if (n < 0)
        fail_msg("scheduler_prune_seen: %s", err);
    assert_true(n >= 2); /* others' committed old rows may go too */
    stack_pg_expect(f->conn, MINE, "3 4");
    n = scheduler_prune_seen(f->conn, 86400, err, sizeof err);
    if (n < 0)
        fail_msg("scheduler_prune_seen: %s", err);
    stack_pg_expect(f->conn, MINE, "3 4");
}

#define UID "0190f5a0-0000-7000-8000-0000000c3101"
#define PID "0190f5a0-0000-7000-8000-0000000c3102"
#define I1 "0190f5a0-0000-7000-8000-0000000c3111"
#define I2 "0190f5a0-0000-7000-8000-0000000c3112"
#define I3 "0190f5a0-0000-7000-8000-0000000c3113"
#define MY_INVITATIONS                                                                             \
    "SELECT coalesce(string_agg(right(id::text, 1), ' ' ORDER BY id), '')"                         \
    " FROM project_invitations WHERE project_id = '" PID "'"

/* Invitations past expires_at go (the earliest first); one still open stays. */
static void expired_invitations_go_open_ones_stay(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
                           " ('" UID "', 'retention-inviter@example.test', 'x', 'Inviter')");
    stack_pg_exec(f->conn, "INSERT INTO projects (id, name) VALUES ('" PID "', 'Retention')");
    stack_pg_exec(
        f->conn,
        "INSERT INTO project_invitations (id, project_id, email, role, invited_by,"
        " expires_at) VALUES"
        " ('" I1 "', '" PID "', 'a@example.test', 'editor', '" UID "', now() - interval '8 days'),"
        " ('" I2 "', '" PID "', 'b@example.test', 'viewer', '" UID
        "', now() - interval '1 second'),"
        " ('" I3 "', '" PID "', 'c@example.test', 'editor', '" UID "', now() + interval '1 day')");
    char err[512] = "";
    stack_pg_expect(f->conn, MY_INVITATIONS, "1 2 3");
    int n = scheduler_prune_invitations(f->conn, err, sizeof err);
    if (n < 0)
        fail_msg("scheduler_prune_invitations: %s", err);
    assert_true(n >= 2); /* others' committed expired rows may go too */
    stack_pg_expect(f->conn, MY_INVITATIONS, "3");
    n = scheduler_prune_invitations(f->conn, err, sizeof err);
    if (n < 0)
        fail_msg("scheduler_prune_invitations: %s", err);
    stack_pg_expect(f->conn, MY_INVITATIONS, "3");
}

/* A token hash of 32 bytes whose last byte is n (hex digit pair). */
#define HASH(n)                                                                                    \
    "decode('"                                                                                     \
    "00000000000000000000000000000000000000000000000000000000000c32" n "', 'hex')"
#define MY_LINKS(table)                                                                            \
    "SELECT coalesce(string_agg(right(encode(token_hash, 'hex'), 1), ' ' ORDER BY token_hash),"    \
    " '') FROM " table " WHERE token_hash >= " HASH("00") " AND token_hash <= " HASH("ff")

/* Each table of mailed links: a link two days past its expiry goes; one an hour past it
 * (within the day's grace) and an open one stay. A reset's decoy row (no user, no address)
 * goes like any. */
static void links_a_day_past_their_expiry_go(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
                           " ('" UID "', 'retention-links@example.test', 'x', 'Links')"
                           " ON CONFLICT (id) DO NOTHING");
    stack_pg_exec(f->conn,
                  "INSERT INTO email_verifications (token_hash, user_id, expires_at) VALUES"
                  " (" HASH("01") ", '" UID "', now() - interval '2 days'),"
                                  " (" HASH("02") ", '" UID "', now() - interval '1 hour'),"
                                                  " (" HASH("03") ", '" UID
                                                                  "', now() + interval '1 hour')");
    stack_pg_exec(
        f->conn,
        "INSERT INTO password_resets (token_hash, user_id, email, created_at,"
        " expires_at) VALUES"
        " (" HASH("01") ", NULL, NULL, now(), now() - interval '2 days'),"
                        " (" HASH(
                            "02") ", '" UID "', 'retention-links@example.test', now(),"
                                  " now() - interval '1 hour'),"
                                  " (" HASH(
                                      "03") ", NULL, NULL, now(), now() + interval '1 hour')");
    stack_pg_exec(
        f->conn,
        "INSERT INTO email_changes (token_hash, user_id, old_email, new_email,"
        " token_epoch, created_at, expires_at) VALUES"
        " (" HASH("01") ", '" UID "', 'a@example.test', 'b@example.test', 0,"
                        " now(), now() - interval '2 days'),"
                        " (" HASH("02") ", '" UID "', 'a@example.test', 'c@example.test', 0,"
                                        " now(), now() - interval '1 hour'),"
                                        " (" HASH("03") ", '" UID
                                                        "', 'a@example.test', 'd@example.test', 0,"
                                                        " now(), now() + interval '1 hour')");
    stack_pg_exec(f->conn,
                  "INSERT INTO email_change_reverts (id, token_hash, user_id, old_email, new_email,"
                  " created_at, expires_at) VALUES"
                  " (gen_random_uuid(), " HASH(
                      "01") ", '" UID "', 'a@example.test', 'b@example.test',"
                            " now(), now() - interval '2 days'),"
                            " (gen_random_uuid(), " HASH(
                                "02") ", '" UID "', 'a@example.test', 'c@example.test',"
                                      " now(), now() - interval '1 hour'),"
                                      " (gen_random_uuid(), " HASH(
                                          "03") ", '" UID "', 'a@example.test', 'd@example.test',"
                                                " now(), now() + interval '1 hour')");
    stack_pg_exec(f->conn,
                  "INSERT INTO pending_registrations (id, token_hash, email, password_hash,"
                  " display_name, created_at, expires_at) VALUES"
                  " (gen_random_uuid(), " HASH(
                      "01") ", 'a@example.test', 'x', 'A',"
                            " now(), now() - interval '2 days'),"
                            " (gen_random_uuid(), " HASH(
                                "02") ", 'a@example.test', 'x', 'A',"
                                      " now(), now() - interval '1 hour'),"
                                      " (gen_random_uuid(), " HASH(
                                          "03") ", 'a@example.test', 'x', 'A',"
                                                " now(), now() + interval '1 hour')");
    static const char *const TABLES[SCHEDULER_LINK_TABLES] = {
        MY_LINKS("email_verifications"), MY_LINKS("password_resets"), MY_LINKS("email_changes"),
        MY_LINKS("email_change_reverts"), MY_LINKS("pending_registrations")};
    char err[512] = "";
    for (int t = 0; t < SCHEDULER_LINK_TABLES; t++) {
        stack_pg_expect(f->conn, TABLES[t], "1 2 3");
        int n = scheduler_prune_links(f->conn, t, err, sizeof err);
        if (n < 0)
            fail_msg("scheduler_prune_links(%d): %s", t, err);
        assert_true(n >= 1); /* others' committed old rows may go too */
        stack_pg_expect(f->conn, TABLES[t], "2 3");
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(old_rows_go_fresh_ones_stay),
        cmocka_unit_test(expired_invitations_go_open_ones_stay),
        cmocka_unit_test(links_a_day_past_their_expiry_go),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
