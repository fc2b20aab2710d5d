/*
 * admin_cli.c: the command line of taskbus-admin (see admin_cli.h).
 */
#include "tools/admin/admin_cli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"

const char ADMIN_USAGE[] =
    "usage: taskbus-admin COMMAND\n"
    "\n"
    "commands:\n"
    "  migrate                 apply pending SQL migrations (prints how many)\n"
    "  topics                  create the Kafka topics of the bus (idempotent)\n"
    "  wait-ready [SECONDS]    wait until Postgres, Redis and Kafka answer (default 60)\n"
    "  set-role EMAIL ROLE     make a user 'user' or 'admin' (their old tokens stop working)\n"
    "  delete-user EMAIL       delete an account and its data; its tokens stop working at once\n"
    "  reset-consumer NAME     forget what analytics|activity built; its next start rebuilds it\n"
    "  replay-dlq TOPIC        re-produce TOPIC.dlq's new dead letters to TOPIC\n"
    "  --help                  this text and the configuration variables\n";

/* One row of the command table: the word and how many arguments follow it. */
typedef struct command_row {
    const char *word;
    admin_command command;
    int min_args, max_args;
} command_row;

static const command_row COMMANDS[] = {
    {"--help", ADMIN_CMD_HELP, 0, 0},
    {"-h", ADMIN_CMD_HELP, 0, 0},
    {"migrate", ADMIN_CMD_MIGRATE, 0, 0},
    {"topics", ADMIN_CMD_TOPICS, 0, 0},
    {"wait-ready", ADMIN_CMD_WAIT_READY, 0, 1},
    {"set-role", ADMIN_CMD_SET_ROLE, 2, 2},
    {"delete-user", ADMIN_CMD_DELETE_USER, 1, 1},
    {"reset-consumer", ADMIN_CMD_RESET_CONSUMER, 1, 1},
    {"replay-dlq", ADMIN_CMD_REPLAY_DLQ, 1, 1},
};

/* Parses an optional positive number of seconds. -1 when malformed. */
static int parse_seconds(const char *text) {
    if (text == NULL) {
        return ADMIN_WAIT_READY_DEFAULT_S;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > 86400) {
        return -1;
    }
    return (int)v;
}

int admin_cli_parse(int argc, char **argv, admin_invocation *out, char *why, size_t whylen) {
    *out = (admin_invocation){.seconds = ADMIN_WAIT_READY_DEFAULT_S};
    if (argc < 2) {
        errbuf_setf(why, whylen, "missing command");
        return -1;
    }
    int nargs = argc - 2;
    /* --help wins whatever follows it, as it always did. */
    bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        const command_row *row = &COMMANDS[i];
        if (strcmp(argv[1], row->word) != 0 ||
            (!help && (nargs < row->min_args || nargs > row->max_args))) {
            continue;
        }
        out->command = row->command;
        for (int a = 0; a < nargs && a < 2 && !help; a++) {
            out->args[a] = argv[2 + a];
        }
        if (row->command == ADMIN_CMD_WAIT_READY &&
            (out->seconds = parse_seconds(out->args[0])) < 0) {
            errbuf_setf(why, whylen, "wait-ready takes a number of seconds (1-86400)");
            return -1;
        }
        return 0;
    }
    errbuf_setf(why, whylen, "unknown command or wrong arguments: %.100s", argv[1]);
    return -1;
}
