/*
 * routes_reports.c: POST|GET /api/v1/reports, GET /api/v1/reports/:id and
 * GET /api/v1/reports/:id/download (ROUTES_REPORTS; docs/decisions.md "Reports").
 *
 * Owns: the HTTP side of reports: the request body {format: csv|json, filters: {the task
 * list's filters}} (filters checked by report_filters.c, i.e. by the list's own parser),
 * the answers 202 {report document} with Location, the keyset list {items, next_cursor},
 * one report, and the download.
 * Rules: the user is always the access token's sub and every lookup names it, so another
 * user's report is 404, never 403. The report row and its `reports` message commit
 * together (report_store.c); taskbus-reporter builds the file. A download before the
 * report is ready is 409 report-not-ready; one whose file the retention removed
 * (expired_at set; workers/reporter/reporter_retention.h) is 410 report-expired; a ready one is
 * streamed from <TASKBUS_REPORTS_DIR>/<id>.<ext> in blocks of DOWNLOAD_BLOCK_BYTES by ulfius's
 * stream response, so the API's memory does not grow with the report. The list cursor is
 * "<created_at microseconds>.<id>"; it only ever narrows a query that already names the
 * user, so it needs no MAC. A report requested by a user deleted while the request ran is
 * 401 (its insert failed the foreign key). A report of a team project (filters.project)
 * is the requesting member's, 404 for a non-member like every route under a project
 * (docs/decisions.md "Stats per project (slice 6)").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/auth_sessions.h"
#include "api/list_query.h"
#include "api/project_access.h"
#include "api/report_filters.h"
#include "api/report_store.h"
#include "api/api_token_scope.h"
#include "api/routes.h"
#include "shared/log.h"

#define DOWNLOAD_BLOCK_BYTES (64 * 1024)
#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100

static void respond_unavailable(api_request_ctx *ctx) {
    api_set_header(ctx, "Retry-After", "1");
    api_respond_error(ctx, 503, "service-unavailable",
                      "the report database is not reachable; try again shortly");
}

/* ------------------------------------------------------------------ create */

/* Checks the body; *format points into it. Appends errors; -1 out of memory. */
static int check_body(const json_t *body, const char **format, json_t **filters, json_t *errors) {
    const char *key;
    const json_t *value;
    int rc = 0;
    json_object_foreach((json_t *)body, key, value) {
        if (strcmp(key, "format") != 0 && strcmp(key, "filters") != 0)
            rc |= api_field_error_add(errors, key, "is not a field of a report request");
    }
    *format = json_string_value(json_object_get(body, "format"));
    if (*format == NULL || (strcmp(*format, "csv") != 0 && strcmp(*format, "json") != 0))
        rc |= api_field_error_add(errors, "format", "must be \"csv\" or \"json\"");
    int n = report_filters_parse(json_object_get(body, "filters"), filters, errors);
    return rc != 0 || n < 0 ? -1 : 0;
}

/* The project the filters name, for a member: a team project stays in them (the reporter
 * lists it, with the membership in its statement), the caller's own Inbox leaves them
 * (the plain report). 1, or the request was answered (404 not a member, 503). */
static int report_project(api_request_ctx *ctx, json_t *filters) {
    const char *named = json_string_value(json_object_get(filters, "project"));
    if (named == NULL)
        return 1;
    project_access access;
    if (project_access_check(ctx, named, &access) != 1)
        return 0;
    if (access.inbox)
        json_object_del(filters, "project");
    return 1;
}

static void post_report(api_request_ctx *ctx) {
    json_t *errors = json_array();
    const char *format = NULL;
    json_t *filters = NULL;
    int checked = errors != NULL ? check_body(ctx->body, &format, &filters, errors) : -1;
    if (api_respond_if_field_errors(ctx, errors, checked != 0) ||
        report_project(ctx, filters) != 1) {
        json_decref(filters);
        return;
    }
    char id[UUID_STR_LEN], err[512];
    uuid7_generate(id);
    json_t *doc = NULL;
    store_result rc = report_store_create(ctx->app->pg, id, ctx->user_id, format, filters,
                                          ctx->request_id, ctx->traceparent, &doc, err, sizeof err);
    json_decref(filters);
    if (rc == STORE_OWNER_GONE) {
        auth_respond_account_gone(ctx); /* deleted while this request ran */
        return;
    }
    if (rc != STORE_FOUND) {
        log_json(LOG_ERROR, "report not stored", json_pack("{s:s}", "error", err));
        respond_unavailable(ctx);
        return;
    }
    log_json(
        LOG_INFO, "report queued",
        json_pack("{s:s,s:s,s:s}", "report_id", id, "user_id", ctx->user_id, "format", format));
    char location[96];
    snprintf(location, sizeof location, "/api/v1/reports/%s", id);
    api_set_header(ctx, "Location", location);
    api_respond_json(ctx, 202, doc);
}

/* ------------------------------------------------------------------ list */

/* "<microseconds>.<uuid>" into the report_position at arg; false when text is not one. */
static bool parse_cursor(const char *text, void *arg) {
    report_position *pos = arg;
    char *end = NULL;
    errno = 0;
    long long us = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '.' || !uuid_is_valid(end + 1) || us < 0)
        return false;
    pos->present = true;
    pos->created_us = us;
    snprintf(pos->id, sizeof pos->id, "%s", end + 1);
    return true;
}

static json_t *cursor_text(const report_position *next) {
    if (!next->present)
        return json_null();
    char text[80];
    snprintf(text, sizeof text, "%lld.%s", next->created_us, next->id);
    return json_string(text);
}

