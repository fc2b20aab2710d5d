/*
 * sse_queue.h: the bounded queue of live events waiting for one Server-Sent Events
 * stream (docs/decisions.md "Server-Sent Events").
 *
 * Owns: a FIFO of sse_event copies and its bound in bytes (each item counts its CloudEvent
 * text plus a fixed overhead, so an empty-data flood is bounded too).
 * Rules: pure data structure, no I/O and no lock: sse_hub.c guards each queue with the
 * hub's mutex. A push that would pass the bound queues nothing and says so; the caller
 * then drops the whole queue and has the stream re-read the event log (a stream that
 * fell behind catches up from the log, it never silently skips an event).
 */
#ifndef TASKBUS_API_SSE_QUEUE_H
#define TASKBUS_API_SSE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/sse_format.h"

/* What one queued item costs beyond its data (the node and the event's fixed fields). */
#define SSE_QUEUE_ITEM_OVERHEAD 128

typedef struct sse_queue_item sse_queue_item;

typedef struct sse_queue {
    sse_queue_item *head, *tail;
    size_t count;
    size_t bytes;     /* sum of the items' costs */
    size_t max_bytes; /* a push past this is refused */
} sse_queue;

typedef enum {
    SSE_QUEUE_PUSHED = 0,
    SSE_QUEUE_FULL,      /* the bound would be passed: nothing was queued */
    SSE_QUEUE_NO_MEMORY, /* nothing was queued */
} sse_queue_push_result;

void sse_queue_init(sse_queue *q, size_t max_bytes);
/* Queues a copy of ev (ev stays the caller's). */
sse_queue_push_result sse_queue_push_copy(sse_queue *q, const sse_event *ev);
/* Moves the oldest event into *out (the caller sse_event_clear()s it). false when empty. */
bool sse_queue_pop(sse_queue *q, sse_event *out);
/* Frees every queued event; the queue stays usable. */
void sse_queue_clear(sse_queue *q);

#endif
