/*
 * report_store.h: the Postgres side of reports in the API (docs/decisions.md "Reports").
 *
 * Owns: creating a report (the reports row of 0008_reports.sql and its message on the
 * `reports` topic through the outbox, in ONE transaction, so a report is never queued
 * without its message nor announced without its row), and reading one report or a keyset
 * page of them for their owner.
 * Rules: every lookup is by (report id, user id), so another user's report is "not
 * found". The report document {id, status, format, filters, row_count, size_bytes, error,
 * created_at, finished_at} is built by Postgres in one place (timestamps RFC 3339 UTC
 * with milliseconds). The `reports` message is a CloudEvent taskbus.report.requested,
 * subject reports/<id>, data {report_id, user_id, format}, keyed by user id.
 */
#ifndef TASKBUS_API_REPORT_STORE_H
#define TASKBUS_API_REPORT_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/store_result.h"
#include "shared/pg_pool.h"
#include "shared/uuid7.h"

#define REPORT_REQUESTED_TYPE "taskbus.report.requested"

/* Inserts the queued report and its message (carrying request_id and traceparent, each
 * may be NULL). *out: the report document (new reference). FOUND, or UNAVAILABLE /
 * OWNER_GONE with err (nothing was written). */
store_result report_store_create(pg_pool *pg, const char *report_id, const char *user_id,
                                 const char *format, const json_t *filters, const char *request_id,
                                 const char *traceparent, json_t **out, char *err, size_t errlen);

/* The user's report document (*out: new reference). */
store_result report_store_get(pg_pool *pg, const char *report_id, const char *user_id,
                              json_t **out);

/* Where a page of the list starts: after this (created_at, id), newest first. */
typedef struct report_position {
    bool present;
    long long created_us; /* microseconds since the epoch */
    char id[UUID_STR_LEN];
} report_position;

/* Up to limit reports after pos, newest first, as an array (*items: new reference);
 * *next is filled (present) when more follow. FOUND, or UNAVAILABLE. */
store_result report_store_list(pg_pool *pg, const char *user_id, const report_position *pos,
                               int limit, json_t **items, report_position *next);

#endif
