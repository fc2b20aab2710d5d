/*
 * admin_dlq_read.h: reading a dead-letter topic for taskbus-admin dlq and replay-dlq.
 *
 * Owns: naming (TOPIC is a dead-letter topic "<source>.dlq" or its source topic; both give
 * the pair), a group-less consumer that assigns one partition at a time, the partitions
 * and watermarks of a topic, reading a range of offsets, fetching one record, and reading
 * a header as text. Rules: every failure is printed on stderr as one line; every handle,
 * message and metadata result is released on every path (a fetched message is the
 * caller's).
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_DLQ_READ_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_DLQ_READ_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/config.h"

#define ADMIN_DLQ_KAFKA_TIMEOUT_MS 10000
#define ADMIN_DLQ_MAX_PARTITIONS 1024

typedef struct admin_dlq_names {
    char source[256]; /* where a replay produces to */
    char dlq[256];    /* the dead-letter topic read */
} admin_dlq_names;

/* Fills out from a TOPIC argument. 0, or -1 for a bad name (empty, too long, a character
 * Kafka refuses, or ".dlq" alone). */
int admin_dlq_names_of(const char *topic, admin_dlq_names *out);

/* A consumer that reads committed records from the earliest offset and reports partition
 * EOF; NULL after printing why. */
rd_kafka_t *admin_dlq_consumer(const taskbus_config *cfg);

/* The partition ids of topic in parts[0..*n) (at most ADMIN_DLQ_MAX_PARTITIONS). 0, or -1. */
int admin_dlq_partitions(rd_kafka_t *rk, const char *topic, int32_t *parts, int *n);

/* The low and high watermarks of one partition. 0, or -1. */
int admin_dlq_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *lo,
                         int64_t *hi);

/* Called for each record read; 0 goes on, anything else stops the read with that value. */
typedef int (*admin_dlq_visit)(void *ctx, const rd_kafka_message_t *m);

/* Reads [from, to) of one partition (to: a high watermark taken before), calling visit on
 * each record in offset order. The offset after the last record visited goes to *next
 * (to when the partition ended below it). 0, a visit's non-zero value, or -1. */
int admin_dlq_scan(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t from, int64_t to,
                   admin_dlq_visit visit, void *ctx, int64_t *next);

/* The record at (partition, offset): 1 with *out (caller rd_kafka_message_destroy()s), 0
 * when there is none (outside the watermarks, or compacted away), -1 on error. */
int admin_dlq_fetch(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset,
                    rd_kafka_message_t **out);

/* Copies the last header called name into out as text. false when absent or too long. */
bool admin_dlq_header(const rd_kafka_message_t *m, const char *name, char *out, size_t outlen);

#endif
