/*
 * admin_delete_user.h: taskbus-admin delete-user EMAIL.
 *
 * Owns: deleting one account, with its tokens refused at once. Rules: the user's row is
 * locked, the tombstone goes into Redis ({u:<id>}:epoch, shared/user_epoch.h), and only
 * then is the row deleted and committed (as revocations are written to Redis before the
 * Postgres commit), so no API instance accepts the user's tokens after the command
 * returns, without waiting for the deletion notification. It is the erasure of
 * DELETE /api/v1/users/me (shared/user_erasure.h): the only owner of a team project is
 * refused, taskbus.user.deleted goes on user-events, the cascades and the triggers of
 * 0010 and 0029 erase the rest. No such user, a refusal, or Redis/Postgres trouble before
 * the commit, is exit 1 with a message, and then the account is untouched.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_DELETE_USER_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_DELETE_USER_H

#include "shared/config.h"

/* Returns the exit code: 0 deleted, 1 not deleted (message on stderr). */
int admin_delete_user(const taskbus_config *cfg, const char *email);

#endif
