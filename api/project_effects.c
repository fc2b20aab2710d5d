/*
 * project_effects.c: a project write's event or mail (see project_effects.h for the rules
 * it keeps).
 */
#include "api/project_effects.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "shared/bus.h"
#include "shared/cloudevent.h"
#include "shared/log.h"
#include "shared/notification.h"
#include "shared/outbox.h"

/* What the invitation mail names: the project and the inviter. */
static const pg_stmt INVITE_NAMES = {"project_invite_names",
                                     "SELECT p.name, u.display_name FROM projects p, users u"
                                     " WHERE p.id = $1::uuid AND u.id = $2::uuid",
                                     2};

/* The invitation mail (values as PROJECT_OP_INVITE takes them). */
static int invitation_mail(pg_conn *conn, const char *const *values, const json_t *doc,
                           const project_request *req) {
    const char *names_of[2] = {values[1], values[2]};
    PGresult *names = pg_exec_stmt(conn, &INVITE_NAMES, names_of);
    if (!pg_result_ok(names) || PQntuples(names) != 1) {
        LOG_ERRORF("project effects: the invitation's names: %s",
                   names != NULL ? PQresultErrorMessage(names) : "connection lost");
        PQclear(names);
        return -1;
    }
    char url[512];
    snprintf(url, sizeof url, "%s/api/v1/invitations",
             req->public_url != NULL ? req->public_url : "");
    json_t *data =
        json_pack("{s:s,s:s,s:O,s:s,s:s,s:s}", "project_id", values[1], "project_name",
                  PQgetvalue(names, 0, 0), "invitation_id", json_object_get(doc, "id"), "role",
                  values[4], "inviter_name", PQgetvalue(names, 0, 1), "invitations_url", url);
    PQclear(names);
    char err[256] = "out of memory";
    int rc = data != NULL
                 ? notification_enqueue(conn, "project_invitation", values[2], values[3], data,
                                        req->request_id, req->traceparent, err, sizeof err)
                 : -1;
    json_decref(data);
    if (rc != 0) {
        LOG_ERRORF("project effects: invitation mail: %s", err);
    }
    return rc;
}

/* What a membership mail names: the project, who changed it, and the member's address. */
static const pg_stmt MEMBERSHIP_NAMES = {
    "project_membership_names",
    "SELECT p.name, a.display_name, t.email FROM projects p, users a, users t"
    " WHERE p.id = $1::uuid AND a.id = $2::uuid AND t.id = $3::uuid",
    3};

/* The mail to a member whose role an owner changed or who was removed (values as
 * PROJECT_OP_SET_ROLE / PROJECT_OP_REMOVE_MEMBER take them: id, actor, target). Nothing
 * when the member did it themselves (leaving, or an owner changing their own role). */
static int membership_mail(pg_conn *conn, project_op op, const char *const *values,
                           const json_t *doc, const project_request *req) {
    if (strcmp(values[1], values[2]) == 0) {
        return 0;
    }
    PGresult *names = pg_exec_stmt(conn, &MEMBERSHIP_NAMES, values);
    if (!pg_result_ok(names) || PQntuples(names) != 1) {
        LOG_ERRORF("project effects: the membership mail's names: %s",
                   names != NULL ? PQresultErrorMessage(names) : "connection lost");
        PQclear(names);
        return -1;
    }
    bool removed = op == PROJECT_OP_REMOVE_MEMBER;
    json_t *data = json_pack("{s:s,s:s,s:s}", "project_id", values[0], "project_name",
                             PQgetvalue(names, 0, 0), "actor_name", PQgetvalue(names, 0, 1));
    if (data != NULL && !removed &&
        json_object_set(data, "role", json_object_get(doc, "role")) != 0) {
        json_decref(data);
        data = NULL;
    }
    char err[256] = "out of memory";
    int rc = data != NULL
                 ? notification_enqueue(conn, removed ? "project_removed" : "project_role_changed",
                                        values[2], PQgetvalue(names, 0, 2), data, req->request_id,
                                        req->traceparent, err, sizeof err)
                 : -1;
    PQclear(names);
    json_decref(data);
    if (rc != 0) {
        LOG_ERRORF("project effects: membership mail: %s", err);
    }
    return rc;
}

