/*
 * command_report.h: what became of a task command (GET /api/v1/commands/{id}, and the
 * answer of a write that waited), and when it may be reported decided, under the
 * near-cache protocol (docs/decisions.md, "Near cache").
 *
 * Owns: reading a command's outcome (the Redis marker {u:<uid>}:cmd:<cid>, the Postgres
 * table commands), the decision "reportable or still pending" from the marker, the row
 * and the near-cache acknowledgements, and the answers built from an outcome. Rules:
 * every lookup is by (user id, command id), so another user's command is invisible; an
 * unreadable marker counts as "Redis cannot answer" (so a poller asks Postgres) rather
 * than as an answer. A rejection changes no task and is reported at once. An applied
 * command is reported only when no API instance can still serve the older state:
 * - its marker carries a near-cache sequence that every live instance acknowledged;
 * - or its row says the effects were released by the writer (Redis could not take them
 *   and every lease from before has run out);
 * - or its effects landed but the marker is gone (Redis lost it): every live instance has
 *   acknowledged the registry's current sequence.
 * Otherwise it is pending, whatever the row says.
 */
#ifndef TASKBUS_API_COMMAND_REPORT_H
#define TASKBUS_API_COMMAND_REPORT_H

#include <jansson.h>

#include "api/http_context.h"
#include "shared/uuid7.h"

typedef enum {
    CMD_UNKNOWN = 0, /* no record of this command for this user */
    CMD_PENDING,     /* accepted, not yet applied */
    CMD_APPLIED,     /* applied; task_version is the resulting version */
    CMD_REJECTED,    /* rejected; problem says why */
    CMD_UNAVAILABLE, /* the store could not answer */
} command_state;

/* Where a decided command's Redis effects are, as its commands row tells. */
typedef enum command_effects {
    CMD_EFFECTS_LANDED = 0, /* in Redis (or none to deliver) */
    CMD_EFFECTS_PENDING,    /* journaled, not delivered: not reportable from the row */
    CMD_EFFECTS_RELEASED,   /* journaled, released by the writer: reportable */
} command_effects;

typedef struct command_outcome {
    command_state state;
    char task_id[UUID_STR_LEN]; /* "" when the record does not say */
    char type[16];              /* "task.create", ... ; "" when the record does not say */
    long long task_version;     /* -1 when unknown */
    json_t *problem;            /* CMD_REJECTED: the problem (owned), else NULL */
    long long nc_seq;           /* marker: its near-cache sequence (0: none to wait for) */
    command_effects effects;    /* row: where its Redis effects are */
} command_outcome;

/* Frees the problem and resets o to "unknown". An outcome passed to the readers below
 * starts zeroed ({0}) or cleared, and is cleared again by its owner when done. */
void command_outcome_clear(command_outcome *o);

/* The Redis marker: PENDING / APPLIED / REJECTED; UNKNOWN when there is none;
 * UNAVAILABLE when Redis cannot answer or the marker is unreadable. */
command_state task_command_read_marker(const api_app *app, const char *user_id,
                                       const char *command_id, command_outcome *out);
/* The commands row (primary pool): APPLIED / REJECTED, UNKNOWN, or UNAVAILABLE. */
command_state task_command_read_row(const api_app *app, const char *user_id, const char *command_id,
                                    command_outcome *out);

/* APPLIED / REJECTED when reportable, PENDING, UNKNOWN (no such command), UNAVAILABLE. */
command_state command_report(const api_app *app, const char *user_id, const char *command_id,
                             command_outcome *out);

/* From the marker alone (one Redis read, the acknowledgement check when it says applied):
 * APPLIED/REJECTED when reportable, PENDING when it says pending or its sequence is not
 * acknowledged yet; UNKNOWN/UNAVAILABLE when it cannot decide (command_report can). */
command_state command_report_from_marker(const api_app *app, const char *user_id,
                                         const char *command_id, command_outcome *out);

/* The body of GET /api/v1/commands/{id}: {command_id, status, task_id, type, problem?,
 * task_version?} (new reference; NULL on allocation failure). */
json_t *command_outcome_json(const char *command_id, const command_outcome *o);

/* The problem of a rejected command for this request (new reference): the writer's
 * type, status and detail with this request's id; 500 internal-error when unreadable. */
json_t *command_outcome_problem(const command_outcome *o, const char *request_id);

#endif
