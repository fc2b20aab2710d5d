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
 * expired key is claimed afresh.
 * Exactly once across crashes (issue 7): the claim stores the route's plan (the ids it
 * will use: command, task, issue time, import) before anything is produced, and the
 * owner (the instance lease of this process). A retry of the same request finding the
 * claim in flight takes it over at once when its owner is dead (no session holds its
 * lease lock), when its holder gave it up with the outcome in doubt (owner NULL), or
 * after IDEMPOTENCY_STALE_CLAIM_S; the taker proceeds with the stored plan, so it
 * repeats the same command and the writer's de-duplication by command id makes the
 * repeat a no-op. Only a live holder makes a duplicate wait (409). A 5xx answer releases
 * the claim (the route made sure nothing will be applied), unless the route marked the
 * outcome in doubt: then the claim is given up with its plan kept. Every other answer
 * is stored. Store, release, give-up and replan act only on a claim this request still
 * owns (replan only on the plan it read). A keyed request is refused (503) while this
 * process does not hold its instance lease: its claim would look abandoned.
 * Without Postgres no key can be honoured, so a request carrying one answers 503.
 */
#ifndef TASKBUS_API_IDEMPOTENCY_H
#define TASKBUS_API_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "api/http_context.h"

#define IDEMPOTENCY_KEY_MAX 255
#define IDEMPOTENCY_TTL_S 86400
/* Longer than the slowest handler (Kafka's 30 s delivery bound plus a 30 s Prefer wait). */
#define IDEMPOTENCY_STALE_CLAIM_S 120

typedef struct idempotency_claim {
    bool active;     /* a key is claimed: idempotency_finish must follow the answer */
    bool taken_over; /* the plan is an earlier attempt's (a retry took its claim over) */
    bool in_doubt;   /* set by the route: a 5xx whose effect may still happen; keep the plan */
    int owner;       /* the instance lease owner the claim was made under */
    char key[IDEMPOTENCY_KEY_MAX + 1];
    char request_hash[65]; /* hex SHA-256 */
    json_t *plan;          /* the ids to use (owned); see idempotency_begin */
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
 * ctx->user_id; body is what identifies the request (see above). fresh_plan (borrowed, a
 * JSON object, not NULL) holds the ids this attempt would use. On IDEMPOTENCY_PROCEED claim->plan
 * is the plan to act on: fresh_plan, or the stored one of the attempt whose claim this
 * retry took over (claim->taken_over). */
idempotency_step idempotency_begin(api_request_ctx *ctx, const void *body, size_t body_len,
                                   json_t *fresh_plan, idempotency_claim *claim);

/* Replaces the plan of an active claim (the stored one and claim->plan) with plan
 * (borrowed): for a taken-over plan the route found unusable. 0, or -1 (not replaced). */
int idempotency_replan(api_request_ctx *ctx, idempotency_claim *claim, const json_t *plan);

/* Inside a transaction on conn: locks the claim's row while this request still owns it,
 * so a retry cannot take it over until the transaction ends. 1 owned (or no key was
 * claimed), 0 not owned any more (a retry answers for the request now), -1 error. */
int idempotency_lock_owned(pg_conn *conn, const char *user_id, const idempotency_claim *claim);

/* After the handler answered: stores the answer (status < 500), releases the key, or
 * gives it up with its plan (5xx with claim->in_doubt). Frees claim->plan; call it after
 * every idempotency_begin, whatever it returned. */
void idempotency_finish(api_request_ctx *ctx, idempotency_claim *claim);

#endif
