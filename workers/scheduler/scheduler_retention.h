/*
 * scheduler_retention.h: the retention of analytics_seen_events (docs/decisions.md
 * "Retention"), of expired project invitations and of expired mailed links (address
 * verifications, password resets with their decoy rows, address changes: a day past
 * their expiry; 0031_link_retention.sql).
 *
 * Owns: deleting the analytics consumer's de-duplication rows first seen longer than
 * TASKBUS_ANALYTICS_SEEN_RETENTION_SECONDS ago, and the project invitations past their
 * expiry (every reader already ignores those: the rows only took room; docs/decisions.md
 * "Issue 14"). That table only has to remember an event
 * id for as long as a copy of that event can still be consumed (a relay re-publication
 * still in the task-events topic); the window must exceed the topic's retention.ms +
 * segment.ms (decisions.md says why the default of 30 days is safe).
 * Rules: one autocommit statement per call, at most SCHEDULER_RETENTION_BATCH rows (the
 * oldest first), so no call holds locks long; the caller calls again at once while a call
 * was full. Several schedulers may run: SKIP LOCKED takes disjoint rows.
 */
#ifndef TASKBUS_WORKERS_SCHEDULER_SCHEDULER_RETENTION_H
#define TASKBUS_WORKERS_SCHEDULER_SCHEDULER_RETENTION_H

#include <stddef.h>

#include "shared/pg_pool.h"

#define SCHEDULER_RETENTION_BATCH 5000

/* Deletes up to SCHEDULER_RETENTION_BATCH rows of analytics_seen_events with seen_at older
 * than retention_s seconds, on conn (in the caller's transaction if one is open). The
 * number deleted, or -1 with err. */
int scheduler_prune_seen(pg_conn *conn, int retention_s, char *err, size_t errlen);

/* The tables of mailed links: email_verifications, password_resets, email_changes,
 * email_change_reverts, pending_registrations. */
#define SCHEDULER_LINK_TABLES 5

/* Deletes up to SCHEDULER_RETENTION_BATCH rows of link table `table` (0 to
 * SCHEDULER_LINK_TABLES - 1) a day past their expiry (the earliest first), on conn. The
 * number deleted, or -1 with err. */
int scheduler_prune_links(pg_conn *conn, int table, char *err, size_t errlen);

/* Deletes up to SCHEDULER_RETENTION_BATCH project invitations whose expires_at has passed
 * (the earliest first), on conn. The number deleted, or -1 with err. */
int scheduler_prune_invitations(pg_conn *conn, char *err, size_t errlen);

#endif
