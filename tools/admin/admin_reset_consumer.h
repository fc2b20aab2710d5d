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

#include "shared/config.h"

/* name: "analytics" or "activity". Returns the exit code: 0 reset, 1 nothing changed
 * (message on stderr), 2 an unknown consumer name. */
int admin_reset_consumer(const taskbus_config *cfg, const char *name);

#endif
