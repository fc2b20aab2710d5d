/*
 * test_stack_notifier_links.c: the reset link the notifier makes (workers/notifier/
 * notifier_links.c) against real Postgres, inside one transaction that is rolled back.
 *
 * Needs DATABASE_URL; without it the test FAILS. A password_reset message naming an open
 * row of its recipient (user_id and to) gets a reset_url whose token's SHA-256 is then the row's
 * hash (and reset_id leaves the data); making it again replaces the hash (the first token redeems
 * nothing any more); an expired or used row, or one that is gone, is CLOSED and its hash stays, as
 * is a row named with another recipient, or of an account whose address changed since; a reset_id
 * that is no UUID is MALFORMED; any other message, or a password_reset that carries its
 * reset_url already (written before migration 0033), is left alone (NONE). The revert link
 * of an address change (email_change_revert, {revert_id}) is made the same way in its own
 * table, and so is a registration's (register_confirm, {registration_id}), only while its
 * address has no account.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/mail_token.h"
#include "tests/unit/stack_pg.h"
#include "workers/notifier/notifier_links.h"

#define OPEN_ID "0190f5a0-0000-7000-8000-0000000c4001"
#define EXPIRED_ID "0190f5a0-0000-7000-8000-0000000c4002"
#define USED_ID "0190f5a0-0000-7000-8000-0000000c4003"
#define GONE_ID "0190f5a0-0000-7000-8000-0000000c4004"
#define RESET_USER "0190f5a0-0000-7000-8000-0000000c4005"
#define RESET_TO "links-reset@example.test"
#define PAGE "https://taskbus.example/reset-password?token="

static int setup(void **state) {
    if (sodium_init() < 0 || stack_pg_open_in_txn(state, "test_stack_notifier_links", 30000) != 0)
        return -1;
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
                           " ('" RESET_USER "', '" RESET_TO "', 'x', 'Reset')");
    stack_pg_exec(f->conn,
                  "INSERT INTO password_resets (id, token_hash, user_id, email, created_at,"
                  " expires_at, used_at) VALUES ('" OPEN_ID "', sha256('sealed-1'), '" RESET_USER
                  "', '" RESET_TO "', now(), now() + interval '1 hour', NULL), ('" EXPIRED_ID
                  "', sha256('sealed-2'), '" RESET_USER "', '" RESET_TO "', now() - interval"
                  " '2 hours', now() - interval '1 second', NULL), ('" USED_ID "',"
                  " sha256('sealed-3'), '" RESET_USER "', '" RESET_TO "', now(),"
                  " now() + interval '1 hour', now())");
    return 0;
}

static taskbus_config config(void) {
    static char url[] = "https://taskbus.example";
    taskbus_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.public_url = url;
    return cfg;
}

static json_t *message_to(const char *reset_id, const char *user_id, const char *to) {
    return json_pack("{s:s,s:s,s:s,s:{s:s}}", "kind", "password_reset", "user_id", user_id, "to",
                     to, "data", "reset_id", reset_id);
}

static json_t *reset_message(const char *reset_id) {
    return message_to(reset_id, RESET_USER, RESET_TO);
}

/* The SHA-256 (hex) stored for row id. */
static char *stored_hash(pg_conn *c, const char *id) {
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT encode(token_hash, 'hex') FROM password_resets WHERE id = '%s'", id);
    return stack_pg_text(c, sql);
}

/* Makes the link of id: the token of its reset_url (into token), with MADE asserted. */
static void make_link(pg_conn *c, const char *id, char token[MAIL_TOKEN_BUF]) {
    taskbus_config cfg = config();
    json_t *msg = reset_message(id);
    char err[256] = "";
    assert_int_equal(notifier_links_make(&cfg, c, msg, err, sizeof err), NOTIFIER_LINK_MADE);
    json_t *data = json_object_get(msg, "data");
    const char *url = json_string_value(json_object_get(data, "reset_url"));
    assert_non_null(url);
    assert_null(json_object_get(data, "reset_id"));
    assert_int_equal(strncmp(url, PAGE, strlen(PAGE)), 0);
    assert_true(mail_token_well_formed(url + strlen(PAGE)));
    snprintf(token, MAIL_TOKEN_BUF, "%s", url + strlen(PAGE));
    json_decref(msg);
}

static void an_open_row_gets_the_hash_of_the_mailed_token(void **state) {
    stack_pg *f = *state;
    char first[MAIL_TOKEN_BUF], second[MAIL_TOKEN_BUF], hex[MAIL_TOKEN_HASH_HEX_BUF];
    make_link(f->conn, OPEN_ID, first);
    mail_token_hash(first, hex);
    char *got = stored_hash(f->conn, OPEN_ID);
    assert_string_equal(got, hex);
    free(got);
    /* Again (a redone batch): a new token, whose hash replaces the first one's. */
    make_link(f->conn, OPEN_ID, second);
    assert_string_not_equal(first, second);
    mail_token_hash(second, hex);
    got = stored_hash(f->conn, OPEN_ID);
    assert_string_equal(got, hex);
    free(got);
}

