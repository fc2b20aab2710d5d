/*
 * daemon_startup.h: the start-up every long-running taskbus worker shares.
 *
 * Owns: the command line of a daemon (only --help/-h and --version; anything else is a
 * usage error),
 * loading the configuration, starting the log, installing the stop handlers, and applying
 * the migrations while waiting for Postgres to come up. Rules: nothing here exits; each
 * step reports the exit code the caller returns (0 after --help or --version, 2 for a usage error
 * or a bad configuration, 1 when the daemon cannot start). Messages before the log starts go to
 * stderr prefixed with the program name; later ones go to the log prefixed with the service name.
 * The Postgres wait polls the stop flag, so SIGTERM ends it at once.
 */
#ifndef TASKBUS_SHARED_DAEMON_STARTUP_H
#define TASKBUS_SHARED_DAEMON_STARTUP_H

#include <stdbool.h>

#include "shared/config.h"
#include "shared/pg_pool.h"

/* How long one attempt waits for a pooled connection, and the pause between attempts. */
#define DAEMON_PG_ACQUIRE_MS 5000
#define DAEMON_RETRY_MS 1000

typedef struct daemon_identity {
    const char *program; /* "taskbus-relay": --help and messages before the log starts */
    const char *service; /* "relay": the log's service and the prefix of its messages */
    const char *summary; /* one line for --help */
} daemon_identity;

/* Command line, configuration, log and stop handlers. true: run on with cfg loaded (the
 * caller config_free()s it). false: return *exit_code from main; cfg holds nothing. */
bool daemon_startup(const daemon_identity *id, int argc, char **argv, taskbus_config *cfg,
                    int *exit_code);

/* Applies schemas_dir/migrations, retrying every DAEMON_RETRY_MS while no connection can be
 * had. 0, or -1 when the migrations failed or a stop was requested meanwhile. */
int daemon_run_migrations(pg_pool *pool, const char *schemas_dir, const char *service);

#endif
