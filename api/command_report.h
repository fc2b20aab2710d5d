/*
 * command_report.h: when a command may be reported decided (GET /api/v1/commands/{id},
 * Prefer: wait), under the near-cache protocol (docs/decisions.md, "Near cache").
 *
 * Owns: the decision "reportable or still pending" from the Redis marker, the commands
 * row and the near-cache acknowledgements. Rules: a rejection changes no task and is
 * reported at once. An applied command is reported only when no API instance can still
 * serve the older state:
 * - its marker carries a near-cache sequence that every live instance acknowledged;
 * - or its row says the effects were released by the writer (Redis could not take them
 *   and every lease from before has run out);
 * - or its effects landed but the marker is gone (Redis lost it): every live instance has
 *   acknowledged the registry's current sequence.
 * Otherwise it is pending, whatever the row says.
 */
#ifndef TASKBUS_API_COMMAND_REPORT_H
#define TASKBUS_API_COMMAND_REPORT_H

#include "api/http_context.h"
#include "api/command_send.h"

/* APPLIED / REJECTED when reportable, PENDING, UNKNOWN (no such command), UNAVAILABLE. */
command_state command_report(const api_app *app, const char *user_id, const char *command_id,
                             command_outcome *out);

/* Polls command_report for up to wait_s seconds: the Redis marker every
 * TASK_COMMAND_POLL_REDIS_MS, the full report every TASK_COMMAND_POLL_PG_MS while the
 * marker cannot decide. APPLIED or REJECTED when reportable in time, else PENDING. */
command_state command_report_wait(const api_app *app, const char *user_id, const char *command_id,
                                  int wait_s, command_outcome *out);

#endif
