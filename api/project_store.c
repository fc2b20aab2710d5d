/*
 * project_store.c: the Postgres side of projects in the API (see project_store.h for the
 * rules it keeps).
 */
#include "api/project_store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_context.h"
#include "api/if_match.h"
#include "api/project_effects.h"
#include "shared/log.h"

/* One statement per op, in project_op order; each answers one row (outcome, doc). */
static const pg_stmt OPS[] = {
    [PROJECT_OP_CREATE] = {"project_create",
                           "SELECT outcome, doc FROM project_create($1::uuid, $2::uuid, $3, "
                           "coalesce($4, ''), $5::int)",
                           5},
    [PROJECT_OP_GET] = {"project_get", "SELECT outcome, doc FROM project_get($1::uuid, $2::uuid)",
                        2},
    [PROJECT_OP_PATCH] = {"project_patch",
                          "SELECT outcome, doc FROM project_patch($1::uuid, $2::uuid, $3, $4, "
                          "$5::boolean, $6::bigint)",
                          6},
    [PROJECT_OP_DELETE] = {"project_delete",
                           "SELECT outcome, doc FROM project_delete($1::uuid, $2::uuid, "
                           "$3::bigint)",
                           3},
    [PROJECT_OP_MEMBERS] = {"project_members",
                            "SELECT outcome, doc FROM project_members_list($1::uuid, $2::uuid)", 2},
    [PROJECT_OP_SET_ROLE] = {"project_set_role",
                             "SELECT outcome, doc FROM project_member_set_role($1::uuid, "
                             "$2::uuid, $3::uuid, $4)",
                             4},
    [PROJECT_OP_REMOVE_MEMBER] = {"project_remove_member",
                                  "SELECT outcome, doc FROM project_member_remove($1::uuid, "
                                  "$2::uuid, $3::uuid)",
                                  3},
    [PROJECT_OP_INVITE] = {"project_invite",
                           "SELECT outcome, doc FROM project_invite($1::uuid, $2::uuid, "
                           "$3::uuid, $4, $5, $6::int, $7::int)",
                           7},
    [PROJECT_OP_INVITATIONS] = {"project_invitations",
                                "SELECT outcome, doc FROM project_invitations_list($1::uuid, "
                                "$2::uuid)",
                                2},
    [PROJECT_OP_REVOKE] = {"project_revoke",
                           "SELECT outcome, doc FROM project_invitation_revoke($1::uuid, "
                           "$2::uuid, $3::uuid)",
                           3},
    [PROJECT_OP_ACCEPT] = {"project_accept",
                           "SELECT outcome, doc FROM project_invitation_accept($1::uuid, "
                           "$2::uuid, $3::uuid, $4::int)",
                           4},
    [PROJECT_OP_MY_INVITATIONS] = {"project_my_invitations",
                                   "SELECT 'ok', project_invitations_of($1::uuid)", 1},
};

/* The version and the actor's role, under the project's row lock. */
static const pg_stmt VERSION_FOR = {
    "project_version_for", "SELECT role, version FROM project_version_for($1::uuid, $2::uuid)", 2};

/* Keyset page of the actor's projects; $3 archived filter (NULL: both). */
static const pg_stmt LIST = {
    "project_list",
    "SELECT project_doc(p, m.role), p.id FROM project_members m"
    " JOIN projects p ON p.id = m.project_id"
    " WHERE m.user_id = $1::uuid AND ($2::uuid IS NULL OR m.project_id > $2::uuid)"
    " AND ($3::boolean IS NULL OR p.archived = $3::boolean)"
    " ORDER BY m.project_id LIMIT $4::int",
    4};

static const struct {
    const char *text;
    project_outcome outcome;
} OUTCOMES[] = {
    {"ok", PROJECT_OK},
    {"not_found", PROJECT_NOT_FOUND},
    {"forbidden", PROJECT_FORBIDDEN},
    {"inbox", PROJECT_INBOX},
    {"not_empty", PROJECT_NOT_EMPTY},
    {"last_owner", PROJECT_LAST_OWNER},
    {"already_member", PROJECT_ALREADY_MEMBER},
    {"limit", PROJECT_LIMIT},
    {"unverified", PROJECT_UNVERIFIED},
    {"precondition", PROJECT_PRECONDITION},
    {"quiet", PROJECT_QUIET},
};

