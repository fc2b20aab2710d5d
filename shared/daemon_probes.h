/*
 * daemon_probes.h: the readiness checks of a daemon (GET /ready): does each of its own
 * dependencies answer now?
 *
 * Owns: one small client per dependency the daemon declares, kept for the process's life
 * and used only by the checks: a Postgres pool of one connection (SELECT 1), a librdkafka
 * handle (a metadata request for the broker list) and a Redis pool of one context (PING).
 * Rules:
 * - The clients are the probes' own, not the daemon's: a relay or importer holds its only
 *   pooled connection for as long as it works, and a probe must never wait for the loop.
 * - Every check is bounded: Postgres DAEMON_PROBE_TIMEOUT_MS to get a connection (a
 *   reconnect is bounded by connect_timeout DAEMON_PROBE_CONNECT_S), Kafka
 *   DAEMON_PROBE_TIMEOUT_MS, Redis its connect/read timeout (at most
 *   DAEMON_PROBE_TIMEOUT_MS). The checks run at the same time (a thread each), so /ready
 *   answers within the slowest: about 1 s, 2-3 s while a host is unreachable.
 * - Thread-safe: the pools serialise their connections; rd_kafka_metadata is thread-safe.
 */
#ifndef TASKBUS_SHARED_DAEMON_PROBES_H
#define TASKBUS_SHARED_DAEMON_PROBES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shared/config.h"

#define DAEMON_PROBE_TIMEOUT_MS 1000
#define DAEMON_PROBE_CONNECT_S 2

/* What a daemon depends on (a row's `needs`). */
#define DAEMON_NEEDS_POSTGRES 1u
#define DAEMON_NEEDS_KAFKA 2u
#define DAEMON_NEEDS_REDIS 4u

typedef struct daemon_probes daemon_probes;

/* The clients for needs (none connects yet). NULL with err ("DATABASE_URL: ..." or the
 * Kafka/Redis client's reason) when a URL is malformed. */
daemon_probes *daemon_probes_create(const taskbus_config *cfg, const char *service, unsigned needs,
                                    char *err, size_t errlen);
void daemon_probes_destroy(daemon_probes *p);

/* Runs every check. checks receives {"postgres": "ok" | reason, ...}. true when all
 * passed. */
bool daemon_probes_check(daemon_probes *p, json_t *checks);

#endif
