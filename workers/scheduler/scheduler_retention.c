/*
 * scheduler_retention.c: the retention passes of taskbus-scheduler (see
 * scheduler_retention.h for the rules they keep).
 */
#include "workers/scheduler/scheduler_retention.h"

#include <stdio.h>
#include <stdlib.h>

#include "shared/errbuf.h"
#include "shared/stringify.h"

static const pg_stmt PRUNE_SEEN = {
    "scheduler_prune_seen",
    "DELETE FROM analytics_seen_events WHERE event_id IN (SELECT event_id"
    " FROM analytics_seen_events WHERE seen_at < now() - make_interval(secs => $1::int)"
    " ORDER BY seen_at LIMIT " STRINGIFY(SCHEDULER_RETENTION_BATCH) " FOR UPDATE SKIP LOCKED)",
    1};

static const pg_stmt PRUNE_INVITATIONS = {
    "scheduler_prune_invitations",
    "DELETE FROM project_invitations WHERE id IN (SELECT id FROM project_invitations"
    " WHERE expires_at <= now() ORDER BY expires_at"
    " LIMIT " STRINGIFY(SCHEDULER_RETENTION_BATCH) " FOR UPDATE SKIP LOCKED)",
    0};

/* Mailed links a day past their expiry; one statement per table (the caller runs them in
 * turn). */
#define PRUNE_LINKS(table, key)                                                                    \
    "DELETE FROM " table " WHERE " key " IN (SELECT " key " FROM " table                           \
    " WHERE expires_at < now() - interval '" LINK_GRACE "' ORDER BY expires_at"                    \
    " LIMIT " STRINGIFY(SCHEDULER_RETENTION_BATCH) " FOR UPDATE SKIP LOCKED)"
#define LINK_GRACE "1 day"

static const pg_stmt PRUNE_LINKS_OF[SCHEDULER_LINK_TABLES] = {
    {"scheduler_prune_email_verifications", PRUNE_LINKS("email_verifications", "token_hash"), 0},
    {"scheduler_prune_password_resets", PRUNE_LINKS("password_resets", "token_hash"), 0},
    {"scheduler_prune_email_changes", PRUNE_LINKS("email_changes", "token_hash"), 0},
    {"scheduler_prune_email_change_reverts", PRUNE_LINKS("email_change_reverts", "token_hash"), 0},
    {"scheduler_prune_pending_registrations", PRUNE_LINKS("pending_registrations", "token_hash"),
     0},
};

/* Runs one DELETE batch: the number of rows deleted, or -1 with err naming what. */
static int delete_batch(pg_conn *conn, const pg_stmt *stmt, const char *const *values,
                        const char *what, char *err, size_t errlen) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    if (res == NULL || !pg_result_ok(res)) {
        errbuf_setf(err, errlen, "prune %s: %s", what,
                    res != NULL ? PQresultErrorMessage(res) : "connection lost");
        if (res == NULL)
            pg_conn_mark_broken(conn);
        PQclear(res);
        return -1;
    }
    int n = atoi(PQcmdTuples(res));
    PQclear(res);
    return n;
}

int scheduler_prune_seen(pg_conn *conn, int retention_s, char *err, size_t errlen) {
    char retention[16];
    snprintf(retention, sizeof retention, "%d", retention_s);
    const char *values[1] = {retention};
    return delete_batch(conn, &PRUNE_SEEN, values, "analytics_seen_events", err, errlen);
}

int scheduler_prune_links(pg_conn *conn, int table, char *err, size_t errlen) {
    const pg_stmt *stmt = &PRUNE_LINKS_OF[table];
    return delete_batch(conn, stmt, NULL, stmt->name + sizeof "scheduler_prune_" - 1, err, errlen);
}

int scheduler_prune_invitations(pg_conn *conn, char *err, size_t errlen) {
    return delete_batch(conn, &PRUNE_INVITATIONS, NULL, "project_invitations", err, errlen);
}
