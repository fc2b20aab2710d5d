/*
 * routes_activity.c: GET /api/v1/analytics/daily and GET /api/v1/activity
 * (ROUTES_INSIGHTS), the read side of the two task-events consumers (consumers/).
 *
 * Owns: the answers of docs/decisions.md "Analytics and activity". Rules:
 * - The user is always the access token's sub; every query names it.
 * - Query strings are strict, like the task list: unknown parameters and repeats are 422,
 *   and a 422 lists every bad parameter at once ({field, message}).
 * - analytics/daily: from and to are UTC days (YYYY-MM-DD), from <= to, at most 366 days;
 *   to defaults to today (UTC) and from to 29 days before to, but never before 0001-01-01
 *   (the first day a date can name: Postgres has no year 0). Every day of the range is
 *   listed, days without events with zeros and a null median. The median is computed when
 *   read (percentile_cont(0.5) over the day's completions).
 * - activity: newest first, keyset on (occurred_at, event_id), limit 1-100 (default 20).
 *   The cursor is opaque: base64url of "<occurred_at in Unix microseconds>.<event_id>"; it
 *   only positions a list that is always filtered by the caller's id, so a forged cursor
 *   shows nothing it could not already see; a cursor that does not decode is 422.
 * - The consumers fill these tables asynchronously: what was just written shows up once
 *   the consumer has read its event (usually within a second).
 * - Postgres unavailable is 503 with Retry-After (the read pool, DATABASE_READ_URL).
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"
#include "shared/log.h"
#include "shared/task_model.h"
#include "shared/time_util.h"
#include "shared/hex.h"

#define READ_PG_ACQUIRE_MS 2000
#define PARAM_VALUE_MAX 128 /* decoded bytes of one query value */
#define DAY_MS 86400000LL
#define RANGE_DAYS_MAX 366
#define RANGE_DAYS_DEFAULT 30
/* 0001-01-01 in days since 1970-01-01: the earliest day parse_day accepts. */
#define FIRST_DAY (-719162LL)
#define ACTIVITY_LIMIT_DEFAULT 20
#define ACTIVITY_LIMIT_MAX 100
#define CURSOR_TEXT_MAX 128
/* Unix microseconds of 9999-12-31: no occurred_at lies beyond it. */
#define CURSOR_US_MAX 253402300799999999LL
#define TIME_FORMAT "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"

static const pg_stmt STMT_DAILY = {
    "insights_analytics_daily",
    "SELECT to_char(g.day, 'YYYY-MM-DD'), coalesce(a.created, 0), coalesce(a.completed, 0),"
    " (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY c.seconds_to_complete)"
    "  FROM analytics_completions c WHERE c.user_id = $1 AND c.day = g.day)"
    " FROM (SELECT $2::date + i AS day FROM generate_series(0, $3::date - $2::date) AS i) g"
    " LEFT JOIN analytics_daily a ON a.user_id = $1 AND a.day = g.day"
    " ORDER BY g.day",
    3};

#define ACTIVITY_COLUMNS                                                                           \
    "SELECT event_id::text, type, task_id::text, title,"                                           \
    " to_char(occurred_at AT TIME ZONE 'UTC', " TIME_FORMAT "), data::text,"                       \
    " (extract(epoch FROM occurred_at) * 1000000)::bigint FROM activity WHERE user_id = $1"

static const pg_stmt STMT_ACTIVITY_FIRST = {
    "insights_activity_first",
    ACTIVITY_COLUMNS " ORDER BY occurred_at DESC, event_id DESC LIMIT $2", 2};

static const pg_stmt STMT_ACTIVITY_AFTER = {
    "insights_activity_after",
    ACTIVITY_COLUMNS " AND (occurred_at, event_id) <"
                     " (to_timestamp(0) + $3::bigint * interval '1 microsecond', $4::uuid)"
                     " ORDER BY occurred_at DESC, event_id DESC LIMIT $2",
    4};

/* ------------------------------------------------------------------ query strings */

typedef struct query_param {
    const char *name;
    bool present;
    char value[PARAM_VALUE_MAX + 1];
} query_param;

static void add_error(json_t *errors, const char *field, const char *message) {
    json_t *e = json_pack("{s:s,s:s}", "field", field, "message", message);
    if (e == NULL) {
        e = json_pack("{s:s,s:s}", "field", "query", "message", message);
    }
    if (e != NULL) {
        json_array_append_new(errors, e);
    }
}

/* Form-decodes [s, s+len) into out (NUL-terminated); false when malformed, too long or
 * holding a NUL or control byte. */
