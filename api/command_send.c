/*
 * command_send.c: sending a task command to Kafka (see command_send.h).
 *
 * Owns: the Kafka send of a command with its latency metric
 * (taskbus_kafka_produce_seconds), the Redis pending marker, and the fence of a command
 * Kafka did not confirm. Rules: the marker is written with SET NX while Kafka works on
 * the command and removed only when the command never reached Kafka; the fence and a
 * retry's takeover of the request run in one transaction. What became of the command is
 * read by command_report.c, waited for by command_wait.c.
 */
#include "api/command_send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/redis_keys.h"
#include "shared/errbuf.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/time_util.h"

/* The fence of a command Kafka may hold although it did not confirm it in time: the
 * writer skips a command whose id is in commands, so this row makes sure it is never
 * applied. ON CONFLICT: the writer recorded it first, so it was accepted after all. */
static const pg_stmt COMMAND_FENCE = {
    "cmd_fence",
    "INSERT INTO commands (command_id, user_id, task_id, type, status, problem)"
    " VALUES ($1::uuid, $2::uuid, $3::uuid, $4, 'rejected', $5::jsonb)"
    " ON CONFLICT (command_id) DO NOTHING RETURNING 1",
    5};
static void observe_produce(int64_t start_ns, bool ok) {
    double s = (double)(time_monotonic_ns() - start_ns) / 1e9;
    metrics_histogram_observe("taskbus_kafka_produce_seconds",
                              "Time from produce to Kafka's delivery report, API commands",
                              ok ? "topic=\"" TASK_COMMANDS_TOPIC "\",result=\"ok\""
                                 : "topic=\"" TASK_COMMANDS_TOPIC "\",result=\"error\"",
                              s);
}

/* Best effort: a missing marker only makes GET /commands answer 404 until the writer
 * records the outcome, and makes the poller ask Postgres. */
static void mark_pending(const api_app *app, const task_command *cmd) {
    json_t *marker = json_pack("{s:s,s:s,s:s}", "status", "pending", "type",
                               task_command_type_name(cmd->type), "task_id", cmd->task_id);
    char *text = marker != NULL ? json_dumps(marker, JSON_COMPACT) : NULL;
    json_decref(marker);
    if (text == NULL) {
        LOG_WARNF("commands: no memory for the pending marker");
        return;
    }
    char key[REDIS_KEY_MAX];
    redis_key_command(key, cmd->user_id, cmd->command_id);
    redisReply *r =
        redis_pool_command(app->redis, "SET %s %s EX %d NX", key, text, CACHE_COMMAND_TTL_S);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        LOG_WARNF("commands: could not mark %s pending: %s", cmd->command_id,
                  r != NULL ? r->str : "redis unavailable");
    if (r != NULL)
        freeReplyObject(r);
    free(text);
}

static void unmark_pending(const api_app *app, const task_command *cmd) {
    char key[REDIS_KEY_MAX];
    redis_key_command(key, cmd->user_id, cmd->command_id);
    redisReply *r = redis_pool_command(app->redis, "DEL %s", key);
    if (r != NULL)
        freeReplyObject(r);
}

/* Enqueues the command, writes the pending marker while Kafka works on it (the request's
 * one Redis round trip overlaps the produce), then waits for the delivery report. The
 * marker is SET NX, so a writer that was faster keeps its outcome. 0 when durable, else
 * -1 with *in_doubt as kafka_producer_send_doubt. */
static int produce_marked(const api_app *app, const task_command *cmd, const kafka_message *msg,
                          int wait_ms, bool *in_doubt, bool *marked, char *err, size_t errlen) {
    *in_doubt = false;
    kafka_delivery_group *g = kafka_delivery_group_new();
    if (g == NULL) {
        errbuf_setf(err, errlen, "kafka send: out of memory");
        return -1;
    }
    int rc = kafka_producer_enqueue(app->producer, g, msg, err, errlen);
    if (rc == 0) {
        mark_pending(app, cmd);
        *marked = true;
        rc = kafka_delivery_group_wait_doubt(g, wait_ms, in_doubt, err, errlen);
    }
    kafka_delivery_group_release(g);
    return rc;
}

/* The stored problem of a fenced command (caller free()s), or NULL. */
static char *fence_problem(void) {
    json_t *p = json_pack("{s:s,s:s,s:i,s:s}", "type", "/problems/service-unavailable", "title",
                          "Service Unavailable", "status", 503, "detail",
                          "Kafka did not confirm the command in time; it was not accepted and "
                          "will not be applied");
    char *text = p != NULL ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    return text;
}

/* What fence_in_txn found. */
typedef enum {
    FENCE_DONE,     /* fenced: never applied */
    FENCE_ACCEPTED, /* the writer had recorded it first: it was accepted after all */
    FENCE_NOT_OURS, /* a retry took the request over and answers for the command */
    FENCE_FAILED,   /* Postgres could not answer: in doubt */
} fence_result;

