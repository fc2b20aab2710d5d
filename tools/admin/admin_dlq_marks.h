/*
 * admin_dlq_marks.h: what taskbus-admin remembers about dead letters in Postgres.
 *
 * Owns: the dlq_marks rows (one dead letter skipped, or replayed alone) and reading the
 * progress of `dlq replay --all` (kafka_consumer_offsets, group DLQ_REPLAY_GROUP, written
 * by admin_replay_dlq.c). Rules: a skipped mark is final (never becomes replayed); every
 * failure is printed on stderr as one line and returned as -1.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_DLQ_MARKS_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_DLQ_MARKS_H

#include <stdint.h>

#include "shared/pg_pool.h"

typedef enum {
    DLQ_MARK_NONE = 0,
    DLQ_MARK_SKIPPED = 1,
    DLQ_MARK_REPLAYED = 2,
} dlq_mark;

/* The word of a mark: "pending", "skipped", "replayed". */
const char *dlq_mark_word(dlq_mark mark);

/* The mark of one dead letter (a dlq_mark), or -1. */
int admin_dlq_mark_get(pg_conn *c, const char *dlq, int32_t partition, int64_t offset);

/* Records mark (SKIPPED or REPLAYED) unless the dead letter is already skipped. Returns the
 * mark it holds afterwards (SKIPPED when it was skipped before), or -1. */
int admin_dlq_mark_set(pg_conn *c, const char *dlq, int32_t partition, int64_t offset,
                       dlq_mark mark);

/* The next offset `dlq replay --all` will read in a partition (0 when it never ran), or
 * -1. */
int64_t admin_dlq_progress(pg_conn *c, const char *dlq, int32_t partition);

#endif