static bool decode_part(const char *s, size_t len, char out[PARAM_VALUE_MAX + 1]) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hex_digit_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return false;
            }
            c = hi * 16 + lo;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || n == PARAM_VALUE_MAX) {
            return false;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return true;
}

static query_param *find_param(query_param *params, const char *name) {
    for (query_param *p = params; p->name != NULL; p++) {
        if (strcmp(p->name, name) == 0) {
            return p;
        }
    }
    return NULL;
}

static void parse_pair(const char *pair, size_t len, query_param *params, json_t *errors) {
    const char *eq = memchr(pair, '=', len);
    size_t name_len = eq != NULL ? (size_t)(eq - pair) : len;
    char name[PARAM_VALUE_MAX + 1];
    char value[PARAM_VALUE_MAX + 1];
    if (!decode_part(pair, name_len, name)) {
        add_error(errors, "query", "holds a parameter name that is not valid");
        return;
    }
    query_param *p = find_param(params, name);
    if (p == NULL) {
        add_error(errors, name, "is not a parameter of this endpoint");
    } else if (p->present) {
        add_error(errors, name, "may be given only once");
    } else if (!decode_part(eq != NULL ? eq + 1 : pair + len, eq != NULL ? len - name_len - 1 : 0,
                            value)) {
        add_error(errors, name, "is not validly encoded or is too long");
    } else {
        p->present = true;
        memcpy(p->value, value, sizeof value);
    }
}

/* Fills params (NULL-name terminated) from the request's raw query string. */
static void parse_query(const api_request_ctx *ctx, query_param *params, json_t *errors) {
    const char *url = ctx->req->http_url;
    const char *q = url != NULL ? strchr(url, '?') : NULL;
    if (q == NULL) {
        return;
    }
    q++;
    size_t total = strcspn(q, "#");
    size_t at = 0;
    while (at < total) {
        size_t len = strcspn(q + at, "&#");
        if (len > 0) {
            parse_pair(q + at, len, params, errors);
        }
        at += len + 1;
    }
}

/* ------------------------------------------------------------------ answers */

static void respond_unavailable(api_request_ctx *ctx) {
    api_set_header(ctx, "Retry-After", "1");
    api_respond_error(ctx, 503, "service-unavailable",
                      "the database is not reachable; try again shortly");
}

/* Runs stmt on the read pool: the result (caller PQclear()s), or NULL when unavailable. */
static PGresult *run_read(const api_app *app, const pg_stmt *stmt, const char *const *values) {
    char err[256];
    pg_conn *conn = pg_pool_acquire(app->pg_read, READ_PG_ACQUIRE_MS, err, sizeof err);
    if (conn == NULL) {
        LOG_WARNF("insights: no database connection: %s", err);
        return NULL;
    }
    PGresult *res = pg_exec_stmt(conn, stmt, values);
    if (res == NULL) {
        pg_conn_mark_broken(conn);
        LOG_WARNF("insights: postgres connection failed");
    } else if (!pg_result_ok(res)) {
        LOG_ERRORF("insights: %s failed (%s): %s", stmt->name, pg_result_sqlstate(res),
                   PQresultErrorMessage(res));
        PQclear(res);
        res = NULL;
    }
    pg_pool_release(app->pg_read, conn);
    return res;
}

/* ------------------------------------------------------------------ analytics/daily */

/* Days since the epoch of a "YYYY-MM-DD" UTC day; false when text is not one. */
static bool parse_day(const char *text, long long *day) {
    if (strlen(text) != 10 || text[4] != '-' || text[7] != '-') {
        return false;
    }
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%sT00:00:00Z", text);
    long long ms = 0;
    if (task_time_parse(stamp, &ms) != 0) {
        return false;
    }
    *day = ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
    return true;
}

static void format_day(long long day, char out[11]) {
    char stamp[32];
    time_format_rfc3339_ms((int64_t)(day * DAY_MS), stamp, sizeof stamp);
    memcpy(out, stamp, 10); /* the date part of "YYYY-MM-DDT..." */
    out[10] = '\0';
}