static void closed_rows_get_no_link(void **state) {
    stack_pg *f = *state;
    taskbus_config cfg = config();
    const char *closed[] = {EXPIRED_ID, USED_ID, GONE_ID};
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
        json_t *msg = reset_message(closed[i]);
        char err[256] = "";
        assert_int_equal(notifier_links_make(&cfg, f->conn, msg, err, sizeof err),
                         NOTIFIER_LINK_CLOSED);
        assert_null(json_object_get(json_object_get(msg, "data"), "reset_url"));
        json_decref(msg);
    }
    stack_pg_expect(f->conn,
                    "SELECT count(*) FROM password_resets WHERE id IN ('" EXPIRED_ID "', '" USED_ID
                    "') AND token_hash IN (sha256('sealed-2'), sha256('sealed-3'))",
                    "2");
}

/* A message naming an open row but another recipient (forged onto the topic), or the
 * account that moved to another address since, gets no live token: the hash stays. */
static void only_the_rows_recipient_gets_a_link(void **state) {
    stack_pg *f = *state;
    taskbus_config cfg = config();
    char *before = stored_hash(f->conn, OPEN_ID);
    json_t *forged[] = {message_to(OPEN_ID, RESET_USER, "attacker@example.test"),
                        message_to(OPEN_ID, GONE_ID, RESET_TO)};
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        char err[256] = "";
        assert_int_equal(notifier_links_make(&cfg, f->conn, forged[i], err, sizeof err),
                         NOTIFIER_LINK_CLOSED);
        json_decref(forged[i]);
    }
    stack_pg_exec(
        f->conn, "UPDATE users SET email = 'links-moved@example.test' WHERE id = '" RESET_USER "'");
    json_t *msg = reset_message(OPEN_ID);
    char err[256] = "";
    assert_int_equal(notifier_links_make(&cfg, f->conn, msg, err, sizeof err),
                     NOTIFIER_LINK_CLOSED);
    json_decref(msg);
    stack_pg_exec(f->conn, "UPDATE users SET email = '" RESET_TO "' WHERE id = '" RESET_USER "'");
    char *after = stored_hash(f->conn, OPEN_ID);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

#define REVERT_ID "0190f5a0-0000-7000-8000-0000000c4011"
#define REVERT_USER "0190f5a0-0000-7000-8000-0000000c4012"
#define REVERT_PAGE "https://taskbus.example/revert-email-change?token="

/* The revert link of an address change: the same, in its own table and member names. */
static void a_revert_link_is_made_the_same_way(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn, "INSERT INTO users (id, email, password_hash, display_name) VALUES"
                           " ('" REVERT_USER "', 'links-revert@example.test', 'x', 'Revert')");
    stack_pg_exec(f->conn,
                  "INSERT INTO email_change_reverts (id, token_hash, user_id, old_email, new_email,"
                  " created_at, expires_at) VALUES ('" REVERT_ID
                  "', sha256('sealed-r'), '" REVERT_USER
                  "', 'old@example.test', 'links-revert@example.test', now(),"
                  " now() + interval '7 days')");
    taskbus_config cfg = config();
    json_t *msg = json_pack("{s:s,s:s,s:s,s:{s:s}}", "kind", "email_change_revert", "user_id",
                            REVERT_USER, "to", "old@example.test", "data", "revert_id", REVERT_ID);
    char err[256] = "";
    /* Not to the address the change left (the intruder's): no live token. */
    json_t *forged =
        json_pack("{s:s,s:s,s:s,s:{s:s}}", "kind", "email_change_revert", "user_id", REVERT_USER,
                  "to", "links-revert@example.test", "data", "revert_id", REVERT_ID);
    assert_int_equal(notifier_links_make(&cfg, f->conn, forged, err, sizeof err),
                     NOTIFIER_LINK_CLOSED);
    json_decref(forged);
    assert_true(notifier_links_needed(msg));
    assert_int_equal(notifier_links_make(&cfg, f->conn, msg, err, sizeof err), NOTIFIER_LINK_MADE);
    json_t *data = json_object_get(msg, "data");
    const char *url = json_string_value(json_object_get(data, "revert_url"));
    assert_non_null(url);
    assert_null(json_object_get(data, "revert_id"));
    assert_int_equal(strncmp(url, REVERT_PAGE, strlen(REVERT_PAGE)), 0);
    char hex[MAIL_TOKEN_HASH_HEX_BUF];
    mail_token_hash(url + strlen(REVERT_PAGE), hex);
    char *got = stack_pg_text(f->conn, "SELECT encode(token_hash, 'hex') FROM"
                                       " email_change_reverts WHERE id = '" REVERT_ID "'");
    assert_string_equal(got, hex);
    free(got);
    json_decref(msg);
}