static void list_reports(api_request_ctx *ctx) {
    json_t *errors = json_array();
    int limit = LIST_LIMIT_DEFAULT;
    report_position pos = {0};
    int parsed = errors != NULL
                     ? list_query_parse(ctx, LIST_LIMIT_MAX, &limit, parse_cursor, &pos, errors)
                     : -1;
    if (api_respond_if_field_errors(ctx, errors, parsed != 0))
        return;
    json_t *items = NULL;
    report_position next;
    if (report_store_list(ctx->app->pg, ctx->user_id, &pos, limit, &items, &next) != STORE_FOUND) {
        respond_unavailable(ctx);
        return;
    }
    api_respond_json(ctx, 200,
                     json_pack("{s:o,s:o}", "items", items, "next_cursor", cursor_text(&next)));
}

/* ------------------------------------------------------------------ one report */

/* The user's report, or NULL after answering 404/503. Reads the primary: a client that
 * just created a report must find it. */
static json_t *find_report(api_request_ctx *ctx) {
    json_t *doc = NULL;
    store_result rc = report_store_get(ctx->app->pg, ctx->path_params[0], ctx->user_id, &doc);
    if (rc == STORE_UNAVAILABLE)
        respond_unavailable(ctx);
    else if (rc == STORE_NOT_FOUND)
        api_respond_error(ctx, 404, "not-found", "no report with this id");
    return rc == STORE_FOUND ? doc : NULL;
}

static void get_report(api_request_ctx *ctx) {
    json_t *doc = find_report(ctx);
    if (doc != NULL)
        api_respond_json(ctx, 200, doc);
}

/* ------------------------------------------------------------------ download */

static ssize_t read_block(void *cls, uint64_t offset, char *out, size_t max) {
    (void)offset; /* MHD reads in order; the descriptor's position is the offset */
    int fd = *(int *)cls;
    ssize_t n;
    do {
        n = read(fd, out, max);
    } while (n < 0 && errno == EINTR);
    if (n == 0)
        return U_STREAM_END;
    return n > 0 ? n : U_STREAM_ERROR;
}

static void close_file(void *cls) {
    int *fd = cls;
    if (close(*fd) != 0)
        LOG_WARNF("report download: close: %s", strerror(errno));
    free(fd);
}

/* Starts streaming the file; false (nothing answered) when it cannot be opened. */
static bool stream_file(api_request_ctx *ctx, const char *path) {
    int *fd = malloc(sizeof *fd);
    struct stat st;
    if (fd == NULL || (*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        LOG_ERRORF("report download: open %s: %s", path,
                   fd != NULL ? strerror(errno) : "no memory");
        free(fd);
        return false;
    }
    if (fstat(*fd, &st) != 0 ||
        ulfius_set_stream_response(ctx->resp, 200, read_block, close_file, (uint64_t)st.st_size,
                                   DOWNLOAD_BLOCK_BYTES, fd) != U_OK) {
        close_file(fd);
        return false;
    }
    return true;
}

static void download_report(api_request_ctx *ctx) {
    json_t *doc = find_report(ctx);
    if (doc == NULL)
        return;
    const char *status = json_string_value(json_object_get(doc, "status"));
    const char *format = json_string_value(json_object_get(doc, "format"));
    if (json_string_value(json_object_get(doc, "expired_at")) != NULL) {
        json_decref(doc);
        api_respond_error(ctx, 410, "report-expired",
                          "the report's file was removed by the report retention; request a new "
                          "report");
        return;
    }
    if (status == NULL || strcmp(status, "ready") != 0 || format == NULL) {
        char detail[96];
        snprintf(detail, sizeof detail, "the report is %s", status != NULL ? status : "unknown");
        json_decref(doc);
        api_respond_error(ctx, 409, "report-not-ready", detail);
        return;
    }
    bool csv = strcmp(format, "csv") == 0;
    /* The id as Postgres prints it (lower case), which is how the reporter named the file:
     * the path may spell the same UUID in upper case. */
    const char *id = json_string_value(json_object_get(doc, "id"));
    if (id == NULL || !uuid_is_valid(id)) {
        json_decref(doc);
        api_respond_error(ctx, 500, "internal-error", "the report has no id");
        return;
    }
    char path[4096 + 256], disposition[256];
    snprintf(path, sizeof path, "%s/%s.%s", ctx->app->cfg->reports_dir, id, format);
    snprintf(disposition, sizeof disposition, "attachment; filename=\"tasks-%s.%s\"", id, format);
    json_decref(doc);
    if (!stream_file(ctx, path)) {
        api_respond_error(ctx, 500, "internal-error", "the report file cannot be read");
        return;
    }
    api_set_header(ctx, "Content-Type", csv ? "text/csv; charset=utf-8" : "application/json");
    api_set_header(ctx, "Content-Disposition", disposition);
    ctx->status = 200; /* answered: the router must not add its own */
}

const api_route ROUTES_REPORTS[] = {
    {"POST", "/api/v1/reports", post_report, API_ROUTE_AUTH | API_ROUTE_JSON_BODY,
     API_SCOPE_REPORTS},
    {"GET", "/api/v1/reports", list_reports, API_ROUTE_AUTH, API_SCOPE_REPORTS},
    {"GET", "/api/v1/reports/:id", get_report, API_ROUTE_AUTH, API_SCOPE_REPORTS},
    {"GET", "/api/v1/reports/:id/download", download_report, API_ROUTE_AUTH, API_SCOPE_REPORTS},
    {NULL, NULL, NULL, 0, 0},
};
