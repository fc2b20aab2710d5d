/*
 * project_access.h: a route's check that the caller may reach a project it names
 * (docs/decisions.md "Issue 14": a non-member gets 404 for the project and everything
 * under it, no existence oracle).
 *
 * Owns: the one answer to "not a member, or no such project" (404 not-found) and to the
 * membership being unreadable (503 with Retry-After) for every route that names a project
 * besides the project routes themselves: a task's create and move, the task list, the
 * stats, a report. Rules: one read of the primary (project_store_role_rank), so a removal
 * that committed is seen; what the rank allows (403, and its words) is the route's.
 */
#ifndef TASKBUS_API_PROJECT_ACCESS_H
#define TASKBUS_API_PROJECT_ACCESS_H

#include <stdbool.h>

#include "api/http_context.h"

typedef struct project_access {
    int rank;   /* the caller's role rank there (shared/project_roles.h) */
    bool inbox; /* the project is an Inbox (then the caller's own: its only member) */
} project_access;

/* The caller's access to project (a lower-case id): 1 with *out, or 0 after answering
 * 404 (not a member, no such project) or 503. */
int project_access_check(api_request_ctx *ctx, const char *project, project_access *out);

#endif
