/*
 * command_wait.c: waiting for a command's outcome and reading its task back
 * (command_wait.h).
 *
 * Rules: the wait is a poll with a deadline (no sleep that usually suffices): Redis is
 * cheap and asked often, Postgres now and then; a failed read never ends the wait early
 * with a guess.
 */
#include "api/command_wait.h"

#include <stdint.h>

#include "api/task_store.h"
#include "shared/log.h"
#include "shared/task_model.h"
#include "shared/time_util.h"

static const pg_stmt TASK_PRIMARY = {
    "cmd_task_primary",
    "SELECT " TASK_SELECT_COLUMNS " FROM tasks WHERE id = $1::uuid AND owner_id = $2::uuid", 2};

command_state command_wait(const api_app *app, const char *user_id, const char *command_id,
                           int wait_s, command_outcome *out) {
    int64_t start = time_monotonic_ns();
    int64_t deadline = start + (int64_t)wait_s * 1000000000LL;
    int64_t next_full = start;
    for (;;) {
        command_state st = command_report_from_marker(app, user_id, command_id, out);
        if (st == CMD_APPLIED || st == CMD_REJECTED)
            return st;
        command_outcome_clear(out);
        int64_t now = time_monotonic_ns();
        /* The marker alone cannot say everything (Redis down or lost it; effects released
         * from the journal): the whole report, now and then. */
        if (now >= next_full) {
            next_full = now + (int64_t)COMMAND_WAIT_POLL_PG_MS * 1000000LL;
            st = command_report(app, user_id, command_id, out);
            if (st == CMD_APPLIED || st == CMD_REJECTED)
                return st;
            command_outcome_clear(out);
        }
        if (now >= deadline)
            break;
        time_sleep_ms(COMMAND_WAIT_POLL_REDIS_MS);
    }
    command_outcome_clear(out);
    out->state = CMD_PENDING;
    return CMD_PENDING;
}

/* --- reading the result back --- */

static int read_primary(const api_app *app, const char *user_id, const char *task_id,
                        json_t **out) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("commands: no database connection: %s", err);
        return -1;
    }
    const char *values[] = {task_id, user_id};
    PGresult *res = pg_exec_stmt(conn, &TASK_PRIMARY, values);
    int rc = -1;
    if (!pg_result_ok(res)) {
        LOG_WARNF("commands: reading the task failed: %s",
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
    } else if (PQntuples(res) == 0) {
        rc = 0;
    } else {
        *out = task_from_row(res, 0, NULL);
        rc = *out != NULL ? 1 : -1;
    }
    PQclear(res);
    pg_pool_release(app->pg, conn);
    return rc;
}

int task_command_read_task(const api_app *app, const char *user_id, const char *task_id,
                           long long min_version, json_t **out) {
    *out = NULL;
    json_t *task = NULL;
    task_store_result r = task_store_get(app, user_id, task_id, &task, NULL);
    if (r == TASK_STORE_FOUND && task_json_version(task) >= min_version) {
        *out = task;
        return 1;
    }
    /* Older than the writer reported (its Redis effects are still on their way), absent
     * from the cache's view, or the cache path failed: the primary is the truth. */
    json_decref(task);
    return read_primary(app, user_id, task_id, out);
}
