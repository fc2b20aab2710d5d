/*
 * project_roles.h: the ranks of the project roles, as migration 0018's project_role_rank
 * gives them (a role's rank is what the services compare: the SQL function is the
 * source, these name its values).
 *
 * Rules: a higher rank may do everything a lower one may; writing a project's tasks needs
 * PROJECT_RANK_EDITOR (docs/decisions.md, "Tasks in team projects (slice 3b)").
 */
#ifndef TASKBUS_SHARED_PROJECT_ROLES_H
#define TASKBUS_SHARED_PROJECT_ROLES_H

#define PROJECT_RANK_VIEWER 1
#define PROJECT_RANK_EDITOR 2
#define PROJECT_RANK_OWNER 3

#endif
