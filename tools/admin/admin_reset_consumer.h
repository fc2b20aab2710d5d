/*
 * admin_reset_consumer.h: taskbus-admin reset-consumer analytics|activity.
 *
 * Owns: forgetting everything a read-only consumer of task-events built, so its next
 * start rebuilds it from the beginning of the topic (docs/decisions.md "Analytics and
 * activity"). Rules: the consumer's rows and its stored offsets (kafka_consumer_offsets
 * under its group) are deleted in ONE transaction, so a reset is whole or not at all.
 * A consumer still running would go on from its position in memory and leave the tables
 * partial: the reset refuses while the Kafka group has members (or Kafka cannot say), and
 * then nothing changed. Stop the consumer first (`compose/local stop analytics`).
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_RESET_CONSUMER_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_RESET_CONSUMER_H

#include <stddef.h>

#include "shared/config.h"
#include "shared/pg_pool.h"

/* A consumer that can be reset: its name on the command line, its Kafka group and the
 * tables it builds. */
typedef struct admin_reset_target {
    const char *name;
    const char *group;
    const char *const *tables; /* NULL-terminated */
} admin_reset_target;

/* The target called name ("analytics", "activity"), or NULL. */
const admin_reset_target *admin_reset_target_find(const char *name);

/* Deletes every row of t's tables and t's stored offsets inside c's open transaction;
 * *rows and *offsets get how many. 0, or -1 with err (the caller rolls back). */
int admin_reset_forget(pg_conn *c, const admin_reset_target *t, long long *rows, long long *offsets,
                       char *err, size_t errlen);

/* name: "analytics" or "activity". Returns the exit code: 0 reset, 1 nothing changed
 * (message on stderr), 2 an unknown consumer name. */
int admin_reset_consumer(const taskbus_config *cfg, const char *name);

#endif
