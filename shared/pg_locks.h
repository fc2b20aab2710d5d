/*
 * pg_locks.h: every Postgres advisory lock key taskbus takes, in one place.
 *
 * Owns: the keys and why each exists. Rules: a new lock takes the next number of the
 * 72640xx block and a line here; SQL names a key through PG_LOCK_SQL (the number pasted
 * into the statement's text), never a literal. Single-key locks (bigint) show in pg_locks
 * as objid = key, objsubid 1; two-key locks (int4 class, int4 id) as classid = class,
 * objid = id, objsubid 2.
 *   7264001  migrations: shared/migrate.c holds pg_advisory_lock for a whole run, so
 *            processes starting together apply each file once.
 *   7264002  relay leadership: workers/relay/relay_leader.c keeps pg_try_advisory_lock
 *            on its publishing connection, so one relay publishes the outbox at a time.
 *   7264003  (class, hashtext(import id)): workers/importer/importer_pass.c owns an import
 *            while it produces it, so an import's items reach Kafka in order.
 *   7264004  (class, owner): api/instance_lease.c holds it as long as the API process
 *            lives; api/idempotency.c reads pg_locks to tell a dead claim holder from a
 *            live one (also named in schemas/migrations/0010_idempotency_takeover.sql).
 */
#ifndef TASKBUS_SHARED_PG_LOCKS_H
#define TASKBUS_SHARED_PG_LOCKS_H

#include "shared/stringify.h"

#define PG_LOCK_MIGRATE 7264001
#define PG_LOCK_RELAY_LEADER 7264002
#define PG_LOCK_IMPORTER_CLASS 7264003
#define PG_LOCK_INSTANCE_LEASE_CLASS 7264004

/* A key as SQL text: "SELECT pg_advisory_lock(" PG_LOCK_SQL(PG_LOCK_MIGRATE) ")". */
#define PG_LOCK_SQL(key) STRINGIFY(key)

#endif
