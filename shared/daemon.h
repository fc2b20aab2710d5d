/*
 * daemon.h: the one skeleton every taskbus daemon starts through.
 *
 * Owns: the life of a daemon process around its own work: the command line (--help,
 * --version), configuration, log and signals (shared/daemon_startup.c), the
 * taskbus_build_info and process_* metrics, the HTTP listener (GET /health, /ready,
 * /metrics on the port of shared/daemon_port.h, shared/daemon_http.c), the migrations,
 * then the row's start, run and stop, and the teardown in reverse order. A daemon's main
 * is one row: its identity, port offset, dependencies and three functions.
 * Rules:
 * - /health is 200 while the main loop's heartbeat (shared/daemon_heartbeat.h) is younger
 *   than the row's stall limit, 503 otherwise. /ready is 503 until the row's start
 *   returned and again once a stop began; in between, 200 when every dependency the row
 *   declares answers (shared/daemon_probes.h).
 * - The listener starts before the migrations (a daemon waiting for Postgres is alive
 *   but not ready). A port that cannot be bound ends the process with exit code 1 before
 *   it does anything else: a misconfigured deployment fails loudly. Port 0: no listener.
 * - start runs after the migrations; it creates the daemon's clients and loop and
 *   returns 0, or main's exit code (2 bad configuration, 1 cannot start). stop frees
 *   whatever start made, also after a failed or partial start; it is always called.
 * - run returns when daemon_should_stop() (0) or on a fatal error (1).
 * Exit codes: 0 stopped (also a stop during start-up), 1 could not start or a fatal
 * error, 2 bad configuration.
 */
#ifndef TASKBUS_SHARED_DAEMON_H
#define TASKBUS_SHARED_DAEMON_H

#include "shared/config.h"
#include "shared/daemon_port.h"
#include "shared/daemon_probes.h"
#include "shared/daemon_startup.h"
#include "shared/kafka_consumer.h"

/* A loop that has not ticked for this long is reported stalled by /health. */
#define DAEMON_STALL_LIMIT_S 60

typedef struct daemon_row {
    daemon_identity identity;
    int port_offset;   /* DAEMON_PORT_<NAME> */
    unsigned needs;    /* DAEMON_NEEDS_*: what /ready checks */
    int stall_limit_s; /* 0: DAEMON_STALL_LIMIT_S */
    int (*start)(void *app, const taskbus_config *cfg);
    int (*run)(void *app);
    void (*stop)(void *app);
} daemon_row;

/* The whole process: returns main's exit code. app is the row's state (zeroed by the
 * caller), passed to start, run and stop. */
int daemon_main(const daemon_row *row, void *app, int argc, char **argv);

/* A run for daemons whose work is one consumer loop: logs what it consumes and runs the
 * loop until a stop. 0, or 1 after a fatal Kafka error. */
int daemon_run_consumer(kafka_consumer_loop *loop, const char *service, const char *topic,
                        const char *group);

#endif
