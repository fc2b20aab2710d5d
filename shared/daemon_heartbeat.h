/*
 * daemon_heartbeat.h: the liveness tick of a daemon's main loop (for GET /health).
 *
 * Owns: one process-wide monotonic timestamp (an atomic: no lock) and the thread whose
 * ticks count. Rules: the skeleton (shared/daemon.c) binds the thread that runs the main
 * loop; daemon_heartbeat_touch() from any other thread (a helper thread, the HTTP
 * listener) is a no-op, so a busy helper cannot hide a stuck loop. Before a bind every
 * touch counts (unit tests, the start-up). Loops touch it once per turn and in their
 * back-off sleeps (daemon_sleep_ms does), so waiting for a dependency is not a stall.
 */
#ifndef TASKBUS_SHARED_DAEMON_HEARTBEAT_H
#define TASKBUS_SHARED_DAEMON_HEARTBEAT_H

#include <stdint.h>

/* Makes the calling thread the one whose touches count, and touches. */
void daemon_heartbeat_bind(void);

/* Records "the loop is alive now" (from the bound thread only). Cheap: a clock read. */
void daemon_heartbeat_touch(void);

/* Milliseconds since the last counted touch (0 when none happened yet). */
int64_t daemon_heartbeat_age_ms(void);

#endif
