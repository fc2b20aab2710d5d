/*
 * test_admin_cli.c: taskbus-admin's command line and reset targets
 * (tools/admin/admin_cli.c, admin_reset_consumer.c): every command with its exact number
 * of arguments, --help/-h whatever follows, wait-ready's SECONDS (default 60, 1-86400,
 * digits only), and the usage errors (no command, unknown word, too few or too many
 * arguments); reset-consumer's --accept-partial (before or after NAME, once); the reset
 * targets name the consumers' groups and tables, and nothing else
 * is a target; the dlq sub-commands (list, show, replay --offset | --all, skip, --json),
 * replay-dlq as dlq replay --all, their positions (PARTITION:OFFSET or OFFSET) and usage
 * errors, and the naming of a dead-letter topic from either of its names
 * (admin_dlq_read.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tools/admin/admin_cli.h"
#include "tools/admin/admin_dlq_read.h"
#include "tools/admin/admin_reset_consumer.h"

/* Parses the NULL-terminated words after the program name. */
static int parse(admin_invocation *inv, char *why, const char *const *words) {
    char *argv[8] = {"taskbus-admin"};
    int argc = 1;
    while (words[argc - 1] != NULL) {
        argv[argc] = (char *)words[argc - 1];
        argc++;
    }
    return admin_cli_parse(argc, argv, inv, why, 160);
}

#define PARSE(inv, why, ...) parse(inv, why, (const char *const[]){__VA_ARGS__, NULL})

