/*
 * sse_stream.h: one live Server-Sent Events stream of a user's task events
 * (docs/decisions.md "Server-Sent Events").
 *
 * Owns: the stream's slot in the instance's hub (sse_hub.h: the shared subscription and
 * the caps), its position in {u:<uid>}:events:log (the last id sent), the replay of the
 * log after Last-Event-ID through the pool, the `event: reset` when that id is older than
 * the log's window, forwarding the live events the hub hands over whose id is newer than
 * the last one sent, re-reading the log when the hub says live events may be missing
 * (Redis reconnected, or the stream's queue overflowed), the keep-alive comment, and the
 * end of the stream.
 * Rules:
 * - Order of work: join the hub first (it returns once the user's channel is subscribed),
 *   read the log second, so nothing published in between is lost; the id comparison
 *   drops what the log already gave. A stream without Last-Event-ID starts after the
 *   newest logged event, so a later re-read knows where to start.
 * - The log is read one page (SSE_REPLAY_PAGE entries) at a time, only when everything
 *   before was handed to the client, so a slow client costs at most one page of memory.
 *   Live events wait in the hub meanwhile (bounded; past the bound the log is re-read).
 * - The read callback runs on the connection's thread and blocks at most
 *   SSE_POLL_SLICE_MS at a time; shutdown (sse_hub_shutdown) wakes it at once and the
 *   token's expiry ends the stream within a slice, a revoked session (the params'
 *   credential_valid) within SSE_CREDENTIAL_CHECK_MS and a slice. A client that went away is
 * noticed at the next write (an event or the keep-alive, every SSE_KEEPALIVE_MS or half the server
 * idle timeout, whichever is shorter); then ulfius calls sse_stream_free, which gives the slot
 * back.
 * - Redis lost mid-stream does not end the stream: the hub reconnects and resubscribes,
 *   then the stream re-reads the log after its last id (retrying each slice while the
 *   pool cannot answer); an id the log no longer reaches gets `event: reset`.
 */
#ifndef TASKBUS_API_SSE_STREAM_H
#define TASKBUS_API_SSE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/sse_format.h"
#include "api/sse_hub.h"
#include "shared/redis_pool.h"

#define SSE_KEEPALIVE_MS 15000
#define SSE_POLL_SLICE_MS 1000
/* How often an open stream asks whether its session still stands (sse_stream_params). */
#define SSE_CREDENTIAL_CHECK_MS 2000
#define SSE_RETRY_MS 3000
#define SSE_REPLAY_PAGE 200

typedef struct sse_stream sse_stream;

typedef struct sse_stream_params {
    sse_hub *hub;            /* the instance's shared subscription and stream slots */
    int join_wait_ms;        /* how long the hub may take to subscribe the user's channel */
    redis_pool *pool;        /* for XRANGE */
    const char *user_id;     /* whose events */
    const sse_id *last_seen; /* Last-Event-ID, or NULL: from now on */
    int64_t end_unix_ms;     /* end the stream then (the access token's expiry); 0: never */
    int keepalive_ms;        /* 0: SSE_KEEPALIVE_MS; keep it under the server's idle timeout */
    const char *request_id;  /* for the stream's log lines */
    int lease_ms;            /* TASKBUS_NEAR_CACHE_LEASE_MS: events wait for acknowledgements */
    /* Asked every SSE_CREDENTIAL_CHECK_MS while the stream is open: false ends it (its
     * session was revoked). NULL: never asked. credential_arg is the stream's from
     * sse_stream_open on, whatever it returns (freed with free()). */
    bool (*credential_valid)(void *arg);
    void *credential_arg;
} sse_stream_params;

typedef enum {
    SSE_OPEN_OK = 0,
    SSE_OPEN_UNAVAILABLE,   /* Redis could not be reached or answered an error: 503 */
    SSE_OPEN_SHUTTING_DOWN, /* the server is draining: 503 */
    SSE_OPEN_USER_FULL,     /* the user's streams on this instance are at the cap: 429 */
    SSE_OPEN_INSTANCE_FULL, /* this instance's streams are at the cap: 429 */
    SSE_OPEN_NO_MEMORY,
} sse_open_result;

/* Takes a slot, waits for the subscription, fixes the position (and queues a reset when
 * Last-Event-ID is older than the log; the replay itself is read as the client reads).
 * On OK *out is the stream: hand it to ulfius with
 * sse_stream_read/sse_stream_free. On any other result the slot is free again. */
sse_open_result sse_stream_open(const sse_stream_params *params, sse_stream **out, char *err,
                                size_t errlen);

/* ulfius stream callbacks (cls is the sse_stream). read blocks until it has bytes, the
 * stream ends (U_STREAM_END), or fails; free gives the slot back and frees. */
ssize_t sse_stream_read(void *cls, uint64_t offset, char *buf, size_t max);
void sse_stream_free(void *cls);

#endif
