/*
 * admin_set_role.h: taskbus-admin set-role EMAIL ROLE.
 *
 * Owns: changing a user's role. Rules: the role change and a token epoch bump commit
 * together, and the new epoch reaches Redis before the commit, so tokens carrying the old
 * role stop working at once; no such user, a bad role or Redis/Postgres trouble is exit 1
 * with a message, and then nothing changed.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_SET_ROLE_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_SET_ROLE_H

#include "shared/config.h"

/* Returns the exit code: 0 changed, 1 not changed (message on stderr). */
int admin_set_role(const taskbus_config *cfg, const char *email, const char *role);

#endif
