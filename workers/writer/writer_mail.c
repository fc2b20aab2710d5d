/*
 * writer_mail.c: the mails an applied batch sends (see writer_mail.h).
 *
 * Owns: the lookup of the names and addresses a batch's assignment mails need (one
 * statement for the batch) and their enqueueing. Rules: every result is cleared and every
 * allocation freed before return; a party the lookup does not return (a user deleted
 * under the batch cannot be: the assignee's membership row, read under the project's lock,
 * references them) fails the batch rather than drop a mail.
 */
#include "workers/writer/writer_mail.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/notification.h"
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

/* The data of it's mail (new reference), or NULL with err. */
static json_t *mail_data(const writer_item *it, const PGresult *res, char *err, size_t errlen) {
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
    if (data == NULL) {
        errbuf_setf(err, errlen, "task %s: its assignment mail could not be built",
                    it->cmd->task_id);
    }
    return data;
}

static int enqueue_one(pg_conn *conn, const writer_item *it, const PGresult *res, char *err,
                       size_t errlen) {
    int to = party_row(res, 'u', it->dec.assigned);
    json_t *data = to >= 0 ? mail_data(it, res, err, errlen) : NULL;
    if (to < 0) {
        errbuf_setf(err, errlen, "task %s: its assignee %s has no account", it->cmd->task_id,
                    it->dec.assigned);
    }
    int rc = data != NULL ? notification_enqueue(conn, "task_assigned", it->dec.assigned,
                                                 PQgetvalue(res, to, 2), data, it->request_id,
                                                 it->traceparent, err, errlen)
                          : -1;
    json_decref(data);
    return rc;
}

int writer_mail_assignments(pg_conn *conn, const writer_item *items, size_t n, char *err,
                            size_t errlen) {
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
