/*
 * writer_batch.h: one batch of task commands, from Kafka records to committed effects.
 *
 * Owns: the writer's state across the consumer loop's callbacks (writer_ctx) and the two
 * callbacks. Rules (kafka_consumer.h runs them on its one thread, so no lock):
 * - on_batch runs inside the loop's ONE transaction: decode each record (undecodable →
 *   task-commands.dlq, synchronously, then consumed), skip commands already recorded in
 *   `commands` or repeated within the batch, apply the rest in order with the one
 *   executor (writer_execute.h: load, decide, set-based statements, outbox), insert their
 *   `commands` rows in one statement, and journal the batch's Redis effects.
 * - The effect list is cleared at the start of every attempt, so a rolled-back attempt
 *   never leaks effects into Redis. Dead letters are remembered until the commit, so a
 *   retried attempt does not park the same record twice.
 * - A statement failing with a data error (SQLSTATE class 22/23) would fail every retry
 *   of the batch; the next attempt therefore runs the same executor on slices inside
 *   savepoints, halving a failing slice down to the one command that fails, which goes
 *   to the DLQ instead of stalling its partition.
 * - after_commit lands the effects in Redis (retried by the loop until it succeeds),
 *   deletes the journal row, logs the batch, and now and then replays orphaned journal
 *   rows (a writer killed between commit and Redis). A batch that stays journaled still
 *   gets its near-cache invalidation published at once, through the {nc} slot.
 */
#ifndef TASKBUS_WORKERS_WRITER_WRITER_BATCH_H
#define TASKBUS_WORKERS_WRITER_WRITER_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/kafka_consumer.h"
#include "shared/kafka_producer.h"
#include "shared/pg_pool.h"
#include "shared/redis_pool.h"
#include "workers/writer/writer_effects.h"
#include "workers/writer/writer_release.h"

typedef struct writer_stats {
    size_t records;
    size_t applied;
    size_t rejected;
    size_t skipped;
    size_t dlq;
    size_t occurrences; /* next occurrences of recurring tasks the applied commands made */
} writer_stats;

/* A record already parked in the DLQ (the writer reads one topic, so partition and
 * offset name it). */
typedef struct writer_dead_ref {
    int32_t partition;
    int64_t offset;
} writer_dead_ref;

typedef struct writer_ctx {
    pg_pool *pg;
    redis_pool *redis;
    kafka_producer *producer;
    char dlq_topic[256];
    writer_effect_list effects; /* of the current batch attempt */
    long long journal_id;       /* its journal row, 0 when none */
    bool careful;               /* the next attempt isolates commands in savepoints */
    writer_stats stats;
    writer_dead_ref *dead; /* parked since the last commit: a retried attempt skips them */
    size_t ndead;
    size_t dead_cap;
    int64_t batch_start_ns;
    int64_t last_sweep_ns;
    int lease_ms;           /* TASKBUS_NEAR_CACHE_LEASE_MS (writer_release.h) */
    bool backlog;           /* journaled batches of ours wait for Redis */
    int64_t redis_retry_ns; /* no Redis attempt before this (monotonic) */
    bool said_sweep_failed; /* the sweep's failure is logged once per outage */
    int64_t nc_retry_ns;    /* no invalidation of an unlanded batch before this */
    bool said_nc_failed;    /* that invalidation's failure is logged once per outage */
    writer_release_watch release;
} writer_ctx;

/* The sweep runs this often, and this often while journaled batches wait for Redis; a
 * failed landing is not retried for WRITER_REDIS_RETRY_MS (a frozen Redis costs each try
 * a timeout). */
#define WRITER_SWEEP_MS 1000
#define WRITER_BACKLOG_SWEEP_MS 200
#define WRITER_REDIS_RETRY_MS 1000

/* kafka_batch_fn and kafka_after_commit_fn; ctx is a writer_ctx. */
int writer_on_batch(void *ctx, pg_conn *conn, const kafka_record *records, size_t count);
int writer_after_commit(void *ctx, const kafka_record *records, size_t count);
/* The loop's idle hook: replays journalled effects older than the sweep interval. */
void writer_on_idle(void *ctx);
/* Frees what the ctx owns (not the pools or the producer). */
void writer_ctx_free(writer_ctx *ctx);

#endif
