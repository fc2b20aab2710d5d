/*
 * relay_leader.c: the relay's leadership lock and its wake-up channel.
 *
 * Owns: pg_try_advisory_lock(PG_LOCK_RELAY_LEADER) and LISTEN outbox on the relay's one
 * connection, and the relay_handoff row (migration 0017) read and written in that lock
 * session.
 * Rules: both are session state, so they are taken together on the connection that also
 * publishes; a NOTIFY is only a hint (the relay polls every second anyway), so missing one
 * costs at most that second. relay_handoff is written only by the lock holder.
 */
#include "workers/relay/relay_leader.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/pg_locks.h"

int relay_try_lead(pg_conn *conn, char *err, size_t errlen) {
    PGresult *res =
        pg_exec_sql(conn, "SELECT pg_try_advisory_lock(" PG_LOCK_SQL(PG_LOCK_RELAY_LEADER) ")");
    if (!pg_result_ok(res) || PQntuples(res) != 1) {
        errbuf_setf(err, errlen, "taking the relay lock: %s",
                    res != NULL ? PQresultErrorMessage(res) : "connection failed");
        PQclear(res);
        pg_conn_mark_broken(conn);
        return -1;
    }
    bool got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!got) {
        return 0;
    }
    if (pg_run(conn, "LISTEN outbox", err, errlen) != 0) {
        pg_conn_mark_broken(conn); /* a reset drops the lock with the session */
        return -1;
    }
    return 1;
}

/* Consumes every pending notification; false when the connection failed. */
static bool drain_notifications(PGconn *raw) {
    if (PQconsumeInput(raw) == 0) {
        return false;
    }
    PGnotify *n;
    while ((n = PQnotifies(raw)) != NULL) {
        PQfreemem(n);
    }
    return PQstatus(raw) == CONNECTION_OK;
}

int relay_wait_wakeup(pg_conn *conn, int timeout_ms) {
    PGconn *raw = pg_conn_raw(conn);
    /* Notifications that arrived during the last batch's queries are already buffered. */
    PGnotify *pending = PQnotifies(raw);
    if (pending != NULL) {
        PQfreemem(pending);
        return drain_notifications(raw) ? 0 : -1;
    }
    struct pollfd pfd = {.fd = PQsocket(raw), .events = POLLIN};
    if (pfd.fd < 0) {
        pg_conn_mark_broken(conn);
        return -1;
    }
    int rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0 && errno != EINTR) {
        pg_conn_mark_broken(conn);
        return -1;
    }
    if (rc > 0 && !drain_notifications(raw)) {
        pg_conn_mark_broken(conn);
        return -1;
    }
    return 0;
}

void relay_resign(pg_conn *conn) {
    char err[256];
    if (pg_run(conn, "UNLISTEN *", err, sizeof err) != 0 ||
        pg_run(conn, "SELECT pg_advisory_unlock_all()", err, sizeof err) != 0) {
        LOG_WARNF("relay: resigning failed (%s); the connection is reset instead", err);
        pg_conn_mark_broken(conn);
    }
}

static const pg_stmt STMT_HANDOFF_READ = {
    .name = "relay_handoff_read",
    .sql = "SELECT leader, stopped_cleanly FROM relay_handoff",
    .nparams = 0,
};

static const pg_stmt STMT_HANDOFF_TAKE = {
    .name = "relay_handoff_take",
    /* An upsert: a row lost to an operator or a partial restore heals itself. */
    .sql = "INSERT INTO relay_handoff (only_row, leader, stopped_cleanly, changed_at)"
           " VALUES (true, $1, false, now())"
           " ON CONFLICT (only_row) DO UPDATE"
           " SET leader = EXCLUDED.leader, stopped_cleanly = false, changed_at = now()",
    .nparams = 1,
};

static const pg_stmt STMT_HANDOFF_CLEAN = {
    .name = "relay_handoff_clean",
    .sql = "UPDATE relay_handoff SET stopped_cleanly = true, changed_at = now()"
           " WHERE leader = $1",
    .nparams = 1,
};

int relay_handoff_read(pg_conn *conn, const char *self, bool *clean, bool *was_self, char *err,
                       size_t errlen) {
    PGresult *res = pg_exec_stmt(conn, &STMT_HANDOFF_READ, NULL);
    if (!pg_result_ok(res)) {
        errbuf_setf(err, errlen, "reading relay_handoff: %s",
                    res != NULL ? PQresultErrorMessage(res) : "connection failed");
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) != 1) {
        /* No row (only_row allows at most one): nobody vouches for a clean stop; take
         * writes it again. */
        LOG_WARNF("relay: relay_handoff has no row; treating the last leader as not stopped "
                  "cleanly");
        *clean = false;
        *was_self = false;
        PQclear(res);
        return 0;
    }
    *clean = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    *was_self = strcmp(PQgetvalue(res, 0, 0), self) == 0;
    PQclear(res);
    return 0;
}

static int handoff_write(pg_conn *conn, const pg_stmt *stmt, const char *self, char *err,
                         size_t errlen) {
    const char *vals[1] = {self};
    PGresult *res = pg_exec_stmt(conn, stmt, vals);
    int rc = 0;
    if (!pg_result_ok(res)) {
        errbuf_setf(err, errlen, "writing relay_handoff (%s): %s", stmt->name,
                    res != NULL ? PQresultErrorMessage(res) : "connection failed");
        rc = -1;
    } else if (strcmp(PQcmdTuples(res), "1") != 0) {
        errbuf_setf(err, errlen, "writing relay_handoff (%s): %s row(s) changed, not 1", stmt->name,
                    PQcmdTuples(res));
        rc = 1;
    }
    PQclear(res);
    return rc;
}

int relay_handoff_take(pg_conn *conn, const char *self, char *err, size_t errlen) {
    return handoff_write(conn, &STMT_HANDOFF_TAKE, self, err, errlen);
}

int relay_handoff_mark_clean(pg_conn *conn, const char *self, char *err, size_t errlen) {
    return handoff_write(conn, &STMT_HANDOFF_CLEAN, self, err, errlen);
}
