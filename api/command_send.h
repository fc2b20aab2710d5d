/*
 * command_send.h: sending a task command to Kafka and following what became of it.
 *
 * Owns: the API's side of docs/decisions.md "Tasks (issue 3)" Flow step 1 and "API
 * answers": produce a command (key: the user id; header request_id) and wait for Kafka's
 * delivery report; mark it pending in Redis; read a command's outcome (Redis marker
 * {u:<uid>}:cmd:<cid>, Postgres table commands); poll for it for Prefer: wait; read the
 * resulting task back no older than the version the writer reported.
 * Rules: a command counts as accepted only once Kafka's delivery report says it is
 * durable. The producer's message.timeout.ms is TASKBUS_KAFKA_PRODUCE_TIMEOUT_MS (5 s),
 * and the wait for the report outlasts it by TASK_COMMAND_REPORT_SLACK_MS, so a write
 * is answered within a few seconds even with Kafka down. A failure answer must mean
 * "never applied": when the report leaves it in doubt whether the broker got the
 * message, the command is fenced first (a `rejected` commands row with the 503, which
 * the writer's de-duplication by command id then skips); if the writer recorded it
 * before the fence, it was accepted after all and is answered as such. The pending marker is
 * written with SET NX: the writer may have recorded the outcome before we get there, and pending
 * must never hide it. Every lookup is by (user id, command id), so another user's command is
 * invisible.
 */
#ifndef TASKBUS_API_COMMAND_SEND_H
#define TASKBUS_API_COMMAND_SEND_H

#include <jansson.h>
#include <stddef.h>

#include "api/http_context.h"
#include "shared/task_command_codec.h"

/* How long after message.timeout.ms a delivery report may still come: librdkafka
 * scans for timed-out messages once a second. */
#define TASK_COMMAND_REPORT_SLACK_MS 2000
#define TASK_COMMAND_POLL_REDIS_MS 5
#define TASK_COMMAND_POLL_PG_MS 50

/* Produces cmd and waits for Kafka's acknowledgement, then sets the pending marker (best
 * effort). 0 when Kafka holds the command; -1 (err says why) when it was not accepted and
 * never will be; TASK_COMMAND_IN_DOUBT when it was not confirmed and could not be fenced
 * (Postgres down too): it may still be applied, so a retry must repeat its ids. */
#define TASK_COMMAND_IN_DOUBT (-2)

/* Decides, inside the fence's transaction, whether this request may still fence its
 * command: 1 yes, 0 no (an idempotent retry took the request over and answers for the
 * same command now: fencing it would void the retry's accepted write), -1 error. */
typedef struct command_fence_guard {
    int (*may_fence)(pg_conn *conn, void *arg);
    void *arg;
} command_fence_guard;

/* guard may be NULL (nothing but this request can answer for the command). */
int task_command_submit(const api_app *app, const task_command *cmd, const char *request_id,
                        const command_fence_guard *guard, char *err, size_t errlen);

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

/* The task as stored, at least at min_version: the cache first (task_store_get), the
 * primary when the cache is older. 1 found (*out a new reference), 0 not found (e.g.
 * deleted since), -1 unavailable. */
int task_command_read_task(const api_app *app, const char *user_id, const char *task_id,
                           long long min_version, json_t **out);

/* The body of GET /api/v1/commands/{id}: {command_id, status, task_id, type, problem?,
 * task_version?} (new reference; NULL on allocation failure). */
json_t *command_outcome_json(const char *command_id, const command_outcome *o);

/* The problem of a rejected command for this request (new reference): the writer's
 * type, status and detail with this request's id; 500 internal-error when unreadable. */
json_t *command_outcome_problem(const command_outcome *o, const char *request_id);

#endif
