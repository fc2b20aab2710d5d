/*
 * notifier_send.h: what taskbus-notifier does with each record of `notifications`.
 *
 * Owns: the per-record decision (already sent: skip; render; send with retries in place;
 * record or dead-letter), the dead-letter form (original key and value, headers
 * dlq_reason, dlq_attempts, dlq_topic, dlq_partition, dlq_offset, request_id) and what a
 * batch remembers between its attempts.
 * Rules: runs inside the consumer transaction (shared/kafka_consumer.c), batches of up to
 * NOTIFIER_BATCH_MAX records. Which ids were already sent is one query per batch. A sent
 * id is recorded in sent_notifications at once, on a connection of its own (autocommit),
 * so neither a later failure of its batch nor a crash sends it again, and a recorded id
 * (replay, redelivery, a repeat inside the batch) is skipped.
 * Retries in place (with back-off) are for the first record of a batch attempt that goes
 * to SMTP; a transient failure of a later one ends the attempt (-1: rolled back, the loop
 * redoes the batch after its back-off), so the batch transaction is never held through
 * the retries of several records: on the redo the records before it are skipped and it
 * comes first. The attempts it used and the records dead-lettered by an attempt that was
 * rolled back are remembered (notifier_memory), so a redo neither counts attempts afresh
 * nor dead-letters twice.
 * Known window: the SMTP send happens before its record. If the process dies (or
 * Postgres fails the record) after the server accepted a message and before the record
 * committed, that one message is sent a second time (same Message-ID, so a receiver can
 * fold it). E-mail cannot be made exactly-once across SMTP; this is at-least-once with
 * de-duplication by id, one message wide.
 */
#ifndef TASKBUS_WORKERS_NOTIFIER_NOTIFIER_SEND_H
#define TASKBUS_WORKERS_NOTIFIER_NOTIFIER_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/config.h"
#include "shared/kafka_consumer.h"
#include "shared/kafka_producer.h"
#include "shared/pg_pool.h"

#define NOTIFIER_DLQ_TIMEOUT_MS 10000
#define NOTIFIER_BATCH_MAX 20
#define NOTIFIER_MEMORY 64

/* What an attempt of a batch that was rolled back did to one record. */
typedef struct notifier_memory {
    int32_t partition;
    int64_t offset; /* -1: a free slot */
    int attempts;   /* SMTP attempts made */
    bool dead;      /* dead-lettered */
} notifier_memory;

typedef struct notifier_ctx {
    const taskbus_config *cfg;
    kafka_producer *producer;
    pg_pool *pg; /* the connection that records sent ids (the loop holds another) */
    char dlq_topic[256];
    char templates_dir[4096];
    char from_addr[320]; /* envelope sender, from TASKBUS_SMTP_FROM */
    /* Only the consumer loop's thread reads and writes it: no lock. A ring: the oldest
     * entry gives way (a batch has NOTIFIER_BATCH_MAX records). */
    notifier_memory memory[NOTIFIER_MEMORY];
    size_t memory_next;
} notifier_ctx;

/* Empties the memory (call once before the loop starts). */
void notifier_ctx_reset_memory(notifier_ctx *nc);

/* kafka_batch_fn: handles every record; -1 (roll back, retry) only when Postgres or the
 * dead-letter produce failed, a stop arrived mid-retry, or a record after the first one
 * sent failed transiently (see the rules above). */
int notifier_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count);

/* Delay before attempt number `attempt` (2, 3, ...): uniform in [0, base * 2^(attempt-2)]
 * ("full jitter"), capped at 60 s. */
int notifier_backoff_ms(int base_ms, int attempt);

#endif