/* Logs the SQLSTATE and the primary message only: a DETAIL ("Failing row contains ...")
 * could carry an invitation's e-mail address. */
static void log_failure(const char *what, const PGresult *res) {
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    log_json(LOG_ERROR, "project store failed",
             json_pack("{s:s,s:s,s:s}", "op", what, "sqlstate",
                       res != NULL ? pg_result_sqlstate(res) : "", "error",
                       primary != NULL ? primary
                       : res != NULL   ? "unexpected answer"
                                       : "connection lost"));
}

/* Reads the (outcome, doc) row of res. */
static project_outcome read_answer(const char *what, const PGresult *res, json_t **doc) {
    if (PQntuples(res) != 1 || PQnfields(res) != 2) {
        log_failure(what, res);
        return PROJECT_UNAVAILABLE;
    }
    const char *text = PQgetvalue(res, 0, 0);
    project_outcome outcome = PROJECT_UNAVAILABLE;
    for (size_t i = 0; i < sizeof OUTCOMES / sizeof OUTCOMES[0]; i++) {
        if (strcmp(text, OUTCOMES[i].text) == 0) {
            outcome = OUTCOMES[i].outcome;
        }
    }
    if ((outcome == PROJECT_OK || outcome == PROJECT_QUIET) && !PQgetisnull(res, 0, 1)) {
        json_error_t jerr;
        *doc = json_loads(PQgetvalue(res, 0, 1), 0, &jerr);
        if (*doc == NULL) {
            LOG_ERRORF("project store: %s answered a document that is not JSON", what);
            return PROJECT_UNAVAILABLE;
        }
    }
    return outcome;
}

/* Runs stmt on conn; the result (caller PQclear()s) or NULL after logging. */
static PGresult *exec(pg_conn *conn, const pg_stmt *stmt, const char *const *values) {
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    if (res == NULL) {
        pg_conn_mark_broken(conn);
    }
    if (!pg_result_ok(res)) {
        log_failure(stmt->name, res);
        PQclear(res);
        return NULL;
    }
    return res;
}

static pg_conn *acquire(pg_pool *pg) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(pg, API_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        log_json(LOG_ERROR, "project store: no connection", json_pack("{s:s}", "error", err));
    }
    return conn;
}

/* The ops that change something: each runs in a transaction with its effects. */
static bool op_writes(project_op op) {
    return op != PROJECT_OP_GET && op != PROJECT_OP_MEMBERS && op != PROJECT_OP_INVITATIONS &&
           op != PROJECT_OP_MY_INVITATIONS;
}

/* The "if version" value of a guarded write: the current version when if_match matched,
 * else -1, which no project has (versions start at 1), so the SQL function refuses it. */
static project_outcome if_version(pg_conn *conn, const char *const *values, const char *if_match,
                                  char *out, size_t outlen, long long *current) {
    PGresult *res = exec(conn, &VERSION_FOR, values);
    if (res == NULL || PQntuples(res) != 1) {
        PQclear(res);
        return PROJECT_UNAVAILABLE;
    }
    long long version = PQgetisnull(res, 0, 1) ? -1 : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    *current = version;
    if_match_result m = if_match_evaluate(if_match, version);
    snprintf(out, outlen, "%lld", m == IF_MATCH_MATCHED || m == IF_MATCH_ANY ? version : -1);
    return PROJECT_OK;
}

/* BEGIN, the If-Match guard when asked, the op, its effects, COMMIT. A refusal is
 * committed as well (it changed nothing, or only what its function says). */
static project_outcome run_write(pg_conn *conn, project_op op, const char **values,
                                 const project_request *req, json_t **doc, long long *current) {
    char err[256], version[32];
    bool guarded = req->if_match != NULL && (op == PROJECT_OP_PATCH || op == PROJECT_OP_DELETE);
    size_t version_slot = op == PROJECT_OP_PATCH ? 5 : 2; /* the ops' "if version" value */
    if (pg_begin(conn, err, sizeof err) != 0) {
        LOG_ERRORF("project store: %s", err);
        return PROJECT_UNAVAILABLE;
    }
    if (guarded) {
        if (if_version(conn, values, req->if_match, version, sizeof version, current) !=
            PROJECT_OK) {
            return PROJECT_UNAVAILABLE;
        }
        values[version_slot] = version;
    }
    PGresult *res = exec(conn, &OPS[op], values);
    if (guarded) {
        values[version_slot] = NULL; /* version is this frame's */
    }
    project_outcome outcome =
        res != NULL ? read_answer(OPS[op].name, res, doc) : PROJECT_UNAVAILABLE;
    PQclear(res);
    if (outcome == PROJECT_OK && project_effects_write(conn, op, values, *doc, req) != 0) {
        outcome = PROJECT_UNAVAILABLE;
    }
    if (outcome != PROJECT_UNAVAILABLE && pg_commit(conn, err, sizeof err) != 0) {
        LOG_ERRORF("project store: %s", err);
        outcome = PROJECT_UNAVAILABLE;
    }
    return outcome == PROJECT_QUIET ? PROJECT_OK : outcome;
}

