/*
 * scheduler_pass.c: one pass of taskbus-scheduler (the due-soon reminders).
 *
 * Owns: the statement that locks, records and returns the pass's new reminders, and the
 * due_soon notifications built from what it returned.
 * Rules: one transaction per pass, committed only when every notification is in the
 * outbox; any failure rolls the whole pass back (nothing recorded, nothing sent), so the
 * next pass finds the same tasks again. Only rows the INSERT returned are notified:
 * ON CONFLICT DO NOTHING drops a pair another scheduler committed meanwhile. A committed
 * pass adds its reminders to taskbus_reminders_fired_total.
 */
#include "workers/scheduler/scheduler_pass.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "shared/errbuf.h"
#include "shared/metric_families.h"
#include "shared/notification.h"
#include "shared/time_util.h"

/* `due` is materialised once (it is referenced twice and locks rows), so the INSERT and
 * the final join see the same locked tasks. now() is the transaction's start: one
 * window per pass. The partial index tasks_due_open_idx (0007_reminders.sql) serves the
 * window scan. A task in a team project (no owner, migration 0022) has nobody to remind
 * until it has an assignee (docs/decisions.md, "Tasks in team projects (slice 3b)"). */
static const pg_stmt REMIND = {
    "scheduler_remind",
    "WITH due AS ("
    " SELECT t.id, t.owner_id, t.title, t.due_at FROM tasks t"
    " WHERE t.status <> 'done' AND t.due_at IS NOT NULL AND t.owner_id IS NOT NULL"
    "   AND t.due_at <= now() + make_interval(secs => $1::double precision)"
    "   AND t.due_at > now()"
    "   AND NOT EXISTS (SELECT 1 FROM reminders r"
    "                   WHERE r.task_id = t.id AND r.due_at = t.due_at)"
    " ORDER BY t.due_at LIMIT $2::int"
    " FOR UPDATE OF t SKIP LOCKED"
    "), ins AS ("
    " INSERT INTO reminders (task_id, due_at, user_id)"
    " SELECT id, due_at, owner_id FROM due"
    " ON CONFLICT DO NOTHING"
    " RETURNING task_id, due_at, user_id"
    ")"
    " SELECT ins.task_id::text, ins.user_id::text, u.email, due.title,"
    "        (extract(epoch FROM ins.due_at) * 1000)::bigint"
    " FROM ins JOIN due ON due.id = ins.task_id JOIN users u ON u.id = ins.user_id"
    " ORDER BY ins.due_at, ins.task_id",
    2,
};

/* Enqueues the due_soon notification of result row r. 0, or -1 with err. */
static int notify_row(pg_conn *conn, const PGresult *res, int r, const char *request_id, char *err,
                      size_t errlen) {
    char due[32];
    time_format_rfc3339_ms(strtoll(PQgetvalue(res, r, 4), NULL, 10), due, sizeof due);
    json_t *data = json_pack("{s:s, s:s, s:s}", "task_id", PQgetvalue(res, r, 0), "title",
                             PQgetvalue(res, r, 3), "due_at", due);
    if (data == NULL) {
        errbuf_setf(err, errlen, "cannot build the due_soon data (bad UTF-8 or memory)");
        return -1;
    }
    int rc = notification_enqueue(conn, "due_soon", PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
                                  data, request_id, NULL, err, errlen);
    json_decref(data);
    return rc;
}

/* The locked, recorded reminders of this pass (caller PQclear()s), or NULL with err. */
static PGresult *record_reminders(pg_conn *conn, int lead_s, char *err, size_t errlen) {
    char lead[16];
    char limit[16];
    snprintf(lead, sizeof lead, "%d", lead_s);
    snprintf(limit, sizeof limit, "%d", SCHEDULER_BATCH_MAX);
    const char *values[] = {lead, limit};
    PGresult *res = pg_exec_stmt(conn, &REMIND, values);
    if (res == NULL) {
        errbuf_setf(err, errlen, "Postgres connection lost");
        return NULL;
    }
    if (!pg_result_ok(res)) {
        errbuf_setf(err, errlen, "selecting due tasks: %s", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

int scheduler_remind(pg_conn *conn, int lead_s, const char *request_id, char *err, size_t errlen) {
    PGresult *res = record_reminders(conn, lead_s, err, errlen);
    if (res == NULL) {
        return -1;
    }
    int n = PQntuples(res);
    for (int r = 0; r < n; r++) {
        if (notify_row(conn, res, r, request_id, err, errlen) != 0) {
            PQclear(res);
            return -1;
        }
    }
    PQclear(res);
    return n;
}

int scheduler_pass(pg_conn *conn, int lead_s, const char *request_id, char *err, size_t errlen) {
    if (pg_begin(conn, err, errlen) != 0) {
        return -1;
    }
    int n = scheduler_remind(conn, lead_s, request_id, err, errlen);
    if (n < 0) {
        pg_rollback(conn);
        return -1;
    }
    if (pg_commit(conn, err, errlen) != 0) {
        pg_rollback(conn);
        return -1;
    }
    metric_reminders_fired(n); /* committed: each counted once */
    return n;
}
