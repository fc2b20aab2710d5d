/*
 * importer_pass.h: the work of taskbus-importer between two sleeps
 * (docs/decisions.md "Import").
 *
 * Owns: finding imports still to produce, owning some of them, and for each owned import
 * producing the next items its token bucket allows as ordinary task.create commands
 * (shared/task_command.h, keyed by the user id, import_id set, command and task ids from
 * the stored row), then marking them produced and moving the import to running / done.
 * Rules:
 * - One importer produces a given import at a time: it owns the import through a
 *   session-level advisory lock (IMPORTER_LOCK_CLASS, hashtext(import id)) on its one
 *   Postgres connection, held until the import is done or the connection is lost. So the
 *   import's items reach Kafka in seq order and its bucket is the import's only bucket:
 *   several importers share the imports between them, never one import's rate.
 * - A batch is one transaction: SELECT ... FOR UPDATE SKIP LOCKED of the next items,
 *   produce them all and wait for every delivery report, then mark produced_at and the
 *   import's status, then COMMIT. A crash after the produce and before the commit
 *   produces the batch again; the writer skips a command id it has recorded and creates
 *   with ON CONFLICT DO NOTHING, so nothing is applied twice.
 * - Unused tokens (fewer items left than allowed) are given back.
 */
#ifndef TASKBUS_WORKERS_IMPORTER_PASS_H
#define TASKBUS_WORKERS_IMPORTER_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/kafka_producer.h"
#include "shared/pg_pool.h"
#include "shared/token_bucket.h"
#include "shared/uuid7.h"

#define IMPORTER_LOCK_CLASS 7264003
#define IMPORTER_BATCH_MAX 500
#define IMPORTER_MAX_OWNED 64
#define IMPORTER_SCAN_LIMIT 256

enum { IMPORTER_ERR_POSTGRES = -1, IMPORTER_ERR_KAFKA = -2 };

typedef struct importer_import {
    char id[UUID_STR_LEN];
    char user_id[UUID_STR_LEN];
    token_bucket bucket;
    bool seen; /* listed as unfinished by the latest scan */
} importer_import;

typedef struct importer {
    pg_conn *conn; /* holds the ownership locks; owned imports are forgotten with it */
    kafka_producer *producer;
    const char *topic;
    double rate; /* items per second per import */
    int delivery_timeout_ms;
    importer_import owned[IMPORTER_MAX_OWNED];
    int nowned;
} importer;

/* Lists unfinished imports and takes the ones no other importer owns (up to
 * IMPORTER_MAX_OWNED); drops owned imports that are no longer listed. 0, or
 * IMPORTER_ERR_POSTGRES with err. */
int importer_scan(importer *im, char *err, size_t errlen);

/* Produces, for every owned import, what its bucket allows. The number of items
 * produced, or IMPORTER_ERR_POSTGRES / IMPORTER_ERR_KAFKA with err (the failed batch is
 * rolled back and stays to produce). Finished imports are released. */
int importer_produce(importer *im, char *err, size_t errlen);

/* Nanoseconds until some owned import may produce again; -1 when none is owned. */
int64_t importer_next_due_ns(const importer *im);

/* Releases every ownership (after a lost connection the locks are gone already). */
void importer_forget(importer *im, bool connection_ok);

#endif
