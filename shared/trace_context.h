/*
 * trace_context.h: W3C Trace Context level 1 `traceparent` values.
 *
 * Owns: parsing, formatting and starting `traceparent` values
 * ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"). Rules: pure functions with
 * no state but libsodium's randomness; a value that is not valid is refused whole, never
 * repaired (the caller then starts a new trace: a bad header is never the client's error);
 * what is formatted is always version 00, lower-case, 55 characters.
 */
#ifndef TASKBUS_SHARED_TRACE_CONTEXT_H
#define TASKBUS_SHARED_TRACE_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACE_ID_HEX 32
#define TRACE_SPAN_HEX 16
/* "00-" 32 "-" 16 "-" 2 */
#define TRACEPARENT_LEN 55

typedef struct trace_context {
    char trace_id[TRACE_ID_HEX + 1];  /* 32 lower-case hex, not all zero */
    char span_id[TRACE_SPAN_HEX + 1]; /* the parent id field: 16 lower-case hex, not all zero */
    uint8_t flags;                    /* trace-flags; bit 0 is "sampled" */
} trace_context;

/* Parses a traceparent header value (len bytes; need not be NUL-terminated). True and *out
 * filled when it is valid per level 1: version 2 lower-case hex other than "ff"; version
 * 00 is exactly 55 characters; a higher version may run longer when a '-' follows the
 * first 55 (read as 00, as the spec asks); ids lower-case hex and not all zero. */
bool trace_context_parse(const char *text, size_t len, trace_context *out);
/* trace_context_parse of a NUL-terminated string (NULL: false). */
bool trace_context_parse_str(const char *text, trace_context *out);
/* A new trace: random trace id and span id, flags 00 (not sampled: taskbus records no
 * spans). */
void trace_context_start(trace_context *out);
/* A child of parent: the same trace id and flags, a new random span id. */
void trace_context_child(const trace_context *parent, trace_context *out);
/* The span of a service that received header (may be NULL): a child of a valid header, a
 * new trace otherwise (absent or invalid is never an error). */
void trace_context_from_header(const char *header, trace_context *out);
/* The trace of work named by a UUID (a bulk import): trace id its 32 hex digits, span id
 * its last 16, flags 00; the same every time, so retries share it. False (out untouched)
 * when uuid is not a UUID in lower case or either id would be all zero. */
bool trace_context_from_uuid(const char *uuid, trace_context *out);
/* "00-<trace>-<span>-<flags>" into out (TRACEPARENT_LEN + 1 bytes). */
void trace_context_format(const trace_context *tc, char out[TRACEPARENT_LEN + 1]);
/* The trace id of a valid traceparent text (NUL-terminated) into out (33 bytes): true;
 * else out is "" and false. */
bool trace_context_trace_id(const char *traceparent, char out[TRACE_ID_HEX + 1]);

#endif
