/*
 * importer_lag.h: the writer's consumer lag on the commands topic, as the importer's
 * throttle sees it (docs/decisions.md, "Issue 9", "Import throttle").
 *
 * Owns: the importer's lag probe: a shared/kafka_lag.h handle of its own (client id
 * taskbus-importer-lag) and the lag it reports: for each partition the writer group has an
 * offset stored in kafka_consumer_offsets, the high watermark minus that stored next
 * offset, summed (kafka_lag_applied_sum; the scheduler exports the same arithmetic per
 * partition as taskbus_consumer_lag). Rules:
 * - Exact as of the moment it is asked: the writer stores its offsets in the transaction
 *   of its effects (shared/kafka_consumer.c), so stored = applied; the high watermarks of
 *   all partitions come from one ListOffsets request per leader.
 * - A partition without a stored offset counts 0 (the writer has not committed a batch
 *   of it yet; the importer's own in-flight ledger covers its items meanwhile).
 * - A Kafka failure answers IMPORTER_LAG_UNKNOWN (the throttle then holds); a Postgres
 *   failure answers IMPORTER_LAG_ERR_POSTGRES (the caller drops its connection).
 */
#ifndef TASKBUS_WORKERS_IMPORTER_IMPORTER_LAG_H
#define TASKBUS_WORKERS_IMPORTER_IMPORTER_LAG_H

#include <stddef.h>
#include <stdint.h>

#include "shared/pg_pool.h"

enum { IMPORTER_LAG_UNKNOWN = -1, IMPORTER_LAG_ERR_POSTGRES = -2 };

typedef struct importer_lag importer_lag;

/* NULL with err when the Kafka handle cannot be made (bad configuration). */
importer_lag *importer_lag_create(const char *brokers, const char *topic, const char *group,
                                  char *err, size_t errlen);
void importer_lag_destroy(importer_lag *lag);

/* Connects and reads the topic's partition count, so the first measurement does not pay
 * for it. 0, or -1 with err (the first measurement tries again). */
int importer_lag_prepare(importer_lag *lag, int timeout_ms, char *err, size_t errlen);

/* The lag in commands (>= 0), IMPORTER_LAG_UNKNOWN or IMPORTER_LAG_ERR_POSTGRES, with err
 * for both. Waits at most timeout_ms for Kafka. */
int64_t importer_lag_measure(importer_lag *lag, pg_conn *conn, int timeout_ms, char *err,
                             size_t errlen);

#endif
