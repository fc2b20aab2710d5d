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
 * A rebuild must never silently produce less (issue 12): when task-events no longer
 * starts at offset 0 on some partition (retention deleted records), the reset refuses
 * before deleting anything, naming what was lost and the choices; with --accept-partial
 * it goes on and stores the low watermarks as the group's next offsets in the same
 * transaction, so the whole_stream consumer starts there instead of refusing.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_RESET_CONSUMER_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_RESET_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* The topics a read-only consumer rebuilds from (shared/task_events_consumer.h). */
#define ADMIN_STREAMS 2
extern const char *const ADMIN_STREAM_TOPICS[ADMIN_STREAMS];

/* Where a topic starts now: per partition, its low and high watermarks. */
typedef struct admin_stream_start {
    const char *topic;
    int partitions;
    int64_t *low;  /* the first offset still held (0: nothing lost) */
    int64_t *high; /* the next offset to be written */
} admin_stream_start;

/* Reads topic's partitions and watermarks. 0, or -1 with err (*out is empty). */
int admin_stream_start_query(const char *brokers, const char *topic, admin_stream_start *out,
                             char *err, size_t errlen);
/* True when some partition no longer starts at offset 0. */
bool admin_stream_start_partial(const admin_stream_start *s);
void admin_stream_start_free(admin_stream_start *s);

/* Stores s's low watermarks as t's next offsets on s's topic, inside c's open
 * transaction, after admin_reset_forget. 0, or -1 with err (the caller rolls back). */
int admin_reset_start_at(pg_conn *c, const admin_reset_target *t, const admin_stream_start *s,
                         char *err, size_t errlen);

/* name: "analytics" or "activity"; accept_partial: rebuild from what task-events and
 * task-events.v2 still hold. Returns the exit code: 0 reset, 1 nothing changed (message on stderr:
 * a running consumer, Kafka or Postgres failing, or records lost without accept_partial), 2 an
 * unknown consumer name. */
int admin_reset_consumer(const taskbus_config *cfg, const char *name, bool accept_partial);

#endif