static void test_commands_and_arguments(void **state) {
    (void)state;
    admin_invocation inv;
    char why[160];
    assert_int_equal(PARSE(&inv, why, "migrate"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_MIGRATE);
    assert_null(inv.args[0]);
    assert_int_equal(PARSE(&inv, why, "topics"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_TOPICS);
    assert_int_equal(PARSE(&inv, why, "set-role", "A@Example.test", "admin"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_SET_ROLE);
    assert_string_equal(inv.args[0], "A@Example.test");
    assert_string_equal(inv.args[1], "admin");
    assert_int_equal(PARSE(&inv, why, "delete-user", "a@example.test"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_DELETE_USER);
    assert_string_equal(inv.args[0], "a@example.test");
    assert_null(inv.args[1]);
    assert_int_equal(PARSE(&inv, why, "reset-consumer", "analytics"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_RESET_CONSUMER);
    assert_string_equal(inv.args[0], "analytics");
    assert_false(inv.accept_partial);
    /* --accept-partial before or after NAME; NAME stays args[0]. */
    assert_int_equal(PARSE(&inv, why, "reset-consumer", "activity", "--accept-partial"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_RESET_CONSUMER);
    assert_string_equal(inv.args[0], "activity");
    assert_null(inv.args[1]);
    assert_true(inv.accept_partial);
    assert_int_equal(PARSE(&inv, why, "reset-consumer", "--accept-partial", "analytics"), 0);
    assert_string_equal(inv.args[0], "analytics");
    assert_null(inv.args[1]);
    assert_true(inv.accept_partial);
    assert_int_equal(PARSE(&inv, why, "replay-dlq", "task-commands"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_REPLAY_DLQ);
    assert_string_equal(inv.args[0], "task-commands");
    /* replay-dlq is dlq replay --all under its old name. */
    assert_string_equal(inv.dlq.topic, "task-commands");
    assert_true(inv.dlq.all);
    assert_false(inv.dlq.json);
}

static void test_dlq_commands(void **state) {
    (void)state;
    admin_invocation inv;
    char why[160];
    assert_int_equal(PARSE(&inv, why, "dlq", "list", "task-commands"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_DLQ_LIST);
    assert_string_equal(inv.dlq.topic, "task-commands");
    assert_false(inv.dlq.json);
    assert_int_equal(inv.dlq.at.offset, -1);
    assert_int_equal(PARSE(&inv, why, "dlq", "list", "--json", "notifications.dlq"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_DLQ_LIST);
    assert_string_equal(inv.dlq.topic, "notifications.dlq");
    assert_true(inv.dlq.json);

    assert_int_equal(PARSE(&inv, why, "dlq", "show", "task-commands", "3:17"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_DLQ_SHOW);
    assert_int_equal(inv.dlq.at.partition, 3);
    assert_int_equal(inv.dlq.at.offset, 17);
    assert_int_equal(PARSE(&inv, why, "dlq", "show", "task-commands", "42", "--json"), 0);
    assert_int_equal(inv.dlq.at.partition, -1);
    assert_int_equal(inv.dlq.at.offset, 42);
    assert_true(inv.dlq.json);

    assert_int_equal(PARSE(&inv, why, "dlq", "skip", "task-commands.dlq", "0:0"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_DLQ_SKIP);
    assert_int_equal(inv.dlq.at.partition, 0);
    assert_int_equal(inv.dlq.at.offset, 0);

    assert_int_equal(PARSE(&inv, why, "dlq", "replay", "task-commands", "--all"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_DLQ_REPLAY);
    assert_true(inv.dlq.all);
    assert_int_equal(inv.dlq.at.offset, -1);
    assert_int_equal(PARSE(&inv, why, "dlq", "replay", "--offset", "5:9", "task-commands"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_DLQ_REPLAY);
    assert_false(inv.dlq.all);
    assert_string_equal(inv.dlq.topic, "task-commands");
    assert_int_equal(inv.dlq.at.partition, 5);
    assert_int_equal(inv.dlq.at.offset, 9);
    assert_int_equal(PARSE(&inv, why, "dlq", "replay", "task-commands", "--offset", "9"), 0);
    assert_int_equal(inv.dlq.at.partition, -1);
    assert_int_equal(inv.dlq.at.offset, 9);
}

static void test_dlq_usage_errors(void **state) {
    (void)state;
    admin_invocation inv;
    char why[160];
    assert_int_equal(PARSE(&inv, why, "dlq"), -1);
    assert_string_equal(why, "dlq takes list, show, replay or skip");
    assert_int_equal(PARSE(&inv, why, "dlq", "purge", "task-commands"), -1);
    assert_int_equal(PARSE(&inv, why, "dlq", "list"), -1);
    assert_string_equal(why, "dlq list: missing TOPIC");
    assert_int_equal(PARSE(&inv, why, "dlq", "list", "a", "b"), -1);
    assert_string_equal(why, "dlq list: too many arguments");
    assert_int_equal(PARSE(&inv, why, "dlq", "show", "task-commands"), -1);
    assert_string_equal(why, "dlq show: missing POSITION");
    assert_int_equal(PARSE(&inv, why, "dlq", "skip", "task-commands", "1:2", "3"), -1);
    /* replay needs exactly one of --offset and --all. */
    assert_int_equal(PARSE(&inv, why, "dlq", "replay", "task-commands"), -1);
    assert_string_equal(why, "dlq replay takes exactly one of --offset POSITION and --all");
    assert_int_equal(PARSE(&inv, why, "dlq", "replay", "task-commands", "--all", "--offset", "1"),
                     -1);
    assert_int_equal(PARSE(&inv, why, "dlq", "replay", "task-commands", "--all", "--all"), -1);
    assert_int_equal(PARSE(&inv, why, "dlq", "replay", "task-commands", "--offset"), -1);
    assert_int_equal(PARSE(&inv, why, "dlq", "replay", "task-commands", "3"), -1);
    /* --all and --offset belong to replay only; unknown options are refused. */
    assert_int_equal(PARSE(&inv, why, "dlq", "list", "task-commands", "--all"), -1);
    assert_int_equal(PARSE(&inv, why, "dlq", "skip", "task-commands", "--offset", "1"), -1);
    assert_int_equal(PARSE(&inv, why, "dlq", "list", "task-commands", "--jsn"), -1);
    /* Positions: digits, one optional colon, both sides present. */
    static const char *const BAD[] = {"",
                                      "-1",
                                      "1:",
                                      ":1",
                                      "1:2:3",
                                      "a",
                                      "1.5",
                                      "0x10",
                                      "12345678901:0",
                                      "1:1234567890123456789",
                                      " 1"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        why[0] = '\0';
        assert_int_equal(PARSE(&inv, why, "dlq", "show", "task-commands", BAD[i]), -1);
        assert_non_null(strstr(why, "position"));
    }
    admin_dlq_position at;
    assert_int_equal(admin_dlq_position_parse("2147483647:123456789012345678", &at), 0);
    assert_int_equal(at.partition, 2147483647);
    assert_true(at.offset == 123456789012345678LL);
    assert_int_equal(admin_dlq_position_parse("2147483648:1", &at), -1);
}

static void test_dlq_names(void **state) {
    (void)state;
    admin_dlq_names n;
    assert_int_equal(admin_dlq_names_of("task-commands", &n), 0);
    assert_string_equal(n.source, "task-commands");
    assert_string_equal(n.dlq, "task-commands.dlq");
    assert_int_equal(admin_dlq_names_of("notifications.dlq", &n), 0);
    assert_string_equal(n.source, "notifications");
    assert_string_equal(n.dlq, "notifications.dlq");
    assert_int_equal(admin_dlq_names_of(".dlq", &n), -1);
    assert_int_equal(admin_dlq_names_of("", &n), -1);
    assert_int_equal(admin_dlq_names_of("task commands", &n), -1);
    assert_int_equal(admin_dlq_names_of("a/b", &n), -1);
    assert_int_equal(admin_dlq_names_of(NULL, &n), -1);
    char longname[202];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(admin_dlq_names_of(longname, &n), -1);
}

static void test_help_wins(void **state) {
    (void)state;
    admin_invocation inv;
    char why[160];
    assert_int_equal(PARSE(&inv, why, "--help"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_HELP);
    assert_int_equal(PARSE(&inv, why, "-h", "anything", "else"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_HELP);
    assert_non_null(strstr(ADMIN_USAGE, "reset-consumer NAME [--accept-partial]"));
}

static void test_wait_ready_seconds(void **state) {
    (void)state;
    admin_invocation inv;
    char why[160];
    assert_int_equal(PARSE(&inv, why, "wait-ready"), 0);
    assert_int_equal(inv.command, ADMIN_CMD_WAIT_READY);
    assert_int_equal(inv.seconds, ADMIN_WAIT_READY_DEFAULT_S);
    assert_int_equal(PARSE(&inv, why, "wait-ready", "1"), 0);
    assert_int_equal(inv.seconds, 1);
    assert_int_equal(PARSE(&inv, why, "wait-ready", "86400"), 0);
    assert_int_equal(inv.seconds, 86400);
    static const char *const BAD[] = {"0", "86401", "-5", "", "12s", "1e3", "99999999999999999999"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        why[0] = '\0';
        assert_int_equal(PARSE(&inv, why, "wait-ready", BAD[i]), -1);
        assert_non_null(strstr(why, "1-86400"));
    }
}

static void test_usage_errors(void **state) {
    (void)state;
    admin_invocation inv;
    char why[160];
    char *argv[1] = {"taskbus-admin"};
    assert_int_equal(admin_cli_parse(1, argv, &inv, why, sizeof why), -1);
    assert_string_equal(why, "missing command");
    assert_int_equal(PARSE(&inv, why, "migrate", "extra"), -1);
    assert_string_equal(why, "unknown command or wrong arguments: migrate");
    assert_int_equal(PARSE(&inv, why, "set-role", "a@example.test"), -1);
    assert_int_equal(PARSE(&inv, why, "delete-user"), -1);
    assert_int_equal(PARSE(&inv, why, "reset-consumer", "a", "b"), -1);
    assert_string_equal(why, "reset-consumer takes NAME and optionally --accept-partial");
    /* The flag alone, twice, misspelt, or with more words: refused. */
    assert_int_equal(PARSE(&inv, why, "reset-consumer", "--accept-partial"), -1);
    assert_string_equal(why, "reset-consumer takes NAME and optionally --accept-partial");
    assert_int_equal(PARSE(&inv, why, "reset-consumer", "--accept-partial", "--accept-partial"),
                     -1);
    assert_int_equal(PARSE(&inv, why, "reset-consumer", "analytics", "--accept-partal"), -1);
    assert_int_equal(PARSE(&inv, why, "reset-consumer", "analytics", "--accept-partial", "x"), -1);
    assert_int_equal(PARSE(&inv, why, "wait-ready", "1", "2"), -1);
    assert_int_equal(PARSE(&inv, why, "Migrate"), -1);
    assert_int_equal(PARSE(&inv, why, "frobnicate"), -1);
    assert_string_equal(why, "unknown command or wrong arguments: frobnicate");
}

static void test_reset_targets(void **state) {
    (void)state;
    const admin_reset_target *t = admin_reset_target_find("analytics");
    assert_non_null(t);
    assert_string_equal(t->group, "taskbus-analytics");
    assert_string_equal(t->tables[0], "analytics_daily");
    assert_string_equal(t->tables[1], "analytics_completions");
    assert_string_equal(t->tables[2], "analytics_project_daily");
    assert_string_equal(t->tables[3], "analytics_project_completions");
    assert_string_equal(t->tables[4], "analytics_seen_events");
    assert_null(t->tables[5]);
    t = admin_reset_target_find("activity");
    assert_non_null(t);
    assert_string_equal(t->group, "taskbus-activity");
    assert_string_equal(t->tables[0], "activity");
    assert_string_equal(t->tables[1], "project_activity");
    assert_null(t->tables[2]);
    assert_null(admin_reset_target_find("webhooks"));
    assert_null(admin_reset_target_find("users"));
    assert_null(admin_reset_target_find(""));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_and_arguments), cmocka_unit_test(test_help_wins),
        cmocka_unit_test(test_wait_ready_seconds),     cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_reset_targets),          cmocka_unit_test(test_dlq_commands),
        cmocka_unit_test(test_dlq_usage_errors),       cmocka_unit_test(test_dlq_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
