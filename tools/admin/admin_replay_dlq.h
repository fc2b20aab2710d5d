/*
 * admin_replay_dlq.h: `taskbus-admin replay-dlq TOPIC`.
 *
 * Owns: re-producing every dead letter of TOPIC.dlq (from where the last replay stopped
 * to the end the run found at its start) to TOPIC. Rules: progress is kept in
 * kafka_consumer_offsets under group taskbus-dlq-replay, written per partition only after
 * every message up to it is durable on TOPIC, so a crashed run replays a few messages
 * again rather than losing one (consumers de-duplicate by id: the notifier skips ids in
 * sent_notifications). The dlq_* headers are dropped; request_id is kept.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_REPLAY_DLQ_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_REPLAY_DLQ_H

#include "shared/config.h"

/* Exit code: 0 (prints how many were replayed), 1 failure, 2 bad topic name. */
int admin_replay_dlq(const taskbus_config *cfg, const char *topic);

#endif
