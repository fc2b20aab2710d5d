/*
 * instance_lease.h: this API process's liveness, as other processes can see it in Postgres.
 *
 * Owns: one Postgres connection of its own holding the session advisory lock
 * (PG_LOCK_INSTANCE_LEASE_CLASS, owner), and the thread that keeps it (re)taken.
 * Rules: the lock lives exactly as long as this process's session: kill -9 closes the
 * socket and Postgres drops the lock at once, so "is owner N alive?" is "does any session
 * hold (PG_LOCK_INSTANCE_LEASE_CLASS, N)?" (pg_locks). Idempotency claims carry the owner of
 * the request that made them (api/idempotency.c), so a retry can take over the claim of a
 * process that died without waiting for a timeout. The owner is a random positive int4,
 * chosen anew each time the lock is (re)taken; 0 means "not held right now" (a claim made
 * then counts as abandoned, which is safe: a takeover repeats the same command ids).
 */
#ifndef TASKBUS_API_INSTANCE_LEASE_H
#define TASKBUS_API_INSTANCE_LEASE_H

typedef struct instance_lease instance_lease;

/* Starts the keeper thread (it connects in the background). NULL out of memory. */
instance_lease *instance_lease_start(const char *database_url);
/* Stops the thread and closes the session (releasing the lock). NULL is fine. */
void instance_lease_stop(instance_lease *lease);

/* The owner id while the lock is held, else 0. Any thread. */
int instance_lease_owner(const instance_lease *lease);

#endif
