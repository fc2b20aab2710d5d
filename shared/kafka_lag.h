/*
 * kafka_lag.h: a consumer group's lag: the broker's watermarks against the next offsets
 * the group stored in Postgres (kafka_consumer_offsets, shared/kafka_consumer.c).
 *
 * Owns: a Kafka handle of its own that only asks for offsets (never produces), the
 * partition counts of the topics it was asked about (metadata, refreshed every
 * KAFKA_LAG_METADATA_MS), the read of a group's stored offsets, and the arithmetic.
 * Rules:
 * - Every group taskbus runs stores its offsets in Postgres in the transaction of its
 *   effects, so stored = applied; no group commits offsets to Kafka, so the broker's group
 *   offsets are never read (docs/decisions.md, "Daemon metrics").
 * - Every Kafka call is bounded by the caller's timeout: the high (and, when asked, low)
 *   watermarks of all a topic's partitions come from one ListOffsets request per leader.
 * - Two views of a partition without a stored offset: the consumer starts it at its
 *   beginning, so its lag is everything there (kafka_lag_of); the importer's throttle
 *   counts only partitions the writer has committed (kafka_lag_applied_sum).
 * - Not thread-safe: one handle per thread.
 */
#ifndef TASKBUS_SHARED_KAFKA_LAG_H
#define TASKBUS_SHARED_KAFKA_LAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/pg_pool.h"

#define KAFKA_LAG_MAX_PARTITIONS 4096
#define KAFKA_LAG_MAX_TOPICS 16
#define KAFKA_LAG_METADATA_MS 10000
/* kafka_lag_partition.stored when the group has no row for the partition. */
#define KAFKA_LAG_NO_OFFSET (-1)

enum { KAFKA_LAG_UNKNOWN = -1, KAFKA_LAG_ERR_POSTGRES = -2 };

/* One partition: its watermarks and the group's stored next offset. */
typedef struct kafka_lag_partition {
    int64_t high;   /* the offset the next record will get */
    int64_t low;    /* the first offset still in the log (0 when not asked) */
    int64_t stored; /* the group's next offset, or KAFKA_LAG_NO_OFFSET */
} kafka_lag_partition;

typedef struct kafka_lag kafka_lag;

/* NULL with err when the Kafka handle cannot be made (bad configuration). */
kafka_lag *kafka_lag_create(const char *brokers, const char *client_id, char *err, size_t errlen);
void kafka_lag_destroy(kafka_lag *lag);

/* Reads topic's partition count when unknown or older than KAFKA_LAG_METADATA_MS. The
 * count (>= 1), or -1 with err. Waits at most timeout_ms. */
int kafka_lag_partitions(kafka_lag *lag, const char *topic, int timeout_ms, char *err,
                         size_t errlen);

/* The watermarks of every partition of topic into parts[p].high (and .low when with_low;
 * else 0); .stored is set to KAFKA_LAG_NO_OFFSET. The partition count (at most max), or
 * KAFKA_LAG_UNKNOWN with err. Waits at most timeout_ms per request. */
int kafka_lag_watermarks(kafka_lag *lag, const char *topic, bool with_low,
                         kafka_lag_partition *parts, int max, int timeout_ms, char *err,
                         size_t errlen);

/* Reads group's stored next offsets of topic into parts[p].stored for p < n (others keep
 * theirs). 0, or KAFKA_LAG_ERR_POSTGRES with err. */
int kafka_lag_stored(pg_conn *conn, const char *group, const char *topic,
                     kafka_lag_partition *parts, int n, char *err, size_t errlen);

/* The records the group still has to consume in p: from its stored offset, or from the
 * log's beginning when it has none or the log no longer holds it; never negative. */
int64_t kafka_lag_of(const kafka_lag_partition *p);

/* The sum over the partitions with a stored offset of high - stored (when positive). */
int64_t kafka_lag_applied_sum(const kafka_lag_partition *parts, int n);

#endif
