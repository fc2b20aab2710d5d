/*
 * access_log.h: the record of every finished request.
 *
 * Owns: one JSON log line per request (method, route, path, status, duration_ms,
 * client_ip, request_id, user_id when authenticated) and the HTTP metrics
 * taskbus_http_requests_total{method,route,status} and
 * taskbus_http_request_duration_seconds{method,route}. Rules: metric labels come from bounded
 * sets only: the route pattern or "unmatched", a known method or "OTHER"; the raw path is
 * logged (made printable and cut short), never used as a label.
 */
#ifndef TASKBUS_API_ACCESS_LOG_H
#define TASKBUS_API_ACCESS_LOG_H

#include <stdint.h>

#include "api/http_context.h"

/* start_ns is time_monotonic_ns() taken when the request reached the dispatcher. */
void access_log_record(const api_request_ctx *ctx, const char *method, const char *path,
                       int64_t start_ns);

#endif
