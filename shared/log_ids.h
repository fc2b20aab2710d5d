/*
 * log_ids.h: the request ids and trace ids of a batch, for the one log line about it.
 *
 * Owns: the members "request_ids":[...],"trace_ids":[...] of a batch line (the writer's,
 * a consumer's, the relay's), as docs/decisions.md "Trace context and CloudEvents binding"
 * chooses: a line about a batch lists the ids of its records, in record order, a run of
 * equal ids folded into one (an import's commands, one request's several events); a
 * record without an id adds nothing. Rules: built as text with no jansson work (a few
 * strbuf reallocations per batch, none per record once grown); a request id byte that is
 * not printable ASCII, '"' or '\' is written as '?', so the text needs no escaping; trace
 * ids come from valid traceparents only.
 */
#ifndef TASKBUS_SHARED_LOG_IDS_H
#define TASKBUS_SHARED_LOG_IDS_H

#include <stddef.h>

#include "shared/strbuf.h"
#include "shared/trace_context.h"

typedef struct log_ids {
    strbuf request_ids; /* "\"a\",\"b\"" so far */
    strbuf trace_ids;
    char last_request_id[129];
    char last_trace_id[TRACE_ID_HEX + 1];
    strbuf members; /* what log_ids_members returned last */
} log_ids;

#define LOG_IDS_INIT                                                                               \
    { 0 }

/* Adds one record's ids (each may be NULL; traceparent must be valid to count). */
void log_ids_add(log_ids *ids, const char *request_id, const char *traceparent);
/* The members text (owned by ids, valid until the next call or log_ids_free); "" when no
 * memory (the line is then written without the lists). */
const char *log_ids_members(log_ids *ids);
/* Starts over, keeping the buffers. */
void log_ids_reset(log_ids *ids);
void log_ids_free(log_ids *ids);

#endif
