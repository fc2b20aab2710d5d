/*
 * daemon_signals.h: the stop flag every taskbus daemon shares.
 *
 * Owns: SIGTERM/SIGINT handlers that set one volatile sig_atomic_t flag, and ignoring
 * SIGPIPE (a peer that went away must surface as an EPIPE error, not kill the process).
 * Rules: handlers only store to the flag (async-signal-safe); loops poll the flag between
 * units of work and finish the unit in hand before they exit. Handlers are installed
 * without SA_RESTART, so a blocking poll()/sleep in the signalled thread returns early.
 */
#ifndef TASKBUS_SHARED_DAEMON_SIGNALS_H
#define TASKBUS_SHARED_DAEMON_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

/* Installs the handlers and ignores SIGPIPE. 0, or -1 (errno set) when sigaction failed. */
int daemon_signals_install(void);

/* The flag set by SIGTERM/SIGINT; pass it to loops that take a stop pointer. */
volatile sig_atomic_t *daemon_stop_flag(void);

/* True once a stop was requested. */
bool daemon_should_stop(void);

/* Requests a stop as if a signal had arrived (tests, fatal errors in a helper thread). */
void daemon_request_stop(void);

/* Sleeps up to ms in short steps; returns early (true) when a stop is requested. Touches
 * the heartbeat (shared/daemon_heartbeat.h) at every step. */
bool daemon_sleep_ms(int ms);

#endif