/* Reads from and to into days; appends an error per bad parameter. */
static void daily_range(query_param *params, long long *from, long long *to, json_t *errors) {
    query_param *pf = &params[0];
    query_param *pt = &params[1];
    bool from_ok = !pf->present || parse_day(pf->value, from);
    bool to_ok = !pt->present || parse_day(pt->value, to);
    if (!from_ok) {
        add_error(errors, "from", "must be a date YYYY-MM-DD");
    }
    if (!to_ok) {
        add_error(errors, "to", "must be a date YYYY-MM-DD");
    }
    if (!from_ok || !to_ok) {
        return;
    }
    if (!pt->present) {
        *to = time_now_unix_ms() / DAY_MS;
    }
    if (!pf->present) {
        *from = *to - (RANGE_DAYS_DEFAULT - 1);
        if (*from < FIRST_DAY) {
            *from = FIRST_DAY;
        }
    }
    if (*from > *to) {
        add_error(errors, "from", "must not be after to");
    } else if (*to - *from + 1 > RANGE_DAYS_MAX) {
        add_error(errors, "to", "the range from..to may span at most 366 days");
    }
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
    query_param params[] = {{.name = "from"}, {.name = "to"}, {.name = NULL}};
    json_t *errors = json_array();
    if (errors == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    parse_query(ctx, params, errors);
    long long from = 0;
    long long to = 0;
    daily_range(params, &from, &to, errors);
    if (json_array_size(errors) > 0) {
        api_respond_field_errors(ctx, errors);
        return;
    }
    json_decref(errors);
    char from_s[11];
    char to_s[11];
    format_day(from, from_s);
    format_day(to, to_s);
    const char *values[3] = {ctx->user_id, from_s, to_s};
    PGresult *res = run_read(ctx->app, &STMT_DAILY, values);
    if (res == NULL) {
        respond_unavailable(ctx);
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

/* ------------------------------------------------------------------ activity */

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

/* Reads limit and cursor; appends an error per bad parameter. */
static void activity_params(query_param *params, int *limit, activity_cursor *after,
                            bool *has_after, json_t *errors) {
    query_param *pl = &params[0];
    query_param *pc = &params[1];
    *limit = ACTIVITY_LIMIT_DEFAULT;
    if (pl->present) {
        char *end = NULL;
        long v = strtol(pl->value, &end, 10);
        if (end == pl->value || *end != '\0' || pl->value[0] == '+' || pl->value[0] == ' ' ||
            v < 1 || v > ACTIVITY_LIMIT_MAX) {
            add_error(errors, "limit", "must be an integer from 1 to 100");
        } else {
            *limit = (int)v;
        }
    }
    *has_after = pc->present;
    if (pc->present && !cursor_decode(pc->value, after)) {
        add_error(errors, "cursor", "is not a cursor of this list");
    }
}

static json_t *activity_item(const PGresult *res, int row) {
    json_error_t jerr;
    json_t *data = json_loads(PQgetvalue(res, row, 5), 0, &jerr);
    if (data == NULL) {
        return NULL;
    }
    json_t *title = PQgetisnull(res, row, 3) ? json_null() : json_string(PQgetvalue(res, row, 3));
    return json_pack("{s:s,s:s,s:s,s:o?,s:s,s:o}", "event_id", PQgetvalue(res, row, 0), "type",
                     PQgetvalue(res, row, 1), "task_id", PQgetvalue(res, row, 2), "title", title,
                     "occurred_at", PQgetvalue(res, row, 4), "data", data);
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

static void serve_activity(api_request_ctx *ctx, int limit, const activity_cursor *after,
                           bool has_after) {
    char limit_s[16];
    char us_s[32];
    snprintf(limit_s, sizeof limit_s, "%d", limit + 1);
    snprintf(us_s, sizeof us_s, "%lld", has_after ? after->us : 0LL);
    const char *values[4] = {ctx->user_id, limit_s, us_s, after->id};
    PGresult *res =
        run_read(ctx->app, has_after ? &STMT_ACTIVITY_AFTER : &STMT_ACTIVITY_FIRST, values);
    if (res == NULL) {
        respond_unavailable(ctx);
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
    query_param params[] = {{.name = "limit"}, {.name = "cursor"}, {.name = NULL}};
    json_t *errors = json_array();
    if (errors == NULL) {
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    parse_query(ctx, params, errors);
    int limit = ACTIVITY_LIMIT_DEFAULT;
    activity_cursor after = {0};
    bool has_after = false;
    activity_params(params, &limit, &after, &has_after, errors);
    if (json_array_size(errors) > 0) {
        api_respond_field_errors(ctx, errors);
        return;
    }
    json_decref(errors);
    serve_activity(ctx, limit, &after, has_after);
}

const api_route ROUTES_INSIGHTS[] = {
    {"GET", "/api/v1/analytics/daily", handle_daily, API_ROUTE_AUTH},
    {"GET", "/api/v1/activity", handle_activity, API_ROUTE_AUTH},
    {NULL, NULL, NULL, 0},
};
