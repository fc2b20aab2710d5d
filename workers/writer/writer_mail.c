/*
 * writer_mail.c: the mails an applied batch sends (see writer_mail.h).
 *
 * Owns: the lookup of the names and addresses a batch's assignment mails need (one
 * statement for the batch) and their enqueueing. Rules: every result is cleared and every
 * allocation freed before return; Postgres trouble fails the batch (retried), but a mail
 * that cannot be made (a party deleted under the batch: the project's lock does not hold
 * back a user's deletion; an address the notifier would refuse) is skipped with a warning:
 * no retry would change it, and failing would stall the partition for good.
 */
#include "workers/writer/writer_mail.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/notification.h"
#include "shared/outbox.h"
#include "shared/pg_array.h"
#include "shared/strbuf.h"

/* The assignees' addresses and names, the actors' names and the projects' names. */
static const pg_stmt STMT_PARTIES = {
    .name = "writer_mail_parties",
    .sql = "SELECT 'u', id::text, email, display_name FROM users WHERE id = ANY($1::uuid[])"
           " UNION ALL SELECT 'p', id::text, name, NULL FROM projects WHERE id = ANY($2::uuid[])",
    .nparams = 2,
};

/* The row of kind ('u' or 'p') and id in the lookup's result, or -1. */
static int party_row(const PGresult *res, char kind, const char *id) {
    for (int row = 0; row < PQntuples(res); row++) {
        if (PQgetvalue(res, row, 0)[0] == kind && strcmp(PQgetvalue(res, row, 1), id) == 0) {
            return row;
        }
    }
    return -1;
}

/* The team project an applied command left its task in (a move's target included); an
 * Inbox task assigns only its owner, who is the actor, so it never mails. */
static const char *project_of(const writer_item *it) {
    return it->dec.project;
}

static bool mails(const writer_item *it) {
    return it->dec.applied && it->dec.assigned[0] != '\0' && it->task_text != NULL;
}

/* STMT_PARTIES's arrays for the items that mail; false when none does. */
static bool party_arrays(const writer_item *items, size_t n, strbuf *users, strbuf *projects) {
    bool any = false;
    pg_array_open(users);
    pg_array_open(projects);
    for (size_t i = 0; i < n; i++) {
        if (mails(&items[i])) {
            pg_array_add(users, items[i].dec.assigned);
            pg_array_add(users, items[i].cmd->user_id);
            pg_array_add(projects, project_of(&items[i]));
            any = true;
        }
    }
    pg_array_close(users);
    pg_array_close(projects);
    return any;
}

/* The data of it's mail (new reference), or NULL when a party is missing (the actor
 * deleted under the batch: nobody to name) or memory ran out. */
static json_t *mail_data(const writer_item *it, const PGresult *res) {
    int actor = party_row(res, 'u', it->cmd->user_id);
    int project = party_row(res, 'p', project_of(it));
    json_t *task = json_loads(it->task_text, 0, NULL);
    const char *title = json_string_value(json_object_get(task, "title"));
    json_t *data =
        actor >= 0 && project >= 0 && title != NULL
            ? json_pack("{s:s,s:s,s:s,s:s,s:s}", "task_id", it->cmd->task_id, "title", title,
                        "project_id", project_of(it), "project_name", PQgetvalue(res, project, 2),
                        "actor_name", PQgetvalue(res, actor, 3))
            : NULL;
    json_decref(task);
    return data;
}

/* it's mail into the outbox: 0 (written, or skipped with a warning when it cannot be
 * made: a party gone, an address the notifier could not use, which no retry would
 * change, so the assignment is not held up for it), or -1 with err (the outbox insert
 * failed: Postgres trouble, the batch is retried). */
static int enqueue_one(pg_conn *conn, const writer_item *it, const PGresult *res, char *err,
                       size_t errlen) {
    int to = party_row(res, 'u', it->dec.assigned);
    json_t *data = to >= 0 ? mail_data(it, res) : NULL;
    char why[256] = "a party of the mail is gone";
    json_t *msg = data != NULL ? notification_build("task_assigned", it->dec.assigned,
                                                    PQgetvalue(res, to, 2), data, why, sizeof why)
                               : NULL;
    json_decref(data);
    if (msg == NULL) {
        LOG_WARNF("writer: task %s: the assignment mail to %s is not sent: %s", it->cmd->task_id,
                  it->dec.assigned, why);
        return 0;
    }
    int rc = outbox_add(conn, NOTIFICATIONS_TOPIC, it->dec.assigned, msg, it->request_id,
                        it->traceparent, err, errlen);
    json_decref(msg);
    return rc;
}

int writer_mail_assignments(pg_conn *conn, const writer_item *items, size_t n, char *sqlstate,
                            char *err, size_t errlen) {
    strbuf users = {0}, projects = {0};
    bool any = party_arrays(items, n, &users, &projects);
    int rc = 0;
    if (any && (users.failed || projects.failed)) {
        errbuf_setf(err, errlen, "out of memory listing an assignment mail's parties");
        rc = -1;
    } else if (any) {
        const char *vals[2] = {users.data, projects.data};
        PGresult *res = pg_exec_stmt(conn, &STMT_PARTIES, vals);
        if (!pg_result_ok(res)) {
            snprintf(sqlstate, 6, "%s", res != NULL ? pg_result_sqlstate(res) : "");
            errbuf_setf_line(err, errlen, "%s: %s", STMT_PARTIES.name,
                             res != NULL ? PQresultErrorMessage(res) : "connection lost");
            rc = -1;
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            rc = mails(&items[i]) ? enqueue_one(conn, &items[i], res, err, errlen) : 0;
        }
        PQclear(res);
    }
    free(users.data);
    free(projects.data);
    return rc;
}
