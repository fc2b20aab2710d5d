/*
 * importer_sql.c: see importer_sql.h.
 */
#include "workers/importer/importer_sql.h"

#include "shared/errbuf.h"

PGresult *importer_exec(pg_conn *conn, const pg_stmt *stmt, const char *const *values, char *err,
                        size_t errlen) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    if (pg_result_ok(res)) {
        return res;
    }
    errbuf_setf_line(err, errlen, "%s: %s", stmt->name,
                     res != NULL ? PQresultErrorMessage(res) : "postgres connection failed");
    PQclear(res);
    return NULL;
}
