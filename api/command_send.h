/*
 * command_send.h: sending a task command to Kafka.
 *
 * Owns: the API's side of docs/decisions.md "Tasks (issue 3)" Flow step 1: produce a
 * command (key: the user id; headers request_id and traceparent), wait for Kafka's delivery report,
 * and mark it pending in Redis ({u:<uid>}:cmd:<cid>). What became of it is command_report.h;
 * Prefer: wait is command_wait.h.
 * Rules: a command counts as accepted only once Kafka's delivery report says it is
 * durable. The producer's message.timeout.ms is TASKBUS_KAFKA_PRODUCE_TIMEOUT_MS (5 s),
 * and the wait for the report outlasts it by TASK_COMMAND_REPORT_SLACK_MS, so a write
 * is answered within a few seconds even with Kafka down. A failure answer must mean
 * "never applied": when the report leaves it in doubt whether the broker got the
 * message, the command is fenced first (a `rejected` commands row with the 503, which
 * the writer's de-duplication by command id then skips); if the writer recorded it
 * before the fence, it was accepted after all and is answered as such. The pending marker is
 * written with SET NX: the writer may have recorded the outcome before we get there, and pending
 * must never hide it.
 */
#ifndef TASKBUS_API_COMMAND_SEND_H
#define TASKBUS_API_COMMAND_SEND_H

#include <stddef.h>

#include "api/http_context.h"
#include "shared/task_command_codec.h"

/* How long after message.timeout.ms a delivery report may still come: librdkafka
 * scans for timed-out messages once a second. */
#define TASK_COMMAND_REPORT_SLACK_MS 2000

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

/* guard may be NULL (nothing but this request can answer for the command). request_id and
 * traceparent (may be NULL: no header) travel as the Kafka headers of the same names. */
int task_command_submit(const api_app *app, const task_command *cmd, const char *request_id,
                        const char *traceparent, const command_fence_guard *guard, char *err,
                        size_t errlen);

#endif
