/*
 * scheduler_observe.h: the scheduler's observer: every consumer group's lag, the outbox
 * backlog and the dead letters pending, exported as gauges by taskbus-scheduler
 * (docs/decisions.md, "Daemon metrics").
 *
 * Owns: a thread of its own that every TASKBUS_LAG_INTERVAL_SECONDS runs one pass, with its
 * own Postgres connection (a pool of one) and its own shared/kafka_lag.h handle (client id
 * taskbus-scheduler-lag). A pass sets:
 * - taskbus_consumer_lag{group,topic,partition} for every group taskbus runs and every
 *   partition of its topic: high watermark minus the next offset the group stored in
 *   kafka_consumer_offsets (from the log's beginning when it stored none), so the lag of a
 *   stopped consumer still shows and rises;
 * - taskbus_outbox_backlog and taskbus_outbox_oldest_age_seconds (one query on the
 *   partial index of unpublished rows);
 * - taskbus_dlq_pending{topic} for task-commands.dlq and notifications.dlq: dead letters
 *   `taskbus-admin dlq replay --all` has not passed yet, minus those marked skipped or
 *   replayed (dlq_marks) at or above its progress.
 * Rules: Kafka requests wait at most OBSERVE_KAFKA_TIMEOUT_MS each and Postgres at most
 * the statement timeout, so a pass is bounded and never holds the reminder loop (another
 * thread, another connection). A part that fails (Kafka or Postgres down) leaves its gauges
 * at their last values and is logged once when it starts failing and once when it
 * recovers; the other parts still run.
 */
#ifndef TASKBUS_WORKERS_SCHEDULER_SCHEDULER_OBSERVE_H
#define TASKBUS_WORKERS_SCHEDULER_SCHEDULER_OBSERVE_H

#include <stddef.h>

#include "shared/config.h"
#include "shared/pg_pool.h"

#define OBSERVE_KAFKA_TIMEOUT_MS 2000
#define OBSERVE_MAX_GROUPS 12
#define OBSERVE_MAX_DLQS 4

/* One consumer group and the topic it consumes. */
typedef struct scheduler_observed {
    const char *group;
    const char *topic;
} scheduler_observed;

/* The groups the observer measures (every consumer group of shared/bus.h, the writer's
 * group and topic as configured), those on one topic next to each other. Their count. */
size_t scheduler_observed_groups(const taskbus_config *cfg, scheduler_observed *out, size_t max);

typedef struct scheduler_observer scheduler_observer;

/* The observer's Kafka handle and dead-letter topic names (no thread yet). cfg must outlive
 * it. NULL with err (bad Kafka configuration, a topic name too long). */
scheduler_observer *scheduler_observer_create(const taskbus_config *cfg, char *err, size_t errlen);

/* One pass on conn. 0, or -1 with err naming the first part that failed (the others ran). */
int scheduler_observer_pass(scheduler_observer *o, pg_conn *conn, char *err, size_t errlen);

/* Starts the thread and its connection. 0, or -1 with err. */
int scheduler_observer_start(scheduler_observer *o, char *err, size_t errlen);

/* Stops the thread (it finishes its pass in hand, bounded as above) and frees. */
void scheduler_observer_destroy(scheduler_observer *o);

#endif
