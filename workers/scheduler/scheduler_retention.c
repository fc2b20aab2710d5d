/*
 * scheduler_retention.c: the retention of analytics_seen_events (see
 * scheduler_retention.h for the rules it keeps).
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

int scheduler_prune_seen(pg_conn *conn, int retention_s, char *err, size_t errlen) {
    char retention[16];
    snprintf(retention, sizeof retention, "%d", retention_s);
    const char *values[1] = {retention};
    PGresult *res = pg_exec_stmt(conn, &PRUNE_SEEN, values);
    if (res == NULL || !pg_result_ok(res)) {
        errbuf_setf(err, errlen, "prune analytics_seen_events: %s",
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
