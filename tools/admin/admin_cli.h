/*
 * admin_cli.h: the command line of taskbus-admin.
 *
 * Owns: the usage text and the command table: which words name a command, how many
 * arguments each takes, the check of wait-ready's SECONDS (1-86400, default
 * ADMIN_WAIT_READY_DEFAULT_S), and the `dlq` sub-commands (list | show | replay | skip)
 * with their POSITION (PARTITION:OFFSET, or a bare OFFSET) and flags. Rules: parsing reads argv
 * only (no configuration, no output); a usage error says why in one line, and main answers it with
 * exit code 2.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_CLI_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_WAIT_READY_DEFAULT_S 60

typedef enum {
    ADMIN_CMD_HELP,
    ADMIN_CMD_MIGRATE,
    ADMIN_CMD_TOPICS,
    ADMIN_CMD_WAIT_READY,
    ADMIN_CMD_SET_ROLE,       /* args[0] EMAIL, args[1] ROLE */
    ADMIN_CMD_DELETE_USER,    /* args[0] EMAIL */
    ADMIN_CMD_RESET_CONSUMER, /* args[0] NAME, [--accept-partial] (before or after) */
    ADMIN_CMD_REPLAY_DLQ,     /* args[0] TOPIC: dlq replay TOPIC --all, the old spelling */
    ADMIN_CMD_DLQ_LIST,       /* dlq list TOPIC [--json] */
    ADMIN_CMD_DLQ_SHOW,       /* dlq show TOPIC POSITION [--json] */
    ADMIN_CMD_DLQ_REPLAY,     /* dlq replay TOPIC (--offset POSITION | --all) [--json] */
    ADMIN_CMD_DLQ_SKIP,       /* dlq skip TOPIC POSITION [--json] */
    ADMIN_CMD_BACKFILL_TASK_STATE,
} admin_command;

/* A dead letter's place: PARTITION:OFFSET, or a bare OFFSET (partition -1: the job
 * accepts it only when the dead-letter topic has one partition). */
typedef struct admin_dlq_position {
    int32_t partition; /* -1 when not given */
    int64_t offset;    /* -1 when no position was given */
} admin_dlq_position;

/* The arguments of a dlq command (and of replay-dlq). */
typedef struct admin_dlq_args {
    const char *topic; /* a dead-letter topic or its source topic (borrowed from argv) */
    admin_dlq_position at;
    bool all;  /* replay --all (and replay-dlq) */
    bool json; /* --json */
} admin_dlq_args;

typedef struct admin_invocation {
    admin_command command;
    const char *args[2]; /* the command's arguments (borrowed from argv), NULL past them */
    int seconds;         /* wait-ready */
    admin_dlq_args dlq;  /* dlq ... and replay-dlq */
    bool accept_partial; /* reset-consumer --accept-partial */
} admin_invocation;

/* The text of --help before the configuration variables, and after a usage error. */
extern const char ADMIN_USAGE[];

/* Parses argv into *out. 0, or -1 with why (a usage error). */
int admin_cli_parse(int argc, char **argv, admin_invocation *out, char *why, size_t whylen);

/* Parses a POSITION: "P:N" or "N" (digits only, P <= INT32_MAX). 0, or -1. */
int admin_dlq_position_parse(const char *text, admin_dlq_position *out);

#endif
