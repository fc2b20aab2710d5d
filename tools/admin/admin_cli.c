/*
 * admin_cli.c: the command line of taskbus-admin (see admin_cli.h).
 */
#include "tools/admin/admin_cli.h"

#include <errno.h>
#include <stdint.h>
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
    "  topics                  create the bus's topics, set their retention (idempotent)\n"
    "  wait-ready [SECONDS]    wait until Postgres, Redis and Kafka answer (default 60)\n"
    "  set-role EMAIL ROLE     make a user 'user' or 'admin' (their old tokens stop working)\n"
    "  delete-user EMAIL       delete an account and its data; its tokens stop working at once\n"
    "  reset-consumer NAME [--accept-partial]\n"
    "                          forget what analytics|activity built; its next start rebuilds\n"
    "                          it from task-events. Refuses (exit 1) when retention deleted\n"
    "                          records of task-events; --accept-partial rebuilds from the\n"
    "                          first offsets still held (and prints what is skipped)\n"
    "  backfill-task-state     put every task's current state on task-state (once, after\n"
    "                          upgrading to a relay that writes task-state)\n"
    "  replay-dlq TOPIC        the same as: dlq replay TOPIC --all\n"
    "  dlq list TOPIC          the dead letters still in TOPIC.dlq: position, status, key,\n"
    "                          attempts, reason, first bytes of the payload\n"
    "  dlq show TOPIC POS      one dead letter whole: headers and payload\n"
    "  dlq replay TOPIC --offset POS | --all\n"
    "                          re-produce one dead letter, or every one not yet replayed\n"
    "                          nor skipped, to TOPIC\n"
    "  dlq skip TOPIC POS      record that a dead letter must never be replayed\n"
    "                          (TOPIC: task-commands or task-commands.dlq, ...; POS:\n"
    "                          PARTITION:OFFSET as list prints it, or OFFSET alone when\n"
    "                          the dead-letter topic has one partition; --json: JSON out)\n"
    "  --help                  this text and the configuration variables\n"
    "  --version               the program's version and git commit\n";

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
    {"reset-consumer", ADMIN_CMD_RESET_CONSUMER, 1, 2},
    {"backfill-task-state", ADMIN_CMD_BACKFILL_TASK_STATE, 0, 0},
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

int admin_dlq_position_parse(const char *text, admin_dlq_position *out) {
    *out = (admin_dlq_position){.partition = -1, .offset = -1};
    const char *colon = strchr(text, ':');
    const char *num = colon != NULL ? colon + 1 : text;
    for (const char *p = text; *p != '\0'; p++) {
        if (!(*p >= '0' && *p <= '9') && p != colon) {
            return -1;
        }
    }
    if (*num == '\0' || colon == text || strlen(num) > 18 || (colon != NULL && colon - text > 10)) {
        return -1;
    }
    if (colon != NULL) {
        long long part = strtoll(text, NULL, 10);
        if (part > INT32_MAX) {
            return -1;
        }
        out->partition = (int32_t)part;
    }
    out->offset = strtoll(num, NULL, 10);
    return 0;
}

/* reset-consumer NAME [--accept-partial], the flag before or after NAME: args[0] = NAME. */
static int parse_reset(admin_invocation *out, char *why, size_t whylen) {
    const char *name = NULL;
    for (int a = 0; a < 2 && out->args[a] != NULL; a++) {
        const char *w = out->args[a];
        if (strcmp(w, "--accept-partial") == 0 && !out->accept_partial) {
            out->accept_partial = true;
        } else if (w[0] == '-' || name != NULL) {
            errbuf_setf(why, whylen, "reset-consumer takes NAME and optionally --accept-partial");
            return -1;
        } else {
            name = w;
        }
    }
    if (name == NULL) {
        errbuf_setf(why, whylen, "reset-consumer takes NAME and optionally --accept-partial");
        return -1;
    }
    out->args[0] = name;
    out->args[1] = NULL;
    return 0;
}

/* dlq SUB TOPIC [POSITION] [--offset POSITION | --all] [--json]: argv[2] onwards. */
static int parse_dlq(int argc, char **argv, admin_invocation *out, char *why, size_t whylen) {
    static const struct {
        const char *word;
        admin_command command;
        bool position;
    } SUBS[] = {
        {"list", ADMIN_CMD_DLQ_LIST, false},
        {"show", ADMIN_CMD_DLQ_SHOW, true},
        {"replay", ADMIN_CMD_DLQ_REPLAY, false},
        {"skip", ADMIN_CMD_DLQ_SKIP, true},
    };
    size_t s = 0;
    while (s < sizeof SUBS / sizeof SUBS[0] && (argc < 3 || strcmp(argv[2], SUBS[s].word) != 0)) {
        s++;
    }
    if (s == sizeof SUBS / sizeof SUBS[0]) {
        errbuf_setf(why, whylen, "dlq takes list, show, replay or skip");
        return -1;
    }
    out->command = SUBS[s].command;
    admin_dlq_args *d = &out->dlq;
    d->at = (admin_dlq_position){.partition = -1, .offset = -1};
    int positional = 0;
    bool offset_flag = false;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            d->json = true;
        } else if (strcmp(a, "--all") == 0 && out->command == ADMIN_CMD_DLQ_REPLAY && !d->all) {
            d->all = true;
        } else if (strcmp(a, "--offset") == 0 && out->command == ADMIN_CMD_DLQ_REPLAY &&
                   !offset_flag && i + 1 < argc) {
            offset_flag = true;
            if (admin_dlq_position_parse(argv[++i], &d->at) != 0) {
                errbuf_setf(why, whylen, "bad position: %.40s (PARTITION:OFFSET or OFFSET)",
                            argv[i]);
                return -1;
            }
        } else if (a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9')) {
            /* "-1" is a bad position, not an option. */
            errbuf_setf(why, whylen, "dlq %s: unknown or repeated option %.40s", SUBS[s].word, a);
            return -1;
        } else if (positional == 0) {
            d->topic = a;
            positional++;
        } else if (positional == 1 && SUBS[s].position) {
            if (admin_dlq_position_parse(a, &d->at) != 0) {
                errbuf_setf(why, whylen, "bad position: %.40s (PARTITION:OFFSET or OFFSET)", a);
                return -1;
            }
            positional++;
        } else {
            errbuf_setf(why, whylen, "dlq %s: too many arguments", SUBS[s].word);
            return -1;
        }
    }
    if (d->topic == NULL || (SUBS[s].position && positional < 2)) {
        errbuf_setf(why, whylen, "dlq %s: missing %s", SUBS[s].word,
                    d->topic == NULL ? "TOPIC" : "POSITION");
        return -1;
    }
    if (out->command == ADMIN_CMD_DLQ_REPLAY && d->all == offset_flag) {
        errbuf_setf(why, whylen, "dlq replay takes exactly one of --offset POSITION and --all");
        return -1;
    }
    return 0;
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
    if (strcmp(argv[1], "dlq") == 0) {
        return parse_dlq(argc, argv, out, why, whylen);
    }
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
        if (row->command == ADMIN_CMD_REPLAY_DLQ) {
            out->dlq = (admin_dlq_args){.topic = out->args[0], .at = {-1, -1}, .all = true};
        }
        if (row->command == ADMIN_CMD_RESET_CONSUMER && !help) {
            return parse_reset(out, why, whylen);
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
