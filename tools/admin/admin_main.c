/*
 * admin_main.c: the taskbus-admin process: one-shot operational jobs.
 *
 * Owns: the command line (migrate | topics | wait-ready [SECONDS] | set-role EMAIL ROLE |
 * delete-user EMAIL | reset-consumer NAME | replay-dlq TOPIC | --help), configuration and
 * logging. Rules: exit 0 on success, 1 when the job failed (with a message on stderr), 2
 * for a usage or configuration error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/config.h"
#include "shared/daemon_signals.h"
#include "shared/log.h"
#include "tools/admin/admin_commands.h"
#include "tools/admin/admin_delete_user.h"
#include "tools/admin/admin_set_role.h"
#include "tools/admin/admin_replay_dlq.h"
#include "tools/admin/admin_reset_consumer.h"

#define WAIT_READY_DEFAULT_S 60

static const char USAGE[] =
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

static int usage_error(const char *why) {
    fprintf(stderr, "taskbus-admin: %s\n\n%s", why, USAGE);
    return 2;
}

/* Parses an optional positive number of seconds. -1 when malformed. */
static int parse_seconds(const char *text) {
    if (text == NULL) {
        return WAIT_READY_DEFAULT_S;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > 86400) {
        return -1;
    }
    return (int)v;
}

static int dispatch(const taskbus_config *cfg, int argc, char **argv) {
    const char *cmd = argv[1];
    if (strcmp(cmd, "migrate") == 0 && argc == 2) {
        return admin_migrate(cfg);
    }
    if (strcmp(cmd, "topics") == 0 && argc == 2) {
        return admin_topics(cfg);
    }
    if (strcmp(cmd, "wait-ready") == 0 && argc <= 3) {
        int seconds = parse_seconds(argc == 3 ? argv[2] : NULL);
        if (seconds < 0) {
            return usage_error("wait-ready takes a number of seconds (1-86400)");
        }
        return admin_wait_ready(cfg, seconds);
    }
    if (strcmp(cmd, "set-role") == 0 && argc == 4) {
        return admin_set_role(cfg, argv[2], argv[3]);
    }
    if (strcmp(cmd, "delete-user") == 0 && argc == 3) {
        return admin_delete_user(cfg, argv[2]);
    }
    if (strcmp(cmd, "reset-consumer") == 0 && argc == 3) {
        return admin_reset_consumer(cfg, argv[2]);
    }
    if (strcmp(cmd, "replay-dlq") == 0 && argc == 3) {
        return admin_replay_dlq(cfg, argv[2]);
    }
    char why[160];
    snprintf(why, sizeof why, "unknown command or wrong arguments: %.100s", cmd);
    return usage_error(why);
}

int main(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(USAGE, stdout);
        fputc('\n', stdout);
        config_print_help(stdout, "taskbus-admin", "one-shot jobs of taskbus");
        return 0;
    }
    if (argc < 2) {
        return usage_error("missing command");
    }
    taskbus_config cfg;
    char err[512];
    if (config_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "taskbus-admin: %s\n", err);
        return 2;
    }
    log_level level = LOG_INFO;
    (void)log_level_parse(cfg.log_level, &level);
    /* Jobs report on stdout/stderr; the JSON log adds only warnings unless debug is asked. */
    log_init("admin", level == LOG_INFO ? LOG_WARN : level);
    if (daemon_signals_install() != 0) {
        fprintf(stderr, "taskbus-admin: cannot install signal handlers\n");
        config_free(&cfg);
        return 1;
    }
    int rc = dispatch(&cfg, argc, argv);
    config_free(&cfg);
    return rc;
}
