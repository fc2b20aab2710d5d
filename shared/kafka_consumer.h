/*
 * kafka_consumer.h: the consumer loop with offsets stored in Postgres.
 *
 * Owns: a Kafka consumer (enable.auto.commit=false, enable.auto.offset.store=false, eager
 * range assignor) and the batch loop. Rules: for each batch, ONE Postgres transaction
 * locks the batch's rows in kafka_consumer_offsets, drops records below the stored next
 * offset (a replay or a zombie's leftovers), runs the handler on the rest, stores the new
 * next offsets, and commits. On assignment, offsets come from that table, never from
 * Kafka's group offsets. A partition without a row starts at 0 when the group has rows for
 * other partitions of its topic or is whole_stream; else (a group new to the topic) at the
 * partition's beginning, after storing the log start of every partition of the topic.
 * An offset the broker no longer holds (retention deleted it) is never skipped:
 * one ERROR line and kafka_consumer_loop_run returns -1. A handler or commit
 * failure rolls back and retries the same batch after a back-off; records of partitions
 * revoked meanwhile are dropped. So each record's effects commit exactly once. A committed
 * batch writes one info line with its group, size and the request and trace ids of its
 * records (shared/log_ids.h); a failed one the same at warn.
 */
#ifndef TASKBUS_SHARED_KAFKA_CONSUMER_H
#define TASKBUS_SHARED_KAFKA_CONSUMER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/pg_pool.h"

typedef struct kafka_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *key; /* not NUL-terminated; may be NULL */
    size_t key_len;
    const char *value; /* not NUL-terminated; may be NULL */
    size_t value_len;
    const char *request_id;  /* from the request_id header, NUL-terminated, or NULL */
    const char *traceparent; /* from the traceparent header when valid (W3C), or NULL */
} kafka_record;

/* Sets the calling thread's log request id and trace id to the record's (NULL: clears),
 * for the lines written while handling that one record. */
void kafka_record_log_context(const kafka_record *record);

/* Applies records inside the open transaction on conn. 0 to commit; -1 to roll back and
 * retry the batch. */
typedef int (*kafka_batch_fn)(void *ctx, pg_conn *conn, const kafka_record *records, size_t count);
/* Runs after the commit (cache updates, pub/sub); retried with back-off until it returns
 * 0, so the loop never moves past a batch whose after-effects did not land. May be NULL. */
typedef int (*kafka_after_commit_fn)(void *ctx, const kafka_record *records, size_t count);

/* Called between batches (also when none came), for periodic work such as replaying
 * effects whose commit was in doubt. May be NULL. */
typedef void (*kafka_idle_fn)(void *ctx);

typedef struct kafka_consumer_options {
    const char *brokers;
    const char *group_id;
    const char *const *topics;
    size_t ntopics;
    int batch_max;     /* records per batch */
    int batch_wait_ms; /* longest wait to fill a batch */
    pg_pool *pg;
    kafka_batch_fn on_batch;
    kafka_after_commit_fn after_commit;
    void *ctx;
    kafka_idle_fn on_idle; /* may be NULL */
    /* The batch transaction commits without waiting for its WAL flush (synchronous_commit
     * off). Only for consumers whose every effect of a batch is in that transaction, as
     * the offsets are: a Postgres crash may then lose the last batches, offsets and effects
     * together, and they are consumed again (nothing lost, nothing twice); nothing outside
     * Postgres may have acted on them. Saves a disk flush per batch. */
    bool lazy_commit;
    /* 0: a fetch answers as soon as one record is there (latency matters: the writer,
     * webhooks). N > 0: the broker holds a fetch up to N ms to fill it (fetch.min.bytes
     * KAFKA_BULK_FETCH_BYTES), for consumers where a little delay costs nothing and fewer,
     * fuller fetches save the broker and the consumer CPU per record. */
    int fetch_wait_ms;
    /* The group must see its topics whole: with no stored offset a partition starts at
     * offset 0, not at whatever the broker still holds, so a partition whose log start is
     * above 0 (retention deleted records) refuses like a stored offset below the log start
     * does (ERROR line, run returns -1). For consumers that rebuild a projection from the
     * whole history (analytics, activity). */
    bool whole_stream;
} kafka_consumer_options;

#define KAFKA_BULK_FETCH_BYTES "262144"

typedef struct kafka_consumer_loop kafka_consumer_loop;

kafka_consumer_loop *kafka_consumer_loop_create(const kafka_consumer_options *opts, char *err,
                                                size_t errlen);
/* Runs until *stop becomes non-zero, finishing (committing) the current batch first.
 * Returns 0 on a clean stop, -1 on a fatal error (a fatal Kafka error, or a retention gap:
 * an offset the group needs is no longer held by the broker). */
int kafka_consumer_loop_run(kafka_consumer_loop *loop, volatile sig_atomic_t *stop);
/* True when run returned -1 because the broker no longer holds an offset the group needs
 * (a retention gap, or a stored offset above the end of a recreated topic): the refusal,
 * not another fatal error. */
bool kafka_consumer_loop_refused(const kafka_consumer_loop *loop);
/* Closes the consumer (leaves the group) and frees. */
void kafka_consumer_loop_destroy(kafka_consumer_loop *loop);

#endif
