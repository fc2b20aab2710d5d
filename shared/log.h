/*
 * log.h: JSON-lines logging to stderr.
 *
 * Owns: one line per event, {"ts","level","service","msg","request_id","trace_id",...fields}.
 * Rules: a line is written with one write(2) so concurrent threads never interleave.
 * The request id and the trace id (32 lower-case hex, W3C Trace Context) are per thread
 * (the API is thread-per-connection; a daemon sets them around the work on one record),
 * set with log_set_request_id / log_set_trace_id / log_set_context and cleared at the end
 * of each request or record. Never pass secrets.
 */
#ifndef TASKBUS_SHARED_LOG_H
#define TASKBUS_SHARED_LOG_H

#include <jansson.h>
#include <stdbool.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level;

/* Sets the service name and minimum level; call once before threads start. */
void log_init(const char *service, log_level min_level);
int log_level_parse(const char *text, log_level *out);
/* True when a line at level would be written: lets a caller skip building a costly one. */
bool log_enabled(log_level level);

/* The calling thread's request id (NULL clears). The string is copied. */
void log_set_request_id(const char *request_id);
const char *log_request_id(void);
/* The calling thread's trace id: 32 lower-case hex digits; anything else (NULL) clears. */
void log_set_trace_id(const char *trace_id);
const char *log_trace_id(void);
/* Both at once, the trace id taken from a traceparent value (either may be NULL: cleared;
 * a traceparent that is not valid clears the trace id). log_set_context(NULL, NULL) clears. */
void log_set_context(const char *request_id, const char *traceparent);

/* Writes msg with extra fields; fields is stolen (may be NULL). */
void log_json(log_level level, const char *msg, json_t *fields);
/* The same line from members already written as JSON ("\"k\":1,\"s\":\"v\"", valid and
 * without the braces; may be ""), with no jansson work: for the one line every request
 * writes, and a batch's lines with their id lists (a line longer than
 * LOG_MEMBERS_LINE_MAX costs one allocation). Text that would need escaping (msg, the
 * request id) takes log_json's path. */
#define LOG_MEMBERS_LINE_MAX 1024
void log_members(log_level level, const char *msg, const char *members);
/* printf-style message, no extra fields. */
void log_msgf(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_DEBUGF(...) log_msgf(LOG_DEBUG, __VA_ARGS__)
#define LOG_INFOF(...) log_msgf(LOG_INFO, __VA_ARGS__)
#define LOG_WARNF(...) log_msgf(LOG_WARN, __VA_ARGS__)
#define LOG_ERRORF(...) log_msgf(LOG_ERROR, __VA_ARGS__)

#endif
