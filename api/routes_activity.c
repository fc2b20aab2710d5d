/*
 * routes_activity.c: GET /api/v1/activity (ROUTES_ACTIVITY), the read side of the
 * activity consumer (consumers/activity/).
 *
 * Owns: the answer of docs/decisions.md "Analytics and activity" for the activity feed.
 * Rules:
 * - The user is always the access token's sub; every query names it, or (project=<id>)
 *   names a project the caller is a member of, checked on the primary first
 *   (api/project_access.h: 404 for anyone else, so a removed member loses the log at
 *   once). A project's log is of v2 events and its items name who acted (actor_id) and
 *   the project; the user's own log is as it was (v1 events of what the user did).
 * - The query string is strict (consumer_reads.h): unknown parameters and repeats are
 *   422, and a 422 lists every bad parameter at once ({field, message}).
 * - Newest first, keyset on (occurred_at, event_id), limit 1-100 (default 20). The
 *   cursor is opaque: base64url of "<occurred_at in Unix microseconds>.<event_id>"; it
 *   only positions a list that is always filtered by the caller's id, so a forged cursor
 *   shows nothing it could not already see; a cursor that does not decode is 422.
 * - The consumer fills the table asynchronously: what was just written shows up once it
 *   has read its event (usually within a second).
 * - Postgres unavailable is 503 with Retry-After (the read pool, DATABASE_READ_URL).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/consumer_reads.h"
#include "api/project_access.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "shared/uuid7.h"

#define ACTIVITY_LIMIT_DEFAULT 20
#define ACTIVITY_LIMIT_MAX 100
#define CURSOR_TEXT_MAX 128
/* Unix microseconds of 9999-12-31: no occurred_at lies beyond it. */
#define CURSOR_US_MAX 253402300799999999LL
#define TIME_FORMAT "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"

/* The columns of a page of one log: the user's (table activity, key user_id; who acted is
 * the user, the project is not known) or a project's (project_activity, key project_id). */
#define ACTIVITY_COLUMNS(table, key, actor, project)                                               \
    "SELECT event_id::text, type, task_id::text, title,"                                           \
    " to_char(occurred_at AT TIME ZONE 'UTC', " TIME_FORMAT "), data::text,"                       \
    " (extract(epoch FROM occurred_at) * 1000000)::bigint, " actor ", " project " FROM " table     \
    " WHERE " key " = $1"
#define FIRST_PAGE " ORDER BY occurred_at DESC, event_id DESC LIMIT $2"
#define PAGE_AFTER                                                                                 \
    " AND (occurred_at, event_id) <"                                                               \
    " (to_timestamp(0) + $3::bigint * interval '1 microsecond', $4::uuid)"                         \
    " ORDER BY occurred_at DESC, event_id DESC LIMIT $2"
#define USER_LOG ACTIVITY_COLUMNS("activity", "user_id", "NULL::text", "NULL::text")
#define PROJECT_LOG                                                                                \
    ACTIVITY_COLUMNS("project_activity", "project_id", "actor_id::text", "project_id::text")

static const pg_stmt STMT_ACTIVITY_FIRST = {"insights_activity_first", USER_LOG FIRST_PAGE, 2};
static const pg_stmt STMT_ACTIVITY_AFTER = {"insights_activity_after", USER_LOG PAGE_AFTER, 4};
static const pg_stmt STMT_PROJECT_FIRST = {"insights_project_activity_first",
                                           PROJECT_LOG FIRST_PAGE, 2};
static const pg_stmt STMT_PROJECT_AFTER = {"insights_project_activity_after",
                                           PROJECT_LOG PAGE_AFTER, 4};

typedef struct activity_cursor {
    long long us;
    char id[UUID_STR_LEN];
} activity_cursor;

static bool cursor_encode(const char *us, const char *id, char out[CURSOR_TEXT_MAX]) {
    char plain[80];
    int n = snprintf(plain, sizeof plain, "%s.%s", us, id);
    if (n < 0 || (size_t)n >= sizeof plain) {
        return false;
    }
    return sodium_bin2base64(out, CURSOR_TEXT_MAX, (const unsigned char *)plain, (size_t)n,
                             sodium_base64_VARIANT_URLSAFE_NO_PADDING) != NULL;
}

