/*
 * writer_dlq.h: sending a command the writer cannot apply to the dead-letter topic.
 *
 * Owns: the DLQ message form: the original key and value bytes unchanged, with headers
 * dlq_reason, dlq_topic, dlq_partition, dlq_offset (and request_id when the record had
 * one). Rules: the send is synchronous (the delivery report is awaited), so the batch
 * that consumes the record commits only once Kafka holds its dead letter; a retried batch
 * may send the same dead letter again (at-least-once, like every topic).
 */
#ifndef TASKBUS_WORKERS_WRITER_WRITER_DLQ_H
#define TASKBUS_WORKERS_WRITER_WRITER_DLQ_H

#include <stddef.h>

#include "shared/kafka_consumer.h"
#include "shared/kafka_producer.h"

#define WRITER_DLQ_TIMEOUT_MS 10000

/* Produces rec to dlq_topic with reason. 0 when durable, or -1 with err. */
int writer_dlq_send(kafka_producer *producer, const char *dlq_topic, const kafka_record *rec,
                    const char *reason, char *err, size_t errlen);

#endif
