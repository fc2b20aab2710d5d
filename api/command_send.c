/*
 * command_send.c: producing task commands and reading their outcome (see command_send.h).
 *
 * Owns: the Kafka send of a command with its latency metric, the Redis pending marker,
 * the reads of the marker and of the commands row, the Prefer: wait poller, and reading
 * a task back no older than a reported version. Rules: the marker and the row are read
 * by (user id, command id) only; an unreadable marker counts as "Redis cannot answer"
 * (so the poller asks Postgres) rather than as an answer.
 */
#include "api/command_send.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/task_store.h"
#include "shared/cache_keys.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/problem.h"
#include "shared/task_model.h"
#include "shared/time_util.h"

#define PG_ACQUIRE_MS 2000

/* The row and where its Redis effects are (writer_pending_effects: a row still there is
 * undelivered, unless the writer released it). */
static const pg_stmt COMMAND_ROW = {
    "cmd_row_effects",
    "SELECT c.status, c.problem::text, c.task_version, c.task_id::text, c.type,"
    " CASE WHEN j.id IS NULL THEN 'landed' WHEN j.released THEN 'released' ELSE 'pending' END"
    " FROM commands c LEFT JOIN writer_pending_effects j ON j.id = c.effects_id"
    " WHERE c.command_id = $1::uuid AND c.user_id = $2::uuid",
    2};
/* The fence of a command Kafka may hold although it did not confirm it in time: the
 * writer skips a command whose id is in commands, so this row makes sure it is never
 * applied. ON CONFLICT: the writer recorded it first, so it was accepted after all. */
static const pg_stmt COMMAND_FENCE = {
    "cmd_fence",
    "INSERT INTO commands (command_id, user_id, task_id, type, status, problem)"
    " VALUES ($1::uuid, $2::uuid, $3::uuid, $4, 'rejected', $5::jsonb)"
    " ON CONFLICT (command_id) DO NOTHING RETURNING 1",
    5};
static const pg_stmt TASK_PRIMARY = {
    "cmd_task_primary",
    "SELECT " TASK_SELECT_COLUMNS " FROM tasks WHERE id = $1::uuid AND owner_id = $2::uuid", 2};

void command_outcome_clear(command_outcome *o) {
    json_decref(o->problem);
    memset(o, 0, sizeof *o);
    o->task_version = -1;
}

/* --- producing --- */

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
    char key[CACHE_KEY_MAX];
    cache_key_command(key, cmd->user_id, cmd->command_id);
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
    char key[CACHE_KEY_MAX];
    cache_key_command(key, cmd->user_id, cmd->command_id);
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
        snprintf(err, errlen, "kafka send: out of memory");
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

/* A command Kafka may hold although it did not confirm it: fences it (see the header),
 * in one transaction with the guard's check, so a retry's takeover of the request and
 * this fence happen one after the other, never interleaved. */
static fence_result fence_command(const api_app *app, const task_command *cmd,
                                  const command_fence_guard *guard) {
    char *problem = fence_problem();
    char err[256] = "out of memory";
    pg_conn *conn =
        problem != NULL ? pg_pool_acquire(app->pg, PG_ACQUIRE_MS, err, sizeof err) : NULL;
    fence_result r = FENCE_FAILED;
    if (conn != NULL && pg_begin(conn, err, sizeof err) == 0) {
        r = fence_in_txn(conn, cmd, problem, guard);
        if (r == FENCE_FAILED || r == FENCE_NOT_OURS)
            pg_rollback(conn);
        else if (pg_commit(conn, err, sizeof err) != 0)
            r = FENCE_FAILED;
    }
    if (conn != NULL)
        pg_pool_release(app->pg, conn);
    if (r == FENCE_FAILED)
        LOG_ERRORF("commands: could not fence %s (Kafka may still deliver it): %s", cmd->command_id,
                   err);
    free(problem);
    return r;
}