/* The data of a created or updated event: the project's own fields from its document. */
static json_t *project_fields(const json_t *doc, const char *actor) {
    return json_pack("{s:O,s:s,s:O,s:O,s:O,s:O}", "project_id", json_object_get(doc, "id"),
                     "actor_id", actor, "name", json_object_get(doc, "name"), "description",
                     json_object_get(doc, "description"), "archived",
                     json_object_get(doc, "archived"), "version", json_object_get(doc, "version"));
}

/* The event type and data (new reference) of op, or NULL type when op has no event. */
static const char *event_of(project_op op, const char *const *values, const json_t *doc,
                            json_t **data) {
    *data = NULL;
    switch (op) {
    case PROJECT_OP_CREATE:
        *data = project_fields(doc, values[1]);
        return PROJECT_EVENT_CREATED;
    case PROJECT_OP_PATCH:
        *data = project_fields(doc, values[1]);
        return PROJECT_EVENT_UPDATED;
    case PROJECT_OP_DELETE:
        *data = json_pack("{s:s,s:s}", "project_id", values[0], "actor_id", values[1]);
        return PROJECT_EVENT_DELETED;
    case PROJECT_OP_SET_ROLE:
        *data = json_pack("{s:s,s:s,s:O,s:O}", "project_id", values[0], "actor_id", values[1],
                          "user_id", json_object_get(doc, "user_id"), "role",
                          json_object_get(doc, "role"));
        return PROJECT_EVENT_MEMBER_ROLE_CHANGED;
    case PROJECT_OP_REMOVE_MEMBER:
        *data = json_pack("{s:s,s:s,s:s}", "project_id", values[0], "actor_id", values[1],
                          "user_id", values[2]);
        return PROJECT_EVENT_MEMBER_REMOVED;
    case PROJECT_OP_ACCEPT:
        *data = json_pack("{s:s,s:s,s:s,s:O,s:s}", "project_id", values[0], "actor_id", values[2],
                          "user_id", values[2], "role", json_object_get(doc, "role"),
                          "invitation_id", values[1]);
        return PROJECT_EVENT_MEMBER_ADDED;
    default:
        return NULL;
    }
}

static int project_event(pg_conn *conn, project_op op, const char *const *values, const json_t *doc,
                         const project_request *req) {
    json_t *data;
    const char *type = event_of(op, values, doc, &data);
    if (type == NULL) {
        return 0;
    }
    const char *project_id =
        op == PROJECT_OP_CREATE ? json_string_value(json_object_get(doc, "id")) : values[0];
    if (data == NULL || project_id == NULL) {
        json_decref(data);
        LOG_ERRORF("project effects: %s: no memory or no project id", type);
        return -1;
    }
    char subject[64];
    snprintf(subject, sizeof subject, "projects/%s", project_id);
    json_t *event = cloudevent_new(type, subject, data, req->traceparent, NULL);
    char err[256] = "out of memory building the event";
    int rc = event != NULL ? outbox_add(conn, PROJECT_EVENTS_TOPIC, project_id, event,
                                        req->request_id, req->traceparent, err, sizeof err)
                           : -1;
    json_decref(event);
    if (rc != 0) {
        LOG_ERRORF("project effects: %s: %s", type, err);
    }
    return rc;
}

int project_effects_write(pg_conn *conn, project_op op, const char *const *values,
                          const json_t *doc, const project_request *req) {
    if (op == PROJECT_OP_INVITE) {
        return invitation_mail(conn, values, doc, req);
    }
    if (project_event(conn, op, values, doc, req) != 0) {
        return -1;
    }
    bool membership = op == PROJECT_OP_SET_ROLE || op == PROJECT_OP_REMOVE_MEMBER;
    return membership ? membership_mail(conn, op, values, doc, req) : 0;
}
