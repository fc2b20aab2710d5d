/*
 * sse_hub.h: one Redis subscription per API instance, shared by every Server-Sent Events
 * stream of the instance, and the caps on how many streams are open
 * (docs/decisions.md "Server-Sent Events").
 *
 * Owns: the hub's own Redis connection (named SSE_HUB_CLIENT_NAME in CLIENT LIST; never a
 * pooled one, since a subscribed connection can do nothing else), SUBSCRIBE of
 * {u:<uid>}:events while that user has at least one open stream here and UNSUBSCRIBE when
 * the last one leaves, the reader thread that fans each published event out to the
 * user's streams, reconnecting with backoff when Redis drops, and the stream slots
 * (TASKBUS_SSE_MAX_PER_USER per user, TASKBUS_SSE_MAX_PER_INSTANCE in all).
 * Rules:
 * - One mutex (sse_hub.mu) guards the users, the streams (sse_hub_sub) and the counts;
 *   the Redis context belongs to the reader thread alone. Others ask it for a SUBSCRIBE
 *   or UNSUBSCRIBE by changing the table and writing a byte to its wake pipe.
 * - A slot is taken in sse_hub_join under the mutex (the caps are exact under any
 *   concurrency) and given back by sse_hub_leave, which the stream's owner calls on every
 *   exit path; a join that fails gives its slot back itself.
 * - sse_hub_join returns only once Redis confirmed the user's SUBSCRIBE on the current
 *   connection: from then on every event published for the user reaches the stream, or
 *   the stream is told to re-read the log (SSE_HUB_RESYNC) — after a reconnect (once the
 *   channel is subscribed again) and when its bounded queue overflowed. Nothing is
 *   dropped silently.
 * - The hub only fans out what was published; the stream orders and de-duplicates by id.
 */
#ifndef TASKBUS_API_SSE_HUB_H
#define TASKBUS_API_SSE_HUB_H

#include <stdbool.h>
#include <stddef.h>

#include "api/sse_format.h"

#define SSE_HUB_CLIENT_NAME "taskbus-api-sse-hub"
/* Live events one stream may have waiting before it is told to re-read the log instead. */
#define SSE_HUB_QUEUE_BYTES (256 * 1024)

typedef struct sse_hub sse_hub;
typedef struct sse_hub_sub sse_hub_sub;

typedef struct sse_hub_params {
    const char *redis_url;
    int redis_timeout_ms;    /* connect, read and write timeout of the hub's connection */
    int max_per_user;        /* open streams of one user on this instance */
    int max_per_instance;    /* open streams on this instance */
    size_t queue_bytes;      /* per stream; 0: SSE_HUB_QUEUE_BYTES */
    const char *client_name; /* CLIENT SETNAME; NULL: SSE_HUB_CLIENT_NAME */
} sse_hub_params;

/* Starts the reader thread, which connects in the background (Redis may be down at
 * start). NULL with err only on a malformed URL or when the thread cannot start. */
sse_hub *sse_hub_create(const sse_hub_params *params, char *err, size_t errlen);
/* Refuses new streams and makes sse_hub_next answer SSE_HUB_CLOSING to every stream. */
void sse_hub_shutdown(sse_hub *hub);
/* Stops the reader thread and frees the hub. Every stream must have left (the HTTP server
 * is stopped first); with streams left it logs an error and leaks rather than free memory
 * another thread still uses. NULL is allowed. */
void sse_hub_destroy(sse_hub *hub);

typedef enum {
    SSE_HUB_JOINED = 0,
    SSE_HUB_USER_FULL,     /* the user has max_per_user streams open here: 429 */
    SSE_HUB_INSTANCE_FULL, /* this instance has max_per_instance streams open: 429 */
    SSE_HUB_SHUTTING_DOWN, /* 503 */
    SSE_HUB_UNAVAILABLE,   /* Redis did not confirm the subscription within wait_ms: 503 */
    SSE_HUB_NO_MEMORY,
} sse_hub_join_result;

/* Takes a slot for a stream of user_id and waits up to wait_ms until the user's channel
 * is subscribed. On SSE_HUB_JOINED *out is the stream's handle (sse_hub_leave it). */
sse_hub_join_result sse_hub_join(sse_hub *hub, const char *user_id, int wait_ms, sse_hub_sub **out);
/* Gives the slot back and frees the handle (its queued events too). */
void sse_hub_leave(sse_hub_sub *sub);

typedef enum {
    SSE_HUB_EVENT,   /* *ev holds the next live event (sse_event_clear it) */
    SSE_HUB_RESYNC,  /* live events may be missing: re-read the log after the last id sent */
    SSE_HUB_IDLE,    /* nothing within wait_ms */
    SSE_HUB_CLOSING, /* the hub shuts down: end the stream */
} sse_hub_next_result;

/* What the stream does next; blocks up to wait_ms for it. */
sse_hub_next_result sse_hub_next(sse_hub_sub *sub, int wait_ms, sse_event *ev);
/* Waits wait_ms, or less when the hub shuts down (a retry pause that ends at shutdown). */
void sse_hub_pause(sse_hub_sub *sub, int wait_ms);
/* True once sse_hub_shutdown ran. */
bool sse_hub_closing(sse_hub_sub *sub);

/* Streams open on this instance (all users). */
int sse_hub_open_count(sse_hub *hub);
/* True while the hub's Redis connection is up. */
bool sse_hub_connected(sse_hub *hub);

#endif