project_outcome project_store_call(pg_pool *pg, project_op op, const char **values,
                                   const project_request *req, json_t **doc, long long *current) {
    static const project_request NONE = {0};
    long long ignored;
    *doc = NULL;
    current = current != NULL ? current : &ignored;
    *current = -1;
    pg_conn *conn = acquire(pg);
    if (conn == NULL) {
        return PROJECT_UNAVAILABLE;
    }
    project_outcome outcome;
    if (op_writes(op)) {
        outcome = run_write(conn, op, values, req != NULL ? req : &NONE, doc, current);
    } else {
        PGresult *res = exec(conn, &OPS[op], values);
        outcome = res != NULL ? read_answer(OPS[op].name, res, doc) : PROJECT_UNAVAILABLE;
        PQclear(res);
    }
    if (outcome == PROJECT_UNAVAILABLE) {
        json_decref(*doc);
        *doc = NULL;
    }
    pg_pool_release(pg, conn); /* rolls back whatever is still open */
    return outcome;
}

project_outcome project_store_list(pg_pool *pg, const char *actor, const char *cursor,
                                   const char *archived, int limit, json_t **items, char *next) {
    *items = NULL;
    next[0] = '\0';
    char limit_text[16];
    snprintf(limit_text, sizeof limit_text, "%d", limit + 1); /* one more: is there a next? */
    const char *values[4] = {actor, cursor, archived, limit_text};
    pg_conn *conn = acquire(pg);
    if (conn == NULL) {
        return PROJECT_UNAVAILABLE;
    }
    PGresult *res = exec(conn, &LIST, values);
    pg_pool_release(pg, conn);
    if (res == NULL) {
        return PROJECT_UNAVAILABLE;
    }
    int rows = PQntuples(res);
    int shown = rows > limit ? limit : rows;
    json_t *page = json_array();
    for (int i = 0; page != NULL && i < shown; i++) {
        json_error_t jerr;
        json_t *doc = json_loads(PQgetvalue(res, i, 0), 0, &jerr);
        if (doc == NULL || json_array_append_new(page, doc) != 0) {
            json_decref(page);
            page = NULL;
        }
    }
    if (page != NULL && rows > limit) {
        snprintf(next, 37, "%s", PQgetvalue(res, shown - 1, 1));
    }
    PQclear(res);
    *items = page;
    return page != NULL ? PROJECT_OK : PROJECT_UNAVAILABLE;
}

/* The actor's role rank in a project and whether it is an Inbox (none: not a member). */
static const pg_stmt ROLE_RANK = {
    "project_role_rank_of",
    "SELECT project_role_rank(m.role), p.inbox_of IS NOT NULL FROM projects p"
    " JOIN project_members m ON m.project_id = p.id AND m.user_id = $2::uuid"
    " WHERE p.id = $1::uuid",
    2};

project_outcome project_store_role_rank(pg_pool *pg, const char *project, const char *actor,
                                        int *rank, bool *inbox) {
    *rank = 0;
    *inbox = false;
    const char *values[2] = {project, actor};
    pg_conn *conn = acquire(pg);
    if (conn == NULL) {
        return PROJECT_UNAVAILABLE;
    }
    PGresult *res = exec(conn, &ROLE_RANK, values);
    pg_pool_release(pg, conn);
    if (res == NULL) {
        return PROJECT_UNAVAILABLE;
    }
    project_outcome out = PROJECT_NOT_FOUND;
    if (PQntuples(res) == 1) {
        *rank = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
        *inbox = PQgetvalue(res, 0, 1)[0] == 't';
        out = PROJECT_OK;
    }
    PQclear(res);
    return out;
}