int task_command_submit(const api_app *app, const task_command *cmd, const char *request_id,
                        const command_fence_guard *guard, char *err, size_t errlen) {
    char *value = task_command_encode(cmd, request_id);
    if (value == NULL) {
        snprintf(err, errlen, "could not encode the command");
        return -1;
    }
    kafka_header headers[] = {{"request_id", request_id}};
    kafka_message msg = {
        .topic = TASK_COMMANDS_TOPIC,
        .key = cmd->user_id,
        .key_len = strlen(cmd->user_id),
        .value = value,
        .value_len = strlen(value),
        .headers = headers,
        .nheaders = 1,
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

/* --- outcomes --- */

static command_state state_of(const char *status) {
    if (status == NULL)
        return CMD_UNAVAILABLE;
    if (strcmp(status, "pending") == 0)
        return CMD_PENDING;
    if (strcmp(status, "applied") == 0)
        return CMD_APPLIED;
    if (strcmp(status, "rejected") == 0)
        return CMD_REJECTED;
    return CMD_UNAVAILABLE;
}

/* Fills out from a marker's JSON; the state it describes. */
static command_state outcome_from_json(const json_t *doc, command_outcome *out) {
    command_state st = state_of(json_string_value(json_object_get(doc, "status")));
    if (st == CMD_UNAVAILABLE)
        return st;
    out->state = st;
    const char *tid = json_string_value(json_object_get(doc, "task_id"));
    const char *type = json_string_value(json_object_get(doc, "type"));
    snprintf(out->task_id, sizeof out->task_id, "%s", tid != NULL ? tid : "");
    snprintf(out->type, sizeof out->type, "%s", type != NULL ? type : "");
    const json_t *v = json_object_get(doc, "task_version");
    out->task_version = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    const json_t *seq = json_object_get(doc, "nc_seq");
    out->nc_seq = json_is_integer(seq) ? (long long)json_integer_value(seq) : 0;
    json_t *problem = json_object_get(doc, "problem");
    if (st == CMD_REJECTED && json_is_object(problem))
        out->problem = json_deep_copy(problem);
    return st;
}

command_state task_command_read_marker(const api_app *app, const char *user_id,
                                       const char *command_id, command_outcome *out) {
    command_outcome_clear(out);
    char key[CACHE_KEY_MAX];
    cache_key_command(key, user_id, command_id);
    redisReply *r = redis_pool_command(app->redis, "GET %s", key);
    if (r == NULL)
        return CMD_UNAVAILABLE;
    command_state st = CMD_UNAVAILABLE;
    if (r->type == REDIS_REPLY_NIL) {
        st = CMD_UNKNOWN;
    } else if (r->type == REDIS_REPLY_STRING) {
        json_t *doc = json_loadb(r->str, r->len, 0, NULL);
        st = outcome_from_json(doc, out);
        json_decref(doc);
        if (st == CMD_UNAVAILABLE)
            LOG_WARNF("commands: unreadable marker %s", key);
    }
    freeReplyObject(r);
    if (st == CMD_UNAVAILABLE || st == CMD_UNKNOWN)
        command_outcome_clear(out);
    return st;
}

static command_state outcome_from_row(const PGresult *res, command_outcome *out) {
    command_state st = state_of(PQgetvalue(res, 0, 0));
    if (st != CMD_APPLIED && st != CMD_REJECTED) {
        LOG_WARNF("commands: a commands row has status %s", PQgetvalue(res, 0, 0));
        return CMD_UNAVAILABLE;
    }
    out->state = st;
    if (!PQgetisnull(res, 0, 1) && st == CMD_REJECTED)
        out->problem = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    out->task_version = PQgetisnull(res, 0, 2) ? -1 : strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    snprintf(out->task_id, sizeof out->task_id, "%s", PQgetvalue(res, 0, 3));
    snprintf(out->type, sizeof out->type, "%s", PQgetvalue(res, 0, 4));
    const char *effects = PQgetvalue(res, 0, 5);
    out->effects = strcmp(effects, "pending") == 0    ? CMD_EFFECTS_PENDING
                   : strcmp(effects, "released") == 0 ? CMD_EFFECTS_RELEASED
                                                      : CMD_EFFECTS_LANDED;
    return st;
}

command_state task_command_read_row(const api_app *app, const char *user_id, const char *command_id,
                                    command_outcome *out) {
    command_outcome_clear(out);
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg, PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("commands: no database connection: %s", err);
        return CMD_UNAVAILABLE;
    }
    const char *values[] = {command_id, user_id};
    PGresult *res = pg_exec_stmt(conn, &COMMAND_ROW, values);
    command_state st = CMD_UNAVAILABLE;
    if (!pg_result_ok(res) || PQnfields(res) != 6)
        LOG_WARNF("commands: reading the commands row failed: %s",
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
    else
        st = PQntuples(res) == 1 ? outcome_from_row(res, out) : CMD_UNKNOWN;
    PQclear(res);
    pg_pool_release(app->pg, conn);
    if (st == CMD_UNAVAILABLE || st == CMD_UNKNOWN)
        command_outcome_clear(out);
    return st;
}

/* --- reading the result back --- */

static int read_primary(const api_app *app, const char *user_id, const char *task_id,
                        json_t **out) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg, PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("commands: no database connection: %s", err);
        return -1;
    }
    const char *values[] = {task_id, user_id};
    PGresult *res = pg_exec_stmt(conn, &TASK_PRIMARY, values);
    int rc = -1;
    if (!pg_result_ok(res)) {
        LOG_WARNF("commands: reading the task failed: %s",
                  res != NULL ? PQresultErrorMessage(res) : "connection failed");
    } else if (PQntuples(res) == 0) {
        rc = 0;
    } else {
        *out = task_from_row(res, 0, NULL);
        rc = *out != NULL ? 1 : -1;
    }
    PQclear(res);
    pg_pool_release(app->pg, conn);
    return rc;
}

