/*
 * sse_stream.h: one live Server-Sent Events stream of a user's task events
 * (docs/decisions.md "Server-Sent Events").
 *
 * Owns: the stream's own Redis connection (SUBSCRIBE {u:<uid>}:events; never a pooled
 * one, since a subscribed connection can do nothing else), the replay of
 * {u:<uid>}:events:log after Last-Event-ID through the pool, the `event: reset` when that
 * id is older than the log's window, forwarding live messages whose id is newer than the
 * last one sent, the keep-alive comment, and the end of the stream.
 * Rules:
 * - Order of work: SUBSCRIBE first, replay second, so nothing published in between is
 *   lost; the id comparison drops what the replay already sent.
 * - The read callback runs on the connection's thread and blocks in slices of at most
 *   SSE_POLL_SLICE_MS, so a shutdown (sse_streams_shutdown) or the token's expiry ends the
 *   stream within about that long. A client that went away is noticed at the next write
 *   (an event or the keep-alive, every SSE_KEEPALIVE_MS or half the server idle
 *   timeout, whichever is shorter).
 * - A Redis connection lost mid-stream ends the stream; the client reconnects with
 *   Last-Event-ID and the replay fills the gap.
 * - The streams' shared state (the shutdown flag and the open count) is atomic.
 */
#ifndef TASKBUS_API_SSE_STREAM_H
#define TASKBUS_API_SSE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/sse_format.h"
#include "shared/redis_pool.h"
#include "shared/redis_url.h"

#define SSE_KEEPALIVE_MS 15000
#define SSE_POLL_SLICE_MS 250
#define SSE_RETRY_MS 3000
#define SSE_REPLAY_PAGE 200

typedef struct sse_stream sse_stream;

typedef struct sse_stream_params {
    const redis_url *redis;  /* where to SUBSCRIBE */
    int redis_timeout_ms;    /* connect, and the SUBSCRIBE answer */
    redis_pool *pool;        /* for XRANGE */
    const char *user_id;     /* whose events */
    const sse_id *last_seen; /* Last-Event-ID, or NULL: live only */
    int64_t end_unix_ms;     /* end the stream then (the access token's expiry); 0: never */
    int keepalive_ms;        /* 0: SSE_KEEPALIVE_MS; keep it under the server's idle timeout */
    const char *request_id;  /* for the stream's log lines */
} sse_stream_params;

typedef enum {
    SSE_OPEN_OK = 0,
    SSE_OPEN_UNAVAILABLE,   /* Redis could not be reached or answered an error: 503 */
    SSE_OPEN_SHUTTING_DOWN, /* the server is draining: 503 */
    SSE_OPEN_NO_MEMORY,
} sse_open_result;

/* Connects, subscribes and prepares the replay (and a reset when due). On OK *out is the
 * stream: hand it to ulfius with sse_stream_read/sse_stream_free. */
sse_open_result sse_stream_open(const sse_stream_params *params, sse_stream **out, char *err,
                                size_t errlen);

/* ulfius stream callbacks (cls is the sse_stream). read blocks until it has bytes, the
 * stream ends (U_STREAM_END), or fails; free closes the connection and frees. */
ssize_t sse_stream_read(void *cls, uint64_t offset, char *buf, size_t max);
void sse_stream_free(void *cls);

/* Makes every open stream end within SSE_POLL_SLICE_MS and refuses new ones. The API's
 * stop calls this before draining (no stream would ever finish by itself). */
void sse_streams_shutdown(void);
/* Streams currently open in this process. */
int sse_streams_open_count(void);

#endif
