/*
 * rate_limit_sync.h: the reconciler of the local rate-limit buckets with the shared ones.
 *
 * Owns: one thread and one Redis connection of its own (never the request pool). Every
 * interval it collects the buckets that admitted requests since the last round
 * (local_limits_collect), pushes each bucket's count to its shared Redis bucket with
 * RATELIMIT_SYNC_LUA (shared/gcra.c), pipelined: one round trip per chunk of up to
 * LIMIT_SYNC_CHUNK buckets, and merges each answer (the shared bucket's state) back, so
 * every instance converges on what all of them admitted. It also sweeps full, clean
 * buckets away (one stripe per round) and reports its work in the metrics.
 * Rules: nothing on the request path waits for it. A round that cannot reach Redis (down,
 * frozen: connect/read/write timeouts of timeout_ms) gives the counts back to their buckets
 * for the next round and backs off reconnecting; meanwhile each instance limits alone.
 * Rounds with nothing to push make no Redis call. The connection is named
 * LIMIT_SYNC_CLIENT_NAME in CLIENT LIST.
 */
#ifndef TASKBUS_API_RATE_LIMIT_SYNC_H
#define TASKBUS_API_RATE_LIMIT_SYNC_H

#include <stddef.h>

#include "api/rate_limit_local.h"

#define LIMIT_SYNC_CHUNK 512
/* CLIENT SETNAME of the reconciler's connection (tools tell its traffic from the requests'). */
#define LIMIT_SYNC_CLIENT_NAME "taskbus-api-ratelimit"

typedef struct limit_sync limit_sync;

typedef struct limit_sync_params {
    local_limits *limits;     /* the reconciled table */
    local_limits *sweep_also; /* swept each round too, never pushed; may be NULL */
    const char *redis_url;    /* REDIS_URL */
    int timeout_ms;           /* connect, read and write timeout of the connection */
    int interval_ms;          /* time between rounds; 0: no thread (limit_sync_round only) */
} limit_sync_params;

/* Starts the reconciler (connecting lazily, in its thread). NULL with err on a malformed
 * URL or when the thread cannot start. */
limit_sync *limit_sync_start(const limit_sync_params *params, char *err, size_t errlen);

/* One round now. Only for a reconciler started with interval_ms 0 (tests); the thread runs
 * its own. 0 when everything collected was pushed and merged (or nothing was pending), -1
 * when Redis could not take all of it (what it did not take waits for the next round). */
int limit_sync_round(limit_sync *s);

/* Stops the thread after one last round (best effort: bounded by the timeout), closes the
 * connection and frees. NULL is fine. */
void limit_sync_stop(limit_sync *s);

#endif
