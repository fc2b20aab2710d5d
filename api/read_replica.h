/*
 * read_replica.h: exact reads from the Postgres read replica (DATABASE_READ_URL), and the
 * fall back to the primary (docs/decisions.md "Exact reads from the replica", Issue 13).
 *
 * Owns: the choice of pool for a read that may use the replica, the replica's back-off
 * after a connection failure, and taskbus_db_reads_total{pool,reason}.
 * Rules:
 * - A read that must see what was reported applied carries the user's commit LSN
 *   ({u:<uid>}:lsn, written by the writer before anything says applied; read in the same
 *   Redis round trip the path already makes where it makes one). It runs on the replica
 *   only when the replica's pg_last_wal_replay_lsn() - '0/0', asked on the same
 *   connection just before the read (a separate statement: the read's snapshot is taken
 *   after the replay position was seen), is >= that LSN. A missing key, Redis unable to
 *   answer or not trusted (no near-cache lease), a replica in back-off, unreachable,
 *   busy, behind or not in recovery: the primary, at once (no waiting for the replica).
 * - A read that promises no exactness (the consumers' tables: READ_LSN_ANY) uses the
 *   replica whatever its lag, and the primary when the replica fails.
 * - A failure on the replica (connection or statement) retries the same read on the
 *   primary within the request; a connection failure also keeps the replica out of use
 *   for READ_REPLICA_BACKOFF_MS, so a dead replica costs one failed connect per back-off
 *   and not one per request.
 * - Without DATABASE_READ_URL (pg_read == pg) everything reads the primary and nothing
 *   is asked of Redis for it.
 */
#ifndef TASKBUS_API_READ_REPLICA_H
#define TASKBUS_API_READ_REPLICA_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/http_context.h"

/* How long a read waits for a free replica connection before it reads the primary. */
#define READ_REPLICA_ACQUIRE_MS 100
/* How long the replica is left alone after a connection failure (like redis_pool's). */
#define READ_REPLICA_BACKOFF_MS 1000

/* The LSN a read needs the replica to have replayed. */
typedef enum {
    READ_LSN_KNOWN,   /* lsn holds the user's recorded commit LSN */
    READ_LSN_MISSING, /* no key: no write in CACHE_COMMIT_LSN_TTL_S, or Redis lost it */
    READ_LSN_UNKNOWN, /* Redis could not answer, answered nonsense, or is not trusted */
    READ_LSN_ANY,     /* the read promises no exactness: any replay position will do */
} read_lsn_state;

typedef struct read_lsn {
    read_lsn_state state;
    int64_t lsn; /* READ_LSN_KNOWN only */
} read_lsn;

/* The replica's back-off state (one per process, in api_app; atomics, no lock). */
typedef struct read_replica read_replica;

/* NULL when out of memory. Registers the taskbus_db_reads_total series at 0. */
read_replica *read_replica_create(bool configured);
void read_replica_destroy(read_replica *r);

/* True when DATABASE_READ_URL names a pool of its own (the replica is worth asking). */
bool read_replica_configured(const api_app *app);

/* ---- pure parts (unit-tested) ---- */

/* The need from Redis' answer for {u:<uid>}:lsn: a decimal string is KNOWN, nil MISSING,
 * anything else (NULL, an error, not a non-negative int64) UNKNOWN. */
read_lsn read_lsn_from_reply(const redisReply *reply);
/* Parses a decimal non-negative int64 of len bytes. false when it is not one. */
bool read_lsn_parse(const char *text, size_t len, int64_t *out);
/* Before asking the replica: NULL when it may be tried for need, else the reason the
 * primary is read ("no_replica", "lsn_missing", "lsn_unknown", "replica_backoff"). */
const char *read_replica_precheck(bool configured, read_lsn need, bool backing_off);
/* After the replica answered its replay position (replay_known false: NULL, i.e. not in
 * recovery): NULL when the replica may serve need, else the reason ("replica_behind",
 * "replica_not_standby"). */
const char *read_replica_verdict(read_lsn need, bool replay_known, int64_t replay_lsn);

/* ---- reading ---- */

/* The user's commit LSN on its own round trip (for paths that make none to Redis), or
 * UNKNOWN when the replica is not configured (nothing is asked) or the near-cache lease
 * is not valid (Redis is not trusted). */
read_lsn read_lsn_fetch(const api_app *app, const char *user_id);

/* Runs the read on conn: 0 when it is done (its answer, found or not, is in arg), -1 when
 * it failed (arg holds nothing; the read may be run again on another connection). */
typedef int (*read_fn)(pg_conn *conn, void *arg);

/* Runs fn on the replica when need allows and the replica has replayed far enough, else
 * (or after it failed there) on the primary, with the usual API_PG_ACQUIRE_MS. 0 when fn
 * returned 0; -1 when no primary connection could be had or fn failed on it (err says
 * why). `what` names the read in logs. */
int read_exact(const api_app *app, read_lsn need, const char *what, read_fn fn, void *arg,
               char *err, size_t errlen);

#endif
