/*
 * reporter_removals.c: removing report files, and the files of deleted reports (see
 * reporter_removals.h for the rules it keeps).
 */
#include "workers/reporter/reporter_removals.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shared/daemon_startup.h"
#include "shared/errbuf.h"
#include "shared/stringify.h"
#include "shared/uuid7.h"

/* clang-format off */
/* The oldest rows, taken and deleted in one statement; the names come back. */
static const pg_stmt TAKE = {
    "reporter_removals_take",
    "DELETE FROM report_file_removals WHERE report_id IN (SELECT report_id"
    " FROM report_file_removals ORDER BY removed_at"
    " LIMIT " STRINGIFY(REPORTER_REMOVALS_BATCH) " FOR UPDATE SKIP LOCKED)"
    " RETURNING report_id::text, format",
    0};
/* clang-format on */

static const pg_stmt RECORD = {"reporter_removals_record",
                               "INSERT INTO report_file_removals (report_id, format)"
                               " VALUES ($1::uuid, $2) ON CONFLICT (report_id) DO NOTHING",
                               2};

int reporter_remove_file(const char *dir, const char *id, const char *format, char *err,
                         size_t errlen) {
    if (!uuid_is_valid(id) || (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)) {
        errbuf_setf(err, errlen, "not a report file name: %s.%s", id, format);
        return -1;
    }
    char path[4352];
    int n = snprintf(path, sizeof path, "%s/%s.%s", dir, id, format);
    if (n < 0 || (size_t)n >= sizeof path) {
        errbuf_setf(err, errlen, "report path too long");
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        errbuf_setf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int reporter_removals_run(pg_conn *conn, const char *dir, int *removed, char *err, size_t errlen) {
    *removed = 0;
    PGresult *res = pg_exec_stmt_ok(conn, &TAKE, NULL, err, errlen);
    if (res == NULL)
        return -1;
    int rows = PQntuples(res), rc = 0;
    for (int i = 0; i < rows && rc == 0; i++)
        rc = reporter_remove_file(dir, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), err, errlen);
    PQclear(res);
    if (rc != 0)
        return -1;
    *removed = rows;
    return 0;
}

int reporter_removals_pass(pg_conn *conn, const char *dir, int *removed, char *err, size_t errlen) {
    *removed = 0;
    if (pg_begin(conn, err, errlen) != 0)
        return -1;
    if (reporter_removals_run(conn, dir, removed, err, errlen) != 0) {
        pg_rollback(conn);
        *removed = 0;
        return -1;
    }
    if (pg_commit(conn, err, errlen) != 0) {
        *removed = 0;
        return -1;
    }
    return 0;
}

long long reporter_removals_wait_ms(int rc, int removed) {
    if (rc != 0)
        return DAEMON_RETRY_MS;
    return removed >= REPORTER_REMOVALS_BATCH ? 0 : REPORTER_REMOVALS_EVERY_MS;
}

int reporter_removals_record(pg_conn *conn, const char *id, const char *format, char *err,
                             size_t errlen) {
    const char *values[2] = {id, format};
    PGresult *res = pg_exec_stmt_ok(conn, &RECORD, values, err, errlen);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}
