/*
 * daemon_port.h: which port a daemon's HTTP listener (GET /health, /ready, /metrics) uses.
 *
 * Owns: the rule TASKBUS_<DAEMON>_METRICS_PORT if set, else TASKBUS_METRICS_PORT (the
 * base, default 9400) + the daemon's offset (writer 1 ... activity 9). Rules: 0 (the
 * per-daemon variable, or the base) means no listener; the variable is strict decimal
 * 0..65535 like every other; base + offset above 65535 is a configuration error.
 */
#ifndef TASKBUS_SHARED_DAEMON_PORT_H
#define TASKBUS_SHARED_DAEMON_PORT_H

#include <stddef.h>

#include "shared/config.h"

/* Offsets of the contract (docs/decisions.md, "Every daemon observable"). */
#define DAEMON_PORT_WRITER 1
#define DAEMON_PORT_RELAY 2
#define DAEMON_PORT_IMPORTER 3
#define DAEMON_PORT_NOTIFIER 4
#define DAEMON_PORT_WEBHOOKS 5
#define DAEMON_PORT_SCHEDULER 6
#define DAEMON_PORT_REPORTER 7
#define DAEMON_PORT_ANALYTICS 8
#define DAEMON_PORT_ACTIVITY 9

/* The port of service ("writer": TASKBUS_WRITER_METRICS_PORT) into *port (0: none).
 * lookup reads the environment (tests pass their own). 0, or -1 with err naming the
 * variable. */
int daemon_port_resolve(const char *service, int offset, int base_port, config_lookup_fn lookup,
                        void *ctx, int *port, char *err, size_t errlen);

#endif
