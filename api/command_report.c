/*
 * command_report.c: what became of a task command, reported decided only when it is safe
 * (command_report.h).
 *
 * Rules: APPLIED is answered only on one of the three grounds command_report.h lists; a
 * Redis failure while checking acknowledgements is "pending", never a guess.
 */
#include "api/command_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/redis_keys.h"
#include "shared/log.h"
#include "shared/near_cache_bus.h"
#include "shared/problem.h"

/* The row and where its Redis effects are (writer_pending_effects: a row still there is
 * undelivered, unless the writer released it). */
static const pg_stmt COMMAND_ROW = {
    "cmd_row_effects",
    "SELECT c.status, c.problem::text, c.task_version, c.task_id::text, c.type,"
    " CASE WHEN j.id IS NULL THEN 'landed' WHEN j.released THEN 'released' ELSE 'pending' END"
    " FROM commands c LEFT JOIN writer_pending_effects j ON j.id = c.effects_id"
    " WHERE c.command_id = $1::uuid AND c.user_id = $2::uuid",
    2};

void command_outcome_clear(command_outcome *o) {
    json_decref(o->problem);
    memset(o, 0, sizeof *o);
    o->task_version = -1;
}

/* --- reading the outcome --- */

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
    char key[REDIS_KEY_MAX];
    redis_key_command(key, user_id, command_id);
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
    pg_conn *conn = pg_pool_acquire(app->pg, API_PG_ACQUIRE_MS, err, sizeof err);
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

/* --- reporting --- */

/* The registry's current sequence, for a marker Redis lost. */
#define CURRENT_SEQUENCE (-1)

/* 1 when every live instance acknowledged seq, else 0 (not yet, or Redis cannot say). */
static int acknowledged(const api_app *app, long long seq) {
    return near_cache_bus_acked(app->redis, seq, app->cfg->near_cache_lease_ms) == 1;
}

command_state command_report_from_marker(const api_app *app, const char *user_id, const char *id,
                                         command_outcome *out) {
    command_state st = task_command_read_marker(app, user_id, id, out);
    if (st == CMD_APPLIED && out->nc_seq > 0 && !acknowledged(app, out->nc_seq))
        return CMD_PENDING;
    return st;
}

/* An applied row: reportable as its effects say (see the header). */
static command_state from_applied_row(const api_app *app, const char *user_id, const char *id,
                                      command_outcome *out) {
    if (out->effects == CMD_EFFECTS_RELEASED)
        return CMD_APPLIED;
    if (out->effects == CMD_EFFECTS_PENDING)
        return CMD_PENDING;
    command_outcome marker = {0};
    command_state m = command_report_from_marker(app, user_id, id, &marker);
    /* A marker that still says "pending" although the effects landed: Redis lost the
     * writer's marker (and kept the API's older one). Like no marker at all. */
    bool stale_pending = m == CMD_PENDING && marker.state == CMD_PENDING;
    command_outcome_clear(&marker);
    if (m == CMD_APPLIED || (m == CMD_PENDING && !stale_pending))
        return m;
    if ((m == CMD_UNKNOWN || stale_pending) && acknowledged(app, CURRENT_SEQUENCE))
        return CMD_APPLIED;
    return CMD_PENDING;
}

/* Keeps what identifies the command (task id, type) and says pending. */
static command_state as_pending(command_outcome *out) {
    json_decref(out->problem);
    out->problem = NULL;
    out->task_version = -1;
    out->state = CMD_PENDING;
    return CMD_PENDING;
}

command_state command_report(const api_app *app, const char *user_id, const char *command_id,
                             command_outcome *out) {
    command_state row = task_command_read_row(app, user_id, command_id, out);
    if (row == CMD_REJECTED)
        return row;
    if (row == CMD_APPLIED) {
        command_state st = from_applied_row(app, user_id, command_id, out);
        return st == CMD_PENDING ? as_pending(out) : st;
    }
    /* No row (or no Postgres): the marker may still say pending, or decided where a
     * lagging read did not see the row yet. */
    command_state marker = command_report_from_marker(app, user_id, command_id, out);
    if (marker == CMD_PENDING)
        return as_pending(out);
    if (marker == CMD_APPLIED || marker == CMD_REJECTED)
        return marker;
    command_outcome_clear(out);
    return row == CMD_UNKNOWN ? CMD_UNKNOWN : CMD_UNAVAILABLE;
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
