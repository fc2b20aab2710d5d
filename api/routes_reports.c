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
 * report is ready is 409 report-not-ready; a ready one is streamed from
 * <TASKBUS_REPORTS_DIR>/<id>.<ext> in blocks of DOWNLOAD_BLOCK_BYTES by ulfius's stream
 * response, so the API's memory does not grow with the report. The list cursor is
 * "<created_at microseconds>.<id>"; it only ever narrows a query that already names the
 * user, so it needs no MAC. A report requested by a user deleted while the request ran is
 * 401 (its insert failed the foreign key).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/auth_sessions.h"
#include "api/report_filters.h"
#include "api/report_store.h"
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

static int add_error(json_t *errors, const char *field, const char *message) {
    json_t *e = json_pack("{s:s,s:s}", "field", field, "message", message);
    return e != NULL && json_array_append_new(errors, e) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ create */

/* Checks the body; *format points into it. Appends errors; -1 out of memory. */
static int check_body(const json_t *body, const char **format, json_t **filters, json_t *errors) {
    const char *key;
    const json_t *value;
    int rc = 0;
    json_object_foreach((json_t *)body, key, value) {
        if (strcmp(key, "format") != 0 && strcmp(key, "filters") != 0)
            rc |= add_error(errors, key, "is not a field of a report request");
    }
    *format = json_string_value(json_object_get(body, "format"));
    if (*format == NULL || (strcmp(*format, "csv") != 0 && strcmp(*format, "json") != 0))
        rc |= add_error(errors, "format", "must be \"csv\" or \"json\"");
    int n = report_filters_parse(json_object_get(body, "filters"), filters, errors);
    return rc != 0 || n < 0 ? -1 : 0;
}

static void post_report(api_request_ctx *ctx) {
    json_t *errors = json_array();
    const char *format = NULL;
    json_t *filters = NULL;
    if (errors == NULL || check_body(ctx->body, &format, &filters, errors) != 0) {
        json_decref(errors);
        json_decref(filters);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    if (json_array_size(errors) > 0) {
        json_decref(filters);
        api_respond_field_errors(ctx, errors);
        return;
    }
    json_decref(errors);
    char id[UUID_STR_LEN], err[512];
    uuid7_generate(id);
    json_t *doc = NULL;
    report_store_result rc = report_store_create(ctx->app->pg, id, ctx->user_id, format, filters,
                                                 ctx->request_id, &doc, err, sizeof err);
    json_decref(filters);
    if (rc == REPORT_STORE_OWNER_GONE) {
        auth_respond_account_gone(ctx); /* deleted while this request ran */
        return;
    }
    if (rc != REPORT_STORE_FOUND) {
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

/* "<microseconds>.<uuid>" into pos; -1 when text is not one. */
static int parse_cursor(const char *text, report_position *pos) {
    char *end = NULL;
    errno = 0;
    long long us = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '.' || !uuid_is_valid(end + 1) || us < 0)
        return -1;
    pos->present = true;
    pos->created_us = us;
    snprintf(pos->id, sizeof pos->id, "%s", end + 1);
    return 0;
}

static int parse_limit(const char *text, int *limit) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > LIST_LIMIT_MAX)
        return -1;
    *limit = (int)v;
    return 0;
}

/* Reads limit and cursor from the query; appends errors for anything else. */
static int parse_list_query(const api_request_ctx *ctx, int *limit, report_position *pos,
                            json_t *errors) {
    const struct _u_map *m = ctx->req->map_url;
    const char **keys = m != NULL ? u_map_enum_keys(m) : NULL;
    int rc = 0;
    for (size_t i = 0; keys != NULL && keys[i] != NULL; i++) {
        const char *v = u_map_get(m, keys[i]);
        if (strcmp(keys[i], "limit") == 0) {
            if (v == NULL || parse_limit(v, limit) != 0)
                rc |= add_error(errors, "limit", "must be an integer from 1 to 100");
        } else if (strcmp(keys[i], "cursor") == 0) {
            if (v == NULL || parse_cursor(v, pos) != 0)
                rc |= add_error(errors, "cursor", "is not a cursor of this list");
        } else {
            rc |= add_error(errors, keys[i], "is not a parameter of this list");
        }
    }
    return rc;
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
    if (errors == NULL || parse_list_query(ctx, &limit, &pos, errors) != 0) {
        json_decref(errors);
        api_respond_error(ctx, 500, "internal-error", NULL);
        return;
    }
    if (json_array_size(errors) > 0) {
        api_respond_field_errors(ctx, errors);
        return;
    }
    json_decref(errors);
    json_t *items = NULL;
    report_position next;
    if (report_store_list(ctx->app->pg_read, ctx->user_id, &pos, limit, &items, &next) !=
        REPORT_STORE_FOUND) {
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
    report_store_result rc =
        report_store_get(ctx->app->pg, ctx->path_params[0], ctx->user_id, &doc);
    if (rc == REPORT_STORE_UNAVAILABLE)
        respond_unavailable(ctx);
    else if (rc == REPORT_STORE_NOT_FOUND)
        api_respond_error(ctx, 404, "not-found", "no report with this id");
    return rc == REPORT_STORE_FOUND ? doc : NULL;
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
    {"POST", "/api/v1/reports", post_report, API_ROUTE_AUTH | API_ROUTE_JSON_BODY},
    {"GET", "/api/v1/reports", list_reports, API_ROUTE_AUTH},
    {"GET", "/api/v1/reports/:id", get_report, API_ROUTE_AUTH},
    {"GET", "/api/v1/reports/:id/download", download_report, API_ROUTE_AUTH},
    {NULL, NULL, NULL, 0},
};
