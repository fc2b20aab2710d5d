/*
 * task_events_consumer.h: the process of a read-only consumer of task-events
 * (consumers/analytics, consumers/activity), and of user-events for erasures.
 *
 * Owns: the row such a process gives the daemon skeleton (shared/daemon.h: command line,
 * configuration, log, signals, migrations and the /health, /ready, /metrics listener;
 * /ready checks Postgres and Kafka): a Postgres pool of TASK_EVENTS_CONSUMER_POOL
 * connections, one consumer loop on task-events, task-events.v2 and user-events under the
 * consumer's group (a batch may hold records of all three; each consumer's handler applies
 * the v1 ones to its tables of users, the v2 ones to those of projects and the
 * taskbus.user.deleted ones of user-events as erasures: shared/user_erasure_event.h), and
 * shutdown. Rules:
 * - Offsets live in kafka_consumer_offsets under the group and commit with the rows of
 *   the batch (lazy commit: every effect is a row of the batch transaction), so
 *   `taskbus-admin reset-consumer NAME` (rows and offsets deleted together) makes the
 *   next start rebuild everything from the beginning of the topics (erased_users is kept:
 *   a user erased once stays erased). The loop is whole_stream (shared/kafka_consumer.h):
 *   when one of its topics no longer starts at offset 0 (retention), a start without
 *   stored offsets for it refuses and exits 1 instead of rebuilding less.
 * - A projection: fuller fetches (up to TASK_EVENTS_CONSUMER_BATCH records, fetch wait
 *   100 ms), not the freshest.
 * - SIGTERM/SIGINT finish the current batch (commit) and exit 0.
 * Exit codes: 0 stopped, 1 could not start, a fatal Kafka error or a retention gap (an
 * offset it needs is no longer held), 2 bad configuration.
 */
#ifndef TASKBUS_SHARED_TASK_EVENTS_CONSUMER_H
#define TASKBUS_SHARED_TASK_EVENTS_CONSUMER_H

#include "shared/daemon_startup.h"
#include "shared/kafka_consumer.h"

#define TASK_EVENTS_CONSUMER_BATCH 500
#define TASK_EVENTS_CONSUMER_POOL 2

typedef struct task_events_consumer {
    daemon_identity identity; /* its service name names its log lines and migrations */
    int port_offset;          /* DAEMON_PORT_<NAME> of shared/daemon_port.h */
    const char *group;        /* the Kafka consumer group */
    kafka_batch_fn on_batch;  /* called with ctx NULL, in the batch transaction */
} task_events_consumer;

/* The whole process: returns main's exit code. */
int task_events_consumer_main(const task_events_consumer *c, int argc, char **argv);

#endif
