/*
 * relay_leader.c: the relay's leadership lock and its wake-up channel.
 *
 * Owns: pg_try_advisory_lock(PG_LOCK_RELAY_LEADER) and LISTEN outbox on the relay's one
 * connection.
 * Rules: both are session state, so they are taken together on the connection that also
 * publishes; a NOTIFY is only a hint (the relay polls every second anyway), so missing one
 * costs at most that second.
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
