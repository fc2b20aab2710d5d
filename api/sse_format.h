/*
 * sse_format.h: the text of a Server-Sent Events stream and the ids that order it
 * (docs/decisions.md "Server-Sent Events").
 *
 * Owns: Redis stream ids ("<ms>-<seq>", compared numerically, never as text), the frames
 * (`id:`, `event:`, `data:` lines and a blank line; comments `: ...`), the event name a
 * CloudEvent type maps to ("taskbus.task.created" -> "task.created"), and reading the
 * writer's pub/sub message {"id": "<stream id>", "event": <CloudEvent>}.
 * Rules: pure functions, no I/O. A frame never carries a raw CR or LF inside a field:
 * data with line breaks becomes several `data:` lines (the SSE rule), and an id or event
 * name holding one is refused. sse_buf grows on the heap; every append is all or nothing.
 */
#ifndef TASKBUS_API_SSE_FORMAT_H
#define TASKBUS_API_SSE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSE_ID_TEXT_MAX 48 /* "18446744073709551615-18446744073709551615" and the NUL */
#define SSE_EVENT_NAME_MAX 64

typedef struct sse_id {
    uint64_t ms;
    uint64_t seq;
} sse_id;

/* "<ms>-<seq>" or "<ms>" (seq 0), decimal digits only. false for anything else. */
bool sse_id_parse(const char *text, sse_id *out);
/* <0, 0, >0 as a is before, equal to, after b. */
int sse_id_compare(sse_id a, sse_id b);
void sse_id_format(sse_id id, char out[SSE_ID_TEXT_MAX]);

/* The SSE event name for a CloudEvent type: the part after "taskbus."; "message" when
 * type is NULL, empty, or not a plain name. out holds SSE_EVENT_NAME_MAX bytes. */
void sse_event_name(const char *ce_type, char out[SSE_EVENT_NAME_MAX]);

typedef struct sse_buf {
    char *data;
    size_t len; /* bytes not yet handed out */
    size_t cap;
} sse_buf;

/* Appends "id: <id>\nevent: <event>\ndata: <line>\n...\n". id may be NULL (no id line).
 * 0, or -1 (out of memory, or a CR/LF in id or event) with b unchanged. */
int sse_buf_append_event(sse_buf *b, const char *id, const char *event, const char *data);
/* Appends ": <text>\n\n". Same return rule (text must hold no CR/LF). */
int sse_buf_append_comment(sse_buf *b, const char *text);
/* Appends bytes as they are (e.g. "retry: 3000\n\n"). 0 or -1. */
int sse_buf_append_raw(sse_buf *b, const char *text, size_t len);
/* Drops the first n bytes (n <= len). */
void sse_buf_consume(sse_buf *b, size_t n);
void sse_buf_free(sse_buf *b);

/* One event ready to send: its stream id, SSE event name and the CloudEvent text. */
typedef struct sse_event {
    sse_id id;
    char id_text[SSE_ID_TEXT_MAX];
    char name[SSE_EVENT_NAME_MAX];
    char *data;       /* compact CloudEvent JSON, malloc'd */
    long long nc_seq; /* near-cache sequence to be acknowledged before it is sent; 0: none */
} sse_event;

/* From a pub/sub message {"id": "...", "event": {...}} (event may also be the JSON text
 * of the CloudEvent). 0, or -1 when the message is malformed. On 0 call sse_event_clear. */
int sse_event_from_message(const char *msg, size_t len, sse_event *out);
/* From a stream entry: its id and the value of its "event" field (CloudEvent JSON). */
int sse_event_from_entry(const char *id, const char *event_json, size_t len, sse_event *out);
void sse_event_clear(sse_event *ev);

#endif
