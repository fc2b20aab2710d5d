/*
 * relay_outbox.h: the publishing passes of the outbox relay, pipelined.
 *
 * Owns: reading unpublished outbox rows in id order, producing each to Kafka with its
 * headers, and deleting the rows once every delivery report of their batch said
 * "delivered"; the one batch that may be in flight between two passes.
 * Rules:
 * - Rows are never deleted before Kafka holds them; a Kafka failure deletes nothing of
 *   what is in flight (it is sent again: delivery is at-least-once and consumers
 *   de-duplicate by event id).
 * - Pipelined: a pass reads and enqueues the next batch BEFORE it waits for the reports
 *   of the batch in flight, so reading Postgres overlaps Kafka's acknowledgements. The
 *   next batch's read leaves out exactly the rows in flight (their id range minus its
 *   holes), never "everything below the last id": a row that commits late with a lower
 *   id is still read, so no row is skipped and one key's rows keep their order (they
 *   are enqueued in id order through one idempotent producer).
 * - Before a batch is enqueued, its task-state records (workers/relay/relay_state.h) are
 *   sent in a delivery group of their own and waited for, while the batch in flight keeps
 *   flying: a task-events record is produced only after its task-state record was
 *   delivered. A failure there is RELAY_ERR_KAFKA and nothing of the batch is enqueued
 *   (its rows are read again; a repeated state record is harmless under compaction). A
 *   row is deleted only after all its records were delivered.
 * - A settled batch writes one info line "relay: published" with its counts ("events": its
 *   records on their own topics, "state": its task-state records) and the request
 *   and trace ids of its rows (shared/log_ids.h), so one id finds a write in this log too.
 * - A published row is deleted, not updated: nothing reads published rows, and the
 *   delete costs Postgres a fraction of rewriting the row (docs/decisions.md "Issue 9").
 */
#ifndef TASKBUS_WORKERS_RELAY_RELAY_OUTBOX_H
#define TASKBUS_WORKERS_RELAY_RELAY_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/kafka_producer.h"
#include "shared/log_ids.h"
#include "shared/pg_pool.h"

#define RELAY_BATCH_MAX 500
/* Holes (ids inside the in-flight batch's id range that it does not hold) above which
 * the next read waits for the batch instead of leaving them out one by one. */
#define RELAY_HOLES_MAX 4096

typedef enum {
    RELAY_ERR_POSTGRES = -1, /* the query or the connection failed */
    RELAY_ERR_KAFKA = -2,    /* a message could not be enqueued or delivered */
} relay_error;

/* The batch in flight between two passes (zero-initialise; relay_pipeline_drop frees). */
typedef struct relay_pipeline {
    kafka_delivery_group *group; /* NULL: nothing in flight */
    int64_t *ids;                /* ascending */
    int n;
    int events;  /* records of the batch on their own topics (task-events, user-events, ...) */
    int state;   /* task-state records sent for the batch before it was enqueued */
    log_ids log; /* the rows' request and trace ids, for the published line */
} relay_pipeline;

/* One pass: reads up to limit due rows (leaving out those in flight), sends their
 * task-state records and waits for them, enqueues the rows, then waits for the batch in
 * flight and deletes its rows; the pass's waits together last at most delivery_timeout_ms.
 * Returns the rows read (0: none due), or a relay_error with err; on an error nothing
 * is in flight any more. */
int relay_publish_pass(pg_conn *conn, kafka_producer *producer, relay_pipeline *pl, int limit,
                       int delivery_timeout_ms, char *err, size_t errlen);
/* True while a batch is in flight. */
bool relay_pipeline_busy(const relay_pipeline *pl);
/* Waits for the batch in flight and deletes its rows (on stop). 0, or a relay_error. */
int relay_pipeline_finish(pg_conn *conn, relay_pipeline *pl, int delivery_timeout_ms, char *err,
                          size_t errlen);
/* Forgets the batch in flight without deleting its rows (they are sent again). */
void relay_pipeline_drop(relay_pipeline *pl);

#endif
