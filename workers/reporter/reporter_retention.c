/*
 * reporter_retention.c: the retention of report files and rows (see reporter_retention.h
 * for the rules it keeps).
 */
#include "workers/reporter/reporter_retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/stringify.h"
#include "workers/reporter/reporter_removals.h"

/* clang-format off */
/* Finished longer ago than $1 seconds, not yet expired: marked. */
static const pg_stmt EXPIRE = {
    "reporter_retention_expire",
    "UPDATE reports SET expired_at = now() WHERE id IN (SELECT id FROM reports"
    " WHERE finished_at < now() - make_interval(secs => $1::int) AND expired_at IS NULL"
    " ORDER BY finished_at LIMIT " STRINGIFY(REPORTER_RETENTION_BATCH) " FOR UPDATE SKIP LOCKED)"
    " RETURNING id::text, format, status",
    1};

/* Expired longer ago than $1 seconds: deleted. */
static const pg_stmt DELETE_EXPIRED = {
    "reporter_retention_delete",
    "DELETE FROM reports WHERE id IN (SELECT id FROM reports"
    " WHERE expired_at < now() - make_interval(secs => $1::int)"
    " LIMIT " STRINGIFY(REPORTER_RETENTION_BATCH) " FOR UPDATE SKIP LOCKED)",
    1};
/* clang-format on */

/* Runs stmt with the retention; the result (caller clears), or NULL with err. */
static PGresult *exec_retention(pg_conn *conn, const pg_stmt *stmt, const char *retention,
                                char *err, size_t errlen) {
    const char *values[1] = {retention};
    return pg_exec_stmt_ok(conn, stmt, values, err, errlen);
}

int reporter_retention_run(pg_conn *conn, const char *dir, int retention_s,
                           reporter_retention_counts *out, char *err, size_t errlen) {
    char retention[16];
    snprintf(retention, sizeof retention, "%d", retention_s);
    memset(out, 0, sizeof *out);
    PGresult *res = exec_retention(conn, &EXPIRE, retention, err, errlen);
    if (res == NULL)
        return -1;
    int rows = PQntuples(res), rc = 0;
    for (int i = 0; i < rows && rc == 0; i++) {
        if (strcmp(PQgetvalue(res, i, 2), "ready") == 0)
            rc = reporter_remove_file(dir, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), err,
                                      errlen);
    }
    PQclear(res);
    if (rc != 0)
        return -1;
    out->expired = rows;
    res = exec_retention(conn, &DELETE_EXPIRED, retention, err, errlen);
    if (res == NULL)
        return -1;
    out->deleted = atoi(PQcmdTuples(res));
    PQclear(res);
    return 0;
}

int reporter_retention_pass(pg_conn *conn, const char *dir, int retention_s,
                            reporter_retention_counts *out, char *err, size_t errlen) {
    if (pg_begin(conn, err, errlen) != 0)
        return -1;
    if (reporter_retention_run(conn, dir, retention_s, out, err, errlen) != 0) {
        pg_rollback(conn);
        return -1;
    }
    return pg_commit(conn, err, errlen);
}
