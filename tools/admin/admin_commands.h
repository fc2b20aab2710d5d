/*
 * admin_commands.h: the one-shot jobs of taskbus-admin.
 *
 * Owns: migrate, topics and wait-ready (set-role: admin_set_role.h). Rules: each
 * returns the process exit code (0 success, 1 failure) and prints one clear line saying
 * what happened (stdout on success, stderr on failure); none of them prints a secret.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_COMMANDS_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_COMMANDS_H

#include "shared/config.h"

/* Applies pending migrations from <schemas_dir>/migrations; prints how many. */
int admin_migrate(const taskbus_config *cfg);

/* Creates the bus topics (BUS_TOPICS, shared/bus.h) with the configured partitions/replication. */
int admin_topics(const taskbus_config *cfg);

/* Waits until Postgres, Redis and Kafka all answer, or timeout_s passes. */
int admin_wait_ready(const taskbus_config *cfg, int timeout_s);

#endif