/* The fence's statements on an open transaction. */
static fence_result fence_in_txn(pg_conn *conn, const task_command *cmd, const char *problem,
                                 const command_fence_guard *guard) {
    int may = guard != NULL ? guard->may_fence(conn, guard->arg) : 1;
    if (may <= 0)
        return may == 0 ? FENCE_NOT_OURS : FENCE_FAILED;
    const char *values[] = {cmd->command_id, cmd->user_id, cmd->task_id,
                            task_command_type_name(cmd->type), problem};
    PGresult *res = pg_exec_stmt(conn, &COMMAND_FENCE, values);
    fence_result r = !pg_result_ok(res)    ? FENCE_FAILED
                     : PQntuples(res) == 1 ? FENCE_DONE
                                           : FENCE_ACCEPTED;
    if (r == FENCE_FAILED)
        LOG_ERRORF("commands: fencing %s: %s", cmd->command_id,
                   res != NULL ? PQresultErrorMessage(res) : "connection failed");
    PQclear(res);
    return r;
}

/* One try of the fence, in one transaction with the guard's check, so a retry's takeover
 * of the request and this fence happen one after the other, never interleaved. */
static fence_result fence_once(const api_app *app, const task_command *cmd, const char *problem,
                               const command_fence_guard *guard, char *err, size_t errlen) {
    pg_conn *conn = pg_pool_acquire(app->pg, API_PG_ACQUIRE_MS, err, errlen);
    fence_result r = FENCE_FAILED;
    if (conn != NULL && pg_begin(conn, err, errlen) == 0) {
        r = fence_in_txn(conn, cmd, problem, guard);
        if (r == FENCE_FAILED || r == FENCE_NOT_OURS)
            pg_rollback(conn);
        else if (pg_commit(conn, err, errlen) != 0)
            r = FENCE_FAILED;
    }
    if (conn != NULL)
        pg_pool_release(app->pg, conn);
    return r;
}

/* A command Kafka may hold although it did not confirm it: fences it (see the header).
 * An unfenced command is in doubt and its 503 would not be the truth, so the fence is
 * tried again for up to FENCE_DEADLINE_MS: a broker's failure makes many requests fence
 * at once and a busy pool must not decide it (the request is failing anyway; the time
 * is spent only on this path). */
#define FENCE_DEADLINE_MS 6000
#define FENCE_PAUSE_MS 200
static fence_result fence_command(const api_app *app, const task_command *cmd,
                                  const command_fence_guard *guard) {
    char *problem = fence_problem();
    char err[256] = "out of memory";
    fence_result r = FENCE_FAILED;
    int64_t deadline = time_monotonic_ns() + (int64_t)FENCE_DEADLINE_MS * 1000000;
    while (problem != NULL) {
        r = fence_once(app, cmd, problem, guard, err, sizeof err);
        if (r != FENCE_FAILED || time_monotonic_ns() >= deadline)
            break;
        time_sleep_ms(FENCE_PAUSE_MS);
    }
    if (r == FENCE_FAILED)
        LOG_ERRORF("commands: could not fence %s (Kafka may still deliver it): %s", cmd->command_id,
                   err);
    free(problem);
    return r;
}

int task_command_submit(const api_app *app, const task_command *cmd, const char *request_id,
                        const char *traceparent, const command_fence_guard *guard, char *err,
                        size_t errlen) {
    char *value = task_command_encode(cmd, request_id);
    if (value == NULL) {
        errbuf_setf(err, errlen, "could not encode the command");
        return -1;
    }
    kafka_header headers[] = {{"request_id", request_id}, {"traceparent", traceparent}};
    kafka_message msg = {
        .topic = TASK_COMMANDS_TOPIC,
        .key = task_command_key(cmd),
        .key_len = strlen(task_command_key(cmd)),
        .value = value,
        .value_len = strlen(value),
        .headers = headers,
        .nheaders = traceparent != NULL ? 2 : 1,
    };
    int64_t start = time_monotonic_ns();
    bool in_doubt = false;
    int wait_ms = app->cfg->kafka_produce_timeout_ms + TASK_COMMAND_REPORT_SLACK_MS;
    bool marked = false;
    int rc = produce_marked(app, cmd, &msg, wait_ms, &in_doubt, &marked, err, errlen);
    observe_produce(start, rc == 0);
    free(value);
    if (rc != 0 && !in_doubt && marked)
        unmark_pending(app, cmd); /* never reached Kafka: nothing will ever decide it */
    fence_result fenced = rc != 0 && in_doubt ? fence_command(app, cmd, guard) : FENCE_DONE;
    if (fenced == FENCE_ACCEPTED) {
        LOG_INFOF("commands: %s was recorded by the writer although Kafka did not confirm it",
                  cmd->command_id);
        rc = 0;
    } else if (fenced == FENCE_NOT_OURS) {
        LOG_INFOF("commands: %s not fenced: a retry of the request answers for it",
                  cmd->command_id);
    }
    if (rc != 0)
        return fenced == FENCE_DONE ? -1 : TASK_COMMAND_IN_DOUBT;
    return 0;
}
