/*
 * importer_pass.h: the Postgres and Kafka work of taskbus-importer between two ticks
 * (docs/decisions.md "Import" and "Issue 9", "Import throttle").
 *
 * Owns: finding imports still to produce, owning some of them, and producing the items
 * the throttle allotted to each as ordinary task.create commands (shared/task_command_codec.h,
 * keyed by the user id, import_id set, command and task ids from the stored row), then
 * marking them produced and moving each import to running / done.
 * Rules:
 * - One importer produces a given import at a time: it owns the import through a
 *   session-level advisory lock (PG_LOCK_IMPORTER_CLASS, hashtext(import id)) on its one
 *   Postgres connection, held until the import is done or the connection is lost. So the
 *   import's items reach Kafka in seq order; several importers share the imports between
 *   them, each with its own throttle.
 * - A tick is one transaction over every allotted import: SELECT ... FOR UPDATE SKIP
 *   LOCKED of each one's next items, produce them all and wait for every delivery report,
 *   then mark produced_at and each import's status, then COMMIT. A crash after the
 *   produce and before the commit produces the items again; the writer skips a command id
 *   it has recorded and creates with ON CONFLICT DO NOTHING, so nothing is applied twice.
 * - Every delivered batch (one import's items of one tick) goes into the in-flight
 *   ledger, from which the throttle learns the writer's apply latency.
 */
#ifndef TASKBUS_WORKERS_IMPORTER_IMPORTER_PASS_H
#define TASKBUS_WORKERS_IMPORTER_IMPORTER_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/kafka_producer.h"
#include "shared/pg_pool.h"
#include "shared/uuid7.h"
#include "workers/importer/importer_inflight.h"

#define IMPORTER_MAX_OWNED 64
#define IMPORTER_SCAN_LIMIT 256

enum { IMPORTER_ERR_POSTGRES = -1, IMPORTER_ERR_KAFKA = -2 };

typedef struct importer_import {
    char id[UUID_STR_LEN];
    char user_id[UUID_STR_LEN];
    int user;         /* equal for the owned imports of one user (the fair share's key) */
    int64_t left;     /* items still to produce, counted when owned */
    int64_t owned_ns; /* monotonic time it was owned */
    int64_t produced; /* items this importer produced of it */
    bool seen;        /* listed as unfinished by the latest scan */
} importer_import;

typedef struct importer {
    pg_conn *conn; /* holds the ownership locks; owned imports are forgotten with it */
    kafka_producer *producer;
    const char *topic;
    int delivery_timeout_ms;
    importer_import owned[IMPORTER_MAX_OWNED];
    int nowned;
    importer_inflight inflight; /* produced batches not yet applied */
} importer;

/* Lists unfinished imports and takes the ones no other importer owns (up to
 * IMPORTER_MAX_OWNED); drops owned imports that are no longer listed. 0, or
 * IMPORTER_ERR_POSTGRES with err. */
int importer_scan(importer *im, char *err, size_t errlen);

/* The items each owned import could still produce (its left count) into want[0..nowned)
 * and each one's user key into user[0..nowned). */
void importer_wants(const importer *im, int64_t *want, int *user);

/* Produces alloc[i] items of owned[i] (for every i < nowned) in one transaction. The
 * number of items produced, or IMPORTER_ERR_POSTGRES / IMPORTER_ERR_KAFKA with err (the
 * transaction is rolled back and the items stay to produce). Finished imports are
 * released. */
int64_t importer_produce(importer *im, const int64_t *alloc, char *err, size_t errlen);

/* Releases every ownership (after a lost connection the locks are gone already). */
void importer_forget(importer *im, bool connection_ok);

#endif
