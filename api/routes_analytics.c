/*
 * routes_analytics.c: GET /api/v1/analytics/daily (ROUTES_ANALYTICS), the read side of
 * the analytics consumer (consumers/analytics/).
 *
 * Owns: the answer of docs/decisions.md "Analytics and activity" for daily counts. Rules:
 * - The user is always the access token's sub; every query names it.
 * - The query string is strict (consumer_reads.h): unknown parameters and repeats are
 *   422, and a 422 lists every bad parameter at once ({field, message}).
 * - from and to are UTC days (YYYY-MM-DD), from <= to, at most 366 days; to defaults to
 *   today (UTC) and from to 29 days before to, but never before 0001-01-01 (the first day
 *   a date can name: Postgres has no year 0). Every day of the range is listed, days
 *   without events with zeros and a null median. The median is computed when read
 *   (percentile_cont(0.5) over the day's completions).
 * - The consumer fills these tables asynchronously: what was just written shows up once
 *   it has read its event (usually within a second).
 * - Postgres unavailable is 503 with Retry-After (the read pool, DATABASE_READ_URL).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/consumer_reads.h"
#include "api/project_access.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "shared/time_util.h"

#define RANGE_DAYS_MAX 366
#define RANGE_DAYS_DEFAULT 30
/* 0001-01-01 in days since 1970-01-01: the earliest day parse_day accepts. */
#define FIRST_DAY (TIME_YEAR_1_UNIX_MS / TIME_DAY_MS)

/* The days of one scope: a user's (who acted) or a project's tables and key column. */
#define DAILY_SQL(daily, completions, key)                                                         \
    "SELECT to_char(g.day, 'YYYY-MM-DD'), coalesce(a.created, 0), coalesce(a.completed, 0),"       \
    " (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY c.seconds_to_complete)"                  \
    "  FROM " completions " c WHERE c." key " = $1 AND c.day = g.day)"                             \
    " FROM (SELECT $2::date + i AS day FROM generate_series(0, $3::date - $2::date) AS i) g"       \
    " LEFT JOIN " daily " a ON a." key " = $1 AND a.day = g.day"                                   \
    " ORDER BY g.day"

static const pg_stmt STMT_DAILY = {"insights_analytics_daily",
                                   DAILY_SQL("analytics_daily", "analytics_completions", "user_id"),
                                   3};
static const pg_stmt STMT_PROJECT_DAILY = {
    "insights_analytics_project_daily",
    DAILY_SQL("analytics_project_daily", "analytics_project_completions", "project_id"), 3};

/* Days since the epoch of a "YYYY-MM-DD" UTC day; false when text is not one. */
static bool parse_day(const char *text, long long *day) {
    if (strlen(text) != 10 || text[4] != '-' || text[7] != '-') {
        return false;
    }
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%sT00:00:00Z", text);
    long long ms = 0;
    if (time_parse_rfc3339_ms(stamp, &ms) != 0) {
        return false;
    }
    *day = ms >= 0 ? ms / TIME_DAY_MS : -((-ms + TIME_DAY_MS - 1) / TIME_DAY_MS);
    return true;
}

static void format_day(long long day, char out[11]) {
    char stamp[32];
    time_format_rfc3339_ms((int64_t)(day * TIME_DAY_MS), stamp, sizeof stamp);
    memcpy(out, stamp, 10); /* the date part of "YYYY-MM-DDT..." */
    out[10] = '\0';
}

/* Reads from and to into days; appends an error per bad parameter. 0, or -1 when out of
 * memory. */
static int daily_range(query_param *params, long long *from, long long *to, json_t *errors) {
    query_param *pf = &params[0];
    query_param *pt = &params[1];
    bool from_ok = !pf->present || parse_day(pf->value, from);
    bool to_ok = !pt->present || parse_day(pt->value, to);
    int rc = 0;
    if (!from_ok) {
        rc |= api_field_error_add(errors, "from", "must be a date YYYY-MM-DD");
    }
    if (!to_ok) {
        rc |= api_field_error_add(errors, "to", "must be a date YYYY-MM-DD");
    }
    if (!from_ok || !to_ok) {
        return rc;
    }
    if (!pt->present) {
        *to = time_now_unix_ms() / TIME_DAY_MS;
    }
    if (!pf->present) {
        *from = *to - (RANGE_DAYS_DEFAULT - 1);
        if (*from < FIRST_DAY) {
            *from = FIRST_DAY;
        }
    }
    if (*from > *to) {
        return api_field_error_add(errors, "from", "must not be after to");
    }
    if (*to - *from + 1 > RANGE_DAYS_MAX) {
        return api_field_error_add(errors, "to", "the range from..to may span at most 366 days");
    }
    return 0;
}

static json_t *day_from_row(const PGresult *res, int row) {
    json_t *median =
        PQgetisnull(res, row, 3) ? json_null() : json_real(strtod(PQgetvalue(res, row, 3), NULL));
    return json_pack("{s:s,s:I,s:I,s:o}", "day", PQgetvalue(res, row, 0), "created",
                     (json_int_t)strtoll(PQgetvalue(res, row, 1), NULL, 10), "completed",
                     (json_int_t)strtoll(PQgetvalue(res, row, 2), NULL, 10),
                     "median_seconds_to_complete", median);
}

static json_t *days_from_rows(const PGresult *res, const char *from, const char *to) {
    json_t *days = json_array();
    for (int i = 0; days != NULL && i < PQntuples(res); i++) {
        if (json_array_append_new(days, day_from_row(res, i)) != 0) {
            json_decref(days);
            days = NULL;
        }
    }
    return days != NULL ? json_pack("{s:s,s:s,s:o}", "from", from, "to", to, "days", days) : NULL;
}

static void handle_daily(api_request_ctx *ctx) {
    query_param params[] = {{.name = "from"}, {.name = "to"}, {.name = "project"}, {.name = NULL}};
    json_t *errors = json_array();
    long long from = 0;
    long long to = 0;
    char project[UUID_STR_LEN] = "";
    project_access access;
    int rc = errors != NULL ? consumer_query_parse(ctx, params, errors) : -1;
    if (rc == 0) {
        rc = daily_range(params, &from, &to, errors);
        rc |= consumer_project_param(&params[2], project, errors);
    }
    if (api_respond_if_field_errors(ctx, errors, rc != 0) ||
        (project[0] != '\0' && project_access_check(ctx, project, &access) != 1)) {
        return;
    }
    char from_s[11];
    char to_s[11];
    format_day(from, from_s);
    format_day(to, to_s);
    bool of_project = project[0] != '\0';
    const char *values[3] = {of_project ? project : ctx->user_id, from_s, to_s};
    PGresult *res = consumer_read(ctx->app, of_project ? &STMT_PROJECT_DAILY : &STMT_DAILY, values);
    if (res == NULL) {
        consumer_respond_unavailable(ctx);
        return;
    }
    json_t *body = days_from_rows(res, from_s, to_s);
    PQclear(res);
    if (body == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    api_respond_json(ctx, 200, body);
}

const api_route ROUTES_ANALYTICS[] = {
    {"GET", "/api/v1/analytics/daily", handle_daily, API_ROUTE_AUTH, API_SCOPE_INSIGHTS_READ},
    {NULL, NULL, NULL, 0, 0},
};
