/*
 * admin_cli.h: the command line of taskbus-admin.
 *
 * Owns: the usage text and the command table: which words name a command, how many
 * arguments each takes, and the check of wait-ready's SECONDS (1-86400, default
 * ADMIN_WAIT_READY_DEFAULT_S). Rules: parsing reads argv only (no configuration, no
 * output); a usage error says why in one line, and main answers it with exit code 2.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_CLI_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_CLI_H

#include <stddef.h>

#define ADMIN_WAIT_READY_DEFAULT_S 60

typedef enum {
    ADMIN_CMD_HELP,
    ADMIN_CMD_MIGRATE,
    ADMIN_CMD_TOPICS,
    ADMIN_CMD_WAIT_READY,
    ADMIN_CMD_SET_ROLE,       /* args[0] EMAIL, args[1] ROLE */
    ADMIN_CMD_DELETE_USER,    /* args[0] EMAIL */
    ADMIN_CMD_RESET_CONSUMER, /* args[0] NAME */
    ADMIN_CMD_REPLAY_DLQ,     /* args[0] TOPIC */
} admin_command;

typedef struct admin_invocation {
    admin_command command;
    const char *args[2]; /* the command's arguments (borrowed from argv), NULL past them */
    int seconds;         /* wait-ready */
} admin_invocation;

/* The text of --help before the configuration variables, and after a usage error. */
extern const char ADMIN_USAGE[];

/* Parses argv into *out. 0, or -1 with why (a usage error). */
int admin_cli_parse(int argc, char **argv, admin_invocation *out, char *why, size_t whylen);

#endif
