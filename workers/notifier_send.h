/*
 * notifier_send.h: what taskbus-notifier does with each record of `notifications`.
 *
 * Owns: the per-record decision (already sent: skip; render; send with retries in place;
 * record or dead-letter) and the dead-letter form (original key and value, headers
 * dlq_reason, dlq_attempts, dlq_topic, dlq_partition, dlq_offset, request_id).
 * Rules: runs inside the consumer transaction (shared/kafka_consumer.c). A sent id is
 * recorded in sent_notifications in that transaction, so a committed batch never sends
 * again, and a recorded id (replay, redelivery) is skipped.
 * Known window: the SMTP send happens before the commit. If the process dies (or Postgres
 * fails the commit) after the server accepted a message and before the commit, the batch
 * is redone and that one message is sent a second time (same Message-ID, so a receiver
 * can fold it). Batches hold ONE record so the window is one message wide. E-mail cannot
 * be made exactly-once across SMTP; this is at-least-once with de-duplication by id.
 */
#ifndef TASKBUS_WORKERS_NOTIFIER_SEND_H
#define TASKBUS_WORKERS_NOTIFIER_SEND_H

#include <stddef.h>

#include "shared/config.h"
#include "shared/kafka_consumer.h"
#include "shared/kafka_producer.h"

#define NOTIFIER_DLQ_TIMEOUT_MS 10000

typedef struct notifier_ctx {
    const taskbus_config *cfg;
    kafka_producer *producer;
    char dlq_topic[256];
    char templates_dir[4096];
    char from_addr[320]; /* envelope sender, from TASKBUS_SMTP_FROM */
} notifier_ctx;

/* kafka_batch_fn: handles every record; -1 (roll back, retry) only when Postgres or the
 * dead-letter produce failed or a stop arrived mid-retry. */
int notifier_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count);

/* Delay before attempt number `attempt` (2, 3, ...): uniform in [0, base * 2^(attempt-2)]
 * ("full jitter"), capped at 60 s. */
int notifier_backoff_ms(int base_ms, int attempt);

#endif