static bool cursor_decode(const char *text, activity_cursor *c) {
    unsigned char plain[80];
    size_t len = 0;
    const char *end = NULL;
    if (sodium_base642bin(plain, sizeof plain - 1, text, strlen(text), NULL, &len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end == NULL || *end != '\0') {
        return false;
    }
    plain[len] = '\0';
    char *dot = strchr((char *)plain, '.');
    if (dot == NULL || dot == (char *)plain || dot - (char *)plain > 18) {
        return false;
    }
    *dot = '\0';
    if (strspn((char *)plain, "0123456789") != strlen((char *)plain) || !uuid_is_valid(dot + 1)) {
        return false;
    }
    c->us = strtoll((char *)plain, NULL, 10);
    snprintf(c->id, sizeof c->id, "%s", dot + 1);
    return c->us <= CURSOR_US_MAX;
}

/* Reads limit and cursor; appends an error per bad parameter. 0, or -1 when out of
 * memory. */
static int activity_params(query_param *params, int *limit, activity_cursor *after, bool *has_after,
                           json_t *errors) {
    query_param *pl = &params[0];
    query_param *pc = &params[1];
    int rc = 0;
    *limit = ACTIVITY_LIMIT_DEFAULT;
    if (pl->present) {
        char *end = NULL;
        long v = strtol(pl->value, &end, 10);
        if (end == pl->value || *end != '\0' || pl->value[0] == '+' || pl->value[0] == ' ' ||
            v < 1 || v > ACTIVITY_LIMIT_MAX) {
            rc |= api_field_error_add(errors, "limit", "must be an integer from 1 to 100");
        } else {
            *limit = (int)v;
        }
    }
    *has_after = pc->present;
    if (pc->present && !cursor_decode(pc->value, after)) {
        rc |= api_field_error_add(errors, "cursor", "is not a cursor of this list");
    }
    return rc;
}

static json_t *activity_item(const PGresult *res, int row) {
    json_error_t jerr;
    json_t *data = json_loads(PQgetvalue(res, row, 5), 0, &jerr);
    if (data == NULL) {
        return NULL;
    }
    json_t *title = PQgetisnull(res, row, 3) ? json_null() : json_string(PQgetvalue(res, row, 3));
    /* a project's log names who acted and the project; the user's log is the user's own */
    const char *actor = PQgetisnull(res, row, 7) ? NULL : PQgetvalue(res, row, 7);
    const char *project = PQgetisnull(res, row, 8) ? NULL : PQgetvalue(res, row, 8);
    return json_pack("{s:s,s:s,s:s,s:o?,s:s,s:o,s:s*,s:s*}", "event_id", PQgetvalue(res, row, 0),
                     "type", PQgetvalue(res, row, 1), "task_id", PQgetvalue(res, row, 2), "title",
                     title, "occurred_at", PQgetvalue(res, row, 4), "data", data, "actor_id", actor,
                     "project_id", project);
}

/* {items, next_cursor} from limit + 1 rows, or NULL. */
static json_t *activity_page(const PGresult *res, int limit) {
    int rows = PQntuples(res);
    int shown = rows > limit ? limit : rows;
    json_t *items = json_array();
    for (int i = 0; items != NULL && i < shown; i++) {
        if (json_array_append_new(items, activity_item(res, i)) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    char cursor[CURSOR_TEXT_MAX];
    bool more = rows > limit;
    if (items == NULL || (more && !cursor_encode(PQgetvalue(res, shown - 1, 6),
                                                 PQgetvalue(res, shown - 1, 0), cursor))) {
        json_decref(items);
        return NULL;
    }
    return json_pack("{s:o,s:o}", "items", items, "next_cursor",
                     more ? json_string(cursor) : json_null());
}

/* project: "" for the caller's own log, else a project the caller is a member of. */
static void serve_activity(api_request_ctx *ctx, const char *project, int limit,
                           const activity_cursor *after, bool has_after) {
    char limit_s[16];
    char us_s[32];
    snprintf(limit_s, sizeof limit_s, "%d", limit + 1);
    snprintf(us_s, sizeof us_s, "%lld", has_after ? after->us : 0LL);
    bool of_project = project[0] != '\0';
    const char *values[4] = {of_project ? project : ctx->user_id, limit_s, us_s, after->id};
    const pg_stmt *stmt = of_project ? (has_after ? &STMT_PROJECT_AFTER : &STMT_PROJECT_FIRST)
                                     : (has_after ? &STMT_ACTIVITY_AFTER : &STMT_ACTIVITY_FIRST);
    PGresult *res = consumer_read(ctx->app, stmt, values);
    if (res == NULL) {
        consumer_respond_unavailable(ctx);
        return;
    }
    json_t *page = activity_page(res, limit);
    PQclear(res);
    if (page == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    api_respond_json(ctx, 200, page);
}

static void handle_activity(api_request_ctx *ctx) {
    query_param params[] = {
        {.name = "limit"}, {.name = "cursor"}, {.name = "project"}, {.name = NULL}};
    json_t *errors = json_array();
    int limit = ACTIVITY_LIMIT_DEFAULT;
    activity_cursor after = {0};
    bool has_after = false;
    char project[UUID_STR_LEN] = "";
    project_access access;
    int rc = errors != NULL ? consumer_query_parse(ctx, params, errors) : -1;
    if (rc == 0) {
        rc = activity_params(params, &limit, &after, &has_after, errors);
        rc |= consumer_project_param(&params[2], project, errors);
    }
    if (api_respond_if_field_errors(ctx, errors, rc != 0) ||
        (project[0] != '\0' && project_access_check(ctx, project, &access) != 1)) {
        return;
    }
    serve_activity(ctx, project, limit, &after, has_after);
}

const api_route ROUTES_ACTIVITY[] = {
    {"GET", "/api/v1/activity", handle_activity, API_ROUTE_AUTH, API_SCOPE_INSIGHTS_READ},
    {NULL, NULL, NULL, 0, 0},
};
