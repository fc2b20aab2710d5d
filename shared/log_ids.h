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
 * ids come from valid traceparents only. A batch's lists are written over as many lines as
 * keep each line under LOG_IDS_LINE_BUDGET bytes (log_ids_write): log.c writes a line with
 * one write(2), which never interleaves with another thread's only up to PIPE_BUF (4096),
 * and container runtimes split lines longer than 16 KiB, which a log shipper would then
 * see as broken JSON. The request and trace id lists fold runs separately, so their items
 * do not pair up by position.
 */
#ifndef TASKBUS_SHARED_LOG_IDS_H
#define TASKBUS_SHARED_LOG_IDS_H

#include <stddef.h>

#include "shared/log.h"
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

/* The members of one batch line (head, part, both list slices) stay under this; with the
 * line's own fields (ts, level, service, msg) a line stays under PIPE_BUF. */
#define LOG_IDS_LINE_BUDGET 3584
/* The longest head a caller passes to log_ids_write. */
#define LOG_IDS_HEAD_MAX 384

/* Adds one record's ids (each may be NULL; traceparent must be valid to count). */
void log_ids_add(log_ids *ids, const char *request_id, const char *traceparent);
/* The members text (owned by ids, valid until the next call or log_ids_free); "" when no
 * memory (the line is then written without the lists). */
const char *log_ids_members(log_ids *ids);
/* Writes the batch's line(s) at level: head (members already written as plain JSON, at
 * most LOG_IDS_HEAD_MAX bytes, e.g. "\"group\":\"g\",\"records\":5") and the id lists,
 * split over as many lines as keep each under LOG_IDS_LINE_BUDGET; when there are several,
 * each carries "part":k,"parts":n (k from 1). No allocation of its own. */
void log_ids_write(const log_ids *ids, log_level level, const char *msg, const char *head);
/* Copies text into out (outlen > 0) with every byte that is not printable ASCII, '"' or
 * '\' written as '?', cut to fit: text that goes into a JSON string unescaped. */
void log_ids_plain(const char *text, char *out, size_t outlen);
/* Starts over, keeping the buffers. */
void log_ids_reset(log_ids *ids);
void log_ids_free(log_ids *ids);

#endif
