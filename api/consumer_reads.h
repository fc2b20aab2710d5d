/*
 * consumer_reads.h: what the routes over the task-events consumers' tables
 * (routes_analytics.c, routes_activity.c) share: a strict query string, a statement on
 * the read pool, the 503 when Postgres cannot answer.
 *
 * Owns: those three steps. Rules (docs/decisions.md "Analytics and activity"):
 * - Query strings are strict, like the task list: unknown parameters and repeats are 422,
 *   and a 422 lists every bad parameter at once ({field, message}).
 * - Reads use the read replica at any lag, the primary when the replica fails
 *   (api/read_replica.h); Postgres unavailable is 503 with Retry-After.
 */
#ifndef TASKBUS_API_CONSUMER_READS_H
#define TASKBUS_API_CONSUMER_READS_H

#include <jansson.h>
#include <stdbool.h>

#include "api/http_context.h"
#include "shared/uuid7.h"

#define CONSUMER_QUERY_VALUE_MAX 128 /* decoded bytes of one query value */

/* One parameter an endpoint takes; a table of them ends with a NULL name. */
typedef struct query_param {
    const char *name;
    bool present;
    char value[CONSUMER_QUERY_VALUE_MAX + 1];
} query_param;

/* Fills params from the request's raw query string; appends {field, message} per bad
 * parameter. 0, or -1 when out of memory. */
int consumer_query_parse(const api_request_ctx *ctx, query_param *params, json_t *errors);

/* Reads the project parameter (a project's tables instead of the caller's) into project
 * (lower case; "" when absent or not a UUID, which appends an error). 0, or -1 when out of
 * memory. Whether the caller may read the project is the route's
 * (api/project_access.h). */
int consumer_project_param(const query_param *param, char project[UUID_STR_LEN], json_t *errors);

/* Runs stmt on the read pool: the result (caller PQclear()s), or NULL when unavailable
 * (logged). */
PGresult *consumer_read(const api_app *app, const pg_stmt *stmt, const char *const *values);

/* 503 service-unavailable with Retry-After: 1. */
void consumer_respond_unavailable(api_request_ctx *ctx);

#endif
