/*
 * relay_outbox.h: one publishing pass of the outbox relay.
 *
 * Owns: reading unpublished outbox rows in id order, producing each to Kafka with its
 * headers, waiting for every delivery report, and only then marking the rows published.
 * Rules: a Kafka failure leaves every row of the batch unpublished (it is sent again:
 * delivery is at-least-once and consumers de-duplicate by event id); rows are never
 * marked before Kafka holds them.
 */
#ifndef TASKBUS_WORKERS_RELAY_OUTBOX_H
#define TASKBUS_WORKERS_RELAY_OUTBOX_H

#include <stddef.h>

#include "shared/kafka_producer.h"
#include "shared/pg_pool.h"

#define RELAY_BATCH_MAX 500

typedef enum {
    RELAY_ERR_POSTGRES = -1, /* the query or the connection failed */
    RELAY_ERR_KAFKA = -2,    /* a message could not be enqueued or delivered */
} relay_error;

/* Publishes up to limit rows. Returns how many were published (0 when none were due), or a
 * relay_error with err. */
int relay_publish_batch(pg_conn *conn, kafka_producer *producer, int limit, int delivery_timeout_ms,
                        char *err, size_t errlen);

#endif
