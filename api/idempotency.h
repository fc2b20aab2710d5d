/*
 * idempotency.h: Idempotency-Key on POST (docs/decisions.md, "API answers").
 *
 * Owns: claiming a key for a user, replaying the stored first response, and storing or
 * releasing the key after the handler answered; reusable by any POST route (tasks,
 * import). Rules: the key is 1-255 visible ASCII characters; the request is identified
 * by a SHA-256 of method, path and the body bytes the caller passes (a canonical form for
 * JSON routes, so key order and spacing do not make two requests differ). A claim is an
 * INSERT ... ON CONFLICT in Postgres table idempotency_keys (in_flight), so two
 * concurrent duplicates cannot both proceed: the loser gets 409 idempotency-key-in-flight.
 * Same key, other request: 422 idempotency-key-reused. Same key, same request, done: the
 * stored status, headers and body with Idempotent-Replayed: true. Keys live 24 hours; an
 * expired key, or an in_flight claim older than IDEMPOTENCY_STALE_CLAIM_S (its process
 * died mid-request), is claimed afresh. A 5xx answer releases the claim, so the client
 * can retry; every other answer is stored. Without Postgres no key can be honoured, so
 * a request carrying one answers 503.
 */
#ifndef TASKBUS_API_IDEMPOTENCY_H
#define TASKBUS_API_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>

#include "api/http_context.h"

#define IDEMPOTENCY_KEY_MAX 255
#define IDEMPOTENCY_TTL_S 86400
/* Longer than the slowest handler (Kafka's 30 s delivery bound plus a 30 s Prefer wait). */
#define IDEMPOTENCY_STALE_CLAIM_S 120

typedef struct idempotency_claim {
    bool active; /* a key is claimed: idempotency_finish must follow the answer */
    char key[IDEMPOTENCY_KEY_MAX + 1];
    char request_hash[65]; /* hex SHA-256 */
} idempotency_claim;

typedef enum {
    IDEMPOTENCY_PROCEED = 0, /* run the handler; claim->active says whether a key is held */
    IDEMPOTENCY_ANSWERED,    /* the request was answered (replay, 409, 422 or 503) */
} idempotency_step;

/* True when key is 1-255 characters of %x21-7E. */
bool idempotency_key_valid(const char *key);

/* Hex SHA-256 of method "\n" path "\n" body into out (65 bytes). */
void idempotency_request_hash(const char *method, const char *path, const void *body,
                              size_t body_len, char out[65]);

/* Reads the Idempotency-Key header of an authenticated request and claims it for
 * ctx->user_id; body is what identifies the request (see above). */
idempotency_step idempotency_begin(api_request_ctx *ctx, const void *body, size_t body_len,
                                   idempotency_claim *claim);

/* After the handler answered: stores the answer (status < 500) or releases the key.
 * Does nothing for an inactive claim. */
void idempotency_finish(api_request_ctx *ctx, idempotency_claim *claim);

#endif