int task_command_read_task(const api_app *app, const char *user_id, const char *task_id,
                           long long min_version, json_t **out) {
    *out = NULL;
    json_t *task = NULL;
    task_store_result r = task_store_get(app, user_id, task_id, &task);
    if (r == TASK_STORE_FOUND && task_json_version(task) >= min_version) {
        *out = task;
        return 1;
    }
    /* Older than the writer reported (its Redis effects are still on their way), absent
     * from the cache's view, or the cache path failed: the primary is the truth. */
    json_decref(task);
    return read_primary(app, user_id, task_id, out);
}

/* --- answers --- */

static const char *state_name(command_state st) {
    switch (st) {
    case CMD_APPLIED:
        return "applied";
    case CMD_REJECTED:
        return "rejected";
    default:
        return "pending";
    }
}

json_t *command_outcome_json(const char *command_id, const command_outcome *o) {
    json_t *body = json_pack("{s:s,s:s}", "command_id", command_id, "status", state_name(o->state));
    if (body == NULL)
        return NULL;
    int rc = 0;
    rc |= json_object_set_new(body, "task_id",
                              o->task_id[0] != '\0' ? json_string(o->task_id) : json_null());
    rc |=
        json_object_set_new(body, "type", o->type[0] != '\0' ? json_string(o->type) : json_null());
    if (o->state == CMD_APPLIED && o->task_version >= 0)
        rc |= json_object_set_new(body, "task_version", json_integer(o->task_version));
    if (o->state == CMD_REJECTED && o->problem != NULL)
        rc |= json_object_set(body, "problem", o->problem);
    if (rc != 0) {
        json_decref(body);
        return NULL;
    }
    return body;
}

json_t *command_outcome_problem(const command_outcome *o, const char *request_id) {
    const json_t *p = o->problem;
    json_int_t status = json_integer_value(json_object_get(p, "status"));
    const char *type = json_string_value(json_object_get(p, "type"));
    const char *slug = type != NULL && strncmp(type, "/problems/", 10) == 0 ? type + 10 : NULL;
    if (status < 400 || status > 599 || slug == NULL || slug[0] == '\0') {
        LOG_ERRORF("commands: a rejected command carries no readable problem");
        return problem_new(500, "internal-error", "the command was rejected for an unknown reason",
                           request_id);
    }
    return problem_new((int)status, slug, json_string_value(json_object_get(p, "detail")),
                       request_id);
}
