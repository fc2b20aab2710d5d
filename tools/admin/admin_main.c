/*
 * admin_main.c: the taskbus-admin process: one-shot operational jobs.
 *
 * Owns: running the command the command line names (admin_cli.h: migrate | topics |
 * wait-ready [SECONDS] | set-role EMAIL ROLE | delete-user EMAIL | reset-consumer NAME
 * [--accept-partial] | backfill-task-state | replay-dlq TOPIC | dlq list|show|replay|skip ... |
 * --help) after loading the configuration and starting the log. Rules: exit 0 on success, 1 when
 * the job failed (with a message on stderr), 2 for a usage or configuration error.
 */
#include <stdio.h>

#include "shared/build_info.h"
#include "shared/config.h"
#include "shared/daemon_signals.h"
#include "shared/log.h"
#include "tools/admin/admin_backfill_state.h"
#include "tools/admin/admin_cli.h"
#include "tools/admin/admin_commands.h"
#include "tools/admin/admin_delete_user.h"
#include "tools/admin/admin_dlq.h"
#include "tools/admin/admin_replay_dlq.h"
#include "tools/admin/admin_reset_consumer.h"
#include "tools/admin/admin_set_role.h"

static int run(const taskbus_config *cfg, const admin_invocation *inv) {
    switch (inv->command) {
    case ADMIN_CMD_MIGRATE:
        return admin_migrate(cfg);
    case ADMIN_CMD_TOPICS:
        return admin_topics(cfg);
    case ADMIN_CMD_WAIT_READY:
        return admin_wait_ready(cfg, inv->seconds);
    case ADMIN_CMD_SET_ROLE:
        return admin_set_role(cfg, inv->args[0], inv->args[1]);
    case ADMIN_CMD_DELETE_USER:
        return admin_delete_user(cfg, inv->args[0]);
    case ADMIN_CMD_RESET_CONSUMER:
        return admin_reset_consumer(cfg, inv->args[0], inv->accept_partial);
    case ADMIN_CMD_BACKFILL_TASK_STATE:
        return admin_backfill_task_state(cfg);
    case ADMIN_CMD_REPLAY_DLQ:
        return admin_replay_dlq(cfg, &inv->dlq);
    case ADMIN_CMD_DLQ_REPLAY:
        return inv->dlq.all ? admin_replay_dlq(cfg, &inv->dlq)
                            : admin_dlq_run(cfg, inv->command, &inv->dlq);
    case ADMIN_CMD_DLQ_LIST:
    case ADMIN_CMD_DLQ_SHOW:
    case ADMIN_CMD_DLQ_SKIP:
        return admin_dlq_run(cfg, inv->command, &inv->dlq);
    case ADMIN_CMD_HELP:
        break;
    }
    return 2;
}

int main(int argc, char **argv) {
    admin_invocation inv;
    char why[160];
    if (build_info_asked(argc, argv)) {
        build_info_print(stdout, "taskbus-admin");
        return 0;
    }
    if (admin_cli_parse(argc, argv, &inv, why, sizeof why) != 0) {
        fprintf(stderr, "taskbus-admin: %s\n\n%s", why, ADMIN_USAGE);
        return 2;
    }
    if (inv.command == ADMIN_CMD_HELP) {
        fputs(ADMIN_USAGE, stdout);
        fputc('\n', stdout);
        config_print_help(stdout, "taskbus-admin", "one-shot jobs of taskbus");
        return 0;
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
    int rc = run(&cfg, &inv);
    config_free(&cfg);
    return rc;
}
