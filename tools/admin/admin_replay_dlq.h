/*
 * admin_replay_dlq.h: `taskbus-admin dlq replay TOPIC --all` (alias: `replay-dlq TOPIC`).
 *
 * Owns: re-producing every dead letter of the dead-letter topic (from where the last
 * replay stopped to the end the run found at its start) to its source topic, passing over
 * the ones dlq_marks says were skipped or already replayed alone; and re-producing one
 * record (admin_replay_reproduce, also used by `dlq replay --offset`). Rules: progress is
 * kept in kafka_consumer_offsets under group taskbus-dlq-replay, written per partition
 * only after every message up to it is durable on the source topic, so a crashed run
 * replays a few messages again rather than losing one (consumers de-duplicate by id: the
 * notifier skips ids in sent_notifications, the writer command ids). The dlq_* headers are
 * dropped; request_id and traceparent are kept.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_REPLAY_DLQ_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_REPLAY_DLQ_H

#include <librdkafka/rdkafka.h>

#include "shared/config.h"
#include "shared/kafka_producer.h"
#include "tools/admin/admin_cli.h"

/* Produces dead letter m to topic (synchronously), keeping only its request_id and
 * traceparent headers.
 * 0, or -1 after printing why. */
int admin_replay_reproduce(kafka_producer *producer, const char *topic,
                           const rd_kafka_message_t *m);

/* Exit code: 0 (prints how many were replayed and passed over), 1 failure, 2 bad topic
 * name. args: topic and json. */
int admin_replay_dlq(const taskbus_config *cfg, const admin_dlq_args *args);

#endif
