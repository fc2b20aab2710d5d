/*
 * admin_action.c: one admin action on a user in one transaction (see admin_action.h).
 *
 * Rules: the SQL function decides and audits (migration 0032), this file only orders the
 * effects around it: Redis before COMMIT (so no instance accepts an older token once the
 * answer is out), the epoch dropped again when the COMMIT does not happen (also when
 * Redis's reply to the publish was lost: it may hold the epoch). Every result is cleared
 * and every tree released on each path.
 */
#include "shared/admin_action.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/errbuf.h"
#include "shared/outbox.h"
#include "shared/user_epoch.h"
#include "shared/uuid7.h"

static const pg_stmt STMT_ACT = {
    .name = "admin_user_action",
    .sql = "SELECT outcome, epoch_moved, token_epoch, audit::text, target_doc::text"
           " FROM admin_user_action($1::uuid, $2::uuid, $3::uuid, $4, $5, $6)",
    .nparams = 6,
};

static const char *const ACTION_NAMES[] = {"lock", "unlock", "logout_all", "set_role"};

const char *admin_action_name(admin_action_kind kind) {
    return (size_t)kind < sizeof ACTION_NAMES / sizeof ACTION_NAMES[0] ? ACTION_NAMES[kind] : NULL;
}

bool admin_role_valid(const char *role) {
    return role != NULL && (strcmp(role, "user") == 0 || strcmp(role, "admin") == 0);
}

void admin_action_result_clear(admin_action_result *r) {
    json_decref(r->audit);
    json_decref(r->target);
    r->audit = NULL;
    r->target = NULL;
}

/* The outcome of a statement that failed: a lost connection, a lost deadlock or a timeout
 * is Postgres being unable to answer now (503: the request is not wrong). */
static admin_action_outcome failed(pg_conn *conn, const PGresult *res) {
    if (res == NULL || PQstatus(pg_conn_raw(conn)) != CONNECTION_OK)
        return ADMIN_ACTION_PG_DOWN;
    const char *state = pg_result_sqlstate(res);
    return strcmp(state, PG_SQLSTATE_DEADLOCK) == 0 ||
                   strcmp(state, PG_SQLSTATE_QUERY_CANCELED) == 0 ||
                   strcmp(state, PG_SQLSTATE_LOCK_NOT_AVAILABLE) == 0
               ? ADMIN_ACTION_PG_DOWN
               : ADMIN_ACTION_FAILED;
}

static admin_action_outcome outcome_of(const char *outcome) {
    return strcmp(outcome, "ok") == 0            ? ADMIN_ACTION_DONE
           : strcmp(outcome, "not_admin") == 0   ? ADMIN_ACTION_NOT_ADMIN
           : strcmp(outcome, "own_account") == 0 ? ADMIN_ACTION_OWN_ACCOUNT
           : strcmp(outcome, "not_found") == 0   ? ADMIN_ACTION_NOT_FOUND
                                                 : ADMIN_ACTION_FAILED;
}

/* What the function decided: DONE with *epoch_moved, *epoch and out's documents, or a
 * refusal. */
static admin_action_outcome decide(pg_conn *conn, const admin_action_request *req,
                                   bool *epoch_moved, long long *epoch, admin_action_result *out,
                                   char *err, size_t errlen) {
    char audit_id[UUID_STR_LEN];
    uuid7_generate(audit_id);
    const char *request_id =
        req->request_id != NULL && req->request_id[0] != '\0' ? req->request_id : NULL;
    const char *vals[6] = {audit_id,
                           req->actor_id,
                           req->target_id,
                           admin_action_name(req->kind),
                           req->kind == ADMIN_ACTION_SET_ROLE ? req->role : NULL,
                           request_id};
    PGresult *res = pg_exec_stmt(conn, &STMT_ACT, vals);
    if (res == NULL || !pg_result_ok(res) || PQntuples(res) != 1) {
        errbuf_setf(err, errlen, "%s: %s", STMT_ACT.name,
                    res != NULL ? PQresultErrorMessage(res) : "postgres connection lost");
        admin_action_outcome o = failed(conn, res);
        PQclear(res);
        return o;
    }
    admin_action_outcome o = outcome_of(PQgetvalue(res, 0, 0));
    if (o == ADMIN_ACTION_DONE) {
        *epoch_moved = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
        *epoch = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        out->audit = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
        out->target = json_loads(PQgetvalue(res, 0, 4), 0, NULL);
        if (out->audit == NULL || out->target == NULL) {
            errbuf_setf(err, errlen, "%s: unreadable documents", STMT_ACT.name);
            o = ADMIN_ACTION_FAILED;
        }
    } else if (o == ADMIN_ACTION_FAILED) {
        errbuf_setf(err, errlen, "%s: unknown outcome %s", STMT_ACT.name, PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return o;
}

/* taskbus.admin.action (data: the audit row's document) to the outbox. 0, or -1 with err. */
static int add_event(pg_conn *conn, const admin_action_request *req, const json_t *audit, char *err,
                     size_t errlen) {
    return outbox_add_user_event(conn, ADMIN_ACTION_EVENT, req->target_id, json_deep_copy(audit),
                                 req->request_id, req->traceparent, err, errlen);
}

/* The transaction's statements and the Redis epoch; *published says whether the epoch may
 * be in Redis (to be dropped if the transaction does not commit). */
static admin_action_outcome act_in_transaction(pg_conn *conn, const admin_action_request *req,
                                               admin_action_result *out, bool *published, char *err,
                                               size_t errlen) {
    bool epoch_moved = false;
    long long epoch = 0;
    admin_action_outcome o = decide(conn, req, &epoch_moved, &epoch, out, err, errlen);
    if (o != ADMIN_ACTION_DONE)
        return o;
    if (epoch_moved) {
        *published = true; /* before the call: a lost reply may still have stored it */
        if (user_epoch_publish(req->redis, req->target_id, epoch, req->lease_ms, err, errlen) != 0)
            return ADMIN_ACTION_REDIS_DOWN;
    }
    if (add_event(conn, req, out->audit, err, errlen) != 0)
        return PQstatus(pg_conn_raw(conn)) != CONNECTION_OK ? ADMIN_ACTION_PG_DOWN
                                                            : ADMIN_ACTION_FAILED;
    return ADMIN_ACTION_DONE;
}

admin_action_outcome admin_action_run(pg_conn *conn, const admin_action_request *req,
                                      admin_action_result *out, char *err, size_t errlen) {
    *out = (admin_action_result){0};
    if (admin_action_name(req->kind) == NULL ||
        (req->kind == ADMIN_ACTION_SET_ROLE && !admin_role_valid(req->role))) {
        errbuf_setf(err, errlen, "not an admin action");
        return ADMIN_ACTION_FAILED;
    }
    if (pg_begin(conn, err, errlen) != 0)
        return ADMIN_ACTION_PG_DOWN;
    bool published = false;
    admin_action_outcome o = act_in_transaction(conn, req, out, &published, err, errlen);
    if (o == ADMIN_ACTION_DONE && pg_commit(conn, err, errlen) != 0)
        o = ADMIN_ACTION_PG_DOWN;
    else if (o != ADMIN_ACTION_DONE)
        pg_rollback(conn);
    if (o != ADMIN_ACTION_DONE) {
        if (published)
            (void)user_epoch_forget(req->redis, req->target_id); /* the next check refills */
        admin_action_result_clear(out);
    }
    return o;
}
