/*
 * admin_dlq.h: `taskbus-admin dlq list | show | replay --offset | skip`, one dead letter
 * at a time (`dlq replay --all` is admin_replay_dlq.h).
 *
 * Owns: the four jobs and what they print: plain text for people, one JSON document with
 * --json. A dead letter's status: skipped or replayed (dlq_marks), replayed (below the
 * progress of `replay --all`), else pending. Rules: exit 0 on success, 1 when the job
 * failed or the dead letter does not exist (or was skipped, for a replay), 2 for a bad
 * topic name or a bare OFFSET on a topic with several partitions; a failure is one line
 * on stderr.
 */
#ifndef TASKBUS_TOOLS_ADMIN_ADMIN_DLQ_H
#define TASKBUS_TOOLS_ADMIN_ADMIN_DLQ_H

#include "shared/config.h"
#include "tools/admin/admin_cli.h"

/* Runs the dlq job inv names (ADMIN_CMD_DLQ_LIST, _SHOW, _REPLAY without --all, _SKIP). */
int admin_dlq_run(const taskbus_config *cfg, admin_command command, const admin_dlq_args *args);

#endif