#define REG_FREE "0190f5a0-0000-7000-8000-0000000c4021"
#define REG_TAKEN "0190f5a0-0000-7000-8000-0000000c4022"
#define REG_PAGE "https://taskbus.example/confirm-registration?token="

static json_t *registration_message(const char *id, const char *to) {
    return json_pack("{s:s,s:s,s:s,s:{s:s}}", "kind", "register_confirm", "user_id", id, "to", to,
                     "data", "registration_id", id);
}

/* A registration's link: made for its own id and address while the address has no
 * account; a row of a taken address, or a message naming the row with another user_id,
 * gets none. */
static void a_registration_link_is_made_only_for_a_free_address(void **state) {
    stack_pg *f = *state;
    stack_pg_exec(f->conn,
                  "INSERT INTO pending_registrations (id, token_hash, email, password_hash,"
                  " display_name, created_at, expires_at) VALUES ('" REG_FREE "',"
                  " sha256('sealed-f'), 'links-new@example.test', 'x', 'New', now(),"
                  " now() + interval '1 day'), ('" REG_TAKEN "', sha256('sealed-t'), '" RESET_TO
                  "', 'x', 'Taken', now(), now() + interval '1 day')");
    taskbus_config cfg = config();
    char err[256] = "";
    json_t *taken = registration_message(REG_TAKEN, RESET_TO);
    assert_int_equal(notifier_links_make(&cfg, f->conn, taken, err, sizeof err),
                     NOTIFIER_LINK_CLOSED);
    json_decref(taken);
    json_t *other =
        json_pack("{s:s,s:s,s:s,s:{s:s}}", "kind", "register_confirm", "user_id", REG_TAKEN, "to",
                  "links-new@example.test", "data", "registration_id", REG_FREE);
    assert_int_equal(notifier_links_make(&cfg, f->conn, other, err, sizeof err),
                     NOTIFIER_LINK_CLOSED);
    json_decref(other);
    json_t *msg = registration_message(REG_FREE, "links-new@example.test");
    assert_int_equal(notifier_links_make(&cfg, f->conn, msg, err, sizeof err), NOTIFIER_LINK_MADE);
    const char *url =
        json_string_value(json_object_get(json_object_get(msg, "data"), "confirm_url"));
    assert_non_null(url);
    assert_int_equal(strncmp(url, REG_PAGE, strlen(REG_PAGE)), 0);
    char hex[MAIL_TOKEN_HASH_HEX_BUF];
    mail_token_hash(url + strlen(REG_PAGE), hex);
    char *got = stack_pg_text(f->conn, "SELECT encode(token_hash, 'hex') FROM"
                                       " pending_registrations WHERE id = '" REG_FREE "'");
    assert_string_equal(got, hex);
    free(got);
    json_decref(msg);
}

static void other_messages_are_left_alone(void **state) {
    stack_pg *f = *state;
    taskbus_config cfg = config();
    char err[256] = "";
    json_t *bad = reset_message("not-a-uuid");
    assert_int_equal(notifier_links_make(&cfg, f->conn, bad, err, sizeof err),
                     NOTIFIER_LINK_MALFORMED);
    json_decref(bad);
    json_t *older = json_pack("{s:s,s:{s:s}}", "kind", "password_reset", "data", "reset_url",
                              "https://taskbus.example/reset-password?token=x");
    json_t *welcome = json_pack("{s:s,s:{s:s}}", "kind", "welcome", "data", "reset_id", OPEN_ID);
    assert_false(notifier_links_needed(older));
    assert_false(notifier_links_needed(welcome));
    assert_int_equal(notifier_links_make(&cfg, f->conn, older, err, sizeof err),
                     NOTIFIER_LINK_NONE);
    assert_int_equal(notifier_links_make(&cfg, f->conn, welcome, err, sizeof err),
                     NOTIFIER_LINK_NONE);
    json_decref(older);
    json_decref(welcome);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_open_row_gets_the_hash_of_the_mailed_token),
        cmocka_unit_test(closed_rows_get_no_link),
        cmocka_unit_test(only_the_rows_recipient_gets_a_link),
        cmocka_unit_test(a_revert_link_is_made_the_same_way),
        cmocka_unit_test(a_registration_link_is_made_only_for_a_free_address),
        cmocka_unit_test(other_messages_are_left_alone),
    };
    return cmocka_run_group_tests(tests, setup, stack_pg_close);
}
