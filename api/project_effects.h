/*
 * project_effects.h: what a project write puts in its transaction besides its rows
 * (docs/decisions.md "Issue 14" / "Slice 1").
 *
 * Owns: the project's events on project-events (CloudEvents keyed by the project id, data
 * without personal data: ids, the role, the project's own fields; schemas/events/
 * taskbus.project.*.json), the invitation mail (the "project_invitation" notification)
 * and the membership mails ("project_role_changed", "project_removed": to the member an
 * owner changed or removed, never for one's own change or leaving). Rules: called inside
 * the write's open transaction, after its SQL function answered 'ok', so the event and
 * the mail commit exactly with the change (the notifier sends each once); an
 * invitation and a revocation have no event (an invitation names an e-mail address).
 */
#ifndef TASKBUS_API_PROJECT_EFFECTS_H
#define TASKBUS_API_PROJECT_EFFECTS_H

#include <jansson.h>

#include "api/project_store.h"
#include "shared/pg_pool.h"

#define PROJECT_EVENT_CREATED "taskbus.project.created"
#define PROJECT_EVENT_UPDATED "taskbus.project.updated"
#define PROJECT_EVENT_DELETED "taskbus.project.deleted"
#define PROJECT_EVENT_MEMBER_ADDED "taskbus.project.member_added"
#define PROJECT_EVENT_MEMBER_ROLE_CHANGED "taskbus.project.member_role_changed"
#define PROJECT_EVENT_MEMBER_REMOVED "taskbus.project.member_removed"

/* Writes op's effects for the answer doc (borrowed; values as project_store_call took
 * them) on conn's open transaction. 0, or -1 after logging (the caller rolls back). */
int project_effects_write(pg_conn *conn, project_op op, const char *const *values,
                          const json_t *doc, const project_request *req);

#endif
