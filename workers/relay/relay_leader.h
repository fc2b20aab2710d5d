/*
 * relay_leader.h: which relay publishes, and how it is woken.
 *
 * Owns: the session-level pg_try_advisory_lock(PG_LOCK_RELAY_LEADER, shared/pg_locks.h)
 * that makes exactly one relay the publisher (the others are standbys), and LISTEN outbox
 * on that same connection.
 * Rules: the lock lives and dies with its connection: whoever loses the connection has
 * lost the lock and must stop publishing until it takes the lock again.
 * The handoff fence (relay_handoff, migration 0017; docs/decisions.md "The relay's handoff
 * fence"): a new leader reads how the last leader left; unless it stopped cleanly (or was
 * this very process, now drained), the new leader waits out the fence (relay_main.c
 * FENCE_MS) before it publishes. A leader records itself on taking the lock and "stopped
 * cleanly" only after its producer was drained, with no failed delivery report within the
 * fence, on a graceful stop, before it resigns.
 */
#ifndef TASKBUS_WORKERS_RELAY_RELAY_LEADER_H
#define TASKBUS_WORKERS_RELAY_RELAY_LEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "shared/pg_pool.h"

/* Tries to take the lock and LISTEN. 1 when this process leads, 0 when another holds the
 * lock, -1 when the connection failed (err says why). */
int relay_try_lead(pg_conn *conn, char *err, size_t errlen);

/* Waits up to timeout_ms for a NOTIFY on outbox (consumed). 0 woken or timed out, -1 when
 * the connection failed. */
int relay_wait_wakeup(pg_conn *conn, int timeout_ms);

/* Gives the lock and the LISTEN up (before the connection goes back to its pool). */
void relay_resign(pg_conn *conn);

/* Reads relay_handoff: *clean = the last leader stopped cleanly, *was_self = it was the
 * relay whose instance id is self; no row reads as not clean, not self. 0, or -1 with err. */
int relay_handoff_read(pg_conn *conn, const char *self, bool *clean, bool *was_self, char *err,
                       size_t errlen);
/* Records self as the leader that has not stopped (before its first publish; an upsert).
 * 0; 1 when it changed no row (err says so); -1 on a failed statement (err). */
int relay_handoff_take(pg_conn *conn, const char *self, char *err, size_t errlen);
/* Records that self stopped cleanly (its producer drained); only while it holds the lock.
 * 0; 1 when no row names self (nothing marked; err says so); -1 on a failed statement. */
int relay_handoff_mark_clean(pg_conn *conn, const char *self, char *err, size_t errlen);

#endif
